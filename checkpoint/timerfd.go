package checkpoint

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// CRIU 4.1 reads a timerfd's state from /proc/PID/fdinfo, where a periodic
// timer that expired and has not been read shows it_value (0, 0) (the
// kernel rearms it only at the next read). CRIU restores that as a
// disarmed timer holding the unread ticks: the program reads them once,
// and the timer never fires again. rearmTimerfds, run while CRIU holds the
// restored tasks stopped (pre-resume), gives every such timer its next
// expiry one interval on and puts the unread ticks back.

// tfdIocSetTicks is TFD_IOC_SET_TICKS, _IOW('T', 0, u64), what CRIU sets
// the ticks with.
const tfdIocSetTicks = 0x40085400

type timerfdInfo struct {
	clockid       int32
	ticks         uint64
	settimeFlags  int
	value, intval unix.Timespec
}

// disarmedWithTicks: the state only an expired, unread periodic timer
// has in fdinfo, and the one CRIU restores it in.
func (t timerfdInfo) disarmedWithTicks() bool {
	return t.ticks > 0 && t.value.Nano() == 0 && t.intval.Nano() > 0
}

// parseTimerfdInfo reads a timerfd's fdinfo ("clockid: 1", "ticks: 1",
// "settime flags: 01", "it_value: (0, 0)", "it_interval: (0, 20000000)").
func parseTimerfdInfo(data string) (timerfdInfo, bool) {
	var t timerfdInfo
	seen := 0
	for _, line := range strings.Split(data, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "clockid":
			n, err := strconv.ParseInt(v, 10, 32)
			ok = err == nil
			t.clockid = int32(n)
		case "ticks":
			n, err := strconv.ParseUint(v, 10, 64)
			ok = err == nil
			t.ticks = n
		case "settime flags":
			n, err := strconv.ParseInt(v, 8, 32)
			ok = err == nil
			t.settimeFlags = int(n)
		case "it_value":
			t.value, ok = parseTimespecPair(v)
		case "it_interval":
			t.intval, ok = parseTimespecPair(v)
		default:
			continue
		}
		if !ok {
			return t, false
		}
		seen++
	}
	return t, seen == 5
}

func parseTimespecPair(v string) (unix.Timespec, bool) {
	v = strings.TrimSuffix(strings.TrimPrefix(v, "("), ")")
	s, ns, ok := strings.Cut(v, ",")
	if !ok {
		return unix.Timespec{}, false
	}
	sec, err1 := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	nsec, err2 := strconv.ParseInt(strings.TrimSpace(ns), 10, 64)
	return unix.Timespec{Sec: sec, Nsec: nsec}, err1 == nil && err2 == nil
}

// rearmTimerfds fixes the timerfds of pids (looked up under procRoot) that
// are disarmed with unread ticks, through a copy of each fd (pidfd_getfd).
func rearmTimerfds(procRoot string, pids []int) error {
	for _, pid := range pids {
		dir := fmt.Sprintf("%s/%d", procRoot, pid)
		ents, err := os.ReadDir(filepath.Join(dir, "fd"))
		if err != nil {
			continue // gone
		}
		for _, e := range ents {
			if link, _ := os.Readlink(filepath.Join(dir, "fd", e.Name())); link != "anon_inode:[timerfd]" {
				continue
			}
			data, err := os.ReadFile(filepath.Join(dir, "fdinfo", e.Name()))
			if err != nil {
				continue
			}
			t, ok := parseTimerfdInfo(string(data))
			if !ok || !t.disarmedWithTicks() {
				continue
			}
			n, _ := strconv.Atoi(e.Name())
			if err := rearmTimerfd(pid, n, t); err != nil {
				return fmt.Errorf("rearm timerfd %d of pid %d: %w", n, pid, err)
			}
		}
	}
	return nil
}

func rearmTimerfd(pid, fd int, t timerfdInfo) error {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fmt.Errorf("pidfd_open: %w", err)
	}
	defer unix.Close(pidfd)
	tfd, err := unix.PidfdGetfd(pidfd, fd, 0)
	if err != nil {
		return fmt.Errorf("pidfd_getfd: %w", err)
	}
	defer unix.Close(tfd)
	next := t.intval
	if t.settimeFlags&unix.TFD_TIMER_ABSTIME != 0 {
		var now unix.Timespec
		if err := unix.ClockGettime(t.clockid, &now); err != nil {
			return fmt.Errorf("clock_gettime(%d): %w", t.clockid, err)
		}
		next = unix.NsecToTimespec(now.Nano() + t.intval.Nano())
	}
	// settime zeroes the ticks: put them back after
	if err := unix.TimerfdSettime(tfd, t.settimeFlags, &unix.ItimerSpec{Interval: t.intval, Value: next}, nil); err != nil {
		return fmt.Errorf("timerfd_settime: %w", err)
	}
	ticks := t.ticks
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(tfd), tfdIocSetTicks, uintptr(unsafe.Pointer(&ticks))); errno != 0 {
		return fmt.Errorf("TFD_IOC_SET_TICKS: %w", errno)
	}
	return nil
}
