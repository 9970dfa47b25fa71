package lifecycle

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// inPrivateNS runs fn as root on a thread of its own in new mount, UTS,
// IPC and network namespaces, with every mount private: sysctls written
// there, and mounts made there, touch nothing of the host's. The thread is
// thrown away after (never unlocked). fn reports with t.Error or by
// returning an error, which stops the test.
func inPrivateNS(t *testing.T, fn func() error) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: new namespaces and mounts")
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- func() error {
			before := threadNS()
			if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWNET); err != nil {
				return fmt.Errorf("unshare: %w", err)
			}
			// Nothing is written unless each namespace is this thread's own.
			after := threadNS()
			for _, ns := range []string{"mnt", "uts", "ipc", "net"} {
				if before[ns] == "" || before[ns] == after[ns] {
					return fmt.Errorf("%s namespace not unshared (%q, %q)", ns, before[ns], after[ns])
				}
			}
			if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
				return fmt.Errorf("make / rprivate: %w", err)
			}
			return fn()
		}()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func threadNS() map[string]string {
	m := map[string]string{}
	for _, ns := range []string{"mnt", "uts", "ipc", "net"} {
		m[ns], _ = os.Readlink("/proc/thread-self/ns/" + ns)
	}
	return m
}

// readProc reads /proc/<sub> through p.
func readProc(p *procFS, sub string) (string, error) {
	f, err := p.open(sub, unix.O_RDONLY)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	return strings.TrimSpace(string(b)), err
}

// Sysctls are written through the procfs handle and reach the kernel (in
// this thread's own namespaces); a key in slash form keeps its dots.
func TestWriteSysctlsThroughHandle(t *testing.T) {
	inPrivateNS(t, func() error {
		p, err := openProcFS(true)
		if err != nil {
			return err
		}
		defer p.Close()
		err = writeSysctls(p, map[string]string{
			"net/ipv4/conf/lo/forwarding": "1",
			"net.ipv4.ip_forward":         "1",
			"kernel.msgmax":               "12345",
			"kernel.domainname":           "stasis.test",
		})
		if err != nil {
			return err
		}
		for sub, want := range map[string]string{
			"sys/net/ipv4/conf/lo/forwarding": "1",
			"sys/net/ipv4/ip_forward":         "1",
			"sys/kernel/msgmax":               "12345",
			"sys/kernel/domainname":           "stasis.test",
		} {
			if got, err := readProc(p, sub); err != nil || got != want {
				t.Errorf("%s = %q (%v), want %q", sub, got, err, want)
			}
		}
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil || unix.ByteSliceToString(u.Domainname[:]) != "stasis.test" {
			t.Errorf("domainname %q (%v), want stasis.test", unix.ByteSliceToString(u.Domainname[:]), err)
		}
		if err := writeSysctls(p, map[string]string{"net/../../x": "1"}); err == nil || !strings.Contains(err.Error(), "not a sysctl name") {
			t.Errorf("key climbing out of /proc/sys: err = %v", err)
		}
		return nil
	})
}

// CVE-2025-52881 with one file covered, not the whole of /proc: where
// pathrs-lite can make no procfs of its own (here the thread lacks
// CAP_SYS_ADMIN, so fsopen and open_tree are refused) its handle is the
// /proc this thread sees, and there a decoy is bound over
// /proc/sys/kernel/domainname and /proc/self/oom_score_adj. The handle
// must refuse both files, not read or write the decoys. Shown failing with
// the old lookup (pathrs.OpenatInRoot from h.OpenRoot("."), which crosses
// mounts): both writes succeeded and landed in the decoy, and both reads
// read it.
func TestProcFSRefusesOvermountedFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: new namespaces and mounts")
	}
	// pathrs-lite probes the kernel once per process: not with the
	// capability gone.
	if p, err := openProcFS(false); err == nil {
		p.Close()
	}
	decoy := filepath.Join(t.TempDir(), "decoy")
	const fake = "decoy"
	if err := os.WriteFile(decoy, []byte(fake), 0o644); err != nil {
		t.Fatal(err)
	}
	inPrivateNS(t, func() error {
		for _, target := range []string{"/proc/sys/kernel/domainname", "/proc/self/oom_score_adj"} {
			if err := unix.Mount(decoy, target, "", unix.MS_BIND, ""); err != nil {
				return fmt.Errorf("bind the decoy over %s: %w", target, err)
			}
		}
		if err := dropThreadCap(unix.CAP_SYS_ADMIN); err != nil {
			return err
		}
		p, err := openProcFS(true)
		if err != nil {
			return err
		}
		defer p.Close()
		// The handle must be the fallback, this thread's /proc, or
		// nothing here is tested.
		var procSt, fdsSt unix.Statx_t
		if unix.Statx(unix.AT_FDCWD, "/proc", 0, unix.STATX_MNT_ID, &procSt) != nil ||
			unix.Statx(int(p.fds.Fd()), "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &fdsSt) != nil ||
			procSt.Mnt_id != fdsSt.Mnt_id {
			return errors.New("pathrs-lite made a procfs of its own without CAP_SYS_ADMIN: the fallback is not tested")
		}
		if _, err := readProc(p, "self/status"); err != nil {
			t.Errorf("uncovered self/status: %v", err)
		}
		if err := writeSysctls(p, map[string]string{"kernel.domainname": "stasis-decoy-value"}); err == nil {
			t.Error("sysctl written through a file bound over /proc/sys/kernel/domainname")
		}
		if err := setOOMScoreAdj(p, 500); err == nil {
			t.Error("oom_score_adj written through a file bound over /proc/self/oom_score_adj")
		}
		for _, sub := range []string{"sys/kernel/domainname", "self/oom_score_adj"} {
			if got, err := readProc(p, sub); err == nil {
				t.Errorf("read %q from /proc/%s, a file bound over the real one", got, sub)
			}
		}
		return nil
	})
	if got := readFile(t, decoy); got != fake {
		t.Errorf("decoy = %q, written through the handle", got)
	}
}

// dropThreadCap clears c from this thread's effective set.
func dropThreadCap(c int) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	data[c/32].Effective &^= 1 << (c % 32)
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// oom_score_adj is the test process's own: set through the handle, read
// back from the kernel, put back.
func TestSetOOMScoreAdjThroughHandle(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: lowering oom_score_adj back")
	}
	orig := strings.TrimSpace(readFile(t, "/proc/self/oom_score_adj"))
	p, err := openProcFS(false)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	n, _ := strconv.Atoi(orig)
	want := 500
	if n == want {
		want = 501
	}
	if err := setOOMScoreAdj(p, want); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(orig), 0); err != nil {
			t.Errorf("put oom_score_adj back to %s: %v", orig, err)
		}
	}()
	if got := strings.TrimSpace(readFile(t, "/proc/self/oom_score_adj")); got != strconv.Itoa(want) {
		t.Errorf("oom_score_adj = %s, want %d", got, want)
	}
}

// The exec fifo's O_PATH handle is reopened for writing through the
// handle's self/fd.
func TestReopenExecFifo(t *testing.T) {
	p, err := openProcFS(false)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
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

// The real handle is a procfs: it reaches this process's files.
func TestOpenProcFSIsProcfs(t *testing.T) {
	for _, unmasked := range []bool{false, true} {
		p, err := openProcFS(unmasked)
		if err != nil {
			t.Fatalf("unmasked=%v: %v", unmasked, err)
		}
		var st unix.Statfs_t
		if err := unix.Fstatfs(int(p.fds.Fd()), &st); err != nil || st.Type != unix.PROC_SUPER_MAGIC {
			t.Errorf("unmasked=%v: fs type %#x (%v), want procfs", unmasked, st.Type, err)
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
