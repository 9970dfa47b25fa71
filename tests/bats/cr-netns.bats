#!/usr/bin/env bats
# The network namespace in checkpoint/restore. This file proves:
#  - a container's own network namespace that holds only an untouched
#    loopback is left out of CRIU's dump (no ifaddr image), which the
#    dry-run (text and json) says and the checkpoint records
#    (loopback_only_net: true), and restore makes a new one with lo up and
#    the container's listener on 127.0.0.1 answering;
#  - CRIU ran inside that namespace (criu_in_netns: true), so it dumped
#    nothing of it at all: no netns image, no conntrack walk (the ~20 ms
#    of frozen time this saves); the restored container is not left in
#    the host's namespace (CRIU's own at restore is a new one, lo up);
#  - one the container could have changed (CAP_NET_ADMIN) is dumped by
#    CRIU as before (loopback_only_net: false, ifaddr images written), and
#    restores with its listener answering.

load helpers

setup() {
	common_setup
	stasis_only "how stasis hands the network namespace to CRIU"
	command -v criu >/dev/null && criu check >/dev/null 2>&1 || skip "no working criu"
	# A TCP server on 127.0.0.1 inside the container.
	setup_bundle nc -ll -p 7777 -e echo pong
}

teardown() {
	common_teardown
}

start_server() { # start_server ID: run it and wait until it answers
	run_detached "$1"
	for _ in $(seq 50); do
		stasis exec "$1" nc -w 1 127.0.0.1 7777 </dev/null 2>/dev/null | grep -q pong && return 0
		sleep 0.1
	done
	fail "server in $1 does not answer"
}

# lo_only JSON-FILE|-: the loopback_only_net field of a plan or stasis.json,
# "missing" when it is not there.
lo_only() {
	jq -r 'if has("loopback_only_net") then .loopback_only_net else "missing" end' "$1"
}

@test "a loopback-only network namespace is not dumped, and restore gives it lo up with its listener working" {
	local id id2
	id=$(new_id)
	id2=$(new_id)
	start_server "$id"
	run stasis checkpoint --dry-run "$id"
	assert_success
	assert_output_contains "network: own namespace with only lo: not dumped"
	run stasis checkpoint --dry-run --format json "$id"
	assert_success
	assert_equal "$(lo_only - <<<"$output")" true "dry-run's loopback_only_net"
	run stasis checkpoint --image-path "$BATS_TEST_TMPDIR/img" "$id"
	assert_success
	assert_equal "$(lo_only "$BATS_TEST_TMPDIR/img/stasis.json")" true "recorded loopback_only_net"
	# CRIU saved no network state: it ran in the namespace and took it
	# for its own.
	! ls "$BATS_TEST_TMPDIR"/img/ifaddr-*.img >/dev/null 2>&1 || fail "CRIU dumped the network namespace"
	assert_equal "$(jq -r '.criu_in_netns // false' "$BATS_TEST_TMPDIR/img/stasis.json")" true "recorded criu_in_netns"
	! ls "$BATS_TEST_TMPDIR"/img/netns-*.img >/dev/null 2>&1 || fail "CRIU dumped a network namespace (netns image)"
	run detached_cmd "$id2" restore -d --image-path "$BATS_TEST_TMPDIR/img" --bundle "$BUNDLE" "$id2"
	assert_success
	run stasis exec "$id2" ip -o link show lo
	assert_output_contains "LOOPBACK,UP"
	local pid2 ns2
	pid2=$(stasis state "$id2" | jq -r .pid)
	ns2=$(readlink "/proc/$pid2/ns/net")
	[ "$ns2" != "$(readlink /proc/self/ns/net)" ] || fail "the restored container runs in the host's network namespace"
	run stasis exec "$id2" nc -w 1 127.0.0.1 7777 </dev/null
	assert_output_contains pong
}

@test "a container that may have changed its network is dumped by CRIU as before" {
	local id id2
	id=$(new_id)
	id2=$(new_id)
	update_config '.process.capabilities.bounding += ["CAP_NET_ADMIN"]'
	start_server "$id"
	run stasis checkpoint --dry-run "$id"
	assert_success
	assert_output_contains "checkpoint plan for $id"
	assert_output_contains "blockers: none"
	assert_output_not_contains "network: own namespace with only lo"
	run stasis checkpoint --dry-run --format json "$id"
	assert_success
	assert_equal "$(lo_only - <<<"$output")" false "dry-run's loopback_only_net"
	run stasis checkpoint --image-path "$BATS_TEST_TMPDIR/img" "$id"
	assert_success
	assert_equal "$(lo_only "$BATS_TEST_TMPDIR/img/stasis.json")" false "recorded loopback_only_net"
	ls "$BATS_TEST_TMPDIR"/img/ifaddr-*.img >/dev/null 2>&1 || fail "CRIU did not dump the network namespace"
	run detached_cmd "$id2" restore -d --image-path "$BATS_TEST_TMPDIR/img" --bundle "$BUNDLE" "$id2"
	assert_success
	run stasis exec "$id2" nc -w 1 127.0.0.1 7777 </dev/null
	assert_output_contains pong
}
