package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadConfig feeds any bytes to Load as a bundle's config.json (the
// file is the user's, and create and restore read it first): Load must
// answer or fail, never panic; a failure that is a validation must wrap
// ErrInvalid and say "invalid config: <field>"; and a config that loads
// must survive a JSON round trip: encoded and loaded again it is still
// valid and encodes to the same bytes, so what stasis records in the
// state file and reloads (state.json's config) is what it validated.
// The bundle's paths must come out absolute (LoadBundle's promise).
//
// The seed corpus is Default() and every case of TestValidate, so plain
// `go test` runs them all through this.
func FuzzLoadConfig(f *testing.F) {
	for _, tc := range validateCases {
		s := Default()
		tc.mutate(s)
		data, err := json.Marshal(s)
		if err != nil {
			f.Fatalf("%s: %v", tc.name, err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"", "{}", "null", "[]", `"x"`, "1", `{"ociVersion":"1.0.0"}`, `{"ociVersion":"1.0.0"} {}`,
		`{"ociVersion":"1.0.0","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/"}}`,
		`{"ociVersion":"1.0.0","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/"},"mounts":[{"destination":"/x","type":"bind","source":"rel"}]}`,
		`{"ociVersion":"1.0.0","process":{"args":"sh"}}`, `{"ociVersion": 1}`, "\xff\xfe{}",
		strings.Repeat("[", 10000), `{"linux":{"resources":{"memory":{"limit":-1}}}}`,
	} {
		f.Add([]byte(s))
	}
	orig := readFile
	f.Cleanup(func() { readFile = orig })
	f.Fuzz(func(t *testing.T, data []byte) {
		readFile = func(string) ([]byte, error) { return data, nil }
		s, err := Load("/bundle")
		if err != nil {
			if errors.Is(err, ErrInvalid) && !strings.Contains(err.Error(), "invalid config: ") {
				t.Fatalf("validation error %q lacks 'invalid config: '", err)
			}
			return
		}
		enc, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("a config that loads does not encode: %v", err)
		}
		readFile = func(string) ([]byte, error) { return enc, nil }
		s2, err := Load("/bundle")
		if err != nil {
			t.Fatalf("config %q loads, its JSON round trip %q does not: %v", data, enc, err)
		}
		enc2, err := json.Marshal(s2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("JSON round trip changes the config:\n%s\n%s (%v)", enc, enc2, err)
		}
		AbsBindSources(s2, "/bundle")
		for i, m := range s2.Mounts {
			if IsBind(m) && !filepath.IsAbs(m.Source) {
				t.Fatalf("mounts[%d]: bind source %q not made absolute", i, m.Source)
			}
		}
		if p := RootfsPath("/bundle", s2); !filepath.IsAbs(p) || filepath.Clean(p) != p {
			t.Fatalf("RootfsPath = %q", p)
		}
	})
}
