package lifecycle

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// A stopped container refuses everything but delete, with a typed error.
func TestStoppedRefusesIllegalTransitions(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	h, _ := s.reserve("ct1")
	// pid 1's start time is never 12345 here: reads as exited.
	h.Save(&State{ID: "ct1", Pid: 1, PidStartTime: 12345})
	h.Close()
	c, err := s.Get("ct1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Status() != Stopped {
		t.Fatalf("status %s, want stopped", c.Status())
	}
	for name, op := range map[string]func() error{
		"start":  c.Start,
		"pause":  c.Pause,
		"resume": c.Resume,
		"kill":   func() error { return c.Kill(unix.SIGTERM, false) },
	} {
		err := op()
		var se *StateError
		if !errors.As(err, &se) || !errors.Is(err, ErrWrongState) || se.Status != Stopped {
			t.Errorf("%s on stopped: got %v, want a StateError", name, err)
		}
	}
	if got := c.OCIState(); got.Pid != 0 || got.Status != "stopped" {
		t.Errorf("OCI state of stopped container: %+v", got)
	}
	if err := c.Delete(false); err != nil {
		t.Fatalf("delete stopped: %v", err)
	}
	if _, err := s.Get("ct1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

func TestAbandonedCreateCanBeDeleted(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	h, _ := s.reserve("half")
	h.Close()
	c, err := s.Get("half")
	if err != nil {
		t.Fatal(err)
	}
	if c.Status() != Creating {
		t.Fatalf("status %s, want creating", c.Status())
	}
	if err := c.Start(); !errors.Is(err, ErrWrongState) {
		t.Fatalf("start of creating: %v", err)
	}
	if err := c.Delete(true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("half"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}
