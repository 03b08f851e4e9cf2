/*
** json.c -- JSON text <-> values: the validating, projecting reader, the
** deterministic writer and the number formatting shared with builtins.
**
** Sits beside value.c, below every pipeline stage: load.c, the VM, the
** builtins and the API call into it.  Input is (pointer, length) bytes;
** values go into the caller's arena and nothing here frees.  The only
** process-wide state is made once (C11 call_once, which glibc implements
** with pthread_once): the "C" locale used for strtod_l and the seed of the
** duplicate-key hash.  <threads.h>, not <pthread.h>: the latter includes
** <sched.h>, which core/sched.h shadows when core/ is on the -I path.
** This file never does I/O, never compiles or runs rules, and never
** depends on the process locale.
*/
#define _GNU_SOURCE /* strtod_l, getrandom */
#include "json.h"
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <threads.h>
#include <time.h>

/* ==== Process-wide state (made once) ==== */

static once_flag g_once = ONCE_FLAG_INIT;
static locale_t g_c_locale; /* "C" locale for strtod_l; 0 if unavailable */

static void init_once(void) {
  g_c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* ==== Decimal text -> double ==== */

/* Exact powers of ten for Clinger's fast path (all exactly representable). */
static const double pow10_exact[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Significant digits kept for strtod_l.  Deciding the rounding of a double
** needs at most 768 significant digits; the rest only matters through
** whether it is zero, which one appended '1' (a sticky digit) preserves. */
#define SLOW_DIGITS 800

GAVEL_INLINE int is_digit(unsigned c) { return c - '0' < 10u; }

/* Writes the decimal digits of 'v' at 'w' (no NUL); returns their count. */
static size_t u64_dec(char *w, uint64_t v) {
  char tmp[20];
  size_t n = 0, i;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (i = 0; i < n; i++)
    w[i] = tmp[n - 1 - i];
  return n;
}

static size_t i64_dec(char *w, int64_t v) {
  if (v < 0) {
    *w = '-';
    return 1 + u64_dec(w + 1, (uint64_t)0 - (uint64_t)v);
  }
  return u64_dec(w, (uint64_t)v);
}

/* Saturating accumulation of an exponent's digits (bounded well inside
** int64 even after adding a 64-bit digit count). */
static int64_t scan_exp(const unsigned char **ps, const unsigned char *e) {
  const unsigned char *s = *ps;
  int64_t x = 0;
  int neg = 0;
  if (s < e && (*s == '+' || *s == '-'))
    neg = *s++ == '-';
  for (; s < e && is_digit(*s); s++)
    if (x < 1000000000000ll)
      x = x * 10 + (*s - '0');
  *ps = s;
  return neg ? -x : x;
}

/* Slow path: rewrites the number as "[-]DDD...e<exp>" with at most
** SLOW_DIGITS (+1 sticky) significant digits, then calls strtod_l, which
** glibc rounds correctly.  Syntax already checked. */
static GAVEL_NOINLINE double dec_slow(const unsigned char *s,
                                      const unsigned char *e) {
  char buf[SLOW_DIGITS + 48];
  size_t k = 1; /* buf[0] is the sign slot */
  int64_t e10 = 0;
  int sticky = 0;
  buf[0] = '+';
  if (s < e && (*s == '+' || *s == '-'))
    buf[0] = (char)*s++;
  for (; s < e && is_digit(*s); s++) {
    if (k == 1 && *s == '0')
      continue;
    if (k <= SLOW_DIGITS)
      buf[k++] = (char)*s;
    else {
      e10++;
      sticky |= *s != '0';
    }
  }
  if (s < e && *s == '.')
    for (s++; s < e && is_digit(*s); s++) {
      if (k == 1 && *s == '0')
        e10--;
      else if (k <= SLOW_DIGITS) {
        buf[k++] = (char)*s;
        e10--;
      } else
        sticky |= *s != '0';
    }
  if (s < e && (*s | 0x20) == 'e') {
    s++;
    e10 += scan_exp(&s, e);
  }
  if (k == 1)
    return buf[0] == '-' ? -0.0 : 0.0;
  if (sticky) {
    buf[k++] = '1';
    e10--;
  }
  /* |value| < 10^(k + e10): clamping keeps inf as inf and 0 as 0. */
  if (e10 > 100000)
    e10 = 100000;
  if (e10 < -100000)
    e10 = -100000;
  buf[k++] = 'e';
  k += i64_dec(buf + k, e10);
  buf[k] = 0;
  call_once(&g_once, init_once);
  if (GAVEL_NEVER(g_c_locale == (locale_t)0))
    return strtod(buf, NULL);
  return strtod_l(buf, NULL, g_c_locale);
}

/* Converts syntactically valid decimal text (strtod syntax without hex or
** inf/nan: [+-]digits[.digits][e[+-]digits]) to the nearest double.
** Clinger's fast path when the digits fit 2^53 and the power of ten is
** exact (one correctly rounded IEEE operation), strtod_l otherwise. */
static double dec_to_double(const unsigned char *p, const unsigned char *e) {
  const unsigned char *s = p;
  uint64_t m = 0;
  int64_t e10 = 0;
  int nsig = 0, neg = 0, more = 0;
  double d;
  if (s < e && (*s == '+' || *s == '-'))
    neg = *s++ == '-';
  for (; s < e && is_digit(*s); s++) {
    if (nsig < 19) {
      m = m * 10 + (*s - '0');
      nsig += m != 0;
    } else {
      e10++;
      more |= *s != '0';
    }
  }
  if (s < e && *s == '.')
    for (s++; s < e && is_digit(*s); s++) {
      if (nsig < 19) {
        m = m * 10 + (*s - '0');
        nsig += m != 0;
        e10--;
      } else
        more |= *s != '0';
    }
  if (s < e && (*s | 0x20) == 'e') {
    s++;
    e10 += scan_exp(&s, e);
  }
  if (m == 0)
    return neg ? -0.0 : 0.0; /* every digit was zero */
  if (more || m > (1ull << 53) || e10 < -22 || e10 > 22)
    return dec_slow(p, e);
  d = (double)m;
  d = e10 < 0 ? d / pow10_exact[-e10] : d * pow10_exact[e10];
  return neg ? -d : d;
}

/* Returns 0 on success, 1 when the magnitude overflows (*out = +-inf), -1
** on a syntax error ('n' bytes must all belong to the number). */
int gavel__parse_double(const char *p, size_t n, double *out) {
  const unsigned char *s = (const unsigned char *)p, *e = s + n;
  const unsigned char *b = s;
  size_t nd = 0;
  if (s < e && (*s == '+' || *s == '-'))
    s++;
  for (; s < e && is_digit(*s); s++)
    nd++;
  if (s < e && *s == '.')
    for (s++; s < e && is_digit(*s); s++)
      nd++;
  if (nd == 0)
    return -1;
  if (s < e && (*s | 0x20) == 'e') {
    s++;
    if (s < e && (*s == '+' || *s == '-'))
      s++;
    if (s >= e || !is_digit(*s))
      return -1;
    while (s < e && is_digit(*s))
      s++;
  }
  if (s != e)
    return -1;
  *out = dec_to_double(b, e);
  return isinf(*out) ? 1 : 0;
}

/* ==== Reader: state and errors ==== */

typedef enum jmode {
  M_FULL, /* materialise everything below                */
  M_PROJ, /* materialise what the node set reaches       */
  M_SKIP  /* validate only, allocate nothing             */
} jmode;

/* Most projection nodes that can reach one value at once; more (only with
** a degenerate projection) materialises the value whole, which is always
** allowed: a projection only says what may be dropped. */
#define PSET_MAX 8

typedef struct pset {
  int len;                    /* nodes in use                      */
  const gv_proj *n[PSET_MAX]; /* the nodes reaching this value     */
} pset;

/* A member (or element) of a container still being read. */
typedef struct jslot {
  gv_str *key; /* member key; NULL in arrays                  */
  gvalue val;  /* its value                                   */
} jslot;

/* Scratch slots on the C stack before spilling to the allocator. */
#define JSTACK_INIT 64

/* Reader functions take the cursor 's' (at the first byte of what they
** read; callers guarantee s < end) and return the byte after it, or NULL
** once the error is recorded in 'err' and 'rc'.  Keeping the cursor in a
** local, not in this struct, lets it live in a register. */
typedef struct jparser {
  const unsigned char *beg; /* first byte of the document            */
  const unsigned char *end; /* one past its last byte                */
  gv_arena *a;              /* arena for every value made            */
  gavel_status rc;          /* status of the first error             */
  gavel_error *err;         /* error sink, may be NULL               */
  int depth;                /* arrays/objects open now               */
  uint64_t max_elems;       /* longest array accepted                */
  jslot *stk;               /* members of every open container       */
  size_t top;               /* slots of 'stk' in use                 */
  size_t cap;               /* slots of 'stk' allocated              */
  jslot *stk0;              /* the initial slots (C stack)           */
  char *cur;                /* next byte of the arena's window       */
  char *lim;                /* end of the window                     */
} jparser;

static void jpath_at(const unsigned char *beg, const unsigned char *at,
                     char *buf, size_t bufsz);

/* Records a reader error at 'at' (offset, 1-based line and byte column)
** and returns 'code' (GAVEL_JSON or GAVEL_LIMIT). */
static GAVEL_NOINLINE gavel_status jfail(jparser *jp, gavel_status code,
                                         const unsigned char *at,
                                         const char *what) {
  const unsigned char *q, *ls = jp->beg;
  size_t off = (size_t)(at - jp->beg);
  int line = 1;
  jp->rc = code;
  for (q = jp->beg; q < at; q++)
    if (*q == '\n') {
      line++;
      ls = q + 1;
    }
  if (jp->err) {
    jp->err->offset = (long)off;
    jp->err->line = line;
    jp->err->column = (int)(at - ls) + 1;
  }
  if (code == GAVEL_LIMIT) {
    char path[200];
    if (!jp->err)
      return code;
    jpath_at(jp->beg, at, path, sizeof path);
    return gavel__errorf(jp->err, code,
                         "JSON too deep at byte %zu (line %d, column %d): "
                         "nesting exceeds %d levels, path %s",
                         off, line, (int)(at - ls) + 1, GAVEL_MAX_JSON_DEPTH,
                         path);
  }
  return gavel__errorf(jp->err, code,
                       "invalid JSON at byte %zu (line %d, column %d): %s",
                       off, line, (int)(at - ls) + 1, what);
}

/* ==== Reader limits ====
**
** Besides the nesting (GAVEL_MAX_JSON_DEPTH) and the caller's total size
** (max_input_bytes), every document read obeys the engine's value limits,
** the ones Lua input and values built at run time obey (gavel_int.h):
**   max_string_bytes  a string or key of at most GAVEL_MAX_STR_BYTES bytes
**                     (16 MiB, counted decoded);
**   max_array_len     an array of at most GAVEL_MAX_ARR_LEN elements (1M;
**                     gavel__json_parse_max may ask for fewer);
**   max_object_keys   an object of at most GAVEL_MAX_ARR_LEN members (1M,
**                     duplicates counted as written).
** Members skipped by a projection are checked too: validity never depends
** on the projection.  The error is GAVEL_LIMIT and names the limit, the
** byte, line and column, and the JSON path of the value ($.a[2].b). */

/* Writes the JSON path of the value at 'at' into 'buf' ('$' for the root):
** the text before 'at' is a valid prefix (the reader got there), so a
** light scan that tracks containers, keys and indices is enough.  Only
** run on the error path. */
static void jpath_at(const unsigned char *beg, const unsigned char *at,
                     char *buf, size_t bufsz) {
  typedef struct {
    const unsigned char *k; /* last key read (objects)      */
    size_t klen;
    uint64_t idx;           /* element index (arrays)       */
    char arr;               /* 1 array, 0 object            */
    char want_key;          /* object: the next string is a key */
  } pseg;
  pseg stk[GAVEL_MAX_JSON_DEPTH + 2];
  const unsigned char *s = beg;
  int d = 0, i;
  size_t n;
  while (s < at) {
    switch (*s) {
    case '"': {
      const unsigned char *b = ++s;
      while (s < at && *s != '"')
        s += *s == '\\' ? 2 : 1;
      if (d > 0 && !stk[d - 1].arr && stk[d - 1].want_key) {
        stk[d - 1].k = b;
        stk[d - 1].klen = (size_t)((s < at ? s : at) - b);
        stk[d - 1].want_key = 0;
      }
      s++;
      continue;
    }
    case '{':
    case '[':
      if (d < GAVEL_MAX_JSON_DEPTH + 2) {
        stk[d].arr = *s == '[';
        stk[d].want_key = *s == '{';
        stk[d].idx = 0;
        stk[d].k = NULL;
        stk[d].klen = 0;
      }
      d++;
      break;
    case '}':
    case ']':
      if (d > 0)
        d--;
      break;
    case ',':
      if (d > 0 && d <= GAVEL_MAX_JSON_DEPTH + 2) {
        if (stk[d - 1].arr)
          stk[d - 1].idx++;
        else
          stk[d - 1].want_key = 1;
      }
      break;
    default:
      break;
    }
    s++;
  }
  n = (size_t)snprintf(buf, bufsz, "$");
  if (d > GAVEL_MAX_JSON_DEPTH + 2)
    d = GAVEL_MAX_JSON_DEPTH + 2;
  for (i = 0; i < d && n < bufsz; i++) {
    if (stk[i].arr)
      n += (size_t)snprintf(buf + n, bufsz - n, "[%llu]",
                            (unsigned long long)stk[i].idx);
    else if (stk[i].k && !stk[i].want_key)
      n += (size_t)snprintf(buf + n, bufsz - n, ".%.*s",
                            (int)(stk[i].klen > 48 ? 48 : stk[i].klen),
                            (const char *)stk[i].k);
  }
  if (n >= bufsz && bufsz > 4)
    memcpy(buf + bufsz - 4, "...", 4);
}

/* A reader limit at 'at': "<what> (limit <name>) at byte N (line L,
** column C), path P".  Returns GAVEL_LIMIT. */
static GAVEL_NOINLINE gavel_status jfail_limit(jparser *jp,
                                               const unsigned char *at,
                                               const char *what,
                                               const char *limit) {
  const unsigned char *q, *ls = jp->beg;
  size_t off = (size_t)(at - jp->beg);
  int line = 1;
  char path[200];
  jp->rc = GAVEL_LIMIT;
  for (q = jp->beg; q < at; q++)
    if (*q == '\n') {
      line++;
      ls = q + 1;
    }
  if (jp->err) {
    jp->err->offset = (long)off;
    jp->err->line = line;
    jp->err->column = (int)(at - ls) + 1;
  }
  if (!jp->err)
    return GAVEL_LIMIT;
  jpath_at(jp->beg, at, path, sizeof path);
  return gavel__errorf(jp->err, GAVEL_LIMIT,
                       "%s (limit %s) at byte %zu (line %d, column %d), "
                       "path %s",
                       what, limit, off, line, (int)(at - ls) + 1, path);
}

/* An array longer than jp->max_elems (the engine's GAVEL_MAX_ARR_LEN, or
** less for gavel__json_parse_max). */
static GAVEL_NOINLINE void jfail_elems(jparser *jp, const unsigned char *at) {
  char what[96];
  snprintf(what, sizeof what, "array longer than %llu elements",
           (unsigned long long)jp->max_elems);
  jfail_limit(jp, at, what, "max_array_len");
}

/* An object with more than GAVEL_MAX_ARR_LEN members. */
static GAVEL_NOINLINE void jfail_members(jparser *jp,
                                         const unsigned char *at) {
  char what[96];
  snprintf(what, sizeof what, "object with more than %u members",
           (unsigned)GAVEL_MAX_ARR_LEN);
  jfail_limit(jp, at, what, "max_object_keys");
}

/* A string or key longer than GAVEL_MAX_STR_BYTES (decoded). */
static GAVEL_NOINLINE void jfail_strlen(jparser *jp,
                                        const unsigned char *at) {
  char what[96];
  snprintf(what, sizeof what, "string longer than %u bytes",
           (unsigned)GAVEL_MAX_STR_BYTES);
  jfail_limit(jp, at, what, "max_string_bytes");
}

/* GAVEL_NOMEM or GAVEL_LIMIT after an allocation failed. */
static GAVEL_NOINLINE gavel_status jnomem(jparser *jp) {
  gavel_status st = jp->rc = gavel__arena_status(jp->a);
  return gavel__errorf(jp->err, st,
                       st == GAVEL_LIMIT
                           ? "memory limit exceeded while parsing JSON"
                           : "out of memory while parsing JSON");
}

/* Error at 'at', or "unexpected end of input" when 'at' is the end. */
static GAVEL_NOINLINE gavel_status jfail_at(jparser *jp,
                                            const unsigned char *at,
                                            const char *what) {
  return jfail(jp, GAVEL_JSON, at,
               at >= jp->end ? "unexpected end of input" : what);
}

/* 1 for the four JSON whitespace bytes. */
static const uint8_t ws_tab[256] = {[' '] = 1, ['\t'] = 1, ['\n'] = 1,
                                    ['\r'] = 1};

GAVEL_INLINE const unsigned char *skip_ws(const unsigned char *s,
                                          const unsigned char *e) {
  while (s < e && ws_tab[*s])
    s++;
  return s;
}

/* ==== Reader: allocation ==== */

/* The reader bumps a window of the arena's current chunk: at most what
** the chunk has left and what the arena's limit allows, so a fast
** allocation tests neither the limit nor the failure flag, and updates
** one field instead of two.  The arena learns what was taken ('cur',
** 'used') at each jsync: before anything else allocates from it and at
** the end of the parse.  Allocations and failures are exactly those of
** gavel__arena_alloc (measured against it: examples/loan.input.json with
** the loan projection 2% faster). */
static void jsync(jparser *jp) {
  gv_arena *a = jp->a;
  a->used += (size_t)(jp->cur - a->cur);
  a->cur = jp->cur;
}

/* Opens the window at the arena's current position (after a jsync or at
** the start). */
static void jwindow(jparser *jp) {
  gv_arena *a = jp->a;
  size_t room = 0;
  if (!a->failed && a->cur) {
    room = (size_t)(a->end - a->cur);
    if (a->limit)
      room = a->used >= a->limit         ? 0
             : a->limit - a->used < room ? a->limit - a->used
                                         : room;
  }
  jp->cur = jp->lim = a->cur;
  if (room >= 8)
    jp->lim += room & ~(size_t)7;
}

/* gavel__arena_alloc (same 8-byte rounding, limit and sticky failure)
** when the window is exhausted. */
static GAVEL_NOINLINE void *jalloc_slow(jparser *jp, size_t n) {
  void *p;
  jsync(jp);
  p = gavel__arena_alloc(jp->a, n);
  jwindow(jp);
  return p;
}

GAVEL_INLINE void *jalloc(jparser *jp, size_t n) {
  char *p = jp->cur;
  n = (n + 7) & ~(size_t)7;
  if (GAVEL_LIKELY((size_t)(jp->lim - p) >= n)) {
    jp->cur = p + n;
    return p;
  }
  return jalloc_slow(jp, n);
}

/* Doubles the scratch slots (through the arena's allocator hook; freed
** by gavel__json_parse).  0 on allocation failure. */
static GAVEL_NOINLINE int jgrow(jparser *jp) {
  const gavel__alloc *al = jp->a->al;
  size_t ncap = jp->cap * 2;
  jslot *n;
  if (jp->stk == jp->stk0) {
    if ((n = gavel__malloc(al, ncap * sizeof(jslot))) != NULL)
      memcpy(n, jp->stk, jp->top * sizeof(jslot));
  } else {
    n = gavel__realloc(al, jp->stk, jp->cap * sizeof(jslot),
                       ncap * sizeof(jslot));
  }
  if (!n)
    return 0;
  jp->stk = n;
  jp->cap = ncap;
  return 1;
}

/* Copies '*src' to '*dst' as two 8-byte words through registers.  Values
** are written field by field (two 8-byte stores), and the 16-byte load a
** struct copy compiles to cannot be forwarded from them: it waits for the
** stores to commit (measured: examples/loan.input.json with the loan
** projection 470 -> 420 ns a parse, 23% of the samples were on that
** load).  The empty asm keeps GCC's SLP pass from merging the two loads
** back into one. */
GAVEL_INLINE void val_copy(gvalue *dst, const gvalue *src) {
  uint64_t t = src->tag, pl = (uint64_t)src->u.i;
#if defined(__GNUC__)
  __asm__("" : "+r"(t), "+r"(pl));
#endif
  dst->tag = t;
  dst->u.i = (int64_t)pl;
}

GAVEL_INLINE int jpush(jparser *jp, gv_str *key, const gvalue *v) {
  if (GAVEL_UNLIKELY(jp->top == jp->cap) && !jgrow(jp))
    return 0;
  jp->stk[jp->top].key = key;
  val_copy(&jp->stk[jp->top].val, v);
  jp->top++;
  return 1;
}

/* ==== Reader: strings ==== */

/* 1 for bytes that stop the fast string scan: '"', '\\', controls and
** every non-ASCII byte (checked as UTF-8). */
static const uint8_t str_stop[256] = {
    [0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x80 ... 0xff] = 1};

/* Marks (0x80 in each byte) the bytes of 'w' that are '"', '\\', < 0x20
** or >= 0x80.  Exact up to the first marked byte; later marks may be
** spurious (borrows), so only the lowest one is used.  A borrow only
** leaves a byte that is marked.  Without one, for a byte x below 0x80,
** x - 1 has its high bit set exactly when x is 0 and x - 0x20 exactly
** when x < 0x20; x from 0x80 keeps the high bit in both x ^ '"' and
** x ^ '\\', and one of them minus 1 still has it (only 0x80 loses it,
** and they cannot both be 0x80).  So the usual "& ~x" terms and "| w"
** are not needed: five operations less per word (checked against the
** definition on 8 x 10^8 words; loan.input.json 3-4% faster). */
GAVEL_INLINE uint64_t str_special(uint64_t w) {
  const uint64_t ones = 0x0101010101010101ull, high = ones << 7;
  uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
  return ((q - ones) | (b - ones) | (w - ones * 0x20)) & high;
}

GAVEL_INLINE int hexval(unsigned c) {
  if (c - '0' < 10u)
    return (int)(c - '0');
  c |= 0x20;
  if (c - 'a' < 6u)
    return (int)(c - 'a' + 10);
  return -1;
}

/* Four hex digits at 's' (in bounds) or -1. */
GAVEL_INLINE int hex4(const unsigned char *s) {
  int a = hexval(s[0]), b = hexval(s[1]), c = hexval(s[2]), d = hexval(s[3]);
  if ((a | b | c | d) < 0)
    return -1;
  return (a << 12) | (b << 8) | (c << 4) | d;
}

/* Length of the well-formed UTF-8 sequence at 's' (Unicode table 3-7:
** no overlongs, no surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s, const unsigned char *e) {
  unsigned c = s[0], lo = 0x80, hi = 0xBF;
  size_t avail = (size_t)(e - s);
  if (c < 0xC2 || c > 0xF4)
    return 0;
  if (c < 0xE0)
    return avail >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
  if (c < 0xF0) {
    if (c == 0xE0)
      lo = 0xA0;
    else if (c == 0xED)
      hi = 0x9F;
    return avail >= 3 && s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80
               ? 3
               : 0;
  }
  if (c == 0xF0)
    lo = 0x90;
  else if (c == 0xF4)
    hi = 0x8F;
  return avail >= 4 && s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 &&
                 (s[3] & 0xC0) == 0x80
             ? 4
             : 0;
}

/* Validates the escape whose backslash is at 's'.  Returns the byte after
** it, or NULL with '*at' and '*what' describing the error. */
static const unsigned char *check_escape(const unsigned char *s,
                                         const unsigned char *e,
                                         const unsigned char **at,
                                         const char **what) {
  int u, lo;
  *at = e;
  *what = "unterminated string";
  if (e - s < 2)
    return NULL;
  switch (s[1]) {
  case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r':
  case 't':
    return s + 2;
  case 'u':
    break;
  default:
    *at = s;
    *what = "invalid escape";
    return NULL;
  }
  if (e - s < 6)
    return NULL;
  *at = s;
  if ((u = hex4(s + 2)) < 0) {
    *what = "invalid \\u escape";
    return NULL;
  }
  *what = "lone surrogate in \\u escape";
  if (u < 0xD800 || u > 0xDFFF)
    return s + 6;
  if (u >= 0xDC00)
    return NULL;
  if (e - s < 12) {
    if (e - s > 6 && s[6] != '\\')
      return NULL;
    if (e - s > 7 && s[7] != 'u')
      return NULL;
    *at = e;
    *what = "unterminated string";
    return NULL;
  }
  if (s[6] != '\\' || s[7] != 'u')
    return NULL;
  if ((lo = hex4(s + 8)) < 0) {
    *at = s + 6;
    *what = "invalid \\u escape";
    return NULL;
  }
  if (lo < 0xDC00 || lo > 0xDFFF)
    return NULL;
  return s + 12;
}

/* The slow part of scan_string: escapes, controls, UTF-8 and the end of
** input, from the special byte at 's'.  Returns the next byte to scan
** from, the closing quote (*done = 1), or NULL after recording an error. */
static GAVEL_NOINLINE const unsigned char *
string_special(jparser *jp, const unsigned char *s, int *esc, int *done) {
  const unsigned char *e = jp->end, *at;
  const char *what;
  size_t k;
  while (s < e && !str_stop[*s])
    s++;
  if (s >= e) {
    jfail(jp, GAVEL_JSON, e, "unterminated string");
    return NULL;
  }
  if (*s == '"') {
    *done = 1;
    return s;
  }
  if (*s == '\\') {
    *esc = 1;
    if ((s = check_escape(s, e, &at, &what)) == NULL)
      jfail(jp, GAVEL_JSON, at, what);
    return s;
  }
  if (*s < 0x20) {
    jfail(jp, GAVEL_JSON, s, "control character in string");
    return NULL;
  }
  if ((k = utf8_len(s, e)) == 0) {
    jfail(jp, GAVEL_JSON, s, "invalid UTF-8 in string");
    return NULL;
  }
  return s + k;
}

/* Validates the string whose opening quote is at 's'.  Returns the byte
** after the closing quote; '*body'/'*len' are the raw bytes between the
** quotes and '*esc' is 1 if a backslash occurs.  Eight bytes at a time
** while eight remain; the first special byte is found with a count of
** trailing zeros (little-endian: the lowest mark is exact). */
GAVEL_INLINE const unsigned char *scan_string(jparser *jp,
                                              const unsigned char *s,
                                              const unsigned char **body,
                                              size_t *len, int *esc) {
  const unsigned char *e = jp->end;
  int has_esc = 0, done = 0;
  *body = ++s;
  for (;;) {
    if (GAVEL_LIKELY(e - s >= 8)) {
      uint64_t w, m;
      memcpy(&w, s, 8);
      if (!(m = str_special(w))) {
        s += 8;
        continue;
      }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
      s += __builtin_ctzll(m) >> 3;
      if (GAVEL_LIKELY(*s == '"'))
        break;
#endif
    }
    if (!(s = string_special(jp, s, &has_esc, &done)))
      return NULL;
    if (done)
      break;
  }
  *len = (size_t)(s - *body);
  *esc = has_esc;
  return s + 1;
}

static size_t put_utf8(char *w, unsigned u) {
  if (u < 0x80) {
    w[0] = (char)u;
    return 1;
  }
  if (u < 0x800) {
    w[0] = (char)(0xC0 | (u >> 6));
    w[1] = (char)(0x80 | (u & 0x3F));
    return 2;
  }
  if (u < 0x10000) {
    w[0] = (char)(0xE0 | (u >> 12));
    w[1] = (char)(0x80 | ((u >> 6) & 0x3F));
    w[2] = (char)(0x80 | (u & 0x3F));
    return 3;
  }
  w[0] = (char)(0xF0 | (u >> 18));
  w[1] = (char)(0x80 | ((u >> 12) & 0x3F));
  w[2] = (char)(0x80 | ((u >> 6) & 0x3F));
  w[3] = (char)(0x80 | (u & 0x3F));
  return 4;
}

/* Decodes a string body that scan_string accepted into 'dst' (at least
** 'n' bytes: decoding never grows); returns the decoded length. */
static size_t decode_string(char *dst, const unsigned char *s, size_t n) {
  const unsigned char *e = s + n;
  char *w = dst;
  while (s < e) {
    const unsigned char *bs = memchr(s, '\\', (size_t)(e - s));
    unsigned u;
    if (!bs)
      bs = e;
    memcpy(w, s, (size_t)(bs - s));
    w += bs - s;
    if ((s = bs) >= e)
      break;
    switch (s[1]) {
    case 'b': *w++ = '\b'; s += 2; break;
    case 'f': *w++ = '\f'; s += 2; break;
    case 'n': *w++ = '\n'; s += 2; break;
    case 'r': *w++ = '\r'; s += 2; break;
    case 't': *w++ = '\t'; s += 2; break;
    case 'u':
      u = (unsigned)hex4(s + 2);
      s += 6;
      if (u >= 0xD800 && u <= 0xDBFF) {
        u = 0x10000 + ((u - 0xD800) << 10) + ((unsigned)hex4(s + 2) - 0xDC00);
        s += 6;
      }
      w += put_utf8(w, u);
      break;
    default: /* '"', '\\', '/' */
      *w++ = (char)s[1];
      s += 2;
    }
  }
  return (size_t)(w - dst);
}

/* 1 if the string body that scan_string accepted decodes to more than
** GAVEL_MAX_STR_BYTES bytes (the raw length bounds the decoded one, so
** the decoding is counted only for long bodies with escapes). */
GAVEL_INLINE int str_over(const unsigned char *s, size_t n, int esc) {
  const unsigned char *e = s + n;
  size_t len = 0;
  if (GAVEL_LIKELY(n <= GAVEL_MAX_STR_BYTES))
    return 0;
  if (!esc)
    return 1;
  while (s < e) { /* count as decode_string writes */
    unsigned u;
    if (*s != '\\') {
      len++;
      s++;
    } else if (s[1] != 'u') {
      len++;
      s += 2;
    } else {
      u = (unsigned)hex4(s + 2);
      s += 6;
      if (u >= 0xD800 && u <= 0xDBFF) {
        s += 6;
        len += 4;
      } else
        len += u < 0x80 ? 1 : u < 0x800 ? 2 : 3;
    }
  }
  return len > GAVEL_MAX_STR_BYTES;
}

/* New arena string from a validated body (decoding escapes if 'esc'),
** built in place like gavel__str_new.  Short bodies are copied as whole
** 8-byte words when the input has the bytes: the allocation is rounded
** up to 8 anyway, and the terminating NUL is written after. */
GAVEL_INLINE gv_str *make_str(jparser *jp, const unsigned char *body,
                              size_t len, int esc) {
  size_t words = (len + 8) >> 3;
  gv_str *str;
  if (GAVEL_UNLIKELY(len > UINT32_MAX - 16))
    return NULL;
  if (!(str = jalloc(jp, sizeof(gv_str) + len + 1)))
    return NULL;
  str->hash = 0;
  if (esc) {
    len = decode_string(str->s, body, len);
  } else if (words <= 2 && (size_t)(jp->end - body) >= words * 8) {
    memcpy(str->s, body, 8);
    if (words == 2)
      memcpy(str->s + 8, body + 8, 8);
  } else {
    memcpy(str->s, body, len);
  }
  str->len = (uint32_t)len;
  str->s[len] = 0;
  return str;
}

/* New arena string of the 'len' bytes at 'p' (not in the input). */
static gv_str *copy_str(jparser *jp, const char *p, size_t len) {
  gv_str *str = jalloc(jp, sizeof(gv_str) + len + 1);
  if (str) {
    str->len = (uint32_t)len;
    str->hash = 0;
    memcpy(str->s, p, len);
    str->s[len] = 0;
  }
  return str;
}

/* ==== Reader: scalars ==== */

/* Reads a number per the JSON grammar.  Integer lexemes that fit int64 are
** GV_INT, those fitting only uint64 wrap (Ordo: u64 as i64), the rest and
** every lexeme with a fraction or exponent are GV_FLOAT.  Magnitudes that
** overflow a double are an error (as serde_json: "number out of range");
** skipped numbers are checked too, so validity never depends on the
** projection. */
static GAVEL_NOINLINE const unsigned char *
number_slow(jparser *jp, const unsigned char *s, jmode mode, gvalue *out) {
  const unsigned char *e = jp->end, *start = s, *dig;
  const char *what;
  uint64_t m = 0;
  int64_t ev = 0;
  int neg = 0, isfloat = 0;
  size_t nd;
  double d;
  if (*s == '-') {
    neg = 1;
    s++;
  }
  dig = s;
  if (s >= e || !is_digit(*s)) {
    what = "expected digit after '-'";
    goto fail;
  }
  if (*s == '0') {
    if (++s < e && is_digit(*s)) {
      what = "leading zero in number";
      goto fail;
    }
  } else {
    for (; s < e && is_digit(*s); s++)
      m = m * 10 + (*s - '0'); /* wraps past 19 digits: checked below */
  }
  nd = (size_t)(s - dig);
  if (s < e && *s == '.') {
    if (++s >= e || !is_digit(*s)) {
      what = "expected digit after '.'";
      goto fail;
    }
    while (s < e && is_digit(*s))
      s++;
    isfloat = 1;
  }
  if (s < e && (*s | 0x20) == 'e') {
    const unsigned char *sign = ++s;
    if (s < e && (*s == '+' || *s == '-'))
      s++;
    if (s >= e || !is_digit(*s)) {
      what = "expected digit in exponent";
      goto fail;
    }
    s = sign;
    ev = scan_exp(&s, e);
    isfloat = 1;
  }
  if (!isfloat && nd == 20) { /* redo with overflow checks */
    const unsigned char *q;
    m = 0;
    for (q = dig; q < s; q++)
      if (__builtin_mul_overflow(m, 10, &m) ||
          __builtin_add_overflow(m, (uint64_t)(*q - '0'), &m))
        break;
    if (q < s)
      nd = 21;
  }
  if (!isfloat && nd <= 20 && (!neg || m <= (1ull << 63))) {
    if (mode != M_SKIP)
      *out = neg && !m ? gv_float(-0.0)
                       : gv_int(neg ? (int64_t)(0 - m) : (int64_t)m);
    goto done;
  }
  /* A float.  Skipped ones only need converting when they might overflow:
  ** |x| < 10^(nd + ev) <= 10^308 < DBL_MAX otherwise. */
  if (mode == M_SKIP && (int64_t)nd + ev <= 308)
    goto done;
  d = dec_to_double(start, s);
  if (GAVEL_UNLIKELY(isinf(d))) {
    s = start;
    what = "number out of range";
    goto fail;
  }
  if (mode != M_SKIP)
    *out = gv_float(d);
  goto done;
fail:
  jfail_at(jp, s, what);
  s = NULL;
done:
  return s;
}

/* Fast paths: a short integer (at most 18 digits), or a plain decimal
** "int.frac" of at most 15 digits in all (exact in a double, so one
** correctly rounded division by an exact power of ten, as in
** dec_to_double).  Everything else, errors included, goes to
** number_slow. */
GAVEL_INLINE const unsigned char *read_number(jparser *jp,
                                              const unsigned char *s,
                                              jmode mode, gvalue *out) {
  const unsigned char *e = jp->end, *p = s + (*s == '-'), *dig = p, *fr;
  uint64_t m;
  double d;
  if (GAVEL_UNLIKELY(p >= e || !is_digit(*p)))
    goto slow;
  if ((m = *p++ - '0') == 0) {
    if (p < e && is_digit(*p))
      goto slow; /* leading zero */
  } else {
    while (p < e && is_digit(*p))
      m = m * 10 + (*p++ - '0');
  }
  if (GAVEL_LIKELY(p - dig <= 18 &&
                   (p >= e || (*p != '.' && (*p | 0x20) != 'e')))) {
    if (mode != M_SKIP) /* "-0" is the float -0.0, as serde_json reads it */
      *out = *s != '-' ? gv_int((int64_t)m)
             : m    ? gv_int(-(int64_t)m)
                    : gv_float(-0.0);
    return p;
  }
  if (p - dig < 15 && p < e && *p == '.') {
    /* after the loop p - dig - 1 digits have been read, at most 15 */
    for (fr = ++p; p < e && is_digit(*p) && p - dig <= 15; p++)
      m = m * 10 + (*p - '0');
    if (p > fr && (p >= e || (!is_digit(*p) && (*p | 0x20) != 'e'))) {
      if (mode != M_SKIP) {
        d = (double)m / pow10_exact[p - fr];
        *out = gv_float(*s == '-' ? -d : d);
      }
      return p;
    }
  }
slow:
  return number_slow(jp, s, mode, out);
}

/* "true", "false", "null" at 's' (first byte already matched). */
static const unsigned char *read_lit(jparser *jp, const unsigned char *s,
                                     const char *lit, size_t n, gvalue v,
                                     jmode mode, gvalue *out) {
  const unsigned char *e = jp->end;
  size_t i;
  for (i = 1; i < n; i++)
    if (s + i >= e || s[i] != (unsigned char)lit[i]) {
      jfail_at(jp, s + i, "invalid literal");
      s = NULL;
      goto done;
    }
  s += n;
  if (mode != M_SKIP)
    *out = v;
done:
  return s;
}

/* ==== Reader: projection ==== */

/* 1 if the 'n' bytes at 'a' and 'b' are equal.  Keys are short: up to 16
** bytes compare as two overlapping loads of each side (every byte read is
** inside both ranges), longer ones go to memcmp.  Replaces a memcmp call
** per matched key and per same-length duplicate check (measured:
** examples/loan.input.json with the loan projection 420 -> 405 ns). */
GAVEL_INLINE int bytes_eq(const char *a, const char *b, size_t n) {
  uint64_t x, y, u, v;
  uint32_t x4, y4, u4, v4;
  if (n >= 8) {
    if (n > 16)
      return memcmp(a, b, n) == 0;
    memcpy(&x, a, 8);
    memcpy(&y, b, 8);
    memcpy(&u, a + n - 8, 8);
    memcpy(&v, b + n - 8, 8);
    return ((x ^ y) | (u ^ v)) == 0;
  }
  if (n >= 4) {
    memcpy(&x4, a, 4);
    memcpy(&y4, b, 4);
    memcpy(&u4, a + n - 4, 4);
    memcpy(&v4, b + n - 4, 4);
    return ((x4 ^ y4) | (u4 ^ v4)) == 0;
  }
  return n == 0 || (a[0] == b[0] && a[n >> 1] == b[n >> 1] &&
                    a[n - 1] == b[n - 1]);
}

/* gavel__str_eq with bytes_eq. */
GAVEL_INLINE int key_eq(const gv_str *a, const gv_str *b) {
  return a == b || (a->len == b->len && bytes_eq(a->s, b->s, a->len));
}

GAVEL_INLINE int is_star(const gv_proj *c) {
  return c->key_len == 1 && c->key[0] == '*';
}

/* Nodes of 'ps' reaching member 'k' (all children named 'k' or "*").
** Returns M_SKIP (none), M_FULL (one is whole, or too many) or M_PROJ with
** 'sub' filled. */
GAVEL_INLINE jmode proj_key(const pset *ps, const char *k, size_t klen,
                             pset *sub) {
  int i;
  const gv_proj *c;
  sub->len = 0;
  for (i = 0; i < ps->len; i++) {
    const gv_proj *n = ps->n[i];
    if (n->idx) { /* many children: the one named k, and "*" */
      const gv_proj *two[2];
      int j;
      two[0] = gavel__proj_find(n, k, (uint32_t)klen);
      two[1] = n->star;
      for (j = 0; j < 2; j++) {
        if (!(c = two[j]) || (j == 1 && c == two[0]))
          continue;
        if (c->whole || sub->len == PSET_MAX)
          return M_FULL;
        sub->n[sub->len++] = c;
      }
      continue;
    }
    for (c = n->child; c; c = c->next) {
      if (c->key_len != klen || !bytes_eq(c->key, k, klen))
        if (!is_star(c))
          continue;
      if (c->whole || sub->len == PSET_MAX)
        return M_FULL;
      sub->n[sub->len++] = c;
    }
  }
  return sub->len ? M_PROJ : M_SKIP;
}

/* As proj_key, for array element 'idx'. */
static jmode proj_index(const pset *ps, uint64_t idx, pset *sub) {
  int i;
  uint64_t ci;
  const gv_proj *c;
  sub->len = 0;
  for (i = 0; i < ps->len; i++) {
    const gv_proj *n = ps->n[i];
    if (n->idx) { /* many children: those naming idx (sorted), and "*" */
      uint32_t lo = 0, hi = n->n_ichild;
      while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (n->ichild[mid].index < idx)
          lo = mid + 1;
        else
          hi = mid;
      }
      for (; lo < n->n_ichild && n->ichild[lo].index == idx; lo++) {
        if (n->ichild[lo].c->whole || sub->len == PSET_MAX)
          return M_FULL;
        sub->n[sub->len++] = n->ichild[lo].c;
      }
      if ((c = n->star) != NULL) {
        if (c->whole || sub->len == PSET_MAX)
          return M_FULL;
        sub->n[sub->len++] = c;
      }
      continue;
    }
    for (c = n->child; c; c = c->next) {
      if (!is_star(c) && !(gavel__proj_seg_index(c, &ci) && ci == idx))
        continue;
      if (c->whole || sub->len == PSET_MAX)
        return M_FULL;
      sub->n[sub->len++] = c;
    }
  }
  return sub->len ? M_PROJ : M_SKIP;
}

/* How a member with an escaped key is read under a projection: decodes
** the key (on the stack, or in the arena when long) to match it.  Sets
** '*key' (NULL when skipped). */
static GAVEL_NOINLINE gavel_status escaped_member(jparser *jp,
                                                  const pset *ps,
                                                  const unsigned char *body,
                                                  size_t len, jmode *m,
                                                  pset *sub, gv_str **key) {
  char tmp[256];
  gavel_status rc = GAVEL_OK;
  *key = NULL;
  if (len <= sizeof tmp) {
    len = decode_string(tmp, body, len);
    if ((*m = proj_key(ps, tmp, len, sub)) != M_SKIP &&
        !(*key = copy_str(jp, tmp, len)))
      rc = jnomem(jp);
  } else if (!(*key = make_str(jp, body, len, 1))) {
    rc = jnomem(jp);
  } else {
    *m = proj_key(ps, (*key)->s, (*key)->len, sub);
  }
  return rc;
}

/* ==== Reader: containers ==== */

/* Objects with at least this many members find duplicate keys through a
** hash index instead of a linear scan. */
#define KINDEX_MIN 16

typedef struct kindex {
  uint32_t *slot; /* 1 + member number; 0 = empty           */
  uint32_t mask;  /* slot count - 1; 0 = not built yet      */
} kindex;

/* (Re)builds the index of the 'n' members at 'm' with room for 2n. */
static int kindex_build(jparser *jp, const jslot *m, uint32_t n,
                        kindex *ix) {
  uint32_t cap = 64, i, j;
  while (cap < n * 4u)
    cap *= 2;
  if (!(ix->slot = jalloc(jp, cap * sizeof(uint32_t))))
    return 0;
  memset(ix->slot, 0, cap * sizeof(uint32_t));
  ix->mask = cap - 1;
  for (i = 0; i < n; i++) {
    j = (uint32_t)gavel__hash_bytes(m[i].key->s, m[i].key->len) & ix->mask;
    while (ix->slot[j])
      j = (j + 1) & ix->mask;
    ix->slot[j] = i + 1;
  }
  return 1;
}

/* member_put for objects of KINDEX_MIN members or more. */
static GAVEL_NOINLINE int member_put_ix(jparser *jp, size_t base,
                                        kindex *ix, gv_str *key,
                                        const gvalue *v) {
  jslot *m = jp->stk + base;
  uint32_t n = (uint32_t)(jp->top - base), j;
  if ((ix->mask == 0 || n * 2u > ix->mask) &&
      !kindex_build(jp, m, n, ix))
    return 0;
  j = (uint32_t)gavel__hash_bytes(key->s, key->len) & ix->mask; /* seeded */
  for (; ix->slot[j]; j = (j + 1) & ix->mask)
    if (key_eq(m[ix->slot[j] - 1].key, key)) {
      val_copy(&m[ix->slot[j] - 1].val, v);
      return 1;
    }
  if (!jpush(jp, key, v))
    return 0;
  ix->slot[j] = n + 1;
  return 1;
}

/* Adds member 'key': 'v' to the object whose members start at slot
** 'base': a duplicate replaces the earlier value in place (the last value
** wins at the first key's position).  0 on allocation failure. */
GAVEL_INLINE int member_put(jparser *jp, size_t base, kindex *ix,
                            gv_str *key, const gvalue *v) {
  jslot *m = jp->stk + base;
  uint32_t n = (uint32_t)(jp->top - base), i;
  if (n >= KINDEX_MIN)
    return member_put_ix(jp, base, ix, key, v);
  for (i = 0; i < n; i++)
    if (key_eq(m[i].key, key)) {
      val_copy(&m[i].val, v);
      return 1;
    }
  return jpush(jp, key, v);
}

static const unsigned char *read_object(jparser *jp, const unsigned char *s,
                                        jmode mode, const pset *ps,
                                        gvalue *out);
static const unsigned char *read_array(jparser *jp, const unsigned char *s,
                                       jmode mode, const pset *ps,
                                       gvalue *out);

/* Reads the value at 's' (s < end). */
GAVEL_INLINE const unsigned char *read_value(jparser *jp,
                                             const unsigned char *s,
                                             jmode mode, const pset *ps,
                                             gvalue *out) {
  const unsigned char *body;
  size_t len;
  int esc;
  gv_str *str;
  switch (*s) {
  case '"':
    if (!(s = scan_string(jp, s, &body, &len, &esc)))
      break;
    if (GAVEL_UNLIKELY(str_over(body, len, esc))) {
      jfail_strlen(jp, body - 1);
      s = NULL;
      break;
    }
    if (mode == M_SKIP)
      break;
    if ((str = make_str(jp, body, len, esc)) != NULL) {
      *out = gv_strv(str);
      break;
    }
    jnomem(jp);
    s = NULL;
    break;
  case '-': case '0': case '1': case '2': case '3': case '4': case '5':
  case '6': case '7': case '8': case '9':
    s = read_number(jp, s, mode, out);
    break;
  case '{':
    s = read_object(jp, s, mode, ps, out);
    break;
  case '[':
    s = read_array(jp, s, mode, ps, out);
    break;
  case 't':
    s = read_lit(jp, s, "true", 4, gv_bool(1), mode, out);
    break;
  case 'f':
    s = read_lit(jp, s, "false", 5, gv_bool(0), mode, out);
    break;
  case 'n':
    s = read_lit(jp, s, "null", 4, gv_null(), mode, out);
    break;
  default:
    jfail(jp, GAVEL_JSON, s, "expected a value");
    s = NULL;
  }
  return s;
}

/* Moves the slots from 'base' up into one exact-size arena block. */
static int make_array(jparser *jp, size_t base, gvalue *out) {
  size_t n = jp->top - base, i;
  gv_arr *arr = jalloc(jp, sizeof(gv_arr) + n * sizeof(gvalue));
  if (!arr)
    return 0;
  uint32_t d = 0;
  arr->len = arr->cap = (uint32_t)n;
  arr->spare = 0;
  arr->items = n ? (gvalue *)(arr + 1) : NULL;
  for (i = 0; i < n; i++) {
    val_copy(&arr->items[i], &jp->stk[base + i].val);
    if (gv_depth(arr->items[i]) > d)
      d = gv_depth(arr->items[i]);
  }
  arr->depth = d + 1;
  jp->top = base;
  *out = gv_arrv(arr);
  return 1;
}

/* 'ix': the duplicate-key index built while reading (objects of
** KINDEX_MIN members or more) becomes the object's own hash index (same
** hash, same slots: position + 1), so lookups in large input objects --
** equality, builtins, binding -- are not linear scans. */
GAVEL_INLINE int make_object(jparser *jp, size_t base, const kindex *ix,
                             gvalue *out) {
  size_t n = jp->top - base, i;
  gv_obj *o =
      jalloc(jp, sizeof(gv_obj) + n * (sizeof(gv_str *) + sizeof(gvalue)));
  if (!o)
    return 0;
  uint32_t d = 0;
  o->len = o->cap = (uint32_t)n;
  o->idx_mask = ix->slot ? ix->mask : 0;
  o->idx = ix->slot;
  o->nodup = 1; /* member_put kept one member per key */
  o->keys = n ? (gv_str **)(o + 1) : NULL;
  o->vals = n ? (gvalue *)(o->keys + n) : NULL;
  for (i = 0; i < n; i++) {
    o->keys[i] = jp->stk[base + i].key;
    val_copy(&o->vals[i], &jp->stk[base + i].val);
    if (gv_depth(o->vals[i]) > d)
      d = gv_depth(o->vals[i]);
  }
  o->depth = d + 1;
  jp->top = base;
  *out = gv_objv(o);
  return 1;
}

static const unsigned char *read_array(jparser *jp, const unsigned char *s,
                                       jmode mode, const pset *ps,
                                       gvalue *out) {
  const unsigned char *e = jp->end;
  size_t base = jp->top;
  uint64_t idx = 0;
  gvalue v = gv_null();
  pset sub;
  jmode m = mode;
  if (GAVEL_UNLIKELY(++jp->depth > GAVEL_MAX_JSON_DEPTH)) {
    jfail(jp, GAVEL_LIMIT, s, NULL);
    goto fail;
  }
  s = skip_ws(s + 1, e);
  if (s < e && *s == ']') {
    s++;
    goto done;
  }
  for (;; idx++) {
    if (GAVEL_UNLIKELY(s >= e)) {
      jfail_at(jp, s, NULL);
      goto fail;
    }
    if (GAVEL_UNLIKELY(idx >= jp->max_elems)) {
      jfail_elems(jp, s);
      goto fail;
    }
    if (mode == M_PROJ)
      m = proj_index(ps, idx, &sub);
    if (!(s = read_value(jp, s, m, &sub, &v)))
      goto fail;
    if (m == M_SKIP)
      v = gv_null();
    if (mode != M_SKIP && !jpush(jp, NULL, &v)) {
      jnomem(jp);
      goto fail;
    }
    if (GAVEL_UNLIKELY(s < e && ws_tab[*s]))
      s = skip_ws(s, e);
    if (GAVEL_LIKELY(s < e && *s == ',')) {
      s = skip_ws(s + 1, e);
      continue;
    }
    if (GAVEL_LIKELY(s < e && *s == ']')) {
      s++;
      break;
    }
    jfail_at(jp, s, "expected ',' or ']' after array element");
    goto fail;
  }
done:
  jp->depth--;
  if (mode == M_SKIP || make_array(jp, base, out))
    return s;
  jnomem(jp);
fail:
  return NULL;
}

/* Reads one "key": value member of an object in mode 'mode' at 's' (the
** opening quote of the key); adds it at 'base' unless skipped. */
GAVEL_INLINE const unsigned char *read_member(jparser *jp,
                                              const unsigned char *s,
                                              jmode mode, const pset *ps,
                                              size_t base, kindex *ix) {
  const unsigned char *e = jp->end, *body;
  size_t len;
  int esc;
  gv_str *key = NULL;
  gvalue v = gv_null();
  pset sub;
  jmode m = mode;
  if (!(s = scan_string(jp, s, &body, &len, &esc)))
    goto fail;
  if (GAVEL_UNLIKELY(str_over(body, len, esc))) {
    jfail_strlen(jp, body - 1);
    goto fail;
  }
  if (GAVEL_UNLIKELY(s >= e || *s != ':')) {
    s = skip_ws(s, e);
    if (s >= e || *s != ':') {
      jfail_at(jp, s, "expected ':' after object key");
      goto fail;
    }
  }
  s = skip_ws(s + 1, e);
  if (GAVEL_UNLIKELY(s >= e)) {
    jfail_at(jp, s, NULL);
    goto fail;
  }
  if (mode == M_PROJ) {
    if (esc) {
      if (escaped_member(jp, ps, body, len, &m, &sub, &key) != GAVEL_OK)
        goto fail;
    } else if ((m = proj_key(ps, (const char *)body, len, &sub)) != M_SKIP &&
               !(key = make_str(jp, body, len, 0))) {
      jnomem(jp);
      goto fail;
    }
  } else if (mode == M_FULL && !(key = make_str(jp, body, len, esc))) {
    jnomem(jp);
    goto fail;
  }
  /* 'sub' is only filled (and read) under a projection. */
  if (!(s = read_value(jp, s, m, mode == M_PROJ ? &sub : ps, &v)))
    goto fail;
  if (m == M_SKIP || member_put(jp, base, ix, key, &v))
    return s;
  jnomem(jp);
fail:
  return NULL;
}

/* Reads the object at 's' (its '{') in mode 'mode'.  Inlined into one
** reader per mode (below). */
GAVEL_INLINE const unsigned char *object_body(jparser *jp,
                                              const unsigned char *s,
                                              jmode mode, const pset *ps,
                                              gvalue *out) {
  const unsigned char *e = jp->end;
  size_t base = jp->top;
  uint32_t nmem;
  kindex ix = {NULL, 0};
  if (GAVEL_UNLIKELY(++jp->depth > GAVEL_MAX_JSON_DEPTH)) {
    jfail(jp, GAVEL_LIMIT, s, NULL);
    goto fail;
  }
  s = skip_ws(s + 1, e);
  if (s < e && *s == '}') {
    s++;
    goto done;
  }
  for (nmem = 0;; nmem++) {
    if (GAVEL_UNLIKELY(s >= e || *s != '"')) {
      jfail_at(jp, s, "expected string key");
      goto fail;
    }
    if (GAVEL_UNLIKELY(nmem >= GAVEL_MAX_ARR_LEN)) {
      jfail_members(jp, s);
      goto fail;
    }
    if (!(s = read_member(jp, s, mode, ps, base, &ix)))
      goto fail;
    if (GAVEL_UNLIKELY(s < e && ws_tab[*s]))
      s = skip_ws(s, e);
    if (GAVEL_LIKELY(s < e && *s == ',')) {
      s = skip_ws(s + 1, e);
      continue;
    }
    if (GAVEL_LIKELY(s < e && *s == '}')) {
      s++;
      break;
    }
    jfail_at(jp, s, "expected ',' or '}' after object member");
    goto fail;
  }
done:
  jp->depth--;
  if (mode == M_SKIP || make_object(jp, base, &ix, out))
    return s;
  jnomem(jp);
fail:
  return NULL;
}

/* One object reader per mode: with 'mode' a constant the mode tests fold
** out of the member loop, and member_put, make_object and proj_key are
** inlined into the loop that uses them (measured on examples/
** loan.input.json: 2-5% faster, and 3-4% more with the projection). */
static GAVEL_NOINLINE const unsigned char *
read_object_skip(jparser *jp, const unsigned char *s, const pset *ps,
                 gvalue *out) {
  return object_body(jp, s, M_SKIP, ps, out);
}

static GAVEL_NOINLINE const unsigned char *
read_object_full(jparser *jp, const unsigned char *s, const pset *ps,
                 gvalue *out) {
  return object_body(jp, s, M_FULL, ps, out);
}

static GAVEL_NOINLINE const unsigned char *
read_object_proj(jparser *jp, const unsigned char *s, const pset *ps,
                 gvalue *out) {
  return object_body(jp, s, M_PROJ, ps, out);
}

static const unsigned char *read_object(jparser *jp, const unsigned char *s,
                                        jmode mode, const pset *ps,
                                        gvalue *out) {
  if (mode == M_PROJ)
    return read_object_proj(jp, s, ps, out);
  if (mode == M_FULL)
    return read_object_full(jp, s, ps, out);
  return read_object_skip(jp, s, ps, out);
}

gavel_status gavel__json_parse(gv_arena *a, const char *p, size_t n,
                               const gv_proj *proj, gvalue *out,
                               gavel_error *err) {
  return gavel__json_parse_max(a, p, n, proj, 0, out, err);
}

gavel_status gavel__json_parse_max(gv_arena *a, const char *p, size_t n,
                                   const gv_proj *proj, uint64_t max_elems,
                                   gvalue *out, gavel_error *err) {
  static const unsigned char empty[1];
  jslot stk0[JSTACK_INIT];
  jparser jp;
  pset root;
  jmode mode = M_FULL;
  const unsigned char *b = p ? (const unsigned char *)p : empty, *s;
  jp.beg = b;
  jp.end = b + (p ? n : 0);
  jp.a = a;
  jp.rc = GAVEL_OK;
  jp.err = err;
  jp.depth = 0;
  jp.max_elems = max_elems && max_elems < GAVEL_MAX_ARR_LEN
                     ? max_elems
                     : GAVEL_MAX_ARR_LEN;
  jp.stk = jp.stk0 = stk0;
  jp.top = 0;
  jp.cap = JSTACK_INIT;
  jwindow(&jp);
  root.len = 1;
  root.n[0] = proj;
  if (proj && !proj->whole)
    mode = M_PROJ;
  *out = gv_null();
  s = skip_ws(b, jp.end);
  if (s >= jp.end) {
    jfail(&jp, GAVEL_JSON, s,
          s == b ? "empty document" : "unexpected end of input");
    goto done;
  }
  if (!(s = read_value(&jp, s, mode, &root, out)))
    goto done;
  s = skip_ws(s, jp.end);
  if (s < jp.end)
    jfail(&jp, GAVEL_JSON, s, "trailing characters after JSON value");
done:
  jsync(&jp);
  if (jp.rc != GAVEL_OK)
    *out = gv_null();
  if (jp.stk != stk0)
    gavel__free(a->al, jp.stk, jp.cap * sizeof(jslot));
  return jp.rc;
}

/* ==== Number formatting ==== */

/* The double nearest to m * 10^e (through the decimal text "<m>e<e>"). */
static double dec_value(uint64_t m, int e) {
  char buf[48];
  size_t k = u64_dec(buf, m);
  buf[k++] = 'e';
  k += i64_dec(buf + k, e);
  return dec_to_double((const unsigned char *)buf,
                       (const unsigned char *)buf + k);
}

static int roundtrips(uint64_t m, int e, double x) {
  return dec_value(m, e) == x;
}

/* x (> 0, finite) rounded to 'prec' significant digits by snprintf:
** x ~ M * 10^E with M of 'prec' digits.  Locale-proof: any non-digit
** between the first digit and the 'e' is taken as the decimal point. */
static void sci_digits(double x, int prec, uint64_t *m, int *e) {
  char buf[64];
  const char *s = buf;
  uint64_t v = 0;
  int ex = 0, neg = 0;
  snprintf(buf, sizeof buf, "%.*e", prec - 1, x);
  while (*s && !is_digit((unsigned char)*s))
    s++;
  for (; *s && *s != 'e' && *s != 'E'; s++)
    if (is_digit((unsigned char)*s))
      v = v * 10 + (uint64_t)(*s - '0');
  if (*s)
    s++;
  if (*s == '-' || *s == '+')
    neg = *s++ == '-';
  for (; is_digit((unsigned char)*s); s++)
    ex = ex * 10 + (*s - '0');
  *m = v;
  *e = (neg ? -ex : ex) - (prec - 1);
}

/* Shortest round-trip digits of x (> 0, finite), as ryu chooses them (the
** shortest, then the closest): digits 'dig[0..*nd)' without trailing zeros
** and '*kk' with x = 0.d1d2... * 10^kk.
** - Integers below 2^53: their exact digits.
** - Normal numbers: half an ulp is below half a unit in the 15th digit, so
**   a decimal of <= 15 digits round-trips only if it is the closest one
**   (%.14e).  Then 16 digits (closest, then the other neighbour, for the
**   asymmetric gap below a power of two), then 17.
** - Subnormals have fewer bits: binary search on the precision (their
**   gaps are symmetric, so "closest p-digit decimal round-trips" is
**   monotone in p). */
/* Fast path for the common "few decimals" numbers (6.5, 0.45, 5200.25):
** the smallest k with round(x*10^k) / 10^k == x.  Both operands of the
** division are exact (an integer below 2^50, a power of ten up to 10^15)
** and the division is correctly rounded, so the decimal round-trips; the
** smallest such k gives the fewest digits, and rounding to nearest picks the
** closest candidate, as ryu does.  Below 2^50 the float product cannot land
** on the wrong integer for a decimal that round-trips (that would need
** x*10^k > 2^52), so no shorter form is missed.  0 when none is found. */
static int exact_decimal(double x, uint64_t *m, int *e) {
  static const double p10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
  int k;
  for (k = 1; k <= 15; k++) {
    double y = x * p10[k], r;
    if (y >= 1125899906842624.0) /* 2^50 */
      return 0;
    r = nearbyint(y);
    if (r / p10[k] == x) {
      *m = (uint64_t)r;
      *e = -k;
      return 1;
    }
  }
  return 0;
}

static void shortest(double x, char *dig, int *nd, int *kk) {
  uint64_t m;
  int e = 0, prec, n, lo = 1, hi = 17;
  if (x < 9007199254740992.0 && x == (double)(uint64_t)x) {
    m = (uint64_t)x;
  } else if (x >= 1e-6 && x < 1e14 && exact_decimal(x, &m, &e)) {
    /* found without printf: see exact_decimal */
  } else if (x < 2.2250738585072014e-308) {
    while (lo < hi) {
      prec = (lo + hi) / 2;
      sci_digits(x, prec, &m, &e);
      if (roundtrips(m, e, x))
        hi = prec;
      else
        lo = prec + 1;
    }
    sci_digits(x, lo, &m, &e);
  } else {
    for (prec = 15; prec <= 17; prec++) {
      sci_digits(x, prec, &m, &e);
      if (prec == 17 || roundtrips(m, e, x))
        break;
      if (prec == 16) {
        uint64_t m2 = dec_value(m, e) < x ? m + 1 : m - 1;
        if (roundtrips(m2, e, x)) {
          m = m2;
          break;
        }
      }
    }
  }
  n = (int)u64_dec(dig, m);
  *kk = n + e;
  while (n > 1 && dig[n - 1] == '0')
    n--;
  *nd = n;
}

static char *put_zeros(char *w, int n) {
  if (n > 0) {
    memset(w, '0', (size_t)n);
    w += n;
  }
  return w;
}

/* Shortest digits 'dig' (n of them, decimal point after kk) laid out as a
** JSON float at 'w': plain while kk <= hi and kk > lo, else exponent form
** ('plus': "e+16" for positive exponents).  Returns the end. */
static char *lay_float(char *w, const char *dig, int n, int kk, int hi,
                       int lo, int plus) {
  int k = kk - n;
  if (0 <= k && kk <= hi) { /* 1234e7 -> 12340000000.0 */
    memcpy(w, dig, (size_t)n);
    w = put_zeros(w + n, k);
    *w++ = '.';
    *w++ = '0';
  } else if (0 < kk && kk <= hi) { /* 1234e-2 -> 12.34 */
    memcpy(w, dig, (size_t)kk);
    w[kk] = '.';
    memcpy(w + kk + 1, dig + kk, (size_t)(n - kk));
    w += n + 1;
  } else if (lo < kk && kk <= 0) { /* 1234e-6 -> 0.001234 */
    *w++ = '0';
    *w++ = '.';
    w = put_zeros(w, -kk);
    memcpy(w, dig, (size_t)n);
    w += n;
  } else { /* 1e30, 1234e30 -> 1.234e33 (or 1.234e+33) */
    *w++ = dig[0];
    if (n > 1) {
      *w++ = '.';
      memcpy(w, dig + 1, (size_t)(n - 1));
      w += n - 1;
    }
    *w++ = 'e';
    if (plus && kk - 1 > 0)
      *w++ = '+';
    w += i64_dec(w, kk - 1);
  }
  *w = 0;
  return w;
}

/* Layout of ryu's d2s_buffered_n (crate ryu, src/pretty/mod.rs), which
** serde_json uses: "3.0", "1e21", "1.5e-7", "0.000001". */
size_t gavel__fmt_double_json(char *buf, double d) {
  char dig[24], *w = buf;
  int n, kk;
  if (!isfinite(d)) {
    memcpy(buf, "null", 5);
    return 4;
  }
  if (signbit(d))
    *w++ = '-';
  if (d == 0) {
    memcpy(w, "0.0", 4);
    return (size_t)(w - buf) + 3;
  }
  shortest(fabs(d), dig, &n, &kk);
  return (size_t)(lay_float(w, dig, n, kk, 21, -6, 0) - buf);
}

/* json_marshal's float text (Ordo's JSON library): the same shortest digits,
** plain below 1e16 and from 1e-5 up ("10000000000000000" is 1e+16), else
** exponent form with an explicit sign: "1e+16", "2.5e-7", "1.5e+300". */
size_t gavel__fmt_double_marshal(char *buf, double d) {
  char dig[24], *w = buf;
  int n, kk;
  if (!isfinite(d) || d == 0)
    return gavel__fmt_double_json(buf, d);
  if (signbit(d))
    *w++ = '-';
  shortest(fabs(d), dig, &n, &kk);
  return (size_t)(lay_float(w, dig, n, kk, 16, -5, 1) - buf);
}

/* Rust's Display for f64 (format!("{}", x)): shortest digits, never an
** exponent, no ".0" on integral values; "NaN", "inf", "-inf", "-0". */
size_t gavel__fmt_double_display(char *buf, double d) {
  char dig[24], *w = buf;
  int n, kk;
  if (isnan(d)) {
    memcpy(buf, "NaN", 4);
    return 3;
  }
  if (signbit(d))
    *w++ = '-';
  if (isinf(d)) {
    memcpy(w, "inf", 4);
    return (size_t)(w - buf) + 3;
  }
  if (d == 0) {
    memcpy(w, "0", 2);
    return (size_t)(w - buf) + 1;
  }
  shortest(fabs(d), dig, &n, &kk);
  if (kk <= 0) {
    *w++ = '0';
    *w++ = '.';
    w = put_zeros(w, -kk);
    memcpy(w, dig, (size_t)n);
    w += n;
  } else if (kk >= n) {
    memcpy(w, dig, (size_t)n);
    w = put_zeros(w + n, kk - n);
  } else {
    memcpy(w, dig, (size_t)kk);
    w[kk] = '.';
    memcpy(w + kk + 1, dig + kk, (size_t)(n - kk));
    w += n + 1;
  }
  *w = 0;
  return (size_t)(w - buf);
}

/* ==== Writer ==== */

/* For each byte: 0 = copy, else the letter after the backslash ('u' for
** \u00XX).  Non-ASCII bytes and '/' are copied. */
static const char esc_char[256] = {
    [0 ... 7] = 'u', ['\b'] = 'b',     ['\t'] = 't', ['\n'] = 'n',
    [11] = 'u',      ['\f'] = 'f',     ['\r'] = 'r', [14 ... 0x1f] = 'u',
    ['"'] = '"',     ['\\'] = '\\'};

void gavel__json_write_str(gv_buf *b, const char *p, size_t n) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *s = (const unsigned char *)p, *e = s + n, *run;
  char esc[6] = {'\\', 0, '0', '0', 0, 0};
  gavel__buf_addc(b, '"');
  while (s < e) {
    for (run = s; s < e && !esc_char[*s]; s++)
      ;
    if (s > run)
      gavel__buf_add(b, run, (size_t)(s - run));
    if (s >= e)
      break;
    esc[1] = esc_char[*s];
    if (esc[1] == 'u') {
      esc[4] = hex[*s >> 4];
      esc[5] = hex[*s & 15];
      gavel__buf_add(b, esc, 6);
    } else
      gavel__buf_add(b, esc, 2);
    s++;
  }
  gavel__buf_addc(b, '"');
}

/* Depth-guarded writer: 0, or -1 (too deep: GAVEL_MAX_WALK_DEPTH), -2
** (a non-finite float, written as null) and -3 (the buffer failed or
** reached its 'max': the walk stops there) as gavel__json_write_checked.
** 'marshal': floats as json_marshal writes them. */
static int json_write(gv_buf *b, gvalue v, int depth, int marshal) {
  char num[32];
  uint32_t i;
  int rc = 0, r;
  switch (v.tag) {
  case GV_BOOL:
    gavel__buf_adds(b, v.u.i ? "true" : "false");
    break;
  case GV_INT:
    gavel__buf_add(b, num, i64_dec(num, v.u.i));
    break;
  case GV_FLOAT:
    gavel__buf_add(b, num, marshal ? gavel__fmt_double_marshal(num, v.u.f)
                                   : gavel__fmt_double_json(num, v.u.f));
    if (GAVEL_UNLIKELY(!isfinite(v.u.f)))
      rc = -2;
    break;
  case GV_STR:
    gavel__json_write_str(b, v.u.s->s, v.u.s->len);
    break;
  case GV_ARR:
    if (GAVEL_UNLIKELY(depth >= GAVEL_MAX_WALK_DEPTH))
      goto too_deep;
    gavel__buf_addc(b, '[');
    for (i = 0; i < v.u.a->len; i++) {
      if (i)
        gavel__buf_addc(b, ',');
      if ((r = json_write(b, v.u.a->items[i], depth + 1, marshal)) != 0) {
        if (r != -2)
          return r;
        rc = r;
      }
      if (GAVEL_UNLIKELY(b->oom))
        return -3; /* stop: one container may be held many times */
    }
    gavel__buf_addc(b, ']');
    break;
  case GV_OBJ:
    if (GAVEL_UNLIKELY(depth >= GAVEL_MAX_WALK_DEPTH))
      goto too_deep;
    gavel__buf_addc(b, '{');
    for (i = 0; i < v.u.o->len; i++) {
      if (i)
        gavel__buf_addc(b, ',');
      gavel__json_write_str(b, v.u.o->keys[i]->s, v.u.o->keys[i]->len);
      gavel__buf_addc(b, ':');
      if ((r = json_write(b, v.u.o->vals[i], depth + 1, marshal)) != 0) {
        if (r != -2)
          return r;
        rc = r;
      }
      if (GAVEL_UNLIKELY(b->oom))
        return -3;
    }
    gavel__buf_addc(b, '}');
    break;
  default: /* GV_NULL, GV_MISSING */
    gavel__buf_add(b, "null", 4);
  }
  return rc;
too_deep:
  b->oom = 1; /* the text is incomplete: callers that only check 'oom' fail */
  return -1;
}

int gavel__json_write_checked(gv_buf *b, gvalue v) {
  return json_write(b, v, 0, 0);
}

int gavel__json_write_marshal(gv_buf *b, gvalue v) {
  return json_write(b, v, 0, 1);
}

void gavel__json_write(gv_buf *b, gvalue v) { (void)json_write(b, v, 0, 0); }

/* ==== Display (Ordo's Value Display) ==== */

/* Follows `impl fmt::Display for Value` in Ordo-Engine/Ordo
** crates/ordo-core/src/context/value.rs: Null "null", Bool/Int/Float with
** Rust's Display, String as "\"{}\"" (no escaping), Array "[a, b]",
** Object "{\"k\": v, ...}".  Ordo iterates its HashMap in hash order; we
** use insertion order, which is deterministic.  GV_MISSING shows "null". */
/* Kept out of gavel__value_display so its recursive frames stay small. */
static GAVEL_NOINLINE void display_float(gv_buf *b, double d) {
  char num[400];
  gavel__buf_add(b, num, gavel__fmt_double_display(num, d));
}

static int value_display(gv_buf *b, gvalue v, int depth) {
  char num[24];
  uint32_t i;
  int r;
  switch (v.tag) {
  case GV_BOOL:
    gavel__buf_adds(b, v.u.i ? "true" : "false");
    break;
  case GV_INT:
    gavel__buf_add(b, num, i64_dec(num, v.u.i));
    break;
  case GV_FLOAT:
    display_float(b, v.u.f);
    break;
  case GV_STR:
    gavel__buf_addc(b, '"');
    gavel__buf_add(b, v.u.s->s, v.u.s->len);
    gavel__buf_addc(b, '"');
    break;
  case GV_ARR:
    if (GAVEL_UNLIKELY(depth >= GAVEL_MAX_WALK_DEPTH))
      goto too_deep;
    gavel__buf_addc(b, '[');
    for (i = 0; i < v.u.a->len; i++) {
      if (i)
        gavel__buf_add(b, ", ", 2);
      if ((r = value_display(b, v.u.a->items[i], depth + 1)) != 0)
        return r;
      if (GAVEL_UNLIKELY(b->oom))
        return -3; /* stop: one container may be held many times */
    }
    gavel__buf_addc(b, ']');
    break;
  case GV_OBJ:
    if (GAVEL_UNLIKELY(depth >= GAVEL_MAX_WALK_DEPTH))
      goto too_deep;
    gavel__buf_addc(b, '{');
    for (i = 0; i < v.u.o->len; i++) {
      if (i)
        gavel__buf_add(b, ", ", 2);
      gavel__buf_addc(b, '"');
      gavel__buf_add(b, v.u.o->keys[i]->s, v.u.o->keys[i]->len);
      gavel__buf_add(b, "\": ", 3);
      if ((r = value_display(b, v.u.o->vals[i], depth + 1)) != 0)
        return r;
      if (GAVEL_UNLIKELY(b->oom))
        return -3;
    }
    gavel__buf_addc(b, '}');
    break;
  default:
    gavel__buf_add(b, "null", 4);
  }
  return 0;
too_deep:
  b->oom = 1;
  return -1;
}

int gavel__value_display_checked(gv_buf *b, gvalue v) {
  return value_display(b, v, 0);
}

void gavel__value_display(gv_buf *b, gvalue v) { (void)value_display(b, v, 0); }
