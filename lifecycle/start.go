package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// release opens the exec fifo for reading, which lets the init's blocked
// open-for-writing return; the init then writes one byte and execs the
// user process. Waiting on the fifo and on the init's pidfd together means
// a dead init is reported instead of hanging forever.
func (c *Container) release() error {
	// The pidfd first: once the fifo is open the init may exec a process
	// that exits at once, and a pid looked up after that reads as gone.
	pidfd, err := openPid(c.st.Pid, c.st.PidStartTime)
	if err != nil {
		return fmt.Errorf("container init is gone: %w", err)
	}
	defer unix.Close(pidfd)
	path := filepath.Join(c.h.dir, fifoFile)
	fifo, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	defer fifo.Close()

	if err := waitExecFifo(int(fifo.Fd()), pidfd); err != nil {
		return err
	}
	var b [1]byte
	if n, err := fifo.Read(b[:]); n != 1 {
		return fmt.Errorf("read exec fifo: %v", err)
	}
	// The fifo's absence is what marks the container as started.
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove exec fifo: %w", err)
	}
	// Then EOF, when the init's exec closes its end (or it dies); what
	// comes before it is the init's error (a startContainer hook, the
	// filter, the exec).
	msg, err := readToEOF(fifo)
	if err != nil {
		return fmt.Errorf("wait for the container process to start: %w", err)
	}
	if len(msg) > 0 {
		err := fmt.Errorf("container process failed to start: %s", msg)
		if kerr := c.stop(); kerr != nil {
			return fmt.Errorf("%w (and stopping the container failed: %v)", err, kerr)
		}
		return err
	}
	if err := runHooks("poststart", hooksOf(c.st.Config).Poststart, c.st.hookState(Running, c.st.Pid)); err != nil {
		// runtime.md, lifecycle step 9: an error, and the container is
		// stopped; delete removes it.
		if kerr := c.stop(); kerr != nil {
			return fmt.Errorf("%w (and stopping the container failed: %v)", err, kerr)
		}
		return err
	}
	return nil
}

// waitExecFifo waits until the exec fifo (read end, non-blocking) has the
// init's byte, or the init (its pidfd) is gone. Every way poll can report
// that nothing will ever come ends the wait with an error: POLLERR and
// POLLNVAL are level-triggered too, so looping on them would spin for ever
// at full CPU.
func waitExecFifo(fifo, pidfd int) error {
	fds := []unix.PollFd{
		{Fd: int32(fifo), Events: unix.POLLIN},
		{Fd: int32(pidfd), Events: unix.POLLIN},
	}
	for {
		_, err := unix.Poll(fds, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait for init: %w", err)
		}
		fifoEv, pidEv := fds[0].Revents, fds[1].Revents
		switch {
		case fifoEv&unix.POLLIN != 0:
			return nil
		case pidEv&unix.POLLNVAL != 0:
			return errors.New("wait for init: its pidfd is not open (POLLNVAL)")
		case pidEv != 0:
			return errors.New("container init exited before start")
		case fifoEv&unix.POLLNVAL != 0:
			return errors.New("wait for init: the exec fifo is not open (POLLNVAL)")
		case fifoEv&unix.POLLERR != 0:
			return errors.New("wait for init: error on the exec fifo (POLLERR)")
		case fifoEv&unix.POLLHUP != 0:
			// POLLHUP alone: the init opened and closed without writing.
			return errors.New("container init closed the exec fifo without starting")
		}
	}
}

// stop kills every process of the container and waits for them to go,
// leaving the container stopped.
func (c *Container) stop() error {
	if err := c.killEverything(); err != nil {
		return err
	}
	if c.st.NewPidNS {
		return nil // the init's death took the rest of its pid namespace
	}
	cg, err := c.cgroup()
	if err != nil || cg == nil {
		return err
	}
	return killCgroup(cg)
}

// readToEOF reads the non-blocking fifo until its last writer is gone.
func readToEOF(fifo *os.File) ([]byte, error) {
	var out []byte
	buf := make([]byte, 4096)
	fds := []unix.PollFd{{Fd: int32(fifo.Fd()), Events: unix.POLLIN}}
	for {
		n, err := unix.Read(int(fifo.Fd()), buf)
		switch {
		case n > 0:
			out = append(out, buf[:n]...)
			continue
		case n == 0 && err == nil:
			return out, nil
		case !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR):
			return out, err
		}
		if _, err := unix.Poll(fds, -1); err != nil && !errors.Is(err, unix.EINTR) {
			return out, err
		}
	}
}
