package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/stasis-oci/stasis/lifecycle"
)

var psCommand = &cli.Command{
	Name:      "ps",
	Usage:     "list a container's processes (extra arguments go to ps(1), default -ef)",
	ArgsUsage: "<container-id> [ps options]",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
	},
	Action: func(c *cli.Context) error {
		return withContainer(c, "ps", func(ctr *lifecycle.Container) error {
			pids, err := ctr.Pids()
			if err != nil {
				return err
			}
			switch c.String("format") {
			case "json":
				return json.NewEncoder(os.Stdout).Encode(pids)
			case "table":
				args := c.Args().Tail()
				if len(args) == 0 {
					args = []string{"-ef"}
				}
				return psTable(pids, args)
			default:
				return fmt.Errorf("unknown --format %q: use table or json", c.String("format"))
			}
		})
	},
}

// psTable runs ps(1) on the host and keeps the header and the rows whose
// PID column is one of the container's processes, as runc does.
func psTable(pids []int, args []string) error {
	out, err := exec.Command("ps", args...).Output()
	if err != nil {
		return fmt.Errorf("run ps %s: %w", strings.Join(args, " "), err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	col := -1
	for i, f := range strings.Fields(lines[0]) {
		if f == "PID" {
			col = i
		}
	}
	if col < 0 {
		return fmt.Errorf("ps %s printed no PID column", strings.Join(args, " "))
	}
	in := map[int]bool{}
	for _, p := range pids {
		in[p] = true
	}
	var buf bytes.Buffer
	buf.WriteString(lines[0] + "\n")
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) <= col {
			continue
		}
		if p, err := strconv.Atoi(f[col]); err == nil && in[p] {
			buf.WriteString(l + "\n")
		}
	}
	_, err = os.Stdout.Write(buf.Bytes())
	return err
}
