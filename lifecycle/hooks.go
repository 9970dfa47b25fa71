package lifecycle

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// Warn receives what the runtime spec says must be logged but not fail
// the operation (poststop hook failures). main wires it.
var Warn = func(format string, args ...any) {}

// Debug receives the steps of the protocol for --debug; main wires it.
var Debug = func(format string, args ...any) {}

// Where each hook kind runs (runtime spec, config.md "POSIX-platform Hooks"):
//
//	prestart, createRuntime  parent, runtime namespaces, after the mounts, before pivot_root
//	createContainer          init, container namespaces, right after those, before pivot_root
//	startContainer           init, container namespaces, after start, before the user process
//	poststart                `stasis start`, after the user process was released
//	poststop                 `stasis delete`, after the container's resources are gone
//
// A failure fails the operation and stops the container for every kind
// but poststop (runtime.md, lifecycle steps 3-9), whose failures are only
// logged while the remaining hooks still run (step 13). runtime-spec
// 1.0.2 said the same of poststart; 1.1 made it an error, as runc has it.
//
// The state's pid is the container process as the hook's namespace sees
// it (state.md), so the two kinds run in the container get the init's own
// pid there.

// runHooks runs hooks in order, each with the state JSON on its stdin,
// stopping at the first failure.
func runHooks(kind string, hs []specs.Hook, st *specs.State) error {
	return eachHook(kind, hs, st, func(err error) error { return err })
}

// eachHook runs hs in order and hands each failure to onErr; a non-nil
// return from onErr stops the run and is returned.
func eachHook(kind string, hs []specs.Hook, st *specs.State, onErr func(error) error) error {
	if len(hs) == 0 {
		return nil
	}
	stdin, err := json.Marshal(st)
	if err != nil {
		return err
	}
	for i, h := range hs {
		if err := runHook(h, stdin); err != nil {
			// "error running hook" is runc's wording, which its users
			// and tests look for.
			if err := onErr(fmt.Errorf("error running hook #%d (%s hook %s): %w", i, kind, h.Path, err)); err != nil {
				return err
			}
		}
	}
	return nil
}

func runHook(h specs.Hook, stdin []byte) error {
	ctx := context.Background()
	if h.Timeout != nil {
		if *h.Timeout <= 0 {
			return fmt.Errorf("timeout must be positive, got %d", *h.Timeout)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	args := h.Args
	if len(args) == 0 {
		args = []string{h.Path}
	}
	cmd := exec.CommandContext(ctx, h.Path)
	cmd.Args = args
	cmd.Env = h.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stdin = bytes.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("timed out after %ds", *h.Timeout)
	}
	if err != nil {
		if msg := strings.TrimSpace(out.String()); msg != "" {
			return fmt.Errorf("%w: %s", err, msg)
		}
		return err
	}
	return nil
}

func hooksOf(sp *specs.Spec) *specs.Hooks {
	if sp.Hooks == nil {
		return &specs.Hooks{}
	}
	return sp.Hooks
}

// hookState is the state document hooks receive.
func (st *State) hookState(status Status, pid int) *specs.State {
	return &specs.State{
		Version: specs.Version, ID: st.ID, Status: specs.ContainerState(status),
		Pid: pid, Bundle: st.Bundle, Annotations: st.Annotations,
	}
}

// warnHooks runs hooks whose failure the spec says to log only: each one
// runs, whatever the ones before it did.
func warnHooks(kind string, hs []specs.Hook, st *specs.State) {
	err := eachHook(kind, hs, st, func(err error) error {
		Warn("container %s: %v", st.ID, err)
		return nil
	})
	if err != nil {
		Warn("container %s: %s hooks: %v", st.ID, kind, err)
	}
}
