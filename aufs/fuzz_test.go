package aufs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzRoundTrip: for any name created in any layer, the union finds it
// and ToContainer(ToHost(p)) == p; and whatever path is asked, ToHost never
// answers outside a layer. The seed corpus runs in every `go test`.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{"a", "a/b/c", "sp ace/t\tab", "nl\nx/y", `back\slash`, "co:lon,comma=eq",
		"../../etc/passwd", "a/../../b", "./x/./y/", "//double//slash", " (deleted)", "x (deleted)/y",
		"é/ü", ".hidden", "..dots", "...", strings.Repeat("z", 200)} {
		f.Add(s, uint8(0), false)
		f.Add(s, uint8(2), true)
	}
	f.Fuzz(func(t *testing.T, name string, layer uint8, overlay bool) {
		if strings.ContainsRune(name, 0) || len(name) > 1000 {
			t.Skip()
		}
		dir := t.TempDir()
		// Sibling layers whose names are prefixes of each other.
		u := &Union{Kind: AUFS, Root: "/", Layers: []Layer{
			{filepath.Join(dir, "1"), "rw"}, {filepath.Join(dir, "10"), "ro+wh"}, {filepath.Join(dir, "1 0"), "ro+wh"}}}
		if overlay {
			u = &Union{Kind: Overlay, Root: "/", Layers: []Layer{
				{filepath.Join(dir, "1"), PermUpper}, {filepath.Join(dir, "10"), PermLower}, {filepath.Join(dir, "1 0"), PermLower}}}
		}
		for _, l := range u.Layers {
			must(t, os.MkdirAll(l.Path, 0o755))
		}
		cp := filepath.Clean("/" + name)

		// Whatever is asked, the answer stays inside the layer.
		if l, hp, ok := u.ToHost("/" + name); ok {
			if _, in := within(hp, l.Path); !in {
				t.Fatalf("ToHost(%q) = %q, outside layer %q", name, hp, l.Path)
			}
		}

		if cp == "/" || (!overlay && hasWhiteoutName(cp)) {
			return
		}
		l := u.Layers[int(layer)%len(u.Layers)]
		hp := filepath.Join(l.Path, cp)
		if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
			t.Skip() // a component too long for the filesystem
		}
		if err := os.WriteFile(hp, nil, 0o644); err != nil {
			t.Skip()
		}
		gl, ghp, ok := u.ToHost(cp)
		if !ok || gl != l || ghp != hp {
			t.Fatalf("ToHost(%q) = %v %q %v; want %v %q", cp, gl, ghp, ok, l, hp)
		}
		back, ok := u.ToContainer(ghp)
		if !ok || back != cp {
			t.Fatalf("ToContainer(%q) = %q %v; want %q", ghp, back, ok, cp)
		}
		back, del, ok := u.ToContainerLink(ghp + DeletedSuffix)
		if !ok || back != cp || !del {
			t.Fatalf("ToContainerLink(%q deleted) = %q %v %v", ghp, back, del, ok)
		}
	})
}
