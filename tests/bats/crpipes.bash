# The stdio pipes of checkpoint/restore tests, loaded after helpers: the
# container writes to a pipe drained by a background cat into NAME.log, as
# real clients give it (CRIU refuses to restore a regular-file stdout not
# opened for appending once it grew), and each restore gets a new pipe.

# start_reader NAME: a pipe whose reader (a background cat) appends all to
# $BATS_TEST_TMPDIR/NAME.log until the last writer closes it; its write end
# is fd $READER_FD of this shell (close it after handing it on), the
# reader's pid in NAME.rpid. With PIPE=fifo, the pipe is the named fifo
# NAME.fifo instead (the container then holds a FILE outside it).
start_reader() {
	local t=$BATS_TEST_TMPDIR
	: >"$t/$1.log"
	if [ "${PIPE:-}" = fifo ]; then
		mkfifo "$t/$1.fifo"
		cat "$t/$1.fifo" >>"$t/$1.log" </dev/null 2>/dev/null 3>&- &
		echo $! >"$t/$1.rpid"
		exec {READER_FD}>"$t/$1.fifo"
	else
		exec {READER_FD}> >(exec cat >>"$t/$1.log" 2>/dev/null 3>&-)
		echo $! >"$t/$1.rpid"
	fi
	on_teardown "kill $(cat "$t/$1.rpid")"
}

# piped NAME ARGS...: "$STASIS --root ROOT ARGS" with stdout into a new
# reader NAME and stderr appended to NAME.err (with CR_STDERR=pipe: into
# the reader too, for a container that must not hold a host file);
# prints the runtime's error on failure, so `run ...` sees it in $output.
# ROOT is $CR_ROOT, else $STASIS_ROOT.
piped() {
	local id=$1 err=$BATS_TEST_TMPDIR/$1.err rc=0
	shift
	start_reader "$id"
	if [ "${CR_STDERR:-}" = pipe ]; then
		"$STASIS" --root "${CR_ROOT:-$STASIS_ROOT}" "$@" </dev/null >&"$READER_FD" 2>&"$READER_FD" 3>&- || rc=$?
	else
		"$STASIS" --root "${CR_ROOT:-$STASIS_ROOT}" "$@" </dev/null >&"$READER_FD" 2>>"$err" 3>&- || rc=$?
	fi
	exec {READER_FD}>&-
	[ $rc -eq 0 ] || cat "$err" 2>/dev/null
	return $rc
}

# run_piped ID [FLAGS...]: `run -d` $BUNDLE as ID (a later --bundle wins)
# through piped.
run_piped() {
	local id=$1
	shift
	piped "$id" run -d --bundle "$BUNDLE" "$@" "$id"
}

# restore_piped ID [FLAGS...]: `restore -d FLAGS ID` through piped, from
# image $IMG when set and bundle $BUNDLE (later flags win). Its stderr is
# always NAME.err's: a failure must show in $output.
restore_piped() {
	local id=$1
	shift
	CR_STDERR= piped "$id" restore -d ${IMG:+--image-path "$IMG"} --bundle "$BUNDLE" "$@" "$id"
}

log_of() { cat "$BATS_TEST_TMPDIR/$1.log"; }
lines_of() { wc -l <"$BATS_TEST_TMPDIR/$1.log"; }
first_of() { head -n 1 "$BATS_TEST_TMPDIR/$1.log"; }
last_of() { tail -n 1 "$BATS_TEST_TMPDIR/$1.log"; }

# Waits take TIMEOUT seconds, default $CR_WAIT or 5.

# wait_lines NAME N [TIMEOUT]: until reader NAME has logged N lines.
wait_lines() {
	local i w=${3:-${CR_WAIT:-5}}
	for ((i = 0; i < w * 20; i++)); do
		[ "$(lines_of "$1")" -ge "$2" ] && return 0
		sleep 0.05
	done
	fail "$1 logged $(lines_of "$1") lines in ${w}s, want $2: $(log_of "$1" | tail -n 5 | tr '\n' ' ')"
}

# wait_reader_done NAME [TIMEOUT]: the writers of NAME's pipe are all gone
# (the container's processes died) and its log is complete.
wait_reader_done() {
	wait_pid_gone "$(cat "$BATS_TEST_TMPDIR/$1.rpid")" "${2:-${CR_WAIT:-5}}" ||
		fail "the processes writing to $1's pipe are still alive"
}

# wait_count_above NAME N [TIMEOUT]: until the last number NAME logged is > N.
wait_count_above() {
	local i l w=${3:-${CR_WAIT:-5}}
	for ((i = 0; i < w * 20; i++)); do
		l=$(last_of "$1")
		[[ "$l" =~ ^[0-9]+$ ]] && [ "$l" -gt "$2" ] && return 0
		sleep 0.05
	done
	fail "$1 did not count past $2 in ${w}s; last line '$(last_of "$1")'"
}

# wait_log_match NAME REGEX [TIMEOUT]: until a line of NAME's log matches.
wait_log_match() {
	local i w=${3:-${CR_WAIT:-5}}
	for ((i = 0; i < w * 20; i++)); do
		grep -Eq "$2" "$BATS_TEST_TMPDIR/$1.log" && return 0
		sleep 0.05
	done
	fail "$1's log has no line matching /$2/: $(tail -n 5 "$BATS_TEST_TMPDIR/$1.log" | tr '\n' ' ')"
}

# assert_consecutive NAME: NAME's log is consecutive numbers.
assert_consecutive() {
	local prev="" n
	while read -r n; do
		[[ "$n" =~ ^[0-9]+$ ]] || fail "$1: not a number: '$n'"
		[ -z "$prev" ] || [ "$n" -eq $((prev + 1)) ] || fail "$1: $n follows $prev"
		prev=$n
	done <"$BATS_TEST_TMPDIR/$1.log"
}

# assert_continues OLD NEW: NEW's count picks up where OLD's stopped: its
# first number is past OLD's last (not a restart from 0), with at most a
# few numbers lost in the pipe at the checkpoint.
assert_continues() {
	local last first
	last=$(last_of "$1")
	first=$(first_of "$2")
	[[ "$last" =~ ^[0-9]+$ ]] && [[ "$first" =~ ^[0-9]+$ ]] || fail "no counts: $1 ended '$last', $2 began '$first'"
	[ "$first" -gt "$last" ] || fail "$2 starts at $first, not after $1's last $last"
	[ "$first" -le $((last + 3)) ] || fail "$2 starts at $first, far after $1's last $last"
}
