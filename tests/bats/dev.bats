#!/usr/bin/env bats
# /dev inside the container: default devices, symlinks, linux.devices, the
# devices cgroup.

load helpers

@test "default devices are character devices with the right numbers" {
	setup_bundle true
	# busybox stat: %F type, %t/%T major/minor in hex
	run_in_container sh -c 'for d in null zero full random urandom tty; do echo "$d $(stat -c "%F %t:%T" /dev/$d)"; done'
	assert_success
	local want
	for want in "null 1:3" "zero 1:5" "full 1:7" "random 1:8" "urandom 1:9" "tty 5:0"; do
		local dev=${want%% *} nums=${want#* }
		local got
		got=$(awk -v d="$dev" '$1 == d {print; exit}' <<<"$output")
		assert_equal "$got" "$dev character special file $nums" "/dev/$dev"
	done
}

@test "default devices work" {
	setup_bundle true
	run_in_container sh -c 'echo discarded > /dev/null && echo null-ok
		[ "$(head -c 4 /dev/zero | od -An -tx1 | tr -d " ")" = 00000000 ] && echo zero-ok
		echo x > /dev/full 2>/dev/null || echo full-enospc
		[ "$(head -c 16 /dev/urandom | wc -c)" = 16 ] && echo urandom-ok'
	assert_success
	assert_output_equals "null-ok"$'\n'"zero-ok"$'\n'"full-enospc"$'\n'"urandom-ok"
}

@test "/dev has ptmx, fd, stdin, stdout, stderr links and shm" {
	setup_bundle true
	run_in_container sh -c 'for l in ptmx fd stdin stdout stderr; do echo "$l -> $(readlink /dev/$l)"; done; [ -d /dev/shm ] && echo shm-dir; [ -d /dev/pts ] && echo pts-dir'
	assert_success
	assert_output_contains "ptmx -> pts/ptmx"
	assert_output_contains "fd -> /proc/self/fd"
	assert_output_contains "stdin -> /proc/self/fd/0"
	assert_output_contains "stdout -> /proc/self/fd/1"
	assert_output_contains "stderr -> /proc/self/fd/2"
	assert_output_contains shm-dir
	assert_output_contains pts-dir
}

@test "/dev is a fresh tmpfs without the host's devices" {
	setup_bundle true
	run_in_container sh -c 'ls /dev; grep " /dev " /proc/self/mounts'
	assert_success
	assert_output_matches "tmpfs /dev tmpfs"
	# the host's disk and others are not there
	assert_output_not_contains "vda"
	assert_output_not_contains "loop-control"
}

@test "a linux.devices entry is created with its type, numbers, mode and owner" {
	setup_bundle true
	update_config '.linux.devices = [{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 432, "uid": 1000, "gid": 1000}]
		| .process.user = {"uid": 1000, "gid": 1000}'
	# as uid 1000 (no CAP_DAC_OVERRIDE needed): the owner may write
	run_in_container sh -c 'stat -c "%F %t:%T %a %u:%g" /dev/mynull; echo data > /dev/mynull && echo write-ok'
	assert_success
	# fileMode 432 = 0660
	assert_output_equals "character special file 1:3 660 1000:1000"$'\n'"write-ok"
}

@test "a linux.devices entry in a new subdirectory" {
	setup_bundle true
	update_config '.linux.devices = [{"path": "/dev/sub/dir/zero", "type": "c", "major": 1, "minor": 5, "fileMode": 438}]'
	run_in_container sh -c 'stat -c "%F %t:%T" /dev/sub/dir/zero'
	assert_success
	assert_output_equals "character special file 1:5"
}

@test "the devices cgroup denies a device that is not allowed" {
	[ -d /sys/fs/cgroup/devices ] || [ -f /sys/fs/cgroup/cgroup.controllers ] || skip "no devices cgroup"
	setup_bundle true
	# /dev/loop-control (10:237) opens without capabilities, so only the
	# cgroup can refuse it; it is not in runc's default allow list.
	update_config '.linux.devices = [{"path": "/dev/loopctl", "type": "c", "major": 10, "minor": 237, "fileMode": 438}]'
	run_in_container sh -c 'exec 3</dev/loopctl && echo opened'
	assert_output_not_contains opened
	assert_output_contains "not permitted"
}

@test "linux.resources.devices can allow that device" {
	setup_bundle true
	update_config '.linux.devices = [{"path": "/dev/loopctl", "type": "c", "major": 10, "minor": 237, "fileMode": 438}]
		| .linux.resources.devices += [{"allow": true, "type": "c", "major": 10, "minor": 237, "access": "rwm"}]'
	run_in_container sh -c 'exec 3</dev/loopctl && echo opened'
	assert_success
	assert_output_equals opened
}

@test "a linux.devices entry with an unknown type fails" {
	setup_bundle true
	update_config '.linux.devices = [{"path": "/dev/bad", "type": "x", "major": 1, "minor": 3}]'
	assert_create_fails
}

# CVE-2025-31133: masks of files are binds of the container's /dev/null.
# With no /dev tmpfs the image's own /dev/null is kept; one that is not
# the null device must never be used as a mask source. Here it is a
# symlink to /proc/sys/kernel/core_pattern (only read here): bound over a
# masked file it would show, and make writable there, the host's
# core_pattern. Shown failing by the stasis of before the fix: create
# succeeded and /secret read the core_pattern.
@test "an image's /dev/null that is not the null device is never a mask source" {
	setup_bundle cat /secret
	update_config '.mounts = [.mounts[] | select(.destination != "/dev")]
		| .linux.maskedPaths += ["/secret"]'
	echo top-secret >"$ROOTFS/secret"
	local how
	for how in symlink file; do
		rm -rf "$ROOTFS/dev"
		mkdir -p "$ROOTFS/dev"
		case $how in
		symlink) ln -s /proc/sys/kernel/core_pattern "$ROOTFS/dev/null" ;;
		file) echo not-null >"$ROOTFS/dev/null" ;;
		esac
		local id
		id=$(new_id)
		run stasis run --bundle "$BUNDLE" "$id" </dev/null
		stasis delete --force "$id" >/dev/null 2>&1 || true
		assert_failure "$how: a container masked with a fake /dev/null ran, output: $output"
		assert_output_contains "/dev/null is invalid"
	done
	assert_equal "$(cat "$ROOTFS/secret")" top-secret "the masked file"
	assert_equal "$(readlink "$ROOTFS/dev/null" || cat "$ROOTFS/dev/null")" not-null "the fake /dev/null"
}

# "ro" on the /dev tmpfs is applied once the nodes and links exist: /dev
# refuses new entries, its devices and its own mounts (shm) still work.
@test "a /dev mount with ro is read-only, its devices and submounts still work" {
	setup_bundle true
	update_config '(.mounts[] | select(.destination == "/dev") | .options) += ["ro"]'
	run_in_container sh -c 'touch /dev/new 2>&1 || echo refused
		echo x >/dev/null && echo null-ok
		touch /dev/shm/new && echo shm-ok'
	assert_success
	assert_output_contains "Read-only file system"
	assert_output_contains refused
	assert_output_contains null-ok
	assert_output_contains shm-ok
}

# The deferred "ro" on /dev is mount_setattr on the handle of the /dev
# mount, as a bind remount: it changes that mount only. It was a remount
# of "/dev" by path without MS_BIND, which makes the filesystem itself
# read-only -- for everyone, the host included, when what is at /dev is a
# bind of a host filesystem (here a createContainer hook binds a tmpfs of
# the test's over it). Shown failing with devReadonly put back to
# remountPath("/dev", flags|MS_REMOUNT, ...): the host's write to that
# tmpfs failed with "Read-only file system".
@test "a /dev mount with ro leaves the filesystem at /dev writable from the host" {
	local hostdev=$BATS_TEST_TMPDIR/hostdev
	mkdir -p "$hostdev"
	mount -t tmpfs -o size=1m tmpfs "$hostdev"
	on_teardown "umount -l '$hostdev'"
	mknod -m 666 "$hostdev/null" c 1 3
	setup_bundle sh -c 'touch /dev/new 2>&1 || echo refused; ls /dev'
	cat >"$BATS_TEST_TMPDIR/bind-dev.sh" <<-'EOF'
		PATH=/usr/sbin:/usr/bin:/sbin:/bin
		mount --bind "$1" dev
	EOF
	update_config '(.mounts[] | select(.destination == "/dev") | .options) += ["ro"]
		| .hooks.createContainer += [{"path": "/bin/sh", "args": ["sh", $s, $d]}]' \
		--arg s "$BATS_TEST_TMPDIR/bind-dev.sh" --arg d "$hostdev"
	local id
	id=$(new_id)
	run stasis run --bundle "$BUNDLE" "$id" </dev/null
	stasis delete --force "$id" >/dev/null 2>&1 || true
	assert_success
	assert_output_contains refused
	# the hook's bind was what the container saw at /dev
	assert_output_contains null
	touch "$hostdev/host-write" || fail "the host's tmpfs bound at the container's /dev was made read-only"
}
