package checkpoint

import (
	"fmt"
	"os"
	"strings"

	"github.com/checkpoint-restore/go-criu/v7/rpc"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
)

// Options are the flags of checkpoint and restore (runc's names).
type Options struct {
	CriuPath      string
	StasisVersion string
	ImagePath     string
	WorkPath      string
	ParentPath    string

	LeaveRunning    bool
	TCPEstablished  bool
	TCPSkipInFlight bool
	TCPClose        bool
	LinkRemap       bool
	ExtUnixSk       bool
	ShellJob        bool
	LazyPages       bool
	FileLocks       bool
	PreDump         bool
	AutoDedup       bool
	StatusFd        int // -1: none
	PageServer      string
	ManageCgroups   string // soft (default), full, strict, ignore
	EmptyNs         []string
	LsmProfile      string
	LsmMountContext string
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

// baseOpts are the CRIU options both directions share.
func baseOpts(o *Options, imageDir, workDir *os.File, logFile string, rootfs string) (*rpc.CriuOpts, error) {
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
		LinkRemap:         proto.Bool(o.LinkRemap),
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
	if o.PageServer != "" {
		addr, port, ok := strings.Cut(o.PageServer, ":")
		var p int32
		if _, err := fmt.Sscan(port, &p); !ok || err != nil {
			return nil, fmt.Errorf("--page-server %q: want ADDRESS:PORT", o.PageServer)
		}
		opts.Ps = &rpc.CriuPageServerInfo{Address: proto.String(addr), Port: proto.Int32(p)}
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

// externalNetNS returns the netns path a container joined, or "".
func externalNetNS(sp *specs.Spec) string {
	if sp.Linux == nil {
		return ""
	}
	for _, ns := range sp.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			return ns.Path
		}
	}
	return ""
}

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
