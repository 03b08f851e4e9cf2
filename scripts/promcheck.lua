#!/usr/bin/env luajit
-- promcheck.lua -- a strict checker of the Prometheus text exposition
-- format (version 0.0.4), written from the format's specification, for
-- the tests of gavel's metrics.prometheus provider.
--
--   luajit scripts/promcheck.lua FILE            check; exit 0 / 1
--   luajit scripts/promcheck.lua FILE --get 'name{a="x",b="y"}'
--                                                check, then print the
--                                                value of that series
--   luajit scripts/promcheck.lua --selftest      good and bad documents
--
-- Checked: line syntax (names, label escapes \\ \" \n only, values as
-- Go's ParseFloat reads them or NaN/+Inf/-Inf, optional int timestamp);
-- at most one HELP and one TYPE per metric, TYPE before its samples and
-- one of counter/gauge/histogram/summary/untyped; the lines of a metric
-- family form one group; no series twice; reserved label names (__*);
-- counters >= 0; histograms: le on every _bucket, le ascending, counts
-- cumulative, an le="+Inf" bucket equal to _count, _sum and _count
-- present; summaries: quantile labels; the text ends with a newline.

local M = {}

local TYPES = { counter = true, gauge = true, histogram = true,
                summary = true, untyped = true }

local function parse_float(s)
  if s == "NaN" or s == "Nan" or s == "nan" then return 0 / 0 end
  if s == "+Inf" or s == "Inf" or s == "+inf" or s == "inf" then
    return math.huge
  end
  if s == "-Inf" or s == "-inf" then return -math.huge end
  if not (s:match("^[+-]?%d+%.?%d*[eE][+-]?%d+$")
          or s:match("^[+-]?%.%d+[eE][+-]?%d+$")
          or s:match("^[+-]?%d+%.?%d*$") or s:match("^[+-]?%.%d+$")) then
    return nil
  end
  return tonumber(s)
end

local function is_metric_name(s) return s:match("^[a-zA-Z_:][a-zA-Z0-9_:]*$") end
local function is_label_name(s) return s:match("^[a-zA-Z_][a-zA-Z0-9_]*$") end

-- Parses '{...}' at position i of line; returns labels (list of {k,v}),
-- next position, or nil, err.
local function parse_labels(line, i)
  local labels, seen = {}, {}
  i = i + 1 -- past '{'
  while true do
    i = line:find("[^ \t]", i) or #line + 1
    if line:sub(i, i) == "}" then return labels, i + 1 end
    local name = line:match("^[a-zA-Z_][a-zA-Z0-9_]*", i)
    if not name then return nil, "bad label name at column " .. i end
    if name:sub(1, 2) == "__" then return nil, "reserved label name " .. name end
    if seen[name] then return nil, "duplicate label " .. name end
    seen[name] = true
    i = i + #name
    i = line:find("[^ \t]", i) or #line + 1
    if line:sub(i, i) ~= "=" then return nil, "expected '=' after " .. name end
    i = line:find("[^ \t]", i + 1) or #line + 1
    if line:sub(i, i) ~= '"' then return nil, "expected '\"' for " .. name end
    i = i + 1
    local buf = {}
    while true do
      local c = line:sub(i, i)
      if c == "" then return nil, "unterminated label value" end
      if c == '"' then break end
      if c == "\\" then
        local e = line:sub(i + 1, i + 1)
        if e == "n" then buf[#buf + 1] = "\n"
        elseif e == "\\" or e == '"' then buf[#buf + 1] = e
        else return nil, "invalid escape \\" .. e .. " in label value" end
        i = i + 2
      else
        buf[#buf + 1] = c
        i = i + 1
      end
    end
    labels[#labels + 1] = { name, table.concat(buf) }
    i = line:find("[^ \t]", i + 1) or #line + 1
    local c = line:sub(i, i)
    if c == "," then i = i + 1
    elseif c == "}" then return labels, i + 1
    else return nil, "expected ',' or '}' after label " .. name end
  end
end

local function escape_value(v)
  return (v:gsub("\\", "\\\\"):gsub("\n", "\\n"):gsub('"', '\\"'))
end

-- Canonical series key: name{a="x",b="y"} with label names sorted.
local function series_key(name, labels, skip)
  local t = {}
  for _, kv in ipairs(labels) do
    if kv[1] ~= skip then t[#t + 1] = kv[1] .. '="' .. escape_value(kv[2]) .. '"' end
  end
  table.sort(t)
  if #t == 0 then return name end
  return name .. "{" .. table.concat(t, ",") .. "}"
end

local function check_help(text)
  local i = 1
  while true do
    local j = text:find("\\", i, true)
    if not j then return true end
    local e = text:sub(j + 1, j + 1)
    if e ~= "\\" and e ~= "n" then return false end
    i = j + 2
  end
end

-- The family a sample name belongs to, given the declared types.
local function family_of(name, types)
  for _, suf in ipairs({ "_bucket", "_sum", "_count" }) do
    if #name > #suf and name:sub(-#suf) == suf then
      local base = name:sub(1, -#suf - 1)
      local t = types[base]
      if t == "histogram" or (t == "summary" and suf ~= "_bucket") then
        return base, suf
      end
    end
  end
  return name, ""
end

local function check_histograms(fam, hist)
  for key, h in pairs(hist) do
    if not h.count then return "histogram " .. key .. " has no _count" end
    if not h.sum then return "histogram " .. key .. " has no _sum" end
    table.sort(h.buckets, function(a, b) return a.line < b.line end)
    local last_le, last_n, inf = -math.huge, -1, nil
    for _, b in ipairs(h.buckets) do
      if b.le <= last_le then return "histogram " .. key .. ": le not ascending" end
      if b.n < last_n then return "histogram " .. key .. ": buckets not cumulative" end
      last_le, last_n = b.le, b.n
      if b.le == math.huge then inf = b.n end
    end
    if not inf then return "histogram " .. key .. " has no le=\"+Inf\" bucket" end
    if inf ~= h.count then
      return "histogram " .. key .. ": +Inf bucket " .. inf .. " ~= _count " .. h.count
    end
  end
  return nil
end

-- Checks a whole document.  Returns samples (key -> value), stats, or
-- nil, "line N: reason".
function M.check(text)
  if text ~= "" and text:sub(-1) ~= "\n" then return nil, "no final newline" end
  local types, helps, done_fams, samples = {}, {}, {}, {}
  local cur_fam, n_samples, hists = nil, 0, {}
  local function enter(fam, ln)
    if fam ~= cur_fam then
      if done_fams[fam] then
        return "line " .. ln .. ": metric " .. fam .. " is not grouped"
      end
      if cur_fam then done_fams[cur_fam] = true end
      cur_fam = fam
    end
  end
  local ln = 0
  for line in text:gmatch("([^\n]*)\n") do
    ln = ln + 1
    local err
    if line:match("^%s*$") then
      -- blank
    elseif line:sub(1, 1) == "#" then
      local kw, name, rest = line:match("^#%s+(%S+)%s+(%S+)%s?(.*)$")
      if kw == "HELP" or kw == "TYPE" then
        if not is_metric_name(name) then return nil, "line " .. ln .. ": bad name " .. name end
        err = enter(name, ln)
        if err then return nil, err end
        if kw == "HELP" then
          if helps[name] then return nil, "line " .. ln .. ": second HELP for " .. name end
          if not check_help(rest) then return nil, "line " .. ln .. ": bad escape in HELP" end
          helps[name] = true
        else
          if types[name] then return nil, "line " .. ln .. ": second TYPE for " .. name end
          if not TYPES[rest] then return nil, "line " .. ln .. ": bad type '" .. rest .. "'" end
          if hists[name] or samples[name] then
            return nil, "line " .. ln .. ": TYPE after samples of " .. name
          end
          types[name] = rest
        end
      end
    else
      local name = line:match("^[a-zA-Z_:][a-zA-Z0-9_:]*")
      if not name then return nil, "line " .. ln .. ": bad metric name" end
      local i, labels = #name + 1, {}
      if line:sub(i, i) == "{" then
        labels, i = parse_labels(line, i)
        if not labels then return nil, "line " .. ln .. ": " .. i end
      end
      local rest = line:sub(i)
      local v, ts = rest:match("^[ \t]+(%S+)[ \t]*(%S*)[ \t]*$")
      if not v then return nil, "line " .. ln .. ": expected a value" end
      local val = parse_float(v)
      if not val then return nil, "line " .. ln .. ": bad value '" .. v .. "'" end
      if ts ~= "" and not ts:match("^-?%d+$") then
        return nil, "line " .. ln .. ": bad timestamp '" .. ts .. "'"
      end
      local fam, suf = family_of(name, types)
      err = enter(fam, ln)
      if err then return nil, err end
      local key = series_key(name, labels)
      if samples[key] then return nil, "line " .. ln .. ": duplicate series " .. key end
      samples[key] = val
      n_samples = n_samples + 1
      local t = types[fam]
      if t == "counter" and not (val >= 0) then
        return nil, "line " .. ln .. ": counter " .. key .. " is negative or NaN"
      end
      if t == "histogram" or t == "summary" then
        local le
        for _, kv in ipairs(labels) do if kv[1] == "le" then le = kv[2] end end
        if t == "histogram" and suf == "_bucket" then
          local lev = le and parse_float(le)
          if not lev then return nil, "line " .. ln .. ": _bucket without a valid le" end
          local hk = series_key(fam, labels, "le")
          hists[hk] = hists[hk] or { buckets = {} }
          table.insert(hists[hk].buckets, { le = lev, n = val, line = ln })
        elseif suf == "_sum" or suf == "_count" then
          if le then return nil, "line " .. ln .. ": le on " .. suf end
          local hk = series_key(fam, labels)
          hists[hk] = hists[hk] or { buckets = {} }
          hists[hk][suf:sub(2)] = val
          hists[hk].summary = (t == "summary")
        elseif t == "histogram" then
          return nil, "line " .. ln .. ": histogram sample without a suffix"
        end
      end
    end
  end
  local hs = {}
  for k, h in pairs(hists) do if not h.summary then hs[k] = h end end
  local err = check_histograms(nil, hs)
  if err then return nil, err end
  local n_fams = 0
  for _ in pairs(types) do n_fams = n_fams + 1 end
  return samples, { families = n_fams, samples = n_samples }
end

-- ==== self-test ====

local GOOD = {
  "",
  "# HELP a_total Things.\n# TYPE a_total counter\na_total 3\n",
  '# TYPE g gauge\ng{x="a\\\\b\\"c\\nd"} -1.5e-3\ng{x="y"} NaN\ng{x="z"} +Inf 1700000000000\n',
  "# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"1\"} 2\n" ..
    "h_bucket{le=\"+Inf\"} 3\nh_sum 4.5\nh_count 3\n",
  "# a comment\nuntyped_thing{a=\"1\",} 7\n",
  "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 2\n",
}
local BAD = {
  "a 1",                                              -- no final newline
  "1abc 1\n",                                         -- bad name
  "a{b=\"x\\q\"} 1\n",                                -- bad escape
  "a{__x=\"1\"} 1\n",                                 -- reserved label
  "a{b=\"1\",b=\"2\"} 1\n",                           -- duplicate label
  "a 1\na 2\n",                                       -- duplicate series
  "# TYPE a counter\na -1\n",                         -- negative counter
  "# TYPE a counter\n# TYPE a counter\na 1\n",        -- two TYPEs
  "# TYPE a countr\na 1\n",                           -- bad type
  "a 1\n# TYPE a gauge\n",                            -- TYPE after sample
  "a 1\nb 1\na{x=\"1\"} 2\n",                         -- not grouped
  "a one\n",                                          -- bad value
  "a 1 12.5\n",                                       -- bad timestamp
  "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
  "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
  "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
  "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
  "# TYPE h histogram\nh_bucket 1\nh_sum 1\nh_count 1\n",
  "# HELP a bad \\t escape\na 1\n",
  "a{b=\"1\" 1\n",
}

local function selftest()
  local fails = 0
  for i, doc in ipairs(GOOD) do
    local ok, err = M.check(doc)
    if not ok then
      fails = fails + 1
      io.stderr:write("good document ", i, " rejected: ", err, "\n")
    end
  end
  for i, doc in ipairs(BAD) do
    if M.check(doc) then
      fails = fails + 1
      io.stderr:write("bad document ", i, " accepted: ", doc, "\n")
    end
  end
  print(string.format("%d passed, %d failed", #GOOD + #BAD - fails, fails))
  return fails == 0
end

local function main(args)
  if args[1] == "--selftest" then os.exit(selftest() and 0 or 1) end
  local path, get = args[1], nil
  if args[2] == "--get" then get = args[3] end
  if not path then
    io.stderr:write("usage: promcheck.lua FILE [--get SERIES] | --selftest\n")
    os.exit(2)
  end
  local f = path == "-" and io.stdin or io.open(path, "rb")
  if not f then
    io.stderr:write("promcheck: cannot open ", path, "\n")
    os.exit(2)
  end
  local text = f:read("*a")
  if f ~= io.stdin then f:close() end
  local samples, stats = M.check(text)
  if not samples then
    io.stderr:write("promcheck: ", stats, "\n")
    os.exit(1)
  end
  if get then
    local name, lab = get:match("^([^{]+)(.*)$")
    local labels = {}
    if lab ~= "" then
      labels = parse_labels(lab, 1)
      if not labels then io.stderr:write("promcheck: bad --get\n") os.exit(2) end
    end
    local v = samples[series_key(name, labels)]
    if v == nil then
      io.stderr:write("promcheck: no series ", get, "\n")
      os.exit(1)
    end
    print(string.format("%.17g", v))
  else
    print(string.format("promcheck: ok (%d families, %d samples)",
                        stats.families, stats.samples))
  end
  os.exit(0)
end

if arg and arg[0] and arg[0]:match("promcheck%.lua$") then
  main(arg)
end
return M
