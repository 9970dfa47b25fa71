package aufs

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// SysMounter is the real Mounter.
type SysMounter struct{}

func (SysMounter) Mount(source, target, fstype string, flags uintptr, data string) error {
	return unix.Mount(source, target, fstype, flags, data)
}

func (SysMounter) Unmount(target string, flags int) error {
	return unix.Unmount(target, flags)
}

// fsconfigMax is the longest string fsconfig copies (strndup_user(...,
// 256) in the kernel, including the NUL).
const fsconfigMax = 255

func (SysMounter) MountParams(fstype, target string, params []Param) error {
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("fsopen %s: %w", fstype, err)
	}
	defer unix.Close(fsfd)
	for _, p := range params {
		if err := fsconfig(fsfd, p); err != nil {
			return err
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fmt.Errorf("fsconfig create: %w", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("fsmount: %w", err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount to %s: %w", target, err)
	}
	return nil
}

func fsconfig(fsfd int, p Param) error {
	var err error
	switch {
	case !p.HasValue:
		err = unix.FsconfigSetFlag(fsfd, p.Key)
	case len(p.Value) > fsconfigMax && p.Dir != "":
		// A longer string would be refused; overlay (6.13+) also takes
		// a layer as an open directory.
		var fd int
		fd, err = unix.Open(p.Dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err == nil {
			err = unix.FsconfigSetFd(fsfd, p.Key, fd)
			unix.Close(fd)
		}
	default:
		err = unix.FsconfigSetString(fsfd, p.Key, p.Value)
	}
	if err != nil {
		return fmt.Errorf("fsconfig %s=%q: %w", p.Key, p.Value, err)
	}
	return nil
}
