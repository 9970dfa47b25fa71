// Package gorunc drives stasis through github.com/containerd/go-runc, the
// library containerd's shim uses, exactly as a client would: create with
// piped stdio, start, exec with piped stdio, ps, kill, delete.
//
// STASIS names the binary under test (default: the stasis at the repo root).
// The bundle's rootfs is Debian's busybox-static (/bin/busybox, or $BUSYBOX).
// Must run as root.
package gorunc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	runc "github.com/containerd/go-runc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func stasisPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("STASIS")
	if p == "" {
		p = "../../../stasis"
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Fatalf("stasis binary %s: %v (run `make build` or set STASIS)", abs, err)
	}
	return abs
}

// newBundle makes DIR/rootfs (busybox and its applets) and DIR/config.json
// from `stasis spec`, with terminal off and the given args.
func newBundle(t *testing.T, bin string, args ...string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	busybox := os.Getenv("BUSYBOX")
	if busybox == "" {
		busybox = "/bin/busybox"
	}
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "proc", "sys", "dev", "etc", "tmp", "root"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatalf("busybox: %v (install busybox-static)", err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet != "busybox" {
			_ = os.Symlink("busybox", filepath.Join(rootfs, "bin", applet))
		}
	}
	if out, err := exec.Command(bin, "spec", "--bundle", dir).CombinedOutput(); err != nil {
		t.Fatalf("stasis spec: %v: %s", err, out)
	}
	cfgPath := filepath.Join(dir, "config.json")
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	spec.Process.Terminal = false
	spec.Process.Args = args
	raw, err = json.MarshalIndent(&spec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func bundleHostname(t *testing.T, bundle string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	return spec.Hostname
}

// bundleProcess is the bundle's process, the base for an exec's process.json
// as containerd builds it.
func bundleProcess(t *testing.T, bundle string) specs.Process {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	return *spec.Process
}

func newRunc(t *testing.T, bin string) *runc.Runc {
	t.Helper()
	dir := t.TempDir()
	return &runc.Runc{
		Command:   bin,
		Root:      filepath.Join(dir, "state"),
		Log:       filepath.Join(dir, "log.json"),
		LogFormat: runc.JSON,
	}
}

// cleanup force-deletes id at the end of the test, whatever happened.
func cleanup(t *testing.T, r *runc.Runc, id string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = r.Delete(ctx, id, &runc.DeleteOpts{Force: true})
	})
}

func waitStatus(t *testing.T, r *runc.Runc, id, want string) *runc.Container {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := r.State(context.Background(), id)
		if err == nil && c.Status == want {
			return c
		}
		if time.Now().After(deadline) {
			got := "<error>"
			if c != nil {
				got = c.Status
			}
			t.Fatalf("container %s: status %q, want %q (err %v)", id, got, want, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readLine reads one line from rd within a timeout.
func readLine(t *testing.T, rd *bufio.Reader, what string) string {
	t.Helper()
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := rd.ReadString('\n')
		ch <- res{s, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("%s: read: %v (got %q)", what, r.err, r.s)
		}
		return strings.TrimRight(r.s, "\n")
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no line within 10s", what)
	}
	return ""
}

// TestLifecycle is issue 4's acceptance test: create, start, exec into the
// container with piped stdio, ps, kill and delete, all through go-runc.
func TestLifecycle(t *testing.T) {
	bin := stasisPath(t)
	r := newRunc(t, bin)
	ctx := context.Background()
	bundle := newBundle(t, bin, "sh", "-c",
		`read line; echo "init got $line"; echo "init stderr" >&2; exec sleep 1000`)
	id := fmt.Sprintf("gorunc-life-%d", os.Getpid())
	cleanup(t, r, id)

	pio, err := runc.NewPipeIO(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pio.Close()
	pidFile := filepath.Join(t.TempDir(), "init.pid")
	if err := r.Create(ctx, id, bundle, &runc.CreateOpts{IO: pio, PidFile: pidFile}); err != nil {
		t.Fatalf("create: %v", err)
	}
	c := waitStatus(t, r, id, "created")
	pidData, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	if strings.TrimSpace(string(pidData)) != fmt.Sprint(c.Pid) {
		t.Fatalf("pid file says %q, state says %d", pidData, c.Pid)
	}
	if c.Bundle != bundle {
		t.Errorf("state bundle = %q, want %q", c.Bundle, bundle)
	}
	list, err := r.List(ctx)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if !slices.ContainsFunc(list, func(c *runc.Container) bool { return c.ID == id }) {
		t.Fatalf("list does not show %s: %+v", id, list)
	}

	if err := r.Start(ctx, id); err != nil {
		t.Fatalf("start: %v", err)
	}
	waitStatus(t, r, id, "running")

	// The init's stdio are the pipes go-runc handed to create.
	if _, err := io.WriteString(pio.Stdin(), "hello\n"); err != nil {
		t.Fatalf("write init stdin: %v", err)
	}
	if got := readLine(t, bufio.NewReader(pio.Stdout()), "init stdout"); got != "init got hello" {
		t.Errorf("init stdout = %q, want %q", got, "init got hello")
	}
	if got := readLine(t, bufio.NewReader(pio.Stderr()), "init stderr"); got != "init stderr" {
		t.Errorf("init stderr = %q", got)
	}

	// exec with piped stdio, not detached: go-runc waits for it and reports
	// its exit status.
	eio, err := runc.NewPipeIO(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer eio.Close()
	proc := bundleProcess(t, bundle)
	proc.Args = []string{"sh", "-c", `while read l; do echo "out:$l"; done; echo "err:$(hostname)" >&2; exit 7`}
	proc.Terminal = false
	execErr := make(chan error, 1)
	go func() {
		execErr <- r.Exec(ctx, id, proc, &runc.ExecOpts{IO: eio, PidFile: filepath.Join(t.TempDir(), "exec.pid")})
	}()
	if _, err := io.WriteString(eio.Stdin(), "a\nb\n"); err != nil {
		t.Fatalf("write exec stdin: %v", err)
	}
	eio.Stdin().Close()
	outR := bufio.NewReader(eio.Stdout())
	if got := readLine(t, outR, "exec stdout"); got != "out:a" {
		t.Errorf("exec stdout line 1 = %q", got)
	}
	if got := readLine(t, outR, "exec stdout"); got != "out:b" {
		t.Errorf("exec stdout line 2 = %q", got)
	}
	if got, want := readLine(t, bufio.NewReader(eio.Stderr()), "exec stderr"), "err:"+bundleHostname(t, bundle); got != want {
		t.Errorf("exec stderr = %q, want %q (the spec's hostname)", got, want)
	}
	select {
	case err := <-execErr:
		var ee *runc.ExitError
		if !errors.As(err, &ee) || ee.Status != 7 {
			t.Errorf("exec: err = %v, want exit status 7", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("exec did not return within 20s")
	}

	// A second exec whose output go-runc collects itself (no IO): ps sees
	// the container's processes.
	proc.Args = []string{"true"}
	if err := r.Exec(ctx, id, proc, nil); err != nil {
		t.Errorf("exec true: %v", err)
	}
	pids, err := r.Ps(ctx, id)
	if err != nil {
		t.Fatalf("ps: %v", err)
	}
	if !slices.Contains(pids, c.Pid) {
		t.Errorf("ps = %v, does not include init %d", pids, c.Pid)
	}

	if err := r.Kill(ctx, id, int(syscall.SIGKILL), nil); err != nil {
		t.Fatalf("kill: %v", err)
	}
	waitStatus(t, r, id, "stopped")
	if err := r.Delete(ctx, id, nil); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := r.State(ctx, id); err == nil {
		t.Errorf("state after delete succeeded")
	}
	list, err = r.List(ctx)
	if err != nil {
		t.Fatalf("list after delete: %v", err)
	}
	if slices.ContainsFunc(list, func(c *runc.Container) bool { return c.ID == id }) {
		t.Errorf("list still shows %s after delete", id)
	}
	if err := syscall.Kill(c.Pid, 0); err == nil {
		if data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.Pid)); !strings.Contains(string(data), ") Z") {
			t.Errorf("init %d still alive after kill+delete", c.Pid)
		}
	}
}

// TestRunExitCode: go-runc's Run (create+start+wait+delete) passes the
// container's exit status through.
func TestRunExitCode(t *testing.T) {
	bin := stasisPath(t)
	r := newRunc(t, bin)
	bundle := newBundle(t, bin, "sh", "-c", "echo ran; exit 3")
	id := fmt.Sprintf("gorunc-run-%d", os.Getpid())
	cleanup(t, r, id)
	pio, err := runc.NewPipeIO(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pio.Close()
	outCh := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(pio.Stdout())
		outCh <- string(b)
	}()
	pio.Stdin().Close()
	status, err := r.Run(context.Background(), id, bundle, &runc.CreateOpts{IO: pio})
	if status != 3 {
		t.Errorf("run: status %d (err %v), want 3", status, err)
	}
	pio.(runc.StartCloser).CloseAfterStart()
	select {
	case out := <-outCh:
		if out != "ran\n" {
			t.Errorf("stdout = %q", out)
		}
	case <-time.After(10 * time.Second):
		t.Error("stdout not closed 10s after the container exited")
	}
}

// TestCreateErrorInJSONLog: a failing create returns an error and leaves a
// JSON error line in --log, the line containerd shows to users.
func TestCreateErrorInJSONLog(t *testing.T) {
	bin := stasisPath(t)
	r := newRunc(t, bin)
	bundle := newBundle(t, bin, "/no/such/binary")
	id := fmt.Sprintf("gorunc-bad-%d", os.Getpid())
	cleanup(t, r, id)
	pio, err := runc.NewPipeIO(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pio.Close()
	err = r.Create(context.Background(), id, bundle, &runc.CreateOpts{IO: pio})
	if err == nil {
		// runc reports a missing executable at create; accept start too.
		err = r.Start(context.Background(), id)
	}
	if err == nil {
		t.Fatal("create+start of /no/such/binary succeeded")
	}
	data, rerr := os.ReadFile(r.Log)
	if rerr != nil {
		t.Fatalf("log file: %v", rerr)
	}
	var last string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var entry struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if entry.Level == "error" {
			last = entry.Msg
		}
	}
	if !strings.Contains(last, "/no/such/binary") {
		t.Errorf("last error line in log = %q, want it to name /no/such/binary", last)
	}
}

// TestCheckpointRestore makes the calls containerd's shim makes through
// go-runc: checkpoint with --image-path/--work-path, then restore
// --detach --pid-file -no-subreaper with NEW stdio pipes, under a new id.
// The counter goes on where it stopped, and on the new pipes.
func TestCheckpointRestore(t *testing.T) {
	bin := stasisPath(t)
	r := newRunc(t, bin)
	ctx := context.Background()
	bundle := newBundle(t, bin, "sh", "-c", `i=0; while true; do echo $i; i=$((i+1)); sleep 0.05; done`)
	id := fmt.Sprintf("gorunc-cr-%d", os.Getpid())
	cleanup(t, r, id)

	pio, err := runc.NewPipeIO(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pio.Close()
	if err := r.Create(ctx, id, bundle, &runc.CreateOpts{IO: pio, PidFile: filepath.Join(t.TempDir(), "pid")}); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := r.Start(ctx, id); err != nil {
		t.Fatalf("start: %v", err)
	}
	out := bufio.NewReader(pio.Stdout())
	last := -1
	for i := 0; i < 5; i++ {
		line := readLine(t, out, "counter before checkpoint")
		var n int
		if _, err := fmt.Sscan(line, &n); err != nil || n != last+1 {
			t.Fatalf("counter printed %q after %d", line, last)
		}
		last = n
	}

	dir := t.TempDir()
	img, work := filepath.Join(dir, "img"), filepath.Join(dir, "work")
	if err := r.Checkpoint(ctx, id, &runc.CheckpointOpts{ImagePath: img, WorkDir: work}); err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	if _, err := os.Stat(filepath.Join(work, "dump.log")); err != nil {
		t.Errorf("no dump.log in the work path: %v", err)
	}
	// Everything the old pipe still holds was written before the dump, and
	// it reaches EOF: nothing (the runtime included) keeps it open.
	restCh := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(out)
		restCh <- b
	}()
	var rest []byte
	select {
	case rest = <-restCh:
	case <-time.After(10 * time.Second):
		t.Fatal("the old stdout pipe is still open 10s after the checkpoint")
	}
	for _, line := range strings.Fields(string(rest)) {
		var n int
		if _, err := fmt.Sscan(line, &n); err != nil || n != last+1 {
			t.Fatalf("old pipe: %q after %d", line, last)
		}
		last = n
	}
	if _, err := r.State(ctx, id); err == nil {
		t.Errorf("state of %s still works after a checkpoint without --leave-running", id)
	}

	nid := id + "-restored"
	cleanup(t, r, nid)
	rio, err := runc.NewPipeIO(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rio.Close()
	pidFile := filepath.Join(t.TempDir(), "restored.pid")
	status, err := r.Restore(ctx, nid, bundle, &runc.RestoreOpts{
		CheckpointOpts: runc.CheckpointOpts{ImagePath: img, WorkDir: work},
		IO:             rio, Detach: true, PidFile: pidFile, NoSubreaper: true,
	})
	if err != nil || status != 0 {
		t.Fatalf("restore: status %d, %v", status, err)
	}
	c := waitStatus(t, r, nid, "running")
	pidData, err := os.ReadFile(pidFile)
	if err != nil || strings.TrimSpace(string(pidData)) != fmt.Sprint(c.Pid) {
		t.Errorf("pid file %q (%v), state pid %d", pidData, err, c.Pid)
	}
	rout := bufio.NewReader(rio.Stdout())
	for i := 0; i < 5; i++ {
		line := readLine(t, rout, "counter after restore (new pipe)")
		var n int
		if _, err := fmt.Sscan(line, &n); err != nil || n != last+1 {
			t.Fatalf("after restore the counter printed %q; it had stopped at %d", line, last)
		}
		last = n
	}
	if err := r.Kill(ctx, nid, int(syscall.SIGKILL), nil); err != nil {
		t.Fatalf("kill: %v", err)
	}
	waitStatus(t, r, nid, "stopped")
	if err := r.Delete(ctx, nid, nil); err != nil {
		t.Fatalf("delete: %v", err)
	}
}
