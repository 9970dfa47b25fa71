package lifecycle

import (
	"fmt"
	"os"
	"testing"
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
