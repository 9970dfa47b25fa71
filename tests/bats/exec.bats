#!/usr/bin/env bats
# exec: a new process in an existing container. Proves: its exit code
# (128+N when killed by signal N); stdio passed through, signals to the
# runtime forwarded; it is in every namespace of the init (a user
# namespace's mapped ids too) and in its cgroups; --process JSON (and a bad
# one refused); -u/-g, HOME from /etc/passwd, --cwd, --env, --cap,
# --no-new-privs, --preserve-fds, --process-label/--apparmor accepted;
# -d --pid-file; a terminal over --console-socket, and in the foreground
# without one a pty of its own proxied to the runtime's terminal (input,
# window size, exit code; the terminal restored), -t -d without a socket
# refused; exec into created/stopped/paused/missing containers and of
# missing commands; execCPUAffinity, and one the kernel refuses.

load helpers

SLEEPER=(sleep 1000)

NS_TYPES="pid mnt ipc uts net cgroup user"
NS_REPORT='for t in pid mnt ipc uts net cgroup user; do echo "$t $(readlink /proc/self/ns/$t)"; done'

# start_container: run a detached container from $BUNDLE; sets ID and INIT
# (its init's pid).
start_container() {
	ID=$(new_id)
	run_detached "$ID"
	INIT=$(container_pid "$ID")
}

# exec_detached ID ARGS...: `exec -d --pid-file` with stdio to /dev/null;
# sets EPID to the exec'd process's pid.
exec_detached() {
	local id=$1
	shift
	local pf=$BATS_TEST_TMPDIR/exec-$RANDOM.pid
	"$STASIS" --root "$STASIS_ROOT" exec -d --pid-file "$pf" "$id" "$@" </dev/null >/dev/null 2>&1 3>&-
	EPID=$(cat "$pf")
}

# status_field NAME: the value of NAME: in /proc/self/status, from $output.
status_field() {
	awk -v n="$1:" '$1 == n {print $2}' <<<"$output"
}

# cap_bit HEX BIT: print 1 if capability BIT is set in the mask HEX, else 0.
cap_bit() {
	echo $(((0x$1 >> $2) & 1))
}

# exec_userns_bundle: map container root to host uid/gid 100000 (65536 ids),
# chown the rootfs to it and let it traverse bats's 0700 temp dirs.
exec_userns_bundle() {
	update_config '.linux.namespaces += [{"type": "user"}]
		| .linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
		| .linux.gidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]'
	chown -R 100000:100000 "$ROOTFS"
	local d=$BUNDLE
	while [ "$d" != / ] && [ "$d" != "$(dirname "$BATS_RUN_TMPDIR")" ]; do
		chmod o+x "$d"
		d=$(dirname "$d")
	done
}

# assert_same_namespaces PID: $output (from NS_REPORT) names the namespaces
# PID (read from the host) is in, for every type.
assert_same_namespaces() {
	local t inside
	for t in $NS_TYPES; do
		inside=$(awk -v t="$t" '$1 == t {print $2}' <<<"$output")
		[ -n "$inside" ] || fail "no $t line in: $output"
		assert_equal "$inside" "$(readlink "/proc/$1/ns/$t")" "$t namespace of the exec'd process vs init $1"
	done
}

# hier_mount KEY: mountpoint of a hierarchy as named in /proc/PID/cgroup.
hier_mount() {
	local k=$1
	if [ -z "$k" ]; then
		if [ -d /sys/fs/cgroup/unified ]; then echo /sys/fs/cgroup/unified; else echo /sys/fs/cgroup; fi
		return
	fi
	k=${k#name=}
	if [ -d "/sys/fs/cgroup/$k" ]; then echo "/sys/fs/cgroup/$k"; else echo "/sys/fs/cgroup/${k%%,*}"; fi
}

# ---------------------------------------------------------------- basics

@test "exec returns the exit code of the process, 128+N when killed by signal N" {
	setup_bundle "${SLEEPER[@]}"
	start_container
	run stasis exec "$ID" true </dev/null
	assert_status 0
	run stasis exec "$ID" sh -c 'exit 7' </dev/null
	assert_status 7
	run stasis exec "$ID" sh -c 'kill -TERM $$' </dev/null
	assert_status 143
	run stasis exec "$ID" sh -c 'kill -KILL $$' </dev/null
	assert_status 137
	# the container is untouched by what its exec'd processes did
	assert_equal "$(state_field "$ID" status)" running status
	pid_alive "$INIT" || fail "init died"
}

@test "exec passes stdin, stdout and stderr through without a terminal" {
	setup_bundle "${SLEEPER[@]}"
	start_container
	printf 'line1\nline2\n' | stasis exec "$ID" sh -c 'cat; echo to-err >&2; readlink /proc/self/fd/0; readlink /proc/self/fd/1' \
		>"$BATS_TEST_TMPDIR/o" 2>"$BATS_TEST_TMPDIR/e"
	run cat "$BATS_TEST_TMPDIR/o"
	assert_equal "$(sed -n 1,2p <<<"$output")" "line1"$'\n'"line2" "stdout"
	[[ "$(sed -n 3p <<<"$output")" == pipe:* ]] || fail "stdin is not a pipe: $output"
	# stdout: the file we gave (stasis) or a pipe the runtime copies from
	# (runc 1.1); never a terminal
	local o4
	o4=$(sed -n 4p <<<"$output")
	[[ "$o4" == "$BATS_TEST_TMPDIR/o" || "$o4" == pipe:* ]] || fail "stdout: $output"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/e")" to-err stderr
}

@test "exec forwards signals sent to the runtime to the process" {
	setup_bundle "${SLEEPER[@]}"
	start_container
	local out=$BATS_TEST_TMPDIR/o
	"$STASIS" --root "$STASIS_ROOT" exec "$ID" sh -c 'trap "echo got-TERM; exit 3" TERM; echo ready; while true; do sleep 0.1; done' \
		</dev/null >"$out" 2>&1 3>&- &
	local xpid=$!
	local i
	for ((i = 0; i < 100; i++)); do grep -q ready "$out" && break; sleep 0.05; done
	grep -q ready "$out" || fail "exec'd process never started: $(cat "$out")"
	kill -TERM "$xpid"
	local rc=0
	wait "$xpid" || rc=$?
	assert_equal "$rc" 3 "exit code of exec"
	grep -q got-TERM "$out" || fail "TERM not forwarded: $(cat "$out")"
}

# ---------------------------------------------------------------- namespaces, cgroups

@test "the exec'd process is in every namespace of the init" {
	setup_bundle "${SLEEPER[@]}"
	update_config '.linux.namespaces += [{"type": "cgroup"}]'
	start_container
	run stasis exec "$ID" sh -c "$NS_REPORT" </dev/null
	assert_success
	assert_same_namespaces "$INIT"
	# and those are new ones, not the host's (exec did not stay outside)
	local t
	for t in pid mnt ipc uts net cgroup; do
		[ "$(readlink "/proc/$INIT/ns/$t")" != "$(host_ns $t)" ] || fail "init's $t namespace is the host's"
	done
}

@test "with a user namespace, the exec'd process joins it (and the mount namespace) with the mapped ids" {
	setup_bundle "${SLEEPER[@]}"
	update_config '.linux.namespaces += [{"type": "cgroup"}]'
	exec_userns_bundle
	start_container
	[ "$(readlink "/proc/$INIT/ns/user")" != "$(host_ns user)" ] || fail "init has no user namespace"
	run stasis exec "$ID" sh -c "$NS_REPORT; id -u; cat /proc/self/uid_map; stat -c %u /bin/busybox" </dev/null
	assert_success
	assert_same_namespaces "$INIT"
	assert_output_matches $'\n'"0"$'\n'"[[:space:]]*0[[:space:]]+100000[[:space:]]+65536"$'\n'"0$"
	# seen from the host, it runs as the mapped uid
	exec_detached "$ID" sleep 1001
	assert_equal "$(awk '$1 == "Uid:" {print $2}' "/proc/$EPID/status")" 100000 "host uid of the exec'd process"
	assert_equal "$(readlink "/proc/$EPID/ns/user")" "$(readlink "/proc/$INIT/ns/user")" "user ns of the detached exec"
	assert_equal "$(readlink "/proc/$EPID/ns/mnt")" "$(readlink "/proc/$INIT/ns/mnt")" "mount ns of the detached exec"
}

@test "the exec'd process is in the init's cgroups in every hierarchy" {
	setup_bundle "${SLEEPER[@]}"
	start_container
	exec_detached "$ID" sleep 1001
	pid_alive "$EPID" || fail "exec'd process $EPID not running"
	assert_equal "$(cat "/proc/$EPID/cgroup")" "$(cat "/proc/$INIT/cgroup")" "/proc/PID/cgroup of exec'd vs init"
	local n key path d checked=0
	while IFS=: read -r n key path; do
		[ "$path" != / ] || fail "init in the root cgroup of '$key'"
		d=$(hier_mount "$key")$path
		grep -qx "$EPID" "$d/cgroup.procs" || fail "exec'd $EPID not in $d/cgroup.procs"
		checked=$((checked + 1))
	done <"/proc/$INIT/cgroup"
	[ "$checked" -ge 1 ] || fail "no hierarchy checked"
}

# ---------------------------------------------------------------- the process

@test "exec --process runs an OCI process JSON as containerd writes it" {
	setup_bundle "${SLEEPER[@]}"
	update_config '.process.env += ["FROM_CONFIG=1"]'
	start_container
	cat >"$BATS_TEST_TMPDIR/process.json" <<'EOF'
{
  "terminal": false,
  "user": {"uid": 1000, "gid": 1000, "additionalGids": [3000, 3001]},
  "args": ["sh", "-c", "id; pwd; echo \"A=$A FROM_CONFIG=$FROM_CONFIG\"; grep -E '^(CapEff|NoNewPrivs):' /proc/self/status; grep 'open files' /proc/self/limits"],
  "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "A=from-process-json"],
  "cwd": "/home/user",
  "capabilities": {
    "bounding": ["CAP_KILL"],
    "effective": ["CAP_KILL"],
    "permitted": ["CAP_KILL"]
  },
  "noNewPrivileges": true,
  "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 321, "soft": 123}]
}
EOF
	run stasis exec --process "$BATS_TEST_TMPDIR/process.json" "$ID" </dev/null
	assert_success
	assert_equal "$(sed -n 1p <<<"$output")" "uid=1000(user) gid=1000(user) groups=3000,3001" "id"
	assert_equal "$(sed -n 2p <<<"$output")" /home/user "cwd"
	# only the JSON's env: the container's own process env does not leak in
	assert_equal "$(sed -n 3p <<<"$output")" "A=from-process-json FROM_CONFIG=" "env"
	# a non-root user with no ambient caps: nothing effective
	assert_equal "$(status_field CapEff)" 0000000000000000 CapEff
	assert_equal "$(status_field NoNewPrivs)" 1 NoNewPrivs
	assert_output_matches "Max open files +123 +321 "
}

@test "exec --process with a bad file fails clearly" {
	setup_bundle "${SLEEPER[@]}"
	start_container
	run stasis exec --process "$BATS_TEST_TMPDIR/missing.json" "$ID" </dev/null
	assert_failure
	assert_output_contains "missing.json"
	echo '{"args": ["true"' >"$BATS_TEST_TMPDIR/bad.json"
	run stasis exec --process "$BATS_TEST_TMPDIR/bad.json" "$ID" </dev/null
	assert_failure
	assert_equal "$(state_field "$ID" status)" running status
}

@test "exec -u uid:gid -g gid sets the user and supplementary groups" {
	setup_bundle "${SLEEPER[@]}"
	start_container
	run stasis exec -u 1000:1000 -g 2000 "$ID" id </dev/null
	assert_success
	assert_output_equals "uid=1000(user) gid=1000(user) groups=2000"
	run stasis exec --user 1000:1000 --additional-gids 2000 --additional-gids 2001 --env X=1 "$ID" id -G </dev/null
	assert_success
	assert_output_equals "1000 2000 2001"
	# uid alone: gid 0
	run stasis exec -u 1000 "$ID" id </dev/null
	assert_success
	assert_output_equals "uid=1000(user) gid=0(root)"
	# and the default is the container's process.user (root)
	run stasis exec "$ID" id -u </dev/null
	assert_output_equals 0
}

@test "exec -u with a bad user fails" {
	setup_bundle "${SLEEPER[@]}"
	start_container
	run stasis exec -u nosuchuser:x "$ID" id </dev/null
	assert_failure
}

@test "exec sets HOME from the container's /etc/passwd when the env has none (as runc)" {
	setup_bundle "${SLEEPER[@]}"
	start_container
	run stasis exec "$ID" sh -c 'echo "home=$HOME"' </dev/null
	assert_success
	assert_output_equals "home=/root"
	run stasis exec -u 1000:1000 "$ID" sh -c 'echo "home=$HOME"' </dev/null
	assert_success
	assert_output_equals "home=/home/user"
	# an explicit HOME wins
	run stasis exec -u 1000:1000 -e HOME=/tmp "$ID" sh -c 'echo "home=$HOME"' </dev/null
	assert_output_equals "home=/tmp"
}

@test "exec --cwd and -e / --env" {
	setup_bundle "${SLEEPER[@]}"
	start_container
	run stasis exec --cwd /tmp -e FOO=bar -e BAZ="two words" "$ID" sh -c 'pwd; echo "$FOO|$BAZ|$TERM"' </dev/null
	assert_success
	# the container's process env (TERM=xterm from the spec) is kept
	assert_output_equals "/tmp"$'\n'"bar|two words|xterm"
	# -e replaces a variable of the container's env
	run stasis exec -e TERM=dumb "$ID" sh -c 'echo "$TERM"; env | grep -c "^TERM="' </dev/null
	assert_success
	assert_output_equals "dumb"$'\n'"1"
	# a cwd that does not exist fails and names it
	run stasis exec --cwd /no/such/dir "$ID" pwd </dev/null
	assert_failure
	assert_output_contains "/no/such/dir"
}

@test "exec --cap adds a capability to the effective set" {
	setup_bundle "${SLEEPER[@]}"
	start_container
	# CAP_SYS_ADMIN is bit 21
	run stasis exec "$ID" grep CapEff /proc/self/status </dev/null
	assert_success
	assert_equal "$(cap_bit "$(status_field CapEff)" 21)" 0 "CAP_SYS_ADMIN effective without --cap"
	run stasis exec --cap CAP_SYS_ADMIN "$ID" sh -c 'grep -E "^Cap(Eff|Bnd):" /proc/self/status; mount -t tmpfs t /tmp && echo mounted' </dev/null
	assert_success
	assert_equal "$(cap_bit "$(status_field CapEff)" 21)" 1 "CAP_SYS_ADMIN effective with --cap"
	assert_equal "$(cap_bit "$(status_field CapBnd)" 21)" 1 "CAP_SYS_ADMIN in the bounding set"
	assert_output_contains mounted
}

@test "exec --no-new-privs sets no_new_privs" {
	setup_bundle "${SLEEPER[@]}"
	update_config '.process.noNewPrivileges = false'
	start_container
	run stasis exec "$ID" grep NoNewPrivs /proc/self/status </dev/null
	assert_success
	assert_equal "$(status_field NoNewPrivs)" 0 "NoNewPrivs without the flag"
	run stasis exec --no-new-privs "$ID" grep NoNewPrivs /proc/self/status </dev/null
	assert_success
	assert_equal "$(status_field NoNewPrivs)" 1 "NoNewPrivs with --no-new-privs"
}

@test "exec --preserve-fds passes extra fds to the process" {
	setup_bundle "${SLEEPER[@]}"
	start_container
	echo via-fd-3 >"$BATS_TEST_TMPDIR/extra"
	run stasis exec --preserve-fds 1 "$ID" sh -c 'cat <&3' 3<"$BATS_TEST_TMPDIR/extra" </dev/null
	assert_success
	assert_output_equals via-fd-3
}

@test "exec accepts --process-label and --apparmor" {
	setup_bundle "${SLEEPER[@]}"
	start_container
	run stasis exec --process-label "" --apparmor "" "$ID" echo ok </dev/null
	assert_success
	assert_output_equals ok
}

# ---------------------------------------------------------------- detached, terminal

@test "exec -d --pid-file returns at once; the pid is live and in the container's pid namespace" {
	setup_bundle "${SLEEPER[@]}"
	start_container
	local pf=$BATS_TEST_TMPDIR/exec.pid t0=$SECONDS
	# stdio to a file: the detached process would hold a pipe open
	stasis exec -d --pid-file "$pf" "$ID" sleep 1001 </dev/null >"$BATS_TEST_TMPDIR/x.out" 2>&1 3>&- ||
		fail "exec -d failed: $(cat "$BATS_TEST_TMPDIR/x.out")"
	[ $((SECONDS - t0)) -lt 5 ] || fail "exec -d took $((SECONDS - t0))s"
	[ -s "$pf" ] || fail "pid file not written"
	local epid
	epid=$(cat "$pf")
	[[ "$epid" =~ ^[0-9]+$ ]] || fail "pid file content: '$epid'"
	pid_alive "$epid" || fail "exec'd pid $epid not alive"
	assert_equal "$(tr '\0' ' ' <"/proc/$epid/cmdline")" "sleep 1001 " "cmdline of $epid"
	assert_equal "$(readlink "/proc/$epid/ns/pid")" "$(readlink "/proc/$INIT/ns/pid")" "pid namespace"
	[ "$epid" != "$INIT" ] || fail "pid file has the init's pid"
	# it goes away with the container
	run stasis delete --force "$ID"
	assert_success
	wait_pid_gone "$epid"
}

@test "exec -t -d --console-socket hands over a pty the process uses" {
	setup_bundle "${SLEEPER[@]}"
	start_container
	local sock=$BATS_TEST_TMPDIR/console.sock
	start_recvtty "$sock"
	run stasis exec -t -d --console-socket "$sock" "$ID" sh -c 'tty; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-ttys; echo "x$((6 * 7))"' </dev/null 3>&-
	assert_success
	wait_recvtty
	assert_output_matches "(^|"$'\n'")/dev/pts/[0-9]+"$'\n'
	assert_output_contains all-ttys
	assert_output_contains x42
}

@test "exec -t in the foreground without --console-socket: a terminal of the process's own, proxied to the runtime's; input, window size and exit code pass through" {
	setup_bundle "${SLEEPER[@]}"
	start_container
	# The runtime runs on a pty (ptyrun), as under a user's shell.
	run_on_pty -size 33x111 -expect ready -send $'typed-in\n' "$STASIS" --root "$STASIS_ROOT" exec -t "$ID" \
		sh -c 'tty; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-ttys; stty size; echo ready; read line; echo "got:$line"; exit 7'
	assert_status 7
	# a pty of the container's devpts (the runtime's would not resolve
	# inside), with the runtime's window size
	[[ "$(sed -n 1p <<<"$output")" =~ ^/dev/pts/[0-9]+$ ]] || fail "tty inside: $output"
	assert_equal "$(sed -n 2,3p <<<"$output")" "all-ttys"$'\n'"33 111" "[ -t 0/1/2 ], stty size"
	# the runtime put its own terminal back the way it found it
	assert_output_not_contains "ptyrun:"
	# typed on the runtime's terminal, echoed by the process's, read by it
	assert_equal "$(sed -n '5,$p' <<<"$output")" "typed-in"$'\n'"got:typed-in" "the echo and the process's answer"
	# and the container runs on
	assert_equal "$(state_field "$ID" status)" running "container status"
}

@test "exec -t -d without --console-socket fails" {
	setup_bundle "${SLEEPER[@]}"
	start_container
	run stasis exec -t -d "$ID" tty </dev/null 3>&-
	assert_failure
	assert_output_contains "console"
}

# ---------------------------------------------------------------- refused / odd states

@test "exec into a created container runs the process and leaves it created (as runc)" {
	setup_bundle sh -c 'echo user-process-ran'
	local id
	id=$(new_id)
	create_container "$id"
	run stasis exec "$id" sh -c 'echo from-exec; tr "\0" " " </proc/1/cmdline' </dev/null
	assert_success
	assert_equal "$(sed -n 1p <<<"$output")" from-exec "exec output"
	# pid 1 is still the runtime's init, waiting for start
	[[ "$(sed -n 2p <<<"$output")" != "sh -c echo user-process-ran"* ]] || fail "user process ran before start: $output"
	assert_equal "$(state_field "$id" status)" created status
	[ -z "$(container_out "$id")" ] || fail "user process wrote before start: $(container_out "$id")"
	run stasis start "$id"
	assert_success
	wait_for_status "$id" stopped
	assert_equal "$(container_out "$id")" user-process-ran "the process after start"
}

@test "exec into a stopped container fails" {
	setup_bundle true
	local id
	id=$(new_id)
	run_detached "$id"
	wait_for_status "$id" stopped
	run stasis exec "$id" echo nope </dev/null
	assert_failure
	assert_output_not_contains nope
	assert_output_contains stopped
}

@test "exec into a paused container fails and leaves it paused" {
	[ -d /sys/fs/cgroup/freezer ] || [ -e /sys/fs/cgroup/cgroup.freeze ] || skip "no freezer"
	setup_bundle "${SLEEPER[@]}"
	start_container
	stasis pause "$ID"
	run timeout 10 "$STASIS" --root "$STASIS_ROOT" exec "$ID" echo nope </dev/null
	assert_failure
	[ "$status" -ne 124 ] || fail "exec into a paused container hung"
	assert_output_not_contains nope
	assert_output_contains paused
	assert_equal "$(state_field "$ID" status)" paused status
	stasis resume "$ID"
}

@test "exec into a missing container fails" {
	run stasis exec no-such-ctr true </dev/null
	assert_failure
	[ -z "$(ls -A "$STASIS_ROOT")" ] || fail "state created: $(ls -A "$STASIS_ROOT")"
}

@test "exec into a missing container names it [stasis-only]" {
	stasis_only "runc 1.1 says only 'container does not exist'"
	run stasis exec no-such-ctr true </dev/null
	assert_failure
	assert_output_contains no-such-ctr
}

@test "exec of a command that does not exist fails clearly and leaves the container running" {
	setup_bundle "${SLEEPER[@]}"
	start_container
	run stasis exec "$ID" /no/such/cmd </dev/null
	assert_failure
	assert_output_contains "/no/such/cmd"
	run stasis exec "$ID" no-such-cmd-in-path </dev/null
	assert_failure
	assert_output_contains "no-such-cmd-in-path"
	assert_equal "$(state_field "$ID" status)" running status
	# only the init is left in the container
	run stasis ps --format json "$ID"
	assert_equal "$(jq -c . <<<"$output")" "[$INIT]" "processes after failed execs"
}

@test "exec without a command fails" {
	setup_bundle "${SLEEPER[@]}"
	start_container
	run stasis exec "$ID" </dev/null
	assert_failure
}

@test "process.execCPUAffinity: an exec'd process ends on the final CPUs; the init is not pinned" {
	stasis_only "runc 1.1.5 ignores execCPUAffinity"
	[ "$(nproc --all)" -ge 2 ] || skip "needs 2 CPUs"
	setup_bundle "${SLEEPER[@]}"
	update_config '.process.execCPUAffinity = {"initial": "0", "final": "1"}'
	start_container
	run stasis exec "$ID" grep Cpus_allowed_list /proc/self/status
	assert_success
	assert_equal "$(status_field Cpus_allowed_list)" 1 "CPUs of the exec'd process"
	output=$(cat "/proc/$INIT/status")
	assert_equal "$(status_field Cpus_allowed_list)" "$(awk '$1 == "Cpus_allowed_list:" {print $2}' /proc/self/status)" \
		"CPUs of the init (execCPUAffinity is not for it)"

	# a --process with its own affinity wins over the container's
	jq '.process | .args = ["grep", "Cpus_allowed_list", "/proc/self/status"] | .execCPUAffinity = {"final": "0"}' \
		"$BUNDLE/config.json" >"$BATS_TEST_TMPDIR/process.json"
	run stasis exec --process "$BATS_TEST_TMPDIR/process.json" "$ID"
	assert_success
	assert_equal "$(status_field Cpus_allowed_list)" 0 "CPUs of the --process one"
}

@test "an execCPUAffinity the kernel refuses fails exec naming the field, and leaves no process" {
	stasis_only "runc 1.1.5 ignores execCPUAffinity"
	setup_bundle "${SLEEPER[@]}"
	start_container
	jq '.process | .args = ["true"] | .execCPUAffinity = {"final": "4000"}' \
		"$BUNDLE/config.json" >"$BATS_TEST_TMPDIR/process.json"
	run stasis exec --process "$BATS_TEST_TMPDIR/process.json" "$ID"
	assert_failure
	assert_output_contains 'process.execCPUAffinity.final "4000"'
	jq '.process | .args = ["true"] | .execCPUAffinity = {"initial": "0-"}' \
		"$BUNDLE/config.json" >"$BATS_TEST_TMPDIR/process.json"
	run stasis exec --process "$BATS_TEST_TMPDIR/process.json" "$ID"
	assert_failure
	assert_output_contains "process.execCPUAffinity.initial"
	run stasis ps "$ID"
	assert_success
	[ "$(grep -c sleep <<<"$output")" -eq 1 ] || fail "an exec'd process was left: $output"
}
