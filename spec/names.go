package spec

import (
	"fmt"
	"strings"

	"github.com/moby/sys/capability"
	"golang.org/x/sys/unix"
)

var rlimits = map[string]int{
	"RLIMIT_AS":         unix.RLIMIT_AS,
	"RLIMIT_CORE":       unix.RLIMIT_CORE,
	"RLIMIT_CPU":        unix.RLIMIT_CPU,
	"RLIMIT_DATA":       unix.RLIMIT_DATA,
	"RLIMIT_FSIZE":      unix.RLIMIT_FSIZE,
	"RLIMIT_LOCKS":      unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK":    unix.RLIMIT_MEMLOCK,
	"RLIMIT_MSGQUEUE":   unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE":       unix.RLIMIT_NICE,
	"RLIMIT_NOFILE":     unix.RLIMIT_NOFILE,
	"RLIMIT_NPROC":      unix.RLIMIT_NPROC,
	"RLIMIT_RSS":        unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO":     unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME":     unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK":      unix.RLIMIT_STACK,
}

// RlimitType maps an OCI rlimit type such as "RLIMIT_NOFILE" to its
// resource number. Names are case-sensitive, as the spec writes them.
func RlimitType(name string) (int, error) {
	if r, ok := rlimits[name]; ok {
		return r, nil
	}
	return 0, fmt.Errorf("rlimit type %q: unknown rlimit", name)
}

// capByName indexes every capability the library knows, whether or not
// the running kernel supports it: validation must not depend on the host.
var capByName = func() map[string]capability.Cap {
	m := make(map[string]capability.Cap)
	for _, c := range capability.ListKnown() {
		m["CAP_"+strings.ToUpper(c.String())] = c
	}
	return m
}()

// ParseCapability maps "CAP_SYS_ADMIN" (any case, CAP_ prefix required as
// in the spec) to its capability.Cap value.
func ParseCapability(name string) (capability.Cap, error) {
	if c, ok := capByName[strings.ToUpper(name)]; ok {
		return c, nil
	}
	return 0, fmt.Errorf("capability %q: unknown capability", name)
}

// CapabilityName returns the spec spelling ("CAP_SYS_ADMIN") of c.
func CapabilityName(c capability.Cap) string {
	return "CAP_" + strings.ToUpper(c.String())
}
