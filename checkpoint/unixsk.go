package checkpoint

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// unixPeers maps each unix socket inode of the network namespace of pid
// to its peer's inode (0: none), from the kernel's sock_diag: /proc shows
// no peers, and a socket connected outside the container is the classic
// reason CRIU refuses a dump (--ext-unix-sk).
func unixPeers(pid int) (map[uint32]uint32, error) {
	type result struct {
		peers map[uint32]uint32
		err   error
	}
	ch := make(chan result, 1)
	go func() {
		// The netlink socket answers for the namespace it was made in, so
		// it is made on a thread moved into the container's. That thread
		// is never unlocked: Go discards it instead of reusing it.
		runtime.LockOSThread()
		ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("enter the container's network namespace: %w", err)}
			return
		}
		peers, err := dumpUnixPeers()
		ch <- result{peers, err}
	}()
	r := <-ch
	return r.peers, r.err
}

const (
	sockDiagByFamily = 20
	udiagShowPeer    = 0x4
	unixDiagPeer     = 2
)

func dumpUnixPeers() (map[uint32]uint32, error) {
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
	peers := map[uint32]uint32{}
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
func parseUnixDiag(b []byte, peers map[uint32]uint32) {
	if len(b) < 16 {
		return
	}
	ino := binary.NativeEndian.Uint32(b[4:])
	peers[ino] = 0
	for a := b[16:]; len(a) >= 4; {
		l := int(binary.NativeEndian.Uint16(a[0:]))
		t := binary.NativeEndian.Uint16(a[2:])
		if l < 4 || l > len(a) {
			return
		}
		if t == unixDiagPeer && l >= 8 {
			peers[ino] = binary.NativeEndian.Uint32(a[4:])
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
func externalUnixSockets(peers, hostPeers map[uint32]uint32, procRoot string, pids []int) map[int][]uint32 {
	held := map[uint32]bool{}
	byPid := map[int][]uint32{}
	for _, pid := range pids {
		for _, ino := range socketInodes(procRoot, pid) {
			held[ino] = true
			byPid[pid] = append(byPid[pid], ino)
		}
	}
	out := map[int][]uint32{}
	for pid, inos := range byPid {
		for _, ino := range inos {
			peer, isUnix := peers[ino]
			_, isHosts := hostPeers[ino]
			if (isUnix && peer != 0 && !held[peer]) || (!isUnix && isHosts) {
				out[pid] = append(out[pid], ino)
			}
		}
	}
	return out
}
