package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/stasis-oci/stasis/cgroupmgr"
)

// What a stasis killed with SIGKILL mid-operation leaves, and how the
// next command on the container finds and undoes it (issue 13, 5;
// tests/bats/faults.bats):
//
//   - create and restore save state.json with Incomplete set as soon as
//     there is something to undo (the cgroup, the init's pid and start
//     time, a mount in the host's namespace), so `delete` knows what to
//     kill and remove; a state dir without state.json (a kill before the
//     first save) is an incomplete container with nothing recorded;
//   - a checkpoint records, before it freezes the container, whether the
//     freeze is its own (freezeIntentFile); the next command to lock the
//     container finds the file, knows the checkpoint died (it held the
//     lock until then), waits for its CRIU to finish rolling back, and
//     thaws what the checkpoint froze.

// freezeIntentFile is in the state dir while a checkpoint may have the
// container frozen.
const freezeIntentFile = "freeze-intent.json"

// freezeIntent is what undoing a dead checkpoint's freeze needs.
type freezeIntent struct {
	// WasPaused: the container was paused before the checkpoint froze it,
	// so frozen is its own state and stays.
	WasPaused bool `json:"was_paused"`
	// The CRIU the checkpoint drove: it outlives a killed stasis until it
	// next talks to it, and rolls back then (tasks unseized, the freezer
	// as it found it). Thawing before that would race its rollback.
	CriuPid   int    `json:"criu_pid,omitempty"`
	CriuStart uint64 `json:"criu_start,omitempty"`
}

// criuRollbackTimeout bounds the wait for a dead checkpoint's CRIU: it
// notices at its next message to stasis, which comes at the latest once
// the images are written.
var criuRollbackTimeout = 30 * time.Second

// BeginFreeze records, before a checkpoint freezes the container, that
// a freeze from now on is the checkpoint's, made with CRIU process
// criuPid. EndFreeze forgets it once the checkpoint has thawed or
// removed the container.
func (c *Container) BeginFreeze(criuPid int) error {
	in := freezeIntent{WasPaused: c.Status() == Paused, CriuPid: criuPid}
	if criuPid > 0 {
		start, err := startTime(criuPid)
		if err != nil {
			return fmt.Errorf("criu %d: %w", criuPid, err)
		}
		in.CriuStart = start
	}
	data, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(c.h.dir, freezeIntentFile), data, 0o600)
}

// EndFreeze drops the record BeginFreeze made (gone with the state dir
// when the checkpoint deleted the container).
func (c *Container) EndFreeze() {
	_ = os.Remove(filepath.Join(c.h.dir, freezeIntentFile))
}

// recoverFreeze undoes the freeze of a checkpoint that died: called with
// the container locked, so the checkpoint that wrote the intent is gone.
// A CRIU still rolling back is waited for; one that does not finish
// leaves the intent for the next command, and the cgroup frozen, rather
// than thaw tasks CRIU may still hold.
func (c *Container) recoverFreeze() {
	path := filepath.Join(c.h.dir, freezeIntentFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var in freezeIntent
	if err == nil {
		err = json.Unmarshal(data, &in)
	}
	if err != nil {
		// Unreadable: a kill mid-write cannot make one (writeFileAtomic),
		// so someone else did. Thawing would need to know the container
		// was not paused before; leave it as it is.
		Warn("container %s: unreadable %s (%v): removed; the container is left as it is", c.ID(), path, err)
		_ = os.Remove(path)
		return
	}
	if in.CriuPid > 0 {
		if err := waitGone(in.CriuPid, in.CriuStart, criuRollbackTimeout); err != nil {
			Warn("container %s: an interrupted checkpoint's criu (pid %d) is still running: %v; the container stays frozen until it ends", c.ID(), in.CriuPid, err)
			return
		}
	}
	if !in.WasPaused {
		if cg, err := c.cgroup(); err == nil && cg != nil {
			if err := cg.Thaw(); err != nil && !errors.Is(err, cgroupmgr.ErrNotFound) && !errors.Is(err, cgroupmgr.ErrNotSupported) {
				Warn("container %s: thaw after an interrupted checkpoint: %v", c.ID(), err)
				return
			}
		}
	}
	Debug("container %s: an interrupted checkpoint's freeze undone", c.ID())
	_ = os.Remove(path)
}
