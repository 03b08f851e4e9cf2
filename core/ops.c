/*
** ops.c -- Ordo operator semantics (stage 3 helpers).
**
** The single implementation of arithmetic, comparison and membership that
** the VM's slow paths and the compiler's constant folder call, so folded
** and evaluated results can never differ.  Error texts are Ordo's
** (crates/ordo-core/src/expr/eval.rs).  Never allocates except for
** string concatenation and wildcard paths (in the caller's arena).
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "ops.h"
#include <math.h>

static const char *const ar_verb[] = {"add", "subtract", "multiply", "divide",
                                      "modulo"};
static const char *const ar_noun[] = {"addition", "subtraction",
                                      "multiplication", "division", "modulo"};

static int overflow(gv_rt *rt, gv_arop op) {
  return gavel__rt_error(rt, GV_E_EVAL,
                         "Evaluation error: Integer overflow in %s",
                         ar_noun[op]);
}

static int int_arith(gv_rt *rt, gv_arop op, int64_t x, int64_t y,
                     gvalue *out) {
  int64_t r = 0;
  switch (op) {
  case AR_ADD:
    if (__builtin_add_overflow(x, y, &r))
      return overflow(rt, op);
    break;
  case AR_SUB:
    if (__builtin_sub_overflow(x, y, &r))
      return overflow(rt, op);
    break;
  case AR_MUL:
    if (__builtin_mul_overflow(x, y, &r))
      return overflow(rt, op);
    break;
  case AR_DIV:
    if (y == 0)
      return gavel__rt_error(rt, GV_E_EVAL, "Evaluation error: Division by zero");
    if (x == INT64_MIN && y == -1)
      return overflow(rt, op);
    r = x / y; /* C truncates toward zero, as Rust */
    break;
  case AR_MOD:
    if (y == 0)
      return gavel__rt_error(rt, GV_E_EVAL, "Evaluation error: Modulo by zero");
    r = (y == -1) ? 0 : x % y; /* remainder takes the dividend's sign */
    break;
  }
  *out = gv_int(r);
  return 0;
}

int gavel__op_arith(gv_rt *rt, gv_arop op, gvalue a, gvalue b, gvalue *out) {
  if (a.tag == GV_INT && b.tag == GV_INT)
    return int_arith(rt, op, a.u.i, b.u.i, out);
  if (gv_isnum(a) && gv_isnum(b) && op != AR_MOD) {
    double x = gv_num(a), y = gv_num(b), r;
    switch (op) {
    case AR_ADD:
      r = x + y;
      break;
    case AR_SUB:
      r = x - y;
      break;
    case AR_MUL:
      r = x * y;
      break;
    default:
      if (b.tag == GV_INT ? b.u.i == 0 : y == 0.0)
        return gavel__rt_error(rt, GV_E_EVAL,
                               "Evaluation error: Division by zero");
      r = x / y;
      break;
    }
    /* Ordo computes inf/NaN, and its JSON output (serde_json) turns them
    ** into null: gavel fails instead (issue 8, no silent null). */
    if (GAVEL_UNLIKELY(!isfinite(r))) {
      if (!isfinite(x) || !isfinite(y)) /* to_float("inf"), a host value */
        return gavel__rt_error(rt, GV_E_EVAL,
                               "Evaluation error: Non-finite float in %s",
                               ar_noun[op]);
      return gavel__float_overflow(rt, ar_noun[op]);
    }
    *out = gv_float(r);
    return 0;
  }
  if (op == AR_ADD && a.tag == GV_STR && b.tag == GV_STR) {
    size_t n = (size_t)a.u.s->len + b.u.s->len;
    gv_str *s;
    if (n > GAVEL_MAX_STR_BYTES)
      return gavel__rt_error(rt, GV_E_LIMIT,
                             "Evaluation error: string too long (%zu bytes)",
                             n);
    if (gavel__rt_charge(rt, (int64_t)(n >> 4)))
      return 1;
    s = gavel__str_new(rt->arena, NULL, n);
    if (!s)
      return gavel__rt_nomem(rt);
    memcpy(s->s, a.u.s->s, a.u.s->len);
    memcpy(s->s + a.u.s->len, b.u.s->s, b.u.s->len);
    *out = gv_strv(s);
    return 0;
  }
  return gavel__rt_error(rt, GV_E_EVAL, "Evaluation error: Cannot %s %s and %s",
                         ar_verb[op], gavel__type_name(gv_typeof(a)),
                         gavel__type_name(gv_typeof(b)));
}

int gavel__op_neg(gv_rt *rt, gvalue a, gvalue *out) {
  if (a.tag == GV_INT) {
    /* Ordo wraps i64::MIN silently; gavel reports it (never a silent
    ** wrong answer). */
    if (a.u.i == INT64_MIN)
      return gavel__rt_error(rt, GV_E_EVAL,
                             "Evaluation error: Integer overflow in negation");
    *out = gv_int(-a.u.i);
    return 0;
  }
  if (a.tag == GV_FLOAT) {
    if (GAVEL_UNLIKELY(!isfinite(a.u.f)))
      return gavel__rt_error(rt, GV_E_EVAL,
                             "Evaluation error: Non-finite float in negation");
    *out = gv_float(-a.u.f);
    return 0;
  }
  return gavel__rt_type_error(rt, "number", a);
}

int gavel__op_compare(gv_rt *rt, gv_cmpop op, gvalue a, gvalue b, int *res) {
  int c;
  if (op == CMP_EQ || op == CMP_NE) {
    int eq = gavel__value_eq_rt(rt, a, b);
    if (GAVEL_UNLIKELY(eq < 0))
      return 1;
    *res = (op == CMP_EQ) ? eq : !eq;
    return 0;
  }
  if (gavel__value_cmp(a, b, &c) != 0)
    return gavel__rt_error(rt, GV_E_EVAL,
                           "Evaluation error: Cannot compare %s and %s",
                           gavel__type_name(gv_typeof(a)),
                           gavel__type_name(gv_typeof(b)));
  switch (op) {
  case CMP_LT:
    *res = c < 0;
    break;
  case CMP_LE:
    *res = c <= 0;
    break;
  case CMP_GT:
    *res = c > 0;
    break;
  default:
    *res = c >= 0;
    break;
  }
  return 0;
}

/* Byte substring search (memmem semantics: "" is found everywhere). */
static int str_contains(const gv_str *hay, const gv_str *needle) {
  if (needle->len == 0)
    return 1;
  if (needle->len > hay->len)
    return 0;
  return memmem(hay->s, hay->len, needle->s, needle->len) != NULL;
}

int gavel__op_in(gv_rt *rt, gvalue v, gvalue coll, int *res) {
  uint32_t i;
  if (coll.tag == GV_ARR) {
    const gv_arr *arr = coll.u.a;
    if (gavel__rt_charge(rt, arr->len))
      return 1;
    for (i = 0; i < arr->len; i++) {
      int eq = gavel__value_eq_rt(rt, v, arr->items[i]);
      if (GAVEL_UNLIKELY(eq < 0))
        return 1;
      if (eq) {
        *res = 1;
        return 0;
      }
    }
    *res = 0;
    return 0;
  }
  if (coll.tag == GV_STR) {
    if (v.tag != GV_STR)
      return gavel__rt_error(
          rt, GV_E_EVAL,
          "Evaluation error: 'in' with string requires string value");
    if (gavel__rt_charge(rt, coll.u.s->len >> 4))
      return 1;
    *res = str_contains(coll.u.s, v.u.s);
    return 0;
  }
  return gavel__rt_type_error(rt, "array or string", coll);
}

/* ==== Paths ==== */

/* Rust's usize::from_str on a path segment, as Ordo indexes arrays: an
** optional '+', then digits (leading zeros allowed).  Values past
** INT32_MAX saturate (no array is that long). */
static int parse_index(const gv_str *k, int64_t *idx) {
  uint32_t i = k->len && k->s[0] == '+';
  int64_t n = 0;
  if (i == k->len)
    return 0;
  for (; i < k->len; i++) {
    if (k->s[i] < '0' || k->s[i] > '9')
      return 0;
    n = n * 10 + (k->s[i] - '0');
    if (n > INT32_MAX)
      n = (int64_t)INT32_MAX + 1;
  }
  *idx = n;
  return 1;
}

int gavel__path_walk(gv_arena *a, gvalue root, const gx_seg *segs, int n,
                     gvalue *out) {
  gvalue cur = root;
  int i;
  for (i = 0; i < n; i++) {
    const gx_seg *sg = &segs[i];
    if (sg->kind == GX_SEG_WILD) {
      gv_arr *res;
      uint32_t j, len;
      const gvalue *items;
      if (cur.tag == GV_ARR) {
        len = cur.u.a->len;
        items = cur.u.a->items;
      } else if (cur.tag == GV_OBJ) {
        len = cur.u.o->len;
        items = cur.u.o->vals;
      } else
        return 0;
      res = gavel__arr_new(a, len);
      if (!res)
        return -1;
      for (j = 0; j < len; j++) {
        int rc = gavel__path_walk(a, items[j], segs + i + 1, n - i - 1,
                                  &res->items[j]);
        if (rc <= 0)
          return rc; /* an element without the rest of the path: missing */
      }
      res->len = len;
      gavel__arr_seal(res);
      *out = gv_arrv(res);
      return 1;
    }
    if (cur.tag == GV_OBJ && sg->kind == GX_SEG_KEY) {
      gvalue *v = gavel__obj_get(cur.u.o, sg->key->s, sg->key->len);
      if (!v)
        return 0;
      cur = *v;
    } else if (cur.tag == GV_ARR) {
      int64_t idx;
      if (sg->kind == GX_SEG_INDEX)
        idx = sg->index;
      else if (!parse_index(sg->key, &idx))
        return 0;
      if (idx < 0 || idx >= (int64_t)cur.u.a->len)
        return 0;
      cur = cur.u.a->items[idx];
    } else {
      return 0;
    }
  }
  *out = cur;
  return 1;
}
