package main

import (
	"context"
	"os/exec"
	"strings"
	"time"

	"github.com/moby/sys/capability"
	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"github.com/urfave/cli/v2"

	"github.com/stasis-oci/stasis/seccomp"
	"github.com/stasis-oci/stasis/spec"
)

// Annotations of `stasis features` beyond the runtime spec's fields.
const (
	annCheckpoint  = "org.stasis.checkpoint.enabled"
	annCriuVersion = "org.stasis.criu.version"
)

var featuresCommand = &cli.Command{
	Name:  "features",
	Usage: "print what this build of stasis supports (runtime-spec features JSON)",
	Action: func(c *cli.Context) error {
		return printJSON(buildFeatures(c.String("criu")))
	},
}

func buildFeatures(criuPath string) *features.Features {
	yes := true
	var caps []string
	for _, cp := range capability.ListKnown() {
		caps = append(caps, "CAP_"+strings.ToUpper(cp.String()))
	}
	f := &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		MountOptions:  spec.KnownMountOptions(),
		Linux: &features.Linux{
			Namespaces:      []string{"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"},
			Capabilities:    caps,
			Cgroup:          &features.Cgroup{V1: &yes, V2: &yes, Systemd: new(bool), SystemdUser: new(bool)},
			Seccomp:         seccomp.Features(),
			Apparmor:        &features.Apparmor{Enabled: new(bool)},
			Selinux:         &features.Selinux{Enabled: new(bool)},
			MemoryPolicy:    &features.MemoryPolicy{Modes: spec.MemoryPolicyModes(), Flags: spec.MemoryPolicyFlags()},
			MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &yes}},
			NetDevices:      &features.NetDevices{Enabled: &yes},
			IntelRdt:        &features.IntelRdt{Enabled: new(bool)},
		},
		Annotations: map[string]string{
			seccomp.AnnotationLibseccompVersion: seccomp.LibseccompVersion(),
			annCheckpoint:                       "false",
		},
	}
	if v, ok := workingCriu(criuPath); ok {
		f.Annotations[annCheckpoint] = "true"
		f.Annotations[annCriuVersion] = v
	}
	return f
}

// workingCriu runs `criu check`: checkpoint/restore is only on offer when
// CRIU is there and works on this kernel (Debian 12's 3.17 does not on
// 6.x kernels, for one).
func workingCriu(path string) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := exec.CommandContext(ctx, path, "check").Run(); err != nil {
		return "", false
	}
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return "", true
	}
	v := strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	return strings.TrimPrefix(v, "Version: "), true
}
