#!/usr/bin/env bash
# Make a working CRIU available for stasis's checkpoint/restore.
#
# 1. Our own build at /usr/local/sbin/criu, if it is the current one (its
#    stamp names the tarball and patches it was built from) and passes
#    `criu check`: done.
# 2. Otherwise a `criu` elsewhere on PATH (a newer distro's) that passes
#    `criu check` is used.
# A criu "passes" when `criu check` does and a test dump finishes (criu_ok).
# 3. Otherwise build CRIU 4.1.1 from the tarball in shared/ (../shared/criu
#    relative to the repo root, or $CRIU_TARBALL), verify its sha256, apply
#    scripts/criu-patches/*.patch (backports of upstream fixes this kernel
#    needs), and install it to /usr/local/sbin/criu, which precedes /usr/sbin
#    on PATH. Debian 12's criu 3.17 fails `criu check` on recent kernels.
# Idempotent: a current, working build is not rebuilt.
set -euo pipefail

CRIU_VERSION=4.1.1
DEST=/usr/local/sbin/criu
STAMP=/usr/local/lib/stasis/criu.stamp
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARBALL=${CRIU_TARBALL:-$repo_root/../shared/criu/criu_${CRIU_VERSION}.orig.tar.xz}
BUILD_DIR=${CRIU_BUILD_DIR:-/var/cache/stasis/criu-build}
PATCHES=("$repo_root"/scripts/criu-patches/*.patch)

criu_ok() { # criu_ok BINARY: does `criu check` pass, and does a real dump finish?
	local out
	out=$("$1" check 2>&1) || return 1
	grep -q "Looks good" <<<"$out" || return 1
	criu_dumps "$1"
}

# criu_dumps BINARY: `criu check` can pass where a dump hangs (a hypervisor
# that drops hardware-breakpoint traps), so dump a sleeping process for
# real, leaving it running, under a timeout.
criu_dumps() {
	local dir pid rc=0
	dir=$(mktemp -d)
	# The sleep keeps none of our fds beyond 0-2: one inherited from the
	# caller (a CI runner's or sandbox's file on a mount outside this mount
	# namespace's view) would make CRIU refuse the dump for reasons that say
	# nothing about CRIU ("Can't lookup mount=N for fd=10").
	(
		for fd in /proc/$BASHPID/fd/*; do
			fd=${fd##*/}
			[ "$fd" -le 2 ] || eval "exec $fd>&-" 2>/dev/null || true
		done
		exec setsid sleep 60
	) </dev/null >/dev/null 2>&1 &
	pid=$!
	timeout 30 "$1" dump -t "$pid" -D "$dir" -o dump.log --leave-running --file-locks >/dev/null 2>&1 || rc=$?
	[ "$rc" -eq 0 ] || echo "install-criu: $1: a test dump of a sleeping process failed (exit $rc$([ "$rc" -eq 124 ] && echo ', hung')); log: $dir/dump.log" >&2
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	[ "$rc" -ne 0 ] || rm -rf "$dir"
	return "$rc"
}

# What our build is made of: the source's checksum and the patches'.
build_id() {
	{
		cat "$TARBALL.sha256" 2>/dev/null || echo "no-tarball"
		cat "${PATCHES[@]}"
	} | sha256sum | awk '{print $1}'
}

if [ -x "$DEST" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$(build_id)" ] && criu_ok "$DEST"; then
	echo "install-criu: using $DEST ($("$DEST" --version | head -1), patched build)"
	exit 0
fi
for p in $(type -ap criu); do
	[ "$p" != "$DEST" ] || continue
	if criu_ok "$p"; then
		echo "install-criu: using $p ($("$p" --version | head -1)): criu check passes"
		exit 0
	fi
done

if [ ! -f "$TARBALL" ]; then
	cat >&2 <<MSG
install-criu: no working criu on PATH, and the CRIU source tarball is missing:
  $TARBALL
Put criu_${CRIU_VERSION}.orig.tar.xz (with its .sha256 file) there, or set
CRIU_TARBALL=/path/to/criu_${CRIU_VERSION}.orig.tar.xz.
MSG
	exit 1
fi
if [ ! -f "$TARBALL.sha256" ]; then
	echo "install-criu: checksum file $TARBALL.sha256 is missing" >&2
	exit 1
fi
want=$(awk '{print $1; exit}' "$TARBALL.sha256")
got=$(sha256sum "$TARBALL" | awk '{print $1}')
if [ "$want" != "$got" ]; then
	echo "install-criu: sha256 mismatch for $TARBALL: got $got, want $want" >&2
	exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-criu: must run as root to install $DEST" >&2
	exit 1
fi

# A missing header or tool is named with its package here, not after
# minutes of make.
# shellcheck source=scripts/build-inputs.sh
source "$repo_root/scripts/build-inputs.sh"
if ! check_build_inputs install-criu; then
	echo "install-criu: CRIU's build inputs are incomplete: run scripts/install-deps.sh" >&2
	exit 1
fi

echo "install-criu: building CRIU $CRIU_VERSION in $BUILD_DIR"
rm -rf "$BUILD_DIR"
mkdir -p "$BUILD_DIR"
tar -C "$BUILD_DIR" -xJf "$TARBALL"
src="$BUILD_DIR/criu-$CRIU_VERSION"
log="$BUILD_DIR/build.log"
for patch in "${PATCHES[@]}"; do
	echo "install-criu: applying $(basename "$patch")"
	patch -d "$src" -p1 --quiet <"$patch"
done
if ! make -C "$src" -j"$(nproc)" criu >"$log" 2>&1; then
	tail -n 40 "$log" >&2
	echo "install-criu: build failed; full log in $log" >&2
	exit 1
fi
install -D -m 0755 "$src/criu/criu" "$DEST"

if ! out=$("$DEST" check 2>&1) || ! grep -q "Looks good" <<<"$out"; then
	printf '%s\n' "$out" >&2
	echo "install-criu: $DEST was built but 'criu check' fails" >&2
	exit 1
fi
if ! criu_dumps "$DEST"; then
	echo "install-criu: $DEST was built and 'criu check' passes, but it cannot dump a process here" >&2
	exit 1
fi
mkdir -p "$(dirname "$STAMP")"
build_id >"$STAMP"
echo "install-criu: installed $DEST ($("$DEST" --version | head -1)): criu check: Looks good."
rm -rf "$src"
