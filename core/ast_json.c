/*
** ast_json.c -- stage 2a of 5: Ordo's JSON AST form (a value) -> AST.
**
** Input: a gvalue holding serde's externally tagged form of Ordo's Expr
** ({"Binary": {"op": "Add", "left": E, "right": E}}, {"Field": "a.b"}, ...),
** already read by json.c.  Output: the same gx_node tree parse.c builds,
** in the caller's arena.  gavel extension: a JSON string wherever an
** expression is expected is expression text, parsed with parse.c.
** This file reads no JSON text and never touches bytecode.
**
** Errors are GAVEL_LOAD with err->path set to the place inside the object
** ("Binary.left.Call.args[1]") and err->line/column 0; an embedded string
** that does not parse keeps parse.c's status (GAVEL_COMPILE/GAVEL_LIMIT)
** and its "line:column: " message, with err->path set the same way.
** Nodes built from objects have offset -1 and line/column 0.  Unknown
** extra fields inside a variant's object are ignored (serde's default);
** the outer object must have exactly one key.
*/
#include "expr.h"
#include <stdio.h>

#define AJ_MAX_DEPTH 256 /* nesting of AST objects (the C stack's guard) */

typedef struct aj {
  gv_arena *a;                   /* AST arena                          */
  gavel_error *err;              /* where errors go                    */
  char path[GAVEL_ERRPATH_SIZE]; /* location inside the object, so far */
  size_t plen;                   /* bytes used in 'path'               */
  int depth;                     /* current AST object nesting         */
} aj;

static gavel_status convert(aj *c, gvalue v, gx_node **out);

/* ==== Location and errors ==== */

/* Appends ".key" (or "key" first) or "[i]" (key NULL) to the path;
** returns the old length for pop(). */
static size_t push(aj *c, const char *key, int idx) {
  size_t old = c->plen, room = sizeof c->path - c->plen;
  int n;
  if (key)
    n = snprintf(c->path + c->plen, room, "%s%s", c->plen ? "." : "", key);
  else
    n = snprintf(c->path + c->plen, room, "[%d]", idx);
  c->plen += n < 0 ? 0 : (size_t)n >= room ? room - 1 : (size_t)n;
  return old;
}

static void pop(aj *c, size_t old) {
  c->plen = old;
  c->path[old] = 0;
}

static gavel_status load_error(aj *c, gavel_status code, const char *fmt, ...)
    GAVEL_PRINTF(3, 4);
static gavel_status load_error(aj *c, gavel_status code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  gavel__verrorf(c->err, code, fmt, ap);
  va_end(ap);
  if (c->err) {
    c->err->line = c->err->column = 0;
    c->err->offset = -1;
  }
  gavel__error_setpath(c->err, c->path);
  return code;
}

static gavel_status nomem(aj *c) {
  gavel_status rc = gavel__arena_status(c->a);
  return load_error(c, rc, "%s while converting the expression AST",
                    rc == GAVEL_LIMIT ? "arena limit reached"
                                      : "out of memory");
}

static const char *type_of(gvalue v) { return gavel__type_name(gv_typeof(v)); }

/* ==== Helpers ==== */

static gx_node *node_new(aj *c, gx_kind k) {
  gx_node *n = gavel__arena_alloc(c->a, sizeof *n);
  if (!n)
    return NULL;
  memset(n, 0, sizeof *n);
  n->kind = k;
  n->offset = -1;
  n->lit = gv_null();
  return n;
}

/* Field 'name' of object 'o' (a variant body); error if missing. */
static gavel_status field(aj *c, gvalue o, const char *name, gvalue *out) {
  gvalue *f = gavel__obj_get(o.u.o, name, strlen(name));
  if (!f)
    return load_error(c, GAVEL_LOAD, "missing field `%s`", name);
  *out = *f;
  return GAVEL_OK;
}

/* Converts field 'name' of 'o' into '*out', with the path extended. */
static gavel_status sub(aj *c, gvalue o, const char *name, gx_node **out) {
  gvalue f;
  gavel_status rc = field(c, o, name, &f);
  size_t old;
  if (rc != GAVEL_OK)
    return rc;
  old = push(c, name, 0);
  rc = convert(c, f, out);
  pop(c, old);
  return rc;
}

/* String field 'name' of 'o' (or 'o' itself when name is NULL). */
static gavel_status str_of(aj *c, gvalue o, const char *name, gv_str **out) {
  gvalue f = o;
  gavel_status rc = name ? field(c, o, name, &f) : GAVEL_OK;
  size_t old;
  if (rc != GAVEL_OK)
    return rc;
  if (f.tag != GV_STR) {
    old = name ? push(c, name, 0) : c->plen;
    rc = load_error(c, GAVEL_LOAD, "invalid type: %s, expected a string",
                    type_of(f));
    pop(c, old);
    return rc;
  }
  *out = f.u.s;
  return GAVEL_OK;
}

/* Converts the array 'v' of expressions into args / n_args. */
static gavel_status list(aj *c, gvalue v, gx_node *n) {
  gavel_status rc = GAVEL_OK;
  uint32_t i;
  if (v.tag != GV_ARR)
    return load_error(c, GAVEL_LOAD,
                      "invalid type: %s, expected an array of expressions",
                      type_of(v));
  n->n_args = (int)v.u.a->len;
  n->args = gavel__arena_alloc(c->a, (v.u.a->len + 1) * sizeof(gx_node *));
  if (!n->args)
    return nomem(c);
  for (i = 0; i < v.u.a->len && rc == GAVEL_OK; i++) {
    size_t old = push(c, NULL, (int)i);
    rc = convert(c, v.u.a->items[i], &n->args[i]);
    pop(c, old);
  }
  return rc;
}

static gavel_status path_of(aj *c, gvalue v, gx_node *n) {
  gv_str *s = NULL;
  gavel_error perr;
  gavel_status rc = str_of(c, v, NULL, &s);
  if (rc != GAVEL_OK)
    return rc;
  rc = gavel__parse_path(c->a, s->s, s->len, &n->path, &perr);
  if (rc == GAVEL_COMPILE)
    return load_error(c, GAVEL_LOAD, "%s", perr.msg);
  if (rc != GAVEL_OK)
    return nomem(c);
  return GAVEL_OK;
}

/* Copy of a string of the input value, in the AST arena. */
static gavel_status own(aj *c, gv_str **s) {
  *s = gavel__str_new(c->a, (*s)->s, (*s)->len);
  return *s ? GAVEL_OK : nomem(c);
}

/* ==== Variants ==== */

static const char *const bin_names[] = {
    "Add", "Sub", "Mul", "Div", "Mod", "Eq", "Ne",    "Lt",
    "Le",  "Gt",  "Ge",  "And", "Or",  "In", "NotIn", "Contains"};
static const gx_op bin_ops[] = {
    GX_ADD, GX_SUB, GX_MUL, GX_DIV, GX_MOD, GX_EQ, GX_NE,    GX_LT,
    GX_LE,  GX_GT,  GX_GE,  GX_AND, GX_OR,  GX_IN, GX_NOTIN, GX_CONTAINS};

static gavel_status op_of(aj *c, gvalue body, int unary, gx_op *op) {
  gv_str *s;
  int i, n = unary ? 2 : 16;
  size_t old;
  gavel_status rc = str_of(c, body, "op", &s);
  if (rc != GAVEL_OK)
    return rc;
  for (i = 0; i < n; i++) {
    const char *name = unary ? (i ? "Neg" : "Not") : bin_names[i];
    if (gavel__str_eqn(s, name, strlen(name))) {
      *op = unary ? (i ? GX_NEG : GX_NOT) : bin_ops[i];
      return GAVEL_OK;
    }
  }
  old = push(c, "op", 0);
  rc = load_error(c, GAVEL_LOAD,
                  unary ? "unknown unary op `%.64s` (expected one of Not, Neg)"
                        : "unknown binary op `%.64s` (expected one of Add, "
                          "Sub, Mul, Div, Mod, Eq, Ne, Lt, Le, Gt, Ge, And, "
                          "Or, In, NotIn, Contains)",
                  s->s);
  pop(c, old);
  return rc;
}

static gavel_status need_obj(aj *c, gvalue body, const char *variant,
                             const char *fields) {
  if (body.tag == GV_OBJ)
    return GAVEL_OK;
  return load_error(c, GAVEL_LOAD,
                    "invalid type: %s, expected `%s` to hold an object with "
                    "fields %s",
                    type_of(body), variant, fields);
}

static gavel_status do_binary(aj *c, gvalue body, gx_node *n) {
  gavel_status rc = need_obj(c, body, "Binary", "op, left, right");
  if (rc == GAVEL_OK && (rc = op_of(c, body, 0, &n->op)) == GAVEL_OK &&
      (rc = sub(c, body, "left", &n->a)) == GAVEL_OK)
    rc = sub(c, body, "right", &n->b);
  return rc;
}

static gavel_status do_unary(aj *c, gvalue body, gx_node *n) {
  gavel_status rc = need_obj(c, body, "Unary", "op, operand");
  if (rc == GAVEL_OK && (rc = op_of(c, body, 1, &n->op)) == GAVEL_OK)
    rc = sub(c, body, "operand", &n->a);
  return rc;
}

static gavel_status do_call(aj *c, gvalue body, gx_node *n) {
  gvalue args;
  size_t old;
  gavel_status rc = need_obj(c, body, "Call", "name, args");
  if (rc == GAVEL_OK && (rc = str_of(c, body, "name", &n->name)) == GAVEL_OK &&
      (rc = own(c, &n->name)) == GAVEL_OK &&
      (rc = field(c, body, "args", &args)) == GAVEL_OK) {
    old = push(c, "args", 0);
    rc = list(c, args, n);
    pop(c, old);
  }
  return rc;
}

static gavel_status do_cond(aj *c, gvalue body, gx_node *n) {
  gavel_status rc =
      need_obj(c, body, "Conditional", "condition, then_branch, else_branch");
  if (rc == GAVEL_OK && (rc = sub(c, body, "condition", &n->a)) == GAVEL_OK &&
      (rc = sub(c, body, "then_branch", &n->b)) == GAVEL_OK)
    rc = sub(c, body, "else_branch", &n->c);
  return rc;
}

/* [["k", E], ...] */
static gavel_status do_object(aj *c, gvalue body, gx_node *n) {
  gavel_status rc = GAVEL_OK;
  uint32_t i, len;
  if (body.tag != GV_ARR)
    return load_error(c, GAVEL_LOAD,
                      "invalid type: %s, expected an array of [key, "
                      "expression] pairs",
                      type_of(body));
  len = body.u.a->len;
  n->n_args = (int)len;
  n->args = gavel__arena_alloc(c->a, (len + 1) * sizeof(gx_node *));
  n->keys = gavel__arena_alloc(c->a, (len + 1) * sizeof(gv_str *));
  if (!n->args || !n->keys)
    return nomem(c);
  for (i = 0; i < len && rc == GAVEL_OK; i++) {
    gvalue e = body.u.a->items[i];
    size_t old = push(c, NULL, (int)i);
    if (e.tag != GV_ARR || e.u.a->len != 2)
      rc = load_error(c, GAVEL_LOAD,
                      "invalid object entry: %s, expected a [key, "
                      "expression] pair",
                      e.tag == GV_ARR ? "array of wrong length" : type_of(e));
    else if (e.u.a->items[0].tag != GV_STR)
      rc =
          load_error(c, GAVEL_LOAD, "invalid object key: %s, expected a string",
                     type_of(e.u.a->items[0]));
    else {
      size_t old1 = push(c, NULL, 1);
      n->keys[i] = e.u.a->items[0].u.s;
      if ((rc = own(c, &n->keys[i])) == GAVEL_OK)
        rc = convert(c, e.u.a->items[1], &n->args[i]);
      pop(c, old1);
    }
    pop(c, old);
  }
  return rc;
}

static const char *const variants[] = {
    "Literal", "Field",  "Binary", "Unary",    "Call", "Conditional",
    "Array",   "Object", "Exists", "Coalesce", NULL};
static const gx_kind variant_kinds[] = {
    GX_LIT,  GX_PATH,  GX_BINARY, GX_UNARY,  GX_CALL,
    GX_COND, GX_ARRAY, GX_OBJECT, GX_EXISTS, GX_COALESCE};

/* Converts the body of variant 'vi' into node 'n'. */
static gavel_status variant(aj *c, int vi, gvalue body, gx_node *n) {
  switch (variant_kinds[vi]) {
  case GX_LIT:
    if (!gavel__value_copy(c->a, body, &n->lit))
      return nomem(c);
    return GAVEL_OK;
  case GX_PATH:
  case GX_EXISTS:
    return path_of(c, body, n);
  case GX_BINARY:
    return do_binary(c, body, n);
  case GX_UNARY:
    return do_unary(c, body, n);
  case GX_CALL:
    return do_call(c, body, n);
  case GX_COND:
    return do_cond(c, body, n);
  case GX_OBJECT:
    return do_object(c, body, n);
  default: /* GX_ARRAY, GX_COALESCE */
    return list(c, body, n);
  }
}

/* Embedded expression text (gavel extension). */
static gavel_status text(aj *c, gv_str *s, gx_node **out) {
  gavel_status rc = gavel__parse_expr(c->a, s->s, s->len, out, c->err);
  if (rc != GAVEL_OK)
    gavel__error_setpath(c->err, c->path);
  return rc;
}

static gavel_status convert(aj *c, gvalue v, gx_node **out) {
  gavel_status rc;
  gv_obj *o;
  gx_node *n;
  size_t old;
  int vi;
  if (v.tag == GV_STR)
    return text(c, v.u.s, out);
  if (v.tag != GV_OBJ || v.u.o->len != 1)
    return load_error(c, GAVEL_LOAD,
                      "invalid expression: %s%s, expected an object with one "
                      "variant key (Literal, Field, Binary, Unary, Call, "
                      "Conditional, Array, Object, Exists, Coalesce) or an "
                      "expression string",
                      v.tag == GV_OBJ ? "object with " : "",
                      v.tag == GV_OBJ ? (v.u.o->len ? "several keys" : "no key")
                                      : type_of(v));
  o = v.u.o;
  for (vi = 0; variants[vi]; vi++)
    if (gavel__str_eqn(o->keys[0], variants[vi], strlen(variants[vi])))
      break;
  if (!variants[vi])
    return load_error(c, GAVEL_LOAD,
                      "unknown expression variant `%.64s` (expected one of "
                      "Literal, Field, Binary, Unary, Call, Conditional, "
                      "Array, Object, Exists, Coalesce)",
                      o->keys[0]->s);
  if (c->depth >= AJ_MAX_DEPTH)
    return load_error(c, GAVEL_LIMIT,
                      "expression AST nesting exceeds maximum (%d)",
                      AJ_MAX_DEPTH);
  if (!(n = node_new(c, variant_kinds[vi])))
    return nomem(c);
  c->depth++;
  old = push(c, variants[vi], 0);
  rc = variant(c, vi, o->vals[0], n);
  pop(c, old);
  c->depth--;
  *out = n;
  return rc;
}

gavel_status gavel__parse_ast_json(gv_arena *a, gvalue v, gx_node **out,
                                   gavel_error *err) {
  aj c;
  gavel_status rc;
  c.a = a;
  c.err = err;
  c.path[0] = 0;
  c.plen = 0;
  c.depth = 0;
  *out = NULL;
  rc = convert(&c, v, out);
  if (rc != GAVEL_OK)
    *out = NULL;
  return rc;
}
