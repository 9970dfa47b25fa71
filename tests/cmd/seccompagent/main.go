// Command seccompagent is the tests' seccomp notify agent: it listens on
// a unix socket for the runtime to send a container's seccomp listener
// (a ContainerProcessState JSON with the fd as SCM_RIGHTS), writes that
// JSON to --state, and answers every notified syscall with --errno, so a
// test can see both the hand-over and the agent's answer in the container.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// struct seccomp_notif and struct seccomp_notif_resp (linux/seccomp.h).
type notif struct {
	id    uint64
	pid   uint32
	flags uint32
	nr    int32
	arch  uint32
	ip    uint64
	args  [6]uint64
}

type notifResp struct {
	id    uint64
	val   int64
	error int32
	flags uint32
}

func main() {
	state := flag.String("state", "", "write the ContainerProcessState received here")
	errno := flag.Int("errno", int(unix.ENOMEDIUM), "errno every notified syscall gets")
	ready := flag.String("ready", "", "create this file once listening")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: seccompagent [--state FILE] [--errno N] [--ready FILE] SOCKET")
		os.Exit(2)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: flag.Arg(0), Net: "unix"})
	if err != nil {
		fail(err)
	}
	if *ready != "" {
		os.WriteFile(*ready, nil, 0o644)
	}
	for {
		conn, err := l.AcceptUnix()
		if err != nil {
			fail(err)
		}
		buf := make([]byte, 64<<10)
		oob := make([]byte, unix.CmsgSpace(4))
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		conn.Close()
		if err != nil {
			fail(err)
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			fail(fmt.Errorf("no fd with the state (%v)", err))
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			fail(fmt.Errorf("want one fd (%v)", err))
		}
		if *state != "" {
			os.WriteFile(*state, buf[:n], 0o644)
		}
		go serve(fds[0], *errno)
	}
}

func serve(fd, errno int) {
	for {
		var req notif
		if err := ioctl(fd, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(&req)); err != nil {
			if err == unix.EINTR {
				continue
			}
			return // the container is gone
		}
		resp := notifResp{id: req.id, error: -int32(errno)}
		_ = ioctl(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&resp))
	}
}

func ioctl(fd int, req uint, arg unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
	if e != 0 {
		return e
	}
	return nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "seccompagent:", err)
	os.Exit(1)
}
