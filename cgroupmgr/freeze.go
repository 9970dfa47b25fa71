package cgroupmgr

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// freezeTimeout bounds the wait for the kernel to report the new state; a
// task stuck in uninterruptible sleep can keep v1 in FREEZING forever.
var freezeTimeout = 10 * time.Second

func (m *manager) Freeze() error { return m.setFrozen(true) }
func (m *manager) Thaw() error   { return m.setFrozen(false) }

func (m *manager) setFrozen(frozen bool) error {
	if m.mode == Unified {
		return m.freezeV2(frozen)
	}
	dir, ok := m.paths["freezer"]
	if !ok {
		return fmt.Errorf("cgroupmgr: freeze: no freezer controller: %w", ErrNotSupported)
	}
	want := "THAWED"
	if frozen {
		want = "FROZEN"
	}
	file := filepath.Join(dir, "freezer.state")
	deadline := time.Now().Add(freezeTimeout)
	for {
		// Rewriting FROZEN on every round nudges tasks that were forking
		// while the first write happened, as runc does.
		if err := os.WriteFile(file, []byte(want), 0); err != nil {
			return fmt.Errorf("cgroupmgr: write %s to %s: %w", want, file, notFound(err))
		}
		cur, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("cgroupmgr: read %s: %w", file, notFound(err))
		}
		if strings.TrimSpace(string(cur)) == want {
			return nil
		}
		if time.Now().After(deadline) {
			if frozen {
				_ = os.WriteFile(file, []byte("THAWED"), 0)
			}
			return fmt.Errorf("cgroupmgr: %s stayed %s, wanted %s", file, strings.TrimSpace(string(cur)), want)
		}
		sleep(time.Millisecond)
	}
}

func (m *manager) freezeV2(frozen bool) error {
	dir := m.paths[unifiedKey]
	val := "0"
	if frozen {
		val = "1"
	}
	file := filepath.Join(dir, "cgroup.freeze")
	if err := os.WriteFile(file, []byte(val), 0); err != nil {
		return fmt.Errorf("cgroupmgr: write %s to %s: %w", val, file, notFound(err))
	}
	deadline := time.Now().Add(freezeTimeout)
	for {
		ev, err := readKV(filepath.Join(dir, "cgroup.events"))
		if err != nil {
			return fmt.Errorf("cgroupmgr: %w", notFound(err))
		}
		if v, ok := ev["frozen"]; !ok || fmt.Sprint(v) == val {
			// No "frozen" key means a kernel without the v2 freezer event;
			// the write succeeded, which is all we can know.
			return nil
		}
		if time.Now().After(deadline) {
			if frozen {
				_ = os.WriteFile(file, []byte("0"), 0)
			}
			return fmt.Errorf("cgroupmgr: %s did not reach frozen=%s", dir, val)
		}
		sleep(time.Millisecond)
	}
}

func (m *manager) Frozen() (bool, error) {
	if m.mode == Unified {
		b, err := os.ReadFile(filepath.Join(m.paths[unifiedKey], "cgroup.freeze"))
		if err != nil {
			return false, fmt.Errorf("cgroupmgr: %w", notFound(err))
		}
		return strings.TrimSpace(string(b)) == "1", nil
	}
	dir, ok := m.paths["freezer"]
	if !ok {
		return false, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, "freezer.state"))
	if err != nil {
		return false, fmt.Errorf("cgroupmgr: %w", notFound(err))
	}
	return strings.TrimSpace(string(b)) == "FROZEN", nil
}

// notFound adds ErrNotFound to a missing-file error so callers can tell a
// deleted cgroup from other failures.
func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w (%w)", ErrNotFound, err)
	}
	return err
}
