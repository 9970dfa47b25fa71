#!/usr/bin/env bats
# checkpoint / restore of containers whose processes are not root (issue 14):
#
# - without a user namespace, on a host that does not give stasis (and so
#   CRIU) CAP_SYS_RESOURCE, CRIU cannot read a non-root process's rlimits:
#   checkpoint and checkpoint --dry-run (text and JSON) name the process
#   (pid, uid, command) and the way out, and nothing is frozen or written;
# - in a user namespace (container root = host uid 100000), the same process
#   checkpoints and restores under a new id from a copied bundle: the
#   restored tasks, the mapped root, read the images although the image dir
#   stays root's alone (0700, nothing left in it);
# - PostgreSQL, running as its own user in a user namespace with the host's
#   /usr bound read-only, keeps serving a client that inserts numbered rows
#   over a unix socket across checkpoint and restore (new id, copied
#   bundle): every row is there, without gaps, and the client never saw an
#   error.
#
# The containers write to pipes: a user-namespaced container's restored
# tasks reopen a regular file given as stdio as the mapped root, which may
# not open the host root's files.

load helpers
load crpipes

PG_BIN=/usr/lib/postgresql/15/bin

setup() {
	common_setup
	command -v criu >/dev/null || skip "criu not on PATH (run make deps; put /usr/local/sbin first)"
	IMG=$BATS_TEST_TMPDIR/img
	# PostgreSQL and the restores take their time here
	CR_WAIT=10
	# the container's stderr into its pipe too: a restored task reopens a
	# host file as the mapped root, which may not open it
	CR_STDERR=pipe
}

teardown() {
	common_teardown
}

# ---------------------------------------------------------------- helpers

# start_reader, run_piped, restore_piped, wait_count_above ... : crpipes.bash

# counter_bundle: a busybox bundle counting to stdout as uid 1000.
counter_bundle() {
	setup_bundle sh -c 'i=0; while :; do echo $i; i=$((i+1)); sleep 0.05; done'
	update_config '.process.user = {"uid": 1000, "gid": 1000}'
}

# with_userns: give $BUNDLE a user namespace (container root = host 100000).
with_userns() {
	update_config '.linux.namespaces += [{"type": "user"}]'
	userns_bundle
}

# copy_bundle: copy $BUNDLE to $BATS_TEST_TMPDIR/bundle2 (owners and modes
# kept, so the mapped root still reaches it) and print its path.
copy_bundle() {
	local new=$BATS_TEST_TMPDIR/bundle2
	cp -a "$BUNDLE" "$new"
	echo "$new"
}

# lacks_sys_resource: stasis (and so CRIU) runs without CAP_SYS_RESOURCE.
lacks_sys_resource() {
	local f v
	for f in CapEff CapBnd; do
		v=$(awk -v f="$f:" '$1 == f {print $2}' /proc/self/status)
		(((0x$v >> 24) & 1)) || return 0
	done
	return 1
}

# freezer_state ID: the v1 freezer state of ID's init ("" without one).
freezer_state() {
	local path
	path=$(awk -F: '$2 ~ /(^|,)freezer(,|$)/ {print $3}' "/proc/$(container_pid "$1")/cgroup")
	[ -n "$path" ] && [ -e "/sys/fs/cgroup/freezer$path/freezer.state" ] || return 0
	cat "/sys/fs/cgroup/freezer$path/freezer.state"
}

# assert_images_private: the image dir is still root's alone and holds
# nothing of the restore's private copy.
assert_images_private() {
	assert_equal "$(stat -c '%U %a' "$IMG")" "root 700" "image dir owner and mode"
	local left
	left=$(find "$IMG" -maxdepth 1 -name '.stasis-userns-*')
	[ -z "$left" ] || fail "left in the image dir: $left"
}

# ---------------------------------------------------------------- tests

@test "a non-root process without a user namespace: checkpoint refused before freezing, naming it, when CRIU lacks CAP_SYS_RESOURCE" {
	stasis_only "stasis's pre-freeze check"
	lacks_sys_resource || skip "stasis holds CAP_SYS_RESOURCE here: CRIU can read every rlimit, there is nothing to refuse"
	counter_bundle
	local id pid
	id=$(new_id)
	run_piped "$id"
	wait_count_above "$id" 2
	pid=$(container_pid "$id")
	local want="pid $pid (uid 1000, gid 1000: sh -c i=0;"

	run stasis checkpoint --dry-run "$id"
	assert_success
	assert_output_contains "$want"
	assert_output_contains "CAP_SYS_RESOURCE"
	assert_output_contains "run the container in a user namespace"
	run stasis checkpoint --dry-run --format json "$id"
	assert_success
	jq -e --arg w "$want" '[.blockers[] | select(startswith($w) and contains("user namespace"))] | length == 1' <<<"$output" >/dev/null ||
		fail "no such blocker in: $output"

	run stasis checkpoint --image-path "$IMG" "$id"
	assert_failure
	assert_output_contains "cannot checkpoint: $want"
	assert_output_contains "run the container in a user namespace"
	assert_output_not_contains "criu dump failed"
	# nothing was frozen, dumped or recorded, and the container goes on
	assert_equal "$(state_field "$id" status)" running status
	[ "$(freezer_state "$id")" != FROZEN ] || fail "the container was left frozen"
	[ ! -e "$IMG/inventory.img" ] && [ ! -e "$IMG/stasis.json" ] || fail "images written: $(ls "$IMG")"
	local at
	at=$(last_of "$id")
	wait_count_above "$id" "$at"
}

@test "the same non-root process in a user namespace checkpoints and restores from a copied bundle; the image dir stays root's" {
	counter_bundle
	with_userns
	local a b new at
	a=$(new_id)
	b=$(new_id)
	run_piped "$a"
	wait_count_above "$a" 2
	if ! is_runc; then
		run stasis checkpoint --dry-run "$a"
		assert_success
		assert_output_contains "blockers: none"
	fi
	run stasis checkpoint --image-path "$IMG" "$a"
	assert_success
	wait_reader_done "$a"
	at=$(last_of "$a")
	new=$(copy_bundle)

	run restore_piped "$b" --bundle "$new"
	assert_success
	wait_count_above "$b" "$((at + 2))"
	local first
	first=$(head -n 1 "$BATS_TEST_TMPDIR/$b.log")
	[ "$first" -gt "$at" ] && [ "$first" -le $((at + 3)) ] || fail "restored count starts at $first after $at"
	# still the container's uid 1000, which the host sees as 101000
	assert_equal "$(awk '$1 == "Uid:" {print $2}' "/proc/$(container_pid "$b")/status")" 101000 "host uid of the restored init"
	assert_images_private
}

# ---------------------------------------------------------------- PostgreSQL

# pg_bundle: a bundle whose init (as the postgres user, 101:104 in the
# container) makes a cluster in /var/lib/pg on first start, runs postgres
# on a unix socket in /tmp only, and runs the client: a shell loop feeding
# numbered INSERT ... RETURNING statements to one psql session, which
# prints each number once its row is in, and stops at the first error
# (ON_ERROR_STOP; the loop's end is logged with psql's exit status). The
# loop ends when /tmp/stop exists. The host's /usr (binaries, libraries,
# share/) and ld.so.cache are bound read-only; the container's root is host
# uid 100000, its postgres 100101.
pg_bundle() {
	[ -x "$PG_BIN/postgres" ] && [ -x "$PG_BIN/psql" ] || skip "PostgreSQL 15 not installed (scripts/install-deps.sh installs it)"
	getent passwd postgres >/dev/null || skip "no postgres user on the host"
	local script='
export PATH=/usr/lib/postgresql/15/bin:/bin:/usr/bin LANG=C
D=/var/lib/pg/data
if [ ! -e $D/PG_VERSION ]; then
	initdb -D $D -U postgres -A trust -E UTF8 --locale=C --no-sync >/tmp/initdb.log 2>&1 || { echo "initdb failed"; cat /tmp/initdb.log; exit 1; }
fi
postgres -D $D -c listen_addresses= -c unix_socket_directories=/tmp -c fsync=off >/tmp/pg.log 2>&1 &
n=0
until pg_isready -q -h /tmp; do
	n=$((n+1)); [ $n -lt 300 ] || { echo "postgres did not start"; cat /tmp/pg.log; exit 1; }
	sleep 0.1
done
psql -X -q -h /tmp -c "CREATE TABLE t (n int PRIMARY KEY)" || exit 1
echo "client start"
i=0
while [ ! -e /tmp/stop ]; do
	i=$((i+1)); echo "INSERT INTO t VALUES ($i) RETURNING n;"; sleep 0.02
done | psql -X -q -At -h /tmp -v ON_ERROR_STOP=1 2>&1
echo "client exit $?"
wait'
	setup_bundle sh -c "$script"
	update_config '.process.user = {"uid": 101, "gid": 104} | .root.readonly = false
		| .mounts += [{"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]},
			{"destination": "/etc/ld.so.cache", "type": "bind", "source": "/etc/ld.so.cache", "options": ["bind", "ro"]}]'
	ln -s usr/lib "$ROOTFS/lib"
	ln -s usr/lib64 "$ROOTFS/lib64"
	echo 'postgres:x:101:104:PostgreSQL:/var/lib/pg:/bin/sh' >>"$ROOTFS/etc/passwd"
	echo 'postgres:x:104:' >>"$ROOTFS/etc/group"
	touch "$ROOTFS/etc/ld.so.cache"
	mkdir -p "$ROOTFS/var/lib/pg" "$ROOTFS/usr"
	with_userns
	chown -h 100000:100000 "$ROOTFS/lib" "$ROOTFS/lib64"
	chown 100101:100104 "$ROOTFS/var/lib/pg"
	chmod 0700 "$ROOTFS/var/lib/pg"
}

# pg_query ID SQL: run SQL in container ID as postgres, unaligned output.
pg_query() {
	stasis exec "$1" "$PG_BIN/psql" -X -At -h /tmp -c "$2" </dev/null
}

@test "PostgreSQL as its own user in a user namespace: the client's inserts continue across checkpoint and restore, no row lost" {
	pg_bundle
	local a b new at
	a=$(new_id)
	b=$(new_id)
	run_piped "$a"
	wait_log_match "$a" '^client start$' 60
	wait_count_above "$a" 20
	run stasis checkpoint --image-path "$IMG" "$a"
	assert_success
	wait_reader_done "$a"
	at=$(last_of "$a")
	[[ "$at" =~ ^[0-9]+$ ]] || fail "the client's last line before the checkpoint: '$at'; log: $(log_of "$a" | tail -n 5)"
	new=$(copy_bundle)

	run restore_piped "$b" --bundle "$new"
	assert_success
	# the same client session goes on inserting after the restore
	wait_count_above "$b" "$((at + 20))"
	touch "$new/rootfs/tmp/stop"
	wait_log_match "$b" '^client exit ' 30

	# what the client saw: every number once, in order, then a clean exit
	local seen total
	seen=$(cat "$BATS_TEST_TMPDIR/$a.log" "$BATS_TEST_TMPDIR/$b.log" | grep -Ev '^client (start|exit 0)$')
	total=$(wc -l <<<"$seen")
	assert_equal "$seen" "$(seq 1 "$total")" "the numbers the client got back"
	assert_equal "$(last_of "$b")" "client exit 0" "the client's end"
	# what the server holds: the same rows, no gaps
	run pg_query "$b" 'SELECT count(*), min(n), max(n), count(DISTINCT n) FROM t'
	assert_success
	assert_output_equals "$total|1|$total|$total"
	[ "$total" -gt $((at + 20)) ] || fail "only $total rows, $at of them before the checkpoint"
	assert_images_private
}
