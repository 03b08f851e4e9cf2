#!/usr/bin/env bash
# install-deps.sh -- install the Debian packages gavel needs, only when missing.
# Uses sudo when not root.  Safe to run repeatedly.
set -eu
PKGS="build-essential cmake pkg-config luajit2 libluajit2-5.1-dev libcjson-dev
libcurl4-openssl-dev libevent-dev lua-busted lua-cjson nginx libnginx-mod-http-lua
libpcre2-dev libssl-dev libyaml-dev curl"
missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# nginx must not be left running as a system service by the package install.
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true; fi
pkill -x nginx >/dev/null 2>&1 || true
exit 0
