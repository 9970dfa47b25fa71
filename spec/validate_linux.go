package spec

import (
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var knownNamespaces = map[specs.LinuxNamespaceType]bool{
	specs.PIDNamespace:     true,
	specs.NetworkNamespace: true,
	specs.MountNamespace:   true,
	specs.IPCNamespace:     true,
	specs.UTSNamespace:     true,
	specs.UserNamespace:    true,
	specs.CgroupNamespace:  true,
	specs.TimeNamespace:    true,
}

func validateLinux(s *specs.Spec) error {
	l := s.Linux
	if l == nil {
		return nil
	}
	checks := []func(*specs.Linux) error{
		validateNamespaces,
		validateIDMappings,
		validatePaths,
		validateDevices,
		validateSysctl,
		validateCgroupsPath,
		validatePersonality,
		validatePropagation,
		validateHostMountNS,
		validateTimeOffsets,
		validateNetDevices,
		validateMemoryPolicy,
	}
	for _, c := range checks {
		if err := c(l); err != nil {
			return err
		}
	}
	return nil
}

func validateNamespaces(l *specs.Linux) error {
	seen := make(map[specs.LinuxNamespaceType]bool)
	for i, ns := range l.Namespaces {
		if !knownNamespaces[ns.Type] {
			return invalidf("linux.namespaces[%d].type %q: unknown namespace type", i, ns.Type)
		}
		if seen[ns.Type] {
			return invalidf("linux.namespaces[%d].type %q: duplicate namespace type", i, ns.Type)
		}
		seen[ns.Type] = true
		if ns.Path != "" && !filepath.IsAbs(ns.Path) {
			return invalidf("linux.namespaces[%d].path %q: must be an absolute path", i, ns.Path)
		}
	}
	userns := findNamespace(l, specs.UserNamespace)
	hasMaps := len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0
	switch {
	case userns == nil && hasMaps:
		return invalidf("linux.uidMappings/gidMappings: set without a user namespace")
	case userns != nil && userns.Path == "":
		if len(l.UIDMappings) == 0 {
			return invalidf("linux.uidMappings: a new user namespace needs uid mappings")
		}
		if len(l.GIDMappings) == 0 {
			return invalidf("linux.gidMappings: a new user namespace needs gid mappings")
		}
	}
	return nil
}

func validateIDMappings(l *specs.Linux) error {
	for _, set := range []struct {
		name string
		maps []specs.LinuxIDMapping
	}{{"uidMappings", l.UIDMappings}, {"gidMappings", l.GIDMappings}} {
		for i, m := range set.maps {
			if m.Size == 0 {
				return invalidf("linux.%s[%d].size: must be greater than 0", set.name, i)
			}
		}
	}
	return nil
}

func validatePaths(l *specs.Linux) error {
	for i, p := range l.MaskedPaths {
		if !filepath.IsAbs(p) {
			return invalidf("linux.maskedPaths[%d] %q: must be an absolute path", i, p)
		}
	}
	for i, p := range l.ReadonlyPaths {
		if !filepath.IsAbs(p) {
			return invalidf("linux.readonlyPaths[%d] %q: must be an absolute path", i, p)
		}
	}
	return nil
}

func validateDevices(l *specs.Linux) error {
	for i, d := range l.Devices {
		if !filepath.IsAbs(d.Path) {
			return invalidf("linux.devices[%d].path %q: must be an absolute path", i, d.Path)
		}
		switch d.Type {
		case "c", "b", "u":
			// major/minor are plain numbers in the spec types, so "missing"
			// decodes as 0:0, which no real character or block device uses.
			if d.Major < 0 || d.Minor < 0 || (d.Major == 0 && d.Minor == 0) {
				return invalidf("linux.devices[%d] (%s): type %q needs major and minor numbers", i, d.Path, d.Type)
			}
		case "p":
		default:
			return invalidf("linux.devices[%d].type %q: must be one of c, b, u, p", i, d.Type)
		}
	}
	return nil
}

// ipcSysctls are the kernel.* sysctls scoped to the IPC namespace.
var ipcSysctls = map[string]bool{
	"kernel.msgmax":          true,
	"kernel.msgmnb":          true,
	"kernel.msgmni":          true,
	"kernel.sem":             true,
	"kernel.shmall":          true,
	"kernel.shmmax":          true,
	"kernel.shmmni":          true,
	"kernel.shm_rmid_forced": true,
}

// validateSysctl follows runc: a sysctl may only be set when it is scoped
// to a namespace the container does not share with the host, or writing it
// would change the host.
func validateSysctl(l *specs.Linux) error {
	for key := range l.Sysctl {
		if key == "" {
			return invalidf("linux.sysctl: empty key")
		}
		p, err := SysctlPath(key)
		if err != nil {
			return invalidf("linux.sysctl: %v", err)
		}
		// The namespace is decided on the path, so both forms of a key
		// (and a dot inside a name) are judged alike.
		k := strings.ReplaceAll(p, "/", ".")
		var need specs.LinuxNamespaceType
		switch {
		case ipcSysctls[k] || strings.HasPrefix(k, "fs.mqueue."):
			need = specs.IPCNamespace
		case strings.HasPrefix(k, "net."):
			need = specs.NetworkNamespace
		case k == "kernel.hostname" || k == "kernel.domainname":
			need = specs.UTSNamespace
		default:
			return invalidf("linux.sysctl %q: not in a separate kernel namespace", key)
		}
		if findNamespace(l, need) == nil {
			return invalidf("linux.sysctl %q: needs a new %s namespace", key, need)
		}
	}
	return nil
}

// validateCgroupsPath rejects paths whose ".." elements climb above the
// start, which would place the container outside its cgroup parent. The
// systemd "slice:prefix:name" form is checked the same way per part.
func validateCgroupsPath(l *specs.Linux) error {
	for _, part := range strings.Split(l.CgroupsPath, ":") {
		depth := 0
		for _, el := range strings.Split(part, "/") {
			switch el {
			case "", ".":
			case "..":
				depth--
				if depth < 0 {
					return invalidf("linux.cgroupsPath %q: \"..\" escapes the cgroup root", l.CgroupsPath)
				}
			default:
				depth++
			}
		}
	}
	return nil
}

func validatePersonality(l *specs.Linux) error {
	if l.Personality == nil {
		return nil
	}
	switch l.Personality.Domain {
	case specs.PerLinux, specs.PerLinux32:
		return nil
	}
	return invalidf("linux.personality.domain %q: must be LINUX or LINUX32", l.Personality.Domain)
}

func validatePropagation(l *specs.Linux) error {
	switch l.RootfsPropagation {
	case "", "shared", "rshared", "slave", "rslave", "private", "rprivate", "unbindable", "runbindable":
		return nil
	}
	return invalidf("linux.rootfsPropagation %q: must be one of shared, slave, private, unbindable (optionally r-prefixed)", l.RootfsPropagation)
}

// validateHostMountNS: without a mount namespace the container's mounts
// are the host's, so what would change mounts the runtime did not make
// is refused: masking and read-only paths (runc refuses these too) and
// rootfsPropagation (which runc would apply to the host's "/").
func validateHostMountNS(l *specs.Linux) error {
	if findNamespace(l, specs.MountNamespace) != nil {
		return nil
	}
	switch {
	case len(l.MaskedPaths) > 0:
		return invalidf("linux.maskedPaths: needs a mount namespace (without one they would be mounted over the host's paths)")
	case len(l.ReadonlyPaths) > 0:
		return invalidf("linux.readonlyPaths: needs a mount namespace (without one the host's paths would be remounted)")
	case l.RootfsPropagation != "":
		return invalidf("linux.rootfsPropagation %q: needs a mount namespace (without one it would change the host's mounts)", l.RootfsPropagation)
	}
	return nil
}
