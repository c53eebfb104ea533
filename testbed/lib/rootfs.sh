# shellcheck shell=bash
# Debian root filesystems, made with debootstrap from the mirror this machine's apt already uses.

# debian_mirror: the first deb URI of this machine's apt sources (deb822 or one-line format).
debian_mirror() {
  local uri
  uri=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n1)
  [ -n "$uri" ] || uri=$(sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\{0,1\}\([^[:space:]]*\).*/\2/p' /etc/apt/sources.list 2>/dev/null | grep -v security | head -n1)
  [ -n "$uri" ] || die "no Debian mirror in /etc/apt/sources.list*"
  printf '%s' "$uri"
}

# rootfs NAME PACKAGES: a minbase $DEBIAN_SUITE root filesystem with PACKAGES, at $CACHE/rootfs/NAME.
# Rebuilt only when the suite or the package list changes.
rootfs() {
  local name=$1 packages=$2 dir=$CACHE/rootfs/$1
  local k
  k=$(key "$DEBIAN_SUITE" "$packages")
  fresh "$dir.stamp" "$k" && [ -d "$dir" ] && return
  local mirror
  mirror=$(debian_mirror)
  log "debootstrap: $DEBIAN_SUITE $name ($packages)"
  rm -rf "$dir" "$dir.stamp"
  mkdir -p "$CACHE/rootfs"
  debootstrap --variant=minbase --include="$packages" "$DEBIAN_SUITE" "$dir" "$mirror" > "$CACHE/rootfs/$name.log" 2>&1 \
    || die "debootstrap $name failed (log: $CACHE/rootfs/$name.log)"
  # Package caches and lists are not needed in an image.
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
  stamp "$dir.stamp" "$k"
}

# deb_version ROOTFS PACKAGE: the version of PACKAGE installed in ROOTFS.
deb_version() {
  sed -n "/^Package: $2\$/,/^\$/s/^Version: //p" "$1/var/lib/dpkg/status" | head -n1
}

# build_rootfs: the node's root filesystem, then the tools' (testbed/build runs this in the background:
# debootstrap waits on the network while the Go builds use the CPU).
build_rootfs() {
  timed rootfs-node rootfs node "$NODE_PACKAGES" \
    && timed rootfs-tools rootfs tools "iptables,nftables,conntrack,iproute2,$SUITE_PACKAGES"
}
