package checkpoint

import (
	"fmt"
	"os"
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
	data, err := os.ReadFile(fmt.Sprintf("%s/%d/fdinfo/%d", procRoot, pid, fd))
	if err != nil {
		return 0
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "lock:") {
			n++
		}
	}
	return n
}

// lockedFile decides on the locks pid holds on file of through fd use.
func (p *Plan) lockedFile(o *CheckpointOptions, pid int, of OpenFile, n int, shared bool) {
	switch {
	case o.FileLocks:
		// The user's flag: CRIU dumps every lock, wherever.
	case shared:
		p.block("pid %d holds %d lock(s) on %s, a file the host shares through a bind mount: the lock cannot move with the container; release it, or pass --file-locks if nothing outside the container uses it", pid, n, of.Container)
		return
	}
	p.Auto.FileLocks = true
	p.Auto.note("file locks: %d held on %s by pid %d → dumped", n, of.Container, pid)
}

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
		p.block("%s, deleted from a mount the host shares (%s): it cannot be recreated there; close it, or keep the file in the container's own rootfs or tmpfs", what, m.Mountpoint)
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
