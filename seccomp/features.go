package seccomp

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// AnnotationLibseccompVersion is the `features` annotation runc uses for
// the libseccomp version, which features.Seccomp has no field for.
const AnnotationLibseccompVersion = "io.github.seccomp.libseccomp.version"

// LibseccompVersion returns the version of the libseccomp linked in, e.g.
// "2.5.4".
func LibseccompVersion() string {
	major, minor, micro := libseccomp.GetLibraryVersion()
	return fmt.Sprintf("%d.%d.%d", major, minor, micro)
}

// Features reports what this build supports, for `stasis features`.
func Features() *features.Seccomp {
	enabled := true
	var acts []string
	acts = append(acts, sortedKeys(actions)...)
	known := sortedKeys(knownFlags)
	supported := []string{}
	for _, fl := range known {
		if FlagSupported(specs.LinuxSeccompFlag(fl)) == nil {
			supported = append(supported, fl)
		}
	}
	return &features.Seccomp{
		Enabled:        &enabled,
		Actions:        acts,
		Operators:      sortedKeys(operators),
		Archs:          supportedArches(),
		KnownFlags:     known,
		SupportedFlags: supported,
	}
}

// supportedArches lists the OCI arches this libseccomp can put in a filter;
// the Go binding knows some (loongarch64, m68k, sh) that older C libraries
// do not. Each is tried alone, without the native arch, because one filter
// cannot mix byte orders.
func supportedArches() []string {
	native, err := libseccomp.GetNativeArch()
	if err != nil {
		return sortedKeys(arches)
	}
	var out []string
	for _, name := range sortedKeys(arches) {
		if archUsable(native, arches[specs.Arch(name)]) {
			out = append(out, name)
		}
	}
	return out
}

func archUsable(native, a libseccomp.ScmpArch) bool {
	f, err := libseccomp.NewFilter(libseccomp.ActAllow)
	if err != nil {
		return false
	}
	defer f.Release()
	if a == native {
		return true
	}
	return f.RemoveArch(native) == nil && f.AddArch(a) == nil
}

// probeKernelFlag is a seam for tests. seccomp(SECCOMP_SET_MODE_FILTER) with
// a NULL program checks the flags before touching the program, so EFAULT
// means "flag known" and EINVAL "flag unknown", without loading anything.
var probeKernelFlag = func(bit uint) error {
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(bit), 0)
	switch errno {
	case unix.EFAULT:
		return nil
	case 0:
		return errors.New("seccomp(2) accepted a NULL filter")
	}
	return errno
}

// FlagSupported reports whether fl is known here and usable with this
// libseccomp and kernel.
func FlagSupported(fl specs.LinuxSeccompFlag) error {
	bit, ok := knownFlags[fl]
	if !ok {
		return fmt.Errorf("seccomp: flag %q: unknown flag", fl)
	}
	if fl == specs.LinuxSeccompFlagWaitKillableRecv {
		// The kernel refuses this flag without NEW_LISTENER.
		bit |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
	}
	if err := libraryFlagSupported(fl); err != nil {
		return fmt.Errorf("seccomp: flag %q: %w", fl, err)
	}
	if err := probeKernelFlag(bit); err != nil {
		return fmt.Errorf("seccomp: flag %q: kernel: %w", fl, err)
	}
	return nil
}

func libraryFlagSupported(fl specs.LinuxSeccompFlag) error {
	f, err := libseccomp.NewFilter(libseccomp.ActAllow)
	if err != nil {
		return err
	}
	defer f.Release()
	switch fl {
	case specs.LinuxSeccompFlagLog:
		return f.SetLogBit(true)
	case specs.LinuxSeccompFlagSpecAllow:
		return f.SetSSB(true)
	case specs.LinuxSeccompFlagWaitKillableRecv:
		return f.SetWaitKill(true)
	}
	return nil
}
