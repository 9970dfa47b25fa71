package aufs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tree creates files (content = path) and directories (trailing "/")
// under root.
func tree(t *testing.T, root string, entries ...string) {
	t.Helper()
	for _, e := range entries {
		p := filepath.Join(root, e)
		if strings.HasSuffix(e, "/") {
			must(t, os.MkdirAll(p, 0o755))
			continue
		}
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(e), 0o644))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, []byte(content), 0o644))
}

// mountinfoEscape escapes a path the way show_mountinfo does.
func mountinfoEscape(p string) string {
	r := strings.NewReplacer(" ", `\040`, "\t", `\011`, "\n", `\012`, `\`, `\134`)
	return r.Replace(p)
}

// seqPathEscape escapes a path the way AUFS's sysfs branch files do:
// 0x01-0x20, backslash and DEL as \NNN.
func seqPathEscape(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c <= ' ' || c == '\\' || c == 0x7f {
			b.WriteString(`\` + string('0'+(c>>6)) + string('0'+(c>>3&7)) + string('0'+(c&7)))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
