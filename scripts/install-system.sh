#!/usr/bin/env bash
# System packages mailferry's local stack, tests and benchmark need (Debian 12).
# Installs only what is missing, so a second run costs a second.
set -euo pipefail
pkgs=(dovecot-imapd dovecot-pop3d dovecot-managesieved dovecot-sieve redis-server isync openssl python3-venv
      pff-tools build-essential python3-dev chromium
      buildah mmdebstrap)  # the container image (make image): built daemonless, on a base made from Debian
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing system packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian's packages try to start their own services; there is no init here and we start our own.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
