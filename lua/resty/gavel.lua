-- resty/gavel.lua -- gavel in OpenResty: a per-worker ruleset cache, run()
-- and serve() for request handlers, and a cosocket network.http provider.
-- Errors: failures that happen in normal operation (a bad rule document, a
-- ruleset not loaded, a failed host call, a refused URL) return
-- nil, err[, code] with code a "GAVEL_*" name; misuse raises error(msg, 2).
--
-- Per-worker state kept in upvalues (never shared between workers; a
-- ruleset loaded in init_by_lua is copied into every worker by fork):
--   'rulesets'  "name@version" -> ruleset
--   'latest'    name -> the ruleset last loaded under that name
--   'by_source' path or JSON text -> ruleset (load{} without a name)
--   'allow'     the network.http allowlist set by configure{}
--   'max_body'  the largest response body network.http accepts
--
-- Allowlists: a ruleset loaded with allow_http (gavel.load / load{}) has its
-- own, which network.http receives as ctx.http_allow; a ruleset without one
-- uses the worker-wide list of configure{ allow_http = ... } (empty by
-- default: every request refused).

local gavel = require "gavel"
local check_int = require("gavel.core").check_int
local cjson = require "cjson.safe"

local ngx = ngx
local ngx_socket_tcp = ngx.socket.tcp
local ngx_get_phase = ngx.get_phase
local ngx_escape_uri = ngx.escape_uri
local gavel_load, json_encode = gavel.load, gavel.json.encode
local gavel_null, now_ms = gavel.null, gavel.now_ms
-- 'each' is next: loops 'for k in each, t' are not ITERN loops (LuaJIT
-- #1510 drops an element; lua/README.md, "LuaJIT's ITERN loops")
local error, type, each, ipairs, tostring, tonumber = error, type, next,
  ipairs, tostring, tonumber
local next, sort, concat = next, table.sort, table.concat
local io_open = io.open
local floor, min = math.floor, math.min
local byte, find, format = string.byte, string.find, string.format
local gsub, lower, match, sub, upper = string.gsub, string.lower,
  string.match, string.sub, string.upper

local _M = { _VERSION = "0.1.0" }

local DEFAULT_TIMEOUT_MS = 10000   -- as the C provider: no action timeout
local CONNECT_TIMEOUT_MS = 5000    -- connect phase cap, as the C provider
local KEEPALIVE_MS = 60000         -- idle time of a pooled connection
local KEEPALIVE_POOL = 64          -- pooled connections per host, per worker
local USER_AGENT = "gavel-resty/" .. _M._VERSION

local rulesets, latest, by_source = {}, {}, {}
local allow = {}
local max_body = 8 * 1024 * 1024

-- A private cjson instance, so our settings don't change other users'.
local json = cjson.new()
json.decode_invalid_numbers(false)       -- NaN/Infinity: not JSON
if json.decode_array_with_array_mt then  -- OpenResty's cjson: keep []
  json.decode_array_with_array_mt(true)
end
local json_decode = json.decode

-- ==== Configuration ====

-- The allowlist decision is the C core's (gavel_http_allow_match, also
-- used by the C provider), so C and Lua providers cannot disagree.
local ffi = require "ffi"
pcall(ffi.cdef, [[
int gavel_http_allow_match(const char *scheme, const char *host,
                           size_t host_len, long port,
                           const char *const *allow, size_t n);
int gavel_http_allow_entry_valid(const char *entry);
]])
local capi_lib = ffi.load(package.searchpath("gavel.capi", package.cpath))
-- "host", "host:port", "scheme://host[:port][/]", "[v6]:port", "*.d", "*"
local function parse_allow(e)
  return capi_lib.gavel_http_allow_entry_valid(e) == 1
end

-- configure{ allow_http = { entries }, max_body = bytes,
--             gas_limit, max_input_bytes, max_gas, max_steps,
--             max_timeout_ms, max_run_bytes, max_result_bytes,
--             max_call_bytes } -> true | nil, err, code
-- allow_http replaces the worker's network.http allowlist (default: empty,
-- every request is refused).  max_body: the largest network.http response
-- body (an integer >= 0).  The other numbers configure the engine's
-- runtime as gavel.configure does (defaults and host ceilings that no
-- ruleset can raise); like it, they must be set before the first ruleset
-- is loaded: call configure{} first in init_by_lua.  Bad entries and
-- numbers out of range raise.
function _M.configure(opts)
  if type(opts) ~= "table" then
    error("resty.gavel.configure: expected a table", 2)
  end
  local rt_opts
  for name, hi in each, gavel.CONFIG_FIELDS do
    local v = opts[name]
    if v ~= nil then
      check_int("resty.gavel.configure", name, v, 1, hi)
      rt_opts = rt_opts or {}
      rt_opts[name] = v
    end
  end
  if opts.allow_http ~= nil then
    if type(opts.allow_http) ~= "table" then
      error("resty.gavel.configure: allow_http must be a list", 2)
    end
    local list = {}
    for i, e in ipairs(opts.allow_http) do
      if type(e) ~= "string" or not parse_allow(e) then
        error("resty.gavel.configure: bad allow_http entry "
              .. tostring(e), 2)
      end
      list[i] = e
    end
    allow = list
  end
  if opts.max_body ~= nil then
    check_int("resty.gavel.configure", "max_body", opts.max_body, 0, 2 ^ 53)
  end
  if rt_opts then
    local ok, err, code = gavel.configure(rt_opts)
    if not ok then return nil, err, code end
  end
  if opts.max_body ~= nil then max_body = opts.max_body end
  return true
end

-- ==== The ruleset cache ====

local FILE_PHASES = { init = true, init_worker = true, timer = true }

local function read_file(path)
  local f, err = io_open(path, "rb")
  if not f then return nil, err end
  local s = f:read("*a")
  f:close()
  if not s then return nil, "cannot read " .. path end
  return s
end

-- The document's config.version, or "" (one extra parse, once per load).
local function doc_version(src)
  local doc = src
  if type(src) == "string" then doc = gavel.json.decode(src) end
  local cfg = type(doc) == "table" and doc.config
  local v = type(cfg) == "table" and cfg.version
  if type(v) == "string" or type(v) == "number" then return tostring(v) end
  return ""
end

-- load{ path = p | text = json_or_table, name = n, version = v,
--       capabilities = {...}, allow_http = {...}, gas_limit = n,
--       no_capability_check = b }
-- -> ruleset | nil, err, code[, diagnostics]
-- Loads once per worker: a later call with the same name and version (a
-- name alone: the latest ruleset of that name; neither: the same path or
-- text) returns the cached ruleset.  The cache keys default to the
-- document's config.name and config.version.
-- Reading a file blocks, so 'path' is only read in init, init_worker and
-- timers; in a request it must already be cached.
function _M.load(spec)
  if type(spec) ~= "table" then
    error("resty.gavel.load: expected a table { path | text, ... }", 2)
  end
  local path, src = spec.path, spec.text
  if (path == nil) == (src == nil) then
    error("resty.gavel.load: give exactly one of 'path' and 'text'", 2)
  end
  if path ~= nil and type(path) ~= "string" then
    error("resty.gavel.load: 'path' must be a string", 2)
  end
  if src ~= nil and type(src) ~= "string" and type(src) ~= "table" then
    error("resty.gavel.load: 'text' must be JSON text or a table", 2)
  end
  local name, version = spec.name, spec.version
  if name ~= nil and type(name) ~= "string" then
    error("resty.gavel.load: 'name' must be a string", 2)
  end
  if version ~= nil then version = tostring(version) end
  local rs
  if name then
    rs = version and rulesets[name .. "@" .. version] or
         (not version and latest[name])
  else
    rs = by_source[path or src]
  end
  if rs then return rs end
  if path then
    if not FILE_PHASES[ngx_get_phase()] then
      error("resty.gavel.load: ruleset file " .. path .. " is not loaded "
            .. "yet; load files in init_by_lua or init_worker_by_lua", 2)
    end
    local err
    src, err = read_file(path)
    if not src then return nil, err, "GAVEL_IO" end
  end
  local err, code, diags
  rs, err, code, diags = gavel_load(src, {
    capabilities = spec.capabilities, gas_limit = spec.gas_limit,
    no_capability_check = spec.no_capability_check,
    allow_http = spec.allow_http,
  })
  if not rs then return nil, err, code, diags end
  name = name or rs:name()
  version = version or doc_version(src)
  rs._resty_version = version   -- serve(): X-Gavel-Ruleset, audit
  if type(src) == "string" then
    -- serve(): the capture records' hash and X-Gavel-Ruleset-Hash (as the
    -- registry's), whatever the phase: in init_by_lua capture is not on
    -- yet, and its records carried "hash":"" (replay --verify cannot match)
    rs._capture_hash = require("resty.gavel.capture").hash(src)
    rs._resty_hash = sub(ngx.md5(src), 1, 12)
  end
  rulesets[name .. "@" .. version] = rs
  latest[name] = rs
  if not spec.name then by_source[path or src] = rs end
  return rs
end

-- get(name[, version]) -> ruleset | nil (the latest loaded without version)
function _M.get(name, version)
  if type(name) ~= "string" then
    error("resty.gavel.get: name must be a string", 2)
  end
  if version == nil then return latest[name] end
  return rulesets[name .. "@" .. tostring(version)]
end

-- run(name_or_ruleset, input[, opts]) -> result | nil, err, code
-- input: a Lua table, JSON text or nil; opts: rs:run's (trace, int64) and
-- version (with a name).  A provider may yield (cosockets) during the run.
function _M.run(rs, input, opts)
  if type(rs) == "string" then
    local name = rs
    rs = _M.get(name, opts and opts.version)
    if not rs then
      return nil, "ruleset '" .. name .. "' is not loaded in this worker",
             "GAVEL_NOTFOUND"
    end
  elseif type(rs) ~= "table" or type(rs.run) ~= "function" then
    error("resty.gavel.run: expected a ruleset or its name", 2)
  end
  return rs:run(input, opts)
end

-- serve(name_or_ruleset[, opts]) -> HTTP status sent
-- Content handler for rulesets loaded with load{}: runs the ruleset on the
-- request's JSON body (POST) and answers the result JSON (200), with
-- execute()'s status mapping and privacy: 400 bad JSON or empty body, 404
-- no such ruleset, 405 not POST, 413 body too large, 422 evaluation error
-- caused by the input, 502/504 host call failed/timed out, 500 otherwise;
-- error bodies are { error, code, request_id } without provider text (the
-- details go to the error log).  opts: version, trace, input (a mapping,
-- as execute's), max_body.  See resty/gavel/server.lua.
function _M.serve(rs, opts)
  return require("resty.gavel.server").serve(rs, _M, opts)
end

-- ==== network.http over cosockets ====

-- list of entry strings -> { n = n, arr = const char *[n] } (cached; the
-- list table anchors the strings)
local c_lists = setmetatable({}, { __mode = "k" })

local function allowed(u, list)
  local c = c_lists[list]
  if not c then
    c = { n = #list, arr = ffi.new("const char *[?]", #list + 1) }
    for i = 1, #list do c.arr[i - 1] = list[i] end
    c.list = list
    c_lists[list] = c
  end
  return capi_lib.gavel_http_allow_match(u.scheme, u.host, #u.host, u.port,
                                         c.arr, c.n) == 1
end

-- url -> { scheme, host (lower case, no brackets), hostport (for Host: and
-- messages), connect (host for sock:connect), port, target } | nil, err
local function parse_url(url)
  local bad = "network.http: invalid url '" .. sub(url, 1, 200) .. "'"
  local scheme, rest = match(url, "^(%a[%w+.-]*)://(.*)$")
  if not scheme then return nil, bad end
  scheme = lower(scheme)
  if scheme ~= "http" and scheme ~= "https" then
    return nil, "network.http: scheme '" .. scheme .. "' is not allowed "
                .. "(http and https only)"
  end
  local authority, target = match(rest, "^([^/?#]*)([^#]*)")
  if find(authority, "@", 1, true) then
    return nil, "network.http: credentials in the url are not supported"
  end
  local host, tail, shown
  if sub(authority, 1, 1) == "[" then
    host, tail = match(authority, "^%[([%x:.]+)%](.*)$")
    shown = host and "[" .. host .. "]"
  else
    host, tail = match(authority, "^([%w.%-_]+)(.*)$")
    shown = host
  end
  if not host then return nil, bad end
  local port = scheme == "https" and 443 or 80
  local hostport = shown
  if tail ~= "" then
    local p = match(tail, "^:(%d+)$")
    port = tonumber(p)
    if not port or port < 1 or port > 65535 then return nil, bad end
    hostport = shown .. tail
  end
  if find(target, "[%z\1-\32\127]") then return nil, bad end
  if target == "" then
    target = "/"
  elseif sub(target, 1, 1) == "?" then
    target = "/" .. target
  end
  return { scheme = scheme, host = (gsub(lower(host), "%.$", "")),
           shown = shown, hostport = hostport, port = port,
           target = target }
end

-- A number as the C provider writes it (Ordo's display): integers as
-- such, other floats the shortest text that reads back the same, in full
-- decimal without an exponent (1e70: a 1 and 70 zeros; 0.1: "0.1", where
-- "%.17g" wrote 0.10000000000000001).
local function number_text(v)
  if v == floor(v) and v > -2^53 and v < 2^53 then
    return format("%d", v)
  end
  local s
  for p = 1, 17 do
    s = format("%." .. p .. "g", v)
    if tonumber(s) == v then break end
  end
  local sign, int, frac, exp = s:match("^(-?)(%d)%.?(%d*)e([-+]%d+)$")
  if not sign then return s end
  local digits, point = int .. frac, tonumber(exp) + 1
  if point <= 0 then
    return sign .. "0." .. string.rep("0", -point) .. digits
  elseif point >= #digits then
    return sign .. digits .. string.rep("0", point - #digits)
  end
  return sign .. sub(digits, 1, point) .. "." .. sub(digits, point + 1)
end

local function scalar_text(v)
  local t = type(v)
  if t == "string" then return v end
  if t == "boolean" then return v and "true" or "false" end
  if t == "number" then return number_text(v) end
  return nil
end

-- params.query (an object; a list value repeats the key) -> "k=v&..."
local function query_string(q)
  if type(q) ~= "table" then
    return nil, "network.http: 'query' must be an object"
  end
  local keys = {}
  for k in each, q do keys[#keys + 1] = tostring(k) end
  sort(keys)
  local out = {}
  for _, k in ipairs(keys) do
    local v = q[k]
    local list = v
    if type(v) ~= "table" then
      list = { v }
    elseif #v == 0 and next(v) ~= nil then
      return nil, "network.http: query value '" .. k .. "' must be a "
                  .. "string, number, bool or list of them"
    end
    for _, item in ipairs(list) do
      if item ~= gavel_null then
        local s = scalar_text(item)
        if not s then
          return nil, "network.http: query value '" .. k .. "' must be a "
                      .. "string, number, bool or list of them"
        end
        out[#out + 1] = ngx_escape_uri(k) .. "=" .. ngx_escape_uri(s)
      end
    end
  end
  return concat(out, "&")
end

-- Invalid UTF-8 sequences become U+FFFD (engine strings must be UTF-8), as
-- the C provider does.  ASCII text is returned as is.
local function utf8_lossy(s)
  if not find(s, "[\128-\255]") then return s end
  local out, n, i, len, from = {}, 0, 1, #s, 1
  while i <= len do
    local c = byte(s, i)
    if c < 0x80 then
      i = i + 1
    else
      local need, lo, hi = 0, 0x80, 0xBF
      if c >= 0xC2 and c <= 0xDF then need = 1
      elseif c == 0xE0 then need, lo = 2, 0xA0
      elseif c == 0xED then need, hi = 2, 0x9F
      elseif c >= 0xE1 and c <= 0xEF then need = 2
      elseif c == 0xF0 then need, lo = 3, 0x90
      elseif c == 0xF4 then need, hi = 3, 0x8F
      elseif c >= 0xF1 and c <= 0xF3 then need = 3
      end
      local k = 0
      while k < need do
        local b = byte(s, i + 1 + k)
        if not b or b < (k == 0 and lo or 0x80)
            or b > (k == 0 and hi or 0xBF) then
          break
        end
        k = k + 1
      end
      if need > 0 and k == need then
        i = i + 1 + need
      else   -- replace the maximal invalid prefix with one U+FFFD
        n = n + 1
        out[n] = sub(s, from, i - 1) .. "\239\191\189"
        i = i + 1 + k
        from = i
      end
    end
  end
  if n == 0 then return s end
  out[n + 1] = sub(s, from)
  return concat(out)
end

-- Sets the socket timeout to what is left of the deadline (capped).
local function arm(sock, deadline, cap)
  local left = floor(deadline - now_ms())
  if left <= 0 then return false end
  sock:settimeout(cap and min(left, cap) or left)
  return true
end

-- The response head (status line and headers; a chunked body's trailers)
-- may take at most this many bytes, as in the C provider
-- (HTTP_MAX_RESP_HDR), and a chunk-size line at most MAX_SIZE_LINE: lines
-- are read in pieces against the bound, never buffered whole.
local MAX_HEAD, MAX_SIZE_LINE = 65536, 4096

-- read_line(sock, reader, deadline, left, what) -> line (without its CR
-- LF), bytes it took | nil, err.  'reader': sock:receiveuntil("\n").
local function read_line(sock, reader, deadline, left, what)
  local first, parts, n, len = nil, nil, 1, 0
  while true do
    if not arm(sock, deadline) then return nil, "timeout" end
    local data, err = reader(4096)
    if err then return nil, err end
    if not data then break end   -- the LF
    len = len + #data
    if len >= left then return nil, what end
    if not first then
      first = data
    else
      if not parts then parts = { first } end
      n = n + 1
      parts[n] = data
    end
  end
  local line = parts and concat(parts) or first or ""
  if byte(line, -1) == 13 then line = sub(line, 1, -2) end
  return line, len + 1
end

local HEAD_TOO_LARGE = format("response head larger than %d bytes", MAX_HEAD)

-- Reads the status line and headers -> status, headers | nil, err.  A
-- repeated header's values are joined with ", " once, at the end.
local function read_head(sock, reader, deadline)
  local status, headers, left = nil, nil, MAX_HEAD
  repeat   -- skips 1xx interim responses
    local line, used = read_line(sock, reader, deadline, left,
                                 HEAD_TOO_LARGE)
    if not line then return nil, used end
    left = left - used
    status = tonumber(match(line, "^HTTP/%d%.%d (%d%d%d)"))
    if not status then
      return nil, "bad status line '" .. sub(line, 1, 100) .. "'"
    end
    headers = {}
    local multi
    while true do
      line, used = read_line(sock, reader, deadline, left, HEAD_TOO_LARGE)
      if not line then return nil, used end
      left = left - used
      if line == "" then break end
      local name, value = match(line, "^([^:%s]+):%s*(.-)%s*$")
      if not name then
        return nil, "bad header line '" .. sub(line, 1, 100) .. "'"
      end
      name, value = lower(name), utf8_lossy(value)
      local old = headers[name]
      if old == nil then
        headers[name] = value
      else
        multi = multi or {}
        local l = multi[name]
        if not l then
          l = { old }
          multi[name] = l
        end
        l[#l + 1] = value
      end
    end
    if multi then
      for name, l in each, multi do headers[name] = concat(l, ", ") end
    end
  until status >= 200 or status == 101
  return status, headers
end

-- Reads a chunked body -> text | nil, err
local function read_chunked(sock, reader, deadline)
  local parts, size = {}, 0
  while true do
    local line, used = read_line(sock, reader, deadline, MAX_SIZE_LINE,
      format("chunk-size line longer than %d bytes", MAX_SIZE_LINE))
    if not line then return nil, used end
    local n = tonumber(match(line, "^%s*(%x+)"), 16)
    if not n then
      return nil, "bad chunk size line '" .. sub(line, 1, 40) .. "'"
    end
    if n == 0 then   -- trailers, up to the empty line
      local left = MAX_HEAD
      repeat
        line, used = read_line(sock, reader, deadline, left,
          format("response trailers larger than %d bytes", MAX_HEAD))
        if not line then return nil, used end
        left = left - used
      until line == ""
      return concat(parts)
    end
    size = size + n
    if size > max_body then
      return nil, format("response body is larger than max_body (%d)",
                         max_body)
    end
    if not arm(sock, deadline) then return nil, "timeout" end
    local data, err = sock:receive(n)
    if not data then return nil, err end
    parts[#parts + 1] = data
    if not arm(sock, deadline) then return nil, "timeout" end
    line, err = sock:receive(2)
    if line ~= "\r\n" then return nil, err or "bad chunk terminator" end
  end
end

-- Reads the body: chunked, Content-Length, or up to the close
-- -> body, reusable (the connection may go back to the pool) | nil, err
local function read_body(sock, reader, deadline, method, status, headers)
  local reusable = not find(lower(headers["connection"] or ""), "close",
                            1, true)
  if method == "HEAD" or status == 204 or status == 304 then
    return "", reusable
  end
  local te = headers["transfer-encoding"]
  if te and lower(te) ~= "identity" then
    if not find(lower(te), "chunked", 1, true) then
      return nil, "unsupported Transfer-Encoding '" .. te .. "'"
    end
    local body, err = read_chunked(sock, reader, deadline)
    if not body then return nil, err end
    return body, reusable
  end
  local cl = headers["content-length"]
  if cl then
    local n = tonumber(match(cl, "^%d+$"))
    if not n then return nil, "bad Content-Length '" .. cl .. "'" end
    if n > max_body then
      return nil, format("response body of %d bytes is larger than "
                         .. "max_body (%d)", n, max_body)
    end
    if n == 0 then return "", reusable end
    if not arm(sock, deadline) then return nil, "timeout" end
    local body, err = sock:receive(n)
    if not body then return nil, err end
    return body, reusable
  end
  local parts, size = {}, 0
  while true do
    if not arm(sock, deadline) then return nil, "timeout" end
    local data, err = sock:receiveany(65536)
    if not data then
      if err == "closed" then break end
      return nil, err
    end
    size = size + #data
    if size > max_body then
      return nil, format("response body is larger than max_body (%d)",
                         max_body)
    end
    parts[#parts + 1] = data
  end
  return concat(parts), false
end

-- Builds the request text -> text | nil, err
local function build_request(method, u, params)
  local target = u.target
  if params.query ~= nil and params.query ~= gavel_null then
    local q, err = query_string(params.query)
    if not q then return nil, err end
    if q ~= "" then
      target = target .. (find(target, "?", 1, true) and "&" or "?") .. q
    end
  end
  local body, jb, bd = nil, params.json_body, params.body
  if jb ~= nil and bd ~= nil then
    return nil, "network.http: give 'json_body' or 'body', not both"
  end
  if jb ~= nil then
    local err
    body, err = json_encode(jb)
    if not body then return nil, "network.http: json_body: " .. err end
  elseif type(bd) == "string" then
    body = bd
  elseif bd ~= nil then
    local err
    body, err = json_encode(bd)
    if not body then return nil, "network.http: body: " .. err end
  end
  local lines, has = { method .. " " .. target .. " HTTP/1.1" }, {}
  local hs = params.headers
  if hs ~= nil and hs ~= gavel_null then
    if type(hs) ~= "table" then
      return nil, "network.http: 'headers' must be an object"
    end
    for name, v in each, hs do
      local s = scalar_text(v)
      if type(name) ~= "string" or not match(name, "^[%w!#$%%&'*+.^_`|~-]+$")
          or not s or find(s, "[%z\r\n]") then
        return nil, "network.http: bad header '" .. tostring(name) .. "'"
      end
      local ln = lower(name)
      if ln ~= "content-length" and ln ~= "connection"
          and ln ~= "transfer-encoding" then
        lines[#lines + 1] = name .. ": " .. s
        has[ln] = true
      end
    end
  end
  if not has["host"] then lines[#lines + 1] = "Host: " .. u.hostport end
  if not has["user-agent"] then
    lines[#lines + 1] = "User-Agent: " .. USER_AGENT
  end
  if jb ~= nil and not has["content-type"] then
    lines[#lines + 1] = "Content-Type: application/json"
  end
  if body or method == "POST" or method == "PUT" or method == "PATCH" then
    lines[#lines + 1] = "Content-Length: " .. (body and #body or 0)
  end
  -- HTTP/1.1: the connection is kept alive (pooled) unless the server
  -- closes it
  lines[#lines + 1] = ""
  lines[#lines + 1] = body or ""
  return concat(lines, "\r\n")
end

-- http(operation, params, ctx) -> payload, metadata | nil, err
-- The network.http provider on cosockets (yields; request phases and
-- timers only): params url, headers, query, json_body or body; the
-- payload is { status, body, json_body?, headers } and the metadata
-- { status }, as the C provider's.  The URL is checked against the
-- configure{} allowlist before any connection.  ctx.timeout_ms (default
-- 10 s) bounds the whole call.  Redirects are not followed (a 3xx is a
-- result); hostnames need nginx's 'resolver'; https needs
-- lua_ssl_trusted_certificate (the certificate is verified).  Connections
-- are pooled per worker (setkeepalive); chunked and Content-Length bodies
-- are read; every socket operation is bounded by what is left of the
-- call's deadline, so the timeout fires during the call.  json_body is cjson's decoding: without
-- OpenResty's cjson (decode_array_with_array_mt), an empty JSON array
-- comes back as an empty object.
function _M.http(operation, params, ctx)
  if type(operation) ~= "string" or not match(operation, "^[%w_-]+$") then
    return nil, "network.http: invalid method '" .. tostring(operation) .. "'"
  end
  local method = upper(operation)
  if type(params) ~= "table" or type(params.url) ~= "string" then
    return nil, "network.http: parameter 'url' (a string) is required"
  end
  local u, err = parse_url(params.url)
  if not u then return nil, err end
  local list = allow
  if ctx and type(ctx.http_allow) == "table" then list = ctx.http_allow end
  if not allowed(u, list) then
    return nil, format("network.http: host %s:%d is not in the allowlist",
                       u.shown, u.port)
  end
  local req
  req, err = build_request(method, u, params)
  if not req then return nil, err end

  local timeout = ctx and ctx.timeout_ms or 0
  if timeout <= 0 then timeout = DEFAULT_TIMEOUT_MS end
  local deadline = ctx and ctx.deadline_ms or now_ms() + timeout
  local sock = ngx_socket_tcp()
  local function fail(what, e)
    sock:close()
    if e == "timeout" then
      return nil, format("network.http: %s %s timed out (timeout_ms %d)",
                         what, u.hostport, timeout)
    end
    return nil, format("network.http: %s %s failed: %s", what, u.hostport,
                       tostring(e))
  end
  if not arm(sock, deadline, CONNECT_TIMEOUT_MS) then
    return fail("connect to", "timeout")
  end
  local ok
  -- one keepalive pool per scheme, host and port (an https connection is
  -- never handed to a plain http request)
  ok, err = sock:connect(u.shown, u.port, { pool = u.scheme .. "://"
                                            .. u.host .. ":" .. u.port })
  if not ok then return fail("connect to", err) end
  if u.scheme == "https" and sock:getreusedtimes() == 0 then
    if not arm(sock, deadline) then return fail("TLS with", "timeout") end
    ok, err = sock:sslhandshake(nil, u.host, true)
    if not ok then return fail("TLS with", err) end
  end
  if not arm(sock, deadline) then return fail("request to", "timeout") end
  ok, err = sock:send(req)
  if not ok then return fail("request to", err) end
  local reader = sock:receiveuntil("\n")
  local status, headers = read_head(sock, reader, deadline)
  if not status then return fail("response from", headers) end
  local body, reusable = read_body(sock, reader, deadline, method, status,
                                   headers)
  if not body then return fail("response from", reusable) end
  if reusable then
    sock:setkeepalive(KEEPALIVE_MS, KEEPALIVE_POOL)
  else
    sock:close()
  end
  body = utf8_lossy(body)
  local payload = { status = status, body = body, headers = headers }
  if body ~= "" then
    local v = json_decode(body)
    if v ~= nil then payload.json_body = v end
  end
  return payload, { status = tostring(status) }
end

-- register_http([name]) -> true | nil, err, code
-- Registers _M.http as the Lua provider of 'name' (default
-- "network.http"), replacing a C provider of that name in this worker.
-- Call it before loading the rulesets that use it.
function _M.register_http(name)
  if name ~= nil and type(name) ~= "string" then
    error("resty.gavel.register_http: name must be a string", 2)
  end
  return gavel.providers.register(name or "network.http", _M.http)
end

-- policy(capability, { timeout_ms, retries, backoff_ms, backoff_max_ms,
--   breaker = { threshold, reset_ms }, concurrency, idempotent = {...} })
-- -> true | nil, err, code: the engine's capability policy (see
-- resty/gavel/policy.lua).
function _M.policy(capability, opts)
  return require("resty.gavel.policy")(capability, opts)
end

-- ==== The service (resty/gavel/server.lua) ====

-- init{ rules_dir = dir | { dirs }, allow_http = { ... }, shm = "gavel",
--       reload = { interval = 1 }, capabilities = { ... }, max_body = n,
--       audit = path | { file, interval, max_lines }, metrics_interval = s,
--       capture = { file, sample, redact = { paths }, salt, interval,
--                   max_records } }
-- capture: decision records for 'gavel replay' (resty/gavel/capture.lua).
-- In init_worker_by_lua*: registers the nginx providers, loads every
-- ruleset of rules_dir, starts the reload timer, metrics (shm) and audit.
-- Bad options raise.
function _M.init(opts)
  return require("resty.gavel.server").init(opts, _M)
end

-- Request handlers (see resty/gavel/server.lua): execute([opts]) in
-- content_by_lua (POST /api/v1/execute/<name>), access{ ruleset = ... } in
-- access_by_lua, health(), admin_reload().
-- (required on first use: resty.gavel alone does not load them)
-- metrics() (GET /metrics), provide(capability, fn) (an instrumented Lua
-- provider), audit_open(path) (init_by_lua: open the audit file as the
-- master).
-- The first call puts the handler itself in _M (no vararg frame on the
-- request path afterwards: LuaJIT does not compile from one).
for _, f in ipairs({ "execute", "access", "health", "admin_reload",
                     "metrics", "provide", "audit_open" }) do
  _M[f] = function(...)
    local fn = require("resty.gavel.server")[f]
    _M[f] = fn
    return fn(...)
  end
end

return _M
