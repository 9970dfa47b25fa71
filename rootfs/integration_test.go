package rootfs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/spec"
)

// The integration test re-executes the test binary in fresh namespaces;
// this variable tells TestMain to run the in-namespace body instead of the
// tests. The namespaces, and every mount made in them, die with the child.
const childEnv = "STASIS_ROOTFS_TEST_CHILD"

func TestMain(m *testing.M) {
	if p := os.Getenv(childEnv); p != "" {
		os.Exit(runChild(p))
	}
	os.Exit(m.Run())
}

// childJob is what the parent hands the child through a JSON file.
type childJob struct {
	Config   Config
	UserNS   bool
	CgroupNS bool
	Marker   string // host-side name the hostile symlink must not reach
}

func TestIntegration(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts, mknod and pivot_root in new namespaces")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("needs /bin/busybox (apt-get install busybox-static)")
	}
	cases := []struct {
		name                     string
		noPivot, userns, cgroupn bool
	}{
		{name: "pivot"},
		{name: "nopivot", noPivot: true},
		{name: "cgroupns", cgroupn: true},
		{name: "userns", userns: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runIntegration(t, tc.noPivot, tc.userns, tc.cgroupn)
		})
	}
}

func runIntegration(t *testing.T, noPivot, userns, cgroupns bool) {
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "proc", "sys", "dev", "tmp", "secretdir", "rodir"} {
		must(t, os.MkdirAll(filepath.Join(rootfs, d), 0o755))
	}
	copyFile(t, "/bin/busybox", filepath.Join(rootfs, "bin/busybox"), 0o755)
	must(t, os.WriteFile(filepath.Join(rootfs, "secret"), []byte("secret"), 0o644))
	must(t, os.WriteFile(filepath.Join(rootfs, "secretdir/f"), []byte("secret"), 0o644))
	// Hostile: /etc in the container is a symlink to the host's "/".
	must(t, os.Symlink("/", filepath.Join(rootfs, "etc")))
	hostFile := filepath.Join(dir, "hosts")
	must(t, os.WriteFile(hostFile, []byte("127.0.0.1 stasis\n"), 0o644))
	marker := fmt.Sprintf("stasis-rootfs-test-%d", os.Getpid())
	must(t, os.MkdirAll(filepath.Join(dir, "share"), 0o755))

	s := spec.Default()
	s.Root.Path = rootfs
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/etc/" + marker, Type: "bind", Source: hostFile, Options: []string{"rbind", "ro"}},
		specs.Mount{Destination: "/share", Type: "none", Source: filepath.Join(dir, "share"), Options: []string{"rbind", "ro", "nosuid", "rprivate"}},
	)
	s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, "/secret", "/secretdir")
	s.Linux.ReadonlyPaths = append(s.Linux.ReadonlyPaths, "/rodir")
	ns := []specs.LinuxNamespace{{Type: "pid"}, {Type: "ipc"}, {Type: "uts"}, {Type: "mount"}}
	if cgroupns {
		ns = append(ns, specs.LinuxNamespace{Type: "cgroup"})
	}
	if userns {
		ns = append(ns, specs.LinuxNamespace{Type: "user"})
	}
	s.Linux.Namespaces = ns
	job := childJob{Config: Config{Spec: s, Rootfs: rootfs, NoPivot: noPivot}, UserNS: userns, CgroupNS: cgroupns, Marker: marker}
	data, err := json.Marshal(job)
	must(t, err)
	jobFile := filepath.Join(dir, "job.json")
	must(t, os.WriteFile(jobFile, data, 0o644))

	before := hostMounts(t)
	exe, err := os.Executable()
	must(t, err)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"="+jobFile)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
		Pdeathsig:  syscall.SIGKILL,
	}
	if cgroupns {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWCGROUP
	}
	if userns {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}}
	}
	if err := cmd.Run(); err != nil {
		t.Errorf("child: %v\n%s", err, out.String())
	} else if testing.Verbose() {
		t.Logf("child output:\n%s", out.String())
	}

	if _, err := os.Lstat("/etc/" + marker); !errors.Is(err, os.ErrNotExist) {
		os.Remove("/etc/" + marker)
		t.Errorf("host /etc/%s was created through the rootfs's etc -> / symlink (lstat: %v)", marker, err)
	}
	if _, err := os.Lstat(filepath.Join(rootfs, marker)); err != nil {
		t.Errorf("mount point %s should have been created inside the rootfs: %v", marker, err)
	}
	if after := hostMounts(t); after != before {
		t.Errorf("host mount table changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func hostMounts(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	must(t, err)
	return string(b)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	in, err := os.Open(src)
	must(t, err)
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	must(t, err)
	_, err = io.Copy(out, in)
	must(t, err)
	must(t, out.Close())
}

// runChild is the in-namespace body: build the rootfs, then look at it
// from inside. It prints one line per failed check.
func runChild(jobFile string) int {
	data, err := os.ReadFile(jobFile)
	if err != nil {
		fmt.Println("read job:", err)
		return 1
	}
	var job childJob
	if err := json.Unmarshal(data, &job); err != nil {
		fmt.Println("decode job:", err)
		return 1
	}
	if err := Prepare(&job.Config); err != nil {
		fmt.Println("Prepare:", err)
		return 1
	}
	if err := Finalize(&job.Config); err != nil {
		fmt.Println("Finalize:", err)
		return 1
	}
	c := &checker{}
	c.inside(job)
	if c.failed {
		return 1
	}
	return 0
}

type checker struct{ failed bool }

func (c *checker) errorf(format string, args ...any) {
	c.failed = true
	fmt.Printf("FAIL: "+format+"\n", args...)
}

type mountLine struct{ point, opts, fstype string }

func containerMounts() (map[string]mountLine, string) {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	m := map[string]mountLine{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		i := 6
		for i < len(f) && f[i] != "-" {
			i++
		}
		if i+1 >= len(f) {
			continue
		}
		m[f[4]] = mountLine{point: f[4], opts: f[5], fstype: f[i+1]}
	}
	return m, string(b)
}

func hasOpt(opts, o string) bool {
	for _, x := range strings.Split(opts, ",") {
		if x == o {
			return true
		}
	}
	return false
}

func (c *checker) inside(job childJob) {
	if wd, _ := os.Getwd(); wd != "/" {
		c.errorf("cwd = %q, want /", wd)
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		c.errorf("no /bin/busybox in the new root: %v", err)
	}
	mounts, raw := containerMounts()
	want := map[string]string{
		"/": "", "/proc": "proc", "/dev": "tmpfs", "/dev/pts": "devpts", "/dev/shm": "tmpfs",
		"/dev/mqueue": "mqueue", "/sys/fs/cgroup": "tmpfs",
	}
	for p, fstype := range want {
		ml, ok := mounts[p]
		if !ok {
			c.errorf("no mount at %s", p)
			continue
		}
		if fstype != "" && ml.fstype != fstype {
			c.errorf("%s is %s, want %s", p, ml.fstype, fstype)
		}
	}
	if !hasOpt(mounts["/"].opts, "ro") {
		c.errorf("/ not read-only: %q", mounts["/"].opts)
	}
	if !hasOpt(mounts["/sys"].opts, "ro") {
		c.errorf("/sys not read-only: %q", mounts["/sys"].opts)
	}
	if !hasOpt(mounts["/sys/fs/cgroup"].opts, "ro") {
		c.errorf("/sys/fs/cgroup tmpfs not read-only: %q", mounts["/sys/fs/cgroup"].opts)
	}
	if m := mounts["/share"]; !hasOpt(m.opts, "ro") || !hasOpt(m.opts, "nosuid") {
		c.errorf("/share should be ro,nosuid: %q", m.opts)
	}
	if m, ok := mounts["/rodir"]; !ok || !hasOpt(m.opts, "ro") {
		c.errorf("/rodir should be a read-only mount: %+v", m)
	}
	// cgroup hierarchies: separate cpu and cpuacct, name=systemd, unified.
	for _, h := range []string{"cpu", "cpuacct", "memory", "systemd", "unified"} {
		p := "/sys/fs/cgroup/" + h
		ml, ok := mounts[p]
		if !ok {
			c.errorf("no cgroup mount at %s", p)
			continue
		}
		wantType := "cgroup"
		if h == "unified" {
			wantType = "cgroup2"
		}
		if ml.fstype != wantType {
			c.errorf("%s is %s, want %s", p, ml.fstype, wantType)
		}
		if !hasOpt(ml.opts, "ro") {
			c.errorf("%s not read-only: %q", p, ml.opts)
		}
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err != nil {
		c.errorf("memory hierarchy not usable: %v", err)
	}

	if err := os.WriteFile("/newfile", []byte("x"), 0o644); !errors.Is(err, unix.EROFS) {
		c.errorf("write to read-only root: got %v, want EROFS", err)
	}
	if err := os.WriteFile("/proc/sys/kernel/hostname", []byte("x"), 0o644); !errors.Is(err, unix.EROFS) {
		c.errorf("write to readonly path /proc/sys: got %v, want EROFS", err)
	}
	if err := os.WriteFile("/dev/shm/x", []byte("x"), 0o644); err != nil {
		c.errorf("/dev/shm should be writable: %v", err)
	}

	// Devices.
	var st unix.Stat_t
	if err := unix.Stat("/dev/null", &st); err != nil {
		c.errorf("stat /dev/null: %v", err)
	} else if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 {
		c.errorf("/dev/null mode %o rdev %d:%d, want char 1:3", st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev))
	} else if !job.UserNS && st.Mode&0o777 != 0o666 {
		c.errorf("/dev/null perm %o, want 666", st.Mode&0o777)
	}
	if err := os.WriteFile("/dev/null", []byte("x"), 0); err != nil {
		c.errorf("write /dev/null: %v", err)
	}
	if _, devBound := mounts["/dev/null"]; devBound != job.UserNS {
		c.errorf("/dev/null bind-mounted = %v, want %v (user namespace)", devBound, job.UserNS)
	}
	for name, target := range map[string]string{"/dev/ptmx": "pts/ptmx", "/dev/fd": "/proc/self/fd", "/dev/stderr": "/proc/self/fd/2"} {
		if got, err := os.Readlink(name); err != nil || got != target {
			c.errorf("readlink %s = %q, %v; want %q", name, got, err, target)
		}
	}
	if f, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0); err != nil {
		c.errorf("open /dev/ptmx: %v", err)
	} else {
		f.Close()
	}

	// Masks.
	if b, err := os.ReadFile("/secret"); err != nil || len(b) != 0 {
		c.errorf("masked /secret reads %q, %v; want empty", b, err)
	}
	if ents, err := os.ReadDir("/secretdir"); err != nil || len(ents) != 0 {
		c.errorf("masked /secretdir lists %v, %v; want empty", ents, err)
	}

	// The hostile symlink resolved inside the rootfs: /etc -> / here too.
	p := "/etc/" + job.Marker
	if b, err := os.ReadFile(p); err != nil || string(b) != "127.0.0.1 stasis\n" {
		c.errorf("bind-mounted file %s reads %q, %v", p, b, err)
	}
	if err := os.WriteFile(p, []byte("x"), 0o644); !errors.Is(err, unix.EROFS) {
		c.errorf("write to ro bind %s: got %v, want EROFS", p, err)
	}

	out, err := exec.Command("/bin/busybox", "sh", "-c", "test -c /dev/zero && test -d /proc/1 && echo ok").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		c.errorf("busybox in container: %q, %v", out, err)
	}
	if c.failed || os.Getenv("STASIS_TEST_SHOW_MOUNTS") != "" {
		fmt.Print("container mountinfo:\n" + raw)
	}
}
