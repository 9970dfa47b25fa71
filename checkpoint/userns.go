package checkpoint

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// usernsImagesPrefix names the private dirs readableImages makes.
const usernsImagesPrefix = ".stasis-userns-"

// ownUserNS: pid runs in a user namespace other than ours.
func ownUserNS(pid int) bool {
	theirs, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", pid))
	if err != nil {
		return false
	}
	ours, err := os.Readlink("/proc/self/ns/user")
	return err == nil && theirs != ours
}

// restoresIntoUserNS: CRIU will restore the checkpoint's tasks in a user
// namespace of their own. A checkpoint without that record (runc's, an
// older stasis's) goes by the bundle's config.
func restoresIntoUserNS(meta *Metadata, sp *specs.Spec) bool {
	if meta.UserNS {
		return true
	}
	if sp.Linux == nil {
		return false
	}
	for _, ns := range sp.Linux.Namespaces {
		if ns.Type == specs.UserNamespace && ns.Path == "" {
			return true
		}
	}
	return false
}

// readableImages gives CRIU an image dir the restored tasks can read.
// CRIU's root task switches to the container's root (a host uid such as
// 100000) inside the new user namespace before it reads most images
// (tty-info.img first) through its fd on the image dir; that uid has no
// capability over files of the host's root, so the image dir, 0700 root's
// as it must be, denies it the search: "Unable to open tty-info.img:
// Permission denied".
//
// Widening the image dir (a chown to the mapped root, an ACL) would let
// every process of that uid, other containers with the same mapping too,
// read or change the checkpoint. Instead the images are hard-linked (or,
// across file systems or when not world-readable, copied read-only) into
// dir/images, a world-searchable dir inside a 0700 dir of root's
// (.stasis-userns-* in the image dir, else in fallbackParent: the new
// container's state dir): no process can reach it by path except root,
// and the restored tasks reach it only through CRIU's fd. Nothing of it
// is owned by the container's uids, so they cannot change it either.
// done removes it. A "parent" link (an iterative dump) gets the same
// treatment, recursively.
func readableImages(imageDir *os.File, fallbackParent string) (images *os.File, done func(), err error) {
	base, err := os.MkdirTemp(imageDir.Name(), usernsImagesPrefix)
	if err != nil {
		// A read-only image dir (an imported checkpoint): copy into the
		// state dir.
		if base, err = os.MkdirTemp(fallbackParent, usernsImagesPrefix); err != nil {
			return nil, nil, fmt.Errorf("private image dir for the user namespace: %w", err)
		}
	}
	defer func() {
		if err != nil {
			os.RemoveAll(base)
		}
	}()
	dst := filepath.Join(base, "images")
	if err := mkdirReadable(dst); err != nil {
		return nil, nil, err
	}
	if err := linkImages(imageDir.Name(), dst, 0); err != nil {
		return nil, nil, fmt.Errorf("private image dir for the user namespace: %w", err)
	}
	images, err = os.Open(dst)
	if err != nil {
		return nil, nil, err
	}
	return images, func() {
		images.Close()
		os.RemoveAll(base)
	}, nil
}

// mkdirReadable makes a dir others may search and list, whatever the umask.
func mkdirReadable(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	return os.Chmod(dir, 0o755)
}

// linkImages fills dst with src's regular files and, for its "parent"
// symlink, a dir with the parent's.
func linkImages(src, dst string, depth int) error {
	if depth > 16 {
		return fmt.Errorf("%s: too many parent images", src)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		name := e.Name()
		from, to := filepath.Join(src, name), filepath.Join(dst, name)
		switch {
		case strings.HasPrefix(name, usernsImagesPrefix):
			// ours (or a concurrent restore's)
		case e.Type().IsRegular():
			if err := linkOrCopy(from, to); err != nil {
				return err
			}
		case e.Type()&os.ModeSymlink != 0 && name == "parent":
			target, err := os.Readlink(from)
			if err != nil {
				return err
			}
			if !filepath.IsAbs(target) {
				target = filepath.Join(src, target)
			}
			if err := mkdirReadable(to); err != nil {
				return err
			}
			if err := linkImages(target, to, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// linkOrCopy: a hard link when the file is world-readable (only the
// private dir hides it) and on the same file system, else a read-only
// copy.
func linkOrCopy(from, to string) error {
	fi, err := os.Lstat(from)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o004 != 0 {
		err := os.Link(from, to)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EXDEV) && !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EMLINK) {
			return err
		}
	}
	in, err := os.OpenFile(from, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Chmod(0o444)
	}
	return errors.Join(err, out.Close())
}
