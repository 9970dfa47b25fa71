#!/usr/bin/env bats
# Checkpoint/restore of a container that joined namespaces by path (as a
# Kubernetes pod's containers join the pause container's). This file
# proves:
#  - a container in a holder's pid, ipc and uts namespaces checkpoints
#    (CRIU would refuse the pid namespace without its init), the dry-run
#    and stasis.json name them as external, and it restores from a copied
#    bundle naming a new holder's namespaces into exactly those, its
#    process carrying on (its counter continues, the new holder's
#    hostname and SysV message queue are what it sees);
#  - a container in a holder's network namespace checkpoints with it
#    external (CRIU writes no netns, address, route or link image), and
#    restores from a copied bundle into a second holder's namespace: its
#    counter continues, seeing that holder's lo addresses, and its TCP
#    listener answers a connection made from inside that holder;
#  - restoring such a checkpoint with a bundle that names no path for
#    one of them fails with an error naming the namespace, and leaves
#    nothing behind;
#  - a container in a holder's time namespace (which CRIU can only make
#    anew) is refused before it is frozen, with a message naming the
#    namespace, and keeps running.

load helpers

setup() {
	common_setup
	stasis_only "how stasis hands namespaces joined by path to CRIU"
	command -v criu >/dev/null && criu check >/dev/null 2>&1 || skip "no working criu"
	# Counts into /out/log (a host dir, opened for appending: CRIU
	# restores it as it was, whatever its size), one line each 0.1 s,
	# saying in which uts (its hostname) and ipc (its message queues'
	# keys) namespace it runs.
	mkdir "$BATS_TEST_TMPDIR/out"
	setup_bundle sh -c 'exec >>/out/log 2>&1; i=0; while :; do i=$((i+1)); echo "$i $(hostname) $(awk "NR>1{print \$1}" /proc/sysvipc/msg | tr "\n" ,)"; sleep 0.1; done'
	update_config '.mounts += [{"destination": "/out", "type": "bind", "source": $s, "options": ["rbind"]}]' \
		--arg s "$BATS_TEST_TMPDIR/out"
	IMG=$BATS_TEST_TMPDIR/img
}

teardown() {
	common_teardown
}

# holder NAME: a holder of new pid, ipc and uts namespaces whose hostname
# is NAME and whose ipc namespace has one message queue (a random key:
# QKEY); sets HOLDER_PID.
holder() {
	start_ns_holder --pid --ipc --uts
	nsenter -t "$HOLDER_PID" -u hostname "$1"
	nsenter -t "$HOLDER_PID" -i ipcmk -Q >/dev/null
	QKEY=$(nsenter -t "$HOLDER_PID" -i awk 'NR>1{print $1}' /proc/sysvipc/msg)
	[ -n "$QKEY" ] || fail "no message queue in the holder"
}

# join_holder: make $BUNDLE's config join $HOLDER_PID's pid, ipc and uts
# namespaces by path (and leave the hostname to the holder).
join_holder() {
	update_config 'del(.hostname) | .linux.namespaces = [.linux.namespaces[] | select(.type != "pid" and .type != "ipc" and .type != "uts")]
		+ [{"type": "pid", "path": "/proc/\($p)/ns/pid"}, {"type": "ipc", "path": "/proc/\($p)/ns/ipc"}, {"type": "uts", "path": "/proc/\($p)/ns/uts"}]' \
		--arg p "$HOLDER_PID"
}

# checkpoint_joined ID NAMES JSON: the dry-run of ID lists NAMES as joined
# by path and not dumped, with no blocker; the checkpoint into $IMG then
# records JSON as its external namespaces.
checkpoint_joined() {
	run stasis checkpoint --dry-run "$1"
	assert_success
	assert_output_contains "namespaces joined by path: $2: not dumped"
	assert_output_contains "blockers: none"
	run stasis checkpoint --image-path "$IMG" "$1"
	assert_success
	assert_equal "$(jq -c .external_namespaces "$IMG/stasis.json")" "$3" "recorded external namespaces"
}

# restore_joined ID JOIN: restore ID from $IMG with a copy of $BUNDLE
# (BUNDLE then names the copy) that JOIN (join_holder, join_net_holder)
# made join $HOLDER_PID's namespaces.
restore_joined() {
	local new=$BATS_TEST_TMPDIR/bundle-two
	cp -a "$BUNDLE" "$new"
	BUNDLE=$new
	"$2"
	run detached_cmd "$1" restore -d --image-path "$IMG" --bundle "$BUNDLE" "$1"
	assert_success
}

# assert_moved_ns PID OLD TYPE...: PID is in $HOLDER_PID's namespace of
# each TYPE, no longer in holder OLD's.
assert_moved_ns() {
	local pid=$1 old=$2 t
	shift 2
	for t in "$@"; do
		assert_equal "$(readlink "/proc/$pid/ns/$t")" "$(readlink "/proc/$HOLDER_PID/ns/$t")" "$t namespace of the restored container"
		[ "$(readlink "/proc/$pid/ns/$t")" != "$(readlink "/proc/$old/ns/$t")" ] || fail "still in the old holder's $t namespace"
	done
}

count_log() { cat "$BATS_TEST_TMPDIR/out/log"; }

# last_count: the last counter value logged.
last_count() {
	count_log | tail -n 1 | cut -d' ' -f1
}

# wait_output REGEX: wait until a logged line matches.
wait_output() {
	local i
	for ((i = 0; i < 100; i++)); do
		count_log | grep -Eq "$1" && return 0
		sleep 0.05
	done
	echo "no logged line matches $1; the last ones: $(count_log | tail -n 3)" >&2
	return 1
}

@test "a container in a holder's pid, ipc and uts namespaces restores into a new holder's" {
	local a b old
	a=$(new_id)
	b=$(new_id)
	holder holder-one
	old=$HOLDER_PID
	join_holder
	run_detached "$a"
	wait_output "^3 holder-one $QKEY,\$"
	[ "$(readlink "/proc/$(container_pid "$a")/ns/pid")" = "$(readlink "/proc/$old/ns/pid")" ] || fail "container not in the holder's pid namespace"

	checkpoint_joined "$a" "ipc pid uts" '["ipc","pid","uts"]'
	# CRIU dumped none of them.
	! ls "$IMG"/utsns-*.img "$IMG"/ipcns-*.img >/dev/null 2>&1 || fail "CRIU dumped the uts or ipc namespace"
	local before
	before=$(last_count)

	holder holder-two
	restore_joined "$b" join_holder
	assert_moved_ns "$(container_pid "$b")" "$old" pid ipc uts
	# The shell carries on counting, and now sees the new holder's
	# hostname and message queue.
	wait_output "^$((before + 2)) holder-two $QKEY,\$"
	assert_equal "$(count_log | grep -c '^1 ')" 1 "lines counting 1 (a restarted counter logs a second)"
}

# net_holder ADDR: a holder of a new network namespace with lo up and
# ADDR (a 127/8 address) on lo besides 127.0.0.1, to tell it apart; sets
# HOLDER_PID.
net_holder() {
	start_ns_holder --net
	nsenter -t "$HOLDER_PID" -n ip link set lo up
	nsenter -t "$HOLDER_PID" -n ip addr add "$1/8" dev lo
}

# join_net_holder: make $BUNDLE's config join $HOLDER_PID's network
# namespace by path.
join_net_holder() {
	update_config '.linux.namespaces = [.linux.namespaces[] | select(.type != "network")]
		+ [{"type": "network", "path": "/proc/\($p)/ns/net"}]' --arg p "$HOLDER_PID"
}

# holder_asks: what a connection to 127.0.0.1:7777 made from inside
# $HOLDER_PID's network namespace reads (bash's /dev/tcp: the host has no
# nc), empty when nothing answers there.
holder_asks() {
	nsenter -t "$HOLDER_PID" -n timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/7777 && cat <&3' 2>/dev/null || true
}

@test "a container in a holder's network namespace restores into a new holder's, its listener answering there" {
	local a b old
	a=$(new_id)
	b=$(new_id)
	# A TCP server on port 7777 (all addresses: the namespace has only
	# lo), and the counter, each line naming lo's IPv4 addresses.
	set_args sh -c 'exec >>/out/log 2>&1; nc -ll -p 7777 -e echo pong & i=0; while :; do i=$((i+1)); echo "$i $(ip -o -4 addr show dev lo | awk "{print \$4}" | tr "\n" ,)"; sleep 0.1; done'
	net_holder 127.0.0.11
	old=$HOLDER_PID
	join_net_holder
	run_detached "$a"
	wait_output '^3 127.0.0.1/8,127.0.0.11/8,$'
	assert_equal "$(readlink "/proc/$(container_pid "$a")/ns/net")" "$(readlink "/proc/$old/ns/net")" "network namespace of the container"
	assert_equal "$(holder_asks)" pong "the listener, asked from the holder's namespace"

	checkpoint_joined "$a" network '["network"]'
	assert_equal "$(jq -r .external_netns "$IMG/stasis.json")" true "recorded external_netns"
	# CRIU dumped nothing of the holder's namespace: no netns, no
	# addresses, no routes, no links.
	! ls "$IMG"/netns-*.img "$IMG"/ifaddr-*.img "$IMG"/route-*.img "$IMG"/netdev-*.img >/dev/null 2>&1 ||
		fail "CRIU dumped the network namespace: $(ls "$IMG")"
	local before
	before=$(last_count)

	net_holder 127.0.0.12
	restore_joined "$b" join_net_holder
	assert_moved_ns "$(container_pid "$b")" "$old" net
	# The shell carries on counting, and now sees the new holder's lo,
	# not one CRIU made or the old one (whose address is its own still).
	wait_output "^$((before + 2)) 127.0.0.1/8,127.0.0.12/8,\$"
	assert_equal "$(count_log | grep -c '^1 ')" 1 "lines counting 1 (a restarted counter logs a second)"
	assert_equal "$(holder_asks)" pong "the restored listener, asked from the new holder's namespace"
	nsenter -t "$old" -n ip -o -4 addr show dev lo | grep -q '127.0.0.11/8' || fail "the old holder lost its address"
}

@test "restore refuses a bundle that names no namespace for one the checkpoint left out" {
	local a b
	a=$(new_id)
	b=$(new_id)
	holder holder-one
	join_holder
	run_detached "$a"
	wait_output '^2 '
	run stasis checkpoint --image-path "$IMG" "$a"
	assert_success
	# The bundle joins the ipc and uts namespaces but makes its own pid one.
	update_config '.linux.namespaces = [.linux.namespaces[] | select(.type != "pid")] + [{"type": "pid"}]'
	run detached_cmd "$b" restore -d --image-path "$IMG" --bundle "$BUNDLE" "$b"
	assert_failure
	assert_output_contains "joined its pid namespace by path"
	assert_output_contains '"type": "pid"'
	assert_no_container "$b"
}

@test "a container in a holder's time namespace is refused before it is frozen" {
	local a
	a=$(new_id)
	start_ns_holder --time
	update_config '.linux.namespaces += [{"type": "time", "path": $p}]' --arg p "/proc/$HOLDER_PID/ns/time"
	run_detached "$a"
	wait_output '^2 '
	run stasis checkpoint --image-path "$IMG" "$a"
	assert_failure
	assert_output_contains "cannot checkpoint: the container joined the time namespace /proc/$HOLDER_PID/ns/time"
	[ ! -e "$IMG/stasis.json" ] || fail "a refused checkpoint wrote stasis.json"
	assert_equal "$(state_field "$a" status)" running "status after the refusal"
	local n
	n=$(last_count)
	wait_output "^$((n + 1)) "
}
