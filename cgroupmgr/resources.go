package cgroupmgr

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// level says what to do when a write's target file or controller is absent.
type level int

const (
	// optional: silently skipped (extras like hugetlb rsvd files).
	optional level = iota
	// defaulted: the user left it at a default/unlimited value; skip with
	// a warning.
	defaulted
	// explicit: the user asked for a real value; absence is an error.
	explicit
)

// target is one file in one hierarchy.
type target struct {
	key   string // hierarchy key: "memory", "cpu", ... or "" for v2
	file  string
	value string
}

// write is one value to put into a cgroup file. alts are tried in order
// when the primary file is absent (e.g. blkio.bfq.weight for blkio.weight).
type write struct {
	target
	alts  []target
	level level
	// swapOnEINVAL: if this write fails with EINVAL, write the next one
	// first and retry; used for pairs the kernel validates against each
	// other (memory limit vs memory+swap, cfs period vs quota).
	swapOnEINVAL bool
}

// writeFile is the seam through which every resource value reaches a file.
var writeFile = func(path, value string) error {
	return os.WriteFile(path, []byte(value), 0)
}

// fileExists is the seam telling whether a resource file is present.
var fileExists = func(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func (m *manager) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	var (
		ws  []write
		err error
	)
	if m.mode == Unified {
		ws, err = v2Writes(r)
	} else {
		ws, err = v1Writes(r)
	}
	if err != nil {
		return fmt.Errorf("cgroupmgr: %w", err)
	}
	uw, err := unifiedWrites(r.Unified)
	if err != nil {
		return fmt.Errorf("cgroupmgr: %w", err)
	}
	ws = append(ws, uw...)
	if err := applyWrites(m.paths, ws); err != nil {
		return err
	}
	if len(r.Devices) > 0 {
		return m.setDevices(r.Devices)
	}
	return nil
}

// applyWrites performs ws against the per-hierarchy dirs in paths.
func applyWrites(paths map[string]string, ws []write) error {
	for i := 0; i < len(ws); i++ {
		w := ws[i]
		path, val, ok := resolveTarget(paths, w)
		if !ok {
			if err := absent(paths, w); err != nil {
				return err
			}
			continue
		}
		err := writeFile(path, val)
		if errors.Is(err, unix.EINVAL) && w.swapOnEINVAL && i+1 < len(ws) {
			if np, nv, ok := resolveTarget(paths, ws[i+1]); ok {
				if err := writeFile(np, nv); err != nil {
					return fmt.Errorf("cgroupmgr: write %q to %s: %w", nv, np, err)
				}
				err = writeFile(path, val)
				i++
			}
		}
		if err != nil {
			return fmt.Errorf("cgroupmgr: write %q to %s: %w", val, path, notFound(err))
		}
	}
	return nil
}

// resolveTarget picks the first existing file among w and its alts and
// returns it with the value meant for it (alts may carry converted values).
func resolveTarget(paths map[string]string, w write) (path, value string, ok bool) {
	for _, t := range append([]target{w.target}, w.alts...) {
		dir, ok := paths[t.key]
		if !ok {
			continue
		}
		p := filepath.Join(dir, t.file)
		if fileExists(p) {
			return p, t.value, true
		}
	}
	return "", "", false
}

func absent(paths map[string]string, w write) error {
	where := w.file
	if dir, ok := paths[w.key]; ok {
		where = filepath.Join(dir, w.file)
	} else if w.key != "" {
		where = w.key + " controller (" + w.file + ")"
	} else {
		where = "cgroup v2 hierarchy (" + w.file + ")"
	}
	switch w.level {
	case explicit:
		return fmt.Errorf("cgroupmgr: cannot set %s to %q: %w: %w", where, w.value, ErrNotSupported, fs.ErrNotExist)
	case defaulted:
		Warn("cgroupmgr: %s not available, leaving it alone (value %q is the default)", where, w.value)
	}
	return nil
}

// lvl classifies a numeric request: 0 and negative values mean "unset" or
// "unlimited" in the OCI spec.
func lvl(v int64) level {
	if v > 0 {
		return explicit
	}
	return defaulted
}

func itoa(v int64) string  { return strconv.FormatInt(v, 10) }
func utoa(v uint64) string { return strconv.FormatUint(v, 10) }

// unifiedWrites turns linux.resources.unified into writes on the v2
// hierarchy, refusing keys that are not plain file names.
func unifiedWrites(u map[string]string) ([]write, error) {
	keys := make([]string, 0, len(u))
	for k := range u {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var ws []write
	for _, k := range keys {
		if k == "" || k == "." || k == ".." || strings.Contains(k, "/") {
			return nil, fmt.Errorf("unified resource key %q is not a cgroup file name", k)
		}
		ws = append(ws, write{target: target{key: unifiedKey, file: k, value: u[k]}, level: explicit})
	}
	return ws, nil
}
