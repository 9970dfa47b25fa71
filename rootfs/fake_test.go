package rootfs

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// fakeSys records the privileged calls instead of making them. Targets
// given as /proc/self/fd/N are shown as the path the fd names, relative to
// the rootfs when inside it, so tests read like the container's view.
type fakeSys struct {
	t      *testing.T
	rootfs string
	calls  []string
	umask  int

	// mountErr, when set, decides the result of each mount call.
	mountErr    func(source, target, fstype string, flags uintptr) error
	mknodErr    error
	statfsFlags int64
	mounts      []*mountinfo.Info
	files       map[string]string
	kcore       bool
	// trees names the detached mounts openTree and fsmount handed out.
	trees map[int]string
}

func installFake(t *testing.T, rootfs string) *fakeSys {
	f := &fakeSys{t: t, rootfs: rootfs, umask: 0o022, files: map[string]string{}, trees: map[int]string{}}
	old := sys
	t.Cleanup(func() { sys = old })
	sys = sysOps{
		mount: func(source, target, fstype string, flags uintptr, data string) error {
			tg := f.show(target)
			f.record("mount %s %s %s %s %s", orDash(f.show(source)), tg, orDash(fstype), flagString(flags), orDash(data))
			if f.mountErr != nil {
				return f.mountErr(source, tg, fstype, flags)
			}
			return nil
		},
		unmount: func(target string, flags int) error {
			f.record("umount %s %#x", target, flags)
			return nil
		},
		mknodat: func(dirfd int, name string, mode uint32, dev int) error {
			f.record("mknod %s/%s %o %d:%d", f.fdPath(dirfd), name, mode, unix.Major(uint64(dev)), unix.Minor(uint64(dev)))
			return f.mknodErr
		},
		fchownat: func(dirfd int, name string, uid, gid, flags int) error {
			f.record("chown %s/%s %d:%d", f.fdPath(dirfd), name, uid, gid)
			return nil
		},
		pivotRoot: func(newroot, putold string) error {
			f.record("pivot_root %s %s", newroot, putold)
			return nil
		},
		chroot: func(p string) error { f.record("chroot %s", p); return nil },
		chdir:  func(p string) error { f.record("chdir %s", p); return nil },
		fchdir: func(fd int) error { f.record("fchdir %s", f.fdPath(fd)); return nil },
		statfs: func(p string, buf *unix.Statfs_t) error {
			buf.Flags = f.statfsFlags
			return nil
		},
		umask: func(m int) int { old := f.umask; f.umask = m; return old },
		mountSetattr: func(dirfd int, p string, flags uint, attr *unix.MountAttr) error {
			if name, ok := f.trees[dirfd]; ok && p == "" {
				p = name
			} else if p == "" && flags&unix.AT_EMPTY_PATH != 0 {
				p = f.fdPath(dirfd)
			} else {
				p = f.show(p)
			}
			f.record("setattr %s set=%#x clr=%#x", p, attr.Attr_set, attr.Attr_clr)
			return nil
		},
		moveMount: func(fromFd, toFd int) error {
			from, ok := f.trees[fromFd]
			if !ok {
				from = fmt.Sprintf("tree:%d", fromFd)
			}
			delete(f.trees, fromFd) // the caller closes it; the number comes back
			f.record("move_mount %s %s", from, f.show(fmt.Sprintf("/proc/self/fd/%d", toFd)))
			return nil
		},
		// Each tree is a real fd (a dup of the source, or of /), so the
		// code under test can close it, named after what it stands for.
		openTree: func(fd int, flags uint) (int, error) {
			src := f.fdPath(fd)
			kind := "clone"
			if flags&unix.AT_RECURSIVE != 0 {
				kind = "rclone"
			}
			nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
			if err != nil {
				f.t.Fatal(err)
			}
			f.trees[nfd] = "[" + kind + " " + src + "]"
			f.record("open_tree %s %s", src, kind)
			return nfd, nil
		},
		fsmount: func(fstype string, attrs int) (int, error) {
			nfd, err := unix.Open("/", unix.O_PATH|unix.O_CLOEXEC, 0)
			if err != nil {
				f.t.Fatal(err)
			}
			f.trees[nfd] = fmt.Sprintf("[new %s attrs=%#x]", fstype, attrs)
			f.record("fsmount %s attrs=%#x", fstype, attrs)
			return nfd, nil
		},
		mounts: func() ([]*mountinfo.Info, error) { return f.mounts, nil },
		readFile: func(p string) ([]byte, error) {
			if s, ok := f.files[p]; ok {
				return []byte(s), nil
			}
			return nil, os.ErrNotExist
		},
		exists: func(p string) bool { return p == "/proc/kcore" && f.kcore },
	}
	return f
}

func (f *fakeSys) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeSys) fdPath(fd int) string {
	p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		f.t.Fatalf("readlink fd %d: %v", fd, err)
	}
	return f.rel(p)
}

func (f *fakeSys) show(p string) string {
	if strings.HasPrefix(p, "/proc/self/fd/") {
		l, err := os.Readlink(p)
		if err != nil {
			f.t.Fatalf("readlink %s: %v", p, err)
		}
		p = l
	}
	return f.rel(p)
}

func (f *fakeSys) rel(p string) string {
	if f.rootfs == "" {
		return p
	}
	if p == f.rootfs {
		return "<rootfs>"
	}
	if strings.HasPrefix(p, f.rootfs+"/") {
		return strings.TrimPrefix(p, f.rootfs)
	}
	return p
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func wantCalls(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n  got:\n    %s\n  want:\n    %s", strings.Join(got, "\n    "), strings.Join(want, "\n    "))
	}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func mkdirAllPlain(d string) error { return os.MkdirAll(d, 0o755) }
