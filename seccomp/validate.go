package seccomp

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Validate checks s without building a filter, so create can reject a bad
// profile before anything is spawned. Unknown syscall names are not errors:
// profiles routinely list syscalls newer than the host's libseccomp, and
// Build skips them.
func Validate(s *specs.LinuxSeccomp) error {
	if s == nil {
		return nil
	}
	if s.DefaultAction == "" {
		return errors.New("seccomp: defaultAction: missing")
	}
	if _, err := toAction(s.DefaultAction, s.DefaultErrnoRet); err != nil {
		return fmt.Errorf("seccomp: defaultAction: %w", err)
	}
	for _, a := range s.Architectures {
		if _, ok := arches[a]; !ok {
			return fmt.Errorf("seccomp: architecture %q: unknown architecture", a)
		}
	}
	for _, fl := range s.Flags {
		if _, ok := knownFlags[fl]; !ok {
			return fmt.Errorf("seccomp: flag %q: unknown flag", fl)
		}
	}
	for i, sc := range s.Syscalls {
		if err := validateSyscall(sc); err != nil {
			return fmt.Errorf("seccomp: syscalls[%d]: %w", i, err)
		}
	}
	if s.DefaultAction == specs.ActNotify {
		// The agent would have to answer every syscall of ours too,
		// before it even knows the container (runc refuses it as well).
		return errors.New("seccomp: defaultAction: SCMP_ACT_NOTIFY cannot be the default action")
	}
	if UsesNotify(s) && s.ListenerPath == "" {
		return fmt.Errorf("seccomp: %w", ErrNoListener)
	}
	return nil
}

// UsesNotify reports whether any rule of s sends syscalls to an agent.
func UsesNotify(s *specs.LinuxSeccomp) bool {
	if s == nil {
		return false
	}
	for _, sc := range s.Syscalls {
		if sc.Action == specs.ActNotify {
			return true
		}
	}
	return false
}

func validateSyscall(sc specs.LinuxSyscall) error {
	if len(sc.Names) == 0 {
		return errors.New("names: empty (at least one syscall name is required)")
	}
	for j, n := range sc.Names {
		if n == "" {
			return fmt.Errorf("names[%d]: empty syscall name", j)
		}
	}
	if _, err := toAction(sc.Action, sc.ErrnoRet); err != nil {
		return fmt.Errorf("syscall %q: %w", sc.Names[0], err)
	}
	if _, err := toConditions(sc.Args); err != nil {
		return fmt.Errorf("syscall %q: %w", sc.Names[0], err)
	}
	return nil
}
