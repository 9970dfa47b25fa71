#!/usr/bin/env bats
# Runtime hardening: the init does not run the on-disk binary, no runtime fd
# leaks into the container.

load helpers

@test "the init of a created container does not execute the on-disk runtime binary [stasis-only]" {
	# stasis re-executes itself through a detached read-only overlay (or a
	# sealed memfd copy), so a container cannot reach (and overwrite) the
	# host binary through /proc/PID/exe
	# (CVE-2019-5736).
	stasis_only "Debian's runc 1.1.5 re-execs a read-only bind mount of its on-disk binary"
	setup_bundle sleep 1000
	local id pid
	id=$(new_id)
	create_container "$id"
	pid=$(container_pid "$id")
	local exe bin
	exe=$(readlink "/proc/$pid/exe")
	bin=$(readlink -f "$(command -v "$STASIS")")
	[ "$exe" != "$bin" ] || fail "init executes $bin itself"
	# not the same file either (by device and inode)
	[ "$(stat -L -c %d:%i "/proc/$pid/exe")" != "$(stat -c %d:%i "$bin")" ] ||
		fail "init's exe is the on-disk binary (exe link: $exe)"
}

@test "the created init's exe cannot be written: a detached read-only overlay or a sealed memfd [stasis-only]" {
	stasis_only "how stasis seals its binary"
	setup_bundle sleep 1000
	local id pid
	id=$(new_id)
	create_container "$id"
	pid=$(container_pid "$id")
	# A detached mount has no path on the host: the link shows the binary's
	# name relative to that mount's root; a memfd shows /memfd:.
	run readlink "/proc/$pid/exe"
	assert_output_matches "^(/stasis|/memfd:stasis)"
	[ "$output" != "$STASIS" ] || fail "exe link is the on-disk binary"
	# Writing through it from the host must fail (EROFS / sealed).
	run bash -c "echo x >> /proc/$pid/exe"
	assert_failure
	assert_output_matches "Read-only file system|Operation not permitted"
	# And the host's binary is intact.
	cmp -s "$STASIS" "/proc/$pid/exe" || fail "the exe differs from the stasis binary"
}

@test "no fd of the runtime leaks into the container" {
	setup_bundle true
	# extra fds the runtime itself inherits must not reach the container
	exec 7<"$BUNDLE/config.json"
	exec 8>"$BATS_TEST_TMPDIR/extra"
	run_in_container ls /proc/self/fd
	exec 7<&- 8>&-
	assert_success
	# 0 1 2, and 3: the directory ls is reading
	assert_equal "$(tr '\n' ' ' <<<"$output")" "0 1 2 3 " "fds inside the container"
}

@test "no fd leaks into a container started by create + start" {
	setup_bundle sh -c 'ls /proc/self/fd | tr "\n" " "'
	local id
	id=$(new_id)
	exec 7<"$BUNDLE/config.json"
	create_container "$id"
	exec 7<&-
	stasis start "$id"
	wait_for_status "$id" stopped
	run container_out "$id"
	assert_output_equals "0 1 2 3 "
}

@test "--preserve-fds passes extra fds to the container" {
	setup_bundle sh -c 'ls /proc/self/fd | tr "\n" " "; cat <&3'
	echo preserved-content >"$BATS_TEST_TMPDIR/fd3"
	local id
	id=$(new_id)
	run bash -c '"$STASIS" --root "$STASIS_ROOT" run --preserve-fds 1 --bundle "$BUNDLE" "$1" </dev/null 3<"$2"' \
		_ "$id" "$BATS_TEST_TMPDIR/fd3"
	assert_success
	assert_output_equals "0 1 2 3 4 preserved-content"
}

@test "without --preserve-fds an fd 3 is not passed" {
	setup_bundle sh -c 'ls /proc/self/fd | tr "\n" " "'
	echo x >"$BATS_TEST_TMPDIR/fd3"
	local id
	id=$(new_id)
	run bash -c '"$STASIS" --root "$STASIS_ROOT" run --bundle "$BUNDLE" "$1" </dev/null 3<"$2"' \
		_ "$id" "$BATS_TEST_TMPDIR/fd3"
	assert_success
	assert_output_equals "0 1 2 3 "
}

@test "the container cannot see the runtime's state dir" {
	setup_bundle sh -c 'ls / ; cat /proc/self/mountinfo'
	local id
	id=$(new_id)
	run stasis run --bundle "$BUNDLE" "$id" </dev/null
	assert_success
	assert_output_not_contains "$STASIS_ROOT"
}

@test "until it execs the user's program the init cannot be ptraced or read from the container (non-dumpable)" {
	stasis_only "runc has the same protection; its /proc ownership differs"
	setup_bundle sleep 1000
	# In a user namespace the container's root is host uid 100000: the
	# /proc files of a dumpable process of it belong to 100000, those of a
	# non-dumpable one to the host's root.
	update_config '.linux.namespaces += [{"type": "user"}]'
	userns_bundle
	local id pid
	id=$(new_id)
	create_container "$id"
	pid=$(container_pid "$id")
	assert_equal "$(stat -c %u "/proc/$pid/fd")" 0 "owner of the created init's /proc files"
	stasis start "$id"
	wait_for_status "$id" running
	for _ in $(seq 50); do
		[ "$(stat -c %u "/proc/$pid/fd")" = 100000 ] && break
		sleep 0.05
	done
	assert_equal "$(stat -c %u "/proc/$pid/fd")" 100000 "owner once the user's program runs"
}
