package lifecycle

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// procStat reads a process's state letter and start time (field 22 of
// /proc/PID/stat, in clock ticks since boot). The start time pins a pid to
// one process, so a recycled pid is never mistaken for the container.
var procStat = func(pid int) (state byte, start uint64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	return parseStat(data)
}

func parseStat(data []byte) (byte, uint64, error) {
	// The command name (field 2) may hold spaces and parentheses: the
	// fields we want come after the LAST ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return 0, 0, fmt.Errorf("malformed stat %q", data)
	}
	fields := bytes.Fields(data[i+2:])
	// fields[0] is field 3 (state); start time is field 22.
	if len(fields) < 20 {
		return 0, 0, fmt.Errorf("malformed stat %q", data)
	}
	start, err := strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("malformed stat start time: %w", err)
	}
	return fields[0][0], start, nil
}

// alive reports whether pid is still the process that started at start
// and has not exited (a zombie has exited).
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	state, st, err := procStat(pid)
	if err != nil || st != start {
		return false
	}
	return state != 'Z' && state != 'X'
}

// openPid returns a pidfd for pid, checked against its start time after
// opening, so signals sent through it can't hit a recycled pid.
func openPid(pid int, start uint64) (int, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return -1, errProcessGone
		}
		return -1, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	if !alive(pid, start) {
		unix.Close(fd)
		return -1, errProcessGone
	}
	return fd, nil
}

var errProcessGone = errors.New("process already exited")

// signalPid sends sig to the process pid/start; a process that is gone
// already is reported as errProcessGone.
func signalPid(pid int, start uint64, sig unix.Signal) error {
	fd, err := openPid(pid, start)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return errProcessGone
		}
		return fmt.Errorf("signal %d: %w", pid, err)
	}
	return nil
}

// waitGone waits until pid/start has exited (it need not be our child:
// a pidfd polls readable when the process exits), or timeout passes.
func waitGone(pid int, start uint64, timeout time.Duration) error {
	fd, err := openPid(pid, start)
	if errors.Is(err, errProcessGone) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	deadline := time.Now().Add(timeout)
	for {
		ms := int(time.Until(deadline).Milliseconds())
		if ms <= 0 {
			return fmt.Errorf("process %d still alive after %s", pid, timeout)
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait for %d: %w", pid, err)
		}
		if n > 0 {
			return nil
		}
	}
}

// startTime is pid's start time, which State.PidStartTime records.
func startTime(pid int) (uint64, error) {
	_, start, err := procStat(pid)
	return start, err
}
