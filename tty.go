package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// ttyProxy is the foreground terminal of `run -t` / `exec -t` without a
// console socket: the container's init sends its pty master over one end
// of a socketpair (the same path as --console-socket), and we copy it to
// and from our own stdio, with our terminal in raw mode, as runc does.
type ttyProxy struct {
	ours, theirs *os.File
	master       *os.File
	restore      func()
	outDone      chan struct{}
}

func newTTYProxy() (*ttyProxy, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("console socketpair: %w", err)
	}
	return &ttyProxy{
		ours:    os.NewFile(uintptr(fds[0]), "console-ours"),
		theirs:  os.NewFile(uintptr(fds[1]), "console-theirs"),
		restore: func() {},
		outDone: make(chan struct{}),
	}, nil
}

// Start receives the master (the process is ready by now) and begins
// copying; it must be called after create/exec returned.
func (p *ttyProxy) Start() error {
	p.theirs.Close()
	master, err := recvFd(p.ours)
	p.ours.Close()
	if err != nil {
		return fmt.Errorf("receive pty master: %w", err)
	}
	p.master = master
	if restore, err := makeRaw(int(os.Stdin.Fd())); err == nil {
		p.restore = restore
		p.resize()
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, unix.SIGWINCH)
		go func() {
			for range winch {
				p.resize()
			}
		}()
	}
	go func() { _, _ = io.Copy(master, os.Stdin) }()
	go func() {
		// Ends with EIO once the last holder of the slave has exited.
		_, _ = io.Copy(os.Stdout, master)
		close(p.outDone)
	}()
	return nil
}

func (p *ttyProxy) resize() {
	ws, err := unix.IoctlGetWinsize(int(os.Stdin.Fd()), unix.TIOCGWINSZ)
	if err == nil {
		_ = unix.IoctlSetWinsize(int(p.master.Fd()), unix.TIOCSWINSZ, ws)
	}
}

// Close waits for the container's last output, then puts our terminal back.
func (p *ttyProxy) Close() {
	if p.master != nil {
		<-p.outDone
		p.master.Close()
	}
	p.restore()
	p.ours.Close()
	p.theirs.Close()
}

func recvFd(sock *os.File) (*os.File, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("no fd in console message (%v)", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("no fd in console message (%v)", err)
	}
	return os.NewFile(uintptr(fds[0]), string(buf[:n])), nil
}

// makeRaw is cfmakeraw(3) on fd; it fails when fd is not a terminal.
func makeRaw(fd int) (func(), error) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil, err
	}
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
