package checkpoint

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/sys/mountinfo"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/aufs"
)

// Plan is what a checkpoint will do, worked out before anything is
// frozen: `checkpoint --dry-run` prints it, and a real checkpoint refuses
// to start while it has blockers, so the user reads a clear reason
// instead of a CRIU log.
type Plan struct {
	ID        string      `json:"id"`
	Rootfs    string      `json:"rootfs"`
	Union     *aufs.Union `json:"union"`
	Externals []External  `json:"external_mounts"`
	Stdio     []string    `json:"stdio"`
	// LoopbackOnlyNet: the network namespace is left to stasis (see
	// loopbackOnlyNet) instead of being dumped by CRIU.
	LoopbackOnlyNet bool `json:"loopback_only_net"`
	// ExternalNamespaces are the namespaces the container joined by
	// path, which CRIU does not dump (see joinedNamespaces).
	ExternalNamespaces []string   `json:"external_namespaces"`
	Files              []OpenFile `json:"files"`
	// Auto is what the plan turned on by itself (auto.go).
	Auto     Auto     `json:"auto"`
	Blockers []string `json:"blockers"`
	// Warnings are what the checkpoint will do that the user may not
	// expect, without stopping it.
	Warnings []string `json:"warnings,omitempty"`
	// mounts is the mount table the plan read (tmpfs.go and frozenLocks
	// check against it again once the container is frozen).
	mounts []*mountinfo.Info
	// lockRefused: a lock stops the checkpoint (auto.go).
	lockRefused bool
}

// OpenFile is a file some process of the container maps or holds open.
type OpenFile struct {
	Pid       int    `json:"pid"`
	Use       string `json:"use"`  // "fd 3", "map 7f..-7f.."
	Host      string `json:"host"` // the link as the host reads it
	Container string `json:"container,omitempty"`
	Deleted   bool   `json:"deleted,omitempty"`
	// Mount is the container mount holding the file ("" when the file is
	// on no mount of the container).
	Mount string `json:"mount,omitempty"`
}

// planInput is what makePlan reads; fixtures replace procRoot in tests.
type planInput struct {
	id       string
	rootfs   string
	spec     *specs.Spec
	initPid  int
	pids     []int
	mounts   []*mountinfo.Info
	union    *aufs.Union
	opts     *CheckpointOptions
	procRoot string
	// unixPeers is the sock_diag view of the container's netns (nil when
	// it could not be read: no unix socket check then).
	unixPeers map[uint32]unixSock
	hostPeers map[uint32]unixSock // the same for our own netns
	// stat reads a file through procRoot's magic links (unix.Stat when
	// nil; fixtures cannot make a file with no name left).
	stat func(path string, st *unix.Stat_t) error
	// criu is what CRIU may do to the container's processes (nil: no
	// check).
	criu *criuCreds
}

func makePlan(in planInput) (*Plan, error) {
	p := &Plan{ID: in.id, Rootfs: in.rootfs, Union: in.union, mounts: in.mounts,
		LoopbackOnlyNet: loopbackOnlyNet(in.spec, in.pids, &in.opts.Common, in.procRoot)}
	p.Externals = externalsOf(in.spec, in.rootfs, in.mounts)
	var nsBlockers []string
	p.ExternalNamespaces, nsBlockers = joinedNamespaces(in.spec)
	for _, b := range nsBlockers {
		p.block("%s", b)
	}
	stdio, extFiles, err := stdio(in.procRoot, in.initPid, in.mounts)
	if err != nil {
		return nil, err
	}
	p.Stdio = stdio
	external := map[string]bool{}
	for _, k := range extFiles {
		external[k] = true
	}
	byID := map[int]*mountinfo.Info{}
	for _, m := range in.mounts {
		byID[m.ID] = m
	}
	// CRIU dumps the init's process tree. A process of the cgroup outside
	// it (one exec'd with --detach is re-parented to the host's init, not
	// the container's) is neither dumped nor restored: say so, and check
	// only what CRIU will see.
	var tree []int
	for _, pid := range in.pids {
		inTree, known := descendsFrom(in.procRoot, pid, in.initPid)
		switch {
		case !known:
			// It exited while we looked (a short-lived child): nothing
			// to check, nothing to warn about.
		case inTree:
			tree = append(tree, pid)
		default:
			p.Warnings = append(p.Warnings, fmt.Sprintf("pid %d (%s) runs in the container but outside its init's process tree (an exec'd process?): CRIU does not checkpoint it; it ends with the container", pid, comm(in.procRoot, pid)))
		}
	}
	for _, pid := range tree {
		if in.criu != nil {
			if why := in.criu.rlimitProblem(in.procRoot, pid); why != "" {
				p.block("%s", why)
			}
		}
		fds, err := scanFds(in.procRoot, pid)
		if err != nil {
			continue // the process exited while we looked
		}
		for _, f := range fds {
			of := OpenFile{Pid: pid, Use: "fd " + strconv.Itoa(f.fd), Host: f.link}
			of.Container, of.Deleted = translate(in.union, f.link)
			m, inContainer := byID[f.mntID]
			shared := false
			if inContainer {
				of.Mount = m.Mountpoint
				shared = sharedWithHost(m, p.Externals)
			}
			if n := fdLocks(in.procRoot, pid, f.fd); n > 0 {
				p.lockedFile(in.opts, pid, of, n, shared, !inContainer)
			}
			p.Files = append(p.Files, of)
			switch {
			case f.mqueue:
				// Its mount is the IPC namespace's internal one, never in the
				// container's table: not a host file, and no bind can help.
				p.block("pid %d holds POSIX message queue %s (%s): CRIU cannot checkpoint message queues (criu#2285): close it and receive its messages before the checkpoint", pid, f.link, of.Use)
			case !inContainer && isTTY(f.link) && !in.opts.ShellJob:
				p.block("pid %d holds terminal %s (%s) from outside the container: retry with --shell-job", pid, f.link, of.Use)
			case !inContainer && !isTTY(f.link) && !external[fmt.Sprintf("file[%x:%x]", f.mntID, f.ino)]:
				p.block("pid %d holds %s (%s) on a host mount the container does not have: bind-mount it in config.json or close it", pid, f.link, of.Use)
			case inContainer && of.Deleted:
				p.deletedFile(&in, pid, of, fmt.Sprintf("%s/%d/fd/%d", in.procRoot, pid, f.fd), m, shared)
			}
		}
		maps, err := scanMaps(in.procRoot, pid)
		if err != nil {
			continue
		}
		for _, mp := range maps {
			of := OpenFile{Pid: pid, Use: "map " + mp.addr, Host: mp.link}
			of.Container, of.Deleted = translate(in.union, mp.link)
			of.Mount = mountOf(in.mounts, of.Container)
			p.Files = append(p.Files, of)
			if of.Deleted {
				if m := mountAt(in.mounts, of.Mount); m != nil {
					p.deletedFile(&in, pid, of, fmt.Sprintf("%s/%d/map_files/%s", in.procRoot, pid, mp.addr), m, sharedWithHost(m, p.Externals))
				}
				continue
			}
			if of.Mount == "/" && !exists(filepath.Join(in.rootfs, of.Container)) {
				p.block("pid %d maps %s, which is not in the rootfs %s (a layer the restore will not see?)", pid, of.Container, in.rootfs)
			}
		}
	}
	if in.unixPeers != nil {
		ext := externalUnixSockets(in.unixPeers, in.hostPeers, in.procRoot, tree)
		for pid, socks := range ext {
			for _, s := range socks {
				if why := s.problem(in.opts.ExtUnixSk); why != "" {
					p.block("pid %d has unix socket socket:[%d] connected outside the container: %s", pid, s.ino, why)
				}
			}
		}
	}
	p.locksAnyTime(in.opts)
	p.Externals = append(p.Externals, p.treeExternals(&in)...)
	sort.Slice(p.Externals, func(i, j int) bool { return p.Externals[i].Dest < p.Externals[j].Dest })
	sort.Strings(p.Blockers)
	return p, nil
}

// treeExternals are the tmpfs mounts restore can make again from
// metadata (tmpfs.go), less any holding a deleted file a process still
// has open: it is in no tree.
func (p *Plan) treeExternals(in *planInput) []External {
	var out []External
	for _, e := range tmpfsExternals(in.spec, in.initPid, in.mounts, in.rootfs, p.Externals) {
		if !slices.ContainsFunc(p.Files, func(f OpenFile) bool { return f.Deleted && f.Mount == e.Dest }) {
			out = append(out, e)
		}
	}
	return out
}

func (p *Plan) block(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	for _, b := range p.Blockers {
		if b == msg {
			return
		}
	}
	p.Blockers = append(p.Blockers, msg)
}

// translate maps a link target to the container's view: a path inside a
// union layer becomes the container path; anything else (the kernel
// already prints container paths for a pivoted process) stays.
func translate(u *aufs.Union, link string) (string, bool) {
	if u != nil {
		if c, deleted, ok := u.ToContainerLink(link); ok {
			return c, deleted
		}
	}
	if s, ok := strings.CutSuffix(link, " (deleted)"); ok {
		return s, true
	}
	return link, false
}

// mountAt is the (topmost) container mount at mountpoint mp.
func mountAt(mounts []*mountinfo.Info, mp string) *mountinfo.Info {
	var found *mountinfo.Info
	for _, m := range mounts {
		if m.Mountpoint == mp {
			found = m
		}
	}
	return found
}

// mountOf is the mount point of the container mount holding path.
func mountOf(mounts []*mountinfo.Info, path string) string {
	best := ""
	for _, m := range mounts {
		mp := m.Mountpoint
		if (path == mp || strings.HasPrefix(path, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > len(best) {
			best = mp
		}
	}
	return best
}

type fdEntry struct {
	fd     int
	link   string
	mntID  int
	ino    uint64
	mqueue bool // a POSIX message queue (mq_open), by its file system
}

// mqueueMagic is the mqueue file system's statfs type (ipc/mqueue.c; not in
// the uapi headers).
const mqueueMagic = 0x19800202

// scanFds lists a process's fds that name paths (not pipes or sockets).
func scanFds(procRoot string, pid int) ([]fdEntry, error) {
	dir := fmt.Sprintf("%s/%d/fd", procRoot, pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []fdEntry
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		link, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil || !strings.HasPrefix(link, "/") {
			continue
		}
		f := fdEntry{fd: fd, link: link}
		f.mntID, _ = fdMountIDAt(procRoot, pid, fd)
		var st unix.Stat_t
		if unix.Stat(filepath.Join(dir, e.Name()), &st) == nil {
			f.ino = st.Ino
		}
		var fs unix.Statfs_t
		if unix.Statfs(filepath.Join(dir, e.Name()), &fs) == nil && fs.Type == mqueueMagic {
			f.mqueue = true
		}
		out = append(out, f)
	}
	return out, nil
}

type mapEntry struct{ addr, link string }

// scanMaps lists the file-backed mappings of a process, one per file.
func scanMaps(procRoot string, pid int) ([]mapEntry, error) {
	dir := fmt.Sprintf("%s/%d/map_files", procRoot, pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []mapEntry
	for _, e := range ents {
		link, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil || seen[link] || !strings.HasPrefix(link, "/") || specialMapping(link) {
			continue
		}
		seen[link] = true
		out = append(out, mapEntry{addr: e.Name(), link: link})
	}
	return out, nil
}

// specialMapping: memory the kernel names like a path but that is no
// file of the rootfs (CRIU dumps these itself).
func specialMapping(link string) bool {
	for _, p := range []string{"/memfd:", "/SYSV", "/dev/zero", "/anon_hugepage", "/[", "/dmabuf"} {
		if strings.HasPrefix(link, p) {
			return true
		}
	}
	return false
}

func isTTY(link string) bool {
	return strings.HasPrefix(link, "/dev/pts/") || strings.HasPrefix(link, "/dev/tty") || link == "/dev/console"
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// String renders the plan for people (`checkpoint --dry-run`).
func (p *Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "checkpoint plan for %s\n", p.ID)
	kind := "plain directory"
	if p.Union != nil {
		kind = p.Union.Kind.String()
	}
	fmt.Fprintf(&b, "rootfs: %s (%s)\n", p.Rootfs, kind)
	if p.Union != nil {
		for i, l := range p.Union.Layers {
			fmt.Fprintf(&b, "  layer %d: %s (%s)\n", i, l.Path, l.Perm)
		}
	}
	fmt.Fprintf(&b, "external mounts:\n")
	for _, e := range p.Externals {
		src := e.Kind
		if e.Controller != "" {
			src += " " + e.Controller
		}
		if e.HostPath != "" {
			src += " " + e.HostPath
		}
		if e.Tree != nil {
			src += fmt.Sprintf(", %d inodes recreated at restore", len(e.Tree.Entries))
		}
		fmt.Fprintf(&b, "  %s (%s)\n", e.Dest, src)
	}
	fmt.Fprintf(&b, "stdio: %s\n", strings.Join(p.Stdio, " "))
	if p.LoopbackOnlyNet {
		fmt.Fprintf(&b, "network: own namespace with only lo: not dumped, recreated at restore\n")
	}
	if len(p.ExternalNamespaces) > 0 {
		fmt.Fprintf(&b, "namespaces joined by path: %s: not dumped, the restoring bundle names where to restore\n", strings.Join(p.ExternalNamespaces, " "))
	}
	fmt.Fprintf(&b, "mapped and open files:\n")
	for _, f := range p.Files {
		line := fmt.Sprintf("  pid %d %s: %s", f.Pid, f.Use, f.Host)
		if f.Container != "" && f.Container != f.Host {
			line += " -> " + f.Container
		}
		if f.Deleted {
			line += " (deleted)"
		}
		if f.Mount == "" {
			line += " [outside the container]"
		}
		fmt.Fprintln(&b, line)
	}
	for _, w := range p.Auto.Why {
		fmt.Fprintf(&b, "turned on: %s\n", w)
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	if len(p.Blockers) == 0 {
		fmt.Fprintf(&b, "blockers: none\n")
	} else {
		fmt.Fprintf(&b, "blockers:\n")
		for _, bl := range p.Blockers {
			fmt.Fprintf(&b, "  %s\n", bl)
		}
	}
	return b.String()
}

// descendsFrom: pid is root or one of its descendants (following PPid).
// known is false when the chain could not be read: a process on it
// exited meanwhile.
func descendsFrom(procRoot string, pid, root int) (in, known bool) {
	for i := 0; i < 4096 && pid > 1; i++ {
		if pid == root {
			return true, true
		}
		parent, ok := ppid(procRoot, pid)
		if !ok {
			return false, false
		}
		pid = parent
	}
	return pid == root, true
}

func ppid(procRoot string, pid int) (int, bool) {
	data, err := os.ReadFile(fmt.Sprintf("%s/%d/status", procRoot, pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "PPid:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			return n, err == nil
		}
	}
	return 0, false
}

func comm(procRoot string, pid int) string {
	data, _ := os.ReadFile(fmt.Sprintf("%s/%d/comm", procRoot, pid))
	return strings.TrimSpace(string(data))
}
