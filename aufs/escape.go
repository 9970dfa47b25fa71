package aufs

import "strings"

// unescapeOctal decodes the \NNN escapes the kernel's seq_escape and
// seq_path write into mountinfo and sysfs (space \040, tab \011, newline
// \012, backslash \134, ',' \054 and '=' \075 in overlay options, any
// control character in AUFS branch paths). A backslash not followed by
// three octal digits is kept: the kernel always escapes backslash itself,
// so such a sequence can only be literal.
func unescapeOctal(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// ovlUnescape removes overlayfs' own backslash escaping (ovl_unescape in
// the kernel): a backslash makes the next character literal. The kernel
// keeps upperdir/workdir/lowerdir as the user typed them, escapes and all,
// so the values read back from mountinfo still carry them.
func ovlUnescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ovlEscape is the inverse of ovlUnescape for a path put into mount(2)
// data: ',' would end the option, ':' would split lowerdir, and '\' would
// escape the next character.
func ovlEscape(s string) string {
	if !strings.ContainsAny(s, `\,:`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\', ',', ':':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// splitUnescaped splits s at each sep not preceded by an escaping
// backslash, leaving the escapes in place for ovlUnescape.
func splitUnescaped(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
