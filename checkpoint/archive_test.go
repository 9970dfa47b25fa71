package checkpoint

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testArchive writes an archive of files (name -> content) with compress.
func testArchive(t testing.TB, compress string, files map[string]string) []byte {
	t.Helper()
	dir := t.TempDir()
	var list []archiveFile
	for _, name := range []string{"checkpoint/pages-1.img", "checkpoint/stasis.json", "spec.dump", "rootfs-diff.tar"} {
		content, ok := files[name]
		if !ok {
			continue
		}
		p := filepath.Join(dir, strings.ReplaceAll(name, "/", "_"))
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		list = append(list, archiveFile{name, p})
	}
	var buf bytes.Buffer
	if err := writeArchive(&buf, compress, &Manifest{CreatedBy: "test", Created: time.Unix(1, 0)}, list); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var sampleFiles = map[string]string{
	"checkpoint/pages-1.img": strings.Repeat("page", 5000),
	"checkpoint/stasis.json": `{"id":"x"}`,
	"spec.dump":              `{"ociVersion":"1.0.0"}`,
	"rootfs-diff.tar":        "",
}

// Every compression round-trips, and unpacking gives back each member
// under its name with its content.
func TestArchiveRoundTrip(t *testing.T) {
	for _, c := range []string{"zstd", "gzip", "none", ""} {
		data := testArchive(t, c, sampleFiles)
		dir := t.TempDir()
		m, comp, err := unpackArchive(bytes.NewReader(data), dir)
		if err != nil {
			t.Fatalf("%q: %v", c, err)
		}
		if want := map[string]string{"": "zstd"}[c]; comp != c && comp != want {
			t.Errorf("%q: detected %q", c, comp)
		}
		if len(m.Members) != len(sampleFiles) {
			t.Errorf("%q: %d members, want %d", c, len(m.Members), len(sampleFiles))
		}
		for name, content := range sampleFiles {
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil || string(got) != content {
				t.Errorf("%q: %s = %q, %v", c, name, got, err)
			}
		}
	}
}

// untar splits an uncompressed archive into its members, to rebuild a
// hostile one from.
type rawMember struct {
	hdr  tar.Header
	body []byte
}

func untarRaw(t *testing.T, data []byte) []rawMember {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	var out []rawMember
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(tr)
		out = append(out, rawMember{*h, b.Bytes()})
	}
	return out
}

func tarRaw(t *testing.T, ms []rawMember) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range ms {
		h := m.hdr
		h.Size = int64(len(m.body))
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			_, _ = tw.Write(m.body)
		}
	}
	_ = tw.Close()
	return buf.Bytes()
}

// withManifest rewrites the manifest (member 0) to list ms's files.
func withManifest(t *testing.T, ms []rawMember) []rawMember {
	man := &Manifest{Version: manifestVersion}
	for _, m := range ms[1:] {
		if m.hdr.Typeflag == tar.TypeReg {
			sum := sha256.Sum256(m.body)
			man.Members = append(man.Members, Member{Name: m.hdr.Name, Size: int64(len(m.body)), SHA256: hex.EncodeToString(sum[:])})
		}
	}
	data, _ := json.Marshal(man)
	ms[0].body = data
	return ms
}

func wantRefused(t *testing.T, data []byte, mention string) {
	t.Helper()
	_, _, err := unpackArchive(bytes.NewReader(data), t.TempDir())
	if err == nil {
		t.Fatalf("archive accepted, want it refused mentioning %q", mention)
	}
	if !errors.Is(err, ErrBadArchive) {
		t.Errorf("error %v does not wrap ErrBadArchive", err)
	}
	if !strings.Contains(err.Error(), mention) {
		t.Errorf("error %q does not mention %q", err, mention)
	}
}

// A member whose content differs from its digest is refused, naming it.
func TestArchiveTamperedMember(t *testing.T) {
	ms := untarRaw(t, testArchive(t, "none", sampleFiles))
	for i := range ms {
		if ms[i].hdr.Name == "spec.dump" {
			ms[i].body = bytes.Replace(ms[i].body, []byte("1.0.0"), []byte("6.6.6"), 1)
		}
	}
	wantRefused(t, tarRaw(t, ms), `member "spec.dump": sha256`)
}

// A stream cut anywhere is refused, and one cut inside a member names it.
func TestArchiveTruncated(t *testing.T) {
	for _, c := range []string{"none", "zstd", "gzip"} {
		data := testArchive(t, c, sampleFiles)
		for _, n := range []int{0, 10, len(data) / 3, len(data) / 2, len(data) * 3 / 4, len(data) - 1} {
			if c == "none" && n > len(data)-1024 {
				continue // only the tar's end-of-archive blocks are cut
			}
			_, _, err := unpackArchive(bytes.NewReader(data[:n]), t.TempDir())
			if err == nil {
				t.Errorf("%s cut at %d of %d: accepted", c, n, len(data))
			}
		}
	}
	// Cut in the middle of the large member.
	data := testArchive(t, "none", sampleFiles)
	i := bytes.Index(data, []byte("pagepage"))
	wantRefused(t, data[:i+100], `truncated in member "checkpoint/pages-1.img"`)
}

// Hostile archives: each is refused before anything lands outside dir.
func TestArchiveHostileMembers(t *testing.T) {
	base := func() []rawMember { return untarRaw(t, testArchive(t, "none", sampleFiles)) }
	reg := func(name, body string) rawMember {
		return rawMember{tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o600}, []byte(body)}
	}
	for _, tc := range []struct {
		name    string
		edit    func([]rawMember) []rawMember
		mention string
	}{
		{"absolute path", func(ms []rawMember) []rawMember {
			return withManifest(t, append(ms, reg("/etc/evil", "x")))
		}, "absolute path"},
		{"dot dot", func(ms []rawMember) []rawMember {
			return withManifest(t, append(ms, reg("checkpoint/../../evil", "x")))
		}, "not a clean path"},
		{"dot dot clean", func(ms []rawMember) []rawMember {
			return withManifest(t, append(ms, reg("../evil", "x")))
		}, `holds ".."`},
		{"subdirectory", func(ms []rawMember) []rawMember {
			return withManifest(t, append(ms, reg("a/b", "x")))
		}, "only checkpoint/ may hold files"},
		{"symlink", func(ms []rawMember) []rawMember {
			return append(ms, rawMember{tar.Header{Name: "checkpoint/link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}, nil})
		}, "not a regular file"},
		{"device", func(ms []rawMember) []rawMember {
			return append(ms, rawMember{tar.Header{Name: "dev", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 1}, nil})
		}, "not a regular file"},
		{"duplicate", func(ms []rawMember) []rawMember {
			return append(ms, ms[len(ms)-1])
		}, "appears twice"},
		{"duplicate in manifest", func(ms []rawMember) []rawMember {
			ms = withManifest(t, ms)
			man := &Manifest{}
			_ = json.Unmarshal(ms[0].body, man)
			man.Members = append(man.Members, man.Members[0])
			ms[0].body, _ = json.Marshal(man)
			return ms
		}, "twice"},
		{"not in manifest", func(ms []rawMember) []rawMember {
			return append(ms, reg("extra", "x"))
		}, `member "extra" is not in the manifest`},
		{"missing member", func(ms []rawMember) []rawMember {
			return ms[:len(ms)-1]
		}, "is missing"},
		{"no manifest first", func(ms []rawMember) []rawMember {
			return ms[1:]
		}, "not " + manifestName},
		{"second manifest", func(ms []rawMember) []rawMember {
			return append(ms, ms[0])
		}, "a second manifest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantRefused(t, tarRaw(t, tc.edit(base())), tc.mention)
		})
	}
}

// FuzzUnpackArchive: no input makes the reader panic or write outside
// its dir.
func FuzzUnpackArchive(f *testing.F) {
	f.Add(testArchive(f, "none", sampleFiles))
	f.Add(testArchive(f, "zstd", sampleFiles))
	f.Add(testArchive(f, "gzip", sampleFiles))
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "d")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		_, _, _ = unpackArchive(bytes.NewReader(data), dir)
		ents, _ := os.ReadDir(parent)
		if len(ents) != 1 {
			t.Fatalf("unpack wrote beside its dir: %v", ents)
		}
	})
}
