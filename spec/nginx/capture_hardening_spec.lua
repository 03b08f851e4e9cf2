-- spec/nginx/capture_hardening_spec.lua -- decision capture with
-- redaction never writes a redacted value in clear, in a real nginx on
-- loopback: a malformed input (the run fails with 400) is captured with
-- "input": null and "input_redaction": "failed: ..."; an input close to
-- max_input_bytes, whose redacted text is larger than the limit, is
-- written redacted (the capture is a log, not an engine input); 'gavel
-- replay' reads such a capture and reports every record.
local gavel = require "gavel"
local nginx = require "support.nginx"
local read = nginx.read
local sh = nginx.sh
local capi = require("gavel.core").capi

local GAVEL = nginx.build .. "/gavel"

-- This suite's servers listen on 47225-47249 (helpers run in parallel on
-- this machine); a port somebody holds is skipped.
do
  local ffi, bit = require "ffi", require "bit"
  local C = ffi.C   -- socket/bind/close/gavel_spec_sin: support.nginx
  nginx.free_ports = function(n)
    local out = {}
    for port = 47225, 47249 do
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
    assert(#out == n, "no free port in 47225-47249")
    return out
  end
end

local PASS = [=[{"config": {"name": "pass", "version": "1",
  "entry_step": "t"}, "steps": {"t": {"id": "t", "name": "T",
  "type": "terminal", "result": {"code": "P", "message": "m",
  "output": [["n", "1"]]}}}}]=]

-- max_input_bytes 4096 (set before anything loads), capture with
-- redaction; a 60 s flush interval: the records come out on quit
local HTTP = [[
  init_worker_by_lua_block {
    assert(require("gavel").configure { max_input_bytes = 4096 })
    require("resty.gavel").init {
      rules_dir = ngx.config.prefix() .. "rules", reload = false,
      capture = { file = "logs/capture.jsonl", interval = 60,
                  redact = { "who.ssn", "list.ssn" }, salt = "pepper" },
    }
  }
]]

local SERVER = [[
    location ~ ^/api/v1/execute/[^/]+$ {
      content_by_lua_block { require("resty.gavel").execute() }
    }
]]

-- stops nginx with QUIT (the queued records are flushed on exit) ->
-- the capture file's text and the error log
local function quit(srv)
  local prefix = srv.prefix
  local pid = read(prefix .. "logs/nginx.pid"):match("%d+")
  os.execute("kill -QUIT " .. pid)
  local t0 = gavel.now_ms()
  while read(prefix .. "logs/nginx.pid") and gavel.now_ms() - t0 < 5000 do
    capi.sleep_ms(5)
  end
  return read(prefix .. "logs/capture.jsonl") or "",
         read(prefix .. "logs/error.log") or ""
end

local function hash(v)
  return "sha256:" .. sh("printf '%s' 'pepper\"" .. v .. "\"' | sha256sum")
                      :match("^(%x+)")
end

describe("decision capture with redaction", function()
  local srv
  before_each(function()
    -- 2 workers: a master process, which flushes the records on quit
    srv = nginx.start { http = HTTP, server = SERVER, workers = 2,
                        files = { ["rules/pass.json"] = PASS } }
  end)
  after_each(function() srv:stop() end)

  it("never writes the raw text of an input it cannot redact (malformed "
     .. "JSON)", function()
    local status = srv:request("POST", "/api/v1/execute/pass",
      '{"input": {"who": {"ssn": "123-45-6789", "name": "n"},}}')
    assert.equal(400, status)
    assert.equal(200, (srv:request("POST", "/api/v1/execute/pass",
      '{"input": {"who": {"ssn": "987-65-4321"}}}')))
    local text, log = quit(srv)
    assert.falsy(text:find("123-45-6789", 1, true), text)
    assert.falsy(text:find("987-65-4321", 1, true), text)
    local recs = {}
    for l in text:gmatch("[^\n]+") do recs[#recs + 1] = assert(
      gavel.json.decode(l), l) end
    assert.equal(2, #recs)
    -- (2 workers: the lines' order is not the requests')
    local bad, good = recs[1], recs[2]
    if bad.status == "GAVEL_OK" then bad, good = good, bad end
    assert.equal(gavel.null, bad.input)
    assert.matches("^failed: the input is not JSON: invalid JSON at byte "
                   .. "%d+", bad.input_redaction)
    assert.equal("GAVEL_JSON", bad.status)
    assert.equal("pass", bad.ruleset)
    assert.equal(hash("987-65-4321"), good.input.who.ssn)
    assert.is_nil(good.input_redaction)
    assert.matches("capture: 1 record%(s%) written without their input",
                   log)
    -- 'gavel replay' reads the capture and reports both records (the
    -- one without its input as malformed: "input withheld", never a flip)
    local cap = srv.prefix .. "rules/../cap.jsonl"
    local f = assert(io.open(cap, "wb"))
    f:write(text)
    f:close()
    local out = sh(GAVEL .. " replay " .. cap .. " --rules " .. srv.prefix
                   .. "rules 2>&1; echo rc=$?")
    assert.matches("2 records: consistent 1, .*malformed 1", out)
    assert.matches("line %d %(trace %d+%): pass malformed: input withheld: "
                   .. "redaction failed: the input is not JSON", out)
    assert.equal("0", out:match("rc=(%d+)"), out)
  end)

  it("writes an input close to max_input_bytes redacted, not in clear",
     function()
    -- 180 x 21 bytes: under the 4096-byte limit; redacted, some 14 KB
    local items = {}
    for i = 1, 180 do
      items[i] = ('{"ssn":"123-45-%04d"}'):format(i)
    end
    local input = '{"list":[' .. table.concat(items, ",") .. ']}'
    assert.is_true(#input > 3800 and #input < 4096, tostring(#input))
    assert.equal(200, (srv:request("POST", "/api/v1/execute/pass",
                                   '{"input":' .. input .. '}')))
    local text, log = quit(srv)
    assert.falsy(text:find("123-45-", 1, true))
    local r = assert(gavel.json.decode(text:match("[^\n]+")))
    assert.equal(180, #r.input.list)
    assert.equal(hash("123-45-0001"), r.input.list[1].ssn)
    assert.equal(hash("123-45-0180"), r.input.list[180].ssn)
    assert.is_true(#text > 4096 * 3, tostring(#text))
    assert.is_nil(r.input_redaction)
    assert.falsy(log:find("without their input", 1, true), log)
  end)
end)
