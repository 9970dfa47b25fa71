package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/stasis-oci/stasis/cgroupmgr"
	"github.com/stasis-oci/stasis/internal/faults"
	"github.com/stasis-oci/stasis/rootfs"
	"github.com/stasis-oci/stasis/seccomp"
	"github.com/stasis-oci/stasis/spec"
)

// CreateOpts are create's flags (runc's names).
type CreateOpts struct {
	ID            string
	Bundle        string
	PidFile       string
	ConsoleSocket string
	NoPivot       bool
	NoNewKeyring  bool
	PreserveFds   int
	// ForegroundConsole, when ConsoleSocket is empty, receives the pty
	// master if the spec asks for a terminal (run's own tty proxy); it is
	// ignored otherwise.
	ForegroundConsole *os.File
	// Stdio of the container; nil means stasis's own.
	Stdin, Stdout, Stderr *os.File
}

// Create builds a container up to the point where only the user process's
// exec is left (protocol.go, steps 1-9) and returns it, still locked.
func (s *Store) Create(o CreateOpts) (c *Container, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("create %s: %w", o.ID, err)
		}
	}()
	bundle, sp, err := spec.LoadBundle(o.Bundle)
	if err != nil {
		return nil, err
	}
	if sp.Linux != nil {
		if err := seccomp.Validate(sp.Linux.Seccomp); err != nil {
			return nil, err
		}
	}
	if sp.Process.Terminal && o.ConsoleSocket == "" && o.ForegroundConsole == nil {
		return nil, errors.New("process.terminal is set but no --console-socket was given")
	}
	if !sp.Process.Terminal && o.ConsoleSocket != "" {
		return nil, errors.New("--console-socket given but process.terminal is false")
	}

	h, err := s.reserve(o.ID)
	if err != nil {
		return nil, err
	}
	faults.Point("create.after-state-dir")
	var undo cleanups
	defer func() {
		if err != nil {
			undo.run()
		}
	}()
	undo.push(func() { h.Remove() })

	st := newState(o.ID, bundle, sp)

	fifoPath := filepath.Join(h.dir, fifoFile)
	if err := unix.Mkfifo(fifoPath, 0o622); err != nil {
		return nil, fmt.Errorf("make exec fifo: %w", err)
	}
	// The init opens it for writing after dropping to the container's
	// user, which may be anyone: undo the umask's cut of o+w.
	if err := os.Chmod(fifoPath, 0o622); err != nil {
		return nil, fmt.Errorf("make exec fifo: %w", err)
	}
	fifo, err := os.OpenFile(fifoPath, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open exec fifo: %w", err)
	}
	defer fifo.Close()

	cg, err := newCgroup(o.ID, sp)
	if err != nil {
		return nil, err
	}

	trees, err := idmapSources(sp)
	if err != nil {
		return nil, err
	}
	defer closeAll(trees)

	named := namedFds{}
	named.add(envFifoFd, fifo)
	for i := range sp.Mounts {
		if t, ok := trees[i]; ok {
			named.add(envIDMapPrefix+strconv.Itoa(i), t)
		}
	}
	if o.ConsoleSocket != "" {
		conn, err := DialConsole(o.ConsoleSocket)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		named.add(envConsole, conn)
	} else if sp.Process.Terminal {
		named.add(envConsole, o.ForegroundConsole)
	}
	undo.push(func() {
		killCgroup(cg)
		cg.Destroy()
	})
	if !hasNamespace(sp.Linux, specs.MountNamespace) {
		// The init will mount in the host's namespace (rootfs.Prepare):
		// note where the rootfs was, to detach exactly what it adds, on
		// failure here (after the init is killed) or at delete.
		id, err := rootfs.MountID(st.Rootfs)
		if err != nil {
			return nil, fmt.Errorf("rootfs: %w", err)
		}
		st.HostRootfsMountID = id
		undo.push(func() { rootfs.DetachHostMounts(st.Rootfs, id) })
	}
	initPid, err := spawn(&spawnOpts{
		boot:      newBootstrap(sp),
		cg:        cg,
		resources: cgroupResources(sp),
		inNamespaces: func(pid int) error {
			return moveNetDevices(pid, sp.Linux)
		},
		preserveFds: o.PreserveFds,
		// Recorded as soon as they exist: a create killed from here on
		// leaves a state.json that delete cleans up by (recover.go).
		onCgroup: func() error {
			st.Cgroup = cg.State()
			return h.Save(st)
		},
		onPid: func(pid int) error {
			start, err := startTime(pid)
			if err != nil {
				return fmt.Errorf("read init start time: %w", err)
			}
			st.Pid, st.PidStartTime = pid, start
			return h.Save(st)
		},
		named: named,
		stdio: [3]*os.File{o.Stdin, o.Stdout, o.Stderr},
		onHooks: func(pid int) (*specs.State, error) {
			// The init has built its mount tree and waits, before
			// pivot_root, for these hooks.
			faults.Point("create.during-mounts")
			hs := hooksOf(sp)
			state := st.hookState(Creating, pid)
			if err := runHooks("prestart", hs.Prestart, state); err != nil {
				return nil, err
			}
			if err := runHooks("createRuntime", hs.CreateRuntime, state); err != nil {
				return nil, err
			}
			faults.Point("create.after-hooks")
			return state, nil
		},
		state: func(pid int) *specs.State { return st.hookState(Creating, pid) },
		msg: msgConfig{
			ID: o.ID, Spec: sp, Rootfs: st.Rootfs,
			NoPivot: o.NoPivot, NoNewKeyring: o.NoNewKeyring, PreserveFds: o.PreserveFds,
		},
	}, &undo)
	if err != nil {
		return nil, err
	}
	faults.Point("create.before-state-saved")
	st.Cgroup = cg.State()
	st.Incomplete = false
	if err := h.Save(st); err != nil {
		return nil, err
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, initPid); err != nil {
			return nil, err
		}
	}
	undo.release()
	return &Container{h: h, st: st, cg: cg}, nil
}

// writePidFile writes atomically: containerd reads the file as soon as
// create returns and must never see it half-written.
func writePidFile(path string, pid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	return writeFileAtomic(abs, []byte(strconv.Itoa(pid)), 0o644)
}

// newCgroup is the cgroup manager of container id, refused (before
// anything is made in it) where create and restore cannot use it.
func newCgroup(id string, sp *specs.Spec) (cgroupmgr.Manager, error) {
	cgPath := ""
	if sp.Linux != nil {
		cgPath = sp.Linux.CgroupsPath
	}
	cg, err := cgroupmgr.New(id, cgPath)
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	if err := checkUnifiedResources(sp, cg); err != nil {
		return nil, err
	}
	if err := checkExistingCgroup(cg); err != nil {
		return nil, err
	}
	return cg, nil
}

// checkExistingCgroup looks at a cgroup that exists before the container
// does (a cgroupsPath shared with another container, or made by hand), as
// runc does: processes already in it get a warning, and a frozen one is
// refused, since the init would stop inside it and create would hang.
func checkExistingCgroup(cg cgroupmgr.Manager) error {
	frozen, err := cg.Frozen()
	if err != nil && !errors.Is(err, cgroupmgr.ErrNotFound) {
		return fmt.Errorf("read cgroup freezer state: %w", err)
	}
	if frozen {
		return errors.New("container's cgroup unexpectedly frozen: thaw it (freezer.state THAWED or cgroup.freeze 0) or use another cgroupsPath")
	}
	pids, err := cg.Pids()
	if err != nil && !errors.Is(err, cgroupmgr.ErrNotFound) {
		return fmt.Errorf("list processes in the container's cgroup: %w", err)
	}
	if len(pids) > 0 {
		Warn("container's cgroup is not empty: %d process(es) found", len(pids))
	}
	return nil
}

// checkUnifiedResources refuses linux.resources.unified on a host whose
// controllers are v1 (a hybrid host's v2 hierarchy has none to set), with
// runc's words: the keys are v2 file names and nothing would apply them.
func checkUnifiedResources(sp *specs.Spec, cg cgroupmgr.Manager) error {
	if sp.Linux == nil || sp.Linux.Resources == nil || len(sp.Linux.Resources.Unified) == 0 {
		return nil
	}
	if mode := cg.State().Mode; mode != cgroupmgr.Unified {
		return fmt.Errorf("invalid configuration: linux.resources.unified is set, but this host's cgroups are %s, not cgroup v2", mode)
	}
	return nil
}

// newState is the first state a create or a restore saves: Incomplete
// until the init is recorded, so that what is saved meanwhile is what a
// delete after a kill must undo (recover.go).
func newState(id, bundle string, sp *specs.Spec) *State {
	return &State{
		ID:          id,
		Bundle:      bundle,
		Rootfs:      spec.RootfsPath(bundle, sp),
		Created:     time.Now().UTC(),
		Annotations: sp.Annotations,
		Config:      sp,
		NewPidNS:    newNamespace(sp.Linux, "pid"),
		Incomplete:  true,
	}
}
