package cgroupmgr

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/cgroups/v3/cgroup1"
	v1stats "github.com/containerd/cgroups/v3/cgroup1/stats"
	"github.com/containerd/cgroups/v3/cgroup2"
	v2stats "github.com/containerd/cgroups/v3/cgroup2/stats"
)

// Stats is shaped like the "data" object of `runc events --stats`
// (runc/types/events.go), so JSON consumers of runc work unchanged.
type Stats struct {
	CPU     CPU                `json:"cpu"`
	Memory  Memory             `json:"memory"`
	Pids    Pids               `json:"pids"`
	Blkio   Blkio              `json:"blkio"`
	Hugetlb map[string]Hugetlb `json:"hugetlb"`
}

type Hugetlb struct {
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

type BlkioEntry struct {
	Major uint64 `json:"major,omitempty"`
	Minor uint64 `json:"minor,omitempty"`
	Op    string `json:"op,omitempty"`
	Value uint64 `json:"value,omitempty"`
}

type Blkio struct {
	IoServiceBytesRecursive []BlkioEntry `json:"ioServiceBytesRecursive,omitempty"`
	IoServicedRecursive     []BlkioEntry `json:"ioServicedRecursive,omitempty"`
	IoQueuedRecursive       []BlkioEntry `json:"ioQueueRecursive,omitempty"`
	IoServiceTimeRecursive  []BlkioEntry `json:"ioServiceTimeRecursive,omitempty"`
	IoWaitTimeRecursive     []BlkioEntry `json:"ioWaitTimeRecursive,omitempty"`
	IoMergedRecursive       []BlkioEntry `json:"ioMergedRecursive,omitempty"`
	IoTimeRecursive         []BlkioEntry `json:"ioTimeRecursive,omitempty"`
	SectorsRecursive        []BlkioEntry `json:"sectorsRecursive,omitempty"`
}

type Pids struct {
	Current uint64 `json:"current,omitempty"`
	Limit   uint64 `json:"limit,omitempty"`
}

type Throttling struct {
	Periods          uint64 `json:"periods,omitempty"`
	ThrottledPeriods uint64 `json:"throttledPeriods,omitempty"`
	ThrottledTime    uint64 `json:"throttledTime,omitempty"`
}

// CPUUsage is in nanoseconds.
type CPUUsage struct {
	Total        uint64   `json:"total,omitempty"`
	Percpu       []uint64 `json:"percpu,omitempty"`
	PercpuKernel []uint64 `json:"percpu_kernel,omitempty"`
	PercpuUser   []uint64 `json:"percpu_user,omitempty"`
	Kernel       uint64   `json:"kernel"`
	User         uint64   `json:"user"`
}

type CPU struct {
	Usage      CPUUsage   `json:"usage,omitempty"`
	Throttling Throttling `json:"throttling,omitempty"`
}

type MemoryEntry struct {
	Limit   uint64 `json:"limit"`
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

type Memory struct {
	Cache     uint64            `json:"cache,omitempty"`
	Usage     MemoryEntry       `json:"usage,omitempty"`
	Swap      MemoryEntry       `json:"swap,omitempty"`
	Kernel    MemoryEntry       `json:"kernel,omitempty"`
	KernelTCP MemoryEntry       `json:"kernelTCP,omitempty"`
	Raw       map[string]uint64 `json:"raw,omitempty"`
}

func (m *manager) Stats() (*Stats, error) {
	if _, err := os.Stat(m.mainPath()); err != nil {
		return nil, fmt.Errorf("cgroupmgr: stats: %w", notFound(err))
	}
	if m.mode == Unified {
		return m.statsV2()
	}
	return m.statsV1()
}

// v1Stater is what the containerd/cgroups v1 controllers offer.
type v1Stater interface {
	Stat(path string, stats *v1stats.Metrics) error
}

// libPath lets a containerd/cgroups v1 controller built with root "/" read
// an arbitrary absolute dir: it joins "/<controller>" with the path, so we
// climb out of that first component. Our mountpoints need not be
// /sys/fs/cgroup/<controller> (co-mounted cpu,cpuacct, other mount roots).
func libPath(abs string) string { return "../" + strings.TrimPrefix(abs, "/") }

func (m *manager) statsV1() (*Stats, error) {
	met := &v1stats.Metrics{CPU: &v1stats.CPUStat{Usage: &v1stats.CPUUsage{}, Throttling: &v1stats.Throttle{}}}
	for _, c := range []struct {
		key string
		st  func(dir string) v1Stater
	}{
		{"cpu", func(string) v1Stater { return cgroup1.NewCpu("/") }},
		{"cpuacct", func(string) v1Stater { return cgroup1.NewCpuacct("/") }},
		{"pids", func(string) v1Stater { return cgroup1.NewPids("/") }},
		{"blkio", func(string) v1Stater { return cgroup1.NewBlkio("/") }},
		{"memory", func(dir string) v1Stater {
			// The library fails on missing memsw/kmem files (swap
			// accounting off, kmem gone in newer kernels) unless told.
			var skip []string
			for _, mod := range []string{"memsw", "kmem", "kmem.tcp"} {
				if !fileExists(filepath.Join(dir, "memory."+mod+".usage_in_bytes")) {
					skip = append(skip, mod)
				}
			}
			return cgroup1.NewMemory("/", cgroup1.IgnoreModules(skip...))
		}},
	} {
		dir, ok := m.paths[c.key]
		if !ok {
			continue
		}
		if err := c.st(dir).Stat(libPath(dir), met); err != nil {
			return nil, fmt.Errorf("cgroupmgr: %s stats of %s: %w", c.key, dir, notFound(err))
		}
	}
	out := &Stats{Hugetlb: map[string]Hugetlb{}}
	if u := met.CPU.Usage; u != nil {
		out.CPU.Usage = CPUUsage{Total: u.Total, Percpu: u.PerCPU, Kernel: u.Kernel, User: u.User}
	}
	if dir, ok := m.paths["cpuacct"]; ok {
		out.CPU.Usage.PercpuKernel = readUints(filepath.Join(dir, "cpuacct.usage_percpu_sys"))
		out.CPU.Usage.PercpuUser = readUints(filepath.Join(dir, "cpuacct.usage_percpu_user"))
	}
	if t := met.CPU.Throttling; t != nil {
		out.CPU.Throttling = Throttling{Periods: t.Periods, ThrottledPeriods: t.ThrottledPeriods, ThrottledTime: t.ThrottledTime}
	}
	if p := met.Pids; p != nil {
		out.Pids = Pids{Current: p.Current, Limit: p.Limit}
	}
	if mem := met.Memory; mem != nil {
		out.Memory.Cache = mem.Cache
		out.Memory.Usage = memEntry(mem.Usage)
		out.Memory.Swap = memEntry(mem.Swap)
		out.Memory.Kernel = memEntry(mem.Kernel)
		out.Memory.KernelTCP = memEntry(mem.KernelTCP)
		out.Memory.Raw, _ = readKV(filepath.Join(m.paths["memory"], "memory.stat"))
	}
	if b := met.Blkio; b != nil {
		out.Blkio = Blkio{
			IoServiceBytesRecursive: blkEntries(b.IoServiceBytesRecursive),
			IoServicedRecursive:     blkEntries(b.IoServicedRecursive),
			IoQueuedRecursive:       blkEntries(b.IoQueuedRecursive),
			IoServiceTimeRecursive:  blkEntries(b.IoServiceTimeRecursive),
			IoWaitTimeRecursive:     blkEntries(b.IoWaitTimeRecursive),
			IoMergedRecursive:       blkEntries(b.IoMergedRecursive),
			IoTimeRecursive:         blkEntries(b.IoTimeRecursive),
			SectorsRecursive:        blkEntries(b.SectorsRecursive),
		}
	}
	if dir, ok := m.paths["hugetlb"]; ok {
		readHugetlbV1(dir, out.Hugetlb)
	}
	return out, nil
}

func memEntry(e *v1stats.MemoryEntry) MemoryEntry {
	if e == nil {
		return MemoryEntry{}
	}
	return MemoryEntry{Limit: e.Limit, Usage: e.Usage, Max: e.Max, Failcnt: e.Failcnt}
}

func blkEntries(in []*v1stats.BlkIOEntry) []BlkioEntry {
	var out []BlkioEntry
	for _, e := range in {
		out = append(out, BlkioEntry{Major: e.Major, Minor: e.Minor, Op: e.Op, Value: e.Value})
	}
	return out
}

// readHugetlbV1 reads hugetlb.<size>.{usage,max_usage,failcnt} for every
// page size that has files in dir.
func readHugetlbV1(dir string, out map[string]Hugetlb) {
	matches, _ := filepath.Glob(filepath.Join(dir, "hugetlb.*.usage_in_bytes"))
	for _, f := range matches {
		size := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "hugetlb."), ".usage_in_bytes")
		if strings.Contains(size, ".") {
			continue // rsvd.* files
		}
		base := filepath.Join(dir, "hugetlb."+size+".")
		usage, _ := readUint(base + "usage_in_bytes")
		max, _ := readUint(base + "max_usage_in_bytes")
		fail, _ := readUint(base + "failcnt")
		out[size] = Hugetlb{Usage: usage, Max: max, Failcnt: fail}
	}
}

func readUints(file string) []uint64 {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	var out []uint64
	for _, f := range strings.Fields(string(b)) {
		var v uint64
		if _, err := fmt.Sscan(f, &v); err == nil {
			out = append(out, v)
		}
	}
	return out
}

func (m *manager) statsV2() (*Stats, error) {
	dir := m.paths[unifiedKey]
	// The library insists on a group below a mountpoint and refuses groups
	// that start with /sys/fs/cgroup; splitting at the last element reaches
	// any absolute dir.
	cg, err := cgroup2.Load("/"+filepath.Base(dir), cgroup2.WithMountpoint(filepath.Dir(dir)))
	if err != nil {
		return nil, fmt.Errorf("cgroupmgr: stats: %w", err)
	}
	met, err := cg.Stat()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("cgroupmgr: stats of %s: %w", dir, notFound(err))
		}
		return nil, fmt.Errorf("cgroupmgr: stats of %s: %w", dir, err)
	}
	return convertV2(met, dir), nil
}

// noLimit turns the library's reading of "max" into runc's 0 = unlimited.
func noLimit(v uint64) uint64 {
	if v == math.MaxUint64 {
		return 0
	}
	return v
}

func convertV2(met *v2stats.Metrics, dir string) *Stats {
	out := &Stats{Hugetlb: map[string]Hugetlb{}}
	if c := met.CPU; c != nil {
		out.CPU.Usage = CPUUsage{Total: c.UsageUsec * 1000, User: c.UserUsec * 1000, Kernel: c.SystemUsec * 1000}
		out.CPU.Throttling = Throttling{Periods: c.NrPeriods, ThrottledPeriods: c.NrThrottled, ThrottledTime: c.ThrottledUsec * 1000}
	}
	if p := met.Pids; p != nil {
		out.Pids = Pids{Current: p.Current, Limit: noLimit(p.Limit)}
	}
	if mem := met.Memory; mem != nil {
		out.Memory.Cache = mem.File
		out.Memory.Usage = MemoryEntry{Usage: mem.Usage, Max: mem.MaxUsage, Limit: noLimit(mem.UsageLimit)}
		// Like runc, report swap as memory+swap so it reads as on v1.
		out.Memory.Swap = MemoryEntry{Usage: mem.SwapUsage + mem.Usage, Max: mem.SwapMaxUsage}
		if l, s := noLimit(mem.UsageLimit), noLimit(mem.SwapLimit); l != 0 && s != 0 {
			out.Memory.Swap.Limit = l + s
		}
		out.Memory.Raw, _ = readKV(filepath.Join(dir, "memory.stat"))
	}
	if io := met.Io; io != nil {
		for _, e := range io.Usage {
			out.Blkio.IoServiceBytesRecursive = append(out.Blkio.IoServiceBytesRecursive,
				BlkioEntry{Major: e.Major, Minor: e.Minor, Op: "Read", Value: e.Rbytes},
				BlkioEntry{Major: e.Major, Minor: e.Minor, Op: "Write", Value: e.Wbytes})
			out.Blkio.IoServicedRecursive = append(out.Blkio.IoServicedRecursive,
				BlkioEntry{Major: e.Major, Minor: e.Minor, Op: "Read", Value: e.Rios},
				BlkioEntry{Major: e.Major, Minor: e.Minor, Op: "Write", Value: e.Wios})
		}
	}
	for _, h := range met.Hugetlb {
		out.Hugetlb[h.Pagesize] = Hugetlb{Usage: h.Current, Max: noLimit(h.Max), Failcnt: h.Failcnt}
	}
	return out
}
