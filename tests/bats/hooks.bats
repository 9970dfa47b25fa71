#!/usr/bin/env bats
# OCI hooks: each kind runs at the moment and in the namespace the runtime
# spec names, gets the state JSON on stdin, and a failure is handled as the
# spec says (fail the operation, or only log for poststart/poststop).

load helpers

setup() {
	common_setup
	setup_bundle sh -c 'echo user-process-ran >>/hooklog/log'
	update_config '.root.readonly = false'
	HOOKLOG=$BATS_TEST_TMPDIR/hooklog
	mkdir -p "$HOOKLOG"
	update_config '.mounts += [{"destination": "/hooklog", "type": "bind", "source": $d, "options": ["rbind"]}]' --arg d "$HOOKLOG"
	# The hook script records: its name, the state's status and id, whether
	# the state has a pid, its mount namespace, whether it sees the
	# container's rootfs as / (then /hooklog exists at the root), and the
	# pid itself.
	HOOK=$BATS_TEST_TMPDIR/hook.sh
	cat >"$HOOK" <<-'SH'
		#!/bin/sh
		state=$(cat)
		status=$(echo "$state" | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p')
		id=$(echo "$state" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
		pid=$(echo "$state" | grep -q '"pid":[1-9]' && echo pid || echo nopid)
		pidval=$(echo "$state" | sed -n 's/.*"pid":\([0-9]*\).*/\1/p')
		inroot=$([ -d /hooklog ] && echo in-container-root || echo host-root)
		echo "$1 $status $id $pid $(readlink /proc/self/ns/mnt) $inroot ${pidval:-none}" >>"$2"
	SH
	chmod +x "$HOOK"
	# startContainer runs inside the container: give it a copy there.
	cp "$HOOK" "$ROOTFS/hook.sh"
	HOST_MNT=$(readlink /proc/self/ns/mnt)
}

teardown() {
	common_teardown
}

hook() { # hook KIND LOGPATH: the JSON of one hook entry
	printf '{"path": "%s", "args": ["hook.sh", "%s", "%s"]}' "${3:-$HOOK}" "$1" "$2"
}

@test "every hook kind runs once, in order, with the state on stdin and in its namespace" {
	local id log=$HOOKLOG/log
	id=$(new_id)
	update_config ".hooks = {
		\"prestart\": [$(hook prestart "$log")],
		\"createRuntime\": [$(hook createRuntime "$log")],
		\"createContainer\": [$(hook createContainer "$log")],
		\"startContainer\": [$(hook startContainer /hooklog/log /hook.sh)],
		\"poststart\": [$(hook poststart "$log")],
		\"poststop\": [$(hook poststop "$log")]}"
	create_container "$id"
	local hostpid
	hostpid=$(container_pid "$id")
	run cat "$log"
	# After create: the three create-time hooks, nothing else yet.
	assert_equal "$(cut -d' ' -f1 <<<"$output" | tr '\n' ' ')" "prestart createRuntime createContainer " "hooks after create"
	stasis start "$id"
	wait_for_status "$id" stopped
	stasis delete "$id"
	run cat "$log"
	assert_equal "$(awk '{print $1}' <<<"$output" | tr '\n' ' ')" \
		"prestart createRuntime createContainer startContainer user-process-ran poststart poststop " "hook order"
	# The state each got: status, id, pid.
	grep -q "^prestart creating $id pid " "$log" || fail "prestart state: $(grep ^prestart "$log")"
	grep -q "^createContainer creating $id pid " "$log" || fail "createContainer state"
	grep -q "^startContainer created $id pid " "$log" || fail "startContainer state"
	grep -q "^poststart running $id pid " "$log" || fail "poststart state"
	grep -q "^poststop stopped $id nopid " "$log" || fail "poststop state"
	# The pid as the hook's pid namespace sees the container process
	# (state.md): the host's pid outside, 1 inside the container's own.
	for k in prestart createRuntime poststart; do
		grep -q "^$k .* $hostpid\$" "$log" || fail "$k pid, want $hostpid: $(grep "^$k" "$log")"
	done
	for k in createContainer startContainer; do
		grep -q "^$k .* 1\$" "$log" || fail "$k pid, want 1: $(grep "^$k" "$log")"
	done
	# Namespaces: the runtime's for prestart/createRuntime/poststart/poststop,
	# the container's mount namespace for createContainer (before
	# pivot_root: the host's files still at /) and startContainer (after).
	for k in prestart createRuntime poststart poststop; do
		grep "^$k " "$log" | grep -qF "$HOST_MNT host-root" || fail "$k not in the runtime's namespace: $(grep "^$k" "$log")"
	done
	grep "^createContainer" "$log" | grep -qvF "$HOST_MNT" || fail "createContainer ran in the host's mount namespace"
	grep -q "^createContainer .* host-root" "$log" || fail "createContainer ran after pivot_root"
	grep "^startContainer" "$log" | grep -qvF "$HOST_MNT" || fail "startContainer ran in the host's mount namespace"
	grep -q "^startContainer .* in-container-root" "$log" || fail "startContainer did not see the container's root"
}

@test "a failing createRuntime hook fails create, naming the hook, and leaves nothing" {
	update_config '.hooks = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo hook-says-no >&2; exit 3"]}]}'
	# The message names the hook and carries what it printed.
	assert_create_fails "error running hook #0 (createRuntime hook /bin/sh): exit status 3: hook-says-no"
}

@test "a failing prestart hook fails create" {
	update_config '.hooks = {"prestart": [{"path": "/bin/false"}]}'
	assert_create_fails "prestart hook"
}

@test "a hook over its timeout is killed and fails create" {
	update_config '.hooks = {"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]}'
	local start=$SECONDS
	assert_create_fails "timed out"
	[ $((SECONDS - start)) -lt 15 ] || fail "the hook was not cut at its timeout"
}

@test "a hook gets its env and args as given" {
	local id out=$BATS_TEST_TMPDIR/envargs
	id=$(new_id)
	update_config '.hooks = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo \"$0 $1 $MYVAR\" >" + $o, "first", "second"], "env": ["MYVAR=from-env"]}]}' --arg o "$out"
	create_container "$id"
	run cat "$out"
	assert_output_equals "first second from-env"
}

@test "poststart hooks run after the user process was executed" {
	local id out=$BATS_TEST_TMPDIR/cmdline
	id=$(new_id)
	set_args sleep 1000
	# A slow startContainer hook holds the init back between start's
	# release and its exec: a poststart hook run too early sees the
	# runtime's init, not sleep.
	update_config '.hooks = {
		"startContainer": [{"path": "/bin/sleep", "args": ["sleep", "1"]}],
		"poststart": [{"path": "/bin/sh", "args": ["sh", "-c", "pid=$(sed -n \"s/.*\\\"pid\\\":\\([0-9]*\\).*/\\1/p\"); tr \"\\0\" \" \" </proc/$pid/cmdline >" + $o]}]}' --arg o "$out"
	create_container "$id"
	stasis start "$id"
	assert_equal "$(cat "$out")" "sleep 1000 " "the process poststart saw"
}

@test "a failing startContainer hook fails start and stops the container" {
	local id
	id=$(new_id)
	set_args sleep 1000
	update_config '.hooks = {"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "echo no-start >&2; exit 5"]}]}'
	create_container "$id"
	run stasis start "$id"
	assert_failure
	is_runc || assert_output_contains "error running hook #0 (startContainer hook /bin/sh): exit status 5: no-start"
	wait_for_status "$id" stopped
	stasis delete "$id"
}

@test "a failing poststart hook fails start and stops the container" {
	local id
	id=$(new_id)
	set_args sleep 1000
	update_config '.hooks = {"poststart": [{"path": "/bin/sh", "args": ["sh", "-c", "echo no-poststart >&2; exit 4"]}]}'
	create_container "$id"
	run stasis start "$id"
	assert_failure
	is_runc || assert_output_contains "error running hook #0 (poststart hook /bin/sh): exit status 4: no-poststart"
	wait_for_status "$id" stopped
	stasis delete "$id"
}

@test "a failing poststop hook is only logged, and the later ones still run" {
	stasis_only "log wording"
	local id
	id=$(new_id)
	update_config '.hooks = {"poststop": [{"path": "/bin/false"}, {"path": "/bin/sh", "args": ["sh", "-c", "echo ran >" + $o]}]}' \
		--arg o "$BATS_TEST_TMPDIR/second"
	create_container "$id"
	stasis start "$id"
	wait_for_status "$id" stopped
	run stasis --log "$BATS_TEST_TMPDIR/log.json" --log-format json delete "$id"
	assert_success
	grep -q '"level":"warn".*error running hook #0 (poststop hook /bin/false)' "$BATS_TEST_TMPDIR/log.json" || fail "poststop failure not logged: $(cat "$BATS_TEST_TMPDIR/log.json")"
	[ "$(cat "$BATS_TEST_TMPDIR/second")" = ran ] || fail "the second poststop hook did not run"
}
