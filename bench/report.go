package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	gort "runtime"
	"strings"
	"time"
)

type machine struct {
	Kernel  string `json:"kernel"`
	CPU     string `json:"cpu"`
	CPUs    int    `json:"cpus"`
	MemGiB  int    `json:"mem_gib"`
	Cgroups string `json:"cgroups"`
	CRIU    string `json:"criu"`
	Go      string `json:"bench_go"`
	// /proc/loadavg at the start and the end of the run: other work on
	// the machine widens the spread.
	LoadStart string `json:"loadavg_start"`
	LoadEnd   string `json:"loadavg_end"`
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// crRow is one runner at one memory size.
type crRow struct {
	SizeMiB    int    `json:"size_mib"`
	Runner     string `json:"runner"`
	Checkpoint Stat   `json:"checkpoint_ms"`
	Restore    Stat   `json:"restore_ms"`
	ImageMiB   Stat   `json:"image_mib"`
	// Paired per-round differences to raw CRIU (runtimes only): the
	// rounds are interleaved, so round i of both ran side by side.
	CheckpointOverhead *Stat `json:"checkpoint_overhead_ms,omitempty"`
	RestoreOverhead    *Stat `json:"restore_overhead_ms,omitempty"`
	// CRIU's own timings from its stats images.
	CRIUFrozen   Stat `json:"criu_frozen_ms"`
	CRIUMemdump  Stat `json:"criu_memdump_ms"`
	CRIUMemwrite Stat `json:"criu_memwrite_ms"`
	CRIURestore  Stat `json:"criu_restore_ms"`
	// Span of CRIU's log (time CRIU spent on the request) and the rest of
	// the wall time (the runtime's own work plus CRIU's start-up), paired
	// per round.
	CheckpointInCRIU  Stat `json:"checkpoint_in_criu_log_ms"`
	CheckpointOutside Stat `json:"checkpoint_outside_criu_log_ms"`
	RestoreInCRIU     Stat `json:"restore_in_criu_log_ms"`
	RestoreOutside    Stat `json:"restore_outside_criu_log_ms"`
	// The runtime's own share of the overhead: its time outside CRIU's
	// log minus raw CRIU's (which is just starting criu), paired per round.
	CheckpointOwn *Stat `json:"checkpoint_own_ms,omitempty"`
	RestoreOwn    *Stat `json:"restore_own_ms,omitempty"`
}

type results struct {
	Date     string `json:"date"`
	Elapsed  string `json:"elapsed"`
	Machine  machine
	Config   map[string]any             `json:"config"`
	Runtimes []*runtime                 `json:"runtimes"`
	Latency  map[string]map[string]Stat `json:"latency_ms"` // runtime -> figure
	RSS      map[string]map[string]Stat `json:"rss_mib"`    // runtime -> figure
	CR       []crRow                    `json:"checkpoint_restore"`
	Archive  []archiveRow               `json:"archive"`
	Targets  []target                   `json:"targets"`
	order    []string                   // runtimes measured, in order
	crOrder  []string                   // C/R runners, in order
}

type target struct {
	What     string `json:"what"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

func newResults(cfg *config, rts []*runtime) *results {
	return &results{
		Date:    time.Now().UTC().Format(time.RFC3339),
		Machine: machineInfo(cfg),
		Config: map[string]any{
			"n": cfg.n, "warmup": cfg.warmup, "crn": cfg.crN, "crwarmup": cfg.crWarmup,
			"sizes_mib": cfg.sizes, "image_dir": filepath.Dir(cfg.imageDir),
			"archive_sizes_mib": cfg.archiveSizes, "archive_compress": cfg.archiveCompress,
		},
		Runtimes: rts,
		Latency:  map[string]map[string]Stat{},
		RSS:      map[string]map[string]Stat{},
	}
}

func (res *results) addLifecycle(live []*runtime, lat, rss map[string]samples) {
	for _, r := range live {
		res.order = append(res.order, r.Name)
		res.Latency[r.Name] = map[string]Stat{}
		res.RSS[r.Name] = map[string]Stat{}
		for _, f := range latencyFigures {
			res.Latency[r.Name][f] = summarize(lat[r.Name][f])
		}
		for _, f := range rssFigures {
			res.RSS[r.Name][f] = summarize(rss[r.Name][f])
		}
	}
}

func paired(a, b []float64) *Stat {
	if len(a) != len(b) || len(a) == 0 {
		return nil
	}
	d := make([]float64, len(a))
	for i := range a {
		d[i] = a[i] - b[i]
	}
	s := summarize(d)
	return &s
}

func sub(a, b []float64) []float64 {
	if len(a) != len(b) {
		return nil
	}
	d := make([]float64, len(a))
	for i := range a {
		d[i] = a[i] - b[i]
	}
	return d
}

func (res *results) addCR(cfg *config, live []*runtime, cr map[int]map[string]*crSeries) {
	for _, r := range live {
		if r.CRSkipped == "" {
			res.crOrder = append(res.crOrder, r.Name)
		}
	}
	if len(res.crOrder) > 0 && res.crOrder[0] == "stasis" {
		res.crOrder = append(res.crOrder, runcSpecName)
	}
	res.crOrder = append(res.crOrder, criuName)
	for _, size := range cfg.sizes {
		floor := cr[size][criuName]
		for _, name := range res.crOrder {
			s := cr[size][name]
			if s == nil {
				continue // no runc-spec bundle at this size
			}
			row := crRow{
				SizeMiB: size, Runner: name,
				Checkpoint: summarize(s.ck), Restore: summarize(s.rs), ImageMiB: summarize(s.img),
				CRIUFrozen: summarize(s.frozen), CRIUMemdump: summarize(s.memdump),
				CRIUMemwrite: summarize(s.memwrite), CRIURestore: summarize(s.rsCRIU),
				CheckpointInCRIU: summarize(s.ckLog), RestoreInCRIU: summarize(s.rsLog),
			}
			if o := paired(s.ck, s.ckLog); o != nil {
				row.CheckpointOutside = *o
			}
			if o := paired(s.rs, s.rsLog); o != nil {
				row.RestoreOutside = *o
			}
			if name != criuName {
				row.CheckpointOverhead = paired(s.ck, floor.ck)
				row.RestoreOverhead = paired(s.rs, floor.rs)
				row.CheckpointOwn = paired(sub(s.ck, s.ckLog), sub(floor.ck, floor.ckLog))
				row.RestoreOwn = paired(sub(s.rs, s.rsLog), sub(floor.rs, floor.rsLog))
			}
			res.CR = append(res.CR, row)
		}
	}
}

func machineInfo(cfg *config) machine {
	m := machine{CPUs: gort.NumCPU(), Go: gort.Version(), Cgroups: "v1", LoadStart: loadavg()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		var kb int
		fmt.Fscanf(f, "MemTotal: %d kB", &kb)
		m.MemGiB = int(math.Round(float64(kb) / (1 << 20)))
		f.Close()
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		m.Cgroups = "v2"
	} else if _, err := os.Stat("/sys/fs/cgroup/unified"); err == nil {
		m.Cgroups = "hybrid (v1 controllers + v2 at /sys/fs/cgroup/unified)"
	}
	if out, err := exec.Command(cfg.criu, "--version").Output(); err == nil {
		m.CRIU = strings.TrimSpace(strings.Split(string(out), "\n")[0])
	}
	return m
}

func cell(s Stat, prec int) string {
	if !s.valid() {
		return "–"
	}
	return fmt.Sprintf("%.*f (%.*f–%.*f)", prec, s.Median, prec, s.Min, prec, s.Max)
}

func ratio(a, b Stat) string {
	if !a.valid() || !b.valid() || b.Median == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a.Median/b.Median)
}

// markdown renders the tables (stdout and results.md show the same).
func (res *results) markdown() string {
	var w strings.Builder
	fmt.Fprintf(&w, "Machine: %s, %d CPUs, %d GiB, kernel %s, cgroups %s; %s.\n",
		res.Machine.CPU, res.Machine.CPUs, res.Machine.MemGiB, res.Machine.Kernel, res.Machine.Cgroups, res.Machine.CRIU)
	fmt.Fprintf(&w, "Load average %s at the start, %s at the end.\n", res.Machine.LoadStart, res.Machine.LoadEnd)
	fmt.Fprintf(&w, "Run %s, took %s. Each cell: median (min–max) of n=%v rounds (checkpoint/restore: n=%v), runtimes interleaved.\n\n",
		res.Date, res.Elapsed, res.Config["n"], res.Config["crn"])
	for _, r := range res.Runtimes {
		switch {
		case r.Skipped != "":
			fmt.Fprintf(&w, "- **%s skipped**: %s\n", r.Name, r.Skipped)
		default:
			fmt.Fprintf(&w, "- %s: %s\n", r.Name, r.Version)
			if r.CRSkipped != "" {
				fmt.Fprintf(&w, "  - **%s checkpoint/restore skipped**: %s\n", r.Name, r.CRSkipped)
			}
		}
	}
	w.WriteString("\n")
	hasRunc := false
	for _, n := range res.order {
		hasRunc = hasRunc || n == "runc"
	}
	if len(res.Latency) > 0 {
		w.WriteString("| figure |")
		for _, n := range res.order {
			fmt.Fprintf(&w, " %s |", n)
		}
		if hasRunc {
			w.WriteString(" stasis/runc |")
		}
		w.WriteString("\n|---|")
		for range res.order {
			w.WriteString("---:|")
		}
		if hasRunc {
			w.WriteString("---:|")
		}
		w.WriteString("\n")
		row := func(label string, get func(string) Stat, prec int) {
			fmt.Fprintf(&w, "| %s |", label)
			for _, n := range res.order {
				fmt.Fprintf(&w, " %s |", cell(get(n), prec))
			}
			if hasRunc {
				fmt.Fprintf(&w, " %s |", ratio(get("stasis"), get("runc")))
			}
			w.WriteString("\n")
		}
		for _, f := range latencyFigures {
			f := f
			row(f+" (ms)", func(n string) Stat { return res.Latency[n][f] }, 1)
		}
		for _, f := range rssFigures {
			f := f
			row(f+" (MiB)", func(n string) Stat { return res.RSS[n][f] }, 1)
		}
		w.WriteString("\n")
	}
	if len(res.CR) > 0 {
		w.WriteString("Checkpoint/restore of a process with N MiB of touched anonymous memory: wall time in ms, " +
			"median (min–max). \"in CRIU\" is the span of CRIU's own log (CRIU at work), \"outside\" the rest " +
			"(the runtime's own work and starting CRIU); \"over criu\" is the median of the per-round differences " +
			"to raw CRIU on the same process outside any container, \"own\" the same for the outside part alone " +
			"(the runtime's own share of the overhead). \"frozen\", \"memdump\" and \"memwrite\" are CRIU's " +
			"own stats-dump times (tasks frozen; pages drained to pipes; pages written to the images), medians.\n\n")
		w.WriteString("| MiB | runner | checkpoint | in CRIU | outside | over criu | own | restore | in CRIU | outside | over criu | own | image MiB | frozen | memdump | memwrite |\n")
		w.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		ov := func(s *Stat) string {
			if s == nil {
				return ""
			}
			return fmt.Sprintf("%+.1f", s.Median)
		}
		for _, row := range res.CR {
			fmt.Fprintf(&w, "| %d | %s | %s | %.1f | %.1f | %s | %s | %s | %.1f | %.1f | %s | %s | %.1f | %.1f | %.1f | %.1f |\n", row.SizeMiB, row.Runner,
				cell(row.Checkpoint, 1), row.CheckpointInCRIU.Median, row.CheckpointOutside.Median, ov(row.CheckpointOverhead), ov(row.CheckpointOwn),
				cell(row.Restore, 1), row.RestoreInCRIU.Median, row.RestoreOutside.Median, ov(row.RestoreOverhead), ov(row.RestoreOwn),
				row.ImageMiB.Median, row.CRIUFrozen.Median, row.CRIUMemdump.Median, row.CRIUMemwrite.Median)
		}
		w.WriteString("\n")
	}
	res.archiveMarkdown(&w)
	if len(res.Targets) > 0 {
		w.WriteString("Targets (measured):\n\n")
		for _, t := range res.Targets {
			mark := "MISSED"
			if t.Met {
				mark = "met"
			}
			fmt.Fprintf(&w, "- %s: %s — **%s**\n", t.What, t.Measured, mark)
		}
	}
	return w.String()
}

// Issue 16's thresholds: lifecycle at most this fraction of runc's time,
// checkpoint/restore wall at most this many ms over raw CRIU, CRIU's
// frozen time at most this many ms, and at most this many over raw
// CRIU's whole dump.
const (
	maxRuncRatio        = 0.7
	maxOverCRIUMs       = 15.0
	maxFrozenMs         = 40.0
	maxFrozenOverCRIUMs = 10.0
)

func (res *results) checkTargets() {
	lat := func(n, f string) Stat { return res.Latency[n][f] }
	if _, ok := res.Latency["runc"]; ok {
		for _, f := range []string{figCSKD, figRun, figExec} {
			a, b := lat("stasis", f), lat("runc", f)
			if a.valid() && b.valid() {
				r := a.Median / b.Median
				res.Targets = append(res.Targets, target{
					What:     fmt.Sprintf("%s ≤ %.1f× runc", f, maxRuncRatio),
					Measured: fmt.Sprintf("%.2f× (%.1f vs %.1f ms)", r, a.Median, b.Median), Met: r <= maxRuncRatio,
				})
			}
		}
		for _, f := range rssFigures {
			a, b := res.RSS["stasis"][f], res.RSS["runc"][f]
			if a.valid() && b.valid() {
				res.Targets = append(res.Targets, target{
					What:     f + " ≤ runc's",
					Measured: fmt.Sprintf("%.1f vs %.1f MiB", a.Median, b.Median), Met: a.Median <= b.Median,
				})
			}
		}
	}
	res.frozenTargets()
	res.archiveTargets()
	if len(res.CR) > 0 {
		if worst, where, ok := worstStasis(res.CR, func(r crRow) (*Stat, *Stat) { return r.CheckpointOverhead, r.RestoreOverhead }); ok {
			res.Targets = append(res.Targets, target{
				What:     fmt.Sprintf("stasis checkpoint and restore wall ≤ raw CRIU + %.0f ms at every size", maxOverCRIUMs),
				Measured: fmt.Sprintf("worst %+.1f ms (%s)", worst, where), Met: worst <= maxOverCRIUMs,
			})
		}
	}
}

// frozenTargets judges issue 16's frozen-time targets per runner: CRIU's
// frozen_time of an idle container (the smallest size, 0 MiB by default)
// ≤ 40 ms, and ≤ raw CRIU's whole dump wall + 10 ms at every size.
func (res *results) frozenTargets() {
	criuDump := map[int]float64{}
	idle := math.MaxInt
	for _, r := range res.CR {
		if r.Runner == criuName && r.Checkpoint.valid() {
			criuDump[r.SizeMiB] = r.Checkpoint.Median
		}
		idle = min(idle, r.SizeMiB)
	}
	for _, runner := range []string{"stasis", runcSpecName, "runc", criuName} {
		idleFrozen, worstRel, whereRel, seen := math.NaN(), -1e9, "", false
		for _, r := range res.CR {
			if r.Runner != runner || !r.CRIUFrozen.valid() {
				continue
			}
			seen = true
			if r.SizeMiB == idle {
				idleFrozen = r.CRIUFrozen.Median
			}
			if d, ok := criuDump[r.SizeMiB]; ok {
				if x := r.CRIUFrozen.Median - d; x > worstRel {
					worstRel, whereRel = x, fmt.Sprintf("%d MiB", r.SizeMiB)
				}
			}
		}
		if !seen {
			continue
		}
		if !math.IsNaN(idleFrozen) {
			res.Targets = append(res.Targets, target{
				What:     fmt.Sprintf("%s frozen time ≤ %.0f ms at %d MiB (idle)", runner, maxFrozenMs, idle),
				Measured: fmt.Sprintf("%.1f ms", idleFrozen), Met: idleFrozen <= maxFrozenMs,
			})
		}
		if whereRel != "" {
			res.Targets = append(res.Targets, target{
				What:     fmt.Sprintf("%s frozen time ≤ raw CRIU total dump + %.0f ms at every size", runner, maxFrozenOverCRIUMs),
				Measured: fmt.Sprintf("worst %+.1f ms (%s)", worstRel, whereRel), Met: worstRel <= maxFrozenOverCRIUMs,
			})
		}
	}
}

func report(cfg *config, res *results) error {
	res.checkTargets()
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return err
	}
	md := res.markdown()
	fmt.Println(md)
	if err := os.WriteFile(filepath.Join(cfg.out, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cfg.out, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	files, err := charts(cfg.out, res)
	if err != nil {
		return err
	}
	progress("wrote %s: results.md, results.json, %s", cfg.out, strings.Join(files, ", "))
	return nil
}

// worstStasis is the largest median over stasis's rows of the checkpoint
// and restore figures pick returns, and where it was; false when none is
// valid.
func worstStasis(rows []crRow, pick func(crRow) (ckpt, restore *Stat)) (worst float64, where string, ok bool) {
	worst = math.Inf(-1)
	for _, row := range rows {
		if row.Runner != "stasis" {
			continue
		}
		c, r := pick(row)
		for _, f := range []struct {
			op string
			s  *Stat
		}{{"checkpoint", c}, {"restore", r}} {
			if f.s != nil && f.s.valid() && f.s.Median > worst {
				worst, where, ok = f.s.Median, fmt.Sprintf("%s at %d MiB", f.op, row.SizeMiB), true
			}
		}
	}
	return worst, where, ok
}
