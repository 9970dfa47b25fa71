package lifecycle

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// A state.json that is not JSON is shown (not an error that stops list)
// and delete removes it.
func TestDamagedStateIsCreatingAndDeletable(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	h, err := s.reserve("bad")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.Dir(), stateFile), []byte(`{"id": "bad", "pid":`), 0o600); err != nil {
		t.Fatal(err)
	}
	h.Close()
	c, err := s.Get("bad")
	if err != nil {
		t.Fatalf("Get of a damaged state: %v", err)
	}
	if st := c.Status(); st != Creating {
		t.Fatalf("status %s, want creating", st)
	}
	if err := c.Delete(false); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Root, "bad")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("state dir left: %v", err)
	}
}

// startSleeper is a process standing in for an init or a CRIU.
func startSleeper(t *testing.T) (*exec.Cmd, uint64) {
	t.Helper()
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Skipf("no sleep to stand in for a process: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	start, err := startTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return cmd, start
}

// An incomplete create with a recorded init is creating, whatever the
// init does, and delete kills that init: by pid and start time, so a
// pid now used by another process is left alone.
func TestIncompleteCreateDeleteKillsRecordedInit(t *testing.T) {
	for _, reused := range []bool{false, true} {
		s := &Store{Root: t.TempDir()}
		init, start := startSleeper(t)
		h, err := s.reserve("half")
		if err != nil {
			t.Fatal(err)
		}
		st := &State{ID: "half", Pid: init.Process.Pid, PidStartTime: start, Incomplete: true, NewPidNS: true}
		if reused {
			st.PidStartTime++
		}
		if err := h.Save(st); err != nil {
			t.Fatal(err)
		}
		h.Close()
		c, err := s.Get("half")
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Status(); got != Creating {
			t.Fatalf("status %s, want creating", got)
		}
		if err := c.Delete(false); err != nil {
			t.Fatalf("delete: %v", err)
		}
		if alive(init.Process.Pid, start) == !reused {
			t.Fatalf("reused pid %v: the process alive after delete is %v", reused, !reused)
		}
		if _, err := os.Stat(filepath.Join(s.Root, "half")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("state dir left: %v", err)
		}
	}
}

func TestRecoverFreeze(t *testing.T) {
	defer func(d time.Duration) { criuRollbackTimeout = d }(criuRollbackTimeout)
	criuRollbackTimeout = 50 * time.Millisecond
	criu, criuStart := startSleeper(t)
	tests := []struct {
		name   string
		intent string // "" for none
		thawed bool
		kept   bool // the intent stays for the next command
	}{
		{"no intent: a paused container stays paused", "", false, false},
		{"our freeze: thawed", `{"was_paused": false}`, true, false},
		{"paused before the checkpoint: stays frozen", `{"was_paused": true}`, false, false},
		{"criu gone: thawed", `{"was_paused": false, "criu_pid": 1, "criu_start": 1}`, true, false},
		{"criu still rolling back: left frozen", `{"was_paused": false, "criu_pid": ` + strconv.Itoa(criu.Process.Pid) + `, "criu_start": ` + strconv.FormatUint(criuStart, 10) + `}`, false, true},
		{"unreadable: left as it is", `{"was_`, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Store{Root: t.TempDir()}
			h, err := s.reserve("ct")
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			path := filepath.Join(h.Dir(), freezeIntentFile)
			if tt.intent != "" {
				if err := os.WriteFile(path, []byte(tt.intent), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cg := &fakeCgroup{frozen: true}
			c := &Container{h: h, st: &State{ID: "ct"}, cg: cg}
			c.recoverFreeze()
			if got := !cg.frozen; got != tt.thawed {
				t.Fatalf("thawed %v, want %v (calls %v)", got, tt.thawed, cg.calls)
			}
			_, err = os.Stat(path)
			if kept := err == nil; kept != tt.kept {
				t.Fatalf("intent kept %v, want %v", kept, tt.kept)
			}
		})
	}
}

// BeginFreeze records whether the container was paused and which CRIU
// to wait for; EndFreeze forgets it.
func TestBeginEndFreeze(t *testing.T) {
	criu, start := startSleeper(t)
	s := &Store{Root: t.TempDir()}
	h, err := s.reserve("ct")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	self, _ := startTime(os.Getpid())
	c := &Container{h: h, st: &State{ID: "ct", Pid: os.Getpid(), PidStartTime: self}, cg: &fakeCgroup{frozen: true}}
	if err := c.BeginFreeze(criu.Process.Pid); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(h.Dir(), freezeIntentFile))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"was_paused":true,"criu_pid":` + strconv.Itoa(criu.Process.Pid) + `,"criu_start":` + strconv.FormatUint(start, 10) + `}`
	if !reflect.DeepEqual(string(data), want) {
		t.Fatalf("intent %s, want %s", data, want)
	}
	c.EndFreeze()
	if _, err := os.Stat(filepath.Join(h.Dir(), freezeIntentFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("intent left after EndFreeze: %v", err)
	}
	_ = syscall.Kill(criu.Process.Pid, syscall.SIGKILL)
}
