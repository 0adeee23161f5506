#!/usr/bin/env bash
# Build the local Kubernetes test control plane from the Go module proxy, at pinned versions:
#   etcd (go.etcd.io/etcd/server/v3), kube-apiserver, kube-controller-manager, kube-scheduler
#   and kubelet (k8s.io/kubernetes via the wrapper module k8s/go/kube) and kwok (sigs.k8s.io/kwok).
# Binaries are cached outside the repo in $FLUVIO_K8S_CACHE/bin/<name>-<version>-<hash>/
# (default ~/.cache/airflow-provider-fluvio/k8s); a second run finds them and exits in seconds.
# GOMODCACHE/GOCACHE are the user's defaults, so module downloads and compiled packages are reused.
#
# Usage: k8s/build.sh [--print-env]
#   --print-env   after building, print shell assignments of the binary paths
# Env:   FLUVIO_K8S_CACHE (cache root), K8S_BUILD_P (go build -p, default 2)
set -euo pipefail
# shellcheck source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

command -v go >/dev/null 2>&1 || _k8s_die "Go toolchain not found in PATH (need go >= 1.26)"
go_minor="$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')"
[ "${go_minor:-0}" -ge 26 ] 2>/dev/null || _k8s_die "need go >= 1.26, found $(go env GOVERSION)"

export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false"
P="${K8S_BUILD_P:-2}"
k8s_bin_dirs
mkdir -p "$K8S_CACHE/bin"

# serialize concurrent builds into the same cache
exec 9>"$K8S_CACHE/bin/.build.lock"
flock -w 7200 9 || _k8s_die "timed out waiting for another build.sh holding $K8S_CACHE/bin/.build.lock"

build_into() { # dest_dir module_dir ldflags "out=pkg"...
  local dest="$1" moddir="$2" ldflags="$3"; shift 3
  if [ -f "$dest/.complete" ]; then
    _k8s_log "cached: $dest"
    return 0
  fi
  local tmp="$dest.tmp.$$" spec out pkg t0
  rm -rf "$tmp"; mkdir -p "$tmp"
  for spec in "$@"; do
    out="${spec%%=*}"; pkg="${spec#*=}"
    _k8s_log "building $out ($pkg) ..."
    t0=$(date +%s)
    (cd "$K8S_DIR/go/$moddir" && go build -p "$P" -trimpath -ldflags "-s -w $ldflags" -o "$tmp/$out" "$pkg") ||
      { rm -rf "$tmp"; _k8s_die "go build of $pkg failed"; }
    _k8s_log "built $out in $(( $(date +%s) - t0 ))s"
  done
  touch "$tmp/.complete"
  rm -rf "$dest"; mv "$tmp" "$dest"
}

kv="${KUBE_VERSION#v}"; kmajor="${kv%%.*}"; kminor="${kv#*.}"; kminor="${kminor%%.*}"
kube_ld=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ld+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$kmajor -X $pkg.gitMinor=$kminor"
  kube_ld+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit=module-proxy-$KUBE_VERSION"
done

t_all=$(date +%s)
build_into "$ETCD_BIN_DIR" etcd "-X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" \
  "etcd=go.etcd.io/etcd/server/v3"
build_into "$KWOK_BIN_DIR" kwok "" \
  "kwok=sigs.k8s.io/kwok/cmd/kwok"
build_into "$KUBE_BIN_DIR" kube "$kube_ld" \
  "kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver" \
  "kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager" \
  "kube-scheduler=k8s.io/kubernetes/cmd/kube-scheduler" \
  "kubelet=k8s.io/kubernetes/cmd/kubelet"
_k8s_log "all binaries ready in $(( $(date +%s) - t_all ))s"

if [ "${1:-}" = "--print-env" ]; then
  printf 'ETCD_BIN=%q\nKWOK_BIN=%q\nKUBE_APISERVER_BIN=%q\nKUBE_CONTROLLER_MANAGER_BIN=%q\nKUBE_SCHEDULER_BIN=%q\nKUBELET_BIN=%q\n' \
    "$ETCD_BIN" "$KWOK_BIN" "$KUBE_APISERVER_BIN" "$KUBE_CONTROLLER_MANAGER_BIN" "$KUBE_SCHEDULER_BIN" "$KUBELET_BIN"
fi
