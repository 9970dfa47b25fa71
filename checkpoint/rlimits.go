package checkpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// capSysResource is CAP_SYS_RESOURCE's bit in /proc/<pid>/status's Cap* masks.
const capSysResource = 24

// criuCreds is what decides whether CRIU may read a process's rlimits:
// CRIU dumps them with prlimit(pid), which the kernel allows only when
// the caller's uid and gid equal all of the target's real, effective and
// saved ids, or when the caller has CAP_SYS_RESOURCE in the target's user
// namespace. The owner of a user namespace (stasis made the container's,
// as root) has every capability in it without holding any itself; in our
// own namespace, CRIU needs CAP_SYS_RESOURCE for real, and some sandboxes
// drop it.
type criuCreds struct {
	uid, gid    int
	userNS      string // our /proc/self/ns/user link
	sysResource bool   // CRIU will hold CAP_SYS_RESOURCE
}

// ourCriuCreds reads our own ids, user namespace and capabilities. CRIU,
// exec'd by root, gets at most our bounding set; both that and our
// effective set must have CAP_SYS_RESOURCE (a root stasis that dropped it
// from its effective set runs in a sandbox that means it).
func ourCriuCreds() criuCreds {
	c := criuCreds{uid: os.Getuid(), gid: os.Getgid(), sysResource: true}
	c.userNS, _ = os.Readlink("/proc/self/ns/user")
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return c // no way to tell: let CRIU say
	}
	for _, field := range []string{"CapEff", "CapBnd"} {
		mask, ok := statusField(string(status), field)
		if !ok || len(mask) != 1 {
			continue
		}
		if v, err := strconv.ParseUint(mask[0], 16, 64); err == nil && v&(1<<capSysResource) == 0 {
			c.sysResource = false
		}
	}
	return c
}

// rlimitProblem says why CRIU could not read pid's rlimits ("" when it can).
func (c criuCreds) rlimitProblem(procRoot string, pid int) string {
	if c.sysResource {
		return ""
	}
	if ns, err := os.Readlink(fmt.Sprintf("%s/%d/ns/user", procRoot, pid)); err != nil || ns != c.userNS {
		return "" // gone, or in a user namespace of its own
	}
	status, err := os.ReadFile(fmt.Sprintf("%s/%d/status", procRoot, pid))
	if err != nil {
		return ""
	}
	uids, _ := statusField(string(status), "Uid")
	gids, _ := statusField(string(status), "Gid")
	if sameIDs(uids, c.uid) && sameIDs(gids, c.gid) {
		return ""
	}
	uid := "?"
	if len(uids) > 1 {
		uid = uids[1]
	}
	gid := "?"
	if len(gids) > 1 {
		gid = gids[1]
	}
	return fmt.Sprintf("pid %d (uid %s, gid %s: %s) runs as another user than stasis in the host's user namespace, and CRIU cannot read its rlimits (prlimit) without CAP_SYS_RESOURCE, which this host does not give stasis: run the container in a user namespace (linux.namespaces user with uidMappings/gidMappings), where CRIU needs no such capability",
		pid, uid, gid, commandOf(procRoot, pid))
}

// sameIDs: the real, effective and saved ids (the first three fields of
// a Uid:/Gid: line) are all id. The filesystem id does not count.
func sameIDs(fields []string, id int) bool {
	if len(fields) < 3 {
		return false
	}
	for _, f := range fields[:3] {
		if f != strconv.Itoa(id) {
			return false
		}
	}
	return true
}

// statusField splits the value of one "Name:\tv1\tv2" line of a status file.
func statusField(status, name string) ([]string, bool) {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.Fields(v), true
		}
	}
	return nil, false
}

// commandOf is pid's command line (its comm when it has none: a kernel
// thread, or one that cleared it).
func commandOf(procRoot string, pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("%s/%d/cmdline", procRoot, pid))
	if cmd := strings.TrimSpace(strings.ReplaceAll(string(data), "\x00", " ")); err == nil && cmd != "" {
		return cmd
	}
	return comm(procRoot, pid)
}
