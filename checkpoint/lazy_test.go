package checkpoint

import (
	"strings"
	"testing"
)

func TestLazyPagesPossible(t *testing.T) {
	oldRead, oldCap := readPipeMaxSize, hasSysResource
	t.Cleanup(func() { readPipeMaxSize, hasSysResource = oldRead, oldCap })
	for _, tc := range []struct {
		max    string
		capRes bool
		ok     bool
	}{
		{"1048576\n", false, false}, // Linux's default, no CAP_SYS_RESOURCE: refused
		{"1048576\n", true, true},   // the capability lifts the limit
		{"4194304\n", false, true},  // a raised limit is enough
		{"3354624", false, true},    // exactly CRIU's size
		{"garbage", false, true},    // cannot tell: CRIU decides
	} {
		readPipeMaxSize = func() ([]byte, error) { return []byte(tc.max), nil }
		hasSysResource = func() bool { return tc.capRes }
		err := lazyPagesPossible()
		if (err == nil) != tc.ok {
			t.Errorf("max=%q cap=%v: err = %v, want ok=%v", tc.max, tc.capRes, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "fs.pipe-max-size") {
			t.Errorf("error does not say what to raise: %v", err)
		}
	}
}
