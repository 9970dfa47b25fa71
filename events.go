package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/stasis-oci/stasis/lifecycle"
)

// event is runc's `events` line: {"type":"stats"|"oom","id":..,"data":..}.
type event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data any    `json:"data,omitempty"`
}

var eventsCommand = &cli.Command{
	Name:      "events",
	Usage:     "print resource usage (--stats once) or stream stats and OOM events",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		&cli.DurationFlag{Name: "interval", Value: 5 * time.Second, Usage: "time between stats while streaming"},
		&cli.BoolFlag{Name: "stats", Usage: "print stats once and exit"},
	},
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1, 1); err != nil {
			return err
		}
		id, err := containerID(c)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(os.Stdout)
		if c.Bool("stats") {
			return onContainer(c, id, "events", func(ctr *lifecycle.Container) error {
				st, err := ctr.Stats()
				if err != nil {
					return err
				}
				return enc.Encode(event{Type: "stats", ID: id, Data: st})
			})
		}
		return streamEvents(c, id, enc)
	},
}

// streamEvents prints stats every interval and each OOM kill until the
// container stops. The container lock is taken only for each read, so
// streaming never blocks other commands.
func streamEvents(c *cli.Context, id string, enc *json.Encoder) error {
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	var ooms <-chan struct{}
	if err := onContainer(c, id, "events", func(ctr *lifecycle.Container) error {
		cg, err := ctr.Cgroup()
		if err != nil {
			return err
		}
		if ch, err := cg.OOMEvents(ctx); err == nil {
			ooms = ch
		} else {
			logger.Warn("OOM events unavailable", "container", id, "error", err)
		}
		return nil
	}); err != nil {
		return err
	}
	tick := time.NewTicker(c.Duration("interval"))
	defer tick.Stop()
	for {
		select {
		case _, ok := <-ooms:
			if !ok {
				ooms = nil
				continue
			}
			if err := enc.Encode(event{Type: "oom", ID: id}); err != nil {
				return err
			}
		case <-tick.C:
			stopped := false
			err := onContainer(c, id, "events", func(ctr *lifecycle.Container) error {
				if ctr.Status() == lifecycle.Stopped {
					stopped = true
					return nil
				}
				st, err := ctr.Stats()
				if err != nil {
					return err
				}
				return enc.Encode(event{Type: "stats", ID: id, Data: st})
			})
			// The stream ends with the container: stopped or deleted.
			if stopped || errors.Is(err, lifecycle.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
}
