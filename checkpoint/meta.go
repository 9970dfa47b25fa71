package checkpoint

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/stasis-oci/stasis/aufs"
)

const (
	metaFile        = "stasis.json"
	descriptorsFile = "descriptors.json" // runc's name and format, for tools that read it
	statsFile       = "stats.json"
)

// Metadata is what a checkpoint records beside CRIU's images: what
// restore needs (stdio, external mounts, namespaces) and what stasis saw,
// so a restore elsewhere can say what differs.
type Metadata struct {
	ID            string     `json:"id"`
	StasisVersion string     `json:"stasis_version"`
	CriuVersion   int        `json:"criu_version"`
	Kernel        string     `json:"kernel"`
	Arch          string     `json:"arch"`
	CgroupMode    string     `json:"cgroup_mode"`
	ConfigDigest  string     `json:"config_digest"`
	Bundle        string     `json:"bundle"`
	Descriptors   []string   `json:"descriptors"`
	Externals     []External `json:"external_mounts,omitempty"`
	Terminal      bool       `json:"terminal"`
	// Paused: the container was paused when checkpointed. CRIU records
	// its freezer FROZEN either way (stasis freezes it before CRIU does),
	// and restores that state in full mode.
	Paused bool `json:"paused,omitempty"`
	// ManageCgroups is the checkpoint's --manage-cgroups-mode. An ignore
	// checkpoint has no cgroup tree for CRIU to map onto the new cgroups,
	// so it restores with ignore only.
	ManageCgroups string `json:"manage_cgroups_mode,omitempty"`
	// ExternalNetNS is set when the container joined a network namespace
	// by path (Docker does): restore must hand CRIU the new one.
	ExternalNetNS bool `json:"external_netns,omitempty"`
	// ExternalNamespaces are the namespaces (spec type names: "ipc",
	// "network", "pid", "uts") the container joined by path: CRIU dumped
	// none of them, and restore puts the processes into those the
	// bundle names (see extns.go).
	ExternalNamespaces []string `json:"external_namespaces,omitempty"`
	// LoopbackOnlyNet: the container's own network namespace held only an
	// untouched lo, so it was not dumped; restore makes a new one, lo up.
	// Always written, false too: the record says what was decided.
	LoopbackOnlyNet bool `json:"loopback_only_net"`
	// CRIUNetNS: CRIU ran inside that loopback-only namespace for the
	// dump, took it for its own and so dumped nothing of it (not even the
	// host-wide conntrack walk, ~20 ms of frozen time); the images hold
	// no network namespace. Restore runs CRIU in a new one, lo up, which
	// the restored tasks inherit (netns.go). Without it (older images),
	// CRIU made the namespace itself, empty.
	CRIUNetNS bool `json:"criu_in_netns,omitempty"`
	// EmptyNetNS: checkpointed with --empty-ns network, so CRIU recorded
	// nothing of the network namespace. Restore tells CRIU so (it then
	// makes the namespace and restores nothing into it) and, for the
	// container's own namespace, brings lo up: what a new container has.
	EmptyNetNS bool `json:"empty_netns,omitempty"`
	// Union is the rootfs's union (AUFS or overlay) layer stack, so a
	// restore can mount it again when the rootfs is not mounted.
	Union *aufs.Union `json:"union,omitempty"`
	// Whether the images hold file locks is not recorded here: restore
	// reads it from CRIU's own filelocks.img, which a runc-made image has
	// too.

	// Foreign, never written, says what made a checkpoint that has no
	// stasis.json (runc, or CRIU by hand): nothing of the source host
	// can be checked then.
	Foreign string `json:"-"`
	// UserNS: the container had a user namespace of its own, so its
	// restored tasks read the images as its mapped root (see
	// readableImages).
	UserNS bool `json:"userns,omitempty"`
}

// External is a mount whose source lies outside the container, so CRIU
// must be told about it on dump and given its new source on restore; or
// a tmpfs stasis makes again at restore ("tmpfs").
type External struct {
	// Dest is where the mount is in the container, symlinks resolved:
	// CRIU names mounts by that path.
	Dest string `json:"dest"`
	// SpecDest is a bind mount's destination as config.json spells it
	// (it differs from Dest when it goes through a symlink in the
	// rootfs); restore finds the bundle's mount by it.
	SpecDest string `json:"spec_dest,omitempty"`
	// Kind says where the restore finds its source: "bind" (the bundle's
	// mount with this destination), "cgroup" (the new container's cgroup
	// dir for Controller), "host" (HostPath, the same on every host).
	Kind       string `json:"kind"`
	Controller string `json:"controller,omitempty"`
	HostPath   string `json:"host_path,omitempty"`
	// Tree is a "tmpfs" mount's whole content, made again at restore
	// (tmpfs.go).
	Tree *Tree `json:"tree,omitempty"`
	// made is where restore mounted the new tmpfs of Tree.
	made string
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func readMetadata(imageDir string) (*Metadata, error) {
	data, err := os.ReadFile(filepath.Join(imageDir, metaFile))
	if err != nil {
		// A checkpoint made by runc has descriptors.json only.
		if os.IsNotExist(err) {
			return metadataFromRunc(imageDir)
		}
		return nil, fmt.Errorf("read checkpoint metadata: %w", err)
	}
	m, err := decodeMetadata(data)
	if err != nil {
		return nil, fmt.Errorf("checkpoint metadata %s: %w", filepath.Join(imageDir, metaFile), err)
	}
	return m, nil
}

// writeMetadata writes stasis.json into the image dir.
func writeMetadata(imageDir string, m *Metadata) error {
	data, err := encodeMetadata(m)
	if err != nil {
		return fmt.Errorf("checkpoint metadata: %w", err)
	}
	path := filepath.Join(imageDir, metaFile)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// encodeMetadata is stasis.json's encoding. It refuses metadata whose
// paths checkPaths refuses: a checkpoint must not record what its
// restore could not use.
func encodeMetadata(m *Metadata) ([]byte, error) {
	if err := m.checkPaths(); err != nil {
		return nil, err
	}
	return json.MarshalIndent(m, "", "  ")
}

// decodeMetadata is encodeMetadata's inverse: decodeMetadata(encode(m))
// is m. The image dir is root's input, but restore acts on the paths in
// it (mounts the union's layers, hands CRIU the external mounts'
// sources): metadata checkPaths refuses is refused here, before restore
// creates anything.
func decodeMetadata(data []byte) (*Metadata, error) {
	m := &Metadata{}
	if err := json.Unmarshal(data, m); err != nil {
		return nil, err
	}
	if err := m.checkPaths(); err != nil {
		return nil, err
	}
	return m, nil
}

// namedPath is a path the metadata records, named by its JSON field
// ("union.layers[1].path") so an error can say which one is wrong.
type namedPath struct{ field, path string }

// paths lists every path in the metadata that restore uses: those that
// are host paths (the bundle, a host-kind external mount's source, the
// union's mountpoint, upper, work and layer dirs) and those in the
// container (the external mounts' destinations, the union's root).
// Optional ones are left out when empty.
func (m *Metadata) paths() []namedPath {
	var ps []namedPath
	add := func(field, p string, required bool) {
		if p != "" || required {
			ps = append(ps, namedPath{field, p})
		}
	}
	add("bundle", m.Bundle, false)
	for i, e := range m.Externals {
		f := fmt.Sprintf("external_mounts[%d].", i)
		add(f+"dest", e.Dest, true)
		add(f+"spec_dest", e.SpecDest, false)
		add(f+"host_path", e.HostPath, e.Kind == "host")
	}
	if u := m.Union; u != nil {
		add("union.root", u.Root, false)
		add("union.mountpoint", u.Mountpoint, false)
		add("union.upper", u.Upper, false)
		add("union.work", u.Work, false)
		for i, l := range u.Layers {
			add(fmt.Sprintf("union.layers[%d].path", i), l.Path, true)
		}
	}
	return ps
}

// checkPaths wants every path absolute and clean (filepath.Clean(p) ==
// p), as the kernel reports them and a checkpoint records them: a
// relative one would be taken against restore's working directory, and
// ".." or "//" in one is no path stasis wrote; so no NUL either. It also
// refuses a path JSON cannot keep: a file name that is not UTF-8 would
// be written with U+FFFD in place of its bytes, and restore would look
// for a file that does not exist. The error names the field and value.
func (m *Metadata) checkPaths() error {
	for _, p := range m.paths() {
		switch {
		case !utf8.ValidString(p.path):
			return fmt.Errorf("%s %q is not UTF-8, which checkpoint metadata (JSON) cannot record", p.field, p.path)
		case strings.IndexByte(p.path, 0) >= 0:
			return fmt.Errorf("%s %q holds a NUL", p.field, p.path)
		case !filepath.IsAbs(p.path):
			return fmt.Errorf("%s %q is not an absolute path", p.field, p.path)
		case filepath.Clean(p.path) != p.path:
			return fmt.Errorf("%s %q is not a clean path (clean, it is %q)", p.field, p.path, filepath.Clean(p.path))
		}
	}
	return nil
}

func metadataFromRunc(imageDir string) (*Metadata, error) {
	data, err := os.ReadFile(filepath.Join(imageDir, descriptorsFile))
	if os.IsNotExist(err) && isCriuImageDir(imageDir) {
		// CRIU's own images: stdio is restored as it was dumped.
		return &Metadata{Foreign: "a CRIU image dir without " + descriptorsFile}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s is not a checkpoint: no %s or %s (%w)", imageDir, metaFile, descriptorsFile, err)
	}
	m := &Metadata{Foreign: "runc's " + descriptorsFile + " only"}
	if err := json.Unmarshal(data, &m.Descriptors); err != nil {
		return nil, fmt.Errorf("%s: %w", descriptorsFile, err)
	}
	return m, nil
}

func fileDigest(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

var goArch = runtime.GOARCH

// stdio reads what the container's init has as fds 0-2, as runc's
// descriptors.json records them (["/dev/null","pipe:[1146009]",...]),
// except that an fd on a file outside every mount of the container (the
// host's /dev/null that containerd gives a container without stdin, a log
// file) is recorded as CRIU's external-file key "file[mnt_id:inode]":
// CRIU cannot dump it, and restore hands it our own fd instead. Those keys
// are returned again as externals for the dump request.
func stdio(procRoot string, pid int, mounts []*mountinfo.Info) (descs, externals []string, err error) {
	inContainer := map[int]bool{}
	for _, m := range mounts {
		inContainer[m.ID] = true
	}
	descs = make([]string, 3)
	for i := range descs {
		fdPath := fmt.Sprintf("%s/%d/fd/%d", procRoot, pid, i)
		l, err := os.Readlink(fdPath)
		if err != nil {
			return nil, nil, fmt.Errorf("read stdio of the container: %w", err)
		}
		descs[i] = l
		if !strings.HasPrefix(l, "/") || isTTY(l) {
			// pipe:[..], socket:[..], anon_inode:..: CRIU's own business;
			// a terminal is --shell-job's (CRIU keys ttys differently).
			continue
		}
		mnt, err := fdMountIDAt(procRoot, pid, i)
		if err != nil || inContainer[mnt] {
			continue
		}
		var st unix.Stat_t
		if err := unix.Stat(fdPath, &st); err != nil {
			continue
		}
		descs[i] = fmt.Sprintf("file[%x:%x]", mnt, st.Ino)
		externals = append(externals, descs[i])
	}
	return descs, externals, nil
}

func fdMountIDAt(procRoot string, pid, fd int) (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("%s/%d/fdinfo/%d", procRoot, pid, fd))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "mnt_id:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, errors.New("no mnt_id in fdinfo")
}

// inheritedStdio says which recorded stdio entries restore replaces with
// its own fds: pipes (so output keeps flowing into the new pipes) and
// external files.
func inheritedStdio(d string) bool {
	return strings.HasPrefix(d, "pipe:") || strings.HasPrefix(d, "file[")
}
