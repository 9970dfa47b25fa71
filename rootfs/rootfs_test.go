package rootfs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"

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

// finalizeRoot makes a container root for Finalize: the directories and
// files named (a trailing "/" marks a directory) and, as root, a real null
// device at /dev/null.
func finalizeRoot(t *testing.T, paths ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, p := range paths {
		full := filepath.Join(root, p)
		if strings.HasSuffix(p, "/") {
			mkdirs(t, full)
			continue
		}
		mkdirs(t, filepath.Dir(full))
		must(t, os.WriteFile(full, []byte("secret"), 0o644))
	}
	return root
}

func mknodDevNull(t *testing.T, root string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: mknod of a null device for the masks")
	}
	mkdirs(t, filepath.Join(root, "dev"))
	must(t, unix.Mknod(filepath.Join(root, "dev/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
}

func TestFinalizePlan(t *testing.T) {
	s := &specs.Spec{
		Root: &specs.Root{Readonly: true},
		Mounts: []specs.Mount{
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "ro"}},
		},
		Linux: &specs.Linux{
			MaskedPaths:       []string{"/proc/kcore", "/proc/acpi", "/proc/missing", "/proc/keys"},
			ReadonlyPaths:     []string{"/proc/sys", "/proc/gone"},
			RootfsPropagation: "rslave",
		},
	}
	root := finalizeRoot(t, "proc/kcore", "proc/keys", "proc/acpi/", "proc/sys/")
	mknodDevNull(t, root)
	f := installFake(t, root)
	f.statfsFlags = unix.ST_NOSUID | unix.ST_NODEV
	if err := finalizeIn(&Config{Spec: s, Rootfs: "/x/rootfs"}, root); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, f.calls, []string{
		// Every target and source is a handle: the clone and the masks are
		// moved onto the handle of the target.
		"open_tree /proc/sys rclone",
		"setattr [rclone /proc/sys] set=0x1 clr=0x0",
		"move_mount [rclone /proc/sys] /proc/sys",
		"open_tree /dev/null clone",
		"move_mount [clone /dev/null] /proc/kcore",
		"fsmount tmpfs attrs=0x1",
		"move_mount [new tmpfs attrs=0x1] /proc/acpi",
		"open_tree /dev/null clone", // /dev/null is checked once, cloned for each
		"move_mount [clone /dev/null] /proc/keys",
		"setattr /dev set=0x1 clr=0x0", // by handle, as a bind remount
		"mount - / - ro|nosuid|nodev|remount|bind -",
		"mount - / - rec|slave -",
	})
}

// CVE-2025-31133: the mask source is the container's /dev/null, and it
// must be the null device, checked on the handle that is then cloned. A
// regular file, or a symlink to /proc/sys/kernel/core_pattern, bound over
// a masked file would unmask it or make what it names writable there.
func TestMaskRefusesAFakeDevNull(t *testing.T) {
	for name, mk := range map[string]func(root string){
		"regular file": func(root string) {
			must(t, os.WriteFile(filepath.Join(root, "dev/null"), []byte("not null"), 0o666))
		},
		"symlink to core_pattern": func(root string) {
			mkdirs(t, filepath.Join(root, "proc/sys/kernel"))
			must(t, os.WriteFile(filepath.Join(root, "proc/sys/kernel/core_pattern"), []byte("core"), 0o644))
			must(t, os.Symlink("/proc/sys/kernel/core_pattern", filepath.Join(root, "dev/null")))
		},
		"symlink to a host path": func(root string) {
			must(t, os.Symlink("/etc/passwd", filepath.Join(root, "dev/null")))
			mkdirs(t, filepath.Join(root, "etc"))
			must(t, os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/:/bin/sh\n"), 0o644))
		},
		"directory": func(root string) { mkdirs(t, filepath.Join(root, "dev/null")) },
	} {
		t.Run(name, func(t *testing.T) {
			root := finalizeRoot(t, "proc/kcore", "dev/")
			mk(root)
			f := installFake(t, root)
			s := &specs.Spec{Linux: &specs.Linux{MaskedPaths: []string{"/proc/kcore"}}}
			err := finalizeIn(&Config{Spec: s, Rootfs: "/x/rootfs"}, root)
			if !errors.Is(err, ErrBadDevNull) {
				t.Errorf("err = %v, want ErrBadDevNull", err)
			}
			for _, c := range f.calls {
				if strings.HasPrefix(c, "open_tree") || strings.HasPrefix(c, "move_mount") {
					t.Errorf("mask made from a fake /dev/null: %s", c)
				}
			}
		})
	}
}

// A masked or read-only path that is a symlink is resolved inside the
// root: the mount lands on the file it names there, never outside.
func TestMaskTargetsStayInRoot(t *testing.T) {
	root := finalizeRoot(t, "inside/secret", "proc/")
	mknodDevNull(t, root)
	outside := t.TempDir()
	must(t, os.WriteFile(filepath.Join(outside, "host-file"), []byte("host"), 0o644))
	must(t, os.Symlink(filepath.Join(outside, "host-file"), filepath.Join(root, "proc/kcore")))
	must(t, os.Symlink("/inside/secret", filepath.Join(root, "proc/keys")))
	must(t, os.Symlink(outside, filepath.Join(root, "proc/sys")))
	f := installFake(t, root)
	s := &specs.Spec{Linux: &specs.Linux{
		MaskedPaths:   []string{"/proc/kcore", "/proc/keys"},
		ReadonlyPaths: []string{"/proc/sys"},
	}}
	if err := finalizeIn(&Config{Spec: s, Rootfs: "/x/rootfs"}, root); err != nil {
		t.Fatal(err)
	}
	// /proc/kcore and /proc/sys name nothing inside the root: no mask is
	// needed; /proc/keys names /inside/secret, which is masked.
	wantCalls(t, f.calls, []string{
		"open_tree /dev/null clone",
		"move_mount [clone /dev/null] /inside/secret",
	})
}

func TestFinalizeErrorNamesPath(t *testing.T) {
	s := &specs.Spec{Linux: &specs.Linux{MaskedPaths: []string{"/proc/acpi"}}}
	root := finalizeRoot(t, "proc/acpi/")
	f := installFake(t, root)
	_ = f
	sys.moveMount = func(int, int) error { return unix.EPERM }
	err := finalizeIn(&Config{Spec: s, Rootfs: "/x/rootfs"}, root)
	if want := "masked path /proc/acpi: operation not permitted"; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
}

func mkdirs(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		must(t, mkdirAllPlain(d))
	}
}
