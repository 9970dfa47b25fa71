#!/usr/bin/env bash
# run-bats.sh [BATS ARGS...]: run bats (TAP output as usual), then print one
# summary line "bats: N passed, N failed, N skipped". Exits with bats's status.
set -uo pipefail

tap=$(mktemp)
trap 'rm -f "$tap"' EXIT
bats "$@" | tee "$tap"
rc=${PIPESTATUS[0]}

skipped=$(grep -cE '^ok [0-9]+ .*# skip' "$tap")
ok=$(grep -cE '^ok [0-9]+' "$tap")
failed=$(grep -cE '^not ok [0-9]+' "$tap")
echo
echo "bats: $((ok - skipped)) passed, $failed failed, $skipped skipped"
exit "$rc"
