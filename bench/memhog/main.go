// Command memhog is the workload of the checkpoint/restore figures: it
// allocates N MiB of anonymous memory (N is its first argument), writes
// every page so the kernel really backs it, renames itself to "memhog-ready"
// (the bench polls /proc/PID/comm for that) and then sleeps until killed.
// An optional second argument "text" fills every page with text-like
// content (repeated words with a varying line number) that compresses about
// as well as a real heap, for the archive figures; the default pages are
// nearly all zero bytes and so compress trivially.
// It is built static (CGO_ENABLED=0) so it runs in a busybox rootfs and
// outside any container alike.
package main

import (
	"os"
	"strconv"
	"syscall"
	"time"
)

// keep holds the memory so the collector never frees it.
var keep []byte

func main() {
	mib := 0
	text := len(os.Args) > 2 && os.Args[2] == "text"
	if len(os.Args) > 1 {
		n, err := strconv.Atoi(os.Args[1])
		if err != nil || n < 0 {
			os.Stderr.WriteString("usage: memhog MIB [text]\n")
			os.Exit(2)
		}
		mib = n
	}
	if mib > 0 {
		// mmap rather than make(): the Go heap would round up and the GC
		// would scan it; an anonymous private mapping is exactly N MiB.
		b, err := syscall.Mmap(-1, 0, mib<<20, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS)
		if err != nil {
			os.Stderr.WriteString("memhog: mmap: " + err.Error() + "\n")
			os.Exit(1)
		}
		// Distinct non-zero bytes per page, so no page is a zero page CRIU
		// could skip and no two pages are the same.
		if text {
			fillText(b)
		} else {
			for i := 0; i < len(b); i += 4096 {
				b[i] = byte(i>>12) | 1
				b[i+1] = byte(i >> 20)
			}
		}
		keep = b
	}
	// /proc/self/comm names the main thread (prctl would name whichever
	// thread this goroutine happens to run on).
	if err := os.WriteFile("/proc/self/comm", []byte("memhog-ready"), 0); err != nil {
		os.Stderr.WriteString("memhog: " + err.Error() + "\n")
		os.Exit(1)
	}
	for {
		time.Sleep(time.Hour)
	}
}

// fillText writes log-like lines whose number and word choice vary, so a
// compressor finds repeats but no page is identical to another.
func fillText(b []byte) {
	words := []string{"request", "handled", "user", "session", "cache", "miss", "ok", "latency", "bytes", "GET", "POST", "/api/v1/items"}
	n := 0
	for i := 0; i < len(b); {
		line := strconv.Itoa(n) + " " + words[n%len(words)] + " " + words[(n*7)%len(words)] + " " + strconv.Itoa(n*31%9973) + " " + words[(n/3)%len(words)] + "\n"
		i += copy(b[i:], line)
		n++
	}
}
