package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/spec"
)

// envIDMapPrefix + a mount's index names the fd of the parent's clone of
// its source (idmapSources).
const envIDMapPrefix = "_STASIS_MOUNT_TREE_"

// idmapSources makes, by index in s.Mounts, a detached clone of a bind
// mount's source (open_tree) for the init to move into place: for each
// id-mapped bind, with the mapping set (mount_setattr MOUNT_ATTR_IDMAP,
// which needs CAP_SYS_ADMIN over the source's file system, the host's);
// and, when the container has a user namespace of its own, for every
// other bind too, since its root may not be able to reach a source under
// a directory closed to others, where the host's root can (runc passes
// such sources by fd as well). On error nothing is left open.
func idmapSources(s *specs.Spec) (trees map[int]*os.File, err error) {
	trees = map[int]*os.File{}
	users := usernsCache{}
	defer users.close()
	defer func() {
		if err != nil {
			closeAll(trees)
		}
	}()
	ownUserns := newNamespace(s.Linux, specs.UserNamespace)
	for i, m := range s.Mounts {
		if !spec.IsIDMapped(m) {
			if ownUserns && spec.IsBind(m) {
				tree, err := plainClone(m)
				if err != nil {
					return nil, fmt.Errorf("bind mount %s on %s: %w", m.Source, m.Destination, err)
				}
				trees[i] = tree
			}
			continue
		}
		userns, err := users.get(idmapOf(s, m))
		if err != nil {
			return nil, fmt.Errorf("id-mapped mount %s on %s: %w", m.Source, m.Destination, err)
		}
		tree, err := idmappedClone(m, userns)
		if err != nil {
			return nil, fmt.Errorf("id-mapped mount %s on %s: %w", m.Source, m.Destination, err)
		}
		trees[i] = tree
	}
	return trees, nil
}

// idmappedTrees is the init's end of idmapSources: the clones, by mount
// index, from the fds the parent named.
func idmappedTrees(s *specs.Spec) (map[int]*os.File, error) {
	trees := map[int]*os.File{}
	for i, m := range s.Mounts {
		if !spec.IsBind(m) {
			continue
		}
		f, err := namedFd(envIDMapPrefix + strconv.Itoa(i))
		if err != nil {
			return trees, err
		}
		if f != nil {
			trees[i] = f
		}
	}
	return trees, nil
}

func closeAll(files map[int]*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// idmapping is the user namespace a mount's ids are mapped through: one
// made with these maps, or (idmap with no maps of its own, user namespace
// joined by path) that one.
type idmapping struct {
	uids, gids []specs.LinuxIDMapping
	path       string
}

func idmapOf(s *specs.Spec, m specs.Mount) idmapping {
	if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 {
		return idmapping{uids: m.UIDMappings, gids: m.GIDMappings}
	}
	// idmap/ridmap alone: the container's own mappings (validated: it has
	// a user namespace).
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.UserNamespace && ns.Path != "" {
			return idmapping{path: ns.Path}
		}
	}
	return idmapping{uids: s.Linux.UIDMappings, gids: s.Linux.GIDMappings}
}

// plainClone is m's source as a detached mount tree (all of it for rbind).
func plainClone(m specs.Mount) (*os.File, error) {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if spec.ParseMountOptions(m.Options).Recursive {
		flags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, m.Source, flags)
	if err != nil {
		return nil, fmt.Errorf("open_tree %s: %w", m.Source, err)
	}
	return os.NewFile(uintptr(fd), "tree:"+m.Source), nil
}

func idmappedClone(m specs.Mount, userns *os.File) (*os.File, error) {
	o := spec.ParseMountOptions(m.Options)
	tree, err := plainClone(m)
	if err != nil {
		return nil, err
	}
	fd := int(tree.Fd())
	// ridmap maps every mount of an rbind; idmap only its top.
	setFlags := uint(unix.AT_EMPTY_PATH)
	if o.RecursiveIDMap {
		setFlags |= unix.AT_RECURSIVE
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(userns.Fd())}
	if err := unix.MountSetattr(fd, "", setFlags, attr); err != nil {
		tree.Close()
		hint := ""
		if errors.Is(err, unix.EINVAL) {
			hint = " (does the file system of the source support id-mapped mounts?)"
		}
		return nil, fmt.Errorf("set the id mapping: %w%s", err, hint)
	}
	return tree, nil
}

// usernsCache makes one user namespace per distinct mapping.
type usernsCache map[string]*os.File

func (c usernsCache) get(im idmapping) (*os.File, error) {
	key := fmt.Sprint(im)
	if f, ok := c[key]; ok {
		return f, nil
	}
	var f *os.File
	var err error
	if im.path != "" {
		f, err = os.Open(im.path)
	} else {
		f, err = newUserns(im.uids, im.gids)
	}
	if err != nil {
		return nil, err
	}
	c[key] = f
	return f, nil
}

func (c usernsCache) close() {
	for _, f := range c {
		f.Close()
	}
}

// newUserns returns a user namespace with the given maps, held by an open
// nsfs file: a child is started in it (Go writes the maps before it runs)
// and, traced, stops at its execve before running anything; its namespace
// is taken, and it is killed. runc's userns.Handles does the same.
func newUserns(uids, gids []specs.LinuxIDMapping) (*os.File, error) {
	cmd := &exec.Cmd{
		Path: "/proc/self/exe",
		Args: []string{"stasis-idmap-holder"},
		Env:  []string{},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags:  unix.CLONE_NEWUSER,
			UidMappings: sysIDMaps(uids),
			GidMappings: sysIDMaps(gids),
			Ptrace:      true,
			Pdeathsig:   unix.SIGKILL,
		},
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("make a user namespace for the mapping: %w", err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	f, err := os.Open("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/ns/user")
	if err != nil {
		return nil, fmt.Errorf("open the mapping's user namespace: %w", err)
	}
	return f, nil
}

func sysIDMaps(maps []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(maps))
	for i, m := range maps {
		out[i] = syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)}
	}
	return out
}
