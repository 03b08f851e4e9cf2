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
local capi = require("gavel.core").capi

local function sh(cmd)
  local p = assert(io.popen(cmd, "r"))
  local s = p:read("*a")
  p:close()
  return s
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

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
