-- spec/support/helper.lua -- runs before the specs: insists on LuaJIT and
-- on a built C module, so a wrong interpreter fails loudly, not oddly.
if not jit then
  error("the gavel specs must run under LuaJIT (busted --lua=luajit)")
end
local ok, err = pcall(require, "gavel.capi")
if not ok then
  error("gavel.capi not found on package.cpath (" .. package.cpath .. "): "
        .. "build first (cmake --build build) or set GAVEL_BUILD_DIR\n" .. err)
end
