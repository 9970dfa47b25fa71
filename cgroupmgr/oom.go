package cgroupmgr

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// OOMEvents reports OOM kills in the container's memory cgroup: v1 through
// an eventfd registered on memory.oom_control, v2 by watching the oom_kill
// counter of memory.events with inotify. The channel closes when ctx ends
// or the cgroup disappears.
func (m *manager) OOMEvents(ctx context.Context) (<-chan struct{}, error) {
	if m.mode == Unified {
		return oomV2(ctx, m.paths[unifiedKey])
	}
	dir, ok := m.paths["memory"]
	if !ok {
		return nil, fmt.Errorf("cgroupmgr: oom events: no memory controller: %w", ErrNotSupported)
	}
	return oomV1(ctx, dir)
}

// pollable wraps a non-blocking fd so that Read parks in Go's poller and
// Close (on ctx cancel) wakes it up.
func pollable(fd int, name string) *os.File { return os.NewFile(uintptr(fd), name) }

// closeOnDone closes f once ctx ends or stop is closed, whichever first.
func closeOnDone(ctx context.Context, f *os.File, stop <-chan struct{}) {
	go func() {
		select {
		case <-ctx.Done():
		case <-stop:
		}
		f.Close()
	}()
}

func oomV1(ctx context.Context, dir string) (<-chan struct{}, error) {
	oomFile, err := os.Open(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		return nil, fmt.Errorf("cgroupmgr: oom events: %w", notFound(err))
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		oomFile.Close()
		return nil, fmt.Errorf("cgroupmgr: oom events: eventfd: %w", err)
	}
	ev := pollable(efd, "oom-eventfd")
	reg := fmt.Sprintf("%d %d", efd, oomFile.Fd())
	if err := os.WriteFile(filepath.Join(dir, "cgroup.event_control"), []byte(reg), 0); err != nil {
		ev.Close()
		oomFile.Close()
		return nil, fmt.Errorf("cgroupmgr: oom events: register in %s: %w", dir, notFound(err))
	}
	ch := make(chan struct{}, 1)
	stop := make(chan struct{})
	closeOnDone(ctx, ev, stop)
	go func() {
		defer close(ch)
		defer oomFile.Close()
		defer close(stop)
		buf := make([]byte, 8)
		for {
			if _, err := ev.Read(buf); err != nil {
				return
			}
			// The kernel also signals the eventfd when the cgroup is
			// removed; that is not an OOM.
			if _, err := os.Stat(filepath.Join(dir, "memory.oom_control")); err != nil {
				return
			}
			if !send(ctx, ch) {
				return
			}
		}
	}()
	return ch, nil
}

func oomV2(ctx context.Context, dir string) (<-chan struct{}, error) {
	events := filepath.Join(dir, "memory.events")
	start, err := readKV(events)
	if err != nil {
		return nil, fmt.Errorf("cgroupmgr: oom events: %w", notFound(err))
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("cgroupmgr: oom events: inotify: %w", err)
	}
	in := pollable(fd, "oom-inotify")
	for _, f := range []string{events, filepath.Join(dir, "cgroup.events")} {
		if _, err := unix.InotifyAddWatch(fd, f, unix.IN_MODIFY); err != nil {
			in.Close()
			return nil, fmt.Errorf("cgroupmgr: oom events: watch %s: %w", f, notFound(err))
		}
	}
	ch := make(chan struct{}, 1)
	stop := make(chan struct{})
	closeOnDone(ctx, in, stop)
	go func() {
		defer close(ch)
		defer close(stop)
		seen := start["oom_kill"]
		buf := make([]byte, 4096)
		for {
			if _, err := in.Read(buf); err != nil {
				return
			}
			cur, err := readKV(events)
			if err != nil {
				return // cgroup gone
			}
			for ; seen < cur["oom_kill"]; seen++ {
				if !send(ctx, ch) {
					return
				}
			}
			if st, err := readKV(filepath.Join(dir, "cgroup.events")); err != nil || st["populated"] == 0 {
				return
			}
		}
	}()
	return ch, nil
}

func send(ctx context.Context, ch chan<- struct{}) bool {
	select {
	case ch <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}
