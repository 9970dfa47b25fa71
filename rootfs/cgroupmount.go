package rootfs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/spec"
)

// ErrNoCgroupFS means the host has no cgroup filesystem mounted, so a
// "cgroup" mount has nothing to show.
var ErrNoCgroupFS = errors.New("no cgroup filesystem mounted on the host")

const cgroupTmpfsFlags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC

// mountCgroup expands a "cgroup" mount into what the host's layout needs:
// on a v1 or hybrid host a tmpfs holding one directory per hierarchy (plus
// "unified" on hybrid), on a pure v2 host a single cgroup2 mount.
func (b *builder) mountCgroup(m specs.Mount) error {
	o := spec.ParseMountOptions(m.Options)
	dest := cleanDest(m.Destination)
	all, err := sys.mounts()
	if err != nil {
		return fmt.Errorf("mount cgroup on %s: read host mounts: %w", dest, err)
	}
	var v1 []*mountinfo.Info
	var v2 *mountinfo.Info
	seen := map[[2]int]bool{}
	for _, mi := range all {
		// Mounts already inside the rootfs (e.g. under a host /sys bound
		// there by the sysfs fallback) are copies, not the host's layout.
		if isUnder(mi.Mountpoint, b.c.Rootfs) || seen[[2]int{mi.Major, mi.Minor}] {
			continue
		}
		seen[[2]int{mi.Major, mi.Minor}] = true
		switch mi.FSType {
		case "cgroup":
			v1 = append(v1, mi)
		case "cgroup2":
			if v2 == nil {
				v2 = mi
			}
		}
	}
	own, err := ownCgroups()
	if err != nil {
		return fmt.Errorf("mount cgroup on %s: %w", dest, err)
	}
	if len(v1) == 0 {
		if v2 == nil {
			return fmt.Errorf("mount cgroup on %s: %w", dest, ErrNoCgroupFS)
		}
		if err := b.mountHierarchy(dest, m, o, v2, own, true); err != nil {
			return err
		}
		return b.propagate(dest, o.PropFlags)
	}

	tmpfs := specs.Mount{
		Destination: dest,
		Type:        "tmpfs",
		Source:      "tmpfs",
		Options:     []string{"nosuid", "nodev", "noexec", "mode=755"},
	}
	if err := b.fsMount(tmpfs); err != nil {
		return err
	}
	for _, mi := range v1 {
		name := path.Base(mi.Mountpoint)
		if err := b.mountHierarchy(path.Join(dest, name), m, o, mi, own, b.cgroupNS); err != nil {
			return err
		}
		if strings.Contains(name, ",") {
			if err := b.controllerLinks(dest, name); err != nil {
				return err
			}
		}
	}
	if v2 != nil {
		if err := b.mountHierarchy(path.Join(dest, path.Base(v2.Mountpoint)), m, o, v2, own, b.cgroupNS); err != nil {
			return err
		}
	}
	if o.Flags&unix.MS_RDONLY != 0 {
		if err := b.remount(dest, cgroupTmpfsFlags|unix.MS_RDONLY|unix.MS_REMOUNT, 0); err != nil {
			return err
		}
	}
	return b.propagate(dest, o.PropFlags)
}

// mountHierarchy puts one host hierarchy at dest: a fresh mount when
// tryFresh (the container has its own cgroup namespace and then sees its
// own cgroup as the root; or a pure v2 host, where runc tries that first),
// otherwise a bind of the init's own cgroup directory so the container
// cannot see or touch its siblings.
func (b *builder) mountHierarchy(dest string, m specs.Mount, o spec.MountOpts, mi *mountinfo.Info, own map[string]string, tryFresh bool) error {
	flags := o.Flags&^(unix.MS_BIND|unix.MS_REC|unix.MS_REMOUNT) | cgroupTmpfsFlags
	if tryFresh {
		data := ""
		if mi.FSType == "cgroup" {
			data = hierarchyOptions(mi.VFSOptions)
		}
		target, err := b.r.mkTarget(dest, false)
		if err != nil {
			return err
		}
		err = sys.mount(mi.FSType, procFd(target), mi.FSType, flags, data)
		target.Close()
		if err == nil {
			return nil
		}
		// Without a cgroup namespace a fresh cgroup2 mount is only a
		// convenience; a user namespace refuses it, so fall back to the
		// bind like v1 does.
		if b.cgroupNS || !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("mount %s on %s: %w", mi.FSType, dest, err)
		}
	}
	src, err := hostCgroupDir(mi, own)
	if err != nil {
		return fmt.Errorf("mount %s on %s: %w", mi.FSType, dest, err)
	}
	opts := append(append([]string{}, m.Options...), "rbind")
	return b.bindMount(specs.Mount{Destination: dest, Type: "bind", Source: src, Options: opts}, nil)
}

// controllerLinks makes e.g. cpu -> cpu,cpuacct next to a co-mounted
// hierarchy, as hosts do, so tools can find each controller by name.
func (b *builder) controllerLinks(dest, name string) error {
	dir, err := b.r.open(dest)
	if err != nil {
		return err
	}
	defer dir.Close()
	for _, c := range strings.Split(name, ",") {
		err := unix.Symlinkat(name, int(dir.Fd()), c)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("symlink %s/%s: %w", dest, c, err)
		}
	}
	return nil
}

// hierarchyOptions keeps the super options that select a v1 hierarchy
// (controllers, name=, xattr...). rw/ro are per-mount flags, and a
// release_agent may not be set from inside a container.
func hierarchyOptions(vfsOpts string) string {
	var keep []string
	for _, o := range strings.Split(vfsOpts, ",") {
		if o == "" || o == "rw" || o == "ro" || strings.HasPrefix(o, "release_agent=") {
			continue
		}
		keep = append(keep, o)
	}
	return strings.Join(keep, ",")
}

// ownCgroups maps each hierarchy's controller list ("memory",
// "name=systemd", "" for cgroup2) to this process's path in it.
func ownCgroups() (map[string]string, error) {
	data, err := sys.readFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read own cgroups: %w", err)
	}
	own := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) == 3 {
			own[parts[1]] = parts[2]
		}
	}
	return own, nil
}

// hostCgroupDir is the host directory of this process's cgroup in the
// hierarchy mounted at mi.
func hostCgroupDir(mi *mountinfo.Info, own map[string]string) (string, error) {
	cg, ok := "", false
	if mi.FSType == "cgroup2" {
		cg, ok = own[""]
	} else {
		super := map[string]bool{}
		for _, o := range strings.Split(mi.VFSOptions, ",") {
			super[o] = true
		}
		for ctrls, p := range own {
			if ctrls == "" {
				continue
			}
			match := true
			for _, c := range strings.Split(ctrls, ",") {
				match = match && super[c]
			}
			if match {
				cg, ok = p, true
				break
			}
		}
	}
	if !ok {
		return "", fmt.Errorf("no entry in /proc/self/cgroup for hierarchy at %s (%s)", mi.Mountpoint, mi.VFSOptions)
	}
	// The mount may show a subtree (mountinfo root); the path is relative
	// to the cgroup namespace root, as is mountinfo's root.
	rel, err := filepath.Rel(mi.Root, cg)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		rel = cg
	}
	return filepath.Join(mi.Mountpoint, rel), nil
}

func isUnder(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}
