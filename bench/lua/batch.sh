#!/usr/bin/env bash
# batch.sh -- a Lua batch script (gavel.batch + rs:run_json, plain LuaJIT)
# against 'gavel batch --jobs 1' on the same generated input and ruleset,
# interleaved repetitions, median wall and CPU time; prints the ratio.
# Goal (issue 10.7): the Lua script within 1.5x of gavel batch --jobs 1.
# Outputs are compared byte for byte.
#
#   bench/lua/batch.sh [BUILD_DIR]     LB_LINES=300000 LB_REPS=5 LB_RULES=loan
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${1:-build}
[[ $B = /* ]] || B=$ROOT/$B
LINES=${LB_LINES:-300000}
REPS=${LB_REPS:-5}
RULES=${LB_RULES:-loan}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/gavel-lb.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
"$B/bench_rules" --gen "$RULES" "$LINES" >"$TMP/in.jsonl"
export LUA_PATH="$ROOT/lua/?.lua;;" LUA_CPATH="$B/lib/?.so;;"
timed() { # timed CMD... -> "wall_ns cpu_ns"
  local t0 t1 cpu
  t0=$(date +%s%N)
  cpu=$( { /usr/bin/time -f "%U %S" "$@" 2>&1 >/dev/null | tail -1; } )
  t1=$(date +%s%N)
  echo "$((t1 - t0)) $(echo "$cpu" | awk '{printf "%.0f", ($1 + $2) * 1e9}')"
}
: >"$TMP/c"; : >"$TMP/lua"
for ((r = 0; r < REPS; r++)); do
  timed "$B/gavel" batch "$ROOT/examples/$RULES.json" --input "$TMP/in.jsonl" \
    --output "$TMP/c.jsonl" --jobs 1 >>"$TMP/c"
  timed luajit "$ROOT/bench/lua/batch_script.lua" "$ROOT/examples/$RULES.json" \
    "$TMP/in.jsonl" "$TMP/lua.jsonl" >>"$TMP/lua"
done
cmp -s "$TMP/c.jsonl" "$TMP/lua.jsonl" ||
  { echo "error: the Lua script's output differs from gavel batch's" >&2; exit 1; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
cw=$(cut -d' ' -f1 "$TMP/c" | median); cc=$(cut -d' ' -f2 "$TMP/c" | median)
lw=$(cut -d' ' -f1 "$TMP/lua" | median); lc=$(cut -d' ' -f2 "$TMP/lua" | median)
echo "lua batch: $RULES.json, $LINES lines, $REPS interleaved reps, median (outputs identical)"
awk -v n="$LINES" -v cw="$cw" -v cc="$cc" -v lw="$lw" -v lc="$lc" 'BEGIN {
  printf "  gavel batch --jobs 1   %8.0f lines/s  cpu %.2f s\n", n / (cw / 1e9), cc / 1e9
  printf "  gavel.batch (LuaJIT)   %8.0f lines/s  cpu %.2f s\n", n / (lw / 1e9), lc / 1e9
  printf "  Lua time / gavel batch time: %.2fx wall, %.2fx cpu (goal <= 1.5x)\n", lw / cw, lc / cc }'
