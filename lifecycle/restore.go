package lifecycle

import (
	"errors"
	"fmt"
	"os"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/cgroupmgr"
	"github.com/stasis-oci/stasis/rootfs"
	"github.com/stasis-oci/stasis/spec"
)

// Restore's side of the container lifecycle. CRIU brings the processes
// back; everything else a container is (its id, state dir, cgroups,
// hooks, state.json and pid file) is made here, as create makes it, so
// restore leaves a container no different from a created one and a
// failed restore leaves nothing:
//
//	step                               undone on failure by
//	reserve the id (state dir)         removing the state dir
//	o.Prepare (e.g. mount a union)     unmounting what it mounted
//	make the cgroups                   killing every process in them, removing them
//	run: CRIU restores into them       (the cgroup kill above)
//	  at setup-namespaces: prestart,
//	  createRuntime hooks
//	  at pre-resume: root.readonly
//	save state.json, the pid file
//	poststart hooks                    (the cgroup kill above)
//
// createContainer and startContainer do not run: they run in the
// container's namespaces before its process is executed, and a restored
// process was executed long ago; what they set up there was checkpointed
// with it. runc runs the same hooks at the same points.

// RestoreOpts are what lifecycle needs of restore's flags.
type RestoreOpts struct {
	ID      string
	Bundle  string
	PidFile string
	// Prepare runs once the id is reserved, before the cgroups are made,
	// with the container's rootfs path; it reports whether it mounted
	// the rootfs, which delete (or a failed restore) then unmounts.
	Prepare func(rootfs string) (mounted bool, err error)
}

// Restoring is the container being restored, as the CRIU side sees it.
type Restoring struct {
	ID     string
	Rootfs string
	Spec   *specs.Spec
	// Dir is the container's state dir, for CRIU's own mount point.
	Dir string
	// Cgroup is the new container's, configured from the bundle; CRIU
	// restores into it after Join.
	Cgroup cgroupmgr.Manager

	st *State
	h  *handle
}

// Join moves pid (CRIU, before it forks the restored tasks) into the
// container's cgroups and applies the bundle's resources.
func (r *Restoring) Join(pid int) error {
	if err := r.Cgroup.Apply(pid); err != nil {
		return fmt.Errorf("cgroup: %w", err)
	}
	if err := r.Cgroup.Set(cgroupResources(r.Spec)); err != nil {
		return fmt.Errorf("cgroup: %w", err)
	}
	r.st.Cgroup = r.Cgroup.State()
	// Recorded before CRIU puts anything there: a restore killed from
	// here on leaves a state.json that delete cleans up by (recover.go).
	return r.h.Save(r.st)
}

// NamespacesReady runs the prestart and createRuntime hooks, given the
// restored init's pid once CRIU made its namespaces (CRIU's
// setup-namespaces notification) and before it restores anything into
// them: a hook that configures the network namespace does so there.
func (r *Restoring) NamespacesReady(pid int) error {
	hs := hooksOf(r.Spec)
	state := r.st.hookState(Creating, pid)
	if err := runHooks("prestart", hs.Prestart, state); err != nil {
		return err
	}
	return runHooks("createRuntime", hs.CreateRuntime, state)
}

// BeforeResume finishes the container's mounts once CRIU restored every
// task and before any runs again: CRIU restores into a writable root
// and leaves it so, and root.readonly must hold from the first
// instruction the restored processes run.
func (r *Restoring) BeforeResume(initPid int) error {
	if r.Spec.Root == nil || !r.Spec.Root.Readonly {
		return nil
	}
	if initPid <= 0 {
		return errors.New("criu named no restored init: cannot make its root read-only")
	}
	return rootfs.RemountRootReadonlyIn(initPid)
}

// RestoreFunc runs CRIU's restore into r and returns the restored init.
type RestoreFunc func(r *Restoring) (pid int, err error)

// Restore makes container o.ID around the processes run restores and
// returns it running, still locked.
func (s *Store) Restore(o RestoreOpts, run RestoreFunc) (c *Container, err error) {
	bundle, sp, err := spec.LoadBundle(o.Bundle)
	if err != nil {
		return nil, err
	}
	h, err := s.reserve(o.ID)
	if err != nil {
		return nil, err
	}
	var undo cleanups
	defer func() {
		if err != nil {
			undo.run()
		}
	}()
	undo.push(func() { h.Remove() })
	st := newState(o.ID, bundle, sp)
	if o.Prepare != nil {
		mounted, err := o.Prepare(st.Rootfs)
		if err != nil {
			return nil, err
		}
		if mounted {
			st.RootfsMounted = true
			undo.push(func() { _ = unix.Unmount(st.Rootfs, unix.MNT_DETACH) })
			if err := h.Save(st); err != nil {
				return nil, err
			}
		}
	}
	cg, err := newCgroup(o.ID, sp)
	if err != nil {
		return nil, err
	}
	// What CRIU restored may be running in the cgroups when a later step
	// fails, and not only the init: kill them all before removing them.
	undo.push(func() {
		if err := killCgroup(cg); err != nil {
			Warn("restore %s: %v", o.ID, err)
		}
		_ = cg.Destroy()
	})
	r := &Restoring{ID: o.ID, Rootfs: st.Rootfs, Spec: sp, Dir: h.dir, Cgroup: cg, st: st, h: h}
	pid, err := run(r)
	if err != nil {
		return nil, err
	}
	if pid <= 0 {
		return nil, errors.New("criu restored no process")
	}
	st.Cgroup = cg.State()
	_, start, err := procStat(pid)
	if err != nil {
		return nil, fmt.Errorf("restored init %d: %w", pid, err)
	}
	st.Pid, st.PidStartTime = pid, start
	st.Incomplete = false
	if err := h.Save(st); err != nil {
		return nil, err
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, pid); err != nil {
			return nil, err
		}
		// a client reading it after a failed poststart would watch a
		// pid that is gone, or by then another process's
		undo.push(func() { _ = os.Remove(o.PidFile) })
	}
	// runtime.md, lifecycle step 9: a failing poststart hook is an error
	// and the container is stopped; here that undoes the whole restore.
	if err := runHooks("poststart", hooksOf(sp).Poststart, st.hookState(Running, pid)); err != nil {
		return nil, err
	}
	undo.release()
	return &Container{h: h, st: st, cg: cg}, nil
}
