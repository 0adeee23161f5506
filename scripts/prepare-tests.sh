#!/usr/bin/env bash
# Build what the test suite needs before its clock starts (`make test` runs this, then pytest under
# `timeout -s KILL`): the local Kubernetes binaries for tests/system and the connector images. Both
# are cached, so only a machine's first run pays for them; a later run checks the caches in seconds.
# What this machine cannot build (no Go toolchain, not root, Debian packages missing) is said here
# and those tests skip with the reason. Usage: scripts/prepare-tests.sh
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/airflow-provider-fluvio"
K8S_DONE="${FLUVIO_K8S_CACHE:-$CACHE/k8s}/bin"
k8s_cached=0
if [ -d "$K8S_DONE" ] && [ -n "$(find "$K8S_DONE" -maxdepth 2 -name .complete -print -quit 2>/dev/null)" ]; then
    k8s_cached=1
fi

can_build_k8s=0
if command -v go >/dev/null 2>&1; then
    minor="$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')"
    [ "${minor:-0}" -ge 26 ] 2>/dev/null && can_build_k8s=1
fi
can_build_images=1
[ "$(id -u)" = 0 ] || can_build_images=0
for tool in buildah podman mmdebstrap; do command -v "$tool" >/dev/null 2>&1 || can_build_images=0; done

echo "make test: preparing what the tests need, before the suite's clock (${TEST_TIMEOUT:-1500} s) starts."
if [ "$can_build_k8s" = 1 ] && [ "$k8s_cached" = 0 ]; then
    echo "  first run on this machine: building the local Kubernetes (etcd, kube-apiserver, controller-manager,"
    echo "  scheduler, kubelet, kwok) from the Go module proxy: 8-15 minutes on 2 cores, cached in $CACHE/k8s."
fi
if [ "$can_build_images" = 1 ]; then
    echo "  the connector images (buildah, stand-in bases from Debian packages): about 2 minutes the first"
    echo "  time, cached in $CACHE/images; seconds afterwards."
fi
echo "  then the suite itself: about 17 minutes on an idle 2-core machine."

if [ "$can_build_k8s" = 1 ]; then
    scripts/progress.sh "local Kubernetes binaries (k8s/build.sh)" k8s/build.sh
else
    echo "  no Go >= 1.26 on PATH: tests/system (a real Kubernetes API) will skip; install Go to run them."
fi
if [ "$can_build_images" = 1 ]; then
    scripts/progress.sh "connector images (docker/build-images.sh)" docker/build-images.sh >/dev/null
else
    echo "  not root, or buildah/podman/mmdebstrap missing: the image and real-pod tests will skip"
    echo "  (as root: apt-get install podman buildah runc mmdebstrap; .ci/run installs them)."
fi
