#!/usr/bin/env bash
# A Debian 12 base for the Dockerfile where the registry's python:3.11-slim-bookworm cannot be pulled.
#
# Usage: scripts/image-base.sh TARBALL
# Writes a root file system tarball made with mmdebstrap from Debian's own packages: Python 3.11
# (Debian 12's python3), pip, `python` as a name for it, CA certificates, tzdata -- what the Dockerfile
# expects of its base. Like the python image, and unlike Debian's python3, pip may install into the
# system Python (no EXTERNALLY-MANAGED marker): the image is the environment. As in Debian's own slim
# images, documentation, manual pages and translations are left out (also from packages installed
# later) and apt keeps neither its package caches nor downloaded packages in a layer.
# The tarball is cached: it is made again when this script changes or after MAILFERRY_BASE_MAX_AGE_DAYS
# (default 7) days, so the base picks up Debian's security updates.
set -euo pipefail
out=${1:?usage: $0 TARBALL}
max_age_days=${MAILFERRY_BASE_MAX_AGE_DAYS:-7}
key=$(sha256sum "$0" | cut -c1-16)
stamp="$out.key"

if [ -s "$out" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$key" ] \
   && [ -n "$(find "$out" -mtime -"$max_age_days" -print)" ]; then
  echo "base: reusing $out"
  exit 0
fi

mirror=${MAILFERRY_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${MAILFERRY_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
echo "base: making a Debian 12 root file system with mmdebstrap (log: $out.log)"
mmdebstrap --variant=minbase \
  --include=python3,python3-pip,python-is-python3,ca-certificates,netbase,tzdata \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --aptopt='Dir::Cache::pkgcache ""' --aptopt='Dir::Cache::srcpkgcache ""' --aptopt='Acquire::Languages "none"' \
  --aptopt='DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb || true"; }' \
  --customize-hook='rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED' \
  --format=tar bookworm "$tmp" \
  "deb $mirror bookworm main" "deb $mirror bookworm-updates main" "deb $security bookworm-security main" \
  >"$out.log" 2>&1 || { tail -n 30 "$out.log" >&2; exit 1; }
mv "$tmp" "$out"
echo "$key" >"$stamp"
