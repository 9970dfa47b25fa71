package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
	"unicode/utf8"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/cgroupmgr"
)

const (
	stateFile = "state.json"
	fifoFile  = "exec.fifo"
)

// MaxIDLen is the longest container id: an id names the container's
// state directory under --root (and its cgroup directory), so it is at
// most one file name (NAME_MAX) long. runc has no limit of its own and
// fails later, at mkdir, with "file name too long".
const MaxIDLen = 255

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
	// Incomplete: create or restore has not finished; what is recorded
	// is what it made so far, for delete after a kill (recover.go).
	Incomplete bool `json:"incomplete,omitempty"`
}

// Store is the directory of container states (--root).
type Store struct {
	Root string
}

// handle is a locked container directory. Every command that reads and
// then changes a container holds the lock for the whole operation, so two
// concurrent stasis processes never interleave on one container.
type handle struct {
	ID    string
	dir   string
	lockf *os.File
}

func (s *Store) dir(id string) string { return filepath.Join(s.Root, id) }

// ValidateID is the one check of a container id: the store applies it to
// every id it is given, and every command that takes an id applies it
// before doing anything else. The characters are runc's (letters,
// digits, '_', '+', '-', '.'), so an id never holds a path separator, a
// NUL or a control character; "." and ".." are refused, so it never
// names the root or its parent; and it is at most MaxIDLen bytes. The
// error says what is wrong and wraps ErrInvalidID.
func ValidateID(id string) error {
	reason := idProblem(id)
	if reason == "" {
		return nil
	}
	return fmt.Errorf("%w %s: %s (an id is 1 to %d of the characters A-Z a-z 0-9 _ + - ., and not \".\" or \"..\")",
		ErrInvalidID, QuoteID(id), reason, MaxIDLen)
}

func idProblem(id string) string {
	switch {
	case id == "":
		return "empty"
	case len(id) > MaxIDLen:
		return fmt.Sprintf("%d bytes long, longer than %d", len(id), MaxIDLen)
	case id == "." || id == "..":
		return "a directory name, not an id"
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '+', c == '-', c == '.':
		case c == '/':
			return fmt.Sprintf("'/' at byte %d", i)
		case c == 0:
			return fmt.Sprintf("NUL at byte %d", i)
		case c < 0x20 || c == 0x7f:
			return fmt.Sprintf("control character 0x%02x at byte %d", c, i)
		default:
			if r, _ := utf8.DecodeRuneInString(id[i:]); r != utf8.RuneError {
				return fmt.Sprintf("%q at byte %d", r, i)
			}
			return fmt.Sprintf("byte 0x%02x at byte %d", c, i)
		}
	}
	return ""
}

// QuoteID quotes an id for a message: Go-quoted (control characters and
// bytes that are not UTF-8 escaped, never written raw to a terminal),
// and cut after 64 bytes.
func QuoteID(id string) string {
	if len(id) > 64 {
		return fmt.Sprintf("%q...", id[:64])
	}
	return fmt.Sprintf("%q", id)
}

// reserve creates and locks the directory of a new container; it fails
// with ErrExists when the id is taken.
//
// The directory appears under its name already locked: it is made under a
// temporary name, locked, and renamed into place, RENAME_NOREPLACE being
// the atomic test of the id. Made under its name and locked after, it
// would for a moment be an unlocked directory without state.json, which
// is what an abandoned create looks like: a delete in that moment removed
// it under the create (which then failed with "does not exist", or ran a
// container no state named).
func (s *Store) reserve(id string) (*handle, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.Root, 0o711); err != nil {
		return nil, fmt.Errorf("create state root %s: %w", s.Root, err)
	}
	dir := s.dir(id)
	tmp, err := os.MkdirTemp(s.Root, ".reserve-")
	if err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	h, err := lockDir(id, tmp)
	if err == nil {
		err = os.Chmod(tmp, 0o711)
	}
	if err == nil {
		err = unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dir, unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.EINVAL) {
			// A file system without RENAME_NOREPLACE: mkdir is the test
			// of the id there, and the moment above remains.
			os.Remove(tmp)
			h.Close()
			return s.reserveInPlace(id)
		}
	}
	if err != nil {
		if h != nil {
			h.Close()
		}
		os.Remove(tmp)
		if errors.Is(err, os.ErrExist) {
			return nil, ErrExists
		}
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	h.dir = dir
	return h, nil
}

func (s *Store) reserveInPlace(id string) (*handle, error) {
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

// open locks an existing container's directory.
func (s *Store) open(id string) (*handle, error) {
	if err := ValidateID(id); err != nil {
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

func lockDir(id, dir string) (*handle, error) {
	for {
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
		// While we waited, the directory may have been removed (a delete,
		// a failed create) and its name given to a new container's: a lock
		// on the old one guards nothing. Lock what the name leads to now.
		same, err := sameDir(f, dir)
		if same {
			return &handle{ID: id, dir: dir, lockf: f}, nil
		}
		f.Close()
		if err != nil {
			return nil, err
		}
	}
}

// sameDir: f is the directory at path (not one removed or replaced since
// f was opened).
func sameDir(f *os.File, path string) (bool, error) {
	var have, now unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &have); err != nil {
		return false, fmt.Errorf("stat state dir: %w", err)
	}
	if err := unix.Stat(path, &now); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, ErrNotFound
		}
		return false, fmt.Errorf("stat state dir: %w", err)
	}
	return have.Dev == now.Dev && have.Ino == now.Ino, nil
}

// Dir is the container's state directory.
func (h *handle) Dir() string { return h.dir }

// Close releases the lock.
func (h *handle) Close() {
	if h.lockf != nil {
		h.lockf.Close()
		h.lockf = nil
	}
}

// Load reads state.json.
func (h *handle) Load() (*State, error) {
	data, err := os.ReadFile(filepath.Join(h.dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%w: decode %s: %w", errDamagedState, filepath.Join(h.dir, stateFile), err)
	}
	return &st, nil
}

// Save writes state.json atomically: a reader sees the old or the new
// file, never a torn one.
func (h *handle) Save(st *State) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	return writeFileAtomic(filepath.Join(h.dir, stateFile), data, 0o600)
}

// Remove deletes the whole state directory (the lock goes with it).
func (h *handle) Remove() error {
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
