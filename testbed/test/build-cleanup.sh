#!/usr/bin/env bash
# testbed/build's robustness, with stubs for docker and debootstrap (no Docker, no network, no real cache):
# the node build container is removed however the build ends, the background debootstrap is stopped when a
# foreground step fails, and a second build on the same cache waits for the first.
set -euo pipefail
TESTBED=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source-path=SCRIPTDIR
source "$TESTBED/test/assert.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/stubs" "$tmp/kube"
touch "$tmp/kube/kubeadm" "$tmp/kube/kubelet" "$tmp/kube/kubectl"

# docker: logs each call; `run -d` names container c0ffee; FAIL_ON (a word of the call) makes a call fail.
cat > "$tmp/stubs/docker" <<'EOF'
#!/usr/bin/env bash
echo "$*" >> "$STUB_LOG"
[ -n "${FAIL_ON:-}" ] && [[ " $* " == *" $FAIL_ON "* ]] && exit 1
case "$1 ${2:-}" in
  "run -d") echo c0ffee ;;
  "image inspect") echo sha256:0123456789abcdef0123 ;;
esac
[ ! -p /dev/stdin ] || cat > /dev/null
EOF
# debootstrap: records its pid and waits, as a slow download would.
cat > "$tmp/stubs/debootstrap" <<'EOF'
#!/usr/bin/env bash
echo $$ > "$STUB_DIR/debootstrap.pid"
sleep 60
EOF
chmod +x "$tmp/stubs/docker" "$tmp/stubs/debootstrap"

# build STEPS: runs STEPS (bash) with testbed/build's libraries and exit trap, the stubs first on PATH;
# prints its stderr, returns its status.
build() {
  { PATH="$tmp/stubs:$PATH" STUB_LOG="$tmp/docker.log" STUB_DIR="$tmp" TESTBED="$TESTBED" TMP="$tmp" \
    bash -c '
      set -euo pipefail
      source "$TESTBED/versions.sh"
      for f in "$TESTBED"/lib/*.sh; do source "$f"; done
      CACHE=$TMP/cache OUT=$TMP/cache/out
      mkdir -p "$OUT"
      trap cleanup EXIT
      debian_mirror() { echo http://deb.invalid/debian; }
      KUBERNETES_VERSION=v1.37.2 KUBE_BIN=$TMP/kube BASE_IMAGE=base PODNET_IMAGE=podnet COMPONENT_IMAGES=()
      '"$1" > /dev/null; } 2>&1
}

# node_build FAIL_ON: build_node_image with docker failing on FAIL_ON; prints "STATUS|STDERR|DOCKER CALLS".
node_build() {
  : > "$tmp/docker.log"
  local rc=0 err
  err=$(FAIL_ON=$1 build build_node_image) || rc=$?
  printf '%s|%s|%s' "$rc" "$err" "$(tr '\n' ';' < "$tmp/docker.log")"
}

# 1. The node build container is removed when a step dies (the RETURN trap missed this).
result=$(node_build version)
expect_eq "die: the build fails" "${result%%|*}" 1
expect_contains "die: the reason is given" "$result" "containerd did not start in the node build container"
expect_contains "die: the container is removed" "$result" "rm -f -v c0ffee"

# 2. ... and when a command fails under set -e.
result=$(node_build cp)
expect_eq "set -e: the build fails" "${result%%|*}" 1
expect_contains "set -e: the container is removed" "$result" "rm -f -v c0ffee"

# 3. ... and once only when the step succeeds.
result=$(node_build nothing)
expect_eq "success: the build succeeds" "${result%%|*}" 0
expect_eq "success: the container is removed once" "$(grep -c 'rm -f -v c0ffee' "$tmp/docker.log")" 1

# 4. The background debootstrap is stopped when a foreground step fails.
rm -f "$tmp/debootstrap.pid"
rc=0
# shellcheck disable=SC2016 # build's steps are expanded by the build's shell
build 'start_background build_rootfs
  for i in $(seq 1 50); do [ -e "$TMP/debootstrap.pid" ] && break; sleep 0.1; done
  die "a foreground step failed"' > /dev/null || rc=$?
expect_eq "background: the build fails" "$rc" 1
if [ -s "$tmp/debootstrap.pid" ]; then
  pid=$(cat "$tmp/debootstrap.pid")
  if gone "$pid"; then pass "background: debootstrap is stopped"; else
    flunk "background: debootstrap $pid still runs"
    kill "$pid"
  fi
else
  flunk "background: debootstrap never started"
fi

# 5. A second build on the same cache waits for the first, and says so.
rm -f "$tmp/first-locked" "$tmp/release" "$tmp/second-locked"
# shellcheck disable=SC2016 # build's steps are expanded by the build's shell
build 'lock_cache; echo $$ > "$TMP/first-locked"; while [ ! -e "$TMP/release" ]; do sleep 0.1; done' > /dev/null &
first=$!
wait_for_file "$tmp/first-locked" || flunk "lock: the first build did not take the lock"
# shellcheck disable=SC2016 # build's steps are expanded by the build's shell
build 'lock_cache; touch "$TMP/second-locked"' > "$tmp/second.err" &
second=$!
sleep 1
if [ -e "$tmp/second-locked" ]; then flunk "lock: the second build did not wait"; else pass "lock: the second build waits"; fi
expect_contains "lock: the second build says why it waits" "$(cat "$tmp/second.err")" \
  "another testbed/build (pid $(cat "$tmp/first-locked")) is using the cache $tmp/cache: waiting for it to end"
touch "$tmp/release"
wait "$first"
if wait "$second" && [ -e "$tmp/second-locked" ]; then pass "lock: the second build goes on once the first ends"; else
  flunk "lock: the second build did not go on"
fi

# 6. testbed/build sets them up as these steps do.
for line in lock_cache 'trap cleanup EXIT' 'start_background build_rootfs' 'wait_background ||'; do
  if grep -q "^$line" "$TESTBED/build"; then pass "build: $line"; else flunk "build: no line '$line'"; fi
done

finish
