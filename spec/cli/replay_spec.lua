-- replay_spec.lua -- changing rules safely, as users do it: 'gavel test'
-- over the bundled examples and its reporters, decision capture from
-- 'gavel run/batch --capture' (receipts, redaction, sampling, rotation),
-- and 'gavel replay' (flips of an edited ruleset, offline replays of
-- network.http decisions with the server stopped, --verify, truncated
-- capture files).  Real gavel processes, real files.

local build = os.getenv("GAVEL_BUILD_DIR") or "build"
local GAVEL = build .. "/gavel"
local SERVER = build .. "/providers/gv_testserver"

local function sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- run(args) -> stdout, stderr, exit code
local function run(args)
  local parts = { GAVEL }
  for _, a in ipairs(args) do parts[#parts + 1] = sh_quote(a) end
  local errf = os.tmpname()
  local p = assert(io.popen(table.concat(parts, " ") .. " 2>" .. errf ..
                            "; echo \"::rc=$?\"", "r"))
  local out = p:read("*a"); p:close()
  local rc = tonumber(out:match("::rc=(%d+)%s*$"))
  out = out:gsub("::rc=%d+%s*$", "")
  local f = io.open(errf); local err = f:read("*a"); f:close(); os.remove(errf)
  return out, err, rc
end

local function tmpdir()
  local p = io.popen("mktemp -d /tmp/gv_replay_XXXXXX"); local d = p:read("*l"); p:close()
  return d
end

local function write(path, content)
  local f = assert(io.open(path, "w")); f:write(content); f:close()
end

local function read(path)
  local f = io.open(path); if not f then return nil end
  local s = f:read("*a"); f:close(); return s
end

local function lines(s)
  local t = {}
  for l in s:gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

local cjson = require("cjson")

-- A strict little XML well-formedness parser: elements balance, attribute
-- values are quoted, entities are the five predefined ones.  Returns the
-- list of elements {name=, attrs=} or raises.
local function parse_xml(s)
  local pos, stack, elems = 1, {}, {}
  local function ents(v)
    for e in v:gmatch("&([^;]*);") do
      assert(e == "amp" or e == "lt" or e == "gt" or e == "quot" or e == "apos",
             "bad entity &" .. e .. ";")
    end
    assert(not v:gsub("&%a+;", ""):find("[&<]"), "raw & or < in " .. v)
    return v
  end
  s = s:gsub("^<%?xml[^>]*%?>%s*", "")
  while pos <= #s do
    local lt = s:find("<", pos, true)
    if not lt then ents(s:sub(pos)); break end
    ents(s:sub(pos, lt - 1))
    local gt = assert(s:find(">", lt, true), "unclosed tag")
    local tag = s:sub(lt + 1, gt - 1)
    if tag:sub(1, 1) == "/" then
      local name = tag:sub(2)
      assert(table.remove(stack) == name, "mismatched </" .. name .. ">")
    else
      local selfclose = tag:sub(-1) == "/"
      if selfclose then tag = tag:sub(1, -2) end
      local name, rest = tag:match("^([%w_:%-]+)(.*)$")
      assert(name, "bad tag <" .. tag .. ">")
      local attrs = {}
      rest = rest:gsub('%s+([%w_:%-]+)="([^"]*)"', function(k, v)
        attrs[k] = ents(v); return ""
      end)
      assert(rest:match("^%s*$"), "bad attributes in <" .. tag .. ">")
      elems[#elems + 1] = { name = name, attrs = attrs }
      if not selfclose then stack[#stack + 1] = name end
    end
    pos = gt + 1
  end
  assert(#stack == 0, "unclosed <" .. tostring(stack[#stack]) .. ">")
  return elems
end

describe("gavel test", function()
  it("passes every suite of the bundled examples (project mode)", function()
    local out, err, rc = run({ "test", "--rules", "examples", "--tests", "examples/tests" })
    assert.equal(0, rc, out .. err)
    local pass, fail = out:match("(%d+) passed, (%d+) failed")
    assert.equal("0", fail)
    assert.truthy(tonumber(pass) >= 20, out)
  end)

  it("runs one ruleset against suite files, YAML and JSON", function()
    local out, _, rc = run({ "test", "examples/score.json", "examples/tests/score.yaml" })
    assert.equal(0, rc); assert.equal("4 passed, 0 failed, 0 skipped (4 tests)\n", out)
    out, _, rc = run({ "test", "examples/loan.json", "examples/tests/loan.json" })
    assert.equal(0, rc, out)
  end)

  local d = tmpdir()
  local suite = d .. "/bad.yaml"
  write(suite, [[
description: failures of every kind
tests:
  - name: right
    input: {score: 95}
    expect: {code: HIGH, trace: {contains_step: high, step_count: 2}}
  - name: wrong code
    input: {score: 95}
    expect: {code: MID}
  - name: wrong nested output
    input: {score: 95}
    expect: {output: {a: [1, 2]}}
  - name: skipped <one>
    skip: not yet
  - name: unexpected error & more
    input: {score: "x"}
    expect: {code: HIGH}
  - name: expected error
    input: {score: "x"}
    expect: {error_contains: Cannot compare}
  - name: gas
    input: {score: 95}
    gas_max: 1
]])

  it("prints one line per failure with the first differing path, exit 1", function()
    local out, _, rc = run({ "test", "examples/score.json", suite })
    assert.equal(1, rc)
    assert.truthy(out:find('> wrong code: code: expected "MID", got "HIGH"', 1, true), out)
    assert.truthy(out:find('> wrong nested output: output.a: expected [1,2], got (absent)', 1, true), out)
    assert.truthy(out:find('> unexpected error & more: run failed: exec:', 1, true), out)
    assert.truthy(out:find('> gas: gas: used %d+, more than gas_max 1'), out)
    assert.truthy(out:find("2 passed, 4 failed, 1 skipped (7 tests)", 1, true), out)
  end)

  it("--reporter tap: a plan line and one result per test", function()
    local out, _, rc = run({ "test", "examples/score.json", suite, "--reporter", "tap" })
    assert.equal(1, rc)
    local l = lines(out)
    assert.equal("TAP version 13", l[1])
    local plan = tonumber(l[2]:match("^1%.%.(%d+)$"))
    assert.equal(7, plan)
    local n, notok = 0, 0
    for _, x in ipairs(l) do
      if x:match("^ok %d+") or x:match("^not ok %d+") then n = n + 1 end
      if x:match("^not ok") then notok = notok + 1 end
    end
    assert.equal(plan, n); assert.equal(4, notok)
    assert.truthy(out:find("# SKIP not yet", 1, true))
  end)

  it("--reporter junit: well-formed XML with the counts", function()
    local out, _, rc = run({ "test", "examples/score.json", suite, "--reporter", "junit" })
    assert.equal(1, rc)
    local elems = parse_xml(out)
    local cases, failures, skipped = 0, 0, 0
    for _, e in ipairs(elems) do
      if e.name == "testcase" then cases = cases + 1 end
      if e.name == "failure" then failures = failures + 1 end
      if e.name == "skipped" then skipped = skipped + 1 end
    end
    assert.equal(7, cases); assert.equal(4, failures); assert.equal(1, skipped)
    assert.equal("testsuites", elems[1].name)
    assert.equal("7", elems[1].attrs.tests); assert.equal("4", elems[1].attrs.failures)
    assert.truthy(out:find('name="skipped &lt;one&gt;"', 1, true))
  end)

  it("--reporter json: one object, per-test status", function()
    local out, _, rc = run({ "test", "examples/score.json", suite, "--reporter", "json" })
    assert.equal(1, rc)
    local doc = cjson.decode(out)
    assert.equal(2, doc.passed); assert.equal(4, doc.failed); assert.equal(1, doc.skipped)
    assert.equal("fail", doc.tests[2].status)
    assert.equal('code: expected "MID", got "HIGH"', doc.tests[2].message)
  end)

  it("answers host calls from host: stubs, never the network", function()
    local rs = d .. "/http.json"
    write(rs, [=[{"config":{"name":"http_stub","version":"1"},"steps":{
 "start":{"id":"start","name":"S","type":"action","actions":[
  {"action":"external_call","service":"network.http","method":"get",
   "params":[["url",{"Literal":"http://192.0.2.1:9/never"}]],
   "result_variable":"r","timeout_ms":2000}],"next_step":"t"},
 "t":{"id":"t","name":"T","type":"terminal","result":{"code":"OK",
  "output":[["status","$r.payload.status"]]}}}}]=])
    local s = d .. "/http.yaml"
    write(s, [[
- name: stubbed
  input: {}
  host: {network.http: {get: {status: 201}}}
  expect: {code: OK, output: {status: 201}}
- name: stubbed error
  input: {}
  host: {network.http: {get: {error: upstream down}}}
  expect: {error_contains: upstream down}
- name: no stub
  input: {}
  expect: {code: OK}
]])
    local out, _, rc = run({ "test", rs, s })
    assert.equal(1, rc)
    assert.truthy(out:find("no stub: run failed: host: test 'no stub' has no host answer " ..
                           "for capability 'network.http' operation 'get'", 1, true), out)
    assert.truthy(out:find("2 passed, 1 failed", 1, true), out)
  end)

  it("project mode pairs a suite with the ruleset of that name, whatever its file", function()
    local rules, tests = d .. "/rules", d .. "/tests"
    os.execute("mkdir -p " .. rules .. " " .. tests)
    write(rules .. "/some_file.json", read("examples/subrule.json")) -- config.name "risk"
    write(rules .. "/notes.json", '{"not": "a ruleset"}')
    write(tests .. "/risk.yaml", read("examples/tests/subrule.yaml"))
    local out, _, rc = run({ "test", "--rules", rules, "--tests", tests })
    assert.equal(0, rc, out)
    assert.equal("1 passed, 0 failed, 0 skipped (1 tests)\n", out)
    write(tests .. "/missing.yaml", "[]")
    out, _, rc = run({ "test", "--rules", rules, "--tests", tests })
    assert.equal(1, rc)
    assert.truthy(out:find("missing.yaml > (suite): no ruleset", 1, true), out)
  end)

  it("reports a suite that does not parse, naming the file and line", function()
    local bad = d .. "/broken.yaml"
    write(bad, "tests:\n  - name: [unclosed\n")
    local _, err, rc = run({ "test", "examples/score.json", bad })
    assert.equal(1, rc)
    assert.truthy(err:find(bad .. ": YAML: line", 1, true), err)
  end)

  it("refuses a suite file with a second YAML document, naming its line", function()
    -- its cases were silently never run: "1 passed", exit 0
    local two = d .. "/two.yaml"
    write(two, "tests:\n  - name: one\n    input: {score: 75}\n    expect: {code: MID}\n"
               .. "---\ntests:\n  - name: two\n    input: {score: 75}\n"
               .. "    expect: {code: NOT_THIS}\n")
    local out, err, rc = run({ "test", "examples/score.json", two })
    assert.equal(1, rc, out)
    assert.truthy(err:find(two .. ": YAML: line 5: a second document", 1, true), err)
    -- an explicit start and end of the one document stay fine
    write(two, "---\ntests:\n  - name: one\n    input: {score: 75}\n"
               .. "    expect: {code: MID}\n...\n")
    out, err, rc = run({ "test", "examples/score.json", two })
    assert.equal(0, rc, out .. err)
    assert.truthy(out:find("1 passed, 0 failed", 1, true), out)
  end)
end)

-- The loan inputs that are JSON (examples/loan.jsonl ends with a bad line).
local function loan_inputs(d)
  local t = {}
  for l in io.lines("examples/loan.jsonl") do
    if pcall(cjson.decode, l) then t[#t + 1] = l end
  end
  write(d .. "/in.jsonl", table.concat(t, "\n") .. "\n")
  return #t
end

describe("gavel batch --capture and gavel replay", function()
  local d = tmpdir()
  local n = loan_inputs(d)
  local cap = d .. "/cap.jsonl"
  local _, err, rc = run({ "batch", "examples/loan.json", "--input", d .. "/in.jsonl",
                           "--output", d .. "/out.jsonl", "--jobs", "2",
                           "--capture", cap })

  it("writes one record per run", function()
    assert.equal(0, rc, err)
    local recs = lines(read(cap))
    assert.equal(n, #recs)
    local r = cjson.decode(recs[1])
    assert.equal("loan", r.ruleset); assert.equal("1.0.0", r.version)
    assert.truthy(r.hash:match("^sha256:%x+$"))
    assert.truthy(r.ts:match("^%d%d%d%d%-%d%d%-%d%dT"))
    assert.equal("table", type(r.input)); assert.equal("table", type(r.receipts))
    assert.truthy(r.code and r.message and r.output and r.duration_us and r.trace_id)
  end)

  it("replays the same ruleset: every decision consistent, --verify too", function()
    local out, _, rc2 = run({ "replay", cap, "examples/loan.json" })
    assert.equal(0, rc2)
    assert.truthy(out:find(n .. " records: consistent " .. n .. ", flipped 0", 1, true), out)
    out, _, rc2 = run({ "replay", cap, "examples/loan.json", "--verify" })
    assert.equal(0, rc2, out)
  end)

  it("--verify wants the same bytes: reordered output keys are a "
     .. "determinism bug there, consistent without it", function()
    local recs = lines(read(cap))
    local first = recs[1]
    -- move the output's first member to its end: equal values, other text
    local head, k, v, rest = first:match('^(.*"output":{)("[^"]+":)([^,]+),(.*)}}$')
    assert.truthy(head, first)
    local t = d .. "/reordered.jsonl"
    write(t, head .. rest .. "," .. k .. v .. "}}\n" .. recs[2] .. "\n")
    local out, _, rc2 = run({ "replay", t, "examples/loan.json" })
    assert.equal(0, rc2)
    assert.truthy(out:find("2 records: consistent 2, flipped 0", 1, true), out)
    out = run({ "replay", t, "examples/loan.json", "--verify" })
    assert.truthy(out:find("determinism bug", 1, true), out)
    assert.truthy(out:find("2 records: consistent 1, flipped 1", 1, true), out)
  end)

  it("replays records of a few MB each in rounds bounded by bytes, "
     .. "not only by lines", function()
    -- 12 records of ~1.5 MB (padding the loan input with a field the
    -- rules never read): a worker's round ends at 4 MiB of text
    local recs = lines(read(cap))
    local pad = string.rep("x", 1500000)
    local t = d .. "/big.jsonl"
    local f = assert(io.open(t, "wb"))
    for i = 1, 12 do
      f:write((recs[i]:gsub('"input":{', '"input":{"pad":"' .. pad .. '",', 1)), "\n")
    end
    f:close()
    local out, _, rc2 = run({ "replay", t, "examples/loan.json", "--jobs", "2" })
    os.remove(t)
    assert.equal(0, rc2, out)
    assert.truthy(out:find("12 records: consistent 12, flipped 0", 1, true), out)
  end)

  it("--json prints records as they come: the report of 3,000 flips of "
     .. "20 KB each (60 MB) in a 40 MB data limit, whole and in order", function()
    -- before, the records were held until the end; under the limit the
    -- report was cut short without an error (exit 0, invalid JSON)
    local rs, rs2 = d .. "/pad.json", d .. "/pad2.json"
    local doc = '{"config":{"name":"pad","entry_step":"t"},"steps":{"t":{"id":"t",'
      .. '"name":"T","type":"terminal","result":{"code":"OK","output":{"v":"s"}}}}}'
    write(rs, doc)
    write(rs2, (doc:gsub('"v":"s"', '"v":"s + \\"!\\""')))
    local c1 = d .. "/pad1.jsonl"
    local _, err, rc = run({ "run", rs, "--input", '{"s":"' .. string.rep("a", 10000)
                             .. '"}', "--capture", c1 })
    assert.equal(0, rc, err)
    local rec = read(c1)
    local t = d .. "/pad.jsonl"
    local f = assert(io.open(t, "wb"))
    for _ = 1, 3000 do f:write(rec) end
    f:close()
    local p = assert(io.popen("ulimit -d 40000; " .. sh_quote(GAVEL) .. " replay "
                              .. sh_quote(t) .. " " .. sh_quote(rs2)
                              .. " --json --jobs 1 2>&1; echo \"::rc=$?\""))
    local out = p:read("*a"); p:close()
    os.remove(t)
    assert.truthy(out:find("::rc=0%s*$"), out:sub(-300))
    local rep = cjson.decode((out:gsub("::rc=%d+%s*$", "")))
    assert.equal(3000, rep.summary.flipped)
    assert.equal(3000, #rep.records)
    for i, r in ipairs(rep.records) do
      assert.equal(i, r.line)
      assert.equal(10001, #r.now)
    end
  end)

  it("lists exactly the decisions an edit flips", function()
    -- the edit: approve near-prime loans at a higher rate and lower the
    -- age limit; its flips computed independently with gavel batch
    local src = read("examples/loan.json")
    local edited = src:gsub('"rate": 6.5', '"rate": 6.75', 1)
                      :gsub('applicant.age > 75', 'applicant.age > 70', 1)
    assert.are_not.equal(src, edited)
    local rs2 = d .. "/loan.json"
    write(rs2, edited)
    run({ "batch", rs2, "--input", d .. "/in.jsonl", "--output", d .. "/out2.jsonl" })
    local a, b = lines(read(d .. "/out.jsonl")), lines(read(d .. "/out2.jsonl"))
    local want = {}
    for i = 1, #a do
      local x, y = cjson.decode(a[i]), cjson.decode(b[i])
      if x.code ~= y.code or cjson.encode(x.output) ~= cjson.encode(y.output) then
        want[#want + 1] = i
      end
    end
    assert.truthy(#want >= 1)
    local out, _, rc2 = run({ "replay", cap, rs2, "--json" })
    assert.equal(0, rc2)
    local doc = cjson.decode(out)
    local got = {}
    for _, r in ipairs(doc.records) do
      assert.equal("flipped", r.bucket)
      got[#got + 1] = r.line
    end
    table.sort(got)
    assert.same(want, got)
    assert.equal(#want, doc.summary.flipped)
    assert.equal(n - #want, doc.summary.consistent)
    -- the human report names the first differing path
    out = run({ "replay", cap, rs2 })
    assert.truthy(out:find(": loan flipped: output.rate: was 6.5, now 6.75", 1, true), out)
    -- CI: --fail-on-flip exits 1; --verify finds no ruleset with the hash
    local _, _, rc3 = run({ "replay", cap, rs2, "--fail-on-flip" })
    assert.equal(1, rc3)
    local vout, _, rc4 = run({ "replay", cap, rs2, "--verify" })
    assert.equal(1, rc4)
    assert.truthy(vout:find("unknown%-ruleset " .. n), vout)
  end)

  it("turns a capture into a gavel test suite (--write-tests)", function()
    local wt = d .. "/wt"
    local _, _, rc2 = run({ "replay", cap, "examples/loan.json", "--write-tests", wt })
    assert.equal(0, rc2)
    local out, _, rc3 = run({ "test", "examples/loan.json", wt .. "/loan.json" })
    assert.equal(0, rc3, out)
    assert.truthy(out:find(n .. " passed, 0 failed", 1, true), out)
  end)

  it("a ruleset read from standard input is captured with its hash", function()
    -- the hash was of the file read again: for /dev/stdin, of nothing
    local c = d .. "/stdin.jsonl"
    local p = assert(io.popen("cat examples/score.json | " .. sh_quote(GAVEL)
      .. " run /dev/stdin --input '{\"score\": 75}' --capture " .. sh_quote(c)
      .. " >/dev/null 2>&1; echo $?"))
    local rc2 = p:read("*a"); p:close()
    assert.equal("0", (rc2:gsub("%s", "")))
    local out, err, rc3 = run({ "replay", c, "examples/score.json", "--verify" })
    assert.equal(0, rc3, out .. err)
    assert.truthy(out:find("1 records: consistent 1,", 1, true), out)
  end)

  it("--write-tests gives two versions of one ruleset a suite each", function()
    -- before, both were written to DIR/<name>.json, the second over the first
    local rd, wt = d .. "/twins", d .. "/wt2"
    os.execute("mkdir -p " .. sh_quote(rd))
    local doc = '{"config":{"name":"twin","entry_step":"t"},"steps":{"t":{"id":"t",'
      .. '"name":"T","type":"terminal","result":{"code":"OK","output":{"v":"s"}}}}}'
    write(rd .. "/twin.json", doc)
    write(rd .. "/twin_v2.json", (doc:gsub('"v":"s"', '"v":"s + \\"!\\""')))
    local c = d .. "/twins.jsonl"
    for _, f in ipairs({ "twin.json", "twin_v2.json" }) do
      local _, err, rc2 = run({ "run", rd .. "/" .. f, "--input", '{"s":"a"}',
                                "--capture", c })
      assert.equal(0, rc2, err)
    end
    local out, err, rc2 = run({ "replay", c, "--rules", rd, "--verify",
                                "--write-tests", wt })
    assert.equal(0, rc2, out .. err)
    assert.truthy(out:find("2 records: consistent 2", 1, true), out)
    local p = io.popen("ls " .. sh_quote(wt)); local ls = p:read("*a"); p:close()
    local files = lines(ls)
    assert.equal(2, #files, ls)
    assert.equal("twin-", files[1]:match("^twin%-") or files[2]:match("^twin%-"))
    for _, f in ipairs(files) do
      assert.truthy(f == "twin.json" or f:match("^twin%-%x+%.json$"), f)
      local suite = cjson.decode(read(wt .. "/" .. f))
      assert.equal(1, #suite.tests)
      -- each suite passes against exactly one of the two versions
      local passes = 0
      for _, rsf in ipairs({ "twin.json", "twin_v2.json" }) do
        local _, _, rc3 = run({ "test", rd .. "/" .. rsf, wt .. "/" .. f })
        if rc3 == 0 then passes = passes + 1 end
      end
      assert.equal(1, passes, f)
    end
  end)

  it("reports a truncated last line and skips it, never crashing", function()
    local recs = lines(read(cap))
    local t = d .. "/trunc.jsonl"
    write(t, recs[1] .. "\n" .. recs[2] .. "\n" .. recs[3]:sub(1, 120))
    local out, _, rc2 = run({ "replay", t, "examples/loan.json" })
    assert.equal(0, rc2)
    assert.truthy(out:find("line 3:  malformed: not a capture record", 1, true), out)
    assert.truthy(out:find("3 records: consistent 2, flipped 0", 1, true), out)
  end)

  it("reports records of rulesets it does not have", function()
    local out = run({ "replay", cap, "examples/score.json" })
    assert.truthy(out:find("unknown%-ruleset " .. n), out)
  end)
end)

describe("capture options", function()
  local d = tmpdir()
  local n = loan_inputs(d)

  it("redacts input paths with a salted hash", function()
    local cap = d .. "/red.jsonl"
    run({ "batch", "examples/loan.json", "--input", d .. "/in.jsonl", "--capture", cap,
          "--capture-redact", "applicant.credit.score", "--capture-redact", "applicant.accounts.balance",
          "--capture-salt", "pepper" })
    local text = read(cap)
    assert.falsy(text:find('"score":712', 1, true))
    assert.falsy(text:find('"balance":5200.5', 1, true))
    local r = cjson.decode(lines(text)[1])
    assert.truthy(r.input.applicant.credit.score:match("^sha256:%x+$"))
    assert.truthy(r.input.applicant.accounts[1].balance:match("^sha256:%x+$"))
    assert.equal(34, r.input.applicant.age) -- the rest untouched
    -- same salt, same hash: joinable; another salt, another hash
    local cap2 = d .. "/red2.jsonl"
    run({ "run", "examples/loan.json", "--input", "@examples/loan.input.json",
          "--capture", cap2, "--capture-redact", "applicant.credit.score",
          "--capture-salt", "pepper" })
    local r2 = cjson.decode(lines(read(cap2))[1])
    assert.equal(r.input.applicant.credit.score, r2.input.applicant.credit.score)
    local cap3 = d .. "/red3.jsonl"
    run({ "run", "examples/loan.json", "--input", "@examples/loan.input.json",
          "--capture", cap3, "--capture-redact", "applicant.credit.score",
          "--capture-salt", "salt2" })
    local r3 = cjson.decode(lines(read(cap3))[1])
    assert.are_not.equal(r.input.applicant.credit.score, r3.input.applicant.credit.score)
  end)

  it("samples runs", function()
    local none, half = d .. "/s0.jsonl", d .. "/s5.jsonl"
    run({ "batch", "examples/loan.json", "--input", d .. "/in.jsonl", "--capture", none,
          "--capture-sample", "0" })
    assert.equal("", read(none) or "")
    local big = {}
    for i = 1, 400 do big[i] = '{"score": ' .. (i % 100) .. '}' end
    write(d .. "/many.jsonl", table.concat(big, "\n") .. "\n")
    run({ "batch", "examples/score.json", "--input", d .. "/many.jsonl", "--capture", half,
          "--capture-sample", "0.5" })
    local k = #lines(read(half))
    assert.truthy(k > 120 and k < 280, tostring(k))
  end)

  it("rotates by size, losing no record", function()
    local cap = d .. "/rot.jsonl"
    run({ "batch", "examples/loan.json", "--input", d .. "/in.jsonl", "--capture", cap,
          "--capture-rotate-bytes", "4000" })
    local total, files = #lines(read(cap) or ""), 1
    for i = 1, 100 do
      local s = read(cap .. "." .. i)
      if not s then break end
      files = files + 1
      total = total + #lines(s)
      assert.truthy(#s <= 4000 + 3000, "rotated file too big")
    end
    assert.truthy(files >= 3, tostring(files))
    assert.equal(n, total)
  end)

  it("a bad sample rate is a usage error", function()
    local _, err, rc = run({ "run", "examples/score.json", "--capture", d .. "/x", "--capture-sample", "2" })
    assert.equal(2, rc)
    assert.truthy(err:find("--capture-sample wants a number from 0 to 1", 1, true), err)
  end)
end)

describe("replay of host calls from receipts", function()
  local d = tmpdir()

  local function start_server()
    local p = io.popen(sh_quote(SERVER) .. " >" .. d .. "/port 2>/dev/null & echo $!")
    local pid = p:read("*l"); p:close()
    local port
    for _ = 1, 100 do
      port = (read(d .. "/port") or ""):match("%d+")
      if port then break end
      os.execute("sleep 0.05")
    end
    return pid, port
  end

  it("captures network.http decisions, then replays them offline (--verify)", function()
    local pid, port = start_server()
    assert.truthy(port, "test server did not start")
    local rs = d .. "/http.json"
    write(rs, ([=[{"config":{"name":"cli_http","version":"1.2"},"steps":{
 "start":{"id":"start","name":"S","type":"action","actions":[
  {"action":"external_call","service":"network.http","method":"get",
   "params":[["url",{"Literal":"http://127.0.0.1:PORT/echo"}],
             ["query",{"Object":[["n",{"Field":"n"}]]}]],
   "result_variable":"r","timeout_ms":2000}],"next_step":"t"},
 "t":{"id":"t","name":"T","type":"terminal","result":{"code":"OK",
  "output":[["status","$r.payload.status"],["q","$r.payload.json_body.query"]]}}}}]=]):gsub("PORT", port))
    local inputs = {}
    for i = 1, 8 do inputs[i] = '{"n": ' .. i .. '}' end
    write(d .. "/in.jsonl", table.concat(inputs, "\n") .. "\n")
    local cap = d .. "/cap.jsonl"
    local out, err, rc = run({ "batch", rs, "--input", d .. "/in.jsonl", "--capture", cap,
                               "--grant", "network.http", "--allow-http", "127.0.0.1:" .. port })
    os.execute("kill " .. pid)
    os.execute("sleep 0.1")
    assert.equal(0, rc, out .. err)
    local recs = lines(read(cap))
    assert.equal(8, #recs)
    local r = cjson.decode(recs[3])
    assert.equal(1, #r.receipts)
    local rc1 = r.receipts[1]
    assert.equal("network.http", rc1.capability); assert.equal("get", rc1.operation)
    assert.equal(3, rc1.params.query.n); assert.equal(1, rc1.attempt)
    assert.equal("ok", rc1.outcome); assert.equal(200, rc1.payload.status)
    assert.same({ status = 200, q = "n=3" }, r.output)
    -- the server is gone: a live run fails ...
    local live = run({ "run", rs, "--input", '{"n": 3}', "--grant", "network.http",
                       "--allow-http", "127.0.0.1:" .. port })
    assert.truthy(live:find('"error"', 1, true), live)
    -- ... and the replay reproduces every decision from the receipts
    local rout, rerr, rrc = run({ "replay", cap, rs, "--verify" })
    assert.equal(0, rrc, rout .. rerr)
    assert.truthy(rout:find("8 records: consistent 8, flipped 0", 1, true), rout)
  end)

  it("a Lua provider's calls are receipts too; a new call needs-host-call", function()
    local prov = d .. "/prov.lua"
    write(prov, [[
local gavel = require "gavel"
gavel.providers.register("demo.score", function(op, params)
  return { score = params.n * 10 }
end)
]])
    local function ruleset(extra)
      return [=[{"config":{"name":"lua_prov","version":"1"},"steps":{
 "start":{"id":"start","name":"S","type":"action","actions":[
  {"action":"external_call","service":"demo.score","method":"get",
   "params":[["n",{"Field":"n"}]],"result_variable":"r"}]=] .. extra .. [=[],
  "next_step":"t"},
 "t":{"id":"t","name":"T","type":"terminal","result":{"code":"OK",
  "output":[["s","$r.payload.score"]]}}}}]=]
    end
    local rs = d .. "/lua.json"
    write(rs, ruleset(""))
    local cap = d .. "/lcap.jsonl"
    local out, err, rc = run({ "run", rs, "--input", '{"n": 4}', "--provider", prov,
                               "--capture", cap })
    assert.equal(0, rc, out .. err)
    assert.equal('{"code":"OK","message":"","output":{"s":40}}\n', out)
    -- replayed without the provider file's code being called: the
    -- receipt answers (the provider is loaded only to declare the name)
    local rout, _, rrc = run({ "replay", cap, rs, "--provider", prov, "--verify" })
    assert.equal(0, rrc, rout)
    -- an edit that calls something new cannot be answered from receipts
    local rs2 = d .. "/lua2.json"
    write(rs2, ruleset([=[,
  {"action":"external_call","service":"demo.score","method":"get",
   "params":[["n",{"Literal":99}]],"result_variable":"r2"}]=]))
    rout = run({ "replay", cap, rs2, "--provider", prov, "--json" })
    local doc = cjson.decode(rout)
    assert.equal(1, doc.summary["needs-host-call"])
    assert.equal("needs-host-call", doc.records[1].bucket)
    assert.truthy(doc.records[1].message:find("no receipt for demo.score get", 1, true))
    -- --live: that capability is served by its provider
    rout = run({ "replay", cap, rs2, "--provider", prov, "--live", "demo.score" })
    assert.truthy(rout:find("consistent 1", 1, true), rout)
  end)
end)
