-- spec/lua/jit_spec.lua -- gavel.load(..., { jit = ... }): the JIT tier
-- gives the VM's results, and bad values are misuse.
local gavel = require "gavel"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

describe("gavel.load jit option", function()
  local src = read("examples/loan.json")
  local inputs = {}
  for line in io.lines("examples/loan.jsonl") do inputs[#inputs + 1] = line end

  it("runs the loan example identically with jit on, off and auto", function()
    local rs = {}
    for _, m in ipairs { "off", "on", "auto", true, false } do
      rs[#rs + 1] = assert(gavel.load(src, { jit = m }))
    end
    for _ = 1, 3 do -- auto tiers up on the way (after 1000 runs per program)
      for _, line in ipairs(inputs) do
        local want = { rs[1]:run(line) } -- res | nil, err, code
        for k = 2, #rs do
          assert.are.same(want, { rs[k]:run(line) })
        end
      end
    end
  end)

  it("rejects values other than on/off/auto/boolean", function()
    assert.has_error(function() gavel.load(src, { jit = 1 }) end,
      'gavel.load: opts.jit must be "on", "off", "auto" or a boolean')
    assert.has_error(function() gavel.load(src, { jit = "fast" }) end)
  end)
end)
