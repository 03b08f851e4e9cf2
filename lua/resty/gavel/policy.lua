-- resty/gavel/policy.lua -- capability policies from Lua, on the engine's
-- own policy machinery (gavel_runtime_set_policy): a timeout cap, retries
-- with backoff for idempotent operations, a circuit breaker, and a cap on
-- calls in flight.  They apply to every call of the capability, whatever
-- provider serves it (C or Lua, synchronous or pending).  No ngx needed.
--
--   policy("network.http", { timeout_ms = 500, retries = 2,
--     backoff_ms = 50, backoff_max_ms = 1000,
--     breaker = { threshold = 5, reset_ms = 10000 }, concurrency = 32,
--     idempotent = { "GET", "HEAD" } })          -> true | nil, err, code
--
-- Set policies in init_worker_by_lua (before traffic): setting one
-- replaces the capability's previous policy and its breaker state.
-- The runtime is the one gavel.core created for this Lua state; its
-- gavel_runtime pointer is read from the binding's handle (lgavel.c:
-- the userdata holds an lg_rt *, whose first member is the runtime).

local ffi = require "ffi"
local core = require "gavel.core"

-- 'each' is next: loops 'for k in each, t' are not ITERN loops (LuaJIT
-- #1510 drops an element; lua/README.md, "LuaJIT's ITERN loops")
local type, each, ipairs, error, tostring = type, next, ipairs, error,
  tostring
local floor = math.floor

pcall(ffi.cdef, [[
typedef struct gavel_runtime gavel_runtime;
typedef struct gavel_policy {
  uint32_t max_timeout_ms;
  uint32_t retries;
  uint32_t backoff_ms;
  uint32_t backoff_max_ms;
  uint32_t breaker_threshold;
  uint32_t breaker_reset_ms;
  uint32_t max_concurrency;
  const char *const *idempotent_ops;
  size_t n_idempotent_ops;
} gavel_policy;
int gavel_runtime_set_policy(gavel_runtime *rt, const char *capability,
                             const gavel_policy *policy, gavel_error *err);
]])

local lib = ffi.load(package.searchpath("gavel.capi", package.cpath))
local rt_ptr = ffi.cast("gavel_runtime ***", core.rt)[0][0]

local KNOWN = { timeout_ms = true, retries = true, backoff_ms = true,
                backoff_max_ms = true, breaker = true, concurrency = true,
                idempotent = true }

local function count(v, what)
  if v == nil then return 0 end
  if type(v) ~= "number" or v < 0 or v ~= floor(v) or v > 4294967295 then
    error("gavel.policy: " .. what .. " must be an integer >= 0", 3)
  end
  return v
end

return function(capability, opts)
  if type(capability) ~= "string" or capability == "" then
    error("gavel.policy: capability must be a name", 2)
  end
  if type(opts) ~= "table" then
    error("gavel.policy: expected a table of settings", 2)
  end
  for k in each, opts do
    if not KNOWN[k] then
      error("gavel.policy: unknown setting '" .. tostring(k) .. "'", 2)
    end
  end
  local p = ffi.new("gavel_policy")
  p.max_timeout_ms = count(opts.timeout_ms, "timeout_ms")
  p.retries = count(opts.retries, "retries")
  p.backoff_ms = count(opts.backoff_ms, "backoff_ms")
  p.backoff_max_ms = count(opts.backoff_max_ms, "backoff_max_ms")
  p.max_concurrency = count(opts.concurrency, "concurrency")
  local b = opts.breaker
  if b ~= nil then
    if type(b) ~= "table" then
      error("gavel.policy: breaker must be { threshold, reset_ms }", 2)
    end
    p.breaker_threshold = count(b.threshold, "breaker.threshold")
    p.breaker_reset_ms = count(b.reset_ms, "breaker.reset_ms")
  end
  local ops
  if opts.idempotent ~= nil then
    if type(opts.idempotent) ~= "table" then
      error("gavel.policy: idempotent must be a list of operations", 2)
    end
    ops = ffi.new("const char *[?]", #opts.idempotent + 1)
    for i, op in ipairs(opts.idempotent) do
      if type(op) ~= "string" then
        error("gavel.policy: idempotent must be a list of operations", 2)
      end
      ops[i - 1] = op
    end
    p.idempotent_ops = ops
    p.n_idempotent_ops = #opts.idempotent
  end
  local err = ffi.new("gavel_error")
  -- the strings in opts.idempotent stay alive (opts is live) during the
  -- call; the engine copies the policy
  local st = lib.gavel_runtime_set_policy(rt_ptr, capability, p, err)
  if st ~= 0 then
    return nil, ffi.string(err.msg), core.STATUS[st]
  end
  return true
end
