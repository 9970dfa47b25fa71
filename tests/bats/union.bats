#!/usr/bin/env bats
# Union rootfs in checkpoint/restore, on a real overlay rootfs (layers made
# by the test). AUFS is not in this kernel: its translation is covered by
# the Go tests on fixture trees (aufs/, checkpoint/). This file proves:
#  - checkpoint --dry-run (text and json) names the overlay, its upper and
#    lower layers and no blockers, and freezes nothing;
#  - a container checkpointed with no extra flags restores after its rootfs
#    was unmounted: stasis mounts the recorded layers again, the process
#    goes on counting from where it stopped (not from 0) and writing to
#    the overlay, and delete unmounts what stasis mounted;
#  - restore into a rootfs that is already mounted mounts nothing over it,
#    and delete leaves that mount to its owner;
#  - restore --no-remount of an unmounted rootfs fails before CRIU with a
#    message of its own, mounting and leaving nothing;
#  - restore of an unmounted rootfs whose recorded layers are gone fails,
#    naming the missing layer, and leaves nothing;
#  - a mapped file whose name was deleted (another name left) is linked
#    back by the plan itself (the dry-run says so): it checkpoints and
#    restores, the process going on with the same file mapped.

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

# wait_count_past N: wait until the counter has written a number past N.
wait_count_past() {
	for _ in $(seq 50); do
		[ "$(last_count)" -gt "$1" ] 2>/dev/null && return 0
		sleep 0.1
	done
	fail "the count did not go past $1: $(tail -n 3 "$OUT" | tr '\n' ' ')"
}

# assert_count_went_on N: the count stopped at N by the checkpoint went on
# in the restored process: the number after N is N+1, and the count
# started at 0 only once (a process restarted from 0 also passes N).
assert_count_went_on() {
	local next
	next=$(awk -v n="$1" 'found { print; exit } $0 == n { found = 1 }' "$OUT")
	assert_equal "$next" "$(($1 + 1))" "the first count after the checkpoint's $1"
	assert_equal "$(grep -cx 0 "$OUT")" 1 "times the count started at 0"
}

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
	wait_count_past "$before"
	# The count went on from where it stopped (not again from 0), and the
	# file the process writes in the rootfs kept its lines (in the upper
	# layer) and gets the new ones.
	assert_count_went_on "$before"
	grep -qx 0 "$OV/upper/count" || fail "the rootfs's /count lost its start"
	grep -qx "$((before + 1))" "$OV/upper/count" || fail "the restored process does not write to the overlay"

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

@test "a mapped file whose name was deleted from the rootfs (another name left) is linked back with no flag, and restored" {
	local id id2 pid before
	id=$(new_id)
	id2=$(new_id)
	# The counter runs in a copy of busybox (named sh: busybox picks its
	# applet from argv[0]) that deletes its own name; the file lives on
	# under a second name, /tmp/x/keep, so CRIU must link it back (link
	# remap) rather than carry its contents (a ghost file: only for files
	# with no name left). The plan turns link remap on by itself.
	set_args sh -c 'mkdir -p /tmp/x; cp /bin/busybox /tmp/x/sh; ln /tmp/x/sh /tmp/x/keep; exec /tmp/x/sh -c "rm /tmp/x/sh; i=0; while :; do echo \$i; i=\$((i+1)); sleep 0.1; done"'
	start_counter "$id"
	pid=$(container_pid "$id")
	grep -q '/tmp/x/sh (deleted)$' "/proc/$pid/maps" || fail "the counter does not map the deleted /tmp/x/sh: $(cat "/proc/$pid/maps")"
	run stasis checkpoint --dry-run "$id"
	assert_success
	assert_output_contains "turned on: deleted file /tmp/x/sh"
	assert_output_contains "linked back under a new name (link remap)"
	assert_output_contains "blockers: none"
	# the explicit flag still works, and asks for nothing more
	run stasis checkpoint --dry-run --link-remap "$id"
	assert_success
	assert_output_contains "blockers: none"

	# The checkpoint is made with no flag, and the restored counter goes
	# on, mapping the same (nameless) file.
	run stasis checkpoint --image-path "$BATS_TEST_TMPDIR/img" "$id"
	assert_success
	before=$(last_count)
	stasis restore -d --image-path "$BATS_TEST_TMPDIR/img" --bundle "$BUNDLE" "$id2" </dev/null >>"$OUT" 2>&1
	wait_for_status "$id2" running
	wait_count_past "$before"
	assert_count_went_on "$before"
	pid=$(container_pid "$id2")
	grep -q '/tmp/x/sh (deleted)$' "/proc/$pid/maps" || fail "the restored counter does not map the deleted /tmp/x/sh: $(cat "/proc/$pid/maps")"
	assert_equal "$(stat -L -c %i "/proc/$pid/exe")" "$(stat -c %i "$ROOTFS/tmp/x/keep")" "inode of the restored counter's program (that of /tmp/x/keep)"
	cmp "/proc/$pid/exe" "$OV/lower/bin/busybox" || fail "the restored counter's program is not the busybox it was"
	[ ! -e "$ROOTFS/tmp/x/sh" ] || fail "restore left the deleted /tmp/x/sh in the rootfs"
	# The link CRIU made at the dump (tmp/x/link_remap.N) is gone again.
	assert_equal "$(ls -A "$ROOTFS/tmp/x")" keep "files left in /tmp/x"
}
