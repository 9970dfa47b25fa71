package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A container that joins a namespace by path (config.json's
// linux.namespaces[].path: Docker's and Kubernetes' pods share the
// pause container's network, ipc and uts, and its pid namespace in the
// POD pid mode) lives in a namespace it does not own. CRIU must neither
// dump such a namespace as the container's nor make a new one at
// restore: the restored processes go into the namespace the restoring
// bundle names. How depends on the namespace:
//
//   - network and pid: CRIU's own external namespaces (--external
//     net[inode]:key / pid[inode]:key at dump, an inherit-fd of the new
//     namespace under that key at restore);
//   - ipc and uts: CRIU has no external kind for them, but it leaves out
//     of the dump any namespace it shares with the dumped init and
//     restores the processes into its own. So CRIU runs inside them:
//     at dump in the container's, at restore in the bundle's.
//   - time, user, cgroup, mount: CRIU can only make new ones, and a
//     time namespace can only be entered by a single-threaded process,
//     which stasis is not: such a checkpoint is refused before freezing.

// Keys CRIU knows the external namespaces by, at dump and restore.
const (
	extPidNSKey = "extRootPidNS"
	// extNetNSKey (options.go) is the network one.
)

// nsProcName is the /proc/PID/ns file of each namespace type.
var nsProcName = map[specs.LinuxNamespaceType]string{
	specs.PIDNamespace:     "pid",
	specs.NetworkNamespace: "net",
	specs.IPCNamespace:     "ipc",
	specs.UTSNamespace:     "uts",
	specs.MountNamespace:   "mnt",
	specs.UserNamespace:    "user",
	specs.CgroupNamespace:  "cgroup",
	specs.TimeNamespace:    "time",
}

// criuRunsIn are the namespaces an external one of which stasis hands
// CRIU by running CRIU inside it, with their setns flags.
var criuRunsIn = map[specs.LinuxNamespaceType]int{
	specs.IPCNamespace: unix.CLONE_NEWIPC,
	specs.UTSNamespace: unix.CLONE_NEWUTS,
}

// joinedNamespaces sorts the namespaces the container joined by path
// into those the checkpoint takes as external (spec type names, sorted)
// and the reasons it cannot checkpoint the others.
func joinedNamespaces(sp *specs.Spec) (external, blockers []string) {
	if sp == nil || sp.Linux == nil {
		return nil, nil
	}
	for _, ns := range sp.Linux.Namespaces {
		if ns.Path == "" {
			continue
		}
		switch ns.Type {
		case specs.NetworkNamespace, specs.PIDNamespace, specs.IPCNamespace, specs.UTSNamespace:
			external = append(external, string(ns.Type))
		case specs.TimeNamespace:
			blockers = append(blockers, fmt.Sprintf("the container joined the time namespace %s: CRIU restores a time namespace only as a new one, and stasis cannot run CRIU inside it (setns into a time namespace needs a single-threaded caller); give the container its own time namespace", ns.Path))
		default:
			blockers = append(blockers, fmt.Sprintf("the container joined the %s namespace %s: CRIU restores a %s namespace only as a new one, not into an existing one; give the container its own", ns.Type, ns.Path, ns.Type))
		}
	}
	sort.Strings(external)
	return external, blockers
}

// externalNamespaces is what a checkpoint took as external: the
// recorded list, and the network namespace of a checkpoint that knew
// only that one.
func (m *Metadata) externalNamespaces() []string {
	ext := append([]string(nil), m.ExternalNamespaces...)
	if m.ExternalNetNS && !hasString(ext, string(specs.NetworkNamespace)) {
		ext = append(ext, string(specs.NetworkNamespace))
	}
	return ext
}

func hasString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// nsPathOf is the path the spec joins namespace typ at, or "".
func nsPathOf(sp *specs.Spec, typ specs.LinuxNamespaceType) string {
	if sp == nil || sp.Linux == nil {
		return ""
	}
	for _, ns := range sp.Linux.Namespaces {
		if ns.Type == typ {
			return ns.Path
		}
	}
	return ""
}

// checkExternalNamespaces wants the restoring bundle to name a
// namespace to join for each the checkpoint took as external: CRIU has
// no contents of them to make new ones from.
func checkExternalNamespaces(m *Metadata, sp *specs.Spec) error {
	var missing []string
	for _, t := range m.externalNamespaces() {
		if nsPathOf(sp, specs.LinuxNamespaceType(t)) == "" {
			missing = append(missing, t)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("the checkpointed container joined its %s namespace%s by path and the checkpoint holds nothing of %s: the bundle's config.json must name the namespace%s to restore into (linux.namespaces: {\"type\": %q, \"path\": ...})",
		strings.Join(missing, ", "), plural(missing), them(missing), plural(missing), missing[0])
}

func plural(l []string) string {
	if len(l) > 1 {
		return "s"
	}
	return ""
}

func them(l []string) string {
	if len(l) > 1 {
		return "them"
	}
	return "it"
}

// nsFile is an open namespace to run CRIU in.
type nsFile struct {
	typ  specs.LinuxNamespaceType
	flag int
	f    *os.File
}

// openCriuNamespaces opens what CRIU must run in for the external ones
// of kind criuRunsIn: path(typ) says where each is.
func openCriuNamespaces(external []string, path func(specs.LinuxNamespaceType) string) ([]nsFile, error) {
	var out []nsFile
	for _, t := range external {
		typ := specs.LinuxNamespaceType(t)
		flag, ok := criuRunsIn[typ]
		if !ok {
			continue
		}
		f, err := os.Open(path(typ))
		if err != nil {
			closeNamespaces(out)
			return nil, fmt.Errorf("open the %s namespace: %w", typ, err)
		}
		out = append(out, nsFile{typ: typ, flag: flag, f: f})
	}
	return out, nil
}

func closeNamespaces(ns []nsFile) {
	for _, n := range ns {
		n.f.Close()
	}
}

// inNamespaces runs fn (which starts CRIU: a child inherits its
// parent thread's namespaces) on a thread moved into ns, then moves the
// thread back. A thread that cannot be moved back is left locked, so
// Go discards it instead of running other code in the wrong namespace.
func inNamespaces(ns []nsFile, fn func() error) error {
	if len(ns) == 0 {
		return fn()
	}
	runtime.LockOSThread()
	var back []nsFile
	restore := func() error {
		var errs []error
		for _, b := range back {
			if err := unix.Setns(int(b.f.Fd()), b.flag); err != nil {
				errs = append(errs, fmt.Errorf("return to our %s namespace: %w", b.typ, err))
			}
		}
		closeNamespaces(back)
		if len(errs) == 0 {
			runtime.UnlockOSThread()
		}
		return errors.Join(errs...)
	}
	for _, n := range ns {
		own, err := os.Open("/proc/thread-self/ns/" + nsProcName[n.typ])
		if err != nil {
			return errors.Join(fmt.Errorf("open our %s namespace: %w", n.typ, err), restore())
		}
		if err := unix.Setns(int(n.f.Fd()), n.flag); err != nil {
			own.Close()
			return errors.Join(fmt.Errorf("enter the %s namespace for criu: %w", n.typ, err), restore())
		}
		back = append(back, nsFile{typ: n.typ, flag: n.flag, f: own})
	}
	err := fn()
	return errors.Join(err, restore())
}
