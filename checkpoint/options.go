package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/checkpoint-restore/go-criu/v7/rpc"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
)

// Common are the flags checkpoint and restore both have (runc's names);
// CheckpointOptions and RestoreOptions (restore.go) add each one's own,
// so a flag of one direction cannot reach the other's code.
type Common struct {
	CriuPath      string
	StasisVersion string
	ImagePath     string
	WorkPath      string

	TCPEstablished bool
	ExtUnixSk      bool
	ShellJob       bool
	LazyPages      bool
	FileLocks      bool
	AutoDedup      bool
	ManageCgroups  string // soft (default), full, strict, ignore
	EmptyNs        []string
}

// CheckpointOptions are checkpoint's flags.
type CheckpointOptions struct {
	Common
	ParentPath      string
	LeaveRunning    bool
	TCPSkipInFlight bool
	LinkRemap       bool
	PreDump         bool
	StatusFd        int // -1: none
	PageServer      string
	// Export, if set, is the archive (export.go) to write, "-" for
	// stdout; Compress its compression: zstd (""), gzip or none.
	Export   string
	Compress string
}

var cgModes = map[string]rpc.CriuCgMode{
	"":       rpc.CriuCgMode_SOFT,
	"soft":   rpc.CriuCgMode_SOFT,
	"full":   rpc.CriuCgMode_FULL,
	"strict": rpc.CriuCgMode_STRICT,
	"ignore": rpc.CriuCgMode_IGNORE,
}

var emptyNsFlags = map[string]uint32{
	"network": unix.CLONE_NEWNET, "net": unix.CLONE_NEWNET,
}

// check refuses, before anything is created or frozen, the flags that
// cannot work in either direction: an unknown cgroup mode or namespace.
func (o *Common) check() error {
	if _, ok := cgModes[o.ManageCgroups]; !ok {
		return fmt.Errorf("--manage-cgroups-mode %q: use soft, full, strict or ignore", o.ManageCgroups)
	}
	for _, ns := range o.EmptyNs {
		if _, ok := emptyNsFlags[ns]; !ok {
			return fmt.Errorf("--empty-ns %q: only network is supported", ns)
		}
	}
	return nil
}

// check adds checkpoint's own: a page server address that is none.
func (o *CheckpointOptions) check() error {
	if err := o.Common.check(); err != nil {
		return err
	}
	if o.PageServer != "" {
		if _, _, err := pageServer(o.PageServer); err != nil {
			return err
		}
	}
	return nil
}

// check adds restore's own: --manage-cgroups-mode strict, and an LSM
// flag for a security module this host does not run (sysRoot: "/sys").
func (o *RestoreOptions) check(sysRoot string) error {
	if err := o.Common.check(); err != nil {
		return err
	}
	if o.ManageCgroups == "strict" {
		// CRIU's strict mode aborts on a cgroup that exists ("Abort
		// restore of existing cgroups"), and restore makes the new
		// container's cgroups, with the bundle's limits, before CRIU
		// restores into them.
		return errors.New("--manage-cgroups-mode strict cannot restore into the container's cgroups, which restore makes before CRIU runs (CRIU's strict mode requires them not to exist): use full to have CRIU write the checkpoint's cgroup settings into them")
	}
	if o.LsmProfile != "" {
		typ, _, ok := strings.Cut(o.LsmProfile, ":")
		if !ok {
			return fmt.Errorf("--lsm-profile %q: want TYPE:NAME (apparmor:PROFILE, selinux:CONTEXT or none:)", o.LsmProfile)
		}
		switch typ {
		case "none":
		case "apparmor", "selinux":
			if lsm := hostLSM(sysRoot); lsm != typ {
				return fmt.Errorf("--lsm-profile %q: this host does not run %s (its security module: %s)", o.LsmProfile, typ, orNone(lsm))
			}
		default:
			return fmt.Errorf("--lsm-profile %q: unknown security module %q: use apparmor, selinux or none", o.LsmProfile, typ)
		}
	}
	if o.LsmMountContext != "" {
		if lsm := hostLSM(sysRoot); lsm != "selinux" {
			return fmt.Errorf("--lsm-mount-context %q: a SELinux mount context, but this host does not run SELinux (its security module: %s)", o.LsmMountContext, orNone(lsm))
		}
	}
	return nil
}

// hostLSM names the security module CRIU would find, as CRIU looks for
// it: "apparmor" when securityfs shows it, "selinux" when selinuxfs is
// mounted with a policy, else "".
func hostLSM(sysRoot string) string {
	if _, err := os.Stat(filepath.Join(sysRoot, "kernel/security/apparmor")); err == nil {
		return "apparmor"
	}
	if _, err := os.Stat(filepath.Join(sysRoot, "fs/selinux/enforce")); err == nil {
		return "selinux"
	}
	return ""
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// pageServer splits ADDRESS:PORT.
func pageServer(s string) (string, int32, error) {
	addr, port, ok := strings.Cut(s, ":")
	var p int32
	if _, err := fmt.Sscan(port, &p); !ok || err != nil {
		return "", 0, fmt.Errorf("--page-server %q: want ADDRESS:PORT", s)
	}
	return addr, p, nil
}

// baseOpts are the CRIU options both directions share.
func baseOpts(o *Common, imageDir, workDir *os.File, logFile string, rootfs string) (*rpc.CriuOpts, error) {
	mode, ok := cgModes[o.ManageCgroups]
	if !ok {
		return nil, fmt.Errorf("--manage-cgroups-mode %q: use soft, full, strict or ignore", o.ManageCgroups)
	}
	opts := &rpc.CriuOpts{
		ImagesDirFd:       proto.Int32(int32(imageDir.Fd())),
		WorkDirFd:         proto.Int32(int32(workDir.Fd())),
		LogLevel:          proto.Int32(4),
		LogFile:           proto.String(logFile),
		Root:              proto.String(rootfs),
		ManageCgroups:     proto.Bool(true),
		ManageCgroupsMode: &mode,
		ShellJob:          proto.Bool(o.ShellJob),
		ExtUnixSk:         proto.Bool(o.ExtUnixSk),
		TcpEstablished:    proto.Bool(o.TCPEstablished),
		FileLocks:         proto.Bool(o.FileLocks),
		AutoDedup:         proto.Bool(o.AutoDedup),
		LazyPages:         proto.Bool(o.LazyPages),
		// /dev/null and /dev/zero may differ between hosts (and devices
		// are recreated by the bundle): match them by path, not inode.
		EvasiveDevices: proto.Bool(true),
	}
	var empty uint32
	for _, ns := range o.EmptyNs {
		f, ok := emptyNsFlags[ns]
		if !ok {
			return nil, fmt.Errorf("--empty-ns %q: only network is supported", ns)
		}
		empty |= f
	}
	if empty != 0 {
		opts.EmptyNs = proto.Uint32(empty)
	}
	return opts, nil
}

// configFile picks CRIU's config file as runc does: the org.criu.config
// annotation (empty means none), else /etc/criu/stasis.conf if present.
func configFile(annotations map[string]string) string {
	if p, ok := annotations["org.criu.config"]; ok {
		return p
	}
	if _, err := os.Stat(defaultCriuConfig); err == nil {
		return defaultCriuConfig
	}
	return ""
}

var defaultCriuConfig = "/etc/criu/stasis.conf"

// extNetNSKey is the name CRIU gives the external network namespace.
const extNetNSKey = "extRootNetNS"

func nsInode(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// skipNetwork tells CRIU to leave a loopback-only network namespace to
// us: an empty one is made at restore, and no lock is needed for a
// namespace nothing outside can reach.
func skipNetwork(opts *rpc.CriuOpts) {
	opts.EmptyNs = proto.Uint32(opts.GetEmptyNs() | unix.CLONE_NEWNET)
	skip := rpc.CriuNetworkLockMethod_SKIP
	opts.NetworkLock = &skip
}
