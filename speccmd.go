package main

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/stasis-oci/stasis/cgroupmgr"
	"github.com/stasis-oci/stasis/spec"
	"github.com/urfave/cli/v2"
)

var specCommand = &cli.Command{
	Name:  "spec",
	Usage: "write a default config.json for a busybox-style bundle",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "bundle directory to write config.json in"},
		&cli.BoolFlag{Name: "rootless", Usage: "not supported yet"},
	},
	Action: func(c *cli.Context) error {
		if c.Bool("rootless") {
			return errors.New("spec: --rootless is not supported yet")
		}
		path := filepath.Join(c.String("bundle"), "config.json")
		if _, err := os.Stat(path); err == nil {
			return errors.New("spec: " + path + " exists: remove it first")
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return errors.New("spec: " + err.Error())
		}
		defer f.Close()
		sp := spec.Default()
		// As runc: a cgroup namespace only where the host is pure cgroup
		// v2; on v1 and hybrid hosts the container sees the host's view.
		if cgroupmgr.DetectMode() != cgroupmgr.Unified {
			sp.Linux.Namespaces = withoutNamespace(sp.Linux.Namespaces, specs.CgroupNamespace)
		}
		return jsonIndentEncoder(f).Encode(sp)
	},
}

func withoutNamespace(nss []specs.LinuxNamespace, t specs.LinuxNamespaceType) []specs.LinuxNamespace {
	var out []specs.LinuxNamespace
	for _, ns := range nss {
		if ns.Type != t {
			out = append(out, ns)
		}
	}
	return out
}
