#!/usr/bin/env bash
# testbed/check-run on small reports made from testbed/expected-skips: its usage line, its verdicts and its
# counts.
set -euo pipefail
TESTBED=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source-path=SCRIPTDIR
source "$TESTBED/test/assert.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The names in a failure message must not be globbed: this file matches `x::*`.
touch "$tmp/x::globbed"

# report FILE PASSED [JQ]: a kind v1.37.2 report with PASSED passed trials and every listed skip, edited by JQ.
report() {
  grep -v '^#' "$TESTBED/expected-skips" | cut -f1 | sed '/^$/d' \
    | jq -R . | jq -s --argjson passed "$2" '{
        run: {target: "kind", server_version: "v1.37.2"},
        trials: ([range($passed) | {name: "a::passed::\(.)", outcome: "passed"}]
          + map({name: ., outcome: "skipped", message: "listed"}))
      }' | jq "${3:-.}" > "$1"
}

# check ARGS...: check-run's status and output, run from $tmp; prints "STATUS|OUTPUT".
check() {
  local rc=0 out
  out=$(cd "$tmp" && "$TESTBED/check-run" "$@" 2>&1) || rc=$?
  printf '%s|%s' "$rc" "$out"
}

listed=$(grep -v '^#' "$TESTBED/expected-skips" | cut -f1 | sed '/^$/d' | wc -l)
first=$(grep -v '^#' "$TESTBED/expected-skips" | cut -f1 | sed '/^$/d' | head -n1)

for args in "" "$tmp/r.json"; do
  # shellcheck disable=SC2086 # no argument, or one
  result=$(check $args)
  expect_eq "usage with ${args:-no arguments}: exit 2" "${result%%|*}" 2
  expect_contains "usage with ${args:-no arguments}: the usage line" "$result" \
    "check-run: usage: testbed/check-run REPORT.json KUBERNETES_VERSION"
  expect_not_contains "usage with ${args:-no arguments}: no shell error" "$result" "unbound variable"
done

report "$tmp/r.json" 3 '.trials[0].outcome = "flaky"'
expect_eq "a clean run: its counts, each skip once" "$(check "$tmp/r.json" v1.37.2)" \
  "0|check-run: $((listed + 3)) trials on kind v1.37.2: 3 passed, 0 failed, $listed skipped (all listed)"

expect_eq "another version" "$(check "$tmp/r.json" v1.36.3)" \
  "1|check-run: the cluster's server is v1.37.2, not v1.36.3"

report "$tmp/r.json" 1 '.trials += [{name: "x::*", outcome: "failed"}, {name: "y::b", outcome: "failed"}]'
expect_eq "failed trials, named as they are" "$(check "$tmp/r.json" v1.37.2)" "1|check-run: failed trials: x::* y::b"

report "$tmp/r.json" 1 '.trials += [{name: "z::*", outcome: "skipped"}]'
expect_eq "an unlisted skip" "$(check "$tmp/r.json" v1.37.2)" \
  "1|check-run: skipped but not in testbed/expected-skips: z::*"

report "$tmp/r.json" 1 "(.trials[] | select(.name == \"$first\") | .outcome) = \"passed\""
expect_eq "a listed trial that passed" "$(check "$tmp/r.json" v1.37.2)" \
  "1|check-run: listed in testbed/expected-skips but not skipped: $first"

report "$tmp/r.json" 1 '.run.target = "existing"'
expect_eq "not kind" "$(check "$tmp/r.json" v1.37.2)" "1|check-run: the run's target is existing, not kind"

expect_eq "no report" "$(check "$tmp/none.json" v1.37.2)" "1|check-run: no report at $tmp/none.json"

finish
