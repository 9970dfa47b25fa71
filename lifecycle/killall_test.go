package lifecycle

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/cgroupmgr"
)

// fakeCgroup records what signalCgroup does to a cgroup.
type fakeCgroup struct {
	cgroupmgr.Manager
	frozen bool
	v2     string // Path(""): "" for a v1-only host
	calls  []string
}

func (f *fakeCgroup) Frozen() (bool, error) { return f.frozen, nil }
func (f *fakeCgroup) Freeze() error         { f.calls = append(f.calls, "freeze"); f.frozen = true; return nil }
func (f *fakeCgroup) Thaw() error           { f.calls = append(f.calls, "thaw"); f.frozen = false; return nil }
func (f *fakeCgroup) Pids() ([]int, error)  { f.calls = append(f.calls, "pids"); return nil, nil }
func (f *fakeCgroup) Path(string) string    { return f.v2 }

func TestSignalCgroup(t *testing.T) {
	withKill := t.TempDir()
	if err := os.WriteFile(filepath.Join(withKill, "cgroup.kill"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		cg     *fakeCgroup
		sig    unix.Signal
		calls  []string
		frozen bool
	}{
		// the freezer keeps the list of processes complete
		{"v1 kill", &fakeCgroup{}, unix.SIGKILL, []string{"freeze", "pids", "thaw"}, false},
		{"v1 term", &fakeCgroup{}, unix.SIGTERM, []string{"freeze", "pids", "thaw"}, false},
		// a paused container stays paused, unless killed
		{"paused term", &fakeCgroup{frozen: true}, unix.SIGTERM, []string{"pids"}, true},
		{"paused kill", &fakeCgroup{frozen: true}, unix.SIGKILL, []string{"pids", "thaw"}, false},
		// cgroup.kill needs no freezer
		{"v2 kill", &fakeCgroup{v2: withKill}, unix.SIGKILL, nil, false},
		{"v2 paused kill", &fakeCgroup{v2: withKill, frozen: true}, unix.SIGKILL, []string{"thaw"}, false},
		// no cgroup.kill (Linux < 5.14): the freezer way
		{"v2 old kernel", &fakeCgroup{v2: t.TempDir()}, unix.SIGKILL, []string{"freeze", "pids", "thaw"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := signalCgroup(tt.cg, tt.sig); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(tt.cg.calls, tt.calls) || tt.cg.frozen != tt.frozen {
				t.Fatalf("calls %v frozen %v, want %v frozen %v", tt.cg.calls, tt.cg.frozen, tt.calls, tt.frozen)
			}
		})
	}
	if data, _ := os.ReadFile(filepath.Join(withKill, "cgroup.kill")); string(data) != "1" {
		t.Fatalf("cgroup.kill holds %q", data)
	}
}
