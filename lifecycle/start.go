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

	fds := []unix.PollFd{
		{Fd: int32(fifo.Fd()), Events: unix.POLLIN},
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
		if fds[0].Revents&unix.POLLIN != 0 {
			break
		}
		if fds[1].Revents != 0 {
			return errors.New("container init exited before start")
		}
		// POLLHUP alone: the init opened and closed without writing.
		if fds[0].Revents&unix.POLLHUP != 0 {
			return errors.New("container init closed the exec fifo without starting")
		}
	}
	var b [1]byte
	if n, err := fifo.Read(b[:]); n != 1 {
		return fmt.Errorf("read exec fifo: %v", err)
	}
	// The fifo's absence is what marks the container as started.
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove exec fifo: %w", err)
	}
	warnHooks("poststart", hooksOf(c.st.Config).Poststart, c.st.hookState(Running, c.st.Pid))
	return nil
}
