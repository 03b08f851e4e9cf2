#!/usr/bin/env bash
# demo.sh -- the main job on the bundled examples: evaluate expressions,
# run rulesets, batch-score a JSONL file.
set -eu
cd "$(dirname "$0")/.."
G=${1:-build}/gavel
echo '$ gavel eval "score * 0.6 + bonus * 0.4" --context {"score":80,"bonus":10}'
$G eval 'score * 0.6 + bonus * 0.4' --context '{"score":80,"bonus":10}'
for f in examples/*.json; do
  [ -f "$f" ] || continue
  in="${f%.json}.input.json"
  [ -f "$in" ] || continue
  echo "\$ gavel run $f --input @$in"
  $G run "$f" --input "@$in"
done
if [ -f examples/loan.jsonl ]; then
  echo "\$ gavel batch examples/loan.json --input examples/loan.jsonl"
  $G batch examples/loan.json --input examples/loan.jsonl
fi
