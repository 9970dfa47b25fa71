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
