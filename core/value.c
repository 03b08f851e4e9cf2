/*
** value.c -- value representation: strings, arrays, objects, equality,
** ordering, deep copy, and the run-time error context.
**
** Pure data code: no JSON text, no bytecode, no I/O.
*/
#include "value.h"
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

const char *gavel__type_name(gv_type t) {
  static const char *const names[] = {"null",   "bool",  "int",    "float",
                                      "string", "array", "object", "missing"};
  return (unsigned)t < 8 ? names[t] : "?";
}

/* ==== Hashing ==== */

uint64_t gavel__hash_seed;

/* Made before main() (and before a shared library's first use), so that
** the hash needs no once-check. */
__attribute__((constructor)) static void hash_seed_init(void) {
  uint64_t s;
  if (getrandom(&s, sizeof s, GRND_NONBLOCK) != sizeof s)
    s = ((uint64_t)(uintptr_t)&s ^ (uint64_t)time(NULL)) *
        0x9E3779B97F4A7C15ull;
  gavel__hash_seed = s;
}

/* ==== Strings ==== */

gv_str *gavel__str_new(gv_arena *a, const char *p, size_t len) {
  gv_str *s;
  if (len > UINT32_MAX - 16)
    return NULL;
  s = gavel__arena_alloc(a, sizeof(gv_str) + len + 1);
  if (!s)
    return NULL;
  s->len = (uint32_t)len;
  s->hash = 0;
  if (p)
    memcpy(s->s, p, len);
  else
    memset(s->s, 0, len);
  s->s[len] = 0;
  return s;
}

gv_str *gavel__str_cstr(gv_arena *a, const char *cstr) {
  return gavel__str_new(a, cstr, strlen(cstr));
}

uint32_t gavel__str_hash(gv_str *s) {
  uint32_t h;
  if (s->hash)
    return s->hash;
  h = (uint32_t)gavel__hash_bytes(s->s, s->len);
  s->hash = h ? h : 1;
  return s->hash;
}

int gavel__str_cmp(const gv_str *a, const gv_str *b) {
  uint32_t n = a->len < b->len ? a->len : b->len;
  int c = memcmp(a->s, b->s, n);
  if (c)
    return c < 0 ? -1 : 1;
  return a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
}

/* ==== Arrays ==== */

gv_arr *gavel__arr_new(gv_arena *a, uint32_t cap) {
  gv_arr *arr = gavel__arena_alloc(a, sizeof *arr);
  if (!arr)
    return NULL;
  arr->len = 0;
  arr->cap = cap;
  arr->depth = 1;
  arr->spare = 0;
  arr->items = NULL;
  if (cap) {
    arr->items = gavel__arena_alloc(a, (size_t)cap * sizeof(gvalue));
    if (!arr->items)
      return NULL;
  }
  return arr;
}

int gavel__arr_push(gv_arena *a, gv_arr *arr, gvalue v) {
  if (arr->len == arr->cap) {
    uint32_t ncap = arr->cap ? arr->cap * 2 : 4;
    gvalue *ni;
    if (arr->cap >= GAVEL_MAX_ARR_LEN * 2u)
      return 0;
    ni = gavel__arena_alloc(a, (size_t)ncap * sizeof(gvalue));
    if (!ni)
      return 0;
    if (arr->len)
      memcpy(ni, arr->items, arr->len * sizeof(gvalue));
    arr->items = ni;
    arr->cap = ncap;
  }
  arr->items[arr->len++] = v;
  if (GV_ARR <= v.tag && v.tag <= GV_OBJ && gv_depth(v) >= arr->depth)
    arr->depth = gv_depth(v) + 1;
  return 1;
}

uint32_t gavel__arr_seal(gv_arr *arr) {
  uint32_t i, d = 0;
  for (i = 0; i < arr->len; i++)
    if (gv_depth(arr->items[i]) > d)
      d = gv_depth(arr->items[i]);
  return arr->depth = d + 1;
}

/* ==== Objects ==== */

gv_obj *gavel__obj_new(gv_arena *a, uint32_t cap) {
  gv_obj *o = gavel__arena_alloc(a, sizeof *o);
  if (!o)
    return NULL;
  o->len = 0;
  o->cap = cap;
  o->depth = 1;
  o->idx_mask = 0;
  o->keys = NULL;
  o->vals = NULL;
  o->idx = NULL;
  o->nodup = 0;
  if (cap) {
    o->keys = gavel__arena_alloc(a, (size_t)cap * sizeof(gv_str *));
    o->vals = gavel__arena_alloc(a, (size_t)cap * sizeof(gvalue));
    if (!o->keys || !o->vals)
      return NULL;
  }
  return o;
}

static uint32_t key_hash(const char *p, size_t n) {
  return (uint32_t)gavel__hash_bytes(p, n);
}

int gavel__obj_find(const gv_obj *o, const char *key, size_t key_len) {
  uint32_t i;
  if (o->idx) {
    for (i = key_hash(key, key_len) & o->idx_mask; o->idx[i];
         i = (i + 1) & o->idx_mask) {
      const gv_str *k = o->keys[o->idx[i] - 1];
      if (k->len == key_len && memcmp(k->s, key, key_len) == 0)
        return (int)(o->idx[i] - 1);
    }
    return -1;
  }
  for (i = 0; i < o->len; i++) {
    const gv_str *k = o->keys[i];
    if (k->len == key_len && memcmp(k->s, key, key_len) == 0)
      return (int)i;
  }
  return -1;
}

static void index_put(gv_obj *o, uint32_t pos) {
  const gv_str *k = o->keys[pos];
  uint32_t i = key_hash(k->s, k->len) & o->idx_mask;
  while (o->idx[i])
    i = (i + 1) & o->idx_mask;
  o->idx[i] = pos + 1;
}

/* (Re)builds the index with at least twice 'o->cap' slots (load <= 1/2).
** 0 on arena failure. */
static int index_build(gv_arena *a, gv_obj *o) {
  uint32_t slots = 32, i;
  while (slots < 2 * (uint64_t)o->cap)
    slots *= 2;
  o->idx = gavel__arena_alloc(a, (size_t)slots * sizeof(uint32_t));
  if (!o->idx) {
    o->idx_mask = 0;
    return 0;
  }
  memset(o->idx, 0, (size_t)slots * sizeof(uint32_t));
  o->idx_mask = slots - 1;
  for (i = 0; i < o->len; i++)
    index_put(o, i);
  return 1;
}

int gavel__obj_append(gv_arena *a, gv_obj *o, gv_str *key, gvalue v) {
  if (o->len == o->cap) {
    uint32_t ncap = o->cap ? o->cap * 2 : 4;
    gv_str **nk = gavel__arena_alloc(a, (size_t)ncap * sizeof(gv_str *));
    gvalue *nv = gavel__arena_alloc(a, (size_t)ncap * sizeof(gvalue));
    if (!nk || !nv)
      return 0;
    if (o->len) {
      memcpy(nk, o->keys, o->len * sizeof(gv_str *));
      memcpy(nv, o->vals, o->len * sizeof(gvalue));
    }
    o->keys = nk;
    o->vals = nv;
    o->cap = ncap;
  }
  o->keys[o->len] = key;
  o->vals[o->len] = v;
  o->len++;
  o->nodup = 0; /* 'key' may be there already */
  if (GV_ARR <= v.tag && v.tag <= GV_OBJ && gv_depth(v) >= o->depth)
    o->depth = gv_depth(v) + 1;
  if (o->idx && 2 * (uint64_t)o->len <= o->idx_mask + 1u)
    index_put(o, o->len - 1);
  else if (o->len >= GV_OBJ_INDEX_MIN && !index_build(a, o))
    return 0;
  return 1;
}

int gavel__obj_set(gv_arena *a, gv_obj *o, gv_str *key, gvalue v) {
  int i = gavel__obj_find(o, key->s, key->len);
  if (i >= 0) {
    o->vals[i] = v;
    if (GV_ARR <= v.tag && v.tag <= GV_OBJ && gv_depth(v) >= o->depth)
      o->depth = gv_depth(v) + 1;
    return 1;
  }
  return gavel__obj_append(a, o, key, v);
}

uint32_t gavel__obj_seal(gv_obj *o) {
  uint32_t i, d = 0;
  for (i = 0; i < o->len; i++)
    if (gv_depth(o->vals[i]) > d)
      d = gv_depth(o->vals[i]);
  return o->depth = d + 1;
}

/* ==== Equality and ordering ==== */

static int value_eq(gvalue a, gvalue b, int depth, int64_t *left) {
  uint32_t i;
  int r;
  if (a.tag != b.tag)
    return 0;
  if (--*left < 0)
    return -2;
  switch (a.tag) {
  case GV_NULL:
  case GV_MISSING:
    return 1;
  case GV_BOOL:
  case GV_INT:
    return a.u.i == b.u.i;
  case GV_FLOAT:
    return a.u.f == b.u.f;
  case GV_STR:
    return gavel__str_eq(a.u.s, b.u.s);
  case GV_ARR:
    if (a.u.a->len != b.u.a->len)
      return 0;
    if (depth >= GAVEL_MAX_WALK_DEPTH)
      return -1;
    for (i = 0; i < a.u.a->len; i++)
      if ((r = value_eq(a.u.a->items[i], b.u.a->items[i], depth + 1,
                        left)) != 1)
        return r;
    return 1;
  case GV_OBJ: /* same key set, equal values; order does not matter */
    if (a.u.o->len != b.u.o->len)
      return 0;
    if (depth >= GAVEL_MAX_WALK_DEPTH)
      return -1;
    for (i = 0; i < a.u.o->len; i++) {
      const gv_str *k = a.u.o->keys[i];
      gvalue *bv = gavel__obj_get(b.u.o, k->s, k->len);
      if (!bv)
        return 0;
      if ((r = value_eq(a.u.o->vals[i], *bv, depth + 1, left)) != 1)
        return r;
    }
    return 1;
  }
  return 0;
}

int gavel__value_eq(gvalue a, gvalue b) {
  int64_t left = GV_EQ_MAX_NODES;
  return value_eq(a, b, 0, &left);
}

int gavel__value_eq_rt(gv_rt *rt, gvalue a, gvalue b) {
  int64_t start, left;
  int r;
  if (a.tag != b.tag || (a.tag != GV_ARR && a.tag != GV_OBJ)) {
    left = 1;
    return value_eq(a, b, 0, &left);
  }
  /* as many values as the gas left pays for (at least one unit's worth) */
  start = rt->gas >= GV_EQ_MAX_NODES / GV_EQ_NODES_PER_GAS
              ? GV_EQ_MAX_NODES
              : (rt->gas > 0 ? rt->gas + 1 : 1) * GV_EQ_NODES_PER_GAS;
  left = start;
  r = value_eq(a, b, 0, &left);
  if (left < 0)
    left = 0;
  if (gavel__rt_charge(rt, (start - left) / GV_EQ_NODES_PER_GAS))
    return -1;
  if (r == -1)
    return gavel__rt_depth_error(rt), -1;
  if (r == -2)
    return (start < GV_EQ_MAX_NODES
                ? gavel__rt_gas_error(rt)
                : gavel__rt_error(rt, GV_E_LIMIT,
                                  "Limit exceeded: comparing values that "
                                  "hold more than %d values",
                                  GV_EQ_MAX_NODES)),
           -1;
  return r;
}

int gavel__value_cmp(gvalue a, gvalue b, int *cmp) {
  if (gv_isnum(a) && gv_isnum(b)) {
    if (a.tag == GV_INT && b.tag == GV_INT) {
      *cmp = a.u.i < b.u.i ? -1 : a.u.i > b.u.i;
      return 0;
    } else {
      /* Mixed int/float compares as f64 (Ordo: i as f64); NaN is not
      ** comparable (Rust partial_cmp gives None). */
      double x = gv_num(a), y = gv_num(b);
      if (x != x || y != y)
        return -1;
      *cmp = x < y ? -1 : x > y ? 1 : 0;
      return 0;
    }
  }
  if (a.tag == GV_STR && b.tag == GV_STR) {
    *cmp = gavel__str_cmp(a.u.s, b.u.s);
    return 0;
  }
  if (a.tag == GV_BOOL && b.tag == GV_BOOL) {
    *cmp = (int)(a.u.i - b.u.i);
    return 0;
  }
  return -1;
}

static int value_copy(gv_arena *a, gvalue v, gvalue *out, int depth) {
  uint32_t i;
  switch (v.tag) {
  case GV_STR: {
    gv_str *s = gavel__str_new(a, v.u.s->s, v.u.s->len);
    if (!s)
      return 0;
    *out = gv_strv(s);
    return 1;
  }
  case GV_ARR: {
    gv_arr *arr;
    if (depth >= GAVEL_MAX_WALK_DEPTH || !(arr = gavel__arr_new(a, v.u.a->len)))
      return 0;
    for (i = 0; i < v.u.a->len; i++)
      if (!value_copy(a, v.u.a->items[i], &arr->items[i], depth + 1))
        return 0;
    arr->len = v.u.a->len;
    arr->depth = v.u.a->depth;
    *out = gv_arrv(arr);
    return 1;
  }
  case GV_OBJ: {
    gv_obj *o;
    if (depth >= GAVEL_MAX_WALK_DEPTH || !(o = gavel__obj_new(a, v.u.o->len)))
      return 0;
    for (i = 0; i < v.u.o->len; i++) {
      gv_str *k = gavel__str_new(a, v.u.o->keys[i]->s, v.u.o->keys[i]->len);
      if (!k || !value_copy(a, v.u.o->vals[i], &o->vals[i], depth + 1))
        return 0;
      o->keys[i] = k;
    }
    o->len = v.u.o->len;
    o->depth = v.u.o->depth;
    if (o->len >= GV_OBJ_INDEX_MIN && !index_build(a, o))
      return 0;
    *out = gv_objv(o);
    return 1;
  }
  default:
    *out = v;
    return 1;
  }
}

int gavel__value_copy(gv_arena *a, gvalue v, gvalue *out) {
  return value_copy(a, v, out, 0);
}

/* ==== Run-time errors ==== */

int gavel__rt_error(gv_rt *rt, gv_ekind k, const char *fmt, ...) {
  va_list ap;
  if (rt->ekind != GV_E_NONE)
    return 1;
  rt->ekind = k;
  va_start(ap, fmt);
  vsnprintf(rt->emsg, sizeof rt->emsg, fmt, ap);
  va_end(ap);
  return 1;
}

int gavel__rt_type_error(gv_rt *rt, const char *want, gvalue v) {
  return gavel__rt_error(rt, GV_E_TYPE, "Type error: expected %s, got %s",
                         want, gavel__type_name(gv_typeof(v)));
}

int gavel__rt_nomem(gv_rt *rt) {
  if (rt->arena->failed == 2)
    return gavel__rt_error(rt, GV_E_LIMIT,
                           "Evaluation error: memory limit exceeded");
  return gavel__rt_error(rt, GV_E_NOMEM, "Evaluation error: out of memory");
}

int gavel__float_overflow(gv_rt *rt, const char *what) {
  return gavel__rt_error(rt, GV_E_EVAL,
                         "Evaluation error: Float overflow in %s", what);
}

int gavel__rt_gas_error(gv_rt *rt) {
  if (rt->gas_limit)
    return gavel__rt_error(rt, GV_E_GAS,
                           "Gas exhausted: budget of %llu units used up",
                           (unsigned long long)rt->gas_limit);
  return gavel__rt_error(rt, GV_E_GAS, "Gas exhausted");
}

int gavel__rt_depth_error(gv_rt *rt) {
  return gavel__rt_error(rt, GV_E_LIMIT,
                         "Limit exceeded: value nesting deeper than %d levels",
                         GAVEL_MAX_VALUE_DEPTH);
}

char *gavel__msg_escape(char *out, size_t size, const char *p, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0, i;
  if (!size)
    return out;
  for (i = 0; i < n && o + 1 < size; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c < 0x20 || c == 0x7f) {
      if (o + 7 > size)
        break;
      memcpy(out + o, "\\u00", 4);
      out[o + 4] = hex[c >> 4];
      out[o + 5] = hex[c & 15];
      o += 6;
    } else
      out[o++] = (char)c;
  }
  out[o] = 0;
  return out;
}
