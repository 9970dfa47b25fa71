package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/moby/sys/mountinfo"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// CRIU dumps the content of every tmpfs mount by forking tar and gzip
// while the container is frozen, 5-25 ms each; a container has five of
// them that hold no file data at all: the empty read-only tmpfs of each
// masked directory, /sys/fs/cgroup (mount point directories), /dev
// (device nodes, symlinks, mount points) and an unused /dev/shm. Such a
// tmpfs is declared external instead: its whole content, a few inodes of
// metadata, goes into stasis.json, and restore mounts a new tmpfs with the
// same options, makes the same inodes and hands it to CRIU, which mounts
// it where the old one was (with the old mount flags) and the submounts
// on top. A tmpfs holding a regular file, a socket, a fifo or a hard link
// is left to CRIU, as is any tmpfs of a container with a user namespace
// (the new tmpfs would belong to the host's).

// maxTreeEntries bounds what goes into the metadata; a bigger tree is
// left to CRIU.
const maxTreeEntries = 256

// Tree is the content of a tmpfs that holds no file data.
type Tree struct {
	// Options are the superblock options as mountinfo gives them
	// ("rw,size=65536k,mode=755").
	Options string      `json:"options"`
	Entries []TreeEntry `json:"entries"`
}

// TreeEntry is one inode of a Tree; the first is the root, ".".
type TreeEntry struct {
	Path   string `json:"path"`
	Mode   uint32 `json:"mode"` // st_mode, file type included
	UID    uint32 `json:"uid"`
	GID    uint32 `json:"gid"`
	Rdev   uint64 `json:"rdev,omitempty"`
	Target string `json:"target,omitempty"`
	Mtime  int64  `json:"mtime_ns"`
}

// tmpfsExternals finds the container's tmpfs mounts that can be external
// (see above). skip are the destinations already external.
func tmpfsExternals(sp *specs.Spec, pid int, mounts []*mountinfo.Info, rootfs string, skip []External) []External {
	if hasUserNS(sp) {
		return nil
	}
	var out []External
	for _, mi := range mounts {
		if mi.FSType != "tmpfs" {
			continue
		}
		dest, ok := inRootfs(rootfs, mi.Mountpoint)
		if !ok || dest == "/" || slices.ContainsFunc(skip, func(e External) bool { return e.Dest == dest }) {
			continue
		}
		// Mounted over, or the root of another mount's bind: CRIU would
		// see more than one mount to restore from the same tree.
		if mi.Root != "/" || !topmost(mounts, mi) {
			continue
		}
		tree, err := readTree(pid, mi)
		if err != nil || tree == nil {
			continue
		}
		out = append(out, External{Dest: dest, Kind: "tmpfs", Tree: tree})
	}
	return out
}

func hasUserNS(sp *specs.Spec) bool {
	if sp.Linux == nil {
		return false
	}
	for _, ns := range sp.Linux.Namespaces {
		if ns.Type == specs.UserNamespace {
			return true
		}
	}
	return false
}

// topmost: no other mount sits on mi's mount point above it.
func topmost(mounts []*mountinfo.Info, mi *mountinfo.Info) bool {
	for _, m := range mounts {
		if m != mi && m.Mountpoint == mi.Mountpoint && m.Parent == mi.ID {
			return false
		}
	}
	return true
}

// readTree reads the tmpfs mount mi of the container of pid without its
// submounts (a detached copy made inside the container's mount
// namespace), or nil when it holds anything but directories, symlinks
// and device nodes.
func readTree(pid int, mi *mountinfo.Info) (*Tree, error) {
	fd, err := cloneMount(pid, mi)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	// The trailing slash: the magic link itself is no directory to walk.
	entries, err := scanTree(fmt.Sprintf("/proc/self/fd/%d/", fd))
	if err != nil || entries == nil {
		return nil, err
	}
	return &Tree{Options: mi.VFSOptions, Entries: entries}, nil
}

// cloneMount opens a detached copy of mount mi (no submounts) of the
// container of pid. open_tree clones only mounts of the caller's mount
// namespace: a thread of ours joins the container's for the call (and is
// then discarded, see inNetNS).
func cloneMount(pid int, mi *mountinfo.Info) (int, error) {
	root, err := os.Open(fmt.Sprintf("/proc/%d/root", pid))
	if err != nil {
		return -1, err
	}
	defer root.Close()
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/mnt", pid))
	if err != nil {
		return -1, err
	}
	defer ns.Close()
	type result struct {
		fd  int
		err error
	}
	c := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		c <- func() result {
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return result{-1, err}
			}
			if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNS); err != nil {
				return result{-1, err}
			}
			dir, err := unix.Openat2(int(root.Fd()), strings.TrimPrefix(mi.Mountpoint, "/"), &unix.OpenHow{
				Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
				Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
			})
			if err != nil {
				return result{-1, err}
			}
			defer unix.Close(dir)
			var stx unix.Statx_t
			if err := unix.Statx(dir, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &stx); err != nil {
				return result{-1, err}
			}
			if int(stx.Mnt_id) != mi.ID {
				return result{-1, fmt.Errorf("%s is mount %d, not %d", mi.Mountpoint, stx.Mnt_id, mi.ID)}
			}
			fd, err := unix.OpenTree(dir, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
			return result{fd, err}
		}()
	}()
	r := <-c
	if r.err != nil {
		return -1, fmt.Errorf("open mount %s of the container: %w", mi.Mountpoint, r.err)
	}
	return r.fd, nil
}

// errNotMetadata: the tree holds something restore could not make again
// from metadata alone.
var errNotMetadata = errors.New("not metadata only")

// scanTree lists dir's inodes, dir itself first, or nil when it holds a
// regular file, socket, fifo, hard link or more than maxTreeEntries.
func scanTree(dir string) ([]TreeEntry, error) {
	var out []TreeEntry
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if len(out) >= maxTreeEntries {
			return errNotMetadata
		}
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		e := TreeEntry{Path: rel, Mode: st.Mode, UID: st.Uid, GID: st.Gid, Mtime: st.Mtim.Nano()}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
		case unix.S_IFLNK:
			if e.Target, err = os.Readlink(path); err != nil {
				return err
			}
		case unix.S_IFCHR, unix.S_IFBLK:
			if st.Nlink > 1 {
				return errNotMetadata
			}
			e.Rdev = st.Rdev
		default:
			return errNotMetadata
		}
		out = append(out, e)
		return nil
	})
	if errors.Is(err, errNotMetadata) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// sameTrees: every tmpfs external still holds what the plan recorded, and
// the container's mount table is the plan's. Checked once the container
// is frozen, as CRIU is about to look: a change made between the plan and
// the freeze would otherwise be lost.
func sameTrees(pid int, planned []*mountinfo.Info, exts []External, rootfs string) error {
	now, err := containerMounts(pid)
	if err != nil {
		return err
	}
	if !sameMountTable(planned, now) {
		return errors.New("the container's mounts changed")
	}
	for _, e := range exts {
		if e.Kind != "tmpfs" {
			continue
		}
		var mi *mountinfo.Info
		for _, m := range now {
			if d, ok := inRootfs(rootfs, m.Mountpoint); ok && d == e.Dest && m.FSType == "tmpfs" && topmost(now, m) {
				mi = m
			}
		}
		if mi == nil {
			return fmt.Errorf("%s is no longer a tmpfs mount", e.Dest)
		}
		tree, err := readTree(pid, mi)
		if err != nil {
			return err
		}
		if tree == nil || !slices.Equal(tree.Entries, e.Tree.Entries) || tree.Options != e.Tree.Options {
			return fmt.Errorf("%s changed", e.Dest)
		}
	}
	return nil
}

func sameMountTable(a, b []*mountinfo.Info) bool {
	return slices.EqualFunc(a, b, func(x, y *mountinfo.Info) bool {
		return x.ID == y.ID && x.Parent == y.Parent && x.Mountpoint == y.Mountpoint && x.Root == y.Root &&
			x.Options == y.Options && x.VFSOptions == y.VFSOptions && x.FSType == y.FSType
	})
}

// check refuses a tree restore could not make inside its tmpfs: the root
// first, then entries of the known types whose parent is a directory
// listed before them (no "..", no path through a symlink).
func (t *Tree) check() error {
	if len(t.Entries) == 0 || t.Entries[0].Path != "." || t.Entries[0].Mode&unix.S_IFMT != unix.S_IFDIR {
		return errors.New("tree: the first entry must be its root directory \".\"")
	}
	dirs := map[string]bool{".": true}
	for _, e := range t.Entries[1:] {
		if !filepath.IsLocal(e.Path) || filepath.Clean(e.Path) != e.Path || !dirs[filepath.Dir(e.Path)] || dirs[e.Path] {
			return fmt.Errorf("tree: bad entry path %q", e.Path)
		}
		switch e.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			dirs[e.Path] = true
		case unix.S_IFLNK, unix.S_IFCHR, unix.S_IFBLK:
		default:
			return fmt.Errorf("tree: %s: file type %#o cannot be recreated", e.Path, e.Mode&unix.S_IFMT)
		}
	}
	if strings.ContainsAny(t.Options, "\x00") {
		return errors.New("tree: bad options")
	}
	return nil
}

// makeTree mounts a new tmpfs at dir with t's options and makes t's
// inodes in it, then makes it read-only if the old superblock was.
func makeTree(dir string, t *Tree) error {
	if err := t.check(); err != nil {
		return err
	}
	var flags uintptr
	var data []string
	for _, o := range strings.Split(t.Options, ",") {
		switch o {
		case "ro":
			flags |= unix.MS_RDONLY
		case "rw", "":
		default:
			data = append(data, o)
		}
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, strings.Join(data, ",")); err != nil {
		return fmt.Errorf("mount tmpfs (%s) at %s: %w", t.Options, dir, err)
	}
	for _, e := range t.Entries {
		p := filepath.Join(dir, e.Path)
		perm := e.Mode &^ unix.S_IFMT
		var err error
		switch e.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			if e.Path != "." {
				err = unix.Mkdir(p, 0o700)
			}
		case unix.S_IFLNK:
			err = unix.Symlink(e.Target, p)
		default:
			err = unix.Mknod(p, e.Mode&unix.S_IFMT|0o600, int(e.Rdev))
		}
		if err == nil {
			err = unix.Lchown(p, int(e.UID), int(e.GID))
		}
		if err == nil && e.Mode&unix.S_IFMT != unix.S_IFLNK {
			err = unix.Fchmodat(unix.AT_FDCWD, p, perm, 0)
		}
		if err != nil {
			return fmt.Errorf("recreate %s in tmpfs %s: %w", e.Path, dir, err)
		}
	}
	// Children first, so making them does not touch their parent's mtime.
	for i := len(t.Entries) - 1; i >= 0; i-- {
		e := t.Entries[i]
		ts := []unix.Timespec{unix.NsecToTimespec(e.Mtime), unix.NsecToTimespec(e.Mtime)}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(dir, e.Path), ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("set times of %s in tmpfs %s: %w", e.Path, dir, err)
		}
	}
	if flags&unix.MS_RDONLY != 0 {
		if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_RDONLY, strings.Join(data, ",")); err != nil {
			return fmt.Errorf("make tmpfs %s read-only: %w", dir, err)
		}
	}
	return nil
}

// makeTrees mounts a new tmpfs for each "tmpfs" external, in dirs under
// stateDir (restore's private mount namespace: CRIU binds them into the
// container, the host never sees them), and returns exts with them.
func makeTrees(exts []External, stateDir string) ([]External, error) {
	out := slices.Clone(exts)
	for i := range out {
		if out[i].Kind != "tmpfs" {
			continue
		}
		if out[i].Tree == nil {
			return nil, fmt.Errorf("checkpoint metadata: the tmpfs on %s has no tree", out[i].Dest)
		}
		dir := filepath.Join(stateDir, fmt.Sprintf("tmpfs-%d", i))
		if err := os.Mkdir(dir, 0o700); err != nil {
			return nil, fmt.Errorf("make the tmpfs on %s again: %w", out[i].Dest, err)
		}
		if err := makeTree(dir, out[i].Tree); err != nil {
			return nil, fmt.Errorf("make the tmpfs on %s again: %w", out[i].Dest, err)
		}
		out[i].made = dir
	}
	return out, nil
}

// errTreeChanged: a tmpfs the plan read changed before the freeze.
var errTreeChanged = errors.New("a tmpfs mount changed")

func hasTrees(exts []External) bool {
	return slices.ContainsFunc(exts, func(e External) bool { return e.Kind == "tmpfs" })
}

func withoutTrees(exts []External) []External {
	return slices.DeleteFunc(slices.Clone(exts), func(e External) bool { return e.Kind == "tmpfs" })
}

// dropTrees takes the tmpfs externals out of exts and their keys out of
// CRIU's external list.
func dropTrees(exts []External, criuExts []string) ([]External, []string) {
	var keys []string
	for _, e := range exts {
		if e.Kind == "tmpfs" {
			keys = append(keys, extMountKey(e.Dest)+":"+e.Dest)
		}
	}
	return withoutTrees(exts), slices.DeleteFunc(criuExts, func(x string) bool { return slices.Contains(keys, x) })
}

// treesFile holds the trees again beside CRIU's images: they are image
// content (what CRIU's tmpfs-dev-N.tar.gz.img would hold), so an image
// dir restored without stasis.json, as runc's are, still has them.
const treesFile = "tmpfs-trees.json"

func writeTrees(dir string, exts []External) error {
	path := filepath.Join(dir, treesFile)
	if !hasTrees(exts) {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	return writeJSON(path, slices.DeleteFunc(slices.Clone(exts), func(e External) bool { return e.Kind != "tmpfs" }))
}

// readTrees reads treesFile of image dir dir (none: no trees).
func readTrees(dir string) ([]External, error) {
	data, err := os.ReadFile(filepath.Join(dir, treesFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var exts []External
	if err := json.Unmarshal(data, &exts); err != nil {
		return nil, fmt.Errorf("%s: %w", treesFile, err)
	}
	for _, e := range exts {
		if e.Kind != "tmpfs" || e.Tree == nil || !filepath.IsAbs(e.Dest) {
			return nil, fmt.Errorf("%s: %s is no tmpfs tree", treesFile, e.Dest)
		}
	}
	return exts, nil
}
