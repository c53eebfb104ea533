# shellcheck shell=bash
# shellcheck disable=SC2034 # every pin is read by testbed/build and lib/*.sh, which source this file
# The testbed's pins, one place. Sourced by testbed/build.
# Everything is built from these modules through the Go module proxy, or taken from Debian's packages.

# kind, whose CLI creates the cluster and whose module supplies the node's base files
# (images/base/files: entrypoint, containerd config, systemd units) and the runtime pins below.
KIND_MODULE=sigs.k8s.io/kind
KIND_VERSION=v0.33.0

# The Kubernetes version of the node image, unless testbed/build is given another one.
KUBERNETES_DEFAULT=v1.37.2

# The Kubernetes module agnhost (the suites' test image) is built from, whatever the node's version: both
# sides of an upgrade gate (testbed/upgrade-gate) run the same agnhost.
AGNHOST_KUBERNETES=v1.37.2

# Debian release of the node's userspace: kind's base image is debian:trixie-slim (images/base/Dockerfile).
DEBIAN_SUITE=trixie

# Node packages, from kind's base Dockerfile's clean-install list, less the storage ones
# (nfs-common, open-iscsi: no trial uses a volume). systemd-sysv is not needed: /sbin/init is linked by hand
# as the Dockerfile does.
NODE_PACKAGES=systemd,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,fuse-overlayfs,e2fsprogs,bash,ca-certificates,curl,jq,procps

# Stand-ins for the docs' images (busybox:1.28, nginx): Debian's packages. See testbed/README.md.
SUITE_PACKAGES=busybox-static,nginx

# Modules that are not pinned by kind's Dockerfile or by Kubernetes' go.mod.
# containerd, runc, crictl and the CNI plugins follow kind's images/base/Dockerfile ARGs (read at build time).
# etcd and CoreDNS follow `kubeadm config images list` of the version built.
CONTAINERD_MODULE=github.com/containerd/containerd/v2
RUNC_MODULE=github.com/opencontainers/runc
CRICTL_MODULE=sigs.k8s.io/cri-tools
CNI_PLUGINS_MODULE=github.com/containernetworking/plugins
COREDNS_MODULE=github.com/coredns/coredns
ETCD_MODULE=go.etcd.io/etcd/server/v3

# The LoadBalancer controller: MetalLB in L2 mode, a stand-in for cloud-provider-kind (neither it nor its
# Envoy data plane has an offline source). v0.15.2 is the newest that builds from the proxy: v0.16.x needs
# github.com/metallb/frr-k8s v0.0.27, which is not served. v0.15.2 pins frr-k8s v0.0.20 (not served either)
# and builds against v0.0.21 (replaced in the generated module, lib/metallb.sh); its L2 mode uses no FRR.
METALLB_MODULE=go.universe.tf/metallb
METALLB_VERSION=v0.15.2
METALLB_FRR_K8S=v0.0.21

# NetworkPolicy: kube-router's policy controller alone (firewall-only: iptables + ipset), as k3s runs it
# (k3s pkg/agent/netpol/netpol.go), from k3s's fork of kube-router. testbed/kube-router/go.mod pins it (a
# replace of the upstream module path, as k3s's own go.mod does) and raises its dependencies past their
# advisories. ipset comes from Debian's packages (the tools image has iptables, not ipset).
KUBE_ROUTER_MODULE=github.com/cloudnativelabs/kube-router/v2
KUBE_ROUTER_PACKAGES="ipset libipset13t64"
