package lifecycle

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// The ".." walk is what checks the cwd when a seccomp profile denies
// getcwd: it must accept a cwd under the root and refuse one outside it.
func TestCwdReachesRootInside(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	ok, err := cwdReachesRoot()
	if err != nil || !ok {
		t.Fatalf("cwdReachesRoot in %s = %v, %v; want true", dir, ok, err)
	}
}

const cwdHelperEnv = "STASIS_TEST_CWD_OUTSIDE"

// The outside case needs a chroot, so it runs in a child: it keeps an fd
// on a directory outside the new root and fchdirs to it after the
// chroot, as a leaked fd used as process.cwd would.
func TestCwdReachesRootOutside(t *testing.T) {
	if dir := os.Getenv(cwdHelperEnv); dir != "" {
		cwdOutsideHelper(dir)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for chroot")
	}
	base := t.TempDir()
	for _, d := range []string{"root/sub", "outside/deep"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCwdReachesRootOutside$")
	cmd.Env = append(os.Environ(), cwdHelperEnv+"="+base)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
}

func cwdOutsideHelper(base string) {
	fail := func(msg string) {
		os.Stderr.WriteString("FAIL: " + msg + "\n")
		os.Exit(1)
	}
	fd, err := unix.Open(filepath.Join(base, "outside/deep"), unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		fail("open outside")
	}
	if err := unix.Chroot(filepath.Join(base, "root")); err != nil {
		fail("chroot")
	}
	if err := unix.Chdir("/sub"); err != nil {
		fail("chdir /sub")
	}
	if ok, err := cwdReachesRoot(); err != nil || !ok {
		fail("cwd /sub under the root not accepted")
	}
	if err := unix.Fchdir(fd); err != nil {
		fail("fchdir outside")
	}
	if ok, err := cwdReachesRoot(); err != nil || ok {
		fail("a cwd outside the root was accepted")
	}
	if checkCwdInRoot("/proc/self/fd/3") == nil {
		fail("checkCwdInRoot accepted a cwd outside the root")
	}
	os.Exit(0)
}
