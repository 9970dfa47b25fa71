# Shared by tests/security/*.bats: the bats suite's helpers (state dir per
# test, ids, teardown that fails a test leaking a container, state dir,
# cgroup or process) and what the CVE tests add to them.
#
#   SECHELPER  the static helper copied into rootfses (default:
#              build/sechelper, made by `make helpers`).

load ../bats/helpers

SECHELPER=${SECHELPER:-$REPO_ROOT/build/sechelper}

# need_sechelper: copy the static helper into the bundle's /bin.
need_sechelper() {
	[ -x "$SECHELPER" ] || fail "sechelper not built (make helpers)"
	! ldd "$SECHELPER" >/dev/null 2>&1 || fail "$SECHELPER is not static (build it with CGO_ENABLED=0)"
	cp "$SECHELPER" "$ROOTFS/bin/sechelper"
}

# grant_caps CAP...: add capabilities to every set of process.capabilities
# but the ambient one.
grant_caps() {
	update_config '.process.capabilities |= with_entries(if .key == "ambient" then . else .value += $ARGS.positional end)' \
		--args -- "$@"
}

# add_hook KIND SCRIPT-FILE [ARGS...]: append a hook that runs the shell
# script SCRIPT-FILE with ARGS (hooks get an empty environment; the
# script sets its own PATH).
add_hook() {
	local kind=$1 script=$2
	shift 2
	update_config '.hooks[$k] += [{"path": "/bin/sh", "args": (["sh", $s] + $ARGS.positional)}]' \
		--arg k "$kind" --arg s "$script" --args -- "$@"
}

# exec_detached ID ARGS...: `exec -d` with stdio in files, like
# create_container (ID.exec.out / ID.exec.err).
exec_detached() {
	local id=$1 rc=0
	shift
	"$STASIS" --root "$STASIS_ROOT" exec -d "$id" "$@" </dev/null \
		>>"$BATS_TEST_TMPDIR/$id.exec.out" 2>>"$BATS_TEST_TMPDIR/$id.exec.err" 3>&- || rc=$?
	[ $rc -eq 0 ] || cat "$BATS_TEST_TMPDIR/$id.exec.err"
	return $rc
}

# binary_fingerprint FILE: its content hash, size, mtime and ctime (a
# write of identical bytes changes no hash but moves mtime).
binary_fingerprint() {
	local f
	f=$(readlink -f "$1")
	echo "$(sha256sum <"$f" | cut -d' ' -f1) $(stat -c '%s %y %z' "$f")"
}

# tree_fingerprint DIR: every entry's type, mode, link target and, for a
# file, content hash, so any write or added entry under DIR shows.
tree_fingerprint() {
	(cd "$1" && find . -printf '%y %m %p -> %l\n' | sort &&
		find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}

# host_mounts_under DIR [MOUNTINFO]: the mounts at or under DIR in
# MOUNTINFO (default: our own, the host's mount table).
host_mounts_under() {
	awk -v d="$1" '$5 == d || index($5, d "/") == 1' "${2:-/proc/self/mountinfo}"
}

# wait_file_or_fail PATH TIMEOUT WHAT: like wait_for_file, failing with WHAT.
wait_file_or_fail() {
	wait_for_file "$1" "$2" || fail "$3: $1 not written in ${2}s"
}
