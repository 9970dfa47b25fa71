// Package aufs describes the union filesystem (AUFS or overlayfs) under a
// container's root, so checkpoint and restore can translate between the
// paths the kernel reports (branch paths in /proc/PID/map_files, a rootless
// "/" in mountinfo) and the paths the container sees, and can mount the same
// union again before a restore. It imports nothing of stasis: the lead's
// checkpoint package stores a Union in its metadata and calls it.
package aufs

import (
	"fmt"
	"strings"
)

// Kind says what sort of filesystem holds the container's root.
type Kind int

const (
	// Plain is anything that is not a union (a bind-mounted directory, a
	// block device...). Paths need no translation beyond the mountpoint.
	Plain Kind = iota
	AUFS
	Overlay
)

var kindNames = [...]string{Plain: "plain", AUFS: "aufs", Overlay: "overlay"}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// MarshalText stores the kind by name so checkpoint metadata stays readable
// and does not depend on the constants' order.
func (k Kind) MarshalText() ([]byte, error) {
	if k < 0 || int(k) >= len(kindNames) {
		return nil, fmt.Errorf("aufs: unknown kind %d", int(k))
	}
	return []byte(kindNames[k]), nil
}

func (k *Kind) UnmarshalText(b []byte) error {
	for i, n := range kindNames {
		if n == string(b) {
			*k = Kind(i)
			return nil
		}
	}
	return fmt.Errorf("aufs: unknown kind %q", b)
}

// Layer roles for overlay; AUFS layers carry the branch permission instead.
const (
	PermUpper = "upper"
	PermLower = "lower"
	// PermData marks overlay data-only layers ("lowerdir=a::b", "datadir+"):
	// they hold file contents reached through metacopy redirects and are
	// never visible by name, so path lookups skip them.
	PermData = "data"
)

// Layer is one branch of the union, as a host path (exactly as the kernel
// reported it: a symlinked branch root is kept, not resolved).
type Layer struct {
	Path string `json:"path"`
	// Perm is the AUFS branch permission ("rw", "ro", "ro+wh", "rr", ...)
	// or the overlay role (PermUpper, PermLower, PermData).
	Perm string `json:"perm"`
}

// Union is the filesystem at the container's root.
type Union struct {
	Kind Kind `json:"kind"`
	// MountID is the ID of the container's root mount in the container's
	// mountinfo.
	MountID int `json:"mountId"`
	// Dev is that mount's st_dev ("major:minor"); bind mounts of the same
	// union share it, which is how the host-side mount is found.
	Dev string `json:"dev,omitempty"`
	// Root is the directory of the union that is the container's "/"
	// (the mountinfo root field); "/" unless the container's root is a
	// bind mount of a subdirectory of the union.
	Root string `json:"root,omitempty"`
	// Mountpoint is where the host sees the union mounted
	// (.../aufs/mnt/<id>, .../overlay2/<id>/merged), "" if not found.
	Mountpoint string `json:"mountpoint,omitempty"`
	// Layers: AUFS branches in order (br0, the top, first); overlay: the
	// upper dir first (if any), then the lower dirs top to bottom, then
	// the data-only layers.
	Layers []Layer `json:"layers,omitempty"`
	// Upper and Work are overlay's upperdir and workdir ("" if read-only).
	Upper string `json:"upper,omitempty"`
	Work  string `json:"work,omitempty"`
	// SI is the AUFS superblock id ("si=" option; sysfs dir si_<SI>).
	SI string `json:"si,omitempty"`
	// Options are the overlay options (decoded) other than the layer
	// paths, e.g. "index=off", "userxattr", "ro": Remount repeats them so
	// the union interprets its layers the same way.
	Options []string `json:"options,omitempty"`
}

// root returns u.Root with the default applied.
func (u *Union) root() string {
	if u.Root == "" {
		return "/"
	}
	return u.Root
}

// hasOption reports whether the overlay option name (without value) is set.
func (u *Union) hasOption(name string) bool {
	for _, o := range u.Options {
		if k, _, _ := strings.Cut(o, "="); k == name {
			return true
		}
	}
	return false
}
