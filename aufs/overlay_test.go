package aufs

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseOverlayOptions(t *testing.T) {
	cases := []struct {
		name, in string
		want     OverlayOptions
	}{
		{"plain", "rw,lowerdir=/l1:/l2,upperdir=/u,workdir=/w",
			OverlayOptions{Upper: "/u", Work: "/w", Lower: []string{"/l1", "/l2"}}},
		{"readonly no upper", "ro,lowerdir=/l1:/l2",
			OverlayOptions{Lower: []string{"/l1", "/l2"}, Extra: []string{"ro"}}},
		// seq_show_option's \NNN for space, tab, newline, '=' and ','.
		{"octal escapes", `rw,lowerdir=/a\040b:/t\011ab:/n\012l,upperdir=/e\075q/u,workdir=/c\054d/w`,
			OverlayOptions{Upper: "/e=q/u", Work: "/c,d/w", Lower: []string{"/a b", "/t\tab", "/n\nl"}}},
		// The mounter typed "\:" "\," "\\"; the kernel keeps them and
		// escapes the backslash as \134.
		{"overlay escapes", `rw,lowerdir=/a\134:b:/c\134\054d:/x\134\134y,upperdir=/u\134:1,workdir=/w\134\134`,
			OverlayOptions{Upper: "/u:1", Work: `/w\`, Lower: []string{"/a:b", "/c,d", `/x\y`}}},
		{"data-only layers", "rw,lowerdir=/l1:/l2::/d1:/d2,upperdir=/u,workdir=/w",
			OverlayOptions{Upper: "/u", Work: "/w", Lower: []string{"/l1", "/l2"}, Data: []string{"/d1", "/d2"}}},
		// New mount API: each layer shown separately, no overlay escapes.
		{"lowerdir+", `rw,lowerdir+=/l1,lowerdir+=/a:b\134c,datadir+=/d\040x,upperdir=/u,workdir=/w`,
			OverlayOptions{Upper: "/u", Work: "/w", Lower: []string{"/l1", `/a:b\c`}, Data: []string{"/d x"}}},
		{"extras kept", "rw,lowerdir=/l,upperdir=/u,workdir=/w,redirect_dir=on,index=off,userxattr,xino=off",
			OverlayOptions{Upper: "/u", Work: "/w", Lower: []string{"/l"},
				Extra: []string{"redirect_dir=on", "index=off", "userxattr", "xino=off"}}},
		{"relative (docker overlay2)", "rw,lowerdir=l/ABC:l/DEF,upperdir=/var/lib/docker/overlay2/x/diff,workdir=/var/lib/docker/overlay2/x/work",
			OverlayOptions{Upper: "/var/lib/docker/overlay2/x/diff", Work: "/var/lib/docker/overlay2/x/work", Lower: []string{"l/ABC", "l/DEF"}}},
	}
	for _, c := range cases {
		got, err := ParseOverlayOptions(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", c.name, got, c.want)
		}
	}
	for _, bad := range []string{"", "rw", "rw,upperdir=/u,workdir=/w", "rw,lowerdir=/l,upperdir=/u",
		"rw,lowerdir=::/d", "rw,lowerdir=/a:::/d", "rw,lowerdir=/a::/d::/e"} {
		if _, err := ParseOverlayOptions(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

// Every path a host can produce survives escaping for mount(2) and
// reading back from mountinfo as the kernel would show it.
func TestOverlayEscapeRoundTrip(t *testing.T) {
	paths := []string{"/plain", "/sp ace", "/t\tab", "/n\nl", `/back\slash`, "/co:lon", "/com,ma", "/e=q", `/all \:,=` + "\t\n"}
	for _, p := range paths {
		// The strings the kernel stores: what Remount types.
		stored := [][2]string{
			{"lowerdir", ovlEscape(p) + ":" + ovlEscape(p+"2")},
			{"upperdir", ovlEscape(p + "u")},
			{"workdir", ovlEscape(p + "w")},
		}
		// What seq_show_option makes of them.
		r := strings.NewReplacer(`\`, `\134`, ",", `\054`, "=", `\075`, " ", `\040`, "\t", `\011`, "\n", `\012`)
		shown := "rw"
		for _, kv := range stored {
			shown += "," + kv[0] + "=" + r.Replace(kv[1])
		}
		o, err := ParseOverlayOptions(shown)
		must(t, err)
		want := OverlayOptions{Upper: p + "u", Work: p + "w", Lower: []string{p, p + "2"}}
		if !reflect.DeepEqual(o, want) {
			t.Errorf("%q: shown %q parsed %#v", p, shown, o)
		}
	}
}

// splitUnescaped keeps escapes for ovlUnescape and splits only at real
// separators.
func TestSplitUnescaped(t *testing.T) {
	got := splitUnescaped(`a\:b:c\\:d`, ':')
	want := []string{`a\:b`, `c\\`, "d"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestDiscoverOverlayRelativeLowers(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "overlay2")
	tree(t, home, "l/ABC/", "l/DEF/", "x/diff/", "x/work/", "x/merged/")
	h := Host{ProcRoot: filepath.Join(dir, "proc"), SysRoot: filepath.Join(dir, "sys")}
	line := "300 200 0:50 / / rw,relatime - overlay overlay rw,lowerdir=l/ABC:l/DEF,upperdir=" +
		home + "/x/diff,workdir=" + home + "/x/work,index=off\n"
	writeFile(t, filepath.Join(h.ProcRoot, "7/mountinfo"), line)
	writeFile(t, filepath.Join(h.ProcRoot, "self/mountinfo"),
		strings.Replace(line, " / / ", " / "+home+"/x/merged ", 1))
	u, err := h.Discover(7, "")
	must(t, err)
	want := &Union{Kind: Overlay, MountID: 300, Dev: "0:50", Root: "/", Mountpoint: home + "/x/merged",
		Upper: home + "/x/diff", Work: home + "/x/work", Options: []string{"index=off"},
		Layers: []Layer{{home + "/x/diff", PermUpper}, {home + "/l/ABC", PermLower}, {home + "/l/DEF", PermLower}}}
	if !reflect.DeepEqual(u, want) {
		t.Fatalf("got  %+v\nwant %+v", u, want)
	}
	// A relative layer nothing resolves is an error, not a guess.
	writeFile(t, filepath.Join(h.ProcRoot, "7/mountinfo"), strings.Replace(line, "l/DEF", "l/GONE", 1))
	if _, err := h.Discover(7, ""); err == nil {
		t.Fatal("unresolvable relative lowerdir: want an error")
	}
}

// recorder is a fake Mounter.
type recorder struct {
	calls []string
	fail  int // fail the n-th call (1-based); 0 = never
}

func (r *recorder) next(s string) error {
	r.calls = append(r.calls, s)
	if len(r.calls) == r.fail {
		return os.ErrInvalid
	}
	return nil
}

func (r *recorder) Mount(source, target, fstype string, flags uintptr, data string) error {
	return r.next(strings.Join([]string{"mount", source, target, fstype, strings.TrimPrefix(flagName(flags), "0x"), data}, "|"))
}

func (r *recorder) MountParams(fstype, target string, ps []Param) error {
	s := "fsconfig|" + fstype + "|" + target
	for _, p := range ps {
		s += "|" + p.Key
		if p.HasValue {
			s += "=" + p.Value
		}
	}
	return r.next(s)
}

func (r *recorder) Unmount(target string, flags int) error {
	return r.next("umount|" + target)
}

func flagName(f uintptr) string {
	if f == 0 {
		return "0"
	}
	return "remount"
}

func TestRemountOverlayOptions(t *testing.T) {
	u := &Union{Kind: Overlay, Upper: "/u p", Work: "/w,k",
		Layers:  []Layer{{"/u p", PermUpper}, {"/l:1", PermLower}, {`/l\2`, PermLower}, {"/d", PermData}},
		Options: []string{"index=off", "ro"}}
	var r recorder
	must(t, u.RemountWith(&r, "/t"))
	want := []string{`mount|overlay|/t|overlay|0|lowerdir=/l\:1:/l\\2::/d,upperdir=/u p,workdir=/w\,k,index=off,ro`}
	if !reflect.DeepEqual(r.calls, want) {
		t.Fatalf("got %q\nwant %q", r.calls, want)
	}

	// Longer than a page: one fsconfig per layer.
	long := *u
	long.Layers = []Layer{{"/u p", PermUpper}}
	var lowers []string
	for i := 0; len(strings.Join(lowers, ":")) < 5000; i++ {
		p := "/" + strings.Repeat("x", 100) + "/" + string(rune('a'+i%26)) + strings.Repeat("y", i)
		lowers = append(lowers, p)
		long.Layers = append(long.Layers, Layer{p, PermLower})
	}
	r = recorder{}
	must(t, long.RemountWith(&r, "/t"))
	w := "fsconfig|overlay|/t"
	for _, p := range lowers {
		w += "|lowerdir+=" + p
	}
	w += `|upperdir=/u p|workdir=/w\,k|index=off|ro`
	if len(r.calls) != 1 || r.calls[0] != w {
		t.Fatalf("got %q\nwant %q", r.calls, w)
	}

	if err := (&Union{Kind: Plain}).RemountWith(&r, "/t"); err == nil {
		t.Error("Plain: want an error")
	}
}

func TestRemountAUFSOptions(t *testing.T) {
	dir := t.TempDir()
	odd := filepath.Join(dir, "a=b:c,d")
	must(t, os.MkdirAll(odd, 0o755))
	u := &Union{Kind: AUFS, Layers: []Layer{{"/b 0", "rw"}, {odd, "ro+wh"}, {"/b2", "ro"}}}
	var r recorder
	must(t, u.RemountWith(&r, "/t"))
	if len(r.calls) != 1 {
		t.Fatalf("calls %q", r.calls)
	}
	parts := strings.Split(r.calls[0], "|")
	data := parts[len(parts)-1]
	// The awkward branch goes by descriptor.
	br := strings.Split(strings.TrimPrefix(data, "br:"), ":")
	if len(br) != 3 || br[0] != "/b 0=rw" || br[2] != "/b2=ro" || !strings.HasPrefix(br[1], "/proc/self/fd/") || !strings.HasSuffix(br[1], "=ro+wh") {
		t.Fatalf("data %q", data)
	}

	// Many branches: the first page, then appends; a failing append
	// unmounts what was mounted.
	u.Layers = nil
	for i := 0; i < 60; i++ {
		u.Layers = append(u.Layers, Layer{"/var/lib/docker/aufs/diff/" + strings.Repeat("f", 64) + string(rune('A'+i%26)) + strings.Repeat("0", i%7), "ro+wh"})
	}
	u.Layers[0].Perm = "rw"
	r = recorder{}
	must(t, u.RemountWith(&r, "/t"))
	first := strings.Split(r.calls[0], "|")
	if d := first[len(first)-1]; len(d) > os.Getpagesize()-1 || !strings.HasPrefix(d, "br:"+u.Layers[0].Path+"=rw:") {
		t.Fatalf("first mount data (%d bytes) %q", len(d), d)
	}
	n := strings.Count(first[len(first)-1], ":") // "br:" and n-1 separators
	if len(r.calls) != 1+len(u.Layers)-n || n >= len(u.Layers) {
		t.Fatalf("%d branches in the first mount, %d calls", n, len(r.calls))
	}
	last := r.calls[len(r.calls)-1]
	if want := "mount|none|/t|aufs|remount|append:" + u.Layers[len(u.Layers)-1].Path + "=ro+wh"; last != want {
		t.Fatalf("last call %q want %q", last, want)
	}
	r = recorder{fail: 2}
	if err := u.RemountWith(&r, "/t"); err == nil || r.calls[len(r.calls)-1] != "umount|/t" {
		t.Fatalf("failed append: err %v calls %q", err, r.calls)
	}
}
