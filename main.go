// Command stasis is a runc-compatible OCI container runtime whose
// specialty is checkpoint/restore. This package is CLI wiring only: each
// command's file parses flags and calls into lifecycle/.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/stasis-oci/stasis/cgroupmgr"
	"github.com/stasis-oci/stasis/lifecycle"
	"github.com/stasis-oci/stasis/spec"
)

// version is stasis's own version; gitCommit is set by the Makefile.
var (
	version   = "0.1.0-dev"
	gitCommit = ""
)

func main() {
	// The container init is this same binary re-executed; it must not go
	// through the CLI (its namespaces were already set up by nsenter).
	if lifecycle.IsInit() {
		lifecycle.InitMain()
	}
	os.Exit(run(os.Args))
}

func run(args []string) int {
	app := newApp()
	if err := app.Run(reorderArgs(app, args)); err != nil {
		var ec cli.ExitCoder
		if errors.As(err, &ec) && ec.ExitCode() >= 0 && err.Error() == "" {
			return ec.ExitCode()
		}
		reportError(err)
		if errors.As(err, &ec) {
			return ec.ExitCode()
		}
		return 1
	}
	return 0
}

func newApp() *cli.App {
	cli.VersionPrinter = func(c *cli.Context) {
		fmt.Fprintf(c.App.Writer, "stasis version %s\n", version)
		if gitCommit != "" {
			fmt.Fprintf(c.App.Writer, "commit: %s\n", gitCommit)
		}
		fmt.Fprintf(c.App.Writer, "spec: %s\ngo: %s\n", spec.Version, runtime.Version())
	}
	return &cli.App{
		Name:    "stasis",
		Usage:   "OCI container runtime with checkpoint/restore that just works",
		Version: version,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "debug", Usage: "enable debug logging"},
			&cli.StringFlag{Name: "log", Usage: "log file (default: stderr)"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format: text or json"},
			&cli.StringFlag{Name: "root", Value: "/run/stasis", Usage: "directory for container state (symlinks followed, see docs/paths.md)"},
			&cli.StringFlag{Name: "criu", Value: "criu", Usage: "path to the criu binary"},
			&cli.BoolFlag{Name: "systemd-cgroup", Usage: "use systemd to manage cgroups (not supported yet)"},
			&cli.StringFlag{Name: "rootless", Value: "auto", Usage: "ignored: stasis runs as root"},
		},
		Before:               setupLogging,
		ExitErrHandler:       func(*cli.Context, error) {}, // errors are reported once, by run()
		EnableBashCompletion: false,
		// runc's CLI (urfave/cli v1) never splits a repeated flag's value
		// at commas: `exec -e A=1,2` sets one variable, and
		// `exec --cgroup cpu,cpuacct:sub` names two controllers.
		DisableSliceFlagSeparator: true,
		Commands: []*cli.Command{
			specCommand,
			createCommand,
			startCommand,
			runCommand,
			stateCommand,
			listCommand,
			killCommand,
			deleteCommand,
			pauseCommand,
			resumeCommand,
			psCommand,
			updateCommand,
			eventsCommand,
			execCommand,
			checkpointCommand,
			restoreCommand,
			featuresCommand,
		},
	}
}

var logger = slog.New(slog.NewTextHandler(os.Stderr, nil))

// errorLog receives fatal errors in the JSON form containerd reads: it
// reports the last line whose level is "error".
var errorLog *slog.Logger

func setupLogging(c *cli.Context) error {
	level := slog.LevelInfo
	if c.Bool("debug") {
		level = slog.LevelDebug
	}
	var out io.Writer = os.Stderr
	if path := c.String("log"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC, 0o644)
		if err != nil {
			return fmt.Errorf("open log file %s: %w", path, err)
		}
		out = f
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: runcStyle}
	defer func() {
		warn := func(format string, args ...any) { logger.Warn(fmt.Sprintf(format, args...)) }
		cgroupmgr.Warn, lifecycle.Warn = warn, warn
		lifecycle.Debug = func(format string, args ...any) { logger.Debug(fmt.Sprintf(format, args...)) }
	}()
	switch c.String("log-format") {
	case "json":
		logger = slog.New(slog.NewJSONHandler(out, opts))
		errorLog = logger
	case "text":
		logger = slog.New(slog.NewTextHandler(out, opts))
	default:
		return fmt.Errorf("unknown --log-format %q: use text or json", c.String("log-format"))
	}
	return nil
}

// runcStyle writes levels in lower case ("error"), as logrus does for
// runc: containerd matches on it.
func runcStyle(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.LevelKey && len(groups) == 0 {
		return slog.String(slog.LevelKey, strings.ToLower(a.Value.String()))
	}
	return a
}

func reportError(err error) {
	fmt.Fprintln(os.Stderr, "stasis: "+err.Error())
	if errorLog != nil {
		errorLog.Error(err.Error())
	}
}

func store(c *cli.Context) *lifecycle.Store {
	return &lifecycle.Store{Root: c.String("root")}
}

// containerID returns the id argument (the first) of a command that
// takes one, refused when lifecycle.ValidateID refuses it. Every such
// command calls it before it does anything else, so a bad id fails the
// same way everywhere and leaves nothing behind; TestEveryIDCommand
// checks each command.
func containerID(c *cli.Context) (string, error) {
	if c.NArg() < 1 {
		return "", fmt.Errorf("%s: container id is required", c.Command.Name)
	}
	id := c.Args().First()
	if err := lifecycle.ValidateID(id); err != nil {
		return "", fmt.Errorf("%s: %w", c.Command.Name, err)
	}
	return id, nil
}

func checkArgs(c *cli.Context, min, max int) error {
	n := c.NArg()
	if n < min || n > max {
		return fmt.Errorf("%s: expected %d to %d arguments, got %d (usage: %s %s)",
			c.Command.Name, min, max, n, c.Command.Name, c.Command.ArgsUsage)
	}
	return nil
}

// exitCode gives a command's failure runc's exit code for it (exec's 255)
// while keeping the message; an exit the command chose itself (the
// process's status) passes through.
func exitCode(err error, code int) error {
	var ec cli.ExitCoder
	if err == nil || errors.As(err, &ec) {
		return err
	}
	return &codedError{err: err, code: code}
}

type codedError struct {
	err  error
	code int
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }
func (e *codedError) ExitCode() int { return e.code }

// reorderArgs lets a command's flags come after its positional arguments
// (`stasis update ID --memory 1g`), which runc's CLI (urfave/cli v1, which
// reorders) accepts and urfave/cli v2 does not. Flags are moved in front
// of the first positional, each with its value; "--" ends the reordering,
// and exec is left alone since what follows its id is the command to run
// (runc's exec does not reorder either).
func reorderArgs(app *cli.App, args []string) []string {
	i := 1
	// Skip the global flags, and the value of those that take one.
	for i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "--" {
		if f := findFlag(app.Flags, args[i]); f != nil && takesValue(f) && !strings.Contains(args[i], "=") {
			i++
		}
		i++
	}
	if i >= len(args) {
		return args
	}
	cmd := app.Command(args[i])
	if cmd == nil || cmd.Name == "exec" {
		return args
	}
	// A subcommand's flags are its own (checkpoint inspect --format).
	for i+1 < len(args) && cmd.Command(args[i+1]) != nil {
		i++
		cmd = cmd.Command(args[i])
	}
	var flags, rest []string
	tail := args[i+1:]
	for j := 0; j < len(tail); j++ {
		a := tail[j]
		if a == "--" {
			rest = append(rest, tail[j:]...)
			break
		}
		f := findFlag(cmd.Flags, a)
		if f == nil {
			rest = append(rest, a)
			continue
		}
		flags = append(flags, a)
		if takesValue(f) && !strings.Contains(a, "=") && j+1 < len(tail) {
			j++
			flags = append(flags, tail[j])
		}
	}
	out := append([]string{}, args[:i+1]...)
	out = append(out, flags...)
	return append(out, rest...)
}

// findFlag returns the flag arg names ("-d", "--detach", "--memory=1g"),
// or nil when it names none of flags (or is not a flag at all).
func findFlag(flags []cli.Flag, arg string) cli.Flag {
	if !strings.HasPrefix(arg, "-") || arg == "-" {
		return nil
	}
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

func takesValue(f cli.Flag) bool {
	if df, ok := f.(cli.DocGenerationFlag); ok {
		return df.TakesValue()
	}
	return false
}
