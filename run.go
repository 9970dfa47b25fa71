package main

import (
	"fmt"
	"os"
	"os/signal"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/lifecycle"
)

var runCommand = &cli.Command{
	Name:      "run",
	Usage:     "create and start a container; without --detach, wait for it and return its exit code",
	ArgsUsage: "<container-id>",
	Flags: append([]cli.Flag{
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "do not wait for the container to exit"},
		&cli.BoolFlag{Name: "keep", Usage: "do not delete the container after it exits (foreground only)"},
	}, createFlags...),
	Action: func(c *cli.Context) error {
		// The id first: a bad one must fail before the tty proxy exists.
		if _, err := containerID(c); err != nil {
			return err
		}
		// Catch signals before the container exists, so none is lost
		// between its start and our wait.
		sigs := make(chan os.Signal, 64)
		if !c.Bool("detach") {
			signal.Notify(sigs)
			defer signal.Stop(sigs)
		}
		// A foreground run with a terminal and no console socket gets our
		// own tty proxy (used only if the spec asks for a terminal).
		var tty *ttyProxy
		var foreground *os.File
		if !c.Bool("detach") && c.String("console-socket") == "" {
			t, err := newTTYProxy()
			if err != nil {
				return err
			}
			tty, foreground = t, t.theirs
		}
		if c.Bool("keep") && c.Bool("detach") {
			return fmt.Errorf("run: --keep and --detach cannot be used together")
		}
		ctr, err := createWithConsole(c, foreground)
		if err != nil {
			if tty != nil {
				tty.Close()
			}
			return err
		}
		id := ctr.ID()
		pid := ctr.State().Pid
		if tty != nil {
			if ctr.State().Config.Process.Terminal {
				if err := tty.Start(); err != nil {
					ctr.Close()
					return opError("run", id, err)
				}
			}
			defer tty.Close()
		}
		if err := ctr.Start(); err != nil {
			ctr.Close()
			return opError("run", id, err)
		}
		ctr.Close()
		if c.Bool("detach") {
			return nil
		}
		return finishForeground(c, id, pid, sigs, tty)
	},
}

// finishForeground is the end of a foreground run or restore: wait for the
// container's init, put the terminal back, delete the container (as runc
// does, unless --keep) and exit with the init's exit code.
func finishForeground(c *cli.Context, id string, pid int, sigs chan os.Signal, tty *ttyProxy) error {
	code := waitForward(pid, sigs)
	if tty != nil {
		tty.Close()
	}
	if c.Bool("keep") {
		return cli.Exit("", code)
	}
	if err := onContainer(c, id, "delete", func(ctr *lifecycle.Container) error { return ctr.Delete(true) }); err != nil {
		reportError(err)
	}
	return cli.Exit("", code)
}

// waitForward waits for the container init (our child: nsenter clones it
// with CLONE_PARENT) and forwards the signals we receive to it, as runc
// does for a foreground container. It returns the shell-style exit code.
func waitForward(pid int, sigs chan os.Signal) int {
	exited := make(chan unix.WaitStatus, 1)
	go func() {
		var ws unix.WaitStatus
		for {
			_, err := unix.Wait4(pid, &ws, 0, nil)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "stasis: wait for container init %d: %v\n", pid, err)
				ws = unix.WaitStatus(255 << 8)
			}
			exited <- ws
			return
		}
	}()
	for {
		select {
		case ws := <-exited:
			if ws.Signaled() {
				return 128 + int(ws.Signal())
			}
			return ws.ExitStatus()
		case s := <-sigs:
			sig, ok := s.(unix.Signal)
			if !ok || sig == unix.SIGCHLD || sig == unix.SIGURG || sig == unix.SIGWINCH || sig == unix.SIGPIPE {
				continue
			}
			_ = unix.Kill(pid, sig)
		}
	}
}
