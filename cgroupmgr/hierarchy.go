package cgroupmgr

import (
	"fmt"
	"path"
	"strings"

	"github.com/containerd/cgroups/v3"
	"github.com/moby/sys/mountinfo"
)

// unifiedKey names the cgroup v2 hierarchy in every per-hierarchy map.
const unifiedKey = ""

// hierarchy is one mounted cgroup hierarchy as seen by this process.
type hierarchy struct {
	mountpoint string
	// root is the cgroup that is mounted at mountpoint ("/" unless the
	// mount is a bind of a sub-cgroup, e.g. inside another container).
	root string
}

// Seams so that discovery and own-cgroup parsing can be faked in tests.
var (
	getMounts = func() ([]*mountinfo.Info, error) {
		return mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	}
	selfCgroupFile = "/proc/self/cgroup"
)

// v1Controllers are the super-block options of a v1 mount that name a
// controller; other options (rw, xattr, release_agent=...) are ignored.
var v1Controllers = map[string]bool{
	"cpu": true, "cpuacct": true, "cpuset": true, "memory": true,
	"devices": true, "freezer": true, "net_cls": true, "net_prio": true,
	"blkio": true, "perf_event": true, "hugetlb": true, "pids": true,
	"rdma": true, "misc": true,
}

// discover maps hierarchy keys ("memory", "name=systemd", "" for v2) to
// their mounts, keeping only what belongs to mode: v1 mounts for Legacy,
// v1 plus /sys/fs/cgroup/unified for Hybrid, /sys/fs/cgroup for Unified.
func discover(mode Mode) (map[string]hierarchy, error) {
	mounts, err := getMounts()
	if err != nil {
		return nil, fmt.Errorf("cgroupmgr: reading mountinfo: %w", err)
	}
	out := map[string]hierarchy{}
	// Later entries win among equally preferred ones because a later mount
	// on the same mountpoint shadows an earlier one.
	better := func(key string, mp string) bool {
		old, ok := out[key]
		if !ok {
			return true
		}
		return underSysFs(mp) || !underSysFs(old.mountpoint)
	}
	for _, m := range mounts {
		h := hierarchy{mountpoint: m.Mountpoint, root: m.Root}
		switch m.FSType {
		case "cgroup2":
			want := "/sys/fs/cgroup"
			if mode == Hybrid {
				want = "/sys/fs/cgroup/unified"
			}
			if (mode == Unified || mode == Hybrid) && m.Mountpoint == want {
				out[unifiedKey] = h
			}
		case "cgroup":
			if mode != Legacy && mode != Hybrid {
				continue
			}
			for _, opt := range strings.Split(m.VFSOptions, ",") {
				if v1Controllers[opt] || strings.HasPrefix(opt, "name=") {
					if better(opt, m.Mountpoint) {
						out[opt] = h
					}
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cgroupmgr: no %s cgroup hierarchy mounted: %w", mode, ErrNotSupported)
	}
	return out, nil
}

func underSysFs(p string) bool {
	return strings.HasPrefix(p, "/sys/fs/cgroup/") || p == "/sys/fs/cgroup"
}

// ownCgroups returns, for every discovered hierarchy, this process's cgroup
// relative to what is visible at the hierarchy's mountpoint.
func ownCgroups(hs map[string]hierarchy) (map[string]string, error) {
	v1, v2, err := cgroups.ParseCgroupFileUnified(selfCgroupFile)
	if err != nil {
		return nil, fmt.Errorf("cgroupmgr: parsing %s: %w", selfCgroupFile, err)
	}
	own := make(map[string]string, len(hs))
	for key, h := range hs {
		p, ok := v1[key]
		if key == unifiedKey {
			p, ok = v2, true
		}
		if !ok {
			// Mounted but not listed (should not happen): fall back to the
			// visible root so absolute paths still work.
			p = "/"
		}
		own[key] = localize(p, h.root)
	}
	return own, nil
}

// localize strips the mount root from a /proc/self/cgroup path: if only
// /docker/x is mounted, our cgroup /docker/x/y is /y below the mountpoint.
func localize(p, root string) string {
	if root == "" || root == "/" {
		return path.Clean("/" + p)
	}
	if p == root {
		return "/"
	}
	if strings.HasPrefix(p, root+"/") {
		return path.Clean(strings.TrimPrefix(p, root))
	}
	return "/"
}
