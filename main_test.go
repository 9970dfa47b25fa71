package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/stasis-oci/stasis/checkpoint"
	"github.com/stasis-oci/stasis/lifecycle"
)

// runc (urfave/cli v1) accepts a command's flags after its positional
// arguments; scripts and runc's own tests rely on it.
func TestReorderArgs(t *testing.T) {
	app := newApp()
	for _, tc := range []struct{ in, want []string }{
		{[]string{"stasis", "update", "ct", "--cpuset-cpus", "1"}, []string{"stasis", "update", "--cpuset-cpus", "1", "ct"}},
		{[]string{"stasis", "--root", "/r", "update", "ct", "--memory=1g", "--pids-limit", "30"},
			[]string{"stasis", "--root", "/r", "update", "--memory=1g", "--pids-limit", "30", "ct"}},
		{[]string{"stasis", "--debug", "kill", "ct", "KILL", "--all"}, []string{"stasis", "--debug", "kill", "--all", "ct", "KILL"}},
		{[]string{"stasis", "delete", "ct", "-f"}, []string{"stasis", "delete", "-f", "ct"}},
		// exec's arguments after the id are the command's own
		{[]string{"stasis", "exec", "ct", "ls", "-l"}, []string{"stasis", "exec", "ct", "ls", "-l"}},
		// "--" ends the reordering; unknown words stay where they are
		{[]string{"stasis", "update", "ct", "--", "--memory"}, []string{"stasis", "update", "ct", "--", "--memory"}},
		{[]string{"stasis", "--version"}, []string{"stasis", "--version"}},
		// a subcommand's flags stay after it: checkpoint has a --format too
		{[]string{"stasis", "checkpoint", "inspect", "f.tar", "--format", "json"}, []string{"stasis", "checkpoint", "inspect", "--format", "json", "f.tar"}},
		{[]string{"stasis", "nosuchcmd", "x", "-f"}, []string{"stasis", "nosuchcmd", "x", "-f"}},
	} {
		if got := reorderArgs(app, tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("reorderArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// flagRow is one flag of a command: the arguments that set it to
// something other than its default, and what that must do to the options
// the command's Action hands on. global: the flag is the app's, given
// before the command (--criu).
type flagRow[T any] struct {
	flag   string
	args   []string
	global bool
	set    func(*T)
}

// flagTable is what TestEvery*FlagReachesItsOption checks for one command.
type flagTable[T any] struct {
	command string
	build   func(*cli.Context) *T // what the Action calls
	id      string                // the positional container id given
	// defaults: the options with no flag given (written out, not taken
	// from the code under test).
	defaults T
	rows     []flagRow[T]
	// notOptions: flags that are deliberately not options, with why;
	// they must leave the options as the defaults.
	notOptions map[string]string
	// unflagged: fields no flag of this command sets, with why.
	unflagged map[string]string
}

// parseOptions runs the app on ARGS with table.command's Action replaced
// by one that captures table.build(c), and returns what it built.
func parseOptions[T any](t *testing.T, table *flagTable[T], global, args []string) *T {
	t.Helper()
	app := newApp()
	app.Before = nil // no logging set-up in tests
	var got *T
	found := false
	for i, cmd := range app.Commands {
		if cmd.Name != table.command {
			continue
		}
		c := *cmd // a copy: the package's command keeps its Action
		c.Action = func(ctx *cli.Context) error {
			got = table.build(ctx)
			return nil
		}
		app.Commands[i] = &c
		found = true
	}
	if !found {
		t.Fatalf("no command %q in the app", table.command)
	}
	argv := append([]string{"stasis"}, global...)
	argv = append(argv, table.command)
	argv = append(argv, args...)
	argv = append(argv, table.id)
	if err := app.Run(argv); err != nil {
		t.Fatalf("%q: %v", argv, err)
	}
	if got == nil {
		t.Fatalf("%q: the Action did not run", argv)
	}
	return got
}

// fieldDiff is one field in which two options structs differ.
type fieldDiff struct {
	field     string // "Bundle", "Options.NoRemount"
	got, want any
}

func (d fieldDiff) String() string {
	return fmt.Sprintf("%s = %#v, want %#v", d.field, d.got, d.want)
}

// diffFields compares two options structs field by field (embedded
// structs field by field too).
func diffFields(got, want reflect.Value, prefix string) []fieldDiff {
	var diffs []fieldDiff
	for i := 0; i < got.NumField(); i++ {
		f := got.Type().Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			diffs = append(diffs, diffFields(got.Field(i), want.Field(i), prefix+f.Name+".")...)
			continue
		}
		if g, w := got.Field(i).Interface(), want.Field(i).Interface(); !reflect.DeepEqual(g, w) {
			diffs = append(diffs, fieldDiff{prefix + f.Name, g, w})
		}
	}
	return diffs
}

// fieldNames lists a struct's fields, embedded structs' fields included.
func fieldNames(typ reflect.Type, prefix string) []string {
	var names []string
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			names = append(names, fieldNames(f.Type, prefix+f.Name+".")...)
			continue
		}
		names = append(names, prefix+f.Name)
	}
	return names
}

func checkFlagTable[T any](t *testing.T, table *flagTable[T]) {
	app := newApp()
	cmd := app.Command(table.command)
	if cmd == nil {
		t.Fatalf("no command %q", table.command)
	}
	// Every flag of the command has a row, or is deliberately no option.
	rows := map[string]bool{}
	for _, r := range table.rows {
		if rows[r.flag] {
			t.Errorf("flag %q has two rows", r.flag)
		}
		rows[r.flag] = true
		if r.global {
			if findFlag(app.Flags, "--"+r.flag) == nil {
				t.Errorf("row for global flag %q, which the app does not have", r.flag)
			}
		} else if findFlag(cmd.Flags, "--"+r.flag) == nil {
			t.Errorf("row for flag %q, which %s does not have", r.flag, table.command)
		}
	}
	for name := range table.notOptions {
		if rows[name] {
			t.Errorf("flag %q is both a row and not an option", name)
		}
		if findFlag(cmd.Flags, "--"+name) == nil {
			t.Errorf("flag %q listed as not an option, which %s does not have", name, table.command)
		}
	}
	for _, f := range cmd.Flags {
		name := f.Names()[0]
		if !rows[name] && table.notOptions[name] == "" {
			t.Errorf("%s --%s has no row: add one saying which option field it sets, or list it in notOptions with why", table.command, name)
		}
	}

	defaults := reflect.ValueOf(table.defaults)
	t.Run("no flags", func(t *testing.T) {
		got := parseOptions(t, table, nil, nil)
		for _, d := range diffFields(reflect.ValueOf(*got), defaults, "") {
			t.Error(d)
		}
	})
	// Each flag alone changes its field and nothing else.
	var global, args []string
	for _, r := range table.rows {
		if r.global {
			global = append(global, r.args...)
		} else {
			args = append(args, r.args...)
		}
		t.Run(r.flag, func(t *testing.T) {
			var got *T
			if r.global {
				got = parseOptions(t, table, r.args, nil)
			} else {
				got = parseOptions(t, table, nil, r.args)
			}
			want := table.defaults
			r.set(&want)
			if reflect.DeepEqual(want, table.defaults) {
				t.Fatalf("row %q: its value is the default, so it proves nothing", r.flag)
			}
			for _, d := range diffFields(reflect.ValueOf(*got), reflect.ValueOf(want), "") {
				t.Errorf("%q: %s", r.args, d)
			}
		})
	}
	for name, why := range table.notOptions {
		t.Run(name, func(t *testing.T) {
			if why == "" {
				t.Fatalf("flag %q is not an option, but says not why", name)
			}
			args := []string{"--" + name}
			if f := flagNamed(table.command, name); f != nil && !isBoolFlag(f) {
				args = append(args, "x")
			}
			got := parseOptions(t, table, nil, args)
			for _, d := range diffFields(reflect.ValueOf(*got), defaults, "") {
				t.Errorf("--%s (%s) changed an option: %s", name, why, d)
			}
		})
	}
	// All flags together: every field as its row says, and every field
	// no row sets is listed with why.
	t.Run("all flags", func(t *testing.T) {
		got := parseOptions(t, table, global, args)
		want := table.defaults
		for _, r := range table.rows {
			r.set(&want)
		}
		for _, d := range diffFields(reflect.ValueOf(*got), reflect.ValueOf(want), "") {
			t.Errorf("%q %q: %s", global, args, d)
		}
		same := map[string]bool{}
		for _, n := range fieldNames(defaults.Type(), "") {
			same[n] = true
		}
		for _, d := range diffFields(reflect.ValueOf(want), defaults, "") {
			delete(same, d.field)
		}
		for n := range same {
			if table.unflagged[n] == "" {
				t.Errorf("field %s is set by no flag of %s: add its flag's row, or list it in unflagged with why", n, table.command)
			}
		}
		for n := range table.unflagged {
			if !same[n] {
				t.Errorf("field %s is listed as unflagged, but a row sets it", n)
			}
		}
	})
}

// The flags both commands share, as rows for either options struct.
func crFlagRows[T any](opts func(*T) *checkpoint.Common) []flagRow[T] {
	return []flagRow[T]{
		{flag: "criu", global: true, args: []string{"--criu", "/opt/criu"}, set: func(o *T) { opts(o).CriuPath = "/opt/criu" }},
		{flag: "image-path", args: []string{"--image-path", "/img"}, set: func(o *T) { opts(o).ImagePath = "/img" }},
		{flag: "work-path", args: []string{"--work-path", "/work"}, set: func(o *T) { opts(o).WorkPath = "/work" }},
		{flag: "tcp-established", args: []string{"--tcp-established"}, set: func(o *T) { opts(o).TCPEstablished = true }},
		{flag: "ext-unix-sk", args: []string{"--ext-unix-sk"}, set: func(o *T) { opts(o).ExtUnixSk = true }},
		{flag: "shell-job", args: []string{"--shell-job"}, set: func(o *T) { opts(o).ShellJob = true }},
		{flag: "file-locks", args: []string{"--file-locks"}, set: func(o *T) { opts(o).FileLocks = true }},
		{flag: "lazy-pages", args: []string{"--lazy-pages"}, set: func(o *T) { opts(o).LazyPages = true }},
		{flag: "auto-dedup", args: []string{"--auto-dedup"}, set: func(o *T) { opts(o).AutoDedup = true }},
		{flag: "manage-cgroups-mode", args: []string{"--manage-cgroups-mode", "full"}, set: func(o *T) { opts(o).ManageCgroups = "full" }},
		{flag: "empty-ns", args: []string{"--empty-ns", "network", "--empty-ns", "ipc"}, set: func(o *T) { opts(o).EmptyNs = []string{"network", "ipc"} }},
	}
}

// Every flag checkpoint parses reaches its field in
// checkpoint.CheckpointOptions (and none is dropped on the way, as
// restore's --no-remount once was).
func TestEveryCheckpointFlagReachesItsOption(t *testing.T) {
	type C = checkpoint.CheckpointOptions
	rows := crFlagRows(func(o *C) *checkpoint.Common { return &o.Common })
	rows = append(rows, []flagRow[C]{
		{flag: "parent-path", args: []string{"--parent-path", "../pre"}, set: func(o *C) { o.ParentPath = "../pre" }},
		{flag: "leave-running", args: []string{"--leave-running"}, set: func(o *C) { o.LeaveRunning = true }},
		{flag: "tcp-skip-in-flight", args: []string{"--tcp-skip-in-flight"}, set: func(o *C) { o.TCPSkipInFlight = true }},
		{flag: "link-remap", args: []string{"--link-remap"}, set: func(o *C) { o.LinkRemap = true }},
		{flag: "status-fd", args: []string{"--status-fd", "7"}, set: func(o *C) { o.StatusFd = 7 }},
		{flag: "page-server", args: []string{"--page-server", "10.0.0.1:27"}, set: func(o *C) { o.PageServer = "10.0.0.1:27" }},
		{flag: "pre-dump", args: []string{"--pre-dump"}, set: func(o *C) { o.PreDump = true }},
		{flag: "export", args: []string{"--export", "/ct.tar.zst"}, set: func(o *C) { o.Export = "/ct.tar.zst" }},
		{flag: "compress", args: []string{"--compress", "gzip"}, set: func(o *C) { o.Compress = "gzip" }},
	}...)
	checkFlagTable(t, &flagTable[C]{
		command:  "checkpoint",
		build:    checkpointOptions,
		id:       "ct",
		defaults: C{Common: checkpoint.Common{CriuPath: "criu", StasisVersion: version}, StatusFd: -1, Compress: "zstd"},
		rows:     rows,
		notOptions: map[string]string{
			"dry-run": "the Action calls checkpoint.DryRun instead of Checkpoint",
			"format":  "how the Action prints the dry-run's plan",
		},
		unflagged: map[string]string{
			"Common.StasisVersion": "stasis's own version, recorded in the images",
		},
	})
}

// Every flag restore parses reaches its field in checkpoint.RestoreOptions.
func TestEveryRestoreFlagReachesItsOption(t *testing.T) {
	type R = checkpoint.RestoreOptions
	rows := crFlagRows(func(o *R) *checkpoint.Common { return &o.Common })
	rows = append(rows, []flagRow[R]{
		{flag: "bundle", args: []string{"--bundle", "/b"}, set: func(o *R) { o.Bundle = "/b" }},
		{flag: "pid-file", args: []string{"--pid-file", "/p.pid"}, set: func(o *R) { o.PidFile = "/p.pid" }},
		{flag: "console-socket", args: []string{"--console-socket", "/s.sock"}, set: func(o *R) { o.ConsoleSocket = "/s.sock" }},
		{flag: "no-remount", args: []string{"--no-remount"}, set: func(o *R) { o.NoRemount = true }},
		{flag: "tcp-close", args: []string{"--tcp-close"}, set: func(o *R) { o.TCPClose = true }},
		{flag: "lsm-profile", args: []string{"--lsm-profile", "apparmor:p"}, set: func(o *R) { o.LsmProfile = "apparmor:p" }},
		{flag: "lsm-mount-context", args: []string{"--lsm-mount-context", "system_u:object_r:c:s0"}, set: func(o *R) { o.LsmMountContext = "system_u:object_r:c:s0" }},
		{flag: "import", args: []string{"--import", "-"}, set: func(o *R) { o.Import = "-" }},
	}...)
	checkFlagTable(t, &flagTable[R]{
		command: "restore",
		build:   restoreOptions,
		id:      "newct",
		defaults: R{
			Common: checkpoint.Common{CriuPath: "criu", StasisVersion: version},
			ID:     "newct", Bundle: ".",
		},
		rows: rows,
		notOptions: map[string]string{
			"detach":       "the Action returns instead of waiting for the restored container",
			"no-subreaper": "accepted for compatibility (containerd sends it); the restored init is always our child",
			"parent-path":  "accepted for compatibility (containerd may send it); CRIU follows the images' parent link itself",
			"no-pivot":     "accepted for compatibility (runc has it): CRIU enters the restored root itself, there is no pivot_root of stasis's to skip",
		},
		unflagged: map[string]string{
			"Common.StasisVersion": "stasis's own version",
			"ID":                   "the positional container id",
			"Console":              "set by the Action: a foreground restore's tty proxy",
			"ConsoleSize":          "set by the Action: the size of the terminal a foreground restore runs on",
		},
	})
}

// TestEveryIDCommand: every command whose usage starts with
// <container-id> refuses each kind of bad id with lifecycle.ValidateID's
// error (naming the command and what is wrong), before it does anything:
// the state root and the working directory (the default bundle and
// image dir) stay untouched. A command added later is covered by its
// usage line.
func TestEveryIDCommand(t *testing.T) {
	bad := []string{"a/b", "../escape", "..", ".", "", "a\x00b", "a\x01b", "tab\tx", "del\x7f", "sp ace",
		strings.Repeat("a", 256), strings.Repeat("a", 1025)}
	app := newApp()
	app.Writer, app.ErrWriter = io.Discard, io.Discard
	n := 0
	for _, cmd := range app.Commands {
		if !strings.HasPrefix(cmd.ArgsUsage, "<container-id>") {
			continue
		}
		n++
		for _, id := range bad {
			dir := t.TempDir()
			t.Chdir(dir)
			root := filepath.Join(dir, "state")
			err := app.Run(reorderArgs(app, []string{"stasis", "--root", root, cmd.Name, id}))
			if !errors.Is(err, lifecycle.ErrInvalidID) {
				t.Errorf("%s %q: got %v, want the invalid id error", cmd.Name, id, err)
				continue
			}
			if want := cmd.Name + ": invalid container id " + lifecycle.QuoteID(id) + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("%s %q: error %q does not start %q", cmd.Name, id, err, want)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("%s %q left %v behind", cmd.Name, id, ents)
			}
		}
	}
	// create run start state kill delete pause resume ps update events
	// exec checkpoint restore
	if n != 14 {
		t.Errorf("%d commands take a container id, want 14", n)
	}
}

// flagNamed is command's flag called name, or nil.
func flagNamed(command, name string) cli.Flag {
	for _, cmd := range newApp().Commands {
		if cmd.Name != command {
			continue
		}
		for _, f := range cmd.Flags {
			for _, n := range f.Names() {
				if n == name {
					return f
				}
			}
		}
	}
	return nil
}

func isBoolFlag(f cli.Flag) bool {
	_, ok := f.(*cli.BoolFlag)
	return ok
}
