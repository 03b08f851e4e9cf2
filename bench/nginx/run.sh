#!/usr/bin/env bash
# bench/nginx/run.sh [SECONDS] [ROUNDS] -- wrk on loopback against
#   (a) content_by_lua reading the body and answering a constant JSON,
#   (b) the 4-branch score ruleset, (c) the 20-rule loan ruleset, both
#       through POST /api/v1/execute/<name> from a JSON body,
# with 1 and then 2 nginx workers, in one run; rounds interleave a, b, c.
# Prints the median requests/s and p99 latency per endpoint, and the
# ratios b/a and c/a (goal: >= 0.90 and >= 0.85); (a') is (a) posting the
# loan body, the same bytes as (c).  Also the nginx workers' CPU time per
# request (user+sys from /proc, all workers; "cpu us") and its ratio
# (a)/(x): on a shared machine requests/s follows the other load, CPU per
# request much less.  Values are medians over the rounds; the ratios are
# the medians of each round's ratio (the two runs of a round are seconds
# apart, so a change in the machine's other load hits both).
# Environment: GAVEL_BUILD_DIR (build), WRK_CONNECTIONS (32), WRK_THREADS (1),
# BENCH_PORT_BASE / BENCH_PORT_SPAN (loopback ports tried: 20000 + 0..39999).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
secs=${1:-3}
rounds=${2:-3}
build=${GAVEL_BUILD_DIR:-build}
case $build in /*) ;; *) build=$repo/$build ;; esac
command -v wrk >/dev/null || { echo "bench/nginx: wrk not found (bash scripts/install-deps.sh)" >&2; exit 1; }
[ -f "$build/lib/gavel/capi.so" ] || { echo "bench/nginx: build first" >&2; exit 1; }
conns=${WRK_CONNECTIONS:-32}
threads=${WRK_THREADS:-1}
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$(( ${BENCH_PORT_BASE:-20000} + RANDOM % ${BENCH_PORT_SPAN:-40000} ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  return 1
}
score_body='{"input": {"score": 75}}'
loan_body="{\"input\": $(tr -d '\n' < "$repo/examples/loan.input.json")}"
tmp=$(mktemp -d /tmp/gavel-bench-nginx.XXXXXX)
chmod 755 "$tmp"
pid=
cleanup() {
  [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

tick=$(getconf CLK_TCK)
workers_cpu() {  # CPU ticks (user+sys) of the master's children
  local t=0 w
  for w in $(pgrep -P "$pid"); do
    t=$(( t + $(awk '{ print $14 + $15 }' "/proc/$w/stat" 2>/dev/null || echo 0) ))
  done
  echo "$t"
}

# wrk_once URL BODY -> "rps p99_ms cpu_us_per_request"
wrk_once() {
  local out c0 c1
  c0=$(workers_cpu)
  out=$(BODY="$2" wrk -t"$threads" -c"$conns" -d"${secs}s" --latency \
        -s "$here/post.lua" "$1" 2>&1)
  c1=$(workers_cpu)
  if echo "$out" | grep -q 'Non-2xx'; then
    echo "bench/nginx: non-2xx answers from $1" >&2
    echo "$out" >&2
    exit 1
  fi
  local rps p99
  rps=$(echo "$out" | awk '/^Requests\/sec/ { print $2 }')
  p99=$(echo "$out" | awk '$1 == "99%" { v = $2;
    if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v) }
    else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }
    print v }')
  local n
  n=$(echo "$out" | awk '/requests in/ { print $1 }')
  echo "$rps $p99 $(awk -v a="$c0" -v b="$c1" -v n="$n" -v t="$tick" \
    'BEGIN { printf "%.2f", (n > 0 ? (b - a) / t * 1e6 / n : 0) }')"
}

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
# pratio FILE_X FILE_Y COLUMN -> the median over the rounds of x/y
pratio() {
  paste -d' ' <(cut -d' ' -f"$3" "$1") <(cut -d' ' -f"$3" "$2") |
    awk '$2 > 0 { printf "%.4f\n", $1 / $2 }' | median |
    awk '{ printf "%.2f", $1 }'
}

printf '%-8s %-22s %10s %8s %8s %8s %9s\n' workers endpoint "req/s" \
  "p99 ms" ratio "cpu us" "cpu ratio"
for workers in 1 2; do
  port=$(free_port)
  p="$tmp/w$workers"
  mkdir -p "$p/conf" "$p/logs" "$p/tmp"
  sed -e "s|@PORT@|$port|g" -e "s|@REPO@|$repo|g" -e "s|@BUILD@|$build|g" \
      -e "s|@WORKERS@|$workers|g" \
      -e "s|@MODULES@|${GAVEL_NGINX_MODULES:-/usr/lib/nginx/modules}|g" \
      "$here/nginx.conf" > "$p/conf/nginx.conf"
  nginx -p "$p/" -c conf/nginx.conf -e logs/error.log &
  pid=$!
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null -X POST -d "$score_body" \
      "http://127.0.0.1:$port/api/v1/execute/score" && break
    sleep 0.05
  done
  u=http://127.0.0.1:$port
  # warm-up (JIT traces, connection pools)
  wrk_once "$u/const" "$score_body" >/dev/null
  wrk_once "$u/api/v1/execute/score" "$score_body" >/dev/null
  wrk_once "$u/api/v1/execute/loan" "$loan_body" >/dev/null
  : > "$p/a"; : > "$p/al"; : > "$p/b"; : > "$p/c"
  for _ in $(seq 1 "$rounds"); do
    wrk_once "$u/const" "$score_body" >> "$p/a"
    wrk_once "$u/api/v1/execute/score" "$score_body" >> "$p/b"
    wrk_once "$u/const" "$loan_body" >> "$p/al"
    wrk_once "$u/api/v1/execute/loan" "$loan_body" >> "$p/c"
  done
  a=$(cut -d' ' -f1 "$p/a" | median); ap=$(cut -d' ' -f2 "$p/a" | median)
  al=$(cut -d' ' -f1 "$p/al" | median); alp=$(cut -d' ' -f2 "$p/al" | median)
  b=$(cut -d' ' -f1 "$p/b" | median); bp=$(cut -d' ' -f2 "$p/b" | median)
  c=$(cut -d' ' -f1 "$p/c" | median); cp=$(cut -d' ' -f2 "$p/c" | median)
  ac=$(cut -d' ' -f3 "$p/a" | median); alc=$(cut -d' ' -f3 "$p/al" | median)
  bc=$(cut -d' ' -f3 "$p/b" | median); cc=$(cut -d' ' -f3 "$p/c" | median)
  row() {  # workers label rps p99 ratio cpu cpu-ratio
    printf '%-8s %-22s %10.0f %8.2f %8s %8s %9s\n' "$1" "$2" "$3" "$4" \
      "$5" "$6" "$7"
  }
  row "$workers" "(a) const, score body" "$a" "$ap" "1.00" "$ac" "1.00"
  row "$workers" "(b) score / (a)" "$b" "$bp" "$(pratio "$p/b" "$p/a" 1)" \
    "$bc" "$(pratio "$p/a" "$p/b" 3)"
  row "$workers" "(a') const, loan body" "$al" "$alp" \
    "$(pratio "$p/al" "$p/a" 1)" "$alc" "$(pratio "$p/a" "$p/al" 3)"
  row "$workers" "(c) loan / (a)" "$c" "$cp" "$(pratio "$p/c" "$p/a" 1)" \
    "$cc" "$(pratio "$p/a" "$p/c" 3)"
  row "$workers" "(c) loan / (a')" "$c" "$cp" "$(pratio "$p/c" "$p/al" 1)" \
    "$cc" "$(pratio "$p/al" "$p/c" 3)"
  grep -E '\[(error|crit|alert|emerg)\]' "$p/logs/error.log" >&2 || true
  kill -QUIT "$pid"; wait "$pid" 2>/dev/null || true
  pid=
done
