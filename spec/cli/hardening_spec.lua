-- hardening_spec.lua -- the gavel executable under hostile input (issue 8):
-- reads stop at the input limit, batch answers every line in its place,
-- check fails on every failed load, blank lines are answered, '--' ends
-- the options, output and audit write errors fail the command, and the
-- --max-* host ceilings are parsed strictly.  Every test runs the built
-- binary; the /dev/zero ones run under a memory ulimit so that a
-- regression fails instead of eating the machine.

local build = os.getenv("GAVEL_BUILD_DIR") or "build"
local GAVEL = build .. "/gavel"
local RULES = "examples/discount.json"
local LIMIT = 64 * 1024 * 1024 -- the default max_input_bytes
local ULIMIT = "ulimit -v 1000000; " -- 1 GB: reading /dev/zero whole needs more

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- sh(cmd) -> stdout, stderr, exit code of a shell command line
local function sh(cmd)
  local errf = os.tmpname()
  local p = assert(io.popen("( " .. cmd .. " ) 2>" .. errf .. "; echo \"::rc=$?\"", "r"))
  local out = p:read("*a"); p:close()
  local rc = tonumber(out:match("::rc=(%d+)%s*$"))
  out = out:gsub("::rc=%d+%s*$", "")
  local f = io.open(errf); local err = f:read("*a"); f:close(); os.remove(errf)
  return out, err, rc
end

-- gavel(args, stdin_text) -> stdout, stderr, rc
local function gavel(args, stdin)
  local parts = { GAVEL }
  for _, a in ipairs(args) do parts[#parts + 1] = q(a) end
  local cmd = table.concat(parts, " ")
  local inf
  if stdin then
    inf = os.tmpname()
    local f = assert(io.open(inf, "wb")); f:write(stdin); f:close()
    cmd = cmd .. " <" .. inf
  end
  local out, err, rc = sh(cmd)
  if inf then os.remove(inf) end
  return out, err, rc
end

local function tmpfile(content)
  local name = os.tmpname()
  local f = assert(io.open(name, "wb")); f:write(content); f:close()
  return name
end

local function lines(s)
  local t = {}
  for l in s:gmatch("([^\n]*)\n") do t[#t + 1] = l end
  return t
end

local function input_line()
  local f = assert(io.open("examples/discount.input.json"))
  local s = f:read("*a"); f:close()
  return (s:gsub("\n", ""))
end

local function has(s, needle) return s:find(needle, 1, true) ~= nil end

describe("gavel reads (item 9): never past the input limit", function()
  it("eval --context @/dev/zero stops at the limit and names it and the file", function()
    local out, err, rc = sh(ULIMIT .. q(GAVEL) .. " eval 1 --context @/dev/zero")
    assert.equal("", out); assert.equal(1, rc)
    assert.truthy(has(err, "Limit exceeded"), err)
    assert.truthy(has(err, "'/dev/zero'"), err)
    assert.truthy(has(err, tostring(LIMIT) .. " bytes"), err)
  end)

  it("run --input @/dev/zero and a /dev/zero ruleset, check /dev/zero", function()
    local out, err, rc = sh(ULIMIT .. q(GAVEL) .. " run " .. RULES .. " --input @/dev/zero")
    assert.equal(1, rc)
    assert.truthy(has(err, "Limit exceeded") and has(err, "'/dev/zero'"), err)
    out, err, rc = sh(ULIMIT .. q(GAVEL) .. " run /dev/zero")
    assert.equal(1, rc)
    assert.truthy(has(out, '"kind":"limit"') and has(out, "Limit exceeded"), out .. err)
    out, err, rc = sh(ULIMIT .. q(GAVEL) .. " check /dev/zero")
    assert.equal(1, rc)
    assert.truthy(has(out, "/dev/zero: error: Limit exceeded"), out .. err)
  end)

  it("--max-input-bytes sets the limit: at it accepted, one byte over refused", function()
    local at = tmpfile('{"a":1' .. string.rep(" ", 93) .. "}") -- 100 bytes
    local over = tmpfile('{"a":1' .. string.rep(" ", 94) .. "}") -- 101 bytes
    local out, _, rc = gavel({ "eval", "a", "--context", "@" .. at, "--max-input-bytes", "100" })
    assert.equal("1\n", out); assert.equal(0, rc)
    local _, err, rc2 = gavel({ "eval", "a", "--context", "@" .. over, "--max-input-bytes", "100" })
    os.remove(at); os.remove(over)
    assert.equal(1, rc2)
    assert.truthy(has(err, "input limit of 100 bytes (--max-input-bytes)"), err)
    -- the largest value does not wrap to a zero-byte limit
    out, err, rc = gavel({ "eval", "customer.vip", "--context", "@examples/discount.input.json",
                           "--max-input-bytes", "18446744073709551615" })
    assert.equal("true\n", out, err); assert.equal(0, rc)
  end)

  it("a line of exactly the limit is read, one byte more is not", function()
    local out, _, rc = gavel({ "eval", "--jsonl", "--max-input-bytes", "12" },
                             '{"expr":"1"}\n{"expr":"12"}\n{"expr":"3"}')
    assert.equal(0, rc)
    local l = lines(out)
    assert.equal(3, #l)
    assert.equal('{"value":1}', l[1])
    assert.truthy(has(l[2], "input line 2 (13 bytes) is larger than the input limit of 12 bytes"), l[2])
    assert.equal('{"value":3}', l[3])
  end)

  it("eval --jsonl: an endless line on stdin is one limit error line, in bounded memory", function()
    local out, err, rc = sh(ULIMIT .. "head -c 70000000 /dev/zero | " .. q(GAVEL) .. " eval --jsonl")
    assert.equal(0, rc, err)
    local l = lines(out)
    assert.equal(1, #l)
    assert.truthy(has(l[1], '"kind":"limit"') and has(l[1], "input line 1 (70000000 bytes)"), l[1])
  end)
end)

describe("gavel batch (item 12): one result per input line, always", function()
  it("a valid 3 MB line is one line, later results stay aligned", function()
    local small = input_line()
    local big = '{"customer":{"vip":false},"order":{"total":50,"coupons":[],"items":[]},"pad":"'
      .. string.rep("x", 3000000) .. '"}'
    local f = tmpfile(small .. "\n" .. big .. "\n" .. small .. "\n")
    local out, _, rc = gavel({ "batch", RULES, "--input", f, "--jobs", "2" })
    os.remove(f)
    assert.equal(0, rc)
    local l = lines(out)
    assert.equal(3, #l)
    assert.truthy(l[1]:find('^{"code":"DISCOUNT"'))
    assert.truthy(l[2]:find('^{"code":"NONE"'), l[2]:sub(1, 200))
    assert.truthy(l[3]:find('^{"code":"DISCOUNT"'))
  end)

  it("a line over the limit gets its own error line naming the limit", function()
    local small = input_line()
    local f = tmpfile(small .. "\n" .. string.rep("y", 300000) .. "\n" .. small .. "\r\n")
    local out, _, rc = gavel({ "batch", RULES, "--input", f, "--max-input-bytes", "100000" })
    os.remove(f)
    assert.equal(0, rc)
    local l = lines(out)
    assert.equal(3, #l)
    assert.truthy(l[1]:find('^{"code":"DISCOUNT"'))
    assert.equal('{"error":{"kind":"limit","message":"Limit exceeded: input line 2 (300000 bytes) '
      .. 'is larger than the input limit of 100000 bytes (--max-input-bytes)"}}', l[2])
    assert.truthy(l[3]:find('^{"code":"DISCOUNT"'))
  end)

  it("a 70 MB line on stdin (default limit) is skipped without being buffered", function()
    local small = input_line()
    local cmd = ULIMIT .. "{ echo " .. q(small) .. "; head -c 70000000 /dev/zero; echo; echo "
      .. q(small) .. "; } | " .. q(GAVEL) .. " batch " .. RULES .. " --jobs 2"
    local out, err, rc = sh(cmd)
    assert.equal(0, rc, err)
    local l = lines(out)
    assert.equal(3, #l)
    assert.truthy(l[1]:find('^{"code":"DISCOUNT"'))
    assert.truthy(has(l[2], "input line 2 (70000000 bytes)") and has(l[2], tostring(LIMIT)), l[2])
    assert.truthy(l[3]:find('^{"code":"DISCOUNT"'))
  end)
end)

describe("gavel check (item 13): a failed load is never ok", function()
  it("a document over 64 MiB: error naming the limit, exit 1", function()
    local f = os.tmpname()
    assert.equal(0, select(3, sh("truncate -s 65M " .. q(f))))
    local out, _, rc = gavel({ "check", f })
    os.remove(f)
    assert.equal(1, rc)
    assert.falsy(has(out, ": ok"))
    assert.truthy(has(out, "Limit exceeded") and has(out, tostring(LIMIT)), out)
  end)

  it("a load error is printed once, not twice", function()
    local f = tmpfile('{"config": {"name": "x"}, "steps": ')
    local out, _, rc = gavel({ "check", f })
    os.remove(f)
    assert.equal(1, rc)
    local l = lines(out)
    assert.equal(1, #l, out)
    assert.truthy(has(l[1], ": error: "))
  end)

  it("run and batch say why a ruleset did not load", function()
    local _, err, rc = gavel({ "batch", RULES, "--max-input-bytes", "1000" }, "")
    assert.equal(1, rc)
    assert.truthy(has(err, "Limit exceeded") and has(err, "discount.json"), err)
  end)
end)

describe("blank lines (item 15): eval --jsonl and batch answer them in place", function()
  it("eval --jsonl", function()
    local out, _, rc = gavel({ "eval", "--jsonl" }, '{"expr":"1"}\n\n{"expr":"2"}\r\n')
    assert.equal(0, rc)
    assert.equal('{"value":1}\n{"error":{"kind":"input","message":"empty input line"}}\n'
      .. '{"value":2}\n', out)
  end)

  it("batch, the same error in the same place", function()
    local s = input_line()
    local out, _, rc = gavel({ "batch", RULES }, s .. "\n\n" .. s .. "\n\r\n")
    assert.equal(0, rc)
    local l = lines(out)
    assert.equal(4, #l)
    assert.equal('{"error":{"kind":"input","message":"empty input line"}}', l[2])
    assert.equal('{"error":{"kind":"input","message":"empty input line"}}', l[4])
  end)
end)

describe("options and output errors (item 16)", function()
  it("'--' ends the options: eval -- -1, disasm -- -1", function()
    local out, err, rc = gavel({ "eval", "--", "-1" })
    assert.equal("-1\n", out); assert.equal(0, rc, err)
    out, err, rc = gavel({ "eval", "--", "--x", "--context", '{"--x": 1}' })
    assert.equal(2, rc) -- after '--' everything is an operand: two expressions
    out, _, rc = gavel({ "disasm", "--", "-1" })
    assert.equal(0, rc); assert.truthy(#out > 0)
  end)

  it("stdout on a full disk: message with the reason, exit 1", function()
    local _, err, rc = sh(q(GAVEL) .. " eval 1 >/dev/full")
    assert.equal(1, rc)
    assert.equal("error: io: cannot write standard output: No space left on device\n", err)
    _, err, rc = sh(q(GAVEL) .. " run " .. RULES .. " --input @examples/discount.input.json >/dev/full")
    assert.equal(1, rc)
    assert.truthy(has(err, "No space left on device"), err)
  end)

  it("batch --output /dev/full names the file, exit 1", function()
    local _, err, rc = gavel({ "batch", RULES, "--output", "/dev/full" }, input_line() .. "\n")
    assert.equal(1, rc)
    assert.truthy(has(err, "error: io: cannot write '/dev/full': No space left on device"), err)
  end)

  it("batch --audit /dev/full: the lost lines fail the run", function()
    local s = input_line()
    local out, err, rc = gavel({ "batch", RULES, "--audit", "/dev/full" }, s .. "\n" .. s .. "\n")
    assert.equal(1, rc)
    assert.equal(2, #lines(out))
    assert.truthy(has(err, "audit.logger: 2 lines lost writing '/dev/full': No space left on device"), err)
  end)

  it("an audit log that cannot be synced (a pipe) is not a failure", function()
    local out, err, rc = sh(q(GAVEL) .. " run " .. RULES
      .. " --input @examples/discount.input.json --audit /dev/stderr 2>&1 | cat")
    assert.equal(0, rc, err)
    assert.truthy(has(out, '"event":"rule_executed"'), out)
    assert.falsy(has(out, "lost"), out)
  end)
end)

describe("host ceilings (item 8): --max-* options", function()
  local opts = { "--max-gas", "--max-steps", "--max-timeout-ms", "--max-run-bytes",
                 "--max-result-bytes", "--max-call-bytes", "--max-input-bytes" }

  it("are accepted by eval, run, batch and check", function()
    for _, o in ipairs(opts) do
      local out, err, rc = gavel({ "eval", o, "1000000", "1 + 2" })
      assert.equal("3\n", out, o .. ": " .. err); assert.equal(0, rc)
      out, err, rc = gavel({ "run", RULES, o, "1000000", "--input", "@examples/discount.input.json" })
      assert.equal(0, rc, o .. ": " .. out .. err)
      out, err, rc = gavel({ "check", o, "1000000", RULES })
      assert.equal(0, rc, o .. ": " .. out .. err)
      out, err, rc = gavel({ "batch", RULES, o, "1000000" }, input_line() .. "\n")
      assert.equal(0, rc, o .. ": " .. err)
    end
  end)

  it("reject non-numbers, negatives, zero and overflow with a clear message", function()
    local cases = {
      { "--max-gas", "abc", "expected a positive integer, got 'abc'" },
      { "--max-gas", "-5", "expected a positive integer, got '-5'" },
      { "--max-steps", "10k", "expected a positive integer, got '10k'" },
      { "--max-run-bytes", "", "expected a positive integer, got ''" },
      { "--max-gas", "0", "must be at least 1" },
      { "--max-gas", "18446744073709551616", "is too large (max 18446744073709551615)" },
      { "--max-timeout-ms", "4294967296", "is too large (max 4294967295)" },
    }
    for _, c in ipairs(cases) do
      for _, cmd in ipairs({ { "eval", "1" }, { "run", RULES }, { "check", RULES },
                             { "batch", RULES } }) do
        local args = { cmd[1], cmd[2], c[1], c[2] }
        local out, err, rc = gavel(args, "")
        assert.equal(2, rc, table.concat(args, " "))
        assert.equal("", out)
        assert.truthy(err:find("^error: usage: " .. c[1]:gsub("%-", "%%-") .. ": "), err)
        assert.truthy(has(err, c[3]), err)
        assert.equal(1, #lines(err))
      end
    end
    local _, err, rc = gavel({ "eval", "1", "--max-gas" })
    assert.equal(2, rc); assert.truthy(has(err, "--max-gas needs a value"), err)
  end)

  it("are documented in --help", function()
    local out = gavel({ "--help" })
    for _, o in ipairs(opts) do assert.truthy(has(out, o), o) end
  end)
end)
