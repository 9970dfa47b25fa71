package cgroupmgr

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// On a plain tmpfs dir tree Destroy must remove exactly the created dirs,
// deepest first, and leave their pre-existing parents alone.
func TestDestroyOnlyCreated(t *testing.T) {
	root := t.TempDir()
	pre := filepath.Join(root, "pre")
	a := filepath.Join(pre, "a")
	b := filepath.Join(a, "b")
	if err := os.MkdirAll(pre, 0o755); err != nil {
		t.Fatal(err)
	}
	m := &manager{mode: Legacy, paths: map[string]string{"memory": b}}
	made, err := m.mkdirAll(b)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(made, []string{a, b}) || !slices.Equal(m.created, []string{a, b}) {
		t.Fatalf("made %v created %v", made, m.created)
	}
	// A second mkdirAll of an existing dir records nothing new.
	if made, _ := m.mkdirAll(b); len(made) != 0 {
		t.Fatalf("re-made %v", made)
	}
	var order []string
	oldRmdir := rmdir
	rmdir = func(p string) error { order = append(order, p); return oldRmdir(p) }
	t.Cleanup(func() { rmdir = oldRmdir })
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(order, []string{b, a}) {
		t.Fatalf("rmdir order %v", order)
	}
	if _, err := os.Stat(pre); err != nil {
		t.Fatalf("pre-existing parent removed: %v", err)
	}
	if len(m.State().Created) != 0 {
		t.Fatalf("created list not cleared: %v", m.State().Created)
	}
	// Destroying again (or after someone else removed the dirs) is fine.
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
}

func TestDestroyRetriesEBUSY(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	busy := 3
	oldRmdir, oldSleep := rmdir, sleep
	rmdir = func(p string) error {
		if busy > 0 {
			busy--
			return unix.EBUSY
		}
		return oldRmdir(p)
	}
	clock := time.Unix(0, 0)
	oldNow := now
	sleep = func(d time.Duration) { clock = clock.Add(d) }
	now = func() time.Time { return clock }
	t.Cleanup(func() { rmdir, sleep, now = oldRmdir, oldSleep, oldNow })
	m := &manager{mode: Legacy, paths: map[string]string{"pids": dir}, created: []string{dir}}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("still there: %v", err)
	}

	// Forever busy: an error that names the dir, and the dir stays recorded.
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rmdir = func(string) error { return unix.EBUSY }
	m = &manager{mode: Legacy, paths: map[string]string{"pids": dir}, created: []string{dir}}
	err := m.Destroy()
	if !errors.Is(err, unix.EBUSY) {
		t.Fatalf("err = %v", err)
	}
	if !slices.Equal(m.State().Created, []string{dir}) {
		t.Fatalf("created = %v", m.State().Created)
	}
}

func TestStateRoundTrip(t *testing.T) {
	st := &State{ID: "c", Mode: Hybrid, Paths: map[string]string{"memory": "/sys/fs/cgroup/memory/x", "": "/sys/fs/cgroup/unified/x"},
		Created: []string{"/sys/fs/cgroup/memory/x"}}
	m, err := Load(st)
	if err != nil {
		t.Fatal(err)
	}
	if m.Path("memory") != "/sys/fs/cgroup/memory/x" || m.Path("") != "/sys/fs/cgroup/unified/x" || m.Path("cpu") != "" {
		t.Fatalf("paths %v", m.State().Paths)
	}
	if _, err := Load(&State{ID: "c", Paths: map[string]string{"memory": "rel/x"}}); err == nil {
		t.Fatal("relative path accepted")
	}
	if _, err := Load(&State{ID: "c", Paths: map[string]string{"memory": "/a/../b"}}); err == nil {
		t.Fatal("unclean path accepted")
	}
}
