package cgroupmgr

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/sys/mountinfo"
)

func TestEnterOwnWritesOurOwnCgroup(t *testing.T) {
	root := t.TempDir()
	freezer := filepath.Join(root, "freezer")
	own := filepath.Join(freezer, "user.slice")
	if err := os.MkdirAll(own, 0o755); err != nil {
		t.Fatal(err)
	}
	fakeMounts(t, []*mountinfo.Info{v1m(freezer, "freezer"), v1m(filepath.Join(root, "memory"), "memory")},
		"7:freezer:/user.slice\n2:memory:/process_api\n")
	if err := enterOwn(Legacy, 4242, "freezer"); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(own, "cgroup.procs")); string(got) != "4242" {
		t.Fatalf("cgroup.procs of our own freezer cgroup: %q", got)
	}
	if err := enterOwn(Legacy, 4242, "pids"); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("a hierarchy the host lacks: %v", err)
	}
}
