#!/bin/sh
# check_includes.sh -- dependencies in core/ point downstream only, and
# libcurl / Lua / libevent stay out of core/ (house style 2.3).
# Levels (a file may include headers of its own level or lower):
#   0 gavel_int.h mem.h value.h runtime.h   foundations, host-call ABI types
#   1 json.h builtins_ext.h builtins_lib.h  JSON, builtins
#   2 expr.h                                parse (lex.c parse.c ast_json.c)
#   3 ops.h opcodes.h compile.h             compile
#   4 vm.h bind.h jit.h                     vm, jit, binding
#   5 rules.h load.h                        loading (compiles expressions)
#   6 sched.h                               scheduler
#   7 api.c host.c api_int.h                entry points
set -u
cd "$(dirname "$0")/.."
level() {
  case "$1" in
    gavel_int.h|mem.h|value.h|runtime.h|mem.c|value.c|allow.c) echo 0 ;;
    json.h|builtins_ext.h|builtins_lib.h|json.c|builtins.c|builtins_*.c) echo 1 ;;
    expr.h|lex.c|parse.c|ast_json.c) echo 2 ;;
    ops.h|opcodes.h|opcodes.def|compile.h|ops.c|opcodes.c|compile.c|disasm.c) echo 3 ;;
    vm.h|bind.h|vm.c|bind.c|jit.h|jit.c) echo 4 ;;
    rules.h|load.h|load.c) echo 5 ;;
    sched.h|sched.c) echo 6 ;;
    api_int.h|api.c|host.c) echo 7 ;;
    *) echo 9 ;;
  esac
}
fail=0
for f in core/*.c core/*.h; do
  b=$(basename "$f"); lf=$(level "$b")
  [ "$lf" = 9 ] && { echo "$f: not in the level table of tools/check_includes.sh"; fail=1; continue; }
  for inc in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
    [ "$inc" = "gavel.h" ] && continue
    li=$(level "$inc")
    if [ "$li" -gt "$lf" ]; then
      echo "$f (level $lf) includes $inc (level $li): dependencies must point downstream"
      fail=1
    fi
  done
  if grep -qE '#include *<(curl/|lua|lauxlib|event2?/)' "$f"; then
    echo "$f: libcurl, Lua and libevent belong outside core/"
    fail=1
  fi
done
[ $fail -eq 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit $fail
