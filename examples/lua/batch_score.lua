-- batch_score.lua -- scripted batch evaluation: score every line of a JSONL
-- file with a ruleset that calls a custom Lua provider.
--
--   gavel examples/lua/batch_score.lua [IN.jsonl] [OUT.jsonl]
--   luajit examples/lua/batch_score.lua ...      (with LUA_PATH/LUA_CPATH)
--
-- Prints one JSON result per input line, then a summary on stderr.

local gavel = require "gavel"

local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
dofile(here .. "/providers/geo_lookup.lua")   -- registers geo.lookup

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local rs = assert(gavel.load(slurp(here .. "/rules/geo_score.json")))
local input = arg and arg[1] or (here .. "/data/applicants.jsonl")
local out = arg and arg[2] and assert(io.open(arg[2], "w")) or io.stdout

local counts, n, failed = {}, 0, 0
local t0 = gavel.now_ms()
for line in io.lines(input) do
  if line:find("%S") then
    n = n + 1
    local row, err = gavel.json.decode(line)
    local res, code
    if row then res, err, code = rs:run(row) end
    if res then
      counts[res.code] = (counts[res.code] or 0) + 1
      out:write(gavel.json.encode({ id = row.id, code = res.code,
                                    output = res.output }), "\n")
    else
      failed = failed + 1
      out:write(gavel.json.encode({ line = n, error = err,
                                    code = code or "GAVEL_JSON" }), "\n")
    end
  end
end
local ms = gavel.now_ms() - t0
-- a full disk shows when the buffered results are written: say so
local ok, werr = out:flush()
if out ~= io.stdout and ok then ok, werr = out:close() end
if not ok then
  io.stderr:write("batch_score: cannot write the results: ", tostring(werr), "\n")
  os.exit(1)
end

local parts = {}
for code, c in pairs(counts) do parts[#parts + 1] = code .. "=" .. c end
table.sort(parts)
io.stderr:write(string.format("%d rows in %.1f ms: %s, %d failed\n", n, ms,
                              table.concat(parts, " "), failed))
