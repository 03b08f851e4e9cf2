#!/usr/bin/env bash
# test.sh -- build and run every test: C tests (CTest), busted specs under
# LuaJIT, then the C tests again under ASan+UBSan, then the fuzz regressions
# and a few seconds of each fuzz harness (fuzz/replay.sh).  Ends with one line
# "gavel: N passed, N failed, N skipped" and exits non-zero on any failure.
set -u
cd "$(dirname "$0")/.."
JOBS=$(nproc 2>/dev/null || echo 2)
passed=0 failed=0 skipped=0 status=0

add_counts() { # "N passed, N failed[, N skipped]" line on stdin
  local line p f s
  line=$(grep -E '^([a-z]+: )?[0-9]+ passed, [0-9]+ failed' | tail -n 1)
  [ -n "$line" ] || return 1
  p=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
  f=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')
  s=$(echo "$line" | grep -oE '[0-9]+ skipped' | grep -oE '[0-9]+' || echo 0)
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + ${s:-0}))
}

build() { # dir, extra cmake args...
  local dir=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null &&
    cmake --build "$dir" -j "$JOBS" 2>&1 | grep -E 'warning|error|Error' ; 
  return "${PIPESTATUS[0]}"
}

run_ctest() { # dir label   (busted runs below, once, not through ctest)
  local dir=$1 label=$2 out
  out=$(ctest --test-dir "$dir" --output-on-failure -j "$JOBS" -E '^lua_specs$' 2>&1)
  local rc=$?
  echo "$out" | tail -n 40
  # ctest: "100% tests passed, 0 tests failed out of 12"
  local total fail
  total=$(echo "$out" | grep -oE 'out of [0-9]+' | tail -n1 | grep -oE '[0-9]+')
  fail=$(echo "$out" | grep -oE '[0-9]+ tests failed' | tail -n1 | grep -oE '^[0-9]+')
  total=${total:-0}; fail=${fail:-0}
  [ "$total" -gt 0 ] || { echo "$label: no tests ran"; status=1; }
  passed=$((passed + total - fail)); failed=$((failed + fail))
  [ $rc -eq 0 ] || status=1
}

echo "== build (RelWithDebInfo, -Wall -Wextra)"
build build || { echo "build failed"; exit 1; }
echo "== C tests (ctest)"
run_ctest build "ctest"

run_busted() { # label, then env assignments / busted args
  local label=$1; shift
  local out rc
  out=$(env "$@" 2>&1); rc=$?
  echo "$out" | grep -vE '^[-+*]+$' | tail -n 40
  add_counts <<<"$out" || { echo "$label: no summary line"; status=1; }
  [ $rc -eq 0 ] || status=1
}

echo "== busted specs under LuaJIT (spec/)"
run_busted busted GAVEL_BUILD_DIR=build busted --run=ci

echo "== difftest: generated expressions and rulesets, C API = CLI = Lua, twice; VM, then GAVEL_JIT=on"
run_busted difftest GAVEL_BUILD_DIR=build luajit tools/difftest.lua --cases 3000
run_busted difftest-jit GAVEL_BUILD_DIR=build GAVEL_JIT=on luajit tools/difftest.lua --cases 3000 --seed 7

echo "== sanitizer build (ASan+UBSan)"
build build-asan -DGAVEL_SANITIZE=ON || { echo "asan build failed"; exit 1; }
echo "== C tests under ASan+UBSan"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 run_ctest build-asan "ctest-asan"
echo "== Lua specs with the ASan+UBSan module (runtime preloaded into LuaJIT)"
run_busted busted-asan GAVEL_BUILD_DIR=build-asan \
  LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \
  ASAN_OPTIONS=detect_leaks=0 busted --run=ci --cpath="build-asan/lib/?.so" spec/lua

echo "== fuzz: regressions, seed corpus, 5 s per harness (fuzz/replay.sh)"
if command -v clang >/dev/null; then
  run_busted fuzz bash fuzz/replay.sh
else
  echo "fuzz: clang not found, skipped"; skipped=$((skipped + 1))
fi

# A user's clone has no ../shared beside it: the project's own tests must pass
# there too (the Ordo sample and bench vectors only run in addition).  Clone
# the committed tree into a temporary folder with nothing beside it and run
# the C tests and the Lua specs there.  GAVEL_SKIP_CLONE_CHECK=1 skips it.
if [ "${GAVEL_SKIP_CLONE_CHECK:-0}" != 1 ] && git rev-parse --git-dir >/dev/null 2>&1; then
  echo "== self-contained: the suite in a fresh clone with no ../shared"
  tmp=$(mktemp -d)
  if git clone -q --no-local . "$tmp/gavel" && [ ! -e "$tmp/shared" ] &&
     (cd "$tmp/gavel" && build build); then
    (cd "$tmp/gavel" && run_ctest build "ctest-clone"
     echo "ordo-sample in the clone: $(./build/test_conformance | grep '^ordo-sample')"
     run_busted busted-clone GAVEL_BUILD_DIR=build GAVEL_SKIP_LUAROCKS=1 busted --run=ci
     echo "$passed $failed $skipped $status" > "$tmp/counts")
    read -r passed failed skipped status < "$tmp/counts" || status=1
  else
    echo "clone check: cannot clone or build"; status=1
  fi
  rm -rf "$tmp"
fi

echo "gavel: $passed passed, $failed failed, $skipped skipped"
[ $status -eq 0 ] && [ $failed -eq 0 ]
