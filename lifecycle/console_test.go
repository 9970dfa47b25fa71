package lifecycle

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// The peer comes from the master itself and is the master's own slave,
// open for reading and writing (it becomes the process's stdio).
func TestPtyPeerIsTheMastersOwn(t *testing.T) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pty here: %v", err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := ptyPeer(master)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(peer.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	// Unix98 pty slaves are char 136+:N.
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) < 136 || int(unix.Minor(st.Rdev)) != n%256 {
		t.Errorf("peer is %#o %d:%d, want the slave of pty %d", st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev), n)
	}
	// Raw mode, so what is written arrives as it is.
	tio, err := unix.IoctlGetTermios(int(peer.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	tio.Lflag &^= unix.ICANON | unix.ECHO
	tio.Oflag &^= unix.OPOST
	if err := unix.IoctlSetTermios(int(peer.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Write([]byte("ping")); err != nil {
		t.Fatalf("write to the peer: %v", err)
	}
	buf := make([]byte, 16)
	k, err := master.Read(buf)
	if err != nil || string(buf[:k]) != "ping" {
		t.Errorf("master read %q, %v; want ping", buf[:k], err)
	}
}
