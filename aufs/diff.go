package aufs

import (
	"os"
	"strings"
)

// What a checkpoint archive needs to turn a union's writable layer into
// a rootfs diff: which layer the container wrote to, and what each of
// its entries means in the union (a file, a whiteout, AUFS's own).

// WritableLayer is the layer the container's writes went to: overlay's
// upper dir, or AUFS's top branch when it is writable; "" for none.
func (u *Union) WritableLayer() string {
	switch u.Kind {
	case Overlay:
		return u.Upper
	case AUFS:
		if len(u.Layers) > 0 && strings.HasPrefix(u.Layers[0].Perm, "rw") {
			return u.Layers[0].Path
		}
	}
	return ""
}

// EntryKind is what an entry of the writable layer is in the union.
type EntryKind int

const (
	EntryFile     EntryKind = iota // shows in the union as itself
	EntryWhiteout                  // hides a name of the layers below
	EntryInternal                  // the union's bookkeeping, not in the union at all
)

// Classify says what entry st, in directory dir of the writable layer,
// is; for a whiteout, also the name it hides (in the same directory).
func (u *Union) Classify(dir string, st os.FileInfo) (EntryKind, string) {
	name := st.Name()
	if u.Kind == AUFS && strings.HasPrefix(name, whPrefix) {
		if strings.HasPrefix(name, whPrefix+whPrefix) {
			// .wh..wh.opq, .wh..wh.aufs, .wh..wh.orph, .wh..wh.plnk
			return EntryInternal, ""
		}
		return EntryWhiteout, strings.TrimPrefix(name, whPrefix)
	}
	if u.isWhiteout(dir, st) {
		return EntryWhiteout, name
	}
	return EntryFile, ""
}

// OpaqueDir reports a directory of the writable layer that hides the
// same directory in the layers below.
func (u *Union) OpaqueDir(dir string) bool {
	switch u.Kind {
	case AUFS:
		return exists(dir + "/" + whOpaque)
	case Overlay:
		return u.xattr(dir, "opaque") == "y"
	}
	return false
}
