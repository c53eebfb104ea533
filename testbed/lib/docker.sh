# shellcheck shell=bash
# The Docker engine kind runs its nodes in: the one that answers, or Debian's docker.io started here.

# withheld_capabilities: true when this process's bounding set lacks a capability the kernel has
# (a VM that withholds CAP_SYS_RESOURCE from root, say). Docker asks for every capability for a
# --privileged container, so runc would fail there with "unable to apply caps".
withheld_capabilities() {
  local bounding last all
  bounding=$(sed -n 's/^CapBnd:[[:space:]]*//p' /proc/self/status)
  last=$(cat /proc/sys/kernel/cap_last_cap)
  all=$(( (1 << (last + 1)) - 1 ))
  [ $(( 0x$bounding & all )) -ne "$all" ]
}

# ensure_docker: a daemon that answers on the default socket, and a privileged container that starts.
ensure_docker() {
  if docker info >/dev/null 2>&1; then
    log "docker: using the engine that answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
    return
  fi
  command -v dockerd >/dev/null || die "no Docker engine answers and dockerd is not installed"
  local args=(--log-level=warn)
  if withheld_capabilities; then
    # The runtime that drops what the machine withholds (testbed/cmd/capdrop-runc), made default so kind's
    # `docker run --privileged` and `docker exec --privileged` go through it.
    build_own_programs
    args+=(--add-runtime "capdrop-runc=$CACHE/bin/capdrop-runc" --default-runtime capdrop-runc)
    log "docker: this machine withholds capabilities (CapBnd $(sed -n 's/^CapBnd:[[:space:]]*//p' /proc/self/status)): starting dockerd with capdrop-runc"
  else
    log "docker: starting dockerd"
  fi
  # Not a systemd machine: dockerd runs in its own session, logging beside the cache. It outlives the build,
  # so it must not hold the cache lock (fd 9, lock_cache).
  setsid nohup dockerd "${args[@]}" > "$CACHE/dockerd.log" 2>&1 < /dev/null 9>&- &
  local i
  for i in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    [ "$i" = 60 ] && die "dockerd did not answer within 60 s (log: $CACHE/dockerd.log)"
    sleep 1
  done
  keep_containers_local
}

# keep_containers_local: on the engine the testbed started, nothing a container sends is forwarded off the
# machine's Docker networks. A kind cluster here needs nothing outside, and until kube-proxy has programmed
# the kubernetes Service a connection to its ClusterIP would otherwise leave by the node's default route.
# Replies to the host and traffic between containers are not forwarded off a bridge, so they pass.
keep_containers_local() {
  local bridge
  for bridge in 'br-+' docker0; do
    iptables -C DOCKER-USER -i "$bridge" ! -o "$bridge" -j REJECT 2>/dev/null \
      || iptables -I DOCKER-USER -i "$bridge" ! -o "$bridge" -j REJECT
    ip6tables -C FORWARD -i "$bridge" ! -o "$bridge" -j REJECT 2>/dev/null \
      || ip6tables -I FORWARD -i "$bridge" ! -o "$bridge" -j REJECT
  done
  log "docker: containers' traffic stays on this machine (DOCKER-USER/FORWARD reject off-bridge forwarding)"
}
