-- batch_script.lua RULESET.json IN.jsonl OUT.jsonl -- the Lua batch script
-- bench/lua/batch.sh times against 'gavel batch --jobs 1'.
local gavel = require "gavel"
local f = assert(io.open(arg[1])); local src = f:read("*a"); f:close()
local rs = assert(gavel.load(src))
local out = assert(io.open(arg[3], "w"))
out:setvbuf("full", 65536)
gavel.batch(rs, io.lines(arg[2]), { output = out })
out:close()
