package aufs

import (
	"os"
	"path/filepath"
	"regexp"
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

// FuzzBranchRoundTrip: any host path AUFS can have as a branch, written
// the way its sysfs brN file shows it (seq_path escapes) with any AUFS
// permission, parses back to that path (cleaned) and permission.
func FuzzBranchRoundTrip(f *testing.F) {
	for _, s := range []string{"/a", "/sp ace/t\tab", "/nl\nx", `/back\slash`, "/a=b=c", "/\x7f\x01", "/trailing/", "//dbl//", "/é"} {
		f.Add(s, "rw")
		f.Add(s, "ro+wh")
	}
	f.Add("/x", "rw+nolwh")
	f.Fuzz(func(t *testing.T, path, perm string) {
		if !filepath.IsAbs(path) || strings.ContainsRune(path, 0) || !wholePermRE.MatchString(perm) {
			t.Skip()
		}
		l, err := parseBranch(seqPathEscape(path) + "=" + perm + "\n")
		if err != nil {
			t.Fatalf("parseBranch of branch %q perm %q: %v", path, perm, err)
		}
		if want := (Layer{Path: filepath.Clean(path), Perm: perm}); l != want {
			t.Fatalf("branch %q perm %q parsed as %+v", path, perm, l)
		}
	})
}

var wholePermRE = regexp.MustCompile(`^(rw|ro|rr)(\+[a-z]+)*$`)

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
	// Never printed by a kernel: a relative mountpoint, a root with "..".
	f.Add("200 61 0:39 / rel rw - overlay overlay rw,lowerdir=/l\n199 61 0:39 / / rw - overlay overlay rw,lowerdir=/l\n")
	f.Add("199 61 0:39 /../x/ / rw - overlay overlay rw,lowerdir=/l,upperdir=/u/../v,workdir=/w/\n")
	f.Fuzz(func(t *testing.T, mi string) {
		proc := t.TempDir()
		for _, p := range []string{"1", "self"} {
			os.MkdirAll(filepath.Join(proc, p), 0o755)
			os.WriteFile(filepath.Join(proc, p, "mountinfo"), []byte(mi), 0o644)
		}
		u, err := Host{SysRoot: t.TempDir(), ProcRoot: proc}.Discover(1, "/")
		if err != nil {
			return
		}
		checkUnionPaths(t, u)
	})
}

// FuzzDiscoverAUFS feeds arbitrary AUFS sysfs branch files (br0, br1;
// an empty string leaves the file out) and "br:" mount option to
// Discover: it must answer or fail, and what it answers is a union whose
// every layer is a clean absolute path with a permission, br0 first.
func FuzzDiscoverAUFS(f *testing.F) {
	f.Add("/a=rw\n", "/b=ro+wh\n", "")
	f.Add(`/x\040y\012z\134w=rr`+"\n", "", "")
	f.Add("", "", "/a=rw:/d=ro+wh:/e=rr")
	f.Add("", "/orphan=ro\n", "/c:o:lon=rw")
	f.Add("relative=rw\n", "", "/fallback=rw")
	f.Add("/a=b=c/d=rw+nolwh\n", "/trailing/slash/=ro+wh\n", "")
	f.Add("=rw", "/\n", ":")
	f.Fuzz(func(t *testing.T, br0, br1, brOpt string) {
		dir := t.TempDir()
		h := Host{SysRoot: filepath.Join(dir, "sys"), ProcRoot: filepath.Join(dir, "proc")}
		si := filepath.Join(h.SysRoot, "fs/aufs/si_1")
		must(t, os.MkdirAll(si, 0o755))
		for name, content := range map[string]string{"br0": br0, "br1": br1} {
			if content != "" {
				writeFile(t, filepath.Join(si, name), content)
			}
		}
		opts := "rw,si=1"
		if brOpt != "" {
			opts += ",br:" + mountinfoEscape(brOpt)
		}
		mi := "90 61 0:33 / / rw,relatime - aufs none " + opts + "\n"
		writeFile(t, filepath.Join(h.ProcRoot, "1/mountinfo"), mi)
		writeFile(t, filepath.Join(h.ProcRoot, "self/mountinfo"), mi)
		u, err := h.Discover(1, "")
		if err != nil {
			return
		}
		if u.Kind != AUFS || len(u.Layers) == 0 {
			t.Fatalf("Discover = %+v, want AUFS layers", u)
		}
		checkUnionPaths(t, u)
		if l, err := parseBranch(br0); err == nil && u.Layers[0] != l {
			t.Fatalf("br0 %q parses as %+v but the union's top layer is %+v", br0, l, u.Layers[0])
		}
	})
}

// checkUnionPaths: what Discover answers is what a checkpoint records and
// a restore mounts again, so every path in it must be absolute and clean
// (restore refuses metadata where one is not).
func checkUnionPaths(t *testing.T, u *Union) {
	t.Helper()
	clean := func(what, p string) {
		if p != "" && (!filepath.IsAbs(p) || filepath.Clean(p) != p) {
			t.Fatalf("Discover gave %s %q, not a clean absolute path: %+v", what, p, u)
		}
	}
	clean("root", u.Root)
	clean("mountpoint", u.Mountpoint)
	clean("upper", u.Upper)
	clean("work", u.Work)
	for i, l := range u.Layers {
		if l.Path == "" || l.Perm == "" {
			t.Fatalf("Discover gave layer %d %+v", i, l)
		}
		clean("layer", l.Path)
	}
}
