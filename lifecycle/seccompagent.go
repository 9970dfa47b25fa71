package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// recvListener takes the seccomp listener the init sends in step 8b: one
// byte with SCM_RIGHTS. The JSON decoder on the same socket may hold the
// newline that ended the previous message; that stray byte carries no fd
// and is skipped.
func recvListener(sock *os.File) (int, error) {
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4))
	for i := 0; i < 4; i++ {
		n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err != nil {
			return -1, fmt.Errorf("receive seccomp listener: %w", err)
		}
		if n == 0 {
			return -1, errors.New("receive seccomp listener: the init closed the socket")
		}
		if oobn == 0 {
			continue
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			return -1, fmt.Errorf("receive seccomp listener: bad control message (%v)", err)
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			return -1, fmt.Errorf("receive seccomp listener: want one fd (%v)", err)
		}
		return fds[0], nil
	}
	return -1, errors.New("receive seccomp listener: no fd came")
}

// sendToAgent gives the seccomp agent at s.ListenerPath the listener of
// process pid and the container's state, as the runtime spec says
// (config-linux.md, "Seccomp"; a ContainerProcessState with fds
// ["seccompFd"], sent with SCM_RIGHTS). runc's words start the error,
// since its users and tests know them.
func sendToAgent(s *specs.LinuxSeccomp, st *specs.State, pid, listener int) error {
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: s.ListenerPath, Net: "unix"})
	if err != nil {
		return fmt.Errorf("failed to connect with seccomp agent specified in the seccomp profile (linux.seccomp.listenerPath %s): %w", s.ListenerPath, err)
	}
	defer conn.Close()
	msg, err := json.Marshal(specs.ContainerProcessState{
		Version:  specs.Version,
		Fds:      []string{specs.SeccompFdName},
		Pid:      pid,
		Metadata: s.ListenerMetadata,
		State:    *st,
	})
	if err != nil {
		return err
	}
	if _, _, err := conn.WriteMsgUnix(msg, unix.UnixRights(listener), nil); err != nil {
		return fmt.Errorf("send the seccomp listener to the agent at %s: %w", s.ListenerPath, err)
	}
	return nil
}
