-- resty/gavel/server.lua -- gavel as an nginx service: init{} (rules
-- directory, providers, reload timer) and the request handlers behind
-- resty.gavel.execute / access / health / admin_reload.
--
-- The request path: the body is JSON text, the engine's answer is JSON
-- text (rs:run_json); only a declared request mapping builds a Lua table.
--
-- Status mapping (client bodies: { error, code, request_id }, never a file
-- path or a provider's text; the full error goes to the error log with
-- the same request id):
--   200 result | 400 malformed JSON, bad envelope, a mapped value that
--   does not convert | 404 unknown ruleset | 413 body too large |
--   422 evaluation error caused by the input (field, type) |
--   502 host call failed | 504 host call timed out | 500 otherwise
--
-- Per-worker state: 'cfg' (the init{} options, normalised).

local gavel = require "gavel"
local registry = require "resty.gavel.registry"
local metrics = require "resty.gavel.metrics"
local audit = require "resty.gavel.audit"
local capture = require "resty.gavel.capture"
local audit_on = audit.on

local ngx = ngx
local ngx_log, ngx_var, ngx_req = ngx.log, ngx.var, ngx.req
local ngx_header, ngx_print, ngx_exit = ngx.header, ngx.print, ngx.exit
local ngx_now, now_ms = ngx.now, gavel.now_ms
local ERR, WARN = ngx.ERR, ngx.WARN
local json_encode, json_decode = gavel.json.encode, gavel.json.decode
-- 'each' is next: loops 'for k in each, t' are not ITERN loops (LuaJIT
-- #1510 drops an element; lua/README.md, "LuaJIT's ITERN loops")
local error, type, each, ipairs, tostring, tonumber = error, type, next,
  ipairs, tostring, tonumber
local byte, find, sub, match, lower, format = string.byte, string.find,
  string.sub, string.match, string.lower, string.format
local floor = math.floor
local tobit = require("bit").tobit

local _M = { _VERSION = "0.1.0" }

local cfg = nil
local init_failed = nil   -- the reason init{} raised (see health())
local init_error

-- ==== The reload generation ====
-- POST /admin/reload rescans its own worker and bumps a counter in the
-- shared dict (init{}'s shm); every other worker compares it with the
-- generation it last scanned at the start of each request (one shdict
-- get) and rescans first when it moved, so the next request of every
-- worker is answered by the new rules, with or without a reload interval.

local GEN_KEY = "gavel:reload_gen"
local gen_dict, seen_gen = nil, nil

local function sync_gen()
  local d = gen_dict
  if not d then return end
  local g = d:get(GEN_KEY)
  if g ~= seen_gen then
    seen_gen = g
    local ok, n, err = pcall(registry.scan)
    if not ok or not n then
      ngx_log(ERR, "gavel: reload (generation ", tostring(g), ") failed: ",
              tostring(ok and err or n))
    end
  end
end

-- ==== Errors: status mapping and privacy ====

local PUBLIC = {
  [400] = "bad request", [404] = "ruleset not found",
  [413] = "request body too large", [422] = "evaluation error",
  [500] = "internal error", [502] = "a host call failed",
  [504] = "a host call timed out",
}

-- status_of(code, msg) -> HTTP status of a failed run
local function status_of(code, msg)
  if code == "GAVEL_JSON" then return 400 end
  if code == "GAVEL_EXEC" then return 422 end
  if code == "GAVEL_NOTFOUND" then return 404 end
  if code == "GAVEL_LIMIT" then
    return find(msg or "", "input too large", 1, true) and 413 or 422
  end
  if code == "GAVEL_HOST" then
    return find(lower(msg or ""), "timed out", 1, true) and 504 or 502
  end
  return 500
end

-- nginx's $request_id (costs some 10 us: taken on the error path only,
-- where it goes to the client body, the X-Request-Id header and the log)
local function request_id()
  return ngx_var.request_id or format("%x", floor(ngx_now() * 1e6))
end

local function send(status, body, rid)
  if status ~= 200 then ngx.status = status end   -- 200: the default
  ngx_header["Content-Type"] = "application/json"
  if rid then ngx_header["X-Request-Id"] = rid end
  ngx_print(body)
  return status
end

-- fail(status, code, detail[, public]) -> status sent
-- 'detail' goes to the error log only; the client gets 'public' (or the
-- status's generic text) with the code and the request id.
local function fail(status, code, detail, public, rid)
  rid = rid or request_id()
  ngx_log(status >= 500 and ERR or WARN, "gavel: request ", rid, ": ",
          status, " ", code, ": ", detail)
  -- written in a fixed key order: error, code, request_id
  return send(status, '{"error":' .. json_encode(public or PUBLIC[status]
    or "error") .. ',"code":' .. json_encode(code) .. ',"request_id":'
    .. json_encode(rid) .. "}", rid)
end
_M.fail = fail

-- The client may see the engine's own message for input problems (it
-- names the input or the rule location, never a file); nothing else.
local function public_message(status, msg)
  if status == 400 or status == 422 then
    -- keep it short and without anything after a newline
    return sub(match(msg or "", "^[^\n]*"), 1, 300)
  end
  return nil
end

-- ==== The execute envelope: {"input": <json>, "trace": bool} ====
-- Scanned, not decoded: the input's text goes to the engine as is (the
-- engine parses and validates it).

-- Byte loops, not string.find patterns: these compile (JIT) and cost
-- about a nanosecond per byte of the body.
local function skip_ws(s, i)
  local n = #s
  while i <= n do
    local c = byte(s, i)
    if c ~= 32 and c ~= 10 and c ~= 13 and c ~= 9 then return i end
    i = i + 1
  end
  return nil
end

-- s[i] is '"' -> the index after the closing quote | nil
local function skip_string(s, i)
  local n = #s
  i = i + 1
  while i <= n do
    local c = byte(s, i)
    if c == 34 then return i + 1 end
    i = i + (c == 92 and 2 or 1)
  end
  return nil
end

-- -> the index after the value at i | nil
local function skip_value(s, i)
  local c = byte(s, i)
  if c == 34 then return skip_string(s, i) end
  local n = #s
  if c == 123 or c == 91 then
    local depth = 0
    while i <= n do
      c = byte(s, i)
      if c == 34 then
        i = skip_string(s, i)
        if not i then return nil end
      else
        if c == 123 or c == 91 then
          depth = depth + 1
        elseif c == 125 or c == 93 then
          depth = depth - 1
          if depth == 0 then return i + 1 end
        end
        i = i + 1
      end
    end
    return nil
  end
  local j = i
  while j <= n do   -- a literal: [%w.+-]
    c = byte(s, j)
    if not ((c >= 48 and c <= 57) or (c >= 65 and c <= 90)
            or (c >= 97 and c <= 122) or c == 46 or c == 43 or c == 45) then
      break
    end
    j = j + 1
  end
  return j > i and j or nil
end

local BAD_ENVELOPE = 'the body must be a JSON object {"input": {...}, '
  .. '"trace": false}'

-- envelope(body) -> input_text, trace | nil, err
local function envelope(s)
  local i = skip_ws(s, 1)
  if not i or byte(s, i) ~= 123 then return nil, BAD_ENVELOPE end
  i = skip_ws(s, i + 1)
  local input, trace
  if i and byte(s, i) == 125 then
    i = nil
  else
    while true do
      if not i or byte(s, i) ~= 34 then return nil, BAD_ENVELOPE end
      local ke = skip_string(s, i)
      if not ke then return nil, BAD_ENVELOPE end
      local key = sub(s, i + 1, ke - 2)
      i = skip_ws(s, ke)
      if not i or byte(s, i) ~= 58 then return nil, BAD_ENVELOPE end
      i = skip_ws(s, i + 1)
      local ve = i and skip_value(s, i)
      if not ve then return nil, BAD_ENVELOPE end
      if key == "input" then
        input = sub(s, i, ve - 1)
      elseif key == "trace" then
        local v = sub(s, i, ve - 1)
        if v ~= "true" and v ~= "false" then
          return nil, "'trace' must be true or false"
        end
        trace = v == "true"
      end
      i = skip_ws(s, ve)
      if not i then return nil, BAD_ENVELOPE end
      local b = byte(s, i)
      if b == 125 then break end
      if b ~= 44 then return nil, BAD_ENVELOPE end
      i = skip_ws(s, i + 1)
    end
    if skip_ws(s, i + 1) then return nil, BAD_ENVELOPE end
  end
  if not input then return nil, 'missing "input"' end
  return input, trace
end
_M.envelope = envelope

-- envelope_fast(body) -> i, j, trace | nil: the input is body:sub(i, j)
-- The common envelopes, {"input": X} and {"input": X, "trace": bool},
-- read from both ends without scanning X (the engine parses X anyway).
-- X may then hold more than the input (other members after it): the
-- engine refuses such a text as JSON (a value followed by ", key: ..."
-- never is one), and the caller then takes envelope()'s answer
-- (respond_run).  nil: not of that shape, use envelope().
local function envelope_fast(s)
  local n = #s
  local i = 1
  local c = byte(s, i)
  while c == 32 or c == 10 or c == 13 or c == 9 do i = i + 1 c = byte(s, i) end
  if c ~= 123 or sub(s, i + 1, i + 8) ~= '"input":' then return nil end
  i = i + 9
  c = byte(s, n)
  while c == 32 or c == 10 or c == 13 or c == 9 do n = n - 1 c = byte(s, n) end
  if c ~= 125 then return nil end
  local e = n - 1   -- X ends at or before e
  c = byte(s, e)
  while c == 32 or c == 10 or c == 13 or c == 9 do e = e - 1 c = byte(s, e) end
  local trace
  if c == 101 then   -- 'e': maybe ..."trace": true|false}
    local v
    if sub(s, e - 3, e) == "true" then v, e = true, e - 4
    elseif sub(s, e - 4, e) == "false" then v, e = false, e - 5 end
    if v ~= nil then
      c = byte(s, e)
      while c == 32 or c == 10 or c == 13 or c == 9 do e = e - 1 c = byte(s, e) end
      if c ~= 58 then return nil end
      e = e - 1
      c = byte(s, e)
      while c == 32 or c == 10 or c == 13 or c == 9 do e = e - 1 c = byte(s, e) end
      if sub(s, e - 6, e) ~= '"trace"' then return nil end
      e = e - 7
      c = byte(s, e)
      while c == 32 or c == 10 or c == 13 or c == 9 do e = e - 1 c = byte(s, e) end
      if c ~= 44 then return nil end
      e = e - 1
      trace = v
    end
  end
  if e < i then return nil end
  return i, e, trace
end
_M.envelope_fast = envelope_fast

-- ==== Request mapping: { field = "source:key[:type]" } or a function ====
-- source: arg (query), header, var (ngx.var), cookie; type: string
-- (default), int, number, bool.  An absent value leaves the field out.

local CONVERT = {
  string = function(v) return v end,
  int = function(v)
    local n = match(v, "^%s*([+-]?%d+)%s*$")
    n = n and tonumber(n)
    if n and n >= -2^53 and n <= 2^53 then return n end
  end,
  number = function(v)
    local n = tonumber(v)
    if n and n == n and n ~= 1/0 and n ~= -1/0 then return n end
  end,
  bool = function(v)
    v = lower(v)
    if v == "true" or v == "1" or v == "yes" or v == "on" then return true end
    if v == "false" or v == "0" or v == "no" or v == "off" then
      return false
    end
  end,
}
CONVERT.float = CONVERT.number

-- compile_mapping(tbl) -> list of { field, source, key, conv, type }
local function compile_mapping(m, who)
  local out = {}
  for field, spec in each, m do
    if type(field) ~= "string" or type(spec) ~= "string" then
      error(who .. ": input mapping entries are field = \"source:key"
            .. "[:type]\"", 3)
    end
    local src, key, ty = match(spec, "^(%a+):([^:]+):?(%a*)$")
    ty = (ty == nil or ty == "") and "string" or ty
    if not src or (src ~= "arg" and src ~= "header" and src ~= "var"
                   and src ~= "cookie") or not CONVERT[ty] then
      error(who .. ": bad input mapping '" .. spec .. "' for '" .. field
            .. "' (source arg|header|var|cookie, type string|int|number"
            .. "|bool)", 3)
    end
    out[#out + 1] = { field = field, source = src, key = key,
                      conv = CONVERT[ty], type = ty }
  end
  return out
end

-- How many query arguments / request headers a mapping reads (init{}'s
-- or the handler's max_args / max_headers).  A request with more is
-- refused (400 GAVEL_LIMIT): nginx's readers stop at the limit, and a
-- mapping deciding on what was left could be steered by padding the
-- request until the field it reads is cut off.
local MAX_ARGS, MAX_HEADERS = 100, 100

-- map_input(mapping, max_args, max_headers) -> JSON text | nil, err, code
-- (a 400)
local function map_input(m, max_args, max_headers)
  local args, headers, err
  local t = {}
  for _, e in ipairs(m) do
    local v
    if e.source == "arg" then
      if not args then
        max_args = max_args or MAX_ARGS
        args, err = ngx_req.get_uri_args(max_args)
        if err == "truncated" then
          return nil, format("more than %d query arguments (limit max_args)"
                             .. "; the request is refused, not decided on "
                             .. "part of it", max_args), "GAVEL_LIMIT"
        end
      end
      v = args[e.key]
      if type(v) == "table" then v = v[1] end
      if v == true then v = "true" end
    elseif e.source == "header" then
      if not headers then
        max_headers = max_headers or MAX_HEADERS
        headers, err = ngx_req.get_headers(max_headers)
        if err == "truncated" then
          return nil, format("more than %d request headers (limit "
                             .. "max_headers); the request is refused, not "
                             .. "decided on part of it", max_headers),
                 "GAVEL_LIMIT"
        end
      end
      v = headers[e.key]
      if type(v) == "table" then v = v[1] end
    elseif e.source == "cookie" then
      v = ngx_var["cookie_" .. e.key]
    else
      v = ngx_var[e.key]
    end
    if v ~= nil then
      local c = e.conv(v)
      if c == nil then
        return nil, format("%s '%s' is not a valid %s", e.source, e.key,
                           e.type)
      end
      -- dotted fields nest: "user.age" -> { user = { age = ... } }
      local node, rest = t, e.field
      while true do
        local head, tail = match(rest, "^([^.]+)%.(.+)$")
        if not head then break end
        node[head] = type(node[head]) == "table" and node[head] or {}
        node, rest = node[head], tail
      end
      node[rest] = c
    end
  end
  return json_encode(t)
end

-- ==== Running ====

-- run_json options: the metric actions come back beside the text
local RUN, RUN_TRACE = { metrics = true }, { metrics = true, trace = true }

-- Metrics and audit of one run (per worker, buffered).
local function observe(ent, input, res, err, code, us, actions, gas,
                       run_seq)
  -- the result code: the engine writes {"code":"...", first
  local rcode
  if res then
    local q = find(res, '"', 10, true)
    rcode = q and sub(res, 10, q - 1)
    if rcode and find(rcode, "\\", 1, true) then   -- an escape inside
      rcode = match(res, '^{"code":("[^"\\]*")')
      rcode = rcode and sub(rcode, 2, -2)
    end
  end
  rcode = rcode or code or "GAVEL_RUNTIME"
  metrics.run(ent.name, rcode, us, res == nil, actions)
  audit.line(ent.name, ent.version, input, res and rcode, us,
             not res and (code or "GAVEL_RUNTIME") or nil, err, gas, run_seq)
end

-- respond_run(entry, input_text, trace, rid, opts[, body, i, j]) -> status
-- sent (the response).  With 'body': the input is body:sub(i, j), as
-- envelope_fast read it (run in place, the text made only when the audit
-- or capture needs it); when the engine refuses it as JSON, envelope()
-- decides.
local function respond_run(ent, input, trace, rid, opts, body, i, j)
  local crec = capture.begin()
  local t0 = now_ms()
  local res, err, code
  if body then
    res, err, code = ent.rs:run_json(body, trace and RUN_TRACE or RUN, i, j)
    if code == "GAVEL_JSON" then
      input = sub(body, i, j)
      local input2, trace2 = envelope(body)
      if not input2 then
        if crec then ngx.ctx.gavel_capture = nil end
        return fail(400, "GAVEL_JSON", trace2, trace2, rid)
      end
      if input2 ~= input or trace2 ~= trace then
        input, trace = input2, trace2
        t0 = now_ms()
        res, err, code = ent.rs:run_json(input, trace and RUN_TRACE or RUN)
      end
    end
  else
    res, err, code = ent.rs:run_json(input, trace and RUN_TRACE or RUN)
  end
  local us = floor((now_ms() - t0) * 1000)
  -- read before anything can yield; only for the audit line and capture
  local gas
  if crec or audit_on() then
    gas = ent.rs:gas_used()
    input = input or sub(body, i, j)
  end
  -- one trace id for the run's capture record and audit line
  local run_seq = (crec or audit_on()) and audit.next_seq() or nil
  if crec then
    capture.finish(crec, ent, input, res, res == nil and err or nil, code,
                   us, gas, trace or ent.rs._trace, run_seq)
  end
  ngx_header["X-Gavel-Ruleset"] = ent.tag
  ngx_header["X-Gavel-Ruleset-Hash"] = ent.short
  -- err is the metric actions on success (never sent to the client)
  observe(ent, input, res, res == nil and err or nil, code, us,
          res ~= nil and err or nil, gas, run_seq)
  if not res then
    local status = status_of(code, err)
    return fail(status, code or "GAVEL_RUNTIME", ent.tag .. ": " .. err,
                public_message(status, err), rid)
  end
  -- Ordo's execute answer also carries duration_us (an int32 when it
  -- fits: written as an integer, not through the %.14g formatter)
  if us < 2147483648 then us = tobit(us) end
  return send(200, sub(res, 1, -2) .. ',"duration_us":' .. us .. "}")
end

-- last_segment(uri) -> its last non-empty path segment | nil (a byte
-- scan from the end: string.match with "([^/]+)/*$" costs microseconds)
local function last_segment(u)
  local e = #u
  while e > 0 and byte(u, e) == 47 do e = e - 1 end
  local b = e
  while b > 0 and byte(u, b) ~= 47 do b = b - 1 end
  if b == e then return nil end
  return sub(u, b + 1, e)
end

-- read_body(limit) -> text | nil, status, err
local function read_body(limit)
  ngx_req.read_body()
  local body = ngx_req.get_body_data()
  if body == nil then
    if ngx_req.get_body_file() then
      return nil, 413, "request body larger than client_body_buffer_size"
    end
    return ""
  end
  if limit and #body > limit then
    return nil, 413, format("request body of %d bytes exceeds %d", #body,
                            limit)
  end
  return body
end

-- execute([opts]) -> status sent
-- POST /api/v1/execute/<name>: opts.name (default: the last path segment),
-- opts.input (a mapping or function(): JSON text | table; default: the
-- {"input", "trace"} JSON body), opts.max_body (bytes).
-- The input of a request through a declared mapping (opts.input: a
-- function of ngx, or a table of "arg:age:int"-style sources): the JSON
-- text, or nil and the status of the 400 answer already sent.
local function mapped_input(opts, who, rid)
  local mapping = opts.input
  if type(mapping) == "function" then
    -- raising or returning nil: the request's input could not be built
    -- (400, as a mapped value that does not convert); any other result
    -- than a table or JSON text is the function's bug (500).  Never a
    -- decision on null input; the reason goes to the log, once.
    local ok, v, e = pcall(mapping, ngx)
    if not ok or v == nil then
      return nil, fail(400, "GAVEL_JSON", "input function " .. (ok
                       and "returned nil: " .. tostring(e) or "raised: "
                       .. tostring(v)), "bad request input", rid)
    end
    local tv = type(v)
    if tv == "string" then return v end
    if tv ~= "table" then
      return nil, fail(500, "GAVEL_MISUSE", "input function returned a "
                       .. tv .. " (expected a table or JSON text)", nil, rid)
    end
    local text, jerr = json_encode(v)
    if not text then
      return nil, fail(500, "GAVEL_MISUSE", "input function's table: "
                       .. tostring(jerr), nil, rid)
    end
    return text
  end
  if not opts._mapping then
    opts._mapping = compile_mapping(mapping, who)
  end
  local input, err, code = map_input(opts._mapping, opts.max_args
    or cfg and cfg.max_args, opts.max_headers or cfg and cfg.max_headers)
  if not input then
    return nil, fail(400, code or "GAVEL_JSON", err, err, rid)
  end
  return input
end

-- The ruleset name of a URI, cached: the request path then has no loop,
-- which keeps it in one compiled trace (a loop met while LuaJIT records a
-- function's trace aborts it; the function is then interpreted, and an
-- FFI call from interpreted code costs some thousand instructions).
-- Bounded: URIs of up to SEGMENT_URI_MAX bytes, emptied when it holds
-- SEGMENTS_MAX of them (at most some 300 KB per worker).
local SEGMENTS_MAX, SEGMENT_URI_MAX = 1024, 256
local segments, n_segments = {}, 0

local function uri_name(u)
  local name = segments[u]
  if name == nil then
    name = last_segment(u) or false
    if #u <= SEGMENT_URI_MAX then
      if n_segments >= SEGMENTS_MAX then
        segments, n_segments = {}, 0
      end
      segments[u] = name
      n_segments = n_segments + 1
    end
  end
  return name or nil
end

function _M.execute(opts)
  local rid = nil   -- taken on failure (see request_id)
  sync_gen()
  local name = opts and opts.name or uri_name(ngx_var.uri)
  local ent = name and registry.get(name)
  if not ent then
    return fail(404, "GAVEL_NOTFOUND", "no ruleset '" .. tostring(name)
                .. "' is loaded", nil, rid)
  end
  local input, trace
  local mapping = opts and opts.input
  if mapping then
    local sent
    input, sent = mapped_input(opts, "resty.gavel.execute", rid)
    if not input then return sent end
    trace = opts.trace
  else
    if ngx_req.get_method() ~= "POST" then
      ngx_header["Allow"] = "POST"
      return fail(405, "GAVEL_MISUSE", "method " .. ngx_req.get_method(),
                  "use POST with a JSON body", rid)
    end
    local body, st, err = read_body(opts and opts.max_body or cfg.max_body)
    if not body then return fail(st, "GAVEL_LIMIT", err, nil, rid) end
    local i, j
    i, j, trace = envelope_fast(body)
    if i then
      return respond_run(ent, nil, trace, rid, cfg, body, i, j)
    end
    input, trace = envelope(body)
    if not input then return fail(400, "GAVEL_JSON", trace, trace, rid) end
  end
  return respond_run(ent, input, trace, rid, cfg)
end

-- serve(name_or_ruleset, resty[, opts]) -> status sent
-- The content handler of rulesets loaded with resty.gavel.load{} (not
-- init{}'s registry): the request body is the input JSON itself (no
-- envelope), the answer the result JSON text, as execute() answers:
-- POST only (405 otherwise, unless opts.input maps the input), the same
-- status mapping and privacy (client bodies { error, code, request_id },
-- the details in the error log), metrics, audit and capture.
-- opts: version (with a name), trace, input (a mapping or function, as
-- execute's), max_body (bytes).
local serve_ents = setmetatable({}, { __mode = "k" })
function _M.serve(rs, resty, opts)
  local rid = nil
  if type(rs) == "string" then
    local name = rs
    rs = resty.get(name, opts and opts.version)
    if not rs then
      return fail(404, "GAVEL_NOTFOUND", "no ruleset '" .. name
                  .. "' is loaded in this worker (resty.gavel.load)", nil,
                  rid)
    end
  elseif type(rs) ~= "table" or type(rs.run_json) ~= "function" then
    error("resty.gavel.serve: expected a ruleset or its name", 3)
  end
  local ent = serve_ents[rs]
  if not ent then
    local name, version = rs:name(), rs._resty_version or ""
    ent = { rs = rs, name = name, version = version,
            tag = name .. "@" .. version, short = rs._resty_hash or "",
            capture_hash = rs._capture_hash }
    serve_ents[rs] = ent
  end
  local input
  local mapping = opts and opts.input
  if mapping then
    local sent
    input, sent = mapped_input(opts, "resty.gavel.serve", rid)
    if not input then return sent end
  else
    if ngx_req.get_method() ~= "POST" then
      ngx_header["Allow"] = "POST"
      return fail(405, "GAVEL_MISUSE", "method " .. ngx_req.get_method(),
                  "use POST with a JSON body", rid)
    end
    local body, st, err = read_body(opts and opts.max_body
                                    or cfg and cfg.max_body)
    if not body then return fail(st, "GAVEL_LIMIT", err, nil, rid) end
    if not find(body, "%S") then
      return fail(400, "GAVEL_JSON", "empty request body",
                  "the body must be the input as JSON", rid)
    end
    input = body
  end
  return respond_run(ent, input, opts and opts.trace, rid, cfg)
end

-- deny_status(v) -> v as an HTTP error status (an integer from 400 to
-- 599; a number or its text) | nil.  Anything else would not deny: 0 and
-- 2xx answer the request as a success, 1xx leaves the client waiting, a
-- status outside 100-999 makes nginx close the connection unanswered.
local function deny_status(v)
  local n = tonumber(v)
  if n and n >= 400 and n <= 599 and n == floor(n) then return n end
  return nil
end

-- access{ ruleset = name, input = mapping | function, deny_status = 403 }
-- access_by_lua: runs the ruleset on the mapped request; a result code
-- "ALLOW" (any case) lets the request go on, anything else (and any
-- error) denies it with output.status (an integer from 400 to 599; any
-- other is logged and deny_status, default 403, answers).  Output
-- fields named "header:<Name>" become request headers sent upstream.
function _M.access(opts)
  if type(opts) ~= "table" or type(opts.ruleset) ~= "string" then
    error("resty.gavel.access: expected { ruleset = name, ... }", 2)
  end
  local rid = nil   -- taken when denying (see request_id)
  sync_gen()
  local ent = registry.get(opts.ruleset)
  if not ent then
    fail(500, "GAVEL_NOTFOUND", "access ruleset '" .. opts.ruleset
         .. "' is not loaded", nil, rid)
    return ngx_exit(500)
  end
  if opts.input == nil then opts.input = {} end
  local input, sent = mapped_input(opts, "resty.gavel.access", rid)
  if not input then return ngx_exit(sent) end
  local res, err, code
  local crec = capture.begin()
  local t0 = now_ms()
  res, err, code = ent.rs:run_json(input, RUN)
  local us = floor((now_ms() - t0) * 1000)
  local gas = (crec or audit_on()) and ent.rs:gas_used() or nil
  local run_seq = (crec or audit_on()) and audit.next_seq() or nil
  if crec then
    capture.finish(crec, ent, input, res, res == nil and err or nil, code,
                   us, gas, ent.rs._trace, run_seq)
  end
  observe(ent, input, res, res == nil and err or nil, code, us,
          res ~= nil and err or nil, gas, run_seq)
  if not res then
    local status = status_of(code, err)
    fail(status, code, ent.tag .. ": " .. err,
         public_message(status, err), rid)
    return ngx_exit(status)
  end
  local r, derr, dcode = json_decode(res)
  if not r then -- a result Lua cannot hold (nesting at the reader's limit)
    local status = status_of(dcode, derr)
    fail(status, dcode or "GAVEL_JSON", ent.tag .. ": result: "
         .. tostring(derr), nil, rid)
    return ngx_exit(status)
  end
  local out = type(r.output) == "table" and r.output or {}
  for k, v in each, out do
    local h = match(k, "^header:(.+)$")
    if h and (type(v) == "string" or type(v) == "number"
              or type(v) == "boolean") then
      ngx_req.set_header(h, tostring(v))
    end
  end
  ngx_req.set_header("X-Gavel-Decision", r.code)
  if lower(tostring(r.code)) ~= "allow" then
    rid = request_id()
    local status = deny_status(out.status)
    if not status then
      status = deny_status(opts.deny_status) or 403
      if out.status ~= nil then
        ngx_log(WARN, "gavel: request ", rid, ": ", ent.tag, ": output.status "
                .. tostring(out.status), " is not an HTTP error status "
                .. "(an integer from 400 to 599); answering ", status)
      end
    end
    ngx_log(WARN, "gavel: request ", rid, ": denied by ", ent.tag, " (",
            r.code, ")")
    ngx.status = status
    ngx_header["Content-Type"] = "application/json"
    ngx_header["X-Gavel-Ruleset"] = ent.tag
    ngx_print(json_encode({ error = r.message or "denied", code = r.code,
                            request_id = rid }))
    return ngx_exit(status)
  end
end

-- health() -> 200 { status = "ok", rulesets = [...] } | 503 { status =
-- "error", error = why init{} raised } in a worker whose init{} raised
function _M.health()
  if init_failed then
    ngx.status = 503
    ngx_header["Content-Type"] = "application/json"
    ngx_print(json_encode({ status = "error", worker = ngx.worker.id(),
      error = "init{} failed in this worker: " .. init_failed }))
    return
  end
  sync_gen()
  local list = registry.names()
  ngx.status = 200
  ngx_header["Content-Type"] = "application/json"
  ngx_print(json_encode({
    status = "ok", worker = ngx.worker.id(),
    rulesets = gavel.array(list),
    -- rules files serving nothing of their current content: {file, reason}
    -- (a load failure, an unreadable entry, a name another file holds)
    failing = gavel.array(registry.failures()),
  }))
end

-- admin_reload() -> POST: rescan now (this worker; with init{}'s shm the
-- others before their next request, see sync_gen; without it within one
-- reload interval).  Loopback clients only.
function _M.admin_reload()
  local rid = request_id()
  local addr = ngx_var.remote_addr
  if addr ~= "127.0.0.1" and addr ~= "::1" and addr ~= "unix:" then
    return fail(403, "GAVEL_CAPDENIED", "admin reload from " .. tostring(
                addr), "forbidden", rid)
  end
  if ngx_req.get_method() ~= "POST" then
    return fail(405, "GAVEL_MISUSE", "admin reload with "
                .. ngx_req.get_method(), "use POST", rid)
  end
  if gen_dict then
    local g, ierr = gen_dict:incr(GEN_KEY, 1, 0)
    if g then
      seen_gen = g   -- this worker scans now
    else
      ngx_log(ERR, "gavel: admin reload: the other workers are not told: ",
              ierr)
    end
  end
  local n, err = registry.scan()
  if not n then return fail(500, "GAVEL_IO", err, nil, rid) end
  return send(200, json_encode({ changed = n,
    rulesets = gavel.array(registry.names()) }), rid)
end

-- metrics() -> GET /metrics: the Prometheus text of all workers
function _M.metrics()
  ngx.status = 200
  ngx_header["Content-Type"] = "text/plain; version=0.0.4"
  ngx_print(metrics.collect())
end

-- instrument(capability, fn) -> fn counting host calls by outcome and
-- timing them (gavel_host_calls_total, gavel_host_call_duration_seconds)
local function instrument(cap, fn)
  return function(op, params, ctx)
    local t0 = now_ms()
    local ok, payload, meta = pcall(fn, op, params, ctx)
    local ms = now_ms() - t0
    if not ok then
      metrics.host_call(cap, "error", ms)
      capture.receipt(cap, op, params, ctx, nil, "provider raised an "
                      .. "error: " .. tostring(payload))
      error(payload, 0)
    end
    capture.receipt(cap, op, params, ctx, payload, meta)
    metrics.host_call(cap, payload ~= nil and "ok" or (find(lower(tostring(
      meta)), "timed out", 1, true) and "timeout" or "error"), ms)
    return payload, meta
  end
end

-- provide(capability, fn): registers a Lua provider, instrumented
function _M.provide(cap, fn)
  return gavel.providers.register(cap, instrument(cap, fn))
end

-- audit_open(path): opens the audit file (init_by_lua: as the master)
function _M.audit_open(file)
  local ok, err = audit.open(file)
  if not ok then error("resty.gavel.audit_open: " .. tostring(err), 2) end
  return true
end

-- ==== init ====

-- init_error(msg, level): raises as error() does, the message kept for
-- /health first
function init_error(msg, level)
  init_failed = msg
  error(msg, level + 1)
end

local function reload_tick(premature)
  if premature then return end
  local ok, err = pcall(registry.scan)
  if not ok then ngx_log(ERR, "gavel: reload failed: ", err) end
end

-- init(opts, resty) -> true
-- A raise leaves the worker without its rules: /health answers 503 with
-- the reason ('init_failed') until a later init{} finishes.
function _M.init(opts, resty)
  init_failed = "init{} raised before it finished (see the error log)"
  if type(opts) ~= "table" then
    init_error("resty.gavel.init: expected a table", 3)
  end
  local dirs = opts.rules_dir
  if type(dirs) == "string" then dirs = { dirs } end
  if type(dirs) ~= "table" or #dirs == 0 then
    init_error("resty.gavel.init: rules_dir must be a directory or a list", 3)
  end
  for i, d in ipairs(dirs) do
    if type(d) ~= "string" then
      init_error("resty.gavel.init: rules_dir must be a directory or a "
                 .. "list", 3)
    end
    dirs[i] = (d:gsub("/+$", ""))
  end
  local reload = opts.reload
  local interval = 0
  if reload ~= nil and reload ~= false then
    if type(reload) ~= "table" or (reload.interval ~= nil
        and (type(reload.interval) ~= "number" or reload.interval < 0)) then
      init_error("resty.gavel.init: reload must be { interval = seconds }", 3)
    end
    interval = reload.interval or 1
  end
  if opts.shm ~= nil and not ngx.shared[opts.shm] then
    init_error("resty.gavel.init: no lua_shared_dict '"
               .. tostring(opts.shm) .. "'", 3)
  end
  for _, k in ipairs({ "max_args", "max_headers" }) do
    local v = opts[k]
    if v ~= nil and (type(v) ~= "number" or v < 1 or v ~= floor(v)
                     or v > 65535) then
      init_error("resty.gavel.init: " .. k .. " must be an integer from 1 "
                 .. "to 65535, got " .. tostring(v), 3)
    end
  end
  cfg = {
    rules_dirs = dirs, allow_http = opts.allow_http,
    capabilities = opts.capabilities, shm = opts.shm,
    max_body = opts.max_body, interval = interval,
    max_args = opts.max_args, max_headers = opts.max_headers,
  }
  if opts.allow_http ~= nil then
    resty.configure({ allow_http = opts.allow_http })
  end
  if opts.policies ~= nil then
    if type(opts.policies) ~= "table" then
      init_error("resty.gavel.init: policies must be { capability = "
                 .. "{...} }", 3)
    end
    for cap, p in each, opts.policies do
      local ok, err = resty.policy(cap, p)
      if not ok then
        init_error("resty.gavel.init: policy " .. cap .. ": " .. err, 3)
      end
    end
  end
  if opts.http ~= false then
    local ok, err = _M.provide("network.http", resty.http)
    if not ok then init_error("resty.gavel.init: network.http: " .. err, 3) end
  end
  if opts.shm then
    local ok, err = metrics.init(opts.shm, opts.metrics_interval)
    if not ok then init_error("resty.gavel.init: metrics: " .. err, 3) end
  end
  if opts.audit ~= nil then
    local a = type(opts.audit) == "table" and opts.audit
              or { file = opts.audit }
    local ok, err = audit.init(a)
    if not ok then init_error("resty.gavel.init: audit: " .. err, 3) end
  else   -- opened by audit_open() in init_by_lua: flushed all the same
    local ok, err = audit.start()
    if not ok then init_error("resty.gavel.init: audit: " .. err, 3) end
  end
  if opts.capture ~= nil then
    local ok, err = capture.init(opts.capture)
    if not ok then init_error("resty.gavel.init: " .. err, 3) end
  end
  registry.configure(cfg)
  if opts.shm then   -- read before the scan: a reload after it rescans
    gen_dict = ngx.shared[opts.shm]
    seen_gen = gen_dict:get(GEN_KEY)
  end
  registry.scan()
  if interval > 0 then
    local ok, err = ngx.timer.every(interval, reload_tick)
    if not ok then
      init_error("resty.gavel.init: cannot start the reload timer: " .. err, 3)
    end
  end
  init_failed = nil
  return true
end

function _M.config()
  return cfg
end

return _M
