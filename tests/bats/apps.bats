#!/usr/bin/env bats
# Real applications survive checkpoint/restore (issue 14). Each runs the
# host's Debian python3 (its /usr bound read-only into a busybox rootfs),
# is checkpointed, its bundle copied elsewhere and the original removed,
# and is restored under a new id from the copy; then the application's own
# state is checked, not only that it runs:
#  - a multi-threaded interpreter feeding a child over a pipe and
#    appending to a file: both sequences go on, nothing lost or repeated;
#  - a TCP client and server on the container's loopback
#    (--tcp-established): the same connection keeps echoing, the count
#    goes on;
#  - 1 GiB of memory filled with random bytes: its SHA-256, computed
#    inside, is the same after the restore;
#  - IPC and kernel objects: SysV shared memory, semaphores and message
#    queues, eventfd, timerfd (still firing: stasis rearms a periodic one
#    CRIU brings back disarmed), signalfd (and a pending signal), epoll,
#    inotify, and files in the tmpfs /dev/shm each hold their state after
#    the restore;
#  - POSIX message queues: one held open is refused before CRIU, saying
#    CRIU cannot dump it; queued messages with no fd open are checked
#    after a restore, or skipped saying why (CRIU 4.1 refuses them).
# The programs are in tests/bats/apps/, the helpers in apps.bash.

load helpers
load apps

setup() {
	common_setup
	command -v criu >/dev/null || skip "criu not on PATH (run make deps; put /usr/local/sbin first)"
	IMG=$BATS_TEST_TMPDIR/img
}

teardown() {
	common_teardown
}

@test "python3 threads, a child fed over a pipe and an appended file: nothing lost or repeated after restore" {
	setup_host_usr_bundle "$PYTHON" -u /app/threads.py
	local a b at
	a=$(new_id)
	b=$(new_id)
	run_piped "$a"
	wait_log "$a" '^child 20$'
	app_checkpoint "$a"
	at=$(tail -n 1 "$ROOTFS/data/seq")
	move_bundle

	run restore_piped "$b"
	assert_success
	# both threads go on: the child echoes and the file grows past
	# where they were
	local c
	c=$(sed -n 's/^child //p' "$BATS_TEST_TMPDIR/$a.log" | tail -n 1)
	wait_log "$b" "^child $((c + 20))\$"
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(tail -n 1 "$ROOTFS/data/seq")" -gt $((at + 20)) ] && break
		sleep 0.05
	done
	[ "$(tail -n 1 "$ROOTFS/data/seq")" -gt $((at + 20)) ] || fail "/data/seq in the copy stopped at $(tail -n 1 "$ROOTFS/data/seq") (checkpoint at $at)"
	# the file: one run of numbers from 0 through the checkpoint and on
	assert_seq "/data/seq" <"$ROOTFS/data/seq"
	# the child: what it wrote before (old pipe) and after (new pipe),
	# numbers queued in the pipe between them at the checkpoint included
	cat "$BATS_TEST_TMPDIR/$a.log" "$BATS_TEST_TMPDIR/$b.log" | sed -n 's/^child //p' | assert_seq "the child's output"
	assert_equal "$(grep -vc '^child [0-9]*$' "$BATS_TEST_TMPDIR/$b.log")" 0 "lines other than the child's"
	# still the same three threads and the child
	local pid
	pid=$(container_pid "$b")
	assert_equal "$(ls "/proc/$pid/task" | wc -l)" 3 "threads of the restored interpreter"
	assert_equal "$(pgrep -P "$pid" | wc -l)" 1 "children of the restored interpreter"
}

@test "a TCP client and server on the container's loopback keep their connection through restore (--tcp-established)" {
	setup_host_usr_bundle "$PYTHON" -u /app/tcp.py
	local a b
	a=$(new_id)
	b=$(new_id)
	run_piped "$a"
	wait_log "$a" '^echo 20$'
	run stasis checkpoint --tcp-established --image-path "$IMG" "$a"
	if [ "$status" -ne 0 ] && [[ "$output" == *"Can't get 1:16 opt: Operation not supported"* ]]; then
		skip "CRIU $(criu --version | sed -n 's/^Version: //p') cannot dump inet sockets on kernel $(uname -r) (SO_PASSCRED on TCP is EOPNOTSUPP since 6.16; criu#2718, fixed in CRIU 4.2; scripts/criu-patches has the backport)"
	fi
	assert_success
	assert_no_container "$a"
	wait_pid_gone "$(cat "$BATS_TEST_TMPDIR/$a.rpid")" 10 || fail "$a's processes still write to its pipe"
	move_bundle

	run restore_piped "$b" --tcp-established
	assert_success
	local last
	last=$(sed -n 's/^echo //p' "$BATS_TEST_TMPDIR/$a.log" | tail -n 1)
	wait_log "$b" "^echo $((last + 20))\$"
	# the same connection: no reconnect, no close, and the count goes on
	# from the checkpoint with no number lost or echoed twice
	assert_equal "$(grep -c '^connected$' "$BATS_TEST_TMPDIR/$a.log")" 1 "connects before the checkpoint"
	assert_equal "$(grep -vc '^echo [0-9]*$' "$BATS_TEST_TMPDIR/$b.log")" 0 "lines other than echoes after restore"
	sed -n 's/^echo //p' "$BATS_TEST_TMPDIR/$a.log" "$BATS_TEST_TMPDIR/$b.log" | assert_seq "echoes"
}

@test "1 GiB of memory filled inside has the same checksum after restore" {
	# 1 GiB unless the machine cannot hold it: the process needs its
	# size, and CRIU, the images' page cache and bats some headroom; with
	# less available, the largest size that fits (said on fd 3)
	local mib=1024 avail disk
	avail=$(awk '$1 == "MemAvailable:" {print int($2 / 1024)}' /proc/meminfo)
	if [ "$avail" -lt $((2 * mib + 512)) ]; then
		mib=$(((avail - 512) / 2))
		[ "$mib" -ge 64 ] || skip "only $avail MiB of memory available: not even 64 MiB fit with CRIU's headroom"
		echo "# only $avail MiB available: checking $mib MiB instead of 1 GiB" >&3
	fi
	disk=$(df -Pm "$BATS_TEST_TMPDIR" | awk 'NR == 2 {print $4}')
	[ "$disk" -ge $((mib + 256)) ] || skip "only $disk MiB free on $BATS_TEST_TMPDIR for a $mib MiB checkpoint image"
	setup_host_usr_bundle "$PYTHON" -u /app/memory.py "$mib"
	local a b sum
	a=$(new_id)
	b=$(new_id)
	run_piped "$a"
	wait_log "$a" '^sum [0-9a-f]{64}$' 60
	sum=$(sed -n 's/^sum //p' "$BATS_TEST_TMPDIR/$a.log")
	app_checkpoint "$a"
	# CRIU wrote all of it
	local pages
	pages=$(jq -r '.pages_written' "$IMG/stats.json" 2>/dev/null || echo 0)
	is_runc || [ "$pages" -ge $((mib * 256)) ] || fail "CRIU wrote $pages pages, fewer than $mib MiB"
	move_bundle

	run restore_piped "$b"
	assert_success
	local pid
	pid=$(container_pid "$b")
	local rss
	rss=$(awk '$1 == "VmRSS:" {print int($2 / 1024)}' "/proc/$pid/status")
	[ "$rss" -ge "$mib" ] || fail "restored interpreter has $rss MiB resident, less than $mib"
	run stasis kill "$b" USR1
	assert_success
	wait_log "$b" '^sum ' 60
	assert_equal "$(sed -n 's/^sum //p' "$BATS_TEST_TMPDIR/$b.log")" "$sum" "checksum of the $mib MiB after restore"
}

@test "SysV shm/sem/msg, eventfd, timerfd, signalfd, epoll, inotify and /dev/shm files hold their state after restore" {
	# the container's own IPC namespace (config.json's default) is what
	# CRIU dumps the SysV objects with; /dev/shm is the container's tmpfs,
	# dumped with its files
	setup_host_usr_bundle "$PYTHON" -u /app/ipc.py
	jq -e '.linux.namespaces | any(.type == "ipc")' "$BUNDLE/config.json" >/dev/null || fail "no ipc namespace in config.json"
	local a b
	a=$(new_id)
	b=$(new_id)
	run_piped "$a"
	wait_log "$a" '^ready$'
	app_checkpoint "$a"
	move_bundle

	run restore_piped "$b"
	assert_success
	run stasis kill "$b" USR1
	assert_success
	wait_log "$b" '^done$'
	# the restored program went on from where it waited, it did not set
	# its objects up again
	! grep -q '^ready$' "$BATS_TEST_TMPDIR/$b.log" || fail "the restored program started over: $(log_of "$b")"
	local obj
	for obj in shm sem msg eventfd timerfd signalfd epoll inotify devshm; do
		grep -qx "PASS $obj" "$BATS_TEST_TMPDIR/$b.log" || fail "$obj: $(grep "^FAIL $obj" "$BATS_TEST_TMPDIR/$b.log" || echo "no result") (all: $(log_of "$b" | tr '\n' ' '))"
	done
	! grep -q FAIL "$BATS_TEST_TMPDIR/$b.log" || fail "$(log_of "$b")"
}

@test "a POSIX message queue held open is refused before CRIU, saying CRIU cannot dump it" {
	setup_host_usr_bundle "$PYTHON" -u /app/ipc.py hold-mq
	local a
	a=$(new_id)
	run_piped "$a"
	wait_log "$a" '^ready$'
	run stasis checkpoint --image-path "$IMG" "$a"
	assert_failure
	if ! is_runc; then
		assert_output_contains "POSIX message queue /stasis-app-q (fd "
		assert_output_contains "criu#2285"
		assert_output_not_contains "bind-mount"
	fi
	assert_equal "$(state_field "$a" status)" running "status after the refused checkpoint"
}

@test "POSIX message queue messages (no fd open) survive restore, or the test says why not" {
	# the queue's fd closed, its messages left in the IPC namespace
	setup_host_usr_bundle "$PYTHON" -u /app/ipc.py mq
	local b c
	b=$(new_id)
	c=$(new_id)
	run_piped "$b"
	wait_log "$b" '^ready$'
	run stasis checkpoint --image-path "$IMG" "$b"
	if [ "$status" -ne 0 ] && [[ "$output" == *"mqueue isn't empty"* ]]; then
		is_runc || assert_output_contains "criu#2285"
		assert_equal "$(state_field "$b" status)" running "status after the failed checkpoint"
		skip "CRIU $(criu --version | sed -n 's/^Version: //p') cannot checkpoint POSIX message queues: it refuses an mqueue fs holding messages (\"mqueue isn't empty\") and cannot dump an open queue fd; no kernel interface reads a queue without consuming it (criu#2285)"
	fi
	assert_success
	wait_pid_gone "$(cat "$BATS_TEST_TMPDIR/$b.rpid")" 10 || fail "$b's processes still write to its pipe"
	move_bundle
	run restore_piped "$c"
	assert_success
	run stasis kill "$c" USR1
	assert_success
	wait_log "$c" '^done$'
	grep -qx "PASS mq" "$BATS_TEST_TMPDIR/$c.log" || fail "mq: $(log_of "$c" | tr '\n' ' ')"
}
