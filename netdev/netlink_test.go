package netdev

import (
	"bytes"
	"encoding/binary"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// A request is laid out as rtnetlink wants it: the header's length covers
// everything, the fixed part and each attribute padded to 4 bytes.
func TestEncodeAndParseAttributes(t *testing.T) {
	b := encode(unix.RTM_NEWLINK, unix.NLM_F_REQUEST, 7, ifinfomsg(5, 0, 0),
		[]attr{strAttr(unix.IFLA_IFNAME, "ctr0"), u32Attr(unix.IFLA_NET_NS_FD, 9)})
	if len(b)%4 != 0 || binary.NativeEndian.Uint32(b) != uint32(len(b)) {
		t.Fatalf("length %d, header says %d", len(b), binary.NativeEndian.Uint32(b))
	}
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("parse: %v %v", msgs, err)
	}
	m := msgs[0]
	if m.Header.Type != unix.RTM_NEWLINK || m.Header.Seq != 7 {
		t.Fatalf("header %+v", m.Header)
	}
	at := attrsOf(m, unix.SizeofIfInfomsg)
	if !bytes.Equal(at[unix.IFLA_IFNAME], []byte("ctr0\x00")) {
		t.Fatalf("name attribute %q", at[unix.IFLA_IFNAME])
	}
	if binary.NativeEndian.Uint32(at[unix.IFLA_NET_NS_FD]) != 9 {
		t.Fatalf("netns fd attribute %v", at[unix.IFLA_NET_NS_FD])
	}
}
