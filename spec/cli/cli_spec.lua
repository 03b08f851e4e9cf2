-- cli_spec.lua -- the gavel executable, driven as users drive it: eval,
-- eval --jsonl, disasm, run, check, batch, graph, --help, --version.
-- Exact stdout/stderr/exit codes; int/float compared on the raw text.

local build = os.getenv("GAVEL_BUILD_DIR") or "build"
local GAVEL = build .. "/gavel"

local function sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- run(args...) -> stdout, stderr, exit code
local function run(args, stdin)
  local parts = { GAVEL }
  for _, a in ipairs(args) do parts[#parts + 1] = sh_quote(a) end
  local errf = os.tmpname()
  local cmd = table.concat(parts, " ") .. " 2>" .. errf
  if stdin then
    local inf = os.tmpname()
    local f = assert(io.open(inf, "w")); f:write(stdin); f:close()
    cmd = cmd .. " <" .. inf
  end
  local p = assert(io.popen(cmd .. "; echo \"::rc=$?\"", "r"))
  local out = p:read("*a"); p:close()
  local rc = tonumber(out:match("::rc=(%d+)%s*$"))
  out = out:gsub("::rc=%d+%s*$", "")
  local f = io.open(errf); local err = f:read("*a"); f:close(); os.remove(errf)
  return out, err, rc
end

local function tmpfile(content)
  local name = os.tmpname()
  local f = assert(io.open(name, "w")); f:write(content); f:close()
  return name
end

describe("gavel eval", function()
  it("--jsonl refuses an EXPR or a --context it would ignore", function()
    local out, err, rc = run({ "eval", "--jsonl", "1 + 1" }, '{"expr": "2"}\n')
    assert.equal(2, rc)
    assert.equal("", out)
    assert.truthy(err:find("takes no EXPR and no --context", 1, true), err)
    out, err, rc = run({ "eval", "--jsonl", "--context", '{"x": 1}' }, '{"expr": "x"}\n')
    assert.equal(2, rc)
    assert.truthy(err:find("takes no EXPR and no --context", 1, true), err)
  end)

  it("prints the value as JSON and exits 0", function()
    local out, err, rc = run({ "eval", "score * 0.6 + bonus * 0.4",
                               "--context", '{"score": 80, "bonus": 10}' })
    assert.equal("52.0\n", out); assert.equal("", err); assert.equal(0, rc)
  end)

  it("keeps ints and floats apart", function()
    assert.equal("3\n", (run({ "eval", "1 + 2" })))
    assert.equal("3.0\n", (run({ "eval", "1.5 * 2" })))
    assert.equal("false\n", (run({ "eval", "1 == 1.0" })))
    assert.equal("true\n", (run({ "eval", "1 <= 1.0" })))
  end)

  it("reads the context from a file with @", function()
    local f = tmpfile('{"user": {"profile": {"level": "gold"}}}')
    local out, _, rc = run({ "eval", 'user.profile.level == "gold"', "--context", "@" .. f })
    os.remove(f)
    assert.equal("true\n", out); assert.equal(0, rc)
  end)

  it("reports parse errors with line:column and a caret on stderr, exit 1", function()
    local out, err, rc = run({ "eval", "age > " })
    assert.equal("", out); assert.equal(1, rc)
    assert.truthy(err:find("^error: parse: 1:7: expected operand after '>'"))
    assert.truthy(err:find("\n  age > \n        %^\n"))
  end)

  it("reports evaluation errors as one line starting error: eval:", function()
    local out, err, rc = run({ "eval", "missing + 1" })
    assert.equal("", out); assert.equal(1, rc)
    assert.equal("error: eval: Field not found: missing\n", err)
    local _, err2 = run({ "eval", "10 / 0" })
    assert.equal("error: eval: Evaluation error: Division by zero\n", err2)
  end)

  it("rejects a malformed context with its byte offset", function()
    local _, err, rc = run({ "eval", "a", "--context", '{"a": }' })
    assert.equal(1, rc)
    assert.truthy(err:find("byte 6", 1, true))
  end)

  it("--jsonl answers one line per input line, int/float preserved", function()
    local input = table.concat({
      '{"expr": "x + 1", "ctx": {"x": 2}}',
      '{"expr": "x + 1", "ctx": {"x": 2.0}}',
      '{"expr": "x +", "ctx": {}}',
      '{"expr": "nope"}',
      'not json',
      '{"expr": "coalesce(a, \\"d\\")", "ctx": null}',
    }, "\n") .. "\n"
    local out, _, rc = run({ "eval", "--jsonl" }, input)
    assert.equal(0, rc)
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.equal(6, #lines)
    assert.equal('{"value":3}', lines[1])
    assert.equal('{"value":3.0}', lines[2])
    assert.truthy(lines[3]:find('^{"error":{"kind":"parse","message":"1:4: expected operand'))
    assert.equal('{"error":{"kind":"eval","message":"Field not found: nope"}}', lines[4])
    assert.truthy(lines[5]:find('^{"error":{"kind":"input"'))
    assert.equal('{"value":"d"}', lines[6])
  end)

  it("--jsonl: a non-finite result is an eval error, as plain eval (issue 13)", function()
    local big = "1" .. string.rep("0", 309) .. ".0"
    local out, _, rc = run({ "eval", "--jsonl" },
      '{"expr": "' .. big .. '"}\n{"expr": "[1, ' .. big .. ']"}\n{"expr": "-0.0"}\n')
    assert.equal(0, rc)
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.equal(3, #lines)
    local want = '{"error":{"kind":"eval","message":"Evaluation error: the result ' ..
      'holds a non-finite float (inf or NaN has no JSON form)"}}'
    assert.equal(want, lines[1])
    assert.equal(want, lines[2])
    assert.equal('{"value":-0.0}', lines[3])
    local _, err, rc2 = run({ "eval", big })
    assert.equal(1, rc2)
    assert.truthy(err:find("non-finite float", 1, true))
  end)
end)

describe("gavel disasm", function()
  it("lists the fused superinstruction for a field compared with a constant", function()
    local out, _, rc = run({ "disasm", "age > 18" })
    assert.equal(0, rc)
    assert.truthy(out:find("GTSK     0 0 0  ; age vs 18", 1, true))
  end)
end)

describe("gavel --help and --version", function()
  it("prints usage and the version", function()
    local out, _, rc = run({ "--help" })
    assert.equal(0, rc); assert.truthy(out:find("eval EXPR [--context JSON|@file]", 1, true))
    local v = run({ "--version" })
    assert.truthy(v:match("^gavel %d+%.%d+%.%d+\n$"))
  end)

  it("gives every command its own --help (issue 10.5)", function()
    for _, cmd in ipairs({ "eval", "disasm", "run", "check", "batch", "graph", "test", "replay" }) do
      for _, flag in ipairs({ "--help", "-h" }) do
        local out, err, rc = run({ cmd, flag })
        assert.equal(0, rc, cmd .. " " .. flag .. ": " .. err)
        assert.equal("", err, cmd .. " " .. flag)
        assert.truthy(out:find("^usage: gavel " .. cmd .. " "), cmd .. " " .. flag .. ": " .. out)
      end
    end
    -- after '--' a --help is an argument again
    local out, _, rc = run({ "check", "--", "--help" })
    assert.equal(1, rc); assert.truthy(out:find("cannot read", 1, true))
  end)

  it("rejects an unknown command with exit 2", function()
    local _, err, rc = run({ "frobnicate" })
    assert.equal(2, rc); assert.truthy(err:find("unknown command", 1, true))
  end)
end)

describe("gavel run / check", function()
  it("runs the 4-branch example", function()
    local out, _, rc = run({ "run", "examples/score.json", "--input", '{"score": 95}' })
    assert.equal(0, rc)
    assert.equal('{"code":"HIGH","message":"high tier","output":{}}\n', out)
  end)

  it("adds the trace with --trace", function()
    local out = run({ "run", "examples/score.json", "--input", '{"score": 40}', "--trace" })
    assert.truthy(out:find('"trace":{"path":"s1 -> fail","steps":[{"id":"s1"', 1, true))
  end)

  it("prints a load error as JSON on stdout and exits 1", function()
    local f = tmpfile('{"config": {"name": "x"}, "steps": {"start": {"id": "start", ' ..
                      '"type": "decision", "branches": [{"condition": "a >", "next_step": "start"}]}}}')
    local out, _, rc = run({ "run", f, "--input", "{}" })
    os.remove(f)
    assert.equal(1, rc)
    assert.truthy(out:find('^{"error":{"kind":"load","message":"steps.start.branches%[0%].condition: 1:4: expected operand'))
  end)

  it("prints an execution error as JSON and exits 1", function()
    local out, _, rc = run({ "run", "examples/loan.json", "--input", '{"applicant": {}}' })
    assert.equal(1, rc)
    assert.equal('{"error":{"kind":"exec","message":"Field not found: applicant.age ' ..
                 '(at steps.decide.branches[0].condition, 1:15)"}}\n', out)
  end)

  it("resolves call_rule_set from --rulesets DIR", function()
    local dir = os.tmpname(); os.remove(dir); os.execute("mkdir -p " .. dir)
    local child = assert(io.open(dir .. "/child.json", "w"))
    child:write('{"config": {"name": "child"}, "steps": {"start": {"id": "start", "type": "terminal",' ..
                ' "result": {"code": "C", "output": {"twice": "x * 2"}}}}}')
    child:close()
    local parent = tmpfile('{"config": {"name": "p"}, "steps": {"start": {"id": "start", "type": "action",' ..
      ' "actions": [{"action": "call_rule_set", "ruleset_name": "child", "result_variable": "r"}],' ..
      ' "next_step": "t"}, "t": {"id": "t", "type": "terminal", "result": {"code": "P",' ..
      ' "output": {"child": "$r.output.twice"}}}}}')
    local out, _, rc = run({ "run", parent, "--input", '{"x": 21}', "--rulesets", dir })
    os.remove(parent); os.execute("rm -rf " .. dir)
    assert.equal(0, rc)
    assert.equal('{"code":"P","message":"","output":{"child":42}}\n', out)
    local out2, _, rc2 = run({ "run", "examples/score.json" })
    assert.equal(0, rc2) -- no input: JSON null, every path missing, lenient
    assert.equal('{"code":"FAIL","message":"failed","output":{}}\n', out2)
  end)

  it("check lists every problem with its path and exits 1", function()
    local f = tmpfile('{"config": {"name": "x", "entry_step": "nope", "bogus": 1}, "steps": ' ..
      '{"a": {"id": "a", "type": "decision", "branches": [{"condition": "len(x, 2)", "next_step": "zz"}]}}}')
    local out, _, rc = run({ "check", f })
    os.remove(f)
    assert.equal(1, rc)
    assert.truthy(out:find("warning: config.bogus: unknown field `bogus` (ignored)", 1, true))
    assert.truthy(out:find("error: steps.a.branches[0].condition: 1:1: Function len argument error", 1, true))
    assert.truthy(out:find("error: steps.a.branches[0].next_step: Step 'a' references non-existent step 'zz'", 1, true))
    assert.truthy(out:find("error: config.entry_step: Entry step 'nope' not found", 1, true))
    local ok, _, rc2 = run({ "check", "examples/score.json", "examples/discount.json" })
    assert.equal(0, rc2)
    assert.truthy(ok:find("examples/discount.json: ok", 1, true))
  end)

  it("check reports a dangling next_step once, not also as a cycle (issue 10.5)", function()
    local f = tmpfile('{"config": {"name": "d", "entry_step": "a"}, "steps": {' ..
      '"a": {"id": "a", "type": "action", "actions": [], "next_step": "b"},' ..
      '"b": {"id": "b", "type": "action", "actions": [], "next_step": "nope"},' ..
      '"t": {"id": "t", "type": "terminal", "result": {"code": "OK"}}}}')
    local out, _, rc = run({ "check", f })
    os.remove(f)
    assert.equal(1, rc)
    assert.truthy(out:find("error: steps.b.next_step: Step 'b' references non-existent step 'nope'", 1, true))
    assert.falsy(out:find("can never reach", 1, true))
    -- a real cycle without exit is still reported
    local g = tmpfile('{"config": {"name": "c", "entry_step": "a"}, "steps": {' ..
      '"a": {"id": "a", "type": "action", "actions": [], "next_step": "a"},' ..
      '"t": {"id": "t", "type": "terminal", "result": {"code": "OK"}}}}')
    local out2, _, rc3 = run({ "check", g })
    os.remove(g)
    assert.equal(1, rc3)
    assert.truthy(out2:find("step 'a' can never reach a terminal step", 1, true))
  end)

  it("a 'not granted' error says how to grant (issue 10.9)", function()
    local f = tmpfile('{"config": {"name": "g"}, "steps": {"start": {"id": "start", "type": "action",' ..
      ' "actions": [{"action": "external_call", "service": "network.http", "method": "GET",' ..
      ' "params": [["url", "\'http://127.0.0.1:19111/\'"]], "result_variable": "r"}],' ..
      ' "next_step": "t"}, "t": {"id": "t", "type": "terminal", "result": {"code": "OK"}}}}')
    local out, _, rc = run({ "check", f, "--grant", "audit.logger" })
    assert.equal(1, rc)
    assert.truthy(out:find("steps.start.actions[0].service: capability 'network.http' is not granted " ..
                           "to this ruleset (grant it: '--grant network.http' on the command line", 1, true), out)
    local ok, _, rc2 = run({ "check", f, "--grant", "network.http" })
    os.remove(f)
    assert.equal(0, rc2, ok)
  end)

  it("check reports each error of a cycle once", function()
    local f = tmpfile('{"config": {"name": "cy", "entry_step": "a"}, "steps": {' ..
      '"a": {"id": "a", "type": "action", "actions": [], "next_step": "b"},' ..
      '"b": {"id": "b", "type": "action", "actions": [], "next_step": "a"},' ..
      '"t": {"id": "t", "type": "terminal", "result": {"code": "OK"}}}}')
    local out, _, rc = run({ "check", f })
    os.remove(f)
    assert.equal(1, rc)
    local _, na = out:gsub("step 'a' can never reach", "")
    local _, nb = out:gsub("step 'b' can never reach", "")
    assert.equal(1, na, out)
    assert.equal(1, nb, out)
  end)

  it("check warns when max_depth is below the shortest run and when a key and its id differ", function()
    local f = tmpfile('{"config": {"name": "md", "entry_step": "a", "max_depth": 2}, "steps": {' ..
      '"a": {"id": "a", "type": "action", "actions": [], "next_step": "b"},' ..
      '"b": {"id": "b", "type": "action", "actions": [], "next_step": "t"},' ..
      '"t": {"id": "x", "type": "terminal", "result": {"code": "OK"}}}}')
    local out, _, rc = run({ "check", f })
    assert.equal(0, rc, out)
    assert.truthy(out:find("warning: config.max_depth: max_depth 2 is below the shortest run to a " ..
                           "terminal step (3 steps): every run fails", 1, true), out)
    assert.truthy(out:find("warning: steps.t.id: step 't' has the id 'x'", 1, true), out)
    -- what the warning foretells
    local rout = run({ "run", f, "--input", "{}" })
    assert.truthy(rout:find("Max execution depth exceeded: 2", 1, true), rout)
    os.remove(f)
    -- a max_depth the shortest run fits in: no warning
    local g = tmpfile('{"config": {"name": "md", "entry_step": "a", "max_depth": 2}, "steps": {' ..
      '"a": {"id": "a", "type": "decision", "branches": [{"condition": "x > 1", "next_step": "b"}],' ..
      ' "default_next": "t"},' ..
      '"b": {"id": "b", "type": "action", "actions": [], "next_step": "t"},' ..
      '"t": {"id": "t", "type": "terminal", "result": {"code": "OK"}}}}')
    local out2, _, rc2 = run({ "check", g })
    os.remove(g)
    assert.equal(0, rc2)
    assert.equal(g .. ": ok\n", out2)
  end)

  it("refuses an option given twice instead of keeping the last", function()
    local _, err, rc = run({ "run", "examples/score.json", "--input", '{"score": 1}',
                             "--input", '{"score": 99}' })
    assert.equal(2, rc)
    assert.truthy(err:find("--input given twice", 1, true), err)
    _, err, rc = run({ "eval", "x", "--context", '{"x": 1}', "--context", '{"x": 2}' })
    assert.equal(2, rc)
    assert.truthy(err:find("--context given twice", 1, true), err)
    _, err, rc = run({ "batch", "examples/score.json", "--input", "a", "--input", "b" })
    assert.equal(2, rc)
    assert.truthy(err:find("--input given twice", 1, true), err)
  end)

  it("check still passes the examples", function()
    local ok, _, rc2 = run({ "check", "examples/score.json", "examples/discount.json" })
    assert.equal(0, rc2)
    assert.truthy(ok:find("examples/discount.json: ok", 1, true))
  end)
end)

describe("gavel batch", function()
  local function gen(n)
    local t = {}
    for i = 1, n do t[i] = string.format('{"score": %d}', (i * 37) % 101) end
    t[#t + 1] = '{"score": oops}'
    t[#t + 1] = '{"score": 100}'
    return table.concat(t, "\n") .. "\n"
  end

  it("writes one line per input line in input order, errors included", function()
    local input = tmpfile(gen(20000))
    local o1, o2 = os.tmpname(), os.tmpname()
    local _, err, rc = run({ "batch", "examples/score.json", "--input", input, "--output", o1, "--jobs", "2" })
    assert.equal(0, rc)
    assert.truthy(err:find("batch: 20002 lines", 1, true))
    assert.truthy(err:find("errors=1", 1, true))
    run({ "batch", "examples/score.json", "--input", input, "--output", o2, "--jobs", "1" })
    local a = io.open(o1):read("*a"); local b = io.open(o2):read("*a")
    assert.equal(a, b) -- same bytes whatever the parallelism
    local lines = {}
    for l in a:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.equal(20002, #lines)
    -- line i carries score (i*37)%101: check a few against the rule
    for _, i in ipairs({ 1, 2, 3, 500, 19999 }) do
      local s = (i * 37) % 101
      local code = s >= 90 and "HIGH" or s >= 70 and "MID" or s >= 50 and "LOW" or "FAIL"
      assert.truthy(lines[i]:find('"code":"' .. code .. '"', 1, true), "line " .. i)
    end
    assert.truthy(lines[20001]:find('^{"error":{"kind":"input"'))
    assert.equal('{"code":"HIGH","message":"high tier","output":{}}', lines[20002])
    os.remove(input); os.remove(o1); os.remove(o2)
  end)
end)

describe("gavel batch --audit / --metrics (issue 10.8)", function()
  it("logs every run (group commit: all lines are there at exit, digests right)", function()
    local t = {}
    for i = 1, 3000 do t[i] = string.format('{"score": %d}', i % 101) end
    local input, res, audit, prom = tmpfile(table.concat(t, "\n") .. "\n"), os.tmpname(),
                                   os.tmpname(), os.tmpname()
    local _, err, rc = run({ "batch", "examples/score.json", "--input", input, "--output", res,
                             "--audit", audit, "--metrics", prom })
    assert.equal(0, rc, err)
    local n, first = 0, nil
    for l in io.lines(audit) do
      n = n + 1
      first = first or l
      assert.truthy(l:find('^{"ts":"%d%d%d%d%-%d%d%-%d%dT[%d:.]+Z","event":"rule_executed"'), l)
    end
    assert.equal(3000, n)
    -- the digest is of the input line as read
    local p = io.popen("printf '%s' '" .. t[1] .. "' | sha256sum")
    local sum = p:read("*l"):match("^(%x+)"); p:close()
    local seen = false
    for l in io.lines(audit) do
      if l:find('"trace_id":', 1, true) and l:find(sum, 1, true) then seen = true end
    end
    assert.is_true(seen)
    local m = io.open(prom):read("*a")
    assert.truthy(m:find('gavel_runs_total{code="HIGH",ruleset="score"} 319', 1, true), m)
    assert.truthy(m:find('gavel_run_duration_seconds_count{ruleset="score"} 3000', 1, true), m)
    os.remove(input); os.remove(res); os.remove(audit); os.remove(prom)
  end)
end)

describe("gavel graph", function()
  it("writes DOT with edges labelled by their conditions", function()
    local out, _, rc = run({ "graph", "examples/score.json" })
    assert.equal(0, rc)
    assert.truthy(out:find('^digraph "score" {'))
    assert.truthy(out:find('"g0_s1" -> "g0_high" [label="#1 score >= 90"];', 1, true))
    assert.truthy(out:find('"g0_s1" -> "g0_fail" [label="#4 default"];', 1, true))
  end)

  -- issue 10.6: one decision, two branches to the same step
  local same = '{"config": {"name": "same", "entry_step": "d"}, "steps": {' ..
    '"d": {"id": "d", "type": "decision", "branches": [' ..
    '{"condition": "x > 10", "next_step": "a"}, {"condition": "x > 5", "next_step": "a"},' ..
    '{"condition": {"Binary": {"op": "And", "left": {"Binary": {"op": "Gt", "left": {"Field": "x"},' ..
    ' "right": {"Literal": 2}}}, "right": {"Call": {"name": "object_get", "args": [{"Field": "o"},' ..
    ' {"Literal": "k"}, {"Literal": "z"}]}}}}, "next_step": "b"},' ..
    '{"condition": "x == 1 && y == \'a very long condition that goes on and on and on for ever and ever and ever and ever\'", "next_step": "b"}],' ..
    ' "default_next": "b"},' ..
    '"a": {"id": "a", "type": "terminal", "result": {"code": "A"}},' ..
    '"b": {"id": "b", "type": "terminal", "result": {"code": "B"}}}}'

  it("labels branches in order, AST conditions as text, long ones cut with an ellipsis", function()
    local f = tmpfile(same)
    local out, _, rc = run({ "graph", f })
    os.remove(f)
    assert.equal(0, rc)
    assert.truthy(out:find('"g0_d" -> "g0_a" [label="#1 x > 10"];', 1, true), out)
    assert.truthy(out:find('"g0_d" -> "g0_a" [label="#2 x > 5"];', 1, true), out)
    assert.truthy(out:find('[label="#3 x > 2 && object_get(o, \\"k\\", \\"z\\")"]', 1, true), out)
    assert.truthy(out:find('[label="#4 x == 1 && y == \'a very long condition that\\ngoes on and on and on for ever and ever\226\128\166"]', 1, true), out)
    assert.truthy(out:find('"g0_d" -> "g0_b" [label="#5 default"];', 1, true), out)
    assert.falsy(out:find("#3 condition", 1, true))
  end)

  it("counts each branch, not the target step's total (issue 10.6)", function()
    local f = tmpfile(same)
    local input = tmpfile('{"x": 20}\n{"x": 15}\n{"x": 7}\n{"x": 0}\n')
    local res = os.tmpname()
    local _, _, brc = run({ "batch", f, "--input", input, "--output", res, "--trace", "--jobs", "1" })
    assert.equal(0, brc)
    local traced = io.open(res):read("*a")
    assert.truthy(traced:find('{"id":"d","name":"d","branch":0,', 1, true), traced)
    assert.truthy(traced:find('{"id":"d","name":"d","branch":"default",', 1, true), traced)
    local out = run({ "graph", f, "--counts", res })
    os.remove(f); os.remove(input); os.remove(res)
    assert.truthy(out:find('[label="#1 x > 10\\n(2)"]', 1, true), out)
    assert.truthy(out:find('[label="#2 x > 5\\n(1)"]', 1, true), out)
    assert.truthy(out:find('[label="#5 default\\n(1)"]', 1, true), out)
    assert.truthy(out:find('label="a\\nA\\n3 runs"', 1, true), out)
  end)

  it("renders the loan example with Graphviz", function()
    if os.execute("command -v dot >/dev/null 2>&1") ~= 0 and
       os.execute("command -v dot >/dev/null 2>&1") ~= true then
      io.stderr:write("graph render: dot (graphviz) not installed, skipped\n")
      return
    end
    local dotf, png, svg = os.tmpname(), os.tmpname() .. ".png", os.tmpname() .. ".svg"
    local _, _, rc = run({ "graph", "examples/loan.json" })
    assert.equal(0, rc)
    assert.truthy(os.execute(GAVEL .. " graph examples/loan.json >" .. dotf .. " && dot -Tpng " ..
                             dotf .. " -o " .. png .. " && dot -Tsvg " .. dotf .. " -o " .. svg))
    local p = io.open(png, "rb"):read("*a")
    assert.equal("\137PNG", p:sub(1, 4))
    assert.truthy(#p > 20000)
    local v = io.open(svg):read("*a")
    os.remove(dotf); os.remove(png); os.remove(svg)
    -- every branch drawn, in order, the long ones distinguishable
    for i = 1, 19 do assert.truthy(v:find(">#" .. i .. " ", 1, true), "#" .. i) end
    assert.truthy(v:find(">#20 default<", 1, true))
    assert.truthy(v:find(">#14 applicant.credit.score &gt;= 780 &amp;&amp;<", 1, true), v)
    assert.truthy(v:find(">#15 applicant.credit.score &gt;= 740 &amp;&amp;<", 1, true))
  end)

  it("annotates branch counts from a batch --trace file", function()
    local input = tmpfile('{"score": 95}\n{"score": 75}\n{"score": 72}\n{"score": 10}\n')
    local res = os.tmpname()
    run({ "batch", "examples/score.json", "--input", input, "--output", res, "--trace" })
    local out = run({ "graph", "examples/score.json", "--counts", res })
    os.remove(input); os.remove(res)
    assert.truthy(out:find('"g0_s1" -> "g0_mid" [label="#2 score >= 70\\n(2)"];', 1, true))
    assert.truthy(out:find('"g0_s1" -> "g0_high" [label="#1 score >= 90\\n(1)"];', 1, true))
    assert.truthy(out:find('label="4 runs, 0 errors"', 1, true))
  end)

  it("says which --counts lines it could not use instead of drawing zeros", function()
    local input = tmpfile('{"score": 95}\n{"score": 75}\n')
    local res = os.tmpname()
    run({ "batch", "examples/score.json", "--input", input, "--output", res, "--trace" })
    -- the right file: counted, nothing to say
    local out, err, rc = run({ "graph", "examples/score.json", "--counts", res })
    assert.equal(0, rc)
    assert.equal("", err)
    assert.truthy(out:find('label="2 runs, 0 errors"', 1, true), out)
    -- the input file instead of the results
    out, err, rc = run({ "graph", "examples/score.json", "--counts", input })
    assert.equal(0, rc)
    assert.truthy(out:find('label="0 runs, 0 errors"', 1, true), out)
    assert.equal("warning: counts: '" .. input .. "': 0 results counted; 2 lines"
      .. ' are not a result (no "code", "error" or "trace"; first at line 1)\n', err)
    -- another ruleset's traced results
    _, err = run({ "graph", "examples/loan.json", "--counts", res })
    assert.truthy(err:find("0 results counted; 2 traces name no step of this"
      .. " ruleset (first at line 1: another ruleset's results?)", 1, true), err)
    -- results without traces whose codes this ruleset never returns,
    -- after a line that is not JSON
    local mixed = tmpfile('not json\n{"code":"HIGH","message":"m","output":{}}\n'
      .. '{"code":"NOPE","message":"m","output":{}}\n')
    out, err = run({ "graph", "examples/score.json", "--counts", mixed })
    assert.truthy(out:find('label="2 runs, 0 errors"', 1, true), out)
    assert.truthy(err:find("': 1 result counted; 1 line is not a result", 1, true), err)
    assert.truthy(err:find("1 result without a trace has a code no terminal of"
      .. " this ruleset returns (first at line 3), counted at no terminal", 1, true), err)
    os.remove(input); os.remove(res); os.remove(mixed)
  end)
end)

describe("gavel run --provider", function()
  local prov = tmpfile([[
local gavel = require "gavel"
gavel.providers.register("demo.echo", function(op, params) return params end)
gavel.providers.register("network.http", function(op, params)
  return { status = 200, method = op, url = params.url }
end)
]])
  local function rules(service)
    return tmpfile('{"config": {"name": "p"}, "steps": {"start": {"id": "start", "type": "action",' ..
      ' "actions": [{"action": "external_call", "service": "' .. service .. '", "method": "POST",' ..
      ' "params": [["url", "u"]], "result_variable": "r"}], "next_step": "t"},' ..
      ' "t": {"id": "t", "type": "terminal", "result": {"code": "OK", "output": {"p": "$r.payload"}}}}}')
  end

  it("grants what the provider file registers, including a replaced built-in", function()
    for _, svc in ipairs({ "demo.echo", "network.http" }) do
      local f = rules(svc)
      local out, _, rc = run({ "run", f, "--input", '{"u": "x"}', "--provider", prov })
      assert.equal(0, rc, out)
      assert.truthy(out:find('"code":"OK"', 1, true), out)
      local denied, _, rc2 = run({ "run", f, "--input", '{"u": "x"}' })
      assert.equal(1, rc2)
      assert.truthy(denied:find('"kind":"load"', 1, true), denied)
      os.remove(f)
    end
  end)

  it("refuses a 65th --provider, --grant or --allow-http instead of dropping it", function()
    -- a dropped --provider left the built-in serving in its place
    for _, opt in ipairs({ "--provider", "--grant", "--allow-http" }) do
      local args = { "run", "examples/score.json", "--input", '{"score": 1}' }
      for i = 1, 65 do args[#args + 1] = opt; args[#args + 1] = prov end
      local _, err, rc = run(args)
      assert.equal(2, rc, err)
      assert.truthy(err:find("more than 64 " .. opt .. " options", 1, true), err)
    end
  end)
end)
