#!/usr/bin/env bash
# testbed/addons/10-metallb.sh: MetalLB in L2 mode, dual-stack, the testbed's LoadBalancer controller (a
# stand-in for cloud-provider-kind, which has no offline source). Run by testbed/setup-cluster (its contract
# is at the top of that file) with what testbed/build built (lib/metallb.sh):
#   METALLB_MANIFEST          config/manifests/metallb-native.yaml in the module cache, applied with its
#                             images replaced: nothing of it is copied into this repository
#   METALLB_UPSTREAM_TAG      the tag of upstream's images in that manifest (quay.io/metallb/*:TAG)
#   METALLB_CONTROLLER_IMAGE  METALLB_SPEAKER_IMAGE: the images built from the module, loaded onto the nodes
# One IPAddressPool with a range of each family of the kind Docker network, and an L2Advertisement of it.
# It returns once the controller and every speaker are ready and the controller's webhook has accepted the
# pool (each wait bounded; a timeout names what did not become ready).
set -euo pipefail

log() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# How many addresses of each family the pool holds: LoadBalancer Services of one run at a time.
POOL_SIZE=31
# Bounds of the waits, in seconds: the controller and speakers start after a 10 s readiness delay
# (the manifest's readinessProbe); the webhook serves once the controller has written its certificate.
ROLLOUT_TIMEOUT=${METALLB_ROLLOUT_TIMEOUT:-180}
WEBHOOK_TIMEOUT=${METALLB_WEBHOOK_TIMEOUT:-120}

# ip4_to_int A.B.C.D / int_to_ip4 N
ip4_to_int() {
  local IFS=. a b c d
  read -r a b c d <<< "$1"
  echo $(( (a << 24) | (b << 16) | (c << 8) | d ))
}
int_to_ip4() { echo "$(( ($1 >> 24) & 255 )).$(( ($1 >> 16) & 255 )).$(( ($1 >> 8) & 255 )).$(( $1 & 255 ))"; }

# ipv4_pool SUBNET: the last POOL_SIZE addresses of an IPv4 subnet of at least 256 addresses, before its
# broadcast address, as a MetalLB range (first-last). Docker hands a network's addresses to containers from
# the low end (libnetwork ipam/allocator.go getAddress: the bitmap's first free ordinal, or the next one after
# the last handed out), so on kind's /16 the top is reached only after tens of thousands of containers.
ipv4_pool() {
  local address=${1%/*} prefix=${1#*/} base top
  case "$prefix" in '' | *[!0-9]*) die "not an IPv4 subnet: $1" ;; esac
  [ "$prefix" -le 24 ] || die "the kind network's IPv4 subnet $1 is smaller than a /24: no room for a pool above Docker's addresses"
  base=$(( $(ip4_to_int "$address") & ~((1 << (32 - prefix)) - 1) & 0xffffffff ))
  top=$(( base + (1 << (32 - prefix)) - 2 )) # the broadcast address is one above
  echo "$(int_to_ip4 $((top - POOL_SIZE + 1)))-$(int_to_ip4 "$top")"
}

# ipv6_groups ADDRESS: its eight groups, "::" expanded, as lowercase hex without leading zeros, one a line.
ipv6_groups() {
  local address=$1 head tail missing i g
  local -a h=() t=() groups=()
  if [[ $address == *::* ]]; then
    head=${address%%::*} tail=${address#*::}
    [ -z "$head" ] || IFS=: read -r -a h <<< "$head"
    [ -z "$tail" ] || IFS=: read -r -a t <<< "$tail"
    missing=$((8 - ${#h[@]} - ${#t[@]}))
    groups=("${h[@]}")
    for ((i = 0; i < missing; i++)); do groups+=(0); done
    groups+=("${t[@]}")
  else
    IFS=: read -r -a groups <<< "$address"
  fi
  [ "${#groups[@]}" = 8 ] || die "not an IPv6 address: $1"
  for g in "${groups[@]}"; do
    [[ $g =~ ^[0-9a-fA-F]{1,4}$ ]] || die "not an IPv6 address: $1"
    printf '%x\n' $((16#$g))
  done
}

# ipv6_pool SUBNET: the last POOL_SIZE addresses of an IPv6 /64 (kind's fc00:f853:ccd:e793::/64) but its very
# last, as a range. Docker numbers containers from the low end there too (::2 up).
ipv6_pool() {
  local prefix=${1#*/} net
  [ "$prefix" = 64 ] || die "the kind network's IPv6 subnet $1 is not a /64"
  # The first four groups, read whole: `| head -n4` would close the pipe early, and under pipefail the
  # writer's SIGPIPE (a race) would end the function with no output.
  local groups
  mapfile -t groups < <(ipv6_groups "${1%/*}")
  [ "${#groups[@]}" = 8 ] || die "not an IPv6 address: $1"
  net="${groups[0]}:${groups[1]}:${groups[2]}:${groups[3]}"
  printf '%s:ffff:ffff:ffff:%x-%s:ffff:ffff:ffff:fffe\n' "$net" $((0xfffe - POOL_SIZE + 1)) "$net"
}

# in_pool ADDRESS RANGE: whether ADDRESS (either family) lies in RANGE (first-last, as the pools above).
in_pool() {
  local first=${2%-*} last=${2#*-}
  case "$1" in
    *:*)
      [[ $first == *:* ]] || return 1
      local a f l
      a=$(ipv6_groups "$1") f=$(ipv6_groups "$first") l=$(ipv6_groups "$last")
      [ "$(head -n7 <<< "$a")" = "$(head -n7 <<< "$f")" ] || return 1
      [ $((16#$(tail -n1 <<< "$a"))) -ge $((16#$(tail -n1 <<< "$f"))) ] \
        && [ $((16#$(tail -n1 <<< "$a"))) -le $((16#$(tail -n1 <<< "$l"))) ]
      ;;
    *)
      [[ $first != *:* ]] || return 1
      local n
      n=$(ip4_to_int "$1")
      [ "$n" -ge "$(ip4_to_int "$first")" ] && [ "$n" -le "$(ip4_to_int "$last")" ]
      ;;
  esac
}

# substitute_images MANIFEST: upstream's manifest on stdout with its two images replaced by the testbed's;
# fails if an image of another name is left (a new upstream manifest would need a look).
substitute_images() {
  local out
  out=$(sed -e "s|image: quay.io/metallb/controller:$METALLB_UPSTREAM_TAG\$|image: $METALLB_CONTROLLER_IMAGE|" \
    -e "s|image: quay.io/metallb/speaker:$METALLB_UPSTREAM_TAG\$|image: $METALLB_SPEAKER_IMAGE|" "$1")
  local left
  left=$(grep -E '^ *image: ' <<< "$out" | grep -v -e "image: $METALLB_CONTROLLER_IMAGE\$" -e "image: $METALLB_SPEAKER_IMAGE\$" || true)
  [ -z "$left" ] || die "$1 names images the testbed does not build: $(awk '{$1 = $1} 1' <<< "$left" | paste -sd,)"
  [ "$(grep -c -E "image: ($METALLB_CONTROLLER_IMAGE|$METALLB_SPEAKER_IMAGE)\$" <<< "$out")" = 2 ] \
    || die "$1 does not name quay.io/metallb/controller:$METALLB_UPSTREAM_TAG and quay.io/metallb/speaker:$METALLB_UPSTREAM_TAG once each"
  printf '%s\n' "$out"
}

# pool_manifest V4_RANGE V6_RANGE: one IPAddressPool with both ranges (a dual-stack Service takes one address
# of each family from one pool) and its L2Advertisement.
pool_manifest() {
  cat <<EOF
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: kind
  namespace: metallb-system
spec:
  addresses:
  - $1
  - $2
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: kind
  namespace: metallb-system
spec:
  ipAddressPools:
  - kind
EOF
}

# kind_subnets: the kind Docker network's subnets, one a line.
kind_subnets() { docker network inspect kind --format '{{range .IPAM.Config}}{{.Subnet}}{{"\n"}}{{end}}'; }

# check_unused V4_RANGE V6_RANGE ADDRESS...: no container address (CIDR or bare) is in either pool.
check_unused() {
  local v4=$1 v6=$2 a
  shift 2
  for a in "$@"; do
    a=${a%/*}
    [ -n "$a" ] || continue
    ! in_pool "$a" "$v4" || die "container address $a of the kind network is in the IPv4 pool $v4"
    ! in_pool "$a" "$v6" || die "container address $a of the kind network is in the IPv6 pool $v6"
  done
}

main() {
  local v4_subnet="" v6_subnet="" s v4 v6 start deadline
  [ -r "$METALLB_MANIFEST" ] || die "$METALLB_MANIFEST is not in the module cache: run testbed/build again"
  for s in $(kind_subnets); do
    case "$s" in *:*) v6_subnet=$s ;; *) v4_subnet=$s ;; esac
  done
  if [ -z "$v4_subnet" ] || [ -z "$v6_subnet" ]; then
    die "the kind network lacks an IPv4 or an IPv6 subnet: '$(kind_subnets | tr '\n' ' ')'"
  fi
  v4=$(ipv4_pool "$v4_subnet")
  v6=$(ipv6_pool "$v6_subnet")
  # shellcheck disable=SC2046 # one word per address
  check_unused "$v4" "$v6" $(docker network inspect kind \
    --format '{{range .Containers}}{{.IPv4Address}} {{.IPv6Address}} {{end}}')
  log "pools: $v4 (top of $v4_subnet), $v6 (top of $v6_subnet)"

  log "loading $METALLB_CONTROLLER_IMAGE, $METALLB_SPEAKER_IMAGE onto $NETCONFORM_CLUSTER_NAME"
  kind load docker-image --name "$NETCONFORM_CLUSTER_NAME" "$METALLB_CONTROLLER_IMAGE" "$METALLB_SPEAKER_IMAGE" >&2

  log "applying $METALLB_MANIFEST with the testbed's images"
  substitute_images "$METALLB_MANIFEST" | kubectl apply -f - > /dev/null
  kubectl -n metallb-system rollout status deployment/controller --timeout="${ROLLOUT_TIMEOUT}s" >&2 \
    || die "the MetalLB controller was not ready within ${ROLLOUT_TIMEOUT} s ($(kubectl -n metallb-system get pods -o wide --no-headers 2>&1 | tr -s ' \n' ' '))"
  kubectl -n metallb-system rollout status daemonset/speaker --timeout="${ROLLOUT_TIMEOUT}s" >&2 \
    || die "the MetalLB speakers were not ready within ${ROLLOUT_TIMEOUT} s ($(kubectl -n metallb-system get pods -o wide --no-headers 2>&1 | tr -s ' \n' ' '))"

  # The controller's webhook validates the pool; it answers once the controller has written its serving
  # certificate and the webhook configuration's caBundle (cert-controller). Until then the apply is refused.
  start=$(date +%s)
  deadline=$((start + WEBHOOK_TIMEOUT))
  local err
  until err=$(pool_manifest "$v4" "$v6" | kubectl apply -f - 2>&1 > /dev/null); do
    [ "$(date +%s)" -lt "$deadline" ] \
      || die "the MetalLB webhook did not accept the address pool within ${WEBHOOK_TIMEOUT} s: $(tr '\n' ' ' <<< "$err")"
    sleep 2
  done
  log "the webhook accepted the pool after $(( $(date +%s) - start )) s: MetalLB is ready"
}

[ "${BASH_SOURCE[0]}" != "$0" ] || main "$@"
