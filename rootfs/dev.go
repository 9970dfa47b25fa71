package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/spec"
)

// device is one node to create under the rootfs.
type device struct {
	Path         string
	Type         string // "c", "u", "b" or "p"
	Major, Minor int64
	Mode         os.FileMode // permission bits only
	UID, GID     uint32
}

// defaultDevices are what every container gets, as in runc.
var defaultDevices = []device{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, Mode: 0o666},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5, Mode: 0o666},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7, Mode: 0o666},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8, Mode: 0o666},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9, Mode: 0o666},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0, Mode: 0o666},
}

// devSymlinks are created in /dev after the nodes (name -> target).
var devSymlinks = [][2]string{
	{"fd", "/proc/self/fd"},
	{"stdin", "/proc/self/fd/0"},
	{"stdout", "/proc/self/fd/1"},
	{"stderr", "/proc/self/fd/2"},
}

// needsDevSetup: a bind of the host's /dev onto /dev already has every
// node, and creating ours on top would write into the host's /dev.
func needsDevSetup(s *specs.Spec) bool {
	for _, m := range s.Mounts {
		if spec.IsBind(m) && cleanDest(m.Destination) == "/dev" {
			return false
		}
	}
	return true
}

// devicePlan lists the nodes to create: the defaults, each replaced in
// place by a linux.devices entry of the same path, then the remaining
// linux.devices entries in spec order.
func devicePlan(s *specs.Spec) []device {
	plan := append([]device(nil), defaultDevices...)
	if s.Linux == nil {
		return plan
	}
	for _, d := range s.Linux.Devices {
		dev := device{Path: cleanDest(d.Path), Type: d.Type, Major: d.Major, Minor: d.Minor, Mode: 0o666}
		if d.FileMode != nil {
			dev.Mode = *d.FileMode & os.ModePerm
		}
		if d.UID != nil {
			dev.UID = *d.UID
		}
		if d.GID != nil {
			dev.GID = *d.GID
		}
		replaced := false
		for i := range plan {
			if plan[i].Path == dev.Path {
				plan[i], replaced = dev, true
			}
		}
		if !replaced {
			plan = append(plan, dev)
		}
	}
	return plan
}

func (b *builder) setupDev() error {
	old := sys.umask(0)
	defer sys.umask(old)
	for _, d := range devicePlan(b.c.Spec) {
		if err := b.createDevice(d); err != nil {
			return err
		}
	}
	return b.devLinks()
}

func (b *builder) createDevice(d device) error {
	if d.Path == "/" || d.Path == "/dev" {
		return fmt.Errorf("device path %q is not a device path", d.Path)
	}
	// A user namespace cannot mknod (CAP_MKNOD counts only in the initial
	// namespace); the host's own node, bound onto a placeholder, works.
	if b.userns {
		return b.bindDevice(d)
	}
	var typ uint32
	switch d.Type {
	case "c", "u":
		typ = unix.S_IFCHR
	case "b":
		typ = unix.S_IFBLK
	case "p":
		typ = unix.S_IFIFO
	default:
		return fmt.Errorf("mknod %s: unknown device type %q", d.Path, d.Type)
	}
	dir, name, err := b.r.inDir(d.Path)
	if err != nil {
		return err
	}
	defer dir.Close()
	err = sys.mknodat(int(dir.Fd()), name, typ|uint32(d.Mode), int(unix.Mkdev(uint32(d.Major), uint32(d.Minor))))
	switch {
	case errors.Is(err, unix.EEXIST):
		// The image or a mount already provides it; keep theirs.
		return nil
	case errors.Is(err, unix.EPERM):
		return b.bindDevice(d)
	case err != nil:
		return fmt.Errorf("mknod %s: %w", d.Path, err)
	}
	if err := sys.fchownat(int(dir.Fd()), name, int(d.UID), int(d.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown %s: %w", d.Path, err)
	}
	return nil
}

func (b *builder) bindDevice(d device) error {
	target, err := b.r.mkTarget(d.Path, true)
	if err != nil {
		return err
	}
	defer target.Close()
	if err := sys.mount(d.Path, procFd(target), "bind", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind mount device %s: %w", d.Path, err)
	}
	return nil
}

// devLinks creates the conventional /dev symlinks. /dev/ptmx must point
// at the container's devpts instance (newinstance), not at a host node an
// image may ship, so an existing /dev/ptmx is replaced.
func (b *builder) devLinks() error {
	dir, err := b.r.mkdirAll("/dev", 0o755)
	if err != nil {
		return err
	}
	defer dir.Close()
	fd := int(dir.Fd())
	links := devSymlinks
	if sys.exists("/proc/kcore") {
		links = append(links[:len(links):len(links)], [2]string{"core", "/proc/kcore"})
	}
	for _, l := range links {
		if err := unix.Symlinkat(l[1], fd, l[0]); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("symlink %s -> %s: %w", path.Join("/dev", l[0]), l[1], err)
		}
	}
	if err := unix.Unlinkat(fd, "ptmx", 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove /dev/ptmx: %w", err)
	}
	if err := unix.Symlinkat("pts/ptmx", fd, "ptmx"); err != nil {
		return fmt.Errorf("symlink /dev/ptmx -> pts/ptmx: %w", err)
	}
	return nil
}
