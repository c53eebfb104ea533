# shellcheck shell=bash
# Docker images: kind's base and node images, the Kubernetes component images the node holds, and the
# stand-ins for the suites' images. Each carries the key of its inputs as a label and is rebuilt only when
# that key changes.

KEY_LABEL=netconform.testbed.key

# image_fresh IMAGE KEY: true when IMAGE exists with KEY.
image_fresh() {
  [ "$(docker image inspect --format "{{index .Config.Labels \"$KEY_LABEL\"}}" "$1" 2>/dev/null)" = "$2" ]
}

# import_dir IMAGE KEY DIR CHANGE...: DIR's contents as a one-layer image (`docker import`).
import_dir() {
  local image=$1 k=$2 dir=$3
  shift 3
  local changes=(--change "LABEL $KEY_LABEL=$k")
  for c in "$@"; do changes+=(--change "$c"); done
  tar -C "$dir" --numeric-owner -cf - . | docker import "${changes[@]}" - "$image" >/dev/null
}

# with_binary IMAGE KEY FROM BINARY PATH CHANGE...: FROM plus BINARY at PATH (`docker create` + `cp` +
# `commit`, so every such image shares FROM's layer).
with_binary() {
  local image=$1 k=$2 from=$3 binary=$4 path=$5
  shift 5
  image_fresh "$image" "$k" && return
  local changes=(--change "LABEL $KEY_LABEL=$k")
  for c in "$@"; do changes+=(--change "$c"); done
  local id
  id=$(docker create "$from" /bin/true)
  docker cp "$binary" "$id:$path"
  docker commit "${changes[@]}" "$id" "$image" >/dev/null
  docker rm "$id" >/dev/null
}

# static_image IMAGE BINARY PATH CHANGE...: an image of one static binary (and /tmp), as upstream's
# distroless images hold one.
static_image() {
  local image=$1 binary=$2 path=$3
  shift 3
  local k
  k=$(key "$(sha256sum < "$binary")" "$path" "$@")
  image_fresh "$image" "$k" && return
  local dir
  dir=$(mktemp -d "$CACHE/stage.XXXXXX")
  mkdir -p "$dir$(dirname "$path")" "$dir/tmp" "$dir/etc"
  chmod 1777 "$dir/tmp"
  cp "$binary" "$dir$path"
  echo 'root:x:0:0:root:/root:/sbin/nologin' > "$dir/etc/passwd"
  import_dir "$image" "$k" "$dir" "ENV PATH=/usr/local/bin:/usr/bin:/bin" "$@"
  rm -rf "$dir"
}

# busybox_dir DIR: a busybox root filesystem: Debian's static busybox with its applets linked in /bin.
busybox_dir() {
  local dir=$1 busybox=$CACHE/rootfs/tools/usr/bin/busybox applet
  mkdir -p "$dir/bin" "$dir/tmp" "$dir/etc" "$dir/root"
  chmod 1777 "$dir/tmp"
  cp "$busybox" "$dir/bin/busybox"
  for applet in $("$busybox" --list); do
    [ -e "$dir/bin/$applet" ] || ln -s busybox "$dir/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$dir/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$dir/etc/group"
}

# The tools image: Debian with iptables, nftables, conntrack and iproute2, for kube-proxy and podnet
# (upstream's kube-proxy image is distroless-iptables), and Debian's nginx for the suites.
build_tools_image() {
  TOOLS_IMAGE=netconform.local/tools:$DEBIAN_SUITE
  local k
  k=$(key "$(cat "$CACHE/rootfs/tools.stamp")")
  image_fresh "$TOOLS_IMAGE" "$k" || import_dir "$TOOLS_IMAGE" "$k" "$CACHE/rootfs/tools" \
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
}

# The suites' images, stand-ins for the docs' ones, and the image map that points the suite at them.
build_suite_images() {
  local tools=$CACHE/rootfs/tools busybox_version nginx_version k dir
  busybox_version=$(deb_version "$tools" busybox-static)
  busybox_version=${busybox_version#*:} # no epoch in a tag
  nginx_version=$(deb_version "$tools" nginx)
  BUSYBOX_IMAGE=netconform.local/busybox:${busybox_version//[^A-Za-z0-9_.-]/_}
  NGINX_IMAGE=netconform.local/nginx:${nginx_version//[^A-Za-z0-9_.-]/_}
  AGNHOST_IMAGE=netconform.local/agnhost:$AGNHOST_VERSION

  k=$(key "$(cat "$CACHE/rootfs/tools.stamp")" busybox-2)
  if ! image_fresh "$BUSYBOX_IMAGE" "$k"; then
    dir=$(mktemp -d "$CACHE/stage.XXXXXX")
    busybox_dir "$dir"
    import_dir "$BUSYBOX_IMAGE" "$k" "$dir" 'CMD ["sh"]'
    rm -rf "$dir"
  fi
  # busybox:1.28's stand-in: the same filesystem, its busybox built with 1.28's nslookup (lib/busybox.sh).
  local source_version
  source_version=$(busybox_source_version "$tools")
  build_busybox_small_nslookup "$source_version"
  OLD_NSLOOKUP_IMAGE=netconform.local/busybox:${busybox_version//[^A-Za-z0-9_.-]/_}-nslookup-1.28
  with_binary "$OLD_NSLOOKUP_IMAGE" "$(key "$k" "$(sha256sum < "$SMALL_NSLOOKUP_BUSYBOX")")" "$BUSYBOX_IMAGE" \
    "$SMALL_NSLOOKUP_BUSYBOX" /bin/busybox
  # agnhost on the busybox filesystem: some of its commands run a shell.
  with_binary "$AGNHOST_IMAGE" "$(key "$k" "$(sha256sum < "$AGNHOST_BIN/agnhost")")" "$BUSYBOX_IMAGE" \
    "$AGNHOST_BIN/agnhost" /agnhost 'ENTRYPOINT ["/agnhost"]' 'CMD []'
  # Debian's nginx serves its default site on port 80 as the docs' nginx image does.
  k=$(key "$(cat "$CACHE/rootfs/tools.stamp")" nginx-1)
  image_fresh "$NGINX_IMAGE" "$k" || {
    local id
    id=$(docker create "$TOOLS_IMAGE" /bin/true)
    docker commit --change "LABEL $KEY_LABEL=$k" --change 'CMD ["nginx", "-g", "daemon off;"]' \
      --change 'EXPOSE 80' "$id" "$NGINX_IMAGE" >/dev/null
    docker rm "$id" >/dev/null
  }

  cat > "$OUT/images.yaml" <<EOF
# NETCONFORM_IMAGES, written by testbed/build: the docs' images and what the testbed cluster runs instead.
# Each is a stand-in (standIn says what it is): checks whose claim is about the docs' image itself are
# skipped with that reason, unless the stand-in reproduces what the claim is about (reproduces).
# busybox:1.36.1: its nslookup.c and 1.37.0's differ in transaction ids, a buffer size and a musl resolver
# that is off; the search-list handling (add_query_with_search) is the same, so Debian's 1.37 shows it.
busybox:1.28:
  image: $OLD_NSLOOKUP_IMAGE
  standIn: busybox built from Debian's source package ${source_version#*:} with CONFIG_FEATURE_NSLOOKUP_BIG=n, whose nslookup is busybox 1.28.4's code; not busybox 1.28
  reproduces: [nslookup]
busybox:1.36.1:
  image: $BUSYBOX_IMAGE
  standIn: Debian busybox-static $busybox_version, not busybox 1.36.1
  reproduces: [nslookup]
nginx:
  image: $NGINX_IMAGE
  standIn: Debian nginx $nginx_version, not the nginx image
registry.k8s.io/e2e-test-images/agnhost:2.52:
  image: $AGNHOST_IMAGE
  standIn: agnhost $AGNHOST_VERSION built from k8s.io/kubernetes@$AGNHOST_KUBERNETES, not agnhost 2.52
EOF
  record busybox "Debian busybox-static $busybox_version ($BUSYBOX_IMAGE $(image_id "$BUSYBOX_IMAGE"))"
  record busybox-nslookup-1.28 "busybox from Debian's source ${source_version#*:} with 1.28's nslookup ($OLD_NSLOOKUP_IMAGE $(image_id "$OLD_NSLOOKUP_IMAGE"))"
  record nginx "Debian nginx $nginx_version ($NGINX_IMAGE $(image_id "$NGINX_IMAGE"))"
  record agnhost-image "$AGNHOST_IMAGE $(image_id "$AGNHOST_IMAGE")"
}

image_id() { docker image inspect --format '{{.Id}}' "$1" | cut -c1-19; }
