#!/usr/bin/env bats
# The Kubernetes path: containerd 2.x's CRI plugin (the suite's own
# daemon, see cri-lib.sh) with a runtime handler "stasis" (runc shim,
# BinaryName = stasis), driven by crictl as the kubelet drives it.
#
# Proves: a host-network pod runs on the stasis handler, a container in it
# counts and answers crictl exec; CRI CheckpointContainer (crictl
# checkpoint --export, what the kubelet's checkpoint API calls) leaves the
# container running and writes an archive holding config.dump, spec.dump,
# status.dump, rootfs-diff.tar, stats-dump, dump.log and checkpoint/ (with
# stasis.json naming the pod's namespaces the container joined as
# external), which checkpointctl reads; a container created from that
# archive in a new pod (containerd's restore via CreateContainer) carries
# on counting from where it was checkpointed, in the new pod's
# namespaces, both with the pod's shared pid namespace (pid mode POD,
# joined by path) and with its own (CONTAINER).

load helpers

setup() {
	if [ -s "$E2E_RUN/cri-unavailable" ]; then
		skip "containerd 2.x / crictl could not be built: $(cat "$E2E_RUN/cri-unavailable")"
	fi
	[ -S "$CRI_SOCK" ] || fail "the suite's CRI containerd is not running ($CRI_SOCK)"
	COUNTER='i=0; while :; do i=$((i+1)); echo $i >/tmp/count; echo $i; sleep 0.1; done'
}

teardown() {
	local p
	for p in $(crix pods -q --label stasis-e2e=cri 2>/dev/null); do
		crix stopp "$p" >/dev/null 2>&1 || true
		crix rmp -f "$p" >/dev/null 2>&1 || true
	done
}

crix() { e2e_crictl "$@"; }

# pod_config NAME PIDMODE: a host-network pod (namespace mode 2 = NODE)
# whose containers' pid namespace is PIDMODE (0 POD, 1 CONTAINER).
pod_config() {
	jq -n --arg n "$1" --argjson pid "$2" --arg logs "$E2E_RUN/cri/logs/$1" --arg cg "/$CRI_CGROUP_PARENT" '{
		metadata: {name: $n, namespace: "stasis-e2e", uid: ("uid-" + $n), attempt: 0},
		labels: {"stasis-e2e": "cri"}, log_directory: $logs,
		linux: {cgroup_parent: $cg, security_context: {namespace_options: {network: 2, pid: $pid}}}}' \
		>"$BATS_TEST_TMPDIR/$1.pod.json"
	echo "$BATS_TEST_TMPDIR/$1.pod.json"
}

# ctr_config IMAGE PIDMODE: the counting container.
ctr_config() {
	jq -n --arg img "$1" --argjson pid "$2" --arg cmd "$COUNTER" '{
		metadata: {name: "counter"}, image: {image: $img},
		command: ["sh", "-c", $cmd], log_path: "counter.log",
		linux: {security_context: {namespace_options: {network: 2, pid: $pid}}}}' \
		>"$BATS_TEST_TMPDIR/ctr.json"
	echo "$BATS_TEST_TMPDIR/ctr.json"
}

count_of() { crix exec "$1" cat /tmp/count; }

# wait_count CONTAINER N: until the counter in CONTAINER is at least N.
wait_count() {
	local i c
	for ((i = 0; i < 100; i++)); do
		c=$(count_of "$1" 2>/dev/null) || c=0
		[ "${c:-0}" -ge "$2" ] && return 0
		sleep 0.1
	done
	fail "the counter in $1 is at '$c', want $2"
}

pid_of() { crix inspect "$1" | jq -r .info.pid; }
pod_pid() { crix inspectp "$1" | jq -r .info.pid; }

# checkpoint_and_restore PIDMODE: the whole path; sets ARCHIVE, POD1,
# POD2, C1, C2.
checkpoint_and_restore() {
	local mode=$1 n1 n2 podcfg
	newname n1
	newname n2
	podcfg=$(pod_config "$n1" "$mode")
	POD1=$(crix runp --runtime stasis "$podcfg") || fail "runp failed"
	C1=$(crix create "$POD1" "$(ctr_config "$CRI_IMAGE" "$mode")" "$podcfg") || fail "create failed"
	crix start "$C1" >/dev/null || fail "start failed"
	wait_count "$C1" 10
	local at
	ARCHIVE=$BATS_TEST_TMPDIR/$n1.tar
	crix checkpoint --export="$ARCHIVE" "$C1" >/dev/null || fail "crictl checkpoint failed"
	at=$(count_of "$C1")
	# The kubelet's checkpoint leaves the container running.
	expect_eq "state after checkpoint" "$(crix inspect "$C1" | jq -r .status.state)" CONTAINER_RUNNING
	wait_count "$C1" $((at + 2))

	podcfg=$(pod_config "$n2" "$mode")
	POD2=$(crix runp --runtime stasis "$podcfg") || fail "runp of the second pod failed"
	C2=$(crix create "$POD2" "$(ctr_config "$ARCHIVE" "$mode")" "$podcfg") || fail "create from the archive failed"
	crix start "$C2" >/dev/null || fail "start of the restored container failed"
	expect_eq "restored state" "$(crix inspect "$C2" | jq -r .status.state)" CONTAINER_RUNNING
	expect_eq "restored annotation" "$(crix inspect "$C2" | jq -r '.status.annotations.restored')" true
	# It carries on: its log starts past 1 and at most where the checkpoint
	# was taken, and never starts again from 1; the counter goes on.
	local first
	wait_for 10 crix exec "$C2" true
	first=$(crix logs "$C2" 2>/dev/null | head -n 1)
	[[ "$first" =~ ^[0-9]+$ ]] && [ "$first" -gt 1 ] && [ "$first" -le $((at + 1)) ] ||
		fail "restored log starts with '$first', want a count in 2..$((at + 1))"
	[ "$(crix logs "$C2" 2>/dev/null | grep -cx 1)" -eq 0 ] || fail "the restored counter started again from 1"
	local r
	r=$(count_of "$C2")
	wait_count "$C2" $((r + 2))
	# In the new pod's namespaces.
	local pid pause old t
	pid=$(pid_of "$C2")
	pause=$(pod_pid "$POD2")
	old=$(pod_pid "$POD1")
	for t in ipc uts net; do
		expect_eq "$t namespace of the restored container" "$(readlink "/proc/$pid/ns/$t")" "$(readlink "/proc/$pause/ns/$t")"
	done
	[ "$(readlink "/proc/$pid/ns/ipc")" != "$(readlink "/proc/$old/ns/ipc")" ] || fail "restored into the old pod's ipc namespace"
}

@test "CRI: checkpoint --export of a container in the pod's pid namespace, restored into a new pod by CreateContainer" {
	checkpoint_and_restore 0
	local f list
	list=$(tar -tf "$ARCHIVE")
	for f in config.dump spec.dump status.dump rootfs-diff.tar stats-dump dump.log checkpoint/ checkpoint/stasis.json checkpoint/inventory.img; do
		grep -qx -- "$f" <<<"$list" || fail "archive lacks $f; it holds: $(tr '\n' ' ' <<<"$list")"
	done
	tar -xOf "$ARCHIVE" checkpoint/stasis.json | jq -e '.external_namespaces | index("pid") and index("ipc")' >/dev/null ||
		fail "stasis.json does not name pid and ipc external: $(tar -xOf "$ARCHIVE" checkpoint/stasis.json | jq -c .external_namespaces)"
	# Shared pid namespace: the restored process is in the new pod's, next
	# to its pause process.
	local pid pause
	pid=$(pid_of "$C2")
	pause=$(pod_pid "$POD2")
	expect_eq "pid namespace of the restored container" "$(readlink "/proc/$pid/ns/pid")" "$(readlink "/proc/$pause/ns/pid")"
	cp "$ARCHIVE" "$E2E_RUN/cri/last-archive.tar"
}

@test "CRI: checkpointctl reads the archive" {
	[ -x "$E2E_CRI_BIN/checkpointctl" ] || skip "checkpointctl $E2E_CHECKPOINTCTL_VERSION could not be built (see $E2E_CRI_BIN/build.log)"
	[ -s "$E2E_RUN/cri/last-archive.tar" ] || fail "no archive from the first test (it failed, or this file was run with -f: run it whole)"
	run "$E2E_CRI_BIN/checkpointctl" show "$E2E_RUN/cri/last-archive.tar"
	echo "$output"
	[ "$status" -eq 0 ] || fail "checkpointctl show failed"
	expect_contains "checkpointctl show" "$output" "$CRI_IMAGE"
	expect_contains "checkpointctl show" "$output" containerd
}

@test "CRI: a container with its own pid namespace is checkpointed and restored into a new pod" {
	checkpoint_and_restore 1
	local pid pause
	pid=$(pid_of "$C2")
	pause=$(pod_pid "$POD2")
	[ "$(readlink "/proc/$pid/ns/pid")" != "$(readlink "/proc/$pause/ns/pid")" ] || fail "the restored container shares the pod's pid namespace"
	tar -xOf "$ARCHIVE" checkpoint/stasis.json | jq -e '.external_namespaces | index("pid") | not' >/dev/null ||
		fail "an own pid namespace recorded as external"
}
