package checkpoint

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/sys/mountinfo"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// A lock taken after the plan looked, before the freeze (SQLite takes its
// locks around each write): the plan asked CRIU for locks anyway, and
// frozenLocks, run with the tasks frozen, refuses one on a file the host
// shares (or from outside the container) in the very words of the plan,
// and lets the container's own through.
func TestFrozenLocksRecheckWhatThePlanAllowed(t *testing.T) {
	proc := filepath.Join(t.TempDir(), "proc")
	init := fakeProc{t, proc, "7"}
	init.parent("1")
	init.fd("0", "pipe:[1]", "0")
	init.fd("1", "pipe:[2]", "0")
	init.fd("2", "pipe:[3]", "0")
	init.fd("3", "/data/t.db", "1")
	init.fd("4", "/vol/app.pid", "3")
	init.fd("5", "/srv/elsewhere", "99")
	child := fakeProc{t, proc, "8"}
	child.parent("7")
	child.fd("3", "/vol/child.pid", "3")
	execd := fakeProc{t, proc, "9"} // outside the init's tree: not dumped
	execd.parent("1")
	execd.fd("3", "/vol/execd.pid", "3")
	mounts := []*mountinfo.Info{{ID: 1, Mountpoint: "/"}, {ID: 3, Mountpoint: "/vol", Options: "rw"}}
	sp := &specs.Spec{Mounts: []specs.Mount{{Destination: "/vol", Source: "/srv/vol", Options: []string{"bind"}}}}
	in := planInput{id: "ct", rootfs: t.TempDir(), spec: sp, initPid: 7, pids: []int{7, 8, 9},
		mounts: mounts, opts: &CheckpointOptions{}, procRoot: proc}
	plan, err := makePlan(in)
	if err != nil {
		t.Fatal(err)
	}
	if !plan.Auto.FileLocks || len(plan.Blockers) != 1 { // the blocker: /srv/elsewhere is on no mount
		t.Fatalf("no lock yet: want file locks on, got %+v, blockers %q", plan.Auto, plan.Blockers)
	}
	lock := func(pid, fd, mnt string) {
		info := "pos:\t0\nflags:\t02\nmnt_id:\t" + mnt + "\nlock:\t1: FLOCK  ADVISORY  WRITE " + pid + " 00:2d:1234 0 EOF\n"
		if err := os.WriteFile(filepath.Join(proc, pid, "fdinfo", fd), []byte(info), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	unlock := func(pid, fd, mnt string) {
		os.WriteFile(filepath.Join(proc, pid, "fdinfo", fd), []byte("pos:\t0\nflags:\t02\nmnt_id:\t"+mnt+"\n"), 0o644)
	}
	frozen := func() string { return plan.frozenLocks(proc, 7, []int{7, 8, 9}) }

	if why := frozen(); why != "" {
		t.Fatalf("no lock held: refused %q", why)
	}
	lock("7", "3", "1")
	lock("7", "0", "0") // a pipe's: the container's
	lock("9", "3", "3") // not CRIU's to dump
	if why := frozen(); why != "" {
		t.Errorf("locks on the container's own file, a pipe, and by a process outside the tree: refused %q", why)
	}
	lock("8", "3", "3")
	want := "pid 8 holds 1 lock(s) on /vol/child.pid, a file the host shares through a bind mount: the lock cannot move with the container; release it, or pass --file-locks if nothing outside the container uses it"
	if why := frozen(); why != want {
		t.Errorf("a child's lock on a host bind, taken since the plan:\n got %q\nwant %q", why, want)
	}
	// the plan, had it seen that lock, says the same
	seen, err := makePlan(in)
	if err != nil {
		t.Fatal(err)
	}
	if !anyContains(seen.Blockers, want) {
		t.Errorf("the plan's blockers %q do not say %q", seen.Blockers, want)
	}
	unlock("8", "3", "3")
	lock("7", "5", "99")
	if why := frozen(); !anyContains([]string{why}, "pid 7 holds 1 lock(s) on /srv/elsewhere, a file from outside the container") {
		t.Errorf("a lock on a file on no mount of the container: %q", why)
	}
}
