#!/usr/bin/env bash
# Run the conformance suites kept outside this repository (runc's own
# integration suite and the OCI runtime-tools validation suite, see
# $CONFORMANCE_DIR/README.md) against ./stasis, and compare each test's
# result with tests/conformance/expected-*.txt:
#
#   - a test expected to pass that does not pass fails this script;
#   - a test that passes but was expected to fail (or skip) is reported as
#     newly passing, so the expected file can be tightened (--update);
#   - every other difference (a new test, a skip that became a failure of
#     a test expected to fail) is reported without failing.
#
# Usage: scripts/conformance.sh [--update] [runc|rtt ...]   (default: both)
#   --update  rewrite tests/conformance/expected-*.txt from this run
# Environment: CONFORMANCE_DIR (default ../shared/conformance from the
# repository root), STASIS (default ./stasis), LOG_DIR (default a new dir
# under /tmp), and the suites' own knobs (see their scripts' headers).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONFORMANCE_DIR=${CONFORMANCE_DIR:-$repo/../shared/conformance}
STASIS=${STASIS:-$repo/stasis}
EXPECTED_DIR=$repo/tests/conformance
LOG_DIR=${LOG_DIR:-$(mktemp -d /tmp/stasis-conformance.XXXXXX)}

update=0
suites=()
for a in "$@"; do
	case $a in
	--update) update=1 ;;
	runc | rtt) suites+=("$a") ;;
	*) echo "conformance: unknown argument $a (want --update, runc or rtt)" >&2; exit 2 ;;
	esac
done
[ ${#suites[@]} -gt 0 ] || suites=(runc rtt)

if [ ! -d "$CONFORMANCE_DIR" ]; then
	echo "conformance: no suites at $CONFORMANCE_DIR (set CONFORMANCE_DIR)" >&2
	exit 2
fi
[ -x "$STASIS" ] || { echo "conformance: $STASIS is not built (make build)" >&2; exit 2; }
mkdir -p "$LOG_DIR"

# results_runc TAPDIR: "result<TAB>file<TAB>test name" for every test of
# every per-file TAP log runc-bats.sh wrote. A test that never ran (its
# file timed out) is absent, so an expected pass is then missing: a failure.
results_runc() {
	local tap f
	for tap in "$1"/*.tap; do
		[ -e "$tap" ] || continue
		f=$(basename "$tap" .tap).bats
		gawk -v file="$f" '
			/^ok [0-9]+ .* # skip/ { sub(/^ok [0-9]+ /, ""); sub(/ # skip.*$/, ""); print "skip\t" file "\t" $0; next }
			/^ok [0-9]+ /          { sub(/^ok [0-9]+ /, ""); print "pass\t" file "\t" $0; next }
			/^not ok [0-9]+ /      { sub(/^not ok [0-9]+ /, ""); sub(/ # timeout after.*$/, ""); print "fail\t" file "\t" $0 }
		' "$tap"
	done | sort -t$'\t' -k2,3
}

# results_rtt OUTPUT: the same for rtt.sh's "ok N - name" lines.
results_rtt() {
	gawk '
		/^ok [0-9]+ - .* # (skip|SKIP)/ { n = $4; print "skip\truntime-tools\t" n; next }
		/^ok [0-9]+ - /                 { print "pass\truntime-tools\t" $4; next }
		/^not ok [0-9]+ - /             { print "fail\truntime-tools\t" $5 }
	' "$1" | sort -t$'\t' -k2,3
}

# compare EXPECTED GOT NAME: prints the differences; returns 1 on a regression.
compare() {
	local expected=$1 got=$2 name=$3 rc=0
	local regress newpass other
	regress=$(gawk -F'\t' 'NR == FNR { got[$2 "\t" $3] = $1; next }
		$1 == "pass" && got[$2 "\t" $3] != "pass" { print "  " $2 ": " $3 " (expected pass, got " (got[$2 "\t" $3] == "" ? "no result" : got[$2 "\t" $3]) ")" }' "$got" "$expected")
	newpass=$(gawk -F'\t' 'NR == FNR { want[$2 "\t" $3] = $1; next }
		$1 == "pass" && want[$2 "\t" $3] != "pass" { print "  " $2 ": " $3 " (expected " (want[$2 "\t" $3] == "" ? "nothing" : want[$2 "\t" $3]) ")" }' "$expected" "$got")
	other=$(gawk -F'\t' 'NR == FNR { want[$2 "\t" $3] = $1; next }
		$1 != "pass" && ($2 "\t" $3) in want && want[$2 "\t" $3] != "pass" && want[$2 "\t" $3] != $1 { print "  " $2 ": " $3 " (expected " want[$2 "\t" $3] ", got " $1 ")" }' "$expected" "$got")
	printf '== %s results: %s passed, %s failed, %s skipped (expected %s passing)\n' "$name" \
		"$(grep -c '^pass' "$got")" "$(grep -c '^fail' "$got")" "$(grep -c '^skip' "$got")" "$(grep -c '^pass' "$expected")"
	if [ -n "$regress" ]; then
		echo "REGRESSIONS in $name (expected to pass):"
		echo "$regress"
		rc=1
	fi
	if [ -n "$newpass" ]; then
		echo "newly passing in $name (tighten $(basename "$expected") with --update):"
		echo "$newpass"
	fi
	if [ -n "$other" ]; then
		echo "other changes in $name:"
		echo "$other"
	fi
	return $rc
}

status=0
for s in "${suites[@]}"; do
	case $s in
	runc)
		echo "== runc's integration suite (log: $LOG_DIR/runc-bats.txt)"
		LOG_DIR=$LOG_DIR/runc-bats "$CONFORMANCE_DIR/runc-bats.sh" "$STASIS" >"$LOG_DIR/runc-bats.txt" 2>&1
		grep -E '^(TOTAL|== failed tests)' -A0 "$LOG_DIR/runc-bats.txt" | head -1
		results_runc "$LOG_DIR/runc-bats" >"$LOG_DIR/runc-bats.results"
		got=$LOG_DIR/runc-bats.results expected=$EXPECTED_DIR/expected-runc-bats.txt
		;;
	rtt)
		echo "== OCI runtime-tools validation (log: $LOG_DIR/rtt.txt)"
		"$CONFORMANCE_DIR/rtt.sh" "$STASIS" >"$LOG_DIR/rtt.txt" 2>&1
		# (prefixed: a bare "N passed, M failed" line reads as a test
		# runner's own verdict, and expected failures are no verdict)
		echo "   runtime-tools says: $(tail -1 "$LOG_DIR/rtt.txt")"
		results_rtt "$LOG_DIR/rtt.txt" >"$LOG_DIR/rtt.results"
		got=$LOG_DIR/rtt.results expected=$EXPECTED_DIR/expected-rtt.txt
		# An executable expected to pass that did not gets one more run
		# on its own, and that run's result stands: a few of the suite's
		# timing checks (poststart's) lose a race now and then on a busy
		# 2-core machine. One that fails twice is a regression.
		if [ "$update" = 0 ] && [ -f "$expected" ]; then
			again=$(gawk -F'\t' 'NR == FNR { got[$3] = $1; next } $1 == "pass" && got[$3] != "pass" { print $3 }' "$got" "$expected")
			if [ -n "$again" ]; then
				echo "   running again on their own: $again"
				# shellcheck disable=SC2086
				"$CONFORMANCE_DIR/rtt.sh" "$STASIS" $again >"$LOG_DIR/rtt-again.txt" 2>&1
				results_rtt "$LOG_DIR/rtt-again.txt" >"$LOG_DIR/rtt-again.results"
				gawk -F'\t' 'NR == FNR { again[$3] = $0; next } ($3 in again) { print again[$3]; next } { print }' \
					"$LOG_DIR/rtt-again.results" "$got" >"$got.new" && mv "$got.new" "$got"
			fi
		fi
		;;
	esac
	if [ "$update" = 1 ]; then
		mkdir -p "$EXPECTED_DIR"
		cp "$got" "$expected"
		echo "conformance: wrote $expected"
		continue
	fi
	if [ ! -f "$expected" ]; then
		echo "conformance: no expected results at $expected (run with --update once)" >&2
		status=1
		continue
	fi
	compare "$expected" "$got" "$s" || status=1
done
if [ "$update" = 0 ]; then
	if [ "$status" = 0 ]; then
		echo "conformance: every test expected to pass passed (${suites[*]})"
	else
		echo "conformance: REGRESSIONS (see above)"
	fi
fi
exit $status
