package checkpoint

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"
)

// A checkpoint archive is one tar stream (zstd, gzip or uncompressed)
// laid out as containerd's CRI plugin and podman write theirs, so
// checkpointctl can read it:
//
//	stasis-manifest.json   name, size and sha256 of every other member
//	checkpoint/            CRIU's images, stasis.json, descriptors.json
//	config.dump            checkpointctl's ContainerConfig (id, times)
//	spec.dump              the container's config.json
//	rootfs-diff.tar        the rootfs changes (rootfsdiff.go)
//	deleted.files          paths the container removed from its rootfs
//	stats-dump             CRIU's dump statistics
//	dump.log               CRIU's dump log
//
// The manifest comes first, so a reader knows every digest before it
// unpacks anything and can name the member a stream breaks off in.
const (
	manifestName    = "stasis-manifest.json"
	imagesDirName   = "checkpoint"
	configDumpName  = "config.dump"
	specDumpName    = "spec.dump"
	rootfsDiffName  = "rootfs-diff.tar"
	deletedName     = "deleted.files"
	statsDumpName   = "stats-dump"
	dumpLogName     = "dump.log"
	manifestVersion = 1
	// maxManifest bounds what is read before anything is verified.
	maxManifest = 16 << 20
)

// ErrBadArchive is wrapped by every refusal of an archive's content.
var ErrBadArchive = errors.New("bad checkpoint archive")

// Manifest is stasis-manifest.json.
type Manifest struct {
	Version   int       `json:"version"`
	CreatedBy string    `json:"created_by"`
	Created   time.Time `json:"created"`
	Hostname  string    `json:"hostname,omitempty"`
	Kernel    string    `json:"kernel,omitempty"`
	Arch      string    `json:"arch,omitempty"`
	// RootfsDiff says how rootfs-diff.tar was made: "overlay upper",
	// "aufs branch", "changed since create (ctime scan)".
	RootfsDiff string   `json:"rootfs_diff,omitempty"`
	Members    []Member `json:"members"`
}

// Member is one file of the archive.
type Member struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Compression names; "" is zstd.
var compressions = []string{"zstd", "gzip", "none"}

func checkCompression(c string) error {
	switch c {
	case "", "zstd", "gzip", "none":
		return nil
	}
	return fmt.Errorf("--compress %q: use %s", c, strings.Join(compressions, ", "))
}

// archiveFile is a member to write: the file at Path, under Name.
type archiveFile struct{ Name, Path string }

// validMemberName: a member is a top-level file or a file directly in
// checkpoint/ (CRIU writes no subdirectories), clean and relative.
func validMemberName(name string) error {
	switch {
	case name == "" || strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("%w: member %q: empty name or NUL", ErrBadArchive, name)
	case path.IsAbs(name) || strings.HasPrefix(name, "/"):
		return fmt.Errorf("%w: member %q: absolute path", ErrBadArchive, name)
	case path.Clean(name) != name:
		return fmt.Errorf("%w: member %q: not a clean path", ErrBadArchive, name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." || part == "." {
			return fmt.Errorf("%w: member %q: holds %q", ErrBadArchive, name, part)
		}
	}
	dir, base := path.Split(name)
	if dir != "" && dir != imagesDirName+"/" {
		return fmt.Errorf("%w: member %q: only checkpoint/ may hold files", ErrBadArchive, name)
	}
	if base == manifestName && dir == "" {
		return fmt.Errorf("%w: member %q: a second manifest", ErrBadArchive, name)
	}
	return nil
}

func fileSHA256(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// writeArchive writes m (its Members filled in here) and files to w.
// Each file is read twice, for its digest and then its content: the
// manifest must precede them.
func writeArchive(w io.Writer, compress string, m *Manifest, files []archiveFile) error {
	m.Version = manifestVersion
	m.Members = m.Members[:0]
	for _, f := range files {
		if err := validMemberName(f.Name); err != nil {
			return err
		}
		sum, size, err := fileSHA256(f.Path)
		if err != nil {
			return err
		}
		m.Members = append(m.Members, Member{Name: f.Name, Size: size, SHA256: sum})
	}
	mdata, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var cw io.WriteCloser
	switch compress {
	case "", "zstd":
		cw, err = zstd.NewWriter(bw, zstd.WithEncoderLevel(zstd.SpeedFastest))
		if err != nil {
			return err
		}
	case "gzip":
		cw, _ = gzip.NewWriterLevel(bw, gzip.BestSpeed)
	case "none":
		cw = nopCloser{bw}
	default:
		return checkCompression(compress)
	}
	tw := tar.NewWriter(cw)
	now := m.Created
	hdr := func(name string, size int64) *tar.Header {
		return &tar.Header{Name: name, Size: size, Mode: 0o600, ModTime: now, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	}
	if err := tw.WriteHeader(hdr(manifestName, int64(len(mdata)))); err != nil {
		return err
	}
	if _, err := tw.Write(mdata); err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: imagesDirName + "/", Mode: 0o700, ModTime: now, Typeflag: tar.TypeDir, Format: tar.FormatPAX}); err != nil {
		return err
	}
	for i, f := range files {
		if err := copyMember(tw, hdr(f.Name, m.Members[i].Size), f.Path); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := cw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func copyMember(tw *tar.Writer, h *tar.Header, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	// A file that changed between digest and copy would make a bad
	// archive: tar refuses a size mismatch, the digest is checked below.
	n, err := io.Copy(tw, f)
	if err != nil {
		return fmt.Errorf("archive %s: %w", h.Name, err)
	}
	if n != h.Size {
		return fmt.Errorf("archive %s: it changed while being written", h.Name)
	}
	return nil
}

// decompress detects the archive's compression by its magic bytes.
func decompress(r io.Reader) (io.Reader, string, func(), error) {
	br := bufio.NewReaderSize(r, 1<<20)
	magic, err := br.Peek(4)
	if err != nil && len(magic) == 0 {
		return nil, "", nil, fmt.Errorf("%w: empty: %v", ErrBadArchive, err)
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		d, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, "", nil, fmt.Errorf("%w: zstd: %v", ErrBadArchive, err)
		}
		return d, "zstd", d.Close, nil
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		g, err := gzip.NewReader(br)
		if err != nil {
			return nil, "", nil, fmt.Errorf("%w: gzip: %v", ErrBadArchive, err)
		}
		return g, "gzip", func() { g.Close() }, nil
	}
	return br, "none", func() {}, nil
}

// unpackArchive reads an archive from r into dir (which must exist and
// be private) and checks it against its manifest: every member named
// there, of its size and digest, once, and nothing else; regular files
// only. It returns the manifest and the compression found. On error dir
// may hold part of the archive: the caller removes it.
func unpackArchive(r io.Reader, dir string) (*Manifest, string, error) {
	dr, comp, closeFn, err := decompress(r)
	if err != nil {
		return nil, "", err
	}
	defer closeFn()
	tr := tar.NewReader(dr)
	h, err := tr.Next()
	if err != nil {
		return nil, comp, fmt.Errorf("%w: no manifest: %v", ErrBadArchive, err)
	}
	if h.Name != manifestName || h.Typeflag != tar.TypeReg {
		return nil, comp, fmt.Errorf("%w: first member is %q, not %s (not a stasis checkpoint archive?)", ErrBadArchive, h.Name, manifestName)
	}
	if h.Size > maxManifest {
		return nil, comp, fmt.Errorf("%w: manifest of %d bytes", ErrBadArchive, h.Size)
	}
	data, err := io.ReadAll(tr)
	if err != nil {
		return nil, comp, fmt.Errorf("%w: archive truncated in member %s: %v", ErrBadArchive, manifestName, err)
	}
	m := &Manifest{}
	if err := json.Unmarshal(data, m); err != nil {
		return nil, comp, fmt.Errorf("%w: member %s: %v", ErrBadArchive, manifestName, err)
	}
	if m.Version != manifestVersion {
		return nil, comp, fmt.Errorf("%w: manifest version %d, this stasis reads %d", ErrBadArchive, m.Version, manifestVersion)
	}
	want := map[string]Member{}
	for _, mem := range m.Members {
		if err := validMemberName(mem.Name); err != nil {
			return nil, comp, fmt.Errorf("manifest: %w", err)
		}
		if _, dup := want[mem.Name]; dup {
			return nil, comp, fmt.Errorf("%w: manifest names member %q twice", ErrBadArchive, mem.Name)
		}
		want[mem.Name] = mem
	}
	if err := os.WriteFile(filepath.Join(dir, manifestName), data, 0o600); err != nil {
		return nil, comp, err
	}
	if err := os.Mkdir(filepath.Join(dir, imagesDirName), 0o700); err != nil {
		return nil, comp, err
	}
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, comp, fmt.Errorf("%w: archive truncated or corrupt after %d of %d members: %v", ErrBadArchive, len(seen), len(want), err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		if h.Typeflag == tar.TypeDir && name == imagesDirName {
			continue
		}
		if err := validMemberName(h.Name); err != nil {
			return nil, comp, err
		}
		if h.Typeflag != tar.TypeReg {
			return nil, comp, fmt.Errorf("%w: member %q is not a regular file (type %q)", ErrBadArchive, h.Name, h.Typeflag)
		}
		if seen[h.Name] {
			return nil, comp, fmt.Errorf("%w: member %q appears twice", ErrBadArchive, h.Name)
		}
		seen[h.Name] = true
		mem, ok := want[h.Name]
		if !ok {
			return nil, comp, fmt.Errorf("%w: member %q is not in the manifest", ErrBadArchive, h.Name)
		}
		if h.Size != mem.Size {
			return nil, comp, fmt.Errorf("%w: member %q is %d bytes, the manifest says %d", ErrBadArchive, h.Name, h.Size, mem.Size)
		}
		if err := unpackMember(tr, filepath.Join(dir, filepath.FromSlash(h.Name)), mem); err != nil {
			return nil, comp, err
		}
	}
	// The compression's own end (gzip's CRC and length, zstd's frame
	// end) comes after the tar's: a stream cut there is refused too.
	if _, err := io.Copy(io.Discard, dr); err != nil {
		return nil, comp, fmt.Errorf("%w: archive truncated or corrupt after its last member: %v", ErrBadArchive, err)
	}
	for _, mem := range m.Members {
		if !seen[mem.Name] {
			return nil, comp, fmt.Errorf("%w: member %q is missing (archive truncated?)", ErrBadArchive, mem.Name)
		}
	}
	return m, comp, nil
}

func unpackMember(r io.Reader, dst string, mem Member) error {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("unpack member %q: %w", mem.Name, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: archive truncated in member %q (%d of %d bytes)", ErrBadArchive, mem.Name, n, mem.Size)
		}
		return fmt.Errorf("%w: member %q: %v", ErrBadArchive, mem.Name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != mem.SHA256 {
		return fmt.Errorf("%w: member %q: sha256 %s, the manifest says %s (tampered with?)", ErrBadArchive, mem.Name, got, mem.SHA256)
	}
	return f.Close()
}
