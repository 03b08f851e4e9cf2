/*
** cmd_lua.c -- the gavel executable as a Lua host: 'gavel script.lua
** [args]' and the Lua providers of 'gavel run/batch --provider FILE.lua'.
**
** Both embed LuaJIT with the binding linked in (lua/src, library
** gavel_lua_host, which defines GAVEL_WITH_LUA): 'require "gavel"' works
** without installed files.  Without LuaJIT the commands say so and fail.
*/
#include "cli.h"

#include <stdio.h>
#include <string.h>

int cmd_script(int argc, char **argv);
int cli_lua_providers(gavel_runtime *rt, const char *const *files, int n,
                      void **state_out);
void cli_lua_free(void *state);

#ifdef GAVEL_WITH_LUA

#include "gavel_lua.h"
#include <lauxlib.h>
#include <lualib.h>

/* xpcall handler: the message with a traceback. */
static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg)
    msg = lua_pushfstring(L, "(error object is a %s value)",
                          luaL_typename(L, 1));
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static lua_State *new_state(void) {
  lua_State *L = luaL_newstate();
  if (!L)
    return NULL;
  luaL_openlibs(L);
  gavel_lua_open_embedded(L);
  return L;
}

/* Calls the function under 'nargs' arguments with a traceback handler;
** prints the error.  0 ok, 1 failed. */
static int docall(lua_State *L, int nargs, int nres) {
  int base = lua_gettop(L) - nargs, rc;
  lua_pushcfunction(L, traceback);
  lua_insert(L, base);
  rc = lua_pcall(L, nargs, nres, base);
  lua_remove(L, base);
  if (rc != 0) {
    fprintf(stderr, "gavel: %s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
    return 1;
  }
  return 0;
}

/* 'gavel' = require "gavel" as a global, the way luajit -l would. */
static int require_gavel(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushstring(L, "gavel");
  if (docall(L, 1, 1))
    return 1;
  lua_setglobal(L, "gavel");
  return 0;
}

/* gavel SCRIPT.lua [args]: argv[0] is the script ("-" = stdin). */
int cmd_script(int argc, char **argv) {
  lua_State *L;
  int i, rc;
  const char *script = argc > 0 ? argv[0] : NULL;
  if (!script) {
    fprintf(stderr, "error: usage: gavel SCRIPT.lua [args]\n");
    return 2;
  }
  if (!(L = new_state())) {
    fprintf(stderr, "error: cannot create a Lua state\n");
    return 1;
  }
  lua_createtable(L, argc, 2); /* arg, as luajit sets it */
  lua_pushstring(L, "gavel");
  lua_rawseti(L, -2, -1);
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_setglobal(L, "arg");
  if (require_gavel(L)) {
    lua_close(L);
    return 1;
  }
  if (luaL_loadfile(L, strcmp(script, "-") ? script : NULL) != 0) {
    fprintf(stderr, "gavel: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return 1;
  }
  for (i = 1; i < argc; i++)
    lua_pushstring(L, argv[i]);
  rc = docall(L, argc > 0 ? argc - 1 : 0, 0);
  lua_close(L);
  return rc;
}

/* Registers every function of the table at the top as a provider. */
static int provide_table(lua_State *L, gavel_runtime *rt, const char *file) {
  int t = lua_gettop(L);
  gavel_error err;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_isfunction(L, -1) &&
        gavel_lua_provide(rt, L, -1, lua_tostring(L, -2), &err) != GAVEL_OK) {
      fprintf(stderr, "error: provider '%s' from '%s': %s\n",
              lua_tostring(L, -2), file, err.msg);
      lua_settop(L, t);
      return 1;
    }
    lua_pop(L, 1);
  }
  return 0;
}

/* Loads FILE.lua files into one Lua state and registers their providers
** with 'rt' as synchronous capabilities.  A file registers providers with
** gavel.providers.register(name, fn) or returns { name = fn, ... }. */
int cli_lua_providers(gavel_runtime *rt, const char *const *files, int n,
                      void **state_out) {
  lua_State *L;
  int i, rc = 0;
  *state_out = NULL;
  if (n <= 0)
    return 0;
  if (!(L = new_state())) {
    fprintf(stderr, "error: cannot create a Lua state\n");
    return 1;
  }
  *state_out = L;
  if (require_gavel(L))
    return 1;
  for (i = 0; i < n && rc == 0; i++) {
    int top = lua_gettop(L);
    if (luaL_loadfile(L, files[i]) != 0) {
      fprintf(stderr, "error: provider file: %s\n", lua_tostring(L, -1));
      return 1;
    }
    lua_pushstring(L, files[i]);
    if (docall(L, 1, 1))
      return 1;
    if (lua_istable(L, -1))
      rc = provide_table(L, rt, files[i]);
    lua_settop(L, top);
  }
  if (rc)
    return rc;
  /* ... and what the files registered through gavel.providers */
  lua_getglobal(L, "require");
  lua_pushstring(L, "gavel.providers");
  if (docall(L, 1, 1))
    return 1;
  lua_getfield(L, -1, "functions");
  if (docall(L, 0, 1))
    return 1;
  rc = provide_table(L, rt, "gavel.providers");
  lua_settop(L, 0);
  return rc;
}

void cli_lua_free(void *state) {
  if (state)
    lua_close((lua_State *)state);
}

#else /* !GAVEL_WITH_LUA */

int cmd_script(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "error: this gavel was built without LuaJIT\n");
  return 1;
}

int cli_lua_providers(gavel_runtime *rt, const char *const *files, int n,
                      void **state_out) {
  (void)rt;
  (void)files;
  *state_out = NULL;
  if (n <= 0)
    return 0;
  fprintf(stderr, "error: --provider: this gavel was built without LuaJIT\n");
  return 1;
}

void cli_lua_free(void *state) { (void)state; }

#endif
