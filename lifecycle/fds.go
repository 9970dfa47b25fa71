package lifecycle

import (
	"fmt"
	"math"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// markInheritedCloexec marks every fd from 3 up close-on-exec before we
// start a child. Go's os/exec passes on every fd without the flag, so an
// fd our caller leaked to us (a shell's `exec 9</some/dir`) would reach
// stage 0 and the init, whose chdir to a process.cwd of /proc/self/fd/9
// would put the container's process in a host directory
// (CVE-2024-21626). What a child must get goes through exec.Cmd's stdio
// and ExtraFiles, which Go dups into place whatever their flags; runc
// does the same before starting its init.
func markInheritedCloexec() error {
	err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	// Kernels before 5.11: one fd at a time.
	ents, rerr := os.ReadDir("/proc/self/fd")
	if rerr != nil {
		return fmt.Errorf("mark fds close-on-exec: %w (close_range: %v)", rerr, err)
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd >= 3 {
			unix.CloseOnExec(fd)
		}
	}
	return nil
}
