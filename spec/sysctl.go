package spec

import (
	"fmt"
	"strings"
)

// SysctlPath turns a linux.sysctl key into its file under /proc/sys, as
// sysctl(8) and runc's validator read keys: the first separator decides
// the form. In slash form ("net/ipv4/conf/eth0.100/forwarding") the key
// is the path as it is, dots and all, since a dot may be part of a name
// (an interface eth0.100). In dot form ("net.ipv4.ip_forward") each '.'
// separates and a '/' stands for a dot inside a name
// ("net.ipv4.conf.eth0/100.forwarding"). A key that has no separator is a
// file directly under /proc/sys.
//
// The path is relative, and one with an empty, "." or ".." element is
// refused: the key comes from the bundle, and "net/../../self/attr/exec"
// must not name a file outside /proc/sys.
func SysctlPath(key string) (string, error) {
	p := key
	if i := strings.IndexAny(key, "./"); i >= 0 && key[i] == '.' {
		p = strings.Map(func(r rune) rune {
			switch r {
			case '.':
				return '/'
			case '/':
				return '.'
			}
			return r
		}, key)
	}
	for _, el := range strings.Split(p, "/") {
		if el == "" || el == "." || el == ".." {
			return "", fmt.Errorf("sysctl %q: not a sysctl name (path %q has an empty, \".\" or \"..\" element)", key, p)
		}
	}
	return p, nil
}
