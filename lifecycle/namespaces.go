package lifecycle

import "github.com/opencontainers/runtime-spec/specs-go"

// hasNamespace: the container has namespace t, new or joined.
func hasNamespace(l *specs.Linux, t specs.LinuxNamespaceType) bool {
	if l == nil {
		return false
	}
	for _, ns := range l.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}

// newNamespace: the container gets a namespace of type t of its own.
func newNamespace(l *specs.Linux, t specs.LinuxNamespaceType) bool {
	if l == nil {
		return false
	}
	for _, ns := range l.Namespaces {
		if ns.Type == t {
			return ns.Path == ""
		}
	}
	return false
}
