package lifecycle

import (
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// waitExecFifo must end, with an error naming the reason, whenever poll
// says the fifo can never deliver the init's byte: a spin on POLLNVAL or
// POLLERR would hang `stasis start` for ever at full CPU.
func TestWaitExecFifoEndsOnPollErrors(t *testing.T) {
	// The init's pidfd stand-in: our own process, which never exits here.
	self, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		t.Skipf("pidfd_open: %v", err)
	}
	defer unix.Close(self)

	closedFd := func(t *testing.T) int {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		fd := int(r.Fd())
		w.Close()
		r.Close() // fd is now a number that names no open file: POLLNVAL
		return fd
	}
	orphanedWriteEnd := func(t *testing.T) int {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
			t.Fatal(err)
		}
		unix.Close(p[0]) // the write end polls POLLERR once no reader is left
		t.Cleanup(func() { unix.Close(p[1]) })
		return p[1]
	}
	for _, tc := range []struct {
		name       string
		fifo, pidf func(t *testing.T) int
		want       string
	}{
		{"fifo POLLNVAL", closedFd, func(*testing.T) int { return self }, "exec fifo is not open (POLLNVAL)"},
		{"fifo POLLERR", orphanedWriteEnd, func(*testing.T) int { return self }, "error on the exec fifo (POLLERR)"},
		{"pidfd POLLNVAL", orphanedWriteEnd, closedFd, "pidfd is not open (POLLNVAL)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fifo, pidfd := tc.fifo(t), tc.pidf(t)
			done := make(chan error, 1)
			go func() { done <- waitExecFifo(fifo, pidfd) }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("err = %v, want one containing %q", err, tc.want)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("waitExecFifo still polling after 3s (spinning on a poll error)")
			}
		})
	}
}

// The byte arriving, and the writer leaving without one, still end the
// wait as before.
func TestWaitExecFifoByteAndHangup(t *testing.T) {
	self, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		t.Skipf("pidfd_open: %v", err)
	}
	defer unix.Close(self)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	if _, err := unix.Write(p[1], []byte{'0'}); err != nil {
		t.Fatal(err)
	}
	if err := waitExecFifo(p[0], self); err != nil {
		t.Errorf("with the byte written: %v", err)
	}
	var b [1]byte
	unix.Read(p[0], b[:])
	unix.Close(p[1])
	if err := waitExecFifo(p[0], self); err == nil || !strings.Contains(err.Error(), "without starting") {
		t.Errorf("writer gone without a byte: err = %v", err)
	}
}
