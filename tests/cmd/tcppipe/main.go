// tcppipe carries a byte stream over one TCP connection, for the archive
// tests' migration "between hosts" (over loopback in a network namespace
// the test made):
//
//	tcppipe listen ADDR READYFILE   accept one connection, copy it to stdout
//	tcppipe send ADDR               copy stdin to ADDR, then half-close
//
// The sender half-closes so the receiver sees the stream's end at once.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tcppipe:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	switch {
	case len(args) == 3 && args[0] == "listen":
		l, err := net.Listen("tcp", args[1])
		if err != nil {
			return err
		}
		if err := os.WriteFile(args[2], nil, 0o600); err != nil {
			return err
		}
		c, err := l.Accept()
		l.Close()
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = io.Copy(os.Stdout, c)
		return err
	case len(args) == 2 && args[0] == "send":
		c, err := net.Dial("tcp", args[1])
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := io.Copy(c, os.Stdin); err != nil {
			return err
		}
		return c.(*net.TCPConn).CloseWrite()
	}
	return fmt.Errorf("usage: tcppipe listen ADDR READYFILE | tcppipe send ADDR")
}
