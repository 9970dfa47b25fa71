package cgroupmgr

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// needRealCgroups skips tests that create real cgroups.
func needRealCgroups(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create cgroups")
	}
	if DetectMode() == Unavailable {
		t.Skip("no cgroup filesystem at /sys/fs/cgroup")
	}
}

func randomName(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "stasis-test-" + hex.EncodeToString(b)
}

// startSleep runs a child that is killed and reaped when the test ends.
func startSleep(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killWait(cmd) })
	return cmd
}

// startBusySleep runs a shell that, once poked, burns some CPU and memory
// (so that, after Apply, the cgroup's counters move) and then execs sleep,
// keeping its pid.
func startBusySleep(t *testing.T) (*exec.Cmd, func()) {
	t.Helper()
	cmd := exec.Command("sh", "-c", `read x; i=0; s=; while [ $i -lt 20000 ]; do i=$((i+1)); s="$s."; done; exec sleep 300`)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); killWait(cmd) })
	return cmd, func() { _, _ = in.Write([]byte("go\n")) }
}

func killWait(cmd *exec.Cmd) {
	if cmd.ProcessState != nil {
		return
	}
	_ = cmd.Process.Kill()
	_, _ = cmd.Process.Wait()
}

// cleanupManager destroys m at the end of the test even if it failed, and
// then, as a last resort, removes whatever it recorded as created.
func cleanupManager(t *testing.T, m Manager) {
	t.Cleanup(func() {
		st := m.State()
		_ = m.Thaw()
		// Anything still inside is a process this test started (or its
		// descendant): kill it so the cgroups can go.
		if pids, err := m.Pids(); err == nil {
			for _, p := range pids {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
		}
		_ = m.Destroy()
		for i := len(st.Created) - 1; i >= 0; i-- {
			_ = os.Remove(st.Created[i])
		}
	})
}

// snapshotDirs lists every cgroup dir below roots down to two levels, to
// prove that no dir outside the manager's own was removed.
func snapshotDirs(t *testing.T, roots []string) []string {
	t.Helper()
	var out []string
	for _, r := range roots {
		_ = filepath.WalkDir(r, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.IsDir() {
				out = append(out, p)
				if strings.Count(strings.TrimPrefix(p, r), "/") >= 2 {
					return filepath.SkipDir
				}
			}
			return nil
		})
	}
	sort.Strings(out)
	return out
}

func mountpoints(t *testing.T) []string {
	hs, err := discover(DetectMode())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, h := range hs {
		if !slices.Contains(out, h.mountpoint) {
			out = append(out, h.mountpoint)
		}
	}
	return out
}

func TestRealLifecycle(t *testing.T) {
	needRealCgroups(t)
	roots := mountpoints(t)
	before := snapshotDirs(t, roots)

	name := randomName(t)
	m, err := New("c1", "/"+name)
	if err != nil {
		t.Fatal(err)
	}
	cleanupManager(t, m)
	child, poke := startBusySleep(t)
	if err := m.Apply(child.Process.Pid); err != nil {
		t.Fatal(err)
	}
	poke()
	st := m.State()
	for key, p := range st.Paths {
		if filepath.Base(p) != name {
			t.Errorf("%q path %s does not end in %s", key, p, name)
		}
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%q: %v", key, err)
		}
	}
	if mode := DetectMode(); mode == Hybrid {
		if got := m.Path(""); got != "/sys/fs/cgroup/unified/"+name {
			t.Errorf("unified path = %q", got)
		}
	}
	if len(st.Created) == 0 {
		t.Fatal("nothing recorded as created")
	}

	var warnings []string
	Warn = func(f string, a ...any) { warnings = append(warnings, f) }
	t.Cleanup(func() { Warn = func(string, ...any) {} })
	limit, pidsMax, quota, period := int64(64<<20), int64(20), int64(50000), uint64(100000)
	major, minor := int64(1), int64(7) // /dev/full
	res := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &limit},
		Pids:   &specs.LinuxPids{Limit: &pidsMax},
		CPU:    &specs.LinuxCPU{Quota: &quota, Period: &period},
		Devices: append(append([]specs.LinuxDeviceCgroup(nil), DefaultDeviceRules...),
			specs.LinuxDeviceCgroup{Allow: false, Type: "c", Major: &major, Minor: &minor, Access: "rwm"}),
	}
	if err := m.Set(res); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		filepath.Join(m.Path("memory"), "memory.limit_in_bytes"): "67108864",
		filepath.Join(m.Path("pids"), "pids.max"):                "20",
		filepath.Join(m.Path("cpu"), "cpu.cfs_quota_us"):         "50000",
		filepath.Join(m.Path("cpu"), "cpu.cfs_period_us"):        "100000",
	} {
		if DetectMode() == Unified {
			break
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Error(err)
			continue
		}
		if got := strings.TrimSpace(string(b)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if dp := m.Path("devices"); dp != "" {
		b, err := os.ReadFile(filepath.Join(dp, "devices.list"))
		if err != nil {
			t.Fatal(err)
		}
		list := string(b)
		if strings.Contains(list, "a *:* rwm") || !strings.Contains(list, "c 1:3 rwm") || strings.Contains(list, "c 1:7") {
			t.Errorf("devices.list = %q", list)
		}
	}

	// A second process (e.g. `stasis pause`) works from the persisted state.
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var st2 State
	if err := json.Unmarshal(raw, &st2); err != nil {
		t.Fatal(err)
	}
	m2, err := Load(&st2)
	if err != nil {
		t.Fatal(err)
	}

	if err := m2.Freeze(); err != nil {
		t.Fatal(err)
	}
	if fr := m.Path("freezer"); fr != "" {
		if b, _ := os.ReadFile(filepath.Join(fr, "freezer.state")); strings.TrimSpace(string(b)) != "FROZEN" {
			t.Errorf("freezer.state = %q", b)
		}
	}
	if f, err := m2.Frozen(); err != nil || !f {
		t.Errorf("Frozen() = %v, %v", f, err)
	}
	if err := m2.Thaw(); err != nil {
		t.Fatal(err)
	}
	if f, err := m2.Frozen(); err != nil || f {
		t.Errorf("after thaw Frozen() = %v, %v", f, err)
	}
	pids, err := m2.Pids()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pids, child.Process.Pid) {
		t.Errorf("Pids() = %v, want %d in it", pids, child.Process.Pid)
	}

	var stats *Stats
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		stats, err = m2.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if stats.CPU.Usage.Total != 0 && stats.Memory.Usage.Usage != 0 || time.Now().After(deadline) {
			break
		}
	}
	if stats.Memory.Usage.Usage == 0 || stats.Pids.Current == 0 || stats.CPU.Usage.Total == 0 {
		t.Errorf("stats look empty: %+v", stats)
	}
	if stats.Pids.Limit != 20 || stats.Memory.Usage.Limit != 64<<20 {
		t.Errorf("stats limits: pids %d memory %d", stats.Pids.Limit, stats.Memory.Usage.Limit)
	}
	if raw, err := json.Marshal(stats); err != nil || !strings.Contains(string(raw), `"throttling"`) {
		t.Errorf("stats JSON %s (%v)", raw, err)
	}

	killWait(child)
	if err := m2.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, p := range st.Created {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still there: %v", p, err)
		}
	}
	// Other workers may create cgroups meanwhile, so only check that every
	// dir that existed before is still there.
	after := snapshotDirs(t, roots)
	for _, d := range before {
		if !slices.Contains(after, d) {
			t.Errorf("pre-existing cgroup %s disappeared", d)
		}
	}
}

func TestRealRelativePath(t *testing.T) {
	needRealCgroups(t)
	own, err := ownCgroupsHere(t)
	if err != nil {
		t.Fatal(err)
	}
	name := randomName(t)
	m, err := New("c2", name)
	if err != nil {
		t.Fatal(err)
	}
	cleanupManager(t, m)
	child := startSleep(t)
	if err := m.Apply(child.Process.Pid); err != nil {
		t.Fatal(err)
	}
	for key, base := range own {
		want := filepath.Join(base, name)
		got := m.State().Paths[key]
		if !strings.HasSuffix(got, want) {
			t.Errorf("%q: path %s, want it to end in %s", key, got, want)
		}
	}
	if mem := m.Path("memory"); mem != "" && own["memory"] != "/" {
		t.Logf("memory cgroup nested under own: %s", mem)
	}
	killWait(child)
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
}

func ownCgroupsHere(t *testing.T) (map[string]string, error) {
	hs, err := discover(DetectMode())
	if err != nil {
		return nil, err
	}
	return ownCgroups(hs)
}
