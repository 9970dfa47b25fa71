package checkpoint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/checkpoint-restore/go-criu/v7/rpc"
	"github.com/moby/sys/mountinfo"
	"github.com/opencontainers/runtime-spec/specs-go"
)

func TestExternalsOfDeclaresEverySourceOutsideTheContainer(t *testing.T) {
	sp := &specs.Spec{Mounts: []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/etc/hosts", Type: "bind", Source: "/var/lib/x/hosts", Options: []string{"rbind", "ro"}},
		{Destination: "/data/", Source: "/srv/data", Options: []string{"bind"}},
	}}
	mounts := []*mountinfo.Info{
		{ID: 1, Mountpoint: "/", FSType: "ext4", Root: "/var/lib/b/rootfs"},
		{ID: 2, Mountpoint: "/proc", FSType: "proc", Root: "/"},
		{ID: 3, Mountpoint: "/sys/fs/cgroup/memory", FSType: "cgroup", Root: "/ct1", VFSOptions: "rw,memory"},
		{ID: 4, Mountpoint: "/sys/fs/cgroup/systemd", FSType: "cgroup", Root: "/ct1", VFSOptions: "rw,xattr,name=systemd"},
		{ID: 5, Mountpoint: "/sys/fs/cgroup/unified", FSType: "cgroup2", Root: "/ct1"},
		{ID: 6, Mountpoint: "/proc/kcore", FSType: "devtmpfs", Root: "/null"},
		{ID: 7, Mountpoint: "/dev", FSType: "tmpfs", Root: "/"},
		{ID: 8, Mountpoint: "/proc/sys", FSType: "proc", Root: "/sys"}, // readonlyPaths: internal bind
	}
	got := externalsOf(sp, "/var/lib/b/rootfs", mounts)
	want := map[string]External{
		"/data":                  {Dest: "/data", Kind: "bind"},
		"/etc/hosts":             {Dest: "/etc/hosts", Kind: "bind"},
		"/proc/kcore":            {Dest: "/proc/kcore", Kind: "host", HostPath: "/dev/null"},
		"/sys/fs/cgroup/memory":  {Dest: "/sys/fs/cgroup/memory", Kind: "cgroup", Controller: "memory"},
		"/sys/fs/cgroup/systemd": {Dest: "/sys/fs/cgroup/systemd", Kind: "cgroup", Controller: "name=systemd"},
		"/sys/fs/cgroup/unified": {Dest: "/sys/fs/cgroup/unified", Kind: "cgroup", Controller: ""},
	}
	if len(got) != len(want) {
		t.Fatalf("externals %+v, want %d entries", got, len(want))
	}
	for _, e := range got {
		if want[e.Dest] != e {
			t.Errorf("external %+v, want %+v", e, want[e.Dest])
		}
	}
}

type fakeCgroup struct{ paths map[string]string }

func (f fakeCgroup) Path(c string) string { return f.paths[c] }

func TestRestoreExternalsUseTheNewBundleAndCgroups(t *testing.T) {
	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	os.WriteFile(hosts, nil, 0o644)
	mem := filepath.Join(dir, "memory-newct")
	os.Mkdir(mem, 0o755)
	sp := &specs.Spec{Mounts: []specs.Mount{{Destination: "/etc/hosts", Source: hosts, Options: []string{"bind"}}}}
	exts := []External{
		{Dest: "/etc/hosts", Kind: "bind"},
		{Dest: "/sys/fs/cgroup/memory", Kind: "cgroup", Controller: "memory"},
		{Dest: "/proc/kcore", Kind: "host", HostPath: "/dev/null"},
	}
	got, err := restoreExternals(exts, sp, fakeCgroup{map[string]string{"memory": mem}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"mnt[/etc/hosts]:" + hosts, "mnt[/sys/fs/cgroup/memory]:" + mem, "mnt[/proc/kcore]:/dev/null"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("externals %v, want %v", got, want)
	}
	// A bind the new bundle lacks is a clear error, not a CRIU failure.
	_, err = restoreExternals([]External{{Dest: "/data", Kind: "bind"}}, sp, fakeCgroup{})
	if err == nil || !strings.Contains(err.Error(), "/data") || !strings.Contains(err.Error(), "config.json") {
		t.Fatalf("missing bind: %v", err)
	}
}

func TestBaseOpts(t *testing.T) {
	img, _ := os.Open(t.TempDir())
	defer img.Close()
	o := &Common{ManageCgroups: "strict", EmptyNs: []string{"network"}, TCPEstablished: true}
	opts, err := baseOpts(o, img, img, "dump.log", "/r")
	if err != nil {
		t.Fatal(err)
	}
	if opts.GetManageCgroupsMode() != rpc.CriuCgMode_STRICT || !opts.GetManageCgroups() {
		t.Errorf("cgroup mode %v", opts.GetManageCgroupsMode())
	}
	if opts.GetEmptyNs() == 0 {
		t.Errorf("empty-ns %#x", opts.GetEmptyNs())
	}
	if !opts.GetTcpEstablished() || opts.GetRoot() != "/r" || opts.GetLogFile() != "dump.log" || opts.GetImagesDirFd() != int32(img.Fd()) {
		t.Errorf("opts %v", opts)
	}
	for _, bad := range []*Common{{ManageCgroups: "maybe"}, {EmptyNs: []string{"pid"}}} {
		if _, err := baseOpts(bad, img, img, "x", "/"); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestConfigFileChoice(t *testing.T) {
	old := defaultCriuConfig
	defer func() { defaultCriuConfig = old }()
	defaultCriuConfig = filepath.Join(t.TempDir(), "stasis.conf")
	if got := configFile(nil); got != "" {
		t.Fatalf("no file, no annotation: %q", got)
	}
	os.WriteFile(defaultCriuConfig, []byte("tcp-established\n"), 0o644)
	if got := configFile(nil); got != defaultCriuConfig {
		t.Fatalf("default file: %q", got)
	}
	if got := configFile(map[string]string{"org.criu.config": "/x.conf"}); got != "/x.conf" {
		t.Fatalf("annotation: %q", got)
	}
	// An empty annotation turns the default file off, as in runc.
	if got := configFile(map[string]string{"org.criu.config": ""}); got != "" {
		t.Fatalf("empty annotation: %q", got)
	}
}

func TestInheritedStdio(t *testing.T) {
	for d, want := range map[string]bool{
		"pipe:[123]": true, "file[1b:9a]": true, "/dev/null": false, "socket:[5]": false, "/dev/pts/0": false,
	} {
		if inheritedStdio(d) != want {
			t.Errorf("%s: %v", d, !want)
		}
	}
}

// A bind whose destination goes through a symlink in the rootfs is
// mounted where the link leads; CRIU knows it by that path, and restore
// finds the bundle's mount by the destination config.json gives.
func TestExternalsOfResolvesSymlinkedBindDestination(t *testing.T) {
	rootfs := t.TempDir()
	if err := os.MkdirAll(filepath.Join(rootfs, "real/conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/real/conf", filepath.Join(rootfs, "conf")); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	sp := &specs.Spec{Mounts: []specs.Mount{{Destination: "/conf", Source: src, Options: []string{"bind"}}}}
	got := externalsOf(sp, rootfs, nil)
	want := External{Dest: "/real/conf", SpecDest: "/conf", Kind: "bind"}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("externals %+v, want [%+v]", got, want)
	}
	exts, err := restoreExternals(got, sp, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(exts) != 1 || exts[0] != "mnt[/real/conf]:"+src {
		t.Errorf("restore externals %v, want [mnt[/real/conf]:%s]", exts, src)
	}
}

func TestOptionsCheck(t *testing.T) {
	noLSM := t.TempDir()
	apparmor := t.TempDir()
	os.MkdirAll(filepath.Join(apparmor, "kernel/security/apparmor"), 0o755)
	selinux := t.TempDir()
	os.MkdirAll(filepath.Join(selinux, "fs/selinux"), 0o755)
	os.WriteFile(filepath.Join(selinux, "fs/selinux/enforce"), []byte("1"), 0o644)
	cp := func(o CheckpointOptions) func(string) error { return func(string) error { return o.check() } }
	rs := func(o RestoreOptions) func(string) error { return o.check }
	for i, c := range []struct {
		check func(sys string) error
		sys   string
		want  string // "" for accepted
	}{
		{cp(CheckpointOptions{}), noLSM, ""},
		{rs(RestoreOptions{Common: Common{ManageCgroups: "full"}}), noLSM, ""},
		{cp(CheckpointOptions{Common: Common{ManageCgroups: "maybe"}}), noLSM, `--manage-cgroups-mode "maybe"`},
		{rs(RestoreOptions{Common: Common{ManageCgroups: "maybe"}}), noLSM, `--manage-cgroups-mode "maybe"`},
		{cp(CheckpointOptions{Common: Common{EmptyNs: []string{"pid"}}}), noLSM, `--empty-ns "pid"`},
		{cp(CheckpointOptions{PageServer: "nope"}), noLSM, `--page-server "nope"`},
		{cp(CheckpointOptions{PageServer: "127.0.0.1:9000"}), noLSM, ""},
		// strict dumps as full does; it cannot restore into stasis's cgroups
		{cp(CheckpointOptions{Common: Common{ManageCgroups: "strict"}}), noLSM, ""},
		{rs(RestoreOptions{Common: Common{ManageCgroups: "strict"}}), noLSM, "--manage-cgroups-mode strict"},
		{rs(RestoreOptions{LsmProfile: "apparmor:p"}), noLSM, `--lsm-profile "apparmor:p": this host does not run apparmor`},
		{rs(RestoreOptions{LsmProfile: "apparmor:p"}), apparmor, ""},
		{rs(RestoreOptions{LsmProfile: "selinux:c"}), apparmor, `this host does not run selinux (its security module: apparmor)`},
		{rs(RestoreOptions{LsmProfile: "selinux:c"}), selinux, ""},
		{rs(RestoreOptions{LsmProfile: "none:"}), noLSM, ""},
		{rs(RestoreOptions{LsmProfile: "smack:x"}), noLSM, `unknown security module "smack"`},
		{rs(RestoreOptions{LsmProfile: "apparmor"}), apparmor, "want TYPE:NAME"},
		{rs(RestoreOptions{LsmMountContext: "system_u:object_r:x:s0"}), noLSM, `--lsm-mount-context "system_u:object_r:x:s0": a SELinux mount context, but this host does not run SELinux`},
		{rs(RestoreOptions{LsmMountContext: "system_u:object_r:x:s0"}), selinux, ""},
	} {
		err := c.check(c.sys)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("case %d: refused: %v", i, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("case %d: error %v, want it to say %q", i, err, c.want)
		}
	}
}

func TestCgroupModeForAnIgnoreCheckpoint(t *testing.T) {
	ign := &Metadata{ManageCgroups: "ignore"}
	for _, mode := range []string{"", "ignore"} {
		o := &Common{ManageCgroups: mode}
		if err := cgroupModeFor(ign, o); err != nil || o.ManageCgroups != "ignore" {
			t.Errorf("ignore checkpoint, restore mode %q: %v, mode %q", mode, err, o.ManageCgroups)
		}
	}
	if err := cgroupModeFor(ign, &Common{ManageCgroups: "full"}); err == nil || !strings.Contains(err.Error(), "made with --manage-cgroups-mode ignore") {
		t.Errorf("ignore checkpoint restored with full: %v", err)
	}
	o := &Common{}
	if err := cgroupModeFor(&Metadata{}, o); err != nil || o.ManageCgroups != "" {
		t.Errorf("soft checkpoint: %v, mode %q", err, o.ManageCgroups)
	}
}
