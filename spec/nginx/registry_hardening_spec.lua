-- spec/nginx/registry_hardening_spec.lua -- the rules directory's edge
-- cases, in a real nginx on loopback (reload timer off: every scan is a
-- POST /admin/reload): a renamed rules file keeps its ruleset served; a
-- deploy that adds a new file name and removes the old one, in one scan or
-- two; a file that renames its ruleset hands the old name to a file that
-- waited for it; two files that really claim one name keep the first one,
-- logged once; unreadable entries (a directory, a dangling symlink, a
-- FIFO) are logged once with the reason and listed by failures().
local gavel = require "gavel"
local nginx = require "support.nginx"
local sh = nginx.sh
local write = nginx.write_atomic

-- This suite's servers listen on 47200-47224 (helpers run in parallel on
-- this machine); a port somebody holds is skipped.
do
  local ffi, bit = require "ffi", require "bit"
  local C = ffi.C   -- socket/bind/close/gavel_spec_sin: support.nginx
  nginx.free_ports = function(n)
    local out = {}
    for port = 47200, 47224 do
      if #out == n then break end
      local fd = C.socket(2, 1, 0)
      local sin = ffi.new("struct gavel_spec_sin")
      sin.family = 2
      sin.addr = ffi.abi("le") and 0x0100007f or 0x7f000001
      sin.port = ffi.abi("be") and port or
        bit.bor(bit.lshift(bit.band(port, 0xff), 8), bit.rshift(port, 8))
      if C.bind(fd, sin, ffi.sizeof(sin)) == 0 then out[#out + 1] = port end
      C.close(fd)
    end
    assert(#out == n, "no free port in 47200-47224")
    return out
  end
end

local function rules(name, version)
  return ([[{"config": {"name": "%s", "version": "%s", "entry_step": "t"},
 "steps": {"t": {"id": "t", "name": "T", "type": "terminal",
   "result": {"code": "OK", "message": "v%s"}}}}]]):format(name, version,
                                                          version)
end

local HTTP = [[
  init_worker_by_lua_block {
    require("resty.gavel").init {
      rules_dir = ngx.config.prefix() .. "rules", reload = false,
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
]]

local function count(s, plain)
  local n, i = 0, 1
  while true do
    local j = s:find(plain, i, true)
    if not j then return n end
    n, i = n + 1, j + #plain
  end
end

describe("rules directory hardening", function()
  local srv, dir

  local function start(files)
    srv = nginx.start { http = HTTP, server = SERVER, files = files }
    dir = srv.prefix .. "rules/"
  end
  after_each(function()
    if srv then srv:stop() end
    srv = nil
  end)

  local function reload()
    local status, body = srv:request("POST", "/admin/reload")
    assert.equal(200, status, body)
    return gavel.json.decode(body)
  end

  -- status, "name@version" served, message
  local function run(name)
    local out = sh("curl -s -i -m 10 -X POST -d '{\"input\": {}}' "
                   .. srv:url("/api/v1/execute/" .. name))
    return tonumber(out:match("^HTTP/1%.1 (%d+)")),
           out:match("X%-Gavel%-Ruleset: ([^\r]+)"),
           out:match('"message":"([^"]*)"')
  end

  local function failures() -- /health's "failing" list
    local status, body = srv:request("GET", "/health")
    assert.equal(200, status, body)
    local out = {}
    for _, f in ipairs(gavel.json.decode(body).failing) do
      out[f.file:match("[^/]+$")] = f.reason
    end
    return out
  end

  it("serves a renamed file's ruleset from the new name, at once and on "
     .. "every later scan", function()
    start { ["rules/score.json"] = rules("score", "1") }
    assert.equal(200, (run("score")))
    local mark = srv:log_mark()
    assert(os.rename(dir .. "score.json", dir .. "score-v2.json"))
    assert.equal(2, reload().changed)   -- unloaded, then loaded
    for _ = 1, 3 do
      local status, tag = run("score")
      assert.equal(200, status)
      assert.equal("score@1", tag)
      assert.equal(0, reload().changed)
    end
    local log = srv:log(mark)
    assert.falsy(log:find("already served", 1, true), log)
    assert.truthy(log:find("score.json removed; ruleset 'score' unloaded",
                           1, true), log)
    assert.same({}, failures())
  end)

  it("serves the new file of a deploy that adds it and removes the old "
     .. "one, in one scan or in two", function()
    start { ["rules/score.json"] = rules("score", "1") }
    -- one scan sees both changes
    write(dir .. "score-2.json", rules("score", "2"))
    os.remove(dir .. "score.json")
    reload()
    assert.equal("score@2", select(2, run("score")))
    -- two scans: the new file first waits for the name (logged once),
    -- then takes it over when the old file is removed
    local mark = srv:log_mark()
    write(dir .. "score-3.json", rules("score", "3"))
    assert.equal(0, reload().changed)
    assert.equal(0, reload().changed)
    assert.equal("score@2", select(2, run("score")))
    assert.matches("score%-3%.json: ruleset 'score' is already served "
                   .. "from .*score%-2%.json; not loaded", srv:log(mark))
    assert.equal(1, count(srv:log(mark), "already served"))
    assert.matches("^ruleset 'score' is already served from .*score%-2",
                   failures()["score-3.json"])
    os.remove(dir .. "score-2.json")
    assert.equal(2, reload().changed)   -- unloaded, then loaded
    local status, tag, msg = run("score")
    assert.equal(200, status)
    assert.equal("score@3", tag)
    assert.equal("v3", msg)
    assert.same({}, failures())
  end)

  it("hands a name to the file that waited for it when its owner renames "
     .. "its ruleset (one scan)", function()
    start { ["rules/a.json"] = rules("shared", "a"),
            ["rules/m.json"] = rules("shared", "m") }
    -- a.json sorts first: it serves 'shared', m.json waits
    assert.equal("shared@a", select(2, run("shared")))
    write(dir .. "a.json", rules("other", "a2"))
    reload()
    assert.equal("other@a2", select(2, run("other")))
    assert.equal("shared@m", select(2, run("shared")))
    assert.same({}, failures())
  end)

  it("keeps the first of two files claiming one name, logged once, and "
     .. "serves the second when the first is removed", function()
    local log0
    start { ["rules/dup-a.json"] = rules("dup", "a"),
            ["rules/dup-b.json"] = rules("dup", "b") }
    for _ = 1, 4 do
      assert.equal(0, reload().changed)
      assert.equal("dup@a", select(2, run("dup")))
    end
    log0 = srv:log()
    assert.equal(1, count(log0, "dup-b.json: ruleset 'dup' is already "
                                .. "served from "))
    -- a new content of the waiting file: reported again, once
    write(dir .. "dup-b.json", rules("dup", "b2"))
    reload()
    reload()
    assert.equal("dup@a", select(2, run("dup")))
    assert.equal(2, count(srv:log(), "already served"))
    os.remove(dir .. "dup-a.json")
    reload()
    assert.equal("dup@b2", select(2, run("dup")))
  end)

  it("logs an unreadable entry once with the reason and lists it in "
     .. "failures()", function()
    start { ["rules/score.json"] = rules("score", "1") }
    local mark = srv:log_mark()
    assert(os.execute("mkdir " .. dir .. "adir.json"))
    assert(os.execute("ln -s " .. dir .. "missing-target " .. dir
                      .. "gone.json"))
    assert(os.execute("ln -s " .. dir .. "adir.json " .. dir
                      .. "linkdir.json"))
    for _ = 1, 3 do assert.equal(0, reload().changed) end
    local log = srv:log(mark)
    assert.equal(1, count(log, "adir.json: cannot read: not a regular file "
                               .. "(a directory); nothing served from it"))
    assert.equal(1, count(log, "gone.json: cannot read: No such file or "
                               .. "directory; nothing served from it"))
    assert.equal(1, count(log, "linkdir.json: cannot read: Is a directory"))
    assert.matches("%[error%]", log)
    local f = failures()
    assert.equal("cannot read: not a regular file (a directory)",
                 f["adir.json"])
    assert.equal("cannot read: No such file or directory", f["gone.json"])
    assert.equal("cannot read: Is a directory", f["linkdir.json"])
    -- a served file that becomes unreadable keeps serving, logged once
    mark = srv:log_mark()
    os.remove(dir .. "score.json")
    assert(os.execute("ln -s " .. dir .. "nowhere " .. dir .. "score.json"))
    reload()
    reload()
    assert.equal("score@1", select(2, run("score")))
    assert.equal(1, count(srv:log(mark), "score.json: cannot read: No such "
                  .. "file or directory; the previous version keeps serving"))
    -- readable again (a new content): served, no longer a failure
    os.remove(dir .. "score.json")
    write(dir .. "score.json", rules("score", "2"))
    reload()
    assert.equal("score@2", select(2, run("score")))
    assert.is_nil(failures()["score.json"])
    -- gone: no longer listed
    os.remove(dir .. "gone.json")
    reload()
    assert.is_nil(failures()["gone.json"])
  end)

  it("refuses a FIFO without opening it (the worker never blocks)",
     function()
    start { ["rules/score.json"] = rules("score", "1") }
    assert(os.execute("mkfifo " .. dir .. "pipe.json"))
    -- (opened for reading, a FIFO blocks until a writer comes: this
    -- request would time out; give it a writer then, so nginx can stop)
    finally(function()
      os.execute("timeout 1 sh -c 'printf x > " .. dir .. "pipe.json' "
                 .. "2>/dev/null")
    end)
    local status, body = srv:request("POST", "/admin/reload")
    assert.equal(200, status, body)
    assert.equal("score@1", select(2, run("score")))
    assert.matches("pipe%.json: cannot read: not a regular file %(a FIFO%)",
                   srv:log())
  end)
end)
