package checkpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// What the plan turns on by itself. File locks and deleted-but-open files
// are state of the container like any other when they live on its own
// file systems (the rootfs, its tmpfs mounts): CRIU can carry them, and
// asking the user for --file-locks or --link-remap there is ceremony.
// Where they touch a file shared with the host through a bind mount, the
// lock or the ghost would be recreated on the host's file, which the
// container does not own: the plan refuses, naming the file and the way
// out, unless the user's own flag says to go ahead.

// Auto is what the plan turned on, and why (checkpoint --dry-run prints
// it).
type Auto struct {
	FileLocks bool `json:"file_locks"`
	LinkRemap bool `json:"link_remap"`
	// GhostLimit, when not 0, raises CRIU's limit on the size of a
	// deleted file whose contents the images carry (1 MiB by default).
	GhostLimit uint32   `json:"ghost_limit,omitempty"`
	Why        []string `json:"why,omitempty"`
}

// criuGhostLimit is CRIU's default ghost file size limit.
const criuGhostLimit = 1 << 20

func (a *Auto) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	for _, w := range a.Why {
		if w == msg {
			return
		}
	}
	a.Why = append(a.Why, msg)
}

// sharedWithHost says whether mount m of the container is one whose
// files are the host's: a bind mount (config.json's binds, the host
// device nodes of masked paths and user namespaces). cgroup mounts hold
// no files a process can lock or delete.
func sharedWithHost(m *mountinfo.Info, exts []External) bool {
	for _, e := range exts {
		if e.Dest == m.Mountpoint && (e.Kind == "bind" || e.Kind == "host") {
			return true
		}
	}
	return false
}

// fdLocks counts the locks pid holds through fd: the kernel lists them in
// the fd's fdinfo as "lock:" lines (flock and OFD locks on that open
// file, POSIX locks the process owns on its inode).
func fdLocks(procRoot string, pid, fd int) int {
	n, _ := fdinfoLocks(fmt.Sprintf("%s/%d/fdinfo/%d", procRoot, pid, fd))
	return n
}

// lockedFile decides on the locks pid holds on file of through fd use
// (outside: the file is on no mount of the container).
func (p *Plan) lockedFile(o *CheckpointOptions, pid int, of OpenFile, n int, shared, outside bool) {
	switch {
	case o.FileLocks:
		// The user's flag: CRIU dumps every lock, wherever.
	case shared || outside:
		p.lockRefused = true
		p.block("%s", lockRefusal(pid, n, of.Container, outside))
		return
	}
	p.Auto.FileLocks = true
	p.Auto.note("file locks: %d held on %s by pid %d → dumped", n, of.Container, pid)
}

// lockRefusal is why a lock stops the checkpoint, and the way out: the
// same words whether the plan saw it or the freeze (frozenLocks).
func lockRefusal(pid, n int, path string, outside bool) string {
	where := "a file the host shares through a bind mount"
	if outside {
		where = "a file from outside the container"
	}
	return fmt.Sprintf("pid %d holds %d lock(s) on %s, %s: the lock cannot move with the container; release it, or pass --file-locks if nothing outside the container uses it", pid, n, path, where)
}

// locksAnyTime: a lock need not be held when the plan looks to be held
// at the freeze (SQLite takes its fcntl locks around each write), so
// unless a lock stops the checkpoint, CRIU is asked for the locks
// whatever the plan saw, and the locks are read again with the tasks
// frozen (frozenLocks): what CRIU dumps then is what the plan would have
// allowed.
func (p *Plan) locksAnyTime(o *CheckpointOptions) {
	if o.FileLocks || p.lockRefused || p.Auto.FileLocks {
		return
	}
	p.Auto.FileLocks = true
	p.Auto.note("file locks: none held now; any a process takes on the container's own files before the freeze is dumped (one on a file the host shares then stops the checkpoint)")
}

// frozenLocks reads, with the container frozen, the locks the processes
// CRIU dumps (pids of initPid's tree) hold, and returns the refusal for
// the first on a file the host shares or from outside the container (""
// for none): the check lockedFile made before the freeze, on what CRIU
// will see. One fdinfo read per fd (its mnt_id and lock lines), cheap
// enough while the container waits.
func (p *Plan) frozenLocks(procRoot string, initPid int, pids []int) string {
	byID := map[int]*mountinfo.Info{}
	for _, m := range p.mounts {
		byID[m.ID] = m
	}
	for _, pid := range pids {
		if in, _ := descendsFrom(procRoot, pid, initPid); !in {
			continue
		}
		dir := fmt.Sprintf("%s/%d", procRoot, pid)
		ents, err := os.ReadDir(dir + "/fdinfo")
		if err != nil {
			continue // exited
		}
		for _, e := range ents {
			n, mntID := fdinfoLocks(dir + "/fdinfo/" + e.Name())
			if n == 0 {
				continue
			}
			link, err := os.Readlink(dir + "/fd/" + e.Name())
			if err != nil || !strings.HasPrefix(link, "/") {
				continue // as the plan: a pipe's or socket's lock is the container's
			}
			m, inContainer := byID[mntID]
			if inContainer && !sharedWithHost(m, p.Externals) {
				continue
			}
			path, _ := translate(p.Union, link)
			return lockRefusal(pid, n, path, !inContainer)
		}
	}
	return ""
}

// fdinfoLocks counts the "lock:" lines of an fdinfo file and reads its
// mnt_id.
func fdinfoLocks(path string) (locks, mntID int) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "lock:") {
			locks++
		} else if v, ok := strings.CutPrefix(line, "mnt_id:"); ok {
			mntID, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return locks, mntID
}

// refusedAtFreeze: what the plan would have refused appeared only by
// the freeze (frozenLocks); the checkpoint stops and the container runs
// on.
type refusedAtFreeze struct{ why string }

func (e *refusedAtFreeze) Error() string { return e.why }

// deletedFile decides on a deleted file pid holds open or maps (of;
// statPath reaches the file itself, /proc/PID/fd/N or map_files/...):
// with no name left CRIU carries its contents in the images (a ghost
// file, the limit raised to its size); with another name left CRIU links
// it back under a new name (link remap), which needs the file system
// writable.
func (p *Plan) deletedFile(in *planInput, pid int, of OpenFile, statPath string, m *mountinfo.Info, shared bool) {
	o := in.opts
	what := fmt.Sprintf("pid %d holds %s (%s)", pid, of.Container, of.Use)
	if strings.HasPrefix(of.Use, "map ") {
		what = fmt.Sprintf("pid %d maps %s", pid, of.Container)
	}
	var st unix.Stat_t
	stat := in.stat
	if stat == nil {
		stat = unix.Stat
	}
	if err := stat(statPath, &st); err != nil {
		return // gone while we looked
	}
	if shared && !o.LinkRemap {
		p.block("%s, deleted from a mount the host shares (%s): it cannot be recreated there unasked; close it, keep the file in the container's own rootfs or tmpfs, or pass --link-remap if the host may see it linked back there for a while", what, m.Mountpoint)
		return
	}
	if st.Nlink > 0 {
		if o.LinkRemap {
			return
		}
		if readOnlyMount(m) {
			p.block("%s, deleted but still linked elsewhere, on the read-only mount %s: CRIU would link it back there; close it, or make the mount writable", what, m.Mountpoint)
			return
		}
		p.Auto.LinkRemap = true
		p.Auto.note("deleted file %s (%s of pid %d, %d other name(s)) → linked back under a new name (link remap)", of.Container, of.Use, pid, st.Nlink)
		return
	}
	size := st.Size
	if size > int64(^uint32(0)) {
		p.block("%s, deleted, of %d bytes: more than CRIU can carry as a ghost file (4 GiB); close it", what, size)
		return
	}
	if size > criuGhostLimit && uint32(size) > p.Auto.GhostLimit {
		p.Auto.GhostLimit = uint32(size)
	}
	p.Auto.note("deleted file %s (%s of pid %d, %d bytes, no name left) → its contents go into the images (a ghost file)", of.Container, of.Use, pid, size)
}

func readOnlyMount(m *mountinfo.Info) bool {
	for _, o := range strings.Split(m.Options, ",") {
		if o == "ro" {
			return true
		}
	}
	return false
}
