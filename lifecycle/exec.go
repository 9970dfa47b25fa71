package lifecycle

import (
	"fmt"
	"os"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/spec"
)

// ExecOpts are exec's inputs once the CLI has built the process.
type ExecOpts struct {
	Process     *specs.Process
	PidFile     string
	PreserveFds int
	// Console receives the pty master when Process.Terminal: a connection
	// to --console-socket, or our end of a socketpair for a foreground tty.
	Console *os.File
	// SubCgroups (exec --cgroup) puts the process in existing sub-cgroups
	// of the container's: controller ("" for all) -> relative path.
	SubCgroups map[string]string
	// IgnorePaused lets the process join a paused container; it stays
	// frozen with the rest until resume.
	IgnorePaused bool
}

// nsFiles names each namespace type's file under /proc/PID/ns.
var nsFiles = map[specs.LinuxNamespaceType]string{
	specs.UserNamespace: "user", specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts",
	specs.NetworkNamespace: "net", specs.PIDNamespace: "pid", specs.CgroupNamespace: "cgroup",
	specs.TimeNamespace: "time", specs.MountNamespace: "mnt",
}

// Exec starts a new process inside a created or running container and
// returns its pid. The process is our child (CLONE_PARENT), so the caller
// can wait for it.
func (c *Container) Exec(o ExecOpts) (pid int, err error) {
	switch s := c.Status(); s {
	case Created, Running:
	case Paused:
		if !o.IgnorePaused {
			return 0, &StateError{Op: "exec into", Status: s,
				Hint: "cannot exec in a paused container (resume it first, or use --ignore-paused)"}
		}
		// The new process freezes as it joins the cgroup and stays so
		// until resume, which needs this lock: let it go now.
		c.h.Close()
	default:
		return 0, refuse("exec into", s)
	}
	if err := spec.ValidateProcess(o.Process); err != nil {
		return 0, err
	}
	if o.Process.Terminal != (o.Console != nil) {
		return 0, fmt.Errorf("process.terminal is %v but a console is %s", o.Process.Terminal,
			map[bool]string{true: "given", false: "missing (use --console-socket or -t)"}[o.Console != nil])
	}
	// A --process without execCPUAffinity gets the container's, as in runc.
	aff := o.Process.ExecCPUAffinity
	if aff == nil && c.st.Config != nil && c.st.Config.Process != nil {
		aff = c.st.Config.Process.ExecCPUAffinity
	}
	affinity, err := parseCPUAffinity(aff)
	if err != nil {
		return 0, err
	}
	boot, err := c.joinAllNamespaces()
	if err != nil {
		return 0, err
	}
	cg, err := c.cgroup()
	if err != nil {
		return 0, err
	}
	named := namedFds{}
	if o.Console != nil {
		named.add(envConsole, o.Console)
	}
	var undo cleanups
	defer func() {
		if err != nil {
			undo.run()
		}
	}()
	pid, err = spawn(&spawnOpts{
		boot:        boot,
		cg:          cg,
		preserveFds: o.PreserveFds,
		named:       named,
		subCgroups:  o.SubCgroups,
		state:       func(int) *specs.State { return c.st.hookState(c.Status(), c.st.Pid) },
		affinity:    affinity,
		msg: msgConfig{
			ID: c.ID(), Spec: c.st.Config, Rootfs: c.st.Rootfs, Exec: o.Process, PreserveFds: o.PreserveFds,
		},
	}, &undo)
	if err != nil {
		return 0, err
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, pid); err != nil {
			return 0, err
		}
	}
	undo.release()
	return pid, nil
}

// joinAllNamespaces makes a bootstrap that joins every namespace of the
// container's init that differs from ours (joining one's own user
// namespace is EINVAL). The init's identity was checked by Status.
func (c *Container) joinAllNamespaces() (*bootstrap, error) {
	b := &bootstrap{}
	for _, t := range joinOrder {
		name := nsFiles[t]
		theirs := fmt.Sprintf("/proc/%d/ns/%s", c.st.Pid, name)
		var a, o unix.Stat_t
		if err := unix.Stat(theirs, &a); err != nil {
			if os.IsNotExist(err) && t == specs.TimeNamespace {
				continue // kernel without time namespaces
			}
			return nil, fmt.Errorf("read %s namespace of the container: %w", name, err)
		}
		if err := unix.Stat("/proc/self/ns/"+name, &o); err == nil && a.Ino == o.Ino && a.Dev == o.Dev {
			continue
		}
		b.joins = append(b.joins, nsJoin{t, theirs})
	}
	return b, nil
}
