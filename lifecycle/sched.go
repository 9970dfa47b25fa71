package lifecycle

import (
	"fmt"

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
