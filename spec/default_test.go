package spec

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestDefaultValidates(t *testing.T) {
	if err := Validate(Default()); err != nil {
		t.Fatalf("Default() does not validate: %v", err)
	}
}

func TestDefaultRoundTrip(t *testing.T) {
	want := Default()
	data, err := json.MarshalIndent(want, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	got, err := decode(data)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip changed the spec:\n%s", data)
	}
	if err := Validate(got); err != nil {
		t.Fatalf("round-tripped Default() does not validate: %v", err)
	}
}

func TestDefaultMatchesRunc(t *testing.T) {
	s := Default()
	if s.Hostname != "stasis" || s.Root.Path != "rootfs" || !s.Root.Readonly {
		t.Errorf("root/hostname: %+v %q", s.Root, s.Hostname)
	}
	p := s.Process
	if !p.Terminal || !p.NoNewPrivileges || p.Cwd != "/" || !reflect.DeepEqual(p.Args, []string{"sh"}) {
		t.Errorf("process: %+v", p)
	}
	if len(p.Capabilities.Ambient) != 0 || len(p.Capabilities.Bounding) != 3 {
		t.Errorf("capabilities: %+v", p.Capabilities)
	}
	var ns []string
	for _, n := range s.Linux.Namespaces {
		ns = append(ns, string(n.Type))
	}
	if want := []string{"pid", "network", "ipc", "uts", "mount", "cgroup"}; !reflect.DeepEqual(ns, want) {
		t.Errorf("namespaces = %v, want %v", ns, want)
	}
	if len(s.Mounts) != 7 {
		t.Errorf("mounts = %d, want 7", len(s.Mounts))
	}
	// Default must hand out fresh slices: callers edit it before writing.
	s.Process.Capabilities.Bounding[0] = "X"
	if Default().Process.Capabilities.Bounding[0] != "CAP_AUDIT_WRITE" || s.Process.Capabilities.Effective[0] != "CAP_AUDIT_WRITE" {
		t.Error("Default shares slices between calls or sets")
	}
}
