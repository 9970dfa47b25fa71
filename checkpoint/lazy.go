package checkpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// criuPagePipeBytes is the pipe size CRIU's page server and lazy-pages
// daemon ask for with F_SETPIPE_SZ: PIPE_MAX_SIZE pages in
// criu/include/page-pipe.h, (1 << PAGE_ALLOC_COSTLY_ORDER) * PAGE_SIZE /
// sizeof(struct pipe_buffer) = 8 * 4096 / 40 = 819 pages.
const criuPagePipeBytes = 819 * 4096

// Seams for the host facts lazyPagesPossible reads.
var (
	readPipeMaxSize = func() ([]byte, error) { return os.ReadFile("/proc/sys/fs/pipe-max-size") }
	hasSysResource  = func() bool {
		var hdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			return false
		}
		return data[unix.CAP_SYS_RESOURCE/32].Effective&(1<<(unix.CAP_SYS_RESOURCE%32)) != 0
	}
)

// lazyPagesPossible says, before anything is frozen, whether a lazy
// migration can finish on this host. Without CAP_SYS_RESOURCE a pipe may
// not grow past fs.pipe-max-size; CRIU's lazy-pages side then fails to
// set up its pipes while the dump side serves pages to nobody, and the
// checkpoint would wait for a client forever.
func lazyPagesPossible() error {
	if hasSysResource() {
		return nil
	}
	data, err := readPipeMaxSize()
	if err != nil {
		return nil // cannot tell: let CRIU try
	}
	max, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || max >= criuPagePipeBytes {
		return nil
	}
	return fmt.Errorf("--lazy-pages cannot work on this host: CRIU's page server needs pipes of %d bytes, above fs.pipe-max-size (%d), and it lacks CAP_SYS_RESOURCE to exceed that: raise it (sysctl -w fs.pipe-max-size=4194304) or checkpoint without --lazy-pages", criuPagePipeBytes, max)
}
