package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	securejoin "github.com/cyphar/filepath-securejoin"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// root is an O_PATH handle on the (self-bind-mounted) rootfs. Every lookup
// of a container path starts from it and is resolved as if it were "/", so
// a symlink like rootfs/etc -> / can never lead outside the rootfs.
type root struct {
	f    *os.File
	path string // host path, for messages and host-side symlink creation
}

func openRoot(path string) (*root, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open rootfs %s: %w", path, err)
	}
	return &root{f: os.NewFile(uintptr(fd), path), path: path}, nil
}

func (r *root) Close() error { return r.f.Close() }

// procFd is the magic-link path mount(2) can be pointed at: the kernel
// mounts on exactly the inode the handle refers to, with no second lookup
// an attacker could race.
func procFd(f *os.File) string {
	return "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
}

// cleanDest turns an OCI destination into a path relative to the root,
// with ".." already collapsed lexically (securejoin handles the rest).
func cleanDest(dest string) string {
	return filepath.Clean("/" + dest)
}

// open resolves dest inside the root and returns an O_PATH handle.
func (r *root) open(dest string) (*os.File, error) {
	f, err := pathrs.OpenatInRoot(r.f, cleanDest(dest))
	if err != nil {
		return nil, fmt.Errorf("resolve %s in rootfs: %w", dest, err)
	}
	return f, nil
}

// mkdirAll creates dest (and parents) as directories inside the root and
// returns an O_PATH handle on it.
func (r *root) mkdirAll(dest string, mode os.FileMode) (*os.File, error) {
	d := cleanDest(dest)
	if d == "/" {
		return r.open(d)
	}
	f, err := pathrs.MkdirAllHandle(r.f, d, mode)
	if err != nil {
		return nil, fmt.Errorf("mkdir %s in rootfs: %w", dest, err)
	}
	return f, nil
}

// mkTarget returns an O_PATH handle on a mount point, creating it if it
// does not exist: an empty file when asFile (bind of a file, device node
// stand-in), otherwise a directory. An existing entry is used as it is; the
// kernel reports a dir/file mismatch itself.
func (r *root) mkTarget(dest string, asFile bool) (*os.File, error) {
	f, err := pathrs.OpenatInRoot(r.f, cleanDest(dest))
	if err == nil {
		return f, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("resolve %s in rootfs: %w", dest, err)
	}
	// Images often ship dangling symlinks as mount points (e.g.
	// etc/resolv.conf -> ../run/resolv.conf); like runc, create what the
	// link names, still inside the root. securejoin does that lexically;
	// the handle-based calls below keep a concurrent swap from escaping.
	if joined, err := securejoin.SecureJoin(r.path, dest); err == nil {
		if rel, err := filepath.Rel(r.path, joined); err == nil {
			dest = cleanDest(rel)
		}
	}
	if !asFile {
		return r.mkdirAll(dest, 0o755)
	}
	dir, err := r.mkdirAll(filepath.Dir(cleanDest(dest)), 0o755)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	name := filepath.Base(cleanDest(dest))
	fd, err := unix.Openat(int(dir.Fd()), name,
		unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("create %s in rootfs: %w", dest, err)
	}
	if err == nil {
		unix.Close(fd)
	}
	return r.open(dest)
}

// inDir opens the parent directory of dest (creating it) so the caller can
// use *at syscalls on the last component without following a symlink there.
func (r *root) inDir(dest string) (dir *os.File, name string, err error) {
	d := cleanDest(dest)
	dir, err = r.mkdirAll(filepath.Dir(d), 0o755)
	if err != nil {
		return nil, "", err
	}
	return dir, filepath.Base(d), nil
}
