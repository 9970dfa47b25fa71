package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"github.com/cyphar/filepath-securejoin/pathrs-lite/procfs"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/spec"
)

// procFS is how the init reaches procfs files: through a procfs handle of
// its own, never through the path /proc. After pivot_root /proc is
// whatever the container's tree has there, and a createContainer hook or a
// mount propagated from elsewhere can have put a tmpfs or a bind of a host
// directory over it, or a file over one file in it (CVE-2025-52881): a
// write to /proc/sys/... or /proc/self/fd/N by path would then land in
// that file.
//
// h is pathrs-lite's handle: a private procfs it made with
// fsopen/fsmount, or a detached open_tree clone of /proc, which no mount
// of the container's can cover since no path leads to it; or, where both
// are refused (no CAP_SYS_ADMIN, an outer seccomp profile), the host's
// /proc itself. Every lookup goes through h's own resolver, which refuses
// to cross a mount (openat2 RESOLVE_NO_XDEV, or a mount-id check on each
// component), so a file bound over one in that /proc is refused, not
// opened. fds is h's self/fd, looked up when the handle is made, before
// any seccomp filter that could refuse the resolver's openat2 and statx.
type procFS struct {
	h   *procfs.Handle
	fds *os.File
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
	fds, err := h.OpenSelf("fd")
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("open a private procfs: self/fd: %w", err)
	}
	return &procFS{h: h, fds: fds}, nil
}

func (p *procFS) Close() error {
	p.fds.Close()
	return p.h.Close()
}

// open opens /proc/<sub> with flags. pathrs-lite's procfs resolver finds
// it (inside the handle, no magic link, no mount crossed); the O_PATH
// handle it gives is then reopened with the flags wanted.
func (p *procFS) open(sub string, flags int) (*os.File, error) {
	h, err := p.h.OpenRoot(sub)
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
// It goes through fds/N, not pathrs.Reopen: that picks its procfs afresh
// on each call, and once the init has dropped its capabilities (the exec
// fifo is reopened last, under the seccomp filter) it could only fall
// back to the container's /proc. fds is this process's fd table, the same
// from every thread, so no thread need be locked.
//
// The magic link fds/N must not be covered by a mount (checked by mount
// id where statx is allowed, as pathrs-lite's ReopenFd does), and what it
// opened must be f's own inode: on the host's /proc, the fallback, a file
// bound over the link would otherwise be what gets written.
func (p *procFS) reopen(f *os.File, flags int) (*os.File, error) {
	name := strconv.Itoa(int(f.Fd()))
	if err := p.checkNotCovered(name); err != nil {
		return nil, fmt.Errorf("reopen %s: %w", f.Name(), err)
	}
	var want, got unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &want); err != nil {
		return nil, fmt.Errorf("reopen %s: %w", f.Name(), err)
	}
	fd, err := unix.Openat(int(p.fds.Fd()), name, flags|unix.O_CLOEXEC, 0)
	runtime.KeepAlive(f)
	if err != nil {
		return nil, fmt.Errorf("reopen %s: %w", f.Name(), err)
	}
	if err := unix.Fstat(fd, &got); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("reopen %s: %w", f.Name(), err)
	}
	if got.Dev != want.Dev || got.Ino != want.Ino {
		unix.Close(fd)
		return nil, fmt.Errorf("reopen %s: /proc/self/fd/%s opened another file (%d:%d, not %d:%d): is something mounted over it?",
			f.Name(), name, got.Dev, got.Ino, want.Dev, want.Ino)
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// checkNotCovered compares the mount id of fds/name, the link itself,
// with fds' own. A filter that refuses statx (runtime-tools' default
// profile does) leaves only reopen's inode check.
func (p *procFS) checkNotCovered(name string) error {
	const mask = unix.STATX_MNT_ID
	var dir, link unix.Statx_t
	err := unix.Statx(int(p.fds.Fd()), "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, mask, &dir)
	if err == nil {
		err = unix.Statx(int(p.fds.Fd()), name, unix.AT_SYMLINK_NOFOLLOW, mask, &link)
	}
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) || dir.Mask&mask == 0 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mount id of /proc/self/fd/%s: %w", name, err)
	}
	if link.Mnt_id != dir.Mnt_id {
		return fmt.Errorf("/proc/self/fd/%s is covered by a mount (mount id %d, not %d)", name, link.Mnt_id, dir.Mnt_id)
	}
	return nil
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
