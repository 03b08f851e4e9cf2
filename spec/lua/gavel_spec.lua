-- spec/lua/gavel_spec.lua -- gavel: load, run, eval, compile, values.
local gavel = require "gavel"

-- Everything these specs need lives in the repository (examples/, spec/fixtures/);
-- the bench-case vectors of ../shared run in addition when present.
local SHARED = os.getenv("GAVEL_SHARED_DIR") or "../shared"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function ruleset(steps, config)
  config = config or {}
  config.name = config.name or "t"
  config.entry_step = config.entry_step or "s"
  return { config = config, steps = steps }
end

-- a ruleset whose only terminal outputs the given expressions
local function outputs(pairs_, config)
  local out = {}
  for i, p in ipairs(pairs_) do out[i] = gavel.array { p[1], p[2] } end
  return ruleset({
    s = { id = "s", name = "S", type = "terminal",
          result = { code = "OK", message = "ok", output = gavel.array(out) } },
  }, config)
end

describe("gavel.load", function()
  it("loads a ruleset from JSON text", function()
    local rs = assert(gavel.load(read("examples/score.json")))
    assert.are.equal("score", rs:name())
    assert.are.same({ "input.score" }, rs:paths())
  end)

  it("loads a ruleset from a Lua table", function()
    local rs = assert(gavel.load(outputs({ { "x", { Field = "a.b" } } })))
    assert.are.equal(5, rs:run({ a = { b = 5 } }).output.x)
  end)

  it("returns nil, err, code naming the path of a bad document", function()
    local rs, err, code = gavel.load([[{"config":{"name":"x","entry_step":"s"},
      "steps":{"s":{"id":"s","name":"S","type":"decision",
      "branches":[{"condition":"a >","next_step":"s"}]}}}]])
    assert.is_nil(rs)
    assert.are.equal("GAVEL_COMPILE", code)
    assert.matches("steps.s.branches[0]", err, 1, true)
  end)

  it("returns GAVEL_JSON for malformed JSON with its position", function()
    local rs, err, code = gavel.load("{\"config\": ")
    assert.is_nil(rs)
    assert.are.equal("GAVEL_JSON", code)
    assert.is_string(err)
  end)

  it("raises on misuse", function()
    assert.has_error(function() gavel.load(42) end)
    assert.has_error(function() gavel.load("{}", 5) end)
    assert.has_error(function() gavel.load("{}", { capabilities = "x" }) end)
  end)

  it("applies opts.gas_limit", function()
    local rs = assert(gavel.load(read("examples/score.json"),
                                 { gas_limit = 5 }))
    local res, err, code = rs:run({ score = 95 })
    assert.is_nil(res)
    assert.are.equal("GAVEL_GAS", code)
    assert.matches("Gas", err)
  end)
end)

describe("rs:run", function()
  local score = assert(gavel.load(read("examples/score.json")))

  it("gives the expected verdicts for the 4-branch vectors", function()
    local vectors = gavel.json.decode(read("spec/fixtures/vectors/score.json"))
    assert.is_true(#vectors > 0)
    for _, v in ipairs(vectors) do
      local res = assert(score:run(v.input))
      assert.are.equal(v.expected, res.code, v.name)
    end
  end)

  it("gives the loan example's recorded results, line by line", function()
    local loan = assert(gavel.load(read("examples/loan.json")))
    local n = 0
    local expected = read("examples/loan.expected.jsonl"):gmatch("[^\n]+")
    for line in read("examples/loan.jsonl"):gmatch("[^\n]+") do
      local want = (gavel.json.decode(expected()))
      local res, err, code = loan:run(line)      -- JSON text in
      if want.error then                         -- the malformed line
        assert.is_nil(res)
        assert.are.equal("GAVEL_JSON", code)
        assert.matches("invalid JSON", err, 1, true)
      else
        assert.is_table(res, tostring(err))
        assert.are.equal(want.code, res.code, line)
        assert.are.same(want.output, res.output, line)
      end
      n = n + 1
    end
    assert.is_true(n >= 20)
  end)

  -- ../shared's bench-case vectors, in addition, when present
  local have_shared = io.open(SHARED .. "/bench-cases/loan_vectors.json")
  if have_shared then have_shared:close() end
  local shared_it = have_shared and it or pending
  shared_it("gives the expected outputs for the shared loan vectors", function()
    local loan = assert(gavel.load(read("examples/loan.json")))
    local vectors = gavel.json.decode(read(SHARED .. "/bench-cases/loan_vectors.json"))
    assert.is_true(#vectors > 0)
    for _, v in ipairs(vectors) do
      local res, err = loan:run(v.input)
      if type(v.expected) == "table" then
        assert.is_table(res, v.name .. ": " .. tostring(err))
        assert.are.same(v.expected, res.output, v.name)
      end
    end
  end)

  it("takes JSON text and nil as input", function()
    assert.are.equal("HIGH", score:run('{"score": 99}').code)
    assert.are.equal("FAIL", score:run(nil).code)
    local res, err, code = score:run('{"score": ')
    assert.is_nil(res)
    assert.are.equal("GAVEL_JSON", code)
  end)

  it("returns code, message and output as Lua tables", function()
    local res = score:run({ score = 75 })
    assert.are.same({ code = "MID", message = "mid tier", output = {} }, res)
  end)

  it("adds the trace when asked", function()
    local res = assert(score:run({ score = 75 }, { trace = true }))
    assert.are.equal("MID", res.code)
    assert.are.equal("s1 -> mid", res.trace.path)
    assert.are.equal(2, #res.trace.steps)
  end)

  it("raises on misuse", function()
    assert.has_error(function() score:run(true) end)
    assert.has_error(function() score:run({}, "trace") end)
  end)

  it("reports a bad value with its input path", function()
    local rs = assert(gavel.load(outputs({ { "x", { Field = "a.b" } } })))
    local res, err, code = rs:run({ a = { b = function() end } })
    assert.is_nil(res)
    assert.are.equal("GAVEL_JSON", code)
    assert.matches("input.a.b", err, 1, true)
    res, err, code = rs:run({ a = { b = { c = { "ok", io.stdout } } } })
    assert.is_nil(res)
    assert.matches("input.a.b.c[1]", err, 1, true)
    res, err, code = rs:run({ a = { b = "\255\254" } })
    assert.is_nil(res)
    assert.matches("UTF%-8", err)
    -- and the ruleset still works
    assert.are.equal(1, rs:run({ a = { b = 1 } }).output.x)
  end)

  it("reads nested tables, arrays, indexes and digit keys", function()
    local rs = assert(gavel.load(outputs({
      { "deep", { Field = "a.b.c.d" } },
      { "idx", { Field = "list[1]" } },
      { "digit", { Field = "m.0" } },
      { "digit_arr", { Field = "arr.0" } },
      { "whole", { Field = "obj" } },
      { "n", "len(items)" },
      { "wild", "sum(map_extract(rows, \"v\"))" },
      { "missing", "coalesce(nope.x, \"dflt\")" },
    })))
    local res = assert(rs:run({
      a = { b = { c = { d = "deep" } } }, list = { 10, 20, 30 },
      m = { ["0"] = "zero" }, arr = { "first" }, obj = { k = { 1, 2 } },
      items = { 1, 2, 3, 4 }, rows = { { v = 1 }, { v = 2.5 } },
    }))
    assert.are.equal("deep", res.output.deep)
    assert.are.equal(20, res.output.idx)
    assert.are.equal("zero", res.output.digit)
    assert.are.equal("first", res.output.digit_arr)
    assert.are.same({ k = { 1, 2 } }, res.output.whole)
    assert.is_true(gavel.is_array(res.output.whole.k))
    assert.are.equal(4, res.output.n)
    assert.are.equal(3.5, res.output.wild)
    assert.are.equal("dflt", res.output.missing)
  end)

  it("treats a scalar where a table is expected as a missing path", function()
    local rs = assert(gavel.load(outputs({ { "x", "coalesce(a.b, 7)" } })))
    assert.are.equal(7, rs:run({ a = "str" }).output.x)
    assert.are.equal(7, rs:run({ a = { 1, 2 } }).output.x)
    assert.are.equal(7, rs:run({}).output.x)
  end)

  it("keeps int and float apart", function()
    local rs = assert(gavel.load(outputs({
      { "t", "type(x)" }, { "y", { Field = "x" } },
    })))
    assert.are.equal("int", rs:run({ x = 3 }).output.t)
    assert.are.equal("float", rs:run({ x = 3.5 }).output.t)
    assert.are.equal("float", rs:run({ x = gavel.float(3) }).output.t)
    assert.are.equal("int", rs:run({ x = 2^53 }).output.t)
    assert.are.equal("float", rs:run({ x = 2^53 + 2 }).output.t)
    assert.are.equal("int", rs:run({ x = 12345678901234567LL }).output.t)
    local res = rs:run({ x = 12345678901234567LL }, { int64 = true })
    assert.are.equal(12345678901234567LL, res.output.y)
    assert.are.equal("float", rs:run('{"x": 3.0}').output.t)
    assert.are.equal(3, rs:run('{"x": 3.0}').output.y)
    assert.are.equal("bool", rs:run({ x = false }).output.t)
  end)

  it("tells an empty array from an empty object", function()
    local rs = assert(gavel.load(outputs({
      { "t", "type(x)" }, { "y", { Field = "x" } },
    })))
    local res = rs:run({ x = gavel.array() })
    assert.are.equal("array", res.output.t)
    assert.is_true(gavel.is_array(res.output.y))
    res = rs:run({ x = gavel.empty_array })
    assert.are.equal("array", res.output.t)
    res = rs:run({ x = {} })
    assert.are.equal("object", res.output.t)
    assert.is_false(gavel.is_array(res.output.y))
    assert.are.equal("[]", gavel.json.encode(rs:run('{"x": []}').output.y))
    assert.are.equal("{}", gavel.json.encode(rs:run('{"x": {}}').output.y))
  end)

  it("returns JSON null as gavel.null", function()
    local rs = assert(gavel.load(outputs({ { "y", { Field = "x" } } })))
    assert.are.equal(gavel.null, rs:run({ x = gavel.null }).output.y)
    assert.are.equal(gavel.null, rs:run('{"x": null}').output.y)
    local ok, cjson = pcall(require, "cjson")
    if ok then assert.are.equal(cjson.null, gavel.null) end
  end)

  it("handles large inputs", function()
    local rs = assert(gavel.load(outputs({
      { "n", "len(rows)" }, { "s", "sum(map_extract(rows, \"v\"))" },
    })))
    local rows = {}
    for i = 1, 100000 do rows[i] = { v = i, name = "row-" .. i } end
    local res = assert(rs:run({ rows = rows, noise = rows }))
    assert.are.equal(100000, res.output.n)
    assert.are.equal(100000 * 100001 / 2, res.output.s)
  end)

  it("binds paths without converting the whole input", function()
    local rs = assert(gavel.load(outputs({ { "x", { Field = "a" } } })))
    assert.is_false(rs._plan.whole_root)
  end)

  it("generates a binder that reads only the referenced paths", function()
    local rs = assert(gavel.load(read("examples/loan.json")))
    local src = rs:binder_source()
    assert.matches('rawget(inp, "applicant")', src, 1, true)
    assert.is_nil(src:find("pairs"))
  end)
end)

describe("gavel.eval and gavel.compile", function()
  it("evaluates an expression against a table", function()
    assert.are.equal(52, gavel.eval("score * 0.6 + bonus * 0.4",
                                     { score = 80, bonus = 10 }))
  end)

  it("compiles once and evaluates many times", function()
    local e = assert(gavel.compile("age > 18"))
    assert.is_true(e:eval({ age = 20 }))
    assert.is_false(e:eval({ age = 3 }))
    assert.is_string(e:disasm())
  end)

  it("returns nil, err, code with the column of a compile error", function()
    local v, err, code = gavel.compile("age >")
    assert.is_nil(v)
    assert.are.equal("GAVEL_COMPILE", code)
    assert.matches("^1:6:", err)
  end)

  it("returns run-time errors as nil, err, code", function()
    local v, err, code = gavel.eval("a + 1", { a = "x" })
    assert.is_nil(v)
    assert.are.equal("GAVEL_RUNTIME", code)
    assert.is_string(err)
  end)

  it("accepts JSON text and returns strings, arrays and null", function()
    assert.are.equal("ab", gavel.eval('a + "b"', '{"a": "a"}'))
    local arr = gavel.eval("[1, 2.5, \"x\"]")
    assert.are.same({ 1, 2.5, "x" }, arr)
    assert.is_true(gavel.is_array(arr))
    assert.are.equal(gavel.null, gavel.eval("null"))
  end)

  it("reads a JSON text context as the engine does (issue 13)", function()
    -- no Lua table in between: 0.0 stays a float, -0 is -0.0, keys keep
    -- their order, errors are the engine's JSON errors
    assert.are.equal("float", gavel.eval("type(x)", '{"x": 0.0}'))
    assert.are.equal("float", gavel.eval("type(x)", '{"x": -0}'))
    assert.are.equal("int", gavel.eval("type(x)", '{"x": 0}'))
    assert.are.equal('{"b":1,"a":2,"c":3}',
      gavel.eval("json_marshal(o)", '{"o": {"b": 1, "a": 2, "c": 3}}'))
    assert.are.equal("1e+16", gavel.eval("json_marshal(x)", '{"x": 1e16}'))
    local v, err, code = gavel.eval("x", '{"x": ')
    assert.is_nil(v)
    assert.truthy(err:find("invalid JSON at byte 6", 1, true))
    assert.are.equal("GAVEL_JSON", code)
  end)

  it("raises on misuse", function()
    assert.has_error(function() gavel.eval(1) end)
    assert.has_error(function() gavel.compile({}) end)
    assert.has_error(function() gavel.eval("1", 5) end)
  end)

  it("does not grow memory over many evaluations", function()
    local e = assert(gavel.compile('name + "-" + to_string(n)'))
    for i = 1, 20000 do e:eval({ name = "x", n = i }) end
    collectgarbage()
    local before = collectgarbage("count")
    for i = 1, 100000 do e:eval({ name = "x", n = i }) end
    collectgarbage()
    assert.is_true(collectgarbage("count") < before + 512)
  end)
end)

describe("gavel.json", function()
  it("round-trips values with the engine's reader and writer", function()
    local t = gavel.json.decode('{"a":[1,2.5,"x",null,true],"b":{}}')
    assert.are.equal(gavel.null, t.a[4])
    assert.are.equal('[1,2.5,"x",null,true]', gavel.json.encode(t.a))
    assert.are.equal('{}', gavel.json.encode(t.b))
  end)
end)
