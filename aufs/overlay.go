package aufs

import (
	"fmt"
	"strings"
)

// OverlayOptions are the decoded super options of an overlay mount.
type OverlayOptions struct {
	Upper, Work string
	// Lower are the lower dirs top to bottom; Data the data-only layers
	// ("lowerdir=a:b::c" or "datadir+=c"), which follow them.
	Lower, Data []string
	// Extra are the remaining options, decoded ("index=off", "userxattr").
	// The superblock flag "rw" is dropped; "ro" is kept.
	Extra []string
}

// ParseOverlayOptions decodes overlay's super options as mountinfo shows
// them (the last field, still escaped). The kernel writes each value with
// seq_show_option, which turns ',', '=', space, tab, newline and backslash
// into \NNN; under that, the lowerdir/upperdir/workdir strings are what
// the mounter typed, with overlay's own "\:" / "\," / "\\" escapes. So:
// split at the (real) commas, decode \NNN, then split lowerdir at
// unescaped ':' ("::" starts the data-only layers) and drop the backslash
// escapes. lowerdir+ and datadir+ (new mount API) take no escapes.
func ParseOverlayOptions(superOpts string) (OverlayOptions, error) {
	var o OverlayOptions
	if superOpts == "" {
		return o, fmt.Errorf("aufs: empty overlay options")
	}
	for _, opt := range strings.Split(superOpts, ",") {
		k, v, hasV := strings.Cut(opt, "=")
		v = unescapeOctal(v)
		switch k {
		case "lowerdir":
			lower, data, err := splitLowerdir(v)
			if err != nil {
				return o, err
			}
			o.Lower = append(o.Lower, lower...)
			o.Data = append(o.Data, data...)
		case "lowerdir+":
			o.Lower = append(o.Lower, v)
		case "datadir+":
			o.Data = append(o.Data, v)
		case "upperdir":
			o.Upper = ovlUnescape(v)
		case "workdir":
			o.Work = ovlUnescape(v)
		case "rw", "":
		default:
			k = unescapeOctal(k)
			if hasV {
				k += "=" + v
			}
			o.Extra = append(o.Extra, k)
		}
	}
	if len(o.Lower) == 0 {
		return o, fmt.Errorf("aufs: overlay options %q: no lowerdir", superOpts)
	}
	if (o.Upper == "") != (o.Work == "") {
		return o, fmt.Errorf("aufs: overlay options %q: upperdir and workdir go together", superOpts)
	}
	// No path the kernel prints holds a NUL, and mount(2) could not take
	// one back: such input is not an overlay's.
	for _, p := range append(append([]string{o.Upper, o.Work}, o.Lower...), o.Data...) {
		if strings.ContainsRune(p, 0) {
			return o, fmt.Errorf("aufs: overlay options %q: NUL in a layer path", superOpts)
		}
	}
	return o, nil
}

// splitLowerdir splits a legacy lowerdir value at unescaped ':'; an empty
// element ("a::b") separates the merged lower layers from the data-only
// ones.
func splitLowerdir(v string) (lower, data []string, err error) {
	inData := false
	for _, p := range splitUnescaped(v, ':') {
		if p == "" {
			if inData || len(lower) == 0 {
				return nil, nil, fmt.Errorf("aufs: lowerdir %q: empty layer", v)
			}
			inData = true
			continue
		}
		if inData {
			data = append(data, ovlUnescape(p))
		} else {
			lower = append(lower, ovlUnescape(p))
		}
	}
	return lower, data, nil
}
