package lifecycle

import (
	"errors"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stasis-oci/stasis/cgroupmgr"
)

// Pids lists every process of the container (from its cgroup).
//
// A stopped container is asked too (runc's ps answers for it): what is
// left in its cgroup, usually nothing.
func (c *Container) Pids() ([]int, error) {
	if c.Status() == Stopped {
		cg, err := c.cgroup()
		if err != nil || cg == nil {
			return nil, err
		}
		pids, err := cg.Pids()
		if errors.Is(err, cgroupmgr.ErrNotFound) {
			return nil, nil
		}
		return pids, err
	}
	cg, err := c.liveCgroup("list processes of")
	if err != nil {
		return nil, err
	}
	return cg.Pids()
}

// Stats reads the container's resource usage.
func (c *Container) Stats() (*cgroupmgr.Stats, error) {
	cg, err := c.liveCgroup("read stats of")
	if err != nil {
		return nil, err
	}
	return cg.Stats()
}

// Cgroup is the container's cgroup manager (for events' OOM watch).
func (c *Container) Cgroup() (cgroupmgr.Manager, error) {
	return c.liveCgroup("watch")
}

// Update applies new resource limits to a live container and records
// them in its config, so `state` and a later restore see the new values.
func (c *Container) Update(r *specs.LinuxResources) error {
	cg, err := c.liveCgroup("update")
	if err != nil {
		return err
	}
	// Device rules are fixed at create: rewriting them live would open a
	// window with every device denied (v1 writes deny-all first).
	live := *r
	live.Devices = nil
	if err := cg.Set(&live); err != nil {
		return err
	}
	if c.st.Config.Linux == nil {
		c.st.Config.Linux = &specs.Linux{}
	}
	c.st.Config.Linux.Resources = r
	return c.h.Save(c.st)
}

// Resources is the container's current resource configuration.
func (c *Container) Resources() *specs.LinuxResources {
	if c.st.Config == nil || c.st.Config.Linux == nil || c.st.Config.Linux.Resources == nil {
		return &specs.LinuxResources{}
	}
	return c.st.Config.Linux.Resources
}

// liveCgroup returns the cgroup of a container that still has processes:
// a stopped one has nothing to update, list or measure.
func (c *Container) liveCgroup(op string) (cgroupmgr.Manager, error) {
	switch s := c.Status(); s {
	case Stopped, Creating:
		return nil, refuse(op, s)
	}
	cg, err := c.cgroup()
	if err != nil {
		return nil, err
	}
	if cg == nil {
		return nil, errors.New("container has no cgroup")
	}
	return cg, nil
}
