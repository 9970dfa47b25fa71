package cgroupmgr

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// ownHybrid mirrors this machine: memory lives under /process_api/x.
var ownHybrid = map[string]string{
	"cpu": "/", "cpuacct": "/", "memory": "/process_api/x",
	"name=systemd": "/", "": "/",
}

func TestResolve(t *testing.T) {
	cases := []struct {
		name, id, path string
		want           map[string]string
		err            error
	}{
		{name: "absolute", id: "c", path: "/a/b", want: map[string]string{
			"cpu": "/a/b", "cpuacct": "/a/b", "memory": "/a/b", "name=systemd": "/a/b", "": "/a/b"}},
		{name: "relative", id: "c", path: "a/b", want: map[string]string{
			"cpu": "/a/b", "cpuacct": "/a/b", "memory": "/process_api/x/a/b", "name=systemd": "/a/b", "": "/a/b"}},
		{name: "empty", id: "c1", path: "", want: map[string]string{
			"cpu": "/c1", "cpuacct": "/c1", "memory": "/c1", "name=systemd": "/c1", "": "/c1"}},
		{name: "dotdot inside", id: "c", path: "/a/../b/./c", want: map[string]string{
			"cpu": "/b/c", "cpuacct": "/b/c", "memory": "/b/c", "name=systemd": "/b/c", "": "/b/c"}},
		{name: "absolute escape", id: "c", path: "/a/../../etc", err: ErrEscapes},
		{name: "relative escape", id: "c", path: "../sibling", err: ErrEscapes},
		{name: "relative escape deep", id: "c", path: "a/../../b", err: ErrEscapes},
		{name: "root itself", id: "c", path: "/", err: ErrEscapes},
		{name: "own cgroup itself", id: "c", path: ".", err: ErrEscapes},
		{name: "id escapes", id: "..", path: "", err: ErrEscapes},
		{name: "systemd", id: "c", path: "system.slice:stasis:c", err: ErrSystemdUnsupported},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(tc.id, tc.path, ownHybrid)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestResolveSystemdMessage(t *testing.T) {
	_, err := Resolve("c", "machine.slice:libpod:c", ownHybrid)
	if err == nil || !strings.Contains(err.Error(), "systemd cgroup driver not supported") {
		t.Fatalf("err = %v", err)
	}
}

func TestLocalize(t *testing.T) {
	for _, tc := range []struct{ p, root, want string }{
		{"/a/b", "/", "/a/b"},
		{"/docker/x/y", "/docker/x", "/y"},
		{"/docker/x", "/docker/x", "/"},
		{"/other", "/docker/x", "/"},
	} {
		if got := localize(tc.p, tc.root); got != tc.want {
			t.Errorf("localize(%q,%q) = %q, want %q", tc.p, tc.root, got, tc.want)
		}
	}
}
