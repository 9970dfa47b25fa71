#!/usr/bin/env bats
# `stasis features`: the runtime-spec features document.

load helpers

@test "features prints the runtime-spec features JSON with this build's support" {
	stasis_only "runc 1.1.5 has no features command"
	run stasis features
	assert_success
	jq -e . >/dev/null <<<"$output" || fail "not JSON: $output"
	# Field names and types as specs-go/features defines them.
	jq -e '(.ociVersionMin | type == "string") and (.ociVersionMax | type == "string")
		and (.hooks | type == "array") and (.mountOptions | type == "array")
		and (.linux.namespaces | type == "array") and (.linux.capabilities | type == "array")
		and (.linux.cgroup.v1 | type == "boolean") and (.linux.cgroup.v2 | type == "boolean")
		and (.linux.seccomp.enabled | type == "boolean") and (.linux.seccomp.actions | type == "array")
		and (.linux.seccomp.archs | type == "array") and (.annotations | type == "object")' <<<"$output" >/dev/null ||
		fail "features JSON does not have the spec's shape: $output"
	assert_equal "$(jq -r .ociVersionMax <<<"$output")" "$("$STASIS" spec --bundle "$BATS_TEST_TMPDIR" && jq -r .ociVersion "$BATS_TEST_TMPDIR/config.json")" "ociVersionMax is the spec version stasis writes"
	for ns in cgroup ipc mount network pid user uts; do
		jq -e --arg n "$ns" '.linux.namespaces | index($n)' <<<"$output" >/dev/null || fail "namespace $ns missing"
	done
	for h in prestart createRuntime createContainer startContainer poststart poststop; do
		jq -e --arg h "$h" '.hooks | index($h)' <<<"$output" >/dev/null || fail "hook $h missing"
	done
	jq -e '.linux.capabilities | index("CAP_SYS_ADMIN")' <<<"$output" >/dev/null || fail "CAP_SYS_ADMIN missing"
	jq -e '.linux.seccomp.actions | index("SCMP_ACT_ERRNO")' <<<"$output" >/dev/null || fail "SCMP_ACT_ERRNO missing"
	jq -e '.mountOptions | index("rbind")' <<<"$output" >/dev/null || fail "rbind missing"
}

@test "features says checkpoint/restore is available exactly when a working CRIU is found" {
	stasis_only
	run stasis features
	assert_success
	if criu check >/dev/null 2>&1; then
		assert_equal "$(jq -r '.annotations["org.stasis.checkpoint.enabled"]' <<<"$output")" true "with a working criu"
	fi
	run stasis --criu /nonexistent/criu features
	assert_success
	assert_equal "$(jq -r '.annotations["org.stasis.checkpoint.enabled"]' <<<"$output")" false "without criu"
}

@test "features lists the runtime-spec 1.3 extensions that work" {
	stasis_only "runc 1.1.5 has no features command"
	run stasis features
	assert_success
	jq -e '.linux.memoryPolicy.modes | index("MPOL_BIND") and index("MPOL_INTERLEAVE") and index("MPOL_LOCAL")' <<<"$output" >/dev/null ||
		fail "memoryPolicy modes missing: $output"
	jq -e '.linux.memoryPolicy.flags | index("MPOL_F_STATIC_NODES")' <<<"$output" >/dev/null || fail "memoryPolicy flags missing"
	jq -e '.linux.mountExtensions.idmap.enabled == true and (.mountOptions | index("idmap") and index("ridmap"))' <<<"$output" >/dev/null ||
		fail "idmap mounts not listed: $output"
	jq -e '.linux.netDevices.enabled == true' <<<"$output" >/dev/null || fail "netDevices not listed: $output"
}
