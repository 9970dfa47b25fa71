#!/usr/bin/env bats
# podman 4.3 with `--runtime $STASIS` (own storage root, runroot, tmpdir,
# containers.conf: cgroupfs, file events, no network; see lib.sh's
# e2e_setup_podman for the rlimit defaults this machine needs).

load helpers

setup() {
	COUNTER='i=0; while true; do echo $i; i=$((i+1)); sleep 0.1; done'
}

teardown() {
	pm_cleanup
}

logs_of() { pm logs "$1" 2>/dev/null; }
last_of() { logs_of "$1" | tail -n1; }
wait_count() {
	local i
	for ((i = 0; i < 200; i++)); do
		[ "$(last_of "$1")" -ge "$2" ] 2>/dev/null && return 0
		sleep 0.1
	done
	fail "$1 did not count to $2 (at $(last_of "$1"))"
}
expect_consecutive() {
	local got last
	got=$(logs_of "$1")
	last=$(tail -n1 <<<"$got")
	[ "$got" = "$(seq 0 "$last")" ] ||
		fail "logs of $1 are not 0..$last in order: $(tr '\n' ' ' <<<"$got")"
}

# pm_leftovers NAME-OR-ID: runtime state or cgroups left for a container.
pm_leftovers() {
	local id=$1 d
	# Podman passes no --root: the runtime's default state dir applies.
	for d in /sys/fs/cgroup/*/libpod_parent/libpod-"$id" /run/stasis/"$id" /run/runc/"$id"; do
		[ -e "$d" ] && echo "$d"
	done
	return 0
}

@test "podman run: output, exit code, -e -w -u, and stasis is the runtime" {
	run prun --rm "$E2E_IMAGE" sh -c 'echo out; exit 3'
	[ "$status" -eq 3 ]
	expect_eq "output" "$output" out
	run prun --rm -e FOO=bar -w /tmp -u 1000 "$E2E_IMAGE" sh -c 'echo "$FOO $(pwd) $(id -u) $HOME"'
	echo "$output"
	[ "$status" -eq 0 ]
	expect_eq "env/cwd/user" "$output" "bar /tmp 1000 /home/user"
	local n
	newname n
	prun -d --name "$n" "$E2E_IMAGE" sleep 1000
	expect_eq "OCI runtime" "$(pm inspect -f '{{.OCIRuntime}}' "$n")" "$STASIS"
	local pid
	pid=$(pm inspect -f '{{.State.Pid}}' "$n")
	[ -d "/proc/$pid" ] || fail "podman's pid $pid is not alive"
	expect_contains "cgroup" "$(cat "/proc/$pid/cgroup")" "memory:/libpod_parent/libpod-$(pm inspect -f '{{.Id}}' "$n")"
}

@test "podman's rlimits: the containers.conf defaults apply; an impossible one fails as clearly as runc" {
	run prun --rm "$E2E_IMAGE" sh -c 'ulimit -n; ulimit -u'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" -ge 1024 ] || fail "nofile ${lines[0]}"
	# Above this process's hard limit, without CAP_SYS_RESOURCE: runc
	# fails with "error setting rlimit type 7: operation not permitted".
	local hard
	hard=$(ulimit -Hn)
	[ "$hard" != unlimited ] || skip "hard RLIMIT_NOFILE is unlimited here"
	run prun --rm --ulimit nofile=$((hard + 1)):$((hard + 1)) "$E2E_IMAGE" true
	echo "$output"
	[ "$status" -ne 0 ]
	# Names the limit: stasis says RLIMIT_NOFILE, runc "rlimit type 7".
	[[ $output == *NOFILE* || $output == *"rlimit type 7"* ]] || fail "error names no limit: $output"
	expect_contains "error" "$output" "operation not permitted"
}

@test "podman exec: output, exit code, stdin, user, and -t with a tty" {
	local n
	newname n
	prun -d --name "$n" "$E2E_IMAGE" sleep 1000
	run pm exec "$n" sh -c 'echo in; exit 5'
	[ "$status" -eq 5 ]
	expect_eq "exec output" "$output" in
	run bash -c 'echo piped | "$@"' _ "${E2E_PODMAN[@]}" --runtime "$STASIS" exec -i "$n" cat
	expect_eq "exec -i" "$output" piped
	run pm exec -u 1000 -w /tmp -e X=1 "$n" sh -c 'echo $X $(id -u) $(pwd)'
	expect_eq "exec -u -w -e" "$output" "1 1000 /tmp"
	run script -qec "$(printf '%q ' "${E2E_PODMAN[@]}" --runtime "$STASIS" exec -t "$n" tty)" /dev/null </dev/null
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"/dev/pts/"* ]] || fail "exec -t: tty says '$output'"
}

@test "podman pause/unpause, stop, rm: frozen, thawed, stopped, nothing left" {
	local n id
	newname n
	prun -d --name "$n" "$E2E_IMAGE" sh -c 'trap "exit 0" TERM; while true; do sleep 0.1; done'
	id=$(pm inspect -f '{{.Id}}' "$n")
	pm pause "$n"
	expect_eq "paused" "$(pm_status "$n")" paused
	expect_eq "freezer.state" "$(cat "/sys/fs/cgroup/freezer/libpod_parent/libpod-$id/freezer.state")" FROZEN
	pm unpause "$n"
	expect_eq "running" "$(pm_status "$n")" running
	pm stop -t 10 "$n"
	expect_eq "exited" "$(pm_status "$n")" exited
	expect_eq "exit code" "$(pm inspect -f '{{.State.ExitCode}}' "$n")" 0
	pm rm "$n"
	[ -z "$(pm_leftovers "$id")" ] || fail "left: $(pm_leftovers "$id")"
}

@test "podman container checkpoint --export + restore --import --name: a new container continues the count" {
	local n r before tarball=$BATS_TEST_TMPDIR/cp.tar.gz
	newname n
	newname r
	prun -d --name "$n" "$E2E_IMAGE" sh -c "$COUNTER"
	wait_count "$n" 5
	run pm container checkpoint --export "$tarball" "$n"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -s "$tarball" ] || fail "no export written"
	expect_eq "original after checkpoint" "$(pm_status "$n")" exited
	before=$(last_of "$n")

	run pm container restore --import "$tarball" --name "$r"
	echo "$output"
	[ "$status" -eq 0 ]
	expect_eq "restored" "$(pm_status "$r")" running
	expect_eq "original stays exited" "$(pm_status "$n")" exited
	wait_count "$r" $((before + 5))
	expect_consecutive "$r"
	run pm exec "$r" echo exec-after-restore
	expect_eq "exec after restore" "$output" exec-after-restore
}

@test "podman: a container restored under a new name checkpoints and restores again" {
	local n r1 r2 before
	newname n
	newname r1
	newname r2
	prun -d --name "$n" "$E2E_IMAGE" sh -c "$COUNTER"
	wait_count "$n" 3
	pm container checkpoint --export "$BATS_TEST_TMPDIR/1.tar.gz" "$n"
	pm container restore --import "$BATS_TEST_TMPDIR/1.tar.gz" --name "$r1"
	before=$(last_of "$r1")
	wait_count "$r1" $((before + 3))

	run pm container checkpoint --export "$BATS_TEST_TMPDIR/2.tar.gz" "$r1"
	echo "$output"
	[ "$status" -eq 0 ]
	before=$(last_of "$r1")
	run pm container restore --import "$BATS_TEST_TMPDIR/2.tar.gz" --name "$r2"
	echo "$output"
	[ "$status" -eq 0 ]
	wait_count "$r2" $((before + 3))
	expect_consecutive "$r2"

	# In place too: checkpoint and restore the same container.
	run pm container checkpoint "$r2"
	echo "$output"
	[ "$status" -eq 0 ]
	before=$(last_of "$r2")
	run pm container restore "$r2"
	echo "$output"
	[ "$status" -eq 0 ]
	wait_count "$r2" $((before + 3))
	expect_consecutive "$r2"
}

@test "podman container checkpoint --leave-running keeps the container counting" {
	local n at
	newname n
	prun -d --name "$n" "$E2E_IMAGE" sh -c "$COUNTER"
	wait_count "$n" 3
	run pm container checkpoint --leave-running "$n"
	echo "$output"
	[ "$status" -eq 0 ]
	expect_eq "status" "$(pm_status "$n")" running
	at=$(last_of "$n")
	wait_count "$n" $((at + 3))
	expect_consecutive "$n"
}
