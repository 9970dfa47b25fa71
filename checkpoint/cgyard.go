package checkpoint

// CRIU's cgroup yard at dump. Without one, CRIU mounts every cgroup
// hierarchy of the container itself (fsopen/fsmount per hierarchy) while
// the tasks are frozen: ~19 ms of a ~30 ms frozen time for ten v1
// hierarchies on this host. With --cgroup-yard DIR it opens DIR/<name>
// instead, and the host has those hierarchies mounted already, so the
// yard stasis gives it is a directory of symlinks to the host's mounts.
// Restore keeps CRIU's own yard: there the restored tasks move
// themselves through it, after they left the host's root.

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// yardLinks maps the yard names CRIU will open for the hierarchies in
// procCgroup (a /proc/PID/cgroup) to the host mounts of those
// hierarchies' roots. CRIU names a v1 hierarchy by its controllers as
// /proc/PID/cgroup lists them ("cpu,cpuacct"), a named one without its
// "name=" ("systemd"), and v2 "unified" (criu/cgroup.c,
// collect_cgroups). ok is false when some hierarchy has no mount of its
// root: CRIU must then mount it itself.
func yardLinks(procCgroup []byte, mounts []*mountinfo.Info) (links map[string]string, ok bool) {
	links = map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(procCgroup))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), ":", 3)
		if len(f) != 3 {
			continue
		}
		ctrls := f[1]
		var name string
		var match func(*mountinfo.Info) bool
		if ctrls == "" {
			name = "unified"
			match = func(m *mountinfo.Info) bool { return m.FSType == "cgroup2" }
		} else {
			name = strings.TrimPrefix(ctrls, "name=")
			want := strings.Split(ctrls, ",")
			match = func(m *mountinfo.Info) bool {
				if m.FSType != "cgroup" {
					return false
				}
				opts := strings.Split(m.VFSOptions, ",")
				for _, c := range want {
					if !slices.Contains(opts, c) {
						return false
					}
				}
				// The same set, not a superset: a hierarchy is mounted with
				// all of its controllers.
				n := 0
				for _, o := range opts {
					if isController(o) {
						n++
					}
				}
				return n == len(want)
			}
		}
		if strings.ContainsRune(name, '/') || name == "" || name == "." || name == ".." {
			return nil, false
		}
		found := ""
		for _, m := range mounts {
			if m.Root == "/" && match(m) {
				found = m.Mountpoint
				break
			}
		}
		if found == "" {
			return nil, false
		}
		links[name] = found
	}
	return links, len(links) > 0
}

// isController: a v1 super option that names a controller or a named
// hierarchy, not a mount flag.
func isController(opt string) bool {
	switch opt {
	case "rw", "ro", "noprefix", "xattr", "cpuset_v2_mode", "clone_children", "favordynmods":
		return false
	}
	return !strings.HasPrefix(opt, "release_agent=")
}

// makeCgroupYard writes the yard for the hierarchies of pid into a new
// temp dir; "" (and no error) when CRIU must mount them itself. The
// caller removes the dir.
func makeCgroupYard(pid int) (string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", err
	}
	links, ok := yardLinks(data, hostCgroupMounts())
	if !ok {
		return "", nil
	}
	dir, err := os.MkdirTemp("", "stasis-cgyard-")
	if err != nil {
		return "", err
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
	}
	return dir, nil
}
