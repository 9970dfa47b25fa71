package cgroupmgr

import (
	"fmt"
	"path/filepath"
)

// EnterOwn moves pid into this process's own cgroup in hierarchy key
// ("freezer", "name=systemd", "" for v2): where a child we started was
// before Apply moved it into a container's. Restore uses it to take CRIU
// out of the container's freezer before CRIU restores a dumped FROZEN
// state there.
func EnterOwn(pid int, key string) error {
	mode := DetectMode()
	if mode == Unavailable {
		return fmt.Errorf("cgroupmgr: no cgroup filesystem at /sys/fs/cgroup: %w", ErrNotSupported)
	}
	return enterOwn(mode, pid, key)
}

func enterOwn(mode Mode, pid int, key string) error {
	hs, err := discover(mode)
	if err != nil {
		return err
	}
	h, ok := hs[key]
	if !ok {
		return fmt.Errorf("cgroupmgr: no %q hierarchy: %w", key, ErrNotSupported)
	}
	own, err := ownCgroups(map[string]hierarchy{key: h})
	if err != nil {
		return err
	}
	return writeProcs(filepath.Join(h.mountpoint, own[key]), pid)
}
