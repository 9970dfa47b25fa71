package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/cgroupmgr"
	"github.com/stasis-oci/stasis/rootfs"
)

// Container is a locked, loaded container. Commands get one from
// Store.Get, act through it, and Close it.
type Container struct {
	h  *handle
	st *State
	cg cgroupmgr.Manager
}

// Get locks and loads container id.
func (s *Store) Get(id string) (*Container, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	h, err := lockDir(id, s.dir(id))
	if err != nil {
		return nil, err
	}
	st, err := h.Load()
	if errors.Is(err, errDamagedState) {
		// Not a torn write (Save renames into place): someone else's.
		// Reported, so list and state go on and delete can remove it.
		Warn("container %s: %v: shown as creating; delete removes its state dir (its cgroup and processes, unknown, are not touched)", id, err)
		return &Container{h: h, st: &State{ID: id, Incomplete: true}}, nil
	}
	if errors.Is(err, ErrNotFound) {
		// Locked, at its name, and no state.json: not a create under way
		// (reserve's directory appears locked, and its create holds the
		// lock until state.json is written or the directory is gone), but
		// one that never finished (stasis was killed mid-create). Give it
		// a phase so `delete` can clean it up. It must be checked under the
		// lock: checked before, a create that finished while we waited
		// for the lock looked abandoned, and its delete removed the state
		// dir but left the init and its cgroup.
		return &Container{h: h, st: &State{ID: id}}, nil
	}
	if err != nil {
		h.Close()
		return nil, err
	}
	c := &Container{h: h, st: st}
	c.recoverFreeze()
	return c, nil
}

// Close releases the container's lock.
func (c *Container) Close() { c.h.Close() }

// Dir is the container's state directory.
func (c *Container) Dir() string { return c.h.dir }

// ID is the container's id.
func (c *Container) ID() string { return c.h.ID }

// State is the persisted state (read-only for callers).
func (c *Container) State() *State { return c.st }

func (c *Container) cgroup() (cgroupmgr.Manager, error) {
	if c.cg != nil {
		return c.cg, nil
	}
	if c.st.Cgroup == nil {
		return nil, nil
	}
	m, err := cgroupmgr.Load(c.st.Cgroup)
	if err != nil {
		return nil, fmt.Errorf("load cgroup: %w", err)
	}
	c.cg = m
	return m, nil
}

// Status derives the OCI status from the live system, as runc does: the
// init's liveness, the exec fifo (present until start), and the freezer.
func (c *Container) Status() Status {
	if c.st.Pid == 0 || c.st.Incomplete {
		return Creating
	}
	if !alive(c.st.Pid, c.st.PidStartTime) {
		return Stopped
	}
	if _, err := os.Stat(filepath.Join(c.h.dir, fifoFile)); err == nil {
		return Created
	}
	if cg, err := c.cgroup(); err == nil && cg != nil {
		if frozen, err := cg.Frozen(); err == nil && frozen {
			return Paused
		}
	}
	return Running
}

func (c *Container) phase() phase {
	switch s := c.Status(); s {
	case Creating:
		return creatingPhase{refuseAll{s}, c}
	case Created:
		return createdPhase{refuseAll{s}, c}
	case Running:
		return runningPhase{refuseAll{s}, c}
	case Paused:
		return pausedPhase{refuseAll{s}, c}
	default:
		return stoppedPhase{refuseAll{s}, c}
	}
}

// Start releases a created container's init to exec the user process.
func (c *Container) Start() error { return c.phase().Start() }

// Kill sends sig to the init, or with all to every process of the container.
func (c *Container) Kill(sig unix.Signal, all bool) error { return c.phase().Kill(sig, all) }

// Delete removes the container; running or paused ones need force.
func (c *Container) Delete(force bool) error { return c.phase().Delete(force) }

// Pause freezes every process of a running container.
func (c *Container) Pause() error { return c.phase().Pause() }

// Resume thaws a paused container.
func (c *Container) Resume() error { return c.phase().Resume() }

// OCIState is the state document `stasis state` prints: the runtime
// spec's fields plus rootfs, created and owner, as runc prints them (pid
// included when 0, which specs.State would omit).
//
// The fields are in runc's order (state and list --format json): clients
// and tests that match the output as text rely on it.
type OCIState struct {
	Version     string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      Status            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Owner       string            `json:"owner"`
}

// OCIState reports the container as the runtime spec describes it.
func (c *Container) OCIState() OCIState {
	s := c.Status()
	pid := c.st.Pid
	if s == Stopped {
		pid = 0
	}
	return OCIState{
		Version: specs.Version, ID: c.ID(), Status: s, Pid: pid, Bundle: c.st.Bundle,
		Rootfs: c.st.Rootfs, Created: c.st.Created, Owner: c.st.Owner, Annotations: c.st.Annotations,
	}
}

func (c *Container) signal(sig unix.Signal, all bool) error {
	if all || c.killsCgroup(sig) {
		cg, err := c.cgroup()
		if err != nil {
			return err
		}
		if cg != nil {
			return signalCgroup(cg, sig)
		}
	}
	err := signalPid(c.st.Pid, c.st.PidStartTime, sig)
	if errors.Is(err, errProcessGone) {
		return refuse("kill", Stopped)
	}
	return err
}

// signalPaused delivers sig to a frozen container. A frozen task does not
// act on a signal until thawed, so SIGKILL thaws after sending (as runc
// does) to let the container actually die.
func (c *Container) signalPaused(sig unix.Signal, all bool) error {
	if err := c.signal(sig, all); err != nil {
		return err
	}
	if sig == unix.SIGKILL {
		return c.thaw()
	}
	return nil
}

// killsCgroup: SIGKILL to a container in the host's pid namespace goes to
// every process of its cgroup, as in runc since 1.2. With a pid namespace
// of its own the kernel does that when the init dies; without one, the
// init is a process like any other and the rest would live on.
func (c *Container) killsCgroup(sig unix.Signal) bool {
	return sig == unix.SIGKILL && !c.st.NewPidNS && c.st.Cgroup != nil
}

// killLeftovers is kill of a stopped container: with SIGKILL and the
// host's pid namespace, what the gone init left in the cgroup is killed
// (runc's "kill KILL [host pidns + init gone]"); anything else is refused.
func (c *Container) killLeftovers(sig unix.Signal) error {
	cg, err := c.cgroup()
	if err != nil {
		return err
	}
	if cg == nil || !c.killsCgroup(sig) {
		return refuse("kill", Stopped)
	}
	err = signalCgroup(cg, sig)
	if errors.Is(err, cgroupmgr.ErrNotFound) {
		return refuse("kill", Stopped)
	}
	return err
}

func (c *Container) freeze() error {
	cg, err := c.cgroup()
	if err != nil {
		return err
	}
	if cg == nil {
		return errors.New("container has no cgroup to freeze")
	}
	if err := cg.Freeze(); err != nil {
		return fmt.Errorf("freeze: %w", err)
	}
	return nil
}

func (c *Container) thaw() error {
	cg, err := c.cgroup()
	if err != nil {
		return err
	}
	if cg == nil {
		return errors.New("container has no cgroup to thaw")
	}
	if err := cg.Thaw(); err != nil {
		return fmt.Errorf("thaw: %w", err)
	}
	return nil
}

// killAndDestroy kills every process of the container, waits for the init
// to go, and removes everything.
func (c *Container) killAndDestroy() error {
	if err := c.killEverything(); err != nil {
		return err
	}
	return c.destroy()
}

func (c *Container) killEverything() error {
	cg, _ := c.cgroup()
	switch {
	case cg != nil && c.killsCgroup(unix.SIGKILL):
		if err := signalCgroup(cg, unix.SIGKILL); err != nil {
			return err
		}
	case cg != nil:
		// Thaw first: SIGKILL is not acted on by a frozen task.
		if frozen, err := cg.Frozen(); err == nil && frozen {
			_ = cg.Thaw()
		}
	}
	if c.st.Pid == 0 {
		return nil // an incomplete create that recorded no init yet
	}
	if err := signalPid(c.st.Pid, c.st.PidStartTime, unix.SIGKILL); err != nil && !errors.Is(err, errProcessGone) {
		return err
	}
	if err := waitGone(c.st.Pid, c.st.PidStartTime, 10*time.Second); err != nil {
		return err
	}
	return nil
}

// destroy removes what the container owns on the host: leftover processes
// in its cgroup (possible without a pid namespace), the cgroups stasis
// made, the mounts it made in the host's namespace (without a mount
// namespace of its own), and the state dir. Other mounts live in the
// container's mount namespace and went with its last process.
func (c *Container) destroy() error {
	cg, err := c.cgroup()
	if err != nil {
		return err
	}
	if cg != nil {
		if err := killCgroup(cg); err != nil {
			return err
		}
		if err := cg.Destroy(); err != nil {
			return fmt.Errorf("remove cgroup: %w", err)
		}
	}
	if c.st.RootfsMounted {
		if err := unix.Unmount(c.st.Rootfs, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmount rootfs %s: %w", c.st.Rootfs, err)
		}
	}
	if c.st.HostRootfsMountID != 0 {
		if err := rootfs.DetachHostMounts(c.st.Rootfs, c.st.HostRootfsMountID); err != nil {
			return err
		}
	}
	if c.st.Config != nil {
		warnHooks("poststop", hooksOf(c.st.Config).Poststop, c.st.hookState(Stopped, 0))
	}
	return c.h.Remove()
}
