#!/usr/bin/env bats
# Union rootfs in checkpoint/restore: a container on a real overlay rootfs
# (layers made by the test) checkpoints and restores with no extra flags,
# also after its rootfs was unmounted (stasis mounts the recorded layers
# again, and unmounts them at delete). AUFS is not in this kernel: its
# translation is covered by the Go tests on fixture trees (aufs/, checkpoint/).

load helpers

setup() {
	common_setup
	stasis_only "checkpoint plans and union remounting are stasis's"
	command -v criu >/dev/null || skip "criu not on PATH (run make deps)"
	criu check >/dev/null 2>&1 || skip "criu check fails on this kernel"
	setup_bundle sh -c 'i=0; while :; do echo $i >>/count; echo $i; i=$((i+1)); sleep 0.1; done'
	update_config '.root.readonly = false'
	# The busybox rootfs becomes the lower layer of an overlay mounted
	# at the bundle's rootfs.
	OV=$BATS_TEST_TMPDIR/ov
	mkdir -p "$OV/upper" "$OV/work"
	mv "$ROOTFS" "$OV/lower"
	mkdir "$ROOTFS"
	mount -t overlay overlay -o "lowerdir=$OV/lower,upperdir=$OV/upper,workdir=$OV/work" "$ROOTFS"
	on_teardown "umount -l '$ROOTFS'"
	OUT=$BATS_TEST_TMPDIR/out.log
	: >"$OUT"
}

teardown() {
	common_teardown
}

# start_counter ID: run the counter detached, its stdout appended to $OUT
# (CRIU checks the size of a non-append file at restore).
start_counter() {
	stasis run -d --bundle "$BUNDLE" "$1" </dev/null >>"$OUT" 2>&1
	for _ in $(seq 50); do
		[ "$(wc -l <"$OUT")" -ge 3 ] && return 0
		sleep 0.1
	done
	fail "counter $1 did not start: $(cat "$OUT")"
}

last_count() { tail -n 1 "$OUT"; }

@test "dry-run shows the overlay rootfs, its layers and no blockers" {
	local id
	id=$(new_id)
	start_counter "$id"
	run stasis checkpoint --dry-run "$id"
	assert_success
	assert_output_contains "rootfs: $ROOTFS (overlay)"
	assert_output_contains "$OV/upper (upper)"
	assert_output_contains "$OV/lower (lower)"
	assert_output_contains "blockers: none"
	assert_output_contains "/bin/busybox"
	run stasis checkpoint --dry-run --format json "$id"
	assert_success
	assert_equal "$(jq -r .union.kind <<<"$output")" overlay "union kind"
	assert_equal "$(jq -r .union.upper <<<"$output")" "$OV/upper" "upper dir"
	assert_equal "$(jq -r '.blockers | length' <<<"$output")" 0 "blockers"
	# Nothing was frozen or stopped.
	assert_equal "$(state_field "$id" status)" running "status after dry-run"
}

@test "overlay container restores after its rootfs was unmounted; delete unmounts it again" {
	local id id2 before
	id=$(new_id)
	id2=$(new_id)
	start_counter "$id"
	run stasis checkpoint --image-path "$BATS_TEST_TMPDIR/img" "$id"
	assert_success
	assert_equal "$(jq -r .union.kind "$BATS_TEST_TMPDIR/img/stasis.json")" overlay "recorded union"
	before=$(last_count)
	umount "$ROOTFS"
	! mountpoint -q "$ROOTFS" || fail "rootfs still mounted"

	stasis restore -d --image-path "$BATS_TEST_TMPDIR/img" --bundle "$BUNDLE" "$id2" </dev/null >>"$OUT" 2>&1
	mountpoint -q "$ROOTFS" || fail "stasis did not mount the overlay again"
	wait_for_status "$id2" running
	sleep 0.5
	# The count went on from where it stopped, and the file the process
	# writes in the rootfs kept its lines (in the upper layer).
	local after
	after=$(last_count)
	[ "$after" -gt "$before" ] || fail "count did not continue: $before then $after"
	grep -qx 0 "$OV/upper/count" || fail "the rootfs's /count lost its start"
	grep -qx "$after" "$OV/upper/count" || fail "the restored process does not write to the overlay"

	run stasis delete --force "$id2"
	assert_success
	! mountpoint -q "$ROOTFS" || fail "delete left the overlay stasis mounted"
}

@test "restore into an already mounted rootfs mounts nothing twice and leaves the mount to its owner" {
	local id id2 mounts
	id=$(new_id)
	id2=$(new_id)
	start_counter "$id"
	run stasis checkpoint --image-path "$BATS_TEST_TMPDIR/img" "$id"
	assert_success
	stasis restore -d --image-path "$BATS_TEST_TMPDIR/img" --bundle "$BUNDLE" "$id2" </dev/null >>"$OUT" 2>&1
	mounts=$(awk -v m="$ROOTFS" '$5 == m' /proc/self/mountinfo | wc -l)
	assert_equal "$mounts" 1 "mounts at the rootfs"
	run stasis delete --force "$id2"
	assert_success
	mountpoint -q "$ROOTFS" || fail "delete unmounted a rootfs it did not mount"
}

@test "--no-remount leaves an unmounted rootfs alone and the restore fails clearly" {
	local id id2
	id=$(new_id)
	id2=$(new_id)
	start_counter "$id"
	run stasis checkpoint --image-path "$BATS_TEST_TMPDIR/img" "$id"
	assert_success
	umount "$ROOTFS"
	run stasis restore -d --no-remount --image-path "$BATS_TEST_TMPDIR/img" --bundle "$BUNDLE" "$id2" </dev/null
	assert_failure
	# Only the --no-remount refusal says this; a remount that went ahead
	# (the flag lost) fails, if at all, with another message.
	assert_output_contains "restore $id2: rootfs $ROOTFS is not mounted and --no-remount was given: mount the checkpoint's overlay rootfs there yourself"
	assert_output_contains "$OV/upper (upper)"
	! mountpoint -q "$ROOTFS" || fail "--no-remount mounted the rootfs"
	# Refused before anything was made: no container, nothing created in
	# the (empty) rootfs dir, and CRIU never ran.
	assert_no_container "$id2"
	[ -z "$(ls -A "$ROOTFS")" ] || fail "restore wrote into the unmounted rootfs: $(ls -A "$ROOTFS" | tr '\n' ' ')"
	[ ! -e "$BATS_TEST_TMPDIR/img/restore.log" ] || fail "CRIU ran: $(head -c 300 "$BATS_TEST_TMPDIR/img/restore.log")"
}

@test "restore refuses clearly when the recorded layers are gone" {
	local id id2
	id=$(new_id)
	id2=$(new_id)
	start_counter "$id"
	run stasis checkpoint --image-path "$BATS_TEST_TMPDIR/img" "$id"
	assert_success
	umount "$ROOTFS"
	mv "$OV/lower" "$OV/lower.moved"
	run stasis restore -d --image-path "$BATS_TEST_TMPDIR/img" --bundle "$BUNDLE" "$id2" </dev/null
	assert_failure
	assert_output_contains "is not mounted"
	assert_output_contains "$OV/lower"
	assert_no_container "$id2"
}

@test "a file deleted from the rootfs while mapped blocks the checkpoint until --link-remap" {
	local id
	id=$(new_id)
	# Map a copy of busybox (named sh: busybox picks its applet from
	# argv[0]), then delete it from the rootfs.
	set_args sh -c 'mkdir -p /tmp/x; cp /bin/busybox /tmp/x/sh; /tmp/x/sh -c "rm /tmp/x/sh; echo ready; sleep 1000"'
	stasis run -d --bundle "$BUNDLE" "$id" </dev/null >>"$OUT" 2>&1
	for _ in $(seq 50); do grep -q ready "$OUT" && break; sleep 0.1; done
	run stasis checkpoint --dry-run "$id"
	assert_success
	assert_output_contains "/tmp/x/sh"
	assert_output_contains "--link-remap"
	run stasis checkpoint --image-path "$BATS_TEST_TMPDIR/img" "$id"
	assert_failure
	assert_output_contains "cannot checkpoint"
	assert_output_contains "--link-remap"
	# Refused before CRIU ran: the container is untouched.
	assert_equal "$(state_field "$id" status)" running "status"
	run stasis checkpoint --dry-run --link-remap "$id"
	assert_output_contains "blockers: none"
}
