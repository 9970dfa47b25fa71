package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// newTestBuilder gives a builder over a temp rootfs with the fake seam.
func newTestBuilder(t *testing.T, s *specs.Spec) (*builder, *fakeSys, string) {
	t.Helper()
	rootfs := t.TempDir()
	f := installFake(t, rootfs)
	r, err := openRoot(rootfs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if s == nil {
		s = &specs.Spec{Linux: &specs.Linux{}}
	}
	return newBuilder(&Config{Spec: s, Rootfs: rootfs}, r), f, rootfs
}

func TestBindMountSequence(t *testing.T) {
	b, f, rootfs := newTestBuilder(t, nil)
	src := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(src, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := b.mountOne(specs.Mount{Destination: "/etc/conf", Type: "none", Source: src,
		Options: []string{"bind", "ro", "nosuid", "rprivate"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantCalls(t, f.calls, []string{
		"mount " + src + " /etc/conf - bind -",
		"mount - /etc/conf - ro|nosuid|remount|bind -",
		"mount - /etc/conf - rec|private -",
	})
	// A file source needs a file mount point.
	if fi, err := os.Stat(filepath.Join(rootfs, "etc/conf")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("mount point: %v, %v; want a regular file", fi, err)
	}
}

// An id-mapped bind moves the parent's clone into place instead of
// binding the source; the flags and propagation follow as for any bind.
func TestIDMappedBindMovesTheClone(t *testing.T) {
	b, f, _ := newTestBuilder(t, nil)
	src := t.TempDir()
	tree, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer tree.Close()
	m := specs.Mount{Destination: "/data", Type: "bind", Source: src, Options: []string{"rbind", "ro", "rprivate"},
		UIDMappings: []specs.LinuxIDMapping{{HostID: 1000, Size: 1}}, GIDMappings: []specs.LinuxIDMapping{{HostID: 1000, Size: 1}}}
	if err := b.mountOne(m, tree); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, f.calls, []string{
		fmt.Sprintf("move_mount tree:%d /data", tree.Fd()),
		"mount - /data - ro|remount|bind -",
		"mount - /data - rec|private -",
	})
	f.calls = nil
	if err := b.mountOne(m, nil); err == nil || len(f.calls) != 0 {
		t.Fatalf("id-mapped mount without its clone: err %v, calls %v; want an error and no mount", err, f.calls)
	}
}

func TestBindWithoutFlagsIsOneCall(t *testing.T) {
	b, f, rootfs := newTestBuilder(t, nil)
	src := t.TempDir()
	if err := b.mountOne(specs.Mount{Destination: "/data", Type: "bind", Source: src, Options: []string{"rbind"}}, nil); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, f.calls, []string{"mount " + src + " /data - bind|rec -"})
	if fi, err := os.Stat(filepath.Join(rootfs, "data")); err != nil || !fi.IsDir() {
		t.Errorf("mount point: %v, %v; want a directory", fi, err)
	}
}

func TestBindRemountKeepsLockedFlags(t *testing.T) {
	b, f, _ := newTestBuilder(t, nil)
	src := t.TempDir()
	f.statfsFlags = unix.ST_NODEV | unix.ST_NOEXEC | unix.ST_RELATIME
	first := true
	f.mountErr = func(_, _, _ string, flags uintptr) error {
		if flags&unix.MS_REMOUNT != 0 && first {
			first = false
			return unix.EPERM
		}
		return nil
	}
	if err := b.mountOne(specs.Mount{Destination: "/data", Type: "bind", Source: src, Options: []string{"rbind", "ro"}}, nil); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, f.calls, []string{
		"mount " + src + " /data - bind|rec -",
		"mount - /data - ro|remount|bind -",
		"mount - /data - ro|nodev|noexec|remount|bind|relatime -",
	})
}

func TestBindRemountRefusesToKeepClearedLockedFlag(t *testing.T) {
	b, f, _ := newTestBuilder(t, nil)
	src := t.TempDir()
	f.statfsFlags = unix.ST_NODEV
	f.mountErr = func(_, _, _ string, flags uintptr) error {
		if flags&unix.MS_REMOUNT != 0 {
			return unix.EPERM
		}
		return nil
	}
	err := b.mountOne(specs.Mount{Destination: "/data", Type: "bind", Source: src, Options: []string{"rbind", "ro", "dev"}}, nil)
	if !errors.Is(err, unix.EPERM) {
		t.Fatalf("err = %v, want EPERM (dev was asked for but is locked)", err)
	}
	if got, want := err.Error(), "remount /data (ro|remount|bind): operation not permitted"; got != want {
		t.Errorf("err = %q, want %q", got, want)
	}
}

func TestRecursiveAttrs(t *testing.T) {
	b, f, _ := newTestBuilder(t, nil)
	src := t.TempDir()
	if err := b.mountOne(specs.Mount{Destination: "/data", Type: "bind", Source: src, Options: []string{"rbind", "rro"}}, nil); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, f.calls, []string{
		"mount " + src + " /data - bind|rec -",
		"setattr /data set=0x1 clr=0x0",
	})
}

func TestTmpfsReadonlyIsRemountedAfterChmod(t *testing.T) {
	b, f, rootfs := newTestBuilder(t, nil)
	if err := os.Mkdir(filepath.Join(rootfs, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	if err := b.mountOne(specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"ro", "nosuid", "size=1m"}}, nil); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, f.calls, []string{
		"mount tmpfs /tmp tmpfs nosuid size=1m",
		"mount - /tmp - ro|nosuid|remount -",
	})
}

func TestDevReadonlyWaitsForFinalize(t *testing.T) {
	b, f, _ := newTestBuilder(t, nil)
	if err := b.mountOne(specs.Mount{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"ro", "mode=755"}}, nil); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, f.calls, []string{"mount tmpfs /dev tmpfs 0 mode=755"})
}

func TestPlainMountsPassOptions(t *testing.T) {
	b, f, _ := newTestBuilder(t, nil)
	for _, m := range []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev", "rslave"}},
		{Destination: "/x", Type: "weirdfs", Source: "", Options: []string{"ro", "foo=bar"}},
	} {
		if err := b.mountOne(m, nil); err != nil {
			t.Fatal(err)
		}
	}
	wantCalls(t, f.calls, []string{
		"mount proc /proc proc 0 -",
		"mount devpts /dev/pts devpts nosuid|noexec newinstance,ptmxmode=0666,mode=0620,gid=5",
		"mount mqueue /dev/mqueue mqueue nosuid|nodev|noexec -",
		"mount - /dev/mqueue - rec|slave -",
		"mount weirdfs /x weirdfs ro foo=bar",
	})
}

func TestMountErrorNamesWhatFailed(t *testing.T) {
	b, f, _ := newTestBuilder(t, nil)
	f.mountErr = func(string, string, string, uintptr) error { return unix.EPERM }
	err := b.mountOne(specs.Mount{Destination: "/proc", Type: "proc", Source: "proc"}, nil)
	if got, want := err.Error(), "mount proc on /proc: operation not permitted"; got != want {
		t.Errorf("err = %q, want %q", got, want)
	}
}

func TestSysfsFallsBackToHostSys(t *testing.T) {
	m := specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}}
	b, f, _ := newTestBuilder(t, nil)
	f.mountErr = func(_, _, fstype string, _ uintptr) error {
		if fstype == "sysfs" {
			return unix.EPERM
		}
		return nil
	}
	if err := b.mountOne(m, nil); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, f.calls, []string{
		"mount sysfs /sys sysfs ro|nosuid|nodev|noexec -",
		"mount /sys /sys - bind|rec -",
		"mount - /sys - ro|nosuid|nodev|noexec|remount|bind -",
	})

	// With a network namespace of its own, EPERM is a real error.
	s := &specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: "network"}}}}
	b, f, _ = newTestBuilder(t, s)
	f.mountErr = func(string, string, string, uintptr) error { return unix.EPERM }
	err := b.mountOne(m, nil)
	if err == nil || err.Error() != "mount sysfs on /sys: operation not permitted" {
		t.Errorf("err = %v, want the sysfs EPERM", err)
	}
}

func TestSymlinkCannotEscapeRootfs(t *testing.T) {
	b, f, rootfs := newTestBuilder(t, nil)
	if err := os.Symlink("/", filepath.Join(rootfs, "etc")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(rootfs, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../tmp", filepath.Join(rootfs, "up")); err != nil {
		t.Fatal(err)
	}
	for _, dest := range []string{"/etc/stasis-escape/x", "/up/stasis-escape2", "/../../stasis-escape3"} {
		if err := b.mountOne(specs.Mount{Destination: dest, Type: "tmpfs", Source: "tmpfs"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	wantCalls(t, f.calls, []string{
		"mount tmpfs /stasis-escape/x tmpfs 0 -",
		"mount tmpfs /tmp/stasis-escape2 tmpfs 0 -",
		"mount tmpfs /stasis-escape3 tmpfs 0 -",
	})
	for _, p := range []string{"/stasis-escape", "/tmp/stasis-escape2", "/stasis-escape3"} {
		if _, err := os.Lstat(p); err == nil {
			os.RemoveAll(p)
			t.Errorf("%s was created on the host", p)
		}
	}
}

func TestDanglingSymlinkMountPointIsCreatedInside(t *testing.T) {
	b, f, rootfs := newTestBuilder(t, nil)
	must(t, os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755))
	must(t, os.Symlink("../run/resolv.conf", filepath.Join(rootfs, "etc/resolv.conf")))
	must(t, os.Symlink("/../../stasis-dangling-dir", filepath.Join(rootfs, "data")))
	src := filepath.Join(t.TempDir(), "resolv.conf")
	must(t, os.WriteFile(src, nil, 0o644))
	if err := b.mountOne(specs.Mount{Destination: "/etc/resolv.conf", Type: "bind", Source: src, Options: []string{"rbind"}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.mountOne(specs.Mount{Destination: "/data", Type: "tmpfs", Source: "tmpfs"}, nil); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, f.calls, []string{
		"mount " + src + " /run/resolv.conf - bind|rec -",
		"mount tmpfs /stasis-dangling-dir tmpfs 0 -",
	})
	if fi, err := os.Stat(filepath.Join(rootfs, "run/resolv.conf")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("run/resolv.conf: %v, %v", fi, err)
	}
	if _, err := os.Lstat("/stasis-dangling-dir"); err == nil {
		os.Remove("/stasis-dangling-dir")
		t.Error("dangling symlink was followed out of the rootfs")
	}
}

func TestProcDestinationRules(t *testing.T) {
	b, _, rootfs := newTestBuilder(t, nil)
	must(t, os.MkdirAll(filepath.Join(rootfs, "proc"), 0o755))
	must(t, os.Symlink("proc", filepath.Join(rootfs, "p")))
	must(t, os.Symlink("/proc", filepath.Join(rootfs, "sys")))
	src := t.TempDir()
	cases := []struct {
		m    specs.Mount
		want error
	}{
		{specs.Mount{Destination: "/proc", Type: "proc"}, nil},
		{specs.Mount{Destination: "/proc", Type: "tmpfs"}, ErrProcMount},
		{specs.Mount{Destination: "/proc/self/attr", Type: "tmpfs"}, ErrProcMount},
		{specs.Mount{Destination: "/p/sys", Type: "bind", Source: src}, ErrProcMount},
		{specs.Mount{Destination: "/proc/meminfo", Type: "bind", Source: src}, nil},
		{specs.Mount{Destination: "/proc", Type: "bind", Source: src}, ErrProcMount},
		{specs.Mount{Destination: "/p", Type: "proc"}, ErrSymlinkDest},
		{specs.Mount{Destination: "/sys", Type: "sysfs"}, ErrSymlinkDest},
	}
	for _, c := range cases {
		if err := b.checkDest(c.m); !errors.Is(err, c.want) {
			t.Errorf("%s %s: err = %v, want %v", c.m.Type, c.m.Destination, err, c.want)
		}
	}
}
