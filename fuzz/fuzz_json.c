/*
** fuzz_json.c -- the JSON reader, differential against cJSON, through the
** public API.  An expression cannot name the whole context (no root path in
** Ordo expressions), so the input D is wrapped as {"x":D} and the
** expression 'x' reads it back: gavel_expr_eval_json parses the wrapper and
** writes D's value.  Accept/reject is judged on the wrapper (D may close the
** wrapper's object itself: '1,"y":2'); values are compared only when D
** alone is a valid document.
**
** Accept/reject is compared with an RFC 8259 grammar check (below) plus
** UTF-8 validity, because cJSON is lax in ways gavel must not be (it takes
** any byte <= 0x20 as whitespace, raw control characters in strings,
** invalid UTF-8, "01", "1.", "-" ...).  Values are compared with cJSON:
** gavel's output, parsed by cJSON, must equal cJSON's parse of the input.
**
** Intentional differences, excluded explicitly (fuzz/README.md):
**  - empty input: the API reads an empty context as null (documented);
**  - nesting deeper than 512 (the wrapper counts one): gavel's limit
**    (GAVEL_LIMIT, cJSON: 1000);
**  - duplicate keys: gavel keeps the last value (Ordo / serde_json map
**    semantics) and one member; cJSON keeps every member: values are not
**    compared for documents with duplicate keys;
**  - "\u0000" in strings: gavel keeps the NUL, cJSON's C strings end there:
**    string values are compared only up to cJSON's length then;
**  - numbers: gavel reads integers within int64 exactly and writes them
**    exactly; cJSON holds doubles: numbers compare as doubles;
**  - integer lexemes in [2^63, 2^64) wrap negative, as in Ordo
**    (docs/ordo-reference.md "Values": 18446744073709551615 -> -1); cJSON
**    reads them as doubles: values not compared;
**  - numbers that overflow a double (1e400): gavel rejects them (as
**    serde_json: "number out of range"), cJSON reads inf;
**  - lone UTF-16 surrogate escapes ("\ud800"): see 'surrogate' below.
*/
#include "fuzz_common.h"
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- strict RFC 8259 check ---- */

typedef struct {
  const uint8_t *p, *end;
  int depth, max_depth;
  int lone_surrogate; /* a \uD800-\uDFFF escape not in a valid pair */
  int nul_escape;     /* \u0000 */
  int overflow;       /* a number whose magnitude overflows a double */
  int u64_wrap;       /* an integer lexeme in [2^63, 2^64) */
} V;

static void ws(V *v) {
  while (v->p < v->end &&
         (*v->p == ' ' || *v->p == '\t' || *v->p == '\n' || *v->p == '\r'))
    v->p++;
}

static int hex4(V *v, unsigned *u) {
  int i;
  *u = 0;
  if (v->end - v->p < 4)
    return 0;
  for (i = 0; i < 4; i++) {
    uint8_t c = v->p[i];
    *u <<= 4;
    if (c >= '0' && c <= '9') *u |= c - '0';
    else if (c >= 'a' && c <= 'f') *u |= c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') *u |= c - 'A' + 10;
    else return 0;
  }
  v->p += 4;
  return 1;
}

static int utf8(V *v) { /* one multi-byte sequence at v->p, strict */
  uint8_t c = *v->p;
  int n, i;
  unsigned cp;
  if (c >= 0xC2 && c <= 0xDF) n = 1, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF) n = 2, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4) n = 3, cp = c & 0x07;
  else return 0;
  if (v->end - v->p <= n)
    return 0;
  for (i = 1; i <= n; i++) {
    if ((v->p[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (v->p[i] & 0x3F);
  }
  if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
      (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
    return 0;
  v->p += n + 1;
  return 1;
}

static int string(V *v) {
  v->p++; /* '"' */
  while (v->p < v->end) {
    uint8_t c = *v->p;
    if (c == '"') {
      v->p++;
      return 1;
    }
    if (c < 0x20)
      return 0;
    if (c == '\\') {
      unsigned u, u2;
      if (++v->p >= v->end)
        return 0;
      c = *v->p++;
      if (c == 'u') {
        if (!hex4(v, &u))
          return 0;
        if (u == 0)
          v->nul_escape = 1;
        if (u >= 0xD800 && u <= 0xDBFF) {
          const uint8_t *save = v->p;
          if (v->end - v->p >= 6 && v->p[0] == '\\' && v->p[1] == 'u') {
            v->p += 2;
            if (hex4(v, &u2) && u2 >= 0xDC00 && u2 <= 0xDFFF)
              continue;
          }
          v->p = save;
          v->lone_surrogate = 1;
        } else if (u >= 0xDC00 && u <= 0xDFFF) {
          v->lone_surrogate = 1;
        }
      } else if (!strchr("\"\\/bfnrt", c) || c == 0) {
        return 0;
      }
    } else if (c >= 0x80) {
      if (!utf8(v))
        return 0;
    } else {
      v->p++;
    }
  }
  return 0;
}

static int digits(V *v) {
  const uint8_t *s = v->p;
  while (v->p < v->end && *v->p >= '0' && *v->p <= '9')
    v->p++;
  return v->p > s;
}

static int number(V *v) {
  const uint8_t *s = v->p;
  int isint = 1;
  if (*v->p == '-')
    v->p++;
  if (v->p < v->end && *v->p == '0')
    v->p++;
  else if (!digits(v))
    return 0;
  if (v->p < v->end && *v->p == '.') {
    isint = 0;
    v->p++;
    if (!digits(v))
      return 0;
  }
  if (v->p < v->end && (*v->p == 'e' || *v->p == 'E')) {
    isint = 0;
    v->p++;
    if (v->p < v->end && (*v->p == '+' || *v->p == '-'))
      v->p++;
    if (!digits(v))
      return 0;
  }
  {
    size_t n = (size_t)(v->p - s);
    char *buf = malloc(n + 1);
    memcpy(buf, s, n);
    buf[n] = 0;
    if (isinf(strtod(buf, NULL)))
      v->overflow = 1;
    if (isint && *s != '-' && n >= 19 && n <= 20) {
      errno = 0;
      if (strtoull(buf, NULL, 10) > (unsigned long long)INT64_MAX && !errno)
        v->u64_wrap = 1;
    }
    free(buf);
  }
  return 1;
}

static int lit(V *v, const char *w) {
  size_t n = strlen(w);
  if ((size_t)(v->end - v->p) < n || memcmp(v->p, w, n))
    return 0;
  v->p += n;
  return 1;
}

static int value(V *v);

static int container(V *v, uint8_t close) {
  int first = 1;
  if (++v->depth > v->max_depth)
    v->max_depth = v->depth;
  if (v->depth > 4000)
    return 0; /* our own stack: far beyond both limits anyway */
  v->p++;
  ws(v);
  if (v->p < v->end && *v->p == close) {
    v->p++;
    v->depth--;
    return 1;
  }
  for (;;) {
    if (!first) {
      ws(v);
      if (v->p >= v->end)
        return 0;
      if (*v->p == close) {
        v->p++;
        v->depth--;
        return 1;
      }
      if (*v->p != ',')
        return 0;
      v->p++;
    }
    first = 0;
    ws(v);
    if (close == '}') {
      if (v->p >= v->end || *v->p != '"' || !string(v))
        return 0;
      ws(v);
      if (v->p >= v->end || *v->p != ':')
        return 0;
      v->p++;
    }
    if (!value(v))
      return 0;
  }
}

static int value(V *v) {
  ws(v);
  if (v->p >= v->end)
    return 0;
  switch (*v->p) {
  case '{': return container(v, '}');
  case '[': return container(v, ']');
  case '"': return string(v);
  case 't': return lit(v, "true");
  case 'f': return lit(v, "false");
  case 'n': return lit(v, "null");
  default:
    if (*v->p == '-' || (*v->p >= '0' && *v->p <= '9'))
      return number(v);
    return 0;
  }
}

static int strict_ok(V *v) {
  if (!value(v))
    return 0;
  ws(v);
  return v->p == v->end;
}

/* ---- value comparison ---- */

static int has_dup_keys(const cJSON *j) {
  const cJSON *a, *b;
  if (cJSON_IsObject(j))
    for (a = j->child; a; a = a->next)
      for (b = a->next; b; b = b->next)
        if (!strcmp(a->string, b->string))
          return 1;
  for (a = j->child; a; a = a->next)
    if (has_dup_keys(a))
      return 1;
  return 0;
}

static int same(const cJSON *a, const cJSON *b) {
  const cJSON *x, *y;
  if ((a->type & 0xFF) != (b->type & 0xFF))
    return 0;
  if (cJSON_IsNumber(a))
    return a->valuedouble == b->valuedouble ||
           (isnan(a->valuedouble) && isnan(b->valuedouble));
  if (cJSON_IsString(a))
    return !strcmp(a->valuestring, b->valuestring);
  if (cJSON_IsArray(a) || cJSON_IsObject(a)) {
    for (x = a->child, y = b->child; x && y; x = x->next, y = y->next) {
      if (cJSON_IsObject(a) && strcmp(x->string, y->string))
        return 0;
      if (!same(x, y))
        return 0;
    }
    return !x && !y;
  }
  return 1;
}

static gavel_expr *root_expr;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  gavel_error e;
  (void)argc;
  (void)argv;
  if (gavel_expr_compile(fz_runtime(), "x", 1, &root_expr, &e) != GAVEL_OK) {
    fprintf(stderr, "fuzz_json: 'x' does not compile: %s\n", e.msg);
    abort();
  }
  return 0;
}

#define WRAP_HEAD "{\"x\":"
#define WRAP_HEAD_LEN 5

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  V v, w;
  gavel_error e;
  gavel_status st;
  const char *out = NULL;
  size_t out_len = 0;
  int ok, wok, expect;
  char *copy, *wrapped;
  cJSON *cj_in, *cj_out;

  if (size == 0 || size > 64 * 1024)
    return -1;
  memset(&v, 0, sizeof v);
  v.p = data;
  v.end = data + size;
  ok = strict_ok(&v);
  wrapped = malloc(size + WRAP_HEAD_LEN + 1);
  memcpy(wrapped, WRAP_HEAD, WRAP_HEAD_LEN);
  memcpy(wrapped + WRAP_HEAD_LEN, data, size);
  wrapped[WRAP_HEAD_LEN + size] = '}';
  memset(&w, 0, sizeof w);
  w.p = (const uint8_t *)wrapped;
  w.end = w.p + size + WRAP_HEAD_LEN + 1;
  wok = strict_ok(&w);
  st = gavel_expr_eval_json(root_expr, wrapped, size + WRAP_HEAD_LEN + 1, &out,
                            &out_len, &e);
  free(wrapped);
  fz_check_error(st, &e);
  if (st == GAVEL_LIMIT) {
    /* the depth limit may strike before a later syntax error: judged on
    ** the depth the grammar check reached before it stopped */
    if (w.max_depth <= 512)
      fz_fail("GAVEL_LIMIT on a document within the nesting limit", e.msg,
              strlen(e.msg));
    return 0;
  }
  if (st != GAVEL_OK && st != GAVEL_JSON)
    fz_fail("'x' over a JSON context fails with neither JSON nor LIMIT",
            e.msg, strlen(e.msg));
  expect = wok && w.max_depth <= 512;
  if ((st == GAVEL_OK) != expect) {
    /* lone surrogates: gavel rejects them (no valid UTF-8 for them), an
    ** intentional difference with the bare grammar */
    if (st == GAVEL_JSON && wok && w.lone_surrogate)
      return 0;
    /* numbers beyond a double: gavel rejects them, the grammar allows them */
    if (st == GAVEL_JSON && wok && w.overflow)
      return 0;
    fz_fail(st == GAVEL_OK ? "gavel accepts a document RFC 8259 rejects"
                           : "gavel rejects an RFC 8259 document",
            e.msg, strlen(e.msg));
  }
  if (st != GAVEL_OK)
    return 0;
  fz_check_json("'x' result is not valid JSON", out, out_len);
  if (!ok || v.overflow || v.lone_surrogate || v.nul_escape || v.u64_wrap)
    return 0; /* values not comparable with cJSON (see top) */
  copy = malloc(size + 1);
  memcpy(copy, data, size);
  copy[size] = 0;
  cj_in = cJSON_ParseWithLengthOpts(copy, size + 1, NULL, 1);
  free(copy);
  if (!cj_in)
    fz_fail("cJSON rejects a document RFC 8259 and gavel accept", NULL, 0);
  if (!has_dup_keys(cj_in)) {
    cj_out = cJSON_ParseWithLength(out, out_len);
    if (!same(cj_in, cj_out)) {
      char *a = cJSON_PrintUnformatted(cj_in);
      fprintf(stderr, "cJSON read: %s\n", a);
      free(a);
      fz_fail("gavel's value differs from cJSON's", out, out_len);
    }
    cJSON_Delete(cj_out);
  }
  cJSON_Delete(cj_in);
  return 0;
}
