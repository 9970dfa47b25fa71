package main

import (
	"errors"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/stasis-oci/stasis/lifecycle"
)

// createFlags are shared by create and run, spelled as runc spells them.
var createFlags = []cli.Flag{
	&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "path to the bundle directory"},
	&cli.StringFlag{Name: "pid-file", Usage: "write the container init's pid to this file (atomically: a symlink at the name is replaced, see docs/paths.md)"},
	&cli.StringFlag{Name: "console-socket", Usage: "unix socket that receives the pty master when process.terminal is set"},
	&cli.BoolFlag{Name: "no-pivot", Usage: "use MS_MOVE and chroot instead of pivot_root (for ramfs roots)"},
	&cli.BoolFlag{Name: "no-new-keyring", Usage: "keep the caller's session keyring"},
	&cli.IntFlag{Name: "preserve-fds", Usage: "pass this many fds after stdio (3, 4, ...) to the container"},
}

var createCommand = &cli.Command{
	Name:      "create",
	Usage:     "create a container (its process waits for start)",
	ArgsUsage: "<container-id>",
	Flags:     createFlags,
	Action: func(c *cli.Context) error {
		ctr, err := createContainer(c)
		if err != nil {
			return err
		}
		ctr.Close()
		return nil
	},
}

var startCommand = &cli.Command{
	Name:      "start",
	Usage:     "start a created container's process",
	ArgsUsage: "<container-id>",
	Action: func(c *cli.Context) error {
		return withContainer(c, "start", func(ctr *lifecycle.Container) error {
			return ctr.Start()
		})
	},
}

func createContainer(c *cli.Context) (*lifecycle.Container, error) {
	return createWithConsole(c, nil)
}

func createWithConsole(c *cli.Context, foreground *os.File) (*lifecycle.Container, error) {
	if err := checkArgs(c, 1, 1); err != nil {
		return nil, err
	}
	id, err := containerID(c)
	if err != nil {
		return nil, err
	}
	if c.Bool("systemd-cgroup") {
		return nil, errors.New("create " + id + ": --systemd-cgroup: the systemd cgroup driver is not supported yet; use the cgroupfs driver (omit the flag)")
	}
	if c.Int("preserve-fds") < 0 {
		return nil, errors.New("create " + id + ": --preserve-fds must not be negative")
	}
	return store(c).Create(lifecycle.CreateOpts{
		ID:            id,
		Bundle:        c.String("bundle"),
		PidFile:       c.String("pid-file"),
		ConsoleSocket: c.String("console-socket"),
		NoPivot:       c.Bool("no-pivot"),
		NoNewKeyring:  c.Bool("no-new-keyring"),
		PreserveFds:   c.Int("preserve-fds"),

		ForegroundConsole: foreground,
	})
}

// withContainer runs op on container id (the first argument) under its
// lock, and names the container and the operation in any error.
func withContainer(c *cli.Context, op string, fn func(*lifecycle.Container) error) error {
	id, err := containerID(c)
	if err != nil {
		return err
	}
	return onContainer(c, id, op, fn)
}

// onContainer is withContainer for an id the caller already has.
func onContainer(c *cli.Context, id, op string, fn func(*lifecycle.Container) error) error {
	ctr, err := store(c).Get(id)
	if err != nil {
		return opError(op, id, err)
	}
	defer ctr.Close()
	if err := fn(ctr); err != nil {
		return opError(op, id, err)
	}
	return nil
}

func opError(op, id string, err error) error {
	return &namedError{op: op, id: id, err: err}
}

type namedError struct {
	op, id string
	err    error
}

func (e *namedError) Error() string { return e.op + " " + e.id + ": " + e.err.Error() }
func (e *namedError) Unwrap() error { return e.err }
