package spec

import (
	"fmt"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The checks here are for fields of runtime-spec 1.1-1.3 that stasis
// hands to the kernel as they are (time namespace offsets, network
// devices, NUMA policy, CPU affinity, id-mapped mounts): what the kernel
// would refuse later, with a less helpful errno, is refused here naming
// the field.

var mempolicyModes = map[specs.MemoryPolicyModeType]int{
	specs.MpolDefault:            unix.MPOL_DEFAULT,
	specs.MpolBind:               unix.MPOL_BIND,
	specs.MpolInterleave:         unix.MPOL_INTERLEAVE,
	specs.MpolWeightedInterleave: unix.MPOL_WEIGHTED_INTERLEAVE,
	specs.MpolPreferred:          unix.MPOL_PREFERRED,
	specs.MpolPreferredMany:      unix.MPOL_PREFERRED_MANY,
	specs.MpolLocal:              unix.MPOL_LOCAL,
}

var mempolicyFlags = map[specs.MemoryPolicyFlagType]int{
	specs.MpolFNumaBalancing: unix.MPOL_F_NUMA_BALANCING,
	specs.MpolFRelativeNodes: unix.MPOL_F_RELATIVE_NODES,
	specs.MpolFStaticNodes:   unix.MPOL_F_STATIC_NODES,
}

// MemoryPolicy turns linux.memoryPolicy into set_mempolicy(2)'s mode
// (flags or'ed in) and node list. The policy must have been validated.
func MemoryPolicy(p *specs.LinuxMemoryPolicy) (mode int, nodes []int, err error) {
	mode, ok := mempolicyModes[p.Mode]
	if !ok {
		return 0, nil, invalidf("linux.memoryPolicy.mode %q: unknown mode", p.Mode)
	}
	for i, f := range p.Flags {
		bit, ok := mempolicyFlags[f]
		if !ok {
			return 0, nil, invalidf("linux.memoryPolicy.flags[%d] %q: unknown flag", i, f)
		}
		mode |= bit
	}
	nodes, err = ParseIDList(p.Nodes, MaxNode)
	if err != nil {
		return 0, nil, invalidf("linux.memoryPolicy.nodes %v", err)
	}
	return mode, nodes, nil
}

// MemoryPolicyModes and MemoryPolicyFlags list the names stasis knows, for
// `stasis features`.
func MemoryPolicyModes() []string { return sortedKeys(mempolicyModes) }
func MemoryPolicyFlags() []string { return sortedKeys(mempolicyFlags) }

func sortedKeys[K ~string](m map[K]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, string(k))
	}
	sort.Strings(out)
	return out
}

func validateMemoryPolicy(l *specs.Linux) error {
	p := l.MemoryPolicy
	if p == nil {
		return nil
	}
	mode, nodes, err := MemoryPolicy(p)
	if err != nil {
		return err
	}
	switch mode &^ (unix.MPOL_F_NUMA_BALANCING | unix.MPOL_F_RELATIVE_NODES | unix.MPOL_F_STATIC_NODES) {
	case unix.MPOL_DEFAULT, unix.MPOL_LOCAL:
		if len(nodes) > 0 {
			return invalidf("linux.memoryPolicy.nodes %q: mode %s takes no nodes", p.Nodes, p.Mode)
		}
	case unix.MPOL_BIND, unix.MPOL_INTERLEAVE, unix.MPOL_WEIGHTED_INTERLEAVE, unix.MPOL_PREFERRED_MANY:
		if len(nodes) == 0 {
			return invalidf("linux.memoryPolicy.nodes: mode %s needs at least one node", p.Mode)
		}
	}
	if mode&unix.MPOL_F_RELATIVE_NODES != 0 && mode&unix.MPOL_F_STATIC_NODES != 0 {
		return invalidf("linux.memoryPolicy.flags: MPOL_F_RELATIVE_NODES and MPOL_F_STATIC_NODES exclude each other")
	}
	return nil
}

// validateTimeOffsets follows time_namespaces(7): offsets can only be
// given to a namespace nobody has entered yet, so they need a new one.
func validateTimeOffsets(l *specs.Linux) error {
	if len(l.TimeOffsets) == 0 {
		return nil
	}
	ns := findNamespace(l, specs.TimeNamespace)
	if ns == nil {
		return invalidf("linux.timeOffsets: set without a time namespace in linux.namespaces")
	}
	if ns.Path != "" {
		return invalidf("linux.timeOffsets: the time namespace is joined by path (%s), whose offsets cannot change", ns.Path)
	}
	for clock, off := range l.TimeOffsets {
		if clock != "monotonic" && clock != "boottime" {
			return invalidf("linux.timeOffsets %q: unknown clock (monotonic or boottime)", clock)
		}
		if off.Nanosecs >= 1e9 {
			return invalidf("linux.timeOffsets.%s.nanosecs %d: must be below 1000000000", clock, off.Nanosecs)
		}
	}
	return nil
}

// TimeOffsets renders linux.timeOffsets as /proc/PID/timens_offsets takes
// them, one clock a line.
func TimeOffsets(offsets map[string]specs.LinuxTimeOffset) string {
	clocks := make([]string, 0, len(offsets))
	for c := range offsets {
		clocks = append(clocks, c)
	}
	sort.Strings(clocks)
	var sb strings.Builder
	for _, c := range clocks {
		fmt.Fprintf(&sb, "%s %d %d\n", c, offsets[c].Secs, offsets[c].Nanosecs)
	}
	return sb.String()
}

// validIfName follows the kernel's dev_valid_name: at most IFNAMSIZ-1
// bytes, not "." or "..", no '/', ':' or white space.
func validIfName(name string) bool {
	if name == "" || len(name) >= unix.IFNAMSIZ || name == "." || name == ".." {
		return false
	}
	return !strings.ContainsAny(name, "/: \t\n\v\f\r")
}

func validateNetDevices(l *specs.Linux) error {
	if len(l.NetDevices) == 0 {
		return nil
	}
	if findNamespace(l, specs.NetworkNamespace) == nil {
		return invalidf("linux.netDevices: moving devices needs a network namespace in linux.namespaces")
	}
	hostNames := make([]string, 0, len(l.NetDevices))
	for name := range l.NetDevices {
		hostNames = append(hostNames, name)
	}
	sort.Strings(hostNames)
	inside := map[string]string{}
	for _, name := range hostNames {
		if !validIfName(name) {
			return invalidf("linux.netDevices %q: not a valid network device name", name)
		}
		target := l.NetDevices[name].Name
		if target == "" {
			target = name
		} else if !validIfName(target) {
			return invalidf("linux.netDevices.%s.name %q: not a valid network device name", name, target)
		}
		if other, dup := inside[target]; dup && !strings.Contains(target, "%d") {
			return invalidf("linux.netDevices: %s and %s would both be %q in the container", other, name, target)
		}
		inside[target] = name
	}
	return nil
}

// validateCPUAffinity checks process.execCPUAffinity, which applies to
// processes exec'd into the container (not its init).
func validateCPUAffinity(a *specs.CPUAffinity) error {
	if a == nil {
		return nil
	}
	for _, f := range []struct{ name, list string }{{"initial", a.Initial}, {"final", a.Final}} {
		if _, err := ParseIDList(f.list, MaxCPU); err != nil {
			return invalidf("process.execCPUAffinity.%s %v", f.name, err)
		}
	}
	return nil
}

// validateIDMapMount checks a mount's uidMappings/gidMappings and its
// idmap/ridmap options. Only bind mounts can be id-mapped: the mapping is
// set on a clone of the source tree (mount_setattr(2) MOUNT_ATTR_IDMAP).
func validateIDMapMount(s *specs.Spec, i int, m specs.Mount) error {
	o := ParseMountOptions(m.Options)
	hasMaps := len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0
	if !hasMaps && !o.IDMap {
		return nil
	}
	if !IsBind(m) {
		return invalidf("mounts[%d] (%s): id-mapped mounts (uidMappings, gidMappings, idmap) must be bind mounts", i, m.Destination)
	}
	if hasMaps && (len(m.UIDMappings) == 0 || len(m.GIDMappings) == 0) {
		return invalidf("mounts[%d] (%s): uidMappings and gidMappings must be given together", i, m.Destination)
	}
	for _, set := range []struct {
		name string
		maps []specs.LinuxIDMapping
	}{{"uidMappings", m.UIDMappings}, {"gidMappings", m.GIDMappings}} {
		for j, mp := range set.maps {
			if mp.Size == 0 {
				return invalidf("mounts[%d].%s[%d].size: must be greater than 0", i, set.name, j)
			}
		}
	}
	if !hasMaps && findNamespace(s.Linux, specs.UserNamespace) == nil {
		return invalidf("mounts[%d] (%s): idmap without uidMappings/gidMappings takes the container's user namespace, and there is none", i, m.Destination)
	}
	return nil
}
