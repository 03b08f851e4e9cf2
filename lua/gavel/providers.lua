-- gavel/providers.lua -- capability providers of a Lua state.
--
-- One registry and one name space for C and Lua providers: the engine
-- runtime of the state (gavel.core's 'rt').  Registering a Lua provider
-- makes the capability asynchronous in that runtime (runs stop with a
-- pending host call that rs:run answers by calling the Lua function), and
-- keeps any C provider it replaces callable through get(), so Lua can wrap
-- or override C providers.
-- Errors: misuse (bad name, non-function) raises error(msg, 2).
--
-- Per-state value kept here: 'lua_providers' (name -> function).
--
-- Provider protocol: fn(operation, params, ctx) -> payload[, metadata]
-- or nil, err.  'ctx' has capability, operation, timeout_ms, deadline_ms
-- (when timeout_ms > 0), ruleset and path.  The function may yield when
-- rs:run runs in a coroutine (nginx cosockets, ngx.sleep).

local core = require "gavel.core"

local capi, rt = core.capi, core.rt
-- 'each' is next: loops 'for k in each, t' are not ITERN loops (LuaJIT
-- #1510 drops an element; lua/README.md, "LuaJIT's ITERN loops")
local error, getmetatable, each, type = error, getmetatable, next, type

local _M = { _VERSION = "0.1.0" }

local lua_providers = {}

local function check_name(name)
  if type(name) ~= "string" or name == "" then
    error("gavel.providers: capability name must be a non-empty string", 3)
  end
end

-- register(name, fn) -> true | nil, err, code
function _M.register(name, fn)
  check_name(name)
  if type(fn) ~= "function" and not (type(fn) == "table"
      and getmetatable(fn) and getmetatable(fn).__call) then
    error("gavel.providers.register: provider must be callable", 2)
  end
  local ok, err, code = capi.provide(rt, name)
  if not ok then return nil, err, code end
  lua_providers[name] = fn
  return true
end

-- unregister(name) -> true: drops the Lua provider; runs calling the
-- capability then fail with a host-call error (a replaced C provider is
-- not reinstated: call register(name, get_c(name)) for that).
function _M.unregister(name)
  check_name(name)
  lua_providers[name] = nil
  return true
end

-- get_c(name) -> function(operation, params, ctx) calling the C provider
-- of 'name' (also one a Lua provider replaced), or nil when there is none.
-- It returns payload, metadata or nil, err.
function _M.get_c(name)
  check_name(name)
  if not capi.has_c(rt, name) then return nil end
  return function(operation, params, ctx)
    ctx = ctx or {}
    if ctx.timeout_ms ~= nil then -- the C side stores it as a uint32_t
      core.check_int("gavel.providers: C provider " .. name,
                     "ctx.timeout_ms", ctx.timeout_ms, 0, 4294967295)
    end
    return capi.invoke_c(rt, name, operation, params, ctx.timeout_ms,
                         ctx.ruleset, ctx.path)
  end
end

-- get(name) -> the Lua provider, or a caller of the C provider, or nil
function _M.get(name)
  check_name(name)
  return lua_providers[name] or _M.get_c(name)
end

-- lookup(name) -> the Lua provider or nil (the run loop's fast lookup)
function _M.lookup(name)
  return lua_providers[name]
end

-- functions() -> { name = fn } for the Lua providers (a copy; used by C
-- hosts that register them as synchronous providers, cli/cmd_lua.c)
function _M.functions()
  local out = {}
  for name, fn in each, lua_providers do out[name] = fn end
  return out
end

-- list() -> { name = "lua" | "c" } for every capability of this state
function _M.list()
  local out = {}
  for name, kind in each, capi.provided(rt) do
    out[name] = kind == "c" and "c" or nil
  end
  for name in each, lua_providers do out[name] = "lua" end
  return out
end

return _M
