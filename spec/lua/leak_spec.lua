-- spec/lua/leak_spec.lua -- memory stays flat over 1M runs (C heap via
-- RSS, Lua heap via collectgarbage).
local gavel = require "gavel"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function rss_kb()
  local f = assert(io.open("/proc/self/statm"))
  local _, pages = f:read("*n", "*n")
  f:close()
  return pages * 4
end

local function measure(n, fn)
  fn(math.max(1, math.floor(n / 10)))
  collectgarbage()
  collectgarbage()
  local rss0, lua0 = rss_kb(), collectgarbage("count")
  fn(n)
  collectgarbage()
  collectgarbage()
  return rss_kb() - rss0, collectgarbage("count") - lua0
end

describe("memory", function()
  it("stays flat over 1M runs of the 4-branch rule", function()
    local rs = assert(gavel.load(read("examples/score.json")))
    local inputs = {}
    for i = 1, 64 do inputs[i] = { score = (i * 7) % 100 } end
    local drss, dlua = measure(1000000, function(n)
      for i = 1, n do
        local r = rs:run(inputs[i % 64 + 1])
        if not r then error("run failed") end
      end
    end)
    assert.is_true(drss < 2048, "RSS grew by " .. drss .. " KiB")
    assert.is_true(dlua < 1024, "Lua heap grew by " .. dlua .. " KiB")
  end)

  it("stays flat over runs with strings, tables, errors and host calls", function()
    local loan = assert(gavel.load(read("examples/loan.json")))
    local input = gavel.json.decode(read("examples/loan.input.json"))
    assert(gavel.providers.register("leak.echo", function(_, p) return { v = p.v } end))
    local call = assert(gavel.load({
      config = { name = "leak", entry_step = "a" },
      steps = {
        a = { id = "a", name = "A", type = "action", next_step = "b",
              actions = gavel.array { { action = "external_call",
                service = "leak.echo", method = "GET", result_variable = "r",
                params = gavel.array { gavel.array { "v", { Field = "v" } } } } } },
        b = { id = "b", name = "B", type = "terminal", result = { code = "OK",
              message = "ok", output = gavel.array {
                gavel.array { "v", { Field = "$r.payload.v" } } } } },
      },
    }))
    local drss, dlua = measure(200000, function(n)
      for i = 1, n do
        assert(loan:run(input))
        assert(call:run({ v = "s" .. (i % 100) }))
        local bad = loan:run({ applicant = { age = "x" } })
        assert(bad == nil)
        assert(gavel.eval("a + b", { a = i, b = 1 }) == i + 1)
      end
    end)
    assert.is_true(drss < 4096, "RSS grew by " .. drss .. " KiB")
    assert.is_true(dlua < 2048, "Lua heap grew by " .. dlua .. " KiB")
  end)
end)
