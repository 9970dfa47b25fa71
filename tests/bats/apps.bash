# Helpers for apps.bats: bundles that run the host's real programs (Debian's
# python3) and drive them through checkpoint/restore. Loaded after helpers.

PYTHON=/usr/bin/python3
APPS_DIR=$BATS_TEST_DIRNAME/apps

# need_python: Debian's python3 (scripts/install-deps.sh installs it), not
# one from a user's PATH: the bundle gets the host's /usr, nothing else.
need_python() {
	[ -x "$PYTHON" ] || skip "$PYTHON missing (scripts/install-deps.sh installs python3)"
}

# setup_host_usr_bundle ARGS...: a busybox bundle (writable rootfs) whose
# process runs ARGS, with the host's /usr bound READ-ONLY at /usr, so the
# host's python3 and its libraries run inside. /lib, /lib64 (and /bin,
# /sbin for what busybox lacks) are what the host has: links into /usr
# where the host merged them (Debian 12), else read-only binds too. The
# programs of tests/bats/apps are copied to /app; /data is an empty dir.
setup_host_usr_bundle() {
	need_python
	setup_bundle "$@"
	update_config '.root.readonly = false
		| .mounts += [{"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro", "nosuid", "nodev"]}]'
	mkdir -p "$ROOTFS/usr" "$ROOTFS/app" "$ROOTFS/data"
	local d
	for d in lib lib64 lib32 libx32; do
		if [ -L "/$d" ]; then
			ln -s "$(readlink "/$d")" "$ROOTFS/$d"
		elif [ -d "/$d" ]; then
			mkdir -p "$ROOTFS/$d"
			update_config '.mounts += [{"destination": $d, "type": "bind", "source": $d, "options": ["rbind", "ro", "nosuid", "nodev"]}]' \
				--arg d "/$d"
		fi
	done
	cp "$APPS_DIR"/*.py "$ROOTFS/app/"
}

# move_bundle: copy the bundle elsewhere (cp -a), remove the original, and
# point BUNDLE/ROOTFS at the copy: restores then come from a bundle the
# checkpointed container never ran from.
move_bundle() {
	local new=$BATS_TEST_TMPDIR/moved/bundle
	mkdir -p "${new%/*}"
	cp -a "$BUNDLE" "$new"
	rm -rf "$BUNDLE"
	[ ! -e "$BUNDLE" ] || fail "could not remove $BUNDLE"
	BUNDLE=$new
	ROOTFS=$new/rootfs
}

# ---------------------------------------------------------------- stdio pipes
# start_reader, run_piped, restore_piped, log_of: crpipes.bash.
load crpipes

# wait_log NAME REGEX [TIMEOUT=10]: until a line of NAME's log matches REGEX
# (grep -E); fails showing the log's tail and the container's stderr.
wait_log() {
	local i
	for ((i = 0; i < ${3:-10} * 20; i++)); do
		grep -Eq -- "$2" "$BATS_TEST_TMPDIR/$1.log" && return 0
		sleep 0.05
	done
	fail "$1 logged no line matching /$2/ in ${3:-10}s; log: $(tail -n 5 "$BATS_TEST_TMPDIR/$1.log" | tr '\n' ' ') stderr: $(tail -n 5 "$BATS_TEST_TMPDIR/$1.err" 2>/dev/null | tr '\n' ' ')"
}

# app_checkpoint ID [FLAGS...]: checkpoint ID to $IMG; the container is
# gone after, and its stdout pipe closed (the reader's log is complete).
app_checkpoint() {
	local id=$1
	shift
	run stasis checkpoint --image-path "$IMG" "$@" "$id"
	assert_success
	assert_no_container "$id"
	wait_pid_gone "$(cat "$BATS_TEST_TMPDIR/$id.rpid")" 10 || fail "the processes writing to $id's pipe are still alive"
}

# assert_seq WHAT: the numbers on stdin are consecutive, from 0, none lost
# or repeated.
assert_seq() {
	local want=0 n
	while read -r n; do
		[[ "$n" =~ ^[0-9]+$ ]] || fail "$1: not a number: '$n'"
		[ "$n" -eq "$want" ] || fail "$1: $n where $want was due (lost or repeated)"
		want=$((n + 1))
	done
	[ "$want" -gt 0 ] || fail "$1: no numbers"
}
