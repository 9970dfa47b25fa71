# tests/e2e/cri-lib.sh: the Kubernetes path of the e2e suite (sourced by
# lib.sh): a containerd 2.x of its own with the CRI plugin and a runtime
# handler "stasis", driven by crictl as the kubelet drives containerd.
#
# Debian's containerd is 1.6, whose CRI cannot restore a checkpoint
# archive, so containerd 2.x, its runc shim, crictl and checkpointctl are
# built from the Go module proxy into $E2E_CRI_BIN (reused when present).
# Its sockets and state live under $E2E_RUN/cri, its root under
# $E2E_DATA/cri: no other containerd is touched. No CNI: the pods use the
# host's network (namespace_options.network = NODE), and no registry is
# reached: the pause and busybox images are OCI archives made here from
# the suite's busybox rootfs and imported with ctr.

E2E_CRI_BIN=${E2E_CRI_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/e2e-bin}
CRI_SOCK=$E2E_RUN/cri/containerd.sock
CRI_PAUSE_IMAGE=docker.io/stasis-e2e/pause:latest
CRI_IMAGE=docker.io/stasis-e2e/busybox:latest
# The pods' cgroup parent (pod configs name it), removed by e2e_stop_all.
CRI_CGROUP_PARENT=stasis-e2e-cri
export E2E_CRI_BIN CRI_SOCK CRI_PAUSE_IMAGE CRI_IMAGE CRI_CGROUP_PARENT

# Versions: the newest containerd 2.2 and cri-tools the module proxy
# serves that are known to build here; checkpointctl 1.7 needs a go-criu
# the proxy does not serve, 1.4 (containerd's own) builds.
E2E_CONTAINERD_VERSION=${E2E_CONTAINERD_VERSION:-v2.2.9}
E2E_CRICTL_VERSION=${E2E_CRICTL_VERSION:-v1.34.0}
E2E_CHECKPOINTCTL_VERSION=${E2E_CHECKPOINTCTL_VERSION:-v1.4.0}

# e2e_cri_build: build what is missing in $E2E_CRI_BIN (about 3 minutes
# the first time). On failure $E2E_RUN/cri-unavailable says why, and the
# CRI tests skip with that reason. checkpointctl is optional.
e2e_cri_build() {
	local bin=$E2E_CRI_BIN log=$E2E_CRI_BIN/build.log
	mkdir -p "$bin" "$E2E_RUN"
	rm -f "$E2E_RUN/cri-unavailable"
	: >"$log"
	local what pkg
	for what in containerd containerd-shim-runc-v2 crictl checkpointctl; do
		[ -x "$bin/$what" ] && continue
		case $what in
		containerd | containerd-shim-runc-v2)
			pkg=github.com/containerd/containerd/v2/cmd/$what@$E2E_CONTAINERD_VERSION ;;
		crictl) pkg=sigs.k8s.io/cri-tools/cmd/crictl@$E2E_CRICTL_VERSION ;;
		checkpointctl) pkg=github.com/checkpoint-restore/checkpointctl@$E2E_CHECKPOINTCTL_VERSION ;;
		esac
		e2e_log "building $pkg into $bin"
		if ! (cd / && GOBIN=$bin GOFLAGS=-buildvcs=false go install "$pkg") >>"$log" 2>&1; then
			[ "$what" = checkpointctl ] && continue
			echo "could not build $pkg (see $log: $(tail -n 1 "$log"))" >"$E2E_RUN/cri-unavailable"
			return 1
		fi
	done
}

# e2e_oci_image_tar NAME OUT ENTRYPOINT-JSON: an OCI image archive of the
# suite's busybox rootfs ($E2E_RUN/rootfs.tar, one uncompressed layer)
# that ctr imports as NAME.
e2e_oci_image_tar() {
	local name=$1 out=$2 entry=$3 d
	d=$(mktemp -d "$E2E_RUN/oci.XXXXXX")
	mkdir -p "$d/blobs/sha256"
	local layer cfg man lsize csize msize
	layer=$(sha256sum "$E2E_RUN/rootfs.tar" | cut -d' ' -f1)
	cp "$E2E_RUN/rootfs.tar" "$d/blobs/sha256/$layer"
	lsize=$(stat -c %s "$E2E_RUN/rootfs.tar")
	jq -nc --argjson e "$entry" --arg l "sha256:$layer" '{architecture: "amd64", os: "linux",
		config: {Entrypoint: $e, Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
		rootfs: {type: "layers", diff_ids: [$l]}}' >"$d/config"
	cfg=$(sha256sum "$d/config" | cut -d' ' -f1)
	csize=$(stat -c %s "$d/config")
	mv "$d/config" "$d/blobs/sha256/$cfg"
	jq -nc --arg c "sha256:$cfg" --argjson cs "$csize" --arg l "sha256:$layer" --argjson ls "$lsize" '{schemaVersion: 2,
		mediaType: "application/vnd.oci.image.manifest.v1+json",
		config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $cs},
		layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $l, size: $ls}]}' >"$d/manifest"
	man=$(sha256sum "$d/manifest" | cut -d' ' -f1)
	msize=$(stat -c %s "$d/manifest")
	mv "$d/manifest" "$d/blobs/sha256/$man"
	jq -nc --arg m "sha256:$man" --argjson ms "$msize" --arg n "$name" '{schemaVersion: 2,
		manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m, size: $ms,
			annotations: {"io.containerd.image.name": $n, "org.opencontainers.image.ref.name": ($n | sub(".*:"; ""))}}]}' >"$d/index.json"
	echo '{"imageLayoutVersion": "1.0.0"}' >"$d/oci-layout"
	tar -C "$d" -cf "$out" oci-layout index.json blobs
	rm -rf "$d"
}

# e2e_start_cri: our containerd 2.x with the CRI plugin, the stasis
# handler, and the two images in its k8s.io namespace.
e2e_start_cri() {
	local c=$E2E_RUN/cri
	mkdir -p "$c/state" "$E2E_DATA/cri"
	# restrict_oom_score_adj: the sandbox may not lower oom_score_adj
	# (no CAP_SYS_RESOURCE), which the pause container's -998 would.
	# enable_experimental_restore_via_create: containerd 2.2 creates a
	# container from a checkpoint archive only with it.
	cat >"$c/config.toml" <<TOML
version = 3
root = "$E2E_DATA/cri"
state = "$c/state"
[grpc]
  address = "$CRI_SOCK"
[ttrpc]
  address = "$CRI_SOCK.ttrpc"
[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = "$CRI_PAUSE_IMAGE"
[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
  enable_experimental_restore_via_create = true
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.stasis]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.stasis.options]
  BinaryName = "$STASIS"
  Root = "$c/stasis-root"
TOML
	printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 60\n' "$CRI_SOCK" "$CRI_SOCK" >"$c/crictl.yaml"
	# Our shim first on PATH (containerd runs containerd-shim-runc-v2
	# from it), then CRIU's dir (containerd checks for criu there).
	PATH=$E2E_CRI_BIN:/usr/local/sbin:$PATH setsid "$E2E_CRI_BIN/containerd" --config "$c/config.toml" \
		>"$c/containerd.log" 2>&1 &
	echo $! >"$c/containerd.pid"
	if ! e2e_wait "e2e_crictl version" 30; then
		e2e_log "containerd (CRI) did not come up; its log:"
		tail -30 "$c/containerd.log" >&2
		return 1
	fi
	e2e_make_rootfs_tar || return 1
	e2e_oci_image_tar "$CRI_PAUSE_IMAGE" "$c/pause.tar" '["sleep", "2147483647"]' &&
		e2e_oci_image_tar "$CRI_IMAGE" "$c/busybox.tar" '["sh"]' || return 1
	ctr --address "$CRI_SOCK" -n k8s.io images import "$c/pause.tar" >/dev/null &&
		ctr --address "$CRI_SOCK" -n k8s.io images import "$c/busybox.tar" >/dev/null
}

# e2e_crictl ARGS: crictl against our containerd.
e2e_crictl() { "$E2E_CRI_BIN/crictl" --config "$E2E_RUN/cri/crictl.yaml" "$@"; }

# e2e_stop_cri: remove every pod, stop the daemon. Safe to call twice.
e2e_stop_cri() {
	local p
	if [ -S "$CRI_SOCK" ] && [ -x "$E2E_CRI_BIN/crictl" ] && [ -f "$E2E_RUN/cri/crictl.yaml" ]; then
		for p in $(timeout 20 "$E2E_CRI_BIN/crictl" --config "$E2E_RUN/cri/crictl.yaml" pods -q 2>/dev/null); do
			timeout 30 "$E2E_CRI_BIN/crictl" --config "$E2E_RUN/cri/crictl.yaml" stopp "$p" >/dev/null 2>&1
			timeout 30 "$E2E_CRI_BIN/crictl" --config "$E2E_RUN/cri/crictl.yaml" rmp -f "$p" >/dev/null 2>&1
		done
	fi
	e2e_kill_pidfile "$E2E_RUN/cri/containerd.pid" 20
}
