-- geo_lookup.lua -- a custom Lua provider: capability "geo.lookup" answers
-- { region, risk } for a country code from a lookup table loaded from CSV.
-- Usable three ways:
--   gavel script.lua            (require it, see batch_score.lua)
--   gavel run RULES --provider examples/lua/providers/geo_lookup.lua
--   busted specs                (spec/lua/examples_spec.lua)

local gavel = require "gavel"

local here = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".")
local csv = os.getenv("GAVEL_GEO_CSV") or (here .. "/../data/country_risk.csv")

-- country -> { region = "EU", risk = 0.1 }
local function load_csv(path)
  local f = assert(io.open(path, "r"))
  local t, header = {}, nil
  for line in f:lines() do
    local cols = {}
    for c in line:gmatch("[^,]+") do cols[#cols + 1] = c end
    if not header then
      header = cols
    else
      t[cols[1]] = { region = cols[2], risk = gavel.float(tonumber(cols[3])) }
    end
  end
  f:close()
  return t
end

local table_ = load_csv(csv)
local UNKNOWN = { region = "??", risk = gavel.float(0.5) }

-- provider(operation, params, ctx) -> payload | nil, err
local function lookup(operation, params)
  if operation ~= "GET" then
    return nil, "geo.lookup supports GET only, got " .. tostring(operation)
  end
  if type(params.country) ~= "string" then
    return nil, "geo.lookup: params.country must be a string"
  end
  return table_[params.country] or UNKNOWN
end

gavel.providers.register("geo.lookup", lookup)

return { ["geo.lookup"] = lookup }
