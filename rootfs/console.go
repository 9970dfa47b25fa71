package rootfs

import (
	"errors"
	"fmt"
	"os"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// ErrBadPtmx refuses a /dev/pts/ptmx that is not the multiplexer of a
// devpts: opening another ptmx (the host's, on devtmpfs, bound there by a
// hook) would give the container a pty of somebody else's devpts.
var ErrBadPtmx = errors.New("/dev/pts/ptmx is not the ptmx of a devpts")

// Numbers the kernel gives every devpts instance's ptmx (fs/devpts/inode.c
// and TTYAUX_MAJOR in <linux/major.h>), as runc checks them.
const (
	ptmxMajor = 5
	ptmxMinor = 2
	ptmxIno   = 2
)

// OpenPtmx allocates a pty in the container's devpts: /dev/pts/ptmx,
// looked up by handle inside the root the caller is in (the container's,
// after pivot_root or in an exec'd process), checked on that handle to be
// a devpts ptmx, and only then opened.
func OpenPtmx() (*os.File, error) {
	return openPtmxIn("/")
}

func openPtmxIn(rootPath string) (*os.File, error) {
	r, err := openRoot(rootPath)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	h, err := r.open("/dev/pts/ptmx")
	if err != nil {
		return nil, fmt.Errorf("open /dev/pts/ptmx: %w", err)
	}
	defer h.Close()
	var st unix.Stat_t
	var sfs unix.Statfs_t
	if err := unix.Fstat(int(h.Fd()), &st); err != nil {
		return nil, fmt.Errorf("stat /dev/pts/ptmx: %w", err)
	}
	if err := unix.Fstatfs(int(h.Fd()), &sfs); err != nil {
		return nil, fmt.Errorf("statfs /dev/pts/ptmx: %w", err)
	}
	if sfs.Type != unix.DEVPTS_SUPER_MAGIC || st.Ino != ptmxIno ||
		st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(ptmxMajor, ptmxMinor) {
		return nil, fmt.Errorf("%w (%s: fs %#x, inode %d, mode %#o, device %d:%d)", ErrBadPtmx,
			h.Name(), sfs.Type, st.Ino, st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	f, err := pathrs.Reopen(h, unix.O_RDWR|unix.O_NOCTTY)
	if err != nil {
		return nil, fmt.Errorf("open /dev/pts/ptmx: %w", err)
	}
	return f, nil
}

// MountConsole binds the pty peer onto /dev/console (programs that write
// to the console expect the container's terminal there). Both ends are
// handles: the peer itself is the source, and /dev/console is opened once
// without following a symlink, checked, and mounted onto by that handle,
// so there is no gap between a check of the path and its use in which it
// could be swapped (CVE-2025-52565).
func MountConsole(peer *os.File) error {
	return mountConsoleIn("/", peer)
}

func mountConsoleIn(rootPath string, peer *os.File) error {
	r, err := openRoot(rootPath)
	if err != nil {
		return err
	}
	defer r.Close()
	target, err := r.fileTarget("/dev/console")
	if err != nil {
		return fmt.Errorf("mount the console: %w", err)
	}
	defer target.Close()
	tree, err := sys.openTree(int(peer.Fd()), unix.OPEN_TREE_CLONE)
	if err != nil {
		return fmt.Errorf("mount the console: clone the pty: %w", err)
	}
	defer unix.Close(tree)
	if err := sys.moveMount(tree, int(target.Fd())); err != nil {
		return fmt.Errorf("mount the pty on /dev/console: %w", err)
	}
	return nil
}

// fileTarget returns an O_PATH handle on dest as a mount point for a
// file: the entry itself, not what a symlink there names, created as an
// empty file if missing, and refused unless it is a regular file or a
// device node (an image's /dev/console).
func (r *root) fileTarget(dest string) (*os.File, error) {
	dir, name, err := r.inDir(dest)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	const flags = unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(int(dir.Fd()), name, flags, 0)
	if errors.Is(err, unix.ENOENT) {
		var c int
		c, err = unix.Openat(int(dir.Fd()), name, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
		if err == nil || errors.Is(err, unix.EEXIST) {
			if err == nil {
				unix.Close(c)
			}
			fd, err = unix.Openat(int(dir.Fd()), name, flags, 0)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dest, err)
	}
	f := os.NewFile(uintptr(fd), dest)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("stat %s: %w", dest, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG, unix.S_IFCHR:
		return f, nil
	}
	f.Close()
	return nil, fmt.Errorf("%s is not a file or a device node (mode %#o): not a mount point for the console", dest, st.Mode)
}
