/*
** builtins.c -- the builtin registry and the 57 core builtins: strings,
** math, arrays, objects, types and JSON, with Ordo's semantics.
**
** Sits beside the VM (stage 3): the compiler resolves names through
** gavel__builtin_find, the VM checks the argument count against the table
** and calls the function.  Each builtin checks its argument types, charges
** gas for work over run-time data and builds its result in rt->arena.
** Arguments are borrowed and never modified.  No parsing of expressions,
** no I/O, no global mutable state besides the once-built name index.
** Reference: Ordo crates/ordo-core/src/expr/functions.rs at HEAD.
*/

#define _GNU_SOURCE /* memmem */
#include "json.h"
#include "value.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define UNUSED __attribute__((unused))
/* Every builtin has the gv_builtin_fn signature; not all use every part. */
#define BUILTIN(f)                                                           \
  static int f(UNUSED gv_rt *rt, UNUSED gvalue *out,                         \
               UNUSED const gvalue *args, UNUSED int nargs)
#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Ordo's MAX_BUILTIN_ELEMENTS: range() length and pad width caps. */
#define ORDO_MAX_ELEMS 1000000
/* serde_json's nesting limit, which json_unmarshal inherits. */
#define SERDE_MAX_DEPTH 127
/* A decoded invalid UTF-8 byte (copied through raw, counted as one char). */
#define UTF8_BAD 0x110000u

/* A user string for a message: NULs escaped, at most ~200 bytes (issue 8:
** messages were cut at an embedded NUL). */
#define MSG_STR(buf, str)                                                    \
  gavel__msg_escape((buf), sizeof(buf), (str)->s,                            \
                    (str)->len > 200 ? 200 : (str)->len)

/* ==== Errors, gas and result allocation ==== */

/* "Evaluation error: <message>" (Ordo's OrdoError::EvalError). */
static int eval_error(gv_rt *rt, const char *fmt, ...) GAVEL_PRINTF(2, 3);
static int eval_error(gv_rt *rt, const char *fmt, ...) {
  char msg[GAVEL_ERRMSG_SIZE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return gavel__rt_error(rt, GV_E_EVAL, "Evaluation error: %.*s",
                         (int)(sizeof msg - 20), msg);
}

static int str_limit(gv_rt *rt, const char *fn, uint64_t n) {
  return gavel__rt_error(rt, GV_E_LIMIT,
                         "Evaluation error: %s: string of %llu bytes exceeds "
                         "maximum of %u",
                         fn, (unsigned long long)n, GAVEL_MAX_STR_BYTES);
}

/* A string that would pass the maximum, its length not known (the
** writer stopped there). */
static int str_limit_over(gv_rt *rt, const char *fn) {
  return gavel__rt_error(rt, GV_E_LIMIT,
                         "Evaluation error: %s: string longer than the "
                         "maximum of %u bytes",
                         fn, GAVEL_MAX_STR_BYTES);
}

static int arr_limit(gv_rt *rt, const char *fn, uint64_t n) {
  return gavel__rt_error(rt, GV_E_LIMIT,
                         "Evaluation error: %s: array of %llu elements "
                         "exceeds maximum of %d",
                         fn, (unsigned long long)n, GAVEL_MAX_ARR_LEN);
}

/* Gas: one unit per element visited, one per 16 bytes scanned or built. */
static int charge_bytes(gv_rt *rt, uint64_t n) {
  return gavel__rt_charge(rt, (int64_t)(n >> 4));
}
static int charge_elems(gv_rt *rt, uint64_t n) {
  return gavel__rt_charge(rt, (int64_t)n);
}

/* A new string of 'n' bytes for builtin 'fn', to be filled by the caller;
** NULL with the error recorded (limit, gas or memory). */
static gv_str *str_alloc(gv_rt *rt, const char *fn, uint64_t n) {
  gv_str *s;
  if (n > GAVEL_MAX_STR_BYTES) {
    str_limit(rt, fn, n);
    return NULL;
  }
  if (charge_bytes(rt, n))
    return NULL;
  s = gavel__str_new(rt->arena, NULL, (size_t)n);
  if (!s)
    gavel__rt_nomem(rt);
  return s;
}

/* *out = a copy of n bytes at p; 0, or 1 with the error recorded. */
static int ret_str(gv_rt *rt, gvalue *out, const char *fn, const char *p,
                   size_t n) {
  gv_str *s = str_alloc(rt, fn, n);
  if (!s)
    return 1;
  if (n)
    memcpy(s->s, p, n);
  *out = gv_strv(s);
  return 0;
}

/* A new array with room for 'n' elements (len 0); NULL with the error
** recorded. */
static gv_arr *arr_alloc(gv_rt *rt, const char *fn, uint64_t n) {
  gv_arr *a;
  if (n > GAVEL_MAX_ARR_LEN) {
    arr_limit(rt, fn, n);
    return NULL;
  }
  if (charge_elems(rt, n))
    return NULL;
  a = gavel__arr_new(rt->arena, (uint32_t)n);
  if (!a)
    gavel__rt_nomem(rt);
  return a;
}

/* ==== Argument checks (Ordo's require_* helpers) ==== */

/* Rust's 'f as i64': truncates, saturates, NaN -> 0. */
static int64_t f2i(double d) {
  if (d != d)
    return 0;
  if (d >= 9223372036854775808.0)
    return INT64_MAX;
  if (d <= -9223372036854775808.0)
    return INT64_MIN;
  return (int64_t)d;
}

/* Each getter returns 0 with the value, or 1 with the type error recorded
** (an explicit 1, so the compiler sees the out-parameter is set on 0). */
static int get_str(gv_rt *rt, gvalue v, gv_str **s) {
  if (v.tag == GV_STR) {
    *s = v.u.s;
    return 0;
  }
  gavel__rt_type_error(rt, "string", v);
  return 1;
}

/* require_int: an int, or a float truncated toward zero. */
static int get_int(gv_rt *rt, gvalue v, int64_t *i) {
  if (v.tag == GV_INT)
    *i = v.u.i;
  else if (v.tag == GV_FLOAT)
    *i = f2i(v.u.f);
  else {
    gavel__rt_type_error(rt, "int", v);
    return 1;
  }
  return 0;
}

/* require_float: an int or a float, as f64. */
static int get_num(gv_rt *rt, gvalue v, double *d) {
  if (gv_isnum(v)) {
    *d = gv_num(v);
    return 0;
  }
  gavel__rt_type_error(rt, "number", v);
  return 1;
}

static int get_arr(gv_rt *rt, gvalue v, gv_arr **a) {
  if (v.tag == GV_ARR) {
    *a = v.u.a;
    return 0;
  }
  gavel__rt_type_error(rt, "array", v);
  return 1;
}

static int get_obj(gv_rt *rt, gvalue v, gv_obj **o) {
  if (v.tag == GV_OBJ) {
    *o = v.u.o;
    return 0;
  }
  gavel__rt_type_error(rt, "object", v);
  return 1;
}

/* ==== UTF-8 ==== */

/* Decodes the char at 'p' ('n' > 0 bytes left) and sets *w to its width.
** A byte that does not start a valid sequence gives UTF8_BAD, width 1. */
static uint32_t utf8_dec(const char *sp, size_t n, int *w) {
  const unsigned char *p = (const unsigned char *)sp;
  uint32_t c = p[0];
  int k, i;
  *w = 1;
  if (c < 0x80)
    return c;
  if (c >= 0xC2 && c <= 0xDF) {
    k = 1;
    c &= 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    k = 2;
    c &= 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    k = 3;
    c &= 0x07;
  } else
    return UTF8_BAD;
  if ((size_t)k >= n)
    return UTF8_BAD;
  for (i = 1; i <= k; i++) {
    if ((p[i] & 0xC0) != 0x80)
      return UTF8_BAD;
    c = (c << 6) | (p[i] & 0x3F);
  }
  if ((k == 2 && (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF))) ||
      (k == 3 && (c < 0x10000 || c > 0x10FFFF)))
    return UTF8_BAD;
  *w = k + 1;
  return c;
}

/* Width of the char at p (n > 0 bytes left). */
static size_t utf8_width(const char *p, size_t n) {
  int w;
  if ((unsigned char)p[0] < 0x80)
    return 1;
  utf8_dec(p, n, &w);
  return (size_t)w;
}

/* Start of the char that ends at byte 'i' (i > 0). */
static size_t utf8_prev(const char *s, size_t i) {
  size_t j = i - 1;
  int k = 0, w;
  while (j > 0 && k < 3 && ((unsigned char)s[j] & 0xC0) == 0x80) {
    j--;
    k++;
  }
  utf8_dec(s + j, i - j, &w);
  return j + (size_t)w == i ? j : i - 1;
}

/* Encodes 'c' at 'd' (NULL: measures only); returns the width. */
static size_t utf8_enc(char *d, uint32_t c) {
  if (c < 0x80) {
    if (d)
      d[0] = (char)c;
    return 1;
  }
  if (c < 0x800) {
    if (d) {
      d[0] = (char)(0xC0 | (c >> 6));
      d[1] = (char)(0x80 | (c & 0x3F));
    }
    return 2;
  }
  if (c < 0x10000) {
    if (d) {
      d[0] = (char)(0xE0 | (c >> 12));
      d[1] = (char)(0x80 | ((c >> 6) & 0x3F));
      d[2] = (char)(0x80 | (c & 0x3F));
    }
    return 3;
  }
  if (d) {
    d[0] = (char)(0xF0 | (c >> 18));
    d[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    d[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    d[3] = (char)(0x80 | (c & 0x3F));
  }
  return 4;
}

/* Number of chars in n bytes at p. */
static uint64_t utf8_count(const char *p, size_t n) {
  uint64_t k = 0;
  size_t i = 0;
  while (i < n) {
    i += utf8_width(p + i, n - i);
    k++;
  }
  return k;
}

/* ==== String index: open addressing over arena memory ==== */

/* A set of strings with insertion order, sized once for at most 'max'
** keys.  Used for group_by groups, graph_reachable and merge. */
typedef struct str_index {
  uint32_t mask;   /* slots - 1 (slots a power of two)        */
  int32_t *slot;   /* -1 empty, else an index into 'keys'     */
  gv_str **keys;   /* keys in insertion order                 */
  uint32_t n_keys; /* keys in use                             */
} str_index;

/* 0, or 1 with the error recorded. */
static int sidx_init(gv_rt *rt, str_index *x, uint64_t max) {
  uint64_t slots = 8;
  while (slots < max * 2)
    slots *= 2;
  x->mask = (uint32_t)(slots - 1);
  x->n_keys = 0;
  x->slot = gavel__arena_alloc(rt->arena, slots * sizeof(int32_t));
  x->keys = gavel__arena_alloc(rt->arena, (max ? max : 1) * sizeof(gv_str *));
  if (!x->slot || !x->keys)
    return gavel__rt_nomem(rt);
  memset(x->slot, 0xFF, slots * sizeof(int32_t));
  return 0;
}

/* Index of the key (p, n) or -1; *pos gets the slot to insert into. */
static int32_t sidx_find(const str_index *x, const char *p, size_t n,
                         uint32_t *pos) {
  /* the seeded hash (value.h), not the string's cached one: keys from
  ** the input cannot be made to collide */
  uint32_t i = (uint32_t)gavel__hash_bytes(p, n) & x->mask;
  for (;; i = (i + 1) & x->mask) {
    int32_t k = x->slot[i];
    if (k < 0) {
      *pos = i;
      return -1;
    }
    if (gavel__str_eqn(x->keys[k], p, n))
      return k;
  }
}

/* Adds 'key' at the slot sidx_find returned; returns its index. */
static int32_t sidx_add(str_index *x, uint32_t pos, gv_str *key) {
  x->slot[pos] = (int32_t)x->n_keys;
  x->keys[x->n_keys] = key;
  return (int32_t)x->n_keys++;
}

/* ==== Unicode tables ==== */

/* Generated (Python 3.11 unicodedata, Unicode 14.0, one code point at a
** time through str.upper / str.lower) from the full case mappings that
** Rust's char::to_uppercase / to_lowercase apply: UnicodeData plus the
** unconditional SpecialCasing entries.  A range maps the code points
** lo, lo+step, ... below lo+n to c+delta. */
typedef struct case_range {
  uint32_t lo;   /* first code point                 */
  uint16_t n;    /* span of code points covered      */
  uint16_t step; /* 1, or 2 for alternating pairs    */
  int32_t delta; /* mapped = c + delta               */
} case_range;

/* A mapping to more than one char (ß -> SS). */
typedef struct case_special {
  uint32_t cp;    /* source code point              */
  uint32_t to[3]; /* mapped chars, 0-padded         */
} case_special;

static const case_range upper_ranges[] = {
  {0x61, 26, 1, -32}, {0xB5, 1, 1, 743}, {0xE0, 23, 1, -32}, {0xF8, 7, 1, -32},
  {0xFF, 1, 1, 121}, {0x101, 47, 2, -1}, {0x131, 1, 1, -232},
  {0x133, 5, 2, -1}, {0x13A, 15, 2, -1}, {0x14B, 45, 2, -1}, {0x17A, 5, 2, -1},
  {0x17F, 1, 1, -300}, {0x180, 1, 1, 195}, {0x183, 3, 2, -1},
  {0x188, 1, 1, -1}, {0x18C, 1, 1, -1}, {0x192, 1, 1, -1}, {0x195, 1, 1, 97},
  {0x199, 1, 1, -1}, {0x19A, 1, 1, 163}, {0x19E, 1, 1, 130}, {0x1A1, 5, 2, -1},
  {0x1A8, 1, 1, -1}, {0x1AD, 1, 1, -1}, {0x1B0, 1, 1, -1}, {0x1B4, 3, 2, -1},
  {0x1B9, 1, 1, -1}, {0x1BD, 1, 1, -1}, {0x1BF, 1, 1, 56}, {0x1C5, 1, 1, -1},
  {0x1C6, 1, 1, -2}, {0x1C8, 1, 1, -1}, {0x1C9, 1, 1, -2}, {0x1CB, 1, 1, -1},
  {0x1CC, 1, 1, -2}, {0x1CE, 15, 2, -1}, {0x1DD, 1, 1, -79},
  {0x1DF, 17, 2, -1}, {0x1F2, 1, 1, -1}, {0x1F3, 1, 1, -2}, {0x1F5, 1, 1, -1},
  {0x1F9, 39, 2, -1}, {0x223, 17, 2, -1}, {0x23C, 1, 1, -1},
  {0x23F, 2, 1, 10815}, {0x242, 1, 1, -1}, {0x247, 9, 2, -1},
  {0x250, 1, 1, 10783}, {0x251, 1, 1, 10780}, {0x252, 1, 1, 10782},
  {0x253, 1, 1, -210}, {0x254, 1, 1, -206}, {0x256, 2, 1, -205},
  {0x259, 1, 1, -202}, {0x25B, 1, 1, -203}, {0x25C, 1, 1, 42319},
  {0x260, 1, 1, -205}, {0x261, 1, 1, 42315}, {0x263, 1, 1, -207},
  {0x265, 1, 1, 42280}, {0x266, 1, 1, 42308}, {0x268, 1, 1, -209},
  {0x269, 1, 1, -211}, {0x26A, 1, 1, 42308}, {0x26B, 1, 1, 10743},
  {0x26C, 1, 1, 42305}, {0x26F, 1, 1, -211}, {0x271, 1, 1, 10749},
  {0x272, 1, 1, -213}, {0x275, 1, 1, -214}, {0x27D, 1, 1, 10727},
  {0x280, 1, 1, -218}, {0x282, 1, 1, 42307}, {0x283, 1, 1, -218},
  {0x287, 1, 1, 42282}, {0x288, 1, 1, -218}, {0x289, 1, 1, -69},
  {0x28A, 2, 1, -217}, {0x28C, 1, 1, -71}, {0x292, 1, 1, -219},
  {0x29D, 1, 1, 42261}, {0x29E, 1, 1, 42258}, {0x345, 1, 1, 84},
  {0x371, 3, 2, -1}, {0x377, 1, 1, -1}, {0x37B, 3, 1, 130}, {0x3AC, 1, 1, -38},
  {0x3AD, 3, 1, -37}, {0x3B1, 17, 1, -32}, {0x3C2, 1, 1, -31},
  {0x3C3, 9, 1, -32}, {0x3CC, 1, 1, -64}, {0x3CD, 2, 1, -63},
  {0x3D0, 1, 1, -62}, {0x3D1, 1, 1, -57}, {0x3D5, 1, 1, -47},
  {0x3D6, 1, 1, -54}, {0x3D7, 1, 1, -8}, {0x3D9, 23, 2, -1},
  {0x3F0, 1, 1, -86}, {0x3F1, 1, 1, -80}, {0x3F2, 1, 1, 7},
  {0x3F3, 1, 1, -116}, {0x3F5, 1, 1, -96}, {0x3F8, 1, 1, -1},
  {0x3FB, 1, 1, -1}, {0x430, 32, 1, -32}, {0x450, 16, 1, -80},
  {0x461, 33, 2, -1}, {0x48B, 53, 2, -1}, {0x4C2, 13, 2, -1},
  {0x4CF, 1, 1, -15}, {0x4D1, 95, 2, -1}, {0x561, 38, 1, -48},
  {0x10D0, 43, 1, 3008}, {0x10FD, 3, 1, 3008}, {0x13F8, 6, 1, -8},
  {0x1C80, 1, 1, -6254}, {0x1C81, 1, 1, -6253}, {0x1C82, 1, 1, -6244},
  {0x1C83, 2, 1, -6242}, {0x1C85, 1, 1, -6243}, {0x1C86, 1, 1, -6236},
  {0x1C87, 1, 1, -6181}, {0x1C88, 1, 1, 35266}, {0x1D79, 1, 1, 35332},
  {0x1D7D, 1, 1, 3814}, {0x1D8E, 1, 1, 35384}, {0x1E01, 149, 2, -1},
  {0x1E9B, 1, 1, -59}, {0x1EA1, 95, 2, -1}, {0x1F00, 8, 1, 8},
  {0x1F10, 6, 1, 8}, {0x1F20, 8, 1, 8}, {0x1F30, 8, 1, 8}, {0x1F40, 6, 1, 8},
  {0x1F51, 7, 2, 8}, {0x1F60, 8, 1, 8}, {0x1F70, 2, 1, 74}, {0x1F72, 4, 1, 86},
  {0x1F76, 2, 1, 100}, {0x1F78, 2, 1, 128}, {0x1F7A, 2, 1, 112},
  {0x1F7C, 2, 1, 126}, {0x1FB0, 2, 1, 8}, {0x1FBE, 1, 1, -7205},
  {0x1FD0, 2, 1, 8}, {0x1FE0, 2, 1, 8}, {0x1FE5, 1, 1, 7}, {0x214E, 1, 1, -28},
  {0x2170, 16, 1, -16}, {0x2184, 1, 1, -1}, {0x24D0, 26, 1, -26},
  {0x2C30, 48, 1, -48}, {0x2C61, 1, 1, -1}, {0x2C65, 1, 1, -10795},
  {0x2C66, 1, 1, -10792}, {0x2C68, 5, 2, -1}, {0x2C73, 1, 1, -1},
  {0x2C76, 1, 1, -1}, {0x2C81, 99, 2, -1}, {0x2CEC, 3, 2, -1},
  {0x2CF3, 1, 1, -1}, {0x2D00, 38, 1, -7264}, {0x2D27, 1, 1, -7264},
  {0x2D2D, 1, 1, -7264}, {0xA641, 45, 2, -1}, {0xA681, 27, 2, -1},
  {0xA723, 13, 2, -1}, {0xA733, 61, 2, -1}, {0xA77A, 3, 2, -1},
  {0xA77F, 9, 2, -1}, {0xA78C, 1, 1, -1}, {0xA791, 3, 2, -1},
  {0xA794, 1, 1, 48}, {0xA797, 19, 2, -1}, {0xA7B5, 15, 2, -1},
  {0xA7C8, 3, 2, -1}, {0xA7D1, 1, 1, -1}, {0xA7D7, 3, 2, -1},
  {0xA7F6, 1, 1, -1}, {0xAB53, 1, 1, -928}, {0xAB70, 80, 1, -38864},
  {0xFF41, 26, 1, -32}, {0x10428, 40, 1, -40}, {0x104D8, 36, 1, -40},
  {0x10597, 11, 1, -39}, {0x105A3, 15, 1, -39}, {0x105B3, 7, 1, -39},
  {0x105BB, 2, 1, -39}, {0x10CC0, 51, 1, -64}, {0x118C0, 32, 1, -32},
  {0x16E60, 32, 1, -32}, {0x1E922, 34, 1, -34},
};
static const case_special upper_special[] = {
  {0xDF, {0x53, 0x53, 0x0}}, {0x149, {0x2BC, 0x4E, 0x0}},
  {0x1F0, {0x4A, 0x30C, 0x0}}, {0x390, {0x399, 0x308, 0x301}},
  {0x3B0, {0x3A5, 0x308, 0x301}}, {0x587, {0x535, 0x552, 0x0}},
  {0x1E96, {0x48, 0x331, 0x0}}, {0x1E97, {0x54, 0x308, 0x0}},
  {0x1E98, {0x57, 0x30A, 0x0}}, {0x1E99, {0x59, 0x30A, 0x0}},
  {0x1E9A, {0x41, 0x2BE, 0x0}}, {0x1F50, {0x3A5, 0x313, 0x0}},
  {0x1F52, {0x3A5, 0x313, 0x300}}, {0x1F54, {0x3A5, 0x313, 0x301}},
  {0x1F56, {0x3A5, 0x313, 0x342}}, {0x1F80, {0x1F08, 0x399, 0x0}},
  {0x1F81, {0x1F09, 0x399, 0x0}}, {0x1F82, {0x1F0A, 0x399, 0x0}},
  {0x1F83, {0x1F0B, 0x399, 0x0}}, {0x1F84, {0x1F0C, 0x399, 0x0}},
  {0x1F85, {0x1F0D, 0x399, 0x0}}, {0x1F86, {0x1F0E, 0x399, 0x0}},
  {0x1F87, {0x1F0F, 0x399, 0x0}}, {0x1F88, {0x1F08, 0x399, 0x0}},
  {0x1F89, {0x1F09, 0x399, 0x0}}, {0x1F8A, {0x1F0A, 0x399, 0x0}},
  {0x1F8B, {0x1F0B, 0x399, 0x0}}, {0x1F8C, {0x1F0C, 0x399, 0x0}},
  {0x1F8D, {0x1F0D, 0x399, 0x0}}, {0x1F8E, {0x1F0E, 0x399, 0x0}},
  {0x1F8F, {0x1F0F, 0x399, 0x0}}, {0x1F90, {0x1F28, 0x399, 0x0}},
  {0x1F91, {0x1F29, 0x399, 0x0}}, {0x1F92, {0x1F2A, 0x399, 0x0}},
  {0x1F93, {0x1F2B, 0x399, 0x0}}, {0x1F94, {0x1F2C, 0x399, 0x0}},
  {0x1F95, {0x1F2D, 0x399, 0x0}}, {0x1F96, {0x1F2E, 0x399, 0x0}},
  {0x1F97, {0x1F2F, 0x399, 0x0}}, {0x1F98, {0x1F28, 0x399, 0x0}},
  {0x1F99, {0x1F29, 0x399, 0x0}}, {0x1F9A, {0x1F2A, 0x399, 0x0}},
  {0x1F9B, {0x1F2B, 0x399, 0x0}}, {0x1F9C, {0x1F2C, 0x399, 0x0}},
  {0x1F9D, {0x1F2D, 0x399, 0x0}}, {0x1F9E, {0x1F2E, 0x399, 0x0}},
  {0x1F9F, {0x1F2F, 0x399, 0x0}}, {0x1FA0, {0x1F68, 0x399, 0x0}},
  {0x1FA1, {0x1F69, 0x399, 0x0}}, {0x1FA2, {0x1F6A, 0x399, 0x0}},
  {0x1FA3, {0x1F6B, 0x399, 0x0}}, {0x1FA4, {0x1F6C, 0x399, 0x0}},
  {0x1FA5, {0x1F6D, 0x399, 0x0}}, {0x1FA6, {0x1F6E, 0x399, 0x0}},
  {0x1FA7, {0x1F6F, 0x399, 0x0}}, {0x1FA8, {0x1F68, 0x399, 0x0}},
  {0x1FA9, {0x1F69, 0x399, 0x0}}, {0x1FAA, {0x1F6A, 0x399, 0x0}},
  {0x1FAB, {0x1F6B, 0x399, 0x0}}, {0x1FAC, {0x1F6C, 0x399, 0x0}},
  {0x1FAD, {0x1F6D, 0x399, 0x0}}, {0x1FAE, {0x1F6E, 0x399, 0x0}},
  {0x1FAF, {0x1F6F, 0x399, 0x0}}, {0x1FB2, {0x1FBA, 0x399, 0x0}},
  {0x1FB3, {0x391, 0x399, 0x0}}, {0x1FB4, {0x386, 0x399, 0x0}},
  {0x1FB6, {0x391, 0x342, 0x0}}, {0x1FB7, {0x391, 0x342, 0x399}},
  {0x1FBC, {0x391, 0x399, 0x0}}, {0x1FC2, {0x1FCA, 0x399, 0x0}},
  {0x1FC3, {0x397, 0x399, 0x0}}, {0x1FC4, {0x389, 0x399, 0x0}},
  {0x1FC6, {0x397, 0x342, 0x0}}, {0x1FC7, {0x397, 0x342, 0x399}},
  {0x1FCC, {0x397, 0x399, 0x0}}, {0x1FD2, {0x399, 0x308, 0x300}},
  {0x1FD3, {0x399, 0x308, 0x301}}, {0x1FD6, {0x399, 0x342, 0x0}},
  {0x1FD7, {0x399, 0x308, 0x342}}, {0x1FE2, {0x3A5, 0x308, 0x300}},
  {0x1FE3, {0x3A5, 0x308, 0x301}}, {0x1FE4, {0x3A1, 0x313, 0x0}},
  {0x1FE6, {0x3A5, 0x342, 0x0}}, {0x1FE7, {0x3A5, 0x308, 0x342}},
  {0x1FF2, {0x1FFA, 0x399, 0x0}}, {0x1FF3, {0x3A9, 0x399, 0x0}},
  {0x1FF4, {0x38F, 0x399, 0x0}}, {0x1FF6, {0x3A9, 0x342, 0x0}},
  {0x1FF7, {0x3A9, 0x342, 0x399}}, {0x1FFC, {0x3A9, 0x399, 0x0}},
  {0xFB00, {0x46, 0x46, 0x0}}, {0xFB01, {0x46, 0x49, 0x0}},
  {0xFB02, {0x46, 0x4C, 0x0}}, {0xFB03, {0x46, 0x46, 0x49}},
  {0xFB04, {0x46, 0x46, 0x4C}}, {0xFB05, {0x53, 0x54, 0x0}},
  {0xFB06, {0x53, 0x54, 0x0}}, {0xFB13, {0x544, 0x546, 0x0}},
  {0xFB14, {0x544, 0x535, 0x0}}, {0xFB15, {0x544, 0x53B, 0x0}},
  {0xFB16, {0x54E, 0x546, 0x0}}, {0xFB17, {0x544, 0x53D, 0x0}},
};
static const case_range lower_ranges[] = {
  {0x41, 26, 1, 32}, {0xC0, 23, 1, 32}, {0xD8, 7, 1, 32}, {0x100, 47, 2, 1},
  {0x132, 5, 2, 1}, {0x139, 15, 2, 1}, {0x14A, 45, 2, 1}, {0x178, 1, 1, -121},
  {0x179, 5, 2, 1}, {0x181, 1, 1, 210}, {0x182, 3, 2, 1}, {0x186, 1, 1, 206},
  {0x187, 1, 1, 1}, {0x189, 2, 1, 205}, {0x18B, 1, 1, 1}, {0x18E, 1, 1, 79},
  {0x18F, 1, 1, 202}, {0x190, 1, 1, 203}, {0x191, 1, 1, 1}, {0x193, 1, 1, 205},
  {0x194, 1, 1, 207}, {0x196, 1, 1, 211}, {0x197, 1, 1, 209}, {0x198, 1, 1, 1},
  {0x19C, 1, 1, 211}, {0x19D, 1, 1, 213}, {0x19F, 1, 1, 214}, {0x1A0, 5, 2, 1},
  {0x1A6, 1, 1, 218}, {0x1A7, 1, 1, 1}, {0x1A9, 1, 1, 218}, {0x1AC, 1, 1, 1},
  {0x1AE, 1, 1, 218}, {0x1AF, 1, 1, 1}, {0x1B1, 2, 1, 217}, {0x1B3, 3, 2, 1},
  {0x1B7, 1, 1, 219}, {0x1B8, 1, 1, 1}, {0x1BC, 1, 1, 1}, {0x1C4, 1, 1, 2},
  {0x1C5, 1, 1, 1}, {0x1C7, 1, 1, 2}, {0x1C8, 1, 1, 1}, {0x1CA, 1, 1, 2},
  {0x1CB, 17, 2, 1}, {0x1DE, 17, 2, 1}, {0x1F1, 1, 1, 2}, {0x1F2, 3, 2, 1},
  {0x1F6, 1, 1, -97}, {0x1F7, 1, 1, -56}, {0x1F8, 39, 2, 1},
  {0x220, 1, 1, -130}, {0x222, 17, 2, 1}, {0x23A, 1, 1, 10795},
  {0x23B, 1, 1, 1}, {0x23D, 1, 1, -163}, {0x23E, 1, 1, 10792},
  {0x241, 1, 1, 1}, {0x243, 1, 1, -195}, {0x244, 1, 1, 69}, {0x245, 1, 1, 71},
  {0x246, 9, 2, 1}, {0x370, 3, 2, 1}, {0x376, 1, 1, 1}, {0x37F, 1, 1, 116},
  {0x386, 1, 1, 38}, {0x388, 3, 1, 37}, {0x38C, 1, 1, 64}, {0x38E, 2, 1, 63},
  {0x391, 17, 1, 32}, {0x3A3, 9, 1, 32}, {0x3CF, 1, 1, 8}, {0x3D8, 23, 2, 1},
  {0x3F4, 1, 1, -60}, {0x3F7, 1, 1, 1}, {0x3F9, 1, 1, -7}, {0x3FA, 1, 1, 1},
  {0x3FD, 3, 1, -130}, {0x400, 16, 1, 80}, {0x410, 32, 1, 32},
  {0x460, 33, 2, 1}, {0x48A, 53, 2, 1}, {0x4C0, 1, 1, 15}, {0x4C1, 13, 2, 1},
  {0x4D0, 95, 2, 1}, {0x531, 38, 1, 48}, {0x10A0, 38, 1, 7264},
  {0x10C7, 1, 1, 7264}, {0x10CD, 1, 1, 7264}, {0x13A0, 80, 1, 38864},
  {0x13F0, 6, 1, 8}, {0x1C90, 43, 1, -3008}, {0x1CBD, 3, 1, -3008},
  {0x1E00, 149, 2, 1}, {0x1E9E, 1, 1, -7615}, {0x1EA0, 95, 2, 1},
  {0x1F08, 8, 1, -8}, {0x1F18, 6, 1, -8}, {0x1F28, 8, 1, -8},
  {0x1F38, 8, 1, -8}, {0x1F48, 6, 1, -8}, {0x1F59, 7, 2, -8},
  {0x1F68, 8, 1, -8}, {0x1F88, 8, 1, -8}, {0x1F98, 8, 1, -8},
  {0x1FA8, 8, 1, -8}, {0x1FB8, 2, 1, -8}, {0x1FBA, 2, 1, -74},
  {0x1FBC, 1, 1, -9}, {0x1FC8, 4, 1, -86}, {0x1FCC, 1, 1, -9},
  {0x1FD8, 2, 1, -8}, {0x1FDA, 2, 1, -100}, {0x1FE8, 2, 1, -8},
  {0x1FEA, 2, 1, -112}, {0x1FEC, 1, 1, -7}, {0x1FF8, 2, 1, -128},
  {0x1FFA, 2, 1, -126}, {0x1FFC, 1, 1, -9}, {0x2126, 1, 1, -7517},
  {0x212A, 1, 1, -8383}, {0x212B, 1, 1, -8262}, {0x2132, 1, 1, 28},
  {0x2160, 16, 1, 16}, {0x2183, 1, 1, 1}, {0x24B6, 26, 1, 26},
  {0x2C00, 48, 1, 48}, {0x2C60, 1, 1, 1}, {0x2C62, 1, 1, -10743},
  {0x2C63, 1, 1, -3814}, {0x2C64, 1, 1, -10727}, {0x2C67, 5, 2, 1},
  {0x2C6D, 1, 1, -10780}, {0x2C6E, 1, 1, -10749}, {0x2C6F, 1, 1, -10783},
  {0x2C70, 1, 1, -10782}, {0x2C72, 1, 1, 1}, {0x2C75, 1, 1, 1},
  {0x2C7E, 2, 1, -10815}, {0x2C80, 99, 2, 1}, {0x2CEB, 3, 2, 1},
  {0x2CF2, 1, 1, 1}, {0xA640, 45, 2, 1}, {0xA680, 27, 2, 1},
  {0xA722, 13, 2, 1}, {0xA732, 61, 2, 1}, {0xA779, 3, 2, 1},
  {0xA77D, 1, 1, -35332}, {0xA77E, 9, 2, 1}, {0xA78B, 1, 1, 1},
  {0xA78D, 1, 1, -42280}, {0xA790, 3, 2, 1}, {0xA796, 19, 2, 1},
  {0xA7AA, 1, 1, -42308}, {0xA7AB, 1, 1, -42319}, {0xA7AC, 1, 1, -42315},
  {0xA7AD, 1, 1, -42305}, {0xA7AE, 1, 1, -42308}, {0xA7B0, 1, 1, -42258},
  {0xA7B1, 1, 1, -42282}, {0xA7B2, 1, 1, -42261}, {0xA7B3, 1, 1, 928},
  {0xA7B4, 15, 2, 1}, {0xA7C4, 1, 1, -48}, {0xA7C5, 1, 1, -42307},
  {0xA7C6, 1, 1, -35384}, {0xA7C7, 3, 2, 1}, {0xA7D0, 1, 1, 1},
  {0xA7D6, 3, 2, 1}, {0xA7F5, 1, 1, 1}, {0xFF21, 26, 1, 32},
  {0x10400, 40, 1, 40}, {0x104B0, 36, 1, 40}, {0x10570, 11, 1, 39},
  {0x1057C, 15, 1, 39}, {0x1058C, 7, 1, 39}, {0x10594, 2, 1, 39},
  {0x10C80, 51, 1, 64}, {0x118A0, 32, 1, 32}, {0x16E40, 32, 1, 32},
  {0x1E900, 34, 1, 34},
};
static const case_special lower_special[] = {
  {0x130, {0x69, 0x307, 0x0}},
};
/* Case_Ignorable and Cased (less the Case_Ignorable ones), for lower()'s
** Final_Sigma rule, as [lo, hi] ranges. */
static const uint32_t case_ignorable[][2] = {
  {0x27, 0x27}, {0x2E, 0x2E}, {0x3A, 0x3A}, {0x5E, 0x5E}, {0x60, 0x60},
  {0xA8, 0xA8}, {0xAD, 0xAD}, {0xAF, 0xAF}, {0xB4, 0xB4}, {0xB7, 0xB8},
  {0x2B0, 0x36F}, {0x374, 0x375}, {0x37A, 0x37A}, {0x384, 0x385},
  {0x387, 0x387}, {0x483, 0x489}, {0x559, 0x559}, {0x55F, 0x55F},
  {0x591, 0x5BD}, {0x5BF, 0x5BF}, {0x5C1, 0x5C2}, {0x5C4, 0x5C5},
  {0x5C7, 0x5C7}, {0x5F4, 0x5F4}, {0x600, 0x605}, {0x610, 0x61A},
  {0x61C, 0x61C}, {0x640, 0x640}, {0x64B, 0x65F}, {0x670, 0x670},
  {0x6D6, 0x6DD}, {0x6DF, 0x6E8}, {0x6EA, 0x6ED}, {0x70F, 0x70F},
  {0x711, 0x711}, {0x730, 0x74A}, {0x7A6, 0x7B0}, {0x7EB, 0x7F5},
  {0x7FA, 0x7FA}, {0x7FD, 0x7FD}, {0x816, 0x82D}, {0x859, 0x85B},
  {0x888, 0x888}, {0x890, 0x891}, {0x898, 0x89F}, {0x8C9, 0x902},
  {0x93A, 0x93A}, {0x93C, 0x93C}, {0x941, 0x948}, {0x94D, 0x94D},
  {0x951, 0x957}, {0x962, 0x963}, {0x971, 0x971}, {0x981, 0x981},
  {0x9BC, 0x9BC}, {0x9C1, 0x9C4}, {0x9CD, 0x9CD}, {0x9E2, 0x9E3},
  {0x9FE, 0x9FE}, {0xA01, 0xA02}, {0xA3C, 0xA3C}, {0xA41, 0xA42},
  {0xA47, 0xA48}, {0xA4B, 0xA4D}, {0xA51, 0xA51}, {0xA70, 0xA71},
  {0xA75, 0xA75}, {0xA81, 0xA82}, {0xABC, 0xABC}, {0xAC1, 0xAC5},
  {0xAC7, 0xAC8}, {0xACD, 0xACD}, {0xAE2, 0xAE3}, {0xAFA, 0xAFF},
  {0xB01, 0xB01}, {0xB3C, 0xB3C}, {0xB3F, 0xB3F}, {0xB41, 0xB44},
  {0xB4D, 0xB4D}, {0xB55, 0xB56}, {0xB62, 0xB63}, {0xB82, 0xB82},
  {0xBC0, 0xBC0}, {0xBCD, 0xBCD}, {0xC00, 0xC00}, {0xC04, 0xC04},
  {0xC3C, 0xC3C}, {0xC3E, 0xC40}, {0xC46, 0xC48}, {0xC4A, 0xC4D},
  {0xC55, 0xC56}, {0xC62, 0xC63}, {0xC81, 0xC81}, {0xCBC, 0xCBC},
  {0xCBF, 0xCBF}, {0xCC6, 0xCC6}, {0xCCC, 0xCCD}, {0xCE2, 0xCE3},
  {0xD00, 0xD01}, {0xD3B, 0xD3C}, {0xD41, 0xD44}, {0xD4D, 0xD4D},
  {0xD62, 0xD63}, {0xD81, 0xD81}, {0xDCA, 0xDCA}, {0xDD2, 0xDD4},
  {0xDD6, 0xDD6}, {0xE31, 0xE31}, {0xE34, 0xE3A}, {0xE46, 0xE4E},
  {0xEB1, 0xEB1}, {0xEB4, 0xEBC}, {0xEC6, 0xEC6}, {0xEC8, 0xECD},
  {0xF18, 0xF19}, {0xF35, 0xF35}, {0xF37, 0xF37}, {0xF39, 0xF39},
  {0xF71, 0xF7E}, {0xF80, 0xF84}, {0xF86, 0xF87}, {0xF8D, 0xF97},
  {0xF99, 0xFBC}, {0xFC6, 0xFC6}, {0x102D, 0x1030}, {0x1032, 0x1037},
  {0x1039, 0x103A}, {0x103D, 0x103E}, {0x1058, 0x1059}, {0x105E, 0x1060},
  {0x1071, 0x1074}, {0x1082, 0x1082}, {0x1085, 0x1086}, {0x108D, 0x108D},
  {0x109D, 0x109D}, {0x10FC, 0x10FC}, {0x135D, 0x135F}, {0x1712, 0x1714},
  {0x1732, 0x1733}, {0x1752, 0x1753}, {0x1772, 0x1773}, {0x17B4, 0x17B5},
  {0x17B7, 0x17BD}, {0x17C6, 0x17C6}, {0x17C9, 0x17D3}, {0x17D7, 0x17D7},
  {0x17DD, 0x17DD}, {0x180B, 0x180F}, {0x1843, 0x1843}, {0x1885, 0x1886},
  {0x18A9, 0x18A9}, {0x1920, 0x1922}, {0x1927, 0x1928}, {0x1932, 0x1932},
  {0x1939, 0x193B}, {0x1A17, 0x1A18}, {0x1A1B, 0x1A1B}, {0x1A56, 0x1A56},
  {0x1A58, 0x1A5E}, {0x1A60, 0x1A60}, {0x1A62, 0x1A62}, {0x1A65, 0x1A6C},
  {0x1A73, 0x1A7C}, {0x1A7F, 0x1A7F}, {0x1AA7, 0x1AA7}, {0x1AB0, 0x1ACE},
  {0x1B00, 0x1B03}, {0x1B34, 0x1B34}, {0x1B36, 0x1B3A}, {0x1B3C, 0x1B3C},
  {0x1B42, 0x1B42}, {0x1B6B, 0x1B73}, {0x1B80, 0x1B81}, {0x1BA2, 0x1BA5},
  {0x1BA8, 0x1BA9}, {0x1BAB, 0x1BAD}, {0x1BE6, 0x1BE6}, {0x1BE8, 0x1BE9},
  {0x1BED, 0x1BED}, {0x1BEF, 0x1BF1}, {0x1C2C, 0x1C33}, {0x1C36, 0x1C37},
  {0x1C78, 0x1C7D}, {0x1CD0, 0x1CD2}, {0x1CD4, 0x1CE0}, {0x1CE2, 0x1CE8},
  {0x1CED, 0x1CED}, {0x1CF4, 0x1CF4}, {0x1CF8, 0x1CF9}, {0x1D2C, 0x1D6A},
  {0x1D78, 0x1D78}, {0x1D9B, 0x1DFF}, {0x1FBD, 0x1FBD}, {0x1FBF, 0x1FC1},
  {0x1FCD, 0x1FCF}, {0x1FDD, 0x1FDF}, {0x1FED, 0x1FEF}, {0x1FFD, 0x1FFE},
  {0x200B, 0x200F}, {0x2018, 0x2019}, {0x2024, 0x2024}, {0x2027, 0x2027},
  {0x202A, 0x202E}, {0x2060, 0x2064}, {0x2066, 0x206F}, {0x2071, 0x2071},
  {0x207F, 0x207F}, {0x2090, 0x209C}, {0x20D0, 0x20F0}, {0x2C7C, 0x2C7D},
  {0x2CEF, 0x2CF1}, {0x2D6F, 0x2D6F}, {0x2D7F, 0x2D7F}, {0x2DE0, 0x2DFF},
  {0x2E2F, 0x2E2F}, {0x3005, 0x3005}, {0x302A, 0x302D}, {0x3031, 0x3035},
  {0x303B, 0x303B}, {0x3099, 0x309E}, {0x30FC, 0x30FE}, {0xA015, 0xA015},
  {0xA4F8, 0xA4FD}, {0xA60C, 0xA60C}, {0xA66F, 0xA672}, {0xA674, 0xA67D},
  {0xA67F, 0xA67F}, {0xA69C, 0xA69F}, {0xA6F0, 0xA6F1}, {0xA700, 0xA721},
  {0xA770, 0xA770}, {0xA788, 0xA78A}, {0xA7F2, 0xA7F4}, {0xA7F8, 0xA7F9},
  {0xA802, 0xA802}, {0xA806, 0xA806}, {0xA80B, 0xA80B}, {0xA825, 0xA826},
  {0xA82C, 0xA82C}, {0xA8C4, 0xA8C5}, {0xA8E0, 0xA8F1}, {0xA8FF, 0xA8FF},
  {0xA926, 0xA92D}, {0xA947, 0xA951}, {0xA980, 0xA982}, {0xA9B3, 0xA9B3},
  {0xA9B6, 0xA9B9}, {0xA9BC, 0xA9BD}, {0xA9CF, 0xA9CF}, {0xA9E5, 0xA9E6},
  {0xAA29, 0xAA2E}, {0xAA31, 0xAA32}, {0xAA35, 0xAA36}, {0xAA43, 0xAA43},
  {0xAA4C, 0xAA4C}, {0xAA70, 0xAA70}, {0xAA7C, 0xAA7C}, {0xAAB0, 0xAAB0},
  {0xAAB2, 0xAAB4}, {0xAAB7, 0xAAB8}, {0xAABE, 0xAABF}, {0xAAC1, 0xAAC1},
  {0xAADD, 0xAADD}, {0xAAEC, 0xAAED}, {0xAAF3, 0xAAF4}, {0xAAF6, 0xAAF6},
  {0xAB5B, 0xAB5F}, {0xAB69, 0xAB6B}, {0xABE5, 0xABE5}, {0xABE8, 0xABE8},
  {0xABED, 0xABED}, {0xFB1E, 0xFB1E}, {0xFBB2, 0xFBC2}, {0xFE00, 0xFE0F},
  {0xFE13, 0xFE13}, {0xFE20, 0xFE2F}, {0xFE52, 0xFE52}, {0xFE55, 0xFE55},
  {0xFEFF, 0xFEFF}, {0xFF07, 0xFF07}, {0xFF0E, 0xFF0E}, {0xFF1A, 0xFF1A},
  {0xFF3E, 0xFF3E}, {0xFF40, 0xFF40}, {0xFF70, 0xFF70}, {0xFF9E, 0xFF9F},
  {0xFFE3, 0xFFE3}, {0xFFF9, 0xFFFB}, {0x101FD, 0x101FD}, {0x102E0, 0x102E0},
  {0x10376, 0x1037A}, {0x10780, 0x10785}, {0x10787, 0x107B0},
  {0x107B2, 0x107BA}, {0x10A01, 0x10A03}, {0x10A05, 0x10A06},
  {0x10A0C, 0x10A0F}, {0x10A38, 0x10A3A}, {0x10A3F, 0x10A3F},
  {0x10AE5, 0x10AE6}, {0x10D24, 0x10D27}, {0x10EAB, 0x10EAC},
  {0x10F46, 0x10F50}, {0x10F82, 0x10F85}, {0x11001, 0x11001},
  {0x11038, 0x11046}, {0x11070, 0x11070}, {0x11073, 0x11074},
  {0x1107F, 0x11081}, {0x110B3, 0x110B6}, {0x110B9, 0x110BA},
  {0x110BD, 0x110BD}, {0x110C2, 0x110C2}, {0x110CD, 0x110CD},
  {0x11100, 0x11102}, {0x11127, 0x1112B}, {0x1112D, 0x11134},
  {0x11173, 0x11173}, {0x11180, 0x11181}, {0x111B6, 0x111BE},
  {0x111C9, 0x111CC}, {0x111CF, 0x111CF}, {0x1122F, 0x11231},
  {0x11234, 0x11234}, {0x11236, 0x11237}, {0x1123E, 0x1123E},
  {0x112DF, 0x112DF}, {0x112E3, 0x112EA}, {0x11300, 0x11301},
  {0x1133B, 0x1133C}, {0x11340, 0x11340}, {0x11366, 0x1136C},
  {0x11370, 0x11374}, {0x11438, 0x1143F}, {0x11442, 0x11444},
  {0x11446, 0x11446}, {0x1145E, 0x1145E}, {0x114B3, 0x114B8},
  {0x114BA, 0x114BA}, {0x114BF, 0x114C0}, {0x114C2, 0x114C3},
  {0x115B2, 0x115B5}, {0x115BC, 0x115BD}, {0x115BF, 0x115C0},
  {0x115DC, 0x115DD}, {0x11633, 0x1163A}, {0x1163D, 0x1163D},
  {0x1163F, 0x11640}, {0x116AB, 0x116AB}, {0x116AD, 0x116AD},
  {0x116B0, 0x116B5}, {0x116B7, 0x116B7}, {0x1171D, 0x1171F},
  {0x11722, 0x11725}, {0x11727, 0x1172B}, {0x1182F, 0x11837},
  {0x11839, 0x1183A}, {0x1193B, 0x1193C}, {0x1193E, 0x1193E},
  {0x11943, 0x11943}, {0x119D4, 0x119D7}, {0x119DA, 0x119DB},
  {0x119E0, 0x119E0}, {0x11A01, 0x11A0A}, {0x11A33, 0x11A38},
  {0x11A3B, 0x11A3E}, {0x11A47, 0x11A47}, {0x11A51, 0x11A56},
  {0x11A59, 0x11A5B}, {0x11A8A, 0x11A96}, {0x11A98, 0x11A99},
  {0x11C30, 0x11C36}, {0x11C38, 0x11C3D}, {0x11C3F, 0x11C3F},
  {0x11C92, 0x11CA7}, {0x11CAA, 0x11CB0}, {0x11CB2, 0x11CB3},
  {0x11CB5, 0x11CB6}, {0x11D31, 0x11D36}, {0x11D3A, 0x11D3A},
  {0x11D3C, 0x11D3D}, {0x11D3F, 0x11D45}, {0x11D47, 0x11D47},
  {0x11D90, 0x11D91}, {0x11D95, 0x11D95}, {0x11D97, 0x11D97},
  {0x11EF3, 0x11EF4}, {0x13430, 0x13438}, {0x16AF0, 0x16AF4},
  {0x16B30, 0x16B36}, {0x16B40, 0x16B43}, {0x16F4F, 0x16F4F},
  {0x16F8F, 0x16F9F}, {0x16FE0, 0x16FE1}, {0x16FE3, 0x16FE4},
  {0x1AFF0, 0x1AFF3}, {0x1AFF5, 0x1AFFB}, {0x1AFFD, 0x1AFFE},
  {0x1BC9D, 0x1BC9E}, {0x1BCA0, 0x1BCA3}, {0x1CF00, 0x1CF2D},
  {0x1CF30, 0x1CF46}, {0x1D167, 0x1D169}, {0x1D173, 0x1D182},
  {0x1D185, 0x1D18B}, {0x1D1AA, 0x1D1AD}, {0x1D242, 0x1D244},
  {0x1DA00, 0x1DA36}, {0x1DA3B, 0x1DA6C}, {0x1DA75, 0x1DA75},
  {0x1DA84, 0x1DA84}, {0x1DA9B, 0x1DA9F}, {0x1DAA1, 0x1DAAF},
  {0x1E000, 0x1E006}, {0x1E008, 0x1E018}, {0x1E01B, 0x1E021},
  {0x1E023, 0x1E024}, {0x1E026, 0x1E02A}, {0x1E130, 0x1E13D},
  {0x1E2AE, 0x1E2AE}, {0x1E2EC, 0x1E2EF}, {0x1E8D0, 0x1E8D6},
  {0x1E944, 0x1E94B}, {0x1F3FB, 0x1F3FF}, {0xE0001, 0xE0001},
  {0xE0020, 0xE007F}, {0xE0100, 0xE01EF},
};
static const uint32_t cased[][2] = {
  {0x41, 0x5A}, {0x61, 0x7A}, {0xAA, 0xAA}, {0xB5, 0xB5}, {0xBA, 0xBA},
  {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x1BA}, {0x1BC, 0x1BF}, {0x1C4, 0x293},
  {0x295, 0x2AF}, {0x370, 0x373}, {0x376, 0x377}, {0x37B, 0x37D},
  {0x37F, 0x37F}, {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C},
  {0x38E, 0x3A1}, {0x3A3, 0x3F5}, {0x3F7, 0x481}, {0x48A, 0x52F},
  {0x531, 0x556}, {0x560, 0x588}, {0x10A0, 0x10C5}, {0x10C7, 0x10C7},
  {0x10CD, 0x10CD}, {0x10D0, 0x10FA}, {0x10FD, 0x10FF}, {0x13A0, 0x13F5},
  {0x13F8, 0x13FD}, {0x1C80, 0x1C88}, {0x1C90, 0x1CBA}, {0x1CBD, 0x1CBF},
  {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A}, {0x1E00, 0x1F15},
  {0x1F18, 0x1F1D}, {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57},
  {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D},
  {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4},
  {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC},
  {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102}, {0x2107, 0x2107},
  {0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124},
  {0x2126, 0x2126}, {0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2134},
  {0x2139, 0x2139}, {0x213C, 0x213F}, {0x2145, 0x2149}, {0x214E, 0x214E},
  {0x2160, 0x217F}, {0x2183, 0x2184}, {0x24B6, 0x24E9}, {0x2C00, 0x2C7B},
  {0x2C7E, 0x2CE4}, {0x2CEB, 0x2CEE}, {0x2CF2, 0x2CF3}, {0x2D00, 0x2D25},
  {0x2D27, 0x2D27}, {0x2D2D, 0x2D2D}, {0xA640, 0xA66D}, {0xA680, 0xA69B},
  {0xA722, 0xA76F}, {0xA771, 0xA787}, {0xA78B, 0xA78E}, {0xA790, 0xA7CA},
  {0xA7D0, 0xA7D1}, {0xA7D3, 0xA7D3}, {0xA7D5, 0xA7D9}, {0xA7F5, 0xA7F6},
  {0xA7FA, 0xA7FA}, {0xAB30, 0xAB5A}, {0xAB60, 0xAB68}, {0xAB70, 0xABBF},
  {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A},
  {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
  {0x10570, 0x1057A}, {0x1057C, 0x1058A}, {0x1058C, 0x10592},
  {0x10594, 0x10595}, {0x10597, 0x105A1}, {0x105A3, 0x105B1},
  {0x105B3, 0x105B9}, {0x105BB, 0x105BC}, {0x10C80, 0x10CB2},
  {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x16E40, 0x16E7F},
  {0x1D400, 0x1D454}, {0x1D456, 0x1D49C}, {0x1D49E, 0x1D49F},
  {0x1D4A2, 0x1D4A2}, {0x1D4A5, 0x1D4A6}, {0x1D4A9, 0x1D4AC},
  {0x1D4AE, 0x1D4B9}, {0x1D4BB, 0x1D4BB}, {0x1D4BD, 0x1D4C3},
  {0x1D4C5, 0x1D505}, {0x1D507, 0x1D50A}, {0x1D50D, 0x1D514},
  {0x1D516, 0x1D51C}, {0x1D51E, 0x1D539}, {0x1D53B, 0x1D53E},
  {0x1D540, 0x1D544}, {0x1D546, 0x1D546}, {0x1D54A, 0x1D550},
  {0x1D552, 0x1D6A5}, {0x1D6A8, 0x1D6C0}, {0x1D6C2, 0x1D6DA},
  {0x1D6DC, 0x1D6FA}, {0x1D6FC, 0x1D714}, {0x1D716, 0x1D734},
  {0x1D736, 0x1D74E}, {0x1D750, 0x1D76E}, {0x1D770, 0x1D788},
  {0x1D78A, 0x1D7A8}, {0x1D7AA, 0x1D7C2}, {0x1D7C4, 0x1D7CB},
  {0x1DF00, 0x1DF09}, {0x1DF0B, 0x1DF1E}, {0x1E900, 0x1E943},
  {0x1F130, 0x1F149}, {0x1F150, 0x1F169}, {0x1F170, 0x1F189},
};

/* Chars Rust's str Debug writes as \u{...}: general categories Cc, Cf,
** Zs (but ' '), Zl, Zp, Co, and Grapheme_Extend.  (Unassigned code points,
** which Rust also escapes, are written raw.) */
static const uint32_t debug_escape[][2] = {
  {0x0, 0x1F}, {0x7F, 0xA0}, {0xAD, 0xAD}, {0x300, 0x36F}, {0x483, 0x489},
  {0x591, 0x5BD}, {0x5BF, 0x5BF}, {0x5C1, 0x5C2}, {0x5C4, 0x5C5},
  {0x5C7, 0x5C7}, {0x600, 0x605}, {0x610, 0x61A}, {0x61C, 0x61C},
  {0x64B, 0x65F}, {0x670, 0x670}, {0x6D6, 0x6DD}, {0x6DF, 0x6E4},
  {0x6E7, 0x6E8}, {0x6EA, 0x6ED}, {0x70F, 0x70F}, {0x711, 0x711},
  {0x730, 0x74A}, {0x7A6, 0x7B0}, {0x7EB, 0x7F3}, {0x7FD, 0x7FD},
  {0x816, 0x819}, {0x81B, 0x823}, {0x825, 0x827}, {0x829, 0x82D},
  {0x859, 0x85B}, {0x890, 0x891}, {0x898, 0x89F}, {0x8CA, 0x902},
  {0x93A, 0x93A}, {0x93C, 0x93C}, {0x941, 0x948}, {0x94D, 0x94D},
  {0x951, 0x957}, {0x962, 0x963}, {0x981, 0x981}, {0x9BC, 0x9BC},
  {0x9BE, 0x9BE}, {0x9C1, 0x9C4}, {0x9CD, 0x9CD}, {0x9D7, 0x9D7},
  {0x9E2, 0x9E3}, {0x9FE, 0x9FE}, {0xA01, 0xA02}, {0xA3C, 0xA3C},
  {0xA41, 0xA42}, {0xA47, 0xA48}, {0xA4B, 0xA4D}, {0xA51, 0xA51},
  {0xA70, 0xA71}, {0xA75, 0xA75}, {0xA81, 0xA82}, {0xABC, 0xABC},
  {0xAC1, 0xAC5}, {0xAC7, 0xAC8}, {0xACD, 0xACD}, {0xAE2, 0xAE3},
  {0xAFA, 0xAFF}, {0xB01, 0xB01}, {0xB3C, 0xB3C}, {0xB3E, 0xB3F},
  {0xB41, 0xB44}, {0xB4D, 0xB4D}, {0xB55, 0xB57}, {0xB62, 0xB63},
  {0xB82, 0xB82}, {0xBBE, 0xBBE}, {0xBC0, 0xBC0}, {0xBCD, 0xBCD},
  {0xBD7, 0xBD7}, {0xC00, 0xC00}, {0xC04, 0xC04}, {0xC3C, 0xC3C},
  {0xC3E, 0xC40}, {0xC46, 0xC48}, {0xC4A, 0xC4D}, {0xC55, 0xC56},
  {0xC62, 0xC63}, {0xC81, 0xC81}, {0xCBC, 0xCBC}, {0xCBF, 0xCBF},
  {0xCC2, 0xCC2}, {0xCC6, 0xCC6}, {0xCCC, 0xCCD}, {0xCD5, 0xCD6},
  {0xCE2, 0xCE3}, {0xD00, 0xD01}, {0xD3B, 0xD3C}, {0xD3E, 0xD3E},
  {0xD41, 0xD44}, {0xD4D, 0xD4D}, {0xD57, 0xD57}, {0xD62, 0xD63},
  {0xD81, 0xD81}, {0xDCA, 0xDCA}, {0xDCF, 0xDCF}, {0xDD2, 0xDD4},
  {0xDD6, 0xDD6}, {0xDDF, 0xDDF}, {0xE31, 0xE31}, {0xE34, 0xE3A},
  {0xE47, 0xE4E}, {0xEB1, 0xEB1}, {0xEB4, 0xEBC}, {0xEC8, 0xECD},
  {0xF18, 0xF19}, {0xF35, 0xF35}, {0xF37, 0xF37}, {0xF39, 0xF39},
  {0xF71, 0xF7E}, {0xF80, 0xF84}, {0xF86, 0xF87}, {0xF8D, 0xF97},
  {0xF99, 0xFBC}, {0xFC6, 0xFC6}, {0x102D, 0x1030}, {0x1032, 0x1037},
  {0x1039, 0x103A}, {0x103D, 0x103E}, {0x1058, 0x1059}, {0x105E, 0x1060},
  {0x1071, 0x1074}, {0x1082, 0x1082}, {0x1085, 0x1086}, {0x108D, 0x108D},
  {0x109D, 0x109D}, {0x135D, 0x135F}, {0x1680, 0x1680}, {0x1712, 0x1714},
  {0x1732, 0x1733}, {0x1752, 0x1753}, {0x1772, 0x1773}, {0x17B4, 0x17B5},
  {0x17B7, 0x17BD}, {0x17C6, 0x17C6}, {0x17C9, 0x17D3}, {0x17DD, 0x17DD},
  {0x180B, 0x180F}, {0x1885, 0x1886}, {0x18A9, 0x18A9}, {0x1920, 0x1922},
  {0x1927, 0x1928}, {0x1932, 0x1932}, {0x1939, 0x193B}, {0x1A17, 0x1A18},
  {0x1A1B, 0x1A1B}, {0x1A56, 0x1A56}, {0x1A58, 0x1A5E}, {0x1A60, 0x1A60},
  {0x1A62, 0x1A62}, {0x1A65, 0x1A6C}, {0x1A73, 0x1A7C}, {0x1A7F, 0x1A7F},
  {0x1AB0, 0x1ACE}, {0x1B00, 0x1B03}, {0x1B34, 0x1B3A}, {0x1B3C, 0x1B3C},
  {0x1B42, 0x1B42}, {0x1B6B, 0x1B73}, {0x1B80, 0x1B81}, {0x1BA2, 0x1BA5},
  {0x1BA8, 0x1BA9}, {0x1BAB, 0x1BAD}, {0x1BE6, 0x1BE6}, {0x1BE8, 0x1BE9},
  {0x1BED, 0x1BED}, {0x1BEF, 0x1BF1}, {0x1C2C, 0x1C33}, {0x1C36, 0x1C37},
  {0x1CD0, 0x1CD2}, {0x1CD4, 0x1CE0}, {0x1CE2, 0x1CE8}, {0x1CED, 0x1CED},
  {0x1CF4, 0x1CF4}, {0x1CF8, 0x1CF9}, {0x1DC0, 0x1DFF}, {0x2000, 0x200F},
  {0x2028, 0x202F}, {0x205F, 0x2064}, {0x2066, 0x206F}, {0x20D0, 0x20F0},
  {0x2CEF, 0x2CF1}, {0x2D7F, 0x2D7F}, {0x2DE0, 0x2DFF}, {0x3000, 0x3000},
  {0x302A, 0x302F}, {0x3099, 0x309A}, {0xA66F, 0xA672}, {0xA674, 0xA67D},
  {0xA69E, 0xA69F}, {0xA6F0, 0xA6F1}, {0xA802, 0xA802}, {0xA806, 0xA806},
  {0xA80B, 0xA80B}, {0xA825, 0xA826}, {0xA82C, 0xA82C}, {0xA8C4, 0xA8C5},
  {0xA8E0, 0xA8F1}, {0xA8FF, 0xA8FF}, {0xA926, 0xA92D}, {0xA947, 0xA951},
  {0xA980, 0xA982}, {0xA9B3, 0xA9B3}, {0xA9B6, 0xA9B9}, {0xA9BC, 0xA9BD},
  {0xA9E5, 0xA9E5}, {0xAA29, 0xAA2E}, {0xAA31, 0xAA32}, {0xAA35, 0xAA36},
  {0xAA43, 0xAA43}, {0xAA4C, 0xAA4C}, {0xAA7C, 0xAA7C}, {0xAAB0, 0xAAB0},
  {0xAAB2, 0xAAB4}, {0xAAB7, 0xAAB8}, {0xAABE, 0xAABF}, {0xAAC1, 0xAAC1},
  {0xAAEC, 0xAAED}, {0xAAF6, 0xAAF6}, {0xABE5, 0xABE5}, {0xABE8, 0xABE8},
  {0xABED, 0xABED}, {0xE000, 0xF8FF}, {0xFB1E, 0xFB1E}, {0xFE00, 0xFE0F},
  {0xFE20, 0xFE2F}, {0xFEFF, 0xFEFF}, {0xFF9E, 0xFF9F}, {0xFFF9, 0xFFFB},
  {0x101FD, 0x101FD}, {0x102E0, 0x102E0}, {0x10376, 0x1037A},
  {0x10A01, 0x10A03}, {0x10A05, 0x10A06}, {0x10A0C, 0x10A0F},
  {0x10A38, 0x10A3A}, {0x10A3F, 0x10A3F}, {0x10AE5, 0x10AE6},
  {0x10D24, 0x10D27}, {0x10EAB, 0x10EAC}, {0x10F46, 0x10F50},
  {0x10F82, 0x10F85}, {0x11001, 0x11001}, {0x11038, 0x11046},
  {0x11070, 0x11070}, {0x11073, 0x11074}, {0x1107F, 0x11081},
  {0x110B3, 0x110B6}, {0x110B9, 0x110BA}, {0x110BD, 0x110BD},
  {0x110C2, 0x110C2}, {0x110CD, 0x110CD}, {0x11100, 0x11102},
  {0x11127, 0x1112B}, {0x1112D, 0x11134}, {0x11173, 0x11173},
  {0x11180, 0x11181}, {0x111B6, 0x111BE}, {0x111C9, 0x111CC},
  {0x111CF, 0x111CF}, {0x1122F, 0x11231}, {0x11234, 0x11234},
  {0x11236, 0x11237}, {0x1123E, 0x1123E}, {0x112DF, 0x112DF},
  {0x112E3, 0x112EA}, {0x11300, 0x11301}, {0x1133B, 0x1133C},
  {0x1133E, 0x1133E}, {0x11340, 0x11340}, {0x11357, 0x11357},
  {0x11366, 0x1136C}, {0x11370, 0x11374}, {0x11438, 0x1143F},
  {0x11442, 0x11444}, {0x11446, 0x11446}, {0x1145E, 0x1145E},
  {0x114B0, 0x114B0}, {0x114B3, 0x114B8}, {0x114BA, 0x114BA},
  {0x114BD, 0x114BD}, {0x114BF, 0x114C0}, {0x114C2, 0x114C3},
  {0x115AF, 0x115AF}, {0x115B2, 0x115B5}, {0x115BC, 0x115BD},
  {0x115BF, 0x115C0}, {0x115DC, 0x115DD}, {0x11633, 0x1163A},
  {0x1163D, 0x1163D}, {0x1163F, 0x11640}, {0x116AB, 0x116AB},
  {0x116AD, 0x116AD}, {0x116B0, 0x116B5}, {0x116B7, 0x116B7},
  {0x1171D, 0x1171F}, {0x11722, 0x11725}, {0x11727, 0x1172B},
  {0x1182F, 0x11837}, {0x11839, 0x1183A}, {0x11930, 0x11930},
  {0x1193B, 0x1193C}, {0x1193E, 0x1193E}, {0x11943, 0x11943},
  {0x119D4, 0x119D7}, {0x119DA, 0x119DB}, {0x119E0, 0x119E0},
  {0x11A01, 0x11A0A}, {0x11A33, 0x11A38}, {0x11A3B, 0x11A3E},
  {0x11A47, 0x11A47}, {0x11A51, 0x11A56}, {0x11A59, 0x11A5B},
  {0x11A8A, 0x11A96}, {0x11A98, 0x11A99}, {0x11C30, 0x11C36},
  {0x11C38, 0x11C3D}, {0x11C3F, 0x11C3F}, {0x11C92, 0x11CA7},
  {0x11CAA, 0x11CB0}, {0x11CB2, 0x11CB3}, {0x11CB5, 0x11CB6},
  {0x11D31, 0x11D36}, {0x11D3A, 0x11D3A}, {0x11D3C, 0x11D3D},
  {0x11D3F, 0x11D45}, {0x11D47, 0x11D47}, {0x11D90, 0x11D91},
  {0x11D95, 0x11D95}, {0x11D97, 0x11D97}, {0x11EF3, 0x11EF4},
  {0x13430, 0x13438}, {0x16AF0, 0x16AF4}, {0x16B30, 0x16B36},
  {0x16F4F, 0x16F4F}, {0x16F8F, 0x16F92}, {0x16FE4, 0x16FE4},
  {0x1BC9D, 0x1BC9E}, {0x1BCA0, 0x1BCA3}, {0x1CF00, 0x1CF2D},
  {0x1CF30, 0x1CF46}, {0x1D165, 0x1D165}, {0x1D167, 0x1D169},
  {0x1D16E, 0x1D182}, {0x1D185, 0x1D18B}, {0x1D1AA, 0x1D1AD},
  {0x1D242, 0x1D244}, {0x1DA00, 0x1DA36}, {0x1DA3B, 0x1DA6C},
  {0x1DA75, 0x1DA75}, {0x1DA84, 0x1DA84}, {0x1DA9B, 0x1DA9F},
  {0x1DAA1, 0x1DAAF}, {0x1E000, 0x1E006}, {0x1E008, 0x1E018},
  {0x1E01B, 0x1E021}, {0x1E023, 0x1E024}, {0x1E026, 0x1E02A},
  {0x1E130, 0x1E136}, {0x1E2AE, 0x1E2AE}, {0x1E2EC, 0x1E2EF},
  {0x1E8D0, 0x1E8D6}, {0x1E944, 0x1E94A}, {0xE0001, 0xE0001},
  {0xE0020, 0xE007F}, {0xE0100, 0xE01EF}, {0xF0000, 0xFFFFD},
  {0x100000, 0x10FFFD},
};

/* 1 when 'c' lies in one of the sorted [lo, hi] ranges. */
static int in_ranges(const uint32_t (*r)[2], size_t n, uint32_t c) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (c < r[mid][0])
      hi = mid;
    else if (c > r[mid][1])
      lo = mid + 1;
    else
      return 1;
  }
  return 0;
}

/* Maps 'c' to upper (up = 1) or lower case into m[]; returns the count. */
static int case_map(uint32_t c, int up, uint32_t m[3]) {
  const case_special *sp = up ? upper_special : lower_special;
  const case_range *r = up ? upper_ranges : lower_ranges;
  size_t lo = 0, hi = up ? N_ELEMS(upper_special) : N_ELEMS(lower_special);
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (sp[mid].cp == c) {
      m[0] = sp[mid].to[0];
      m[1] = sp[mid].to[1];
      m[2] = sp[mid].to[2];
      return m[2] ? 3 : 2;
    }
    if (sp[mid].cp < c)
      lo = mid + 1;
    else
      hi = mid;
  }
  lo = 0;
  hi = up ? N_ELEMS(upper_ranges) : N_ELEMS(lower_ranges);
  while (lo < hi) { /* first range with lo > c */
    size_t mid = (lo + hi) / 2;
    if (r[mid].lo <= c)
      lo = mid + 1;
    else
      hi = mid;
  }
  m[0] = c;
  if (lo > 0) {
    const case_range *e = &r[lo - 1];
    if (c < e->lo + e->n && (c - e->lo) % e->step == 0)
      m[0] = (uint32_t)((int32_t)c + e->delta);
  }
  return 1;
}

/* Rust's Final_Sigma rule for the capital sigma at byte 'i' of s[0..n):
** preceded by a cased char and not followed by one, case-ignorable chars
** skipped on both sides. */
static int final_sigma(const char *s, size_t n, size_t i) {
  size_t j = i;
  uint32_t c;
  int w, before = 0;
  while (j > 0) {
    j = utf8_prev(s, j);
    c = utf8_dec(s + j, n - j, &w);
    if (!in_ranges(case_ignorable, N_ELEMS(case_ignorable), c)) {
      before = in_ranges(cased, N_ELEMS(cased), c);
      break;
    }
  }
  if (!before)
    return 0;
  for (j = i + 2; j < n; j += (size_t)w) {
    c = utf8_dec(s + j, n - j, &w);
    if (!in_ranges(case_ignorable, N_ELEMS(case_ignorable), c))
      return !in_ranges(cased, N_ELEMS(cased), c);
  }
  return 1;
}

/* Writes the case-mapped text of s[0..n) to 'd' (NULL: measures only);
** returns its length in bytes. */
static uint64_t case_conv(const char *s, size_t n, int up, char *d) {
  uint64_t o = 0;
  size_t i = 0;
  while (i < n) {
    uint32_t m[3], c;
    int w, k, cnt;
    c = utf8_dec(s + i, n - i, &w);
    if (c == UTF8_BAD) {
      if (d)
        d[o] = s[i];
      o++;
    } else {
      if (!up && c == 0x3A3) {
        m[0] = final_sigma(s, n, i) ? 0x3C2 : 0x3C3;
        cnt = 1;
      } else
        cnt = case_map(c, up, m);
      for (k = 0; k < cnt; k++)
        o += utf8_enc(d ? d + o : NULL, m[k]);
    }
    i += (size_t)w;
  }
  return o;
}

/* Rust's char::is_whitespace (the White_Space property). */
static int is_space(uint32_t c) {
  return (c >= 9 && c <= 13) || c == 32 || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* ==== Strings ==== */

BUILTIN(bi_len) {
  switch (args[0].tag) {
  case GV_STR:
    *out = gv_int(args[0].u.s->len);
    return 0;
  case GV_ARR:
    *out = gv_int(args[0].u.a->len);
    return 0;
  case GV_OBJ:
    *out = gv_int(args[0].u.o->len);
    return 0;
  default:
    return gavel__rt_type_error(rt, "string, array, or object", args[0]);
  }
}

/* upper / lower: ASCII strings take a byte loop, others the tables. */
static int change_case(gv_rt *rt, gvalue *out, gvalue v, int up,
                       const char *fn) {
  gv_str *s, *r;
  size_t i;
  int ascii = 1;
  if (get_str(rt, v, &s))
    return 1;
  for (i = 0; i < s->len && ascii; i++)
    ascii = (unsigned char)s->s[i] < 0x80;
  if (ascii) {
    if (!(r = str_alloc(rt, fn, s->len)))
      return 1;
    for (i = 0; i < s->len; i++) {
      char c = s->s[i];
      if (up && c >= 'a' && c <= 'z')
        c = (char)(c - 32);
      else if (!up && c >= 'A' && c <= 'Z')
        c = (char)(c + 32);
      r->s[i] = c;
    }
  } else {
    if (charge_bytes(rt, s->len))
      return 1;
    if (!(r = str_alloc(rt, fn, case_conv(s->s, s->len, up, NULL))))
      return 1;
    case_conv(s->s, s->len, up, r->s);
  }
  *out = gv_strv(r);
  return 0;
}

BUILTIN(bi_upper) { return change_case(rt, out, args[0], 1, "upper"); }
BUILTIN(bi_lower) { return change_case(rt, out, args[0], 0, "lower"); }

BUILTIN(bi_trim) {
  gv_str *s;
  size_t a = 0, b;
  int w;
  if (get_str(rt, args[0], &s))
    return 1;
  b = s->len;
  while (a < b && is_space(utf8_dec(s->s + a, b - a, &w)))
    a += (size_t)w;
  while (b > a) {
    size_t p = utf8_prev(s->s, b);
    if (!is_space(utf8_dec(s->s + p, b - p, &w)))
      break;
    b = p;
  }
  if (a == 0 && b == s->len) {
    *out = args[0];
    return 0;
  }
  return ret_str(rt, out, "trim", s->s + a, b - a);
}

/* Fetches two string arguments (in order) for a two-string builtin. */
static int get_str2(gv_rt *rt, const gvalue *args, gv_str **a, gv_str **b) {
  return get_str(rt, args[0], a) || get_str(rt, args[1], b);
}

BUILTIN(bi_starts_with) {
  gv_str *s, *p;
  if (get_str2(rt, args, &s, &p))
    return 1;
  *out = gv_bool(p->len <= s->len && memcmp(s->s, p->s, p->len) == 0);
  return 0;
}

BUILTIN(bi_ends_with) {
  gv_str *s, *p;
  if (get_str2(rt, args, &s, &p))
    return 1;
  *out = gv_bool(p->len <= s->len &&
                 memcmp(s->s + s->len - p->len, p->s, p->len) == 0);
  return 0;
}

BUILTIN(bi_contains_str) {
  gv_str *s, *p;
  if (get_str2(rt, args, &s, &p) || charge_bytes(rt, s->len))
    return 1;
  *out = gv_bool(p->len == 0 || memmem(s->s, s->len, p->s, p->len) != NULL);
  return 0;
}

BUILTIN(bi_index_of) {
  gv_str *s, *p;
  const char *m;
  if (get_str2(rt, args, &s, &p) || charge_bytes(rt, s->len))
    return 1;
  m = p->len ? memmem(s->s, s->len, p->s, p->len) : s->s;
  *out = gv_int(m ? (int64_t)(m - s->s) : -1);
  return 0;
}

/* Byte offset of char number 'k' in s[0..n) (n if there are fewer). */
static size_t char_offset(const char *s, size_t n, uint64_t k) {
  size_t i = 0;
  while (i < n && k > 0) {
    i += utf8_width(s + i, n - i);
    k--;
  }
  return i;
}

/* substring(s, start[, end]): chars; negative args wrap to huge (Rust's
** 'as usize') and clamp; end < start gives "" (HEAD). */
BUILTIN(bi_substring) {
  gv_str *s;
  int64_t a, b = 0;
  uint64_t start, end;
  size_t from, to;
  if (get_str(rt, args[0], &s) || get_int(rt, args[1], &a))
    return 1;
  if (nargs == 3 && get_int(rt, args[2], &b))
    return 1;
  start = (uint64_t)a;
  end = nargs == 3 ? (uint64_t)b : s->len;
  from = char_offset(s->s, s->len, start);
  to = from + char_offset(s->s + from, s->len - from,
                          end > start ? end - start : 0);
  if (charge_bytes(rt, to))
    return 1;
  return ret_str(rt, out, "substring", s->s + from, to - from);
}

BUILTIN(bi_char_at) {
  gv_str *s;
  int64_t i;
  size_t at;
  if (get_str(rt, args[0], &s) || get_int(rt, args[1], &i))
    return 1;
  at = char_offset(s->s, s->len, (uint64_t)i);
  if (charge_bytes(rt, at))
    return 1;
  if (at >= s->len) {
    *out = gv_null();
    return 0;
  }
  return ret_str(rt, out, "char_at", s->s + at,
                 utf8_width(s->s + at, s->len - at));
}

/* Rust's str::replace of s[0..n): leftmost non-overlapping matches of
** 'pat'; an empty pattern matches at every char boundary.  Writes to 'd'
** (NULL: measures only) and returns the result length. */
static uint64_t replace_into(char *d, const char *s, size_t n,
                             const char *pat, size_t pn, const char *rep,
                             size_t rn) {
  uint64_t o = 0;
  size_t i = 0;
#define PUT(p, k)                                                            \
  do {                                                                       \
    if (d && (k))                                                            \
      memcpy(d + o, (p), (k));                                               \
    o += (k);                                                                \
  } while (0)
  if (pn == 0) {
    PUT(rep, rn);
    while (i < n) {
      size_t w = utf8_width(s + i, n - i);
      PUT(s + i, w);
      PUT(rep, rn);
      i += w;
    }
    return o;
  }
  for (;;) {
    const char *m = memmem(s + i, n - i, pat, pn);
    size_t at;
    if (!m)
      break;
    at = (size_t)(m - s);
    PUT(s + i, at - i);
    PUT(rep, rn);
    i = at + pn;
  }
  PUT(s + i, n - i);
#undef PUT
  return o;
}

BUILTIN(bi_replace) {
  gv_str *s, *pat, *rep, *r;
  uint64_t n;
  if (get_str(rt, args[0], &s) || get_str(rt, args[1], &pat) ||
      get_str(rt, args[2], &rep) || charge_bytes(rt, s->len))
    return 1;
  n = replace_into(NULL, s->s, s->len, pat->s, pat->len, rep->s, rep->len);
  if (!(r = str_alloc(rt, "replace", n)))
    return 1;
  replace_into(r->s, s->s, s->len, pat->s, pat->len, rep->s, rep->len);
  *out = gv_strv(r);
  return 0;
}

/* Appends a new string (copy of p[0..n)) to 'a' (room reserved). */
static int push_str(gv_rt *rt, gv_arr *a, const char *p, size_t n) {
  gv_str *s = gavel__str_new(rt->arena, p, n);
  if (!s)
    return gavel__rt_nomem(rt);
  a->items[a->len++] = gv_strv(s);
  return 0;
}

/* split(s, delim): Rust's str::split; split("ab", "") is
** ["", "a", "b", ""]. */
BUILTIN(bi_split) {
  gv_str *s, *dl;
  gv_arr *a;
  uint64_t k = 1;
  size_t i = 0;
  const char *m;
  if (get_str2(rt, args, &s, &dl) || charge_bytes(rt, s->len))
    return 1;
  if (dl->len == 0)
    k = utf8_count(s->s, s->len) + 2;
  else
    while ((m = memmem(s->s + i, s->len - i, dl->s, dl->len)) != NULL) {
      k++;
      i = (size_t)(m - s->s) + dl->len;
    }
  if (!(a = arr_alloc(rt, "split", k)))
    return 1;
  i = 0;
  if (dl->len == 0) {
    if (push_str(rt, a, "", 0))
      return 1;
    while (i < s->len) {
      size_t w = utf8_width(s->s + i, s->len - i);
      if (push_str(rt, a, s->s + i, w))
        return 1;
      i += w;
    }
    if (push_str(rt, a, "", 0))
      return 1;
  } else {
    while ((m = memmem(s->s + i, s->len - i, dl->s, dl->len)) != NULL) {
      if (push_str(rt, a, s->s + i, (size_t)(m - s->s) - i))
        return 1;
      i = (size_t)(m - s->s) + dl->len;
    }
    if (push_str(rt, a, s->s + i, s->len - i))
      return 1;
  }
  *out = gv_arrv(a);
  return 0;
}

BUILTIN(bi_join) {
  gv_arr *a;
  gv_str *dl, *r;
  uint64_t n = 0;
  uint32_t i;
  char *d;
  if (get_arr(rt, args[0], &a) || get_str(rt, args[1], &dl))
    return 1;
  for (i = 0; i < a->len; i++) {
    if (a->items[i].tag != GV_STR)
      return gavel__rt_type_error(rt, "string", a->items[i]);
    n += a->items[i].u.s->len + (i ? dl->len : 0);
  }
  if (charge_elems(rt, a->len) || !(r = str_alloc(rt, "join", n)))
    return 1;
  d = r->s;
  for (i = 0; i < a->len; i++) {
    const gv_str *e = a->items[i].u.s;
    if (i && dl->len) {
      memcpy(d, dl->s, dl->len);
      d += dl->len;
    }
    if (e->len)
      memcpy(d, e->s, e->len);
    d += e->len;
  }
  *out = gv_strv(r);
  return 0;
}

/* pad_left / pad_right(s, width, ch): width counts bytes of 's'; a negative
** width returns 's' before 'ch' is even checked; only ch's first char is
** used (space if ch is empty). */
static int pad(gv_rt *rt, gvalue *out, const gvalue *args, int left,
               const char *fn) {
  gv_str *s, *ch, *r;
  int64_t width;
  uint64_t k, i;
  char enc[4];
  size_t w = 1, at;
  if (get_str(rt, args[0], &s) || get_int(rt, args[1], &width))
    return 1;
  if (width < 0) {
    *out = args[0];
    return 0;
  }
  if (width > ORDO_MAX_ELEMS)
    return eval_error(rt, "%s: width %lld exceeds maximum of %d", fn,
                      (long long)width, ORDO_MAX_ELEMS);
  if (get_str(rt, args[2], &ch))
    return 1;
  enc[0] = ' ';
  if (ch->len) {
    w = utf8_width(ch->s, ch->len);
    memcpy(enc, ch->s, w);
  }
  if ((uint64_t)width <= s->len) {
    *out = args[0];
    return 0;
  }
  k = (uint64_t)width - s->len;
  if (!(r = str_alloc(rt, fn, s->len + k * w)))
    return 1;
  at = left ? 0 : s->len;
  for (i = 0; i < k; i++)
    memcpy(r->s + at + i * w, enc, w);
  memcpy(r->s + (left ? k * w : 0), s->s, s->len);
  *out = gv_strv(r);
  return 0;
}

BUILTIN(bi_pad_left) { return pad(rt, out, args, 1, "pad_left"); }
BUILTIN(bi_pad_right) { return pad(rt, out, args, 0, "pad_right"); }

/* Swaps two buffers' contents (for rewrite passes). */
static void buf_swap(gv_buf *a, gv_buf *b) {
  gv_buf t = *a;
  *a = *b;
  *b = t;
}

/* format(tmpl, a0, a1, ...): for i in order, every "{i}" in the current
** text is replaced (Rust's str::replace, so later passes see earlier
** insertions); strings go in raw, other values in display form. */
BUILTIN(bi_format) {
  gv_str *t;
  gv_buf cur, nxt, val;
  int i, rc = 1;
  if (get_str(rt, args[0], &t))
    return 1;
  gavel__buf_init(&cur, rt->arena->al);
  gavel__buf_init(&nxt, rt->arena->al);
  gavel__buf_init(&val, rt->arena->al);
  val.max = GAVEL_MAX_STR_BYTES; /* a longer value cannot fit the result */
  gavel__buf_add(&cur, t->s, t->len);
  for (i = 1; i < nargs; i++) {
    char ph[16];
    int pn = snprintf(ph, sizeof ph, "{%d}", i - 1);
    uint64_t n;
    int w = 0;
    gavel__buf_clear(&val);
    if (args[i].tag == GV_STR)
      gavel__buf_add(&val, args[i].u.s->s, args[i].u.s->len);
    else
      w = gavel__value_display_checked(&val, args[i]);
    if (val.oom == 2) {
      str_limit_over(rt, "format");
      goto done;
    }
    if (w == -1) {
      gavel__rt_depth_error(rt);
      goto done;
    }
    if (cur.oom || val.oom) {
      gavel__rt_nomem(rt);
      goto done;
    }
    n = replace_into(NULL, cur.p, cur.len, ph, (size_t)pn, val.p, val.len);
    if (n > GAVEL_MAX_STR_BYTES) {
      str_limit(rt, "format", n);
      goto done;
    }
    if (charge_bytes(rt, cur.len + n))
      goto done;
    gavel__buf_clear(&nxt);
    if (!gavel__buf_reserve(&nxt, (size_t)n)) {
      gavel__rt_nomem(rt);
      goto done;
    }
    replace_into(nxt.p, cur.p, cur.len, ph, (size_t)pn, val.p, val.len);
    nxt.len = (size_t)n;
    nxt.p[n] = 0;
    buf_swap(&cur, &nxt);
  }
  if (cur.oom)
    gavel__rt_nomem(rt);
  else
    rc = ret_str(rt, out, "format", cur.p, cur.len);
done:
  gavel__buf_free(&cur);
  gavel__buf_free(&nxt);
  gavel__buf_free(&val);
  return rc;
}

/* ==== Rust Display / Debug forms (sprintf) ==== */

/* Rust's Display for f64: "2", "0.1", "NaN", "inf", "-0". */
static void put_float_display(gv_buf *b, double d) {
  char t[400];
  gavel__buf_add(b, t, gavel__fmt_double_display(t, d));
}

/* Shortest round-trip digits of finite, nonzero 'd' (no leading or
** trailing zeros) into dig[], with |d| = 0.DIG x 10^*e10; returns the
** digit count. */
static int shortest_digits(double d, char dig[40], int *e10) {
  char t[40];
  size_t n = gavel__fmt_double_json(t, fabs(d)), i;
  int nd = 0, before = 0, seen_point = 0, lead = 0, x = 0, xneg = 0;
  for (i = 0; i < n && t[i] != 'e' && t[i] != 'E'; i++) {
    if (t[i] == '.') {
      seen_point = 1;
    } else if (t[i] >= '0' && t[i] <= '9') {
      if (!seen_point)
        before++;
      if (nd == 0 && t[i] == '0')
        lead++;
      else if (nd < 39)
        dig[nd++] = t[i];
    }
  }
  if (i < n) { /* exponent */
    for (i++; i < n; i++) {
      if (t[i] == '-')
        xneg = 1;
      else if (t[i] >= '0' && t[i] <= '9')
        x = x * 10 + (t[i] - '0');
    }
  }
  while (nd > 1 && dig[nd - 1] == '0')
    nd--;
  dig[nd] = 0;
  *e10 = before - lead + (xneg ? -x : x);
  return nd;
}

/* Rust's Debug for f64: "1.0", "0.1", "1e16", "1.5e-5", "-0.0". */
static void put_float_debug(gv_buf *b, double d) {
  char dig[40];
  int nd, e, k;
  double a = fabs(d);
  if (d != d || isinf(d)) {
    put_float_display(b, d);
    return;
  }
  if (d == 0) {
    gavel__buf_adds(b, signbit(d) ? "-0.0" : "0.0");
    return;
  }
  if (d < 0)
    gavel__buf_addc(b, '-');
  nd = shortest_digits(d, dig, &e);
  if (a < 1e-4 || a >= 1e16) {
    gavel__buf_addc(b, dig[0]);
    if (nd > 1) {
      gavel__buf_addc(b, '.');
      gavel__buf_add(b, dig + 1, (size_t)nd - 1);
    }
    gavel__buf_addf(b, "e%d", e - 1);
  } else if (e <= 0) {
    gavel__buf_adds(b, "0.");
    for (k = 0; k < -e; k++)
      gavel__buf_addc(b, '0');
    gavel__buf_add(b, dig, (size_t)nd);
  } else if (e >= nd) {
    gavel__buf_add(b, dig, (size_t)nd);
    for (k = nd; k < e; k++)
      gavel__buf_addc(b, '0');
    gavel__buf_adds(b, ".0");
  } else {
    gavel__buf_add(b, dig, (size_t)e);
    gavel__buf_addc(b, '.');
    gavel__buf_add(b, dig + e, (size_t)(nd - e));
  }
}

/* Rust's Debug for str: quoted, with \0 \t \r \n \\ \" escapes and
** \u{hex} for control, format, separator, private-use and
** grapheme-extending chars. */
static void put_str_debug(gv_buf *b, const char *s, size_t n) {
  size_t i = 0;
  gavel__buf_addc(b, '"');
  while (i < n) {
    int w;
    uint32_t c = utf8_dec(s + i, n - i, &w);
    const char *esc = NULL;
    switch (c) {
    case 0: esc = "\\0"; break;
    case '\t': esc = "\\t"; break;
    case '\r': esc = "\\r"; break;
    case '\n': esc = "\\n"; break;
    case '\\': esc = "\\\\"; break;
    case '"': esc = "\\\""; break;
    default: break;
    }
    if (esc)
      gavel__buf_adds(b, esc);
    else if (c != UTF8_BAD &&
             in_ranges(debug_escape, N_ELEMS(debug_escape), c))
      gavel__buf_addf(b, "\\u{%x}", (unsigned)c);
    else
      gavel__buf_add(b, s + i, (size_t)w);
    i += (size_t)w;
  }
  gavel__buf_addc(b, '"');
}

/* Rust's derived Debug for Ordo's Value: Null, Bool(true), Int(1),
** Float(1.5), String("a"), Array([Int(1)]), Object({"k": Int(1)}).
** Stops at GAVEL_MAX_WALK_DEPTH: returns -1 with b->oom set. */
static int put_debug(gv_buf *b, gvalue v, int depth) {
  uint32_t i;
  if ((v.tag == GV_ARR || v.tag == GV_OBJ) &&
      GAVEL_UNLIKELY(depth >= GAVEL_MAX_WALK_DEPTH)) {
    b->oom = 1;
    return -1;
  }
  switch (v.tag) {
  case GV_BOOL:
    gavel__buf_adds(b, v.u.i ? "Bool(true)" : "Bool(false)");
    break;
  case GV_INT:
    gavel__buf_addf(b, "Int(%lld)", (long long)v.u.i);
    break;
  case GV_FLOAT:
    gavel__buf_adds(b, "Float(");
    put_float_debug(b, v.u.f);
    gavel__buf_addc(b, ')');
    break;
  case GV_STR:
    gavel__buf_adds(b, "String(");
    put_str_debug(b, v.u.s->s, v.u.s->len);
    gavel__buf_addc(b, ')');
    break;
  case GV_ARR:
    gavel__buf_adds(b, "Array([");
    for (i = 0; i < v.u.a->len; i++) {
      if (i)
        gavel__buf_adds(b, ", ");
      if (put_debug(b, v.u.a->items[i], depth + 1) || b->oom)
        return -1; /* (stop at a failed buffer: see gv_buf.max) */
    }
    gavel__buf_adds(b, "])");
    break;
  case GV_OBJ:
    gavel__buf_adds(b, "Object({");
    for (i = 0; i < v.u.o->len; i++) {
      if (i)
        gavel__buf_adds(b, ", ");
      put_str_debug(b, v.u.o->keys[i]->s, v.u.o->keys[i]->len);
      gavel__buf_adds(b, ": ");
      if (put_debug(b, v.u.o->vals[i], depth + 1) || b->oom)
        return -1;
    }
    gavel__buf_adds(b, "})");
    break;
  default:
    gavel__buf_adds(b, "Null");
    break;
  }
  return 0;
}

/* How sprintf writes one value: strings raw, scalars in Rust Display form,
** arrays and objects in Debug form. */
static int put_sprintf_value(gv_buf *b, gvalue v) {
  switch (v.tag) {
  case GV_STR:
    gavel__buf_add(b, v.u.s->s, v.u.s->len);
    break;
  case GV_INT:
    gavel__buf_addf(b, "%lld", (long long)v.u.i);
    break;
  case GV_FLOAT:
    put_float_display(b, v.u.f);
    break;
  case GV_BOOL:
    gavel__buf_adds(b, v.u.i ? "true" : "false");
    break;
  case GV_ARR:
  case GV_OBJ:
    return put_debug(b, v, 0);
  default:
    gavel__buf_adds(b, "null");
    break;
  }
  return 0;
}

/* Offset of the leftmost "%s", "%d", "%f" or "%v" in p[0..n), or -1. */
static long find_spec(const char *p, size_t n) {
  size_t i;
  for (i = 0; i + 1 < n; i++)
    if (p[i] == '%' && (p[i + 1] == 's' || p[i + 1] == 'd' ||
                        p[i + 1] == 'f' || p[i + 1] == 'v'))
      return (long)i;
  return -1;
}

/* sprintf: each element of the values array replaces the leftmost
** placeholder of the text as rewritten so far, whatever its letter. */
BUILTIN(bi_sprintf) {
  gv_str *f;
  gv_arr *a;
  gv_buf cur, nxt, val;
  uint32_t i;
  int rc = 1;
  if (get_str(rt, args[0], &f) || get_arr(rt, args[1], &a))
    return 1;
  gavel__buf_init(&cur, rt->arena->al);
  gavel__buf_init(&nxt, rt->arena->al);
  gavel__buf_init(&val, rt->arena->al);
  val.max = GAVEL_MAX_STR_BYTES; /* a longer value cannot fit the result */
  gavel__buf_add(&cur, f->s, f->len);
  for (i = 0; i < a->len && !cur.oom; i++) {
    long pos = find_spec(cur.p, cur.len);
    uint64_t n;
    int w;
    if (pos < 0)
      break; /* no placeholder left: the remaining values change nothing */
    gavel__buf_clear(&val);
    w = put_sprintf_value(&val, a->items[i]);
    if (val.oom == 2) {
      str_limit_over(rt, "sprintf");
      goto done;
    }
    if (w) {
      gavel__rt_depth_error(rt);
      goto done;
    }
    n = cur.len - 2 + val.len;
    if (n > GAVEL_MAX_STR_BYTES) {
      str_limit(rt, "sprintf", n);
      goto done;
    }
    if (charge_bytes(rt, cur.len + n))
      goto done;
    gavel__buf_clear(&nxt);
    gavel__buf_add(&nxt, cur.p, (size_t)pos);
    gavel__buf_add(&nxt, val.p, val.len);
    gavel__buf_add(&nxt, cur.p + pos + 2, cur.len - (size_t)pos - 2);
    if (val.oom || nxt.oom)
      break;
    buf_swap(&cur, &nxt);
  }
  if (cur.oom || val.oom || nxt.oom)
    gavel__rt_nomem(rt);
  else
    rc = ret_str(rt, out, "sprintf", cur.p, cur.len);
done:
  gavel__buf_free(&cur);
  gavel__buf_free(&nxt);
  gavel__buf_free(&val);
  return rc;
}

/* ==== Math ==== */

BUILTIN(bi_abs) {
  if (args[0].tag == GV_INT) {
    if (args[0].u.i == INT64_MIN)
      return eval_error(rt, "Integer overflow in abs()");
    *out = gv_int(args[0].u.i < 0 ? -args[0].u.i : args[0].u.i);
  } else if (args[0].tag == GV_FLOAT)
    *out = gv_float(fabs(args[0].u.f));
  else
    return gavel__rt_type_error(rt, "number", args[0]);
  return 0;
}

/* min / max over the arguments: an argument replaces the current result
** only when it compares strictly less / greater; incomparable ones are
** skipped, so a single array argument comes back unchanged. */
static void pick_extreme(gvalue *out, const gvalue *args, int nargs,
                         int want) {
  int i, c;
  *out = args[0];
  for (i = 1; i < nargs; i++)
    if (gavel__value_cmp(args[i], *out, &c) == 0 && c == want)
      *out = args[i];
}

BUILTIN(bi_min) {
  if (charge_elems(rt, (uint64_t)nargs))
    return 1;
  pick_extreme(out, args, nargs, -1);
  return 0;
}

BUILTIN(bi_max) {
  if (charge_elems(rt, (uint64_t)nargs))
    return 1;
  pick_extreme(out, args, nargs, 1);
  return 0;
}

/* *out = f2i(d) for builtin 'fn'.  A finite float out of the int range
** saturates, as Ordo's 'as i64'; inf and
** NaN (only from host values: gavel arithmetic never makes them) fail
** rather than become INT64_MAX or 0 unnoticed. */
static int ret_f2i(gv_rt *rt, gvalue *out, const char *fn, double d) {
  if (!isfinite(d))
    return eval_error(rt, "%s: cannot convert %s to int", fn,
                      d != d ? "NaN" : d > 0 ? "inf" : "-inf");
  *out = gv_int(f2i(d));
  return 0;
}

/* floor / ceil / round: number -> int, f64 -> i64 saturating ('as i64'). */
BUILTIN(bi_floor) {
  double d;
  if (get_num(rt, args[0], &d))
    return 1;
  return ret_f2i(rt, out, "floor", floor(d));
}

BUILTIN(bi_ceil) {
  double d;
  if (get_num(rt, args[0], &d))
    return 1;
  return ret_f2i(rt, out, "ceil", ceil(d));
}

BUILTIN(bi_round) { /* C's round() also rounds half away from zero */
  double d;
  if (get_num(rt, args[0], &d))
    return 1;
  return ret_f2i(rt, out, "round", round(d));
}

/* ==== Arrays ==== */

/* sum: ints add with overflow checks; floats add separately and the result
** is (int sum as f64) + float sum when any float is present. */
BUILTIN(bi_sum) {
  gv_arr *a;
  int64_t is = 0;
  double fs = 0.0;
  int has_float = 0;
  uint32_t i;
  if (get_arr(rt, args[0], &a) || charge_elems(rt, a->len))
    return 1;
  for (i = 0; i < a->len; i++) {
    gvalue v = a->items[i];
    if (v.tag == GV_INT) {
      if (__builtin_add_overflow(is, v.u.i, &is))
        return eval_error(rt, "Integer overflow in sum()");
    } else if (v.tag == GV_FLOAT) {
      has_float = 1;
      fs += v.u.f;
    } else
      return gavel__rt_type_error(rt, "number", v);
  }
  if (has_float && !isfinite((double)is + fs))
    return gavel__float_overflow(rt, "sum()");
  *out = has_float ? gv_float((double)is + fs) : gv_int(is);
  return 0;
}

BUILTIN(bi_avg) {
  gv_arr *a;
  double s = 0.0;
  uint32_t i;
  if (get_arr(rt, args[0], &a) || charge_elems(rt, a->len))
    return 1;
  if (a->len == 0) {
    *out = gv_float(0.0);
    return 0;
  }
  for (i = 0; i < a->len; i++) {
    if (!gv_isnum(a->items[i]))
      return gavel__rt_type_error(rt, "number", a->items[i]);
    s += gv_num(a->items[i]);
  }
  if (!isfinite(s / (double)a->len))
    return gavel__float_overflow(rt, "avg()");
  *out = gv_float(s / (double)a->len);
  return 0;
}

BUILTIN(bi_count) {
  gv_arr *a;
  if (get_arr(rt, args[0], &a))
    return 1;
  *out = gv_int(a->len);
  return 0;
}

BUILTIN(bi_first) {
  gv_arr *a;
  if (get_arr(rt, args[0], &a))
    return 1;
  *out = a->len ? a->items[0] : gv_null();
  return 0;
}

BUILTIN(bi_last) {
  gv_arr *a;
  if (get_arr(rt, args[0], &a))
    return 1;
  *out = a->len ? a->items[a->len - 1] : gv_null();
  return 0;
}

/* A copy of items[0..n) as a new array for builtin 'fn'. */
static gv_arr *arr_copy(gv_rt *rt, const char *fn, const gvalue *items,
                        uint64_t n) {
  gv_arr *r = arr_alloc(rt, fn, n);
  if (r && n) {
    memcpy(r->items, items, (size_t)n * sizeof(gvalue));
    r->len = (uint32_t)n;
    gavel__arr_seal(r);
  }
  return r;
}

/* Ordo's sort order: Value::compare, an incomparable pair is Equal.  So
** an array mixing types sorts only within runs of comparable neighbours
** (sort([3, "a", 1]) is [3, "a", 1]): Ordo's documented behaviour, kept
** on purpose (issue 8 item 15; spec/fixtures/values_hardening.test). */
static int sort_less(gvalue a, gvalue b) {
  int c;
  return gavel__value_cmp(a, b, &c) == 0 && c < 0;
}

/* Rust's stable sort: insertion sort up to 20 elements (this also fixes
** the outcome for arrays mixing incomparable values), merge sort above. */
static void insertion_sort(gvalue *v, size_t n) {
  size_t i, j;
  for (i = 1; i < n; i++) {
    gvalue t = v[i];
    for (j = i; j > 0 && sort_less(t, v[j - 1]); j--)
      v[j] = v[j - 1];
    v[j] = t;
  }
}

/* Bottom-up stable merge sort of v[0..n) using tmp[0..n). */
static void merge_sort(gvalue *v, gvalue *tmp, size_t n) {
  gvalue *src = v, *dst = tmp, *t;
  size_t w, lo;
  for (w = 1; w < n; w *= 2) {
    for (lo = 0; lo < n; lo += 2 * w) {
      size_t mid = lo + w < n ? lo + w : n;
      size_t hi = lo + 2 * w < n ? lo + 2 * w : n;
      size_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi)
        dst[k++] = sort_less(src[j], src[i]) ? src[j++] : src[i++];
      while (i < mid)
        dst[k++] = src[i++];
      while (j < hi)
        dst[k++] = src[j++];
    }
    t = src;
    src = dst;
    dst = t;
  }
  if (src != v)
    memcpy(v, src, n * sizeof(gvalue));
}

BUILTIN(bi_sort) {
  gv_arr *a, *r;
  uint64_t lg = 1;
  if (get_arr(rt, args[0], &a))
    return 1;
  while ((1ull << lg) < a->len)
    lg++;
  if (charge_elems(rt, a->len * lg) ||
      !(r = arr_copy(rt, "sort", a->items, a->len)))
    return 1;
  if (r->len <= 20)
    insertion_sort(r->items, r->len);
  else {
    gvalue *tmp = gavel__arena_alloc(rt->arena, r->len * sizeof(gvalue));
    if (!tmp)
      return gavel__rt_nomem(rt);
    merge_sort(r->items, tmp, r->len);
  }
  *out = gv_arrv(r);
  return 0;
}

BUILTIN(bi_reverse) {
  gv_arr *a, *r;
  uint32_t i;
  if (get_arr(rt, args[0], &a) || !(r = arr_alloc(rt, "reverse", a->len)))
    return 1;
  for (i = 0; i < a->len; i++)
    r->items[i] = a->items[a->len - 1 - i];
  r->len = a->len;
  r->depth = a->depth;
  *out = gv_arrv(r);
  return 0;
}

/* unique: keeps the first of each run of strictly equal values (Ordo's
** Vec::contains scan, so quadratic; gas follows the comparisons). */
BUILTIN(bi_unique) {
  gv_arr *a, *r;
  uint32_t i, j;
  if (get_arr(rt, args[0], &a) || !(r = arr_alloc(rt, "unique", a->len)))
    return 1;
  for (i = 0; i < a->len; i++) {
    if (charge_elems(rt, (r->len >> 2) + 1))
      return 1;
    for (j = 0; j < r->len; j++) {
      int eq = gavel__value_eq_rt(rt, r->items[j], a->items[i]);
      if (eq < 0)
        return 1;
      if (eq)
        break;
    }
    if (j == r->len)
      r->items[r->len++] = a->items[i];
  }
  r->depth = a->depth; /* an upper bound: a subset of a's elements */
  *out = gv_arrv(r);
  return 0;
}

/* slice(arr, start[, end]): negative args wrap to huge and clamp, so a
** negative start gives [] and a negative end means "to the end". */
BUILTIN(bi_slice) {
  gv_arr *a, *r;
  int64_t s, e = 0;
  uint64_t st, en;
  if (get_arr(rt, args[0], &a) || get_int(rt, args[1], &s))
    return 1;
  if (nargs == 3 && get_int(rt, args[2], &e))
    return 1;
  st = (uint64_t)s;
  en = nargs == 3 ? (uint64_t)e : a->len;
  if (st > a->len)
    st = a->len;
  if (en > a->len)
    en = a->len;
  if (en < st)
    en = st;
  /* No pointer arithmetic on the NULL items of an empty array (UB, and
  ** UBSan's "applying zero offset to null pointer"). */
  if (!(r = arr_copy(rt, "slice", en > st ? a->items + st : NULL, en - st)))
    return 1;
  *out = gv_arrv(r);
  return 0;
}

/* range(start, end[, step]): end exclusive; the element count is checked
** against Ordo's cap before anything is built (HEAD). */
BUILTIN(bi_range) {
  int64_t st, en, step = 1, i;
  __int128 span, cnt;
  gv_arr *r;
  if (get_int(rt, args[0], &st) || get_int(rt, args[1], &en))
    return 1;
  if (nargs == 3) {
    if (get_int(rt, args[2], &step))
      return 1;
    if (step == 0)
      return eval_error(rt, "range: step cannot be zero");
  }
  span = (__int128)en - (__int128)st;
  cnt = span / step;
  if (cnt < 0)
    cnt = 0;
  if (span % step != 0)
    cnt++;
  if (cnt > ORDO_MAX_ELEMS)
    return eval_error(rt, "range: result of %llu elements exceeds maximum "
                          "of %d",
                      (unsigned long long)cnt, ORDO_MAX_ELEMS);
  if (!(r = arr_alloc(rt, "range", (uint64_t)cnt)))
    return 1;
  for (i = st; step > 0 ? i < en : i > en;) {
    r->items[r->len++] = gv_int(i);
    if (__builtin_add_overflow(i, step, &i))
      break;
  }
  *out = gv_arrv(r);
  return 0;
}

BUILTIN(bi_array_concat) {
  gv_arr *a, *b, *r;
  if (get_arr(rt, args[0], &a) || get_arr(rt, args[1], &b) ||
      !(r = arr_alloc(rt, "array_concat", (uint64_t)a->len + b->len)))
    return 1;
  if (a->len)
    memcpy(r->items, a->items, a->len * sizeof(gvalue));
  if (b->len)
    memcpy(r->items + a->len, b->items, b->len * sizeof(gvalue));
  r->len = a->len + b->len;
  r->depth = a->depth > b->depth ? a->depth : b->depth;
  *out = gv_arrv(r);
  return 0;
}

/* flatten: one level; non-array elements are kept as they are. */
BUILTIN(bi_flatten) {
  gv_arr *a, *r;
  uint64_t n = 0;
  uint32_t i;
  if (get_arr(rt, args[0], &a))
    return 1;
  for (i = 0; i < a->len; i++)
    n += a->items[i].tag == GV_ARR ? a->items[i].u.a->len : 1;
  if (!(r = arr_alloc(rt, "flatten", n)))
    return 1;
  for (i = 0; i < a->len; i++) {
    gvalue v = a->items[i];
    if (v.tag == GV_ARR) {
      if (v.u.a->len)
        memcpy(r->items + r->len, v.u.a->items, v.u.a->len * sizeof(gvalue));
      r->len += v.u.a->len;
    } else
      r->items[r->len++] = v;
  }
  gavel__arr_seal(r);
  *out = gv_arrv(r);
  return 0;
}

/* Rust's usize::from_str on a path segment: optional '+', then digits.
** Values past UINT32_MAX saturate (no array is that long). */
static int parse_index(const char *p, size_t n, uint64_t *idx) {
  size_t i = 0;
  uint64_t v = 0;
  if (n && p[0] == '+')
    i = 1;
  if (i == n)
    return 0;
  for (; i < n; i++) {
    if (p[i] < '0' || p[i] > '9')
      return 0;
    v = v * 10 + (uint64_t)(p[i] - '0');
    if (v > UINT32_MAX)
      v = (uint64_t)UINT32_MAX + 1;
  }
  *idx = v;
  return 1;
}

/* Ordo's Value::get_path: '.'-separated segments, each an object key or an
** array index.  Returns 1 and sets *out when every segment resolves. */
static int get_path(gvalue v, const gv_str *path, gvalue *out) {
  const char *seg = path->s, *end = path->s + path->len;
  for (;;) {
    const char *dot = memchr(seg, '.', (size_t)(end - seg));
    size_t n = (size_t)((dot ? dot : end) - seg);
    uint64_t idx;
    if (v.tag == GV_OBJ) {
      gvalue *p = gavel__obj_get(v.u.o, seg, n);
      if (!p)
        return 0;
      v = *p;
    } else if (v.tag == GV_ARR) {
      if (!parse_index(seg, n, &idx) || idx >= v.u.a->len)
        return 0;
      v = v.u.a->items[idx];
    } else
      return 0;
    if (!dot)
      break;
    seg = dot + 1;
  }
  *out = v;
  return 1;
}

BUILTIN(bi_map_extract) {
  gv_arr *a, *r;
  gv_str *path;
  uint32_t i;
  if (get_arr(rt, args[0], &a) || get_str(rt, args[1], &path) ||
      !(r = arr_alloc(rt, "map_extract", a->len)))
    return 1;
  for (i = 0; i < a->len; i++)
    if (!get_path(a->items[i], path, &r->items[i]))
      r->items[i] = gv_null();
  r->len = a->len;
  gavel__arr_seal(r);
  *out = gv_arrv(r);
  return 0;
}

/* filter_by: elements whose value at 'path' is present and strictly equal
** to the third argument. */
BUILTIN(bi_filter_by) {
  gv_arr *a, *r;
  gv_str *path;
  uint32_t i;
  gvalue v;
  if (get_arr(rt, args[0], &a) || get_str(rt, args[1], &path) ||
      !(r = arr_alloc(rt, "filter_by", a->len)))
    return 1;
  for (i = 0; i < a->len; i++)
    if (get_path(a->items[i], path, &v)) {
      int eq = gavel__value_eq_rt(rt, v, args[2]);
      if (eq < 0)
        return 1;
      if (eq)
        r->items[r->len++] = a->items[i];
    }
  r->depth = a->depth; /* an upper bound: a subset of a's elements */
  *out = gv_arrv(r);
  return 0;
}

/* The group_by key for an element: the value at 'path', strings raw and
** others in display form; "null" when absent.  Sets *key (borrowed or new). */
static int group_key(gv_rt *rt, gvalue elem, const gv_str *path, gv_buf *b,
                     gv_str **key) {
  gvalue v;
  *key = NULL; /* NULL: the text is in 'b' */
  if (!get_path(elem, path, &v)) {
    gavel__buf_clear(b);
    gavel__buf_adds(b, "null");
  } else if (v.tag == GV_STR) {
    *key = v.u.s;
    return 0;
  } else {
    gavel__buf_clear(b);
    b->max = GAVEL_MAX_STR_BYTES; /* a group key is a string */
    if (gavel__value_display_checked(b, v) == -1)
      return gavel__rt_depth_error(rt);
  }
  if (b->oom == 2)
    return str_limit_over(rt, "group_by");
  if (b->oom)
    return gavel__rt_nomem(rt);
  return charge_bytes(rt, b->len);
}

/* group_by(arr, path): object of arrays, groups in first-seen order. */
BUILTIN(bi_group_by) {
  gv_arr *a, **groups;
  gv_str *path, *key;
  gv_obj *o;
  gv_buf b;
  str_index x;
  uint32_t i, pos;
  int rc = 1;
  if (get_arr(rt, args[0], &a) || get_str(rt, args[1], &path) ||
      charge_elems(rt, a->len) || sidx_init(rt, &x, a->len))
    return 1;
  groups = gavel__arena_alloc(rt->arena, (a->len + 1) * sizeof(gv_arr *));
  if (!groups)
    return gavel__rt_nomem(rt);
  gavel__buf_init(&b, rt->arena->al);
  for (i = 0; i < a->len; i++) {
    const char *kp;
    size_t kn;
    int32_t g;
    if (group_key(rt, a->items[i], path, &b, &key))
      goto done;
    kp = key ? key->s : b.p;
    kn = key ? key->len : b.len;
    if ((g = sidx_find(&x, kp, kn, &pos)) < 0) {
      if ((!key && !(key = gavel__str_new(rt->arena, kp, kn))) ||
          !(groups[x.n_keys] = gavel__arr_new(rt->arena, 1))) {
        gavel__rt_nomem(rt);
        goto done;
      }
      g = sidx_add(&x, pos, key);
    }
    if (!gavel__arr_push(rt->arena, groups[g], a->items[i])) {
      gavel__rt_nomem(rt);
      goto done;
    }
  }
  if (!(o = gavel__obj_new(rt->arena, x.n_keys))) {
    gavel__rt_nomem(rt);
    goto done;
  }
  for (i = 0; i < x.n_keys; i++) {
    o->keys[i] = x.keys[i];
    o->vals[i] = gv_arrv(groups[i]);
  }
  o->len = x.n_keys;
  gavel__obj_seal(o); /* one level above a's elements: may pass the cap */
  *out = gv_objv(o);
  rc = 0;
done:
  gavel__buf_free(&b);
  return rc;
}

/* graph_reachable(graph, sources): breadth-first from the sources over
** the adjacency object; returns the visited ids in visiting order (Ordo's
** order is a hash set's).  Non-array adjacency values are ignored; a
** non-string source or neighbour is a type error. */
BUILTIN(bi_graph_reachable) {
  gv_obj *g;
  gv_arr *src, *r;
  str_index gi, vis;
  uint64_t max;
  uint32_t i, pos, head;
  if (get_obj(rt, args[0], &g) || get_arr(rt, args[1], &src))
    return 1;
  max = src->len;
  for (i = 0; i < g->len; i++)
    if (g->vals[i].tag == GV_ARR)
      max += g->vals[i].u.a->len;
  if (charge_elems(rt, max + g->len) || sidx_init(rt, &gi, g->len) ||
      sidx_init(rt, &vis, max))
    return 1;
  for (i = 0; i < g->len; i++) /* graph keys are unique */
    if (sidx_find(&gi, g->keys[i]->s, g->keys[i]->len, &pos) < 0)
      sidx_add(&gi, pos, g->keys[i]);
  for (i = 0; i < src->len; i++) {
    gvalue s = src->items[i];
    if (s.tag != GV_STR)
      return gavel__rt_type_error(rt, "string", s);
    if (sidx_find(&vis, s.u.s->s, s.u.s->len, &pos) < 0)
      sidx_add(&vis, pos, s.u.s);
  }
  for (head = 0; head < vis.n_keys; head++) {
    gv_str *node = vis.keys[head];
    int32_t k = sidx_find(&gi, node->s, node->len, &pos);
    gv_arr *adj;
    if (k < 0 || g->vals[k].tag != GV_ARR)
      continue;
    adj = g->vals[k].u.a;
    for (i = 0; i < adj->len; i++) {
      gvalue nb = adj->items[i];
      if (nb.tag != GV_STR)
        return gavel__rt_type_error(rt, "string", nb);
      if (sidx_find(&vis, nb.u.s->s, nb.u.s->len, &pos) < 0)
        sidx_add(&vis, pos, nb.u.s);
    }
  }
  if (!(r = arr_alloc(rt, "graph_reachable", vis.n_keys)))
    return 1;
  for (i = 0; i < vis.n_keys; i++)
    r->items[i] = gv_strv(vis.keys[i]);
  r->len = vis.n_keys;
  *out = gv_arrv(r);
  return 0;
}

/* ==== Objects ==== */

BUILTIN(bi_keys) {
  gv_obj *o;
  gv_arr *r;
  uint32_t i;
  if (get_obj(rt, args[0], &o) || !(r = arr_alloc(rt, "keys", o->len)))
    return 1;
  for (i = 0; i < o->len; i++)
    r->items[i] = gv_strv(o->keys[i]);
  r->len = o->len;
  *out = gv_arrv(r);
  return 0;
}

BUILTIN(bi_values) {
  gv_obj *o;
  gv_arr *r;
  if (get_obj(rt, args[0], &o) || !(r = arr_copy(rt, "values", o->vals,
                                                 o->len)))
    return 1;
  *out = gv_arrv(r);
  return 0;
}

BUILTIN(bi_has_key) {
  gv_obj *o;
  gv_str *k;
  if (get_obj(rt, args[0], &o) || get_str(rt, args[1], &k) ||
      charge_elems(rt, o->len >> 2))
    return 1;
  *out = gv_bool(gavel__obj_find(o, k->s, k->len) >= 0);
  return 0;
}

/* merge(a, b): a's members in order, then b's; b's value wins a clash
** (in a's position). */
BUILTIN(bi_merge) {
  gv_obj *a, *b, *o;
  str_index x;
  uint32_t i, pos;
  if (get_obj(rt, args[0], &a) || get_obj(rt, args[1], &b) ||
      charge_elems(rt, (uint64_t)a->len + b->len) ||
      sidx_init(rt, &x, (uint64_t)a->len + b->len))
    return 1;
  if (!(o = gavel__obj_new(rt->arena, a->len + b->len)))
    return gavel__rt_nomem(rt);
  for (i = 0; i < a->len + b->len; i++) {
    gv_str *k = i < a->len ? a->keys[i] : b->keys[i - a->len];
    gvalue v = i < a->len ? a->vals[i] : b->vals[i - a->len];
    int32_t at = sidx_find(&x, k->s, k->len, &pos);
    if (at < 0) {
      at = sidx_add(&x, pos, k);
      o->keys[at] = k;
      o->len++;
    }
    o->vals[at] = v;
  }
  o->depth = a->depth > b->depth ? a->depth : b->depth;
  *out = gv_objv(o);
  return 0;
}

BUILTIN(bi_object_get) {
  gv_obj *o;
  gv_str *k;
  gvalue *v;
  if (get_obj(rt, args[0], &o) || get_str(rt, args[1], &k) ||
      charge_elems(rt, o->len >> 2))
    return 1;
  v = gavel__obj_get(o, k->s, k->len);
  *out = v ? *v : args[2];
  return 0;
}

/* ==== Types and conversions ==== */

BUILTIN(bi_type) {
  const char *t = gavel__type_name(gv_typeof(args[0]));
  return ret_str(rt, out, "type", t, strlen(t));
}

BUILTIN(bi_is_null) {
  *out = gv_bool(args[0].tag == GV_NULL);
  return 0;
}
BUILTIN(bi_is_number) {
  *out = gv_bool(gv_isnum(args[0]));
  return 0;
}
BUILTIN(bi_is_string) {
  *out = gv_bool(args[0].tag == GV_STR);
  return 0;
}
BUILTIN(bi_is_array) {
  *out = gv_bool(args[0].tag == GV_ARR);
  return 0;
}
BUILTIN(bi_is_bool) {
  *out = gv_bool(args[0].tag == GV_BOOL);
  return 0;
}
BUILTIN(bi_is_object) {
  *out = gv_bool(args[0].tag == GV_OBJ);
  return 0;
}
BUILTIN(bi_to_bool) {
  *out = gv_bool(gavel__truthy(args[0]));
  return 0;
}

/* Rust's i64::from_str: optional sign, one or more ASCII digits, no
** spaces, no overflow.  1 on success. */
static int parse_i64(const char *p, size_t n, int64_t *out) {
  size_t i = 0;
  int neg = 0;
  uint64_t v = 0, lim;
  if (n && (p[0] == '+' || p[0] == '-')) {
    neg = p[0] == '-';
    i = 1;
  }
  if (i == n)
    return 0;
  lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  for (; i < n; i++) {
    unsigned d = (unsigned char)p[i] - '0';
    if (d > 9 || v > (lim - d) / 10)
      return 0;
    v = v * 10 + d;
  }
  if (neg)
    *out = v > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)v;
  else
    *out = (int64_t)v;
  return 1;
}

/* Case-insensitive match of p[0..n) against lowercase 'word'. */
static int eq_nocase(const char *p, size_t n, const char *word) {
  size_t i;
  if (n != strlen(word))
    return 0;
  for (i = 0; i < n; i++) {
    char c = p[i];
    if (c >= 'A' && c <= 'Z')
      c = (char)(c + 32);
    if (c != word[i])
      return 0;
  }
  return 1;
}

/* Rust's f64::from_str: [+-] then inf | infinity | nan (any case) or
** digits with an optional '.' (digits on at least one side) and an
** optional [eE][+-]digits; nothing else.  Out-of-range values become
** inf or 0 (gavel__parse_double returns 1 for inf).  1 on success, 2 for
** a numeral that overflowed to inf, 0 when not a float. */
static int parse_f64(const char *p, size_t n, double *out) {
  size_t i = 0, j, nd = 0;
  int neg = 0, rc = 0;
  double d;
  if (n && (p[0] == '+' || p[0] == '-')) {
    neg = p[0] == '-';
    i = 1;
  }
  if (eq_nocase(p + i, n - i, "inf") || eq_nocase(p + i, n - i, "infinity"))
    d = INFINITY;
  else if (eq_nocase(p + i, n - i, "nan"))
    d = NAN;
  else {
    for (j = i; j < n && p[j] >= '0' && p[j] <= '9'; j++)
      nd++;
    if (j < n && p[j] == '.')
      for (j++; j < n && p[j] >= '0' && p[j] <= '9'; j++)
        nd++;
    if (nd == 0)
      return 0;
    if (j < n && (p[j] == 'e' || p[j] == 'E')) {
      size_t k;
      j++;
      if (j < n && (p[j] == '+' || p[j] == '-'))
        j++;
      for (k = j; j < n && p[j] >= '0' && p[j] <= '9'; j++)
        ;
      if (j == k)
        return 0;
    }
    if (j != n || (rc = gavel__parse_double(p + i, n - i, &d)) < 0)
      return 0;
  }
  *out = neg ? -d : d;
  return rc == 1 ? 2 : 1;
}

/* to_int: float truncates (saturating), string parses strictly, bool is
** 0/1; null, arrays and objects are type errors. */
BUILTIN(bi_to_int) {
  gvalue v = args[0];
  int64_t i;
  char m[GAVEL_ERRMSG_SIZE / 2];
  switch (v.tag) {
  case GV_INT:
    *out = v;
    return 0;
  case GV_FLOAT:
    return ret_f2i(rt, out, "to_int", v.u.f);
  case GV_BOOL:
    *out = gv_int(v.u.i);
    return 0;
  case GV_STR:
    if (!parse_i64(v.u.s->s, v.u.s->len, &i))
      return eval_error(rt, "Cannot convert '%s' to int",
                        MSG_STR(m, v.u.s));
    *out = gv_int(i);
    return 0;
  default:
    return gavel__rt_type_error(rt, "int, float, string, or bool", v);
  }
}

BUILTIN(bi_to_float) {
  gvalue v = args[0];
  double d;
  int k;
  char m[GAVEL_ERRMSG_SIZE / 2];
  switch (v.tag) {
  case GV_INT:
    *out = gv_float((double)v.u.i);
    return 0;
  case GV_FLOAT:
    *out = v;
    return 0;
  case GV_STR:
    if (!(k = parse_f64(v.u.s->s, v.u.s->len, &d)))
      return eval_error(rt, "Cannot convert '%s' to float",
                        MSG_STR(m, v.u.s));
    /* Rust's parse gives inf for a numeral out of range (1e400): gavel
    ** fails instead.  The explicit spellings "inf", "NaN" stay Ordo's. */
    if (k == 2)
      return eval_error(rt, "Cannot convert '%s' to float: out of range",
                        MSG_STR(m, v.u.s));
    *out = gv_float(d);
    return 0;
  default:
    return gavel__rt_type_error(rt, "int, float, or string", v);
  }
}

/* Writes 'v' with 'put' into a scratch buffer and returns it as a string
** (to_string, json_marshal). */
static int ret_written(gv_rt *rt, gvalue *out, const char *fn,
                       int (*put)(gv_buf *, gvalue), gvalue v) {
  gv_buf b;
  int rc, w;
  gavel__buf_init(&b, rt->arena->al);
  b.max = GAVEL_MAX_STR_BYTES; /* the longest string it can become */
  w = put(&b, v);
  if (b.oom == 2)
    rc = str_limit_over(rt, fn);
  else if (w == -1)
    rc = gavel__rt_depth_error(rt);
  else if (w == -2) /* inf/NaN from a host value: JSON cannot hold it */
    rc = eval_error(rt, "%s: float is not finite (inf or NaN)", fn);
  else if (b.oom)
    rc = gavel__rt_nomem(rt);
  else
    rc = ret_str(rt, out, fn, b.p, b.len);
  gavel__buf_free(&b);
  return rc;
}

/* to_string: Ordo's Display form (strings come back quoted). */
BUILTIN(bi_to_string) {
  return ret_written(rt, out, "to_string", gavel__value_display_checked,
                     args[0]);
}

/* ==== JSON ==== */

BUILTIN(bi_json_marshal) {
  return ret_written(rt, out, "json_marshal", gavel__json_write_marshal,
                     args[0]);
}

/* Offset of the first '[' or '{' nested deeper than serde_json allows, or
** -1.  Strings are skipped. */
static long json_too_deep(const char *p, size_t n) {
  size_t i;
  int depth = 0, in_str = 0;
  for (i = 0; i < n; i++) {
    char c = p[i];
    if (in_str) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_str = 0;
    } else if (c == '"')
      in_str = 1;
    else if (c == '[' || c == '{') {
      if (++depth > SERDE_MAX_DEPTH)
        return (long)i;
    } else if (c == ']' || c == '}')
      depth--;
  }
  return -1;
}

/* ---- serde_json's error text for a document gavel's reader rejected ----
** A second, validating pass that follows serde_json's Deserializer step by
** step (de.rs, read.rs) to find its error code and where it reports it:
** "error" positions are the bytes consumed so far, "peek" positions
** count the byte looked at too.  Runs only after a failure. */

typedef struct sj {
  const unsigned char *p; /* the document                     */
  size_t n, i;            /* its length, the read position    */
  const char *code;       /* serde_json's ErrorCode text      */
  size_t at;              /* index its line/column come from  */
  int depth;              /* arrays/objects open              */
} sj;

static int sj_err(sj *j, const char *code) { /* Deserializer::error */
  j->code = code;
  j->at = j->i;
  return 1;
}

static int sj_peek_err(sj *j, const char *code) { /* ::peek_error */
  j->code = code;
  j->at = j->i < j->n ? j->i + 1 : j->n;
  return 1;
}

static int sj_ws(sj *j) { /* the next non-blank byte, or -1 at the end */
  while (j->i < j->n && (j->p[j->i] == ' ' || j->p[j->i] == '\n' ||
                         j->p[j->i] == '\t' || j->p[j->i] == '\r'))
    j->i++;
  return j->i < j->n ? j->p[j->i] : -1;
}

static int sj_hex4(sj *j, unsigned *v) { /* SliceRead::decode_hex_escape */
  size_t k;
  if (j->n - j->i < 4) {
    j->i = j->n;
    return sj_err(j, "EOF while parsing a string");
  }
  *v = 0;
  for (k = 0; k < 4; k++) {
    int c = j->p[j->i + k], d = c >= '0' && c <= '9'   ? c - '0'
                                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                       : -1;
    if (d < 0) {
      j->i += 4;
      return sj_err(j, "invalid escape");
    }
    *v = *v * 16 + (unsigned)d;
  }
  j->i += 4;
  return 0;
}

static int sj_string(sj *j) { /* after the opening quote */
  unsigned v, w;
  for (;;) {
    int c;
    while (j->i < j->n && j->p[j->i] != '"' && j->p[j->i] != '\\' &&
           j->p[j->i] >= 0x20)
      j->i++;
    if (j->i == j->n)
      return sj_err(j, "EOF while parsing a string");
    c = j->p[j->i++];
    if (c == '"')
      return 0;
    if (c != '\\')
      return sj_err(j, "control character (\\u0000-\\u001F) found while "
                       "parsing a string");
    if (j->i == j->n)
      return sj_err(j, "EOF while parsing a string");
    c = j->p[j->i++];
    if (strchr("\"\\/bfnrt", c) && c)
      continue;
    if (c != 'u')
      return sj_err(j, "invalid escape");
    if (sj_hex4(j, &v))
      return 1;
    if (v >= 0xDC00 && v <= 0xDFFF)
      return sj_err(j, "lone leading surrogate in hex escape");
    if (v < 0xD800 || v > 0xDBFF)
      continue;
    if (j->i == j->n)
      return sj_err(j, "EOF while parsing a string");
    if (j->p[j->i++] != '\\')
      return sj_err(j, "unexpected end of hex escape");
    if (j->i == j->n)
      return sj_err(j, "EOF while parsing a string");
    if (j->p[j->i++] != 'u')
      return sj_err(j, "unexpected end of hex escape");
    if (sj_hex4(j, &w))
      return 1;
    if (w < 0xDC00 || w > 0xDFFF)
      return sj_err(j, "lone leading surrogate in hex escape");
  }
}

static int sj_digit(sj *j) {
  return j->i < j->n && j->p[j->i] >= '0' && j->p[j->i] <= '9';
}

static int sj_number(sj *j) { /* at the first digit, '-' consumed */
  size_t start;
  int c;
  double d;
  if (j->i == j->n)
    return sj_err(j, "EOF while parsing a value");
  start = j->i - (j->i > 0 && j->p[j->i - 1] == '-');
  c = j->p[j->i++];
  if (c == '0') {
    if (sj_digit(j))
      return sj_peek_err(j, "invalid number");
  } else if (c >= '1' && c <= '9') {
    while (sj_digit(j))
      j->i++;
  } else
    return sj_err(j, "invalid number");
  if (j->i < j->n && j->p[j->i] == '.') {
    j->i++;
    if (!sj_digit(j))
      return sj_peek_err(j, j->i < j->n ? "invalid number"
                                        : "EOF while parsing a value");
    while (sj_digit(j))
      j->i++;
  }
  if (j->i < j->n && (j->p[j->i] | 0x20) == 'e') {
    j->i++;
    if (j->i < j->n && (j->p[j->i] == '+' || j->p[j->i] == '-'))
      j->i++;
    if (j->i == j->n)
      return sj_err(j, "EOF while parsing a value");
    if (!sj_digit(j)) {
      j->i++;
      return sj_err(j, "invalid number");
    }
    while (sj_digit(j))
      j->i++;
  }
  if (gavel__parse_double((const char *)j->p + start, j->i - start, &d) == 1)
    return sj_err(j, "number out of range");
  return 0;
}

static int sj_value(sj *j);

static int sj_ident(sj *j, const char *rest) {
  for (j->i++; *rest; rest++) {
    if (j->i == j->n)
      return sj_err(j, "EOF while parsing a value");
    if (j->p[j->i++] != (unsigned char)*rest)
      return sj_err(j, "expected ident");
  }
  return 0;
}

static int sj_seq(sj *j) { /* after '[' */
  int first = 1, c;
  for (;;) {
    c = sj_ws(j);
    if (c == ']')
      return j->i++, 0;
    if (c == ',' && !first) {
      j->i++;
      c = sj_ws(j);
    } else if (c >= 0 && !first)
      return sj_peek_err(j, "expected `,` or `]`");
    else if (c < 0)
      return sj_peek_err(j, "EOF while parsing a list");
    first = 0;
    if (c == ']')
      return sj_peek_err(j, "trailing comma");
    if (c < 0)
      return sj_peek_err(j, "EOF while parsing a value");
    if (sj_value(j))
      return 1;
  }
}

static int sj_map(sj *j) { /* after '{' */
  int first = 1, c;
  for (;;) {
    c = sj_ws(j);
    if (c == '}')
      return j->i++, 0;
    if (c == ',' && !first) {
      j->i++;
      c = sj_ws(j);
    } else if (c >= 0 && !first)
      return sj_peek_err(j, "expected `,` or `}`");
    else if (c < 0)
      return sj_peek_err(j, "EOF while parsing an object");
    first = 0;
    if (c == '}')
      return sj_peek_err(j, "trailing comma");
    if (c < 0)
      return sj_peek_err(j, "EOF while parsing a value");
    if (c != '"')
      return sj_peek_err(j, "key must be a string");
    j->i++;
    if (sj_string(j))
      return 1;
    c = sj_ws(j);
    if (c < 0)
      return sj_peek_err(j, "EOF while parsing an object");
    if (c != ':')
      return sj_peek_err(j, "expected `:`");
    j->i++;
    if (sj_value(j))
      return 1;
  }
}

static int sj_value(sj *j) {
  int c = sj_ws(j), rc;
  switch (c) {
  case -1:
    return sj_peek_err(j, "EOF while parsing a value");
  case 'n':
    return sj_ident(j, "ull");
  case 't':
    return sj_ident(j, "rue");
  case 'f':
    return sj_ident(j, "alse");
  case '-':
    j->i++;
    return sj_number(j);
  case '"':
    j->i++;
    return sj_string(j);
  case '[':
  case '{':
    if (j->depth >= 128) /* reported by the caller as serde_json does */
      return sj_err(j, NULL);
    j->depth++;
    j->i++;
    rc = c == '[' ? sj_seq(j) : sj_map(j);
    j->depth--;
    return rc;
  default:
    if (c >= '0' && c <= '9')
      return sj_number(j);
    return sj_peek_err(j, "expected value");
  }
}

/* serde_json's "<code> at line L column C" for 'p', or 0 when this pass
** finds no error (gavel's own text is used then). */
static int serde_json_error(const char *p, size_t n, char *out, size_t sz) {
  sj j = {(const unsigned char *)p, n, 0, NULL, 0, 0};
  size_t line = 1, bol = 0, k;
  if (!sj_value(&j) && sj_ws(&j) >= 0)
    sj_peek_err(&j, "trailing characters");
  if (!j.code)
    return 0;
  for (k = 0; k < j.at; k++)
    if (p[k] == '\n')
      line++, bol = k + 1;
  snprintf(out, sz, "%s at line %zu column %zu", j.code, line, j.at - bol);
  return 1;
}

/* json_unmarshal(s): any JSON document; errors read "json_unmarshal: ...".
** Nesting beyond serde_json's limit fails as it does in Ordo. */
BUILTIN(bi_json_unmarshal) {
  gv_str *s;
  gavel_error err;
  gavel_status st;
  long deep;
  if (get_str(rt, args[0], &s) || charge_bytes(rt, s->len))
    return 1;
  deep = json_too_deep(s->s, s->len);
  gavel__error_clear(&err);
  st = gavel__json_parse_max(rt->arena, s->s, s->len, NULL, GAVEL_MAX_ARR_LEN,
                             out, &err);
  if (st == GAVEL_NOMEM ||
      (st == GAVEL_LIMIT && deep < 0 && rt->arena->failed))
    return gavel__rt_nomem(rt);
  if (deep >= 0 && (st == GAVEL_OK || err.offset < 0 || err.offset > deep)) {
    long line = 1, col = 1, i;
    for (i = 0; i < deep; i++, col++)
      if (s->s[i] == '\n') {
        line++;
        col = 0;
      }
    return eval_error(rt, "json_unmarshal: recursion limit exceeded at line "
                          "%ld column %ld", line, col);
  }
  if (st == GAVEL_LIMIT) /* an array longer than GAVEL_MAX_ARR_LEN */
    return gavel__rt_error(rt, GV_E_LIMIT, "Evaluation error: json_unmarshal: "
                           "%s", err.msg);
  if (st != GAVEL_OK) {
    char m[160];
    if (serde_json_error(s->s, s->len, m, sizeof m))
      return eval_error(rt, "json_unmarshal: %s", m);
    return eval_error(rt, "json_unmarshal: %s", err.msg);
  }
  return 0;
}

/* ==== The core table ==== */

/* Arity is Ordo's: exact unless a range is given; -1 = variadic. */
const gv_builtin gavel__builtins_core[] = {
    /* strings */
    {"len", 1, 1, 1, bi_len},
    {"upper", 1, 1, 1, bi_upper},
    {"lower", 1, 1, 1, bi_lower},
    {"trim", 1, 1, 1, bi_trim},
    {"starts_with", 2, 2, 1, bi_starts_with},
    {"ends_with", 2, 2, 1, bi_ends_with},
    {"contains_str", 2, 2, 1, bi_contains_str},
    {"substring", 2, 3, 1, bi_substring},
    {"replace", 3, 3, 1, bi_replace},
    {"split", 2, 2, 1, bi_split},
    {"join", 2, 2, 1, bi_join},
    {"pad_left", 3, 3, 1, bi_pad_left},
    {"pad_right", 3, 3, 1, bi_pad_right},
    {"char_at", 2, 2, 1, bi_char_at},
    {"index_of", 2, 2, 1, bi_index_of},
    {"format", 1, -1, 1, bi_format},
    {"sprintf", 2, 2, 1, bi_sprintf},
    /* math */
    {"abs", 1, 1, 1, bi_abs},
    {"min", 1, -1, 1, bi_min},
    {"max", 1, -1, 1, bi_max},
    {"floor", 1, 1, 1, bi_floor},
    {"ceil", 1, 1, 1, bi_ceil},
    {"round", 1, 1, 1, bi_round},
    /* arrays */
    {"sum", 1, 1, 1, bi_sum},
    {"avg", 1, 1, 1, bi_avg},
    {"count", 1, 1, 1, bi_count},
    {"first", 1, 1, 1, bi_first},
    {"last", 1, 1, 1, bi_last},
    {"sort", 1, 1, 1, bi_sort},
    {"reverse", 1, 1, 1, bi_reverse},
    {"unique", 1, 1, 1, bi_unique},
    {"slice", 2, 3, 1, bi_slice},
    {"range", 2, 3, 1, bi_range},
    {"array_concat", 2, 2, 1, bi_array_concat},
    {"flatten", 1, 1, 1, bi_flatten},
    {"map_extract", 2, 2, 1, bi_map_extract},
    {"filter_by", 3, 3, 1, bi_filter_by},
    {"group_by", 2, 2, 1, bi_group_by},
    {"graph_reachable", 2, 2, 1, bi_graph_reachable},
    /* objects */
    {"keys", 1, 1, 1, bi_keys},
    {"values", 1, 1, 1, bi_values},
    {"has_key", 2, 2, 1, bi_has_key},
    {"merge", 2, 2, 1, bi_merge},
    {"object_get", 3, 3, 1, bi_object_get},
    /* types and conversions */
    {"type", 1, 1, 1, bi_type},
    {"is_null", 1, 1, 1, bi_is_null},
    {"is_number", 1, 1, 1, bi_is_number},
    {"is_string", 1, 1, 1, bi_is_string},
    {"is_array", 1, 1, 1, bi_is_array},
    {"is_bool", 1, 1, 1, bi_is_bool},
    {"is_object", 1, 1, 1, bi_is_object},
    {"to_int", 1, 1, 1, bi_to_int},
    {"to_float", 1, 1, 1, bi_to_float},
    {"to_string", 1, 1, 1, bi_to_string},
    {"to_bool", 1, 1, 1, bi_to_bool},
    /* JSON */
    {"json_marshal", 1, 1, 1, bi_json_marshal},
    {"json_unmarshal", 1, 1, 1, bi_json_unmarshal},
    {NULL, 0, 0, 0, NULL}};

/* ==== Registry: core table then ext table, with a sorted name index ==== */

#define MAX_BUILTINS 256

static struct {
  const gv_builtin *all[MAX_BUILTINS]; /* combined table, core first   */
  uint8_t name_len[MAX_BUILTINS];      /* strlen of each name          */
  uint16_t by_name[MAX_BUILTINS];      /* indexes of 'all', name order */
  int n;                               /* entries in 'all'             */
} reg;
/* 0: not built, 1: being built, 2: ready.  (Not pthread_once: with -Icore,
** <pthread.h> would pick up core/sched.h in place of the system one.) */
static int reg_state;

/* Orders (p, n) against entry 'i' of the combined table: <0, 0, >0. */
static int name_cmp(const char *p, size_t n, int i) {
  size_t m = reg.name_len[i];
  int c = memcmp(p, reg.all[i]->name, n < m ? n : m);
  if (c)
    return c;
  return n < m ? -1 : n > m ? 1 : 0;
}

/* Runs once: fills 'reg' from both tables and sorts the name index. */
static void reg_build(void) {
  const gv_builtin *tabs[2] = {gavel__builtins_core, gavel__builtins_ext};
  int t, i, j;
  for (t = 0; t < 2; t++)
    for (i = 0; tabs[t][i].name; i++) {
      if (GAVEL_NEVER(reg.n == MAX_BUILTINS))
        return;
      reg.all[reg.n] = &tabs[t][i];
      reg.name_len[reg.n] = (uint8_t)strlen(tabs[t][i].name);
      reg.n++;
    }
  for (i = 0; i < reg.n; i++) { /* insertion sort: ~100 names, once */
    uint16_t k = (uint16_t)i;
    for (j = i; j > 0 && name_cmp(reg.all[k]->name, reg.name_len[k],
                                  reg.by_name[j - 1]) < 0;
         j--)
      reg.by_name[j] = reg.by_name[j - 1];
    reg.by_name[j] = k;
  }
}

/* Builds 'reg' on first use; other threads wait the few microseconds. */
static void reg_ready(void) {
  int expect = 0;
  if (__atomic_load_n(&reg_state, __ATOMIC_ACQUIRE) == 2)
    return;
  if (__atomic_compare_exchange_n(&reg_state, &expect, 1, 0,
                                  __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    reg_build();
    __atomic_store_n(&reg_state, 2, __ATOMIC_RELEASE);
    return;
  }
  while (__atomic_load_n(&reg_state, __ATOMIC_ACQUIRE) != 2)
    ;
}

const gv_builtin *gavel__builtin_find(const char *name, size_t len) {
  int lo = 0, hi;
  reg_ready();
  hi = reg.n;
  while (lo < hi) {
    int mid = (lo + hi) / 2, c = name_cmp(name, len, reg.by_name[mid]);
    if (c == 0)
      return reg.all[reg.by_name[mid]];
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return NULL;
}

int gavel__builtin_index(const gv_builtin *b) {
  int i;
  reg_ready();
  for (i = 0; i < reg.n; i++)
    if (reg.all[i] == b)
      return i;
  return -1;
}

const gv_builtin *gavel__builtin_at(int idx) {
  reg_ready();
  return idx >= 0 && idx < reg.n ? reg.all[idx] : NULL;
}

int gavel__builtin_count(void) {
  reg_ready();
  return reg.n;
}
