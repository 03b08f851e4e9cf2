#!/bin/sh
# check_examples.sh -- every bundled example runs and gives its recorded
# result: examples/NAME.json + NAME.input.json -> NAME.expected.json, and
# 'gavel batch' over examples/loan.jsonl -> loan.expected.jsonl (the 21
# published loan vectors plus one malformed line).  $1 = the gavel binary.
set -u
cd "$(dirname "$0")/../examples"
G=${1:?usage: check_examples.sh GAVEL}
pass=0 fail=0
for f in *.json; do
  case "$f" in *.input.json|*.expected.json) continue ;; esac
  n=${f%.json}
  [ -f "$n.input.json" ] && [ -f "$n.expected.json" ] || continue
  if [ "$("$G" run "$f" --input "@$n.input.json")" = "$(cat "$n.expected.json")" ]; then
    pass=$((pass + 1))
  else
    echo "example $n: result differs"; fail=$((fail + 1))
  fi
  if "$G" check "$f" >/dev/null; then pass=$((pass + 1)); else echo "example $n: check failed"; fail=$((fail + 1)); fi
done
out=$(mktemp)
"$G" batch loan.json --input loan.jsonl --output "$out" --jobs 2 2>/dev/null
if cmp -s "$out" loan.expected.jsonl; then pass=$((pass + 1)); else echo "batch loan.jsonl differs"; fail=$((fail + 1)); fi
"$G" batch loan.json --input loan.jsonl --output "$out" --jobs 1 2>/dev/null
if cmp -s "$out" loan.expected.jsonl; then pass=$((pass + 1)); else echo "batch --jobs 1 differs"; fail=$((fail + 1)); fi
rm -f "$out"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
