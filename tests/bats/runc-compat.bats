#!/usr/bin/env bats
# runc's behaviour where a user swapping runc for stasis would otherwise
# notice a difference (issue 11): each test here is for one behaviour that
# runc's own integration suite (../shared/conformance) found missing, so
# `make test` keeps it without ../shared.
#
# Proves: ambient capabilities (dropped without an inheritable set, raised
# with one); create refuses a frozen cgroup and warns about a busy one;
# --debug logs the init protocol in runc's words on stderr, and in --log
# as text or json, and nothing at debug level without it; exec's 255 vs the
# process's status; exec into a paused container (--ignore-paused waits);
# exec --cgroup; run --keep; state/list JSON field order; cwd entered
# before caps drop; linux.resources.unified refused on v1; a user-
# namespaced container binds a source only the host's root can reach.

load helpers

# a_cgroup_path: a cgroupsPath of this test's own (removed in teardown).
a_cgroup_path() {
	echo "/stasis-compat-$BATS_SUITE_TEST_NUMBER-$$"
}

# remove_cgroup_path PATH: remove PATH (and sub-cgroups) in every hierarchy.
remove_cgroup_path() {
	local d
	for d in /sys/fs/cgroup/*"$1" /sys/fs/cgroup/unified"$1"; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	return 0
}

@test "a bundle from 'spec' with ambient capabilities but no inheritable set runs (the process gets no ambient caps)" {
	setup_bundle sh -c 'grep CapAmb /proc/self/status'
	# runc spec's process: ambient listed, inheritable absent.
	update_config '.process.capabilities = {
		"bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
		"effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
		"permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
		"ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]}'
	id=$(new_id)
	run stasis run --bundle "$BUNDLE" "$id" </dev/null
	assert_success
	assert_output_matches 'CapAmb:[[:space:]]+0000000000000000'
}

@test "ambient capabilities that are also inheritable are raised" {
	setup_bundle sh -c 'grep CapAmb /proc/self/status'
	update_config '.process.capabilities = {
		"bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE"], "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
		"permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"], "inheritable": ["CAP_NET_BIND_SERVICE"],
		"ambient": ["CAP_KILL", "CAP_NET_BIND_SERVICE"]}'
	id=$(new_id)
	run stasis run --bundle "$BUNDLE" "$id" </dev/null
	assert_success
	# CAP_NET_BIND_SERVICE is bit 10; CAP_KILL (not inheritable) is not raised.
	assert_output_matches 'CapAmb:[[:space:]]+0000000000000400'
}

@test "create refuses a pre-existing frozen cgroup instead of hanging" {
	[ -d /sys/fs/cgroup/freezer ] || skip "needs the v1 freezer hierarchy"
	setup_bundle sleep 100
	cg=$(a_cgroup_path)
	on_teardown "remove_cgroup_path $cg"
	update_config '.linux.cgroupsPath = $p' --arg p "$cg"
	mkdir -p "/sys/fs/cgroup/freezer$cg"
	echo FROZEN >"/sys/fs/cgroup/freezer$cg/freezer.state"
	id=$(new_id)
	run timeout 20 "$STASIS" --root "$STASIS_ROOT" run -d --bundle "$BUNDLE" "$id" </dev/null
	assert_status 1
	assert_output_contains "container's cgroup unexpectedly frozen"
	assert_no_container "$id"
	echo THAWED >"/sys/fs/cgroup/freezer$cg/freezer.state"
}

@test "create warns when the container's cgroup already has processes" {
	setup_bundle sleep 100
	cg=$(a_cgroup_path)
	on_teardown "remove_cgroup_path $cg"
	update_config '.linux.cgroupsPath = $p' --arg p "$cg"
	id1=$(new_id)
	run_detached "$id1"
	id2=$(new_id)
	run_detached "$id2"
	run container_err "$id2"
	assert_output_contains "container's cgroup is not empty: 1 process(es) found"
	stasis delete -f "$id2"
	stasis delete -f "$id1"
}

@test "--debug logs the init protocol's steps in runc's words, to stderr or --log, text or json" {
	setup_bundle true
	id=$(new_id)
	run stasis --debug run --bundle "$BUNDLE" "$id" </dev/null
	assert_success
	assert_output_contains "level=debug"
	assert_output_contains "nsexec container setup"
	assert_output_contains "child process in init()"
	assert_output_contains "init: closing the pipe to signal completion"

	id=$(new_id)
	run stasis --log "$BATS_TEST_TMPDIR/log.json" --log-format json --debug run --bundle "$BUNDLE" "$id" </dev/null
	assert_success
	assert_output_not_contains "level=debug"
	run cat "$BATS_TEST_TMPDIR/log.json"
	assert_output_contains '"level":"debug"'
	assert_output_contains "child process in init()"

	# --log in the default text format: the same lines, logfmt, in the file
	id=$(new_id)
	run stasis --log "$BATS_TEST_TMPDIR/log.txt" --debug run --bundle "$BUNDLE" "$id" </dev/null
	assert_success
	assert_output_not_contains "level=debug"
	run cat "$BATS_TEST_TMPDIR/log.txt"
	assert_output_matches '(^|'$'\n'')time=[^ ]+ level=debug msg="?child process in init\(\)'
	assert_output_contains "init: closing the pipe to signal completion"

	# without --debug: none on stderr, none in a log of either format
	id=$(new_id)
	run stasis run --bundle "$BUNDLE" "$id" </dev/null
	assert_output_not_contains "level=debug"
	local fmt
	for fmt in text json; do
		id=$(new_id)
		stasis --log "$BATS_TEST_TMPDIR/nodebug.$fmt" --log-format "$fmt" run --bundle "$BUNDLE" "$id" </dev/null
		run cat "$BATS_TEST_TMPDIR/nodebug.$fmt"
		assert_output_not_contains "debug"
	done
}

@test "exec exits 255 when the runtime fails and with the process's status otherwise" {
	setup_bundle sleep 100
	id=$(new_id)
	run_detached "$id"
	run stasis exec "$id" sh -c 'exit 42'
	assert_status 42
	run stasis exec "$id" no-such-binary
	assert_status 255
	run stasis exec --pid-file /non-existent/directory/pid "$id" true
	assert_status 255
	run stasis exec no-such-container true
	assert_status 255
}

@test "exec into a paused container is refused, or waits for resume with --ignore-paused" {
	[ -d /sys/fs/cgroup/freezer ] || skip "needs the v1 freezer hierarchy"
	setup_bundle sleep 100
	id=$(new_id)
	run_detached "$id"
	stasis pause "$id"
	run stasis exec "$id" echo ok
	assert_status 255
	assert_output_contains "cannot exec in a paused container"
	(
		sleep 1
		"$STASIS" --root "$STASIS_ROOT" resume "$id"
	) 3>&- &
	run timeout 20 "$STASIS" --root "$STASIS_ROOT" exec --ignore-paused "$id" echo ok
	assert_success
	assert_output_equals ok
	wait
}

@test "exec --cgroup joins an existing sub-cgroup and refuses paths out of the container's" {
	[ -d /sys/fs/cgroup/memory ] || skip "needs the v1 memory hierarchy"
	setup_bundle sleep 100
	cg=$(a_cgroup_path)
	on_teardown "remove_cgroup_path $cg"
	update_config '.linux.cgroupsPath = $p' --arg p "$cg"
	id=$(new_id)
	run_detached "$id"
	run stasis exec --cgroup .. "$id" true
	assert_failure
	assert_output_contains " .. is not a sub cgroup path"
	run stasis exec --cgroup nonexistent "$id" true
	assert_failure
	assert_output_contains "/nonexistent/cgroup.procs: no such file"
	run stasis exec --cgroup whaaat:/ "$id" true
	assert_failure
	assert_output_contains "unknown controller "
	mkdir "/sys/fs/cgroup/memory$cg/submem"
	run stasis exec --cgroup memory:submem "$id" cat /proc/self/cgroup
	assert_success
	assert_output_contains ":memory:$cg/submem"
	# the other hierarchies stay the container's own
	assert_output_matches ":pids:$cg"$'(\n|$)'
	stasis delete -f "$id"
}

@test "run --keep leaves a stopped container with its cgroup, deleted later" {
	setup_bundle true
	cg=$(a_cgroup_path)
	on_teardown "remove_cgroup_path $cg"
	update_config '.linux.cgroupsPath = $p' --arg p "$cg"
	id=$(new_id)
	run stasis run --keep --bundle "$BUNDLE" "$id" </dev/null
	assert_success
	[ "$(state_field "$id" status)" = stopped ]
	[ -d "/sys/fs/cgroup/pids$cg" ] || fail "cgroup gone after run --keep"
	stasis delete "$id"
	assert_no_container "$id"
	[ ! -d "/sys/fs/cgroup/pids$cg" ] || fail "cgroup left after delete"
}

@test "state and list --format json print runc's field order" {
	setup_bundle sleep 100
	id=$(new_id)
	run_detached "$id"
	run stasis list --format json
	assert_success
	assert_output_matches '^\[\{"ociVersion":"[0-9.]+","id":"'"$id"'","pid":[0-9]+,"status":"running","bundle":"[^"]+","rootfs":"[^"]+","created":"[^"]+","owner":"[^"]*"\}\]$'
	run stasis state "$id"
	assert_success
	[ "$(jq -r 'keys_unsorted | join(",")' <<<"$output")" = "ociVersion,id,pid,status,bundle,rootfs,created,owner" ] ||
		fail "state key order: $(jq -r 'keys_unsorted | join(",")' <<<"$output")"
}

@test "the cwd is entered before capabilities are dropped (uid 0 without CAP_DAC_OVERRIDE)" {
	setup_bundle pwd
	# Only a process that may override file permissions enters it.
	mkdir -m 700 "$ROOTFS/private"
	chown 42:42 "$ROOTFS/private"
	mkdir -m 700 "$ROOTFS/private/inner"
	chown 42:42 "$ROOTFS/private/inner"
	update_config '.process.cwd = "/private/inner" | .process.user = {"uid": 0, "gid": 0}
		| .process.capabilities = {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]}'
	id=$(new_id)
	run stasis run --bundle "$BUNDLE" "$id" </dev/null
	assert_success
	assert_output_equals /private/inner
}

@test "linux.resources.unified is refused on a host whose controllers are cgroup v1" {
	[ "$(stat -f -c %T /sys/fs/cgroup)" != cgroup2fs ] || skip "host is cgroup v2"
	setup_bundle true
	update_config '.linux.resources.unified = {"memory.min": "131072"}'
	assert_create_fails "invalid configuration"
}

@test "a user-namespaced container binds a source its root cannot reach (opened by the host's root)" {
	setup_bundle sh -c 'cat /mnt/a/foo.txt /mnt/b/foo.txt'
	for n in 1 2; do
		mkdir -p "$BATS_TEST_TMPDIR/closed-$n/dir"
		echo "hello $n" >"$BATS_TEST_TMPDIR/closed-$n/dir/foo.txt"
		chmod 700 "$BATS_TEST_TMPDIR/closed-$n"
	done
	update_config '.linux.namespaces += [{"type": "user"}]'
	userns_bundle
	update_config '.mounts += [{"source": $a, "destination": "/mnt/a", "options": ["bind"]},
		              {"source": $b, "destination": "/mnt/b", "options": ["rbind"]}]' \
		--arg a "$BATS_TEST_TMPDIR/closed-1/dir" --arg b "$BATS_TEST_TMPDIR/closed-2/dir"
	id=$(new_id)
	run stasis run --bundle "$BUNDLE" "$id" </dev/null
	assert_success
	assert_output_equals $'hello 1\nhello 2'
}
