package checkpoint

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/lifecycle"
)

// capNetAdmin is CAP_NET_ADMIN's bit in /proc/PID/status's cap masks.
const capNetAdmin = 12

// loopbackOnlyNet tells whether the container's network namespace is its
// own and holds nothing but a loopback no process could have changed: no
// other device, no iptables table ever loaded, no net.* sysctl, and no
// process (nor the spec) with CAP_NET_ADMIN. Such a namespace is exactly
// what a new one with lo up is, so CRIU need not dump it (it runs ip and
// iptables tools both ways, ~25 ms each) nor lock it (nothing outside can
// reach it), and restore brings lo up itself.
func loopbackOnlyNet(sp *specs.Spec, pids []int, o *Common, procRoot string) bool {
	if o.TCPEstablished || len(o.EmptyNs) > 0 || sp.Linux == nil {
		return false
	}
	own := false
	for _, ns := range sp.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace && ns.Path == "" {
			own = true
		}
	}
	if !own {
		return false
	}
	for k := range sp.Linux.Sysctl {
		if strings.HasPrefix(k, "net.") || strings.HasPrefix(k, "net/") {
			return false
		}
	}
	if c := sp.Process.Capabilities; c != nil {
		for _, n := range c.Bounding {
			if strings.EqualFold(n, "CAP_NET_ADMIN") {
				return false
			}
		}
	}
	if len(pids) == 0 {
		return false
	}
	for _, pid := range pids {
		if hasCap(procRoot, pid, capNetAdmin) {
			return false
		}
	}
	net := fmt.Sprintf("%s/%d/net/", procRoot, pids[0])
	devs, err := os.ReadFile(net + "dev")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(devs), "\n")[2:] {
		if name, _, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && name != "lo" {
			return false
		}
	}
	for _, f := range []string{"ip_tables_names", "ip6_tables_names"} {
		if data, err := os.ReadFile(net + f); err == nil && strings.TrimSpace(string(data)) != "" {
			return false
		}
	}
	return true
}

// hasCap: the process's bounding set holds capability bit.
func hasCap(procRoot string, pid, bit int) bool {
	data, err := os.ReadFile(fmt.Sprintf("%s/%d/status", procRoot, pid))
	if err != nil {
		return true // unknown: assume the worst
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err != nil || mask&(1<<bit) != 0
		}
	}
	return true
}

// loopbackUpIn brings lo up in the network namespace of pid.
func loopbackUpIn(pid int) error { return inNetNS(pid, lifecycle.LoopbackUp) }

// inNetNS runs fn on a thread moved into the network namespace of pid.
// That thread is never unlocked: Go discards it instead of reusing it in
// the wrong namespace.
func inNetNS(pid int, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter the network namespace of %d: %w", pid, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// criuMayShareNet: a loopback-only network namespace can be handed to
// CRIU by running CRIU in it (Metadata.CRIUNetNS), unless CRIU must
// reach the host's network (a page server, lazy pages: their sockets
// would open in the container's namespace) or the container has its own
// user namespace (the new namespace restore makes would belong to the
// host's user namespace, not the container's).
func criuMayShareNet(o *CheckpointOptions, meta *Metadata) bool {
	return o.PageServer == "" && !o.LazyPages && !meta.UserNS
}

// newLoopbackNetNS makes a network namespace whose lo is up: what a new
// container gets, and what a CRIUNetNS checkpoint is restored in. The
// thread that made it is never unlocked, so Go discards it.
func newLoopbackNetNS() (*os.File, error) {
	type made struct {
		f   *os.File
		err error
	}
	c := make(chan made, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			c <- made{err: fmt.Errorf("new network namespace: %w", err)}
			return
		}
		if err := lifecycle.LoopbackUp(); err != nil {
			c <- made{err: err}
			return
		}
		f, err := os.Open("/proc/thread-self/ns/net")
		c <- made{f, err}
	}()
	m := <-c
	return m.f, m.err
}
