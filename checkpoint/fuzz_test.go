package checkpoint

import (
	"strings"
	"testing"
)

// FuzzFirstError: the line stasis puts in front of a failed checkpoint's
// error is taken out of CRIU's log, which the container's own file names
// and socket paths end up in. Whatever the log holds, firstError returns
// only text that is in it (part of one line, starting "Error ("), and it
// returns the first line that reports an error, harmless ones skipped,
// however long the lines before it are.
func FuzzFirstError(f *testing.F) {
	f.Add(sampleDumpLog)
	f.Add("(0.1) Info all fine\n")
	f.Add("")
	f.Add("Error (")
	f.Add("\n\n\r\nError (x): a\r\nError (y): b")
	f.Add("(00.1) Error (criu/util.c:1533): rlimit: Can't setup RLIMIT_NOFILE for self\n(00.2) Error (criu/mnt.c:1): mnt: x\n")
	f.Add("  Error (   \t\n")
	// A line longer than any buffer before the one that matters.
	f.Add(strings.Repeat("x", 1100*1024) + "\n(00.2) Error (criu/files-reg.c:1): Can't lookup mount=52\n")
	f.Fuzz(func(t *testing.T, log string) {
		got := firstError([]byte(log))
		lines := strings.Split(log, "\n")
		want := -1
		for i, l := range lines {
			if strings.Contains(l, "Error (") && !harmless(l) {
				want = i
				break
			}
		}
		if want < 0 {
			if got != "" {
				t.Fatalf("firstError = %q from a log with no error line", got)
			}
			return
		}
		if !strings.HasPrefix(got, "Error (") || !strings.Contains(lines[want], got) {
			t.Fatalf("firstError = %q, want the error of line %d %q", got, want, lines[want])
		}
		_ = hintFor(got)
	})
}
