#!/usr/bin/env bash
# fuzz/replay.sh -- the fuzzing section of scripts/test.sh (make test):
# builds the harnesses, replays every regression input (fuzz/regress/<h>/)
# and the seed corpus (fuzz/corpus/<h>/) through its harness, then fuzzes
# each harness for a few seconds (FUZZ_REPLAY_SECONDS, default 5; fixed
# seed, so a run is repeatable).  Regression files named known-* are
# crashes whose fix has not merged yet: skipped and counted as skipped.
# Ends with "fuzz: N passed, N failed, N skipped"; exits 1 on any finding.
set -u
cd "$(dirname "$0")/.."
secs=${FUZZ_REPLAY_SECONDS:-5}
all="expr ruleset input ruleset_struct json lua_binder jit"
harnesses=${*:-$all}
OUT=build-fuzz
passed=0 failed=0 skipped=0

mkdir -p "$OUT/replay"
if ! bash fuzz/build.sh >"$OUT/replay/build.log" 2>&1; then
  cat "$OUT/replay/build.log"
  echo "fuzz: 0 passed, 1 failed, 0 skipped"
  exit 1
fi

check() { # label, command...: one pass/fail
  local label=$1 log=$OUT/replay/$2.log; shift 2
  if "$@" >"$log" 2>&1; then
    passed=$((passed + 1))
    echo "ok   $label"
  else
    failed=$((failed + 1))
    echo "FAIL $label (log: $log)"
    grep -E 'FINDING|ERROR|runtime error|SUMMARY|Running:|detail' "$log" | head -n 12
  fi
}

for h in $harnesses; do
  exe=$OUT/fuzz_$h
  if [ ! -x "$exe" ]; then
    echo "skip $h: not built"; skipped=$((skipped + 1)); continue
  fi
  files=()
  if [ -d "fuzz/regress/$h" ]; then
    for f in "fuzz/regress/$h"/*; do
      [ -f "$f" ] || continue
      case $(basename "$f") in
        known-*) skipped=$((skipped + 1)) ;;
        *) files+=("$f") ;;
      esac
    done
  fi
  if [ ${#files[@]} -gt 0 ]; then
    # (FUZZ_LUA_ALL: fuzz_lua_binder runs every ruleset on each, not the
    # one its last byte picks)
    check "$h: ${#files[@]} regression inputs" "$h-regress" \
      env FUZZ_LUA_ALL=1 "$exe" "${files[@]}"
  fi
  check "$h: seed corpus ($(ls "fuzz/corpus/$h" | wc -l) inputs)" "$h-corpus" \
    "$exe" -runs=0 "fuzz/corpus/$h"
  # a short run on a scratch copy of the seeds (nothing written to fuzz/)
  rm -rf "$OUT/replay/$h.corpus" && mkdir -p "$OUT/replay/$h.corpus" "$OUT/replay/$h.findings"
  dict=""
  case $h in
    expr|jit) dict=fuzz/dict/expr.dict ;;
    json|input) dict=fuzz/dict/json.dict ;;
    ruleset|ruleset_struct) dict=fuzz/dict/ruleset.dict ;;
  esac
  check "$h: ${secs} s of fuzzing" "$h-fuzz" "$exe" -seed=1 -max_total_time="$secs" \
    -timeout=10 -rss_limit_mb=2048 -max_len=65536 ${dict:+-dict=$dict} \
    -artifact_prefix="$OUT/replay/$h.findings/" "$OUT/replay/$h.corpus" "fuzz/corpus/$h"
done
echo "fuzz: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
