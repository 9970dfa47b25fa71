#!/usr/bin/env bats
# Restore as a lifecycle operation (lifecycle/restore.go). Proves: the
# restored container's prestart and createRuntime hooks run once CRIU made
# its namespaces, with status "creating" and the restored init's pid;
# poststart runs after, with status "running"; createContainer and
# startContainer do not run (the process was executed long ago), and
# poststop runs at delete, as for a created container. A failing
# createRuntime or poststart hook fails the restore naming the hook, and
# leaves nothing: no state dir, no cgroup, and no process, the restored
# init's child included (every process in the new cgroups is killed, not
# only the init). Checkpoint metadata is checked before anything is made:
# an image dumped on another architecture or by a newer CRIU is refused,
# one from another kernel or cgroup mode warns, one without stasis's
# metadata (runc's descriptors.json) restores with a warning, and CRIU's
# images alone go to CRIU. root.readonly holds after a restore (CRIU
# restores into a writable root and leaves it so).

load helpers

setup() {
	common_setup
	command -v criu >/dev/null || skip "criu not on PATH (run make deps; put /usr/local/sbin first)"
	IMG=$BATS_TEST_TMPDIR/img
	HOOKLOG=$BATS_TEST_TMPDIR/hooklog
	HOOK=$BATS_TEST_TMPDIR/hook.sh
	# hook.sh NAME [EXIT]: log NAME, the state's status, id and pid.
	cat >"$HOOK" <<-SH
		#!/bin/sh
		state=\$(cat)
		echo "\$1 \$(echo "\$state" | jq -r '[.status, .id, .pid] | join(" ")')" >>"$HOOKLOG"
		exit \${2:-0}
	SH
	chmod +x "$HOOK"
	# A marker only this test's processes carry: the init's child and
	# the init itself.
	MARK=$((RANDOM + 40000))
	setup_bundle sh -c "sleep $MARK & exec sleep $((MARK + 1))"
}

teardown() {
	pkill -KILL -f "sleep $MARK" 2>/dev/null || true
	pkill -KILL -f "sleep $((MARK + 1))" 2>/dev/null || true
	common_teardown
}

# checkpointed ID: a running container with the marked processes, then
# checkpointed into $IMG (so it is gone).
checkpointed() {
	run_detached "$1"
	local i
	for ((i = 0; i < 50; i++)); do
		[ "$(pgrep -f "sleep $MARK\$" | wc -l)" -ge 1 ] && break
		sleep 0.05
	done
	stasis checkpoint --image-path "$IMG" "$1"
}

restore_detached() {
	detached_cmd "$1" restore -d --image-path "$IMG" --bundle "$BUNDLE" "${@:2}" "$1"
}

hooks_json() { # hooks_json KIND[:EXIT]...: .hooks with one hook.sh per kind
	local k out="{}" kind code
	for k in "$@"; do
		kind=${k%%:*}
		code=0
		[[ "$k" == *:* ]] && code=${k#*:}
		out=$(jq -c --arg k "$kind" --arg h "$HOOK" --arg c "$code" \
			'.[$k] += [{"path": $h, "args": ["hook.sh", $k, $c]}]' <<<"$out")
	done
	echo "$out"
}

assert_marked_gone() {
	local i
	for ((i = 0; i < 40; i++)); do
		pgrep -f "sleep $MARK\$|sleep $((MARK + 1))\$" >/dev/null || return 0
		sleep 0.05
	done
	fail "processes left: $(pgrep -af "sleep $MARK\$|sleep $((MARK + 1))\$" | tr '\n' ';')"
}

@test "restore runs prestart and createRuntime with the restored pid, then poststart; poststop at delete" {
	local id id2
	id=$(new_id)
	id2=$(new_id)
	checkpointed "$id"
	update_config '.hooks = $h' --argjson h "$(hooks_json prestart createRuntime createContainer startContainer poststart poststop)"
	restore_detached "$id2"
	local pid
	pid=$(container_pid "$id2")
	assert_equal "$(state_field "$id2" status)" running "status after restore"
	run cat "$HOOKLOG"
	assert_equal "$output" "prestart creating $id2 $pid
createRuntime creating $id2 $pid
poststart running $id2 $pid" "hooks run by restore"
	stasis kill "$id2" KILL
	wait_for_status "$id2" stopped
	stasis delete "$id2"
	assert_equal "$(tail -n 1 "$HOOKLOG")" "poststop stopped $id2 " "hook run by delete (a stopped container has no pid)"
}

@test "a failing createRuntime hook fails the restore, naming it, and leaves nothing" {
	local id id2
	id=$(new_id)
	id2=$(new_id)
	checkpointed "$id"
	update_config '.hooks = $h' --argjson h "$(hooks_json prestart createRuntime:3)"
	run restore_detached "$id2"
	assert_failure
	assert_output_contains "restore $id2"
	assert_output_contains "createRuntime"
	assert_marked_gone
	assert_no_container "$id2"
	assert_equal "$(cut -d' ' -f1 "$HOOKLOG" | tr '\n' ' ')" "prestart createRuntime " "hooks run"
	! grep -q "$STASIS_ROOT" /proc/self/mountinfo || fail "mounts left: $(grep "$STASIS_ROOT" /proc/self/mountinfo)"
}

@test "a failing poststart hook fails the restore and kills every restored process, not only the init" {
	# In its own pid namespace the init's death takes its child with it;
	# in the host's only killing the whole cgroup does, but restoring
	# there needs the checkpointed pids free, which a busy host (pid_max
	# 32768) does not promise.
	local id id2
	id=$(new_id)
	id2=$(new_id)
	checkpointed "$id"
	update_config '.hooks = $h' --argjson h "$(hooks_json poststart:4)"
	run restore_detached "$id2"
	assert_failure
	assert_output_contains "poststart"
	assert_marked_gone
	assert_no_container "$id2"
	# the image is intact: it restores once the hook is gone
	update_config 'del(.hooks)'
	restore_detached "$id2"
	assert_equal "$(state_field "$id2" status)" running "status after the second restore"
}

# edit_meta JQ: rewrite the checkpoint's stasis.json.
edit_meta() {
	jq "$1" "$IMG/stasis.json" >"$IMG/stasis.json.new" && mv "$IMG/stasis.json.new" "$IMG/stasis.json"
}

@test "an image from another architecture or a newer CRIU is refused, naming both, and nothing is made" {
	local id id2
	id=$(new_id)
	id2=$(new_id)
	checkpointed "$id"
	cp "$IMG/stasis.json" "$BATS_TEST_TMPDIR/stasis.json"
	edit_meta '.arch = "riscv64"'
	run restore_detached "$id2"
	assert_failure
	assert_output_contains "restore $id2: the checkpoint was made on riscv64 and this host is amd64"
	assert_output_not_contains "full log:"
	assert_no_container "$id2"

	cp "$BATS_TEST_TMPDIR/stasis.json" "$IMG/stasis.json"
	edit_meta '.criu_version = 990000'
	run restore_detached "$id2"
	assert_failure
	assert_output_contains "the checkpoint was dumped by CRIU 99.0.0 and this host's CRIU is"
	assert_output_contains "install CRIU 99.0.0 or newer"
	assert_marked_gone
	assert_no_container "$id2"

	# the real metadata restores
	cp "$BATS_TEST_TMPDIR/stasis.json" "$IMG/stasis.json"
	restore_detached "$id2"
	assert_equal "$(state_field "$id2" status)" running "status of the restore with the real metadata"
}

@test "another kernel, cgroup mode or config.json warns; full cgroup mode across cgroup modes is refused" {
	local id id2
	id=$(new_id)
	id2=$(new_id)
	checkpointed "$id"
	edit_meta '.kernel = "5.10.0-old" | .cgroup_mode = "unified"'
	run stasis restore -d --image-path "$IMG" --bundle "$BUNDLE" --manage-cgroups-mode full "$id2" </dev/null
	assert_failure
	assert_output_contains "--manage-cgroups-mode full: the checkpoint's cgroup properties were dumped on a unified cgroup host and this one is"
	assert_no_container "$id2"

	update_config '.annotations = {"changed": "yes"}'
	restore_detached "$id2"
	run container_err "$id2"
	assert_output_contains "the checkpoint was made on kernel 5.10.0-old, this host runs $(uname -r)"
	assert_output_contains "the checkpoint was made on a unified cgroup host"
	assert_output_contains "the bundle's config.json differs from the checkpointed container's"
	assert_equal "$(state_field "$id2" status)" running "status"
}

@test "an image without stasis metadata restores with a warning (runc's descriptors.json), or goes to CRIU (CRIU's images alone)" {
	local id id2 id3
	id=$(new_id)
	id2=$(new_id)
	checkpointed "$id"
	rm "$IMG/stasis.json"
	cp -a "$IMG" "$BATS_TEST_TMPDIR/img-copy"
	restore_detached "$id2"
	run container_err "$id2"
	assert_output_contains "the checkpoint has no stasis metadata (runc's descriptors.json only)"
	assert_equal "$(state_field "$id2" status)" running "status of the runc-style restore"
	stasis kill "$id2" KILL
	wait_for_status "$id2" stopped
	stasis delete "$id2"

	# Without descriptors.json nothing says which fds were the host's
	# (here stdin, the host's /dev/null), so CRIU itself refuses; but the
	# dir is taken for what it is, not as "not a checkpoint".
	IMG=$BATS_TEST_TMPDIR/img-copy
	rm "$IMG/descriptors.json"
	id3=$(new_id)
	run restore_detached "$id3"
	assert_failure
	assert_output_contains "the checkpoint has no stasis metadata (a CRIU image dir without descriptors.json)"
	assert_output_contains "restore $id3: criu restore failed"
	assert_output_not_contains "is not a checkpoint"
	assert_marked_gone
	assert_no_container "$id3"
}

@test "root.readonly holds after restore; a writable root stays writable" {
	local ro id id2
	for ro in true false; do
		update_config '.root.readonly = ($ro == "true")' --arg ro "$ro"
		id=$(new_id)
		id2=$(new_id)
		rm -rf "$IMG"
		checkpointed "$id"
		restore_detached "$id2"
		run stasis exec "$id2" sh -c 'touch /written 2>&1; echo rc=$?'
		if [ "$ro" = true ]; then
			assert_output_contains "Read-only file system"
			assert_output_contains "rc=1"
			[ ! -e "$ROOTFS/written" ] || fail "the restored container wrote to its read-only root"
		else
			assert_output_contains "rc=0"
			[ -e "$ROOTFS/written" ] || fail "the restored container could not write to its writable root"
		fi
		stasis kill "$id2" KILL
		wait_for_status "$id2" stopped
		stasis delete "$id2"
	done
}
