-- spec/lua/test_spec.lua -- gavel.test(rs, suite): the results table of
-- 'gavel test --reporter json', checked against the gavel executable on
-- the same suites (bundled examples, failures of every kind, host stubs).
local gavel = require "gavel"
local cjson = require "cjson"

local build = os.getenv("GAVEL_BUILD_DIR") or "build"
local GAVEL = build .. "/gavel"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

-- the CLI's json report for (rules, suite), durations dropped
local function cli_report(rules, suite)
  local p = assert(io.popen(GAVEL .. " test '" .. rules .. "' '" .. suite
                            .. "' --reporter json 2>/dev/null"))
  local out = p:read("*a")
  p:close()
  local doc = cjson.decode(out)
  for _, t in ipairs(doc.tests) do t.duration_us = nil end
  return doc
end

local function strip(res)
  local out = { passed = res.passed, failed = res.failed,
                skipped = res.skipped, tests = {} }
  for i, t in ipairs(res.tests) do
    assert.is_number(t.duration_us)
    out.tests[i] = { suite = t.suite, name = t.name, status = t.status,
                     message = t.message }
  end
  return out
end

local tmp = os.tmpname()
os.remove(tmp)
os.execute("mkdir -p " .. tmp)

describe("gavel.test", function()
  it("passes the bundled example suites, as 'gavel test' does", function()
    for _, pair in ipairs({ { "score", "score.yaml" },
                            { "loan", "loan.json" },
                            { "subrule", "subrule.yaml" },
                            { "discount", "discount.yaml" } }) do
      local rules = "examples/" .. pair[1] .. ".json"
      local suite = "examples/tests/" .. pair[2]
      local rs = assert(gavel.load(read(rules)))
      local res = assert(gavel.test(rs, suite))
      assert.are.equal(0, res.failed, suite)
      assert.is_true(res.passed > 0)
      assert.are.same(cli_report(rules, suite), strip(res))
    end
  end)

  local bad = tmp .. "/bad.yaml"
  write(bad, [[
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
  - name: skipped one
    skip: not yet
  - name: unexpected error
    input: {score: "x"}
    expect: {code: HIGH}
  - name: expected error
    input: {score: "x"}
    expect: {error_contains: Cannot compare}
  - name: wrong trace path
    input: {score: 75}
    expect: {trace: {path: s1 -> high}}
  - name: gas
    input: {score: 95}
    gas_max: 1
]])

  it("reports every kind of failure with the CLI's messages", function()
    local rs = assert(gavel.load(read("examples/score.json")))
    local res = assert(gavel.test(rs, bad))
    assert.are.equal(2, res.passed)
    assert.are.equal(5, res.failed)
    assert.are.equal(1, res.skipped)
    assert.are.equal('code: expected "MID", got "HIGH"', res.tests[2].message)
    assert.are.equal("output.a: expected [1,2], got (absent)",
                     res.tests[3].message)
    assert.are.equal("skip", res.tests[4].status)
    assert.are.equal("not yet", res.tests[4].message)
    assert.matches("^run failed: exec: ", res.tests[5].message)
    assert.are.equal("pass", res.tests[6].status)
    assert.matches("^trace.path: expected", res.tests[7].message)
    assert.matches("^gas: used %d+, more than gas_max 1$", res.tests[8].message)
    assert.are.same(cli_report("examples/score.json", bad), strip(res))
  end)

  it("takes the suite as a Lua table, JSON text or YAML text", function()
    local rs = assert(gavel.load(read("examples/score.json")))
    local res = assert(gavel.test(rs, {
      description = "inline",
      tests = {
        { name = "high", input = { score = 95 }, expect = { code = "HIGH" } },
        { name = "low", input = { score = 50 },
          expect = { code = "HIGH" } },
      },
    }))
    assert.are.equal(1, res.passed)
    assert.are.equal(1, res.failed)
    assert.are.equal("suite", res.tests[1].suite)
    assert.are.equal('code: expected "HIGH", got "LOW"', res.tests[2].message)
    -- a bare list of cases, as JSON text
    res = assert(gavel.test(rs, '[{"name":"a","input":{"score":95},'
      .. '"expect":{"code":"HIGH","output":{}}}]', { name = "json" }))
    assert.are.equal(1, res.passed)
    assert.are.equal("json", res.tests[1].suite)
    -- YAML text
    res = assert(gavel.test(rs, "tests:\n  - input: {score: 75}\n"
      .. "    expect: {code: MID}\n"))
    assert.are.equal(1, res.passed)
    assert.are.equal("case 1", res.tests[1].name)
  end)

  it("answers host calls from host: stubs, never the provider", function()
    local calls = 0
    assert(gavel.providers.register("test.svc", function()
      calls = calls + 1
      return { status = 500 }
    end))
    local rs = assert(gavel.load([=[{"config":{"name":"svc","version":"1"},
     "steps":{"start":{"id":"start","name":"S","type":"action","actions":[
      {"action":"external_call","service":"test.svc","method":"get",
       "params":[["q",{"Literal":1}]],"result_variable":"r",
       "timeout_ms":2000}],"next_step":"t"},
      "t":{"id":"t","name":"T","type":"terminal","result":{"code":"OK",
       "output":[["status","$r.payload.status"]]}}}}]=]))
    local res = assert(gavel.test(rs, [[
- name: stubbed
  input: {}
  host: {test.svc: {get: {status: 201}}}
  expect: {code: OK, output: {status: 201}}
- name: stubbed with metadata
  input: {}
  host: {test.svc: {get: {payload: {status: 202}, metadata: {k: v}}}}
  expect: {output: {status: 202}}
- name: stubbed error
  input: {}
  host: {test.svc: {get: {error: upstream down}}}
  expect: {error_contains: upstream down}
- name: no stub
  input: {}
  expect: {code: OK}
]]))
    assert.are.equal(0, calls)
    assert.are.equal(3, res.passed)
    assert.are.equal("no stub", res.tests[4].name)
    assert.are.equal("run failed: host: test 'no stub' has no host answer "
      .. "for capability 'test.svc' operation 'get' (add host: {test.svc: "
      .. "{get: ...}})", res.tests[4].message)
    -- outside gavel.test the Lua provider still serves the capability
    assert.are.equal(500, rs:run({}).output.status)
    assert.are.equal(1, calls)
  end)

  it("reports a suite without tests, and unreadable or broken suites", function()
    local rs = assert(gavel.load(read("examples/score.json")))
    local res = assert(gavel.test(rs, { description = "none" }))
    assert.are.equal(1, res.failed)
    assert.are.equal("(suite)", res.tests[1].name)
    local r, err, code = gavel.test(rs, tmp .. "/missing.yaml")
    assert.is_nil(r)
    assert.are.equal("GAVEL_IO", code)
    assert.matches("missing.yaml", err, 1, true)
    write(tmp .. "/broken.json", '{"tests": [')
    r, err, code = gavel.test(rs, tmp .. "/broken.json")
    assert.is_nil(r)
    assert.are.equal("GAVEL_JSON", code)
    assert.matches("broken.json", err, 1, true)
    r, err = gavel.test(rs, "tests:\n  - name: [unclosed\n")
    assert.is_nil(r)
    assert.is_string(err)
    assert.has_error(function() gavel.test({}, "x.yaml") end)
    assert.has_error(function() gavel.test(rs, 42) end)
  end)
end)

describe("rs:gas_used", function()
  it("reports the gas of the last run, table or JSON path", function()
    local rs = assert(gavel.load(read("examples/loan.json")))
    assert.are.equal(0, rs:gas_used())
    local input = read("examples/loan.input.json")
    assert(rs:run(input))
    local g1 = rs:gas_used()
    assert.is_true(g1 > 0)
    assert(rs:run_json(input))
    assert.are.equal(g1, rs:gas_used())
    -- gas_max in a suite is checked against the same number
    local res = assert(gavel.test(rs, { { input = gavel.json.decode(input),
                                          gas_max = g1 - 1 } }))
    assert.are.equal("gas: used " .. g1 .. ", more than gas_max "
                     .. (g1 - 1), res.tests[1].message)
  end)
end)
