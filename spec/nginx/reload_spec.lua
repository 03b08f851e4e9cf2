-- spec/nginx/reload_spec.lua -- hot reload of the rules directory: a
-- changed file, a broken file (the old version keeps serving, every
-- diagnostic logged), a removed file, POST /admin/reload, 20 swaps under
-- load (no failed request, every answer from a known version), flat
-- memory over 1,000 reloads, and 2 workers converging within 2 intervals.
local gavel = require "gavel"
local nginx = require "support.nginx"
local sh = nginx.sh
local write = nginx.write_atomic
local capi = require("gavel.core").capi

local function score_rules(version, high)
  return ([[{"config": {"name": "score", "version": "%s", "entry_step": "s"},
 "steps": {"s": {"id": "s", "name": "S", "type": "decision",
   "branches": [{"condition": "score >= %d", "next_step": "hi"}],
   "default_next": "lo"},
  "hi": {"id": "hi", "name": "Hi", "type": "terminal",
         "result": {"code": "HI", "message": "v%s"}},
  "lo": {"id": "lo", "name": "Lo", "type": "terminal",
         "result": {"code": "LO", "message": "v%s"}}}}]]):format(
    version, high, version, version)
end

-- two errors and a warning-free rest
local BROKEN = [[{"config": {"name": "score", "version": "bad",
  "entry_step": "s"}, "steps": {"s": {"id": "s", "name": "S",
  "type": "bogus"}, "t": {"name": "T", "type": "terminal"}}}]]

local HTTP = [[
  lua_shared_dict gavel 1m;
  init_worker_by_lua_block {
    require("resty.gavel").init {
      rules_dir = ngx.config.prefix() .. "rules", shm = "gavel",
      reload = { interval = {{interval}} },
    }
  }
]]

local SERVER = [[
    location ~ ^/api/v1/execute/[^/]+$ {
      content_by_lua_block { require("resty.gavel").execute() }
    }
    location = /admin/reload {
      content_by_lua_block { require("resty.gavel").admin_reload() }
    }
    location = /health {
      content_by_lua_block { require("resty.gavel").health() }
    }
    # n reloads of rules/churn.json in this worker, then the worker's RSS
    # and how many superseded rulesets are still alive after a collection
    location = /churn {
      content_by_lua_block {
        local registry = require "resty.gavel.registry"
        local path = ngx.config.prefix() .. "rules/churn.json"
        local alive = setmetatable({}, { __mode = "k" })
        local n = tonumber(ngx.var.arg_n)
        local base = tonumber(ngx.var.arg_base) or 0
        for i = 1, n do
          local f = io.open(path, "wb")
          f:write(require("gavel").json.encode({ config = {
            name = "churn", version = tostring(base + i),
            entry_step = "t" }, steps = { t = { id = "t", name = "T",
            type = "terminal", result = { code = "OK",
            message = "m" .. i } } } }))
          f:close()
          registry.scan()
          local ent = registry.get("churn")
          alive[ent.rs] = true
          assert(ent.rs:run_json('{"x": 1}'))
        end
        collectgarbage()
        collectgarbage()
        local live = 0
        for _ in pairs(alive) do live = live + 1 end
        local statm = io.open("/proc/self/statm"):read("*l")
        local rss = tonumber(statm:match("^%d+ (%d+)")) * 4096
        ngx.print(require("gavel").json.encode({ rss = rss, live = live }))
      }
    }
]]

local function execute(srv, score)
  local out = sh("curl -s -i -X POST -d '{\"input\": {\"score\": "
                 .. score .. "}}' " .. srv:url("/api/v1/execute/score"))
  local status = tonumber(out:match("^HTTP/1%.1 (%d+)"))
  return status, out:match("X%-Gavel%-Ruleset: ([^\r]+)"),
         out:match("\r\n\r\n(.*)$")
end

describe("hot reload", function()
  local srv, rules

  setup(function()
    srv = nginx.start { http = HTTP:gsub("{{interval}}", "0.2"),
                        server = SERVER,
                        files = { ["rules/score.json"] = score_rules("1", 50) } }
    rules = srv.prefix .. "rules/"
  end)
  teardown(function() if srv then srv:stop() end end)

  local function reload()
    local status, body = srv:request("POST", "/admin/reload")
    assert.equal(200, status, body)
    return gavel.json.decode(body)
  end

  it("serves a changed file after /admin/reload", function()
    local status, tag, body = execute(srv, 60)
    assert.equal(200, status)
    assert.equal("score@1", tag)
    assert.matches('"code":"HI","message":"v1"', body)
    write(rules .. "score.json", score_rules("2", 70))
    reload()   -- (or the 0.2 s timer got there first)
    status, tag, body = execute(srv, 60)
    assert.equal("score@2", tag)
    assert.matches('"code":"LO","message":"v2"', body)
  end)

  it("keeps the old version of a broken file and logs every error",
     function()
    local mark = srv:log_mark()
    write(rules .. "score.json", BROKEN)
    assert.equal(0, reload().changed)
    local status, tag = execute(srv, 60)
    assert.equal(200, status)
    assert.equal("score@2", tag)
    local log = srv:log(mark)
    assert.matches("score%.json: error: steps%.s%.type: unknown variant "
                   .. "`bogus`", log)
    assert.matches("score%.json: error: steps%.t%.id: missing field `id`",
                   log)
    assert.matches("the previous version keeps serving", log)
    -- the same broken content is reported once, not every tick
    capi.sleep_ms(500)
    local _, n = srv:log(mark):gsub("unknown variant `bogus`", "")
    assert.equal(1, n)
    write(rules .. "score.json", score_rules("3", 50))
    reload()
    assert.equal("score@3", select(2, execute(srv, 60)))
  end)

  it("loads a new file and unloads a removed one (timer)", function()
    write(rules .. "other.json", (score_rules("1", 1):gsub('"score"',
                                  '"other"', 1)))
    capi.sleep_ms(600)
    local status = srv:request("POST", "/api/v1/execute/other",
                               '{"input": {"score": 5}}')
    assert.equal(200, status)
    os.remove(rules .. "other.json")
    capi.sleep_ms(600)
    status = srv:request("POST", "/api/v1/execute/other",
                         '{"input": {"score": 5}}')
    assert.equal(404, status)
    assert.matches("other%.json removed; ruleset 'other' unloaded",
                   srv:log())
  end)

  it("answers every request during 20 swaps", function()
    local out = srv.prefix .. "tmp/load.txt"
    -- 4 clients x 40 requests each, in the background
    local loop = ("for c in 1 2 3 4; do ( for i in $(seq 1 40); do curl -s "
      .. "-o /dev/null -D - -X POST -d '{\"input\": {\"score\": 60}}' %s "
      .. "| tr -d '\\r' | grep -E '^(HTTP|X-Gavel-Ruleset:)' | tr '\\n' ' ';"
      .. " echo; done > %s.$c ) & done; wait"):format(
      srv:url("/api/v1/execute/score"), out)
    local bg = io.popen(loop, "r")
    local versions = { ["score@3"] = true }
    for v = 10, 29 do
      write(rules .. "score.json", score_rules(tostring(v), 50))
      reload()
      versions["score@" .. v] = true
      capi.sleep_ms(15)
    end
    bg:read("*a")
    bg:close()
    local n = 0
    for c = 1, 4 do
      for line in io.lines(out .. "." .. c) do
        n = n + 1
        local status, tag = line:match("^HTTP/1%.1 (%d+) .*"
                                       .. "X%-Gavel%-Ruleset: (%S+)")
        assert.equal("200", status, line)
        assert.truthy(versions[tag], line)
      end
    end
    assert.equal(160, n)
  end)

  it("keeps memory flat over 1,000 reloads", function()
    local status, body = srv:request("GET", "/churn?n=200")
    assert.equal(200, status, body)
    local before = gavel.json.decode(body)
    status, body = srv:request("GET", "/churn?n=1000&base=200")
    assert.equal(200, status, body)
    local after = gavel.json.decode(body)
    -- every superseded version was freed (only the serving one is alive)
    assert.equal(1, after.live)
    local grew = (after.rss - before.rss) / 1048576
    assert.is_true(grew < 4, ("RSS grew %.1f MB over 1,000 reloads")
                              :format(grew))
  end)
end)

describe("hot reload with 2 workers", function()
  it("serves the new version from all workers within 2 intervals",
     function()
    local srv = nginx.start { http = HTTP:gsub("{{interval}}", "0.5"),
                              server = SERVER, workers = 2,
                              files = { ["rules/score.json"] =
                                        score_rules("1", 50) } }
    finally(function() srv:stop() end)
    write(srv.prefix .. "rules/score.json", score_rules("2", 50))
    capi.sleep_ms(1000)   -- 2 x interval
    local seen = {}
    for _ = 1, 20 do
      local status, tag = execute(srv, 60)
      assert.equal(200, status)
      seen[tag] = true
    end
    assert.same({ ["score@2"] = true }, seen)
  end)
end)
