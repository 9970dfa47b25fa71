# Shared helpers for stasis's bats suite. Each .bats file does `load helpers`.
#
#   STASIS   the runtime under test (default: ./stasis at the repo root).
#            `STASIS=runc bats tests/bats` validates the suite against runc;
#            tests of stasis-only behaviour call `stasis_only`, which skips
#            them under runc.
#   RECVTTY  the console-socket receiver (default: build/recvtty).
#
# Every test gets its own state dir ($STASIS_ROOT) and a unique id prefix;
# teardown force-deletes whatever the test created and fails the test if a
# container, state dir or cgroup is left behind.
#
# NEVER `run stasis create ...` or `run stasis run -d ...` directly: the
# container would inherit bats's output pipe and hang the test. Use
# create_container / run_detached, which send the container's stdio to files.

REPO_ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
STASIS=${STASIS:-$REPO_ROOT/stasis}
RECVTTY=${RECVTTY:-$REPO_ROOT/build/recvtty}
MKBUNDLE=$REPO_ROOT/scripts/mkbundle.sh
export STASIS

# ---------------------------------------------------------------- set-up

setup() {
	common_setup
}

teardown() {
	common_teardown
}

common_setup() {
	if ! command -v "$STASIS" >/dev/null 2>&1; then
		echo "runtime '$STASIS' not found: run 'make build' or set STASIS" >&2
		return 1
	fi
	STASIS_ROOT=$BATS_TEST_TMPDIR/state
	mkdir -p "$STASIS_ROOT"
	# Ids are unique across tests and runs so cgroups never collide.
	ID_PREFIX="st${BATS_SUITE_TEST_NUMBER:-$BATS_TEST_NUMBER}x$$"
	ID_COUNTER=0
	CLEANUPS=()
	: >"$BATS_TEST_TMPDIR/ids"
	export STASIS_ROOT
}

# on_teardown 'CMD': run CMD (with eval) in teardown, last registered first.
on_teardown() {
	CLEANUPS+=("$1")
}

common_teardown() {
	local i id leftover=""
	for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${CLEANUPS[i]}" >/dev/null 2>&1 || true
	done
	[ -n "${STASIS_ROOT:-}" ] || return 0
	for id in $("$STASIS" --root "$STASIS_ROOT" list -q 2>/dev/null); do
		"$STASIS" --root "$STASIS_ROOT" delete --force "$id" >/dev/null 2>&1 || true
	done
	# Containers whose state is too broken to list may still have a process.
	while read -r id; do
		[ -n "$id" ] || continue
		"$STASIS" --root "$STASIS_ROOT" delete --force "$id" >/dev/null 2>&1 || true
	done <"$BATS_TEST_TMPDIR/ids"
	if [ -n "$("$STASIS" --root "$STASIS_ROOT" list -q 2>/dev/null)" ]; then
		leftover+="containers still listed: $("$STASIS" --root "$STASIS_ROOT" list -q); "
	fi
	if [ -d "$STASIS_ROOT" ] && [ -n "$(ls -A "$STASIS_ROOT")" ]; then
		leftover+="state dir not empty: $(ls -A "$STASIS_ROOT" | tr '\n' ' '); "
	fi
	while read -r id; do
		[ -n "$id" ] || continue
		local d
		for d in $(cgroup_dirs_for "$id"); do
			if [ -d "$d" ]; then
				rmdir "$d" 2>/dev/null || true
				leftover+="cgroup left: $d; "
			fi
		done
	done <"$BATS_TEST_TMPDIR/ids"
	# Any process still holding a file, cwd or root in this test's temp dir
	# (every container's stdio points there) was left by the runtime.
	local procs
	if ! procs=$(wait_no_procs_using "$BATS_TEST_TMPDIR" 3); then
		leftover+="processes left: $procs; "
		local p
		for p in $(cut -d: -f1 <<<"$procs" | sort -u); do kill -9 "$p" 2>/dev/null || true; done
	fi
	if [ -n "$leftover" ]; then
		echo "teardown: $leftover" >&2
		return 1
	fi
}

# new_id: print a fresh container id (and remember it for teardown).
# Use as: id=$(new_id) -- the counter lives in a file so $(...) works.
new_id() {
	local n
	n=$(wc -l <"$BATS_TEST_TMPDIR/ids")
	local id="${ID_PREFIX}c$((n + 1))"
	echo "$id" >>"$BATS_TEST_TMPDIR/ids"
	echo "$id"
}

# cgroup_dirs_for ID: where a container's cgroup could be, in every
# hierarchy: under the hierarchy root and under our own cgroup.
cgroup_dirs_for() {
	local id=$1 line hier path mnt ctrl
	while IFS=: read -r hier ctrl path; do
		if [ -z "$ctrl" ]; then
			mnt=/sys/fs/cgroup/unified
			[ -d "$mnt" ] || mnt=/sys/fs/cgroup
		else
			ctrl=${ctrl#name=}
			mnt=/sys/fs/cgroup/${ctrl%%,*}
			[ -d "$mnt" ] || continue
		fi
		echo "$mnt/$id"
		[ "$path" = / ] || echo "$mnt$path/$id"
	done </proc/self/cgroup
}

# ---------------------------------------------------------------- runtime

# stasis ARGS...: the runtime with this test's state dir.
stasis() {
	"$STASIS" --root "$STASIS_ROOT" "$@"
}

is_runc() {
	[ "$(basename "$STASIS")" = runc ]
}

# stasis_only [WHY]: this test checks stasis-only behaviour or wording.
stasis_only() {
	if is_runc; then
		skip "stasis-only${1:+: $1}"
	fi
}

# setup_bundle [ARGS...]: make a busybox bundle whose process runs ARGS.
setup_bundle() {
	BUNDLE=$BATS_TEST_TMPDIR/bundle
	ROOTFS=$BUNDLE/rootfs
	"$MKBUNDLE" "$BUNDLE" "$@" >/dev/null
	export BUNDLE ROOTFS
}

# update_config 'JQ FILTER' [jq args...]: edit $BUNDLE/config.json in place.
# The jq args come after the filter (e.g. --arg n v, or --args -- a b).
update_config() {
	local f=$BUNDLE/config.json
	jq "$1" "${@:2}" <"$f" >"$f.tmp" && mv "$f.tmp" "$f"
}

# set_args ARGS...: set process.args.
set_args() {
	update_config '.process.args = $ARGS.positional' --args -- "$@"
}

# create_container ID [FLAGS...]: `create --bundle $BUNDLE FLAGS ID` with the
# container's stdin from /dev/null and its stdout/stderr in files
# ($BATS_TEST_TMPDIR/ID.out, ID.err). On failure, the runtime's stderr is
# printed, so `run create_container ...` sees it in $output.
create_container() {
	local id=$1
	shift
	detached_cmd "$id" create --bundle "$BUNDLE" "$@" "$id"
}

# run_detached ID [FLAGS...]: like create_container, with `run -d`.
run_detached() {
	local id=$1
	shift
	detached_cmd "$id" run -d --bundle "$BUNDLE" "$@" "$id"
}

detached_cmd() {
	local id=$1 rc=0
	shift
	local out=$BATS_TEST_TMPDIR/$id.out err=$BATS_TEST_TMPDIR/$id.err
	"$STASIS" --root "$STASIS_ROOT" "$@" </dev/null >"$out" 2>"$err" 3>&- || rc=$?
	if [ $rc -ne 0 ]; then
		cat "$err"
	fi
	return $rc
}

# container_out ID / container_err ID: what the container wrote so far.
container_out() { cat "$BATS_TEST_TMPDIR/$1.out"; }
container_err() { cat "$BATS_TEST_TMPDIR/$1.err"; }

# state_field ID FIELD: print one field of `state ID`.
state_field() {
	stasis state "$1" | jq -r ".$2"
}

container_pid() {
	state_field "$1" pid
}

# wait_for_status ID STATUS [TIMEOUT_SECONDS=5]
wait_for_status() {
	local id=$1 want=$2 timeout=${3:-5} st="" i
	for ((i = 0; i < timeout * 20; i++)); do
		st=$(stasis state "$id" 2>/dev/null | jq -r .status 2>/dev/null) || true
		[ "$st" = "$want" ] && return 0
		sleep 0.05
	done
	echo "container $id: status '$st', want '$want' after ${timeout}s" >&2
	return 1
}

# wait_for_file PATH [TIMEOUT_SECONDS=5]
wait_for_file() {
	local f=$1 timeout=${2:-5} i
	for ((i = 0; i < timeout * 20; i++)); do
		[ -e "$f" ] && return 0
		sleep 0.05
	done
	echo "timed out waiting for $f" >&2
	return 1
}

# run_in_container [SPEC-ARGS...]: run ARGS in a fresh container in the
# foreground (create + start + wait) with the current $BUNDLE, setting
# $status/$output like `run`. Stdin is /dev/null.
run_in_container() {
	local id
	id=$(new_id)
	set_args "$@"
	run stasis run --bundle "$BUNDLE" "$id" </dev/null
	stasis delete --force "$id" >/dev/null 2>&1 || true
}

# ---------------------------------------------------------------- asserts

fail() {
	echo "FAIL: $*" >&2
	return 1
}

assert_success() {
	if [ "$status" -ne 0 ]; then
		fail "expected success, got exit status $status${1:+ ($1)}; output:"$'\n'"$output"
	fi
}

assert_failure() {
	if [ "$status" -eq 0 ]; then
		fail "expected failure, got exit status 0${1:+ ($1)}; output:"$'\n'"$output"
	fi
}

assert_status() {
	if [ "$status" -ne "$1" ]; then
		fail "expected exit status $1, got $status; output:"$'\n'"$output"
	fi
}

# assert_output_contains TEXT: $output contains TEXT (a fixed string).
assert_output_contains() {
	if [[ "$output" != *"$1"* ]]; then
		fail "expected output to contain '$1'; output:"$'\n'"$output"
	fi
}

assert_output_not_contains() {
	if [[ "$output" == *"$1"* ]]; then
		fail "expected output NOT to contain '$1'; output:"$'\n'"$output"
	fi
}

# assert_output_matches REGEX (bash extended regex)
assert_output_matches() {
	if ! [[ "$output" =~ $1 ]]; then
		fail "expected output to match /$1/; output:"$'\n'"$output"
	fi
}

# assert_equal ACTUAL EXPECTED [WHAT]
assert_equal() {
	if [ "$1" != "$2" ]; then
		fail "${3:-value}: got '$1', want '$2'"
	fi
}

# assert_output_equals TEXT: $output is exactly TEXT.
assert_output_equals() {
	assert_equal "$output" "$1" "output"
}

# assert_no_container ID: nothing of ID is left: not listed, no state dir,
# no cgroup directory.
assert_no_container() {
	local id=$1 d
	run stasis list -q
	assert_success
	assert_output_not_contains "$id"
	[ ! -e "$STASIS_ROOT/$id" ] || fail "state dir $STASIS_ROOT/$id left behind"
	for d in $(cgroup_dirs_for "$id"); do
		[ ! -d "$d" ] || fail "cgroup $d left behind"
	done
}

# assert_create_fails [TEXT]: `create` of $BUNDLE must fail, its message
# must contain TEXT (when given), and nothing may be left: no listed
# container, state dir, cgroup or process.
assert_create_fails() {
	local id
	id=$(new_id)
	run create_container "$id"
	assert_failure
	[ -z "${1:-}" ] || assert_output_contains "$1"
	assert_no_container "$id"
	[ -z "$(ls -A "$STASIS_ROOT" 2>/dev/null)" ] || fail "state left: $(ls -A "$STASIS_ROOT")"
	assert_no_process_left
}

# ---------------------------------------------------------------- misc

# procs_using DIR: print "PID:LINK" for every live process with an open fd,
# cwd or root under DIR; this shell and its ancestors are left out (the
# search's own processes are gone by the time it filters).
procs_using() {
	local dir=$1 me=$BASHPID mine=" " line pid
	while [ -n "$me" ] && [ "$me" -gt 1 ]; do
		mine+="$me "
		me=$(awk '$1 == "PPid:" {print $2}' "/proc/$me/status" 2>/dev/null)
	done
	local found
	found=$(find /proc/[0-9]*/fd /proc/[0-9]*/cwd /proc/[0-9]*/root -maxdepth 1 \
		\( -lname "$dir" -o -lname "$dir/*" \) -printf '%h/%f:%l\n' 2>/dev/null || true)
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		pid=${line#/proc/}
		pid=${pid%%/*}
		[[ "$mine" == *" $pid "* ]] && continue
		[ -e "/proc/$pid/status" ] || continue
		echo "$pid:${line#*:}"
	done <<<"$found"
}

# wait_no_procs_using DIR [TIMEOUT_SECONDS]: wait until no process uses DIR;
# on timeout print them and fail.
wait_no_procs_using() {
	local i p
	for ((i = 0; i < ${2:-3} * 10; i++)); do
		p=$(procs_using "$1")
		[ -z "$p" ] && return 0
		sleep 0.1
	done
	echo "$p" | tr '\n' ' '
	return 1
}

# assert_no_process_left: no process holds anything in this test's temp dir.
assert_no_process_left() {
	local p
	p=$(wait_no_procs_using "$BATS_TEST_TMPDIR" 3) || fail "processes left: $p"
}

# pid_alive PID: the process exists and is not a zombie.
pid_alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# wait_pid_gone PID [TIMEOUT_SECONDS=5]: wait until PID is dead (or a zombie).
wait_pid_gone() {
	local i
	for ((i = 0; i < ${2:-5} * 20; i++)); do
		pid_alive "$1" || return 0
		sleep 0.05
	done
	echo "process $1 still alive" >&2
	return 1
}

# host_ns TYPE: the host's namespace link for TYPE (e.g. net -> net:[4026...]).
host_ns() {
	readlink "/proc/self/ns/$1"
}

# ns_inode LINK-TEXT: the inode number in "net:[4026531833]".
ns_inode() {
	local s=${1##*[}
	echo "${s%]}"
}

# start_ns_holder UNSHARE-FLAGS...: start `sleep` in new namespaces made by
# `unshare --fork FLAGS`; sets HOLDER_PID to the sleep's pid (call it
# directly, not in $(...), so its teardown is registered). Killed in teardown.
start_ns_holder() {
	setsid unshare --fork "$@" sleep 300 </dev/null >/dev/null 2>&1 3>&- &
	local upid=$! i c
	disown $upid
	on_teardown "kill -9 $upid"
	HOLDER_PID=
	for ((i = 0; i < 100; i++)); do
		c=$(pgrep -P "$upid" -x sleep || true)
		if [ -n "$c" ]; then
			on_teardown "kill -9 $c"
			HOLDER_PID=$c
			return 0
		fi
		sleep 0.05
	done
	echo "namespace holder (unshare $*) did not start" >&2
	return 1
}

# ---------------------------------------------------------------- user namespaces

# userns_bundle: make the bundle usable by container root = host uid 100000:
# map 0 -> 100000 (65536 ids), chown the rootfs, let that uid reach it.
userns_bundle() {
	update_config '.linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
		| .linux.gidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]'
	chown -R 100000:100000 "$ROOTFS"
	# bats's temp dirs are 0700: let the mapped root traverse them
	local d=$BUNDLE
	while [ "$d" != / ] && [ "$d" != "$(dirname "$BATS_RUN_TMPDIR")" ]; do
		chmod o+x "$d"
		d=$(dirname "$d")
	done
}

# ---------------------------------------------------------------- terminals

# start_recvtty SOCKET [recvtty flags...]: run recvtty in the background,
# writing the terminal's output to $BATS_TEST_TMPDIR/tty.out.
start_recvtty() {
	[ -x "$RECVTTY" ] || skip "recvtty not built (make helpers)"
	local sock=$1
	shift
	rm -f "$BATS_TEST_TMPDIR/recvtty.ready"
	"$RECVTTY" --out "$BATS_TEST_TMPDIR/tty.out" --ready "$BATS_TEST_TMPDIR/recvtty.ready" "$@" "$sock" \
		</dev/null >"$BATS_TEST_TMPDIR/recvtty.log" 2>&1 3>&- &
	RECVTTY_PID=$!
	on_teardown "kill $RECVTTY_PID"
	wait_for_file "$BATS_TEST_TMPDIR/recvtty.ready"
}

# run_on_pty [ptyrun flags...] CMD...: run CMD with a terminal of its own
# as its stdio and controlling tty (tests/cmd/ptyrun, built by make
# helpers), setting $status (CMD's exit status) and $output (what it wrote
# to the terminal, carriage returns removed) like `run`. ptyrun's
# -expect TEXT -send TEXT pairs type TEXT once the output shows TEXT.
run_on_pty() {
	local ptyrun=${PTYRUN:-$REPO_ROOT/build/ptyrun}
	[ -x "$ptyrun" ] || skip "ptyrun not built (make helpers)"
	run "$ptyrun" "$@" </dev/null 3>&-
	output=${output//$'\r'/}
}

# wait_recvtty: wait for recvtty to finish (the pty closed) and put what it
# read in $output (carriage returns removed).
wait_recvtty() {
	local i
	for ((i = 0; i < 100; i++)); do
		kill -0 "$RECVTTY_PID" 2>/dev/null || break
		sleep 0.05
	done
	output=$(tr -d '\r' <"$BATS_TEST_TMPDIR/tty.out")
}
