#!/usr/bin/env bash
# fuzz/run.sh -- runs each harness for N seconds (make fuzz FUZZ_SECONDS=N).
#
#   bash fuzz/run.sh [-t SECONDS] [harness...]   (default: all, 60 s each)
#
# One libFuzzer process per harness at a time (-fork=1: one CPU), so that
# findings do not stop the run: crashes, timeouts and OOMs are written to
# build-fuzz/findings/<harness>/ and counted.  New corpus entries go to
# build-fuzz/corpus/<harness>/ (not checked in); the seeds of
# fuzz/corpus/<harness>/ and the regressions of fuzz/regress/<harness>/ are
# read.  Prints one line per harness and a total; exits 1 on any finding.
set -u
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
if [ "${1:-}" = -t ]; then secs=$2; shift 2; fi
all="expr ruleset input ruleset_struct json lua_binder jit"
harnesses=${*:-$all}
OUT=build-fuzz
bash fuzz/build.sh $(for h in $harnesses; do printf 'fuzz_%s ' "$h"; done) >/dev/null || exit 1

dict_of() {
  case $1 in
    expr|jit) echo fuzz/dict/expr.dict ;;
    json|input) echo fuzz/dict/json.dict ;;
    ruleset|ruleset_struct) echo fuzz/dict/ruleset.dict ;;
    *) echo "" ;;
  esac
}
maxlen_of() {
  case $1 in
    expr|jit) echo 4096 ;;
    lua_binder) echo 2048 ;;
    *) echo 65536 ;;
  esac
}

total_execs=0 total_findings=0
printf '%-16s %12s %10s %9s\n' harness executions exec/s findings
for h in $harnesses; do
  exe=$OUT/fuzz_$h
  [ -x "$exe" ] || { echo "$h: not built"; continue; }
  mkdir -p "$OUT/corpus/$h" "$OUT/findings/$h"
  before=$(ls "$OUT/findings/$h" | wc -l)
  dict=$(dict_of "$h")
  dirs=("$OUT/corpus/$h" "fuzz/corpus/$h")
  # regressions seed the run, except known-* (unfixed crashes: each would
  # count as a finding again)
  for f in fuzz/regress/$h/*; do
    case $(basename "$f") in known-*|'*') ;; *) cp "$f" "$OUT/corpus/$h/" ;; esac
  done
  log=$OUT/fuzz_$h.log
  # lua_binder: no fork mode (each fork job re-creates the Lua state and
  # loads 36 rulesets: 7 inputs/s instead of 50); stops at its first finding
  mode="-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1"
  [ "$h" = lua_binder ] && mode=""
  "$exe" $mode \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -max_len="$(maxlen_of "$h")" ${dict:+-dict=$dict} \
    -artifact_prefix="$OUT/findings/$h/" "${dirs[@]}" >"$log" 2>&1
  # fork mode's status lines: "#81280: cov: ... exec/s 1007 oom/timeout/crash: 0/0/0 ..."
  # plain mode's: "#81280	NEW    cov: ... exec/s: 1007 rss: ..." / "Done 81280 runs in 61 second(s)"
  last=$(grep -E '^#[0-9]+[: \t].*cov:' "$log" | tail -n 1)
  execs=$(echo "$last" | sed -nE 's/^#([0-9]+).*/\1/p')
  rate=$(echo "$last" | sed -nE 's/.*exec\/s:? ([0-9]+).*/\1/p')
  done_line=$(sed -nE 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\1 \2/p' "$log")
  if [ -n "$done_line" ]; then
    execs=${done_line% *}
    rate=$(( execs / (${done_line#* } > 0 ? ${done_line#* } : 1) ))
  fi
  found=$(( $(ls "$OUT/findings/$h" | wc -l) - before ))
  printf '%-16s %12s %10s %9s\n' "$h" "${execs:-0}" "${rate:-0}" "$found"
  total_execs=$((total_execs + ${execs:-0}))
  total_findings=$((total_findings + found))
done
echo "fuzz: $total_execs executions, $total_findings findings (build-fuzz/findings/, logs build-fuzz/fuzz_*.log)"
[ "$total_findings" -eq 0 ]
