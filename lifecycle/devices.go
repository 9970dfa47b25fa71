package lifecycle

import "github.com/opencontainers/runtime-spec/specs-go"

func i64(v int64) *int64 { return &v }

// defaultDeviceRules are allowed in every container's devices cgroup
// after the spec's own rules, as runc does: a spec that starts with
// "deny all" (Docker's and `stasis spec`'s do) still gets a working /dev,
// ptys for consoles and exec -t, and mknod.
var defaultDeviceRules = []specs.LinuxDeviceCgroup{
	{Allow: true, Type: "c", Access: "m"},                                    // mknod of any char device
	{Allow: true, Type: "b", Access: "m"},                                    // mknod of any block device
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},    // null
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "rwm"},    // zero
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(7), Access: "rwm"},    // full
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(8), Access: "rwm"},    // random
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(9), Access: "rwm"},    // urandom
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(0), Access: "rwm"},    // tty
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(2), Access: "rwm"},    // ptmx
	{Allow: true, Type: "c", Major: i64(136), Access: "rwm"},                 // pts/*
	{Allow: true, Type: "c", Major: i64(10), Minor: i64(200), Access: "rwm"}, // net/tun
}

// cgroupResources is what create writes to the cgroup: the spec's
// resources with device rules completed by an allow rule for every
// linux.devices node and the defaults above.
func cgroupResources(sp *specs.Spec) *specs.LinuxResources {
	if sp.Linux == nil {
		return nil
	}
	r := specs.LinuxResources{}
	if sp.Linux.Resources != nil {
		r = *sp.Linux.Resources
	}
	rules := append([]specs.LinuxDeviceCgroup(nil), r.Devices...)
	for _, d := range sp.Linux.Devices {
		rules = append(rules, specs.LinuxDeviceCgroup{
			Allow: true, Type: d.Type, Major: i64(d.Major), Minor: i64(d.Minor), Access: "rwm",
		})
	}
	r.Devices = append(rules, defaultDeviceRules...)
	return &r
}
