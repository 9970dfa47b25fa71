#!/usr/bin/env bats
# config.json mounts: bind, rbind, tmpfs, proc, sysfs, devpts, mqueue, cgroup,
# id-mapped binds, mount point creation, hostile symlinks in the rootfs.

load helpers

# add_mount JSON: append one mount to config.json.
add_mount() {
	update_config '.mounts += [$m]' --argjson m "$1"
}

# mount_line DEST: the /proc/self/mounts line for DEST, from $output.
mount_line() {
	awk -v d="$1" '$2 == d' <<<"$output" | tail -1
}

@test "bind mount of a directory: contents visible, writes reach the host" {
	setup_bundle true
	local src=$BATS_TEST_TMPDIR/hostdir
	mkdir "$src"
	echo from-host >"$src/file"
	add_mount "{\"destination\": \"/mnt/dir\", \"type\": \"bind\", \"source\": \"$src\", \"options\": [\"bind\"]}"
	run_in_container sh -c 'cat /mnt/dir/file && echo from-ctr > /mnt/dir/new'
	assert_success
	assert_output_equals from-host
	assert_equal "$(cat "$src/new")" from-ctr "file written through the bind mount"
}

@test "bind mount of a file" {
	setup_bundle true
	local src=$BATS_TEST_TMPDIR/hostfile
	echo file-content >"$src"
	add_mount "{\"destination\": \"/etc/myfile\", \"type\": \"bind\", \"source\": \"$src\", \"options\": [\"bind\"]}"
	run_in_container sh -c 'cat /etc/myfile; [ -f /etc/myfile ] && echo is-file'
	assert_success
	assert_output_equals "file-content"$'\n'"is-file"
}

@test "bind mount with ro: writes fail" {
	setup_bundle true
	local src=$BATS_TEST_TMPDIR/hostdir
	mkdir "$src"
	add_mount "{\"destination\": \"/mnt/ro\", \"type\": \"bind\", \"source\": \"$src\", \"options\": [\"bind\", \"ro\"]}"
	run_in_container sh -c 'touch /mnt/ro/x 2>&1 && echo wrote; cat /proc/self/mounts'
	assert_output_not_contains wrote
	[ ! -e "$src/x" ] || fail "write went through a ro bind mount"
	[[ "$(mount_line /mnt/ro)" =~ \ ro[,\ ] ]] || fail "/mnt/ro not ro: $(mount_line /mnt/ro)"
}

@test "bind mount with nosuid, nodev, noexec" {
	setup_bundle true
	local src=$BATS_TEST_TMPDIR/hostdir
	mkdir "$src"
	cp /bin/busybox "$src/busybox"
	add_mount "{\"destination\": \"/mnt/n\", \"type\": \"bind\", \"source\": \"$src\", \"options\": [\"bind\", \"nosuid\", \"nodev\", \"noexec\"]}"
	run_in_container sh -c 'cat /proc/self/mounts; /mnt/n/busybox true && echo executed'
	assert_output_not_contains executed
	local line
	line=$(mount_line /mnt/n)
	[[ "$line" == *nosuid* && "$line" == *nodev* && "$line" == *noexec* ]] || fail "options missing: $line"
}

@test "rbind brings submounts, bind does not" {
	setup_bundle true
	local src=$BATS_TEST_TMPDIR/hostdir
	mkdir -p "$src/sub"
	mount -t tmpfs tmpfs "$src/sub"
	on_teardown "umount '$src/sub'"
	echo in-submount >"$src/sub/file"
	add_mount "{\"destination\": \"/mnt/r\", \"type\": \"bind\", \"source\": \"$src\", \"options\": [\"rbind\"]}"
	add_mount "{\"destination\": \"/mnt/b\", \"type\": \"bind\", \"source\": \"$src\", \"options\": [\"bind\"]}"
	run_in_container sh -c 'cat /mnt/r/sub/file; ls /mnt/b/sub | wc -l'
	assert_success
	assert_output_equals "in-submount"$'\n'"0"
}

@test "bind mount of a missing source fails" {
	setup_bundle true
	add_mount '{"destination": "/mnt/x", "type": "bind", "source": "/no/such/source", "options": ["bind"]}'
	assert_create_fails "/no/such/source"
}

@test "tmpfs with size and mode options" {
	setup_bundle true
	add_mount '{"destination": "/mytmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=1m", "mode=1770"]}'
	run_in_container sh -c 'stat -c %a /mytmp; cat /proc/self/mounts; dd if=/dev/zero of=/mytmp/big bs=1024 count=2048 2>&1; echo dd=$?'
	local line
	line=$(mount_line /mytmp)
	[[ "$line" == "tmpfs /mytmp tmpfs "* ]] || fail "no tmpfs at /mytmp: $output"
	[[ "$line" == *size=1024k* ]] || fail "size option not applied: $line"
	assert_equal "$(head -1 <<<"$output")" 1770 "mode of /mytmp"
	# 2 MiB do not fit
	assert_output_contains "No space left on device"
}

@test "proc is mounted at /proc and shows the container's pid namespace" {
	setup_bundle true
	run_in_container sh -c 'cat /proc/self/mounts; readlink /proc/self; cat /proc/1/cmdline | tr "\0" " "'
	assert_success
	[[ "$(mount_line /proc)" == "proc /proc proc "* ]] || fail "no proc at /proc: $output"
	assert_output_contains "sh -c cat /proc/self/mounts"
}

@test "sysfs is mounted at /sys (read-only as in the default spec)" {
	setup_bundle true
	run_in_container sh -c 'cat /proc/self/mounts; ls /sys/kernel >/dev/null && echo has-kernel'
	assert_success
	local line
	line=$(mount_line /sys)
	[[ "$line" == "sysfs /sys sysfs ro"* ]] || fail "no ro sysfs at /sys: $line"
	assert_output_contains has-kernel
}

@test "devpts is a new instance at /dev/pts with /dev/ptmx" {
	setup_bundle true
	run_in_container sh -c 'cat /proc/self/mounts; ls /dev/pts; ls -l /dev/ptmx'
	assert_success
	local line
	line=$(mount_line /dev/pts)
	[[ "$line" == "devpts /dev/pts devpts "* ]] || fail "no devpts at /dev/pts: $output"
	[[ "$line" == *ptmxmode=666* ]] || fail "ptmxmode not applied: $line"
	# a new instance: only ptmx, none of the host's ptys
	assert_equal "$(awk '$1 == "ptmx"' <<<"$output")" ptmx "ptmx in /dev/pts"
	assert_output_matches "/dev/ptmx"
}

@test "mqueue is mounted at /dev/mqueue" {
	setup_bundle true
	run_in_container cat /proc/self/mounts
	assert_success
	[[ "$(mount_line /dev/mqueue)" == "mqueue /dev/mqueue mqueue "* ]] || fail "no mqueue: $output"
}

@test "cgroup mount shows the v1 hierarchies under /sys/fs/cgroup" {
	[ -d /sys/fs/cgroup/pids ] || skip "not a cgroup v1 host"
	setup_bundle true
	run_in_container sh -c 'ls /sys/fs/cgroup; cat /sys/fs/cgroup/pids/cgroup.procs; cat /proc/self/mounts'
	assert_success
	local h
	for h in cpu cpuacct cpuset memory devices freezer blkio pids; do
		[ -d "/sys/fs/cgroup/$h" ] || continue
		assert_output_matches "(^|"$'\n'")$h"$'\n'
	done
	# the container's own cgroup is the root it sees: its processes only
	assert_output_matches "(^|"$'\n'")1"$'\n'
	assert_output_matches "cgroup /sys/fs/cgroup/pids cgroup [^ ]*pids"
}

@test "mount points are created, with missing parent directories" {
	setup_bundle true
	local src=$BATS_TEST_TMPDIR/hostfile
	echo nested-file >"$src"
	add_mount '{"destination": "/a/b/c/d", "type": "tmpfs", "source": "tmpfs", "options": ["size=64k"]}'
	add_mount "{\"destination\": \"/x/y/z/file\", \"type\": \"bind\", \"source\": \"$src\", \"options\": [\"bind\"]}"
	run_in_container sh -c 'cat /proc/self/mounts; cat /x/y/z/file; [ -d /a/b/c/d ] && echo dir-ok'
	assert_success
	[[ "$(mount_line /a/b/c/d)" == "tmpfs /a/b/c/d tmpfs "* ]] || fail "no tmpfs at /a/b/c/d: $output"
	assert_output_contains nested-file
	assert_output_contains dir-ok
	# created inside the rootfs, not elsewhere
	[ -d "$ROOTFS/a/b/c/d" ] || fail "mount point not in the rootfs"
}

# hostile_test LINK-TARGET: rootfs/evil -> LINK-TARGET; mounts through it must
# stay inside the rootfs (or fail), never touch the host.
hostile_test() {
	setup_bundle true
	local name="stasis-pwned-$$-$RANDOM"
	ln -s "$1" "$ROOTFS/evil"
	add_mount "{\"destination\": \"/evil/$name\", \"type\": \"tmpfs\", \"source\": \"tmpfs\", \"options\": [\"size=64k\"]}"
	add_mount "{\"destination\": \"/evil/$name-bind\", \"type\": \"bind\", \"source\": \"$ROOTFS/etc\", \"options\": [\"bind\"]}"
	on_teardown "umount '/$name' '/$name-bind'; rmdir '/$name' '/$name-bind'"
	local id
	id=$(new_id)
	run create_container "$id"
	# success (the mounts resolved inside the rootfs) or failure are both
	# fine; touching the host is not
	[ ! -e "/$name" ] || fail "mount point /$name created on the host"
	[ ! -e "/$name-bind" ] || fail "mount point /$name-bind created on the host"
	! grep -q "$name" /proc/self/mountinfo || fail "mount made on the host: $(grep "$name" /proc/self/mountinfo)"
	if [ "$status" -eq 0 ]; then
		local pid
		pid=$(container_pid "$id")
		# inside the container the mounts are under the rootfs
		grep -q " /$name " "/proc/$pid/mountinfo" ||
			fail "mount not where the symlink resolves inside the rootfs: $(cat "/proc/$pid/mountinfo")"
	fi
}

@test "a rootfs symlink to / cannot make mounts escape to the host" {
	hostile_test /
}

@test "a rootfs symlink with .. cannot make mounts escape to the host" {
	hostile_test ../../../../../../../../..
}

# idmap_source: a host dir (traversable by any uid) with files owned by
# host uids 0 and 5.
idmap_source() {
	SRC=$BATS_TEST_TMPDIR/idmapped
	mkdir -p "$SRC"
	chmod 755 "$BATS_TEST_TMPDIR" "$SRC"
	echo zero >"$SRC/owned-by-0"
	echo five >"$SRC/owned-by-5"
	chown 0:0 "$SRC/owned-by-0"
	chown 5:5 "$SRC/owned-by-5"
}

@test "an id-mapped bind mount shows the source's files under the mapped owners" {
	stasis_only "runc 1.1.5 ignores mount uidMappings"
	setup_bundle true
	idmap_source
	add_mount "{\"destination\": \"/data\", \"type\": \"bind\", \"source\": \"$SRC\", \"options\": [\"rbind\", \"ro\"],
		\"uidMappings\": [{\"containerID\": 0, \"hostID\": 1000, \"size\": 10}],
		\"gidMappings\": [{\"containerID\": 0, \"hostID\": 2000, \"size\": 10}]}"
	run_in_container sh -c 'stat -c "%n %u:%g" /data/owned-by-0 /data/owned-by-5; cat /data/owned-by-0'
	assert_success
	assert_output_equals "/data/owned-by-0 1000:2000"$'\n'"/data/owned-by-5 1005:2005"$'\n'"zero"
	# the files themselves are untouched
	assert_equal "$(stat -c %u:%g "$SRC/owned-by-0")" "0:0" "owner on the host"
}

@test "idmap with a user namespace: the host's root-owned files are root's inside, and new files the host's root's" {
	stasis_only "runc 1.1.5 ignores idmap"
	setup_bundle true
	update_config '.linux.namespaces += [{"type": "user"}]'
	userns_bundle
	idmap_source
	# idmap alone takes the container's mapping (0 -> 100000)
	add_mount "{\"destination\": \"/data\", \"type\": \"bind\", \"source\": \"$SRC\", \"options\": [\"bind\", \"idmap\"]}"
	run_in_container sh -c 'stat -c %u:%g /data/owned-by-0; echo new > /data/made-inside && stat -c %u:%g /data/made-inside'
	assert_success
	assert_output_equals "0:0"$'\n'"0:0"
	assert_equal "$(stat -c %u:%g "$SRC/made-inside")" "0:0" "owner on the host of a file root made inside"
}

@test "id-mapped mounts that are not binds, half-mapped, or on a file system without idmap fail create, naming the mount" {
	stasis_only "runc 1.1.5 ignores mount uidMappings"
	setup_bundle true
	local maps='"uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}], "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]'
	local n
	n=$(jq '.mounts | length' "$BUNDLE/config.json")
	cp "$BUNDLE/config.json" "$BATS_TEST_TMPDIR/config.orig"

	add_mount "{\"destination\": \"/data\", \"type\": \"tmpfs\", \"source\": \"tmpfs\", $maps}"
	assert_create_fails "mounts[$n] (/data): id-mapped mounts (uidMappings, gidMappings, idmap) must be bind mounts"

	cp "$BATS_TEST_TMPDIR/config.orig" "$BUNDLE/config.json"
	add_mount '{"destination": "/data", "type": "bind", "source": "/tmp", "options": ["bind"], "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}'
	assert_create_fails "uidMappings and gidMappings must be given together"

	# sysfs cannot be id-mapped: the kernel refuses, create says which mount
	cp "$BATS_TEST_TMPDIR/config.orig" "$BUNDLE/config.json"
	add_mount "{\"destination\": \"/data\", \"type\": \"bind\", \"source\": \"/sys/kernel\", \"options\": [\"rbind\"], $maps}"
	assert_create_fails "id-mapped mount /sys/kernel on /data"
}
