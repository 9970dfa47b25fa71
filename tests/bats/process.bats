#!/usr/bin/env bats
# The container process as the spec sets it up. Proves: maskedPaths read
# empty (and are readable without them), readonlyPaths refuse writes;
# hostname/domainname (refused without a UTS namespace); sysctls (net ones
# refused without a network namespace, unknown ones refused); rlimits are
# set, bind the process but not the runtime's set-up, and one the kernel
# refuses (a hard RLIMIT_NOFILE above fs.nr_open) fails create naming it
# and leaving nothing; oomScoreAdj; uid/gid/additionalGids; umask; cwd
# (created when missing, relative refused); env exactly; args[0] looked up
# in PATH; every capability set, ambient caps for non-root, dropped caps
# enforced; noNewPrivileges; personality LINUX32; the NUMA memory policy.

load helpers

# status_field NAME: the value of NAME: in /proc/self/status, from $output.
status_field() {
	awk -v n="$1:" '$1 == n {print $2}' <<<"$output"
}

@test "maskedPaths: files read empty, directories are empty" {
	setup_bundle true
	mkdir -p "$ROOTFS/secret-dir"
	echo top-secret >"$ROOTFS/secret-file"
	echo also-secret >"$ROOTFS/secret-dir/inner"
	update_config '.linux.maskedPaths += ["/secret-file", "/secret-dir"]'
	# and two of the spec's defaults that exist on every kernel
	run_in_container sh -c 'echo "[$(cat /secret-file)]"; ls -A /secret-dir | wc -l; wc -c < /proc/keys; ls -A /sys/firmware | wc -l'
	assert_success
	assert_output_equals "[]"$'\n'"0"$'\n'"0"$'\n'"0"
}

@test "without maskedPaths the files are readable (control)" {
	setup_bundle true
	echo top-secret >"$ROOTFS/secret-file"
	update_config '.linux.maskedPaths = []'
	run_in_container cat /secret-file
	assert_success
	assert_output_equals top-secret
}

@test "maskedPaths that do not exist are ignored" {
	setup_bundle true
	update_config '.linux.maskedPaths += ["/no/such/path"]'
	run_in_container echo ok
	assert_success
	assert_output_equals ok
}

@test "readonlyPaths: writes fail" {
	setup_bundle true
	update_config '.root.readonly = false | .linux.readonlyPaths += ["/data"]'
	mkdir "$ROOTFS/data" "$ROOTFS/free"
	run_in_container sh -c 'touch /data/x 2>&1 || echo data-ro; touch /free/x && echo free-rw
		echo 1 > /proc/sys/kernel/ns_last_pid 2>&1 || echo procsys-ro; grep -q " /proc/sys proc ro" /proc/self/mounts && echo procsys-mount-ro'
	assert_output_contains data-ro
	assert_output_contains free-rw
	assert_output_contains procsys-ro
	assert_output_contains procsys-mount-ro
	[ ! -e "$ROOTFS/data/x" ] || fail "file created under a readonly path"
}

@test "hostname" {
	setup_bundle true
	update_config '.hostname = "stasis-box"'
	run_in_container sh -c 'hostname; cat /proc/sys/kernel/hostname'
	assert_success
	assert_output_equals "stasis-box"$'\n'"stasis-box"
	[ "$(hostname)" != stasis-box ] || fail "host's hostname changed"
}

@test "domainname" {
	setup_bundle true
	update_config '.hostname = "stasis-box" | .domainname = "example.test"'
	run_in_container cat /proc/sys/kernel/domainname
	assert_success
	if is_runc && [ "$output" = "(none)" ]; then
		skip "runc 1.1 ignores domainname"
	fi
	assert_output_equals "example.test"
	[ "$(cat /proc/sys/kernel/domainname)" != example.test ] || fail "host's domainname changed"
}

@test "hostname without a UTS namespace fails" {
	setup_bundle true
	update_config '.hostname = "stasis-box" | .linux.namespaces = [.linux.namespaces[] | select(.type != "uts")]'
	assert_create_fails
	[ "$(hostname)" != stasis-box ] || fail "host's hostname changed"
}

@test "sysctl in a new network namespace" {
	setup_bundle true
	local host_val
	host_val=$(cat /proc/sys/net/ipv4/ip_forward)
	local want=$((1 - host_val))
	update_config '.linux.sysctl = {"net.ipv4.ip_forward": $v, "kernel.msgmax": "12345"}' --arg v "$want"
	run_in_container sh -c 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax'
	assert_success
	assert_output_equals "$want"$'\n'"12345"
	assert_equal "$(cat /proc/sys/net/ipv4/ip_forward)" "$host_val" "host's ip_forward"
}

@test "a sysctl key in slash form keeps the dots of an interface name" {
	setup_bundle true
	# A createRuntime hook (host namespaces, before the sysctls are set)
	# gives the container's network namespace an interface named d.1.
	local hook=$BATS_TEST_TMPDIR/veth.sh
	cat >"$hook" <<-'SH'
		#!/bin/sh
		pid=$(jq -r .pid)
		exec nsenter -t "$pid" -n ip link add d.1 type veth peer name e.1
	SH
	chmod +x "$hook"
	update_config '.hooks.createRuntime = [{"path": $h}]
		| .linux.sysctl = {"net/ipv4/conf/d.1/forwarding": "1"}' --arg h "$hook"
	run_in_container cat /proc/sys/net/ipv4/conf/d.1/forwarding
	assert_success
	assert_output_equals "1"
}

# CVE-2025-52881: after pivot_root, /proc is whatever the container's tree
# has there. Here a createContainer hook binds a host directory over it
# whose files stand where /proc/sys/net/ipv4/ip_forward and every
# /proc/self/fd/N would be; the init must reach the real ones by handle
# (its sysctl and the reopening of the exec fifo) and write none of these.
# With the init's procfs reads put back to paths, create wrote the sysctl
# into the fake ip_forward and start's byte into fake self/fd/4 (the init
# then ran on without waiting for start).
@test "a host directory bound over /proc by a hook is never written" {
	setup_bundle true
	local fake=$BATS_TEST_TMPDIR/fake-proc i
	mkdir -p "$fake/sys/net/ipv4" "$fake/self/fd" "$fake/thread-self/fd"
	echo untouched >"$fake/sys/net/ipv4/ip_forward"
	for ((i = 0; i < 64; i++)); do
		echo untouched >"$fake/self/fd/$i"
		echo untouched >"$fake/thread-self/fd/$i"
	done
	local hook=$BATS_TEST_TMPDIR/cover-proc.sh
	printf '#!/bin/sh\nexec mount --bind %s proc\n' "$fake" >"$hook"
	chmod +x "$hook"
	local host_val want
	host_val=$(cat /proc/sys/net/ipv4/ip_forward)
	want=$((1 - host_val))
	update_config '.hooks.createContainer = [{"path": $h}]
		| .linux.sysctl = {"net.ipv4.ip_forward": $v}' --arg h "$hook" --arg v "$want"
	local id
	id=$(new_id)
	create_container "$id"
	run grep -rLx untouched "$fake"
	assert_equal "$output" "" "files of the host directory written at create"
	# The sysctl reached the container's real network namespace...
	run nsenter -t "$(container_pid "$id")" -n cat /proc/sys/net/ipv4/ip_forward
	assert_success
	assert_output_equals "$want"
	# ...and start's byte went through the real exec fifo.
	stasis start "$id"
	wait_for_status "$id" stopped
	run grep -rLx untouched "$fake"
	assert_equal "$output" "" "files of the host directory written at start"
	assert_equal "$(cat /proc/sys/net/ipv4/ip_forward)" "$host_val" "host's ip_forward"
}

@test "a net sysctl without a network namespace fails" {
	setup_bundle true
	update_config '.linux.sysctl = {"net.ipv4.ip_forward": "1"} | .linux.namespaces = [.linux.namespaces[] | select(.type != "network")]'
	local before
	before=$(cat /proc/sys/net/ipv4/ip_forward)
	assert_create_fails "net.ipv4.ip_forward"
	assert_equal "$(cat /proc/sys/net/ipv4/ip_forward)" "$before" "host's ip_forward"
}

@test "an unknown sysctl fails" {
	setup_bundle true
	update_config '.linux.sysctl = {"net.no.such.knob": "1"}'
	assert_create_fails
}

@test "rlimits: RLIMIT_NOFILE lowered" {
	setup_bundle true
	update_config '.process.rlimits = [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}, {"type": "RLIMIT_NPROC", "soft": 500, "hard": 600}]'
	run_in_container sh -c 'ulimit -n; ulimit -Hn; ulimit -u; ulimit -Hu'
	assert_success
	assert_output_equals "100"$'\n'"200"$'\n'"500"$'\n'"600"
}

@test "rlimits: a hard RLIMIT_NOFILE the kernel refuses fails create, naming it, leaving nothing" {
	# Above fs.nr_open the kernel refuses RLIMIT_NOFILE even with
	# CAP_SYS_RESOURCE (EPERM), so this fails on every host, whatever the
	# runner's capabilities.
	local nr_open
	nr_open=$(cat /proc/sys/fs/nr_open)
	setup_bundle true
	update_config '.process.rlimits = [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": ($n + 1)}]' --argjson n "$nr_open"
	local id
	id=$(new_id)
	run create_container "$id"
	assert_failure
	# (runc 1.1 says only "error setting rlimit type 7")
	is_runc || assert_output_matches "RLIMIT_NOFILE to 1024/$((nr_open + 1)):.*operation not permitted"
	assert_no_container "$id"
	[ -z "$(ls -A "$STASIS_ROOT")" ] || fail "state left: $(ls -A "$STASIS_ROOT")"
	assert_no_process_left
}

@test "rlimits: tight limits bind the process, not the runtime's set-up" {
	setup_bundle true
	# Both far below what the runtime's init uses while it sets up (its Go
	# runtime's mappings; its fds for /proc, the socket, the exec fifo).
	update_config '.process.rlimits = [{"type": "RLIMIT_AS", "soft": 134217728, "hard": 268435456}, {"type": "RLIMIT_NOFILE", "soft": 3, "hard": 3}]'
	run_in_container sh -c 'ulimit -v; ulimit -Hv; ulimit -n'
	assert_success
	assert_output_equals "131072"$'\n'"262144"$'\n'"3"
}

@test "an unknown rlimit type fails" {
	setup_bundle true
	update_config '.process.rlimits = [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]'
	assert_create_fails "RLIMIT_BOGUS"
}

@test "oomScoreAdj raised" {
	setup_bundle true
	update_config '.process.oomScoreAdj = 500'
	run_in_container cat /proc/self/oom_score_adj
	assert_success
	assert_output_equals 500
}

@test "user: uid, gid and additionalGids" {
	setup_bundle true
	update_config '.process.user = {"uid": 1000, "gid": 1000, "additionalGids": [5, 100]}'
	run_in_container sh -c 'id -u; id -g; grep -E "^(Uid|Gid|Groups):" /proc/self/status'
	assert_success
	assert_equal "$(sed -n 1p <<<"$output")" 1000 "uid"
	assert_equal "$(sed -n 2p <<<"$output")" 1000 "gid"
	assert_output_matches $'Uid:\t1000\t1000\t1000\t1000'
	assert_output_matches $'Gid:\t1000\t1000\t1000\t1000'
	local groups
	groups=$(grep '^Groups:' <<<"$output" | cut -f2 | tr ' ' '\n' | grep . | sort -n | tr '\n' ' ')
	assert_equal "$groups" "5 100 " "supplementary groups"
}

@test "user: root with no additionalGids has no supplementary groups" {
	setup_bundle true
	run_in_container grep '^Groups:' /proc/self/status
	assert_success
	assert_output_matches $'^Groups:[ \t]*$'
}

@test "umask" {
	setup_bundle true
	update_config '.process.user.umask = 63 | .root.readonly = false'
	run_in_container sh -c 'umask; touch /tmp/f; stat -c %a /tmp/f'
	assert_success
	assert_output_equals "0077"$'\n'"600"
}

@test "default umask is 0022" {
	setup_bundle true
	run_in_container sh -c umask
	assert_success
	assert_output_equals 0022
}

@test "cwd is set, and created when missing" {
	setup_bundle true
	update_config '.process.cwd = "/tmp"'
	run_in_container pwd
	assert_success
	assert_output_equals /tmp
	update_config '.process.cwd = "/new/work/dir"'
	run_in_container pwd
	assert_success
	assert_output_equals /new/work/dir
}

@test "a relative cwd fails" {
	setup_bundle true
	update_config '.process.cwd = "tmp"'
	assert_create_fails
}

@test "env is the process environment, exactly" {
	setup_bundle true
	update_config '.process.env = ["PATH=/bin", "FOO=bar baz", "EMPTY="]'
	run_in_container env
	assert_success
	assert_output_contains "FOO=bar baz"
	assert_output_contains "EMPTY="
	assert_output_contains "PATH=/bin"
	# nothing of the runtime's environment leaks in
	assert_output_not_contains "BATS_"
	assert_output_not_contains "STASIS"
}

@test "process.args[0] is looked up in the container's PATH" {
	setup_bundle true
	update_config '.process.env = ["PATH=/bin"]'
	run_in_container echo found
	assert_success
	assert_output_equals found
}

@test "a missing executable fails" {
	setup_bundle true
	local id
	id=$(new_id)
	set_args /no/such/binary
	run stasis run --bundle "$BUNDLE" "$id" </dev/null
	assert_failure
	assert_output_contains "/no/such/binary"
	stasis delete --force "$id" >/dev/null 2>&1 || true
	assert_no_container "$id"
}

@test "default capabilities of the spec" {
	setup_bundle true
	run_in_container grep ^Cap /proc/self/status
	assert_success
	# runc spec: CAP_AUDIT_WRITE(29) CAP_KILL(5) CAP_NET_BIND_SERVICE(10)
	assert_equal "$(status_field CapBnd)" 0000000020000420 CapBnd
	assert_equal "$(status_field CapEff)" 0000000020000420 CapEff
	assert_equal "$(status_field CapPrm)" 0000000020000420 CapPrm
}

@test "capabilities: every set as configured" {
	setup_bundle true
	update_config '.process.capabilities = {
		"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
		"effective": ["CAP_CHOWN", "CAP_KILL"],
		"permitted": ["CAP_CHOWN", "CAP_KILL"],
		"inheritable": ["CAP_KILL"],
		"ambient": ["CAP_KILL"]}'
	run_in_container grep ^Cap /proc/self/status
	assert_success
	assert_equal "$(status_field CapBnd)" 0000000000000421 CapBnd
	assert_equal "$(status_field CapEff)" 0000000000000021 CapEff
	assert_equal "$(status_field CapPrm)" 0000000000000021 CapPrm
	assert_equal "$(status_field CapInh)" 0000000000000020 CapInh
	assert_equal "$(status_field CapAmb)" 0000000000000020 CapAmb
}

@test "capabilities: a non-root user keeps ambient capabilities" {
	setup_bundle true
	update_config '.process.user = {"uid": 1000, "gid": 1000} | .process.capabilities = {
		"bounding": ["CAP_NET_BIND_SERVICE", "CAP_KILL"],
		"effective": ["CAP_NET_BIND_SERVICE"],
		"permitted": ["CAP_NET_BIND_SERVICE"],
		"inheritable": ["CAP_NET_BIND_SERVICE"],
		"ambient": ["CAP_NET_BIND_SERVICE"]}'
	run_in_container grep ^Cap /proc/self/status
	assert_success
	assert_equal "$(status_field CapEff)" 0000000000000400 CapEff
	assert_equal "$(status_field CapAmb)" 0000000000000400 CapAmb
	assert_equal "$(status_field CapBnd)" 0000000000000420 CapBnd
}

@test "capabilities: dropped ones are enforced" {
	setup_bundle true
	update_config '.root.readonly = false | .process.capabilities = {"bounding": [], "effective": [], "permitted": []}'
	run_in_container sh -c 'grep ^CapEff /proc/self/status; touch /f; chown 1000 /f 2>&1 && echo chowned'
	assert_output_contains $'CapEff:\t0000000000000000'
	assert_output_not_contains chowned
}

@test "noNewPrivileges" {
	setup_bundle true
	update_config '.process.noNewPrivileges = true'
	run_in_container grep ^NoNewPrivs /proc/self/status
	assert_success
	assert_output_matches $'NoNewPrivs:\t1'
	update_config '.process.noNewPrivileges = false'
	run_in_container grep ^NoNewPrivs /proc/self/status
	assert_success
	assert_output_matches $'NoNewPrivs:\t0'
}

@test "linux.personality LINUX32" {
	[ "$(uname -m)" = x86_64 ] || skip "needs an x86_64 host"
	setup_bundle true
	update_config '.linux.personality = {"domain": "LINUX32"}'
	run_in_container uname -m
	assert_success
	if is_runc && [ "$output" = x86_64 ]; then
		skip "runc 1.1 ignores linux.personality"
	fi
	assert_output_equals i686
}

# numa_policy: the policy of the first mapping in $output (numa_maps lines:
# "ADDRESS POLICY ..."), which has no policy of its own and so shows the
# process's.
numa_policy() {
	awk 'NR == 1 {print $2}' <<<"$output"
}

@test "linux.memoryPolicy is the process's NUMA policy, for the init and for exec" {
	stasis_only "runc 1.1.5 ignores linux.memoryPolicy"
	[ -e /proc/self/numa_maps ] || skip "kernel without NUMA (no /proc/self/numa_maps)"
	setup_bundle sleep 1000
	update_config '.linux.memoryPolicy = {"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}'
	local id
	id=$(new_id)
	run_detached "$id"
	run stasis exec "$id" head -1 /proc/self/numa_maps
	assert_success
	assert_equal "$(numa_policy)" "bind=static:0" "policy of an exec'd process"
	output=$(head -1 "/proc/$(container_pid "$id")/numa_maps")
	assert_equal "$(numa_policy)" "bind=static:0" "policy of the init"

	update_config '.linux.memoryPolicy = {"mode": "MPOL_INTERLEAVE", "nodes": "0"}'
	run_in_container head -1 /proc/self/numa_maps
	assert_success
	assert_equal "$(numa_policy)" "interleave:0" "policy of the init"
}

@test "a linux.memoryPolicy the kernel or the spec refuses fails create, naming the field" {
	stasis_only "runc 1.1.5 ignores linux.memoryPolicy"
	[ -e /proc/self/numa_maps ] || skip "kernel without NUMA (no /proc/self/numa_maps)"
	setup_bundle true
	update_config '.linux.memoryPolicy = {"mode": "MPOL_BIND"}'
	assert_create_fails "linux.memoryPolicy.nodes: mode MPOL_BIND needs at least one node"
	# node 1000 is valid syntax, but no such node is online
	update_config '.linux.memoryPolicy = {"mode": "MPOL_BIND", "nodes": "1000"}'
	assert_create_fails "set linux.memoryPolicy (mode MPOL_BIND"
}
