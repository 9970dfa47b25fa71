package main

import (
	"reflect"
	"testing"
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
