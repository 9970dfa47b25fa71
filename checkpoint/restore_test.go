package checkpoint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stasis-oci/stasis/aufs"
)

// With --no-remount, a recorded union rootfs that is not mounted is
// refused before anything is mounted or made, with a message of its own.
func TestRemountUnionOffRefusesAnUnmountedRootfs(t *testing.T) {
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	u := &aufs.Union{Kind: aufs.Overlay, Layers: []aufs.Layer{
		{Path: filepath.Join(dir, "upper"), Perm: aufs.PermUpper},
		{Path: filepath.Join(dir, "lower"), Perm: aufs.PermLower},
	}}
	mounted, err := remountUnion(u, rootfs, true)
	if err == nil {
		t.Fatal("remountUnion(off) of an unmounted rootfs succeeded")
	}
	for _, want := range []string{
		"rootfs " + rootfs + " is not mounted and --no-remount was given",
		filepath.Join(dir, "upper") + " (upper)", filepath.Join(dir, "lower") + " (lower)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if mounted {
		t.Error("remountUnion says it mounted though nothing was mounted")
	}
	// No union recorded: the rootfs is a plain directory, mounted or not.
	if _, err := remountUnion(nil, rootfs, true); err != nil {
		t.Errorf("remountUnion(nil union, off) = %v, want nil", err)
	}
}
