-- spec/lua/providers_spec.lua -- Lua providers and the pending/resume loop.
local gavel = require "gavel"
local providers = gavel.providers

-- A ruleset calling 'cap' once and outputting the payload (and metadata).
local function caller(cap, extra)
  extra = extra or {}
  return {
    config = { name = "caller", entry_step = "call" },
    steps = {
      call = { id = "call", name = "Call", type = "action",
        actions = gavel.array {
          { action = "external_call", service = cap, method = "GET",
            params = gavel.array { gavel.array { "q", { Field = "q" } } },
            result_variable = "r", timeout_ms = extra.timeout_ms },
        },
        next_step = "done" },
      done = { id = "done", name = "Done", type = "terminal",
        result = { code = "OK", message = "ok", output = gavel.array {
          gavel.array { "payload", { Field = "$r.payload" } },
          gavel.array { "meta", { Field = "$r.metadata" } },
        } } },
    },
  }
end

describe("gavel.providers", function()
  it("calls a Lua provider with operation, params and ctx", function()
    local seen
    assert(providers.register("t.echo", function(op, params, ctx)
      seen = { op = op, q = params.q, cap = ctx.capability, rs = ctx.ruleset,
               path = ctx.path }
      return { echoed = params.q }, { source = "spec" }
    end))
    local rs = assert(gavel.load(caller("t.echo")))
    local res = assert(rs:run({ q = "hello" }))
    assert.are.same({ echoed = "hello" }, res.output.payload)
    assert.are.same({ source = "spec" }, res.output.meta)
    assert.are.same({ op = "GET", q = "hello", cap = "t.echo", rs = "caller",
                      path = "steps.call.actions[0]" }, seen)
    assert.are.equal("lua", providers.list()["t.echo"])
    assert.are.equal(providers.get("t.echo"), providers.lookup("t.echo"))
  end)

  it("lets a provider yield N times inside a coroutine", function()
    local N = 5
    assert(providers.register("t.yield", function(_, params)
      for i = 1, N do coroutine.yield("tick", i) end
      return { q = params.q, ticks = N }
    end))
    local rs = assert(gavel.load(caller("t.yield")))
    local co = coroutine.create(function() return rs:run({ q = 7 }) end)
    local ticks = 0
    while true do
      local ok, a, b = coroutine.resume(co)
      assert.is_true(ok, tostring(a))
      if coroutine.status(co) == "dead" then
        assert.are.same({ q = 7, ticks = N }, a.output.payload)
        break
      end
      ticks = ticks + 1
      assert.are.equal("tick", a)
      assert.are.equal(ticks, b)
    end
    assert.are.equal(N, ticks)
  end)

  it("runs interleaved yielding runs of one ruleset independently", function()
    assert(providers.register("t.slow", function(_, params)
      coroutine.yield()
      return { q = params.q }
    end))
    local rs = assert(gavel.load(caller("t.slow")))
    local cos = {}
    for i = 1, 10 do
      cos[i] = coroutine.create(function() return rs:run({ q = i }) end)
      assert.is_true(coroutine.resume(cos[i]))
    end
    for i = 10, 1, -1 do
      local ok, res = coroutine.resume(cos[i])
      assert.is_true(ok)
      assert.are.equal(i, res.output.payload.q)
    end
  end)

  it("turns a provider that raises into a host-call error", function()
    assert(providers.register("t.raise", function() error("kaput") end))
    local rs = assert(gavel.load(caller("t.raise")))
    local res, err, code = rs:run({ q = 1 })
    assert.is_nil(res)
    assert.are.equal("GAVEL_HOST", code)
    assert.matches("t.raise", err, 1, true)
    assert.matches("kaput", err, 1, true)
    assert.matches("steps.call.actions[0]", err, 1, true)
  end)

  it("turns nil, err into a host-call error carrying err", function()
    assert(providers.register("t.nilerr", function() return nil, "no such user" end))
    local rs = assert(gavel.load(caller("t.nilerr")))
    local res, err, code = rs:run({ q = 1 })
    assert.is_nil(res)
    assert.are.equal("GAVEL_HOST", code)
    assert.matches("no such user", err, 1, true)
  end)

  it("turns garbage replies into host-call errors", function()
    local reply
    assert(providers.register("t.garbage", function() return reply[1], reply[2] end))
    local rs = assert(gavel.load(caller("t.garbage")))
    for _, r in ipairs({
      { function() end }, { { f = coroutine.create(print) } },
      { {}, "not a table" }, { {}, { n = 1 } }, {},
    }) do
      reply = r
      local res, err, code = rs:run({ q = 1 })
      assert.is_nil(res)
      assert.are.equal("GAVEL_HOST", code)
      assert.is_string(err)
    end
    reply = { { ok = true } }
    assert.is_true(rs:run({ q = 1 }).output.payload.ok)
  end)

  it("turns a provider slower than timeout_ms into a timeout error", function()
    assert(providers.register("t.sleepy", function(_, _, ctx)
      assert.are.equal(20, ctx.timeout_ms)
      assert.is_number(ctx.deadline_ms)
      require("gavel.core").capi.sleep_ms(60)
      return { late = true }
    end))
    local rs = assert(gavel.load(caller("t.sleepy", { timeout_ms = 20 })))
    local res, err, code = rs:run({ q = 1 })
    assert.is_nil(res)
    assert.are.equal("GAVEL_HOST", code)
    assert.matches("timed out", err)
  end)

  it("denies a capability outside opts.capabilities", function()
    assert(providers.register("t.secret", function() return { s = 1 } end))
    local rs, err, code = gavel.load(caller("t.secret"),
                                     { capabilities = { "t.echo" } })
    assert.is_nil(rs)
    assert.are.equal("GAVEL_CAPDENIED", code)
    assert.matches("t.secret", err, 1, true)
    -- the message says how to grant it (issue 10.9)
    assert.matches('capabilities = {"t.secret"}', err, 1, true)
    assert(gavel.load(caller("t.secret"), { capabilities = { "t.secret" } }))
  end)

  it("refuses to load a ruleset calling a capability nobody provides", function()
    local rs, err, code = gavel.load(caller("t.nobody"))
    assert.is_nil(rs)
    assert.are.equal("GAVEL_CAPDENIED", code)
    assert.matches("not provided", err)
  end)

  it("fails the run when a Lua provider is unregistered", function()
    assert(providers.register("t.gone", function() return 1 end))
    local rs = assert(gavel.load(caller("t.gone")))
    assert(providers.unregister("t.gone"))
    local res, err, code = rs:run({ q = 1 })
    assert.is_nil(res)
    assert.are.equal("GAVEL_HOST", code)
  end)

  it("lets a later registration override an earlier provider", function()
    assert(providers.register("t.over", function() return { v = 1 } end))
    local rs = assert(gavel.load(caller("t.over")))
    assert.are.equal(1, rs:run({ q = 1 }).output.payload.v)
    assert(providers.register("t.over", function() return { v = 2 } end))
    assert.are.equal(2, rs:run({ q = 1 }).output.payload.v)
    assert.is_nil(providers.get_c("t.over"))
  end)

  it("keeps the engine and the state usable after provider failures", function()
    local n = 0
    assert(providers.register("t.flaky", function()
      n = n + 1
      if n % 2 == 0 then error("even") end
      return { n = n }
    end))
    local rs = assert(gavel.load(caller("t.flaky")))
    for i = 1, 100 do
      local res, _, code = rs:run({ q = i })
      if i % 2 == 1 then assert.are.equal(i, res.output.payload.n)
      else assert.are.equal("GAVEL_HOST", code) end
    end
  end)

  it("traces runs that call providers", function()
    assert(providers.register("t.traced", function(_, p) return { q = p.q } end))
    local rs = assert(gavel.load(caller("t.traced")))
    local res = assert(rs:run({ q = "z" }, { trace = true }))
    assert.are.equal("z", res.output.payload.q)
    assert.are.equal("call -> done", res.trace.path)
  end)

  it("raises on misuse", function()
    assert.has_error(function() providers.register("", print) end)
    assert.has_error(function() providers.register("x", 42) end)
    assert.has_error(function() providers.register(nil, print) end)
  end)
end)

describe("network.http allowlist from Lua", function()
  local gavel = require "gavel"
  it("reaches providers as ctx.http_allow, with the run's trace id", function()
    local seen
    gavel.providers.register("net.allowcheck", function(op, params, ctx)
      seen = ctx
      return { ok = true }
    end)
    local rs = assert(gavel.load({
      config = { name = "allow" },
      steps = {
        start = { id = "start", type = "action", next_step = "t",
          actions = { { action = "external_call", service = "net.allowcheck",
                        method = "GET", params = setmetatable({}, gavel.array_mt),
                        result_variable = "r" } } },
        t = { id = "t", type = "terminal", result = { code = "OK" } },
      },
    }, { allow_http = { "api.example.test:443", "http://127.0.0.1:8080" } }))
    local res = assert(rs:run({}))
    assert.equal("OK", res.code)
    assert.same({ "api.example.test:443", "http://127.0.0.1:8080" }, seen.http_allow)
    assert.is_number(seen.trace_id)
    assert.is_true(seen.trace_id > 0)
    assert.has_error(function() gavel.load("{}", { allow_http = "x" }) end)
  end)
end)
