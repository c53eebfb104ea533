# Shared helpers for testbed/build: logging, stamps, the module cache.

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
