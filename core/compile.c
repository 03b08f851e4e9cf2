/*
** compile.c -- stage 2b of 5: expression AST -> register bytecode.
**
** Input: a gx_node tree from parse.c / ast_json.c.  Output: a gv_program
** whose code, constants and paths live in the caller's arena.  Passes:
** constant folding (through ops.c and pure builtins, so folded and run-time
** results are the same code), then destination-driven code generation:
** every expression is compiled into a named register, conditions into
** fused compare-and-branch jumps, and 'input op const' into one
** superinstruction.  Input paths become slots and '$variables' variable
** indices through the shared gv_symtab.
** This file never executes a program and never touches JSON or Lua.
*/
#include "compile.h"
#include "ops.h"
#include <stdio.h>

/* ==== Symbol table ==== */

void gavel__symtab_init(gv_symtab *st, gv_arena *a) {
  memset(st, 0, sizeof *st);
  st->arena = a;
}

static int grow(gv_arena *a, void **arr, uint32_t n, uint32_t *cap,
                size_t elsz) {
  void *na;
  uint32_t ncap;
  if (n < *cap)
    return 1;
  ncap = *cap ? *cap * 2 : 8;
  na = gavel__arena_alloc(a, ncap * elsz);
  if (!na)
    return 0;
  if (n)
    memcpy(na, *arr, n * elsz);
  *arr = na;
  *cap = ncap;
  return 1;
}

/* Finds 'key' in an open-addressing index over 'names' (entry = index + 1);
** returns the index or -1, and the free bucket in *slot. */
static int hfind(const uint32_t *h, uint32_t hcap, gv_str *const *names,
                 gv_str *key, uint32_t *slot) {
  uint32_t m = hcap - 1, i = gavel__str_hash(key) & m;
  while (h[i]) {
    if (gavel__str_eq(names[h[i] - 1], key))
      return (int)(h[i] - 1);
    i = (i + 1) & m;
  }
  *slot = i;
  return -1;
}

/* Grows the index to keep the load under 1/2; 0 on arena failure. */
static int hgrow(gv_arena *a, uint32_t **h, uint32_t *hcap, gv_str *const *names,
                 uint32_t n) {
  uint32_t ncap = *hcap ? *hcap : 16, i, slot;
  uint32_t *nh;
  if (*hcap && (n + 1) * 2 <= *hcap)
    return 1;
  while ((n + 1) * 2 > ncap)
    ncap *= 2;
  nh = gavel__arena_alloc(a, ncap * sizeof(uint32_t));
  if (!nh)
    return 0;
  memset(nh, 0, ncap * sizeof(uint32_t));
  for (i = 0; i < n; i++) {
    hfind(nh, ncap, names, names[i], &slot);
    nh[slot] = i + 1;
  }
  *h = nh;
  *hcap = ncap;
  return 1;
}

/* The input slots index by path text; inputs[i]->text is the key. */
static gv_str *input_key(const gv_symtab *st, uint32_t i) {
  return st->inputs[i]->text;
}

int gavel__symtab_input(gv_symtab *st, gx_path *p) {
  uint32_t m, i;
  if (st->hcap_in) {
    m = st->hcap_in - 1;
    i = gavel__str_hash(p->text) & m;
    while (st->in_hash[i]) {
      if (gavel__str_eq(input_key(st, st->in_hash[i] - 1), p->text))
        return (int)(st->in_hash[i] - 1);
      i = (i + 1) & m;
    }
  }
  if (!grow(st->arena, (void **)&st->inputs, st->n_inputs, &st->cap_inputs,
            sizeof(gx_path *)))
    return -1;
  st->inputs[st->n_inputs] = p;
  if (p->n_segs == 0)
    st->needs_root = 1;
  st->n_inputs++;
  if ((st->n_inputs + 1) * 2 > st->hcap_in) { /* rebuild, larger */
    uint32_t ncap = st->hcap_in ? st->hcap_in * 2 : 16, k;
    uint32_t *nh = gavel__arena_alloc(st->arena, ncap * sizeof(uint32_t));
    if (!nh)
      return -1;
    memset(nh, 0, ncap * sizeof(uint32_t));
    for (k = 0; k < st->n_inputs; k++) {
      i = gavel__str_hash(input_key(st, k)) & (ncap - 1);
      while (nh[i])
        i = (i + 1) & (ncap - 1);
      nh[i] = k + 1;
    }
    st->in_hash = nh;
    st->hcap_in = ncap;
  } else {
    i = gavel__str_hash(p->text) & (st->hcap_in - 1);
    while (st->in_hash[i])
      i = (i + 1) & (st->hcap_in - 1);
    st->in_hash[i] = st->n_inputs;
  }
  return (int)st->n_inputs - 1;
}

int gavel__symtab_var(gv_symtab *st, const char *name, size_t len) {
  gv_str *s = gavel__str_new(st->arena, name, len);
  uint32_t slot;
  int found;
  if (!s)
    return -1;
  if (st->hcap_var &&
      (found = hfind(st->var_hash, st->hcap_var, st->vars, s, &slot)) >= 0)
    return found;
  if (!grow(st->arena, (void **)&st->vars, st->n_vars, &st->cap_vars,
            sizeof(gv_str *)))
    return -1;
  st->vars[st->n_vars] = s;
  if (!hgrow(st->arena, &st->var_hash, &st->hcap_var, st->vars, st->n_vars))
    return -1;
  hfind(st->var_hash, st->hcap_var, st->vars, s, &slot);
  st->var_hash[slot] = st->n_vars + 1;
  return (int)st->n_vars++;
}

/* ==== Compiler state ==== */

#define NO_JUMP (-1)

typedef struct C {
  gv_arena *a;          /* program arena                             */
  gv_symtab *st;        /* shared symbol table                       */
  const gv_copts *opts; /* options                                   */
  gavel_error *err;     /* where errors go                           */
  gavel_status status;  /* first failure                             */
  gv_ins *code;         /* code being built (allocator memory)       */
  int32_t *pos;         /* source offset per word                    */
  int32_t *link;        /* pending-jump chains, per word             */
  uint32_t n_code;      /* words emitted                             */
  uint32_t cap_code;    /* words allocated                           */
  gvalue *k;            /* constants                                 */
  uint32_t n_k;         /* constants used                            */
  uint32_t cap_k;       /* constants allocated                       */
  uint32_t *k_hash;     /* index of 'k' (index + 1), NULL while small */
  uint32_t hcap_k;      /* buckets in k_hash (power of two)          */
  gv_vpath *vp;         /* variable paths                            */
  uint32_t n_vp;        /* used                                      */
  uint32_t cap_vp;      /* allocated                                 */
  gv_handler *hs;       /* field-not-found handlers (closed order)    */
  uint32_t n_hs;        /* used                                      */
  uint32_t cap_hs;      /* allocated                                 */
  int freereg;          /* first free register                       */
  int maxreg;           /* high-water mark                           */
  int curpos;           /* source offset of the node being compiled  */
  uint32_t *sw;         /* comparisons emitted with operands swapped */
  uint32_t n_sw;        /* used                                      */
  uint32_t cap_sw;      /* allocated                                 */
} C;

static int fail(C *c, gavel_status st, gx_node *n, const char *fmt, ...)
    GAVEL_PRINTF(4, 5);
static int fail(C *c, gavel_status st, gx_node *n, const char *fmt, ...) {
  char msg[GAVEL_ERRMSG_SIZE];
  va_list ap;
  if (c->status != GAVEL_OK)
    return -1;
  c->status = st;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n && n->line > 0) {
    gavel__errorf(c->err, st, "%d:%d: %s", n->line, n->column, msg);
    if (c->err) {
      c->err->line = n->line;
      c->err->column = n->column;
    }
  } else {
    gavel__errorf(c->err, st, "%s", msg);
  }
  return -1;
}

static int nomem(C *c) {
  if (c->status == GAVEL_OK) {
    c->status = gavel__arena_status(c->a);
    gavel__errorf(c->err, c->status, "out of memory while compiling");
  }
  return -1;
}

/* ==== Emission ==== */

static int emit(C *c, gv_ins i) {
  if (c->n_code == c->cap_code) {
    uint32_t ncap = c->cap_code ? c->cap_code * 2 : 32;
    gv_ins *nc = gavel__arena_alloc(c->a, ncap * sizeof(gv_ins));
    int32_t *np = gavel__arena_alloc(c->a, ncap * sizeof(int32_t));
    int32_t *nl = gavel__arena_alloc(c->a, ncap * sizeof(int32_t));
    if (!nc || !np || !nl)
      return nomem(c);
    if (c->n_code) {
      memcpy(nc, c->code, c->n_code * sizeof(gv_ins));
      memcpy(np, c->pos, c->n_code * sizeof(int32_t));
      memcpy(nl, c->link, c->n_code * sizeof(int32_t));
    }
    c->code = nc;
    c->pos = np;
    c->link = nl;
    c->cap_code = ncap;
  }
  c->pos[c->n_code] = c->curpos;
  c->link[c->n_code] = NO_JUMP;
  c->code[c->n_code] = i;
  return (int)c->n_code++;
}

static int emit_abc(C *c, int op, int a, int b, int cc) {
  return emit(c, MK_ABC(op, a, b, cc));
}

static int emit_abx(C *c, int op, int a, int bx) {
  return emit(c, MK_ABx(op, a, bx));
}

/* ==== Jump lists (chained through c->link, as Lua's patch lists) ==== */

static void concat(C *c, int *list, int pc) {
  int l;
  if (pc == NO_JUMP)
    return;
  if (*list == NO_JUMP) {
    *list = pc;
    return;
  }
  l = *list;
  while (c->link[l] != NO_JUMP)
    l = c->link[l];
  c->link[l] = pc;
}

static int set_target(C *c, int pc, int target) {
  int op = GET_OP(c->code[pc]);
  if (gavel__op_fmt[op] == ABCJ) {
    c->code[pc + 1] = (gv_ins)(int32_t)(target - (pc + 2));
  } else {
    int off = target - (pc + 1);
    if (off < INT16_MIN || off > INT16_MAX)
      return fail(c, GAVEL_LIMIT, NULL, "expression too large: jump out of range");
    c->code[pc] = MK_AsBx(op, GET_A(c->code[pc]), off);
  }
  return 0;
}

static void patch_here(C *c, int list) {
  while (list != NO_JUMP) {
    int next = c->link[list];
    set_target(c, list, (int)c->n_code);
    list = next;
  }
}

static int emit_jump(C *c, int op, int a) {
  return emit(c, MK_AsBx(op, a, 0));
}

/* Fused compare-and-branch: two words, the second the 32-bit offset. */
static int emit_jcmp(C *c, int op, int a, int b, int sense) {
  int pc = emit_abc(c, op, a, b, sense);
  if (pc < 0 || emit(c, 0) < 0)
    return -1;
  return pc;
}

/* Records that the comparison at 'pc' runs with its operands swapped
** ('18 < age' as 'age > 18'), so that its error names them in source
** order.  Returns pc, or -1. */
static int mark_swapped(C *c, int pc) {
  if (pc < 0)
    return -1;
  if (c->n_sw == c->cap_sw) {
    uint32_t ncap = c->cap_sw ? c->cap_sw * 2 : 8;
    uint32_t *n = gavel__arena_alloc(c->a, ncap * sizeof *n);
    if (!n)
      return nomem(c);
    if (c->n_sw)
      memcpy(n, c->sw, c->n_sw * sizeof *n);
    c->sw = n;
    c->cap_sw = ncap;
  }
  c->sw[c->n_sw++] = (uint32_t)pc;
  return pc;
}

/* ==== Field-not-found handlers ==== */

/* A handler region [start, now) closes: it is appended, so regions are
** listed in closing order, which puts inner regions before the ones that
** contain them (the VM takes the first match).  Returns its index. */
static int handler_close(C *c, uint32_t start) {
  if (!grow(c->a, (void **)&c->hs, c->n_hs, &c->cap_hs, sizeof(gv_handler)))
    return nomem(c);
  c->hs[c->n_hs].start = start;
  c->hs[c->n_hs].end = c->n_code;
  c->hs[c->n_hs].target = 0;
  return (int)c->n_hs++;
}

/* Resumes handler 'h' at the current pc. */
static void handler_target_here(C *c, int h) {
  c->hs[h].target = c->n_code;
}

/* ==== Registers and constants ==== */

static int alloc_reg(C *c) {
  int r = c->freereg++;
  if (r >= GAVEL_MAX_REGS)
    return fail(c, GAVEL_LIMIT, NULL,
                "expression too complex: more than %d registers",
                GAVEL_MAX_REGS);
  if (c->freereg > c->maxreg)
    c->maxreg = c->freereg;
  return r;
}

static int same_const(gvalue a, gvalue b) {
  if (a.tag != b.tag)
    return 0;
  if (a.tag == GV_FLOAT) /* bitwise: keeps -0.0 and 0.0 apart */
    return memcmp(&a.u.f, &b.u.f, sizeof(double)) == 0;
  if (a.tag == GV_ARR || a.tag == GV_OBJ)
    return a.u.p == b.u.p;
  return gavel__value_eq(a, b);
}

/* Hash consistent with same_const: equal constants hash alike. */
static uint32_t const_hash(gvalue v) {
  uint64_t x;
  switch (v.tag) {
  case GV_STR:
    return gavel__str_hash(v.u.s);
  case GV_FLOAT:
    memcpy(&x, &v.u.f, sizeof x);
    break;
  case GV_ARR:
  case GV_OBJ:
    x = (uint64_t)(uintptr_t)v.u.p;
    break;
  case GV_BOOL:
  case GV_INT:
    x = (uint64_t)v.u.i;
    break;
  default:
    x = 0;
    break;
  }
  x ^= (uint64_t)v.tag << 56;
  return (uint32_t)gavel__hash_bytes((const char *)&x, sizeof x); /* seeded */
}

/* Finds 'v' in the constant index; -1 with the free bucket in *slot. */
static int kfind(const C *c, gvalue v, uint32_t *slot) {
  uint32_t m = c->hcap_k - 1, i = const_hash(v) & m;
  while (c->k_hash[i]) {
    if (same_const(c->k[c->k_hash[i] - 1], v))
      return (int)(c->k_hash[i] - 1);
    i = (i + 1) & m;
  }
  *slot = i;
  return -1;
}

/* (Re)builds the constant index over the whole pool, at most a quarter
** full so that rebuilds stay geometric.  0 on arena failure. */
static int kindex(C *c) {
  uint32_t ncap = 64, i, slot;
  while (c->n_k * 4 > ncap)
    ncap *= 2;
  if (!(c->k_hash = gavel__arena_alloc(c->a, ncap * sizeof(uint32_t))))
    return 0;
  memset(c->k_hash, 0, ncap * sizeof(uint32_t));
  c->hcap_k = ncap;
  for (i = 0; i < c->n_k; i++)
    if (kfind(c, c->k[i], &slot) < 0)
      c->k_hash[slot] = i + 1;
  return 1;
}

/* Index of constant 'v', added if new.  Small pools are searched linearly
** (no index to allocate for the typical expression); past KHASH_MIN
** constants an open-addressing index keeps loading linear: with the
** linear search alone, a decision of 100,000 branches (one RETK constant
** each) took 25 s of CPU to load, now 0.5 s. */
#define KHASH_MIN 16
static int addk(C *c, gvalue v) {
  uint32_t i, slot = 0;
  if (c->k_hash) {
    int found = kfind(c, v, &slot);
    if (found >= 0)
      return found;
  } else {
    for (i = 0; i < c->n_k; i++)
      if (same_const(c->k[i], v))
        return (int)i;
  }
  if (c->n_k >= GAVEL_MAX_CONSTS)
    return fail(c, GAVEL_LIMIT, NULL,
                "expression too large: more than %d constants",
                GAVEL_MAX_CONSTS);
  if (!grow(c->a, (void **)&c->k, c->n_k, &c->cap_k, sizeof(gvalue)))
    return nomem(c);
  c->k[c->n_k++] = v;
  if (c->k_hash && c->n_k * 2 <= c->hcap_k)
    c->k_hash[slot] = c->n_k; /* 'slot' is still the free bucket */
  else if (c->n_k >= KHASH_MIN && !kindex(c))
    return nomem(c);
  return (int)c->n_k - 1;
}

static int addk_cstr(C *c, const char *s) {
  gv_str *str = gavel__str_cstr(c->a, s);
  if (!str)
    return nomem(c);
  return addk(c, gv_strv(str));
}

/* ==== Constant folding ==== */

static int is_lit(const gx_node *n) { return n && n->kind == GX_LIT; }

static gx_node *mk_lit(C *c, gx_node *like, gvalue v) {
  gx_node *n = gavel__arena_alloc(c->a, sizeof *n);
  if (!n) {
    nomem(c);
    return like;
  }
  *n = *like;
  n->kind = GX_LIT;
  n->lit = v;
  return n;
}

static void fold_rt(C *c, gv_rt *rt) {
  memset(rt, 0, sizeof *rt);
  rt->arena = c->a;
  rt->gas = 1000000; /* folding is bounded work on literals */
}

static gx_node *fold(C *c, gx_node *n);

static gx_node *fold_binary(C *c, gx_node *n) {
  gv_rt rt;
  gvalue a = n->a->lit, b = n->b->lit, out;
  int r;
  fold_rt(c, &rt);
  switch (n->op) {
  case GX_AND:
    return mk_lit(c, n, gv_bool(gavel__truthy(a) && gavel__truthy(b)));
  case GX_OR:
    return mk_lit(c, n, gv_bool(gavel__truthy(a) || gavel__truthy(b)));
  case GX_ADD: case GX_SUB: case GX_MUL: case GX_DIV: case GX_MOD:
    if (gavel__op_arith(&rt, (gv_arop)(n->op - GX_ADD), a, b, &out))
      return n; /* leave the error to run time */
    return mk_lit(c, n, out);
  case GX_EQ: case GX_NE: case GX_LT: case GX_LE: case GX_GT: case GX_GE:
    if (gavel__op_compare(&rt, (gv_cmpop)(n->op - GX_EQ), a, b, &r))
      return n;
    return mk_lit(c, n, gv_bool(r));
  case GX_IN: case GX_NOTIN:
    if (gavel__op_in(&rt, a, b, &r))
      return n;
    return mk_lit(c, n, gv_bool(n->op == GX_IN ? r : !r));
  case GX_CONTAINS:
    if (gavel__op_in(&rt, b, a, &r))
      return n;
    return mk_lit(c, n, gv_bool(r));
  default:
    return n;
  }
}

static gx_node *fold_call(C *c, gx_node *n) {
  const gv_builtin *bi = gavel__builtin_find(n->name->s, n->name->len);
  gvalue args[16], out;
  gv_rt rt;
  int i;
  if (!bi || !bi->pure || n->n_args > 16 || n->n_args < bi->min_args ||
      (bi->max_args >= 0 && n->n_args > bi->max_args))
    return n;
  for (i = 0; i < n->n_args; i++) {
    if (!is_lit(n->args[i]))
      return n;
    args[i] = n->args[i]->lit;
  }
  fold_rt(c, &rt);
  rt.fn_name = bi->name;
  if (bi->fn(&rt, &out, args, n->n_args) != 0)
    return n;
  return mk_lit(c, n, out);
}

static gx_node *fold_list(C *c, gx_node *n) {
  int i;
  gv_arr *arr;
  gv_obj *o;
  for (i = 0; i < n->n_args; i++)
    if (!is_lit(n->args[i]))
      return n;
  if (n->kind == GX_ARRAY) {
    arr = gavel__arr_new(c->a, (uint32_t)n->n_args);
    if (!arr)
      return nomem(c), n;
    for (i = 0; i < n->n_args; i++)
      arr->items[i] = n->args[i]->lit;
    arr->len = (uint32_t)n->n_args;
    gavel__arr_seal(arr); /* a folded literal carries its true depth */
    return mk_lit(c, n, gv_arrv(arr));
  }
  o = gavel__obj_new(c->a, (uint32_t)n->n_args);
  if (!o)
    return nomem(c), n;
  for (i = 0; i < n->n_args; i++)
    if (!gavel__obj_set(c->a, o, n->keys[i], n->args[i]->lit))
      return nomem(c), n;
  return mk_lit(c, n, gv_objv(o));
}

static gx_node *fold(C *c, gx_node *n) {
  int i;
  switch (n->kind) {
  case GX_UNARY:
    n->a = fold(c, n->a);
    if (is_lit(n->a)) {
      gv_rt rt;
      gvalue out;
      if (n->op == GX_NOT)
        return mk_lit(c, n, gv_bool(!gavel__truthy(n->a->lit)));
      fold_rt(c, &rt);
      if (gavel__op_neg(&rt, n->a->lit, &out) == 0)
        return mk_lit(c, n, out);
    }
    return n;
  case GX_BINARY:
    n->a = fold(c, n->a);
    n->b = fold(c, n->b);
    /* Short circuits decided by a literal left side. */
    if (is_lit(n->a) && n->op == GX_AND && !gavel__truthy(n->a->lit))
      return mk_lit(c, n, gv_bool(0));
    if (is_lit(n->a) && n->op == GX_OR && gavel__truthy(n->a->lit))
      return mk_lit(c, n, gv_bool(1));
    if (is_lit(n->a) && is_lit(n->b))
      return fold_binary(c, n);
    return n;
  case GX_COND:
    n->a = fold(c, n->a);
    n->b = fold(c, n->b);
    n->c = fold(c, n->c);
    if (is_lit(n->a))
      return gavel__truthy(n->a->lit) ? n->b : n->c;
    return n;
  case GX_CALL:
  case GX_ARRAY:
  case GX_OBJECT:
  case GX_COALESCE:
    for (i = 0; i < n->n_args; i++)
      n->args[i] = fold(c, n->args[i]);
    if (n->kind == GX_CALL)
      return fold_call(c, n);
    if (n->kind == GX_COALESCE) {
      /* Literals never raise: drop leading nulls, stop at a non-null. */
      while (n->n_args > 0 && is_lit(n->args[0]) &&
             n->args[0]->lit.tag == GV_NULL) {
        n->args++;
        n->n_args--;
      }
      if (n->n_args == 0)
        return mk_lit(c, n, gv_null());
      if (is_lit(n->args[0]))
        return n->args[0];
      return n;
    }
    return fold_list(c, n);
  default:
    return n;
  }
}

/* ==== Paths ==== */

typedef enum { REF_SLOT, REF_VAR, REF_ITEM } refkind;

/* Resolves a path to an input slot, a variable path, or the (never bound)
** iteration item.  Returns the index, or -1 on failure. */
static int resolve(C *c, gx_path *p, refkind *kind) {
  if (p->is_var) {
    gv_vpath *vp;
    int v = gavel__symtab_var(c->st, p->root->s, p->root->len);
    if (v < 0)
      return nomem(c);
    if (!grow(c->a, (void **)&c->vp, c->n_vp, &c->cap_vp, sizeof(gv_vpath)))
      return nomem(c);
    vp = &c->vp[c->n_vp];
    vp->var = (uint32_t)v;
    vp->segs = p->segs;
    vp->n_segs = p->n_segs;
    vp->text = p->text;
    *kind = REF_VAR;
    return (int)c->n_vp++;
  }
  if (p->n_segs > 0 && p->segs[0].kind == GX_SEG_KEY &&
      gavel__str_eqn(p->segs[0].key, "item", 4)) {
    *kind = REF_ITEM; /* Ordo's batch iteration item: never bound here */
    return 0;
  }
  if (p->n_segs > 1 && p->segs[0].kind == GX_SEG_KEY &&
      gavel__str_eqn(p->segs[0].key, "data", 4)) {
    /* Ordo strips a leading 'data.' and reads from the input root. */
    gx_path *q = gavel__arena_alloc(c->a, sizeof *q);
    if (!q)
      return nomem(c);
    *q = *p;
    q->segs = p->segs + 1;
    q->n_segs = p->n_segs - 1;
    p = q;
  }
  *kind = REF_SLOT;
  {
    int s = gavel__symtab_input(c->st, p);
    if (s < 0)
      return nomem(c);
    return s;
  }
}

/* Slot index when 'n' is a plain input path, else -1. */
static int as_slot(C *c, gx_node *n) {
  refkind k;
  int idx;
  if (n->kind != GX_PATH || n->path->is_var)
    return -1;
  idx = resolve(c, n->path, &k);
  return (idx >= 0 && k == REF_SLOT) ? idx : -1;
}

static int fail_notfound(C *c, gv_str *text) {
  char buf[GAVEL_ERRMSG_SIZE];
  int k;
  snprintf(buf, sizeof buf, "Field not found: %s", text->s);
  k = addk_cstr(c, buf);
  if (k < 0)
    return -1;
  return emit_abx(c, OP_FAIL, GV_E_NOTFOUND, k) < 0 ? -1 : 0;
}

/* ==== Expressions ==== */

static int cexpr(C *c, gx_node *n, int dst);
static int cjump(C *c, gx_node *n, int sense, int *list);

static int produces_bool(const gx_node *n) {
  if (n->kind == GX_LIT)
    return n->lit.tag == GV_BOOL;
  if (n->kind == GX_EXISTS)
    return 1;
  if (n->kind == GX_UNARY)
    return n->op == GX_NOT;
  if (n->kind == GX_BINARY)
    return n->op >= GX_EQ && n->op <= GX_CONTAINS;
  return 0;
}

static int cexpr_bool(C *c, gx_node *n, int dst) {
  if (cexpr(c, n, dst) < 0)
    return -1;
  if (!produces_bool(n) && emit_abc(c, OP_TOBOOL, dst, dst, 0) < 0)
    return -1;
  return 0;
}

static int clit(C *c, gvalue v, int dst) {
  int k;
  if (v.tag == GV_NULL)
    return emit_abc(c, OP_LOADNULL, dst, 0, 0) < 0 ? -1 : 0;
  if (v.tag == GV_BOOL)
    return emit_abc(c, OP_LOADBOOL, dst, (int)v.u.i, 0) < 0 ? -1 : 0;
  if ((k = addk(c, v)) < 0)
    return -1;
  return emit_abx(c, OP_LOADK, dst, k) < 0 ? -1 : 0;
}

static int cpath(C *c, gx_path *p, int dst) {
  refkind kind;
  int idx = resolve(c, p, &kind);
  if (idx < 0)
    return -1;
  if (kind == REF_ITEM)
    return fail_notfound(c, p->text);
  if (idx > 0xffff)
    return fail(c, GAVEL_LIMIT, NULL, "too many distinct paths (max 65535)");
  return emit_abx(c, kind == REF_SLOT ? OP_LOADS : OP_LOADV, dst, idx) < 0
             ? -1
             : 0;
}

static int cexists(C *c, gx_path *p, int dst) {
  refkind kind;
  int idx = resolve(c, p, &kind);
  if (idx < 0)
    return -1;
  if (kind == REF_ITEM)
    return emit_abc(c, OP_LOADBOOL, dst, 0, 0) < 0 ? -1 : 0;
  if (idx > 0xffff)
    return fail(c, GAVEL_LIMIT, NULL, "too many distinct paths (max 65535)");
  return emit_abx(c, kind == REF_SLOT ? OP_EXISTSS : OP_EXISTSV, dst, idx) < 0
             ? -1
             : 0;
}

/* Comparison operator with swapped operands ('18 < age' -> 'age > 18'). */
static gx_op swap_cmp(gx_op op) {
  switch (op) {
  case GX_LT: return GX_GT;
  case GX_LE: return GX_GE;
  case GX_GT: return GX_LT;
  case GX_GE: return GX_LE;
  default: return op;
  }
}

static int is_scalar_lit(const gx_node *n) {
  return is_lit(n) && n->lit.tag != GV_ARR && n->lit.tag != GV_OBJ;
}

static int ccompare(C *c, gx_node *n, int dst) {
  gx_node *l = n->a, *r = n->b;
  gx_op op = n->op;
  int slot, k, t, sw = 0, pc;
  if (is_lit(l) && !is_lit(r)) { /* constants never raise: swap freely */
    gx_node *tmp = l;
    l = r;
    r = tmp;
    op = swap_cmp(op);
    sw = op != GX_EQ && op != GX_NE; /* only ordering can fail */
  }
  if (is_lit(r)) {
    if ((k = addk(c, r->lit)) < 0)
      return -1;
    if (k < 256) {
      slot = as_slot(c, l);
      if (slot >= 0 && slot < 256)
        pc = emit_abc(c, OP_EQSK + (op - GX_EQ), dst, slot, k);
      else if (cexpr(c, l, dst) < 0)
        return -1;
      else
        pc = emit_abc(c, OP_EQK + (op - GX_EQ), dst, dst, k);
      return (sw ? mark_swapped(c, pc) : pc) < 0 ? -1 : 0;
    }
  }
  if (cexpr(c, l, dst) < 0 || (t = alloc_reg(c)) < 0 || cexpr(c, r, t) < 0)
    return -1;
  c->freereg--;
  pc = emit_abc(c, OP_EQ + (op - GX_EQ), dst, dst, t);
  return (sw ? mark_swapped(c, pc) : pc) < 0 ? -1 : 0;
}

static int carith(C *c, gx_node *n, int dst) {
  int t, k, slot, aop = n->op - GX_ADD;
  if (is_lit(n->b) && (k = addk(c, n->b->lit)) >= 0 && k < 256) {
    if (n->op == GX_MUL && (slot = as_slot(c, n->a)) >= 0 && slot < 256)
      return emit_abc(c, OP_MULSK, dst, slot, k) < 0 ? -1 : 0;
    if (cexpr(c, n->a, dst) < 0)
      return -1;
    return emit_abc(c, OP_ADDK + aop, dst, dst, k) < 0 ? -1 : 0;
  }
  if (c->status)
    return -1;
  if (cexpr(c, n->a, dst) < 0 || (t = alloc_reg(c)) < 0 || cexpr(c, n->b, t) < 0)
    return -1;
  c->freereg--;
  return emit_abc(c, OP_ADD + aop, dst, dst, t) < 0 ? -1 : 0;
}

static int cin(C *c, gx_node *n, int dst) {
  gx_node *v = n->a, *coll = n->b;
  int t, k, slot;
  if (n->op == GX_CONTAINS) { /* 'a contains b' is 'b in a', a first */
    if (cexpr(c, n->a, dst) < 0 || (t = alloc_reg(c)) < 0 ||
        cexpr(c, n->b, t) < 0)
      return -1;
    c->freereg--;
    return emit_abc(c, OP_IN, dst, t, dst) < 0 ? -1 : 0;
  }
  if (is_lit(coll) && (k = addk(c, coll->lit)) >= 0 && k < 256) {
    slot = as_slot(c, v);
    if (slot >= 0 && slot < 256) {
      if (emit_abc(c, OP_INSK, dst, slot, k) < 0)
        return -1;
    } else if (cexpr(c, v, dst) < 0 || emit_abc(c, OP_INK, dst, dst, k) < 0)
      return -1;
  } else {
    if (c->status)
      return -1;
    if (cexpr(c, v, dst) < 0 || (t = alloc_reg(c)) < 0 ||
        cexpr(c, coll, t) < 0)
      return -1;
    c->freereg--;
    if (emit_abc(c, OP_IN, dst, dst, t) < 0)
      return -1;
  }
  if (n->op == GX_NOTIN && emit_abc(c, OP_NOT, dst, dst, 0) < 0)
    return -1;
  return 0;
}

/* '&&' / '||': short-circuit, always a bool (Ordo's interpreter). */
static int clogic(C *c, gx_node *n, int dst) {
  int list = NO_JUMP, end;
  int is_and = n->op == GX_AND;
  if (cjump(c, n->a, is_and ? 0 : 1, &list) < 0 || cexpr_bool(c, n->b, dst) < 0)
    return -1;
  if ((end = emit_jump(c, OP_JMP, 0)) < 0)
    return -1;
  patch_here(c, list);
  if (emit_abc(c, OP_LOADBOOL, dst, is_and ? 0 : 1, 0) < 0)
    return -1;
  patch_here(c, end);
  return c->status ? -1 : 0;
}

static int ccall(C *c, gx_node *n, int dst) {
  const gv_builtin *bi = gavel__builtin_find(n->name->s, n->name->len);
  char buf[GAVEL_ERRMSG_SIZE];
  int i, base, k, nreg = n->n_args ? n->n_args : 1, save = c->freereg;
  if (!bi || n->n_args < bi->min_args ||
      (bi->max_args >= 0 && n->n_args > bi->max_args)) {
    gv_ekind ek = bi ? GV_E_FUNCARG : GV_E_FUNCNF;
    if (!bi)
      snprintf(buf, sizeof buf, "Function not found: %s", n->name->s);
    else if (bi->min_args == bi->max_args)
      snprintf(buf, sizeof buf,
               "Function %s argument error: expected %d argument(s), got %d",
               bi->name, bi->min_args, n->n_args);
    else if (bi->max_args < 0) /* Ordo's texts: no count given */
      snprintf(buf, sizeof buf,
               "Function %s argument error: expected at least %d argument%s",
               bi->name, bi->min_args, bi->min_args == 1 ? "" : "s");
    else
      snprintf(buf, sizeof buf,
               "Function %s argument error: expected %d or %d arguments",
               bi->name, bi->min_args, bi->max_args);
    if (c->opts->strict_calls)
      return fail(c, GAVEL_COMPILE, n, "%s", buf);
    /* Ordo evaluates the arguments before it notices. */
    for (i = 0; i < n->n_args; i++)
      if (cexpr(c, n->args[i], dst) < 0)
        return -1;
    if ((k = addk_cstr(c, buf)) < 0)
      return -1;
    return emit_abx(c, OP_FAIL, ek, k) < 0 ? -1 : 0;
  }
  /* Arguments go to consecutive fresh registers (the result replaces the
  ** first); reuse 'dst' as the base when it is the newest register. */
  if (dst == c->freereg - 1) {
    base = dst;
    nreg--;
  } else
    base = c->freereg;
  for (i = 0; i < nreg; i++)
    if (alloc_reg(c) < 0)
      return -1;
  for (i = 0; i < n->n_args; i++)
    if (cexpr(c, n->args[i], base + i) < 0)
      return -1;
  c->freereg = save;
  if (emit_abc(c, OP_CALL, base, gavel__builtin_index(bi), n->n_args) < 0)
    return -1;
  if (base != dst && emit_abc(c, OP_MOVE, dst, base, 0) < 0)
    return -1;
  return 0;
}

static int ccond(C *c, gx_node *n, int dst) {
  int list = NO_JUMP, end;
  if (cjump(c, n->a, 0, &list) < 0 || cexpr(c, n->b, dst) < 0)
    return -1;
  if ((end = emit_jump(c, OP_JMP, 0)) < 0)
    return -1;
  patch_here(c, list);
  if (cexpr(c, n->c, dst) < 0)
    return -1;
  patch_here(c, end);
  return c->status ? -1 : 0;
}

static int clist(C *c, gx_node *n, int dst) {
  int i, t, tk, k, cap = n->n_args > 255 ? 255 : n->n_args;
  int is_arr = n->kind == GX_ARRAY;
  if (emit_abc(c, is_arr ? OP_NEWARR : OP_NEWOBJ, dst, cap, 0) < 0)
    return -1;
  for (i = 0; i < n->n_args; i++) {
    if (is_arr) {
      if ((t = alloc_reg(c)) < 0 || cexpr(c, n->args[i], t) < 0 ||
          emit_abc(c, OP_APPEND, dst, t, 0) < 0)
        return -1;
      c->freereg--;
    } else {
      if ((tk = alloc_reg(c)) < 0 || (t = alloc_reg(c)) < 0 ||
          (k = addk(c, gv_strv(n->keys[i]))) < 0 ||
          emit_abx(c, OP_LOADK, tk, k) < 0 || cexpr(c, n->args[i], t) < 0 ||
          emit_abc(c, OP_SETKEY, dst, tk, t) < 0)
        return -1;
      c->freereg -= 2;
    }
  }
  return 0;
}

/* coalesce(a, b, ...): first non-null; an argument that raises
** field-not-found anywhere inside it is skipped (a handler region around
** each argument resumes at the next one). */
static int ccoalesce(C *c, gx_node *n, int dst) {
  int i, done = NO_JUMP, h, pc;
  for (i = 0; i < n->n_args; i++) {
    uint32_t start = c->n_code;
    if (cexpr(c, n->args[i], dst) < 0 || (h = handler_close(c, start)) < 0)
      return -1;
    if ((pc = emit_jump(c, OP_JNN, dst)) < 0)
      return -1;
    concat(c, &done, pc);
    handler_target_here(c, h);
  }
  if (emit_abc(c, OP_LOADNULL, dst, 0, 0) < 0)
    return -1;
  patch_here(c, done);
  return c->status ? -1 : 0;
}

static int cexpr(C *c, gx_node *n, int dst) {
  int save = c->curpos;
  int rc = 0;
  if (c->status)
    return -1;
  c->curpos = n->offset;
  switch (n->kind) {
  case GX_LIT:
    rc = clit(c, n->lit, dst);
    break;
  case GX_PATH:
    rc = cpath(c, n->path, dst);
    break;
  case GX_EXISTS:
    rc = cexists(c, n->path, dst);
    break;
  case GX_UNARY:
    rc = cexpr(c, n->a, dst);
    if (rc == 0)
      rc = emit_abc(c, n->op == GX_NOT ? OP_NOT : OP_NEG, dst, dst, 0) < 0
               ? -1
               : 0;
    break;
  case GX_BINARY:
    if (n->op == GX_AND || n->op == GX_OR)
      rc = clogic(c, n, dst);
    else if (n->op >= GX_EQ && n->op <= GX_GE)
      rc = ccompare(c, n, dst);
    else if (n->op >= GX_IN && n->op <= GX_CONTAINS)
      rc = cin(c, n, dst);
    else
      rc = carith(c, n, dst);
    break;
  case GX_CALL:
    rc = ccall(c, n, dst);
    break;
  case GX_COND:
    rc = ccond(c, n, dst);
    break;
  case GX_ARRAY:
  case GX_OBJECT:
    rc = clist(c, n, dst);
    break;
  case GX_COALESCE:
    rc = ccoalesce(c, n, dst);
    break;
  }
  c->curpos = save;
  return c->status ? -1 : rc;
}

/* ==== Conditions: jump to 'list' when truthy(n) == sense ==== */

static int cjump_cmp(C *c, gx_node *n, int sense, int *list) {
  gx_node *l = n->a, *r = n->b;
  gx_op op = n->op;
  int k, slot, t, pc, sw = 0;
  if (is_lit(l) && !is_lit(r)) {
    gx_node *tmp = l;
    l = r;
    r = tmp;
    op = swap_cmp(op);
    sw = op != GX_EQ && op != GX_NE;
  }
  if (!is_scalar_lit(r) || (k = addk(c, r->lit)) < 0 || k >= 256)
    return 1; /* not fusable: caller falls back */
  slot = as_slot(c, l);
  if (slot >= 0 && slot < 256) {
    pc = emit_jcmp(c, OP_JEQSK + (op - GX_EQ), slot, k, sense);
  } else {
    if ((t = alloc_reg(c)) < 0 || cexpr(c, l, t) < 0)
      return -1;
    c->freereg--;
    pc = emit_jcmp(c, OP_JEQK + (op - GX_EQ), t, k, sense);
  }
  if (sw)
    pc = mark_swapped(c, pc);
  if (pc < 0)
    return -1;
  concat(c, list, pc);
  return 0;
}

static int cjump(C *c, gx_node *n, int sense, int *list) {
  int t, pc, skip = NO_JUMP, rc;
  if (c->status)
    return -1;
  if (n->kind == GX_LIT) {
    if (gavel__truthy(n->lit) == sense) {
      if ((pc = emit_jump(c, OP_JMP, 0)) < 0)
        return -1;
      concat(c, list, pc);
    }
    return 0;
  }
  if (n->kind == GX_UNARY && n->op == GX_NOT)
    return cjump(c, n->a, !sense, list);
  if (n->kind == GX_BINARY && (n->op == GX_AND || n->op == GX_OR)) {
    int is_and = n->op == GX_AND;
    if (is_and != sense) { /* and/false, or/true: either side decides */
      if (cjump(c, n->a, sense, list) < 0 || cjump(c, n->b, sense, list) < 0)
        return -1;
      return 0;
    }
    if (cjump(c, n->a, !sense, &skip) < 0 || cjump(c, n->b, sense, list) < 0)
      return -1;
    patch_here(c, skip);
    return c->status ? -1 : 0;
  }
  if (n->kind == GX_BINARY && n->op >= GX_EQ && n->op <= GX_GE) {
    c->curpos = n->offset;
    rc = cjump_cmp(c, n, sense, list);
    if (rc <= 0)
      return rc;
  }
  if ((t = alloc_reg(c)) < 0 || cexpr(c, n, t) < 0)
    return -1;
  c->freereg--;
  if ((pc = emit_jump(c, sense ? OP_JT : OP_JF, t)) < 0)
    return -1;
  concat(c, list, pc);
  return 0;
}

/* ==== Driver ==== */

/* A JMP whose target is a RET becomes that RET (saves a dispatch). */
static void peephole(C *c) {
  uint32_t pc;
  for (pc = 0; pc < c->n_code; pc += (uint32_t)gavel__op_words(GET_OP(c->code[pc]))) {
    gv_ins i = c->code[pc];
    if (GET_OP(i) == OP_JMP) {
      uint32_t t = (uint32_t)((int)pc + 1 + GET_sBx(i));
      if (t < c->n_code && (GET_OP(c->code[t]) == OP_RET ||
                            GET_OP(c->code[t]) == OP_RETK))
        c->code[pc] = c->code[t];
    }
  }
}

static gv_program *finish_program(C *c, gv_symtab *st, gv_str *src) {
  gv_program *p;
  peephole(c);
  p = gavel__arena_alloc(c->a, sizeof *p);
  if (!p) {
    nomem(c);
    return NULL;
  }
  p->code = c->code;
  p->n_code = c->n_code;
  p->k = c->k;
  p->n_k = c->n_k;
  p->vpaths = c->vp;
  p->n_vpaths = c->n_vp;
  p->n_regs = (uint32_t)(c->maxreg ? c->maxreg : 1);
  p->gas = c->n_code;
  p->syms = st;
  p->src = src;
  p->pos = src ? c->pos : NULL;
  p->handlers = c->hs;
  p->n_handlers = c->n_hs;
  p->swapped = c->sw;
  p->n_swapped = c->n_sw;
  p->jown = st->jit;
  p->jit_next = NULL;
  atomic_init(&p->jit_fn, 0);
  atomic_init(&p->jit_count, 0);
  atomic_init(&p->jit_state, 0);
  if (st->jit && st->jit_list) { /* jit.c compiles the chain in batches */
    p->jit_next = *st->jit_list;
    *st->jit_list = p;
  }
  return p;
}

gavel_status gavel__compile_decision(gv_arena *a, gv_symtab *st,
                                     gx_node *const *conds, int n, int lenient,
                                     gv_program **out, gavel_error *err) {
  static const gv_copts opts = {1, 0};
  C c;
  int i, k;
  memset(&c, 0, sizeof c);
  c.a = a;
  c.st = st;
  c.opts = &opts;
  c.err = err;
  for (i = 0; i < n && !c.status; i++) {
    int fail_list = NO_JUMP, h = -1;
    uint32_t start = c.n_code;
    gx_node *cond = conds[i] ? fold(&c, conds[i]) : NULL;
    int always = !cond || (is_lit(cond) && gavel__truthy(cond->lit));
    if (!always && cjump(&c, cond, 0, &fail_list) < 0)
      break;
    if (!always && lenient && (h = handler_close(&c, start)) < 0)
      break;
    if ((k = addk(&c, gv_int(i))) < 0 || emit_abx(&c, OP_RETK, 0, k) < 0)
      break;
    patch_here(&c, fail_list); /* false: the next branch */
    if (h >= 0)
      handler_target_here(&c, h); /* field not found: false too */
    if (always)
      break; /* an "always" branch (null or true) ends the decision */
  }
  if (!c.status && (k = addk(&c, gv_int(-1))) >= 0) /* no branch taken */
    emit_abx(&c, OP_RETK, 0, k);
  if (c.status)
    return c.status;
  if (!(*out = finish_program(&c, st, NULL)))
    return c.status;
  return GAVEL_OK;
}

gavel_status gavel__compile(gv_arena *a, gv_symtab *st, gx_node *root,
                            gv_str *src, const gv_copts *opts,
                            gv_program **out, gavel_error *err) {
  static const gv_copts defaults = {0, 0};
  C c;
  gv_program *p;
  int r;
  memset(&c, 0, sizeof c);
  c.a = a;
  c.st = st;
  c.opts = opts ? opts : &defaults;
  c.err = err;
  if (!c.opts->no_fold)
    root = fold(&c, root);
  if (c.status)
    return c.status;
  if (root->kind == GX_LIT) {
    int k = addk(&c, root->lit);
    if (k >= 0)
      emit_abx(&c, OP_RETK, 0, k);
  } else if ((r = alloc_reg(&c)) >= 0 && cexpr(&c, root, r) == 0) {
    emit_abc(&c, OP_RET, r, 0, 0);
  }
  if (c.status)
    return c.status;
  if (!(p = finish_program(&c, st, src)))
    return c.status;
  *out = p;
  return GAVEL_OK;
}
