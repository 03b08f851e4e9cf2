#!/usr/bin/env bash
# bench.sh -- run gavel's benchmarks and print a compact table.
#
#   scripts/bench.sh [BUILD_DIR]      (default: build; configure it first)
#
# Builds only through 'cmake --build'.  Runs bench_expr (expressions, VM vs
# hand-written C), bench_rules (score/loan rules, exec and JSON in/out vs C)
# and the batch benchmark: 'gavel batch --jobs 2' against bench/baseline_batch
# (cJSON, 2 threads) on generated JSONL files, outputs compared on a sample,
# and 'gavel replay' of a capture of the loan batch against the batch itself.
# Takes about a minute.  Environment:
#   BENCH_LINES=1000000     lines per batch input file
#   BENCH_BATCH_REPS=2      runs per batch measurement (best is kept)
#   BENCH_REPS, BENCH_MS    repetitions / ms per repetition in the C benches
#   BENCH_RULES_BIN, BASELINE_BATCH_BIN
#                           use these binaries instead of the build dir's
#                           (e.g. hand-built with -DBENCH_HAVE_CJSON -lcjson)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-build}
[[ $B = /* ]] || B=$ROOT/$B
CASES=$ROOT/../shared/bench-cases
LINES=${BENCH_LINES:-1000000}
REPS=${BENCH_BATCH_REPS:-2}

if [ ! -f "$B/CMakeCache.txt" ]; then
  echo "error: $B is not a configured build dir" \
       "(cmake -S $ROOT -B $B -DCMAKE_BUILD_TYPE=Release)" >&2
  exit 2
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/gavel-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
targets=(gavel_cli bench_expr bench_rules)
if cmake --build "$B" --target help 2>/dev/null | grep -qw baseline_batch; then
  targets+=(baseline_batch)
fi
if ! cmake --build "$B" -j 2 --target "${targets[@]}" >"$TMP/build.log" 2>&1
then
  cat "$TMP/build.log" >&2
  exit 1
fi

GAVEL=$B/gavel
RULES_BIN=${BENCH_RULES_BIN:-$B/bench_rules}
BASE_BIN=${BASELINE_BATCH_BIN:-$B/baseline_batch}

run() { # name cmd... : show the output, keep SUMMARY lines for the table
  echo "== $1"
  shift
  "$@" >"$TMP/out.txt"
  grep -v '^SUMMARY|' "$TMP/out.txt" || true
  grep '^SUMMARY|' "$TMP/out.txt" >>"$TMP/summary.txt" || true
  echo
}
: >"$TMP/summary.txt"
run "bench_expr" "$B/bench_expr"
run "bench_rules" "$RULES_BIN"

rate_of() { # stderr file -> lines/s
  sed -n 's/.*(\([0-9][0-9]*\) lines\/s.*/\1/p' "$1" | tail -n 1
}
best_of() { # cmd... : "best-lines/s least-cpu-ns/line" over $REPS runs
  local r cpu best=0 least="" i TIMEFORMAT='%U %S'
  for ((i = 0; i < REPS; i++)); do
    if ! { time "$@" 2>"$TMP/err.txt"; } 2>"$TMP/time.txt"; then
      cat "$TMP/err.txt" >&2
      return 1
    fi
    r=$(rate_of "$TMP/err.txt")
    cpu=$(awk -v n="$LINES" '{ printf "%.0f", ($1 + $2) * 1e9 / n }' \
            "$TMP/time.txt")
    if [ -n "$r" ] && [ "$r" -gt "$best" ]; then best=$r; fi
    if [ -z "$least" ] || [ "$cpu" -lt "$least" ]; then least=$cpu; fi
  done
  echo "$best $least"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }

echo "== batch ($LINES lines per rule, --jobs 2, output /dev/null," \
     "best of $REPS; CPU = user+sys per line)"
for rule in score loan; do
  in=$TMP/$rule.jsonl
  "$RULES_BIN" --gen "$rule" "$LINES" >"$in"
  read -r g gcpu < <(best_of "$GAVEL" batch "$CASES/$rule.json" \
                       --input "$in" --output /dev/null --jobs 2)
  [ -n "${g:-}" ] || { echo "FATAL: gavel batch $rule failed" >&2; exit 1; }
  goal="> 1M lines/s: $([ "$g" -gt 1000000 ] && echo MET || echo MISSED)"
  if [ -x "$BASE_BIN" ]; then
    read -r c ccpu < <(best_of "$BASE_BIN" "$CASES/$rule.json" \
                         --input "$in" --output /dev/null --jobs 2)
    [ -n "${c:-}" ] || { echo "FATAL: baseline $rule failed" >&2; exit 1; }
    head -n 20000 "$in" >"$TMP/sample.jsonl"
    "$GAVEL" batch "$CASES/$rule.json" --input "$TMP/sample.jsonl" \
      --output "$TMP/g.out" --jobs 2 2>/dev/null
    "$BASE_BIN" "$CASES/$rule.json" --input "$TMP/sample.jsonl" \
      --output "$TMP/c.out" --jobs 2 2>/dev/null
    if ! cmp -s "$TMP/g.out" "$TMP/c.out"; then
      echo "FATAL: batch $rule: gavel and baseline outputs differ" >&2
      exit 1
    fi
    echo "$rule: gavel $g lines/s ($gcpu ns CPU/line), C+cJSON $c lines/s" \
         "($ccpu ns CPU/line); outputs identical on 20000 lines"
    echo "SUMMARY|batch $rule (lines/s)|$g|$c|$(ratio "$c" "$g")|$goal" \
      >>"$TMP/summary.txt"
    echo "SUMMARY|batch $rule (CPU ns/line)|$gcpu|$ccpu|$(ratio "$gcpu" \
      "$ccpu")|-" >>"$TMP/summary.txt"
  else
    echo "$rule: gavel $g lines/s ($gcpu ns CPU/line); baseline_batch not" \
         "built (see bench/README.md)"
    echo "SUMMARY|batch $rule (lines/s)|$g|n/a|n/a|$goal" >>"$TMP/summary.txt"
  fi
  rm -f "$in"
done
echo

# gavel replay over captured loan decisions against gavel batch on the same
# inputs (issue 12: replay within 1.5x of batch), same run, best of $REPS.
echo "== replay ($LINES captured loan decisions vs batch on the same inputs," \
     "--jobs 2, best of $REPS)"
LOAN=$ROOT/examples/loan.json
in=$TMP/replay_in.jsonl
cap=$TMP/replay_cap.jsonl
"$RULES_BIN" --gen loan "$LINES" >"$in"
"$GAVEL" batch "$LOAN" --input "$in" --output /dev/null --jobs 2 \
  --capture "$cap" --capture-buffered 2>/dev/null
rbest=0 bbest=0
for ((i = 0; i < REPS; i++)); do
  TIMEFORMAT='%R'
  bt=$({ time "$GAVEL" batch "$LOAN" --input "$in" --output /dev/null \
           --jobs 2 2>/dev/null; } 2>&1)
  rt=$({ time "$GAVEL" replay "$cap" "$LOAN" --jobs 2 >"$TMP/replay.txt" \
           2>/dev/null; } 2>&1)
  b=$(awk -v n="$LINES" -v t="$bt" 'BEGIN { printf "%.0f", n / t }')
  r=$(awk -v n="$LINES" -v t="$rt" 'BEGIN { printf "%.0f", n / t }')
  [ "$b" -gt "$bbest" ] && bbest=$b
  [ "$r" -gt "$rbest" ] && rbest=$r
done
if ! grep -q "consistent $LINES, flipped 0" "$TMP/replay.txt"; then
  echo "FATAL: replay did not find every record consistent:" >&2
  cat "$TMP/replay.txt" >&2
  exit 1
fi
rr=$(ratio "$bbest" "$rbest")
goal="<= 1.5x: $(awk -v a="$bbest" -v b="$rbest" \
  'BEGIN { print (a / b <= 1.5 ? "MET" : "MISSED") }')"
echo "replay $rbest records/s, batch $bbest lines/s: replay takes $rr the" \
     "time of batch ($goal)"
echo "SUMMARY|replay vs batch loan (lines/s)|$rbest|$bbest (batch)|$rr|$goal" \
  >>"$TMP/summary.txt"
rm -f "$in" "$cap"
echo

echo "== summary: best repetition (least disturbed by other load), ns per op" \
     "unless noted; ratio = gavel time / C time"
{
  echo "benchmark|gavel|C|ratio|goal"
  sed 's/^SUMMARY|//' "$TMP/summary.txt"
} | column -t -s '|'
