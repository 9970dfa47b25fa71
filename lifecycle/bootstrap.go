package lifecycle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/spec"
)

// Message types of nsenter.c's bootstrap (steps 3-5 of protocol.go).
const (
	bsNsPath      = 1
	bsCloneFlags  = 2
	bsEnd         = 3
	bsTimeOffsets = 4
	bsUsermapReq  = 10
	bsChildPid    = 11
	bsError       = 12
	bsTimensReq   = 13
	bsUsermapAck  = 20
	bsTimensAck   = 21
)

var nsCloneFlags = map[specs.LinuxNamespaceType]uint32{
	specs.PIDNamespace:     unix.CLONE_NEWPID,
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace:   unix.CLONE_NEWNS,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
	specs.UserNamespace:    unix.CLONE_NEWUSER,
	specs.CgroupNamespace:  unix.CLONE_NEWCGROUP,
	specs.TimeNamespace:    unix.CLONE_NEWTIME,
}

// joinOrder: the user namespace first (joining it grants the rights to
// join the others), the mount namespace last (the others' paths are host
// paths).
var joinOrder = []specs.LinuxNamespaceType{
	specs.UserNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.NetworkNamespace,
	specs.PIDNamespace, specs.CgroupNamespace, specs.TimeNamespace, specs.MountNamespace,
}

type nsJoin struct {
	typ  specs.LinuxNamespaceType
	path string
}

// bootstrap is what stage 0 is told to do with namespaces.
type bootstrap struct {
	joins   []nsJoin
	flags   uint32
	uidMaps []specs.LinuxIDMapping
	gidMaps []specs.LinuxIDMapping
	// timeOffsets is linux.timeOffsets as timens_offsets takes them; ""
	// leaves a new time namespace at the host's clocks.
	timeOffsets string
}

func newBootstrap(s *specs.Spec) *bootstrap {
	b := &bootstrap{}
	if s.Linux == nil {
		return b
	}
	byType := map[specs.LinuxNamespaceType]specs.LinuxNamespace{}
	for _, ns := range s.Linux.Namespaces {
		byType[ns.Type] = ns
	}
	for _, t := range joinOrder {
		ns, ok := byType[t]
		if !ok {
			continue
		}
		if ns.Path != "" {
			b.joins = append(b.joins, nsJoin{t, ns.Path})
		} else {
			b.flags |= nsCloneFlags[t]
		}
	}
	b.uidMaps, b.gidMaps = s.Linux.UIDMappings, s.Linux.GIDMappings
	if len(s.Linux.TimeOffsets) > 0 {
		b.timeOffsets = spec.TimeOffsets(s.Linux.TimeOffsets)
	}
	return b
}

func writeMsg(w io.Writer, typ uint32, payload []byte) error {
	hdr := make([]byte, 8, 8+len(payload))
	binary.NativeEndian.PutUint32(hdr[0:], typ)
	binary.NativeEndian.PutUint32(hdr[4:], uint32(len(payload)))
	_, err := w.Write(append(hdr, payload...))
	return err
}

func readMsg(r io.Reader) (uint32, []byte, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	typ := binary.NativeEndian.Uint32(hdr[0:])
	n := binary.NativeEndian.Uint32(hdr[4:])
	if n > 1<<16 {
		return 0, nil, fmt.Errorf("bootstrap message of %d bytes", n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	return typ, payload, nil
}

// run performs steps 3-5 with stage 0 over sock and returns the pid of
// the container init (stage 1).
func (b *bootstrap) run(sock io.ReadWriter) (int, error) {
	for _, j := range b.joins {
		if err := writeMsg(sock, bsNsPath, []byte(string(j.typ)+":"+j.path)); err != nil {
			return 0, fmt.Errorf("send bootstrap: %w", err)
		}
	}
	flags := make([]byte, 4)
	binary.NativeEndian.PutUint32(flags, b.flags)
	if err := writeMsg(sock, bsCloneFlags, flags); err != nil {
		return 0, fmt.Errorf("send bootstrap: %w", err)
	}
	if b.timeOffsets != "" {
		if err := writeMsg(sock, bsTimeOffsets, nil); err != nil {
			return 0, fmt.Errorf("send bootstrap: %w", err)
		}
	}
	if err := writeMsg(sock, bsEnd, nil); err != nil {
		return 0, fmt.Errorf("send bootstrap: %w", err)
	}
	for {
		typ, payload, err := readMsg(sock)
		if err != nil {
			return 0, fmt.Errorf("read from namespace setup: %w", err)
		}
		switch typ {
		case bsUsermapReq:
			pid := int(int32(binary.NativeEndian.Uint32(payload)))
			if err := writeIDMaps(pid, b.uidMaps, b.gidMaps); err != nil {
				return 0, err
			}
			if err := writeMsg(sock, bsUsermapAck, nil); err != nil {
				return 0, fmt.Errorf("send bootstrap: %w", err)
			}
		case bsTimensReq:
			pid := int(int32(binary.NativeEndian.Uint32(payload)))
			if err := writeTimeOffsets(pid, b.timeOffsets); err != nil {
				return 0, err
			}
			if err := writeMsg(sock, bsTimensAck, nil); err != nil {
				return 0, fmt.Errorf("send bootstrap: %w", err)
			}
		case bsChildPid:
			return int(int32(binary.NativeEndian.Uint32(payload))), nil
		case bsError:
			return 0, errors.New(string(payload))
		default:
			return 0, fmt.Errorf("unexpected bootstrap message %d", typ)
		}
	}
}

// writeIDMaps is done by the parent: only a process with CAP_SETUID in
// the parent user namespace may map arbitrary host ids.
func writeIDMaps(pid int, uids, gids []specs.LinuxIDMapping) error {
	write := func(file string, maps []specs.LinuxIDMapping) error {
		var sb strings.Builder
		for _, m := range maps {
			fmt.Fprintf(&sb, "%d %d %d\n", m.ContainerID, m.HostID, m.Size)
		}
		path := fmt.Sprintf("/proc/%d/%s", pid, file)
		if err := os.WriteFile(path, []byte(sb.String()), 0); err != nil {
			return fmt.Errorf("write %s: %w", file, err)
		}
		return nil
	}
	if err := write("uid_map", uids); err != nil {
		return err
	}
	return write("gid_map", gids)
}

// writeTimeOffsets is done by the parent for the same reason as the id
// maps: stage 0's /proc files belong to the host's root, whatever user
// namespace it has made.
func writeTimeOffsets(pid int, offsets string) error {
	path := fmt.Sprintf("/proc/%d/timens_offsets", pid)
	if err := os.WriteFile(path, []byte(offsets), 0); err != nil {
		return fmt.Errorf("set linux.timeOffsets (%s): %w", strings.ReplaceAll(strings.TrimSpace(offsets), "\n", ", "), err)
	}
	return nil
}
