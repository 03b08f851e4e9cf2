-- spec/nginx/example_spec.lua -- examples/nginx/: run.sh starts the example
-- configuration (2 workers) on a free loopback port; the execute API, the
-- typed query mapping, /health, the access_by_lua gate in front of
-- proxy_pass, and a clean stop (prefix removed).
local nginx = require "support.nginx"
local sh = nginx.sh
local gavel = require "gavel"
local capi = require("gavel.core").capi

local function curl(args)
  local out = sh("curl -s -m 10 -w '\\n%{http_code}' " .. args)
  local body, code = out:match("^(.*)\n(%d+)$")
  return tonumber(code), body
end

describe("examples/nginx", function()
  local port, pid, base, log

  setup(function()
    port = nginx.free_ports(1)[1]
    base = "http://127.0.0.1:" .. port
    log = os.tmpname()
    pid = tonumber(sh(string.format(
      "cd %s && GAVEL_BUILD_DIR=%s examples/nginx/run.sh %d > %s 2>&1 & echo $!",
      nginx.repo, nginx.build, port, log)))
    local t0 = gavel.now_ms()
    while curl(base .. "/health") ~= 200 do
      assert(gavel.now_ms() - t0 < 10000, "the example did not start:\n"
             .. sh("cat " .. log))
      capi.sleep_ms(20)
    end
  end)

  teardown(function()
    if pid then
      os.execute("kill -TERM " .. pid)
      local t0 = gavel.now_ms()
      -- run.sh exits after nginx quit and it removed the prefix
      while sh("kill -0 " .. pid .. " 2>&1 && ps -o stat= -p " .. pid)
              :match("^%s*[RS]") and gavel.now_ms() - t0 < 10000 do
        capi.sleep_ms(20)
      end
    end
    os.remove(log)
  end)

  it("answers POST /api/v1/execute/<name> for every ruleset", function()
    local code, body = curl("-X POST " .. base .. "/api/v1/execute/score "
                            .. "-d '{\"input\": {\"score\": 75}}'")
    assert.equal(200, code)
    assert.matches('^{"code":"MID","message":"mid tier","output":{},'
                   .. '"duration_us":%d+}$', body)
    code, body = curl("-X POST " .. base .. "/api/v1/execute/discount -d "
      .. "'{\"trace\": true, \"input\": {\"customer\": {\"vip\": true}, "
      .. "\"order\": {\"total\": 250, \"items\": [{\"sku\": \"A\"}]}}}'")
    assert.equal(200, code)
    -- the result's key order is the rule's (JSON text end to end)
    assert.matches('"output":{"label":"vip","rate":0.2,"discount":50.0?,'
                   .. '"items":1,"skus":%["A"%]},"trace":{', body)
  end)

  it("names the version in X-Gavel-Ruleset", function()
    local out = sh("curl -s -i -X POST " .. base .. "/api/v1/execute/loan "
                   .. "-d '{\"input\": {}}'")
    assert.matches("X%-Gavel%-Ruleset: loan@1%.0%.0\r\n", out)
    assert.matches("X%-Gavel%-Ruleset%-Hash: %x+\r\n", out)
  end)

  it("maps a typed query argument", function()
    local code, body = curl(base .. "/api/v1/score?score=95")
    assert.equal(200, code)
    assert.matches('"code":"HIGH"', body)
    code, body = curl(base .. "/api/v1/score?score=7x")
    assert.equal(400, code)
    assert.matches('"error":"arg \'score\' is not a valid int"', body)
  end)

  it("serves /health from every worker", function()
    local code, body = curl(base .. "/health")
    assert.equal(200, code)
    for _, n in ipairs { "score", "loan", "discount", "gate" } do
      assert.matches('"name":"' .. n .. '"', body)
    end
  end)

  it("decides in access_by_lua before proxy_pass", function()
    local code, body = curl("-H 'X-Role: admin' " .. base .. "/app/x")
    assert.equal(200, code)
    assert.matches('"tier":"gold","decision":"ALLOW"', body)
    code, body = curl("-H 'X-Role: user' '" .. base .. "/app/x?age=30'")
    assert.equal(200, code)
    assert.matches('"tier":"basic"', body)
    code, body = curl("-H 'X-Role: user' '" .. base .. "/app/x?age=12'")
    assert.equal(403, code)
    assert.matches('"code":"DENY"', body)
    assert.matches('"request_id":"%x+"', body)
  end)
end)
