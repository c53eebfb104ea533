# shellcheck shell=bash
# busybox with busybox 1.28's nslookup, for the checks whose claim is that nslookup's own behaviour (the docs'
# busybox:1.28 image has no offline source).
#
# busybox 1.37's networking/nslookup.c has two implementations. With CONFIG_FEATURE_NSLOOKUP_BIG=y (Debian's
# build) it is its own DNS client, which queries a dotted name as it is. With it off, it is busybox 1.28.4's
# nslookup.c but for comments and includes: it resolves through the libc resolver (getaddrinfo), so the
# resolv.conf search list applies, and prints 1.28's output ("Address 1: ..."). Compared here by diffing the
# branch of 1.37.0 under `#if !ENABLE_FEATURE_NSLOOKUP_BIG` (Debian's source; its patches leave nslookup.c
# alone) with 1_28_4's networking/nslookup.c in busybox's git. The docs' image was built on uClibc; this one is static glibc
# (the host's), whose resolver walks the same search list.

# busybox_source_version ROOTFS: the source version of the busybox-static installed in ROOTFS (a binNMU
# `+bN` is built from the same source).
busybox_source_version() {
  local version
  version=$(deb_version "$1" busybox-static)
  printf '%s' "${version%+b*}"
}

# build_busybox_small_nslookup SOURCE_VERSION: Debian's busybox source package at SOURCE_VERSION (from the
# suite's deb-src of the mirror this machine's apt uses, with apt's state kept in the cache), built static
# with Debian's static config and CONFIG_FEATURE_NSLOOKUP_BIG off. Sets SMALL_NSLOOKUP_BUSYBOX to the binary.
build_busybox_small_nslookup() {
  local version=$1 dir=$CACHE/busybox-src apt_opts k
  k=$(key "$version" "$DEBIAN_SUITE" small-nslookup-1)
  SMALL_NSLOOKUP_BUSYBOX=$dir/$k/busybox
  fresh "$dir/$k.stamp" "$k" && [ -x "$SMALL_NSLOOKUP_BUSYBOX" ] && return
  rm -rf "${dir:?}/$k"
  mkdir -p "$dir/$k" "$dir/apt/lists/partial"
  printf 'deb-src %s %s main\n' "$(debian_mirror)" "$DEBIAN_SUITE" > "$dir/apt/sources.list"
  # The cache is root's: apt fetches as root (APT::Sandbox::User), not as _apt, which cannot write there.
  apt_opts=(-o "Dir::Etc::SourceList=$dir/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null -o APT::Sandbox::User=root
    -o "Dir::State::Lists=$dir/apt/lists")
  log "busybox: Debian's source $version, built with CONFIG_FEATURE_NSLOOKUP_BIG=n"
  apt-get -qq "${apt_opts[@]}" update >&2 || die "apt-get update of $DEBIAN_SUITE's sources failed"
  (cd "$dir/$k" && apt-get -qq "${apt_opts[@]}" source "busybox=$version") > "$dir/$k.log" 2>&1 \
    || die "apt-get source busybox=$version failed: $(tail -n 3 "$dir/$k.log")"
  local src
  src=$(find "$dir/$k" -mindepth 1 -maxdepth 1 -type d -name 'busybox-*' | head -n1)
  [ -n "$src" ] || die "no busybox source tree in $dir/$k"
  cp "$src/debian/config/pkg/static" "$src/.config"
  sed -i 's/^CONFIG_FEATURE_NSLOOKUP_BIG=y$/# CONFIG_FEATURE_NSLOOKUP_BIG is not set/' "$src/.config"
  # oldconfig settles what depends on the change (the BIG-only long options go too).
  (cd "$src" && { yes '' || true; } | make oldconfig && make -j"$(nproc)" busybox) >> "$dir/$k.log" 2>&1 \
    || die "busybox build failed: $(tail -n 3 "$dir/$k.log")"
  grep -q '^# CONFIG_FEATURE_NSLOOKUP_BIG is not set' "$src/.config" || die "busybox: NSLOOKUP_BIG is still on"
  cp "$src/busybox" "$SMALL_NSLOOKUP_BUSYBOX"
  rm -rf "$src"
  stamp "$dir/$k.stamp" "$k"
}
