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

# run_piped ID [FLAGS...]: `run -d` $BUNDLE as ID with stdout into a new
# reader named ID and stderr appended to ID.err.
run_piped() {
	local id=$1 t=$BATS_TEST_TMPDIR rc=0
	shift
	start_reader "$id"
	"$STASIS" --root "$STASIS_ROOT" run -d --bundle "$BUNDLE" "$@" "$id" \
		</dev/null >&"$READER_FD" 2>>"$t/$id.err" 3>&- || rc=$?
	exec {READER_FD}>&-
	[ $rc -eq 0 ] || cat "$t/$id.err"
	return $rc
}

# restore_piped ID [FLAGS...]: `restore -d FLAGS ID` (default image $IMG,
# bundle $BUNDLE: later flags win) with stdout into a new reader named ID
# and stderr appended to ID.err; prints the runtime's error on failure, so
# `run restore_piped ...` sees it in $output.
restore_piped() {
	local id=$1 t=$BATS_TEST_TMPDIR
	shift
	start_reader "$id"
	local rc=0
	"$STASIS" --root "$STASIS_ROOT" restore -d --image-path "$IMG" --bundle "$BUNDLE" "$@" "$id" \
		</dev/null >&"$READER_FD" 2>>"$t/$id.err" 3>&- || rc=$?
	exec {READER_FD}>&-
	[ $rc -eq 0 ] || cat "$t/$id.err"
	return $rc
}

log_of() { cat "$BATS_TEST_TMPDIR/$1.log"; }
lines_of() { wc -l <"$BATS_TEST_TMPDIR/$1.log"; }
first_of() { head -n 1 "$BATS_TEST_TMPDIR/$1.log"; }
last_of() { tail -n 1 "$BATS_TEST_TMPDIR/$1.log"; }
