package checkpoint

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// unixSock is what sock_diag says of one unix socket.
type unixSock struct {
	peer uint32 // inode of the peer, 0 for none
	typ  uint8  // SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET
}

// unixPeers maps each unix socket inode of the network namespace of pid
// to its peer and type, from the kernel's sock_diag: /proc shows no
// peers, and a socket connected outside the container is the classic
// reason CRIU refuses a dump (--ext-unix-sk).
func unixPeers(pid int) (peers map[uint32]unixSock, err error) {
	// The netlink socket answers for the namespace it was made in.
	err = inNetNS(pid, func() (err error) {
		peers, err = dumpUnixPeers()
		return err
	})
	return peers, err
}

const (
	sockDiagByFamily = 20
	udiagShowPeer    = 0x4
	unixDiagPeer     = 2
)

func dumpUnixPeers() (map[uint32]unixSock, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	defer unix.Close(fd)
	// nlmsghdr + unix_diag_req{family, protocol, pad, states, ino, show, cookie[2]}
	req := make([]byte, 16+24)
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], sockDiagByFamily)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	req[16] = unix.AF_UNIX
	binary.NativeEndian.PutUint32(req[20:], 0xffffffff) // every state
	binary.NativeEndian.PutUint32(req[28:], udiagShowPeer)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("sock_diag request: %w", err)
	}
	peers := map[uint32]unixSock{}
	buf := make([]byte, 64*1024)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, fmt.Errorf("sock_diag: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, fmt.Errorf("sock_diag: %w", err)
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return peers, nil
			case unix.NLMSG_ERROR:
				return nil, fmt.Errorf("sock_diag: kernel error")
			}
			parseUnixDiag(m.Data, peers)
		}
	}
}

// parseUnixDiag reads one unix_diag_msg {family, type, state, pad, ino,
// cookie[2]} and its attributes.
func parseUnixDiag(b []byte, peers map[uint32]unixSock) {
	if len(b) < 16 {
		return
	}
	ino := binary.NativeEndian.Uint32(b[4:])
	s := unixSock{typ: b[1]}
	defer func() { peers[ino] = s }()
	for a := b[16:]; len(a) >= 4; {
		l := int(binary.NativeEndian.Uint16(a[0:]))
		t := binary.NativeEndian.Uint16(a[2:])
		if l < 4 || l > len(a) {
			return
		}
		if t == unixDiagPeer && l >= 8 {
			s.peer = binary.NativeEndian.Uint32(a[4:])
		}
		a = a[(l+3)&^3:]
	}
}

// socketInodes lists the socket inodes a process holds ("socket:[N]").
func socketInodes(procRoot string, pid int) []uint32 {
	dir := fmt.Sprintf("%s/%d/fd", procRoot, pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []uint32
	for _, e := range ents {
		l, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			continue
		}
		if s, ok := strings.CutPrefix(l, "socket:["); ok {
			if n, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 32); err == nil {
				out = append(out, uint32(n))
			}
		}
	}
	return out
}

// externalUnixSockets returns the container's unix sockets that CRIU
// cannot dump on its own: those whose peer no process of the container
// holds, and those that live in another network namespace (hostPeers:
// ours; passed in from outside, e.g. through --preserve-fds).
func externalUnixSockets(peers, hostPeers map[uint32]unixSock, procRoot string, pids []int) map[int][]externalSock {
	held := map[uint32]bool{}
	byPid := map[int][]uint32{}
	for _, pid := range pids {
		for _, ino := range socketInodes(procRoot, pid) {
			held[ino] = true
			byPid[pid] = append(byPid[pid], ino)
		}
	}
	out := map[int][]externalSock{}
	for pid, inos := range byPid {
		for _, ino := range inos {
			s, isUnix := peers[ino]
			hs, isHosts := hostPeers[ino]
			switch {
			case isUnix && s.peer != 0 && !held[s.peer]:
				out[pid] = append(out[pid], externalSock{ino, s.typ})
			case !isUnix && isHosts:
				out[pid] = append(out[pid], externalSock{ino, hs.typ})
			}
		}
	}
	return out
}

// externalSock is a unix socket of the container connected outside it.
type externalSock struct {
	ino uint32
	typ uint8
}

// advice says what can be done about an external socket: CRIU reconnects
// datagram sockets with --ext-unix-sk, but a stream connection's other
// end is not in the dump.
func (e externalSock) advice() string {
	if e.typ == unix.SOCK_DGRAM {
		return "retry with --ext-unix-sk"
	}
	return "CRIU cannot carry a stream connection whose other end is outside (--ext-unix-sk helps only if that end is a listener it can reconnect to): close it before the checkpoint, or retry with --ext-unix-sk"
}
