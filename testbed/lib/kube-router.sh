# shellcheck shell=bash
# kube-router's NetworkPolicy controller, firewall-only (--run-firewall, no router, no service proxy), as
# k3s runs it beside flannel (k3s pkg/agent/netpol/netpol.go): it programs iptables and ipset on every node
# from the NetworkPolicies, both families. Its module is testbed/kube-router (k3s's fork, dependencies
# raised past their advisories: testbed/README.md); its image is the tools image plus Debian's ipset
# (kube-router's own image is Alpine with iptables, ip6tables and ipset: its Dockerfile).

# build_kube_router: the kube-router binary, rebuilt when testbed/kube-router's go.mod or go.sum changes.
build_kube_router() {
  local dir=$TESTBED/kube-router version k
  version=$(cd "$dir" && go list -m -f '{{if .Replace}}{{.Replace.Path}}@{{.Replace.Version}}{{else}}{{.Path}}@{{.Version}}{{end}}' "$KUBE_ROUTER_MODULE")
  k=$(key "$(cat "$dir/go.mod" "$dir/go.sum")" "$GO_LDFLAGS")
  KUBE_ROUTER_BIN=$CACHE/bin/kube-router-$k
  if [ ! -x "$KUBE_ROUTER_BIN/kube-router" ]; then
    log "go: kube-router $version (firewall-only NetworkPolicy controller)"
    mkdir -p "$KUBE_ROUTER_BIN"
    (cd "$dir" && CGO_ENABLED=0 go build -trimpath \
      -ldflags "$GO_LDFLAGS -X $KUBE_ROUTER_MODULE/pkg/version.Version=${version#*@}" \
      -o "$KUBE_ROUTER_BIN/" "$KUBE_ROUTER_MODULE/cmd/kube-router")
  fi
  record kube-router "$version (testbed/kube-router/go.mod)"
}

# debian_debs DIR PACKAGE...: PACKAGE's .debs of $DEBIAN_SUITE into DIR, with an apt configuration and lists
# of its own (this machine's apt may be another release, and its state is left alone).
debian_debs() {
  local dir=$1 apt
  shift
  apt=$(mktemp -d "$CACHE/stage.XXXXXX")
  mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$dir"
  printf 'deb %s %s main\n' "$(debian_mirror)" "$DEBIAN_SUITE" > "$apt/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=-"
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt" -o "Dir::State::status=$apt/status"
    -o "APT::Architecture=amd64" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
  : > "$apt/status"
  apt-get "${opts[@]}" update -qq >&2
  (cd "$dir" && apt-get "${opts[@]}" download "$@" >&2)
  rm -rf "$apt"
}

# build_kube_router_image: the tools image plus ipset (dpkg-installed from Debian's .debs in a container
# of its own, then committed) and kube-router. Keyed on the tools image, the packages and the binary.
build_kube_router_image() {
  local k
  k=$(key "$(cat "$CACHE/rootfs/tools.stamp")" "$KUBE_ROUTER_PACKAGES" "$(sha256sum < "$KUBE_ROUTER_BIN/kube-router")")
  KUBE_ROUTER_IMAGE=netconform.local/kube-router:$k
  if ! image_fresh "$KUBE_ROUTER_IMAGE" "$k"; then
    local debs id
    debs=$(mktemp -d "$CACHE/stage.XXXXXX")
    # shellcheck disable=SC2086 # a list of package names
    debian_debs "$debs" $KUBE_ROUTER_PACKAGES
    id=$(docker create "$TOOLS_IMAGE" sh -c 'dpkg -i /debs/*.deb && rm -rf /debs')
    docker cp "$debs" "$id:/debs"
    docker cp "$KUBE_ROUTER_BIN/kube-router" "$id:/usr/local/bin/kube-router"
    docker start -a "$id" >&2
    docker commit --change "LABEL $KEY_LABEL=$k" --change 'ENTRYPOINT ["/usr/local/bin/kube-router"]' \
      --change 'CMD []' "$id" "$KUBE_ROUTER_IMAGE" >/dev/null
    docker rm "$id" >/dev/null
    rm -rf "$debs"
  fi
  local ipset
  ipset=$(docker run --rm --entrypoint dpkg-query "$KUBE_ROUTER_IMAGE" -W -f '${Version}' ipset)
  addon_env KUBE_ROUTER_IMAGE "$KUBE_ROUTER_IMAGE"
  record kube-router-image "$KUBE_ROUTER_IMAGE $(image_id "$KUBE_ROUTER_IMAGE") (tools image + Debian ipset $ipset)"
}
