package seccomp

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A filter cannot be unloaded, so enforcement runs in re-executed copies of
// the test binary: TestMain turns into the child named by childEnv.
const (
	childEnv   = "STASIS_SECCOMP_CHILD"
	dirEnv     = "STASIS_SECCOMP_DIR"
	profileEnv = "STASIS_SECCOMP_PROFILE"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(runChild(mode))
	}
	os.Exit(m.Run())
}

var children = map[string]func(dir string) error{
	"errno":  childErrno,
	"kill":   childKill,
	"docker": childDocker,
	"nomem":  childNoMem,
}

func runChild(mode string) int {
	child, ok := children[mode]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown child mode %q\n", mode)
		return 2
	}
	// The runtime loads the filter on the thread that will exec.
	runtime.LockOSThread()
	// Loading without no_new_privs needs CAP_SYS_ADMIN; let the tests
	// run unprivileged too.
	if os.Geteuid() != 0 {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			fmt.Fprintln(os.Stderr, "prctl(PR_SET_NO_NEW_PRIVS):", err)
			return 2
		}
	}
	if err := child(os.Getenv(dirEnv)); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	return 0
}

// startChild runs the test binary as child mode and waits for it.
func startChild(t *testing.T, mode string) (string, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(exe)
	cmd.Dir = dir
	profile, err := filepath.Abs("testdata/docker-default.json")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), childEnv+"="+mode, dirEnv+"="+dir, profileEnv+"="+profile)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestEnforceErrno(t *testing.T) {
	if out, err := startChild(t, "errno"); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func TestEnforceKillProcess(t *testing.T) {
	out, err := startChild(t, "kill")
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child survived: %v\n%s", err, out)
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != unix.SIGSYS {
		t.Fatalf("child: %v, want death by SIGSYS\n%s", err, out)
	}
}

func TestEnforceDockerDefault(t *testing.T) {
	if out, err := startChild(t, "docker"); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// A container's RLIMIT_AS may leave no room for new mappings by the time
// its filter is loaded: a prepared program must load anyway.
func TestEnforcePreparedUnderAddressSpaceLimit(t *testing.T) {
	if out, err := startChild(t, "nomem"); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// expect checks that a raw syscall result carries the wanted errno (0 for
// success).
func expect(what string, errno unix.Errno, want unix.Errno) error {
	if errno != want {
		return fmt.Errorf("%s: got errno %d (%v), want %d (%v)", what, errno, errno, want, want)
	}
	return nil
}

func childErrno(dir string) error {
	// A thread that exists before Load only gets the filter through TSYNC.
	start, done := make(chan struct{}), make(chan unix.Errno)
	go func() {
		runtime.LockOSThread()
		<-start
		done <- mkdirat(filepath.Join(dir, "other-thread"))
	}()
	err := Load(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Flags:         []specs.LinuxSeccompFlag{flagTsync, specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: uptr(uint(unix.ENOSYS))},
			{Names: []string{"rmdir"}, Action: specs.ActErrno}, // EPERM when errnoRet is absent
			{Names: []string{"getpriority"}, Action: specs.ActErrno, ErrnoRet: uptr(uint(unix.EACCES)), Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: unix.PRIO_PGRP, Op: specs.OpEqualTo},
				{Index: 0, Value: unix.PRIO_USER, Op: specs.OpEqualTo},
			}},
			{Names: []string{"umask"}, Action: specs.ActErrno, ErrnoRet: uptr(uint(unix.EINVAL)), Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 0o700, ValueTwo: 0o700, Op: specs.OpMaskedEqual},
			}},
		},
	})
	if err != nil {
		return err
	}
	close(start)
	target := filepath.Join(dir, "x")
	dirPtr, targetPtr := cstr(dir), cstr(target)
	_, _, rmdirErr := unix.Syscall(unix.SYS_RMDIR, uintptr(unsafe.Pointer(dirPtr)), 0, 0)
	_, _, mkdirErr := unix.Syscall(unix.SYS_MKDIR, uintptr(unsafe.Pointer(targetPtr)), 0o755, 0)
	_, _, prioProc := unix.Syscall(unix.SYS_GETPRIORITY, unix.PRIO_PROCESS, 0, 0)
	_, _, prioPgrp := unix.Syscall(unix.SYS_GETPRIORITY, unix.PRIO_PGRP, 0, 0)
	_, _, prioUser := unix.Syscall(unix.SYS_GETPRIORITY, unix.PRIO_USER, 0, 0)
	_, _, umaskOK := unix.Syscall(unix.SYS_UMASK, 0o022, 0, 0)
	_, _, umaskBad := unix.Syscall(unix.SYS_UMASK, 0o777, 0, 0)
	return errors.Join(
		expect("mkdirat", mkdirat(target), unix.ENOSYS),
		expect("mkdirat on a thread started before Load", <-done, unix.ENOSYS),
		expect("mkdir", mkdirErr, unix.ENOSYS),
		expect("rmdir", rmdirErr, unix.EPERM),
		expect("getpriority(PRIO_PROCESS)", prioProc, 0),
		expect("getpriority(PRIO_PGRP)", prioPgrp, unix.EACCES),
		expect("getpriority(PRIO_USER)", prioUser, unix.EACCES),
		expect("umask(022)", umaskOK, 0),
		expect("umask(0777)", umaskBad, unix.EINVAL),
		notExist(target),
	)
}

func cstr(s string) *byte {
	p, err := unix.BytePtrFromString(s)
	if err != nil {
		panic(err)
	}
	return p
}

func mkdirat(path string) unix.Errno {
	if err := unix.Mkdirat(unix.AT_FDCWD, path, 0o755); err != nil {
		return err.(unix.Errno)
	}
	return 0
}

func notExist(path string) error {
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: exists after a blocked mkdir (%v)", path, err)
	}
	return nil
}

func childKill(string) error {
	// SIGSYS dumps core by default; keep the test tree clean.
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return err
	}
	err := Load(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"getcwd"}, Action: specs.ActKillProcess}},
	})
	if err != nil {
		return err
	}
	wd, err := unix.Getwd()
	return fmt.Errorf("getcwd returned %q, %v: process not killed", wd, err)
}

func childDocker(dir string) error {
	b, err := os.ReadFile(os.Getenv(profileEnv))
	if err != nil {
		return err
	}
	var s specs.LinuxSeccomp
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if err := Load(&s); err != nil {
		return err
	}

	// Refused: Docker's default caps lack CAP_SYS_ADMIN, and keyctl is not
	// listed at all.
	sessionKeyring := unix.KEY_SPEC_SESSION_KEYRING
	_, _, unshareErr := unix.Syscall(unix.SYS_UNSHARE, unix.CLONE_NEWUSER, 0, 0)
	_, _, keyctlErr := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, uintptr(sessionKeyring), 0)
	_, _, clone3Err := unix.Syscall(unix.SYS_CLONE3, 0, 0, 0)
	_, _, vsockErr := unix.Syscall(unix.SYS_SOCKET, unix.AF_VSOCK, unix.SOCK_STREAM, 0)
	// A syscall newer than every one the profile names gets ENOSYS, not
	// the default EPERM (enosys.go), while keyctl, older than the
	// profile's newest, keeps the default.
	_, _, newerErr := unix.Syscall6(1000, 0xDEADBEEF, 0xCAFEFEED, 0x1337, 0, 0, 0)
	mountErr := unix.Mount("none", dir, "tmpfs", 0, "")
	errs := []error{
		expect("syscall 1000 (newer than the profile)", newerErr, unix.ENOSYS),
		expect("unshare(CLONE_NEWUSER)", unshareErr, unix.EPERM),
		expect("keyctl", keyctlErr, unix.EPERM),
		expect("clone3", clone3Err, unix.ENOSYS), // errnoRet 38 makes glibc fall back to clone
		expect("socket(AF_VSOCK)", vsockErr, unix.EPERM),
	}
	if !errors.Is(mountErr, unix.EPERM) {
		errs = append(errs, fmt.Errorf("mount: got %v, want EPERM", mountErr))
	}

	// Allowed: ordinary file I/O, sockets, new threads, exec.
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		errs = append(errs, err)
	}
	f := filepath.Join(sub, "f")
	if err := os.WriteFile(f, []byte("hello"), 0o644); err != nil {
		errs = append(errs, err)
	} else if got, err := os.ReadFile(f); err != nil || string(got) != "hello" {
		errs = append(errs, fmt.Errorf("read back %q: %v", got, err))
	}
	if fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0); err != nil {
		errs = append(errs, fmt.Errorf("socket(AF_UNIX): %w", err))
	} else {
		unix.Close(fd)
	}
	errs = append(errs, newThreads(4))
	if out, err := exec.Command("/bin/true").CombinedOutput(); err != nil {
		errs = append(errs, fmt.Errorf("exec /bin/true: %v %s", err, out))
	}
	if out, err := exec.Command("/bin/sh", "-c", "echo ok > "+filepath.Join(sub, "g")+" && cat "+filepath.Join(sub, "g")).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "ok" {
		errs = append(errs, fmt.Errorf("exec /bin/sh: %v %q", err, out))
	}
	return errors.Join(errs...)
}

// newThreads makes the Go runtime clone n more OS threads (a blocked clone
// would crash the runtime rather than return an error).
func newThreads(n int) error {
	release, ready := make(chan struct{}), make(chan int)
	for range n {
		go func() {
			runtime.LockOSThread()
			ready <- unix.Gettid()
			<-release
		}()
	}
	tids := map[int]bool{unix.Gettid(): true}
	for range n {
		tids[<-ready] = true
	}
	close(release)
	if len(tids) != n+1 {
		return fmt.Errorf("locked goroutines share threads: %v", tids)
	}
	return nil
}

func childNoMem(string) error {
	// Docker's profile is big enough that libseccomp 2.5 crashes when it
	// generates the BPF under this limit at load time.
	b, err := os.ReadFile(os.Getenv(profileEnv))
	if err != nil {
		return err
	}
	var s specs.LinuxSeccomp
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	p, err := Prepare(&s)
	if err != nil {
		return err
	}
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_AS, &old); err != nil {
		return err
	}
	// Nothing may be mapped any more; only the soft limit moves, so it can
	// be raised back afterwards.
	if err := unix.Setrlimit(unix.RLIMIT_AS, &unix.Rlimit{Cur: 4096, Max: old.Max}); err != nil {
		return err
	}
	_, _, mmapErr := unix.Syscall6(unix.SYS_MMAP, 0, 1<<20, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, ^uintptr(0), 0)
	_, loadErr := p.Load()
	sessionKeyring := unix.KEY_SPEC_SESSION_KEYRING
	_, _, keyctlErr := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, uintptr(sessionKeyring), 0)
	if err := unix.Setrlimit(unix.RLIMIT_AS, &old); err != nil {
		return err
	}
	return errors.Join(
		expect("mmap under RLIMIT_AS", mmapErr, unix.ENOMEM),
		loadErr,
		expect("keyctl after load", keyctlErr, unix.EPERM),
	)
}
