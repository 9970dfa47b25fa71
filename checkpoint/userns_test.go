package checkpoint

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// readableImages's view of an image dir: reachable only through a 0700
// dir, every image world-readable in it (hard links where the original
// is, read-only copies where it is not), the parent dump's images under
// parent/, and all of it gone after done, the image dir as it was.
func TestReadableImagesIsAPrivateWorldReadableView(t *testing.T) {
	tmp := t.TempDir()
	pre, img := filepath.Join(tmp, "pre"), filepath.Join(tmp, "img")
	for _, d := range []string{pre, img} {
		os.Mkdir(d, 0o700)
	}
	os.WriteFile(filepath.Join(pre, "pages-1.img"), []byte("old pages"), 0o644)
	os.WriteFile(filepath.Join(img, "core-1.img"), []byte("core"), 0o644)
	os.WriteFile(filepath.Join(img, "pages-1.img"), []byte("pages"), 0o600) // made under umask 077
	os.Chmod(filepath.Join(img, "pages-1.img"), 0o600)
	os.Symlink("../pre", filepath.Join(img, "parent"))

	dir, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	view, done, err := readableImages(dir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Dir(view.Name())
	if filepath.Dir(base) != img || !strings.HasPrefix(filepath.Base(base), usernsImagesPrefix) {
		t.Fatalf("view at %s, want %s/%s*/images", view.Name(), img, usernsImagesPrefix)
	}
	if fi, _ := os.Stat(base); fi.Mode().Perm() != 0o700 {
		t.Errorf("%s: mode %v, want 0700", base, fi.Mode().Perm())
	}
	for name, want := range map[string]string{"core-1.img": "core", "pages-1.img": "pages", "parent/pages-1.img": "old pages"} {
		p := filepath.Join(view.Name(), name)
		data, err := os.ReadFile(p)
		if err != nil || string(data) != want {
			t.Errorf("%s: %q, %v; want %q", name, data, err, want)
		}
		fi, _ := os.Stat(p)
		if fi.Mode().Perm()&0o004 == 0 {
			t.Errorf("%s: mode %v, not world-readable", name, fi.Mode().Perm())
		}
		if d, _ := os.Stat(filepath.Dir(p)); d.Mode().Perm() != 0o755 {
			t.Errorf("dir of %s: mode %v, want 0755", name, d.Mode().Perm())
		}
	}
	ino := func(p string) uint64 {
		fi, _ := os.Stat(p)
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	if ino(filepath.Join(view.Name(), "core-1.img")) != ino(filepath.Join(img, "core-1.img")) {
		t.Error("a world-readable image was copied, not linked")
	}
	if ino(filepath.Join(view.Name(), "pages-1.img")) == ino(filepath.Join(img, "pages-1.img")) {
		t.Error("a 0600 image was linked: the restored tasks could not read it")
	}
	if fi, _ := os.Stat(filepath.Join(view.Name(), "pages-1.img")); fi.Mode().Perm() != 0o444 {
		t.Errorf("the copy's mode is %v, want 0444 (read-only)", fi.Mode().Perm())
	}
	done()
	if _, err := os.Stat(base); !os.IsNotExist(err) {
		t.Errorf("%s left after done: %v", base, err)
	}
	ents, _ := os.ReadDir(img)
	if len(ents) != 3 {
		t.Errorf("image dir holds %d entries after done, want the 3 it had", len(ents))
	}
	if fi, _ := os.Stat(filepath.Join(img, "pages-1.img")); fi.Mode().Perm() != 0o600 {
		t.Errorf("the original image's mode changed to %v", fi.Mode().Perm())
	}
}
