package lifecycle

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeProc is a procFS over a test's directory: what the init would find
// in a procfs, as plain files. Its thread-self leads to the real one, so
// reopening an fd (a plain openat of thread-self/fd/N) works as in a
// procfs; lookups by open stay inside the directory.
func fakeProc(t *testing.T, files map[string]string) (*procFS, string) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/proc/thread-self", filepath.Join(dir, "thread-self")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := &procFS{root: root}
	t.Cleanup(func() { p.Close() })
	return p, dir
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Sysctls are written through the procfs handle, wherever that leads,
// never through the path /proc/sys; a key in slash form keeps the dots of
// an interface name.
func TestWriteSysctlsThroughHandle(t *testing.T) {
	p, dir := fakeProc(t, map[string]string{
		"sys/net/ipv4/conf/d.1/forwarding": "0",
		"sys/net/ipv4/ip_forward":          "0",
		"sys/kernel/msgmax":                "8192",
	})
	err := writeSysctls(p, map[string]string{
		"net/ipv4/conf/d.1/forwarding": "1",
		"net.ipv4.ip_forward":          "1",
		"kernel.msgmax":                "12345",
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"sys/net/ipv4/conf/d.1/forwarding": "1",
		"sys/net/ipv4/ip_forward":          "1",
		"sys/kernel/msgmax":                "12345",
	} {
		if got := readFile(t, filepath.Join(dir, name)); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

// A symlink in what the handle leads to is resolved inside it: a fake
// sysctl file pointing at a host path does not write that path.
func TestWriteSysctlsStaysInRoot(t *testing.T) {
	p, dir := fakeProc(t, map[string]string{"sys/net/ipv4/placeholder": ""})
	host := filepath.Join(t.TempDir(), "host-file")
	if err := os.WriteFile(host, []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(host, filepath.Join(dir, "sys/net/ipv4/ip_forward")); err != nil {
		t.Fatal(err)
	}
	err := writeSysctls(p, map[string]string{"net.ipv4.ip_forward": "1"})
	if err == nil {
		t.Error("writing through a symlink to a host path succeeded")
	}
	if got := readFile(t, host); got != "host" {
		t.Errorf("host file = %q, written through the fake /proc/sys", got)
	}
	if err := writeSysctls(p, map[string]string{"net/../../x": "1"}); err == nil || !strings.Contains(err.Error(), "not a sysctl name") {
		t.Errorf("key climbing out of /proc/sys: err = %v", err)
	}
}

func TestSetOOMScoreAdjThroughHandle(t *testing.T) {
	p, dir := fakeProc(t, map[string]string{"self/oom_score_adj": "0"})
	if err := setOOMScoreAdj(p, 500); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "self/oom_score_adj")); got != "500" {
		t.Errorf("oom_score_adj = %q, want 500", got)
	}
}

// The exec fifo's O_PATH handle is reopened for writing through the
// handle's thread-self/fd.
func TestReopenExecFifo(t *testing.T) {
	p, _ := fakeProc(t, nil)
	path := filepath.Join(t.TempDir(), "exec.fifo")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	opath, err := os.OpenFile(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer opath.Close()
	r, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, err := p.reopen(opath, unix.O_WRONLY)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte{'0'}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	var b [1]byte
	if n, _ := r.Read(b[:]); n != 1 || b[0] != '0' {
		t.Errorf("read %d %q from the fifo, want '0'", n, b[:n])
	}
}

// The real handle is a procfs of its own: it reaches this process's
// files, and its root is procfs whatever is mounted at /proc.
func TestOpenProcFSIsProcfs(t *testing.T) {
	for _, unmasked := range []bool{false, true} {
		p, err := openProcFS(unmasked)
		if err != nil {
			t.Fatalf("unmasked=%v: %v", unmasked, err)
		}
		var st unix.Statfs_t
		if err := unix.Fstatfs(int(p.root.Fd()), &st); err != nil || st.Type != unix.PROC_SUPER_MAGIC {
			t.Errorf("unmasked=%v: root fs type %#x (%v), want procfs", unmasked, st.Type, err)
		}
		f, err := p.open("self/status", unix.O_RDONLY)
		if err != nil {
			t.Errorf("unmasked=%v: %v", unmasked, err)
		} else {
			f.Close()
		}
		p.Close()
	}
}
