#!/usr/bin/env bats
# Namespaces: new ones, user namespace mappings, joining existing ones by path.

load helpers

NS_REPORT='for t in pid mnt ipc uts net cgroup user; do echo "$t $(readlink /proc/self/ns/$t)"; done'

# spec_ns TYPE: the namespace type name in config.json for a /proc/self/ns name.
spec_ns() {
	case $1 in
	mnt) echo mount ;;
	net) echo network ;;
	*) echo "$1" ;;
	esac
}

# ns_of_output TYPE: from $output of NS_REPORT, the link for TYPE.
ns_of_output() {
	awk -v t="$1" '$1 == t {print $2}' <<<"$output"
}

@test "default namespaces (pid mount ipc uts net) are new" {
	setup_bundle sh -c "$NS_REPORT"
	run_in_container sh -c "$NS_REPORT"
	assert_success
	local t
	for t in pid mnt ipc uts net; do
		local inside
		inside=$(ns_of_output $t)
		[ -n "$inside" ] || fail "no $t line in: $output"
		[ "$inside" != "$(host_ns $t)" ] || fail "$t namespace is the host's ($inside)"
	done
	# not asked for: shared with the host
	assert_equal "$(ns_of_output cgroup)" "$(host_ns cgroup)" "cgroup ns (not requested)"
	assert_equal "$(ns_of_output user)" "$(host_ns user)" "user ns (not requested)"
}

@test "a cgroup namespace is new when asked for" {
	setup_bundle true
	update_config '.linux.namespaces += [{"type": "cgroup"}]'
	run_in_container sh -c "$NS_REPORT; cat /proc/self/cgroup"
	assert_success
	local inside
	inside=$(ns_of_output cgroup)
	[ -n "$inside" ] && [ "$inside" != "$(host_ns cgroup)" ] || fail "cgroup ns not new: $output"
	# inside its own cgroup namespace, the container's cgroups are the roots
	assert_output_contains "pids:/"$'\n'
}

@test "the process is pid 1 of its pid namespace" {
	setup_bundle true
	run_in_container sh -c 'echo $$; ls -d /proc/[0-9]*'
	assert_success
	# pid 1, and the only processes are its own (sh, ls)
	assert_equal "$(head -1 <<<"$output")" 1 "pid inside"
	[ "$(grep -c '^/proc/' <<<"$output")" -le 2 ] || fail "host processes visible: $output"
}

@test "a network namespace has only lo" {
	setup_bundle true
	run_in_container ls /sys/class/net
	assert_success
	assert_output_equals lo
}

@test "user namespace with uid and gid mappings" {
	setup_bundle true
	update_config '.linux.namespaces += [{"type": "user"}, {"type": "cgroup"}]'
	userns_bundle
	run_in_container sh -c "$NS_REPORT; cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c %u /bin/busybox"
	assert_success
	local t inside
	for t in pid mnt ipc uts net cgroup user; do
		inside=$(ns_of_output $t)
		[ -n "$inside" ] && [ "$inside" != "$(host_ns $t)" ] || fail "$t namespace not new: $output"
	done
	assert_output_matches "(^|"$'\n'")[[:space:]]*0[[:space:]]+100000[[:space:]]+65536"$'\n'"[[:space:]]*0[[:space:]]+100000[[:space:]]+65536"
	# root inside, and the rootfs owned by 100000 on the host shows as 0
	assert_equal "$(tail -2 <<<"$output" | tr '\n' ' ')" "0 0 " "id -u, owner of /bin/busybox"
}

@test "a user namespace without mappings fails" {
	setup_bundle true
	update_config '.linux.namespaces += [{"type": "user"}] | del(.linux.uidMappings, .linux.gidMappings)'
	assert_create_fails "mapping"
}

# join_test TYPE UNSHARE-FLAG: run a container whose TYPE namespace is a path
# to one held by an `unshare` process; the inode inside must match it.
join_test() {
	local t=$1 flag=$2
	start_ns_holder "$flag"
	local want
	want=$(readlink "/proc/$HOLDER_PID/ns/$t")
	[ "$want" != "$(host_ns $t)" ] || fail "holder did not make a new $t namespace"
	local st
	st=$(spec_ns "$t")
	update_config '.linux.namespaces = [.linux.namespaces[] | select(.type != $t)] + [{"type": $t, "path": $p}]' \
		--arg t "$st" --arg p "/proc/$HOLDER_PID/ns/$t"
	run_in_container sh -c "$NS_REPORT"
	assert_success
	assert_equal "$(ns_of_output "$t")" "$want" "$t namespace of the container"
}

@test "join an existing network namespace by path" {
	setup_bundle true
	join_test net --net
}

@test "join a network namespace made by ip netns" {
	setup_bundle true
	local ns="stasis-bats-$$-$BATS_TEST_NUMBER"
	ip netns add "$ns"
	on_teardown "ip netns delete $ns"
	update_config '.linux.namespaces = [.linux.namespaces[] | select(.type != "network")] + [{"type": "network", "path": $p}]' \
		--arg p "/run/netns/$ns"
	run_in_container sh -c "$NS_REPORT"
	assert_success
	assert_equal "$(ns_of_output net)" "net:[$(stat -L -c %i "/run/netns/$ns")]" "net namespace"
}

@test "join an existing ipc namespace by path" {
	setup_bundle true
	join_test ipc --ipc
}

@test "join an existing uts namespace by path" {
	setup_bundle true
	update_config 'del(.hostname)'
	join_test uts --uts
}

@test "join an existing pid namespace by path" {
	setup_bundle true
	join_test pid --pid
}

@test "join an existing mount namespace by path" {
	setup_bundle true
	join_test mnt --mount
}

@test "join an existing cgroup namespace by path" {
	setup_bundle true
	join_test cgroup --cgroup
}

@test "join an existing user namespace by path" {
	setup_bundle true
	# holder: a user namespace mapping 0 -> 100000 (written from the host)
	start_ns_holder --user
	echo "0 100000 65536" >"/proc/$HOLDER_PID/uid_map"
	echo "0 100000 65536" >"/proc/$HOLDER_PID/gid_map"
	local want
	want=$(readlink "/proc/$HOLDER_PID/ns/user")
	update_config '.linux.namespaces += [{"type": "user", "path": $p}]' --arg p "/proc/$HOLDER_PID/ns/user"
	userns_bundle
	run_in_container sh -c "$NS_REPORT; cat /proc/self/uid_map"
	assert_success
	assert_equal "$(ns_of_output user)" "$want" "user namespace"
	assert_output_matches "0[[:space:]]+100000[[:space:]]+65536"
}

@test "joining a namespace path that does not exist fails" {
	setup_bundle true
	update_config '.linux.namespaces = [.linux.namespaces[] | select(.type != "network")] + [{"type": "network", "path": "/proc/999999999/ns/net"}]'
	assert_create_fails "/proc/999999999/ns/net"
}

@test "joining a namespace path of the wrong type fails" {
	setup_bundle true
	update_config '.linux.namespaces = [.linux.namespaces[] | select(.type != "network")] + [{"type": "network", "path": "/proc/self/ns/ipc"}]'
	assert_create_fails
}

@test "a new network namespace has its loopback up, as runc sets it" {
	setup_bundle ip -o link show lo
	run_in_container ip -o link show lo
	assert_success
	assert_output_contains "LOOPBACK,UP"
	# 127.0.0.1 answers: a TCP round trip inside the container.
	run_in_container sh -c 'nc -l -p 7777 & sleep 0.3; echo over-loopback | nc -w 1 127.0.0.1 7777; wait'
	assert_success
	assert_output_contains over-loopback
}

# mounts_under DIR: how many host mounts are at or below DIR.
mounts_under() {
	awk -v d="$1" '$5 == d || index($5, d "/") == 1' /proc/self/mountinfo | wc -l
}

@test "without a mount namespace: the host's, chrooted into the rootfs; delete removes its mounts" {
	local id before
	id=$(new_id)
	setup_bundle sleep 1000
	update_config '.linux.namespaces = [.linux.namespaces[] | select(.type != "mount")] | .linux.maskedPaths = [] | .linux.readonlyPaths = []'
	echo in-rootfs >"$ROOTFS/marker"
	before=$(mounts_under "$ROOTFS")
	create_container "$id"
	local pid
	pid=$(container_pid "$id")
	assert_equal "$(readlink /proc/"$pid"/ns/mnt)" "$(host_ns mnt)" "mount namespace"
	assert_equal "$(readlink /proc/"$pid"/root)" "$ROOTFS" "root of the init"
	stasis start "$id"
	# An exec'd process has no mount namespace to join: it gets the same root.
	run stasis exec "$id" sh -c 'cat /marker; grep -c " /proc " /proc/self/mountinfo'
	assert_success
	assert_output_equals "in-rootfs"$'\n'"1"
	[ "$(mounts_under "$ROOTFS")" -gt "$before" ] || fail "no mounts under the rootfs while running"
	stasis delete --force "$id"
	assert_equal "$(mounts_under "$ROOTFS")" "$before" "host mounts under the rootfs after delete"
}

@test "without a mount namespace: a failed create leaves no mount behind" {
	setup_bundle /no/such/program
	update_config '.linux.namespaces = [.linux.namespaces[] | select(.type != "mount")] | .linux.maskedPaths = [] | .linux.readonlyPaths = []'
	local before
	before=$(mounts_under "$ROOTFS")
	assert_create_fails "/no/such/program"
	assert_equal "$(mounts_under "$ROOTFS")" "$before" "host mounts under the rootfs"
}

@test "without a mount namespace: masked and read-only paths are refused" {
	setup_bundle true
	update_config '.linux.namespaces = [.linux.namespaces[] | select(.type != "mount")] | .linux.readonlyPaths = []'
	assert_create_fails "maskedPaths"
	update_config '.linux.maskedPaths = [] | .linux.readonlyPaths = ["/proc/sys"]'
	assert_create_fails "readonlyPaths"
}

# time_offsets_bundle: a new time namespace whose clocks are ahead of the
# host's: monotonic by 7881 s, boottime by 1000000 s and 5 ns.
time_offsets_bundle() {
	update_config '.linux.namespaces += [{"type": "time"}]
		| .linux.timeOffsets = {"monotonic": {"secs": 7881}, "boottime": {"secs": 1000000, "nanosecs": 5}}'
}

# assert_time_offsets: $output (timens_offsets, then /proc/uptime's whole
# seconds) shows the offsets of time_offsets_bundle.
assert_time_offsets() {
	assert_output_matches "monotonic[[:space:]]+7881[[:space:]]+0"
	assert_output_matches "boottime[[:space:]]+1000000[[:space:]]+5"
	local inside host
	inside=$(tail -1 <<<"$output")
	host=$(cut -d. -f1 /proc/uptime)
	# /proc/uptime is boottime: it runs 1000000 s ahead inside
	[ "$inside" -ge $((host + 1000000 - 5)) ] && [ "$inside" -le $((host + 1000000)) ] ||
		fail "uptime inside $inside, host $host: want the host's + 1000000"
}

@test "a new time namespace gets linux.timeOffsets" {
	stasis_only "runc 1.1.5 ignores linux.timeOffsets"
	setup_bundle true
	time_offsets_bundle
	run_in_container sh -c 'cat /proc/self/timens_offsets; cut -d. -f1 /proc/uptime'
	assert_success
	assert_time_offsets
}

@test "linux.timeOffsets also apply with a new user namespace" {
	stasis_only "runc 1.1.5 ignores linux.timeOffsets"
	setup_bundle true
	update_config '.linux.namespaces += [{"type": "user"}]'
	userns_bundle
	time_offsets_bundle
	run_in_container sh -c 'cat /proc/self/timens_offsets; cut -d. -f1 /proc/uptime'
	assert_success
	assert_time_offsets
}

@test "linux.timeOffsets without a new time namespace fail, naming the field" {
	stasis_only "runc 1.1.5 ignores linux.timeOffsets"
	setup_bundle true
	update_config '.linux.timeOffsets = {"monotonic": {"secs": 1}}'
	assert_create_fails "linux.timeOffsets"
	start_ns_holder --time
	update_config '.linux.namespaces += [{"type": "time", "path": $p}]' --arg p "/proc/$HOLDER_PID/ns/time"
	assert_create_fails "linux.timeOffsets"
}

@test "linux.timeOffsets the kernel refuses fail create and leave nothing behind" {
	stasis_only "runc 1.1.5 ignores linux.timeOffsets"
	setup_bundle true
	# a monotonic clock before boot is out of range for the kernel
	update_config '.linux.namespaces += [{"type": "time"}] | .linux.timeOffsets = {"monotonic": {"secs": -1000000000}}'
	assert_create_fails "set linux.timeOffsets (monotonic -1000000000 0)"
}

# host_veth: a veth pair $VETH / ${VETH}p on the host, $VETH with
# 10.213.7.1/24; whatever is left of it goes in teardown.
host_veth() {
	VETH="stv$$"
	ip link add "$VETH" type veth peer name "${VETH}p"
	on_teardown "ip link del ${VETH}p"
	on_teardown "ip link del $VETH"
	ip addr add 10.213.7.1/24 dev "$VETH"
}

@test "linux.netDevices moves a host device in, renamed, with its address, and up" {
	stasis_only "runc 1.1.5 ignores linux.netDevices"
	setup_bundle true
	host_veth
	update_config '.linux.netDevices = {($d): {"name": "ctr0"}}' --arg d "$VETH"
	run_in_container sh -c 'ip -o -4 addr show ctr0; cat /sys/class/net/ctr0/flags'
	assert_success
	assert_output_matches "ctr0[[:space:]]+inet 10.213.7.1/24 "
	[ $(($(tail -1 <<<"$output") & 1)) -eq 1 ] || fail "ctr0 is not up: $output"
	# a veth is destroyed with the namespace it was moved to, peer and all
	! ip link show "${VETH}p" >/dev/null 2>&1 || fail "the veth outlived the container's network namespace"
}

@test "linux.netDevices keeps the host name, or lets the kernel number a %d name" {
	stasis_only "runc 1.1.5 ignores linux.netDevices"
	setup_bundle true
	host_veth
	update_config '.linux.netDevices = {($d): {}, ($p): {"name": "eth%d"}}' --arg d "$VETH" --arg p "${VETH}p"
	run_in_container ls /sys/class/net
	assert_success
	assert_output_equals "eth0"$'\n'"lo"$'\n'"$VETH"
}

@test "linux.netDevices that cannot be moved fail create, naming the device" {
	stasis_only "runc 1.1.5 ignores linux.netDevices"
	setup_bundle true
	update_config '.linux.netDevices = {"stnosuchdev": {}}'
	assert_create_fails "linux.netDevices stnosuchdev: find host device stnosuchdev"
	host_veth
	update_config '.linux.netDevices = {($d): {}} | .linux.namespaces |= map(select(.type != "network"))' --arg d "$VETH"
	assert_create_fails "linux.netDevices: moving devices needs a network namespace"
	ip link show "$VETH" >/dev/null || fail "a refused config moved the device"
}
