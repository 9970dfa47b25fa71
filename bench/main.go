// Command stasis-bench measures stasis against runc (and crun where it
// runs) on this machine: lifecycle latencies, exec, the runtime's peak
// RSS, and checkpoint/restore time and image size against raw CRIU. See
// README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type config struct {
	stasis, runc, crun, criu string
	n, warmup                int
	crN, crWarmup            int
	sizes                    []int
	out                      string
	tmp                      string
	imageDir                 string
	mkbundle                 string
	memhogBin                string
	skipLifecycle, skipCR    bool
	archiveSizes             []int
	archiveCompress          []string
}

var progressOn = true

func progress(format string, a ...any) {
	if progressOn {
		fmt.Fprintf(os.Stderr, "[%s] "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
	}
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("-sizes: bad size %q", f)
		}
		out = append(out, n)
	}
	sort.Ints(out)
	return out, nil
}

func main() {
	cfg := &config{}
	flag.StringVar(&cfg.stasis, "stasis", "../stasis", "stasis binary")
	flag.StringVar(&cfg.runc, "runc", "runc", "runc binary")
	flag.StringVar(&cfg.crun, "crun", "crun", "crun binary (skipped, with the reason, when it cannot run the test bundle; \"\" to leave it out)")
	flag.StringVar(&cfg.criu, "criu", "criu", "criu binary for the raw-CRIU floor (the runtimes use their own default, criu from PATH)")
	flag.IntVar(&cfg.n, "n", 100, "measured rounds of the lifecycle figures (median of n)")
	flag.IntVar(&cfg.warmup, "warmup", 2, "unmeasured lifecycle rounds first")
	flag.IntVar(&cfg.crN, "crn", 13, "measured rounds of checkpoint/restore per size (median of crn)")
	flag.IntVar(&cfg.crWarmup, "crwarmup", 1, "unmeasured checkpoint/restore rounds first, per size")
	sizes := flag.String("sizes", "0,64,256,1024", "MiB of touched anonymous memory in the checkpointed process, comma-separated")
	flag.StringVar(&cfg.out, "out", "results", "directory for results.json, results.md and the PNG charts")
	flag.StringVar(&cfg.tmp, "tmp", "", "parent of the bench's temp dir (bundles, runtime roots); default $TMPDIR")
	flag.StringVar(&cfg.imageDir, "images", "", "parent of the CRIU image dirs (default: a temp dir in /dev/shm, so disk speed is not measured)")
	flag.StringVar(&cfg.mkbundle, "mkbundle", "../scripts/mkbundle.sh", "the repo's bundle maker")
	flag.StringVar(&cfg.memhogBin, "memhog", "", "prebuilt static memhog (default: built from ./memhog)")
	flag.BoolVar(&cfg.skipLifecycle, "no-lifecycle", false, "skip the lifecycle/exec/RSS figures")
	flag.BoolVar(&cfg.skipCR, "no-cr", false, "skip the checkpoint/restore figures")
	archiveSizes := flag.String("archive-sizes", "0,256,1024", "MiB of text-like memory for the archive figures (stasis's checkpoint --export / restore --import), comma-separated")
	archiveCompress := flag.String("archive-compress", "zstd", "--compress values of the archive figures, comma-separated (zstd, gzip, none)")
	noArchive := flag.Bool("no-archive", false, "skip the archive figures")
	quiet := flag.Bool("q", false, "no progress lines on stderr")
	flag.Parse()
	progressOn = !*quiet
	var err error
	if cfg.sizes, err = parseSizes(*sizes); err != nil {
		fatal(err)
	}
	if !*noArchive {
		if cfg.archiveSizes, err = parseSizes(*archiveSizes); err != nil {
			fatal(err)
		}
		for _, c := range strings.Split(*archiveCompress, ",") {
			switch c = strings.TrimSpace(c); c {
			case "zstd", "gzip", "none":
				cfg.archiveCompress = append(cfg.archiveCompress, c)
			case "":
			default:
				fatal(fmt.Errorf("-archive-compress: unknown compression %q (zstd, gzip or none)", c))
			}
		}
		if len(cfg.archiveCompress) == 0 {
			cfg.archiveSizes = nil
		}
	}
	if cfg.n < 1 || cfg.crN < 1 {
		fatal(errors.New("-n and -crn must be at least 1"))
	}
	if os.Geteuid() != 0 {
		fatal(errors.New("run as root: the runtimes and CRIU need it"))
	}
	os.Exit(run(cfg))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "stasis-bench:", err)
	os.Exit(2)
}

func abs(p string) string {
	if p == "" || !strings.ContainsRune(p, '/') {
		return p // a name looked up in PATH
	}
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

func run(cfg *config) (code int) {
	started := time.Now()
	cfg.stasis, cfg.runc, cfg.crun, cfg.criu = abs(cfg.stasis), abs(cfg.runc), abs(cfg.crun), abs(cfg.criu)
	cfg.mkbundle, cfg.out = abs(cfg.mkbundle), abs(cfg.out)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "stasis-bench: %v: cleaning up\n", s)
		cancel()
	}()

	if err := becomeSubreaper(); err != nil {
		fmt.Fprintln(os.Stderr, "stasis-bench: subreaper:", err)
		return 1
	}
	tmp, err := os.MkdirTemp(cfg.tmp, "stasis-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "stasis-bench:", err)
		return 1
	}
	imgParent := cfg.imageDir
	if imgParent == "" {
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
			imgParent = "/dev/shm"
		} else {
			imgParent = tmp
		}
	}
	if cfg.imageDir, err = os.MkdirTemp(imgParent, "stasis-bench-img-"); err != nil {
		fmt.Fprintln(os.Stderr, "stasis-bench:", err)
		return 1
	}

	var rts []*runtime
	add := func(name, path string) {
		if path == "" {
			return
		}
		r := &runtime{Name: name, Path: path, root: filepath.Join(tmp, "root-"+name)}
		os.MkdirAll(r.root, 0o700)
		rts = append(rts, r)
	}
	add("stasis", cfg.stasis)
	add("runc", cfg.runc)
	add("crun", cfg.crun)

	// Clean-up runs on every way out: normal end, error, interrupt, panic.
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(os.Stderr, "stasis-bench: panic: %v\n%s", p, debug.Stack())
			code = 3
		}
		if errs := cleanupAll(rts, tmp, cfg.imageDir); len(errs) > 0 {
			for _, e := range errs {
				fmt.Fprintln(os.Stderr, "stasis-bench: clean-up:", e)
			}
			if code == 0 {
				code = 1
			}
		}
	}()

	res, err := measure(ctx, cfg, rts, tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stasis-bench:", err)
		if errors.Is(err, errInterrupted) || ctx.Err() != nil {
			return 130
		}
		return 1
	}
	res.Elapsed = time.Since(started).Round(time.Second).String()
	res.Machine.LoadEnd = loadavg()
	if err := report(cfg, res); err != nil {
		fmt.Fprintln(os.Stderr, "stasis-bench:", err)
		return 1
	}
	return 0
}

func measure(ctx context.Context, cfg *config, rts []*runtime, tmp string) (*results, error) {
	progress("building spawn")
	var err error
	if spawnBin, err = buildSpawn(ctx, tmp); err != nil {
		return nil, fmt.Errorf("%v (run from bench/)", err)
	}
	if cfg.memhogBin == "" && (!cfg.skipCR || len(cfg.archiveSizes) > 0) {
		progress("building memhog")
		p, err := buildMemhog(ctx, tmp)
		if err != nil {
			return nil, fmt.Errorf("%v (run from bench/, or pass -memhog)", err)
		}
		cfg.memhogBin = p
	}
	progress("making bundles with %s", cfg.mkbundle)
	b, err := makeBundles(ctx, cfg, filepath.Join(tmp, "bundles"))
	if err != nil {
		return nil, err
	}
	var live []*runtime
	for _, r := range rts {
		r.probe(ctx, b)
		if ctx.Err() != nil {
			return nil, errInterrupted
		}
		if r.Skipped != "" {
			progress("skipping %s: %s", r.Name, r.Skipped)
			continue
		}
		progress("%s: %s (%s)", r.Name, r.Path, r.Version)
		live = append(live, r)
	}
	if len(live) == 0 || live[0].Name != "stasis" {
		return nil, fmt.Errorf("stasis cannot run the test bundle: %s", rts[0].Skipped)
	}
	res := newResults(cfg, rts)

	if !cfg.skipLifecycle {
		lat, rss, err := runLifecycle(ctx, cfg, live, b)
		if err != nil {
			return nil, err
		}
		res.addLifecycle(live, lat, rss)
	}
	if !cfg.skipCR && len(cfg.sizes) > 0 {
		for _, r := range live {
			probeCR(ctx, r, b, cfg.sizes[0], filepath.Join(cfg.imageDir, "probe-"+r.Name))
			if ctx.Err() != nil {
				return nil, errInterrupted
			}
			if r.CRSkipped != "" {
				progress("%s: checkpoint/restore skipped: %s", r.Name, r.CRSkipped)
			}
		}
		cr, err := runCR(ctx, cfg, live, b)
		if err != nil {
			return nil, err
		}
		res.addCR(cfg, live, cr)
	}
	if len(cfg.archiveSizes) > 0 {
		// stasis is live[0] (checked above); its checkpoint must work here.
		if s := live[0]; s.CRSkipped != "" {
			progress("archive figures skipped: stasis checkpoint/restore does not work here: %s", s.CRSkipped)
		} else {
			arc, err := runArchive(ctx, cfg, s, b)
			if err != nil {
				return nil, err
			}
			res.addArchive(cfg, arc)
		}
	}
	return res, nil
}

// cleanupAll removes every container, kills and reaps every process the
// bench's commands left behind (all of them are its children: it is a
// subreaper), and removes its temp dirs. It runs with a fresh context so
// an interrupt does not cut it short.
func cleanupAll(rts []*runtime, tmp, images string) []error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var errs []error
	for _, r := range rts {
		errs = append(errs, r.cleanup(ctx)...)
	}
	for _, pid := range children() {
		syscall.Kill(pid, syscall.SIGKILL)
		if err := reap(pid, 10*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	for _, d := range []string{images, tmp} {
		if d == "" {
			continue
		}
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
