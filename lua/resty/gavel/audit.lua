-- resty/gavel/audit.lua -- audit.logger in nginx: one JSON line per run,
-- the CLI's audit line format ({"ts","event":"rule_executed","trace_id",
-- "ruleset","version","status","code","duration_us","gas_used",
-- "input_sha256"[,"error"]}), buffered per worker and appended by a timer
-- with one write per flush, so a request never waits on the disk.
--
-- The buffer is bounded ('max_lines'); a line that does not fit is
-- dropped and counted (gavel_audit_dropped_total).  On worker exit (nginx
-- -s quit) the timer runs once more with premature = true and flushes.
-- The file is opened with open() in init_by_lua (the master, which may be
-- root: workers inherit the descriptor) or by init{} in the worker; each
-- worker's flush timer starts in init{} (with or without its 'audit'
-- option) or at the worker's first line.
--
-- Per-worker state: 'fh' (the file), 'buf' / 'n' (pending lines),
-- 'dropped' (not yet reported to metrics), 'seq' (trace ids), 'timer_on'
-- (this worker's flush timer runs).

local ffi = require "ffi"
local metrics = require "resty.gavel.metrics"

local ngx = ngx
local ngx_log, ERR = ngx.log, ngx.ERR
local concat, io_open = table.concat, io.open
local byte, format, sub = string.byte, string.format, string.sub
local gsub = string.gsub
local floor = math.floor

-- trace_id(seq) -> the decimal text of pid * 2^32 + seq, exact (as a Lua
-- number it loses its low bits once pid >= 2^21, a pid Linux gives out);
-- the capture's records use it too
local trace_hi
local function trace_id(seq)
  if not trace_hi then
    trace_hi = ffi.new("uint64_t", ngx.worker.pid()) * 4294967296ULL
  end
  return (gsub(tostring(trace_hi + seq), "ULL$", ""))
end

local _M = { _VERSION = "0.1.0" }
_M.trace_id = trace_id

pcall(ffi.cdef, [[
unsigned char *SHA256(const unsigned char *d, size_t n, unsigned char *md);
]])
local md = ffi.new("unsigned char[32]")
local HEX = {}
for i = 0, 255 do HEX[i] = format("%02x", i) end

local fh, path = nil, nil
local buf, n, max_lines = {}, 0, 10000
local interval, timer_on = 0.2, false
local dropped, seq = 0, 0
local have_sha = pcall(function() return ffi.C.SHA256 end)

local function sha256_hex(s)
  if not have_sha or s == nil then return nil end
  ffi.C.SHA256(s, #s, md)
  local t = {}
  for i = 0, 31 do t[i + 1] = HEX[md[i]] end
  return concat(t)
end

-- json string (the engine's writer would need a table; this is one value)
local function jstr(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    local b = byte(c)
    if c == '"' then return '\\"' end
    if c == "\\" then return "\\\\" end
    if c == "\n" then return "\\n" end
    if c == "\t" then return "\\t" end
    if c == "\r" then return "\\r" end
    return format("\\u%04x", b)
  end) .. '"'
end

local function ts()
  local now = ngx.now()
  local sec = floor(now)
  return os.date("!%Y-%m-%dT%H:%M:%S", sec)
         .. format(".%03dZ", floor((now - sec) * 1000 + 0.5) % 1000)
end

-- open(file) -> true | nil, err  (a relative path is under the prefix)
function _M.open(file)
  if sub(file, 1, 1) ~= "/" then file = ngx.config.prefix() .. file end
  if fh and path == file then return true end
  local f, err = io_open(file, "a")
  if not f then return nil, err end
  f:setvbuf("no")   -- one write per flush, straight to the descriptor
  fh, path = f, file
  return true
end

-- line(ruleset, version, input, code|nil, us, err_code|nil, err|nil,
--      gas_used|nil, run_seq|nil (next_seq(): the run's trace id))
local start_timer

-- next_seq() -> this worker's next run number: one per run, shared by the
-- audit line and the capture record of that run, so that both carry one
-- trace id (each module counted its own: one id named two requests)
function _M.next_seq()
  seq = seq + 1
  return seq
end

function _M.line(rs, version, input, code, us, ecode, err, gas, run_seq)
  if not fh then return end
  if not timer_on then start_timer() end
  if n >= max_lines then
    dropped = dropped + 1
    return
  end
  if not run_seq then run_seq = _M.next_seq() end
  local st = ecode and sub(ecode, 7):lower() or "ok"
  local sha = sha256_hex(input or "null")
  n = n + 1
  buf[n] = '{"ts":"' .. ts() .. '","event":"rule_executed","trace_id":'
    .. trace_id(run_seq)
    .. ',"ruleset":' .. jstr(rs) .. ',"version":' .. jstr(version)
    .. ',"status":"' .. st .. '","code":' .. jstr(code or "")
    .. ',"duration_us":' .. us .. ',"gas_used":'
    .. format("%d", gas or 0) .. ',"input_sha256":'
    .. (sha and '"' .. sha .. '"' or "null")
    .. (err and ',"error":' .. jstr(err) or "") .. "}\n"
end

-- follow(f, path, what) -> the file to write: 'f', or 'path' opened
-- again when it is no longer the file 'f' writes (moved away by logrotate,
-- or removed): lines went to the old file for good.  LuaJIT has no stat:
-- the sizes of the two tell (a rotated path is another, shorter file; one
-- appended by another worker between the two reads is reopened, harmless).
function _M.follow(f, file, what)
  local cur = f:seek("end")
  local p = io_open(file, "rb")
  local size = p and p:seek("end")
  if p then p:close() end
  if cur and size == cur then return f end
  local nf, err = io_open(file, "a")
  if not nf then
    ngx_log(ERR, "gavel: ", what, ": cannot reopen ", file, ": ", err)
    return f
  end
  nf:setvbuf("no")
  f:close()
  return nf
end

-- flush(): writes the buffered lines (one write)
function _M.flush()
  if dropped > 0 then
    metrics.audit_dropped(dropped)
    ngx_log(ERR, "gavel: audit: ", dropped, " line(s) dropped (buffer of ",
            max_lines, " full)")
    dropped = 0
  end
  if n == 0 or not fh then return end
  local text, lines = concat(buf, "", 1, n), n
  buf, n = {}, 0
  fh = _M.follow(fh, path, "audit")
  local ok, err = fh:write(text)
  if not ok then -- counted with the drops: lines lost are never silent
    metrics.audit_dropped(lines)
    ngx_log(ERR, "gavel: audit: write failed, ", lines, " line(s) lost: ",
            err)
  end
end

-- start_timer() -> true | nil, err: this worker's flush timer, once.
-- Whoever opened the file (open() in init_by_lua, init{}'s 'audit') gets
-- it flushed: init{} starts it in init_worker, and the first line of a
-- worker where nothing did (serve() without init{}) starts it then.  A
-- phase without timers (init_by_lua) leaves it for a later call.
function start_timer()
  if timer_on then return true end
  local ok, started, err = pcall(ngx.timer.every, interval, function()
    _M.flush()
  end)
  if not ok or not started then
    return nil, tostring(ok and err or started)
  end
  timer_on = true
  return true
end

-- init{ file = path, interval = s, max_lines = n } (per worker)
function _M.init(opts)
  if opts.file then
    local ok, err = _M.open(opts.file)
    if not ok then return nil, "cannot open audit file: " .. err end
  end
  if not fh then return true end
  max_lines = opts.max_lines or max_lines
  interval = opts.interval or interval
  return start_timer()
end

-- start() -> true | nil, err: the flush timer of a file opened elsewhere
-- (init_worker; nothing to do while no file is open)
function _M.start()
  if not fh then return true end
  return start_timer()
end

-- on() -> true when lines are written (an audit file is open)
function _M.on()
  return fh ~= nil
end

function _M.pending()
  return n, dropped
end

return _M
