package aufs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// ParseBranches reads an AUFS sysfs directory (/sys/fs/aufs/si_<si>) and
// returns its branches br0, br1, ... in order, br0 being the top. It stops
// at the first missing index; brid<N>, xi_path and the like are not
// branches and are ignored.
func ParseBranches(dir string) ([]Layer, error) {
	var out []Layer
	for i := 0; ; i++ {
		name := filepath.Join(dir, "br"+strconv.Itoa(i))
		b, err := os.ReadFile(name)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("aufs: reading branch: %w", err)
		}
		l, err := parseBranch(string(b))
		if err != nil {
			return nil, fmt.Errorf("aufs: %s: %w", name, err)
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("aufs: no branches (br0) in %s", dir)
	}
	return out, nil
}

// parseBranch decodes one brN file: "<path>=<perm>\n", the path escaped
// by seq_path (control characters, space, backslash and DEL as \NNN) but
// '=' left alone, so the permission starts after the LAST '='.
func parseBranch(s string) (Layer, error) {
	s = strings.TrimSuffix(s, "\n") // a newline in the path itself is \012
	i := strings.LastIndexByte(s, '=')
	if i < 0 {
		return Layer{}, fmt.Errorf("branch %q has no =permission", s)
	}
	p, perm := unescapeOctal(s[:i]), s[i+1:]
	if !filepath.IsAbs(p) || perm == "" {
		return Layer{}, fmt.Errorf("branch %q: want an absolute path and a permission", s)
	}
	return Layer{Path: filepath.Clean(p), Perm: perm}, nil
}

// permRE matches an AUFS branch permission ("rw", "ro+wh", "rr+wh",
// "rw+nolwh"...), used to re-join a "br:" list split at colons.
var permRE = regexp.MustCompile(`=(rw|ro|rr)(\+[a-z]+)*$`)

// parseBrOption decodes the "br:" list AUFS shows in its mount options
// when sysfs branch files are off (module parameter brs=0):
// "/a=rw:/b=ro+wh". ':' is not escaped there, so a branch path holding
// ':' is rebuilt by joining pieces until one ends with "=<perm>".
func parseBrOption(v string) ([]Layer, error) {
	var out []Layer
	cur := ""
	for _, piece := range strings.Split(v, ":") {
		if cur != "" {
			cur += ":"
		}
		cur += piece
		if !permRE.MatchString(cur) {
			continue
		}
		l, err := parseBranch(cur)
		if err != nil {
			return nil, fmt.Errorf("aufs: br option: %w", err)
		}
		out = append(out, l)
		cur = ""
	}
	if cur != "" || len(out) == 0 {
		return nil, fmt.Errorf("aufs: br option %q: trailing %q is not a branch", v, cur)
	}
	return out, nil
}

// whiteouts reports whether AUFS honours whiteouts on a branch: always
// on writable branches, on read-only ones only with "+wh" (Docker's
// "ro+wh" layers); a plain "ro" branch's .wh. files are ordinary names.
func whiteouts(perm string) bool {
	return strings.HasPrefix(perm, "rw") || strings.Contains(perm, "+wh")
}
