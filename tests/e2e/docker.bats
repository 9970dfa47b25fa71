#!/usr/bin/env bats
# Docker 20.10 (the suite's own dockerd, stasis registered with
# --add-runtime, runc still the default) running containers with
# `docker run --runtime stasis`, checked through docker's own commands and
# the host's cgroup files.

load helpers

teardown() {
	dk_cleanup
}

# ------------------------------------------------------------------ run

@test "docker run: the exit code passes through" {
	run drun --rm --network none "$E2E_IMAGE" sh -c 'exit 3'
	[ "$status" -eq 3 ]
	run drun --rm --network none "$E2E_IMAGE" true
	[ "$status" -eq 0 ]
	# A missing executable: docker's 127, with the runtime's error shown.
	run -127 drun --rm --network none "$E2E_IMAGE" /no/such/cmd
	echo "$output"
	expect_contains "error" "$output" "/no/such/cmd"
}

@test "docker run: the runtime really is stasis, and runc stays the default" {
	local n m
	newname n
	newname m
	drun -d --network none --name "$n" "$E2E_IMAGE" sleep 1000
	dk run -d --label stasis-e2e --network none --name "$m" "$E2E_IMAGE" sleep 1000
	expect_eq "runtime of $n" "$(dk inspect -f '{{.HostConfig.Runtime}}' "$n")" stasis
	expect_eq "runtime of $m" "$(dk inspect -f '{{.HostConfig.Runtime}}' "$m")" runc
	# The shim ran stasis: its state is in stasis's format (state.json with
	# our fields), runc's is not.
	local pid
	pid=$(dk inspect -f '{{.State.Pid}}' "$n")
	run "$STASIS" --root "$(dirname "$(ls -d "$E2E_RUN"/docker-exec/runtime-*/moby/"$(dk_id "$n")")")" state "$(dk_id "$n")"
	echo "$output"
	[ "$status" -eq 0 ]
	expect_eq "pid from stasis state" "$(jq -r .pid <<<"$output")" "$pid"
}

@test "docker logs: stdout and stderr, kept apart" {
	local n
	newname n
	drun --network none --name "$n" "$E2E_IMAGE" sh -c 'echo to-out; echo to-err >&2; echo more-out'
	run bash -c '"$@" 2>/dev/null' _ "$DOCKER_BIN" -H "unix://$DOCKER_SOCK" logs "$n"
	expect_eq "stdout" "$output" "to-out
more-out"
	run bash -c '"$@" 2>&1 >/dev/null' _ "$DOCKER_BIN" -H "unix://$DOCKER_SOCK" logs "$n"
	expect_eq "stderr" "$output" "to-err"
}

@test "docker run -e -w -u: environment, working directory and user" {
	run drun --rm --network none -e FOO=bar -e EMPTY= -w /tmp -u 1000 "$E2E_IMAGE" \
		sh -c 'echo "$FOO|${EMPTY-unset}|$(pwd)|$(id -u):$(id -g)"'
	echo "$output"
	[ "$status" -eq 0 ]
	expect_eq "env/cwd/user" "$output" "bar||/tmp|1000:1000"
	run drun --rm --network none -u 1000:1000 "$E2E_IMAGE" sh -c 'touch /root/x'
	[ "$status" -ne 0 ]
}

@test "docker run: HOME comes from the image's /etc/passwd, as runc sets it" {
	# Docker 20.10 leaves HOME out of the spec: runc fills it in from the
	# user's passwd entry, or / for a user without one.
	run drun --rm --network none "$E2E_IMAGE" sh -c 'echo "$HOME"'
	expect_eq "HOME for root" "$output" /root
	run drun --rm --network none -u 1000 "$E2E_IMAGE" sh -c 'echo "$HOME"'
	expect_eq "HOME for -u 1000" "$output" /home/user
	run drun --rm --network none -u 4242 "$E2E_IMAGE" sh -c 'echo "$HOME"'
	expect_eq "HOME for a uid without an entry" "$output" /
	# Set explicitly, it stays.
	run drun --rm --network none -e HOME=/x "$E2E_IMAGE" sh -c 'echo "$HOME"'
	expect_eq "HOME given" "$output" /x
}

@test "docker run --read-only and --tmpfs" {
	run drun --rm --network none --read-only "$E2E_IMAGE" sh -c 'touch /etc/x'
	[ "$status" -ne 0 ]
	expect_contains "read-only write" "$output" "Read-only file system"
	run drun --rm --network none --read-only --tmpfs /x "$E2E_IMAGE" \
		sh -c 'echo hi >/x/f && cat /x/f && grep " /x " /proc/mounts'
	echo "$output"
	[ "$status" -eq 0 ]
	expect_eq "first line" "${lines[0]}" hi
	[[ ${lines[1]} == "tmpfs /x tmpfs "* ]] || fail "/x is not a tmpfs: ${lines[1]}"
	# Docker's own mounts are still writable under --read-only.
	run drun --rm --network none --read-only "$E2E_IMAGE" sh -c 'echo x >/dev/shm/x && echo ok'
	expect_eq "/dev/shm" "$output" ok
}

@test "docker run -v hostdir:/data bind mount, both ways" {
	local dir=$BATS_TEST_TMPDIR/vol
	mkdir -p "$dir"
	echo from-host >"$dir/in"
	run drun --rm --network none -v "$dir:/data" "$E2E_IMAGE" sh -c 'cat /data/in; echo from-ctr >/data/out'
	echo "$output"
	[ "$status" -eq 0 ]
	expect_eq "read in container" "$output" from-host
	expect_eq "written by container" "$(cat "$dir/out")" from-ctr
	run drun --rm --network none -v "$dir:/data:ro" "$E2E_IMAGE" sh -c 'echo x >/data/out'
	[ "$status" -ne 0 ]
}

@test "docker run: the default network namespace has lo up, as with runc" {
	# With --bridge=none Docker hands the runtime a new network namespace
	# (no path, no hook): runc brings its loopback up, so must stasis.
	run drun --rm "$E2E_IMAGE" sh -c 'ip -o link show lo'
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"<LOOPBACK,UP"* ]] || fail "lo is not up: $output"
	run dk run --rm "$E2E_IMAGE" sh -c 'ip -o link show lo'
	[[ $output == *"<LOOPBACK,UP"* ]] || fail "under runc lo is not up either: $output"
}

# -------------------------------------------------------------- cgroups

@test "docker run --memory --pids-limit --cpus: in the host's cgroup files" {
	local n cg
	newname n
	drun -d --network none --name "$n" --memory 64m --pids-limit 50 --cpus 0.5 "$E2E_IMAGE" sleep 1000
	cg=$(dk_cgroup "$n" memory)
	expect_eq "memory.limit_in_bytes" "$(cat "$cg/memory.limit_in_bytes")" 67108864
	expect_eq "pids.max" "$(cat "$(dk_cgroup "$n" pids)/pids.max")" 50
	expect_eq "cpu.cfs_period_us" "$(cat "$(dk_cgroup "$n" cpu)/cpu.cfs_period_us")" 100000
	expect_eq "cpu.cfs_quota_us" "$(cat "$(dk_cgroup "$n" cpu)/cpu.cfs_quota_us")" 50000
	local pid
	pid=$(dk inspect -f '{{.State.Pid}}' "$n")
	grep -qx "$pid" "$cg/cgroup.procs" || fail "init $pid is not in $cg"
	# The container sees its own limits too.
	run dk exec "$n" cat /sys/fs/cgroup/memory/memory.limit_in_bytes
	expect_eq "limit seen inside" "$output" 67108864
}

@test "docker run --memory: a process over the limit is OOM-killed and docker says OOMKilled" {
	local n
	newname n
	# tail buffers a line that never ends: it grows until the limit.
	run drun --network none --name "$n" --memory 32m "$E2E_IMAGE" tail /dev/zero
	[ "$status" -eq 137 ]
	expect_eq "OOMKilled" "$(dk inspect -f '{{.State.OOMKilled}}' "$n")" true
}

@test "docker run --pids-limit: fork beyond the limit fails" {
	run drun --rm --network none --pids-limit 10 "$E2E_IMAGE" sh -c '
		for i in $(seq 30); do sleep 5 & done; kill $(jobs -p); echo done'
	echo "$output"
	expect_contains "fork errors" "$output" "Resource temporarily unavailable"
}

@test "docker update --memory changes the live limit" {
	local n
	newname n
	drun -d --network none --name "$n" --memory 64m "$E2E_IMAGE" sleep 1000
	dk update --memory 100m "$n" 2>/dev/null
	expect_eq "memory.limit_in_bytes" "$(cat "$(dk_cgroup "$n" memory)/memory.limit_in_bytes")" 104857600
	expect_eq "docker inspect" "$(dk inspect -f '{{.HostConfig.Memory}}' "$n")" 104857600
	dk update --pids-limit 20 "$n" 2>/dev/null
	expect_eq "pids.max" "$(cat "$(dk_cgroup "$n" pids)/pids.max")" 20
}

# ------------------------------------------------------------- security

@test "Docker's default seccomp profile is active (and unconfined lifts it)" {
	run drun --rm --network none "$E2E_IMAGE" grep '^Seccomp:' /proc/self/status
	echo "$output"
	expect_eq "Seccomp" "$(tr -d '\t ' <<<"$output")" "Seccomp:2"
	# unshare needs no capability for a user namespace: only seccomp stops it.
	run drun --rm --network none "$E2E_IMAGE" unshare -U true
	echo "$output"
	[ "$status" -ne 0 ]
	expect_contains "unshare error" "$output" "Operation not permitted"
	run drun --rm --network none --security-opt seccomp=unconfined "$E2E_IMAGE" \
		sh -c 'grep "^Seccomp:" /proc/self/status; unshare -U true && echo unshared'
	echo "$output"
	expect_eq "unconfined" "$(tr -d '\t ' <<<"$output")" "Seccomp:0
unshared"
}

@test "Docker's capabilities and no-new-privileges reach the process" {
	run drun --rm --network none "$E2E_IMAGE" grep -E '^Cap(Eff|Bnd):' /proc/self/status
	echo "$output"
	# Docker's default set: 0x00000000a80425fb.
	expect_contains "caps" "$output" "CapEff:	00000000a80425fb"
	run drun --rm --network none --cap-drop ALL --security-opt no-new-privileges "$E2E_IMAGE" \
		grep -E '^(CapEff|NoNewPrivs):' /proc/self/status
	echo "$output"
	expect_eq "no caps, nnp" "$(tr -d '\t' <<<"$output")" "CapEff:0000000000000000
NoNewPrivs:1"
}

# ------------------------------------------------------------ exec & co

@test "docker exec: output, exit code, stdin, env/user/workdir, and -t with a tty" {
	local n
	newname n
	drun -d --network none --name "$n" "$E2E_IMAGE" sleep 1000
	run dk exec "$n" sh -c 'echo in-container; exit 5'
	[ "$status" -eq 5 ]
	expect_eq "exec output" "$output" in-container
	run bash -c 'echo piped | "$@"' _ "$DOCKER_BIN" -H "unix://$DOCKER_SOCK" exec -i "$n" cat
	expect_eq "exec -i" "$output" piped
	run dk exec -e X=1 -u 1000 -w /tmp "$n" sh -c 'echo $X $(id -u) $(pwd)'
	expect_eq "exec -e -u -w" "$output" "1 1000 /tmp"
	run dk exec "$n" sh -c 'test -t 0 || echo no-tty'
	expect_eq "exec without -t" "$output" no-tty
	run script -qec "$DOCKER_BIN -H unix://$DOCKER_SOCK exec -t $n tty" /dev/null </dev/null
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"/dev/pts/"* ]] || fail "exec -t: tty says '$output'"
	# The exec'd processes are confined like the init.
	run dk exec "$n" grep '^Seccomp:' /proc/self/status
	expect_eq "exec seccomp" "$(tr -d '\t ' <<<"$output")" "Seccomp:2"
	run dk exec "$n" cat /proc/self/cgroup
	expect_contains "exec cgroup" "$output" "memory:/docker/$(dk_id "$n")"
}

@test "docker run -t: the init gets a terminal" {
	run script -qec "$DOCKER_BIN -H unix://$DOCKER_SOCK run --rm -t --runtime stasis --network none $E2E_IMAGE sh -c 'tty; stty size'" /dev/null </dev/null
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"/dev/pts/0"* ]] || fail "run -t: tty says '$output'"
}

@test "docker top and docker stats --no-stream" {
	local n
	newname n
	drun -d --network none --name "$n" --memory 64m "$E2E_IMAGE" sh -c 'sleep 1000 & exec sleep 2000'
	wait_for 5 bash -c "[ \$(cat $(dk_cgroup "$n" pids)/cgroup.procs | wc -l) -ge 2 ]"
	run dk top "$n"
	echo "$output"
	[ "$status" -eq 0 ]
	expect_contains "top" "$output" "sleep 1000"
	expect_contains "top" "$output" "sleep 2000"
	run dk stats --no-stream --format '{{.Name}} {{.MemUsage}} {{.PIDs}}' "$n"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == "$n "*" / 64MiB 2" ]] || fail "stats: '$output'"
	[[ $output != *" 0B / "* ]] || fail "stats shows no memory use: '$output'"
}

@test "docker pause/unpause freezes and thaws" {
	local n
	newname n
	drun -d --network none --name "$n" "$E2E_IMAGE" sh -c 'i=0; while true; do i=$((i+1)); echo $i >/tmp/n.new; mv /tmp/n.new /tmp/n; sleep 0.1; done'
	wait_for 10 dk exec "$n" test -s /tmp/n
	dk pause "$n"
	expect_eq "status" "$(dk_status "$n")" paused
	expect_eq "freezer.state" "$(cat "$(dk_cgroup "$n" freezer)/freezer.state")" FROZEN
	dk unpause "$n"
	expect_eq "status" "$(dk_status "$n")" running
	expect_eq "freezer.state" "$(cat "$(dk_cgroup "$n" freezer)/freezer.state")" THAWED
	local a b
	a=$(dk exec "$n" cat /tmp/n)
	sleep 0.5
	b=$(dk exec "$n" cat /tmp/n)
	[ "$b" -gt "$a" ] || fail "not running after unpause: $a then $b"
}

# ------------------------------------------------------------ stopping

@test "docker kill: SIGKILL by default, -s delivers other signals" {
	local n
	newname n
	drun -d --network none --name "$n" "$E2E_IMAGE" \
		sh -c 'trap "echo got-usr1" USR1; while true; do sleep 0.1; done'
	sleep 0.3
	dk kill -s USR1 "$n"
	wait_for 5 bash -c "'$DOCKER_BIN' -H 'unix://$DOCKER_SOCK' logs '$n' | grep -q got-usr1"
	expect_eq "status" "$(dk_status "$n")" running
	dk kill "$n"
	wait_for 10 bash -c "[ \"\$('$DOCKER_BIN' -H 'unix://$DOCKER_SOCK' inspect -f '{{.State.Status}}' '$n')\" = exited ]"
	expect_eq "exit code" "$(dk inspect -f '{{.State.ExitCode}}' "$n")" 137
}

@test "docker stop: SIGTERM to a handler exits cleanly; an init ignoring it is killed after -t" {
	local n m
	newname n
	newname m
	drun -d --network none --name "$n" "$E2E_IMAGE" \
		sh -c 'trap "exit 0" TERM; while true; do sleep 0.1; done'
	sleep 0.3
	dk stop -t 10 "$n"
	expect_eq "exit code (trap)" "$(dk inspect -f '{{.State.ExitCode}}' "$n")" 0
	# sleep as pid 1 has no handler, so SIGTERM does nothing.
	drun -d --network none --name "$m" "$E2E_IMAGE" sleep 1000
	dk stop -t 1 "$m"
	expect_eq "exit code (ignored)" "$(dk inspect -f '{{.State.ExitCode}}' "$m")" 137
	# A stopped container starts again.
	dk start "$n"
	expect_eq "restarted" "$(dk_status "$n")" running
}

@test "docker rm -f: a running container goes, with its state and cgroups" {
	local n id
	newname n
	drun -d --network none --name "$n" --memory 64m "$E2E_IMAGE" sh -c 'sleep 1000 & sleep 1000'
	id=$(dk_id "$n")
	[ -n "$(dk_leftovers "$id")" ] || fail "no state or cgroup found while running: layout changed?"
	local pid
	pid=$(dk inspect -f '{{.State.Pid}}' "$n")
	dk rm -f "$n"
	run dk inspect "$n"
	[ "$status" -ne 0 ]
	[ ! -d "/proc/$pid" ] || fail "init $pid still alive"
	wait_for 5 bash -c "! ls -d /sys/fs/cgroup/*/docker/$id 2>/dev/null" || true
	[ -z "$(dk_leftovers "$id")" ] || fail "left after rm -f: $(dk_leftovers "$id")"
}
