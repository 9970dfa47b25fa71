package spec

import (
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// MountOpts is an OCI mount's option list split into what mount(2) and
// mount_setattr(2) take.
type MountOpts struct {
	// Flags are mount(2) flags to set. For "bind"/"rbind" they include
	// MS_BIND (and MS_REC), as mount(2) expects.
	Flags uintptr
	// PropFlags are propagation changes, in order, each its own mount(2)
	// call (the kernel rejects them combined): MS_SHARED etc., |MS_REC for
	// the r-forms.
	PropFlags []uintptr
	// Bind is set by "bind" or "rbind"; Recursive by "rbind".
	Bind, Recursive bool
	// Data is every option mount(2) flags do not cover, comma-joined, for
	// the filesystem ("mode=755,size=65536k").
	Data string
	// ClearFlags collects flags explicitly turned off ("rw", "suid", "dev",
	// "exec", ...) so a bind remount can clear what the source had set.
	ClearFlags uintptr
	// RecAttrSet/RecAttrClr are MOUNT_ATTR_* bits from the recursive forms
	// ("rro", "rnosuid", "rrw", ...), meant for mount_setattr(AT_RECURSIVE).
	RecAttrSet, RecAttrClr uint64
	// IDMap is set by "idmap" or "ridmap" (RecursiveIDMap: the mapping
	// applies to every mount of an rbind, not just its top).
	IDMap, RecursiveIDMap bool
}

type mountFlag struct {
	clear bool
	flag  uintptr
}

// mountFlags covers every flag option runc knows.
var mountFlags = map[string]mountFlag{
	"async":         {true, unix.MS_SYNCHRONOUS},
	"atime":         {true, unix.MS_NOATIME},
	"defaults":      {false, 0},
	"dev":           {true, unix.MS_NODEV},
	"diratime":      {true, unix.MS_NODIRATIME},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"exec":          {true, unix.MS_NOEXEC},
	"iversion":      {false, unix.MS_I_VERSION},
	"lazytime":      {false, unix.MS_LAZYTIME},
	"loud":          {true, unix.MS_SILENT},
	"mand":          {false, unix.MS_MANDLOCK},
	"noatime":       {false, unix.MS_NOATIME},
	"nodev":         {false, unix.MS_NODEV},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"noexec":        {false, unix.MS_NOEXEC},
	"noiversion":    {true, unix.MS_I_VERSION},
	"nolazytime":    {true, unix.MS_LAZYTIME},
	"nomand":        {true, unix.MS_MANDLOCK},
	"norelatime":    {true, unix.MS_RELATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"nosuid":        {false, unix.MS_NOSUID},
	"nosymfollow":   {false, unix.MS_NOSYMFOLLOW},
	"relatime":      {false, unix.MS_RELATIME},
	"remount":       {false, unix.MS_REMOUNT},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"silent":        {false, unix.MS_SILENT},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"suid":          {true, unix.MS_NOSUID},
	"symfollow":     {true, unix.MS_NOSYMFOLLOW},
	"sync":          {false, unix.MS_SYNCHRONOUS},
}

var propagationFlags = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

type recAttr struct {
	clear bool
	attr  uint64
}

// recAttrFlags are runc's recursive options, applied to a whole subtree.
var recAttrFlags = map[string]recAttr{
	"rro":            {false, unix.MOUNT_ATTR_RDONLY},
	"rrw":            {true, unix.MOUNT_ATTR_RDONLY},
	"rnosuid":        {false, unix.MOUNT_ATTR_NOSUID},
	"rsuid":          {true, unix.MOUNT_ATTR_NOSUID},
	"rnodev":         {false, unix.MOUNT_ATTR_NODEV},
	"rdev":           {true, unix.MOUNT_ATTR_NODEV},
	"rnoexec":        {false, unix.MOUNT_ATTR_NOEXEC},
	"rexec":          {true, unix.MOUNT_ATTR_NOEXEC},
	"rnodiratime":    {false, unix.MOUNT_ATTR_NODIRATIME},
	"rdiratime":      {true, unix.MOUNT_ATTR_NODIRATIME},
	"rrelatime":      {false, unix.MOUNT_ATTR_RELATIME},
	"rnoatime":       {false, unix.MOUNT_ATTR_NOATIME},
	"rstrictatime":   {false, unix.MOUNT_ATTR_STRICTATIME},
	"rnosymfollow":   {false, unix.MOUNT_ATTR_NOSYMFOLLOW},
	"rsymfollow":     {true, unix.MOUNT_ATTR_NOSYMFOLLOW},
	"rnorelatime":    {true, unix.MOUNT_ATTR__ATIME},
	"rnostrictatime": {true, unix.MOUNT_ATTR__ATIME},
}

// ignoredMountOptions are not supported yet, and must not leak into the
// filesystem data string where the kernel would reject them.
var ignoredMountOptions = map[string]bool{
	"tmpcopyup": true,
}

// ParseMountOptions splits OCI mount options. Later options win over
// earlier ones for the same flag ("ro,rw" ends read-write), as with mount(8).
func ParseMountOptions(opts []string) MountOpts {
	var m MountOpts
	var data []string
	for _, o := range opts {
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				m.Flags &^= f.flag
				m.ClearFlags |= f.flag
			} else {
				m.Flags |= f.flag
				m.ClearFlags &^= f.flag
			}
			continue
		}
		if p, ok := propagationFlags[o]; ok {
			m.PropFlags = append(m.PropFlags, p)
			continue
		}
		if a, ok := recAttrFlags[o]; ok {
			if a.clear {
				m.RecAttrSet &^= a.attr
				m.RecAttrClr |= a.attr
			} else {
				m.RecAttrSet |= a.attr
				m.RecAttrClr &^= a.attr
			}
			// The atime modes are an enum, not bits: selecting one means
			// clearing the whole atime field first.
			if a.attr&unix.MOUNT_ATTR__ATIME != 0 || o == "rrelatime" {
				m.RecAttrClr |= unix.MOUNT_ATTR__ATIME
			}
			continue
		}
		switch {
		case o == "bind":
			m.Bind = true
			m.Flags |= unix.MS_BIND
		case o == "rbind":
			m.Bind, m.Recursive = true, true
			m.Flags |= unix.MS_BIND | unix.MS_REC
		case o == "idmap":
			m.IDMap = true
		case o == "ridmap":
			m.IDMap, m.RecursiveIDMap = true, true
		case ignoredMountOptions[o]:
		case o == "":
		default:
			data = append(data, o)
		}
	}
	m.Data = strings.Join(data, ",")
	return m
}

// IsBind reports whether m is a bind mount, by type or by option.
func IsBind(m specs.Mount) bool {
	if m.Type == "bind" {
		return true
	}
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

// IsIDMapped reports whether m is to be an id-mapped mount: it has its own
// uidMappings/gidMappings, or the idmap/ridmap option (which takes the
// container's user namespace mappings).
func IsIDMapped(m specs.Mount) bool {
	return len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 || ParseMountOptions(m.Options).IDMap
}

// KnownMountOptions lists every mount option stasis understands, for
// `stasis features`.
func KnownMountOptions() []string {
	out := []string{"bind", "rbind", "idmap", "ridmap"}
	for k := range mountFlags {
		out = append(out, k)
	}
	for k := range propagationFlags {
		out = append(out, k)
	}
	for k := range recAttrFlags {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// PropagationFlags maps a propagation name ("rslave", "private", ...)
// to its mount(2) flags.
func PropagationFlags(name string) (uintptr, bool) {
	f, ok := propagationFlags[name]
	return f, ok
}
