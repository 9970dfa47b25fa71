# Shared helpers for the e2e bats files (tests/e2e/*.bats).
#
# scripts/e2e.sh starts the suite's own containerd and dockerd and exports
# where they are (see tests/e2e/lib.sh); the tests talk to them only through
# the clients' own commands (docker, ctr, podman), with stasis registered as
# a runtime:
#   dk ARGS      docker against our dockerd
#   ctrx ARGS    ctr against our containerd, in namespace $E2E_NS
#   pm ARGS      podman with our own storage, runroot and containers.conf,
#                --runtime $STASIS (see e2e_podman in lib.sh)
# Every test gets unique names; teardown force-removes whatever carries the
# suite's label (docker, podman) or lives in the suite's namespace (ctr).

bats_require_minimum_version 1.5.0

E2E_DIR=$(cd "$BATS_TEST_DIRNAME" && pwd)
REPO_ROOT=$(cd "$E2E_DIR/../.." && pwd)
STASIS=${STASIS:-$REPO_ROOT/stasis}
# shellcheck source=tests/e2e/lib.sh
source "$E2E_DIR/lib.sh"

pm() { e2e_podman "$@"; }
dk() { "$DOCKER_BIN" -H "unix://$DOCKER_SOCK" "$@"; }
ctrx() { ctr --address "$CONTAINERD_SOCK" -n "$E2E_NS" "$@"; }

# drun ARGS: docker run with stasis as the runtime and the suite's label.
drun() { dk run --runtime stasis --label stasis-e2e "$@"; }

# newname VAR: set VAR to a container name unique to this test and run:
# e2e-<file>-<test number>-<n>-<pid>.
E2E_NAME_N=0
newname() {
	E2E_NAME_N=$((E2E_NAME_N + 1))
	printf -v "$1" '%s' "e2e-$(basename "$BATS_TEST_FILENAME" .bats)-${BATS_TEST_NUMBER}-$E2E_NAME_N-$$"
}

# wait_for SECONDS CMD...: retry CMD every 0.1s until it succeeds.
wait_for() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 10; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "wait_for: '$*' still failing after ${secs}s" >&2
	return 1
}

# fail MSG: fail the test with a message (bats 1.8 has no bats-assert here).
fail() {
	echo "$@" >&2
	return 1
}

# expect_eq WHAT GOT WANT
expect_eq() {
	[ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}

# expect_contains WHAT HAYSTACK NEEDLE
expect_contains() {
	[[ $2 == *"$3"* ]] || fail "$1: '$2' does not contain '$3'"
}

dk_status() { dk inspect -f '{{.State.Status}}' "$1"; }
dk_id() { dk inspect -f '{{.Id}}' "$1"; }

# dk_cgroup CONTAINER CONTROLLER: the container's cgroup directory on the
# host. Docker (cgroupfs driver) asks for cgroupsPath /docker/<id>.
dk_cgroup() {
	echo "/sys/fs/cgroup/$2/docker/$(dk_id "$1")"
}

# Everything a runtime would leave for a docker container: its state under
# the shim's runtime root and its cgroups.
dk_leftovers() {
	local id=$1 d
	for d in "$E2E_RUN"/docker-exec/runtime-*/moby/"$id"; do
		[ -e "$d" ] && echo "state: $d"
	done
	for d in /sys/fs/cgroup/*/docker/"$id"; do
		[ -e "$d" ] && echo "cgroup: $d"
	done
	return 0
}

dk_cleanup() {
	local ids
	ids=$(dk ps -aq --filter label=stasis-e2e 2>/dev/null) || true
	[ -z "$ids" ] || dk rm -f $ids >/dev/null 2>&1 || true
}

ctr_cleanup() {
	local c
	for c in $(ctrx task ls -q 2>/dev/null); do
		ctrx task kill -s SIGKILL "$c" >/dev/null 2>&1 || true
	done
	for c in $(ctrx task ls -q 2>/dev/null); do
		wait_for 10 ctr_task_stopped "$c" 2>/dev/null || true
		ctrx task rm -f "$c" >/dev/null 2>&1 || true
	done
	for c in $(ctrx c ls -q 2>/dev/null); do
		ctrx c rm "$c" >/dev/null 2>&1 || true
	done
	# Checkpoint images the tests made.
	local imgs
	imgs=$(ctrx image ls -q 2>/dev/null | grep -E '^(e2e/|containerd.io/checkpoint/)') || true
	# --sync: wait for the content to be garbage-collected, as ctr 1.6's
	# checkpoint skips blobs that already exist and its restore then fails
	# with "media type not found".
	[ -z "$imgs" ] || ctrx image rm --sync $imgs >/dev/null 2>&1 || true
}

# The runc shim's --root for stasis (ctr's --runc-root), so container state
# stays under the suite's own directory.
CTR_RUNC_ROOT=$E2E_RUN/ctr-runc

# ctr_leftovers NAME: runtime state or cgroups left for a ctr container.
ctr_leftovers() {
	local d
	for d in "$CTR_RUNC_ROOT/$E2E_NS/$1" /sys/fs/cgroup/*/"$E2E_NS/$1"; do
		[ -e "$d" ] && echo "$d"
	done
	return 0
}

ctr_task_status() { ctrx task ls | awk -v c="$1" '$1 == c { print $3 }'; }
ctr_task_stopped() { [ "$(ctr_task_status "$1")" = STOPPED ]; }

# ctr_run ARGS: ctr run through containerd's runc shim with stasis as its
# runc binary, on the suite's busybox image. ARGS: [flags] NAME [CMD...].
ctr_run() {
	local flags=()
	while [[ ${1:-} == -* ]]; do
		flags+=("$1")
		shift
	done
	local name=$1
	shift
	ctrx run ${flags[@]+"${flags[@]}"} --runtime io.containerd.runc.v2 --runc-binary "$STASIS" \
		--runc-root "$CTR_RUNC_ROOT" --fifo-dir "$E2E_RUN/fifo" \
		"$CTR_IMAGE" "$name" "$@"
}

pm_cleanup() {
	local ids
	ids=$(pm ps -aq --filter label=stasis-e2e 2>/dev/null) || true
	[ -z "$ids" ] || pm rm -f -t 0 $ids >/dev/null 2>&1 || true
}

# prun ARGS: podman run with the suite's label and no network.
prun() { pm run --label stasis-e2e --network none "$@"; }
pm_status() { pm inspect -f '{{.State.Status}}' "$1"; }
