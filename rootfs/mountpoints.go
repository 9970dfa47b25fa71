package rootfs

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stasis-oci/stasis/spec"
)

// CreateMountpoints makes sure every mount's target exists in the rootfs
// at rootfsPath (a directory, or an empty file for a bind of a file),
// resolving each inside the rootfs like Prepare does. Restore needs it:
// CRIU mounts into the rootfs it is given but creates no mount points,
// and a different bundle may lack them. Targets inside a tmpfs mount are
// skipped: CRIU restores a tmpfs with its contents.
//
// A bind mount's source is mounted on its target while the later targets
// are made, so one nested in it (/test/for/nested inside a bind on /test)
// is created in the bind's source, where CRIU will look for it; every
// such mount is undone before returning. The caller must be in a mount
// namespace of its own (restore's), so none of them reaches the host.
func CreateMountpoints(rootfsPath string, mounts []specs.Mount) (err error) {
	r, err := openRoot(rootfsPath)
	if err != nil {
		return err
	}
	defer r.Close()
	var binds []string // host paths of the temporary binds, in order
	defer func() {
		for i := len(binds) - 1; i >= 0; i-- {
			if uerr := sys.unmount(binds[i], unix.MNT_DETACH); uerr != nil && err == nil {
				err = fmt.Errorf("undo temporary bind on %s: %w", binds[i], uerr)
			}
		}
	}()
	var tmpfs []string
	for _, m := range mounts {
		if m.Type == "tmpfs" {
			tmpfs = append(tmpfs, cleanDest(m.Destination))
		}
	}
	for _, m := range mounts {
		dest := cleanDest(m.Destination)
		if dest == "/" || underAny(dest, tmpfs) {
			continue
		}
		asFile := false
		if spec.IsBind(m) {
			if fi, err := os.Stat(m.Source); err == nil && !fi.IsDir() {
				asFile = true
			}
		}
		f, err := r.mkTarget(dest, asFile)
		if err != nil {
			return err
		}
		if spec.IsBind(m) && !asFile {
			// The fd pins the checked target; the unmount later goes by
			// the path the kernel reports for it, resolved now.
			host, lerr := os.Readlink(procFd(f))
			if lerr == nil {
				lerr = sys.mount(m.Source, procFd(f), "", unix.MS_BIND|unix.MS_REC, "")
			}
			if lerr != nil {
				f.Close()
				return fmt.Errorf("bind %s on %s to make the mount points inside it: %w", m.Source, m.Destination, lerr)
			}
			binds = append(binds, host)
		}
		f.Close()
	}
	return nil
}

// underAny: p is strictly inside one of dirs.
func underAny(p string, dirs []string) bool {
	for _, d := range dirs {
		if p != d && strings.HasPrefix(p, strings.TrimSuffix(d, "/")+"/") {
			return true
		}
	}
	return false
}
