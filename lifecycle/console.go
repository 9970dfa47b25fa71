package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/rootfs"
)

// setupConsole creates the container's pty inside its own devpts, sends
// the master to whoever listens on --console-socket (SCM_RIGHTS, as runc
// does, so containerd and recvtty work unchanged) and makes the slave the
// init's stdio and controlling terminal.
func setupConsole(conn *os.File, p *specs.Process, devConsole bool) error {
	defer conn.Close()
	master, err := rootfs.OpenPtmx()
	if err != nil {
		return err
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		return fmt.Errorf("unlock pty: %w", err)
	}
	slave, err := ptyPeer(master)
	if err != nil {
		return err
	}
	defer slave.Close()
	if p.ConsoleSize != nil {
		ws := &unix.Winsize{Row: uint16(p.ConsoleSize.Height), Col: uint16(p.ConsoleSize.Width)}
		if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, ws); err != nil {
			return fmt.Errorf("set console size: %w", err)
		}
	}
	if devConsole {
		if err := rootfs.MountConsole(slave); err != nil {
			return err
		}
	}
	rights := unix.UnixRights(int(master.Fd()))
	if err := unix.Sendmsg(int(conn.Fd()), []byte(master.Name()), rights, nil, 0); err != nil {
		return fmt.Errorf("send pty master over console socket: %w", err)
	}
	for fd := 0; fd < 3; fd++ {
		if err := unix.Dup3(int(slave.Fd()), fd, 0); err != nil {
			return fmt.Errorf("dup pty slave to fd %d: %w", fd, err)
		}
	}
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("set controlling terminal: %w", err)
	}
	return nil
}

// ptyPeer opens the slave of master by the master itself (TIOCGPTPEER,
// Linux 4.13): /dev/pts/N by name could by then be something else (a
// symlink, another devpts over /dev/pts), and that is what the container's
// stdio and /dev/console would get (CVE-2025-52565). unix.IoctlRetInt
// cannot be used: its argument, here the open flags, is always 0
// (O_RDONLY), and the peer must be read and written.
func ptyPeer(master *os.File) (*os.File, error) {
	fd, _, errno := unix.Syscall(unix.SYS_IOCTL, master.Fd(), unix.TIOCGPTPEER,
		uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	runtime.KeepAlive(master)
	if errno != 0 {
		return nil, fmt.Errorf("open pty peer (TIOCGPTPEER): %w", errno)
	}
	return os.NewFile(fd, "pty peer of "+master.Name()), nil
}

// ownTerminal gives the process's user its terminal (the pty slave on its
// stdio, made by root), as runc does, so that a non-root user can control
// it. Only the owner changes: the group is devpts's gid= option (tty).
// A terminal whose owner is not mapped in a user namespace (EINVAL,
// EPERM) or on a read-only /dev is left alone rather than failing.
func ownTerminal(p *specs.Process) error {
	if !p.Terminal || p.User.UID == 0 {
		return nil
	}
	if err := unix.Fchown(0, int(p.User.UID), -1); err != nil &&
		!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EROFS) {
		return fmt.Errorf("give the terminal to uid %d: %w", p.User.UID, err)
	}
	return nil
}
