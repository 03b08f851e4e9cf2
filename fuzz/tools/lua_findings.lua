-- fuzz/tools/lua_findings.lua -- reproducers of the Lua binder findings L2-L5
-- (fuzz/README.md): LUA_PATH="lua/?.lua;;" LUA_CPATH="build/lib/?.so;;" luajit fuzz/tools/lua_findings.lua
-- Each line prints the three ways of running one input; they should agree.
local gavel = require "gavel"
local function rs(expr)
  return assert(gavel.load(string.format([[{"config":{"name":"r","entry_step":"t"},"steps":{"t":{"id":"t","name":"T","type":"terminal","result":{"code":"OK","output":{"v":%q}}}}}]], expr)))
end
local function show(tag, r, e) print(tag, r and gavel.json.encode(r.output) or ("nil, " .. tostring(e))) end
-- L2: unread unsupported value
local r = rs("a")
local t = { a = 1, f = print }
show("L2 binder", r:run(t)); show("L2 trace ", r:run(t, {trace=true}))
-- L3: __index
local p = setmetatable({}, { __index = function() return 7 end })
show("L3 binder", r:run(p)); show("L3 trace ", r:run(p, {trace=true})); show("L3 json", r:run(gavel.json.encode(p)))
-- L4: inf
local t4 = { a = math.huge }
local a, b = r:run(t4); print("L4 binder", a and a.output.v); local c = r:run(t4, {trace=true}); print("L4 trace", c and c.output.v, c and c.output.v == gavel.null)
local t4n = { a = 0/0 }
local a, b = r:run(t4n); print("L4 NaN binder", a and a.output.v, b); local c, d = r:run(t4n, {trace=true}); print("L4 NaN trace", c and c.output.v, d)
-- L5: sparse
local r5 = rs("o.0")
local t5 = { o = { [7] = 1 } }
show("L5 binder", r5:run(t5)); show("L5 trace ", r5:run(t5, {trace=true})); show("L5 json", r5:run(gavel.json.encode(t5)))
