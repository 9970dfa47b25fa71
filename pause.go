package main

import (
	"github.com/urfave/cli/v2"

	"github.com/stasis-oci/stasis/lifecycle"
)

var pauseCommand = &cli.Command{
	Name:      "pause",
	Usage:     "freeze every process of a running container",
	ArgsUsage: "<container-id>",
	Action: func(c *cli.Context) error {
		return withContainer(c, "pause", (*lifecycle.Container).Pause)
	},
}

var resumeCommand = &cli.Command{
	Name:      "resume",
	Usage:     "thaw a paused container",
	ArgsUsage: "<container-id>",
	Action: func(c *cli.Context) error {
		return withContainer(c, "resume", (*lifecycle.Container).Resume)
	},
}
