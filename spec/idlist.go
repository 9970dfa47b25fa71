package spec

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Limits of the kernel's masks (CONFIG_NR_CPUS and MAX_NUMNODES at their
// largest): a bigger number cannot name a real CPU or node, and parsing
// it would make a mask of absurd size.
const (
	MaxCPU  = 8192
	MaxNode = 1024
)

// ParseIDList parses a list such as "0-3,7" (CPUs or memory nodes, as
// cpuset(7) writes them) into its ids, sorted, each once. Every id must be
// below max. An empty string is an empty list.
func ParseIDList(s string, max int) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	seen := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := parseID(lo, max)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		last := first
		if isRange {
			if last, err = parseID(hi, max); err != nil {
				return nil, fmt.Errorf("%q: %w", s, err)
			}
			if last < first {
				return nil, fmt.Errorf("%q: range %s ends before it starts", s, part)
			}
		}
		for id := first; id <= last; id++ {
			seen[id] = true
		}
	}
	ids := make([]int, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids, nil
}

func parseID(s string, max int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || s == "" || s[0] == '+' {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if n >= max {
		return 0, fmt.Errorf("%d is out of range (at most %d)", n, max-1)
	}
	return n, nil
}
