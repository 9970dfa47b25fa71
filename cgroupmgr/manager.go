package cgroupmgr

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Warn receives non-fatal notices, e.g. a resource file the host lacks for a
// value the user left at its default. The lead wires it to its logger.
var Warn = func(format string, args ...any) {}

// Manager controls one container's cgroups.
type Manager interface {
	// Apply creates missing cgroup dirs (remembering which ones), then moves
	// pid into every hierarchy.
	Apply(pid int) error
	// EnterSub moves pid into existing sub-cgroups of the container's
	// (exec --cgroup): controller ("" for all) -> relative path.
	EnterSub(pid int, sub map[string]string) error
	// Set writes every resource in r that the host supports.
	Set(r *specs.LinuxResources) error
	Freeze() error
	Thaw() error
	Frozen() (bool, error)
	// Pids lists every process in the container cgroup, recursively.
	Pids() ([]int, error)
	Stats() (*Stats, error)
	// OOMEvents sends one value per OOM kill until ctx ends or the cgroup
	// goes away; the channel is then closed.
	OOMEvents(ctx context.Context) (<-chan struct{}, error)
	// State is what Load needs to rebuild this manager in another process.
	State() *State
	// Destroy removes only the dirs this manager created, deepest first.
	Destroy() error
	// Path is the absolute dir for a controller ("memory", "cpu",
	// "name=systemd" or "systemd"); "" is the v2 hierarchy. On a Unified
	// host every controller maps to the v2 dir. "" when absent.
	Path(controller string) string
}

// State is the JSON-serialisable description of a manager.
type State struct {
	ID   string `json:"id"`
	Mode Mode   `json:"mode"`
	// Paths maps a hierarchy key ("memory", "name=systemd", "" for v2) to
	// the container's absolute cgroup dir in it.
	Paths map[string]string `json:"paths"`
	// Created lists the dirs this manager made, parents before children.
	// Only these are ever removed, and v1 device rules are only written
	// into a devices cgroup listed here.
	Created []string `json:"created,omitempty"`
}

type manager struct {
	id      string
	mode    Mode
	paths   map[string]string
	created []string
}

// New prepares a manager for container id; nothing is created until Apply.
func New(id, cgroupsPath string) (Manager, error) {
	mode := DetectMode()
	if mode == Unavailable {
		return nil, fmt.Errorf("cgroupmgr: no cgroup filesystem at /sys/fs/cgroup: %w", ErrNotSupported)
	}
	hs, err := discover(mode)
	if err != nil {
		return nil, err
	}
	own, err := ownCgroups(hs)
	if err != nil {
		return nil, err
	}
	rel, err := Resolve(id, cgroupsPath, own)
	if err != nil {
		return nil, fmt.Errorf("cgroupmgr: container %s: %w", id, err)
	}
	paths := make(map[string]string, len(rel))
	for key, r := range rel {
		paths[key] = filepath.Join(hs[key].mountpoint, r)
	}
	return &manager{id: id, mode: mode, paths: paths}, nil
}

// Load rebuilds a manager from an earlier State.
func Load(s *State) (Manager, error) {
	if s == nil {
		return nil, fmt.Errorf("cgroupmgr: load: nil state")
	}
	if len(s.Paths) == 0 {
		return nil, fmt.Errorf("cgroupmgr: load %s: state has no cgroup paths", s.ID)
	}
	m := &manager{id: s.ID, mode: s.Mode, paths: map[string]string{}}
	for k, p := range s.Paths {
		if !filepath.IsAbs(p) || filepath.Clean(p) != p {
			return nil, fmt.Errorf("cgroupmgr: load %s: bad path %q for %q", s.ID, p, k)
		}
		m.paths[k] = p
	}
	m.created = append(m.created, s.Created...)
	return m, nil
}

func (m *manager) State() *State {
	paths := make(map[string]string, len(m.paths))
	for k, v := range m.paths {
		paths[k] = v
	}
	return &State{ID: m.id, Mode: m.mode, Paths: paths, Created: append([]string(nil), m.created...)}
}

func (m *manager) Path(controller string) string {
	if m.mode == Unified {
		return m.paths[unifiedKey]
	}
	if controller == "systemd" {
		controller = "name=systemd"
	}
	return m.paths[controller]
}

// dirs returns every distinct container dir (co-mounted controllers share
// one), sorted for a stable order.
func (m *manager) dirs() []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range m.paths {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func (m *manager) isCreated(dir string) bool {
	for _, c := range m.created {
		if c == dir {
			return true
		}
	}
	return false
}

// mainPath is the hierarchy used to list processes: every hierarchy holds
// the same processes, so pick one that is nearly always present.
func (m *manager) mainPath() string {
	if m.mode == Unified {
		return m.paths[unifiedKey]
	}
	for _, k := range []string{"pids", "freezer", "memory", "devices", "cpu", "name=systemd", unifiedKey} {
		if p, ok := m.paths[k]; ok {
			return p
		}
	}
	for _, p := range m.dirs() {
		return p
	}
	return ""
}

func (m *manager) String() string {
	return fmt.Sprintf("cgroups of %s (%s: %s)", m.id, m.mode, strings.Join(m.dirs(), ", "))
}
