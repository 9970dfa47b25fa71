#!/usr/bin/env bats
# The command line itself: version, help, usage errors, spec, logging.

load helpers

@test "--version prints a version line and the OCI spec version" {
	run "$STASIS" --version
	assert_success
	assert_output_matches "version [0-9]+\.[0-9]+"
	assert_output_matches "(^|"$'\n'")spec: 1\.[0-9]+"
}

@test "--version names stasis and its commit [stasis-only]" {
	stasis_only "version wording"
	run "$STASIS" --version
	assert_success
	assert_output_matches "^stasis version [0-9]+\.[0-9]+"
	assert_output_matches $'\n'"commit: [0-9a-f]{7,}"
}

@test "--help lists the lifecycle commands" {
	run "$STASIS" --help
	assert_success
	local c
	for c in create start run state list kill delete spec; do
		assert_output_matches "(^|"$'\n'")[[:space:]]+$c[[:space:],]"
	done
	assert_output_contains "--root"
}

@test "an unknown command fails" {
	run "$STASIS" frobnicate
	assert_failure
	[ -z "$(ls -A "$STASIS_ROOT")" ] || fail "unknown command created state"
}

@test "an unknown global flag fails" {
	run "$STASIS" --no-such-flag list
	assert_failure
	assert_output_contains "no-such-flag"
}

@test "an unknown command flag fails" {
	run stasis list --no-such-flag
	assert_failure
	assert_output_contains "no-such-flag"
}

@test "spec writes a valid default config.json" {
	cd "$BATS_TEST_TMPDIR"
	run "$STASIS" spec
	assert_success
	[ -f config.json ] || fail "no config.json written"
	run jq -r '.ociVersion' config.json
	assert_success
	assert_output_matches '^1\.[0-9]+'
	assert_equal "$(jq -r .root.path config.json)" rootfs "root.path"
	assert_equal "$(jq -r '.process.args | length' config.json)" 1 "process.args length"
	assert_equal "$(jq -r '.process.cwd' config.json)" / "process.cwd"
	# runc 1.1 makes pid ipc uts mount network; newer ones add cgroup
	assert_equal "$(jq -r '[.linux.namespaces[].type | select(. != "cgroup")] | sort | join(",")' config.json)" \
		"ipc,mount,network,pid,uts" "default namespaces"
}

@test "spec --bundle writes into the bundle dir" {
	mkdir "$BATS_TEST_TMPDIR/b"
	run "$STASIS" spec --bundle "$BATS_TEST_TMPDIR/b"
	assert_success
	jq -e .process "$BATS_TEST_TMPDIR/b/config.json" >/dev/null || fail "bad config.json"
}

@test "spec refuses to overwrite an existing config.json" {
	cd "$BATS_TEST_TMPDIR"
	echo '{"mine": true}' >config.json
	run "$STASIS" spec
	assert_failure
	assert_output_contains "config.json"
	assert_equal "$(cat config.json)" '{"mine": true}' "config.json content"
}

@test "--log with --log-format json records an error as a JSON line" {
	local log=$BATS_TEST_TMPDIR/log.json
	run "$STASIS" --root "$STASIS_ROOT" --log "$log" --log-format json start nonexistent-ctr
	assert_failure
	[ -s "$log" ] || fail "log file empty or missing"
	# Every line is JSON; the last error line has a msg.
	run jq -e . "$log"
	assert_success
	run jq -r 'select(.level == "error") | .msg' "$log"
	assert_success
	[ -n "$output" ] || fail "no line with level=error in $(cat "$log")"
}

@test "--log json error message names the container [stasis-only]" {
	stasis_only "runc 1.1 says only 'container does not exist'"
	local log=$BATS_TEST_TMPDIR/log.json
	run "$STASIS" --root "$STASIS_ROOT" --log "$log" --log-format json start nonexistent-ctr
	assert_failure
	run jq -r 'select(.level == "error") | .msg' "$log"
	assert_output_contains "nonexistent-ctr"
}

@test "--log-format with an unknown format fails" {
	run "$STASIS" --root "$STASIS_ROOT" --log-format yaml list
	assert_failure
}

@test "--systemd-cgroup on create gives a clear error [stasis-only]" {
	stasis_only "runc supports systemd cgroups"
	setup_bundle true
	local id
	id=$(new_id)
	run "$STASIS" --root "$STASIS_ROOT" --systemd-cgroup create --bundle "$BUNDLE" "$id" </dev/null
	assert_failure
	assert_output_contains "systemd"
	assert_no_container "$id"
}
