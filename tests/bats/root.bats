#!/usr/bin/env bats
# The root file system: pivot_root, --no-pivot, readonly, propagation.

load helpers

@test "pivot_root: the host file system is unreachable from the container's mount namespace" {
	setup_bundle sleep 1000
	local secret=$RANDOM$RANDOM
	echo "$secret" >"$BUNDLE/outside-marker"
	echo inside >"$ROOTFS/inside-marker"
	local id pid
	id=$(new_id)
	create_container "$id"
	pid=$(container_pid "$id")
	# setns into the container's mount namespace makes its root the
	# namespace's root: after pivot_root (and the old root unmounted), that is
	# the rootfs, and no host path leads out of it.
	run nsenter --mount="/proc/$pid/ns/mnt" cat /inside-marker
	assert_success
	assert_output_equals inside
	run nsenter --mount="/proc/$pid/ns/mnt" cat "$BUNDLE/outside-marker"
	assert_failure
	assert_output_not_contains "$secret"
	# the init's root mount is the rootfs
	run awk '$5 == "/" {print $4}' "/proc/$pid/mountinfo"
	assert_success
	[[ "$(head -1 <<<"$output")" == */rootfs ]] ||
		fail "root mount of the container is not the rootfs: $(cat "/proc/$pid/mountinfo")"
}

@test "inside, / is the rootfs and .. of / is /" {
	setup_bundle true
	echo "$BATS_TEST_NUMBER-inside" >"$ROOTFS/inside-marker"
	echo outside >"$BUNDLE/outside-marker"
	run_in_container sh -c 'cat /inside-marker; cat /../outside-marker 2>&1; cd /..; pwd'
	assert_success
	assert_output_contains "$BATS_TEST_NUMBER-inside"
	assert_output_not_contains "outside"$'\n'
	assert_equal "$(tail -1 <<<"$output")" / "pwd after cd /.."
}

@test "--no-pivot runs the container in its rootfs" {
	setup_bundle sh -c 'cat /inside-marker; ls /'
	echo "$BATS_TEST_NUMBER-nopivot" >"$ROOTFS/inside-marker"
	local id
	id=$(new_id)
	run stasis run --no-pivot --bundle "$BUNDLE" "$id" </dev/null
	assert_success
	assert_output_contains "$BATS_TEST_NUMBER-nopivot"
	assert_output_contains "bin"
}

@test "root.readonly makes / read-only" {
	setup_bundle true
	update_config '.root.readonly = true'
	run_in_container sh -c 'touch /newfile && echo wrote; grep " / " /proc/self/mounts'
	assert_output_not_contains wrote
	assert_output_matches " / [^ ]+ ro[, ]"
	[ ! -e "$ROOTFS/newfile" ] || fail "file created in a readonly rootfs"
}

@test "root.readonly leaves the other mounts writable" {
	setup_bundle true
	update_config '.root.readonly = true'
	run_in_container sh -c 'echo x > /dev/shm/f && cat /dev/shm/f'
	assert_success
	assert_output_equals x
}

@test "root.readonly=false allows writes to /" {
	setup_bundle true
	update_config '.root.readonly = false'
	run_in_container sh -c 'echo hello > /newfile && echo wrote'
	assert_success
	assert_output_equals wrote
	assert_equal "$(cat "$ROOTFS/newfile")" hello "file written in the rootfs"
}

# propagation_test PROPAGATION: a shared host mount inside the rootfs; after
# create, mount on the host below it; print what the container sees there.
propagation_run() {
	local prop=$1
	setup_bundle sh -c 'ls /shared/sub'
	update_config '.linux.rootfsPropagation = $p' --arg p "$prop"
	mkdir "$ROOTFS/shared"
	mount -t tmpfs tmpfs "$ROOTFS/shared"
	on_teardown "umount -R '$ROOTFS/shared'"
	mount --make-shared "$ROOTFS/shared"
	mkdir "$ROOTFS/shared/sub"
	local id
	id=$(new_id)
	create_container "$id"
	# after the container's mount namespace exists
	mount -t tmpfs tmpfs "$ROOTFS/shared/sub"
	touch "$ROOTFS/shared/sub/from-host"
	stasis start "$id"
	wait_for_status "$id" stopped
	output=$(container_out "$id")
}

@test "rootfsPropagation rslave: host mounts made later propagate in" {
	propagation_run rslave
	assert_output_contains from-host
}

@test "rootfsPropagation rprivate: host mounts made later do not propagate" {
	propagation_run rprivate
	assert_output_not_contains from-host
}

@test "an unknown rootfsPropagation value fails" {
	setup_bundle true
	update_config '.linux.rootfsPropagation = "sideways"'
	assert_create_fails
}

@test "a missing rootfs directory fails" {
	setup_bundle true
	update_config '.root.path = "no-such-rootfs"'
	assert_create_fails "no-such-rootfs"
}
