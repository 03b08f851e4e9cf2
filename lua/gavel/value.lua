-- gavel/value.lua -- engine values -> Lua values, read through the FFI.
--
-- The hot path of rs:run builds its result here, in JIT-compiled Lua that
-- reads the engine's 16-byte values directly, instead of through the C
-- API builder (capi.result): measured on the 4-branch rule, 180 ns per
-- result through the C API (stitched trace, registry lookups, C-side
-- string interning) against ~40 ns here (bench/lua/README.md).  The C API
-- builder stays for trace results, pending-call parameters and eval.
-- Errors: a value nested deeper than MAX_DEPTH containers converts to nil
-- (JSON null is gavel.null, so nil means only this); result() then
-- returns nil, err, code.  The values come from the engine and are well
-- formed otherwise.

local ffi = require "ffi"
local core = require "gavel.core"

local ffi_string = ffi.string
local tonumber, setmetatable = tonumber, setmetatable
local ok_tnew, tnew = pcall(require, "table.new")
if not ok_tnew then tnew = function() return {} end end

local _M = { _VERSION = "0.1.0" }

local null, array_mt = core.null, core.array_mt

-- Tags of core/value.h (gv_type).
local T_BOOL, T_INT, T_FLOAT, T_STR, T_ARR, T_OBJ, T_MISSING =
  1, 2, 3, 4, 5, 6, 7

-- Nested containers converted, as lgavel.c's LG_MAX_RESULT_DEPTH: a
-- value's 512 levels (the engine's cap) plus the result's own and some
-- room.  The bound keeps the Lua stack small whatever the engine returns.
local MAX_DEPTH = 520
local DEEP_MSG = "result nested deeper than 520 levels"

local tolua

local function object(o, int64, d)
  local n = o.len
  local t = tnew(0, n)
  local keys, vals = o.keys, o.vals
  for i = 0, n - 1 do
    local v = vals[i]
    if v.tag ~= T_MISSING then
      local k = keys[i]
      local x = tolua(v, int64, d)
      if x == nil then return nil end
      t[ffi_string(k.s, k.len)] = x
    end
  end
  return t
end

local function array(a, int64, d)
  local n = a.len
  local t = tnew(n, 0)
  local items = a.items
  for i = 0, n - 1 do
    local x = tolua(items[i], int64, d)
    if x == nil then return nil end
    t[i + 1] = x
  end
  return setmetatable(t, array_mt)
end

-- tolua(v[, int64[, depth]]) -> the Lua value of gavel_value 'v', or nil
-- when it holds containers nested deeper than MAX_DEPTH (counting
-- 'depth' containers above it).  Ints are numbers, or int64_t cdata when
-- 'int64' is set; null is gavel.null; arrays carry gavel.array_mt.
function tolua(v, int64, depth)
  local tag = tonumber(v.tag)
  if tag == T_STR then
    local s = v.u.s
    return ffi_string(s.s, s.len)
  elseif tag == T_INT then
    if int64 then return v.u.i + 0LL end
    return tonumber(v.u.i)
  elseif tag == T_FLOAT then
    return v.u.f
  elseif tag == T_OBJ or tag == T_ARR then
    local d = (depth or 0) + 1
    if d > MAX_DEPTH then return nil end
    if tag == T_OBJ then return object(v.u.o, int64, d) end
    return array(v.u.a, int64, d)
  elseif tag == T_BOOL then
    return v.u.i ~= 0
  end
  return null
end

_M.tolua = tolua

local function str(v)
  local s = v.u.s
  return ffi_string(s.s, s.len)
end

-- result(v[, int64]) -> the result table of a run, or nil, err, code
-- (nested too deeply).  The scheduler builds
-- {code, message, output} in this order; reading the three slots without
-- hashing the keys keeps the common case in one trace (the key lengths are
-- checked, anything else takes the generic path).
function _M.result(v, int64)
  local o = v.u.o
  if v.tag == T_OBJ and o.len == 3 then
    local keys, vals = o.keys, o.vals
    local c, m, out = vals[0], vals[1], vals[2]
    if keys[0].len == 4 and keys[1].len == 7 and keys[2].len == 6
        and c.tag == T_STR and m.tag == T_STR and out.tag == T_OBJ then
      local oo = out.u.o
      local output = oo.len == 0 and {} or object(oo, int64, 2)
      if output == nil then return nil, DEEP_MSG, "GAVEL_LIMIT" end
      return { code = str(c), message = str(m), output = output }
    end
  end
  local r = tolua(v, int64)
  if r == nil then return nil, DEEP_MSG, "GAVEL_LIMIT" end
  return r
end

return _M
