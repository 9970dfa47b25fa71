// Command ptyrun runs a command on a terminal of its own, as a user at a
// shell would: the command's stdin, stdout and stderr are a new pty's
// slave, which is also its controlling terminal (in a new session). It is
// how the bats suite drives `run -t` / `exec -t` without a console socket.
//
//	ptyrun [-size ROWSxCOLS] [-expect TEXT -send TEXT]... CMD [ARGS...]
//
// Everything the command writes to the terminal is copied to stdout (with
// the terminal's \r\n). Each -expect TEXT waits until TEXT has appeared in
// that output (after what the previous -expect matched), then the next
// -send TEXT is typed into the terminal: so input is sent once the command
// has said it is ready for it, never after a guessed delay. -size sets
// the terminal's window size before the command starts (default 24x80).
//
// ptyrun exits with the command's exit status (128+N when killed by signal
// N). When the command has exited, the terminal's settings are compared
// with those it started with: a command that left them changed (raw mode
// not undone) makes ptyrun say so on stderr. If an -expect is not met, or
// the command has not ended, within -timeout (default 30s; a guard
// against hanging, not a test of speed), ptyrun kills the command's
// session and exits 124.
package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

type step struct{ expect, send string }

func usage() {
	fmt.Fprintln(os.Stderr, "usage: ptyrun [-size ROWSxCOLS] [-timeout SECS] [-expect TEXT -send TEXT]... CMD [ARGS...]")
	os.Exit(2)
}

func main() {
	var steps []step
	rows, cols := uint16(24), uint16(80)
	timeout := 30 * time.Second
	args := os.Args[1:]
	for len(args) > 1 && strings.HasPrefix(args[0], "-") {
		opt, val := args[0], args[1]
		args = args[2:]
		switch opt {
		case "-expect":
			steps = append(steps, step{expect: val})
		case "-send":
			if len(steps) == 0 || steps[len(steps)-1].send != "" {
				steps = append(steps, step{})
			}
			steps[len(steps)-1].send = val
		case "-size":
			r, c, ok := strings.Cut(val, "x")
			rn, err1 := strconv.ParseUint(r, 10, 16)
			cn, err2 := strconv.ParseUint(c, 10, 16)
			if !ok || err1 != nil || err2 != nil {
				usage()
			}
			rows, cols = uint16(rn), uint16(cn)
		case "-timeout":
			s, err := strconv.Atoi(val)
			if err != nil {
				usage()
			}
			timeout = time.Duration(s) * time.Second
		default:
			usage()
		}
	}
	if len(args) == 0 {
		usage()
	}
	os.Exit(run(args, steps, rows, cols, timeout))
}

func openPty() (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("unlockpt: %w", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("ptsname: %w", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, s, nil
}

func run(argv []string, steps []step, rows, cols uint16, timeout time.Duration) int {
	master, slave, err := openPty()
	if err != nil {
		fmt.Fprintf(os.Stderr, "ptyrun: %v\n", err)
		return 125
	}
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		fmt.Fprintf(os.Stderr, "ptyrun: set window size: %v\n", err)
		return 125
	}
	before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ptyrun: %v\n", err)
		return 125
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "ptyrun: %v\n", err)
		return 125
	}

	// The reader copies the terminal's output to stdout and keeps it for
	// the -expect steps; it ends with EIO once no one holds the slave.
	var (
		mu   sync.Mutex
		seen []byte
		more = make(chan struct{}, 1)
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			if n > 0 {
				os.Stdout.Write(buf[:n])
				mu.Lock()
				seen = append(seen, buf[:n]...)
				mu.Unlock()
				select {
				case more <- struct{}{}:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()

	// When the command has exited, its terminal settings are checked and
	// our slave (the last one now) is closed, so that the reader drains
	// what is left and stops.
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		after, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		if err == nil && (after.Iflag != before.Iflag || after.Oflag != before.Oflag ||
			after.Lflag != before.Lflag || after.Cflag != before.Cflag) {
			fmt.Fprintf(os.Stderr, "ptyrun: the command left the terminal's settings changed (lflag %#x, was %#x)\n", after.Lflag, before.Lflag)
		}
		slave.Close()
		close(exited)
	}()

	deadline := time.After(timeout)
	from := 0
	for _, s := range steps {
		for s.expect != "" {
			mu.Lock()
			i := bytes.Index(seen[from:], []byte(s.expect))
			mu.Unlock()
			if i >= 0 {
				from += i + len(s.expect)
				break
			}
			select {
			case <-more:
			case <-done:
				<-exited
				fmt.Fprintf(os.Stderr, "\nptyrun: the command ended before %q appeared\n", s.expect)
				return 124
			case <-deadline:
				fmt.Fprintf(os.Stderr, "\nptyrun: %q did not appear within %v; killing the command\n", s.expect, timeout)
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
				return 124
			}
		}
		if s.send != "" {
			if _, err := master.Write([]byte(s.send)); err != nil {
				fmt.Fprintf(os.Stderr, "ptyrun: type %q: %v\n", s.send, err)
			}
		}
	}
	select {
	case <-exited:
	case <-deadline:
		fmt.Fprintf(os.Stderr, "\nptyrun: the command did not end within %v; killing it\n", timeout)
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		return 124
	}
	<-done
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
