package lifecycle

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/moby/sys/capability"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/spec"
)

// setupNames sets hostname, domainname and sysctls (the spec validator
// already checked each has the namespace it needs).
func setupNames(sp *specs.Spec) error {
	if sp.Hostname != "" {
		if err := unix.Sethostname([]byte(sp.Hostname)); err != nil {
			return fmt.Errorf("set hostname %q: %w", sp.Hostname, err)
		}
	}
	if sp.Domainname != "" {
		if err := unix.Setdomainname([]byte(sp.Domainname)); err != nil {
			return fmt.Errorf("set domainname %q: %w", sp.Domainname, err)
		}
	}
	if sp.Linux == nil || len(sp.Linux.Sysctl) == 0 {
		return nil
	}
	// An unmasked procfs of the init's own, for /proc/sys, closed at once.
	p, err := openProcFS(true)
	if err != nil {
		return fmt.Errorf("set sysctls: %w", err)
	}
	defer p.Close()
	return writeSysctls(p, sp.Linux.Sysctl)
}

// rlimit is one process.rlimits entry, resolved.
type rlimit struct {
	res int
	lim syscall.Rlimit
	typ string
}

// prepareRlimits resolves process.rlimits and raises now the hard limits
// the spec raises: that needs CAP_SYS_RESOURCE, which the user switch may
// drop. Everything else waits for applyRlimits, just before exec, since a
// tight limit (RLIMIT_AS most of all) would break the Go runtime and
// libseccomp in the rest of the set-up.
func prepareRlimits(rls []specs.POSIXRlimit) ([]rlimit, error) {
	out := make([]rlimit, 0, len(rls))
	for _, rl := range rls {
		res, err := spec.RlimitType(rl.Type)
		if err != nil {
			return nil, err
		}
		var cur syscall.Rlimit
		if err := syscall.Getrlimit(res, &cur); err != nil {
			return nil, fmt.Errorf("read %s: %w", rl.Type, err)
		}
		if rl.Hard > cur.Max {
			raise := syscall.Rlimit{Cur: cur.Cur, Max: rl.Hard}
			if err := syscall.Setrlimit(res, &raise); err != nil {
				return nil, fmt.Errorf("set %s to %d/%d: raise hard limit from %d: %w", rl.Type, rl.Soft, rl.Hard, cur.Max, err)
			}
		}
		out = append(out, rlimit{res: res, lim: syscall.Rlimit{Cur: rl.Soft, Max: rl.Hard}, typ: rl.Type})
	}
	return out, nil
}

// applyRlimits sets the limits prepareRlimits readied. Only lowering is
// left, which needs no privilege, and it allocates nothing unless it
// fails.
func applyRlimits(rls []rlimit) error {
	for i := range rls {
		// syscall.Setrlimit (not x/sys) so the Go runtime knows NOFILE was
		// set on purpose and does not restore its own value at exec.
		if err := syscall.Setrlimit(rls[i].res, &rls[i].lim); err != nil {
			return fmt.Errorf("set %s to %d/%d: %w", rls[i].typ, rls[i].lim.Cur, rls[i].lim.Max, err)
		}
	}
	return nil
}

func setPersonality(l *specs.Linux) error {
	if l == nil || l.Personality == nil {
		return nil
	}
	// Values of PER_LINUX and PER_LINUX32 from <sys/personality.h>.
	var persona int
	switch l.Personality.Domain {
	case specs.PerLinux:
		persona = 0x0000
	case specs.PerLinux32:
		persona = 0x0008
	default:
		return fmt.Errorf("personality %q: unsupported domain", l.Personality.Domain)
	}
	if _, _, errno := unix.RawSyscall(unix.SYS_PERSONALITY, uintptr(persona), 0, 0); errno != 0 {
		return fmt.Errorf("set personality %s: %w", l.Personality.Domain, errno)
	}
	return nil
}

// joinSessionKeyring gives the container a session keyring of its own so
// it cannot see the host's keys (runc does the same unless --no-new-keyring).
func joinSessionKeyring(id string) error {
	_, err := unix.KeyctlJoinSessionKeyring("_ses." + id)
	if err != nil && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("join session keyring: %w", err)
	}
	return nil
}

// switchUser drops to process.user and to process.capabilities. The
// bounding set is cut first (that needs CAP_SETPCAP, which the user may
// not keep); keep-caps carries the permitted set across setuid so the
// final capset can still grant what the spec asks for.
func switchUser(p *specs.Process, pids *procFS) error {
	// No caps.Load: every set is cleared and set in full below, and Load
	// would read /proc/self/status by path, from the container's /proc.
	caps, err := capability.NewPid2(0)
	if err != nil {
		return fmt.Errorf("capabilities: %w", err)
	}
	sets, err := capSets(p.Capabilities)
	if err != nil {
		return err
	}
	caps.Clear(capability.BOUNDING)
	caps.Set(capability.BOUNDING, sets[capability.BOUNDING]...)
	if err := caps.Apply(capability.BOUNDING); err != nil {
		return fmt.Errorf("drop bounding capabilities: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set keep-caps: %w", err)
	}
	u := p.User
	if len(u.AdditionalGids) > 0 || canSetgroups(pids) {
		gids := make([]int, len(u.AdditionalGids))
		for i, g := range u.AdditionalGids {
			gids[i] = int(g)
		}
		// syscall's set*id calls apply to every thread of the process.
		if err := syscall.Setgroups(gids); err != nil {
			return fmt.Errorf("setgroups %v: %w", gids, err)
		}
	}
	if err := syscall.Setresgid(int(u.GID), int(u.GID), int(u.GID)); err != nil {
		return fmt.Errorf("setgid %d: %w", u.GID, err)
	}
	if err := syscall.Setresuid(int(u.UID), int(u.UID), int(u.UID)); err != nil {
		return fmt.Errorf("setuid %d: %w", u.UID, err)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("clear keep-caps: %w", err)
	}
	caps.Clear(capability.CAPS | capability.AMBIENT)
	for _, which := range []capability.CapType{capability.EFFECTIVE, capability.PERMITTED, capability.INHERITABLE} {
		caps.Set(which, sets[which]...)
	}
	if err := caps.Apply(capability.CAPS); err != nil {
		return fmt.Errorf("set capabilities: %w", err)
	}
	raiseAmbient(sets[capability.AMBIENT])
	if u.Umask != nil {
		syscall.Umask(int(*u.Umask))
	}
	return nil
}

// raiseAmbient raises each ambient capability the kernel lets us raise.
// The kernel refuses one that is not both permitted and inheritable, and
// `runc spec`'s default config lists ambient capabilities with no
// inheritable set: runc ignores the refusal and the process simply runs
// without them, so a failure here is not an error either.
func raiseAmbient(caps []capability.Cap) {
	for _, c := range caps {
		_ = unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0)
	}
}

// canSetgroups: in a user namespace whose setgroups is "deny", setgroups
// fails even to clear the list, so only call it when allowed or needed.
func canSetgroups(pids *procFS) bool {
	f, err := pids.open("self/setgroups", unix.O_RDONLY)
	if err != nil {
		return true
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	return err != nil || strings.TrimSpace(string(data)) == "allow"
}

func capSets(c *specs.LinuxCapabilities) (map[capability.CapType][]capability.Cap, error) {
	out := map[capability.CapType][]capability.Cap{}
	if c == nil {
		return out, nil
	}
	lists := map[capability.CapType][]string{
		capability.BOUNDING:    c.Bounding,
		capability.EFFECTIVE:   c.Effective,
		capability.PERMITTED:   c.Permitted,
		capability.INHERITABLE: c.Inheritable,
		capability.AMBIENT:     c.Ambient,
	}
	last, _ := capability.LastCap()
	for which, names := range lists {
		for _, n := range names {
			cp, err := spec.ParseCapability(n)
			if err != nil {
				return nil, err
			}
			// A capability this kernel does not know is skipped, as runc
			// does, so one config works across kernels.
			if cp > last {
				continue
			}
			out[which] = append(out[which], cp)
		}
	}
	return out, nil
}

// withHome adds HOME when the process's env lacks it, as runc does: the
// user's home from the container's /etc/passwd (we are past pivot_root),
// else "/".
func withHome(env []string, uid uint32) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "HOME=") {
			return env
		}
	}
	home := "/"
	if data, err := os.ReadFile("/etc/passwd"); err == nil {
		if h := passwdHome(string(data), uid); h != "" {
			home = h
		}
	}
	return append(append([]string(nil), env...), "HOME="+home)
}

// passwdHome finds uid's home directory in passwd(5) text.
func passwdHome(passwd string, uid uint32) string {
	want := strconv.FormatUint(uint64(uid), 10)
	for _, line := range strings.Split(passwd, "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 6 && f[2] == want {
			return f[5]
		}
	}
	return ""
}

// LoopbackUp brings lo up in the caller's network namespace (a new one the
// container got, or a restored one), as runc does: without it 127.0.0.1
// is unreachable inside.
func LoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: read flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	return nil
}
