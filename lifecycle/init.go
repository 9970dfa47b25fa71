package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	_ "github.com/stasis-oci/stasis/lifecycle/nsenter" // enters namespaces before the Go runtime starts
	"github.com/stasis-oci/stasis/rootfs"
	"github.com/stasis-oci/stasis/seccomp"
)

// IsInit reports whether this process is a container init (stage 1),
// which main must hand to InitMain before doing anything else.
func IsInit() bool {
	return len(os.Args) > 1 && os.Args[1] == "init" && os.Getenv(envInitSock) != ""
}

// InitMain is the container init: steps 6-10 of protocol.go, then exec
// of the user process. It never returns.
func InitMain() {
	// Credentials, capabilities, personality and no_new_privs set below
	// are per-thread; exec must happen from the thread that set them.
	runtime.LockOSThread()

	sock, err := namedFd(envInitSock)
	if err != nil || sock == nil {
		fmt.Fprintln(os.Stderr, "stasis init: not started by stasis create")
		os.Exit(1)
	}
	conn := &initConn{enc: json.NewEncoder(sock), dec: json.NewDecoder(sock)}
	var cfg msgConfig
	if err := conn.dec.Decode(&cfg); err != nil {
		os.Exit(1) // the parent is gone; nobody to tell
	}
	prepare := prepareContainer
	if cfg.Exec != nil {
		prepare = prepareExec
	}
	ex, err := prepare(&cfg, conn)
	if err != nil {
		_ = conn.enc.Encode(msgStatus{Error: err.Error()})
		os.Exit(1)
	}
	// From here on nothing of ours may be left behind for the user process.
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0)
	if err := conn.enc.Encode(msgStatus{Ready: true}); err != nil {
		os.Exit(1)
	}
	sock.Close()

	if ex.fifo != nil {
		if err := ex.waitStart(); err != nil {
			fmt.Fprintf(os.Stderr, "stasis init: %v\n", err)
			os.Exit(1)
		}
		if ex.hookState != nil {
			st := *ex.hookState
			st.Status = specs.ContainerState(Created)
			if err := runHooks("startContainer", hooksOf(cfg.Spec).StartContainer, &st); err != nil {
				fmt.Fprintf(os.Stderr, "stasis init: %v\n", err)
				os.Exit(1)
			}
		}
	}
	// With no_new_privs the filter can be loaded unprivileged, so it comes
	// last, filtering nothing of ours but execve (runc's order).
	if ex.seccomp != nil {
		if err := seccomp.Load(ex.seccomp); err != nil {
			fmt.Fprintf(os.Stderr, "stasis init: %v\n", err)
			os.Exit(1)
		}
	}
	err = unix.Exec(ex.path, ex.args, ex.env)
	fmt.Fprintf(os.Stderr, "stasis init: exec %s: %v\n", ex.path, err)
	os.Exit(127)
}

// initConn is the init's end of the protocol socket (one decoder for its
// whole life: a second one would lose what the first buffered).
type initConn struct {
	enc *json.Encoder
	dec *json.Decoder
}

// execPlan is what is left to do once the container is ready.
type execPlan struct {
	path string
	args []string
	env  []string
	fifo *os.File
	// hookState is the state startContainer hooks get (nil: no hooks).
	hookState *specs.State
	// seccomp is loaded just before exec (set only with no_new_privs).
	seccomp *specs.LinuxSeccomp
}

// parentHooks is steps 7a-7d: ask the parent to run its hooks, then run
// createContainer here, in the container's namespaces, before pivot_root.
func parentHooks(conn *initConn, sp *specs.Spec) (*specs.State, error) {
	if err := conn.enc.Encode(msgStatus{Hooks: true}); err != nil {
		return nil, fmt.Errorf("ask for hooks: %w", err)
	}
	var done msgHooksDone
	if err := conn.dec.Decode(&done); err != nil {
		return nil, fmt.Errorf("wait for hooks: %w", err)
	}
	if done.Error != "" || done.State == nil {
		return nil, fmt.Errorf("parent hooks failed: %s", done.Error)
	}
	if err := runHooks("createContainer", hooksOf(sp).CreateContainer, done.State); err != nil {
		return nil, err
	}
	return done.State, nil
}

// prepareContainer is step 7. The order matters and follows runc's:
// mounts need every capability, the console needs /dev/pts, hostname and
// sysctl need /proc, and the user switch and capability drop come last.
func prepareContainer(cfg *msgConfig, conn *initConn) (*execPlan, error) {
	// If create dies while we are setting up, so do we.
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)

	sp := cfg.Spec
	proc := sp.Process
	fifo, err := namedFd(envFifoFd)
	if err != nil || fifo == nil {
		return nil, fmt.Errorf("exec fifo fd missing: %v", err)
	}
	console, err := namedFd(envConsole)
	if err != nil {
		return nil, err
	}
	if _, err := unix.Setsid(); err != nil {
		return nil, fmt.Errorf("setsid: %w", err)
	}
	if proc.OOMScoreAdj != nil {
		adj := fmt.Sprint(*proc.OOMScoreAdj)
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(adj), 0); err != nil {
			return nil, fmt.Errorf("set oom_score_adj %s: %w", adj, err)
		}
	}
	if !cfg.NoNewKeyring {
		if err := joinSessionKeyring(cfg.ID); err != nil {
			return nil, err
		}
	}

	idmapped, err := idmappedTrees(sp)
	defer closeAll(idmapped)
	if err != nil {
		return nil, err
	}
	rcfg := &rootfs.Config{Spec: sp, Rootfs: cfg.Rootfs, NoPivot: cfg.NoPivot, IDMapped: idmapped}
	var hookState *specs.State
	if sp.Hooks != nil {
		rcfg.BeforePivot = func() (err error) {
			hookState, err = parentHooks(conn, sp)
			return err
		}
	}
	if err := rootfs.Prepare(rcfg); err != nil {
		return nil, err
	}
	// A missing cwd is created, as runc does, while / is still writable.
	if err := os.MkdirAll(proc.Cwd, 0o755); err != nil {
		return nil, fmt.Errorf("create cwd %q: %w", proc.Cwd, err)
	}
	if console != nil {
		if err := setupConsole(console, proc, true); err != nil {
			return nil, err
		}
	}
	if err := setupNames(sp); err != nil {
		return nil, err
	}
	if newNamespace(sp.Linux, specs.NetworkNamespace) {
		if err := LoopbackUp(); err != nil {
			return nil, err
		}
	}
	if err := rootfs.Finalize(rcfg); err != nil {
		return nil, err
	}
	ex, err := prepareProcess(proc, sp.Linux, cfg.PreserveFds)
	if err != nil {
		return nil, err
	}
	ex.fifo, ex.hookState = fifo, hookState
	return ex, nil
}

// prepareExec readies a process exec'd into a running container: it is
// already in the container's namespaces (root and cwd come with the mount
// namespace) and cgroup, so only its own attributes are left to set.
func prepareExec(cfg *msgConfig, _ *initConn) (*execPlan, error) {
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
	console, err := namedFd(envConsole)
	if err != nil {
		return nil, err
	}
	if _, err := unix.Setsid(); err != nil {
		return nil, fmt.Errorf("setsid: %w", err)
	}
	if console != nil {
		if err := setupConsole(console, cfg.Exec, false); err != nil {
			return nil, err
		}
	}
	return prepareProcess(cfg.Exec, cfg.Spec.Linux, cfg.PreserveFds)
}

// prepareProcess sets what belongs to the process rather than the
// container: rlimits, personality, user and capabilities, cwd,
// no_new_privs. It resolves the executable first, while still root, so a
// bad command fails before the process is reported ready.
func prepareProcess(proc *specs.Process, linux *specs.Linux, preserveFds int) (*execPlan, error) {
	if err := setRlimits(proc.Rlimits); err != nil {
		return nil, err
	}
	if err := setPersonality(linux); err != nil {
		return nil, err
	}
	// Per thread, like personality: this locked thread is the one that
	// execs, and execve keeps its policy.
	if err := setMemoryPolicy(linux); err != nil {
		return nil, err
	}
	env := withHome(proc.Env, proc.User.UID)
	path, err := lookPath(proc.Args[0], env)
	if err != nil {
		return nil, err
	}
	var late *specs.LinuxSeccomp
	if linux != nil && linux.Seccomp != nil {
		if proc.NoNewPrivileges {
			late = linux.Seccomp
		} else if err := seccomp.Load(linux.Seccomp); err != nil {
			// Without no_new_privs loading needs CAP_SYS_ADMIN: do it
			// before the capabilities are dropped.
			return nil, err
		}
	}
	if err := switchUser(proc); err != nil {
		return nil, err
	}
	if err := os.Chdir(proc.Cwd); err != nil {
		return nil, fmt.Errorf("chdir to cwd %q: %w", proc.Cwd, err)
	}
	if proc.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return nil, fmt.Errorf("set no_new_privs: %w", err)
		}
	}
	if err := closeExtraFds(3 + preserveFds); err != nil {
		return nil, err
	}
	return &execPlan{path: path, args: proc.Args, env: env, seccomp: late}, nil
}

// waitStart is step 10: opening the fifo for writing blocks until
// `stasis start` opens it for reading.
func (e *execPlan) waitStart() error {
	w, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", e.fifo.Fd()), os.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	e.fifo.Close()
	if _, err := w.Write([]byte{'0'}); err != nil {
		return fmt.Errorf("write exec fifo: %w", err)
	}
	return w.Close()
}

// lookPath finds argv[0] with the container's PATH, inside the container
// (we are past pivot_root), so a bad command fails at create like runc.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		if err := checkExecutable(name); err != nil {
			return "", fmt.Errorf("exec %q: %w", name, err)
		}
		return name, nil
	}
	pathVar := ""
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			pathVar = kv[len("PATH="):]
		}
	}
	for _, dir := range strings.Split(pathVar, ":") {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + name
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec %q: executable file not found in $PATH", name)
}

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return errors.New("is a directory")
	}
	if fi.Mode()&0o111 == 0 {
		return errors.New("permission denied")
	}
	return nil
}

// closeExtraFds marks every fd from first on close-on-exec, so nothing of
// the runtime (or whatever it inherited) reaches the user process.
func closeExtraFds(first int) error {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list fds: %w", err)
	}
	for _, e := range ents {
		var fd int
		if _, err := fmt.Sscan(e.Name(), &fd); err != nil || fd < first {
			continue
		}
		unix.CloseOnExec(fd)
	}
	return nil
}
