package checkpoint

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/moby/sys/mountinfo"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/aufs"
)

// fakeProc builds /proc/<pid>/{fd,fdinfo,map_files} for one process.
type fakeProc struct {
	t    *testing.T
	root string
	pid  string
}

func (f fakeProc) fd(n, target string, mntID string) {
	dir := filepath.Join(f.root, f.pid)
	os.MkdirAll(filepath.Join(dir, "fd"), 0o755)
	os.MkdirAll(filepath.Join(dir, "fdinfo"), 0o755)
	if err := os.Symlink(target, filepath.Join(dir, "fd", n)); err != nil {
		f.t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "fdinfo", n), []byte("pos:\t0\nflags:\t02\nmnt_id:\t"+mntID+"\n"), 0o644)
}

// parent writes /proc/<pid>/status with a PPid line.
func (f fakeProc) parent(ppid string) {
	dir := filepath.Join(f.root, f.pid)
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "status"), []byte("Name:\tx\nPPid:\t"+ppid+"\n"), 0o644)
}

func (f fakeProc) mapFile(addr, target string) {
	dir := filepath.Join(f.root, f.pid, "map_files")
	os.MkdirAll(dir, 0o755)
	if err := os.Symlink(target, filepath.Join(dir, addr)); err != nil {
		f.t.Fatal(err)
	}
}

// An AUFS container as the kernel shows it: map_files point into the
// branches (/var/lib/docker/aufs/diff/<id>/bin/busybox), which the plan
// must see as /bin/busybox in the rootfs, and blockers for what CRIU or
// the restore could not handle.
func TestPlanTranslatesAUFSBranchesAndFindsBlockers(t *testing.T) {
	tmp := t.TempDir()
	top := filepath.Join(tmp, "aufs/diff/c0ffee")
	base := filepath.Join(tmp, "aufs/diff/c0ffee-init base")
	rootfs := filepath.Join(tmp, "aufs/mnt/c0ffee")
	for _, d := range []string{top, base + "/bin", base + "/lib", rootfs + "/bin"} {
		os.MkdirAll(d, 0o755)
	}
	os.WriteFile(base+"/bin/busybox", []byte("elf"), 0o755)
	os.WriteFile(rootfs+"/bin/busybox", []byte("elf"), 0o755) // the merged view
	union := &aufs.Union{Kind: aufs.AUFS, SI: "4476a910a24617e6", Mountpoint: rootfs,
		Layers: []aufs.Layer{{Path: top, Perm: "rw"}, {Path: base, Perm: "ro+wh"}}}

	proc := filepath.Join(tmp, "proc")
	p := fakeProc{t, proc, "100"}
	p.fd("0", "/dev/null", "7")     // host /dev/null: a stdio external file
	p.fd("1", "pipe:[4242]", "0")   // a pipe: CRIU's
	p.fd("2", "pipe:[4243]", "0")   //
	p.fd("3", "/data/secret", "55") // on a host mount the container lacks
	p.fd("4", "/dev/pts/3", "56")   // the host's terminal
	p.fd("5", "/tmp/scratch", "21") // a tmpfs of the container: fine
	p.mapFile("400000-489000", base+"/bin/busybox")
	p.mapFile("7f00-7f10", base+"/lib/libgone.so")        // not in the merged rootfs
	p.mapFile("7f20-7f30", top+"/tmp/cache.db (deleted)") // deleted from the rootfs
	p.mapFile("7f40-7f50", "/memfd:jit (deleted)")        // memfd: CRIU's own business
	mounts := []*mountinfo.Info{
		{ID: 20, Mountpoint: "/", FSType: "aufs", Root: "/"},
		{ID: 21, Mountpoint: "/tmp", FSType: "tmpfs", Root: "/"},
	}
	in := planInput{id: "ct1", rootfs: rootfs, spec: &specs.Spec{}, initPid: 100, pids: []int{100},
		mounts: mounts, union: union, opts: &CheckpointOptions{}, procRoot: proc}
	plan, err := makePlan(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(plan.Stdio[0], "file[7:") || plan.Stdio[1] != "pipe:[4242]" {
		t.Errorf("stdio %v", plan.Stdio)
	}
	got := map[string]OpenFile{}
	for _, f := range plan.Files {
		got[f.Use] = f
	}
	if f := got["map 400000-489000"]; f.Container != "/bin/busybox" || f.Mount != "/" || f.Deleted {
		t.Errorf("busybox mapping %+v, want /bin/busybox on /", f)
	}
	if f := got["map 7f20-7f30"]; f.Container != "/tmp/cache.db" || !f.Deleted {
		t.Errorf("deleted mapping %+v", f)
	}
	if _, ok := got["map 7f40-7f50"]; ok {
		t.Error("memfd mapping listed as a file")
	}
	want := []string{"libgone.so, which is not in the rootfs", "/data/secret", "--shell-job"}
	for _, w := range want {
		if !anyContains(plan.Blockers, w) {
			t.Errorf("no blocker about %q in %v", w, plan.Blockers)
		}
	}
	if anyContains(plan.Blockers, "/tmp/scratch") {
		t.Errorf("a file on the container's own tmpfs is not a blocker: %v", plan.Blockers)
	}
	// /tmp/cache.db is deleted from a tmpfs mount, not the rootfs: CRIU
	// keeps it as a ghost file, no --link-remap needed.
	if anyContains(plan.Blockers, "cache.db") {
		t.Errorf("blockers %v", plan.Blockers)
	}

	// The user's flags clear what they allow.
	in.opts = &CheckpointOptions{Common: Common{ShellJob: true}}
	plan, _ = makePlan(in)
	if anyContains(plan.Blockers, "--shell-job") {
		t.Errorf("--shell-job given, still blocked: %v", plan.Blockers)
	}
	if s := plan.String(); !strings.Contains(s, "(aufs)") || !strings.Contains(s, base+"/bin/busybox -> /bin/busybox") {
		t.Errorf("text plan:\n%s", s)
	}
}

// Deleted files and file locks on the container's own file systems are
// handled without flags (auto.go); on a mount the host shares they are
// refused, unless the user's flag says to go ahead.
func TestPlanDecidesLocksAndDeletedFiles(t *testing.T) {
	type file struct {
		nlink uint64
		size  int64
	}
	for _, tc := range []struct {
		name    string
		link    string // fd 3's target
		mnt     string // its mount id: 1 the rootfs, 2 a tmpfs, 3 a host bind, 4 a ro tmpfs
		locks   int
		file    file
		opts    CheckpointOptions
		auto    Auto   // FileLocks, LinkRemap, GhostLimit expected
		why     string // in Auto.Why
		blocker string // "" for none
	}{
		{name: "ghost on the rootfs", link: "/data/ghost (deleted)", mnt: "1", file: file{0, 4096},
			auto: Auto{FileLocks: true}, why: "deleted file /data/ghost (fd 3 of pid 7, 4096 bytes, no name left) → its contents go into the images"},
		{name: "big ghost raises the limit", link: "/tmp/big (deleted)", mnt: "2", file: file{0, 3 << 20},
			auto: Auto{FileLocks: true, GhostLimit: 3 << 20}, why: "no name left"},
		{name: "linked elsewhere: link remap", link: "/data/x (deleted)", mnt: "1", file: file{2, 10},
			auto: Auto{FileLocks: true, LinkRemap: true}, why: "2 other name(s)) → linked back under a new name (link remap)"},
		{name: "linked elsewhere on a read-only mount", link: "/ro/x (deleted)", mnt: "4", file: file{1, 10},
			auto: Auto{FileLocks: true}, blocker: "on the read-only mount /ro"},
		{name: "deleted on a host bind", link: "/vol/x (deleted)", mnt: "3", file: file{0, 10},
			auto: Auto{FileLocks: true}, blocker: "pid 7 holds /vol/x (fd 3), deleted from a mount the host shares (/vol): it cannot be recreated there unasked; close it, keep the file in the container's own rootfs or tmpfs, or pass --link-remap if the host may see it linked back there for a while"},
		{name: "deleted on a host bind, --link-remap", link: "/vol/x (deleted)", mnt: "3", file: file{0, 10},
			opts: CheckpointOptions{LinkRemap: true}, auto: Auto{FileLocks: true}},
		{name: "lock on the rootfs", link: "/data/t.db-shm", mnt: "1", locks: 2, file: file{1, 10},
			auto: Auto{FileLocks: true}, why: "file locks: 2 held on /data/t.db-shm by pid 7 → dumped"},
		{name: "lock on a host bind", link: "/vol/app.pid", mnt: "3", locks: 1, file: file{1, 10},
			blocker: "pid 7 holds 1 lock(s) on /vol/app.pid, a file the host shares through a bind mount"},
		{name: "lock on a host bind, --file-locks", link: "/vol/app.pid", mnt: "3", locks: 1, file: file{1, 10},
			opts: CheckpointOptions{Common: Common{FileLocks: true}}, auto: Auto{FileLocks: true}},
		// none held now: asked of CRIU anyway, as one may be by the freeze
		{name: "no lock", link: "/data/t.db", mnt: "1", file: file{1, 10},
			auto: Auto{FileLocks: true}, why: "file locks: none held now; any a process takes on the container's own files before the freeze is dumped"},
		{name: "no lock, --file-locks", link: "/data/t.db", mnt: "1", file: file{1, 10},
			opts: CheckpointOptions{Common: Common{FileLocks: true}}},
		{name: "lock on a file from outside", link: "/srv/elsewhere", mnt: "99", locks: 1, file: file{1, 10},
			blocker: "pid 7 holds 1 lock(s) on /srv/elsewhere, a file from outside the container"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proc := filepath.Join(t.TempDir(), "proc")
			p := fakeProc{t, proc, "7"}
			p.fd("0", "pipe:[1]", "0")
			p.fd("1", "pipe:[2]", "0")
			p.fd("2", "pipe:[3]", "0")
			p.fd("3", tc.link, tc.mnt)
			info := "pos:\t0\nflags:\t02\nmnt_id:\t" + tc.mnt + "\n"
			for i := 0; i < tc.locks; i++ {
				info += "lock:\t1: FLOCK  ADVISORY  WRITE 7 00:2d:1234 0 EOF\n"
			}
			os.WriteFile(filepath.Join(proc, "7/fdinfo/3"), []byte(info), 0o644)
			mounts := []*mountinfo.Info{
				{ID: 1, Mountpoint: "/"}, {ID: 2, Mountpoint: "/tmp", FSType: "tmpfs", Options: "rw"},
				{ID: 3, Mountpoint: "/vol", Options: "rw"}, {ID: 4, Mountpoint: "/ro", FSType: "tmpfs", Options: "ro,nosuid"},
			}
			sp := &specs.Spec{Mounts: []specs.Mount{{Destination: "/vol", Source: "/srv/vol", Options: []string{"bind"}}}}
			opts := tc.opts
			in := planInput{id: "ct", rootfs: t.TempDir(), spec: sp, initPid: 7, pids: []int{7},
				mounts: mounts, opts: &opts, procRoot: proc,
				stat: func(path string, st *unix.Stat_t) error {
					*st = unix.Stat_t{Nlink: tc.file.nlink, Size: tc.file.size}
					return nil
				}}
			plan, err := makePlan(in)
			if err != nil {
				t.Fatal(err)
			}
			if tc.blocker == "" && len(plan.Blockers) > 0 {
				t.Fatalf("blocked: %v", plan.Blockers)
			}
			if tc.blocker != "" && !anyContains(plan.Blockers, tc.blocker) {
				t.Fatalf("blockers %v, want one saying %q", plan.Blockers, tc.blocker)
			}
			got := plan.Auto
			if got.FileLocks != tc.auto.FileLocks || got.LinkRemap != tc.auto.LinkRemap || got.GhostLimit != tc.auto.GhostLimit {
				t.Errorf("auto %+v, want %+v", got, tc.auto)
			}
			if tc.why != "" && !anyContains(plan.Auto.Why, tc.why) {
				t.Errorf("why %q, want one saying %q", plan.Auto.Why, tc.why)
			}
			if tc.why != "" && !strings.Contains(plan.String(), "turned on: ") {
				t.Errorf("text plan does not say what it turned on:\n%s", plan)
			}
		})
	}
}

func anyContains(list []string, s string) bool {
	for _, l := range list {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

func TestExternalUnixSockets(t *testing.T) {
	proc := t.TempDir()
	p := fakeProc{t, proc, "5"}
	p.fd("3", "socket:[10]", "0") // connected to 11, held by pid 6: internal
	p.fd("4", "socket:[12]", "0") // datagram to 99, held by nobody here
	p.fd("5", "socket:[13]", "0") // from the host's netns (passed in)
	p.fd("6", "socket:[14]", "0") // a TCP socket: not ours to judge
	p.fd("7", "socket:[15]", "0") // stream to 98, outside
	q := fakeProc{t, proc, "6"}
	q.fd("3", "socket:[11]", "0")
	// pid 5's root holds /run/log, the socket file of 99
	if err := os.MkdirAll(filepath.Join(proc, "5/root/run"), 0o755); err != nil {
		t.Fatal(err)
	}
	sockFile := filepath.Join(proc, "5/root/run/log")
	if err := unix.Mknod(sockFile, unix.S_IFSOCK|0o666, 0); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(sockFile, &st); err != nil {
		t.Fatal(err)
	}
	stream, dgram := uint8(unix.SOCK_STREAM), uint8(unix.SOCK_DGRAM)
	peers := map[uint32]unixSock{10: {peer: 11, typ: stream}, 11: {peer: 10, typ: stream},
		12: {peer: 99, typ: dgram}, 99: {typ: dgram, name: "/run/log", vfsIno: uint32(st.Ino)},
		15: {peer: 98, typ: stream}, 98: {peer: 15, typ: stream}}
	host := map[uint32]unixSock{13: {peer: 77, typ: stream}}
	got := externalUnixSockets(peers, host, proc, []int{5, 6})
	if len(got) != 1 || len(got[5]) != 3 || got[5][0].ino != 12 || got[5][1].ino != 13 || got[5][2].ino != 15 {
		t.Fatalf("external sockets %v, want pid 5: [12 13 15]", got)
	}
	dg, foreign, st15 := got[5][0], got[5][1], got[5][2]
	if a := dg.problem(false); a != "retry with --ext-unix-sk" {
		t.Errorf("datagram advice %q", a)
	}
	if a := dg.problem(true); a != "" {
		t.Errorf("a datagram socket whose peer CRIU can reach is blocked with --ext-unix-sk: %q", a)
	}
	for _, e := range []externalSock{foreign, st15} {
		for _, ext := range []bool{false, true} {
			if a := e.problem(ext); !strings.Contains(a, "even with --ext-unix-sk") || !strings.Contains(a, "close it") {
				t.Errorf("socket %d (ext-unix-sk %v): advice %q", e.ino, ext, a)
			}
		}
	}

	// What CRIU cannot reconnect, --ext-unix-sk or not: a peer in another
	// network namespace, a peer with no address, an address that inside
	// the container is not the peer (missing, or another file).
	cases := map[string]struct {
		peer   unixSock
		inHost bool
		want   string
	}{
		"peer in another netns": {unixSock{typ: dgram, name: "/run/log", vfsIno: uint32(st.Ino)}, true, "another network namespace"},
		"nameless peer":         {unixSock{typ: dgram}, false, "no address"},
		"address missing":       {unixSock{typ: dgram, name: "/run/nothing", vfsIno: 1}, false, "/run/nothing, which inside the container is not that socket"},
		"another socket file":   {unixSock{typ: dgram, name: "/run/log", vfsIno: uint32(st.Ino) + 1}, false, "/run/log, which inside the container is not that socket"},
	}
	for name, c := range cases {
		peers := map[uint32]unixSock{12: {peer: 99, typ: dgram}}
		host := map[uint32]unixSock{}
		if c.inHost {
			host[99] = c.peer
		} else {
			peers[99] = c.peer
		}
		got := externalUnixSockets(peers, host, proc, []int{5})
		if len(got[5]) != 1 {
			t.Fatalf("%s: external sockets %v", name, got)
		}
		for _, ext := range []bool{false, true} {
			if a := got[5][0].problem(ext); !strings.Contains(a, c.want) || !strings.Contains(a, "even with --ext-unix-sk") {
				t.Errorf("%s (ext-unix-sk %v): advice %q, want it to say %q", name, ext, a, c.want)
			}
		}
	}
}

func TestParseUnixDiag(t *testing.T) {
	// unix_diag_msg for inode 42 with a UNIX_DIAG_PEER attribute of 43.
	b := make([]byte, 16+8)
	b[0] = 1 // AF_UNIX
	putU32(b[4:], 42)
	putU16(b[16:], 8)
	putU16(b[18:], unixDiagPeer)
	putU32(b[20:], 43)
	b[1] = unix.SOCK_STREAM
	peers := map[uint32]unixSock{}
	parseUnixDiag(b, peers)
	if peers[42] != (unixSock{peer: 43, typ: unix.SOCK_STREAM}) {
		t.Fatalf("peers %v", peers)
	}
	// with UNIX_DIAG_NAME "/dev/log" (with bind()'s NUL, as the kernel
	// sends it, padded to 4 bytes) and UNIX_DIAG_VFS {ino 7, dev 3}
	name := []byte("/dev/log\x00\x00\x00\x00")
	named := append([]byte(nil), b...)
	attr := make([]byte, 4+len(name))
	putU16(attr, 4+9) // "/dev/log" and its NUL; the rest is padding
	putU16(attr[2:], unixDiagName)
	copy(attr[4:], name)
	named = append(named, attr...)
	vfs := make([]byte, 12)
	putU16(vfs, 12)
	putU16(vfs[2:], unixDiagVFS)
	putU32(vfs[4:], 7)
	putU32(vfs[8:], 3)
	named = append(named, vfs...)
	parseUnixDiag(named, peers)
	if want := (unixSock{peer: 43, typ: unix.SOCK_STREAM, name: "/dev/log", vfsIno: 7}); peers[42] != want {
		t.Fatalf("named socket %+v, want %+v", peers[42], want)
	}
	parseUnixDiag(b[:10], peers) // short: ignored, no panic
	bad := append([]byte(nil), b...)
	putU16(bad[16:], 200) // attribute longer than the message
	parseUnixDiag(bad, map[uint32]unixSock{})
}

func putU32(b []byte, v uint32) { binary.NativeEndian.PutUint32(b, v) }
func putU16(b []byte, v uint16) { binary.NativeEndian.PutUint16(b, v) }

// A process of the cgroup outside the init's tree (exec --detach) is not
// what CRIU dumps: it gets a warning, and its files are not checked.
func TestPlanWarnsAboutProcessesOutsideTheInitsTree(t *testing.T) {
	tmp := t.TempDir()
	proc := filepath.Join(tmp, "proc")
	initp := fakeProc{t, proc, "10"}
	initp.parent("1")
	for _, n := range []string{"0", "1", "2"} {
		initp.fd(n, "pipe:[5]", "0")
	}
	child := fakeProc{t, proc, "11"}
	child.parent("10")
	execd := fakeProc{t, proc, "12"}
	execd.parent("1")
	execd.fd("0", "/dev/null", "99") // the host's: would be a blocker in the tree
	in := planInput{id: "ct", rootfs: tmp, spec: &specs.Spec{}, initPid: 10, pids: []int{10, 11, 12},
		mounts: []*mountinfo.Info{{ID: 1, Mountpoint: "/"}}, opts: &CheckpointOptions{}, procRoot: proc}
	plan, err := makePlan(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Blockers) != 0 {
		t.Errorf("blockers %v: the exec'd process's files are not CRIU's concern", plan.Blockers)
	}
	if len(plan.Warnings) != 1 || !strings.Contains(plan.Warnings[0], "pid 12") {
		t.Fatalf("warnings %v, want one about pid 12", plan.Warnings)
	}
	if in, known := descendsFrom(proc, 11, 10); !in || !known {
		t.Fatal("pid 11 is a child of the init")
	}
	if in, known := descendsFrom(proc, 12, 10); in || !known {
		t.Fatal("pid 12 is outside the tree")
	}
	// A process that exited while we looked is neither in the tree nor
	// warned about.
	in.pids = append(in.pids, 13)
	if plan, _ = makePlan(in); len(plan.Warnings) != 1 {
		t.Fatalf("warnings %v: a vanished pid 13 must not be one", plan.Warnings)
	}
}

// A POSIX message queue fd is on the IPC namespace's internal mqueue
// mount, which no mountinfo lists: the plan must say CRIU cannot dump it,
// not send the user to bind-mount a "host file" /name.
func TestPlanRefusesPOSIXMessageQueues(t *testing.T) {
	name := "/stasis-plan-test-" + strconv.Itoa(os.Getpid())
	nameP, _ := unix.BytePtrFromString(name[1:])
	fd, _, errno := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(nameP)),
		uintptr(unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC), 0o600, 0, 0, 0)
	if errno != 0 {
		t.Skipf("mq_open: %v", errno)
	}
	defer unix.Close(int(fd))
	unix.Syscall(unix.SYS_MQ_UNLINK, uintptr(unsafe.Pointer(nameP)), 0, 0)

	tmp := t.TempDir()
	proc := filepath.Join(tmp, "proc")
	p := fakeProc{t, proc, "7"}
	p.fd("0", "pipe:[1]", "0")
	p.fd("1", "pipe:[2]", "0")
	p.fd("2", "pipe:[3]", "0")
	// the fake fd 3 leads, as /proc's does, to the real queue
	p.fd("3", "/proc/self/fd/"+strconv.Itoa(int(fd)), "99")
	in := planInput{id: "ct", rootfs: filepath.Join(tmp, "rootfs"), spec: &specs.Spec{}, initPid: 7, pids: []int{7},
		mounts: []*mountinfo.Info{{ID: 1, Mountpoint: "/"}}, opts: &CheckpointOptions{}, procRoot: proc}
	plan, err := makePlan(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Blockers) != 1 || !strings.Contains(plan.Blockers[0], "POSIX message queue") || strings.Contains(plan.Blockers[0], "bind-mount") {
		t.Fatalf("blockers %q", plan.Blockers)
	}
}

func TestCRIUMayShareNet(t *testing.T) {
	for _, c := range []struct {
		name string
		o    CheckpointOptions
		m    Metadata
		want bool
	}{
		{"plain", CheckpointOptions{}, Metadata{}, true},
		{"page server: CRIU connects out from its netns", CheckpointOptions{PageServer: "127.0.0.1:1"}, Metadata{}, false},
		{"lazy pages: CRIU listens in its netns", CheckpointOptions{Common: Common{LazyPages: true}}, Metadata{}, false},
		{"own user namespace: a new netns would be the host's user namespace's", CheckpointOptions{}, Metadata{UserNS: true}, false},
	} {
		if got := criuMayShareNet(&c.o, &c.m); got != c.want {
			t.Errorf("%s: criuMayShareNet = %v, want %v", c.name, got, c.want)
		}
	}
}
