package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/stasis-oci/stasis/lifecycle"
)

var execCommand = &cli.Command{
	Name:      "exec",
	Usage:     "run a new process inside a container",
	ArgsUsage: "<container-id> [command [args...]]",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "process", Aliases: []string{"p"}, Usage: "OCI process JSON file (as containerd sends it)"},
		&cli.StringFlag{Name: "console-socket", Usage: "unix socket that receives the pty master"},
		&cli.StringFlag{Name: "cwd", Usage: "working directory in the container"},
		&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set an environment variable (repeatable)"},
		&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pseudo-TTY"},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "uid[:gid]"},
		&cli.Int64SliceFlag{Name: "additional-gids", Aliases: []string{"g"}, Usage: "additional gids (repeatable)"},
		&cli.StringSliceFlag{Name: "cap", Aliases: []string{"c"}, Usage: "add a capability (repeatable)"},
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "do not wait for the process"},
		&cli.StringFlag{Name: "pid-file", Usage: "write the process's pid to this file (atomically: a symlink at the name is replaced)"},
		&cli.StringFlag{Name: "process-label", Usage: "SELinux label (accepted, not applied)"},
		&cli.StringFlag{Name: "apparmor", Usage: "AppArmor profile (accepted, not applied)"},
		&cli.BoolFlag{Name: "no-new-privs", Usage: "set no_new_privs for the process"},
		&cli.IntFlag{Name: "preserve-fds", Usage: "pass this many fds after stdio to the process"},
		&cli.StringSliceFlag{Name: "cgroup", Usage: "run in an existing sub-cgroup: [controller[,controller]:]path (repeatable)"},
		&cli.BoolFlag{Name: "ignore-paused", Usage: "allow exec in a paused container (the process stays frozen until resume)"},
	},
	// runc's exec exits 255 when the runtime fails (not the process), and
	// shims and tests tell the two apart by it.
	Action: func(c *cli.Context) error { return exitCode(execAction(c), 255) },
}

func execAction(c *cli.Context) error {
	id, err := containerID(c)
	if err != nil {
		return err
	}
	subCgroups, err := parseSubCgroups(c.StringSlice("cgroup"))
	if err != nil {
		return opError("exec", id, err)
	}
	sigs := make(chan os.Signal, 64)
	if !c.Bool("detach") {
		signal.Notify(sigs)
		defer signal.Stop(sigs)
	}
	var pid int
	var tty *ttyProxy
	err = onContainer(c, id, "exec", func(ctr *lifecycle.Container) error {
		proc, err := execProcess(c, ctr.State().Config.Process)
		if err != nil {
			return err
		}
		opts := lifecycle.ExecOpts{
			Process: proc, PidFile: c.String("pid-file"), PreserveFds: c.Int("preserve-fds"),
			SubCgroups: subCgroups, IgnorePaused: c.Bool("ignore-paused"),
		}
		console, t, err := consoleFor(proc.Terminal, c.String("console-socket"), c.Bool("detach"))
		if err != nil {
			return err
		}
		if console != nil {
			defer console.Close()
		}
		opts.Console, tty = console, t
		pid, err = ctr.Exec(opts)
		return err
	})
	if err != nil {
		if tty != nil {
			tty.Close()
		}
		return err
	}
	if c.Bool("detach") {
		return nil
	}
	if tty != nil {
		if err := tty.Start(); err != nil {
			return opError("exec", id, err)
		}
		defer tty.Close()
	}
	code := waitForward(pid, sigs)
	if tty != nil {
		tty.Close()
	}
	return cli.Exit("", code)
}

// parseSubCgroups reads exec --cgroup values as runc does: one bare path
// for every hierarchy, or controller[,controller]:path entries.
func parseSubCgroups(args []string) (map[string]string, error) {
	if len(args) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(args))
	for _, a := range args {
		ctrls, path, found := strings.Cut(a, ":")
		if !found {
			if len(args) != 1 {
				return nil, fmt.Errorf("invalid --cgroup %q: with several --cgroup flags each needs a controller: prefix", a)
			}
			out[""] = a
			continue
		}
		if strings.Contains(path, ":") || ctrls == "" {
			return nil, fmt.Errorf("invalid --cgroup %q: want [controller[,controller]:]path", a)
		}
		for _, ctrl := range strings.Split(ctrls, ",") {
			out[ctrl] = path
		}
	}
	return out, nil
}

// execProcess builds the process to run: the --process JSON as given, or
// the container's own process with the arguments and flags laid over it,
// as runc's exec does.
func execProcess(c *cli.Context, base *specs.Process) (*specs.Process, error) {
	if path := c.String("process"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--process: %w", err)
		}
		p := &specs.Process{}
		if err := json.Unmarshal(data, p); err != nil {
			return nil, fmt.Errorf("--process %s: invalid JSON: %w", path, err)
		}
		return p, nil
	}
	if c.NArg() < 2 {
		return nil, errors.New("no command given (use [command args...] or --process)")
	}
	data, err := json.Marshal(base)
	if err != nil {
		return nil, err
	}
	p := &specs.Process{}
	if err := json.Unmarshal(data, p); err != nil {
		return nil, err
	}
	p.Args = c.Args().Tail()
	p.Terminal = c.Bool("tty")
	p.ConsoleSize = nil
	p.Env = append(p.Env, c.StringSlice("env")...)
	if c.IsSet("cwd") {
		p.Cwd = c.String("cwd")
	}
	if u := c.String("user"); u != "" {
		uid, gid, err := parseUser(u)
		if err != nil {
			return nil, err
		}
		p.User.UID, p.User.GID = uid, gid
	}
	for _, g := range c.Int64Slice("additional-gids") {
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
	}
	if caps := c.StringSlice("cap"); len(caps) > 0 {
		if p.Capabilities == nil {
			p.Capabilities = &specs.LinuxCapabilities{}
		}
		for _, cp := range caps {
			p.Capabilities.Bounding = append(p.Capabilities.Bounding, cp)
			p.Capabilities.Effective = append(p.Capabilities.Effective, cp)
			p.Capabilities.Permitted = append(p.Capabilities.Permitted, cp)
			// Ambient needs inheritable; add it only where the spec has some.
			if len(p.Capabilities.Inheritable) > 0 {
				p.Capabilities.Ambient = append(p.Capabilities.Ambient, cp)
			}
		}
	}
	if c.Bool("no-new-privs") {
		p.NoNewPrivileges = true
	}
	return p, nil
}

func parseUser(u string) (uint32, uint32, error) {
	uidS, gidS, hasGid := strings.Cut(u, ":")
	uid, err := strconv.ParseUint(uidS, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("--user %q: want uid[:gid] as numbers", u)
	}
	gid := uint64(0)
	if hasGid {
		if gid, err = strconv.ParseUint(gidS, 10, 32); err != nil {
			return 0, 0, fmt.Errorf("--user %q: want uid[:gid] as numbers", u)
		}
	}
	return uint32(uid), uint32(gid), nil
}

// consoleFor returns what receives the pty master for a terminal process:
// a connection to --console-socket, or (foreground, no socket) one end of
// our own tty proxy.
func consoleFor(terminal bool, socket string, detach bool) (*os.File, *ttyProxy, error) {
	switch {
	case !terminal && socket != "":
		return nil, nil, errors.New("--console-socket given but the process has no terminal")
	case !terminal:
		return nil, nil, nil
	case socket != "":
		f, err := lifecycle.DialConsole(socket)
		return f, nil, err
	case detach:
		return nil, nil, errors.New("a terminal needs --console-socket when detached")
	default:
		t, err := newTTYProxy()
		if err != nil {
			return nil, nil, err
		}
		return t.theirs, t, nil
	}
}
