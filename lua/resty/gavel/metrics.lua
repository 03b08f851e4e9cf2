-- resty/gavel/metrics.lua -- metrics.prometheus in nginx: engine metrics
-- and the rules' metric actions, aggregated across workers in a
-- lua_shared_dict and exposed in the Prometheus text format.
--
-- Each worker adds to local tables on the request path (no shm lock per
-- request) and a timer flushes them into the shared dict every
-- 'interval' seconds (and the worker serving /metrics flushes its own
-- first), so counters are eventually consistent across workers.
--
-- Series (shm keys "<kind>|<family>|<labels>[|<bucket>]"):
--   gavel_runs_total{ruleset,code}              counter (code: the result
--                                               code, or the GAVEL_* error)
--   gavel_errors_total{ruleset,code}            counter
--   gavel_run_duration_seconds{ruleset}         histogram
--   gavel_host_calls_total{capability,outcome}  counter
--   gavel_host_call_duration_seconds{capability} histogram
--   gavel_audit_dropped_total                   counter
--   gavel_capture_dropped_total                 counter
--   <metric action name>{tags}                  gauge (last value)
--
-- Per-worker state: 'dict' (the shm), 'pending' (counter deltas), 'gauges'
-- (last values), 'labels' (label text cache).

local ngx = ngx
local ngx_log, ERR = ngx.log, ngx.ERR
-- 'each' is next: loops 'for k in each, t' are not ITERN loops (LuaJIT
-- #1510 drops an element; lua/README.md, "LuaJIT's ITERN loops")
local each, ipairs, type, tostring = next, ipairs, type, tostring
local concat, sort = table.concat, table.sort
local gsub, match, format, find = string.gsub, string.match, string.format,
  string.find

local _M = { _VERSION = "0.1.0" }

local BUCKETS = { 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                  0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 }
local NB = #BUCKETS

local TYPES = {
  gavel_runs_total = "counter", gavel_errors_total = "counter",
  gavel_run_duration_seconds = "histogram",
  gavel_host_calls_total = "counter",
  gavel_host_call_duration_seconds = "histogram",
  gavel_audit_dropped_total = "counter",
  gavel_capture_dropped_total = "counter",
}
local HELP = {
  gavel_runs_total = "Ruleset runs by result code or error status.",
  gavel_errors_total = "Ruleset runs that failed, by error status.",
  gavel_run_duration_seconds = "Ruleset run duration.",
  gavel_host_calls_total = "Host calls by capability and outcome.",
  gavel_host_call_duration_seconds = "Host call duration.",
  gavel_audit_dropped_total = "Audit lines dropped (buffer full).",
  gavel_capture_dropped_total = "Capture records lost (buffer full, not "
    .. "built, or a failed write).",
}

local dict = nil
local pending, gauges = {}, {}
local n_pending = 0

local function esc(v)
  return (gsub(tostring(v), '[\\"\n]', { ["\\"] = "\\\\", ['"'] = '\\"',
                                          ["\n"] = "\\n" }))
end

-- label text cache: labels[a][b] = 'x="a",y="b"' (built once per pair)
local label_cache = {}
local function labels2(k1, v1, k2, v2)
  local c = label_cache[k1]
  if not c then c = {} label_cache[k1] = c end
  local c1 = c[v1]
  if not c1 then c1 = {} c[v1] = c1 end
  local s = c1[v2 or ""]
  if not s then
    s = k1 .. '="' .. esc(v1) .. '"' .. (k2 and ',' .. k2 .. '="'
        .. esc(v2) .. '"' or "")
    c1[v2 or ""] = s
  end
  return s
end

local function add(key, n)
  local v = pending[key]
  if not v then n_pending = n_pending + 1 end
  pending[key] = (v or 0) + n
end

-- Histograms: the request path counts each observation in its first
-- bucket only ('hcount', per worker); flush() turns those counts into the
-- cumulative bucket deltas the shared dict holds.
local hist_keys, hist_dirty, n_dirty = {}, {}, 0
local function observe(family, lab, seconds)
  local byfam = hist_keys[family]
  if not byfam then byfam = {} hist_keys[family] = byfam end
  local ks = byfam[lab]
  if not ks then
    ks = { hcount = {} }
    local base = "H|" .. family .. "|" .. lab .. "|"
    for i = 1, NB + 1 do ks[i] = base .. i ks.hcount[i] = 0 end
    ks.sum, ks.count = base .. "sum", base .. "count"
    byfam[lab] = ks
  end
  local i = 1
  while i <= NB and BUCKETS[i] < seconds do i = i + 1 end
  local hc = ks.hcount
  if not ks.dirty then
    ks.dirty = true
    n_dirty = n_dirty + 1
    hist_dirty[n_dirty] = ks
  end
  hc[i] = hc[i] + 1
  add(ks.sum, seconds)
  add(ks.count, 1)
end

-- the histograms' first-bucket counts -> cumulative deltas in 'pending'
local function hist_to_pending()
  for d = 1, n_dirty do
    local ks = hist_dirty[d]
    local hc, acc = ks.hcount, 0
    for i = 1, NB + 1 do
      acc = acc + hc[i]
      hc[i] = 0
      if acc > 0 then add(ks[i], acc) end
    end
    ks.dirty = false
    hist_dirty[d] = nil
  end
  n_dirty = 0
end

-- ==== Recording (request path) ====

-- the runs counter's key of a ruleset and code (built once per pair: no
-- string made per request)
local runs_keys = {}
local function runs_key(ruleset, code)
  local c = runs_keys[ruleset]
  if not c then c = {} runs_keys[ruleset] = c end
  local k = c[code]
  if not k then
    k = "C|gavel_runs_total|" .. labels2("ruleset", ruleset, "code", code)
    c[code] = k
  end
  return k
end

-- run(ruleset, code, us, failed[, metric_actions])
function _M.run(ruleset, code, us, failed, actions)
  if not dict then return end
  add(runs_key(ruleset, code), 1)
  if failed then
    add("C|gavel_errors_total|" .. labels2("ruleset", ruleset, "code",
        code), 1)
  end
  observe("gavel_run_duration_seconds", labels2("ruleset", ruleset),
          us / 1e6)
  if actions then
    for _, m in ipairs(actions) do
      local name = gsub(tostring(m.name), "[^%w_:]", "_")
      if find(name, "^[%d]") then name = "_" .. name end
      if TYPES[name] then name = "rule_" .. name end
      local parts, keys = {}, {}
      for k in each, type(m.tags) == "table" and m.tags or {} do
        keys[#keys + 1] = k
      end
      sort(keys)
      for i, k in ipairs(keys) do
        parts[i] = gsub(k, "[^%w_]", "_") .. '="' .. esc(m.tags[k]) .. '"'
      end
      gauges["G|" .. name .. "|" .. concat(parts, ",")] = m.value
      n_pending = n_pending + 1
    end
  end
end

-- host_call(capability, outcome, ms)
function _M.host_call(cap, outcome, ms)
  if not dict then return end
  add("C|gavel_host_calls_total|" .. labels2("capability", cap, "outcome",
      outcome), 1)
  observe("gavel_host_call_duration_seconds", labels2("capability", cap),
          ms / 1000)
end

function _M.audit_dropped(n)
  if not dict then return end
  add("C|gavel_audit_dropped_total|", n)
end

function _M.capture_dropped(n)
  if not dict then return end
  add("C|gavel_capture_dropped_total|", n)
end

-- ==== Flushing and exposition ====

-- flush(): this worker's deltas into the shared dict
function _M.flush()
  if not dict then return end
  hist_to_pending()
  if n_pending == 0 then return end
  local p, g = pending, gauges
  pending, gauges, n_pending = {}, {}, 0
  for k, v in each, p do
    local ok, err = dict:incr(k, v, 0)
    if not ok then ngx_log(ERR, "gavel: metrics: ", err, " (", k, ")") end
  end
  for k, v in each, g do
    local ok, err = dict:set(k, v)
    if not ok then ngx_log(ERR, "gavel: metrics: ", err, " (", k, ")") end
  end
end

local function num(v)
  if v == 1/0 then return "+Inf" end
  if v == -1/0 then return "-Inf" end
  if v ~= v then return "NaN" end
  if v == math.floor(v) and v > -2^53 and v < 2^53 then
    return format("%d", v)
  end
  return format("%.15g", v)
end

local function series(name, lab, v)
  return name .. (lab ~= "" and "{" .. lab .. "}" or "") .. " " .. num(v)
end

-- collect() -> the Prometheus text (all workers' flushed values)
function _M.collect()
  if not dict then return "" end
  _M.flush()
  local fams, order = {}, {}
  for _, k in ipairs(dict:get_keys(0)) do
    local kind, fam, rest = match(k, "^([CGH])|([^|]+)|(.*)$")
    if kind then
      local f = fams[fam]
      if not f then
        f = { kind = kind, series = {}, hist = {} }
        fams[fam] = f
        order[#order + 1] = fam
      end
      local v = dict:get(k)
      if v ~= nil then
        if kind == "H" then
          local lab, b = match(rest, "^(.*)|([^|]+)$")
          local h = f.hist[lab]
          if not h then h = {} f.hist[lab] = h end
          h[b] = v
        else
          f.series[#f.series + 1] = { rest, v }
        end
      end
    end
  end
  sort(order)
  local out = {}
  for _, fam in ipairs(order) do
    local f = fams[fam]
    local ty = f.kind == "H" and "histogram" or f.kind == "G" and "gauge"
               or TYPES[fam] or "counter"
    if HELP[fam] then out[#out + 1] = "# HELP " .. fam .. " " .. HELP[fam] end
    out[#out + 1] = "# TYPE " .. fam .. " " .. ty
    if f.kind == "H" then
      local labs = {}
      for lab in each, f.hist do labs[#labs + 1] = lab end
      sort(labs)
      for _, lab in ipairs(labs) do
        local h, sep = f.hist[lab], lab ~= "" and "," or ""
        local acc = 0
        for i = 1, NB + 1 do
          acc = h[tostring(i)] or acc   -- cumulative already
          out[#out + 1] = series(fam .. "_bucket", lab .. sep .. 'le="'
            .. (i <= NB and num(BUCKETS[i]) or "+Inf") .. '"', acc)
        end
        out[#out + 1] = series(fam .. "_sum", lab, h.sum or 0)
        out[#out + 1] = series(fam .. "_count", lab, h.count or 0)
      end
    else
      sort(f.series, function(a, b) return a[1] < b[1] end)
      for _, s in ipairs(f.series) do
        out[#out + 1] = series(fam, s[1], s[2])
      end
    end
  end
  out[#out + 1] = ""
  return concat(out, "\n")
end

-- init(dict_name, interval): per worker, in init_worker
function _M.init(name, interval)
  dict = ngx.shared[name]
  if not dict then return nil, "no lua_shared_dict '" .. tostring(name) .. "'" end
  local ok, err = ngx.timer.every(interval or 0.25, function() _M.flush() end)
  if not ok then return nil, err end
  return true
end

-- Flushes on worker exit (nginx -s quit / reload): a timer of 0 s runs
-- with premature = true when the worker is shutting down.
function _M.on_exit()
  _M.flush()
end

return _M
