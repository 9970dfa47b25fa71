package main

// The archive figures (issue 15): what moving a container in one file
// costs next to the plain image directory. Only stasis is measured: runc
// has no archive. The workload is memhog N text, whose pages compress
// about as well as a real heap, so the sizes say something.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// archiveSample is one round at one size: the three commands timed, ms,
// and what each wrote.
type archiveSample struct {
	Plain, Export, Import    float64 // checkpoint --image-path; checkpoint --export; restore --import
	ImageBytes, ArchiveBytes int64
}

type archiveSeries struct{ plain, export, imp, img, arc []float64 }

func (s *archiveSeries) add(x archiveSample) {
	s.plain = append(s.plain, x.Plain)
	s.export = append(s.export, x.Export)
	s.imp = append(s.imp, x.Import)
	s.img = append(s.img, float64(x.ImageBytes)/(1<<20))
	s.arc = append(s.arc, float64(x.ArchiveBytes)/(1<<20))
}

// archiveOnce runs one round at one size in dir:
//  1. a container checkpointed with `checkpoint --image-path` (the plain
//     image directory, as the checkpoint figures);
//  2. a second one, from the same bundle, checkpointed with `checkpoint
//     --export FILE --compress C`;
//  3. that archive restored with `restore -d --import FILE`, alone (the
//     images of step 2 are removed first), and checked to run memhog
//     with its memory.
//
// Only those three commands are timed.
func archiveOnce(ctx context.Context, r *runtime, bundle, compress string, size, iter int, dir string) (x archiveSample, err error) {
	plainID := fmt.Sprintf("sb%d-%s-plain%d-%d", os.Getpid(), r.Name, size, iter)
	id := fmt.Sprintf("sb%d-%s-arc%d-%d", os.Getpid(), r.Name, size, iter)
	img, file := filepath.Join(dir, "plain"), filepath.Join(dir, "archive.tar")
	defer func() {
		for _, c := range []string{plainID, id} {
			if rerr := r.remove(context.Background(), c); rerr != nil && err == nil {
				err = rerr
			}
		}
		os.RemoveAll(dir)
	}()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return x, err
	}

	p, pid, err := startReady(ctx, r, bundle, plainID)
	if err != nil {
		return x, err
	}
	defer p.close()
	ck, err := r.run(ctx, stdio{}, "checkpoint", "--image-path", img, plainID)
	if err != nil {
		return x, fmt.Errorf("%v%s", err, criuLogError(filepath.Join(img, "dump.log")))
	}
	x.Plain = ck.ms()
	if err := checkpointedAway(ctx, r, plainID, pid); err != nil {
		return x, err
	}
	x.ImageBytes = imageBytes(img)
	os.RemoveAll(img)

	p2, pid, err := startReady(ctx, r, bundle, id)
	if err != nil {
		return x, err
	}
	defer p2.close()
	// --image-path keeps the images where the plain ones were, so both
	// checkpoints write to the same file system; the archive goes there too.
	ex, err := r.run(ctx, stdio{}, "checkpoint", "--image-path", img, "--export", file, "--compress", compress, id)
	if err != nil {
		return x, fmt.Errorf("%v%s", err, criuLogError(filepath.Join(img, "dump.log")))
	}
	x.Export = ex.ms()
	if err := checkpointedAway(ctx, r, id, pid); err != nil {
		return x, err
	}
	fi, err := os.Stat(file)
	if err != nil {
		return x, fmt.Errorf("%s checkpoint --export wrote no archive: %v", r.Name, err)
	}
	x.ArchiveBytes = fi.Size()
	os.RemoveAll(img) // the import must need nothing but the archive

	p3, err := newPipes()
	if err != nil {
		return x, err
	}
	defer p3.close()
	im, err := r.run(ctx, p3.stdio(), "restore", "-d", "--import", file, "--bundle", bundle, id)
	p3.closeChild()
	if err != nil {
		return x, fmt.Errorf("%v %s", err, p3.stderr())
	}
	x.Import = im.ms()
	return x, restoredReady(ctx, r, id)
}

// runArchive measures stasis's archive rounds: per size and compression,
// cfg.crWarmup unmeasured rounds, then min(cfg.crN, maxArchiveRounds).
// stasis stages the images of an export and an import under $TMPDIR,
// which is pointed at the image dir's file system (/dev/shm by default)
// for these rounds, so the figures measure stasis and not this disk.
func runArchive(ctx context.Context, cfg *config, r *runtime, b *bundles) (map[int]map[string]*archiveSeries, error) {
	old, had := os.LookupEnv("TMPDIR")
	os.Setenv("TMPDIR", cfg.imageDir)
	defer func() {
		if had {
			os.Setenv("TMPDIR", old)
		} else {
			os.Unsetenv("TMPDIR")
		}
	}()
	n := min(cfg.crN, maxArchiveRounds)
	res := map[int]map[string]*archiveSeries{}
	for _, size := range cfg.archiveSizes {
		res[size] = map[string]*archiveSeries{}
		for _, c := range cfg.archiveCompress {
			res[size][c] = &archiveSeries{}
		}
		total := cfg.crWarmup + n
		for i := 0; i < total; i++ {
			// Compressions interleaved within a round, as the runtimes are.
			for _, c := range cfg.archiveCompress {
				x, err := archiveOnce(ctx, r, b.text[size], c, size, i, filepath.Join(cfg.imageDir, fmt.Sprintf("archive-%s-%d-%d", c, size, i)))
				if err != nil {
					if ctx.Err() != nil {
						return nil, errInterrupted
					}
					return nil, fmt.Errorf("archive %d MiB %s: %w", size, c, err)
				}
				if i >= cfg.crWarmup {
					res[size][c].add(x)
				}
			}
			progress("archive %d MiB: round %d/%d", size, i+1, total)
		}
	}
	return res, nil
}

// maxArchiveRounds caps the archive rounds: each one checkpoints twice
// and restores once (~35 s at 1024 MiB), the spread of these
// seconds-long figures is small, and make bench must stay under 10
// minutes.
const maxArchiveRounds = 3

// archiveRow is stasis at one size with one compression.
type archiveRow struct {
	SizeMiB  int    `json:"size_mib"`
	Compress string `json:"compress"`
	Plain    Stat   `json:"plain_checkpoint_ms"`
	Export   Stat   `json:"export_ms"`
	Import   Stat   `json:"import_ms"`
	ImageMiB Stat   `json:"image_mib"`
	Archive  Stat   `json:"archive_mib"`
	// Export over the plain checkpoint of the same round, paired.
	ExportOverPlain *Stat `json:"export_over_plain_ms,omitempty"`
}

func (res *results) addArchive(cfg *config, arc map[int]map[string]*archiveSeries) {
	for _, size := range cfg.archiveSizes {
		for _, c := range cfg.archiveCompress {
			s := arc[size][c]
			res.Archive = append(res.Archive, archiveRow{
				SizeMiB: size, Compress: c,
				Plain: summarize(s.plain), Export: summarize(s.export), Import: summarize(s.imp),
				ImageMiB: summarize(s.img), Archive: summarize(s.arc),
				ExportOverPlain: paired(s.export, s.plain),
			})
		}
	}
}

func (res *results) archiveMarkdown(w *strings.Builder) {
	if len(res.Archive) == 0 {
		return
	}
	w.WriteString("Archives (stasis only): a process with N MiB of text-like memory (memhog N text), checkpointed " +
		"to a plain image directory (`checkpoint --image-path`), then another from the same bundle to one archive " +
		"(`checkpoint --export FILE --compress C`: images, metadata, config, rootfs changes, manifest of digests) " +
		"and that archive restored alone (`restore -d --import FILE`, digests verified first); wall ms and MiB, " +
		"median (min–max); \"over plain\" is the median of the per-round export − plain differences.\n\n")
	w.WriteString("| MiB | compress | plain checkpoint | export | over plain | import | image MiB | archive MiB |\n")
	w.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range res.Archive {
		over := "–"
		if r.ExportOverPlain != nil {
			over = fmt.Sprintf("%+.1f", r.ExportOverPlain.Median)
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | %s | %s |\n", r.SizeMiB, r.Compress,
			cell(r.Plain, 1), cell(r.Export, 1), over, cell(r.Import, 1), cell(r.ImageMiB, 1), cell(r.Archive, 1))
	}
	w.WriteString("\n")
}

// Issue 15's thresholds: a zstd export costs at most this fraction over
// the plain checkpoint at exportTargetMiB, and an archive of memory that
// compresses is smaller than the image directory.
const (
	maxExportOverPlain = 0.20
	exportTargetMiB    = 256
)

func (res *results) archiveTargets() {
	worstRatio, whereSmall, seenSmall := 0.0, "", false
	for _, r := range res.Archive {
		if r.Compress != "zstd" {
			continue
		}
		if r.SizeMiB == exportTargetMiB && r.Plain.valid() && r.Export.valid() {
			x := r.Export.Median/r.Plain.Median - 1
			res.Targets = append(res.Targets, target{
				What:     fmt.Sprintf("zstd export ≤ plain checkpoint + %.0f%% at %d MiB", maxExportOverPlain*100, exportTargetMiB),
				Measured: fmt.Sprintf("%+.0f%% (%.1f vs %.1f ms)", x*100, r.Export.Median, r.Plain.Median),
				Met:      x <= maxExportOverPlain,
			})
		}
		// At 0 MiB there is no memory to compress: the images are a few
		// hundred KiB of metadata, which the archive's own files outweigh.
		if r.SizeMiB > 0 && r.ImageMiB.valid() && r.Archive.valid() {
			if q := r.Archive.Median / r.ImageMiB.Median; !seenSmall || q > worstRatio {
				worstRatio, whereSmall, seenSmall = q, fmt.Sprintf("%d MiB: %.1f vs %.1f MiB", r.SizeMiB, r.Archive.Median, r.ImageMiB.Median), true
			}
		}
	}
	if seenSmall {
		res.Targets = append(res.Targets, target{
			What:     "zstd archive smaller than the image directory (text-like memory, every size > 0)",
			Measured: fmt.Sprintf("worst %.2f× (%s)", worstRatio, whereSmall), Met: worstRatio < 1,
		})
	}
}
