# shellcheck shell=bash
# kind's base image and node image, made the way kind makes them, without a registry.

# The base image follows kind's images/base/Dockerfile: Debian with systemd and the node packages, kind's
# files from the kind module (entrypoint, containerd config, systemd units, /kind/bin helpers), containerd,
# runc, crictl and the CNI plugins built from source. It does not depend on the Kubernetes version.
build_base_image() {
  local files=$KIND_DIR/images/base/files k
  k=$(key "$(cat "$CACHE/rootfs/node.stamp")" "$KIND_VERSION" "$RUNTIME_BIN" "$(cat "$TESTBED/lib/node.sh")" \
    "$(withheld_capabilities && sha256sum < "$CACHE/bin/capdrop-runc")")
  BASE_IMAGE=netconform.local/kind-base:$k
  image_fresh "$BASE_IMAGE" "$k" && return
  log "image: kind base $BASE_IMAGE"
  local dir=$CACHE/stage/base
  rm -rf "$dir"
  mkdir -p "$CACHE/stage"
  cp -a "$CACHE/rootfs/node" "$dir"
  # COPY steps of the Dockerfile, with its modes: scripts 0755, other files 0644.
  install -m 0755 "$files"/usr/local/bin/* "$dir/usr/local/bin/"
  mkdir -p "$dir/kind"
  cp -r "$files/kind/." "$dir/kind/"
  find "$dir/kind" -type f -exec chmod 0644 {} +
  chmod 0755 "$dir/kind" "$dir/kind/bin" "$dir"/kind/bin/*
  local sub
  for sub in etc etc/containerd etc/default etc/sysctl.d etc/systemd/system etc/systemd/system/kubelet.service.d; do
    mkdir -p "$dir/$sub"
    find "$files/$sub" -maxdepth 1 -type f -exec install -m 0644 {} "$dir/$sub/" \;
  done
  # The Dockerfile's first RUN, after clean-install.
  find "$dir/lib/systemd/system/sysinit.target.wants/" -name "systemd-tmpfiles-setup.service" -delete
  rm -f "$dir"/lib/systemd/system/multi-user.target.wants/* "$dir"/etc/systemd/system/*.wants/* \
    "$dir"/lib/systemd/system/local-fs.target.wants/* "$dir"/lib/systemd/system/sockets.target.wants/*udev* \
    "$dir"/lib/systemd/system/sockets.target.wants/*initctl* "$dir"/lib/systemd/system/basic.target.wants/*
  echo "ReadKMsg=no" >> "$dir/etc/systemd/journald.conf"
  ln -sf /usr/lib/systemd/systemd "$dir/sbin/init"
  chroot "$dir" systemctl enable kubelet.service containerd.service undo-mount-hacks.service >/dev/null 2>&1
  chroot "$dir" systemctl mask systemd-binfmt.service >/dev/null 2>&1
  mkdir -p "$dir/etc/kubernetes/manifests" "$dir/opt/cni/bin" "$dir/usr/local/sbin"
  # The build stages' binaries.
  install -m 0755 "$RUNTIME_BIN/containerd" "$RUNTIME_BIN/ctr" "$RUNTIME_BIN/containerd-shim-runc-v2" \
    "$RUNTIME_BIN/crictl" "$dir/usr/local/bin/"
  if withheld_capabilities; then
    # The node's containers ask for what the machine withholds too (a pod sandbox's oom_score_adj -998 needs
    # CAP_SYS_RESOURCE): capdrop-runc goes in front of runc, which moves one directory down PATH.
    install -m 0755 "$RUNTIME_BIN/runc" "$dir/usr/local/bin/runc"
    install -m 0755 "$CACHE/bin/capdrop-runc" "$dir/usr/local/sbin/runc"
  else
    install -m 0755 "$RUNTIME_BIN/runc" "$dir/usr/local/sbin/runc"
  fi
  install -m 0755 "$RUNTIME_BIN"/cni/* "$dir/opt/cni/bin/"
  if [ ! -e /sys/fs/cgroup/cgroup.controllers ]; then
    # A cgroup v1 host: runc's systemd cgroup driver freezes a container's cgroup to update its devices
    # (libcontainer/cgroups/systemd/v1.go), and under load that fails pod starts with "error setting cgroup
    # config for procHooks process: unable to freeze" (seen here on the real kind cluster). The cgroupfs
    # driver does not freeze; the kubelet follows the runtime's driver (KubeletCgroupDriverFromCRI, GA 1.34).
    sed -i 's/SystemdCgroup = true/SystemdCgroup = false/' "$dir/etc/containerd/config.toml"
  fi
  "$RUNTIME_BIN/ctr" oci spec \
    | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
    | jq 'del(.process.rlimits)' > "$dir/etc/containerd/cri-base.json"
  import_dir "$BASE_IMAGE.import" "$k" "$dir" "ENV container=docker" \
    'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]'
  rm -rf "$dir"
  # `docker import` takes no STOPSIGNAL; systemd exits on SIGRTMIN+3, not SIGTERM (the Dockerfile's note).
  printf 'FROM %s\nSTOPSIGNAL SIGRTMIN+3\n' "$BASE_IMAGE.import" | DOCKER_BUILDKIT=0 docker build -q -t "$BASE_IMAGE" - >/dev/null
  docker rmi "$BASE_IMAGE.import" >/dev/null
  record base-image "$BASE_IMAGE $(image_id "$BASE_IMAGE")"
}

# The images kubeadm needs, named as `kubeadm config images list` names them, and the CNI's.
build_component_images() {
  local v=$KUBERNETES_VERSION image
  COMPONENT_IMAGES=()
  for image in $("$KUBE_BIN/kubeadm" config images list --kubernetes-version "$v" 2>/dev/null); do
    case "$image" in
      */kube-apiserver:* | */kube-controller-manager:* | */kube-scheduler:*)
        local name=${image##*/}
        name=${name%%:*}
        static_image "$image" "$KUBE_BIN/$name" "/usr/local/bin/$name"
        ;;
      */kube-proxy:*)
        with_binary "$image" "$(key "$TOOLS_IMAGE" "$(sha256sum < "$KUBE_BIN/kube-proxy")")" "$TOOLS_IMAGE" \
          "$KUBE_BIN/kube-proxy" /usr/local/bin/kube-proxy
        ;;
      */etcd:*)
        static_image "$image" "$KUBE_BIN/etcd" /usr/local/bin/etcd
        ;;
      */coredns:*)
        build_coredns "${image##*:}"
        static_image "$image" "$COREDNS_BIN/coredns" /coredns 'ENTRYPOINT ["/coredns"]'
        ;;
      */pause:*) continue ;; # kind uses containerd's sandbox_image instead (below)
      *) die "kubeadm lists an image the testbed cannot build: $image" ;;
    esac
    COMPONENT_IMAGES+=("$image")
  done
  # kind drops kubeadm's pause image and pre-loads the sandbox_image of its containerd config
  # (pkg/build/nodeimage/buildcontext.go); the pause binary is built from the Kubernetes module's pause.c.
  local sandbox
  sandbox=$(sed -n 's/^[[:space:]]*sandbox_image[[:space:]]*=[[:space:]]*"\(.*\)"/\1/p' \
    "$KIND_DIR/images/base/files/etc/containerd/config.toml")
  [ -n "$sandbox" ] || die "no sandbox_image in kind's containerd config"
  mkdir -p "$CACHE/bin/pause"
  gcc -Os -static -DVERSION="${sandbox##*:}" -o "$CACHE/bin/pause/pause" "$KUBE_DIR/build/pause/linux/pause.c"
  static_image "$sandbox" "$CACHE/bin/pause/pause" /pause 'ENTRYPOINT ["/pause"]'
  COMPONENT_IMAGES+=("$sandbox")
  PODNET_IMAGE=netconform.local/podnet:$(key "$(sha256sum < "$CACHE/bin/podnet")")
  with_binary "$PODNET_IMAGE" "$(key "$TOOLS_IMAGE" "$PODNET_IMAGE")" "$TOOLS_IMAGE" "$CACHE/bin/podnet" \
    /usr/local/bin/podnet 'ENTRYPOINT ["/usr/local/bin/podnet"]'
  COMPONENT_IMAGES+=("$PODNET_IMAGE")
}

# The node image: kind's build steps (pkg/build/nodeimage/buildcontext.go buildImage) done by hand, since
# `kind build node-image` fetches every image it did not build from a registry, unconditionally.
build_node_image() {
  local v=$KUBERNETES_VERSION ids="" image
  for image in "${COMPONENT_IMAGES[@]}"; do ids="$ids $(docker image inspect --format '{{.Id}}' "$image")"; done
  local k
  k=$(key "$BASE_IMAGE" "$ids" "$(sha256sum "$KUBE_BIN/kubeadm" "$KUBE_BIN/kubelet" "$KUBE_BIN/kubectl")" \
    "$(cat "$TESTBED/manifests/podnet.yaml" "$TESTBED/lib/node.sh")")
  NODE_IMAGE=netconform.local/kind-node:$v
  if image_fresh "$NODE_IMAGE" "$k"; then
    record node-image "$NODE_IMAGE $(image_id "$NODE_IMAGE")"
    return
  fi
  log "image: kind node $NODE_IMAGE"
  # Removed below, or by the build's exit trap if a step fails first (cleanup, lib/common.sh).
  BUILD_CONTAINER=$(docker run -d --entrypoint=sleep --security-opt seccomp=unconfined "$BASE_IMAGE" infinity)
  local id=$BUILD_CONTAINER
  for image in kubeadm kubelet kubectl; do
    docker cp "$KUBE_BIN/$image" "$id:/usr/bin/$image"
  done
  docker exec "$id" bash -c "chown root:root /usr/bin/kube* && mkdir -p /kind/manifests && echo -n $v > /kind/version"
  sed "s|image: PODNET_IMAGE|image: $PODNET_IMAGE|" "$TESTBED/manifests/podnet.yaml" \
    | docker exec -i "$id" cp /dev/stdin /kind/manifests/default-cni.yaml
  docker exec -i "$id" cp /dev/stdin /kind/manifests/default-storage.yaml < "$TESTBED/manifests/storage.yaml"
  # imageimporter.go: containerd in the build container, every image imported pinned.
  docker exec "$id" bash -c 'nohup containerd > /dev/null 2>&1 &'
  docker exec "$id" bash -c 'for i in $(seq 1 30); do [ -S /run/containerd/containerd.sock ] && ctr version >/dev/null 2>&1 && exit 0; sleep 1; done; exit 1' \
    || die "containerd did not start in the node build container"
  for image in "${COMPONENT_IMAGES[@]}"; do
    docker save "$image" | docker exec -i "$id" ctr --namespace=k8s.io images import \
      --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack --digests - >/dev/null
  done
  docker exec "$id" pkill containerd
  # sleep is PID 1 here and reaps nothing: containerd has stopped when only a zombie is left.
  docker exec "$id" bash -c 'for i in $(seq 1 30); do ps -C containerd -o stat= | grep -qv Z || exit 0; sleep 1; done; exit 1' \
    || die "containerd did not stop in the node build container"
  docker commit --change 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]' \
    --change "LABEL $KEY_LABEL=$k" "$id" "$NODE_IMAGE" >/dev/null
  remove_build_container
  record node-image "$NODE_IMAGE $(image_id "$NODE_IMAGE")"
}
