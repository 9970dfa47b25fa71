#!/usr/bin/env bash
# demo.sh: walk one busybox container through stasis's lifecycle
# (create -> state -> start -> state -> kill -> state -> delete), then freeze a
# counting container with checkpoint and bring it back with restore under a new
# id, showing that it counts on from where it stopped. Each command and its
# output is printed. Everything lives in a temp dir removed on exit.
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
	for c in "$id" "$id-counter" "$id-restored"; do
		"$STASIS" --root "$root" delete --force "$c" >/dev/null 2>&1 || true
	done
	[ -z "${reader:-}" ] || kill "$reader" 2>/dev/null || true
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

# Checkpoint/restore: a counter writes to a pipe (as containerd gives
# containers); a reader copies it to a log. After restore under a new id the
# count goes on from where the checkpoint froze it.
counter="$work/counter"
say "scripts/mkbundle.sh $counter sh -c 'i=0; while true; do echo \$i; i=\$((i+1)); sleep 0.2; done'"
"$repo_root/scripts/mkbundle.sh" "$counter" sh -c 'i=0; while true; do echo $i; i=$((i+1)); sleep 0.2; done'
log="$work/counter.log"
mkfifo "$work/out1" "$work/out2"
(cat "$work/out1" "$work/out2" >"$log") &
reader=$!
say "stasis run --detach --bundle $counter $id-counter >out1 (a pipe)"
"${S[@]}" run --detach --bundle "$counter" "$id-counter" </dev/null >"$work/out1" 2>&1
sleep 1.5
say "cat counter.log"
tr '\n' ' ' <"$log"; echo
run "${S[@]}" checkpoint --image-path "$work/images" "$id-counter"
run "${S[@]}" list
say "ls $work/images | head  # CRIU's images, plus stasis.json and stats.json"
ls "$work/images" | head
say "stasis restore --detach --image-path $work/images --bundle $counter $id-restored >out2 (a new pipe)"
"${S[@]}" restore --detach --image-path "$work/images" --bundle "$counter" "$id-restored" </dev/null >"$work/out2" 2>&1
sleep 1.5
run "${S[@]}" state "$id-restored"
say "cat counter.log  # counts on after the restore, no restart from 0"
tr '\n' ' ' <"$log"; echo
run "${S[@]}" delete --force "$id-restored"
printf '\ndemo: done\n'
