-- spec/nginx/server_hardening_spec.lua -- resty.gavel's nginx handlers in
-- a real nginx against requests and configurations that used to get a
-- decision on partial or missing data: query args and headers past the
-- mapping's limit (refused, never decided on what was left), the access
-- gate's input function raising or returning no table, a rule's deny
-- status outside 400-599, POST /admin/reload across 2 workers, the audit
-- file opened by audit_open() without init{}'s 'audit', and /health of a
-- worker whose init{} raised.
local gavel = require "gavel"
local nginx = require "support.nginx"
local sh = nginx.sh
local read = nginx.read
local capi = require("gavel.core").capi

-- curl(srv, path, extra curl args) -> status, body, headers text
-- (-m 3: a reply that never comes is status 0, not a hung spec)
local function curl(srv, path, args)
  local out = sh("curl -s -i -m 3 " .. (args or "") .. " '" .. srv:url(path)
                 .. "'")
  local head, body = out:match("^(.-\r\n)\r\n(.*)$")
  return tonumber(out:match("^HTTP/1%.1 (%d+)")) or 0, body or "", head or ""
end

local function junk_args(n)
  local t = {}
  for i = 1, n do t[i] = "j" .. i .. "=x" end
  return table.concat(t, "&")
end

local function junk_headers(n)
  local t = {}
  for i = 1, n do t[i] = "-H 'X-Junk-" .. i .. ": x'" end
  return table.concat(t, " ")
end

local GATE = [[{
  "config": { "name": "gate", "version": "1", "entry_step": "role" },
  "steps": {
    "role": { "id": "role", "name": "Role", "type": "decision",
      "branches": [
        { "condition": "coalesce(role, '') == 'admin'", "next_step": "allow" },
        { "condition": "coalesce(age, 0) >= 18", "next_step": "allow" } ],
      "default_next": "deny" },
    "allow": { "id": "allow", "name": "Allow", "type": "terminal",
      "result": { "code": "ALLOW", "message": "ok" } },
    "deny": { "id": "deny", "name": "Deny", "type": "terminal",
      "result": { "code": "DENY", "message": "not allowed" } } } }]]

-- denies with output.status = the input's 'st'
local DENY_ST = [[{
  "config": { "name": "deny_st", "version": "1", "entry_step": "t" },
  "steps": { "t": { "id": "t", "name": "T", "type": "terminal",
    "result": { "code": "DENY", "message": "no",
                "output": { "status": "st" } } } } }]]

local HTTP = [[
  lua_shared_dict gavel 1m;
  init_worker_by_lua_block {
    require("resty.gavel").init {
      rules_dir = ngx.config.prefix() .. "rules", shm = "gavel",
      reload = false,
    }
  }
]]

local SERVER = [[
    location = /gate {
      access_by_lua_block { require("resty.gavel").access {
        ruleset = "gate", input = { role = "header:x-role", age = "arg:age:int" } } }
      content_by_lua_block { ngx.say("through") }
    }
    location = /gate_wide {
      access_by_lua_block { require("resty.gavel").access {
        ruleset = "gate", max_args = 300, max_headers = 300,
        input = { role = "header:x-role", age = "arg:age:int" } } }
      content_by_lua_block { ngx.say("through") }
    }
    location = /fn_raise {
      access_by_lua_block { require("resty.gavel").access {
        ruleset = "gate", input = function() error("boom in the input fn") end } }
      content_by_lua_block { ngx.say("through") }
    }
    location = /fn_nil {
      access_by_lua_block { require("resty.gavel").access {
        ruleset = "gate", input = function() return nil end } }
      content_by_lua_block { ngx.say("through") }
    }
    location = /fn_num {
      access_by_lua_block { require("resty.gavel").access {
        ruleset = "gate", input = function() return 5 end } }
      content_by_lua_block { ngx.say("through") }
    }
    location = /fn_ok {
      access_by_lua_block { require("resty.gavel").access {
        ruleset = "gate", input = function(ngx)
          return { role = ngx.var.arg_role } end } }
      content_by_lua_block { ngx.say("through") }
    }
    location = /fn_text {
      access_by_lua_block { require("resty.gavel").access {
        ruleset = "gate", input = function() return '{"role": "admin"}' end } }
      content_by_lua_block { ngx.say("through") }
    }
    location = /deny {
      access_by_lua_block { require("resty.gavel").access {
        ruleset = "deny_st", input = { st = "arg:st" } } }
      content_by_lua_block { ngx.say("through") }
    }
    location = /deny_cfg {
      access_by_lua_block { require("resty.gavel").access {
        ruleset = "deny_st", input = { st = "arg:st" }, deny_status = 429 } }
      content_by_lua_block { ngx.say("through") }
    }
    location = /exec_gate {
      content_by_lua_block { require("resty.gavel").execute {
        name = "gate", input = { role = "header:x-role", age = "arg:age:int" } } }
    }
]]

local FILES = {
  ["rules/gate.json"] = GATE,
  ["rules/deny_st.json"] = DENY_ST,
}

describe("resty.gavel request mapping over the arg/header limit", function()
  local srv
  setup(function()
    srv = nginx.start { http = HTTP, server = SERVER, files = FILES }
  end)
  teardown(function() if srv then srv:stop() end end)

  it("decides on the whole request under the limit", function()
    assert.equal(200, (curl(srv, "/gate?age=20")))
    assert.equal(403, (curl(srv, "/gate?age=12")))
    assert.equal(200, (curl(srv, "/gate", "-H 'X-Role: admin'")))
  end)

  it("refuses a request with more than 100 query args (400, names the limit)",
     function()
    local status, body = curl(srv, "/gate?" .. junk_args(100) .. "&age=20")
    assert.equal(400, status, body)
    local v = assert(gavel.json.decode(body), body)
    assert.equal("GAVEL_LIMIT", v.code)
    assert.matches("more than 100 query arguments", v.error, 1, true)
    assert.matches("max_args", v.error, 1, true)
    assert.is_string(v.request_id)
    -- the same through execute{ input = mapping }
    status, body = curl(srv, "/exec_gate?" .. junk_args(100) .. "&age=20")
    assert.equal(400, status, body)
    assert.matches('"code":"GAVEL_LIMIT"', body, 1, true)
  end)

  it("refuses a request with more than 100 headers (a header can not be "
     .. "hidden)", function()
    local status, body = curl(srv, "/gate", junk_headers(100)
                              .. " -H 'X-Role: admin'")
    assert.equal(400, status, body)
    local v = assert(gavel.json.decode(body), body)
    assert.equal("GAVEL_LIMIT", v.code)
    assert.matches("more than 100 request headers", v.error, 1, true)
    assert.matches("max_headers", v.error, 1, true)
  end)

  it("takes max_args / max_headers from the handler's options", function()
    assert.equal(200, (curl(srv, "/gate_wide?" .. junk_args(150)
                                 .. "&age=20")))
    assert.equal(200, (curl(srv, "/gate_wide", junk_headers(150)
                                 .. " -H 'X-Role: admin'")))
    assert.equal(403, (curl(srv, "/gate_wide", junk_headers(150)
                                 .. " -H 'X-Role: user'")))
  end)
end)

-- a JSON error body { error, code, request_id } with its status
local function json_error(status, body, head, want_status, want_code)
  assert.equal(want_status, status, body)
  assert.matches("Content-Type: application/json", head, 1, true)
  local v = assert(gavel.json.decode(body), body)
  assert.equal(want_code, v.code, body)
  assert.is_string(v.request_id)
  assert.is_nil(body:find("traceback", 1, true), body)
  return v
end

describe("resty.gavel.access with an input function", function()
  local srv
  setup(function()
    srv = nginx.start { http = HTTP, server = SERVER, files = FILES }
  end)
  teardown(function() if srv then srv:stop() end end)

  it("decides on the table or JSON text it returns", function()
    assert.equal(200, (curl(srv, "/fn_ok?role=admin")))
    assert.equal(403, (curl(srv, "/fn_ok?role=user")))
    assert.equal(200, (curl(srv, "/fn_text")))
  end)

  it("answers a raising function with the JSON 400 of execute(), the "
     .. "reason logged once", function()
    local mark = srv:log_mark()
    local status, body, head = curl(srv, "/fn_raise")
    local v = json_error(status, body, head, 400, "GAVEL_JSON")
    assert.is_nil(body:find("boom", 1, true), body)
    local log = srv:log(mark)
    local _, n = log:gsub("boom in the input fn", "")
    assert.equal(1, n, log)
    assert.truthy(log:find("request " .. v.request_id, 1, true), log)
  end)

  it("never decides on null input: nil is a 400", function()
    local status, body, head = curl(srv, "/fn_nil")
    json_error(status, body, head, 400, "GAVEL_JSON")
  end)

  it("answers a result that is neither a table nor JSON text with a JSON "
     .. "500", function()
    local mark = srv:log_mark()
    local status, body, head = curl(srv, "/fn_num")
    json_error(status, body, head, 500, "GAVEL_MISUSE")
    assert.truthy(srv:log(mark):find("returned a number", 1, true))
  end)
end)

describe("resty.gavel.access deny status", function()
  local srv
  setup(function()
    srv = nginx.start { http = HTTP, server = SERVER, files = FILES }
  end)
  teardown(function() if srv then srv:stop() end end)

  it("answers a rule's status from 400 to 599", function()
    for _, st in ipairs { 400, 401, 451, 503, 599 } do
      local status, body = curl(srv, "/deny?st=" .. st)
      assert.equal(st, status, body)
      assert.matches('"code":"DENY"', body, 1, true)
    end
  end)

  it("answers 403 (and logs) for any other status of a rule", function()
    for _, st in ipairs { "0", "101", "199", "200", "302", "1000", "-1",
                          "403.5", "abc", "600" } do
      local mark = srv:log_mark()
      local status, body = curl(srv, "/deny?st=" .. st)
      assert.equal(403, status, st .. ": " .. body)
      assert.matches('"code":"DENY"', body, 1, true)
      assert.truthy(srv:log(mark):find("output.status " .. st, 1, true),
                    st)
    end
  end)

  it("falls back to deny_status when it is a valid one", function()
    assert.equal(429, (curl(srv, "/deny_cfg?st=0")))
    assert.equal(418, (curl(srv, "/deny_cfg?st=418")))
  end)
end)

local function score_rules(version)
  return ([[{"config": {"name": "score", "version": "%s", "entry_step": "t"},
 "steps": {"t": {"id": "t", "name": "T", "type": "terminal",
   "result": {"code": "OK", "message": "v%s"}}}}]]):format(version, version)
end

describe("POST /admin/reload with 2 workers and no reload interval", function()
  local srv
  setup(function()
    srv = nginx.start {
      workers = 2,
      http = [[
  lua_shared_dict gavel 1m;
  init_worker_by_lua_block {
    require("resty.gavel").init {
      rules_dir = ngx.config.prefix() .. "rules", shm = "gavel",
    }
  }
]],
      server = [[
    location ~ ^/api/v1/execute/[^/]+$ {
      content_by_lua_block { require("resty.gavel").execute() }
      header_filter_by_lua_block { ngx.header["X-Worker"] = ngx.worker.id() }
    }
    location = /admin/reload {
      content_by_lua_block { require("resty.gavel").admin_reload() }
    }
]],
      files = { ["rules/score.json"] = score_rules("1") },
    }
  end)
  teardown(function() if srv then srv:stop() end end)

  -- n concurrent requests (a connection each, so both workers take some)
  -- -> { [version] = count }, { [worker id] = count }
  local function round(n)
    local dir = srv.prefix .. "tmp/round"
    os.execute("rm -rf '" .. dir .. "' && mkdir -p '" .. dir .. "'")
    local cmd = {}
    for i = 1, n do
      cmd[i] = "curl -s -i -m 5 -X POST -d '{\"input\": {}}' '"
               .. srv:url("/api/v1/execute/score") .. "' > '" .. dir .. "/"
               .. i .. "' &"
    end
    os.execute(table.concat(cmd, " ") .. " wait")
    local versions, workers = {}, {}
    for i = 1, n do
      local out = read(dir .. "/" .. i) or ""
      local v = out:match('"message":"(v%d+)"') or ("bad: " .. out)
      local w = out:match("X%-Worker: (%d+)") or "?"
      versions[v] = (versions[v] or 0) + 1
      workers[w] = (workers[w] or 0) + 1
    end
    return versions, workers
  end

  -- rounds until both workers have answered (at most 10)
  local function both(n)
    local versions, workers = {}, {}
    for _ = 1, 10 do
      local v, w = round(n)
      for k, c in pairs(v) do versions[k] = (versions[k] or 0) + c end
      for k, c in pairs(w) do workers[k] = (workers[k] or 0) + c end
      if workers["0"] and workers["1"] then return versions end
    end
    error("one worker answered every request: " .. gavel.json.encode(workers))
  end

  it("every worker answers the new version right after the reload",
     function()
    assert.same({ v1 = 20 }, both(20))
    local f = assert(io.open(srv.prefix .. "rules/score.json.tmp", "wb"))
    f:write(score_rules("2"))
    f:close()
    assert(os.rename(srv.prefix .. "rules/score.json.tmp",
                     srv.prefix .. "rules/score.json"))
    local status, body = srv:request("POST", "/admin/reload")
    assert.equal(200, status, body)
    local versions = both(20)
    local total = 0
    for _, c in pairs(versions) do total = total + c end
    assert.same({ v2 = total }, versions)
  end)
end)

describe("audit_open() in init_by_lua without init{}'s audit option",
         function()
  local srv
  setup(function()
    srv = nginx.start {
      http = [[
  lua_shared_dict gavel 1m;
  init_by_lua_block { require("resty.gavel").audit_open("logs/audit.jsonl") }
  init_worker_by_lua_block {
    require("resty.gavel").init {
      rules_dir = ngx.config.prefix() .. "rules", shm = "gavel",
      reload = false,
    }
  }
]],
      server = [[
    location ~ ^/api/v1/execute/[^/]+$ {
      content_by_lua_block { require("resty.gavel").execute() }
    }
    location = /metrics {
      content_by_lua_block { require("resty.gavel").metrics() }
    }
    # n audit lines at once, more than the buffer's 10,000 holds
    location = /flood {
      content_by_lua_block {
        local audit = require "resty.gavel.audit"
        for i = 1, tonumber(ngx.var.arg_n) do
          audit.line("flood", "1", "{}", "OK", 1, nil, nil, 0)
        end
        ngx.say("ok")
      }
    }
]],
      files = { ["rules/score.json"] = score_rules("1") },
    }
  end)
  teardown(function() if srv then srv:stop() end end)

  -- polls 'test' every 20 ms for up to 3 s -> its first truthy result
  local function within_3s(test)
    for _ = 1, 150 do
      local v = test()
      if v then return v end
      capi.sleep_ms(20)
    end
    return nil
  end

  it("writes the lines of the runs", function()
    for _ = 1, 3 do
      local status, body = srv:request("POST", "/api/v1/execute/score",
                                       '{"input": {"a": 1}}')
      assert.equal(200, status, body)
    end
    local text = within_3s(function()
      local t = read(srv.prefix .. "logs/audit.jsonl") or ""
      local _, lines = t:gsub("\n", "")
      return lines >= 3 and t
    end)
    assert.truthy(text, "no audit lines written")
    local _, n = text:gsub('"event":"rule_executed"', "")
    assert.equal(3, n, text)
    assert.matches('"ruleset":"score"', text, 1, true)
  end)

  it("writes to the new file after a logrotate moved the old one away",
     function()
    -- lines went on to the moved file for good (opened once)
    local file = srv.prefix .. "logs/audit.jsonl"
    assert.equal(200, (srv:request("POST", "/api/v1/execute/score",
                                   '{"input": {"a": 1}}')))
    assert.truthy(within_3s(function()
      return (read(file) or ""):find('"ruleset":"score"', 1, true)
    end))
    capi.sleep_ms(300) -- the flush after that line
    assert.truthy(os.rename(file, file .. ".1"))
    local moved = read(file .. ".1")
    for _ = 1, 2 do
      assert.equal(200, (srv:request("POST", "/api/v1/execute/score",
                                     '{"input": {"a": 2}}')))
    end
    local text = within_3s(function()
      local t = read(file) or ""
      local _, lines = t:gsub("\n", "")
      return lines >= 2 and t
    end)
    assert.truthy(text, "no lines in the new file")
    local _, n = text:gsub('"event":"rule_executed"', "")
    assert.equal(2, n, text)
    assert.equal(moved, read(file .. ".1"))
  end)

  it("counts and logs the lines a full buffer drops", function()
    local mark = srv:log_mark()
    local before = #(read(srv.prefix .. "logs/audit.jsonl") or "")
    assert.equal(200, (srv:request("GET", "/flood?n=10005")))
    assert.truthy(within_3s(function()
      return srv:log(mark):find("5 line(s) dropped (buffer of 10000 full)",
                                1, true)
    end), "the drops were not logged")
    -- the 10,000 that fitted were written
    assert.truthy(within_3s(function()
      local t = (read(srv.prefix .. "logs/audit.jsonl") or ""):sub(before + 1)
      local _, lines = t:gsub("\n", "")
      return lines == 10000
    end))
    assert.truthy(within_3s(function()
      local _, body = srv:request("GET", "/metrics")
      return body:find("gavel_audit_dropped_total 5", 1, true)
    end), "gavel_audit_dropped_total is not 5")
  end)
end)

describe("audit_open() with serve() and no init{} at all", function()
  it("writes the lines (the worker's first line starts the timer)",
     function()
    local srv = nginx.start {
      http = [[
  init_by_lua_block { require("resty.gavel").audit_open("logs/audit.jsonl") }
  init_worker_by_lua_block {
    assert(require("resty.gavel").load { text = ]] .. "[=["
        .. score_rules("7") .. "]=]" .. [[ })
  }
]],
      server = [[
    location = /score {
      content_by_lua_block { require("resty.gavel").serve("score") }
    }
]],
    }
    local ok, err = pcall(function()
      local status, body = srv:request("POST", "/score", '{"a": 1}')
      assert.equal(200, status, body)
      local text
      for _ = 1, 150 do
        text = read(srv.prefix .. "logs/audit.jsonl") or ""
        if text:find("\n") then break end
        capi.sleep_ms(20)
      end
      assert.matches('"ruleset":"score","version":"7"', text, 1, true)
    end)
    srv:stop()
    assert(ok, err)
  end)
end)

describe("/health of a worker whose init{} raised", function()
  local function health_of(init_opts)
    local srv = nginx.start {
      http = [[
  lua_shared_dict gavel 1m;
  init_worker_by_lua_block {
    require("resty.gavel").init { rules_dir = ngx.config.prefix() .. "rules",
      ]] .. init_opts .. [[ }
  }
]],
      server = [[
    location = /health {
      content_by_lua_block { require("resty.gavel").health() }
    }
]],
      files = { ["rules/score.json"] = score_rules("1") },
    }
    local status, body, head = curl(srv, "/health")
    srv:stop()
    return status, body, head
  end

  it("answers 200 ok after init{} finished", function()
    local status, body = health_of('shm = "gavel", reload = false')
    assert.equal(200, status, body)
    assert.matches('"status":"ok"', body, 1, true)
  end)

  it("answers 503 with the reason: a bad option", function()
    local status, body, head = health_of('shm = "nosuch", reload = false')
    assert.equal(503, status, body)
    assert.matches("Content-Type: application/json", head, 1, true)
    local v = assert(gavel.json.decode(body), body)
    assert.equal("error", v.status)
    assert.matches("no lua_shared_dict 'nosuch'", v.error, 1, true)
  end)

  it("answers 503 with the reason: an audit file that cannot be opened "
     .. "(after the rest was set up)", function()
    local status, body = health_of('shm = "gavel", reload = false, '
      .. 'audit = "/nonexistent-gavel-dir/audit.jsonl"')
    assert.equal(503, status, body)
    local v = assert(gavel.json.decode(body), body)
    assert.equal("error", v.status)
    assert.matches("cannot open audit file", v.error, 1, true)
  end)
end)

describe("a ruleset loaded in init_by_lua, served with capture on", function()
  it("captures its records with its hash, answers X-Gavel-Ruleset-Hash",
     function()
    -- capture starts in init_worker: the hash was "" (replay --verify
    -- could not match the records) and the header empty
    local srv = nginx.start {
      http = [[
  lua_shared_dict gavel 1m;
  init_by_lua_block {
    assert(require("resty.gavel").load { path = "{{repo}}/examples/score.json" })
  }
  init_worker_by_lua_block {
    require("resty.gavel").init {
      rules_dir = ngx.config.prefix() .. "rules", shm = "gavel", reload = false,
      capture = { file = "logs/capture.jsonl", interval = 0.05 },
    }
  }
]],
      server = [[
    location = /score {
      content_by_lua_block { require("resty.gavel").serve("score") }
    }
]],
      files = { ["rules/.keep"] = "" },
    }
    finally(function() srv:stop() end)
    local status, body, head = curl(srv, "/score",
                                    "-X POST -d '{\"score\": 75}'")
    assert.equal(200, status, body)
    local md5 = sh("md5sum examples/score.json"):match("^(%x+)")
    assert.matches("X-Gavel-Ruleset-Hash: " .. md5:sub(1, 12), head, 1, true)
    local sha = sh("sha256sum examples/score.json"):match("^(%x+)")
    local text
    for _ = 1, 150 do
      text = read(srv.prefix .. "logs/capture.jsonl")
      if text and text:find("\n") then break end
      capi.sleep_ms(20)
    end
    assert.truthy(text and text:find("\n"), "no capture record")
    local rec = assert(gavel.json.decode(text:match("^[^\n]+")))
    assert.equal("sha256:" .. sha, rec.hash)
  end)
end)

describe("audit lines a failed write loses", function()
  it("are counted in gavel_audit_dropped_total and logged", function()
    if not io.open("/dev/full", "w") then return pending("no /dev/full") end
    local srv = nginx.start {
      http = [[
  lua_shared_dict gavel 1m;
  init_by_lua_block { require("resty.gavel").audit_open("/dev/full") }
  init_worker_by_lua_block {
    require("resty.gavel").init {
      rules_dir = ngx.config.prefix() .. "rules", shm = "gavel", reload = false,
    }
  }
]],
      server = [[
    location ~ ^/api/v1/execute/[^/]+$ {
      content_by_lua_block { require("resty.gavel").execute() }
    }
    location = /metrics {
      content_by_lua_block { require("resty.gavel").metrics() }
    }
]],
      files = { ["rules/score.json"] = score_rules("1") },
    }
    finally(function() srv:stop() end)
    for _ = 1, 3 do
      assert.equal(200, (srv:request("POST", "/api/v1/execute/score",
                                     '{"input": {"a": 1}}')))
    end
    local body
    for _ = 1, 150 do
      _, body = srv:request("GET", "/metrics")
      if body:find("gavel_audit_dropped_total 3", 1, true) then break end
      capi.sleep_ms(20)
    end
    assert.matches("gavel_audit_dropped_total 3", body, 1, true)
    assert.matches("line%(s%) lost: No space left on device", srv:log())
  end)
end)
