package spec

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func withUserns(s *specs.Spec) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
}

func withTimens(s *specs.Spec, path string) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace, Path: path})
}

func idmapMount(opts []string) specs.Mount {
	return specs.Mount{
		Destination: "/data", Type: "bind", Source: "/srv", Options: opts,
		UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}},
		GIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}},
	}
}

func dropNamespace(s *specs.Spec, t specs.LinuxNamespaceType) {
	var keep []specs.LinuxNamespace
	for _, ns := range s.Linux.Namespaces {
		if ns.Type != t {
			keep = append(keep, ns)
		}
	}
	s.Linux.Namespaces = keep
}

// validateCases are Default() specs changed one way each; FuzzLoadConfig
// seeds its corpus with them, valid and invalid alike.
var validateCases = []struct {
	name    string
	mutate  func(*specs.Spec)
	wantErr string // substring; "" means valid
}{
	{"default", func(*specs.Spec) {}, ""},
	{"nil linux", func(s *specs.Spec) { s.Linux = nil; s.Hostname = "" }, ""},

	// ociVersion
	{"version missing", func(s *specs.Spec) { s.Version = "" }, "ociVersion: missing"},
	{"version garbage", func(s *specs.Spec) { s.Version = "one" }, "ociVersion"},
	{"version two parts", func(s *specs.Spec) { s.Version = "1.0" }, "MAJOR.MINOR.PATCH"},
	{"version major 2", func(s *specs.Spec) { s.Version = "2.0.0" }, "unsupported ociVersion"},
	{"version major 0", func(s *specs.Spec) { s.Version = "0.5.0" }, "unsupported ociVersion"},
	{"version old dev ok", func(s *specs.Spec) { s.Version = "1.0.2-dev" }, ""},
	{"version rc ok", func(s *specs.Spec) { s.Version = "1.0.0-rc5+build" }, ""},

	// root
	{"root missing", func(s *specs.Spec) { s.Root = nil }, "root: missing"},
	{"root path empty", func(s *specs.Spec) { s.Root.Path = "" }, "root.path: empty"},

	// process
	{"process nil", func(s *specs.Spec) { s.Process = nil }, "process: missing"},
	{"args empty", func(s *specs.Spec) { s.Process.Args = nil }, "process.args: empty"},
	{"cwd relative", func(s *specs.Spec) { s.Process.Cwd = "tmp" }, `process.cwd "tmp": must be an absolute path`},
	{"cwd empty", func(s *specs.Spec) { s.Process.Cwd = "" }, "process.cwd"},
	{"consoleSize without terminal", func(s *specs.Spec) {
		s.Process.Terminal = false
		s.Process.ConsoleSize = &specs.Box{Height: 24, Width: 80}
	}, "process.consoleSize"},
	{"consoleSize with terminal", func(s *specs.Spec) { s.Process.ConsoleSize = &specs.Box{Height: 24, Width: 80} }, ""},
	{"env without =", func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "FOO") }, `process.env[2] "FOO"`},
	{"user any", func(s *specs.Spec) { s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{5}} }, ""},

	// capabilities
	{"cap unknown bounding", func(s *specs.Spec) { s.Process.Capabilities.Bounding = []string{"CAP_FOO"} }, `process.capabilities.bounding[0] "CAP_FOO": unknown capability`},
	{"cap unknown ambient", func(s *specs.Spec) { s.Process.Capabilities.Ambient = []string{"CAP_KILL", "KILL"} }, `process.capabilities.ambient[1] "KILL"`},
	{"cap unknown inheritable", func(s *specs.Spec) { s.Process.Capabilities.Inheritable = []string{"CAP_SYS_ADMINN"} }, "inheritable[0]"},
	{"cap unknown effective", func(s *specs.Spec) { s.Process.Capabilities.Effective = []string{""} }, "effective[0]"},
	{"cap unknown permitted", func(s *specs.Spec) { s.Process.Capabilities.Permitted = []string{"CAP_"} }, "permitted[0]"},
	{"cap lower case ok", func(s *specs.Spec) {
		s.Process.Capabilities.Bounding = []string{"cap_sys_admin", "CAP_CHECKPOINT_RESTORE"}
	}, ""},
	{"caps nil ok", func(s *specs.Spec) { s.Process.Capabilities = nil }, ""},

	// rlimits
	{"rlimit unknown", func(s *specs.Spec) { s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_FOO", Soft: 1, Hard: 1}} }, `process.rlimits[0].type "RLIMIT_FOO": unknown rlimit type`},
	{"rlimit soft > hard", func(s *specs.Spec) { s.Process.Rlimits[0].Soft = 2048 }, "soft limit 2048 exceeds hard limit 1024"},
	{"rlimit duplicate", func(s *specs.Spec) {
		s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Soft: 1, Hard: 1})
	}, `process.rlimits[1].type "RLIMIT_NOFILE": duplicate`},

	// mounts
	{"mount relative dest", func(s *specs.Spec) { s.Mounts[0].Destination = "proc" }, `mounts[0].destination "proc": must be an absolute path`},
	{"mount empty dest", func(s *specs.Spec) { s.Mounts[1].Destination = "" }, "mounts[1].destination: empty"},
	{"bind option without source", func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Options: []string{"rbind", "ro"}})
	}, "mounts[7] (/data): bind mount needs a source"},
	{"bind type without source", func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind"})
	}, "bind mount needs a source"},
	{"bind with source", func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: "/srv", Options: []string{"rbind"}})
	}, ""},
	{"free-form type and options", func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "overlay", Source: "overlay", Options: []string{"lowerdir=/a"}})
	}, ""},

	// namespaces
	{"ns unknown", func(s *specs.Spec) { s.Linux.Namespaces[2].Type = "foo" }, `linux.namespaces[2].type "foo": unknown namespace type`},
	{"ns duplicate", func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace})
	}, `linux.namespaces[6].type "pid": duplicate namespace type`},
	{"ns relative path", func(s *specs.Spec) { s.Linux.Namespaces[1].Path = "proc/1/ns/net" }, `linux.namespaces[1].path "proc/1/ns/net": must be an absolute path`},
	{"ns absolute path", func(s *specs.Spec) { s.Linux.Namespaces[1].Path = "/proc/1/ns/net" }, ""},
	{"ns time ok", func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
	}, ""},
	{"userns ok", withUserns, ""},
	{"userns no uid maps", func(s *specs.Spec) { withUserns(s); s.Linux.UIDMappings = nil }, "linux.uidMappings: a new user namespace needs uid mappings"},
	{"userns no gid maps", func(s *specs.Spec) { withUserns(s); s.Linux.GIDMappings = nil }, "linux.gidMappings"},
	{"userns by path no maps", func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: "/proc/1/ns/user"})
	}, ""},
	{"maps without userns", func(s *specs.Spec) {
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{HostID: 1000, Size: 1}}
	}, "set without a user namespace"},
	{"uid map size 0", func(s *specs.Spec) { withUserns(s); s.Linux.UIDMappings[0].Size = 0 }, "linux.uidMappings[0].size: must be greater than 0"},
	{"gid map size 0", func(s *specs.Spec) {
		withUserns(s)
		s.Linux.GIDMappings = append(s.Linux.GIDMappings, specs.LinuxIDMapping{})
	}, "linux.gidMappings[1].size"},

	// masked / readonly paths
	{"masked relative", func(s *specs.Spec) { s.Linux.MaskedPaths[3] = "proc/keys" }, `linux.maskedPaths[3] "proc/keys": must be an absolute path`},
	{"readonly relative", func(s *specs.Spec) { s.Linux.ReadonlyPaths[0] = "" }, "linux.readonlyPaths[0]"},

	// no mount namespace: the host's mounts must not be touched
	{"no mntns, plain", func(s *specs.Spec) {
		dropNamespace(s, specs.MountNamespace)
		s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
	}, ""},
	{"no mntns, masked", func(s *specs.Spec) {
		dropNamespace(s, specs.MountNamespace)
		s.Linux.ReadonlyPaths = nil
	}, "linux.maskedPaths: needs a mount namespace"},
	{"no mntns, readonly", func(s *specs.Spec) {
		dropNamespace(s, specs.MountNamespace)
		s.Linux.MaskedPaths = nil
	}, "linux.readonlyPaths: needs a mount namespace"},
	{"no mntns, propagation", func(s *specs.Spec) {
		dropNamespace(s, specs.MountNamespace)
		s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
		s.Linux.RootfsPropagation = "rslave"
	}, `linux.rootfsPropagation "rslave": needs a mount namespace`},
	{"joined mntns, masked", func(s *specs.Spec) {
		dropNamespace(s, specs.MountNamespace)
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.MountNamespace, Path: "/proc/1/ns/mnt"})
	}, ""},

	// devices
	{"device ok", func(s *specs.Spec) {
		s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}, {Path: "/dev/fifo", Type: "p"}}
	}, ""},
	{"device relative", func(s *specs.Spec) {
		s.Linux.Devices = []specs.LinuxDevice{{Path: "dev/fuse", Type: "c", Major: 10, Minor: 229}}
	}, `linux.devices[0].path "dev/fuse": must be an absolute path`},
	{"device bad type", func(s *specs.Spec) {
		s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "x", Major: 1, Minor: 1}}
	}, `linux.devices[0].type "x": must be one of c, b, u, p`},
	{"device no major/minor", func(s *specs.Spec) {
		s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/sda", Type: "b"}}
	}, `linux.devices[0] (/dev/sda): type "b" needs major and minor`},
	{"device negative minor", func(s *specs.Spec) {
		s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "c", Major: 1, Minor: -1}}
	}, "needs major and minor"},

	// sysctl
	{"sysctl net ok", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"} }, ""},
	{"sysctl net slash ok", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"net/ipv4/ip_forward": "1"} }, ""},
	{"sysctl ipc ok", func(s *specs.Spec) {
		s.Linux.Sysctl = map[string]string{"kernel.shmmax": "1", "fs.mqueue.msg_max": "10"}
	}, ""},
	{"sysctl empty key", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"": "1"} }, "linux.sysctl: empty key"},
	{"sysctl slash with a dotted name ok", func(s *specs.Spec) {
		s.Linux.Sysctl = map[string]string{"net/ipv4/conf/eth0.100/forwarding": "1"}
	}, ""},
	{"sysctl climbing out of /proc/sys", func(s *specs.Spec) {
		s.Linux.Sysctl = map[string]string{"net/../../self/attr/exec": "x"}
	}, `linux.sysctl: sysctl "net/../../self/attr/exec": not a sysctl name`},
	{"sysctl net no netns", func(s *specs.Spec) {
		dropNamespace(s, specs.NetworkNamespace)
		s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
	}, `linux.sysctl "net.ipv4.ip_forward": needs a new network namespace`},
	{"sysctl hostname no uts", func(s *specs.Spec) {
		dropNamespace(s, specs.UTSNamespace)
		s.Hostname = ""
		s.Linux.Sysctl = map[string]string{"kernel.domainname": "x"}
	}, `linux.sysctl "kernel.domainname": needs a new uts namespace`},
	{"sysctl ipc no ipcns", func(s *specs.Spec) {
		dropNamespace(s, specs.IPCNamespace)
		s.Linux.Sysctl = map[string]string{"kernel.msgmax": "1"}
	}, `linux.sysctl "kernel.msgmax": needs a new ipc namespace`},
	{"sysctl host-wide", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"vm.swappiness": "1"} }, `linux.sysctl "vm.swappiness": not in a separate kernel namespace`},

	// hostname
	{"hostname no uts", func(s *specs.Spec) { dropNamespace(s, specs.UTSNamespace) }, "unable to set hostname without a private UTS namespace"},
	{"domainname no uts", func(s *specs.Spec) { dropNamespace(s, specs.UTSNamespace); s.Hostname = ""; s.Domainname = "d" }, "unable to set domainname"},
	{"no hostname no uts", func(s *specs.Spec) { dropNamespace(s, specs.UTSNamespace); s.Hostname = "" }, ""},

	// cgroupsPath
	{"cgroupsPath ok", func(s *specs.Spec) { s.Linux.CgroupsPath = "/stasis/a/../b" }, ""},
	{"cgroupsPath relative ok", func(s *specs.Spec) { s.Linux.CgroupsPath = "stasis/c1" }, ""},
	{"cgroupsPath systemd ok", func(s *specs.Spec) { s.Linux.CgroupsPath = "system.slice:stasis:c1" }, ""},
	{"cgroupsPath escape", func(s *specs.Spec) { s.Linux.CgroupsPath = "/stasis/../../etc" }, `linux.cgroupsPath "/stasis/../../etc": ".." escapes`},
	{"cgroupsPath escape relative", func(s *specs.Spec) { s.Linux.CgroupsPath = "../x" }, "escapes"},

	// personality
	{"personality ok", func(s *specs.Spec) { s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32} }, ""},
	{"personality bad", func(s *specs.Spec) { s.Linux.Personality = &specs.LinuxPersonality{Domain: "BSD"} }, `linux.personality.domain "BSD": must be LINUX or LINUX32`},

	// rootfsPropagation
	{"propagation rslave ok", func(s *specs.Spec) { s.Linux.RootfsPropagation = "rslave" }, ""},
	{"propagation bad", func(s *specs.Spec) { s.Linux.RootfsPropagation = "rshard" }, `linux.rootfsPropagation "rshard"`},

	// timeOffsets
	{"time offsets ok", func(s *specs.Spec) {
		withTimens(s, "")
		s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 7881}, "boottime": {Secs: -5, Nanosecs: 999999999}}
	}, ""},
	{"time offsets no timens", func(s *specs.Spec) {
		s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}}
	}, "linux.timeOffsets: set without a time namespace"},
	{"time offsets joined timens", func(s *specs.Spec) {
		withTimens(s, "/proc/1/ns/time")
		s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}}
	}, "linux.timeOffsets: the time namespace is joined by path (/proc/1/ns/time)"},
	{"time offsets bad clock", func(s *specs.Spec) {
		withTimens(s, "")
		s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"realtime": {Secs: 1}}
	}, `linux.timeOffsets "realtime": unknown clock`},
	{"time offsets nanosecs", func(s *specs.Spec) {
		withTimens(s, "")
		s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"boottime": {Nanosecs: 1e9}}
	}, "linux.timeOffsets.boottime.nanosecs 1000000000"},

	// netDevices
	{"netdev ok", func(s *specs.Spec) {
		s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"eth1": {}, "veth9": {Name: "ctr0"}, "a": {Name: "eth%d"}, "b": {Name: "eth%d"}}
	}, ""},
	{"netdev no netns", func(s *specs.Spec) {
		dropNamespace(s, specs.NetworkNamespace)
		s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"eth1": {}}
	}, "linux.netDevices: moving devices needs a network namespace"},
	{"netdev bad host name", func(s *specs.Spec) {
		s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"eth/1": {}}
	}, `linux.netDevices "eth/1": not a valid network device name`},
	{"netdev name too long", func(s *specs.Spec) {
		s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"eth1": {Name: "abcdefghijklmnop"}}
	}, `linux.netDevices.eth1.name "abcdefghijklmnop"`},
	{"netdev same name twice", func(s *specs.Spec) {
		s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"eth1": {Name: "ctr0"}, "eth2": {Name: "ctr0"}}
	}, `eth1 and eth2 would both be "ctr0"`},

	// memoryPolicy
	{"mempolicy bind ok", func(s *specs.Spec) {
		s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0", Flags: []specs.MemoryPolicyFlagType{specs.MpolFStaticNodes}}
	}, ""},
	{"mempolicy local ok", func(s *specs.Spec) { s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolLocal} }, ""},
	{"mempolicy preferred no nodes ok", func(s *specs.Spec) { s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolPreferred} }, ""},
	{"mempolicy bad mode", func(s *specs.Spec) { s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: "MPOL_FOO"} }, `linux.memoryPolicy.mode "MPOL_FOO": unknown mode`},
	{"mempolicy bad flag", func(s *specs.Spec) {
		s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0", Flags: []specs.MemoryPolicyFlagType{"MPOL_F_X"}}
	}, `linux.memoryPolicy.flags[0] "MPOL_F_X": unknown flag`},
	{"mempolicy bind no nodes", func(s *specs.Spec) { s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolBind} }, "linux.memoryPolicy.nodes: mode MPOL_BIND needs at least one node"},
	{"mempolicy default with nodes", func(s *specs.Spec) {
		s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolDefault, Nodes: "0-1"}
	}, `linux.memoryPolicy.nodes "0-1": mode MPOL_DEFAULT takes no nodes`},
	{"mempolicy bad nodes", func(s *specs.Spec) {
		s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolInterleave, Nodes: "0-x"}
	}, `linux.memoryPolicy.nodes "0-x"`},
	{"mempolicy static and relative", func(s *specs.Spec) {
		s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0",
			Flags: []specs.MemoryPolicyFlagType{specs.MpolFStaticNodes, specs.MpolFRelativeNodes}}
	}, "exclude each other"},

	// execCPUAffinity
	{"cpu affinity ok", func(s *specs.Spec) { s.Process.ExecCPUAffinity = &specs.CPUAffinity{Initial: "0", Final: "0-1,3"} }, ""},
	{"cpu affinity bad initial", func(s *specs.Spec) { s.Process.ExecCPUAffinity = &specs.CPUAffinity{Initial: "1-0"} }, `process.execCPUAffinity.initial "1-0": range 1-0 ends before it starts`},
	{"cpu affinity bad final", func(s *specs.Spec) { s.Process.ExecCPUAffinity = &specs.CPUAffinity{Final: "0,,1"} }, "process.execCPUAffinity.final"},

	// id-mapped mounts
	{"idmap mount ok", func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, idmapMount([]string{"rbind"}))
	}, ""},
	{"idmap option with userns ok", func(s *specs.Spec) {
		withUserns(s)
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: "/srv", Options: []string{"bind", "idmap"}})
	}, ""},
	{"idmap option without userns", func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: "/srv", Options: []string{"bind", "idmap"}})
	}, "mounts[7] (/data): idmap without uidMappings/gidMappings takes the container's user namespace"},
	{"idmap not bind", func(s *specs.Spec) {
		m := idmapMount(nil)
		m.Type = "tmpfs"
		s.Mounts = append(s.Mounts, m)
	}, "mounts[7] (/data): id-mapped mounts (uidMappings, gidMappings, idmap) must be bind mounts"},
	{"idmap uid only", func(s *specs.Spec) {
		m := idmapMount([]string{"bind"})
		m.GIDMappings = nil
		s.Mounts = append(s.Mounts, m)
	}, "uidMappings and gidMappings must be given together"},
	{"idmap size 0", func(s *specs.Spec) {
		m := idmapMount([]string{"bind"})
		m.GIDMappings[0].Size = 0
		s.Mounts = append(s.Mounts, m)
	}, "mounts[7].gidMappings[0].size"},
}

func TestValidate(t *testing.T) {
	for _, tt := range validateCases {
		t.Run(tt.name, func(t *testing.T) {
			s := Default()
			tt.mutate(s)
			err := Validate(s)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want error containing %q, got nil", tt.wantErr)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.HasPrefix(err.Error(), "invalid config: ") {
				t.Errorf("error %q lacks the invalid config prefix", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidateNil(t *testing.T) {
	if err := Validate(nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Validate(nil) = %v", err)
	}
}

func TestParseVersion(t *testing.T) {
	for _, v := range []string{"1.0.0", "1.0.2-dev", "1.3.0", "1.0.0-rc5", "10.20.30+meta"} {
		if _, _, _, err := ParseVersion(v); err != nil {
			t.Errorf("ParseVersion(%q): %v", v, err)
		}
	}
	for _, v := range []string{"", "1", "1.0", "1.0.0.0", "a.b.c", "1..0", "01.0.0", "-1.0.0", "v1.0.0"} {
		if _, _, _, err := ParseVersion(v); err == nil {
			t.Errorf("ParseVersion(%q): want error", v)
		}
	}
	if ma, mi, pa, _ := ParseVersion("1.2.3-x"); ma != 1 || mi != 2 || pa != 3 {
		t.Errorf("ParseVersion(1.2.3-x) = %d.%d.%d", ma, mi, pa)
	}
}

func TestParseIDList(t *testing.T) {
	ok := map[string][]int{"": nil, " ": nil, "0": {0}, "0-3,7": {0, 1, 2, 3, 7}, "3,1,1-2": {1, 2, 3}, " 1 , 2 ": {1, 2}}
	for in, want := range ok {
		got, err := ParseIDList(in, MaxCPU)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("ParseIDList(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"x", "1-", "-1", "3-1", "0,,1", "8192", "+1", "1-2-3"} {
		if _, err := ParseIDList(in, MaxCPU); err == nil || !strings.Contains(err.Error(), `"`+in+`"`) {
			t.Errorf("ParseIDList(%q) error = %v, want one naming the input", in, err)
		}
	}
}

func TestTimeOffsets(t *testing.T) {
	got := TimeOffsets(map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 7881}, "boottime": {Secs: -1, Nanosecs: 5}})
	if want := "boottime -1 5\nmonotonic 7881 0\n"; got != want {
		t.Errorf("TimeOffsets = %q, want %q", got, want)
	}
}
