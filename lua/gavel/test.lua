-- gavel/test.lua -- gavel.test(rs, suite[, opts]): runs an Ordo-format
-- test suite against a loaded ruleset and returns the results table of
-- 'gavel test --reporter json' ({passed, failed, skipped, tests = {{suite,
-- name, status = "pass"|"fail"|"skip", duration_us, message?}}}), for
-- busted users.  The checks and messages are those of cli/cmd_test.c.
--
-- suite: a Lua table ({description, tests = {...}} or a bare list of
-- cases), or JSON/YAML text, or the path of a .json/.yaml/.yml file.  YAML
-- is read by the engine's YAML reader (yaml_unmarshal).
-- Cases: {name, input, expect = {code, message, output, output_includes,
-- error, error_contains, trace = {path, step_count, contains_step},
-- duration_max_us, gas_max}, skip, host, gas_max}.  'host' ({capability =
-- {operation = answer}}) answers the case's host calls without a network:
-- an answer is the payload, {payload = P, metadata = M} or {error = "msg"}.
-- A capability stubbed by any case of the suite is answered only by the
-- stubs (a case without a stub for a call fails, as in 'gavel test'); the
-- others go to the Lua providers of the state.  A stubbed capability must
-- reach Lua (a Lua provider, or none): gavel.test makes it asynchronous
-- for the run when a C provider serves it, and puts that C provider back
-- (behind a Lua wrapper) afterwards; a capability nothing provided stays
-- declared (asynchronous, without a Lua provider: runs outside gavel.test
-- fail its calls with "no Lua provider is registered for it").
--
-- Errors: a suite that cannot be read or parsed is nil, err, code; bad
-- argument types raise.

local core = require "gavel.core"
local providers = require "gavel.providers"

local capi, rt, STATUS, CODE = core.capi, core.rt, core.STATUS, core.CODE
-- 'each' is next: loops 'for k in each, t' are not ITERN loops (LuaJIT
-- #1510 drops an element; lua/README.md, "LuaJIT's ITERN loops")
local error, type, each, ipairs, tostring, pcall, next = error, type,
  next, ipairs, tostring, pcall, next
local getmetatable, sort = getmetatable, table.sort
local format, find, match, sub = string.format, string.find, string.match,
  string.sub
local now_ms = core.now_ms

local OK, PENDING = CODE.OK, CODE.PENDING
local RUN_TRACE = capi.RUN_TRACE
local null = core.null
local array_mt = core.array_mt

local _M = { _VERSION = "0.1.0" }

-- ==== Reading the suite ====

local function is_array(v)
  return type(v) == "table" and (getmetatable(v) == array_mt
    or (core.cjson_array_mt and getmetatable(v) == core.cjson_array_mt))
end

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("*a")
  f:close()
  return s
end

local yaml_expr
local function yaml_decode(text)
  if not yaml_expr then
    local e, err, code = require("gavel").compile("yaml_unmarshal(text)")
    if not e then return nil, err, code end
    yaml_expr = e
  end
  return yaml_expr:eval({ text = text })
end

-- suite_of(suite) -> doc, name | nil, err, code
local function suite_of(suite, name)
  if type(suite) == "table" then return suite, name or "suite" end
  local text, json_only = suite, false
  if not find(suite, "\n", 1, true) and (match(suite, "%.ya?ml$")
      or match(suite, "%.json$")) then
    local err
    text, err = read_file(suite)
    if not text then
      return nil, "cannot read suite " .. suite .. ": " .. tostring(err),
             "GAVEL_IO"
    end
    json_only = match(suite, "%.json$") ~= nil
    name = name or suite
  end
  name = name or "suite"
  local doc, err, code
  if json_only or match(text, "^%s*[%[{]") then
    doc, err, code = capi.json_decode(text)
    if doc ~= nil or json_only then
      if doc == nil then return nil, name .. ": " .. err, code end
      return doc, name
    end
  end
  doc, err, code = yaml_decode(text)
  if doc == nil then return nil, name .. ": " .. tostring(err), code end
  return doc, name
end

-- ==== Comparing (cli_diff) ====

local encode = function(v)
  if v == nil then return "(absent)" end
  local s = capi.json_encode(v, rt)
  return s and sub(s, 1, 200) or tostring(v)
end

local function path_key(path, k)
  k = tostring(k)
  if match(k, "^[%a_][%w_]*$") then
    return path == "" and k or path .. "." .. k
  end
  return path .. '["' .. k .. '"]'
end

local function sorted_keys(t)
  local ks = {}
  for k in each, t do ks[#ks + 1] = k end
  sort(ks, function(a, b) return tostring(a) < tostring(b) end)
  return ks
end

-- diff(e, a, subset, path) -> nil | path, e_at, a_at (the first difference)
local function diff(e, a, subset, path, depth)
  if depth > 520 then return nil end
  local te, ta = type(e), type(a)
  if te == "table" and ta == "table" and not is_array(e) and not is_array(a)
      then
    for _, k in ipairs(sorted_keys(e)) do
      local p = path_key(path, k)
      if a[k] == nil then return p, e[k], nil end
      local dp, de, da = diff(e[k], a[k], subset, p, depth + 1)
      if dp then return dp, de, da end
    end
    if not subset then
      for _, k in ipairs(sorted_keys(a)) do
        if e[k] == nil then return path_key(path, k), nil, a[k] end
      end
    end
    return nil
  end
  if te == "table" and ta == "table" and is_array(e) and is_array(a) then
    local n = #e < #a and #e or #a
    for i = 1, n do
      local dp, de, da = diff(e[i], a[i], subset,
                              path .. "[" .. (i - 1) .. "]", depth + 1)
      if dp then return dp, de, da end
    end
    if #e ~= #a then return path .. "[" .. n .. "]", e[n + 1], a[n + 1] end
    return nil
  end
  if te == "table" and ta == "table" and next(e) == nil and next(a) == nil
      and getmetatable(e) == nil then
    return nil -- an empty Lua table in a suite written in Lua: {} or []
  end
  if e == a then return nil end
  return path, e, a
end

local function mismatch(path, e, a)
  return format("%s: expected %s, got %s", path, encode(e), encode(a))
end

local function str_of(v) return type(v) == "string" and v or nil end

-- check(expect, res, err, code, us) -> nil | failure message
local ERROR_KIND = {
  GAVEL_JSON = "input", GAVEL_GAS = "gas", GAVEL_HOST = "host",
  GAVEL_LIMIT = "limit", GAVEL_NOMEM = "memory", GAVEL_PENDING = "pending",
}
local function check(expect, res, err, code, us)
  local ex_err = type(expect) == "table" and expect.error or nil
  local ex_errc = type(expect) == "table" and expect.error_contains or nil
  if ex_err == false then ex_err = nil end
  if ex_err == null then ex_err = nil end
  if ex_errc == null then ex_errc = nil end
  if not res then
    if ex_err == nil and ex_errc == nil then
      return format("run failed: %s: %s", ERROR_KIND[code] or "exec", err)
    end
    if str_of(ex_err) and ex_err ~= err then
      return format('error: expected "%s", got "%s"', ex_err, err)
    end
    if str_of(ex_errc) and not find(err, ex_errc, 1, true) then
      return format('error: expected a message containing "%s", got "%s"',
                    ex_errc, err)
    end
    return nil
  end
  if ex_err ~= nil or ex_errc ~= nil then
    local t = capi.json_encode(res, rt) or "?"
    return "error: expected an error, the run succeeded: " .. sub(t, 1, 300)
  end
  if type(expect) ~= "table" then return nil end
  local p, e, a
  if expect.code ~= nil then
    p, e, a = diff(expect.code, res.code, false, "code", 0)
  end
  if not p and expect.message ~= nil then
    p, e, a = diff(expect.message, res.message, false, "message", 0)
  end
  if not p and expect.output ~= nil then
    p, e, a = diff(expect.output, res.output, false, "output", 0)
  end
  if not p and expect.output_includes ~= nil then
    p, e, a = diff(expect.output_includes, res.output, true, "output", 0)
  end
  if p then return mismatch(p, e, a) end
  local tr = expect.trace
  if type(tr) == "table" then
    local t = type(res.trace) == "table" and res.trace or nil
    local steps = t and type(t.steps) == "table" and t.steps or {}
    if tr.path ~= nil and t then
      p, e, a = diff(tr.path, t.path, false, "trace.path", 0)
      if p then return mismatch(p, e, a) end
    end
    if type(tr.step_count) == "number" and tr.step_count ~= #steps then
      return format("trace.step_count: expected %g, got %d",
                    tr.step_count, #steps)
    end
    if type(tr.contains_step) == "string" then
      local found = false
      for _, s in ipairs(steps) do
        if s.id == tr.contains_step then found = true end
      end
      if not found then
        return format("trace: expected a step '%s', the run took %s",
                      tr.contains_step, t and str_of(t.path) or "no steps")
      end
    end
  end
  local dmax = expect.duration_max_us
  if type(dmax) == "number" and us > dmax then
    return format("duration: %.0f us, more than duration_max_us %g", us,
                  dmax)
  end
  return nil
end

-- ==== Running one case ====

-- the answer for a pending call from the case's stubs:
-- true, payload, meta | false, msg (a host error) | nil, msg (cannot)
local function stub_answer(host, case_name, cap, op)
  local c = type(host) == "table" and host[cap] or nil
  local ans = nil
  if type(c) == "table" then ans = c[op] end
  if ans == nil then
    return nil, format("test '%s' has no host answer for capability '%s' "
      .. "operation '%s' (add host: {%s: {%s: ...}})", case_name, cap, op,
      cap, op)
  end
  if type(ans) == "table" and not is_array(ans) then
    local n = 0
    for _ in each, ans do n = n + 1 end
    if n == 1 and ans.error ~= nil then
      return false, type(ans.error) == "string" and ans.error
                    or "host error"
    end
    if ans.payload ~= nil and n <= 2 and (n == 1 or ans.metadata ~= nil) then
      return true, ans.payload, ans.metadata
    end
  end
  return true, ans
end

-- run(h, input, flags, host, stubbed, name) -> res | nil, err, code
local function run_case(h, input, flags, host, stubbed, name)
  local text, err, code = capi.json_encode(input, rt)
  if not text then return nil, err, code end
  -- the trace is read from the JSON API's result, the rest from the value
  local st = flags ~= 0 and capi.trace_run(h, text, flags)
             or capi.run_json(h, text, 0)
  while st == PENDING do
    local cap, op, params, timeout, rsname, path, attempt, delay, allow,
          trace_id, params_err = capi.pending(h)
    if stubbed[cap] then
      local ok, payload, meta = stub_answer(host, name, cap, op)
      if ok == nil then
        capi.abandon(h)
        return nil, payload, STATUS[CODE.HOST]
      end
      if ok then
        st = capi.resume(h, true, payload, meta)
      else
        st = capi.resume(h, false, payload)
      end
    else
      local fn = providers.lookup(cap)
      if params_err then
        st = capi.resume(h, false, params_err)
      elseif not fn then
        st = capi.resume(h, false, "no Lua provider is registered for it")
      else
        if delay > 0 then capi.sleep_ms(delay) end
        local ok, payload, meta = pcall(fn, op, params, {
          capability = cap, operation = op, timeout_ms = timeout,
          ruleset = rsname, path = path, attempt = attempt,
          http_allow = allow, trace_id = trace_id })
        if not ok then
          st = capi.resume(h, false, "provider raised an error: "
                           .. tostring(payload))
        elseif payload == nil then
          st = capi.resume(h, false, meta ~= nil and tostring(meta)
                           or "provider returned no payload")
        else
          st = capi.resume(h, true, payload, meta)
        end
      end
    end
  end
  if st == OK then return capi.result(h) end
  return capi.fail(h)
end

-- ==== gavel.test ====

local function cases_of(doc)
  if is_array(doc) or (type(doc) == "table" and doc[1] ~= nil) then
    return doc
  end
  return type(doc) == "table" and doc.tests or nil
end

-- test(rs, suite[, opts]) -> results | nil, err, code
-- opts.name: the suite name in the results (default: the file path, or
-- "suite").
function _M.test(rs, suite, opts)
  if type(rs) ~= "table" or type(rs._ud) ~= "userdata" then
    error("gavel.test: expected a ruleset (gavel.load)", 2)
  end
  local ts = type(suite)
  if ts ~= "table" and ts ~= "string" then
    error("gavel.test: suite must be a table, JSON/YAML text or a path", 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("gavel.test: opts must be a table", 2)
  end
  local doc, name, code = suite_of(suite, opts and opts.name)
  if doc == nil then return nil, name, code end
  local results = { passed = 0, failed = 0, skipped = 0, tests = {} }
  local function add(case_name, status, msg, us)
    local r = { suite = name, name = case_name, status = status,
                duration_us = us and math.floor(us + 0.5) or 0,
                message = msg }
    results.tests[#results.tests + 1] = r
    local k = status == "pass" and "passed" or status == "fail"
              and "failed" or "skipped"
    results[k] = results[k] + 1
  end
  local cases = cases_of(doc)
  if type(cases) ~= "table" then
    add("(suite)", "fail", name .. ": the suite has no 'tests' array")
    return results
  end
  -- capabilities stubbed anywhere in the suite: answered by stubs only
  local stubbed, restore = {}, {}
  for _, c in ipairs(cases) do
    if type(c) == "table" and type(c.host) == "table" then
      for cap in each, c.host do stubbed[cap] = true end
    end
  end
  local kinds = capi.provided(rt)
  for cap in each, stubbed do
    if kinds[cap] ~= "async" then
      if kinds[cap] == "c" then restore[#restore + 1] = cap end
      local ok, err, ecode = capi.provide(rt, cap)
      if not ok then return nil, err, ecode end
    end
  end
  local h, err, ecode = capi.exec(rs._ud)
  if not h then return nil, err, ecode end
  for i, c in ipairs(cases) do
    local cname = type(c) == "table" and str_of(c.name) or nil
    if cname == nil or cname == "" then cname = "case " .. i end
    local skip = type(c) == "table" and c.skip or nil
    if skip ~= nil and skip ~= false and skip ~= null then
      add(cname, "skip", str_of(skip))
    elseif type(c) ~= "table" or is_array(c) then
      add(cname, "fail", "a test case must be an object")
    else
      local expect = c.expect
      if type(expect) ~= "table" then expect = nil end
      local gm = c.gas_max
      if gm == nil and expect then gm = expect.gas_max end
      local flags = (expect and expect.trace ~= nil) and RUN_TRACE or 0
      local input = c.input
      if input == nil then input = null end
      local t0 = now_ms()
      local res, rerr, rcode = run_case(h, input, flags, c.host, stubbed,
                                        cname)
      local us = (now_ms() - t0) * 1000
      local msg = check(expect, res, rerr, rcode, us)
      if not msg and type(gm) == "number" then
        local used = capi.gas_used(h)
        if used > gm then
          msg = format("gas: used %d, more than gas_max %g", used, gm)
        end
      end
      add(cname, msg and "fail" or "pass", msg, us)
    end
  end
  for _, cap in ipairs(restore) do
    local fn = providers.lookup(cap) or providers.get_c(cap)
    if fn then providers.register(cap, fn) end
  end
  return results
end

return _M
