package checkpoint

import (
	"archive/tar"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	criucore "github.com/checkpoint-restore/go-criu/v7/crit/images/criu-core"
	"github.com/checkpoint-restore/go-criu/v7/crit/images/pstree"
	units "github.com/docker/go-units"
	"google.golang.org/protobuf/proto"
)

// Inspection is what `checkpoint inspect` says of an archive or an
// image dir.
type Inspection struct {
	Source      string `json:"source"`
	Kind        string `json:"kind"` // "archive", "unpacked archive", "image directory"
	Compression string `json:"compression,omitempty"`
	Members     int    `json:"members,omitempty"`

	ID            string     `json:"id,omitempty"`
	StasisVersion string     `json:"stasis_version,omitempty"`
	CriuVersion   string     `json:"criu_version,omitempty"`
	Created       *time.Time `json:"created,omitempty"`
	Hostname      string     `json:"hostname,omitempty"`
	Kernel        string     `json:"kernel,omitempty"`
	Arch          string     `json:"arch,omitempty"`
	Terminal      bool       `json:"terminal"`
	// Foreign: the images have no stasis.json (runc's, CRIU's own).
	Foreign string `json:"foreign,omitempty"`

	// ProcessTree is decoded from pstree.img and core-*.img (crit).
	ProcessTree  *Process `json:"process_tree,omitempty"`
	ProcessCount int      `json:"process_count"`
	// ProcessError says why there is no tree.
	ProcessError string `json:"process_error,omitempty"`

	MemoryBytes int64       `json:"memory_bytes"` // pages-*.img
	ImagesBytes int64       `json:"images_bytes"` // the whole image dir
	RootfsDiff  *RootfsDiff `json:"rootfs_diff,omitempty"`
}

// Process is one task of the checkpointed tree.
type Process struct {
	PID      uint32     `json:"pid"`
	PGID     uint32     `json:"pgid"`
	SID      uint32     `json:"sid"`
	Comm     string     `json:"comm"`
	Children []*Process `json:"children,omitempty"`
}

// RootfsDiff sums up rootfs-diff.tar and deleted.files.
type RootfsDiff struct {
	Bytes   int64  `json:"bytes"`   // the tar's size
	Entries int    `json:"entries"` // its members
	Deleted int    `json:"deleted"` // deleted.files entries
	How     string `json:"how,omitempty"`
}

// Inspect looks at path: an archive file (unpacked, and so verified,
// into a private temp dir that is removed after), an unpacked archive,
// or an image dir.
func Inspect(path string) (*Inspection, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	in := &Inspection{Source: path}
	if !st.IsDir() {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("inspect: %w", err)
		}
		defer f.Close()
		tmp, err := os.MkdirTemp("", "stasis-inspect-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		m, comp, err := unpackArchive(f, tmp)
		if err != nil {
			return nil, fmt.Errorf("inspect %s: %w", path, err)
		}
		in.Kind, in.Compression, in.Members = "archive", comp, len(m.Members)
		return in, in.fill(tmp, m)
	}
	if m, err := readManifestFile(path); err == nil {
		in.Kind, in.Members = "unpacked archive", len(m.Members)
		return in, in.fill(path, m)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("inspect %s: %w", path, err)
	}
	in.Kind = "image directory"
	return in, in.fill("", nil)
}

// fill reads an archive's top dir (archiveDir, manifest m) or, with
// archiveDir "", the image dir in.Source.
func (in *Inspection) fill(archiveDir string, m *Manifest) error {
	images := in.Source
	if archiveDir != "" {
		images = filepath.Join(archiveDir, imagesDirName)
		in.Created, in.Hostname, in.Kernel, in.Arch = &m.Created, m.Hostname, m.Kernel, m.Arch
		in.RootfsDiff = &RootfsDiff{How: m.RootfsDiff}
		if err := in.RootfsDiff.read(archiveDir); err != nil {
			return err
		}
	}
	meta, err := readMetadata(images)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", in.Source, err)
	}
	in.ID, in.StasisVersion, in.Terminal, in.Foreign = meta.ID, meta.StasisVersion, meta.Terminal, meta.Foreign
	if meta.CriuVersion > 0 {
		v := meta.CriuVersion
		in.CriuVersion = fmt.Sprintf("%d.%d.%d", v/10000, v/100%100, v%100)
	}
	if in.Kernel == "" {
		in.Kernel, in.Arch = meta.Kernel, meta.Arch
	}
	ents, err := os.ReadDir(images)
	if err != nil {
		return err
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		in.ImagesBytes += fi.Size()
		if strings.HasPrefix(e.Name(), "pages-") && strings.HasSuffix(e.Name(), ".img") {
			in.MemoryBytes += fi.Size()
		}
	}
	tree, err := processTree(images)
	if err != nil {
		in.ProcessError = err.Error()
		return nil
	}
	in.ProcessTree = tree
	in.ProcessCount = countTree(tree)
	return nil
}

func (d *RootfsDiff) read(dir string) error {
	f, err := os.Open(filepath.Join(dir, rootfsDiffName))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil {
		d.Bytes = st.Size()
	}
	tr := tar.NewReader(f)
	for {
		_, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrBadArchive, rootfsDiffName, err)
		}
		d.Entries++
	}
	deleted, err := readDeleted(filepath.Join(dir, deletedName))
	d.Deleted = len(deleted)
	return err
}

// processTree decodes pstree.img and each task's core-<pid>.img as crit
// does. go-criu's crit package itself cannot be linked beside its stats
// package (both register stats.proto), so the two images are read here.
func processTree(images string) (*Process, error) {
	var entries []*pstree.PstreeEntry
	err := readImage(filepath.Join(images, "pstree.img"), func(b []byte) error {
		e := &pstree.PstreeEntry{}
		entries = append(entries, e)
		return proto.Unmarshal(b, e)
	})
	if err != nil {
		return nil, err
	}
	procs := map[uint32]*Process{}
	var root *Process
	for _, e := range entries {
		p := &Process{PID: e.GetPid(), PGID: e.GetPgid(), SID: e.GetSid()}
		_ = readImage(filepath.Join(images, fmt.Sprintf("core-%d.img", p.PID)), func(b []byte) error {
			c := &criucore.CoreEntry{}
			if err := proto.Unmarshal(b, c); err != nil {
				return err
			}
			p.Comm = c.GetTc().GetComm()
			return io.EOF // the first entry is the task's
		})
		procs[p.PID] = p
		if e.GetPpid() == 0 {
			root = p
		}
	}
	for _, e := range entries {
		if parent := procs[e.GetPpid()]; parent != nil && e.GetPpid() != 0 {
			parent.Children = append(parent.Children, procs[e.GetPid()])
		}
	}
	for _, p := range procs {
		sort.Slice(p.Children, func(i, j int) bool { return p.Children[i].PID < p.Children[j].PID })
	}
	if root == nil {
		return nil, errors.New("pstree.img names no root task")
	}
	return root, nil
}

// imgCommonMagic starts every CRIU image but inventory.img; the image's
// own magic follows it, then entries: a little-endian uint32 size and a
// protobuf message of that size each.
const imgCommonMagic = 0x54564319

func readImage(path string, entry func([]byte) error) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(data) < 8 || binary.LittleEndian.Uint32(data) != imgCommonMagic {
		return fmt.Errorf("%s: not a CRIU image", filepath.Base(path))
	}
	for data = data[8:]; len(data) > 0; {
		if len(data) < 4 {
			return fmt.Errorf("%s: truncated", filepath.Base(path))
		}
		n := binary.LittleEndian.Uint32(data)
		if uint64(len(data)-4) < uint64(n) {
			return fmt.Errorf("%s: truncated", filepath.Base(path))
		}
		if err := entry(data[4 : 4+n]); err != nil {
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("%s: %w", filepath.Base(path), err)
		}
		data = data[4+n:]
	}
	return nil
}

func countTree(p *Process) int {
	if p == nil {
		return 0
	}
	n := 1
	for _, c := range p.Children {
		n += countTree(c)
	}
	return n
}

func (in *Inspection) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", in.Kind, in.Source)
	if in.Compression != "" {
		fmt.Fprintf(&b, " (%s, %d members, all digests verified)", in.Compression, in.Members)
	}
	b.WriteString("\n")
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "  %-13s %s\n", k+":", v)
		}
	}
	row("container", in.ID)
	row("foreign", in.Foreign)
	if in.Created != nil {
		row("made", in.Created.Format(time.RFC3339))
	}
	row("host", in.Hostname)
	where := in.Kernel
	if in.Arch != "" {
		where += " (" + in.Arch + ")"
	}
	row("kernel", where)
	row("stasis", in.StasisVersion)
	row("criu", in.CriuVersion)
	row("terminal", map[bool]string{true: "yes", false: "no"}[in.Terminal])
	row("memory", fmt.Sprintf("%s (pages-*.img)", units.BytesSize(float64(in.MemoryBytes))))
	row("images", units.BytesSize(float64(in.ImagesBytes)))
	if d := in.RootfsDiff; d != nil {
		row("rootfs diff", fmt.Sprintf("%s, %d entries, %d deleted; %s", units.BytesSize(float64(d.Bytes)), d.Entries, d.Deleted, d.How))
	}
	if in.ProcessTree == nil {
		row("processes", "unknown: "+in.ProcessError)
		return b.String()
	}
	fmt.Fprintf(&b, "  processes (%d):\n", in.ProcessCount)
	var walk func(p *Process, depth int)
	walk = func(p *Process, depth int) {
		fmt.Fprintf(&b, "    %s%d %s (pgid %d, sid %d)\n", strings.Repeat("  ", depth), p.PID, p.Comm, p.PGID, p.SID)
		for _, c := range p.Children {
			walk(c, depth+1)
		}
	}
	walk(in.ProcessTree, 0)
	return b.String()
}
