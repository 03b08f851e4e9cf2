#!/usr/bin/env bash
# install-deps.sh -- install the Debian packages gavel needs, only when missing.
# Uses sudo when not root.  Safe to run repeatedly.
set -eu
PKGS="build-essential cmake pkg-config luajit2 libluajit2-5.1-dev libcjson-dev
libcurl4-openssl-dev libevent-dev lua-busted lua-cjson nginx libnginx-mod-http-lua
libpcre2-dev libssl-dev libyaml-dev curl luarocks clang libclang-rt-14-dev wrk graphviz"
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
# Debian's nginx package starts and enables its system service on install.
# gavel's tests start their own nginx on loopback and need port 80 free of
# nothing, but a service this install started should not stay behind.  Stop
# only that one: when nginx is installed now, and no nginx ran before.  A
# user's nginx (a service or not) is never touched.
nginx_new=0
case " $(echo $missing) " in *" nginx "*) nginx_new=1 ;; esac
nginx_ran=0
pgrep -x nginx >/dev/null 2>&1 && nginx_ran=1
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
if [ "$nginx_new" = 1 ] && [ "$nginx_ran" = 0 ]; then
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/nginx ]; then
    # no systemd (containers): the package started it through its init script
    $SUDO /etc/init.d/nginx stop >/dev/null 2>&1 || true
    command -v update-rc.d >/dev/null 2>&1 &&
      $SUDO update-rc.d nginx disable >/dev/null 2>&1 || true
  fi
fi
exit 0
