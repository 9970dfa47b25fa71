package spec

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// invalidf builds a validation error: "invalid config: <field>: <reason>".
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// Validate checks everything stasis relies on before anything is created,
// returning the first problem found, naming the field.
func Validate(s *specs.Spec) error {
	if s == nil {
		return invalidf("spec is empty")
	}
	checks := []func(*specs.Spec) error{
		validateVersion,
		validateRoot,
		func(s *specs.Spec) error { return ValidateProcess(s.Process) },
		validateMounts,
		validateHostname,
		validateLinux,
	}
	for _, c := range checks {
		if err := c(s); err != nil {
			return err
		}
	}
	return nil
}

// ParseVersion parses a semantic version such as "1.0.2-dev" or "1.3.0".
func ParseVersion(v string) (major, minor, patch int, err error) {
	core := v
	if i := strings.IndexAny(core, "-+"); i >= 0 {
		core = core[:i]
	}
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return 0, 0, 0, fmt.Errorf("version %q: want MAJOR.MINOR.PATCH", v)
	}
	var nums [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || p == "" || (len(p) > 1 && p[0] == '0') {
			return 0, 0, 0, fmt.Errorf("version %q: %q is not a version number", v, p)
		}
		nums[i] = n
	}
	return nums[0], nums[1], nums[2], nil
}

func validateVersion(s *specs.Spec) error {
	if s.Version == "" {
		return invalidf("ociVersion: missing")
	}
	major, _, _, err := ParseVersion(s.Version)
	if err != nil {
		return invalidf("ociVersion: %v", err)
	}
	if major != specs.VersionMajor {
		return invalidf("ociVersion %q: unsupported ociVersion (this runtime implements %s)", s.Version, specs.Version)
	}
	return nil
}

func validateRoot(s *specs.Spec) error {
	if s.Root == nil {
		return invalidf("root: missing")
	}
	if s.Root.Path == "" {
		return invalidf("root.path: empty")
	}
	return nil
}

// ValidateProcess checks a process section, whether from config.json or
// from `exec --process`; a container needs one to be created.
func ValidateProcess(p *specs.Process) error {
	if p == nil {
		return invalidf("process: missing")
	}
	if len(p.Args) == 0 {
		return invalidf("process.args: empty")
	}
	if !filepath.IsAbs(p.Cwd) {
		return invalidf("process.cwd %q: must be an absolute path", p.Cwd)
	}
	if p.ConsoleSize != nil && !p.Terminal {
		return invalidf("process.consoleSize: set but process.terminal is false")
	}
	for i, e := range p.Env {
		if !strings.Contains(e, "=") || strings.HasPrefix(e, "=") {
			return invalidf("process.env[%d] %q: want NAME=VALUE", i, e)
		}
	}
	if err := validateCapabilities(p.Capabilities); err != nil {
		return err
	}
	if err := validateCPUAffinity(p.ExecCPUAffinity); err != nil {
		return err
	}
	return validateRlimits(p.Rlimits)
}

func validateCapabilities(c *specs.LinuxCapabilities) error {
	if c == nil {
		return nil
	}
	sets := []struct {
		name string
		caps []string
	}{
		{"bounding", c.Bounding},
		{"effective", c.Effective},
		{"inheritable", c.Inheritable},
		{"permitted", c.Permitted},
		{"ambient", c.Ambient},
	}
	for _, set := range sets {
		for i, name := range set.caps {
			if _, err := ParseCapability(name); err != nil {
				return invalidf("process.capabilities.%s[%d] %q: unknown capability", set.name, i, name)
			}
		}
	}
	return nil
}

func validateRlimits(rl []specs.POSIXRlimit) error {
	seen := make(map[string]bool)
	for i, r := range rl {
		if _, err := RlimitType(r.Type); err != nil {
			return invalidf("process.rlimits[%d].type %q: unknown rlimit type", i, r.Type)
		}
		if seen[r.Type] {
			return invalidf("process.rlimits[%d].type %q: duplicate rlimit type", i, r.Type)
		}
		seen[r.Type] = true
		if r.Soft > r.Hard {
			return invalidf("process.rlimits[%d] %s: soft limit %d exceeds hard limit %d", i, r.Type, r.Soft, r.Hard)
		}
	}
	return nil
}

func validateMounts(s *specs.Spec) error {
	for i, m := range s.Mounts {
		if m.Destination == "" {
			return invalidf("mounts[%d].destination: empty", i)
		}
		// runc still accepts relative destinations from pre-1.0 specs with a
		// warning; silently guessing the base is worse than a clear error.
		if !filepath.IsAbs(m.Destination) {
			return invalidf("mounts[%d].destination %q: must be an absolute path", i, m.Destination)
		}
		if IsBind(m) && m.Source == "" {
			return invalidf("mounts[%d] (%s): bind mount needs a source", i, m.Destination)
		}
		if err := validateIDMapMount(s, i, m); err != nil {
			return err
		}
	}
	return nil
}

func validateHostname(s *specs.Spec) error {
	if s.Hostname == "" && s.Domainname == "" {
		return nil
	}
	// Like runc, a UTS namespace joined by path counts as private: it
	// belongs to another container, not to the host.
	if findNamespace(s.Linux, specs.UTSNamespace) == nil {
		if s.Hostname != "" {
			return invalidf("hostname %q: unable to set hostname without a private UTS namespace", s.Hostname)
		}
		return invalidf("domainname %q: unable to set domainname without a private UTS namespace", s.Domainname)
	}
	return nil
}

// findNamespace returns the entry of type t in l.Namespaces, or nil.
func findNamespace(l *specs.Linux, t specs.LinuxNamespaceType) *specs.LinuxNamespace {
	if l == nil {
		return nil
	}
	for i := range l.Namespaces {
		if l.Namespaces[i].Type == t {
			return &l.Namespaces[i]
		}
	}
	return nil
}
