package lifecycle

import (
	"errors"
	"fmt"
	"os"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// setupConsole creates the container's pty inside its own devpts, sends
// the master to whoever listens on --console-socket (SCM_RIGHTS, as runc
// does, so containerd and recvtty work unchanged) and makes the slave the
// init's stdio and controlling terminal.
func setupConsole(conn *os.File, p *specs.Process, devConsole bool) error {
	defer conn.Close()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/ptmx: %w", err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		return fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		return fmt.Errorf("get pty number: %w", err)
	}
	slavePath := fmt.Sprintf("/dev/pts/%d", n)
	slave, err := os.OpenFile(slavePath, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", slavePath, err)
	}
	defer slave.Close()
	if p.ConsoleSize != nil {
		ws := &unix.Winsize{Row: uint16(p.ConsoleSize.Height), Col: uint16(p.ConsoleSize.Width)}
		if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, ws); err != nil {
			return fmt.Errorf("set console size: %w", err)
		}
	}
	if devConsole {
		if err := mountConsole(slavePath); err != nil {
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

// mountConsole makes /dev/console the container's pty, as programs that
// write to the console (init systems, getty) expect.
func mountConsole(slavePath string) error {
	f, err := os.OpenFile("/dev/console", os.O_CREATE|os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create /dev/console: %w", err)
	}
	f.Close()
	if err := unix.Mount(slavePath, "/dev/console", "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("mount %s on /dev/console: %w", slavePath, err)
	}
	return nil
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
