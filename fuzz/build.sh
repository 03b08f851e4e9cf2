#!/usr/bin/env bash
# fuzz/build.sh -- builds the libFuzzer harnesses of fuzz/ into build-fuzz/
# (clang + libFuzzer, ASan + UBSan, UBSan findings abort).
#
#   bash fuzz/build.sh [harness...]     (default: every fuzz/fuzz_*.c)
#
# The core (core/*.c) is compiled once into build-fuzz/obj with
# -fsanitize=fuzzer-no-link so libFuzzer sees its edges; each harness links
# it with -fsanitize=fuzzer.  Objects are rebuilt when their source or any
# core header is newer.  CC (default clang) and FUZZ_CFLAGS may override.
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
CC=${CC:-clang}
case "$($CC --version 2>/dev/null)" in
  *clang*) ;;
  *) CC=clang ;;
esac
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
CFLAGS="-g -O1 -fno-omit-frame-pointer -std=gnu11 -Wall -Wextra $SAN ${FUZZ_CFLAGS:-}"
INC="-I$ROOT/core/include -iquote $ROOT/core"
PKGS="libpcre2-8 libcrypto yaml-0.1 libcjson"
PKG_CFLAGS=$(pkg-config --cflags $PKGS)
PKG_LIBS="$(pkg-config --libs $PKGS) -lm -lpthread"
LUA_CFLAGS=$(pkg-config --cflags luajit 2>/dev/null || true)
LUA_LIBS=$(pkg-config --libs luajit 2>/dev/null || true)
mkdir -p "$OUT/obj"

# newest core header: a change in any of them rebuilds every object
newest_hdr=$(ls -t core/*.h core/*.def core/include/gavel.h | head -n1)

compile() { # src obj extra-flags...
  local src=$1 obj=$2; shift 2
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ "$newest_hdr" -nt "$obj" ]; then
    $CC $CFLAGS -fsanitize=fuzzer-no-link $INC $PKG_CFLAGS "$@" -c "$src" -o "$obj"
  fi
}

CORE_OBJS=()
for src in core/*.c; do
  obj=$OUT/obj/core_$(basename "${src%.c}").o
  compile "$src" "$obj"
  CORE_OBJS+=("$obj")
done
compile fuzz/fuzz_common.c "$OUT/obj/fuzz_common.o"

if [ $# -gt 0 ]; then harnesses=("$@"); else
  harnesses=()
  for f in fuzz/fuzz_*.c; do
    n=$(basename "${f%.c}"); [ "$n" = fuzz_common ] || harnesses+=("$n")
  done
fi

for h in "${harnesses[@]}"; do
  extra_src=() extra_libs=() extra_cflags=()
  if [ "$h" = fuzz_lua_binder ]; then
    if [ -z "$LUA_LIBS" ]; then echo "build.sh: luajit not found, skipping $h"; continue; fi
    # Finding L1 (NULL + 0 in push_diags) is fixed: lgavel.c is checked in
    # full.  FUZZ_LUA_STRICT is kept as a no-op for old command lines.
    lua_san=
    compile lua/src/lgavel.c "$OUT/obj/lgavel${FUZZ_LUA_STRICT:+_strict}.o" $LUA_CFLAGS -I"$ROOT/lua/src" $lua_san
    extra_src=("$OUT/obj/lgavel${FUZZ_LUA_STRICT:+_strict}.o")
    extra_cflags=($LUA_CFLAGS -I"$ROOT/lua/src" -DGAVEL_FUZZ_LUA_DIR="\"$ROOT/lua\"")
    extra_libs=($LUA_LIBS -ldl)
  fi
  exe=$OUT/$h
  $CC $CFLAGS -fsanitize=fuzzer $INC $PKG_CFLAGS "${extra_cflags[@]}" \
    -DGAVEL_FUZZ_ROOT="\"$ROOT\"" fuzz/$h.c "$OUT/obj/fuzz_common.o" \
    "${extra_src[@]}" "${CORE_OBJS[@]}" $PKG_LIBS "${extra_libs[@]}" -o "$exe"
  echo "built $exe"
done
