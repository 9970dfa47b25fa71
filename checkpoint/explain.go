package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// hints map a fragment of a CRIU error line to what the user can do.
// Order matters: the first match wins.
var hints = []struct{ match, hint string }{
	{"mqueue isn't empty", "CRIU cannot checkpoint the messages of POSIX message queues (criu#2285): receive them (or mq_unlink the queues) before the checkpoint"},
	{"External socket", "the container has a unix socket connected outside it: retry with --ext-unix-sk"},
	{"unix socket", "the container has a unix socket connected outside it: retry with --ext-unix-sk"},
	// A user-namespaced container's restored tasks act as its mapped
	// root, who cannot open what only the host's root may (tty-info.img
	// is the first image they read, so "tty" must not match first).
	{".img: Permission denied", "the restored processes (the container's mapped root) cannot read the checkpoint images"},
	{"Can't open file fd/", "the restored processes (a user namespace's mapped root?) cannot reopen a regular file given as the container's stdio: give the container pipes"},
	{"tty", "the container holds a terminal it does not own: retry with --shell-job"},
	// CRIU 4.1 without --shell-job reports a host terminal as a file on
	// an unknown mount.
	{"path=/dev/pts/", "the container holds a terminal from outside it (the host's): retry with --shell-job"},
	{"Can't lookup mount", "a file is open on a mount CRIU cannot see in the container (a host mount): declare it as a bind mount in config.json"},
	{"No root found for mountpoint", "a file is open on a mount CRIU cannot see in the container (a host mount): declare it as a bind mount in config.json"},
	{"mnt: ", "a mount of the container could not be handled: check the bind mounts and that their sources exist on this host"},
	{"iptables", "CRIU's network lock needs iptables (or nftables): install it, e.g. apt-get install iptables"},
	{"nft", "CRIU's network lock needs iptables (or nftables): install it, e.g. apt-get install iptables"},
	{"Dirty tracking", "this kernel has no soft-dirty memory tracking: --pre-dump and --parent-path cannot work here"},
	{"soft-dirty", "this kernel has no soft-dirty memory tracking: --pre-dump and --parent-path cannot work here"},
	// Before the uffd ones: this error comes from criu/uffd.c too.
	{"lazy-pages.socket", "restore --lazy-pages needs CRIU's lazy-pages daemon running first, on the same work dir, where it listens on lazy-pages.socket: criu lazy-pages -D IMAGE-DIR -W WORK-DIR (with --page-server --address ADDR --port PORT to fetch the pages from a checkpoint's page server)"},
	{"userfaultfd", "this kernel does not offer userfaultfd to CRIU: --lazy-pages cannot work here"},
	{"uffd", "this kernel does not offer userfaultfd to CRIU: --lazy-pages cannot work here"},
	{"link_remap", "a file the container holds was deleted: retry with --link-remap"},
	{"(deleted)", "a file the container holds was deleted: retry with --link-remap"},
	{"In-flight connection", "a listening TCP socket has connections it has not accepted yet: retry with --tcp-skip-in-flight (they are dropped)"},
	{"TCP", "the container has TCP connections: retry with --tcp-established (and restore with it)"},
	{"kerndat", "this CRIU does not support this kernel: run `make deps` to build CRIU 4.1 (or newer)"},
	{"vdso", "this CRIU does not support this kernel: run `make deps` to build CRIU 4.1 (or newer)"},
	{"has bad size", "a regular file the container writes to (its stdout/stderr?) changed size since the checkpoint: give the container pipes or files opened for appending (>>)"},
	{"Unexpected EOF", "the checkpoint images are incomplete (a failed or interrupted checkpoint?): checkpoint again"},
	{"empty-image", "the checkpoint images are incomplete (a failed or interrupted checkpoint?): checkpoint again"},
	{"Can't open image", "the checkpoint images are missing or incomplete: check --image-path"},
}

// firstError returns the first line of a CRIU log reporting an error.
// Lines are split by hand, not with a bufio.Scanner: a scanner stops at
// its first line longer than its buffer, and the error after it was lost.
func firstError(log []byte) string {
	for line := range strings.SplitSeq(string(log), "\n") {
		if i := strings.Index(line, "Error ("); i >= 0 && !harmless(line) {
			return strings.TrimSpace(line[i:])
		}
	}
	return ""
}

// harmless are Error lines CRIU writes while it goes on fine; the first
// line of our error must be the one that made it fail.
func harmless(line string) bool {
	// Without CAP_SYS_RESOURCE (some sandboxes) CRIU cannot raise its own
	// fd limit and carries on.
	return strings.Contains(line, "Can't setup RLIMIT_NOFILE for self")
}

func hintFor(line string) string {
	lower := strings.ToLower(line)
	for _, h := range hints {
		if strings.Contains(lower, strings.ToLower(h.match)) {
			return h.hint
		}
	}
	return ""
}

// explain turns a failed CRIU call into one error whose first line says
// what failed (CRIU's first Error line) and what to do, and names the
// kept log. keep is where the log is copied when it is about to vanish
// with a work dir the caller removes (containerd deletes its work dir).
func explain(op string, err error, logPath, keep string) error {
	kept := logPath
	data, rerr := os.ReadFile(logPath)
	if rerr == nil && keep != "" && filepath.Dir(filepath.Clean(keep)) != filepath.Dir(filepath.Clean(logPath)) {
		if werr := os.WriteFile(keep, data, 0o600); werr == nil {
			kept = keep
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "criu %s failed", op)
	var ne *notifyError
	if errors.As(err, &ne) {
		fmt.Fprintf(&b, ": %v", ne)
	} else if line := firstError(data); line != "" {
		fmt.Fprintf(&b, ": %s", line)
		if h := hintFor(line); h != "" {
			fmt.Fprintf(&b, " (hint: %s)", h)
		}
	} else if err != nil {
		fmt.Fprintf(&b, ": %v", err)
	}
	if rerr == nil {
		fmt.Fprintf(&b, "; full log: %s", kept)
	} else {
		fmt.Fprintf(&b, "; no criu log at %s (%v)", logPath, rerr)
	}
	return &Error{Op: op, Msg: b.String(), Log: kept, Cause: err}
}

// Error is a CRIU failure with the log that explains it.
type Error struct {
	Op    string
	Msg   string
	Log   string
	Cause error
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Cause }
