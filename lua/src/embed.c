/*
** embed.c -- the Lua side of the binding compiled into a host binary.
**
** gavel_lua_open_embedded(L) puts gavel.capi and every Lua module of lua/
** (embedded at build time by cmake/embed.cmake) into package.preload, so
** 'require "gavel"' works in a host that has no files installed.  Modules
** found on package.path are not used: the embedded copy always matches the
** linked C side.
*/
#include "gavel_lua.h"

#include <lauxlib.h>

typedef struct {
  const char *mod, *chunk, *src;
  size_t len;
} gavel_lua_embedded;
extern const gavel_lua_embedded gavel_lua_embedded_files[];

static int load_embedded(lua_State *L) {
  const gavel_lua_embedded *e = lua_touserdata(L, lua_upvalueindex(1));
  if (luaL_loadbuffer(L, e->src, e->len, e->chunk) != 0)
    return lua_error(L);
  lua_pushvalue(L, 1); /* the module name, as require passes it */
  lua_call(L, 1, 1);
  return 1;
}

void gavel_lua_open_embedded(lua_State *L) {
  const gavel_lua_embedded *e;
  gavel_lua_preload(L);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  for (e = gavel_lua_embedded_files; e->mod; e++) {
    lua_pushlightuserdata(L, (void *)e);
    lua_pushcclosure(L, load_embedded, 1);
    lua_setfield(L, -2, e->mod);
  }
  lua_pop(L, 2);
}
