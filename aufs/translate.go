package aufs

import (
	"path/filepath"
	"strings"
)

// DeletedSuffix is what the kernel appends to a /proc link (map_files,
// fd, exe, cwd) whose file has been unlinked.
const DeletedSuffix = " (deleted)"

// ToContainer maps a host path inside one of the union's layers (or under
// Mountpoint) to the path the container sees: ".../diff/<id>/bin/busybox"
// becomes "/bin/busybox", a layer's own directory "/". It returns false
// for relative paths and for paths outside the union, including the
// overlay work dir, data-only layers (their files have no name in the
// union) and AUFS whiteouts and metadata (names starting ".wh."). The path
// is cleaned first; layers are matched on path-component boundaries and
// the most specific one wins, so "/a/diff/10/x" is never taken for a file
// of "/a/diff/1".
func (u *Union) ToContainer(hostPath string) (string, bool) {
	if !filepath.IsAbs(hostPath) {
		return "", false
	}
	p := filepath.Clean(hostPath)
	best, bestLen, viaMount := "", -1, false
	try := func(dir string, mount bool) {
		if dir == "" || !filepath.IsAbs(dir) {
			return
		}
		dir = filepath.Clean(dir)
		if rel, ok := within(p, dir); ok && len(dir) > bestLen {
			best, bestLen, viaMount = rel, len(dir), mount
		}
	}
	try(u.Mountpoint, true)
	for _, l := range u.Layers {
		if l.Perm != PermData {
			try(l.Path, false)
		}
	}
	if bestLen < 0 {
		return "", false
	}
	if viaMount {
		// Mountpoint already shows the container's root.
		return best, true
	}
	if u.Kind == AUFS && hasWhiteoutName(best) {
		return "", false
	}
	// best is a path in the union; the container sees the part under Root.
	return within(best, u.root())
}

// ToContainerLink is ToContainer for a /proc link target: it strips and
// reports the " (deleted)" marker the kernel adds for unlinked files.
func (u *Union) ToContainerLink(link string) (path string, deleted, ok bool) {
	link, deleted = strings.CutSuffix(link, DeletedSuffix)
	path, ok = u.ToContainer(link)
	return path, deleted, ok
}

func hasWhiteoutName(p string) bool {
	for _, c := range strings.Split(p, "/") {
		if strings.HasPrefix(c, whPrefix) {
			return true
		}
	}
	return false
}

// ToHost finds which layer holds a container path and the host path of it
// there: the topmost layer where it exists, honouring whiteouts and opaque
// directories on the way down (see lookup.go). A relative path is refused;
// ".." is cleaned lexically against "/", so a path cannot leave the union.
// Symlinks inside the container are not followed: paths from the kernel
// (map_files, fd links) are already resolved, and a symlink met in the
// middle of the path is reported as not found. For a Plain root the single
// "layer" is Mountpoint.
func (u *Union) ToHost(containerPath string) (Layer, string, bool) {
	if !filepath.IsAbs(containerPath) {
		return Layer{}, "", false
	}
	cp := filepath.Clean(containerPath)
	if u.Kind == Plain {
		// Mountpoint already shows the container's root.
		i, ok := u.lookup(cp)
		if !ok {
			return Layer{}, "", false
		}
		l := u.lookupLayers()[i]
		return l, filepath.Join(l.Path, cp), true
	}
	i, ok := u.lookup(filepath.Join(u.root(), cp))
	if !ok {
		return Layer{}, "", false
	}
	l := u.Layers[i]
	return l, filepath.Join(l.Path, u.root(), cp), true
}
