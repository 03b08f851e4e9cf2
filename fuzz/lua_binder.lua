-- fuzz/lua_binder.lua -- the Lua side of fuzz_lua_binder (see the C file).
-- Returns init(root) -> one(bytes): builds a Lua table from the bytes and
-- runs every ruleset on it through the generated binder, the C walker
-- (trace runs) and JSON text; raises "FINDING: ..." when they disagree.

local ffi = require "ffi"

local KEYS = { "a", "o", "l", "p", "q", "k", "0", "1", "2", "", "price",
               "items", "customer", "vip", "order", "total", "x", "n" }
local NUMS = { 0, -0.0, 1, -1, 0.5, 2^53, 2^53 + 2, -2^53, 2^63, -2^63,
               2^64, 1e308, -1e308, math.huge, -math.huge, 0/0, 1e-320,
               4294967296, 1e18, 1e18 + 1 }

-- Expressions over the input, one ruleset each (one failing path does not
-- mask the others).
local EXPRS = { "a", "o", "l", "o.p", "o.p.q", "l[0]", "l[1].k", "o.0",
                "o.*", "l.*", "l.*.k", "len(o)", "len(l)", "keys(o)",
                "values(o)", "o.k == l", "to_string(o)", "x + n",
                "coalesce(o.q, a)", "data.o", "items.*.price", "o.1.2" }

local function terminal(expr)
  return string.format([[{"config":{"name":"lb","entry_step":"t"},"steps":{
    "t":{"id":"t","name":"T","type":"terminal","result":{"code":"OK",
    "output":{"v":%q}}}}}]], expr)
end

local ALL = os.getenv("FUZZ_LUA_ALL") == "1"

return function(root)
  local gavel = require "gavel"
  local core = require "gavel.core"
  local null, array_mt, float_mt = core.null, core.array_mt, core.float_mt
  local each = next

  local all_rulesets = {}
  for _, e in ipairs(EXPRS) do
    local rs = assert(gavel.load(terminal(e), { no_capability_check = true }))
    all_rulesets[#all_rulesets + 1] = { name = "expr " .. e, rs = rs }
  end
  local p = io.popen('ls "' .. root .. '/fuzz/rulesets"/*.json 2>/dev/null')
  for f in p:lines() do
    local fh = assert(io.open(f, "rb"))
    local text = fh:read("*a")
    fh:close()
    local rs, err = gavel.load(text, { no_capability_check = true })
    if not rs then error("fuzz_lua_binder: " .. f .. ": " .. tostring(err)) end
    all_rulesets[#all_rulesets + 1] = { name = f:match("[^/]*$"), rs = rs }
  end
  p:close()

  -- ---- bytes -> a Lua table ----
  local function build(s)
    local pos, n = 1, #s
    local function byte()
      if pos > n then return nil end
      local b = s:byte(pos)
      pos = pos + 1
      return b
    end
    local function b0() return byte() or 0 end
    local root_t = {}
    local conts, vals = { root_t }, {}
    local function pop()
      local v = vals[#vals]
      vals[#vals] = nil
      if v == nil then return 1 end
      return v
    end
    local function push(v) vals[#vals + 1] = v end
    local function key() return KEYS[b0() % #KEYS + 1] end
    while true do
      local op = byte()
      if not op then break end
      local c = conts[#conts]
      op = op % 20
      if op == 0 then push(b0() - 128)
      elseif op == 1 then
        push(NUMS[b0() % #NUMS + 1])
      elseif op == 2 then
        local len = b0() % 32
        push(s:sub(pos, pos + len - 1))
        pos = pos + len
      elseif op == 3 then push(key())
      elseif op == 4 then push(b0() % 2 == 0)
      elseif op == 5 then push(null)
      elseif op == 6 then
        if #conts < 600 then conts[#conts + 1] = {} end
      elseif op == 7 then
        if #conts > 1 then
          conts[#conts] = nil
          push(c)
        end
      elseif op == 8 then c[key()] = pop()
      elseif op == 9 then
        local k = b0() % 10
        c[k == 9 and 1.5 or k - 1] = pop()
      elseif op == 10 then c[#c + 1] = pop()
      elseif op == 11 then setmetatable(c, array_mt)
      elseif op == 12 then
        local v = pop()
        push(setmetatable({ type(v) == "number" and v or 1 }, float_mt))
      elseif op == 13 then
        local hi, lo = b0() * 16777216 + b0() * 65536, b0() * 256 + b0()
        if b0() % 2 == 0 then
          push(ffi.new("int64_t", hi) * 4294967296LL + lo - 2^31)
        else
          push(ffi.new("uint64_t", hi) * 4294967296ULL + lo)
        end
      elseif op == 14 then c[key()] = c
      elseif op == 15 then
        local w = b0() % 5
        push(w == 0 and print or w == 1 and coroutine.create(print)
             or w == 2 and core.empty_array or w == 3 and ffi.new("int[1]")
             or newproxy())
      elseif op == 16 then
        local depth, v = b0() * 3, pop()
        local arr = b0() % 2 == 0
        for _ = 1, depth do v = arr and { v } or { k = v } end
        push(v)
      elseif op == 17 then push(string.rep(key() .. "\0", b0()))
      elseif op == 18 then
        local w = b0() % 3
        c[w == 0 and {} or w == 1 and true or print] = pop()
      else
        -- a foreign metatable, read as a plain table on every path (raw
        -- reads; finding L3): with __index (a function or a table) too
        local w = b0() % 3
        setmetatable(c, w == 0 and { __name = "other" }
                     or w == 1 and { __index = function() return 7 end }
                     or { __index = { a = 1, p = { q = 2 }, ["0"] = 3 } })
      end
    end
    while #conts > 1 do -- attach what is still open
      local t = conts[#conts]
      conts[#conts] = nil
      conts[#conts].o = t
    end
    for i = 1, #vals do -- loose values land under 'a', 'x', 'n'...
      root_t[KEYS[(i - 1) % #KEYS + 1]] = vals[i]
    end
    return root_t
  end

  -- ---- canonical text of a result, for comparison ----
  local function canon(v, out, depth)
    local tv = type(v)
    if depth > 600 then out[#out + 1] = "<deep>" return end
    if tv == "number" then
      out[#out + 1] = v ~= v and "nan" or string.format("%.17g", v)
    elseif tv == "string" then out[#out + 1] = string.format("%q", v)
    elseif tv == "boolean" or tv == "cdata" then
      out[#out + 1] = tostring(v):gsub("U?LL$", "")
    elseif v == null then out[#out + 1] = "null"
    elseif tv == "table" then
      local mt = getmetatable(v)
      if mt == float_mt then
        out[#out + 1] = "F" .. string.format("%.17g", v[1])
      elseif mt == array_mt then
        out[#out + 1] = "["
        for i = 1, #v do canon(v[i], out, depth + 1) out[#out + 1] = "," end
        out[#out + 1] = "]"
      else
        local ks = {}
        -- not 'pairs': no ITERN loop (finding L7, lua/README.md)
        for k in each, v do ks[#ks + 1] = k end
        table.sort(ks, function(x, y) return tostring(x) < tostring(y) end)
        out[#out + 1] = "{"
        for _, k in ipairs(ks) do
          out[#out + 1] = tostring(k) .. "="
          canon(v[k], out, depth + 1)
          out[#out + 1] = ","
        end
        out[#out + 1] = "}"
      end
    else
      out[#out + 1] = tv
    end
  end
  -- the outcome of a run: the result, or the error's code (with its
  -- message when 'msg')
  local function text(r, err, code, msg)
    if r == nil then
      return "error " .. tostring(code) .. (msg and (": " .. tostring(err)) or "")
    end
    local out = {}
    canon({ code = r.code, message = r.message, output = r.output }, out, 0)
    return table.concat(out)
  end

  local function check(name, what, a, b, detail)
    if a ~= b then
      error(string.format("FINDING: %s: %s differ\n  %s\n  %s\n  %s",
        name, what, a:sub(1, 600), b:sub(1, 600), tostring(detail)), 0)
    end
  end

  -- One rule for every input path (lua/README.md "Input tables: what is
  -- read"; findings L2-L5): a traced run reads exactly what the plain run
  -- reads, so the two agree in full (result, or error code and message);
  -- JSON text of the table (when gavel.json.encode takes it: the whole
  -- table converts) gives the same result or error code.
  return function(bytes)
    local t = build(bytes)
    -- one ruleset per input, picked by the last byte, so that the fuzzer
    -- chooses it and new coverage is credited to it (a sixth of them on
    -- every input ran ~130 inputs/s under ASan, all of them 15); the
    -- regression replay (FUZZ_LUA_ALL=1, fuzz/replay.sh) runs every one
    local rulesets = all_rulesets
    if not ALL then
      rulesets = { all_rulesets[(bytes:byte(-1) or 0) % #all_rulesets + 1] }
    end
    local json = gavel.json.encode(t)
    if os.getenv("FUZZ_LUA_DUMP") then
      local out = {}
      canon(t, out, 0)
      io.stderr:write("input: ", table.concat(out), "\njson: ", tostring(json), "\n")
    end
    for _, r in ipairs(rulesets) do
      local r1, e1, c1 = r.rs:run(t)
      local r2, e2, c2 = r.rs:run(t, { trace = true })
      check(r.name, "plain and traced runs", text(r1, e1, c1, true),
            text(r2, e2, c2, true))
      if r2 and type(r2.trace) ~= "table" then
        error("FINDING: " .. r.name .. ": traced run without a trace", 0)
      end
      if json then
        local r3, e3, c3 = r.rs:run(json)
        check(r.name, "table and JSON text runs", text(r1, e1, c1),
              text(r3, e3, c3), tostring(e1) .. " / " .. tostring(e3) .. " "
              .. json:sub(1, 300))
      end
    end
  end
end
