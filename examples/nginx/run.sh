#!/usr/bin/env bash
# run.sh PORT [RULES_DIR] -- start examples/nginx/nginx.conf in the
# foreground on 127.0.0.1:PORT, in a temporary prefix, serving every
# ruleset of RULES_DIR (default: examples/).  Ctrl-C or SIGTERM stops it
# cleanly (nginx -s quit: requests in flight finish, audit lines are
# flushed), then the prefix is removed (kept with GAVEL_KEEP_NGINX=1).
# Environment: GAVEL_BUILD_DIR (default build), GAVEL_WORKERS (default 2),
# GAVEL_NGINX (default nginx), GAVEL_NGINX_MODULES
# (default /usr/lib/nginx/modules).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
port=${1:?usage: run.sh PORT [RULES_DIR]}
rules=$(cd "${2:-$repo/examples}" && pwd)
build=${GAVEL_BUILD_DIR:-build}
case $build in /*) ;; *) build=$repo/$build ;; esac
[ -f "$build/lib/gavel/capi.so" ] || {
  echo "run.sh: $build/lib/gavel/capi.so not found: build first (make build)" >&2
  exit 1
}
# As root, nginx runs its workers as 'nobody', who may not read the rules
# or the checkout (under /root, say): keep the invoking user instead.
user_line=
[ "$(id -u)" -ne 0 ] || user_line="user root;"
prefix=$(mktemp -d /tmp/gavel-example.XXXXXX)
mkdir -p "$prefix/conf" "$prefix/logs" "$prefix/tmp"
sed -e "s|@PORT@|$port|g" -e "s|@RULES_DIR@|$rules|g" \
    -e "s|@REPO@|$repo|g" -e "s|@BUILD@|$build|g" -e "s|@PREFIX@|$prefix|g" \
    -e "s|@WORKERS@|${GAVEL_WORKERS:-2}|g" -e "s|@USER@|$user_line|g" \
    -e "s|@MODULES@|${GAVEL_NGINX_MODULES:-/usr/lib/nginx/modules}|g" \
    "$here/nginx.conf" > "$prefix/conf/nginx.conf"
nginx=${GAVEL_NGINX:-nginx}
pid=
stop() {
  if [ -n "$pid" ]; then
    # SIGQUIT = nginx -s quit: graceful
    kill -QUIT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  [ -n "${GAVEL_KEEP_NGINX:-}" ] || rm -rf "$prefix"
}
trap 'stop; exit 0' INT TERM
trap 'stop' EXIT
echo "gavel example: http://127.0.0.1:$port (prefix $prefix, rules $rules)" >&2
"$nginx" -p "$prefix/" -c conf/nginx.conf -e logs/error.log &
pid=$!
wait "$pid" || true
pid=
