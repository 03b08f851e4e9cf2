#!/bin/sh
# cli_test.sh -- the CLI host's providers end to end: gavel run / batch
# with --allow-http, --grant, --metrics and --audit against the loopback
# test server; the metrics file passes scripts/promcheck.lua and counts
# the runs made; the audit file has one valid line per run and per call.
#   sh cli_test.sh GAVEL GV_TESTSERVER LUA
set -u
GAVEL=$1 SERVER=$2 LUA=$3
T=$(mktemp -d /tmp/gv_cli_XXXXXX)
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
check() { if eval "$2"; then ok; else bad "$1"; fi; }

"$SERVER" >"$T/port" &
SPID=$!
trap 'kill $SPID 2>/dev/null; rm -rf "$T"' EXIT
i=0
while [ ! -s "$T/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
P=$(cat "$T/port")

cat >"$T/rs.json" <<EOF
{"config":{"name":"cli_http","version":"1.2"},"steps":{
 "start":{"id":"start","name":"S","type":"action","actions":[
  {"action":"external_call","service":"network.http","method":"get",
   "params":[["url",{"Literal":"http://127.0.0.1:$P/echo"}],
             ["query",{"Object":[["n",{"Field":"n"}]]}]],
   "result_variable":"r","timeout_ms":2000},
  {"action":"metric","name":"amount","value":{"Field":"n"},"tags":[["k","v"]]}],
  "next_step":"t"},
 "t":{"id":"t","name":"T","type":"terminal","result":{"code":"OK",
  "output":[["status","\$r.payload.status"],["q","\$r.payload.json_body.query"]]}}}}
EOF

# run: allowed, denied (no --allow-http), not granted
G2="--grant network.http --grant metrics.prometheus"
out=$("$GAVEL" run "$T/rs.json" --input '{"n":3}' $G2 --allow-http "127.0.0.1:$P")
check "run returns the HTTP result" \
  '[ "$out" = "{\"code\":\"OK\",\"message\":\"\",\"output\":{\"status\":200,\"q\":\"n=3\"}}" ]'
out=$("$GAVEL" run "$T/rs.json" --input '{"n":3}' $G2)
check "a host outside --allow-http is refused" \
  'echo "$out" | grep -q "is not in the allowlist"'
out=$("$GAVEL" run "$T/rs.json" --input '{"n":3}' --grant metrics.prometheus)
check "an ungranted capability fails at load naming the action" \
  'echo "$out" | grep -q "steps.start.actions\[0\].service: capability .network.http. is not granted"'
out=$("$GAVEL" run "$T/rs.json" --input '{"n":3}')
check "capabilities are denied by default (no --grant)" \
  'echo "$out" | grep -q "steps.start.actions\[0\].service: capability .network.http. is not granted"'

# batch: N runs, metrics and audit files
N=25
i=1
: >"$T/in.jsonl"
while [ $i -le $N ]; do echo "{\"n\":$i}" >>"$T/in.jsonl"; i=$((i + 1)); done
"$GAVEL" batch "$T/rs.json" --input "$T/in.jsonl" --output "$T/out.jsonl" \
  --jobs 3 --grant network.http --grant metrics.prometheus \
  --allow-http "127.0.0.1:$P" --metrics "$T/m.prom" --audit "$T/audit.log" \
  2>/dev/null
check "batch writes one result per input" \
  '[ "$(grep -c "\"status\":200" "$T/out.jsonl")" = "$N" ]'
check "the metrics file passes the strict parser" \
  '"$LUA" scripts/promcheck.lua "$T/m.prom" >/dev/null'
get() { "$LUA" scripts/promcheck.lua "$T/m.prom" --get "$1"; }
check "runs are counted" \
  '[ "$(get "gavel_runs_total{code=\"OK\",ruleset=\"cli_http\"}")" = "$N" ]'
check "http calls are counted" \
  '[ "$(get "gavel_hostcalls_total{capability=\"network.http\",outcome=\"ok\"}")" = "$N" ]'
check "the latency histogram counts every call" \
  '[ "$(get "gavel_hostcall_duration_seconds_count{capability=\"network.http\"}")" = "$N" ]'
check "metric actions reach the registry" \
  'get "amount{k=\"v\"}" >/dev/null'
check "the audit log has a line per run and per call" \
  '[ "$(wc -l <"$T/audit.log")" = "$((N * 3))" ]'
check "audit lines are complete JSON" \
  '[ "$(grep -c "^{\"ts\":\".*}\$" "$T/audit.log")" = "$((N * 3))" ]'
check "every run is audited" \
  '[ "$(grep -c "\"event\":\"rule_executed\"" "$T/audit.log")" = "$N" ]'

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
