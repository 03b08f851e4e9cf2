-- gavel.lua -- the gavel rule engine for LuaJIT: load rulesets, run them on
-- Lua tables, evaluate expressions, and serve host calls from Lua.
-- Errors: failures that happen in normal operation (bad rule document,
-- bad input, an input or result over a limit, a denied capability, a
-- failed host call, gas) return nil, err, code with code the "GAVEL_*"
-- status name; misuse (wrong argument types, an option out of its range)
-- raises error(msg, 2).  See lua/README.md.

local core = require "gavel.core"
local binder = require "gavel.binder"
local providers = require "gavel.providers"

local api, capi, rt = core.api, core.capi, core.rt
local CODE, STATUS = core.CODE, core.STATUS
local check_int = core.check_int
-- 'each' is next: loops 'for k in each, t' are not ITERN loops (LuaJIT
-- #1510 drops an element; lua/README.md, "LuaJIT's ITERN loops")
local error, type, ipairs, each, tostring = error, type, ipairs, next,
  tostring
local rawget = rawget
local pcall, setmetatable, getmetatable = pcall, setmetatable, getmetatable
local format, sub = string.format, string.sub
local floor = math.floor

local capi_exec, capi_set_run = capi.exec, capi.run_json
local capi_trace_run, capi_result = capi.trace_run, capi.result
local capi_trace_bound = capi.trace_bound
local capi_fail, capi_pending = capi.fail, capi.pending
local capi_resume, capi_abandon = capi.resume, capi.abandon
local api_begin, api_run, api_slots = api.begin, api.run, api.slots
local api_result, api_n_metrics = api.result, api.n_metrics
local build_result = require("gavel.value").result
local now_ms = api.now_ms

local OK, PENDING, CAPDENIED = CODE.OK, CODE.PENDING, CODE.CAPDENIED
local RUN_TRACE = capi.RUN_TRACE

local _M = {
  _VERSION = "0.1.0",
  version = core.version,   -- the C library's version string
  null = core.null,         -- JSON null (== cjson.null == ngx.null)
  empty_array = core.empty_array, -- an input sentinel for []
  array_mt = core.array_mt, -- metatable of arrays in results
  providers = providers,
  float = core.float,       -- float(x): a number the engine reads as float
  now_ms = core.now_ms,
}

-- ==== Arrays, nulls, JSON ====

-- array([t]) -> t marked as a JSON array (so an empty one stays [])
function _M.array(t)
  if t ~= nil and type(t) ~= "table" then
    error("gavel.array: expected a table, got " .. type(t), 2)
  end
  return setmetatable(t or {}, core.array_mt)
end

-- is_array(v) -> true for tables the engine returned as arrays (or marked)
function _M.is_array(v)
  return type(v) == "table" and getmetatable(v) == core.array_mt
end

_M.json = {
  -- encode(v) -> JSON text | nil, err, code  (the engine's writer; v obeys
  -- the input limits, lua/README.md "Limits")
  encode = function(v) return capi.json_encode(v, rt) end,
  -- decode(text[, {int64=true}]) -> value | nil, err, code  (the engine's
  -- reader)
  decode = function(s, opts)
    if type(s) ~= "string" then
      error("gavel.json.decode: expected a string", 2)
    end
    return capi.json_decode(s, opts and opts.int64)
  end,
}

-- ==== Runtime configuration ====

-- The numeric fields and their upper bounds (gavel_config in gavel.h).
local CONFIG_FIELDS = {
  gas_limit = "2^63-1", max_input_bytes = "2^63-1", max_gas = "2^63-1",
  max_steps = "2^63-1", max_timeout_ms = 4294967295,
  max_run_bytes = "2^63-1", max_result_bytes = "2^63-1",
  max_call_bytes = "2^63-1",
}
_M.CONFIG_FIELDS = CONFIG_FIELDS

-- configure{ gas_limit, max_input_bytes, max_gas, max_steps,
--            max_timeout_ms, max_run_bytes, max_result_bytes,
--            max_call_bytes, jit } -> true | nil, err, code
-- Sets the configuration of this Lua state's runtime: the default gas
-- budget and input size, and the host ceilings that no ruleset's config
-- can raise.  Call it before the first gavel.load/compile/eval (after,
-- it raises: rulesets already loaded would keep the old values).  Each
-- number must be an integer from 1 to its bound (misuse raises); a field
-- not given keeps its value.  See lua/README.md "Limits".
function _M.configure(opts)
  if type(opts) ~= "table" then
    error("gavel.configure: expected a table", 2)
  end
  for k, v in each, opts do
    local hi = CONFIG_FIELDS[k]
    if hi then
      check_int("gavel.configure", k, v, 1, hi)
    elseif k ~= "jit" then
      error("gavel.configure: unknown option '" .. tostring(k) .. "'", 2)
    end
  end
  return capi.configure(rt, opts)
end

-- config() -> { gas_limit, max_input_bytes, max_gas, ... } (the values in
-- force, defaults filled in)
function _M.config()
  return capi.config(rt)
end

-- ==== Host calls: the pending/resume loop ====

-- Sleeps before a retried host call (the engine's backoff): yields in
-- nginx, blocks in plain LuaJIT.
local function backoff(ms)
  local ngx = rawget(_G, "ngx")
  if ngx and ngx.sleep and pcall(ngx.sleep, ms / 1000) then return end
  capi.sleep_ms(ms)
end

-- Answers pending host calls until the run finishes.  Returns the status,
-- plus a message and code when the run was stopped here (a denied
-- capability).  The provider may yield.
local function drive(rs, h, st)
  local grants = rs._grants
  while st == PENDING do
    local cap, op, params, timeout, rsname, path, attempt, delay, allow,
          trace_id, params_err = capi_pending(h)
    local fn = providers.lookup(cap)
    if grants and not grants[cap] then
      capi_abandon(h)
      return CAPDENIED, format("capability '%s' is not granted to "
        .. "ruleset '%s' (at %s; grant it: add \"%s\" to gavel.load's "
        .. "capabilities = {...})", cap, rsname, path, cap), STATUS[CAPDENIED]
    end
    if delay > 0 then backoff(delay) end
    if params_err then
      -- parameters nested too deeply for Lua: the call fails (the run's
      -- error handling applies, as for a provider's error)
      st = capi_resume(h, false, params_err)
    elseif not fn then
      st = capi_resume(h, false, "no Lua provider is registered for it")
    else
      local t0 = now_ms()
      local ctx = {
        capability = cap, operation = op, timeout_ms = timeout,
        deadline_ms = timeout > 0 and t0 + timeout or nil,
        ruleset = rsname, path = path, attempt = attempt,
        http_allow = allow, trace_id = trace_id,
      }
      local ok, payload, meta = pcall(fn, op, params, ctx)
      local elapsed = now_ms() - t0
      if not ok then
        st = capi_resume(h, false, "provider raised an error: "
                         .. tostring(payload))
      elseif timeout > 0 and elapsed > timeout then
        st = capi_resume(h, false, format("provider timed out after %.0f ms "
                         .. "(timeout_ms %d)", elapsed, timeout))
      elseif payload == nil then
        st = capi_resume(h, false, meta ~= nil and tostring(meta)
                         or "provider returned no payload")
      else
        st = capi_resume(h, true, payload, meta)
      end
    end
  end
  return st
end

-- ==== Rulesets ====

local Ruleset = {}
local rs_mt = { __index = Ruleset, __name = "gavel.ruleset" }

local function new_exec(self)
  local h, err, code = capi_exec(self._ud)
  if not h then return nil, err, code end
  return h, api_slots(h)
end

-- An execution handle from the ruleset's pool (or a new one): h, slots |
-- nil, err, code.  Runs give it back when they finish.
local function take_exec(self)
  local n = self._n
  if n > 0 then
    local h, S = self._ph[n], self._ps[n]
    self._ph[n], self._ps[n], self._n = nil, nil, n - 1
    return h, S
  end
  return new_exec(self)
end

-- rs:run(input[, opts]) -> result | nil, err, code
-- input: a Lua table (read by the generated binder), JSON text, or nil.
-- opts: trace (add res.trace), int64 (ints come back as int64_t cdata).
-- result: { code, message, output[, trace][, metrics] }
function Ruleset.run(self, input, opts)
  local trace, int64 = self._trace, false
  if opts ~= nil then
    if type(opts) ~= "table" then
      error("gavel: run options must be a table", 2)
    end
    if opts.trace then trace = true end
    if opts.int64 then int64 = true end
  end
  local n, h, S, code = nil, take_exec(self)
  if not h then return nil, S, code end
  local st, ti = nil, type(input)
  if trace then
    if ti == "table" then
      -- the binder's input, traced: turning on the trace does not change
      -- what is read (lua/README.md "Input tables")
      api_begin(h)
      self._bind(input, S, h)
      st = capi_trace_bound(h, RUN_TRACE)
    elseif ti ~= "string" and ti ~= "nil" then
      error("gavel: input must be a table, JSON text or nil", 2)
    else
      st = capi_trace_run(h, input, RUN_TRACE)
    end
  elseif ti == "table" then
    api_begin(h)
    self._bind(input, S, h)
    st = api_run(h, 0)
  elseif ti == "string" or ti == "nil" then
    st = capi_set_run(h, input, 0)
  else
    error("gavel: input must be a table, JSON text or nil", 2)
  end
  local _, msg, code
  if st == PENDING then st, msg, code = drive(self, h, st) end
  local res
  if st == OK then
    if trace then
      res, msg, code = capi_result(h, int64)
    else
      res, msg, code = build_result(api_result(h)[0], int64)
      if res and api_n_metrics(h) > 0 then
        res.metrics = capi.metrics(h, int64)
      end
    end
  elseif not msg then
    _, msg, code = capi_fail(h)
  end
  n = self._n + 1
  self._ph[n], self._ps[n], self._n = h, S, n
  if res then return res end
  return nil, msg, code
end

-- ==== rs:run_json: JSON text in, JSON text out ====
-- The request path of resty.gavel: no Lua tables for the input or the
-- result (which also keeps the result's key order).  It drives the public
-- C API (gavel_exec_run_json / _resume_*) over the FFI
-- (resty/gavel/capi_json.lua) and answers host calls as drive() does.
-- Where that face is missing (the CLI's embedded module) it goes through
-- rs:run and the engine's JSON writer.
local rj = nil   -- the FFI face, resolved on first use (false: none)

-- rs:run_json(text[, opts[, i, j]]) -> result JSON text[, metrics]
--   | nil, err, code
-- text: the input JSON (nil or "" = null); i, j: the input is
-- text:sub(i, j) (read in place, not copied; both integers, 1 <= i, j <=
-- #text); opts: trace (add "trace"), metrics (also return the run's metric
-- actions, { {name, value, tags} }, when there are any).  Metric actions
-- never appear in the text.
function Ruleset.run_json(self, text, opts, i, j)
  if text ~= nil and type(text) ~= "string" then
    error("gavel: run_json input must be JSON text or nil", 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("gavel: run options must be a table", 2)
  end
  local from, len = 0, text and #text or 0
  if i ~= nil then
    if not text or type(i) ~= "number" or type(j) ~= "number"
        or i ~= floor(i) or j ~= floor(j) or i < 1 or j > len
        or j < i - 1 then
      error("gavel: run_json range must be integers 1 <= i <= j + 1, "
            .. "j <= #text", 2)
    end
    from, len = i - 1, j - i + 1
  end
  if rj == nil then
    local ok, m = pcall(require, "resty.gavel.capi_json")
    rj = ok and m or false
  end
  if not rj then
    if i ~= nil then text = sub(text, i, j) end
    -- no FFI face (the CLI's embedded module): the binding's JSON path,
    -- the same engine text
    local n, h, S, code = nil, take_exec(self)
    if not h then return nil, S, code end
    local flags = ((opts and opts.trace) or self._trace) and RUN_TRACE or 0
    local st, msg, code = capi_trace_run(h, text, flags)
    if st == PENDING then st, msg, code = drive(self, h, st) end
    local res, metrics
    if st == OK then
      res = capi.result_text(h)
      if opts and opts.metrics and api_n_metrics(h) > 0 then
        metrics = capi.metrics(h)
      end
    elseif not msg then
      local _
      _, msg, code = capi_fail(h)
    end
    n = self._n + 1
    self._ph[n], self._ps[n], self._n = h, S, n
    if res then return res, metrics end
    return nil, msg, code
  end
  local C, out, err = rj.C, rj.out, rj.err
  local n, h, S, code = nil, take_exec(self)
  if not h then return nil, S, code end
  local ex = rj.cast(rj.exp, h)[0]
  local flags = ((opts and opts.trace) or self._trace) and RUN_TRACE or 0
  local st = C.gavel_exec_run_json(ex, text and rj.cast(rj.ccp, text)
                                   + from, len, flags, out, rj.len, err)
  local grants, msg, code = self._grants
  while st == PENDING do
    local cap, op, params, timeout, rsname, path, attempt, delay, allow,
          trace_id, params_err = capi_pending(h)
    local fn = providers.lookup(cap)
    if grants and not grants[cap] then
      capi_abandon(h)
      st, code = CAPDENIED, STATUS[CAPDENIED]
      msg = format("capability '%s' is not granted to ruleset '%s' (at %s; "
                   .. "grant it: add \"%s\" to gavel.load's capabilities = "
                   .. "{...})", cap, rsname, path, cap)
      break
    end
    if delay > 0 then backoff(delay) end
    local ok, payload, meta, t0 = false, "no Lua provider is registered "
      .. "for it", nil, now_ms()
    if params_err then
      -- parameters nested too deeply for Lua: the call fails, as in drive()
      -- (the provider got nil params)
      payload = params_err
    elseif fn then
      ok, payload, meta = pcall(fn, op, params, {
        capability = cap, operation = op, timeout_ms = timeout,
        deadline_ms = timeout > 0 and t0 + timeout or nil, ruleset = rsname,
        path = path, attempt = attempt, http_allow = allow,
        trace_id = trace_id })
      if not ok then
        payload = "provider raised an error: " .. tostring(payload)
      elseif timeout > 0 and now_ms() - t0 > timeout then
        ok, payload = false, format("provider timed out after %.0f ms "
          .. "(timeout_ms %d)", now_ms() - t0, timeout)
      elseif payload == nil then
        ok, payload = false, meta ~= nil and tostring(meta)
                             or "provider returned no payload"
      end
    end
    local pj, mj, e
    if ok then
      pj, e = capi.json_encode(payload)
      if pj and meta ~= nil then mj, e = capi.json_encode(meta) end
      if e then ok, payload = false, "provider returned an unusable "
        .. "reply: " .. e end
    end
    if ok then
      st = C.gavel_exec_resume_json(ex, pj, #pj, mj, mj and #mj or 0, out,
                                    rj.len, err)
    else
      st = C.gavel_exec_resume_error(ex, payload, out, rj.len, err)
    end
  end
  local res, metrics
  if st == OK then
    res = rj.str(out[0], rj.len[0])
    if opts and opts.metrics and api_n_metrics(h) > 0 then
      metrics = capi.metrics(h)
    end
  elseif not msg then
    msg, code = rj.str(err.msg), STATUS[err.code]
  end
  n = self._n + 1
  self._ph[n], self._ps[n], self._n = h, S, n
  if res then return res, metrics end
  return nil, msg, code
end

-- rs:gas_used() -> gas used by this ruleset's last finished run in this
-- Lua state (rs:run or rs:run_json; 0 before any run).  Read it right
-- after the run: the execution contexts are pooled, the last one
-- returned to the pool is the last run's.
function Ruleset.gas_used(self)
  local h = self._ph[self._n]
  if not h then return 0 end
  return capi.gas_used(h)
end

-- rs:name() -> the ruleset's config.name
function Ruleset.name(self)
  return self._name
end

-- rs:binder_source() -> the generated input binder (Lua source)
function Ruleset.binder_source(self)
  return binder.source(self._plan)
end

-- rs:paths() -> the input paths the binder reads, in slot order
function Ruleset.paths(self)
  local out = {}
  for i, p in ipairs(self._plan.paths) do out[i] = p end
  return out
end

local function grants_set(caps)
  if caps == nil then return nil end
  if type(caps) ~= "table" then
    error("gavel.load: opts.capabilities must be a list of names", 3)
  end
  local set = {}
  for _, c in ipairs(caps) do
    if type(c) ~= "string" then
      error("gavel.load: opts.capabilities must be a list of names", 3)
    end
    set[c] = true
  end
  return set
end

-- load(json_text_or_table[, opts]) -> ruleset | nil, err, code, diagnostics
-- opts: capabilities = { names } (grants; default: every provider of this
-- state), allow_http = { "host[:port]", "scheme://host[:port]", ... }
-- (network.http allowlist; providers see it as ctx.http_allow), gas_limit =
-- n, jit = "on" | "off" | "auto" | bool (this ruleset's JIT tier; true =
-- "on", false = "off"; default: the runtime's, GAVEL_JIT or auto),
-- no_capability_check = bool.
-- ruleset.warnings lists load warnings.
function _M.load(src, opts)
  local ts = type(src)
  if ts ~= "string" and ts ~= "table" then
    error("gavel.load: expected JSON text or a table, got " .. ts, 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("gavel.load: opts must be a table", 2)
  end
  opts = opts or {}
  local grants = grants_set(opts.capabilities)
  if opts.gas_limit ~= nil then
    check_int("gavel.load", "opts.gas_limit", opts.gas_limit, 1, "2^63-1")
  end
  if opts.jit ~= nil and type(opts.jit) ~= "boolean"
      and type(opts.jit) ~= "string" then
    error("gavel.load: opts.jit must be \"on\", \"off\", \"auto\" or a "
          .. "boolean", 2)
  end
  if opts.allow_http ~= nil and type(opts.allow_http) ~= "table" then
    error("gavel.load: opts.allow_http must be a list of host[:port]", 2)
  end
  local ud, name, diags, more = capi.load(rt, src, opts.capabilities,
                                          opts.gas_limit,
                                          opts.no_capability_check,
                                          opts.allow_http, opts.jit)
  if not ud then
    return nil, name, diags, more
  end
  local plan = capi.plan(ud)
  local warnings = {}
  for _, d in ipairs(diags) do
    if d.level == "warning" then warnings[#warnings + 1] = d.message end
  end
  return setmetatable({
    _ud = ud, _plan = plan, _bind = binder.new(plan), _grants = grants,
    _trace = plan.enable_trace, _jit = opts.jit and true or false,
    _ph = {}, _ps = {}, _n = 0, _name = name, warnings = warnings,
  }, rs_mt)
end

-- test(rs, suite[, opts]) -> results | nil, err, code: runs an
-- Ordo-format suite (a table, JSON/YAML text or a file path) and returns
-- the table of 'gavel test --reporter json' (lua/gavel/test.lua)
function _M.test(rs, suite, opts)
  return require("gavel.test").test(rs, suite, opts)
end

-- ==== Expressions ====

local Expr = {}
local expr_mt = { __index = Expr, __name = "gavel.expr" }

local max_input -- the runtime's max_input_bytes (fixed once in use)

local function context_of(ctx, who)
  local tc = type(ctx)
  if tc == "string" then
    -- JSON text context: the limit of rs:run's JSON text input
    max_input = max_input or capi.config(rt).max_input_bytes
    local max = max_input
    if #ctx > max then
      return nil, format("input too large: %d bytes (max %d)", #ctx, max),
             STATUS[CODE.LIMIT]
    end
    return ctx -- read by capi.eval with the engine's JSON reader
  end
  if tc ~= "table" and tc ~= "nil" then
    error(who .. ": context must be a table, JSON text or nil", 3)
  end
  return ctx
end

-- expr:eval([context[, opts]]) -> value | nil, err, code
-- JSON null comes back as gavel.null, so nil always means failure.
function Expr.eval(self, ctx, opts)
  local c, err, code = context_of(ctx, "expr:eval")
  if err then return nil, err, code end
  return capi.eval(self._ud, c, opts and opts.int64)
end

-- expr:disasm() -> the bytecode listing
function Expr.disasm(self)
  return capi.disasm(self._ud)
end

-- compile(source) -> expr | nil, err, code
function _M.compile(src)
  if type(src) ~= "string" then
    error("gavel.compile: expected a string, got " .. type(src), 2)
  end
  local ud, err, code = capi.expr(rt, src)
  if not ud then return nil, err, code end
  return setmetatable({ _ud = ud, source = src }, expr_mt)
end

-- A small cache of compiled expressions for eval() (per state).
local cache, n_cache, CACHE_MAX = {}, 0, 256

-- eval(source[, context[, opts]]) -> value | nil, err, code
function _M.eval(src, ctx, opts)
  if type(src) ~= "string" then
    error("gavel.eval: expected a string, got " .. type(src), 2)
  end
  local e = cache[src]
  if not e then
    local err, code
    e, err, code = _M.compile(src)
    if not e then return nil, err, code end
    if n_cache >= CACHE_MAX then cache, n_cache = {}, 0 end
    cache[src], n_cache = e, n_cache + 1
  end
  return e:eval(ctx, opts)
end

-- ==== gavel.batch: JSONL in, JSONL out ====

-- The error kinds of 'gavel batch' error lines, by status code.
local BATCH_KIND = {
  GAVEL_JSON = "input", GAVEL_GAS = "gas", GAVEL_HOST = "host",
  GAVEL_LIMIT = "limit", GAVEL_NOMEM = "memory", GAVEL_PENDING = "pending",
}

local function batch_error_line(kind, msg)
  local m = capi.json_encode(msg, rt) or '"?"'
  return '{"error":{"kind":"' .. kind .. '","message":' .. m .. '}}'
end

local function batch_progress(n, errors, t0, final)
  local dt = now_ms() - t0
  local rate = dt > 0 and n * 1000 / dt or 0
  if final then
    io.stderr:write(format("\rbatch: %d lines in %.3f s (%.0f lines/s); "
                           .. "errors=%d\n", n, dt / 1000, rate, errors))
  else
    io.stderr:write(format("\rbatch: %d lines, %.0f lines/s, errors=%d",
                           n, rate, errors))
  end
end

-- gavel.batch(rs, lines[, opts]) -> { lines, errors, seconds }
-- Runs 'rs' on every line of 'lines' (an iterator function such as
-- io.lines(path) or file:lines(), or a table of strings) with
-- rs:run_json: JSON text in and out, no Lua tables, the engine's key
-- order kept.  Each result goes to opts.on_result(text, lineno, ok) when
-- given, else is written with a newline to opts.output (a file, default
-- io.stdout).  A failing line gives the same error line as 'gavel batch'
-- ({"error":{"kind":...,"message":...}}, ok = false) and the batch goes
-- on; an empty line is an "input" error.  opts.progress = true prints
-- "batch: N lines, R lines/s" on stderr about once a second and a summary
-- at the end; a function is called as progress(lines, errors, seconds)
-- instead.  opts.trace adds the trace to every result.  A result that
-- cannot be written (a full disk, a closed pipe) returns nil, err.
function _M.batch(rs, lines, opts)
  if type(rs) ~= "table" or not rs.run_json then
    error("gavel.batch: expected a ruleset", 2)
  end
  local it = lines
  if type(lines) == "table" then
    local i = 0
    it = function() i = i + 1; return lines[i] end
  elseif type(lines) ~= "function" then
    error("gavel.batch: lines must be an iterator function or a table", 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("gavel.batch: options must be a table", 2)
  end
  opts = opts or {}
  local on_result, out = opts.on_result, opts.output or io.stdout
  if on_result ~= nil and type(on_result) ~= "function" then
    error("gavel.batch: on_result must be a function", 2)
  end
  local progress = opts.progress
  local run_opts = opts.trace and { trace = true } or nil
  local run_json = rs.run_json
  local n, errors, t0, next_report = 0, 0, now_ms(), 1024
  local last = t0
  for line in it do
    n = n + 1
    local res, err, code
    if line == "" then
      err, code = "empty input line", "GAVEL_JSON"
    else
      res, err, code = run_json(rs, line, run_opts)
    end
    local ok = res ~= nil
    if not ok then
      errors = errors + 1
      res = batch_error_line(BATCH_KIND[code] or "exec", err)
    end
    if on_result then
      on_result(res, n, ok)
    else
      local wok, werr = out:write(res, "\n")
      if not wok then
        return nil, "gavel.batch: cannot write the result of line " .. n
                    .. ": " .. tostring(werr)
      end
    end
    if progress and n >= next_report then
      next_report = n + 1024
      local t = now_ms()
      if t - last >= 1000 then
        last = t
        if progress == true then
          batch_progress(n, errors, t0)
        else
          progress(n, errors, (t - t0) / 1000)
        end
      end
    end
  end
  if not on_result then -- a full disk shows at the flush: never "done"
    local fok, ferr = out:flush()
    if not fok then
      return nil, "gavel.batch: cannot write the results: " .. tostring(ferr)
    end
  end
  local secs = (now_ms() - t0) / 1000
  if progress == true then
    batch_progress(n, errors, t0, true)
  elseif progress then
    progress(n, errors, secs)
  end
  return { lines = n, errors = errors, seconds = secs }
end

return _M
