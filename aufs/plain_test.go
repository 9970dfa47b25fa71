package aufs

import (
	"os"
	"path/filepath"
	"testing"
)

// A rootfs that is a plain directory on the host's / (runc bind-mounts it
// onto itself): the container's "/" is a bind with root = the directory.
func TestDiscoverPlain(t *testing.T) {
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "bundle/rootfs")
	tree(t, rootfs, "bin/sh", "etc/")
	must(t, os.Symlink("/", filepath.Join(rootfs, "escape")))
	h := Host{ProcRoot: filepath.Join(dir, "proc")}
	writeFile(t, filepath.Join(h.ProcRoot, "5/mountinfo"),
		"400 300 254:1 "+mountinfoEscape(rootfs)+" / rw - ext4 /dev/vda rw\n")
	writeFile(t, filepath.Join(h.ProcRoot, "self/mountinfo"),
		"25 1 254:1 / / rw - ext4 /dev/vda rw\n26 25 254:1 /srv /srv rw - ext4 /dev/vda rw\n")
	u, err := h.Discover(5, "")
	must(t, err)
	if u.Kind != Plain || u.Mountpoint != rootfs || u.Root != rootfs || u.MountID != 400 {
		t.Fatalf("Discover = %+v", u)
	}
	if l, hp, ok := u.ToHost("/bin/sh"); !ok || l.Path != rootfs || hp != filepath.Join(rootfs, "bin/sh") {
		t.Errorf("ToHost(/bin/sh) = %v %q %v", l, hp, ok)
	}
	// A symlink is not followed out of the rootfs.
	if _, hp, ok := u.ToHost("/escape/etc/passwd"); ok {
		t.Errorf("ToHost through a symlink = %q", hp)
	}
	if p, ok := u.ToContainer(filepath.Join(rootfs, "bin/sh")); !ok || p != "/bin/sh" {
		t.Errorf("ToContainer = %q %v", p, ok)
	}
	if _, ok := u.ToContainer(filepath.Join(dir, "bundle/config.json")); ok {
		t.Error("ToContainer outside the rootfs succeeded")
	}
	if err := u.RemountWith(&recorder{}, "/t"); err == nil {
		t.Error("Remount of a plain root: want an error")
	}
}

// The container's root is a bind of a subdirectory of an overlay: paths
// translate through Root, and the host mountpoint points at that subdir.
func TestOverlaySubdirRoot(t *testing.T) {
	dir := t.TempDir()
	up, low := filepath.Join(dir, "up"), filepath.Join(dir, "low")
	tree(t, low, "sub/bin/sh", "outside")
	tree(t, up, "sub/etc/hosts")
	h := Host{ProcRoot: filepath.Join(dir, "proc")}
	opts := "rw,lowerdir=" + low + ",upperdir=" + up + ",workdir=" + dir + "/work"
	writeFile(t, filepath.Join(h.ProcRoot, "9/mountinfo"), "500 1 0:70 /sub / rw - overlay overlay "+opts+"\n")
	writeFile(t, filepath.Join(h.ProcRoot, "self/mountinfo"), "60 1 0:70 / /m rw - overlay overlay "+opts+"\n")
	u, err := h.Discover(9, "")
	must(t, err)
	if u.Root != "/sub" || u.Mountpoint != "/m/sub" {
		t.Fatalf("Discover = %+v", u)
	}
	for _, c := range []struct{ cp, layer, hp string }{
		{"/bin/sh", low, low + "/sub/bin/sh"},
		{"/etc/hosts", up, up + "/sub/etc/hosts"},
		{"/", up, up + "/sub"},
	} {
		l, hp, ok := u.ToHost(c.cp)
		if !ok || l.Path != c.layer || hp != c.hp {
			t.Errorf("ToHost(%q) = %v %q %v", c.cp, l, hp, ok)
		}
		if back, ok := u.ToContainer(hp); !ok || back != c.cp {
			t.Errorf("ToContainer(%q) = %q %v", hp, back, ok)
		}
	}
	if _, _, ok := u.ToHost("/../outside"); ok {
		t.Error("ToHost escaped Root")
	}
	if p, ok := u.ToContainer(low + "/outside"); ok {
		t.Errorf("ToContainer of a file outside Root = %q", p)
	}
	if p, ok := u.ToContainer("/m/sub/etc/hosts"); !ok || p != "/etc/hosts" {
		t.Errorf("ToContainer via mountpoint = %q %v", p, ok)
	}
}
