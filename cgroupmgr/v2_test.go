package cgroupmgr

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const v2ChildEnv = "STASIS_CGROUPMGR_V2_CHILD"

// TestRealUnified exercises the pure-v2 code path. On a v1/hybrid host it
// re-runs itself in a private mount namespace where the host's cgroup2
// hierarchy is mounted at /sys/fs/cgroup, which is exactly what a pure v2
// host looks like to this package.
//
// What it can prove depends on the host's v2 hierarchy. Real v2 resource
// writes (memory.max, pids.max, cpu.max, hugetlb.*.max read back after
// Set) are covered only where that hierarchy has controllers this test's
// cgroups receive: a pure v2 host, or a hybrid one whose v2 root delegates
// a controller no v1 hierarchy holds. cgroup2 is one hierarchy per host,
// so a private mount of it has the same root, and enabling a controller
// there would mean writing the root's cgroup.subtree_control, a cgroup
// this test did not create: it never does, and the "resource writes"
// subtest skips saying which controllers are missing and why. On such a
// host (this project's machines: every controller but hugetlb bound to
// v1, and the root delegating none) the rest still runs: the warning for
// what the root does not delegate, the "not supported" branch (an
// explicit value fails naming the file, a default one warns, both
// checked word for word), freezing, Unified keys, the eBPF device filter,
// and pids.current being absent rather than zero.
func TestRealUnified(t *testing.T) {
	if os.Getenv(v2ChildEnv) == "1" {
		if err := mountUnifiedOnly(); err != nil {
			t.Fatalf("setting up the v2-only mount namespace: %v", err)
		}
		unifiedScenario(t)
		return
	}
	needRealCgroups(t)
	if DetectMode() == Unified {
		unifiedScenario(t)
		return
	}
	if _, err := os.Stat("/sys/fs/cgroup/unified/cgroup.procs"); err != nil {
		t.Skip("no cgroup2 hierarchy on this host to test the v2 path with")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRealUnified$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), v2ChildEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	t.Logf("child output:\n%s", out)
	if err != nil {
		t.Fatalf("v2 child failed: %v", err)
	}
	// Report the child's skips as ours, with their reasons: the whole
	// test, or one subtest of it.
	lines := strings.Split(string(out), "\n")
	for _, l := range lines {
		name, ok := strings.CutPrefix(strings.TrimSpace(l), "--- SKIP: ")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, " ")
		why := skipReason(lines, name)
		if name == "TestRealUnified" {
			t.Skip(why)
		}
		if sub, ok := strings.CutPrefix(name, "TestRealUnified/"); ok {
			t.Run(sub, func(t *testing.T) { t.Skip(why) })
		}
	}
}

// skipReason finds, in `go test -v` output, what test name logged between
// its "=== RUN" line and the next test's: the t.Skip message.
func skipReason(lines []string, name string) string {
	var why []string
	in := false
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "=== RUN") || strings.HasPrefix(l, "--- ") {
			if in {
				break
			}
			in = l == "=== RUN   "+name
			continue
		}
		if in && l != "" {
			if _, msg, ok := strings.Cut(l, ".go:"); ok {
				_, msg, _ = strings.Cut(msg, ": ")
				l = msg
			}
			why = append(why, l)
		}
	}
	if len(why) == 0 {
		return "skipped in the v2 child"
	}
	return strings.Join(why, " ")
}

// mountUnifiedOnly runs in the child's own mount namespace: it hides the v1
// hierarchies and mounts cgroup2 at /sys/fs/cgroup.
func mountUnifiedOnly() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	if err := unix.Unmount("/sys/fs/cgroup", unix.MNT_DETACH); err != nil {
		return err
	}
	return unix.Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, "")
}

func unifiedScenario(t *testing.T) {
	if DetectMode() != Unified {
		t.Fatalf("mode %s, want unified", DetectMode())
	}
	var warnings []string
	Warn = func(f string, a ...any) { warnings = append(warnings, fmt.Sprintf(f, a...)) }
	t.Cleanup(func() { Warn = func(string, ...any) {} })
	// expectWarnings: exactly these warnings since the last call.
	expectWarnings := func(t *testing.T, what string, want ...string) {
		t.Helper()
		if !slices.Equal(warnings, want) {
			t.Errorf("%s: warnings\n%q\nwant\n%q", what, warnings, want)
		}
		warnings = nil
	}

	name := randomName(t)
	m, err := New("v2", "/"+name+"/ctr")
	if err != nil {
		t.Fatal(err)
	}
	cleanupManager(t, m)
	dir := m.Path("")
	if dir != "/sys/fs/cgroup/"+name+"/ctr" || m.Path("memory") != dir {
		t.Fatalf("paths: %v", m.State().Paths)
	}
	child := startSleep(t)
	if err := m.Apply(child.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if got := m.State().Created; !slices.Equal(got, []string{filepath.Dir(dir), dir}) {
		t.Fatalf("created %v", got)
	}
	// The hierarchy's root is not ours: a controller it has but does not
	// delegate is named in a warning, not enabled. The dir we made below
	// it hands on to ours whatever it has.
	root := filepath.Dir(filepath.Dir(dir))
	rootHas, rootGives := fields(t, root, "cgroup.controllers"), fields(t, root, "cgroup.subtree_control")
	var notGiven []string
	for _, c := range rootHas {
		if !slices.Contains(rootGives, c) {
			notGiven = append(notGiven, c)
		}
	}
	if len(notGiven) > 0 {
		expectWarnings(t, "Apply", fmt.Sprintf("cgroupmgr: %s does not delegate %v to its children; %s will lack them",
			root, notGiven, filepath.Dir(dir)))
	} else {
		expectWarnings(t, "Apply")
	}
	if got, want := fields(t, dir, "cgroup.controllers"), fields(t, filepath.Dir(dir), "cgroup.controllers"); !slices.Equal(got, want) {
		t.Errorf("controllers of %s: %v, want its parent's %v", dir, got, want)
	}

	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	ev, _ := readKV(filepath.Join(dir, "cgroup.events"))
	if ev["frozen"] != 1 {
		t.Errorf("cgroup.events frozen = %d", ev["frozen"])
	}
	if f, err := m.Frozen(); err != nil || !f {
		t.Errorf("Frozen() = %v, %v", f, err)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	pids, err := m.Pids()
	if err != nil || !slices.Contains(pids, child.Process.Pid) {
		t.Fatalf("Pids() = %v, %v", pids, err)
	}

	// Unified key/values go straight to the v2 files.
	if err := m.Set(&specs.LinuxResources{Unified: map[string]string{"cgroup.max.descendants": "7"}}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "cgroup.max.descendants")); strings.TrimSpace(string(b)) != "7" {
		t.Errorf("cgroup.max.descendants = %q", b)
	}
	// A controller the hierarchy lacks: an explicit value fails naming the
	// file and the value, a default one is skipped with a warning naming
	// the file and why it is left alone.
	t.Run("not supported", func(t *testing.T) {
		var checked []string
		if !controllerAvailable(dir, "memory") {
			limit := int64(64 << 20)
			err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}})
			want := fmt.Sprintf("cgroupmgr: cannot set %s to \"67108864\": %v: %v", filepath.Join(dir, "memory.max"), ErrNotSupported, fs.ErrNotExist)
			if !errors.Is(err, ErrNotSupported) || err.Error() != want {
				t.Errorf("explicit memory limit without the memory controller:\n%v\nwant\n%s", err, want)
			}
			expectWarnings(t, "explicit memory limit")
			checked = append(checked, "memory")
		}
		if !controllerAvailable(dir, "pids") {
			unlimited := int64(-1)
			if err := m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &unlimited}}); err != nil {
				t.Errorf("default pids value without the pids controller: %v", err)
			}
			expectWarnings(t, "default pids value", fmt.Sprintf("cgroupmgr: %s not available, leaving it alone (value \"max\" is the default)",
				filepath.Join(dir, "pids.max")))
			checked = append(checked, "pids")
		}
		if len(checked) == 0 {
			t.Skipf("%s has both memory and pids: no controller is missing here", dir)
		}
	})

	t.Run("resource writes", func(t *testing.T) {
		v2ResourceWrites(t, m, dir, rootHas, notGiven)
		expectWarnings(t, "resource writes")
	})

	// The eBPF device filter replaces, not stacks, on every Set.
	rules := append(append([]specs.LinuxDeviceCgroup(nil), DefaultDeviceRules...),
		specs.LinuxDeviceCgroup{Allow: false, Type: "c", Major: i64(1), Minor: i64(7), Access: "rwm"})
	for i := 0; i < 2; i++ {
		if err := m.Set(&specs.LinuxResources{Devices: rules}); err != nil {
			t.Fatal(err)
		}
		if n := deviceProgs(t, dir); n != 1 {
			t.Fatalf("after Set #%d: %d device programs attached, want 1", i+1, n)
		}
	}

	// And it is enforced: a process in the cgroup cannot open /dev/full.
	probe := exec.Command("sh", "-c", `read x; echo hi >/dev/null && echo NULLOK; if (exec 3>/dev/full) 2>/dev/null; then echo OPENED; else echo DENIED; fi`)
	stdin, _ := probe.StdinPipe()
	var out strings.Builder
	probe.Stdout, probe.Stderr = &out, &out
	if err := probe.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killWait(probe) })
	if err := m.Apply(probe.Process.Pid); err != nil {
		t.Fatal(err)
	}
	stdin.Write([]byte("go\n"))
	_ = probe.Wait()
	if !strings.Contains(out.String(), "NULLOK") || !strings.Contains(out.String(), "DENIED") {
		t.Errorf("device filter not enforced: %q", out.String())
	}

	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	// Only the sleep is left in the cgroup (the probe has exited). Without
	// the pids controller there is no pids.current to read: 0 must then
	// mean "absent", not a count.
	if controllerAvailable(dir, "pids") {
		if st.Pids.Current != 1 {
			t.Errorf("pids.current = %d, want 1 (the sleep)", st.Pids.Current)
		}
	} else {
		if _, err := os.Stat(filepath.Join(dir, "pids.current")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("no pids controller, yet pids.current: %v", err)
		}
		if st.Pids.Current != 0 {
			t.Errorf("no pids controller, yet Stats says pids.current = %d", st.Pids.Current)
		}
	}
	// cpu.stat is a core file: the probe's run shows in it.
	if st.CPU.Usage.Total == 0 {
		t.Errorf("cpu usage 0 after the probe ran in the cgroup")
	}

	killWait(child)
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s left behind: %v", filepath.Dir(dir), err)
	}
}

// v2ResourceWrites sets one value per controller our cgroup has and reads
// it back from the file. rootHas and notGiven say, for the skip, what the
// hierarchy's root has and does not delegate.
func v2ResourceWrites(t *testing.T, m Manager, dir string, rootHas, notGiven []string) {
	type check struct {
		ctrl string
		r    specs.LinuxResources
		file string
		want string
	}
	checks := []check{
		{"memory", specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20)}}, "memory.max", "67108864"},
		{"memory", specs.LinuxResources{Memory: &specs.LinuxMemory{Reservation: i64(32 << 20)}}, "memory.low", "33554432"},
		{"pids", specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(42)}}, "pids.max", "42"},
		{"pids", specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(-1)}}, "pids.max", "max"},
		{"cpu", specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(50000), Period: u64(100000)}}, "cpu.max", "50000 100000"},
		{"cpu", specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(1024)}}, "cpu.weight", "100"},
	}
	if sizes, _ := filepath.Glob("/sys/kernel/mm/hugepages/hugepages-2048kB"); len(sizes) == 1 {
		checks = append(checks, check{"hugetlb", specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 21}}},
			"hugetlb.2MB.max", "8388608"})
	}
	ran := 0
	for _, c := range checks {
		if !controllerAvailable(dir, c.ctrl) {
			continue
		}
		ran++
		if err := m.Set(&c.r); err != nil {
			t.Errorf("%s: Set: %v", c.file, err)
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, c.file))
		if got := strings.TrimSpace(string(b)); err != nil || got != c.want {
			t.Errorf("%s = %q (%v), want %q", c.file, got, err, c.want)
		}
	}
	if ran == 0 {
		var free []string // in the v2 root, bound to no v1 hierarchy
		for _, c := range rootHas {
			if !boundToV1(c) {
				free = append(free, c)
			}
		}
		t.Skipf("real v2 resource writes need a controller in %s, which has none: the v2 root has %v (bound to no v1 hierarchy: %v) "+
			"but does not delegate %v, and enabling one would write the root's cgroup.subtree_control, a cgroup this test did not create "+
			"(cgroup2 is one hierarchy per host: a private mount of it has the same root)",
			dir, rootHas, free, notGiven)
	}
}

// boundToV1 tells whether /proc/cgroups puts controller c in a v1
// hierarchy (a non-zero hierarchy id), which keeps it out of v2.
func boundToV1(c string) bool {
	b, _ := os.ReadFile("/proc/cgroups")
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == c {
			return f[1] != "0"
		}
	}
	return false
}

// fields reads a space-separated cgroup file of dir (cgroup.controllers,
// cgroup.subtree_control).
func fields(t *testing.T, dir, file string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

func controllerAvailable(dir, c string) bool {
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	return slices.Contains(strings.Fields(string(b)), c)
}

func deviceProgs(t *testing.T, dir string) int {
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	r, err := link.QueryPrograms(link.QueryOptions{Target: fd, Attach: ebpf.AttachCGroupDevice})
	if err != nil {
		t.Fatal(err)
	}
	return len(r.Programs)
}
