package aufs

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The overlay test needs real mounts: it re-executes the test binary in a
// new mount namespace (which, with every mount made in it, dies with the
// child). This variable makes TestMain run the child's body instead.
const childEnv = "STASIS_AUFS_TEST_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(overlayChild(dir))
	}
	os.Exit(m.Run())
}

func TestOverlayReal(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: overlay mounts in a new mount namespace")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if len(out) > 0 {
		t.Logf("child:\n%s", out)
	}
	if err != nil {
		t.Fatalf("child: %v", err)
	}
}

// child collects failures; the parent sees them in the output.
type child struct{ failed bool }

func (c *child) errorf(format string, a ...any) {
	c.failed = true
	fmt.Printf("FAIL: "+format+"\n", a...)
}

func overlayChild(dir string) int {
	var c child
	if err := c.run(dir); err != nil {
		c.errorf("%v", err)
	}
	if c.failed {
		return 1
	}
	return 0
}

func (c *child) run(dir string) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make-rprivate /: %w", err)
	}
	// Hostile layer names: each kind of character the escapes handle.
	low1 := filepath.Join(dir, "low 1\tx")
	low2 := filepath.Join(dir, `low:2\y`)
	upper := filepath.Join(dir, "up,per=z")
	work := filepath.Join(dir, "work\ndir")
	merged := filepath.Join(dir, "merged")
	for _, d := range []string{low1, low2, upper, work, merged} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	files := map[string][]string{
		low2:  {"a", "dir/x", "opq/old", "gone", "shadow", "gonedir/f", "sp ace/f"},
		low1:  {"b", "shadow", "dir/y", "mapped"},
		upper: {"c", "opq/new", "dir/z", "unlinked"},
	}
	for layer, fs := range files {
		for _, f := range fs {
			p := filepath.Join(layer, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(p, []byte(layer+"|"+f), 0o644); err != nil {
				return err
			}
		}
	}
	// A whiteout for a lower file and one for a lower directory, and an
	// opaque directory.
	for _, w := range []string{"gone", "gonedir"} {
		if err := unix.Mknod(filepath.Join(upper, w), unix.S_IFCHR|0o000, 0); err != nil {
			return fmt.Errorf("mknod whiteout: %w", err)
		}
	}
	if err := unix.Setxattr(filepath.Join(upper, "opq"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		return fmt.Errorf("opaque xattr: %w", err)
	}

	base := &Union{Kind: Overlay, Upper: upper, Work: work,
		Layers: []Layer{{upper, PermUpper}, {low1, PermLower}, {low2, PermLower}}}
	if err := base.Remount(merged); err != nil {
		return err
	}
	defer unix.Unmount(merged, unix.MNT_DETACH)

	u, err := Host{}.Discover(os.Getpid(), merged)
	if err != nil {
		return err
	}
	fmt.Printf("discovered: %+v\n", u)
	if u.Kind != Overlay || u.Mountpoint != merged || u.Upper != upper || u.Work != work || u.Root != "/" ||
		fmt.Sprint(u.Layers) != fmt.Sprint(base.Layers) {
		c.errorf("Discover = %+v\nwant layers %v", u, base.Layers)
	}
	c.checkAgainstReality(u, merged, []string{"/gone", "/gonedir", "/gonedir/f", "/opq/old", "/nope", "/a/x"})
	c.checkMapFiles(u, merged)
	c.checkChrooted(u, low2, merged)

	// Remount the discovered union elsewhere: the same tree.
	again := filepath.Join(dir, "merged2")
	if err := os.Mkdir(again, 0o755); err != nil {
		return err
	}
	if err := u.Remount(again); err != nil {
		return err
	}
	defer unix.Unmount(again, unix.MNT_DETACH)
	if a, b := snapshot(merged), snapshot(again); a != b {
		c.errorf("remounted tree differs:\n%s\nvs\n%s", a, b)
	}
	c.longOptions(dir)
	return nil
}

// checkAgainstReality compares ToHost/ToContainer with what the kernel
// shows through the merged dir: every path there (and none of missing)
// must be found, in a layer holding the same content.
func (c *child) checkAgainstReality(u *Union, merged string, missing []string) {
	n := 0
	err := filepath.WalkDir(merged, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		cp := "/" + strings.TrimPrefix(strings.TrimPrefix(p, merged), "/")
		n++
		l, hp, ok := u.ToHost(cp)
		if !ok {
			c.errorf("ToHost(%q): not found, but the kernel shows it", cp)
			return nil
		}
		if !d.IsDir() {
			want, _ := os.ReadFile(p)
			got, _ := os.ReadFile(hp)
			if !bytes.Equal(want, got) {
				c.errorf("ToHost(%q) = %s (layer %s) holds %q, the union shows %q", cp, hp, l.Path, got, want)
			}
		}
		if back, ok := u.ToContainer(hp); !ok || back != cp {
			c.errorf("ToContainer(%q) = %q %v, want %q", hp, back, ok, cp)
		}
		return nil
	})
	if err != nil {
		c.errorf("walk: %v", err)
	}
	if n < 10 {
		c.errorf("only %d paths in the union", n)
	}
	for _, m := range missing {
		if _, err := os.Lstat(filepath.Join(merged, m)); err == nil {
			c.errorf("test bug: %s exists in the union", m)
		}
		if l, hp, ok := u.ToHost(m); ok {
			c.errorf("ToHost(%q) = %s %s, but the kernel hides it", m, l.Path, hp)
		}
	}
}

// checkMapFiles maps files of the union and translates what
// /proc/self/map_files says about them, as checkpoint will.
func (c *child) checkMapFiles(u *Union, merged string) {
	for _, tc := range []struct {
		name   string
		unlink bool
	}{{"mapped", false}, {"unlinked", true}} {
		f, err := os.Open(filepath.Join(merged, tc.name))
		if err != nil {
			c.errorf("%v", err)
			continue
		}
		mem, err := unix.Mmap(int(f.Fd()), 0, 4096, unix.PROT_READ, unix.MAP_PRIVATE)
		f.Close()
		if err != nil {
			c.errorf("mmap: %v", err)
			continue
		}
		if tc.unlink {
			os.Remove(filepath.Join(merged, tc.name))
		}
		link := mapFilesLink(mem)
		fmt.Printf("map_files: %q\n", link)
		p, deleted, ok := u.ToContainerLink(link)
		if !ok || p != "/"+tc.name || deleted != tc.unlink {
			c.errorf("map_files link %q -> %q deleted=%v ok=%v", link, p, deleted, ok)
		}
		unix.Munmap(mem)
	}
}

// checkChrooted runs busybox (from a lower layer) chrooted into the union,
// as a container is, and discovers the union from ITS mountinfo, where the
// overlay is "/", then translates its exe and map_files links.
func (c *child) checkChrooted(want *Union, lower, merged string) {
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		fmt.Println("no /bin/busybox, chrooted check skipped")
		return
	}
	must := func(err error) bool {
		if err != nil {
			c.errorf("chrooted: %v", err)
		}
		return err == nil
	}
	if !must(os.MkdirAll(filepath.Join(lower, "bin"), 0o755)) ||
		!must(os.WriteFile(filepath.Join(lower, "bin/busybox"), bb, 0o755)) {
		return
	}
	cmd := exec.Command("/bin/busybox", "sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: merged}
	if !must(cmd.Start()) {
		return
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	pid := cmd.Process.Pid
	// Wait until the exec has happened (exe is busybox, not the test).
	for i := 0; i < 500; i++ {
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); strings.HasSuffix(exe, "/bin/busybox") {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	u, err := Host{}.Discover(pid, "")
	if !must(err) {
		return
	}
	if u.Kind != Overlay || u.Mountpoint != merged || fmt.Sprint(u.Layers) != fmt.Sprint(want.Layers) {
		c.errorf("chrooted Discover = %+v", u)
	}
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if p, del, ok := u.ToContainerLink(exe); !ok || del || p != "/bin/busybox" {
		c.errorf("exe %q -> %q %v %v", exe, p, del, ok)
	}
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/map_files", pid))
	n := 0
	for _, e := range ents {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/map_files/%s", pid, e.Name()))
		if err != nil {
			continue
		}
		n++
		if p, _, ok := u.ToContainerLink(l); !ok || p != "/bin/busybox" {
			c.errorf("map_files %s -> %q: %q %v", e.Name(), l, p, ok)
		}
	}
	if n == 0 {
		c.errorf("busybox has no file mappings")
	}
	fmt.Printf("chrooted busybox: exe %q, %d map_files entries\n", exe, n)
}

func mapFilesLink(mem []byte) string {
	start := uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
	maps, _ := os.ReadFile("/proc/self/maps")
	for _, line := range strings.Split(string(maps), "\n") {
		rng, _, _ := strings.Cut(line, " ")
		var lo, hi uintptr
		if _, err := fmt.Sscanf(rng, "%x-%x", &lo, &hi); err == nil && lo == start {
			l, _ := os.Readlink("/proc/self/map_files/" + rng)
			return l
		}
	}
	return ""
}

// snapshot lists a tree with file contents, to compare two mounts.
func snapshot(root string) string {
	var lines []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			lines = append(lines, "ERR "+err.Error())
			return nil
		}
		rel := strings.TrimPrefix(p, root)
		if d.IsDir() {
			lines = append(lines, rel+"/")
		} else {
			b, _ := os.ReadFile(p)
			lines = append(lines, rel+" "+string(b))
		}
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// longOptions mounts an overlay whose options do not fit in a page
// (Remount switches to fsconfig and lowerdir+), discovers it back from
// mountinfo and checks the bottom layer shows through.
func (c *child) longOptions(dir string) {
	var layers []Layer
	for i := 0; i < 24; i++ {
		p := filepath.Join(dir, "long", fmt.Sprintf("%02d-%s", i, strings.Repeat("l", 180)))
		if err := os.MkdirAll(p, 0o755); err != nil {
			c.errorf("%v", err)
			return
		}
		layers = append(layers, Layer{p, PermLower})
	}
	bottom := layers[len(layers)-1].Path
	if err := os.WriteFile(filepath.Join(bottom, "deep"), []byte("deep"), 0o644); err != nil {
		c.errorf("%v", err)
		return
	}
	target := filepath.Join(dir, "merged3")
	if err := os.Mkdir(target, 0o755); err != nil {
		c.errorf("%v", err)
		return
	}
	u := &Union{Kind: Overlay, Layers: layers}
	if err := u.Remount(target); err != nil {
		c.errorf("long Remount: %v", err)
		return
	}
	defer unix.Unmount(target, unix.MNT_DETACH)
	got, err := Host{}.Discover(os.Getpid(), target)
	if err != nil {
		c.errorf("Discover long: %v", err)
		return
	}
	fmt.Printf("long: %d layers discovered, options %q\n", len(got.Layers), got.Options)
	if fmt.Sprint(got.Layers) != fmt.Sprint(layers) {
		c.errorf("Discover long layers = %v", got.Layers)
	}
	if l, hp, ok := got.ToHost("/deep"); !ok || l.Path != bottom || hp != filepath.Join(bottom, "deep") {
		c.errorf("long ToHost(/deep) = %v %q %v", l, hp, ok)
	}
	if b, err := os.ReadFile(filepath.Join(target, "deep")); err != nil || string(b) != "deep" {
		c.errorf("long overlay: deep = %q %v", b, err)
	}
}
