package cgroupmgr

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

var (
	// ErrNotFound means the cgroup (or a file in it) does not exist.
	ErrNotFound = errors.New("cgroup not found")
	// ErrEscapes means a cgroupsPath climbs out of the hierarchy root (or,
	// for a relative path, out of the runtime's own cgroup) with "..", or
	// names that root itself.
	ErrEscapes = errors.New("cgroups path escapes its root")
	// ErrSystemdUnsupported is returned for "slice:prefix:name" paths.
	ErrSystemdUnsupported = errors.New("systemd cgroup driver not supported")
	// ErrNotSupported means the host lacks what an explicit request needs.
	ErrNotSupported = errors.New("not supported by this host's cgroups")
)

// Resolve turns an OCI linux.cgroupsPath into a cgroup path per hierarchy,
// relative to that hierarchy's root (always starting with "/").
//
// own maps each hierarchy key ("memory", "cpu", "name=systemd", "" for the
// v2 hierarchy) to the runtime's own cgroup in it, as read from
// /proc/self/cgroup; its keys decide which hierarchies appear in the result.
//
//   - absolute "/a/b": the same path in every hierarchy;
//   - relative "a/b": under the runtime's own cgroup, per hierarchy;
//   - empty: "/<id>".
//
// ".." may not climb above the starting point and the result may not be
// that starting point itself: a container must never be given the root or
// the runtime's own cgroup, which stasis did not create.
func Resolve(id, cgroupsPath string, own map[string]string) (map[string]string, error) {
	p := cgroupsPath
	if p == "" {
		if id == "" {
			return nil, errors.New("cgroupmgr: empty container id and cgroupsPath")
		}
		p = "/" + id
	}
	if !strings.HasPrefix(p, "/") && strings.Count(p, ":") == 2 {
		return nil, fmt.Errorf("cgroupsPath %q: %w", cgroupsPath, ErrSystemdUnsupported)
	}
	rel, err := confine(p)
	if err != nil {
		return nil, fmt.Errorf("cgroupsPath %q: %w", p, err)
	}
	out := make(map[string]string, len(own))
	for key, base := range own {
		if strings.HasPrefix(p, "/") {
			out[key] = "/" + rel
			continue
		}
		out[key] = path.Join("/", base, rel)
	}
	return out, nil
}

// confine cleans p lexically and returns it without a leading "/",
// refusing any ".." that would climb above the start and an empty result.
func confine(p string) (string, error) {
	var parts []string
	for _, el := range strings.Split(p, "/") {
		switch el {
		case "", ".":
		case "..":
			if len(parts) == 0 {
				return "", ErrEscapes
			}
			parts = parts[:len(parts)-1]
		default:
			parts = append(parts, el)
		}
	}
	if len(parts) == 0 {
		return "", ErrEscapes
	}
	return strings.Join(parts, "/"), nil
}
