/*
** builtins_lib.h -- internal to the extended builtins (builtins_*.c): the
** argument, result and error helpers they share, the libcrypto prototypes
** and the entry points the registry (builtins_ext.c) lists.  Not for use
** outside builtins_*.c.
*/
#ifndef GAVEL_BUILTINS_LIB_H
#define GAVEL_BUILTINS_LIB_H

#include "builtins_ext.h"
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
static inline int GAVEL_PRINTF(2, 3) eval_err(gv_rt *rt, const char *fmt, ...) {
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
#define MSG_STR(buf, str)                                                      \
  gavel__msg_escape((buf), sizeof(buf), (str)->s,                              \
                    (str)->len > 200 ? 200 : (str)->len)

static inline int arg_str(gv_rt *rt, gvalue v, const gv_str **out) {
  *out = NULL;
  if (v.tag != GV_STR)
    return gavel__rt_type_error(rt, "string", v);
  *out = v.u.s;
  return 0;
}

/* Rust 'f as i64': truncates, saturates, NaN -> 0. */
static inline int64_t f2i(double f) {
  if (f != f)
    return 0;
  if (f >= 9223372036854775807.0)
    return INT64_MAX;
  if (f <= -9223372036854775808.0)
    return INT64_MIN;
  return (int64_t)f;
}

/* Ordo's require_int (Value::as_int): ints, and floats truncated. */
static inline int arg_int(gv_rt *rt, gvalue v, int64_t *out) {
  if (v.tag == GV_INT)
    *out = v.u.i;
  else if (v.tag == GV_FLOAT)
    *out = f2i(v.u.f);
  else
    return *out = 0, gavel__rt_type_error(rt, "int", v);
  return 0;
}

/* Gas for work over 'n' bytes or elements: one unit per 16, plus one. */
static inline int charge(gv_rt *rt, size_t n) {
  return gavel__rt_charge(rt, 1 + (int64_t)(n / 16));
}

static inline int limit_str(gv_rt *rt, const char *fn, size_t n) {
  if (n <= GAVEL_MAX_STR_BYTES)
    return 0;
  return gavel__rt_error(rt, GV_E_LIMIT,
                         "%s: result exceeds the string limit of %u bytes", fn,
                         (unsigned)GAVEL_MAX_STR_BYTES);
}

static inline int limit_arr(gv_rt *rt, const char *fn, size_t n) {
  if (n <= GAVEL_MAX_ARR_LEN)
    return 0;
  return gavel__rt_error(rt, GV_E_LIMIT,
                         "%s: result exceeds the array limit of %u elements",
                         fn, (unsigned)GAVEL_MAX_ARR_LEN);
}

/* New arena string from bytes; size-limited. */
static inline int ret_str(gv_rt *rt, gvalue *out, const char *fn, const char *p,
                          size_t n) {
  gv_str *s;
  if (limit_str(rt, fn, n))
    return 1;
  if (!(s = gavel__str_new(rt->arena, p, n)))
    return gavel__rt_nomem(rt);
  *out = gv_strv(s);
  return 0;
}

static inline void buf_open(gv_rt *rt, gv_buf *b) {
  gavel__buf_init(b, rt->arena->al);
}

/* Publishes a temporary buffer as a string and frees the buffer. */
static inline int ret_buf(gv_rt *rt, gvalue *out, const char *fn, gv_buf *b) {
  int rc;
  if (b->oom) {
    gavel__buf_free(b);
    return gavel__rt_error(rt, GV_E_NOMEM, "out of memory");
  }
  rc = ret_str(rt, out, fn, b->len ? b->p : "", b->len);
  gavel__buf_free(b);
  return rc;
}

static inline int push(gv_rt *rt, gv_arr *a, gvalue v) {
  return gavel__arr_push(rt->arena, a, v) ? 0 : gavel__rt_nomem(rt);
}

/* Rust's UTF-8 validation: 0 if valid, else 1 with 'valid_up_to' and
** 'elen' (0 means "incomplete sequence at the end"). */
static inline int utf8_bad(const unsigned char *p, size_t n,
                           size_t *valid_up_to, int *elen) {
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
static inline int check_utf8(gv_rt *rt, const char *pre, const char *p,
                             size_t n) {
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
static inline size_t utf8_dec(const char *p, size_t n, uint32_t *cp) {
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

static inline void utf8_enc(gv_buf *b, uint32_t cp) {
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
static inline void char_debug(char *out, size_t sz, uint32_t cp) {
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

/* Monotonic clock for deadlines (coarse, as the scheduler's). */
static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts); /* as the scheduler's */
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A hex digit's value, or -1. */
static inline int hexv(int c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

/* ==== Shared between areas ==== */

/* builtins_yaml.c: ryu's format_finite layout of a finite double ("1.0",
** "1e21", "1.5e-7") into 'out' (>= 32 bytes); returns the length. */
size_t gavel__fmt_ryu(char *out, double d);
/* builtins_enc.c: the standard and URL-safe base64 alphabets, the encoder
** and the base64 crate's decoder (0, or 1 with its error text in 'err'),
** and raw HMAC (returns the MAC length, 0 on failure). */
extern const char gavel__b64_std[], gavel__b64_url[];
void gavel__b64_encode(gv_buf *b, const unsigned char *p, size_t n,
                       const char *alpha, int pad);
int gavel__b64_decode(gv_buf *o, const char *in, size_t n, const char *alpha,
                      int canonical, char *err, size_t esz);
unsigned gavel__hmac_raw(const EVP_MD *md, const char *key, size_t kl,
                         const char *msg, size_t ml, unsigned char *mac);

/* ==== Entry points, one per builtin (the table: builtins_ext.c) ==== */

int gavel__bi_regex_match(gv_rt *rt, gvalue *out, const gvalue *args,
                          int nargs);
int gavel__bi_regex_find(gv_rt *rt, gvalue *out, const gvalue *args, int nargs);
int gavel__bi_regex_find_all(gv_rt *rt, gvalue *out, const gvalue *args,
                             int nargs);
int gavel__bi_regex_split(gv_rt *rt, gvalue *out, const gvalue *args,
                          int nargs);
int gavel__bi_regex_replace(gv_rt *rt, gvalue *out, const gvalue *args,
                            int nargs);
int gavel__bi_now(gv_rt *rt, gvalue *out, const gvalue *args, int nargs);
int gavel__bi_now_millis(gv_rt *rt, gvalue *out, const gvalue *args, int nargs);
int gavel__bi_parse_time(gv_rt *rt, gvalue *out, const gvalue *args, int nargs);
int gavel__bi_format_time(gv_rt *rt, gvalue *out, const gvalue *args,
                          int nargs);
int gavel__bi_time_diff(gv_rt *rt, gvalue *out, const gvalue *args, int nargs);
int gavel__bi_date_add(gv_rt *rt, gvalue *out, const gvalue *args, int nargs);
int gavel__bi_time_of_day(gv_rt *rt, gvalue *out, const gvalue *args,
                          int nargs);
int gavel__bi_day_of_week(gv_rt *rt, gvalue *out, const gvalue *args,
                          int nargs);
int gavel__bi_yaml_marshal(gv_rt *rt, gvalue *out, const gvalue *args,
                           int nargs);
int gavel__bi_yaml_unmarshal(gv_rt *rt, gvalue *out, const gvalue *args,
                             int nargs);
int gavel__bi_base64_encode(gv_rt *rt, gvalue *out, const gvalue *args,
                            int nargs);
int gavel__bi_base64url_encode(gv_rt *rt, gvalue *out, const gvalue *args,
                               int nargs);
int gavel__bi_base64_decode(gv_rt *rt, gvalue *out, const gvalue *args,
                            int nargs);
int gavel__bi_base64url_decode(gv_rt *rt, gvalue *out, const gvalue *args,
                               int nargs);
int gavel__bi_url_encode(gv_rt *rt, gvalue *out, const gvalue *args, int nargs);
int gavel__bi_url_decode(gv_rt *rt, gvalue *out, const gvalue *args, int nargs);
int gavel__bi_hex_encode(gv_rt *rt, gvalue *out, const gvalue *args, int nargs);
int gavel__bi_hex_decode(gv_rt *rt, gvalue *out, const gvalue *args, int nargs);
int gavel__bi_md5(gv_rt *rt, gvalue *out, const gvalue *args, int nargs);
int gavel__bi_sha256(gv_rt *rt, gvalue *out, const gvalue *args, int nargs);
int gavel__bi_hmac_sha256(gv_rt *rt, gvalue *out, const gvalue *args,
                          int nargs);
int gavel__bi_uuid_v4(gv_rt *rt, gvalue *out, const gvalue *args, int nargs);
int gavel__bi_jwt_decode(gv_rt *rt, gvalue *out, const gvalue *args, int nargs);
int gavel__bi_jwt_verify(gv_rt *rt, gvalue *out, const gvalue *args, int nargs);
int gavel__bi_jwt_encode(gv_rt *rt, gvalue *out, const gvalue *args, int nargs);
int gavel__bi_glob_match(gv_rt *rt, gvalue *out, const gvalue *args, int nargs);
int gavel__bi_cidr_contains(gv_rt *rt, gvalue *out, const gvalue *args,
                            int nargs);
int gavel__bi_cidr_intersects(gv_rt *rt, gvalue *out, const gvalue *args,
                              int nargs);
int gavel__bi_semver_compare(gv_rt *rt, gvalue *out, const gvalue *args,
                             int nargs);
int gavel__bi_semver_is_valid(gv_rt *rt, gvalue *out, const gvalue *args,
                              int nargs);

#endif /* GAVEL_BUILTINS_LIB_H */
