#!/usr/bin/env bash
# demo.sh: walk one busybox container through stasis's lifecycle
# (create -> state -> start -> state -> kill -> state -> delete), printing each
# command and its output. Everything lives in a temp dir removed on exit.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export STASIS=${STASIS:-$repo_root/stasis}
if [ ! -x "$STASIS" ] && ! command -v "$STASIS" >/dev/null; then
	echo "demo: $STASIS not found; run 'make build' first" >&2
	exit 1
fi

work=$(mktemp -d /tmp/stasis-demo.XXXXXX)
root="$work/state"
bundle="$work/bundle"
id="demo-$$"

cleanup() {
	"$STASIS" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { # print the command (with the runtime shown as `stasis`), then run it
	local shown=("stasis" "${@:2}")
	say "${shown[*]}"
	"$@"
}

say "scripts/mkbundle.sh $bundle sh -c 'while true; do sleep 1; done'"
"$repo_root/scripts/mkbundle.sh" "$bundle" sh -c 'while true; do sleep 1; done'
echo "bundle: $bundle (rootfs: busybox, config.json from 'stasis spec')"

S=("$STASIS" --root "$root")
run "${S[@]}" create --bundle "$bundle" "$id"
run "${S[@]}" state "$id"
run "${S[@]}" start "$id"
run "${S[@]}" state "$id"
run "${S[@]}" list
run "${S[@]}" kill "$id" KILL
# The kill is asynchronous: wait for the init to be reaped.
for _ in $(seq 50); do
	st=$("${S[@]}" state "$id" | jq -r .status)
	[ "$st" = stopped ] && break
	sleep 0.1
done
run "${S[@]}" state "$id"
run "${S[@]}" delete "$id"
run "${S[@]}" list
printf '\ndemo: done\n'
