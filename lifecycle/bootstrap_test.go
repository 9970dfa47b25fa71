package lifecycle

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestBootstrapJoinsUserFirstMountLast(t *testing.T) {
	s := &specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
		{Type: specs.MountNamespace, Path: "/proc/1/ns/mnt"},
		{Type: specs.NetworkNamespace, Path: "/run/netns/x"},
		{Type: specs.PIDNamespace},
		{Type: specs.UserNamespace, Path: "/proc/1/ns/user"},
		{Type: specs.UTSNamespace},
	}}}
	b := newBootstrap(s)
	var order []specs.LinuxNamespaceType
	for _, j := range b.joins {
		order = append(order, j.typ)
	}
	want := []specs.LinuxNamespaceType{specs.UserNamespace, specs.NetworkNamespace, specs.MountNamespace}
	if len(order) != len(want) {
		t.Fatalf("join order %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("join order %v, want %v", order, want)
		}
	}
	if b.flags != unix.CLONE_NEWPID|unix.CLONE_NEWUTS {
		t.Fatalf("flags %#x", b.flags)
	}
}

// The wire format must match nsenter.c: u32 type, u32 length, payload.
func TestBootstrapWireFormat(t *testing.T) {
	var buf bytes.Buffer
	if err := writeMsg(&buf, bsNsPath, []byte("net:/x")); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	if binary.NativeEndian.Uint32(raw[0:]) != 1 || binary.NativeEndian.Uint32(raw[4:]) != 6 || string(raw[8:]) != "net:/x" {
		t.Fatalf("wire bytes %v", raw)
	}
	typ, payload, err := readMsg(&buf)
	if err != nil || typ != bsNsPath || string(payload) != "net:/x" {
		t.Fatalf("round trip: %d %q %v", typ, payload, err)
	}
}

func TestNamedFdsKeepPreservedFdsInPlace(t *testing.T) {
	a, b, c := os.NewFile(100, "a"), os.NewFile(101, "b"), os.NewFile(102, "c")
	n := namedFds{preserved: []*os.File{a, b}}
	n.add(envInitSock, c)
	extra, env := n.layout()
	if len(extra) != 3 || extra[0] != a || extra[1] != b || extra[2] != c {
		t.Fatalf("extra files %v", extra)
	}
	if len(env) != 1 || env[0] != envInitSock+"=5" {
		t.Fatalf("env %v, want the socket named as fd 5", env)
	}
}
