package cgroupmgr

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/moby/sys/mountinfo"
)

func fakeMounts(t *testing.T, ms []*mountinfo.Info, selfCgroup string) {
	old, oldSelf := getMounts, selfCgroupFile
	getMounts = func() ([]*mountinfo.Info, error) { return ms, nil }
	f := filepath.Join(t.TempDir(), "cgroup")
	if err := os.WriteFile(f, []byte(selfCgroup), 0o644); err != nil {
		t.Fatal(err)
	}
	selfCgroupFile = f
	t.Cleanup(func() { getMounts, selfCgroupFile = old, oldSelf })
}

func v1m(mp, opts string) *mountinfo.Info {
	return &mountinfo.Info{Mountpoint: mp, Root: "/", FSType: "cgroup", VFSOptions: "rw," + opts}
}

func TestDiscoverCoMountedLegacy(t *testing.T) {
	fakeMounts(t, []*mountinfo.Info{
		v1m("/sys/fs/cgroup/cpu,cpuacct", "cpu,cpuacct"),
		v1m("/sys/fs/cgroup/memory", "memory"),
		v1m("/sys/fs/cgroup/systemd", "xattr,name=systemd"),
		{Mountpoint: "/sys/fs/cgroup/unified", Root: "/", FSType: "cgroup2"},
	}, "3:cpu,cpuacct:/user.slice\n2:memory:/process_api/x\n1:name=systemd:/user.slice/s.scope\n0::/user.slice/s.scope\n")
	hs, err := discover(Legacy)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := hs[unifiedKey]; ok {
		t.Error("legacy mode picked up the v2 hierarchy")
	}
	own, err := ownCgroups(hs)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"cpu": "/user.slice", "cpuacct": "/user.slice", "memory": "/process_api/x", "name=systemd": "/user.slice/s.scope"}
	if !reflect.DeepEqual(own, want) {
		t.Fatalf("own %v", own)
	}
	detect := detectMode
	detectMode = func() Mode { return Legacy }
	t.Cleanup(func() { detectMode = detect })
	m, err := New("c", "ctr")
	if err != nil {
		t.Fatal(err)
	}
	if m.Path("cpu") != "/sys/fs/cgroup/cpu,cpuacct/user.slice/ctr" || m.Path("cpu") != m.Path("cpuacct") {
		t.Errorf("cpu %s cpuacct %s", m.Path("cpu"), m.Path("cpuacct"))
	}
	if m.Path("systemd") != "/sys/fs/cgroup/systemd/user.slice/s.scope/ctr" {
		t.Errorf("systemd %s", m.Path("systemd"))
	}
	// Co-mounted controllers share one dir: created and joined once.
	if n := len(m.(*manager).dirs()); n != 3 {
		t.Errorf("%d distinct dirs, want 3", n)
	}
}

func TestDiscoverHybridAndNestedMountRoot(t *testing.T) {
	fakeMounts(t, []*mountinfo.Info{
		{Mountpoint: "/sys/fs/cgroup/memory", Root: "/docker/abc", FSType: "cgroup", VFSOptions: "rw,memory"},
		{Mountpoint: "/sys/fs/cgroup/unified", Root: "/", FSType: "cgroup2"},
		{Mountpoint: "/elsewhere", Root: "/", FSType: "cgroup2"},
	}, "1:memory:/docker/abc/inner\n0::/\n")
	hs, err := discover(Hybrid)
	if err != nil {
		t.Fatal(err)
	}
	if hs[unifiedKey].mountpoint != "/sys/fs/cgroup/unified" {
		t.Errorf("unified at %q", hs[unifiedKey].mountpoint)
	}
	own, _ := ownCgroups(hs)
	if own["memory"] != "/inner" || own[unifiedKey] != "/" {
		t.Errorf("own %v", own)
	}
}
