package lifecycle

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/cyphar/filepath-securejoin/pathrs-lite/procfs"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/spec"
)

// procFS is how the init reaches procfs files: through a handle on a
// procfs root of its own, never through the path /proc. After pivot_root
// /proc is whatever the container's tree has there, and a createContainer
// hook or a mount propagated from elsewhere can have put a tmpfs or a
// bind of a host directory over it (CVE-2025-52881): a write to
// /proc/sys/... or /proc/self/fd/N by path would then land in that
// directory's files.
//
// The root is a directory handle. In the init it is a private procfs
// instance that pathrs-lite made with fsopen/fsmount (or a detached
// open_tree clone of /proc where that is refused), which no mount of the
// container's can cover since no path leads to it; tests hand it a
// directory of their own.
type procFS struct {
	root *os.File
}

// openProcFS makes the init's procfs handle. unmasked is for sysctls:
// pathrs-lite's default instance is subset=pid, which has no /proc/sys,
// and an unmasked one should live no longer than its use (a process that
// could reach the init's fds would find an uncovered /proc there).
func openProcFS(unmasked bool) (*procFS, error) {
	open := procfs.OpenProcRoot
	if unmasked {
		open = procfs.OpenUnsafeProcRoot
	}
	h, err := open()
	if err != nil {
		return nil, fmt.Errorf("open a private procfs: %w", err)
	}
	defer h.Close()
	root, err := h.OpenRoot(".")
	if err != nil {
		return nil, fmt.Errorf("open a private procfs: root: %w", err)
	}
	return &procFS{root: root}, nil
}

func (p *procFS) Close() error { return p.root.Close() }

// open opens /proc/<sub> with flags. The lookup stays inside the root and
// follows no magic link (pathrs-lite); the O_PATH handle it gives is then
// reopened with the flags wanted.
func (p *procFS) open(sub string, flags int) (*os.File, error) {
	h, err := pathrs.OpenatInRoot(p.root, sub)
	if err != nil {
		return nil, fmt.Errorf("open /proc/%s: %w", sub, err)
	}
	defer h.Close()
	f, err := p.reopen(h, flags)
	if err != nil {
		return nil, fmt.Errorf("open /proc/%s: %w", sub, err)
	}
	return f, nil
}

// reopen opens the file f refers to anew, with flags: an O_PATH handle
// (the exec fifo, a handle open found) becomes one that can be written.
// It goes through this root's thread-self/fd, not through pathrs.Reopen:
// that picks its procfs afresh on each call, and once the init has
// dropped its capabilities (the exec fifo is reopened last, under the
// seccomp filter) it could only fall back to the container's /proc.
func (p *procFS) reopen(f *os.File, flags int) (*os.File, error) {
	// thread-self names this thread: keep it the one that opens.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	name := "thread-self/fd/" + strconv.Itoa(int(f.Fd()))
	fd, err := unix.Openat(int(p.root.Fd()), name, flags|unix.O_CLOEXEC, 0)
	runtime.KeepAlive(f)
	if err != nil {
		return nil, fmt.Errorf("reopen %s: %w", f.Name(), err)
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// write writes data to /proc/<sub>, as one write(2): procfs files act on
// each write as a whole.
func (p *procFS) write(sub, data string) error {
	f, err := p.open(sub, unix.O_WRONLY|unix.O_TRUNC)
	if err != nil {
		return err
	}
	_, err = f.WriteString(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write /proc/%s: %w", sub, err)
	}
	return nil
}

// writeSysctls sets linux.sysctl through p, each key turned into its path
// by spec.SysctlPath.
func writeSysctls(p *procFS, sysctls map[string]string) error {
	for key, val := range sysctls {
		path, err := spec.SysctlPath(key)
		if err != nil {
			return err
		}
		if err := p.write("sys/"+path, val); err != nil {
			return fmt.Errorf("set sysctl %s=%s: %w", key, val, err)
		}
	}
	return nil
}

// setOOMScoreAdj writes the init's own oom_score_adj, which the user
// process inherits.
func setOOMScoreAdj(p *procFS, adj int) error {
	if err := p.write("self/oom_score_adj", strconv.Itoa(adj)); err != nil {
		return fmt.Errorf("set oom_score_adj %d: %w", adj, err)
	}
	return nil
}
