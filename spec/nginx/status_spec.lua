-- spec/nginx/status_spec.lua -- resty.gavel.execute in a real nginx:
-- status mapping (200/400/404/405/413/422/502/504/500), client bodies
-- { error, code, request_id } without file paths or provider text (the
-- full error in error.log under the same request id), and the typed
-- request mapping (args, headers, ngx.var, a Lua function).
local gavel = require "gavel"
local nginx = require "support.nginx"

local arr = gavel.array

-- A ruleset whose one action calls 'cap' and outputs the payload.
local function caller(name, cap, timeout_ms)
  return assert(gavel.json.encode({
    config = { name = name, version = "2", entry_step = "call" },
    steps = {
      call = { id = "call", name = "Call", type = "action",
        actions = arr {
          { action = "external_call", service = cap, method = "GET",
            params = arr { arr { "q", { Field = "q" } } },
            result_variable = "r", timeout_ms = timeout_ms },
        },
        next_step = "done" },
      done = { id = "done", name = "Done", type = "terminal",
        result = { code = "OK", message = "ok", output = arr {
          arr { "payload", { Field = "$r.payload" } } } } },
    },
  }))
end

local SECRET = "/srv/secret/credentials.txt"

local FILES = {
  ["rules/fail_call.json"] = caller("fail_call", "t.fail", 2000),
  ["rules/slow_call.json"] = caller("slow_call", "t.slow", 100),
  ["rules/raise_call.json"] = caller("raise_call", "t.raise", 2000),
  ["rules/echo_o.json"] = [[{
    "config": { "name": "echo_o", "version": "1", "entry_step": "t" },
    "steps": { "t": { "id": "t", "name": "T", "type": "terminal",
      "result": { "code": "ALLOW", "message": "ok",
                  "output": { "o": "o" } } } } }]],
  ["rules/typed.json"] = [[{
    "config": { "name": "typed", "version": "1", "entry_step": "t" },
    "steps": { "t": { "id": "t", "name": "T", "type": "terminal",
      "result": { "code": "OK", "message": "ok", "output": {
        "age_plus": "age + 1", "vip": "vip == true", "ip": "ip",
        "n": "n * 2", "who": "who" } } } } }]],
}

local HTTP = [[
  lua_shared_dict gavel 1m;
  client_body_buffer_size 64k;
  client_max_body_size 1m;
  init_worker_by_lua_block {
    local providers = require("gavel").providers
    assert(providers.register("t.fail", function()
      return nil, "cannot open ]] .. SECRET .. [[: permission denied"
    end))
    assert(providers.register("t.slow", function()
      ngx.sleep(0.3)
      return { late = true }
    end))
    assert(providers.register("t.raise", function()
      error("boom in ]] .. SECRET .. [[")
    end))
    require("resty.gavel").init {
      rules_dir = ngx.config.prefix() .. "rules", shm = "gavel",
      reload = false, max_body = 4096,
    }
  }
]]

local SERVER = [[
    location ~ ^/api/v1/execute/[^/]+$ {
      content_by_lua_block { require("resty.gavel").execute() }
    }
    location /deep/ {
      content_by_lua_block { require("resty.gavel").execute() }
    }
    location = /typed {
      content_by_lua_block {
        require("resty.gavel").execute {
          name = "typed",
          input = { age = "arg:age:int", vip = "header:x-vip:bool",
                    ip = "var:remote_addr", n = "arg:n:number",
                    who = "cookie:who" },
        }
      }
    }
    location = /gate {
      access_by_lua_block {
        require("resty.gavel").access {
          ruleset = "echo_o",
          input = function(ngx)
            local d = tonumber(ngx.var.arg_d)
            return '{"o":' .. string.rep("[", d) .. string.rep("]", d) .. '}'
          end,
        }
      }
      content_by_lua_block { ngx.say("through") }
    }
    location = /typed_fn {
      content_by_lua_block {
        require("resty.gavel").execute {
          name = "typed",
          input = function(ngx)
            return { age = tonumber(ngx.var.arg_age), vip = false,
                     ip = "fn", n = 1, who = "lua" }
          end,
        }
      }
    }
]]

describe("resty.gavel.execute status mapping", function()
  local srv

  setup(function()
    srv = nginx.start { http = HTTP, server = SERVER, files = FILES }
  end)
  teardown(function() if srv then srv:stop() end end)

  local function post(name, body)
    local status, out = srv:request("POST", "/api/v1/execute/" .. name, body)
    return status, out, gavel.json.decode(out)
  end

  -- the client body is { error, code, request_id } only, and the log has
  -- the full error under that id
  local function check_private(out, v, must_log)
    assert.is_table(v, out)
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.same({ "code", "error", "request_id" }, keys)
    assert.is_nil(out:find("/srv/secret", 1, true), out)
    assert.is_nil(out:find(srv.prefix, 1, true), out)
    local log = srv:log()
    assert.truthy(log:find("request " .. v.request_id, 1, true),
                  "request id not in the log")
    if must_log then
      assert.truthy(log:find(must_log, 1, true), "not logged: " .. must_log)
    end
  end

  it("200 with the result", function()
    local status, out = post("typed", '{"input": {"age": 1, "vip": true, '
      .. '"ip": "x", "n": 1, "who": "w"}}')
    assert.equal(200, status, out)
    assert.matches('^{"code":"OK","message":"ok","output":{"age_plus":2,',
                   out)
  end)

  it("400 on malformed JSON or envelope", function()
    for _, body in ipairs { '{"input": {"age": }', '[1]', '{"trace": true}',
                            '{"input": {}, "trace": "yes"}', '',
                            '{"input": {}} x', '{"input": }',
                            '{"input": {} "trace": true}',
                            '{"input": {}, "trace": tru}',
                            '{"input": 1 2}' } do
      local status, out, v = post("typed", body)
      assert.equal(400, status, body .. " -> " .. out)
      check_private(out, v)
      assert.equal("GAVEL_JSON", v.code)
    end
  end)

  it("reads every envelope shape the same way (fast path and fallback)",
     function()
    local IN = '{"age": 1, "vip": true, "ip": "x", "n": 1, "who": "w"}'
    local WANT = '^{"code":"OK","message":"ok","output":{"age_plus":2,'
    for _, body in ipairs {
      '{"input": ' .. IN .. '}',
      '{"input":' .. IN .. ',"trace":false}',
      '  {"input" : ' .. IN .. ' , "trace" : false }  ',
      '{"input": ' .. IN .. ', "other": 1}',          -- more members
      '{"input": ' .. IN .. ', "other": {"trace": true}}',
      '{"other": [1], "input": ' .. IN .. '}',
      '{"trace": false, "input": ' .. IN .. '}',
      '{"input": ' .. IN:gsub("}$", ', "trace": true}') .. '}', -- inside
    } do
      local status, out = post("typed", body)
      assert.equal(200, status, body .. " -> " .. out)
      assert.matches(WANT, out)
      assert.is_nil(out:find('"trace":', 1, true), body .. " -> " .. out)
    end
    for _, body in ipairs {
      '{"input": ' .. IN .. ', "trace": true}',
      '{"input": ' .. IN .. ',"trace":true, "x": 1}',
      '{"trace": true, "input": ' .. IN .. '}',
    } do
      local status, out = post("typed", body)
      assert.equal(200, status, body .. " -> " .. out)
      assert.truthy(out:find('"trace":{"path":"t"', 1, true), out)
    end
  end)

  it("404 on an unknown ruleset", function()
    local status, out, v = post("nope", '{"input": {}}')
    assert.equal(404, status)
    check_private(out, v)
    assert.equal("GAVEL_NOTFOUND", v.code)
  end)

  it("names the ruleset by the URI past the URI cache's bound", function()
    -- 1,030 distinct names (all unknown: 404) fill the worker's cache of
    -- URI -> name (1,024 entries, then emptied); names still resolve
    local p = io.popen("curl -s -o /dev/null -w '%{http_code}\\n' -X POST "
      .. "-d '{\"input\": {}}' '" .. srv:url("/api/v1/execute/n[1-1030]")
      .. "'")
    local codes = p:read("*a")
    p:close()
    local _, n404 = codes:gsub("404\n", "")
    assert.equal(1030, n404)
    local status, out = post("typed", '{"input": {"age": 1, "vip": true, '
      .. '"ip": "x", "n": 1, "who": "w"}}')
    assert.equal(200, status, out)
    status = post("n7", '{"input": {}}')
    assert.equal(404, status)
    -- a URI longer than the cache's entries (256 bytes) is read each time
    status = post(("x"):rep(300), '{"input": {}}')
    assert.equal(404, status)
    local long = "/deep/" .. ("y"):rep(300) .. "/typed/"
    for _ = 1, 2 do
      status, out = srv:request("POST", long, '{"input": {"age": 1, '
        .. '"vip": true, "ip": "x", "n": 1, "who": "w"}}')
      assert.equal(200, status, out)
    end
  end)

  it("405 on a GET", function()
    local status, out, v = srv:request("GET", "/api/v1/execute/typed")
    assert.equal(405, status)
    check_private(out, gavel.json.decode(out))
  end)

  it("413 on a body larger than max_body", function()
    local status, out, v = post("typed", '{"input": {"s": "'
                                .. ("x"):rep(5000) .. '"}}')
    assert.equal(413, status)
    check_private(out, v)
    assert.equal("GAVEL_LIMIT", v.code)
  end)

  it("422 on an evaluation error caused by the input", function()
    local status, out, v = post("typed", '{"input": {"age": "old", '
      .. '"vip": true, "ip": "x", "n": 1, "who": "w"}}')
    assert.equal(422, status, out)
    check_private(out, v)
    assert.equal("GAVEL_EXEC", v.code)
  end)

  it("502 on a failed host call, without the provider's text", function()
    local status, out, v = post("fail_call", '{"input": {"q": "a"}}')
    assert.equal(502, status, out)
    check_private(out, v, SECRET)
    assert.equal("a host call failed", v.error)
  end)

  it("502 when the provider raises", function()
    local status, out, v = post("raise_call", '{"input": {"q": "a"}}')
    assert.equal(502, status, out)
    check_private(out, v, "boom in")
  end)

  it("504 on a host call that times out", function()
    local status, out, v = post("slow_call", '{"input": {"q": "a"}}')
    assert.equal(504, status, out)
    check_private(out, v)
    assert.equal("a host call timed out", v.error)
  end)

  it("access: a result too deep for Lua tables is an error status, not "
     .. "a Lua error", function()
    local status, out = srv:request("GET", "/gate?d=3")
    assert.equal(200, status)
    assert.equal("through\n", out)
    -- 511 arrays in 'o': a valid input (512 levels); the result wraps it
    -- in two more objects, past what the JSON reader gives Lua
    status, out = srv:request("GET", "/gate?d=511")
    assert.equal(422, status, out)
    local v = assert(gavel.json.decode(out))
    assert.equal("GAVEL_LIMIT", v.code)
    assert.is_nil(srv:log():find("entry thread aborted", 1, true))
  end)

  it("maps typed args, headers, vars and cookies", function()
    local out = io.popen("curl -s -H 'X-Vip: yes' -H 'Cookie: who=ann' '"
      .. srv:url("/typed?age=41&n=2.5") .. "'"):read("*a")
    assert.equal('{"code":"OK","message":"ok","output":{"age_plus":42,'
      .. '"vip":true,"ip":"127.0.0.1","n":5.0,"who":"ann"}', out:gsub(
      ',"duration_us":%d+}$', ""), out)
    local status, body = srv:request("GET", "/typed?age=41&n=2.5")
    assert.equal(422, status, body)    -- vip and who absent: not in input
    for _, q in ipairs { "age=4.5&n=1", "age=x&n=1", "age=1&n=zz" } do
      status, body = srv:request("GET", "/typed?" .. q)
      assert.equal(400, status, q)
      assert.matches("is not a valid ", body)
    end
    out = io.popen("curl -s -H 'X-Vip: maybe' '"
      .. srv:url("/typed?age=1&n=1") .. "'"):read("*a")
    assert.matches('"error":"header \'x%-vip\' is not a valid bool"', out)
  end)

  it("maps with a Lua function", function()
    local status, body = srv:request("GET", "/typed_fn?age=9")
    assert.equal(200, status, body)
    assert.matches('"age_plus":10,"vip":false,"ip":"fn"', body)
  end)
end)
