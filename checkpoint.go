package main

import (
	"fmt"
	"os"
	"os/signal"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/checkpoint"
)

// crFlags are shared by checkpoint and restore, spelled as runc's.
var crFlags = []cli.Flag{
	&cli.StringFlag{Name: "image-path", Value: "", Usage: "directory for the CRIU images (default: ./checkpoint)"},
	&cli.StringFlag{Name: "work-path", Usage: "directory for CRIU's logs and work files (default: the image path)"},
	&cli.BoolFlag{Name: "tcp-established", Usage: "checkpoint/restore established TCP connections"},
	&cli.BoolFlag{Name: "ext-unix-sk", Usage: "allow unix sockets connected outside the container"},
	&cli.BoolFlag{Name: "shell-job", Usage: "the container was started from a shell with its terminal"},
	&cli.BoolFlag{Name: "file-locks", Usage: "handle file locks"},
	&cli.BoolFlag{Name: "lazy-pages", Usage: "restore memory lazily (userfaultfd); checkpoint then waits for a page client (criu lazy-pages) unless --page-server is given"},
	&cli.BoolFlag{Name: "auto-dedup", Usage: "deduplicate pages against the parent images"},
	&cli.StringFlag{Name: "manage-cgroups-mode", Usage: "CRIU's cgroup mode: soft (default), full, strict or ignore"},
	&cli.StringSliceFlag{Name: "empty-ns", Usage: "namespace to leave empty in the images (network), repeatable"},
}

var checkpointCommand = &cli.Command{
	Name:      "checkpoint",
	Usage:     "freeze a running container to CRIU images",
	ArgsUsage: "<container-id>",
	Flags: append([]cli.Flag{
		&cli.StringFlag{Name: "parent-path", Usage: "previous (pre-)dump, relative to the image path"},
		&cli.BoolFlag{Name: "leave-running", Usage: "keep the container running after the checkpoint"},
		&cli.BoolFlag{Name: "tcp-skip-in-flight", Usage: "skip half-open TCP connections"},
		&cli.BoolFlag{Name: "link-remap", Usage: "allow deleted-but-open files (link remapping)"},
		&cli.IntFlag{Name: "status-fd", Value: -1, Usage: "fd that CRIU notifies when the dump is ready (lazy pages)"},
		&cli.StringFlag{Name: "page-server", Usage: "ADDRESS:PORT of a CRIU page server to send memory to"},
		&cli.BoolFlag{Name: "pre-dump", Usage: "dump memory only, leaving the container running"},
		&cli.BoolFlag{Name: "dry-run", Usage: "print what a checkpoint would do and what would stop it, freezing nothing"},
		&cli.StringFlag{Name: "format", Value: "text", Usage: "output of --dry-run: text or json"},
		&cli.StringFlag{Name: "export", Usage: "write one archive FILE (\"-\": stdout) with the images, metadata, config and rootfs changes"},
		&cli.StringFlag{Name: "compress", Value: "zstd", Usage: "compression of the --export archive: zstd, gzip or none"},
	}, crFlags...),
	// "inspect" is a subcommand, so no container can be checkpointed
	// under that id; "help" stays an id (no help subcommand).
	HideHelpCommand: true,
	Subcommands:     []*cli.Command{checkpointInspectCommand},
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1, 1); err != nil {
			return err
		}
		id, err := containerID(c)
		if err != nil {
			return err
		}
		// Checked before anything is looked at or frozen: a typo must not
		// cost a plan, nor be ignored by a real checkpoint.
		format := c.String("format")
		if format != "text" && format != "json" {
			return fmt.Errorf("checkpoint %s: unknown --format %q: use text or json", id, format)
		}
		o := checkpointOptions(c)
		if c.Bool("dry-run") {
			plan, err := checkpoint.DryRun(store(c), id, o)
			if err != nil {
				return err
			}
			if format == "json" {
				return printJSON(plan)
			}
			fmt.Print(plan)
			return nil
		}
		stats, err := checkpoint.Checkpoint(store(c), id, o)
		if err != nil {
			return err
		}
		if stats != nil {
			out := os.Stdout
			if o.Export == "-" {
				out = os.Stderr // stdout is the archive
			}
			fmt.Fprintf(out, "checkpoint %s: %s\n", id, stats)
		}
		return nil
	},
}

var restoreCommand = &cli.Command{
	Name:      "restore",
	Usage:     "bring a checkpointed container back, possibly under a new id and bundle",
	ArgsUsage: "<container-id>",
	Flags: append([]cli.Flag{
		&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "bundle of the restored container"},
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "do not wait for the restored container"},
		&cli.StringFlag{Name: "pid-file", Usage: "write the restored init's pid to this file (atomically: a symlink at the name is replaced)"},
		&cli.StringFlag{Name: "console-socket", Usage: "unix socket that receives the restored pty master"},
		&cli.BoolFlag{Name: "no-subreaper", Usage: "accepted for compatibility (containerd sends -no-subreaper)"},
		&cli.StringFlag{Name: "parent-path", Usage: "accepted for compatibility (containerd may send it): CRIU finds a parent dump through the images' own parent link"},
		&cli.BoolFlag{Name: "no-pivot", Usage: "accepted for compatibility: CRIU enters the restored root itself, stasis makes no pivot_root to skip"},
		&cli.BoolFlag{Name: "tcp-close", Usage: "restore TCP connections closed"},
		&cli.StringFlag{Name: "lsm-profile", Usage: "LSM profile TYPE:NAME for the restored processes"},
		&cli.StringFlag{Name: "lsm-mount-context", Usage: "SELinux mount context for the restored mounts"},
		&cli.BoolFlag{Name: "no-remount", Usage: "do not mount the checkpoint's union rootfs again when the bundle's rootfs is not mounted"},
		&cli.StringFlag{Name: "import", Usage: "restore from the archive FILE (\"-\": stdin) that checkpoint --export wrote, its rootfs changes onto the bundle's rootfs"},
	}, crFlags...),
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1, 1); err != nil {
			return err
		}
		id, err := containerID(c)
		if err != nil {
			return err
		}
		o := restoreOptions(c)
		detach := c.Bool("detach")
		sigs := make(chan os.Signal, 64)
		var tty *ttyProxy
		if !detach {
			signal.Notify(sigs)
			defer signal.Stop(sigs)
			if o.ConsoleSocket == "" {
				t, err := newTTYProxy()
				if err != nil {
					return err
				}
				tty, o.Console = t, t.theirs
				if ws, err := unix.IoctlGetWinsize(int(os.Stdin.Fd()), unix.TIOCGWINSZ); err == nil {
					o.ConsoleSize = ws
				}
				defer tty.Close()
			}
		}
		res, err := checkpoint.Restore(store(c), o)
		if err != nil {
			return err
		}
		// Our stdio are the container's now (containerd's pipes): stats go
		// to the log, and to stderr only when a person is watching.
		if res.Stats != nil {
			logger.Debug("restored", "container", id, "stats", res.Stats.String())
			if isTerminal(os.Stderr) {
				fmt.Fprintf(os.Stderr, "restore %s: %s\n", id, res.Stats)
			}
		}
		if detach {
			return nil
		}
		pid := res.Pid
		if tty != nil && res.Terminal {
			if err := tty.Start(); err != nil {
				return opError("restore", id, err)
			}
		}
		return finishForeground(c, id, pid, sigs, tty)
	},
}

// checkpointOptions is what checkpoint's flags (and the global --criu)
// ask of checkpoint.Checkpoint and DryRun. --dry-run and --format are the
// Action's own. TestEveryCheckpointFlagReachesItsOption holds each flag
// to its field.
func checkpointOptions(c *cli.Context) *checkpoint.CheckpointOptions {
	return &checkpoint.CheckpointOptions{
		Common:          crOptions(c),
		ParentPath:      c.String("parent-path"),
		LeaveRunning:    c.Bool("leave-running"),
		TCPSkipInFlight: c.Bool("tcp-skip-in-flight"),
		LinkRemap:       c.Bool("link-remap"),
		StatusFd:        c.Int("status-fd"),
		PageServer:      c.String("page-server"),
		PreDump:         c.Bool("pre-dump"),
		Export:          c.String("export"),
		Compress:        c.String("compress"),
	}
}

// restoreOptions is what restore's flags and its container id ask of
// checkpoint.Restore; Console and ConsoleSize are set by the Action (a
// foreground restore's tty proxy), and --detach is the Action's own.
// TestEveryRestoreFlagReachesItsOption holds each flag to its field.
func restoreOptions(c *cli.Context) *checkpoint.RestoreOptions {
	return &checkpoint.RestoreOptions{
		Common:          crOptions(c),
		ID:              c.Args().First(),
		Bundle:          c.String("bundle"),
		PidFile:         c.String("pid-file"),
		ConsoleSocket:   c.String("console-socket"),
		NoRemount:       c.Bool("no-remount"),
		TCPClose:        c.Bool("tcp-close"),
		LsmProfile:      c.String("lsm-profile"),
		LsmMountContext: c.String("lsm-mount-context"),
		Import:          c.String("import"),
	}
}

// crOptions are the flags both directions share (crFlags).
func crOptions(c *cli.Context) checkpoint.Common {
	return checkpoint.Common{
		CriuPath:       c.String("criu"),
		StasisVersion:  version,
		ImagePath:      c.String("image-path"),
		WorkPath:       c.String("work-path"),
		TCPEstablished: c.Bool("tcp-established"),
		ExtUnixSk:      c.Bool("ext-unix-sk"),
		ShellJob:       c.Bool("shell-job"),
		FileLocks:      c.Bool("file-locks"),
		LazyPages:      c.Bool("lazy-pages"),
		AutoDedup:      c.Bool("auto-dedup"),
		ManageCgroups:  c.String("manage-cgroups-mode"),
		EmptyNs:        c.StringSlice("empty-ns"),
	}
}

var checkpointInspectCommand = &cli.Command{
	Name:      "inspect",
	Usage:     "print what a checkpoint archive or image dir holds (processes, memory, rootfs changes, where it was made)",
	ArgsUsage: "<archive-file|image-dir>",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "format", Value: "text", Usage: "text or json"},
	},
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1, 1); err != nil {
			return err
		}
		format := c.String("format")
		if format != "text" && format != "json" {
			return fmt.Errorf("checkpoint inspect: unknown --format %q: use text or json", format)
		}
		in, err := checkpoint.Inspect(c.Args().First())
		if err != nil {
			return err
		}
		if format == "json" {
			return printJSON(in)
		}
		fmt.Print(in)
		return nil
	},
}
