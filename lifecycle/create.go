package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/cgroupmgr"
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
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return nil, err
	}
	sp, err := spec.Load(bundle)
	if err != nil {
		return nil, err
	}
	if !hasNamespace(sp.Linux, "mount") {
		return nil, errors.New("config has no mount namespace: stasis will not set up a rootfs in the host's")
	}
	if sp.Process.Terminal && o.ConsoleSocket == "" {
		return nil, errors.New("process.terminal is set but no --console-socket was given")
	}
	if !sp.Process.Terminal && o.ConsoleSocket != "" {
		return nil, errors.New("--console-socket given but process.terminal is false")
	}

	h, err := s.Reserve(o.ID)
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

	st := &State{
		ID:          o.ID,
		Bundle:      bundle,
		Rootfs:      spec.RootfsPath(bundle, sp),
		Created:     time.Now().UTC(),
		Owner:       "",
		Annotations: sp.Annotations,
		Config:      sp,
		NewPidNS:    newNamespace(sp.Linux, "pid"),
	}

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

	cgPath := ""
	if sp.Linux != nil {
		cgPath = sp.Linux.CgroupsPath
	}
	cg, err := cgroupmgr.New(o.ID, cgPath)
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}

	exe, err := sealedSelf()
	if err != nil {
		return nil, err
	}
	defer exe.Close()

	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	parentSock := os.NewFile(uintptr(fds[0]), "init-sock-parent")
	childSock := os.NewFile(uintptr(fds[1]), "init-sock-child")
	defer parentSock.Close()
	defer childSock.Close()

	named := namedFds{}
	for i := 0; i < o.PreserveFds; i++ {
		named.preserved = append(named.preserved, os.NewFile(uintptr(3+i), "preserved-"+strconv.Itoa(3+i)))
	}
	named.add(envInitSock, childSock)
	named.add(envFifoFd, fifo)
	if o.ConsoleSocket != "" {
		conn, err := dialConsole(o.ConsoleSocket)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		named.add(envConsole, conn)
	}
	extra, env := named.layout()

	cmd := &exec.Cmd{
		Path:       fmt.Sprintf("/proc/self/fd/%d", exe.Fd()),
		Args:       []string{"stasis", "init"},
		Env:        env,
		Stdin:      orStd(o.Stdin, os.Stdin),
		Stdout:     orStd(o.Stdout, os.Stdout),
		Stderr:     orStd(o.Stderr, os.Stderr),
		ExtraFiles: extra,
		// Stage 0 dies with us if create is interrupted before it is done.
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: unix.SIGKILL},
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start init: %w", err)
	}
	childSock.Close()
	stage0Done := false
	undo.push(func() {
		if !stage0Done {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})

	// Step 2: the cgroup is joined by stage 0, so the namespaces it
	// creates (cgroup included) and the init it clones start inside it.
	undo.push(func() {
		killCgroup(cg)
		cg.Destroy()
	})
	if err := cg.Apply(cmd.Process.Pid); err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	if sp.Linux != nil && sp.Linux.Resources != nil {
		if err := cg.Set(sp.Linux.Resources); err != nil {
			return nil, fmt.Errorf("cgroup: %w", err)
		}
	}
	st.Cgroup = cg.State()

	initPid, err := newBootstrap(sp).run(parentSock)
	werr := cmd.Wait()
	stage0Done = true
	if err != nil {
		return nil, err
	}
	if werr != nil {
		return nil, fmt.Errorf("namespace setup: %w", werr)
	}
	undo.push(func() {
		unix.Kill(initPid, unix.SIGKILL)
		var ws unix.WaitStatus
		unix.Wait4(initPid, &ws, 0, nil)
	})

	cfg := msgConfig{
		ID: o.ID, Spec: sp, Rootfs: st.Rootfs,
		NoPivot: o.NoPivot, NoNewKeyring: o.NoNewKeyring, PreserveFds: o.PreserveFds,
	}
	if err := json.NewEncoder(parentSock).Encode(cfg); err != nil {
		return nil, fmt.Errorf("send config to init: %w", err)
	}
	var status msgStatus
	if err := json.NewDecoder(parentSock).Decode(&status); err != nil {
		return nil, fmt.Errorf("container init died before it was ready (%v)", err)
	}
	if !status.Ready {
		return nil, errors.New(status.Error)
	}

	_, start, err := procStat(initPid)
	if err != nil {
		return nil, fmt.Errorf("read init start time: %w", err)
	}
	st.Pid, st.PidStartTime = initPid, start
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

func orStd(f, def *os.File) *os.File {
	if f != nil {
		return f
	}
	return def
}

func dialConsole(path string) (*os.File, error) {
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("connect to console socket: %w", err)
	}
	defer conn.Close()
	f, err := conn.File()
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return f, nil
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
