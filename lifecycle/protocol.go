package lifecycle

// The parent/init protocol.
//
// `stasis create` (the parent) starts its own binary, sealed against
// writes (seal.go), as `stasis init`. That process begins as "stage 0" in
// the C constructor of lifecycle/nsenter, and its clone "stage 1" becomes
// the container init. `stasis exec` runs the same steps 1-8 (spawn.go)
// with the container's namespaces to join and msgConfig.Exec set; its
// process then execs at once.
//
//	step  who               what                                              where
//	----  ----------------  ------------------------------------------------  ----------------------
//	 1    parent            make the exec fifo (create), the id-mapped clones  create.go, idmap.go,
//	                        of mount sources; seal the binary, socketpair;     spawn.go
//	                        spawn stage 0 (exec: on execCPUAffinity.initial)
//	                        with the fds below
//	 2    parent            put stage 0 in the container's cgroups, set        spawn.go, sched.go
//	                        the resources (exec: execCPUAffinity.final);
//	                        create: state.json (incomplete) records the
//	                        cgroup, and after step 5 the init (recover.go)
//	 3    parent -> stage0  bootstrap: namespaces to join, clone flags         bootstrap.go
//	 4    stage0 <-> parent USERMAP_REQ pid / parent writes maps / ACK         bootstrap.go, nsenter.c
//	 4a   stage0 <-> parent after unshare: TIMENS_REQ pid / parent writes      bootstrap.go, nsenter.c
//	                        linux.timeOffsets / ACK (only when the spec has them)
//	 5    stage0 -> parent  CHILD_PID of stage 1 (the init); stage 0 exits     bootstrap.go, nsenter.c
//	 5a   parent            move linux.netDevices into the init's network      namespaces.go, netdev/
//	                        namespace (create)
//	 6    parent -> init    msgConfig: spec, rootfs, options                   spawn.go
//	 7    init              mounts (rootfs.Prepare up to pivot_root)           init.go
//	 7a   init -> parent    msgStatus{Hooks} when the spec has hooks           init.go
//	 7b   parent            prestart + createRuntime hooks                     create.go, hooks.go
//	 7c   parent -> init    msgHooksDone (state for the init's hooks, or error) spawn.go
//	 7d   init              createContainer hooks; pivot_root (chroot without  init.go, initproc.go
//	                        a mount namespace); console, hostname, sysctl, lo
//	                        up, raise hard rlimits, memory policy, compile
//	                        seccomp and load it (unless no_new_privs), user,
//	                        capabilities
//	 8a   init -> parent    msgStatus{SeccompListener} when the filter has     init.go, spawn.go
//	                        SCMP_ACT_NOTIFY rules (right after it is loaded)
//	 8b   parent -> init    msgSeccompReply{}; init sends the listener fd as
//	                        SCM_RIGHTS with one byte
//	 8c   parent            sends the fd and the container's state to the      seccompagent.go
//	                        agent at listenerPath; msgSeccompReply{Error}
//	 8    init -> parent    msgStatus{Ready}, or {Error} with what failed      init.go, spawn.go
//	 9    parent            write the final state.json and the pid file; exit  create.go
//	10    init              open the exec fifo for writing: blocks; then       init.go
//	                        write one byte, startContainer hooks, rlimits,
//	                        seccomp (no_new_privs), exec (closes the fifo)
//	11    `stasis start`    take the init's pidfd, open the fifo for reading,  start.go
//	                        read the byte, remove the fifo, read to EOF (any
//	                        text is the init's error); poststart hooks
//
// Steps 3-5 use the fixed binary layout of nsenter.c (u32 type, u32 length,
// payload); steps 6-8 are JSON objects on the same socket.
//
// File descriptors given to stage 0 (and inherited by the init) are named
// by environment variables, never found by index arithmetic:
//
//	_STASIS_INIT_SOCK    the protocol socket (also tells nsenter.c to act)
//	_STASIS_FIFO_FD      O_PATH fd of the exec fifo (reopened for writing
//	                     through the init's own procfs, procfs.go)
//	_STASIS_CONSOLE_FD   connection to --console-socket, when terminal
//	_STASIS_MOUNT_TREE_<i> the parent's clone (open_tree) of the source of
//	                     mounts[i], a bind, moved into place instead of a
//	                     bind: id-mapped for an id-mapped mount, plain for
//	                     any bind of a user-namespaced container (idmap.go)
//
// Fds 0-2 are the container's stdio; --preserve-fds N keeps 3..3+N-1 at
// their numbers, so the named fds come after them.

import (
	"fmt"
	"os"
	"strconv"

	"github.com/opencontainers/runtime-spec/specs-go"
)

const (
	envInitSock = "_STASIS_INIT_SOCK"
	envFifoFd   = "_STASIS_FIFO_FD"
	envConsole  = "_STASIS_CONSOLE_FD"
)

// msgConfig (step 6) is everything the init needs to build the container.
type msgConfig struct {
	ID           string      `json:"id"`
	Spec         *specs.Spec `json:"spec"`
	Rootfs       string      `json:"rootfs"`
	NoPivot      bool        `json:"no_pivot"`
	NoNewKeyring bool        `json:"no_new_keyring"`
	PreserveFds  int         `json:"preserve_fds"`
	// Exec, when set, makes this an exec'd process: it runs in the
	// container as it is (no rootfs work, no exec fifo) and execs at once.
	Exec *specs.Process `json:"exec,omitempty"`
}

// msgStatus (steps 7a and 8) is the init's word: run the hooks, ready,
// or what failed.
type msgStatus struct {
	Hooks bool `json:"hooks,omitempty"`
	// SeccompListener: the filter is loaded and has a notify listener,
	// which comes next as SCM_RIGHTS once the parent replies.
	SeccompListener bool   `json:"seccomp_listener,omitempty"`
	Ready           bool   `json:"ready,omitempty"`
	Error           string `json:"error,omitempty"`
}

// msgSeccompReply answers msgStatus{SeccompListener} twice: first empty
// ("send it"), then with what the seccomp agent said (Error, or nothing).
type msgSeccompReply struct {
	Error string `json:"error,omitempty"`
}

// msgHooksDone (step 7c) answers msgStatus{Hooks}: the parent's hooks
// ran (or Error says which failed), and State is what the init's own
// hooks get on stdin.
type msgHooksDone struct {
	Error string       `json:"error,omitempty"`
	State *specs.State `json:"state,omitempty"`
}

// namedFds lays out the extra files of the init: preserved fds first (they
// keep their numbers), then the named ones. It returns the ExtraFiles list
// and the environment entries naming each fd's number.
type namedFds struct {
	preserved []*os.File
	names     []string
	files     []*os.File
}

func (n *namedFds) add(env string, f *os.File) {
	n.names = append(n.names, env)
	n.files = append(n.files, f)
}

func (n *namedFds) layout() (extra []*os.File, env []string) {
	extra = append(extra, n.preserved...)
	for i, f := range n.files {
		fd := 3 + len(n.preserved) + i
		extra = append(extra, f)
		env = append(env, n.names[i]+"="+strconv.Itoa(fd))
	}
	return extra, env
}

// namedFd takes the fd named by env out of the environment (so it does not
// leak to the user process) and returns it as a file.
func namedFd(env string) (*os.File, error) {
	v := os.Getenv(env)
	if v == "" {
		return nil, nil
	}
	os.Unsetenv(env)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("bad %s=%q", env, v)
	}
	return os.NewFile(uintptr(fd), env), nil
}
