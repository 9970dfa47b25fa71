package aufs

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Mounter is the seam for the system calls Remount makes, so the option
// strings are unit-tested without AUFS (or root).
type Mounter interface {
	Mount(source, target, fstype string, flags uintptr, data string) error
	// MountParams mounts a new fstype superblock at target through the
	// new mount API (fsopen, fsconfig, fsmount, move_mount): each Param
	// is one fsconfig call, so values need no comma escaping and the
	// options are not limited to a page.
	MountParams(fstype, target string, params []Param) error
	Unmount(target string, flags int) error
}

// Param is one fsconfig option: a string value, or a flag when !HasValue.
// Dir, if set, is the directory the value names, which a Mounter may pass
// as an open descriptor instead (for paths fsconfig would cut).
type Param struct {
	Key, Value string
	HasValue   bool
	Dir        string
}

// Remount mounts the same union again at target (an existing directory):
// restore uses it when the container's rootfs is not mounted any more. The
// whole union is mounted; if Root is not "/", the container's root is
// target/Root.
func (u *Union) Remount(target string) error {
	return u.RemountWith(SysMounter{}, target)
}

// RemountWith is Remount through m.
func (u *Union) RemountWith(m Mounter, target string) error {
	switch u.Kind {
	case AUFS:
		return u.remountAUFS(m, target)
	case Overlay:
		return u.remountOverlay(m, target)
	}
	return fmt.Errorf("aufs: remount %s: %s root is not a union; bind-mount it instead", target, u.Kind)
}

// maxData is the most mount(2) reads of its data argument: one page,
// including the terminating NUL. Longer strings are cut, not refused.
func maxData() int { return os.Getpagesize() - 1 }

func (u *Union) remountAUFS(m Mounter, target string) error {
	if len(u.Layers) == 0 {
		return fmt.Errorf("aufs: remount %s: no branches", target)
	}
	// AUFS options have no escapes: ',' ends an option, ':' separates
	// branches and the permission starts at the FIRST '='. A branch path
	// holding any of them is passed as /proc/self/fd/N of an open
	// descriptor, which the kernel's path lookup follows to the directory.
	var names []string
	for _, l := range u.Layers {
		name := l.Path
		if strings.ContainsAny(name, ",:=") || len(name) > maxData()/4 {
			fd, err := unix.Open(l.Path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("aufs: remount %s: branch %q: %w", target, l.Path, err)
			}
			defer unix.Close(fd)
			name = "/proc/self/fd/" + strconv.Itoa(fd)
		}
		names = append(names, name+"="+l.Perm)
	}
	// As Docker does: as many branches as fit in the first page, the rest
	// appended one remount at a time.
	data, n := "br:"+names[0], 1
	for ; n < len(names) && len(data)+1+len(names[n]) <= maxData(); n++ {
		data += ":" + names[n]
	}
	if len(data) > maxData() {
		return fmt.Errorf("aufs: remount %s: branch %q does not fit in the mount options", target, u.Layers[0].Path)
	}
	if err := m.Mount("none", target, "aufs", 0, data); err != nil {
		return fmt.Errorf("aufs: mount aufs at %s: %w", target, err)
	}
	for ; n < len(names); n++ {
		if err := m.Mount("none", target, "aufs", unix.MS_REMOUNT, "append:"+names[n]); err != nil {
			// Do not leave a union with missing branches behind.
			uerr := m.Unmount(target, unix.MNT_DETACH)
			return errors.Join(fmt.Errorf("aufs: appending branch %q at %s: %w", u.Layers[n].Path, target, err), uerr)
		}
	}
	return nil
}

// overlayLayers splits Layers back into the mount's lower and data dirs.
func (u *Union) overlayLayers() (lower, data []string) {
	for _, l := range u.Layers {
		switch l.Perm {
		case PermLower:
			lower = append(lower, l.Path)
		case PermData:
			data = append(data, l.Path)
		}
	}
	return lower, data
}

func (u *Union) remountOverlay(m Mounter, target string) error {
	lower, dataDirs := u.overlayLayers()
	if len(lower) == 0 {
		return fmt.Errorf("aufs: remount %s: overlay without lower layers", target)
	}
	esc := func(ps []string) []string {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = ovlEscape(p)
		}
		return out
	}
	opts := []string{"lowerdir=" + strings.Join(esc(lower), ":")}
	if len(dataDirs) > 0 {
		opts[0] += "::" + strings.Join(esc(dataDirs), ":")
	}
	if u.Upper != "" {
		opts = append(opts, "upperdir="+ovlEscape(u.Upper), "workdir="+ovlEscape(u.Work))
	}
	opts = append(opts, u.Options...)
	if data := strings.Join(opts, ","); len(data) <= maxData() {
		if err := m.Mount("overlay", target, "overlay", 0, data); err != nil {
			return fmt.Errorf("aufs: mount overlay at %s: %w", target, err)
		}
		return nil
	}
	// Too long for mount(2): one fsconfig call per layer (kernel 6.8+).
	// lowerdir+ and datadir+ take no escapes; upperdir and workdir
	// still do.
	var ps []Param
	for _, p := range lower {
		ps = append(ps, Param{Key: "lowerdir+", Value: p, HasValue: true, Dir: p})
	}
	for _, p := range dataDirs {
		ps = append(ps, Param{Key: "datadir+", Value: p, HasValue: true, Dir: p})
	}
	if u.Upper != "" {
		ps = append(ps,
			Param{Key: "upperdir", Value: ovlEscape(u.Upper), HasValue: true, Dir: u.Upper},
			Param{Key: "workdir", Value: ovlEscape(u.Work), HasValue: true, Dir: u.Work})
	}
	for _, o := range u.Options {
		k, v, ok := strings.Cut(o, "=")
		ps = append(ps, Param{Key: k, Value: v, HasValue: ok})
	}
	if err := m.MountParams("overlay", target, ps); err != nil {
		return fmt.Errorf("aufs: mount overlay at %s (new mount API): %w", target, err)
	}
	return nil
}
