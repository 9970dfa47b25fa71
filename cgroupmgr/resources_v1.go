package cgroupmgr

import (
	"fmt"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v1Writes translates r into cgroup v1 file writes, in the order they must
// happen. Devices are handled separately (see devices.go).
func v1Writes(r *specs.LinuxResources) ([]write, error) {
	var ws []write
	mem, err := v1Memory(r.Memory)
	if err != nil {
		return nil, err
	}
	ws = append(ws, mem...)
	ws = append(ws, v1CPU(r.CPU)...)
	ws = append(ws, pidsWrites(r.Pids)...)
	ws = append(ws, v1BlockIO(r.BlockIO)...)
	for _, h := range r.HugepageLimits {
		ws = append(ws, hugetlbWrites(h, "hugetlb", "limit_in_bytes")...)
	}
	ws = append(ws, networkWrites(r.Network)...)
	ws = append(ws, rdmaWrites("rdma", r.Rdma)...)
	return ws, nil
}

func w(key, file, value string, l level) write {
	return write{target: target{key: key, file: file, value: value}, level: l}
}

func v1Memory(mem *specs.LinuxMemory) ([]write, error) {
	if mem == nil {
		return nil, nil
	}
	var ws []write
	var limit, swap int64
	if mem.Limit != nil {
		limit = *mem.Limit
	}
	if mem.Swap != nil {
		swap = *mem.Swap
	}
	// Unlimited memory with swap left unset means unlimited swap too, as
	// in runc; otherwise the old memsw limit would cap the new memory one.
	if limit == -1 && swap == 0 {
		swap = -1
	}
	lw := w("memory", "memory.limit_in_bytes", itoa(limit), lvl(limit))
	sw := w("memory", "memory.memsw.limit_in_bytes", itoa(swap), lvl(swap))
	switch {
	case limit != 0 && swap != 0:
		// The kernel demands limit <= memsw at every step, so the right
		// order depends on the current values; swapOnEINVAL finds it.
		lw.swapOnEINVAL = true
		ws = append(ws, lw, sw)
	case limit != 0:
		ws = append(ws, lw)
	case swap != 0:
		ws = append(ws, sw)
	}
	if v := mem.Reservation; v != nil && *v != 0 {
		ws = append(ws, w("memory", "memory.soft_limit_in_bytes", itoa(*v), lvl(*v)))
	}
	if v := mem.Kernel; v != nil && *v != 0 {
		ws = append(ws, w("memory", "memory.kmem.limit_in_bytes", itoa(*v), lvl(*v)))
	}
	if v := mem.KernelTCP; v != nil && *v != 0 {
		ws = append(ws, w("memory", "memory.kmem.tcp.limit_in_bytes", itoa(*v), lvl(*v)))
	}
	if v := mem.Swappiness; v != nil {
		if *v > 100 {
			return nil, fmt.Errorf("memory swappiness %d out of range 0-100", *v)
		}
		ws = append(ws, w("memory", "memory.swappiness", utoa(*v), explicit))
	}
	if v := mem.DisableOOMKiller; v != nil {
		if *v {
			ws = append(ws, w("memory", "memory.oom_control", "1", explicit))
		} else {
			ws = append(ws, w("memory", "memory.oom_control", "0", defaulted))
		}
	}
	if v := mem.UseHierarchy; v != nil {
		// Modern kernels are always hierarchical and refuse "0".
		if *v {
			ws = append(ws, w("memory", "memory.use_hierarchy", "1", defaulted))
		} else {
			ws = append(ws, w("memory", "memory.use_hierarchy", "0", explicit))
		}
	}
	return ws, nil
}

func v1CPU(c *specs.LinuxCPU) []write {
	if c == nil {
		return nil
	}
	var ws []write
	if v := c.Shares; v != nil && *v != 0 {
		ws = append(ws, w("cpu", "cpu.shares", utoa(*v), explicit))
	}
	var quota int64
	var period uint64
	if c.Quota != nil {
		quota = *c.Quota
	}
	if c.Period != nil {
		period = *c.Period
	}
	pw := w("cpu", "cpu.cfs_period_us", utoa(period), explicit)
	qw := w("cpu", "cpu.cfs_quota_us", itoa(quota), lvl(quota))
	switch {
	case period != 0 && quota != 0:
		// A new period can be invalid against the old quota (and the other
		// way round); try period first, swap on EINVAL.
		pw.swapOnEINVAL = true
		ws = append(ws, pw, qw)
	case period != 0:
		ws = append(ws, pw)
	case quota != 0:
		ws = append(ws, qw)
	}
	if v := c.Burst; v != nil {
		ws = append(ws, w("cpu", "cpu.cfs_burst_us", utoa(*v), lvl(int64(*v))))
	}
	// The rt period must be in place before a runtime that fits it.
	if v := c.RealtimePeriod; v != nil && *v != 0 {
		ws = append(ws, w("cpu", "cpu.rt_period_us", utoa(*v), explicit))
	}
	if v := c.RealtimeRuntime; v != nil && *v != 0 {
		ws = append(ws, w("cpu", "cpu.rt_runtime_us", itoa(*v), lvl(*v)))
	}
	if v := c.Idle; v != nil {
		ws = append(ws, w("cpu", "cpu.idle", itoa(*v), lvl(*v)))
	}
	ws = append(ws, cpusetWrites(c)...)
	return ws
}

func cpusetWrites(c *specs.LinuxCPU) []write {
	var ws []write
	if c.Cpus != "" {
		ws = append(ws, w("cpuset", "cpuset.cpus", c.Cpus, explicit))
	}
	if c.Mems != "" {
		ws = append(ws, w("cpuset", "cpuset.mems", c.Mems, explicit))
	}
	return ws
}

// pidsWrites is shared by v1 and v2: the file is pids.max in both. On v2
// the key is rewritten to the unified one by the caller.
func pidsWrites(p *specs.LinuxPids) []write {
	if p == nil || p.Limit == nil || *p.Limit == 0 {
		return nil
	}
	if *p.Limit < 0 {
		return []write{w("pids", "pids.max", "max", defaulted)}
	}
	return []write{w("pids", "pids.max", itoa(*p.Limit), explicit)}
}

func v1BlockIO(b *specs.LinuxBlockIO) []write {
	if b == nil {
		return nil
	}
	var ws []write
	if v := b.Weight; v != nil && *v != 0 {
		x := w("blkio", "blkio.weight", utoa(uint64(*v)), explicit)
		// Kernels without CFQ expose only the BFQ weight file.
		x.alts = []target{{key: "blkio", file: "blkio.bfq.weight", value: x.value}}
		ws = append(ws, x)
	}
	if v := b.LeafWeight; v != nil && *v != 0 {
		ws = append(ws, w("blkio", "blkio.leaf_weight", utoa(uint64(*v)), explicit))
	}
	for _, d := range b.WeightDevice {
		if d.Weight != nil {
			val := fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.Weight)
			x := w("blkio", "blkio.weight_device", val, explicit)
			x.alts = []target{{key: "blkio", file: "blkio.bfq.weight_device", value: val}}
			ws = append(ws, x)
		}
		if d.LeafWeight != nil {
			val := fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.LeafWeight)
			ws = append(ws, w("blkio", "blkio.leaf_weight_device", val, explicit))
		}
	}
	for _, t := range []struct {
		file string
		devs []specs.LinuxThrottleDevice
	}{
		{"blkio.throttle.read_bps_device", b.ThrottleReadBpsDevice},
		{"blkio.throttle.write_bps_device", b.ThrottleWriteBpsDevice},
		{"blkio.throttle.read_iops_device", b.ThrottleReadIOPSDevice},
		{"blkio.throttle.write_iops_device", b.ThrottleWriteIOPSDevice},
	} {
		for _, d := range t.devs {
			val := fmt.Sprintf("%d:%d %d", d.Major, d.Minor, d.Rate)
			ws = append(ws, w("blkio", t.file, val, lvl(int64(d.Rate))))
		}
	}
	return ws
}

// hugetlbWrites limits one page size; suffix is "limit_in_bytes" on v1 and
// "max" on v2. The reservation file (rsvd) is written too where it exists
// so that reservations cannot bypass the limit. On a hybrid host hugetlb
// may live only on the v2 side, hence the alt.
func hugetlbWrites(h specs.LinuxHugepageLimit, key, suffix string) []write {
	val := utoa(h.Limit)
	main := w(key, "hugetlb."+h.Pagesize+"."+suffix, val, explicit)
	rsvd := w(key, "hugetlb."+h.Pagesize+".rsvd."+suffix, val, optional)
	if key != unifiedKey {
		main.alts = []target{{key: unifiedKey, file: "hugetlb." + h.Pagesize + ".max", value: val}}
		rsvd.alts = []target{{key: unifiedKey, file: "hugetlb." + h.Pagesize + ".rsvd.max", value: val}}
	}
	return []write{main, rsvd}
}

func networkWrites(n *specs.LinuxNetwork) []write {
	if n == nil {
		return nil
	}
	var ws []write
	if v := n.ClassID; v != nil {
		ws = append(ws, w("net_cls", "net_cls.classid", utoa(uint64(*v)), lvl(int64(*v))))
	}
	for _, p := range n.Priorities {
		ws = append(ws, w("net_prio", "net_prio.ifpriomap", fmt.Sprintf("%s %d", p.Name, p.Priority), explicit))
	}
	return ws
}

func rdmaWrites(key string, r map[string]specs.LinuxRdma) []write {
	devs := make([]string, 0, len(r))
	for dev := range r {
		devs = append(devs, dev)
	}
	sort.Strings(devs)
	var ws []write
	for _, dev := range devs {
		l := r[dev]
		parts := []string{dev}
		if l.HcaHandles != nil {
			parts = append(parts, fmt.Sprintf("hca_handle=%d", *l.HcaHandles))
		}
		if l.HcaObjects != nil {
			parts = append(parts, fmt.Sprintf("hca_object=%d", *l.HcaObjects))
		}
		if len(parts) > 1 {
			ws = append(ws, w(key, "rdma.max", strings.Join(parts, " "), explicit))
		}
	}
	return ws
}
