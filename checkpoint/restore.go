package checkpoint

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/checkpoint-restore/go-criu/v7/rpc"
	criustats "github.com/checkpoint-restore/go-criu/v7/stats"
	"github.com/moby/sys/mountinfo"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/stasis-oci/stasis/aufs"
	"github.com/stasis-oci/stasis/cgroupmgr"
	"github.com/stasis-oci/stasis/internal/faults"
	"github.com/stasis-oci/stasis/lifecycle"
	"github.com/stasis-oci/stasis/rootfs"
	"github.com/stasis-oci/stasis/spec"
)

// fileLocksImage is the image CRIU writes the dumped file locks to.
const fileLocksImage = "filelocks.img"

// RestoreOptions are restore's flags.
type RestoreOptions struct {
	Common
	TCPClose        bool
	LsmProfile      string
	LsmMountContext string
	ID              string
	Bundle          string
	PidFile         string
	ConsoleSocket   string
	// Console, if set, receives the pty master instead of ConsoleSocket
	// (a foreground restore's own tty proxy).
	Console *os.File
	// ConsoleSize, if set, is given to the restored pty before its
	// processes run again (a foreground restore's own terminal size):
	// else they would start on the checkpointed terminal's size and see
	// the caller's only once the proxy has started.
	ConsoleSize *unix.Winsize
	// NoRemount keeps restore from mounting a recorded union rootfs again.
	NoRemount bool
	// Import, if set, is the archive (export.go) to restore from, "-"
	// for stdin, instead of the image dir.
	Import string
}

// RestoreStats are CRIU's restore statistics (times in microseconds).
type RestoreStats struct {
	ForkingTime   uint32 `json:"forking_time_us"`
	RestoreTime   uint32 `json:"restore_time_us"`
	PagesRestored uint64 `json:"pages_restored"`
}

func (s *RestoreStats) String() string {
	return fmt.Sprintf("forking %.1f ms, restore %.1f ms; pages restored %d", ms(s.ForkingTime), ms(s.RestoreTime), s.PagesRestored)
}

// Restored is what a restore produced.
type Restored struct {
	Pid      int
	Stats    *RestoreStats
	Terminal bool // the pty master went to the console socket / Console
}

// Restore brings a checkpoint back as container o.ID, with the bundle at
// o.Bundle (which may differ from the checkpointed one, as long as its
// rootfs holds the same files). lifecycle makes the container around
// CRIU's work (lifecycle/restore.go: id, cgroups with the NEW bundle's
// limits, hooks, state, clean-up); this side only drives CRIU. The
// restored init is our child (CRIU's rst_sibling), so a foreground
// restore can wait for it.
func Restore(store *lifecycle.Store, o *RestoreOptions) (res *Restored, err error) {
	if o.Import != "" {
		return Import(store, o)
	}
	return restoreWith(store, o, nil)
}

// imported is how a restore from an archive differs: the source's union
// layers are not this host's (the bundle's rootfs is the base), and the
// archive's rootfs changes go onto the rootfs once it is there.
type imported struct {
	applyDiff func(rootfs string) error
}

func restoreWith(store *lifecycle.Store, o *RestoreOptions, imp *imported) (res *Restored, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("restore %s: %w", o.ID, err)
		}
	}()
	if err := o.check("/sys"); err != nil {
		return nil, err
	}
	if err := resolveDirs(&o.Common); err != nil {
		return nil, err
	}
	meta, err := readMetadata(o.ImagePath)
	if err != nil {
		return nil, err
	}
	if imp != nil {
		meta.Union = nil
	}
	if err := cgroupModeFor(meta, &o.Common); err != nil {
		return nil, err
	}
	warnings, err := checkImage(meta, thisHost(o.Bundle), o.ManageCgroups)
	if err != nil {
		return nil, err
	}
	// Said once CRIU is done: a stderr that is a file the container
	// writes to is handed to CRIU, which refuses it if it grew since
	// the checkpoint ("File fd/2 has bad size").
	defer func() {
		for _, w := range warnings {
			lifecycle.Warn("restore %s: %s", o.ID, w)
		}
	}()
	// Before anything is made: a bundle that names no namespace for one
	// the checkpoint left out cannot be restored (restoreInto checks the
	// spec lifecycle loads again).
	if sp, err := spec.Decode(o.Bundle); err == nil {
		if err := checkExternalNamespaces(meta, sp); err != nil {
			return nil, err
		}
	}
	if meta.Terminal && o.ConsoleSocket == "" && o.Console == nil {
		return nil, errors.New("the checkpointed container has a terminal: restore -d needs --console-socket to send it to (or restore in the foreground, onto this terminal)")
	}
	var stats *RestoreStats
	c, err := store.Restore(lifecycle.RestoreOpts{
		ID: o.ID, Bundle: o.Bundle, PidFile: o.PidFile,
		Prepare: func(rootfs string) (bool, error) {
			mounted, err := remountUnion(meta.Union, rootfs, o.NoRemount)
			if err != nil || imp == nil {
				return mounted, err
			}
			if err := imp.applyDiff(rootfs); err != nil {
				return false, fmt.Errorf("rootfs changes onto %s: %w", rootfs, err)
			}
			return mounted, nil
		},
	}, func(r *lifecycle.Restoring) (int, error) {
		var pid int
		var err error
		// The restore runs on a thread of its own with a private mount
		// namespace (see withPrivateMounts); everything else waits for it.
		done := make(chan struct{})
		go func() {
			defer close(done)
			pid, stats, err = withPrivateMounts(func() (int, *RestoreStats, error) {
				// CRIU works in its cwd (the work dir, through our fd): the
				// fds must be opened inside the private mount namespace, or
				// the kernel refuses CRIU's mounts there (EINVAL).
				imageDir, workDir, err := openDirs(&o.Common)
				if err != nil {
					return 0, nil, err
				}
				defer imageDir.Close()
				defer workDir.Close()
				criuImages := imageDir
				if restoresIntoUserNS(meta, r.Spec) {
					imgs, done, err := readableImages(imageDir, r.Dir)
					if err != nil {
						return 0, nil, err
					}
					defer done()
					criuImages = imgs
				}
				return restoreInto(r, meta, o, imageDir, criuImages, workDir)
			})
		}()
		<-done
		return pid, err
	})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if stats != nil {
		_ = writeJSON(filepath.Join(o.ImagePath, "restore-"+statsFile), stats)
	}
	return &Restored{Pid: c.State().Pid, Stats: stats, Terminal: meta.Terminal}, nil
}

// cgroupModeFor makes an ignore checkpoint restore with ignore: CRIU
// recorded only its processes' old cgroup paths (no tree it could map
// onto the new cgroups) and, told to manage cgroups, moves them there:
// "Can't move 1 into unified//<old id>/cgroup.procs".
func cgroupModeFor(meta *Metadata, o *Common) error {
	if meta.ManageCgroups != "ignore" {
		return nil
	}
	switch o.ManageCgroups {
	case "", "ignore":
		o.ManageCgroups = "ignore"
		return nil
	}
	return fmt.Errorf("--manage-cgroups-mode %s: the checkpoint was made with --manage-cgroups-mode ignore and records no cgroups CRIU could restore: restore it with ignore (what restore does without the flag)", o.ManageCgroups)
}

// remountUnion mounts the checkpointed container's union rootfs again at
// the bundle's rootfs when nothing is mounted there (Docker and containerd
// mount it themselves; a bare bundle dir after a reboot has no mount).
// The mount is made in the host's namespace, for the container's life,
// and recorded so delete unmounts it. With off (--no-remount) the mount
// is the caller's job: a rootfs that is not mounted is refused here,
// before anything is made, instead of handing CRIU an empty directory.
func remountUnion(u *aufs.Union, rootfs string, off bool) (bool, error) {
	if u == nil {
		return false, nil
	}
	mounted, err := mountinfo.Mounted(rootfs)
	if err != nil {
		return false, fmt.Errorf("check rootfs %s: %w", rootfs, err)
	}
	if mounted {
		return false, nil
	}
	if off {
		return false, fmt.Errorf("rootfs %s is not mounted and --no-remount was given: mount the checkpoint's %s rootfs there yourself (%s), or restore without --no-remount", rootfs, u.Kind, layerList(u))
	}
	for _, l := range u.Layers {
		if _, err := os.Stat(l.Path); err != nil {
			return false, fmt.Errorf("rootfs %s is not mounted and the checkpoint's %s layer %s is gone: mount the rootfs yourself", rootfs, u.Kind, l.Path)
		}
	}
	if err := u.Remount(rootfs); err != nil {
		return false, fmt.Errorf("mount the checkpoint's %s rootfs at %s again: %w", u.Kind, rootfs, err)
	}
	return true, nil
}

// withPrivateMounts runs fn on a locked thread that has its own mount
// namespace, where the rootfs is bind-mounted for CRIU: nothing of it
// can leak to the host's mount table, even if stasis dies midway. The
// thread is never unlocked, so Go discards it (and the namespace) after.
func withPrivateMounts(fn func() (int, *RestoreStats, error)) (int, *RestoreStats, error) {
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_FS); err != nil {
		return 0, nil, fmt.Errorf("private mount namespace for restore: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return 0, nil, fmt.Errorf("private mount namespace for restore: %w", err)
	}
	return fn()
}

// restoreInto restores into the new container. CRIU reads the images
// from criuImages (imageDir, or readableImages's private view of it);
// its log is kept in imageDir.
func restoreInto(r *lifecycle.Restoring, meta *Metadata, o *RestoreOptions,
	imageDir, criuImages, workDir *os.File) (int, *RestoreStats, error) {
	sp, cg := r.Spec, r.Cgroup
	if err := rootfs.CreateMountpoints(r.Rootfs, sp.Mounts); err != nil {
		return 0, nil, err
	}
	// CRIU wants the root it restores into to be a mount point.
	criuRoot := filepath.Join(r.Dir, "criu-root")
	if err := os.Mkdir(criuRoot, 0o755); err != nil {
		return 0, nil, fmt.Errorf("create criu root: %w", err)
	}
	if err := unix.Mount(r.Rootfs, criuRoot, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return 0, nil, fmt.Errorf("bind rootfs %s for criu: %w", r.Rootfs, err)
	}

	opts, err := baseOpts(&o.Common, criuImages, workDir, "restore.log", criuRoot)
	if err != nil {
		return 0, nil, err
	}
	opts.RstSibling = proto.Bool(true)
	// CRIU dumps file locks only with file_locks, and restores them only
	// with it too: without, the process comes back believing it holds a
	// lock nobody holds. The images say whether the dump took any.
	if _, err := os.Stat(filepath.Join(imageDir.Name(), fileLocksImage)); err == nil {
		opts.FileLocks = proto.Bool(true)
	}
	opts.TcpClose = proto.Bool(o.TCPClose)
	opts.OrphanPtsMaster = proto.Bool(meta.Terminal)
	if o.LsmProfile != "" {
		opts.LsmProfile = proto.String(o.LsmProfile)
	}
	if o.LsmMountContext != "" {
		opts.LsmMountContext = proto.String(o.LsmMountContext)
	}
	if cf := configFile(sp.Annotations); cf != "" {
		opts.ConfigFile = proto.String(cf)
	}
	// Stdio: each pipe the container wrote to at checkpoint is replaced by
	// the fd we were started with (containerd's new pipes), so output keeps
	// flowing after restore, and after the next one.
	for i, d := range meta.Descriptors {
		if inheritedStdio(d) {
			opts.InheritFd = append(opts.InheritFd, &rpc.InheritFd{Key: proto.String(d), Fd: proto.Int32(int32(i))})
		}
	}
	// The namespaces the container joined by path go to those the bundle
	// names: network and pid as CRIU's inherit-fds, ipc and uts by
	// running CRIU in them (extns.go).
	if err := checkExternalNamespaces(meta, sp); err != nil {
		return 0, nil, err
	}
	external := meta.externalNamespaces()
	var extra []*os.File
	for _, ext := range []struct {
		typ specs.LinuxNamespaceType
		key string
	}{{specs.NetworkNamespace, extNetNSKey}, {specs.PIDNamespace, extPidNSKey}} {
		if !hasString(external, string(ext.typ)) {
			continue
		}
		f, err := os.Open(nsPathOf(sp, ext.typ))
		if err != nil {
			return 0, nil, fmt.Errorf("open the %s namespace: %w", ext.typ, err)
		}
		defer f.Close()
		opts.InheritFd = append(opts.InheritFd, &rpc.InheritFd{Key: proto.String(ext.key), Fd: proto.Int32(criuExtraFd(len(extra)))})
		extra = append(extra, f)
	}
	criuNS, err := openCriuNamespaces(external, func(t specs.LinuxNamespaceType) string { return nsPathOf(sp, t) })
	if err != nil {
		return 0, nil, err
	}
	if meta.CRIUNetNS {
		f, err := newLoopbackNetNS()
		if err != nil {
			closeNamespaces(criuNS)
			return 0, nil, err
		}
		criuNS = append(criuNS, nsFile{typ: specs.NetworkNamespace, flag: unix.CLONE_NEWNET, f: f})
	}
	defer closeNamespaces(criuNS)

	var sw *swrk
	if err := inNamespaces(criuNS, func() (err error) {
		sw, err = startSwrk(o.CriuPath, [3]*os.File{os.Stdin, os.Stdout, os.Stderr}, extra)
		return err
	}); err != nil {
		if sw != nil {
			sw.close()
		}
		return 0, nil, err
	}
	// CRIU itself joins the new cgroups, and cg_root tells it to restore
	// the container's cgroup tree there instead of at the old paths. The
	// join's first cgroup.procs write waits for an RCU grace period
	// (~10 ms here), so it runs beside the version handshake and the
	// tmpfs trees, which do not need the cgroups; what follows does.
	criuPid := sw.cmd.Process.Pid
	joined := make(chan error, 1)
	go func() { joined <- r.Join(criuPid) }()
	joinErr := sync.OnceValue(func() error { return <-joined })
	// Every failure from here waits for the join: the undo removes the
	// cgroups it writes into.
	fail := func(err error) (int, *RestoreStats, error) {
		joinErr()
		sw.close()
		return 0, nil, err
	}
	if have, err := criuVersion(sw); err == nil {
		if err := checkCriuVersion(meta, have); err != nil {
			return fail(err)
		}
	}
	exts := meta.Externals
	if meta.Foreign != "" {
		exts = foreignExternals(sp, hostCgroupMounts())
		trees, err := readTrees(o.ImagePath)
		if err != nil {
			return fail(err)
		}
		exts = append(exts, trees...)
	}
	if exts, err = makeTrees(exts, r.Dir); err != nil {
		return fail(err)
	}
	if err := joinErr(); err != nil {
		return fail(err)
	}
	// The cgroup mounts' sources are the cgroups the join made.
	if opts.External, err = restoreExternals(exts, sp, cg); err != nil {
		return fail(err)
	}
	if opts.CgRoot, err = cgroupRoots(criuPid); err != nil {
		return fail(err)
	}
	if opts.GetManageCgroupsMode() != rpc.CriuCgMode_IGNORE {
		yard, done, err := makeRestoreYard(r.Dir)
		if err != nil {
			return fail(fmt.Errorf("cgroup yard for criu: %w", err))
		}
		if yard != "" {
			defer done()
			opts.CgroupYard = proto.String(yard)
			lifecycle.Debug("restore %s: criu reaches the host's cgroups through the yard %s", o.ID, yard)
		}
	}

	if meta.LoopbackOnlyNet {
		skipNetwork(opts)
	}
	if meta.EmptyNetNS {
		opts.EmptyNs = proto.Uint32(opts.GetEmptyNs() | unix.CLONE_NEWNET)
	}
	// A namespace CRIU made and left empty has lo down; a joined one
	// (ExternalNetNS) is its owner's to set up.
	// (CRIUNetNS: CRIU runs in one with lo up already.)
	loUp := meta.LoopbackOnlyNet && !meta.CRIUNetNS || meta.EmptyNetNS && !meta.ExternalNetNS
	var console *consoleSender
	if meta.Terminal {
		console = &consoleSender{path: o.ConsoleSocket, conn: o.Console, size: o.ConsoleSize}
	}
	var initPid int
	faults.Point("restore.before-criu")
	t := rpc.CriuReqType_RESTORE
	resp, callErr := sw.call(&rpc.CriuReq{Type: &t, Opts: opts}, func(n notification) error {
		// The namespaces exist, nothing is restored into them yet: the
		// moment to give a network namespace CRIU left empty its lo.
		// runc runs prestart and createRuntime here too.
		if n.Script == "setup-namespaces" {
			initPid = int(n.Pid)
			if loUp {
				if err := loopbackUpIn(int(n.Pid)); err != nil {
					return err
				}
			}
			return r.NamespacesReady(int(n.Pid))
		}
		if n.Script == "pre-resume" {
			if err := r.BeforeResume(initPid); err != nil {
				return err
			}
			// The tasks are about to run: the last moment to size
			// their terminal (CRIU set the checkpoint's size on it
			// after sending us the master).
			if console != nil {
				if err := console.resize(); err != nil {
					return err
				}
			}
			// The tasks are restored and stopped: no read of theirs
			// races this (see timerfd.go).
			if pids, err := cg.Pids(); err == nil {
				if err := rearmTimerfds("/proc", pids); err != nil {
					return err
				}
			}
			// Right after this CRIU writes the dumped freezer.state into
			// the container's v1 freezer when it restores cgroup
			// properties (full mode); as CRIU is in that cgroup too,
			// FROZEN would freeze CRIU itself and the restore would
			// never end. Every restored task is in place by now: CRIU
			// goes back to ours.
			if cgroupmgr.DetectMode() != cgroupmgr.Unified && cg.Path("freezer") != "" {
				return cgroupmgr.EnterOwn(criuPid, "freezer")
			}
		}
		if n.Script == "orphan-pts-master" && n.Fd != nil {
			defer n.Fd.Close()
			if console == nil {
				return errors.New("criu sent a pty master but the container has no terminal")
			}
			return console.send(n.Fd)
		}
		return nil
	})
	closeErr := sw.close()
	if console != nil && console.master != nil {
		console.master.Close() // CRIU failed before pre-resume
	}
	if callErr != nil || closeErr != nil {
		return 0, nil, explain("restore", errors.Join(callErr, closeErr), filepath.Join(workDir.Name(), "restore.log"),
			filepath.Join(imageDir.Name(), "criu-restore.log"))
	}
	pid := int(resp.GetRestore().GetPid())
	if pid <= 0 {
		return 0, nil, errors.New("criu restored no process")
	}
	// A failure from here on is undone by lifecycle killing everything in
	// the container's cgroups.
	faults.Point("restore.after-criu")
	// A FROZEN state CRIU restored is stasis's own freeze before the dump
	// unless the container was paused then: a running one runs again.
	if !meta.Paused {
		if frozen, err := cg.Frozen(); err == nil && frozen {
			if err := cg.Thaw(); err != nil {
				return 0, nil, fmt.Errorf("thaw the restored container: %w", err)
			}
		}
	}
	return pid, readRestoreStats(criuImages, workDir), nil
}

// cgroupRoots reads CRIU's cgroups (the new container's, it was just put
// there) as cg_root entries: one per v1 hierarchy, and the v2 one as the
// entry without a controller, which CRIU applies to every hierarchy not
// named (on a hybrid host, the unified one; on a pure v2 host, all).
// Without it, a hybrid host's v2 membership would be restored at the
// checkpointed container's path.
func cgroupRoots(criuPid int) ([]*rpc.CgroupRoot, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/cgroup", criuPid))
	if err != nil {
		return nil, fmt.Errorf("read criu's cgroups: %w", err)
	}
	defer f.Close()
	var roots []*rpc.CgroupRoot
	var unified string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			unified = parts[2]
			continue
		}
		roots = append(roots, &rpc.CgroupRoot{Ctrl: proto.String(parts[1]), Path: proto.String(parts[2])})
	}
	if unified != "" {
		roots = append(roots, &rpc.CgroupRoot{Path: proto.String(unified)})
	}
	return roots, sc.Err()
}

// restoreExternals maps each external mount of the checkpoint to its
// source on this host, for this bundle and this container's cgroups.
// cgroupPaths is the one thing restoreExternals needs of a cgroup manager.
type cgroupPaths interface {
	Path(controller string) string
}

func restoreExternals(exts []External, sp *specs.Spec, cg cgroupPaths) ([]string, error) {
	var out []string
	for _, e := range exts {
		var src string
		switch e.Kind {
		case "bind":
			want := e.Dest
			if e.SpecDest != "" {
				want = e.SpecDest
			}
			for _, m := range sp.Mounts {
				if spec.IsBind(m) && filepath.Clean(m.Destination) == want {
					src = m.Source
				}
			}
			if src == "" {
				return nil, fmt.Errorf("the checkpoint has a bind mount on %s that the bundle's config.json lacks: add it to mounts", want)
			}
		case "cgroup":
			src = cgroupSource(cg, e.Controller)
			if src == "" {
				return nil, fmt.Errorf("the checkpoint mounts the %q cgroup hierarchy on %s, which this host lacks", e.Controller, e.Dest)
			}
		case "host":
			src = e.HostPath
		case "tmpfs":
			src = e.made
			if src == "" {
				return nil, fmt.Errorf("the tmpfs on %s was not made again", e.Dest)
			}
		default:
			return nil, fmt.Errorf("checkpoint metadata: unknown external mount kind %q", e.Kind)
		}
		if _, err := os.Stat(src); err != nil {
			return nil, fmt.Errorf("source of mount %s: %w", e.Dest, err)
		}
		out = append(out, extMountKey(e.Dest)+":"+src)
	}
	return out, nil
}

func cgroupSource(cg cgroupPaths, controller string) string {
	if p := cg.Path(controller); p != "" {
		return p
	}
	for _, c := range strings.Split(controller, ",") {
		if p := cg.Path(c); p != "" {
			return p
		}
	}
	return ""
}

func newPidNS(sp *specs.Spec) bool {
	if sp.Linux == nil {
		return false
	}
	for _, ns := range sp.Linux.Namespaces {
		if ns.Type == specs.PIDNamespace {
			return ns.Path == ""
		}
	}
	return false
}

func readRestoreStats(dirs ...*os.File) *RestoreStats {
	for _, d := range dirs {
		s, err := criustats.CriuGetRestoreStats(d)
		if err == nil && s != nil {
			return &RestoreStats{ForkingTime: s.GetForkingTime(), RestoreTime: s.GetRestoreTime(), PagesRestored: s.GetPagesRestored()}
		}
	}
	return nil
}

// consoleSender passes the restored pty master on, as create does.
type consoleSender struct {
	path string
	conn *os.File
	// size is set on master, our copy of what was sent, by resize.
	size   *unix.Winsize
	master *os.File
}

// resize gives the restored terminal its size, once, and lets our copy
// of the master go.
func (c *consoleSender) resize() error {
	if c.master == nil {
		return nil
	}
	defer func() { c.master.Close(); c.master = nil }()
	if err := unix.IoctlSetWinsize(int(c.master.Fd()), unix.TIOCSWINSZ, c.size); err != nil {
		return fmt.Errorf("set the restored terminal's window size: %w", err)
	}
	return nil
}

func (c *consoleSender) send(master *os.File) error {
	if c.size != nil {
		fd, err := unix.FcntlInt(master.Fd(), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("keep the restored pty master: %w", err)
		}
		c.master = os.NewFile(uintptr(fd), "pty-master")
	}
	conn := c.conn
	if conn == nil {
		f, err := lifecycle.DialConsole(c.path)
		if err != nil {
			return err
		}
		defer f.Close()
		conn = f
	}
	return unix.Sendmsg(int(conn.Fd()), []byte("/dev/ptmx"), unix.UnixRights(int(master.Fd())), nil, 0)
}

// layerList names a union's layers for a message: "layers: A (upper), B (lower)".
func layerList(u *aufs.Union) string {
	parts := make([]string, len(u.Layers))
	for i, l := range u.Layers {
		parts[i] = fmt.Sprintf("%s (%s)", l.Path, l.Perm)
	}
	return "layers: " + strings.Join(parts, ", ")
}
