# shellcheck shell=bash
# Assertions for the testbed's script tests (testbed/test/run). A failed one is counted, not fatal, so
# that one run lists every failure; a test file exits 1 if any failed.

FAILURES=0

pass() { printf 'ok: %s\n' "$1"; }
flunk() { printf 'FAILED: %s\n' "$1"; FAILURES=$((FAILURES + 1)); }

# expect_eq WHAT GOT WANT
expect_eq() {
  if [ "$2" = "$3" ]; then pass "$1"; else flunk "$1: got '$2', want '$3'"; fi
}

# expect_contains WHAT TEXT PART
expect_contains() {
  case "$2" in
    *"$3"*) pass "$1" ;;
    *) flunk "$1: '$3' not in: $2" ;;
  esac
}

# expect_not_contains WHAT TEXT PART
expect_not_contains() {
  case "$2" in
    *"$3"*) flunk "$1: '$3' in: $2" ;;
    *) pass "$1" ;;
  esac
}

# gone PID: true once PID has exited (waits up to 5 s).
gone() {
  for _ in $(seq 1 50); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

# wait_for_file FILE: true once FILE exists (waits up to 5 s).
wait_for_file() {
  for _ in $(seq 1 50); do
    [ -e "$1" ] && return 0
    sleep 0.1
  done
  return 1
}

finish() {
  [ "$FAILURES" = 0 ] || { echo "$FAILURES failed"; exit 1; }
}
