-- LuaRocks package for the gavel Lua binding.  The CMake build is the
-- source of truth: LuaRocks runs it and installs only the Lua modules and
-- the Lua C module (GAVEL_INSTALL_CLIB=OFF), as LuaRocks cannot install
-- the shared C library's symlink chain.  Only the library is built: no
-- executable, tests, benchmarks or libcurl providers (resty.gavel brings a
-- cosocket network.http).  On Debian (luarocks defaults to Lua 5.2 there):
--   luarocks --lua-version=5.1 make gavel-0.1.0-1.rockspec \
--            LUA_INCDIR=/usr/include/luajit-2.1          (from a checkout)
rockspec_format = "3.0"
package = "gavel"
version = "0.1.0-1"
source = {
  -- no public repository yet: build from a checkout with 'luarocks make'
  url = "file://.",
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
    GAVEL_BUILD_CLI = "OFF",
    GAVEL_BUILD_TESTS = "OFF",
    GAVEL_WITH_PROVIDERS = "OFF",
  },
}
test = {
  type = "busted",   -- 'busted' reads .busted (LuaJIT, the build tree)
}
