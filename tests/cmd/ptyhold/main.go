// Command ptyhold runs a command with a new pseudo-terminal as its stdio and
// controlling terminal, as a shell in a terminal window runs a job: for
// tests that need a host terminal a container inherits (checkpoint
// --shell-job) or a runtime that proxies its container's pty to its own
// stdio (a foreground `restore` of a terminal container).
//
// Unlike ptyrun (a foreground command driven by -expect/-send, ending with
// it), ptyhold keeps the terminal until its last holder lets go.
//
//	ptyhold [--out FILE] [--pts FILE] [--status FILE] CMD [ARGS...]
//
// What is written to the terminal is appended to --out (default: stdout)
// until the last process holding the terminal's slave side has closed it,
// which may be long after CMD exited (a detached container keeps it);
// then ptyhold exits. --pts receives the slave's path (/dev/pts/N) before
// CMD starts; --status receives CMD's exit status once it exits. Both are
// written whole (a rename), so a test can wait for the file to appear.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

func main() {
	out := flag.String("out", "", "append the terminal's output to this file (default: stdout)")
	pts := flag.String("pts", "", "write the slave's path to this file before CMD starts")
	status := flag.String("status", "", "write CMD's exit status to this file once it exits")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: %s [--out FILE] [--pts FILE] [--status FILE] CMD [ARGS...]\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Args(), *out, *pts, *status); err != nil {
		fmt.Fprintf(os.Stderr, "ptyhold: %v\n", err)
		os.Exit(1)
	}
}

func run(argv []string, outPath, ptsPath, statusPath string) error {
	w := io.Writer(os.Stdout)
	if outPath != "" {
		f, err := os.OpenFile(outPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	master, slave, err := openPty()
	if err != nil {
		return err
	}
	defer master.Close()
	if ptsPath != "" {
		if err := writeWhole(ptsPath, slave.Name()+"\n"); err != nil {
			return err
		}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	err = cmd.Start()
	// Only CMD and what it starts hold the slave from here: the master
	// reads EIO once they all closed it.
	slave.Close()
	if err != nil {
		return err
	}
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(w, master)
		copied <- err
	}()
	code := 0
	if err := cmd.Wait(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return err
		}
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	}
	if statusPath != "" {
		if err := writeWhole(statusPath, fmt.Sprintf("%d\n", code)); err != nil {
			return err
		}
	}
	if err := <-copied; err != nil && !errors.Is(err, unix.EIO) {
		return fmt.Errorf("copy: %w", err)
	}
	return nil
}

// openPty opens a new pty's master and its unlocked slave.
func openPty() (master, slave *os.File, err error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	master = os.NewFile(uintptr(fd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("pty number: %w", err)
	}
	name := fmt.Sprintf("/dev/pts/%d", n)
	sfd, err := unix.Open(name, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("open %s: %w", name, err)
	}
	return master, os.NewFile(uintptr(sfd), name), nil
}

func writeWhole(path, data string) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
