-- spec/nginx/capture_spec.lua -- decision capture from resty.gavel (init{
-- capture = ... }): real nginx on loopback, 2 workers; every sampled run
-- is one record in the C capture's format, with the receipts of its host
-- calls and redacted input paths; none is lost on nginx -s quit; 'gavel
-- replay --verify' reproduces every record from the capture file; the
-- sample rate keeps about that fraction; capture off writes nothing.
local gavel = require "gavel"
local nginx = require "support.nginx"
local read = nginx.read
local sh = nginx.sh
local capi = require("gavel.core").capi

local GAVEL = nginx.build .. "/gavel"

local ECHO_RULES = [=[{"config": {"name": "echoed", "version": "3",
  "entry_step": "a"}, "steps": {
  "a": {"id": "a", "name": "A", "type": "action", "actions": [
    {"action": "external_call", "service": "t.echo", "method": "GET",
     "params": [["q", "total"]], "result_variable": "r"}],
    "next_step": "t"},
  "t": {"id": "t", "name": "T", "type": "terminal",
        "result": {"code": "DONE", "message": "m",
                   "output": [["total", "$r.payload.q"],
                              ["z", "total * 2"], ["a", "1"]]}}}}]=]

local HTTP = [[
  init_worker_by_lua_block {
    local rg = require "resty.gavel"
    assert(rg.provide("t.echo", function(op, params) return params end))
    rg.init {
      rules_dir = ngx.config.prefix() .. "rules", reload = false,
      {{capture}}
    }
  }
]]

local SERVER = [[
    location ~ ^/api/v1/execute/[^/]+$ {
      content_by_lua_block { require("resty.gavel").execute() }
    }
]]

local LOAN = read("examples/loan.json")

local function start(capture, workers)
  return nginx.start {
    http = HTTP:gsub("{{capture}}", capture and ("capture = " .. capture
                                                 .. ",") or ""),
    server = SERVER, workers = workers or 2,
    files = { ["rules/echoed.json"] = ECHO_RULES,
              ["rules/loan.json"] = LOAN },
  }
end

-- stop with QUIT (the buffered records are flushed on exit); returns the
-- capture file's lines and the prefix (to be removed by the caller)
local function quit(srv)
  local prefix = srv.prefix
  local pid = read(prefix .. "logs/nginx.pid"):match("%d+")
  os.execute("kill -QUIT " .. pid)
  local t0 = gavel.now_ms()
  while read(prefix .. "logs/nginx.pid") and gavel.now_ms() - t0 < 5000 do
    capi.sleep_ms(5)
  end
  local lines = {}
  for l in (read(prefix .. "logs/capture.jsonl") or ""):gmatch("[^\n]+") do
    lines[#lines + 1] = l
  end
  return lines, prefix
end

local LOAN_INPUTS = {}
for l in read("examples/loan.jsonl"):gmatch("[^\n]+") do
  if #LOAN_INPUTS < 12 and l:match("^{") then
    LOAN_INPUTS[#LOAN_INPUTS + 1] = l
  end
end

describe("decision capture in nginx", function()
  it("records every run with receipts and redaction, loses none on quit, "
     .. "and 'gavel replay --verify' reproduces them", function()
    local srv = start([[{ file = "logs/capture.jsonl", interval = 60,
      redact = { "who.ssn" }, salt = "pepper" }]])
    local reqs = {}
    for i, l in ipairs(LOAN_INPUTS) do
      reqs[i] = { "POST", "/api/v1/execute/loan", '{"input": ' .. l .. '}' }
    end
    local k = #reqs
    for i = 1, 5 do
      reqs[k + i] = { "POST", "/api/v1/execute/echoed",
        '{"input": {"total": ' .. i .. ', "who": {"ssn": "123-45-' .. i
        .. '", "name": "n"}}}' }
    end
    reqs[#reqs + 1] = { "POST", "/api/v1/execute/echoed",
                        '{"input": {"total": "x"}}' }   -- 422
    local res = srv:parallel(reqs)
    for i = 1, #reqs - 1 do assert.equal(200, res[i][1], res[i][2]) end
    assert.equal(422, res[#reqs][1])
    -- a 60 s flush interval: only the flush on exit writes them
    local lines, prefix = quit(srv)
    finally(function() srv:stop(); os.execute("rm -rf " .. prefix) end)
    assert.equal(#reqs, #lines)
    local by_total, failed = {}, nil
    for _, l in ipairs(lines) do
      local r = assert(gavel.json.decode(l), l)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$", r.ts)
      assert.matches("^sha256:%x+$", r.hash)
      assert.is_number(r.trace_id)
      assert.is_number(r.duration_us)
      if r.ruleset == "loan" then
        assert.equal("1.0.0", r.version)
        assert.equal("GAVEL_OK", r.status)
        assert.is_true(r.gas_used > 0)
        assert.equal(0, #r.receipts)
      elseif r.status ~= "GAVEL_OK" then
        failed = r
      else
        assert.equal("3", r.version)
        by_total[r.input.total] = { r, l }
      end
    end
    -- receipts, output text as the engine wrote it, redaction
    for i = 1, 5 do
      local r, l = by_total[i][1], by_total[i][2]
      assert.equal(1, #r.receipts)
      local rc = r.receipts[1]
      assert.equal("t.echo", rc.capability)
      assert.equal("GET", rc.operation)
      assert.equal("ok", rc.outcome)
      assert.equal(i, rc.params.q)
      assert.equal(i, rc.payload.q)
      assert.truthy(l:find('"output":{"total":' .. i .. ',"z":' .. 2 * i
                           .. ',"a":1}}$'), l)
      assert.equal("DONE", r.code)
      assert.equal("m", r.message)
      assert.equal("n", r.input.who.name)
      local want = sh("printf '%s' 'pepper\"123-45-" .. i
                      .. "\"' | sha256sum"):match("^(%x+)")
      assert.equal("sha256:" .. want, r.input.who.ssn)
      assert.falsy(l:find("123-45-", 1, true))
    end
    assert.is_table(failed)
    assert.equal("GAVEL_EXEC", failed.status)
    assert.equal("", failed.code)
    assert.matches("Cannot", failed.message)
    assert.is_nil(failed.output)
    -- the capture replays, from receipts, against the same rules (by hash)
    -- t.echo must exist for the rules to load; the replay answers it
    -- from the receipts, never by calling it
    local cap = prefix .. "logs/capture.jsonl"
    local prov = prefix .. "echo_provider.lua"
    local f = assert(io.open(prov, "wb"))
    f:write('return { ["t.echo"] = function() error("called") end }\n')
    f:close()
    local out = sh(GAVEL .. " replay " .. cap .. " --rules " .. prefix
                   .. "rules --provider " .. prov
                   .. " --verify 2>&1; echo rc=$?")
    assert.truthy(out:find(#reqs .. " records: consistent " .. #reqs
                           .. ", flipped 0, errored 0, needs-host-call 0, "
                           .. "unknown-ruleset 0", 1, true), out)
    assert.truthy(out:find("rc=0", 1, true), out)
  end)

  it("keeps about the sampled fraction", function()
    local srv = start([[{ file = "logs/capture.jsonl", interval = 0.1,
      sample = 0.5 }]], 1)
    local reqs = {}
    for i = 1, 200 do
      reqs[#reqs + 1] = { "POST", "/api/v1/execute/loan",
                          '{"input": ' .. LOAN_INPUTS[i % 10 + 1] .. '}' }
    end
    for i = 1, 200, 40 do
      local part = {}
      for j = i, i + 39 do part[#part + 1] = reqs[j] end
      srv:parallel(part)
    end
    local lines, prefix = quit(srv)
    finally(function() srv:stop(); os.execute("rm -rf " .. prefix) end)
    -- binomial(200, 0.5): 100 +- 7; 50..150 is 7 standard deviations
    assert.is_true(#lines >= 50 and #lines <= 150, tostring(#lines))
  end)

  it("keeps an output that holds the trace member's text whole", function()
    -- the output passes an input object through; its text holds
    -- ',"trace":{"path":"' as the engine's trace member does
    local pass = [=[{"config": {"name": "pass", "version": "1",
      "entry_step": "t"}, "steps": {"t": {"id": "t", "name": "T",
      "type": "terminal", "result": {"code": "P", "message": "m",
      "output": [["o", "o"], ["n", "1"]]}}}}]=]
    local srv = nginx.start {
      http = HTTP:gsub("{{capture}}", [[capture = { file =
        "logs/capture.jsonl", interval = 60 },]]),
      server = SERVER, workers = 2, -- (a master: records flushed on quit)
      files = { ["rules/echoed.json"] = ECHO_RULES,
                ["rules/pass.json"] = pass },
    }
    local o = '{"a": 1, "trace": {"path": "x"}}'
    assert.equal(200, (srv:request("POST", "/api/v1/execute/pass",
                                   '{"input": {"o": ' .. o .. '}}')))
    assert.equal(200, (srv:request("POST", "/api/v1/execute/pass",
      '{"input": {"o": ' .. o .. '}, "trace": true}')))
    local lines, prefix = quit(srv)
    finally(function() srv:stop(); os.execute("rm -rf " .. prefix) end)
    assert.equal(2, #lines)
    for _, l in ipairs(lines) do
      local r = assert(gavel.json.decode(l), l)
      assert.equal("x", r.output.o.trace.path, l)
      assert.equal(1, r.output.n, l)
      assert.is_nil(r.trace, l)
    end
  end)

  it("writes to the new file after a logrotate moved the old one away",
     function()
    -- records went on to the moved file for good (opened once)
    local srv = nginx.start {
      http = HTTP:gsub("{{capture}}", [[capture = { file =
        "logs/capture.jsonl", interval = 0.05 },]]),
      server = SERVER, workers = 1,
      files = { ["rules/echoed.json"] = ECHO_RULES },
    }
    local file = srv.prefix .. "logs/capture.jsonl"
    local function lines_in(path)
      local _, k = (read(path) or ""):gsub("\n", "")
      return k
    end
    local function wait_lines(path, k)
      local t0 = gavel.now_ms()
      while lines_in(path) < k and gavel.now_ms() - t0 < 3000 do
        capi.sleep_ms(20)
      end
      return lines_in(path)
    end
    assert.equal(200, (srv:request("POST", "/api/v1/execute/echoed",
                                   '{"input": {"total": 1}}')))
    assert.equal(1, wait_lines(file, 1))
    capi.sleep_ms(100)
    assert.truthy(os.rename(file, file .. ".1"))
    for _ = 1, 2 do
      assert.equal(200, (srv:request("POST", "/api/v1/execute/echoed",
                                     '{"input": {"total": 2}}')))
    end
    assert.equal(2, wait_lines(file, 2))
    assert.equal(1, lines_in(file .. ".1"))
    local prefix = srv.prefix
    srv:stop()
    os.execute("rm -rf " .. prefix)
  end)

  it("gives a run's capture record and audit line one trace id", function()
    -- each module counted its own runs: with sampling, an id named
    -- different requests in the two files
    local srv = nginx.start {
      http = HTTP:gsub("{{capture}}", [[capture = { file =
        "logs/capture.jsonl", interval = 0.05, sample = 0.5 },
        audit = "logs/audit.jsonl",]]),
      server = SERVER, workers = 1,
      files = { ["rules/echoed.json"] = ECHO_RULES },
    }
    local prefix = srv.prefix
    finally(function() srv:stop(); os.execute("rm -rf " .. prefix) end)
    local N = 24
    for i = 1, N do -- one worker, in order: audit line i is request i
      assert.equal(200, (srv:request("POST", "/api/v1/execute/echoed",
                                     '{"input": {"total": ' .. i .. '}}')))
    end
    local function recs(file)
      local t = {}
      for l in (read(prefix .. "logs/" .. file) or ""):gmatch("[^\n]+") do
        t[#t + 1] = assert(gavel.json.decode(l, { int64 = true }))
      end
      return t
    end
    local cap, aud
    local t0 = gavel.now_ms()
    repeat
      capi.sleep_ms(50)
      cap, aud = recs("capture.jsonl"), recs("audit.jsonl")
    until #aud == N or gavel.now_ms() - t0 > 5000
    assert.equal(N, #aud)
    assert.truthy(#cap > 0 and #cap < N, #cap .. " records")
    for _, r in ipairs(cap) do
      local t = tonumber(r.input.total)
      assert.equal(tostring(aud[t].trace_id), tostring(r.trace_id))
    end
  end)

  it("counts the records a failed write lost in /metrics", function()
    if not io.open("/dev/full", "w") then return pending("no /dev/full") end
    local srv = nginx.start {
      http = [[
  lua_shared_dict gavel 1m;
  init_worker_by_lua_block {
    local rg = require "resty.gavel"
    assert(rg.provide("t.echo", function(op, params) return params end))
    rg.init {
      rules_dir = ngx.config.prefix() .. "rules", reload = false,
      shm = "gavel", capture = { file = "/dev/full", interval = 0.05 },
    }
  }
]],
      server = SERVER .. [[
    location = /metrics {
      content_by_lua_block { require("resty.gavel").metrics() }
    }
]],
      workers = 1, files = { ["rules/echoed.json"] = ECHO_RULES },
    }
    finally(function() srv:stop() end)
    for i = 1, 3 do
      assert.equal(200, (srv:request("POST", "/api/v1/execute/echoed",
                                     '{"input": {"total": ' .. i .. '}}')))
    end
    local body
    local t0 = gavel.now_ms()
    repeat
      capi.sleep_ms(50)
      _, body = srv:request("GET", "/metrics")
    until body:find("gavel_capture_dropped_total 3", 1, true)
          or gavel.now_ms() - t0 > 5000
    assert.matches("gavel_capture_dropped_total 3", body, 1, true)
    assert.matches("record%(s%) lost: No space left on device", srv:log())
  end)

  it("writes nothing without capture, and refuses bad options", function()
    local srv = start(nil, 1)
    assert.equal(200, (srv:request("POST", "/api/v1/execute/loan",
                                   '{"input": ' .. LOAN_INPUTS[1] .. '}')))
    local lines, prefix = quit(srv)
    finally(function() srv:stop(); os.execute("rm -rf " .. prefix) end)
    assert.equal(0, #lines)
    local bad = start([[{ file = "logs/capture.jsonl", sample = 2 }]], 1)
    finally(function() bad:stop() end)
    capi.sleep_ms(200)
    assert.matches("sample rate 2 is not between 0 and 1", bad:log())
  end)
end)
