package seccomp

import (
	"errors"
	"regexp"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestFeatures(t *testing.T) {
	f := Features()
	if f.Enabled == nil || !*f.Enabled {
		t.Error("not enabled")
	}
	for _, a := range []specs.LinuxSeccompAction{specs.ActKill, specs.ActKillProcess, specs.ActKillThread, specs.ActTrap,
		specs.ActErrno, specs.ActTrace, specs.ActAllow, specs.ActLog} {
		if !slices.Contains(f.Actions, string(a)) {
			t.Errorf("action %s missing from %v", a, f.Actions)
		}
	}
	if !slices.Contains(f.Actions, string(specs.ActNotify)) {
		t.Error("SCMP_ACT_NOTIFY works (with listenerPath) but is not advertised")
	}
	if len(f.Operators) != 7 || !slices.Contains(f.Operators, string(specs.OpMaskedEqual)) {
		t.Errorf("operators: %v", f.Operators)
	}
	for _, a := range []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32, specs.ArchAARCH64, specs.ArchARM} {
		if !slices.Contains(f.Archs, string(a)) {
			t.Errorf("arch %s missing from %v", a, f.Archs)
		}
	}
	if len(f.KnownFlags) != len(knownFlags) {
		t.Errorf("known flags: %v", f.KnownFlags)
	}
	// Kernel 4.17+ and libseccomp 2.5+ take all of these.
	for _, fl := range []string{string(flagTsync), string(specs.LinuxSeccompFlagLog), string(specs.LinuxSeccompFlagSpecAllow)} {
		if !slices.Contains(f.SupportedFlags, fl) {
			t.Errorf("flag %s not supported: %v", fl, f.SupportedFlags)
		}
	}
	for _, fl := range f.SupportedFlags {
		if !slices.Contains(f.KnownFlags, fl) {
			t.Errorf("supported flag %s not known", fl)
		}
	}
	if v := LibseccompVersion(); !regexp.MustCompile(`^2\.\d+\.\d+$`).MatchString(v) {
		t.Errorf("libseccomp version %q", v)
	}
	t.Logf("%+v libseccomp %s", *f, LibseccompVersion())
}

func TestFlagSupportedKernelProbe(t *testing.T) {
	orig := probeKernelFlag
	t.Cleanup(func() { probeKernelFlag = orig })
	// The real probe: SECCOMP_FILTER_FLAG_LOG exists since Linux 4.14,
	// bit 31 never did.
	if err := orig(1 << 1); err != nil {
		t.Errorf("probe LOG: %v", err)
	}
	if err := orig(1 << 31); !errors.Is(err, unix.EINVAL) {
		t.Errorf("probe bit 31: got %v, want EINVAL", err)
	}
	var probed uint
	probeKernelFlag = func(bit uint) error { probed = bit; return unix.EINVAL }
	if err := FlagSupported(specs.LinuxSeccompFlagLog); !errors.Is(err, unix.EINVAL) {
		t.Errorf("old kernel: got %v", err)
	}
	if probed != unix.SECCOMP_FILTER_FLAG_LOG {
		t.Errorf("probed %#x", probed)
	}
	if err := FlagSupported("SECCOMP_FILTER_FLAG_NOPE"); err == nil {
		t.Error("unknown flag supported")
	}
}
