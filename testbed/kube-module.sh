#!/usr/bin/env bash
# Writes, into directory $2, a Go module that builds Kubernetes $1 from the module proxy.
# k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with ./staging/...
# (kubernetes/kubernetes#79384): replace each with the published v0.X.Y that matches $1. The staging
# list is read from the kubernetes module's own go.mod in the module cache, so it follows the version.
set -euo pipefail
[ $# -eq 2 ] || { echo "kube-module.sh: usage: testbed/kube-module.sh v1.MINOR.PATCH DIR" >&2; exit 2; }
version=$1 dir=$2
staging_version="v0.${version#v1.}"
mkdir -p "$dir"
gomod=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
{
  echo "module netconform.local/testbed/kube"
  echo
  grep -E "^(go|godebug) " "$gomod"
  echo
  echo "require k8s.io/kubernetes $version"
  echo
  awk -v v="$staging_version" '$2 == "=>" && $3 ~ /^\.\/staging\/src\// { print "replace " $1 " => " $1 " " v }' "$gomod"
} > "$dir/go.mod"
