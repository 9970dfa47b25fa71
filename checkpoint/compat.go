package checkpoint

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stasis-oci/stasis/cgroupmgr"
	"github.com/stasis-oci/stasis/spec"
)

// What a restore makes of the host the checkpoint came from. CRIU's
// images are not portable across architectures, and a CRIU reads only
// the image formats it knows, so an older one than the dumping CRIU may
// misread them: both are refused before anything is made. A different
// kernel, cgroup mode or config.json often works (a kernel with the
// same features, a new bundle with new limits, which is what restore
// under a new bundle is for), so they are only warned about, except
// where the restore cannot work: --manage-cgroups-mode full writes the
// checkpoint's cgroup properties back, and those of another cgroup mode
// name files this host does not have.

// hostFacts are this host's side of the comparison.
type hostFacts struct {
	Arch, Kernel, CgroupMode string
	// ConfigDigest is the restoring bundle's config.json's.
	ConfigDigest string
}

func thisHost(bundle string) hostFacts {
	return hostFacts{
		Arch: goArch, Kernel: kernelRelease(), CgroupMode: cgroupModeName(),
		ConfigDigest: fileDigest(filepath.Join(bundle, "config.json")),
	}
}

// checkImage compares the checkpoint's metadata with this host and
// returns what to warn about, or why the restore cannot work. manage is
// the restore's --manage-cgroups-mode.
func checkImage(m *Metadata, h hostFacts, manage string) (warnings []string, err error) {
	if m.Foreign != "" {
		return []string{fmt.Sprintf("the checkpoint has no stasis metadata (%s): restoring it as runc would, without checking where it was made", m.Foreign)}, nil
	}
	if m.Arch != "" && m.Arch != h.Arch {
		return nil, fmt.Errorf("the checkpoint was made on %s and this host is %s: CRIU images restore only on the architecture that dumped them", m.Arch, h.Arch)
	}
	if m.Kernel != "" && h.Kernel != "" && m.Kernel != h.Kernel {
		warnings = append(warnings, fmt.Sprintf("the checkpoint was made on kernel %s, this host runs %s: if the restore fails, compare the two kernels' features (criu check)", m.Kernel, h.Kernel))
	}
	if m.CgroupMode != "" && h.CgroupMode != "" && m.CgroupMode != h.CgroupMode {
		if manage == "full" {
			return nil, fmt.Errorf("--manage-cgroups-mode full: the checkpoint's cgroup properties were dumped on a %s cgroup host and this one is %s: restore with soft (the default), which applies the new bundle's limits", m.CgroupMode, h.CgroupMode)
		}
		warnings = append(warnings, fmt.Sprintf("the checkpoint was made on a %s cgroup host, this one is %s: the new bundle's limits apply", m.CgroupMode, h.CgroupMode))
	}
	if m.ConfigDigest != "" && h.ConfigDigest != "" && m.ConfigDigest != h.ConfigDigest {
		warnings = append(warnings, "the bundle's config.json differs from the checkpointed container's: its mounts, limits and hooks apply to the restored processes")
	}
	return warnings, nil
}

// checkCriuVersion refuses a CRIU older than the one that dumped.
func checkCriuVersion(m *Metadata, have int) error {
	if m.CriuVersion == 0 || have == 0 || have >= m.CriuVersion {
		return nil
	}
	return fmt.Errorf("the checkpoint was dumped by CRIU %s and this host's CRIU is %s: an older CRIU may misread its images; install CRIU %s or newer", criuVersionString(m.CriuVersion), criuVersionString(have), criuVersionString(m.CriuVersion))
}

func criuVersionString(v int) string {
	return fmt.Sprintf("%d.%d.%d", v/10000, v/100%100, v%100)
}

// isCriuImageDir: CRIU writes inventory.img into every image dir.
func cgroupModeName() string { return cgroupmgr.DetectMode().String() }

func isCriuImageDir(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "inventory.img"))
	return err == nil
}

// foreignExternals guesses the external mounts of a checkpoint without
// stasis metadata from the restoring bundle, as runc does: every bind
// mount by its destination; a cgroup mount as this host's hierarchies
// under it (hostCgroups: the host's cgroup mounts, whose mount points
// under /sys/fs/cgroup the container's mirror); and every masked path,
// which runc and stasis both mask with the host's /dev/null. CRIU
// ignores the entries an image has no mount for.
func foreignExternals(sp *specs.Spec, hostCgroups []*mountinfo.Info) []External {
	var out []External
	for _, m := range sp.Mounts {
		dest := filepath.Clean(m.Destination)
		switch {
		case spec.IsBind(m):
			out = append(out, External{Dest: dest, Kind: "bind"})
		case m.Type == "cgroup" || m.Type == "cgroup2":
			for _, mi := range hostCgroups {
				rel, err := filepath.Rel("/sys/fs/cgroup", mi.Mountpoint)
				if err != nil || strings.HasPrefix(rel, "..") {
					continue
				}
				e := External{Dest: filepath.Join(dest, rel), Kind: "cgroup"}
				if mi.FSType == "cgroup" {
					e.Controller = controllerOf(mi)
				}
				out = append(out, e)
			}
		}
	}
	if sp.Linux != nil {
		for _, p := range sp.Linux.MaskedPaths {
			out = append(out, External{Dest: filepath.Clean(p), Kind: "host", HostPath: os.DevNull})
		}
	}
	return out
}

func hostCgroupMounts() []*mountinfo.Info {
	ms, _ := mountinfo.GetMounts(func(mi *mountinfo.Info) (bool, bool) {
		return mi.FSType != "cgroup" && mi.FSType != "cgroup2", false
	})
	return ms
}
