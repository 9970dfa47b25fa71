package checkpoint

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// A tampered stasis.json must not make restore write outside the new
// tmpfs, nor make anything but metadata.
func TestTreeCheckRefusesEscapes(t *testing.T) {
	root := TreeEntry{Path: ".", Mode: unix.S_IFDIR | 0o755}
	dir := func(p string) TreeEntry { return TreeEntry{Path: p, Mode: unix.S_IFDIR | 0o755} }
	link := func(p string) TreeEntry { return TreeEntry{Path: p, Mode: unix.S_IFLNK | 0o777, Target: "/etc"} }
	for name, entries := range map[string][]TreeEntry{
		"no root":             {dir("a")},
		"dot-dot":             {root, dir("../x")},
		"absolute":            {root, dir("/x")},
		"unclean":             {root, dir("a/")},
		"parent not listed":   {root, dir("a/b")},
		"through a symlink":   {root, link("l"), dir("l/x")},
		"child before parent": {root, dir("a/b"), dir("a")},
		"regular file":        {root, {Path: "f", Mode: unix.S_IFREG | 0o644}},
		"fifo":                {root, {Path: "p", Mode: unix.S_IFIFO | 0o644}},
	} {
		if err := (&Tree{Entries: entries}).check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	ok := &Tree{Options: "rw,size=65536k,mode=755", Entries: []TreeEntry{root, dir("a"), link("a/l"),
		{Path: "a/null", Mode: unix.S_IFCHR | 0o666, Rdev: unix.Mkdev(1, 3)}}}
	if err := ok.check(); err != nil {
		t.Errorf("a valid tree: %v", err)
	}
}

// scanTree takes directories and symlinks; a regular file or a fifo
// means the tree is left to CRIU (nil).
func TestScanTree(t *testing.T) {
	d := t.TempDir()
	os.Mkdir(filepath.Join(d, "sub"), 0o750)
	os.Symlink("/proc/self/fd", filepath.Join(d, "sub", "fd"))
	got, err := scanTree(d + "/")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Path != "." || got[1].Path != "sub" || got[1].Mode != unix.S_IFDIR|0o750 ||
		got[2].Path != "sub/fd" || got[2].Target != "/proc/self/fd" {
		t.Fatalf("scanTree = %+v", got)
	}
	if err := (&Tree{Entries: got}).check(); err != nil {
		t.Errorf("a scanned tree fails check: %v", err)
	}
	for _, mk := range []func(string) error{
		func(p string) error { return os.WriteFile(p, nil, 0o644) },
		func(p string) error { return unix.Mkfifo(p, 0o644) },
	} {
		p := filepath.Join(d, "sub", "x")
		if err := mk(p); err != nil {
			t.Fatal(err)
		}
		if got, err := scanTree(d + "/"); err != nil || got != nil {
			t.Errorf("with %s: scanTree = %+v, %v; want nil", p, got, err)
		}
		os.Remove(p)
	}
}
