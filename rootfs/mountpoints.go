package rootfs

import (
	"os"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stasis-oci/stasis/spec"
)

// CreateMountpoints makes sure every mount's target exists in the rootfs
// at rootfsPath (a directory, or an empty file for a bind of a file),
// resolving each inside the rootfs like Prepare does. Restore needs it:
// CRIU mounts into the rootfs it is given but creates no mount points,
// and a different bundle may lack them. Targets inside a tmpfs mount are
// skipped: CRIU restores a tmpfs with its contents.
func CreateMountpoints(rootfsPath string, mounts []specs.Mount) error {
	r, err := openRoot(rootfsPath)
	if err != nil {
		return err
	}
	defer r.Close()
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
