// Package cgroupmgr places a container's processes into cgroups and controls
// them through one Manager interface, whatever the host layout: cgroup v1
// (one hierarchy per controller), pure v2, or hybrid (v1 controllers plus a
// v2 hierarchy at /sys/fs/cgroup/unified).
package cgroupmgr

import (
	"fmt"

	"github.com/containerd/cgroups/v3"
)

// Mode is the cgroup layout of the host.
type Mode int

const (
	// Unavailable means no cgroup filesystem is mounted at /sys/fs/cgroup.
	Unavailable Mode = iota
	// Legacy is cgroup v1 only: one hierarchy per controller (or group).
	Legacy
	// Hybrid is cgroup v1 controllers plus a controller-less (or nearly)
	// cgroup v2 hierarchy at /sys/fs/cgroup/unified.
	Hybrid
	// Unified is pure cgroup v2 at /sys/fs/cgroup.
	Unified
)

func (m Mode) String() string {
	switch m {
	case Legacy:
		return "legacy"
	case Hybrid:
		return "hybrid"
	case Unified:
		return "unified"
	default:
		return "unavailable"
	}
}

// MarshalText keeps persisted state readable and independent of the
// numeric order of the constants.
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText is the inverse of MarshalText.
func (m *Mode) UnmarshalText(b []byte) error {
	switch string(b) {
	case "legacy":
		*m = Legacy
	case "hybrid":
		*m = Hybrid
	case "unified":
		*m = Unified
	case "unavailable":
		*m = Unavailable
	default:
		return fmt.Errorf("cgroupmgr: unknown cgroup mode %q", b)
	}
	return nil
}

// detectMode is a seam: tests swap it to pretend to be another host.
var detectMode = func() Mode {
	switch cgroups.Mode() {
	case cgroups.Legacy:
		return Legacy
	case cgroups.Hybrid:
		return Hybrid
	case cgroups.Unified:
		return Unified
	default:
		return Unavailable
	}
}

// DetectMode reports the cgroup layout of this host (cached after the first
// call by the underlying library).
func DetectMode() Mode { return detectMode() }
