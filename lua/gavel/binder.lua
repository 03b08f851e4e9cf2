-- gavel/binder.lua -- per-ruleset input binders, generated at load.
--
-- A binder reads exactly the input paths a ruleset references from a Lua
-- table into the execution context's FFI slot array: numbers, booleans and
-- nil inline (JIT-compiled stores), strings through one FFI call, tables
-- and anything else through the C lua_next walker (capi.set).  No JSON.
-- Errors: never raises for bad input (the C side records the first
-- problem and the run reports it); generating code for a plan cannot fail.
-- Input limits: the same as for JSON text input (lua/src/lgavel.c, "Input
-- limits"): the FFI builders charge every string, key and container to
-- the run's input count and refuse what passes a limit; this walker also
-- stops at the nesting limit and at a table that contains itself.  Each
-- time it gives up, the C walker converts the value again (from the count
-- taken before) and names the problem with its input path.

local core = require "gavel.core"

local api, capi = core.api, core.capi
local concat, format = table.concat, string.format
local floor, type, tonumber = math.floor, type, tonumber
local loadstring = loadstring or load

local _M = { _VERSION = "0.1.0" }

-- Value tags of core/value.h (gv_type).
local T_BOOL, T_INT, T_FLOAT, T_MISSING = 1, 2, 3, 7
local MAX_INT = 9007199254740992 -- 2^53: integral doubles up to here are ints

local set_str = api.set_str
local capi_set = capi.set
local wv, walk -- the table walker, below

-- put(S, h, i, v): writes Lua value v into slot i.  Integral numbers within
-- +-2^53 become ints, other numbers floats (lua/README.md "Numbers").
local function put(S, h, i, v)
  local tv = type(v)
  if tv == "number" then
    local s = S[i]
    if v == floor(v) and v >= -MAX_INT and v <= MAX_INT then
      s.tag = T_INT
      s.u.i = v
    elseif v - v == 0 then -- finite (NaN and inf: the C walker refuses)
      s.tag = T_FLOAT
      s.u.f = v
    else
      capi_set(h, i, v)
    end
  elseif tv == "string" then
    set_str(h, i, v, #v)
  elseif tv == "boolean" then
    local s = S[i]
    s.tag = T_BOOL
    s.u.i = v and 1 or 0
  elseif tv == "nil" then
    S[i].tag = T_MISSING
  else
    if not walk(h, S + i, v, 0) then capi_set(h, i, v) end
  end
end

-- ==== The Lua table walker (FFI) ====
--
-- Whole sub-trees (wildcards, len(obj), map_extract...) are converted here
-- with next (compiled by OpenResty's LuaJIT) and FFI allocations in
-- the run arena.  The C lua_next walker (capi.set) is the fallback: it
-- runs when this walker gives up (invalid UTF-8, unsupported types, too
-- deep), and produces the error message with the input path.  Measured
-- reason for walking in Lua on the hot path: a lua_CFunction call per run
-- makes LuaJIT stitch traces, and without a loop trace to close them each
-- stitch started a new trace (600+ traces, mprotect-bound): loan rule
-- 6.7 us per run through capi.set, see bench/lua/README.md.

local new_str, new_arr, new_obj, obj_add, mark, seal =
  api.new_str, api.new_arr, api.new_obj, api.obj_add, api.mark, api.seal
-- 'each' is next under another name: LuaJIT's parser turns a loop
-- 'for k in next, t' or 'for k in pairs(t)' into ITERN, which drops an
-- element when the loop is blacklisted in the middle of a table (LuaJIT
-- #1510, openresty/luajit2 #272; fuzz finding L7: {[1] = x, l = y} walked
-- as {l = y} once in 166,887 runs).  Under another name the loop is a
-- plain ITERC calling next, which has no such state (lua/README.md,
-- "LuaJIT's ITERN"; a spec checks that no module has an ITERN loop).
local each, getmetatable, rawget, rawequal = next, getmetatable, rawget,
  rawequal
local T_NULL, T_STR, T_ARR, T_OBJ = 0, 4, 5, 6
-- Containers counted from the input's root, as the JSON reader counts
-- them (GAVEL_MAX_JSON_DEPTH); the engine's array limit (GAVEL_MAX_ARR_LEN).
local MAX_DEPTH, MAX_ARR = 512, 1000000
-- Tables deeper than CYCLE_AT are checked against their ancestors from
-- that depth on, a set ('onpath': a table is in it while its members are
-- written): a cycle gives up within one turn of it, before a branching
-- one can multiply the work, and every table costs O(1) (thousands of
-- tables 500 levels down are walked in time linear in their number);
-- shallow inputs pay nothing.
local CYCLE_AT = 16
local onpath = {}
local null, empty_array = core.null, core.empty_array
local float_mt, array_mt = core.float_mt, core.array_mt
local cjson_array_mt = core.cjson_array_mt or array_mt
local cjson_empty_array_mt = core.cjson_empty_array_mt or array_mt
local cjson_empty_array = core.cjson_empty_array or empty_array
local ffi_istype = require("ffi").istype
local int64_t = require("ffi").typeof("int64_t")

local function numkey(k)
  if k == floor(k) and k > -1e18 and k < 1e18 then
    return format("%d", k)
  end
  return format("%.17g", k)
end

-- wv(h, s, v, depth) -> true after writing Lua value v into gavel_value *s,
-- false when the C walker must handle it.
wv = function(h, s, v, depth)
  local tv = type(v)
  if tv == "number" then
    if v == floor(v) and v >= -MAX_INT and v <= MAX_INT then
      s.tag = T_INT
      s.u.i = v
    elseif v - v == 0 then -- finite
      s.tag = T_FLOAT
      s.u.f = v
    else
      return false
    end
  elseif tv == "string" then
    local p = new_str(h, v, #v)
    if p == nil then return false end
    s.tag = T_STR
    s.u.s = p
  elseif tv == "boolean" then
    s.tag = T_BOOL
    s.u.i = v and 1 or 0
  elseif tv == "table" then
    if depth >= MAX_DEPTH then return false end
    local mt = getmetatable(v)
    if mt == float_mt then
      local x = rawget(v, 1)
      if type(x) ~= "number" or x - x ~= 0 then return false end
      s.tag = T_FLOAT
      s.u.f = x
      return true
    end
    if depth >= CYCLE_AT then
      if onpath[v] then return false end
      onpath[v] = true
    end
    local n, maxk, allint = 0, 0, true
    for k in each, v do
      n = n + 1
      if allint then
        if type(k) == "number" and k >= 1 and k == floor(k) then
          if k > maxk then maxk = k end
        else
          allint = false
        end
      end
    end
    local marked = mt ~= nil and (mt == array_mt or mt == cjson_array_mt
                                  or mt == cjson_empty_array_mt)
    if allint and (marked or (n > 0 and maxk <= 2 * n + 16)) then
      if maxk > MAX_ARR then return false end -- (uint32_t) would wrap it
      local a = new_arr(h, maxk)
      if a == nil then return false end
      local items = a.items
      for i = 1, maxk do
        local x = rawget(v, i)
        if x ~= nil and not wv(h, items + (i - 1), x, depth + 1) then
          return false
        end
      end
      s.tag = T_ARR
      s.u.a = a
      seal(s) -- nesting header from the children (lgavel.c lg_seal)
    else
      local o = new_obj(h, n)
      if o == nil then return false end
      local hadnum = false
      for k, x in each, v do
        local idx
        if type(k) == "string" then
          -- replaces a number key's entry of the same text
          idx = obj_add(h, o, k, #k, hadnum and 1 or 0)
        elseif type(k) == "number" then
          local ks = numkey(k)
          idx = obj_add(h, o, ks, #ks, 2) -- -2: a string key has the text
          hadnum = true
        else
          return false
        end
        if idx ~= -2 and (idx < 0 or not wv(h, o.vals + idx, x, depth + 1))
        then
          return false
        end
      end
      s.tag = T_OBJ
      s.u.o = o
      seal(s)
    end
    if depth >= CYCLE_AT then onpath[v] = nil end
  elseif v == null then
    s.tag = T_NULL
  elseif v == empty_array or v == cjson_empty_array then
    local a = new_arr(h, 0)
    if a == nil then return false end
    s.tag = T_ARR
    s.u.a = a
  elseif tv == "cdata" and ffi_istype(int64_t, v) then
    s.tag = T_INT
    s.u.i = v
  else
    return false
  end
  return true
end

-- walk(h, s, v, d) -> wv's answer; a walk that gave up leaves part of its
-- path in the set, emptied here.
walk = function(h, s, v, d)
  if wv(h, s, v, d) then return true end
  if each(onpath) ~= nil then onpath = {} end
  return false
end

-- deep(S, h, i, v, d): a whole sub-tree into slot i, which has d
-- containers above it in the input.
local function deep(S, h, i, v, d)
  local m = mark(h)
  if not walk(h, S + i, v, d) then capi_set(h, i, v, m) end
end
_M.write_value = walk

-- tab(v) -> v when it is a table one can descend into, else nil.
local function tab(v)
  if type(v) == "table" then return v end
  return nil
end

-- ==== Reading paths: one rule for every input path ====
--
-- The generated binder reads the input as the table walkers (wv above,
-- lgavel.c's table_value) and gavel.json.encode see it, so a run's outcome
-- does not depend on which of them converts a value (lua/README.md,
-- "Input tables"):
-- * raw reads (rawget, next): metatables (__index proxies) are not
--   consulted, as the walkers do not consult them;
-- * a table is an array when all its keys are positive integers and it is
--   marked (gavel.array_mt, cjson's array metatables) or dense enough
--   (highest key <= 2n + 16); otherwise an object, whose number keys read
--   as text ("1", "1.5"), a string key winning over a number key of the
--   same text;
-- * an index segment (l[0]) reads an array element, a hole (nil below the
--   highest key) as null; nothing on an object;
-- * a digit segment (o.0) is an element of an array, a key of an object.
-- cls(t) -> true, highest key (an array) | false (an object) | nil (a
-- gavel.float box: no members).  Only called for tables read by index or
-- digit segments: O(keys), as the walkers' own test.
local function cls(v)
  local mt = getmetatable(v)
  if mt ~= nil and mt == float_mt then return nil end
  local n, maxk = 0, 0
  for k in each, v do
    n = n + 1
    if type(k) == "number" and k >= 1 and k == floor(k) then
      if k > maxk then maxk = k end
    else
      return false
    end
  end
  local marked = mt ~= nil and (mt == array_mt or mt == cjson_array_mt
                                or mt == cjson_empty_array_mt)
  if marked or (n > 0 and maxk <= 2 * n + 16) then return true, maxk end
  return false
end

-- ix(t, i, isarr, maxk) -> element i (1-based) of an array, null for a
-- hole, nil past its end or on an object.
local function ix(t, i, isarr, maxk)
  if not isarr then return nil end
  local v = rawget(t, i)
  if v == nil and i <= maxk then return null end
  return v
end

-- dg(t, k, i, nk, isarr, maxk) -> digit segment k: element i (1-based)
-- of an array, else key k (a string, or the number nk whose text is k).
local function dg(t, k, i, nk, isarr, maxk)
  if isarr then return ix(t, i, isarr, maxk) end
  if isarr == nil then return nil end
  local v = rawget(t, k)
  if v == nil and nk then v = rawget(t, nk) end
  return v
end

local function digit_index(k)
  if #k > 0 and #k <= 18 and not k:find("%D") then
    return tonumber(k)
  end
  return nil
end

-- needs_cls(node) -> true when a child is read by index or digit segment
local function needs_cls(node)
  for _, c in ipairs(node.children or {}) do
    if c.index or digit_index(c.key) then return true end
  end
  return false
end

local function access(var, child, cv)
  if child.index then
    return format("ix(%s, %d, %s, m%s)", var, child.index + 1, cv, cv)
  end
  local di = digit_index(child.key)
  if di then
    local nk = format("%d", di) == child.key and format("%d", di) or "nil"
    return format("dg(%s, %q, %d, %s, %s, m%s)", var, child.key, di + 1, nk,
                  cv, cv)
  end
  return format("rawget(%s, %q)", var, child.key)
end

local function gen(node, var, depth, out)
  local cv = "c" .. depth
  if needs_cls(node) then
    if depth > 0 then
      out[#out + 1] = format("local %s, m%s if %s then %s, m%s = cls(%s) end",
                             cv, cv, var, cv, cv, var)
    else
      out[#out + 1] = format("local %s, m%s = cls(%s)", cv, cv, var)
    end
  end
  for _, c in ipairs(node.children or {}) do
    local acc = access(var, c, cv)
    if depth > 0 then acc = var .. " and " .. acc end
    if c.leaf then
      out[#out + 1] = format("do local v = %s if type(v) == 'table' then "
        .. "deep(S, h, %d, v, %d) else put(S, h, %d, v) end end", acc,
        c.leaf, depth + 1, c.leaf)
    else
      local nv = "t" .. (depth + 1)
      out[#out + 1] = format("do local %s = tab(%s)", nv, acc)
      gen(c, nv, depth + 1, out)
      out[#out + 1] = "end"
    end
  end
end

-- source(plan) -> Lua source of the binder factory (for tests, debugging)
function _M.source(plan)
  local out = {
    "local put, tab, ix, dg, cls, deep, type, rawget = ...",
    "return function(inp, S, h)",
  }
  if plan.root.leaf then
    out[#out + 1] = "deep(S, h, 0, inp, 0)"
  else
    gen(plan.root, "inp", 0, out)
  end
  out[#out + 1] = "end"
  return concat(out, "\n")
end

-- new(plan) -> binder(input_table, slots, exec)
function _M.new(plan)
  local src = _M.source(plan)
  local factory = assert(loadstring(src, "=gavel.binder"))
  return factory(put, tab, ix, dg, cls, deep, type, rawget)
end

return _M
