package checkpoint

import (
	"reflect"
	"testing"

	"github.com/moby/sys/mountinfo"
)

func TestYardLinks(t *testing.T) {
	hybrid := []*mountinfo.Info{
		{Mountpoint: "/sys/fs/cgroup/unified", Root: "/", FSType: "cgroup2", VFSOptions: "rw,nsdelegate"},
		{Mountpoint: "/sys/fs/cgroup/systemd", Root: "/", FSType: "cgroup", VFSOptions: "rw,xattr,name=systemd"},
		{Mountpoint: "/sys/fs/cgroup/cpu,cpuacct", Root: "/", FSType: "cgroup", VFSOptions: "rw,cpu,cpuacct"},
		{Mountpoint: "/sys/fs/cgroup/memory", Root: "/", FSType: "cgroup", VFSOptions: "rw,memory"},
		// A second mount of memory below its root (a bind of a subtree):
		// never the yard's.
		{Mountpoint: "/run/sub/memory", Root: "/sub", FSType: "cgroup", VFSOptions: "rw,memory"},
	}
	for _, c := range []struct {
		name   string
		cgroup string
		mounts []*mountinfo.Info
		want   map[string]string
	}{
		{"hybrid", "3:cpu,cpuacct:/c1\n2:memory:/c1\n1:name=systemd:/c1\n0::/c1\n", hybrid, map[string]string{
			"cpu,cpuacct": "/sys/fs/cgroup/cpu,cpuacct", "memory": "/sys/fs/cgroup/memory",
			"systemd": "/sys/fs/cgroup/systemd", "unified": "/sys/fs/cgroup/unified",
		}},
		{"v2 only", "0::/c1\n", []*mountinfo.Info{{Mountpoint: "/sys/fs/cgroup", Root: "/", FSType: "cgroup2"}},
			map[string]string{"unified": "/sys/fs/cgroup"}},
		{"a hierarchy mounted only below its root: CRIU mounts", "2:memory:/c1\n", hybrid[4:], nil},
		{"cpu alone is not the cpu,cpuacct hierarchy", "3:cpu:/c1\n", hybrid, nil},
		{"a controller not mounted: CRIU mounts", "4:pids:/c1\n0::/c1\n", hybrid, nil},
		{"a hostile name", "4:name=../x:/c1\n", []*mountinfo.Info{{Mountpoint: "/x", Root: "/", FSType: "cgroup", VFSOptions: "rw,name=../x"}}, nil},
		{"nothing", "", hybrid, nil},
	} {
		got, ok := yardLinks([]byte(c.cgroup), c.mounts)
		if ok != (c.want != nil) || (ok && !reflect.DeepEqual(got, c.want)) {
			t.Errorf("%s: yardLinks = %v, %v; want %v", c.name, got, ok, c.want)
		}
	}
}
