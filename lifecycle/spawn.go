package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/cgroupmgr"
	"github.com/stasis-oci/stasis/internal/faults"
)

// spawnOpts is what create and exec hand to spawn: steps 1-8 of
// protocol.go are the same for a container's init and an exec'd process;
// only the namespaces (new vs the container's) and the message differ.
type spawnOpts struct {
	boot        *bootstrap
	cg          cgroupmgr.Manager
	resources   *specs.LinuxResources // set after Apply (create only)
	subCgroups  map[string]string     // exec --cgroup: join these instead
	preserveFds int
	named       namedFds // the caller's named fds (fifo, console)
	stdio       [3]*os.File
	msg         msgConfig
	// onHooks runs the parent's hooks (step 7b) for the process pid and
	// returns the state the init's hooks get.
	onHooks func(pid int) (*specs.State, error)
	// state is the container's state as the seccomp agent gets it.
	state func(pid int) *specs.State
	// affinity is an exec'd process's execCPUAffinity (nil: inherit ours).
	affinity *cpuAffinity
	// onCgroup and onPid, when set, run once the cgroup is made and once
	// the init exists (create: record them, for a delete after a kill).
	onCgroup func() error
	onPid    func(pid int) error
	// inNamespaces, when set, runs once the init exists in the
	// container's namespaces, before it gets its config (create: move
	// linux.netDevices in, so the init finds them there).
	inNamespaces func(pid int) error
}

// spawn starts stage 0, places it in the cgroup, runs the bootstrap,
// sends the config and waits for the init's answer. Undo steps for what
// it made are pushed on undo. It returns the pid of stage 1.
func spawn(o *spawnOpts, undo *cleanups) (int, error) {
	if err := markInheritedCloexec(); err != nil {
		return 0, err
	}
	exe, err := sealedSelf()
	if err != nil {
		return 0, err
	}
	defer exe.Close()

	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("socketpair: %w", err)
	}
	parentSock := os.NewFile(uintptr(fds[0]), "init-sock-parent")
	childSock := os.NewFile(uintptr(fds[1]), "init-sock-child")
	defer parentSock.Close()
	defer childSock.Close()

	named := namedFds{}
	for i := 0; i < o.preserveFds; i++ {
		named.preserved = append(named.preserved, os.NewFile(uintptr(3+i), "preserved-"+strconv.Itoa(3+i)))
	}
	named.add(envInitSock, childSock)
	for i, name := range o.named.names {
		named.add(name, o.named.files[i])
	}
	extra, env := named.layout()
	// The init goes on creating threads (the Go runtime's, through cgo's
	// pthread_create) after the container's seccomp filter is loaded, and
	// glibc aborts a thread whose rseq registration fails ("Fatal glibc
	// error: rseq registration failed") when the process's first thread
	// registered: a profile that denies rseq (runtime-tools' default
	// does) would kill the init at random. The init has no use for rseq;
	// the user process gets only its own environment.
	env = append(env, "GLIBC_TUNABLES=glibc.pthread.rseq=0")

	cmd := &exec.Cmd{
		Path:       fmt.Sprintf("/proc/self/fd/%d", exe.Fd()),
		Args:       []string{"stasis", "init"},
		Env:        env,
		Stdin:      orStd(o.stdio[0], os.Stdin),
		Stdout:     orStd(o.stdio[1], os.Stdout),
		Stderr:     orStd(o.stdio[2], os.Stderr),
		ExtraFiles: extra,
		// Stage 0 dies with us if we are interrupted before it is done.
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: unix.SIGKILL},
	}
	release, err := o.affinity.start(cmd)
	defer release()
	if err != nil {
		return 0, fmt.Errorf("start init: %w", err)
	}
	childSock.Close()
	stage0Done := false
	undo.push(func() {
		if !stage0Done {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})

	// Step 2: stage 0 joins the cgroup, so the namespaces it creates
	// (cgroup included) and the process it clones start inside it.
	if o.subCgroups != nil {
		if err := o.cg.EnterSub(cmd.Process.Pid, o.subCgroups); err != nil {
			return 0, fmt.Errorf("cgroup: %w", err)
		}
	} else if err := o.cg.Apply(cmd.Process.Pid); err != nil {
		return 0, fmt.Errorf("cgroup: %w", err)
	}
	if o.resources != nil {
		if err := o.cg.Set(o.resources); err != nil {
			return 0, fmt.Errorf("cgroup: %w", err)
		}
	}
	if o.onCgroup != nil {
		if err := o.onCgroup(); err != nil {
			return 0, err
		}
	}
	if o.msg.Exec == nil {
		faults.Point("create.after-cgroup")
	}
	// After the cgroup: joining a cpuset resets the affinity.
	if err := o.affinity.setFinal(cmd.Process.Pid); err != nil {
		return 0, err
	}

	// The debug lines use runc's words for the same steps, so people and
	// tests reading runc's --debug output find them in ours.
	Debug("nsexec container setup: stage 0 is pid %d", cmd.Process.Pid)
	pid, err := o.boot.run(parentSock)
	if err != nil {
		// Stage 0 may be waiting for our answer (a refused id map or
		// time offset): it would never exit on its own.
		cmd.Process.Kill()
	}
	werr := cmd.Wait()
	stage0Done = true
	if err != nil {
		return 0, err
	}
	if werr != nil {
		return 0, fmt.Errorf("namespace setup: %w", werr)
	}
	undo.push(func() {
		unix.Kill(pid, unix.SIGKILL)
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, 0, nil)
	})
	if o.onPid != nil {
		if err := o.onPid(pid); err != nil {
			return 0, err
		}
	}
	if o.msg.Exec == nil {
		// The init exists and waits for its config.
		faults.Point("create.after-init-spawn")
	}

	if o.inNamespaces != nil {
		if err := o.inNamespaces(pid); err != nil {
			return 0, err
		}
	}
	if err := json.NewEncoder(parentSock).Encode(o.msg); err != nil {
		return 0, fmt.Errorf("send config to init: %w", err)
	}
	Debug("child process in init(): pid %d has its config", pid)
	dec := json.NewDecoder(parentSock)
	for {
		var status msgStatus
		if err := dec.Decode(&status); err != nil {
			return 0, fmt.Errorf("container process died before it was ready (%v)", err)
		}
		switch {
		case status.Ready:
			if o.msg.Exec != nil {
				Debug("setns_init: about to exec: pid %d is ready", pid)
			} else {
				Debug("init: closing the pipe to signal completion: pid %d is ready", pid)
			}
			return pid, nil
		case status.SeccompListener:
			if err := handOverListener(o, parentSock, pid); err != nil {
				return 0, err
			}
		case status.Hooks:
			reply := msgHooksDone{}
			if o.onHooks == nil {
				reply.Error = "no hooks expected"
			} else if st, err := o.onHooks(pid); err != nil {
				reply.Error = err.Error()
			} else {
				reply.State = st
			}
			if err := json.NewEncoder(parentSock).Encode(reply); err != nil {
				return 0, fmt.Errorf("send hooks result to init: %w", err)
			}
			if reply.Error != "" {
				return 0, errors.New(reply.Error)
			}
		default:
			return 0, errors.New(status.Error)
		}
	}
}

func orStd(f, def *os.File) *os.File {
	if f != nil {
		return f
	}
	return def
}

// handOverListener is steps 8b-8c: fetch the init's seccomp listener and
// give it to the agent, telling the init how that went.
func handOverListener(o *spawnOpts, sock *os.File, pid int) error {
	enc := json.NewEncoder(sock)
	if err := enc.Encode(msgSeccompReply{}); err != nil {
		return fmt.Errorf("seccomp listener: %w", err)
	}
	fd, err := recvListener(sock)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	err = errors.New("no seccomp listener expected")
	if sc := o.msg.Spec.Linux; sc != nil && sc.Seccomp != nil && o.state != nil {
		err = sendToAgent(sc.Seccomp, o.state(pid), pid, fd)
	}
	reply := msgSeccompReply{}
	if err != nil {
		reply.Error = err.Error()
	}
	if werr := enc.Encode(reply); werr != nil && err == nil {
		err = fmt.Errorf("seccomp listener: %w", werr)
	}
	return err
}
