package lifecycle

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// sealedSelf returns an fd of the running binary that a container can
// never write through. The init is started from it rather than from
// /proc/self/exe, so a container process that reaches /proc/<init>/exe
// cannot overwrite the host's stasis binary (CVE-2019-5736 is that attack
// on runc).
//
// The cheap way is a read-only overlay of the binary's directory, mounted
// detached (fsmount without a mount point: no path leads to it, only our
// fd); its files refuse writes with EROFS. It costs ~0.1 ms where copying
// the binary into a sealed memfd costs ~8 ms per create and exec, so the
// memfd copy is only the fallback for kernels without the new mount API.
func sealedSelf() (*os.File, error) {
	if f, err := overlaySealedSelf(); err == nil {
		return f, nil
	}
	return memfdSealedSelf()
}

func overlaySealedSelf() (*os.File, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return nil, err
	}
	// The running binary itself, through the magic link: what the sealed
	// handle must turn out to be.
	var self unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &self); err != nil {
		return nil, fmt.Errorf("stat own binary: %w", err)
	}
	return overlaySeal(exe, &self)
}

// overlaySeal returns an O_PATH handle on exe inside a detached read-only
// overlay of its directory, checked to be the file want describes. The
// name is looked up with O_NOFOLLOW: between the readlink and the lookup
// the directory entry could have become a symlink, which the overlay
// would follow (an absolute one from our root, on the host) to a binary
// the init would then run as root.
func overlaySeal(exe string, want *unix.Stat_t) (*os.File, error) {
	// An overlay needs two lower layers without an upper one, and they
	// must not overlap: the second is an empty tmpfs, detached as well.
	empty, err := detachedMount("tmpfs", nil)
	if err != nil {
		return nil, err
	}
	defer unix.Close(empty)
	mnt, err := detachedMount("overlay", []string{filepath.Dir(exe), fmt.Sprintf("/proc/self/fd/%d", empty)})
	if err != nil {
		return nil, err
	}
	defer unix.Close(mnt)
	fd, err := unix.Openat(mnt, filepath.Base(exe), unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s in the sealing overlay: %w", exe, err)
	}
	f := os.NewFile(uintptr(fd), "sealed:stasis")
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("stat %s in the sealing overlay: %w", exe, err)
	}
	// overlayfs shows its own st_dev, but the lower file's inode number.
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Ino != want.Ino || st.Size != want.Size || st.Mtim != want.Mtim {
		f.Close()
		return nil, fmt.Errorf("%s in the sealing overlay is not the running binary (mode %#o, inode %d, %d bytes; want a regular file, inode %d, %d bytes)",
			exe, st.Mode, st.Ino, st.Size, want.Ino, want.Size)
	}
	return f, nil
}

// detachedMount creates a read-only mount of fstype (with lowers as
// overlay's lower layers) that is attached nowhere.
func detachedMount(fstype string, lowers []string) (int, error) {
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, err
	}
	defer unix.Close(fsfd)
	for _, l := range lowers {
		if err := unix.FsconfigSetString(fsfd, "lowerdir+", l); err != nil {
			return -1, err
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, err
	}
	return unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOSUID)
}

// memfdSealedSelf copies the binary into a memfd sealed against writes.
func memfdSealedSelf() (*os.File, error) {
	fd, err := unix.MemfdCreate("stasis", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "memfd:stasis")
	self, err := os.Open("/proc/self/exe")
	if err != nil {
		mem.Close()
		return nil, fmt.Errorf("open own binary: %w", err)
	}
	defer self.Close()
	if _, err := io.Copy(mem, self); err != nil {
		mem.Close()
		return nil, fmt.Errorf("copy own binary: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(mem.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		mem.Close()
		return nil, fmt.Errorf("seal binary copy: %w", err)
	}
	return mem, nil
}
