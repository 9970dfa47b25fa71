// Command nsmounts prints every mount of a process's mount namespace,
// including those the process's root hides: /proc/PID/mountinfo leaves out
// every mount its root cannot reach, such as the old root still mounted
// below a chroot (stasis --no-pivot: MS_MOVE + chroot). It asks the kernel
// with listmount(2) and statmount(2) on the namespace's id (Linux 6.11 for
// a namespace other than the caller's).
//
//	nsmounts PID
//
// prints one line per mount, in mount-id order:
//
//	MAJOR:MINOR ROOT MOUNTPOINT FSTYPE
//
// ROOT is the mount's root inside its file system (mountinfo's field 4)
// and MOUNTPOINT is relative to the namespace's first mount. Exit status
// 3 means this kernel cannot list another namespace's mounts (a test
// skips), 1 any other failure.
package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	lsmtRoot = ^uint64(0) // LSMT_ROOT: list the whole namespace

	statmountSBBasic  = 0x01 // STATMOUNT_SB_BASIC: sb_dev_*
	statmountMntBasic = 0x02 // STATMOUNT_MNT_BASIC
	statmountMntRoot  = 0x08 // STATMOUNT_MNT_ROOT
	statmountMntPoint = 0x10 // STATMOUNT_MNT_POINT
	statmountFSType   = 0x20 // STATMOUNT_FS_TYPE

	// struct statmount (include/uapi/linux/mount.h): offsets of the fields
	// read here; the strings follow the 512-byte fixed part.
	offDevMajor = 16
	offDevMinor = 20
	offFSType   = 36
	offMntRoot  = 104
	offMntPoint = 108
	strBase     = 512
)

// mntIDReq is struct mnt_id_req, MNT_ID_REQ_SIZE_VER1.
type mntIDReq struct {
	size    uint32
	spare   uint32
	mntID   uint64
	param   uint64
	mntNSID uint64
}

type unsupported struct{ error }

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: nsmounts PID")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintf(os.Stderr, "nsmounts: %v\n", err)
		var u unsupported
		if errors.As(err, &u) {
			os.Exit(3)
		}
		os.Exit(1)
	}
}

func run(pid string) error {
	f, err := os.Open("/proc/" + pid + "/ns/mnt")
	if err != nil {
		return err
	}
	defer f.Close()
	var nsID uint64
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.NS_GET_MNTNS_ID, uintptr(unsafe.Pointer(&nsID))); e != 0 {
		if e == unix.ENOTTY || e == unix.EINVAL {
			return unsupported{fmt.Errorf("NS_GET_MNTNS_ID: %w", e)}
		}
		return fmt.Errorf("NS_GET_MNTNS_ID: %w", e)
	}
	ids, err := listMounts(nsID)
	if err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	for _, id := range ids {
		line, err := statMount(nsID, id, buf)
		if errors.Is(err, unix.ENOENT) {
			continue // unmounted since the listing
		}
		if err != nil {
			return fmt.Errorf("statmount %d: %w", id, err)
		}
		fmt.Println(line)
	}
	return nil
}

func listMounts(nsID uint64) ([]uint64, error) {
	var all []uint64
	batch := make([]uint64, 256)
	last := uint64(0)
	for {
		req := mntIDReq{size: uint32(unsafe.Sizeof(mntIDReq{})), mntID: lsmtRoot, param: last, mntNSID: nsID}
		n, _, e := unix.Syscall6(unix.SYS_LISTMOUNT, uintptr(unsafe.Pointer(&req)),
			uintptr(unsafe.Pointer(&batch[0])), uintptr(len(batch)), 0, 0, 0)
		if e == unix.ENOSYS || e == unix.E2BIG || e == unix.EINVAL {
			return nil, unsupported{fmt.Errorf("listmount: %w", e)}
		}
		if e != 0 {
			return nil, fmt.Errorf("listmount: %w", e)
		}
		all = append(all, batch[:n]...)
		if int(n) < len(batch) {
			return all, nil
		}
		last = batch[n-1]
	}
}

func statMount(nsID, id uint64, buf []byte) (string, error) {
	req := mntIDReq{size: uint32(unsafe.Sizeof(mntIDReq{})), mntID: id, mntNSID: nsID,
		param: statmountSBBasic | statmountMntBasic | statmountMntRoot | statmountMntPoint | statmountFSType}
	_, _, e := unix.Syscall6(unix.SYS_STATMOUNT, uintptr(unsafe.Pointer(&req)),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
	if e != 0 {
		return "", e
	}
	le := binary.NativeEndian
	str := func(off int) string {
		s := buf[strBase+int(le.Uint32(buf[off:])):]
		for i, c := range s {
			if c == 0 {
				return string(s[:i])
			}
		}
		return string(s)
	}
	return fmt.Sprintf("%d:%d %s %s %s", le.Uint32(buf[offDevMajor:]), le.Uint32(buf[offDevMinor:]),
		str(offMntRoot), str(offMntPoint), str(offFSType)), nil
}
