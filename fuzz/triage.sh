#!/usr/bin/env bash
# fuzz/triage.sh -- replays every finding of build-fuzz/findings/<h>/ (or the
# files given) through its harness and prints one signature per input: the
# first sanitizer / FINDING line and the first three frames in gavel code.
# Identical signatures are the same bug.
#   bash fuzz/triage.sh [harness...]
set -u
cd "$(dirname "$0")/.."
harnesses=${*:-expr ruleset input ruleset_struct json lua_binder}
for h in $harnesses; do
  for f in build-fuzz/findings/$h/*; do
    [ -f "$f" ] || continue
    out=$(timeout 30 "build-fuzz/fuzz_$h" "$f" 2>&1)
    what=$(echo "$out" | grep -m1 -E 'runtime error|ERROR: AddressSanitizer|FINDING|ERROR: libFuzzer' |
           sed -E 's/^==[0-9]+==//; s/0x[0-9a-f]+/ADDR/g' | cut -c1-150)
    frames=$(echo "$out" | grep -E '^ +#[0-9]+ .* in [a-z_0-9]+ /' | grep -E '/(core|lua)/' |
             head -n 3 | sed -E 's/.* in ([a-z_0-9]+) .*\/((core|lua)\/[^ ]*)/\1 \2/' | tr '\n' ' ')
    [ -n "$what" ] || what="(does not reproduce)"
    printf '%s\t%s\t%s\t%s\n' "$h" "$(basename "$f")" "$what" "$frames"
  done
done
