package checkpoint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Without CAP_SYS_RESOURCE, CRIU's prlimit on a process of another user
// in our user namespace fails: the plan names it (pid, uid, command) and
// the way out, and leaves alone processes CRIU can read (same ids as
// ours, or in a user namespace of their own).
func TestRlimitProblemNamesForeignUsersInOurUserNS(t *testing.T) {
	proc := t.TempDir()
	task := func(pid, userNS, uids, gids, cmdline string) {
		dir := filepath.Join(proc, pid)
		os.MkdirAll(filepath.Join(dir, "ns"), 0o755)
		os.Symlink(userNS, filepath.Join(dir, "ns", "user"))
		os.WriteFile(filepath.Join(dir, "status"), []byte("Name:\tx\nUid:\t"+uids+"\nGid:\t"+gids+"\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "cmdline"), []byte(cmdline), 0o644)
	}
	host, own := "user:[4026531837]", "user:[4026532999]"
	task("10", host, "0\t0\t0\t0", "0\t0\t0\t0", "sh\x00-c\x00loop\x00")
	task("11", host, "1000\t1000\t1000\t1000", "1000\t1000\t1000\t1000", "postgres\x00-D\x00/data\x00")
	task("12", host, "0\t0\t1000\t0", "0\t0\t0\t0", "setuid-ish\x00") // saved uid differs
	task("13", own, "101000\t101000\t101000\t101000", "101000\t101000\t101000\t101000", "app\x00")

	c := criuCreds{uid: 0, gid: 0, userNS: host, sysResource: false}
	for _, pid := range []int{10, 13} {
		if why := c.rlimitProblem(proc, pid); why != "" {
			t.Errorf("pid %d: %q, want no problem", pid, why)
		}
	}
	why := c.rlimitProblem(proc, 11)
	for _, w := range []string{"pid 11", "uid 1000", "postgres -D /data", "CAP_SYS_RESOURCE", "user namespace"} {
		if !strings.Contains(why, w) {
			t.Errorf("pid 11: %q lacks %q", why, w)
		}
	}
	if c.rlimitProblem(proc, 12) == "" {
		t.Error("pid 12 (saved uid 1000): no problem reported")
	}
	if c.rlimitProblem(proc, 99) != "" {
		t.Error("a process that is gone is no problem")
	}
	c.sysResource = true
	if why := c.rlimitProblem(proc, 11); why != "" {
		t.Errorf("with CAP_SYS_RESOURCE: %q", why)
	}
}
