package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/spec"
)

// ErrProcMount rejects a mount over /proc or inside it: covering procfs
// files (e.g. /proc/self/attr, /proc/sys) is how several container escapes
// worked, so only procfs itself and the files lxcfs emulates are allowed.
var ErrProcMount = errors.New("mount over /proc not allowed")

// ErrSymlinkDest rejects a proc or sysfs mount whose destination is not a
// plain directory (e.g. a symlink): the checks above assume the mount
// lands where its name says.
// The wording is runc's, which users and tests match on.
var ErrSymlinkDest = errors.New("must be mounted on ordinary directory (a proc or sysfs destination may not be a symlink or a file)")

// lxcfsProcFiles are the /proc entries runc lets images cover (lxcfs).
var lxcfsProcFiles = map[string]bool{
	"/proc/cpuinfo": true, "/proc/diskstats": true, "/proc/meminfo": true,
	"/proc/stat": true, "/proc/swaps": true, "/proc/uptime": true,
	"/proc/loadavg": true, "/proc/slabinfo": true, "/proc/net/dev": true,
	"/proc/sys/kernel/ns_last_pid": true,
}

// checkDest applies runc's destination rules to where the mount will
// really land, i.e. after in-root symlink resolution.
func (b *builder) checkDest(m specs.Mount) error {
	dest := cleanDest(m.Destination)
	resolved := dest
	if joined, err := securejoin.SecureJoin(b.r.path, dest); err == nil {
		if rel, err := filepath.Rel(b.r.path, joined); err == nil {
			resolved = cleanDest(rel)
		}
	}
	if m.Type == "proc" || m.Type == "sysfs" {
		fi, err := os.Lstat(filepath.Join(b.r.path, resolved))
		if resolved != dest || (err == nil && !fi.IsDir()) {
			return fmt.Errorf("mount %s on %s: %w", m.Type, m.Destination, ErrSymlinkDest)
		}
	}
	switch {
	case resolved == "/proc":
		if m.Type == "proc" || (spec.IsBind(m) && isProcfs(m.Source)) {
			return nil
		}
	case strings.HasPrefix(resolved, "/proc/"):
		if lxcfsProcFiles[resolved] {
			return nil
		}
	default:
		return nil
	}
	return fmt.Errorf("mount %s on %s (resolves to %s): %w", m.Type, m.Destination, resolved, ErrProcMount)
}

func isProcfs(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.PROC_SUPER_MAGIC
}
