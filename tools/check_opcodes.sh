#!/bin/sh
# check_opcodes.sh -- every opcode in core/opcodes.def has an "Opcode:" doc
# block in core/vm.c and appears in a golden disassembly listing.
# (The JIT handler check joins when core/jit.c exists.)
set -u
cd "$(dirname "$0")/.."
fail=0 n=0
for op in $(sed -n 's/^OP(\([A-Z0-9_]*\),.*/\1/p' core/opcodes.def); do
  n=$((n + 1))
  grep -q "^/\* Opcode: $op " core/vm.c || { echo "opcode $op: no doc block in core/vm.c"; fail=1; }
  grep -qE "^[0-9]{4}  $op " spec/fixtures/disasm.golden || { echo "opcode $op: no golden disassembly test"; fail=1; }
  if [ -f core/jit.c ]; then
    grep -q "$op" core/jit.c || { echo "opcode $op: no JIT handler"; fail=1; }
  fi
done
echo "$n opcodes checked"
[ $fail -eq 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit $fail
