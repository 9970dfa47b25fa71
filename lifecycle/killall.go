package lifecycle

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/cgroupmgr"
)

// signalCgroup sends sig to every process in the container's cgroup. A
// process may fork between the listing and the signals, so the cgroup is
// frozen meanwhile (runc's signalAllProcesses); SIGKILL goes through
// cgroup.kill where the kernel has it (v2, or the v2 part of a hybrid
// host), which has no such race at all. A cgroup that was frozen stays
// frozen, except after SIGKILL: a frozen task does not act on it.
func signalCgroup(cg cgroupmgr.Manager, sig unix.Signal) error {
	wasFrozen, _ := cg.Frozen()
	if sig == unix.SIGKILL {
		done, err := cgroupKill(cg)
		if err != nil {
			return err
		}
		if done {
			if wasFrozen {
				return thawAfterKill(cg)
			}
			return nil
		}
	}
	if !wasFrozen {
		if err := cg.Freeze(); err != nil && !errors.Is(err, cgroupmgr.ErrNotSupported) {
			Warn("signal every process: %v; signalling unfrozen", err)
		}
	}
	pids, err := cg.Pids()
	if err == nil {
		for _, pid := range pids {
			// A process may exit between listing and signalling: fine.
			if kerr := unix.Kill(pid, sig); kerr != nil && !errors.Is(kerr, unix.ESRCH) && err == nil {
				err = fmt.Errorf("signal %d: %w", pid, kerr)
			}
		}
	} else {
		err = fmt.Errorf("list processes: %w", err)
	}
	if !wasFrozen || sig == unix.SIGKILL {
		if terr := thawAfterKill(cg); terr != nil && err == nil {
			err = terr
		}
	}
	return err
}

// cgroupKill writes cgroup.kill; done is false when this kernel or host
// has none (cgroup v1 only, or Linux before 5.14).
func cgroupKill(cg cgroupmgr.Manager) (done bool, err error) {
	dir := cg.Path("")
	if dir == "" {
		return false, nil
	}
	err = writeExisting(filepath.Join(dir, "cgroup.kill"), "1")
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("kill every process: %w", err)
	}
}

func thawAfterKill(cg cgroupmgr.Manager) error {
	if err := cg.Thaw(); err != nil && !errors.Is(err, cgroupmgr.ErrNotSupported) {
		return fmt.Errorf("thaw: %w", err)
	}
	return nil
}

// killCgroup SIGKILLs whatever is left in the cgroup and waits (briefly)
// for it to empty, so the cgroup directories can be removed.
func killCgroup(cg cgroupmgr.Manager) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids, err := cg.Pids()
		if err != nil || len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v did not die", pids)
		}
		if err := signalCgroup(cg, unix.SIGKILL); err != nil {
			Warn("kill the container's processes: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// writeExisting writes a kernel file that must exist: without O_CREAT, a
// missing one is ENOENT, where cgroupfs would answer a create with EACCES.
func writeExisting(path, val string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(val)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
