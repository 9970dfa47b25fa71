package spec

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Real-time signal bounds as user space sees them: glibc reserves the two
// lowest kernel RT signals, so SIGRTMIN is 34 in `kill -l` and for users.
const (
	sigRTMin = 34
	sigRTMax = 64
)

// ParseSignal accepts a signal by name or number: "KILL", "SIGKILL",
// "sigkill", "9", and the real-time forms "RTMIN", "RTMIN+3", "RTMAX-1".
// "0" is kill(2)'s null signal, which only checks the target exists.
func ParseSignal(s string) (unix.Signal, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("parse signal %q: empty signal", s)
	}
	if n, err := strconv.Atoi(in); err == nil {
		if n < 0 || n > sigRTMax {
			return 0, fmt.Errorf("parse signal %q: number out of range 0-%d", s, sigRTMax)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(in)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig, ok := parseRTSignal(name); ok {
		return sig, nil
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("parse signal %q: unknown signal", s)
}

func parseRTSignal(name string) (unix.Signal, bool) {
	var base, sign int
	var rest string
	switch {
	case strings.HasPrefix(name, "SIGRTMIN"):
		base, sign, rest = sigRTMin, 1, name[len("SIGRTMIN"):]
	case strings.HasPrefix(name, "SIGRTMAX"):
		base, sign, rest = sigRTMax, -1, name[len("SIGRTMAX"):]
	default:
		return 0, false
	}
	if rest == "" {
		return unix.Signal(base), true
	}
	if (sign > 0 && rest[0] != '+') || (sign < 0 && rest[0] != '-') {
		return 0, false
	}
	off, err := strconv.Atoi(rest[1:])
	if err != nil || off < 0 {
		return 0, false
	}
	n := base + sign*off
	if n < sigRTMin || n > sigRTMax {
		return 0, false
	}
	return unix.Signal(n), true
}
