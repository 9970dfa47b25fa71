package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Lines as CRIU 4.1 writes them.
const sampleDumpLog = `(00.000801) Version: 4.1.1 (gitid 0)
(00.012201) Error (criu/util.c:1533): rlimit: Can't setup RLIMIT_NOFILE for self: Operation not permitted
(00.052150) Error (criu/sk-unix.c:1122): unix: External socket is used. Consider using --ext-unix-sk option.
(00.052170) Error (criu/cr-dump.c:1662): Dump files (pid: 1234) failed with -1
(00.060101) Dumping finished with error
`

func TestFirstErrorAndHint(t *testing.T) {
	line := firstError([]byte(sampleDumpLog))
	if !strings.HasPrefix(line, "Error (criu/sk-unix.c:1122): unix: External socket is used") {
		t.Fatalf("first error = %q", line)
	}
	if h := hintFor(line); !strings.Contains(h, "--ext-unix-sk") {
		t.Fatalf("hint = %q", h)
	}
	for line, want := range map[string]string{
		"Error (criu/tty.c:1990): tty: Found dangling tty with sid 1 pgid 1 (pts) on peer fd 0.":        "--shell-job",
		"Error (criu/files-reg.c:1710): Can't lookup mount=52 for fd=3 path=/data/x":                    "bind mount",
		"Error (criu/files-reg.c:1790): Can't lookup mount=28 for fd=0 path=/dev/pts/0":                 "--shell-job",
		"Error (criu/net.c:3300): iptables-restore failed: No such file or directory":                   "iptables",
		"Error (criu/mem.c:100): Dirty tracking is OFF. Memory snapshot will not work.":                 "soft-dirty",
		"Error (criu/sk-inet.c:176): In-flight connection (l) for 3d9f2":                                "--tcp-skip-in-flight",
		"Error (criu/uffd.c:349): uffd: connect to lazy-pages.socket failed: No such file or directory": "criu lazy-pages -D",
		"Error (criu/files-reg.c:1010): Can't dump unlinked file /tmp/x (deleted), use link_remap":      "--link-remap",
		"Error (criu/filesystems.c:650): mqueue isn't empty":                                            "message queues",
		"Error (criu/image.c:630): Unable to open tty-info.img: Permission denied":                      "cannot read the checkpoint images",
		"Error (criu/files-reg.c:2353): Can't open file fd/1 on restore: Permission denied":             "give the container pipes",
	} {
		if h := hintFor(line); !strings.Contains(h, want) {
			t.Errorf("hint for %q = %q, want it to mention %q", line, h, want)
		}
	}
	if firstError([]byte("(0.1) Info all fine\n")) != "" {
		t.Fatal("error found in a clean log")
	}
}

func TestExplainKeepsTheLog(t *testing.T) {
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	os.Mkdir(work, 0o700)
	logPath := filepath.Join(work, "dump.log")
	os.WriteFile(logPath, []byte(sampleDumpLog), 0o600)
	keep := filepath.Join(dir, "criu-dump.log")
	cause := &criuError{Msg: "no msg"}
	err := explain("dump", cause, logPath, keep)
	// The work dir vanishes (containerd removes it): the kept copy stays.
	os.RemoveAll(work)
	var ce *Error
	if !errors.As(err, &ce) || ce.Log != keep {
		t.Fatalf("error %v does not name the kept log %s", err, keep)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("kept log missing: %v", err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "criu dump failed: Error (criu/sk-unix.c:1122)") || !strings.Contains(msg, "hint:") || !strings.Contains(msg, keep) {
		t.Fatalf("message %q", msg)
	}
	if !errors.Is(err, cause) {
		t.Fatal("cause not wrapped")
	}
}

func TestExplainWithoutLog(t *testing.T) {
	err := explain("restore", errors.New("criu closed the connection"), "/nonexistent/restore.log", "")
	if !strings.Contains(err.Error(), "criu closed the connection") || !strings.Contains(err.Error(), "no criu log") {
		t.Fatalf("message %q", err.Error())
	}
}
