package rootfs

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// MountID is the id of the mount that path resolves into. The runtime
// records it for the rootfs of a container without a mount namespace
// before the container's init mounts anything there, so that cleanup can
// tell the mounts it made from the ones that were there before.
func MountID(path string) (uint64, error) {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, 0, unix.STATX_MNT_ID, &stx); err != nil {
		return 0, fmt.Errorf("statx %s: %w", path, err)
	}
	if stx.Mask&unix.STATX_MNT_ID == 0 {
		return 0, fmt.Errorf("statx %s: kernel reports no mount id", path)
	}
	return stx.Mnt_id, nil
}

// DetachHostMounts undoes prepareInHostNS: it detaches what was mounted
// at path (the rootfs's self-bind, with every mount under it) until path
// is back on the mount it had before, origID. It never goes below that,
// so a rootfs that was itself a mount point (an overlay) stays mounted.
func DetachHostMounts(path string, origID uint64) error {
	// The bound only guards against a loop; the init makes one mount here.
	for range 8 {
		id, err := MountID(path)
		if err != nil {
			return err
		}
		if id == origID {
			return nil
		}
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
			if errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("detach mounts at rootfs %s: no mount at the path, yet it is not on its original mount (something was mounted over a parent directory?)", path)
			}
			return fmt.Errorf("detach mounts at rootfs %s: %w", path, err)
		}
	}
	return fmt.Errorf("detach mounts at rootfs %s: still not back on its original mount", path)
}
