#!/usr/bin/env bats
# Cgroups: linux.resources in the real cgroup files, cgroupsPath semantics,
# enforcement (OOM kill, pids limit), update, pause/resume, events, ps,
# kill --all, clean-up, and the container's own view of its cgroups.
#
# Written for a cgroup v1 (or hybrid v1 + /sys/fs/cgroup/unified) host: the
# files checked are the v1 ones. Pure v2 is covered by the Go tests.

load helpers

# ---------------------------------------------------------------- helpers

# need_v1 CONTROLLER...: skip unless these v1 hierarchies are mounted.
need_v1() {
	local c
	for c in "$@"; do
		[ -d "/sys/fs/cgroup/$c" ] && [ "$(stat -f -c %T "/sys/fs/cgroup/$c")" != cgroup2fs ] ||
			skip "needs the cgroup v1 $c hierarchy at /sys/fs/cgroup/$c"
	done
}

# hier_mount KEY: the mountpoint of a hierarchy named as in /proc/PID/cgroup
# ("memory", "cpu,cpuacct", "name=systemd", "" for the v2 one).
hier_mount() {
	local k=$1
	if [ -z "$k" ]; then
		if [ -d /sys/fs/cgroup/unified ]; then echo /sys/fs/cgroup/unified; else echo /sys/fs/cgroup; fi
		return
	fi
	k=${k#name=}
	if [ -d "/sys/fs/cgroup/$k" ]; then echo "/sys/fs/cgroup/$k"; else echo "/sys/fs/cgroup/${k%%,*}"; fi
}

# hierarchies: "KEY|OWN-PATH" per hierarchy of this host, from the bats
# process's own /proc/self/cgroup (the runtime it starts sits in the same
# cgroups).
hierarchies() {
	local n key path
	while IFS=: read -r n key path; do
		printf '%s|%s\n' "$key" "$path"
	done </proc/self/cgroup
}

# cg_dirs_at PATH: PATH (cgroup-relative, starting with /) under every
# hierarchy's mountpoint.
cg_dirs_at() {
	local key own
	while IFS='|' read -r key own; do
		echo "$(hier_mount "$key")$1"
	done < <(hierarchies)
}

# pid_cgroup PID CONTROLLER: the host directory of PID's cgroup in the v1
# hierarchy that has CONTROLLER ("" for v2).
pid_cgroup() {
	local pid=$1 want=$2 n key path
	while IFS=: read -r n key path; do
		if [ -z "$want" ] && [ -z "$key" ] && [ "$n" = 0 ]; then
			echo "$(hier_mount "")$path"
			return 0
		fi
		[ -n "$want" ] || continue
		if [[ ",$key," == *",$want,"* ]]; then
			echo "$(hier_mount "$key")$path"
			return 0
		fi
	done <"/proc/$pid/cgroup"
	echo "pid $pid has no $want cgroup" >&2
	return 1
}

# ctr_cg ID CONTROLLER: the container's cgroup directory for CONTROLLER,
# found through its init's /proc/PID/cgroup (works wherever the runtime put
# it).
ctr_cg() {
	pid_cgroup "$(container_pid "$1")" "$2"
}

# cg_file ID CONTROLLER FILE: the content of a cgroup file of the container.
cg_file() {
	local d
	d=$(ctr_cg "$1" "$2") || return 1
	cat "$d/$3"
}

# unique_cg_name: a cgroup name nobody else uses; cleaned up in teardown
# (both as an absolute path and below our own cgroups) if anything is left.
unique_cg_name() {
	echo "stasis-bats-${ID_PREFIX}-$RANDOM"
}

# rm_cg_tree PATH...: rmdir these cgroup paths (deepest first) wherever they
# exist, absolute and below our own cgroup. Only ever called with paths the
# test itself asked for.
rm_cg_tree() {
	local p key own m id
	# teardown runs this before it deletes the containers: delete them
	# first, a cgroup with processes in it cannot be removed
	while read -r id; do
		[ -z "$id" ] || "$STASIS" --root "$STASIS_ROOT" delete --force "$id" >/dev/null 2>&1 || true
	done <"$BATS_TEST_TMPDIR/ids"
	for p in "$@"; do
		while IFS='|' read -r key own; do
			m=$(hier_mount "$key")
			rmdir "$m$p" 2>/dev/null || true
			[ "$own" = / ] || rmdir "$m$own$p" 2>/dev/null || true
		done < <(hierarchies)
	done
}

# assert_no_cg_dir PATH: no hierarchy has PATH (absolute or under our own
# cgroup).
assert_no_cg_dir() {
	local key own m
	while IFS='|' read -r key own; do
		m=$(hier_mount "$key")
		[ ! -d "$m$1" ] || fail "cgroup $m$1 left behind"
		[ "$own" = / ] || [ ! -d "$m$own$1" ] || fail "cgroup $m$own$1 left behind"
	done < <(hierarchies)
}

# wait_output_contains ID TEXT [TIMEOUT=5]: wait until the container wrote TEXT.
wait_output_contains() {
	local i
	for ((i = 0; i < ${3:-5} * 20; i++)); do
		[[ "$(container_out "$1")" == *"$2"* ]] && return 0
		sleep 0.05
	done
	echo "container $1 never wrote '$2'; it wrote: $(container_out "$1")" >&2
	return 1
}

# oom_kills DIR: the oom_kill count of a v1 memory cgroup.
oom_kills() {
	awk '$1 == "oom_kill" {print $2}' "$1/memory.oom_control"
}

SLEEPER=(sleep 1000)

# ---------------------------------------------------------------- create

@test "linux.resources are written to the v1 cgroup files at create" {
	need_v1 memory cpu cpuset pids devices
	setup_bundle "${SLEEPER[@]}"
	local cpu0
	cpu0=$(cut -d, -f1 </sys/fs/cgroup/cpuset/cpuset.cpus | cut -d- -f1)
	update_config '.linux.resources += {
			"memory": {"limit": 33554432, "reservation": 16777216, "swappiness": 10},
			"cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": $cpu, "mems": "0"},
			"pids": {"limit": 20}}
		| .linux.resources.devices += [{"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}]' \
		--arg cpu "$cpu0"
	local id
	id=$(new_id)
	run create_container "$id"
	assert_success
	assert_equal "$(cg_file "$id" memory memory.limit_in_bytes)" 33554432 memory.limit_in_bytes
	assert_equal "$(cg_file "$id" memory memory.soft_limit_in_bytes)" 16777216 memory.soft_limit_in_bytes
	assert_equal "$(cg_file "$id" memory memory.swappiness)" 10 memory.swappiness
	assert_equal "$(cg_file "$id" cpu cpu.shares)" 512 cpu.shares
	assert_equal "$(cg_file "$id" cpu cpu.cfs_quota_us)" 50000 cpu.cfs_quota_us
	assert_equal "$(cg_file "$id" cpu cpu.cfs_period_us)" 100000 cpu.cfs_period_us
	assert_equal "$(cg_file "$id" cpuset cpuset.cpus)" "$cpu0" cpuset.cpus
	assert_equal "$(cg_file "$id" cpuset cpuset.mems)" 0 cpuset.mems
	assert_equal "$(cg_file "$id" pids pids.max)" 20 pids.max
	# the spec's "deny all" first, then the allowed devices: no a *:* rwm,
	# and our extra rule is listed
	run cg_file "$id" devices devices.list
	assert_success
	assert_output_not_contains "a *:* rwm"
	assert_output_contains "c 10:229 rw"
	assert_output_contains "c 1:3 rwm" # /dev/null, a default device
	# and the host's own cgroups are untouched
	[ "$(ctr_cg "$id" memory)" != /sys/fs/cgroup/memory ] || fail "container in the root memory cgroup"
}

@test "without linux.resources the limits are the hierarchy's defaults" {
	need_v1 memory pids
	setup_bundle "${SLEEPER[@]}"
	local id
	id=$(new_id)
	create_container "$id"
	assert_equal "$(cg_file "$id" pids pids.max)" max pids.max
	# no limit: a huge number (PAGE_COUNTER_MAX pages), not a small one
	[ "$(cg_file "$id" memory memory.limit_in_bytes)" -gt $((1 << 40)) ] ||
		fail "memory limit set without resources: $(cg_file "$id" memory memory.limit_in_bytes)"
}

@test "the init is in the container's cgroup in every hierarchy, name=systemd and unified included" {
	need_v1 memory
	setup_bundle "${SLEEPER[@]}"
	local name
	name=$(unique_cg_name)
	on_teardown "rm_cg_tree /$name/ct /$name"
	update_config '.linux.cgroupsPath = $p' --arg p "/$name/ct"
	local id pid
	id=$(new_id)
	create_container "$id"
	pid=$(container_pid "$id")
	local key own d n=0
	while IFS='|' read -r key own; do
		d=$(hier_mount "$key")/$name/ct
		[ -d "$d" ] || fail "no cgroup $d for hierarchy '$key'"
		grep -qx "$pid" "$d/cgroup.procs" || fail "init $pid not in $d/cgroup.procs"
		n=$((n + 1))
	done < <(hierarchies)
	grep -q ':name=systemd:' /proc/self/cgroup || fail "host has no name=systemd hierarchy (test assumption)"
	[ "$n" -ge 3 ] || fail "only $n hierarchies checked"
	if [ -d /sys/fs/cgroup/unified ]; then
		grep -qx "$pid" "/sys/fs/cgroup/unified/$name/ct/cgroup.procs" || fail "init not in the unified hierarchy"
	fi
}

@test "an empty cgroupsPath puts the container at /<id> in every hierarchy [stasis-only]" {
	stasis_only "runc 1.1 treats an empty cgroupsPath as relative to its own cgroup"
	setup_bundle "${SLEEPER[@]}"
	update_config 'del(.linux.cgroupsPath)'
	local id pid n key path
	id=$(new_id)
	create_container "$id"
	pid=$(container_pid "$id")
	while IFS=: read -r n key path; do
		assert_equal "$path" "/$id" "cgroup of the init in hierarchy '$key'"
	done <"/proc/$pid/cgroup"
	local d
	for d in $(cg_dirs_at "/$id"); do
		grep -qx "$pid" "$d/cgroup.procs" || fail "init not in $d"
	done
	run stasis delete --force "$id"
	assert_success
	for d in $(cg_dirs_at "/$id"); do
		[ ! -d "$d" ] || fail "cgroup $d left after delete"
	done
}

@test "an absolute cgroupsPath is that path in every hierarchy, and delete removes it" {
	setup_bundle "${SLEEPER[@]}"
	local name
	name=$(unique_cg_name)
	on_teardown "rm_cg_tree /$name/ct /$name"
	update_config '.linux.cgroupsPath = $p' --arg p "/$name/ct"
	local id pid n key path
	id=$(new_id)
	run_detached "$id"
	pid=$(container_pid "$id")
	while IFS=: read -r n key path; do
		assert_equal "$path" "/$name/ct" "cgroup of the init in hierarchy '$key'"
	done <"/proc/$pid/cgroup"
	run stasis delete --force "$id"
	assert_success
	local d
	for d in $(cg_dirs_at "/$name/ct"); do
		[ ! -d "$d" ] || fail "cgroup $d left after delete"
	done
}

@test "a relative cgroupsPath is below the runtime's own cgroup in each hierarchy" {
	setup_bundle "${SLEEPER[@]}"
	local name
	name=$(unique_cg_name)
	on_teardown "rm_cg_tree /$name/sub /$name"
	update_config '.linux.cgroupsPath = $p' --arg p "$name/sub"
	local id pid
	id=$(new_id)
	run_detached "$id"
	pid=$(container_pid "$id")
	# what the init has, per hierarchy, vs our own cgroup + /name/sub
	local key own want got nested=0
	while IFS='|' read -r key own; do
		want=${own%/}/$name/sub
		got=$(awk -F: -v k="$key" '$2 == k {print $3}' "/proc/$pid/cgroup")
		assert_equal "$got" "$want" "cgroup of the init in hierarchy '$key'"
		grep -qx "$pid" "$(hier_mount "$key")$want/cgroup.procs" || fail "init not in $(hier_mount "$key")$want"
		[ "$own" = / ] || nested=1
	done < <(hierarchies)
	[ "$nested" = 1 ] || echo "# note: this host puts bats in no nested cgroup; relative == absolute here" >&3
	run stasis delete --force "$id"
	assert_success
	assert_no_cg_dir "/$name/sub"
}

@test "a cgroupsPath escaping with .. fails clearly and leaves nothing [stasis-only]" {
	stasis_only "runc 1.1 silently cleans .. away instead of refusing"
	setup_bundle "${SLEEPER[@]}"
	local name bad id
	name=$(unique_cg_name)
	on_teardown "rm_cg_tree /$name /../$name"
	for bad in "../$name" "a/../../$name" "/../$name" "/.."; do
		id=$(new_id)
		update_config '.linux.cgroupsPath = $p' --arg p "$bad"
		run create_container "$id"
		assert_failure
		assert_output_contains "cgroupsPath"
		assert_output_contains ".."
		assert_no_container "$id"
		[ ! -e "$STASIS_ROOT/$id" ] || fail "state dir left for $bad"
	done
	# nowhere: not at the root, not next to our own cgroup
	local key own m
	while IFS='|' read -r key own; do
		m=$(hier_mount "$key")
		[ ! -d "$m/$name" ] || fail "cgroup $m/$name created"
		[ ! -d "$(dirname "$m$own")/$name" ] || fail "cgroup $(dirname "$m$own")/$name created"
	done < <(hierarchies)
}

# ---------------------------------------------------------------- enforcement

@test "a process over the memory limit is OOM-killed and events reports it" {
	need_v1 memory
	setup_bundle true
	local mem='{"limit": 16777216}'
	if [ -e /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes ]; then
		mem='{"limit": 16777216, "swap": 16777216}' # no swap either
	fi
	# the init waits; a child shell eats 64 MiB (more than the limit). The
	# child raises its own oom_score_adj so it, not the init, is the victim.
	# shellcheck disable=SC2016
	set_args sh -c 'sh -c "echo 1000 >/proc/self/oom_score_adj; x=\$(head -c 64m /dev/zero | tr \"\\0\" a); echo survived"; echo "child=$?"; sleep 1000'
	update_config '.linux.resources.memory = $m' --argjson m "$mem"
	local id
	id=$(new_id)
	create_container "$id"
	# stream events from before the start, so the OOM is not missed
	local ev=$BATS_TEST_TMPDIR/events.out
	"$STASIS" --root "$STASIS_ROOT" events --interval 1s "$id" </dev/null >"$ev" 2>"$ev.err" 3>&- &
	local evpid=$!
	on_teardown "kill $evpid"
	sleep 0.5
	stasis start "$id"
	wait_output_contains "$id" "child=" 10 ||
		fail "status $(state_field "$id" status); $(cat "$(ctr_cg "$id" memory)/memory.oom_control" 2>&1)"
	run container_out "$id"
	assert_output_not_contains survived
	assert_output_contains "child=137"
	# the kernel counted it, and the container (init) is still running
	[ "$(oom_kills "$(ctr_cg "$id" memory)")" -ge 1 ] || fail "oom_kill count 0: $(cat "$(ctr_cg "$id" memory)/memory.oom_control")"
	assert_equal "$(state_field "$id" status)" running status
	local i
	for ((i = 0; i < 50; i++)); do
		grep -q '"type":"oom"' "$ev" && break
		sleep 0.1
	done
	run jq -c 'select(.type == "oom")' "$ev"
	assert_success
	assert_output_contains "\"id\":\"$id\""
	kill "$evpid" 2>/dev/null || true
}

@test "the memory limit is a hard limit: usage never passes it" {
	need_v1 memory
	setup_bundle true
	set_args sh -c 'sh -c "echo 1000 >/proc/self/oom_score_adj; x=\$(head -c 64m /dev/zero | tr \"\\0\" a)"; sleep 1000'
	update_config '.linux.resources.memory = {"limit": 16777216}'
	local id
	id=$(new_id)
	run_detached "$id"
	local d i
	d=$(ctr_cg "$id" memory)
	for ((i = 0; i < 100; i++)); do
		[ "$(oom_kills "$d")" -ge 1 ] && break
		sleep 0.05
	done
	[ "$(oom_kills "$d")" -ge 1 ] || fail "no OOM kill"
	[ "$(cat "$d/memory.max_usage_in_bytes")" -le 16777216 ] || fail "max usage $(cat "$d/memory.max_usage_in_bytes") > limit"
	[ "$(cat "$d/memory.failcnt")" -gt 0 ] || fail "memory.failcnt is 0"
}

@test "pids.limit stops a fork loop" {
	need_v1 pids
	setup_bundle true
	update_config '.linux.resources.pids = {"limit": 8}'
	# busybox sh gives up at the first fork that fails
	run_in_container sh -c 'i=0; while [ $i -lt 20 ]; do echo "fork $i"; sleep 5 & i=$((i+1)); done; echo all-forked'
	assert_failure
	assert_output_matches "can't fork|Resource temporarily unavailable"
	assert_output_not_contains all-forked
	# sh + 7 sleeps = 8: the 8th sleep ("fork 7") is the one refused
	assert_equal "$(grep -c '^fork ' <<<"$output")" 8 "fork attempts"
}

# ---------------------------------------------------------------- update

@test "update changes memory, pids and cpu limits of a running container" {
	need_v1 memory pids cpu cpuset
	setup_bundle "${SLEEPER[@]}"
	update_config '.linux.resources += {"memory": {"limit": 33554432}, "pids": {"limit": 20}, "cpu": {"quota": 50000, "period": 100000}}'
	local id
	id=$(new_id)
	run_detached "$id"
	local cpu1
	cpu1=$(awk -F'[-,]' '{print $NF}' /sys/fs/cgroup/cpuset/cpuset.cpus)
	run stasis update --memory 48m --memory-reservation 24m --pids-limit 30 \
		--cpu-quota 20000 --cpu-period 50000 --cpu-share 256 --cpuset-cpus "$cpu1" "$id"
	assert_success
	assert_equal "$(cg_file "$id" memory memory.limit_in_bytes)" 50331648 memory.limit_in_bytes
	assert_equal "$(cg_file "$id" memory memory.soft_limit_in_bytes)" 25165824 memory.soft_limit_in_bytes
	assert_equal "$(cg_file "$id" pids pids.max)" 30 pids.max
	assert_equal "$(cg_file "$id" cpu cpu.cfs_quota_us)" 20000 cpu.cfs_quota_us
	assert_equal "$(cg_file "$id" cpu cpu.cfs_period_us)" 50000 cpu.cfs_period_us
	assert_equal "$(cg_file "$id" cpu cpu.shares)" 256 cpu.shares
	assert_equal "$(cg_file "$id" cpuset cpuset.cpus)" "$cpu1" cpuset.cpus
	# events --stats reports the new limits
	run stasis events --stats "$id"
	assert_success
	assert_equal "$(jq -r .data.memory.usage.limit <<<"$output")" 50331648 "stats memory limit"
	assert_equal "$(jq -r .data.pids.limit <<<"$output")" 30 "stats pids limit"
	# the container kept running
	assert_equal "$(state_field "$id" status)" running status
	# a second update of one value keeps the others
	run stasis update --pids-limit 40 "$id"
	assert_success
	assert_equal "$(cg_file "$id" pids pids.max)" 40 pids.max
	assert_equal "$(cg_file "$id" memory memory.limit_in_bytes)" 50331648 "memory limit after a pids update"
}

@test "update --resources - reads linux.resources JSON from stdin" {
	need_v1 memory pids cpu
	setup_bundle "${SLEEPER[@]}"
	local id
	id=$(new_id)
	run_detached "$id"
	run stasis update --resources - "$id" <<<'{"memory": {"limit": 41943040}, "pids": {"limit": 42}, "cpu": {"quota": 30000, "period": 100000}}'
	assert_success
	assert_equal "$(cg_file "$id" memory memory.limit_in_bytes)" 41943040 memory.limit_in_bytes
	assert_equal "$(cg_file "$id" pids pids.max)" 42 pids.max
	assert_equal "$(cg_file "$id" cpu cpu.cfs_quota_us)" 30000 cpu.cfs_quota_us
	# and from a file
	echo '{"pids": {"limit": 43}}' >"$BATS_TEST_TMPDIR/res.json"
	run stasis update -r "$BATS_TEST_TMPDIR/res.json" "$id"
	assert_success
	assert_equal "$(cg_file "$id" pids pids.max)" 43 pids.max
}

@test "update with bad values fails and changes nothing" {
	need_v1 memory pids
	setup_bundle "${SLEEPER[@]}"
	update_config '.linux.resources += {"memory": {"limit": 33554432}, "pids": {"limit": 20}}'
	local id
	id=$(new_id)
	run_detached "$id"
	run stasis update --memory abc "$id"
	assert_failure
	assert_output_contains "abc"
	run stasis update --cpu-quota xyz "$id"
	assert_failure
	assert_output_contains "xyz"
	run stasis update --pids-limit many "$id"
	assert_failure
	run stasis update --resources - "$id" <<<'{"memory": {"limit": '
	assert_failure
	assert_equal "$(cg_file "$id" memory memory.limit_in_bytes)" 33554432 memory.limit_in_bytes
	assert_equal "$(cg_file "$id" pids pids.max)" 20 pids.max
	assert_equal "$(state_field "$id" status)" running status
}

@test "update of a stopped or missing container fails" {
	setup_bundle true
	local id
	id=$(new_id)
	run_detached "$id"
	wait_for_status "$id" stopped
	run stasis update --memory 64m "$id"
	assert_failure
	assert_output_matches "stopped|not running"
	run stasis update --memory 64m no-such-ctr
	assert_failure
}

# ---------------------------------------------------------------- pause

@test "pause freezes the container and resume thaws it" {
	need_v1 freezer
	setup_bundle sh -c 'i=0; while true; do i=$((i+1)); echo $i; sleep 0.05; done'
	local id
	id=$(new_id)
	run_detached "$id"
	wait_output_contains "$id" 3
	run stasis pause "$id"
	assert_success
	assert_equal "$(cg_file "$id" freezer freezer.state)" FROZEN freezer.state
	assert_equal "$(state_field "$id" status)" paused status
	local a b
	a=$(container_out "$id" | wc -l)
	sleep 0.6
	b=$(container_out "$id" | wc -l)
	assert_equal "$b" "$a" "lines written while paused"

	run stasis resume "$id"
	assert_success
	assert_equal "$(cg_file "$id" freezer freezer.state)" THAWED freezer.state
	assert_equal "$(state_field "$id" status)" running status
	wait_output_contains "$id" $((b + 3)) || fail "counter did not advance after resume"
}

@test "pause of a paused and resume of a running container fail" {
	need_v1 freezer
	setup_bundle "${SLEEPER[@]}"
	local id
	id=$(new_id)
	run_detached "$id"
	run stasis resume "$id"
	assert_failure
	stasis pause "$id"
	run stasis pause "$id"
	assert_failure
	assert_equal "$(state_field "$id" status)" paused status
	stasis resume "$id"
}

@test "pause of a stopped container fails" {
	setup_bundle true
	local id
	id=$(new_id)
	run_detached "$id"
	wait_for_status "$id" stopped
	run stasis pause "$id"
	assert_failure
	run stasis resume "$id"
	assert_failure
	run stasis pause no-such-ctr
	assert_failure
}

@test "pause of a created container fails [stasis-only]" {
	stasis_only "runc 1.1 freezes a created container too"
	setup_bundle "${SLEEPER[@]}"
	local id
	id=$(new_id)
	create_container "$id"
	run stasis pause "$id"
	assert_failure
	assert_output_contains created
	assert_equal "$(state_field "$id" status)" created status
}

@test "kill -9 of a paused container stops it" {
	need_v1 freezer
	setup_bundle "${SLEEPER[@]}"
	local id pid
	id=$(new_id)
	run_detached "$id"
	pid=$(container_pid "$id")
	stasis pause "$id"
	run stasis kill "$id" KILL
	assert_success
	wait_for_status "$id" stopped
	wait_pid_gone "$pid"
	run stasis delete "$id"
	assert_success
	assert_no_container "$id"
}

@test "delete --force of a paused container removes it" {
	need_v1 freezer
	setup_bundle "${SLEEPER[@]}"
	local id pid
	id=$(new_id)
	run_detached "$id"
	pid=$(container_pid "$id")
	stasis pause "$id"
	run stasis delete --force "$id"
	assert_success
	wait_pid_gone "$pid"
	assert_no_container "$id"
}

# ---------------------------------------------------------------- events, ps, kill --all

@test "events --stats prints one stats line with memory, pids and cpu usage" {
	setup_bundle sh -c 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 1000'
	update_config '.linux.resources.pids = {"limit": 50}'
	local id
	id=$(new_id)
	run_detached "$id"
	sleep 0.3
	run stasis events --stats "$id"
	assert_success
	assert_equal "$(wc -l <<<"$output")" 1 "lines"
	local ev=$output
	assert_equal "$(jq -r .type <<<"$ev")" stats type
	assert_equal "$(jq -r .id <<<"$ev")" "$id" id
	[ "$(jq -r .data.memory.usage.usage <<<"$ev")" -gt 0 ] || fail "memory usage: $ev"
	[ "$(jq -r .data.pids.current <<<"$ev")" -ge 1 ] || fail "pids.current: $ev"
	assert_equal "$(jq -r .data.pids.limit <<<"$ev")" 50 "pids.limit"
	[ "$(jq -r .data.cpu.usage.total <<<"$ev")" -gt 0 ] || fail "cpu usage total: $ev"
	jq -e '.data.cpu.usage.percpu | length > 0' <<<"$ev" >/dev/null || fail "no percpu: $ev"
}

@test "events streams stats lines at --interval" {
	setup_bundle "${SLEEPER[@]}"
	local id
	id=$(new_id)
	run_detached "$id"
	run timeout 2 "$STASIS" --root "$STASIS_ROOT" events --interval 300ms "$id"
	# timeout ends it (124)
	assert_status 124
	local n
	n=$(jq -r 'select(.type == "stats") | .id' <<<"$output" | grep -cx "$id" || true)
	[ "$n" -ge 3 ] || fail "$n stats lines in 2s at 300ms: $output"
}

@test "events of a missing or stopped container fails" {
	setup_bundle true
	local id
	id=$(new_id)
	run_detached "$id"
	wait_for_status "$id" stopped
	run stasis events --stats "$id"
	assert_failure
	run stasis events --stats no-such-ctr
	assert_failure
}

@test "ps lists the container's processes as a table and as JSON" {
	setup_bundle "${SLEEPER[@]}"
	local id pid epid
	id=$(new_id)
	run_detached "$id"
	pid=$(container_pid "$id")
	stasis exec -d --pid-file "$BATS_TEST_TMPDIR/exec.pid" "$id" sleep 1001 </dev/null >/dev/null 2>&1 3>&-
	epid=$(cat "$BATS_TEST_TMPDIR/exec.pid")

	run stasis ps "$id"
	assert_success
	assert_output_matches "^UID +PID +PPID"
	assert_output_matches $'\n'"[^ ]+ +$pid +.*sleep 1000"
	assert_output_matches $'\n'"[^ ]+ +$epid +.*sleep 1001"
	# nothing else: header + 2 processes
	assert_equal "$(wc -l <<<"$output")" 3 "lines of ps"

	run stasis ps --format json "$id"
	assert_success
	jq -e 'type == "array"' <<<"$output" >/dev/null || fail "not a JSON array: $output"
	assert_equal "$(jq -c 'sort' <<<"$output")" "$(jq -nc '[$a, $b] | sort' --argjson a "$pid" --argjson b "$epid")" "ps json"
}

@test "kill --all signals every process in the container's cgroup" {
	# without a pid namespace, killing the init leaves the others alive: only
	# --all (through the cgroup) reaches them
	setup_bundle "${SLEEPER[@]}"
	update_config '.linux.namespaces = [.linux.namespaces[] | select(.type != "pid")]'
	local id pid epid
	id=$(new_id)
	run_detached "$id"
	pid=$(container_pid "$id")
	stasis exec -d --pid-file "$BATS_TEST_TMPDIR/exec.pid" "$id" sleep 1001 </dev/null >/dev/null 2>&1 3>&-
	epid=$(cat "$BATS_TEST_TMPDIR/exec.pid")
	pid_alive "$epid" || fail "exec'd process not running"
	run stasis kill --all "$id" KILL
	assert_success
	wait_pid_gone "$pid"
	wait_pid_gone "$epid" || fail "exec'd process $epid survived kill --all"
	wait_for_status "$id" stopped
}

# ---------------------------------------------------------------- clean-up

@test "a create that fails at the process's exec leaves no cgroup behind" {
	setup_bundle /no/such/binary
	local name
	name=$(unique_cg_name)
	on_teardown "rm_cg_tree /$name/ct /$name"
	update_config '.linux.cgroupsPath = $p' --arg p "/$name/ct"
	local id
	id=$(new_id)
	run create_container "$id"
	assert_failure
	assert_output_contains "/no/such/binary"
	assert_no_container "$id"
	assert_no_cg_dir "/$name/ct"
}

@test "a create that fails on a bad resource value leaves no cgroup behind" {
	need_v1 cpuset
	setup_bundle "${SLEEPER[@]}"
	update_config '.linux.resources.cpu = {"cpus": "4095"}'
	local id
	id=$(new_id)
	run create_container "$id"
	assert_failure
	assert_no_container "$id"
}

@test "delete of a stopped container removes its cgroup from every hierarchy" {
	setup_bundle true
	local name
	name=$(unique_cg_name)
	on_teardown "rm_cg_tree /$name/ct /$name"
	update_config '.linux.cgroupsPath = $p' --arg p "/$name/ct"
	local id
	id=$(new_id)
	run_detached "$id"
	wait_for_status "$id" stopped
	local d
	for d in $(cg_dirs_at "/$name/ct"); do
		[ -d "$d" ] || fail "cgroup $d gone before delete"
	done
	run stasis delete "$id"
	assert_success
	assert_no_cg_dir "/$name/ct"
}

# ---------------------------------------------------------------- inside

@test "inside: /proc/self/cgroup shows the container's cgroups, /sys/fs/cgroup its hierarchies" {
	need_v1 memory
	setup_bundle true
	local name
	name=$(unique_cg_name)
	on_teardown "rm_cg_tree /$name/ct /$name"
	update_config '.linux.cgroupsPath = $p | .linux.resources.memory = {"limit": 33554432}' --arg p "/$name/ct"
	jq -e '.mounts[] | select(.destination == "/sys/fs/cgroup" and .type == "cgroup")' "$BUNDLE/config.json" >/dev/null ||
		fail "default spec has no cgroup mount (test assumption)"
	run_in_container sh -c 'cat /proc/self/cgroup; echo ---; ls /sys/fs/cgroup; echo ---; cat /sys/fs/cgroup/memory/memory.limit_in_bytes'
	assert_success
	local key own
	while IFS='|' read -r key own; do
		assert_output_matches "(^|"$'\n'")[0-9]+:$key:/$name/ct"$'\n'
	done < <(hierarchies)
	# every v1 hierarchy is a directory under /sys/fs/cgroup
	local listing
	listing=$(awk '/^---$/ {n++; next} n == 1' <<<"$output")
	for key in memory cpu cpuset pids devices freezer; do
		[ -d "/sys/fs/cgroup/$key" ] || continue
		grep -qx "$key" <<<"$listing" || fail "/sys/fs/cgroup inside lacks $key: $listing"
	done
	# the memory hierarchy inside is the container's own cgroup
	assert_equal "$(tail -1 <<<"$output")" 33554432 "memory.limit_in_bytes inside"
}

@test "inside, with a cgroup namespace, every /proc/self/cgroup path is /" {
	setup_bundle true
	update_config '.linux.namespaces += [{"type": "cgroup"}]'
	run_in_container cat /proc/self/cgroup
	assert_success
	local lines
	lines=$(wc -l <<<"$output")
	assert_equal "$lines" "$(wc -l </proc/self/cgroup)" "hierarchies inside"
	run grep -v ':/$' <<<"$output"
	assert_output_equals ""
}
