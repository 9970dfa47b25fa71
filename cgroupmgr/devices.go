package cgroupmgr

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// DefaultDeviceRules are the devices runc allows every container on top of
// the spec's rules (null, zero, full, tty, random, urandom, ptmx, pts/*, net/tun,
// and mknod of any char/block device). Callers append them when they build
// linux.resources.devices; Set itself never adds rules.
var DefaultDeviceRules = []specs.LinuxDeviceCgroup{
	dev("c", -1, -1, "m"), dev("b", -1, -1, "m"),
	dev("c", 1, 3, "rwm"), dev("c", 1, 5, "rwm"), dev("c", 1, 7, "rwm"),
	dev("c", 5, 0, "rwm"), dev("c", 1, 8, "rwm"), dev("c", 1, 9, "rwm"),
	dev("c", 5, 2, "rwm"), dev("c", 136, -1, "rwm"),
	dev("c", 10, 200, "rwm"), // /dev/net/tun, which runc allows too
}

func dev(typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
	return specs.LinuxDeviceCgroup{Allow: true, Type: typ, Major: &major, Minor: &minor, Access: access}
}

// setDevices replaces the device allowlist with "deny everything, then the
// rules in order". It only ever does so in a cgroup this manager created:
// rewriting someone else's device policy could lock them out of devices.
func (m *manager) setDevices(rules []specs.LinuxDeviceCgroup) error {
	if m.mode == Unified {
		return m.setDevicesV2(rules)
	}
	dir, ok := m.paths["devices"]
	if !ok {
		return fmt.Errorf("cgroupmgr: device rules given but no devices controller: %w", ErrNotSupported)
	}
	if !m.isCreated(dir) {
		Warn("cgroupmgr: %s was not created by this container; leaving its device rules alone", dir)
		return nil
	}
	return applyWrites(m.paths, v1DeviceWrites(rules))
}

// v1DeviceWrites: deny all, then each rule to devices.allow/devices.deny in
// order, so later rules override earlier ones as the spec intends.
func v1DeviceWrites(rules []specs.LinuxDeviceCgroup) []write {
	ws := []write{w("devices", "devices.deny", "a", explicit)}
	for _, r := range rules {
		if deviceAccess(r.Access) == "" {
			continue // no access the kernel knows: the rule changes nothing
		}
		file := "devices.deny"
		if r.Allow {
			file = "devices.allow"
		}
		ws = append(ws, w("devices", file, deviceString(r), explicit))
	}
	return ws
}

func deviceString(r specs.LinuxDeviceCgroup) string {
	typ := r.Type
	if typ == "" {
		typ = "a"
	}
	return fmt.Sprintf("%s %s:%s %s", typ, devNum(r.Major), devNum(r.Minor), deviceAccess(r.Access))
}

// deviceAccess keeps the letters the kernel knows (r, w, m), in that
// order and once each, as runc does: "rwa" from a hand-written config
// would otherwise make the whole write fail with EINVAL. An empty access
// means all three; one of unknown letters only means none.
func deviceAccess(a string) string {
	out := ""
	for _, c := range "rwm" {
		if a == "" || strings.ContainsRune(a, c) {
			out += string(c)
		}
	}
	return out // "" when a has only unknown letters
}

func devNum(n *int64) string {
	if n == nil || *n < 0 {
		return "*"
	}
	return itoa(*n)
}

// setDevicesV2 attaches an eBPF device filter built by containerd/cgroups,
// then detaches the ones attached before so an update replaces the policy
// instead of intersecting with it.
func (m *manager) setDevicesV2(rules []specs.LinuxDeviceCgroup) error {
	dir := m.paths[unifiedKey]
	if !m.isCreated(dir) {
		Warn("cgroupmgr: %s was not created by this container; leaving its device filter alone", dir)
		return nil
	}
	insts, license, err := cgroup2.DeviceFilter(rules)
	if err != nil {
		return fmt.Errorf("cgroupmgr: build device filter: %w", err)
	}
	fd, err := unix.Open(filepath.Clean(dir), unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("cgroupmgr: open %s: %w", dir, notFound(err))
	}
	defer unix.Close(fd)
	old, err := link.QueryPrograms(link.QueryOptions{Target: fd, Attach: ebpf.AttachCGroupDevice})
	if err != nil {
		return fmt.Errorf("cgroupmgr: query device filters of %s: %w", dir, err)
	}
	if _, err := cgroup2.LoadAttachCgroupDeviceFilter(insts, license, fd); err != nil {
		return fmt.Errorf("cgroupmgr: attach device filter to %s: %w", dir, err)
	}
	for _, p := range old.Programs {
		prog, err := ebpf.NewProgramFromID(p.ID)
		if err != nil {
			return fmt.Errorf("cgroupmgr: old device filter %d on %s: %w", p.ID, dir, err)
		}
		err = link.RawDetachProgram(link.RawDetachProgramOptions{Target: fd, Program: prog, Attach: ebpf.AttachCGroupDevice})
		prog.Close()
		if err != nil {
			return fmt.Errorf("cgroupmgr: detach old device filter %d from %s: %w", p.ID, dir, err)
		}
	}
	return nil
}
