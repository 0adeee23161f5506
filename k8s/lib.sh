# shellcheck shell=bash
# Common settings for k8s/build.sh, k8s/up.sh, k8s/down.sh. Source it; do not execute.
K8S_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$K8S_DIR/versions.env"

K8S_CACHE="${FLUVIO_K8S_CACHE:-$HOME/.cache/airflow-provider-fluvio/k8s}"
K8S_STATE_DEFAULT="${FLUVIO_K8S_STATE:-$K8S_CACHE/run}"

_k8s_log() { printf '[k8s %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
_k8s_die() { _k8s_log "ERROR: $*"; exit 1; }

# Cache key of one wrapper module: version + hash of its go.mod/go.sum + build flags + Go version,
# so a version bump (or a regenerated go.sum, or a new Go toolchain) builds into a fresh directory.
_k8s_key() { # name version
  local name="$1" ver="$2" h
  h="$( { cat "$K8S_DIR/go/$name/go.mod" "$K8S_DIR/go/$name/go.sum"; go env GOVERSION 2>/dev/null || echo nogo; echo "$K8S_BUILD_FLAGS_REV"; } |
        sha256sum | cut -c1-10)"
  echo "$name-$ver-$h"
}
# bump when build.sh's flags change in a way that should force a rebuild
K8S_BUILD_FLAGS_REV=1

k8s_bin_dirs() {
  KUBE_BIN_DIR="$K8S_CACHE/bin/$(_k8s_key kube "$KUBE_VERSION")"
  ETCD_BIN_DIR="$K8S_CACHE/bin/$(_k8s_key etcd "$ETCD_VERSION")"
  KWOK_BIN_DIR="$K8S_CACHE/bin/$(_k8s_key kwok "$KWOK_VERSION")"
  KUBE_APISERVER_BIN="$KUBE_BIN_DIR/kube-apiserver"
  KUBE_CONTROLLER_MANAGER_BIN="$KUBE_BIN_DIR/kube-controller-manager"
  KUBE_SCHEDULER_BIN="$KUBE_BIN_DIR/kube-scheduler"
  KUBELET_BIN="$KUBE_BIN_DIR/kubelet"
  ETCD_BIN="$ETCD_BIN_DIR/etcd"
  KWOK_BIN="$KWOK_BIN_DIR/kwok"
}

# Start time (clock ticks since boot) of a process, from /proc/PID/stat field 22; empty if gone.
# The comm field may contain spaces or ')', so fields are counted after the last ')'.
k8s_proc_starttime() {
  local s
  s="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
  s="${s##*) }"
  # shellcheck disable=SC2086
  set -- $s
  echo "${20}"
}
