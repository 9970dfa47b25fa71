#!/usr/bin/env bats
# stasis killed with SIGKILL at each step of create, checkpoint and restore
# (issue 13, 5) leaves nothing `delete --force` cannot clean: after the kill,
# delete --force succeeds, and then no process of the container (its args
# carry the id as a marker; anything holding this test's files counts too),
# no cgroup dir named after the id in any hierarchy (v1 and unified), no
# mount mentioning the id, the state root or the bundle, no state dir is
# left, and a new container with the same id is created and started. A
# checkpoint killed while the container is frozen leaves it running, not
# frozen: the next command on it (here `state`) thaws it. A state.json that
# does not decode stops neither list nor state, and delete --force removes it.
#
# Points: create.after-state-dir, .after-cgroup, .after-init-spawn (the
# init exists, waiting for its config), .during-mounts (the init has built
# its mount tree, before pivot_root, and waits for the parent's hooks;
# also without a mount namespace, where the mounts are the host's),
# .after-hooks, .before-state-saved (the init ready and waiting on its
# fifo; also without a mount namespace); checkpoint.before-criu (stasis
# has frozen the cgroup), .criu-frozen (CRIU's post-dump notification:
# images written, tasks frozen and seized), .after-images; restore.
# before-criu, .after-criu (tasks restored, state.json not yet final).
#
# The kills are deterministic: build/stasis-faults (make faults, the
# stasis_faults build tag) SIGKILLs itself at the internal/faults.Point
# named by $STASIS_FAULT. Only the killed command runs that binary; every
# other command is the normal build, as after a real crash.

load helpers
load crpipes

FAULTY=${STASIS_FAULTS:-$REPO_ROOT/build/stasis-faults}

setup() {
	common_setup
	stasis_only "fault points are stasis's own"
	[ -x "$FAULTY" ] || skip "build/stasis-faults not built (make faults)"
}

teardown() {
	common_teardown
}

# ---------------------------------------------------------------- helpers

# killed_at POINT ID ARGS...: run the fault build's `ARGS` with
# STASIS_FAULT=POINT (stdio in ID.out / ID.err, stdin /dev/null; stdout
# to fd $KILLED_STDOUT instead when set); it must die of SIGKILL there.
killed_at() {
	local point=$1 id=$2 rc=0
	shift 2
	local out=$BATS_TEST_TMPDIR/$id.out err=$BATS_TEST_TMPDIR/$id.err
	if [ -n "${KILLED_STDOUT:-}" ]; then
		STASIS_FAULT=$point "$FAULTY" --root "$STASIS_ROOT" "$@" </dev/null >&"$KILLED_STDOUT" 2>"$err" 3>&- || rc=$?
	else
		STASIS_FAULT=$point "$FAULTY" --root "$STASIS_ROOT" "$@" </dev/null >"$out" 2>"$err" 3>&- || rc=$?
	fi
	[ "$rc" -eq 137 ] || fail "$point: '$*' exited $rc, not killed by SIGKILL (137); stderr: $(cat "$err")"
	grep -qF "stasis-faults: killed at $point" "$err" || fail "$point: the kill did not come from that point; stderr: $(cat "$err")"
}

# marker_procs ID: processes whose args mention ID (the container's
# process carries it), but not this shell's own.
marker_procs() {
	local p
	for p in $(pgrep -f -- "$1" || true); do
		[ "$p" = "$BASHPID" ] || [ "$p" = "$$" ] || echo "$p:$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"
	done
}

# frozen_cgroups ID: each cgroup dir named ID that is frozen (v1
# freezer.state not THAWED, or v2 cgroup.freeze 1).
frozen_cgroups() {
	local d
	for d in $(find /sys/fs/cgroup -maxdepth 5 -type d -name "$1" 2>/dev/null); do
		if [ -f "$d/freezer.state" ] && [ "$(cat "$d/freezer.state")" != THAWED ]; then
			echo "$d/freezer.state=$(cat "$d/freezer.state")"
		fi
		if [ -f "$d/cgroup.freeze" ] && [ "$(cat "$d/cgroup.freeze")" != 0 ]; then
			echo "$d/cgroup.freeze=1"
		fi
	done
}

# assert_recovers POINT ID: delete --force ID succeeds and leaves nothing
# of it; a new container ID is then created and started.
assert_recovers() {
	local point=$1 id=$2 left
	run stasis delete --force "$id"
	[ "$status" -eq 0 ] || fail "$point: delete --force after the kill failed ($status): $output"
	left=$(marker_procs "$id")
	[ -z "$left" ] || fail "$point: container processes left after delete --force: $left"
	left=$(wait_no_procs_using "$BATS_TEST_TMPDIR" 3) || fail "$point: processes still holding the test's files after delete --force: $left"
	left=$(find /sys/fs/cgroup -maxdepth 5 -type d -name "$id" 2>/dev/null || true)
	[ -z "$left" ] || fail "$point: cgroup dirs left after delete --force: $left"
	left=$(grep -F -e "$id" -e "$STASIS_ROOT" -e "$BUNDLE" /proc/self/mountinfo || true)
	[ -z "$left" ] || fail "$point: mounts left after delete --force: $left"
	[ ! -e "$STASIS_ROOT/$id" ] || fail "$point: state dir left after delete --force: $(ls -A "$STASIS_ROOT/$id")"
	run stasis list -q
	[ "$status" -eq 0 ] || fail "$point: list after delete --force failed: $output"
	[[ "$output" != *"$id"* ]] || fail "$point: $id still listed after delete --force"

	set_args sh -c "sleep 1000; : $id"
	run create_container "$id"
	[ "$status" -eq 0 ] || fail "$point: a new create of $id after the kill failed: $output"
	run stasis start "$id"
	[ "$status" -eq 0 ] || fail "$point: start of the new $id failed: $output"
	wait_for_status "$id" running || fail "$point: the new $id is not running"
	stasis delete --force "$id"
}

# create_bundle ID [NO_MOUNTNS]: a bundle whose process carries ID in its
# args, with a prestart and a createRuntime hook (the points during the
# mounts and after the hooks are in the parent's hook step); with
# NO_MOUNTNS, no mount namespace (the init mounts in the host's).
create_bundle() {
	setup_bundle sh -c "sleep 1000; : $1"
	update_config '.hooks = {"prestart": [{"path": "/bin/true"}], "createRuntime": [{"path": "/bin/true"}]}'
	if [ -n "${2:-}" ]; then
		# Mounts a kill left on the host would otherwise be under the temp
		# dir bats removes.
		on_teardown "umount -R -l '$ROOTFS'"
		update_config '.linux.namespaces = [.linux.namespaces[] | select(.type != "mount")] | .linux.maskedPaths = [] | .linux.readonlyPaths = []'
	fi
}

# check_create_kill POINT [NO_MOUNTNS]: create killed at POINT, then recovery.
check_create_kill() {
	local id
	id=$(new_id)
	create_bundle "$id" "${2:-}"
	killed_at "$1" "$id" create --bundle "$BUNDLE" "$id"
	# list and state must cope with what the kill left.
	run stasis list
	[ "$status" -eq 0 ] || fail "$1: list after the kill failed: $output"
	assert_recovers "$1" "$id"
}

# start_reader, run_piped, lines_of, wait_lines: crpipes.bash

# run_counter ID: `run -d` a counter carrying ID in its args, its output
# into reader ID; returns once it counts.
run_counter() {
	local id=$1
	setup_bundle sh -c "i=0; while :; do echo \$i; i=\$((i+1)); sleep 0.1; done; : $id"
	run_piped "$id" >/dev/null || fail "run -d $id failed: $(cat "$BATS_TEST_TMPDIR/$id.err")"
	wait_lines "$id" 2
}

# check_checkpoint_kill POINT: checkpoint killed at POINT. The container
# must be left unfrozen (running, or stopped when CRIU had killed it),
# and a running one must go on counting.
check_checkpoint_kill() {
	local point=$1 id st
	id=$(new_id)
	run_counter "$id"
	killed_at "$point" "$id" checkpoint --image-path "$BATS_TEST_TMPDIR/img" "$id"
	run stasis state "$id"
	[ "$status" -eq 0 ] || fail "$point: state after the kill failed: $output"
	st=$(jq -r .status <<<"$output")
	[ "$st" != paused ] || fail "$point: the container is left paused (frozen by the killed checkpoint)"
	local frozen
	frozen=$(frozen_cgroups "$id")
	[ -z "$frozen" ] || fail "$point: frozen cgroups left after the next command: $frozen"
	if [ "$st" = running ]; then
		local n
		n=$(lines_of "$id")
		wait_lines "$id" $((n + 2)) || fail "$point: the container is running but does not count on"
	fi
	assert_recovers "$point" "$id"
}

# check_restore_kill POINT: restore of a good checkpoint killed at POINT.
check_restore_kill() {
	local point=$1 id
	id=$(new_id)
	run_counter "$id"
	stasis checkpoint --image-path "$BATS_TEST_TMPDIR/img" "$id"
	start_reader "$id-restored"
	KILLED_STDOUT=$READER_FD killed_at "$point" "$id" restore -d --image-path "$BATS_TEST_TMPDIR/img" --bundle "$BUNDLE" "$id"
	exec {READER_FD}>&-
	run stasis list
	[ "$status" -eq 0 ] || fail "$point: list after the kill failed: $output"
	assert_recovers "$point" "$id"
}

# ---------------------------------------------------------------- create

@test "create killed after its state dir: delete --force cleans up, the id is free again" {
	check_create_kill create.after-state-dir
}

@test "create killed after the cgroup is made: delete --force removes the cgroup" {
	check_create_kill create.after-cgroup
}

@test "create killed once the init exists: delete --force cleans up" {
	check_create_kill create.after-init-spawn
}

@test "create killed while the init is mid-mounts: delete --force cleans up" {
	check_create_kill create.during-mounts
}

@test "create killed mid-mounts without a mount namespace: no host mount is left" {
	check_create_kill create.during-mounts no-mountns
}

@test "create killed after the hooks ran: delete --force cleans up" {
	check_create_kill create.after-hooks
}

@test "create killed with the init ready, before state.json is saved: delete --force kills the init" {
	check_create_kill create.before-state-saved
}

@test "create killed before state.json without a mount namespace: delete --force kills the init, unmounts" {
	check_create_kill create.before-state-saved no-mountns
}

# ---------------------------------------------------------------- checkpoint

@test "checkpoint killed before CRIU, the container frozen: the next command thaws it" {
	command -v criu >/dev/null || skip "criu not on PATH (make deps)"
	check_checkpoint_kill checkpoint.before-criu
}

@test "checkpoint killed while CRIU holds the container frozen: it runs on, thawed" {
	command -v criu >/dev/null || skip "criu not on PATH (make deps)"
	check_checkpoint_kill checkpoint.criu-frozen
}

@test "checkpoint killed after the images are written: nothing stays frozen" {
	command -v criu >/dev/null || skip "criu not on PATH (make deps)"
	check_checkpoint_kill checkpoint.after-images
}

# ---------------------------------------------------------------- restore

@test "restore killed before CRIU: delete --force removes its cgroup and state" {
	command -v criu >/dev/null || skip "criu not on PATH (make deps)"
	check_restore_kill restore.before-criu
}

@test "restore killed after CRIU restored the tasks, before state.json: delete --force kills them" {
	command -v criu >/dev/null || skip "criu not on PATH (make deps)"
	check_restore_kill restore.after-criu
}

# ---------------------------------------------------------------- state

@test "a state.json that does not decode: list and state go on, delete --force removes it" {
	local id good
	id=$(new_id)
	good=$(new_id)
	setup_bundle sleep 1000
	create_container "$good"
	mkdir "$STASIS_ROOT/$id"
	printf '{"id": "%s", "pid": ' "$id" >"$STASIS_ROOT/$id/state.json"
	run stasis list
	assert_success "list with a damaged state.json"
	assert_output_contains "$good"
	assert_output_contains "$id"
	run stasis state "$id"
	assert_success "state of a damaged state.json"
	assert_output_contains "damaged state"
	assert_equal "$(stasis state "$id" 2>/dev/null | jq -r .status)" creating "status of a damaged state.json"
	run stasis delete --force "$id"
	assert_success "delete --force of a damaged state.json"
	[ ! -e "$STASIS_ROOT/$id" ] || fail "state dir left"
}
