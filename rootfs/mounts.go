package rootfs

import (
	"errors"
	"fmt"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/spec"
)

// lockableFlags are the per-mount flags the kernel locks on mounts that a
// less privileged user namespace inherited (MNT_LOCK_*): a remount from
// that namespace must repeat them or it fails with EPERM.
const lockableFlags = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC |
	unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME

const atimeFlags = unix.MS_NOATIME | unix.MS_RELATIME | unix.MS_STRICTATIME

// builder carries what every mount step needs to know about the container.
type builder struct {
	c        *Config
	r        *root
	userns   bool // container has a user namespace: mknod is not allowed
	newNetNS bool // container has a network namespace of its own
	cgroupNS bool // container has a cgroup namespace of its own
}

func newBuilder(c *Config, r *root) *builder {
	b := &builder{c: c, r: r}
	if c.Spec.Linux != nil {
		for _, ns := range c.Spec.Linux.Namespaces {
			switch ns.Type {
			case specs.UserNamespace:
				b.userns = true
			case specs.NetworkNamespace:
				b.newNetNS = ns.Path == ""
			case specs.CgroupNamespace:
				b.cgroupNS = ns.Path == ""
			}
		}
	}
	return b
}

// mountOne performs one spec mount, dispatching on the kinds that need
// more than a plain mount(2). idmapped is the id-mapped clone of m's
// source, when m is an id-mapped bind mount.
func (b *builder) mountOne(m specs.Mount, idmapped *os.File) error {
	if err := b.checkDest(m); err != nil {
		return err
	}
	if idmapped == nil && spec.IsIDMapped(m) {
		return fmt.Errorf("id-mapped mount %s on %s: no id-mapped source from the runtime", m.Source, m.Destination)
	}
	switch {
	case spec.IsBind(m):
		return b.bindMount(m, idmapped)
	case m.Type == "cgroup":
		return b.mountCgroup(m)
	case m.Type == "sysfs":
		err := b.fsMount(m)
		if err == nil || !errors.Is(err, unix.EPERM) || b.newNetNS {
			return err
		}
		// sysfs may only be mounted by the owner of the network namespace;
		// without one of its own the container gets the host's /sys, bound
		// read-only like runc does.
		return b.bindMount(specs.Mount{
			Destination: m.Destination,
			Type:        "bind",
			Source:      "/sys",
			Options:     append(append([]string{}, m.Options...), "rbind", "ro"),
		}, nil)
	default:
		return b.fsMount(m)
	}
}

// bindMount: the bind itself (or the move of the clone the parent made:
// id-mapped, or any bind of a user-namespaced container), then a remount for flags (mount(2) ignores them on the
// initial MS_BIND), then each propagation change on its own since the
// kernel refuses them combined with anything else.
func (b *builder) bindMount(m specs.Mount, idmapped *os.File) error {
	o := spec.ParseMountOptions(m.Options)
	var st os.FileInfo
	var err error
	if idmapped != nil {
		// The source may be out of our reach (a user namespace's root
		// under a host dir closed to others): the parent's clone is not.
		st, err = idmapped.Stat()
	} else {
		st, err = os.Stat(m.Source)
	}
	if err != nil {
		return fmt.Errorf("bind mount %s on %s: %w", m.Source, m.Destination, err)
	}
	target, err := b.r.mkTarget(m.Destination, !st.IsDir())
	if err != nil {
		return err
	}
	if idmapped != nil {
		err = sys.moveMount(int(idmapped.Fd()), int(target.Fd()))
		target.Close()
		if err != nil {
			return fmt.Errorf("bind mount %s on %s: move the parent's clone into place: %w", m.Source, m.Destination, err)
		}
	} else {
		flags := uintptr(unix.MS_BIND)
		if o.Recursive {
			flags |= unix.MS_REC
		}
		err = sys.mount(m.Source, procFd(target), "", flags, "")
		target.Close()
		if err != nil {
			return fmt.Errorf("bind mount %s on %s: %w", m.Source, m.Destination, err)
		}
	}
	if o.Flags&^(unix.MS_BIND|unix.MS_REC|unix.MS_REMOUNT) != 0 || o.ClearFlags != 0 {
		want := o.Flags&^(unix.MS_REC|unix.MS_REMOUNT) | unix.MS_BIND | unix.MS_REMOUNT
		if err := b.remount(m.Destination, want, o.ClearFlags); err != nil {
			return err
		}
	}
	if o.RecAttrSet != 0 || o.RecAttrClr != 0 {
		if err := b.setRecAttr(m.Destination, o); err != nil {
			return err
		}
	}
	return b.propagate(m.Destination, o.PropFlags)
}

// fsMount mounts a filesystem of type m.Type (tmpfs, proc, devpts, ...).
func (b *builder) fsMount(m specs.Mount) error {
	o := spec.ParseMountOptions(m.Options)
	dest := cleanDest(m.Destination)
	target, err := b.r.mkTarget(dest, false)
	if err != nil {
		return err
	}
	defer target.Close()
	flags := o.Flags
	// /dev must stay writable until the device nodes exist and a tmpfs may
	// need a chmod; both get their read-only remount later.
	delayRO := m.Type == "tmpfs" || dest == "/dev"
	if delayRO {
		flags &^= unix.MS_RDONLY
	}
	var oldMode os.FileMode
	if m.Type == "tmpfs" && !hasDataOption(o.Data, "mode") {
		if fi, err := target.Stat(); err == nil {
			oldMode = fi.Mode() & os.ModePerm
			oldMode |= fi.Mode() & (os.ModeSticky | os.ModeSetgid | os.ModeSetuid)
		}
	}
	source := m.Source
	if source == "" {
		source = m.Type
	}
	if err := sys.mount(source, procFd(target), m.Type, flags, o.Data); err != nil {
		return fmt.Errorf("mount %s on %s: %w", m.Type, m.Destination, err)
	}
	if oldMode != 0 {
		// A tmpfs over an existing directory keeps that directory's mode,
		// so images that ship e.g. /tmp as 1777 keep working.
		if err := b.onTop(dest, func(p string) error { return os.Chmod(p, oldMode) }); err != nil {
			return fmt.Errorf("chmod tmpfs %s: %w", m.Destination, err)
		}
	}
	if delayRO && dest != "/dev" && o.Flags&unix.MS_RDONLY != 0 {
		if err := b.remount(dest, o.Flags|unix.MS_REMOUNT, o.ClearFlags); err != nil {
			return err
		}
	}
	if o.RecAttrSet != 0 || o.RecAttrClr != 0 {
		if err := b.setRecAttr(m.Destination, o); err != nil {
			return err
		}
	}
	return b.propagate(m.Destination, o.PropFlags)
}

// onTop runs fn on a fresh handle of dest: after a mount, the old handle
// still names the covered directory, while remounts and propagation
// changes must target the new mount's root.
func (b *builder) onTop(dest string, fn func(path string) error) error {
	f, err := b.r.open(dest)
	if err != nil {
		return err
	}
	defer f.Close()
	return fn(procFd(f))
}

func (b *builder) remount(dest string, flags, clear uintptr) error {
	err := b.onTop(dest, func(p string) error { return remountPath(p, flags, clear) })
	if err != nil {
		return fmt.Errorf("remount %s (%s): %w", dest, flagString(flags), err)
	}
	return nil
}

// remountPath retries a refused remount with the flags the kernel locked on
// the mount, unless the caller explicitly asked to clear one of them: a
// mount silently different from the request is worse than an error.
func remountPath(path string, flags, clear uintptr) error {
	err := sys.mount("", path, "", flags, "")
	if !errors.Is(err, unix.EPERM) {
		return err
	}
	var st unix.Statfs_t
	if sys.statfs(path, &st) != nil {
		return err
	}
	locked := statfsToMountFlags(st.Flags) & lockableFlags
	if flags&atimeFlags != 0 {
		// An explicit atime mode replaces the inherited one.
		locked &^= atimeFlags
	}
	if locked&clear != 0 || locked&^flags == 0 {
		return err
	}
	return sys.mount("", path, "", flags|locked, "")
}

// statfsToMountFlags converts statfs(2)'s ST_* bits, which differ from the
// MS_* ones for the atime modes.
func statfsToMountFlags(st int64) uintptr {
	var f uintptr
	for _, m := range []struct {
		st int64
		ms uintptr
	}{
		{unix.ST_RDONLY, unix.MS_RDONLY},
		{unix.ST_NOSUID, unix.MS_NOSUID},
		{unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_SYNCHRONOUS, unix.MS_SYNCHRONOUS},
		{unix.ST_MANDLOCK, unix.MS_MANDLOCK},
		{unix.ST_NOATIME, unix.MS_NOATIME},
		{unix.ST_NODIRATIME, unix.MS_NODIRATIME},
		{unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if st&m.st != 0 {
			f |= m.ms
		}
	}
	return f
}

func (b *builder) setRecAttr(dest string, o spec.MountOpts) error {
	attr := &unix.MountAttr{Attr_set: o.RecAttrSet, Attr_clr: o.RecAttrClr}
	err := b.onTop(dest, func(p string) error {
		return sys.mountSetattr(unix.AT_FDCWD, p, unix.AT_RECURSIVE, attr)
	})
	if err != nil {
		return fmt.Errorf("set recursive mount attributes on %s: %w", dest, err)
	}
	return nil
}

func (b *builder) propagate(dest string, prop []uintptr) error {
	for _, p := range prop {
		err := b.onTop(dest, func(path string) error { return sys.mount("", path, "", p, "") })
		if err != nil {
			return fmt.Errorf("set propagation %s on %s: %w", flagString(p), dest, err)
		}
	}
	return nil
}

func hasDataOption(data, key string) bool {
	for _, o := range strings.Split(data, ",") {
		if o == key || strings.HasPrefix(o, key+"=") {
			return true
		}
	}
	return false
}

var flagNames = []struct {
	f    uintptr
	name string
}{
	{unix.MS_RDONLY, "ro"}, {unix.MS_NOSUID, "nosuid"}, {unix.MS_NODEV, "nodev"},
	{unix.MS_NOEXEC, "noexec"}, {unix.MS_SYNCHRONOUS, "sync"}, {unix.MS_REMOUNT, "remount"},
	{unix.MS_MANDLOCK, "mand"}, {unix.MS_DIRSYNC, "dirsync"}, {unix.MS_NOSYMFOLLOW, "nosymfollow"},
	{unix.MS_NOATIME, "noatime"}, {unix.MS_NODIRATIME, "nodiratime"}, {unix.MS_BIND, "bind"},
	{unix.MS_MOVE, "move"}, {unix.MS_REC, "rec"}, {unix.MS_SILENT, "silent"},
	{unix.MS_UNBINDABLE, "unbindable"}, {unix.MS_PRIVATE, "private"}, {unix.MS_SLAVE, "slave"},
	{unix.MS_SHARED, "shared"}, {unix.MS_RELATIME, "relatime"}, {unix.MS_STRICTATIME, "strictatime"},
	{unix.MS_LAZYTIME, "lazytime"},
}

// flagString renders mount flags for error messages and test failures.
func flagString(f uintptr) string {
	var parts []string
	for _, n := range flagNames {
		if f&n.f != 0 {
			parts = append(parts, n.name)
			f &^= n.f
		}
	}
	if f != 0 {
		parts = append(parts, fmt.Sprintf("%#x", f))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "|")
}
