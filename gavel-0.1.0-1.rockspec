-- LuaRocks package for the gavel Lua binding.  The CMake build is the
-- source of truth: LuaRocks runs it and installs only the Lua modules and
-- the Lua C module (GAVEL_INSTALL_CLIB=OFF), as LuaRocks cannot install
-- the shared C library's symlink chain.
--   luarocks make gavel-0.1.0-1.rockspec    (from a checkout)
package = "gavel"
version = "0.1.0-1"
source = {
  url = "git+https://example.invalid/gavel.git",
  tag = "v0.1.0",
}
description = {
  summary = "Business-rule engine with a C core, scripted from LuaJIT",
  detailed = [[
gavel loads Ordo-style rulesets (JSON step graphs), compiles their
expressions to bytecode and runs them.  The Lua binding runs rulesets on
Lua tables without JSON, and serves host calls (external_call) from Lua
providers that may yield (coroutines, nginx cosockets).
]],
  license = "MIT",
}
dependencies = {
  "lua == 5.1", -- LuaJIT 2.1 (identifies as 5.1); the binding uses the FFI
}
external_dependencies = {
  PCRE2 = { header = "pcre2.h" },
  YAML = { header = "yaml.h" },
  OPENSSL = { header = "openssl/evp.h" },
}
build = {
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "Release",
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
    GAVEL_LUA_LMOD_DIR = "$(LUADIR)",
    GAVEL_LUA_CMOD_DIR = "$(LIBDIR)",
    GAVEL_INSTALL_CLIB = "OFF",
  },
}
test = {
  type = "busted",
}
