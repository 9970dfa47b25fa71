package lifecycle

import (
	"reflect"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

func TestIdmapOfPrefersTheMountsOwnMaps(t *testing.T) {
	own := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
	ctr := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s := &specs.Spec{Linux: &specs.Linux{
		Namespaces:  []specs.LinuxNamespace{{Type: specs.UserNamespace}},
		UIDMappings: ctr, GIDMappings: ctr,
	}}
	withMaps := specs.Mount{Options: []string{"bind"}, UIDMappings: own, GIDMappings: own}
	if got := idmapOf(s, withMaps); !reflect.DeepEqual(got, idmapping{uids: own, gids: own}) {
		t.Errorf("mount with maps: %+v", got)
	}
	idmapOnly := specs.Mount{Options: []string{"bind", "idmap"}}
	if got := idmapOf(s, idmapOnly); !reflect.DeepEqual(got, idmapping{uids: ctr, gids: ctr}) {
		t.Errorf("idmap with a new user namespace: %+v", got)
	}
	s.Linux.Namespaces[0].Path = "/proc/1/ns/user"
	if got := idmapOf(s, idmapOnly); got.path != "/proc/1/ns/user" || got.uids != nil {
		t.Errorf("idmap with a joined user namespace: %+v", got)
	}
}
