/*
** load.c -- stage 1 of 5: rule JSON -> a validated, compiled ruleset.
**
** Accepts Ordo's RuleSet JSON (docs/ordo-reference.md section a) plus
** gavel's extensions (string expressions anywhere an Expr is expected,
** terminal 'output' as an object, config.gas_limit, config.capabilities).
** Everything is resolved here: expressions compiled, step references
** turned into indices, sub-rule calls checked for cycles, capabilities
** checked against what the host provides and grants, reachability and
** cycles without exit analysed.  Every problem is reported (not only the
** first) with its JSON path; unknown fields are warnings (Ordo ignores
** them).  Never executes a rule.
*/
#include "load.h"
#include "jit.h"
#include "expr.h"
#include "json.h"
#include "runtime.h"
#include <stdio.h>

typedef struct L {
  gavel_ruleset *rs;          /* ruleset being built                     */
  gv_arena *a;                /* its arena                               */
  const gavel_load_opts *opts; /* load options                           */
  gavel_error *err;           /* first error goes here                   */
  int n_errors;               /* errors so far                           */
  gavel_status first;         /* status of the first error               */
  char path[GAVEL_ERRPATH_SIZE]; /* current JSON path                    */
  size_t plen;                /* its length                              */
  gv_symtab *st;              /* symtab of the graph being loaded        */
  gvalue sub_rules;           /* the sub_rules object (or null)          */
  uint32_t *sub_hash;         /* index of its keys (position + 1)        */
  uint32_t sub_hcap;          /* buckets in sub_hash (power of two)      */
  gv_str **decl;              /* string entries of config.capabilities   */
  uint32_t *decl_hash;        /* their index                             */
  uint32_t decl_hcap;         /* buckets in decl_hash                    */
  uint32_t *caps_hash;        /* index of rs->caps                       */
  uint32_t caps_hcap;         /* buckets in caps_hash                    */
  int caps_cap;               /* entries allocated in rs->caps           */
  gvalue declared_caps;       /* config.capabilities (or missing)        */
} L;

/* A static empty string for when the arena fails: the loader never
** dereferences NULL, and the failure is reported once at the end. */
static const struct {
  uint32_t len, hash;
  char s[1];
} empty_str = {0, 0, ""};

static gv_str *lstr(gv_arena *a, const char *cstr) {
  gv_str *s = gavel__str_cstr(a, cstr);
  return s ? s : (gv_str *)&empty_str;
}

/* ==== Diagnostics and paths ==== */

static void diag(L *l, gavel_diag_level lvl, gavel_status code, int line,
                 int col, const char *fmt, ...) GAVEL_PRINTF(6, 7);
static void diag(L *l, gavel_diag_level lvl, gavel_status code, int line,
                 int col, const char *fmt, ...) {
  gavel_error e;
  char msg[GAVEL_ERRMSG_SIZE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  gavel__error_clear(&e);
  e.code = code;
  e.line = line;
  e.column = col;
  snprintf(e.path, sizeof e.path, "%s", l->path);
  if (l->plen)
    snprintf(e.msg, sizeof e.msg, "%.200s: %.300s", l->path, msg);
  else
    snprintf(e.msg, sizeof e.msg, "%s", msg);
  if (lvl == GAVEL_DIAG_ERROR && l->n_errors++ == 0) {
    l->first = code;
    if (l->err)
      *l->err = e;
  }
  if (l->opts && l->opts->diag)
    l->opts->diag(l->opts->diag_ud, lvl, &e);
}

#define ERR(l, ...) diag(l, GAVEL_DIAG_ERROR, GAVEL_LOAD, 0, 0, __VA_ARGS__)
#define WARN(l, ...) diag(l, GAVEL_DIAG_WARNING, GAVEL_LOAD, 0, 0, __VA_ARGS__)

static size_t push(L *l, const char *fmt, ...) GAVEL_PRINTF(2, 3);
static size_t push(L *l, const char *fmt, ...) {
  size_t old = l->plen;
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(l->path + l->plen, sizeof l->path - l->plen, fmt, ap);
  va_end(ap);
  if (n > 0) {
    l->plen += (size_t)n;
    if (l->plen >= sizeof l->path)
      l->plen = sizeof l->path - 1;
  }
  return old;
}

static size_t push_key(L *l, const char *key) {
  return push(l, l->plen ? ".%s" : "%s", key);
}

/* Replaces the current path with 'p'. */
static void set_path(L *l, const char *p) {
  size_t n = p ? strlen(p) : 0;
  if (n >= sizeof l->path)
    n = sizeof l->path - 1;
  if (n)
    memcpy(l->path, p, n);
  l->path[n] = 0;
  l->plen = n;
}

static void pop(L *l, size_t old) {
  l->plen = old;
  l->path[old] = 0;
}

static const char *path_dup(L *l) {
  char *p = gavel__arena_dup(l->a, l->path, l->plen + 1);
  return p ? p : "?";
}

/* ==== String indexes ====
** Names a document can hold by the hundred thousand (sub-rules, used and
** declared capabilities) are found through an open-addressing index over
** their array (entry = position + 1), never by a linear search per use:
** that made loading quadratic (20,000 capabilities: 6 s of CPU). */

/* Position of 'key' in names[], or -1 with its free bucket in *slot. */
static int sfind(const uint32_t *h, uint32_t hcap, gv_str *const *names,
                 gv_str *key, uint32_t *slot) {
  uint32_t m = hcap - 1, i = gavel__str_hash(key) & m;
  for (; h[i]; i = (i + 1) & m)
    if (gavel__str_eq(names[h[i] - 1], key))
      return (int)h[i] - 1;
  *slot = i;
  return -1;
}

/* An index of names[0..n) at most half full; NULL on arena failure (the
** failure is reported at the end of the load).  Duplicates keep the first
** position. */
static uint32_t *sindex(gv_arena *a, gv_str *const *names, uint32_t n,
                        uint32_t *hcap) {
  uint32_t cap = 16, k, slot;
  uint32_t *h;
  while (cap < n * 2 + 2)
    cap *= 2;
  if (!(h = gavel__arena_alloc(a, cap * sizeof(uint32_t))))
    return NULL;
  memset(h, 0, cap * sizeof(uint32_t));
  for (k = 0; k < n; k++)
    if (sfind(h, cap, names, names[k], &slot) < 0)
      h[slot] = k + 1;
  *hcap = cap;
  return h;
}

/* ==== Field access ==== */

static gvalue *get(gvalue obj, const char *key) {
  if (obj.tag != GV_OBJ)
    return NULL;
  return gavel__obj_get(obj.u.o, key, strlen(key));
}

static void check_fields(L *l, gvalue obj, const char *const *allowed) {
  uint32_t i;
  int j;
  if (obj.tag != GV_OBJ)
    return;
  for (i = 0; i < obj.u.o->len; i++) {
    const gv_str *k = obj.u.o->keys[i];
    for (j = 0; allowed[j]; j++)
      if (gavel__str_eqn(k, allowed[j], strlen(allowed[j])))
        break;
    if (!allowed[j]) {
      size_t o = push_key(l, k->s);
      WARN(l, "unknown field `%s` (ignored)", k->s);
      pop(l, o);
    }
  }
}

static int expect_obj(L *l, gvalue *v, const char *key) {
  size_t o;
  if (v && v->tag == GV_OBJ)
    return 1;
  o = push_key(l, key);
  if (!v)
    ERR(l, "missing field `%s`", key);
  else
    ERR(l, "expected an object, got %s", gavel__type_name(gv_typeof(*v)));
  pop(l, o);
  return 0;
}

/* A string field: required or with a default ("" when def is NULL). */
static gv_str *get_str(L *l, gvalue obj, const char *key, int required,
                       const char *def) {
  gvalue *v = get(obj, key);
  size_t o;
  if (v && v->tag == GV_STR)
    return v->u.s;
  if (!v && !required)
    return lstr(l->a, def ? def : "");
  o = push_key(l, key);
  if (!v)
    ERR(l, "missing field `%s`", key);
  else
    ERR(l, "expected a string, got %s", gavel__type_name(gv_typeof(*v)));
  pop(l, o);
  return lstr(l->a, "");
}

/* An unsigned integer field in [0, max], or 'def' when absent.  JSON
** integers above INT64_MAX read as negative (json.c keeps Ordo's u64 as
** i64) and larger ones as floats, so both messages give the range. */
static uint64_t get_uint(L *l, gvalue obj, const char *key, uint64_t max,
                         uint64_t def) {
  gvalue *v = get(obj, key);
  size_t o;
  if (!v)
    return def;
  if (v->tag == GV_INT && v->u.i >= 0 && (uint64_t)v->u.i <= max)
    return (uint64_t)v->u.i;
  o = push_key(l, key);
  if (v->tag == GV_INT && v->u.i >= 0)
    ERR(l, "%lld is out of range (accepted range: 0 to %llu)",
        (long long)v->u.i, (unsigned long long)max);
  else if (v->tag == GV_INT)
    ERR(l, "expected an unsigned integer, got a negative int: %lld "
           "(integers above %lld wrap to negative); accepted range: 0 to %llu",
        (long long)v->u.i, (long long)INT64_MAX, (unsigned long long)max);
  else if (v->tag == GV_FLOAT)
    ERR(l, "expected an unsigned integer, got float: %.15g (accepted "
           "range: 0 to %llu)",
        v->u.f, (unsigned long long)max);
  else
    ERR(l, "expected an unsigned integer, got %s (accepted range: 0 to %llu)",
        gavel__type_name(gv_typeof(*v)), (unsigned long long)max);
  pop(l, o);
  return def;
}

/* [[a, b], ...] list: returns its length, or -1 (error reported). */
static int pair_list(L *l, gvalue *v, const char *key) {
  uint32_t i;
  size_t o;
  if (!v)
    return 0;
  o = push_key(l, key);
  if (v->tag != GV_ARR) {
    ERR(l, "expected a list of [name, value] pairs, got %s",
        gavel__type_name(gv_typeof(*v)));
    pop(l, o);
    return -1;
  }
  for (i = 0; i < v->u.a->len; i++) {
    gvalue e = v->u.a->items[i];
    if (e.tag != GV_ARR || e.u.a->len != 2 || e.u.a->items[0].tag != GV_STR) {
      size_t o2 = push(l, "[%u]", i);
      ERR(l, "expected a [\"name\", value] pair");
      pop(l, o2);
      pop(l, o);
      return -1;
    }
  }
  pop(l, o);
  return (int)v->u.a->len;
}

/* ==== Expressions ==== */

/* Compiles an expression at the current path: a string (parsed as text),
** an Ordo AST object, or (when allow_null) null -> *out = NULL. */
static int expr_at_ast(L *l, gvalue v, int allow_null, gv_program **out,
                       gx_node **ast_out) {
  gavel_error e;
  gx_node *ast = NULL;
  gv_str *src = NULL;
  gavel_status st;
  gv_copts co = {1, 0};
  *out = NULL;
  if (ast_out)
    *ast_out = NULL; /* every path leaves the slot set */
  if (v.tag == GV_NULL && allow_null)
    return 1;
  gavel__error_clear(&e);
  if (v.tag == GV_STR) {
    src = v.u.s;
    st = gavel__parse_expr(l->a, src->s, src->len, &ast, &e);
  } else if (v.tag == GV_OBJ) {
    st = gavel__parse_ast_json(l->a, v, &ast, &e);
  } else {
    ERR(l, "expected an expression (string or expression object), got %s",
        gavel__type_name(gv_typeof(v)));
    return 0;
  }
  if (st == GAVEL_OK)
    st = gavel__compile(l->a, l->st, ast, src, &co, out, &e);
  if (ast_out)
    *ast_out = st == GAVEL_OK ? ast : NULL;
  if (st != GAVEL_OK) {
    size_t o = l->plen;
    if (e.path[0])
      push(l, ".%s", e.path);
    diag(l, GAVEL_DIAG_ERROR, st == GAVEL_LIMIT ? GAVEL_COMPILE : st, e.line,
         e.column, "%s", e.msg);
    pop(l, o);
    return 0;
  }
  return 1;
}

static int expr_at(L *l, gvalue v, int allow_null, gv_program **out) {
  return expr_at_ast(l, v, allow_null, out, NULL);
}

static int expr_field(L *l, gvalue obj, const char *key, int required,
                      gv_program **out) {
  gvalue *v = get(obj, key);
  size_t o;
  int ok;
  *out = NULL;
  if (!v) {
    if (required) {
      o = push_key(l, key);
      ERR(l, "missing field `%s`", key);
      pop(l, o);
    }
    return !required;
  }
  o = push_key(l, key);
  ok = expr_at(l, *v, !required, out);
  pop(l, o);
  return ok;
}

/* ==== Steps ==== */

typedef struct stepref {
  int *where;      /* index to fill                          */
  gv_str *name;    /* referenced key                         */
  const char *path; /* path of the reference                 */
  int from;        /* index of the referencing step          */
} stepref;

typedef struct graphctx {
  gv_graph *g;      /* graph being loaded                    */
  gvalue steps;     /* its steps object                      */
  stepref *refs;    /* references to resolve                 */
  int n_refs;       /* count                                 */
  int cap_refs;     /* allocated                             */
  int cur;          /* index of the step being loaded        */
} graphctx;

static void add_ref(L *l, graphctx *gc, int *where, gvalue obj,
                    const char *key, int required) {
  gvalue *v = get(obj, key);
  size_t o = push_key(l, key);
  *where = -1;
  if (!v || (v->tag == GV_NULL && !required)) { /* Ordo: Option<String> */
    if (!v && required)
      ERR(l, "missing field `%s`", key);
  } else if (v->tag != GV_STR) {
    ERR(l, "expected a step name (string), got %s",
        gavel__type_name(gv_typeof(*v)));
  } else {
    if (gc->n_refs == gc->cap_refs) {
      int ncap = gc->cap_refs ? gc->cap_refs * 2 : 32;
      stepref *nr = gavel__arena_alloc(l->a, (size_t)ncap * sizeof *nr);
      if (!nr) {
        ERR(l, "out of memory");
        pop(l, o);
        return;
      }
      if (gc->n_refs)
        memcpy(nr, gc->refs, (size_t)gc->n_refs * sizeof *nr);
      gc->refs = nr;
      gc->cap_refs = ncap;
    }
    gc->refs[gc->n_refs].where = where;
    gc->refs[gc->n_refs].name = v->u.s;
    gc->refs[gc->n_refs].path = path_dup(l);
    gc->refs[gc->n_refs].from = gc->cur;
    gc->n_refs++;
  }
  pop(l, o);
}

static int var_index(L *l, gv_symtab *st, gv_str *name) {
  int v = gavel__symtab_var(st, name->s, name->len);
  if (v < 0)
    ERR(l, "out of memory");
  return v;
}

/* Records 'cap' among the capabilities the ruleset uses (once). */
static void use_capability(L *l, gv_str *cap) {
  gavel_ruleset *rs = l->rs;
  uint32_t slot = 0;
  if (l->caps_hash &&
      sfind(l->caps_hash, l->caps_hcap, rs->caps, cap, &slot) >= 0)
    return;
  if (rs->n_caps == l->caps_cap) {
    int ncap = l->caps_cap ? l->caps_cap * 2 : 8;
    gv_str **nc = gavel__arena_alloc(l->a, (size_t)ncap * sizeof(gv_str *));
    if (!nc)
      return;
    if (rs->n_caps)
      memcpy(nc, rs->caps, (size_t)rs->n_caps * sizeof(gv_str *));
    rs->caps = nc;
    l->caps_cap = ncap;
  }
  rs->caps[rs->n_caps++] = cap;
  if (l->caps_hash && (uint32_t)rs->n_caps * 2 <= l->caps_hcap)
    l->caps_hash[slot] = (uint32_t)rs->n_caps;
  else
    l->caps_hash = sindex(l->a, rs->caps, (uint32_t)rs->n_caps, &l->caps_hcap);
}

/* 1 if config.capabilities lists 'cap' (indexed on first use). */
static int declared(L *l, gv_str *cap) {
  gv_arr *dc = l->declared_caps.u.a;
  uint32_t j, n = 0, slot;
  if (!l->decl_hash) {
    if (!(l->decl = gavel__arena_alloc(l->a, (dc->len + 1) * sizeof(gv_str *))))
      return 1; /* reported at the end (arena failed) */
    for (j = 0; j < dc->len; j++)
      if (dc->items[j].tag == GV_STR)
        l->decl[n++] = dc->items[j].u.s;
    if (!(l->decl_hash = sindex(l->a, l->decl, n, &l->decl_hcap)))
      return 1;
  }
  return sfind(l->decl_hash, l->decl_hcap, l->decl, cap, &slot) >= 0;
}

static void check_capability(L *l, gv_str *cap) {
  size_t k;
  use_capability(l, cap);
  if (l->declared_caps.tag == GV_ARR && !declared(l, cap))
    diag(l, GAVEL_DIAG_ERROR, GAVEL_CAPDENIED, 0, 0,
         "capability '%s' is used but not declared in config.capabilities",
         cap->s);
  if (l->opts && l->opts->no_capability_check)
    return;
  if (!gavel__host_find(l->rs->rt, cap->s, cap->len)) {
    diag(l, GAVEL_DIAG_ERROR, GAVEL_CAPDENIED, 0, 0,
         "capability '%s' is not provided by the host (Capability not "
         "found: %s; ExternalCall requires a capability invoker)",
         cap->s, cap->s);
    return;
  }
  if (l->opts && l->opts->grants) {
    for (k = 0; k < l->opts->n_grants; k++)
      if (gavel__str_eqn(cap, l->opts->grants[k], strlen(l->opts->grants[k])))
        return;
    diag(l, GAVEL_DIAG_ERROR, GAVEL_CAPDENIED, 0, 0,
         "capability '%s' is not granted to this ruleset (grant it: "
         "'--grant %s' on the command line, capabilities = {\"%s\"} in "
         "Lua's gavel.load, gavel_load_opts.grants in C)",
         cap->s, cap->s, cap->s);
  }
}

static const char *const act_common[] = {"action", "description", NULL};

static void load_action(L *l, gvalue v, gv_action *a) {
  static const char *const f_set[] = {"action", "description", "name", "value", NULL};
  static const char *const f_log[] = {"action", "description", "message", "level", NULL};
  static const char *const f_met[] = {"action", "description", "name", "value", "tags", NULL};
  static const char *const f_crs[] = {"action", "description", "ruleset_name",
                                      "input_mapping", "result_variable", NULL};
  static const char *const f_ext[] = {"action", "description", "service", "method",
                                      "params", "result_variable", "timeout_ms", NULL};
  gv_str *tag;
  gvalue *pv, *tv;
  int i, n;
  memset(a, 0, sizeof *a);
  /* Until the tag is known the action is a log without effect: a zeroed
  ** gv_action would be a set_variable with no program and variable -1. */
  a->type = ACT_LOG;
  a->name = a->level = lstr(l->a, "");
  a->path = path_dup(l);
  a->var = -1;
  if (v.tag != GV_OBJ) {
    ERR(l, "expected an action object, got %s", gavel__type_name(gv_typeof(v)));
    return;
  }
  tv = get(v, "action");
  tag = get_str(l, v, "action", 1, NULL);
  if (gavel__str_eqn(tag, "set_variable", 12)) {
    a->type = ACT_SET;
    check_fields(l, v, f_set);
    a->name = get_str(l, v, "name", 1, NULL);
    a->var = var_index(l, l->st, a->name);
    expr_field(l, v, "value", 1, &a->value);
  } else if (gavel__str_eqn(tag, "log", 3)) {
    a->type = ACT_LOG;
    check_fields(l, v, f_log);
    a->name = get_str(l, v, "message", 1, NULL);
    a->level = get_str(l, v, "level", 0, "info");
    if (!gavel__str_eqn(a->level, "debug", 5) && !gavel__str_eqn(a->level, "info", 4) &&
        !gavel__str_eqn(a->level, "warn", 4) && !gavel__str_eqn(a->level, "error", 5)) {
      size_t o = push_key(l, "level");
      ERR(l, "unknown log level `%s` (expected debug, info, warn or error)",
          a->level->s);
      pop(l, o);
    }
  } else if (gavel__str_eqn(tag, "metric", 6)) {
    a->type = ACT_METRIC;
    check_fields(l, v, f_met);
    a->name = get_str(l, v, "name", 1, NULL);
    expr_field(l, v, "value", 1, &a->value);
    pv = get(v, "tags");
    if ((n = pair_list(l, pv, "tags")) > 0) {
      a->keys = gavel__arena_alloc(l->a, (size_t)n * sizeof(gv_str *));
      a->tagvals = gavel__arena_alloc(l->a, (size_t)n * sizeof(gv_str *));
      if (!a->keys || !a->tagvals)
        return;
      for (i = 0; i < n; i++) {
        gvalue p = pv->u.a->items[i];
        a->keys[i] = p.u.a->items[0].u.s;
        if (p.u.a->items[1].tag != GV_STR) {
          size_t o = push(l, ".tags[%d][1]", i);
          ERR(l, "expected a string tag value");
          pop(l, o);
          return;
        }
        a->tagvals[i] = p.u.a->items[1].u.s;
      }
      a->n_keys = n;
    }
  } else if (gavel__str_eqn(tag, "call_rule_set", 13)) {
    a->type = ACT_CALLRS;
    check_fields(l, v, f_crs);
    a->name = get_str(l, v, "ruleset_name", 1, NULL);
    a->var = var_index(l, l->st, get_str(l, v, "result_variable", 1, NULL));
    expr_field(l, v, "input_mapping", 0, &a->value);
    if (!a->value)
      l->st->needs_root = 1; /* the child gets the whole input: read it all */
  } else if (gavel__str_eqn(tag, "external_call", 13)) {
    gvalue *rv;
    a->type = ACT_EXTCALL;
    check_fields(l, v, f_ext);
    a->name = get_str(l, v, "service", 1, NULL);
    a->method = get_str(l, v, "method", 1, NULL);
    a->timeout_ms = (uint32_t)get_uint(l, v, "timeout_ms", UINT32_MAX, 0);
    rv = get(v, "result_variable");
    if (rv && rv->tag == GV_STR)
      a->var = var_index(l, l->st, rv->u.s);
    else if (rv && rv->tag != GV_NULL) {
      size_t o = push_key(l, "result_variable");
      ERR(l, "expected a string or null");
      pop(l, o);
    }
    pv = get(v, "params");
    if (!pv)
      ERR(l, "missing field `params`");
    else if ((n = pair_list(l, pv, "params")) > 0) {
      a->keys = gavel__arena_alloc(l->a, (size_t)n * sizeof(gv_str *));
      a->params = gavel__arena_alloc(l->a, (size_t)n * sizeof(gv_program *));
      if (!a->keys || !a->params)
        return;
      for (i = 0; i < n; i++) {
        size_t o = push(l, ".params[%d][1]", i);
        a->keys[i] = pv->u.a->items[i].u.a->items[0].u.s;
        expr_at(l, pv->u.a->items[i].u.a->items[1], 0, &a->params[i]);
        pop(l, o);
      }
      a->n_keys = n;
    }
    if ((pv = get(v, "service")) && pv->tag == GV_STR) {
      size_t o = push_key(l, "service");
      if (!a->name->len)
        ERR(l, "empty service name (expected a capability, such as "
               "network.http)");
      else
        check_capability(l, a->name);
      pop(l, o);
    }
  } else if (tv && tv->tag == GV_STR) { /* missing or not a string: reported */
    size_t o = push_key(l, "action");
    check_fields(l, v, act_common);
    if (tag->len)
      ERR(l, "unknown action `%s` (expected one of set_variable, log, "
             "metric, call_rule_set, external_call)",
          tag->s);
    else
      ERR(l, "empty action tag (expected one of set_variable, log, metric, "
             "call_rule_set, external_call)");
    pop(l, o);
  }
}

static int load_actions(L *l, gvalue obj, const char *key, int required,
                        gv_action **out) {
  gvalue *v = get(obj, key);
  size_t o;
  uint32_t i;
  *out = NULL;
  if (!v) {
    if (required) {
      o = push_key(l, key);
      ERR(l, "missing field `%s`", key);
      pop(l, o);
    }
    return 0;
  }
  o = push_key(l, key);
  if (v->tag != GV_ARR) {
    ERR(l, "expected a list of actions, got %s", gavel__type_name(gv_typeof(*v)));
    pop(l, o);
    return 0;
  }
  *out = gavel__arena_alloc(l->a, (v->u.a->len + 1) * sizeof(gv_action));
  if (!*out) {
    pop(l, o);
    return 0;
  }
  for (i = 0; i < v->u.a->len; i++) {
    size_t o2 = push(l, "[%u]", i);
    load_action(l, v->u.a->items[i], &(*out)[i]);
    pop(l, o2);
  }
  pop(l, o);
  return (int)v->u.a->len;
}

/* The AST of a null condition ("always"): the literal true, so the
** decision compiler gets a real node for every branch. */
static gx_node *always_node(L *l) {
  gx_node *n = gavel__arena_alloc(l->a, sizeof *n);
  if (!n)
    return NULL; /* reported at the end (arena failed) */
  memset(n, 0, sizeof *n);
  n->kind = GX_LIT;
  n->offset = -1;
  n->lit = gv_bool(1);
  return n;
}

static void load_decision(L *l, graphctx *gc, gvalue v, gv_step *s) {
  gvalue *bv = get(v, "branches");
  uint32_t i;
  size_t o;
  gx_node **asts;
  int errors_before;
  static const char *const f_br[] = {"condition", "next_step", "actions", NULL};
  add_ref(l, gc, &s->default_next, v, "default_next", 0);
  if (!bv) {
    ERR(l, "missing field `branches`");
    return;
  }
  o = push_key(l, "branches");
  if (bv->tag != GV_ARR) {
    ERR(l, "expected a list of branches, got %s", gavel__type_name(gv_typeof(*bv)));
    pop(l, o);
    return;
  }
  s->branches = gavel__arena_alloc(l->a, (bv->u.a->len + 1) * sizeof(gv_branch));
  asts = gavel__arena_alloc(l->a, (bv->u.a->len + 1) * sizeof(gx_node *));
  if (!s->branches || !asts) {
    pop(l, o);
    return;
  }
  /* Every slot starts NULL ("no AST"): a branch that fails, or is not an
  ** object, must never hand stale arena bytes to the decision compiler. */
  memset(asts, 0, (bv->u.a->len + 1) * sizeof(gx_node *));
  errors_before = l->n_errors;
  s->n_branches = (int)bv->u.a->len;
  for (i = 0; i < bv->u.a->len; i++) {
    gvalue b = bv->u.a->items[i];
    gv_branch *br = &s->branches[i];
    gvalue *cv;
    size_t o2 = push(l, "[%u]", i);
    memset(br, 0, sizeof *br);
    if (b.tag != GV_OBJ) {
      ERR(l, "expected a branch object, got %s", gavel__type_name(gv_typeof(b)));
      pop(l, o2);
      continue;
    }
    check_fields(l, b, f_br);
    cv = get(b, "condition");
    {
      size_t o3 = push_key(l, "condition");
      br->path = path_dup(l);
      if (!cv)
        ERR(l, "missing field `condition` (use null for always)");
      else if (cv->tag == GV_BOOL)
        ERR(l, "a JSON boolean is not a condition: use \"true\" or null");
      else if (cv->tag == GV_NULL)
        asts[i] = always_node(l); /* br->cond stays NULL: always */
      else
        expr_at_ast(l, *cv, 0, &br->cond, &asts[i]);
      pop(l, o3);
    }
    add_ref(l, gc, &br->next, b, "next_step", 1);
    br->n_actions = load_actions(l, b, "actions", 0, &br->actions);
    pop(l, o2);
  }
  pop(l, o);
  /* One program for the whole decision: one VM entry per step instead of
  ** one per condition (measured: the 4-branch rule 58 -> see bench/).  It
  ** is an optimisation only: when it cannot be built, the branches run
  ** one by one.  It needs a constant per branch (the index it returns)
  ** and -1, so from GAVEL_MAX_CONSTS branches on it is not attempted. */
  if (l->n_errors == errors_before && s->n_branches > 1 &&
      s->n_branches < GAVEL_MAX_CONSTS) {
    gavel_error fe;
    int k, have_all = 1;
    for (k = 0; k < s->n_branches; k++)
      if (!asts[k])
        have_all = 0;
    if (have_all &&
        gavel__compile_decision(l->a, l->st, asts, s->n_branches,
                                !l->rs->strict, &s->fused, &fe) != GAVEL_OK)
      s->fused = NULL;
  }
}

static void load_terminal(L *l, gvalue v, gv_step *s) {
  static const char *const f_res[] = {"code", "message", "output", "data", NULL};
  gvalue *rv = get(v, "result"), *ov, *dv;
  size_t o;
  int i, n;
  if (!expect_obj(l, rv, "result"))
    return;
  o = push_key(l, "result");
  check_fields(l, *rv, f_res);
  s->code = get_str(l, *rv, "code", 0, "");
  s->message = get_str(l, *rv, "message", 0, "");
  dv = get(*rv, "data");
  s->data = dv ? *dv : gv_null();
  ov = get(*rv, "output");
  if (ov && ov->tag == GV_OBJ) { /* extension: {"name": "expr", ...} */
    n = (int)ov->u.o->len;
    s->out_keys = gavel__arena_alloc(l->a, (size_t)(n + 1) * sizeof(gv_str *));
    s->outs = gavel__arena_alloc(l->a, (size_t)(n + 1) * sizeof(gv_program *));
    if (!s->out_keys || !s->outs)
      goto done;
    for (i = 0; i < n; i++) {
      size_t o2 = push(l, ".output.%s", ov->u.o->keys[i]->s);
      s->out_keys[i] = ov->u.o->keys[i];
      expr_at(l, ov->u.o->vals[i], 0, &s->outs[i]);
      pop(l, o2);
    }
    s->n_outs = n;
  } else if ((n = pair_list(l, ov, "output")) > 0) {
    s->out_keys = gavel__arena_alloc(l->a, (size_t)n * sizeof(gv_str *));
    s->outs = gavel__arena_alloc(l->a, (size_t)n * sizeof(gv_program *));
    if (!s->out_keys || !s->outs)
      goto done;
    for (i = 0; i < n; i++) {
      size_t o2 = push(l, ".output[%d][1]", i);
      s->out_keys[i] = ov->u.a->items[i].u.a->items[0].u.s;
      expr_at(l, ov->u.a->items[i].u.a->items[1], 0, &s->outs[i]);
      pop(l, o2);
    }
    s->n_outs = n;
  }
done:
  pop(l, o);
}

/* Graph index of sub-rule 'name' (1-based: 0 is the main graph), or -1. */
static int find_sub(L *l, gv_str *name) {
  uint32_t slot;
  int k;
  if (!l->sub_hash)
    return -1;
  k = sfind(l->sub_hash, l->sub_hcap, l->sub_rules.u.o->keys, name, &slot);
  return k < 0 ? -1 : k + 1;
}

static void load_subrule_step(L *l, graphctx *gc, gvalue v, gv_step *s) {
  gvalue *bv = get(v, "bindings"), *ov = get(v, "outputs");
  gvalue *rv = get(v, "ref_name");
  gv_str *ref = get_str(l, v, "ref_name", 1, NULL);
  int i, n;
  add_ref(l, gc, &s->next, v, "next_step", 1);
  s->sub = find_sub(l, ref);
  if (s->sub < 0 && rv && rv->tag == GV_STR) { /* "" too: no graph -1 */
    size_t o = push_key(l, "ref_name");
    ERR(l, "Sub-rule '%s' not found", ref->s);
    pop(l, o);
  }
  if ((n = pair_list(l, bv, "bindings")) > 0) {
    s->bind_keys = gavel__arena_alloc(l->a, (size_t)n * sizeof(gv_str *));
    s->binds = gavel__arena_alloc(l->a, (size_t)n * sizeof(gv_program *));
    if (!s->bind_keys || !s->binds)
      return;
    for (i = 0; i < n; i++) {
      size_t o = push(l, ".bindings[%d][1]", i);
      s->bind_keys[i] = bv->u.a->items[i].u.a->items[0].u.s;
      expr_at(l, bv->u.a->items[i].u.a->items[1], 0, &s->binds[i]);
      pop(l, o);
    }
    s->n_binds = n;
  }
  if ((n = pair_list(l, ov, "outputs")) > 0) {
    s->out_parent = gavel__arena_alloc(l->a, (size_t)n * sizeof(int));
    s->out_child = gavel__arena_alloc(l->a, (size_t)n * sizeof(int));
    if (!s->out_parent || !s->out_child)
      return;
    for (i = 0; i < n; i++) {
      gvalue pair = ov->u.a->items[i];
      s->out_parent[i] = var_index(l, l->st, pair.u.a->items[0].u.s);
      s->out_child[i] = -1; /* resolved against the child's symtab later */
      if (pair.u.a->items[1].tag != GV_STR) {
        size_t o = push(l, ".outputs[%d][1]", i);
        ERR(l, "expected a child variable name (string)");
        pop(l, o);
      }
    }
    s->n_outmaps = n;
  }
}

static void load_step(L *l, graphctx *gc, gv_str *key, gvalue v, gv_step *s) {
  static const char *const f_dec[] = {"id", "name", "type", "description",
                                      "branches", "default_next", NULL};
  static const char *const f_act[] = {"id", "name", "type", "description",
                                      "actions", "next_step", NULL};
  static const char *const f_ter[] = {"id", "name", "type", "description",
                                      "result", NULL};
  static const char *const f_sub[] = {"id", "name", "type", "description",
                                      "ref_name", "bindings", "outputs",
                                      "next_step", NULL};
  gv_str *type;
  memset(s, 0, sizeof *s);
  s->key = key;
  s->path = path_dup(l);
  s->default_next = s->next = -1;
  s->data = gv_null();
  s->fixed = gv_missing();
  if (v.tag != GV_OBJ) {
    ERR(l, "expected a step object, got %s", gavel__type_name(gv_typeof(v)));
    s->type = ST_TERMINAL;
    s->id = s->name = s->code = s->message = key;
    return;
  }
  s->id = get_str(l, v, "id", 1, NULL);
  if (s->id && key && !gavel__str_eq(s->id, key)) {
    size_t o = push_key(l, "id");
    WARN(l, "step '%s' has the id '%s': runs go by the key, traces and "
            "errors name the id (Ordo's compiler refuses such a step)",
         key->s, s->id->s);
    pop(l, o);
  }
  /* Deliberate difference: Ordo requires 'name'; gavel defaults it to the
  ** id, so the example printed in Ordo's docs loads as intended. */
  s->name = get(v, "name") ? get_str(l, v, "name", 1, NULL) : s->id;
  type = get_str(l, v, "type", 1, NULL);
  if (gavel__str_eqn(type, "decision", 8)) {
    s->type = ST_DECISION;
    check_fields(l, v, f_dec);
    load_decision(l, gc, v, s);
  } else if (gavel__str_eqn(type, "action", 6)) {
    s->type = ST_ACTION;
    check_fields(l, v, f_act);
    s->n_actions = load_actions(l, v, "actions", 1, &s->actions);
    add_ref(l, gc, &s->next, v, "next_step", 1);
  } else if (gavel__str_eqn(type, "terminal", 8)) {
    s->type = ST_TERMINAL;
    check_fields(l, v, f_ter);
    load_terminal(l, v, s);
  } else if (gavel__str_eqn(type, "sub_rule", 8)) {
    s->type = ST_SUBRULE;
    check_fields(l, v, f_sub);
    load_subrule_step(l, gc, v, s);
  } else {
    size_t o = push_key(l, "type");
    gvalue *tv = get(v, "type");
    s->type = ST_TERMINAL; /* placeholder so the graph stays well formed */
    s->code = s->message = lstr(l->a, "");
    if (tv && tv->tag == GV_STR) /* "" too; missing or not a string: reported */
      ERR(l, "unknown variant `%s`, expected one of `decision`, `action`, "
             "`terminal`, `sub_rule`",
          type->s);
    pop(l, o);
  }
  if (!s->code)
    s->code = lstr(l->a, "");
  if (!s->message)
    s->message = lstr(l->a, "");
}

/* Step index by key through the graph's hash index (built in load_graph). */
static int step_index(const gv_graph *g, const gv_str *name) {
  uint32_t m, i;
  if (!g->key_hash)
    return -1;
  m = g->hcap - 1;
  i = gavel__str_hash((gv_str *)name) & m;
  while (g->key_hash[i]) {
    if (gavel__str_eq(g->steps[g->key_hash[i] - 1].key, name))
      return (int)g->key_hash[i] - 1;
    i = (i + 1) & m;
  }
  return -1;
}

static void index_steps(L *l, gv_graph *g) {
  uint32_t cap = 16, i, k;
  while (cap < (uint32_t)g->n_steps * 2 + 2)
    cap *= 2;
  g->key_hash = gavel__arena_alloc(l->a, cap * sizeof(uint32_t));
  if (!g->key_hash)
    return;
  memset(g->key_hash, 0, cap * sizeof(uint32_t));
  g->hcap = cap;
  for (k = 0; k < (uint32_t)g->n_steps; k++) {
    if (step_index(g, g->steps[k].key) >= 0)
      continue; /* JSON duplicate keys were already merged */
    i = gavel__str_hash(g->steps[k].key) & (cap - 1);
    while (g->key_hash[i])
      i = (i + 1) & (cap - 1);
    g->key_hash[i] = k + 1;
  }
}

/* Number of outgoing edges of a step, and its k-th successor (or -1 for
** an unresolved reference). */
static int n_succ(const gv_step *s) {
  switch (s->type) {
  case ST_DECISION:
    return s->n_branches + 1;
  case ST_ACTION:
  case ST_SUBRULE:
    return 1;
  default:
    return 0;
  }
}

static int succ_at(const gv_step *s, int k) {
  if (s->type != ST_DECISION)
    return s->next;
  return k < s->n_branches ? s->branches[k].next : s->default_next;
}

/* The fewest steps a run from the entry takes to reach a terminal (the
** terminal counted), or 0 when none is reachable: a breadth-first search,
** 'dist' and 'queue' n ints each. */
static int shortest_run(const gv_graph *g, int *dist, int *queue) {
  int n = g->n_steps, head = 0, tail = 0, i, k, t;
  for (i = 0; i < n; i++)
    dist[i] = 0;
  dist[g->entry] = 1;
  queue[tail++] = g->entry;
  while (head < tail) {
    int s = queue[head++];
    if (g->steps[s].type == ST_TERMINAL)
      return dist[s];
    for (k = 0; k < n_succ(&g->steps[s]); k++)
      if ((t = succ_at(&g->steps[s], k)) >= 0 && !dist[t]) {
        dist[t] = dist[s] + 1;
        queue[tail++] = t;
      }
  }
  return 0;
}

/* Reachability from the entry (warnings) and steps that can never reach a
** terminal: a cycle without exit (errors).  Both are linear searches.
** 'max_depth' (0: not checked): a warning when even the shortest run to a
** terminal takes more steps, so that every run fails. */
static void analyse_graph(L *l, gv_graph *g, uint32_t max_depth) {
  int n = g->n_steps, i, k, e, t, n_edges = 0, sp = 0;
  int *reach, *done, *stack, *rhead, *rnext, *rfrom;
  if (g->entry < 0 || n == 0)
    return;
  for (i = 0; i < n; i++)
    n_edges += n_succ(&g->steps[i]);
  reach = gavel__arena_alloc(l->a, (size_t)n * 4 * sizeof(int));
  rnext = gavel__arena_alloc(l->a, (size_t)(n_edges + 1) * sizeof(int));
  rfrom = gavel__arena_alloc(l->a, (size_t)(n_edges + 1) * sizeof(int));
  if (!reach || !rnext || !rfrom)
    return;
  done = reach + n;
  stack = done + n;
  rhead = stack + n;
  memset(reach, 0, (size_t)n * 2 * sizeof(int));
  /* forward, from the entry; reversed edges are collected on the way */
  for (i = 0; i < n; i++)
    rhead[i] = -1;
  for (i = 0, e = 0; i < n; i++)
    for (k = 0; k < n_succ(&g->steps[i]); k++)
      if ((t = succ_at(&g->steps[i], k)) >= 0) {
        rfrom[e] = i;
        rnext[e] = rhead[t];
        rhead[t] = e++;
      }
  reach[g->entry] = 1;
  stack[sp++] = g->entry;
  while (sp > 0) {
    int s = stack[--sp];
    for (k = 0; k < n_succ(&g->steps[s]); k++)
      if ((t = succ_at(&g->steps[s], k)) >= 0 && !reach[t]) {
        reach[t] = 1;
        stack[sp++] = t;
      }
  }
  /* backward, from the terminals over the reversed edges */
  for (i = 0; i < n; i++) {
    done[i] = g->steps[i].type == ST_TERMINAL ||
              (g->dangling && g->dangling[i]);
    if (done[i])
      stack[sp++] = i;
  }
  while (sp > 0) {
    int s = stack[--sp];
    for (e = rhead[s]; e >= 0; e = rnext[e])
      if (!done[rfrom[e]]) {
        done[rfrom[e]] = 1;
        stack[sp++] = rfrom[e];
      }
  }
  if (max_depth) {
    int shortest = shortest_run(g, reach + 2 * n, rhead);
    if (shortest > 0 && (uint32_t)shortest > max_depth) {
      size_t o = l->plen;
      set_path(l, "config.max_depth");
      WARN(l, "max_depth %u is below the shortest run to a terminal step "
              "(%d steps): every run fails with 'Max execution depth "
              "exceeded'",
           max_depth, shortest);
      l->plen = o;
      l->path[o] = 0;
    }
  }
  for (i = 0; i < n; i++) {
    size_t o = l->plen;
    set_path(l, g->steps[i].path);
    if (!reach[i])
      WARN(l, "step '%s' is unreachable from the entry step",
           g->steps[i].key->s);
    else if (!done[i])
      ERR(l, "step '%s' can never reach a terminal step (a cycle without "
             "exit)",
          g->steps[i].key->s);
    l->plen = o;
    l->path[o] = 0;
  }
}

/* Loads one graph (the main one, or a sub-rule) from its steps object. */
static void load_graph(L *l, gv_graph *g, gvalue steps, gv_str *entry) {
  graphctx gc;
  uint32_t i;
  int r;
  memset(&gc, 0, sizeof gc);
  gc.g = g;
  gc.steps = steps;
  l->st = &g->st;
  g->entry = -1;
  if (steps.tag != GV_OBJ)
    return;
  g->steps = gavel__arena_alloc(l->a, (size_t)(steps.u.o->len + 1) *
                                          sizeof(gv_step));
  if (!g->steps)
    return;
  g->n_steps = (int)steps.u.o->len;
  for (i = 0; i < steps.u.o->len; i++) {
    size_t o = push(l, ".%s", steps.u.o->keys[i]->s);
    gc.cur = (int)i;
    load_step(l, &gc, steps.u.o->keys[i], steps.u.o->vals[i], &g->steps[i]);
    pop(l, o);
  }
  index_steps(l, g);
  for (r = 0; r < gc.n_refs; r++) {
    int idx = step_index(g, gc.refs[r].name);
    *gc.refs[r].where = idx;
    if (idx < 0) {
      size_t o = l->plen;
      const char *p = gc.refs[r].path;
      /* the cause, reported here once: analyse_graph treats the step as an
      ** exit rather than also calling it a cycle without exit */
      if (!g->dangling &&
          (g->dangling = gavel__arena_alloc(l->a, (size_t)g->n_steps + 1)))
        memset(g->dangling, 0, (size_t)g->n_steps + 1);
      if (g->dangling && gc.refs[r].from >= 0 && gc.refs[r].from < g->n_steps)
        g->dangling[gc.refs[r].from] = 1;
      set_path(l, p);
      /* Ordo's validate() text names the referencing step. */
      {
        const char *sp = strstr(p, "steps.");
        char from[128] = "?";
        if (sp) {
          const char *st = sp + 6, *en = strchr(st, '.');
          snprintf(from, sizeof from, "%.*s",
                   (int)(en ? (size_t)(en - st) : strlen(st)), st);
        }
        ERR(l, "Step '%s' references non-existent step '%s' (Step not "
               "found: %s)",
            from, gc.refs[r].name->s, gc.refs[r].name->s);
      }
      l->plen = o;
      l->path[o] = 0;
    }
  }
  g->entry = step_index(g, entry);
}

/* A terminal without outputs always gives the same result: build it once
** ({code, message, output: data-or-{}}), so runs allocate nothing for it. */
static void static_result(L *l, gv_step *s) {
  gv_obj *r, *out;
  uint32_t i;
  s->fixed = gv_missing();
  if (s->type != ST_TERMINAL || s->n_outs > 0)
    return;
  out = gavel__obj_new(l->a, s->data.tag == GV_OBJ ? s->data.u.o->len : 0);
  r = gavel__obj_new(l->a, 3);
  if (!out || !r)
    return;
  if (s->data.tag == GV_OBJ)
    for (i = 0; i < s->data.u.o->len; i++)
      if (!gavel__obj_set(l->a, out, s->data.u.o->keys[i], s->data.u.o->vals[i]))
        return;
  if (!gavel__obj_append(l->a, r, l->rs->keys[RK_CODE], gv_strv(s->code)) ||
      !gavel__obj_append(l->a, r, l->rs->keys[RK_MESSAGE], gv_strv(s->message)) ||
      !gavel__obj_append(l->a, r, l->rs->keys[RK_OUTPUT], gv_objv(out)))
    return;
  s->fixed = gv_objv(r);
}

/* Reports the cycle closed by step 'si' of graph stack[depth], which calls
** stack[start]: "a -> b -> a". */
static void report_cycle(L *l, const int *stack, int start, int depth,
                         int si) {
  gv_graph *g = &l->rs->graphs[stack[depth]];
  char chain[GAVEL_ERRMSG_SIZE / 2];
  size_t o = l->plen;
  int k, n = 0, room = (int)sizeof chain;
  /* at most 44 bytes a link, 53 for the ellipsis, 24 for the last */
  for (k = start; k <= depth && n < room - 128; k++)
    n += snprintf(chain + n, (size_t)(room - n), "%.40s -> ",
                  l->rs->graphs[stack[k]].name->s);
  if (k <= depth) /* too long to list: the closing link stays visible */
    n += snprintf(chain + n, (size_t)(room - n), "... (%d more) -> %.24s -> ",
                  depth - k, l->rs->graphs[stack[depth]].name->s);
  if (GAVEL_NEVER(n >= room))
    n = room - 1;
  snprintf(chain + n, (size_t)(room - n), "%.24s",
           l->rs->graphs[stack[start]].name->s);
  l->plen = 0;
  push(l, "%s.ref_name", g->steps[si].path);
  ERR(l, "Cycle detected in sub-rule call graph: %s (SubRule max nesting "
         "depth (%d) exceeded)",
      chain, 10);
  l->plen = o;
  l->path[o] = 0;
}

/* Sub-rule call graph: cycles are errors (Ordo's validate).  A depth-first
** search with its own stack (a chain of 200,000 sub-rules recursed as
** deep in C); color[] is 0 new, 1 on the stack, 2 done, and at[] the
** graph's position on the stack.  Returns 1 after reporting a cycle. */
static int sub_cycle(L *l, int root, int *color, int *stack, int *next,
                     int *at) {
  int depth = 0;
  color[root] = 1;
  stack[0] = root;
  next[0] = 0;
  at[root] = 0;
  while (depth >= 0) {
    gv_graph *g = &l->rs->graphs[stack[depth]];
    int si = next[depth]++, c;
    if (si >= g->n_steps) {
      color[stack[depth--]] = 2;
      continue;
    }
    c = g->steps[si].type == ST_SUBRULE ? g->steps[si].sub : -1;
    if (c < 0 || color[c] == 2)
      continue;
    if (color[c] == 1) {
      report_cycle(l, stack, at[c], depth, si);
      return 1;
    }
    color[c] = 1;
    at[c] = ++depth;
    stack[depth] = c;
    next[depth] = 0;
  }
  return 0;
}

static void load_config(L *l, gvalue cfg) {
  static const char *const f_cfg[] = {
      "name", "tenant_id", "version", "description", "entry_step",
      "field_missing", "max_depth", "timeout_ms", "enable_trace", "metadata",
      "gas_limit", "capabilities", NULL};
  gavel_ruleset *rs = l->rs;
  gv_str *fm;
  gvalue *v;
  size_t o = push_key(l, "config");
  check_fields(l, cfg, f_cfg);
  rs->name = get_str(l, cfg, "name", 1, NULL);
  rs->version = get_str(l, cfg, "version", 0, "1.0.0");
  fm = get_str(l, cfg, "field_missing", 0, "lenient");
  if (gavel__str_eqn(fm, "lenient", 7))
    rs->strict = 0;
  else if (gavel__str_eqn(fm, "strict", 6) || gavel__str_eqn(fm, "default", 7))
    rs->strict = 1;
  else {
    size_t o2 = push_key(l, "field_missing");
    ERR(l, "unknown variant `%s`, expected one of `lenient`, `strict`, "
           "`default`",
        fm->s);
    pop(l, o2);
  }
  {
    /* Any non-negative int is a valid bound (Ordo's is a usize); above
    ** 2^32-1 it saturates, and the host's max_steps caps it anyway. */
    uint64_t d = get_uint(l, cfg, "max_depth", INT64_MAX, 100);
    rs->max_depth = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
  }
  rs->timeout_ms = get_uint(l, cfg, "timeout_ms", INT64_MAX, 5000);
  rs->gas_limit = get_uint(l, cfg, "gas_limit", INT64_MAX,
                           rs->rt->cfg.gas_limit ? rs->rt->cfg.gas_limit
                                                 : GAVEL_DEFAULT_GAS);
  v = get(cfg, "enable_trace");
  if (v && v->tag != GV_BOOL) {
    size_t o2 = push_key(l, "enable_trace");
    ERR(l, "expected a boolean, got %s", gavel__type_name(gv_typeof(*v)));
    pop(l, o2);
  }
  rs->enable_trace = v && v->tag == GV_BOOL && v->u.i;
  v = get(cfg, "capabilities");
  l->declared_caps = v ? *v : gv_missing();
  if (v && (v->tag != GV_ARR)) {
    size_t o2 = push_key(l, "capabilities");
    ERR(l, "expected a list of capability names");
    pop(l, o2);
  }
  pop(l, o);
}

gavel_status gavel__load(gavel_runtime *rt, gvalue doc,
                         const gavel_load_opts *opts, gavel_ruleset **out,
                         gavel_error *err) {
  static const char *const f_top[] = {"config", "steps", "sub_rules", NULL};
  static const char *const f_sub[] = {"entry_step", "steps", NULL};
  L l;
  gavel_ruleset *rs;
  gvalue *cfg, *steps, *subs;
  gv_str *entry;
  int i, gi, *color, *stack;
  memset(&l, 0, sizeof l);
  *out = NULL;
  l.opts = opts;
  l.err = err;
  rs = gavel__malloc(&rt->al, sizeof *rs);
  if (!rs) {
    diag(&l, GAVEL_DIAG_ERROR, GAVEL_NOMEM, 0, 0, "out of memory");
    return GAVEL_NOMEM;
  }
  memset(rs, 0, sizeof *rs);
  rs->rt = rt;
  rs->jit = gavel__jit_new(rt, opts ? opts->jit : 0);
  gavel__arena_init(&rs->arena, &rt->al, 0);
  l.rs = rs;
  l.a = &rs->arena;
  l.declared_caps = gv_missing();
  {
    static const char *const names[RK__COUNT] = {
        "code", "message", "output", "capability", "operation", "payload",
        "metadata"};
    for (i = 0; i < RK__COUNT; i++)
      rs->keys[i] = lstr(l.a, names[i]);
  }
  if (doc.tag != GV_OBJ) {
    ERR(&l, "a ruleset must be a JSON object, got %s",
        gavel__type_name(gv_typeof(doc)));
    goto done;
  }
  check_fields(&l, doc, f_top);
  cfg = get(doc, "config");
  steps = get(doc, "steps");
  subs = get(doc, "sub_rules");
  l.sub_rules = subs && subs->tag == GV_OBJ ? *subs : gv_null();
  if (l.sub_rules.tag == GV_OBJ)
    l.sub_hash = sindex(l.a, l.sub_rules.u.o->keys, l.sub_rules.u.o->len,
                        &l.sub_hcap);
  if (subs && subs->tag != GV_OBJ)
    expect_obj(&l, subs, "sub_rules");
  if (expect_obj(&l, cfg, "config"))
    load_config(&l, *cfg);
  else {
    rs->name = lstr(l.a, "");
    rs->max_depth = 100;
  }
  rs->n_graphs = 1 + (l.sub_rules.tag == GV_OBJ ? (int)l.sub_rules.u.o->len : 0);
  rs->graphs = gavel__arena_alloc(l.a, (size_t)rs->n_graphs * sizeof(gv_graph));
  if (!rs->graphs || !rs->name) {
    ERR(&l, "out of memory");
    goto done;
  }
  memset(rs->graphs, 0, (size_t)rs->n_graphs * sizeof(gv_graph));
  for (gi = 0; gi < rs->n_graphs; gi++) {
    gavel__symtab_init(&rs->graphs[gi].st, l.a);
    gavel__jit_attach(rs->jit, &rs->graphs[gi].st);
  }
  /* Main graph. */
  entry = cfg ? get_str(&l, cfg->tag == GV_OBJ ? *cfg : gv_null(), "entry_step",
                        0, "start")
              : lstr(l.a, "start");
  rs->graphs[0].name = lstr(l.a, "");
  if (expect_obj(&l, steps, "steps")) {
    size_t o = push_key(&l, "steps");
    load_graph(&l, &rs->graphs[0], *steps, entry);
    pop(&l, o);
    if (rs->graphs[0].entry < 0) {
      size_t o2 = push_key(&l, "config.entry_step");
      ERR(&l, "Entry step '%s' not found (Step not found: %s)", entry->s,
          entry->s);
      pop(&l, o2);
    }
  }
  /* Sub-rule graphs. */
  for (gi = 1; gi < rs->n_graphs; gi++) {
    gvalue sv = l.sub_rules.u.o->vals[gi - 1];
    gv_graph *g = &rs->graphs[gi];
    size_t o = push(&l, "sub_rules.%s", l.sub_rules.u.o->keys[gi - 1]->s);
    g->name = l.sub_rules.u.o->keys[gi - 1];
    if (sv.tag != GV_OBJ) {
      ERR(&l, "expected a sub-rule object, got %s", gavel__type_name(gv_typeof(sv)));
    } else {
      gv_str *e = get_str(&l, sv, "entry_step", 1, NULL);
      gvalue *ss = get(sv, "steps");
      check_fields(&l, sv, f_sub);
      if (expect_obj(&l, ss, "steps")) {
        size_t o2 = push_key(&l, "steps");
        load_graph(&l, g, *ss, e);
        pop(&l, o2);
        if (g->entry < 0 && get(sv, "entry_step") &&
            get(sv, "entry_step")->tag == GV_STR) { /* "" too */
          size_t o3 = push_key(&l, "entry_step");
          ERR(&l, "Entry step '%s' not found in sub-rule '%s' (Step not "
                  "found: %s)",
              e->s, g->name->s, e->s);
          pop(&l, o3);
        }
      }
    }
    pop(&l, o);
  }
  /* Sub-rule outputs: child variable indices, now that children exist.
  ** Step i of a graph was loaded from entry i of its steps object (a
  ** lookup by key would stop at a NUL in the key and leave index -1). */
  for (gi = 0; gi < rs->n_graphs; gi++) {
    gv_graph *g = &rs->graphs[gi];
    gvalue *so = gi == 0 ? steps : get(l.sub_rules.u.o->vals[gi - 1], "steps");
    for (i = 0; i < g->n_steps; i++) {
      gv_step *s = &g->steps[i];
      gvalue *ov;
      int k;
      if (s->type != ST_SUBRULE || s->sub < 0 || !s->n_outmaps)
        continue;
      if (GAVEL_NEVER(!so || so->tag != GV_OBJ ||
                      (uint32_t)i >= so->u.o->len ||
                      !(ov = get(so->u.o->vals[i], "outputs")))) {
        ERR(&l, "internal error: sub-rule outputs of step '%s' lost",
            s->key->s);
        continue;
      }
      for (k = 0; k < s->n_outmaps; k++) {
        gvalue cv = ov->u.a->items[k].u.a->items[1];
        if (cv.tag == GV_STR)
          s->out_child[k] = var_index(&l, &rs->graphs[s->sub].st, cv.u.s);
        else
          s->out_child[k] = 0;
      }
    }
  }
  color = gavel__arena_alloc(l.a, (size_t)rs->n_graphs * 4 * sizeof(int));
  if (color) {
    stack = color + rs->n_graphs;
    memset(color, 0, (size_t)rs->n_graphs * sizeof(int));
    for (gi = 0; gi < rs->n_graphs; gi++)
      if (color[gi] == 0 &&
          sub_cycle(&l, gi, color, stack, stack + rs->n_graphs,
                    stack + 2 * rs->n_graphs))
        break;
  }
  for (gi = 0; gi < rs->n_graphs; gi++) {
    int ok;
    gv_graph *g = &rs->graphs[gi];
    for (i = 0; i < g->n_steps; i++)
      static_result(&l, &g->steps[i]);
    analyse_graph(&l, &rs->graphs[gi], gi == 0 ? rs->max_depth : 0);
    rs->graphs[gi].proj = gavel__bind_projection(l.a, &rs->graphs[gi].st, &ok);
    if (!ok)
      ERR(&l, "out of memory");
  }
  /* metric actions use metrics.prometheus only where it is granted (and
  ** declared, when the ruleset declares); otherwise the metric sink. */
  rs->metrics_granted = 1;
  if (opts && opts->grants) {
    size_t k;
    rs->metrics_granted = 0;
    for (k = 0; k < opts->n_grants; k++)
      if (!strcmp(opts->grants[k], "metrics.prometheus"))
        rs->metrics_granted = 1;
  }
  if (l.declared_caps.tag == GV_ARR) {
    uint32_t k;
    int found = 0;
    for (k = 0; k < l.declared_caps.u.a->len; k++)
      if (l.declared_caps.u.a->items[k].tag == GV_STR &&
          gavel__str_eqn(l.declared_caps.u.a->items[k].u.s,
                         "metrics.prometheus", 18))
        found = 1;
    rs->metrics_granted = rs->metrics_granted && found;
  }
  if (opts && opts->http_allow && opts->n_http_allow) {
    char **al = gavel__arena_alloc(l.a, opts->n_http_allow * sizeof(char *));
    size_t k;
    if (al) {
      for (k = 0; k < opts->n_http_allow; k++)
        al[k] = gavel__arena_dup(l.a, opts->http_allow[k],
                                 strlen(opts->http_allow[k]) + 1);
      rs->http_allow = (const char *const *)al;
      rs->n_http_allow = opts->n_http_allow;
    }
  }
  if (l.a->failed)
    ERR(&l, "out of memory while loading");
done:
  if (l.n_errors) {
    gavel__jit_free(rs->jit);
    gavel__arena_free(&rs->arena);
    gavel__free(&rt->al, rs, sizeof *rs);
    return l.first == GAVEL_OK ? GAVEL_LOAD : l.first;
  }
  gavel__jit_loaded(rs->jit); /* jit=on: every program, one mapping */
  *out = rs;
  return GAVEL_OK;
}

/* ==== Public entry points ==== */

/* A failure found outside gavel__load (which reports its own problems as
** it finds them) goes to opts->diag too: a caller that lists diagnostics,
** like 'gavel check', must never see a failed load with none. */
static gavel_status load_failed(const gavel_load_opts *opts, gavel_error *e,
                                gavel_status st) {
  if (opts && opts->diag)
    opts->diag(opts->diag_ud, GAVEL_DIAG_ERROR, e);
  return st;
}

gavel_status gavel_ruleset_load(gavel_runtime *rt, const char *json,
                                size_t json_len, const gavel_load_opts *opts,
                                gavel_ruleset **out, gavel_error *err) {
  gv_arena tmp;
  gvalue doc;
  gavel_status st;
  gavel_error local;
  gavel_error *e = err ? err : &local; /* diag needs the error either way */
  gv_arena *keep;
  gavel__error_clear(e);
  if (out)
    *out = NULL;
  if (!rt || !json || !out)
    return load_failed(opts, e,
                       gavel__errorf(e, GAVEL_MISUSE,
                                     "gavel_ruleset_load: NULL argument"));
  if (json_len > rt->cfg.max_input_bytes)
    return load_failed(opts, e,
                       gavel__errorf(e, GAVEL_LIMIT,
                                     "ruleset too large: %zu bytes (max %zu, "
                                     "the runtime's max_input_bytes)",
                                     json_len, rt->cfg.max_input_bytes));
  /* Parse into the ruleset's future arena would keep the whole document;
  ** parse into a scratch arena and keep only what the ruleset uses. */
  gavel__arena_init(&tmp, &rt->al, 0);
  st = gavel__json_parse(&tmp, json, json_len, NULL, &doc, e);
  if (st != GAVEL_OK) {
    gavel__arena_free(&tmp);
    return load_failed(opts, e, st);
  }
  st = gavel__load(rt, doc, opts, out, e); /* reports to diag itself */
  if (st != GAVEL_OK) {
    gavel__arena_free(&tmp);
    return st;
  }
  /* The loaded structures point into 'tmp' (names, literals): keep it
  ** alive by moving its chunks into the ruleset arena's lifetime. */
  (*out)->json = NULL;
  if (!(keep = gavel__arena_alloc(&(*out)->arena, sizeof *keep))) {
    gavel_ruleset_free(*out);
    *out = NULL;
    gavel__arena_free(&tmp);
    return load_failed(opts, e,
                       gavel__errorf(e, GAVEL_NOMEM, "out of memory"));
  }
  *keep = tmp;
  (*out)->doc_arena = keep;
  return GAVEL_OK;
}

void gavel_ruleset_free(gavel_ruleset *rs) {
  gavel__alloc al;
  if (!rs)
    return;
  al = rs->rt->al;
  gavel__jit_free(rs->jit); /* its machine code first */
  if (rs->doc_arena)
    gavel__arena_free(rs->doc_arena);
  gavel__arena_free(&rs->arena);
  gavel__free(&al, rs, sizeof *rs);
}

const char *gavel_ruleset_name(const gavel_ruleset *rs) {
  return rs && rs->name ? rs->name->s : "";
}
