#!/usr/bin/env bats
# State that lives inside the container needs no flags (checkpoint/auto.go).
# Proves: a SQLite database in WAL mode (fcntl locks on the database and
# its -shm file) keeps taking inserts across a checkpoint and a restore
# under a new id with no flags, every row there and contiguous, its
# integrity check ok; a process holding a deleted file, a flock and a FIFO
# to a child carries all three over with no flags (and a deleted file
# bigger than CRIU's 1 MiB ghost limit too); `checkpoint --dry-run` says
# what it turned on and why, in text and JSON; and where it is not safe (a
# lock on, or a deleted file of, a host directory bind-mounted in) the
# checkpoint is refused before CRIU runs, naming the file and the way out,
# unless the user's --file-locks says to go ahead; a lock taken only now
# and then is judged as the freeze finds it, not as the plan saw it.
#
# The programs are Debian's python3 (scripts/install-deps.sh) with the
# host's /usr bound read-only into the busybox rootfs (apps.bash).

load helpers
load apps

setup() {
	common_setup
	command -v criu >/dev/null || skip "criu not on PATH (run make deps; put /usr/local/sbin first)"
	need_python
	IMG=$BATS_TEST_TMPDIR/img
	OUTDIR=$BATS_TEST_TMPDIR/out
	HOSTVOL=$BATS_TEST_TMPDIR/vol
	mkdir -p "$OUTDIR" "$HOSTVOL"
}

teardown() {
	common_teardown
}

# python_bundle SCRIPT: apps.bash's host-/usr bundle running python3 -c
# SCRIPT, with /out (a host dir the test reads; the script appends to
# /out/log, and CRIU lets a file opened for appending grow between
# checkpoint and restore) and /vol (a host dir for the refusals).
python_bundle() {
	rm -rf "$BUNDLE"
	setup_host_usr_bundle "$PYTHON" -u -c "$1"
	update_config '.mounts += [{"destination": "/out", "type": "bind", "source": $o, "options": ["rbind"]},
			{"destination": "/vol", "type": "bind", "source": $v, "options": ["rbind"]}]' \
		--arg o "$OUTDIR" --arg v "$HOSTVOL"
}

# wait_log N [FILE]: wait until FILE (/out/log) has N lines.
wait_log() {
	local f=${2:-$OUTDIR/log} i
	for ((i = 0; i < 200; i++)); do
		[ -f "$f" ] && [ "$(wc -l <"$f")" -ge "$1" ] && return 0
		sleep 0.05
	done
	fail "$f has $(wc -l <"$f" 2>/dev/null || echo no) lines, want $1: $(tail -n 3 "$f" 2>/dev/null | tr '\n' ' '); stderr: $(cat "$BATS_TEST_TMPDIR"/*.err 2>/dev/null | tail -n 5)"
}

# assert_log_contiguous [FILE]: the numbers in FILE go 1, 2, 3, ... (a
# restore from the images repeats or loses none).
assert_log_contiguous() {
	local f=${1:-$OUTDIR/log}
	awk '$1 != NR { printf "line %d is %s\n", NR, $0; bad = 1; exit } END { exit bad }' "$f" ||
		fail "$f is not contiguous: $(awk '$1 != NR { print NR ": " $0; exit }' "$f")"
}

checkpoint_and_restore() { # checkpoint_and_restore ID ID2
	run stasis checkpoint --image-path "$IMG" "$1"
	assert_success
	local before
	before=$(wc -l <"$OUTDIR/log")
	detached_cmd "$2" restore -d --image-path "$IMG" --bundle "$BUNDLE" "$2"
	assert_equal "$(state_field "$2" status)" running "status of the restored container"
	wait_log $((before + 10))
}

SQLITE_APP='
import sqlite3, time
db = sqlite3.connect("/data/t.db", isolation_level=None)
assert db.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
db.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY, v TEXT)")
log = open("/out/log", "a", buffering=1)
n = 0
while True:
    n += 1
    db.execute("INSERT INTO t VALUES (?, ?)", (n, "row %d" % n))
    log.write("%d\n" % n)
    time.sleep(0.02)
'

@test "a SQLite database in WAL mode keeps its inserts across checkpoint and restore, with no flags" {
	python_bundle "$SQLITE_APP"
	local id id2
	id=$(new_id)
	id2=$(new_id)
	run_detached "$id"
	wait_log 20
	local pid locks
	pid=$(container_pid "$id")
	locks=$(grep -c '^lock:' /proc/"$pid"/fdinfo/* 2>/dev/null | awk -F: '{s += $2} END {print s + 0}')
	[ "$locks" -gt 0 ] || fail "the database holds no locks, so this proves nothing"

	run stasis checkpoint --dry-run "$id"
	assert_success
	# the issue's form, whole: which file, how many locks, whose
	grep -qxE "turned on: file locks: [1-9][0-9]* held on /data/t\.db-shm by pid $pid → dumped" <<<"$output" ||
		fail "the dry-run does not say 'turned on: file locks: N held on /data/t.db-shm by pid $pid → dumped': $(grep 'turned on' <<<"$output")"
	checkpoint_and_restore "$id" "$id2"
	stasis kill "$id2" KILL
	wait_for_status "$id2" stopped
	assert_log_contiguous
	run python3 - "$ROOTFS/data/t.db" <<-'PY'
		import sqlite3, sys
		db = sqlite3.connect(sys.argv[1])
		count, lo, hi = db.execute("SELECT count(*), min(n), max(n) FROM t").fetchone()
		print(count, lo, hi, db.execute("PRAGMA integrity_check").fetchone()[0])
	PY
	assert_success
	local count lo hi ok logged
	read -r count lo hi ok <<<"$output"
	logged=$(wc -l <"$OUTDIR/log")
	assert_equal "$ok" ok "integrity check"
	assert_equal "$lo" 1 "first row"
	assert_equal "$count" "$hi" "rows (count vs max: a gap?)"
	[ "$hi" -ge "$logged" ] || fail "the log says $logged rows were inserted, the database has $hi"
}

GHOST_APP='
import fcntl, os, sys, time
size = int(sys.argv[1])
data = (b"ghost-content." * (size // 14 + 1))[:size]
with open("/data/ghost", "wb") as f:
    f.write(data)
g = open("/data/ghost", "rb")
os.unlink("/data/ghost")
lock = open("/data/lockfile", "w")
fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
os.mkfifo("/data/fifo")
if os.fork() == 0:
    log = open("/out/log", "a", buffering=1)
    with open("/data/fifo") as fifo:
        for line in fifo:
            log.write(line)
    os._exit(0)
fifo = open("/data/fifo", "w", buffering=1)
n = 0
while True:
    n += 1
    g.seek(0)
    if g.read() != data:
        fifo.write("GHOST-CHANGED\n")
    fifo.write("%d\n" % n)
    time.sleep(0.02)
'

@test "a deleted-but-open file, a flock and a FIFO to a child carry over with no flags" {
	local size
	for size in 4096 $((3 * 1024 * 1024)); do
		rm -f "$OUTDIR/log" "$ROOTFS/data/fifo" "$ROOTFS/data/lockfile"
		python_bundle "$GHOST_APP"
		update_config '.process.args += [$s]' --arg s "$size"
		local id id2
		id=$(new_id)
		id2=$(new_id)
		run_detached "$id"
		wait_log 10
		run stasis checkpoint --dry-run --format json "$id"
		assert_success
		assert_equal "$(jq -r '[.auto.file_locks, (.blockers | length)] | join(" ")' <<<"$output")" "true 0" "file locks on, no blockers ($size bytes)"
		jq -e '.auto.why | any(test("deleted file /data/ghost .* no name left"))' <<<"$output" >/dev/null ||
			fail "the plan does not say it carries /data/ghost: $(jq -c .auto <<<"$output")"
		if [ "$size" -gt 1048576 ]; then
			assert_equal "$(jq -r .auto.ghost_limit <<<"$output")" "$size" "ghost limit for a $size-byte file"
		fi
		rm -rf "$IMG"
		checkpoint_and_restore "$id" "$id2"
		assert_log_contiguous
		! grep -q GHOST-CHANGED "$OUTDIR/log" || fail "the deleted file's contents changed ($size bytes)"
		local pid
		pid=$(container_pid "$id2")
		ls -l /proc/"$pid"/fd | grep -q '/data/ghost (deleted)' || fail "the restored process does not hold the deleted /data/ghost: $(ls -l /proc/"$pid"/fd)"
		run flock -n -E 99 "$ROOTFS/data/lockfile" true
		assert_equal "$status" 99 "flock on /data/lockfile after restore (99: still held by the container)"
		stasis kill "$id2" KILL
		wait_for_status "$id2" stopped
		stasis delete "$id2"
	done
}

@test "a lock on, or a deleted file of, a host directory bind-mounted in is refused before CRIU, naming it" {
	python_bundle '
import fcntl, os, sys, time
lock = open("/vol/app.pid", "w")
fcntl.flock(lock, fcntl.LOCK_EX)
open("/out/log", "a").write("1\n")
time.sleep(1000)
'
	local id
	id=$(new_id)
	run_detached "$id"
	wait_log 1
	run stasis checkpoint --image-path "$IMG" "$id"
	assert_failure
	assert_output_contains "checkpoint $id: cannot checkpoint: pid"
	assert_output_contains "holds 1 lock(s) on /vol/app.pid, a file the host shares through a bind mount"
	assert_output_contains "pass --file-locks if nothing outside the container uses it"
	assert_output_not_contains "full log:"
	assert_equal "$(state_field "$id" status)" running "status after the refusal"
	# the user's flag goes ahead
	run stasis checkpoint --dry-run --file-locks "$id"
	assert_success
	assert_output_contains "blockers: none"
	stasis delete --force "$id"

	rm -f "$OUTDIR/log"
	python_bundle '
import os, time
open("/vol/tmp", "w").write("x")
f = open("/vol/tmp")
os.unlink("/vol/tmp")
open("/out/log", "a").write("1\n")
time.sleep(1000)
'
	id=$(new_id)
	run_detached "$id"
	wait_log 1
	run stasis checkpoint --image-path "$IMG" "$id"
	assert_failure
	assert_output_contains "holds /vol/tmp (fd 3), deleted from a mount the host shares (/vol)"
	assert_output_contains "or pass --link-remap if the host may see it linked back there for a while"
	assert_output_not_contains "full log:"
	assert_equal "$(state_field "$id" status)" running "status after the refusal"
	# the way out the refusal names
	run stasis checkpoint --dry-run --link-remap "$id"
	assert_success
	assert_output_contains "blockers: none"
}

# A lock held only around each write, as SQLite holds its own: the plan,
# run before the freeze, may see none and the freeze find one. Half the
# time held, so of several checkpoints some freeze with it held (CRIU
# then dumps filelocks.img) and, before stasis asked CRIU for locks
# whatever the plan saw, some failed with "Some file locks are hold by
# dumping tasks! You can try --file-locks".
BUSY_LOCK_APP='
import fcntl, time
lk = open("/data/busy.lock", "w")
log = open("/out/log", "a", buffering=1)
n = 0
while True:
    n += 1
    fcntl.flock(lk, fcntl.LOCK_EX)
    log.write("%d\n" % n)
    time.sleep(0.004)
    fcntl.flock(lk, fcntl.LOCK_UN)
    time.sleep(0.004)
'

@test "a lock taken only now and then on the container's own file is dumped whenever the freeze finds it, with no flags" {
	python_bundle "$BUSY_LOCK_APP"
	local id id2 i held=0
	id=$(new_id)
	id2=$(new_id)
	run_detached "$id"
	wait_log 20
	for ((i = 1; i <= 12; i++)); do
		rm -rf "$IMG"
		run stasis checkpoint --leave-running --image-path "$IMG" "$id"
		[ "$status" -eq 0 ] || fail "checkpoint $i of 12 failed: $output"
		[ -e "$IMG/filelocks.img" ] && held=$((held + 1))
	done
	[ "$held" -gt 0 ] || fail "no checkpoint of 12 froze the lock held, so this proves nothing"
	# what the dry-run says holds whether it sees the lock or not
	run stasis checkpoint --dry-run "$id"
	assert_success
	assert_output_contains "turned on: file locks"
	assert_output_contains "blockers: none"
	rm -rf "$IMG"
	checkpoint_and_restore "$id" "$id2"
	assert_log_contiguous
	stasis kill "$id2" KILL
	wait_for_status "$id2" stopped
}

@test "a lock taken only now and then on a host bind mount is refused, whether the plan or the freeze finds it" {
	python_bundle "$(sed 's|/data/busy.lock|/vol/busy.lock|' <<<"$BUSY_LOCK_APP")"
	local id i frozen=0
	id=$(new_id)
	run_detached "$id"
	wait_log 20
	# A checkpoint that freezes the lock released goes through (with
	# --leave-running, to go on) and dumps no lock; one that freezes it
	# held is refused as the plan refuses, and the container runs on: CRIU,
	# asked for locks whatever the plan saw, must not dump this one. Until
	# the freeze, not the plan, has found it held once.
	for ((i = 1; i <= 40 && frozen == 0; i++)); do
		rm -rf "$IMG"
		run stasis checkpoint --leave-running --image-path "$IMG" "$id"
		if [ "$status" -eq 0 ]; then
			[ ! -e "$IMG/filelocks.img" ] || fail "checkpoint $i dumped the lock on /vol/busy.lock: $output"
			continue
		fi
		assert_output_contains "checkpoint $id: cannot checkpoint: pid"
		assert_output_contains "holds 1 lock(s) on /vol/busy.lock, a file the host shares through a bind mount"
		assert_output_contains "pass --file-locks if nothing outside the container uses it"
		assert_output_not_contains "full log:"
		assert_equal "$(state_field "$id" status)" running "status after refusal $i"
		[[ $output != *"found once the container was frozen"* ]] || frozen=$i
	done
	[ "$frozen" -gt 0 ] || fail "in 40 checkpoints the freeze never found the lock held where the plan had not, so this proves nothing"
	local before
	before=$(wc -l <"$OUTDIR/log")
	wait_log $((before + 10))
}
