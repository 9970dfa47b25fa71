package aufs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// Host is where Discover reads the kernel's view. The roots are seams:
// tests point them at fixture trees.
type Host struct {
	SysRoot  string // default "/sys"
	ProcRoot string // default "/proc"
}

func (h Host) sysRoot() string {
	if h.SysRoot == "" {
		return "/sys"
	}
	return h.SysRoot
}

func (h Host) procRoot() string {
	if h.ProcRoot == "" {
		return "/proc"
	}
	return h.ProcRoot
}

// Discover describes the filesystem at the root of process pid.
//
// The union is the topmost mount at "/" in /proc/<pid>/mountinfo. If that
// is not a union and rootfs (a host path, may be "") is mounted as one in
// the same table, that mount is used instead: a process that has not
// pivoted yet (or a test) sees its rootfs there. Its layers come from
// /sys/fs/aufs/si_<si>/br* for AUFS (or, with sysfs branch files off, the
// "br:" option) and from the super options for overlay. The host-side
// mountpoint is looked up in /proc/self/mountinfo by st_dev, preferring
// the mount at rootfs.
func (h Host) Discover(pid int, rootfs string) (*Union, error) {
	if rootfs != "" {
		if !filepath.IsAbs(rootfs) {
			return nil, fmt.Errorf("aufs: rootfs %q is not absolute", rootfs)
		}
		rootfs = filepath.Clean(rootfs)
	}
	mine, err := readMountinfo(filepath.Join(h.procRoot(), strconv.Itoa(pid), "mountinfo"))
	if err != nil {
		return nil, err
	}
	m := topmost(mine, "/")
	if m == nil {
		return nil, fmt.Errorf("aufs: no mount at / in the mountinfo of pid %d", pid)
	}
	if !isUnion(m.FSType) && rootfs != "" {
		if alt := topmost(mine, rootfs); alt != nil && isUnion(alt.FSType) {
			m = alt
		}
	}
	u := &Union{
		MountID: m.ID,
		Dev:     fmt.Sprintf("%d:%d", m.Major, m.Minor),
		Root:    filepath.Clean("/" + m.Root),
	}
	host, err := readMountinfo(filepath.Join(h.procRoot(), "self", "mountinfo"))
	if err != nil {
		return nil, err
	}
	u.Mountpoint = hostMountpoint(host, m, u.Root, rootfs)
	switch m.FSType {
	case "aufs":
		u.Kind = AUFS
		if err := h.fillAUFS(u, m.VFSOptions); err != nil {
			return nil, err
		}
	case "overlay":
		u.Kind = Overlay
		if err := u.fillOverlay(m.VFSOptions); err != nil {
			return nil, err
		}
	default:
		u.Kind = Plain
		if u.Mountpoint == "" {
			// The caller knows where the rootfs is even if its mount
			// was not found (e.g. it is a directory on the host's /).
			u.Mountpoint = rootfs
		}
	}
	return u, nil
}

func isUnion(fstype string) bool { return fstype == "aufs" || fstype == "overlay" }

func readMountinfo(path string) ([]*mountinfo.Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("aufs: %w", err)
	}
	defer f.Close()
	ms, err := mountinfo.GetMountsFromReader(f, nil)
	if err != nil {
		return nil, fmt.Errorf("aufs: parsing %s: %w", path, err)
	}
	return ms, nil
}

// topmost returns the mount that is visible at mp: of the mounts stacked
// there, the one no other is mounted on.
func topmost(ms []*mountinfo.Info, mp string) *mountinfo.Info {
	var at []*mountinfo.Info
	for _, m := range ms {
		if m.Mountpoint == mp {
			at = append(at, m)
		}
	}
	for i := len(at) - 1; i >= 0; i-- {
		covered := false
		for _, o := range at {
			if o.Parent == at[i].ID && o != at[i] {
				covered = true
			}
		}
		if !covered {
			return at[i]
		}
	}
	return nil
}

// hostMountpoint finds where the host sees the container's root: a host
// mount of the same superblock (same st_dev and type) whose root contains
// root, the mount at rootfs first, then one showing exactly root, then any.
// The answer is that mount's mountpoint plus the rest of root.
func hostMountpoint(host []*mountinfo.Info, c *mountinfo.Info, root, rootfs string) string {
	best, bestRank := "", 0
	for _, m := range host {
		if m.Major != c.Major || m.Minor != c.Minor || m.FSType != c.FSType {
			continue
		}
		rel, ok := within(root, filepath.Clean("/"+m.Root))
		if !ok {
			continue
		}
		p := filepath.Join(m.Mountpoint, rel)
		rank := 1
		switch {
		case rootfs != "" && p == rootfs:
			rank = 3
		case rel == "/":
			rank = 2
		}
		if rank > bestRank {
			best, bestRank = p, rank
		}
	}
	return best
}

// within returns p relative to dir (as an absolute path, "/" for dir
// itself) if p is dir or below it on a path-component boundary. Both
// must be clean.
func within(p, dir string) (string, bool) {
	if p == dir {
		return "/", true
	}
	if dir == "/" {
		return p, strings.HasPrefix(p, "/")
	}
	if strings.HasPrefix(p, dir) && p[len(dir)] == '/' {
		return p[len(dir):], true
	}
	return "", false
}

func (h Host) fillAUFS(u *Union, opts string) error {
	var br string
	for _, o := range strings.Split(opts, ",") {
		switch {
		case strings.HasPrefix(o, "si="):
			u.SI = o[len("si="):]
		case strings.HasPrefix(o, "br:"), strings.HasPrefix(o, "br="):
			br = o[len("br:"):]
		}
	}
	if u.SI == "" {
		return fmt.Errorf("aufs: no si= in the aufs options %q", opts)
	}
	dir := filepath.Join(h.sysRoot(), "fs", "aufs", "si_"+u.SI)
	layers, err := ParseBranches(dir)
	if err != nil && br != "" {
		if _, serr := os.Stat(filepath.Join(dir, "br0")); errors.Is(serr, fs.ErrNotExist) {
			layers, err = parseBrOption(br)
		}
	}
	if err != nil {
		return err
	}
	u.Layers = layers
	return nil
}

func (u *Union) fillOverlay(opts string) error {
	o, err := ParseOverlayOptions(opts)
	if err != nil {
		return err
	}
	// Docker's overlay2 mounts with lowerdir=l/<short>:... relative to
	// its home when the options would not fit in a page; the kernel
	// shows them as given. Resolve them against the directories around
	// the upper dir or the mountpoint, nearest first.
	anchors := []string{o.Upper, u.Mountpoint}
	abs := func(p string) (string, error) {
		if filepath.IsAbs(p) {
			return filepath.Clean(p), nil
		}
		return resolveRelative(p, anchors)
	}
	if o.Upper != "" {
		if o.Upper, err = abs(o.Upper); err != nil {
			return err
		}
		if o.Work, err = abs(o.Work); err != nil {
			return err
		}
		u.Upper, u.Work = o.Upper, o.Work
		u.Layers = append(u.Layers, Layer{Path: o.Upper, Perm: PermUpper})
	}
	for _, set := range []struct {
		paths []string
		perm  string
	}{{o.Lower, PermLower}, {o.Data, PermData}} {
		for _, p := range set.paths {
			a, err := abs(p)
			if err != nil {
				return err
			}
			u.Layers = append(u.Layers, Layer{Path: a, Perm: set.perm})
		}
	}
	u.Options = o.Extra
	return nil
}

func resolveRelative(p string, anchors []string) (string, error) {
	for _, a := range anchors {
		if !filepath.IsAbs(a) {
			continue
		}
		for d := filepath.Dir(filepath.Clean(a)); ; d = filepath.Dir(d) {
			cand := filepath.Join(d, p)
			if _, err := os.Lstat(cand); err == nil {
				return cand, nil
			}
			if d == "/" {
				break
			}
		}
	}
	return "", fmt.Errorf("aufs: overlay layer %q is relative to the mounter's directory, which could not be found", p)
}
