package lifecycle

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Whichever way the binary is sealed, it runs and cannot be written.
func TestSealedSelfIsReadOnly(t *testing.T) {
	for name, seal := range map[string]func() (*os.File, error){
		"overlay": overlaySealedSelf, "memfd": memfdSealedSelf,
	} {
		f, err := seal()
		if err != nil {
			if name == "overlay" && os.Geteuid() != 0 {
				t.Logf("overlay seal needs root: %v", err)
				continue
			}
			t.Fatalf("%s: %v", name, err)
		}
		path := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
		// The overlay refuses the open (EROFS), the memfd the write (EPERM).
		if w, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
			if _, err := w.Write([]byte("x")); err == nil {
				t.Errorf("%s: wrote to the sealed binary", name)
			}
			w.Close()
		}
		self, _ := os.Stat("/proc/self/exe")
		st, err := os.Stat(path)
		if err != nil || st.Size() != self.Size() {
			t.Errorf("%s: sealed binary size %v (%v), want %d", name, st, err, self.Size())
		}
		f.Close()
	}
}

// The name sealed is looked up without following a symlink, and the
// handle must be the binary asked for: a binary's directory entry swapped
// for a symlink to another program is refused, not sealed and run.
func TestOverlaySealRefusesASwappedBinary(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the overlay seal needs root")
	}
	target := "/bin/true"
	var want unix.Stat_t
	if err := unix.Stat(target, &want); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	// What the readlink named, now a symlink (absolute: it would resolve on
	// the host) to another binary that stat reports as the wanted one.
	link := filepath.Join(dir, "stasis")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if f, err := overlaySeal(link, &want); err == nil {
		f.Close()
		t.Fatalf("sealed %s through a symlink to %s", link, target)
	}
	// A regular file that is not the binary asked for is refused too.
	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if f, err := overlaySeal(other, &want); err == nil || !strings.Contains(err.Error(), "not the running binary") {
		if f != nil {
			f.Close()
		}
		t.Fatalf("sealed a file that is not the binary: err = %v", err)
	}
	// And the binary itself is sealed.
	var self unix.Stat_t
	exe, _ := os.Readlink("/proc/self/exe")
	if err := unix.Stat(exe, &self); err != nil {
		t.Fatal(err)
	}
	f, err := overlaySeal(exe, &self)
	if err != nil {
		t.Fatalf("sealing the test binary: %v", err)
	}
	f.Close()
}
