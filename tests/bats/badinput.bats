#!/usr/bin/env bats
# Bad input through the binary. What this file proves:
#
# - Every command that takes a container id (create, run, start, state,
#   kill, delete, exec, pause, resume, ps, events, update, checkpoint,
#   restore) refuses an id with '/', "..", ".", a control character, a
#   space, or more than 255 bytes (so every id over 1024 too), or an
#   empty one: non-zero exit, an error "CMD: invalid container id "..."
#   saying what is wrong, the id quoted (no raw control character reaches
#   the terminal), and nothing left behind: no state, no file outside the
#   state root, nothing in the working directory (default bundle and
#   image dir), no cgroup; an id that is a path to a real container's
#   state dir ("../state/ID") leaves that container alone. A NUL cannot
#   be passed in argv; the unit tests (lifecycle TestValidateID, main
#   TestEveryIDCommand) cover it.
# - restore refuses checkpoint metadata (stasis.json) whose recorded paths
#   (union layers, upper, work, mountpoint; an external mount's host
#   source and destination; the bundle) are not absolute and clean,
#   naming the field and value, before it creates or mounts anything.
# - The path flags behave as docs/paths.md says (runc's behaviour):
#   --root, --image-path, --work-path and --console-socket (short, and
#   over sun_path's 108 bytes) follow symlinks, leaving the links alone;
#   --pid-file follows a symlinked directory but replaces a symlink at
#   its own name (temp file + rename), never writing through it; a
#   dangling --root or pid-file directory fails and nothing is made
#   through it.

load helpers

# bad_cmd ARGS...: the runtime with this test's state dir, stdin from
# /dev/null, stdout and stderr into files (never bats's pipes: a container
# that did start would hang the test), run from an empty directory
# ($WORK); the output is printed so `run bad_cmd` sees it.
bad_cmd() {
	local rc=0
	local dir=$PWD
	cd "$WORK" || return 1
	"$STASIS" --root "$STASIS_ROOT" "$@" </dev/null >"$BATS_TEST_TMPDIR/bad.out" 2>"$BATS_TEST_TMPDIR/bad.err" 3>&- || rc=$?
	cd "$dir" || return 1
	printf '%s' "$(<"$BATS_TEST_TMPDIR/bad.out")$(<"$BATS_TEST_TMPDIR/bad.err")"
	return $rc
}

setup() {
	common_setup
	WORK=$BATS_TEST_TMPDIR/work
	mkdir -p "$WORK"
	# where a bad id's cgroup would be (the ids below start with ID_PREFIX)
	read -ra CG_DIRS <<<"$(cgroup_dirs_for "$ID_PREFIX" | tr '\n' ' ') $(cgroup_dirs_for "${ID_PREFIX}esc" | tr '\n' ' ')"
}

# assert_nothing_left: the state root, the working directory and the
# test's temp dir hold nothing a refused command could have made.
assert_nothing_left() {
	# globs, not ls: this runs after each of some 200 commands
	local f state=() work=()
	for f in "$STASIS_ROOT"/* "$STASIS_ROOT"/.*; do
		[ -e "$f" ] && [ "${f##*/}" != . ] && [ "${f##*/}" != .. ] && state+=("${f##*/}")
	done
	[ "${state[*]}" = "${GOOD_LEFT:-}" ] || fail "state left: ${state[*]}"
	for f in "$WORK"/* "$WORK"/.*; do
		[ -e "$f" ] && [ "${f##*/}" != . ] && [ "${f##*/}" != .. ] && work+=("${f##*/}")
	done
	[ ${#work[@]} -eq 0 ] || fail "left in the working directory: ${work[*]}"
	for f in "$BATS_TEST_TMPDIR"/*; do
		case ${f##*/} in
		state | work | bundle | img | ids | bad.out | bad.err | "$GOOD_LEFT".out | "$GOOD_LEFT".err) ;;
		*) fail "left in the test dir: $f" ;;
		esac
	done
	local d
	for d in "${CG_DIRS[@]}"; do
		[ ! -e "$d" ] || fail "cgroup $d made"
	done
}

@test "every command refuses a bad container id, says why, and leaves nothing" {
	setup_bundle true
	mkdir -p "$BATS_TEST_TMPDIR/img"
	local long256 long1100
	long256=$(printf "${ID_PREFIX}%0$((256 - ${#ID_PREFIX}))d" 0)
	long1100=$(printf "${ID_PREFIX}%0$((1100 - ${#ID_PREFIX}))d" 0)
	local -A why=(
		["${ID_PREFIX}/b"]="'/' at byte ${#ID_PREFIX}"
		["../${ID_PREFIX}esc"]="'/' at byte 2"
		[..]="a directory name"
		[.]="a directory name"
		["${ID_PREFIX}"$'\x01']="control character 0x01"
		["${ID_PREFIX}"$'\n']="control character 0x0a"
		["${ID_PREFIX}"$'\x1b[2J']="control character 0x1b"
		["${ID_PREFIX} x"]="' ' at byte ${#ID_PREFIX}"
		[$long256]="256 bytes long, longer than 255"
		[$long1100]="1100 bytes long, longer than 255"
	)
	local cmds=(
		"create --bundle $BUNDLE" "run -d --bundle $BUNDLE" "run --bundle $BUNDLE" start state kill delete "delete --force"
		exec pause resume ps "events --stats" update checkpoint "restore -d --bundle $BUNDLE --image-path $BATS_TEST_TMPDIR/img"
	)
	# A real container, and an id that is a path to its state dir.
	local good
	good=$(new_id)
	run create_container "$good"
	assert_success
	GOOD_LEFT=$good
	why["../${STASIS_ROOT##*/}/$good"]="'/' at byte 2"
	local id cmd args
	for cmd in "${cmds[@]}"; do
		read -ra args <<<"$cmd"
		for id in "${!why[@]}" ""; do
			local extra=()
			case ${args[0]} in
			kill) extra=(KILL) ;;
			exec) extra=(true) ;;
			esac
			run bad_cmd "${args[@]}" "$id" "${extra[@]}"
			assert_failure "$cmd '$id'"
			assert_output_contains "${args[0]}: invalid container id "
			if [ -n "$id" ]; then
				assert_output_contains "${why[$id]}"
			else
				assert_output_contains 'invalid container id "": empty'
			fi
			# the id is quoted in the message, never printed raw
			assert_output_not_contains $'\x01'
			assert_output_not_contains $'\x1b'
			assert_output_not_contains "$long256"
			[[ $output != *$'\n'* ]] || fail "$cmd '$id': more than one line: $output"
			assert_nothing_left
		done
	done
	# exec fails as runc's runtime failures do, with 255
	run bad_cmd exec "${ID_PREFIX}/b" true
	assert_status 255
	# the real container was not touched by the path to it
	run state_field "$good" status
	assert_output_equals created
	run stasis delete "$good"
	assert_success
	assert_no_container "$good"
}

# bad_image FIELD-JQ: an image dir $BATS_TEST_TMPDIR/img whose stasis.json
# is a plausible overlay checkpoint's, edited by the jq filter.
bad_image() {
	mkdir -p "$BATS_TEST_TMPDIR/img"
	jq -n '{id: "old", bundle: "/run/old-bundle", descriptors: ["/dev/null", "/dev/null", "/dev/null"],
		external_mounts: [{dest: "/dev/kmsg", kind: "host", host_path: "/dev/null"}],
		union: {kind: "overlay", mountId: 199, root: "/", mountpoint: "/var/lib/x/merged",
			layers: [{path: "/var/lib/x/diff", perm: "upper"}, {path: "/var/lib/x/l1", perm: "lower"}],
			upper: "/var/lib/x/diff", work: "/var/lib/x/work"}} | '"$1" >"$BATS_TEST_TMPDIR/img/stasis.json"
}

@test "restore refuses checkpoint metadata with a relative or unclean host path, naming field and value" {
	setup_bundle true
	local filter want
	while IFS='|' read -r filter want; do
		bad_image "$filter"
		local id
		id=$(new_id)
		run bad_cmd restore -d --bundle "$BUNDLE" --image-path "$BATS_TEST_TMPDIR/img" "$id"
		assert_failure
		assert_output_contains "$BATS_TEST_TMPDIR/img/stasis.json: $want"
		assert_no_container "$id"
		assert_nothing_left
		! mountpoint -q "$ROOTFS" || fail "restore mounted the union at $ROOTFS"
	done <<-'EOF'
		.union.layers[1].path = "var/lib/x/l1"|union.layers[1].path "var/lib/x/l1" is not an absolute path
		.union.layers[0].path = "/var/lib/x/../../../etc"|union.layers[0].path "/var/lib/x/../../../etc" is not a clean path (clean, it is "/etc")
		.union.upper = "/var/lib/x/diff/"|union.upper "/var/lib/x/diff/" is not a clean path
		.union.work = "work"|union.work "work" is not an absolute path
		.external_mounts[0].host_path = "/dev/../etc/shadow"|external_mounts[0].host_path "/dev/../etc/shadow" is not a clean path
		.external_mounts[0].dest = "dev/kmsg"|external_mounts[0].dest "dev/kmsg" is not an absolute path
		.bundle = "./old"|bundle "./old" is not an absolute path
	EOF
	# the same metadata with clean paths gets past the check (and fails
	# later, on the layers that do not exist here)
	bad_image .
	run bad_cmd restore -d --bundle "$BUNDLE" --image-path "$BATS_TEST_TMPDIR/img" "$(new_id)"
	assert_failure
	assert_output_not_contains "stasis.json: "
	assert_output_contains "layer /var/lib/x/diff is gone"
	assert_nothing_left
}

# ---------------------------------------------------------------- paths through symlinks
# What docs/paths.md says, flag by flag.

@test "--root through a symlink: the state is in the link's target, the link stays" {
	setup_bundle sleep 100
	local real=$BATS_TEST_TMPDIR/realroot link=$BATS_TEST_TMPDIR/rootlink
	mkdir "$real"
	ln -s realroot "$link"
	STASIS_ROOT=$link # every helper, teardown included, goes through the link
	local id
	id=$(new_id)
	run create_container "$id"
	assert_success
	[ -L "$link" ] || fail "--root link replaced"
	[ -f "$real/$id/state.json" ] || fail "no state in the link's target: $(ls -la "$real")"
	# the same container, through the link and through the target
	run "$STASIS" --root "$real" state "$id"
	assert_success
	assert_output_contains '"status": "created"'
	run stasis list -q
	assert_output_equals "$id"
	run "$STASIS" --root "$real" delete --force "$id"
	assert_success
	assert_no_container "$id"
	[ -z "$(ls -A "$real")" ] || fail "left in the root: $(ls -A "$real")"
}

@test "--root that is a dangling symlink: create fails and makes nothing through it" {
	setup_bundle true
	ln -s "$BATS_TEST_TMPDIR/nowhere" "$BATS_TEST_TMPDIR/dangling"
	run bad_cmd --root "$BATS_TEST_TMPDIR/dangling" create --bundle "$BUNDLE" "$(new_id)"
	assert_failure
	assert_output_contains "$BATS_TEST_TMPDIR/dangling"
	[ ! -e "$BATS_TEST_TMPDIR/nowhere" ] || fail "created the dangling link's target"
	[ -L "$BATS_TEST_TMPDIR/dangling" ] || fail "the link was replaced"
}

@test "--pid-file: a symlinked directory is followed; a symlink at the name is replaced, never written through" {
	setup_bundle sleep 100
	local t=$BATS_TEST_TMPDIR
	mkdir "$t/realdir"
	ln -s realdir "$t/dirlink"
	echo precious >"$t/victim"
	ln -s victim "$t/pid.link"
	local id pid
	id=$(new_id)
	run create_container "$id" --pid-file "$t/dirlink/init.pid"
	assert_success
	pid=$(container_pid "$id")
	assert_equal "$(cat "$t/realdir/init.pid")" "$pid" "pid file in the symlinked dir's target"
	[ -L "$t/dirlink" ] || fail "dir link replaced"
	stasis start "$id"
	# exec -d writes its pid file the same way: the link at the name goes
	run stasis exec -d --pid-file "$t/pid.link" "$id" sleep 50 </dev/null >/dev/null 2>&1 3>&-
	assert_success
	[ ! -L "$t/pid.link" ] || fail "pid file written through the symlink at its name"
	[[ "$(cat "$t/pid.link")" =~ ^[0-9]+$ ]] || fail "pid file: '$(cat "$t/pid.link")'"
	assert_equal "$(cat "$t/victim")" precious "the link's old target"
	# no temp file left beside it
	assert_equal "$(ls -A "$t/realdir")" init.pid "pid file dir"
	run stasis delete --force "$id"
	assert_success
}

@test "--pid-file in a directory that is a dangling symlink: create fails, nothing left" {
	setup_bundle true
	ln -s "$BATS_TEST_TMPDIR/nowhere" "$BATS_TEST_TMPDIR/dangling"
	local id
	id=$(new_id)
	run create_container "$id" --pid-file "$BATS_TEST_TMPDIR/dangling/pid"
	assert_failure
	assert_output_contains "$BATS_TEST_TMPDIR/dangling/pid"
	assert_no_container "$id"
	assert_no_process_left
	[ ! -e "$BATS_TEST_TMPDIR/nowhere" ] || fail "created the dangling link's target"
}

@test "--console-socket through a symlink (short path and over 108 bytes) reaches the socket" {
	setup_bundle tty
	update_config '.process.terminal = true'
	local t=$BATS_TEST_TMPDIR
	# a long path: a symlinked dir deep enough that sun_path cannot hold it
	local deep
	deep=$t/$(printf 'd%.0s' $(seq 60))/$(printf 'e%.0s' $(seq 60))
	mkdir -p "$deep"
	ln -s "$t" "$deep/up"
	[ "${#deep}" -gt 108 ] || fail "long path only ${#deep} bytes"
	local n link
	for n in 1 2; do
		# recvtty takes one pty: one for each container
		start_recvtty "$t/console$n.sock"
		ln -s "console$n.sock" "$t/sock$n.link"
		link=$t/sock$n.link
		[ $n -eq 1 ] || link=$deep/up/sock$n.link
		local id
		id=$(new_id)
		run run_detached "$id" --console-socket "$link"
		assert_success
		wait_for_status "$id" stopped
		wait_recvtty
		assert_output_contains "/dev/pts/0"
		stasis delete "$id"
	done
}

@test "--image-path and --work-path through symlinks: checkpoint writes into the targets, restore reads through the link" {
	command -v criu >/dev/null || skip "criu not on PATH (run make deps; put /usr/local/sbin first)"
	# writes nothing: its stdout file keeps its size, which CRIU checks
	setup_bundle sleep 1000
	local t=$BATS_TEST_TMPDIR
	mkdir "$t/realimg" "$t/realwork"
	ln -s realimg "$t/imglink"
	ln -s realwork "$t/worklink"
	local a b
	a=$(new_id)
	run run_detached "$a"
	assert_success
	run stasis checkpoint --image-path "$t/imglink" --work-path "$t/worklink" "$a"
	assert_success
	[ -L "$t/imglink" ] && [ -L "$t/worklink" ] || fail "a path link was replaced"
	[ -f "$t/realimg/stasis.json" ] || fail "no metadata in the image link's target: $(ls "$t/realimg")"
	ls "$t/realimg" | grep -q '\.img$' || fail "no CRIU images in the image link's target"
	[ -f "$t/realwork/dump.log" ] || fail "no dump.log in the work link's target: $(ls "$t/realwork")"
	b=$(new_id)
	run detached_cmd "$b" restore -d --bundle "$BUNDLE" --image-path "$t/imglink" --work-path "$t/worklink" "$b"
	assert_success
	[ -f "$t/realwork/restore.log" ] || fail "no restore.log in the work link's target"
	wait_for_status "$b" running
	run stasis delete --force "$b"
	assert_success
}
