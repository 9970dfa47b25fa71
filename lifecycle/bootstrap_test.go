package lifecycle

import (
	"bytes"
	"encoding/binary"
	"os"
	"strings"
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

// With linux.timeOffsets, stage 0 is told to ask for them (before END),
// and a refused write is an error naming the field, not a hang.
func TestBootstrapTimeOffsets(t *testing.T) {
	s := &specs.Spec{Linux: &specs.Linux{
		Namespaces:  []specs.LinuxNamespace{{Type: specs.TimeNamespace}},
		TimeOffsets: map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 7881}},
	}}
	b := newBootstrap(s)
	if b.timeOffsets != "monotonic 7881 0\n" || b.flags != unix.CLONE_NEWTIME {
		t.Fatalf("bootstrap %+v", b)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	ours, stage0 := os.NewFile(uintptr(fds[0]), "ours"), os.NewFile(uintptr(fds[1]), "stage0")
	defer ours.Close()
	defer stage0.Close()
	got := make(chan []uint32, 1)
	go func() {
		var types []uint32
		for {
			typ, _, err := readMsg(stage0)
			if err != nil {
				break
			}
			types = append(types, typ)
			if typ == bsEnd {
				// a pid whose timens_offsets cannot be written
				pid := make([]byte, 4)
				binary.NativeEndian.PutUint32(pid, 999999999)
				writeMsg(stage0, bsTimensReq, pid)
			}
		}
		got <- types
	}()
	_, err = b.run(ours)
	if err == nil || !strings.Contains(err.Error(), "linux.timeOffsets (monotonic 7881 0)") {
		t.Fatalf("run: %v, want an error naming linux.timeOffsets", err)
	}
	ours.Close()
	if types := <-got; len(types) != 3 || types[1] != bsTimeOffsets || types[2] != bsEnd {
		t.Fatalf("stage 0 got messages %v, want flags, time offsets, end", types)
	}
}
