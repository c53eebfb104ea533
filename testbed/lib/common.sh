# shellcheck shell=bash
# Shared helpers for testbed/build: logging, stamps, the module cache, the cache lock, cleanup on exit.

log() { printf 'testbed: %s\n' "$*" >&2; }
die() { printf 'testbed: error: %s\n' "$*" >&2; exit 1; }

# key TEXT...: a short content key for stamps and image labels.
key() { printf '%s\n' "$@" | sha256sum | cut -c1-16; }

# fresh STAMP KEY: true when STAMP holds KEY (the step is up to date).
fresh() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }
stamp() { mkdir -p "$(dirname "$1")"; printf '%s' "$2" > "$1"; }

# module_dir MODULE@VERSION: downloads the module (if needed) and prints its directory in the module cache.
module_dir() {
  local dir
  dir=$(go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] || die "go mod download $1 gave no directory"
  printf '%s' "$dir"
}

# dockerfile_arg FILE NAME: the default of `ARG NAME="..."` in a Dockerfile.
dockerfile_arg() {
  local value
  value=$(sed -n "s/^ARG $2=\"\{0,1\}\([^\"]*\)\"\{0,1\}$/\1/p" "$1" | head -n1)
  [ -n "$value" ] || die "no ARG $2 in $1"
  printf '%s' "$value"
}

# timed NAME COMMAND...: runs COMMAND and records its wall time in $CACHE/timings.
timed() {
  local name=$1 start end
  shift
  start=$(date +%s)
  "$@"
  end=$(date +%s)
  printf '%s %s\n' "$name" "$((end - start))" >> "$CACHE/timings"
}

# record KEY VALUE: one line of what was built, for the report's properties (testbed.properties).
record() { printf '%s=%s\n' "$1" "$2" >> "$OUT/testbed.properties.new"; }

# addon_env NAME VALUE: one setting testbed/setup-cluster hands its addons (addons.env, a shell assignment a
# line; the contract is at the top of setup-cluster).
addon_env() { printf '%s=%q\n' "$1" "$2" >> "$OUT/addons.env.new"; }

# lock_cache: one testbed/build at a time per cache, or two would rebuild the same stamps, stage directories
# and images under each other. A second build says so and waits, without a bound, until the first and every
# process it started have ended. The lock is flock(1) on $CACHE/lock (which names the holder's pid), held
# on fd 9: a daemon the build starts must close fd 9 (9>&-), or it would hold the lock after the build.
lock_cache() {
  mkdir -p "$CACHE"
  exec 9<>"$CACHE/lock"
  if ! flock -n 9; then
    local holder
    holder=$(cat "$CACHE/lock")
    log "another testbed/build (pid ${holder:-unknown}) is using the cache $CACHE: waiting for it to end"
    flock 9
    log "the other testbed/build has ended"
  fi
  printf '%s\n' "$$" > "$CACHE/lock"
}

# What cleanup undoes: the background job (start_background) and the node build container (lib/node.sh).
BACKGROUND_PID="" BUILD_CONTAINER=""

# cleanup: testbed/build's EXIT trap, which runs however the build ends: die, a command failing under
# set -e, a signal. (A RETURN trap runs on none of them.) Stops the background job with every process it
# started and removes the node build container.
cleanup() {
  if [ -n "$BACKGROUND_PID" ]; then
    kill -TERM -- "-$BACKGROUND_PID" 2>/dev/null || true
  fi
  if [ -n "$BUILD_CONTAINER" ]; then
    remove_build_container
  fi
}

remove_build_container() {
  docker rm -f -v "$BUILD_CONTAINER" >/dev/null 2>&1 || true
  BUILD_CONTAINER=""
}

# start_background COMMAND...: runs COMMAND as a background job in its own process group (set -m), so that
# cleanup can stop it with what it runs (debootstrap and its children), not only the subshell.
start_background() {
  set -m
  "$@" < /dev/null &
  BACKGROUND_PID=$!
  set +m
}

# wait_background: waits for that job; returns its status.
wait_background() {
  local rc=0
  wait "$BACKGROUND_PID" || rc=$?
  BACKGROUND_PID=""
  return "$rc"
}
