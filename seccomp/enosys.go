package seccomp

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// A profile is written against the syscalls its author knew of. A newer
// syscall, unknown to the profile, would get the default action (EPERM,
// say), and programs that probe for a new syscall and fall back to an old
// one when it is missing only fall back on ENOSYS: glibc's clone3, for
// one. So, as runc does, a syscall numbered above every syscall the
// profile names (per architecture) returns ENOSYS instead, unless the
// default action lets it through anyway. That is a stub of classic BPF
// run before libseccomp's program:
//
//	ld  [arch]
//	jeq AUDIT_ARCH_A, +0, next   ; for each architecture A of the filter
//	ld  [nr]
//	jset X32_BIT, orig, +0        ; x86_64 only: x32 numbers are not ours
//	jgt MAX_A, enosys, orig
//	next: ...
//	ja  orig
//	enosys: ret ERRNO(ENOSYS)
//	orig: libseccomp's program

// Offsets in struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
)

const x32SyscallBit = 0x40000000

// auditArch is each architecture's AUDIT_ARCH_* value (linux/audit.h),
// which is what seccomp_data.arch holds.
var auditArch = map[libseccomp.ScmpArch]uint32{
	libseccomp.ArchAMD64:   0xC000003E,
	libseccomp.ArchX86:     0x40000003,
	libseccomp.ArchARM64:   0xC00000B7,
	libseccomp.ArchARM:     0x40000028,
	libseccomp.ArchPPC64LE: 0xC0000015,
	libseccomp.ArchS390X:   0x80000016,
	libseccomp.ArchRISCV64: 0xC00000F3,
}

// enosysStub builds the stub described at the top of this file, or none
// when the default action already lets unknown syscalls through.
func enosysStub(f *libseccomp.ScmpFilter, s *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	switch s.DefaultAction {
	case specs.ActAllow, specs.ActLog:
		return nil, nil
	}
	native, err := libseccomp.GetNativeArch()
	if err != nil {
		return nil, fmt.Errorf("seccomp: native architecture: %w", err)
	}
	archs := []libseccomp.ScmpArch{native}
	for _, a := range s.Architectures {
		sa := arches[a]
		if present, err := f.IsArchPresent(sa); err == nil && present && sa != native {
			archs = append(archs, sa)
		}
	}
	type check struct {
		audit uint32
		max   uint32
		x32   bool // x86_64: leave numbers with the x32 bit to libseccomp
	}
	var checks []check
	for _, a := range archs {
		audit, ok := auditArch[a]
		if !ok {
			continue
		}
		max, found := uint32(0), false
		for _, sc := range s.Syscalls {
			for _, name := range sc.Names {
				nr, err := libseccomp.GetSyscallFromNameByArch(name, a)
				if err != nil || int32(nr) < 0 {
					continue // not on this architecture
				}
				if uint32(nr) > max {
					max = uint32(nr)
				}
				found = true
			}
		}
		if found {
			checks = append(checks, check{audit: audit, max: max, x32: a == libseccomp.ArchAMD64})
		}
	}
	if len(checks) == 0 {
		return nil, nil
	}
	stmt := func(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }
	jump := func(code uint16, k uint32, jt, jf uint8) unix.SockFilter {
		return unix.SockFilter{Code: code, K: k, Jt: jt, Jf: jf}
	}
	const (
		ldW  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jgt  = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
		jset = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
		ja   = unix.BPF_JMP | unix.BPF_JA
		ret  = unix.BPF_RET | unix.BPF_K
	)
	// Laid out backwards from the end, so each jump knows how far its
	// targets are: the "enosys" return, then "orig" right after it.
	var body [][]unix.SockFilter
	for _, c := range checks {
		var blk []unix.SockFilter
		blk = append(blk, stmt(ldW, offNr))
		if c.x32 {
			blk = append(blk, unix.SockFilter{}) // jset, filled below
		}
		blk = append(blk, unix.SockFilter{}) // jgt, filled below
		body = append(body, blk)
	}
	// Sizes: ld arch (1) + per check: jeq (1) + block; then ja orig (1),
	// ret enosys (1).
	var prog []unix.SockFilter
	prog = append(prog, stmt(ldW, offArch))
	total := 1
	for _, blk := range body {
		total += 1 + len(blk)
	}
	enosysAt := total + 1 // after the final "ja orig"
	origAt := enosysAt + 1
	for i, c := range checks {
		blk := body[i]
		pos := len(prog) // index of this jeq
		next := pos + 1 + len(blk)
		prog = append(prog, jump(jeq, c.audit, 0, uint8(next-(pos+1))))
		for j := range blk {
			at := len(prog)
			switch {
			case j == 0:
				prog = append(prog, blk[0])
			case c.x32 && j == 1:
				prog = append(prog, jump(jset, x32SyscallBit, uint8(origAt-(at+1)), 0))
			default:
				prog = append(prog, jump(jgt, c.max, uint8(enosysAt-(at+1)), uint8(origAt-(at+1))))
			}
		}
	}
	prog = append(prog, stmt(ja, 0)) // to orig, which follows the return
	prog[len(prog)-1].K = uint32(origAt - len(prog))
	prog = append(prog, stmt(ret, unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS)))
	if len(prog) != origAt || origAt > 255 {
		return nil, fmt.Errorf("seccomp: internal error laying out the ENOSYS stub (%d instructions)", len(prog))
	}
	return prog, nil
}
