-- difftest.lua -- seeded random expressions and rulesets run through every
-- face of the engine, checking invariants that need no oracle (issue 13):
--   * nothing crashes (a crash ends the process: the harness sees no summary);
--   * the same answer twice (determinism: compile again, run again);
--   * the same answer through the C API (LuaJIT FFI on libgavel.so),
--     `gavel eval --jsonl` / `gavel run` (the CLI) and the Lua module.
-- Usage (from the repository root):
--   GAVEL_BUILD_DIR=build luajit tools/difftest.lua [--cases N] [--seed S]
--     [--rulesets N] [--verbose]
-- Prints one line per failure (with the seed and case to replay) and a last
-- line "difftest: N passed, N failed".  Needs nothing outside the clone.
local ffi = require "ffi"

local build = os.getenv("GAVEL_BUILD_DIR") or "build"
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = build .. "/lib/?.so;" .. package.cpath
local gavel = require "gavel"

-- ==== Options ====

local CASES, RULESETS, SEED, VERBOSE = 3000, nil, 20261203, false
do
  local i = 1
  while i <= #arg do
    local a = arg[i]
    if a == "--cases" then CASES = tonumber(arg[i + 1]); i = i + 1
    elseif a == "--rulesets" then RULESETS = tonumber(arg[i + 1]); i = i + 1
    elseif a == "--seed" then SEED = tonumber(arg[i + 1]); i = i + 1
    elseif a == "--verbose" then VERBOSE = true
    else io.stderr:write("difftest: unknown option ", a, "\n"); os.exit(2) end
    i = i + 1
  end
  assert(CASES and CASES >= 0 and SEED, "difftest: bad --cases/--seed")
  RULESETS = RULESETS or math.floor(CASES / 6)
end

-- ==== The C API through the FFI ====

-- One declaration at a time: the gavel module may have declared some.
for decl in ([[
typedef struct gavel_runtime gavel_runtime;
typedef struct gavel_expr gavel_expr;
typedef struct gavel_ruleset gavel_ruleset;
typedef struct gavel_exec gavel_exec;
typedef struct gavel_error { int code; int line; int column; long offset; char path[256]; char msg[512]; } gavel_error;
int gavel_runtime_new(const void *cfg, gavel_runtime **out, gavel_error *err);
void gavel_runtime_free(gavel_runtime *rt);
int gavel_expr_compile(gavel_runtime *rt, const char *src, size_t n, gavel_expr **out, gavel_error *err);
void gavel_expr_free(gavel_expr *e);
int gavel_expr_eval_json(gavel_expr *e, const char *ctx, size_t n, const char **out, size_t *out_len, gavel_error *err);
int gavel_ruleset_load(gavel_runtime *rt, const char *json, size_t n, const void *opts, gavel_ruleset **out, gavel_error *err);
void gavel_ruleset_free(gavel_ruleset *rs);
int gavel_exec_new(gavel_ruleset *rs, gavel_exec **out, gavel_error *err);
void gavel_exec_free(gavel_exec *ex);
int gavel_exec_run_json(gavel_exec *ex, const char *in, size_t n, unsigned flags, const char **out, size_t *out_len, gavel_error *err);
const char *gavel_status_name(int code);
]]):gmatch("[^\n]+") do
  pcall(ffi.cdef, decl)
end
local C = ffi.load(build .. "/libgavel.so")
local err = ffi.new("gavel_error")
local rtp = ffi.new("gavel_runtime*[1]")
assert(C.gavel_runtime_new(nil, rtp, err) == 0, "gavel_runtime_new failed")
local RT = rtp[0]
local exprp, outp, lenp = ffi.new("gavel_expr*[1]"), ffi.new("const char*[1]"),
  ffi.new("size_t[1]")

-- "ok <json>" | "parse <msg>" | "eval <msg>" through the C API.
local function c_expr(src, ctx)
  if C.gavel_expr_compile(RT, src, #src, exprp, err) ~= 0 then
    return "parse " .. ffi.string(err.msg)
  end
  local e = exprp[0]
  local st = C.gavel_expr_eval_json(e, ctx, #ctx, outp, lenp, err)
  local r = st == 0 and "ok " .. ffi.string(outp[0], lenp[0])
    or (st == 3 and "ctx " or "eval ") .. ffi.string(err.msg) -- 3: GAVEL_JSON
  C.gavel_expr_free(e)
  return r
end

local rsp, exp = ffi.new("gavel_ruleset*[1]"), ffi.new("gavel_exec*[1]")

-- "load <status> <msg>" | "ok <json>" | "<status> <msg>" for runs.
local function c_ruleset(doc, inputs)
  if C.gavel_ruleset_load(RT, doc, #doc, nil, rsp, err) ~= 0 then
    return { "load " .. ffi.string(C.gavel_status_name(err.code)) .. " " ..
      ffi.string(err.msg) }
  end
  local rs, res = rsp[0], {}
  assert(C.gavel_exec_new(rs, exp, err) == 0, "gavel_exec_new failed")
  local ex = exp[0]
  for i, inp in ipairs(inputs) do
    local st = C.gavel_exec_run_json(ex, inp, #inp, 0, outp, lenp, err)
    res[i] = st == 0 and "ok " .. ffi.string(outp[0], lenp[0])
      or ffi.string(C.gavel_status_name(st)) .. " " .. ffi.string(err.msg)
  end
  C.gavel_exec_free(ex)
  C.gavel_ruleset_free(rs)
  return res
end

-- ==== JSON text (our own writer: order as given, no engine involved) ====

local function jstr(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    local m = { ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r',
                ['\t'] = '\\t' }
    return m[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

-- Values: {t="obj", {k, v}, ...}, {t="arr", ...}, {t="raw", text}, strings,
-- booleans, numbers (written with %.17g), NULL.
local NULL = {}
local function jenc(v)
  local tv = type(v)
  if v == NULL then return "null" end
  if tv == "string" then return jstr(v) end
  if tv == "boolean" then return tostring(v) end
  if tv == "number" then
    if v == math.floor(v) and math.abs(v) < 2 ^ 53 then
      return string.format("%d", v)
    end
    return string.format("%.17g", v)
  end
  if v.t == "raw" then return v[1] end
  local parts = {}
  if v.t == "arr" then
    for i = 1, #v do parts[i] = jenc(v[i]) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  for i = 1, #v do parts[i] = jstr(v[i][1]) .. ":" .. jenc(v[i][2]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- ==== Seeded generator ====

-- Park-Miller (products stay below 2^53: exact in doubles on every platform)
local state = SEED % 2147483646 + 1
local function rnd(n) -- 1..n
  state = state * 48271 % 2147483647
  return math.floor(state / 2147483647 * n) + 1
end
local function pick(t) return t[rnd(#t)] end
local function chance(p) return rnd(1000) <= p * 1000 end

local BIGF = "1" .. string.rep("0", 309) .. ".0"
local LITS = {
  "0", "1", "7", "-1", "42", "9223372036854775807",
  "0.5", "1.0", "0.0", "2.5", "100000000000000000000.0", "0.0000001", BIGF,
  '"abc"', "'q'", '""', '"é"', '"a\\nb"', '"٣"', '"2024-01-15 10:30:00"',
  '"%Y-%m-%d %H:%M:%S"', '"^a.*$"', '"[a-"', '"1.2.3"', '"10.0.0.0/8"',
  '"*.txt"', '"aGVsbG8="', '"x,y,z"', "true", "false", "null", "[1, 2, 3]",
  "[]", '{"k": 1, "j": [true]}', "{}", '["b", "a", "b"]', "[1.5, -2, 0]",
  "a.+1", "9223372036854775808", "٣", "1.", ".5", "@", "(", "'unterminated",
}
local N_GOOD_LITS = #LITS - 7 -- the last ones do not parse
local clean = false -- rulesets: mostly well-formed expressions
local FIELDS = {
  "a", "b", "f", "s", "n", "arr", "arr.0", "arr.+1", "arr.9", "o", "o.p",
  "o.q.0", "u", "z", "mz", "big", "neg", "missing", "o.missing", "$v",
  "data.a", "arr[0]", "o.*", "item",
}
local BUILTINS = {}
for spec in ([[len:1:1 upper:1:1 lower:1:1 trim:1:1 starts_with:2:2
ends_with:2:2 contains_str:2:2 substring:2:3 replace:3:3 split:2:2 join:2:2
pad_left:3:3 pad_right:3:3 char_at:2:2 index_of:2:2 format:1:-1 sprintf:2:2
abs:1:1 min:1:-1 max:1:-1 floor:1:1 ceil:1:1 round:1:1 sum:1:1 avg:1:1
count:1:1 first:1:1 last:1:1 sort:1:1 reverse:1:1 unique:1:1 slice:2:3
range:2:3 array_concat:2:2 flatten:1:1 map_extract:2:2 filter_by:3:3
group_by:2:2 graph_reachable:2:2 keys:1:1 values:1:1 has_key:2:2 merge:2:2
object_get:3:3 type:1:1 is_null:1:1 is_number:1:1 is_string:1:1 is_array:1:1
is_bool:1:1 is_object:1:1 to_int:1:1 to_float:1:1 to_string:1:1 to_bool:1:1
json_marshal:1:1 json_unmarshal:1:1 regex_match:2:2 regex_find:2:2
regex_find_all:2:2 regex_replace:3:3 regex_split:2:2 parse_time:2:2
format_time:2:2 time_diff:3:3 date_add:3:3 time_of_day:1:1 day_of_week:1:1
yaml_marshal:1:1 yaml_unmarshal:1:1 base64_encode:1:1 base64_decode:1:1
url_encode:1:1 url_decode:1:1 hex_encode:1:1 hex_decode:1:1
base64url_encode:1:1 base64url_decode:1:1 md5:1:1 sha256:1:1 hmac_sha256:2:2
jwt_decode:1:1 jwt_verify:2:3 jwt_encode:2:3 glob_match:2:2 cidr_contains:2:2
cidr_intersects:2:2 semver_compare:2:2 semver_is_valid:1:1 nosuch:1:1
math.abs:1:1]]):gmatch("%S+") do
  local name, lo, hi = spec:match("([%w_.]+):(%-?%d+):(%-?%d+)")
  BUILTINS[#BUILTINS + 1] = { name, tonumber(lo), tonumber(hi) }
end
-- Builtins whose answer changes from call to call: only their type is used.
local CLOCKS = { "type(now())", "now() > 0", "now_millis() >= now()",
  "len(uuid_v4())", "is_string(uuid_v4(1, 2))" }
local BINOPS = { "+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=",
  "&&", "||", "and", "or", "in", "contains", "not in" }

local expr
local function call(depth)
  local b = clean and BUILTINS[rnd(#BUILTINS - 2)] or pick(BUILTINS)
  local lo, hi = b[2], b[3] < 0 and b[2] + 3 or b[3]
  local n = (clean or chance(0.8)) and lo + rnd(hi - lo + 1) - 1 or rnd(5) - 1
  local args = {}
  for i = 1, n do args[i] = expr(depth - 1) end
  return b[1] .. "(" .. table.concat(args, ", ") .. ")"
end

function expr(depth)
  local k = depth <= 0 and rnd(2) or rnd(11)
  if k == 1 then return clean and LITS[rnd(N_GOOD_LITS)] or pick(LITS) end
  if k == 2 then return pick(FIELDS) end
  if k <= 5 then
    return expr(depth - 1) .. " " .. pick(BINOPS) .. " " .. expr(depth - 1)
  end
  if k == 6 then return pick({ "!", "-", "not " }) .. expr(depth - 1) end
  if k == 7 then return "(" .. expr(depth - 1) .. ")" end
  if k == 8 then
    return "if " .. expr(depth - 1) .. " then " .. expr(depth - 1) ..
      " else " .. expr(depth - 1)
  end
  if k == 9 then
    local r = rnd(4)
    if r == 1 then return "exists(" .. pick(FIELDS) .. ")" end
    if r == 2 then return 'exists("' .. pick(FIELDS) .. '")' end
    if r == 3 then return "coalesce(" .. expr(depth - 1) .. ", " ..
      expr(depth - 1) .. ")" end
    return pick(CLOCKS)
  end
  if k == 10 then return "[" .. expr(depth - 1) .. ", " .. expr(depth - 1) .. "]" end
  return call(depth)
end

local VALS = {
  function() return rnd(201) - 101 end,
  function() return pick({ 0.5, -2.25, 1e300, 1e-7, 3.0e16 }) end,
  function() return { t = "raw", pick({ "0.0", "-0", "1.0", "1e16", "-0.0",
    "9223372036854775807", "18446744073709551615", "2.50", "-1e-7",
    chance(0.1) and "1e400" or "0" }) } end,
  function() return pick({ "", "abc", "é", "٣x", "2024-01-15 10:30:00", "a.b" }) end,
  function() return chance(0.5) end,
  function() return NULL end,
}
local function value(depth)
  local k = depth <= 0 and rnd(#VALS) or rnd(#VALS + 2)
  if k <= #VALS then return VALS[k]() end
  if k == #VALS + 1 then
    local t = { t = "arr" }
    for i = 1, rnd(4) - 1 do t[i] = value(depth - 1) end
    return t
  end
  local t = { t = "obj" }
  for i = 1, rnd(3) - 1 do t[i] = { pick({ "p", "q", "+1", "k" }), value(depth - 1) } end
  return t
end

local function context()
  if chance(0.05) then return pick({ "null", "[]", "5", '{"a":' }) end
  local o = { t = "obj" }
  for _, k in ipairs({ "a", "b", "f", "s", "n", "arr", "o", "u", "z", "mz",
                       "big", "neg", "item", "data" }) do
    if chance(0.8) then o[#o + 1] = { k, value(2) } end
  end
  return jenc(o)
end

-- ==== Rulesets ====

local AST_OPS = { "Add", "Sub", "Mul", "Div", "Mod", "Eq", "Ne", "Lt", "Le",
  "Gt", "Ge", "And", "Or", "In", "NotIn", "Contains" }
local function ast(depth)
  local k = depth <= 0 and rnd(2) or rnd(8)
  if k == 1 then return { t = "obj", { "Literal", value(0) } } end
  if k == 2 then return { t = "obj", { "Field", pick(FIELDS) } } end
  if k <= 4 then
    return { t = "obj", { "Binary", { t = "obj", { "op", pick(AST_OPS) },
      { "left", ast(depth - 1) }, { "right", ast(depth - 1) } } } }
  end
  if k == 5 then
    return { t = "obj", { "Unary", { t = "obj", { "op", pick({ "Not", "Neg" }) },
      { "operand", ast(depth - 1) } } } }
  end
  if k == 6 then
    local b = pick(BUILTINS)
    local args = { t = "arr" }
    for i = 1, b[2] do args[i] = ast(depth - 1) end
    return { t = "obj", { "Call", { t = "obj", { "name", b[1] }, { "args", args } } } }
  end
  if k == 7 then return { t = "obj", { "Exists", pick(FIELDS) } } end
  return { t = "obj", { "Conditional", { t = "obj", { "condition", ast(depth - 1) },
    { "then_branch", ast(depth - 1) }, { "else_branch", ast(depth - 1) } } } }
end

local function cond()
  local r = rnd(10)
  if r <= 6 then return expr(2) end
  if r <= 9 then return ast(2) end
  return NULL
end

local function step_ref(i, n)
  if chance(0.15) and i > 1 then return "s" .. (rnd(i - 1) - 1) end -- a loop
  if not clean and chance(0.1) then return "nowhere" end
  local j = i + rnd(2)
  return j < n and "s" .. j or pick({ "t0", "t1" })
end

local function actions()
  local acts = { t = "arr" }
  for i = 1, rnd(3) - 1 do
    local r = rnd(5)
    if r <= 3 then
      acts[i] = { t = "obj", { "action", "set_variable" },
        { "name", pick({ "v", "w" }) },
        { "value", chance(0.5) and expr(2) or ast(1) } }
    elseif r == 4 then
      acts[i] = { t = "obj", { "action", "log" }, { "message", "m" },
        { "level", clean and "info" or pick({ "info", "debug", "loud" }) } }
    else
      acts[i] = { t = "obj", { "action", clean and "metric" or
        pick({ "metric", "explode" }) },
        { "name", "m" }, { "value", expr(1) } }
    end
  end
  return acts
end

local function ruleset()
  local n = rnd(4)
  clean = chance(0.8)
  local steps = { t = "obj" }
  for i = 0, n - 1 do
    local id = "s" .. i
    local st = { t = "obj", { "id", id }, { "name", id } }
    if chance(0.6) then
      st[#st + 1] = { "type", "decision" }
      local br = { t = "arr" }
      for j = 1, rnd(3) do
        local b = { t = "obj", { "condition", cond() },
          { "next_step", step_ref(i, n) } }
        if chance(0.3) then b[#b + 1] = { "actions", actions() } end
        br[j] = b
      end
      st[#st + 1] = { "branches", br }
      if chance(0.7) then st[#st + 1] = { "default_next", step_ref(i, n) } end
    else
      st[#st + 1] = { "type", "action" }
      st[#st + 1] = { "actions", actions() }
      st[#st + 1] = { "next_step", step_ref(i, n) }
    end
    steps[#steps + 1] = { id, st }
  end
  for i = 0, 1 do
    local out = { t = "obj" }
    for j = 1, rnd(3) - 1 do
      out[j] = { "k" .. j, chance(0.7) and expr(2) or ast(1) }
    end
    steps[#steps + 1] = { "t" .. i, { t = "obj", { "id", "t" .. i },
      { "type", "terminal" }, { "result", { t = "obj", { "code", "C" .. i },
        { "message", "done" }, { "output", out } } } } }
  end
  local cfg = { t = "obj", { "name", "diff" }, { "entry_step", "s0" },
    { "field_missing", pick({ "lenient", "strict", "default" }) } }
  if chance(0.2) then cfg[#cfg + 1] = { "max_depth", rnd(20) } end
  local doc = jenc({ t = "obj", { "config", cfg }, { "steps", steps } })
  clean = false
  if chance(0.08) then -- malformed documents
    local r = rnd(5)
    if r == 1 then doc = doc:sub(1, rnd(#doc)) end
    if r == 2 then doc = doc:gsub('"type":"terminal"', '"type":"end"', 1) end
    if r == 3 then doc = doc:gsub('"entry_step":"s0"', '"entry_step":7', 1) end
    if r == 4 then doc = doc:gsub('"condition":', '"condition":true,"x":', 1) end
    if r == 5 then doc = "[" .. doc .. "]" end
  end
  return doc
end

-- ==== Running and comparing ====

local passed, failed = 0, 0
local stats = {} -- outcome kinds seen, for the closing summary
local function count(kind) stats[kind] = (stats[kind] or 0) + 1 end
local function fail(what, id, detail)
  failed = failed + 1
  if failed <= 40 then
    print(string.format("FAIL %s (seed %d, %s): %s", what, SEED, id, detail))
  end
end

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local tmp = os.tmpname()

-- Lua module answer in the C API's shape; values compared after the same
-- JSON -> Lua conversion the module applies to results.
local function lua_norm_c(r)
  if r:sub(1, 3) ~= "ok " then return r end
  local v = gavel.json.decode(r:sub(4))
  return "ok " .. gavel.json.encode(v)
end

local function lua_expr(src, ctx)
  local e, msg = gavel.compile(src)
  if not e then return "parse " .. msg end
  local v, emsg, code = e:eval(ctx)
  if v == nil then
    return (code == "GAVEL_JSON" and "ctx " or "eval ") .. emsg
  end
  if type(v) == "number" and (v ~= v or v == math.huge or v == -math.huge) then
    return "nonfinite"
  end
  local text, jerr = gavel.json.encode(v)
  if not text then
    local m = tostring(jerr)
    return (m:find("finite") or m:find("%(inf%)") or m:find("nan")) and
      "nonfinite" or "encode " .. m
  end
  return "ok " .. text
end

local NONFINITE = "eval Evaluation error: the result holds a non-finite float"

local function run_expr_cases()
  local batch, lines = {}, {}
  local function flush()
    if #batch == 0 then return end
    local f = assert(io.open(tmp, "wb"))
    f:write(table.concat(lines, "\n"), "\n")
    f:close()
    local p = assert(io.popen(build .. "/gavel eval --jsonl < " .. tmp))
    local outs = {}
    for l in p:lines() do outs[#outs + 1] = l end
    p:close()
    for i, c in ipairs(batch) do
      local o, want = outs[i], nil
      if not c.ctx_ok then -- the whole line is not JSON: an input error
        want = o and o:match('^{"error":{"kind":"input",') and o or
          "an input error line"
      elseif c.c:sub(1, 3) == "ok " then
        want = '{"value":' .. c.c:sub(4) .. "}"
      else
        local kind, msg = c.c:match("^(%a+) (.*)$")
        want = '{"error":{"kind":"' .. kind .. '","message":' .. jstr(msg) .. "}}"
      end
      if o ~= want then
        fail("C API vs gavel eval --jsonl", c.id, c.src .. " | ctx " .. c.ctx ..
          "\n    C API: " .. want .. "\n    jsonl: " .. tostring(o))
      else
        passed = passed + 1
      end
    end
    batch, lines = {}, {}
  end
  for i = 1, CASES do
    local src, ctx = expr(rnd(4)), context()
    local id = "expr " .. i
    local r1, r2 = c_expr(src, ctx), c_expr(src, ctx)
    count("expr " .. r1:match("^%a+"))
    if r1 ~= r2 then
      fail("determinism (C API twice)", id, src .. "\n    " .. r1 .. "\n    " .. r2)
    else
      passed = passed + 1
    end
    local l1, l2 = lua_expr(src, ctx), lua_expr(src, ctx)
    local want = r1:sub(1, #NONFINITE) == NONFINITE and "nonfinite" or lua_norm_c(r1)
    if l1 ~= l2 then
      fail("determinism (Lua twice)", id, src .. "\n    " .. l1 .. "\n    " .. l2)
    elseif l1 ~= want then
      fail("C API vs Lua module", id, src .. " | ctx " .. ctx .. "\n    C API: " ..
        want .. "\n    Lua:   " .. l1)
    else
      passed = passed + 1
    end
    -- the jsonl line embeds the context; a context that is not JSON cannot
    if not ctx:find('^{"a":$') then
      local ctx_ok = gavel.json.decode(ctx) ~= nil
      batch[#batch + 1] = { id = id, src = src, ctx = ctx, c = r1,
        ctx_ok = ctx_ok }
      lines[#lines + 1] = '{"expr":' .. jstr(src) .. ',"ctx":' .. ctx .. "}"
      if #batch >= 500 then flush() end
    end
    if VERBOSE then print(id, src, ctx, r1) end
  end
  flush()
end

local function lua_ruleset(doc, inputs)
  local rs, msg, code = gavel.load(doc)
  if not rs then return { "load " .. tostring(code) .. " " .. tostring(msg) } end
  local res = {}
  for i, inp in ipairs(inputs) do
    local r, emsg, ecode = rs:run(inp)
    if r then
      local text, jerr = gavel.json.encode({ code = r.code,
        message = r.message, output = r.output })
      local m = tostring(jerr)
      -- Lua numbers hold inf/NaN; the C API's JSON cannot (an error there)
      res[i] = text and "ok " .. text or
        ((m:find("%(inf%)") or m:find("nan")) and "nonfinite" or "encode " .. m)
    else
      res[i] = tostring(ecode) .. " " .. tostring(emsg)
    end
  end
  return res
end

local function c_as_lua(r)
  if r:find("the result holds a non-finite float", 1, true) then
    return "nonfinite"
  end
  if r:sub(1, 3) ~= "ok " then return r end
  local v = gavel.json.decode(r:sub(4))
  return "ok " .. gavel.json.encode({ code = v.code, message = v.message,
    output = v.output })
end

local function run_ruleset_cases()
  for i = 1, RULESETS do
    local id = "ruleset " .. i
    local doc = ruleset()
    local inputs = {}
    for j = 1, 3 do inputs[j] = context() end
    local c1, c2 = c_ruleset(doc, inputs), c_ruleset(doc, inputs)
    for _, r in ipairs(c1) do count("ruleset " .. r:match("^%S+")) end
    local same = #c1 == #c2
    for j = 1, #c1 do same = same and c1[j] == c2[j] end
    if not same then
      fail("determinism (ruleset twice)", id, doc .. "\n    " .. c1[1] ..
        "\n    " .. tostring(c2[1]))
    else
      passed = passed + 1
    end
    local l = lua_ruleset(doc, inputs)
    for j = 1, #c1 do
      local want = c_as_lua(c1[j])
      if c1[1]:sub(1, 5) == "load " then
        want = c1[1]:gsub("^load (%S+) (.*)$", "load %1 %2")
        -- the Lua module's message holds every diagnostic; the first is C's
        if (l[1] or ""):sub(1, #want) ~= want then
          fail("C API vs Lua module (load)", id, doc .. "\n    C API: " .. want ..
            "\n    Lua:   " .. tostring(l[1]))
        else
          passed = passed + 1
        end
        break
      end
      if l[j] ~= want then
        fail("C API vs Lua module (run)", id, doc .. " | input " .. inputs[j] ..
          "\n    C API: " .. want .. "\n    Lua:   " .. tostring(l[j]))
      else
        passed = passed + 1
      end
    end
    -- the CLI: gavel run prints the C API's result text, or an error
    if i % 4 == 1 and c1[1]:sub(1, 5) ~= "load " then
      local f = assert(io.open(tmp, "wb"))
      f:write(doc)
      f:close()
      local p = assert(io.popen(build .. "/gavel run " .. tmp .. " --input " ..
        sh_quote(inputs[1]) .. " 2>/dev/null"))
      local o = p:read("*a"):gsub("\n$", "")
      p:close()
      local want = c1[1]:sub(1, 3) == "ok " and c1[1]:sub(4) or nil
      if want and o ~= want then
        fail("C API vs gavel run", id, doc .. " | input " .. inputs[1] ..
          "\n    C API: " .. want .. "\n    CLI:   " .. o)
      elseif not want and not o:find('^{"error":') then
        fail("C API vs gavel run (error)", id, doc .. "\n    C API: " .. c1[1] ..
          "\n    CLI:   " .. o)
      else
        passed = passed + 1
      end
    end
  end
end

run_expr_cases()
run_ruleset_cases()
os.remove(tmp)
C.gavel_runtime_free(RT)
local kinds = {}
for k, n in pairs(stats) do kinds[#kinds + 1] = k .. " " .. n end
table.sort(kinds)
print("outcomes: " .. table.concat(kinds, ", "))
print(string.format("difftest: %d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1)
