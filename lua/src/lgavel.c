/*
** lgavel.c -- the gavel Lua binding: one shared object that is both the Lua
** C module 'gavel.capi' and an FFI-friendly C ABI.
**
** Two faces, one state (docs: lua-openresty-notes.md sections 0 and 2):
**  - the hot path (begin / set_str / run / abandon) is a table of plain C
**    function pointers, 'gavel_lua_api', reached from Lua through the FFI
**    (capi.api() returns its address).  A pointer table instead of exported
**    symbols means the same Lua code works when this file is a capi.so and
**    when it is linked statically into a host (the gavel executable)
**    without -rdynamic.  Nothing reached through the FFI ever raises.
**  - everything that needs a lua_State (walking arbitrary tables, building
**    result tables, pending host calls, loading) is a lua_CFunction.
**
** Handles are full userdata with __gc; a userdata passed to an FFI 'T *'
** parameter arrives as a pointer to its payload, so one handle serves both
** faces.  C-side lifetimes are reference counted (exec -> ruleset ->
** runtime) because finalizer order at lua_close is not defined.
**
** Input binding without JSON: at load, plan() turns the ruleset's input
** paths (graphs[0].st) into a trie; lua/gavel/binder.lua generates a Lua
** function that reads exactly those paths into a flat slot array, and each
** exec context holds a fixed "skeleton" value (objects/arrays of the trie
** whose leaves are the slots) that the engine's own binder then walks.
** Leaves that hold tables go through the C lua_next walker (to_value).
*/
#include "gavel_lua.h"

#include <lauxlib.h>
#include <lua.h>

#include "api_int.h"
#include "json.h"
#include "load.h"
#include "rules.h"
#include "runtime.h"
#include "sched.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LG_RUNTIME "gavel.runtime"
#define LG_RULESET "gavel.ruleset"
#define LG_EXEC "gavel.exec"
#define LG_EXPR "gavel.expr"
#define LG_TCDATA 10             /* LuaJIT's lua_type() for cdata          */
#define LG_MAX_INT 9007199254740992.0 /* 2^53: integral doubles up to here */
#define LG_MAX_SPARSE 16         /* array holes tolerated beyond 2x count  */

static char lg_cfg_key; /* registry key of the marker table (address only) */
static char lg_empty_array; /* gavel.empty_array (address only)         */

/* ==== Shared C state (reference counted) ==== */

typedef struct lg_saved {
  char *name;           /* capability                                   */
  gavel_provider_fn fn; /* C provider that a Lua provider replaced      */
  gv_vprovider_fn vfn;  /* ... or its in-tree value provider            */
  void *ud;             /* its user data                                */
} lg_saved;

typedef struct lg_rt {
  gavel_runtime *rt; /* the engine runtime (owned)                      */
  int refs;          /* Lua handle + rulesets + expressions             */
  lg_saved *saved;   /* C providers overridden from Lua                 */
  int n_saved;       /* count                                           */
  int used;          /* 1 once a ruleset or expression was made: the
                        configuration is fixed from then on            */
} lg_rt;

typedef enum { PN_NONE, PN_OBJ, PN_ARR } pn_kind;

typedef struct pnode {
  pn_kind kind;          /* container kind of this node's children      */
  int whole;             /* 1: a leaf, read whole from Lua              */
  gv_str *key;           /* under a PN_OBJ parent: the key              */
  int64_t index;         /* under a PN_ARR parent: the index            */
  struct pnode *child;   /* first child (insertion order)               */
  struct pnode *last;    /* last child                                  */
  struct pnode *next;    /* next sibling                                */
  int n_child;           /* number of children                          */
  int leaf;              /* leaf (slot) number when 'whole'             */
} pnode;

typedef struct lg_rs {
  gavel_ruleset *rs;  /* the loaded ruleset (owned)                     */
  lg_rt *lrt;         /* its runtime (a reference)                      */
  int refs;           /* Lua handle + exec contexts                     */
  gv_arena plan_arena; /* trie nodes                                    */
  pnode *root;        /* the input trie                                 */
  int n_leaves;       /* leaves (slots the Lua binder fills)            */
  int n_inner;        /* containers of the trie (skeleton nodes)        */
  int whole_root;     /* 1: the binder converts the whole input         */
  char **leaf_path;   /* "input.a.b" per leaf, for messages             */
  int *leaf_depth;    /* containers above each leaf (input limits)      */
} lg_rs;

/* The exec handle: the payload of a 'gavel.exec' userdata, and what the
** FFI functions receive as 'gavel_lua_exec *'. */
typedef struct gavel_lua_exec {
  gavel_exec *ex;     /* the engine's resumable execution (owned)       */
  lg_rs *lrs;         /* its ruleset (a reference)                      */
  gv_arena *arena;    /* the exec's run arena (reset by begin)          */
  int json_mode;      /* 1: this run goes through the JSON API (trace)  */
  gvalue *flat;       /* slots the Lua binder writes (n_leaves + 1)     */
  gvalue **leafp;     /* where each slot goes in the skeleton           */
  gvalue **inner;     /* the skeleton's containers, children first      */
  int n_inner;        /* count                                          */
  gvalue root;        /* skeleton root                                  */
  gv_arena skel;      /* skeleton nodes and the arrays above (kept)     */
  gv_arena scratch;   /* trace path: converted input, parsed result     */
  gv_buf jbuf;        /* trace path: JSON text                          */
  const char *jres;   /* trace path: result JSON (borrowed from 'ex')   */
  size_t jres_len;    /* its length                                     */
  gvalue res;         /* the last result (api_result's answer)          */
  int bind_failed;    /* 1: a slot could not be converted               */
  size_t in_used;     /* input size counted in this run ("Input limits") */
  size_t in_max;      /* the runtime's max_input_bytes                  */
  int in_over;        /* 1: an FFI builder found the input too large    */
  gavel_error err;    /* the last failure of this context               */
} gavel_lua_exec;

typedef struct lg_expr {
  gavel_expr *e;  /* compiled expression (owned)                         */
  lg_rt *lrt;     /* its runtime (a reference)                           */
  gv_arena in;    /* the converted context of the current evaluation     */
} lg_expr;

static void rt_unref(lg_rt *r) {
  int i;
  if (!r || --r->refs > 0)
    return;
  gavel_runtime_free(r->rt);
  for (i = 0; i < r->n_saved; i++)
    free(r->saved[i].name);
  free(r->saved);
  free(r);
}

static void rs_unref(lg_rs *r) {
  if (!r || --r->refs > 0)
    return;
  gavel_ruleset_free(r->rs);
  gavel__arena_free(&r->plan_arena);
  rt_unref(r->lrt);
  free(r);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static gvalue num_value(lua_Number d) {
  if (d == floor(d) && d >= -LG_MAX_INT && d <= LG_MAX_INT)
    return gv_int((int64_t)d);
  return gv_float(d);
}

static int abs_index(lua_State *L, int idx) {
  return (idx > 0 || idx <= LUA_REGISTRYINDEX) ? idx : lua_gettop(L) + idx + 1;
}

/* ==== UTF-8 check (engine strings are valid UTF-8, as from JSON) ==== */

static int utf8_valid(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    size_t k, len;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else
      return 0;
    if (i + len > n)
      return 0;
    for (k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80)
        return 0;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
      return 0;
    i += len;
  }
  return 1;
}

/* ==== Nesting headers ====
**
** When the core keeps each container's nesting in its header (value.h,
** GAVEL_MAX_VALUE_DEPTH: the run-time cap on value nesting is checked
** from the headers of the children), a container whose children are
** written directly -- the C walker's arrays, the Lua walker's containers,
** the skeleton after each run's slots -- gets its header from them here,
** children first, so that values built from a Lua input are capped
** exactly as values built from JSON text.  Without such headers there is
** nothing to do. */
static void lg_seal(gvalue *v) {
#ifdef GAVEL_MAX_VALUE_DEPTH
  if (v->tag == GV_ARR)
    gavel__arr_seal(v->u.a);
  else if (v->tag == GV_OBJ)
    gavel__obj_seal(v->u.o);
#else
  (void)v;
#endif
}

/* ==== Lua -> value: the lua_next walker ==== */

typedef struct lg_seg {
  const char *k; /* object key (NULL: array index)    */
  size_t klen;   /* its length                        */
  long idx;      /* array index (0-based)             */
} lg_seg;

/* The tables on the path of the value being converted, for the cycle
** check: the first LG_ANC_SCAN by a scan (most inputs are shallower), the
** deeper ones in an open-addressing set, so that every table costs O(1)
** and a hostile input (thousands of tables 500 levels down) is walked in
** time linear in its size, not in size times depth. */
#define LG_ANC_SCAN 16
#define LG_ANC_SET_BITS 10 /* at most half the set is used */
#define LG_ANC_SET (1 << LG_ANC_SET_BITS)
_Static_assert(LG_ANC_SET >= 2 * GAVEL_MAX_JSON_DEPTH, "the set stays half empty");

typedef struct lg_conv {
  lua_State *L;
  gv_arena *a;        /* where values go                                */
  int cfg;            /* stack index of the marker table                */
  int depth;          /* current nesting below the converted value      */
  int base;           /* containers above it (a binder slot's depth)    */
  int code;           /* GAVEL_JSON (bad value) or GAVEL_LIMIT          */
  size_t used;        /* input size counted so far (lg_charge)          */
  size_t max_bytes;   /* the runtime's max_input_bytes                  */
  const char *what;   /* name of the root in messages ("input")         */
  char msg[GAVEL_ERRMSG_SIZE]; /* failure message                       */
  lg_seg segs[GAVEL_MAX_JSON_DEPTH + 1]; /* path of the current value   */
  const void *anc[LG_ANC_SCAN];         /* its first tables (a scan)     */
  int set_ready;                        /* 'set' zeroed for this value   */
  const void *set[LG_ANC_SET];          /* its deeper tables (a set)     */
} lg_conv;

/* ==== Input limits: one set for every way a value enters ====
**
** A Lua value given as input (rs:run tables through the generated binder,
** its FFI table walker and the C walker below; expression contexts;
** provider replies; rulesets and gavel.json.encode values given as tables)
** obeys the limits of JSON text input (core/json.c, gavel_exec_run_json),
** so that no path accepts what another rejects: nesting of at most
** GAVEL_MAX_JSON_DEPTH containers, counted from the input's root; a size of
** at most the runtime's max_input_bytes; and the engine's value limits
** (GAVEL_MAX_STR_BYTES per string or key, GAVEL_MAX_ARR_LEN elements per
** array or keys per object).  The size of a Lua value is counted as the
** JSON text it stands for, without escapes and with every number as one
** byte (a lower bound of its JSON size): "[]"/"{}" 2, a string len + 2, an
** array element 1 (its comma) plus its own size, an object member klen + 4
** plus its value's size.  The binder's FFI builders (api_set_str,
** api_new_*) and the C walker charge the same amounts to one count per
** run, so a whole input is bounded however its parts are converted, and a
** table reachable many times (a DAG, or a cycle through several keys) is
** bounded by its converted size.  Violations are GAVEL_LIMIT, with the
** JSON reader's wording, the limit's value and the input path.  A table
** that contains itself is a GAVEL_JSON error (it has no JSON form). */

#define LG_SIZE_CONTAINER 2 /* "[]" or "{}"                               */
#define LG_SIZE_ELEM 1      /* an array element: its comma (numbers: 1)    */
#define LG_SIZE_MEMBER 4    /* an object member: "":, and its comma        */
#define LG_SIZE_STR 2       /* a string's quotes                           */

/* Adds 'n' to '*used'; 1 (nothing added) when that passes 'max'. */
static int lg_charge(size_t *used, size_t max, size_t n) {
  if (n > max || *used > max - n)
    return 1;
  *used += n;
  return 0;
}

/* Pushes the marker table (see gavel/core.lua: set_markers). */
static int push_cfg(lua_State *L) {
  lua_pushlightuserdata(L, &lg_cfg_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushlightuserdata(L, &lg_cfg_key);
    lua_pushvalue(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
  }
  return lua_gettop(L);
}

/* Records the failure with the path of the current value; the code is
** GAVEL_JSON (conv_fail) or GAVEL_LIMIT (conv_limit). */
static int conv_vfail(lg_conv *c, int code, const char *fmt, va_list ap) {
  char what[GAVEL_ERRMSG_SIZE / 2];
  char path[GAVEL_ERRMSG_SIZE / 2];
  size_t n = 0;
  int i;
  vsnprintf(what, sizeof what, fmt, ap);
  n = (size_t)snprintf(path, sizeof path, "%s", c->what);
  for (i = 0; i < c->depth && n < sizeof path; i++) {
    if (c->segs[i].k)
      n += (size_t)snprintf(path + n, sizeof path - n, ".%.*s",
                            (int)(c->segs[i].klen > 64 ? 64 : c->segs[i].klen),
                            c->segs[i].k);
    else
      n += (size_t)snprintf(path + n, sizeof path - n, "[%ld]",
                            c->segs[i].idx);
  }
  snprintf(c->msg, sizeof c->msg, "%.200s (at %.250s)", what, path);
  c->code = code;
  return 1;
}

static int conv_fail(lg_conv *c, const char *fmt, ...) GAVEL_PRINTF(2, 3);
static int conv_fail(lg_conv *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  conv_vfail(c, GAVEL_JSON, fmt, ap);
  va_end(ap);
  return 1;
}

static int conv_limit(lg_conv *c, const char *fmt, ...) GAVEL_PRINTF(2, 3);
static int conv_limit(lg_conv *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  conv_vfail(c, GAVEL_LIMIT, fmt, ap);
  va_end(ap);
  return 1;
}

/* NaN and the infinities have no JSON form: the JSON reader refuses a
** number it cannot represent ("number out of range"), so Lua input does
** too (the engine never sees a non-finite input number). */
static int bad_number(lg_conv *c, lua_Number d) {
  return conv_fail(c, "number out of range (%s)",
                   d != d ? "NaN" : d > 0 ? "inf" : "-inf");
}

/* An allocation in the conversion's arena failed: out of memory, or the
** arena's cap (max_run_bytes, the core's wording) was reached. */
static int conv_nomem(lg_conv *c) {
  if (gavel__arena_status(c->a) == GAVEL_LIMIT)
    return conv_limit(c, "Limit exceeded: run memory over %zu bytes "
                      "(max_run_bytes)", c->a->limit);
  return conv_fail(c, "out of memory");
}

/* Charges 'n' bytes of input size (see "Input limits"). */
static int conv_charge(lg_conv *c, size_t n) {
  if (lg_charge(&c->used, c->max_bytes, n))
    return conv_limit(c, "input too large: more than %zu bytes (max %zu)",
                      c->max_bytes, c->max_bytes);
  return 0;
}

/* 1 if the value at 'idx' is rawequal to the marker field 'name'. */
static int is_marker(lua_State *L, int cfg, int idx, const char *name) {
  int r;
  lua_getfield(L, cfg, name);
  r = !lua_isnil(L, -1) && lua_rawequal(L, -1, idx);
  lua_pop(L, 1);
  return r;
}

static int to_value(lg_conv *c, int idx, gvalue *out);

static int str_value(lg_conv *c, int idx, gvalue *out) {
  size_t len;
  const char *s = lua_tolstring(c->L, idx, &len);
  gv_str *gs;
  if (len > GAVEL_MAX_STR_BYTES)
    return conv_limit(c, "string of %zu bytes exceeds maximum of %u (limit "
                      "max_string_bytes)", len,
                      (unsigned)GAVEL_MAX_STR_BYTES);
  if (conv_charge(c, len + LG_SIZE_STR))
    return 1;
  if (!utf8_valid((const unsigned char *)s, len))
    return conv_fail(c, "string is not valid UTF-8");
  if (!(gs = gavel__str_new(c->a, s, len)))
    return conv_nomem(c);
  *out = gv_strv(gs);
  return 0;
}

/* cdata: int64_t/uint64_t -> int, double/float -> float, NULL -> null,
** through the Lua helper 'cdata' of the marker table.  An int is exact
** (lua/README.md), so a uint64_t above INT64_MAX is an error, not a
** wrapped negative number. */
static int cdata_value(lg_conv *c, int idx, gvalue *out) {
  lua_State *L = c->L;
  const char *kind;
  lua_getfield(L, c->cfg, "cdata");
  lua_pushvalue(L, idx);
  if (lua_pcall(L, 1, 2, 0) != 0) {
    lua_pop(L, 1);
    return conv_fail(c, "cannot convert a cdata value");
  }
  kind = lua_tostring(L, -2);
  if (kind && kind[0] == 'i' && lua_tostring(L, -1)) {
    const char *t = lua_tostring(L, -1);
    if (t[0] == '-') {
      *out = gv_int(strtoll(t, NULL, 10));
    } else {
      unsigned long long u = strtoull(t, NULL, 10);
      if (u > (unsigned long long)INT64_MAX) {
        lua_pop(L, 2);
        return conv_fail(c, "integer %llu is out of range (an int is at "
                         "most %lld)", u, (long long)INT64_MAX);
      }
      *out = gv_int((int64_t)u);
    }
  } else if (kind && kind[0] == 'f') {
    lua_Number d = lua_tonumber(L, -1);
    if (!isfinite(d)) {
      lua_pop(L, 2);
      return bad_number(c, d);
    }
    *out = gv_float(d);
  } else if (kind && kind[0] == 'n') {
    *out = gv_null();
  } else {
    lua_pop(L, 2);
    return conv_fail(c, "cannot convert a cdata value");
  }
  lua_pop(L, 2);
  return 0;
}

static int key_text(lua_State *L, int kidx, char *buf, size_t bufsz,
                    const char **k, size_t *klen) {
  if (lua_type(L, kidx) == LUA_TSTRING) {
    *k = lua_tolstring(L, kidx, klen);
    return 0;
  }
  if (lua_type(L, kidx) == LUA_TNUMBER) {
    lua_Number d = lua_tonumber(L, kidx);
    if (d == floor(d) && fabs(d) < 1e18)
      *klen = (size_t)snprintf(buf, bufsz, "%lld", (long long)d);
    else
      *klen = (size_t)snprintf(buf, bufsz, "%.17g", d);
    *k = buf;
    return 0;
  }
  return 1;
}

static int array_value(lg_conv *c, int idx, size_t len, gvalue *out) {
  lua_State *L = c->L;
  gv_arr *arr;
  size_t i;
  if (len > GAVEL_MAX_ARR_LEN)
    return conv_limit(c, "array of %zu elements exceeds maximum of %d (limit "
                      "max_array_len)", len,
                      GAVEL_MAX_ARR_LEN);
  if (conv_charge(c, LG_SIZE_CONTAINER + len * LG_SIZE_ELEM))
    return 1;
  if (!(arr = gavel__arr_new(c->a, (uint32_t)len)))
    return conv_nomem(c);
  for (i = 0; i < len; i++) {
    int rc;
    lua_rawgeti(L, idx, (int)i + 1);
    c->segs[c->depth].k = NULL;
    c->segs[c->depth].idx = (long)i;
    c->depth++;
    if (lua_isnil(L, -1)) {
      arr->items[i] = gv_null();
      rc = 0;
    } else
      rc = to_value(c, lua_gettop(L), &arr->items[i]);
    c->depth--;
    lua_pop(L, 1);
    if (rc)
      return rc;
  }
  arr->len = (uint32_t)len;
  *out = gv_arrv(arr);
  lg_seal(out);
  return 0;
}

static int object_value(lg_conv *c, int idx, size_t n, gvalue *out) {
  lua_State *L = c->L;
  gv_obj *o;
  int had_num = 0; /* a number key was added: string keys replace it */
  if (n > GAVEL_MAX_ARR_LEN)
    return conv_limit(c, "object of %zu keys exceeds maximum of %d (limit "
                      "max_object_keys)", n,
                      GAVEL_MAX_ARR_LEN);
  if (conv_charge(c, LG_SIZE_CONTAINER))
    return 1;
  if (!(o = gavel__obj_new(c->a, (uint32_t)n)))
    return conv_nomem(c);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    char buf[48];
    const char *k;
    size_t klen;
    gv_str *ks;
    gvalue v;
    int numkey = lua_type(L, -2) != LUA_TSTRING;
    if (key_text(L, lua_gettop(L) - 1, buf, sizeof buf, &k, &klen)) {
      lua_pop(L, 2);
      return conv_fail(c, "table key of type %s cannot be a JSON key",
                       luaL_typename(L, -1));
    }
    c->segs[c->depth].k = k;
    c->segs[c->depth].klen = klen;
    c->depth++;
    if (klen > GAVEL_MAX_STR_BYTES) {
      lua_pop(L, 2);
      return conv_limit(c, "key of %zu bytes exceeds maximum of %u (limit "
                        "max_string_bytes)", klen,
                        (unsigned)GAVEL_MAX_STR_BYTES);
    }
    if (conv_charge(c, klen + LG_SIZE_MEMBER)) {
      lua_pop(L, 2);
      return 1;
    }
    if (!utf8_valid((const unsigned char *)k, klen)) {
      lua_pop(L, 2);
      return conv_fail(c, "key is not valid UTF-8");
    }
    /* A number key whose text a string key has ({[1] = x, ["1"] = y}):
    ** the string key wins, whatever the order of lua_next (the binder's
    ** reads and its FFI walker do the same). */
    if (numkey && gavel__obj_find(o, k, klen) >= 0) {
      c->depth--;
      lua_pop(L, 1);
      continue;
    }
    if (to_value(c, lua_gettop(L), &v)) {
      lua_pop(L, 2);
      return 1;
    }
    c->depth--;
    if (!(ks = gavel__str_new(c->a, k, klen)) ||
        !(numkey || !had_num ? gavel__obj_append(c->a, o, ks, v)
                             : gavel__obj_set(c->a, o, ks, v))) {
      lua_pop(L, 2);
      return conv_nomem(c);
    }
    had_num |= numkey;
    lua_pop(L, 1);
  }
  *out = gv_objv(o);
  return 0;
}

/* Tables: gavel.float boxes, arrays (array_mt, cjson's empty_array_mt, or
** only positive integer keys), otherwise objects. */
static int table_value(lg_conv *c, int idx, gvalue *out) {
  lua_State *L = c->L;
  size_t n = 0;
  int all_int = 1, marked = 0;
  lua_Number max = 0;
  if (lua_getmetatable(L, idx)) {
    int mt = lua_gettop(L);
    if (is_marker(L, c->cfg, mt, "float_mt")) {
      lua_pop(L, 1);
      lua_rawgeti(L, idx, 1);
      if (lua_type(L, -1) != LUA_TNUMBER) {
        lua_pop(L, 1);
        return conv_fail(c, "gavel.float box without a number");
      }
      if (!isfinite(lua_tonumber(L, -1))) {
        lua_Number d = lua_tonumber(L, -1);
        lua_pop(L, 1);
        return bad_number(c, d);
      }
      *out = gv_float(lua_tonumber(L, -1));
      lua_pop(L, 1);
      return 0;
    }
    marked = is_marker(L, c->cfg, mt, "array_mt") ||
             is_marker(L, c->cfg, mt, "cjson_array_mt") ||
             is_marker(L, c->cfg, mt, "cjson_empty_array_mt");
    lua_pop(L, 1);
  }
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    n++;
    if (all_int) {
      lua_Number d = lua_type(L, -2) == LUA_TNUMBER ? lua_tonumber(L, -2) : 0;
      if (d < 1 || d != floor(d))
        all_int = 0;
      else if (d > max)
        max = d;
    }
    lua_pop(L, 1);
  }
  if (all_int && (marked || (n > 0 && max <= 2.0 * (double)n + LG_MAX_SPARSE))
      && max > (lua_Number)GAVEL_MAX_ARR_LEN) /* before the size_t cast */
    return conv_limit(c, "array of %.0f elements exceeds maximum of %d (limit "
                      "max_array_len)", max,
                      GAVEL_MAX_ARR_LEN);
  if (marked && all_int)
    return array_value(c, idx, (size_t)max, out);
  if (n > 0 && all_int && max <= 2.0 * (double)n + LG_MAX_SPARSE)
    return array_value(c, idx, (size_t)max, out);
  return object_value(c, idx, n, out);
}

static int cycle_fail(lg_conv *c) {
  return conv_fail(c, "table contains itself (a cycle): it has no JSON form");
}

static uint32_t anc_slot(const void *t) {
  return (uint32_t)(((uint64_t)(uintptr_t)t * 0x9E3779B97F4A7C15ull) >>
                    (64 - LG_ANC_SET_BITS));
}

/* 1 when table 't' is on the path already; else adds it, 0. */
static int anc_add(lg_conv *c, const void *t) {
  uint32_t i = anc_slot(t);
  if (!c->set_ready) {
    memset(c->set, 0, sizeof c->set);
    c->set_ready = 1;
  }
  for (; c->set[i]; i = (i + 1) & (LG_ANC_SET - 1))
    if (c->set[i] == t)
      return 1;
  c->set[i] = t;
  return 0;
}

/* Removes 't', the table added last (tables leave the path in the reverse
** order of their arrival, and undoing linear probing's last insertion is
** emptying its slot). */
static void anc_del(lg_conv *c, const void *t) {
  uint32_t i = anc_slot(t);
  while (c->set[i] != t)
    i = (i + 1) & (LG_ANC_SET - 1);
  c->set[i] = NULL;
}

static int to_value(lg_conv *c, int idx, gvalue *out) {
  lua_State *L = c->L;
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
    *out = gv_null();
    return 0;
  case LUA_TBOOLEAN:
    *out = gv_bool(lua_toboolean(L, idx));
    return 0;
  case LUA_TNUMBER:
    if (!isfinite(lua_tonumber(L, idx)))
      return bad_number(c, lua_tonumber(L, idx));
    *out = num_value(lua_tonumber(L, idx));
    return 0;
  case LUA_TSTRING:
    return str_value(c, idx, out);
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) == NULL) {
      *out = gv_null(); /* gavel.null, cjson.null, ngx.null */
      return 0;
    }
    if (lua_touserdata(L, idx) == &lg_empty_array ||
        is_marker(L, c->cfg, idx, "cjson_empty_array")) {
      gv_arr *a;
      if (conv_charge(c, LG_SIZE_CONTAINER))
        return 1;
      if (!(a = gavel__arr_new(c->a, 0)))
        return conv_nomem(c);
      *out = gv_arrv(a);
      return 0;
    }
    return conv_fail(c, "cannot convert a light userdata");
  case LUA_TTABLE: {
    /* A cycle is found on the path of the current value; without this
    ** check it would be reported as too deep, or as too large when it
    ** branches. */
    const void *t = lua_topointer(L, idx);
    int i, n = c->depth < LG_ANC_SCAN ? c->depth : LG_ANC_SCAN, rc;
    int in_set = c->depth >= LG_ANC_SCAN; /* (a failure leaves c->depth
                                             where it failed) */
    for (i = 0; i < n; i++)
      if (c->anc[i] == t)
        return cycle_fail(c);
    if (in_set && anc_add(c, t))
      return cycle_fail(c);
    if (c->base + c->depth >= GAVEL_MAX_JSON_DEPTH)
      rc = conv_limit(c, "input too deep: nesting exceeds %d levels",
                      GAVEL_MAX_JSON_DEPTH);
    else if (!lua_checkstack(L, 8))
      rc = conv_fail(c, "Lua stack overflow");
    else {
      if (c->depth < LG_ANC_SCAN)
        c->anc[c->depth] = t;
      rc = table_value(c, idx, out);
    }
    if (in_set)
      anc_del(c, t);
    return rc;
  }
  default:
    if (lua_type(L, idx) == LG_TCDATA)
      return cdata_value(c, idx, out);
    return conv_fail(c, "cannot convert a %s", luaL_typename(L, idx));
  }
}

/* Converts the value at 'idx' into arena 'a', under the input limits with
** 'base' containers above it and 'used' bytes of the input counted
** already (c->used then holds the new count).  0 ok; 1 with c->msg and
** c->code set. */
static int convert_at(lua_State *L, int idx, gv_arena *a, const char *what,
                      gvalue *out, lg_conv *c, size_t max_bytes, int base,
                      size_t used) {
  int top = lua_gettop(L), rc;
  idx = abs_index(L, idx);
  c->L = L;
  c->a = a;
  c->depth = 0;
  c->set_ready = 0;
  c->base = base;
  c->code = GAVEL_OK;
  c->used = used;
  c->max_bytes = max_bytes;
  c->what = what;
  c->msg[0] = 0;
  c->cfg = push_cfg(L);
  rc = to_value(c, idx, out);
  lua_settop(L, top);
  return rc;
}

/* The runtime's max_input_bytes: the size limit of every input. */
static size_t rt_max_input(const gavel_runtime *rt) {
  return gavel__runtime_config(rt)->max_input_bytes;
}

/* convert_at for a whole input of at most 'max_bytes'. */
static int convert(lua_State *L, int idx, gv_arena *a, const char *what,
                   gvalue *out, lg_conv *c, size_t max_bytes) {
  return convert_at(L, idx, a, what, out, c, max_bytes, 0, 0);
}

/* ==== Value -> Lua ==== */

/* Results, pending-call parameters and evaluated values are converted up
** to this many nested containers: a value's GAVEL_MAX_JSON_DEPTH levels
** plus the result's own ({output: {key: value}}) and some room.  Deeper
** (or a Lua stack that cannot grow) is an error returned as data, never a
** raise: the C recursion and the Lua stack stay bounded. */
#define LG_MAX_RESULT_DEPTH (GAVEL_MAX_JSON_DEPTH + 8)
#define LG_RESULT_DEEP_MSG "result nested deeper than 520 levels"
/* the message's number; also MAX_DEPTH in gavel/value.lua */
typedef char lg_result_depth_check[LG_MAX_RESULT_DEPTH == 520 ? 1 : -1];

static int push_value(lua_State *L, gvalue v, int int64, int cfg, int depth);

static void push_int(lua_State *L, int64_t i, int int64, int cfg) {
  if (!int64) {
    lua_pushnumber(L, (lua_Number)i);
    return;
  }
  lua_getfield(L, cfg, "int64"); /* int64(hi, lo) -> int64_t cdata */
  lua_pushnumber(L, (lua_Number)(int32_t)(uint32_t)((uint64_t)i >> 32));
  lua_pushnumber(L, (lua_Number)(uint32_t)((uint64_t)i & 0xffffffffu));
  lua_call(L, 2, 1);
}

/* Pushes 'v'; 0, or 1 with nothing pushed when it is nested deeper than
** LG_MAX_RESULT_DEPTH. */
static int push_value(lua_State *L, gvalue v, int int64, int cfg, int depth) {
  uint32_t i;
  if (((gv_typeof(v) == GV_ARR || gv_typeof(v) == GV_OBJ) &&
       depth >= LG_MAX_RESULT_DEPTH) ||
      !lua_checkstack(L, 6))
    return 1;
  switch (gv_typeof(v)) {
  case GV_NULL:
  case GV_MISSING:
    lua_pushlightuserdata(L, NULL);
    break;
  case GV_BOOL:
    lua_pushboolean(L, (int)v.u.i);
    break;
  case GV_INT:
    push_int(L, v.u.i, int64, cfg);
    break;
  case GV_FLOAT:
    lua_pushnumber(L, v.u.f);
    break;
  case GV_STR:
    lua_pushlstring(L, v.u.s->s, v.u.s->len);
    break;
  case GV_ARR:
    lua_createtable(L, (int)v.u.a->len, 0);
    for (i = 0; i < v.u.a->len; i++) {
      if (push_value(L, v.u.a->items[i], int64, cfg, depth + 1)) {
        lua_pop(L, 1);
        return 1;
      }
      lua_rawseti(L, -2, (int)i + 1);
    }
    lua_getfield(L, cfg, "array_mt");
    lua_setmetatable(L, -2);
    break;
  case GV_OBJ:
    lua_createtable(L, 0, (int)v.u.o->len);
    for (i = 0; i < v.u.o->len; i++) {
      if (v.u.o->vals[i].tag == GV_MISSING)
        continue;
      lua_pushlstring(L, v.u.o->keys[i]->s, v.u.o->keys[i]->len);
      if (push_value(L, v.u.o->vals[i], int64, cfg, depth + 1)) {
        lua_pop(L, 2);
        return 1;
      }
      lua_rawset(L, -3);
    }
    break;
  }
  return 0;
}

/* Pushes 'v' (one value); 0, or 1 with nothing pushed (too deep). */
static int push_result(lua_State *L, gvalue v, int int64) {
  int cfg = push_cfg(L);
  if (push_value(L, v, int64, cfg, 0)) {
    lua_settop(L, cfg - 1);
    return 1;
  }
  lua_remove(L, cfg);
  return 0;
}

/* nil, message, "GAVEL_LIMIT" for a value too deep to convert ('what':
** the value's name in the message, or NULL for the run's result). */
static int push_too_deep(lua_State *L, const char *what) {
  lua_pushnil(L);
  if (what)
    lua_pushfstring(L, "%s: " LG_RESULT_DEEP_MSG, what);
  else
    lua_pushstring(L, LG_RESULT_DEEP_MSG);
  lua_pushstring(L, gavel_status_name(GAVEL_LIMIT));
  return 3;
}

/* ==== Errors as data: nil, msg, "GAVEL_X" ==== */

static int push_fail(lua_State *L, const gavel_error *e, gavel_status st) {
  lua_pushnil(L);
  lua_pushstring(L, e && e->msg[0] ? e->msg : gavel_strerror(st));
  lua_pushstring(L, gavel_status_name(st));
  return 3;
}

/* ==== The FFI face: gavel_lua_api ==== */

static void api_begin(gavel_lua_exec *h) {
  gavel__exec_prepare(h->ex);
  h->bind_failed = 0;
  h->json_mode = 0;
  h->in_used = 0;
  h->in_over = 0;
}

static void bind_fail(gavel_lua_exec *h, int slot, gavel_status code,
                      const char *what) {
  if (h->bind_failed)
    return; /* the first problem wins */
  gavel__errorf(&h->err, code, "%s (at %s)", what, h->lrs->leaf_path[slot]);
  h->bind_failed = 1;
}

static void api_set_str(gavel_lua_exec *h, int slot, const char *s,
                        size_t len) {
  gv_str *gs;
  char msg[128];
  if (slot < 0 || slot >= h->lrs->n_leaves)
    return;
  if (len > GAVEL_MAX_STR_BYTES) { /* the input limits, as convert() */
    snprintf(msg, sizeof msg, "string of %zu bytes exceeds maximum of %u "
             "(limit max_string_bytes)",
             len, (unsigned)GAVEL_MAX_STR_BYTES);
    bind_fail(h, slot, GAVEL_LIMIT, msg);
    h->flat[slot] = gv_missing();
    return;
  }
  if (lg_charge(&h->in_used, h->in_max, len + LG_SIZE_STR)) {
    snprintf(msg, sizeof msg, "input too large: more than %zu bytes (max %zu)",
             h->in_max, h->in_max);
    bind_fail(h, slot, GAVEL_LIMIT, msg);
    h->flat[slot] = gv_missing();
    return;
  }
  if (!utf8_valid((const unsigned char *)s, len)) {
    bind_fail(h, slot, GAVEL_JSON, "string is not valid UTF-8");
    h->flat[slot] = gv_missing();
    return;
  }
  if (!(gs = gavel__str_new(h->arena, s, len))) {
    bind_fail(h, slot, GAVEL_NOMEM, "out of memory");
    h->flat[slot] = gv_missing();
    return;
  }
  h->flat[slot] = gv_strv(gs);
}

/* Copies the slots into the skeleton and runs.  A gavel_status. */
static int api_run(gavel_lua_exec *h, unsigned flags) {
  int i, n = h->lrs->n_leaves;
  if (h->bind_failed)
    return (int)h->err.code;
  for (i = 0; i < n; i++)
    *h->leafp[i] = h->flat[i];
#ifdef GAVEL_MAX_VALUE_DEPTH
  for (i = 0; i < h->n_inner; i++)
    lg_seal(h->inner[i]);
#endif
  return (int)gavel__exec_run_value(h->ex, h->root, flags, &h->err);
}

static gvalue *api_slots(gavel_lua_exec *h) { return h->flat; }

/* The result value of a finished run (value path), for the FFI builder. */
static const gvalue *api_result(gavel_lua_exec *h) {
  h->res = gavel__exec_result(h->ex);
  return &h->res;
}

static int api_n_metrics(gavel_lua_exec *h) {
  int n = 0;
  gavel__exec_metrics(h->ex, &n);
  return n;
}
static void api_abandon(gavel_lua_exec *h) { gavel_exec_abandon(h->ex); }
static const char *api_status_name(int code) {
  return gavel_status_name((gavel_status)code);
}

/* Value builders for the Lua table walker of gavel/binder.lua: values go
** into the run arena and are charged to the run's input count as
** convert() charges them ("Input limits"); NULL / -1 on arena failure,
** invalid UTF-8 or a limit (the caller then retries with the C walker,
** from the count 'mark' gave before, and the C walker names the
** problem). */
/* Charges 'n' bytes to the run's input count; 1 (and in_over set) when
** that passes max_input_bytes. */
static int api_charge(gavel_lua_exec *h, size_t n) {
  if (lg_charge(&h->in_used, h->in_max, n)) {
    h->in_over = 1;
    return 1;
  }
  return 0;
}

static gv_str *api_new_str(gavel_lua_exec *h, const char *s, size_t len) {
  if (len > GAVEL_MAX_STR_BYTES || api_charge(h, len + LG_SIZE_STR) ||
      !utf8_valid((const unsigned char *)s, len))
    return NULL;
  return gavel__str_new(h->arena, s, len);
}

static gv_arr *api_new_arr(gavel_lua_exec *h, uint32_t n) {
  gv_arr *a;
  uint32_t i;
  if (n > GAVEL_MAX_ARR_LEN ||
      api_charge(h, LG_SIZE_CONTAINER + (size_t)n * LG_SIZE_ELEM) ||
      !(a = gavel__arr_new(h->arena, n)))
    return NULL;
  for (i = 0; i < n; i++)
    a->items[i] = gv_null();
  a->len = n;
  return a;
}

static gv_obj *api_new_obj(gavel_lua_exec *h, uint32_t cap) {
  if (cap > GAVEL_MAX_ARR_LEN || api_charge(h, LG_SIZE_CONTAINER))
    return NULL;
  return gavel__obj_new(h->arena, cap);
}

/* The run's input count (for capi.set's 'mark'); a double, so that the
** FFI returns a plain number. */
static double api_mark(gavel_lua_exec *h) { return (double)h->in_used; }

/* Sets the nesting header of a container the Lua walker filled. */
static void api_seal(gvalue *v) { lg_seal(v); }

/* Adds key k (null value) and returns its index; 'replace' 1: reuse an
** existing equal key (a string key over a number key's text), 2: -2 when
** the key exists (a number key whose text a string key has: the string
** key wins, as in object_value).  -1 on failure. */
static int api_obj_add(gavel_lua_exec *h, gv_obj *o, const char *k,
                       size_t klen, int replace) {
  gv_str *ks;
  int i;
  if (klen > GAVEL_MAX_STR_BYTES || api_charge(h, klen + LG_SIZE_MEMBER))
    return -1;
  if (replace && (i = gavel__obj_find(o, k, klen)) >= 0)
    return replace == 2 ? -2 : i;
  if (!utf8_valid((const unsigned char *)k, klen) ||
      !(ks = gavel__str_new(h->arena, k, klen)) ||
      !gavel__obj_append(h->arena, o, ks, gv_null()))
    return -1;
  return (int)o->len - 1;
}

/* Keep in step with the cdef in lua/gavel/core.lua (a spec checks). */
typedef struct gavel_lua_api {
  unsigned abi;        /* GAVEL_VERSION_NUM of this build                */
  unsigned error_size; /* sizeof(gavel_error)                            */
  unsigned value_size; /* sizeof(gvalue)                                 */
  unsigned (*version)(void);
  const char *(*status_name)(int code);
  double (*now_ms)(void);
  void (*begin)(gavel_lua_exec *h);
  void (*set_str)(gavel_lua_exec *h, int slot, const char *s, size_t len);
  int (*run)(gavel_lua_exec *h, unsigned flags);
  gvalue *(*slots)(gavel_lua_exec *h);
  void (*abandon)(gavel_lua_exec *h);
  const gvalue *(*result)(gavel_lua_exec *h);
  int (*n_metrics)(gavel_lua_exec *h);
  unsigned str_s_offset; /* offsetof(gv_str, s)                         */
  unsigned obj_size;     /* sizeof(gv_obj)                              */
  unsigned arr_size;     /* sizeof(gv_arr)                              */
  gv_str *(*new_str)(gavel_lua_exec *h, const char *s, size_t len);
  gv_arr *(*new_arr)(gavel_lua_exec *h, uint32_t n);
  gv_obj *(*new_obj)(gavel_lua_exec *h, uint32_t cap);
  int (*obj_add)(gavel_lua_exec *h, gv_obj *o, const char *k, size_t klen,
                 int replace);
  double (*mark)(gavel_lua_exec *h);
  void (*seal)(gvalue *v);
  unsigned arr_items_offset; /* offsetof(gv_arr, items): Lua reads the   */
  unsigned obj_keys_offset;  /* leading fields of gv_arr and gv_obj     */
  unsigned obj_vals_offset;  /* only, so the core may append fields     */
} gavel_lua_api;

static const gavel_lua_api lg_api = {
    GAVEL_VERSION_NUM, sizeof(gavel_error), sizeof(gvalue),
    gavel_version,     api_status_name,     now_ms,
    api_begin,         api_set_str,         api_run,
    api_slots,         api_abandon,         api_result,
    api_n_metrics,     offsetof(gv_str, s), sizeof(gv_obj),
    sizeof(gv_arr),    api_new_str,         api_new_arr,
    api_new_obj,       api_obj_add,         api_mark,
    api_seal,          offsetof(gv_arr, items), offsetof(gv_obj, keys),
    offsetof(gv_obj, vals)};

/* ==== Userdata helpers ==== */

static lg_rt *check_rt(lua_State *L, int idx) {
  lg_rt **p = luaL_checkudata(L, idx, LG_RUNTIME);
  if (!*p)
    luaL_argerror(L, idx, "runtime is closed");
  return *p;
}

static lg_rs *check_rs(lua_State *L, int idx) {
  lg_rs **p = luaL_checkudata(L, idx, LG_RULESET);
  if (!*p)
    luaL_argerror(L, idx, "ruleset is closed");
  return *p;
}

static gavel_lua_exec *check_exec(lua_State *L, int idx) {
  gavel_lua_exec *h = luaL_checkudata(L, idx, LG_EXEC);
  if (!h->ex)
    luaL_argerror(L, idx, "execution context is closed");
  return h;
}

static lg_expr *check_expr(lua_State *L, int idx) {
  lg_expr *x = luaL_checkudata(L, idx, LG_EXPR);
  if (!x->e)
    luaL_argerror(L, idx, "expression is closed");
  return x;
}

/* ==== Runtime and providers ==== */

static gavel_lua_runtime_hook lg_hook;   /* set by the host, or NULL */
static void *lg_hook_ud;                 /* its user data            */

void gavel_lua_set_runtime_hook(gavel_lua_runtime_hook fn, void *ud) {
  lg_hook = fn;
  lg_hook_ud = ud;
}

/* ==== Runtime configuration ====
**
** The numeric fields of gavel_config that Lua may set, with their range.
** gavel.configure validates first (with messages at the caller's level);
** the checks here keep a bad number from ever reaching a C conversion
** (a double out of an integer type's range is undefined behaviour:
** inf or 2^70 gave a gas budget of 0). */
typedef enum { LG_U64, LG_SIZE, LG_U32 } lg_cfg_type;

static const struct {
  const char *name;
  size_t off;
  lg_cfg_type type;
} lg_cfg_fields[] = {
    {"gas_limit", offsetof(gavel_config, gas_limit), LG_U64},
    {"max_input_bytes", offsetof(gavel_config, max_input_bytes), LG_SIZE},
    {"max_gas", offsetof(gavel_config, max_gas), LG_U64},
    {"max_steps", offsetof(gavel_config, max_steps), LG_U64},
    {"max_timeout_ms", offsetof(gavel_config, max_timeout_ms), LG_U32},
    {"max_run_bytes", offsetof(gavel_config, max_run_bytes), LG_SIZE},
    {"max_result_bytes", offsetof(gavel_config, max_result_bytes), LG_SIZE},
    {"max_call_bytes", offsetof(gavel_config, max_call_bytes), LG_SIZE},
};

#define LG_2P63 9223372036854775808.0 /* 2^63: above every int64 value */

/* Reads the fields of the table at 'idx' into 'cfg' (absent: unchanged).
** Each must be an integer from 1 to its type's range (at most 2^63 - 1);
** anything else raises, naming the field. */
static void cfg_read(lua_State *L, int idx, gavel_config *cfg) {
  size_t i;
  for (i = 0; i < sizeof lg_cfg_fields / sizeof lg_cfg_fields[0]; i++) {
    const char *name = lg_cfg_fields[i].name;
    char *f = (char *)cfg + lg_cfg_fields[i].off;
    double max = lg_cfg_fields[i].type == LG_U32 ? 4294967295.0 : LG_2P63;
    lua_Number d;
    lua_getfield(L, idx, name);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      continue;
    }
    if (lua_type(L, -1) != LUA_TNUMBER)
      luaL_error(L, "gavel: %s must be a number, got %s", name,
                 luaL_typename(L, -1));
    d = lua_tonumber(L, -1);
    lua_pop(L, 1);
    /* written so that NaN fails too */
    if (!(d >= 1 && (lg_cfg_fields[i].type == LG_U32 ? d <= max : d < max) &&
          d == floor(d)))
      luaL_error(L, "gavel: %s must be an integer from 1 to %s, got %f",
                 name,
                 lg_cfg_fields[i].type == LG_U32 ? "4294967295" : "2^63-1",
                 d);
    switch (lg_cfg_fields[i].type) {
    case LG_U64:
      *(uint64_t *)(void *)f = (uint64_t)d;
      break;
    case LG_SIZE:
      *(size_t *)(void *)f = (size_t)d;
      break;
    case LG_U32:
      *(uint32_t *)(void *)f = (uint32_t)d;
      break;
    }
  }
  lua_getfield(L, idx, "jit");
  if (!lua_isnil(L, -1)) /* true: on, false: off (gavel_config.jit) */
    cfg->jit = lua_toboolean(L, -1) ? 1 : 2;
  lua_pop(L, 1);
}

/* capi.runtime([{gas_limit=, max_input_bytes=, max_gas=, ..., jit=}])
** -> runtime */
static int l_runtime(lua_State *L) {
  gavel_config cfg;
  gavel_error err;
  lg_rt **p = lua_newuserdata(L, sizeof *p);
  lg_rt *r;
  *p = NULL;
  luaL_getmetatable(L, LG_RUNTIME);
  lua_setmetatable(L, -2);
  memset(&cfg, 0, sizeof cfg);
  cfg.abi = GAVEL_VERSION_NUM;
  if (lua_istable(L, 1))
    cfg_read(L, 1, &cfg);
  if (!(r = calloc(1, sizeof *r)))
    return luaL_error(L, "gavel: out of memory");
  if (gavel_runtime_new(&cfg, &r->rt, &err) != GAVEL_OK) {
    free(r);
    return push_fail(L, &err, err.code);
  }
  r->refs = 1;
  *p = r;
  if (lg_hook && lg_hook(lg_hook_ud, r->rt, &err) != GAVEL_OK)
    return push_fail(L, &err, err.code);
  return 1;
}

/* capi.configure(rt, opts) -> true | nil, err, code
** Sets fields of the runtime's configuration (see cfg_read) before its
** first ruleset or expression; raises after (misuse: a ruleset loaded
** before would keep the old defaults and ceilings).  The new
** configuration goes through gavel_runtime_new, which fills in the
** defaults of the fields left at 0 as for any host, and is then copied
** into the runtime in place: the Lua state's handle, its providers and
** the rulesets' references stay as they are. */
static int l_configure(lua_State *L) {
  lg_rt *r = check_rt(L, 1);
  gavel_config cfg;
  gavel_runtime *tmp;
  gavel_error err;
  luaL_checktype(L, 2, LUA_TTABLE);
  if (r->used)
    return luaL_error(L, "gavel.configure: the runtime is in use (a ruleset "
                         "or expression was made); configure before the "
                         "first gavel.load, compile or eval");
  cfg = *gavel__runtime_config(r->rt);
  cfg.realloc = NULL; /* the temporary runtime allocates nothing */
  cfg.alloc_ud = NULL;
  cfg_read(L, 2, &cfg);
  if (gavel_runtime_new(&cfg, &tmp, &err) != GAVEL_OK)
    return push_fail(L, &err, err.code);
  cfg = *gavel__runtime_config(tmp);
  gavel_runtime_free(tmp);
  cfg.abi = r->rt->cfg.abi;
  cfg.realloc = r->rt->cfg.realloc;
  cfg.alloc_ud = r->rt->cfg.alloc_ud;
  r->rt->cfg = cfg;
  lua_pushboolean(L, 1);
  return 1;
}

/* capi.config(rt) -> { gas_limit, max_input_bytes, max_gas, ... } (the
** runtime's configuration, defaults filled in) */
static int l_config(lua_State *L) {
  lg_rt *r = check_rt(L, 1);
  const gavel_config *cfg = gavel__runtime_config(r->rt);
  size_t i;
  lua_createtable(L, 0, 10);
  for (i = 0; i < sizeof lg_cfg_fields / sizeof lg_cfg_fields[0]; i++) {
    const char *f = (const char *)cfg + lg_cfg_fields[i].off;
    lua_Number d = 0;
    switch (lg_cfg_fields[i].type) {
    case LG_U64:
      d = (lua_Number) * (const uint64_t *)(const void *)f;
      break;
    case LG_SIZE:
      d = (lua_Number) * (const size_t *)(const void *)f;
      break;
    case LG_U32:
      d = (lua_Number) * (const uint32_t *)(const void *)f;
      break;
    }
    lua_pushnumber(L, d);
    lua_setfield(L, -2, lg_cfg_fields[i].name);
  }
  lua_pushboolean(L, cfg->jit == 1 || cfg->jit == 3); /* on or auto */
  lua_setfield(L, -2, "jit");
  return 1;
}

static int gc_runtime(lua_State *L) {
  lg_rt **p = luaL_checkudata(L, 1, LG_RUNTIME);
  rt_unref(*p);
  *p = NULL;
  return 0;
}

static lg_saved *find_saved(lg_rt *r, const char *name) {
  int i;
  for (i = 0; i < r->n_saved; i++)
    if (!strcmp(r->saved[i].name, name))
      return &r->saved[i];
  return NULL;
}

/* capi.provide(rt, name) -> true, had_c_provider
** Makes 'name' an asynchronous capability (runs return PENDING and Lua
** calls the provider).  A C provider it replaces is kept for wrapping. */
static int l_provide(lua_State *L) {
  lg_rt *r = check_rt(L, 1);
  const char *name = luaL_checkstring(L, 2);
  const gv_provider *pv = gavel__host_find(r->rt, name, strlen(name));
  gavel_error err;
  if (pv && (pv->fn || pv->vfn) && !find_saved(r, name)) {
    lg_saved *ns = realloc(r->saved, (size_t)(r->n_saved + 1) * sizeof *ns);
    if (!ns)
      return luaL_error(L, "gavel: out of memory");
    r->saved = ns;
    ns[r->n_saved].name = strdup(name);
    ns[r->n_saved].fn = pv->fn;
    ns[r->n_saved].vfn = pv->vfn;
    ns[r->n_saved].ud = pv->ud;
    if (!ns[r->n_saved].name)
      return luaL_error(L, "gavel: out of memory");
    r->n_saved++;
  }
  if (gavel_runtime_provide(r->rt, name, NULL, NULL, &err) != GAVEL_OK)
    return push_fail(L, &err, err.code);
  lua_pushboolean(L, 1);
  lua_pushboolean(L, find_saved(r, name) != NULL);
  return 2;
}

/* capi.provided(rt) -> { name = "c" | "async", ... } */
static int l_provided(lua_State *L) {
  lg_rt *r = check_rt(L, 1);
  int i;
  lua_createtable(L, 0, r->rt->n_providers);
  for (i = 0; i < r->rt->n_providers; i++) {
    const gv_provider *pv = &r->rt->providers[i];
    lua_pushstring(L, (pv->fn || pv->vfn) ? "c" : "async");
    lua_setfield(L, -2, pv->name);
  }
  return 1;
}

/* capi.has_c(rt, name) -> true when a C provider serves or served 'name' */
static int l_has_c(lua_State *L) {
  lg_rt *r = check_rt(L, 1);
  const char *name = luaL_checkstring(L, 2);
  const gv_provider *cur = gavel__host_find(r->rt, name, strlen(name));
  lua_pushboolean(L, find_saved(r, name) || (cur && (cur->fn || cur->vfn)));
  return 1;
}

/* capi.invoke_c(rt, name, operation, params, timeout_ms, ruleset, path)
** -> payload, metadata | nil, err: calls the C provider that a Lua
** provider replaced (so Lua can wrap it). */
static int l_invoke_c(lua_State *L) {
  lg_rt *r = check_rt(L, 1);
  const char *name = luaL_checkstring(L, 2);
  const char *op = luaL_optstring(L, 3, "");
  lg_saved *sv = find_saved(r, name);
  gv_provider pv;
  gv_hostreq req;
  gv_arena a;
  gvalue payload, meta;
  char msg[GAVEL_ERRMSG_SIZE];
  lg_conv c;
  int rc;
  const gv_provider *cur = gavel__host_find(r->rt, name, strlen(name));
  lua_Number t;
  if (!sv && !(cur && (cur->fn || cur->vfn)))
    return luaL_error(L, "gavel: no C provider for '%s'", name);
  t = luaL_optnumber(L, 5, 0);
  if (!(t >= 0 && t <= 4294967295.0 && t == floor(t))) /* NaN fails too */
    return luaL_error(L, "gavel: timeout_ms must be an integer from 0 to "
                         "4294967295");
  gavel__arena_init(&a, gavel__runtime_alloc(r->rt), 0);
  memset(&req, 0, sizeof req);
  req.capability = gavel__str_cstr(&a, name);
  req.operation = gavel__str_cstr(&a, op);
  req.timeout_ms = (uint32_t)t;
  req.ruleset = luaL_optstring(L, 6, "");
  req.path = luaL_optstring(L, 7, "");
  if (!req.capability || !req.operation ||
      convert(L, 4, &a, "params", &req.params, &c, rt_max_input(r->rt))) {
    gavel__arena_free(&a);
    lua_pushnil(L);
    lua_pushstring(L, c.msg[0] ? c.msg : "out of memory");
    return 2;
  }
  if (sv) {
    memset(&pv, 0, sizeof pv);
    pv.name = sv->name;
    pv.fn = sv->fn;
    pv.vfn = sv->vfn;
    pv.ud = sv->ud;
  } else
    pv = *cur;
  rc = gavel__host_invoke(&pv, &a, &req, &payload, &meta, msg, sizeof msg);
  if (rc) {
    lua_pushnil(L);
    lua_pushstring(L, msg);
  } else {
    if (push_result(L, payload, 0)) {
      lua_pushnil(L);
      lua_pushstring(L, "provider payload: " LG_RESULT_DEEP_MSG);
    } else if (meta.tag != GV_OBJ || push_result(L, meta, 0))
      lua_pushnil(L);
  }
  gavel__arena_free(&a);
  return 2;
}

/* ==== Rulesets and the input plan ==== */

static pnode *pn_new(gv_arena *a) {
  pnode *n = gavel__arena_alloc(a, sizeof *n);
  if (n)
    memset(n, 0, sizeof *n);
  return n;
}

static pnode *pn_child(gv_arena *a, pnode *n, const gx_seg *sg) {
  pnode *c;
  for (c = n->child; c; c = c->next)
    if (sg->kind == GX_SEG_INDEX ? c->index == sg->index
                                 : gavel__str_eq(c->key, sg->key))
      return c;
  if (!(c = pn_new(a)))
    return NULL;
  if (sg->kind == GX_SEG_INDEX)
    c->index = sg->index;
  else
    c->key = sg->key;
  if (n->last)
    n->last->next = c;
  else
    n->child = c;
  n->last = c;
  n->n_child++;
  return c;
}

/* Trie levels: a path segment deeper than this is read whole from the
** node at this depth.  Bounds the recursion over the trie here and the
** nesting of the generated binder (Lua refuses a chunk nested about 200
** levels deep: gavel.load raised for an expression reading a.a.a...). */
#define LG_PLAN_MAX_DEPTH 64

/* Adds one input path to the trie.  A wildcard, a key/index conflict, a
** huge index or a depth over LG_PLAN_MAX_DEPTH makes the node where it
** happens a whole leaf. */
static int plan_insert(gv_arena *a, pnode *root, const gx_path *p) {
  pnode *n = root;
  int j;
  for (j = 0; j < p->n_segs; j++) {
    const gx_seg *sg = &p->segs[j];
    pn_kind want;
    if (n->whole)
      return 0;
    if (sg->kind == GX_SEG_WILD || j >= LG_PLAN_MAX_DEPTH)
      break;
    want = sg->kind == GX_SEG_INDEX ? PN_ARR : PN_OBJ;
    if (want == PN_ARR && (sg->index < 0 || sg->index >= 1024))
      break;
    if (n->kind == PN_NONE)
      n->kind = want;
    else if (n->kind != want)
      break;
    if (!(n = pn_child(a, n, sg)))
      return -1;
  }
  n->whole = 1;
  return 0;
}

static void plan_number(lg_rs *r, pnode *n, char *path, size_t plen,
                        int fill, int depth) {
  pnode *c;
  if (n->whole) {
    if (fill) {
      r->leaf_path[n->leaf] = gavel__arena_dup(&r->plan_arena, path, plen + 1);
      r->leaf_depth[n->leaf] = depth;
    } else
      n->leaf = r->n_leaves++;
    return;
  }
  if (!fill)
    r->n_inner++;
  for (c = n->child; c; c = c->next) {
    size_t k;
    if (n->kind == PN_ARR)
      k = (size_t)snprintf(path + plen, 512 - plen, "[%lld]",
                           (long long)c->index);
    else
      k = (size_t)snprintf(path + plen, 512 - plen, ".%.*s",
                           (int)(c->key->len > 100 ? 100 : c->key->len),
                           c->key->s);
    if (plen + k >= 511)
      k = 511 - plen;
    plan_number(r, c, path, plen + k, fill, depth + 1);
    path[plen] = 0;
  }
}

/* 1 when a call_rule_set action of the main graph passes its whole input
** on (no input_mapping): the child may read any path. */
static int passes_input(const gv_graph *g) {
  int i, j, k;
  for (i = 0; i < g->n_steps; i++) {
    const gv_step *s = &g->steps[i];
    for (k = 0; k < s->n_actions; k++)
      if (s->actions[k].type == ACT_CALLRS && !s->actions[k].value)
        return 1;
    for (j = 0; j < s->n_branches; j++)
      for (k = 0; k < s->branches[j].n_actions; k++)
        if (s->branches[j].actions[k].type == ACT_CALLRS &&
            !s->branches[j].actions[k].value)
          return 1;
  }
  return 0;
}

static int build_plan(lg_rs *r) {
  const gv_graph *g = &r->rs->graphs[0];
  char path[512];
  uint32_t i;
  gavel__arena_init(&r->plan_arena, gavel__runtime_alloc(r->lrt->rt), 0);
  if (!(r->root = pn_new(&r->plan_arena)))
    return -1;
  if (g->st.needs_root || passes_input(g))
    r->root->whole = 1;
  for (i = 0; i < g->st.n_inputs; i++)
    if (plan_insert(&r->plan_arena, r->root, g->st.inputs[i]))
      return -1;
  r->whole_root = r->root->whole;
  plan_number(r, r->root, path, 0, 0, 0);
  r->leaf_path = gavel__arena_alloc(&r->plan_arena,
                                    (size_t)(r->n_leaves + 1) * sizeof(char *));
  r->leaf_depth = gavel__arena_alloc(&r->plan_arena,
                                     (size_t)(r->n_leaves + 1) * sizeof(int));
  if (!r->leaf_path || !r->leaf_depth)
    return -1;
  snprintf(path, sizeof path, "input");
  plan_number(r, r->root, path, 5, 1, 0);
  return r->plan_arena.failed ? -1 : 0;
}

static void push_plan_node(lua_State *L, const pnode *n) {
  const pnode *c;
  int i = 1;
  lua_createtable(L, 0, 3);
  if (n->whole) {
    lua_pushinteger(L, n->leaf);
    lua_setfield(L, -2, "leaf");
    return;
  }
  lua_pushstring(L, n->kind == PN_ARR ? "arr" : "obj");
  lua_setfield(L, -2, "kind");
  lua_createtable(L, n->n_child, 0);
  for (c = n->child; c; c = c->next) {
    push_plan_node(L, c);
    if (n->kind == PN_ARR) {
      lua_pushnumber(L, (lua_Number)c->index);
      lua_setfield(L, -2, "index");
    } else {
      lua_pushlstring(L, c->key->s, c->key->len);
      lua_setfield(L, -2, "key");
    }
    lua_rawseti(L, -2, i++);
  }
  lua_setfield(L, -2, "children");
}

/* capi.plan(rs) -> { n = leaves, whole_root = bool, root = node, paths } */
static int l_plan(lua_State *L) {
  lg_rs *r = check_rs(L, 1);
  int i;
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, r->n_leaves);
  lua_setfield(L, -2, "n");
  lua_pushboolean(L, r->whole_root);
  lua_setfield(L, -2, "whole_root");
  lua_pushboolean(L, r->rs->enable_trace);
  lua_setfield(L, -2, "enable_trace");
  luaL_checkstack(L, 2 * GAVEL_MAX_JSON_DEPTH + 20, "plan too deep");
  push_plan_node(L, r->root);
  lua_setfield(L, -2, "root");
  lua_createtable(L, r->n_leaves, 0);
  for (i = 0; i < r->n_leaves; i++) {
    lua_pushstring(L, r->leaf_path[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "paths");
  return 1;
}

typedef struct lg_diags {
  gv_buf b;  /* "E<msg>\n" / "W<msg>\n" lines */
} lg_diags;

static void on_diag(void *ud, gavel_diag_level lvl, const gavel_error *e) {
  lg_diags *d = ud;
  gavel__buf_addc(&d->b, lvl == GAVEL_DIAG_ERROR ? 'E' : 'W');
  gavel__buf_adds(&d->b, e->msg);
  gavel__buf_addc(&d->b, '\n');
}

static void push_diags(lua_State *L, const lg_diags *d) {
  const char *p = d->b.p, *end = d->b.p ? d->b.p + d->b.len : NULL; /* no NULL+0 */
  int i = 1;
  lua_newtable(L);
  while (p && p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl)
      break;
    lua_createtable(L, 0, 2);
    lua_pushstring(L, *p == 'E' ? "error" : "warning");
    lua_setfield(L, -2, "level");
    lua_pushlstring(L, p + 1, (size_t)(nl - p - 1));
    lua_setfield(L, -2, "message");
    lua_rawseti(L, -2, i++);
    p = nl + 1;
  }
}

/* Loads from a Lua table: the same steps as gavel_ruleset_load after its
** JSON parse (the document arena is kept alive by the ruleset). */
static gavel_status load_table(lua_State *L, lg_rt *r, int idx,
                               const gavel_load_opts *o, gavel_ruleset **out,
                               gavel_error *err) {
  gv_arena tmp;
  gvalue doc;
  gavel_status st;
  gv_arena *keep;
  lg_conv c;
  gavel__arena_init(&tmp, gavel__runtime_alloc(r->rt), 0);
  if (convert(L, idx, &tmp, "ruleset", &doc, &c, rt_max_input(r->rt))) {
    gavel__arena_free(&tmp);
    return gavel__errorf(err, (gavel_status)c.code, "%s", c.msg);
  }
  if ((st = gavel__load(r->rt, doc, o, out, err)) != GAVEL_OK) {
    gavel__arena_free(&tmp);
    return st;
  }
  if (!(keep = gavel__arena_alloc(&(*out)->arena, sizeof *keep))) {
    gavel_ruleset_free(*out);
    *out = NULL;
    gavel__arena_free(&tmp);
    return gavel__errorf(err, GAVEL_NOMEM, "out of memory");
  }
  *keep = tmp;
  (*out)->doc_arena = keep;
  return GAVEL_OK;
}

/* capi.load(rt, json_or_table, grants|nil, gas_limit|nil, no_check,
**           allow_http|nil, jit|nil)
** -> ruleset, name, diagnostics | nil, err, code, diagnostics */
static int l_load(lua_State *L) {
  lg_rt *r = check_rt(L, 1);
  gavel_load_opts o;
  gavel_error err;
  gavel_ruleset *rs = NULL;
  gavel_status st;
  lg_diags d;
  const char **grants = NULL;
  lg_rs **p, *lrs;
  int n = 0, i;
  uint64_t gas = 0;
  memset(&o, 0, sizeof o);
  if (!lua_isnoneornil(L, 4)) { /* as cfg_read: NaN, inf, 2^70 never cast */
    lua_Number d = lua_tonumber(L, 4);
    if (lua_type(L, 4) != LUA_TNUMBER ||
        !(d >= 1 && d < LG_2P63 && d == floor(d)))
      return luaL_error(L, "gavel.load: opts.gas_limit must be an integer "
                           "from 1 to 2^63-1");
    gas = (uint64_t)d;
  }
  r->used = 1;
  if (lua_istable(L, 3)) {
    n = (int)lua_objlen(L, 3);
    grants = lua_newuserdata(L, (size_t)(n + 1) * sizeof *grants);
    for (i = 0; i < n; i++) {
      lua_rawgeti(L, 3, i + 1);
      grants[i] = lua_tostring(L, -1);
      if (!grants[i])
        return luaL_argerror(L, 3, "capabilities must be strings");
      lua_pop(L, 1); /* the string stays referenced by the table */
    }
    o.grants = grants;
    o.n_grants = (size_t)n;
  }
  o.no_capability_check = lua_toboolean(L, 5);
  if (lua_type(L, 7) == LUA_TBOOLEAN) /* JIT tier: true on, false off */
    o.jit = lua_toboolean(L, 7) ? 1 : 2;
  else if (lua_type(L, 7) == LUA_TSTRING) { /* "on" | "off" | "auto" */
    const char *j = lua_tostring(L, 7);
    o.jit = !strcmp(j, "on") ? 1 : !strcmp(j, "off") ? 2
          : !strcmp(j, "auto") ? 3 : -1;
    if (o.jit < 0)
      return luaL_error(L, "gavel.load: opts.jit must be \"on\", \"off\", "
                           "\"auto\" or a boolean");
  }
  if (lua_istable(L, 6)) { /* network.http allowlist */
    int na = (int)lua_objlen(L, 6);
    const char **allow = lua_newuserdata(L, (size_t)(na + 1) * sizeof *allow);
    for (i = 0; i < na; i++) {
      lua_rawgeti(L, 6, i + 1);
      allow[i] = lua_tostring(L, -1);
      if (!allow[i])
        return luaL_argerror(L, 6, "allow_http entries must be strings");
      lua_pop(L, 1); /* the string stays referenced by the table */
    }
    o.http_allow = allow;
    o.n_http_allow = (size_t)na;
  }
  gavel__buf_init(&d.b, gavel__runtime_alloc(r->rt));
  o.diag = on_diag;
  o.diag_ud = &d;
  if (lua_type(L, 2) == LUA_TSTRING) {
    size_t len;
    const char *s = lua_tolstring(L, 2, &len);
    st = gavel_ruleset_load(r->rt, s, len, &o, &rs, &err);
  } else if (lua_istable(L, 2)) {
    gavel__error_clear(&err);
    st = load_table(L, r, 2, &o, &rs, &err);
  } else {
    gavel__buf_free(&d.b);
    return luaL_argerror(L, 2, "expected JSON text or a table");
  }
  if (st != GAVEL_OK) {
    push_fail(L, &err, st);
    push_diags(L, &d);
    gavel__buf_free(&d.b);
    return 4;
  }
  if (gas)
    rs->gas_limit = gas;
  p = lua_newuserdata(L, sizeof *p);
  *p = NULL;
  luaL_getmetatable(L, LG_RULESET);
  lua_setmetatable(L, -2);
  if (!(lrs = calloc(1, sizeof *lrs))) {
    gavel_ruleset_free(rs);
    gavel__buf_free(&d.b);
    return luaL_error(L, "gavel: out of memory");
  }
  lrs->rs = rs;
  lrs->lrt = r;
  r->refs++;
  lrs->refs = 1;
  *p = lrs;
  if (build_plan(lrs)) {
    gavel__buf_free(&d.b);
    return luaL_error(L, "gavel: out of memory");
  }
  lua_pushstring(L, gavel_ruleset_name(rs));
  push_diags(L, &d);
  gavel__buf_free(&d.b);
  return 3;
}

static int gc_ruleset(lua_State *L) {
  lg_rs **p = luaL_checkudata(L, 1, LG_RULESET);
  rs_unref(*p);
  *p = NULL;
  return 0;
}

/* ==== Execution contexts ==== */

static int skel_build(gavel_lua_exec *h, const pnode *n, gvalue *out) {
  const pnode *c;
  int k = 0;
  if (n->whole) {
    h->leafp[n->leaf] = out;
    *out = gv_missing();
    return 0;
  }
  if (n->kind == PN_ARR) {
    int64_t len = 0;
    uint32_t i;
    gv_arr *arr;
    for (c = n->child; c; c = c->next)
      if (c->index + 1 > len)
        len = c->index + 1;
    if (!(arr = gavel__arr_new(&h->skel, (uint32_t)len)))
      return -1;
    for (i = 0; i < (uint32_t)len; i++)
      arr->items[i] = gv_null();
    arr->len = (uint32_t)len;
    *out = gv_arrv(arr);
    for (c = n->child; c; c = c->next)
      if (skel_build(h, c, &arr->items[c->index]))
        return -1;
    h->inner[h->n_inner++] = out;
    return 0;
  } else {
    gv_obj *o = gavel__obj_new(&h->skel, (uint32_t)n->n_child);
    if (!o)
      return -1;
    for (c = n->child; c; c = c->next)
      if (!gavel__obj_append(&h->skel, o, c->key, gv_null()))
        return -1;
    *out = gv_objv(o);
    for (c = n->child; c; c = c->next)
      if (skel_build(h, c, &o->vals[k++]))
        return -1;
    h->inner[h->n_inner++] = out;
    return 0;
  }
}

/* capi.exec(rs) -> exec: a reusable execution context with its skeleton */
static int l_exec(lua_State *L) {
  lg_rs *r = check_rs(L, 1);
  gavel_lua_exec *h = lua_newuserdata(L, sizeof *h);
  const gavel__alloc *al = gavel__runtime_alloc(r->lrt->rt);
  gavel_status st;
  memset(h, 0, sizeof *h);
  luaL_getmetatable(L, LG_EXEC);
  lua_setmetatable(L, -2);
  gavel__arena_init(&h->skel, al, 0);
  gavel__arena_init(&h->scratch, al,
                    gavel__runtime_config(r->lrt->rt)->max_run_bytes);
  gavel__buf_init(&h->jbuf, al);
  if ((st = gavel_exec_new(r->rs, &h->ex, &h->err)) != GAVEL_OK)
    return push_fail(L, &h->err, st);
  h->lrs = r;
  r->refs++;
  h->in_max = rt_max_input(r->lrt->rt);
  h->arena = gavel__exec_prepare(h->ex);
  h->flat = gavel__arena_alloc(&h->skel,
                               (size_t)(r->n_leaves + 1) * sizeof(gvalue));
  h->leafp = gavel__arena_alloc(&h->skel,
                                (size_t)(r->n_leaves + 1) * sizeof(gvalue *));
  h->inner = gavel__arena_alloc(&h->skel,
                                (size_t)(r->n_inner + 1) * sizeof(gvalue *));
  if (!h->flat || !h->leafp || !h->inner ||
      skel_build(h, r->root, &h->root))
    return luaL_error(L, "gavel: out of memory");
  return 1;
}

static int gc_exec(lua_State *L) {
  gavel_lua_exec *h = luaL_checkudata(L, 1, LG_EXEC);
  if (h->ex)
    gavel_exec_free(h->ex);
  h->ex = NULL;
  if (h->lrs) {
    gavel__arena_free(&h->skel);
    gavel__arena_free(&h->scratch);
    gavel__buf_free(&h->jbuf);
    rs_unref(h->lrs);
  }
  h->lrs = NULL;
  return 0;
}

/* capi.set(exec, slot, value[, mark]): converts a table (or any value the
** FFI binder does not handle inline) into slot 'slot'.  Never raises for
** bad input: the failure is reported by the next run. */
static int l_set(lua_State *L) {
  gavel_lua_exec *h = check_exec(L, 1);
  int slot = (int)luaL_checkinteger(L, 2);
  lg_conv c;
  gvalue v;
  luaL_argcheck(L, slot >= 0 && slot < h->lrs->n_leaves, 2, "bad slot");
  if (lua_isnone(L, 3) || lua_isnil(L, 3)) {
    h->flat[slot] = gv_missing();
    return 0;
  }
  /* 'mark': the run's input count before the Lua walker tried this slot
  ** (it gave up part way; what it counted is counted again here). */
  if (h->in_over) {
    /* The Lua walker counted past max_input_bytes: the C walker would
    ** only count as far again (seconds for millions of tables); the
    ** message names the slot, not the exact place. */
    char msg[128];
    snprintf(msg, sizeof msg, "input too large: more than %zu bytes (max %zu)",
             h->in_max, h->in_max);
    bind_fail(h, slot, GAVEL_LIMIT, msg);
    h->flat[slot] = gv_missing();
    return 0;
  }
  if (!lua_isnoneornil(L, 4))
    h->in_used = (size_t)luaL_checknumber(L, 4);
  if (convert_at(L, 3, h->arena, h->lrs->leaf_path[slot], &v, &c, h->in_max,
                 h->lrs->leaf_depth[slot], h->in_used)) {
    if (!h->bind_failed)
      gavel__errorf(&h->err, (gavel_status)c.code, "%s", c.msg);
    h->bind_failed = 1;
    v = gv_missing();
  } else
    h->in_used = c.used;
  h->flat[slot] = v;
  return 0;
}

/* capi.run_json(exec, text, flags) -> status */
static int l_run_json(lua_State *L) {
  gavel_lua_exec *h = check_exec(L, 1);
  size_t len = 0;
  const char *s = luaL_optlstring(L, 2, NULL, &len);
  unsigned flags = (unsigned)luaL_optinteger(L, 3, 0);
  gv_arena *a = gavel__exec_prepare(h->ex);
  const gavel_runtime *rt = h->lrs->lrt->rt;
  gvalue root = gv_null();
  gavel_status st = GAVEL_OK;
  h->bind_failed = 0;
  h->json_mode = 0;
  gavel__error_clear(&h->err);
  if (s && len > gavel__runtime_config(rt)->max_input_bytes)
    st = gavel__errorf(&h->err, GAVEL_LIMIT,
                       "input too large: %zu bytes (max %zu)", len,
                       gavel__runtime_config(rt)->max_input_bytes);
  else if (s && len)
    st = gavel__json_parse(
        a, s, len, h->lrs->whole_root ? NULL : h->lrs->rs->graphs[0].proj,
        &root, &h->err);
  if (st == GAVEL_OK)
    st = gavel__exec_run_value(h->ex, root, flags, &h->err);
  lua_pushinteger(L, st);
  return 1;
}

/* Converts the value at 'idx' to JSON text in h->jbuf. */
static int to_json(lua_State *L, gavel_lua_exec *h, int idx, const char *what,
                   lg_conv *c) {
  gvalue v;
  if (convert(L, idx, &h->scratch, what, &v, c,
              rt_max_input(h->lrs->lrt->rt)))
    return 1;
  gavel__buf_clear(&h->jbuf);
  gavel__json_write(&h->jbuf, v);
  if (h->jbuf.oom) {
    snprintf(c->msg, sizeof c->msg, "out of memory");
    return 1;
  }
  return 0;
}

/* capi.trace_run(exec, input, flags) -> status: the JSON API path, the
** only one that reports the trace. */
static int l_trace_run(lua_State *L) {
  gavel_lua_exec *h = check_exec(L, 1);
  unsigned flags = (unsigned)luaL_optinteger(L, 3, 0);
  const char *s = NULL;
  size_t len = 0;
  lg_conv c;
  gavel_status st;
  h->json_mode = 1;
  h->bind_failed = 0;
  gavel__arena_reset(&h->scratch);
  if (lua_type(L, 2) == LUA_TSTRING) {
    s = lua_tolstring(L, 2, &len);
  } else if (!lua_isnoneornil(L, 2)) {
    if (to_json(L, h, 2, "input", &c)) {
      gavel__exec_prepare(h->ex);
      gavel__errorf(&h->err, (gavel_status)c.code, "%s", c.msg);
      lua_pushinteger(L, c.code);
      return 1;
    }
    s = h->jbuf.p;
    len = h->jbuf.len;
  }
  st = gavel_exec_run_json(h->ex, s, len, flags, &h->jres, &h->jres_len,
                           &h->err);
  lua_pushinteger(L, st);
  return 1;
}

/* capi.trace_bound(exec, flags) -> status: a traced run over the input
** the generated binder bound (after api.begin and the binder): the same
** input paths, limits and errors as rs:run without the trace, the JSON
** result (with its trace member) as trace_run.  A bound table's values
** the ruleset does not read are never looked at, traced or not. */
static int l_trace_bound(lua_State *L) {
  gavel_lua_exec *h = check_exec(L, 1);
  unsigned flags = (unsigned)luaL_optinteger(L, 2, 0);
  int i, n = h->lrs->n_leaves;
  gavel_status st;
  if (h->bind_failed) {
    lua_pushinteger(L, h->err.code);
    return 1;
  }
  for (i = 0; i < n; i++)
    *h->leafp[i] = h->flat[i];
#ifdef GAVEL_MAX_VALUE_DEPTH
  for (i = 0; i < h->n_inner; i++)
    lg_seal(h->inner[i]);
#endif
  h->json_mode = 1;
  st = gavel__exec_run_value(h->ex, h->root, flags, &h->err);
  if (st == GAVEL_OK)
    st = gavel__exec_write_result(h->ex, &h->jres, &h->jres_len, &h->err);
  lua_pushinteger(L, st);
  return 1;
}

/* The "trace" member of a trace run's JSON result: write_result
** (core/sched.c) appends it last, as ,"trace":{"path":"...}, and every
** quote inside a JSON string is escaped, so the last occurrence of that
** text is the member itself (its object has no "trace" key).  Returns
** the start of its object ('*len' bytes), or NULL. */
static const char *trace_member(const char *s, size_t n, size_t *len) {
  static const char pat[] = ",\"trace\":{\"path\":\"";
  const size_t m = sizeof pat - 1, key = 9; /* ,"trace": */
  size_t i;
  if (n < m + 2 || s[n - 1] != '}')
    return NULL;
  for (i = n - m - 1;; i--) {
    if (s[i] == ',' && !memcmp(s + i, pat, m)) {
      *len = n - 1 - (i + key);
      return s + i + key;
    }
    if (i == 0)
      return NULL;
  }
}

/* capi.result_text(exec) -> the JSON text of a finished trace_run (the
** engine's writer: its key order), or nil when the run was not one. */
static int l_result_text(lua_State *L) {
  gavel_lua_exec *h = check_exec(L, 1);
  if (!h->json_mode || !h->jres)
    return 0;
  lua_pushlstring(L, h->jres, h->jres_len);
  return 1;
}

/* capi.result(exec, int64) -> { code, message, output[, trace] }
** | nil, err, code (a result nested too deeply to convert).
** The result is converted from the engine's value in both modes: a trace
** run's JSON text is read back only for its trace member, since a result
** holding a value of the full 512 levels is deeper than the JSON reader
** accepts. */
static int l_result(lua_State *L) {
  gavel_lua_exec *h = check_exec(L, 1);
  int int64 = lua_toboolean(L, 2);
  gvalue r = gavel__exec_result(h->ex);
  if (push_result(L, r, int64))
    return push_too_deep(L, NULL);
  if (h->json_mode && r.tag == GV_OBJ) {
    size_t tlen;
    const char *tp = trace_member(h->jres, h->jres_len, &tlen);
    gvalue t;
    gavel_error e;
    gavel__arena_reset(&h->scratch);
    if (!tp ||
        gavel__json_parse(&h->scratch, tp, tlen, NULL, &t, &e) != GAVEL_OK ||
        push_result(L, t, int64)) {
      lua_pushnil(L);
      lua_pushstring(L, "gavel: the run's trace cannot be read from its "
                        "JSON result");
      lua_pushstring(L, gavel_status_name(GAVEL_EXEC));
      return 3;
    }
    lua_setfield(L, -2, "trace");
  }
  return 1;
}

/* capi.metrics(exec[, int64]) -> { {name, value, tags}, ... } | nil */
static int l_metrics(lua_State *L) {
  gavel_lua_exec *h = check_exec(L, 1);
  int int64 = lua_toboolean(L, 2), n = 0, i, cfg;
  const gv_metric_rec *m = gavel__exec_metrics(h->ex, &n);
  if (n == 0)
    return 0;
  cfg = push_cfg(L);
  lua_createtable(L, n, 0);
  for (i = 0; i < n; i++) {
    lua_createtable(L, 0, 3);
    lua_pushlstring(L, m[i].name->s, m[i].name->len);
    lua_setfield(L, -2, "name");
    lua_pushnumber(L, m[i].value);
    lua_setfield(L, -2, "value");
    if (!push_value(L, m[i].tags, int64, cfg, 0))
      lua_setfield(L, -2, "tags");
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

/* capi.fail(exec) -> nil, message, "GAVEL_X" (the last failure) */
static int l_fail(lua_State *L) {
  gavel_lua_exec *h = check_exec(L, 1);
  return push_fail(L, &h->err, h->err.code);
}

/* capi.pending(exec) -> capability, operation, params, timeout_ms,
** ruleset, path, attempt, delay_ms (wait that long before calling: a
** retry's backoff), http_allow, trace_id, params_err (params is nil and
** params_err says why when they cannot be converted: the caller resumes
** the run with that error) */
static int l_pending(lua_State *L) {
  gavel_lua_exec *h = check_exec(L, 1);
  const gv_hostreq *q = gavel__exec_pending_req(h->ex);
  int deep;
  if (!q)
    return luaL_error(L, "gavel: no host call is pending");
  lua_pushlstring(L, q->capability->s, q->capability->len);
  lua_pushlstring(L, q->operation->s, q->operation->len);
  deep = push_result(L, q->params, 0);
  if (deep)
    lua_pushnil(L);
  lua_pushnumber(L, q->timeout_ms);
  lua_pushstring(L, q->ruleset ? q->ruleset : "");
  lua_pushstring(L, q->path ? q->path : "");
  lua_pushnumber(L, q->attempt);
  lua_pushnumber(L, q->delay_ms);
  if (q->n_allow) { /* the ruleset's network.http allowlist */
    size_t k;
    lua_createtable(L, (int)q->n_allow, 0);
    for (k = 0; k < q->n_allow; k++) {
      lua_pushstring(L, q->allow[k]);
      lua_rawseti(L, -2, (int)k + 1);
    }
  } else
    lua_pushnil(L);
  lua_pushnumber(L, (lua_Number)q->trace_id);
  if (!deep)
    return 10;
  lua_pushstring(L, "parameters: " LG_RESULT_DEEP_MSG);
  return 11;
}

/* Metadata: nil, or a table whose values are all strings. */
static int meta_value(lua_State *L, gv_arena *a, int idx, gvalue *out,
                      lg_conv *c, size_t max_bytes) {
  uint32_t i;
  if (lua_isnoneornil(L, idx)) {
    *out = gv_null();
    return 0;
  }
  if (!lua_istable(L, idx) ||
      convert(L, idx, a, "metadata", out, c, max_bytes) ||
      out->tag != GV_OBJ) {
    if (!c->msg[0] || !lua_istable(L, idx))
      snprintf(c->msg, sizeof c->msg, "metadata must be a table of strings");
    return 1;
  }
  for (i = 0; i < out->u.o->len; i++)
    if (out->u.o->vals[i].tag != GV_STR) {
      snprintf(c->msg, sizeof c->msg,
               "metadata must be a table of strings (metadata.%s is not)",
               out->u.o->keys[i]->s);
      return 1;
    }
  return 0;
}

static gavel_status resume_error(gavel_lua_exec *h, const char *msg) {
  if (h->json_mode)
    return gavel_exec_resume_error(h->ex, msg, &h->jres, &h->jres_len,
                                   &h->err);
  return gavel__exec_resume_value(h->ex, 1, gv_null(), gv_null(), msg,
                                  &h->err);
}

/* capi.resume(exec, ok, payload_or_message, metadata) -> status
** A payload that cannot be converted resumes the run with a host-call
** error naming what is wrong. */
static int l_resume(lua_State *L) {
  gavel_lua_exec *h = check_exec(L, 1);
  int ok = lua_toboolean(L, 2);
  gavel_status st;
  lg_conv c;
  char msg[GAVEL_ERRMSG_SIZE];
  if (!gavel__exec_pending_req(h->ex))
    return luaL_error(L, "gavel: no host call is pending");
  c.msg[0] = 0;
  if (!ok) {
    st = resume_error(h, luaL_optstring(L, 3, "provider failed"));
  } else if (!h->json_mode) {
    gvalue p, m;
    size_t max = rt_max_input(h->lrs->lrt->rt);
    if (convert(L, 3, h->arena, "payload", &p, &c, max) ||
        meta_value(L, h->arena, 4, &m, &c, max)) {
      snprintf(msg, sizeof msg, "provider returned an unusable reply: %.400s",
               c.msg);
      st = resume_error(h, msg);
    } else
      st = gavel__exec_resume_value(h->ex, 0, p, m, NULL, &h->err);
  } else {
    gvalue m;
    char *pj = NULL;
    size_t plen = 0;
    if (to_json(L, h, 3, "payload", &c) ||
        !(pj = gavel__arena_dup(&h->scratch, h->jbuf.p, h->jbuf.len + 1)) ||
        (plen = h->jbuf.len, meta_value(L, &h->scratch, 4, &m, &c,
                                       rt_max_input(h->lrs->lrt->rt)))) {
      snprintf(msg, sizeof msg, "provider returned an unusable reply: %.400s",
               c.msg[0] ? c.msg : "out of memory");
      st = resume_error(h, msg);
    } else {
      gavel__buf_clear(&h->jbuf);
      if (m.tag == GV_OBJ)
        gavel__json_write(&h->jbuf, m);
      if (h->jbuf.oom) /* never the payload without its metadata */
        st = resume_error(h, "provider returned an unusable reply: out of "
                             "memory");
      else
        st = gavel_exec_resume_json(h->ex, pj, plen,
                                    h->jbuf.len ? h->jbuf.p : NULL,
                                    h->jbuf.len, &h->jres, &h->jres_len,
                                    &h->err);
    }
  }
  lua_pushinteger(L, st);
  return 1;
}

/* capi.abandon(exec): drops a pending run */
static int l_abandon(lua_State *L) {
  gavel_exec_abandon(check_exec(L, 1)->ex);
  return 0;
}

/* ==== Expressions ==== */

/* capi.expr(rt, source) -> expr | nil, err, code */
static int l_expr(lua_State *L) {
  lg_rt *r = check_rt(L, 1);
  size_t len;
  const char *src = luaL_checklstring(L, 2, &len);
  lg_expr *x = lua_newuserdata(L, sizeof *x);
  r->used = 1;
  gavel_error err;
  gavel_status st;
  memset(x, 0, sizeof *x);
  luaL_getmetatable(L, LG_EXPR);
  lua_setmetatable(L, -2);
  if ((st = gavel_expr_compile(r->rt, src, len, &x->e, &err)) != GAVEL_OK)
    return push_fail(L, &err, st);
  x->lrt = r;
  r->refs++;
  /* the context's memory is part of the evaluation's: the same cap */
  gavel__arena_init(&x->in, gavel__runtime_alloc(r->rt),
                    gavel__runtime_config(r->rt)->max_run_bytes);
  return 1;
}

static int gc_expr(lua_State *L) {
  lg_expr *x = luaL_checkudata(L, 1, LG_EXPR);
  if (x->e) {
    gavel_expr_free(x->e);
    gavel__arena_free(&x->in);
    rt_unref(x->lrt);
  }
  x->e = NULL;
  return 0;
}

/* capi.eval(expr, context, int64) -> value | nil, err, code */
static int l_eval(lua_State *L) {
  lg_expr *x = check_expr(L, 1);
  int int64 = lua_toboolean(L, 3);
  gvalue root = gv_null(), res;
  gavel_error err;
  gavel_status st;
  lg_conv c;
  gavel__arena_reset(&x->in); /* the engine reuses its own result memory */
  if (lua_type(L, 2) == LUA_TSTRING) {
    /* JSON text: the engine's reader, as gavel_expr_eval_json (0.0 stays a
    ** float, -0 is -0.0, keys keep their order); no Lua table between */
    size_t len;
    const char *s = lua_tolstring(L, 2, &len);
    if (len > rt_max_input(x->lrt->rt)) {
      lua_pushnil(L);
      lua_pushfstring(L, "input too large: %d bytes (max %d)", (int)len,
                      (int)rt_max_input(x->lrt->rt));
      lua_pushstring(L, gavel_status_name(GAVEL_LIMIT));
      return 3;
    }
    if ((st = gavel__json_parse(&x->in, s, len, NULL, &root, &err)) !=
        GAVEL_OK)
      return push_fail(L, &err, st);
  } else if (!lua_isnoneornil(L, 2) &&
             convert(L, 2, &x->in, "context", &root, &c,
                     rt_max_input(x->lrt->rt))) {
    lua_pushnil(L);
    lua_pushstring(L, c.msg);
    lua_pushstring(L, gavel_status_name((gavel_status)c.code));
    return 3;
  }
  if ((st = gavel__expr_eval_value(x->e, root, &res, &err)) != GAVEL_OK)
    return push_fail(L, &err, st);
  if (push_result(L, res, int64))
    return push_too_deep(L, "expression value");
  return 1;
}

/* capi.disasm(expr) -> listing */
static int l_disasm(lua_State *L) {
  lg_expr *x = check_expr(L, 1);
  const char *out;
  gavel_error err;
  gavel_status st = gavel_expr_disasm(x->e, &out, &err);
  if (st != GAVEL_OK)
    return push_fail(L, &err, st);
  lua_pushstring(L, out);
  return 1;
}

/* ==== JSON with the engine's reader and writer ==== */

/* capi.json_encode(value[, rt]) -> text | nil, err, code: the value
** obeys the input limits (those of runtime 'rt' when given). */
static int l_json_encode(lua_State *L) {
  gv_arena a;
  gv_buf b;
  gvalue v;
  lg_conv *c = malloc(sizeof *c); /* 16 KB: not on a coroutine's C stack */
  size_t max = lua_isnoneornil(L, 2) ? GAVEL_MAX_INPUT_BYTES
                                     : rt_max_input(check_rt(L, 2)->rt);
  int n;
  if (!c)
    return luaL_error(L, "gavel: out of memory");
  gavel__arena_init(&a, &gavel__default_alloc, 0);
  gavel__buf_init(&b, &gavel__default_alloc);
  if (convert(L, 1, &a, "value", &v, c, max)) {
    lua_pushnil(L);
    lua_pushstring(L, c->msg);
    lua_pushstring(L, gavel_status_name((gavel_status)c->code));
    n = 3;
  } else {
    gavel__json_write(&b, v);
    if (b.oom) {
      lua_pushnil(L);
      lua_pushstring(L, "out of memory writing JSON");
      lua_pushstring(L, gavel_status_name(GAVEL_NOMEM));
      n = 3;
    } else {
      lua_pushlstring(L, b.p ? b.p : "", b.len);
      n = 1;
    }
  }
  free(c);
  gavel__buf_free(&b);
  gavel__arena_free(&a);
  return n;
}

/* capi.json_decode(text, int64) -> value | nil, err, code */
static int l_json_decode(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  gv_arena a;
  gvalue v;
  gavel_error err;
  gavel__arena_init(&a, &gavel__default_alloc, 0);
  if (gavel__json_parse(&a, s, len, NULL, &v, &err) != GAVEL_OK) {
    gavel__arena_free(&a);
    lua_pushnil(L);
    lua_pushstring(L, err.msg);
    lua_pushstring(L, gavel_status_name(err.code));
    return 3;
  }
  if (push_result(L, v, lua_toboolean(L, 2))) {
    gavel__arena_free(&a);
    return push_too_deep(L, "JSON value");
  }
  gavel__arena_free(&a);
  return 1;
}

/* ==== Module ==== */

/* capi.set_markers(t): the sentinels and helpers the walkers use
** (array_mt, float_mt, cjson_*, cdata, int64; see gavel/core.lua). */
static int l_set_markers(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_pushlightuserdata(L, &lg_cfg_key);
  lua_pushvalue(L, 1);
  lua_rawset(L, LUA_REGISTRYINDEX);
  return 0;
}

/* capi.get_markers() -> the marker table set earlier in this state, or
** nil (a second copy of gavel.core reuses the sentinels). */
static int l_get_markers(lua_State *L) {
  lua_pushlightuserdata(L, &lg_cfg_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  return 1;
}

static int l_api(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&lg_api);
  return 1;
}

static int l_now_ms(lua_State *L) {
  lua_pushnumber(L, now_ms());
  return 1;
}

/* capi.sleep_ms(ms): blocking sleep (plain LuaJIT; nginx uses ngx.sleep) */
static int l_sleep_ms(lua_State *L) {
  lua_Number ms = luaL_checknumber(L, 1);
  struct timespec ts;
  if (ms > 0) {
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)((ms - (lua_Number)ts.tv_sec * 1000) * 1e6);
    nanosleep(&ts, NULL);
  }
  return 0;
}

/* capi.gas_used(exec) -> gas used by the exec's last run (also a failed
** one): what the RUN event reports as gas_used */
static int l_gas_used(lua_State *L) {
  gavel_lua_exec *h = check_exec(L, 1);
  lua_pushnumber(L, (lua_Number)gavel__exec_gas_used(h->ex));
  return 1;
}

static const luaL_Reg lg_funcs[] = {
    {"api", l_api},           {"set_markers", l_set_markers},
    {"get_markers", l_get_markers},
    {"runtime", l_runtime},   {"provide", l_provide},
    {"configure", l_configure}, {"config", l_config},
    {"provided", l_provided}, {"invoke_c", l_invoke_c},
    {"has_c", l_has_c},
    {"load", l_load},         {"plan", l_plan},
    {"exec", l_exec},         {"set", l_set},
    {"run_json", l_run_json}, {"trace_run", l_trace_run},
    {"trace_bound", l_trace_bound},
    {"result", l_result},     {"fail", l_fail},
    {"result_text", l_result_text},
    {"metrics", l_metrics},
    {"pending", l_pending},   {"resume", l_resume},
    {"abandon", l_abandon},   {"expr", l_expr},
    {"eval", l_eval},         {"disasm", l_disasm},
    {"json_encode", l_json_encode}, {"json_decode", l_json_decode},
    {"now_ms", l_now_ms},     {"sleep_ms", l_sleep_ms},
    {"gas_used", l_gas_used},
    {NULL, NULL}};

static void new_meta(lua_State *L, const char *name, lua_CFunction gc) {
  luaL_newmetatable(L, name);
  lua_pushcfunction(L, gc);
  lua_setfield(L, -2, "__gc");
  lua_pushstring(L, name);
  lua_setfield(L, -2, "__name");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable"); /* Lua code cannot swap it */
  lua_pop(L, 1);
}

int luaopen_gavel_capi(lua_State *L) {
  new_meta(L, LG_RUNTIME, gc_runtime);
  new_meta(L, LG_RULESET, gc_ruleset);
  new_meta(L, LG_EXEC, gc_exec);
  new_meta(L, LG_EXPR, gc_expr);
  lua_newtable(L);
  luaL_register(L, NULL, lg_funcs);
  lua_pushinteger(L, GAVEL_VERSION_NUM);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, GAVEL_VERSION_STRING);
  lua_setfield(L, -2, "version_string");
  lua_pushinteger(L, GAVEL_RUN_TRACE);
  lua_setfield(L, -2, "RUN_TRACE");
  lua_pushlightuserdata(L, &lg_empty_array);
  lua_setfield(L, -2, "empty_array");
  return 1;
}

void gavel_lua_preload(lua_State *L) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, luaopen_gavel_capi);
  lua_setfield(L, -2, "gavel.capi");
  lua_pop(L, 2);
}

/* ==== Lua functions as synchronous providers (C hosts) ==== */

typedef struct lg_tramp {
  lua_State *L;     /* the state the function lives in (borrowed)   */
  int ref;          /* registry reference of the function           */
  size_t max_bytes; /* replies obey the runtime's input limits      */
} lg_tramp;

static void push_ctx(lua_State *L, const gavel_host_call *call, double t0) {
  lua_createtable(L, 0, 6);
  lua_pushstring(L, call->capability);
  lua_setfield(L, -2, "capability");
  lua_pushstring(L, call->operation);
  lua_setfield(L, -2, "operation");
  lua_pushnumber(L, call->timeout_ms);
  lua_setfield(L, -2, "timeout_ms");
  if (call->timeout_ms) {
    lua_pushnumber(L, t0 + call->timeout_ms);
    lua_setfield(L, -2, "deadline_ms");
  }
  lua_pushstring(L, call->ruleset ? call->ruleset : "");
  lua_setfield(L, -2, "ruleset");
  lua_pushstring(L, call->path ? call->path : "");
  lua_setfield(L, -2, "path");
}

/* The gavel_provider_fn behind gavel_lua_provide. */
static void tramp_call_locked(void *ud, const gavel_host_call *call,
                              gavel_reply *reply);

/* One lua_State must not run on two threads at once ('gavel batch
** --jobs N' runs executions on several threads): calls are serialised. */
static pthread_mutex_t lg_tramp_mu = PTHREAD_MUTEX_INITIALIZER;

static void tramp_call(void *ud, const gavel_host_call *call,
                       gavel_reply *reply) {
  pthread_mutex_lock(&lg_tramp_mu);
  tramp_call_locked(ud, call, reply);
  pthread_mutex_unlock(&lg_tramp_mu);
}

static void tramp_call_locked(void *ud, const gavel_host_call *call,
                              gavel_reply *reply) {
  lg_tramp *t = ud;
  lua_State *L = t->L;
  int top = lua_gettop(L);
  gv_arena a;
  gvalue v;
  gv_buf pb, mb;
  gavel_error e;
  lg_conv *c = malloc(sizeof *c);
  double t0 = now_ms();
  char msg[GAVEL_ERRMSG_SIZE];
  gavel__arena_init(&a, &gavel__default_alloc, 0);
  gavel__buf_init(&pb, &gavel__default_alloc);
  gavel__buf_init(&mb, &gavel__default_alloc);
  if (!c || !lua_checkstack(L, 16)) {
    gavel_reply_error(reply, "out of memory");
    goto done;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->ref);
  lua_pushstring(L, call->operation);
  if (gavel__json_parse(&a, call->params ? call->params : "null",
                        call->params ? call->params_len : 4, NULL, &v,
                        &e) != GAVEL_OK) {
    gavel_reply_error(reply, "unreadable parameters");
    goto done;
  }
  if (push_result(L, v, 0)) {
    gavel_reply_error(reply, "parameters: " LG_RESULT_DEEP_MSG);
    goto done;
  }
  push_ctx(L, call, t0);
  if (lua_pcall(L, 3, 2, 0) != 0) {
    snprintf(msg, sizeof msg, "provider raised an error: %s",
             lua_tostring(L, -1) ? lua_tostring(L, -1) : "(no message)");
    gavel_reply_error(reply, msg);
  } else if (call->timeout_ms && now_ms() - t0 > call->timeout_ms) {
    snprintf(msg, sizeof msg, "provider timed out after %.0f ms "
             "(timeout_ms %u)", now_ms() - t0, (unsigned)call->timeout_ms);
    gavel_reply_error(reply, msg);
  } else if (lua_isnil(L, -2)) {
    snprintf(msg, sizeof msg, "%s",
             lua_isstring(L, -1) ? lua_tostring(L, -1)
                                 : "provider returned no payload");
    gavel_reply_error(reply, msg);
  } else if (convert(L, -2, &a, "payload", &v, c, t->max_bytes)) {
    snprintf(msg, sizeof msg, "provider returned an unusable reply: %.400s",
             c->msg);
    gavel_reply_error(reply, msg);
  } else {
    gvalue m = gv_null();
    gavel__json_write(&pb, v);
    if (meta_value(L, &a, lua_gettop(L), &m, c, t->max_bytes)) {
      snprintf(msg, sizeof msg, "provider returned an unusable reply: %.400s",
               c->msg);
      gavel_reply_error(reply, msg);
      goto done;
    }
    if (m.tag == GV_OBJ)
      gavel__json_write(&mb, m);
    if (pb.oom || mb.oom)
      gavel_reply_error(reply, "out of memory");
    else
      gavel_reply_payload(reply, pb.p, pb.len, mb.len ? mb.p : NULL, mb.len);
  }
done:
  lua_settop(L, top);
  free(c);
  gavel__buf_free(&pb);
  gavel__buf_free(&mb);
  gavel__arena_free(&a);
}

gavel_status gavel_lua_provide(gavel_runtime *rt, lua_State *L, int idx,
                               const char *capability, gavel_error *err) {
  lg_tramp *t;
  idx = abs_index(L, idx);
  if (!rt || !L || !capability || lua_type(L, idx) != LUA_TFUNCTION) {
    if (err) {
      memset(err, 0, sizeof *err);
      err->code = GAVEL_MISUSE;
      snprintf(err->msg, sizeof err->msg,
               "gavel_lua_provide: expected a runtime, a Lua function and a "
               "capability name");
    }
    return GAVEL_MISUSE;
  }
  if (!lua_checkstack(L, 4))
    return GAVEL_NOMEM;
  /* The trampoline's state is a userdata anchored in the registry, so it
  ** lives exactly as long as 'L'. */
  t = lua_newuserdata(L, sizeof *t);
  t->L = L;
  t->max_bytes = rt_max_input(rt);
  lua_pushvalue(L, idx);
  t->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  luaL_ref(L, LUA_REGISTRYINDEX); /* pops and anchors the userdata */
  return gavel_runtime_provide(rt, capability, tramp_call, t, err);
}
