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
	// name is the address it is bound to, as bind() was given it ("" for
	// none; abstract ones start with a NUL byte); vfsIno is the inode of
	// the socket file a path name made (0 for none).
	name   string
	vfsIno uint32
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
	udiagShowName    = 0x1
	udiagShowVFS     = 0x2
	udiagShowPeer    = 0x4
	unixDiagName     = 0
	unixDiagVFS      = 1
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
	binary.NativeEndian.PutUint32(req[28:], udiagShowName|udiagShowVFS|udiagShowPeer)
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
		switch {
		case t == unixDiagPeer && l >= 8:
			s.peer = binary.NativeEndian.Uint32(a[4:])
		case t == unixDiagVFS && l >= 8:
			s.vfsIno = binary.NativeEndian.Uint32(a[4:])
		case t == unixDiagName && l > 4:
			// A path name comes with bind()'s NUL; an abstract one
			// (leading NUL) is all bytes.
			s.name = string(a[4:l])
			if s.name[0] != 0 {
				s.name, _, _ = strings.Cut(s.name, "\x00")
			}
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

// externalUnixSockets returns the container's unix sockets connected to
// a peer no process of the container holds (what CRIU calls external),
// and those that live in another network namespace (hostPeers: ours;
// passed in from outside, e.g. through --preserve-fds), with what CRIU
// needs to know of their peers.
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
				e := externalSock{ino: ino, typ: s.typ, peer: s.peer}
				p, seen := peers[s.peer]
				if !seen {
					e.peerElsewhere = true
					p = hostPeers[s.peer]
				}
				e.peerName = p.name
				e.nameOK = reachable(procRoot, pid, p)
				out[pid] = append(out[pid], e)
			case !isUnix && isHosts:
				out[pid] = append(out[pid], externalSock{ino: ino, typ: hs.typ, peer: hs.peer, foreign: true})
			}
		}
	}
	return out
}

// reachable: the peer's address names that very socket inside the root of
// pid, where CRIU connects to it again at restore. An abstract address is
// looked up in the network namespace, which CRIU has checked; a relative
// one in a cwd we cannot know, so CRIU is left to judge.
func reachable(procRoot string, pid int, peer unixSock) bool {
	if peer.name == "" {
		return false
	}
	if peer.name[0] != '/' {
		return true
	}
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("%s/%d/root%s", procRoot, pid, peer.name), &st); err != nil {
		return false
	}
	return st.Mode&unix.S_IFMT == unix.S_IFSOCK && (peer.vfsIno == 0 || st.Ino == uint64(peer.vfsIno))
}

// externalSock is a unix socket of the container connected outside it.
type externalSock struct {
	ino  uint32
	typ  uint8
	peer uint32
	// foreign: the socket itself is in another network namespace than
	// the container's; peerElsewhere: its peer is.
	foreign, peerElsewhere bool
	peerName               string
	// nameOK: peerName, looked up inside the container, is the peer.
	nameOK bool
}

// problem says why CRIU cannot checkpoint the socket (with --ext-unix-sk
// when ext) and what to do; "" when it can. CRIU's --ext-unix-sk dumps
// only the container's end of a DATAGRAM socket, finds its peer only in
// the network namespaces it dumps, and at restore connects it again by
// the name the peer is bound to, as the restored process sees it.
func (e externalSock) problem(ext bool) string {
	switch {
	case e.foreign:
		return "it belongs to another network namespace (passed in from outside?), where CRIU does not look, even with --ext-unix-sk: close it before the checkpoint"
	case e.typ != unix.SOCK_DGRAM:
		return "CRIU cannot carry a stream connection whose other end is outside, even with --ext-unix-sk (which reconnects datagram sockets only): close it before the checkpoint"
	case e.peerElsewhere:
		return fmt.Sprintf("its peer socket:[%d] is in another network namespace, where CRIU does not look, even with --ext-unix-sk: run the container in the peer's network namespace, or close the socket before the checkpoint", e.peer)
	case e.peerName == "":
		return fmt.Sprintf("its peer socket:[%d] has no address CRIU could connect it to again at restore, even with --ext-unix-sk: close it before the checkpoint", e.peer)
	case !e.nameOK:
		return fmt.Sprintf("CRIU connects it again at restore to its peer's address %s, which inside the container is not that socket, even with --ext-unix-sk: bind-mount it into the container at that same path, or close the socket before the checkpoint", e.peerName)
	case !ext:
		return "retry with --ext-unix-sk"
	}
	return ""
}
