package lifecycle

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseStatHandlesHostileComm(t *testing.T) {
	// A command name with spaces and ')' must not shift the fields.
	line := "123 (a) b) c) S 1 123 123 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 100 18446744073709551615"
	state, start, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if state != 'S' || start != 98765 {
		t.Fatalf("got %c %d, want S 98765", state, start)
	}
	if _, _, err := parseStat([]byte("garbage")); err == nil {
		t.Fatal("garbage parsed")
	}
}

func TestAliveChecksStartTime(t *testing.T) {
	_, start, err := procStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !alive(os.Getpid(), start) {
		t.Fatal("self not alive")
	}
	if alive(os.Getpid(), start+1) {
		t.Fatal("a different start time must read as a different (dead) process")
	}
	if alive(0, 0) {
		t.Fatal("pid 0 alive")
	}
	if err := signalPid(os.Getpid(), start+1, unix.Signal(0)); !errors.Is(err, errProcessGone) {
		t.Fatalf("signal to recycled pid: %v", err)
	}
}
