package checkpoint

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/stasis-oci/stasis/aufs"
)

// FuzzFirstError: the line stasis puts in front of a failed checkpoint's
// error is taken out of CRIU's log, which the container's own file names
// and socket paths end up in. Whatever the log holds, firstError returns
// only text that is in it (part of one line, starting "Error ("), and it
// returns the first line that reports an error, harmless ones skipped,
// however long the lines before it are.
func FuzzFirstError(f *testing.F) {
	f.Add(sampleDumpLog)
	f.Add("(0.1) Info all fine\n")
	f.Add("")
	f.Add("Error (")
	f.Add("\n\n\r\nError (x): a\r\nError (y): b")
	f.Add("(00.1) Error (criu/util.c:1533): rlimit: Can't setup RLIMIT_NOFILE for self\n(00.2) Error (criu/mnt.c:1): mnt: x\n")
	f.Add("  Error (   \t\n")
	// A line longer than any buffer before the one that matters.
	f.Add(strings.Repeat("x", 1100*1024) + "\n(00.2) Error (criu/files-reg.c:1): Can't lookup mount=52\n")
	f.Fuzz(func(t *testing.T, log string) {
		got := firstError([]byte(log))
		lines := strings.Split(log, "\n")
		want := -1
		for i, l := range lines {
			if strings.Contains(l, "Error (") && !harmless(l) {
				want = i
				break
			}
		}
		if want < 0 {
			if got != "" {
				t.Fatalf("firstError = %q from a log with no error line", got)
			}
			return
		}
		if !strings.HasPrefix(got, "Error (") || !strings.Contains(lines[want], got) {
			t.Fatalf("firstError = %q, want the error of line %d %q", got, want, lines[want])
		}
		_ = hintFor(got)
	})
}

// sampleMeta is metadata as a checkpoint of an overlay container with a
// bind mount, a cgroup mount and a host device records it.
func sampleMeta() *Metadata {
	return &Metadata{
		ID: "ct1", StasisVersion: "0.1.0-dev", CriuVersion: 40101, Kernel: "6.18.0", Arch: "amd64",
		CgroupMode: "hybrid", ConfigDigest: "sha256:00", Bundle: "/run/bundles/ct1",
		Descriptors: []string{"/dev/null", "pipe:[1146009]", "file[1f:2a]"},
		Externals: []External{
			{Dest: "/data", Kind: "bind"},
			{Dest: "/real/conf", SpecDest: "/conf", Kind: "bind"},
			{Dest: "/sys/fs/cgroup/memory", Kind: "cgroup", Controller: "memory"},
			{Dest: "/dev/null", Kind: "host", HostPath: "/dev/null"},
		},
		Terminal: true, LoopbackOnlyNet: true,
		Union: &aufs.Union{
			Kind: aufs.Overlay, MountID: 199, Dev: "0:39", Root: "/", Mountpoint: "/var/lib/docker/overlay2/x/merged",
			Layers: []aufs.Layer{{Path: "/var/lib/docker/overlay2/x/diff", Perm: aufs.PermUpper}, {Path: "/l 1", Perm: aufs.PermLower}},
			Upper:  "/var/lib/docker/overlay2/x/diff", Work: "/var/lib/docker/overlay2/x/work", Options: []string{"index=off"},
		},
	}
}

// FuzzDecodeMetadata: stasis.json is read back at restore from an image
// dir anyone with root may have written. Any bytes must decode or fail,
// never panic; what decodes encodes, and decoding that gives the same
// metadata again (the encoding is a fixed point after one round).
func FuzzDecodeMetadata(f *testing.F) {
	sample, err := encodeMetadata(sampleMeta())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sample)
	for _, s := range []string{
		"", "{}", "null", "[]", `{"union":null}`, `{"union":{"kind":"bogus"}}`, `{"union":{"kind":3}}`,
		`{"union":{"kind":"aufs","layers":[{"path":"rel","perm":"rw"}]}}`,
		`{"external_mounts":[{"dest":"x","kind":"host","host_path":"/dev/../etc"}]}`,
		`{"descriptors":["\u0000"],"bundle":"/b\ud800"}`, `{"id":1}`, `{} {}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeMetadata(data)
		if err != nil {
			return
		}
		enc, err := encodeMetadata(m)
		if err != nil {
			t.Fatalf("decoded metadata does not encode: %v\n%s", err, data)
		}
		m2, err := decodeMetadata(enc)
		if err != nil {
			t.Fatalf("encoded metadata does not decode: %v\n%s", err, enc)
		}
		enc2, err := encodeMetadata(m2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("metadata changes in a round trip:\n%s\n%s (%v)", enc, enc2, err)
		}
	})
}

// FuzzMetadataRoundTrip: whatever paths a checkpoint records, the
// stasis.json it writes reads back as the same metadata, or the
// checkpoint refuses to write it, naming the field; it never writes a
// file that restores as something else.
func FuzzMetadataRoundTrip(f *testing.F) {
	f.Add("/b", "/data", "", "/dev/null", "/l1", "/u", 1, true)
	f.Add("/sp ace", "/real/conf", "/conf", "/dev/pts/ptmx", "/a:b,c=d\\e", "", 2, false)
	f.Add("", "/x", "/y", "", "/\xff", "/u\x00", 0, true)
	f.Add("rel", "../x", "/y/", "/dev/../etc/shadow", "/l/./1", "//u", 1, false)
	f.Fuzz(func(t *testing.T, bundle, dest, specDest, hostPath, layer, upper string, kind int, terminal bool) {
		m := sampleMeta()
		m.Bundle, m.Terminal = bundle, terminal
		m.Externals = []External{{Dest: dest, SpecDest: specDest, Kind: "host", HostPath: hostPath}}
		m.Union.Kind = aufs.Kind(uint(kind) % 3)
		m.Union.Layers = []aufs.Layer{{Path: layer, Perm: aufs.PermLower}}
		m.Union.Upper = upper
		dir := t.TempDir()
		if err := writeMetadata(dir, m); err != nil {
			for _, p := range m.paths() {
				if strings.Contains(err.Error(), p.field+" ") {
					return
				}
			}
			t.Fatalf("refusal does not name the field: %v", err)
		}
		back, err := readMetadata(dir)
		if err != nil {
			t.Fatalf("metadata written does not read back: %v", err)
		}
		if !reflect.DeepEqual(back, m) {
			t.Fatalf("metadata round trip:\n got %#v %#v\nwant %#v %#v", back, back.Union, m, m.Union)
		}
	})
}
