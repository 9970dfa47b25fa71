package rootfs

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// pivotRoot swaps the root without a put_old directory: pivot_root(".",
// ".") stacks the old root on top of the new one at "/", where it can be
// detached from a cwd pointing into it. This keeps read-only rootfses
// working, since nothing has to be created in them.
func pivotRoot(rootfs string) error {
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open old root: %w", err)
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open new root %s: %w", rootfs, err)
	}
	defer unix.Close(newroot)

	if err := sys.fchdir(newroot); err != nil {
		return fmt.Errorf("chdir to new root %s: %w", rootfs, err)
	}
	if err := sys.pivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root %s: %w", rootfs, err)
	}
	if err := sys.fchdir(oldroot); err != nil {
		return fmt.Errorf("chdir to old root: %w", err)
	}
	// Slave first, so the detach below cannot propagate to the host.
	if err := sys.mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make old root rslave: %w", err)
	}
	if err := sys.unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := sys.chdir("/"); err != nil {
		return fmt.Errorf("chdir to new root: %w", err)
	}
	return nil
}

// moveRoot is the --no-pivot path for roots pivot_root refuses (initramfs):
// the rootfs mount is moved over "/" and chrooted into. The host's tree
// stays mounted underneath, unreachable from the chroot.
func moveRoot(rootfs string) error {
	if err := hideFullProcSys(rootfs); err != nil {
		return err
	}
	if err := sys.chdir(rootfs); err != nil {
		return fmt.Errorf("chdir to rootfs %s: %w", rootfs, err)
	}
	if err := sys.mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move rootfs %s to /: %w", rootfs, err)
	}
	return chrootHere(rootfs)
}

// hideFullProcSys unmounts (or covers with a tmpfs) every full proc and
// sysfs mount outside the rootfs before a --no-pivot move. The kernel
// lets a user namespace mount a new proc or sysfs only while a fully
// visible one exists in its mount namespace; the host's, unreachable
// from the chroot but still there, would count, and a process in the
// container could then mount a bare /proc (no masked paths) of its own.
// runc does the same.
func hideFullProcSys(rootfs string) error {
	all, err := sys.mounts()
	if err != nil {
		return fmt.Errorf("--no-pivot: read mountinfo: %w", err)
	}
	for _, m := range all {
		full := m.Root == "/" && (m.FSType == "proc" || m.FSType == "sysfs")
		if !full || m.Mountpoint == rootfs || strings.HasPrefix(m.Mountpoint, rootfs+"/") {
			continue
		}
		p := m.Mountpoint
		// Slave first, so the unmount cannot propagate to the host.
		if err := sys.mount("", p, "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // under a mount already detached
			}
			return fmt.Errorf("--no-pivot: make %s rslave: %w", p, err)
		}
		err := sys.unmount(p, unix.MNT_DETACH)
		if err == nil {
			continue
		}
		if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("--no-pivot: detach %s: %w", p, err)
		}
		if err := sys.mount("tmpfs", p, "tmpfs", 0, ""); err != nil {
			return fmt.Errorf("--no-pivot: cover %s: %w", p, err)
		}
	}
	return nil
}

// chrootInto is for a container in the host's mount namespace, whose
// mounts stay in place under the rootfs.
func chrootInto(rootfs string) error {
	if err := sys.chdir(rootfs); err != nil {
		return fmt.Errorf("chdir to rootfs %s: %w", rootfs, err)
	}
	return chrootHere(rootfs)
}

// chrootHere makes the cwd (rootfs, named for errors) the root.
func chrootHere(rootfs string) error {
	if err := sys.chroot("."); err != nil {
		return fmt.Errorf("chroot %s: %w", rootfs, err)
	}
	if err := sys.chdir("/"); err != nil {
		return fmt.Errorf("chdir to new root: %w", err)
	}
	return nil
}
