package checkpoint

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/aufs"
	"github.com/stasis-oci/stasis/lifecycle"
)

// The rootfs diff: what the container changed in its root file system,
// as rootfs-diff.tar (relative paths) and deleted.files (a JSON list of
// container paths, podman's format). Where it comes from:
//
//   - a union rootfs (overlay, AUFS): the writable layer, whole; its
//     whiteouts become deleted.files, an opaque directory is deleted
//     and then unpacked again from the layer;
//   - a plain directory: every entry whose ctime is after the create
//     time recorded in the container's state (less ctimeSlack) (a write, a chmod, a new
//     link all move the ctime, and a copied-in image file keeps its old
//     one only as mtime). A plain rootfs records no deletions: a file
//     removed from it is back after a restore onto a fresh image copy.
//
// Only the rootfs's own file system is read (mounts below it are the
// container's volumes), and xattrs are not kept.

const ctimeSlack = 20 * time.Millisecond

// diffSummary is what the diff holds, for the manifest and inspect.
type diffSummary struct {
	How     string
	Deleted []string
}

// writeRootfsDiff writes the changes of rootfs (union: its union, or nil)
// since created to tarPath.
func writeRootfsDiff(rootfs string, union *aufs.Union, created time.Time, tarPath string) (*diffSummary, error) {
	f, err := os.OpenFile(tarPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	w := &diffWalker{tw: tw, links: map[[2]uint64]string{}}
	sum := &diffSummary{}
	if union != nil {
		layer := union.WritableLayer()
		if layer == "" {
			sum.How = "none (the " + union.Kind.String() + " rootfs has no writable layer)"
		} else {
			sum.How = union.Kind.String() + " writable layer"
			w.base, w.union = layer, union
			if err := w.walk(); err != nil {
				return nil, err
			}
		}
	} else {
		sum.How = "changed since create (ctime scan)"
		// File times come from the kernel's coarse clock, which lags the
		// create time (a fine one) by up to a tick: a file written in the
		// tick of the create must not be missed. An image file copied in
		// just before is taken too, unchanged, which is harmless.
		w.base, w.since = rootfs, created.Add(-ctimeSlack)
		if err := w.walk(); err != nil {
			return nil, err
		}
	}
	sum.Deleted = w.deleted
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return sum, f.Close()
}

type diffWalker struct {
	tw      *tar.Writer
	base    string
	union   *aufs.Union // nil: a plain rootfs, scanned by ctime
	since   time.Time
	dev     uint64
	links   map[[2]uint64]string // dev, inode -> first name written
	deleted []string
}

func (w *diffWalker) walk() error {
	var st unix.Stat_t
	if err := unix.Lstat(w.base, &st); err != nil {
		return fmt.Errorf("rootfs diff: %w", err)
	}
	w.dev = st.Dev
	return filepath.WalkDir(w.base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("rootfs diff: %w", err)
		}
		if p == w.base {
			return nil
		}
		rel, err := filepath.Rel(w.base, p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return fmt.Errorf("rootfs diff: %w", err)
		}
		sys := fi.Sys().(*syscall.Stat_t)
		if sys.Dev != w.dev {
			return fs.SkipDir // another file system: a mount in the rootfs
		}
		if w.union != nil {
			kind, hides := w.union.Classify(filepath.Dir(p), fi)
			switch kind {
			case aufs.EntryInternal:
				if fi.IsDir() {
					return fs.SkipDir
				}
				return nil
			case aufs.EntryWhiteout:
				w.deleted = append(w.deleted, "/"+filepath.ToSlash(filepath.Join(filepath.Dir(rel), hides)))
				return nil
			}
			if fi.IsDir() && w.union.OpaqueDir(p) {
				w.deleted = append(w.deleted, "/"+filepath.ToSlash(rel))
			}
		} else if !time.Unix(sys.Ctim.Sec, sys.Ctim.Nsec).After(w.since) {
			return nil
		}
		return w.add(p, rel, fi, sys)
	})
}

func (w *diffWalker) add(p, rel string, fi fs.FileInfo, sys *syscall.Stat_t) error {
	name := filepath.ToSlash(rel)
	mode := fi.Mode()
	if mode&(fs.ModeDevice|fs.ModeCharDevice) != 0 || mode&fs.ModeSocket != 0 {
		// A device node the container made in its rootfs is nothing the
		// import would create (it refuses them); sockets cannot be kept.
		lifecycle.Warn("rootfs diff: leaving out %s (%s)", "/"+name, mode.Type())
		return nil
	}
	link := ""
	if mode&fs.ModeSymlink != 0 {
		l, err := os.Readlink(p)
		if err != nil {
			return err
		}
		link = l
	}
	h, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return fmt.Errorf("rootfs diff %s: %w", name, err)
	}
	h.Name, h.Uname, h.Gname, h.Format = name, "", "", tar.FormatPAX
	if fi.IsDir() {
		h.Name += "/"
	}
	if mode.IsRegular() && sys.Nlink > 1 {
		key := [2]uint64{sys.Dev, sys.Ino}
		if first, ok := w.links[key]; ok {
			h.Typeflag, h.Linkname, h.Size = tar.TypeLink, first, 0
			return w.tw.WriteHeader(h)
		}
		w.links[key] = name
	}
	if err := w.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("rootfs diff %s: %w", name, err)
	}
	if !mode.IsRegular() {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.CopyN(w.tw, f, h.Size); err != nil {
		return fmt.Errorf("rootfs diff %s: %w", name, err)
	}
	return nil
}

// diffPath checks a path of the rootfs diff (a tar member's name, a
// hard link's target, an entry of deleted.files without its leading
// "/") and returns it clean: relative, inside the rootfs, no NUL.
func diffPath(p string) (string, error) {
	p = strings.TrimSuffix(p, "/")
	switch {
	case p == "" || p == ".":
		return "", errors.New("empty path")
	case strings.IndexByte(p, 0) >= 0:
		return "", errors.New("path holds a NUL")
	case path.IsAbs(p):
		return "", errors.New("absolute path")
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return "", errors.New(`path holds ".."`)
		}
	}
	if path.Clean(p) != p {
		return "", errors.New("not a clean path")
	}
	return p, nil
}

// readDeleted reads deleted.files (absent: nothing was deleted).
func readDeleted(file string) ([]string, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var list []string
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("%w: member %s: %v", ErrBadArchive, deletedName, err)
	}
	return list, nil
}

// applyRootfsDiff removes deleted (container paths) from rootfs and then
// unpacks the tar at tarPath ("" or absent: none) onto it. Everything
// goes through an os.Root: no path, symlink or hard link of the diff can
// reach outside rootfs, and a member reached through a symlink that
// would is refused. Device nodes are refused (a container's rootfs gets
// its devices from the bundle), so are duplicate members.
func applyRootfsDiff(rootfs, tarPath string, deleted []string) (err error) {
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return fmt.Errorf("rootfs diff: %w", err)
	}
	defer root.Close()
	for _, d := range deleted {
		p, err := diffPath(strings.TrimPrefix(d, "/"))
		if err != nil {
			return fmt.Errorf("%w: %s entry %q: %v", ErrBadArchive, deletedName, d, err)
		}
		if err := root.RemoveAll(p); err != nil {
			return fmt.Errorf("rootfs diff: delete %s: %w", d, err)
		}
	}
	if tarPath == "" {
		return nil
	}
	f, err := os.Open(tarPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return unpackDiff(root, f)
}

type dirTimes struct {
	name         string
	atime, mtime time.Time
}

func unpackDiff(root *os.Root, r io.Reader) error {
	tr := tar.NewReader(r)
	seen := map[string]bool{}
	var dirs []dirTimes
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrBadArchive, rootfsDiffName, err)
		}
		name, err := diffPath(h.Name)
		if err != nil {
			return fmt.Errorf("%w: %s member %q: %v", ErrBadArchive, rootfsDiffName, h.Name, err)
		}
		if seen[name] {
			return fmt.Errorf("%w: %s member %q appears twice", ErrBadArchive, rootfsDiffName, h.Name)
		}
		seen[name] = true
		if err := unpackEntry(root, tr, h, name); err != nil {
			return fmt.Errorf("%s member %q: %w", rootfsDiffName, h.Name, err)
		}
		if h.Typeflag == tar.TypeDir {
			dirs = append(dirs, dirTimes{name, h.AccessTime, h.ModTime})
		}
	}
	// A directory's mtime moved with every entry unpacked into it.
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i].name) > len(dirs[j].name) })
	for _, d := range dirs {
		_ = root.Chtimes(d.name, orMtime(d.atime, d.mtime), d.mtime)
	}
	return nil
}

func orMtime(atime, mtime time.Time) time.Time {
	if atime.IsZero() {
		return mtime
	}
	return atime
}

func unpackEntry(root *os.Root, r io.Reader, h *tar.Header, name string) error {
	mode := h.FileInfo().Mode()
	perm := mode & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	if dir := path.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	old, err := root.Lstat(name)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	// What is in the way goes, unless a directory is wanted and one is there.
	if exists && !(h.Typeflag == tar.TypeDir && old.IsDir()) {
		if err := root.RemoveAll(name); err != nil {
			return err
		}
	}
	switch h.Typeflag {
	case tar.TypeDir:
		if !exists || !old.IsDir() {
			if err := root.Mkdir(name, 0o700); err != nil {
				return err
			}
		}
	case tar.TypeReg:
		f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	case tar.TypeSymlink:
		// Made as it was, pointing wherever: it is never followed here
		// (os.Root refuses a path that would leave the rootfs through it).
		return root.Symlink(h.Linkname, name)
	case tar.TypeLink:
		target, err := diffPath(h.Linkname)
		if err != nil {
			return fmt.Errorf("%w: hard link to %q: %v", ErrBadArchive, h.Linkname, err)
		}
		return root.Link(target, name)
	case tar.TypeFifo:
		if err := mkfifoIn(root, name, uint32(mode.Perm())); err != nil {
			return err
		}
	case tar.TypeChar, tar.TypeBlock:
		return fmt.Errorf("%w: a device node (the bundle's linux.devices make a container's devices)", ErrBadArchive)
	default:
		return fmt.Errorf("%w: unsupported member type %q", ErrBadArchive, h.Typeflag)
	}
	if err := root.Lchown(name, h.Uid, h.Gid); err != nil {
		return err
	}
	// After the chown, which clears setuid and setgid.
	if err := root.Chmod(name, perm); err != nil {
		return err
	}
	if h.Typeflag != tar.TypeDir {
		return root.Chtimes(name, orMtime(h.AccessTime, h.ModTime), h.ModTime)
	}
	return nil
}

func mkfifoIn(root *os.Root, name string, perm uint32) error {
	dir, err := root.Open(path.Dir(name))
	if err != nil {
		return err
	}
	defer dir.Close()
	if err := unix.Mkfifoat(int(dir.Fd()), path.Base(name), perm); err != nil {
		return fmt.Errorf("mkfifo: %w", err)
	}
	return nil
}
