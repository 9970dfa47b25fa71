#!/usr/bin/env bash
# Make a working CRIU available for stasis's checkpoint/restore.
#
# 1. If a `criu` on PATH passes `criu check`, use it (e.g. a newer distro's).
# 2. Otherwise build CRIU 4.1.1 from the tarball in shared/ (../shared/criu
#    relative to the repo root, or $CRIU_TARBALL), verify its sha256, and
#    install the binary to /usr/local/sbin/criu, which precedes /usr/sbin on
#    PATH. Debian 12's criu 3.17 fails `criu check` on recent kernels.
# Idempotent: skips the build when /usr/local/sbin/criu already passes check.
set -euo pipefail

CRIU_VERSION=4.1.1
DEST=/usr/local/sbin/criu
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARBALL=${CRIU_TARBALL:-$repo_root/../shared/criu/criu_${CRIU_VERSION}.orig.tar.xz}
BUILD_DIR=${CRIU_BUILD_DIR:-/var/cache/stasis/criu-build}

criu_ok() { # criu_ok BINARY: does `criu check` pass?
	local out
	out=$("$1" check 2>&1) || return 1
	grep -q "Looks good" <<<"$out"
}

if criu_ok "$DEST" 2>/dev/null; then
	echo "install-criu: using $DEST ($("$DEST" --version | head -1))"
	exit 0
fi
if p=$(command -v criu) && [ "$p" != "$DEST" ] && criu_ok "$p"; then
	echo "install-criu: using $p ($("$p" --version | head -1)): criu check passes"
	exit 0
fi

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

echo "install-criu: building CRIU $CRIU_VERSION in $BUILD_DIR"
rm -rf "$BUILD_DIR"
mkdir -p "$BUILD_DIR"
tar -C "$BUILD_DIR" -xJf "$TARBALL"
src="$BUILD_DIR/criu-$CRIU_VERSION"
log="$BUILD_DIR/build.log"
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
echo "install-criu: installed $DEST ($("$DEST" --version | head -1)): criu check: Looks good."
rm -rf "$src"
