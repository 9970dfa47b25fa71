#!/usr/bin/env bats
# Docker's experimental checkpoint/restore with stasis as the runtime:
# `docker checkpoint create` then `docker start --checkpoint`, checked by a
# counter whose output (docker logs) must continue, never start over.

load helpers

setup() {
	COUNTER='i=0; while true; do echo $i; i=$((i+1)); sleep 0.1; done'
}

teardown() {
	dk_cleanup
}

# logs_of NAME: the container's stdout, one number a line.
logs_of() { dk logs "$1" 2>/dev/null; }
last_of() { logs_of "$1" | tail -n1; }

# wait_count NAME N: until the counter has printed at least N.
wait_count() {
	wait_for 20 bash -c "[ \"\$('$DOCKER_BIN' -H 'unix://$DOCKER_SOCK' logs '$1' 2>/dev/null | tail -n1)\" -ge $2 ]"
}

# expect_consecutive NAME: the logs are exactly 0, 1, ..., last: nothing
# lost, nothing repeated, one start from zero.
expect_consecutive() {
	local got want last
	got=$(logs_of "$1")
	last=$(tail -n1 <<<"$got")
	want=$(seq 0 "$last")
	if [ "$got" != "$want" ]; then
		fail "logs of $1 are not 0..$last in order: $(tr '\n' ' ' <<<"$got")"
	fi
}

@test "docker checkpoint create stops the container; start --checkpoint continues the count" {
	local n before
	newname n
	drun -d --network none --name "$n" "$E2E_IMAGE" sh -c "$COUNTER"
	wait_count "$n" 5
	run dk checkpoint create "$n" cp1
	echo "$output"
	[ "$status" -eq 0 ]
	expect_eq "status after checkpoint" "$(dk_status "$n")" exited
	before=$(last_of "$n")
	sleep 0.5
	expect_eq "no output while checkpointed" "$(last_of "$n")" "$before"

	run dk start --checkpoint cp1 "$n"
	echo "$output"
	[ "$status" -eq 0 ]
	expect_eq "status after restore" "$(dk_status "$n")" running
	wait_count "$n" $((before + 5))
	expect_consecutive "$n"
}

@test "a restored container checkpoints and restores again, and stays manageable" {
	local n before
	newname n
	drun -d --network none --name "$n" "$E2E_IMAGE" sh -c "$COUNTER"
	wait_count "$n" 3
	dk checkpoint create "$n" cp1
	dk start --checkpoint cp1 "$n"
	before=$(last_of "$n")
	wait_count "$n" $((before + 3))

	run dk checkpoint create "$n" cp2
	echo "$output"
	[ "$status" -eq 0 ]
	before=$(last_of "$n")
	run dk start --checkpoint cp2 "$n"
	echo "$output"
	[ "$status" -eq 0 ]
	wait_count "$n" $((before + 3))
	expect_consecutive "$n"

	# The restored container is an ordinary one to Docker and the runtime.
	run dk exec "$n" sh -c 'echo exec-ok'
	expect_eq "exec after restore" "$output" exec-ok
	run dk top "$n"
	expect_contains "top after restore" "$output" "sleep"
	dk pause "$n"
	expect_eq "paused" "$(dk_status "$n")" paused
	dk unpause "$n"
	local pid id
	pid=$(dk inspect -f '{{.State.Pid}}' "$n")
	[ -d "/proc/$pid" ] || fail "docker's pid $pid for the restored init is not alive"
	id=$(dk_id "$n")
	grep -qx "$pid" "/sys/fs/cgroup/memory/docker/$id/cgroup.procs" ||
		fail "restored init $pid is not in /docker/$id"
	dk kill "$n"
	wait_for 10 bash -c "[ \"\$('$DOCKER_BIN' -H 'unix://$DOCKER_SOCK' inspect -f '{{.State.Status}}' '$n')\" = exited ]"
	dk rm "$n"
	[ -z "$(dk_leftovers "$id")" ] || fail "left after rm: $(dk_leftovers "$id")"
}

@test "docker checkpoint create --leave-running: keeps counting; a restore goes back to the checkpoint" {
	local n at_cp last
	newname n
	drun -d --network none --name "$n" "$E2E_IMAGE" sh -c "$COUNTER"
	wait_count "$n" 5
	run dk checkpoint create --leave-running "$n" cpl
	echo "$output"
	[ "$status" -eq 0 ]
	at_cp=$(last_of "$n")
	expect_eq "status after --leave-running" "$(dk_status "$n")" running
	wait_count "$n" $((at_cp + 5))
	expect_consecutive "$n"

	dk stop -t 0 "$n"
	last=$(last_of "$n")
	run dk start --checkpoint cpl "$n"
	echo "$output"
	[ "$status" -eq 0 ]
	wait_count "$n" $((last + 1))
	# After the restore the count resumes from the checkpoint, which lies
	# before where it stood at the stop: the numbers repeat from there.
	local after
	after=$(logs_of "$n" | awk -v l="$last" 'seen { print; exit } $0 == l { seen = 1 }')
	[ -n "$after" ] || fail "no output after the restore"
	[ "$after" -le $((at_cp + 2)) ] ||
		fail "after the restore the count went on at $after; the checkpoint was at about $at_cp"
	[ "$after" -gt 0 ] || fail "the restored count started over from 0"
}

@test "docker checkpoint ls and rm" {
	local n
	newname n
	drun -d --network none --name "$n" "$E2E_IMAGE" sh -c "$COUNTER"
	wait_count "$n" 2
	dk checkpoint create --leave-running "$n" one
	dk checkpoint create --leave-running "$n" two
	run dk checkpoint ls "$n"
	echo "$output"
	expect_eq "ls" "$(tail -n +2 <<<"$output" | sort | tr '\n' ' ')" "one two "
	dk checkpoint rm "$n" one
	run dk checkpoint ls "$n"
	expect_eq "ls after rm" "$(tail -n +2 <<<"$output" | tr '\n' ' ')" "two "
	dk stop -t 0 "$n"
	run dk start --checkpoint one "$n"
	echo "$output"
	[ "$status" -ne 0 ]
	run dk start --checkpoint two "$n"
	echo "$output"
	[ "$status" -eq 0 ]
	expect_eq "restored from two" "$(dk_status "$n")" running
}

@test "checkpoint/restore keeps a bind mount and a tmpfs" {
	local n dir before
	newname n
	dir=$BATS_TEST_TMPDIR/vol
	mkdir -p "$dir"
	drun -d --network none --name "$n" -v "$dir:/data" --tmpfs /scratch "$E2E_IMAGE" sh -c '
		echo kept >/scratch/f
		i=0; while true; do echo $i; echo $i >/data/n.new; mv /data/n.new /data/n; i=$((i+1)); sleep 0.1; done'
	wait_count "$n" 3
	dk checkpoint create "$n" cp1
	before=$(cat "$dir/n")
	run dk start --checkpoint cp1 "$n"
	echo "$output"
	[ "$status" -eq 0 ]
	wait_count "$n" $((before + 3))
	[ "$(cat "$dir/n")" -gt "$before" ] || fail "the restored container no longer writes to the bind mount"
	run dk exec "$n" cat /scratch/f
	expect_eq "tmpfs content after restore" "$output" kept
	expect_consecutive "$n"
}

@test "checkpoint/restore of a container that joins another's network namespace by path" {
	local net n before
	newname net
	newname n
	drun -d --network none --name "$net" "$E2E_IMAGE" sleep 1000
	drun -d --network "container:$net" --name "$n" "$E2E_IMAGE" sh -c "$COUNTER"
	wait_count "$n" 3
	run dk checkpoint create "$n" cp1
	echo "$output"
	[ "$status" -eq 0 ]
	before=$(last_of "$n")
	run dk start --checkpoint cp1 "$n"
	echo "$output"
	[ "$status" -eq 0 ]
	wait_count "$n" $((before + 3))
	expect_consecutive "$n"
	expect_eq "same network namespace" "$(dk exec "$n" readlink /proc/1/ns/net)" \
		"$(dk exec "$net" readlink /proc/1/ns/net)"
}

@test "checkpoint/restore with Docker's default network (a namespace the runtime made)" {
	local n before
	newname n
	drun -d --name "$n" "$E2E_IMAGE" sh -c "$COUNTER" 2>/dev/null
	wait_count "$n" 3
	run dk checkpoint create "$n" cp1
	echo "$output"
	[ "$status" -eq 0 ]
	before=$(last_of "$n")
	run dk start --checkpoint cp1 "$n"
	echo "$output"
	[ "$status" -eq 0 ]
	wait_count "$n" $((before + 3))
	expect_consecutive "$n"
}
