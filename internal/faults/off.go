//go:build !stasis_faults

package faults

// Point is a step at which a fault build may be killed; here, nothing.
func Point(name string) {}

// Enabled reports whether this is a fault build.
const Enabled = false
