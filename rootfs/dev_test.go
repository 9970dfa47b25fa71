package rootfs

import (
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func u32(v uint32) *uint32 { return &v }

func TestDevicePlan(t *testing.T) {
	mode := os.FileMode(0o600)
	s := &specs.Spec{Linux: &specs.Linux{Devices: []specs.LinuxDevice{
		{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, FileMode: &mode, UID: u32(7), GID: u32(8)},
		{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229},
		{Path: "/dev/sda", Type: "b", Major: 8, Minor: 0},
	}}}
	plan := devicePlan(s)
	var paths []string
	for _, d := range plan {
		paths = append(paths, d.Path)
	}
	wantCalls(t, paths, []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/fuse", "/dev/sda"})
	if d := plan[0]; d.Mode != 0o600 || d.UID != 7 || d.GID != 8 {
		t.Errorf("override of /dev/null lost: %+v", d)
	}
	if d := plan[6]; d.Mode != 0o666 || d.UID != 0 {
		t.Errorf("spec device defaults: %+v, want mode 0666 owned by root", d)
	}
}

func TestNeedsDevSetup(t *testing.T) {
	s := &specs.Spec{Mounts: []specs.Mount{{Destination: "/dev", Type: "tmpfs", Source: "tmpfs"}}}
	if !needsDevSetup(s) {
		t.Error("tmpfs /dev needs device nodes")
	}
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/dev/", Source: "/dev", Type: "none", Options: []string{"rbind"}})
	if needsDevSetup(s) {
		t.Error("a bind of the host's /dev must not get nodes created in it")
	}
}

func TestSetupDevMknod(t *testing.T) {
	s := &specs.Spec{Linux: &specs.Linux{Devices: []specs.LinuxDevice{
		{Path: "/dev/net/tun", Type: "c", Major: 10, Minor: 200, UID: u32(1), GID: u32(2)},
		{Path: "/dev/fifo", Type: "p"},
	}}}
	b, f, rootfs := newTestBuilder(t, s)
	if err := b.setupDev(); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, f.calls, []string{
		"mknod /dev/null 20666 1:3", "chown /dev/null 0:0",
		"mknod /dev/zero 20666 1:5", "chown /dev/zero 0:0",
		"mknod /dev/full 20666 1:7", "chown /dev/full 0:0",
		"mknod /dev/random 20666 1:8", "chown /dev/random 0:0",
		"mknod /dev/urandom 20666 1:9", "chown /dev/urandom 0:0",
		"mknod /dev/tty 20666 5:0", "chown /dev/tty 0:0",
		"mknod /dev/net/tun 20666 10:200", "chown /dev/net/tun 1:2",
		"mknod /dev/fifo 10666 0:0", "chown /dev/fifo 0:0",
	})
	if f.umask != 0o022 {
		t.Errorf("umask left at %o", f.umask)
	}
	checkDevLinks(t, rootfs, false)
}

func checkDevLinks(t *testing.T, rootfs string, core bool) {
	t.Helper()
	want := map[string]string{
		"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
		"stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx",
	}
	if core {
		want["core"] = "/proc/kcore"
	}
	for name, target := range want {
		if got, err := os.Readlink(filepath.Join(rootfs, "dev", name)); err != nil || got != target {
			t.Errorf("/dev/%s -> %q, %v; want %q", name, got, err, target)
		}
	}
	if !core {
		if _, err := os.Lstat(filepath.Join(rootfs, "dev/core")); err == nil {
			t.Error("/dev/core created though /proc/kcore does not exist")
		}
	}
}

func TestSetupDevUserNSBindsHostNodes(t *testing.T) {
	s := &specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: "user"}}}}
	b, f, rootfs := newTestBuilder(t, s)
	f.kcore = true
	// An image's own /dev/ptmx is replaced by the devpts link.
	if err := os.MkdirAll(filepath.Join(rootfs, "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "dev/ptmx"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := b.setupDev(); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, d := range defaultDevices {
		want = append(want, "mount "+d.Path+" "+d.Path+" bind bind -")
		fi, err := os.Stat(filepath.Join(rootfs, d.Path))
		if err != nil || !fi.Mode().IsRegular() {
			t.Errorf("placeholder %s: %v, %v; want an empty file", d.Path, fi, err)
		}
	}
	wantCalls(t, f.calls, want)
	checkDevLinks(t, rootfs, true)
}

func TestSetupDevMknodEPERMFallsBackToBind(t *testing.T) {
	b, f, _ := newTestBuilder(t, nil)
	f.mknodErr = unix.EPERM
	if err := b.createDevice(defaultDevices[0]); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, f.calls, []string{"mknod /dev/null 20666 1:3", "mount /dev/null /dev/null bind bind -"})
}

func TestSetupDevErrors(t *testing.T) {
	b, f, _ := newTestBuilder(t, nil)
	f.mknodErr = unix.EINVAL
	err := b.createDevice(defaultDevices[0])
	if err == nil || err.Error() != "mknod /dev/null: invalid argument" {
		t.Errorf("err = %v", err)
	}
	f.mknodErr = unix.EEXIST
	if err := b.createDevice(defaultDevices[0]); err != nil {
		t.Errorf("an existing node must be kept: %v", err)
	}
}
