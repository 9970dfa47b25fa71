package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cmdTimeout bounds every command the bench runs, so a wedged runtime
// fails the bench instead of hanging it.
const cmdTimeout = 2 * time.Minute

// spawnBin is the built spawn helper (spawn/spawn.c) that every timed
// command goes through: it forks, execs, wait4s and reports the wall time
// and ru_maxrss on a pipe. See spawn.c for why Go cannot measure the RSS.
var spawnBin string

// outcome is one timed command: wall time from fork to reaped exit, and
// the peak RSS wait4 reports for it.
type outcome struct {
	Dur    time.Duration
	MaxRSS int64 // KiB: max over the process and the children it reaped
	Stdout string
	Stderr string
}

func (o outcome) ms() float64 { return float64(o.Dur) / float64(time.Millisecond) }

// stdio is what a command's fds 0-2 are. nil members mean: stdin
// /dev/null, stdout and stderr captured into buffers. Buffers must not be
// used for commands that leave a process (a container) holding those fds,
// or Wait would block until that process exits.
type stdio [3]*os.File

// runTimed runs name args with the given stdio through spawn and returns
// what spawn measured. Errors carry the command's stderr.
//
// An interrupt (ctx cancelled) stops the bench between commands, never in
// the middle of one: a runtime killed half-way through create would leave
// more to clean up. The command runs in its own process group, so a ^C
// from the terminal reaches only the bench; on time-out the whole group
// is killed.
func runTimed(ctx context.Context, io stdio, name string, args ...string) (outcome, error) {
	if ctx.Err() != nil {
		return outcome{}, errInterrupted
	}
	rep, repW, err := os.Pipe()
	if err != nil {
		return outcome{}, err
	}
	defer rep.Close()
	tctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, spawnBin, append([]string{"3", name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.ExtraFiles = []*os.File{repW}
	var outBuf, errBuf bytes.Buffer
	if io[0] != nil {
		cmd.Stdin = io[0]
	}
	if io[1] != nil {
		cmd.Stdout = io[1]
	} else {
		cmd.Stdout = &outBuf
	}
	if io[2] != nil {
		cmd.Stderr = io[2]
	} else {
		cmd.Stderr = &errBuf
	}
	err = cmd.Start()
	repW.Close()
	if err == nil {
		err = cmd.Wait()
	}
	o := outcome{Stdout: outBuf.String(), Stderr: errBuf.String()}
	var ns, rss int64
	if b, rerr := readAll(rep); rerr == nil {
		if _, serr := fmt.Sscanf(string(b), "%d %d", &ns, &rss); serr == nil {
			o.Dur, o.MaxRSS = time.Duration(ns), rss
		} else if err == nil {
			err = fmt.Errorf("spawn reported %q", b)
		}
	}
	if err != nil {
		return o, fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(o.Stderr))
	}
	return o, nil
}

func readAll(f *os.File) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(f)
	return b.Bytes(), err
}

// pipes are a container's stdio as containerd gives it: three pipes whose
// other ends the bench holds. runc can only checkpoint a container whose
// stdio is pipes (or a tty): host files such as /dev/null are outside the
// container's mount namespace and CRIU refuses them.
type pipes struct {
	child [3]*os.File // the container's ends: stdin's read end, stdout's and stderr's write ends
	ours  [3]*os.File
}

func newPipes() (*pipes, error) {
	p := &pipes{}
	for i := 0; i < 3; i++ {
		r, w, err := os.Pipe()
		if err != nil {
			p.close()
			return nil, err
		}
		if i == 0 {
			p.child[i], p.ours[i] = r, w
		} else {
			p.child[i], p.ours[i] = w, r
		}
	}
	return p, nil
}

func (p *pipes) stdio() stdio { return stdio{p.child[0], p.child[1], p.child[2]} }

// closeChild drops the bench's copies of the container's ends once the
// command that handed them over has exited.
func (p *pipes) closeChild() {
	for i, f := range p.child {
		if f != nil {
			f.Close()
			p.child[i] = nil
		}
	}
}

func (p *pipes) close() {
	p.closeChild()
	for i, f := range p.ours {
		if f != nil {
			f.Close()
			p.ours[i] = nil
		}
	}
}

// stderr returns what is waiting in the stderr pipe without blocking (the
// runtime writes its errors there when it shares the container's stdio).
func (p *pipes) stderr() string { return drain(p.ours[2]) }

func drain(f *os.File) string {
	if f == nil {
		return ""
	}
	_ = f.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var b bytes.Buffer
	buf := make([]byte, 64<<10)
	for {
		n, err := f.Read(buf)
		b.Write(buf[:n])
		if err != nil || n == 0 {
			break
		}
	}
	_ = f.SetReadDeadline(time.Time{})
	return b.String()
}

// becomeSubreaper makes container inits, CRIU-restored trees and anything
// else orphaned by the commands the bench runs its children, so it can
// reap them (a killed container's init must be gone before delete) and
// sweep up leftovers at the end.
func becomeSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// reap waits (up to timeout) for pid to exit, reaping it if it is our
// child; a pid that is not our child is polled until /proc forgets it.
func reap(pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		switch {
		case got == pid:
			return nil
		case errors.Is(err, unix.ECHILD):
			if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
				return nil
			}
		case err != nil && !errors.Is(err, unix.EINTR):
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pid %d did not exit within %v", pid, timeout)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// waitComm polls /proc/PID/comm until it reads want (memhog's "ready").
func waitComm(pid int, want string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err == nil && strings.TrimSpace(string(b)) == want {
			return nil
		}
		if err != nil && errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("pid %d exited before it was ready", pid)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pid %d not ready within %v (comm %q)", pid, timeout, strings.TrimSpace(string(b)))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// children lists the pids whose parent is the bench: with the bench a
// subreaper, every process its commands left behind ends up here.
func children() []int {
	me := os.Getpid()
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// comm may hold spaces and parens: the fields start after the last ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 {
			if ppid, _ := strconv.Atoi(f[1]); ppid == me {
				out = append(out, pid)
			}
		}
	}
	return out
}
