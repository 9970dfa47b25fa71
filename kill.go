package main

import (
	"errors"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/lifecycle"
	"github.com/stasis-oci/stasis/spec"
)

var killCommand = &cli.Command{
	Name:      "kill",
	Usage:     "send a signal (default SIGTERM) to a container's init, or with --all to all its processes",
	ArgsUsage: "<container-id> [signal]",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "signal every process of the container"},
	},
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1, 2); err != nil {
			return err
		}
		id, err := containerID(c)
		if err != nil {
			return err
		}
		sig := unix.SIGTERM
		if c.NArg() == 2 {
			s, err := spec.ParseSignal(c.Args().Get(1))
			if err != nil {
				return opError("kill", id, err)
			}
			sig = s
		}
		return onContainer(c, id, "kill", func(ctr *lifecycle.Container) error {
			return ctr.Kill(sig, c.Bool("all"))
		})
	},
}

var deleteCommand = &cli.Command{
	Name:      "delete",
	Usage:     "delete a container and everything it holds on the host",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill a running or paused container first"},
	},
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1, 1); err != nil {
			return err
		}
		id, err := containerID(c)
		if err != nil {
			return err
		}
		err = onContainer(c, id, "delete", func(ctr *lifecycle.Container) error {
			return ctr.Delete(c.Bool("force"))
		})
		// containerd deletes with --force whatever it may have half made;
		// a container that is already gone is success then, as in runc.
		if errors.Is(err, lifecycle.ErrNotFound) && c.Bool("force") {
			return nil
		}
		return err
	},
}
