// Package faults marks the steps of stasis at which a test may kill it.
//
// tests/bats/faults.bats proves that a stasis killed with SIGKILL at any
// step of create, checkpoint or restore leaves nothing that `delete
// --force` cannot clean. A kill at a chosen step is what it needs, and a
// kill timed by a sleep would hit a different step on every machine, so
// each step calls Point with its name: in a build with the stasis_faults
// tag (`make faults`, build/stasis-faults) the process SIGKILLs itself at
// the point named by $STASIS_FAULT; in every other build Point is an
// empty function the compiler removes.
package faults

// Env names the environment variable that selects the point to die at.
const Env = "STASIS_FAULT"
