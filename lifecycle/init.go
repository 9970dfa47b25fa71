package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

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
	conn := &initConn{sock: sock, enc: json.NewEncoder(sock), dec: json.NewDecoder(sock)}
	var cfg msgConfig
	if err := conn.dec.Decode(&cfg); err != nil {
		os.Exit(1) // the parent is gone; nobody to tell
	}
	prepare := prepareContainer
	if cfg.Exec != nil {
		prepare = prepareExec
	}
	ex, err := prepare(&cfg, conn)
	if err == nil {
		// From here on nothing of ours may be left behind for the user
		// process, and create may exit without taking the init along.
		_ = unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0)
	}
	if err == nil && ex.seccomp != nil {
		// The no_new_privs filter goes in last, yet before create
		// returns (a filter that fails to load fails create) and before
		// the wait for start, so that startContainer hooks run under it
		// as in runc. It filters only what is left of ours: the ready
		// message, the fifo, the hooks, execve.
		err = loadSeccomp(ex.seccomp, conn)
	}
	if err != nil {
		_ = conn.enc.Encode(msgStatus{Error: err.Error()})
		os.Exit(1)
	}
	if err := conn.enc.Encode(msgStatus{Ready: true}); err != nil {
		os.Exit(1)
	}
	sock.Close()

	if ex.fifo != nil {
		if err := ex.waitStart(); err != nil {
			ex.fail(err, 1)
		}
		if ex.hookState != nil {
			st := *ex.hookState
			st.Status = specs.ContainerState(Created)
			if err := runHooks("startContainer", hooksOf(cfg.Spec).StartContainer, &st); err != nil {
				ex.fail(err, 1)
			}
		}
	}
	// The rlimits bite only now, so that a tight RLIMIT_AS, NOFILE or NPROC
	// constrains the user process and not our own set-up. (A profile that
	// denies setrlimit/prlimit64 fails here, with a clear error.)
	// execve's arguments are made before the limits too: unix.Exec would
	// allocate them afterwards, and under a tight RLIMIT_AS the Go heap
	// may have to grow for that and cannot.
	path, perr := syscall.BytePtrFromString(ex.path)
	argv, aerr := syscall.SlicePtrFromStrings(ex.args)
	envv, eerr := syscall.SlicePtrFromStrings(ex.env)
	if err := errors.Join(perr, aerr, eerr); err != nil {
		ex.fail(fmt.Errorf("exec %s: %w", ex.path, err), 127)
	}
	if err := applyRlimits(ex.rlimits); err != nil {
		ex.fail(err, 1)
	}
	_, _, errno := unix.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(path)),
		uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envv[0])))
	ex.fail(fmt.Errorf("exec %s: %w", ex.path, errno), 127)
}

// fail ends an init that cannot get to its exec after reporting ready:
// the error goes to the container's stderr and, once `stasis start` is
// reading the exec fifo, to start, which reports it.
func (e *execPlan) fail(err error, code int) {
	fmt.Fprintf(os.Stderr, "stasis init: %v\n", err)
	if e.started != nil {
		_, _ = e.started.WriteString(err.Error())
	}
	os.Exit(code)
}

// initConn is the init's end of the protocol socket (one decoder for its
// whole life: a second one would lose what the first buffered).
type initConn struct {
	sock *os.File // for the one message that carries an fd
	enc  *json.Encoder
	dec  *json.Decoder
}

// loadSeccomp loads the filter and, when it has SCMP_ACT_NOTIFY rules,
// hands its listener to the parent at once (steps 8a-8c of protocol.go):
// a notified syscall of ours would otherwise wait for an agent that has
// not been told about us yet.
func loadSeccomp(p *seccomp.Program, conn *initConn) error {
	fd, err := p.Load()
	if err != nil || fd < 0 {
		return err
	}
	defer unix.Close(fd)
	if err := conn.enc.Encode(msgStatus{SeccompListener: true}); err != nil {
		return fmt.Errorf("seccomp listener: %w", err)
	}
	var reply msgSeccompReply
	if err := conn.dec.Decode(&reply); err != nil {
		return fmt.Errorf("seccomp listener: %w", err)
	}
	if err := unix.Sendmsg(int(conn.sock.Fd()), []byte{'s'}, unix.UnixRights(fd), nil, 0); err != nil {
		return fmt.Errorf("seccomp listener: send to the parent: %w", err)
	}
	if err := conn.dec.Decode(&reply); err != nil {
		return fmt.Errorf("seccomp listener: %w", err)
	}
	if reply.Error != "" {
		return errors.New(reply.Error)
	}
	return nil
}

// execPlan is what is left to do once the container is ready.
type execPlan struct {
	path string
	args []string
	env  []string
	fifo *os.File
	// proc is the init's procfs handle, for reopening the fifo.
	proc *procFS
	// started is the exec fifo's write end once start has read its byte;
	// it is close-on-exec, so start sees EOF when the user process runs.
	started *os.File
	// hookState is the state startContainer hooks get (nil: no hooks).
	hookState *specs.State
	// rlimits are applied just before exec.
	rlimits []rlimit
	// seccomp is loaded just before exec (set only with no_new_privs).
	seccomp *seccomp.Program
}

// parentHooks is steps 7a-7d: ask the parent to run its hooks, then run
// createContainer here, in the container's namespaces, before pivot_root,
// with the rootfs as the cwd (as runc's init has it there), so a hook may
// name the container's files relative to it.
func parentHooks(conn *initConn, sp *specs.Spec, rootfsPath string) (*specs.State, error) {
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
	st := *done.State
	st.Pid = os.Getpid() // as the container's pid namespace sees us
	if hs := hooksOf(sp).CreateContainer; len(hs) > 0 {
		if err := os.Chdir(rootfsPath); err != nil {
			return nil, fmt.Errorf("createContainer hooks: chdir to the rootfs: %w", err)
		}
		if err := runHooks("createContainer", hs, &st); err != nil {
			return nil, err
		}
	}
	return &st, nil
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
	// Taken now, while the init has every capability and the host's
	// tree is still there to clone /proc from if a new procfs is refused;
	// kept until the exec fifo is reopened.
	pids, err := openProcFS(false)
	if err != nil {
		return nil, err
	}
	if proc.OOMScoreAdj != nil {
		if err := setOOMScoreAdj(pids, *proc.OOMScoreAdj); err != nil {
			pids.Close()
			return nil, err
		}
	}
	ok := false
	defer func() {
		if !ok {
			pids.Close()
		}
	}()
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
	rcfg := &rootfs.Config{Spec: sp, Rootfs: cfg.Rootfs, NoPivot: cfg.NoPivot, IDMapped: idmapped,
		HostMountNS: !hasNamespace(sp.Linux, specs.MountNamespace)}
	var hookState *specs.State
	if sp.Hooks != nil {
		rcfg.BeforePivot = func() (err error) {
			hookState, err = parentHooks(conn, sp, cfg.Rootfs)
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
	ex, err := prepareProcess(proc, sp.Linux, cfg.PreserveFds, conn, pids)
	if err != nil {
		return nil, err
	}
	ex.fifo, ex.hookState, ex.proc = fifo, hookState, pids
	ok = true
	return ex, nil
}

// prepareExec readies a process exec'd into a running container: it is
// already in the container's namespaces (root and cwd come with the mount
// namespace) and cgroup, so only its own attributes are left to set.
func prepareExec(cfg *msgConfig, conn *initConn) (*execPlan, error) {
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
	console, err := namedFd(envConsole)
	if err != nil {
		return nil, err
	}
	if _, err := unix.Setsid(); err != nil {
		return nil, fmt.Errorf("setsid: %w", err)
	}
	pids, err := openProcFS(false)
	if err != nil {
		return nil, err
	}
	defer pids.Close()
	if !hasNamespace(cfg.Spec.Linux, specs.MountNamespace) {
		// No mount namespace to join: the container's root is the
		// chroot its init made.
		if err := unix.Chroot(cfg.Rootfs); err != nil {
			return nil, fmt.Errorf("chroot %s: %w", cfg.Rootfs, err)
		}
		if err := unix.Chdir("/"); err != nil {
			return nil, fmt.Errorf("chdir to new root: %w", err)
		}
	}
	if console != nil {
		if err := setupConsole(console, cfg.Exec, false); err != nil {
			return nil, err
		}
	}
	return prepareProcess(cfg.Exec, cfg.Spec.Linux, cfg.PreserveFds, conn, pids)
}

// prepareProcess sets what belongs to the process rather than the
// container: personality, user and capabilities, cwd, no_new_privs; the
// rlimits and a no_new_privs seccomp filter are readied here and applied
// just before exec. It resolves the executable first, while still root,
// so a bad command fails before the process is reported ready.
func prepareProcess(proc *specs.Process, linux *specs.Linux, preserveFds int, conn *initConn, pids *procFS) (*execPlan, error) {
	rlimits, err := prepareRlimits(proc.Rlimits)
	if err != nil {
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
	// Before any filter is loaded: a profile may refuse close_range and
	// the statx calls of the procfs fallback.
	if err := closeExtraFds(pids, 3+preserveFds); err != nil {
		return nil, err
	}
	// The cwd is entered while still root with every capability, so a
	// process with uid 0 but no CAP_DAC_OVERRIDE still starts in a dir
	// only root may enter; one the runtime's root may not enter (a
	// volume chowned to the container's user, root squashed) is tried
	// again as the user. runc does the same.
	chdirLater := false
	if err := os.Chdir(proc.Cwd); errors.Is(err, os.ErrPermission) {
		chdirLater = true
	} else if err != nil {
		return nil, fmt.Errorf("chdir to cwd %q: %w", proc.Cwd, err)
	} else if err := checkCwdInRoot(proc.Cwd); err != nil {
		// Checked before the filter loads: a profile may deny getcwd.
		return nil, err
	}
	var late *seccomp.Program
	if linux != nil && linux.Seccomp != nil {
		prog, err := seccomp.Prepare(linux.Seccomp)
		if err != nil {
			return nil, err
		}
		if proc.NoNewPrivileges {
			late = prog
		} else if err := loadSeccomp(prog, conn); err != nil {
			// Without no_new_privs loading needs CAP_SYS_ADMIN: do it
			// before the capabilities are dropped.
			return nil, err
		}
	}
	if err := ownTerminal(proc); err != nil {
		return nil, err
	}
	if err := switchUser(proc, pids); err != nil {
		return nil, err
	}
	if chdirLater {
		if err := os.Chdir(proc.Cwd); err != nil {
			return nil, fmt.Errorf("chdir to cwd %q: %w", proc.Cwd, err)
		}
		if err := checkCwdInRoot(proc.Cwd); err != nil {
			return nil, err
		}
	}
	if proc.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return nil, fmt.Errorf("set no_new_privs: %w", err)
		}
	}
	return &execPlan{path: path, args: proc.Args, env: env, rlimits: rlimits, seccomp: late}, nil
}

// checkCwdInRoot refuses a cwd that is not under our root: a cwd such as
// /proc/self/fd/N names whatever fd N is, and an fd on a directory outside
// the container would let the process walk the host's tree from there
// with "..". getcwd(2) tells: the kernel prefixes an unreachable path
// with "(unreachable)", which syscall.Getwd reports as ENOENT (it does not
// trust $PWD, as os.Getwd does). runc checks the same.
//
// The cwd a user may enter only after the switch is checked once the
// seccomp filter is in place, and a profile may deny getcwd; then the
// check walks ".." from the cwd instead (see cwdReachesRoot).
func checkCwdInRoot(cwd string) error {
	wd, err := syscall.Getwd()
	if err == nil && strings.HasPrefix(wd, "/") {
		return nil
	}
	if err != nil && !errors.Is(err, syscall.ENOENT) {
		ok, werr := cwdReachesRoot()
		if werr == nil && ok {
			return nil
		}
		if werr != nil {
			err = fmt.Errorf("%v; walking \"..\": %w", err, werr)
		}
	}
	return fmt.Errorf("cwd %q is outside the container's root (getcwd: %q, %v)", cwd, wd, err)
}

// cwdReachesRoot climbs from "." by "..": the kernel stops ".." at the
// process's root, so a cwd under the root reaches a directory that is
// the root, and one outside it reaches a top that is its own parent
// without meeting the root.
func cwdReachesRoot() (bool, error) {
	var root unix.Stat_t
	if err := unix.Stat("/", &root); err != nil {
		return false, err
	}
	fd, err := unix.Open(".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	for {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return false, err
		}
		if st.Dev == root.Dev && st.Ino == root.Ino {
			unix.Close(fd)
			return true, nil
		}
		parent, err := unix.Openat(fd, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return false, err
		}
		var pst unix.Stat_t
		if err := unix.Fstat(parent, &pst); err != nil {
			unix.Close(parent)
			return false, err
		}
		if pst.Dev == st.Dev && pst.Ino == st.Ino {
			unix.Close(parent)
			return false, nil
		}
		fd = parent
	}
}

// waitStart is step 10: opening the fifo for writing blocks until
// `stasis start` opens it for reading. The write end stays open until
// exec closes it (close-on-exec): start waits for that EOF, so its
// poststart hooks run after the user process was executed.
func (e *execPlan) waitStart() error {
	w, err := e.proc.reopen(e.fifo, unix.O_WRONLY)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	e.fifo.Close()
	e.proc.Close()
	if _, err := w.Write([]byte{'0'}); err != nil {
		w.Close()
		return fmt.Errorf("write exec fifo: %w", err)
	}
	e.started = w
	return nil
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
//
// close_range comes first: it needs no /proc, and the init may already run
// under the profile's filter, which can refuse the statx calls the procfs
// handle makes (runtime-tools' default profile does: create failed with
// "could not get mount id: function not implemented"). The listing is
// only for kernels before 5.11 or a profile that refuses close_range.
func closeExtraFds(p *procFS, first int) error {
	if unix.CloseRange(uint(first), math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC) == nil {
		return nil
	}
	dir, err := p.open("self/fd", unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return fmt.Errorf("list fds: %w", err)
	}
	ents, err := dir.ReadDir(-1)
	dir.Close()
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
