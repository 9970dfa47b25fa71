#!/usr/bin/env bash
# mkbundle.sh DIR [ARGS...]: make an OCI bundle in DIR.
#
#   DIR/rootfs       a busybox root file system (Debian's busybox-static)
#   DIR/config.json  from `$STASIS spec`, with terminal=false and
#                    process.args=ARGS (default: sh)
#
# STASIS names the runtime whose `spec` writes config.json (default: the
# stasis binary at the repo root). The rootfs is built once into a cache dir
# ($STASIS_CACHE, default /var/cache/stasis, or $TMPDIR when that is not
# writable) and copied from there with `cp -a`.
set -euo pipefail

if [ $# -lt 1 ]; then
	echo "usage: $0 DIR [ARGS...]" >&2
	exit 2
fi
dir=$1
shift
[ $# -gt 0 ] || set -- sh

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STASIS=${STASIS:-$repo_root/stasis}
BUSYBOX=${BUSYBOX:-/bin/busybox}

if ! command -v "$STASIS" >/dev/null 2>&1; then
	echo "mkbundle: runtime '$STASIS' not found (run 'make build', or set STASIS)" >&2
	exit 1
fi
for tool in jq "$BUSYBOX"; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "mkbundle: $tool not found (run scripts/install-deps.sh)" >&2
		exit 1
	}
done
if ! "$BUSYBOX" --list >/dev/null 2>&1 || ldd "$BUSYBOX" >/dev/null 2>&1; then
	echo "mkbundle: $BUSYBOX is not a static busybox (install busybox-static)" >&2
	exit 1
fi

cache=${STASIS_CACHE:-/var/cache/stasis}
if ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then
	cache=${TMPDIR:-/tmp}/stasis-cache-$(id -u)
	mkdir -p "$cache"
fi
# The cached rootfs is keyed by the busybox binary and this script, so it is
# rebuilt when either changes.
key=$(cat "$BUSYBOX" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)
base="$cache/rootfs-busybox-$key"

build_rootfs() {
	local tmp
	tmp=$(mktemp -d "$cache/.rootfs.XXXXXX")
	local r="$tmp/rootfs"
	mkdir -p "$r"/{bin,proc,sys,dev,etc,tmp,root,home/user}
	chmod 1777 "$r/tmp"
	chmod 0700 "$r/root"
	chown 1000:1000 "$r/home/user"
	cp "$BUSYBOX" "$r/bin/busybox"
	local applet
	for applet in $("$BUSYBOX" --list); do
		[ "$applet" = busybox ] || ln -sf busybox "$r/bin/$applet"
	done
	cat >"$r/etc/passwd" <<'PW'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PW
	cat >"$r/etc/group" <<'GR'
root:x:0:
user:x:1000:
nogroup:x:65534:
GR
	# Publish atomically, so concurrent callers never see a half-built tree.
	if ! mv -T "$r" "$base" 2>/dev/null; then
		[ -d "$base/bin" ] || { rm -rf "$tmp"; return 1; }
	fi
	rm -rf "$tmp"
}

[ -x "$base/bin/busybox" ] || build_rootfs

mkdir -p "$dir"
if [ -e "$dir/rootfs" ] || [ -e "$dir/config.json" ]; then
	echo "mkbundle: $dir already has a rootfs or config.json" >&2
	exit 1
fi
cp -a "$base" "$dir/rootfs"

(cd "$dir" && "$STASIS" spec)
args_json=$(jq -nc '$ARGS.positional' --args -- "$@")
jq --argjson args "$args_json" '.process.terminal = false | .process.args = $args' \
	"$dir/config.json" >"$dir/config.json.tmp"
mv "$dir/config.json.tmp" "$dir/config.json"
