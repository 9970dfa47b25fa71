#!/usr/bin/env bats
# checkpoint / restore: a running container frozen to CRIU images and brought
# back (under a new id, from a copied bundle, with new stdio pipes, new
# cgroups, a new console or, in the foreground, the restoring terminal),
# and the errors when it cannot be. Flags through the binary: --leave-running,
# --shell-job, --ext-unix-sk, --tcp-established, restore --tcp-close (the
# connection comes back closed), --file-locks (the lock held again after
# restore, also when restore is not given the flag), --link-remap (a file
# deleted from a host bind mount, another name left: refused without it;
# with it linked back, written on after restore, CRIU's link removed
# again), --empty-ns network (nothing of the netns dumped, restored empty
# with lo up), --pre-dump,
# --lazy-pages (and restore's message without the lazy-pages daemon),
# restore's --auto-dedup and checkpoint's (on a pre-dump parent: skipped
# without soft-dirty tracking), --tcp-skip-in-flight, --manage-cgroups-mode
# (soft, ignore, strict and full images), --lsm-*, an
# unknown --format refused before anything is frozen. CRIU options from a
# config file: the org.criu.config annotation's and the default
# /etc/criu/stasis.conf (written by its test only around the commands that
# need it, and put back as it was).
# tmpfs mounts holding no file data (masked dirs, /sys/fs/cgroup, /dev,
# /dev/shm) come back identical from stasis's metadata; those holding
# files, or changing before the freeze, are left to CRIU and keep their
# contents.
#
# The containers write to PIPES drained by a background cat, as real clients
# give them (a regular file as stdout must be opened for appending or CRIU
# refuses the restore: "has bad size"). Each restore gets a new pipe.

load helpers
load crpipes

COUNTER=(sh -c 'i=0; while :; do echo $i; i=$((i+1)); sleep 0.1; done')
CRHELPER=${CRHELPER:-$REPO_ROOT/build/crhelper}
PTYHOLD=${PTYHOLD:-$REPO_ROOT/build/ptyhold}

setup() {
	common_setup
	command -v criu >/dev/null || skip "criu not on PATH (run make deps; put /usr/local/sbin first)"
	IMG=$BATS_TEST_TMPDIR/img
}

teardown() {
	common_teardown
}

# ---------------------------------------------------------------- helpers

# start_reader, run_piped, restore_piped, log_of, wait_lines,
# wait_count_above, assert_continues ... : crpipes.bash

# cgroup_paths PID: PID's cgroup in every hierarchy, as "ctrl:path".
cgroup_paths() {
	awk -F: '{print $2 ":" $3}' "/proc/$1/cgroup"
}

# assert_in_own_cgroups PID ID: PID is in ID's cgroup in every hierarchy
# (v1 controllers and the unified one).
assert_in_own_cgroups() {
	local line
	while read -r line; do
		[[ "$line" == */"$2" ]] || fail "pid $1 is not in $2's cgroup: $line"
	done < <(cgroup_paths "$1")
}

# assert_no_cgroups ID: no hierarchy has a cgroup dir for ID.
assert_no_cgroups() {
	local d
	for d in $(cgroup_dirs_for "$1"); do
		[ ! -d "$d" ] || fail "cgroup $d left behind"
	done
}

# cgroup_dir CTRL ID: the existing cgroup dir of ID in hierarchy CTRL.
cgroup_dir() {
	local d
	for d in $(cgroup_dirs_for "$2"); do
		[[ "$d" == /sys/fs/cgroup/$1/* ]] && [ -d "$d" ] && echo "$d" && return 0
	done
	return 1
}

# log_path: the file named by "full log: PATH" in $output's first line.
log_path() {
	local l
	l=$(head -n 1 <<<"$output")
	[[ "$l" == *"full log: "* ]] || return 1
	l=${l##*full log: }
	echo "${l%%[ ;)]*}"
}

# assert_still_running ID: running, and still writing lines to its pipe.
assert_still_running() {
	assert_equal "$(state_field "$1" status)" running "status of $1"
	wait_lines "$1" $(($(lines_of "$1") + 2))
}

# need_crhelper: copy the static test helper into the bundle's /bin.
need_crhelper() {
	[ -x "$CRHELPER" ] || skip "crhelper not built (CGO_ENABLED=0 go build -o build/crhelper ./tests/cmd/crhelper)"
	! ldd "$CRHELPER" >/dev/null 2>&1 || skip "crhelper is not static (build it with CGO_ENABLED=0)"
	cp "$CRHELPER" "$ROOTFS/bin/crhelper"
}

# start_tty_receiver NAME: recvtty on NAME.sock writing the terminal to
# NAME.tty; its pid in NAME.rpid (so wait_reader_done works).
start_tty_receiver() {
	[ -x "$RECVTTY" ] || skip "recvtty not built (make helpers)"
	local t=$BATS_TEST_TMPDIR
	: >"$t/$1.tty"
	"$RECVTTY" --out "$t/$1.tty" --ready "$t/$1.ready" "$t/$1.sock" \
		</dev/null >"$t/$1.recvtty.log" 2>&1 3>&- &
	echo $! >"$t/$1.rpid"
	on_teardown "kill $!"
	wait_for_file "$t/$1.ready"
}

# start_on_pty NAME CMD...: run CMD with a new host pty as its stdio and
# controlling terminal (build/ptyhold), as from a shell in a terminal: what
# is written to it goes to NAME.tty, the slave's path to NAME.pts, CMD's
# exit status to NAME.status; ptyhold, which lives until every holder of
# the terminal has closed it, has its pid in NAME.rpid (wait_reader_done).
start_on_pty() {
	[ -x "$PTYHOLD" ] || skip "ptyhold not built (make helpers)"
	local t=$BATS_TEST_TMPDIR name=$1
	shift
	: >"$t/$name.tty"
	"$PTYHOLD" --out "$t/$name.tty" --pts "$t/$name.pts" --status "$t/$name.status" "$@" \
		</dev/null >"$t/$name.ptyhold.log" 2>&1 3>&- &
	echo $! >"$t/$name.rpid"
	on_teardown "kill $!"
}

# pty_status NAME: wait for the command on NAME's terminal to exit and
# print its exit status.
pty_status() {
	wait_for_file "$BATS_TEST_TMPDIR/$1.status" 20 && cat "$BATS_TEST_TMPDIR/$1.status"
}

# tty_counts NAME: the numbers on NAME's terminal ("n 12" lines).
tty_counts() {
	tr -d '\r' <"$BATS_TEST_TMPDIR/$1.tty" | sed -n 's/^n \([0-9][0-9]*\)$/\1/p'
}

wait_tty_count_above() {
	local i l
	for ((i = 0; i < 100; i++)); do
		l=$(tty_counts "$1" | tail -n 1)
		[ -n "$l" ] && [ "$l" -gt "$2" ] && return 0
		sleep 0.05
	done
	fail "terminal $1 did not count past $2: $(tr -d '\r' <"$BATS_TEST_TMPDIR/$1.tty" | tail -n 3 | tr '\n' ' ')"
}

# ---------------------------------------------------------------- basics

# piped_checkpoint ID: run the container with its output on a pipe, let it
# count a little, checkpoint it to $IMG (the container is gone after) and
# wait until its output pipe has closed.
piped_checkpoint() {
	run_piped "$1"
	wait_lines "$1" 3
	run stasis checkpoint --image-path "$IMG" "$1"
	assert_success
	wait_reader_done "$1"
}

@test "checkpoint stops the container; restore under a new id continues its count on new pipes" {
	setup_bundle "${COUNTER[@]}"
	local a b pid_a pid_b
	a=$(new_id)
	b=$(new_id)
	run_piped "$a"
	wait_lines "$a" 5
	pid_a=$(container_pid "$a")

	run stasis checkpoint --image-path "$IMG" "$a"
	assert_success
	if ! is_runc; then
		assert_output_matches "^checkpoint $a: frozen [0-9.]+ ms"
		jq -e '.frozen_time_us > 0 and .pages_written > 0' "$IMG/stats.json" >/dev/null ||
			fail "stats.json: $(cat "$IMG/stats.json")"
		jq -e '.id == $id and (.descriptors | length) == 3' --arg id "$a" "$IMG/stasis.json" >/dev/null ||
			fail "stasis.json: $(cat "$IMG/stasis.json")"
	fi
	jq -e 'length == 3 and (.[1] | startswith("pipe:"))' "$IMG/descriptors.json" >/dev/null ||
		fail "descriptors.json: $(cat "$IMG/descriptors.json")"
	[ -e "$IMG/inventory.img" ] || fail "no CRIU images in $IMG"
	# the checkpointed container is gone, as with runc
	wait_pid_gone "$pid_a" || fail "init $pid_a alive after checkpoint"
	assert_no_container "$a"
	wait_reader_done "$a"

	run restore_piped "$b"
	assert_success
	assert_equal "$(state_field "$b" status)" running "status after restore"
	assert_equal "$(state_field "$b" id)" "$b" id
	pid_b=$(container_pid "$b")
	[ "$pid_b" -gt 0 ] && [ "$pid_b" != "$pid_a" ] || fail "restored pid $pid_b (checkpointed $pid_a)"
	pid_alive "$pid_b" || fail "restored init $pid_b not alive"
	wait_lines "$b" 5
	assert_continues "$a" "$b"
	assert_consecutive "$b"
	is_runc || [ -s "$IMG/restore-stats.json" ] || fail "no restore-stats.json"

	run stasis delete --force "$b"
	assert_success
	wait_pid_gone "$pid_b"
	assert_no_container "$b"
}

@test "--leave-running keeps the container; its image restores under another id beside it" {
	# stdout is a named fifo here: a file outside the container, which
	# restore replaces with its own stdout as it does a pipe
	PIPE=fifo
	setup_bundle "${COUNTER[@]}"
	local a b pid_a at
	a=$(new_id)
	b=$(new_id)
	run_piped "$a"
	wait_lines "$a" 3
	pid_a=$(container_pid "$a")

	run stasis checkpoint --leave-running --image-path "$IMG" "$a"
	assert_success
	at=$(last_of "$a")
	assert_equal "$(state_field "$a" status)" running "status after --leave-running"
	assert_equal "$(container_pid "$a")" "$pid_a" "pid after --leave-running"
	wait_count_above "$a" $((at + 3))

	run restore_piped "$b"
	assert_success
	wait_lines "$b" 3
	# the copy starts from the checkpoint, not from 0 or from where $a is now
	local first
	first=$(first_of "$b")
	[ "$first" -gt 0 ] && [ "$first" -ge $((at - 1)) ] && [ "$first" -le $((at + 3)) ] ||
		fail "restored copy starts at $first, checkpoint was at $at"
	assert_consecutive "$b"
	# both alive, counting on their own pipes
	assert_still_running "$a"
	assert_still_running "$b"
	[ "$(container_pid "$b")" != "$pid_a" ] || fail "restored copy has the original's pid"

	local id
	for id in "$a" "$b"; do
		run stasis kill "$id" KILL
		assert_success
		wait_for_status "$id" stopped
		run stasis delete "$id"
		assert_success
		assert_no_container "$id"
	done
}

@test "restore from a copy of the bundle (the original removed) uses the copy's rootfs" {
	setup_bundle sh -c 'i=0; while :; do echo $i; echo $i >>/count; i=$((i+1)); sleep 0.1; done'
	update_config '.root.readonly = false'
	local a b at
	a=$(new_id)
	b=$(new_id)
	piped_checkpoint "$a"
	at=$(last_of "$a")

	local old=$BUNDLE new=$BATS_TEST_TMPDIR/elsewhere/bundle2
	mkdir -p "${new%/*}"
	cp -a "$old" "$new"
	rm -rf "$old"
	BUNDLE=$new

	run restore_piped "$b" --bundle "$new"
	assert_success
	assert_equal "$(state_field "$b" bundle)" "$new" "bundle of the restored container"
	assert_equal "$(state_field "$b" rootfs)" "$new/rootfs" "rootfs of the restored container"
	wait_lines "$b" 3
	assert_continues "$a" "$b"
	# the restored process writes into the copy
	local i
	for ((i = 0; i < 50; i++)); do
		[ "$(tail -n 1 "$new/rootfs/count")" -gt "$((at + 2))" ] && break
		sleep 0.1
	done
	[ "$(tail -n 1 "$new/rootfs/count")" -gt "$((at + 2))" ] || fail "/count in the copy stopped at $(tail -n 1 "$new/rootfs/count")"
	[ ! -e "$old" ] || fail "restore recreated the original bundle dir"
}

@test "three checkpoint/restore cycles under new ids keep the output flowing; cgroups move along" {
	setup_bundle "${COUNTER[@]}"
	local ids=() i pid
	for i in 1 2 3 4; do ids+=("$(new_id)"); done
	run_piped "${ids[0]}"
	wait_lines "${ids[0]}" 3
	assert_in_own_cgroups "$(container_pid "${ids[0]}")" "${ids[0]}"
	for i in 0 1 2; do
		local old=${ids[i]} new=${ids[i + 1]}
		run stasis checkpoint --image-path "$IMG.$i" "$old"
		assert_success
		assert_no_container "$old"
		wait_reader_done "$old"
		run restore_piped "$new" --image-path "$IMG.$i"
		assert_success
		wait_lines "$new" 3
		assert_continues "$old" "$new"
		assert_consecutive "$new"
		pid=$(container_pid "$new")
		# every hierarchy: the process is in the new container's cgroup,
		# the old container's dirs are gone
		assert_in_own_cgroups "$pid" "$new"
		assert_no_cgroups "$old"
		local ctrl
		for ctrl in $(awk -F: '{print $2}' /proc/self/cgroup); do
			ctrl=${ctrl#name=}
			ctrl=${ctrl%%,*}
			[ -n "$ctrl" ] || ctrl=unified
			[ -d "/sys/fs/cgroup/$ctrl" ] || continue
			cgroup_dir "$ctrl" "$new" >/dev/null || fail "no $ctrl cgroup for $new"
		done
	done
	run stasis delete --force "${ids[3]}"
	assert_success
	assert_no_container "${ids[3]}"
}

@test "a container with its own cgroup namespace restores into the new id's cgroups, and inside every cgroup path is still /" {
	setup_bundle "${COUNTER[@]}"
	update_config '.linux.namespaces += [{"type": "cgroup"}]'
	local a b pid
	a=$(new_id)
	b=$(new_id)
	piped_checkpoint "$a"
	assert_no_container "$a"
	run restore_piped "$b"
	assert_success
	wait_lines "$b" 3
	assert_continues "$a" "$b"
	pid=$(container_pid "$b")
	assert_in_own_cgroups "$pid" "$b"
	assert_no_cgroups "$a"
	# the namespace's root moved with the process: the new cgroup, not the
	# old one (which would show as "/.." paths) or the host's root
	[ "$(readlink "/proc/$pid/ns/cgroup")" != "$(readlink /proc/self/ns/cgroup)" ] ||
		fail "restored init shares the host's cgroup namespace"
	run stasis exec "$b" cat /proc/1/cgroup
	assert_success
	local line
	while read -r line; do
		[[ "$line" == *:/ ]] || fail "inside after restore: $line (all: $output)"
	done <<<"$output"
	run stasis delete --force "$b"
	assert_success
	assert_no_container "$b"
}

@test "bind-mounted host file and dir are restored with no extra flags" {
	local hosts=$BATS_TEST_TMPDIR/hosts data=$BATS_TEST_TMPDIR/data
	echo "10.9.8.7 stasis-test-host" >"$hosts"
	mkdir "$data"
	# fd 4 stays open on the file, fd 5 on a log in the dir; on cue (the
	# file "go" in the dir) the process copies the file by path and by fd
	setup_bundle sh -c 'exec 4</etc/test-hosts 5>>/data/log; i=0
		while :; do
			echo $i >&5; echo $i
			if [ -e /data/go ]; then cat /etc/test-hosts >/data/by-path; cat <&4 >/data/by-fd; rm /data/go; fi
			i=$((i+1)); sleep 0.1
		done'
	update_config '.mounts += [
		{"destination": "/etc/test-hosts", "type": "bind", "source": $h, "options": ["rbind", "ro"]},
		{"destination": "/data", "type": "bind", "source": $d, "options": ["rbind", "rw"]}]' \
		--arg h "$hosts" --arg d "$data"
	local a b at
	a=$(new_id)
	b=$(new_id)
	piped_checkpoint "$a"
	at=$(tail -n 1 "$data/log")

	run restore_piped "$b"
	assert_success
	wait_lines "$b" 2
	touch "$data/go"
	local i
	for ((i = 0; i < 50; i++)); do
		[ ! -e "$data/go" ] && [ -s "$data/by-fd" ] && break
		sleep 0.1
	done
	assert_equal "$(cat "$data/by-path" 2>/dev/null)" "10.9.8.7 stasis-test-host" "file read by path after restore"
	assert_equal "$(cat "$data/by-fd" 2>/dev/null)" "10.9.8.7 stasis-test-host" "file read through the restored fd"
	# the restored fd 5 appends to the host's log: the count continues there
	[ "$(tail -n 1 "$data/log")" -gt "$at" ] || fail "log in the bind-mounted dir stopped at $at"
	[ "$(grep -c "^$at\$" "$data/log")" -eq 1 ] || fail "count $at logged twice: restarted?"
}

@test "a terminal container restores with its output on a NEW console socket" {
	setup_bundle sh -c 'i=0; while :; do echo "n $i"; i=$((i+1)); sleep 0.1; done'
	update_config '.process.terminal = true'
	local a b at
	a=$(new_id)
	b=$(new_id)
	start_tty_receiver tty1
	run run_detached "$a" --console-socket "$BATS_TEST_TMPDIR/tty1.sock"
	assert_success
	wait_tty_count_above tty1 3

	# no --shell-job: the pty master is outside (recvtty has it), which
	# CRIU handles as an orphan pts master; stasis sends the new master to
	# the restore's console socket
	run stasis checkpoint --image-path "$IMG" "$a"
	assert_success
	assert_no_container "$a"
	at=$(tty_counts tty1 | tail -n 1)

	# restoring a terminal needs somewhere to send the master
	run stasis restore -d --image-path "$IMG" --bundle "$BUNDLE" "$b" </dev/null
	assert_failure
	is_runc || assert_output_contains "restore -d needs --console-socket"
	assert_no_container "$b"

	start_tty_receiver tty2
	run stasis restore -d --image-path "$IMG" --bundle "$BUNDLE" --console-socket "$BATS_TEST_TMPDIR/tty2.sock" "$b" </dev/null
	assert_success
	assert_equal "$(state_field "$b" status)" running "status after restore"
	wait_tty_count_above tty2 $((at + 2))
	local first
	first=$(tty_counts tty2 | head -n 1)
	[ "$first" -gt "$at" ] && [ "$first" -le $((at + 3)) ] || fail "new terminal starts at $first, old one ended at $at"
	# the old receiver saw nothing after the checkpoint
	assert_equal "$(tty_counts tty1 | tail -n 1)" "$at" "old terminal's last count"
	run stasis delete --force "$b"
	assert_success
	assert_no_container "$b"
}

@test "a terminal container restored in the FOREGROUND without --console-socket runs on the restoring terminal: output, input, exit code" {
	# it counts until /go exists, then says how far it got, reads a line
	# from its terminal and answers
	setup_bundle sh -c 'i=0; while [ ! -e /go ]; do echo "n $i"; i=$((i+1)); sleep 0.1; done
		echo "ready after $i on $(tty) size $(stty size)"; read line; echo "got:$line"; exit 7'
	update_config '.process.terminal = true | .root.readonly = false'
	local a b at
	a=$(new_id)
	b=$(new_id)
	start_tty_receiver tty1
	run run_detached "$a" --console-socket "$BATS_TEST_TMPDIR/tty1.sock"
	assert_success
	wait_tty_count_above tty1 3
	run stasis checkpoint --image-path "$IMG" "$a"
	assert_success
	assert_no_container "$a"
	at=$(tty_counts tty1 | tail -n 1)
	touch "$ROOTFS/go"

	# restore runs on a pty of its own (ptyrun), as from a user's shell
	run_on_pty -size 33x111 -expect ready -send $'typed-in\n' \
		"$STASIS" --root "$STASIS_ROOT" restore --image-path "$IMG" --bundle "$BUNDLE" "$b"
	assert_status 7
	local ready
	ready=$(grep '^ready after ' <<<"$output")
	# a pty of the container's own devpts, with the restoring terminal's
	# window size from the first moment it runs again (not the size the
	# checkpointed terminal had)
	[[ "$ready" =~ ^"ready after "([0-9]+)" on /dev/pts/"[0-9]+" size 33 111"$ ]] || fail "no ready line (on a container pty, 33x111): $output"
	[ "${BASH_REMATCH[1]}" -gt "$at" ] || fail "the restored process counted to ${BASH_REMATCH[1]}, the checkpoint was at $at: restarted?"
	assert_output_contains $'typed-in\ngot:typed-in'
	assert_output_not_contains "ptyrun:"
	assert_no_container "$b"
}

@test "a container on the host's terminal (a shell job): refused without --shell-job; with it, restored onto the restoring terminal" {
	# `stasis run -d` from a terminal (ptyhold) with process.terminal false:
	# the container's stdio is that host pty, from outside the container
	setup_bundle sh -c 'i=0; while :; do echo "n $i"; i=$((i+1)); sleep 0.1; done'
	local a b pid at first fd t=$BATS_TEST_TMPDIR
	a=$(new_id)
	b=$(new_id)
	start_on_pty pty1 "$STASIS" --root "$STASIS_ROOT" run -d --bundle "$BUNDLE" "$a"
	assert_equal "$(pty_status pty1)" 0 "exit status of run -d on the terminal ($(tr -d '\r' <"$t/pty1.tty"))"
	wait_tty_count_above pty1 3
	pid=$(container_pid "$a")
	assert_equal "$(readlink "/proc/$pid/fd/1")" "$(cat "$t/pty1.pts")" "the container's stdout"

	run stasis checkpoint --image-path "$IMG" "$a"
	assert_failure
	is_runc || assert_refused_before_criu "terminal $(cat "$t/pty1.pts")" "retry with --shell-job"
	assert_equal "$(state_field "$a" status)" running "status after the refused checkpoint"
	wait_tty_count_above pty1 $(($(tty_counts pty1 | tail -n 1) + 2))

	# the restore runs from another terminal, opened while the first one
	# still is (so it is another /dev/pts/N), once $t/go exists
	start_on_pty pty2 sh -c 'f=$1; shift; while [ ! -e "$f" ]; do sleep 0.05; done; exec "$@"' sh "$t/go" \
		"$STASIS" --root "$STASIS_ROOT" restore -d --shell-job --image-path "$IMG" --bundle "$BUNDLE" "$b"
	wait_for_file "$t/pty2.pts"
	[ "$(cat "$t/pty2.pts")" != "$(cat "$t/pty1.pts")" ] || fail "both terminals are $(cat "$t/pty1.pts")"

	run stasis checkpoint --shell-job --image-path "$IMG" "$a"
	assert_success
	assert_no_container "$a"
	# the container was the terminal's last holder
	wait_reader_done pty1
	at=$(tty_counts pty1 | tail -n 1)

	# CRIU hands the restored process the terminal it was started on (the
	# restore's stdin)
	touch "$t/go"
	assert_equal "$(pty_status pty2)" 0 "exit status of restore -d on the terminal ($(tr -d '\r' <"$t/pty2.tty"))"
	wait_tty_count_above pty2 $((at + 2))
	first=$(tty_counts pty2 | head -n 1)
	[ "$first" -gt "$at" ] && [ "$first" -le $((at + 3)) ] || fail "the new terminal starts at $first, the old one ended at $at"
	pid=$(container_pid "$b")
	for fd in 0 1 2; do
		assert_equal "$(readlink "/proc/$pid/fd/$fd")" "$(cat "$t/pty2.pts")" "fd $fd of the restored init"
	done
	run stasis delete --force "$b"
	assert_success
	wait_reader_done pty2
	assert_no_container "$b"
}

@test "the restored container's cgroup limits come from the NEW bundle" {
	setup_bundle "${COUNTER[@]}"
	update_config '.linux.resources.memory.limit = 67108864 | .linux.resources.pids.limit = 50'
	local a b pid
	a=$(new_id)
	b=$(new_id)
	run_piped "$a"
	wait_lines "$a" 2
	local d
	d=$(cgroup_dir memory "$a") || fail "no memory cgroup for $a"
	assert_equal "$(cat "$d/memory.limit_in_bytes")" 67108864 "memory limit before"
	run stasis checkpoint --image-path "$IMG" "$a"
	assert_success
	wait_reader_done "$a"

	local new=$BATS_TEST_TMPDIR/bundle-big
	cp -a "$BUNDLE" "$new"
	BUNDLE=$new
	update_config '.linux.resources.memory.limit = 134217728 | .linux.resources.pids.limit = 70'
	run restore_piped "$b"
	assert_success
	wait_lines "$b" 2
	pid=$(container_pid "$b")
	d=$(cgroup_dir memory "$b") || fail "no memory cgroup for $b"
	assert_equal "$(cat "$d/memory.limit_in_bytes")" 134217728 "memory.limit_in_bytes of the restored container"
	grep -qx "$pid" "$d/cgroup.procs" || fail "restored init $pid not in $d"
	d=$(cgroup_dir pids "$b") || fail "no pids cgroup for $b"
	assert_equal "$(cat "$d/pids.max")" 70 "pids.max of the restored container"
	grep -qx "$pid" "$d/cgroup.procs" || fail "restored init $pid not in $d"
	assert_no_cgroups "$a"
	assert_in_own_cgroups "$pid" "$b"
}

# ---------------------------------------------------------------- errors

# start_unix_server unix|unixgram [DEST]: crhelper's server on the host
# socket $SOCKDIR/s (SOCKDIR=$BATS_TEST_TMPDIR/sock; what it receives goes
# to server.log), and that dir bind-mounted into the bundle at DEST
# (default /sock).
start_unix_server() {
	SOCKDIR=$BATS_TEST_TMPDIR/sock
	mkdir -p "$SOCKDIR"
	"$CRHELPER" server "$1" "$SOCKDIR/s" "$BATS_TEST_TMPDIR/server.ready" \
		</dev/null >"$BATS_TEST_TMPDIR/server.log" 2>&1 3>&- &
	on_teardown "kill $!"
	wait_for_file "$BATS_TEST_TMPDIR/server.ready"
	update_config '.mounts += [{"destination": $d, "type": "bind", "source": $s, "options": ["rbind"]}]' \
		--arg s "$SOCKDIR" --arg d "${2:-/sock}"
}

# assert_refused_before_criu TEXT...: $output is stasis's own refusal (its
# pre-freeze check), whose first line holds every TEXT; CRIU never ran
# (its errors come with "full log:").
assert_refused_before_criu() {
	local first t
	first=$(head -n 1 <<<"$output")
	[[ "$first" == *"cannot checkpoint"* ]] || fail "not stasis's own refusal: $first"
	for t in "$@"; do
		[[ "$first" == *"$t"* ]] || fail "first line does not name '$t': $first"
	done
	assert_output_not_contains "full log: "
}

# refused_checkpoint ID ARGS... -- TEXTS...: checkpoint ARGS of ID fails
# with stasis's own refusal naming every TEXT, CRIU never started, and
# the container carries on as if nothing happened.
refused_checkpoint() {
	local id=$1 args=()
	shift
	while [ "$1" != -- ]; do
		args+=("$1")
		shift
	done
	shift
	run stasis checkpoint "${args[@]}" "$id"
	assert_failure
	is_runc || assert_refused_before_criu "$@"
	assert_still_running "$id"
}

# ---------------------------------------------------------------- tmpfs mounts

# dev_listing ID: /dev of container ID as "name mode uid gid major:minor
# mtime target" lines, without the submounts CRIU makes anew (pts, mqueue).
dev_listing() {
	stasis exec "$1" sh -c 'cd /dev && for f in . * keep/. shm/.; do
		case $f in pts | mqueue) continue ;; esac
		stat -c "%n %f %u %g %t:%T %Y %N" "$f"
	done'
}

# tmpfs_externals: the destinations stasis.json makes again from metadata.
tmpfs_externals() {
	jq -r '[.external_mounts[] | select(.kind == "tmpfs") | .dest] | join(" ")' "$IMG/stasis.json"
}

@test "tmpfs mounts holding no file data are made again at restore, not tarred: masked dirs, /sys/fs/cgroup, /dev, /dev/shm" {
	stasis_only
	setup_bundle sh -c 'mkdir -m 750 /dev/keep && ln -s /proc/self/fd/0 /dev/keeplink && touch -d @1000000000 /dev/keep
		i=0; while :; do echo $i; i=$((i+1)); sleep 0.1; done'
	local a b before after pid_b
	a=$(new_id)
	b=$(new_id)
	run_piped "$a"
	wait_lines "$a" 3
	run dev_listing "$a"
	assert_success
	before=$output
	assert_output_contains "keep/. 41e8 0 0 0:0 1000000000"
	run stasis checkpoint --image-path "$IMG" "$a"
	assert_success
	wait_reader_done "$a"
	assert_equal "$(tmpfs_externals)" "/dev /dev/shm /proc/acpi /sys/firmware /sys/fs/cgroup" "tmpfs externals in stasis.json"
	! ls "$IMG" | grep -q '^tmpfs-dev-' || fail "CRIU tarred tmpfs mounts: $(ls "$IMG" | grep '^tmpfs-dev-')"

	run restore_piped "$b"
	assert_success
	wait_lines "$b" 3
	assert_continues "$a" "$b"
	# /dev: the same inodes, modes, owners, devices, targets and mtimes
	run dev_listing "$b"
	assert_success
	after=$output
	assert_equal "$after" "$before" "/dev after restore"
	run stasis exec "$b" sh -c 'echo x >/dev/null && head -c 4 /dev/zero | wc -c && ls -A /dev/shm | wc -l'
	assert_success
	assert_equal "$(echo $output)" "4 0" "/dev/null, /dev/zero and an empty /dev/shm"
	# masked dirs: empty read-only tmpfs; /sys/fs/cgroup: read-only tmpfs
	# holding the NEW container's cgroups
	run stasis exec "$b" cat /proc/self/mountinfo
	assert_success
	local m
	for m in /proc/acpi /sys/firmware /sys/fs/cgroup /dev /dev/shm; do
		grep -q "^[0-9]* [0-9]* [0-9:]* / $m [a-z,]* .*- tmpfs " <<<"$output" || fail "$m is no tmpfs mount: $output"
	done
	for m in /proc/acpi /sys/firmware /sys/fs/cgroup; do
		grep -q "^[0-9]* [0-9]* [0-9:]* / $m ro[, ]" <<<"$output" || fail "$m is not read-only: $(grep " $m " <<<"$output")"
	done
	run stasis exec "$b" sh -c 'ls -A /proc/acpi /sys/firmware | grep -v : | grep -c . ; touch /sys/firmware/x 2>&1'
	assert_output_contains "Read-only file system"
	assert_equal "$(head -n 1 <<<"$output")" 0 "entries in the masked dirs"
	pid_b=$(container_pid "$b")
	run stasis exec "$b" sh -c 'ls /sys/fs/cgroup; cat /sys/fs/cgroup/pids/cgroup.procs'
	assert_success
	assert_output_contains "memory"
	assert_output_contains "unified"
	[ "$(tail -n 1 <<<"$output")" -ge 1 ] || fail "no pids in the container's pids cgroup: $output"
	grep -qx "$pid_b" "$(cgroup_dir pids "$b")/cgroup.procs" || fail "restored init $pid_b is not in $b's pids cgroup"
}

@test "tmpfs mounts holding files are left to CRIU: /dev/shm and /dev contents written before the checkpoint survive" {
	stasis_only
	setup_bundle sh -c 'echo shmdata >/dev/shm/f && echo devdata >/dev/myfile
		i=0; while :; do echo $i; i=$((i+1)); sleep 0.1; done'
	local a b
	a=$(new_id)
	b=$(new_id)
	piped_checkpoint "$a"
	assert_equal "$(tmpfs_externals)" "/proc/acpi /sys/firmware /sys/fs/cgroup" "tmpfs externals in stasis.json"
	run restore_piped "$b"
	assert_success
	run stasis exec "$b" cat /dev/shm/f /dev/myfile
	assert_success
	assert_equal "$(echo $output)" "shmdata devdata" "files in /dev/shm and /dev"
}

@test "a tmpfs that changes between the plan and the freeze is dumped by CRIU after all" {
	stasis_only
	# /dev/shm holds no file, but its mtime never stays the same. Only its
	# times change: an entry made and removed in a loop can vanish while
	# the plan walks the tree, and the plan then leaves the tmpfs to CRIU
	# from the start (no retry to see).
	setup_bundle sh -c 'while :; do touch /dev/shm; done &
		i=0; while :; do echo $i; i=$((i+1)); sleep 0.1; done'
	local a b
	a=$(new_id)
	b=$(new_id)
	run_piped "$a"
	wait_lines "$a" 3
	run stasis checkpoint --image-path "$IMG" "$a"
	assert_success
	assert_output_contains "changed before the freeze: CRIU dumps the tmpfs mounts itself"
	wait_reader_done "$a"
	assert_equal "$(tmpfs_externals)" "" "tmpfs externals in stasis.json"
	ls "$IMG" | grep -q '^tmpfs-dev-' || fail "CRIU dumped no tmpfs: $(ls "$IMG")"
	run restore_piped "$b"
	assert_success
	wait_lines "$b" 3
	assert_continues "$a" "$b"
	run stasis exec "$b" sh -c 'ls -A /proc/acpi | wc -l'
	assert_success
	assert_equal "$output" 0 "entries in /proc/acpi"
}

@test "a unix STREAM socket connected outside the container: refused before CRIU, naming --ext-unix-sk, with the flag too" {
	stasis_only "runc's error names only the CRIU log"
	setup_bundle crhelper client unix /sock/s
	need_crhelper
	start_unix_server unix
	local a
	a=$(new_id)
	run_piped "$a"
	wait_lines "$a" 3
	assert_equal "$(first_of "$a")" connected "client"

	refused_checkpoint "$a" --image-path "$IMG" -- "unix socket" "connected outside the container" "--ext-unix-sk" "stream"

	# --ext-unix-sk cannot help a STREAM socket (CRIU: "Can't dump half of
	# stream unix connection"): stasis says so instead of running CRIU
	refused_checkpoint "$a" --ext-unix-sk --image-path "$IMG.2" -- "unix socket" "even with --ext-unix-sk" "stream"
}

@test "a unix DATAGRAM socket to a server outside: refused without --ext-unix-sk; with it, the restored client keeps sending to that server" {
	# CRIU finds the peer only in the network namespaces it dumps, and at
	# restore connects the socket again by the address the server bound,
	# in the container's root: the container shares the host's network
	# namespace and sees the socket at its host path (a /dev/log setup).
	setup_bundle
	need_crhelper
	update_config '.linux.namespaces |= map(select(.type != "network"))'
	start_unix_server unixgram "$BATS_TEST_TMPDIR/sock"
	set_args crhelper client unixgram "$SOCKDIR/s"
	local a b srv=$BATS_TEST_TMPDIR/server.log
	a=$(new_id)
	b=$(new_id)
	run_piped "$a"
	wait_lines "$a" 3
	assert_equal "$(first_of "$a")" connected "client"

	refused_checkpoint "$a" --image-path "$IMG" -- "unix socket" "connected outside the container" "retry with --ext-unix-sk"

	run stasis checkpoint --ext-unix-sk --image-path "$IMG" "$a"
	assert_success
	assert_no_container "$a"
	wait_reader_done "$a"
	local last
	last=$(last_of "$a")
	last=${last#sent }

	run restore_piped "$b" --ext-unix-sk
	assert_success
	wait_lines "$b" 3
	! grep -q connected "$BATS_TEST_TMPDIR/$b.log" || fail "the client started again: $(log_of "$b")"
	local first
	first=$(first_of "$b")
	first=${first#sent }
	[ "$first" -gt "$last" ] && [ "$first" -le $((last + 3)) ] || fail "restored client sends $first after $last"
	# the server outside receives what the restored client sends on the
	# restored socket
	local i n
	for ((i = 0; i < 100; i++)); do
		n=$(tail -n 1 "$srv")
		[[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -gt "$first" ] && break
		sleep 0.05
	done
	[[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -gt "$first" ] || fail "the server's last datagram is '$n', the restored client sent from $first: $(tail -n 3 "$srv" | tr '\n' ' ')"
	grep -qx "$first" "$srv" || fail "the server did not receive $first, the restored client's first datagram"
}

@test "a unix DATAGRAM socket CRIU could not reconnect: refused before CRIU even with --ext-unix-sk, saying why" {
	stasis_only "stasis's own check"
	setup_bundle crhelper client unixgram /sock/s
	need_crhelper
	start_unix_server unixgram
	local a b
	a=$(new_id)
	b=$(new_id)
	# the container's own network namespace: CRIU would not find the
	# server's socket ("Unix socket N without peer M")
	run_piped "$a"
	wait_lines "$a" 3
	refused_checkpoint "$a" --ext-unix-sk --image-path "$IMG" -- "unix socket" "another network namespace" "even with --ext-unix-sk"

	# the host's network namespace, but the socket is at /sock/s inside and
	# was bound as $SOCKDIR/s: the checkpoint would succeed and the restore
	# fail ("Can't connect ... No such file or directory")
	update_config '.linux.namespaces |= map(select(.type != "network"))'
	run_piped "$b"
	wait_lines "$b" 3
	refused_checkpoint "$b" --ext-unix-sk --image-path "$IMG.2" -- "unix socket" "$SOCKDIR/s, which inside the container is not that socket" "bind-mount"
}

@test "a file held open on a host mount the container lacks: refused before CRIU, naming the file" {
	stasis_only "runc's error names only the CRIU log"
	setup_bundle sh -c 'i=0; while :; do echo $i; echo $i >&3; i=$((i+1)); sleep 0.1; done'
	local held=$BATS_TEST_TMPDIR/held-file a
	a=$(new_id)
	start_reader "$a"
	# fd 3 (--preserve-fds 1) is a host file: its mount is not in the container
	stasis run -d --preserve-fds 1 --bundle "$BUNDLE" "$a" \
		</dev/null >&"$READER_FD" 2>>"$BATS_TEST_TMPDIR/$a.err" 3>>"$held"
	exec {READER_FD}>&-
	wait_lines "$a" 3

	# refused before CRIU (which would fail on it: "Can't lookup mount"),
	# saying which file and what to do
	refused_checkpoint "$a" --image-path "$IMG" -- "$held" "host mount the container does not have" "bind-mount it"
	[ "$(tail -n 1 "$held")" -gt 2 ] || fail "held file not written"
}

@test "TCP inside the container: refused without --tcp-established, survives with it" {
	setup_bundle sh -c 'exec 2>&1; ip link set lo up || exit 1; crhelper server tcp 127.0.0.1:5000 & exec crhelper client tcp 127.0.0.1:5000'
	need_crhelper
	update_config '.process.capabilities |= with_entries(.value += ["CAP_NET_ADMIN"])'
	local a b
	a=$(new_id)
	b=$(new_id)
	run_piped "$a"
	wait_lines "$a" 4
	assert_equal "$(first_of "$a")" connected "client"

	run stasis checkpoint --image-path "$IMG" "$a"
	assert_failure
	if ! is_runc; then
		assert_output_contains "tcp-established"
		[[ "$(head -n 1 <<<"$output")" == *TCP* ]] || fail "first line does not mention TCP: $(head -n 1 <<<"$output")"
	fi
	assert_still_running "$a"

	run stasis checkpoint --tcp-established --image-path "$IMG.2" "$a"
	if [ "$status" -ne 0 ] && [[ "$output" == *"Can't get 1:16 opt: Operation not supported"* ]]; then
		assert_still_running "$a"
		skip "CRIU $(criu --version | sed -n 's/^Version: //p') cannot dump inet sockets on kernel $(uname -r) (SO_PASSCRED on TCP is EOPNOTSUPP since 6.16; criu#2718, fixed in CRIU 4.2)"
	fi
	assert_success
	assert_no_container "$a"
	wait_reader_done "$a"
	run restore_piped "$b" --tcp-established --image-path "$IMG.2"
	assert_success
	# the same connection goes on: no new "connected", the echoes continue
	wait_lines "$b" 5
	if grep -q connected "$BATS_TEST_TMPDIR/$b.log"; then
		fail "the client reconnected: $(log_of "$b")"
	fi
	local last first
	last=$(last_of "$a")
	first=$(first_of "$b")
	[ "${first#echo }" -gt "${last#echo }" ] || fail "echoes restart at '$first' after '$last'"
	assert_equal "$(state_field "$b" status)" running "status"
}

@test "CRIU options from the org.criu.config annotation's file apply to checkpoint and restore" {
	# auto-dedup in the file: the restore punches the pages it restored
	# out of the images, which a restore without the file leaves alone.
	# (file locks, tcp-established and ext-unix-sk cannot show it: stasis
	# turns file locks on by itself, see autoflags.bats, and see the TCP
	# and unix socket tests.)
	setup_bundle "${COUNTER[@]}"
	local conf=$BATS_TEST_TMPDIR/criu.conf
	echo auto-dedup >"$conf"
	update_config '.annotations["org.criu.config"] = $c' --arg c "$conf"
	local a b c size blocks
	a=$(new_id)
	b=$(new_id)
	c=$(new_id)
	piped_checkpoint "$a"
	grep -q "Parsing config file $conf" "$IMG/dump.log" || fail "the checkpoint's CRIU did not read $conf: $(grep -i config "$IMG/dump.log" | head -n 3)"
	cp -a "$IMG" "$IMG.2"
	read -r size blocks < <(pages_usage "$IMG")
	[ "$size" -gt 0 ] && [ "$blocks" -gt 0 ] || fail "pages images: $size bytes in $blocks blocks"
	run restore_piped "$b"
	assert_success
	wait_lines "$b" 3
	assert_continues "$a" "$b"
	assert_equal "$(pages_usage "$IMG")" "$size 0" "pages images after a restore with the annotation's auto-dedup (bytes, blocks)"
	# an empty annotation turns every config file off, as in runc
	update_config '.annotations["org.criu.config"] = ""'
	run restore_piped "$c" --image-path "$IMG.2"
	assert_success
	wait_lines "$c" 3
	assert_equal "$(pages_usage "$IMG.2")" "$size $blocks" "pages images after a restore without the config file (bytes, blocks)"
}


# default_conf [TEXT]: put TEXT in CRIU's default config file for stasis,
# /etc/criu/stasis.conf (no TEXT: remove the file). The first call saves
# what was there for teardown to put back. The file is the host's: each
# test keeps it only for the command that needs it.
DEFAULT_CONF=/etc/criu/stasis.conf
default_conf() {
	if [ -z "${DEFAULT_CONF_SAVED:-}" ]; then
		DEFAULT_CONF_SAVED=1
		if [ -e "$DEFAULT_CONF" ]; then
			cp -a "$DEFAULT_CONF" "$BATS_TEST_TMPDIR/stasis.conf.saved"
			on_teardown "cp -a '$BATS_TEST_TMPDIR/stasis.conf.saved' '$DEFAULT_CONF'"
		else
			[ -d "${DEFAULT_CONF%/*}" ] || { mkdir "${DEFAULT_CONF%/*}" && on_teardown "rmdir '${DEFAULT_CONF%/*}'"; }
			on_teardown "rm -f '$DEFAULT_CONF'"
		fi
	fi
	if [ $# -eq 0 ]; then
		rm -f "$DEFAULT_CONF"
	else
		printf '%s\n' "$1" >"$DEFAULT_CONF"
	fi
}

@test "the default CRIU config /etc/criu/stasis.conf applies to checkpoint and restore, unless org.criu.config names another (or none)" {
	stasis_only "runc reads /etc/criu/runc.conf"
	# TCP inside the container: CRIU refuses it without tcp-established,
	# at checkpoint and at restore
	setup_bundle sh -c 'ip link set lo up || exit 1; crhelper server tcp 127.0.0.1:5000 & exec crhelper client tcp 127.0.0.1:5000'
	need_crhelper
	update_config '.process.capabilities |= with_entries(.value += ["CAP_NET_ADMIN"])'
	local a b c
	a=$(new_id)
	b=$(new_id)
	c=$(new_id)
	default_conf

	# org.criu.config "" means no config file: the default is not read
	update_config '.annotations["org.criu.config"] = ""'
	run_piped "$c"
	wait_lines "$c" 3
	default_conf tcp-established
	run stasis checkpoint --image-path "$IMG.none" "$c"
	default_conf
	assert_failure
	assert_output_contains "tcp-established"
	assert_still_running "$c"
	run stasis delete --force "$c"
	wait_reader_done "$c"
	update_config 'del(.annotations["org.criu.config"])'

	run_piped "$a"
	wait_lines "$a" 4
	assert_equal "$(first_of "$a")" connected "client"
	run stasis checkpoint --image-path "$IMG.2" "$a"
	assert_failure
	assert_output_contains "tcp-established"
	assert_still_running "$a"
	default_conf tcp-established
	run stasis checkpoint --image-path "$IMG" "$a"
	default_conf
	if [ "$status" -ne 0 ] && [[ "$output" == *"Can't get 1:16 opt: Operation not supported"* ]]; then
		skip "CRIU $(criu --version | sed -n 's/^Version: //p') cannot dump inet sockets on kernel $(uname -r) (criu#2718, fixed in CRIU 4.2)"
	fi
	assert_success
	grep -q "Parsing config file $DEFAULT_CONF" "$IMG/dump.log" || fail "CRIU did not read $DEFAULT_CONF: $(head -n 3 "$IMG/dump.log")"
	assert_no_container "$a"
	wait_reader_done "$a"

	# the restore needs it as well
	run restore_piped "$b"
	assert_failure
	assert_output_contains "Connected TCP socket in image"
	assert_no_container "$b"
	default_conf tcp-established
	run restore_piped "$b"
	default_conf
	assert_success
	grep -q "Parsing config file $DEFAULT_CONF" "$IMG/restore.log" || fail "CRIU did not read $DEFAULT_CONF at restore"
	# the same connection goes on: no new "connected", the echoes continue
	wait_lines "$b" 5
	! grep -q connected "$BATS_TEST_TMPDIR/$b.log" || fail "the client reconnected: $(log_of "$b")"
	[ "$(first_of "$b" | cut -d' ' -f2)" -gt "$(last_of "$a" | cut -d' ' -f2)" ] || fail "echoes restart at '$(first_of "$b")' after '$(last_of "$a")'"
}
@test "--pre-dump: works with soft-dirty tracking, else fails saying so" {
	stasis_only "the soft-dirty explanation is stasis's"
	setup_bundle "${COUNTER[@]}"
	local a b
	a=$(new_id)
	b=$(new_id)
	run_piped "$a"
	wait_lines "$a" 3
	if ! criu check --feature mem_dirty_track >/dev/null 2>&1; then
		run stasis checkpoint --pre-dump --image-path "$IMG.pre" "$a"
		assert_failure
		[[ "$(head -n 1 <<<"$output")" == *soft-dirty* ]] || fail "first line does not mention soft-dirty: $(head -n 1 <<<"$output")"
		assert_still_running "$a"
		skip "kernel $(uname -r) has no soft-dirty tracking (criu check --feature mem_dirty_track): only the refusal was checked, no pre-dump can run"
	fi
	run stasis checkpoint --pre-dump --image-path "$IMG.pre" "$a"
	assert_success
	assert_still_running "$a"
	run stasis checkpoint --parent-path ../img.pre --image-path "$IMG" "$a"
	assert_success
	wait_reader_done "$a"
	run restore_piped "$b"
	assert_success
	wait_lines "$b" 3
	assert_continues "$a" "$b"
}

@test "--lazy-pages: migrate through a page server, or fail saying userfaultfd is missing" {
	setup_bundle "${COUNTER[@]}"
	local a b
	a=$(new_id)
	b=$(new_id)
	run_piped "$a"
	wait_lines "$a" 3
	if ! criu check --feature uffd-noncoop >/dev/null 2>&1; then
		run timeout 20 "$STASIS" --root "$STASIS_ROOT" checkpoint --lazy-pages --image-path "$IMG" "$a"
		assert_failure
		[[ "$(head -n 1 <<<"$output")" == *userfaultfd* ]] || fail "first line does not mention userfaultfd: $(head -n 1 <<<"$output")"
		assert_still_running "$a"
		skip "CRIU finds no non-cooperative userfaultfd on kernel $(uname -r) (criu check --feature uffd-noncoop): only the refusal was checked, no lazy migration can run"
	fi
	# CRIU's lazy page server sizes its pipe beyond fs.pipe-max-size, which
	# needs CAP_SYS_RESOURCE; without it, raise the limit for this test.
	local capeff
	capeff=$(awk '/^CapEff:/ {print $2}' /proc/self/status)
	if (((0x$capeff >> 24 & 1) == 0)); then
		local max
		max=$(cat /proc/sys/fs/pipe-max-size)
		if [ "$max" -lt 4194304 ]; then
			echo 4194304 >/proc/sys/fs/pipe-max-size 2>/dev/null ||
				skip "no CAP_SYS_RESOURCE and fs.pipe-max-size ($max) cannot be raised: CRIU's lazy page server fails"
			on_teardown "echo $max >/proc/sys/fs/pipe-max-size"
		fi
	fi
	local port=$((20000 + RANDOM % 20000)) t=$BATS_TEST_TMPDIR
	mkfifo "$t/status"
	local sfd
	exec {sfd}<>"$t/status"
	# in a session of its own, so teardown can end it and its CRIU at once
	setsid "$STASIS" --root "$STASIS_ROOT" checkpoint --lazy-pages --page-server "127.0.0.1:$port" --status-fd "$sfd" \
		--work-path "$t/work" --image-path "$IMG" "$a" >"$t/cpt.out" 2>"$t/cpt.err" 3>&- &
	local cpt=$!
	on_teardown "kill -9 -- -$cpt"
	exec {sfd}>&-
	# one \0 byte when the images are written and the page server listens
	local ready
	ready=$(timeout 10 dd if="$t/status" bs=1 count=1 2>/dev/null | od -An -c | tr -d ' ')
	assert_equal "$ready" '\0' "status fd byte (checkpoint: $(cat "$t/cpt.err"))"
	[ -e "$IMG/inventory.img" ] || fail "no images in $IMG"

	criu lazy-pages --page-server --address 127.0.0.1 --port "$port" -D "$IMG" -o lazy-pages.log \
		</dev/null >/dev/null 2>&1 3>&- &
	local lp=$!
	on_teardown "kill $lp"
	run restore_piped "$b" --lazy-pages
	assert_success
	local rc=0
	wait "$cpt" || rc=$?
	assert_equal "$rc" 0 "checkpoint exit status ($(cat "$t/cpt.err"))"
	wait "$lp" || true
	assert_no_container "$a"
	wait_reader_done "$a"
	wait_lines "$b" 5
	assert_continues "$a" "$b"
	assert_consecutive "$b"
}

@test "restore --lazy-pages with no lazy-pages daemon fails saying what to start" {
	criu check --feature uffd-noncoop >/dev/null 2>&1 || skip "no non-cooperative userfaultfd on kernel $(uname -r) (criu check --feature uffd-noncoop): CRIU refuses --lazy-pages before it looks for the daemon"
	setup_bundle "${COUNTER[@]}"
	local b
	piped_checkpoint "$(new_id)"
	b=$(new_id)
	run restore_piped "$b" --lazy-pages
	assert_failure
	assert_output_contains "lazy-pages.socket"
	is_runc || assert_output_contains "needs CRIU's lazy-pages daemon running first"
	is_runc || assert_output_not_contains "does not offer userfaultfd"
	assert_no_container "$b"
	# the images are intact: a plain restore works
	run restore_piped "$b"
	assert_success
	wait_lines "$b" 3
}

# ---------------------------------------------------------------- flags

# pages_usage DIR: "BYTES BLOCKS" of DIR's pages-*.img, summed: their size
# and the 512-byte blocks the file system holds for them.
pages_usage() {
	stat -c '%s %b' "$1"/pages-*.img | awk '{s += $1; b += $2} END {print s, b}'
}

@test "restore --auto-dedup punches the restored pages out of the images; without it they stay" {
	# (checkpoint --auto-dedup dedups a PARENT image, which needs memory
	# tracking: CRIU refuses a parent without it, "Pid-reuse detection
	# failed: no parent inventory"; see the next test)
	setup_bundle "${COUNTER[@]}"
	local a b c size blocks
	a=$(new_id)
	b=$(new_id)
	c=$(new_id)
	piped_checkpoint "$a"
	cp -a "$IMG" "$IMG.2"
	read -r size blocks < <(pages_usage "$IMG")
	[ "$size" -gt 0 ] && [ "$blocks" -ge $((size / 512)) ] || fail "pages images: $size bytes in $blocks blocks"

	run restore_piped "$b" --auto-dedup
	assert_success
	wait_lines "$b" 3
	assert_continues "$a" "$b"
	run restore_piped "$c" --image-path "$IMG.2"
	assert_success
	wait_lines "$c" 3
	assert_continues "$a" "$c"
	# same size, but the pages --auto-dedup restored are holes now
	assert_equal "$(pages_usage "$IMG")" "$size 0" "pages images after restore --auto-dedup (bytes, blocks)"
	assert_equal "$(pages_usage "$IMG.2")" "$size $blocks" "pages images after a plain restore (bytes, blocks)"
}

@test "checkpoint --auto-dedup punches the pages the new image holds again out of its parent; without it the parent keeps them" {
	# A parent image needs soft-dirty memory tracking (see the --pre-dump
	# test): without it no parent can be made, so nothing to dedup.
	criu check --feature mem_dirty_track >/dev/null 2>&1 ||
		skip "kernel $(uname -r) has no soft-dirty tracking (criu check --feature mem_dirty_track): no pre-dump parent can be made for checkpoint --auto-dedup to dedup"
	setup_bundle "${COUNTER[@]}"
	local a b size blocks now
	a=$(new_id)
	b=$(new_id)
	run_piped "$a"
	wait_lines "$a" 3

	# without the flag: a pre-dump, then a checkpoint on it (left running)
	run stasis checkpoint --pre-dump --image-path "$IMG.pre1" "$a"
	assert_success
	read -r size blocks < <(pages_usage "$IMG.pre1")
	[ "$size" -gt 0 ] && [ "$blocks" -ge $((size / 512)) ] || fail "pre-dump pages images: $size bytes in $blocks blocks"
	wait_count_above "$a" $(($(last_of "$a") + 2)) # its stack is dirty again
	run stasis checkpoint --leave-running --parent-path ../img.pre1 --image-path "$IMG.1" "$a"
	assert_success
	assert_equal "$(pages_usage "$IMG.pre1")" "$size $blocks" "parent's pages images after a checkpoint without --auto-dedup (bytes, blocks)"

	# with it: the pages the checkpoint dumps again are holes in the parent
	run stasis checkpoint --pre-dump --image-path "$IMG.pre2" "$a"
	assert_success
	read -r size blocks < <(pages_usage "$IMG.pre2")
	[ "$size" -gt 0 ] && [ "$blocks" -ge $((size / 512)) ] || fail "pre-dump pages images: $size bytes in $blocks blocks"
	wait_count_above "$a" $(($(last_of "$a") + 2))
	run stasis checkpoint --parent-path ../img.pre2 --auto-dedup --image-path "$IMG" "$a"
	assert_success
	wait_reader_done "$a"
	read -r -a now < <(pages_usage "$IMG.pre2")
	assert_equal "${now[0]}" "$size" "parent's pages bytes after checkpoint --auto-dedup (holes keep the size)"
	[ "${now[1]}" -lt "$blocks" ] || fail "checkpoint --auto-dedup left the parent's pages in $blocks blocks (now ${now[1]})"

	# the pages left in the parent and the new image's restore the counter
	run restore_piped "$b"
	assert_success
	wait_lines "$b" 3
	assert_continues "$a" "$b"
}

# tcp_connect PORT: connect to 127.0.0.1:PORT and close again; fails
# when nothing listens there.
tcp_connect() {
	local fd
	exec {fd}<>"/dev/tcp/127.0.0.1/$1" || return 1
	exec {fd}>&-
}

@test "--tcp-skip-in-flight: a listener with a connection it has not accepted is refused without it, checkpointed with it; restored, it listens" {
	# in the host's network namespace, so a host client can connect
	setup_bundle
	need_crhelper
	update_config '.linux.namespaces |= map(select(.type != "network"))'
	local port=$((20000 + RANDOM % 20000)) a b fd pid
	set_args crhelper listen tcp "127.0.0.1:$port"
	a=$(new_id)
	b=$(new_id)
	run_piped "$a"
	wait_lines "$a" 2
	assert_equal "$(first_of "$a")" listening "listener"
	# a connection the kernel completed that nobody accepts: in flight
	exec {fd}<>"/dev/tcp/127.0.0.1/$port"

	run stasis checkpoint --image-path "$IMG" "$a"
	assert_failure
	assert_output_contains "In-flight connection"
	is_runc || assert_output_contains "--tcp-skip-in-flight"
	assert_still_running "$a"

	run stasis checkpoint --tcp-skip-in-flight --image-path "$IMG" "$a"
	assert_success
	grep -q "Skipping in-flight connection" "$IMG/dump.log" || fail "CRIU did not skip the in-flight connection: $(grep -i flight "$IMG/dump.log")"
	exec {fd}>&-
	wait_reader_done "$a"
	! tcp_connect "$port" || fail "something still listens on $port after the checkpoint"

	run restore_piped "$b"
	assert_success
	wait_lines "$b" 2
	pid=$(container_pid "$b")
	tcp_connect "$port" || fail "the restored listener does not take connections on $port"
	run ss -Hltnp "sport = :$port"
	assert_output_contains "pid=$pid,"
}


# lo_addrs ID: the IPv4 addresses on lo in ID's network namespace, and
# whether lo is up ("up" or "down"), one a line.
lo_addrs() {
	stasis exec "$1" ip -4 addr show dev lo | sed -n 's/^ *inet \([^ ]*\).*/\1/p'
	if stasis exec "$1" ip link show dev lo | grep -q '<[^>]*,UP[,>]'; then echo up; else echo down; fi
}

@test "--empty-ns network: the container's network namespace is not dumped, it restores empty with lo up; without the flag its addresses come back" {
	# the container's own network namespace, with an address added to lo
	# (CAP_NET_ADMIN, so not the loopback-only case stasis skips itself)
	setup_bundle sh -c 'ip link set lo up && ip addr add 10.1.2.3/32 dev lo || exit 1; i=0; while :; do echo $i; i=$((i+1)); sleep 0.1; done'
	update_config '.process.capabilities |= with_entries(.value += ["CAP_NET_ADMIN"])'
	local a b c
	a=$(new_id)
	b=$(new_id)
	c=$(new_id)
	run_piped "$a"
	wait_lines "$a" 3
	assert_equal "$(lo_addrs "$a" | tr '\n' ' ')" "127.0.0.1/8 10.1.2.3/32 up " "lo of the running container"

	run stasis checkpoint --leave-running --image-path "$IMG.full" "$a"
	assert_success
	run stasis checkpoint --empty-ns network --image-path "$IMG" "$a"
	assert_success
	assert_no_container "$a"
	wait_reader_done "$a"
	# CRIU dumped the namespace's links and addresses only without the flag
	compgen -G "$IMG.full/netdev-*.img" >/dev/null || fail "no netdev image without --empty-ns: $(ls "$IMG.full" | tr '\n' ' ')"
	! compgen -G "$IMG/netdev-*.img" >/dev/null || fail "--empty-ns network: CRIU dumped the network namespace: $(ls "$IMG"/net* | tr '\n' ' ')"
	! compgen -G "$IMG/ifaddr-*.img" >/dev/null || fail "--empty-ns network: CRIU dumped the addresses"
	is_runc || jq -e '.empty_netns == true' "$IMG/stasis.json" >/dev/null || fail "stasis.json: $(cat "$IMG/stasis.json")"

	run restore_piped "$b" --image-path "$IMG.full"
	assert_success
	wait_lines "$b" 2
	assert_equal "$(lo_addrs "$b" | tr '\n' ' ')" "127.0.0.1/8 10.1.2.3/32 up " "lo restored from the full checkpoint"

	run restore_piped "$c"
	assert_success
	wait_lines "$c" 3
	assert_continues "$a" "$c"
	assert_consecutive "$c"
	local lo
	lo=$(lo_addrs "$c" | tr '\n' ' ')
	[[ "$lo" != *10.1.2.3* ]] || fail "--empty-ns network: the dumped address came back: $lo"
	# a new namespace, as a new container's: stasis brings lo up in it
	is_runc || assert_equal "$lo" "127.0.0.1/8 up " "lo restored from the --empty-ns checkpoint"
}

# lock_held FILE: a non-blocking flock on FILE (from the host: the same
# inode as in the container) fails, because someone holds it.
lock_held() {
	local rc=0
	flock -n -E 99 "$1" true || rc=$?
	[ $rc -eq 99 ] || { echo "flock -n on $1 exited $rc, want 99 (held)" >&2; return 1; }
}

@test "--file-locks: a flock on a host bind mount is refused without it, checkpointed with it; restored, the lock is held again" {
	# A lock on the container's own files needs no flag (autoflags.bats);
	# one on a file the host shares through a bind mount is the flag's.
	local vol=$BATS_TEST_TMPDIR/vol
	mkdir -p "$vol"
	setup_bundle crhelper flock /vol/lockfile "${COUNTER[@]}"
	need_crhelper
	update_config '.mounts += [{"destination": "/vol", "type": "bind", "source": $v, "options": ["rbind"]}]' --arg v "$vol"
	local a b c
	a=$(new_id)
	b=$(new_id)
	c=$(new_id)
	run_piped "$a"
	wait_lines "$a" 3
	lock_held "$vol/lockfile" || fail "the container does not hold its lock"

	# refused before CRIU, naming the file and the flag; nothing stopped
	run stasis checkpoint --image-path "$IMG" "$a"
	assert_failure
	is_runc || assert_output_contains "lock(s) on /vol/lockfile, a file the host shares through a bind mount"
	assert_output_contains "--file-locks"
	assert_still_running "$a"
	lock_held "$vol/lockfile" || fail "the lock was dropped by the refused checkpoint"

	run stasis checkpoint --file-locks --image-path "$IMG" "$a"
	assert_success
	assert_no_container "$a"
	wait_reader_done "$a"
	[ -s "$IMG/filelocks.img" ] || fail "no filelocks.img in $IMG: $(ls "$IMG" | tr '\n' ' ')"
	! lock_held "$vol/lockfile" 2>/dev/null || fail "the lock is still held after the checkpoint"

	run restore_piped "$b" --file-locks
	assert_success
	wait_lines "$b" 3
	assert_continues "$a" "$b"
	lock_held "$vol/lockfile" || fail "the restored container does not hold the lock"
	run stasis delete --force "$b"
	assert_success
	wait_reader_done "$b"
	! lock_held "$vol/lockfile" 2>/dev/null || fail "the lock is still held after delete"

	# the images hold a lock: stasis restores it without the flag too
	# (CRIU alone would restore the process without its lock, silently)
	stasis_only "runc restores the process without its lock unless given --file-locks"
	run restore_piped "$c"
	assert_success
	wait_lines "$c" 3
	assert_continues "$a" "$c"
	lock_held "$vol/lockfile" || fail "restored without --file-locks, the container does not hold the lock"
}

@test "--link-remap: a file deleted from a host bind mount (another name left) is refused without it; with it, restored, the process writes on into the same file" {
	# On the container's own rootfs the plan turns link remap on by itself
	# (union.bats); on a dir the host shares only the flag allows it.
	# fd 3 appends to /vol/f, which keeps a second name, /vol/keep; the
	# name f is deleted, so CRIU must link the file back (link remap).
	local vol=$BATS_TEST_TMPDIR/vol
	mkdir -p "$vol"
	setup_bundle sh -c ': >/vol/f; ln /vol/f /vol/keep; exec 3>>/vol/f; rm /vol/f
		i=0; while :; do echo $i >&3; echo $i; i=$((i+1)); sleep 0.1; done'
	update_config '.mounts += [{"destination": "/vol", "type": "bind", "source": $v, "options": ["rbind"]}]' --arg v "$vol"
	local a b at pid
	a=$(new_id)
	b=$(new_id)
	run_piped "$a"
	wait_lines "$a" 3
	assert_equal "$(ls -A "$vol")" keep "files in the host dir before the checkpoint"

	# refused before CRIU, naming the file; nothing stopped
	refused_checkpoint "$a" --image-path "$IMG" -- "/vol/f" "deleted from a mount the host shares (/vol)"

	run stasis checkpoint --link-remap --image-path "$IMG" "$a"
	assert_success
	assert_no_container "$a"
	wait_reader_done "$a"
	# CRIU linked the file back into the host dir, for the restore to open
	local remap
	remap=$(ls -A "$vol" | grep -v '^keep$')
	[[ "$remap" =~ ^link_remap\.[0-9]+$ ]] || fail "after the checkpoint the host dir holds: $(ls -A "$vol" | tr '\n' ' ')"
	assert_equal "$(stat -c %i "$vol/$remap")" "$(stat -c %i "$vol/keep")" "inode of $remap (that of keep)"
	at=$(tail -n 1 "$vol/keep")

	run restore_piped "$b"
	assert_success
	wait_lines "$b" 3
	assert_continues "$a" "$b"
	# the restored fd 3 is the same file: the count goes on in keep
	pid=$(container_pid "$b")
	assert_equal "$(stat -L -c %i "/proc/$pid/fd/3")" "$(stat -c %i "$vol/keep")" "inode of the restored fd 3 (that of keep)"
	local i
	for ((i = 0; i < 50; i++)); do
		[ "$(tail -n 1 "$vol/keep")" -gt $((at + 1)) ] && break
		sleep 0.1
	done
	[ "$(tail -n 1 "$vol/keep")" -gt $((at + 1)) ] || fail "keep stopped at $(tail -n 1 "$vol/keep"); the checkpoint was at $at"
	[ "$(grep -c "^$at\$" "$vol/keep")" -eq 1 ] || fail "count $at written twice to keep: restarted?"
	# the restore removed CRIU's link: the host dir is as the container left it
	assert_equal "$(ls -A "$vol")" keep "files in the host dir after the restore"
}

@test "checkpoint with an unknown --format fails naming it, before anything is frozen or written" {
	setup_bundle "${COUNTER[@]}"
	local a
	a=$(new_id)
	run_piped "$a"
	wait_lines "$a" 3
	local f flags
	for flags in "--dry-run --format xml" "--format xml"; do
		# shellcheck disable=SC2086 # the flags are words
		run stasis checkpoint $flags --image-path "$IMG" "$a"
		assert_failure
		assert_output_contains "xml"
		is_runc || assert_output_contains "unknown --format \"xml\": use text or json"
		assert_output_not_contains "full log: "
		[ ! -e "$IMG" ] || fail "checkpoint $flags made $IMG"
		# not frozen: the state says running and the count goes on
		assert_still_running "$a"
		if f=$(cgroup_dir freezer "$a"); then
			assert_equal "$(cat "$f/freezer.state")" THAWED "freezer after checkpoint $flags"
		fi
	done
	# the known formats work
	run stasis checkpoint --dry-run --format json "$a"
	assert_success
	jq -e . <<<"$output" >/dev/null || fail "--format json is not JSON: $output"
	assert_still_running "$a"
}

@test "restore --tcp-close: the restored connection is closed and the process carries on; without it the connection stays established" {
	# client and server inside the container's own network namespace; the
	# client outlives its connection ("stay"): on an error it says
	# "closed: ERROR" and goes on printing "alive N"
	setup_bundle sh -c 'ip link set lo up || exit 1; crhelper server tcp 127.0.0.1:5000 & exec crhelper client tcp 127.0.0.1:5000 stay'
	need_crhelper
	update_config '.process.capabilities |= with_entries(.value += ["CAP_NET_ADMIN"])'
	local a b c last pid
	a=$(new_id)
	b=$(new_id)
	c=$(new_id)
	run_piped "$a"
	wait_lines "$a" 4
	assert_equal "$(first_of "$a")" connected "client"
	run stasis checkpoint --tcp-established --image-path "$IMG" "$a"
	if [ "$status" -ne 0 ] && [[ "$output" == *"Can't get 1:16 opt: Operation not supported"* ]]; then
		skip "CRIU $(criu --version | sed -n 's/^Version: //p') cannot dump inet sockets on kernel $(uname -r) (criu#2718, fixed in CRIU 4.2)"
	fi
	assert_success
	wait_reader_done "$a"
	last=$(last_of "$a")
	[[ "$last" == "echo "* ]] || fail "the client was not echoing at the checkpoint: $last"

	# restored established: the same connection goes on
	run restore_piped "$b" --tcp-established
	assert_success
	wait_lines "$b" 5
	! grep -q "closed\|connected" "$BATS_TEST_TMPDIR/$b.log" || fail "the connection did not survive: $(log_of "$b" | tr '\n' ' ')"
	[ "$(first_of "$b" | cut -d' ' -f2)" -gt "${last#echo }" ] || fail "echoes restart at '$(first_of "$b")' after '$last'"

	# restored closed: the client's next send or receive fails, and the
	# same process carries on
	run restore_piped "$c" --tcp-close
	assert_success
	pid=$(container_pid "$c")
	local i
	for ((i = 0; i < 100; i++)); do
		grep -q '^alive 2$' "$BATS_TEST_TMPDIR/$c.log" && break
		sleep 0.05
	done
	grep -q '^alive 2$' "$BATS_TEST_TMPDIR/$c.log" || fail "the restored client does not carry on: $(log_of "$c" | tr '\n' ' ')"
	grep -Eq '^closed: (send|receive) [0-9]+: ' "$BATS_TEST_TMPDIR/$c.log" || fail "no connection error from the client: $(log_of "$c" | tr '\n' ' ')"
	! grep -q '^echo ' "$BATS_TEST_TMPDIR/$c.log" || fail "the client got echoes on a closed connection: $(log_of "$c" | tr '\n' ' ')"
	assert_equal "$(state_field "$c" status)" running "status after restore --tcp-close"
	assert_equal "$(container_pid "$c")" "$pid" "pid of the restored client"
	assert_still_running "$b"
}
# limits_of ID: "MEMORY-LIMIT PIDS-MAX" of ID's cgroups.
limits_of() {
	local m p
	m=$(cgroup_dir memory "$1") || fail "no memory cgroup for $1"
	p=$(cgroup_dir pids "$1") || fail "no pids cgroup for $1"
	echo "$(cat "$m/memory.limit_in_bytes") $(cat "$p/pids.max")"
}

@test "--manage-cgroups-mode: soft and ignore keep the new bundle's limits, full restores the checkpoint's; strict and unknown modes refused" {
	# checkpointed with 64M / 50 pids, restored from a bundle saying
	# 128M / 70: which limits the restored container has tells whether
	# CRIU wrote the dumped cgroup properties (full) or not (soft:
	# stasis made the cgroups; ignore: CRIU leaves cgroups alone)
	setup_bundle "${COUNTER[@]}"
	update_config '.linux.resources.memory.limit = 67108864 | .linux.resources.pids.limit = 50'
	local a id old new=$BATS_TEST_TMPDIR/bundle-big
	a=$(new_id)
	run_piped "$a"
	wait_lines "$a" 3
	assert_equal "$(limits_of "$a")" "67108864 50" "limits of the checkpointed container"

	# an unknown mode: refused before anything is made, the container runs on
	run stasis checkpoint --manage-cgroups-mode bogus --image-path "$IMG.bad" "$a"
	assert_failure
	is_runc || assert_output_contains "--manage-cgroups-mode \"bogus\""
	[ ! -e "$IMG.bad" ] || fail "the refused checkpoint made $IMG.bad"
	assert_still_running "$a"

	local mode
	local -A at
	for mode in soft ignore strict full; do
		run stasis checkpoint --leave-running --manage-cgroups-mode "$mode" --image-path "$IMG.$mode" "$a"
		assert_success
		at[$mode]=$(last_of "$a")
		wait_count_above "$a" $((at[$mode] + 1))
	done
	old=$BUNDLE
	cp -a "$BUNDLE" "$new"
	BUNDLE=$new
	update_config '.linux.resources.memory.limit = 134217728 | .linux.resources.pids.limit = 70'
	run stasis delete --force "$a"
	assert_success
	wait_reader_done "$a"

	# CRIU dumped the cgroups' properties in soft and full mode, not in
	# ignore
	local dumped='Dumping value 67108864 from .*/memory.limit_in_bytes'
	grep -q "$dumped" "$IMG.soft/dump.log" || fail "soft: CRIU did not dump memory.limit_in_bytes"
	grep -q "$dumped" "$IMG.full/dump.log" || fail "full: CRIU did not dump memory.limit_in_bytes"
	! grep -q "$dumped" "$IMG.ignore/dump.log" || fail "ignore: CRIU dumped memory.limit_in_bytes"

	# restore_mode IMAGE MODE LIMITS: restore IMAGE with MODE ("": no
	# flag); the restored container counts on, in its own cgroups, with
	# LIMITS
	restore_mode() {
		local flag=()
		[ -z "$2" ] || flag=(--manage-cgroups-mode "$2")
		id=$(new_id)
		run restore_piped "$id" --image-path "$IMG.$1" "${flag[@]}"
		assert_success
		wait_lines "$id" 3
		# the copy counts on from its checkpoint
		local first
		first=$(first_of "$id")
		[ "$first" -ge $((at[$1] - 1)) ] && [ "$first" -le $((at[$1] + 3)) ] ||
			fail "restored from the $1 image, it counts from $first; the checkpoint was at ${at[$1]}"
		assert_consecutive "$id"
		assert_equal "$(state_field "$id" status)" running "status after restore ($1 image, $2)"
		assert_in_own_cgroups "$(container_pid "$id")" "$id"
		assert_equal "$(limits_of "$id")" "$3" "limits after restore ($1 image, $2)"
		run stasis delete --force "$id"
		assert_success
		wait_reader_done "$id"
		assert_no_container "$id"
	}
	restore_mode soft soft "134217728 70"
	restore_mode soft full "67108864 50"
	restore_mode soft ignore "134217728 70"
	restore_mode soft "" "134217728 70"
	# checkpointed with full: full writes its properties back; without
	# the flag restore is soft (the image's mode is not taken over), so
	# the new bundle's limits hold
	restore_mode full full "67108864 50"
	restore_mode full "" "134217728 70"
	# checkpointed with ignore: no cgroup tree CRIU could map onto the new
	# cgroups; restored with ignore, also without the flag; full refused
	restore_mode ignore ignore "134217728 70"
	restore_mode ignore "" "134217728 70"
	id=$(new_id)
	run restore_piped "$id" --image-path "$IMG.ignore" --manage-cgroups-mode full
	assert_failure
	is_runc || assert_output_contains "made with --manage-cgroups-mode ignore"
	assert_output_not_contains "full log: "
	assert_no_container "$id"
	# strict dumps as full does; restoring with it needs cgroups that do
	# not exist yet, and restore makes them first: refused, nothing left
	restore_mode strict full "67108864 50"
	id=$(new_id)
	run restore_piped "$id" --image-path "$IMG.strict" --manage-cgroups-mode strict
	assert_failure
	is_runc || assert_output_contains "--manage-cgroups-mode strict"
	assert_output_not_contains "full log: "
	assert_no_container "$id"
	id=$(new_id)
	run restore_piped "$id" --image-path "$IMG.soft" --manage-cgroups-mode bogus
	assert_failure
	is_runc || assert_output_contains "--manage-cgroups-mode \"bogus\""
	assert_no_container "$id"
}

@test "checkpoint and restore hand CRIU the host's cgroup mounts as its yard, so CRIU mounts no hierarchy (none while the container is frozen), and remove it after" {
	stasis_only "stasis's cgroup yard for CRIU"
	setup_bundle "${COUNTER[@]}"
	update_config '.linux.resources.memory.limit = 67108864'
	local a b yard
	a=$(new_id)
	b=$(new_id)
	run_piped "$a"
	wait_lines "$a" 2
	run stasis --debug --log "$BATS_TEST_TMPDIR/log" checkpoint --image-path "$IMG" "$a"
	assert_success
	yard=$(sed -n 's/.*through the yard \([^ "]*\).*/\1/p' "$BATS_TEST_TMPDIR/log")
	[ -n "$yard" ] || fail "no cgroup yard handed to CRIU: $(cat "$BATS_TEST_TMPDIR/log")"
	[ ! -e "$yard" ] || fail "the yard $yard outlived the checkpoint"
	# CRIU read the container's cgroups through it
	grep -q 'Dumping value 67108864 from .*/memory.limit_in_bytes' "$IMG/dump.log" ||
		fail "CRIU did not dump memory.limit_in_bytes through the yard"
	wait_reader_done "$a"
	# restore, through a wrapper that adds the global --debug --log
	local real=$STASIS
	printf '#!/bin/sh\nexec %s --debug --log %s "$@"\n' "$real" "$BATS_TEST_TMPDIR/rlog" >"$BATS_TEST_TMPDIR/dbg"
	chmod +x "$BATS_TEST_TMPDIR/dbg"
	STASIS=$BATS_TEST_TMPDIR/dbg
	run restore_piped "$b" --image-path "$IMG"
	STASIS=$real
	assert_success
	yard=$(sed -n 's/.*through the yard \([^ "]*\).*/\1/p' "$BATS_TEST_TMPDIR/rlog")
	[ -n "$yard" ] || fail "no cgroup yard handed to CRIU at restore: $(cat "$BATS_TEST_TMPDIR/rlog")"
	[ ! -e "$yard" ] || fail "the restore's yard $yard outlived it"
	grep -q "Opening $yard as cg yard" "$IMG/restore.log" || fail "CRIU did not restore through the yard"
	wait_lines "$b" 2
	assert_in_own_cgroups "$(container_pid "$b")" "$b"
}

# host_lsm: the security module CRIU would find (apparmor, selinux or "").
host_lsm() {
	if [ -e /sys/kernel/security/apparmor ]; then
		echo apparmor
	elif [ -e /sys/fs/selinux/enforce ]; then
		echo selinux
	fi
}

@test "--lsm-profile / --lsm-mount-context for a security module the host does not run: refused before CRIU, naming the flag" {
	stasis_only "stasis's own check"
	local lsm b typ
	lsm=$(host_lsm)
	[ -z "$lsm" ] || skip "this host runs $lsm: the refusals for a missing module cannot all be shown (/sys/kernel/security/lsm: $(cat /sys/kernel/security/lsm 2>/dev/null))"
	setup_bundle "${COUNTER[@]}"
	piped_checkpoint "$(new_id)"
	for typ in apparmor selinux; do
		b=$(new_id)
		run restore_piped "$b" --lsm-profile "$typ:stasis-test"
		assert_failure
		assert_output_contains "--lsm-profile \"$typ:stasis-test\": this host does not run $typ"
		assert_output_not_contains "full log: "
		assert_no_container "$b"
	done
	b=$(new_id)
	run restore_piped "$b" --lsm-mount-context "system_u:object_r:container_file_t:s0"
	assert_failure
	assert_output_contains "--lsm-mount-context"
	assert_output_contains "does not run SELinux"
	assert_output_not_contains "full log: "
	assert_no_container "$b"
	[ -z "$(ls -A "$STASIS_ROOT")" ] || fail "state left: $(ls -A "$STASIS_ROOT")"
	# "none:" asks for no profile: the image restores
	b=$(new_id)
	run restore_piped "$b" --lsm-profile none:
	assert_success
	wait_lines "$b" 3
}

@test "checkpoint/restore usage errors: help, missing flag value, wrong states, taken id, missing images" {
	run stasis checkpoint --help
	assert_success
	assert_output_contains "--leave-running"
	run stasis restore --help
	assert_success
	# podman probes this exact thing to learn the flag exists
	run stasis restore --lsm-mount-context
	assert_failure
	assert_output_contains "flag needs an argument"

	run stasis checkpoint --image-path "$IMG" no-such-ctr
	assert_failure
	is_runc || assert_output_contains "no-such-ctr"

	# created (not started) and stopped containers cannot be checkpointed
	setup_bundle "${COUNTER[@]}"
	local c s
	c=$(new_id)
	create_container "$c"
	run stasis checkpoint --image-path "$IMG.c" "$c"
	assert_failure
	assert_output_contains "created"
	assert_equal "$(state_field "$c" status)" created "status after a refused checkpoint"
	set_args true
	s=$(new_id)
	run_detached "$s"
	wait_for_status "$s" stopped
	run stasis checkpoint --image-path "$IMG.s" "$s"
	assert_failure
	assert_output_contains "stopped"
	assert_equal "$(state_field "$s" status)" stopped "status after a refused checkpoint"
	stasis delete --force "$c"
	stasis delete "$s"
}

@test "restore under an id in use fails and leaves that container alone" {
	setup_bundle "${COUNTER[@]}"
	local a pid
	a=$(new_id)
	run_piped "$a"
	wait_lines "$a" 3
	pid=$(container_pid "$a")
	run stasis checkpoint --leave-running --image-path "$IMG" "$a"
	assert_success
	local procs
	procs=$(cat "$(cgroup_dir pids "$a")/cgroup.procs" | wc -l)

	local out=$BATS_TEST_TMPDIR/dup.out
	status=0
	stasis restore -d --image-path "$IMG" --bundle "$BUNDLE" "$a" </dev/null >"$out" 2>&1 3>&- || status=$?
	output=$(cat "$out")
	assert_failure
	assert_output_contains "$a"
	assert_equal "$(state_field "$a" status)" running "status of the existing container"
	assert_equal "$(container_pid "$a")" "$pid" "pid of the existing container"
	cgroup_dir pids "$a" >/dev/null || fail "existing container's cgroup removed"
	assert_equal "$(cat "$(cgroup_dir pids "$a")/cgroup.procs" | wc -l)" "$procs" "processes in $a's cgroup"
	# no restored copy writes anywhere
	sleep 0.3
	assert_equal "$(grep -c . "$out")" "$(grep -c . <<<"$output")" "lines from the failed restore"
	[ -z "$(ls -A "$STASIS_ROOT" | grep -vx "$a")" ] || fail "state left: $(ls -A "$STASIS_ROOT")"
	assert_still_running "$a"
}

@test "restore from a missing, empty or failed checkpoint dir fails and leaves nothing" {
	setup_bundle "${COUNTER[@]}"
	local b
	b=$(new_id)
	run restore_piped "$b" --image-path "$BATS_TEST_TMPDIR/no-such-dir"
	assert_failure
	assert_output_contains "no-such-dir"
	assert_no_container "$b"
	is_runc || [ ! -e "$BATS_TEST_TMPDIR/no-such-dir" ] || fail "restore created the image dir"

	mkdir "$BATS_TEST_TMPDIR/empty"
	b=$(new_id)
	run restore_piped "$b" --image-path "$BATS_TEST_TMPDIR/empty"
	assert_failure
	assert_output_contains "empty"
	assert_no_container "$b"
	[ -z "$(ls -A "$STASIS_ROOT")" ] || fail "state left: $(ls -A "$STASIS_ROOT")"

	# a checkpoint whose images are damaged (its tasks' core images
	# gone): CRIU fails the restore
	local a
	a=$(new_id)
	run_piped "$a"
	wait_lines "$a" 3
	run stasis checkpoint --leave-running --image-path "$IMG" "$a"
	assert_success
	rm "$IMG"/core-*.img
	b=$(new_id)
	run restore_piped "$b"
	assert_failure
	assert_output_contains "restore $b: criu restore failed"
	assert_no_container "$b"
	assert_equal "$(state_field "$a" status)" running "the checkpointed container"
}

@test "a restored container is a normal container: exec, pause/resume, kill, checkpoint again, delete" {
	setup_bundle "${COUNTER[@]}"
	local a b c
	a=$(new_id)
	b=$(new_id)
	c=$(new_id)
	run_piped "$a"
	wait_lines "$a" 3
	run stasis checkpoint --image-path "$IMG" "$a"
	assert_success
	run restore_piped "$b"
	assert_success
	wait_lines "$b" 2

	run stasis exec "$b" echo hi
	assert_success
	assert_output_equals hi
	run stasis exec "$b" sh -c 'cat /proc/1/cmdline | tr "\0" " "'
	assert_success
	assert_output_contains "while :"

	run stasis list --format json
	assert_equal "$(jq -r --arg id "$b" '.[] | select(.id == $id) | .status' <<<"$output")" running "listed status"

	run stasis pause "$b"
	assert_success
	assert_equal "$(state_field "$b" status)" paused "status after pause"
	local n
	n=$(lines_of "$b")
	sleep 0.5
	assert_equal "$(lines_of "$b")" "$n" "lines while paused"
	run stasis resume "$b"
	assert_success
	assert_still_running "$b"

	# checkpoint again (leaving it running), and restore that image too
	run stasis checkpoint --leave-running --image-path "$IMG.2" "$b"
	assert_success
	run restore_piped "$c" --image-path "$IMG.2"
	assert_success
	wait_lines "$c" 2
	assert_still_running "$b"

	local pid
	pid=$(container_pid "$b")
	run stasis kill "$b" KILL
	assert_success
	wait_for_status "$b" stopped
	wait_pid_gone "$pid"
	run stasis delete "$b"
	assert_success
	assert_no_container "$b"
	run stasis kill "$c" KILL
	assert_success
	wait_for_status "$c" stopped
	run stasis delete "$c"
	assert_success
	assert_no_container "$c"
}

@test "a foreground restore waits for the container and returns its exit code" {
	setup_bundle sh -c 'i=0; while [ $i -lt 25 ]; do echo $i; i=$((i+1)); sleep 0.1; done; exit 7'
	local a b
	a=$(new_id)
	b=$(new_id)
	piped_checkpoint "$a"
	start_reader "$b"
	local rc=0
	stasis restore --image-path "$IMG" --bundle "$BUNDLE" "$b" \
		</dev/null >&"$READER_FD" 2>>"$BATS_TEST_TMPDIR/$b.err" 3>&- || rc=$?
	exec {READER_FD}>&-
	assert_equal "$rc" 7 "exit code of the foreground restore ($(cat "$BATS_TEST_TMPDIR/$b.err"))"
	wait_reader_done "$b"
	assert_continues "$a" "$b"
	assert_equal "$(last_of "$b")" 24 "last count"
	assert_no_container "$b"
}
