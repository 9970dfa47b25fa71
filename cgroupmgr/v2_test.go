package cgroupmgr

import (
	"errors"
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
	if strings.Contains(string(out), "--- SKIP") {
		t.Skip("skipped in the v2 child")
	}
	if err != nil {
		t.Fatalf("v2 child failed: %v", err)
	}
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
	Warn = func(f string, a ...any) { warnings = append(warnings, f) }
	t.Cleanup(func() { Warn = func(string, ...any) {} })

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
	// A controller the hierarchy lacks: explicit values fail naming the
	// file, default values only warn.
	limit := int64(64 << 20)
	if !controllerAvailable(dir, "memory") {
		err = m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}})
		if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "memory.max") {
			t.Errorf("explicit memory limit without memory controller: %v", err)
		}
		unlimited := int64(-1)
		warnings = nil
		if err := m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &unlimited}}); err != nil && !controllerAvailable(dir, "pids") {
			t.Errorf("default pids value: %v", err)
		}
	}

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
	if st.Pids.Current != 0 && st.Pids.Current != 1 {
		t.Errorf("pids.current = %d", st.Pids.Current)
	}

	killWait(child)
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s left behind: %v", filepath.Dir(dir), err)
	}
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
