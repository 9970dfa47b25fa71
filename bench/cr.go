package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	criustats "github.com/checkpoint-restore/go-criu/v7/stats"
)

// criuName is the raw-CRIU floor's name in the results.
const criuName = "criu"

// runcSpecName is stasis checkpointing a bundle whose config.json `runc
// spec` wrote (issue 16: the most common way people start), beside its
// own `stasis spec` bundle.
const runcSpecName = "stasis (runc spec)"

// crSample is one checkpoint+restore round.
type crSample struct {
	Checkpoint float64 // ms, wall time of the checkpoint/dump command
	Restore    float64 // ms, wall time of the restore (-d) command
	ImageBytes int64   // image dir size, logs excluded
	// CRIU's own view (from its stats-dump/stats-restore images), ms.
	Frozen      float64 // tasks frozen (dump)
	MemDump     float64 // memory drained to pipes (dump)
	MemWrite    float64 // pages written to the images (dump)
	RestoreCRIU float64 // restore_time (restore)
	// The span of CRIU's own log (its last timestamp), ms: how long CRIU
	// worked on the request. Wall time minus this is the runtime's own
	// time plus starting CRIU.
	DumpLog, RestoreLog float64
}

// crSeries collects the rounds of one runner at one size.
type crSeries struct {
	ck, rs, img, frozen, memdump, memwrite, rsCRIU, ckLog, rsLog []float64
}

func (s *crSeries) add(x crSample) {
	s.ck = append(s.ck, x.Checkpoint)
	s.rs = append(s.rs, x.Restore)
	s.img = append(s.img, float64(x.ImageBytes)/(1<<20))
	s.frozen = append(s.frozen, x.Frozen)
	s.memdump = append(s.memdump, x.MemDump)
	s.memwrite = append(s.memwrite, x.MemWrite)
	s.rsCRIU = append(s.rsCRIU, x.RestoreCRIU)
	s.ckLog = append(s.ckLog, x.DumpLog)
	s.rsLog = append(s.rsLog, x.RestoreLog)
}

const readyComm = "memhog-ready"

// readyTimeout is how long memhog gets to touch its memory.
const readyTimeout = 2 * time.Minute

// runtimeCROnce: a container running memhog SIZE (stdio: pipes, as
// containerd gives), checkpointed with `checkpoint --image-path`, then
// brought back with `restore -d --image-path` under the same id (the
// checkpoint removed the container); only those two commands are timed.
func runtimeCROnce(ctx context.Context, r *runtime, bundle string, size, iter int, img string) (x crSample, err error) {
	id := fmt.Sprintf("sb%d-%s-cr%d-%d", os.Getpid(), r.Name, size, iter)
	defer func() {
		if rerr := r.remove(context.Background(), id); rerr != nil && err == nil {
			err = rerr
		}
		os.RemoveAll(img)
	}()
	p, pid, err := startReady(ctx, r, bundle, id)
	if err != nil {
		return x, err
	}
	defer p.close()

	ck, err := r.run(ctx, stdio{}, "checkpoint", "--image-path", img, id)
	if err != nil {
		return x, fmt.Errorf("%v%s", err, criuLogError(filepath.Join(img, "dump.log")))
	}
	x.Checkpoint = ck.ms()
	if err := checkpointedAway(ctx, r, id, pid); err != nil {
		return x, err
	}
	x.ImageBytes = imageBytes(img)
	dumpStats(img, &x)
	x.DumpLog = logSpan(filepath.Join(img, "dump.log"))

	p2, err := newPipes()
	if err != nil {
		return x, err
	}
	defer p2.close()
	rs, err := r.run(ctx, p2.stdio(), "restore", "-d", "--image-path", img, "--bundle", bundle, id)
	p2.closeChild()
	if err != nil {
		return x, fmt.Errorf("%v %s%s", err, p2.stderr(), criuLogError(filepath.Join(img, "restore.log")))
	}
	x.Restore = rs.ms()
	restoreStats(img, &x)
	x.RestoreLog = logSpan(filepath.Join(img, "restore.log"))
	if err := restoredReady(ctx, r, id); err != nil {
		return x, err
	}
	return x, nil
}

// startReady creates and starts container id from bundle (stdio: pipes,
// as containerd gives) and waits until its memhog has touched its memory.
// The caller closes the pipes once the container is gone.
func startReady(ctx context.Context, r *runtime, bundle, id string) (*pipes, int, error) {
	p, err := newPipes()
	if err != nil {
		return nil, 0, err
	}
	fail := func(err error) (*pipes, int, error) {
		p.close()
		return nil, 0, err
	}
	if _, err := r.run(ctx, p.stdio(), "create", "--bundle", bundle, id); err != nil {
		return fail(fmt.Errorf("%v %s", err, p.stderr()))
	}
	p.closeChild()
	if _, err := r.run(ctx, stdio{}, "start", id); err != nil {
		return fail(err)
	}
	st, _, err := r.state(ctx, id)
	if err != nil {
		return fail(err)
	}
	if err := waitComm(st.Pid, readyComm, readyTimeout); err != nil {
		return fail(fmt.Errorf("%s: %v %s", r.Name, err, p.stderr()))
	}
	return p, st.Pid, nil
}

// checkpointedAway reaps the checkpointed init pid and deletes the
// container if the runtime left it stopped; a container still running
// after a checkpoint without --leave-running is an error.
func checkpointedAway(ctx context.Context, r *runtime, id string, pid int) error {
	if err := reap(pid, 10*time.Second); err != nil {
		return fmt.Errorf("%s: after checkpoint: %v", r.Name, err)
	}
	// Both runtimes remove a checkpointed container; make sure.
	if s, _, err := r.state(ctx, id); err == nil {
		if s.Status != "stopped" {
			return fmt.Errorf("%s: container %s is %s after checkpoint", r.Name, id, s.Status)
		}
		if _, err := r.run(ctx, stdio{}, "delete", id); err != nil {
			return err
		}
	}
	return nil
}

// restoredReady checks that the restored container id runs and that its
// memhog came back as it was (renamed ready, memory touched).
func restoredReady(ctx context.Context, r *runtime, id string) error {
	st, _, err := r.state(ctx, id)
	if err != nil {
		return err
	}
	if st.Status != "running" {
		return fmt.Errorf("%s: restored container is %s", r.Name, st.Status)
	}
	if err := waitComm(st.Pid, readyComm, 10*time.Second); err != nil {
		return fmt.Errorf("%s: restored: %v", r.Name, err)
	}
	return nil
}

// criuOnce is the floor: the same memhog, started outside any container
// in its own session (setsid, stdio /dev/null), dumped with `criu dump -t
// PID` and restored with `criu restore -d`, at the log level both runtimes
// ask CRIU for (-v4), so the difference is the runtime's own work plus
// what CRIU does for the container (namespaces, mounts, cgroups).
func criuOnce(ctx context.Context, cfg *config, size int, img string) (x crSample, err error) {
	defer os.RemoveAll(img)
	if err := os.MkdirAll(img, 0o700); err != nil {
		return x, err
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return x, err
	}
	defer null.Close()
	cmd := exec.Command(cfg.memhogBin, strconv.Itoa(size))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return x, err
	}
	pid := cmd.Process.Pid
	waited := false
	defer func() {
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	if err := waitComm(pid, readyComm, readyTimeout); err != nil {
		return x, err
	}
	null3 := stdio{null, null, null}
	ck, err := runTimed(ctx, stdio{}, cfg.criu, "dump", "-t", strconv.Itoa(pid), "-D", img, "--shell-job", "-v4", "-o", "dump.log")
	if err != nil {
		return x, fmt.Errorf("%v%s", err, criuLogError(filepath.Join(img, "dump.log")))
	}
	x.Checkpoint = ck.ms()
	cmd.Wait() // CRIU killed it
	waited = true
	x.ImageBytes = imageBytes(img)
	dumpStats(img, &x)
	x.DumpLog = logSpan(filepath.Join(img, "dump.log"))

	rs, err := runTimed(ctx, null3, cfg.criu, "restore", "-d", "-D", img, "--shell-job", "-v4", "-o", "restore.log")
	if err != nil {
		return x, fmt.Errorf("%v%s", err, criuLogError(filepath.Join(img, "restore.log")))
	}
	x.Restore = rs.ms()
	restoreStats(img, &x)
	x.RestoreLog = logSpan(filepath.Join(img, "restore.log"))
	// CRIU restores the same pid; once criu exits the tree is the bench's
	// child (subreaper).
	defer func() {
		syscall.Kill(pid, syscall.SIGKILL)
		if rerr := reap(pid, 10*time.Second); rerr != nil && err == nil {
			err = rerr
		}
	}()
	if err := waitComm(pid, readyComm, 10*time.Second); err != nil {
		return x, fmt.Errorf("criu restore: %v", err)
	}
	return x, nil
}

// imageBytes is the size of the CRIU images and the runtime's own files
// in dir; CRIU's logs are left out (they are not part of the image).
func imageBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".log") {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func dumpStats(img string, x *crSample) {
	d, err := os.Open(img)
	if err != nil {
		return
	}
	defer d.Close()
	if s, err := criustats.CriuGetDumpStats(d); err == nil && s != nil {
		x.Frozen = float64(s.GetFrozenTime()) / 1000
		x.MemDump = float64(s.GetMemdumpTime()) / 1000
		x.MemWrite = float64(s.GetMemwriteTime()) / 1000
	}
}

func restoreStats(img string, x *crSample) {
	d, err := os.Open(img)
	if err != nil {
		return
	}
	defer d.Close()
	if s, err := criustats.CriuGetRestoreStats(d); err == nil && s != nil {
		x.RestoreCRIU = float64(s.GetRestoreTime()) / 1000
	}
}

// logSpan is the last "(SS.UUUUUU)" timestamp of a CRIU log, in ms (0 if
// there is none): CRIU stamps each line with the time since it opened the
// log, so this is how long it spent on the request.
func logSpan(path string) float64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	var last float64
	for _, l := range strings.Split(string(b), "\n") {
		if len(l) > 2 && l[0] == '(' {
			if i := strings.IndexByte(l, ')'); i > 0 {
				if v, err := strconv.ParseFloat(strings.TrimSpace(l[1:i]), 64); err == nil && v > last {
					last = v
				}
			}
		}
	}
	return last * 1000
}

// criuLogError returns the first "Error" lines of a CRIU log, for messages.
func criuLogError(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var errs []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "Error (") {
			errs = append(errs, strings.TrimSpace(l))
			if len(errs) == 3 {
				break
			}
		}
	}
	if len(errs) == 0 {
		return ""
	}
	return " [" + path + ": " + strings.Join(errs, " | ") + "]"
}

// probeCR tries one checkpoint/restore of the smallest size; a runtime
// whose checkpoint does not work here is skipped with CRIU's error.
func probeCR(ctx context.Context, r *runtime, b *bundles, size int, img string) {
	if _, err := runtimeCROnce(ctx, r, b.memhog[size], size, -1, img); err != nil && ctx.Err() == nil {
		r.CRSkipped = err.Error()
	}
}

// runCR interleaves the runners (each runtime whose checkpoint works, then
// raw CRIU) for each size: a warm-up round, then cfg.crN measured rounds.
func runCR(ctx context.Context, cfg *config, rts []*runtime, b *bundles) (map[int]map[string]*crSeries, error) {
	res := map[int]map[string]*crSeries{}
	var ok []*runtime
	for _, r := range rts {
		if r.CRSkipped == "" {
			ok = append(ok, r)
		}
	}
	for _, size := range cfg.sizes {
		res[size] = map[string]*crSeries{}
		for _, r := range ok {
			res[size][r.Name] = &crSeries{}
		}
		res[size][criuName] = &crSeries{}
		// The runners of a round: each runtime on the stasis-spec bundle,
		// and stasis (always ok[0] when its checkpoint works) on the
		// runc-spec one too.
		type runner struct {
			name   string
			r      *runtime
			bundle string
		}
		var rr []runner
		for _, r := range ok {
			rr = append(rr, runner{r.Name, r, b.memhog[size]})
		}
		if d := b.runcSpec[size]; d != "" && len(ok) > 0 && ok[0].Name == "stasis" {
			rr = append(rr, runner{runcSpecName, ok[0], d})
			res[size][runcSpecName] = &crSeries{}
		}
		total := cfg.crWarmup + cfg.crN
		for i := 0; i < total; i++ {
			for j, x := range rr {
				if ctx.Err() != nil {
					return nil, errInterrupted
				}
				s, err := runtimeCROnce(ctx, x.r, x.bundle, size, i, filepath.Join(cfg.imageDir, fmt.Sprintf("%d-%d-%d", j, size, i)))
				if err != nil {
					if ctx.Err() != nil {
						return nil, errInterrupted
					}
					return nil, fmt.Errorf("%s: %w", x.name, err)
				}
				if i >= cfg.crWarmup {
					res[size][x.name].add(s)
				}
			}
			if ctx.Err() != nil {
				return nil, errInterrupted
			}
			x, err := criuOnce(ctx, cfg, size, filepath.Join(cfg.imageDir, fmt.Sprintf("criu-%d-%d", size, i)))
			if err != nil {
				if ctx.Err() != nil {
					return nil, errInterrupted
				}
				return nil, err
			}
			if i >= cfg.crWarmup {
				res[size][criuName].add(x)
			}
			progress("checkpoint/restore %d MiB: round %d/%d", size, i+1, total)
		}
	}
	return res, nil
}
