// Package checkpoint freezes a running container to CRIU images and
// brings it back (stasis checkpoint / restore). CRIU is driven over its
// RPC interface (`criu swrk`, messages from go-criu's rpc package); this
// package decides everything around it: mounts, cgroups, stdio,
// namespaces, metadata and how failures are explained.
package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"

	"github.com/checkpoint-restore/go-criu/v7/rpc"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
)

// swrk is one `criu swrk` process and the socket we talk to it over.
// go-criu's own client cannot hand CRIU extra fds (inherit-fd needs our
// new stdio pipes and the external netns in CRIU's fd table) nor receive
// the fd of the orphan-pts-master notification, so we speak the RPC here.
type swrk struct {
	cmd  *exec.Cmd
	sock *os.File
}

// swrkFd is the fd number of the RPC socket in CRIU: right after stdio.
const swrkFd = 3

// startSwrk starts CRIU with our stdio (so inherit-fd can name fds 0-2)
// and extra files at fds 4, 5, ... .
func startSwrk(criuPath string, stdio [3]*os.File, extra []*os.File) (*swrk, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair for criu: %w", err)
	}
	ours := os.NewFile(uintptr(fds[0]), "criu-client")
	theirs := os.NewFile(uintptr(fds[1]), "criu-server")
	defer theirs.Close()
	// No Pdeathsig: a CRIU killed along with stasis mid-dump could take
	// the tasks with it (its parasite is in them); left alone, it fails
	// at its next message to the dead stasis and rolls back, and the next
	// command on the container waits for that (lifecycle/recover.go).
	cmd := exec.Command(criuPath, "swrk", strconv.Itoa(swrkFd))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio[0], stdio[1], stdio[2]
	cmd.ExtraFiles = append([]*os.File{theirs}, extra...)
	if err := cmd.Start(); err != nil {
		ours.Close()
		return nil, fmt.Errorf("start %s swrk: %w (is CRIU installed? see --criu)", criuPath, err)
	}
	return &swrk{cmd: cmd, sock: ours}, nil
}

// criuExtraFd is the fd number the i-th extra file has inside CRIU.
func criuExtraFd(i int) int32 { return int32(swrkFd + 1 + i) }

// notification is one CRIU notify message; Fd is set for the ones that
// carry a descriptor (orphan-pts-master).
type notification struct {
	Script string
	Pid    int32
	Fd     *os.File
}

// call sends req and answers CRIU's notifications with onNotify until the
// final response. A CRIU-side failure comes back as *criuError.
func (s *swrk) call(req *rpc.CriuReq, onNotify func(notification) error) (*rpc.CriuResp, error) {
	if onNotify != nil {
		req.Opts.NotifyScripts = proto.Bool(true)
	}
	reqType := req.GetType()
	for {
		data, err := proto.Marshal(req)
		if err != nil {
			return nil, err
		}
		if _, err := s.sock.Write(data); err != nil {
			return nil, fmt.Errorf("send request to criu: %w", err)
		}
		resp, fd, err := s.recv()
		if err != nil {
			return nil, err
		}
		if !resp.GetSuccess() {
			if fd != nil {
				fd.Close()
			}
			return resp, &criuError{Type: reqType, Errno: int(resp.GetCrErrno()), Msg: resp.GetCrErrmsg()}
		}
		if resp.GetType() != rpc.CriuReqType_NOTIFY {
			return resp, nil
		}
		n := notification{Script: resp.GetNotify().GetScript(), Pid: resp.GetNotify().GetPid(), Fd: fd}
		if onNotify != nil {
			if err := onNotify(n); err != nil {
				return nil, &notifyError{script: n.Script, err: err}
			}
		} else if fd != nil {
			fd.Close()
		}
		notifyType := rpc.CriuReqType_NOTIFY
		req = &rpc.CriuReq{Type: &notifyType, NotifySuccess: proto.Bool(true)}
	}
}

func (s *swrk) recv() (*rpc.CriuResp, *os.File, error) {
	buf := make([]byte, 64*1024)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(s.sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, nil, fmt.Errorf("read from criu: %w", err)
	}
	if n == 0 {
		return nil, nil, errors.New("criu closed the connection (it crashed or was killed)")
	}
	var fd *os.File
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err == nil && len(msgs) > 0 {
			if fds, err := unix.ParseUnixRights(&msgs[0]); err == nil && len(fds) > 0 {
				fd = os.NewFile(uintptr(fds[0]), "criu-fd")
			}
		}
	}
	resp := &rpc.CriuResp{}
	if err := proto.Unmarshal(buf[:n], resp); err != nil {
		return nil, nil, fmt.Errorf("decode criu response: %w", err)
	}
	return resp, fd, nil
}

// close ends the session and reaps CRIU.
func (s *swrk) close() error {
	s.sock.Close()
	if err := s.cmd.Wait(); err != nil {
		return fmt.Errorf("criu swrk: %w", err)
	}
	return nil
}

// criuError is CRIU's own failure report; the caller adds the log.
type criuError struct {
	Type  rpc.CriuReqType
	Errno int
	Msg   string
}

func (e *criuError) Error() string {
	s := fmt.Sprintf("criu %s failed", e.Type.String())
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Errno != 0 {
		s += fmt.Sprintf(" (errno %d: %s)", e.Errno, unix.Errno(e.Errno).Error())
	}
	return s
}

// notifyError is stasis's own failure while CRIU waited on a notification
// (a hook, the console, a cgroup move): CRIU's log then only says that
// "action scripts failed", so this is what the error must say first.
type notifyError struct {
	script string
	err    error
}

func (e *notifyError) Error() string {
	return fmt.Sprintf("at criu's %s notification: %v", e.script, e.err)
}

func (e *notifyError) Unwrap() error { return e.err }
