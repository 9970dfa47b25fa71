package aufs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The parsers read what the kernel prints, which a hostile container
// shapes (its paths end up in mountinfo and branch names): any input must
// give a value or an error, never a panic, and what parses must be sane.

func FuzzParseOverlayOptions(f *testing.F) {
	for _, s := range []string{
		"rw,lowerdir=/l1:/l2,upperdir=/u,workdir=/w",
		`rw,lowerdir=/a\134\072b:/c,upperdir=/u\040x,workdir=/w,uuid=on`,
		"lowerdir=/a::/data,upperdir=/u,workdir=/w",
		"lowerdir+=/a,lowerdir+=/b,datadir+=/d",
		"", ",", "=", "lowerdir=", "lowerdir=:", `lowerdir=\`, `\777`, "upperdir=relative",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseOverlayOptions(s)
		if err != nil {
			return
		}
		for _, p := range append(append([]string{o.Upper, o.Work}, o.Lower...), o.Data...) {
			if strings.ContainsRune(p, 0) {
				t.Fatalf("NUL in parsed path %q from %q", p, s)
			}
		}
	})
}

func FuzzParseBranch(f *testing.F) {
	for _, s := range []string{"/a=rw\n", "/x=y=ro+wh", `/sp\040ace=rr`, "rel=rw", "=rw", "/a=", "", `/\1`, "/a\n=rw"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := parseBranch(s)
		if err != nil {
			return
		}
		if !filepath.IsAbs(l.Path) || l.Perm == "" || filepath.Clean(l.Path) != l.Path {
			t.Fatalf("parseBranch(%q) = %+v", s, l)
		}
	})
}

func FuzzParseBrOption(f *testing.F) {
	for _, s := range []string{"/a=rw:/b=ro+wh", "/c:o:lon=rw:/b=ro", ":", "=rw", "/a=rw:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ls, err := parseBrOption(s)
		if err != nil {
			return
		}
		for _, l := range ls {
			if !filepath.IsAbs(l.Path) {
				t.Fatalf("parseBrOption(%q) gave relative branch %q", s, l.Path)
			}
		}
	})
}

// FuzzDiscoverMountinfo feeds arbitrary mountinfo text to Discover through
// a fixture /proc: it must answer or fail, never panic.
func FuzzDiscoverMountinfo(f *testing.F) {
	f.Add("90 61 0:33 / / rw,relatime - aufs none rw,si=4476a910a24617e6\n")
	f.Add("199 61 0:39 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w\n")
	f.Add("1 0 0:1 / / rw - ext4 /dev/vda rw\n")
	f.Add("garbage\n\n\t")
	f.Fuzz(func(t *testing.T, mi string) {
		proc := t.TempDir()
		for _, p := range []string{"1", "self"} {
			os.MkdirAll(filepath.Join(proc, p), 0o755)
			os.WriteFile(filepath.Join(proc, p, "mountinfo"), []byte(mi), 0o644)
		}
		_, _ = Host{SysRoot: t.TempDir(), ProcRoot: proc}.Discover(1, "/")
	})
}
