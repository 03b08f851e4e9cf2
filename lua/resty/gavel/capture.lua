-- resty/gavel/capture.lua -- decision capture in nginx: one JSON line per
-- sampled run, the record format of providers/capture.c ({ts, ruleset,
-- version, hash, trace_id, input, status, code, message, duration_us,
-- gas_used, receipts: [{capability, operation, params, attempt, outcome,
-- payload, metadata | error}], output}), for 'gavel replay'.
--
-- Opt-in (init{ capture = {...} }), with a sample rate.  The request path
-- only keeps the raw pieces (the input and result texts, the receipts'
-- Lua values) in a per-worker buffer; a timer builds the lines (JSON,
-- redaction, hashes) and appends them with one write per flush, so a
-- request never waits on the disk or on the encoding.  The buffer is
-- bounded ('max_records'); a record that does not fit is dropped and
-- counted.  On worker exit (nginx -s quit) the timer runs once more and
-- flushes.
--
-- Receipts are recorded by the instrumented providers (resty.gavel.provide
-- and the nginx network.http of init{}): a provider registered directly
-- with gavel.providers.register is not recorded, and its calls are
-- 'needs-host-call' in a replay.  A receipt holds what the provider
-- returned: a payload that came after the action's timeout (which the run
-- treats as a timeout) is recorded as a payload, so such a record replays
-- differently.
--
-- Redaction: each 'redact' path ("applicant.ssn"; arrays on the way: every
-- element) of the input is written as "sha256:<hex of salt .. its JSON>",
-- as the C capture does.  A redacted input is written again from its
-- decoded value (its key order may change), without the runtime's
-- max_input_bytes (the capture is a log, not an engine input: each
-- redacted value grows to 71 bytes); otherwise the input text is copied as
-- the client sent it (on one line).  With redaction configured, an input
-- that cannot be redacted (not JSON: the run failed on it with 400; or its
-- redacted value cannot be written) is never written: the record has
-- "input": null and "input_redaction": "failed: <why>" (counted, logged
-- at the flush).  'gavel replay' reports such a record as malformed
-- ("input withheld"), never replays it on a null input.
--
-- Per-worker state: 'fh' / 'path' (the file), 'q' / 'n' (records not yet
-- written), 'dropped', 'unredacted' (records written
-- without their input since the last flush), the options.

local ffi = require "ffi"
local gavel = require "gavel"

local ngx = ngx
local ngx_log, ERR = ngx.log, ngx.ERR
local concat, io_open = table.concat, io.open
local byte, find, format, sub, gsub = string.byte, string.find,
  string.format, string.sub, string.gsub
local floor, random = math.floor, math.random
local type, ipairs, tostring = type, ipairs, tostring
local json_decode = gavel.json.decode
local capi = require("gavel.core").capi
local audit = require "resty.gavel.audit"
local metrics = require "resty.gavel.metrics"
local trace_id = audit.trace_id -- exact ids

local _M = { _VERSION = "0.1.0" }

pcall(ffi.cdef, [[
unsigned char *SHA256(const unsigned char *d, size_t n, unsigned char *md);
]])
local md = ffi.new("unsigned char[32]")
local HEX = {}
for i = 0, 255 do HEX[i] = format("%02x", i) end
local have_sha = pcall(function() return ffi.C.SHA256 end)

local fh, path = nil, nil
local q, n, max_records, dropped = {}, 0, 10000, 0
local unredacted, unredacted_why = 0, nil
local sample, redact, salt = 1, {}, ""
local enabled = false

-- sha256_hex(s) -> lowercase hex | nil (no OpenSSL in the process)
local function sha256_hex(s)
  if not have_sha then return nil end
  ffi.C.SHA256(s, #s, md)
  local t = {}
  for i = 0, 31 do t[i + 1] = HEX[md[i]] end
  return concat(t)
end

-- hash(text) -> "sha256:<hex>" of a ruleset document (the record's
-- "hash", matched by 'gavel replay --verify'), as gavel_capture_hash
function _M.hash(text)
  local h = sha256_hex(text)
  return h and "sha256:" .. h or ""
end

function _M.enabled()
  return enabled
end

-- ==== The request path ====

-- begin() -> a record in progress for this request (sampled) | nil
function _M.begin()
  if not enabled or (sample < 1 and random() >= sample) then return nil end
  local rec = { receipts = {}, nr = 0 }
  ngx.ctx.gavel_capture = rec
  return rec
end

-- receipt(cap, op, params, ctx, payload, meta_or_err): from the
-- instrumented providers; payload nil = the call failed (meta_or_err is
-- the message)
function _M.receipt(cap, op, params, ctx, payload, meta)
  if not enabled then return end
  local rec = ngx.ctx.gavel_capture
  if not rec then return end
  local k = rec.nr + 1
  rec.nr = k
  rec.receipts[k] = { cap, op, params, ctx and ctx.attempt or 1, payload,
                      meta }
end

-- finish(rec, ent, input, res, err, code, us, gas, traced, run_seq):
-- queues the record (res: the result JSON text, or nil with err/code; traced: res
-- ends with the run's "trace" member, which the record leaves out)
function _M.finish(rec, ent, input, res, err, code, us, gas, traced,
                   run_seq)
  ngx.ctx.gavel_capture = nil
  if n >= max_records then
    dropped = dropped + 1
    return
  end
  rec.t, rec.ent_name, rec.ent_version = ngx.now(), ent.name, ent.version
  rec.ent_hash = ent.capture_hash or ""
  rec.trace = run_seq or audit.next_seq() -- the audit line's id too
  rec.input, rec.res, rec.err, rec.code = input, res, err, code
  rec.us, rec.gas, rec.traced = us, gas or 0, traced
  n = n + 1
  q[n] = rec
end

-- ==== The flush (timer): building the lines ====

local function ts(t)
  local sec = floor(t)
  return os.date("!%Y-%m-%dT%H:%M:%S", sec)
         .. format(".%03dZ", floor((t - sec) * 1000 + 0.5) % 1000)
end

-- The capture's JSON writer: the engine's, under a runtime of its own
-- whose max_input_bytes does not bound the text (a redacted input may be
-- larger than the input the run accepted).
local log_rt
local function log_encode(v)
  log_rt = log_rt or assert(capi.runtime { max_input_bytes = 2 ^ 62 })
  return capi.json_encode(v, log_rt)
end

local function jstr(s)
  return log_encode(tostring(s)) or '""'
end

-- replaces the value at the split path p[i..] in v (arrays: each
-- element) -> nil | err (a value that cannot be written to be hashed)
local function redact_at(v, p, i)
  if type(v) ~= "table" then return nil end
  if gavel.is_array(v) then
    for j = 1, #v do
      local err = redact_at(v[j], p, i)
      if err then return err end
    end
    return nil
  end
  local k = p[i]
  if v[k] == nil then return nil end
  if i < #p then return redact_at(v[k], p, i + 1) end
  local text, err = log_encode(v[k])
  if not text then return err end
  local h = sha256_hex(salt .. text)
  v[k] = "sha256:" .. (h or "")
  return nil
end

-- input_json(text) -> the JSON text of the record's "input"[, why]: 'why'
-- when redaction is configured and the input could not be redacted (the
-- text is then "null": the raw input is never written)
local function input_json(text)
  if text == nil or text == "" then return "null" end
  if #redact == 0 then
    if not find(text, "[\r\n]") then
      local v = json_decode(text)
      if v ~= nil then return text end  -- JSON: copied as it is
      return jstr(text)                 -- not JSON (the run failed on it)
    end
    local v = json_decode(text, { int64 = true })
    if v == nil then return jstr(text) end
    return log_encode(v) or jstr(text)
  end
  local v, err = json_decode(text, { int64 = true })
  if v == nil then
    return "null", "the input is not JSON: " .. tostring(err)
  end
  for _, p in ipairs(redact) do
    err = redact_at(v, p, 1)
    if err then
      return "null", "cannot write a redacted value: " .. tostring(err)
    end
  end
  local out
  out, err = log_encode(v)
  if not out then
    return "null", "cannot write the redacted input: " .. tostring(err)
  end
  return out
end

-- the value text of the result's "message" / "output" member (the
-- engine's compact JSON: {"code":..,"message":..,"output":..[,"trace":..]},
-- the trace member only when 'traced': an output may hold that text too)
local function result_members(res, traced)
  local m0 = find(res, ',"message":', 1, true)
  local o0 = find(res, ',"output":', 1, true)
  if not m0 or not o0 then return nil, nil end
  local o_end = #res - 1
  local t = traced and find(res, ',"trace":{"path":"', o0, true)
  if t then
    -- the last occurrence is the member (see lgavel.c trace_member)
    local nx = t
    while nx do
      t = nx
      nx = find(res, ',"trace":{"path":"', t + 1, true)
    end
    o_end = t - 1
  end
  return sub(res, m0 + 11, o0 - 1), sub(res, o0 + 10, o_end)
end

local function receipt_json(r)
  local cap, op, params, attempt, payload, meta = r[1], r[2], r[3], r[4],
    r[5], r[6]
  local s = '{"capability":' .. jstr(cap) .. ',"operation":' .. jstr(op)
    .. ',"params":' .. (log_encode(params == nil and gavel.null or params)
                        or "null")
    .. ',"attempt":' .. format("%d", attempt or 1)
  if payload ~= nil then
    return s .. ',"outcome":"ok","payload":' .. (log_encode(payload)
      or "null") .. ',"metadata":' .. (meta ~= nil and log_encode(meta)
      or "null") .. "}"
  end
  local msg = meta ~= nil and tostring(meta) or "provider returned no payload"
  return s .. ',"outcome":"' .. (find(msg, "timed out", 1, true)
    and "timeout" or "error") .. '","error":' .. jstr(msg) .. "}"
end

local function line(rec)
  local ok = rec.res ~= nil
  local input, why = input_json(rec.input)
  if why then
    unredacted = unredacted + 1
    unredacted_why = why
    input = input .. ',"input_redaction":' .. jstr("failed: " .. why)
  end
  local parts = {
    '{"ts":"', ts(rec.t), '","ruleset":', jstr(rec.ent_name),
    ',"version":', jstr(rec.ent_version), ',"hash":', jstr(rec.ent_hash),
    ',"trace_id":', trace_id(rec.trace), ',"input":', input, ',"status":',
    jstr(ok and "GAVEL_OK" or rec.code or "GAVEL_RUNTIME"), ',"code":',
  }
  local msg, out
  if ok then
    local c = rec.res:match('^{"code":("[^"\\]*")')
    parts[#parts + 1] = c or '""'
    msg, out = result_members(rec.res, rec.traced)
  else
    parts[#parts + 1] = '"","message":'
    parts[#parts + 1] = jstr(rec.err or "")
  end
  parts[#parts + 1] = ',"duration_us":' .. format("%d", rec.us)
    .. ',"gas_used":' .. format("%d", rec.gas) .. ',"receipts":['
  for i = 1, rec.nr do
    if i > 1 then parts[#parts + 1] = "," end
    parts[#parts + 1] = receipt_json(rec.receipts[i])
  end
  parts[#parts + 1] = "]"
  if ok then
    parts[#parts + 1] = ',"message":' .. (msg or '""')
    if out then parts[#parts + 1] = ',"output":' .. out end
  end
  parts[#parts + 1] = "}\n"
  return concat(parts)
end

-- flush(): builds and writes the queued records (one write)
function _M.flush()
  if dropped > 0 then
    ngx_log(ERR, "gavel: capture: ", dropped, " record(s) dropped (buffer "
            .. "of ", max_records, " full)")
    _M.dropped_total = (_M.dropped_total or 0) + dropped
    metrics.capture_dropped(dropped)
    dropped = 0
  end
  if n == 0 or not fh then return end
  local recs, k = q, n
  q, n = {}, 0
  local out = {}
  for i = 1, k do
    local ok, l = pcall(line, recs[i])
    if ok then
      out[#out + 1] = l
    else
      metrics.capture_dropped(1)
      ngx_log(ERR, "gavel: capture: record not written: ", l)
    end
  end
  if unredacted > 0 then
    ngx_log(ERR, "gavel: capture: ", unredacted, " record(s) written "
            .. "without their input (\"input\": null): redaction failed (",
            unredacted_why, ")")
    _M.unredacted_total = (_M.unredacted_total or 0) + unredacted
    unredacted, unredacted_why = 0, nil
  end
  fh = audit.follow(fh, path, "capture") -- after a logrotate: the new file
  local okw, err = fh:write(concat(out))
  if not okw then -- counted: records lost are never silent
    metrics.capture_dropped(#out)
    ngx_log(ERR, "gavel: capture: write failed, ", #out, " record(s) lost: ",
            err)
  end
end

-- init{ file = path, sample = 0..1, redact = { "a.b", ... }, salt = s,
--       interval = s, max_records = n } (per worker) -> true | nil, err
function _M.init(opts)
  if type(opts) ~= "table" or type(opts.file) ~= "string" then
    return nil, "capture must be { file = path, ... }"
  end
  local s = opts.sample == nil and 1 or opts.sample
  if type(s) ~= "number" or not (s >= 0 and s <= 1) then
    return nil, "capture: sample rate " .. tostring(s)
                .. " is not between 0 and 1"
  end
  local file = opts.file
  if sub(file, 1, 1) ~= "/" then file = ngx.config.prefix() .. file end
  local list = {}
  for i, p in ipairs(opts.redact or {}) do
    if type(p) ~= "string" or p == "" then
      return nil, "capture: redact entries are input paths (\"a.b\")"
    end
    local parts = {}
    for seg in gsub(p, "^input%.", ""):gmatch("[^.]+") do
      parts[#parts + 1] = seg
    end
    list[i] = parts
  end
  if #list > 0 and not have_sha then
    return nil, "capture: redaction needs SHA256 (OpenSSL) in the process"
  end
  if opts.salt ~= nil and type(opts.salt) ~= "string" then
    return nil, "capture: salt must be a string"
  end
  local f, err = io_open(file, "a")
  if not f then return nil, "cannot open capture file: " .. tostring(err) end
  f:setvbuf("no")
  fh, path = f, file
  sample, redact = s, list
  -- no salt given: a random one per worker, so hashes of small domains
  -- cannot be reversed by a dictionary (and differ between workers)
  if not opts.salt then
    local r = io_open("/dev/urandom", "rb")
    local bytes = r and r:read(16)
    if r then r:close() end
    if not bytes or #bytes < 16 then
      return nil, "capture: cannot read /dev/urandom for the salt"
    end
    salt = gsub(bytes, ".", function(c) return HEX[byte(c)] end)
  else
    salt = opts.salt
  end
  max_records = opts.max_records or max_records
  local ok, terr = ngx.timer.every(opts.interval or 0.2, function()
    _M.flush()
  end)
  if not ok then return nil, terr end
  enabled = true
  return true
end

-- pending() -> records queued, records dropped since the last flush
function _M.pending()
  return n, dropped
end

return _M
