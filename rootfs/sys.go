package rootfs

import (
	"fmt"
	"os"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// sysOps is the seam between the mount/device/pivot logic and the kernel.
// Everything that needs privilege or changes the mount table goes through
// it, so the ordering and flag logic can be unit-tested without root.
// Creating directories and files inside the rootfs is deliberately NOT
// behind the seam: it works unprivileged in a temp dir and is what the
// path-resolution safety depends on.
type sysOps struct {
	mount     func(source, target, fstype string, flags uintptr, data string) error
	unmount   func(target string, flags int) error
	mknodat   func(dirfd int, name string, mode uint32, dev int) error
	fchownat  func(dirfd int, name string, uid, gid, flags int) error
	pivotRoot func(newroot, putold string) error
	chroot    func(path string) error
	chdir     func(path string) error
	fchdir    func(fd int) error
	statfs    func(path string, buf *unix.Statfs_t) error
	umask     func(mask int) int
	// mountSetattr applies the recursive "rro"-style options.
	mountSetattr func(dirfd int, path string, flags uint, attr *unix.MountAttr) error
	// moveMount attaches a detached mount tree (an id-mapped clone made by
	// the parent, or one of openTree's or fsmount's) onto the directory or
	// file open as toFd.
	moveMount func(fromFd, toFd int) error
	// openTree clones the mount at the file open as fd (open_tree with
	// OPEN_TREE_CLONE in flags): a bind source taken by handle, not by a
	// path a container could swap.
	openTree func(fd int, flags uint) (int, error)
	// fsmount makes a new, detached mount of fstype (tmpfs for masks) with
	// the MOUNT_ATTR_* attrs.
	fsmount func(fstype string, attrs int) (int, error)
	// mounts returns the host mount table as this process sees it.
	mounts func() ([]*mountinfo.Info, error)
	// readFile reads host files such as /proc/self/cgroup.
	readFile func(path string) ([]byte, error)
	// exists reports whether a host path exists (e.g. /proc/kcore).
	exists func(path string) bool
}

func realSys() sysOps {
	return sysOps{
		mount:        unix.Mount,
		unmount:      unix.Unmount,
		mknodat:      unix.Mknodat,
		fchownat:     unix.Fchownat,
		pivotRoot:    unix.PivotRoot,
		chroot:       unix.Chroot,
		chdir:        unix.Chdir,
		fchdir:       unix.Fchdir,
		statfs:       unix.Statfs,
		umask:        unix.Umask,
		mountSetattr: unix.MountSetattr,
		moveMount: func(fromFd, toFd int) error {
			return unix.MoveMount(fromFd, "", toFd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
		},
		openTree: func(fd int, flags uint) (int, error) {
			return unix.OpenTree(fd, "", flags|unix.AT_EMPTY_PATH|unix.OPEN_TREE_CLOEXEC)
		},
		fsmount:  newDetachedMount,
		mounts:   func() ([]*mountinfo.Info, error) { return mountinfo.GetMounts(nil) },
		readFile: os.ReadFile,
		exists: func(path string) bool {
			_, err := os.Stat(path)
			return err == nil
		},
	}
}

// sys is swapped by tests; production code never reassigns it.
var sys = realSys()

// newDetachedMount is fsopen, fsconfig create and fsmount: a new
// filesystem of fstype that no path leads to until it is moved into place.
func newDetachedMount(fstype string, attrs int) (int, error) {
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen %s: %w", fstype, err)
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("fsconfig %s create: %w", fstype, err)
	}
	fd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return -1, fmt.Errorf("fsmount %s: %w", fstype, err)
	}
	return fd, nil
}
