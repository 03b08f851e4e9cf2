-- gavel/core.lua -- the one place that binds the C side: the C module
-- gavel.capi (Lua C API face) and its FFI face (gavel_lua_api).
-- The only module that calls ffi.cdef.  Raises at require time when the C
-- module and these declarations disagree (ABI check); otherwise never.
--
-- Per-state values kept here (documented upvalues): 'rt', the engine
-- runtime shared by every ruleset, expression and provider of this Lua
-- state; the marker table handed to the C walkers.

local ffi = require "ffi"
local capi = require "gavel.capi"

local ffi_cast, ffi_istype, ffi_new = ffi.cast, ffi.istype, ffi.new
local pcall, tostring, type, error = pcall, tostring, type, error
local setmetatable = setmetatable
local floor, format = math.floor, string.format

local _M = { _VERSION = "0.1.0" }

-- Declarations of gavel.h (gavel_error, the status numbers) and of the
-- binding's FFI face (lua/src/lgavel.c: gavel_lua_api).  spec/lua/
-- core_spec.lua checks them against the header and the C sizes.
-- Guarded: a second copy of this module in the same state (package.loaded
-- cleared, lua_code_cache off) must not redefine the types.
if not pcall(ffi.typeof, "gavel_lua_api") then
  ffi.cdef [[
typedef struct gavel_error {
  int code;
  int line;
  int column;
  long offset;
  char path[256];
  char msg[512];
} gavel_error;

typedef struct gavel_str {
  uint32_t len;
  uint32_t hash;
  char s[1];
} gavel_str;

struct gavel_value;
typedef struct gavel_arr {
  uint32_t len;
  uint32_t cap;
  struct gavel_value *items;
  uint32_t depth;
  uint32_t spare;
} gavel_arr;

typedef struct gavel_obj {
  uint32_t len;
  uint32_t cap;
  gavel_str **keys;
  struct gavel_value *vals;
  uint32_t depth;
  uint32_t idx_mask;
  uint32_t *idx;
} gavel_obj;

typedef struct gavel_value {
  uint64_t tag;
  union {
    int64_t i;
    double f;
    gavel_str *s;
    gavel_arr *a;
    gavel_obj *o;
    void *p;
  } u;
} gavel_value;

typedef struct gavel_lua_exec gavel_lua_exec;

typedef struct gavel_lua_api {
  unsigned abi;
  unsigned error_size;
  unsigned value_size;
  unsigned (*version)(void);
  const char *(*status_name)(int code);
  double (*now_ms)(void);
  void (*begin)(gavel_lua_exec *h);
  void (*set_str)(gavel_lua_exec *h, int slot, const char *s, size_t len);
  int (*run)(gavel_lua_exec *h, unsigned flags);
  gavel_value *(*slots)(gavel_lua_exec *h);
  void (*abandon)(gavel_lua_exec *h);
  const gavel_value *(*result)(gavel_lua_exec *h);
  int (*n_metrics)(gavel_lua_exec *h);
  unsigned str_s_offset;
  unsigned obj_size;
  unsigned arr_size;
  gavel_str *(*new_str)(gavel_lua_exec *h, const char *s, size_t len);
  gavel_arr *(*new_arr)(gavel_lua_exec *h, uint32_t n);
  gavel_obj *(*new_obj)(gavel_lua_exec *h, uint32_t cap);
  int (*obj_add)(gavel_lua_exec *h, gavel_obj *o, const char *k, size_t klen,
                 int replace);
  double (*mark)(gavel_lua_exec *h);
  void (*seal)(gavel_value *v);
  unsigned arr_items_offset;
  unsigned obj_keys_offset;
  unsigned obj_vals_offset;
} gavel_lua_api;
]]
end

local api = ffi_cast("const gavel_lua_api *", capi.api())

-- ==== ABI check (house style 2.2 rule 6) ====

local ABI_MAJOR = 0
if api.abi ~= capi.version or api.version() ~= capi.version then
  error("gavel: C module ABI mismatch: module " .. tostring(capi.version)
        .. ", library " .. tostring(api.version()))
end
if math.floor(api.abi / 65536) ~= ABI_MAJOR then
  error("gavel: Lua binding is for major version " .. ABI_MAJOR
        .. ", C library is " .. capi.version_string)
end
-- gavel_arr / gavel_obj declare the leading fields of gv_arr / gv_obj,
-- the only ones Lua reads (it never allocates them nor steps over them):
-- the core may append fields (nesting headers, a key index).
if api.error_size ~= ffi.sizeof("gavel_error")
    or api.value_size ~= ffi.sizeof("gavel_value")
    or api.str_s_offset ~= ffi.offsetof("gavel_str", "s")
    or api.arr_items_offset ~= ffi.offsetof("gavel_arr", "items")
    or api.obj_keys_offset ~= ffi.offsetof("gavel_obj", "keys")
    or api.obj_vals_offset ~= ffi.offsetof("gavel_obj", "vals")
    or api.obj_size < ffi.sizeof("gavel_obj")
    or api.arr_size < ffi.sizeof("gavel_arr") then
  error("gavel: FFI declarations out of date (value layout differs)")
end

-- ==== Status codes ====

-- STATUS[n] = "GAVEL_X" and CODE.X = n, read from the library itself.
local STATUS, CODE = {}, {}
for n = 0, 63 do
  local name = ffi.string(api.status_name(n))
  if name == "GAVEL_UNKNOWN" then break end
  STATUS[n] = name
  CODE[name:sub(7)] = n
end

-- ==== Sentinels shared with the C walkers ====

local ok_cjson, cjson = pcall(require, "cjson")
if not ok_cjson then cjson = nil end

-- Arrays returned by the engine carry this metatable.  OpenResty's cjson
-- has array_mt (encodes [] for an empty table); use it when present, so
-- results round-trip through cjson.encode unchanged.
-- A second copy of this module in the same state reuses the sentinels the
-- first one registered (values made by either copy must stay readable).
local prev = capi.get_markers() or {}
local array_mt = prev.array_mt
  or cjson and cjson.array_mt or { __name = "gavel.array" }
local float_mt = prev.float_mt or {
  __name = "gavel.float",
  __tostring = function(b) return tostring(b[1]) end,
}

local int64_t = ffi.typeof("int64_t")
local uint64_t = ffi.typeof("uint64_t")

-- cdata in input: int64_t/uint64_t -> int, double/float -> float,
-- NULL pointer -> null.  Returns a kind letter and a value.
local function cdata_kind(v)
  if ffi_istype(int64_t, v) or ffi_istype(uint64_t, v) then
    return "i", (tostring(v):gsub("U?LL$", ""))
  end
  if ffi_istype("double", v) or ffi_istype("float", v) then
    return "f", tonumber(v)
  end
  if v == nil then return "n", 0 end
  return nil
end

local function int64(hi, lo)
  return ffi_new(int64_t, hi) * 4294967296LL + lo
end

capi.set_markers {
  array_mt = array_mt,
  float_mt = float_mt,
  cjson_array_mt = cjson and cjson.array_mt or nil,
  cjson_empty_array_mt = cjson and cjson.empty_array_mt or nil,
  cjson_empty_array = cjson and cjson.empty_array or nil,
  cdata = cdata_kind,
  int64 = int64,
}

-- ==== Exports ====

_M.capi = capi                  -- the C API face (lua_CFunctions)
_M.api = api                    -- the FFI face (const gavel_lua_api *)
_M.STATUS = STATUS
_M.CODE = CODE
_M.array_mt = array_mt
_M.float_mt = float_mt
_M.cjson_array_mt = cjson and cjson.array_mt or nil
_M.cjson_empty_array_mt = cjson and cjson.empty_array_mt or nil
_M.cjson_empty_array = cjson and cjson.empty_array or nil
_M.empty_array = capi.empty_array
_M.cjson = cjson
_M.version = capi.version_string

-- The null sentinel is a NULL light userdata (the value of cjson.null and
-- ngx.null).  The C module returns it for JSON null.
_M.null = capi.json_decode("null")

-- The per-state runtime: every ruleset, expression and provider of this
-- Lua state lives in it.
_M.rt = assert(capi.runtime())

-- float(x) -> a box that the engine reads as a GV_FLOAT even when x is
-- integral.
function _M.float(x)
  if type(x) ~= "number" then
    error("gavel.float: expected a number, got " .. type(x), 2)
  end
  return setmetatable({ x }, float_mt)
end

-- check_int(who, name, v, lo, hi[, level]) -> v: raises "who: name must
-- be an integer from lo to hi, got v" (at 'level', default 3: the caller
-- of the function that checks) unless v is an integral number within
-- [lo, hi]; NaN, infinities and fractions fail.  hi may be "2^63-1" (the
-- largest double below 2^63 is then the bound).  Numeric options are
-- checked with it: a bad value is misuse (lua/README.md "Errors").
local TWO63 = 2^63
function _M.check_int(who, name, v, lo, hi, level)
  local hi_n = hi == "2^63-1" and TWO63 or hi
  if type(v) ~= "number" or v ~= v or v < lo or v ~= floor(v)
      or (hi_n == TWO63 and v >= TWO63) or (hi_n ~= TWO63 and v > hi_n) then
    error(format("%s: %s must be an integer from %s to %s, got %s", who,
                 name, tostring(lo), tostring(hi),
                 type(v) == "number" and format("%.17g", v) or type(v)),
          level or 3)
  end
  return v
end

-- now_ms() -> monotonic milliseconds (FFI, for deadlines)
function _M.now_ms()
  return api.now_ms()
end

return _M
