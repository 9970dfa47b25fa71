package rootfs

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/spec"
)

// ErrBadDevNull refuses a /dev/null that is not the null device: it is
// the source of every file mask, and a container's own (an image's kept
// node, a symlink, a file) bound over /proc/kcore would unmask it or, as a
// symlink to /proc/sys/kernel/core_pattern, make that writable
// (CVE-2025-31133). The wording follows runc's.
var ErrBadDevNull = errors.New("container's /dev/null is invalid: not the character device 1:3")

// pathMasker applies linux.readonlyPaths and linux.maskedPaths after the
// pivot. Every target is opened by handle inside the root (pathrs-lite:
// no symlink or magic link leads out) and mounted onto by that handle with
// move_mount, and every source is a handle too: nothing is looked up
// again by path between the check and the mount.
type pathMasker struct {
	r       *root
	devNull *os.File // opened and checked at the first file mask
}

func (m *pathMasker) Close() {
	if m.devNull != nil {
		m.devNull.Close()
	}
}

// readonlyPath makes p a read-only mount of its own: a recursive clone of
// what is at p, with only its top mount made read-only (as runc's bind
// and remount do), moved back onto p. mount_setattr only adds the
// read-only flag, so the flags a user namespace locked stay as they are.
func (m *pathMasker) readonlyPath(p string) error {
	target, err := m.r.open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("readonly path %s: %w", p, err)
	}
	defer target.Close()
	tree, err := sys.openTree(int(target.Fd()), unix.OPEN_TREE_CLONE|unix.AT_RECURSIVE)
	if err != nil {
		return fmt.Errorf("readonly path %s: clone the mount: %w", p, err)
	}
	defer unix.Close(tree)
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if err := sys.mountSetattr(tree, "", unix.AT_EMPTY_PATH, attr); err != nil {
		return fmt.Errorf("readonly path %s: make the clone read-only: %w", p, err)
	}
	if err := sys.moveMount(tree, int(target.Fd())); err != nil {
		return fmt.Errorf("readonly path %s: move the read-only clone into place: %w", p, err)
	}
	return nil
}

// maskPath hides p: the container's /dev/null, checked to be the null
// device, over a file; an empty read-only tmpfs over a directory. Paths
// the container does not have need no mask.
func (m *pathMasker) maskPath(p string) error {
	target, err := m.r.open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("masked path %s: %w", p, err)
	}
	defer target.Close()
	fi, err := target.Stat()
	if err != nil {
		return fmt.Errorf("masked path %s: %w", p, err)
	}
	var tree int
	if fi.IsDir() {
		tree, err = sys.fsmount("tmpfs", unix.MOUNT_ATTR_RDONLY)
	} else {
		var null *os.File
		if null, err = m.nullDevice(); err == nil {
			tree, err = sys.openTree(int(null.Fd()), unix.OPEN_TREE_CLONE)
		}
	}
	if err != nil {
		return fmt.Errorf("masked path %s: %w", p, err)
	}
	defer unix.Close(tree)
	if err := sys.moveMount(tree, int(target.Fd())); err != nil {
		return fmt.Errorf("masked path %s: %w", p, err)
	}
	return nil
}

// nullDevice opens the container's /dev/null once, by handle, and checks
// on that handle that it is the null device before it is used.
func (m *pathMasker) nullDevice() (*os.File, error) {
	if m.devNull != nil {
		return m.devNull, nil
	}
	f, err := m.r.open("/dev/null")
	if err != nil {
		return nil, fmt.Errorf("open the mask source: %w", err)
	}
	if err := checkDevNull(f); err != nil {
		f.Close()
		return nil, err
	}
	m.devNull = f
	return f, nil
}

func checkDevNull(f *os.File) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("stat the container's /dev/null: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		return fmt.Errorf("%w (it is %s, mode %#o, device %d:%d)", ErrBadDevNull,
			f.Name(), st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	return nil
}

// bindRemountRO makes the mount at p read-only, repeating the flags the
// mount already has: in a user namespace the kernel locks nosuid, nodev,
// noexec and the atime mode of inherited mounts and refuses a remount that
// drops them.
func bindRemountRO(p string) error {
	var st unix.Statfs_t
	if err := sys.statfs(p, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", p, err)
	}
	keep := statfsToMountFlags(st.Flags) & (lockableFlags &^ unix.MS_RDONLY)
	flags := keep | unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY
	if err := sys.mount("", p, "", flags, ""); err != nil {
		return fmt.Errorf("remount %s (%s): %w", p, flagString(flags), err)
	}
	return nil
}

// devReadonly applies a deferred "ro" on the /dev mount: it had to stay
// writable until the device nodes and symlinks existed. The mount is
// reached by handle from the root handle, not by the path "/dev", and
// made read-only with mount_setattr on that handle, as a bind remount
// would (runc's remountReadonly): only MOUNT_ATTR_RDONLY is added, so the
// flags a user namespace locked stay as they are, and nothing is looked
// up again between the open and the change. mount_setattr refuses a
// handle that is not the root of a mount, so a /dev that is no longer the
// mount made for it is refused rather than some other mount changed.
func devReadonly(s *specs.Spec, r *root) error {
	for _, m := range s.Mounts {
		if cleanDest(m.Destination) != "/dev" || spec.IsBind(m) {
			continue
		}
		o := spec.ParseMountOptions(m.Options)
		if o.Flags&unix.MS_RDONLY == 0 {
			continue
		}
		dev, err := r.open("/dev")
		if err != nil {
			return fmt.Errorf("remount /dev read-only: %w", err)
		}
		attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		err = sys.mountSetattr(int(dev.Fd()), "", unix.AT_EMPTY_PATH, attr)
		dev.Close()
		if err != nil {
			return fmt.Errorf("remount /dev read-only: %w", err)
		}
	}
	return nil
}

// RemountRootReadonlyIn makes the root of pid's mount namespace read-only,
// for a restored container whose spec wants root.readonly: CRIU restores
// into a root that must stay writable while it works (it made the root
// from a rw bind of the rootfs), and does not restore the root mount's
// own flags. It runs on a thread of its own that joins the namespace and
// is thrown away after, so nothing else of stasis ever runs there.
func RemountRootReadonlyIn(pid int) error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: Go ends the thread with the goroutine.
		runtime.LockOSThread()
		errc <- func() error {
			ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/mnt", pid))
			if err != nil {
				return err
			}
			defer ns.Close()
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return fmt.Errorf("unshare fs: %w", err)
			}
			if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNS); err != nil {
				return fmt.Errorf("join the mount namespace of %d: %w", pid, err)
			}
			return bindRemountRO("/")
		}()
	}()
	if err := <-errc; err != nil {
		return fmt.Errorf("make the restored root read-only: %w", err)
	}
	return nil
}
