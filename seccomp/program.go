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

// Program is a filter already compiled to BPF. libseccomp generates the
// BPF only when asked to load or export, and that takes memory: a
// container's tight RLIMIT_AS or RLIMIT_DATA, set before the filter is
// loaded, would make seccomp_load fail (or the Go runtime abort). The
// compiled program loads with one syscall that allocates nothing.
type Program struct {
	filter []unix.SockFilter
	fprog  unix.SockFprog // points into filter; built once so Load allocates nothing
	flags  uintptr
}

// Prepare builds the filter for s and compiles it. nil s means no filter
// (a nil *Program, whose Load does nothing).
func Prepare(s *specs.LinuxSeccomp) (*Program, error) {
	if s == nil {
		return nil, nil
	}
	f, err := Build(s)
	if err != nil {
		return nil, err
	}
	defer f.Release()
	filter, err := exportBPF(f)
	if err != nil {
		return nil, err
	}
	if len(filter) == 0 || len(filter) > 0xffff {
		return nil, fmt.Errorf("seccomp: compiled filter has %d instructions", len(filter))
	}
	// The flags seccomp_load would pass for the attributes Build set:
	// TSYNC always (libseccomp-golang turns it on for every filter, and
	// Go's other threads need the filter too), LOG and SPEC_ALLOW when
	// asked. WAIT_KILLABLE_RECV only matters with a notify listener,
	// which Build refuses.
	p := &Program{filter: filter, flags: unix.SECCOMP_FILTER_FLAG_TSYNC}
	for _, fl := range s.Flags {
		switch fl {
		case specs.LinuxSeccompFlagLog:
			p.flags |= unix.SECCOMP_FILTER_FLAG_LOG
		case specs.LinuxSeccompFlagSpecAllow:
			p.flags |= unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
		}
	}
	p.fprog = unix.SockFprog{Len: uint16(len(filter)), Filter: &p.filter[0]}
	return p, nil
}

// Load installs the program in the calling process (every thread, by
// TSYNC). It neither allocates nor sets no_new_privs, so without
// no_new_privs it needs CAP_SYS_ADMIN.
func (p *Program) Load() error {
	if p == nil {
		return nil
	}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, p.flags, uintptr(unsafe.Pointer(&p.fprog)))
	switch {
	case errno == unix.EACCES:
		return fmt.Errorf("seccomp: load filter: %w (needs CAP_SYS_ADMIN or no_new_privs)", errno)
	case errno != 0:
		return fmt.Errorf("seccomp: load filter: %w", errno)
	case r != 0:
		// With TSYNC a positive return is a thread that could not take it.
		return fmt.Errorf("seccomp: load filter: thread %d could not be synchronized", r)
	}
	return nil
}

// exportBPF has libseccomp write the compiled filter to a memfd (the
// libseccomp 2.5 API has no in-memory export) and reads it back.
func exportBPF(f *libseccomp.ScmpFilter) ([]unix.SockFilter, error) {
	fd, err := unix.MemfdCreate("stasis-seccomp", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("seccomp: export filter: memfd_create: %w", err)
	}
	mf := os.NewFile(uintptr(fd), "stasis-seccomp")
	defer mf.Close()
	if err := f.ExportBPF(mf); err != nil {
		return nil, fmt.Errorf("seccomp: export filter: %w", err)
	}
	if _, err := mf.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("seccomp: export filter: %w", err)
	}
	raw, err := io.ReadAll(mf)
	if err != nil {
		return nil, fmt.Errorf("seccomp: export filter: %w", err)
	}
	return decodeBPF(raw)
}

// decodeBPF parses struct sock_filter records (u16 code, u8 jt, u8 jf,
// u32 k, in host byte order).
func decodeBPF(raw []byte) ([]unix.SockFilter, error) {
	const size = 8
	if len(raw)%size != 0 {
		return nil, errors.New("seccomp: export filter: truncated BPF program")
	}
	out := make([]unix.SockFilter, len(raw)/size)
	for i := range out {
		b := raw[i*size:]
		out[i] = unix.SockFilter{
			Code: binary.NativeEndian.Uint16(b[0:2]),
			Jt:   b[2],
			Jf:   b[3],
			K:    binary.NativeEndian.Uint32(b[4:8]),
		}
	}
	return out, nil
}
