-- spec/nginx/metrics_spec.lua -- metrics.prometheus and audit.logger in
-- nginx: /metrics after known traffic from 2 workers (counts add up across
-- workers, the exposition passes scripts/promcheck.lua), metric actions as
-- gauges and never in the response, host call counters, audit lines for
-- every request with none lost on nginx -s quit, the bounded audit buffer
-- and its dropped-lines counter.
local gavel = require "gavel"
local nginx = require "support.nginx"
local capi = require("gavel.core").capi

local METRIC_RULES = [=[{"config": {"name": "metered", "version": "7",
  "entry_step": "a"}, "steps": {
  "a": {"id": "a", "name": "A", "type": "action", "actions": [
    {"action": "metric", "name": "order_total", "value": "total",
     "tags": [["shop", "north"]]},
    {"action": "external_call", "service": "t.echo", "method": "GET",
     "params": [["q", "total"]], "result_variable": "r"}],
    "next_step": "t"},
  "t": {"id": "t", "name": "T", "type": "terminal",
        "result": {"code": "DONE", "message": "m",
                   "output": {"total": "total"}}}}}]=]

local HTTP = [[
  lua_shared_dict gavel 1m;
  init_by_lua_block {
    require("resty.gavel").audit_open("logs/audit.jsonl")
  }
  init_worker_by_lua_block {
    local rg = require "resty.gavel"
    assert(rg.provide("t.echo", function(op, params) return params end))
    rg.init {
      rules_dir = { "{{repo}}/examples", ngx.config.prefix() .. "rules" },
      shm = "gavel", reload = false, metrics_interval = 0.1,
      audit = { file = "logs/audit.jsonl", interval = {{audit_interval}},
                max_lines = {{max_lines}} },
    }
  }
]]

local SERVER = [[
    location ~ ^/api/v1/execute/[^/]+$ {
      content_by_lua_block { require("resty.gavel").execute() }
    }
    location = /metrics {
      content_by_lua_block { require("resty.gavel").metrics() }
    }
    location = /audit_fill {
      content_by_lua_block {
        local audit = require "resty.gavel.audit"
        for i = 1, 10 do audit.line("x", "1", "{}", "OK", 1) end
        audit.flush()
        require("resty.gavel.metrics").flush()
        ngx.print("ok")
      }
    }
]]

local function get(text, series)
  local f = os.tmpname()
  local h = io.open(f, "wb")
  h:write(text)
  h:close()
  local p = io.popen("luajit " .. nginx.repo .. "/scripts/promcheck.lua "
                     .. f .. " --get '" .. series .. "' 2>&1")
  local out = p:read("*a")
  local ok = p:close()
  os.remove(f)
  return tonumber(out:match("([%d.e+-]+)%s*$")), out, ok
end

local function start(workers, max_lines, audit_interval)
  local http = HTTP:gsub("{{max_lines}}", max_lines)
                   :gsub("{{audit_interval}}", audit_interval or 0.1)
  return nginx.start { http = http,
                       server = SERVER, workers = workers,
                       files = { ["rules/metered.json"] = METRIC_RULES } }
end

describe("metrics and audit in nginx", function()
  it("aggregates 2 workers, keeps metric actions out of responses, and "
     .. "loses no audit line on nginx -s quit", function()
    local srv = start(2, 10000)
    finally(function() srv:stop() end)
    local reqs = {}
    for i = 1, 24 do
      reqs[i] = { "POST", "/api/v1/execute/score",
                  '{"input": {"score": ' .. (i % 2 == 0 and 95 or 75) .. '}}' }
    end
    for i = 25, 30 do
      reqs[i] = { "POST", "/api/v1/execute/metered",
                  '{"input": {"total": ' .. i .. '}}' }
    end
    reqs[31] = { "POST", "/api/v1/execute/score",
                 '{"input": {"score": "x"}}' }
    local res = srv:parallel(reqs)
    for i = 25, 30 do
      assert.equal(200, res[i][1])
      -- the metric action is not in the response
      assert.equal('{"code":"DONE","message":"m","output":{"total":' .. i
                   .. '}', res[i][2]:gsub(',"duration_us":%d+}$', ""))
    end
    assert.equal(422, res[31][1])
    capi.sleep_ms(300)   -- both workers' flush timers ran
    local status, text = srv:request("GET", "/metrics")
    assert.equal(200, status)
    local v, out, ok = get(text, 'gavel_runs_total{ruleset="score",code="HIGH"}')
    assert.is_truthy(ok, out)
    assert.equal(12, v, text)
    assert.equal(12, (get(text, 'gavel_runs_total{ruleset="score",'
                                .. 'code="MID"}')))
    assert.equal(1, (get(text, 'gavel_errors_total{ruleset="score",'
                               .. 'code="GAVEL_EXEC"}')))
    assert.equal(25, (get(text, 'gavel_run_duration_seconds_count{'
                                .. 'ruleset="score"}')))
    assert.equal(6, (get(text, 'gavel_host_calls_total{capability='
                               .. '"t.echo",outcome="ok"}')))
    local g = get(text, 'order_total{shop="north"}')
    assert.is_number(g, text)
    assert.is_true(g >= 25 and g <= 30, text)
  end)

  it("writes every audit line by the time nginx -s quit returns",
     function()
    -- a 60 s flush interval: only the flush on exit writes them
    local srv = start(2, 10000, 60)
    local prefix = srv.prefix
    local reqs = {}
    for i = 1, 20 do
      reqs[i] = { "POST", "/api/v1/execute/loan", '{"input": {}}' }
    end
    srv:parallel(reqs)
    -- quit at once: the lines still buffered are flushed on exit
    local pid = io.open(prefix .. "logs/nginx.pid"):read("*l")
    os.execute("kill -QUIT " .. pid)
    local t0 = gavel.now_ms()
    while io.open(prefix .. "logs/nginx.pid") and gavel.now_ms() - t0 < 5000 do
      capi.sleep_ms(5)
    end
    local lines = {}
    for l in io.lines(prefix .. "logs/audit.jsonl") do
      lines[#lines + 1] = l
    end
    srv:stop()
    os.execute("rm -rf " .. prefix)
    assert.equal(20, #lines)
    local v = assert(gavel.json.decode(lines[1]))
    assert.equal("rule_executed", v.event)
    assert.equal("loan", v.ruleset)
    assert.equal("1.0.0", v.version)
    assert.matches("^%x+$", v.input_sha256)
    -- the run's gas, as the CLI's audit line has it
    assert.is_true(v.gas_used > 0, lines[1])
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT", v.ts)
  end)

  it("bounds the audit buffer and counts dropped lines", function()
    local srv = start(1, 3)
    finally(function() srv:stop() end)
    assert.equal(200, (srv:request("GET", "/audit_fill")))
    local _, text = srv:request("GET", "/metrics")
    assert.equal(7, (get(text, "gavel_audit_dropped_total")), text)
    assert.matches("line%(s%) dropped", srv:log())
  end)
end)
