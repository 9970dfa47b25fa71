package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/checkpoint-restore/go-criu/v7/rpc"
	criustats "github.com/checkpoint-restore/go-criu/v7/stats"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/stasis-oci/stasis/aufs"
	"github.com/stasis-oci/stasis/cgroupmgr"
	"github.com/stasis-oci/stasis/internal/faults"
	"github.com/stasis-oci/stasis/lifecycle"
)

// DumpStats are CRIU's dump statistics (times in microseconds).
type DumpStats struct {
	FreezingTime       uint32 `json:"freezing_time_us"`
	FrozenTime         uint32 `json:"frozen_time_us"`
	MemdumpTime        uint32 `json:"memdump_time_us"`
	MemwriteTime       uint32 `json:"memwrite_time_us"`
	PagesScanned       uint64 `json:"pages_scanned"`
	PagesSkippedParent uint64 `json:"pages_skipped_parent"`
	PagesWritten       uint64 `json:"pages_written"`
	// HeldFrozen is how long stasis kept the container frozen: from its
	// own freeze until CRIU answered (CRIU's FrozenTime starts later, at
	// its seize, and ends earlier).
	HeldFrozen uint32 `json:"held_frozen_us,omitempty"`
}

func (s *DumpStats) String() string {
	held := ""
	if s.HeldFrozen > 0 {
		held = fmt.Sprintf(", held frozen %.1f ms", ms(s.HeldFrozen))
	}
	return fmt.Sprintf("frozen %.1f ms (freezing %.1f ms%s), memory dump %.1f ms, write %.1f ms; pages scanned %d, written %d, skipped (parent) %d",
		ms(s.FrozenTime), ms(s.FreezingTime), held, ms(s.MemdumpTime), ms(s.MemwriteTime), s.PagesScanned, s.PagesWritten, s.PagesSkippedParent)
}

func ms(us uint32) float64 { return float64(us) / 1000 }

// Checkpoint freezes container id into CRIU images at o.ImagePath. Unless
// it leaves the container running (or only pre-dumps), the container is
// then gone, its resources released, as runc does.
func Checkpoint(store *lifecycle.Store, id string, o *CheckpointOptions) (stats *DumpStats, err error) {
	if o.Export != "" {
		return Export(store, id, o)
	}
	return checkpointWith(store, id, o, nil)
}

// whileFrozen runs once CRIU dumped the container and before it runs
// again (with --leave-running) or is removed: what it reads of the
// container is as the images have it.
type whileFrozen func(c *lifecycle.Container, meta *Metadata) error

func checkpointWith(store *lifecycle.Store, id string, o *CheckpointOptions, frozen whileFrozen) (stats *DumpStats, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("checkpoint %s: %w", id, err)
		}
	}()
	if err := o.check(); err != nil {
		return nil, err
	}
	c, err := checkpointable(store, id)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	st := c.State()
	sp := st.Config

	imageDir, workDir, err := openDirs(&o.Common)
	if err != nil {
		return nil, err
	}
	defer imageDir.Close()
	defer workDir.Close()

	opts, err := baseOpts(&o.Common, imageDir, workDir, "dump.log", st.Rootfs)
	if err != nil {
		return nil, err
	}
	opts.LinkRemap = proto.Bool(o.LinkRemap)
	if o.PageServer != "" {
		addr, p, err := pageServer(o.PageServer)
		if err != nil {
			return nil, err
		}
		opts.Ps = &rpc.CriuPageServerInfo{Address: proto.String(addr), Port: proto.Int32(p)}
	}
	opts.Pid = proto.Int32(int32(st.Pid))
	opts.LeaveRunning = proto.Bool(o.LeaveRunning || o.PreDump)
	opts.TcpSkipInFlight = proto.Bool(o.TCPSkipInFlight)
	opts.OrphanPtsMaster = proto.Bool(sp.Process.Terminal)
	if o.ParentPath != "" {
		opts.ParentImg = proto.String(o.ParentPath)
		// Without tracking, CRIU dumps every page again and the parent
		// buys nothing (mem.c: a page is in the parent only with
		// track_mem); pre-dump turns it on by itself, a dump does not.
		opts.TrackMem = proto.Bool(true)
	}
	if cf := configFile(sp.Annotations); cf != "" {
		opts.ConfigFile = proto.String(cf)
	}
	// CRIU freezes through the freezer cgroup: atomic for the whole tree,
	// and it works on a paused container too.
	cg, err := c.Cgroup()
	if err != nil {
		return nil, err
	}
	if p := cg.Path("freezer"); p != "" {
		opts.FreezeCgroup = proto.String(p)
	} else if cgroupmgr.DetectMode() == cgroupmgr.Unified {
		opts.FreezeCgroup = proto.String(cg.Path(""))
	}

	plan, err := planFor(c, o)
	if err != nil {
		return nil, err
	}
	for _, w := range plan.Warnings {
		lifecycle.Warn("checkpoint %s: %s", id, w)
	}
	if len(plan.Blockers) > 0 {
		more := ""
		if n := len(plan.Blockers) - 1; n > 0 {
			more = fmt.Sprintf(" (and %d more: see checkpoint --dry-run)", n)
		}
		return nil, fmt.Errorf("cannot checkpoint: %s%s", plan.Blockers[0], more)
	}
	// What the plan decided for the container's own files (auto.go). File
	// locks it turns on whatever it saw: the locks are read again at the
	// freeze (frozenLocks, below).
	if plan.Auto.FileLocks {
		opts.FileLocks = proto.Bool(true)
	}
	if plan.Auto.LinkRemap {
		opts.LinkRemap = proto.Bool(true)
	}
	if plan.Auto.GhostLimit > 0 {
		opts.GhostLimit = proto.Uint32(plan.Auto.GhostLimit)
	}
	meta := &Metadata{
		ID: id, StasisVersion: o.StasisVersion, Kernel: kernelRelease(), Arch: goArch,
		CgroupMode: cgroupModeName(), Bundle: st.Bundle,
		ConfigDigest:  fileDigest(filepath.Join(st.Bundle, "config.json")),
		Externals:     plan.Externals,
		Terminal:      sp.Process.Terminal,
		Paused:        c.Status() == lifecycle.Paused,
		ManageCgroups: o.ManageCgroups,
		Union:         plan.Union,
		Descriptors:   plan.Stdio,

		LoopbackOnlyNet: plan.LoopbackOnlyNet,
		UserNS:          ownUserNS(st.Pid),
		EmptyNetNS:      opts.GetEmptyNs()&unix.CLONE_NEWNET != 0,
	}
	// Before anything is written or frozen: metadata restore could not
	// use is no checkpoint.
	if err := meta.checkPaths(); err != nil {
		return nil, fmt.Errorf("cannot checkpoint: metadata: %w", err)
	}
	if plan.LoopbackOnlyNet {
		skipNetwork(opts)
	}
	// A tmpfs made again from its tree (tmpfs.go) must hold at the freeze
	// what the plan read: checked at the pre-dump notification, right
	// after stasis freezes. Without that freeze (no freezer; a pre-dump,
	// which dumps no mounts) CRIU dumps them all. A paused container
	// was frozen already when the plan read them.
	paused := c.Status() == lifecycle.Paused
	if o.PreDump || (!paused && opts.FreezeCgroup == nil) {
		meta.Externals = withoutTrees(meta.Externals)
	}
	for _, e := range meta.Externals {
		opts.External = append(opts.External, extMountKey(e.Dest)+":"+e.Dest)
	}
	// Namespaces joined by path are not the container's to dump (see
	// extns.go): network and pid CRIU is told are external, ipc and uts
	// it is run inside.
	meta.ExternalNamespaces = plan.ExternalNamespaces
	for _, ext := range []struct {
		typ specs.LinuxNamespaceType
		key string
	}{{specs.NetworkNamespace, extNetNSKey}, {specs.PIDNamespace, extPidNSKey}} {
		if !hasString(meta.ExternalNamespaces, string(ext.typ)) {
			continue
		}
		name := nsProcName[ext.typ]
		ino, err := nsInode(fmt.Sprintf("/proc/%d/ns/%s", st.Pid, name))
		if err != nil {
			return nil, fmt.Errorf("read the %s namespace: %w", ext.typ, err)
		}
		opts.External = append(opts.External, fmt.Sprintf("%s[%d]:%s", name, ino, ext.key))
	}
	meta.ExternalNetNS = hasString(meta.ExternalNamespaces, string(specs.NetworkNamespace))
	criuNS, err := openCriuNamespaces(meta.ExternalNamespaces, func(t specs.LinuxNamespaceType) string {
		return fmt.Sprintf("/proc/%d/ns/%s", st.Pid, nsProcName[t])
	})
	if err != nil {
		return nil, err
	}
	if plan.LoopbackOnlyNet && criuMayShareNet(o, meta) {
		f, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", st.Pid))
		if err != nil {
			closeNamespaces(criuNS)
			return nil, fmt.Errorf("open the network namespace: %w", err)
		}
		criuNS = append(criuNS, nsFile{typ: specs.NetworkNamespace, flag: unix.CLONE_NEWNET, f: f})
		meta.CRIUNetNS = true
	}
	defer closeNamespaces(criuNS)
	for _, desc := range plan.Stdio {
		if strings.HasPrefix(desc, "file[") && !slices.Contains(opts.External, desc) {
			opts.External = append(opts.External, desc)
		}
	}
	if err := writeJSON(filepath.Join(imageDir.Name(), descriptorsFile), meta.Descriptors); err != nil {
		return nil, err
	}

	// CRIU reopens the status fd through /proc/<our pid>/fd, like the
	// image dir: it is our fd number, not one in CRIU's table.
	if o.StatusFd >= 0 {
		opts.StatusFd = proto.Int32(int32(o.StatusFd))
	}
	// A dump needs none of our stdio (CRIU logs to its log file), and
	// CRIU must not write into the caller's output.
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	// The host's cgroup mounts, so CRIU does not mount every hierarchy
	// while the container is frozen (cgyard.go).
	if opts.GetManageCgroupsMode() != rpc.CriuCgMode_IGNORE {
		yard, err := makeCgroupYard(st.Pid, c.Dir())
		if err != nil {
			return nil, fmt.Errorf("cgroup yard for criu: %w", err)
		}
		if yard != "" {
			defer os.RemoveAll(yard)
			opts.CgroupYard = proto.String(yard)
			lifecycle.Debug("checkpoint %s: criu opens the host's cgroup mounts through the yard %s", id, yard)
		}
	}
	// Back here once if a tree changed before the freeze, to dump with
	// CRIU doing those mounts itself.
retry:
	var sw *swrk
	if err := inNamespaces(criuNS, func() (err error) {
		sw, err = startSwrk(o.CriuPath, [3]*os.File{devnull, devnull, devnull}, nil)
		return err
	}); err != nil {
		if sw != nil {
			sw.close()
		}
		return nil, err
	}
	if v, err := criuVersion(sw); err == nil {
		meta.CriuVersion = v
	}
	// Iterative dumps need soft-dirty tracking; where the kernel lacks
	// it CRIU only reports "BUG at criu/mem.c:45".
	if o.PreDump || o.ParentPath != "" {
		if ok, err := memTrackSupported(sw); err == nil && !ok {
			sw.close()
			return nil, errors.New("--pre-dump and --parent-path need soft-dirty memory tracking, which this kernel does not offer (criu check --feature mem_dirty_track): checkpoint without them")
		}
	}
	if o.LazyPages {
		if err := lazyPagesPossible(); err != nil {
			sw.close()
			return nil, err
		}
	}
	reqType := rpc.CriuReqType_DUMP
	if o.PreDump {
		reqType = rpc.CriuReqType_PRE_DUMP
	}
	if err := writeMetadata(imageDir.Name(), meta); err != nil {
		sw.close()
		return nil, err
	}
	if err := writeTrees(imageDir.Name(), meta.Externals); err != nil {
		sw.close()
		return nil, err
	}
	// Freeze first ourselves: CRIU writes FROZEN to a v1 freezer and, as
	// the state reads FREEZING at once, sleeps a fixed 100 ms before
	// looking again; our manager polls every millisecond. CRIU then finds
	// the cgroup frozen and leaves it so, and we thaw what we froze.
	// A dump freezes at CRIU's pre-dump notification, the last moment
	// before CRIU seizes the tasks: before it CRIU probes the kernel
	// (kerndat), 40-80 ms whenever it cannot keep its cache in a tmpfs
	// /run, and the container need not be frozen for that. A pre-dump
	// sends no such notification: it freezes before the request.
	// Recorded first, so that if stasis dies from here on, the next
	// command on the container waits for this CRIU and thaws what was
	// frozen for it (lifecycle/recover.go).
	if err := c.BeginFreeze(sw.cmd.Process.Pid); err != nil {
		sw.close()
		return nil, err
	}
	defer c.EndFreeze()
	weFroze := false
	var frozenAt time.Time
	freeze := func() {
		if !weFroze && c.Status() == lifecycle.Running && opts.FreezeCgroup != nil {
			if err := cg.Freeze(); err == nil {
				weFroze, frozenAt = true, time.Now()
			}
		}
	}
	if reqType == rpc.CriuReqType_PRE_DUMP {
		freeze()
	}
	_, callErr := sw.call(&rpc.CriuReq{Type: &reqType, Opts: opts}, func(n notification) error {
		switch n.Script {
		case "pre-dump":
			freeze()
			// frozen by us, the tasks not yet seized by CRIU
			faults.Point("checkpoint.before-criu")
			// The locks CRIU is to dump, as frozen: one on a file the
			// host shares, taken since the plan looked, stops the
			// checkpoint as the plan would have. Unfrozen (no freezer,
			// or the freeze failed) CRIU freezes right after: read them
			// anyway.
			if plan.Auto.FileLocks && !o.FileLocks {
				pids, err := c.Pids()
				if err != nil {
					return fmt.Errorf("list the container's processes for their locks: %w", err)
				}
				if why := plan.frozenLocks("/proc", st.Pid, pids); why != "" {
					return &refusedAtFreeze{why}
				}
			}
			if hasTrees(meta.Externals) && (weFroze || paused) {
				if err := sameTrees(st.Pid, plan.mounts, meta.Externals, st.Rootfs); err != nil {
					return fmt.Errorf("%w: %w", errTreeChanged, err)
				}
			}
		case "post-dump":
			// the images are written, and CRIU still holds every task
			// frozen and seized, waiting for our answer
			faults.Point("checkpoint.criu-frozen")
		}
		return nil
	})
	var held time.Duration
	if weFroze {
		held = time.Since(frozenAt)
	}
	closeErr := sw.close()
	if callErr == nil && closeErr == nil {
		faults.Point("checkpoint.after-images")
	}
	var frozenErr error
	if callErr == nil && closeErr == nil && frozen != nil {
		frozenErr = frozen(c, meta)
	}
	if weFroze && (callErr != nil || closeErr != nil || o.LeaveRunning || o.PreDump) {
		if err := cg.Thaw(); err != nil {
			return nil, fmt.Errorf("thaw after checkpoint: %w", err)
		}
	}
	if errors.Is(callErr, errTreeChanged) {
		lifecycle.Warn("checkpoint %s: %v before the freeze: CRIU dumps the tmpfs mounts itself", id, callErr)
		meta.Externals, opts.External = dropTrees(meta.Externals, opts.External)
		goto retry
	}
	if callErr != nil || closeErr != nil {
		// Not a checkpoint: a restore from here must not mistake it for one.
		os.Remove(filepath.Join(imageDir.Name(), metaFile))
		os.Remove(filepath.Join(imageDir.Name(), descriptorsFile))
		os.Remove(filepath.Join(imageDir.Name(), treesFile))
		var refused *refusedAtFreeze
		if errors.As(callErr, &refused) {
			return nil, fmt.Errorf("cannot checkpoint: %s (found once the container was frozen)", refused.why)
		}
		return nil, explain("dump", errors.Join(callErr, closeErr), filepath.Join(workDir.Name(), "dump.log"),
			filepath.Join(imageDir.Name(), "criu-dump.log"))
	}

	stats = readDumpStats(imageDir)
	if stats != nil {
		stats.HeldFrozen = uint32(held.Microseconds())
		_ = writeJSON(filepath.Join(imageDir.Name(), statsFile), stats)
	}
	if !o.LeaveRunning && !o.PreDump {
		// CRIU killed the container's processes: release what it held.
		if err := c.Delete(false); err != nil {
			return stats, errors.Join(frozenErr, fmt.Errorf("checkpoint written, but removing the stopped container failed: %w", err))
		}
	}
	return stats, frozenErr
}

// DryRun works out what checkpointing container id would do, without
// freezing it (`checkpoint --dry-run`).
func DryRun(store *lifecycle.Store, id string, o *CheckpointOptions) (*Plan, error) {
	if err := o.check(); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", id, err)
	}
	c, err := checkpointable(store, id)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", id, err)
	}
	defer c.Close()
	p, err := planFor(c, o)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", id, err)
	}
	return p, nil
}

// checkpointable locks container id, which must be running or paused.
func checkpointable(store *lifecycle.Store, id string) (*lifecycle.Container, error) {
	c, err := store.Get(id)
	if err != nil {
		return nil, err
	}
	switch s := c.Status(); s {
	case lifecycle.Running, lifecycle.Paused:
		return c, nil
	default:
		c.Close()
		return nil, fmt.Errorf("%w: cannot checkpoint a %s container", lifecycle.ErrWrongState, s)
	}
}

func planFor(c *lifecycle.Container, o *CheckpointOptions) (*Plan, error) {
	st := c.State()
	mounts, err := containerMounts(st.Pid)
	if err != nil {
		return nil, err
	}
	pids, err := c.Pids()
	if err != nil {
		return nil, err
	}
	var union *aufs.Union
	if u, err := (aufs.Host{}).Discover(st.Pid, st.Rootfs); err == nil && u.Kind != aufs.Plain {
		union = u
	}
	peers, err := unixPeers(st.Pid)
	if err != nil {
		lifecycle.Warn("container %s: cannot list unix socket peers, not checking them: %v", c.ID(), err)
	}
	hostPeers, _ := dumpUnixPeers()
	creds := ourCriuCreds()
	return makePlan(planInput{
		id: c.ID(), rootfs: st.Rootfs, spec: st.Config, initPid: st.Pid, pids: pids,
		mounts: mounts, union: union, opts: o, procRoot: "/proc", unixPeers: peers, hostPeers: hostPeers,
		criu: &creds,
	})
}

// openDirs creates and opens the image and work dirs; CRIU reaches them
// through our fds (/proc/<our pid>/fd/N), not by path.
func openDirs(o *Common) (image, work *os.File, err error) {
	if err := resolveDirs(o); err != nil {
		return nil, nil, err
	}
	for _, d := range []string{o.ImagePath, o.WorkPath} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	image, err = os.Open(o.ImagePath)
	if err != nil {
		return nil, nil, err
	}
	work, err = os.Open(o.WorkPath)
	if err != nil {
		image.Close()
		return nil, nil, err
	}
	return image, work, nil
}

func readDumpStats(imageDir *os.File) *DumpStats {
	s, err := criustats.CriuGetDumpStats(imageDir)
	if err != nil || s == nil {
		return nil
	}
	return &DumpStats{
		FreezingTime: s.GetFreezingTime(), FrozenTime: s.GetFrozenTime(),
		MemdumpTime: s.GetMemdumpTime(), MemwriteTime: s.GetMemwriteTime(),
		PagesScanned: s.GetPagesScanned(), PagesSkippedParent: s.GetPagesSkippedParent(),
		PagesWritten: s.GetPagesWritten(),
	}
}

// criuVersion (like memTrackSupported) sends no options (CriuOpts has a
// required field such a request has no value for) and keep_open, or
// swrk ends the session after answering.
//
// criuVersion asks the running swrk for its version (major*10000 +
// minor*100 + sublevel, as go-criu counts it).
func criuVersion(sw *swrk) (int, error) {
	t := rpc.CriuReqType_VERSION
	resp, err := sw.call(&rpc.CriuReq{Type: &t, KeepOpen: proto.Bool(true)}, nil)
	if err != nil {
		return 0, err
	}
	v := resp.GetVersion()
	if v == nil {
		return 0, errors.New("criu sent no version")
	}
	return int(v.GetMajorNumber())*10000 + int(v.GetMinorNumber())*100 + int(v.GetSublevel()), nil
}

// resolveDirs applies the defaults (./checkpoint; work dir = image dir)
// and makes both paths absolute.
func resolveDirs(o *Common) (err error) {
	if o.ImagePath == "" {
		o.ImagePath = "checkpoint"
	}
	if o.ImagePath, err = filepath.Abs(o.ImagePath); err != nil {
		return err
	}
	if o.WorkPath == "" {
		o.WorkPath = o.ImagePath
	}
	o.WorkPath, err = filepath.Abs(o.WorkPath)
	return err
}

// memTrackSupported asks CRIU whether this kernel has the soft-dirty
// tracking iterative (pre-)dumps rely on.
func memTrackSupported(sw *swrk) (bool, error) {
	t := rpc.CriuReqType_FEATURE_CHECK
	resp, err := sw.call(&rpc.CriuReq{Type: &t, KeepOpen: proto.Bool(true),
		Features: &rpc.CriuFeatures{MemTrack: proto.Bool(true)}}, nil)
	if err != nil {
		return false, err
	}
	return resp.GetFeatures().GetMemTrack(), nil
}
