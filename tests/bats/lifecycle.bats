#!/usr/bin/env bats
# create / start / run / state / list / kill / delete.

load helpers

SLEEPER=(sh -c 'while true; do sleep 0.1; done')

@test "create sets up the container without running the user process; start runs it" {
	setup_bundle sh -c 'echo ran > /marker'
	update_config '.root.readonly = false'
	local id
	id=$(new_id)
	run create_container "$id"
	assert_success

	run state_field "$id" status
	assert_output_equals created
	local pid
	pid=$(container_pid "$id")
	[ "$pid" -gt 0 ] || fail "pid of a created container: '$pid'"
	[ -d "/proc/$pid" ] || fail "init process $pid of created container is not alive"
	[ ! -e "$ROOTFS/marker" ] || fail "user process ran before start"

	run stasis start "$id"
	assert_success
	wait_for_file "$ROOTFS/marker"
	assert_equal "$(cat "$ROOTFS/marker")" ran "marker content"
	wait_for_status "$id" stopped
	run stasis delete "$id"
	assert_success
	assert_no_container "$id"
}

@test "start moves a container to running; it stops when its process exits" {
	setup_bundle sh -c 'read line; echo "done $line"'
	local id
	id=$(new_id)
	# stdin of the container: a fifo we control, so the process exits on cue
	mkfifo "$BATS_TEST_TMPDIR/in"
	exec 5<>"$BATS_TEST_TMPDIR/in"
	"$STASIS" --root "$STASIS_ROOT" create --bundle "$BUNDLE" "$id" \
		<"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/$id.out" 2>"$BATS_TEST_TMPDIR/$id.err" 3>&-
	local pid
	pid=$(container_pid "$id")
	run stasis start "$id"
	assert_success
	run state_field "$id" status
	assert_output_equals running
	assert_equal "$(container_pid "$id")" "$pid" "pid after start"

	echo go >&5
	exec 5>&-
	wait_for_status "$id" stopped
	run container_out "$id"
	assert_output_equals "done go"
}

@test "state reports every field of the OCI state" {
	setup_bundle "${SLEEPER[@]}"
	local id
	id=$(new_id)
	run create_container "$id"
	assert_success
	run stasis state "$id"
	assert_success
	local st=$output
	jq -e . <<<"$st" >/dev/null || fail "state is not JSON: $st"
	assert_equal "$(jq -r .id <<<"$st")" "$id" id
	assert_equal "$(jq -r .status <<<"$st")" created status
	assert_equal "$(jq -r .bundle <<<"$st")" "$BUNDLE" bundle
	assert_equal "$(jq -r .rootfs <<<"$st")" "$ROOTFS" rootfs
	[[ "$(jq -r .ociVersion <<<"$st")" =~ ^1\.[0-9]+ ]] || fail "ociVersion in $st"
	[ "$(jq -r .pid <<<"$st")" -gt 0 ] || fail "pid in $st"
	# created: RFC 3339 time stamp, from just now
	local created
	created=$(jq -r .created <<<"$st")
	[[ "$created" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2} ]] || fail "created: $created"
	local age=$(($(date +%s) - $(date -d "$created" +%s)))
	[ "$age" -ge 0 ] && [ "$age" -lt 60 ] || fail "created is ${age}s ago: $created"
	jq -e 'has("owner")' <<<"$st" >/dev/null || fail "no owner field in $st"
}

@test "list shows containers as a table, ids with -q, and JSON with --format json" {
	setup_bundle "${SLEEPER[@]}"
	local a b
	a=$(new_id)
	b=$(new_id)
	create_container "$a"
	create_container "$b"
	stasis start "$b"

	run stasis list
	assert_success
	assert_output_matches "^ID +PID +STATUS +BUNDLE +CREATED +OWNER"
	assert_output_matches $'\n'"$a +[0-9]+ +created +$BUNDLE "
	assert_output_matches $'\n'"$b +[0-9]+ +running +$BUNDLE "

	run stasis list -q
	assert_success
	assert_equal "$(sort <<<"$output")" "$(printf '%s\n' "$a" "$b" | sort)" "list -q"

	run stasis list --format json
	assert_success
	assert_equal "$(jq -r 'length' <<<"$output")" 2 "entries in list json"
	assert_equal "$(jq -r --arg id "$a" '.[] | select(.id == $id) | .status' <<<"$output")" created "status of $a"
	assert_equal "$(jq -r --arg id "$b" '.[] | select(.id == $id) | .status' <<<"$output")" running "status of $b"
	assert_equal "$(jq -r --arg id "$b" '.[] | select(.id == $id) | .bundle' <<<"$output")" "$BUNDLE" "bundle of $b"
	[ "$(jq -r --arg id "$a" '.[] | select(.id == $id) | .pid' <<<"$output")" -gt 0 ] || fail "pid in list json"
}

@test "list with no containers" {
	run stasis list -q
	assert_success
	assert_output_equals ""
	run stasis list --format json
	assert_success
	# runc prints null, others []: either way, no entries
	assert_equal "$(jq -r 'length' <<<"$output")" 0 "entries"
}

@test "list --format with an unknown format fails" {
	run stasis list --format xml
	assert_failure
}

@test "kill ID sends SIGTERM by default" {
	setup_bundle sh -c 'trap "echo got-TERM; exit 0" TERM; echo ready; while true; do sleep 0.1; done'
	local id
	id=$(new_id)
	run_detached "$id"
	for _ in $(seq 50); do [[ "$(container_out "$id")" == *ready* ]] && break; sleep 0.1; done
	run stasis kill "$id"
	assert_success
	wait_for_status "$id" stopped
	run container_out "$id"
	assert_output_contains got-TERM
}

@test "kill ID KILL / 9 / SIGKILL stops a process that ignores SIGTERM" {
	# pid 1 of a pid namespace with no handler ignores SIGTERM, not SIGKILL
	setup_bundle sleep 1000
	local sig id
	for sig in KILL 9 SIGKILL; do
		id=$(new_id)
		run_detached "$id"
		run stasis kill "$id" TERM
		assert_success
		sleep 0.3
		run state_field "$id" status
		assert_output_equals running
		run stasis kill "$id" "$sig"
		assert_success
		wait_for_status "$id" stopped
		run stasis delete "$id"
		assert_success
	done
}

@test "kill sends other signals by name and number" {
	setup_bundle sh -c 'trap "echo got-USR1" USR1; trap "echo got-HUP" HUP; echo ready; while true; do sleep 0.1; done'
	local id
	id=$(new_id)
	run_detached "$id"
	for _ in $(seq 50); do [[ "$(container_out "$id")" == *ready* ]] && break; sleep 0.1; done
	run stasis kill "$id" USR1
	assert_success
	run stasis kill "$id" 1
	assert_success
	for _ in $(seq 50); do [[ "$(container_out "$id")" == *got-HUP* ]] && break; sleep 0.1; done
	run container_out "$id"
	assert_output_contains got-USR1
	assert_output_contains got-HUP
	run state_field "$id" status
	assert_output_equals running
}

@test "kill with an unknown signal fails and leaves the container running" {
	setup_bundle sleep 1000
	local id
	id=$(new_id)
	run_detached "$id"
	run stasis kill "$id" NOSUCHSIG
	assert_failure
	run stasis kill "$id" 999
	assert_failure
	run state_field "$id" status
	assert_output_equals running
}

@test "kill of a stopped container fails" {
	setup_bundle true
	local id
	id=$(new_id)
	run_detached "$id"
	wait_for_status "$id" stopped
	run stasis kill "$id" KILL
	assert_failure
}

@test "delete of a running container fails without --force and succeeds with it" {
	setup_bundle sleep 1000
	local id pid
	id=$(new_id)
	run_detached "$id"
	pid=$(container_pid "$id")
	run stasis delete "$id"
	assert_failure
	run state_field "$id" status
	assert_output_equals running
	pid_alive "$pid" || fail "delete without --force killed the process"

	run stasis delete --force "$id"
	assert_success
	wait_pid_gone "$pid" || fail "process $pid alive after delete --force"
	assert_no_container "$id"
}

@test "delete of a stopped container removes its state" {
	setup_bundle true
	local id
	id=$(new_id)
	run_detached "$id"
	wait_for_status "$id" stopped
	[ -n "$(ls -A "$STASIS_ROOT")" ] || fail "no state dir while the container exists"
	run stasis delete "$id"
	assert_success
	assert_no_container "$id"
	[ -z "$(ls -A "$STASIS_ROOT")" ] || fail "state left in $STASIS_ROOT: $(ls -A "$STASIS_ROOT")"
	run stasis state "$id"
	assert_failure
}

@test "delete of a created container kills its init" {
	setup_bundle sleep 1000
	local id pid
	id=$(new_id)
	create_container "$id"
	pid=$(container_pid "$id")
	run stasis delete --force "$id"
	assert_success
	wait_pid_gone "$pid" || fail "init $pid alive after delete"
	assert_no_container "$id"
}

@test "start twice fails" {
	setup_bundle sleep 1000
	local id
	id=$(new_id)
	create_container "$id"
	run stasis start "$id"
	assert_success
	run stasis start "$id"
	assert_failure
	run state_field "$id" status
	assert_output_equals running
}

@test "start of a stopped container fails" {
	setup_bundle true
	local id
	id=$(new_id)
	run_detached "$id"
	wait_for_status "$id" stopped
	run stasis start "$id"
	assert_failure
}

@test "create with an id in use fails and leaves the first container intact" {
	setup_bundle sleep 1000
	local id pid
	id=$(new_id)
	create_container "$id"
	pid=$(container_pid "$id")
	run create_container "$id"
	assert_failure
	run state_field "$id" status
	assert_output_equals created
	assert_equal "$(container_pid "$id")" "$pid" "pid of the first container"
	pid_alive "$pid" || fail "first container's init died"
	run stasis start "$id"
	assert_success
	wait_for_status "$id" running
}

@test "create with an invalid id fails" {
	setup_bundle true
	local bad
	for bad in "../escape" "a/b" "."; do
		run "$STASIS" --root "$STASIS_ROOT" create --bundle "$BUNDLE" "$bad" </dev/null
		assert_failure
	done
	[ ! -e "$BATS_TEST_TMPDIR/escape" ] || fail "id ../escape wrote outside the state root"
	[ -z "$(ls -A "$STASIS_ROOT")" ] || fail "state left: $(ls -A "$STASIS_ROOT")"
}

@test "state, start, kill and delete of a missing container fail" {
	local cmd
	for cmd in state start kill delete; do
		run stasis $cmd no-such-ctr
		assert_failure
	done
}

@test "state, start, kill and delete of a missing container name it [stasis-only]" {
	stasis_only "runc 1.1 says only 'container does not exist'"
	local cmd
	for cmd in state start kill delete; do
		run stasis $cmd no-such-ctr
		assert_failure
		assert_output_contains "no-such-ctr"
	done
}

@test "run returns the exit code of the process" {
	setup_bundle sh -c 'echo out; exit 3'
	local id
	id=$(new_id)
	run stasis run --bundle "$BUNDLE" "$id" </dev/null
	assert_status 3
	assert_output_equals out
	# a finished `run` removes the container
	assert_no_container "$id"
}

@test "run returns 0 for a process that succeeds" {
	setup_bundle true
	local id
	id=$(new_id)
	run stasis run --bundle "$BUNDLE" "$id" </dev/null
	assert_status 0
}

@test "run returns 137 when the process is killed with SIGKILL" {
	setup_bundle sleep 1000
	local id
	id=$(new_id)
	"$STASIS" --root "$STASIS_ROOT" run --bundle "$BUNDLE" "$id" </dev/null >/dev/null 2>&1 3>&- &
	local rpid=$!
	wait_for_status "$id" running
	kill -9 "$(container_pid "$id")"
	local rc=0
	wait "$rpid" || rc=$?
	assert_equal "$rc" 137 "exit code of run"
}

@test "run -d returns at once and leaves the container running" {
	setup_bundle sh -c 'echo hello; sleep 1000'
	local id
	id=$(new_id)
	local t0=$SECONDS
	run run_detached "$id"
	assert_success
	[ $((SECONDS - t0)) -lt 10 ] || fail "run -d took $((SECONDS - t0))s"
	run state_field "$id" status
	assert_output_equals running
	for _ in $(seq 50); do [ -n "$(container_out "$id")" ] && break; sleep 0.1; done
	run container_out "$id"
	assert_output_equals hello
}

@test "--pid-file is written with the init pid" {
	setup_bundle sleep 1000
	local id pf=$BATS_TEST_TMPDIR/ctr.pid
	id=$(new_id)
	run create_container "$id" --pid-file "$pf"
	assert_success
	[ -s "$pf" ] || fail "pid file not written"
	assert_equal "$(cat "$pf")" "$(container_pid "$id")" "pid file content"

	local id2 pf2=$BATS_TEST_TMPDIR/ctr2.pid
	id2=$(new_id)
	run run_detached "$id2" --pid-file "$pf2"
	assert_success
	assert_equal "$(cat "$pf2")" "$(container_pid "$id2")" "run -d pid file content"
}

@test "concurrent start, kill and delete do not corrupt state" {
	setup_bundle sleep 1000
	local round id pids i
	for round in 1 2 3; do
		id=$(new_id)
		create_container "$id"
		local init
		init=$(container_pid "$id")
		pids=()
		for i in 1 2; do
			stasis start "$id" >/dev/null 2>&1 3>&- &
			pids+=($!)
			stasis kill "$id" KILL >/dev/null 2>&1 3>&- &
			pids+=($!)
			stasis state "$id" >/dev/null 2>&1 3>&- &
			pids+=($!)
			stasis delete --force "$id" >/dev/null 2>&1 3>&- &
			pids+=($!)
		done
		wait "${pids[@]}" || true
		# whatever order they ran in: the container is either gone or has a
		# readable state; a final delete --force always cleans up.
		if run stasis state "$id" && [ "$status" -eq 0 ]; then
			jq -e .status <<<"$output" >/dev/null || fail "corrupt state: $output"
		fi
		run stasis delete --force "$id"
		run stasis list --format json
		assert_success
		jq -e '. == null or type == "array"' <<<"$output" >/dev/null || fail "list output corrupt: $output"
		assert_no_container "$id"
		wait_pid_gone "$init" || fail "init $init still alive"
	done
}

# host_pidns_container: a running container with no pid namespace of its
# own, its init plus five exec'd sleeps; sets ID, INIT and PIDS (every
# process of the container, as host pids).
host_pidns_container() {
	setup_bundle sleep 1000
	update_config '.linux.namespaces |= map(select(.type != "pid"))'
	ID=$(new_id)
	run_detached "$ID"
	INIT=$(container_pid "$ID")
	local i
	for i in 1 2 3 4 5; do
		stasis exec -d "$ID" sleep 1000 </dev/null >/dev/null 2>&1 3>&-
	done
	mapfile -t PIDS < <(stasis ps --format json "$ID" | jq -r '.[]')
	[ "${#PIDS[@]}" -eq 6 ] || fail "want the init and 5 sleeps, got: ${PIDS[*]}"
}

# kill_init_only: SIGKILL the init from outside; the others live on, and
# the container is stopped.
kill_init_only() {
	kill -9 "$INIT"
	wait_pid_gone "$INIT"
	wait_for_status "$ID" stopped
	local p
	for p in "${PIDS[@]}"; do
		[ "$p" = "$INIT" ] || pid_alive "$p" || fail "process $p died with the init"
	done
}

assert_all_gone() {
	local p
	for p in "${PIDS[@]}"; do
		wait_pid_gone "$p" || fail "process $p of the container still alive"
	done
}

@test "kill KILL of a container in the host's pid namespace kills every process of its cgroup" {
	stasis_only "runc 1.1.5 kills only the init"
	host_pidns_container
	run stasis kill "$ID" KILL
	assert_success
	assert_all_gone
	wait_for_status "$ID" stopped
}

@test "kill KILL in the host's pid namespace kills what a gone init left behind" {
	stasis_only "runc 1.1.5 refuses kill once the init is gone"
	host_pidns_container
	kill_init_only
	run stasis kill "$ID" KILL
	assert_success
	assert_all_gone
	# other signals still need a live init
	run stasis kill "$ID" TERM
	assert_failure
}

@test "delete --force in the host's pid namespace kills every process of its cgroup" {
	host_pidns_container
	run stasis delete --force "$ID"
	assert_success
	assert_all_gone
	assert_no_container "$ID"
}

@test "delete --force in the host's pid namespace kills what a gone init left behind" {
	host_pidns_container
	kill_init_only
	run stasis delete --force "$ID"
	assert_success
	assert_all_gone
	assert_no_container "$ID"
}

@test "kill KILL of a paused container in the host's pid namespace kills every process" {
	stasis_only "runc 1.1.5 kills only the init"
	host_pidns_container
	run stasis pause "$ID"
	assert_success
	run stasis kill "$ID" KILL
	assert_success
	assert_all_gone
	wait_for_status "$ID" stopped
}
