// Package spec loads and validates an OCI bundle's config.json and holds
// small pure helpers (signals, rlimits, mount options, capabilities) that
// turn spec strings into the numbers the runtime hands to the kernel.
//
// Nothing here makes a syscall other than reading config.json, so every
// rule can be unit-tested without privileges.
package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ConfigFile is the name of the spec file inside a bundle.
const ConfigFile = "config.json"

// Version of the runtime spec this build implements.
var Version = specs.Version

// ErrInvalid is wrapped by every validation error, so callers can errors.Is it.
var ErrInvalid = errors.New("invalid config")

// readFile is a seam so tests can fake I/O failures.
var readFile = os.ReadFile

// Load reads <bundle>/config.json, decodes it and validates it.
// Every error names the bundle and, for file and JSON problems, the file.
func Load(bundle string) (*specs.Spec, error) {
	s, err := Decode(bundle)
	if err != nil {
		return nil, err
	}
	if err := Validate(s); err != nil {
		return nil, fmt.Errorf("load bundle %s: %w", bundle, err)
	}
	return s, nil
}

// Decode reads and decodes <bundle>/config.json without validating it;
// useful for commands (state, delete) that must cope with a spec that a
// newer rule would reject.
func Decode(bundle string) (*specs.Spec, error) {
	path := filepath.Join(bundle, ConfigFile)
	data, err := readFile(path)
	if err != nil {
		// os errors already carry "open <path>: ...".
		return nil, fmt.Errorf("load bundle %s: %w", bundle, err)
	}
	s, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("load bundle %s: parse %s: %w", bundle, path, err)
	}
	return s, nil
}

// decode rejects malformed JSON, wrong field types and trailing garbage.
// Unknown fields are accepted: the spec allows extensions and runc ignores
// them, so rejecting them would break bundles that work elsewhere.
func decode(data []byte) (*specs.Spec, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var s specs.Spec
	if err := dec.Decode(&s); err != nil {
		var syn *json.SyntaxError
		switch {
		case errors.Is(err, io.EOF):
			return nil, errors.New("empty file")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, errors.New("unexpected end of JSON input")
		case errors.As(err, &syn):
			return nil, fmt.Errorf("%w (at byte %d)", err, syn.Offset)
		}
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the top-level JSON object")
	}
	return &s, nil
}

// RootfsPath returns the absolute host path of root.path (relative to the
// bundle when not absolute), cleaned. A relative bundle is made absolute
// against the current directory so the result survives a later chdir.
func RootfsPath(bundle string, s *specs.Spec) string {
	p := ""
	if s != nil && s.Root != nil {
		p = s.Root.Path
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(bundle, p)
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return filepath.Clean(p)
}

// AbsBindSources makes relative bind-mount sources relative to the
// bundle, as runc does: the process that mounts them (the container init,
// CRIU at restore) does not run in the bundle directory.
func AbsBindSources(s *specs.Spec, bundle string) {
	for i, m := range s.Mounts {
		if IsBind(m) && m.Source != "" && !filepath.IsAbs(m.Source) {
			s.Mounts[i].Source = filepath.Join(bundle, m.Source)
		}
	}
}

// LoadBundle is what create and restore both start with: the bundle's
// absolute path and its validated config, with bind sources made
// absolute against it.
func LoadBundle(bundle string) (string, *specs.Spec, error) {
	abs, err := filepath.Abs(bundle)
	if err != nil {
		return "", nil, fmt.Errorf("load bundle %s: %w", bundle, err)
	}
	s, err := Load(abs)
	if err != nil {
		return "", nil, err
	}
	AbsBindSources(s, abs)
	return abs, s, nil
}
