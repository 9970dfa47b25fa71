package netdev

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// conn is an rtnetlink socket, bound to the network namespace it was
// made in for its whole life.
type conn struct {
	fd  int
	seq uint32
}

func dial() (*conn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	return &conn{fd: fd}, nil
}

// dialIn makes the socket inside the network namespace at nsPath. setns
// is per thread, so a locked thread goes there and back; if it cannot
// come back it is never unlocked, and the runtime ends it with the
// goroutine instead of reusing a thread in the wrong namespace.
func dialIn(nsPath string) (*conn, error) {
	type result struct {
		c   *conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		back, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer back.Close()
		target, err := os.Open(nsPath)
		if err != nil {
			ch <- result{nil, fmt.Errorf("open network namespace: %w", err)}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{nil, fmt.Errorf("enter network namespace %s: %w", nsPath, err)}
			runtime.UnlockOSThread()
			return
		}
		c, err := dial()
		if unix.Setns(int(back.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

func (c *conn) Close() { unix.Close(c.fd) }

// attr is one rtattr: type and payload.
type attr struct {
	typ  uint16
	data []byte
}

func strAttr(typ uint16, s string) attr { return attr{typ, append([]byte(s), 0)} }

func u32Attr(typ uint16, v uint32) attr {
	b := make([]byte, 4)
	binary.NativeEndian.PutUint32(b, v)
	return attr{typ, b}
}

func align4(n int) int { return (n + 3) &^ 3 }

// encode lays out a request: header, fixed part (ifinfomsg, ifaddrmsg),
// attributes, each padded to 4 bytes.
func encode(typ, flags uint16, seq uint32, fixed []byte, attrs []attr) []byte {
	b := make([]byte, unix.SizeofNlMsghdr, 256)
	b = append(b, fixed...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	for _, a := range attrs {
		hdr := make([]byte, unix.SizeofRtAttr)
		binary.NativeEndian.PutUint16(hdr[0:], uint16(unix.SizeofRtAttr+len(a.data)))
		binary.NativeEndian.PutUint16(hdr[2:], a.typ)
		b = append(b, hdr...)
		b = append(b, a.data...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint16(b[6:], flags)
	binary.NativeEndian.PutUint32(b[8:], seq)
	return b
}

func ifinfomsg(index int32, flags, change uint32) []byte {
	m := unix.IfInfomsg{Family: unix.AF_UNSPEC, Index: index, Flags: flags, Change: change}
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&m)), unix.SizeofIfInfomsg)...)
}

func ifaddrmsg(m unix.IfAddrmsg) []byte {
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&m)), unix.SizeofIfAddrmsg)...)
}

// do sends a request that changes something and waits for its ack.
func (c *conn) do(typ, flags uint16, fixed []byte, attrs ...attr) error {
	_, err := c.roundTrip(typ, flags|unix.NLM_F_REQUEST|unix.NLM_F_ACK, fixed, attrs)
	return err
}

// dump sends a dump request and returns every message of the answer.
func (c *conn) dump(typ uint16, fixed []byte) ([]syscall.NetlinkMessage, error) {
	return c.roundTrip(typ, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, fixed, nil)
}

func (c *conn) roundTrip(typ, flags uint16, fixed []byte, attrs []attr) ([]syscall.NetlinkMessage, error) {
	c.seq++
	seq := c.seq
	if err := unix.Sendto(c.fd, encode(typ, flags, seq, fixed, attrs), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink send: %w", err)
	}
	var out []syscall.NetlinkMessage
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("netlink receive: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, fmt.Errorf("netlink receive: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return out, nil
			case unix.NLMSG_ERROR:
				if len(m.Data) < 4 {
					return nil, errors.New("netlink: short error message")
				}
				if errno := -int32(binary.NativeEndian.Uint32(m.Data)); errno != 0 {
					return nil, unix.Errno(errno)
				}
				return out, nil
			default:
				out = append(out, m)
			}
		}
	}
}

// attrsOf parses the attributes after a message's fixed part of size n.
func attrsOf(m syscall.NetlinkMessage, n int) map[uint16][]byte {
	out := map[uint16][]byte{}
	if len(m.Data) < n {
		return out
	}
	b := m.Data[align4(n):]
	for len(b) >= unix.SizeofRtAttr {
		l := int(binary.NativeEndian.Uint16(b[0:]))
		t := binary.NativeEndian.Uint16(b[2:])
		if l < unix.SizeofRtAttr || l > len(b) {
			break
		}
		out[t&^unix.NLA_F_NESTED] = b[unix.SizeofRtAttr:l]
		b = b[min(align4(l), len(b)):]
	}
	return out
}
