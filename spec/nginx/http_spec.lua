-- spec/nginx/http_spec.lua -- the cosocket network.http provider under
-- resty.gavel.init{}: keepalive pool reuse (the local server counts the
-- connections it accepts), chunked and Content-Length bodies, the action
-- timeout firing during a slow call while other requests are served, and
-- the allowlist decided by the C core (gavel_http_allow_match over the
-- FFI).
local gavel = require "gavel"
local nginx = require "support.nginx"

local arr = gavel.array

-- A ruleset that GETs input.url and outputs 'outputs' (default: the
-- response's status and body).
local function caller(name, timeout_ms, outputs)
  return assert(gavel.json.encode({
    config = { name = name, version = "1", entry_step = "call" },
    steps = {
      call = { id = "call", name = "Call", type = "action",
        actions = arr {
          { action = "external_call", service = "network.http",
            method = "GET", params = arr { arr { "url", { Field = "url" } } },
            result_variable = "r", timeout_ms = timeout_ms },
        },
        next_step = "done" },
      done = { id = "done", name = "Done", type = "terminal",
        result = { code = "OK", message = "ok", output = outputs or arr {
          arr { "status", { Field = "$r.payload.status" } },
          arr { "body", { Field = "$r.payload.body" } } } } },
    },
  }))
end

local HTTP = [[
  lua_shared_dict gavel 1m;
  init_worker_by_lua_block {
    require("resty.gavel").init {
      rules_dir = ngx.config.prefix() .. "rules", shm = "gavel",
      reload = false, allow_http = { "http://127.0.0.1:{{port}}" },
    }
  }
]]

local SERVER = [[
    location ~ ^/api/v1/execute/[^/]+$ {
      content_by_lua_block { require("resty.gavel").execute() }
    }
    location = /__status { stub_status; }
    location = /cl { return 200 "content-length body"; }
    location = /chunked {
      content_by_lua_block {
        for i = 1, 50 do ngx.print(("chunk%02d;"):format(i)) ngx.flush(true) end
      }
    }
    location = /slow { content_by_lua_block { ngx.sleep(1) ngx.print("late") } }
    location = /fast { return 200 "fast"; }
    location = /args { content_by_lua_block { ngx.print(ngx.var.args) } }
    location = /manyhdr {
      content_by_lua_block {
        local v = {}
        for i = 1, tonumber(ngx.var.arg_n) do v[i] = "v" end
        ngx.header["Xr"] = v
        ngx.print("m")
      }
    }
    location = /longhdr {
      content_by_lua_block {
        ngx.header["Xr"] = string.rep("a", tonumber(ngx.var.arg_n))
        ngx.print("m")
      }
    }
    # runs 'get' n times in this request; connections accepted meanwhile
    location = /loop {
      content_by_lua_block {
        local function accepts()
          local r = ngx.location.capture("/__status")
          return tonumber(r.body:match("\n%s*(%d+)%s+%d+%s+%d+"))
        end
        local rs = require("resty.gavel.registry").get("get").rs
        local input = '{"url": "http://127.0.0.1:{{port}}/cl"}'
        local a0 = accepts()
        for i = 1, tonumber(ngx.var.arg_n) do
          local res, err = rs:run_json(input)
          if not res then ngx.print(err) return end
        end
        ngx.print(accepts() - a0)
      }
    }
    location = /allow {
      content_by_lua_block {
        local ffi = require "ffi"
        require "resty.gavel"
        local lib = ffi.load(package.searchpath("gavel.capi", package.cpath))
        local cases = {
          { "https", "api.example.com", 443, { "api.example.com" }, 1 },
          { "http", "API.Example.com.", 81, { "api.example.com" }, 1 },
          { "https", "api.example.com", 443, { "api.example.com:8443" }, 0 },
          { "https", "api.example.com", 443, { "https://api.example.com" }, 1 },
          { "http", "api.example.com", 80, { "https://api.example.com" }, 0 },
          { "https", "a.b.example.com", 443, { "*.example.com" }, 1 },
          { "https", "example.com", 443, { "*.example.com" }, 0 },
          { "http", "[::1]", 8080, { "[::1]:8080" }, 1 },
          { "ftp", "x", 21, { "*" }, 0 },
          { "http", "x", 80, { "bogus://x" }, 0 },
        }
        local out = {}
        for i, c in ipairs(cases) do
          local a = ffi.new("const char *[?]", #c[4], c[4])
          local got = lib.gavel_http_allow_match(c[1], c[2], #c[2], c[3], a, #c[4])
          if got ~= c[5] then out[#out + 1] = "case " .. i .. " got " .. got end
        end
        ngx.print(#out == 0 and "ok" or table.concat(out, "; "))
      }
    }
]]

describe("network.http on cosockets", function()
  local srv

  setup(function()
    srv = nginx.start { http = HTTP, server = SERVER, files = {
      ["rules/get.json"] = caller("get", 2000),
      ["rules/get_fast.json"] = caller("get_fast", 150),
      -- the length and start of response header 'xr'
      -- floats in the query: sent as the C provider sends them
      ["rules/query.json"] = assert(gavel.json.encode({
        config = { name = "query", version = "1", entry_step = "call" },
        steps = {
          call = { id = "call", name = "Call", type = "action",
            actions = arr {
              { action = "external_call", service = "network.http",
                method = "GET", params = arr {
                  arr { "url", { Field = "url" } },
                  arr { "query", { Object = arr {
                    arr { "a", { Literal = 1e70 } },
                    arr { "b", { Literal = 1e-70 } },
                    arr { "c", { Literal = 0.1 } },
                    arr { "d", { Literal = 5e-324 } },
                    arr { "e", { Literal = -2.5 } } } } } },
                result_variable = "r" },
            },
            next_step = "done" },
          done = { id = "done", name = "Done", type = "terminal",
            result = { code = "OK", message = "ok", output = arr {
              arr { "body", { Field = "$r.payload.body" } } } } },
        },
      })),
      ["rules/hdr.json"] = caller("hdr", 2000, arr {
        arr { "n", "len($r.payload.headers.xr)" },
        arr { "head", "substring($r.payload.headers.xr, 0, 7)" } }),
    } }
  end)
  teardown(function() if srv then srv:stop() end end)

  local function run(name, url)
    local status, body, ms = srv:request("POST", "/api/v1/execute/" .. name,
      '{"input": {"url": "' .. url .. '"}}')
    return status, body, ms
  end

  it("reuses pooled connections", function()
    local status, body = srv:request("GET", "/loop?n=20")
    assert.equal(200, status, body)
    assert.equal("1", body)   -- 20 calls, one connection (was 20)
  end)

  it("joins a header repeated 7,000 times once, and refuses a response "
     .. "head over 64 KiB", function()
    local status, body = run("hdr", srv:url("/manyhdr?n=7000"))
    assert.equal(200, status, body)
    assert.matches('"n":' .. (3 * 7000 - 2), body)
    assert.matches('"head":"v, v, v"', body)
    -- one 100 KB header line: refused without buffering it (a provider
    -- failure: 502)
    status, body = run("hdr", srv:url("/longhdr?n=100000"))
    assert.equal(502, status, body)
    assert.matches("response head larger than 65536 bytes",
                   srv:log(), 1, true)
    status, body = run("hdr", srv:url("/longhdr?n=1000"))
    assert.equal(200, status, body)
    assert.matches('"n":1000', body)
  end)

  it("sends float query values in full decimal, as the C provider does", function()
    -- "%.17g" sent 1.0000000000000001e+70 and 0.10000000000000001
    local status, body = run("query", srv:url("/args"))
    assert.equal(200, status, body)
    local want = "a=1" .. string.rep("0", 70) .. "&b=0." .. string.rep("0", 69)
      .. "1&c=0.1&d=0." .. string.rep("0", 323) .. "5&e=-2.5"
    assert.equal(want, gavel.json.decode(body).output.body)
  end)

  it("reads Content-Length and chunked bodies", function()
    local status, body = run("get", srv:url("/cl"))
    assert.equal(200, status, body)
    assert.matches('"body":"content%-length body"', body)
    status, body = run("get", srv:url("/chunked"))
    assert.equal(200, status, body)
    local want = {}
    for i = 1, 50 do want[i] = ("chunk%02d;"):format(i) end
    assert.matches('"body":"' .. table.concat(want) .. '"', body, 1, true)
  end)

  it("fires the timeout during a slow call, other requests served",
     function()
    local res = srv:parallel {
      { "POST", "/api/v1/execute/get_fast",
        '{"input": {"url": "' .. srv:url("/slow") .. '"}}' },
      { "GET", "/fast" },
    }
    assert.equal(504, res[1][1], res[1][2])
    assert.matches('"error":"a host call timed out"', res[1][2])
    assert.is_true(res[1][3] < 800, ("the call took %d ms"):format(res[1][3]))
    assert.equal(200, res[2][1])
    assert.matches("timed out.-%(timeout_ms 150%)", srv:log())
  end)

  it("decides the allowlist in the C core", function()
    local status, body = srv:request("GET", "/allow")
    assert.equal(200, status)
    assert.equal("ok", body)
    status, body = run("get", "http://127.0.0.2:" .. srv.port .. "/cl")
    assert.equal(502, status)
    assert.matches("127.0.0.2:" .. srv.port .. " is not in the allowlist",
                   srv:log(), 1, true)
  end)
end)
