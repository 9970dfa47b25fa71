package aufs

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

const testSI = "4476a910a24617e6"

// aufsFixture builds a fake /sys and /proc for an AUFS container (pid 42)
// and three branch trees with whiteouts. Branch paths are hostile: a
// space and '=' in the shared parent, a prefix clash (1 vs 10), a newline,
// a tab and a backslash.
type aufsFixture struct {
	host             Host
	br0, br1, br2    string
	mnt, parent, dir string
}

func newAUFSFixture(t *testing.T) aufsFixture {
	dir := t.TempDir()
	f := aufsFixture{dir: dir, parent: filepath.Join(dir, "aufs diff=x")}
	f.br0 = filepath.Join(f.parent, "1")
	f.br1 = filepath.Join(f.parent, "10")
	f.br2 = filepath.Join(dir, "base\nnl\ttab\\bs")
	f.mnt = filepath.Join(dir, "mnt point")
	must(t, os.MkdirAll(f.mnt, 0o755))
	f.host = Host{SysRoot: filepath.Join(dir, "sys"), ProcRoot: filepath.Join(dir, "proc")}

	si := filepath.Join(f.host.SysRoot, "fs/aufs/si_"+testSI)
	writeFile(t, filepath.Join(si, "br0"), seqPathEscape(f.br0)+"=rw\n")
	writeFile(t, filepath.Join(si, "br1"), seqPathEscape(f.br1)+"=ro+wh\n")
	writeFile(t, filepath.Join(si, "br2"), seqPathEscape(f.br2)+"=ro\n")
	writeFile(t, filepath.Join(si, "br4"), "/not/reached=ro\n") // after a gap
	writeFile(t, filepath.Join(si, "brid0"), "64\n")
	writeFile(t, filepath.Join(si, "xi_path"), "/dev/shm/.aufs.xino\n")

	writeFile(t, filepath.Join(f.host.ProcRoot, "42/mountinfo"),
		"90 61 0:33 / / rw,relatime - aufs none rw,si="+testSI+"\n"+
			"91 90 0:34 / /proc rw,nosuid - proc proc rw\n"+
			"92 90 254:1 /var/lib/docker/containers/abc/hosts /etc/hosts rw - ext4 /dev/vda rw\n")
	writeFile(t, filepath.Join(f.host.ProcRoot, "self/mountinfo"),
		"25 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"+
			"150 25 0:33 / "+mountinfoEscape(f.mnt)+" rw,relatime shared:80 - aufs none rw,si="+testSI+"\n"+
			"151 25 0:35 / /other rw - aufs none rw,si=deadbeef\n")

	tree(t, f.br2, "etc/passwd", "etc/hosts", "bin/busybox", "opt/old/a", "opt/old/b",
		"var/x/", "hidden", "lower only/with space")
	tree(t, f.br1, "etc/passwd", ".wh.hidden", "opt/old/"+whOpaque, "opt/old/c",
		"plainro/", ".wh..wh.plnk/")
	tree(t, f.br0, "etc/hosts", "bin/.wh.busybox", "new", "dir/", "file-over-dir",
		".wh..wh.aufs")
	tree(t, f.br2, "file-over-dir/sub") // a directory below a file: hidden
	return f
}

func TestDiscoverAUFS(t *testing.T) {
	f := newAUFSFixture(t)
	u, err := f.host.Discover(42, "")
	must(t, err)
	want := &Union{
		Kind: AUFS, MountID: 90, Dev: "0:33", Root: "/", Mountpoint: f.mnt, SI: testSI,
		Layers: []Layer{{f.br0, "rw"}, {f.br1, "ro+wh"}, {f.br2, "ro"}},
	}
	if !reflect.DeepEqual(u, want) {
		t.Fatalf("Discover:\n got %+v\nwant %+v", u, want)
	}
	// The metadata round trip the lead relies on.
	b, err := json.Marshal(u)
	must(t, err)
	var back Union
	must(t, json.Unmarshal(b, &back))
	if !reflect.DeepEqual(&back, want) {
		t.Fatalf("JSON round trip: %s -> %+v", b, back)
	}
}

func TestDiscoverAUFSBrOptionFallback(t *testing.T) {
	f := newAUFSFixture(t)
	must(t, os.RemoveAll(filepath.Join(f.host.SysRoot, "fs/aufs/si_"+testSI)))
	writeFile(t, filepath.Join(f.host.ProcRoot, "42/mountinfo"),
		"90 61 0:33 / / rw,relatime - aufs none rw,si="+testSI+",br:"+
			seqPathEscape("/a:b=c/x")+"=rw:/d=ro+wh:/e=rr\n")
	u, err := f.host.Discover(42, "")
	must(t, err)
	want := []Layer{{"/a:b=c/x", "rw"}, {"/d", "ro+wh"}, {"/e", "rr"}}
	if !reflect.DeepEqual(u.Layers, want) {
		t.Fatalf("layers %q, want %q", u.Layers, want)
	}
}

func TestAUFSToHost(t *testing.T) {
	f := newAUFSFixture(t)
	u, err := f.host.Discover(42, "")
	must(t, err)
	cases := []struct {
		path  string
		layer string // "" = not found
		rel   string // path under the layer; defaults to path
	}{
		{"/", f.br0, "/"},
		{"/etc", f.br0, ""},
		{"/etc/passwd", f.br1, ""},
		{"/etc/hosts", f.br0, ""},
		{"/etc/../etc/hosts/", f.br0, "/etc/hosts"},
		{"/../../etc/passwd", f.br1, "/etc/passwd"},
		{"/bin", f.br0, ""},
		{"/bin/busybox", "", ""}, // whited out in br0
		{"/hidden", "", ""},      // whited out in br1
		{"/opt", f.br1, ""},
		{"/opt/old", f.br1, ""},
		{"/opt/old/c", f.br1, ""},
		{"/opt/old/a", "", ""}, // below an opaque dir
		{"/opt/old/b", "", ""},
		{"/var/x", f.br2, ""},
		{"/lower only/with space", f.br2, ""},
		{"/new", f.br0, ""},
		{"/dir", f.br0, ""},
		{"/file-over-dir", f.br0, ""},
		{"/file-over-dir/sub", "", ""},
		{"/etc/passwd/x", "", ""},
		{"/.wh.hidden", "", ""},
		{"/.wh..wh.plnk", "", ""},
		{"/nope", "", ""},
		{"etc/passwd", "", ""},
		{"", "", ""},
	}
	for _, c := range cases {
		l, hp, ok := u.ToHost(c.path)
		if c.layer == "" {
			if ok {
				t.Errorf("ToHost(%q) = %q, %q; want not found", c.path, l.Path, hp)
			}
			continue
		}
		rel := c.rel
		if rel == "" {
			rel = c.path
		}
		if !ok || l.Path != c.layer || hp != filepath.Join(c.layer, rel) {
			t.Errorf("ToHost(%q) = %q, %q, %v; want layer %q", c.path, l.Path, hp, ok, c.layer)
			continue
		}
		back, ok := u.ToContainer(hp)
		if !ok || back != filepath.Clean("/"+rel) {
			t.Errorf("ToContainer(ToHost(%q)) = %q, %v", c.path, back, ok)
		}
	}

	// A plain "ro" branch does not honour whiteouts: /hidden shows again.
	ro := *u
	ro.Layers = append([]Layer(nil), u.Layers...)
	ro.Layers[1].Perm = "ro"
	if l, _, ok := ro.ToHost("/hidden"); !ok || l.Path != f.br2 {
		t.Errorf("with br1=ro, /hidden = %v %v; want from br2", l, ok)
	}
	if l, _, ok := ro.ToHost("/opt/old/a"); !ok || l.Path != f.br2 {
		t.Errorf("with br1=ro, /opt/old/a = %v %v; want from br2", l, ok)
	}
}

func TestAUFSToContainer(t *testing.T) {
	f := newAUFSFixture(t)
	u, err := f.host.Discover(42, "")
	must(t, err)
	cases := []struct {
		host, want string // want "" = not in the union
	}{
		{f.br0, "/"},
		{f.br0 + "/", "/"},
		{f.br1, "/"},
		{f.br1 + "/etc/passwd", "/etc/passwd"},
		{f.br1 + "/bin/busybox", "/bin/busybox"}, // a path, existing or not
		{f.br0 + "/../10/etc/passwd", "/etc/passwd"},
		{f.br0 + "0", "/"},   // ".../10" is br1's root, not br0's "/0"
		{f.br0 + "00/x", ""}, // ".../100" is no layer
		{f.br0 + "0/x", "/x"},
		{f.br2 + "/bin/busybox", "/bin/busybox"},
		{f.br2 + "/../x", ""},
		{f.br0 + "/../../../etc/passwd", ""},
		{f.parent, ""},
		{f.br1 + "/.wh.hidden", ""},
		{f.br1 + "/opt/old/" + whOpaque, ""},
		{f.mnt + "/bin/sh", "/bin/sh"},
		{f.mnt, "/"},
		{"/", ""},
		{"relative/path", ""},
		{"", ""},
	}
	for _, c := range cases {
		got, ok := u.ToContainer(c.host)
		if ok != (c.want != "") || got != c.want {
			t.Errorf("ToContainer(%q) = %q, %v; want %q", c.host, got, ok, c.want)
		}
	}
	p, del, ok := u.ToContainerLink(f.br2 + "/bin/busybox (deleted)")
	if p != "/bin/busybox" || !del || !ok {
		t.Errorf("ToContainerLink(deleted) = %q %v %v", p, del, ok)
	}
	p, del, ok = u.ToContainerLink(f.br2 + "/bin/busybox")
	if p != "/bin/busybox" || del || !ok {
		t.Errorf("ToContainerLink = %q %v %v", p, del, ok)
	}
}

func TestParseBranches(t *testing.T) {
	dir := t.TempDir()
	if _, err := ParseBranches(dir); err == nil {
		t.Error("no br0: want an error")
	}
	writeFile(t, filepath.Join(dir, "br0"), "/a=b=c/d=rw+nolwh\n")
	writeFile(t, filepath.Join(dir, "br1"), `/x\040y\012z\134w=rr`+"\n")
	writeFile(t, filepath.Join(dir, "br2"), "/trailing/slash/=ro+wh\n")
	ls, err := ParseBranches(dir)
	must(t, err)
	want := []Layer{{"/a=b=c/d", "rw+nolwh"}, {"/x y\nz\\w", "rr"}, {"/trailing/slash", "ro+wh"}}
	if !reflect.DeepEqual(ls, want) {
		t.Fatalf("got %q want %q", ls, want)
	}
	for _, bad := range []string{"relative=rw\n", "/no-perm\n", "/empty-perm=\n"} {
		writeFile(t, filepath.Join(dir, "br1"), bad)
		if _, err := ParseBranches(dir); err == nil {
			t.Errorf("br1 %q: want an error", bad)
		}
	}
}
