#!/usr/bin/env bats
# The root file system. Proves: with pivot_root the host's / is no longer
# mounted anywhere in the container's mount namespace and no host path is
# reachable from it; inside, / is the rootfs and /.. is /; --no-pivot
# (MS_MOVE + chroot) runs in the rootfs with the host's / still mounted,
# hidden, below it; root.readonly makes only / read-only (false leaves it
# writable); rootfsPropagation rslave lets later host mounts in, rprivate
# does not; a bad propagation value or a missing rootfs fails create.

load helpers

NSMOUNTS=${NSMOUNTS:-$REPO_ROOT/build/nsmounts}

# ns_mounts PID: every mount of PID's mount namespace, also those its root
# hides (which /proc/PID/mountinfo leaves out), as "MAJ:MIN ROOT MOUNTPOINT
# FSTYPE" lines in $output (tests/cmd/nsmounts: listmount + statmount).
ns_mounts() {
	[ -x "$NSMOUNTS" ] || skip "nsmounts not built (make helpers)"
	run "$NSMOUNTS" "$1"
	[ "$status" -ne 3 ] || skip "this kernel cannot list another mount namespace's mounts (listmount, Linux 6.11): $output"
	assert_success
}

# root_mount PID: the / mount PID sees (the top one), as ns_mounts prints it.
root_mount() {
	awk '$5 == "/" { for (i = 7; $i != "-"; i++) ; m = $3 " " $4 " / " $(i + 1) } END { print m }' "/proc/$1/mountinfo"
}

# has_line LINE: $output has LINE as one whole line.
has_line() {
	grep -Fxq -- "$1" <<<"$output"
}

@test "pivot_root: the host's / is no longer mounted in the container's mount namespace, and no host path is reachable from it" {
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
	# and the old root is gone from the namespace, not just out of reach
	# (mountinfo would not show it either way): no mount of the host's /
	local hostroot ctrroot
	hostroot=$(root_mount self)
	ctrroot=$(root_mount "$pid")
	ns_mounts "$pid"
	has_line "$ctrroot" || fail "the rootfs mount ($ctrroot) is not among the namespace's mounts:"$'\n'"$output"
	! has_line "$hostroot" || fail "the host's / ($hostroot) is still mounted in the container's namespace:"$'\n'"$output"
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

@test "--no-pivot runs the container in its rootfs, by MS_MOVE + chroot: the host's / stays mounted below it" {
	setup_bundle sh -c 'cat /inside-marker; ls /'
	echo "$BATS_TEST_NUMBER-nopivot" >"$ROOTFS/inside-marker"
	local id pid hostroot
	id=$(new_id)
	run stasis run --no-pivot --bundle "$BUNDLE" "$id" </dev/null
	assert_success
	assert_output_contains "$BATS_TEST_NUMBER-nopivot"
	assert_output_contains "bin"

	# Those hold with pivot_root too. What tells them apart: pivot_root
	# detaches the old root, while MS_MOVE + chroot leaves the host's /
	# mounted in the container's namespace, under the rootfs moved onto it
	# (out of the chroot's reach, so /proc/PID/mountinfo does not show it).
	set_args sleep 1000
	id=$(new_id)
	create_container "$id" --no-pivot
	pid=$(container_pid "$id")
	hostroot=$(root_mount self)
	ns_mounts "$pid"
	has_line "$hostroot" || fail "with --no-pivot, the host's / ($hostroot) is not in the container's namespace:"$'\n'"$output"
	run awk '$5 == "/" {print $4}' "/proc/$pid/mountinfo"
	assert_success
	[[ "$output" == */rootfs ]] || fail "the container's / mounts: '$output', want only the rootfs"
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
