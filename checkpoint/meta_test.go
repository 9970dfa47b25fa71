package checkpoint

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stasis-oci/stasis/lifecycle"
	"github.com/stasis-oci/stasis/spec"
)

// badPathCases break one recorded path of sampleMeta each; want is the
// field and value the refusal must name.
var badPathCases = []struct {
	name   string
	mutate func(*Metadata)
	want   string
}{
	{"relative layer", func(m *Metadata) { m.Union.Layers[1].Path = "l 1" }, `union.layers[1].path "l 1" is not an absolute path`},
	{"layer with ..", func(m *Metadata) { m.Union.Layers[0].Path = "/var/lib/../../etc" },
		`union.layers[0].path "/var/lib/../../etc" is not a clean path (clean, it is "/etc")`},
	{"empty layer", func(m *Metadata) { m.Union.Layers[1].Path = "" }, `union.layers[1].path "" is not an absolute path`},
	{"layer trailing slash", func(m *Metadata) { m.Union.Layers[1].Path = "/l/" }, `union.layers[1].path "/l/" is not a clean path`},
	{"upper //", func(m *Metadata) { m.Union.Upper = "//x" }, `union.upper "//x" is not a clean path`},
	{"work relative", func(m *Metadata) { m.Union.Work = "work" }, `union.work "work" is not an absolute path`},
	{"mountpoint dot", func(m *Metadata) { m.Union.Mountpoint = "/m/." }, `union.mountpoint "/m/." is not a clean path`},
	{"union root", func(m *Metadata) { m.Union.Root = "sub" }, `union.root "sub" is not an absolute path`},
	{"host path ..", func(m *Metadata) { m.Externals[3].HostPath = "/dev/../etc/shadow" },
		`external_mounts[3].host_path "/dev/../etc/shadow" is not a clean path`},
	{"host path missing", func(m *Metadata) { m.Externals[3].HostPath = "" }, `external_mounts[3].host_path "" is not an absolute path`},
	{"host path NUL", func(m *Metadata) { m.Externals[3].HostPath = "/dev/null\x00x" }, `external_mounts[3].host_path "/dev/null\x00x" holds a NUL`},
	{"dest relative", func(m *Metadata) { m.Externals[0].Dest = "data" }, `external_mounts[0].dest "data" is not an absolute path`},
	{"spec dest ..", func(m *Metadata) { m.Externals[1].SpecDest = "/conf/.." }, `external_mounts[1].spec_dest "/conf/.." is not a clean path`},
	{"bundle relative", func(m *Metadata) { m.Bundle = "bundles/ct1" }, `bundle "bundles/ct1" is not an absolute path`},
}

// Restore reads the image dir, which is root's input, and acts on the
// host paths in it: each one must be absolute and clean, or the metadata
// is refused with the field and value, and the checkpoint side refuses
// to write such metadata at all.
func TestMetadataPathsMustBeAbsoluteAndClean(t *testing.T) {
	if _, err := decodeMetadata(mustJSON(t, sampleMeta())); err != nil {
		t.Fatalf("sample metadata refused: %v", err)
	}
	for _, tc := range badPathCases {
		m := sampleMeta()
		tc.mutate(m)
		_, err := decodeMetadata(mustJSON(t, m))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: decode error %v, want %q", tc.name, err, tc.want)
		}
		if _, err := encodeMetadata(m); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: encode error %v, want %q", tc.name, err, tc.want)
		}
	}
}

// The whole restore refuses such a checkpoint before it creates
// anything: no state dir, no mount, no CRIU.
func TestRestoreRefusesBadMetadataPaths(t *testing.T) {
	for _, tc := range badPathCases[:4] {
		dir := t.TempDir()
		bundle := filepath.Join(dir, "bundle")
		must(t, os.MkdirAll(filepath.Join(bundle, "rootfs"), 0o755))
		must(t, os.WriteFile(filepath.Join(bundle, spec.ConfigFile), mustJSON(t, spec.Default()), 0o644))
		img := filepath.Join(dir, "img")
		must(t, os.Mkdir(img, 0o700))
		m := sampleMeta()
		m.Terminal = false
		tc.mutate(m)
		must(t, os.WriteFile(filepath.Join(img, metaFile), mustJSON(t, m), 0o600))
		root := filepath.Join(dir, "state")
		_, err := Restore(&lifecycle.Store{Root: root}, &RestoreOptions{
			Common: Common{ImagePath: img, CriuPath: "/nonexistent/criu"}, ID: "ct2", Bundle: bundle,
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), filepath.Join(img, metaFile)) {
			t.Errorf("%s: restore error %v, want %q in %s", tc.name, err, tc.want, filepath.Join(img, metaFile))
		}
		if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: restore created the state root", tc.name)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
