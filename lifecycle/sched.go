package lifecycle

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/spec"
)

// setMemoryPolicy applies linux.memoryPolicy to the calling process. The
// task policy survives fork and execve, so the user process and all it
// starts allocate by it.
func setMemoryPolicy(l *specs.Linux) error {
	if l == nil || l.MemoryPolicy == nil {
		return nil
	}
	p := l.MemoryPolicy
	mode, nodes, err := spec.MemoryPolicy(p)
	if err != nil {
		return err
	}
	// unix.CPUSet is the kernel's 1024-bit mask: as set_mempolicy's
	// nodemask it covers every node MAX_NUMNODES allows (spec.MaxNode),
	// and SetMemPolicy passes its size in bits, as maxnode must be.
	var mask unix.CPUSet
	for _, n := range nodes {
		mask.Set(n)
	}
	if err := unix.SetMemPolicy(mode, &mask); err != nil {
		return fmt.Errorf("set linux.memoryPolicy (mode %s, nodes %q, flags %v): %w", p.Mode, p.Nodes, p.Flags, err)
	}
	return nil
}

// cpuAffinity is process.execCPUAffinity parsed: the CPUs the runtime's
// child starts on (initial) and those it is moved to once in the
// container's cgroup (final, which a cpuset cgroup would otherwise reset
// on attach). nil means leave it to the kernel.
type cpuAffinity struct {
	initial, final unix.CPUSetDynamic
	spec           *specs.CPUAffinity
}

func parseCPUAffinity(a *specs.CPUAffinity) (*cpuAffinity, error) {
	if a == nil {
		return nil, nil
	}
	out := &cpuAffinity{spec: a}
	for _, f := range []struct {
		name, list string
		set        *unix.CPUSetDynamic
	}{{"initial", a.Initial, &out.initial}, {"final", a.Final, &out.final}} {
		cpus, err := spec.ParseIDList(f.list, spec.MaxCPU)
		if err != nil {
			return nil, fmt.Errorf("process.execCPUAffinity.%s %w", f.name, err)
		}
		if len(cpus) == 0 {
			continue
		}
		*f.set = unix.NewCPUSet(cpus[len(cpus)-1] + 1)
		for _, c := range cpus {
			f.set.Set(c)
		}
	}
	return out, nil
}

// start starts cmd with the initial affinity: the child inherits the
// affinity of the thread that forks it, so the fork happens on a locked
// thread of its own. That thread must outlive the child's set-up, as its
// exit would fire the child's parent-death signal; release ends it.
func (a *cpuAffinity) start(cmd interface{ Start() error }) (release func(), err error) {
	if a == nil || a.initial == nil {
		return func() {}, cmd.Start()
	}
	errc := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		// Never unlocked: the thread, pinned to the initial CPUs, exits
		// with this goroutine instead of going back to the scheduler.
		runtime.LockOSThread()
		if err := unix.SchedSetaffinityDynamic(0, a.initial); err != nil {
			errc <- fmt.Errorf("set process.execCPUAffinity.initial %q: %w", a.spec.Initial, err)
			return
		}
		errc <- cmd.Start()
		<-done
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }, <-errc
}

// setFinal moves pid (stage 0, before it clones the process, which
// inherits it) to the final CPUs.
func (a *cpuAffinity) setFinal(pid int) error {
	if a == nil || a.final == nil {
		return nil
	}
	if err := unix.SchedSetaffinityDynamic(pid, a.final); err != nil {
		return fmt.Errorf("set process.execCPUAffinity.final %q: %w", a.spec.Final, err)
	}
	return nil
}
