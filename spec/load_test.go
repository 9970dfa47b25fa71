package spec

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeBundle(t *testing.T, config string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLoadValid(t *testing.T) {
	data, err := json.Marshal(Default())
	if err != nil {
		t.Fatal(err)
	}
	dir := writeBundle(t, string(data))
	s, err := Load(dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if s.Hostname != "stasis" {
		t.Errorf("hostname = %q", s.Hostname)
	}
	if got, want := RootfsPath(dir, s), filepath.Join(dir, "rootfs"); got != want {
		t.Errorf("RootfsPath = %q, want %q", got, want)
	}
}

func TestLoadUnknownFieldsAccepted(t *testing.T) {
	data, _ := json.Marshal(Default())
	cfg := strings.Replace(string(data), "{", `{"x-extension":{"a":1},`, 1)
	if _, err := Load(writeBundle(t, cfg)); err != nil {
		t.Fatalf("unknown top-level field rejected: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	missingDir := filepath.Join(t.TempDir(), "nope")
	tests := []struct {
		name   string
		bundle string
		want   []string
		isInv  bool
	}{
		{"no bundle dir", missingDir, []string{"load bundle " + missingDir, filepath.Join(missingDir, ConfigFile), "no such file or directory"}, false},
		{"no config.json", t.TempDir(), []string{"config.json", "no such file or directory"}, false},
		{"invalid json", writeBundle(t, `{"ociVersion": "1.0.0",`), []string{"parse ", "config.json", "unexpected end of JSON input"}, false},
		{"syntax error", writeBundle(t, `{"ociVersion": x}`), []string{"config.json", "invalid character", "at byte 16"}, false},
		{"empty file", writeBundle(t, ``), []string{"config.json", "empty file"}, false},
		{"trailing garbage", writeBundle(t, `{"ociVersion":"1.0.0"} {}`), []string{"config.json", "unexpected data"}, false},
		{"wrong type", writeBundle(t, `{"ociVersion": "1.0.0", "process": {"args": "sh"}}`), []string{"config.json", "process.args", "[]string"}, false},
		{"wrong type number", writeBundle(t, `{"ociVersion": 1}`), []string{"config.json", "ociVersion"}, false},
		{"validation", writeBundle(t, `{"ociVersion": "1.0.0", "root": {"path": "rootfs"}}`), []string{"load bundle ", "invalid config: process: missing"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.bundle)
			if err == nil {
				t.Fatal("want error, got nil")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if errors.Is(err, ErrInvalid) != tt.isInv {
				t.Errorf("errors.Is(ErrInvalid) = %v, want %v (%v)", !tt.isInv, tt.isInv, err)
			}
		})
	}
}

func TestLoadNotExistIsDetectable(t *testing.T) {
	_, err := Load(t.TempDir())
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("want os.ErrNotExist in chain, got %v", err)
	}
}

func TestDecodeSkipsValidation(t *testing.T) {
	s, err := Decode(writeBundle(t, `{"ociVersion": "9.0.0"}`))
	if err != nil || s.Version != "9.0.0" {
		t.Fatalf("Decode = %v, %v", s, err)
	}
}

func TestRootfsPath(t *testing.T) {
	cwd, _ := os.Getwd()
	s := Default()
	tests := []struct{ bundle, root, want string }{
		{"/b", "rootfs", "/b/rootfs"},
		{"/b/", "./rootfs/", "/b/rootfs"},
		{"/b", "/abs/root/../rootfs", "/abs/rootfs"},
		{"rel", "rootfs", filepath.Join(cwd, "rel/rootfs")},
	}
	for _, tt := range tests {
		s.Root.Path = tt.root
		if got := RootfsPath(tt.bundle, s); got != tt.want {
			t.Errorf("RootfsPath(%q, %q) = %q, want %q", tt.bundle, tt.root, got, tt.want)
		}
	}
}
