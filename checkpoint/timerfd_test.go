package checkpoint

import (
	"encoding/binary"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestParseTimerfdInfo(t *testing.T) {
	info := "pos:\t0\nflags:\t02004002\nmnt_id:\t17\nino:\t1038\nclockid: 1\nticks: 3\nsettime flags: 01\nit_value: (0, 0)\nit_interval: (2, 500)\n"
	got, ok := parseTimerfdInfo(info)
	if !ok || got.clockid != 1 || got.ticks != 3 || got.settimeFlags != 1 || got.value.Nano() != 0 ||
		got.intval != (unix.Timespec{Sec: 2, Nsec: 500}) || !got.disarmedWithTicks() {
		t.Fatalf("got %+v, %v", got, ok)
	}
	if _, ok := parseTimerfdInfo("pos:\t0\nflags:\t02\n"); ok {
		t.Fatal("a non-timerfd fdinfo parsed")
	}
	armed, _ := parseTimerfdInfo("clockid: 1\nticks: 3\nsettime flags: 00\nit_value: (0, 100)\nit_interval: (0, 500)\n")
	oneShot, _ := parseTimerfdInfo("clockid: 1\nticks: 1\nsettime flags: 00\nit_value: (0, 0)\nit_interval: (0, 0)\n")
	if armed.disarmedWithTicks() || oneShot.disarmedWithTicks() {
		t.Fatal("an armed or a fired one-shot timer taken for a broken one")
	}
}

// A timerfd in the state CRIU restores an expired, unread periodic timer
// in (disarmed, ticks pending) fires again after rearmTimerfds, and its
// pending ticks are still there to read.
func TestRearmTimerfds(t *testing.T) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC)
	if err != nil {
		t.Skipf("timerfd_create: %v", err)
	}
	defer unix.Close(fd)
	// as CRIU's restorer does: settime with it_value 0, then the ticks
	iv := unix.NsecToTimespec(10_000_000)
	if err := unix.TimerfdSettime(fd, 0, &unix.ItimerSpec{Interval: iv}, nil); err != nil {
		t.Fatal(err)
	}
	ticks := uint64(2)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), tfdIocSetTicks, uintptr(unsafe.Pointer(&ticks))); errno != 0 {
		t.Skipf("TFD_IOC_SET_TICKS: %v (no CONFIG_CHECKPOINT_RESTORE?)", errno)
	}
	if err := rearmTimerfds("/proc", []int{os.Getpid()}); err != nil {
		t.Fatal(err)
	}
	var cur unix.ItimerSpec
	if err := unix.TimerfdGettime(fd, &cur); err != nil || cur.Value.Nano() == 0 {
		t.Fatalf("not armed after rearm: %+v %v", cur, err)
	}
	buf := make([]byte, 8)
	for i := 0; i < 2; i++ {
		// bounded only against hanging
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if n, err := unix.Poll(pfd, 5000); err != nil || n != 1 {
			t.Fatalf("read %d: timer did not fire: %v", i, err)
		}
		if _, err := unix.Read(fd, buf); err != nil {
			t.Fatal(err)
		}
		if n := binary.LittleEndian.Uint64(buf); i == 0 && n < 2 {
			t.Fatalf("first read: %d ticks, want the 2 pending", n)
		}
	}
}
