#!/usr/bin/env bash
# testbed/setup-cluster's NetworkPolicy step: kube-router's policy controller (testbed/manifests/kube-router.yaml)
# on the kind cluster $NETCONFORM_CLUSTER_NAME (KUBECONFIG points at it). The image is the one testbed/build
# made: $KUBE_ROUTER_IMAGE, else read from the addons.env beside $NETCONFORM_TESTBED (the build's output dir).
# It loads the image onto the nodes, applies the manifest with the cluster's service ranges, and waits,
# bounded, until every node runs the controller.
set -euo pipefail
TESTBED=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf 'kube-router addon: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
: "${NETCONFORM_CLUSTER_NAME:?the name of the kind cluster}" "${KUBECONFIG:?the kubeconfig of the cluster}"
if [ -z "${KUBE_ROUTER_IMAGE:-}" ] && [ -n "${NETCONFORM_TESTBED:-}" ]; then
  env_file=$(dirname "$NETCONFORM_TESTBED")/addons.env
  # shellcheck disable=SC1090 # written by testbed/build
  [ -f "$env_file" ] && source "$env_file"
fi
[ -n "${KUBE_ROUTER_IMAGE:-}" ] || die "KUBE_ROUTER_IMAGE is not set (run testbed/build, eval its exports)"
# How long the DaemonSet may take to run on every node: the image is local, kube-router syncs in seconds.
ROLLOUT_BUDGET=${KUBE_ROUTER_ROLLOUT_BUDGET:-120s}

log "loading $KUBE_ROUTER_IMAGE onto the nodes of $NETCONFORM_CLUSTER_NAME"
kind load docker-image --name "$NETCONFORM_CLUSTER_NAME" "$KUBE_ROUTER_IMAGE" >&2

# The service ranges kubeadm was given (kind writes the config's serviceSubnet there): kube-router's
# --service-cluster-ip-range, and which families to filter.
ranges=$(kubectl -n kube-system get configmap kubeadm-config -o jsonpath='{.data.ClusterConfiguration}' \
  | sed -n 's/^[[:space:]]*serviceSubnet:[[:space:]]*//p' | tr -d '"' | sed -n 1p)
[ -n "$ranges" ] || die "no serviceSubnet in kube-system/kubeadm-config"
ipv4=false ipv6=false
for range in ${ranges//,/ }; do
  case $range in *:*) ipv6=true ;; *) ipv4=true ;; esac
done
log "service ranges $ranges (IPv4 $ipv4, IPv6 $ipv6)"
sed -e "s|KUBE_ROUTER_IMAGE|$KUBE_ROUTER_IMAGE|" -e "s|SERVICE_CLUSTER_IP_RANGE|$ranges|" \
  -e "s|ENABLE_IPV4|$ipv4|" -e "s|ENABLE_IPV6|$ipv6|" "$TESTBED/manifests/kube-router.yaml" \
  | kubectl apply -f - >&2
kubectl -n kube-system rollout status daemonset/kube-router --timeout="$ROLLOUT_BUDGET" >&2 \
  || { kubectl -n kube-system logs daemonset/kube-router --tail=30 >&2 || true; die "kube-router did not run on every node within $ROLLOUT_BUDGET"; }
log "kube-router enforces NetworkPolicy on every node"
