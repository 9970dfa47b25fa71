#!/usr/bin/env bats
# checkpoint / restore of containers whose processes are not root (issue 14):
#
# - without a user namespace, on a host that does not give stasis (and so
#   CRIU) CAP_SYS_RESOURCE, CRIU cannot read a non-root process's rlimits:
#   checkpoint and checkpoint --dry-run (text and JSON) name the process
#   (pid, uid, command) and the way out, and nothing is frozen or written.

load helpers

PG_BIN=/usr/lib/postgresql/15/bin

setup() {
	common_setup
	command -v criu >/dev/null || skip "criu not on PATH (run make deps; put /usr/local/sbin first)"
	IMG=$BATS_TEST_TMPDIR/img
}

teardown() {
	common_teardown
}

# ---------------------------------------------------------------- helpers

# start_reader NAME: a pipe whose reader (a background cat) appends all to
# $BATS_TEST_TMPDIR/NAME.log; its write end is fd $READER_FD of this shell.
start_reader() {
	local t=$BATS_TEST_TMPDIR
	: >"$t/$1.log"
	exec {READER_FD}> >(exec cat >>"$t/$1.log" 2>/dev/null 3>&-)
	echo $! >"$t/$1.rpid"
	on_teardown "kill $(cat "$t/$1.rpid")"
}

# run_piped ID: `run -d` $BUNDLE as ID, stdout and stderr into the reader ID.
run_piped() {
	local rc=0
	start_reader "$1"
	"$STASIS" --root "$STASIS_ROOT" run -d --bundle "$BUNDLE" "$1" \
		</dev/null >&"$READER_FD" 2>&"$READER_FD" 3>&- || rc=$?
	exec {READER_FD}>&-
	return $rc
}

# restore_piped ID BUNDLE: `restore -d` from $IMG as ID, output as run_piped's;
# prints the runtime's error on failure.
restore_piped() {
	local rc=0 err=$BATS_TEST_TMPDIR/$1.err
	start_reader "$1"
	"$STASIS" --root "$STASIS_ROOT" restore -d --image-path "$IMG" --bundle "$2" "$1" \
		</dev/null >&"$READER_FD" 2>"$err" 3>&- || rc=$?
	exec {READER_FD}>&-
	[ $rc -eq 0 ] || cat "$err"
	return $rc
}

log_of() { cat "$BATS_TEST_TMPDIR/$1.log"; }
last_of() { tail -n 1 "$BATS_TEST_TMPDIR/$1.log"; }

# wait_log_match NAME REGEX [TIMEOUT=10]: until a line of NAME's log matches.
wait_log_match() {
	local i
	for ((i = 0; i < ${3:-10} * 20; i++)); do
		grep -Eq "$2" "$BATS_TEST_TMPDIR/$1.log" && return 0
		sleep 0.05
	done
	fail "$1's log has no line matching /$2/: $(tail -n 5 "$BATS_TEST_TMPDIR/$1.log" | tr '\n' ' ')"
}

# wait_count_above NAME N [TIMEOUT=10]: until the last number NAME logged is > N.
wait_count_above() {
	local i l
	for ((i = 0; i < ${3:-10} * 20; i++)); do
		l=$(last_of "$1")
		[[ "$l" =~ ^[0-9]+$ ]] && [ "$l" -gt "$2" ] && return 0
		sleep 0.05
	done
	fail "$1's count stayed at '$(last_of "$1")', want > $2"
}

# wait_reader_done NAME: every writer of NAME's pipe is gone.
wait_reader_done() {
	wait_pid_gone "$(cat "$BATS_TEST_TMPDIR/$1.rpid")" 10 || fail "the processes writing to $1's pipe are still alive"
}

# counter_bundle: a busybox bundle counting to stdout as uid 1000.
counter_bundle() {
	setup_bundle sh -c 'i=0; while :; do echo $i; i=$((i+1)); sleep 0.05; done'
	update_config '.process.user = {"uid": 1000, "gid": 1000}'
}

# with_userns: give $BUNDLE a user namespace (container root = host 100000).
with_userns() {
	update_config '.linux.namespaces += [{"type": "user"}]'
	userns_bundle
}

# copy_bundle: copy $BUNDLE to $BATS_TEST_TMPDIR/bundle2 (owners and modes
# kept, so the mapped root still reaches it) and print its path.
copy_bundle() {
	local new=$BATS_TEST_TMPDIR/bundle2
	cp -a "$BUNDLE" "$new"
	echo "$new"
}

# lacks_sys_resource: stasis (and so CRIU) runs without CAP_SYS_RESOURCE.
lacks_sys_resource() {
	local f v
	for f in CapEff CapBnd; do
		v=$(awk -v f="$f:" '$1 == f {print $2}' /proc/self/status)
		(((0x$v >> 24) & 1)) || return 0
	done
	return 1
}

# freezer_state ID: the v1 freezer state of ID's init ("" without one).
freezer_state() {
	local path
	path=$(awk -F: '$2 ~ /(^|,)freezer(,|$)/ {print $3}' "/proc/$(container_pid "$1")/cgroup")
	[ -n "$path" ] && [ -e "/sys/fs/cgroup/freezer$path/freezer.state" ] || return 0
	cat "/sys/fs/cgroup/freezer$path/freezer.state"
}

# assert_images_private: the image dir is still root's alone and holds
# nothing of the restore's private copy.
assert_images_private() {
	assert_equal "$(stat -c '%U %a' "$IMG")" "root 700" "image dir owner and mode"
	local left
	left=$(find "$IMG" -maxdepth 1 -name '.stasis-userns-*')
	[ -z "$left" ] || fail "left in the image dir: $left"
}

# ---------------------------------------------------------------- tests

@test "a non-root process without a user namespace: checkpoint refused before freezing, naming it, when CRIU lacks CAP_SYS_RESOURCE" {
	stasis_only "stasis's pre-freeze check"
	lacks_sys_resource || skip "stasis holds CAP_SYS_RESOURCE here: CRIU can read every rlimit, there is nothing to refuse"
	counter_bundle
	local id pid
	id=$(new_id)
	run_piped "$id"
	wait_count_above "$id" 2
	pid=$(container_pid "$id")
	local want="pid $pid (uid 1000, gid 1000: sh -c i=0;"

	run stasis checkpoint --dry-run "$id"
	assert_success
	assert_output_contains "$want"
	assert_output_contains "CAP_SYS_RESOURCE"
	assert_output_contains "run the container in a user namespace"
	run stasis checkpoint --dry-run --format json "$id"
	assert_success
	jq -e --arg w "$want" '[.blockers[] | select(startswith($w) and contains("user namespace"))] | length == 1' <<<"$output" >/dev/null ||
		fail "no such blocker in: $output"

	run stasis checkpoint --image-path "$IMG" "$id"
	assert_failure
	assert_output_contains "cannot checkpoint: $want"
	assert_output_contains "run the container in a user namespace"
	assert_output_not_contains "criu dump failed"
	# nothing was frozen, dumped or recorded, and the container goes on
	assert_equal "$(state_field "$id" status)" running status
	[ "$(freezer_state "$id")" != FROZEN ] || fail "the container was left frozen"
	[ ! -e "$IMG/inventory.img" ] && [ ! -e "$IMG/stasis.json" ] || fail "images written: $(ls "$IMG")"
	local at
	at=$(last_of "$id")
	wait_count_above "$id" "$at"
}
