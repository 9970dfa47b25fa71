package lifecycle

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestReserveRefusesExistingAndBadIDs(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	h, err := s.reserve("ct1")
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	if _, err := s.reserve("ct1"); !errors.Is(err, ErrExists) {
		t.Fatalf("second reserve: got %v, want ErrExists", err)
	}
	for _, bad := range []string{"", ".", "..", "a/b", "../x", "a b"} {
		if _, err := s.reserve(bad); !errors.Is(err, ErrInvalidID) {
			t.Errorf("reserve %q: got %v, want ErrInvalidID", bad, err)
		}
	}
}

// ValidateID is the one check every command and the store apply: each
// kind of bad id is refused with ErrInvalidID and a message that quotes
// the id safely and says what is wrong; no Store method gets past it.
func TestValidateID(t *testing.T) {
	long := strings.Repeat("a", MaxIDLen)
	for _, ok := range []string{"a", "ct1", "A-Z_0.9+x", "...", "a..b", ".hidden", long} {
		if err := ValidateID(ok); err != nil {
			t.Errorf("ValidateID(%q) = %v, want nil", ok, err)
		}
	}
	for _, tc := range []struct{ id, reason string }{
		{"", "empty"},
		{".", "a directory name"},
		{"..", "a directory name"},
		{"a/b", "'/' at byte 1"},
		{"../escape", "'/' at byte 2"},
		{"/abs", "'/' at byte 0"},
		{"a\x00b", "NUL at byte 1"},
		{"a\x01b", "control character 0x01 at byte 1"},
		{"nl\n", "control character 0x0a at byte 2"},
		{"del\x7f", "control character 0x7f at byte 3"},
		{"a b", "' ' at byte 1"},
		{"é", "'é' at byte 0"},
		{"\xff", "byte 0xff at byte 0"},
		{long + "a", "256 bytes long, longer than 255"},
		{strings.Repeat("b", 1025), "1025 bytes long"},
		{strings.Repeat("/", 2000), "2000 bytes long"},
	} {
		err := ValidateID(tc.id)
		if !errors.Is(err, ErrInvalidID) {
			t.Errorf("ValidateID(%q) = %v, want ErrInvalidID", tc.id, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.reason) {
			t.Errorf("ValidateID(%q) = %q, want it to say %q", tc.id, msg, tc.reason)
		}
		if !strings.HasPrefix(msg, "invalid container id "+QuoteID(tc.id)+": ") {
			t.Errorf("ValidateID(%q) = %q, does not start with the quoted id", tc.id, msg)
		}
		if strings.ContainsAny(msg, "\x00\x01\n\x7f") || len(msg) > 400 {
			t.Errorf("ValidateID(%q): message holds control characters or the whole long id: %q", tc.id, msg)
		}
		s := &Store{Root: filepath.Join(t.TempDir(), "root")}
		if _, err := s.reserve(tc.id); !errors.Is(err, ErrInvalidID) {
			t.Errorf("reserve(%q) = %v, want ErrInvalidID", tc.id, err)
		}
		if _, err := s.open(tc.id); !errors.Is(err, ErrInvalidID) {
			t.Errorf("Open(%q) = %v, want ErrInvalidID", tc.id, err)
		}
		if _, err := s.Get(tc.id); !errors.Is(err, ErrInvalidID) {
			t.Errorf("Get(%q) = %v, want ErrInvalidID", tc.id, err)
		}
		if _, err := os.Stat(s.Root); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("id %q: the state root was created", tc.id)
		}
	}
}

func TestSaveLoadRoundTripAndList(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	h, err := s.reserve("ct1")
	if err != nil {
		t.Fatal(err)
	}
	want := &State{ID: "ct1", Bundle: "/b", Pid: 42, PidStartTime: 7, Created: time.Unix(100, 0).UTC()}
	if err := h.Save(want); err != nil {
		t.Fatal(err)
	}
	h.Close()
	// A reserved dir without state.json (create in progress or crashed)
	// is not listed.
	h2, _ := s.reserve("half")
	h2.Close()
	ids, err := s.List()
	if err != nil || len(ids) != 1 || ids[0] != "ct1" {
		t.Fatalf("List = %v, %v; want [ct1]", ids, err)
	}
	h, err = s.open("ct1")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	got, err := h.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got.Pid != 42 || got.PidStartTime != 7 || got.Bundle != "/b" || !got.Created.Equal(want.Created) {
		t.Fatalf("loaded %+v, want %+v", got, want)
	}
	if _, err := s.open("missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("open missing: %v", err)
	}
	// No temp files are left next to state.json.
	ents, _ := os.ReadDir(filepath.Join(s.Root, "ct1"))
	if len(ents) != 1 {
		t.Fatalf("state dir holds %d entries, want only state.json", len(ents))
	}
}

// The lock serialises concurrent commands on one container.
func TestOpenSerialises(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	h, _ := s.reserve("ct1")
	h.Save(&State{ID: "ct1"})
	h.Close()

	var mu sync.Mutex
	inside := 0
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := s.open("ct1")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			inside++
			if inside > 1 {
				t.Error("two holders of one container lock")
			}
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
			mu.Lock()
			inside--
			mu.Unlock()
			h.Close()
		}()
	}
	wg.Wait()
}

func TestOpenAfterRemoveIsNotFound(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	h, _ := s.reserve("ct1")
	h.Save(&State{ID: "ct1"})
	if err := h.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.open("ct1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("open after remove: %v", err)
	}
}

// A Get waiting for the lock of a state dir that is removed meanwhile,
// its id given to a new create, must lock the new directory (and wait for
// that create) rather than act on the old one: holding the old one, it saw
// the new dir without state.json as an abandoned create, and a delete
// removed it under the create.
func TestGetWaitingOnAReplacedDirLocksTheNewOne(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	old, err := s.reserve("ct1")
	if err != nil {
		t.Fatal(err)
	}
	old.Save(&State{ID: "ct1", Bundle: "old"})
	type result struct {
		c   *Container
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := s.Get("ct1")
		got <- result{c, err}
	}()
	waitBlockedOn(t, old.Dir(), got)

	// The old container goes (its dir out of the way while still locked,
	// so the waiter cannot wake before the new one is there), and a new
	// create of the id reserves the name.
	if err := os.Rename(old.Dir(), old.Dir()+".gone"); err != nil {
		t.Fatal(err)
	}
	created, err := s.reserve("ct1")
	if err != nil {
		t.Fatal(err)
	}
	old.Close()
	waitBlockedOn(t, created.Dir(), got)

	created.Save(&State{ID: "ct1", Bundle: "new"})
	created.Close()
	r := <-got
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.c.Close()
	if b := r.c.State().Bundle; b != "new" {
		t.Fatalf("Get returned the state of bundle %q, want the new create's", b)
	}
}

// waitBlockedOn waits until some flock waiter (in /proc/locks, "->") is
// blocked on directory dir; a result on early (the waiter returned
// instead of blocking) fails the test.
func waitBlockedOn[T any](t *testing.T, dir string, early <-chan T) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	ino := ":" + strconv.FormatUint(st.Ino, 10) + " "
	for i := 0; i < 10000; i++ {
		select {
		case r := <-early:
			t.Fatalf("Get returned without waiting for the lock of %s: %+v", dir, r)
		default:
		}
		locks, err := os.ReadFile("/proc/locks")
		if err != nil {
			t.Skipf("cannot read /proc/locks to see the waiter: %v", err)
		}
		for _, l := range strings.Split(string(locks), "\n") {
			if strings.Contains(l, "-> FLOCK") && strings.Contains(l, ino) {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no waiter blocked on %s after 10 s", dir)
}

func TestPasswdHome(t *testing.T) {
	passwd := "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\nbroken\n"
	if h := passwdHome(passwd, 1000); h != "/home/user" {
		t.Fatalf("home of 1000: %q", h)
	}
	if h := passwdHome(passwd, 0); h != "/root" {
		t.Fatalf("home of 0: %q", h)
	}
	if h := passwdHome(passwd, 42); h != "" {
		t.Fatalf("home of 42: %q", h)
	}
}
