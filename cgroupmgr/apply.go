package cgroupmgr

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Seams for the few syscalls whose failure modes tests need to provoke.
var (
	mkdir = os.Mkdir
	rmdir = unix.Rmdir
	sleep = time.Sleep
	now   = time.Now
)

// destroyBudget bounds how long Destroy waits for busy cgroups to empty.
var destroyBudget = time.Second

// Apply creates the container's cgroup dirs where missing and moves pid in.
func (m *manager) Apply(pid int) error {
	if pid <= 0 {
		return fmt.Errorf("cgroupmgr: apply: invalid pid %d", pid)
	}
	for _, dir := range m.dirs() {
		made, err := m.mkdirAll(dir)
		if err != nil {
			return err
		}
		if dir == m.paths["cpuset"] {
			if err := fillCpuset(dir); err != nil {
				return err
			}
		}
		if len(made) == 0 {
			continue
		}
		if m.mode == Unified && dir == m.paths[unifiedKey] {
			if err := m.enableControllers(made); err != nil {
				return err
			}
		}
	}
	for _, dir := range m.dirs() {
		if err := writeProcs(dir, pid); err != nil {
			return err
		}
	}
	return nil
}

// mkdirAll creates dir and its missing parents, recording each one it made
// (parents first) so that Destroy removes exactly those.
func (m *manager) mkdirAll(dir string) ([]string, error) {
	var missing []string
	for p := dir; ; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("cgroupmgr: stat %s: %w", p, err)
		}
		if p == filepath.Dir(p) {
			return nil, fmt.Errorf("cgroupmgr: no cgroup mount above %s: %w", dir, ErrNotFound)
		}
		missing = append(missing, p)
	}
	var made []string
	for i := len(missing) - 1; i >= 0; i-- {
		p := missing[i]
		if err := mkdir(p, 0o755); err != nil {
			if errors.Is(err, fs.ErrExist) {
				continue // raced with someone else: theirs, not ours
			}
			return made, fmt.Errorf("cgroupmgr: create cgroup %s: %w", p, err)
		}
		made = append(made, p)
		if !m.isCreated(p) {
			m.created = append(m.created, p)
		}
	}
	return made, nil
}

// fillCpuset copies cpuset.cpus/mems down from the nearest ancestor that
// has them into dir and every ancestor between, where they are empty: the
// kernel leaves a new v1 cpuset empty and refuses it tasks (ENOSPC). An
// ancestor made by someone else (a pod cgroup made with mkdir) is filled
// too, as runc does; an empty cpuset holds no task, so nothing that runs
// can be disturbed by it. One that is set is never changed.
func fillCpuset(dir string) error {
	var chain []string // dir and its ancestors, up to the hierarchy root
	for p := dir; ; p = filepath.Dir(p) {
		if _, err := os.Stat(filepath.Join(p, "cpuset.cpus")); err != nil {
			break
		}
		chain = append(chain, p)
		if p == filepath.Dir(p) {
			break
		}
	}
	for i := len(chain) - 2; i >= 0; i-- { // the root is never empty
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			cur, err := os.ReadFile(filepath.Join(chain[i], f))
			if err != nil {
				return fmt.Errorf("cgroupmgr: cpuset: %w", err)
			}
			if len(bytes.TrimSpace(cur)) != 0 {
				continue
			}
			parent, err := os.ReadFile(filepath.Join(chain[i+1], f))
			if err != nil {
				return fmt.Errorf("cgroupmgr: cpuset: %w", err)
			}
			if err := os.WriteFile(filepath.Join(chain[i], f), bytes.TrimSpace(parent), 0); err != nil {
				return fmt.Errorf("cgroupmgr: cpuset: copy %s from parent into %s: %w", f, chain[i], err)
			}
		}
	}
	return nil
}

// enableControllers delegates to each made dir every controller its parent
// has (v2 only hands a child the controllers listed in the parent's
// cgroup.subtree_control). Only parents we created are written: the first,
// pre-existing parent belongs to someone else, so a controller it does not
// already delegate is reported, not enabled.
func (m *manager) enableControllers(made []string) error {
	for _, dir := range made {
		parent := filepath.Dir(dir)
		avail, err := os.ReadFile(filepath.Join(parent, "cgroup.controllers"))
		if err != nil {
			return fmt.Errorf("cgroupmgr: %w", err)
		}
		f := filepath.Join(parent, "cgroup.subtree_control")
		if !m.isCreated(parent) {
			on, err := os.ReadFile(f)
			if err != nil {
				return fmt.Errorf("cgroupmgr: %w", err)
			}
			if missing := setMinus(strings.Fields(string(avail)), strings.Fields(string(on))); len(missing) > 0 {
				Warn("cgroupmgr: %s does not delegate %v to its children; %s will lack them", parent, missing, dir)
			}
			continue
		}
		var ctl []string
		for _, c := range strings.Fields(string(avail)) {
			ctl = append(ctl, "+"+c)
		}
		if len(ctl) == 0 {
			continue
		}
		if err := os.WriteFile(f, []byte(strings.Join(ctl, " ")), 0); err != nil {
			return fmt.Errorf("cgroupmgr: enable %v in %s: %w", ctl, f, err)
		}
	}
	return nil
}

func setMinus(a, b []string) []string {
	var out []string
	for _, x := range a {
		found := false
		for _, y := range b {
			found = found || x == y
		}
		if !found {
			out = append(out, x)
		}
	}
	return out
}

// writeProcs moves pid into dir, retrying on EINVAL which the kernel returns
// while the task is still being set up by fork.
func writeProcs(dir string, pid int) error {
	f := filepath.Join(dir, "cgroup.procs")
	var err error
	for i := 0; i < 5; i++ {
		err = os.WriteFile(f, []byte(strconv.Itoa(pid)), 0)
		if !errors.Is(err, unix.EINVAL) {
			break
		}
		sleep(30 * time.Millisecond)
	}
	if err != nil {
		// runc's wording, which callers of `exec --cgroup` match on; the
		// path is in it already, so only the errno is kept from err.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("cgroupmgr: adding pid %d to %s: %w", pid, f, err)
	}
	return nil
}

// Pids lists all processes of the container, including sub-cgroups.
func (m *manager) Pids() ([]int, error) {
	root := m.mainPath()
	var pids []int
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root && errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%s: %w", root, ErrNotFound)
			}
			if errors.Is(err, fs.ErrNotExist) {
				return nil // a sub-cgroup vanished while walking
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		got, err := readProcs(filepath.Join(p, "cgroup.procs"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		pids = append(pids, got...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cgroupmgr: list pids: %w", err)
	}
	return pids, nil
}

func readProcs(file string) ([]int, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []int
	s := bufio.NewScanner(f)
	for s.Scan() {
		t := strings.TrimSpace(s.Text())
		if t == "" {
			continue
		}
		pid, err := strconv.Atoi(t)
		if err != nil {
			return nil, fmt.Errorf("%s: bad pid %q", file, t)
		}
		out = append(out, pid)
	}
	return out, s.Err()
}

// Destroy removes the dirs this manager created, deepest first, together
// with any sub-cgroups the container made inside them. Dirs it did not
// create are never touched.
func (m *manager) Destroy() error {
	todo := append([]string(nil), m.created...)
	sort.SliceStable(todo, func(i, j int) bool { return depth(todo[i]) > depth(todo[j]) })
	var errs []error
	var left []string
	// One shared budget: when tasks are still exiting, every dir is busy
	// for the same reason, and waiting a full round per dir adds up.
	deadline := now().Add(destroyBudget)
	for _, dir := range todo {
		if err := removeTree(dir, deadline); err != nil {
			errs = append(errs, err)
			left = append(left, dir)
		}
	}
	// Keep the ones that failed so that a retry (or the persisted state)
	// still knows about them.
	var keep []string
	for _, c := range m.created {
		for _, l := range left {
			if c == l {
				keep = append(keep, c)
			}
		}
	}
	m.created = keep
	return errors.Join(errs...)
}

func depth(p string) int { return strings.Count(filepath.Clean(p), "/") }

func removeTree(dir string, deadline time.Time) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cgroupmgr: destroy %s: %w", dir, err)
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeTree(filepath.Join(dir, e.Name()), deadline); err != nil {
				return err
			}
		}
	}
	return rmdirRetry(dir, deadline)
}

// rmdirRetry retries EBUSY until deadline (at least once): a killed
// container's tasks may still be exiting.
func rmdirRetry(dir string, deadline time.Time) error {
	delay := 10 * time.Millisecond
	for {
		err := rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if (!errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.EAGAIN)) || now().After(deadline) {
			return fmt.Errorf("cgroupmgr: remove cgroup %s: %w", dir, err)
		}
		sleep(delay)
		delay = min(delay*2, 100*time.Millisecond)
	}
}

// EnterSub moves pid into sub-cgroups of the container's cgroups, as
// `exec --cgroup` asks: sub maps a controller ("memory", "cpu", or "" for
// every hierarchy) to a path relative to the container's cgroup in it.
// A path that climbs out of the container's cgroup is refused, and a
// sub-cgroup is never created: it must exist already.
func (m *manager) EnterSub(pid int, sub map[string]string) error {
	targets := map[string]string{} // hierarchy dir -> target dir
	if rel, ok := sub[""]; ok {
		for _, dir := range m.dirs() {
			targets[dir] = rel
		}
	}
	for ctrl, rel := range sub {
		if ctrl == "" {
			continue
		}
		dir := m.Path(ctrl)
		if dir == "" {
			return fmt.Errorf("cgroupmgr: unknown controller %q in --cgroup %s:%s", ctrl, ctrl, rel)
		}
		targets[dir] = rel
	}
	for _, dir := range m.dirs() {
		to := dir
		if rel, ok := targets[dir]; ok {
			to = filepath.Join(dir, rel)
			if to != dir && !strings.HasPrefix(to, dir+"/") {
				return fmt.Errorf("cgroupmgr: %s is not a sub cgroup path", rel)
			}
		}
		if err := writeProcs(to, pid); err != nil {
			return err
		}
	}
	return nil
}
