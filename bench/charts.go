package main

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var runnerColor = map[string]color.Color{
	"stasis":     color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	"runc":       color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	"crun":       color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	criuName:     color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 0xff},
	runcSpecName: color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
}

// charts writes latency.png (bars: median per figure and runtime, whiskers
// min–max), checkpoint-restore.png (time against memory size) and
// overhead.png (runtime minus raw CRIU against memory size) and
// archive.png (stasis's archive export and import against the plain
// checkpoint).
func charts(dir string, res *results) ([]string, error) {
	var files []string
	if len(res.Latency) > 0 {
		if err := latencyChart(filepath.Join(dir, "latency.png"), res); err != nil {
			return files, err
		}
		files = append(files, "latency.png")
	}
	if len(res.CR) > 0 {
		if err := crChart(filepath.Join(dir, "checkpoint-restore.png"), res); err != nil {
			return files, err
		}
		if err := overheadChart(filepath.Join(dir, "overhead.png"), res); err != nil {
			return files, err
		}
		files = append(files, "checkpoint-restore.png", "overhead.png")
	}
	if len(res.Archive) > 0 {
		if err := archiveChart(filepath.Join(dir, "archive.png"), res); err != nil {
			return files, err
		}
		files = append(files, "archive.png")
	}
	return files, nil
}

func latencyChart(path string, res *results) error {
	p := plot.New()
	p.Title.Text = "Runtime command latency (median, whiskers min–max)"
	p.Title.Padding = vg.Points(8)
	p.Y.Label.Text = "ms"
	p.Legend.Top = true
	p.Legend.Left = true
	n := len(res.order)
	w := vg.Points(14)
	for i, name := range res.order {
		var vals plotter.Values
		for _, f := range latencyFigures {
			vals = append(vals, res.Latency[name][f].Median)
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return err
		}
		bars.Color = runnerColor[name]
		bars.LineStyle.Width = 0
		bars.Offset = vg.Length(float64(i)-float64(n-1)/2) * w
		p.Add(bars)
		p.Legend.Add(name, bars)
	}
	p.NominalX(shortFigures()...)
	p.Y.Min = 0
	p.Legend.Left = false
	// Min–max whiskers: bar offsets are in points, not data units, so
	// each whisker is drawn at its category plus the same offset.
	for i, name := range res.order {
		for j, f := range latencyFigures {
			s := res.Latency[name][f]
			off := vg.Length(float64(i)-float64(n-1)/2) * w
			p.Add(&whisker{x: float64(j), off: off, lo: s.Min, hi: s.Max})
		}
	}
	return p.Save(26*vg.Centimeter, 12*vg.Centimeter, path)
}

// whisker is a vertical min–max line at category x shifted by off points.
type whisker struct {
	x      float64
	off    vg.Length
	lo, hi float64
}

func (k *whisker) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	x := trX(k.x) + k.off
	ls := draw.LineStyle{Color: color.Black, Width: vg.Points(0.8)}
	c.StrokeLine2(ls, x, trY(k.lo), x, trY(k.hi))
	c.StrokeLine2(ls, x-2, trY(k.lo), x+2, trY(k.lo))
	c.StrokeLine2(ls, x-2, trY(k.hi), x+2, trY(k.hi))
}

func (k *whisker) DataRange() (xmin, xmax, ymin, ymax float64) {
	return k.x, k.x, k.lo, k.hi
}

func shortFigures() []string {
	short := map[string]string{
		figRun: "run true", figCSKD: "c+s+k+d", figAll5: "all five", figExec: "exec true",
	}
	var out []string
	for _, f := range latencyFigures {
		if s, ok := short[f]; ok {
			out = append(out, s)
		} else {
			out = append(out, f)
		}
	}
	return out
}

// line styles of crLines
const (
	solid = iota
	dashed
	dotted
)

// linePlot is an empty chart of ms against a memory size, its legend top
// left.
func linePlot(title, xLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.Padding = vg.Points(8)
	p.X.Label.Text = xLabel
	p.Y.Label.Text = "ms"
	p.Legend.Top = true
	p.Legend.Left = true
	return p
}

// styleLine gives a line and its points one colour and one of the three
// styles (solid: circles, dashed: boxes, dotted: triangles).
func styleLine(l *plotter.Line, s *plotter.Scatter, c color.Color, style int) {
	l.Color, s.Color = c, c
	l.Width = vg.Points(1.5)
	switch style {
	case dashed:
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		s.Shape = draw.BoxGlyph{}
	case dotted:
		l.Dashes = []vg.Length{vg.Points(1), vg.Points(2)}
		s.Shape = draw.TriangleGlyph{}
	}
}

func crLines(p *plot.Plot, res *results, get func(crRow) (float64, bool), style int, suffix string) error {
	for _, name := range res.crOrder {
		var pts plotter.XYs
		for _, row := range res.CR {
			if row.Runner != name {
				continue
			}
			if v, ok := get(row); ok {
				pts = append(pts, plotter.XY{X: float64(row.SizeMiB), Y: v})
			}
		}
		if len(pts) == 0 {
			continue
		}
		l, s, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		styleLine(l, s, runnerColor[name], style)
		p.Add(l, s)
		p.Legend.Add(name+suffix, l, s)
	}
	return nil
}

func crChart(path string, res *results) error {
	p := linePlot("Checkpoint (solid) and restore (dashed) time, median", "touched anonymous memory (MiB)")
	if err := crLines(p, res, func(r crRow) (float64, bool) { return r.Checkpoint.Median, r.Checkpoint.valid() }, solid, " checkpoint"); err != nil {
		return err
	}
	if err := crLines(p, res, func(r crRow) (float64, bool) { return r.Restore.Median, r.Restore.valid() }, dashed, " restore"); err != nil {
		return err
	}
	p.Y.Min = 0
	p.Y.Max *= 1.3 // room for the legend
	p.Add(plotter.NewGrid())
	return p.Save(20*vg.Centimeter, 13*vg.Centimeter, path)
}

func overheadChart(path string, res *results) error {
	p := linePlot("Overhead over raw CRIU: total, and the runtime's own share (outside CRIU)", "touched anonymous memory (MiB)")
	if err := crLines(p, res, func(r crRow) (float64, bool) { return medianOf(r.CheckpointOverhead) }, solid, " checkpoint"); err != nil {
		return err
	}
	if err := crLines(p, res, func(r crRow) (float64, bool) { return medianOf(r.RestoreOverhead) }, dashed, " restore"); err != nil {
		return err
	}
	if err := crLines(p, res, func(r crRow) (float64, bool) {
		if r.CheckpointOwn == nil || r.RestoreOwn == nil {
			return 0, false
		}
		return math.Max(r.CheckpointOwn.Median, r.RestoreOwn.Median), true
	}, dotted, " own (max of ckpt, restore)"); err != nil {
		return err
	}
	// The wall-time target.
	if len(res.CR) > 0 {
		lo, hi := float64(res.CR[0].SizeMiB), float64(res.CR[len(res.CR)-1].SizeMiB)
		t, err := plotter.NewLine(plotter.XYs{{X: lo, Y: maxOverCRIUMs}, {X: hi, Y: maxOverCRIUMs}})
		if err != nil {
			return err
		}
		t.Color = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
		t.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
		p.Add(t)
		p.Legend.Add(fmt.Sprintf("target %.0f ms", maxOverCRIUMs), t)
	}
	p.Y.Min = 0
	p.Y.Max *= 1.4 // room for the legend
	p.Add(plotter.NewGrid())
	return p.Save(20*vg.Centimeter, 13*vg.Centimeter, path)
}

// medianOf is s's median, or false for a figure that was not measured.
func medianOf(s *Stat) (float64, bool) {
	if s == nil {
		return 0, false
	}
	return s.Median, true
}

// archiveChart draws, per compression, the plain checkpoint (solid),
// the export (dashed) and the import (dotted) against memory size.
func archiveChart(path string, res *results) error {
	p := linePlot("stasis archives: plain checkpoint, export, import (median)", "text-like memory (MiB)")
	colors := []color.Color{runnerColor["stasis"], runnerColor["runc"], runnerColor["crun"]}
	seen := map[string]int{}
	for _, r := range res.Archive {
		if _, ok := seen[r.Compress]; !ok {
			seen[r.Compress] = len(seen)
		}
	}
	for c, ci := range seen {
		for _, f := range []struct {
			label string
			style int
			get   func(archiveRow) Stat
		}{
			{"plain checkpoint", solid, func(r archiveRow) Stat { return r.Plain }},
			{"export " + c, dashed, func(r archiveRow) Stat { return r.Export }},
			{"import " + c, dotted, func(r archiveRow) Stat { return r.Import }},
		} {
			var pts plotter.XYs
			for _, r := range res.Archive {
				if s := f.get(r); r.Compress == c && s.valid() {
					pts = append(pts, plotter.XY{X: float64(r.SizeMiB), Y: s.Median})
				}
			}
			if len(pts) == 0 {
				continue
			}
			l, s, err := plotter.NewLinePoints(pts)
			if err != nil {
				return err
			}
			styleLine(l, s, colors[ci%len(colors)], f.style)
			p.Add(l, s)
			label := f.label
			if f.style == solid {
				label += " (" + c + " round)"
			}
			p.Legend.Add(label, l, s)
		}
	}
	p.Y.Min = 0
	p.Y.Max *= 1.3 // room for the legend
	p.Add(plotter.NewGrid())
	return p.Save(20*vg.Centimeter, 13*vg.Centimeter, path)
}
