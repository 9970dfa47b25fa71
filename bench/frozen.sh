#!/usr/bin/env bash
# frozen.sh [N] [BUNDLE_RUNTIME]: checkpoint an idle busybox `sleep 1000`
# container N times (default 10) and print the medians of CRIU's frozen
# time, the time stasis held the container frozen, the wall time of
# `stasis checkpoint`, and where CRIU's frozen time went (from the
# timestamps of dump.log, log level 4).
#
# criu_start is CRIU's log up to its pre-dump notification (mostly its
# kernel probes, kerndat): the container is not frozen then, unless the
# runtime froze it before calling CRIU.
#
# STASIS: the stasis binary (default: the repo's). SPEC=runc makes the
# bundle's config.json with `runc spec` instead of `stasis spec`.
set -euo pipefail
n=${1:-10}
repo=$(cd "$(dirname "$0")/.." && pwd)
STASIS=${STASIS:-$repo/stasis}
work=$(mktemp -d /tmp/frozen.XXXXXX)
trap 'rm -rf "$work"' EXIT
if [ "${SPEC:-}" = runc ]; then
	STASIS=$(command -v runc) "$repo/scripts/mkbundle.sh" "$work/b" sleep 1000 >/dev/null
else
	"$repo/scripts/mkbundle.sh" "$work/b" sleep 1000 >/dev/null
fi
# ts PATTERN: time (s) of the first dump.log line matching PATTERN.
ts() { grep -m1 -E "$2" "$1" | sed -E 's/^\(([0-9.]+)\).*/\1/'; }
for i in $(seq "$n"); do
	id=frozen-$$-$i
	(cd "$work/b" && "$STASIS" run -d "$id" </dev/null >/dev/null 2>&1)
	sleep 0.2
	t0=$(date +%s%N)
	"$STASIS" checkpoint --image-path "$work/img$i" "$id" >/dev/null
	t1=$(date +%s%N)
	log=$work/img$i/dump.log
	seize=$(ts "$log" 'Seized task|SEIZE .*success')
	predump=$(ts "$log" 'Running pre-dump scripts')
	mnt=$(ts "$log" 'mnt: Dumping mountpoints')
	mntend=$(ts "$log" 'Dumping file-locks')
	net=$(ts "$log" 'Dump NET namespace|Namespaces dump complete')
	nsend=$(ts "$log" 'Namespaces dump complete')
	fin=$(ts "$log" 'Unfreezing tasks|Dumping finished')
	jq -r --arg wall $(((t1 - t0) / 1000)) \
		--arg mnt "$(echo "$mntend - $mnt" | bc)" --arg net "$(echo "$nsend - $net" | bc)" \
		--arg kd "$(echo "$predump" | bc)" --arg pre "$(echo "$mnt - $seize" | bc)" --arg post "$(echo "$fin - $nsend" | bc)" \
		'[.frozen_time_us/1000, (.held_frozen_us // 0)/1000, ($wall|tonumber)/1000, ($kd|tonumber)*1000,
		  ($pre|tonumber)*1000, ($mnt|tonumber)*1000, ($net|tonumber)*1000, ($post|tonumber)*1000] | @tsv' \
		"$work/img$i/stats.json"
done | awk -v n="$n" '
	{ for (c = 1; c <= NF; c++) v[c, NR] = $c }
	END {
		split("frozen held_frozen wall criu_start seize..mounts mounts namespaces(net) rest", name, " ")
		for (c = 1; c <= 8; c++) {
			m = 0
			for (r = 1; r <= NR; r++) a[r] = v[c, r]
			# insertion sort, NR is small
			for (r = 2; r <= NR; r++) { x = a[r]; j = r - 1; while (j > 0 && a[j] > x) { a[j + 1] = a[j]; j-- } a[j + 1] = x }
			med = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
			printf "%-16s median %7.1f ms  (min %.1f, max %.1f)\n", name[c], med, a[1], a[NR]
		}
	}'
