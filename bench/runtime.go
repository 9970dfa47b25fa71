package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// runtime is one OCI runtime under test, with its own --root under the
// bench's temp dir so nothing it does touches another runtime's state.
type runtime struct {
	Name    string `json:"name"`
	Path    string `json:"path"`
	Version string `json:"version"`
	// Skipped says why the runtime is not measured at all (empty: it is).
	Skipped string `json:"skipped,omitempty"`
	// CRSkipped says why its checkpoint/restore is not measured.
	CRSkipped string `json:"checkpoint_skipped,omitempty"`
	root      string
}

func (r *runtime) args(a ...string) []string { return append([]string{"--root", r.root}, a...) }

func (r *runtime) run(ctx context.Context, io stdio, a ...string) (outcome, error) {
	return runTimed(ctx, io, r.Path, r.args(a...)...)
}

// containerState is the part of `state`'s JSON the bench reads.
type containerState struct {
	Status string `json:"status"`
	Pid    int    `json:"pid"`
}

func (r *runtime) state(ctx context.Context, id string) (containerState, outcome, error) {
	var st containerState
	o, err := r.run(ctx, stdio{}, "state", id)
	if err != nil {
		return st, o, err
	}
	if err := json.Unmarshal([]byte(o.Stdout), &st); err != nil {
		return st, o, fmt.Errorf("%s state %s: %v", r.Name, id, err)
	}
	return st, o, nil
}

// remove gets rid of container id whatever state it is in: SIGKILL, reap
// its init, delete --force. Errors are returned only if it still exists.
func (r *runtime) remove(ctx context.Context, id string) error {
	st, _, err := r.state(ctx, id)
	if err != nil {
		return nil // not there
	}
	if st.Status != "stopped" && st.Pid > 0 {
		_, _ = r.run(ctx, stdio{}, "kill", id, "KILL")
		_ = reap(st.Pid, 10*time.Second)
	}
	if _, err := r.run(ctx, stdio{}, "delete", "--force", id); err != nil {
		if _, _, serr := r.state(ctx, id); serr != nil {
			return nil
		}
		return err
	}
	return nil
}

// cleanup removes every container left in the runtime's root.
func (r *runtime) cleanup(ctx context.Context) []error {
	if r.root == "" || r.Skipped != "" {
		return nil
	}
	o, err := r.run(ctx, stdio{}, "list", "-q")
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, id := range strings.Fields(o.Stdout) {
		if err := r.remove(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func version(path string) string {
	out, err := exec.Command(path, "--version").CombinedOutput()
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	v := lines[0]
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "commit:") {
			v += " (" + strings.TrimSpace(l) + ")"
		}
	}
	return v
}

// probe runs the true bundle once. A runtime that cannot is skipped with
// its own error as the reason.
func (r *runtime) probe(ctx context.Context, b *bundles) {
	p, err := exec.LookPath(r.Path)
	if err != nil {
		r.Skipped = fmt.Sprintf("%s not found: %v", r.Path, err)
		return
	}
	r.Path = p
	r.Version = version(p)
	id := fmt.Sprintf("probe-%s-%d", r.Name, os.Getpid())
	o, err := r.run(ctx, stdio{}, "run", "--bundle", b.trueB, id)
	if err == nil {
		return
	}
	_ = r.remove(ctx, id)
	r.Skipped = fmt.Sprintf("%s: `run` of the test bundle fails: %s", r.Version, why(o, err))
	// crun 1.8 stops at config.json's ociVersion before it gets to the
	// cgroups: say what it would do with an older one too.
	if strings.Contains(err.Error(), "unknown version") {
		if why := r.probeOldSpec(ctx, b); why != "" {
			r.Skipped += "; with ociVersion 1.0.2 it fails: " + why
		}
	}
}

func (r *runtime) probeOldSpec(ctx context.Context, b *bundles) string {
	dir := filepath.Join(b.dir, "true-oci102")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err.Error()
	}
	var sp map[string]any
	raw, err := os.ReadFile(filepath.Join(b.trueB, "config.json"))
	if err == nil {
		err = json.Unmarshal(raw, &sp)
	}
	if err != nil {
		return err.Error()
	}
	sp["ociVersion"] = "1.0.2"
	if root, ok := sp["root"].(map[string]any); ok {
		root["path"] = filepath.Join(b.trueB, "rootfs")
	}
	raw, _ = json.Marshal(sp)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644); err != nil {
		return err.Error()
	}
	id := fmt.Sprintf("probe2-%s-%d", r.Name, os.Getpid())
	if o, err := r.run(ctx, stdio{}, "run", "--bundle", dir, id); err != nil {
		_ = r.remove(ctx, id)
		return why(o, err)
	}
	return ""
}

// why is a failed command's own last word (its stderr's last line), or
// the error when it said nothing.
func why(o outcome, err error) string {
	if l := lastLine(o.Stderr); l != "" {
		return l
	}
	return lastLine(err.Error())
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// bundles are the OCI bundles the bench runs, made with the repo's
// scripts/mkbundle.sh (busybox rootfs, config.json from `stasis spec`), so
// every runtime gets the very same config.
type bundles struct {
	dir    string
	trueB  string         // args ["true"]
	sleepB string         // args ["sleep", "1000"]
	memhog map[int]string // size MiB -> args ["/memhog", "N"]
	text   map[int]string // size MiB -> args ["/memhog", "N", "text"]
	// size MiB -> args ["/memhog", "N"], config.json from `runc spec`
	// (empty when runc is not there to write it)
	runcSpec map[int]string
}

func makeBundles(ctx context.Context, cfg *config, dir string) (*bundles, error) {
	b := &bundles{dir: dir, memhog: map[int]string{}, text: map[int]string{}, runcSpec: map[int]string{}}
	specBy := cfg.stasis
	mk := func(name string, args ...string) (string, error) {
		d := filepath.Join(dir, name)
		cmd := exec.CommandContext(ctx, cfg.mkbundle, append([]string{d}, args...)...)
		cmd.Env = append(os.Environ(), "STASIS="+specBy)
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("mkbundle %s: %v: %s", name, err, out)
		}
		return d, nil
	}
	var err error
	if b.trueB, err = mk("true", "true"); err != nil {
		return nil, err
	}
	if b.sleepB, err = mk("sleep", "sleep", "1000"); err != nil {
		return nil, err
	}
	if cfg.memhogBin == "" {
		return b, nil
	}
	memhog := func(name string, args ...string) (string, error) {
		d, err := mk(name, append([]string{"/memhog"}, args...)...)
		if err != nil {
			return "", err
		}
		return d, copyFile(cfg.memhogBin, filepath.Join(d, "rootfs", "memhog"), 0o755)
	}
	for _, size := range cfg.sizes {
		if b.memhog[size], err = memhog(fmt.Sprintf("memhog-%d", size), fmt.Sprint(size)); err != nil {
			return nil, err
		}
	}
	if p, err := exec.LookPath(cfg.runc); err == nil {
		specBy = p
		for _, size := range cfg.sizes {
			if b.runcSpec[size], err = memhog(fmt.Sprintf("memhog-runc-spec-%d", size), fmt.Sprint(size)); err != nil {
				return nil, err
			}
		}
		specBy = cfg.stasis
	}
	for _, size := range cfg.archiveSizes {
		if b.text[size], err = memhog(fmt.Sprintf("memhog-text-%d", size), fmt.Sprint(size), "text"); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, mode)
}

// buildMemhog builds the static memhog helper into dir.
func buildMemhog(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "memhog")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./memhog")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build memhog: %v: %s", err, b)
	}
	return out, nil
}

var errInterrupted = errors.New("interrupted")

// buildSpawn compiles spawn/spawn.c (static if the C library allows).
func buildSpawn(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "spawn")
	var last []byte
	for _, extra := range [][]string{{"-static"}, nil} {
		args := append([]string{"-O2", "-Wall"}, extra...)
		args = append(args, "-o", out, "spawn/spawn.c")
		b, err := exec.CommandContext(ctx, "cc", args...).CombinedOutput()
		if err == nil {
			return out, nil
		}
		last = b
	}
	return "", fmt.Errorf("build spawn (cc): %s", last)
}
