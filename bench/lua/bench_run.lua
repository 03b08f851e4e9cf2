-- bench/lua/bench_run.lua -- rs:run from LuaJIT on Lua-table input, next to
-- a hand-written LuaJIT function making the same decision and returning a
-- result table of the same shape, in the same process.
--
--   LUA_PATH="lua/?.lua;;" LUA_CPATH="build/lib/?.so;;" \
--     luajit bench/lua/bench_run.lua [N] [rounds]
-- (or: build/gavel bench/lua/bench_run.lua once 'gavel script' is wired)
--
-- Prints ns per call (best of 'rounds'); see bench/lua/README.md.

local gavel = require "gavel"

local N = tonumber(arg and arg[1]) or 2000000
local ROUNDS = tonumber(arg and arg[2]) or 5
local SHARED = os.getenv("GAVEL_SHARED_DIR") or "../shared"
local band = bit.band
local clock = os.clock

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

-- ==== 4-branch rule ====

local score_rs = assert(gavel.load(read(SHARED .. "/bench-cases/score.json")))
local score_inputs = {}
for i = 1, 64 do score_inputs[i] = { score = (i * 37) % 100 + 0.5 * (i % 2) } end

local function score_hand(input)
  local s = input.score
  if s >= 90 then return { code = "HIGH", message = "high tier", output = {} } end
  if s >= 70 then return { code = "MID", message = "mid tier", output = {} } end
  if s >= 50 then return { code = "LOW", message = "low tier", output = {} } end
  return { code = "FAIL", message = "failed", output = {} }
end

-- ==== loan rule (20 branches, nested input, arrays, strings) ====

local loan_rs = assert(gavel.load(read(SHARED .. "/bench-cases/loan.json")))
local loan_base = gavel.json.decode(read(SHARED .. "/bench-cases/loan_input.json"))
local loan_inputs = {}
for i = 1, 64 do
  local t = gavel.json.decode(gavel.json.encode(loan_base))
  t.applicant.credit.score = 560 + (i * 13) % 260
  t.applicant.income = 40000 + i * 1500
  t.loan.amount = 150000 + (i * 7919) % 150000
  loan_inputs[i] = t
end

local ALLOWED = { US = true, CA = true, GB = true, DE = true }
local function terminal(rule, decision, code, rate)
  return { code = code, message = decision,
           output = { rule = rule, decision = decision, code = code, rate = rate } }
end
local function loan_hand(input)
  local a, l = input.applicant, input.loan
  local c, e = a.credit, a.employment
  local balance = 0
  for _, acct in ipairs(a.accounts) do balance = balance + acct.balance end
  local dti = a.monthly_debt / (a.income / 12.0)
  local ltv = l.amount * 1.0 / l.collateral_value
  if a.age < 18 then return terminal(1, "REJECT", "UNDERAGE", 0) end
  if a.age > 75 then return terminal(2, "REJECT", "AGE_LIMIT", 0) end
  if c.bankruptcies > 0 then return terminal(3, "REJECT", "BANKRUPTCY", 0) end
  if c.score < 500 then return terminal(4, "REJECT", "CREDIT_TOO_LOW", 0) end
  if not ALLOWED[a.country] then return terminal(5, "REJECT", "JURISDICTION", 0) end
  if e.status == "unemployed" and balance < l.amount * 0.5 then
    return terminal(6, "REJECT", "NO_INCOME", 0) end
  if dti > 0.45 then return terminal(7, "REJECT", "DTI_HIGH", 0) end
  if l.amount > a.income * 6 then return terminal(8, "REJECT", "AMOUNT_VS_INCOME", 0) end
  if ltv > 0.97 then return terminal(9, "REJECT", "LTV_HIGH", 0) end
  if l.term_months > 360 then return terminal(10, "REJECT", "TERM_TOO_LONG", 0) end
  if c.delinquencies >= 3 then return terminal(11, "REFER", "DELINQUENCIES", 0) end
  if l.amount >= 1000000 then return terminal(12, "REFER", "JUMBO", 0) end
  if l.purpose == "business" and e.years < 2 then
    return terminal(13, "REFER", "NEW_BUSINESS", 0) end
  if c.score >= 780 and dti <= 0.30 and ltv <= 0.80 then
    return terminal(14, "APPROVE", "PRIME_PLUS", 5.25) end
  if c.score >= 740 and dti <= 0.36 and ltv <= 0.85 then
    return terminal(15, "APPROVE", "PRIME", 5.75) end
  if c.score >= 700 and dti <= 0.40 and balance >= l.amount * 0.1 then
    return terminal(16, "APPROVE", "NEAR_PRIME", 6.5) end
  if c.score >= 660 and dti <= 0.43 and e.years >= 2 then
    return terminal(17, "APPROVE", "STANDARD", 7.25) end
  if c.score >= 620 and balance >= l.amount * 0.2 then
    return terminal(18, "APPROVE", "SUBPRIME_SECURED", 8.75) end
  if c.score >= 580 then return terminal(19, "REFER", "MANUAL_REVIEW_LOW_SCORE", 0) end
  return terminal(20, "REJECT", "NO_PRODUCT", 0)
end

-- ==== same answers first ====

for i = 1, 64 do
  assert(score_rs:run(score_inputs[i]).code == score_hand(score_inputs[i]).code)
  local r, err = loan_rs:run(loan_inputs[i])
  assert(r, err)
  assert(r.code == loan_hand(loan_inputs[i]).code, "loan mismatch at " .. i)
end

-- ==== timing ====

local function time_it(fn, inputs, n)
  local best = math.huge
  for _ = 1, ROUNDS do
    local hits = 0
    local t0 = clock()
    for i = 1, n do
      local r = fn(inputs[band(i, 63) + 1])
      if r.code == "HIGH" then hits = hits + 1 end
    end
    local dt = (clock() - t0) / n * 1e9
    if dt < best then best = dt end
  end
  return best
end

local function run_score(x) return score_rs:run(x) end
local function run_loan(x) return loan_rs:run(x) end
local score_json, loan_json = {}, {}
for i = 1, 64 do
  score_json[i] = gavel.json.encode(score_inputs[i])
  loan_json[i] = gavel.json.encode(loan_inputs[i])
end

local rows = {
  { "4-branch  rs:run(table)", time_it(run_score, score_inputs, N) },
  { "4-branch  hand-written Lua", time_it(score_hand, score_inputs, N) },
  { "4-branch  rs:run(json text)", time_it(run_score, score_json, N / 4) },
  { "loan      rs:run(table)", time_it(run_loan, loan_inputs, N / 4) },
  { "loan      hand-written Lua", time_it(loan_hand, loan_inputs, N / 4) },
  { "loan      rs:run(json text)", time_it(run_loan, loan_json, N / 8) },
}
print(string.format("%s, %s, N=%d, best of %d", jit.version,
                    jit.status() and "JIT on" or "JIT off", N, ROUNDS))
for _, r in ipairs(rows) do
  print(string.format("%-30s %8.1f ns/call", r[1], r[2]))
end
print(string.format("ratio 4-branch %.1fx, loan %.1fx (rs:run / hand-written)",
                    rows[1][2] / rows[2][2], rows[4][2] / rows[5][2]))
