#!/usr/bin/env bash
# Build the connector images from docker/*.Dockerfile with buildah: no Docker daemon, no registry.
#
#   docker/build-images.sh [--print] [TYPE...]      (default: every docker/*.Dockerfile)
#
# Each image is tagged localhost/fluvio-connector-TYPE:VERSION (VERSION: the project's, from
# pyproject.toml) in podman's storage and saved as a docker-archive (it keeps the HEALTHCHECK) in
# $CACHE/images/, keyed on everything it is built from: the Dockerfile and its .dockerignore,
# connectors/requirements.txt, the fluvio_connectors package, the stand-in bases and the
# wheelhouse. A second run with nothing changed only checks that podman still has the images.
#
# What differs from `docker build` (docker/README.md says more):
# - the bases are stand-ins made from Debian packages (docker/standin-base.sh);
# - the build runs with no network (--network none): a build container here cannot reach PyPI (the
#   host's HTTPS egress is re-signed by a CA that only the host trusts). pip in the build stage
#   reads the pinned wheels from a wheelhouse that `pip download` filled on the host, bind-mounted
#   with a pip.conf that points there; neither ends up in the image.
#
# --print   after building, print one line per image: TYPE IMAGE IMAGE_ID ARCHIVE
# Env: FLUVIO_IMAGES_CACHE   cache root (default ~/.cache/airflow-provider-fluvio/images)
#      FLUVIO_DEBIAN_MIRROR, FLUVIO_DEBIAN_SECURITY   Debian mirrors for the stand-ins
# Needs root, buildah, podman, mmdebstrap (Debian packages) and python3 with pip.
set -euo pipefail

DOCKER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$DOCKER_DIR/.." && pwd)"
CACHE="${FLUVIO_IMAGES_CACHE:-$HOME/.cache/airflow-provider-fluvio/images}"
IMAGES_REV=1
# podman/buildah here: runc (crun refuses this host's hybrid cgroup layout) and limits within the
# current hard limits (raising one needs CAP_SYS_RESOURCE, which this sandbox lacks).
ULIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

_img_log() { printf '[images %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
_img_die() { _img_log "ERROR: $*"; exit 1; }

# shellcheck source=standin-base.sh
. "$DOCKER_DIR/standin-base.sh"

PRINT=0
if [ "${1:-}" = "--print" ]; then PRINT=1; shift; fi
TYPES=("$@")
if [ ${#TYPES[@]} -eq 0 ]; then
  for f in "$DOCKER_DIR"/*.Dockerfile; do TYPES+=("$(basename "$f" .Dockerfile)"); done
fi
for t in "${TYPES[@]}"; do
  [ -f "$DOCKER_DIR/$t.Dockerfile" ] || _img_die "no docker/$t.Dockerfile (types: $(cd "$DOCKER_DIR" && ls ./*.Dockerfile | sed 's|^\./||; s|\.Dockerfile$||' | tr '\n' ' '))"
done

[ "$(id -u)" = 0 ] || _img_die "run as root (mmdebstrap and buildah use root's container storage)"
for tool in buildah podman mmdebstrap python3 sha256sum flock; do
  command -v "$tool" >/dev/null 2>&1 ||
    _img_die "$tool not found; install the Debian packages: apt-get install podman buildah runc mmdebstrap"
done
VERSION="$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' "$REPO/pyproject.toml")"

mkdir -p "$CACHE/images" "$CACHE/wheels"
exec 9>"$CACHE/.build.lock"
flock -w 3600 9 || _img_die "timed out waiting for another build-images.sh (lock $CACHE/.build.lock)"
T0=$SECONDS

# --- the wheelhouse: connectors/requirements.txt for CPython 3.11 on glibc x86_64 -----------------
# Wheels where PyPI has one, else the sdist plus the wheels of its build requirements, so that the
# build stage builds it exactly as it would online (msgpack 1.0.4 has no 3.11 wheel: without a C
# compiler, in python:3.11-slim as in the stand-in, its build falls back to pure Python).
# --no-deps: requirements.txt pins every transitive dependency, so the wheelhouse holds exactly the
# pins and the offline resolver in the build fails if one is missing instead of fetching it.
# (glibc 2.36 is bookworm's; pip does not widen a --platform to the older manylinux tags by itself)
WHEEL_TAGS=(--python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none)
for glibc in $(seq 36 -1 17); do WHEEL_TAGS+=(--platform "manylinux_2_${glibc}_x86_64"); done
WHEEL_TAGS+=(--platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64)
wheel_key="$( { cat "$REPO/connectors/requirements.txt"; echo "${WHEEL_TAGS[*]} $IMAGES_REV"; } | sha256sum | cut -c1-12)"
WHEELS="$CACHE/wheels/$wheel_key"
pip_download() { PIP_FIND_LINKS="" python3 -m pip download --quiet --disable-pip-version-check "${WHEEL_TAGS[@]}" --dest "$WHEELS.tmp" "$@" >&2; }
if [ ! -f "$WHEELS/.complete" ]; then
  _img_log "downloading the pinned requirements into $WHEELS ..."
  rm -rf "$WHEELS.tmp"; mkdir -p "$WHEELS.tmp"
  pip_download --no-deps --requirement "$REPO/connectors/requirements.txt" ||
    { rm -rf "$WHEELS.tmp"; _img_die "pip download failed"; }
  for sdist in "$WHEELS.tmp"/*.tar.gz; do
    [ -e "$sdist" ] || continue
    mapfile -t build_reqs < <(python3 - "$sdist" <<'PY'
import sys, tarfile, tomllib
with tarfile.open(sys.argv[1]) as tar:
    member = next(m for m in tar.getmembers() if m.name.count("/") == 1 and m.name.endswith("/pyproject.toml"))
    data = tomllib.load(tar.extractfile(member))
print("\n".join(data.get("build-system", {}).get("requires", ["setuptools>=40.8.0", "wheel"])))
PY
)
    pip_download --only-binary=:all: "${build_reqs[@]}" ||
      { rm -rf "$WHEELS.tmp"; _img_die "pip download of the build requirements of $(basename "$sdist") failed"; }
  done
  printf '[global]\nno-index = true\nfind-links = /wheels\n' > "$WHEELS.tmp/pip.conf"
  touch "$WHEELS.tmp/.complete"
  rm -rf "$WHEELS"; mv "$WHEELS.tmp" "$WHEELS"
fi

BUILD_BASE="$(standin_image build)"
RUNTIME_BASE="$(standin_image runtime)"

# --- the images ---------------------------------------------------------------------------------
source_key() { # type: hash of every input of the image
  local t="$1"
  {
    echo "$t $VERSION $IMAGES_REV $BUILD_BASE $RUNTIME_BASE $wheel_key"
    cat "$DOCKER_DIR/$t.Dockerfile" "$DOCKER_DIR/$t.Dockerfile.dockerignore" "$REPO/connectors/requirements.txt"
    (cd "$REPO/connectors" && find fluvio_connectors -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 |
       LC_ALL=C sort -z | xargs -0 sha256sum)
  } | sha256sum | cut -c1-12
}

ensure_image() { # type -> prints "TYPE IMAGE ID ARCHIVE"
  local t="$1" key image archive id old
  key="$(source_key "$t")"
  image="localhost/fluvio-connector-$t:$VERSION"
  archive="$CACHE/images/fluvio-connector-$t-$VERSION-$key.docker.tar"
  old="$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
  if [ -f "$archive" ] && [ -f "$archive.id" ]; then
    id="$(cat "$archive.id")"
    podman image exists "$id" || podman load --quiet --input "$archive" >/dev/null ||
      _img_die "podman load of $archive failed"
    [ "$old" = "$id" ] || podman tag "$id" "$image"
  else
    _img_log "building $image ..."
    local t1=$SECONDS tmp="$CACHE/images/.build-$t-$$"
    buildah bud --quiet --isolation oci --runtime runc --network none "${ULIMITS[@]}" \
      --format docker --layers=false --pull=never \
      --file "$DOCKER_DIR/$t.Dockerfile" --ignorefile "$DOCKER_DIR/$t.Dockerfile.dockerignore" \
      --build-arg "BASE_IMAGE=$RUNTIME_BASE" --build-arg "BUILD_IMAGE=$BUILD_BASE" \
      --volume "$WHEELS:/wheels:ro" --volume "$WHEELS/pip.conf:/etc/pip.conf:ro" \
      --iidfile "$tmp.id" --tag "$image" "$REPO" >&2 ||
      { rm -f "$tmp.id"; _img_die "buildah bud of docker/$t.Dockerfile failed"; }
    id="$(sed 's/^sha256://' "$tmp.id")"; rm -f "$tmp.id"
    podman save --quiet --format docker-archive --output "$tmp.tar" "$image" ||
      { rm -f "$tmp.tar"; _img_die "podman save of $image failed"; }
    mv "$tmp.tar" "$archive"; echo "$id" > "$archive.id"
    _img_log "built $image ($id) in $(( SECONDS - t1 ))s"
  fi
  # the image this tag named before goes, unless a container or another tag still uses it
  if [ -n "$old" ] && [ "$old" != "$id" ]; then podman rmi "$old" >/dev/null 2>&1 || true; fi
  echo "$t $image $id $archive"
}

lines=()
for t in "${TYPES[@]}"; do lines+=("$(ensure_image "$t")"); done
_img_log "images ready in $(( SECONDS - T0 ))s"
if [ "$PRINT" = 1 ]; then printf '%s\n' "${lines[@]}"; fi
