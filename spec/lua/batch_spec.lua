-- spec/lua/batch_spec.lua -- gavel.batch and rs:run_json: JSONL in, JSONL
-- out, the engine's text and key order, the same lines as 'gavel batch'.
local gavel = require "gavel"

local build = os.getenv("GAVEL_BUILD_DIR") or "build"

local function slurp(path)
  local f = assert(io.open(path, "rb")); local s = f:read("*a"); f:close()
  return s
end

-- outputs in a non-alphabetical order: re-encoding a Lua table loses it
local RULES = [=[{"config": {"name": "order", "entry_step": "s"}, "steps": {
  "s": {"id": "s", "type": "decision",
        "branches": [{"condition": "x > 10", "next_step": "big"}],
        "default_next": "small"},
  "big": {"id": "big", "type": "terminal", "result": {"code": "BIG",
          "output": [["zeta", "x * 2"], ["alpha", "x"], ["mid", "'m'"]]}},
  "small": {"id": "small", "type": "terminal", "result": {"code": "SMALL"}}}}]=]

describe("rs:run_json", function()
  it("returns the engine's JSON text, key order kept", function()
    local rs = assert(gavel.load(RULES))
    local out = assert(rs:run_json('{"x": 21}'))
    assert.equal('{"code":"BIG","message":"","output":{"zeta":42,"alpha":21,"mid":"m"}}', out)
  end)

  it("runs on text:sub(i, j) given i, j (the input read in place)", function()
    local rs = assert(gavel.load(RULES))
    local body = '{"input": {"x": 21}, "trace": false}'
    local i, j = body:find('{"x": 21}', 1, true)
    assert.equal(assert(rs:run_json('{"x": 21}')), assert(rs:run_json(body, nil, i, j)))
    -- the bytes around the range are not read: '{"x": 2' alone is bad JSON
    local res, err, code = rs:run_json(body, nil, i, j - 2)
    assert.is_nil(res)
    assert.equal("GAVEL_JSON", code)
    assert.is_string(err)
    -- an empty range is no input (null), as ""
    assert.same({ rs:run_json("") }, { rs:run_json(body, nil, 3, 2) })
    -- the first and the last byte of the text
    assert.equal(assert(rs:run_json('{"x": 1}')),
                 assert(rs:run_json('{"x": 1}', nil, 1, 8)))
  end)

  it("raises on a range outside the text or not integers", function()
    local rs = assert(gavel.load(RULES))
    for _, r in ipairs({ { 0, 3 }, { 1, 9 }, { 2, 0 }, { 1.5, 3 },
                         { 1, "3" }, { 1 } }) do
      assert.has_error(function() rs:run_json('{"x": 1}', nil, r[1], r[2]) end,
        "gavel: run_json range must be integers 1 <= i <= j + 1, j <= #text")
    end
    assert.has_error(function() rs:run_json(nil, nil, 1, 0) end)
  end)
end)

describe("rs:run_json in 'gavel SCRIPT.lua' (the embedded module)", function()
  it("returns the engine's text too, key order kept", function()
    local script, rules = os.tmpname() .. ".lua", os.tmpname()
    local f = assert(io.open(rules, "w")); f:write(RULES); f:close()
    f = assert(io.open(script, "w"))
    f:write([[
local gavel = require "gavel"
local f = assert(io.open(arg[1])); local rs = assert(gavel.load(f:read("*a"))); f:close()
io.write(assert(rs:run_json('{"x": 21}')), "\n")
io.write(assert(rs:run_json('#{"x": 3}#', nil, 2, 9)), "\n")
gavel.batch(rs, { '{"x": 12}', "" })
]])
    f:close()
    local p = io.popen(build .. "/gavel " .. script .. " " .. rules .. " 2>&1")
    local out = p:read("*a"); p:close()
    os.remove(script); os.remove(rules)
    assert.equal('{"code":"BIG","message":"","output":{"zeta":42,"alpha":21,"mid":"m"}}\n'
      .. '{"code":"SMALL","message":"","output":{}}\n'
      .. '{"code":"BIG","message":"","output":{"zeta":24,"alpha":12,"mid":"m"}}\n'
      .. '{"error":{"kind":"input","message":"empty input line"}}\n', out)
  end)
end)

describe("gavel.batch", function()
  it("writes one result per line, errors as gavel batch writes them", function()
    local rs = assert(gavel.load(RULES))
    local got = {}
    local st = gavel.batch(rs, { '{"x": 21}', "", "{oops", '{"x": 1}' }, {
      on_result = function(text, lineno, ok) got[lineno] = { text, ok } end })
    assert.same({ lines = 4, errors = 2 }, { lines = st.lines, errors = st.errors })
    assert.is_number(st.seconds)
    assert.equal('{"code":"BIG","message":"","output":{"zeta":42,"alpha":21,"mid":"m"}}', got[1][1])
    assert.is_true(got[1][2])
    assert.equal('{"error":{"kind":"input","message":"empty input line"}}', got[2][1])
    assert.is_false(got[2][2])
    assert.matches('^{"error":{"kind":"input","message":"invalid JSON', got[3][1])
    assert.equal('{"code":"SMALL","message":"","output":{}}', got[4][1])
  end)

  it("returns nil, err when the results cannot be written (a full disk)", function()
    -- it returned {lines = 2, errors = 0}: only close() failed
    local f = io.open("/dev/full", "w")
    if not f then return pending("no /dev/full") end
    local rs = assert(gavel.load(RULES))
    local st, err = gavel.batch(rs, { '{"x": 21}', '{"x": 1}' }, { output = f })
    f:close()
    assert.is_nil(st)
    assert.matches("^gavel.batch: cannot write the results?", err)
    assert.matches("No space left on device", err)
  end)

  it("gives byte for byte what 'gavel batch' gives (loan example)", function()
    local lines = {}
    for i = 1, 300 do
      lines[i] = string.format('{"applicant": {"age": %d, "income": %d, "monthly_debt": %d, '
        .. '"country": "%s", "employment": {"status": "employed", "years": %d}, '
        .. '"credit": {"score": %d, "bankruptcies": 0, "delinquencies": %d}, '
        .. '"accounts": [{"balance": %d}]}, "loan": {"amount": %d, "collateral_value": %d, '
        .. '"term_months": 360, "purpose": "home"}}',
        18 + i % 60, 30000 + i * 97, 500 + i % 900, i % 7 == 0 and "FR" or "US", i % 5,
        500 + i % 350, i % 4, i * 13, 100000 + i * 101, 150000 + i * 7)
    end
    lines[77] = ""
    lines[150] = '{"applicant": {}}'
    local input, out = os.tmpname(), os.tmpname()
    local f = assert(io.open(input, "w")); f:write(table.concat(lines, "\n"), "\n"); f:close()
    assert(os.execute(build .. "/gavel batch examples/loan.json --jobs 1 --input " .. input
                      .. " --output " .. out .. " 2>/dev/null"))
    local rs = assert(gavel.load(slurp("examples/loan.json")))
    local mine = os.tmpname()
    local o = assert(io.open(mine, "w"))
    local st = gavel.batch(rs, io.lines(input), { output = o })
    o:close()
    assert.equal(300, st.lines)
    assert.equal(slurp(out), slurp(mine))
    os.remove(input); os.remove(out); os.remove(mine)
  end)

  it("reports progress to a function, and at the end", function()
    local rs = assert(gavel.load(RULES))
    local calls = {}
    gavel.batch(rs, { '{"x": 1}', '{"x": 99}' }, {
      on_result = function() end,
      progress = function(n, errors, secs) calls[#calls + 1] = { n, errors, type(secs) } end })
    assert.same({ { 2, 0, "number" } }, calls)
  end)

  it("rejects what is not an iterator", function()
    local rs = assert(gavel.load(RULES))
    assert.has_error(function() gavel.batch(rs, 42) end,
                     "gavel.batch: lines must be an iterator function or a table")
  end)
end)
