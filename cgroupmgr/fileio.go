package cgroupmgr

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// readKV parses "key value" lines (cgroup.events, memory.stat, cpu.stat ...).
// Lines whose value is not a number are skipped.
func readKV(file string) (map[string]uint64, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]uint64{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(s.Text()), " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			continue
		}
		out[k] = n
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	return out, nil
}

// readUint reads a single-number file; "max" reads as 0 (no limit), and
// v1's huge "unlimited" values are returned as they are.
func readUint(file string) (uint64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		// Negative values like -1 mean "unlimited" in v1 files.
		if _, ierr := strconv.ParseInt(s, 10, 64); ierr == nil {
			return 0, nil
		}
		return 0, fmt.Errorf("%s: %w", file, err)
	}
	return n, nil
}
