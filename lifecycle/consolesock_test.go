package lifecycle

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestDialConsoleLongPath(t *testing.T) {
	dir := t.TempDir()
	deep := filepath.Join(dir, strings.Repeat("d", 60), strings.Repeat("e", 60))
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	// Listen through the same trick, so the test itself can use the path.
	d, _ := os.Open(deep)
	defer d.Close()
	sock := filepath.Join(deep, "console.sock")
	if len(sock) < sunPathMax {
		t.Fatalf("path %d bytes: not long enough for the test", len(sock))
	}
	l, err := net.Listen("unix", "/proc/self/fd/"+strconv.Itoa(int(d.Fd()))+"/console.sock")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	f, err := DialConsole(sock)
	if err != nil {
		t.Fatalf("dial %d-byte path: %v", len(sock), err)
	}
	f.Close()
}
