#!/usr/bin/env bats
# Concurrency (issue 13 section 6): many stasis processes at once, on many
# containers and on one, never corrupt a state, leak anything or hang, and
# a command that loses a race fails with a clear error that names the
# container and what was wrong.
#
#   - 50 containers created, started, exec'd into, killed and deleted in
#     parallel: every step succeeds; every state.json, `state` and
#     `list --format json` read meanwhile is valid JSON; nothing is left
#     (listed container, state dir, cgroup, process).
#   - two creates of one id: one wins, the other says "already exists" and
#     leaves the winner intact.
#   - create racing delete of the same id: delete either finds nothing
#     ("does not exist") or removes the whole container, never only its
#     state dir (which would leak its init and cgroup).
#   - start racing delete: one of them wins, the other says why (running,
#     does not exist); the container is then gone entirely or still usable.
#   - delete --force racing exec: the exec'd process dies with the
#     container or exec says "does not exist"; nothing is left.
#   - state and list polled while delete --force runs: valid JSON or
#     "does not exist", never a torn or half-deleted state.
#   - two checkpoints of one container at once: one dumps it, the other
#     says "does not exist"; the image restores (needs CRIU).
#   - kill racing restore of the id: kill says "does not exist" or kills
#     the restored container, never a half-restored one (needs CRIU).
#
# The racing commands run as background jobs (output and exit status in
# files, fd 3 closed so bats does not wait on them); wait_bg fails the test,
# naming the commands, if one has not finished after a generous bound.

load helpers

setup() {
	common_setup
	T=$BATS_TEST_TMPDIR
	BG_NAMES=()
	BG_PIDS=()
}

teardown() {
	common_teardown
}

# ---------------------------------------------------------------- helpers

# bg NAME ARGS...: `stasis ARGS` in the background, stdin from /dev/null,
# its output in $T/NAME.out and, once it is done, its exit status in
# $T/NAME.rc. A created container inherits NAME.out as its stdio.
bg() {
	local name=$1
	shift
	rm -f "$T/$name.rc"
	(
		rc=0
		"$STASIS" --root "$STASIS_ROOT" "$@" </dev/null || rc=$?
		echo "$rc" >"$T/$name.rc"
	) >"$T/$name.out" 2>&1 3>&- &
	BG_PIDS+=($!)
	BG_NAMES+=("$name")
}

# bg_fn NAME COMMAND ARGS...: like bg, for a shell function of this file
# (or any command).
bg_fn() {
	local name=$1
	shift
	rm -f "$T/$name.rc"
	(
		rc=0
		"$@" </dev/null || rc=$?
		echo "$rc" >"$T/$name.rc"
	) >"$T/$name.out" 2>&1 3>&- &
	BG_PIDS+=($!)
	BG_NAMES+=("$name")
}

# wait_bg [BOUND_SECONDS=60]: wait until every bg job is done; fail naming
# those still running at the bound (a hang), after killing them.
wait_bg() {
	local i n left
	for ((i = 0; i < ${1:-60} * 20; i++)); do
		left=""
		for n in "${BG_NAMES[@]}"; do
			[ -e "$T/$n.rc" ] || left+="$n "
		done
		[ -z "$left" ] && break
		sleep 0.05
	done
	if [ -n "$left" ]; then
		kill -9 "${BG_PIDS[@]}" 2>/dev/null || true
		fail "still running after ${1:-60}s (hung): $left"
	fi
	wait "${BG_PIDS[@]}" 2>/dev/null || true
	BG_NAMES=()
	BG_PIDS=()
}

rc_of() { cat "$T/$1.rc"; }
out_of() { cat "$T/$1.out"; }

# assert_ok_or NAME REGEX: bg job NAME succeeded, or failed with an error
# matching REGEX (extended, against its whole output).
assert_ok_or() {
	local rc out
	rc=$(rc_of "$1")
	out=$(out_of "$1")
	[ "$rc" -eq 0 ] && return 0
	[[ "$out" =~ $2 ]] || fail "$1 failed (exit $rc) without a clear error (want /$2/): $out"
}

# assert_gone ID PID: container ID is gone entirely, its init PID too.
assert_gone() {
	assert_no_container "$1"
	[ -z "${2:-}" ] || [ "$2" -eq 0 ] || wait_pid_gone "$2" || fail "$1: init $2 alive after its delete"
}

# lifecycle_job ID: create, start, exec true, kill KILL, wait for stopped,
# delete; one line "STEP RC" per step (stops at the first failure), plus
# the failing step's output.
lifecycle_job() {
	local id=$1 step out rc i st
	for step in create start exec kill wait delete; do
		rc=0
		case $step in
		create)
			# the container inherits create's stdio: files, never this $(...)'s pipe
			"$STASIS" --root "$STASIS_ROOT" create --bundle "$BUNDLE" "$id" >"$T/$id.ctr" 2>&1 || rc=$?
			out=$(cat "$T/$id.ctr")
			;;
		start) out=$(stasis start "$id" 2>&1) || rc=$? ;;
		exec) out=$(stasis exec "$id" true 2>&1) || rc=$? ;;
		kill) out=$(stasis kill "$id" KILL 2>&1) || rc=$? ;;
		wait)
			rc=1
			for ((i = 0; i < 400; i++)); do
				st=$(stasis state "$id" 2>&1) || break
				out=$st
				[ "$(jq -r .status <<<"$st")" = stopped ] && rc=0 && break
				sleep 0.05
			done
			;;
		delete) out=$(stasis delete "$id" 2>&1) || rc=$? ;;
		esac
		echo "$step $rc"
		if [ "$rc" -ne 0 ]; then
			echo "$out"
			return 1
		fi
	done
}

# poll_states STOPFILE: until STOPFILE exists, `list --format json` and
# `state` of each listed id; append to $T/poll.bad whatever is not valid
# JSON with a status a whole container can have (or fails otherwise than
# "does not exist"), and count the reads in $T/poll.count.
poll_states() {
	local id out n=0
	: >"$T/poll.bad"
	while [ ! -e "$1" ]; do
		if out=$(stasis list --format json 2>&1); then
			n=$((n + 1))
			jq -e 'type == "array"' >/dev/null 2>&1 <<<"$out" || echo "list: $out" >>"$T/poll.bad"
		else
			echo "list failed: $out" >>"$T/poll.bad"
		fi
		for id in $(jq -r '.[].id' <<<"$out" 2>/dev/null); do
			if out=$(stasis state "$id" 2>&1); then
				n=$((n + 1))
				# never "creating": no create is abandoned here, and one under
				# way is not seen before its state is whole
				jq -e --arg id "$id" '.id == $id and (.status | IN("created", "running", "paused", "stopped"))' >/dev/null 2>&1 <<<"$out" ||
					echo "state $id: $out" >>"$T/poll.bad"
			elif [[ "$out" != *"state $id: container does not exist"* ]]; then
				echo "state $id failed: $out" >>"$T/poll.bad"
			fi
		done
	done
	echo "$n" >"$T/poll.count"
}

# read_state_files STOPFILE: until STOPFILE exists, read every state.json
# under the root as fast as the shell can (no fork per read), to see any
# torn write; a read that is not one whole JSON object ({...}) goes to
# $T/files.bad, one read of each file to $T/files.seen (checked with jq
# after), the number of reads to $T/files.count.
read_state_files() {
	local f fd data n=0
	: >"$T/files.bad"
	: >"$T/files.seen"
	declare -A seen=()
	while [ ! -e "$1" ]; do
		for f in "$STASIS_ROOT"/*/state.json; do
			# gone (deleted) since the glob: skip it (a failed $(<f) would
			# end this shell under bats)
			exec {fd}<"$f" 2>/dev/null || continue
			data=
			IFS= read -r -d '' -u "$fd" data || true
			exec {fd}<&-
			n=$((n + 1))
			if [[ "$data" != "{"*"}" ]]; then
				printf '%s: %s\n' "$f" "$data" >>"$T/files.bad"
			elif [ -z "${seen[$f]:-}" ]; then
				seen[$f]=1
				printf '%s\n' "$data" >>"$T/files.seen"
			fi
		done
	done
	echo "$n" >"$T/files.count"
}

# cgroups_named GLOB: every cgroup directory, in any hierarchy, whose name
# matches GLOB (an id, or "${ID_PREFIX}c*" for every id of this test).
cgroups_named() {
	find /sys/fs/cgroup/*/ /sys/fs/cgroup/unified -maxdepth 4 -type d -name "$1" 2>/dev/null || true
}

# until_done RCFILE ARGS...: `stasis ARGS` again and again until it
# succeeds or RCFILE (the racing command's) exists; prints "ok" for the
# success and each failed attempt's message.
until_done() {
	local rcfile=$1 out
	shift
	while :; do
		if out=$(stasis "$@" 2>&1); then
			echo ok
			return 0
		fi
		echo "$out"
		[ ! -e "$rcfile" ] || return 0
	done
}

# assert_attempts NAME MESSAGE: every line of until_done job NAME's output
# is "ok" or MESSAGE.
assert_attempts() {
	output=$(grep -v -x -F -e ok -e "$2" "$T/$1.out" || true)
	[ -z "$output" ] || fail "$1: attempts failed otherwise than '$2': $(head -c 2000 <<<"$output")"
}

# ---------------------------------------------------------------- tests

@test "50 containers created, started, exec'd into, killed and deleted in parallel: every step succeeds, every state read is valid JSON, nothing is left" {
	setup_bundle sleep 300
	export T
	local n=50 i id ids=()
	for ((i = 0; i < n; i++)); do
		ids+=("$(new_id)")
	done
	bg_fn poll poll_states "$T/poll.stop"
	# a bash of its own: without bats's per-command traps it reads some 20
	# times as often
	bg_fn files bash -c "$(declare -f read_state_files); read_state_files \"\$1\"" _ "$T/poll.stop"
	for id in "${ids[@]}"; do
		bg_fn "job-$id" lifecycle_job "$id"
	done
	# the pollers run until every lifecycle is done
	local names=("${BG_NAMES[@]:2}") left
	for ((i = 0; i < 120 * 20; i++)); do
		left=""
		for id in "${names[@]}"; do [ -e "$T/$id.rc" ] || left+="$id "; done
		[ -z "$left" ] && break
		sleep 0.05
	done
	touch "$T/poll.stop"
	wait_bg 120
	[ -z "$left" ] || fail "lifecycles still running (hung): $left"

	local bad=""
	for id in "${ids[@]}"; do
		if [ "$(rc_of "job-$id")" -ne 0 ] ||
			[ "$(out_of "job-$id" | tr '\n' ' ')" != "create 0 start 0 exec 0 kill 0 wait 0 delete 0 " ]; then
			bad+=$'\n'"$id: $(out_of "job-$id" | tr '\n' ' ')"
		fi
	done
	[ -z "$bad" ] || fail "failed lifecycles:$bad"
	[ "$(cat "$T/poll.count")" -gt 0 ] || fail "the poller read no state"
	[ ! -s "$T/poll.bad" ] || fail "bad reads during the run: $(head -c 2000 "$T/poll.bad")"
	[ "$(cat "$T/files.count")" -gt 0 ] || fail "no state.json was read"
	[ ! -s "$T/files.bad" ] || fail "torn state.json read: $(head -c 2000 "$T/files.bad")"
	jq -e -s 'length > 0 and all(.id | type == "string")' "$T/files.seen" >/dev/null ||
		fail "a state.json read is not valid JSON: $(head -c 2000 "$T/files.seen")"

	run stasis list -q
	assert_success
	assert_output_equals ""
	[ -z "$(ls -A "$STASIS_ROOT")" ] || fail "state dirs left: $(ls -A "$STASIS_ROOT")"
	local left_cg
	left_cg=$(cgroups_named "${ID_PREFIX}c*")
	[ -z "$left_cg" ] || fail "cgroups left: $left_cg"
	assert_no_process_left
}

@test "two creates of one id: one wins, the other says 'already exists' and leaves the winner intact" {
	setup_bundle sleep 300
	local round id winner loser pid
	for round in 1 2 3 4 5 6 7 8; do
		id=$(new_id)
		bg c1 create --bundle "$BUNDLE" "$id"
		bg c2 create --bundle "$BUNDLE" "$id"
		wait_bg
		if [ "$(rc_of c1)" -eq 0 ]; then winner=c1 loser=c2; else winner=c2 loser=c1; fi
		[ "$(rc_of "$winner")" -eq 0 ] || fail "round $round: neither create of $id succeeded: $(out_of c1) / $(out_of c2)"
		[ "$(rc_of "$loser")" -ne 0 ] || fail "round $round: both creates of $id succeeded"
		output=$(out_of "$loser")
		assert_output_contains "create $id: container already exists"
		# the loser took nothing of the winner's
		assert_equal "$(state_field "$id" status)" created "round $round: status of $id"
		pid=$(container_pid "$id")
		pid_alive "$pid" || fail "round $round: the winner's init $pid is gone"
		[ -n "$(cgroups_named "$id")" ] || fail "round $round: the winner's cgroup is gone"
		run stasis start "$id"
		assert_success
		run stasis exec "$id" true
		assert_success
		run stasis delete --force "$id"
		assert_success
		assert_gone "$id" "$pid"
	done
}

@test "create racing delete of the same id: delete finds nothing or removes the whole container" {
	setup_bundle sleep 300
	local round id pid
	for round in $(seq 1 10); do
		id=$(new_id)
		bg create create --bundle "$BUNDLE" "$id"
		bg_fn delete until_done "$T/create.rc" delete "$id"
		wait_bg
		assert_equal "$(rc_of create)" 0 "round $round: create of $id: $(out_of create)"
		assert_attempts delete "stasis: delete $id: container does not exist"
		if grep -qx ok "$T/delete.out"; then
			# deleted: nothing of it may be left, its init included
			assert_no_container "$id"
			[ -z "$(cgroups_named "$id")" ] || fail "round $round: delete of $id succeeded, its cgroup is left: $(cgroups_named "$id")"
			assert_no_process_left
		else
			assert_equal "$(state_field "$id" status)" created "round $round: status of $id, not deleted"
			pid=$(container_pid "$id")
			run stasis start "$id"
			assert_success
			run stasis delete --force "$id"
			assert_success
			assert_gone "$id" "$pid"
		fi
	done
}

@test "start racing delete: one wins, the other says why; the container is gone entirely or still usable" {
	setup_bundle sleep 300
	local round id pid
	for round in $(seq 1 10); do
		id=$(new_id)
		create_container "$id"
		pid=$(container_pid "$id")
		bg start start "$id"
		bg delete delete "$id"
		wait_bg
		assert_ok_or start "start $id: container does not exist"
		assert_ok_or delete "delete $id: cannot delete \(without --force\) a running container"
		if [ "$(rc_of delete)" -eq 0 ]; then
			[ "$(rc_of start)" -ne 0 ] || fail "round $round: start and delete of $id both succeeded"
			assert_gone "$id" "$pid"
		else
			[ "$(rc_of start)" -eq 0 ] || fail "round $round: start and delete of $id both failed"
			assert_equal "$(state_field "$id" status)" running "round $round: status of $id"
			pid_alive "$pid" || fail "round $round: init $pid of $id is gone"
			run stasis exec "$id" true
			assert_success
			run stasis delete --force "$id"
			assert_success
			assert_gone "$id" "$pid"
		fi
	done
}

@test "delete --force racing exec: the exec'd process dies with the container, or exec says 'does not exist'" {
	setup_bundle sleep 300
	local round id pid
	for round in $(seq 1 10); do
		id=$(new_id)
		run_detached "$id"
		pid=$(container_pid "$id")
		bg exec exec "$id" sleep 300
		bg delete delete --force "$id"
		wait_bg
		assert_equal "$(rc_of delete)" 0 "round $round: delete --force of $id: $(out_of delete)"
		case $(rc_of exec) in
		137) ;; # ran, and was killed with the container
		255)
			output=$(out_of exec)
			assert_output_contains "exec $id: container does not exist"
			;;
		*) fail "round $round: exec in $id: exit $(rc_of exec): $(out_of exec)" ;;
		esac
		assert_gone "$id" "$pid"
		assert_no_process_left
	done
}

@test "state and list polled while delete --force runs: valid JSON or 'does not exist', never a torn state" {
	setup_bundle sleep 300
	local round id pid i out
	for round in 1 2 3 4 5; do
		id=$(new_id)
		run_detached "$id"
		pid=$(container_pid "$id")
		bg_fn poll poll_states "$T/poll.stop"
		bg delete delete --force "$id"
		for ((i = 0; i < 60 * 20; i++)); do
			[ -e "$T/delete.rc" ] && break
			sleep 0.05
		done
		touch "$T/poll.stop"
		wait_bg
		rm -f "$T/poll.stop"
		assert_equal "$(rc_of delete)" 0 "round $round: delete --force of $id: $(out_of delete)"
		[ ! -s "$T/poll.bad" ] || fail "round $round: bad reads: $(head -c 2000 "$T/poll.bad")"
		# after it: state says so, list is an empty array
		run stasis state "$id"
		assert_failure
		assert_output_contains "state $id: container does not exist"
		run stasis list --format json
		assert_success
		assert_output_equals "[]"
		assert_gone "$id" "$pid"
	done
}

# criu_or_skip: the CRIU tests need criu on PATH.
criu_or_skip() {
	command -v criu >/dev/null || skip "criu not on PATH (run make deps; put /usr/local/sbin first)"
}

@test "two checkpoints of one container at once: one dumps it, the other says 'does not exist'; the image restores" {
	criu_or_skip
	setup_bundle sleep 300
	local round a b pid winner loser
	for round in 1 2 3; do
		a=$(new_id)
		b=$(new_id)
		run_detached "$a"
		pid=$(container_pid "$a")
		bg cp1 checkpoint --image-path "$T/img1.$round" "$a"
		bg cp2 checkpoint --image-path "$T/img2.$round" "$a"
		wait_bg
		if [ "$(rc_of cp1)" -eq 0 ]; then winner=1 loser=2; else winner=2 loser=1; fi
		[ "$(rc_of cp$winner)" -eq 0 ] || fail "round $round: both checkpoints of $a failed: $(out_of cp1) / $(out_of cp2)"
		[ "$(rc_of cp$loser)" -ne 0 ] || fail "round $round: both checkpoints of $a succeeded"
		output=$(out_of cp$loser)
		assert_output_contains "checkpoint $a: container does not exist"
		assert_gone "$a" "$pid"
		run detached_cmd "$b" restore -d --image-path "$T/img$winner.$round" --bundle "$BUNDLE" "$b"
		assert_success
		assert_equal "$(state_field "$b" status)" running "round $round: restored $b"
		run stasis delete --force "$b"
		assert_success
		assert_gone "$b"
	done
}

@test "kill racing restore of the id: kill says 'does not exist' or kills the restored container" {
	criu_or_skip
	setup_bundle sleep 300
	local a b round pid
	a=$(new_id)
	run_detached "$a"
	run stasis checkpoint --image-path "$T/img" "$a"
	assert_success
	for round in 1 2 3 4; do
		b=$(new_id)
		bg restore restore -d --image-path "$T/img" --bundle "$BUNDLE" "$b"
		bg_fn kill until_done "$T/restore.rc" kill "$b" KILL
		wait_bg
		assert_equal "$(rc_of restore)" 0 "round $round: restore of $b: $(out_of restore)"
		assert_attempts kill "stasis: kill $b: container does not exist"
		if grep -qx ok "$T/kill.out"; then
			wait_for_status "$b" stopped
		else
			assert_equal "$(state_field "$b" status)" running "round $round: restored $b"
		fi
		pid=$(container_pid "$b")
		run stasis delete --force "$b"
		assert_success
		assert_gone "$b" "$pid"
	done
}
