package seccomp

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// mobyProfile is the subset of moby's profile format (profiles/seccomp in
// moby/moby) needed to convert it the way dockerd does before it hands an
// OCI linux.seccomp to the runtime.
type mobyProfile struct {
	DefaultAction   specs.LinuxSeccompAction `json:"defaultAction"`
	DefaultErrnoRet *uint                    `json:"defaultErrnoRet"`
	ArchMap         []struct {
		Arch      specs.Arch   `json:"architecture"`
		SubArches []specs.Arch `json:"subArchitectures"`
	} `json:"archMap"`
	Syscalls []struct {
		Names    []string                 `json:"names"`
		Action   specs.LinuxSeccompAction `json:"action"`
		ErrnoRet *uint                    `json:"errnoRet"`
		Args     []specs.LinuxSeccompArg  `json:"args"`
		Includes mobyFilter               `json:"includes"`
		Excludes mobyFilter               `json:"excludes"`
	} `json:"syscalls"`
}

type mobyFilter struct {
	Caps      []string `json:"caps"`
	Arches    []string `json:"arches"`
	MinKernel string   `json:"minKernel"`
}

// dockerDefaultCaps is Docker 20.10's default capability set (the bounding
// set of a plain `docker run`).
var dockerDefaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// convertMoby follows dockerd's setupSeccomp for an amd64 host: keep the
// x86_64 archMap entry, drop rules by includes/excludes (includes need every
// listed cap, excludes drop on any), and copy names/action/args/errnoRet.
// Every minKernel in the profile is assumed satisfied (it only says "4.8").
func convertMoby(p *mobyProfile, caps []string) *specs.LinuxSeccomp {
	const nativeArch, nativeSeccompArch = "amd64", specs.ArchX86_64
	out := &specs.LinuxSeccomp{DefaultAction: p.DefaultAction, DefaultErrnoRet: p.DefaultErrnoRet}
	for _, a := range p.ArchMap {
		if a.Arch == nativeSeccompArch {
			out.Architectures = append(append(out.Architectures, a.Arch), a.SubArches...)
			break
		}
	}
	hasAll := func(want []string) bool {
		for _, c := range want {
			if !slices.Contains(caps, c) {
				return false
			}
		}
		return true
	}
	hasAny := func(want []string) bool {
		return slices.ContainsFunc(want, func(c string) bool { return slices.Contains(caps, c) })
	}
	for _, sc := range p.Syscalls {
		switch {
		case slices.Contains(sc.Excludes.Arches, nativeArch),
			hasAny(sc.Excludes.Caps),
			sc.Excludes.MinKernel != "",
			len(sc.Includes.Arches) > 0 && !slices.Contains(sc.Includes.Arches, nativeArch),
			!hasAll(sc.Includes.Caps):
			continue
		}
		out.Syscalls = append(out.Syscalls, specs.LinuxSyscall{
			Names: sc.Names, Action: sc.Action, ErrnoRet: sc.ErrnoRet, Args: sc.Args,
		})
	}
	return out
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func dockerDefault(t testing.TB) *specs.LinuxSeccomp {
	var s specs.LinuxSeccomp
	readJSON(t, "testdata/docker-default.json", &s)
	return &s
}

// TestDockerDefaultIsConverted keeps testdata/docker-default.json equal to
// the conversion of testdata/moby-default.json. Regenerate with
// STASIS_SECCOMP_REGEN=1 go test -run TestDockerDefaultIsConverted ./seccomp/
func TestDockerDefaultIsConverted(t *testing.T) {
	var p mobyProfile
	readJSON(t, "testdata/moby-default.json", &p)
	want, err := json.MarshalIndent(convertMoby(&p, dockerDefaultCaps), "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	if os.Getenv("STASIS_SECCOMP_REGEN") == "1" {
		if err := os.WriteFile("testdata/docker-default.json", want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("testdata/docker-default.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("testdata/docker-default.json is stale; regenerate it (see README)")
	}
}

func TestDockerDefaultValidatesAndBuilds(t *testing.T) {
	s := dockerDefault(t)
	if err := Validate(s); err != nil {
		t.Fatal(err)
	}
	f, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Release()
	pfc := exportPFC(t, f)
	for _, name := range []string{"mkdirat", "clone3", "arch_prctl", "chroot", "socket"} {
		if !bytes.Contains(pfc, []byte(name)) {
			t.Errorf("filter has no rule for %s", name)
		}
	}
	// Needs CAP_SYS_ADMIN, which Docker's default caps lack.
	if bytes.Contains(pfc, []byte("unshare")) {
		t.Error("filter has a rule for unshare")
	}
}
