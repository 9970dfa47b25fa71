package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/lifecycle"
)

var stateCommand = &cli.Command{
	Name:      "state",
	Usage:     "print a container's state as JSON",
	ArgsUsage: "<container-id>",
	Action: func(c *cli.Context) error {
		return withContainer(c, "state", func(ctr *lifecycle.Container) error {
			return printJSON(ctr.OCIState())
		})
	},
}

var listCommand = &cli.Command{
	Name:  "list",
	Usage: "list containers",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only ids"},
	},
	Action: func(c *cli.Context) error {
		st := store(c)
		ids, err := st.List()
		if err != nil {
			return err
		}
		states := []lifecycle.OCIState{}
		for _, id := range ids {
			ctr, err := st.Get(id)
			if errors.Is(err, lifecycle.ErrNotFound) {
				continue // deleted while we listed
			}
			if err != nil {
				return fmt.Errorf("list: %s: %w", id, err)
			}
			cs := ctr.OCIState()
			if cs.Owner == "" {
				cs.Owner = dirOwner(ctr.Dir())
			}
			states = append(states, cs)
			ctr.Close()
		}
		if c.Bool("quiet") {
			for _, s := range states {
				fmt.Println(s.ID)
			}
			return nil
		}
		switch c.String("format") {
		case "json":
			return json.NewEncoder(os.Stdout).Encode(states)
		case "table":
			w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
			fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
			for _, s := range states {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle,
					s.Created.Format(time.RFC3339Nano), s.Owner)
			}
			return w.Flush()
		default:
			return fmt.Errorf("list: unknown --format %q: use table or json", c.String("format"))
		}
	},
}

func printJSON(v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Println(string(data))
	return err
}

func jsonIndentEncoder(f *os.File) *json.Encoder {
	enc := json.NewEncoder(f)
	enc.SetIndent("", "\t")
	return enc
}

// dirOwner names the owner of a state dir, which runc's list shows as
// the container's owner.
func dirOwner(dir string) string {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return ""
	}
	if u, err := user.LookupId(strconv.Itoa(int(st.Uid))); err == nil {
		return u.Username
	}
	return "#" + strconv.Itoa(int(st.Uid))
}
