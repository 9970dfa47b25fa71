package rootfs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Only a devpts's own ptmx is opened: a plain file, or a ptmx device node
// that is not on a devpts (the host's /dev/ptmx lives on devtmpfs), is
// refused before it is opened.
func TestOpenPtmxChecksTheHandle(t *testing.T) {
	root := t.TempDir()
	mkdirs(t, filepath.Join(root, "dev/pts"))
	ptmx := filepath.Join(root, "dev/pts/ptmx")
	must(t, os.WriteFile(ptmx, nil, 0o666))
	if f, err := openPtmxIn(root); !errors.Is(err, ErrBadPtmx) {
		if f != nil {
			f.Close()
		}
		t.Errorf("regular file as ptmx: err = %v, want ErrBadPtmx", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: mknod, and the host's ptmx")
	}
	must(t, os.Remove(ptmx))
	must(t, unix.Mknod(ptmx, unix.S_IFCHR|0o666, int(unix.Mkdev(5, 2))))
	if f, err := openPtmxIn(root); !errors.Is(err, ErrBadPtmx) {
		if f != nil {
			f.Close()
		}
		t.Errorf("a 5:2 node outside devpts: err = %v, want ErrBadPtmx", err)
	}
	// The host's own devpts passes, and gives a working master.
	f, err := openPtmxIn("/")
	if err != nil {
		t.Fatalf("host's /dev/pts/ptmx: %v", err)
	}
	defer f.Close()
	if _, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPTN); err != nil {
		t.Errorf("not a pty master: %v", err)
	}
}

func TestMountConsoleByHandle(t *testing.T) {
	root := t.TempDir()
	mkdirs(t, filepath.Join(root, "dev"))
	peer, err := os.Open(os.DevNull) // any file stands in for the pty peer
	must(t, err)
	defer peer.Close()
	f := installFake(t, root)
	must(t, mountConsoleIn(root, peer))
	wantCalls(t, f.calls, []string{
		"open_tree /dev/null clone",
		"move_mount [clone /dev/null] /dev/console",
	})
	if fi, err := os.Lstat(filepath.Join(root, "dev/console")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("/dev/console mount point: %v, %v", fi, err)
	}

	// A symlink at /dev/console is refused, not followed.
	f.calls = nil
	must(t, os.Remove(filepath.Join(root, "dev/console")))
	must(t, os.Symlink("/etc/passwd", filepath.Join(root, "dev/console")))
	if err := mountConsoleIn(root, peer); err == nil || !strings.Contains(err.Error(), "not a file or a device node") {
		t.Errorf("symlink /dev/console: err = %v", err)
	}
	wantCalls(t, f.calls, nil)
}

// CVE-2025-52565: while /dev/console flips between a file and a symlink
// to a file outside the root, every console mount still lands on the
// file inside the root. A check of the path followed by a mount by path
// (what the init did) loses this race.
func TestMountConsoleRace(t *testing.T) {
	root := t.TempDir()
	mkdirs(t, filepath.Join(root, "dev"))
	outside := filepath.Join(t.TempDir(), "host-file")
	must(t, os.WriteFile(outside, []byte("host"), 0o644))
	peer, err := os.Open(os.DevNull)
	must(t, err)
	defer peer.Close()
	installFake(t, root)
	console := filepath.Join(root, "dev/console")
	var bad atomic.Int32
	var badWhat atomic.Value
	// Where each mount would land, judged when it is made: a handle must
	// be the entry inside the root and not a symlink; a path (the way it
	// was done before) is resolved as the kernel would resolve it then.
	sys.moveMount = func(_, toFd int) error {
		var st unix.Stat_t
		if err := unix.Fstat(toFd, &st); err != nil || st.Mode&unix.S_IFMT == unix.S_IFLNK {
			bad.Add(1)
			badWhat.Store("a symlink handle")
		}
		return nil
	}
	sys.mount = func(_, target, _ string, _ uintptr, _ string) error {
		if p, err := filepath.EvalSymlinks(target); err == nil && !strings.HasPrefix(p, root+"/") {
			bad.Add(1)
			badWhat.Store(p)
		}
		return nil
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tmp := console + ".new"
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			os.Remove(tmp)
			if i%2 == 0 {
				os.Symlink(outside, tmp)
			} else {
				os.WriteFile(tmp, nil, 0o600)
			}
			os.Rename(tmp, console)
		}
	}()
	deadline := time.Now().Add(time.Second)
	for n := 0; n < 5000 && time.Now().Before(deadline); n++ {
		_ = mountConsoleIn(root, peer) // refusals are fine, bad mounts are not
	}
	close(stop)
	<-done
	if n := bad.Load(); n > 0 {
		t.Errorf("%d console mounts landed outside the root or on a symlink (e.g. %v)", n, badWhat.Load())
	}
	if b, _ := os.ReadFile(outside); string(b) != "host" {
		t.Errorf("outside file changed: %q", b)
	}
}
