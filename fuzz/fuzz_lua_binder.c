/*
** fuzz_lua_binder.c -- the Lua table binder (the per-ruleset binder that
** lua/gavel/binder.lua generates, its FFI table walker, and the C lua_next
** walker of lua/src/lgavel.c) under libFuzzer, inside LuaJIT.
**
** The C module gavel.capi is compiled into this executable with the
** sanitizers and preloaded; lua/gavel.lua runs from the source tree.  The
** fuzz bytes go to fuzz/lua_binder.lua, which builds Lua tables from them
** (a small stack machine: numbers incl. NaN/inf/2^63, raw byte strings,
** booleans, gavel.null, nested and self-referencing tables, marked arrays,
** float boxes, int64 cdata, functions, __index metatables) and runs fixed
** rulesets on them three ways: the generated binder (rs:run(t)), the same
** traced (must agree in full), and JSON text (gavel.json.encode(t), through
** the C lua_next walker); the results must agree.  Any Lua error out of it
** is a finding.
*/
#include "gavel.h"
#include "gavel_lua.h"
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>

/* LeakSanitizer off here: the engine objects are owned by Lua userdata that
** LuaJIT's GC frees later (and LSan does not scan LuaJIT's own arena), so
** every input would look like a leak.  The C harnesses keep leak checks. */
int __lsan_is_turned_off(void) { return 1; }

static lua_State *L;
static int fn_ref;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *root = getenv("GAVEL_FUZZ_ROOT_DIR");
  (void)argc;
  (void)argv;
  if (!root)
    root = GAVEL_FUZZ_ROOT;
  L = luaL_newstate();
  luaL_openlibs(L);
  gavel_lua_preload(L);
  lua_getglobal(L, "package");
  lua_pushfstring(L, "%s/lua/?.lua;%s/fuzz/?.lua", root, root);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
  lua_pushfstring(L, "%s/fuzz/lua_binder.lua", root);
  if (luaL_loadfile(L, lua_tostring(L, -1)) || lua_pcall(L, 0, 1, 0)) {
    fprintf(stderr, "fuzz_lua_binder: %s\n", lua_tostring(L, -1));
    abort();
  }
  lua_pushstring(L, root);
  if (lua_pcall(L, 1, 1, 0)) { /* the module returns init(root) -> fn */
    fprintf(stderr, "fuzz_lua_binder: init: %s\n", lua_tostring(L, -1));
    abort();
  }
  fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pop(L, 1);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 16 * 1024)
    return -1;
  lua_rawgeti(L, LUA_REGISTRYINDEX, fn_ref);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 0, 0)) {
    fprintf(stderr, "\n==fuzz== FINDING: %s\n", lua_tostring(L, -1));
    abort();
  }
  return 0;
}
