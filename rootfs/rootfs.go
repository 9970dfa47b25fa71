// Package rootfs builds the container's filesystem view from inside its
// new mount namespace: the spec's mounts, /dev, the pivot into the rootfs,
// and the final masking and read-only remounts.
package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/stasis-oci/stasis/spec"
	"golang.org/x/sys/unix"
)

// Config is what the container init knows when it builds the rootfs.
type Config struct {
	Spec    *specs.Spec // validated by package spec
	Rootfs  string      // absolute, cleaned host path of the rootfs directory
	NoPivot bool        // MS_MOVE + chroot instead of pivot_root (ramfs hosts)
	// HostMountNS: the container has no mount namespace of its own, so
	// everything here happens in the host's (see prepareInHostNS).
	HostMountNS bool
	// BeforePivot, when set, runs once the mount tree is complete and
	// before pivot_root: the runtime spec runs prestart, createRuntime
	// and createContainer hooks exactly there.
	BeforePivot func() error `json:"-"`
	// IDMapped holds, by index in Spec.Mounts, the parent's clone of a bind
	// mount's source (open_tree), moved into place instead of binding the
	// source: the id-mapped clone of an id-mapped mount (only the parent
	// may set the mapping), and a plain clone of every other bind of a
	// container with a user namespace (its root may not reach a source
	// the host's root can).
	IDMapped map[int]*os.File `json:"-"`
}

// ErrBadPropagation reports a linux.rootfsPropagation value we do not know.
var ErrBadPropagation = errors.New("unknown rootfs propagation")

// propagationOf returns the rootfsPropagation flags, 0 when unset.
func propagationOf(s *specs.Spec) (uintptr, error) {
	if s.Linux == nil || s.Linux.RootfsPropagation == "" {
		return 0, nil
	}
	f, ok := spec.PropagationFlags(s.Linux.RootfsPropagation)
	if !ok {
		return 0, fmt.Errorf("%w %q", ErrBadPropagation, s.Linux.RootfsPropagation)
	}
	return f, nil
}

func checkConfig(c *Config) error {
	if c == nil || c.Spec == nil {
		return errors.New("rootfs: no spec")
	}
	if !filepath.IsAbs(c.Rootfs) || filepath.Clean(c.Rootfs) != c.Rootfs || c.Rootfs == "/" {
		return fmt.Errorf("rootfs %q: must be an absolute, clean path other than /", c.Rootfs)
	}
	return nil
}

// Prepare builds the container's mount tree and makes it the root. It must
// run in the container's own mount namespace; on return the root and the
// working directory are the container's "/" and the host's tree is gone
// from this namespace.
func Prepare(c *Config) error {
	if err := checkConfig(c); err != nil {
		return err
	}
	if c.HostMountNS {
		return prepareInHostNS(c)
	}
	prop, err := propagationOf(c.Spec)
	if err != nil {
		return err
	}
	if prop == 0 {
		// Nothing we mount may propagate back into the host's namespace.
		prop = unix.MS_SLAVE | unix.MS_REC
	}
	if err := sys.mount("", "/", "", prop, ""); err != nil {
		return fmt.Errorf("set propagation %s on /: %w", flagString(prop), err)
	}
	if err := makeParentPrivate(c.Rootfs); err != nil {
		return err
	}
	// pivot_root needs the new root to be a mount point; the bind also
	// gives the container a mount of its own to remount read-only later.
	if err := bindAndBuild(c); err != nil {
		return err
	}
	if c.NoPivot {
		return moveRoot(c.Rootfs)
	}
	return pivotRoot(c.Rootfs)
}

// prepareInHostNS builds the tree of a container that shares the host's
// mount namespace, as runc accepts it, but without runc's changes to
// mounts it does not own: runc makes the host's "/" rslave and the
// rootfs's parent mount private (and with --no-pivot would move the
// rootfs over the host's "/"). Here the only mount made at the rootfs is
// its self-bind, which holds every spec mount; they behave as any host
// mount does (they propagate where the host's propagation sends them),
// and delete detaches the self-bind with all of them, which propagates
// the same way. The process is then chrooted: pivot_root would swap the
// host's root. Masked and read-only paths and rootfsPropagation, which
// would have to change host mounts, are refused by spec validation.
func prepareInHostNS(c *Config) error {
	if err := bindAndBuild(c); err != nil {
		return err
	}
	return chrootInto(c.Rootfs)
}

// bindAndBuild binds the rootfs onto itself, builds the tree under that
// bind, and runs BeforePivot: what both kinds of set-up do before the
// root changes.
func bindAndBuild(c *Config) error {
	if err := sys.mount(c.Rootfs, c.Rootfs, "bind", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind mount rootfs %s onto itself: %w", c.Rootfs, err)
	}
	if err := buildTree(c); err != nil {
		return err
	}
	if c.BeforePivot != nil {
		return c.BeforePivot()
	}
	return nil
}

// buildTree does the spec's mounts and /dev while the host is still
// visible (bind sources and device nodes are host paths).
func buildTree(c *Config) error {
	r, err := openRoot(c.Rootfs)
	if err != nil {
		return err
	}
	defer r.Close()
	b := newBuilder(c, r)
	for i, m := range c.Spec.Mounts {
		if err := b.mountOne(m, c.IDMapped[i]); err != nil {
			return err
		}
	}
	if needsDevSetup(c.Spec) {
		return b.setupDev()
	}
	return nil
}

// makeParentPrivate makes the mount holding the rootfs private (the
// rootfs's own mount when it is a mount point, as with an overlay): it
// becomes the parent of the self-bind, and the kernel refuses pivot_root
// under a shared parent; nor may the bind propagate to the parent's peers.
// EINVAL means "not a mount point", so the walk goes up until it finds one.
func makeParentPrivate(path string) error {
	for p := path; ; p = filepath.Dir(p) {
		err := sys.mount("", p, "", unix.MS_PRIVATE, "")
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINVAL) || p == "/" {
			return fmt.Errorf("make parent mount of rootfs %s private: %w", path, err)
		}
	}
}

// Finalize does what must wait until the init has used /dev and /proc
// (console, hostname, sysctls): masking, read-only remounts and the
// requested root propagation. It runs inside the container's root.
func Finalize(c *Config) error {
	return finalizeIn(c, "/")
}

// finalizeIn is Finalize with the container's root at rootPath: "/" in the
// init, a directory of their own in tests.
func finalizeIn(c *Config, rootPath string) error {
	if err := checkConfig(c); err != nil {
		return err
	}
	// One handle on the root for every step that works by handle.
	r, err := openRoot(rootPath)
	if err != nil {
		return err
	}
	defer r.Close()
	if l := c.Spec.Linux; l != nil && len(l.ReadonlyPaths)+len(l.MaskedPaths) > 0 {
		if err := maskAndProtect(l, r); err != nil {
			return err
		}
	}
	if err := devReadonly(c.Spec, r); err != nil {
		return err
	}
	if c.Spec.Root != nil && c.Spec.Root.Readonly {
		if err := bindRemountRO("/"); err != nil {
			return fmt.Errorf("remount / read-only: %w", err)
		}
	}
	prop, err := propagationOf(c.Spec)
	if err != nil {
		return err
	}
	if prop != 0 && !c.HostMountNS {
		if err := sys.mount("", "/", "", prop, ""); err != nil {
			return fmt.Errorf("set propagation %s on /: %w", flagString(prop), err)
		}
	}
	return nil
}

// maskAndProtect applies readonlyPaths, then maskedPaths, each by handle
// from r, the handle on the root.
func maskAndProtect(l *specs.Linux, r *root) error {
	m := &pathMasker{r: r}
	defer m.Close()
	for _, p := range l.ReadonlyPaths {
		if err := m.readonlyPath(p); err != nil {
			return err
		}
	}
	for _, p := range l.MaskedPaths {
		if err := m.maskPath(p); err != nil {
			return err
		}
	}
	return nil
}
