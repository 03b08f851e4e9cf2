-- spec/nginx/nginx_spec.lua -- resty.gavel in a real nginx (Debian's nginx
-- + lua-nginx-module, started on 127.0.0.1 by spec/support/nginx.lua):
-- serving a ruleset, Lua providers that yield on cosockets, provider
-- errors, and the cosocket network.http provider with its allowlist.
local gavel = require "gavel"
local nginx = require "support.nginx"

local arr = gavel.array

-- A ruleset whose one action calls 'cap' with 'params' ({ {key, expr} })
-- and that outputs the payload and metadata.
local function caller(name, cap, method, params, timeout_ms)
  local p = {}
  for i, kv in ipairs(params) do p[i] = arr { kv[1], kv[2] } end
  return assert(gavel.json.encode({
    config = { name = name, version = "1", entry_step = "call" },
    steps = {
      call = { id = "call", name = "Call", type = "action",
        actions = arr {
          { action = "external_call", service = cap, method = method,
            params = arr(p), result_variable = "r", timeout_ms = timeout_ms },
        },
        next_step = "done" },
      done = { id = "done", name = "Done", type = "terminal",
        result = { code = "OK", message = "ok", output = arr {
          arr { "payload", { Field = "$r.payload" } },
          arr { "meta", { Field = "$r.metadata" } },
        } } },
    },
  }))
end

local HTTP_PARAMS = {
  { "url", { Field = "url" } }, { "json_body", { Field = "body" } },
  { "query", { Field = "query" } }, { "headers", { Field = "headers" } },
}

local FILES = {
  ["rules/slow_call.json"] = caller("slow_call", "t.slow", "GET",
    { { "q", { Field = "q" } } }, 2000),
  ["rules/fail_call.json"] = caller("fail_call", "t.fail", "GET",
    { { "q", { Field = "q" } } }, 2000),
  ["rules/raise_call.json"] = caller("raise_call", "t.raise", "GET",
    { { "q", { Field = "q" } } }, 2000),
  ["rules/http_call.json"] = caller("http_call", "network.http", "POST",
    HTTP_PARAMS, 2000),
  ["rules/http_fast.json"] = caller("http_fast", "network.http", "GET",
    { { "url", { Field = "url" } } }, 100),
  ["rules/http_own.json"] = caller("http_own", "network.http", "GET",
    { { "url", { Field = "url" } } }, 2000),
}

local HTTP = [[
  init_by_lua_block {
    require "resty.gavel"
  }
  init_worker_by_lua_block {
    local rg = require "resty.gavel"
    local gavel = require "gavel"
    local providers = gavel.providers
    assert(rg.register_http())
    rg.configure({ allow_http = { "http://127.0.0.1:{{port}}" } })

    -- t.slow: a raw cosocket GET of /slow on this server (0.2 s).
    assert(providers.register("t.slow", function(op, params, ctx)
      local sock = ngx.socket.tcp()
      sock:settimeout(ctx.timeout_ms)
      local ok, err = sock:connect("127.0.0.1", {{port}})
      if not ok then return nil, err end
      ok, err = sock:send("GET /slow?q=" .. ngx.escape_uri(params.q)
                          .. " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
      if not ok then sock:close() return nil, err end
      local resp
      resp, err = sock:receive("*a")
      sock:close()
      if not resp then return nil, err end
      return require("cjson").decode(resp:match("\r\n\r\n(.*)$"))
    end))
    assert(providers.register("t.fail", function()
      return nil, "upstream exploded"
    end))
    assert(providers.register("t.raise", function() error("kaboom") end))

    local prefix = ngx.config.prefix()
    for _, n in ipairs({ "slow_call", "fail_call", "raise_call",
                         "http_call", "http_fast" }) do
      assert(rg.load({ path = prefix .. "rules/" .. n .. ".json" }))
    end
    assert(rg.load({ path = "{{repo}}/examples/score.json" }))
    -- a ruleset with its own allowlist (the second server only)
    assert(rg.load({ path = prefix .. "rules/http_own.json",
                     allow_http = { "http://127.0.0.1:{{port2}}" } }))
  }
  server {
    listen 127.0.0.1:{{port2}};
    location / { return 200 "the denied server was reached"; }
  }
]]

local SERVER = [[
    location ~ ^/run/(\w+)$ {
      content_by_lua_block { require("resty.gavel").serve(ngx.var[1]) }
    }
    location = /slow {
      content_by_lua_block {
        ngx.sleep(0.2)
        local s = '{"slow":true,"q":"' .. (ngx.var.arg_q or "") .. '"}'
        ngx.header.content_length = #s
        ngx.print(s)
      }
    }
    location = /echo {
      content_by_lua_block {
        local cjson = require "cjson"
        ngx.req.read_body()
        local s = cjson.encode({
          method = ngx.req.get_method(), args = ngx.req.get_uri_args(),
          x_test = ngx.var.http_x_test, ctype = ngx.var.content_type,
          body = cjson.decode(ngx.req.get_body_data() or "null"),
        })
        ngx.header.content_length = #s
        ngx.header.content_type = "application/json"
        ngx.header["X-Echo"] = "yes"
        ngx.print(s)
      }
    }
    location = /gone { return 404 "gone"; }
    location = /binary {
      content_by_lua_block {
        ngx.header.content_length = 6
        ngx.print("\255\254ab\226\130")
      }
    }
    location = /chunked { content_by_lua_block { ngx.print("{}") } }
    location = /__status { stub_status; }
    # runs http_call on the body and counts the connections nginx accepted
    # meanwhile (stub_status 'accepts'; a subrequest accepts none)
    location = /probe/http_call {
      content_by_lua_block {
        local function accepts()
          local r = ngx.location.capture("/__status")
          return tonumber(r.body:match("\n%s*(%d+)%s+%d+%s+%d+"))
        end
        ngx.req.read_body()
        local a0 = accepts()
        local res, err, code = require("resty.gavel").run("http_call",
          ngx.req.get_body_data())
        local a1 = accepts()
        ngx.print(require("gavel").json.encode({ accepted = a1 - a0,
          res = res, error = err, code = code }))
      }
    }
    location = /cache {
      content_by_lua_block {
        local rg = require "resty.gavel"
        local a = rg.load({ path = "{{repo}}/examples/score.json" })
        local ok, err = pcall(rg.load, { path = "{{prefix}}nope.json" })
        ngx.print(require("gavel").json.encode({
          same = a == rg.get("score") and a == rg.get("score", "1.0.0"),
          name = a:name(), misuse = not ok and err or false }))
      }
    }
]]

local BAD_LOG = { "%[error%]", "%[crit%]", "%[alert%]", "%[emerg%]",
                  "writing a global" }

-- Lines of 'log' that are errors (or global writes), minus expected ones.
local function bad_lines(log, expected)
  local out = {}
  for line in log:gmatch("[^\n]+") do
    local bad = false
    for _, p in ipairs(BAD_LOG) do bad = bad or line:find(p) ~= nil end
    -- a 5xx answer's details, logged on purpose under its request id
    if line:find("gavel: request %x+: 5%d%d ") then bad = false end
    if bad and not (expected and line:find(expected)) then
      out[#out + 1] = line
    end
  end
  return out
end

-- detail(srv, mark, body) -> the error-log line of the failed request
-- whose client body is 'body' (found by its request id)
local function detail(srv, mark, body)
  local rid = assert(body:match('"request_id":"([^"]+)"'), body)
  for line in srv:log(mark):gmatch("[^\n]+") do
    if line:find("gavel: request " .. rid, 1, true) then return line end
  end
  error("no error-log line for request " .. rid)
end

local function decode(body)
  return assert(gavel.json.decode(body), body)
end

describe("spec/support/nginx.lua", function()
  it("starts a bare nginx that answers, and stops it leaving nothing behind",
     function()
    local srv = nginx.start()
    local prefix = srv.prefix
    local f = assert(io.open(prefix .. "logs/nginx.pid"))
    local pid = f:read("*n")
    f:close()
    local function running(p)   -- alive and not a zombie awaiting its reaper
      local st = io.open("/proc/" .. p .. "/stat")
      if not st then return false end
      local state = st:read("*a"):match("%) (%a)")
      st:close()
      return state ~= "Z" and state ~= "X"
    end
    assert.is_true(running(pid))
    srv:stop()
    -- the master is gone (timing belongs in bench/, not in tests)
    assert.is_false(running(pid))
    if not os.getenv("GAVEL_KEEP_NGINX") then
      assert.is_nil(io.open(prefix .. "conf/nginx.conf"))
    end
  end)
end)

describe("resty.gavel in nginx", function()
  local srv

  lazy_setup(function()
    srv = nginx.start({ http = HTTP, server = SERVER, files = FILES,
                        ports = 2 })
  end)

  lazy_teardown(function()
    if srv then srv:stop() end
  end)

  it("loads rulesets and providers in init_worker_by_lua cleanly", function()
    assert.are.same({}, bad_lines(srv:log()))
  end)

  it("runs a ruleset on the request's JSON body and answers JSON", function()
    local input = assert(io.open("examples/score.input.json")):read("*a")
    local expected = assert(io.open("examples/score.expected.json"))
                       :read("*a")
    local status, body = srv:request("POST", "/run/score", input)
    assert.are.equal(200, status, body)
    local got = decode(body)
    assert.is_number(got.duration_us)   -- as execute() answers
    got.duration_us = nil
    assert.are.same(decode(expected), got)
    status, body = srv:request("POST", "/run/score", '{"score": 95}')
    assert.are.equal(200, status)
    assert.are.equal("HIGH", decode(body).code)
  end)

  it("answers bad JSON with 400 and an unknown ruleset with 404", function()
    local status, body = srv:request("POST", "/run/score", '{"score": ')
    assert.are.equal(400, status, body)
    assert.are.equal("GAVEL_JSON", decode(body).code)
    status, body = srv:request("POST", "/run/nosuch", "{}")
    assert.are.equal(404, status, body)
    local r = decode(body)
    assert.are.equal("GAVEL_NOTFOUND", r.code)
    assert.are.equal("ruleset not found", r.error)
    assert.matches("^%x+$", r.request_id)
  end)

  it("serve(): GET is 405, an empty body 400, input errors 422 (as "
     .. "execute())", function()
    local status, body = srv:request("GET", "/run/score")
    assert.are.equal(405, status, body)
    assert.are.equal("GAVEL_MISUSE", decode(body).code)
    status, body = srv:request("POST", "/run/score", "")
    assert.are.equal(400, status, body)
    assert.are.equal("GAVEL_JSON", decode(body).code)
    status, body = srv:request("POST", "/run/score", '{"score": "x"}')
    assert.are.equal(422, status, body)
    assert.are.equal("GAVEL_EXEC", decode(body).code)
  end)

  it("loads once per worker and keys rulesets by name and version",
     function()
    local status, body = srv:request("GET", "/cache")
    assert.are.equal(200, status, body)
    local r = decode(body)
    assert.is_true(r.same)
    assert.are.equal("score", r.name)
    assert.matches("is not loaded yet", r.misuse, 1, true)
  end)

  it("lets a cosocket provider yield: two 0.2 s calls overlap", function()
    -- what two concurrent curls cost without the 0.2 s (process start-up)
    local _, base = srv:parallel({ { "GET", "/__ping" }, { "GET", "/__ping" } })
    local res, wall = srv:parallel({
      { "POST", "/run/slow_call", '{"q": "a"}' },
      { "POST", "/run/slow_call", '{"q": "b"}' },
    })
    local slowest = 0
    for i, q in ipairs({ "a", "b" }) do
      assert.are.equal(200, res[i][1], res[i][2])
      assert.are.same({ slow = true, q = q },
                      decode(res[i][2]).output.payload)
      slowest = math.max(slowest, res[i][3])
    end
    -- One worker: had the provider blocked it, the second request would
    -- have waited for the first and taken ~0.4 s (minus curl's start-up
    -- skew), and the pair 0.4 s more than two pings.
    local why = ("wall %.0f ms (two pings %.0f ms), slowest request %.0f ms")
                :format(wall, base, slowest)
    assert.is_true(slowest >= 195 and slowest < 300, why)
    assert.is_true(wall - base < 300, why)
  end)

  it("answers provider errors with 502 without their text; the error log "
     .. "has it under the request id", function()
    local mark = srv:log_mark()
    local status, body = srv:request("POST", "/run/fail_call", '{"q": 1}')
    assert.are.equal(502, status, body)
    local r = decode(body)
    assert.are.equal("GAVEL_HOST", r.code)
    assert.are.equal("a host call failed", r.error)
    assert.is_nil(body:find("exploded", 1, true))
    local d = detail(srv, mark, body)
    assert.matches("Capability invocation failed for t.fail", d, 1, true)
    assert.matches("upstream exploded", d, 1, true)
    assert.matches("steps.call.actions[0]", d, 1, true)
    status, body = srv:request("POST", "/run/raise_call", '{"q": 1}')
    assert.are.equal(502, status, body)
    r = decode(body)
    assert.are.equal("GAVEL_HOST", r.code)
    assert.is_nil(body:find("kaboom", 1, true))
    assert.matches("provider raised an error: .*kaboom",
                   detail(srv, mark, body))
    -- the worker is fine afterwards
    status = srv:request("POST", "/run/score", '{"score": 75}')
    assert.are.equal(200, status)
    assert.are.same({}, bad_lines(srv:log(mark)))
  end)

  describe("network.http on cosockets", function()
    local function input(url)
      return assert(gavel.json.encode({
        url = url, body = { a = 1, list = arr { 1, 2 } },
        query = { x = "1 2", tag = arr { "a", "b" } },
        headers = { ["X-Test"] = "hi" },
      }))
    end

    it("POSTs JSON to an allowed location and returns the response",
       function()
      local status, body = srv:request("POST", "/run/http_call",
                                       input(srv:url("/echo?k=v")))
      assert.are.equal(200, status, body)
      local out = decode(body).output
      local p = out.payload
      assert.are.equal(200, p.status)
      assert.are.same({ status = "200" }, out.meta)
      assert.are.equal("yes", p.headers["x-echo"])
      assert.are.equal("application/json", p.headers["content-type"])
      assert.are.same(decode(p.body), p.json_body)
      local e = p.json_body
      assert.are.equal("POST", e.method)
      assert.are.equal("hi", e.x_test)
      assert.are.equal("application/json", e.ctype)
      assert.are.same({ a = 1, list = { 1, 2 } }, e.body)
      assert.are.same({ k = "v", x = "1 2", tag = { "a", "b" } }, e.args)
    end)

    it("returns a non-2xx status as a result, without json_body", function()
      local status, body = srv:request("POST", "/run/http_call",
                                       input(srv:url("/gone")))
      assert.are.equal(200, status, body)
      local p = decode(body).output.payload
      assert.are.equal(404, p.status)
      assert.is_nil(p.json_body)
      assert.are.equal("gone", p.body)
    end)

    it("replaces invalid UTF-8 in bodies and reads chunked ones",
       function()
      local status, body = srv:request("POST", "/run/http_call",
                                       input(srv:url("/binary")))
      assert.are.equal(200, status, body)
      local fffd = "\239\191\189"
      assert.are.equal(fffd .. fffd .. "ab" .. fffd,
                       decode(body).output.payload.body)
      -- chunked bodies are read (issue 9)
      status, body = srv:request("POST", "/run/http_call",
                                 input(srv:url("/chunked")))
      assert.are.equal(200, status, body)
      assert.are.equal("{}", decode(body).output.payload.body)
    end)

    it("refuses a host outside the allowlist without a connection",
       function()
      local mark = srv:log_mark()
      local denied = ("127.0.0.1:%d"):format(srv.ports[2])
      local status, body = srv:request("POST", "/probe/http_call",
                                       input("http://" .. denied .. "/"))
      assert.are.equal(200, status, body)
      local r = decode(body)
      assert.are.equal("GAVEL_HOST", r.code)
      assert.matches("network.http: host " .. denied
                     .. " is not in the allowlist", r.error, 1, true)
      assert.are.equal(0, r.accepted)
      -- the probe does see the connection of an allowed call
      status, body = srv:request("POST", "/probe/http_call",
                                 input(srv:url("/echo")))
      r = decode(body)
      assert.are.equal(200, r.res.output.payload.status, body)
      -- at most one: a pooled keepalive connection is reused (issue 9)
      assert.is_true(r.accepted <= 1, body)
      assert.are.same({}, bad_lines(srv:log(mark)))
    end)

    it("uses a ruleset's own allowlist (gavel.load allow_http) over the worker's",
       function()
      local other = ("http://127.0.0.1:%d/"):format(srv.ports[2])
      local status, body = srv:request("POST", "/run/http_own",
                                       assert(gavel.json.encode({ url = other })))
      assert.are.equal(200, status, body)
      assert.are.equal("the denied server was reached",
                       decode(body).output.payload.body)
      status, body = srv:request("POST", "/run/http_own",
                                 assert(gavel.json.encode({ url = srv:url("/echo") })))
      assert.are.equal(502, status, body)
      assert.matches("is not in the allowlist", detail(srv, 0, body), 1,
                     true)
    end)

    it("refuses unlisted hostnames and other schemes", function()
      for url, msg in pairs({
        ["http://example.invalid/x"] =
          "network.http: host example.invalid:80 is not in the allowlist",
        ["https://127.0.0.1:" .. srv.port .. "/"] =
          "network.http: host 127.0.0.1:" .. srv.port
          .. " is not in the allowlist",
        ["ftp://127.0.0.1/"] = "network.http: scheme 'ftp' is not allowed",
        ["http://user@127.0.0.1/"] = "credentials in the url",
      }) do
        local status, body = srv:request("POST", "/run/http_call", input(url))
        assert.are.equal(502, status, body)
        assert.matches(msg, detail(srv, 0, body), 1, true)
        assert.is_nil(body:find(msg, 1, true))
      end
    end)

    it("stops waiting at the action's timeout_ms", function()
      local mark = srv:log_mark()
      local t0 = gavel.now_ms()
      local status, body = srv:request("POST", "/run/http_fast",
        assert(gavel.json.encode({ url = srv:url("/slow") })))
      local ms = gavel.now_ms() - t0
      assert.are.equal(504, status, body)
      assert.matches("timed out", detail(srv, mark, body), 1, true)
      -- "timed out" (not the 0.2 s answer) shows it stopped at timeout_ms;
      -- the time is only checked against a hang (timing is for bench/)
      assert.is_true(ms < 2000, ("took %.0f ms"):format(ms))
      -- the only error logged is the cosocket's own timeout report
      assert.are.same({}, bad_lines(srv:log(mark), "lua tcp socket read "
                                                   .. "timed out"))
    end)
  end)

  it("leaves nothing unexpected in error.log over the whole run", function()
    assert.are.same({}, bad_lines(srv:log(), "lua tcp socket read timed out"))
  end)
end)
