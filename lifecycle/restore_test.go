package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stasis-oci/stasis/spec"
)

// restoreBundle writes a bundle whose cgroup is this test's own and
// whose poststart hook runs poststart (nil: none).
func restoreBundle(t *testing.T, poststart []specs.Hook) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	sp := spec.Default()
	sp.Process.Terminal = false
	sp.Linux.CgroupsPath = fmt.Sprintf("/stasis-unit-restore-%d-%s", os.Getpid(), filepath.Base(dir))
	if poststart != nil {
		sp.Hooks = &specs.Hooks{Poststart: poststart}
	}
	data, err := json.Marshal(sp)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A restore that fails after CRIU put processes into the new cgroups
// kills every one of them, not only the init: here two unrelated
// session leaders, as a restored tree whose init is not everyone's
// parent (or a container in the host's pid namespace) would have. Then
// the cgroups, the state dir and the pid file are gone.
func TestFailedRestoreKillsEveryProcessInItsCgroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: makes real cgroups")
	}
	tests := []struct {
		name      string
		poststart []specs.Hook
		runErr    error // returned by the fake CRIU after it joined the processes
	}{
		{name: "poststart hook fails", poststart: []specs.Hook{{Path: "/bin/false", Args: []string{"false"}}}},
		{name: "criu fails after the tasks joined", runErr: errors.New("criu restore failed")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Store{Root: t.TempDir()}
			pidFile := filepath.Join(t.TempDir(), "init.pid")
			var cmds []*exec.Cmd
			var paths []string
			for range 2 {
				cmd := exec.Command("sleep", "1000")
				cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
				if err := cmd.Start(); err != nil {
					t.Skipf("no sleep to stand in for a restored task: %v", err)
				}
				t.Cleanup(func() { _ = cmd.Process.Kill() })
				cmds = append(cmds, cmd)
			}
			_, err := s.Restore(RestoreOpts{ID: "r", Bundle: restoreBundle(t, tt.poststart), PidFile: pidFile},
				func(r *Restoring) (int, error) {
					for _, c := range cmds {
						if err := r.Join(c.Process.Pid); err != nil {
							return 0, err
						}
					}
					for _, p := range r.Cgroup.State().Paths {
						paths = append(paths, p)
					}
					return cmds[0].Process.Pid, tt.runErr
				})
			if err == nil {
				t.Fatal("restore succeeded")
			}
			if len(paths) == 0 {
				t.Fatalf("the fake CRIU never joined the cgroups: %v", err)
			}
			for _, c := range cmds {
				done := make(chan error, 1)
				go func() { done <- c.Wait() }()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					t.Fatalf("pid %d outlived the failed restore (%v)", c.Process.Pid, err)
				}
				if ws, ok := c.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
					t.Fatalf("pid %d ended by %v, not SIGKILL", c.Process.Pid, c.ProcessState)
				}
			}
			for _, p := range paths {
				if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("cgroup %s left behind (%v)", p, err)
				}
			}
			if _, err := os.Stat(s.dir("r")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("state dir left behind (%v)", err)
			}
			if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("pid file left behind (%v)", err)
			}
		})
	}
}
