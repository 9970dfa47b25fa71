package checkpoint

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/lifecycle"
)

// containerConfig is checkpointctl's config.dump (its ContainerConfig).
type containerConfig struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	OCIRuntime     string    `json:"runtime,omitempty"`
	CreatedTime    time.Time `json:"createdTime"`
	CheckpointedAt time.Time `json:"checkpointedTime"`
	RestoredAt     time.Time `json:"restoredTime"`
	Restored       bool      `json:"restored"`
}

// Export checkpoints container id into one archive at o.Export ("-":
// stdout). The images are made in a private temp dir unless
// o.ImagePath is given (then they stay there too). A file archive is
// written under a temporary name and renamed when complete, so no
// partial archive is left under its name.
func Export(store *lifecycle.Store, id string, o *CheckpointOptions) (stats *DumpStats, err error) {
	switch {
	case o.PreDump, o.ParentPath != "":
		return nil, fmt.Errorf("checkpoint %s: --export makes a self-contained archive: it cannot be a pre-dump or have a parent", id)
	case o.LazyPages, o.PageServer != "":
		return nil, fmt.Errorf("checkpoint %s: --export needs the memory in the images: not with --lazy-pages or --page-server", id)
	}
	if err := checkCompression(o.Compress); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", id, err)
	}
	staging, err := os.MkdirTemp("", "stasis-export-")
	if err != nil {
		return nil, err
	}
	keep := false
	defer func() {
		if !keep {
			os.RemoveAll(staging)
		}
	}()
	oo := *o
	if oo.ImagePath == "" {
		oo.ImagePath = filepath.Join(staging, imagesDirName)
	}
	if err := resolveDirs(&oo.Common); err != nil {
		return nil, err
	}

	// Opened before anything is frozen: an archive that cannot be
	// written must not cost the container.
	var out io.Writer = os.Stdout
	var file *os.File
	tmpName := ""
	if o.Export != "-" {
		tmpName = fmt.Sprintf("%s.partial-%d", o.Export, os.Getpid())
		file, err = os.OpenFile(tmpName, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %s: --export: %w", id, err)
		}
		defer func() {
			file.Close()
			if err != nil {
				os.Remove(tmpName)
			}
		}()
		out = file
	}

	man := &Manifest{CreatedBy: "stasis " + o.StasisVersion, Kernel: kernelRelease(), Arch: goArch}
	man.Hostname, _ = os.Hostname()
	dumped := false
	frozen := func(c *lifecycle.Container, meta *Metadata) error {
		dumped = true
		st := c.State()
		man.Created = time.Now().UTC()
		if err := writeJSON(filepath.Join(staging, specDumpName), st.Config); err != nil {
			return err
		}
		cfg := containerConfig{ID: id, Name: id, OCIRuntime: "stasis", CreatedTime: st.Created, CheckpointedAt: man.Created}
		if err := writeJSON(filepath.Join(staging, configDumpName), cfg); err != nil {
			return err
		}
		sum, err := writeRootfsDiff(st.Rootfs, meta.Union, st.Created, filepath.Join(staging, rootfsDiffName))
		if err != nil {
			return fmt.Errorf("rootfs changes: %w", err)
		}
		man.RootfsDiff = sum.How
		if len(sum.Deleted) > 0 {
			return writeJSON(filepath.Join(staging, deletedName), sum.Deleted)
		}
		return nil
	}
	stats, err = checkpointWith(store, id, &oo, frozen)
	// Without --leave-running the container is gone once CRIU dumped it:
	// its images must survive whatever fails from here.
	defer func() {
		if err != nil && dumped && !o.LeaveRunning && o.ImagePath == "" {
			keep = true
			err = fmt.Errorf("%w (the container's images are kept at %s: restore them with --image-path)", err, oo.ImagePath)
		}
	}()
	if err != nil {
		return stats, err
	}
	files, err := archiveFiles(staging, oo.ImagePath, oo.WorkPath)
	if err != nil {
		return stats, fmt.Errorf("checkpoint %s: %w", id, err)
	}
	if err := writeArchive(out, o.Compress, man, files); err != nil {
		return stats, fmt.Errorf("checkpoint %s: write archive: %w", id, err)
	}
	if file != nil {
		if err := file.Sync(); err != nil {
			return stats, err
		}
		if err := os.Rename(tmpName, o.Export); err != nil {
			return stats, fmt.Errorf("checkpoint %s: %w", id, err)
		}
	}
	return stats, nil
}

// archiveFiles lists the archive's members, in the order they are
// written: the images, then the top-level files that exist.
func archiveFiles(staging, imageDir, workDir string) ([]archiveFile, error) {
	ents, err := os.ReadDir(imageDir)
	if err != nil {
		return nil, err
	}
	var files []archiveFile
	for _, e := range ents {
		// CRIU's logs go to the top level (dump.log), not among the images.
		if !e.Type().IsRegular() || strings.HasSuffix(e.Name(), ".log") {
			continue
		}
		files = append(files, archiveFile{imagesDirName + "/" + e.Name(), filepath.Join(imageDir, e.Name())})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	for _, f := range []archiveFile{
		{configDumpName, filepath.Join(staging, configDumpName)},
		{specDumpName, filepath.Join(staging, specDumpName)},
		{rootfsDiffName, filepath.Join(staging, rootfsDiffName)},
		{deletedName, filepath.Join(staging, deletedName)},
		{statsDumpName, filepath.Join(imageDir, statsDumpName)},
		{statsDumpName, filepath.Join(workDir, statsDumpName)},
		{dumpLogName, filepath.Join(workDir, dumpLogName)},
	} {
		if fileExists(f.Path) && !slices.ContainsFunc(files, func(g archiveFile) bool { return g.Name == f.Name }) {
			files = append(files, f)
		}
	}
	return files, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// Import restores container o.ID from the archive at o.Import ("-":
// stdin). The whole archive is unpacked into a private temp dir and
// every member checked against the manifest before anything of the
// container is made; the temp dir is removed after, whatever happens.
// The rootfs changes go onto the bundle's rootfs once lifecycle holds
// the id, before CRIU runs.
func Import(store *lifecycle.Store, o *RestoreOptions) (res *Restored, err error) {
	if o.ImagePath != "" {
		return nil, fmt.Errorf("restore %s: --import and --image-path exclude each other: the archive holds the images", o.ID)
	}
	// The id and the flags are checked before the archive is read: a
	// stream is read once.
	if err := lifecycle.ValidateID(o.ID); err != nil {
		return nil, fmt.Errorf("restore %s: %w", o.ID, err)
	}
	if err := o.check("/sys"); err != nil {
		return nil, fmt.Errorf("restore %s: %w", o.ID, err)
	}
	tmp, err := os.MkdirTemp("", "stasis-import-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	in := os.Stdin
	src := "stdin"
	if o.Import != "-" {
		f, err := os.Open(o.Import)
		if err != nil {
			return nil, fmt.Errorf("restore %s: --import: %w", o.ID, err)
		}
		defer f.Close()
		in, src = f, o.Import
	}
	if _, _, err := unpackArchive(in, tmp); err != nil {
		return nil, fmt.Errorf("restore %s: archive %s: %w", o.ID, src, err)
	}
	if in == os.Stdin {
		// Stdin was the archive, read to its end: a container whose
		// stdin was a file or a pipe would be handed it (CRIU gives the
		// restored fds our own), so it becomes /dev/null.
		if err := stdinDevNull(); err != nil {
			return nil, fmt.Errorf("restore %s: %w", o.ID, err)
		}
	}
	deleted, err := readDeleted(filepath.Join(tmp, deletedName))
	if err != nil {
		return nil, fmt.Errorf("restore %s: archive %s: %w", o.ID, src, err)
	}
	oo := *o
	oo.ImagePath = filepath.Join(tmp, imagesDirName)
	if oo.WorkPath == "" {
		oo.WorkPath = filepath.Join(tmp, "work")
	}
	res, err = restoreWith(store, &oo, &imported{applyDiff: func(rootfs string) error {
		return applyRootfsDiff(rootfs, filepath.Join(tmp, rootfsDiffName), deleted)
	}})
	if err != nil {
		return nil, keepLogs(err, tmp)
	}
	return res, nil
}

// keepLogs saves CRIU's logs of a failed import from the temp dir, which
// goes, into one that stays, and points err's paths there.
func keepLogs(err error, tmp string) error {
	var logs []string
	for _, sub := range []string{imagesDirName, "work"} {
		m, _ := filepath.Glob(filepath.Join(tmp, sub, "*.log"))
		logs = append(logs, m...)
	}
	if len(logs) == 0 {
		return err
	}
	dir, mkErr := os.MkdirTemp("", "stasis-import-logs-")
	if mkErr != nil {
		return err
	}
	for _, l := range logs {
		rel, _ := filepath.Rel(tmp, l)
		dst := filepath.Join(dir, rel)
		if os.MkdirAll(filepath.Dir(dst), 0o700) == nil {
			if data, rerr := os.ReadFile(l); rerr == nil {
				_ = os.WriteFile(dst, data, 0o600)
			}
		}
	}
	return &movedErr{err: err, msg: strings.ReplaceAll(err.Error(), tmp, dir)}
}

// movedErr is err with paths in its message moved; it still unwraps to err.
type movedErr struct {
	err error
	msg string
}

func (e *movedErr) Error() string { return e.msg }
func (e *movedErr) Unwrap() error { return e.err }

// readManifestFile reads an unpacked archive's manifest.
func readManifestFile(dir string) (*Manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return nil, err
	}
	m := &Manifest{}
	if err := json.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("%s: %w", manifestName, err)
	}
	return m, nil
}

func stdinDevNull() error {
	null, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer null.Close()
	return unix.Dup3(int(null.Fd()), 0, 0)
}
