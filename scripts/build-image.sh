#!/usr/bin/env bash
# `make image`: build the Dockerfile with buildah (daemonless) into a store of this clone.
#
# The base is the registry's python:3.11-slim-bookworm when it can be pulled. Where it cannot (these
# machines reach only PyPI and Debian), a Debian 12 base made with mmdebstrap (scripts/image-base.sh)
# is passed as BASE, with python3-dev for the builder stage. A release build runs the same Dockerfile
# with no build arguments, on the real base.
#
# The image is built again whenever anything that goes into it changed (the Dockerfile, the build
# context, these scripts, the base); otherwise the one in the store is kept. MAILFERRY_IMAGE_REBUILD=1
# builds anyway. Other settings: MAILFERRY_IMAGE (name, default localhost/mailferry:local),
# MAILFERRY_IMAGE_STORE (buildah's storage, default .image/ in the clone), MAILFERRY_IMAGE_CACHE (the
# base tarball, default ~/.cache/mailferry-image), MAILFERRY_IMAGE_BASE (a pullable image to use as
# the base, or "debian" for the mmdebstrap one without trying the registry).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/image-env.sh
source scripts/image-env.sh
cache=${MAILFERRY_IMAGE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/mailferry-image}
registry_base=python:3.11-slim-bookworm
debian_base=localhost/mailferry-base:bookworm
started=$(date +%s)
work=$(mktemp -d)
# A build that fails leaves its working containers (a full copy of the file system each, with vfs).
drop_working_containers() {
  "${BUILDAH[@]}" containers --format '{{.ContainerName}}' 2>/dev/null | grep -- '-working-container' \
    | xargs -r "${BUILDAH[@]}" rm >/dev/null 2>&1 || true
}
trap 'rm -rf "$work"; drop_working_containers' EXIT

# --- the base ---------------------------------------------------------------------------------
build_args=()
choice=${MAILFERRY_IMAGE_BASE:-}
if [ -z "$choice" ]; then
  if timeout 600 "${BUILDAH[@]}" pull --quiet "docker.io/library/$registry_base" >/dev/null 2>"$work/pull.log"; then
    choice=$registry_base
  else
    echo "image: $registry_base cannot be pulled here ($(tail -n1 "$work/pull.log")); using a Debian 12 base"
    choice=debian
  fi
fi
base_id=$choice
if [ "$choice" = debian ]; then
  tarball="$cache/base-bookworm.tar"
  bash scripts/image-base.sh "$tarball"
  key="$(cat "$tarball.key")-$(stat -c %Y "$tarball")"
  if [ "$("${BUILDAH[@]}" inspect --type image --format '{{index .ImageAnnotations "mailferry.base.key"}}' \
          "$debian_base" 2>/dev/null)" != "$key" ]; then
    echo "image: importing the base into $STORE"
    mkdir "$work/base"
    ln "$tarball" "$work/base/rootfs.tar" 2>/dev/null || cp "$tarball" "$work/base/rootfs.tar"
    # PATH and LANG as the python image sets them.
    printf '%s\n' 'FROM scratch' 'ADD rootfs.tar /' \
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' 'CMD ["python3"]' \
      >"$work/base/Containerfile"
    "${BUILDAH[@]}" build --quiet --isolation chroot --annotation "mailferry.base.key=$key" \
      -f "$work/base/Containerfile" -t "$debian_base" "$work/base" >/dev/null
  fi
  base_id=$key
  build_args+=(--build-arg "BASE=$debian_base" --build-arg "BUILDER_PACKAGES=python3-dev")
elif [ "$choice" != "$registry_base" ]; then
  build_args+=(--build-arg "BASE=$choice")
fi

# --- up to date? ------------------------------------------------------------------------------
# What goes into the image: the files the build context admits (.dockerignore's allow-list, as git
# sees the work tree: tracked and new files, not ignored ones), the build's own files and the base.
context=(pyproject.toml README.md constraints.txt mailferry services shared deploy/docker)
if listing=$(git ls-files --cached --others --exclude-standard -- "${context[@]}" 2>/dev/null); then
  inputs=$({
    echo "$base_id ${build_args[*]}"
    sha256sum Dockerfile .dockerignore scripts/build-image.sh scripts/image-base.sh scripts/image-env.sh
    # (a file deleted but still in git's index hashes as sha256sum's complaint about it)
    printf '%s\n' "$listing" | sort -u | tr '\n' '\0' | xargs -0 sha256sum 2>&1 || true
  } | sha256sum | cut -c1-64)
else
  inputs="unknown-$(date +%s%N)"  # not a git work tree: no list of the context, so a build every time
fi
if [ "${MAILFERRY_IMAGE_REBUILD:-}" != 1 ] && [ "$(cat "$STORE/inputs" 2>/dev/null)" = "$inputs" ] \
   && "${BUILDAH[@]}" inspect --type image "$IMAGE" >/dev/null 2>&1; then
  echo "image: $IMAGE is up to date"
  exit 0
fi

# --- the build --------------------------------------------------------------------------------
# pip in the build reaches the index this machine's pip uses, trusting the same certificates (a
# proxy may re-sign TLS here): both go in as build secrets, mounted for the pip step only.
host_pip() { .venv/bin/python -m pip config get "$1" 2>/dev/null || true; }
cert=${PIP_CERT:-$(host_pip global.cert)}
cp "${cert:-/etc/ssl/certs/ca-certificates.crt}" "$work/pip-ca"
index=${PIP_INDEX_URL:-$(host_pip global.index-url)}
{
  echo '[global]'
  echo 'cert = /run/secrets/pip-ca'
  case $index in http://* | https://*) echo "index-url = $index" ;; esac
} >"$work/pip.conf"

echo "image: building $IMAGE (log: $STORE/build.log)"
rm -f "$STORE/inputs"
# --format docker keeps the HEALTHCHECK, which the OCI image format has no field for.
"${BUILDAH[@]}" build --isolation chroot --network host --layers=false --format docker \
  "${build_args[@]}" --secret "id=pip.conf,src=$work/pip.conf" --secret "id=pip-ca,src=$work/pip-ca" \
  -t "$IMAGE" . >"$STORE/build.log" 2>&1 || { tail -n 40 "$STORE/build.log" >&2; exit 1; }
# Only tagged images are kept: the store would otherwise grow by a copy per build.
"${BUILDAH[@]}" rmi --prune >/dev/null 2>&1 || true
echo "$inputs" >"$STORE/inputs"
echo "image: $IMAGE built in $(($(date +%s) - started)) s," \
  "$("${BUILDAH[@]}" images --format '{{.Size}}' "$IMAGE") (base: $choice)"
