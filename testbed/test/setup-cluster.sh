#!/usr/bin/env bash
# testbed/setup-cluster and addons/10-metallb.sh, with stubs (no Docker, no cluster): the addons' contract
# (their environment, their order, a failure stopping the rest), and MetalLB's address pools, image
# substitution and pool manifest.
set -euo pipefail
TESTBED=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source-path=SCRIPTDIR
source "$TESTBED/test/assert.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. setup-cluster runs every addon in name order with the contract's environment.
mkdir -p "$tmp/addons" "$tmp/bin"
cat > "$tmp/addons.env" <<EOF
# a comment
TESTBED_BIN=$tmp/bin
METALLB_SPEAKER_IMAGE=netconform.local/metallb-speaker:v0.15.2
WITH_SPACE='a b'
EOF
printf '#!/bin/sh\necho stub-kubectl\n' > "$tmp/bin/kubectl"
chmod +x "$tmp/bin/kubectl"
cat > "$tmp/addons/20-second.sh" <<'EOF'
#!/usr/bin/env bash
echo "second $NETCONFORM_CLUSTER_NAME" >> "$LOG"
EOF
cat > "$tmp/addons/10-first.sh" <<'EOF'
#!/usr/bin/env bash
echo "first $KUBECONFIG $NETCONFORM_CLUSTER_NAME $METALLB_SPEAKER_IMAGE [$WITH_SPACE] $(kubectl) $(basename "$TESTBED")" >> "$LOG"
echo "to stdout"
echo "to stderr" >&2
EOF
chmod +x "$tmp/addons/"*.sh

setup() {
  KUBECONFIG=/k/config NETCONFORM_CLUSTER_NAME=nc-test TESTBED_ADDONS="$tmp/addons" TESTBED_ADDONS_ENV="$tmp/addons.env" \
    LOG="$tmp/log" "$TESTBED/setup-cluster"
}
: > "$tmp/log"
rc=0
err=$(setup 2>&1 >/dev/null) || rc=$?
expect_eq "setup: exits 0" "$rc" 0
expect_eq "setup: addons in name order, with the contract's environment" "$(cat "$tmp/log")" \
  "first /k/config nc-test netconform.local/metallb-speaker:v0.15.2 [a b] stub-kubectl testbed
second nc-test"
expect_contains "setup: an addon's stdout goes to stderr, prefixed" "$err" "10-first.sh: to stdout"
expect_contains "setup: an addon's stderr too" "$err" "10-first.sh: to stderr"
expect_contains "setup: says how long" "$err" "setup-cluster: 2 addon(s) in "

# 2. A failing addon stops the setup: its status, its name, the next addon not run.
cat > "$tmp/addons/15-broken.sh" <<'EOF'
#!/usr/bin/env bash
echo "error: the thing did not become ready within 120 s" >&2
exit 3
EOF
chmod +x "$tmp/addons/15-broken.sh"
: > "$tmp/log"
rc=0
err=$(setup 2>&1 >/dev/null) || rc=$?
expect_eq "failure: exits 1" "$rc" 1
expect_contains "failure: the addon's own line" "$err" "15-broken.sh: error: the thing did not become ready within 120 s"
expect_contains "failure: named with its status" "$err" "setup-cluster: error: 15-broken.sh failed (exit status 3); the addons after it did not run"
expect_not_contains "failure: the next addon did not run" "$(cat "$tmp/log")" "second"
rm "$tmp/addons/15-broken.sh"

# 3. Without netconform's variables, or without addons.env, it says what is missing.
rc=0
err=$(env -u KUBECONFIG NETCONFORM_CLUSTER_NAME=x "$TESTBED/setup-cluster" 2>&1) || rc=$?
expect_eq "no KUBECONFIG: exits 1" "$rc" 1
expect_contains "no KUBECONFIG: says so" "$err" "KUBECONFIG is not set"
rc=0
err=$(KUBECONFIG=/k NETCONFORM_CLUSTER_NAME=x NETCONFORM_TESTBED="$tmp/none/testbed.properties" "$TESTBED/setup-cluster" 2>&1) || rc=$?
expect_eq "no addons.env: exits 1" "$rc" 1
expect_contains "no addons.env: names it" "$err" "$tmp/none/addons.env does not exist: run testbed/build again"

# 4. MetalLB's pure parts.
metallb() { bash -c "source '$TESTBED/addons/10-metallb.sh'; $1" 2>&1; }
expect_eq "pool: the top of kind's /16 before the broadcast address" "$(metallb 'ipv4_pool 172.18.0.0/16')" \
  "172.18.255.224-172.18.255.254"
expect_eq "pool: a /24, given by any address in it" "$(metallb 'ipv4_pool 10.1.2.77/24')" "10.1.2.224-10.1.2.254"
expect_contains "pool: a /25 is refused" "$(metallb 'ipv4_pool 172.18.0.0/25' || true)" "smaller than a /24"
expect_eq "pool: the top of kind's IPv6 /64" "$(metallb 'ipv6_pool fc00:f853:ccd:e793::/64')" \
  "fc00:f853:ccd:e793:ffff:ffff:ffff:ffe0-fc00:f853:ccd:e793:ffff:ffff:ffff:fffe"
expect_eq "pool: '::' expanded, leading zeros dropped" "$(metallb 'ipv6_pool fd00:00ab::/64')" \
  "fd00:ab:0:0:ffff:ffff:ffff:ffe0-fd00:ab:0:0:ffff:ffff:ffff:fffe"
expect_contains "pool: not a /64" "$(metallb 'ipv6_pool fd00::/56' || true)" "is not a /64"
v6=fc00:f853:ccd:e793:ffff:ffff:ffff:ffe0-fc00:f853:ccd:e793:ffff:ffff:ffff:fffe
v4=172.18.255.224-172.18.255.254
expect_eq "in_pool: both ends and the outside" \
  "$(metallb "for a in 172.18.255.224 172.18.255.254 172.18.255.255 172.18.0.2 fc00:f853:ccd:e793::2 fc00:f853:ccd:e793:ffff:ffff:ffff:FFE1 fc00:f853:ccd:e793:ffff:ffff:ffff:ffff; do in_pool \$a $v4 && echo \$a:v4; in_pool \$a $v6 && echo \$a:v6; done; true" | paste -sd' ')" \
  "172.18.255.224:v4 172.18.255.254:v4 fc00:f853:ccd:e793:ffff:ffff:ffff:FFE1:v6"
expect_eq "check_unused: Docker's low addresses pass" \
  "$(metallb "check_unused $v4 $v6 172.18.0.2/16 fc00:f853:ccd:e793::2/64 172.18.0.3/16 '' && echo clean")" clean
expect_contains "check_unused: a container in the pool is refused" \
  "$(metallb "check_unused $v4 $v6 172.18.0.2/16 172.18.255.230/16" || true)" \
  "container address 172.18.255.230 of the kind network is in the IPv4 pool $v4"

# The manifest's images: both replaced, anything else refused.
cat > "$tmp/metallb.yaml" <<'EOF'
kind: Deployment
        image: quay.io/metallb/controller:v0.15.2
---
kind: DaemonSet
        image: quay.io/metallb/speaker:v0.15.2
EOF
images='METALLB_UPSTREAM_TAG=v0.15.2 METALLB_CONTROLLER_IMAGE=netconform.local/metallb-controller:v0.15.2 METALLB_SPEAKER_IMAGE=netconform.local/metallb-speaker:v0.15.2'
out=$(metallb "$images substitute_images $tmp/metallb.yaml")
expect_eq "images: replaced" "$(grep image: <<< "$out" | tr -s ' ' | paste -sd' ')" \
  " image: netconform.local/metallb-controller:v0.15.2  image: netconform.local/metallb-speaker:v0.15.2"
echo "        image: quay.io/metallb/frr:9.1" >> "$tmp/metallb.yaml"
expect_contains "images: another image is refused" "$(metallb "$images substitute_images $tmp/metallb.yaml" || true)" \
  "names images the testbed does not build: image: quay.io/metallb/frr:9.1"
sed -i '/speaker/d; /frr/d' "$tmp/metallb.yaml"
expect_contains "images: a missing one is refused" "$(metallb "$images substitute_images $tmp/metallb.yaml" || true)" \
  "once each"

pools=$(metallb "pool_manifest $v4 $v6")
expect_contains "pools: one IPAddressPool with both ranges" "$pools" "kind: IPAddressPool
metadata:
  name: kind
  namespace: metallb-system
spec:
  addresses:
  - $v4
  - $v6"
expect_contains "pools: advertised in L2" "$pools" "kind: L2Advertisement"

finish
