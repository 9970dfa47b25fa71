package faults

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// TestPoint runs this test binary again with STASIS_FAULT set: a fault
// build must die of SIGKILL at the named point and only there, a normal
// build must not die at all.
func TestPoint(t *testing.T) {
	if os.Getenv("FAULTS_CHILD") != "" {
		Point("other")
		os.Stdout.WriteString("past other\n")
		Point("here")
		os.Stdout.WriteString("past here\n")
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPoint$")
	cmd.Env = append(os.Environ(), "FAULTS_CHILD=1", Env+"=here")
	out, err := cmd.Output()
	if !Enabled {
		if err != nil || string(out) != "past other\npast here\n" {
			t.Fatalf("normal build: err %v, output %q; want a clean exit past both points", err, out)
		}
		return
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("fault build: %v (output %q), want death by SIGKILL", err, out)
	}
	if string(out) != "past other\n" {
		t.Fatalf("fault build: output %q, want only %q", out, "past other\n")
	}
}
