#!/usr/bin/env bash
# demo.sh -- the main job on the bundled examples: evaluate expressions,
# run rulesets, batch-score a JSONL file.
set -eu
cd "$(dirname "$0")/.."
G=${1:-build}/gavel
echo '$ gavel eval "score * 0.6 + bonus * 0.4" --context {"score":80,"bonus":10}'
$G eval 'score * 0.6 + bonus * 0.4' --context '{"score":80,"bonus":10}'
for f in examples/*.json; do
  [ -f "$f" ] || continue
  in="${f%.json}.input.json"
  [ -f "$in" ] || continue
  echo "\$ gavel run $f --input @$in"
  $G run "$f" --input "@$in"
done
if [ -f examples/loan.jsonl ]; then
  echo "\$ gavel batch examples/loan.json --input examples/loan.jsonl"
  $G batch examples/loan.json --input examples/loan.jsonl
fi

# The nginx example (examples/nginx/): start it on a free loopback port,
# send a few requests, print the answers, stop it.
if command -v nginx >/dev/null 2>&1 && command -v curl >/dev/null 2>&1 \
   && [ -f "${GAVEL_NGINX_MODULES:-/usr/lib/nginx/modules}/ngx_http_lua_module.so" ]; then
  port=
  for _ in $(seq 1 50); do
    p=$(( 20000 + RANDOM % 40000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
  done
  [ -n "$port" ] || { echo "demo: no free port found" >&2; exit 1; }
  GAVEL_BUILD_DIR=${1:-build} GAVEL_WORKERS=2 examples/nginx/run.sh "$port" 2>/dev/null &
  run=$!
  trap 'kill -TERM $run 2>/dev/null; wait $run 2>/dev/null' EXIT
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.05
  done
  u=http://127.0.0.1:$port
  show() { echo "\$ curl $*"; curl -s -w ' [HTTP %{http_code}]\n' "$@"; }
  echo "--- examples/nginx on $u"
  show -X POST "$u/api/v1/execute/score" -d '{"input": {"score": 75}}'
  show -X POST "$u/api/v1/execute/loan" --data-binary "{\"input\": $(tr -d "\n" < examples/loan.input.json | tr -s " ")}"
  show "$u/api/v1/score?score=95"
  show "$u/api/v1/score?score=abc"
  show -X POST "$u/api/v1/execute/nope" -d '{"input": {}}'
  show -H 'X-Role: admin' "$u/app/hello"
  show -H 'X-Role: user' "$u/app/hello?age=12"
  show "$u/health"
  sleep 0.3   # the other worker's metrics flush
  echo "\$ curl $u/metrics | grep -E '^gavel_(runs|errors)_total'"
  curl -s "$u/metrics" | grep -E '^gavel_(runs|errors)_total'
  kill -TERM $run 2>/dev/null; wait $run 2>/dev/null || true
  trap - EXIT
  echo "--- stopped"
fi
