package rootfs

import (
	"errors"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/spec"
)

// These run after the pivot, so paths are container paths: a symlink can
// no longer lead out of the container's root.

// maskPath hides a path: /dev/null over a file, an empty read-only tmpfs
// over a directory. Paths the container does not have need no mask.
func maskPath(p string) error {
	fi, err := sys.stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("masked path %s: %w", p, err)
	}
	if fi.IsDir() {
		err = sys.mount("tmpfs", p, "tmpfs", unix.MS_RDONLY, "")
	} else {
		err = sys.mount("/dev/null", p, "", unix.MS_BIND, "")
	}
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("masked path %s: %w", p, err)
	}
	return nil
}

// readonlyPath binds a path onto itself so it becomes a mount of its own,
// then makes that mount read-only.
func readonlyPath(p string) error {
	if _, err := sys.stat(p); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	err := sys.mount(p, p, "", unix.MS_BIND|unix.MS_REC, "")
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("readonly path %s: %w", p, err)
	}
	if err := bindRemountRO(p); err != nil {
		return fmt.Errorf("readonly path %s: %w", p, err)
	}
	return nil
}

// bindRemountRO makes the mount at p read-only, repeating the flags the
// mount already has: in a user namespace the kernel locks nosuid, nodev,
// noexec and the atime mode of inherited mounts and refuses a remount that
// drops them.
func bindRemountRO(p string) error {
	var st unix.Statfs_t
	if err := sys.statfs(p, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", p, err)
	}
	keep := statfsToMountFlags(st.Flags) & (lockableFlags &^ unix.MS_RDONLY)
	flags := keep | unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY
	if err := sys.mount("", p, "", flags, ""); err != nil {
		return fmt.Errorf("remount %s (%s): %w", p, flagString(flags), err)
	}
	return nil
}

// devReadonly applies a deferred "ro" on the /dev mount: it had to stay
// writable until the device nodes and symlinks existed.
func devReadonly(s *specs.Spec) error {
	for _, m := range s.Mounts {
		if cleanDest(m.Destination) != "/dev" || spec.IsBind(m) {
			continue
		}
		o := spec.ParseMountOptions(m.Options)
		if o.Flags&unix.MS_RDONLY == 0 {
			continue
		}
		if err := remountPath("/dev", o.Flags|unix.MS_REMOUNT, o.ClearFlags); err != nil {
			return fmt.Errorf("remount /dev read-only: %w", err)
		}
	}
	return nil
}
