package seccomp

import (
	"errors"
	"fmt"
	"math"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// ErrNotifyUnsupported is returned for SCMP_ACT_NOTIFY: it needs a seccomp
// agent listening on listenerPath, which stasis does not implement.
var ErrNotifyUnsupported = errors.New("SCMP_ACT_NOTIFY is not supported (stasis has no seccomp notify agent support)")

// Above this many syscall names a binary-tree filter is cheaper to run than
// libseccomp's default linear one (runc uses the same threshold; libseccomp
// <= 2.5.4 also misbehaves with the tree and no rules at all).
const optimizeThreshold = 32

// Load builds the filter for s and loads it into the calling process. Every
// thread gets it (TSYNC), so Go's other runtime threads are covered too.
// nil s means no filter. The runtime's init uses Prepare and
// Program.Load instead, to compile the filter before the container's
// rlimits can starve libseccomp of memory.
//
// The no_new_privs bit is deliberately not set here: the caller decides
// about it (process.noNewPrivileges), so loading needs CAP_SYS_ADMIN unless
// no_new_privs is already set.
func Load(s *specs.LinuxSeccomp) error {
	p, err := Prepare(s)
	if err != nil {
		return err
	}
	return p.Load()
}

// Build builds the filter for s without loading it; the caller must Release
// it.
func Build(s *specs.LinuxSeccomp) (*libseccomp.ScmpFilter, error) {
	if s == nil {
		return nil, errors.New("seccomp: no seccomp config to build")
	}
	if err := Validate(s); err != nil {
		return nil, err
	}
	defAct, err := toAction(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("seccomp: defaultAction: %w", err)
	}
	f, err := libseccomp.NewFilter(defAct)
	if err != nil {
		return nil, fmt.Errorf("seccomp: seccomp_init(%s): %w", s.DefaultAction, err)
	}
	if err := configure(f, s, defAct); err != nil {
		f.Release()
		return nil, err
	}
	return f, nil
}

func configure(f *libseccomp.ScmpFilter, s *specs.LinuxSeccomp, defAct libseccomp.ScmpAction) error {
	for _, a := range s.Architectures {
		if err := f.AddArch(arches[a]); err != nil {
			return fmt.Errorf("seccomp: architecture %q: add to filter: %w", a, err)
		}
	}
	for _, fl := range s.Flags {
		if err := setFlag(f, fl); err != nil {
			return fmt.Errorf("seccomp: flag %q: %w", fl, err)
		}
	}
	if err := f.SetNoNewPrivsBit(false); err != nil {
		return fmt.Errorf("seccomp: clear no_new_privs filter attribute: %w", err)
	}
	// Without raw return codes libseccomp reports every load failure as
	// ECANCELED; older libraries lack the attribute, which only costs detail.
	_ = f.SetRawRC(true)

	names := 0
	for _, sc := range s.Syscalls {
		names += len(sc.Names)
	}
	if names > optimizeThreshold {
		// Not fatal: only a slower filter when the library is too old.
		_ = f.SetOptimize(2)
	}

	for i, sc := range s.Syscalls {
		if err := addRules(f, sc, defAct); err != nil {
			return fmt.Errorf("seccomp: syscalls[%d]: %w", i, err)
		}
	}
	return nil
}

func setFlag(f *libseccomp.ScmpFilter, fl specs.LinuxSeccompFlag) error {
	switch fl {
	case flagTsync:
		// Already on: NewFilter sets TSYNC on every filter.
		return nil
	case specs.LinuxSeccompFlagLog:
		return f.SetLogBit(true)
	case specs.LinuxSeccompFlagSpecAllow:
		return f.SetSSB(true)
	case specs.LinuxSeccompFlagWaitKillableRecv:
		err := f.SetWaitKill(true)
		var ve *libseccomp.VersionError
		if errors.As(err, &ve) {
			// The kernel honours this flag only together with a notify
			// listener, and SCMP_ACT_NOTIFY is rejected, so an old
			// libseccomp that cannot pass it changes nothing.
			return nil
		}
		return err
	}
	return errors.New("unknown flag")
}

func addRules(f *libseccomp.ScmpFilter, sc specs.LinuxSyscall, defAct libseccomp.ScmpAction) error {
	act, err := toAction(sc.Action, sc.ErrnoRet)
	if err != nil {
		return err
	}
	// libseccomp refuses rules that repeat the default action; they are
	// no-ops anyway.
	if act == defAct {
		return nil
	}
	groups, err := toConditions(sc.Args)
	if err != nil {
		return err
	}
	for _, name := range sc.Names {
		nr, err := libseccomp.GetSyscallFromName(name)
		if err != nil {
			// Profiles list syscalls newer than this libseccomp (or other
			// arches'); like runc, skip them instead of failing.
			continue
		}
		if len(groups) == 0 {
			if err := f.AddRule(nr, act); err != nil {
				return fmt.Errorf("syscall %q: seccomp_rule_add: %w", name, err)
			}
			continue
		}
		for _, conds := range groups {
			if err := f.AddRuleConditional(nr, act, conds); err != nil {
				return fmt.Errorf("syscall %q: seccomp_rule_add: %w", name, err)
			}
		}
	}
	return nil
}

// toAction maps an OCI action (plus its errnoRet) to libseccomp's.
func toAction(a specs.LinuxSeccompAction, errnoRet *uint) (libseccomp.ScmpAction, error) {
	act, ok := actions[a]
	if !ok {
		return libseccomp.ActInvalid, fmt.Errorf("action %q: unknown action", a)
	}
	if act == libseccomp.ActNotify {
		return libseccomp.ActInvalid, fmt.Errorf("action %q: %w", a, ErrNotifyUnsupported)
	}
	if act != libseccomp.ActErrno && act != libseccomp.ActTrace {
		if errnoRet != nil {
			// The runtime-spec requires failing rather than ignoring it.
			return libseccomp.ActInvalid, fmt.Errorf("action %q: errnoRet is only valid with %s and %s", a, specs.ActErrno, specs.ActTrace)
		}
		return act, nil
	}
	code := uint(unix.EPERM)
	if errnoRet != nil {
		code = *errnoRet
	}
	// The kernel keeps 16 bits of data next to the action.
	if code > math.MaxUint16 {
		return libseccomp.ActInvalid, fmt.Errorf("action %q: errnoRet %d out of range (max %d)", a, code, math.MaxUint16)
	}
	return act.SetReturnCode(int16(uint16(code))), nil
}

// toConditions converts a rule's args into groups of conditions, one
// libseccomp rule per group. libseccomp ANDs the conditions of a rule and
// cannot hold two on the same argument, so when an index repeats every
// condition becomes its own rule (ORed), which is what runc does.
func toConditions(args []specs.LinuxSeccompArg) ([][]libseccomp.ScmpCondition, error) {
	if len(args) == 0 {
		return nil, nil
	}
	var conds []libseccomp.ScmpCondition
	var seen [maxArgs]int
	repeated := false
	for i, a := range args {
		op, ok := operators[a.Op]
		if !ok {
			return nil, fmt.Errorf("args[%d]: operator %q: unknown operator", i, a.Op)
		}
		if a.Index >= maxArgs {
			return nil, fmt.Errorf("args[%d]: index %d out of range (syscalls take at most %d arguments)", i, a.Index, maxArgs)
		}
		// For SCMP_CMP_MASKED_EQ value is the mask and valueTwo the datum;
		// other operators ignore the second operand.
		c, err := libseccomp.MakeCondition(a.Index, op, a.Value, a.ValueTwo)
		if err != nil {
			return nil, fmt.Errorf("args[%d]: %w", i, err)
		}
		seen[a.Index]++
		repeated = repeated || seen[a.Index] > 1
		conds = append(conds, c)
	}
	if !repeated {
		return [][]libseccomp.ScmpCondition{conds}, nil
	}
	groups := make([][]libseccomp.ScmpCondition, len(conds))
	for i, c := range conds {
		groups[i] = []libseccomp.ScmpCondition{c}
	}
	return groups, nil
}
