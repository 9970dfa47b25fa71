package aufs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// AUFS whiteout names: ".wh.<name>" hides <name> in the branches below;
// ".wh..wh.opq" in a directory hides everything below that directory.
// Every name starting ".wh." is reserved and invisible in the union.
const (
	whPrefix = ".wh."
	whOpaque = ".wh..wh.opq"
)

// lookup resolves a path of the union (clean, absolute) the way the union
// does, component by component: at each step the directories merged so
// far, top first, are searched; the first layer holding the name decides.
// A whiteout there hides the name in all layers below; a non-directory
// ends the search; a directory is merged with the same directories below
// unless it is opaque. It returns the index of the topmost layer holding
// the final component.
func (u *Union) lookup(p string) (int, bool) {
	layers := u.lookupLayers()
	var active []int
	for i, l := range layers {
		if l.Perm != PermData {
			active = append(active, i)
		}
	}
	if len(active) == 0 {
		return 0, false
	}
	comps := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if p == "/" {
		comps = nil
	}
	cur := "/"
	for ci, name := range comps {
		if u.Kind == AUFS && strings.HasPrefix(name, whPrefix) {
			return 0, false
		}
		last := ci == len(comps)-1
		var next []int
	layers:
		for _, i := range active {
			l := layers[i]
			dir := filepath.Join(l.Path, cur)
			st, err := os.Lstat(filepath.Join(dir, name))
			switch {
			case errors.Is(err, fs.ErrNotExist):
				if u.Kind == AUFS && whiteouts(l.Perm) && exists(filepath.Join(dir, whPrefix+name)) {
					break layers
				}
				continue
			case err != nil:
				// Unreadable: the union would fail too; do not guess
				// that a lower layer answers instead.
				return 0, false
			case u.isWhiteout(dir, st):
				break layers
			case !st.IsDir():
				if len(next) == 0 && last {
					return i, true
				}
				// A non-directory ends the path (a symlink or file met
				// mid-path), or is hidden by a directory above it.
				break layers
			}
			next = append(next, i)
			if u.isOpaque(l, filepath.Join(dir, name)) {
				break
			}
		}
		if len(next) == 0 {
			return 0, false
		}
		if last {
			return next[0], true
		}
		active, cur = next, filepath.Join(cur, name)
	}
	return active[0], true
}

// lookupLayers are the layers lookup searches: a Plain root is one layer,
// its mountpoint, without whiteouts.
func (u *Union) lookupLayers() []Layer {
	if u.Kind == Plain {
		if u.Mountpoint == "" {
			return nil
		}
		return []Layer{{Path: u.Mountpoint, Perm: "rw"}}
	}
	return u.Layers
}

// isWhiteout reports an overlay whiteout: a 0:0 character device, or (6.7+,
// for layers that are themselves on overlay) an empty file with the
// overlay.whiteout xattr in a directory marked overlay.opaque=x.
func (u *Union) isWhiteout(dir string, st os.FileInfo) bool {
	if u.Kind != Overlay {
		return false
	}
	sys, _ := st.Sys().(*syscall.Stat_t)
	if st.Mode()&fs.ModeCharDevice != 0 {
		return sys != nil && sys.Rdev == 0
	}
	if !st.Mode().IsRegular() || st.Size() != 0 {
		return false
	}
	if u.xattr(dir, "opaque") != "x" {
		return false
	}
	_, err := unix.Lgetxattr(filepath.Join(dir, st.Name()), u.xattrPrefix()+"whiteout", nil)
	return err == nil
}

// isOpaque reports a directory that hides the same directory in lower
// layers: AUFS ".wh..wh.opq" inside it, overlay opaque xattr "y".
func (u *Union) isOpaque(l Layer, dir string) bool {
	switch u.Kind {
	case AUFS:
		return whiteouts(l.Perm) && exists(filepath.Join(dir, whOpaque))
	case Overlay:
		return u.xattr(dir, "opaque") == "y"
	}
	return false
}

// xattrPrefix: overlay keeps its xattrs in trusted.overlay.*, or in
// user.overlay.* when mounted with "userxattr" (unprivileged overlays).
func (u *Union) xattrPrefix() string {
	if u.hasOption("userxattr") {
		return "user.overlay."
	}
	return "trusted.overlay."
}

func (u *Union) xattr(path, name string) string {
	buf := make([]byte, 16)
	n, err := unix.Lgetxattr(path, u.xattrPrefix()+name, buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
