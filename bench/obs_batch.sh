#!/usr/bin/env bash
# obs_batch.sh -- what observability costs 'gavel batch': plain, --metrics
# FILE and --audit FILE (group commit, fdatasync every 1024 lines) on the
# same generated loan input, results written to a file in every mode, interleaved repetitions, median wall time;
# prints each mode's throughput and its ratio to plain of the same run.
# Goals (issue 10.8): metrics >= 0.90 of plain, audit >= 0.75.
#
#   bench/obs_batch.sh [BUILD_DIR]
#   OBS_LINES=300000 OBS_REPS=7 OBS_JOBS="1 2" OBS_RULES=loan|score
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-build}
[[ $B = /* ]] || B=$ROOT/$B
LINES=${OBS_LINES:-300000}
REPS=${OBS_REPS:-7}
JOBS=${OBS_JOBS:-"1 2"}
RULES=${OBS_RULES:-loan}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/gavel-obs.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
"$B/bench_rules" --gen "$RULES" "$LINES" >"$TMP/in.jsonl"
now() { date +%s%N; }
run() { # run MODE JOBS -> elapsed ns
  local extra=()
  case $1 in
    metrics) extra=(--metrics "$TMP/m.prom") ;;
    audit) rm -f "$TMP/audit.log"; extra=(--audit "$TMP/audit.log") ;;
  esac
  local t0 t1 cpu
  t0=$(now)
  cpu=$( { /usr/bin/time -f "%U %S" "$B/gavel" batch "$ROOT/examples/$RULES.json" \
    --input "$TMP/in.jsonl" --output "$TMP/out.jsonl" --jobs "$2" \
    "${extra[@]}" 2>&1 >/dev/null | tail -1; } )
  t1=$(now)
  echo "$((t1 - t0)) $(echo "$cpu" | awk '{printf "%.0f", ($1 + $2) * 1e9}')"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# wall time is what the goals are about; CPU time (user+sys, all threads)
# is printed too: on a loaded machine it is the steadier of the two
echo "obs_batch: $RULES.json, $LINES lines, $REPS interleaved reps, median"
for j in $JOBS; do
  : >"$TMP/plain" ; : >"$TMP/metrics" ; : >"$TMP/audit"
  for ((r = 0; r < REPS; r++)); do
    for m in plain metrics audit; do run $m "$j" >>"$TMP/$m"; done
  done
  [ "$(wc -l <"$TMP/audit.log")" -eq "$LINES" ] ||
    { echo "error: audit log has $(wc -l <"$TMP/audit.log") lines, not $LINES" >&2; exit 1; }
  p=$(cut -d' ' -f1 "$TMP/plain" | median)
  pc=$(cut -d' ' -f2 "$TMP/plain" | median)
  for m in plain metrics audit; do
    t=$(cut -d' ' -f1 "$TMP/$m" | median)
    c=$(cut -d' ' -f2 "$TMP/$m" | median)
    awk -v m="$m" -v j="$j" -v t="$t" -v p="$p" -v c="$c" -v pc="$pc" -v n="$LINES" 'BEGIN {
      printf "  --jobs %s %-8s %8.0f lines/s  %.2f of plain (wall)  cpu %.2f s  %.2f of plain (cpu)\n",
             j, m, n / (t / 1e9), p / t, c / 1e9, pc / c }'
  done
done
