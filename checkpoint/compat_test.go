package checkpoint

import (
	"strings"
	"testing"
)

func TestCheckImage(t *testing.T) {
	here := hostFacts{Arch: "amd64", Kernel: "6.18", CgroupMode: "hybrid", ConfigDigest: "sha256:a"}
	same := Metadata{Arch: "amd64", Kernel: "6.18", CgroupMode: "hybrid", ConfigDigest: "sha256:a"}
	for _, tc := range []struct {
		name   string
		edit   func(*Metadata)
		manage string
		err    string   // refused with this, or
		warns  []string // these warnings, in order
	}{
		{name: "same host", edit: func(*Metadata) {}},
		{name: "no facts recorded", edit: func(m *Metadata) { *m = Metadata{} }},
		{name: "other arch", edit: func(m *Metadata) { m.Arch = "arm64" }, err: "made on arm64 and this host is amd64"},
		{name: "other kernel", edit: func(m *Metadata) { m.Kernel = "5.10" }, warns: []string{"kernel 5.10, this host runs 6.18"}},
		{name: "other cgroup mode", edit: func(m *Metadata) { m.CgroupMode = "unified" }, warns: []string{"unified cgroup host, this one is hybrid"}},
		{name: "other cgroup mode, full", edit: func(m *Metadata) { m.CgroupMode = "unified" }, manage: "full", err: "--manage-cgroups-mode full"},
		{name: "other config", edit: func(m *Metadata) { m.ConfigDigest = "sha256:b" }, warns: []string{"config.json differs"}},
		{name: "runc's", edit: func(m *Metadata) { *m = Metadata{Foreign: "runc's descriptors.json only"} }, warns: []string{"no stasis metadata (runc's descriptors.json only)"}},
		{name: "kernel and config", edit: func(m *Metadata) { m.Kernel, m.ConfigDigest = "5.10", "sha256:b" },
			warns: []string{"kernel 5.10", "config.json differs"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := same
			tc.edit(&m)
			warns, err := checkImage(&m, here, tc.manage)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(warns) != len(tc.warns) {
				t.Fatalf("warnings %q, want %d", warns, len(tc.warns))
			}
			for i, w := range tc.warns {
				if !strings.Contains(warns[i], w) {
					t.Errorf("warning %d = %q, want it to say %q", i, warns[i], w)
				}
			}
		})
	}
}

func TestCheckCriuVersion(t *testing.T) {
	m := &Metadata{CriuVersion: 40101}
	for have, ok := range map[int]bool{40101: true, 40200: true, 0: true, 40100: false, 31700: false} {
		err := checkCriuVersion(m, have)
		if (err == nil) != ok {
			t.Errorf("dumped by 4.1.1, have %d: err = %v", have, err)
		}
	}
	if err := checkCriuVersion(m, 31700); err == nil || !strings.Contains(err.Error(), "dumped by CRIU 4.1.1 and this host's CRIU is 3.17.0") {
		t.Errorf("err = %v", err)
	}
	if err := checkCriuVersion(&Metadata{}, 31700); err != nil {
		t.Errorf("no recorded version: %v", err)
	}
}
