#!/usr/bin/env bats
# stdio of the container. Proves: without a terminal, stdout/stdin/stderr
# are the runtime's own (pipes, kept apart), also for a detached container
# and after create returns; with one, the pty master reaches
# --console-socket and input written to it reaches the process; a
# foreground `run -t` without a console socket gives the process a pty of
# its own proxied to the runtime's terminal (input, window size and exit
# code pass through, the terminal is restored); console socket paths near
# the 108-byte limit work; a missing socket, or a detached terminal
# without one, fails.

load helpers

@test "without a terminal, stdout goes to the pipe the runtime was given" {
	setup_bundle sh -c 'echo to-stdout; readlink /proc/self/fd/1'
	local id
	id=$(new_id)
	run bash -c '"$STASIS" --root "$STASIS_ROOT" run --bundle "$BUNDLE" "$1" </dev/null | cat' _ "$id"
	assert_success
	assert_equal "$(sed -n 1p <<<"$output")" to-stdout "first line"
	[[ "$(sed -n 2p <<<"$output")" == pipe:* ]] || fail "stdout inside is not a pipe: $output"
}

@test "without a terminal, stdin comes from the runtime's stdin" {
	setup_bundle cat
	local id
	id=$(new_id)
	run bash -c 'printf "hi\nthere\n" | "$STASIS" --root "$STASIS_ROOT" run --bundle "$BUNDLE" "$1"' _ "$id"
	assert_success
	assert_output_equals "hi"$'\n'"there"
}

@test "without a terminal, stderr is kept apart from stdout" {
	setup_bundle sh -c 'echo out; echo err >&2'
	local id
	id=$(new_id)
	stasis run --bundle "$BUNDLE" "$id" </dev/null >"$BATS_TEST_TMPDIR/o" 2>"$BATS_TEST_TMPDIR/e"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/o")" out stdout
	assert_equal "$(cat "$BATS_TEST_TMPDIR/e")" err stderr
}

@test "a detached container writes to the files it was given" {
	setup_bundle sh -c 'echo out; echo err >&2; cat'
	local id
	id=$(new_id)
	echo from-stdin >"$BATS_TEST_TMPDIR/in"
	stasis run -d --bundle "$BUNDLE" "$id" <"$BATS_TEST_TMPDIR/in" \
		>"$BATS_TEST_TMPDIR/o" 2>"$BATS_TEST_TMPDIR/e" 3>&-
	wait_for_status "$id" stopped
	assert_equal "$(cat "$BATS_TEST_TMPDIR/o")" "out"$'\n'"from-stdin" stdout
	assert_equal "$(cat "$BATS_TEST_TMPDIR/e")" err stderr
}

@test "stdout stays open for the container after create returns" {
	setup_bundle sh -c 'echo after-start'
	local id
	id=$(new_id)
	create_container "$id"
	stasis start "$id"
	wait_for_status "$id" stopped
	run container_out "$id"
	assert_output_equals after-start
}

@test "with a terminal, the pty master arrives over --console-socket" {
	setup_bundle sh -c 'tty; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-ttys; stat -c %t /dev/console'
	update_config '.process.terminal = true'
	local sock=$BATS_TEST_TMPDIR/console.sock
	start_recvtty "$sock"
	local id
	id=$(new_id)
	run run_detached "$id" --console-socket "$sock"
	assert_success
	wait_for_status "$id" stopped
	wait_recvtty
	assert_output_contains "/dev/pts/0"
	assert_output_contains all-ttys
	# /dev/console is the pty (major 136 = 0x88)
	assert_output_contains $'\n'"88"
}

@test "with a terminal, input written to the master reaches the process" {
	setup_bundle sh -c 'read line; echo "got:$line"'
	update_config '.process.terminal = true'
	local sock=$BATS_TEST_TMPDIR/console.sock
	start_recvtty "$sock" --input $'hello-tty\n'
	local id
	id=$(new_id)
	run create_container "$id" --console-socket "$sock"
	assert_success
	stasis start "$id"
	wait_for_status "$id" stopped
	wait_recvtty
	assert_output_contains "got:hello-tty"
}

@test "run -t in the foreground without --console-socket: a terminal of the container's own, proxied to the runtime's; input, window size and exit code pass through" {
	# The runtime runs on a pty (ptyrun), as under a user's shell.
	setup_bundle sh -c 'tty; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-ttys; stty size; echo ready; read line; echo "got:$line"; exit 7'
	update_config '.process.terminal = true'
	local id
	id=$(new_id)
	run_on_pty -size 33x111 -expect ready -send $'typed-in\n' "$STASIS" --root "$STASIS_ROOT" run --bundle "$BUNDLE" "$id"
	assert_status 7
	# a pty of the container's own devpts (the runtime's would not even
	# resolve inside), with the runtime's window size
	assert_equal "$(sed -n 1,3p <<<"$output")" "/dev/pts/0"$'\n'"all-ttys"$'\n'"33 111" "tty, [ -t 0/1/2 ], stty size"
	# the runtime put its own terminal back the way it found it
	assert_output_not_contains "ptyrun:"
	# what was typed on the runtime's terminal, echoed by the container's
	# and read by the process
	assert_equal "$(sed -n '5,$p' <<<"$output")" "typed-in"$'\n'"got:typed-in" "the echo and the process's answer"
	assert_no_container "$id"
}

@test "a console socket path close to the 108-byte limit works" {
	setup_bundle tty
	update_config '.process.terminal = true'
	local dir=$BATS_TEST_TMPDIR/s
	# sun_path holds 108 bytes including the NUL: make the path 104 long
	local pad=$((104 - ${#dir} - 1 - 5))
	[ "$pad" -gt 0 ] || skip "temp dir path too long already"
	dir=$dir/$(printf 'd%.0s' $(seq "$pad"))
	mkdir -p "$dir"
	local sock=$dir/c.sk
	assert_equal "${#sock}" 104 "socket path length"
	start_recvtty "$sock"
	local id
	id=$(new_id)
	run run_detached "$id" --console-socket "$sock"
	assert_success
	wait_for_status "$id" stopped
	wait_recvtty
	assert_output_contains "/dev/pts/0"
}

@test "a terminal with a console socket that does not exist fails" {
	setup_bundle tty
	update_config '.process.terminal = true'
	local id
	id=$(new_id)
	run create_container "$id" --console-socket "$BATS_TEST_TMPDIR/nobody-listens.sock"
	assert_failure
	assert_no_container "$id"
}

@test "a detached terminal without --console-socket fails" {
	setup_bundle tty
	update_config '.process.terminal = true'
	assert_create_fails "console"
}
