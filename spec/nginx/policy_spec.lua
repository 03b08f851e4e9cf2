-- spec/nginx/policy_spec.lua -- capability policies set from Lua
-- (resty.gavel.policy / init{ policies = ... }) on the engine's policy
-- machinery, in nginx: retries of an idempotent call, the timeout cap, the
-- circuit breaker, and misuse errors.
local gavel = require "gavel"
local nginx = require "support.nginx"

local arr = gavel.array

local function caller(name, cap, timeout_ms)
  return assert(gavel.json.encode({
    config = { name = name, version = "1", entry_step = "call" },
    steps = {
      call = { id = "call", name = "Call", type = "action",
        actions = arr {
          { action = "external_call", service = cap, method = "GET",
            params = arr {}, result_variable = "r", timeout_ms = timeout_ms },
        },
        next_step = "done" },
      done = { id = "done", name = "Done", type = "terminal",
        result = { code = "OK", message = "ok" } },
    },
  }))
end

local HTTP = [[
  lua_shared_dict gavel 1m;
  init_worker_by_lua_block {
    local rg = require "resty.gavel"
    local d = ngx.shared.gavel
    assert(rg.provide("t.flaky", function()
      d:incr("flaky", 1, 0)
      return nil, "flaky failed"
    end))
    assert(rg.provide("t.slow", function()
      ngx.sleep(0.4)
      return { late = true }
    end))
    assert(rg.provide("t.broken", function()
      d:incr("broken", 1, 0)
      return nil, "down"
    end))
    rg.init {
      rules_dir = ngx.config.prefix() .. "rules", shm = "gavel",
      reload = false,
      policies = {
        ["t.flaky"] = { retries = 2, backoff_ms = 1 },
        ["t.slow"] = { timeout_ms = 100 },
        ["t.broken"] = { breaker = { threshold = 2, reset_ms = 60000 } },
      },
    }
  }
]]

local SERVER = [[
    location ~ ^/api/v1/execute/[^/]+$ {
      content_by_lua_block { require("resty.gavel").execute() }
    }
    location = /count {
      content_by_lua_block {
        ngx.print(ngx.shared.gavel:get(ngx.var.arg_k) or 0)
      }
    }
    location = /misuse {
      content_by_lua_block {
        local rg = require "resty.gavel"
        local ok, err = pcall(rg.policy, "x", { retries = -1 })
        local ok2, err2 = pcall(rg.policy, "x", { nope = 1 })
        ngx.print(err, "|", err2)
      }
    }
]]

describe("capability policies from Lua", function()
  local srv

  setup(function()
    srv = nginx.start { http = HTTP, server = SERVER, files = {
      ["rules/flaky.json"] = caller("flaky", "t.flaky", 2000),
      ["rules/slow.json"] = caller("slow", "t.slow", 2000),
      ["rules/broken.json"] = caller("broken", "t.broken", 2000),
    } }
  end)
  teardown(function() if srv then srv:stop() end end)

  it("retries an idempotent call", function()
    local status = srv:request("POST", "/api/v1/execute/flaky",
                               '{"input": {}}')
    assert.equal(502, status)
    local _, n = srv:request("GET", "/count?k=flaky")
    assert.equal("3", n)   -- 1 + 2 retries
  end)

  it("caps the action's timeout", function()
    local status, body, ms = srv:request("POST", "/api/v1/execute/slow",
                                         '{"input": {}}')
    assert.equal(504, status, body)
    assert.matches("timeout_ms 100", srv:log())
  end)

  it("opens the circuit after the threshold", function()
    for _ = 1, 4 do
      assert.equal(502, (srv:request("POST", "/api/v1/execute/broken",
                                     '{"input": {}}')))
    end
    local _, n = srv:request("GET", "/count?k=broken")
    assert.equal("2", n)   -- calls 3 and 4 never reached the provider
  end)

  it("raises on misuse", function()
    local _, body = srv:request("GET", "/misuse")
    assert.matches("retries must be an integer >= 0", body, 1, true)
    assert.matches("unknown setting 'nope'", body, 1, true)
  end)
end)
