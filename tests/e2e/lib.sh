# tests/e2e/lib.sh: set-up and tear-down of the e2e suite's own daemons.
# Sourced by scripts/e2e.sh (and by hand when debugging: `source
# tests/e2e/lib.sh; e2e_start_containerd; ...`).
#
# Everything lives under two directories that belong to the suite alone:
#   $E2E_RUN   sockets, pid files, exec roots, runtime state (/run/stasis-e2e)
#   $E2E_DATA  daemon data: containerd root, docker data-root, podman storage
# No engine already running on the machine is touched: our containerd,
# dockerd and podman use their own sockets, roots and config files.

E2E_RUN=${E2E_RUN:-/run/stasis-e2e}
E2E_DATA=${E2E_DATA:-/var/lib/stasis-e2e}
E2E_NS=${E2E_NS:-stasis-e2e}          # containerd namespace for ctr tests
E2E_IMAGE=${E2E_IMAGE:-stasis-e2e/busybox:latest}
CTR_IMAGE=docker.io/$E2E_IMAGE      # the same image as containerd names it
CONTAINERD_SOCK=$E2E_RUN/containerd/containerd.sock
DOCKER_SOCK=$E2E_RUN/docker.sock
DOCKER_BIN=${DOCKER_BIN:-/usr/bin/docker}   # Debian's CLI, not a newer one earlier on PATH
export E2E_RUN E2E_DATA E2E_NS CTR_IMAGE E2E_IMAGE CONTAINERD_SOCK DOCKER_SOCK DOCKER_BIN

e2e_log() { echo "e2e: $*" >&2; }

# Wait up to $2 seconds (default 30) for command $1 to succeed.
e2e_wait() {
	local cmd=$1 t=${2:-30} i
	for ((i = 0; i < t * 10; i++)); do
		eval "$cmd" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

e2e_start_containerd() {
	mkdir -p "$E2E_RUN/containerd" "$E2E_DATA/containerd"
	cat >"$E2E_RUN/containerd.toml" <<TOML
version = 2
root = "$E2E_DATA/containerd"
state = "$E2E_RUN/containerd"
# No CRI: the suite drives containerd with ctr and Docker only.
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[debug]
  level = "info"
# Collect garbage as soon as something is deleted. Docker 20.10 takes a
# checkpoint out of the content store, deletes it, and uploads the same
# bytes again at \`docker start --checkpoint\`; while the old blob waits
# for a collection (by default after 100 mutations) that upload fails
# with "commit failed: content sha256:...: already exists", runc or not.
[plugins."io.containerd.gc.v1.scheduler"]
  deletion_threshold = 1
TOML
	# setsid: a Ctrl-C to the suite must not stop the daemons before the
	# clean-up has removed their containers.
	setsid containerd --config "$E2E_RUN/containerd.toml" >"$E2E_RUN/containerd.log" 2>&1 &
	echo $! >"$E2E_RUN/containerd.pid"
	if ! e2e_wait "ctr --address '$CONTAINERD_SOCK' version" 30; then
		e2e_log "containerd did not come up; its log:"
		tail -30 "$E2E_RUN/containerd.log" >&2
		return 1
	fi
}

e2e_start_dockerd() {
	mkdir -p "$E2E_RUN/docker-exec" "$E2E_DATA/docker"
	# Our own (empty) daemon.json, so /etc/docker/daemon.json is never read.
	# stasis is registered on the command line; the default runtime stays runc.
	echo '{}' >"$E2E_RUN/daemon.json"
	setsid dockerd --config-file "$E2E_RUN/daemon.json" \
		--experimental \
		--add-runtime "stasis=$STASIS" \
		--containerd "$CONTAINERD_SOCK" \
		--data-root "$E2E_DATA/docker" \
		--exec-root "$E2E_RUN/docker-exec" \
		--pidfile "$E2E_RUN/dockerd.pid" \
		-H "unix://$DOCKER_SOCK" \
		--storage-driver overlay2 \
		--exec-opt native.cgroupdriver=cgroupfs \
		--iptables=false --ip-forward=false --ip-masq=false --bridge=none \
		--userland-proxy=false \
		>"$E2E_RUN/dockerd.log" 2>&1 &
	echo $! >"$E2E_RUN/dockerd.launcher.pid"
	if ! e2e_wait "'$DOCKER_BIN' -H 'unix://$DOCKER_SOCK' version" 60; then
		e2e_log "dockerd did not come up; its log:"
		tail -30 "$E2E_RUN/dockerd.log" >&2
		return 1
	fi
}

# e2e_make_images: a busybox root file system (Debian's busybox-static with
# its applets as symlinks, e2e_make_rootfs_tar) imported into docker as $E2E_IMAGE, then saved
# from docker and imported into containerd ($CTR_IMAGE in $E2E_NS).
e2e_make_images() {
	e2e_make_rootfs_tar
	"$DOCKER_BIN" -H "unix://$DOCKER_SOCK" import \
		-c 'CMD ["sh"]' -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		"$E2E_RUN/rootfs.tar" "$E2E_IMAGE" >/dev/null
	"$DOCKER_BIN" -H "unix://$DOCKER_SOCK" save -o "$E2E_RUN/image.tar" "$E2E_IMAGE"
	ctr --address "$CONTAINERD_SOCK" -n "$E2E_NS" image import "$E2E_RUN/image.tar" >/dev/null
}

# ------------------------------------------------------------------ podman

PODMAN_CONF=$E2E_RUN/podman/containers.conf
PODMAN_STORAGE_CONF=$E2E_RUN/podman/storage.conf
export PODMAN_CONF PODMAN_STORAGE_CONF

# e2e_podman ARGS: podman with the suite's own storage, runroot, tmpdir and
# containers.conf; stasis ($STASIS) as the runtime unless ARGS say
# otherwise (a later --runtime wins).
E2E_PODMAN=(env "CONTAINERS_CONF=$PODMAN_CONF" "CONTAINERS_STORAGE_CONF=$PODMAN_STORAGE_CONF"
	podman --root "$E2E_DATA/podman/root" --runroot "$E2E_RUN/podman/runroot"
	--tmpdir "$E2E_RUN/podman/tmp" --cgroup-manager cgroupfs --events-backend file)
e2e_podman() {
	"${E2E_PODMAN[@]}" --runtime "$STASIS" "$@"
}

# e2e_setup_podman: podman's configuration and the busybox image.
#
# Podman 4.3 asks, unless told otherwise, for RLIMIT_NOFILE and RLIMIT_NPROC
# of 1048576. Raising a hard limit needs CAP_SYS_RESOURCE, which this
# machine's root lacks, so every podman run fails with runc too ("error
# setting rlimit type 7: operation not permitted"); `--ulimit host` and -1
# mean unlimited in 4.3 and fail the same way. containers.conf's
# default_ulimits with values within the current hard limits is the
# configuration that runs with runc here, and stasis is held to it.
e2e_setup_podman() {
	local nofile nproc
	mkdir -p "$E2E_RUN/podman/networks" "$E2E_DATA/podman"
	nofile=$(ulimit -Hn)
	[ "$nofile" = unlimited ] || [ "$nofile" -gt 1048576 ] && nofile=1048576
	# Root (uid 0 in the initial user namespace) is exempt from NPROC; a
	# modest value keeps it below whatever hard limit podman runs under.
	nproc=$(ulimit -Hu)
	[ "$nproc" = unlimited ] || [ "$nproc" -gt 4096 ] && nproc=4096
	cat >"$PODMAN_CONF" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$E2E_RUN/podman/events.log"

[network]
network_config_dir = "$E2E_RUN/podman/networks"
CONF
	cat >"$PODMAN_STORAGE_CONF" <<CONF
[storage]
driver = "overlay"
graphroot = "$E2E_DATA/podman/root"
runroot = "$E2E_RUN/podman/runroot"
CONF
	e2e_podman import -q -c 'CMD ["sh"]' \
		-c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		"$E2E_RUN/rootfs.tar" "$E2E_IMAGE" >/dev/null
}

e2e_podman_cleanup() {
	[ -f "$PODMAN_CONF" ] || return 0
	timeout 60 "${E2E_PODMAN[@]}" rm -af -t 0 >/dev/null 2>&1
	return 0
}

# Paths outside the suite's directories that podman 4.3 creates whatever it
# is told (lock files, the image blob cache, its network run dir). Those
# that did not exist before the suite are removed after it.
E2E_GLOBAL_PATHS=(/var/lib/containers /var/lib/containers/cache /run/containers
	/run/containers/networks /run/libpod /etc/containers/networks /etc/cni/net.d/cni.lock
	/etc/cni/net.d /etc/cni)

e2e_record_globals() {
	local p
	: >"$E2E_RUN/globals-before"
	for p in "${E2E_GLOBAL_PATHS[@]}"; do
		[ -e "$p" ] && echo "$p" >>"$E2E_RUN/globals-before"
	done
	return 0
}

e2e_remove_globals() {
	local p
	[ -f "$E2E_RUN/globals-before" ] || return 0
	for p in "${E2E_GLOBAL_PATHS[@]}"; do
		[ -e "$p" ] || continue
		grep -qx "$p" "$E2E_RUN/globals-before" && continue
		# Never below a mount point: nothing is mounted there by us.
		rm -rf --one-file-system "$p"
	done
	return 0
}

# e2e_make_rootfs_tar: the busybox root file system as $E2E_RUN/rootfs.tar.
e2e_make_rootfs_tar() {
	local busybox=${BUSYBOX:-/bin/busybox} r="$E2E_RUN/rootfs" a
	[ -s "$E2E_RUN/rootfs.tar" ] && return 0
	rm -rf "$r"
	mkdir -p "$r"/{bin,proc,sys,dev,etc,tmp,root,home/user,data}
	chmod 1777 "$r/tmp"
	chmod 0700 "$r/root"
	chown 1000:1000 "$r/home/user"
	cp "$busybox" "$r/bin/busybox"
	for a in $("$busybox" --list); do
		[ "$a" = busybox ] || ln -s busybox "$r/bin/$a"
	done
	printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'user:x:1000:1000:user:/home/user:/bin/sh' \
		'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$r/etc/passwd"
	printf '%s\n' 'root:x:0:' 'user:x:1000:' 'nogroup:x:65534:' >"$r/etc/group"
	tar -C "$r" -cf "$E2E_RUN/rootfs.tar" .
	rm -rf "$r"
}

# e2e_kill_pidfile FILE [SECONDS]: SIGTERM the process whose pid FILE holds,
# wait for it (default 20s), then SIGKILL. Only if it is still the process
# we started: its command line must mention $E2E_RUN.
e2e_kill_pidfile() {
	local f=$1 t=${2:-20} pid i
	[ -s "$f" ] || return 0
	pid=$(cat "$f")
	if { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -q -- "$E2E_RUN"; then
		kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < t * 10; i++)); do
			[ -d "/proc/$pid" ] || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
	fi
	rm -f "$f"
}

# e2e_our_pids: processes that belong to the suite's daemons: anything whose
# command line names $E2E_RUN (dockerd, containerd, shims, conmon, ...).
e2e_our_pids() {
	local p
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[ "$p" = "$$" ] || [ "$p" = "$BASHPID" ] && continue
		{ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -q -- "$E2E_RUN" && echo "$p"
	done
	return 0
}

# e2e_our_mounts: mount points under the suite's directories, deepest first.
e2e_our_mounts() {
	awk -v a="$E2E_RUN" -v b="$E2E_DATA" \
		'index($5, a "/") == 1 || $5 == a || index($5, b "/") == 1 || $5 == b { print $5 }' \
		/proc/self/mountinfo | sort -r
}

# The Kubernetes path's containerd 2.x (e2e_start_cri, e2e_stop_cri).
# shellcheck source=tests/e2e/cri-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/cri-lib.sh"

# The cgroup parents the clients create under each hierarchy: docker's
# /docker, containerd's /<namespace> for ctr, podman's /libpod_parent,
# the CRI pods' parent.
E2E_CGROUP_PARENTS=(docker "$E2E_NS" libpod_parent "$CRI_CGROUP_PARENT")

# e2e_record_cgroups: note which of those parents exist before the suite
# starts, so teardown removes only the ones the suite made.
e2e_record_cgroups() {
	local d
	: >"$E2E_RUN/cgroups-before"
	for d in /sys/fs/cgroup/*/; do
		for p in "${E2E_CGROUP_PARENTS[@]}"; do
			[ -d "$d$p" ] && echo "$d$p" >>"$E2E_RUN/cgroups-before"
		done
	done
	return 0
}

# e2e_our_cgroups: the parents the suite made (absent before it started).
e2e_our_cgroups() {
	local d p
	# Without the record, nothing is known to be ours.
	[ -f "$E2E_RUN/cgroups-before" ] || return 0
	for d in /sys/fs/cgroup/*/; do
		for p in "${E2E_CGROUP_PARENTS[@]}"; do
			[ -d "$d$p" ] || continue
			grep -qx "$d$p" "$E2E_RUN/cgroups-before" 2>/dev/null && continue
			echo "$d$p"
		done
	done
	return 0
}

# e2e_remove_cgroups: kill what is still in the cgroups the suite made, then
# rmdir them (never more), deepest first.
e2e_remove_cgroups() {
	local d pid
	for d in $(e2e_our_cgroups); do
		for pid in $(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
	done
	sleep 0.2
	for d in $(e2e_our_cgroups); do
		find "$d" -depth -mindepth 1 -type d -exec rmdir {} \; 2>/dev/null
		rmdir "$d" 2>/dev/null
	done
	return 0
}

# e2e_stop_all: remove every container of the suite's daemons, stop them,
# and clean up processes, mounts, cgroups and directories. Safe to call
# more than once, and after a crash of an earlier run.
e2e_stop_all() {
	local sock=$CONTAINERD_SOCK ns c p
	if [ -S "$DOCKER_SOCK" ]; then
		c=$("$DOCKER_BIN" -H "unix://$DOCKER_SOCK" ps -aq 2>/dev/null)
		[ -z "$c" ] || timeout 60 "$DOCKER_BIN" -H "unix://$DOCKER_SOCK" rm -f $c >/dev/null 2>&1
	fi
	e2e_kill_pidfile "$E2E_RUN/dockerd.pid" 30
	e2e_kill_pidfile "$E2E_RUN/dockerd.launcher.pid" 5
	if [ -S "$sock" ]; then
		for ns in $(timeout 10 ctr --address "$sock" namespaces ls -q 2>/dev/null); do
			for c in $(timeout 10 ctr --address "$sock" -n "$ns" task ls -q 2>/dev/null); do
				timeout 10 ctr --address "$sock" -n "$ns" task kill -s SIGKILL "$c" >/dev/null 2>&1
				sleep 0.2
				timeout 10 ctr --address "$sock" -n "$ns" task rm -f "$c" >/dev/null 2>&1
			done
			for c in $(timeout 10 ctr --address "$sock" -n "$ns" c ls -q 2>/dev/null); do
				timeout 10 ctr --address "$sock" -n "$ns" c rm "$c" >/dev/null 2>&1
			done
		done
	fi
	e2e_podman_cleanup
	e2e_stop_cri
	e2e_kill_pidfile "$E2E_RUN/containerd.pid" 20
	# Whatever is left (shims, conmon, container processes started through
	# them) names our directories on its command line.
	for p in $(e2e_our_pids); do
		kill -KILL "$p" 2>/dev/null
	done
	sleep 0.2
	for p in $(e2e_our_mounts); do
		umount "$p" 2>/dev/null || umount -l "$p" 2>/dev/null
	done
	e2e_remove_cgroups
	e2e_remove_globals
	# The runc shim and ctr use fixed dirs under /run/containerd (shim
	# sockets, FIFOs, the runc root); remove what is empty there.
	# Podman passes the runtime no --root: stasis's default /run/stasis.
	for p in /run/containerd/runc/"$E2E_NS" /run/containerd/s /run/containerd/fifo \
		/run/containerd/runc /run/containerd /run/stasis; do
		[ -d "$p" ] && rmdir "$p" 2>/dev/null
	done
	# --one-file-system: should an unmount have failed, never delete
	# through it (a bind-mounted host directory, say).
	rm -rf --one-file-system "$E2E_DATA" "$E2E_RUN"
	return 0
}
