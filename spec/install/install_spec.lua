-- spec/install/install_spec.lua -- gavel outside its own checkout: a real
-- 'cmake --install' tree (a temporary prefix, and DESTDIR), the installed
-- executable, a plain luajit against the installed Lua paths, a C program
-- built through pkg-config, and 'luarocks make' (when luarocks is present).
local BUILD = os.getenv("GAVEL_BUILD_DIR") or "build"

local function sh(cmd)            -- output, ok
  local p = assert(io.popen("(" .. cmd .. ") 2>&1; echo \"rc=$?\""))
  local out = p:read("*a")
  p:close()
  local rc = tonumber(out:match("rc=(%d+)%s*$"))
  return out:gsub("rc=%d+%s*$", ""), rc == 0
end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local tmp = sh("mktemp -d"):gsub("%s+$", "")
local prefix = tmp .. "/prefix"
local pc_env = "PKG_CONFIG_PATH=" .. q(prefix .. "/lib/pkgconfig")

local C_PROGRAM = [[
#include <gavel.h>
#include <gavel_providers.h>
#include <stdio.h>
int main(void) {
  gavel_runtime *rt; gavel_expr *e; gavel_error err;
  const char *out; size_t n;
  gavel_metrics *m;
  if (gavel_runtime_new(NULL, &rt, &err) != GAVEL_OK) return 1;
  if (gavel_expr_compile(rt, "a * 2 + 1", 9, &e, &err) != GAVEL_OK) return 2;
  if (gavel_expr_eval_json(e, "{\"a\": 20}", 9, &out, &n, &err) != GAVEL_OK)
    return 3;
  if (gavel_metrics_new(NULL, &m, &err) != GAVEL_OK) return 4;
  printf("%.*s %s\n", (int)n, out, gavel_version_string());
  gavel_metrics_free(m);
  gavel_expr_free(e);
  gavel_runtime_free(rt);
  return 0;
}
]]

describe("cmake --install into a temporary prefix", function()
  setup(function()
    local out, ok = sh("cmake --install " .. q(BUILD) .. " --prefix " .. q(prefix))
    assert(ok, out)
  end)
  teardown(function() sh("rm -rf " .. q(tmp)) end)

  it("installs the executable, library, headers, Lua files, C module, gavel.pc", function()
    for _, f in ipairs({ "bin/gavel", "lib/libgavel.so", "include/gavel.h",
                         "include/gavel_providers.h", "include/gavel_lua.h",
                         "share/lua/5.1/gavel.lua", "share/lua/5.1/resty/gavel.lua",
                         "share/lua/5.1/gavel/binder.lua",
                         "lib/lua/5.1/gavel/capi.so", "lib/pkgconfig/gavel.pc" }) do
      assert.is_true(exists(prefix .. "/" .. f), f .. " is not installed")
    end
  end)

  it("runs the installed gavel on a bundled example", function()
    local out, ok = sh(q(prefix .. "/bin/gavel") .. " run examples/score.json --input '{\"score\": 95}'")
    assert.is_true(ok, out)
    assert.matches('"code":"HIGH"', out, 1, true)
  end)

  it("is found by a plain luajit through the installed Lua paths only", function()
    local out, ok = sh("cd " .. q(tmp) .. " && LUA_PATH=" .. q(prefix .. "/share/lua/5.1/?.lua")
      .. " LUA_CPATH=" .. q(prefix .. "/lib/lua/5.1/?.so")
      .. [[ luajit -e 'local g = require "gavel"; ]]
      .. [[print(package.searchpath("gavel.capi", package.cpath), g.eval("x * 3", { x = 14 }))']])
    assert.is_true(ok, out)
    assert.matches(prefix .. "/lib/lua/5.1/gavel/capi.so\t42", out, 1, true)
  end)

  it("writes gavel.pc with the real prefix", function()
    local out, ok = sh(pc_env .. " pkg-config --variable=libdir gavel")
    assert.is_true(ok, out)
    assert.matches(prefix .. "/lib/pkgconfig/../../lib", out, 1, true)
    out = sh(pc_env .. " pkg-config --modversion gavel")
    assert.matches("^0%.%d+%.%d+", out)
  end)

  it("links a C program through pkg-config that runs without ldconfig", function()
    local f = assert(io.open(tmp .. "/prog.c", "w"))
    f:write(C_PROGRAM)
    f:close()
    local out, ok = sh("cd " .. q(tmp) .. " && cc prog.c -o prog $(" .. pc_env
                       .. " pkg-config --cflags --libs gavel)")
    assert.is_true(ok, out)
    out, ok = sh("env -u LD_LIBRARY_PATH " .. q(tmp .. "/prog"))
    assert.is_true(ok, out)
    assert.matches("^41 0%.%d+%.%d+", out)
    out = sh("ldd " .. q(tmp .. "/prog"))
    assert.matches(prefix .. "/lib/pkgconfig/../../lib/libgavel.so.0", out, 1, true)
  end)

  it("installs under DESTDIR, and the moved tree's gavel.pc still resolves", function()
    local dest = tmp .. "/dest"
    local out, ok = sh("DESTDIR=" .. q(dest) .. " cmake --install " .. q(BUILD)
                       .. " --prefix /opt/gavel")
    assert.is_true(ok, out)
    assert.is_true(exists(dest .. "/opt/gavel/bin/gavel"))
    out = sh("PKG_CONFIG_PATH=" .. q(dest .. "/opt/gavel/lib/pkgconfig")
             .. " pkg-config --cflags gavel")
    assert.matches(dest .. "/opt/gavel/lib/pkgconfig/../../include", out, 1, true)
  end)
end)

local _, have_luarocks = sh("command -v luarocks")
if not have_luarocks then
  print("luarocks: not installed, the rockspec check is skipped")
elseif os.getenv("GAVEL_SKIP_LUAROCKS") == "1" then
  print("luarocks: GAVEL_SKIP_LUAROCKS=1, the rockspec check is skipped")
  have_luarocks = false
end
;(have_luarocks and describe or pending)("luarocks make (Debian's luarocks, Lua 5.1 = LuaJIT)", function()
  it("builds the library only and installs a tree luajit can require", function()
    local src, tree = tmp .. "/rocksrc", tmp .. "/rocks"
    -- a copy of the tracked files: LuaRocks builds inside the source tree
    local out, ok = sh("mkdir -p " .. q(src) .. " && git ls-files -z | xargs -0 cp -P --parents -t " .. q(src))
    assert.is_true(ok, out)
    out, ok = sh("cd " .. q(src) .. " && luarocks --lua-version=5.1 --tree " .. q(tree)
                 .. " make gavel-0.1.0-1.rockspec LUA_INCDIR=/usr/include/luajit-2.1")
    assert.is_true(ok, out)
    assert.is_false(exists(src .. "/build.luarocks/test_sched"), "tests were built")
    assert.is_false(exists(src .. "/build.luarocks/gavel"), "the executable was built")
    out, ok = sh("cd " .. q(tmp) .. " && LUA_PATH=" .. q(tree .. "/share/lua/5.1/?.lua")
      .. " LUA_CPATH=" .. q(tree .. "/lib/lua/5.1/?.so")
      .. [[ luajit -e 'print(require("gavel").eval("1 + 1"))']])
    assert.is_true(ok, out)
    assert.matches("^2", out)
  end)
end)
