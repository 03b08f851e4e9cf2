#!/usr/bin/env bash
# bench/serve/run.sh [SECONDS] [ROUNDS] -- wrk on loopback against
#   (a) serve_baseline: evhttp workers answering a constant JSON,
#   (b) 'gavel serve': POST /api/v1/execute/score (the 4-branch rule),
#   (c) 'gavel serve': POST /api/v1/execute/loan (the 20-rule loan rule),
# with the same number of workers (1, then 2), in one run; rounds
# interleave a, b, a', c ((a') = (a) posting the loan body).  Prints the
# median requests/s and p99 per endpoint and the ratios b/a and c/a'
# (goal >= 0.80), and the server CPU time per request (user + system of
# the worker processes, from /proc; steadier than req/s on a busy
# machine) with its ratio a/b (also goal >= 0.80).  The rules come from ../shared/bench-cases; without it
# the run is skipped with one line.
# Environment: GAVEL_BUILD_DIR (build), WRK_CONNECTIONS (32),
# WRK_THREADS (1), SERVE_WORKERS ("1 2"), ports 19290-19291.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
secs=${1:-3}
rounds=${2:-3}
build=${GAVEL_BUILD_DIR:-build}
case $build in /*) ;; *) build=$repo/$build ;; esac
cases=$repo/../shared/bench-cases
if [ ! -f "$cases/score.json" ] || [ ! -f "$cases/loan.json" ]; then
  echo "bench/serve: skipped: $cases (score.json, loan.json) not present"
  exit 0
fi
command -v wrk >/dev/null || { echo "bench/serve: wrk not found (bash scripts/install-deps.sh)" >&2; exit 1; }
[ -x "$build/gavel" ] && [ -x "$build/serve_baseline" ] ||
  { echo "bench/serve: build first (targets gavel_cli, serve_baseline)" >&2; exit 1; }
conns=${WRK_CONNECTIONS:-32}
threads=${WRK_THREADS:-1}
base_port=19290
serve_port=19291
score_body="{\"input\": $(tr -d '\n' < "$cases/score_input.json")}"
loan_body="{\"input\": $(tr -d '\n' < "$cases/loan_input.json")}"
tmp=$(mktemp -d /tmp/gavel-bench-serve.XXXXXX)
bpid=; spid=
cleanup() {
  [ -n "$bpid" ] && kill "$bpid" 2>/dev/null && wait "$bpid" 2>/dev/null || true
  [ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
mkdir "$tmp/rules"
cp "$cases/score.json" "$tmp/rules/score.json"
cp "$cases/loan.json" "$tmp/rules/loan.json"

ticks() {  # PID -> CPU ticks of its worker processes
  local t=0 c
  for c in $(pgrep -P "$1"); do
    t=$(( t + $(awk '{ print $14 + $15 }' "/proc/$c/stat" 2>/dev/null || echo 0) ))
  done
  echo "$t"
}
hz=$(getconf CLK_TCK)

wrk_once() {  # URL BODY SERVER_PID -> "rps p99_ms cpu_us_per_request"
  local out rps p99 t0 t1 n
  t0=$(ticks "$3")
  out=$(BODY="$2" wrk -t"$threads" -c"$conns" -d"${secs}s" --latency \
        -s "$repo/bench/nginx/post.lua" "$1" 2>&1)
  if echo "$out" | grep -q 'Non-2xx\|Socket errors'; then
    echo "bench/serve: errors from $1:" >&2
    echo "$out" >&2
    exit 1
  fi
  t1=$(ticks "$3")
  n=$(echo "$out" | awk '/requests in/ { print $1 }')
  rps=$(echo "$out" | awk '/^Requests\/sec/ { print $2 }')
  p99=$(echo "$out" | awk '$1 == "99%" { v = $2;
    if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v) }
    else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }
    print v }')
  echo "$rps $p99 $(awk -v t=$(( t1 - t0 )) -v n="$n" -v hz="$hz" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')"
}
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
wait_ok() {  # URL BODY
  for _ in $(seq 1 200); do
    curl -sf -o /dev/null -X POST -d "$2" "$1" && return 0
    sleep 0.05
  done
  echo "bench/serve: $1 did not come up" >&2; exit 1
}

printf '%-8s %-24s %10s %8s %8s %12s %8s\n' workers endpoint "req/s" "p99 ms" ratio "cpu us/req" ratio
for workers in ${SERVE_WORKERS:-1 2}; do
  "$build/serve_baseline" "$base_port" "$workers" & bpid=$!
  "$build/gavel" serve --listen "127.0.0.1:$serve_port" --rules "$tmp/rules" \
    --workers "$workers" 2>"$tmp/serve.log" & spid=$!
  b=http://127.0.0.1:$base_port/const
  s=http://127.0.0.1:$serve_port/api/v1/execute
  wait_ok "$b" "$score_body"
  wait_ok "$s/score" "$score_body"
  curl -sf -X POST -d "$loan_body" "$s/loan" | grep -q '"code"' ||
    { echo "bench/serve: loan did not run" >&2; exit 1; }
  wrk_once "$b" "$score_body" "$bpid" >/dev/null   # warm-up
  wrk_once "$s/score" "$score_body" "$spid" >/dev/null
  : > "$tmp/a"; : > "$tmp/al"; : > "$tmp/b"; : > "$tmp/c"
  for _ in $(seq 1 "$rounds"); do
    wrk_once "$b" "$score_body" "$bpid" >> "$tmp/a"
    wrk_once "$s/score" "$score_body" "$spid" >> "$tmp/b"
    wrk_once "$b" "$loan_body" "$bpid" >> "$tmp/al"
    wrk_once "$s/loan" "$loan_body" "$spid" >> "$tmp/c"
  done
  a=$(cut -d' ' -f1 "$tmp/a" | median); ap=$(cut -d' ' -f2 "$tmp/a" | median)
  al=$(cut -d' ' -f1 "$tmp/al" | median); alp=$(cut -d' ' -f2 "$tmp/al" | median)
  bb=$(cut -d' ' -f1 "$tmp/b" | median); bp=$(cut -d' ' -f2 "$tmp/b" | median)
  c=$(cut -d' ' -f1 "$tmp/c" | median); cp=$(cut -d' ' -f2 "$tmp/c" | median)
  ac=$(cut -d' ' -f3 "$tmp/a" | median); alc=$(cut -d' ' -f3 "$tmp/al" | median)
  bc=$(cut -d' ' -f3 "$tmp/b" | median); cc=$(cut -d' ' -f3 "$tmp/c" | median)
  row() { printf '%-8s %-24s %10.0f %8.2f %8s %12s %8s\n' "$@"; }
  ratio() { awk -v x="$1" -v y="$2" 'BEGIN { printf "%.2f", x / y }'; }
  row "$workers" "(a) baseline, score body" "$a" "$ap" "1.00" "$ac" "1.00"
  row "$workers" "(b) score / (a)" "$bb" "$bp" "$(ratio "$bb" "$a")" "$bc" "$(ratio "$ac" "$bc")"
  row "$workers" "(a') baseline, loan body" "$al" "$alp" "1.00" "$alc" "1.00"
  row "$workers" "(c) loan / (a')" "$c" "$cp" "$(ratio "$c" "$al")" "$cc" "$(ratio "$alc" "$cc")"
  kill "$bpid" "$spid"; wait "$bpid" "$spid" 2>/dev/null || true
  bpid=; spid=
done
