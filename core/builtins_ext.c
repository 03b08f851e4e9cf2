/*
** builtins_ext.c -- stage 3 support: Ordo's extended builtins (35).
**
** Regex (PCRE2, with the Rust regex crate's syntax and iteration rules),
** time (UTC civil-date math and chrono's strftime dialect, written here:
** no libc locale, TZ or strftime), YAML (libyaml, shaped like serde_yaml
** 0.9), encodings, hashes and HMAC (OpenSSL libcrypto), JWT (HS256/384/
** 512), glob (the glob crate), CIDR (ipnetwork + std::net), semver.
**
** Input: borrowed argument values (arity already checked by the VM).
** Output: new values in the run's arena, or an error recorded in 'gv_rt'
** with Ordo's message text.  Nothing here touches bytecode, rules or I/O;
** the only state is the per-thread compiled-regex cache.
*/
#define _GNU_SOURCE /* memrchr */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "builtins_ext.h"
#include "json.h"

#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <yaml.h>

/* libcrypto, declared here rather than through <openssl/evp.h>: OpenSSL 3's
** headers include <pthread.h>, which includes <sched.h>, which resolves to
** core/sched.h while core/ is on the -I path (json.c has the same note).
** These are the stable OpenSSL 3 prototypes; link with libcrypto. */
typedef struct evp_md_st EVP_MD;
typedef struct engine_st ENGINE;
#define EVP_MAX_MD_SIZE 64
int EVP_Digest(const void *data, size_t count, unsigned char *md,
               unsigned int *size, const EVP_MD *type, ENGINE *impl);
const EVP_MD *EVP_md5(void);
const EVP_MD *EVP_sha256(void);
const EVP_MD *EVP_sha384(void);
const EVP_MD *EVP_sha512(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *data, size_t data_len,
                    unsigned char *md, unsigned int *md_len);
int RAND_bytes(unsigned char *buf, int num);

/* ==== Argument, result and error helpers ==== */

/* Records "Evaluation error: <text>" (GV_E_EVAL) and returns 1. */
static int GAVEL_PRINTF(2, 3) eval_err(gv_rt *rt, const char *fmt, ...) {
  char msg[GAVEL_ERRMSG_SIZE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return gavel__rt_error(rt, GV_E_EVAL, "Evaluation error: %s", msg);
}

/* Ordo's require_string: strings only, "expected string". */
/* A user string for a message: NULs escaped, at most ~200 bytes (issue 8:
** messages were cut at an embedded NUL). */
#define MSG_STR(buf, str)                                                    \
  gavel__msg_escape((buf), sizeof(buf), (str)->s,                            \
                    (str)->len > 200 ? 200 : (str)->len)

static int arg_str(gv_rt *rt, gvalue v, const gv_str **out) {
  *out = NULL;
  if (v.tag != GV_STR)
    return gavel__rt_type_error(rt, "string", v);
  *out = v.u.s;
  return 0;
}

/* Rust 'f as i64': truncates, saturates, NaN -> 0. */
static int64_t f2i(double f) {
  if (f != f)
    return 0;
  if (f >= 9223372036854775807.0)
    return INT64_MAX;
  if (f <= -9223372036854775808.0)
    return INT64_MIN;
  return (int64_t)f;
}

/* Ordo's require_int (Value::as_int): ints, and floats truncated. */
static int arg_int(gv_rt *rt, gvalue v, int64_t *out) {
  if (v.tag == GV_INT)
    *out = v.u.i;
  else if (v.tag == GV_FLOAT)
    *out = f2i(v.u.f);
  else
    return *out = 0, gavel__rt_type_error(rt, "int", v);
  return 0;
}

/* Gas for work over 'n' bytes or elements: one unit per 16, plus one. */
static int charge(gv_rt *rt, size_t n) {
  return gavel__rt_charge(rt, 1 + (int64_t)(n / 16));
}

static int limit_str(gv_rt *rt, const char *fn, size_t n) {
  if (n <= GAVEL_MAX_STR_BYTES)
    return 0;
  return gavel__rt_error(rt, GV_E_LIMIT,
                         "%s: result exceeds the string limit of %u bytes", fn,
                         (unsigned)GAVEL_MAX_STR_BYTES);
}

static int limit_arr(gv_rt *rt, const char *fn, size_t n) {
  if (n <= GAVEL_MAX_ARR_LEN)
    return 0;
  return gavel__rt_error(rt, GV_E_LIMIT,
                         "%s: result exceeds the array limit of %u elements",
                         fn, (unsigned)GAVEL_MAX_ARR_LEN);
}

/* New arena string from bytes; size-limited. */
static int ret_str(gv_rt *rt, gvalue *out, const char *fn, const char *p,
                   size_t n) {
  gv_str *s;
  if (limit_str(rt, fn, n))
    return 1;
  if (!(s = gavel__str_new(rt->arena, p, n)))
    return gavel__rt_nomem(rt);
  *out = gv_strv(s);
  return 0;
}

static void buf_open(gv_rt *rt, gv_buf *b) {
  gavel__buf_init(b, rt->arena->al);
}

/* Publishes a temporary buffer as a string and frees the buffer. */
static int ret_buf(gv_rt *rt, gvalue *out, const char *fn, gv_buf *b) {
  int rc;
  if (b->oom) {
    gavel__buf_free(b);
    return gavel__rt_error(rt, GV_E_NOMEM, "out of memory");
  }
  rc = ret_str(rt, out, fn, b->len ? b->p : "", b->len);
  gavel__buf_free(b);
  return rc;
}

static int push(gv_rt *rt, gv_arr *a, gvalue v) {
  return gavel__arr_push(rt->arena, a, v) ? 0 : gavel__rt_nomem(rt);
}

/* Rust's UTF-8 validation: 0 if valid, else 1 with 'valid_up_to' and
** 'elen' (0 means "incomplete sequence at the end"). */
static int utf8_bad(const unsigned char *p, size_t n, size_t *valid_up_to,
                    int *elen) {
  size_t i = 0;
  while (i < n) {
    unsigned c = p[i], c1;
    int w = c < 0x80                 ? 1
            : c >= 0xC2 && c <= 0xDF ? 2
            : c >= 0xE0 && c <= 0xEF ? 3
            : c >= 0xF0 && c <= 0xF4 ? 4
                                     : 0;
    *valid_up_to = i;
    if (w == 1) {
      i++;
      continue;
    }
    if (w == 0)
      return *elen = 1, 1;
    if (i + 1 >= n)
      return *elen = 0, 1;
    c1 = p[i + 1];
    if (w == 2 && (c1 & 0xC0) != 0x80)
      return *elen = 1, 1;
    if (w == 3 && !((c == 0xE0 && c1 >= 0xA0 && c1 <= 0xBF) ||
                    (c >= 0xE1 && c <= 0xEC && (c1 & 0xC0) == 0x80) ||
                    (c == 0xED && c1 >= 0x80 && c1 <= 0x9F) ||
                    (c >= 0xEE && (c1 & 0xC0) == 0x80)))
      return *elen = 1, 1;
    if (w == 4 && !((c == 0xF0 && c1 >= 0x90 && c1 <= 0xBF) ||
                    (c >= 0xF1 && c <= 0xF3 && (c1 & 0xC0) == 0x80) ||
                    (c == 0xF4 && c1 >= 0x80 && c1 <= 0x8F)))
      return *elen = 1, 1;
    for (int k = 2; k < w; k++) {
      if (i + (size_t)k >= n)
        return *elen = 0, 1;
      if ((p[i + (size_t)k] & 0xC0) != 0x80)
        return *elen = k, 1;
    }
    i += (size_t)w;
  }
  return 0;
}

/* 'pre' + Rust's FromUtf8Error text ("invalid utf-8 sequence of 1 bytes
** from index 0") as an eval error, or 0 when the bytes are UTF-8. */
static int check_utf8(gv_rt *rt, const char *pre, const char *p, size_t n) {
  size_t up;
  int el;
  if (!utf8_bad((const unsigned char *)p, n, &up, &el))
    return 0;
  if (el)
    return eval_err(rt, "%sinvalid utf-8 sequence of %d bytes from index %zu",
                    pre, el, up);
  return eval_err(rt, "%sincomplete utf-8 byte sequence from index %zu", pre,
                  up);
}

/* Decodes one UTF-8 char at p[0..n) (valid input assumed); returns its
** length and stores the code point. */
static size_t utf8_dec(const char *p, size_t n, uint32_t *cp) {
  const unsigned char *u = (const unsigned char *)p;
  if (u[0] < 0x80 || n < 2)
    return *cp = u[0], 1;
  if (u[0] < 0xE0)
    return *cp = ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F), 2;
  if (u[0] < 0xF0 || n < 4)
    return *cp = ((uint32_t)(u[0] & 0x0F) << 12) |
                 ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F),
           3;
  *cp = ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) |
        ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
  return 4;
}

static void utf8_enc(gv_buf *b, uint32_t cp) {
  char t[4];
  if (cp < 0x80) {
    gavel__buf_addc(b, (char)cp);
    return;
  }
  if (cp < 0x800) {
    t[0] = (char)(0xC0 | (cp >> 6));
    t[1] = (char)(0x80 | (cp & 0x3F));
    gavel__buf_add(b, t, 2);
  } else if (cp < 0x10000) {
    t[0] = (char)(0xE0 | (cp >> 12));
    t[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    t[2] = (char)(0x80 | (cp & 0x3F));
    gavel__buf_add(b, t, 3);
  } else {
    t[0] = (char)(0xF0 | (cp >> 18));
    t[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    t[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    t[3] = (char)(0x80 | (cp & 0x3F));
    gavel__buf_add(b, t, 4);
  }
}

/* Rust's '{:?}' of a char, quotes included, into 'out' (>= 16 bytes). */
static void char_debug(char *out, size_t sz, uint32_t cp) {
  gv_buf b;
  const char *esc = NULL;
  gavel__buf_init(&b, &gavel__default_alloc);
  switch (cp) {
  case 0:
    esc = "\\0";
    break;
  case '\t':
    esc = "\\t";
    break;
  case '\n':
    esc = "\\n";
    break;
  case '\r':
    esc = "\\r";
    break;
  case '\'':
    esc = "\\'";
    break;
  case '\\':
    esc = "\\\\";
    break;
  default:
    break;
  }
  gavel__buf_addc(&b, '\'');
  if (esc)
    gavel__buf_adds(&b, esc);
  else if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0))
    gavel__buf_addf(&b, "\\u{%x}", (unsigned)cp);
  else
    utf8_enc(&b, cp);
  gavel__buf_addc(&b, '\'');
  snprintf(out, sz, "%s", b.oom || !b.p ? "'?'" : b.p);
  gavel__buf_free(&b);
}

/* ==== Regex: Rust regex syntax on PCRE2 ==== */

#define RX_CACHE_SIZE 64
#define RX_MATCH_LIMIT 10000000u /* backtracking steps per match call */
/* PCRE2's match limit counts per start position, so a loop of match calls
** (find_all, replace, split) or one call over a long subject could run for
** hours under it.  Patterns are therefore compiled with auto-callouts: the
** callout counts the items the matcher visits across every match call of
** one builtin call (measured at 1.7-2.5x the time of a plain JIT match on
** 1 MiB of text), charges them to gas and checks the run's deadline. */
#define RX_STEP_BUDGET 10000000u /* steps per builtin call, plus...       */
#define RX_STEPS_PER_BYTE 32u    /* ... this many per subject byte        */
#define RX_STEPS_PER_GAS 64u     /* steps bought by one unit of gas       */
#define RX_CHECK_EVERY 1024u     /* steps between gas and deadline checks */
#define RX_NEST_MAX 250          /* Rust's default nest limit           */

typedef struct rx_entry {
  char *pat;        /* original pattern bytes, NULL = free slot        */
  size_t pat_len;   /* its length                                        */
  pcre2_code *code; /* compiled translation                              */
  uint64_t used;    /* LRU stamp                                         */
} rx_entry;

static __thread rx_entry rx_cache[RX_CACHE_SIZE];
static __thread uint64_t rx_clock;

void gavel__regex_cache_clear(void) {
  int i;
  for (i = 0; i < RX_CACHE_SIZE; i++) {
    if (rx_cache[i].pat) {
      pcre2_code_free(rx_cache[i].code);
      gavel__free(&gavel__default_alloc, rx_cache[i].pat,
                  rx_cache[i].pat_len + 1);
    }
    memset(&rx_cache[i], 0, sizeof rx_cache[i]);
  }
}

/* Rust's \w: Alphabetic + M + Nd + Pc + Join_Control (approximated). */
#define RX_WORD "\\p{L}\\p{M}\\p{Nd}\\p{Nl}\\p{Pc}\\x{200C}\\x{200D}"

typedef struct rx_tr {
  const char *p;   /* Rust pattern                         */
  size_t n;        /* its length                           */
  size_t i;        /* read position                        */
  gv_buf *o;       /* PCRE2 pattern being written          */
  const char *err; /* Rust-style error text, NULL if none  */
} rx_tr;

static int rx_fail(rx_tr *t, const char *msg) {
  t->err = msg;
  return 1;
}

static int is_hex(int c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
}

/* \x, \u, \U: copies a hex escape as \x{...}; 'want' fixed digits. */
static int rx_hex(rx_tr *t, int want) {
  size_t j = t->i;
  if (j < t->n && t->p[j] == '{') {
    size_t k = j + 1;
    while (k < t->n && is_hex((unsigned char)t->p[k]))
      k++;
    if (k == j + 1 || k >= t->n || t->p[k] != '}')
      return rx_fail(t, "invalid hexadecimal digit");
    gavel__buf_adds(t->o, "\\x{");
    gavel__buf_add(t->o, t->p + j + 1, k - j - 1);
    gavel__buf_addc(t->o, '}');
    t->i = k + 1;
    return 0;
  }
  for (int d = 0; d < want; d++)
    if (j + (size_t)d >= t->n || !is_hex((unsigned char)t->p[j + (size_t)d]))
      return rx_fail(t, "invalid hexadecimal digit");
  gavel__buf_adds(t->o, "\\x{");
  gavel__buf_add(t->o, t->p + j, (size_t)want);
  gavel__buf_addc(t->o, '}');
  t->i = j + (size_t)want;
  return 0;
}

/* One escape (the backslash already consumed). */
static int rx_escape(rx_tr *t, int in_class) {
  char c;
  if (t->i >= t->n)
    return rx_fail(t, "incomplete escape sequence, reached end of pattern "
                      "prematurely");
  c = t->p[t->i++];
  switch (c) {
  case 'd':
  case 'D':
  case 's':
  case 'S':
  case 'n':
  case 't':
  case 'r':
  case 'f':
  case 'a':
    gavel__buf_addc(t->o, '\\');
    gavel__buf_addc(t->o, c);
    return 0;
  case 'A':
  case 'z':
  case 'B':
    if (in_class)
      return rx_fail(t, "unrecognized escape sequence");
    gavel__buf_addc(t->o, '\\');
    gavel__buf_addc(t->o, c);
    return 0;
  case 'b':
    if (in_class)
      return rx_fail(t, "unrecognized escape sequence");
    if (t->i < t->n && t->p[t->i] == '{') {
      static const char *const names[4] = {"{start}", "{end}", "{start-half}",
                                           "{end-half}"};
      static const char *const subst[4] = {"\\b(?=\\w)", "\\b(?<=\\w)",
                                           "(?<!\\w)", "(?!\\w)"};
      for (int k = 0; k < 4; k++) {
        size_t l = strlen(names[k]);
        if (t->n - t->i >= l && memcmp(t->p + t->i, names[k], l) == 0) {
          gavel__buf_adds(t->o, subst[k]);
          t->i += l;
          return 0;
        }
      }
      return rx_fail(t, "unrecognized word boundary assertion");
    }
    gavel__buf_adds(t->o, "\\b");
    return 0;
  case '<':
  case '>':
    if (in_class)
      return rx_fail(t, "unrecognized escape sequence");
    gavel__buf_adds(t->o, c == '<' ? "\\b(?=\\w)" : "\\b(?<=\\w)");
    return 0;
  case 'w':
    gavel__buf_adds(t->o, in_class ? RX_WORD : "[" RX_WORD "]");
    return 0;
  case 'W':
    gavel__buf_adds(t->o, in_class ? "\\W" : "[^" RX_WORD "]");
    return 0;
  case 'v':
    gavel__buf_adds(t->o, "\\x0B");
    return 0;
  case 'x':
    return rx_hex(t, 2);
  case 'u':
    return rx_hex(t, 4);
  case 'U':
    return rx_hex(t, 8);
  case 'p':
  case 'P':
    gavel__buf_addc(t->o, '\\');
    gavel__buf_addc(t->o, c);
    if (t->i < t->n && t->p[t->i] == '{') {
      const char *e = memchr(t->p + t->i, '}', t->n - t->i);
      if (!e)
        return rx_fail(t, "unclosed Unicode class");
      gavel__buf_add(t->o, t->p + t->i, (size_t)(e - (t->p + t->i)) + 1);
      t->i = (size_t)(e - t->p) + 1;
    } else if (t->i < t->n) {
      gavel__buf_addc(t->o, t->p[t->i++]);
    } else {
      return rx_fail(t, "incomplete escape sequence, reached end of pattern "
                        "prematurely");
    }
    return 0;
  default:
    break;
  }
  if (c >= '0' && c <= '9')
    return rx_fail(t, "backreferences are not supported");
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c & 0x80))
    return rx_fail(t, "unrecognized escape sequence");
  gavel__buf_addc(t->o, '\\');
  gavel__buf_addc(t->o, c);
  return 0;
}

/* POSIX class inside a bracket, made ASCII-only as in Rust. */
static int rx_posix(rx_tr *t) {
  static const char *const map[][2] = {{"alnum", "0-9A-Za-z"},
                                       {"alpha", "A-Za-z"},
                                       {"ascii", "\\x00-\\x7F"},
                                       {"blank", "\\t "},
                                       {"cntrl", "\\x00-\\x1F\\x7F"},
                                       {"digit", "0-9"},
                                       {"graph", "!-~"},
                                       {"lower", "a-z"},
                                       {"print", " -~"},
                                       {"punct", "!-/:-@\\[-`{-~"},
                                       {"space", "\\t\\n\\x0B\\f\\r "},
                                       {"upper", "A-Z"},
                                       {"word", "0-9A-Za-z_"},
                                       {"xdigit", "0-9A-Fa-f"}};
  const char *s = t->p + t->i + 2, *e;
  size_t k;
  e = memchr(s, ':', t->n - t->i - 2);
  if (!e || (size_t)(e - t->p) + 1 >= t->n || e[1] != ']')
    return rx_fail(t, "nested character classes are not supported");
  if (*s == '^') { /* negated: PCRE2's (Unicode) meaning, a known gap */
    gavel__buf_add(t->o, t->p + t->i, (size_t)(e - (t->p + t->i)) + 2);
    t->i = (size_t)(e - t->p) + 2;
    return 0;
  }
  for (k = 0; k < sizeof map / sizeof map[0]; k++)
    if ((size_t)(e - s) == strlen(map[k][0]) && !memcmp(s, map[k][0], e - s)) {
      gavel__buf_adds(t->o, map[k][1]);
      t->i = (size_t)(e - t->p) + 2;
      return 0;
    }
  return rx_fail(t, "invalid ASCII character class");
}

/* A bracketed class; t->i is just past '['. */
static int rx_class(rx_tr *t) {
  int first = 1;
  gavel__buf_addc(t->o, '[');
  if (t->i < t->n && t->p[t->i] == '^')
    gavel__buf_addc(t->o, t->p[t->i++]);
  while (t->i < t->n) {
    char c = t->p[t->i];
    if (c == ']' && !first) {
      gavel__buf_addc(t->o, ']');
      t->i++;
      return 0;
    }
    first = 0;
    if (c == '\\') {
      t->i++;
      if (rx_escape(t, 1))
        return 1;
      continue;
    }
    if (c == '[') {
      if (t->i + 1 < t->n && t->p[t->i + 1] == ':') {
        if (rx_posix(t))
          return 1;
        continue;
      }
      return rx_fail(t, "nested character classes are not supported");
    }
    if (t->i + 1 < t->n && t->p[t->i + 1] == c &&
        (c == '&' || c == '~' || c == '-'))
      return rx_fail(t, "character class set operations are not supported");
    gavel__buf_addc(t->o, c);
    t->i++;
  }
  return rx_fail(t, "unclosed character class");
}

/* Group opener; t->i is just past '('. */
static int rx_group(rx_tr *t) {
  size_t j;
  if (t->i < t->n && t->p[t->i] == '*')
    return rx_fail(t, "repetition operator missing expression");
  gavel__buf_addc(t->o, '(');
  if (t->i >= t->n || t->p[t->i] != '?')
    return 0;
  j = t->i + 1;
  if (j < t->n && (t->p[j] == '=' || t->p[j] == '!' ||
                   (t->p[j] == '<' && j + 1 < t->n &&
                    (t->p[j + 1] == '=' || t->p[j + 1] == '!'))))
    return rx_fail(t, "look-around, including look-ahead and look-behind, "
                      "is not supported");
  if (j < t->n && (t->p[j] == '<' ||
                   (t->p[j] == 'P' && j + 1 < t->n && t->p[j + 1] == '<'))) {
    const char *e = memchr(t->p + j, '>', t->n - j);
    if (!e)
      return rx_fail(t, "unclosed capture group name");
    gavel__buf_add(t->o, t->p + t->i, (size_t)(e - (t->p + t->i)) + 1);
    t->i = (size_t)(e - t->p) + 1;
    return 0;
  }
  gavel__buf_addc(t->o, '?');
  for (; j < t->n && t->p[j] != ')' && t->p[j] != ':'; j++) {
    char f = t->p[j];
    if (f == 'u' || f == 'R') {
      if (j > 0 && t->p[j - 1] == '-' && f == 'u')
        return rx_fail(t, "disabling Unicode mode is not supported");
      continue; /* Unicode is always on; CRLF mode is not modelled */
    }
    if (!strchr("imsUx-", f))
      return rx_fail(t, "unrecognized flag");
    gavel__buf_addc(t->o, f);
  }
  if (j >= t->n)
    return rx_fail(t, "expected flag but got end of regex");
  t->i = j;
  return 0;
}

/* Counted repetition; t->i at '{'.  Writes {m}, {m,} or {m,n}. */
static int rx_counted(rx_tr *t) {
  size_t j = t->i + 1, d0;
  unsigned long lo = 0, hi = 0;
  int has_lo = 0, has_comma = 0, has_hi = 0;
  for (d0 = j; j < t->n && t->p[j] >= '0' && t->p[j] <= '9'; j++)
    lo = lo * 10 + (unsigned long)(t->p[j] - '0'), has_lo = 1;
  if (j - d0 > 9)
    return rx_fail(t, "repetition count too large");
  if (j < t->n && t->p[j] == ',') {
    has_comma = 1;
    for (d0 = ++j; j < t->n && t->p[j] >= '0' && t->p[j] <= '9'; j++)
      hi = hi * 10 + (unsigned long)(t->p[j] - '0'), has_hi = 1;
    if (j - d0 > 9)
      return rx_fail(t, "repetition count too large");
  }
  if (j >= t->n)
    return rx_fail(t, "unclosed counted repetition");
  if (t->p[j] != '}' || (!has_lo && !has_hi))
    return rx_fail(t, "repetition quantifier expects a valid decimal");
  if (has_comma && has_hi && hi < lo)
    return rx_fail(t, "invalid repetition count range, the start must be <= "
                      "the end");
  if (!has_comma)
    gavel__buf_addf(t->o, "{%lu}", lo);
  else if (!has_hi)
    gavel__buf_addf(t->o, "{%lu,}", lo);
  else
    gavel__buf_addf(t->o, "{%lu,%lu}", lo, hi);
  t->i = j + 1;
  return 0;
}

/* 1 if the output from 'at' is "(?" plus flag letters only. */
static int rx_flags_only(const gv_buf *o, size_t at) {
  size_t k;
  if (o->len < at + 2 || o->p[at + 1] != '?')
    return 0;
  for (k = at + 2; k < o->len; k++)
    if (!strchr("imsUx-", o->p[k]))
      return 0;
  return 1;
}

/* Rust regex syntax -> PCRE2 syntax.  Rejects what Rust rejects that PCRE2
** would accept (look-around, backreferences, \K and friends, verbs) and
** rewrites what differs (\v, \u, \w, \<, stacked repetition, POSIX
** classes).  On failure t->err holds the message and t->i the offset. */
static int rx_translate(rx_tr *t) {
  size_t groups[RX_NEST_MAX + 1], atom = (size_t)-1;
  int depth = 0, quantified = 0;
  while (t->i < t->n) {
    char c = t->p[t->i];
    if (c == '*' || c == '+' || c == '?' || c == '{') {
      size_t at = t->o->len;
      if (atom == (size_t)-1)
        return rx_fail(t, "repetition operator missing expression");
      if (quantified) { /* Rust: a** is (a*)*, PCRE2 would read a*+ */
        if (!gavel__buf_reserve(t->o, 3))
          return rx_fail(t, "out of memory");
        memmove(t->o->p + atom + 3, t->o->p + atom, at - atom + 1);
        memcpy(t->o->p + atom, "(?:", 3);
        t->o->len += 3;
        gavel__buf_addc(t->o, ')');
      }
      if (c == '{') {
        if (rx_counted(t))
          return 1;
      } else {
        gavel__buf_addc(t->o, c);
        t->i++;
      }
      if (t->i < t->n && t->p[t->i] == '?')
        gavel__buf_addc(t->o, t->p[t->i++]);
      quantified = 1;
      continue;
    }
    quantified = 0;
    if (c == '|') {
      atom = (size_t)-1;
      gavel__buf_addc(t->o, c);
      t->i++;
      continue;
    }
    if (c == ')') {
      if (depth == 0)
        return rx_fail(t, "unopened group");
      atom = groups[--depth];
      gavel__buf_addc(t->o, c);
      t->i++;
      continue;
    }
    atom = t->o->len;
    t->i++;
    if (c == '\\') {
      if (rx_escape(t, 0))
        return 1;
    } else if (c == '[') {
      if (rx_class(t))
        return 1;
    } else if (c == '(') {
      if (depth >= RX_NEST_MAX)
        return rx_fail(t, "exceed the maximum number of nested parentheses");
      groups[depth++] = atom;
      if (rx_group(t))
        return 1;
      if (t->i < t->n && t->p[t->i] == ')' && rx_flags_only(t->o, atom)) {
        /* flag-only group "(?i)": not an atom, nothing to repeat */
        gavel__buf_addc(t->o, ')');
        t->i++;
        depth--;
        atom = (size_t)-1;
      }
    } else if (c == '^' || c == '$') {
      gavel__buf_addc(t->o, c);
    } else {
      gavel__buf_addc(t->o, c);
      while (t->i < t->n && ((unsigned char)t->p[t->i] & 0xC0) == 0x80)
        gavel__buf_addc(t->o, t->p[t->i++]);
    }
  }
  if (depth)
    return rx_fail(t, "unclosed group");
  return t->o->oom ? rx_fail(t, "out of memory") : 0;
}

/* Formats Rust's "invalid regex" error: a caret under the offending char. */
static int rx_error(gv_rt *rt, const gv_str *pat, size_t off, const char *msg) {
  size_t col = 0, k;
  char caret[64];
  for (k = 0; k < off && k < pat->len; k++)
    if (((unsigned char)pat->s[k] & 0xC0) != 0x80)
      col++;
  if (col > sizeof caret - 2)
    col = sizeof caret - 2;
  memset(caret, ' ', col);
  caret[col] = '^';
  caret[col + 1] = 0;
  return eval_err(rt,
                  "invalid regex '%s': regex parse error:\n    %s\n    "
                  "%s\nerror: %s",
                  pat->s, pat->s, caret, msg);
}

/* Compiled pattern for 'pat' from the cache (compiling on a miss), or NULL
** with the error recorded. */
static pcre2_code *rx_get(gv_rt *rt, const gv_str *pat) {
  rx_entry *slot = &rx_cache[0];
  pcre2_compile_context *cc;
  pcre2_code *code;
  gv_buf o;
  rx_tr t;
  int ec, i;
  PCRE2_SIZE eoff;
  for (i = 0; i < RX_CACHE_SIZE; i++) {
    rx_entry *e = &rx_cache[i];
    if (e->pat && e->pat_len == pat->len && !memcmp(e->pat, pat->s, pat->len)) {
      e->used = ++rx_clock;
      return e->code;
    }
    if (!e->pat || (slot->pat && e->used < slot->used))
      slot = e;
  }
  if (charge(rt, pat->len * 8))
    return NULL;
  gavel__buf_init(&o, &gavel__default_alloc);
  t = (rx_tr){pat->s, pat->len, 0, &o, NULL};
  if (rx_translate(&t)) {
    rx_error(rt, pat, t.i ? t.i - 1 : 0, t.err);
    gavel__buf_free(&o);
    return NULL;
  }
  cc = pcre2_compile_context_create(NULL);
  if (!cc) {
    gavel__buf_free(&o);
    gavel__rt_error(rt, GV_E_NOMEM, "out of memory");
    return NULL;
  }
  pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
  code = pcre2_compile((PCRE2_SPTR)(o.p ? o.p : ""), o.len,
                       PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY |
                           PCRE2_AUTO_CALLOUT,
                       &ec, &eoff,
                       cc);
  pcre2_compile_context_free(cc);
  gavel__buf_free(&o);
  if (!code) {
    char msg[160];
    pcre2_get_error_message(ec, (PCRE2_UCHAR *)msg, sizeof msg);
    rx_error(rt, pat, eoff < pat->len ? eoff : pat->len, msg);
    return NULL;
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* optional speed-up */
  if (slot->pat) {
    pcre2_code_free(slot->code);
    gavel__free(&gavel__default_alloc, slot->pat, slot->pat_len + 1);
  }
  slot->pat = gavel__malloc(&gavel__default_alloc, pat->len + 1);
  if (!slot->pat) {
    pcre2_code_free(code);
    memset(slot, 0, sizeof *slot);
    gavel__rt_error(rt, GV_E_NOMEM, "out of memory");
    return NULL;
  }
  memcpy(slot->pat, pat->s, pat->len + 1);
  slot->pat_len = pat->len;
  slot->code = code;
  slot->used = ++rx_clock;
  return code;
}

/* Match iterator with the regex crate's rule for empty matches: an empty
** match that ends where the previous match ended is skipped. */
typedef struct rx_it {
  const pcre2_code *code;  /* pattern                              */
  pcre2_match_data *md;    /* match data                           */
  pcre2_match_context *mc; /* match limits                         */
  const char *s;           /* subject                              */
  size_t n;                /* subject length                       */
  size_t pos;              /* next search start                    */
  size_t last_end;         /* end of previous match, or SIZE_MAX   */
  int checked;             /* subject's UTF-8 already validated    */
  gv_rt *rt;               /* gas, deadline and errors             */
  const char *fn;          /* the builtin (for messages)           */
  uint64_t steps;          /* matcher steps of this builtin call   */
  uint64_t budget;         /* most steps it may take               */
} rx_it;

static uint64_t rx_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts); /* as the scheduler's */
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Auto-callout: one matcher step.  A negative return aborts the match
** (pcre2_match returns it) with the error recorded in 'rt'. */
static int rx_callout(pcre2_callout_block *cb, void *ud) {
  rx_it *it = ud;
  (void)cb;
  if (GAVEL_LIKELY(++it->steps % RX_CHECK_EVERY))
    return 0;
  if (gavel__rt_charge(it->rt, RX_CHECK_EVERY / RX_STEPS_PER_GAS))
    return PCRE2_ERROR_CALLOUT;
  if (it->steps > it->budget) {
    gavel__rt_error(it->rt, GV_E_LIMIT,
                    "Limit exceeded: %s: regex budget of %llu matcher steps "
                    "(%u + %u per subject byte) used up",
                    it->fn, (unsigned long long)it->budget, RX_STEP_BUDGET,
                    RX_STEPS_PER_BYTE);
    return PCRE2_ERROR_CALLOUT;
  }
  if (it->rt->deadline_ns && rx_now_ns() >= it->rt->deadline_ns) {
    gavel__rt_error(it->rt, GV_E_EVAL,
                    "Execution timeout: %s stopped at the run's deadline",
                    it->fn);
    return PCRE2_ERROR_CALLOUT;
  }
  return 0;
}

static int rx_open(gv_rt *rt, rx_it *it, const pcre2_code *code,
                   const gv_str *s, const char *fn) {
  memset(it, 0, sizeof *it);
  it->rt = rt;
  it->fn = fn;
  it->budget = RX_STEP_BUDGET + (uint64_t)s->len * RX_STEPS_PER_BYTE;
  it->code = code;
  it->s = s->s;
  it->n = s->len;
  it->last_end = SIZE_MAX;
  it->md = pcre2_match_data_create_from_pattern(code, NULL);
  it->mc = pcre2_match_context_create(NULL);
  if (!it->md || !it->mc)
    return gavel__rt_error(rt, GV_E_NOMEM, "out of memory");
  pcre2_set_match_limit(it->mc, RX_MATCH_LIMIT);
  pcre2_set_callout(it->mc, rx_callout, it);
  return 0;
}

static void rx_close(rx_it *it) {
  pcre2_match_data_free(it->md);
  pcre2_match_context_free(it->mc);
}

/* 1 = match (ovector in it->md), 0 = no more, -1 = error recorded. */
static int rx_next(gv_rt *rt, rx_it *it) {
  for (;;) {
    PCRE2_SIZE *ov;
    int rc;
    if (it->pos > it->n)
      return 0;
    rc = pcre2_match(it->code, (PCRE2_SPTR)it->s, it->n, it->pos,
                     it->checked ? PCRE2_NO_UTF_CHECK : 0, it->md, it->mc);
    it->checked = 1;
    if (rc == PCRE2_ERROR_NOMATCH) {
      return charge(rt, it->n - it->pos) ? -1 : 0;
    }
    if (rc == PCRE2_ERROR_CALLOUT) /* gas, budget or deadline: recorded */
      return -1;
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
        rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      gavel__rt_error(rt, GV_E_LIMIT,
                      "Limit exceeded: %s: regex match limit of %u steps "
                      "per start position exceeded",
                      it->fn, RX_MATCH_LIMIT);
      return -1;
    }
    if (rc < 0) {
      eval_err(rt, "regex: subject is not valid UTF-8");
      return -1;
    }
    ov = pcre2_get_ovector_pointer(it->md);
    if (charge(rt, ov[1] > it->pos ? ov[1] - it->pos : 0))
      return -1;
    if (ov[0] == ov[1] && ov[1] == it->last_end) {
      if (it->pos >= it->n)
        return 0;
      it->pos++;
      while (it->pos < it->n && ((unsigned char)it->s[it->pos] & 0xC0) == 0x80)
        it->pos++;
      continue;
    }
    it->last_end = ov[1];
    it->pos = ov[1];
    return 1;
  }
}

/* Common prologue: pattern, subject, compiled code, iterator. */
static int rx_begin(gv_rt *rt, const gvalue *args, rx_it *it,
                    const gv_str **sp, const char *fn) {
  const gv_str *pat, *s;
  pcre2_code *code;
  if (arg_str(rt, args[0], &pat) || arg_str(rt, args[1], &s))
    return 1;
  if (!(code = rx_get(rt, pat)))
    return 1;
  *sp = s;
  if (rx_open(rt, it, code, s, fn)) {
    rx_close(it);
    return 1;
  }
  return 0;
}

static int bi_regex_match(gv_rt *rt, gvalue *out, const gvalue *args,
                          int nargs) {
  rx_it it;
  const gv_str *s;
  int r;
  (void)nargs;
  if (rx_begin(rt, args, &it, &s, "regex_match"))
    return 1;
  r = rx_next(rt, &it);
  rx_close(&it);
  if (r < 0)
    return 1;
  *out = gv_bool(r);
  return 0;
}

static int bi_regex_find(gv_rt *rt, gvalue *out, const gvalue *args,
                         int nargs) {
  rx_it it;
  const gv_str *s;
  int r, rc = 0;
  (void)nargs;
  if (rx_begin(rt, args, &it, &s, "regex_find"))
    return 1;
  r = rx_next(rt, &it);
  if (r < 0)
    rc = 1;
  else if (r == 0)
    *out = gv_null();
  else {
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(it.md);
    rc = ret_str(rt, out, "regex_find", s->s + ov[0], ov[1] - ov[0]);
  }
  rx_close(&it);
  return rc;
}

/* regex_find_all (split = 0) and regex_split (split = 1). */
static int rx_collect(gv_rt *rt, gvalue *out, const gvalue *args, int split,
                      const char *fn) {
  rx_it it;
  const gv_str *s;
  gv_arr *a;
  size_t last = 0;
  int r, rc = 0;
  gv_str *piece;
  if (rx_begin(rt, args, &it, &s, fn))
    return 1;
  if (!(a = gavel__arr_new(rt->arena, 4))) {
    rx_close(&it);
    return gavel__rt_nomem(rt);
  }
  while ((r = rx_next(rt, &it)) > 0) {
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(it.md);
    size_t b = split ? last : ov[0], e = split ? ov[0] : ov[1];
    last = ov[1];
    if ((rc = limit_arr(rt, fn, (size_t)a->len + 1 + (size_t)split)))
      break;
    if (!(piece = gavel__str_new(rt->arena, s->s + b, e - b)) ||
        (rc = push(rt, a, gv_strv(piece)))) {
      rc = rc ? rc : gavel__rt_nomem(rt);
      break;
    }
  }
  if (r < 0)
    rc = 1;
  if (!rc && split) {
    if (!(piece = gavel__str_new(rt->arena, s->s + last, s->len - last)))
      rc = gavel__rt_nomem(rt);
    else
      rc = push(rt, a, gv_strv(piece));
  }
  rx_close(&it);
  if (!rc)
    *out = gv_arrv(a);
  return rc;
}

static int bi_regex_find_all(gv_rt *rt, gvalue *out, const gvalue *args,
                             int nargs) {
  (void)nargs;
  return rx_collect(rt, out, args, 0, "regex_find_all");
}

static int bi_regex_split(gv_rt *rt, gvalue *out, const gvalue *args,
                          int nargs) {
  (void)nargs;
  return rx_collect(rt, out, args, 1, "regex_split");
}

static int cap_letter(int c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') || c == '_';
}

/* Appends group 'name' (number or name, n bytes) of the current match. */
static void rx_append_group(gv_buf *b, rx_it *it, const char *name, size_t n) {
  PCRE2_SIZE *ov = pcre2_get_ovector_pointer(it->md);
  uint32_t count = pcre2_get_ovector_count(it->md);
  size_t k = 0, idx = 0;
  int numeric = n > 0;
  if (n && name[0] == '+')
    k = 1, numeric = n > 1;
  for (; k < n && numeric; k++) {
    if (name[k] < '0' || name[k] > '9' || idx > (SIZE_MAX - 9) / 10)
      numeric = 0;
    else
      idx = idx * 10 + (size_t)(name[k] - '0');
  }
  if (!numeric) {
    char nm[64];
    int g;
    if (n >= sizeof nm)
      return;
    memcpy(nm, name, n);
    nm[n] = 0;
    g = pcre2_substring_number_from_name(it->code, (PCRE2_SPTR)nm);
    if (g < 0)
      return;
    idx = (size_t)g;
  }
  if (idx >= count || ov[2 * idx] == PCRE2_UNSET)
    return;
  gavel__buf_add(b, it->s + ov[2 * idx], ov[2 * idx + 1] - ov[2 * idx]);
}

/* Rust's Captures::expand: $n, $name (longest [0-9A-Za-z_]+), ${name}, $$. */
static void rx_expand(gv_buf *b, rx_it *it, const gv_str *rep) {
  const char *r = rep->s, *end = rep->s + rep->len;
  while (r < end) {
    const char *d = memchr(r, '$', (size_t)(end - r)), *q;
    if (!d) {
      gavel__buf_add(b, r, (size_t)(end - r));
      return;
    }
    gavel__buf_add(b, r, (size_t)(d - r));
    r = d;
    if (end - r >= 2 && r[1] == '$') {
      gavel__buf_addc(b, '$');
      r += 2;
      continue;
    }
    if (end - r >= 2 && r[1] == '{') {
      q = memchr(r + 2, '}', (size_t)(end - r - 2));
      if (q) {
        rx_append_group(b, it, r + 2, (size_t)(q - r - 2));
        r = q + 1;
        continue;
      }
    } else {
      for (q = r + 1; q < end && cap_letter((unsigned char)*q); q++)
        ;
      if (q > r + 1) {
        rx_append_group(b, it, r + 1, (size_t)(q - r - 1));
        r = q;
        continue;
      }
    }
    gavel__buf_addc(b, '$');
    r++;
  }
}

static int bi_regex_replace(gv_rt *rt, gvalue *out, const gvalue *args,
                            int nargs) {
  rx_it it;
  const gv_str *s, *rep;
  gv_buf b;
  size_t last = 0;
  int r;
  (void)nargs;
  if (arg_str(rt, args[0], &rep) || arg_str(rt, args[1], &rep) ||
      arg_str(rt, args[2], &rep))
    return 1;
  if (rx_begin(rt, args, &it, &s, "regex_replace"))
    return 1;
  buf_open(rt, &b);
  while ((r = rx_next(rt, &it)) > 0) {
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(it.md);
    gavel__buf_add(&b, s->s + last, ov[0] - last);
    rx_expand(&b, &it, rep);
    last = ov[1];
    if (limit_str(rt, "regex_replace", b.len)) {
      r = -1;
      break;
    }
  }
  rx_close(&it);
  if (r < 0) {
    gavel__buf_free(&b);
    return 1;
  }
  gavel__buf_add(&b, s->s + last, s->len - last);
  return ret_buf(rt, out, "regex_replace", &b);
}

/* ==== Time: UTC civil dates and chrono's strftime dialect ==== */

#define YEAR_MIN (-262143) /* chrono's NaiveDate::MIN year */
#define YEAR_MAX 262142    /* chrono's NaiveDate::MAX year */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  int64_t era;
  unsigned yoe, doy, doe;
  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = (unsigned)(y - era * 400);
  doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  int64_t era;
  unsigned doe, yoe, doy, mp;
  z += 719468;
  era = (z >= 0 ? z : z - 146096) / 146097;
  doe = (unsigned)(z - era * 146097);
  yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m) {
  static const unsigned dm[12] = {31, 28, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

/* ISO weekday of a day number: 1 = Monday ... 7 = Sunday. */
static unsigned wday_of(int64_t days) {
  return (unsigned)((((days % 7) + 7) % 7 + 3) % 7 + 1);
}

static unsigned iso_weeks_in(int64_t y) {
  unsigned j1 = wday_of(days_from_civil(y, 1, 1));
  return j1 == 4 || (j1 == 3 && is_leap(y)) ? 53 : 52;
}

typedef struct tm_utc {
  int64_t days;            /* days since the epoch             */
  int64_t year;            /* proleptic Gregorian year         */
  unsigned month, day;     /* 1-12, 1-31                       */
  unsigned ordinal;        /* 1-366                            */
  unsigned wday;           /* 1 = Monday ... 7 = Sunday        */
  unsigned hour, min, sec; /* time of day                      */
  int64_t isoyear;         /* ISO 8601 week-based year         */
  unsigned isoweek;        /* 1-53                             */
  int64_t ts;              /* the Unix timestamp               */
} tm_utc;

/* chrono's DateTime::from_timestamp(ts, 0): 0, or 1 when out of range. */
static int tm_from_ts(int64_t ts, tm_utc *t) {
  int64_t days = ts / 86400, rem = ts % 86400;
  int w;
  if (rem < 0)
    rem += 86400, days--;
  if (days < days_from_civil(YEAR_MIN, 1, 1) ||
      days > days_from_civil(YEAR_MAX, 12, 31))
    return 1;
  t->ts = ts;
  t->days = days;
  civil_from_days(days, &t->year, &t->month, &t->day);
  t->ordinal = (unsigned)(days - days_from_civil(t->year, 1, 1)) + 1;
  t->wday = wday_of(days);
  t->hour = (unsigned)(rem / 3600);
  t->min = (unsigned)(rem / 60 % 60);
  t->sec = (unsigned)(rem % 60);
  w = ((int)t->ordinal - (int)t->wday + 10) / 7;
  if (w < 1) {
    t->isoyear = t->year - 1;
    t->isoweek = iso_weeks_in(t->year - 1);
  } else if ((unsigned)w > iso_weeks_in(t->year)) {
    t->isoyear = t->year + 1;
    t->isoweek = 1;
  } else {
    t->isoyear = t->year;
    t->isoweek = (unsigned)w;
  }
  return 0;
}

/* ---- strftime items (chrono's StrftimeItems) ---- */

enum { PAD_NONE, PAD_ZERO, PAD_SPACE };
enum { IT_END, IT_LIT, IT_SPACE, IT_NUM, IT_FIX, IT_ERR };
enum {
  N_YEAR,
  N_YDIV,
  N_YMOD,
  N_IYEAR,
  N_IYDIV,
  N_IYMOD,
  N_QUARTER,
  N_MONTH,
  N_DAY,
  N_WSUN,
  N_WMON,
  N_IWEEK,
  N_WDSUN,
  N_WDMON,
  N_ORD,
  N_HOUR,
  N_HOUR12,
  N_MIN,
  N_SEC,
  N_NANO,
  N_TS
};
enum {
  F_SMON,
  F_LMON,
  F_SWD,
  F_LWD,
  F_LAMPM,
  F_UAMPM,
  F_NANO,
  F_NANO3,
  F_NANO6,
  F_NANO9,
  F_NANO3ND,
  F_NANO6ND,
  F_NANO9ND,
  F_TZNAME,
  F_TZOFF,
  F_TZCOLON,
  F_TZDCOLON,
  F_TZTCOLON,
  F_TZPERM,
  F_RFC3339
};

typedef struct tf_item {
  int kind;        /* IT_*                                  */
  int spec;        /* N_* or F_*                            */
  int pad;         /* PAD_* for IT_NUM                      */
  const char *lit; /* IT_LIT / IT_SPACE text                */
  size_t lit_len;  /* its length                            */
} tf_item;

#define TI_L(s)                                                                \
  { IT_LIT, 0, 0, s, sizeof(s) - 1 }
#define TI_S(s)                                                                \
  { IT_SPACE, 0, 0, s, sizeof(s) - 1 }
#define TI_N(n, p)                                                             \
  { IT_NUM, n, p, NULL, 0 }
#define TI_F(f)                                                                \
  { IT_FIX, f, 0, NULL, 0 }
#define TI_END                                                                 \
  { IT_END, 0, 0, NULL, 0 }

static const tf_item TQ_D[] = {TI_N(N_MONTH, PAD_ZERO), TI_L("/"),
                               TI_N(N_DAY, PAD_ZERO),   TI_L("/"),
                               TI_N(N_YMOD, PAD_ZERO),  TI_END};
static const tf_item TQ_F[] = {TI_N(N_YEAR, PAD_ZERO),  TI_L("-"),
                               TI_N(N_MONTH, PAD_ZERO), TI_L("-"),
                               TI_N(N_DAY, PAD_ZERO),   TI_END};
static const tf_item TQ_R[] = {TI_N(N_HOUR, PAD_ZERO), TI_L(":"),
                               TI_N(N_MIN, PAD_ZERO), TI_END};
static const tf_item TQ_T[] = {TI_N(N_HOUR, PAD_ZERO), TI_L(":"),
                               TI_N(N_MIN, PAD_ZERO),  TI_L(":"),
                               TI_N(N_SEC, PAD_ZERO),  TI_END};
static const tf_item TQ_C[] = {TI_F(F_SWD),
                               TI_S(" "),
                               TI_F(F_SMON),
                               TI_S(" "),
                               TI_N(N_DAY, PAD_SPACE),
                               TI_S(" "),
                               TI_N(N_HOUR, PAD_ZERO),
                               TI_L(":"),
                               TI_N(N_MIN, PAD_ZERO),
                               TI_L(":"),
                               TI_N(N_SEC, PAD_ZERO),
                               TI_S(" "),
                               TI_N(N_YEAR, PAD_ZERO),
                               TI_END};
static const tf_item TQ_RR[] = {
    TI_N(N_HOUR12, PAD_ZERO), TI_L(":"), TI_N(N_MIN, PAD_ZERO), TI_L(":"),
    TI_N(N_SEC, PAD_ZERO),    TI_S(" "), TI_F(F_UAMPM),         TI_END};
static const tf_item TQ_V[] = {TI_N(N_DAY, PAD_SPACE), TI_L("-"),
                               TI_F(F_SMON),           TI_L("-"),
                               TI_N(N_YEAR, PAD_ZERO), TI_END};

typedef struct tf_tok {
  const char *s;        /* remaining format text       */
  const char *end;      /* its end                     */
  const tf_item *queue; /* queued composite items      */
} tf_tok;

/* Unicode White_Space at s (n bytes available); returns its length or 0. */
static size_t uspace(const char *s, size_t n) {
  uint32_t cp;
  size_t l = utf8_dec(s, n, &cp);
  if ((cp >= 9 && cp <= 13) || cp == ' ' || cp == 0x85 || cp == 0xA0 ||
      cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
      cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000)
    return l;
  return 0;
}

static int spec_item(int c, int alt, tf_tok *k, tf_item *it) {
  static const char nspec[] = "CGHIMSUVWYdefgjklmqsuwy";
  static const signed char nkind[] = {
      N_YDIV,   N_IYEAR, N_HOUR,    N_HOUR12, N_MIN,   N_SEC,   N_WSUN, N_IWEEK,
      N_WMON,   N_YEAR,  N_DAY,     N_DAY,    N_NANO,  N_IYMOD, N_ORD,  N_HOUR,
      N_HOUR12, N_MONTH, N_QUARTER, N_TS,     N_WDMON, N_WDSUN, N_YMOD};
  static const char npad[] = "zzzzzzzzzzzszzzsszn"
                             "nnnz";
  const char *q = strchr(nspec, c);
  *it = (tf_item){IT_FIX, 0, 0, NULL, 0};
  if (c && q) {
    size_t x = (size_t)(q - nspec);
    it->kind = IT_NUM;
    it->spec = nkind[x];
    it->pad = npad[x] == 'z' ? PAD_ZERO : npad[x] == 's' ? PAD_SPACE : PAD_NONE;
    return 0;
  }
  switch (c) {
  case 'A':
    it->spec = F_LWD;
    return 0;
  case 'B':
    it->spec = F_LMON;
    return 0;
  case 'P':
    it->spec = F_LAMPM;
    return 0;
  case 'p':
    it->spec = F_UAMPM;
    return 0;
  case 'Z':
    it->spec = F_TZNAME;
    return 0;
  case 'a':
    it->spec = F_SWD;
    return 0;
  case 'b':
  case 'h':
    it->spec = F_SMON;
    return 0;
  case 'z':
    it->spec = alt ? F_TZPERM : F_TZOFF;
    return 0;
  case '+':
    it->spec = F_RFC3339;
    return 0;
  case 'n':
    *it = (tf_item){IT_SPACE, 0, 0, "\n", 1};
    return 0;
  case 't':
    *it = (tf_item){IT_SPACE, 0, 0, "\t", 1};
    return 0;
  case '%':
    *it = (tf_item){IT_LIT, 0, 0, "%", 1};
    return 0;
  case 'D':
  case 'x':
    k->queue = TQ_D;
    break;
  case 'F':
    k->queue = TQ_F;
    break;
  case 'R':
    k->queue = TQ_R;
    break;
  case 'T':
  case 'X':
    k->queue = TQ_T;
    break;
  case 'c':
    k->queue = TQ_C;
    break;
  case 'r':
    k->queue = TQ_RR;
    break;
  case 'v':
    k->queue = TQ_V;
    break;
  default:
    return 1;
  }
  *it = *k->queue++;
  return 0;
}

/* Next format item; IT_END at the end of the format. */
static void tf_next(tf_tok *k, tf_item *it) {
  int c, pad = -1, alt = 0;
  size_t sl;
  if (k->queue) {
    *it = *k->queue++;
    if (it->kind != IT_END)
      return;
    k->queue = NULL;
  }
  if (k->s >= k->end) {
    it->kind = IT_END;
    return;
  }
  if (*k->s != '%') {
    const char *p = k->s;
    int sp = uspace(p, (size_t)(k->end - p)) != 0;
    while (p < k->end && *p != '%') {
      size_t l = uspace(p, (size_t)(k->end - p));
      uint32_t cp;
      if ((l != 0) != sp)
        break;
      p += l ? l : utf8_dec(p, (size_t)(k->end - p), &cp);
    }
    *it = (tf_item){sp ? IT_SPACE : IT_LIT, 0, 0, k->s, (size_t)(p - k->s)};
    k->s = p;
    return;
  }
  k->s++;
  it->kind = IT_ERR;
  if (k->s >= k->end)
    return;
  c = (unsigned char)*k->s++;
  if (c == '-' || c == '0' || c == '_')
    pad = c == '-' ? PAD_NONE : c == '0' ? PAD_ZERO : PAD_SPACE;
  alt = c == '#';
  if (pad >= 0 || alt) {
    if (k->s >= k->end)
      return;
    c = (unsigned char)*k->s++;
    if (alt && c != 'z')
      return;
  }
  sl = (size_t)(k->end - k->s);
  if (c == ':') {
    static const char *const z[3] = {"::z", ":z", "z"};
    static const int zs[3] = {F_TZTCOLON, F_TZDCOLON, F_TZCOLON};
    int j;
    for (j = 0; j < 3; j++)
      if (sl >= strlen(z[j]) && !memcmp(k->s, z[j], strlen(z[j])))
        break;
    if (j == 3)
      return;
    k->s += strlen(z[j]);
    *it = (tf_item){IT_FIX, zs[j], 0, NULL, 0};
  } else if (c == '.' || c == '3' || c == '6' || c == '9') {
    int d = c;
    if (c == '.') {
      if (k->s >= k->end)
        return;
      d = (unsigned char)*k->s++;
      if (d == 'f') {
        *it = (tf_item){IT_FIX, F_NANO, 0, NULL, 0};
        goto padcheck;
      }
    }
    if ((d != '3' && d != '6' && d != '9') || k->s >= k->end || *k->s != 'f')
      return;
    k->s++;
    it->kind = IT_FIX;
    it->spec = (c == '.' ? F_NANO3 : F_NANO3ND) + (d - '3') / 3;
  } else if (c >= 0x80 || spec_item(c, alt, k, it)) {
    if (c >= 0x80) /* skip the rest of a multibyte specifier char */
      while (k->s < k->end && ((unsigned char)*k->s & 0xC0) == 0x80)
        k->s++;
    it->kind = IT_ERR;
    return;
  }
padcheck:
  if (pad >= 0) {
    if (it->kind == IT_NUM && !k->queue)
      it->pad = pad;
    else
      *it = (tf_item){IT_ERR, 0, 0, NULL, 0}, k->queue = NULL;
  }
}

static const char *const MON_NAMES[12] = {
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December"};
static const char *const WD_NAMES[7] = {"Monday",   "Tuesday", "Wednesday",
                                        "Thursday", "Friday",  "Saturday",
                                        "Sunday"};

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Rust integer formatting with a width: '{}', '{:0w}', '{:w}', and for
** out-of-range years '{:+}', '{:+0w}', '{:+w}'. */
static void fmt_num(gv_buf *b, int64_t v, int width, int pad, int plus) {
  char d[32];
  int len =
      snprintf(d, sizeof d, plus && v >= 0 ? "+%lld" : "%lld", (long long)v);
  int fill = pad == PAD_NONE || len >= width ? 0 : width - len;
  if (pad == PAD_SPACE)
    while (fill--)
      gavel__buf_addc(b, ' ');
  if (pad == PAD_ZERO) {
    int sign = d[0] == '-' || d[0] == '+';
    gavel__buf_add(b, d, (size_t)sign);
    while (fill--)
      gavel__buf_addc(b, '0');
    gavel__buf_add(b, d + sign, (size_t)(len - sign));
    return;
  }
  gavel__buf_add(b, d, (size_t)len);
}

static void tf_numeric(gv_buf *b, const tm_utc *t, int spec, int pad) {
  static const signed char width[] = {4, 2, 2, 4, 2, 2, 1, 2, 2, 2, 2,
                                      2, 1, 1, 3, 2, 2, 2, 2, 9, 1};
  int64_t v = 0;
  unsigned d_sun = t->wday % 7; /* days since Sunday */
  switch (spec) {
  case N_YEAR:
    v = t->year;
    break;
  case N_YDIV:
    v = floor_div(t->year, 100);
    break;
  case N_YMOD:
    v = t->year - floor_div(t->year, 100) * 100;
    break;
  case N_IYEAR:
    v = t->isoyear;
    break;
  case N_IYDIV:
    v = floor_div(t->isoyear, 100);
    break;
  case N_IYMOD:
    v = t->isoyear - floor_div(t->isoyear, 100) * 100;
    break;
  case N_QUARTER:
    v = (t->month - 1) / 3 + 1;
    break;
  case N_MONTH:
    v = t->month;
    break;
  case N_DAY:
    v = t->day;
    break;
  case N_WSUN:
    v = ((int)t->ordinal - (int)d_sun + 6) / 7;
    break;
  case N_WMON:
    v = ((int)t->ordinal - (int)t->wday + 1 + 6) / 7;
    break;
  case N_IWEEK:
    v = t->isoweek;
    break;
  case N_WDSUN:
    v = d_sun;
    break;
  case N_WDMON:
    v = t->wday;
    break;
  case N_ORD:
    v = t->ordinal;
    break;
  case N_HOUR:
    v = t->hour;
    break;
  case N_HOUR12:
    v = t->hour % 12 ? t->hour % 12 : 12;
    break;
  case N_MIN:
    v = t->min;
    break;
  case N_SEC:
    v = t->sec;
    break;
  case N_NANO:
    v = 0;
    break;
  case N_TS:
    v = t->ts;
    break;
  default:
    break;
  }
  if ((spec == N_YEAR || spec == N_IYEAR) && !(v >= 0 && v < 10000))
    fmt_num(b, v, width[spec] + 1, pad, 1);
  else
    fmt_num(b, v, width[spec], pad, 0);
}

/* Appends one fixed item; 1 if chrono would fail to format it. */
static int tf_fixed(gv_buf *b, const tm_utc *t, int spec) {
  static const char *const fixed_text[] = {
      NULL,        NULL,   NULL,      NULL,         NULL,        NULL,
      "",          ".000", ".000000", ".000000000", "000",       "000000",
      "000000000", "UTC",  "+0000",   "+00:00",     "+00:00:00", "+00"};
  switch (spec) {
  case F_SMON:
    gavel__buf_add(b, MON_NAMES[t->month - 1], 3);
    return 0;
  case F_LMON:
    gavel__buf_adds(b, MON_NAMES[t->month - 1]);
    return 0;
  case F_SWD:
    gavel__buf_add(b, WD_NAMES[t->wday - 1], 3);
    return 0;
  case F_LWD:
    gavel__buf_adds(b, WD_NAMES[t->wday - 1]);
    return 0;
  case F_LAMPM:
    gavel__buf_adds(b, t->hour < 12 ? "am" : "pm");
    return 0;
  case F_UAMPM:
    gavel__buf_adds(b, t->hour < 12 ? "AM" : "PM");
    return 0;
  case F_TZPERM:
    return 1;
  case F_RFC3339:
    if (t->year >= 0 && t->year <= 9999)
      gavel__buf_addf(b, "%04lld", (long long)t->year);
    else
      fmt_num(b, t->year, 5, PAD_ZERO, 1);
    gavel__buf_addf(b, "-%02u-%02uT%02u:%02u:%02u+00:00", t->month, t->day,
                    t->hour, t->min, t->sec);
    return 0;
  default:
    gavel__buf_adds(b, fixed_text[spec]);
    return 0;
  }
}

/* Formats 't' with 'fmt' into 'b'; 1 on a format chrono cannot render. */
static int tf_format(gv_buf *b, const tm_utc *t, const char *fmt, size_t n) {
  tf_tok k = {fmt, fmt + n, NULL};
  tf_item it;
  for (;;) {
    tf_next(&k, &it);
    switch (it.kind) {
    case IT_END:
      return 0;
    case IT_ERR:
      return 1;
    case IT_LIT:
    case IT_SPACE:
      gavel__buf_add(b, it.lit, it.lit_len);
      break;
    case IT_NUM:
      tf_numeric(b, t, it.spec, it.pad);
      break;
    default:
      if (tf_fixed(b, t, it.spec))
        return 1;
    }
  }
}

/* ---- Parsing (chrono's parse + Parsed::to_naive_datetime_with_offset) ---- */

enum {
  PE_OK,
  PE_RANGE,
  PE_IMPOSSIBLE,
  PE_NOT_ENOUGH,
  PE_INVALID,
  PE_SHORT,
  PE_LONG,
  PE_FORMAT
};
static const char *const PE_TEXT[] = {
    "",
    "input is out of range",
    "no possible date and time matching input",
    "input is not enough for unique date and time",
    "input contains invalid characters",
    "premature end of input",
    "trailing input",
    "bad or unsupported format string"};

enum {
  P_YEAR,
  P_YDIV,
  P_YMOD,
  P_IYEAR,
  P_IYDIV,
  P_IYMOD,
  P_QUARTER,
  P_MONTH,
  P_WSUN,
  P_WMON,
  P_IWEEK,
  P_WDAY,
  P_ORD,
  P_DAY,
  P_HDIV,
  P_HMOD,
  P_MIN,
  P_SEC,
  P_NANO,
  P_TS,
  P_OFF,
  P__N
};

typedef struct tp_parsed {
  int64_t v[P__N]; /* field values (P_WDAY: 1 = Monday ... 7 = Sunday) */
  unsigned set;    /* bit i: field i present                           */
} tp_parsed;

static int tp_has(const tp_parsed *p, int f) { return (p->set >> f) & 1; }

static int tp_set(tp_parsed *p, int f, int64_t v) {
  if (tp_has(p, f))
    return p->v[f] == v ? PE_OK : PE_IMPOSSIBLE;
  p->v[f] = v;
  p->set |= 1u << f;
  return PE_OK;
}

/* chrono's Parsed::set_* range checks, then tp_set. */
static int tp_set_num(tp_parsed *p, int spec, int64_t v) {
  static const int64_t lo[] = {INT32_MIN, 0, 0, INT32_MIN, 0, 0, 1,
                               1,         1, 0, 0,         1, 0, 1,
                               1,         0, 1, 0,         0, 0, INT64_MIN};
  static const int64_t hi[] = {
      INT32_MAX, INT32_MAX, 99, INT32_MAX, INT32_MAX, 99,        4,
      12,        31,        53, 53,        53,        6,         7,
      366,       23,        12, 59,        60,        999999999, INT64_MAX};
  static const signed char field[] = {
      P_YEAR,  P_YDIV, P_YMOD, P_IYEAR, P_IYDIV, P_IYMOD, P_QUARTER,
      P_MONTH, P_DAY,  P_WSUN, P_WMON,  P_IWEEK, P_WDAY,  P_WDAY,
      P_ORD,   -1,     -2,     P_MIN,   P_SEC,   P_NANO,  P_TS};
  int rc;
  if (v < lo[spec] || v > hi[spec])
    return PE_RANGE;
  if (spec == N_WDSUN)
    v = v == 0 ? 7 : v;
  if (field[spec] == -1) { /* hour: both halves */
    if ((rc = tp_set(p, P_HDIV, v / 12)))
      return rc;
    return tp_set(p, P_HMOD, v % 12);
  }
  if (field[spec] == -2)
    return tp_set(p, P_HMOD, v == 12 ? 0 : v);
  return tp_set(p, field[spec], v);
}

/* scan::number: 'min'..'max' ASCII digits. */
static int scan_num(const char **s, const char *e, size_t min, size_t max,
                    int64_t *out) {
  size_t i, avail = (size_t)(e - *s);
  int64_t n = 0;
  if (avail < min)
    return PE_SHORT;
  for (i = 0; i < avail && i < max; i++) {
    int c = (unsigned char)(*s)[i];
    if (c < '0' || c > '9') {
      if (i < min)
        return PE_INVALID;
      break;
    }
    if (n > (INT64_MAX - (c - '0')) / 10)
      return PE_RANGE;
    n = n * 10 + (c - '0');
  }
  *s += i;
  *out = n;
  return PE_OK;
}

static int ieq(const char *a, const char *b, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    int x = (unsigned char)a[i], y = (unsigned char)b[i];
    if ((x | (x >= 'A' && x <= 'Z' ? 32 : 0)) !=
        (y | (y >= 'A' && y <= 'Z' ? 32 : 0)))
      return 0;
  }
  return 1;
}

/* Month (names = MON_NAMES, 12) or weekday (WD_NAMES, 7) name. */
static int scan_name(const char **s, const char *e, const char *const *names,
                     int count, int allow_long, int *idx) {
  int k;
  if (e - *s < 3)
    return PE_SHORT;
  for (k = 0; k < count; k++)
    if (ieq(*s, names[k], 3))
      break;
  if (k == count)
    return PE_INVALID;
  *s += 3;
  if (allow_long) {
    size_t l = strlen(names[k]) - 3;
    if ((size_t)(e - *s) >= l && ieq(*s, names[k] + 3, l))
      *s += l;
  }
  *idx = k;
  return PE_OK;
}

static int scan_nanos(const char **s, const char *e, int64_t *out) {
  static const int64_t scale[10] = {0,     100000000, 10000000, 1000000, 100000,
                                    10000, 1000,      100,      10,      1};
  const char *b = *s;
  int rc = scan_num(s, e, 1, 9, out);
  if (rc)
    return rc;
  *out *= scale[*s - b];
  while (*s < e && **s >= '0' && **s <= '9')
    (*s)++;
  return PE_OK;
}

/* scan::timezone_offset; 'perm' = %#z (Z, missing minutes allowed). */
static int scan_offset(const char **s, const char *e, int perm, int64_t *out) {
  int neg, h, m = 0;
  const char *p = *s;
  if (p < e && (*p == ' ' || *p == '\t'))
    p++;
  if (perm && p < e && (*p == 'Z' || *p == 'z')) {
    *s = p + 1;
    *out = 0;
    return PE_OK;
  }
  if (p >= e)
    return PE_SHORT;
  if (*p == '+' || *p == '-')
    neg = *p++ == '-';
  else if (e - p >= 3 && !memcmp(p, "\xE2\x88\x92", 3))
    neg = 1, p += 3;
  else
    return PE_INVALID;
  if (e - p < 2)
    return PE_SHORT;
  if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
    return PE_INVALID;
  h = (p[0] - '0') * 10 + (p[1] - '0');
  p += 2;
  if (p < e && *p == ':')
    p++;
  if (e - p >= 2 && p[1] >= '0' && p[1] <= '9' && p[0] >= '0' && p[0] <= '9') {
    if (p[0] > '5')
      return PE_RANGE;
    m = (p[0] - '0') * 10 + (p[1] - '0');
    p += 2;
  } else if (!perm) {
    return e - p < 2 ? PE_SHORT : PE_INVALID;
  }
  *s = p;
  *out = neg ? -(h * 3600 + m * 60) : h * 3600 + m * 60;
  return PE_OK;
}

static int scan_char(const char **s, const char *e, char c) {
  if (*s >= e)
    return PE_SHORT;
  if (**s != c)
    return PE_INVALID;
  (*s)++;
  return PE_OK;
}

/* %+ (strict RFC 3339). */
static int scan_rfc3339(tp_parsed *p, const char **s, const char *e) {
  static const struct {
    int spec;
    size_t w;
    char sep;
  } f[] = {{N_YEAR, 4, '-'}, {N_MONTH, 2, '-'}, {N_DAY, 2, 'T'},
           {N_HOUR, 2, ':'}, {N_MIN, 2, ':'},   {N_SEC, 2, 0}};
  int64_t v;
  int rc, k;
  for (k = 0; k < 6; k++) {
    if ((rc = scan_num(s, e, f[k].w, f[k].w, &v)) ||
        (rc = tp_set_num(p, f[k].spec, v)))
      return rc;
    if (f[k].sep == 'T') {
      if (*s >= e)
        return PE_SHORT;
      if (**s != 'T' && **s != 't')
        return PE_INVALID;
      (*s)++;
    } else if (f[k].sep && (rc = scan_char(s, e, f[k].sep))) {
      return rc;
    }
  }
  if (*s < e && **s == '.') {
    (*s)++;
    if ((rc = scan_nanos(s, e, &v)) || (rc = tp_set(p, P_NANO, v)))
      return rc;
  }
  if ((rc = scan_offset(s, e, 1, &v)))
    return rc;
  if (v <= -86400 || v >= 86400)
    return PE_RANGE;
  return tp_set(p, P_OFF, v);
}

static int tp_fixed(tp_parsed *p, int spec, const char **s, const char *e) {
  int64_t v;
  int rc, k;
  switch (spec) {
  case F_SMON:
  case F_LMON:
    if ((rc = scan_name(s, e, MON_NAMES, 12, spec == F_LMON, &k)))
      return rc;
    return tp_set(p, P_MONTH, k + 1);
  case F_SWD:
  case F_LWD:
    if ((rc = scan_name(s, e, WD_NAMES, 7, spec == F_LWD, &k)))
      return rc;
    return tp_set(p, P_WDAY, k + 1);
  case F_LAMPM:
  case F_UAMPM:
    if (e - *s < 2)
      return PE_SHORT;
    if (((*s)[1] | 32) != 'm' ||
        (((*s)[0] | 32) != 'a' && ((*s)[0] | 32) != 'p'))
      return PE_INVALID;
    k = ((*s)[0] | 32) == 'p';
    *s += 2;
    return tp_set(p, P_HDIV, k);
  case F_NANO:
  case F_NANO3:
  case F_NANO6:
  case F_NANO9:
    if (*s < e && **s == '.') {
      (*s)++;
      if ((rc = scan_nanos(s, e, &v)))
        return rc;
      return tp_set(p, P_NANO, v);
    }
    return PE_OK;
  case F_NANO3ND:
  case F_NANO6ND:
  case F_NANO9ND: {
    static const int64_t sc[3] = {1000000, 1000, 1};
    size_t w = (size_t)(spec - F_NANO3ND + 1) * 3;
    if ((size_t)(e - *s) < w)
      return PE_SHORT;
    if ((rc = scan_num(s, e, w, w, &v)))
      return rc;
    return tp_set(p, P_NANO, v * sc[spec - F_NANO3ND]);
  }
  case F_TZNAME:
    while (*s < e && !uspace(*s, (size_t)(e - *s)))
      (*s)++;
    return PE_OK;
  case F_RFC3339:
    return scan_rfc3339(p, s, e);
  default: /* the offsets */
    if ((rc = scan_offset(s, e, spec == F_TZPERM, &v)))
      return rc;
    return tp_set(p, P_OFF, v);
  }
}

/* Runs the format over the input, filling 'p'. */
static int tp_scan(tp_parsed *p, const gv_str *in, const gv_str *fmt) {
  tf_tok k = {fmt->s, fmt->s + fmt->len, NULL};
  const char *s = in->s, *e = in->s + in->len;
  tf_item it;
  int64_t v;
  int rc;
  for (;;) {
    tf_next(&k, &it);
    switch (it.kind) {
    case IT_END:
      return s < e ? PE_LONG : PE_OK;
    case IT_ERR:
      return PE_FORMAT;
    case IT_LIT:
      if ((size_t)(e - s) < it.lit_len)
        return PE_SHORT;
      if (memcmp(s, it.lit, it.lit_len))
        return PE_INVALID;
      s += it.lit_len;
      break;
    case IT_SPACE: {
      const char *q = it.lit, *qe = it.lit + it.lit_len;
      while (q < qe) {
        uint32_t a, b;
        size_t la = utf8_dec(q, (size_t)(qe - q), &a), lb;
        if (s >= e)
          return PE_SHORT;
        lb = utf8_dec(s, (size_t)(e - s), &b);
        if (a != b)
          return PE_INVALID;
        q += la;
        s += lb;
      }
      break;
    }
    case IT_NUM: {
      static const unsigned char w[] = {4, 2, 2, 4, 2, 2, 1, 2, 2, 2,  2,
                                        2, 1, 1, 3, 2, 2, 2, 2, 9, 255};
      size_t width = w[it.spec] == 255 ? SIZE_MAX : w[it.spec];
      if ((it.spec == N_YEAR || it.spec == N_IYEAR) && s < e &&
          (*s == '-' || *s == '+')) {
        int neg = *s++ == '-';
        if ((rc = scan_num(&s, e, 1, SIZE_MAX, &v)))
          return rc;
        v = neg ? -v : v;
      } else if ((rc = scan_num(&s, e, 1, width, &v))) {
        return rc;
      }
      if ((rc = tp_set_num(p, it.spec, v)))
        return rc;
      break;
    }
    default:
      if ((rc = tp_fixed(p, it.spec, &s, e)))
        return rc;
    }
  }
}

/* resolve_year: full year, or century + year-of-century, or 2-digit. */
static int tp_year(const tp_parsed *p, int fy, int fq, int fr, int *has,
                   int64_t *y) {
  int hy = tp_has(p, fy), hq = tp_has(p, fq), hr = tp_has(p, fr);
  *has = 1;
  if (!hq && !hr) {
    *has = hy;
    *y = p->v[fy];
  } else if (hy) {
    *y = p->v[fy];
    if (*y < 0 || (hq && p->v[fq] != *y / 100) || (hr && p->v[fr] != *y % 100))
      return PE_IMPOSSIBLE;
  } else if (hq && hr) {
    *y = p->v[fq] * 100 + p->v[fr];
    if (*y > INT32_MAX)
      return PE_RANGE;
  } else if (hr) {
    *y = p->v[fr] + (p->v[fr] < 70 ? 2000 : 1900);
  } else {
    return PE_NOT_ENOUGH;
  }
  return PE_OK;
}

static int in_range_year(int64_t y) { return y >= YEAR_MIN && y <= YEAR_MAX; }

/* Checks a candidate date against every given date field. */
static int tp_verify(const tp_parsed *p, int64_t days) {
  tm_utc t;
  int64_t yq, yr;
  if (tm_from_ts(days * 86400, &t))
    return 0;
  yq = t.year >= 0 ? t.year / 100 : -1;
  yr = t.year >= 0 ? t.year % 100 : -1;
  if ((tp_has(p, P_YEAR) && p->v[P_YEAR] != t.year) ||
      (tp_has(p, P_YDIV) && p->v[P_YDIV] != yq) ||
      (tp_has(p, P_YMOD) && p->v[P_YMOD] != yr) ||
      (tp_has(p, P_MONTH) && p->v[P_MONTH] != t.month) ||
      (tp_has(p, P_DAY) && p->v[P_DAY] != t.day) ||
      (tp_has(p, P_QUARTER) && p->v[P_QUARTER] != (t.month - 1) / 3 + 1))
    return 0;
  yq = t.isoyear >= 0 ? t.isoyear / 100 : -1;
  yr = t.isoyear >= 0 ? t.isoyear % 100 : -1;
  if ((tp_has(p, P_IYEAR) && p->v[P_IYEAR] != t.isoyear) ||
      (tp_has(p, P_IYDIV) && p->v[P_IYDIV] != yq) ||
      (tp_has(p, P_IYMOD) && p->v[P_IYMOD] != yr) ||
      (tp_has(p, P_IWEEK) && p->v[P_IWEEK] != t.isoweek) ||
      (tp_has(p, P_WDAY) && p->v[P_WDAY] != t.wday))
    return 0;
  if ((tp_has(p, P_ORD) && p->v[P_ORD] != t.ordinal) ||
      (tp_has(p, P_WSUN) &&
       p->v[P_WSUN] != ((int)t.ordinal - (int)(t.wday % 7) + 6) / 7) ||
      (tp_has(p, P_WMON) &&
       p->v[P_WMON] != ((int)t.ordinal - (int)t.wday + 7) / 7))
    return 0;
  return 1;
}

/* Parsed::to_naive_date, as days since the epoch. */
static int tp_date(const tp_parsed *p, int64_t *days) {
  int64_t y, iy;
  int hy, hiy, rc;
  if ((rc = tp_year(p, P_YEAR, P_YDIV, P_YMOD, &hy, &y)) ||
      (rc = tp_year(p, P_IYEAR, P_IYDIV, P_IYMOD, &hiy, &iy)))
    return rc;
  if (hy && tp_has(p, P_MONTH) && tp_has(p, P_DAY)) {
    if (!in_range_year(y) ||
        p->v[P_DAY] > days_in_month(y, (unsigned)p->v[P_MONTH]))
      return PE_RANGE;
    *days = days_from_civil(y, (unsigned)p->v[P_MONTH], (unsigned)p->v[P_DAY]);
  } else if (hy && tp_has(p, P_ORD)) {
    if (!in_range_year(y) || p->v[P_ORD] > 365 + is_leap(y))
      return PE_RANGE;
    *days = days_from_civil(y, 1, 1) + p->v[P_ORD] - 1;
  } else if (hy && tp_has(p, P_WDAY) &&
             (tp_has(p, P_WSUN) || tp_has(p, P_WMON))) {
    int sun = tp_has(p, P_WSUN);
    int64_t j1, first, wd = p->v[P_WDAY];
    if (!in_range_year(y))
      return PE_RANGE;
    j1 = days_from_civil(y, 1, 1);
    /* days from Jan 1 to the first Sunday (Monday) */
    first =
        sun ? (7 - (int64_t)wday_of(j1)) % 7 : (8 - (int64_t)wday_of(j1)) % 7;
    *days = j1 + first + ((sun ? p->v[P_WSUN] : p->v[P_WMON]) - 1) * 7 +
            (sun ? wd % 7 : wd - 1);
    {
      int64_t yy;
      unsigned mm, dd;
      civil_from_days(*days, &yy, &mm, &dd);
      if (yy != y)
        return PE_RANGE;
    }
  } else if (hiy && tp_has(p, P_IWEEK) && tp_has(p, P_WDAY)) {
    int64_t j4;
    if (!in_range_year(iy) || p->v[P_IWEEK] > iso_weeks_in(iy))
      return PE_RANGE;
    j4 = days_from_civil(iy, 1, 4);
    *days =
        j4 - (wday_of(j4) - 1) + (p->v[P_IWEEK] - 1) * 7 + (p->v[P_WDAY] - 1);
    {
      int64_t yy;
      unsigned mm, dd;
      civil_from_days(*days, &yy, &mm, &dd);
      if (!in_range_year(yy))
        return PE_RANGE;
    }
  } else {
    return PE_NOT_ENOUGH;
  }
  return tp_verify(p, *days) ? PE_OK : PE_IMPOSSIBLE;
}

/* Parsed::to_naive_time, as seconds of the day ('leap' for second 60). */
static int tp_time(const tp_parsed *p, int64_t *secs, int *leap) {
  int64_t sec = 0;
  if (!tp_has(p, P_HDIV) || !tp_has(p, P_HMOD) || !tp_has(p, P_MIN))
    return PE_NOT_ENOUGH;
  if (tp_has(p, P_SEC))
    sec = p->v[P_SEC];
  else if (tp_has(p, P_NANO))
    return PE_NOT_ENOUGH;
  *leap = sec == 60;
  if (sec == 60)
    sec = 59;
  *secs = (p->v[P_HDIV] * 12 + p->v[P_HMOD]) * 3600 + p->v[P_MIN] * 60 + sec;
  return PE_OK;
}

/* NaiveDateTime::parse_from_str(s, fmt) then .and_utc().timestamp(). */
static int tp_parse(const gv_str *in, const gv_str *fmt, int64_t *ts) {
  tp_parsed p;
  int64_t days, secs;
  int rd, rt, leap = 0, rc;
  memset(&p, 0, sizeof p);
  if ((rc = tp_scan(&p, in, fmt)))
    return rc;
  rd = tp_date(&p, &days);
  rt = tp_time(&p, &secs, &leap);
  if (!rd && !rt) {
    *ts = days * 86400 + secs;
    if (tp_has(&p, P_TS) && p.v[P_TS] != *ts && !(leap && p.v[P_TS] == *ts + 1))
      return PE_IMPOSSIBLE;
    return PE_OK;
  }
  if (tp_has(&p, P_TS)) {
    tm_utc t;
    if (rd == PE_RANGE || rt == PE_RANGE)
      return PE_RANGE;
    if (rd == PE_IMPOSSIBLE || rt == PE_IMPOSSIBLE)
      return PE_IMPOSSIBLE;
    if (tm_from_ts(p.v[P_TS], &t))
      return PE_RANGE;
    if ((rc = tp_set_num(&p, N_YEAR, t.year)) ||
        (rc = tp_set_num(&p, N_ORD, t.ordinal)) ||
        (rc = tp_set_num(&p, N_HOUR, t.hour)) ||
        (rc = tp_set_num(&p, N_MIN, t.min)) ||
        (rc = tp_set_num(&p, N_SEC, t.sec)) || (rc = tp_date(&p, &days)) ||
        (rc = tp_time(&p, &secs, &leap)))
      return rc;
    *ts = days * 86400 + secs;
    return PE_OK;
  }
  return rd ? rd : rt;
}

static int bi_now(gv_rt *rt, gvalue *out, const gvalue *args, int nargs) {
  struct timespec ts;
  (void)rt, (void)args, (void)nargs;
  clock_gettime(CLOCK_REALTIME, &ts);
  *out = gv_int((int64_t)ts.tv_sec);
  return 0;
}

static int bi_now_millis(gv_rt *rt, gvalue *out, const gvalue *args,
                         int nargs) {
  struct timespec ts;
  (void)rt, (void)args, (void)nargs;
  clock_gettime(CLOCK_REALTIME, &ts);
  *out = gv_int((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
  return 0;
}

static int bi_parse_time(gv_rt *rt, gvalue *out, const gvalue *args,
                         int nargs) {
  const gv_str *s, *fmt;
  int64_t ts;
  int rc;
  (void)nargs;
  if (arg_str(rt, args[0], &s) || arg_str(rt, args[1], &fmt) ||
      charge(rt, s->len + fmt->len))
    return 1;
  if ((rc = tp_parse(s, fmt, &ts)))
    return eval_err(rt, "parse_time: %s", PE_TEXT[rc]);
  *out = gv_int(ts);
  return 0;
}

static int bi_format_time(gv_rt *rt, gvalue *out, const gvalue *args,
                          int nargs) {
  const gv_str *fmt;
  int64_t ts;
  tm_utc t;
  gv_buf b;
  (void)nargs;
  if (arg_int(rt, args[0], &ts) || arg_str(rt, args[1], &fmt) ||
      charge(rt, fmt->len * 4))
    return 1;
  if (tm_from_ts(ts, &t))
    return eval_err(rt, "format_time: invalid timestamp");
  buf_open(rt, &b);
  if (tf_format(&b, &t, fmt->s, fmt->len)) {
    char m[GAVEL_ERRMSG_SIZE];
    gavel__buf_free(&b);
    return eval_err(rt, "format_time: invalid format string '%s'",
                    MSG_STR(m, fmt));
  }
  return ret_buf(rt, out, "format_time", &b);
}

/* Seconds per unit name, or 0 when unknown. */
static int64_t time_unit(const gv_str *u) {
  static const struct {
    const char *name;
    int64_t secs;
  } units[] = {{"seconds", 1},  {"s", 1},    {"minutes", 60}, {"m", 60},
               {"hours", 3600}, {"h", 3600}, {"days", 86400}, {"d", 86400}};
  size_t k;
  for (k = 0; k < sizeof units / sizeof units[0]; k++)
    if (gavel__str_eqn(u, units[k].name, strlen(units[k].name)))
      return units[k].secs;
  return 0;
}

static int bi_time_diff(gv_rt *rt, gvalue *out, const gvalue *args, int nargs) {
  int64_t t1, t2, diff, unit;
  const gv_str *u;
  (void)nargs;
  if (arg_int(rt, args[0], &t1) || arg_int(rt, args[1], &t2) ||
      arg_str(rt, args[2], &u))
    return 1;
  if (__builtin_sub_overflow(t1, t2, &diff))
    return eval_err(rt, "Integer overflow in time_diff()");
  if (!(unit = time_unit(u))) {
    char m[GAVEL_ERRMSG_SIZE];
    return eval_err(rt, "time_diff: unknown unit '%s'", MSG_STR(m, u));
  }
  *out = gv_int(diff / unit);
  return 0;
}

static int bi_date_add(gv_rt *rt, gvalue *out, const gvalue *args, int nargs) {
  int64_t ts, n, unit, secs, r;
  const gv_str *u;
  (void)nargs;
  if (arg_int(rt, args[0], &ts) || arg_int(rt, args[1], &n) ||
      arg_str(rt, args[2], &u))
    return 1;
  if (!(unit = time_unit(u))) {
    char m[GAVEL_ERRMSG_SIZE];
    return eval_err(rt, "date_add: unknown unit '%s'", MSG_STR(m, u));
  }
  if (__builtin_mul_overflow(n, unit, &secs) ||
      __builtin_add_overflow(ts, secs, &r))
    return eval_err(rt, "Integer overflow in date_add()");
  *out = gv_int(r);
  return 0;
}

static int bi_time_of_day(gv_rt *rt, gvalue *out, const gvalue *args,
                          int nargs) {
  int64_t ts;
  tm_utc t;
  char s[16];
  (void)nargs;
  if (arg_int(rt, args[0], &ts))
    return 1;
  if (tm_from_ts(ts, &t))
    return eval_err(rt, "time_of_day: invalid timestamp");
  snprintf(s, sizeof s, "%02u:%02u:%02u", t.hour, t.min, t.sec);
  return ret_str(rt, out, "time_of_day", s, 8);
}

static int bi_day_of_week(gv_rt *rt, gvalue *out, const gvalue *args,
                          int nargs) {
  int64_t ts;
  tm_utc t;
  (void)nargs;
  if (arg_int(rt, args[0], &ts))
    return 1;
  if (tm_from_ts(ts, &t))
    return eval_err(rt, "day_of_week: invalid timestamp");
  *out = gv_int(t.wday);
  return 0;
}

/* ==== Number text shared by YAML and JWT (ryu's layout, as serde) ==== */

/* Formats a finite double as ryu's format_finite does ("1.0", "0.001",
** "1e21", "1.5e-7").  Digits come from json.h's shortest round-trip
** formatter, whose layout is re-read here. */
static size_t fmt_ryu(char *out, double d) {
  char t[40], dig[32];
  size_t nd = 0, o = 0, k;
  int exp10 = 0, seen_point = 0, lead = 1, e = 0, eneg = 0, kk;
  const char *p;
  gavel__fmt_double_json(t, d);
  p = t;
  if (*p == '-')
    out[o++] = '-', p++;
  for (; *p && *p != 'e' && *p != 'E'; p++) {
    if (*p == '.') {
      seen_point = 1;
      continue;
    }
    if (*p == '0' && lead) {
      if (seen_point)
        exp10--;
      continue;
    }
    lead = 0;
    if (nd < sizeof dig)
      dig[nd++] = *p;
    if (!seen_point)
      exp10++;
  }
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-')
      eneg = *p++ == '-';
    while (*p >= '0' && *p <= '9')
      e = e * 10 + (*p++ - '0');
  }
  while (nd > 0 && dig[nd - 1] == '0')
    nd--;
  if (nd == 0) {
    memcpy(out + o, "0.0", 4);
    return o + 3;
  }
  kk = exp10 + (eneg ? -e : e); /* value = 0.dig * 10^kk */
  if (kk >= (int)nd && kk <= 16) {
    memcpy(out + o, dig, nd), o += nd;
    for (k = nd; k < (size_t)kk; k++)
      out[o++] = '0';
    out[o++] = '.', out[o++] = '0';
  } else if (kk > 0 && kk <= 16) {
    memcpy(out + o, dig, (size_t)kk), o += (size_t)kk;
    out[o++] = '.';
    memcpy(out + o, dig + kk, nd - (size_t)kk), o += nd - (size_t)kk;
  } else if (kk > -5 && kk <= 0) {
    out[o++] = '0', out[o++] = '.';
    for (k = 0; k < (size_t)-kk; k++)
      out[o++] = '0';
    memcpy(out + o, dig, nd), o += nd;
  } else {
    out[o++] = dig[0];
    if (nd > 1) {
      out[o++] = '.';
      memcpy(out + o, dig + 1, nd - 1), o += nd - 1;
    }
    o += (size_t)snprintf(out + o, 16, "e%d", kk - 1);
  }
  out[o] = 0;
  return o;
}

/* ---- Rust integer and float syntax (from_str_radix, f64::from_str) ---- */

/* Rust from_str_radix for u64/i64 (bits 64) or u128/i128 (bits 128). */
static int rs_int(const char *s, size_t n, unsigned radix, int is_signed,
                  int bits, __int128 *out) {
  unsigned __int128 v = 0, lim;
  int neg = 0;
  size_t i = 0;
  if (n && (s[0] == '+' || (s[0] == '-' && is_signed)))
    neg = s[0] == '-', i = 1;
  if (i >= n)
    return 0;
  lim = bits == 64
            ? (is_signed ? (unsigned __int128)INT64_MAX + neg : UINT64_MAX)
            : (is_signed ? (((unsigned __int128)1 << 127) - 1 + neg)
                         : ~(unsigned __int128)0);
  for (; i < n; i++) {
    int c = (unsigned char)s[i], d;
    d = c >= '0' && c <= '9'   ? c - '0'
        : c >= 'a' && c <= 'z' ? c - 'a' + 10
        : c >= 'A' && c <= 'Z' ? c - 'A' + 10
                               : 99;
    if (d >= (int)radix)
      return 0;
    if (v > (lim - (unsigned)d) / radix)
      return 0;
    v = v * radix + (unsigned)d;
  }
  *out = neg ? -(__int128)v : (__int128)v;
  return 1;
}

static int digits_not_number(const char *s, size_t n) {
  size_t i;
  if (n && (s[0] == '-' || s[0] == '+'))
    s++, n--;
  if (n <= 1 || s[0] != '0')
    return 0;
  for (i = 1; i < n; i++)
    if (s[i] < '0' || s[i] > '9')
      return 0;
  return 1;
}

static int has_prefix(const char *s, size_t n, const char *pre) {
  size_t l = strlen(pre);
  return n >= l && !memcmp(s, pre, l);
}

/* serde_yaml's parse_unsigned_int / parse_negative_int. */
static int ya_uint(const char *s, size_t n, int bits, __int128 *v) {
  static const char *const pre[3] = {"0x", "0o", "0b"};
  static const unsigned rad[3] = {16, 8, 2};
  const char *u = s;
  size_t un = n;
  int k;
  if (n && s[0] == '+') {
    u++, un--;
    if (un && (u[0] == '+' || u[0] == '-'))
      return 0;
  }
  for (k = 0; k < 3; k++)
    if (has_prefix(u, un, pre[k])) {
      if (un > 2 && (u[2] == '+' || u[2] == '-'))
        return 0;
      if (rs_int(u + 2, un - 2, rad[k], 0, bits, v))
        return 1;
    }
  if (digits_not_number(s, n))
    return 0;
  return rs_int(u, un, 10, 0, bits, v);
}

static int ya_nint(const char *s, size_t n, int bits, __int128 *v) {
  static const char *const pre[3] = {"-0x", "-0o", "-0b"};
  static const unsigned rad[3] = {16, 8, 2};
  char tmp[160];
  int k;
  for (k = 0; k < 3; k++)
    if (has_prefix(s, n, pre[k]) && n - 2 < sizeof tmp) {
      tmp[0] = '-';
      memcpy(tmp + 1, s + 3, n - 3);
      if (rs_int(tmp, n - 2, rad[k], 1, bits, v))
        return 1;
    }
  if (digits_not_number(s, n))
    return 0;
  return rs_int(s, n, 10, 1, bits, v);
}

/* Rust f64::from_str grammar for a decimal number (no inf/nan). */
static int rs_float_syntax(const char *s, size_t n) {
  size_t i = 0, a = 0, b = 0;
  if (i < n && (s[i] == '+' || s[i] == '-'))
    i++;
  while (i < n && s[i] >= '0' && s[i] <= '9')
    i++, a++;
  if (i < n && s[i] == '.') {
    i++;
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++, b++;
  }
  if (a + b == 0)
    return 0;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    size_t d = 0;
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-'))
      i++;
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++, d++;
    if (!d)
      return 0;
  }
  return i == n;
}

/* serde_yaml's parse_f64: finite floats and the YAML inf/nan spellings. */
static int ya_float(const char *s, size_t n, double *out) {
  const char *u = s;
  size_t un = n;
  if (n && s[0] == '+') {
    u++, un--;
    if (un && (u[0] == '+' || u[0] == '-'))
      return 0;
  }
  if ((un == 4 && (!memcmp(u, ".inf", 4) || !memcmp(u, ".Inf", 4) ||
                   !memcmp(u, ".INF", 4))))
    return *out = HUGE_VAL, 1;
  if (n == 5 && (!memcmp(s, "-.inf", 5) || !memcmp(s, "-.Inf", 5) ||
                 !memcmp(s, "-.INF", 5)))
    return *out = -HUGE_VAL, 1;
  if (n == 4 &&
      (!memcmp(s, ".nan", 4) || !memcmp(s, ".NaN", 4) || !memcmp(s, ".NAN", 4)))
    return *out = NAN, 1;
  if (!rs_float_syntax(u, un) || gavel__parse_double(u, un, out))
    return 0;
  return *out - *out == 0; /* finite */
}

static int ya_null(const char *s, size_t n) {
  return n == 0 || (n == 1 && s[0] == '~') ||
         (n == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) ||
                     !memcmp(s, "NULL", 4)));
}

static int ya_bool(const char *s, size_t n, int *b) {
  static const char *const t[6] = {"true",  "True",  "TRUE",
                                   "false", "False", "FALSE"};
  int k;
  for (k = 0; k < 6; k++)
    if (n == strlen(t[k]) && !memcmp(s, t[k], n))
      return *b = k < 3, 1;
  return 0;
}

/* ==== YAML: serde_yaml 0.9 on libyaml ==== */

static int ya_write(void *data, unsigned char *p, size_t n) {
  gv_buf *b = data;
  gavel__buf_add(b, p, n);
  return !b->oom && b->len <= GAVEL_MAX_STR_BYTES;
}

/* serde_yaml's choice of style for a string scalar. */
static yaml_scalar_style_t ya_str_style(const char *s, size_t n) {
  __int128 v;
  double f;
  int b;
  if (memchr(s, '\n', n))
    return YAML_LITERAL_SCALAR_STYLE;
  if (ya_null(s, n) || ya_bool(s, n, &b) || ya_uint(s, n, 64, &v) ||
      ya_nint(s, n, 64, &v))
    return YAML_SINGLE_QUOTED_SCALAR_STYLE;
  if (ya_uint(s, n, 128, &v) || ya_nint(s, n, 128, &v))
    return YAML_ANY_SCALAR_STYLE; /* visit_u128 fails: style falls to Any */
  if ((!digits_not_number(s, n) && ya_float(s, n, &f)) ||
      digits_not_number(s, n))
    return YAML_SINGLE_QUOTED_SCALAR_STYLE;
  return YAML_ANY_SCALAR_STYLE;
}

static int ya_scalar(yaml_emitter_t *em, const char *s, size_t n,
                     yaml_scalar_style_t st) {
  yaml_event_t ev;
  if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)n,
                                    1, 1, st))
    return 1;
  return !yaml_emitter_emit(em, &ev);
}

/* 'depth' bounds the recursion (GAVEL_MAX_WALK_DEPTH: issue 8). */
static int ya_emit(gv_rt *rt, yaml_emitter_t *em, gvalue v, int depth) {
  yaml_event_t ev;
  char t[48];
  uint32_t i;
  if (charge(rt, 16))
    return 1;
  if ((v.tag == GV_ARR || v.tag == GV_OBJ) && depth >= GAVEL_MAX_WALK_DEPTH)
    return gavel__rt_depth_error(rt);
  switch (v.tag) {
  case GV_BOOL:
    return ya_scalar(em, v.u.i ? "true" : "false", v.u.i ? 4 : 5,
                     YAML_PLAIN_SCALAR_STYLE);
  case GV_INT:
    return ya_scalar(em, t,
                     (size_t)snprintf(t, sizeof t, "%lld", (long long)v.u.i),
                     YAML_PLAIN_SCALAR_STYLE);
  case GV_FLOAT:
    if (v.u.f != v.u.f)
      return ya_scalar(em, ".nan", 4, YAML_PLAIN_SCALAR_STYLE);
    if (v.u.f - v.u.f != 0)
      return ya_scalar(em, v.u.f > 0 ? ".inf" : "-.inf", v.u.f > 0 ? 4 : 5,
                       YAML_PLAIN_SCALAR_STYLE);
    return ya_scalar(em, t, fmt_ryu(t, v.u.f), YAML_PLAIN_SCALAR_STYLE);
  case GV_STR:
    if (charge(rt, v.u.s->len))
      return 1;
    return ya_scalar(em, v.u.s->s, v.u.s->len,
                     ya_str_style(v.u.s->s, v.u.s->len));
  case GV_ARR:
    if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                              YAML_ANY_SEQUENCE_STYLE) ||
        !yaml_emitter_emit(em, &ev))
      return 1;
    for (i = 0; i < v.u.a->len; i++)
      if (ya_emit(rt, em, v.u.a->items[i], depth + 1))
        return 1;
    return !yaml_sequence_end_event_initialize(&ev) ||
           !yaml_emitter_emit(em, &ev);
  case GV_OBJ:
    if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                             YAML_ANY_MAPPING_STYLE) ||
        !yaml_emitter_emit(em, &ev))
      return 1;
    for (i = 0; i < v.u.o->len; i++) {
      gv_str *k = v.u.o->keys[i];
      if (ya_scalar(em, k->s, k->len, ya_str_style(k->s, k->len)) ||
          ya_emit(rt, em, v.u.o->vals[i], depth + 1))
        return 1;
    }
    return !yaml_mapping_end_event_initialize(&ev) ||
           !yaml_emitter_emit(em, &ev);
  default:
    return ya_scalar(em, "null", 4, YAML_PLAIN_SCALAR_STYLE);
  }
}

static int bi_yaml_marshal(gv_rt *rt, gvalue *out, const gvalue *args,
                           int nargs) {
  yaml_emitter_t em;
  yaml_event_t ev;
  gv_buf b;
  int bad;
  (void)nargs;
  buf_open(rt, &b);
  if (!yaml_emitter_initialize(&em)) {
    gavel__buf_free(&b);
    return gavel__rt_error(rt, GV_E_NOMEM, "out of memory");
  }
  yaml_emitter_set_unicode(&em, 1);
  yaml_emitter_set_width(&em, -1);
  yaml_emitter_set_output(&em, ya_write, &b);
  bad = !yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) ||
        !yaml_emitter_emit(&em, &ev) ||
        !yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) ||
        !yaml_emitter_emit(&em, &ev);
  bad = bad || ya_emit(rt, &em, args[0], 0);
  bad = bad || !yaml_document_end_event_initialize(&ev, 1) ||
        !yaml_emitter_emit(&em, &ev) ||
        !yaml_stream_end_event_initialize(&ev) ||
        !yaml_emitter_emit(&em, &ev) || !yaml_emitter_flush(&em);
  if (bad && rt->ekind == GV_E_NONE) {
    if (b.oom || b.len > GAVEL_MAX_STR_BYTES)
      limit_str(rt, "yaml_marshal", SIZE_MAX);
    else
      eval_err(rt, "yaml_marshal: %s", em.problem ? em.problem : "error");
  }
  yaml_emitter_delete(&em);
  if (bad) {
    gavel__buf_free(&b);
    return 1;
  }
  return ret_buf(rt, out, "yaml_marshal", &b);
}

/* ---- yaml_unmarshal: load the first document's events, then build ---- */

typedef struct ya_ev {
  yaml_event_type_t type; /* scalar, alias, seq/map start/end          */
  char *text;             /* scalar value (NUL-terminated)             */
  size_t len;             /* its length                                */
  char *tag;              /* tag or NULL                               */
  char *anchor;           /* anchor or alias name, or NULL             */
  int plain;              /* scalar style is plain                     */
  size_t line, col;       /* start mark                                */
  long target;            /* alias: index of the anchored event        */
} ya_ev;

typedef struct ya_doc {
  const gavel__alloc *al; /* where events and their text live  */
  ya_ev *ev;              /* events of the first document          */
  size_t n, cap;          /* count, capacity                       */
  char err[200];          /* load error text, "" if none           */
  int more;               /* a second document follows             */
  gv_rt *rt;              /* deadline, errors                      */
  size_t *anchors;        /* hash: anchor name -> event index + 1  */
  size_t n_anchors;       /* distinct names in 'anchors'           */
  size_t cap_anchors;     /* slots (a power of two), 0 = none yet  */
} ya_doc;

#define YA_MAX_DEPTH 128 /* serde_yaml's recursion limit */

static int ya_deadline(gv_rt *rt) {
  if (rt->deadline_ns && rx_now_ns() >= rt->deadline_ns)
    return gavel__rt_error(rt, GV_E_EVAL,
                           "Execution timeout: yaml_unmarshal stopped at the "
                           "run's deadline");
  return 0;
}

typedef struct ya_node {
  gvalue v;       /* built value                           */
  uint64_t jumps; /* alias jumps a full expansion makes    */
  uint64_t size;  /* nodes of its full expansion (capped)  */
  int height;     /* nesting height                        */
  int state;      /* 0 = not built, 1 = building, 2 = done */
} ya_node;

typedef struct ya_b {
  gv_rt *rt;      /* runtime                               */
  ya_doc *d;      /* events                                */
  ya_node *nodes; /* per-event cache for anchored nodes    */
  size_t pos;     /* next event                            */
  uint64_t jumps; /* alias jumps so far                    */
  size_t n_built; /* nodes built (deadline checks)         */
} ya_b;

/* Saturating: expansions of nested aliases grow exponentially. */
static uint64_t ya_add(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static char *dupz(const gavel__alloc *al, const void *p, size_t n) {
  char *s = gavel__malloc(al, n + 1);
  if (s) {
    if (n)
      memcpy(s, p, n);
    s[n] = 0;
  }
  return s;
}

static void ya_doc_free(ya_doc *d) {
  size_t i;
  for (i = 0; i < d->n; i++) {
    ya_ev *x = &d->ev[i];
    if (x->text)
      gavel__free(d->al, x->text, x->len + 1);
    if (x->tag)
      gavel__free(d->al, x->tag, strlen(x->tag) + 1);
    if (x->anchor)
      gavel__free(d->al, x->anchor, strlen(x->anchor) + 1);
  }
  gavel__free(d->al, d->ev, d->cap * sizeof *d->ev);
  gavel__free(d->al, d->anchors, d->cap_anchors * sizeof *d->anchors);
}

static uint32_t ya_hash(const char *s) {
  uint32_t h = 2166136261u; /* FNV-1a */
  while (*s)
    h = (h ^ (unsigned char)*s++) * 16777619u;
  return h;
}

/* The slot of anchor 'name' in d->anchors: its entry or the empty slot
** where it goes. */
static size_t *ya_anchor_slot(ya_doc *d, const char *name) {
  size_t mask = d->cap_anchors - 1, i = ya_hash(name) & mask;
  while (d->anchors[i] && strcmp(d->ev[d->anchors[i] - 1].anchor, name))
    i = (i + 1) & mask;
  return &d->anchors[i];
}

/* Records event 'at' as the latest definition of its anchor (a later
** definition of the same name replaces it, as in serde_yaml's Loader).
** Returns 1 on allocation failure. */
static int ya_anchor_set(ya_doc *d, size_t at) {
  if (2 * (d->n_anchors + 1) > d->cap_anchors) {
    size_t old = d->cap_anchors, nc = old ? 2 * old : 64, k;
    size_t *prev = d->anchors;
    d->anchors = gavel__malloc(d->al, nc * sizeof *d->anchors);
    if (!d->anchors) {
      d->anchors = prev;
      return 1;
    }
    memset(d->anchors, 0, nc * sizeof *d->anchors);
    d->cap_anchors = nc;
    for (k = 0; k < old; k++)
      if (prev[k])
        *ya_anchor_slot(d, d->ev[prev[k] - 1].anchor) = prev[k];
    gavel__free(d->al, prev, old * sizeof *prev);
  }
  {
    size_t *slot = ya_anchor_slot(d, d->ev[at].anchor);
    if (!*slot)
      d->n_anchors++;
    *slot = at + 1;
  }
  return 0;
}

/* Index of the latest event anchored 'name', or -1. */
static long ya_anchor_get(ya_doc *d, const char *name) {
  size_t *slot;
  if (!d->cap_anchors)
    return -1;
  slot = ya_anchor_slot(d, name);
  return *slot ? (long)(*slot - 1) : -1;
}

static void ya_parse_error(ya_doc *d, const yaml_parser_t *p) {
  gv_buf b;
  gavel__buf_init(&b, &gavel__default_alloc);
  gavel__buf_adds(&b, p->problem ? p->problem : "unknown error");
  if (p->problem_mark.line || p->problem_mark.column)
    gavel__buf_addf(&b, " at line %zu column %zu", p->problem_mark.line + 1,
                    p->problem_mark.column + 1);
  else if (p->problem_offset)
    gavel__buf_addf(&b, " at position %zu", p->problem_offset);
  if (p->context) {
    gavel__buf_addf(&b, ", %s", p->context);
    if ((p->context_mark.line || p->context_mark.column) &&
        (p->context_mark.line != p->problem_mark.line ||
         p->context_mark.column != p->problem_mark.column))
      gavel__buf_addf(&b, " at line %zu column %zu", p->context_mark.line + 1,
                      p->context_mark.column + 1);
  }
  snprintf(d->err, sizeof d->err, "%s", b.p ? b.p : "error");
  gavel__buf_free(&b);
}

/* Appends one event; returns 1 on allocation failure. */
static int ya_push(ya_doc *d, const yaml_event_t *e) {
  ya_ev *x;
  const yaml_char_t *anchor = NULL, *tag = NULL;
  if (d->n == d->cap) {
    size_t nc = d->cap ? d->cap * 2 : 16;
    ya_ev *ne =
        gavel__realloc(d->al, d->ev, d->cap * sizeof *ne, nc * sizeof *ne);
    if (!ne)
      return 1;
    d->ev = ne, d->cap = nc;
  }
  x = &d->ev[d->n];
  memset(x, 0, sizeof *x);
  x->type = e->type;
  x->line = e->start_mark.line + 1;
  x->col = e->start_mark.column + 1;
  x->target = -1;
  if (e->type == YAML_SCALAR_EVENT) {
    anchor = e->data.scalar.anchor, tag = e->data.scalar.tag;
    x->plain = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    x->len = e->data.scalar.length;
    if (!(x->text = dupz(d->al, e->data.scalar.value, x->len)))
      return 1;
  } else if (e->type == YAML_SEQUENCE_START_EVENT) {
    anchor = e->data.sequence_start.anchor, tag = e->data.sequence_start.tag;
  } else if (e->type == YAML_MAPPING_START_EVENT) {
    anchor = e->data.mapping_start.anchor, tag = e->data.mapping_start.tag;
  } else if (e->type == YAML_ALIAS_EVENT) {
    anchor = e->data.alias.anchor;
  }
  if (anchor &&
      !(x->anchor = dupz(d->al, anchor, strlen((const char *)anchor))))
    return 1;
  if (tag && !(x->tag = dupz(d->al, tag, strlen((const char *)tag))))
    return 1;
  d->n++;
  return 0;
}

/* serde_yaml's Loader: the first document's events (aliases resolved to
** the latest anchor defined before them), then whether another follows. */
static int ya_load(ya_doc *d, const gv_str *s) {
  yaml_parser_t p;
  yaml_event_t e;
  int docs = 0, done = 0, rc = 0, open = 0;
  if (!yaml_parser_initialize(&p))
    return 1;
  yaml_parser_set_input_string(&p, (const unsigned char *)s->s, s->len);
  while (!done) {
    if (!yaml_parser_parse(&p, &e)) {
      if (docs <= 1 && !d->more)
        ya_parse_error(d, &p);
      else
        d->more = 1;
      break;
    }
    switch (e.type) {
    case YAML_DOCUMENT_START_EVENT:
      if (++docs > 1)
        d->more = 1, done = 1;
      break;
    case YAML_STREAM_END_EVENT:
    case YAML_DOCUMENT_END_EVENT:
      if (e.type == YAML_STREAM_END_EVENT)
        done = 1;
      break;
    case YAML_STREAM_START_EVENT:
      break;
    default:
      if (ya_push(d, &e)) {
        rc = 1, done = 1;
      } else if (e.type == YAML_ALIAS_EVENT) {
        ya_ev *x = &d->ev[d->n - 1];
        long k = ya_anchor_get(d, x->anchor);
        x->target = k;
        if (k < 0) { /* the document ends here, with the error */
          snprintf(d->err, sizeof d->err,
                   "unknown anchor at line %zu "
                   "column %zu",
                   x->line, x->col);
          gavel__free(d->al, x->anchor, strlen(x->anchor) + 1);
          d->n--;
          done = 1;
        }
      } else {
        if (d->ev[d->n - 1].anchor && ya_anchor_set(d, d->n - 1))
          rc = 1, done = 1;
        if (e.type == YAML_SEQUENCE_START_EVENT ||
            e.type == YAML_MAPPING_START_EVENT) {
          /* The build fails at this event ("recursion limit exceeded"):
          ** stop here rather than scan the rest (libyaml's flow-level
          ** bookkeeping makes deep nesting quadratic: 60 KB took 8 s). */
          if (++open > YA_MAX_DEPTH)
            done = 1;
        } else if (e.type == YAML_SEQUENCE_END_EVENT ||
                   e.type == YAML_MAPPING_END_EVENT)
          open--;
      }
    }
    yaml_event_delete(&e);
    if (!done && d->n % 1024 == 0 && ya_deadline(d->rt))
      rc = 2, done = 1;
  }
  yaml_parser_delete(&p);
  return rc;
}

static int ya_fail(ya_b *b, const ya_ev *x, const char *msg) {
  return eval_err(b->rt, "yaml_unmarshal: %s at line %zu column %zu", msg,
                  x->line, x->col);
}

static int ya_node_at(ya_b *b, size_t at, int depth, ya_node *out);

/* Builds the node starting at b->pos (advancing past it). */
static int ya_build(ya_b *b, int depth, ya_node *out) {
  size_t at = b->pos;
  ya_node *cache;
  if (at >= b->d->n)
    return eval_err(b->rt, "yaml_unmarshal: %s",
                    b->d->err[0] ? b->d->err : "EOF while parsing a value");
  if (b->d->ev[at].type == YAML_ALIAS_EVENT) {
    const ya_ev *x = &b->d->ev[at];
    ya_node *t = &b->nodes[x->target];
    b->pos++;
    if (++b->jumps > (uint64_t)b->d->n * 100)
      return eval_err(b->rt, "yaml_unmarshal: repetition limit exceeded");
    if (t->state == 1 || depth + t->height > YA_MAX_DEPTH)
      return ya_fail(b, x, "recursion limit exceeded");
    if (t->state == 0) { /* not built yet: a forward anchor cannot occur */
      size_t save = b->pos;
      b->pos = (size_t)x->target;
      if (ya_build(b, depth, t))
        return 1;
      b->pos = save;
    }
    b->jumps += t->jumps;
    if (b->jumps > (uint64_t)b->d->n * 100)
      return eval_err(b->rt, "yaml_unmarshal: repetition limit exceeded");
    /* The value is shared, not copied, but whoever walks the result pays
    ** for every node of the expansion (billion laughs): charge them. */
    if (gavel__rt_charge(b->rt, t->size > INT64_MAX ? INT64_MAX
                                                    : (int64_t)t->size))
      return 1;
    *out = *t;
    out->jumps = t->jumps + 1;
    return 0;
  }
  cache = b->d->ev[at].anchor ? &b->nodes[at] : NULL;
  if (cache)
    cache->state = 1;
  if (ya_node_at(b, at, depth, out))
    return 1;
  if (cache) {
    *cache = *out;
    cache->state = 2;
  }
  return 0;
}

#define YA_TAG "tag:yaml.org,2002:"

/* serde_yaml's visit_scalar into an Ordo value. */
static int ya_scalar_value(ya_b *b, const ya_ev *x, gvalue *v) {
  const char *s = x->text, *tag = x->tag;
  size_t n = x->len;
  __int128 iv;
  double f;
  int bl, untagged = !tag ? x->plain : (tag[0] == '!' && x->plain);
  char msg[200];
  if (tag && !untagged && !strcmp(tag, YA_TAG "bool")) {
    if (!ya_bool(s, n, &bl))
      goto badval;
    return *v = gv_bool(bl), 0;
  }
  if (tag && !untagged && !strcmp(tag, YA_TAG "float")) {
    if (!ya_float(s, n, &f))
      goto badval;
    return *v = gv_float(f), 0;
  }
  if (tag && !untagged && !strcmp(tag, YA_TAG "null")) {
    if (!ya_null(s, n) || n == 0)
      goto badval;
    return *v = gv_null(), 0;
  }
  if (untagged && ya_null(s, n))
    return *v = gv_null(), 0;
  if (untagged && ya_bool(s, n, &bl))
    return *v = gv_bool(bl), 0;
  if (untagged || (tag && !strcmp(tag, YA_TAG "int"))) {
    if (ya_uint(s, n, 64, &iv) || ya_nint(s, n, 64, &iv))
      return *v = gv_int((int64_t)(uint64_t)iv), 0;
    if (ya_uint(s, n, 128, &iv) || ya_nint(s, n, 128, &iv)) {
      snprintf(msg, sizeof msg,
               "invalid type: integer `%.*s` as %s, expected "
               "a valid JSON value",
               (int)n, s, ya_uint(s, n, 128, &iv) ? "u128" : "i128");
      return ya_fail(b, x, msg);
    }
    if (!untagged)
      goto badval;
  }
  if (untagged && !digits_not_number(s, n) && ya_float(s, n, &f))
    return *v = gv_float(f), 0;
  if (limit_str(b->rt, "yaml_unmarshal", n))
    return 1;
  {
    gv_str *str = gavel__str_new(b->rt->arena, s, n);
    if (!str)
      return gavel__rt_nomem(b->rt);
    *v = gv_strv(str);
  }
  return 0;
badval:
  snprintf(msg, sizeof msg, "invalid value: string \"%.*s\", expected %s",
           (int)(n > 60 ? 60 : n), s,
           !strcmp(tag, YA_TAG "bool")    ? "a boolean"
           : !strcmp(tag, YA_TAG "float") ? "a float"
           : !strcmp(tag, YA_TAG "null")  ? "null"
                                          : "an integer");
  return ya_fail(b, x, msg);
}

/* A mapping key as String (serde_yaml's deserialize_str). */
static int ya_key(ya_b *b, gv_str **key) {
  const ya_ev *x = &b->d->ev[b->pos];
  if (x->type == YAML_ALIAS_EVENT)
    x = &b->d->ev[x->target];
  if (x->type != YAML_SCALAR_EVENT)
    return ya_fail(b, &b->d->ev[b->pos],
                   x->type == YAML_SEQUENCE_START_EVENT
                       ? "invalid type: sequence, expected a string"
                       : "invalid type: map, expected a string");
  b->pos++;
  if (!(*key = gavel__str_new(b->rt->arena, x->text, x->len)))
    return gavel__rt_nomem(b->rt);
  return 0;
}

/* A mapping being built: key -> member index, hashed once it is large
** (gavel__obj_set searches linearly: a 100,000-key map took 23 s). */
typedef struct ya_map {
  gv_obj *o;       /* the object                          */
  uint32_t *slots; /* member index + 1, 0 = empty; or NULL */
  uint32_t cap;    /* slots (a power of two)               */
} ya_map;

#define YA_MAP_HASH_AT 16 /* members before a hash index is built */

static void ya_map_index(ya_map *m, uint32_t i) {
  uint32_t mask = m->cap - 1, k = gavel__str_hash(m->o->keys[i]) & mask;
  while (m->slots[k])
    k = (k + 1) & mask;
  m->slots[k] = i + 1;
}

/* (Re)builds the index with room for twice the members. */
static int ya_map_grow(ya_b *b, ya_map *m) {
  const gavel__alloc *al = b->d->al;
  uint32_t nc = m->cap ? 2 * m->cap : 4 * YA_MAP_HASH_AT, i;
  gavel__free(al, m->slots, (size_t)m->cap * sizeof *m->slots);
  m->slots = gavel__malloc(al, (size_t)nc * sizeof *m->slots);
  m->cap = m->slots ? nc : 0;
  if (!m->slots)
    return gavel__rt_error(b->rt, GV_E_NOMEM, "out of memory");
  memset(m->slots, 0, (size_t)nc * sizeof *m->slots);
  for (i = 0; i < m->o->len; i++)
    ya_map_index(m, i);
  return 0;
}

/* Inserts or replaces (the last value wins, at the first key's place, as
** gavel__obj_set does).  Returns 1 with the error recorded. */
static int ya_map_set(ya_b *b, ya_map *m, gv_str *k, gvalue v) {
  uint32_t mask, h;
  if (!m->slots && m->o->len < YA_MAP_HASH_AT)
    return gavel__obj_set(b->rt->arena, m->o, k, v) ? 0
                                                    : gavel__rt_nomem(b->rt);
  if (!m->slots && ya_map_grow(b, m))
    return 1;
  mask = m->cap - 1;
  for (h = gavel__str_hash(k) & mask; m->slots[h]; h = (h + 1) & mask)
    if (gavel__str_eq(m->o->keys[m->slots[h] - 1], k)) {
      m->o->vals[m->slots[h] - 1] = v;
      return 0;
    }
  if (!gavel__obj_append(b->rt->arena, m->o, k, v))
    return gavel__rt_nomem(b->rt);
  if (2 * (size_t)m->o->len > m->cap) /* keep the load under a half */
    return ya_map_grow(b, m);
  m->slots[h] = m->o->len;
  return 0;
}

static int ya_map_build(ya_b *b, int depth, ya_map *m, int *h,
                        uint64_t *size) {
  while (b->pos < b->d->n &&
         b->d->ev[b->pos].type != YAML_MAPPING_END_EVENT) {
    gv_str *k;
    ya_node c;
    if (ya_key(b, &k) || ya_build(b, depth + 1, &c) ||
        ya_map_set(b, m, k, c.v))
      return 1;
    *h = c.height + 1 > *h ? c.height + 1 : *h;
    *size = ya_add(*size, c.size);
  }
  return 0;
}

static int ya_node_at(ya_b *b, size_t at, int depth, ya_node *out) {
  const ya_ev *x = &b->d->ev[at];
  uint64_t j0 = b->jumps;
  int h = 0;
  memset(out, 0, sizeof *out);
  out->size = 1;
  if (charge(b->rt, 4 + x->len))
    return 1;
  if (++b->n_built % 1024 == 0 && ya_deadline(b->rt))
    return 1;
  if (x->tag && x->tag[0] == '!' && x->tag[1])
    return ya_fail(b, x, "invalid type: enum, expected a valid JSON value");
  b->pos = at + 1;
  if (x->type == YAML_SCALAR_EVENT)
    return ya_scalar_value(b, x, &out->v);
  if (depth >= YA_MAX_DEPTH)
    return ya_fail(b, x, "recursion limit exceeded");
  if (x->type == YAML_SEQUENCE_START_EVENT) {
    gv_arr *a = gavel__arr_new(b->rt->arena, 4);
    if (!a)
      return gavel__rt_nomem(b->rt);
    while (b->pos < b->d->n &&
           b->d->ev[b->pos].type != YAML_SEQUENCE_END_EVENT) {
      ya_node c;
      if (ya_build(b, depth + 1, &c) || push(b->rt, a, c.v) ||
          limit_arr(b->rt, "yaml_unmarshal", a->len))
        return 1;
      h = c.height + 1 > h ? c.height + 1 : h;
      out->size = ya_add(out->size, c.size);
    }
    out->v = gv_arrv(a);
  } else {
    ya_map m = {gavel__obj_new(b->rt->arena, 4), NULL, 0};
    int rc;
    if (!m.o)
      return gavel__rt_nomem(b->rt);
    rc = ya_map_build(b, depth, &m, &h, &out->size);
    gavel__free(b->d->al, m.slots, (size_t)m.cap * sizeof *m.slots);
    if (rc)
      return 1;
    out->v = gv_objv(m.o);
  }
  if (b->pos >= b->d->n)
    return eval_err(b->rt, "yaml_unmarshal: %s",
                    b->d->err[0] ? b->d->err : "EOF while parsing a value");
  b->pos++; /* the end event */
  out->height = h ? h : 1;
  out->jumps = b->jumps - j0;
  return 0;
}

static int bi_yaml_unmarshal(gv_rt *rt, gvalue *out, const gvalue *args,
                             int nargs) {
  const gv_str *s;
  ya_doc d;
  ya_b b;
  ya_node root;
  size_t nsz;
  int rc;
  (void)nargs;
  if (arg_str(rt, args[0], &s) || charge(rt, s->len * 2))
    return 1;
  memset(&d, 0, sizeof d);
  d.al = rt->arena->al;
  d.rt = rt;
  if ((rc = ya_load(&d, s)) != 0) {
    ya_doc_free(&d);
    return rc == 2 ? 1 : gavel__rt_error(rt, GV_E_NOMEM, "out of memory");
  }
  if (d.n == 0 && !d.err[0]) { /* empty stream: serde_yaml's Event::Void */
    ya_doc_free(&d);
    rc = d.more ? eval_err(rt, "yaml_unmarshal: deserializing from YAML "
                               "containing more than one document is not "
                               "supported")
                : 0;
    if (!rc)
      *out = gv_null();
    return rc;
  }
  nsz = (d.n ? d.n : 1) * sizeof(ya_node);
  b = (ya_b){rt, &d, gavel__malloc(d.al, nsz), 0, 0, 0};
  if (b.nodes)
    memset(b.nodes, 0, nsz);
  else {
    ya_doc_free(&d);
    return gavel__rt_error(rt, GV_E_NOMEM, "out of memory");
  }
  rc = ya_build(&b, 0, &root);
  if (!rc && d.err[0])
    rc = eval_err(rt, "yaml_unmarshal: %s", d.err);
  if (!rc && d.more)
    rc = eval_err(rt, "yaml_unmarshal: deserializing from YAML containing "
                      "more than one document is not supported");
  gavel__free(d.al, b.nodes, nsz);
  ya_doc_free(&d);
  if (!rc)
    *out = root.v;
  return rc;
}

/* ==== Encodings: base64 (base64 0.22), base64url (data-encoding), url,
** hex ==== */

static const char B64_STD[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char B64_URL[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void b64_encode(gv_buf *b, const unsigned char *p, size_t n,
                       const char *alpha, int pad) {
  size_t i;
  for (i = 0; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    char q[4] = {alpha[v >> 18], alpha[(v >> 12) & 63], alpha[(v >> 6) & 63],
                 alpha[v & 63]};
    gavel__buf_add(b, q, 4);
  }
  if (n - i == 1) {
    gavel__buf_addc(b, alpha[p[i] >> 2]);
    gavel__buf_addc(b, alpha[(p[i] & 3) << 4]);
    if (pad)
      gavel__buf_add(b, "==", 2);
  } else if (n - i == 2) {
    gavel__buf_addc(b, alpha[p[i] >> 2]);
    gavel__buf_addc(b, alpha[((p[i] & 3) << 4) | (p[i + 1] >> 4)]);
    gavel__buf_addc(b, alpha[(p[i + 1] & 15) << 2]);
    if (pad)
      gavel__buf_addc(b, '=');
  }
}

static int b64_val(const char *alpha, unsigned char c) {
  const char *q = c ? memchr(alpha, c, 64) : NULL;
  return q ? (int)(q - alpha) : -1;
}

/* The base64 crate's GeneralPurpose decoder ('canonical' = padding
** required, else padding forbidden), with its error texts.  0 or 1. */
static int b64_decode(gv_buf *o, const char *in, size_t n, const char *alpha,
                      int canonical, char *err, size_t esz) {
  const unsigned char *u = (const unsigned char *)in;
  size_t rem = n % 4, quads, i, pads = 0, first_pad = 0, m = 0;
  unsigned char mor[4] = {0, 0, 0, 0}, last = 0;
  uint32_t num;
  if (rem == 1 && u[n - 1] != '=' && b64_val(alpha, u[n - 1]) < 0) {
    snprintf(err, esz, "Invalid symbol %u, offset %zu.", u[n - 1], n - 1);
    return 1;
  }
  quads = n - rem; /* the last quad is decoded apart: it may have padding */
  if (rem == 0)
    quads = quads >= 4 ? quads - 4 : 0;
  for (i = 0; i < quads; i += 4) {
    int k, d[4];
    for (k = 0; k < 4; k++)
      if ((d[k] = b64_val(alpha, u[i + (size_t)k])) < 0) {
        snprintf(err, esz, "Invalid symbol %u, offset %zu.", u[i + (size_t)k],
                 i + (size_t)k);
        return 1;
      }
    num = (uint32_t)d[0] << 18 | (uint32_t)d[1] << 12 | (uint32_t)d[2] << 6 |
          (uint32_t)d[3];
    gavel__buf_addc(o, (char)(num >> 16));
    gavel__buf_addc(o, (char)(num >> 8));
    gavel__buf_addc(o, (char)num);
  }
  for (i = quads; i < n; i++) {
    size_t li = i - quads;
    int d;
    if (u[i] == '=') {
      if (li < 2) {
        snprintf(err, esz, "Invalid symbol %u, offset %zu.", u[i], i);
        return 1;
      }
      if (pads++ == 0)
        first_pad = li;
      continue;
    }
    if (pads) {
      snprintf(err, esz, "Invalid symbol 61, offset %zu.", quads + first_pad);
      return 1;
    }
    last = u[i];
    if ((d = b64_val(alpha, u[i])) < 0) {
      snprintf(err, esz, "Invalid symbol %u, offset %zu.", u[i], i);
      return 1;
    }
    mor[m++] = (unsigned char)d;
  }
  if (n && m < 2) {
    snprintf(err, esz, "Invalid input length: %zu", quads + m);
    return 1;
  }
  if ((canonical && (pads + m) % 4) || (!canonical && pads)) {
    snprintf(err, esz, "Invalid padding");
    return 1;
  }
  num = (uint32_t)mor[0] << 26 | (uint32_t)mor[1] << 20 |
        (uint32_t)mor[2] << 14 | (uint32_t)mor[3] << 8;
  if (num & (~(uint32_t)0 >> (m * 6 / 8 * 8))) {
    snprintf(err, esz, "Invalid last symbol %u, offset %zu.", last,
             quads + m - 1);
    return 1;
  }
  for (i = 0; i < m * 6 / 8; i++)
    gavel__buf_addc(o, (char)(num >> (24 - 8 * i)));
  return 0;
}

/* data-encoding's BASE64URL_NOPAD decoder and its "<kind> at <pos>". */
static int b64url_nopad_decode(gv_buf *o, const char *in, size_t n, char *err,
                               size_t esz) {
  const unsigned char *u = (const unsigned char *)in;
  size_t i;
  uint32_t acc = 0;
  int bits = 0;
  if (n % 4 == 1) {
    snprintf(err, esz, "invalid length at %zu", n - 1);
    return 1;
  }
  for (i = 0; i < n; i++) {
    int d = b64_val(B64_URL, u[i]);
    if (d < 0) {
      snprintf(err, esz, "invalid symbol at %zu", i);
      return 1;
    }
    acc = acc << 6 | (uint32_t)d;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      gavel__buf_addc(o, (char)(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  if (acc) {
    snprintf(err, esz, "non-zero trailing bits at %zu", n - 1);
    return 1;
  }
  return 0;
}

static int bi_base64_encode(gv_rt *rt, gvalue *out, const gvalue *args,
                            int nargs) {
  const gv_str *s;
  gv_buf b;
  (void)nargs;
  if (arg_str(rt, args[0], &s) || charge(rt, s->len * 2))
    return 1;
  buf_open(rt, &b);
  b64_encode(&b, (const unsigned char *)s->s, s->len, B64_STD, 1);
  return ret_buf(rt, out, "base64_encode", &b);
}

static int bi_base64url_encode(gv_rt *rt, gvalue *out, const gvalue *args,
                               int nargs) {
  const gv_str *s;
  gv_buf b;
  (void)nargs;
  if (arg_str(rt, args[0], &s) || charge(rt, s->len * 2))
    return 1;
  buf_open(rt, &b);
  b64_encode(&b, (const unsigned char *)s->s, s->len, B64_URL, 0);
  return ret_buf(rt, out, "base64url_encode", &b);
}

/* Publishes decoded bytes as a string if they are UTF-8. */
static int ret_text(gv_rt *rt, gvalue *out, const char *fn, gv_buf *b) {
  char pre[48];
  snprintf(pre, sizeof pre, "%s: invalid UTF-8: ", fn);
  if (!b->oom && check_utf8(rt, pre, b->p ? b->p : "", b->len)) {
    gavel__buf_free(b);
    return 1;
  }
  return ret_buf(rt, out, fn, b);
}

static int bi_base64_decode(gv_rt *rt, gvalue *out, const gvalue *args,
                            int nargs) {
  const gv_str *s;
  gv_buf b;
  char err[96];
  (void)nargs;
  if (arg_str(rt, args[0], &s) || charge(rt, s->len * 2))
    return 1;
  buf_open(rt, &b);
  if (b64_decode(&b, s->s, s->len, B64_STD, 1, err, sizeof err)) {
    gavel__buf_free(&b);
    return eval_err(rt, "base64_decode: %s", err);
  }
  return ret_text(rt, out, "base64_decode", &b);
}

static int bi_base64url_decode(gv_rt *rt, gvalue *out, const gvalue *args,
                               int nargs) {
  const gv_str *s;
  gv_buf b;
  char err[96];
  (void)nargs;
  if (arg_str(rt, args[0], &s) || charge(rt, s->len * 2))
    return 1;
  buf_open(rt, &b);
  if (b64url_nopad_decode(&b, s->s, s->len, err, sizeof err)) {
    gavel__buf_free(&b);
    return eval_err(rt, "base64url_decode: invalid input: %s", err);
  }
  return ret_text(rt, out, "base64url_decode", &b);
}

static const char HEX_LO[] = "0123456789abcdef";

static int bi_url_encode(gv_rt *rt, gvalue *out, const gvalue *args,
                         int nargs) {
  static const char HEX_UP[] = "0123456789ABCDEF";
  const gv_str *s;
  gv_buf b;
  uint32_t i;
  (void)nargs;
  if (arg_str(rt, args[0], &s) || charge(rt, s->len * 3))
    return 1;
  buf_open(rt, &b);
  for (i = 0; i < s->len; i++) {
    unsigned char c = (unsigned char)s->s[i];
    if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
        (c >= 'a' && c <= 'z') || c == '-' || c == '.' || c == '_' || c == '~')
      gavel__buf_addc(&b, (char)c);
    else {
      char e[3] = {'%', HEX_UP[c >> 4], HEX_UP[c & 15]};
      gavel__buf_add(&b, e, 3);
    }
  }
  return ret_buf(rt, out, "url_encode", &b);
}

static int hexv(int c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

/* urlencoding::decode: %XX decoded, malformed escapes kept, '+' kept. */
static int bi_url_decode(gv_rt *rt, gvalue *out, const gvalue *args,
                         int nargs) {
  const gv_str *s;
  gv_buf b;
  uint32_t i;
  (void)nargs;
  if (arg_str(rt, args[0], &s) || charge(rt, s->len * 2))
    return 1;
  buf_open(rt, &b);
  for (i = 0; i < s->len; i++) {
    int hi, lo;
    if (s->s[i] == '%' && i + 2 < s->len &&
        (hi = hexv((unsigned char)s->s[i + 1])) >= 0 &&
        (lo = hexv((unsigned char)s->s[i + 2])) >= 0) {
      gavel__buf_addc(&b, (char)(hi << 4 | lo));
      i += 2;
    } else
      gavel__buf_addc(&b, s->s[i]);
  }
  if (!b.oom && check_utf8(rt, "url_decode: ", b.p ? b.p : "", b.len)) {
    gavel__buf_free(&b);
    return 1;
  }
  return ret_buf(rt, out, "url_decode", &b);
}

static void hex_add(gv_buf *b, const unsigned char *p, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    char h[2] = {HEX_LO[p[i] >> 4], HEX_LO[p[i] & 15]};
    gavel__buf_add(b, h, 2);
  }
}

static int bi_hex_encode(gv_rt *rt, gvalue *out, const gvalue *args,
                         int nargs) {
  const gv_str *s;
  gv_buf b;
  (void)nargs;
  if (arg_str(rt, args[0], &s) || charge(rt, s->len * 2))
    return 1;
  buf_open(rt, &b);
  hex_add(&b, (const unsigned char *)s->s, s->len);
  return ret_buf(rt, out, "hex_encode", &b);
}

static int bi_hex_decode(gv_rt *rt, gvalue *out, const gvalue *args,
                         int nargs) {
  const gv_str *s;
  gv_buf b;
  uint32_t i;
  (void)nargs;
  if (arg_str(rt, args[0], &s) || charge(rt, s->len))
    return 1;
  if (s->len % 2)
    return eval_err(rt, "hex_decode: invalid hex string: Odd number of "
                        "digits");
  buf_open(rt, &b);
  for (i = 0; i < s->len; i++) {
    int v = hexv((unsigned char)s->s[i]);
    if (v < 0) {
      char q[16];
      char_debug(q, sizeof q, (unsigned char)s->s[i]);
      gavel__buf_free(&b);
      return eval_err(rt,
                      "hex_decode: invalid hex string: Invalid character "
                      "%s at position %u",
                      q, (unsigned)i);
    }
    if (i % 2)
      b.p[b.len - 1] = (char)(b.p[b.len - 1] << 4 | v);
    else
      gavel__buf_addc(&b, (char)v);
    if (b.oom)
      break;
  }
  return ret_text(rt, out, "hex_decode", &b);
}

/* ==== Hashes, HMAC, UUID (OpenSSL libcrypto) ==== */

static int digest_hex(gv_rt *rt, gvalue *out, const char *fn, const EVP_MD *md,
                      const gv_str *s) {
  unsigned char h[EVP_MAX_MD_SIZE];
  unsigned hl = 0;
  gv_buf b;
  if (charge(rt, s->len))
    return 1;
  if (!EVP_Digest(s->s, s->len, h, &hl, md, NULL))
    return eval_err(rt, "%s: digest failed", fn);
  buf_open(rt, &b);
  hex_add(&b, h, hl);
  return ret_buf(rt, out, fn, &b);
}

static int bi_md5(gv_rt *rt, gvalue *out, const gvalue *args, int nargs) {
  const gv_str *s;
  (void)nargs;
  if (arg_str(rt, args[0], &s))
    return 1;
  return digest_hex(rt, out, "md5", EVP_md5(), s);
}

static int bi_sha256(gv_rt *rt, gvalue *out, const gvalue *args, int nargs) {
  const gv_str *s;
  (void)nargs;
  if (arg_str(rt, args[0], &s))
    return 1;
  return digest_hex(rt, out, "sha256", EVP_sha256(), s);
}

/* HMAC of 'msg' under 'key'; returns the MAC length (0 on failure). */
static unsigned hmac_raw(const EVP_MD *md, const char *key, size_t kl,
                         const char *msg, size_t ml, unsigned char *mac) {
  unsigned len = 0;
  static const unsigned char zero = 0;
  if (!HMAC(md, kl ? (const void *)key : &zero, (int)kl,
            (const unsigned char *)msg, ml, mac, &len))
    return 0;
  return len;
}

static int bi_hmac_sha256(gv_rt *rt, gvalue *out, const gvalue *args,
                          int nargs) {
  const gv_str *k, *m;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned ml;
  gv_buf b;
  (void)nargs;
  if (arg_str(rt, args[0], &k) || arg_str(rt, args[1], &m) ||
      charge(rt, k->len + m->len))
    return 1;
  if (!(ml = hmac_raw(EVP_sha256(), k->s, k->len, m->s, m->len, mac)))
    return eval_err(rt, "hmac_sha256: HMAC failed");
  buf_open(rt, &b);
  hex_add(&b, mac, ml);
  return ret_buf(rt, out, "hmac_sha256", &b);
}

static int bi_uuid_v4(gv_rt *rt, gvalue *out, const gvalue *args, int nargs) {
  unsigned char u[16];
  char s[37];
  int i, o = 0;
  (void)args, (void)nargs;
  if (RAND_bytes(u, sizeof u) != 1)
    return eval_err(rt, "uuid_v4: random source failed");
  u[6] = (unsigned char)((u[6] & 0x0F) | 0x40);
  u[8] = (unsigned char)((u[8] & 0x3F) | 0x80);
  for (i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      s[o++] = '-';
    s[o++] = HEX_LO[u[i] >> 4];
    s[o++] = HEX_LO[u[i] & 15];
  }
  return ret_str(rt, out, "uuid_v4", s, 36);
}

/* ==== JWT (jsonwebtoken 9, HMAC algorithms) ==== */

static const char *const JWT_ALGS[] = {"HS256", "HS384", "HS512", "ES256",
                                       "ES384", "RS256", "RS384", "RS512",
                                       "PS256", "PS384", "PS512", "EdDSA"};

static const EVP_MD *jwt_md(const char *alg, size_t n) {
  if (n == 5 && !memcmp(alg, "HS256", 5))
    return EVP_sha256();
  if (n == 5 && !memcmp(alg, "HS384", 5))
    return EVP_sha384();
  if (n == 5 && !memcmp(alg, "HS512", 5))
    return EVP_sha512();
  return NULL;
}

typedef struct kv_ref {
  gv_str *k; /* key   */
  gvalue *v; /* value */
} kv_ref;

static int kv_cmp(const void *a, const void *b) {
  return gavel__str_cmp(((const kv_ref *)a)->k, ((const kv_ref *)b)->k);
}

/* serde_json::to_vec(&serde_json::to_value(v)): compact, keys sorted
** (serde_json's BTreeMap), floats in ryu form, non-finite floats null. */
static int jwt_json(gv_rt *rt, gv_buf *b, gvalue v, int depth) {
  uint32_t i;
  char t[48];
  if (charge(rt, 4))
    return 1;
  if ((v.tag == GV_ARR || v.tag == GV_OBJ) && depth >= GAVEL_MAX_WALK_DEPTH)
    return gavel__rt_depth_error(rt);
  switch (v.tag) {
  case GV_BOOL:
    gavel__buf_adds(b, v.u.i ? "true" : "false");
    return 0;
  case GV_INT:
    gavel__buf_addf(b, "%lld", (long long)v.u.i);
    return 0;
  case GV_FLOAT:
    if (v.u.f - v.u.f != 0)
      gavel__buf_adds(b, "null");
    else
      gavel__buf_add(b, t, fmt_ryu(t, v.u.f));
    return 0;
  case GV_STR:
    if (charge(rt, v.u.s->len))
      return 1;
    gavel__json_write_str(b, v.u.s->s, v.u.s->len);
    return 0;
  case GV_ARR:
    gavel__buf_addc(b, '[');
    for (i = 0; i < v.u.a->len; i++) {
      if (i)
        gavel__buf_addc(b, ',');
      if (jwt_json(rt, b, v.u.a->items[i], depth + 1))
        return 1;
    }
    gavel__buf_addc(b, ']');
    return 0;
  case GV_OBJ: {
    kv_ref *kv;
    int rc = 0;
    if (!(kv = gavel__malloc(rt->arena->al, sizeof *kv * (v.u.o->len + 1))))
      return gavel__rt_error(rt, GV_E_NOMEM, "out of memory");
    for (i = 0; i < v.u.o->len; i++)
      kv[i] = (kv_ref){v.u.o->keys[i], &v.u.o->vals[i]};
    qsort(kv, v.u.o->len, sizeof *kv, kv_cmp);
    gavel__buf_addc(b, '{');
    for (i = 0; i < v.u.o->len && !rc; i++) {
      if (i)
        gavel__buf_addc(b, ',');
      gavel__json_write_str(b, kv[i].k->s, kv[i].k->len);
      gavel__buf_addc(b, ':');
      rc = jwt_json(rt, b, *kv[i].v, depth + 1);
    }
    gavel__buf_addc(b, '}');
    gavel__free(rt->arena->al, kv, sizeof *kv * (v.u.o->len + 1));
    return rc;
  }
  default:
    gavel__buf_adds(b, "null");
    return 0;
  }
}

/* serde's "invalid type" wording for a JSON value. */
static void serde_unexpected(char *out, size_t sz, gvalue v) {
  char t[48];
  switch (v.tag) {
  case GV_NULL:
    snprintf(out, sz, "null");
    break;
  case GV_BOOL:
    snprintf(out, sz, "boolean `%s`", v.u.i ? "true" : "false");
    break;
  case GV_INT:
    snprintf(out, sz, "integer `%lld`", (long long)v.u.i);
    break;
  case GV_FLOAT:
    fmt_ryu(t, v.u.f);
    snprintf(out, sz, "floating point `%s`", t);
    break;
  case GV_STR:
    snprintf(out, sz, "string \"%.40s\"", v.u.s->s);
    break;
  default:
    snprintf(out, sz, "sequence");
    break;
  }
}

/* Decodes one base64url segment and parses it as JSON into *out. */
static int jwt_part(gv_rt *rt, const char *p, size_t n, gvalue *out, char *err,
                    size_t esz) {
  gv_buf b;
  gavel_error je;
  char e[96];
  gavel__buf_init(&b, rt->arena->al);
  if (b64_decode(&b, p, n, B64_URL, 0, e, sizeof e)) {
    snprintf(err, esz, "Base64 error: %s", e);
    gavel__buf_free(&b);
    return 1;
  }
  if (b.oom) {
    gavel__buf_free(&b);
    snprintf(err, esz, "out of memory");
    return 1;
  }
  memset(&je, 0, sizeof je);
  if (gavel__json_parse(rt->arena, b.p ? b.p : "", b.len, NULL, out, &je) !=
      GAVEL_OK) {
    snprintf(err, esz, "JSON error: %.150s", je.msg);
    gavel__buf_free(&b);
    return 1;
  }
  gavel__buf_free(&b);
  return 0;
}

/* jsonwebtoken's decode path up to the claims; 'alg' NULL skips the
** algorithm and signature checks (insecure_disable_signature_validation).
** 0 with *claims set, or 1 with the error text in 'err'. */
static int jwt_decode_raw(gv_rt *rt, const gv_str *tok, const char *alg,
                          const gv_str *secret, gvalue *claims, char *err,
                          size_t esz) {
  const char *s = tok->s, *dot2, *dot1;
  gvalue hdr, *a;
  size_t k;
  char u[112];
  dot2 = memrchr(s, '.', tok->len);
  dot1 = dot2 ? memrchr(s, '.', (size_t)(dot2 - s)) : NULL;
  if (!dot1) {
    snprintf(err, esz, "InvalidToken");
    return 1;
  }
  if (jwt_part(rt, s, (size_t)(dot1 - s), &hdr, err, esz))
    return 1;
  if (hdr.tag != GV_OBJ) {
    serde_unexpected(u, sizeof u, hdr);
    snprintf(err, esz, "JSON error: invalid type: %s, expected struct Header",
             u);
    return 1;
  }
  if (!(a = gavel__obj_get(hdr.u.o, "alg", 3))) {
    snprintf(err, esz, "JSON error: missing field `alg`");
    return 1;
  }
  for (k = 0; a->tag == GV_STR && k < sizeof JWT_ALGS / sizeof *JWT_ALGS; k++)
    if (gavel__str_eqn(a->u.s, JWT_ALGS[k], strlen(JWT_ALGS[k])))
      break;
  if (a->tag != GV_STR || k == sizeof JWT_ALGS / sizeof *JWT_ALGS) {
    snprintf(err, esz,
             "JSON error: unknown variant `%.40s`, expected one of "
             "`HS256`, `HS384`, `HS512`, `ES256`, `ES384`, `RS256`, ...",
             a->tag == GV_STR ? a->u.s->s : "?");
    return 1;
  }
  if (alg) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned ml;
    gv_buf sig;
    int same;
    if (!gavel__str_eqn(a->u.s, alg, strlen(alg))) {
      snprintf(err, esz, "InvalidAlgorithm");
      return 1;
    }
    ml = hmac_raw(jwt_md(alg, strlen(alg)), secret->s, secret->len, s,
                  (size_t)(dot2 - s), mac);
    gavel__buf_init(&sig, rt->arena->al);
    b64_encode(&sig, mac, ml, B64_URL, 0);
    same = !sig.oom && sig.len == tok->len - (size_t)(dot2 + 1 - s) &&
           !memcmp(sig.p, dot2 + 1, sig.len);
    gavel__buf_free(&sig);
    if (!same) {
      snprintf(err, esz, "InvalidSignature");
      return 1;
    }
  }
  if (jwt_part(rt, dot1 + 1, (size_t)(dot2 - dot1 - 1), claims, err, esz))
    return 1;
  if (claims->tag != GV_OBJ) {
    serde_unexpected(u, sizeof u, *claims);
    snprintf(err, esz,
             "JSON error: invalid type: %s, expected struct "
             "ClaimsForValidation",
             u);
    return 1;
  }
  return 0;
}

static int bi_jwt_decode(gv_rt *rt, gvalue *out, const gvalue *args,
                         int nargs) {
  const gv_str *tok;
  char err[200];
  (void)nargs;
  if (arg_str(rt, args[0], &tok) || charge(rt, tok->len * 2))
    return 1;
  if (jwt_decode_raw(rt, tok, NULL, NULL, out, err, sizeof err))
    return rt->ekind ? 1 : eval_err(rt, "jwt_decode: %s", err);
  return 0;
}

/* Optional third argument: the algorithm name (default HS256). */
static int jwt_alg_arg(gv_rt *rt, const gvalue *args, int nargs, const char *fn,
                       const char **alg) {
  const gv_str *a = NULL;
  if (nargs < 3) {
    *alg = "HS256";
    return 0;
  }
  if (arg_str(rt, args[2], &a))
    return 1;
  if (!jwt_md(a->s, a->len)) {
    char m[GAVEL_ERRMSG_SIZE / 2];
    return eval_err(rt,
                    "%s: unsupported algorithm '%s' (supported: HS256, "
                    "HS384, HS512)",
                    fn, MSG_STR(m, a));
  }
  *alg = a->s;
  return 0;
}

static int bi_jwt_verify(gv_rt *rt, gvalue *out, const gvalue *args,
                         int nargs) {
  const gv_str *tok, *secret;
  const char *alg;
  gvalue claims;
  char err[200];
  int r;
  if (arg_str(rt, args[0], &tok) || arg_str(rt, args[1], &secret) ||
      jwt_alg_arg(rt, args, nargs, "jwt_verify", &alg) ||
      charge(rt, tok->len * 3))
    return 1;
  r = jwt_decode_raw(rt, tok, alg, secret, &claims, err, sizeof err);
  if (rt->ekind != GV_E_NONE) /* out of memory or gas, not a bad token */
    return 1;
  *out = gv_bool(r == 0);
  return 0;
}

static int bi_jwt_encode(gv_rt *rt, gvalue *out, const gvalue *args,
                         int nargs) {
  const gv_str *secret;
  const char *alg;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned ml;
  gv_buf b, part;
  if (arg_str(rt, args[1], &secret) ||
      jwt_alg_arg(rt, args, nargs, "jwt_encode", &alg))
    return 1;
  buf_open(rt, &b);
  buf_open(rt, &part);
  gavel__buf_addf(&part, "{\"typ\":\"JWT\",\"alg\":\"%s\"}", alg);
  b64_encode(&b, (unsigned char *)part.p, part.len, B64_URL, 0);
  gavel__buf_clear(&part);
  if (jwt_json(rt, &part, args[0], 0)) {
    gavel__buf_free(&part);
    gavel__buf_free(&b);
    return 1;
  }
  gavel__buf_addc(&b, '.');
  b64_encode(&b, (unsigned char *)(part.p ? part.p : ""), part.len, B64_URL, 0);
  gavel__buf_free(&part);
  if (b.oom || charge(rt, b.len)) {
    gavel__buf_free(&b);
    return rt->ekind ? 1 : gavel__rt_error(rt, GV_E_NOMEM, "out of memory");
  }
  ml = hmac_raw(jwt_md(alg, strlen(alg)), secret->s, secret->len, b.p, b.len,
                mac);
  gavel__buf_addc(&b, '.');
  b64_encode(&b, mac, ml, B64_URL, 0);
  return ret_buf(rt, out, "jwt_encode", &b);
}

/* ==== glob_match (the glob crate, default MatchOptions) ==== */

enum { GT_CHAR, GT_ANY, GT_SEQ, GT_RSEQ, GT_WITHIN, GT_EXCEPT };
enum { GM_MATCH, GM_SUB, GM_ENTIRE };

typedef struct gl_tok {
  int kind;         /* GT_*                                   */
  uint32_t c;       /* GT_CHAR: the char                      */
  uint32_t sp, nsp; /* GT_WITHIN/EXCEPT: range slice in specs */
} gl_tok;

typedef struct gl_ctx {
  gv_rt *rt;         /* for gas                            */
  gl_tok *t;         /* tokens                             */
  size_t nt;         /* count                              */
  uint32_t *spec;    /* (lo, hi) pairs                     */
  const uint32_t *f; /* input chars                        */
  size_t nf;         /* count                              */
  int64_t steps;     /* work done since the last charge    */
  int out_of_gas;    /* set when gas ran out               */
} gl_ctx;

/* Decodes a UTF-8 string into code points (caller frees, n+1 slots). */
static uint32_t *to_cps(gv_rt *rt, const gv_str *s, size_t *n) {
  uint32_t *v = gavel__malloc(rt->arena->al, (s->len + 1) * sizeof *v);
  size_t i = 0, k = 0;
  if (!v)
    return NULL;
  while (i < s->len)
    i += utf8_dec(s->s + i, s->len - i, &v[k++]);
  *n = k;
  return v;
}

/* Pattern::new; returns 0 or 1 with the glob crate's error text. */
static int gl_compile(gl_ctx *g, const uint32_t *c, size_t n, char *err,
                      size_t esz) {
  size_t i = 0, ns = 0;
  g->nt = 0;
  while (i < n) {
    gl_tok *t = &g->t[g->nt];
    if (c[i] == '?') {
      *t = (gl_tok){GT_ANY, 0, 0, 0}, g->nt++, i++;
    } else if (c[i] == '*') {
      size_t old = i, count;
      while (i < n && c[i] == '*')
        i++;
      count = i - old;
      if (count > 2) {
        snprintf(err, esz,
                 "Pattern syntax error near position %zu: wildcards "
                 "are either regular `*` or recursive `**`",
                 old + 2);
        return 1;
      }
      if (count == 1) {
        *t = (gl_tok){GT_SEQ, 0, 0, 0}, g->nt++;
        continue;
      }
      if (!(i == 2 || c[i - count - 1] == '/')) {
        snprintf(err, esz,
                 "Pattern syntax error near position %zu: recursive "
                 "wildcards must form a single path component",
                 old - 1);
        return 1;
      }
      if (i < n && c[i] == '/')
        i++;
      else if (i != n) {
        snprintf(err, esz,
                 "Pattern syntax error near position %zu: recursive "
                 "wildcards must form a single path component",
                 i);
        return 1;
      }
      if (!(g->nt > 1 && g->t[g->nt - 1].kind == GT_RSEQ))
        *t = (gl_tok){GT_RSEQ, 0, 0, 0}, g->nt++;
    } else if (c[i] == '[') {
      size_t from = 0, j, b = 0, e = 0;
      int kind = -1;
      if (i + 4 <= n && c[i + 1] == '!')
        from = i + 3, b = i + 2, kind = GT_EXCEPT;
      else if (i + 3 <= n && c[i + 1] != '!')
        from = i + 2, b = i + 1, kind = GT_WITHIN;
      for (j = from; kind >= 0 && j < n && c[j] != ']'; j++)
        ;
      if (kind < 0 || j >= n) {
        snprintf(err, esz,
                 "Pattern syntax error near position %zu: invalid "
                 "range pattern",
                 i);
        return 1;
      }
      e = j;
      *t = (gl_tok){kind, 0, (uint32_t)ns, 0};
      while (b < e) {
        if (b + 3 <= e && c[b + 1] == '-')
          g->spec[2 * ns] = c[b], g->spec[2 * ns + 1] = c[b + 2], b += 3;
        else
          g->spec[2 * ns] = g->spec[2 * ns + 1] = c[b], b++;
        ns++, t->nsp++;
      }
      g->nt++;
      i = j + 1;
    } else {
      *t = (gl_tok){GT_CHAR, c[i], 0, 0}, g->nt++, i++;
    }
  }
  return 0;
}

static int gl_in(const gl_ctx *g, const gl_tok *t, uint32_t c) {
  uint32_t k;
  for (k = 0; k < t->nsp; k++)
    if (g->spec[2 * (t->sp + k)] <= c && c <= g->spec[2 * (t->sp + k) + 1])
      return 1;
  return 0;
}

/* Pattern::matches_from. */
static int gl_match(gl_ctx *g, int follows, size_t fi, size_t ti) {
  for (; ti < g->nt; ti++) {
    const gl_tok *t = &g->t[ti];
    if (++g->steps >= 64) {
      if (charge(g->rt, g->steps * 16))
        g->out_of_gas = 1;
      g->steps = 0;
    }
    if (g->out_of_gas)
      return GM_ENTIRE;
    if (t->kind == GT_SEQ || t->kind == GT_RSEQ) {
      int r = gl_match(g, follows, fi, ti + 1);
      if (r != GM_SUB)
        return r;
      while (fi < g->nf) {
        follows = g->f[fi++] == '/';
        if (t->kind == GT_RSEQ && !follows)
          continue;
        if ((r = gl_match(g, follows, fi, ti + 1)) != GM_SUB)
          return r;
      }
    } else {
      uint32_t c;
      int ok;
      if (fi >= g->nf)
        return GM_ENTIRE;
      c = g->f[fi++];
      ok = t->kind == GT_ANY || (t->kind == GT_CHAR && c == t->c) ||
           (t->kind == GT_WITHIN && gl_in(g, t, c)) ||
           (t->kind == GT_EXCEPT && !gl_in(g, t, c));
      if (!ok)
        return GM_SUB;
      follows = c == '/';
    }
  }
  return fi >= g->nf ? GM_MATCH : GM_SUB;
}

/* One pattern against the input chars: 0/1, or -1 with an error. */
static int gl_one(gv_rt *rt, gvalue pv, const uint32_t *f, size_t nf) {
  const gv_str *p;
  uint32_t *pc;
  size_t np;
  gl_ctx g;
  char err[160];
  int r = -1;
  if (arg_str(rt, pv, &p) || charge(rt, p->len))
    return -1;
  if (!(pc = to_cps(rt, p, &np))) {
    gavel__rt_error(rt, GV_E_NOMEM, "out of memory");
    return -1;
  }
  memset(&g, 0, sizeof g);
  g.rt = rt, g.f = f, g.nf = nf;
  g.t = gavel__malloc(rt->arena->al, (np + 1) * sizeof *g.t);
  g.spec = gavel__malloc(rt->arena->al, (np + 1) * 2 * sizeof *g.spec);
  if (!g.t || !g.spec)
    gavel__rt_error(rt, GV_E_NOMEM, "out of memory");
  else if (gl_compile(&g, pc, np, err, sizeof err))
    eval_err(rt, "glob_match: invalid pattern: %s", err);
  else {
    r = gl_match(&g, 1, 0, 0) == GM_MATCH;
    if (g.out_of_gas)
      r = -1;
  }
  gavel__free(rt->arena->al, g.t, (np + 1) * sizeof *g.t);
  gavel__free(rt->arena->al, g.spec, (np + 1) * 2 * sizeof *g.spec);
  gavel__free(rt->arena->al, pc, (p->len + 1) * sizeof *pc);
  return r;
}

static int bi_glob_match(gv_rt *rt, gvalue *out, const gvalue *args,
                         int nargs) {
  const gv_str *s;
  uint32_t *f;
  size_t nf;
  int r = 0;
  (void)nargs;
  if (arg_str(rt, args[1], &s) || charge(rt, s->len))
    return 1;
  if (!(f = to_cps(rt, s, &nf)))
    return gavel__rt_error(rt, GV_E_NOMEM, "out of memory");
  if (args[0].tag == GV_ARR) {
    uint32_t i;
    for (i = 0; i < args[0].u.a->len && r == 0; i++)
      r = gl_one(rt, args[0].u.a->items[i], f, nf);
  } else {
    r = gl_one(rt, args[0], f, nf);
  }
  gavel__free(rt->arena->al, f, (s->len + 1) * sizeof *f);
  if (r < 0)
    return 1;
  *out = gv_bool(r);
  return 0;
}

/* ==== CIDR (ipnetwork 0.20 over Rust's std::net parsers) ==== */

typedef struct ip_addr {
  int v6;              /* 0 = IPv4, 1 = IPv6                 */
  unsigned char b[16]; /* address bytes (IPv4 in b[0..3])    */
} ip_addr;

/* Rust's read_number: up to 'maxd' digits in 'radix', value <= 'max'. */
static int ip_num(const char *s, size_t n, size_t *i, unsigned radix, int maxd,
                  unsigned max, int zero_prefix, unsigned *out) {
  size_t j = *i;
  unsigned v = 0;
  int d = 0, lead0 = j < n && s[j] == '0';
  while (j < n) {
    int x = hexv((unsigned char)s[j]);
    if (x < 0 || x >= (int)radix)
      break;
    v = v * radix + (unsigned)x;
    if (++d > maxd || v > max)
      return 0;
    j++;
  }
  if (!d || (!zero_prefix && lead0 && d > 1))
    return 0;
  *i = j;
  *out = v;
  return 1;
}

static int ip4_read(const char *s, size_t n, size_t *i, unsigned char *b) {
  size_t j = *i;
  int k;
  for (k = 0; k < 4; k++) {
    unsigned v;
    if (k && (j >= n || s[j++] != '.'))
      return 0;
    if (!ip_num(s, n, &j, 10, 3, 255, 0, &v))
      return 0;
    b[k] = (unsigned char)v;
  }
  *i = j;
  return 1;
}

/* read_groups: up to 'limit' groups; sets *v4 if it ended in an IPv4. */
static size_t ip6_groups(const char *s, size_t n, size_t *i, uint16_t *g,
                         size_t limit, int *v4) {
  size_t k;
  *v4 = 0;
  for (k = 0; k < limit; k++) {
    size_t j = *i;
    unsigned v;
    if (k + 1 < limit) {
      unsigned char b4[4];
      size_t jj = j;
      if ((k == 0 || (jj < n && s[jj++] == ':')) && ip4_read(s, n, &jj, b4)) {
        g[k] = (uint16_t)(b4[0] << 8 | b4[1]);
        g[k + 1] = (uint16_t)(b4[2] << 8 | b4[3]);
        *i = jj;
        *v4 = 1;
        return k + 2;
      }
    }
    if (k && (j >= n || s[j++] != ':'))
      return k;
    if (!ip_num(s, n, &j, 16, 4, 0xFFFF, 1, &v))
      return k;
    g[k] = (uint16_t)v;
    *i = j;
  }
  return limit;
}

static int ip6_read(const char *s, size_t n, size_t *i, unsigned char *b) {
  uint16_t head[8] = {0}, tail[7] = {0};
  size_t j = *i, hs, ts, k;
  int v4;
  hs = ip6_groups(s, n, &j, head, 8, &v4);
  if (hs < 8) {
    if (v4 || j + 1 >= n || s[j] != ':' || s[j + 1] != ':')
      return 0;
    j += 2;
    ts = ip6_groups(s, n, &j, tail, 8 - (hs + 1), &v4);
    for (k = 0; k < ts; k++)
      head[8 - ts + k] = tail[k];
  }
  for (k = 0; k < 8; k++)
    b[2 * k] = (unsigned char)(head[k] >> 8),
          b[2 * k + 1] = (unsigned char)head[k];
  *i = j;
  return 1;
}

/* std::net::IpAddr::from_str. */
static int ip_parse(const char *s, size_t n, ip_addr *a) {
  size_t i = 0;
  memset(a, 0, sizeof *a);
  if (ip4_read(s, n, &i, a->b) && i == n)
    return 1;
  i = 0;
  a->v6 = 1;
  return ip6_read(s, n, &i, a->b) && i == n;
}

/* Rust's u8::from_str for a prefix length. */
static int parse_u8(const char *s, size_t n, unsigned *out) {
  size_t i = n && s[0] == '+';
  unsigned v = 0;
  if (i >= n)
    return 0;
  for (; i < n; i++) {
    if (s[i] < '0' || s[i] > '9' || (v = v * 10 + (unsigned)(s[i] - '0')) > 255)
      return 0;
  }
  *out = v;
  return 1;
}

/* IpNetwork::from_str: "addr[/prefix]" (IPv4 also "/a.b.c.d" masks). */
static int net_parse(const gv_str *s, ip_addr *a, unsigned *prefix) {
  const char *sl = memchr(s->s, '/', s->len);
  size_t al = sl ? (size_t)(sl - s->s) : s->len, pl;
  if (sl && memchr(sl + 1, '/', s->len - al - 1))
    return 0;
  if (!ip_parse(s->s, al, a))
    return 0;
  if (!sl) {
    *prefix = a->v6 ? 128 : 32;
    return 1;
  }
  pl = s->len - al - 1;
  if (!a->v6) {
    ip_addr m;
    if (ip_parse(sl + 1, pl, &m) && !m.v6) {
      uint32_t mask = (uint32_t)m.b[0] << 24 | (uint32_t)m.b[1] << 16 |
                      (uint32_t)m.b[2] << 8 | m.b[3];
      if ((~mask & (~mask + 1)) != 0)
        return 0; /* non-contiguous netmask */
      *prefix = (unsigned)__builtin_popcount(mask);
      return 1;
    }
  }
  return parse_u8(sl + 1, pl, prefix) && *prefix <= (a->v6 ? 128u : 32u);
}

/* Whether 'ip' lies in network (net, prefix); families must agree. */
static int net_contains(const ip_addr *net, unsigned prefix,
                        const ip_addr *ip) {
  unsigned k;
  if (net->v6 != ip->v6)
    return 0;
  for (k = 0; k < prefix; k++) {
    unsigned bit = 7 - (k & 7);
    if (((net->b[k >> 3] >> bit) & 1) != ((ip->b[k >> 3] >> bit) & 1))
      return 0;
  }
  return 1;
}

static int bi_cidr_contains(gv_rt *rt, gvalue *out, const gvalue *args,
                            int nargs) {
  const gv_str *c, *ips;
  ip_addr net, ip;
  unsigned prefix;
  char m[GAVEL_ERRMSG_SIZE / 2];
  (void)nargs;
  if (arg_str(rt, args[0], &c) || arg_str(rt, args[1], &ips) ||
      charge(rt, c->len + ips->len))
    return 1;
  if (!net_parse(c, &net, &prefix))
    return eval_err(rt,
                    "cidr_contains: invalid CIDR '%s': invalid address: "
                    "%s",
                    MSG_STR(m, c), m);
  if (!ip_parse(ips->s, ips->len, &ip))
    return eval_err(rt,
                    "cidr_contains: invalid IP '%s': invalid IP address "
                    "syntax",
                    MSG_STR(m, ips));
  *out = gv_bool(net_contains(&net, prefix, &ip));
  return 0;
}

static int bi_cidr_intersects(gv_rt *rt, gvalue *out, const gvalue *args,
                              int nargs) {
  const gv_str *a, *b;
  ip_addr na, nb;
  unsigned pa, pb;
  char m[GAVEL_ERRMSG_SIZE / 2];
  (void)nargs;
  if (arg_str(rt, args[0], &a) || arg_str(rt, args[1], &b) ||
      charge(rt, a->len + b->len))
    return 1;
  if (!net_parse(a, &na, &pa))
    return eval_err(rt,
                    "cidr_intersects: invalid CIDR '%s': invalid "
                    "address: %s",
                    MSG_STR(m, a), m);
  if (!net_parse(b, &nb, &pb))
    return eval_err(rt,
                    "cidr_intersects: invalid CIDR '%s': invalid "
                    "address: %s",
                    MSG_STR(m, b), m);
  *out = gv_bool(net_contains(&na, pa, &nb) || net_contains(&nb, pb, &na));
  return 0;
}

/* ==== semver (the semver crate, 1.x) ==== */

typedef struct sv_ver {
  uint64_t num[3];   /* major, minor, patch            */
  const char *pre;   /* pre-release text (no '-')       */
  size_t pre_len;    /* its length, 0 = none            */
  const char *build; /* build metadata (no '+')         */
  size_t build_len;  /* its length, 0 = none            */
} sv_ver;

static const char *const SV_POS[5] = {
    "major version number", "minor version number", "patch version number",
    "pre-release identifier", "build metadata"};

/* Dot-separated identifiers at s; sets *len; returns 0 or error text. */
static int sv_ident(const char *s, size_t n, int pos, size_t *len, char *err,
                    size_t esz) {
  size_t acc = 0, seg = 0;
  int nondigit = 0;
  for (;;) {
    int c = acc + seg < n ? (unsigned char)s[acc + seg] : -1;
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-') {
      seg++, nondigit = 1;
      continue;
    }
    if (c >= '0' && c <= '9') {
      seg++;
      continue;
    }
    if (seg == 0) {
      if (acc == 0 && c != '.') {
        *len = 0;
        return 0;
      }
      snprintf(err, esz, "empty identifier segment in %s", SV_POS[pos]);
      return 1;
    }
    if (pos == 3 && seg > 1 && !nondigit && s[acc] == '0') {
      snprintf(err, esz, "invalid leading zero in %s", SV_POS[pos]);
      return 1;
    }
    acc += seg;
    if (c != '.') {
      *len = acc;
      return 0;
    }
    acc++, seg = 0, nondigit = 0;
  }
}

/* Version::from_str: 0, or 1 with the semver crate's message. */
static int sv_parse(const gv_str *str, sv_ver *v, char *err, size_t esz) {
  const char *s = str->s;
  size_t n = str->len, i = 0, l;
  int k;
  char q[16];
  memset(v, 0, sizeof *v);
  if (!n) {
    snprintf(err, esz, "empty string, expected a semver version");
    return 1;
  }
  for (k = 0; k < 3; k++) {
    size_t d0 = i;
    uint64_t val = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
      if (val == 0 && i > d0) {
        snprintf(err, esz, "invalid leading zero in %s", SV_POS[k]);
        return 1;
      }
      if (val > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10) {
        snprintf(err, esz, "value of %s exceeds u64::MAX", SV_POS[k]);
        return 1;
      }
      val = val * 10 + (uint64_t)(s[i++] - '0');
    }
    if (i == d0) {
      uint32_t cp;
      if (i >= n) {
        snprintf(err, esz, "unexpected end of input while parsing %s",
                 SV_POS[k]);
        return 1;
      }
      utf8_dec(s + i, n - i, &cp);
      char_debug(q, sizeof q, cp);
      snprintf(err, esz, "unexpected character %s while parsing %s", q,
               SV_POS[k]);
      return 1;
    }
    v->num[k] = val;
    if (k < 2) {
      if (i < n && s[i] == '.') {
        i++;
        continue;
      }
      if (i >= n) {
        snprintf(err, esz, "unexpected end of input while parsing %s",
                 SV_POS[k]);
        return 1;
      }
      {
        uint32_t cp;
        utf8_dec(s + i, n - i, &cp);
        char_debug(q, sizeof q, cp);
      }
      snprintf(err, esz, "unexpected character %s after %s", q, SV_POS[k]);
      return 1;
    }
  }
  k = 2;
  if (i < n && s[i] == '-') {
    k = 3, i++;
    if (sv_ident(s + i, n - i, 3, &l, err, esz))
      return 1;
    if (!l) {
      snprintf(err, esz, "empty identifier segment in %s", SV_POS[3]);
      return 1;
    }
    v->pre = s + i, v->pre_len = l, i += l;
  }
  if (i < n && s[i] == '+') {
    k = 4, i++;
    if (sv_ident(s + i, n - i, 4, &l, err, esz))
      return 1;
    if (!l) {
      snprintf(err, esz, "empty identifier segment in %s", SV_POS[4]);
      return 1;
    }
    v->build = s + i, v->build_len = l, i += l;
  }
  if (i < n) {
    uint32_t cp;
    utf8_dec(s + i, n - i, &cp);
    char_debug(q, sizeof q, cp);
    snprintf(err, esz, "unexpected character %s after %s", q, SV_POS[k]);
    return 1;
  }
  return 0;
}

static int all_digits(const char *s, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9')
      return 0;
  return 1;
}

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn) {
  int c = memcmp(a, b, an < bn ? an : bn);
  return c ? (c < 0 ? -1 : 1) : an < bn ? -1 : an > bn;
}

/* Identifier-list ordering of Prerelease (build = 0) / BuildMetadata. */
static int sv_cmp_ids(const char *a, size_t an, const char *b, size_t bn,
                      int build) {
  size_t i = 0, j = 0;
  while (i <= an) {
    size_t ie = i, je = j;
    int c, da, db;
    if (j > bn)
      return 1;
    while (ie < an && a[ie] != '.')
      ie++;
    while (je < bn && b[je] != '.')
      je++;
    da = all_digits(a + i, ie - i), db = all_digits(b + j, je - j);
    if (da && db) {
      const char *x = a + i, *y = b + j;
      size_t xn = ie - i, yn = je - j;
      if (build) {
        while (xn && *x == '0')
          x++, xn--;
        while (yn && *y == '0')
          y++, yn--;
      }
      c = xn != yn ? (xn < yn ? -1 : 1) : cmp_bytes(x, xn, y, yn);
      if (!c && build)
        c = (ie - i) < (je - j) ? -1 : (ie - i) > (je - j);
    } else if (da != db) {
      return da ? -1 : 1;
    } else {
      c = cmp_bytes(a + i, ie - i, b + j, je - j);
    }
    if (c)
      return c;
    i = ie + 1, j = je + 1;
  }
  return j <= bn ? -1 : 0;
}

static int sv_cmp(const sv_ver *a, const sv_ver *b) {
  int k, c;
  for (k = 0; k < 3; k++)
    if (a->num[k] != b->num[k])
      return a->num[k] < b->num[k] ? -1 : 1;
  if (!a->pre_len || !b->pre_len) {
    if (a->pre_len != b->pre_len)
      return a->pre_len ? -1 : 1;
  } else if ((c = sv_cmp_ids(a->pre, a->pre_len, b->pre, b->pre_len, 0))) {
    return c;
  }
  if (!a->build_len || !b->build_len)
    return a->build_len == b->build_len ? 0 : a->build_len ? 1 : -1;
  return sv_cmp_ids(a->build, a->build_len, b->build, b->build_len, 1);
}

static int bi_semver_compare(gv_rt *rt, gvalue *out, const gvalue *args,
                             int nargs) {
  const gv_str *a, *b;
  sv_ver va, vb;
  char err[160], m[GAVEL_ERRMSG_SIZE / 2];
  (void)nargs;
  if (arg_str(rt, args[0], &a) || arg_str(rt, args[1], &b) ||
      charge(rt, a->len + b->len))
    return 1;
  if (sv_parse(a, &va, err, sizeof err))
    return eval_err(rt, "semver_compare: invalid version '%s': %s",
                    MSG_STR(m, a), err);
  if (sv_parse(b, &vb, err, sizeof err))
    return eval_err(rt, "semver_compare: invalid version '%s': %s",
                    MSG_STR(m, b), err);
  *out = gv_int(sv_cmp(&va, &vb));
  return 0;
}

static int bi_semver_is_valid(gv_rt *rt, gvalue *out, const gvalue *args,
                              int nargs) {
  const gv_str *s;
  sv_ver v;
  char err[160];
  (void)nargs;
  if (arg_str(rt, args[0], &s) || charge(rt, s->len))
    return 1;
  *out = gv_bool(!sv_parse(s, &v, err, sizeof err));
  return 0;
}

/* ==== The table ==== */

/* Arity is Ordo's: now, now_millis and uuid_v4 ignore their arguments
** (any count is accepted); jwt_verify / jwt_encode take 2 or 3. */
const gv_builtin gavel__builtins_ext[] = {
    {"regex_match", 2, 2, 1, bi_regex_match},
    {"regex_find", 2, 2, 1, bi_regex_find},
    {"regex_find_all", 2, 2, 1, bi_regex_find_all},
    {"regex_replace", 3, 3, 1, bi_regex_replace},
    {"regex_split", 2, 2, 1, bi_regex_split},
    {"now", 0, -1, 0, bi_now},
    {"now_millis", 0, -1, 0, bi_now_millis},
    {"parse_time", 2, 2, 1, bi_parse_time},
    {"format_time", 2, 2, 1, bi_format_time},
    {"time_diff", 3, 3, 1, bi_time_diff},
    {"date_add", 3, 3, 1, bi_date_add},
    {"time_of_day", 1, 1, 1, bi_time_of_day},
    {"day_of_week", 1, 1, 1, bi_day_of_week},
    {"yaml_marshal", 1, 1, 1, bi_yaml_marshal},
    {"yaml_unmarshal", 1, 1, 1, bi_yaml_unmarshal},
    {"base64_encode", 1, 1, 1, bi_base64_encode},
    {"base64_decode", 1, 1, 1, bi_base64_decode},
    {"url_encode", 1, 1, 1, bi_url_encode},
    {"url_decode", 1, 1, 1, bi_url_decode},
    {"hex_encode", 1, 1, 1, bi_hex_encode},
    {"hex_decode", 1, 1, 1, bi_hex_decode},
    {"base64url_encode", 1, 1, 1, bi_base64url_encode},
    {"base64url_decode", 1, 1, 1, bi_base64url_decode},
    {"md5", 1, 1, 1, bi_md5},
    {"sha256", 1, 1, 1, bi_sha256},
    {"hmac_sha256", 2, 2, 1, bi_hmac_sha256},
    {"uuid_v4", 0, -1, 0, bi_uuid_v4},
    {"jwt_decode", 1, 1, 1, bi_jwt_decode},
    {"jwt_verify", 2, 3, 1, bi_jwt_verify},
    {"jwt_encode", 2, 3, 1, bi_jwt_encode},
    {"glob_match", 2, 2, 1, bi_glob_match},
    {"cidr_contains", 2, 2, 1, bi_cidr_contains},
    {"cidr_intersects", 2, 2, 1, bi_cidr_intersects},
    {"semver_compare", 2, 2, 1, bi_semver_compare},
    {"semver_is_valid", 1, 1, 1, bi_semver_is_valid},
    {NULL, 0, 0, 0, NULL}};
