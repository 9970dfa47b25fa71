package rootfs

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var cgroupSpecMount = specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
	Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}}

// hybridHost builds a fake host cgroup layout like this machine's, with
// cpu,cpuacct co-mounted to cover the merged case, under a temp dir so the
// bind sources exist.
func hybridHost(t *testing.T, f *fakeSys) string {
	host := t.TempDir()
	mk := func(name, vfs, fstype string, minor int) {
		mp := filepath.Join(host, name)
		f.mounts = append(f.mounts, &mountinfo.Info{Major: 0, Minor: minor, Root: "/", Mountpoint: mp, FSType: fstype, VFSOptions: vfs})
	}
	mk("cpu,cpuacct", "rw,cpu,cpuacct", "cgroup", 29)
	mk("memory", "rw,memory", "cgroup", 32)
	mk("systemd", "rw,xattr,release_agent=/bin/x,name=systemd", "cgroup", 37)
	mk("unified", "rw", "cgroup2", 38)
	// A copy of a hierarchy already inside the rootfs must be ignored.
	f.mounts = append(f.mounts, &mountinfo.Info{Minor: 99, Root: "/", Mountpoint: f.rootfs + "/sys/fs/cgroup/pids", FSType: "cgroup", VFSOptions: "rw,pids"})
	f.files["/proc/self/cgroup"] = "4:memory:/box/ctr\n2:cpu,cpuacct:/\n9:name=systemd:/sd\n0::/u\n"
	for _, d := range []string{"memory/box/ctr", "cpu,cpuacct", "systemd/sd", "unified/u"} {
		if err := os.MkdirAll(filepath.Join(host, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return host
}

func TestCgroupHybridBinds(t *testing.T) {
	b, f, rootfs := newTestBuilder(t, nil)
	host := hybridHost(t, f)
	if err := b.mountOne(cgroupSpecMount, nil); err != nil {
		t.Fatal(err)
	}
	remount := "mount - /sys/fs/cgroup/%s - ro|nosuid|nodev|noexec|remount|bind|relatime -"
	wantCalls(t, f.calls, []string{
		"mount tmpfs /sys/fs/cgroup tmpfs nosuid|nodev|noexec mode=755",
		"mount " + host + "/cpu,cpuacct /sys/fs/cgroup/cpu,cpuacct - bind|rec -",
		sprintf(remount, "cpu,cpuacct"),
		"mount " + host + "/memory/box/ctr /sys/fs/cgroup/memory - bind|rec -",
		sprintf(remount, "memory"),
		"mount " + host + "/systemd/sd /sys/fs/cgroup/systemd - bind|rec -",
		sprintf(remount, "systemd"),
		"mount " + host + "/unified/u /sys/fs/cgroup/unified - bind|rec -",
		sprintf(remount, "unified"),
		"mount - /sys/fs/cgroup - ro|nosuid|nodev|noexec|remount -",
	})
	for _, c := range []string{"cpu", "cpuacct"} {
		if got, err := os.Readlink(filepath.Join(rootfs, "sys/fs/cgroup", c)); err != nil || got != "cpu,cpuacct" {
			t.Errorf("%s -> %q, %v; want cpu,cpuacct", c, got, err)
		}
	}
}

func TestCgroupHybridWithCgroupNS(t *testing.T) {
	s := &specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: "cgroup"}}}}
	b, f, _ := newTestBuilder(t, s)
	hybridHost(t, f)
	if err := b.mountOne(cgroupSpecMount, nil); err != nil {
		t.Fatal(err)
	}
	flags := "ro|nosuid|nodev|noexec|relatime"
	wantCalls(t, f.calls, []string{
		"mount tmpfs /sys/fs/cgroup tmpfs nosuid|nodev|noexec mode=755",
		"mount cgroup /sys/fs/cgroup/cpu,cpuacct cgroup " + flags + " cpu,cpuacct",
		"mount cgroup /sys/fs/cgroup/memory cgroup " + flags + " memory",
		"mount cgroup /sys/fs/cgroup/systemd cgroup " + flags + " xattr,name=systemd",
		"mount cgroup2 /sys/fs/cgroup/unified cgroup2 " + flags + " -",
		"mount - /sys/fs/cgroup - ro|nosuid|nodev|noexec|remount -",
	})
}

func TestCgroupPureV2(t *testing.T) {
	b, f, _ := newTestBuilder(t, nil)
	f.mounts = []*mountinfo.Info{{Root: "/", Mountpoint: "/sys/fs/cgroup", FSType: "cgroup2", VFSOptions: "rw,nsdelegate"}}
	f.files["/proc/self/cgroup"] = "0::/x\n"
	if err := b.mountOne(cgroupSpecMount, nil); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, f.calls, []string{"mount cgroup2 /sys/fs/cgroup cgroup2 ro|nosuid|nodev|noexec|relatime -"})
}

func TestCgroupNoHierarchies(t *testing.T) {
	b, f, _ := newTestBuilder(t, nil)
	f.files["/proc/self/cgroup"] = ""
	if err := b.mountOne(cgroupSpecMount, nil); err == nil {
		t.Fatal("want ErrNoCgroupFS")
	}
}

func TestHostCgroupDirUsesMountRoot(t *testing.T) {
	mi := &mountinfo.Info{Root: "/box", Mountpoint: "/sys/fs/cgroup/memory", FSType: "cgroup", VFSOptions: "rw,memory"}
	got, err := hostCgroupDir(mi, map[string]string{"memory": "/box/ctr"})
	if err != nil || got != "/sys/fs/cgroup/memory/ctr" {
		t.Errorf("got %q, %v", got, err)
	}
}
