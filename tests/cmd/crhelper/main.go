// Command crhelper does what the checkpoint/restore tests need and busybox
// lacks: a line echo server and client over TCP or a unix socket (the client
// keeps one connection open and sends a counter, so a restored client shows
// whether its connection survived), and holding a file lock. Build it static
// (CGO_ENABLED=0): the tests copy it into a busybox rootfs.
//
//	crhelper flock FILE CMD [ARGS...]
//	    take an exclusive flock on FILE (created if missing) and exec CMD,
//	    which inherits the locked fd, so the lock lives as long as CMD.
//	crhelper server tcp|unix|unixgram ADDR [READY-FILE]
//	    accept connections on ADDR (host:port, or a socket path) and echo
//	    every line back; create READY-FILE once listening. unixgram: print
//	    every datagram received on the socket ADDR, one a line.
//	crhelper listen tcp|unix ADDR [READY-FILE]
//	    listen on ADDR and never accept: connections stay in the accept
//	    queue (in flight, for CRIU); print "listening", then "alive N"
//	    every 0.1s.
//	crhelper client tcp|unix|unixgram ADDR [stay]
//	    connect to ADDR (retrying for 5s), print "connected", then every
//	    0.1s send the next number and print "echo N" for each reply
//	    (unixgram: "sent N", no reply). Any error is printed to stderr and
//	    ends the client with status 1. With stay, an error on the
//	    connection is printed to stdout as "closed: ERROR" and the client
//	    lives on, printing "alive N" every 0.1s: a process that outlives
//	    its connection, without exiting while CRIU may still be detaching
//	    its threads after a restore.
package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// flockExec locks path and execs argv; it returns only on failure. The fd
// is opened without O_CLOEXEC so the exec'd program keeps the lock.
func flockExec(path string, argv []string) error {
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_CREAT, 0o644)
	if err != nil {
		return err
	}
	if err := syscall.Flock(fd, syscall.LOCK_EX); err != nil {
		return err
	}
	bin, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	return syscall.Exec(bin, argv, os.Environ())
}

func main() {
	if len(os.Args) >= 4 && os.Args[1] == "flock" {
		err := flockExec(os.Args[2], os.Args[3:])
		fmt.Fprintf(os.Stderr, "crhelper flock: %v\n", err)
		os.Exit(1)
	}
	if len(os.Args) < 4 || (os.Args[2] != "tcp" && os.Args[2] != "unix" && os.Args[2] != "unixgram") {
		fmt.Fprintln(os.Stderr, "usage: crhelper server|client|listen tcp|unix|unixgram ADDR [READY-FILE] | crhelper flock FILE CMD...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "server":
		ready := ""
		if len(os.Args) > 4 {
			ready = os.Args[4]
		}
		err = server(os.Args[2], os.Args[3], ready)
	case "client":
		err = client(os.Args[2], os.Args[3])
		if err != nil && len(os.Args) > 4 && os.Args[4] == "stay" {
			fmt.Printf("closed: %v\n", err)
			for i := 0; ; i++ {
				fmt.Printf("alive %d\n", i)
				time.Sleep(100 * time.Millisecond)
			}
		}
	case "listen":
		ready := ""
		if len(os.Args) > 4 {
			ready = os.Args[4]
		}
		err = listenOnly(os.Args[2], os.Args[3], ready)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "crhelper %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func server(network, addr, ready string) error {
	if network == "unixgram" {
		return dgramServer(addr, ready)
	}
	// No MPTCP (Go's default for listeners since 1.24): CRIU cannot dump it.
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	l, err := lc.Listen(context.Background(), network, addr)
	if err != nil {
		return err
	}
	if ready != "" {
		if err := os.WriteFile(ready, nil, 0o644); err != nil {
			return err
		}
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if _, err := c.Write([]byte(line)); err != nil {
					return
				}
			}
		}()
	}
}

// listenOnly listens on addr and never accepts.
func listenOnly(network, addr, ready string) error {
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	l, err := lc.Listen(context.Background(), network, addr)
	if err != nil {
		return err
	}
	defer l.Close()
	if ready != "" {
		if err := os.WriteFile(ready, nil, 0o644); err != nil {
			return err
		}
	}
	fmt.Println("listening")
	for i := 0; ; i++ {
		time.Sleep(100 * time.Millisecond)
		fmt.Printf("alive %d\n", i)
	}
}

func client(network, addr string) error {
	if network == "unixgram" {
		return dgramClient(addr)
	}
	var c net.Conn
	var err error
	var d net.Dialer
	d.SetMultipathTCP(false)
	for deadline := time.Now().Add(5 * time.Second); ; {
		if c, err = d.Dial(network, addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Println("connected")
	r := bufio.NewReader(c)
	for i := 0; ; i++ {
		if _, err := fmt.Fprintf(c, "%d\n", i); err != nil {
			return fmt.Errorf("send %d: %w", i, err)
		}
		line, err := r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("receive %d: %w", i, err)
		}
		n, err := strconv.Atoi(strings.TrimSpace(line))
		if err != nil || n != i {
			return fmt.Errorf("sent %d, got back %q", i, line)
		}
		fmt.Printf("echo %d\n", n)
		time.Sleep(100 * time.Millisecond)
	}
}

// dgramServer prints every datagram it receives, one a line: a datagram
// client may be unbound, so there is no one to echo to.
func dgramServer(path, ready string) error {
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	if ready != "" {
		if err := os.WriteFile(ready, nil, 0o644); err != nil {
			return err
		}
	}
	buf := make([]byte, 4096)
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			return err
		}
		fmt.Println(strings.TrimSpace(string(buf[:n])))
	}
}

// dgramClient connects an unbound datagram socket to path once and sends
// the counter on it, printing "sent N".
func dgramClient(path string) error {
	var c *net.UnixConn
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; {
		if c, err = net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"}); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Println("connected")
	for i := 0; ; i++ {
		if _, err := fmt.Fprintf(c, "%d\n", i); err != nil {
			return fmt.Errorf("send %d: %w", i, err)
		}
		fmt.Printf("sent %d\n", i)
		time.Sleep(100 * time.Millisecond)
	}
}
