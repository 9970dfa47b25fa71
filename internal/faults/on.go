//go:build stasis_faults

package faults

import (
	"fmt"
	"os"
	"syscall"
)

// Point kills this process with SIGKILL, as `kill -9` would, when
// $STASIS_FAULT names it. Nothing runs after: no deferred clean-up, no
// flush. The name goes to stderr first, so a test that expected another
// point can tell which one fired.
func Point(name string) {
	if os.Getenv(Env) != name {
		return
	}
	fmt.Fprintf(os.Stderr, "stasis-faults: killed at %s\n", name)
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way; never go on past the point
}

// Enabled reports whether this is a fault build.
const Enabled = true
