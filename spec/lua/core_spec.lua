-- spec/lua/core_spec.lua -- gavel.core: the FFI declarations agree with
-- core/include/gavel.h and with the C module's sizes.
local core = require "gavel.core"
local ffi = require "ffi"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

describe("gavel.core", function()
  local header = read("core/include/gavel.h")

  it("has one status name per entry of GAVEL_STATUS_MAP, same numbers", function()
    local n = 0
    for name, num in header:gmatch("X%((%u+),%s*(%d+),") do
      n = n + 1
      assert.are.equal("GAVEL_" .. name, core.STATUS[tonumber(num)])
      assert.are.equal(tonumber(num), core.CODE[name])
    end
    assert.is_true(n >= 15)
  end)

  it("declares gavel_error with the header's field order and sizes", function()
    local body = header:match("typedef struct gavel_error {(.-)} gavel_error;")
    assert.is_truthy(body)
    local fields = {}
    for f in body:gmatch("[%w_]+%s+([%w_]+)[%[;]") do fields[#fields + 1] = f end
    assert.are.same({ "code", "line", "column", "offset", "path", "msg" }, fields)
    assert.are.equal(tonumber(header:match("GAVEL_ERRMSG_SIZE (%d+)")),
                     ffi.sizeof(ffi.new("gavel_error").msg))
    assert.are.equal(tonumber(header:match("GAVEL_ERRPATH_SIZE (%d+)")),
                     ffi.sizeof(ffi.new("gavel_error").path))
    assert.are.equal(core.api.error_size, ffi.sizeof("gavel_error"))
  end)

  it("matches the C value layout (gvalue, gv_str, gv_arr, gv_obj)", function()
    assert.are.equal(16, ffi.sizeof("gavel_value"))
    assert.are.equal(core.api.value_size, ffi.sizeof("gavel_value"))
    assert.are.equal(core.api.str_s_offset, ffi.offsetof("gavel_str", "s"))
    -- gavel_arr/gavel_obj declare the leading fields (the core may append)
    assert.are.equal(core.api.arr_items_offset,
                     ffi.offsetof("gavel_arr", "items"))
    assert.are.equal(core.api.obj_keys_offset,
                     ffi.offsetof("gavel_obj", "keys"))
    assert.are.equal(core.api.obj_vals_offset,
                     ffi.offsetof("gavel_obj", "vals"))
    assert.is_true(core.api.obj_size >= ffi.sizeof("gavel_obj"))
    assert.is_true(core.api.arr_size >= ffi.sizeof("gavel_arr"))
  end)

  it("checks the library version at require time", function()
    local major, minor, patch = header:match(
      "GAVEL_VERSION_MAJOR (%d+).-GAVEL_VERSION_MINOR (%d+).-GAVEL_VERSION_PATCH (%d+)")
    assert.are.equal(major .. "." .. minor .. "." .. patch, core.version)
    assert.are.equal(core.api.abi, core.api.version())
  end)

  it("calls ffi.cdef in gavel/core.lua only", function()
    for _, f in ipairs({ "lua/gavel.lua", "lua/gavel/binder.lua",
                         "lua/gavel/providers.lua", "lua/gavel/value.lua" }) do
      assert.is_nil(read(f):find("ffi.cdef", 1, true), f)
    end
  end)

  it("can be required twice without redefining FFI types", function()
    package.loaded["gavel.core"] = nil
    local again = require "gavel.core"
    assert.is_table(again.api ~= nil and again or nil)
    package.loaded["gavel.core"] = core
  end)
end)
