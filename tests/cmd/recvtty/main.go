// Command recvtty is the receiving end of a runtime's --console-socket, for
// tests: it listens on a unix socket, accepts one connection, receives the pty
// master sent with SCM_RIGHTS, optionally writes input to it, and copies what
// the container writes to the terminal to stdout (or --out FILE) until the
// container side of the pty closes.
//
//	recvtty [--out FILE] [--input TEXT] [--ready FILE] SOCKET
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

func main() {
	out := flag.String("out", "", "write the terminal's output to this file (default: stdout)")
	input := flag.String("input", "", "text to write to the terminal once the master arrives")
	ready := flag.String("ready", "", "create this file once the socket is listening")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: %s [--out FILE] [--input TEXT] [--ready FILE] SOCKET\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *out, *input, *ready); err != nil {
		fmt.Fprintf(os.Stderr, "recvtty: %v\n", err)
		os.Exit(1)
	}
}

func run(sockPath, outPath, input, readyPath string) error {
	w := io.Writer(os.Stdout)
	if outPath != "" {
		f, err := os.Create(outPath)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}

	_ = os.Remove(sockPath)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sockPath, Net: "unix"})
	if err != nil {
		return fmt.Errorf("listen %s: %w", sockPath, err)
	}
	defer ln.Close() // also removes the socket file
	if readyPath != "" {
		if err := os.WriteFile(readyPath, nil, 0o644); err != nil {
			return err
		}
	}

	conn, err := ln.AcceptUnix()
	if err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	master, err := recvFd(conn)
	conn.Close()
	if err != nil {
		return err
	}
	defer master.Close()

	if input != "" {
		if _, err := master.WriteString(input); err != nil {
			return fmt.Errorf("write input: %w", err)
		}
	}
	// Reading a pty master whose slave side is closed by every process gives
	// EIO: that is the normal end.
	if _, err := io.Copy(w, master); err != nil && !errors.Is(err, unix.EIO) {
		return fmt.Errorf("copy: %w", err)
	}
	return nil
}

// recvFd reads one message from conn and returns the single fd it carries.
func recvFd(conn *net.UnixConn) (*os.File, error) {
	name := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := conn.ReadMsgUnix(name, oob)
	if err != nil {
		return nil, fmt.Errorf("recvmsg: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, fmt.Errorf("parse control message: %w", err)
	}
	var fds []int
	for i := range msgs {
		got, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			continue
		}
		fds = append(fds, got...)
	}
	if len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("want exactly 1 fd in the message, got %d", len(fds))
	}
	var st unix.Stat_t
	if err := unix.Fstat(fds[0], &st); err != nil {
		unix.Close(fds[0])
		return nil, fmt.Errorf("fstat received fd: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR {
		unix.Close(fds[0])
		return nil, fmt.Errorf("received fd is not a character device (mode %#o)", st.Mode)
	}
	label := string(name[:n])
	if label == "" {
		label = "pty-master"
	}
	return os.NewFile(uintptr(fds[0]), label), nil
}
