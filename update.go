package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	units "github.com/docker/go-units"
	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/stasis-oci/stasis/lifecycle"
)

var updateCommand = &cli.Command{
	Name:      "update",
	Usage:     "change the resource limits of a running container",
	ArgsUsage: "<container-id>",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "resources", Aliases: []string{"r"}, Usage: "file with linux.resources JSON, or - for stdin"},
		&cli.StringFlag{Name: "blkio-weight", Usage: "block IO weight (10-1000)"},
		&cli.StringFlag{Name: "cpu-period", Usage: "CFS period (us)"},
		&cli.StringFlag{Name: "cpu-quota", Usage: "CFS quota (us) per period"},
		&cli.StringFlag{Name: "cpu-share", Usage: "CPU shares"},
		&cli.StringFlag{Name: "cpu-rt-period", Usage: "realtime period (us)"},
		&cli.StringFlag{Name: "cpu-rt-runtime", Usage: "realtime runtime (us) per period"},
		&cli.StringFlag{Name: "cpu-idle", Usage: "cgroup v2 cpu.idle (0 or 1)"},
		&cli.StringFlag{Name: "cpuset-cpus", Usage: "CPUs to use"},
		&cli.StringFlag{Name: "cpuset-mems", Usage: "memory nodes to use"},
		&cli.StringFlag{Name: "memory", Usage: "memory limit (bytes, or with a unit: 64m)"},
		&cli.StringFlag{Name: "memory-reservation", Usage: "memory soft limit"},
		&cli.StringFlag{Name: "memory-swap", Usage: "memory+swap limit; -1 for unlimited"},
		&cli.StringFlag{Name: "kernel-memory", Usage: "obsolete, accepted for compatibility"},
		&cli.StringFlag{Name: "kernel-memory-tcp", Usage: "obsolete, accepted for compatibility"},
		&cli.Int64Flag{Name: "pids-limit", Usage: "maximum number of processes"},
		&cli.StringFlag{Name: "l3-cache-schema", Usage: "Intel RDT L3 schema (not supported)"},
		&cli.StringFlag{Name: "mem-bw-schema", Usage: "Intel RDT MBA schema (not supported)"},
	},
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1, 1); err != nil {
			return err
		}
		return withContainer(c, "update", func(ctr *lifecycle.Container) error {
			r, err := mergeResources(c, ctr.Resources())
			if err != nil {
				return err
			}
			return ctr.Update(r)
		})
	},
}

// mergeResources starts from the container's current resources, lays the
// --resources JSON over them (fields it names replace, others stay), then
// the individual flags, as runc's update does.
func mergeResources(c *cli.Context, cur *specs.LinuxResources) (*specs.LinuxResources, error) {
	data, err := json.Marshal(cur)
	if err != nil {
		return nil, err
	}
	r := &specs.LinuxResources{}
	if err := json.Unmarshal(data, r); err != nil {
		return nil, err
	}
	if in := c.String("resources"); in != "" {
		var src io.Reader = os.Stdin
		if in != "-" {
			f, err := os.Open(in)
			if err != nil {
				return nil, fmt.Errorf("--resources: %w", err)
			}
			defer f.Close()
			src = f
		}
		if err := json.NewDecoder(src).Decode(r); err != nil {
			return nil, fmt.Errorf("--resources: invalid JSON: %w", err)
		}
	}
	if r.Memory == nil {
		r.Memory = &specs.LinuxMemory{}
	}
	if r.CPU == nil {
		r.CPU = &specs.LinuxCPU{}
	}
	for _, f := range []struct {
		name string
		dst  **int64
	}{
		{"memory", &r.Memory.Limit},
		{"memory-reservation", &r.Memory.Reservation},
		{"memory-swap", &r.Memory.Swap},
		{"kernel-memory", &r.Memory.Kernel},
		{"kernel-memory-tcp", &r.Memory.KernelTCP},
	} {
		if !c.IsSet(f.name) {
			continue
		}
		v, err := parseBytes(c.String(f.name))
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", f.name, err)
		}
		*f.dst = &v
	}
	// Unlimited memory with no word on swap lifts the swap limit too, as
	// in runc: the old memory+swap limit would otherwise stay below the
	// new memory limit, which the kernel refuses.
	if c.IsSet("memory") && !c.IsSet("memory-swap") && r.Memory.Limit != nil && *r.Memory.Limit == -1 {
		unlimited := int64(-1)
		r.Memory.Swap = &unlimited
	}
	for _, f := range []struct {
		name string
		dst  **uint64
	}{
		{"cpu-period", &r.CPU.Period},
		{"cpu-share", &r.CPU.Shares},
		{"cpu-rt-period", &r.CPU.RealtimePeriod},
	} {
		if !c.IsSet(f.name) {
			continue
		}
		v, err := strconv.ParseUint(c.String(f.name), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", f.name, err)
		}
		*f.dst = &v
	}
	for _, f := range []struct {
		name string
		dst  **int64
	}{
		{"cpu-quota", &r.CPU.Quota},
		{"cpu-rt-runtime", &r.CPU.RealtimeRuntime},
		{"cpu-idle", &r.CPU.Idle},
	} {
		if !c.IsSet(f.name) {
			continue
		}
		v, err := strconv.ParseInt(c.String(f.name), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", f.name, err)
		}
		*f.dst = &v
	}
	if c.IsSet("cpuset-cpus") {
		r.CPU.Cpus = c.String("cpuset-cpus")
	}
	if c.IsSet("cpuset-mems") {
		r.CPU.Mems = c.String("cpuset-mems")
	}
	if c.IsSet("blkio-weight") {
		w, err := strconv.ParseUint(c.String("blkio-weight"), 10, 16)
		if err != nil {
			return nil, fmt.Errorf("--blkio-weight: %w", err)
		}
		if r.BlockIO == nil {
			r.BlockIO = &specs.LinuxBlockIO{}
		}
		w16 := uint16(w)
		r.BlockIO.Weight = &w16
	}
	if c.IsSet("pids-limit") {
		n := c.Int64("pids-limit")
		r.Pids = &specs.LinuxPids{Limit: &n}
	}
	if c.IsSet("l3-cache-schema") || c.IsSet("mem-bw-schema") {
		return nil, fmt.Errorf("--l3-cache-schema/--mem-bw-schema: Intel RDT is not supported")
	}
	return r, nil
}

// parseBytes accepts a byte count, a size with a unit (64m, 1g), or -1.
func parseBytes(s string) (int64, error) {
	if s == "-1" {
		return -1, nil
	}
	return units.RAMInBytes(s)
}
