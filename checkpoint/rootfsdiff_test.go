package checkpoint

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/aufs"
)

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func tarNames(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	slices.Sort(names)
	return names
}

// A plain rootfs's diff is what changed after the create time: all of
// it for a time before the files were written, nothing for one after.
func TestRootfsDiffPlainScan(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"etc/conf": "a", "data/x": "b"})
	for _, tc := range []struct {
		since time.Time
		want  []string
	}{
		{time.Unix(0, 0), []string{"data/", "data/x", "etc/", "etc/conf"}},
		{time.Now().Add(time.Hour), nil},
	} {
		out := filepath.Join(t.TempDir(), "diff.tar")
		sum, err := writeRootfsDiff(root, nil, tc.since, out)
		if err != nil {
			t.Fatal(err)
		}
		if got := tarNames(t, out); !slices.Equal(got, tc.want) {
			t.Errorf("since %v: diff holds %q, want %q", tc.since, got, tc.want)
		}
		if len(sum.Deleted) != 0 || !strings.Contains(sum.How, "ctime") {
			t.Errorf("summary %+v", sum)
		}
	}
}

// An overlay's diff is its upper dir: whiteouts become deleted.files,
// an opaque directory is deleted and then unpacked again.
func TestRootfsDiffOverlayUpper(t *testing.T) {
	upper := t.TempDir()
	writeFiles(t, upper, map[string]string{"new": "n", "opq/inside": "i"})
	if err := unix.Mknod(filepath.Join(upper, "gone"), unix.S_IFCHR, 0); err != nil {
		t.Skipf("mknod a whiteout: %v", err)
	}
	if err := unix.Setxattr(filepath.Join(upper, "opq"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		t.Skipf("set trusted.overlay.opaque: %v", err)
	}
	u := &aufs.Union{Kind: aufs.Overlay, Upper: upper}
	out := filepath.Join(t.TempDir(), "diff.tar")
	sum, err := writeRootfsDiff("/nonexistent", u, time.Now().Add(time.Hour), out)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tarNames(t, out), []string{"new", "opq/", "opq/inside"}; !slices.Equal(got, want) {
		t.Errorf("diff holds %q, want %q", got, want)
	}
	slices.Sort(sum.Deleted)
	if want := []string{"/gone", "/opq"}; !slices.Equal(sum.Deleted, want) {
		t.Errorf("deleted %q, want %q", sum.Deleted, want)
	}
}

// A diff applied onto a fresh copy: deletions first, then the files,
// with their modes and symlinks as they were.
func TestApplyRootfsDiff(t *testing.T) {
	src := t.TempDir()
	writeFiles(t, src, map[string]string{"etc/new": "new", "opq/inside": "i"})
	if err := os.Symlink("/etc/new", filepath.Join(src, "etc/link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(src, "etc/new"), 0o751|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(src, "etc/new"), filepath.Join(src, "hard")); err != nil {
		t.Fatal(err)
	}
	diff := filepath.Join(t.TempDir(), "diff.tar")
	if _, err := writeRootfsDiff(src, nil, time.Unix(0, 0), diff); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	writeFiles(t, dst, map[string]string{"etc/old": "old", "removed": "r", "opq/lower": "l"})
	if err := applyRootfsDiff(dst, diff, []string{"/removed", "/opq"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "etc/new")); string(b) != "new" {
		t.Errorf("etc/new = %q", b)
	}
	if st, err := os.Stat(filepath.Join(dst, "etc/new")); err != nil || st.Mode()&(os.ModePerm|os.ModeSetuid) != 0o751|os.ModeSetuid {
		t.Errorf("etc/new mode: %v %v", st.Mode(), err)
	}
	if l, err := os.Readlink(filepath.Join(dst, "etc/link")); l != "/etc/new" {
		t.Errorf("etc/link -> %q, %v", l, err)
	}
	var a, b unix.Stat_t
	if unix.Stat(filepath.Join(dst, "etc/new"), &a) != nil || unix.Stat(filepath.Join(dst, "hard"), &b) != nil || a.Ino != b.Ino {
		t.Errorf("hard link not kept")
	}
	for _, gone := range []string{"removed", "opq/lower"} {
		if _, err := os.Lstat(filepath.Join(dst, gone)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there: %v", gone, err)
		}
	}
	for _, kept := range []string{"etc/old", "opq/inside"} {
		if _, err := os.Lstat(filepath.Join(dst, kept)); err != nil {
			t.Errorf("%s: %v", kept, err)
		}
	}
}

type diffEntry struct {
	h    tar.Header
	body string
}

func diffTar(t *testing.T, entries []diffEntry) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.h
		h.Size = int64(len(e.body))
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(e.body))
	}
	_ = tw.Close()
	p := filepath.Join(t.TempDir(), "diff.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Hostile rootfs diffs: each is refused, naming the member, and nothing
// is written outside the rootfs.
func TestApplyRootfsDiffHostile(t *testing.T) {
	file := func(name string) diffEntry { return diffEntry{tar.Header{Name: name, Typeflag: tar.TypeReg}, "evil"} }
	for _, tc := range []struct {
		name    string
		entries []diffEntry
		deleted []string
		mention string
	}{
		{"absolute path", []diffEntry{file("/outside/evil")}, nil, `"/outside/evil": absolute path`},
		{"dot dot", []diffEntry{file("../outside/evil")}, nil, `"../outside/evil": path holds ".."`},
		{"symlink escaping, relative", []diffEntry{
			{tar.Header{Name: "esc", Typeflag: tar.TypeSymlink, Linkname: "../outside"}, ""},
			file("esc/evil"),
		}, nil, `"esc/evil"`},
		{"symlink escaping, absolute", []diffEntry{
			{tar.Header{Name: "esc", Typeflag: tar.TypeSymlink, Linkname: "OUTSIDE"}, ""},
			file("esc/evil"),
		}, nil, `"esc/evil"`},
		{"hard link out", []diffEntry{
			{tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "../outside/secret"}, ""},
		}, nil, `"h": ` + ErrBadArchive.Error() + `: hard link`},
		{"device node", []diffEntry{
			{tar.Header{Name: "dev/sda", Typeflag: tar.TypeBlock, Devmajor: 8}, ""},
		}, nil, `"dev/sda": ` + ErrBadArchive.Error() + `: a device node`},
		{"duplicate", []diffEntry{file("a"), file("a")}, nil, `"a" appears twice`},
		{"deleted dot dot", nil, []string{"/../outside/secret"}, `deleted.files entry "/../outside/secret"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top := t.TempDir()
			outside := filepath.Join(top, "outside")
			writeFiles(t, outside, map[string]string{"secret": "s"})
			rootfs := filepath.Join(top, "rootfs")
			if err := os.Mkdir(rootfs, 0o755); err != nil {
				t.Fatal(err)
			}
			for i := range tc.entries {
				if tc.entries[i].h.Linkname == "OUTSIDE" {
					tc.entries[i].h.Linkname = outside
				}
			}
			err := applyRootfsDiff(rootfs, diffTar(t, tc.entries), tc.deleted)
			if err == nil {
				t.Fatalf("applied, want refused mentioning %q", tc.mention)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %q", err, tc.mention)
			}
			ents, _ := os.ReadDir(outside)
			if len(ents) != 1 {
				t.Errorf("outside the rootfs now holds %v", ents)
			}
			if b, _ := os.ReadFile(filepath.Join(outside, "secret")); string(b) != "s" {
				t.Errorf("outside/secret = %q", b)
			}
		})
	}
}
