#!/usr/bin/env bats
# Bad bundles: each must fail with a message naming what is wrong, and leave
# nothing behind: no listed container, state dir, cgroup or process.

load helpers

@test "a bundle without config.json fails" {
	setup_bundle true
	rm "$BUNDLE/config.json"
	assert_create_fails "config.json"
}

@test "a bundle dir that does not exist fails" {
	setup_bundle true
	BUNDLE=$BATS_TEST_TMPDIR/no-such-bundle
	assert_create_fails "no-such-bundle"
}

@test "invalid JSON in config.json fails" {
	setup_bundle true
	echo '{"ociVersion": "1.0.2", "process": {' >"$BUNDLE/config.json"
	# runc 1.1 says only "unexpected EOF"
	if is_runc; then assert_create_fails ""; else assert_create_fails "config.json"; fi
}

@test "a config.json that is not an object fails" {
	setup_bundle true
	echo '[1, 2, 3]' >"$BUNDLE/config.json"
	assert_create_fails ""
}

@test "an unknown ociVersion major fails [stasis-only]" {
	stasis_only "runc 1.1 does not check ociVersion"
	setup_bundle true
	update_config '.ociVersion = "2.0.0"'
	assert_create_fails "ociVersion"
}

@test "a missing ociVersion fails [stasis-only]" {
	stasis_only "runc 1.1 does not check ociVersion"
	setup_bundle true
	update_config 'del(.ociVersion)'
	assert_create_fails "ociVersion"
}

@test "a missing root fails" {
	setup_bundle true
	update_config 'del(.root)'
	assert_create_fails "root"
}

@test "a missing process fails" {
	setup_bundle true
	update_config 'del(.process)'
	assert_create_fails "process"
}

@test "empty process.args fail" {
	setup_bundle true
	update_config '.process.args = []'
	assert_create_fails "args"
}

@test "a relative mount destination fails [stasis-only]" {
	stasis_only "runc 1.1 accepts relative destinations (resolved against /)"
	setup_bundle true
	update_config '.mounts += [{"destination": "relative/dir", "type": "tmpfs", "source": "tmpfs"}]'
	assert_create_fails "relative/dir"
}

@test "a bad namespace type fails" {
	setup_bundle true
	update_config '.linux.namespaces += [{"type": "bogusns"}]'
	assert_create_fails "bogusns"
}

@test "a namespace listed twice fails" {
	setup_bundle true
	update_config '.linux.namespaces += [{"type": "pid"}]'
	assert_create_fails "pid"
}

@test "an unknown capability fails [stasis-only]" {
	stasis_only "runc 1.1 only warns about unknown capabilities"
	setup_bundle true
	update_config '.process.capabilities.bounding += ["CAP_NO_SUCH_THING"]'
	assert_create_fails "CAP_NO_SUCH_THING"
}

@test "a bad uid mapping fails" {
	setup_bundle true
	update_config '.linux.namespaces += [{"type": "user"}]
		| .linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 0}]
		| .linux.gidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]'
	assert_create_fails ""
}

@test "a failing mount leaves nothing behind" {
	setup_bundle true
	update_config '.mounts += [{"destination": "/mnt/x", "type": "nosuchfs", "source": "none"}]'
	assert_create_fails "/mnt/x"
}

@test "a failing cgroup limit leaves no cgroup behind" {
	[ -d /sys/fs/cgroup/memory ] || skip "no memory cgroup"
	setup_bundle true
	# a memory limit far below what the kernel accepts for a running process
	update_config '.linux.resources.memory = {"limit": -5}'
	assert_create_fails ""
}

@test "a missing executable leaves nothing behind after delete" {
	setup_bundle /no/such/binary
	local id
	id=$(new_id)
	run create_container "$id"
	if [ "$status" -eq 0 ]; then
		# runtimes may fail at create or at start; either way delete cleans
		run stasis start "$id"
		assert_failure
		stasis delete --force "$id"
	fi
	assert_no_container "$id"
	assert_no_process_left
}

@test "a valid bundle after failures still works (control)" {
	setup_bundle echo ok
	local id
	id=$(new_id)
	run stasis run --bundle "$BUNDLE" "$id" </dev/null
	assert_success
	assert_output_equals ok
	assert_no_container "$id"
	assert_no_process_left
}
