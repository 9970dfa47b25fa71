#!/usr/bin/env bats
# linux.seccomp through the binary. Proves: a listed syscall fails with the
# configured errno (EPERM when none is given) and the rest still work;
# SCMP_ACT_KILL_PROCESS kills with SIGSYS; an argument filter refuses only
# the call whose argument matches (personality(PER_LINUX32) refused,
# personality(PER_LINUX) allowed); Docker's default profile runs busybox
# and blocks what Docker blocks; the filter loads under a tight RLIMIT_AS
# and when rseq is denied; exec'd processes get the same filter; bad
# profiles fail create naming the field; SCMP_ACT_NOTIFY hands the listener
# to the agent, and fails cleanly without one or without listenerPath.

load helpers

DOCKER_PROFILE=$REPO_ROOT/seccomp/testdata/docker-default.json

setup() {
	common_setup
	setup_bundle true
	update_config '.root.readonly = false'
}

teardown() {
	common_teardown
}

@test "a blocked syscall fails with the configured errno, others work" {
	update_config '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}'
	run_in_container sh -c 'mkdir /made; echo "mkdir=$?"; touch /touched && echo touch-ok; grep Seccomp: /proc/self/status'
	assert_output_contains "Function not implemented" # ENOSYS = 38
	assert_output_contains "mkdir=1"
	assert_output_contains "touch-ok"
	assert_output_matches "Seccomp:[[:space:]]+2"
	[ ! -d "$ROOTFS/made" ] || fail "mkdir went through"
}

@test "SCMP_ACT_ERRNO without errnoRet means EPERM" {
	update_config '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}'
	run_in_container mkdir /made
	assert_failure
	assert_output_contains "Operation not permitted"
}

@test "SCMP_ACT_KILL_PROCESS kills the process with SIGSYS" {
	update_config '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"}]}'
	run_in_container mkdir /made
	assert_status 159 # 128 + SIGSYS (31)
}

@test "argument filters: only the matching call is refused" {
	# Refuse personality(PER_LINUX32 = 8) only: linux64 calls
	# personality(PER_LINUX = 0), which the filter must let through (with
	# the argument filter dropped, the rule would refuse it too).
	update_config '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
		"args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}'
	run_in_container sh -c 'linux64 uname -m; echo "linux64=$?"; linux32 uname -m 2>&1; echo "linux32=$?"'
	assert_equal "$(sed -n 1,2p <<<"$output")" "x86_64"$'\n'"linux64=0" "personality(PER_LINUX)"
	# personality(PER_LINUX32) refused with errnoRet 1 = EPERM
	[[ "$(sed -n 3p <<<"$output")" == *"Operation not permitted"* ]] || fail "linux32 not refused with EPERM: $output"
	assert_equal "$(sed -n '4,$p' <<<"$output")" "linux32=1" "linux32's status"
}

@test "Docker's default profile runs busybox and blocks what Docker blocks" {
	[ -f "$DOCKER_PROFILE" ] || skip "no $DOCKER_PROFILE"
	update_config '.linux.seccomp = $p[0]' --slurpfile p "$DOCKER_PROFILE"
	run_in_container sh -c 'echo hi | cat; ls / >/dev/null && echo ls-ok; unshare -U true; echo "unshare=$?"; grep Seccomp: /proc/self/status'
	assert_output_contains "hi"
	assert_output_contains "ls-ok"
	assert_output_contains "unshare=1"
	assert_output_matches "Seccomp:[[:space:]]+2"
}

@test "the filter still loads when process.rlimits leaves little address space" {
	[ -f "$DOCKER_PROFILE" ] || skip "no $DOCKER_PROFILE"
	update_config '.linux.seccomp = $p[0]' --slurpfile p "$DOCKER_PROFILE"
	# 256 MiB is far less than the runtime's own Go process maps; busybox
	# needs a few MiB. Both load paths: before the user switch, and last
	# (no_new_privs).
	update_config '.process.rlimits = [{"type": "RLIMIT_AS", "soft": 268435456, "hard": 268435456}]'
	local nnp
	for nnp in false true; do
		update_config ".process.noNewPrivileges = $nnp"
		run_in_container sh -c 'ulimit -v; grep -E "^(Seccomp|NoNewPrivs):" /proc/self/status'
		assert_success
		assert_output_contains "262144"
		assert_output_matches "Seccomp:[[:space:]]+2"
		assert_output_matches "NoNewPrivs:[[:space:]]+$([ $nnp = true ] && echo 1 || echo 0)"
	done
}

@test "a profile that denies rseq does not kill the runtime's init" {
	# startContainer hooks run after the filter is loaded (without
	# no_new_privs), and running them (each with a stdin copier and a
	# timeout) makes the init's Go runtime start threads; glibc aborts a
	# thread that cannot register rseq.
	update_config '.process.noNewPrivileges = false
		| .linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["rseq"], "action": "SCMP_ACT_ERRNO"}]}
		| .hooks = {"startContainer": [range(20) | {"path": "/bin/sh", "args": ["sh", "-c", "cat >/dev/null"], "timeout": 5}]}'
	run_in_container sh -c 'echo ran'
	assert_success
	assert_output_contains ran
}

@test "a profile that denies getcwd still starts the process in its cwd" {
	# The init checks that the cwd is inside the root (CVE-2024-21626)
	# with getcwd; with no_new_privs off the filter is already loaded
	# then. runtime-tools' linux_seccomp denies getcwd this way.
	mkdir -p "$ROOTFS/work"
	local nnp
	for nnp in false true; do
		update_config '.process.noNewPrivileges = ($n == "true") | .process.cwd = "/work"
			| .linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}]}' \
			--arg n "$nnp"
		run_in_container sh -c 'ls -di . /work'
		assert_success
		[ "$(awk '{print $1}' <<<"${lines[0]}")" = "$(awk '{print $1}' <<<"${lines[1]}")" ] ||
			fail "noNewPrivileges=$nnp: cwd is not /work: $output"
	done
}

@test "exec'd processes get the container's seccomp filter" {
	local id
	id=$(new_id)
	set_args sleep 1000
	update_config '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}'
	run_detached "$id"
	run stasis exec "$id" mkdir /made </dev/null
	assert_failure
	assert_output_contains "Function not implemented"
}

@test "a bad seccomp profile fails create before anything runs, naming the field" {
	stasis_only "error wording"
	update_config '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_BOGUS"}]}'
	assert_create_fails "SCMP_ACT_BOGUS"
}

# notify_profile LISTENER: mkdir goes to the agent at LISTENER, the rest runs.
notify_profile() {
	update_config '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": $l,
		"listenerMetadata": "from-the-test",
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]}' --arg l "$1"
}

@test "SCMP_ACT_NOTIFY: the agent at listenerPath gets the listener and the state, and answers the syscall" {
	local agent=$REPO_ROOT/build/seccompagent t=$BATS_TEST_TMPDIR
	[ -x "$agent" ] || skip "seccompagent not built (make helpers)"
	"$agent" --state "$t/state.json" --ready "$t/agent.ready" "$t/agent.sock" </dev/null >"$t/agent.log" 2>&1 3>&- &
	on_teardown "kill $!"
	wait_for_file "$t/agent.ready"
	notify_profile "$t/agent.sock"
	set_args sh -c 'mkdir /tmp/x; echo "rc=$?"; touch /tmp/y && echo touched'
	id=$(new_id)
	run stasis run --bundle "$BUNDLE" "$id" </dev/null
	assert_success
	assert_output_contains "No medium found"
	assert_output_contains "rc=1"
	assert_output_contains "touched"
	run jq -r '[.fds[0], .metadata, .state.id, (.pid > 0)] | join(" ")' "$t/state.json"
	assert_output_equals "seccompFd from-the-test $id true"
}

@test "SCMP_ACT_NOTIFY with no agent listening fails create, naming the agent, leaving nothing" {
	notify_profile "$BATS_TEST_TMPDIR/nobody.sock"
	assert_create_fails "failed to connect with seccomp agent"
}

@test "SCMP_ACT_NOTIFY without listenerPath is refused" {
	update_config '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}'
	assert_create_fails "listenerPath"
}
