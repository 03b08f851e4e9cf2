/*
** gavel_lua.h -- the gavel Lua binding, seen from C.
**
** For C hosts that embed LuaJIT next to the engine (the gavel executable,
** an nginx module, a test driver).  Lua scripts never need this header:
** they 'require "gavel"'.  Ownership follows gavel.h: everything passed in
** is borrowed for the duration of the call.
*/
#ifndef GAVEL_LUA_H
#define GAVEL_LUA_H

#include "gavel.h"
#include <lua.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The Lua C module 'gavel.capi' (what require "gavel.capi" calls). */
GAVEL_API int luaopen_gavel_capi(lua_State *L);

/* Puts 'gavel.capi' into package.preload of 'L', so a host that links the
** binding statically needs no capi.so on package.cpath. */
GAVEL_API void gavel_lua_preload(lua_State *L);

/* Also preloads the Lua modules of lua/ compiled into the host (only in
** hosts linked with the gavel_lua_host library, which embeds them). */
void gavel_lua_open_embedded(lua_State *L);

/* A host hook called with every runtime the Lua binding creates (one per
** Lua state, at require "gavel"), before any ruleset is loaded: the place
** where a host registers its C providers (network.http, metrics...) so Lua
** scripts see them.  A failure makes require "gavel" fail.  Process-wide;
** set it before creating Lua states. */
typedef gavel_status (*gavel_lua_runtime_hook)(void *ud, gavel_runtime *rt,
                                               gavel_error *err);
GAVEL_API void gavel_lua_set_runtime_hook(gavel_lua_runtime_hook fn, void *ud);

/* Registers the Lua function at stack index 'idx' of 'L' as a SYNCHRONOUS
** provider of 'capability' in 'rt' (through gavel_runtime_provide and a C
** trampoline).  The function is called as fn(operation, params, ctx) and
** returns payload[, metadata] or nil, err; see lua/README.md.  It runs on
** 'L' itself and must not yield.  The reference to the function lives in
** L's registry: 'L' must outlive every run of 'rt' that may call it, and
** 'L' must not be used by another thread during such a run. */
GAVEL_API gavel_status gavel_lua_provide(gavel_runtime *rt, lua_State *L,
                                         int idx, const char *capability,
                                         gavel_error *err);

#ifdef __cplusplus
}
#endif
#endif /* GAVEL_LUA_H */
