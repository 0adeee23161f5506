#!/usr/bin/env bash
# Stand-ins for the images' Python base, made from Debian bookworm packages with mmdebstrap (no
# registry can serve python:3.11-slim-bookworm here). Debian bookworm's python3 is 3.11, the
# Python minor version of the default base. Two of them, each giving the Dockerfiles' stage what
# that stage needs and nothing else:
#
#   build    (BUILD_IMAGE) the essential Debian system + python3 + pip: the stage that runs
#            `pip install` and `python -m compileall` (/bin/sh, pip, python);
#   runtime  (BASE_IMAGE)  python3 (+ `python`), CA certificates, tzdata, netbase and a shell,
#            extracted without Debian's package tools (no dpkg, apt, pip, coreutils or perl): the
#            image itself, which runs nothing at build time.
#
# Each root filesystem is cached as a tar under $CACHE/standin/, keyed on its recipe (the
# mmdebstrap arguments below, the mirrors and mmdebstrap's version), and imported into podman's
# storage as localhost/fluvio-standin-NAME:KEY. Sourced by docker/build-images.sh.
# shellcheck shell=bash

STANDIN_REV=1
DEBIAN_MIRROR="${FLUVIO_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEBIAN_SECURITY="${FLUVIO_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}"

# What a container of each stand-in starts with (the official python images set the same two).
STANDIN_ENV=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
             --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]')

_standin_common=(
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
)

# build: Debian's pip installs as root into /usr/local (like the official image's pip); Debian
# marks its Python "externally managed" (PEP 668) to stop that, the official image does not.
_standin_build=(
  --variant=essential --include=python3,python3-pip,python-is-python3,ca-certificates,netbase
  --customize-hook='rm -f "$1"/usr/lib/python3.11/EXTERNALLY-MANAGED'
)

# runtime: extracted only (mmdebstrap then runs extract hooks, not customize hooks), so what the
# packages' maintainer scripts would have done is done here:
# the accounts of base-passwd, /bin/sh, UTC as local time, the CA bundle of ca-certificates (the
# certificates update-ca-certificates would enable by default: all of them), the linker cache and
# the standard library's byte code (py3compile's job).
_standin_runtime=(
  --variant=extract
  --include=python3,python-is-python3,ca-certificates,netbase,tzdata,base-passwd,dash,libc-bin
  --extract-hook='cp "$1"/usr/share/base-passwd/passwd.master "$1"/etc/passwd && cp "$1"/usr/share/base-passwd/group.master "$1"/etc/group && chmod 644 "$1"/etc/passwd "$1"/etc/group'
  --extract-hook='[ -e "$1"/usr/bin/sh ] || ln -s dash "$1"/usr/bin/sh'
  --extract-hook='ln -sf /usr/share/zoneinfo/Etc/UTC "$1"/etc/localtime && echo Etc/UTC > "$1"/etc/timezone'
  --extract-hook='cd "$1"/usr/share/ca-certificates && find . -name "*.crt" | sed "s|^\./||" | LC_ALL=C sort > "$1"/etc/ca-certificates.conf && mkdir -p "$1"/etc/ssl/certs && xargs cat < "$1"/etc/ca-certificates.conf > "$1"/etc/ssl/certs/ca-certificates.crt'
  --extract-hook='ldconfig -r "$1"'
  --extract-hook='chroot "$1" python3 -m compileall -q -j 1 /usr/lib/python3.11 /usr/lib/python3/dist-packages >/dev/null'
  --extract-hook='mkdir -p "$1"/usr/share/fluvio-standin && for d in "$1"/var/cache/apt/archives/*.deb; do basename "$d" .deb; done > "$1"/usr/share/fluvio-standin/packages.txt'
)

_standin_args() { # name -> prints the mmdebstrap arguments, one a line
  local -n extra="_standin_$1"
  printf '%s\n' "${_standin_common[@]}" "${extra[@]}"
}

standin_key() { # name
  { _standin_args "$1"; echo "$DEBIAN_MIRROR $DEBIAN_SECURITY"; mmdebstrap --version; echo "$STANDIN_REV"; } |
    sha256sum | cut -c1-12
}

# standin_image NAME: make sure localhost/fluvio-standin-NAME:KEY exists; prints that name.
standin_image() {
  local name="$1" key tar image args
  key="$(standin_key "$name")"
  image="localhost/fluvio-standin-$name:$key"
  tar="$CACHE/standin/$name-$key.tar"
  if [ ! -f "$tar" ]; then
    mkdir -p "$CACHE/standin"
    mapfile -t args < <(_standin_args "$name")
    _img_log "making the $name stand-in root filesystem with mmdebstrap (about a minute) ..."
    local t0=$SECONDS
    mmdebstrap --format=tar "${args[@]}" bookworm "$tar.tmp" \
      "deb $DEBIAN_MIRROR bookworm main" "deb $DEBIAN_MIRROR bookworm-updates main" \
      "deb $DEBIAN_SECURITY bookworm-security main" >"$tar.log" 2>&1 ||
      { tail -n 30 "$tar.log" >&2; rm -f "$tar.tmp"; _img_die "mmdebstrap failed for the $name stand-in (log: $tar.log)"; }
    mv "$tar.tmp" "$tar"
    _img_log "$name stand-in: $(du -m "$tar" | cut -f1) MB in $(( SECONDS - t0 ))s"
  fi
  if ! podman image exists "$image"; then
    podman import --quiet "${STANDIN_ENV[@]}" "$tar" "$image" >/dev/null ||
      _img_die "podman import of $tar failed"
  fi
  echo "$image"
}
