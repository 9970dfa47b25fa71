package seccomp

import (
	"bytes"
	"errors"
	"golang.org/x/sys/unix"
	"os"
	"regexp"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
)

func uptr(v uint) *uint { return &v }

// exportPFC renders f as libseccomp's human-readable pseudo filter code, so
// tests can see which rules made it in.
func exportPFC(t testing.TB, f *libseccomp.ScmpFilter) []byte {
	t.Helper()
	tmp, err := os.CreateTemp(t.TempDir(), "pfc")
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.Close()
	if err := f.ExportPFC(tmp); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(tmp.Name())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func build(t *testing.T, s *specs.LinuxSeccomp) []byte {
	t.Helper()
	if err := Validate(s); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	f, err := Build(s)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	defer f.Release()
	return exportPFC(t, f)
}

// wantErr checks that both Validate and Build reject s, naming want.
func wantErr(t *testing.T, s *specs.LinuxSeccomp, want string) {
	t.Helper()
	err := Validate(s)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Validate: got %v, want error containing %q", err, want)
	}
	f, err := Build(s)
	if err == nil {
		f.Release()
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Build: got %v, want error containing %q", err, want)
	}
}

// pfcHas reports whether the PFC dump has the lines in seq in a row,
// whatever the indentation.
func pfcHas(pfc []byte, seq ...string) bool {
	for i := range seq {
		seq[i] = regexp.QuoteMeta(seq[i])
	}
	return regexp.MustCompile(`(?m)^\s*` + strings.Join(seq, `\s*\n\s*`) + `\s*$`).Match(pfc)
}

func rule(action specs.LinuxSeccompAction, names ...string) specs.LinuxSyscall {
	return specs.LinuxSyscall{Names: names, Action: action}
}

func TestNil(t *testing.T) {
	if err := Validate(nil); err != nil {
		t.Error(err)
	}
	if err := Load(nil); err != nil {
		t.Error(err)
	}
	if _, err := Build(nil); err == nil {
		t.Error("Build(nil) succeeded")
	}
}

func TestActions(t *testing.T) {
	pfcAction := map[specs.LinuxSeccompAction]string{
		specs.ActKill:        "KILL",
		specs.ActKillThread:  "KILL",
		specs.ActKillProcess: "KILL_PROCESS",
		specs.ActTrap:        "TRAP",
		specs.ActErrno:       "ERRNO(1)",
		specs.ActTrace:       "TRACE(1)",
		specs.ActLog:         "LOG",
	}
	for act, pfc := range pfcAction {
		t.Run(string(act), func(t *testing.T) {
			out := build(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
				Syscalls: []specs.LinuxSyscall{rule(act, "getcwd")}})
			if !bytes.Contains(out, []byte("action "+pfc+";")) {
				t.Errorf("no %s rule in\n%s", pfc, out)
			}
			// And as the default action, with ALLOW rules on top.
			out = build(t, &specs.LinuxSeccomp{DefaultAction: act,
				Syscalls: []specs.LinuxSyscall{rule(specs.ActAllow, "getcwd")}})
			if !pfcHas(out, "# default action", "action "+pfc+";") {
				t.Errorf("default action not %s in\n%s", pfc, out)
			}
		})
	}
	wantErr(t, &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_BOGUS"}, `"SCMP_ACT_BOGUS": unknown action`)
	wantErr(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{rule("SCMP_ACT_NOPE", "getcwd")}}, `syscall "getcwd": action "SCMP_ACT_NOPE": unknown action`)
	wantErr(t, &specs.LinuxSeccomp{DefaultAction: ""}, "defaultAction: missing")

	s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{rule(specs.ActNotify, "getcwd")}}
	if err := Validate(s); !errors.Is(err, ErrNoListener) {
		t.Errorf("notify rule without listenerPath: got %v", err)
	}
	s.ListenerPath = "/run/agent.sock"
	if err := Validate(s); err != nil {
		t.Errorf("notify rule with listenerPath: got %v", err)
	}
	if err := Validate(&specs.LinuxSeccomp{DefaultAction: specs.ActNotify, ListenerPath: "/x"}); err == nil {
		t.Error("notify as the default action accepted")
	}
}

func TestRedundantRuleSkipped(t *testing.T) {
	out := build(t, &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
		rule(specs.ActErrno, "getcwd"),                                        // same as default: skipped, libseccomp would refuse it
		{Names: []string{"mkdir"}, Action: specs.ActErrno, ErrnoRet: uptr(1)}, // ERRNO(1) is the default too
		{Names: []string{"rmdir"}, Action: specs.ActErrno, ErrnoRet: uptr(38)},
	}})
	if bytes.Contains(out, []byte("getcwd")) || bytes.Contains(out, []byte("mkdir")) {
		t.Errorf("redundant rules in\n%s", out)
	}
	if !bytes.Contains(out, []byte("ERRNO(38)")) {
		t.Errorf("no rmdir rule in\n%s", out)
	}
}

func TestErrnoRet(t *testing.T) {
	out := build(t, &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: uptr(38), Syscalls: []specs.LinuxSyscall{
		rule(specs.ActAllow, "getcwd"),
		{Names: []string{"mkdir"}, Action: specs.ActErrno, ErrnoRet: uptr(13)},
		{Names: []string{"rmdir"}, Action: specs.ActTrace, ErrnoRet: uptr(4242)},
		rule(specs.ActErrno, "chdir"), // no errnoRet: EPERM
	}})
	if !pfcHas(out, "# default action", "action ERRNO(38);") {
		t.Errorf("default action not ERRNO(38) in\n%s", out)
	}
	for _, want := range []string{"ERRNO(13)", "TRACE(4242)", "ERRNO(1)"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("no %s in\n%s", want, out)
		}
	}
	wantErr(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, DefaultErrnoRet: uptr(1)}, "errnoRet is only valid")
	wantErr(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"mkdir"}, Action: specs.ActKillProcess, ErrnoRet: uptr(1)}}}, `syscall "mkdir": action "SCMP_ACT_KILL_PROCESS": errnoRet is only valid`)
	wantErr(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"mkdir"}, Action: specs.ActErrno, ErrnoRet: uptr(70000)}}}, "errnoRet 70000 out of range")
}

func TestArches(t *testing.T) {
	buildable := map[string]bool{}
	for _, a := range supportedArches() {
		buildable[a] = true
	}
	for _, must := range []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32, specs.ArchAARCH64, specs.ArchARM, specs.ArchRISCV64, specs.ArchS390X, specs.ArchPPC64LE, specs.ArchMIPS64} {
		if !buildable[string(must)] {
			t.Errorf("%s not buildable", must)
		}
	}
	for a := range arches {
		s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{a},
			Syscalls: []specs.LinuxSyscall{rule(specs.ActErrno, "mkdir")}}
		if err := Validate(s); err != nil {
			t.Errorf("%s: %v", a, err)
		}
		if !buildable[string(a)] {
			continue // Known to the runtime-spec but not to this libseccomp.
		}
		f, err := Build(s)
		if bigEndian[a] {
			// libseccomp cannot mix byte orders in one filter, and the
			// native (little-endian) arch is always in it.
			if err == nil {
				f.Release()
			}
			if err == nil || !strings.Contains(err.Error(), string(a)) {
				t.Errorf("%s: got %v, want an error naming it", a, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", a, err)
			continue
		}
		if ok, err := f.IsArchPresent(arches[a]); !ok || err != nil {
			t.Errorf("%s: not in filter (%v)", a, err)
		}
		f.Release()
	}
	wantErr(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"SCMP_ARCH_VAX"}}, `architecture "SCMP_ARCH_VAX": unknown`)
	wantErr(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"amd64"}}, `architecture "amd64": unknown`)
}

var bigEndian = map[specs.Arch]bool{
	specs.ArchMIPS: true, specs.ArchMIPS64: true, specs.ArchMIPS64N32: true,
	specs.ArchPPC: true, specs.ArchPPC64: true, specs.ArchS390: true, specs.ArchS390X: true,
	specs.ArchPARISC: true, specs.ArchPARISC64: true, specs.ArchM68K: true, specs.ArchSHEB: true,
}

func TestOperators(t *testing.T) {
	// libseccomp compares the two 32-bit halves separately and expresses
	// LT/LE/NE as the else branch of GE/GT/EQ.
	pfcOp := map[specs.LinuxSeccompOperator][]string{
		specs.OpNotEqual:     {"if ($a1.lo32 == 5)", "else", "action ERRNO(1);"},
		specs.OpLessThan:     {"if ($a1.lo32 >= 5)", "else", "action ERRNO(1);"},
		specs.OpLessEqual:    {"if ($a1.lo32 > 5)", "else", "action ERRNO(1);"},
		specs.OpEqualTo:      {"if ($a1.lo32 == 5)", "action ERRNO(1);"},
		specs.OpGreaterEqual: {"if ($a1.lo32 >= 5)", "action ERRNO(1);"},
		specs.OpGreaterThan:  {"if ($a1.lo32 > 5)", "action ERRNO(1);"},
		// value is the mask, valueTwo the datum.
		specs.OpMaskedEqual: {"if ($a1.lo32 & 0x00000005 == 4)", "action ERRNO(1);"},
	}
	for op, want := range pfcOp {
		out := build(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{
			Names: []string{"mkdirat"}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Index: 1, Value: 5, ValueTwo: 4, Op: op}},
		}}})
		if !pfcHas(out, want...) {
			t.Errorf("%s: no %q in\n%s", op, want, out)
		}
	}
	wantErr(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{
		Names: []string{"mkdirat"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 1, Op: "SCMP_CMP_ABOUT"}},
	}}}, `syscall "mkdirat": args[0]: operator "SCMP_CMP_ABOUT": unknown operator`)
	wantErr(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{
		Names: []string{"mkdirat"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}},
	}}}, "args[0]: index 6 out of range")
}

func TestArgsSameIndexAreORed(t *testing.T) {
	out := build(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{
		Names: []string{"getpriority"}, Action: specs.ActErrno,
		Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: specs.OpEqualTo}, {Index: 0, Value: 2, Op: specs.OpEqualTo}},
	}, {
		Names: []string{"setpriority"}, Action: specs.ActErrno,
		Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: specs.OpEqualTo}, {Index: 1, Value: 2, Op: specs.OpEqualTo}},
	}}})
	// Same index: sibling rules, either comparison triggers the action.
	if !pfcHas(out, "if ($a0.lo32 == 2)", "action ERRNO(1);", "if ($a0.lo32 == 1)", "action ERRNO(1);") {
		t.Errorf("getpriority conditions not ORed in\n%s", out)
	}
	// Different indexes: one rule, the a1 test nested inside the a0 test.
	if !pfcHas(out, "if ($a0.lo32 == 1)", "if ($a1.hi32 == 0)", "if ($a1.lo32 == 2)", "action ERRNO(1);") {
		t.Errorf("setpriority conditions not ANDed in\n%s", out)
	}
}

func TestFlags(t *testing.T) {
	for fl := range knownFlags {
		s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{fl},
			Syscalls: []specs.LinuxSyscall{rule(specs.ActErrno, "mkdir")}}
		if err := Validate(s); err != nil {
			t.Errorf("%s: %v", fl, err)
		}
		f, err := Build(s)
		if err != nil {
			t.Errorf("%s: %v", fl, err)
			continue
		}
		switch fl {
		case specs.LinuxSeccompFlagLog:
			if on, err := f.GetLogBit(); !on || err != nil {
				t.Errorf("log bit not set (%v)", err)
			}
		case specs.LinuxSeccompFlagSpecAllow:
			if on, err := f.GetSSB(); !on || err != nil {
				t.Errorf("ssb bit not set (%v)", err)
			}
		}
		f.Release()
	}
	wantErr(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_FAST"}},
		`flag "SECCOMP_FILTER_FLAG_FAST": unknown flag`)
}

func TestNames(t *testing.T) {
	// Unknown names are skipped, known ones in the same rule still count.
	out := build(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		rule(specs.ActErrno, "no_such_syscall_2099", "mkdirat"),
	}})
	if !bytes.Contains(out, []byte("mkdirat")) {
		t.Errorf("no mkdirat rule in\n%s", out)
	}
	wantErr(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{rule(specs.ActErrno)}}, "syscalls[0]: names: empty")
	wantErr(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{rule(specs.ActErrno, "mkdir", "")}}, "names[1]: empty syscall name")
}

// The stub in front of libseccomp's program: its jumps must land inside
// it or on the first instruction after it, and it must not be made for a
// default action that lets unknown syscalls through.
func TestEnosysStubLayout(t *testing.T) {
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Architectures: []specs.Arch{specs.ArchX86, specs.ArchX32},
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"read", "write", "openat2"}, Action: specs.ActAllow}},
	}
	f, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Release()
	stub, err := enosysStub(f, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(stub) == 0 {
		t.Fatal("no stub for an ERRNO default")
	}
	for i, in := range stub {
		switch {
		case in.Code == unix.BPF_JMP|unix.BPF_JA:
			if i+1+int(in.K) != len(stub) {
				t.Errorf("insn %d: ja lands at %d, want %d", i, i+1+int(in.K), len(stub))
			}
		case in.Code&0x07 == unix.BPF_JMP:
			for _, off := range []uint8{in.Jt, in.Jf} {
				if i+1+int(off) > len(stub) {
					t.Errorf("insn %d jumps to %d, past the stub's end %d", i, i+1+int(off), len(stub))
				}
			}
		}
	}
	if last := stub[len(stub)-1]; last.Code != unix.BPF_RET|unix.BPF_K || last.K != unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS) {
		t.Errorf("last insn %+v, want ret ERRNO(ENOSYS)", last)
	}
	s.DefaultAction = specs.ActAllow
	if stub, _ := enosysStub(f, s); stub != nil {
		t.Errorf("stub for an ALLOW default: %d insns", len(stub))
	}
}
