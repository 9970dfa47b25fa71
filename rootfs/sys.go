package rootfs

import (
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
	// the parent) onto the directory or file open as toFd.
	moveMount func(fromFd, toFd int) error
	// mounts returns the host mount table as this process sees it.
	mounts func() ([]*mountinfo.Info, error)
	// readFile reads host files such as /proc/self/cgroup.
	readFile func(path string) ([]byte, error)
	// stat is used by Finalize, which works on container paths after the
	// pivot.
	stat func(path string) (os.FileInfo, error)
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
		mounts:   func() ([]*mountinfo.Info, error) { return mountinfo.GetMounts(nil) },
		readFile: os.ReadFile,
		stat:     os.Stat,
		exists: func(path string) bool {
			_, err := os.Stat(path)
			return err == nil
		},
	}
}

// sys is swapped by tests; production code never reassigns it.
var sys = realSys()
