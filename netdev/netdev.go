// Package netdev moves host network devices into a container's network
// namespace (runtime-spec linux.netDevices) over rtnetlink, without
// running ip(8).
package netdev

import (
	"encoding/binary"
	"fmt"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Move moves the host device name into the network namespace at nsPath,
// as newName ("" keeps the name; a "%d" in it lets the kernel number it),
// as the runtime spec asks: the permanent addresses of global scope come
// along (the kernel drops every address on the move) and the device is
// set up. Moving and renaming are one request, so the host name never
// clashes with a device already inside. It returns the name inside.
func Move(name, newName, nsPath string) (string, error) {
	if newName == "" {
		newName = name
	}
	host, err := net.InterfaceByName(name)
	if err != nil {
		return "", fmt.Errorf("find host device %s: %w", name, err)
	}
	hc, err := dial()
	if err != nil {
		return "", err
	}
	defer hc.Close()
	// Listed before the move: the move takes the device down, and going
	// down flushes IPv6 addresses.
	addrs, err := movableAddrs(hc, host.Index)
	if err != nil {
		return "", fmt.Errorf("list the addresses of %s: %w", name, err)
	}
	cc, err := dialIn(nsPath)
	if err != nil {
		return "", err
	}
	defer cc.Close()
	before, err := links(cc)
	if err != nil {
		return "", fmt.Errorf("list the container's devices: %w", err)
	}
	ns, err := openNetns(nsPath)
	if err != nil {
		return "", err
	}
	err = hc.do(unix.RTM_NEWLINK, 0, ifinfomsg(int32(host.Index), 0, 0),
		u32Attr(unix.IFLA_NET_NS_FD, uint32(ns)), strAttr(unix.IFLA_IFNAME, newName))
	unix.Close(ns)
	if err != nil {
		return "", fmt.Errorf("move %s into the container as %s: %w", name, newName, err)
	}
	// The device may have a new index there (and, with %d, a name only
	// the kernel knows): it is the one that was not there before.
	after, err := links(cc)
	if err != nil {
		return "", fmt.Errorf("list the container's devices: %w", err)
	}
	index, inside := 0, ""
	for i, n := range after {
		if _, old := before[i]; !old {
			index, inside = i, n
		}
	}
	if index == 0 {
		return "", fmt.Errorf("moved %s, but it is not in the container's namespace", name)
	}
	for _, a := range addrs {
		a.msg.Index = uint32(index)
		if err := cc.do(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL, ifaddrmsg(a.msg), a.attrs...); err != nil {
			return "", fmt.Errorf("add address %s to %s in the container: %w", a, inside, err)
		}
	}
	if err := cc.do(unix.RTM_NEWLINK, 0, ifinfomsg(int32(index), unix.IFF_UP, unix.IFF_UP)); err != nil {
		return "", fmt.Errorf("set %s up in the container: %w", inside, err)
	}
	return inside, nil
}

func openNetns(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	return fd, nil
}

// links maps the index of every device in c's namespace to its name.
func links(c *conn) (map[int]string, error) {
	msgs, err := c.dump(unix.RTM_GETLINK, ifinfomsg(0, 0, 0))
	if err != nil {
		return nil, err
	}
	out := map[int]string{}
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWLINK || len(m.Data) < unix.SizeofIfInfomsg {
			continue
		}
		info := (*unix.IfInfomsg)(unsafe.Pointer(&m.Data[0]))
		name := attrsOf(m, unix.SizeofIfInfomsg)[unix.IFLA_IFNAME]
		out[int(info.Index)] = cString(name)
	}
	return out, nil
}

// address is one address to re-create inside: its ifaddrmsg and the
// attributes that make it (not the label, named after the host device).
type address struct {
	msg   unix.IfAddrmsg
	attrs []attr
}

func (a address) String() string {
	for _, at := range a.attrs {
		if at.typ == unix.IFA_LOCAL || at.typ == unix.IFA_ADDRESS {
			return fmt.Sprintf("%s/%d", net.IP(at.data), a.msg.Prefixlen)
		}
	}
	return "?"
}

// movableAddrs lists the addresses of device index that the runtime spec
// says move with it: permanent (not from DHCP or autoconfiguration) and of
// global scope (RFC 3549 2.3.3.2).
func movableAddrs(c *conn, index int) ([]address, error) {
	msgs, err := c.dump(unix.RTM_GETADDR, ifaddrmsg(unix.IfAddrmsg{Family: unix.AF_UNSPEC}))
	if err != nil {
		return nil, err
	}
	var out []address
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWADDR || len(m.Data) < unix.SizeofIfAddrmsg {
			continue
		}
		msg := *(*unix.IfAddrmsg)(unsafe.Pointer(&m.Data[0]))
		if int(msg.Index) != index || msg.Scope != unix.RT_SCOPE_UNIVERSE {
			continue
		}
		at := attrsOf(m, unix.SizeofIfAddrmsg)
		flags := uint32(msg.Flags)
		if f, ok := at[unix.IFA_FLAGS]; ok && len(f) == 4 {
			flags = binary.NativeEndian.Uint32(f)
		}
		if flags&unix.IFA_F_PERMANENT == 0 {
			continue
		}
		a := address{msg: unix.IfAddrmsg{Family: msg.Family, Prefixlen: msg.Prefixlen, Scope: msg.Scope}}
		for _, t := range []uint16{unix.IFA_LOCAL, unix.IFA_ADDRESS, unix.IFA_BROADCAST} {
			if v, ok := at[t]; ok {
				a.attrs = append(a.attrs, attr{t, v})
			}
		}
		out = append(out, a)
	}
	return out, nil
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
