package seccomp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Program is a filter already compiled to classic BPF, with its load
// flags. libseccomp generates the BPF only when asked to load or export,
// and that takes memory: a container's tight RLIMIT_AS or RLIMIT_DATA,
// set before the filter is loaded, would make seccomp_load fail (or the
// Go runtime abort). A Program loads with one syscall that allocates
// nothing; it also carries the ENOSYS stub (enosys.go).
type Program struct {
	insns  []unix.SockFilter
	fprog  unix.SockFprog // points into insns; built once so Load allocates nothing
	flags  uintptr
	notify bool // the filter has SCMP_ACT_NOTIFY rules: Load returns a listener
}

// Prepare builds the filter for s and compiles it; nothing is loaded. nil
// s means no filter (a nil *Program, whose Load does nothing).
func Prepare(s *specs.LinuxSeccomp) (*Program, error) {
	if s == nil {
		return nil, nil
	}
	f, err := Build(s)
	if err != nil {
		return nil, err
	}
	defer f.Release()
	raw, err := exportBPF(f)
	if err != nil {
		return nil, err
	}
	insns, err := decodeBPF(raw)
	if err != nil {
		return nil, err
	}
	stub, err := enosysStub(f, s)
	if err != nil {
		return nil, err
	}
	p := &Program{insns: append(stub, insns...), flags: unix.SECCOMP_FILTER_FLAG_TSYNC}
	if UsesNotify(s) {
		// The kernel takes TSYNC with a new listener only when told to
		// report a thread it cannot sync as ESRCH (the return value is
		// the listener fd then, not a thread id).
		p.flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
		p.notify = true
	}
	for _, fl := range s.Flags {
		switch fl {
		case specs.LinuxSeccompFlagLog:
			p.flags |= unix.SECCOMP_FILTER_FLAG_LOG
		case specs.LinuxSeccompFlagSpecAllow:
			p.flags |= unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
		case specs.LinuxSeccompFlagWaitKillableRecv:
			if p.notify {
				p.flags |= unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
			}
		}
	}
	if len(p.insns) > 0xffff {
		return nil, fmt.Errorf("seccomp: filter of %d instructions is too long", len(p.insns))
	}
	p.fprog = unix.SockFprog{Len: uint16(len(p.insns)), Filter: &p.insns[0]}
	return p, nil
}

// Load installs p in the calling process, every thread (TSYNC). It
// returns the notification listener's fd when the filter has
// SCMP_ACT_NOTIFY rules, -1 otherwise.
//
// It neither allocates nor sets no_new_privs, so without no_new_privs it
// needs CAP_SYS_ADMIN.
func (p *Program) Load() (listener int, err error) {
	if p == nil {
		return -1, nil
	}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, p.flags, uintptr(unsafe.Pointer(&p.fprog)))
	if errno != 0 {
		if errors.Is(errno, unix.EACCES) {
			return -1, fmt.Errorf("seccomp: load filter: %w (needs CAP_SYS_ADMIN or no_new_privs)", errno)
		}
		return -1, fmt.Errorf("seccomp: load filter: %w", errno)
	}
	if p.notify {
		return int(r), nil
	}
	if r != 0 {
		return -1, fmt.Errorf("seccomp: load filter: thread %d could not be synchronised", r)
	}
	return -1, nil
}

// exportBPF gets libseccomp's program through a memfd: Debian 12's
// libseccomp (2.5.4) has no seccomp_export_bpf_mem.
func exportBPF(f *libseccomp.ScmpFilter) ([]byte, error) {
	fd, err := unix.MemfdCreate("seccomp-bpf", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("seccomp: export filter: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "seccomp-bpf")
	defer mem.Close()
	if err := f.ExportBPF(mem); err != nil {
		return nil, fmt.Errorf("seccomp: export filter: %w", err)
	}
	if _, err := mem.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("seccomp: export filter: %w", err)
	}
	raw, err := io.ReadAll(mem)
	if err != nil {
		return nil, fmt.Errorf("seccomp: export filter: %w", err)
	}
	return raw, nil
}

// decodeBPF reads libseccomp's exported program (struct sock_filter in
// host byte order).
func decodeBPF(raw []byte) ([]unix.SockFilter, error) {
	const size = 8
	if len(raw) == 0 || len(raw)%size != 0 {
		return nil, fmt.Errorf("seccomp: exported filter has %d bytes, not a whole number of instructions", len(raw))
	}
	out := make([]unix.SockFilter, len(raw)/size)
	for i := range out {
		b := raw[i*size:]
		out[i] = unix.SockFilter{
			Code: binary.NativeEndian.Uint16(b[0:]),
			Jt:   b[2],
			Jf:   b[3],
			K:    binary.NativeEndian.Uint32(b[4:]),
		}
	}
	return out, nil
}
