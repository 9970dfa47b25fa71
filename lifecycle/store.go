package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/cgroupmgr"
)

const (
	stateFile = "state.json"
	fifoFile  = "exec.fifo"
)

// validID matches what runc accepts, so ids never contain a path separator
// or "..": they name a directory under the root.
var validID = regexp.MustCompile(`^[\w+\-.]+$`)

// State is what stasis persists for one container. Status is not stored:
// it is derived from the live init process each time it is read, so a
// crashed container is never reported as running.
type State struct {
	ID           string            `json:"id"`
	Bundle       string            `json:"bundle"`
	Rootfs       string            `json:"rootfs"`
	Pid          int               `json:"pid"`
	PidStartTime uint64            `json:"pid_start_time"`
	Created      time.Time         `json:"created"`
	Owner        string            `json:"owner"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Cgroup       *cgroupmgr.State  `json:"cgroup,omitempty"`
	Config       *specs.Spec       `json:"config"`
	// NewPidNS tells kill/delete whether killing init kills everything.
	NewPidNS bool `json:"new_pid_ns"`
	// RootfsMounted: stasis mounted the rootfs (a union that restore
	// mounted again) and unmounts it at delete.
	RootfsMounted bool `json:"rootfs_mounted,omitempty"`
	// HostRootfsMountID, for a container without a mount namespace, is
	// the mount the rootfs was on before the init bound it onto itself in
	// the host's namespace; delete detaches down to it.
	HostRootfsMountID uint64 `json:"host_rootfs_mount_id,omitempty"`
}

// Store is the directory of container states (--root).
type Store struct {
	Root string
}

// Handle is a locked container directory. Every command that reads and
// then changes a container holds the lock for the whole operation, so two
// concurrent stasis processes never interleave on one container.
type Handle struct {
	ID    string
	dir   string
	lockf *os.File
}

func (s *Store) dir(id string) string { return filepath.Join(s.Root, id) }

func checkID(id string) error {
	if id == "" || id == "." || id == ".." || !validID.MatchString(id) {
		return fmt.Errorf("%w %q", ErrInvalidID, id)
	}
	return nil
}

// Reserve creates and locks the directory of a new container; it fails
// with ErrExists when the id is taken (mkdir is the atomic test).
func (s *Store) Reserve(id string) (*Handle, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.Root, 0o711); err != nil {
		return nil, fmt.Errorf("create state root %s: %w", s.Root, err)
	}
	dir := s.dir(id)
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, ErrExists
		}
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	h, err := lockDir(id, dir)
	if err != nil {
		os.Remove(dir)
		return nil, err
	}
	return h, nil
}

// Open locks an existing container's directory.
func (s *Store) Open(id string) (*Handle, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	h, err := lockDir(id, s.dir(id))
	if err != nil {
		return nil, err
	}
	// The directory may have been deleted while we waited for the lock.
	if _, err := os.Stat(filepath.Join(h.dir, stateFile)); err != nil {
		h.Close()
		return nil, ErrNotFound
	}
	return h, nil
}

// List returns the ids of all containers with a state file.
func (s *Store) List() ([]string, error) {
	ents, err := os.ReadDir(s.Root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.Root, err)
	}
	var ids []string
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(s.Root, e.Name(), stateFile)); err == nil {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

func lockDir(id, dir string) (*Handle, error) {
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("open state dir: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock state dir: %w", err)
	}
	return &Handle{ID: id, dir: dir, lockf: f}, nil
}

// Dir is the container's state directory.
func (h *Handle) Dir() string { return h.dir }

// Close releases the lock.
func (h *Handle) Close() {
	if h.lockf != nil {
		h.lockf.Close()
		h.lockf = nil
	}
}

// Load reads state.json.
func (h *Handle) Load() (*State, error) {
	data, err := os.ReadFile(filepath.Join(h.dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("decode state %s: %w", filepath.Join(h.dir, stateFile), err)
	}
	return &st, nil
}

// Save writes state.json atomically: a reader sees the old or the new
// file, never a torn one.
func (h *Handle) Save(st *State) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	return writeFileAtomic(filepath.Join(h.dir, stateFile), data, 0o600)
}

// Remove deletes the whole state directory (the lock goes with it).
func (h *Handle) Remove() error {
	err := os.RemoveAll(h.dir)
	h.Close()
	if err != nil {
		return fmt.Errorf("remove state dir: %w", err)
	}
	return nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
