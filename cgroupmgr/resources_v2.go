package cgroupmgr

import (
	"fmt"

	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v2Writes translates r into cgroup v2 file writes (all in the unified
// hierarchy). v1-only knobs are kept as writes to their v1 file names, which
// never exist on v2: a defaulted value is then skipped with a warning and an
// explicit one fails with an error naming the file.
func v2Writes(r *specs.LinuxResources) ([]write, error) {
	var ws []write
	mem, err := v2Memory(r.Memory)
	if err != nil {
		return nil, err
	}
	ws = append(ws, mem...)
	ws = append(ws, v2CPU(r.CPU)...)
	ws = append(ws, pidsWrites(r.Pids)...)
	ws = append(ws, v2IO(r.BlockIO)...)
	for _, h := range r.HugepageLimits {
		ws = append(ws, hugetlbWrites(h, unifiedKey, "max")...)
	}
	ws = append(ws, networkWrites(r.Network)...)
	ws = append(ws, rdmaWrites(unifiedKey, r.Rdma)...)
	for i := range ws {
		ws[i].key = unifiedKey
	}
	return ws, nil
}

// v2Limit renders a v1-style limit (-1 = unlimited) for a v2 file.
func v2Limit(v int64) string {
	if v < 0 {
		return "max"
	}
	return itoa(v)
}

func v2Memory(mem *specs.LinuxMemory) ([]write, error) {
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
	swapMax, err := v2SwapMax(swap, limit)
	if err != nil {
		return nil, err
	}
	// memory.swap.max is independent of memory.max on v2, so no ordering.
	if limit != 0 {
		ws = append(ws, w(unifiedKey, "memory.max", v2Limit(limit), lvl(limit)))
	}
	if swapMax != 0 {
		ws = append(ws, w(unifiedKey, "memory.swap.max", v2Limit(swapMax), lvl(swapMax)))
	}
	if v := mem.Reservation; v != nil && *v != 0 {
		ws = append(ws, w(unifiedKey, "memory.low", v2Limit(*v), lvl(*v)))
	}
	if v := mem.Kernel; v != nil && *v != 0 {
		ws = append(ws, w(unifiedKey, "memory.kmem.limit_in_bytes", itoa(*v), lvl(*v)))
	}
	if v := mem.KernelTCP; v != nil && *v != 0 {
		ws = append(ws, w(unifiedKey, "memory.kmem.tcp.limit_in_bytes", itoa(*v), lvl(*v)))
	}
	if v := mem.Swappiness; v != nil {
		ws = append(ws, w(unifiedKey, "memory.swappiness", utoa(*v), explicit))
	}
	if v := mem.DisableOOMKiller; v != nil && *v {
		ws = append(ws, w(unifiedKey, "memory.oom_control", "1", explicit))
	}
	return ws, nil
}

// v2SwapMax converts the OCI swap value (memory+swap, as on v1) into v2's
// swap-only memory.swap.max; 0 means "leave alone", -1 unlimited.
func v2SwapMax(swap, limit int64) (int64, error) {
	if limit == -1 && swap == 0 {
		return -1, nil
	}
	if swap == 0 || swap == -1 {
		return swap, nil
	}
	if limit <= 0 {
		return 0, fmt.Errorf("memory swap %d needs a memory limit", swap)
	}
	if swap < limit {
		return 0, fmt.Errorf("memory+swap %d is below the memory limit %d", swap, limit)
	}
	return swap - limit, nil
}

func v2CPU(c *specs.LinuxCPU) []write {
	if c == nil {
		return nil
	}
	var ws []write
	if v := c.Shares; v != nil && *v != 0 {
		weight := cgroup2.ConvertCPUSharesToCgroupV2Value(*v)
		ws = append(ws, w(unifiedKey, "cpu.weight", utoa(weight), explicit))
	}
	var quota int64
	var period uint64
	if c.Quota != nil {
		quota = *c.Quota
	}
	if c.Period != nil {
		period = *c.Period
	}
	if quota != 0 || period != 0 {
		// Quota and period are one file on v2. A lone quota keeps the
		// current period; a lone period resets the quota to "max".
		val := v2Limit(quota)
		if quota == 0 {
			val = "max"
		}
		if period != 0 {
			val += " " + utoa(period)
		}
		l := explicit
		if quota <= 0 && period == 0 {
			l = defaulted
		}
		ws = append(ws, w(unifiedKey, "cpu.max", val, l))
	}
	if v := c.Burst; v != nil {
		ws = append(ws, w(unifiedKey, "cpu.max.burst", utoa(*v), lvl(int64(*v))))
	}
	if v := c.RealtimePeriod; v != nil && *v != 0 {
		ws = append(ws, w(unifiedKey, "cpu.rt_period_us", utoa(*v), explicit))
	}
	if v := c.RealtimeRuntime; v != nil && *v != 0 {
		ws = append(ws, w(unifiedKey, "cpu.rt_runtime_us", itoa(*v), lvl(*v)))
	}
	if v := c.Idle; v != nil {
		ws = append(ws, w(unifiedKey, "cpu.idle", itoa(*v), lvl(*v)))
	}
	return append(ws, cpusetWrites(c)...)
}

// blkioToIOWeight maps v1 blkio weights [10, 1000] onto v2 io.weight
// [1, 10000] linearly, as runc and crun do.
func blkioToIOWeight(v uint16) uint64 {
	if v == 0 {
		return 0
	}
	if v < 10 {
		v = 10
	}
	return 1 + (uint64(v)-10)*9999/990
}

func v2IO(b *specs.LinuxBlockIO) []write {
	if b == nil {
		return nil
	}
	var ws []write
	if v := b.Weight; v != nil && *v != 0 {
		// BFQ takes the v1 scale as is; io.weight (CFQ-less io.cost) needs
		// the conversion.
		x := w(unifiedKey, "io.bfq.weight", utoa(uint64(*v)), explicit)
		x.alts = []target{{key: unifiedKey, file: "io.weight", value: fmt.Sprintf("default %d", blkioToIOWeight(*v))}}
		ws = append(ws, x)
	}
	if v := b.LeafWeight; v != nil && *v != 0 {
		ws = append(ws, w(unifiedKey, "blkio.leaf_weight", utoa(uint64(*v)), explicit))
	}
	for _, d := range b.WeightDevice {
		if d.Weight != nil {
			x := w(unifiedKey, "io.bfq.weight", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.Weight), explicit)
			x.alts = []target{{key: unifiedKey, file: "io.weight",
				value: fmt.Sprintf("%d:%d %d", d.Major, d.Minor, blkioToIOWeight(*d.Weight))}}
			ws = append(ws, x)
		}
		if d.LeafWeight != nil {
			ws = append(ws, w(unifiedKey, "blkio.leaf_weight_device",
				fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.LeafWeight), explicit))
		}
	}
	for _, t := range []struct {
		key  string
		devs []specs.LinuxThrottleDevice
	}{
		{"rbps", b.ThrottleReadBpsDevice},
		{"wbps", b.ThrottleWriteBpsDevice},
		{"riops", b.ThrottleReadIOPSDevice},
		{"wiops", b.ThrottleWriteIOPSDevice},
	} {
		for _, d := range t.devs {
			rate := "max"
			if d.Rate != 0 {
				rate = utoa(d.Rate)
			}
			val := fmt.Sprintf("%d:%d %s=%s", d.Major, d.Minor, t.key, rate)
			ws = append(ws, w(unifiedKey, "io.max", val, lvl(int64(d.Rate))))
		}
	}
	return ws
}
