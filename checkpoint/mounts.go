package checkpoint

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/sys/mountinfo"
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stasis-oci/stasis/spec"
)

// externalsOf lists the container's mounts whose source is outside it,
// which CRIU cannot dump and must be told about ("--external mnt[...]"):
// the bind mounts of config.json; the cgroup v1/v2 mounts (binds of the
// host's hierarchies, which restore points at the NEW container's cgroup);
// and binds of host device nodes (masked files are /dev/null, devices in a
// user namespace are host nodes). mounts is the container's mountinfo,
// read from the host.
func externalsOf(sp *specs.Spec, rootfs string, mounts []*mountinfo.Info) []External {
	seen := map[string]bool{}
	var out []External
	add := func(e External) {
		if !seen[e.Dest] {
			seen[e.Dest] = true
			out = append(out, e)
		}
	}
	for _, m := range sp.Mounts {
		if spec.IsBind(m) {
			e := External{Dest: resolveDest(rootfs, filepath.Clean(m.Destination)), Kind: "bind"}
			if e.Dest != filepath.Clean(m.Destination) {
				e.SpecDest = filepath.Clean(m.Destination)
			}
			add(e)
		}
	}
	for _, mi := range mounts {
		dest, ok := inRootfs(rootfs, mi.Mountpoint)
		if !ok || dest == "/" {
			continue
		}
		switch mi.FSType {
		case "cgroup":
			add(External{Dest: dest, Kind: "cgroup", Controller: controllerOf(mi)})
		case "cgroup2":
			add(External{Dest: dest, Kind: "cgroup", Controller: ""})
		case "devtmpfs":
			add(External{Dest: dest, Kind: "host", HostPath: filepath.Join("/dev", mi.Root)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dest < out[j].Dest })
	return out
}

// resolveDest follows the symlinks of a mount destination inside the
// rootfs, as create did when it mounted there (a bind on /conf, where
// /conf -> /real/conf, is mounted on /real/conf).
func resolveDest(rootfs, dest string) string {
	joined, err := securejoin.SecureJoin(rootfs, dest)
	if err != nil {
		return dest
	}
	rel, err := filepath.Rel(rootfs, joined)
	if err != nil || strings.HasPrefix(rel, "..") {
		return dest
	}
	return filepath.Join("/", rel)
}

// inRootfs turns a mount point as the host sees it into the container's
// path: the container's mountinfo read from the host shows paths relative
// to the container's root already, except before pivot_root; handle both.
func inRootfs(rootfs, p string) (string, bool) {
	if p == rootfs {
		return "/", true
	}
	if strings.HasPrefix(p, rootfs+"/") {
		return p[len(rootfs):], true
	}
	return p, strings.HasPrefix(p, "/")
}

// controllerOf names a v1 hierarchy by its controllers in the super
// options ("rw,memory" → "memory", "rw,name=systemd" → "name=systemd").
func controllerOf(mi *mountinfo.Info) string {
	var ctrls []string
	for _, o := range strings.Split(mi.VFSOptions, ",") {
		switch {
		case o == "rw" || o == "ro" || strings.HasPrefix(o, "release_agent") || o == "clone_children" || o == "noprefix" || o == "xattr" || o == "cpuset_v2_mode" || o == "favordynmods" || o == "nsdelegate":
		default:
			ctrls = append(ctrls, o)
		}
	}
	return strings.Join(ctrls, ",")
}

// containerMounts reads the mount table of the container's init.
func containerMounts(pid int) ([]*mountinfo.Info, error) {
	ms, err := mountinfo.PidMountInfo(pid)
	if err != nil {
		return nil, fmt.Errorf("read mounts of the container: %w", err)
	}
	return ms, nil
}

// extMountKey is how CRIU names an external mount: by its path in the
// container. Dump maps it to itself; restore maps it to the new source.
func extMountKey(dest string) string { return "mnt[" + dest + "]" }
