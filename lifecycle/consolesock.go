package lifecycle

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// sunPathMax is the size of sockaddr_un's sun_path, terminating NUL
// included: longer paths cannot be dialled directly.
const sunPathMax = 108

// DialConsole connects to --console-socket; the connection is what the
// init sends the pty master over. A path too long for sun_path (deep
// containerd state dirs) is reached through an O_PATH handle on its
// directory: /proc/self/fd/N/<name> always fits.
func DialConsole(path string) (*os.File, error) {
	addr := path
	if len(path) >= sunPathMax {
		dir, err := os.OpenFile(filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("connect to console socket %s: %w", path, err)
		}
		defer dir.Close()
		addr = fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), filepath.Base(path))
		if len(addr) >= sunPathMax {
			return nil, fmt.Errorf("connect to console socket %s: socket name too long", path)
		}
	}
	conn, err := dialPatiently(addr)
	if err != nil {
		return nil, fmt.Errorf("connect to console socket %s: %w", path, err)
	}
	defer conn.Close()
	f, err := conn.File()
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return f, nil
}

// consoleWait bounds how long a console socket that does not exist yet,
// or does not listen yet, is waited for. Clients start their receiver in
// the background right before the runtime (runc's own test helpers do,
// with a Python receiver slower to start than stasis is to connect); a
// socket that never comes still fails, after this.
var consoleWait = 2 * time.Second

func dialPatiently(addr string) (*net.UnixConn, error) {
	deadline := time.Now().Add(consoleWait)
	for {
		conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: addr, Net: "unix"})
		if err == nil || time.Now().After(deadline) ||
			!(errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ECONNREFUSED)) {
			return conn, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}
