# shellcheck shell=bash
# Go programs, built from the module proxy into $CACHE/bin (one directory per component and version).
# `go install pkg@version` uses the module's own go.mod: used for every module without replace directives.
# go's build cache makes a second run relink nothing.

GO_LDFLAGS="-s -w"

# go_install DIR MODULE@VERSION PACKAGE... : installs the packages (paths inside the module) into DIR.
go_install() {
  local dir=$1 module=${2%@*} version=${2#*@}
  shift 2
  local packages=()
  for p in "$@"; do packages+=("$module${p:+/$p}@$version"); done
  mkdir -p "$dir"
  GOBIN=$dir go install -trimpath -ldflags "$GO_LDFLAGS ${EXTRA_LDFLAGS:-}" ${GO_TAGS:+-tags "$GO_TAGS"} "${packages[@]}"
}

# The testbed's own programs (testbed/go.mod): capdrop-runc and podnet.
build_own_programs() {
  [ -x "$CACHE/bin/capdrop-runc" ] && [ -x "$CACHE/bin/podnet" ] && [ -z "$(find "$TESTBED/cmd" "$TESTBED/go.mod" -newer "$CACHE/bin/podnet" 2>/dev/null)" ] && return
  log "go: testbed programs (capdrop-runc, podnet)"
  (cd "$TESTBED" && CGO_ENABLED=0 go build -trimpath -ldflags "$GO_LDFLAGS" -o "$CACHE/bin/" ./cmd/...)
}

build_kind() {
  log "go: kind $KIND_VERSION"
  CGO_ENABLED=0 go_install "$CACHE/bin" "$KIND_MODULE@$KIND_VERSION" ""
  record kind "$KIND_MODULE@$KIND_VERSION"
}

# The node's runtime, at the versions kind's base Dockerfile pins.
build_runtime() {
  local dockerfile=$KIND_DIR/images/base/Dockerfile
  CONTAINERD_VERSION=$(dockerfile_arg "$dockerfile" CONTAINERD_VERSION)
  RUNC_VERSION=$(dockerfile_arg "$dockerfile" RUNC_VERSION)
  CRICTL_VERSION=$(dockerfile_arg "$dockerfile" CRICTL_VERSION)
  CNI_PLUGINS_VERSION=$(dockerfile_arg "$dockerfile" CNI_PLUGINS_VERSION)
  RUNTIME_BIN=$CACHE/bin/runtime-$(key "$CONTAINERD_VERSION" "$RUNC_VERSION" "$CRICTL_VERSION" "$CNI_PLUGINS_VERSION")

  log "go: containerd $CONTAINERD_VERSION, runc $RUNC_VERSION, crictl $CRICTL_VERSION, CNI plugins $CNI_PLUGINS_VERSION"
  # containerd as kind builds it (BUILDTAGS in the Dockerfile), without cgo: no optional snapshotter needs it.
  CGO_ENABLED=0 GO_TAGS="no_aufs no_zfs no_btrfs no_devmapper" \
    EXTRA_LDFLAGS="-X $CONTAINERD_MODULE/version.Version=$CONTAINERD_VERSION" \
    go_install "$RUNTIME_BIN" "$CONTAINERD_MODULE@$CONTAINERD_VERSION" cmd/containerd cmd/ctr cmd/containerd-shim-runc-v2
  # runc needs cgo (its nsenter is C) and libseccomp, as in kind's build (make runc: tags seccomp).
  CGO_ENABLED=1 GO_TAGS="seccomp urfave_cli_no_docs" EXTRA_LDFLAGS="-X main.version=${RUNC_VERSION#v}" \
    go_install "$RUNTIME_BIN" "$RUNC_MODULE@$RUNC_VERSION" ""
  CGO_ENABLED=0 EXTRA_LDFLAGS="-X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION" \
    go_install "$RUNTIME_BIN" "$CRICTL_MODULE@$CRICTL_VERSION" cmd/crictl
  CGO_ENABLED=0 go_install "$RUNTIME_BIN/cni" "$CNI_PLUGINS_MODULE@$CNI_PLUGINS_VERSION" \
    plugins/ipam/host-local plugins/main/loopback plugins/main/ptp plugins/meta/portmap
  record containerd "$CONTAINERD_MODULE@$CONTAINERD_VERSION"
  record runc "$RUNC_MODULE@$RUNC_VERSION"
  record crictl "$CRICTL_MODULE@$CRICTL_VERSION"
  record cni-plugins "$CNI_PLUGINS_MODULE@$CNI_PLUGINS_VERSION"
}

# version_ldflags VERSION: the -X flags hack/lib/version.sh stamps a Kubernetes build with.
version_ldflags() {
  local v=$1 minor p ld=""
  minor=${v#v1.}; minor=${minor%%.*}
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  echo "$ld"
}

# Kubernetes $KUBERNETES_VERSION: the node binaries, the control-plane components, kube-proxy and etcd, from
# one generated module (testbed/kube-module.sh), version-stamped as hack/lib/version.sh does.
build_kubernetes() {
  local v=$KUBERNETES_VERSION
  KUBE_BIN=$CACHE/bin/kubernetes-$v
  local module=$CACHE/modules/kubernetes-$v
  "$TESTBED/kube-module.sh" "$v" "$module"
  log "go: kubernetes $v (kubeadm, kubelet, kubectl, control plane, kube-proxy, etcd); the longest step"
  mkdir -p "$KUBE_BIN"
  (cd "$module" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "$GO_LDFLAGS $(version_ldflags "$v")" \
    -o "$KUBE_BIN/" \
    k8s.io/kubernetes/cmd/kubeadm k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubectl \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-proxy "$ETCD_MODULE")
  # go names a /v3 module's binary after the element before the major version: server.
  mv -f "$KUBE_BIN/server" "$KUBE_BIN/etcd"
  # shellcheck disable=SC2034 # read by build_component_images (lib/images.sh): the pause source
  KUBE_DIR=$(module_dir "k8s.io/kubernetes@$v")
  record kubernetes "k8s.io/kubernetes@$v"
  record etcd "$ETCD_MODULE@$(cd "$module" && go list -m -f '{{.Version}}' "$ETCD_MODULE")"
}

# agnhost, the suites' client and server, from $AGNHOST_KUBERNETES whatever version the node runs: the two
# sides of an upgrade gate must run the same test image, or a change in agnhost would read as a change in
# the cluster. For that version the packages are already in go's build cache, so this only links.
build_agnhost() {
  local v=$AGNHOST_KUBERNETES
  local module=$CACHE/modules/kubernetes-$v
  AGNHOST_BIN=$CACHE/bin/agnhost-$v
  "$TESTBED/kube-module.sh" "$v" "$module"
  AGNHOST_VERSION=$(cat "$(module_dir "k8s.io/kubernetes@$v")/test/images/agnhost/VERSION")
  log "go: agnhost $AGNHOST_VERSION from kubernetes $v"
  mkdir -p "$AGNHOST_BIN"
  (cd "$module" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "$GO_LDFLAGS $(version_ldflags "$v")" \
    -o "$AGNHOST_BIN/" k8s.io/kubernetes/test/images/agnhost)
  record agnhost "k8s.io/kubernetes/test/images/agnhost@$v (agnhost $AGNHOST_VERSION)"
}

# CoreDNS at the version kubeadm deploys for this Kubernetes version.
build_coredns() {
  local version=$1
  COREDNS_BIN=$CACHE/bin/coredns-$version
  log "go: coredns $version"
  CGO_ENABLED=0 go_install "$COREDNS_BIN" "$COREDNS_MODULE@$version" ""
  record coredns "$COREDNS_MODULE@$version"
}
