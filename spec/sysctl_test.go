package spec

import "testing"

func TestSysctlPath(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"net.ipv4.ip_forward", "net/ipv4/ip_forward"},
		{"net/ipv4/ip_forward", "net/ipv4/ip_forward"},
		{"kernel.msgmax", "kernel/msgmax"},
		{"kernel/msgmax", "kernel/msgmax"},
		{"fs.mqueue.msg_max", "fs/mqueue/msg_max"},
		// A dot inside an interface name survives the slash form...
		{"net/ipv4/conf/eth0.100/forwarding", "net/ipv4/conf/eth0.100/forwarding"},
		{"net/ipv6/conf/d.1.2/disable_ipv6", "net/ipv6/conf/d.1.2/disable_ipv6"},
		// ...and is written as '/' in the dot form (sysctl(8)).
		{"net.ipv4.conf.eth0/100.forwarding", "net/ipv4/conf/eth0.100/forwarding"},
		{"hostname", "hostname"},
		// Bad names are refused, not turned into paths out of /proc/sys.
		{"", ""},
		{"net/../../self/attr/exec", ""},
		{"net.ipv4..ip_forward", ""},
		{"/net/ipv4/ip_forward", ""},
		{"net/ipv4/ip_forward/", ""},
		{"net/./ipv4", ""},
		{"..", ""},
	} {
		got, err := SysctlPath(tc.key)
		if tc.want == "" {
			if err == nil {
				t.Errorf("SysctlPath(%q) = %q, want an error", tc.key, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("SysctlPath(%q) = %q, %v; want %q", tc.key, got, err, tc.want)
		}
	}
}
