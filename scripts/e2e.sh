#!/usr/bin/env bash
# scripts/e2e.sh [AREA...]: stasis end to end, through the real clients.
#
# AREAs (default: all): gorunc containerd docker checkpoint podman
#   gorunc      go test in tests/e2e/gorunc (github.com/containerd/go-runc)
#   containerd  tests/e2e/containerd.bats (ctr, runc shim v2, --runc-binary)
#   docker      tests/e2e/docker.bats (docker run --runtime stasis, ...)
#   checkpoint  tests/e2e/docker-checkpoint.bats (docker checkpoint/start)
#   podman      tests/e2e/podman.bats (podman --runtime stasis)
#
# Runs as root. Installs what it needs (docker.io, containerd, podman, ...)
# only when missing, starts its OWN containerd and dockerd (own sockets,
# roots and config under /run/stasis-e2e and /var/lib/stasis-e2e; an engine
# already running on the machine is never touched), registers $STASIS
# (default: the stasis binary at the repo root, built when missing), and
# always stops and cleans up everything it started. Last line:
# "e2e: N passed, N failed, N skipped"; exits non-zero if any failed.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
e2e_dir=$repo/tests/e2e
export PATH=/usr/local/sbin:/usr/local/go/bin:$PATH:/usr/sbin:/sbin
export DEBIAN_FRONTEND=noninteractive
export STASIS=${STASIS:-$repo/stasis}

all_areas=(gorunc containerd docker checkpoint podman cri)
areas=("$@")
[ ${#areas[@]} -gt 0 ] || areas=("${all_areas[@]}")
for a in "${areas[@]}"; do
	[[ " ${all_areas[*]} " == *" $a "* ]] || {
		echo "e2e: unknown area '$a' (have: ${all_areas[*]})" >&2
		exit 2
	}
done
want() { [[ " ${areas[*]} " == *" $1 "* ]]; }

if [ "$(id -u)" -ne 0 ]; then
	echo "e2e: must run as root" >&2
	exit 1
fi

# ------------------------------------------------------------ dependencies

pkgs=(docker.io containerd podman bats busybox-static jq util-linux bsdutils procps)
missing=()
for p in "${pkgs[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "e2e: installing ${missing[*]}"
	apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null ||
		{ echo "e2e: apt-get install ${missing[*]} failed" >&2; exit 1; }
fi
# What the clients run under them.
for p in conmon runc containerd-shim-runc-v2 dockerd; do
	command -v "$p" >/dev/null 2>&1 || { echo "e2e: $p missing after install" >&2; exit 1; }
done
"$repo/scripts/install-criu.sh" >/dev/null || { echo "e2e: no working criu" >&2; exit 1; }

if [ "$STASIS" = "$repo/stasis" ] && [ ! -x "$STASIS" ]; then
	echo "e2e: building $STASIS"
	(cd "$repo" && CGO_ENABLED=1 go build -o stasis .) || exit 1
fi
[ -x "$STASIS" ] || { echo "e2e: STASIS=$STASIS is not executable" >&2; exit 1; }
STASIS=$(readlink -f "$STASIS")

# shellcheck source=tests/e2e/lib.sh
source "$e2e_dir/lib.sh"

# One run at a time: the suite's directories and sockets are fixed.
mkdir -p "$(dirname "$E2E_RUN")"
exec 9>"$E2E_RUN.lock"
if ! flock -n 9; then
	echo "e2e: another scripts/e2e.sh holds $E2E_RUN.lock" >&2
	exit 1
fi

passed=0 failed=0 skipped=0
summary() {
	echo
	echo "e2e: $passed passed, $failed failed, $skipped skipped"
}

cleanup() {
	local rc=$? left
	trap - EXIT INT TERM
	e2e_log "stopping the suite's daemons and cleaning up"
	e2e_stop_all
	left=$(e2e_our_pids; e2e_our_mounts)
	if [ -n "$left" ]; then
		echo "e2e: LEFT BEHIND after clean-up: $left" >&2
		failed=$((failed + 1))
	fi
	rm -f "$E2E_RUN.lock"
	summary
	[ "$failed" -eq 0 ] && [ "$rc" -eq 0 ] && exit 0
	exit 1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A crashed earlier run may have left its daemons: they are ours to stop.
e2e_stop_all
mkdir -p "$E2E_RUN" "$E2E_DATA"
e2e_record_cgroups
e2e_record_globals

# ------------------------------------------------------------ runners

# count_tap FILE: add a TAP stream's results to the totals.
count_tap() {
	local ok sk nok
	ok=$(grep -cE '^ok [0-9]+' "$1")
	sk=$(grep -cE '^ok [0-9]+ .*# skip' "$1")
	nok=$(grep -cE '^not ok [0-9]+' "$1")
	passed=$((passed + ok - sk))
	skipped=$((skipped + sk))
	failed=$((failed + nok))
}

# run_bats NAME FILE: run one bats file (bounded in time) and count it.
run_bats() {
	local tap="$E2E_RUN/$1.tap" rc
	e2e_log "== $1 ($2)"
	timeout -k 10 "${E2E_BATS_TIMEOUT:-300}" bats --tap "$2" | tee "$tap"
	rc=${PIPESTATUS[0]}
	count_tap "$tap"
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		echo "e2e: $1 timed out" >&2
		failed=$((failed + 1))
	elif [ "$rc" -ne 0 ] && ! grep -qE '^not ok' "$tap"; then
		echo "e2e: bats $2 failed (status $rc) without a failing test" >&2
		failed=$((failed + 1))
	fi
}

run_gorunc() {
	local out="$E2E_RUN/gorunc.out" rc
	e2e_log "== gorunc (go test ./... in tests/e2e/gorunc)"
	(cd "$e2e_dir/gorunc" && timeout -k 10 300 go test -count=1 -v ./...) 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	passed=$((passed + $(grep -cE '^--- PASS' "$out")))
	failed=$((failed + $(grep -cE '^--- FAIL' "$out")))
	skipped=$((skipped + $(grep -cE '^--- SKIP' "$out")))
	if [ "$rc" -ne 0 ] && ! grep -qE '^--- FAIL' "$out"; then
		echo "e2e: go test failed (status $rc) without a failing test" >&2
		failed=$((failed + 1))
	fi
}

if want gorunc; then
	run_gorunc
fi

if want containerd || want docker || want checkpoint; then
	e2e_log "starting containerd and dockerd (stasis = $STASIS)"
	if e2e_start_containerd && e2e_start_dockerd && e2e_make_images; then
		want containerd && run_bats containerd "$e2e_dir/containerd.bats"
		want docker && run_bats docker "$e2e_dir/docker.bats"
		want checkpoint && run_bats checkpoint "$e2e_dir/docker-checkpoint.bats"
	else
		echo "e2e: could not start the daemons" >&2
		failed=$((failed + 1))
	fi
fi

if want cri; then
	# Built outside the bats time limit: about 3 minutes the first time.
	if ! e2e_cri_build; then
		e2e_log "$(cat "$E2E_RUN/cri-unavailable")"
		run_bats cri "$e2e_dir/cri.bats" # its tests skip, saying why
	elif e2e_start_cri; then
		run_bats cri "$e2e_dir/cri.bats"
	else
		echo "e2e: could not start containerd 2.x with CRI" >&2
		failed=$((failed + 1))
	fi
fi

if want podman; then
	e2e_log "setting up podman (stasis = $STASIS)"
	if e2e_make_rootfs_tar && e2e_setup_podman; then
		run_bats podman "$e2e_dir/podman.bats"
	else
		echo "e2e: could not set up podman" >&2
		failed=$((failed + 1))
	fi
fi
