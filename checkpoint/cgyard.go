package checkpoint

// CRIU's cgroup yard at dump. Without one, CRIU mounts every cgroup
// hierarchy of the container itself (fsopen/fsmount per hierarchy) while
// the tasks are frozen: ~19 ms of a ~30 ms frozen time for ten v1
// hierarchies on this host. With --cgroup-yard DIR it opens DIR/<name>
// instead, and the host has those hierarchies mounted already, so the
// yard stasis gives it is a directory of symlinks to the host's mounts.
// Restore is the same (CRIU's own yard there mounts cgroup2 alone in
// ~20 ms), but a restored task moves itself into its cgroups through the
// yard after it may have left the host's root, where a symlink would
// resolve in the container's: its yard is a tmpfs in the restore's
// private mount namespace holding bind mounts, which a path walk from
// the yard's fd crosses wherever the task's root is.

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
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

// newYard reads the hierarchies of procCgroup (a /proc/PID/cgroup) and
// makes an empty yard dir for them in parent; dir is "" (and err nil)
// when CRIU must mount some hierarchy itself.
func newYard(procCgroup, parent string) (links map[string]string, dir string, err error) {
	data, err := os.ReadFile(procCgroup)
	if err != nil {
		return nil, "", err
	}
	links, ok := yardLinks(data, hostCgroupMounts())
	if !ok {
		return nil, "", nil
	}
	dir, err = os.MkdirTemp(parent, "cgyard-")
	return links, dir, err
}

// makeCgroupYard writes the yard for the hierarchies of pid into a new
// dir in parent (the container's state dir, so that a stasis killed
// midway leaves it where delete removes it); "" (and no error) when CRIU
// must mount them itself. The caller removes the dir.
func makeCgroupYard(pid int, parent string) (string, error) {
	links, dir, err := newYard(fmt.Sprintf("/proc/%d/cgroup", pid), parent)
	if dir == "" || err != nil {
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

// makeRestoreYard makes CRIU's restore yard in the calling thread's
// private mount namespace (withPrivateMounts): a tmpfs on a new dir in
// parent (the container's state dir: outside that namespace it is an
// empty dir, which delete removes if stasis is killed midway) with a bind mount of each of the host's hierarchies (those stasis
// itself is in), named as CRIU names them. A hierarchy of the image
// that is not there CRIU mounts itself, in the same tmpfs. done
// unmounts it and removes the dir.
func makeRestoreYard(parent string) (dir string, done func(), err error) {
	links, dir, err := newYard("/proc/self/cgroup", parent)
	if dir == "" || err != nil {
		return "", nil, err
	}
	done = func() {
		unix.Unmount(dir, unix.MNT_DETACH)
		os.RemoveAll(dir)
	}
	if err := unix.Mount("stasis-cgyard", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=700"); err != nil {
		os.Remove(dir)
		return "", nil, fmt.Errorf("mount the cgroup yard: %w", err)
	}
	for name, src := range links {
		dst := filepath.Join(dir, name)
		if err := os.Mkdir(dst, 0o700); err != nil {
			done()
			return "", nil, err
		}
		if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
			done()
			return "", nil, fmt.Errorf("bind %s into the cgroup yard: %w", src, err)
		}
	}
	return dir, done, nil
}
