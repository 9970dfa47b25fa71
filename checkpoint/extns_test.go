package checkpoint

import (
	"reflect"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

func nsSpec(ns ...specs.LinuxNamespace) *specs.Spec {
	return &specs.Spec{Linux: &specs.Linux{Namespaces: ns}}
}

// Joined namespaces CRIU can leave to the restoring bundle are external;
// the others block the checkpoint, each named; own ones are neither.
func TestJoinedNamespaces(t *testing.T) {
	sp := nsSpec(
		specs.LinuxNamespace{Type: specs.UTSNamespace, Path: "/proc/9/ns/uts"},
		specs.LinuxNamespace{Type: specs.PIDNamespace, Path: "/proc/9/ns/pid"},
		specs.LinuxNamespace{Type: specs.MountNamespace},
		specs.LinuxNamespace{Type: specs.IPCNamespace, Path: "/proc/9/ns/ipc"},
		specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/run/netns/x"},
		specs.LinuxNamespace{Type: specs.TimeNamespace, Path: "/proc/9/ns/time"},
		specs.LinuxNamespace{Type: specs.CgroupNamespace, Path: "/proc/9/ns/cgroup"},
	)
	ext, blockers := joinedNamespaces(sp)
	if want := []string{"ipc", "network", "pid", "uts"}; !reflect.DeepEqual(ext, want) {
		t.Errorf("external = %v, want %v", ext, want)
	}
	if len(blockers) != 2 || !strings.Contains(blockers[0], "time namespace /proc/9/ns/time") ||
		!strings.Contains(blockers[1], "cgroup namespace /proc/9/ns/cgroup") {
		t.Errorf("blockers = %q, want the time and cgroup namespaces named", blockers)
	}
	if ext, blockers := joinedNamespaces(nsSpec(specs.LinuxNamespace{Type: specs.PIDNamespace})); ext != nil || blockers != nil {
		t.Errorf("own namespaces: external %v, blockers %v; want none", ext, blockers)
	}
}

// Restore wants a path for each external namespace, a checkpoint that
// recorded only external_netns included, and names the missing ones.
func TestCheckExternalNamespaces(t *testing.T) {
	m := &Metadata{ExternalNetNS: true, ExternalNamespaces: []string{"pid", "uts"}}
	err := checkExternalNamespaces(m, nsSpec(specs.LinuxNamespace{Type: specs.UTSNamespace, Path: "/proc/1/ns/uts"}))
	if err == nil || !strings.Contains(err.Error(), "joined its pid, network namespaces by path") {
		t.Fatalf("err = %v, want pid and network named", err)
	}
	ok := nsSpec(
		specs.LinuxNamespace{Type: specs.UTSNamespace, Path: "/a"},
		specs.LinuxNamespace{Type: specs.PIDNamespace, Path: "/b"},
		specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/c"},
	)
	if err := checkExternalNamespaces(m, ok); err != nil {
		t.Fatal(err)
	}
}
