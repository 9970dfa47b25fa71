package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

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
		{[]string{"stasis", "nosuchcmd", "x", "-f"}, []string{"stasis", "nosuchcmd", "x", "-f"}},
	} {
		if got := reorderArgs(app, tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("reorderArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
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
