package lifecycle

import (
	"fmt"
	"sort"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stasis-oci/stasis/netdev"
)

// hasNamespace: the container has namespace t, new or joined.
func hasNamespace(l *specs.Linux, t specs.LinuxNamespaceType) bool {
	if l == nil {
		return false
	}
	for _, ns := range l.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}

// newNamespace: the container gets a namespace of type t of its own.
func newNamespace(l *specs.Linux, t specs.LinuxNamespaceType) bool {
	if l == nil {
		return false
	}
	for _, ns := range l.Namespaces {
		if ns.Type == t {
			return ns.Path == ""
		}
	}
	return false
}

// moveNetDevices moves linux.netDevices into the network namespace of
// the init pid (new or joined, validated to exist). A failure leaves the
// devices already moved where they are: the init is killed, and the
// kernel gives a physical device back to the host when the namespace
// goes and destroys a virtual one, as the runtime spec has it.
func moveNetDevices(pid int, l *specs.Linux) error {
	if l == nil || len(l.NetDevices) == 0 {
		return nil
	}
	names := make([]string, 0, len(l.NetDevices))
	for n := range l.NetDevices {
		names = append(names, n)
	}
	sort.Strings(names)
	nsPath := fmt.Sprintf("/proc/%d/ns/net", pid)
	for _, n := range names {
		inside, err := netdev.Move(n, l.NetDevices[n].Name, nsPath)
		if err != nil {
			return fmt.Errorf("linux.netDevices %s: %w", n, err)
		}
		Debug("moved network device %s into the container as %s", n, inside)
	}
	return nil
}
