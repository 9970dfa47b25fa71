package cgroupmgr

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func i64(v int64) *int64   { return &v }
func u64(v uint64) *uint64 { return &v }
func u16(v uint16) *uint16 { return &v }
func u32(v uint32) *uint32 { return &v }
func boolp(v bool) *bool   { return &v }
func key(w write) string   { return w.key + "/" + w.file }
func keys(ws []write) []string {
	var out []string
	for _, w := range ws {
		out = append(out, key(w)+"="+w.value)
	}
	return out
}

func TestV1Writes(t *testing.T) {
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(128 << 20), Reservation: i64(32 << 20),
			Kernel: i64(-1), Swappiness: u64(10), DisableOOMKiller: boolp(true)},
		CPU: &specs.LinuxCPU{Shares: u64(512), Quota: i64(50000), Period: u64(100000),
			RealtimeRuntime: i64(1000), RealtimePeriod: u64(1000000), Cpus: "0", Mems: "0"},
		Pids: &specs.LinuxPids{Limit: i64(20)},
		BlockIO: &specs.LinuxBlockIO{Weight: u16(500),
			ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 1000}}},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}},
		Network:        &specs.LinuxNetwork{ClassID: u32(0x100001), Priorities: []specs.LinuxInterfacePriority{{Name: "eth0", Priority: 5}}},
	}
	ws, err := v1Writes(r)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"memory/memory.limit_in_bytes=67108864",
		"memory/memory.memsw.limit_in_bytes=134217728",
		"memory/memory.soft_limit_in_bytes=33554432",
		"memory/memory.kmem.limit_in_bytes=-1",
		"memory/memory.swappiness=10",
		"memory/memory.oom_control=1",
		"cpu/cpu.shares=512",
		"cpu/cpu.cfs_period_us=100000",
		"cpu/cpu.cfs_quota_us=50000",
		"cpu/cpu.rt_period_us=1000000",
		"cpu/cpu.rt_runtime_us=1000",
		"cpuset/cpuset.cpus=0",
		"cpuset/cpuset.mems=0",
		"pids/pids.max=20",
		"blkio/blkio.weight=500",
		"blkio/blkio.throttle.read_bps_device=8:0 1000",
		"hugetlb/hugetlb.2MB.limit_in_bytes=4194304",
		"hugetlb/hugetlb.2MB.rsvd.limit_in_bytes=4194304",
		"net_cls/net_cls.classid=1048577",
		"net_prio/net_prio.ifpriomap=eth0 5",
	}
	if got := keys(ws); !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	levels := map[string]level{}
	for _, w := range ws {
		levels[key(w)] = w.level
	}
	if levels["memory/memory.kmem.limit_in_bytes"] != defaulted {
		t.Error("kmem -1 should be a default value")
	}
	if levels["memory/memory.limit_in_bytes"] != explicit {
		t.Error("memory limit should be explicit")
	}
	if !ws[0].swapOnEINVAL || !ws[7].swapOnEINVAL {
		t.Error("memory limit and cfs period must be retried in swapped order on EINVAL")
	}
}

func TestV1MemoryUnlimitedImpliesUnlimitedSwap(t *testing.T) {
	ws, _ := v1Memory(&specs.LinuxMemory{Limit: i64(-1)})
	want := []string{"memory/memory.limit_in_bytes=-1", "memory/memory.memsw.limit_in_bytes=-1"}
	if got := keys(ws); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
	if _, err := v1Memory(&specs.LinuxMemory{Swappiness: u64(101)}); err == nil {
		t.Fatal("swappiness 101 accepted")
	}
}

func TestV2Writes(t *testing.T) {
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(96 << 20), Reservation: i64(-1)},
		CPU:    &specs.LinuxCPU{Shares: u64(1024), Quota: i64(50000), Period: u64(100000), Cpus: "0-1"},
		Pids:   &specs.LinuxPids{Limit: i64(-1)},
		BlockIO: &specs.LinuxBlockIO{Weight: u16(1000),
			ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 16}, Rate: 30}}},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "1GB", Limit: 1 << 30}},
	}
	ws, err := v2Writes(r)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/memory.max=67108864",
		"/memory.swap.max=33554432",
		"/memory.low=max",
		"/cpu.weight=100",
		"/cpu.max=50000 100000",
		"/cpuset.cpus=0-1",
		"/pids.max=max",
		"/io.bfq.weight=1000",
		"/io.max=8:16 wiops=30",
		"/hugetlb.1GB.max=1073741824",
		"/hugetlb.1GB.rsvd.max=1073741824",
	}
	if got := keys(ws); !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if alt := ws[7].alts; len(alt) != 1 || alt[0].file != "io.weight" || alt[0].value != "default 10000" {
		t.Errorf("io.weight fallback = %+v", alt)
	}
}

func TestV2SharesToWeight(t *testing.T) {
	for shares, weight := range map[uint64]uint64{2: 1, 1024: 100, 262144: 10000, 512: 59} {
		ws := v2CPU(&specs.LinuxCPU{Shares: u64(shares)})
		if len(ws) != 1 || ws[0].file != "cpu.weight" || ws[0].value != fmt.Sprint(weight) {
			t.Errorf("shares %d -> %v, want cpu.weight=%d", shares, keys(ws), weight)
		}
	}
}

func TestV2CPUMax(t *testing.T) {
	for _, tc := range []struct {
		quota  *int64
		period *uint64
		want   string
	}{
		{i64(20000), nil, "20000"},
		{i64(-1), nil, "max"},
		{nil, u64(50000), "max 50000"},
		{i64(-1), u64(50000), "max 50000"},
	} {
		ws := v2CPU(&specs.LinuxCPU{Quota: tc.quota, Period: tc.period})
		if len(ws) != 1 || ws[0].value != tc.want {
			t.Errorf("quota %v period %v -> %v, want %q", tc.quota, tc.period, keys(ws), tc.want)
		}
	}
}

func TestV2SwapMax(t *testing.T) {
	for _, tc := range []struct {
		swap, limit, want int64
		err               bool
	}{
		{0, 100, 0, false}, {-1, 100, -1, false}, {0, -1, -1, false},
		{300, 100, 200, false}, {50, 100, 0, true}, {300, 0, 0, true},
	} {
		got, err := v2SwapMax(tc.swap, tc.limit)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("v2SwapMax(%d,%d) = %d,%v", tc.swap, tc.limit, got, err)
		}
	}
}

func TestDeviceWrites(t *testing.T) {
	ws := v1DeviceWrites([]specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},
		{Allow: true, Type: "c", Major: i64(136), Minor: i64(-1), Access: "rw"},
		{Allow: false, Type: "b", Major: i64(8), Access: "m"},
	})
	want := []string{
		"devices/devices.deny=a",
		"devices/devices.deny=a *:* rwm",
		"devices/devices.allow=c 1:3 rwm",
		"devices/devices.allow=c 136:* rw",
		"devices/devices.deny=b 8:* m",
	}
	if got := keys(ws); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
}

func TestUnifiedWrites(t *testing.T) {
	ws, err := unifiedWrites(map[string]string{"memory.high": "1G", "cpu.weight": "50"})
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(ws); !reflect.DeepEqual(got, []string{"/cpu.weight=50", "/memory.high=1G"}) {
		t.Fatalf("got %v", got)
	}
	for _, bad := range []string{"../memory.max", "a/b", "..", ""} {
		if _, err := unifiedWrites(map[string]string{bad: "1"}); err == nil {
			t.Errorf("key %q accepted", bad)
		}
	}
}

// fakeFS replaces the write seams with a map of existing files.
type fakeFS struct {
	files  map[string]string
	einval map[string]int // fail this many writes to a file with EINVAL
	log    []string
}

func useFakeFS(t *testing.T, existing ...string) *fakeFS {
	f := &fakeFS{files: map[string]string{}, einval: map[string]int{}}
	for _, e := range existing {
		f.files[e] = ""
	}
	oldW, oldE := writeFile, fileExists
	writeFile = func(p, v string) error {
		if f.einval[p] > 0 {
			f.einval[p]--
			f.log = append(f.log, p+"=EINVAL")
			return fmt.Errorf("write %s: %w", p, unix.EINVAL)
		}
		f.files[p] = v
		f.log = append(f.log, p+"="+v)
		return nil
	}
	fileExists = func(p string) bool { _, ok := f.files[p]; return ok }
	t.Cleanup(func() { writeFile, fileExists = oldW, oldE })
	return f
}

func TestApplyWritesMissingFiles(t *testing.T) {
	paths := map[string]string{"memory": "/m", "cpu": "/c"}
	useFakeFS(t, "/m/memory.limit_in_bytes")
	var warned []string
	Warn = func(f string, a ...any) { warned = append(warned, fmt.Sprintf(f, a...)) }
	t.Cleanup(func() { Warn = func(string, ...any) {} })

	// Default value, file missing: skipped with a warning.
	err := applyWrites(paths, []write{w("memory", "memory.kmem.limit_in_bytes", "-1", defaulted)})
	if err != nil || len(warned) != 1 || !strings.Contains(warned[0], "memory.kmem.limit_in_bytes") {
		t.Fatalf("err %v warned %v", err, warned)
	}
	// Explicit value, file missing: error naming the file.
	err = applyWrites(paths, []write{w("cpu", "cpu.rt_runtime_us", "1000", explicit)})
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), filepath.Join("/c", "cpu.rt_runtime_us")) {
		t.Fatalf("err = %v", err)
	}
	// Controller missing altogether.
	err = applyWrites(paths, []write{w("net_cls", "net_cls.classid", "5", explicit)})
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "net_cls") {
		t.Fatalf("err = %v", err)
	}
	// Optional: silent.
	warned = nil
	if err := applyWrites(paths, []write{w("memory", "x.rsvd", "1", optional)}); err != nil || warned != nil {
		t.Fatalf("err %v warned %v", err, warned)
	}
}

func TestApplyWritesAltAndSwap(t *testing.T) {
	paths := map[string]string{"memory": "/m", "blkio": "/b"}
	f := useFakeFS(t, "/m/memory.limit_in_bytes", "/m/memory.memsw.limit_in_bytes", "/b/blkio.bfq.weight")
	// Raising the limit above the current memsw: the kernel refuses the
	// limit first, so memsw must go first.
	f.einval["/m/memory.limit_in_bytes"] = 1
	ws, _ := v1Memory(&specs.LinuxMemory{Limit: i64(200), Swap: i64(300)})
	ws = append(ws, v1BlockIO(&specs.LinuxBlockIO{Weight: u16(300)})...)
	if err := applyWrites(paths, ws); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/m/memory.limit_in_bytes=EINVAL",
		"/m/memory.memsw.limit_in_bytes=300",
		"/m/memory.limit_in_bytes=200",
		"/b/blkio.bfq.weight=300",
	}
	if !reflect.DeepEqual(f.log, want) {
		t.Fatalf("log %v", f.log)
	}
}

func TestSetRefusesDevicesInForeignCgroup(t *testing.T) {
	f := useFakeFS(t, "/d/devices.deny", "/d/devices.allow")
	m := &manager{mode: Legacy, paths: map[string]string{"devices": "/d"}}
	if err := m.Set(&specs.LinuxResources{Devices: DefaultDeviceRules}); err != nil {
		t.Fatal(err)
	}
	if len(f.log) != 0 {
		t.Fatalf("wrote device rules into a cgroup we did not create: %v", f.log)
	}
	m.created = []string{"/d"}
	if err := m.Set(&specs.LinuxResources{Devices: DefaultDeviceRules}); err != nil {
		t.Fatal(err)
	}
	if len(f.log) != len(DefaultDeviceRules)+1 || f.log[0] != "/d/devices.deny=a" {
		t.Fatalf("log %v", f.log)
	}
}

func TestDeviceAccessKeepsKnownLetters(t *testing.T) {
	for in, want := range map[string]string{"": "rwm", "rwm": "rwm", "rwa": "rw", "mr": "rm", "a": "", "wwr": "rw"} {
		if got := deviceAccess(in); got != want {
			t.Errorf("deviceAccess(%q) = %q, want %q", in, got, want)
		}
	}
	ws := v1DeviceWrites([]specs.LinuxDeviceCgroup{{Allow: false, Type: "c", Major: i64(1), Minor: i64(11), Access: "rwa"}, {Allow: true, Access: "x"}})
	if len(ws) != 2 || ws[1].value != "c 1:11 rw" {
		t.Errorf("writes %+v, want deny-all then \"c 1:11 rw\" only", ws)
	}
}
