package lifecycle

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/cgroupmgr"
)

// Status is a container's OCI status.
type Status string

const (
	Creating Status = "creating"
	Created  Status = "created"
	Running  Status = "running"
	Paused   Status = "paused"
	Stopped  Status = "stopped"
)

// phase is the behaviour of a container in one status. Each status is its
// own type and refuses what the runtime spec forbids in it; the allowed
// transitions are:
//
//	creating --create ok--> created --start--> running --exit--> stopped
//	created/running/paused --kill--> (signal)      running <--pause/resume--> paused
//	stopped, created, creating --delete--> gone;   running/paused --delete --force--> gone
type phase interface {
	Status() Status
	Start() error
	Kill(sig unix.Signal, all bool) error
	Delete(force bool) error
	Pause() error
	Resume() error
}

// refuseAll is the base of every phase: anything a phase does not
// override is an illegal transition.
type refuseAll struct{ s Status }

func (r refuseAll) Status() Status               { return r.s }
func (r refuseAll) Start() error                 { return refuse("start", r.s) }
func (r refuseAll) Kill(unix.Signal, bool) error { return refuse("kill", r.s) }
func (r refuseAll) Delete(bool) error            { return refuse("delete", r.s) }
func (r refuseAll) Pause() error                 { return refuse("pause", r.s) }
func (r refuseAll) Resume() error                { return refuse("resume", r.s) }

// creatingPhase is a container whose create (or restore) never finished:
// stasis was killed midway (recover.go). Only delete applies: it kills
// what the record names (the init, by pid and start time; the cgroup's
// processes) and removes the rest.
type creatingPhase struct {
	refuseAll
	c *Container
}

func (p creatingPhase) Delete(bool) error { return p.c.killAndDestroy() }

type createdPhase struct {
	refuseAll
	c *Container
}

func (p createdPhase) Start() error                         { return p.c.release() }
func (p createdPhase) Kill(sig unix.Signal, all bool) error { return p.c.signal(sig, all) }

// Delete of a created container needs no --force (as in runc): its user
// process never ran.
func (p createdPhase) Delete(bool) error { return p.c.killAndDestroy() }

type runningPhase struct {
	refuseAll
	c *Container
}

func (p runningPhase) Kill(sig unix.Signal, all bool) error { return p.c.signal(sig, all) }
func (p runningPhase) Pause() error                         { return p.c.freeze() }
func (p runningPhase) Delete(force bool) error {
	if !force {
		return refuse("delete (without --force)", p.s)
	}
	return p.c.killAndDestroy()
}

type pausedPhase struct {
	refuseAll
	c *Container
}

func (p pausedPhase) Kill(sig unix.Signal, all bool) error { return p.c.signalPaused(sig, all) }
func (p pausedPhase) Resume() error                        { return p.c.thaw() }
func (p pausedPhase) Delete(force bool) error {
	if !force {
		return refuse("delete (without --force)", p.s)
	}
	return p.c.killAndDestroy()
}

type stoppedPhase struct {
	refuseAll
	c *Container
}

func (p stoppedPhase) Delete(bool) error { return p.c.destroy() }

// Kill of a stopped container only reaches what its init left behind in
// the host's pid namespace; with --all it reaches whatever is still in its
// cgroup (nothing, usually, which is success, as in runc).
func (p stoppedPhase) Kill(sig unix.Signal, all bool) error {
	if !all {
		return p.c.killLeftovers(sig)
	}
	cg, err := p.c.cgroup()
	if err != nil || cg == nil {
		return err
	}
	err = signalCgroup(cg, sig)
	if errors.Is(err, cgroupmgr.ErrNotFound) {
		return nil
	}
	return err
}
