package rootfs

import (
	"errors"
	"github.com/moby/sys/mountinfo"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestPrepareSequence(t *testing.T) {
	rootfs := filepath.Join(t.TempDir(), "a", "rootfs")
	s := &specs.Spec{
		Mounts: []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
		Linux:  &specs.Linux{},
	}
	f := installFake(t, rootfs)
	mkdirs(t, rootfs)
	parent := filepath.Dir(rootfs)
	f.mountErr = func(_, target, _ string, flags uintptr) error {
		// Only the rootfs's grandparent is a mount point.
		if flags == unix.MS_PRIVATE && target != filepath.Dir(parent) {
			return unix.EINVAL
		}
		return nil
	}
	if err := Prepare(&Config{Spec: s, Rootfs: rootfs}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"mount - / - rec|slave -",
		"mount - <rootfs> - private -",
		"mount - " + parent + " - private -",
		"mount - " + filepath.Dir(parent) + " - private -",
		"mount <rootfs> <rootfs> bind bind|rec -",
		"mount proc /proc proc 0 -",
	}
	for _, d := range defaultDevices {
		want = append(want, "mknod "+d.Path+" 20666 "+sprintf("%d:%d", d.Major, d.Minor), "chown "+d.Path+" 0:0")
	}
	want = append(want,
		"fchdir <rootfs>",
		"pivot_root . .",
		"fchdir /",
		"mount - . - rec|slave -",
		"umount . 0x2",
		"chdir /",
	)
	wantCalls(t, f.calls, want)
}

func TestPrepareNoPivotAndPropagation(t *testing.T) {
	rootfs := t.TempDir()
	s := &specs.Spec{
		Mounts: []specs.Mount{{Destination: "/dev", Type: "bind", Source: "/dev", Options: []string{"rbind"}}},
		Linux:  &specs.Linux{RootfsPropagation: "rshared"},
	}
	f := installFake(t, rootfs)
	if err := Prepare(&Config{Spec: s, Rootfs: rootfs, NoPivot: true}); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, f.calls, []string{
		"mount - / - rec|shared -",
		"mount - <rootfs> - private -",
		"mount <rootfs> <rootfs> bind bind|rec -",
		"mount /dev /dev - bind|rec -", // host /dev bound: no nodes, no links
		"chdir " + rootfs,
		"mount <rootfs> / - move -",
		"chroot .",
		"chdir /",
	})
}

// With --no-pivot the host's full proc and sysfs mounts stay in the
// container's mount namespace, and the kernel would let a user namespace
// in it mount a bare proc: they are detached before the move, and only
// they (not partial binds, not the container's own).
func TestNoPivotHidesFullProcAndSysfs(t *testing.T) {
	rootfs := t.TempDir()
	f := installFake(t, rootfs)
	f.mounts = []*mountinfo.Info{
		{Mountpoint: "/proc", FSType: "proc", Root: "/"},
		{Mountpoint: "/sys", FSType: "sysfs", Root: "/"},
		{Mountpoint: "/srv/proc-sys", FSType: "proc", Root: "/sys"},
		{Mountpoint: rootfs + "/proc", FSType: "proc", Root: "/"},
		{Mountpoint: "/tmp", FSType: "tmpfs", Root: "/"},
	}
	if err := Prepare(&Config{Spec: &specs.Spec{}, Rootfs: rootfs, NoPivot: true}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range f.calls {
		if strings.Contains(c, "slave") && !strings.HasPrefix(c, "mount - / ") || strings.HasPrefix(c, "umount") ||
			strings.HasPrefix(c, "mount <rootfs> / ") {
			got = append(got, c)
		}
	}
	wantCalls(t, got, []string{
		"mount - /proc - rec|slave -",
		"umount /proc 0x2",
		"mount - /sys - rec|slave -",
		"umount /sys 0x2",
		"mount <rootfs> / - move -",
	})
}

// Without a mount namespace nothing but the rootfs's own self-bind and
// what lies under it may change, and --no-pivot must not move the rootfs
// over the host's "/".
func TestPrepareInHostMountNamespace(t *testing.T) {
	rootfs := t.TempDir()
	s := &specs.Spec{
		Mounts: []specs.Mount{{Destination: "/dev", Type: "bind", Source: "/dev", Options: []string{"rbind"}}},
		Linux:  &specs.Linux{},
	}
	f := installFake(t, rootfs)
	hooked := false
	c := &Config{Spec: s, Rootfs: rootfs, NoPivot: true, HostMountNS: true,
		BeforePivot: func() error { hooked = true; return nil }}
	if err := Prepare(c); err != nil {
		t.Fatal(err)
	}
	if !hooked {
		t.Error("BeforePivot did not run")
	}
	wantCalls(t, f.calls, []string{
		"mount <rootfs> <rootfs> bind bind|rec -",
		"mount /dev /dev - bind|rec -",
		"chdir " + rootfs,
		"chroot .",
		"chdir /",
	})
}

func TestPrepareErrors(t *testing.T) {
	rootfs := t.TempDir()
	f := installFake(t, rootfs)
	f.mountErr = func(_, _, _ string, flags uintptr) error {
		if flags&unix.MS_BIND != 0 {
			return unix.EACCES
		}
		return nil
	}
	err := Prepare(&Config{Spec: &specs.Spec{}, Rootfs: rootfs})
	if want := "bind mount rootfs " + rootfs + " onto itself: permission denied"; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
	if err := Prepare(&Config{Spec: &specs.Spec{}, Rootfs: "rel/path"}); err == nil {
		t.Error("relative rootfs accepted")
	}
	s := &specs.Spec{Linux: &specs.Linux{RootfsPropagation: "sideways"}}
	if err := Prepare(&Config{Spec: s, Rootfs: rootfs}); !errors.Is(err, ErrBadPropagation) {
		t.Errorf("err = %v, want ErrBadPropagation", err)
	}
}

func TestPivotRootError(t *testing.T) {
	rootfs := t.TempDir()
	installFake(t, rootfs)
	sys.pivotRoot = func(string, string) error { return unix.EINVAL }
	err := pivotRoot(rootfs)
	if want := "pivot_root " + rootfs + ": invalid argument"; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
}

func TestFinalizePlan(t *testing.T) {
	s := &specs.Spec{
		Root: &specs.Root{Readonly: true},
		Mounts: []specs.Mount{
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "ro"}},
		},
		Linux: &specs.Linux{
			MaskedPaths:       []string{"/proc/kcore", "/proc/acpi", "/proc/missing"},
			ReadonlyPaths:     []string{"/proc/sys", "/proc/gone"},
			RootfsPropagation: "rslave",
		},
	}
	f := installFake(t, "")
	f.statRes["/proc/kcore"] = fakeInfo{}
	f.statRes["/proc/acpi"] = fakeInfo{dir: true}
	f.statRes["/proc/sys"] = fakeInfo{dir: true}
	f.statfsFlags = unix.ST_NOSUID | unix.ST_NODEV
	if err := Finalize(&Config{Spec: s, Rootfs: "/x/rootfs"}); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, f.calls, []string{
		"mount /proc/sys /proc/sys - bind|rec -",
		"mount - /proc/sys - ro|nosuid|nodev|remount|bind -",
		"mount /dev/null /proc/kcore - bind -",
		"mount tmpfs /proc/acpi tmpfs ro -",
		"mount - /dev - ro|nosuid|remount -",
		"mount - / - ro|nosuid|nodev|remount|bind -",
		"mount - / - rec|slave -",
	})
}

func TestFinalizeErrorNamesPath(t *testing.T) {
	s := &specs.Spec{Linux: &specs.Linux{MaskedPaths: []string{"/proc/kcore"}}}
	f := installFake(t, "")
	f.statRes["/proc/kcore"] = fakeInfo{}
	f.mountErr = func(string, string, string, uintptr) error { return unix.EPERM }
	err := Finalize(&Config{Spec: s, Rootfs: "/x/rootfs"})
	if want := "masked path /proc/kcore: operation not permitted"; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
}

func mkdirs(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		must(t, mkdirAllPlain(d))
	}
}
