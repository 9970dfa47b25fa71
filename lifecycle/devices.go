package lifecycle

import (
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stasis-oci/stasis/cgroupmgr"
)

// cgroupResources is what create (and restore) writes to the cgroup: the spec's
// resources with runc's default device allow rules after the spec's own,
// so a spec that starts with "deny all" (Docker's and `stasis spec`'s do)
// still gets a working /dev, ptys for consoles and exec -t, and mknod.
// linux.devices nodes get no implicit rule, as in runc.
func cgroupResources(sp *specs.Spec) *specs.LinuxResources {
	if sp.Linux == nil {
		return nil
	}
	r := specs.LinuxResources{}
	if sp.Linux.Resources != nil {
		r = *sp.Linux.Resources
	}
	r.Devices = append(append([]specs.LinuxDeviceCgroup(nil), r.Devices...), cgroupmgr.DefaultDeviceRules...)
	return &r
}
