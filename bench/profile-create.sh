#!/usr/bin/env bash
# profile-create.sh [-n N] [STASIS]: where `stasis create` spends its time.
#
# Runs `stasis create` of a busybox `sleep 1000` bundle N times (default 15)
# under `perf trace` (kernel tracepoints, so far less distortion than
# strace), cuts each run into phases at landmark syscalls, and prints the
# median of each phase; then one `strace -c -f` summary of a create.
#
#   start-up       execve of `stasis create` .. memfd_create
#                  (dynamic loading, Go runtime, CLI, config.json, state dir)
#   memfd copy     memfd_create .. socketpair  (copy of the binary to seal)
#   stage 0        socketpair .. stage 0's unshare  (fork+exec of the memfd
#                  copy, cgroup set-up by the parent, bootstrap messages)
#   namespaces     stage 0's unshare .. its clone of the init
#   init           clone of the init .. pivot_root  (Go start-up of the
#                  init, config over the socket, mounts)
#   finish         pivot_root .. exit_group of `stasis create`  (rest of the
#                  init's set-up, ready message, state.json)
#
# Needs root, perf and strace. Leaves nothing behind (its own --root).
set -euo pipefail
n=15
if [ "${1:-}" = -n ]; then n=$2; shift 2; fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STASIS=$(readlink -f "${1:-$here/../stasis}")
export PATH=/usr/local/sbin:$PATH
tmp=$(mktemp -d)
root=$tmp/root
cleanup() {
	for id in $("$STASIS" --root "$root" list -q 2>/dev/null); do
		"$STASIS" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
STASIS=$STASIS "$here/../scripts/mkbundle.sh" "$tmp/b" sleep 1000 >/dev/null

for i in $(seq "$n"); do
	perf trace -o "$tmp/t$i" -e 'execve,clone,unshare,pivot_root,memfd_create,socketpair,exit_group' -- \
		"$STASIS" --root "$root" create --bundle "$tmp/b" "p$i" </dev/null >/dev/null 2>&1
	"$STASIS" --root "$root" delete --force "p$i" >/dev/null
done

for i in $(seq "$n"); do
	# Landmarks (ms since the trace's start; the creating process's execve
	# is at ~0). perf prints "TIME ( DUR ms): comm/pid syscall(...)".
	awk '
		function t() { return $1 + 0 }
		/memfd_create\(/ && !m { m = t() }
		/socketpair\(/ && m && !s { s = t() }
		/ unshare\(/ && !u { u = t() }
		/clone\(clone_flags: PARENT/ && !c { c = t() }
		/pivot_root\(/ && !p { p = t() }
		/exit_group\(/ { e = t() }
		END { printf "%.2f %.2f %.2f %.2f %.2f %.2f %.2f\n", m, s - m, u - s, c - u, p - c, e - p, e }
	' "$tmp/t$i"
done >"$tmp/phases"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "stasis create, median of $n runs under perf trace (ms):"
col=1
for name in "start-up" "memfd copy" "stage 0" "namespaces" "init" "finish" "total"; do
	printf '  %-12s %6s\n' "$name" "$(awk -v c=$col '{print $c}' "$tmp/phases" | median)"
	col=$((col + 1))
done

echo
echo "strace -c -f of one create (syscall counts; strace's own overhead inflates times):"
strace -f -c -o "$tmp/strace" "$STASIS" --root "$root" create --bundle "$tmp/b" s1 </dev/null >/dev/null 2>&1 &
spid=$!
# strace follows the init, which waits for `start`: wait for create's
# state, then delete, which ends the init and so strace.
for _ in $(seq 200); do
	"$STASIS" --root "$root" state s1 >/dev/null 2>&1 && break
	sleep 0.05
done
"$STASIS" --root "$root" delete --force s1 >/dev/null 2>&1 || true
wait "$spid" || true
head -22 "$tmp/strace"
