# shellcheck shell=bash
# MetalLB (go.universe.tf/metallb), the testbed's LoadBalancer controller in L2 mode: its static `controller`
# and `speaker` built from the module proxy into one-binary images, and what testbed/setup-cluster's addon
# addons/10-metallb.sh needs to install it (in $OUT/addons.env). Its manifests stay in the module cache: the
# addon reads config/manifests/metallb-native.yaml from there when it installs MetalLB.

# metallb_module DIR: a Go module in DIR that builds $METALLB_MODULE@$METALLB_VERSION, with frr-k8s replaced
# by a served version (versions.sh says why).
metallb_module() {
  mkdir -p "$1"
  cat > "$1/go.mod" <<GOMOD
module netconform.local/testbed/metallb

go 1.24.0

require $METALLB_MODULE $METALLB_VERSION

replace github.com/metallb/frr-k8s => github.com/metallb/frr-k8s $METALLB_FRR_K8S
GOMOD
}

# metallb_ldflags VERSION: the -X flags upstream's Dockerfiles stamp (internal/version: commit and branch;
# the version itself is a constant of the module).
metallb_ldflags() {
  printf -- '-X go.universe.tf/metallb/internal/version.gitCommit=%s -X go.universe.tf/metallb/internal/version.gitBranch=%s' \
    "$1" "module-proxy"
}

build_metallb() {
  local v=$METALLB_VERSION k
  local module=$CACHE/modules/metallb-$v
  METALLB_BIN=$CACHE/bin/metallb-$v
  METALLB_DIR=$(module_dir "$METALLB_MODULE@$v")
  METALLB_CONTROLLER_IMAGE=netconform.local/metallb-controller:$v
  METALLB_SPEAKER_IMAGE=netconform.local/metallb-speaker:$v
  # go relinks on every `go build -o`: a stamp of the inputs skips the step when nothing changed.
  k=$(key "$METALLB_MODULE@$v" "frr-k8s $METALLB_FRR_K8S" "$(go env GOVERSION)" "$GO_LDFLAGS" "$(metallb_ldflags "$v")")
  if ! fresh "$METALLB_BIN/stamp" "$k" || [ ! -x "$METALLB_BIN/controller" ] || [ ! -x "$METALLB_BIN/speaker" ]; then
    metallb_module "$module"
    log "go: metallb $v (controller, speaker; frr-k8s $METALLB_FRR_K8S)"
    mkdir -p "$METALLB_BIN"
    (cd "$module" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "$GO_LDFLAGS $(metallb_ldflags "$v")" \
      -o "$METALLB_BIN/" "$METALLB_MODULE/controller" "$METALLB_MODULE/speaker")
    stamp "$METALLB_BIN/stamp" "$k"
  fi
  # As upstream's images (distroless/static with the one binary): controller/Dockerfile, speaker/Dockerfile.
  static_image "$METALLB_CONTROLLER_IMAGE" "$METALLB_BIN/controller" /controller 'ENTRYPOINT ["/controller"]'
  static_image "$METALLB_SPEAKER_IMAGE" "$METALLB_BIN/speaker" /speaker 'ENTRYPOINT ["/speaker"]'
  record metallb "$METALLB_MODULE@$v with github.com/metallb/frr-k8s@$METALLB_FRR_K8S, L2 mode (a stand-in for cloud-provider-kind)"
  record metallb-images "$METALLB_CONTROLLER_IMAGE $(image_id "$METALLB_CONTROLLER_IMAGE"), $METALLB_SPEAKER_IMAGE $(image_id "$METALLB_SPEAKER_IMAGE")"
  addon_env METALLB_MANIFEST "$METALLB_DIR/config/manifests/metallb-native.yaml"
  addon_env METALLB_UPSTREAM_TAG "$v"
  addon_env METALLB_CONTROLLER_IMAGE "$METALLB_CONTROLLER_IMAGE"
  addon_env METALLB_SPEAKER_IMAGE "$METALLB_SPEAKER_IMAGE"
}
