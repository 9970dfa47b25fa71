package spec

import (
	"strings"
	"testing"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestParseSignal(t *testing.T) {
	ok := map[string]unix.Signal{
		"KILL": unix.SIGKILL, "SIGKILL": unix.SIGKILL, "9": unix.SIGKILL, "sigkill": unix.SIGKILL, "kill": unix.SIGKILL,
		"TERM": unix.SIGTERM, "15": unix.SIGTERM, "SIGHUP": unix.SIGHUP, "usr1": unix.SIGUSR1, " INT ": unix.SIGINT,
		"SIGCHLD": unix.SIGCHLD, "WINCH": unix.SIGWINCH, "64": unix.Signal(64), "0": unix.Signal(0),
		"RTMIN": unix.Signal(34), "SIGRTMIN+3": unix.Signal(37), "rtmax-1": unix.Signal(63), "RTMAX": unix.Signal(64),
	}
	for in, want := range ok {
		got, err := ParseSignal(in)
		if err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "65", "-9", "FOO", "SIGFOO", "RTMIN-1", "RTMAX+1", "RTMIN+31", "RTMIN+x", "SIG"} {
		_, err := ParseSignal(in)
		if err == nil {
			t.Errorf("ParseSignal(%q): want error", in)
			continue
		}
		if !strings.Contains(err.Error(), `"`+in+`"`) {
			t.Errorf("ParseSignal(%q) error %q does not name the input", in, err)
		}
	}
}

func TestRlimitType(t *testing.T) {
	ok := map[string]int{
		"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_CORE": unix.RLIMIT_CORE,
		"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME, "RLIMIT_STACK": unix.RLIMIT_STACK,
	}
	for in, want := range ok {
		if got, err := RlimitType(in); err != nil || got != want {
			t.Errorf("RlimitType(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if len(rlimits) != 16 {
		t.Errorf("know %d rlimits, want 16", len(rlimits))
	}
	for _, in := range []string{"", "NOFILE", "rlimit_nofile", "RLIMIT_FOO"} {
		if _, err := RlimitType(in); err == nil || !strings.Contains(err.Error(), `"`+in+`"`) {
			t.Errorf("RlimitType(%q) error = %v", in, err)
		}
	}
}

func TestParseCapability(t *testing.T) {
	ok := map[string]capability.Cap{
		"CAP_SYS_ADMIN": capability.CAP_SYS_ADMIN, "cap_sys_admin": capability.CAP_SYS_ADMIN,
		"CAP_CHOWN": capability.CAP_CHOWN, "CAP_CHECKPOINT_RESTORE": capability.CAP_CHECKPOINT_RESTORE,
		"CAP_NET_BIND_SERVICE": capability.CAP_NET_BIND_SERVICE, "Cap_Kill": capability.CAP_KILL,
	}
	for in, want := range ok {
		if got, err := ParseCapability(in); err != nil || got != want {
			t.Errorf("ParseCapability(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "SYS_ADMIN", "CAP_", "CAP_FOO"} {
		if _, err := ParseCapability(in); err == nil || !strings.Contains(err.Error(), `"`+in+`"`) {
			t.Errorf("ParseCapability(%q) error = %v", in, err)
		}
	}
	for _, c := range capability.ListKnown() {
		if got, err := ParseCapability(CapabilityName(c)); err != nil || got != c {
			t.Errorf("round trip %v: %v, %v", c, got, err)
		}
	}
}

func TestParseMountOptions(t *testing.T) {
	tests := []struct {
		name string
		opts []string
		want MountOpts
	}{
		{"none", nil, MountOpts{}},
		{"dev tmpfs", []string{"nosuid", "strictatime", "mode=755", "size=65536k"},
			MountOpts{Flags: unix.MS_NOSUID | unix.MS_STRICTATIME, Data: "mode=755,size=65536k"}},
		{"devpts", []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"},
			MountOpts{Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: "newinstance,ptmxmode=0666,mode=0620,gid=5"}},
		{"set flags", []string{"ro", "nosuid", "nodev", "noexec", "sync", "dirsync", "remount", "mand", "noatime", "nodiratime", "relatime", "strictatime", "defaults"},
			MountOpts{Flags: unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_SYNCHRONOUS | unix.MS_DIRSYNC |
				unix.MS_REMOUNT | unix.MS_MANDLOCK | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME | unix.MS_STRICTATIME}},
		{"clear flags", []string{"rw", "suid", "dev", "exec", "async", "nomand", "atime", "diratime", "norelatime", "nostrictatime"},
			MountOpts{ClearFlags: unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_SYNCHRONOUS |
				unix.MS_MANDLOCK | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME | unix.MS_STRICTATIME}},
		{"last wins ro", []string{"rw", "ro"}, MountOpts{Flags: unix.MS_RDONLY}},
		{"last wins rw", []string{"ro", "rw"}, MountOpts{ClearFlags: unix.MS_RDONLY}},
		{"bind", []string{"bind", "ro"}, MountOpts{Flags: unix.MS_BIND | unix.MS_RDONLY, Bind: true}},
		{"rbind", []string{"rbind"}, MountOpts{Flags: unix.MS_BIND | unix.MS_REC, Bind: true, Recursive: true}},
		{"propagation", []string{"private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable"},
			MountOpts{PropFlags: []uintptr{unix.MS_PRIVATE, unix.MS_PRIVATE | unix.MS_REC, unix.MS_SHARED, unix.MS_SHARED | unix.MS_REC,
				unix.MS_SLAVE, unix.MS_SLAVE | unix.MS_REC, unix.MS_UNBINDABLE, unix.MS_UNBINDABLE | unix.MS_REC}}},
		{"ignored", []string{"tmpcopyup", "", "rbind"}, MountOpts{Flags: unix.MS_BIND | unix.MS_REC, Bind: true, Recursive: true}},
		{"idmap", []string{"bind", "idmap"}, MountOpts{Flags: unix.MS_BIND, Bind: true, IDMap: true}},
		{"ridmap", []string{"rbind", "ridmap"}, MountOpts{Flags: unix.MS_BIND | unix.MS_REC, Bind: true, Recursive: true, IDMap: true, RecursiveIDMap: true}},
		{"recursive attrs", []string{"rbind", "rro", "rnosuid", "rdev"},
			MountOpts{Flags: unix.MS_BIND | unix.MS_REC, Bind: true, Recursive: true,
				RecAttrSet: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID, RecAttrClr: unix.MOUNT_ATTR_NODEV}},
		{"recursive atime", []string{"rnoatime"},
			MountOpts{RecAttrSet: unix.MOUNT_ATTR_NOATIME, RecAttrClr: unix.MOUNT_ATTR__ATIME}},
		{"data only", []string{"lowerdir=/a", "upperdir=/b"}, MountOpts{Data: "lowerdir=/a,upperdir=/b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseMountOptions(tt.opts)
			if got.Flags != tt.want.Flags || got.ClearFlags != tt.want.ClearFlags || got.Bind != tt.want.Bind ||
				got.Recursive != tt.want.Recursive || got.Data != tt.want.Data ||
				got.RecAttrSet != tt.want.RecAttrSet || got.RecAttrClr != tt.want.RecAttrClr ||
				got.IDMap != tt.want.IDMap || got.RecursiveIDMap != tt.want.RecursiveIDMap ||
				len(got.PropFlags) != len(tt.want.PropFlags) {
				t.Fatalf("ParseMountOptions(%q)\n got %+v\nwant %+v", tt.opts, got, tt.want)
			}
			for i := range got.PropFlags {
				if got.PropFlags[i] != tt.want.PropFlags[i] {
					t.Fatalf("PropFlags[%d] = %#x, want %#x", i, got.PropFlags[i], tt.want.PropFlags[i])
				}
			}
		})
	}
}

func TestIsBind(t *testing.T) {
	for _, tt := range []struct {
		m    specs.Mount
		want bool
	}{
		{specs.Mount{Type: "bind"}, true},
		{specs.Mount{Type: "none", Options: []string{"rbind", "ro"}}, true},
		{specs.Mount{Options: []string{"bind"}}, true},
		{specs.Mount{Type: "tmpfs", Options: []string{"nosuid"}}, false},
	} {
		if got := IsBind(tt.m); got != tt.want {
			t.Errorf("IsBind(%+v) = %v", tt.m, got)
		}
	}
}
