/*
** test_json.c -- C tests of core/json.c: the reader (validation, numbers,
** strings, errors, depth, projection), the writer, number formatting and
** Ordo's display form.  Includes a differential run against cJSON and an
** independent strict RFC 8259 validator written here.
**
** Run: build with core/mem.c core/value.c core/json.c, link -lcjson.
*/
#include "json.h"
#include "tinytest.h"
#include <cjson/cJSON.h>
#include <ctype.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>

/* ==== Helpers ==== */

static gv_arena ta;   /* values of the running test           */
static gv_buf tb;     /* output of W() and D()                */
static int ta_inited; /* 1 once 'ta' and 'tb' are set up       */

static void tinit(void) {
  if (!ta_inited) {
    gavel__arena_init(&ta, &gavel__default_alloc, 0);
    gavel__buf_init(&tb, &gavel__default_alloc);
    ta_inited = 1;
  }
}

__attribute__((destructor)) static void tfini(void) {
  if (ta_inited) {
    gavel__arena_free(&ta);
    gavel__buf_free(&tb);
  }
}

static gavel_status PN(const char *s, size_t n, const gv_proj *proj,
                       gvalue *v, gavel_error *e) {
  gavel_error tmp;
  tinit();
  gavel__error_clear(e ? e : &tmp);
  return gavel__json_parse(&ta, s, n, proj, v, e ? e : &tmp);
}

static gavel_status P(const char *s, gvalue *v) {
  return PN(s, strlen(s), NULL, v, NULL);
}

/* Compact JSON of 'v' (valid until the next W or D). */
static const char *W(gvalue v) {
  tinit();
  gavel__buf_clear(&tb);
  gavel__json_write(&tb, v);
  return tb.cap ? tb.p : "";
}

static const char *D(gvalue v) {
  tinit();
  gavel__buf_clear(&tb);
  gavel__value_display(&tb, v);
  return tb.cap ? tb.p : "";
}

/* Parses then writes; "ERR" on failure. */
static const char *PW(const char *s, const gv_proj *proj) {
  gvalue v;
  if (PN(s, strlen(s), proj, &v, NULL) != GAVEL_OK)
    return "ERR";
  return W(v);
}

static int bits_eq(double a, double b) { return memcmp(&a, &b, 8) == 0; }

/* Type-strict deep equality that also tells -0.0 from 0.0. */
static int deep_eq(gvalue a, gvalue b) {
  uint32_t i;
  if (a.tag != b.tag)
    return 0;
  switch (a.tag) {
  case GV_FLOAT:
    return bits_eq(a.u.f, b.u.f);
  case GV_ARR:
    if (a.u.a->len != b.u.a->len)
      return 0;
    for (i = 0; i < a.u.a->len; i++)
      if (!deep_eq(a.u.a->items[i], b.u.a->items[i]))
        return 0;
    return 1;
  case GV_OBJ: /* same keys in the same order */
    if (a.u.o->len != b.u.o->len)
      return 0;
    for (i = 0; i < a.u.o->len; i++)
      if (!gavel__str_eq(a.u.o->keys[i], b.u.o->keys[i]) ||
          !deep_eq(a.u.o->vals[i], b.u.o->vals[i]))
        return 0;
    return 1;
  default:
    return gavel__value_eq(a, b);
  }
}

/* Reads dotted 'path' (object keys, array indices).  0 if absent. */
static int get_path(gvalue v, const char *path, gvalue *out) {
  const char *seg = path;
  while (*seg) {
    const char *end = strchr(seg, '.');
    size_t n = end ? (size_t)(end - seg) : strlen(seg);
    if (v.tag == GV_OBJ) {
      gvalue *p = gavel__obj_get(v.u.o, seg, n);
      if (!p)
        return 0;
      v = *p;
    } else if (v.tag == GV_ARR) {
      char num[32];
      unsigned long idx;
      if (n == 0 || n >= sizeof num)
        return 0;
      memcpy(num, seg, n);
      num[n] = 0;
      idx = strtoul(num, NULL, 10);
      if (idx >= v.u.a->len)
        return 0;
      v = v.u.a->items[idx];
    } else
      return 0;
    seg += n;
    if (*seg == '.')
      seg++;
  }
  *out = v;
  return 1;
}

/* ==== Projection builders ==== */

static gv_proj *proj_node(const char *k, size_t n) {
  gv_proj *p;
  tinit();
  p = gavel__arena_alloc(&ta, sizeof *p);
  memset(p, 0, sizeof *p);
  p->key = gavel__arena_dup(&ta, k, n ? n : 1);
  p->key_len = (uint32_t)n;
  return p;
}

/* Adds dotted 'path' under 'root'; a trailing '!' marks the end whole. */
static void proj_add(gv_proj *root, const char *path) {
  gv_proj *cur = root;
  const char *seg = path;
  size_t plen = strlen(path);
  int whole = plen && path[plen - 1] == '!';
  const char *end_all = path + plen - whole;
  while (seg < end_all) {
    const char *dot = memchr(seg, '.', (size_t)(end_all - seg));
    size_t n = dot ? (size_t)(dot - seg) : (size_t)(end_all - seg);
    gv_proj *c;
    for (c = cur->child; c; c = c->next)
      if (c->key_len == n && memcmp(c->key, seg, n) == 0)
        break;
    if (!c) {
      gv_proj **tail = &cur->child;
      while (*tail)
        tail = &(*tail)->next;
      *tail = c = proj_node(seg, n);
    }
    cur = c;
    seg += n + (dot != NULL);
  }
  if (whole)
    cur->whole = 1;
}

static gv_proj *proj_of(const char *const *paths, int n) {
  gv_proj *root = proj_node("$", 1);
  int i;
  for (i = 0; i < n; i++)
    proj_add(root, paths[i]);
  return root;
}

/* ==== Basic reading ==== */

TEST(reads_scalars_and_containers) {
  gvalue v;
  CHECK(P("null", &v) == GAVEL_OK && v.tag == GV_NULL);
  CHECK(P(" true ", &v) == GAVEL_OK && v.tag == GV_BOOL && v.u.i == 1);
  CHECK(P("false", &v) == GAVEL_OK && v.tag == GV_BOOL && v.u.i == 0);
  CHECK(P("\"hi\"", &v) == GAVEL_OK && v.tag == GV_STR &&
        gavel__str_eqn(v.u.s, "hi", 2));
  CHECK(P("[]", &v) == GAVEL_OK && v.tag == GV_ARR && v.u.a->len == 0);
  CHECK(P("{}", &v) == GAVEL_OK && v.tag == GV_OBJ && v.u.o->len == 0);
  CHECK(P("\t\r\n {\"a\" : [ 1 , 2 ] }\n", &v) == GAVEL_OK);
  CHECK_STR(W(v), "{\"a\":[1,2]}");
  CHECK_STR(PW("{\"score\": 75}", NULL), "{\"score\":75}");
  CHECK_STR(PW("[[[]],{},[{}]]", NULL), "[[[]],{},[{}]]");
}

TEST(keeps_insertion_order_and_last_duplicate_wins_in_place) {
  CHECK_STR(PW("{\"b\":1,\"a\":2,\"c\":3}", NULL), "{\"b\":1,\"a\":2,\"c\":3}");
  CHECK_STR(PW("{\"a\":1,\"b\":2,\"a\":3}", NULL), "{\"a\":3,\"b\":2}");
  CHECK_STR(PW("{\"a\":1,\"\\u0061\":[4]}", NULL), "{\"a\":[4]}");
}

TEST(finds_duplicates_in_large_objects_through_the_hash_index) {
  gv_buf b;
  gvalue v, x;
  int i, ok = 1;
  gavel__buf_init(&b, &gavel__default_alloc);
  gavel__buf_addc(&b, '{');
  for (i = 0; i < 3000; i++)
    gavel__buf_addf(&b, "\"k%d\":%d,", i, i);
  gavel__buf_adds(&b, "\"k5\":-1,\"k2999\":-2,\"k17\":-3,\"new\":0}");
  CHECK(PN(b.p, b.len, NULL, &v, NULL) == GAVEL_OK);
  CHECK(v.tag == GV_OBJ && v.u.o->len == 3001);
  for (i = 0; i < 3000; i++) {
    char k[16];
    int64_t want = i == 5 ? -1 : i == 2999 ? -2 : i == 17 ? -3 : i;
    snprintf(k, sizeof k, "k%d", i);
    ok &= gavel__str_eqn(v.u.o->keys[i], k, strlen(k)) &&
          v.u.o->vals[i].u.i == want;
  }
  CHECK(ok);
  CHECK(get_path(v, "new", &x) && x.tag == GV_INT && x.u.i == 0);
  gavel__buf_free(&b);
}

/* ==== Numbers ==== */

TEST(tells_ints_from_floats_by_the_lexeme) {
  gvalue v;
  CHECK(P("3", &v) == GAVEL_OK && v.tag == GV_INT && v.u.i == 3);
  CHECK(P("3.0", &v) == GAVEL_OK && v.tag == GV_FLOAT && v.u.f == 3.0);
  CHECK(P("3e0", &v) == GAVEL_OK && v.tag == GV_FLOAT && v.u.f == 3.0);
  CHECK(P("3E+2", &v) == GAVEL_OK && v.tag == GV_FLOAT && v.u.f == 300.0);
  CHECK(P("-7", &v) == GAVEL_OK && v.tag == GV_INT && v.u.i == -7);
  CHECK(P("0", &v) == GAVEL_OK && v.tag == GV_INT && v.u.i == 0);
  /* serde_json reads "-0" as the float -0.0 (issue 13) */
  CHECK(P("-0", &v) == GAVEL_OK && v.tag == GV_FLOAT && bits_eq(v.u.f, -0.0));
  CHECK(P("-0.0", &v) == GAVEL_OK && v.tag == GV_FLOAT &&
        bits_eq(v.u.f, -0.0));
  CHECK(P("0.5", &v) == GAVEL_OK && v.u.f == 0.5);
  CHECK(P("1E-2", &v) == GAVEL_OK && v.u.f == 0.01);
}

TEST(wraps_uint64_and_promotes_larger_integers_to_float) {
  gvalue v;
  CHECK(P("9223372036854775807", &v) == GAVEL_OK && v.tag == GV_INT &&
        v.u.i == INT64_MAX);
  CHECK(P("-9223372036854775808", &v) == GAVEL_OK && v.tag == GV_INT &&
        v.u.i == INT64_MIN);
  CHECK(P("9223372036854775808", &v) == GAVEL_OK && v.tag == GV_INT &&
        v.u.i == INT64_MIN);
  CHECK(P("18446744073709551615", &v) == GAVEL_OK && v.tag == GV_INT &&
        v.u.i == -1);
  CHECK(P("18446744073709551614", &v) == GAVEL_OK && v.tag == GV_INT &&
        v.u.i == -2);
  CHECK(P("10000000000000000000", &v) == GAVEL_OK && v.tag == GV_INT &&
        (uint64_t)v.u.i == 10000000000000000000ull);
  CHECK(P("18446744073709551616", &v) == GAVEL_OK && v.tag == GV_FLOAT &&
        v.u.f == 18446744073709551616.0);
  CHECK(P("99999999999999999999", &v) == GAVEL_OK && v.tag == GV_FLOAT &&
        v.u.f == 1e20);
  CHECK(P("-9223372036854775809", &v) == GAVEL_OK && v.tag == GV_FLOAT &&
        v.u.f == -9223372036854775808.0);
  CHECK(P("-18446744073709551615", &v) == GAVEL_OK && v.tag == GV_FLOAT);
  CHECK(P("123456789012345678901234567890", &v) == GAVEL_OK &&
        v.tag == GV_FLOAT && v.u.f == 1.2345678901234568e29);
}

TEST(rejects_numbers_outside_the_double_range) {
  gvalue v;
  gavel_error e;
  char big[400];
  CHECK(PN("1e400", 5, NULL, &v, &e) == GAVEL_JSON && e.offset == 0);
  CHECK(strstr(e.msg, "number out of range") != NULL);
  CHECK(PN("[0, -1.5e999]", 13, NULL, &v, &e) == GAVEL_JSON && e.offset == 4);
  memset(big, '9', 320);
  big[320] = 0;
  CHECK(P(big, &v) == GAVEL_JSON);
  big[300] = 0;
  CHECK(P(big, &v) == GAVEL_OK && v.tag == GV_FLOAT && v.u.f == 1e300);
  CHECK(P("1e-400", &v) == GAVEL_OK && v.tag == GV_FLOAT && v.u.f == 0.0);
  CHECK(P("-1e-400", &v) == GAVEL_OK && bits_eq(v.u.f, -0.0));
  CHECK(P("1.7976931348623157e308", &v) == GAVEL_OK &&
        v.u.f == 1.7976931348623157e308);
  CHECK(P("1.7976931348623159e308", &v) == GAVEL_JSON);
  CHECK(P("0e99999999999999999999", &v) == GAVEL_OK && v.u.f == 0.0);
  CHECK(P("0.0000001e310", &v) == GAVEL_OK && v.u.f == 1e303);
}

/* Simple LCG-free generator (xorshift64*), fixed seed per test. */
static uint64_t rng_s = 88172645463325252ull;
static uint64_t rnd(void) {
  rng_s ^= rng_s >> 12;
  rng_s ^= rng_s << 25;
  rng_s ^= rng_s >> 27;
  return rng_s * 2685821657736338717ull;
}
static int rndn(int n) { return (int)(rnd() % (uint64_t)n); }

TEST(converts_floats_exactly_like_strtod) {
  char lex[128];
  int i, bad = 0;
  for (i = 0; i < 200000; i++) {
    int k = 0, nd = 1 + rndn(24), j, pt = rndn(nd + 1);
    gvalue v;
    if (rndn(2))
      lex[k++] = '-';
    lex[k++] = (char)('1' + rndn(9));
    for (j = 1; j < nd; j++) {
      if (j == pt)
        lex[k++] = '.';
      lex[k++] = (char)('0' + rndn(10));
    }
    if (pt == 0 || pt >= nd) {
      lex[k++] = '.';
      lex[k++] = (char)('0' + rndn(10));
    }
    if (rndn(3))
      k += snprintf(lex + k, 16, "e%d", rndn(640) - 330);
    lex[k] = 0;
    {
      double want = strtod(lex, NULL);
      gavel_status st = P(lex, &v);
      if (isinf(want))
        bad += st != GAVEL_JSON;
      else
        bad += st != GAVEL_OK || v.tag != GV_FLOAT || !bits_eq(v.u.f, want);
    }
  }
  CHECK(bad == 0);
}

TEST(rounds_hard_decimal_cases_correctly) {
  static const char *const cases[] = {
      "2.2250738585072011e-308", "2.2250738585072012e-308",
      "4.9406564584124654e-324", "2.4703282292062327e-324",
      "2.4703282292062328e-324", "9007199254740993e0",
      "9007199254740993.0",      "1.00000000000000011102230246251565404",
      "0.1",                     "123456789012345678e-5",
      "7.0e-10",                 "1e22",
      "1e23",                    "8.98846567431158e307",
      "3.0000000000000004",      "179769313486231570000e288"};
  size_t i;
  gvalue v;
  char buf[2048];
  for (i = 0; i < sizeof cases / sizeof *cases; i++)
    CHECK(P(cases[i], &v) == GAVEL_OK &&
          bits_eq(v.u.f, strtod(cases[i], NULL)));
  /* 2^53 + 1 is halfway between two doubles: ties-to-even goes down, but
  ** any nonzero digit 900 places later must round up (sticky digit). */
  memset(buf, '0', sizeof buf);
  memcpy(buf, "9007199254740993.", 17);
  buf[1000] = 0;
  CHECK(P(buf, &v) == GAVEL_OK && v.u.f == 9007199254740992.0);
  buf[999] = '1';
  CHECK(P(buf, &v) == GAVEL_OK && v.u.f == 9007199254740994.0);
  CHECK(bits_eq(v.u.f, strtod(buf, NULL)));
  /* Many leading zeros, long mantissa, huge exponent digits. */
  memset(buf, '0', sizeof buf);
  memcpy(buf, "0.", 2);
  memcpy(buf + 1500, "123e1500", 9);
  CHECK(P(buf, &v) == GAVEL_OK && bits_eq(v.u.f, strtod(buf, NULL)));
}

TEST(parse_double_checks_syntax_and_range) {
  static const char *const good[] = {"1", "+1", "-1", ".5", "5.", "1e5",
                                     "1E-5", "-0", "00012", "1.5e+3"};
  static const char *const bad[] = {"",    "+",    "-",   ".",   "e5",
                                    "1e",  "1e+",  " 1",  "1 ",  "0x10",
                                    "inf", "nan",  "1.2.3", "--1", "1e5.0"};
  size_t i;
  double d;
  for (i = 0; i < sizeof good / sizeof *good; i++)
    CHECK(gavel__parse_double(good[i], strlen(good[i]), &d) == 0 &&
          bits_eq(d, strtod(good[i], NULL)));
  for (i = 0; i < sizeof bad / sizeof *bad; i++)
    CHECK(gavel__parse_double(bad[i], strlen(bad[i]), &d) == -1);
  CHECK(gavel__parse_double("1e309", 5, &d) == 1 && isinf(d) && d > 0);
  CHECK(gavel__parse_double("-1e309", 6, &d) == 1 && isinf(d) && d < 0);
  CHECK(gavel__parse_double("12345", 3, &d) == 0 && d == 123.0);
}

/* ==== Strings ==== */

TEST(decodes_escapes_and_surrogate_pairs) {
  gvalue v;
  CHECK(P("\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\"", &v) == GAVEL_OK);
  CHECK(v.u.s->len == 17 &&
        memcmp(v.u.s->s, "a\"b\\c/d\be\ff\ng\rh\ti", 17) == 0);
  CHECK(P("\"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\"", &v) == GAVEL_OK);
  CHECK(v.u.s->len == 10 &&
        memcmp(v.u.s->s, "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 10) == 0);
  CHECK(P("\"\\u0000x\"", &v) == GAVEL_OK && v.u.s->len == 2 &&
        v.u.s->s[0] == 0 && v.u.s->s[1] == 'x' && v.u.s->s[2] == 0);
  CHECK(P("\"\\uDBFF\\uDFFF\\uD800\\uDC00\"", &v) == GAVEL_OK &&
        v.u.s->len == 8 &&
        memcmp(v.u.s->s, "\xF4\x8F\xBF\xBF\xF0\x90\x80\x80", 8) == 0);
  CHECK(P("\"\\uFFFF\\u07FF\\u0080\\u007f\"", &v) == GAVEL_OK &&
        v.u.s->len == 8 &&
        memcmp(v.u.s->s, "\xEF\xBF\xBF\xDF\xBF\xC2\x80\x7F", 8) == 0);
  CHECK(P("\"\x7f\"", &v) == GAVEL_OK && v.u.s->len == 1);
}

TEST(rejects_lone_surrogates_bad_escapes_and_control_chars) {
  static const struct {
    const char *doc;
    long off;
    const char *msg;
  } cases[] = {
      {"\"\\ud800\"", 1, "lone surrogate"},
      {"\"\\udc00\"", 1, "lone surrogate"},
      {"\"ab\\ud800\\u0041\"", 3, "lone surrogate"},
      {"\"\\ud800x\"", 1, "lone surrogate"},
      {"\"\\ud800\\n\"", 1, "lone surrogate"},
      {"\"\\udbff\\udbff\"", 1, "lone surrogate"},
      {"\"\\ud800\\uZZZZ\"", 7, "invalid \\u escape"},
      {"\"\\u12G4\"", 1, "invalid \\u escape"},
      {"\"\\x\"", 1, "invalid escape"},
      {"\"\\U0041\"", 1, "invalid escape"},
      {"\"\\'\"", 1, "invalid escape"},
      {"\"a\x01\"", 2, "control character"},
      {"\"a\tb\"", 2, "control character"},
      {"\"a\nb\"", 2, "control character"},
      {"\"abc", 4, "unterminated string"},
      {"\"\\", 2, "unterminated string"},
      {"\"\\u00", 5, "unterminated string"},
      {"\"\\ud800", 7, "unterminated string"},
  };
  size_t i;
  for (i = 0; i < sizeof cases / sizeof *cases; i++) {
    gvalue v;
    gavel_error e;
    gavel_status st = PN(cases[i].doc, strlen(cases[i].doc), NULL, &v, &e);
    CHECK(st == GAVEL_JSON);
    CHECK(e.offset == cases[i].off);
    CHECK(strstr(e.msg, cases[i].msg) != NULL);
    if (e.offset != cases[i].off || !strstr(e.msg, cases[i].msg))
      fprintf(stderr, "  case %zu: %s\n", i, e.msg);
  }
}

TEST(validates_utf8_per_unicode_table_3_7) {
  static const char *const good[] = {
      "\xC2\x80",         "\xDF\xBF",         "\xE0\xA0\x80",
      "\xEF\xBF\xBF",     "\xED\x9F\xBF",     "\xEE\x80\x80",
      "\xE1\x80\x80",     "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF",
      "\xF3\xBF\xBF\xBF", "\xF1\x80\x80\x80", "caf\xC3\xA9"};
  static const char *const bad[] = {
      "\x80",         "\xBF",         "\xC0\xAF",         "\xC1\xBF",
      "\xC2",         "\xC2\x41",     "\xE0\x80\xAF",     "\xE0\x9F\xBF",
      "\xED\xA0\x80", "\xED\xBF\xBF", "\xF0\x80\x80\x80", "\xF0\x8F\xBF\xBF",
      "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xF8\x88\x80\x80\x80",
      "\xFE",         "\xFF",         "\xE2\x82",         "\xE2\x28\xA1",
      "\xF0\x90\x80", "\xC3\xA9\xA9"};
  size_t i;
  char doc[64];
  for (i = 0; i < sizeof good / sizeof *good; i++) {
    gvalue v;
    snprintf(doc, sizeof doc, "\"%s\"", good[i]);
    CHECK(P(doc, &v) == GAVEL_OK && v.u.s->len == strlen(good[i]) &&
          memcmp(v.u.s->s, good[i], v.u.s->len) == 0);
  }
  for (i = 0; i < sizeof bad / sizeof *bad; i++) {
    gvalue v;
    gavel_error e;
    snprintf(doc, sizeof doc, "[\"ab%s\"]", bad[i]);
    CHECK(PN(doc, strlen(doc), NULL, &v, &e) == GAVEL_JSON &&
          strstr(e.msg, "invalid UTF-8") != NULL);
  }
}

TEST(finds_specials_at_every_position_of_the_fast_scan) {
  char doc[80];
  int pos, kind, ok = 1;
  static const char specials[] = {'"', '\\', 0x01, (char)0xC3};
  for (kind = 0; kind < 4; kind++)
    for (pos = 0; pos < 40; pos++) {
      gvalue v;
      gavel_status st;
      size_t n;
      memset(doc, 'x', sizeof doc);
      doc[0] = '"';
      doc[1 + pos] = specials[kind];
      if (kind == 1)
        doc[2 + pos] = 'n';
      if (kind == 3)
        doc[2 + pos] = (char)0xA9;
      doc[50] = '"';
      n = 51;
      st = PN(doc, n, NULL, &v, NULL);
      if (kind == 0) /* string ends early: trailing characters */
        ok &= st == GAVEL_JSON;
      else if (kind == 2)
        ok &= st == GAVEL_JSON;
      else
        ok &= st == GAVEL_OK && v.u.s->len == (kind == 1 ? 48u : 49u) &&
              (kind != 1 || v.u.s->s[pos] == '\n');
    }
  CHECK(ok);
}

/* ==== Errors ==== */

TEST(reports_offset_line_column_and_reason) {
  static const struct {
    const char *doc;
    long off;
    int line, col;
    const char *msg;
  } cases[] = {
      {"", 0, 1, 1, "empty document"},
      {"   ", 3, 1, 4, "unexpected end of input"},
      {"{\"a\":1 \"b\":2}", 7, 1, 8,
       "expected ',' or '}' after object member"},
      {"{\n  \"a\": tru\n}", 12, 2, 11, "invalid literal"},
      {"\t\r\n [\n\n  }", 9, 4, 3, "expected a value"},
      {"[1,]", 3, 1, 4, "expected a value"},
      {"[1 2]", 3, 1, 4, "expected ',' or ']' after array element"},
      {"[1,", 3, 1, 4, "unexpected end of input"},
      {"01", 1, 1, 2, "leading zero in number"},
      {"-", 1, 1, 2, "unexpected end of input"},
      {"-a", 1, 1, 2, "expected digit after '-'"},
      {"1.", 2, 1, 3, "unexpected end of input"},
      {"1.e5", 2, 1, 3, "expected digit after '.'"},
      {"1e", 2, 1, 3, "unexpected end of input"},
      {"1e+", 3, 1, 4, "unexpected end of input"},
      {"1ex", 2, 1, 3, "expected digit in exponent"},
      {"+1", 0, 1, 1, "expected a value"},
      {".5", 0, 1, 1, "expected a value"},
      {"{\"a\" 1}", 5, 1, 6, "expected ':' after object key"},
      {"{1:2}", 1, 1, 2, "expected string key"},
      {"{\"a\":1,}", 7, 1, 8, "expected string key"},
      {"{\"a\":1", 6, 1, 7, "unexpected end of input"},
      {"[1] x", 4, 1, 5, "trailing characters after JSON value"},
      {"[1][2]", 3, 1, 4, "trailing characters after JSON value"},
      {"nul", 3, 1, 4, "unexpected end of input"},
      {"nulx", 3, 1, 4, "invalid literal"},
      {"True", 0, 1, 1, "expected a value"},
      {"\xEF\xBB\xBF{}", 0, 1, 1, "expected a value"},
      {"[\f1]", 1, 1, 2, "expected a value"},
      {"[1,\n2,\n\"\xC0\x80\"]", 8, 3, 2, "invalid UTF-8"},
      {"{\"user\": {\"id\": 1\"x\": 2}}", 17, 1, 18,
       "expected ',' or '}' after object member"},
  };
  size_t i;
  for (i = 0; i < sizeof cases / sizeof *cases; i++) {
    gvalue v;
    gavel_error e;
    int ok;
    gavel_status st = PN(cases[i].doc, strlen(cases[i].doc), NULL, &v, &e);
    ok = st == GAVEL_JSON && e.code == GAVEL_JSON &&
         e.offset == cases[i].off && e.line == cases[i].line &&
         e.column == cases[i].col && strstr(e.msg, cases[i].msg) != NULL &&
         v.tag == GV_NULL;
    CHECK(ok);
    if (!ok)
      fprintf(stderr, "  case %zu: off %ld line %d col %d: %s\n", i,
              e.offset, e.line, e.column, e.msg);
  }
}

TEST(formats_the_error_message_exactly) {
  gvalue v;
  gavel_error e;
  const char *doc = "{\"user\": {\"id\": 1\"x\": 2}}";
  CHECK(PN(doc, strlen(doc), NULL, &v, &e) == GAVEL_JSON);
  CHECK_STR(e.msg, "invalid JSON at byte 17 (line 1, column 18): expected "
                   "',' or '}' after object member");
  CHECK(PN("nul", 3, NULL, &v, NULL) == GAVEL_JSON); /* err may be NULL */
  CHECK(PN(NULL, 0, NULL, &v, &e) == GAVEL_JSON && e.offset == 0);
}

TEST(treats_the_length_not_nul_as_the_end) {
  gvalue v;
  CHECK(PN("[1]xyz", 3, NULL, &v, NULL) == GAVEL_OK);
  CHECK(PN("\"ab\"", 3, NULL, &v, NULL) == GAVEL_JSON);
  CHECK(PN("12345", 2, NULL, &v, NULL) == GAVEL_OK && v.u.i == 12);
  CHECK(PN("[1]\0", 4, NULL, &v, NULL) == GAVEL_JSON);
  CHECK(PN("\"a\0b\"", 5, NULL, &v, NULL) == GAVEL_JSON);
}

/* ==== Depth ==== */

static char *nest(int depth, char open, char close, const char *mid) {
  size_t m = strlen(mid), n = (size_t)depth * 2 + m;
  char *s = malloc(n + 1);
  memset(s, open, (size_t)depth);
  memcpy(s + depth, mid, m);
  memset(s + depth + m, close, (size_t)depth);
  s[n] = 0;
  return s;
}

TEST(limits_nesting_depth) {
  gvalue v;
  gavel_error e;
  char *ok = nest(GAVEL_MAX_JSON_DEPTH, '[', ']', "");
  char *deep = nest(GAVEL_MAX_JSON_DEPTH + 1, '[', ']', "");
  char *wide = nest(100000, '[', ']', "");
  CHECK(P(ok, &v) == GAVEL_OK);
  CHECK(PN(deep, strlen(deep), NULL, &v, &e) == GAVEL_LIMIT);
  CHECK(e.code == GAVEL_LIMIT && e.offset == GAVEL_MAX_JSON_DEPTH);
  CHECK(strstr(e.msg, "nesting exceeds 512") != NULL);
  CHECK(PN(wide, strlen(wide), NULL, &v, &e) == GAVEL_LIMIT);
  free(ok);
  free(deep);
  free(wide);
  {
    gv_buf b;
    int i;
    gavel__buf_init(&b, &gavel__default_alloc);
    for (i = 0; i < GAVEL_MAX_JSON_DEPTH + 1; i++)
      gavel__buf_adds(&b, "{\"a\":");
    gavel__buf_addc(&b, '1');
    for (i = 0; i < GAVEL_MAX_JSON_DEPTH + 1; i++)
      gavel__buf_addc(&b, '}');
    CHECK(PN(b.p, b.len, NULL, &v, &e) == GAVEL_LIMIT);
    CHECK(PN(b.p + 5, b.len - 6, NULL, &v, &e) == GAVEL_OK);
    gavel__buf_free(&b);
  }
}

/* Per-string, per-array and per-object limits (json.c "Reader limits"):
** each one just below and just above, in a value, a key and a part that
** a projection skips; the message names the limit and the JSON path. */
TEST(limits_strings_arrays_and_objects_and_names_the_path) {
  static const char *const keep[] = {"keep"};
  gv_proj *pr = proj_of(keep, 1);
  gv_arena a;
  gv_buf b;
  gvalue v;
  gavel_error e;
  size_t i, big = GAVEL_MAX_STR_BYTES;
  gavel__arena_init(&a, &gavel__default_alloc, 0);
  gavel__buf_init(&b, &gavel__default_alloc);
  /* a string of exactly max_string_bytes reads; one byte more does not */
  gavel__buf_adds(&b, "{\"a\":[1,{\"s\":\"");
  for (i = 0; i < big; i++)
    gavel__buf_addc(&b, 'x');
  gavel__buf_adds(&b, "\"}]}");
  CHECK(gavel__json_parse(&a, b.p, b.len, NULL, &v, &e) == GAVEL_OK);
  CHECK(v.u.o->vals[0].u.a->items[1].u.o->vals[0].u.s->len == big);
  gavel__arena_reset(&a);
  b.len = 0;
  gavel__buf_adds(&b, "{\"a\":[1,{\"s\":\"");
  for (i = 0; i < big + 1; i++)
    gavel__buf_addc(&b, 'x');
  gavel__buf_adds(&b, "\"}]}");
  CHECK(gavel__json_parse(&a, b.p, b.len, NULL, &v, &e) == GAVEL_LIMIT);
  CHECK(e.code == GAVEL_LIMIT && e.offset == 13 && e.column == 14);
  CHECK_STR(e.msg, "string longer than 16777216 bytes (limit max_string_bytes)"
                   " at byte 13 (line 1, column 14), path $.a[1].s");
  /* skipped by a projection: still refused (validity never depends on it) */
  CHECK(gavel__json_parse(&a, b.p, b.len, pr, &v, &e) == GAVEL_LIMIT);
  CHECK(strstr(e.msg, "path $.a[1].s") != NULL);
  /* escapes count decoded: 2^24 + 1 raw bytes holding "\n" decode to 2^24 */
  b.len = 0;
  gavel__buf_adds(&b, "[\"\\n");
  for (i = 0; i < big - 1; i++)
    gavel__buf_addc(&b, 'y');
  gavel__buf_adds(&b, "\"]");
  gavel__arena_reset(&a);
  CHECK(gavel__json_parse(&a, b.p, b.len, NULL, &v, &e) == GAVEL_OK);
  CHECK(v.u.a->items[0].u.s->len == big);
  /* a key over the limit */
  b.len = 0;
  gavel__buf_adds(&b, "{\"ok\":{\"");
  for (i = 0; i < big + 1; i++)
    gavel__buf_addc(&b, 'k');
  gavel__buf_adds(&b, "\":1}}");
  gavel__arena_reset(&a);
  CHECK(gavel__json_parse(&a, b.p, b.len, NULL, &v, &e) == GAVEL_LIMIT);
  CHECK(strstr(e.msg, "(limit max_string_bytes)") && strstr(e.msg, "path $.ok"));
  /* arrays: GAVEL_MAX_ARR_LEN elements read, one more is max_array_len */
  b.len = 0;
  gavel__buf_adds(&b, "{\"x\":{\"l\":[0");
  for (i = 1; i < GAVEL_MAX_ARR_LEN; i++)
    gavel__buf_adds(&b, ",0");
  gavel__buf_adds(&b, "]}}");
  gavel__arena_reset(&a);
  CHECK(gavel__json_parse(&a, b.p, b.len, NULL, &v, &e) == GAVEL_OK);
  b.len -= 3;
  gavel__buf_adds(&b, ",7]}}");
  gavel__arena_reset(&a);
  CHECK(gavel__json_parse(&a, b.p, b.len, NULL, &v, &e) == GAVEL_LIMIT);
  CHECK(e.offset == (long)b.len - 4);
  CHECK(strstr(e.msg, "array longer than 1000000 elements (limit "
                      "max_array_len)") == e.msg);
  CHECK(strstr(e.msg, "path $.x.l[1000000]") != NULL);
  gavel__arena_reset(&a);
  CHECK(gavel__json_parse(&a, b.p, b.len, pr, &v, &e) == GAVEL_LIMIT);
  /* gavel__json_parse_max: a smaller bound; 0 or larger is the engine's */
  gavel__arena_reset(&a);
  CHECK(gavel__json_parse_max(&a, "[1,2,3]", 7, NULL, 2, &v, &e) ==
        GAVEL_LIMIT);
  CHECK(strstr(e.msg, "array longer than 2 elements") && strstr(e.msg, "$[2]"));
  gavel__arena_reset(&a);
  CHECK(gavel__json_parse_max(&a, b.p, b.len, NULL, 5000000, &v, &e) ==
        GAVEL_LIMIT);
  /* objects: GAVEL_MAX_ARR_LEN members read, one more is max_object_keys */
  b.len = 0;
  gavel__buf_adds(&b, "[{\"k0\":0");
  for (i = 1; i < GAVEL_MAX_ARR_LEN; i++)
    gavel__buf_addf(&b, ",\"k%zu\":0", i);
  gavel__buf_adds(&b, "}]");
  gavel__arena_reset(&a);
  CHECK(gavel__json_parse(&a, b.p, b.len, NULL, &v, &e) == GAVEL_OK);
  CHECK(v.u.a->items[0].u.o->len == GAVEL_MAX_ARR_LEN);
  b.len -= 2;
  gavel__buf_adds(&b, ",\"k0\":1}]"); /* a duplicate counts as written */
  gavel__arena_reset(&a);
  CHECK(gavel__json_parse(&a, b.p, b.len, NULL, &v, &e) == GAVEL_LIMIT);
  CHECK(strstr(e.msg, "object with more than 1000000 members (limit "
                      "max_object_keys)") == e.msg);
  CHECK(strstr(e.msg, "path $[0]") != NULL);
  /* the depth limit names its path too */
  gavel__arena_reset(&a);
  {
    char *deep = nest(GAVEL_MAX_JSON_DEPTH + 1, '[', ']', "");
    CHECK(gavel__json_parse(&a, deep, strlen(deep), NULL, &v, &e) ==
          GAVEL_LIMIT);
    CHECK(strstr(e.msg, "path $[0][0][0]") != NULL);
    free(deep);
  }
  gavel__buf_free(&b);
  gavel__arena_free(&a);
}

/* ==== Arena ==== */

static int fail_after; /* allocations left before failing      */

static void *failing_realloc(void *ud, void *p, size_t old, size_t n) {
  (void)ud;
  (void)old;
  if (n == 0) {
    free(p);
    return NULL;
  }
  if (fail_after-- <= 0)
    return NULL;
  return realloc(p, n);
}

TEST(reports_arena_failures_as_nomem_or_limit) {
  static const gavel__alloc failing = {failing_realloc, NULL};
  const char *doc = "{\"a\":[1,2,3,{\"b\":\"xyzzy\"}],\"c\":\"\\u00e9\"}";
  gv_arena a;
  gvalue v;
  gavel_error e;
  int n, saw_nomem = 0, saw_ok = 0;
  gavel__arena_init(&a, &gavel__default_alloc, 64);
  CHECK(gavel__json_parse(&a, doc, strlen(doc), NULL, &v, &e) == GAVEL_LIMIT);
  CHECK(strstr(e.msg, "memory limit") != NULL);
  gavel__arena_free(&a);
  for (n = 0; n < 4; n++) {
    fail_after = n;
    gavel__arena_init(&a, &failing, 0);
    switch (gavel__json_parse(&a, doc, strlen(doc), NULL, &v, &e)) {
    case GAVEL_NOMEM:
      saw_nomem++;
      break;
    case GAVEL_OK:
      saw_ok++;
      CHECK_STR(W(v), "{\"a\":[1,2,3,{\"b\":\"xyzzy\"}],\"c\":\"\xC3\xA9\"}");
      break;
    default:
      CHECK(0);
    }
    gavel__arena_free(&a);
  }
  CHECK(saw_nomem >= 1 && saw_ok >= 1);
  /* A long array spills the scratch slots to the allocator hook. */
  {
    gv_buf b;
    int i;
    gavel__buf_init(&b, &gavel__default_alloc);
    gavel__buf_addc(&b, '[');
    for (i = 0; i < 300; i++)
      gavel__buf_addf(&b, "%s{\"k\":[%d]}", i ? "," : "", i);
    gavel__buf_addc(&b, ']');
    saw_nomem = saw_ok = 0;
    for (n = 0; n < 8; n++) {
      fail_after = n;
      gavel__arena_init(&a, &failing, 0);
      switch (gavel__json_parse(&a, b.p, b.len, NULL, &v, &e)) {
      case GAVEL_NOMEM:
        saw_nomem++;
        break;
      case GAVEL_OK:
        saw_ok++;
        CHECK(v.u.a->len == 300 && v.u.a->items[299].u.o->vals[0].u.a->
                                           items[0].u.i == 299);
        break;
      default:
        CHECK(0);
      }
      gavel__arena_free(&a);
    }
    CHECK(saw_nomem >= 2 && saw_ok >= 1);
    gavel__buf_free(&b);
  }
}

/* The reader allocates from a window of the arena's chunk and settles
** the arena's accounting at the end: 'used' and the limit behave exactly
** as with one gavel__arena_alloc per value. */
TEST(accounts_arena_use_exactly_and_fails_at_the_limit) {
  /* key 16 + value 16 + object (header + 8 + 16): D bytes */
  const char *doc = "{\"a\":\"b\"}";
  const size_t D = 32 + sizeof(gv_obj) + sizeof(gv_str *) + sizeof(gvalue);
  gv_arena a;
  gvalue v;
  gavel_error e;
  gv_buf b;
  size_t lim, big;
  int i, ok = 1;
  for (lim = 0; lim <= D + 4; lim += lim ? 1 : D - 40) {
    gavel_status st;
    gavel__arena_init(&a, &gavel__default_alloc, lim);
    st = gavel__json_parse(&a, doc, strlen(doc), NULL, &v, &e);
    if (lim == 0 || lim >= D)
      ok &= st == GAVEL_OK && a.used == D;
    else
      ok &= st == GAVEL_LIMIT && a.used <= lim;
    gavel__arena_free(&a);
  }
  CHECK(ok);
  /* After other allocations, then across many chunks (5000 elements of
  ** D bytes and an array of 24 + 5000 * 16). */
  gavel__buf_init(&b, &gavel__default_alloc);
  gavel__buf_addc(&b, '[');
  for (i = 0; i < 5000; i++)
    gavel__buf_addf(&b, "%s{\"k\":\"v%03d\"}", i ? "," : "", i % 1000);
  gavel__buf_addc(&b, ']');
  big = 5000 * D + 24 + 5000 * 16;
  gavel__arena_init(&a, &gavel__default_alloc, 0);
  CHECK(gavel__arena_alloc(&a, 100) != NULL && a.used == 104);
  CHECK(gavel__json_parse(&a, doc, strlen(doc), NULL, &v, &e) == GAVEL_OK &&
        a.used == 104 + D);
  CHECK(gavel__json_parse(&a, b.p, b.len, NULL, &v, &e) == GAVEL_OK &&
        a.used == 104 + D + big);
  CHECK_STR(W(v), b.p);
  CHECK(gavel__arena_alloc(&a, 8) != NULL && a.used == 112 + D + big);
  gavel__arena_free(&a);
  gavel__arena_init(&a, &gavel__default_alloc, big);
  CHECK(gavel__json_parse(&a, b.p, b.len, NULL, &v, &e) == GAVEL_OK &&
        a.used == big);
  gavel__arena_free(&a);
  gavel__arena_init(&a, &gavel__default_alloc, big - 8);
  CHECK(gavel__json_parse(&a, b.p, b.len, NULL, &v, &e) == GAVEL_LIMIT &&
        a.used <= big - 8);
  gavel__arena_free(&a);
  gavel__buf_free(&b);
}

/* ==== Projection ==== */

static const char *const doc1 =
    "{\"user\":{\"name\":\"Ann\",\"level\":3,\"tags\":[\"a\",\"b\"]},"
    "\"score\":75,\"items\":[{\"price\":1.5,\"qty\":2},{\"price\":2.5,"
    "\"qty\":1},{\"price\":3,\"qty\":9}],\"big\":{\"x\":[1,2,3]},"
    "\"s\":\"long string that is skipped\"}";

TEST(projects_named_paths_wildcards_and_whole_nodes) {
  static const char *const p1[] = {"user.level", "score", "items.*.price",
                                    "items.1!", "big"};
  static const char *const p2[] = {"items.0.qty", "items.2!"};
  static const char *const p3[] = {"user.*.x", "user.name!"};
  static const char *const p4[] = {"nope.deeper", "user.tags.1"};
  static const char *const p5[] = {"items.+01.qty", "items.002.price"};
  CHECK_STR(PW(doc1, proj_of(p1, 5)),
            "{\"user\":{\"level\":3},\"score\":75,\"items\":[{\"price\":1.5},"
            "{\"price\":2.5,\"qty\":1},{\"price\":3}],\"big\":{}}");
  CHECK_STR(PW(doc1, proj_of(p2, 2)),
            "{\"items\":[{\"qty\":2},null,{\"price\":3,\"qty\":9}]}");
  CHECK_STR(PW(doc1, proj_of(p3, 2)),
            "{\"user\":{\"name\":\"Ann\",\"level\":3,\"tags\":[null,null]}}");
  CHECK_STR(PW(doc1, proj_of(p4, 2)), "{\"user\":{\"tags\":[null,\"b\"]}}");
  CHECK_STR(PW(doc1, proj_of(p5, 2)),
            "{\"items\":[null,{\"qty\":1},{\"price\":3}]}");
}

TEST(projection_root_is_the_node_and_whole_root_is_a_full_parse) {
  gv_proj *root = proj_node("ignored", 7);
  CHECK_STR(PW(doc1, root), "{}");
  root->whole = 1;
  {
    char full[1024];
    snprintf(full, sizeof full, "%s", PW(doc1, NULL));
    CHECK_STR(PW(doc1, root), full);
  }
  /* A scalar or array root with a projection. */
  CHECK_STR(PW("42", proj_node("x", 1)), "42");
  {
    static const char *const p[] = {"1"};
    static const char *const pw[] = {"1!"};
    /* A non-whole node without children keeps only the shape. */
    CHECK_STR(PW("[10,[20],30]", proj_of(p, 1)), "[null,[null],null]");
    CHECK_STR(PW("[10,[20],30]", proj_of(pw, 1)), "[null,[20],null]");
  }
  {
    static const char *const p[] = {"*"};
    CHECK_STR(PW("[10,[20],{\"a\":1}]", proj_of(p, 1)), "[10,[null],{}]");
  }
}

TEST(projection_matches_escaped_keys_and_keeps_duplicates_rule) {
  static const char *const p[] = {"score", "a"};
  CHECK_STR(PW("{\"\\u0073core\":5,\"b\":1}", proj_of(p, 2)),
            "{\"score\":5}");
  CHECK_STR(PW("{\"a\":1,\"b\":2,\"a\":3}", proj_of(p, 2)), "{\"a\":3}");
  {
    /* A long escaped key (decoded in the arena). */
    char doc[1400], key[600], want[700];
    static const char *pp[1];
    int i;
    for (i = 0; i < 299; i++)
      key[i] = 'k';
    key[299] = 0;
    snprintf(doc, sizeof doc, "{\"\\u006b%s\":1,\"\\u006b%sX\":2}",
             key + 1, key + 1);
    snprintf(want, sizeof want, "{\"%s\":1}", key);
    pp[0] = key;
    CHECK_STR(PW(doc, proj_of(pp, 1)), want);
  }
}

/* Keys of every length (the comparison's short, word and memcmp cases)
** differing from another key at every position: each is matched by the
** projection and a duplicate is found, unprojected and projected. */
TEST(matches_and_deduplicates_keys_of_every_length) {
  char key[48], other[48], doc[256], want[256];
  int len, pos, i, ok = 1;
  for (len = 0; len <= 40; len++)
    for (pos = 0; pos < (len ? len : 1); pos++) {
      gv_proj *root = proj_node("$", 1);
      for (i = 0; i < len; i++)
        key[i] = (char)('a' + i % 26);
      key[len] = 0;
      memcpy(other, key, (size_t)len + 1);
      other[pos] = 'Z';
      other[len ? len : 1] = 0;
      snprintf(doc, sizeof doc, "{\"%s\":1,\"%s\":2,\"%s\":3}", other, key,
               other);
      snprintf(want, sizeof want, "{\"%s\":3,\"%s\":2}", other, key);
      ok &= strcmp(PW(doc, NULL), want) == 0;
      root->child = proj_node(key, (size_t)len);
      root->child->whole = 1;
      snprintf(want, sizeof want, "{\"%s\":2}", key);
      ok &= strcmp(PW(doc, root), want) == 0;
      root->child->next = proj_node(other, strlen(other));
      root->child->next->whole = 1;
      snprintf(want, sizeof want, "{\"%s\":3,\"%s\":2}", other, key);
      ok &= strcmp(PW(doc, root), want) == 0;
    }
  CHECK(ok);
}

TEST(skipped_values_are_validated_but_not_allocated) {
  static const char *const p[] = {"keep"};
  gv_proj *pr = proj_of(p, 1);
  gvalue v;
  gavel_error e;
  gv_arena a;
  gv_buf b;
  size_t used_small, used_big;
  int i;
  CHECK(PN("{\"keep\":1,\"skip\":[1,2,tru]}", 27, pr, &v, &e) == GAVEL_JSON &&
        strlen("{\"keep\":1,\"skip\":[1,2,tru]}") == 27);
  CHECK(e.offset == 25);
  CHECK(PW("{\"keep\":1,\"skip\":\"\xC0\x80\"}", pr)[0] == 'E');
  CHECK(PW("{\"keep\":1,\"skip\":1e999}", pr)[0] == 'E');
  CHECK(PW("{\"keep\":1,\"skip\":[0.5e308, 1e308]}", pr)[0] == '{');
  CHECK(PW("{\"keep\":1,\"skip\":\"\\ud800\"}", pr)[0] == 'E');
  CHECK(PW("{\"keep\":1,\"skip\":01}", pr)[0] == 'E');
  CHECK(PW("{\"keep\":1,\"skip\":{\"a\" 1}}", pr)[0] == 'E');
  CHECK(PW("{\"keep\":1,\"skip\":[1,]}", pr)[0] == 'E');
  {
    char *deep = nest(GAVEL_MAX_JSON_DEPTH + 1, '[', ']', "");
    char doc[2048];
    snprintf(doc, sizeof doc, "{\"keep\":1,\"skip\":%s}", deep);
    CHECK(PN(doc, strlen(doc), pr, &v, &e) == GAVEL_LIMIT);
    free(deep);
  }
  /* Arena use does not grow with the skipped part. */
  gavel__buf_init(&b, &gavel__default_alloc);
  gavel__buf_adds(&b, "{\"keep\":1,\"skip\":[");
  for (i = 0; i < 2000; i++)
    gavel__buf_addf(&b, "%s{\"k%d\":\"v\\n%d\",\"f\":%d.5}", i ? "," : "", i,
                    i, i);
  gavel__buf_adds(&b, "]}");
  gavel__arena_init(&a, &gavel__default_alloc, 0);
  CHECK(gavel__json_parse(&a, "{\"keep\":1}", 10, pr, &v, &e) == GAVEL_OK);
  used_small = a.used;
  gavel__arena_reset(&a);
  CHECK(gavel__json_parse(&a, b.p, b.len, pr, &v, &e) == GAVEL_OK);
  used_big = a.used;
  CHECK(used_big == used_small);
  CHECK_STR(W(v), "{\"keep\":1}");
  gavel__arena_reset(&a);
  CHECK(gavel__json_parse(&a, b.p, b.len, NULL, &v, &e) == GAVEL_OK);
  CHECK(a.used > 100 * used_small);
  gavel__arena_free(&a);
  gavel__buf_free(&b);
}

/* ==== Random documents ==== */

static void gen_str(gv_buf *b) {
  int i, n = rndn(12);
  gavel__buf_addc(b, '"');
  for (i = 0; i < n; i++) {
    switch (rndn(12)) {
    case 0:
      gavel__buf_adds(b, (const char *[]){"\\n", "\\\"", "\\\\", "\\/", "\\b",
                                          "\\f", "\\r", "\\t"}[rndn(8)]);
      break;
    case 1: { /* BMP escape, no surrogate, no NUL */
      unsigned u = 1 + (unsigned)rndn(0xFFFE);
      if (u >= 0xD800 && u <= 0xDFFF)
        u = 0xE000;
      gavel__buf_addf(b, rndn(2) ? "\\u%04x" : "\\u%04X", u);
      break;
    }
    case 2: { /* surrogate pair */
      unsigned c = 0x10000 + (unsigned)rndn(0x100000);
      gavel__buf_addf(b, "\\u%04x\\u%04x", 0xD800 + ((c - 0x10000) >> 10),
                      0xDC00 + ((c - 0x10000) & 0x3FF));
      break;
    }
    case 3:
      gavel__buf_adds(b, (const char *[]){"\xC3\xA9", "\xE2\x82\xAC",
                                          "\xF0\x9F\x98\x80", "\xED\x9F\xBF",
                                          "\xF4\x8F\xBF\xBF"}[rndn(5)]);
      break;
    default: {
      char c = (char)(' ' + rndn(95));
      gavel__buf_addc(b, c == '"' || c == '\\' ? 'q' : c);
    }
    }
  }
  gavel__buf_addc(b, '"');
}

static void gen_ws(gv_buf *b) {
  if (rndn(4) == 0)
    gavel__buf_adds(b, (const char *[]){" ", "\n", "\t", "\r\n  "}[rndn(4)]);
}

static void gen_num(gv_buf *b) {
  switch (rndn(6)) {
  case 0:
    gavel__buf_addf(b, "%d", rndn(2000) - 1000);
    break;
  case 1:
    gavel__buf_addf(b, "%lld",
                    (long long)(rnd() % (1ull << 53)) * (rndn(2) ? 1 : -1));
    break;
  case 2:
    gavel__buf_addf(b, "%s%d.%0*d", rndn(2) ? "-" : "", rndn(100000),
                    1 + rndn(8), rndn(100000000));
    break;
  case 3:
    gavel__buf_addf(b, "%d%s%d", rndn(1000), (const char *[]){"e", "E", "e+",
                                                              "e-"}[rndn(4)],
                    rndn(300));
    break;
  case 4:
    gavel__buf_addf(b, "%.*g", 1 + rndn(17),
                    ldexp((double)(rnd() >> 11), rndn(200) - 100));
    break;
  default:
    gavel__buf_adds(b, (const char *[]){"0", "-0", "0.0", "-0.0", "1e-400",
                                        "2.5E-3", "0.1"}[rndn(7)]);
  }
}

static void gen_value(gv_buf *b, int depth) {
  int i, n, k = rndn(depth > 4 ? 6 : 9);
  gen_ws(b);
  switch (k) {
  case 0:
    gavel__buf_adds(b, (const char *[]){"null", "true", "false"}[rndn(3)]);
    break;
  case 1: case 2: case 3:
    gen_num(b);
    break;
  case 4: case 5:
    gen_str(b);
    break;
  case 6:
    n = rndn(6);
    gavel__buf_addc(b, '[');
    for (i = 0; i < n; i++) {
      if (i)
        gavel__buf_addc(b, ',');
      gen_value(b, depth + 1);
    }
    gen_ws(b);
    gavel__buf_addc(b, ']');
    break;
  default:
    n = rndn(6);
    gavel__buf_addc(b, '{');
    for (i = 0; i < n; i++) {
      if (i)
        gavel__buf_addc(b, ',');
      gen_ws(b);
      /* Unique keys: the text after the last '#' is the index. */
      gen_str(b);
      b->len--; /* reopen the string */
      gavel__buf_addf(b, "#%d\"", i);
      gen_ws(b);
      gavel__buf_addc(b, ':');
      gen_value(b, depth + 1);
    }
    gen_ws(b);
    gavel__buf_addc(b, '}');
  }
  gen_ws(b);
}

/* ==== Reference: an independent, strict RFC 8259 validator ==== */

typedef struct rv {
  const unsigned char *p; /* cursor                         */
  const unsigned char *e; /* end                            */
} rv;

static void rv_ws(rv *r) {
  while (r->p < r->e && strchr(" \t\n\r", *r->p) && *r->p)
    r->p++;
}

static int rv_hex4(const unsigned char *p, const unsigned char *e,
                   unsigned *u) {
  int i;
  *u = 0;
  if (e - p < 4)
    return 0;
  for (i = 0; i < 4; i++) {
    if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
      return 0;
    *u = *u * 16 + (unsigned)(p[i] <= '9' ? p[i] - '0' : (p[i] | 32) - 87);
  }
  return 1;
}

static int rv_str(rv *r) {
  static const unsigned minv[5] = {0, 0, 0x80, 0x800, 0x10000};
  for (r->p++;;) {
    unsigned c, u, l;
    int n, i;
    if (r->p >= r->e)
      return 0;
    c = *r->p;
    if (c == '"') {
      r->p++;
      return 1;
    }
    if (c < 0x20)
      return 0;
    if (c == '\\') {
      if (r->e - r->p < 2)
        return 0;
      c = r->p[1];
      if (c && strchr("\"\\/bfnrt", (int)c)) {
        r->p += 2;
        continue;
      }
      if (c != 'u' || !rv_hex4(r->p + 2, r->e, &u))
        return 0;
      r->p += 6;
      if (u >= 0xDC00 && u <= 0xDFFF)
        return 0;
      if (u >= 0xD800 && u <= 0xDBFF) {
        if (r->e - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u' ||
            !rv_hex4(r->p + 2, r->e, &l) || l < 0xDC00 || l > 0xDFFF)
          return 0;
        r->p += 6;
      }
      continue;
    }
    if (c < 0x80) {
      r->p++;
      continue;
    }
    n = c >= 0xF8 ? 0 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (!n || r->e - r->p < n)
      return 0;
    u = c & (0x7Fu >> n);
    for (i = 1; i < n; i++) {
      if ((r->p[i] & 0xC0) != 0x80)
        return 0;
      u = (u << 6) | (r->p[i] & 0x3Fu);
    }
    if (u < minv[n] || u > 0x10FFFF || (u >= 0xD800 && u <= 0xDFFF))
      return 0;
    r->p += n;
  }
}

static int rv_num(rv *r) {
  const unsigned char *b = r->p;
  char tmp[512];
  size_t n;
  if (r->p < r->e && *r->p == '-')
    r->p++;
  if (r->p >= r->e || !isdigit(*r->p))
    return 0;
  if (*r->p == '0')
    r->p++;
  else
    while (r->p < r->e && isdigit(*r->p))
      r->p++;
  if (r->p < r->e && *r->p == '.') {
    if (++r->p >= r->e || !isdigit(*r->p))
      return 0;
    while (r->p < r->e && isdigit(*r->p))
      r->p++;
  }
  if (r->p < r->e && (*r->p == 'e' || *r->p == 'E')) {
    r->p++;
    if (r->p < r->e && (*r->p == '+' || *r->p == '-'))
      r->p++;
    if (r->p >= r->e || !isdigit(*r->p))
      return 0;
    while (r->p < r->e && isdigit(*r->p))
      r->p++;
  }
  n = (size_t)(r->p - b);
  if (n >= sizeof tmp)
    return 1; /* generated numbers are short */
  memcpy(tmp, b, n);
  tmp[n] = 0;
  return !isinf(strtod(tmp, NULL));
}

static int rv_val(rv *r, int depth) {
  rv_ws(r);
  if (r->p >= r->e)
    return 0;
  if (*r->p == '"')
    return rv_str(r);
  if (*r->p == '-' || isdigit(*r->p))
    return rv_num(r);
  if (*r->p == '[' || *r->p == '{') {
    int obj = *r->p == '{';
    if (depth >= GAVEL_MAX_JSON_DEPTH)
      return 0;
    r->p++;
    rv_ws(r);
    if (r->p < r->e && *r->p == (obj ? '}' : ']')) {
      r->p++;
      return 1;
    }
    for (;;) {
      if (obj) {
        rv_ws(r);
        if (r->p >= r->e || *r->p != '"' || !rv_str(r))
          return 0;
        rv_ws(r);
        if (r->p >= r->e || *r->p++ != ':')
          return 0;
      }
      if (!rv_val(r, depth + 1))
        return 0;
      rv_ws(r);
      if (r->p >= r->e)
        return 0;
      if (*r->p == ',') {
        r->p++;
        continue;
      }
      if (*r->p++ == (obj ? '}' : ']'))
        return 1;
      return 0;
    }
  }
  {
    static const char *const lits[] = {"true", "false", "null"};
    int i;
    for (i = 0; i < 3; i++) {
      size_t n = strlen(lits[i]);
      if ((size_t)(r->e - r->p) >= n && memcmp(r->p, lits[i], n) == 0) {
        r->p += n;
        return 1;
      }
    }
  }
  return 0;
}

static int ref_valid(const char *s, size_t n) {
  rv r;
  r.p = (const unsigned char *)s;
  r.e = r.p + n;
  if (!rv_val(&r, 0))
    return 0;
  rv_ws(&r);
  return r.p == r.e;
}

/* 1 equal, 0 different, -1 not comparable (cJSON duplicate keys). */
static int cj_eq(gvalue v, const cJSON *c) {
  uint32_t i;
  const cJSON *k;
  int r;
  switch (v.tag) {
  case GV_NULL:
    return cJSON_IsNull(c);
  case GV_BOOL:
    return v.u.i ? cJSON_IsTrue(c) : cJSON_IsFalse(c);
  case GV_INT:
    if (!cJSON_IsNumber(c))
      return 0;
    if (v.u.i > (1ll << 53) || v.u.i < -(1ll << 53))
      return -1;
    return (double)v.u.i == c->valuedouble;
  case GV_FLOAT:
    return cJSON_IsNumber(c) && bits_eq(v.u.f, c->valuedouble);
  case GV_STR:
    if (!cJSON_IsString(c) || memchr(v.u.s->s, 0, v.u.s->len))
      return cJSON_IsString(c) ? -1 : 0;
    return strlen(c->valuestring) == v.u.s->len &&
           memcmp(c->valuestring, v.u.s->s, v.u.s->len) == 0;
  case GV_ARR:
    if (!cJSON_IsArray(c) || cJSON_GetArraySize(c) != (int)v.u.a->len)
      return 0;
    for (i = 0, k = c->child; i < v.u.a->len; i++, k = k->next)
      if ((r = cj_eq(v.u.a->items[i], k)) != 1)
        return r;
    return 1;
  case GV_OBJ:
    if (!cJSON_IsObject(c))
      return 0;
    if (cJSON_GetArraySize(c) != (int)v.u.o->len)
      return -1; /* duplicates: cJSON keeps them all */
    for (i = 0, k = c->child; i < v.u.o->len; i++, k = k->next) {
      if (strlen(k->string) != v.u.o->keys[i]->len ||
          memcmp(k->string, v.u.o->keys[i]->s, v.u.o->keys[i]->len) != 0)
        return memchr(v.u.o->keys[i]->s, 0, v.u.o->keys[i]->len) ? -1 : 0;
      if ((r = cj_eq(v.u.o->vals[i], k)) != 1)
        return r;
    }
    return 1;
  }
  return 0;
}

static void mutate(gv_buf *b) {
  static const char pool[] = "{}[]:,\"\\ 0123456789eE.-+tfnua\x01\x7f"
                             "\x80\xC0\xE0\xED\xF4\xFF\n";
  size_t pos = b->len ? (size_t)rndn((int)b->len) : 0;
  char c = pool[rndn((int)sizeof pool - 1)];
  switch (rndn(5)) {
  case 0: /* replace */
    if (b->len)
      b->p[pos] = c;
    break;
  case 1: /* delete */
    if (b->len) {
      memmove(b->p + pos, b->p + pos + 1, b->len - pos - 1);
      b->len--;
    }
    break;
  case 2: /* insert */
    if (gavel__buf_reserve(b, 1)) {
      memmove(b->p + pos + 1, b->p + pos, b->len - pos);
      b->p[pos] = c;
      b->len++;
    }
    break;
  case 3: /* truncate */
    b->len = pos;
    break;
  default: /* duplicate a slice */
  {
    size_t n = (size_t)rndn(8);
    if (pos + n <= b->len && gavel__buf_reserve(b, n)) {
      memmove(b->p + pos + n, b->p + pos, b->len - pos);
      b->len += n;
    }
  }
  }
  if (b->cap)
    b->p[b->len] = 0;
}

TEST(agrees_with_cjson_and_a_strict_reference_on_random_documents) {
  static const char *const pp[] = {"*.0!", "a#0.*", "#1.#2!", "0.1"};
  gv_proj *proj = proj_of(pp, 4);
  gv_buf b;
  int i, m, disagree_ref = 0, cjson_stricter = 0, diff_value = 0;
  int n_valid = 0, n_invalid = 0, n_compared = 0, proj_differs = 0;
  gavel__buf_init(&b, &gavel__default_alloc);
  rng_s = 0x1234567;
  for (i = 0; i < 6000; i++) {
    gv_buf d;
    gavel__buf_clear(&b);
    gen_value(&b, 0);
    for (m = 0; m < 12; m++) {
      gvalue v;
      cJSON *c;
      int ours, ref;
      if (m > 0) { /* 1..3 mutations of the original */
        int j, k = 1 + rndn(3);
        gavel__buf_init(&d, &gavel__default_alloc);
        gavel__buf_add(&d, b.p, b.len);
        for (j = 0; j < k; j++)
          mutate(&d);
      } else {
        gavel__buf_init(&d, &gavel__default_alloc);
        gavel__buf_add(&d, b.p, b.len);
      }
      {
        /* Validity and error position never depend on the projection. */
        gavel_error e1, e2;
        gvalue pv;
        gavel_status s1 = PN(d.p, d.len, NULL, &v, &e1);
        gavel_status s2 = PN(d.p, d.len, proj, &pv, &e2);
        ours = s1 == GAVEL_OK;
        if (s1 != s2 || (s1 != GAVEL_OK && (e1.offset != e2.offset ||
                                            strcmp(e1.msg, e2.msg) != 0)))
          proj_differs++;
      }
      ref = ref_valid(d.p, d.len);
      if (m == 0 && !ours) {
        fprintf(stderr, "  generated doc rejected: %s\n", d.p);
        disagree_ref++;
      }
      if (ours != ref) {
        if (disagree_ref++ < 5)
          fprintf(stderr, "  ours %d ref %d: %.*s\n", ours, ref, (int)d.len,
                  d.p);
      }
      n_valid += ours;
      n_invalid += !ours;
      c = cJSON_ParseWithLengthOpts(d.p, d.len + 1, NULL, 1);
      if (!c && ours) {
        if (cjson_stricter++ < 5)
          fprintf(stderr, "  cJSON rejects: %.*s\n", (int)d.len, d.p);
      }
      if (c && ours) {
        int r = cj_eq(v, c);
        n_compared += r == 1;
        if (r == 0 && diff_value++ < 5)
          fprintf(stderr, "  value differs: %.*s\n", (int)d.len, d.p);
      }
      cJSON_Delete(c);
      gavel__buf_free(&d);
    }
  }
  gavel__buf_free(&b);
  CHECK(disagree_ref == 0);
  CHECK(proj_differs == 0);
  CHECK(cjson_stricter == 0);
  CHECK(diff_value == 0);
  CHECK(n_valid > 10000 && n_invalid > 20000 && n_compared > 8000);
}

/* Checks 'pv' (projected parse) against 'fv' (full parse) under the set of
** projection nodes 'ns' (none whole): the semantics of json.h. */
static int proj_ok(gvalue fv, gvalue pv, const gv_proj *const *ns, int nn) {
  const gv_proj *sub[64];
  const gv_proj *c;
  uint32_t i;
  int j, ns2, whole;
  if (fv.tag == GV_OBJ) {
    uint32_t kept = 0;
    if (pv.tag != GV_OBJ)
      return 0;
    for (i = 0; i < fv.u.o->len; i++) {
      const gv_str *k = fv.u.o->keys[i];
      gvalue *got;
      ns2 = 0;
      whole = 0;
      for (j = 0; j < nn; j++)
        for (c = ns[j]->child; c; c = c->next)
          if ((c->key_len == 1 && c->key[0] == '*') ||
              gavel__str_eqn(k, c->key, c->key_len)) {
            whole |= c->whole || ns2 == 8; /* json.c's PSET_MAX */
            sub[ns2++] = c;
          }
      got = gavel__obj_get(pv.u.o, k->s, k->len);
      if (!ns2) {
        if (got)
          return 0;
        continue;
      }
      if (!got || !gavel__str_eq(pv.u.o->keys[kept], k))
        return 0;
      kept++;
      if (whole ? !deep_eq(fv.u.o->vals[i], *got)
                : !proj_ok(fv.u.o->vals[i], *got, sub, ns2))
        return 0;
    }
    return kept == pv.u.o->len;
  }
  if (fv.tag == GV_ARR) {
    if (pv.tag != GV_ARR || pv.u.a->len != fv.u.a->len)
      return 0;
    for (i = 0; i < fv.u.a->len; i++) {
      char num[16];
      snprintf(num, sizeof num, "%u", i);
      ns2 = 0;
      whole = 0;
      for (j = 0; j < nn; j++)
        for (c = ns[j]->child; c; c = c->next)
          if ((c->key_len == 1 && c->key[0] == '*') ||
              (c->key_len == strlen(num) &&
               !memcmp(c->key, num, c->key_len))) {
            whole |= c->whole || ns2 == 8;
            sub[ns2++] = c;
          }
      if (!ns2 ? pv.u.a->items[i].tag != GV_NULL
               : whole ? !deep_eq(fv.u.a->items[i], pv.u.a->items[i])
                       : !proj_ok(fv.u.a->items[i], pv.u.a->items[i], sub,
                                  ns2))
        return 0;
    }
    return 1;
  }
  return deep_eq(fv, pv);
}

/* Adds random paths of 'v' to 'root' (random '*' and whole marks). */
static void rand_paths(gvalue v, gv_proj *root, char *path, size_t plen) {
  uint32_t i;
  uint32_t n = v.tag == GV_OBJ ? v.u.o->len : v.tag == GV_ARR ? v.u.a->len : 0;
  if (n == 0 || rndn(5) == 0) {
    if (plen) {
      path[plen] = 0;
      if (rndn(3) == 0) {
        path[plen] = '!';
        path[plen + 1] = 0;
      }
      proj_add(root, path);
    }
    return;
  }
  for (i = 0; i < n; i++) {
    size_t l = plen;
    if (rndn(3))
      continue;
    if (l)
      path[l++] = '.';
    if (rndn(6) == 0)
      path[l++] = '*';
    else if (v.tag == GV_ARR)
      l += (size_t)snprintf(path + l, 16, "%u", i);
    else {
      const gv_str *k = v.u.o->keys[i];
      if (k->len > 100 || memchr(k->s, '.', k->len) ||
          memchr(k->s, '!', k->len) || (k->len == 1 && k->s[0] == '*'))
        continue;
      memcpy(path + l, k->s, k->len);
      l += k->len;
    }
    rand_paths(v.tag == GV_ARR ? v.u.a->items[i] : v.u.o->vals[i], root, path,
               l);
  }
}

/* Every pair of bytes at positions 0..9 of a 20-byte string body, across
** the word scan's boundary at 8: the reader accepts exactly what the
** reference validator accepts, and reads an accepted body without a
** backslash back unchanged. */
TEST(scans_every_byte_pair_across_string_words_like_the_reference) {
  char doc[24];
  int pos, a, b, ok = 1;
  for (pos = 0; pos < 10; pos++) {
    for (a = 0; a < 256; a++)
      for (b = 0; b < 256; b++) {
        gvalue v;
        int ref;
        memset(doc, 'x', sizeof doc);
        doc[0] = '"';
        doc[1 + pos] = (char)a;
        doc[2 + pos] = (char)b;
        doc[21] = '"';
        ref = ref_valid(doc, 22);
        if ((PN(doc, 22, NULL, &v, NULL) == GAVEL_OK) != ref)
          ok = 0;
        else if (ref && a != '\\' && b != '\\' &&
                 (v.tag != GV_STR || v.u.s->len != 20 ||
                  memcmp(v.u.s->s, doc + 1, 20) != 0))
          ok = 0;
      }
    gavel__arena_reset(&ta);
  }
  CHECK(ok);
}

TEST(random_projections_read_what_a_full_parse_reads) {
  gv_buf b;
  int i, bad = 0, checked = 0, paths = 0;
  char path[4096];
  gavel__buf_init(&b, &gavel__default_alloc);
  rng_s = 0xfeedbeef;
  for (i = 0; i < 4000; i++) {
    gvalue fv, pv, x, y;
    gv_proj *root = proj_node("$", 1);
    const gv_proj *top[1];
    const gv_proj *c;
    gavel__buf_clear(&b);
    gen_value(&b, 0);
    if (PN(b.p, b.len, NULL, &fv, NULL) != GAVEL_OK)
      continue;
    rand_paths(fv, root, path, 0);
    if (PN(b.p, b.len, root, &pv, NULL) != GAVEL_OK) {
      bad++;
      continue;
    }
    top[0] = root;
    checked++;
    if (!proj_ok(fv, pv, top, 1)) {
      if (bad++ < 3)
        fprintf(stderr, "  projection mismatch: %s -> %s\n", b.p, W(pv));
    }
    /* Every concrete first-level path reads the same value. */
    for (c = root->child; c; c = c->next) {
      char seg[256];
      if (c->key_len >= sizeof seg || (c->key_len == 1 && c->key[0] == '*'))
        continue;
      memcpy(seg, c->key, c->key_len);
      seg[c->key_len] = 0;
      if (!c->whole || strchr(seg, '.'))
        continue;
      paths++;
      if (get_path(fv, seg, &x) != get_path(pv, seg, &y) ||
          (get_path(fv, seg, &x) && !deep_eq(x, y)))
        bad++;
    }
  }
  gavel__buf_free(&b);
  CHECK(bad == 0);
  CHECK(checked > 3000 && paths > 100);
}

/* ==== Writer ==== */

TEST(writes_compact_json_with_escapes) {
  gvalue v;
  char raw[40];
  int i;
  for (i = 0; i < 32; i++)
    raw[i] = (char)i;
  CHECK(P("\"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f\\\"\\\\/\x7f"
          "\xC3\xA9\"",
          &v) == GAVEL_OK);
  CHECK_STR(W(v), "\"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f\\\"\\\\/\x7f"
                  "\xC3\xA9\"");
  gavel__buf_clear(&tb);
  gavel__json_write_str(&tb, raw, 32);
  CHECK_STR(tb.p, "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007"
                  "\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012"
                  "\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a"
                  "\\u001b\\u001c\\u001d\\u001e\\u001f\"");
  CHECK_STR(W(gv_int(INT64_MIN)), "-9223372036854775808");
  CHECK_STR(W(gv_int(INT64_MAX)), "9223372036854775807");
  CHECK_STR(W(gv_float(3.0)), "3.0");
  CHECK_STR(W(gv_float(-0.0)), "-0.0");
  CHECK_STR(W(gv_float(NAN)), "null");
  CHECK_STR(W(gv_float(INFINITY)), "null");
  CHECK_STR(W(gv_float(-INFINITY)), "null");
  CHECK_STR(W(gv_missing()), "null");
  CHECK_STR(W(gv_bool(1)), "true");
  CHECK_STR(PW(" { \"a\" : [ 1 , 2.50 , -0 , 1E2 , \"x\" ] , \"b\" : { } } ",
               NULL),
            "{\"a\":[1,2.5,-0.0,100.0,\"x\"],\"b\":{}}");
}

TEST(write_then_parse_round_trips_byte_identically) {
  gv_buf b;
  int i, bad = 0;
  char first[8192];
  gavel__buf_init(&b, &gavel__default_alloc);
  rng_s = 0xabcdef;
  for (i = 0; i < 20000; i++) {
    gvalue v1, v2;
    const char *t;
    gavel__buf_clear(&b);
    gen_value(&b, 0);
    if (PN(b.p, b.len, NULL, &v1, NULL) != GAVEL_OK) {
      bad++;
      continue;
    }
    t = W(v1);
    if (strlen(t) >= sizeof first)
      continue;
    snprintf(first, sizeof first, "%s", t);
    if (P(first, &v2) != GAVEL_OK || !deep_eq(v1, v2) ||
        strcmp(W(v2), first) != 0)
      bad++;
  }
  gavel__buf_free(&b);
  CHECK(bad == 0);
}

/* ==== Number formatting ==== */

static double from_bits(uint64_t u) {
  double d;
  memcpy(&d, &u, 8);
  return d;
}

/* Expected strings derived with Python's repr (shortest round-trip, ties
** to the closest) laid out by ryu's rules. */
static const struct {
  uint64_t bits;    /* the double                          */
  const char *json; /* serde_json / ryu form               */
  const char *disp; /* Rust Display form (NULL: long)      */
} fmt_cases[] = {
    {0x0060000000000000ull, "7.120236347223045e-307", NULL},
    {0x8100000000000000ull, "-7.291122019556398e-304", NULL},
    {0x4790000000000000ull, "5.316911983139664e36",
     "5316911983139664000000000000000000000"},
    {0x20f0000000000000ull, "4.887898181599368e-150", NULL},
    {0x0000000000000001ull, "5e-324", NULL},
    {0x8000000000000001ull, "-5e-324", NULL},
    {0x7fe0000000000000ull, "8.98846567431158e307", NULL},
    {0x0010000000000000ull, "2.2250738585072014e-308", NULL},
    {0x7fefffffffffffffull, "1.7976931348623157e308", NULL},
    {0x000fffffffffffffull, "2.225073858507201e-308", NULL},
    {0x0000100000000001ull, "8.6916947597942e-311", NULL},
    {0x000000000000000full, "7.4e-323", NULL},
    {0x4340000000000000ull, "9007199254740992.0", "9007199254740992"},
    {0xc3e0000000000000ull, "-9223372036854776000.0",
     "-9223372036854776000"},
    {0x43f0000000000000ull, "18446744073709552000.0",
     "18446744073709552000"},
    {0x44b52d02c7e14af6ull, "1e23", "100000000000000000000000"},
    {0x441ac53a7e04bcdaull, "123456789012345680000.0",
     "123456789012345680000"},
    {0x3fd3333333333334ull, "0.30000000000000004", "0.30000000000000004"},
    {0xbfd5555555555555ull, "-0.3333333333333333", "-0.3333333333333333"},
    {0x3fe5555555555555ull, "0.6666666666666666", "0.6666666666666666"},
    {0x4059000000000000ull, "100.0", "100"},
    {0x3eb0c6f7a0b5ed8dull, "0.000001", "0.000001"},
    {0x3e7ad7f29abcaf48ull, "1e-7", "0.0000001"},
    {0xbe8421f5f40d8376ull, "-1.5e-7", "-0.00000015"},
    {0x3e80823f71155233ull, "1.23e-7", "0.000000123"},
    {0x444b1ae4d6e2ef50ull, "1e21", "1000000000000000000000"},
    {0xc480f0cf064dd592ull, "-1e22", "-10000000000000000000000"},
    {0x444b1ae4d6e2ef4full, "999999999999999900000.0",
     "999999999999999900000"},
    {0x4415af1d78b58c40ull, "100000000000000000000.0",
     "100000000000000000000"},
    {0x4011666666666666ull, "4.35", "4.35"},
    {0x3ff0147ae147ae14ull, "1.005", "1.005"},
    {0xc03dfd70a3d70a3dull, "-29.99", "-29.99"},
    {0x3ea0c6f7a0b5ed8dull, "5e-7", "0.0000005"},
    {0x3eb4b3fd5942cd96ull, "0.000001234", "0.000001234"},
    {0x4028ae147ae147aeull, "12.34", "12.34"},
    {0x54b249ad2594c37dull, "1e100", NULL},
    {0x7e41eb2d66005835ull, "1.5e300", NULL},
    {0x01bac9a7b3b7302full, "2.5e-300", NULL},
    {0x47efffffe54daff8ull, "3.4028235e38",
     "340282350000000000000000000000000000000"},
    {0x3810000000000000ull, "1.1754943508222875e-38",
     "0.000000000000000000000000000000000000011754943508222875"},
    {0x44dfe185ca57c517ull, "6.02214076e23", "602214076000000000000000"},
    {0x3c07a4da290c1653ull, "1.602176634e-19",
     "0.0000000000000000001602176634"},
};

TEST(formats_doubles_like_ryu_and_rust_display) {
  static const struct {
    double d;
    const char *json, *disp;
  } simple[] = {
      {0.0, "0.0", "0"},
      {-0.0, "-0.0", "-0"},
      {1.0, "1.0", "1"},
      {3.0, "3.0", "3"},
      {-2.0, "-2.0", "-2"},
      {0.1, "0.1", "0.1"},
      {0.0001, "0.0001", "0.0001"},
      {0.00001, "0.00001", "0.00001"},
      {1e15, "1000000000000000.0", "1000000000000000"},
      {1e16, "10000000000000000.0", "10000000000000000"},
      {1e20, "100000000000000000000.0", "100000000000000000000"},
      {1e21, "1e21", "1000000000000000000000"},
      {1.5e21, "1.5e21", "1500000000000000000000"},
      {1e-7, "1e-7", "0.0000001"},
      {1.5e-7, "1.5e-7", "0.00000015"},
      {1.234e33, "1.234e33", "1234000000000000000000000000000000"},
      {12.34, "12.34", "12.34"},
      {-1.5, "-1.5", "-1.5"},
      {75.5, "75.5", "75.5"},
      {123456.789, "123456.789", "123456.789"},
      {1e-300, "1e-300", NULL},
  };
  char buf[400];
  size_t i, n;
  for (i = 0; i < sizeof simple / sizeof *simple; i++) {
    n = gavel__fmt_double_json(buf, simple[i].d);
    CHECK_STR(buf, simple[i].json);
    CHECK(n == strlen(simple[i].json));
    if (simple[i].disp) {
      n = gavel__fmt_double_display(buf, simple[i].d);
      CHECK_STR(buf, simple[i].disp);
      CHECK(n == strlen(simple[i].disp));
    }
  }
  for (i = 0; i < sizeof fmt_cases / sizeof *fmt_cases; i++) {
    double d = from_bits(fmt_cases[i].bits);
    gavel__fmt_double_json(buf, d);
    CHECK_STR(buf, fmt_cases[i].json);
    gavel__fmt_double_json(buf, -d);
    CHECK(d < 0 ? strcmp(buf, fmt_cases[i].json + 1) == 0
                : buf[0] == '-' && strcmp(buf + 1, fmt_cases[i].json) == 0);
    if (fmt_cases[i].disp) {
      gavel__fmt_double_display(buf, d);
      CHECK_STR(buf, fmt_cases[i].disp);
    }
  }
  gavel__fmt_double_display(buf, NAN);
  CHECK_STR(buf, "NaN");
  gavel__fmt_double_display(buf, INFINITY);
  CHECK_STR(buf, "inf");
  gavel__fmt_double_display(buf, -INFINITY);
  CHECK_STR(buf, "-inf");
  /* Longest outputs. */
  n = gavel__fmt_double_display(buf, -5e-324);
  CHECK(n == 327 && memcmp(buf, "-0.000", 6) == 0 && buf[326] == '5' &&
        strspn(buf + 3, "0") == 323);
  n = gavel__fmt_double_display(buf, -1.7976931348623157e308);
  CHECK(n == 310 && memcmp(buf, "-17976931348623157", 18) == 0 &&
        strspn(buf + 18, "0") == 292);
  n = gavel__fmt_double_json(buf, -2.2250738585072014e-308);
  CHECK(n == strlen("-2.2250738585072014e-308"));
}

/* Significant digits of a formatted number (before any 'e'). */
static int sig_digits(const char *s) {
  char dig[400];
  int n = 0, b = 0;
  for (; *s && *s != 'e'; s++)
    if (*s >= '0' && *s <= '9')
      dig[n++] = *s;
  while (b < n && dig[b] == '0')
    b++;
  while (n > b && dig[n - 1] == '0')
    n--;
  return n - b;
}

TEST(formats_shortest_round_trip_for_random_doubles) {
  char buf[400], fewer[64];
  int i, bad = 0, k;
  rng_s = 0x5eed;
  for (i = 0; i < 100000; i++) {
    double d = from_bits(rnd()), back;
    size_t n;
    if (!isfinite(d))
      continue;
    n = gavel__fmt_double_json(buf, d);
    if (gavel__parse_double(buf, n, &back) != 0 || !bits_eq(back, d))
      bad++;
    /* The closest decimal with one digit fewer must not round-trip. */
    if ((k = sig_digits(buf)) > 1) {
      snprintf(fewer, sizeof fewer, "%.*e", k - 2, d);
      if (strtod(fewer, NULL) == d)
        bad++;
    }
    n = gavel__fmt_double_display(buf, d);
    if (gavel__parse_double(buf, n, &back) != 0 || !bits_eq(back, d) ||
        sig_digits(buf) != k)
      bad++;
  }
  CHECK(bad == 0);
}

TEST(formatting_and_parsing_ignore_the_process_locale) {
  static const char *const locs[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8",
                                     "de_DE", "ru_RU.UTF-8"};
  size_t i;
  char buf[64];
  double d;
  const char *set = NULL;
  for (i = 0; i < sizeof locs / sizeof *locs && !set; i++)
    set = setlocale(LC_ALL, locs[i]);
  if (!set)
    fprintf(stderr, "  (no comma-decimal locale installed; checked in C)\n");
  gavel__fmt_double_json(buf, 1234.5);
  CHECK_STR(buf, "1234.5");
  gavel__fmt_double_json(buf, 0.30000000000000004);
  CHECK_STR(buf, "0.30000000000000004");
  gavel__fmt_double_display(buf, 1.5e-7);
  CHECK_STR(buf, "0.00000015");
  CHECK(gavel__parse_double("2.5", 3, &d) == 0 && d == 2.5);
  CHECK(gavel__parse_double("2.2250738585072011e-308", 23, &d) == 0 &&
        d == 2.2250738585072011e-308);
  CHECK_STR(PW("[1.5,2.25e-3]", NULL), "[1.5,0.00225]");
  setlocale(LC_ALL, "C");
}

/* json_marshal's float text (issue 13): plain in [1e-5, 1e16), else
** exponent form with an explicit '+' on positive exponents. */
TEST(formats_json_marshal_floats_as_ordo) {
  static const struct {
    double d;
    const char *want;
  } cases[] = {{1e16, "1e+16"},
               {9999999999999998.0, "9999999999999998.0"},
               {1.5e300, "1.5e+300"},
               {2.5e-7, "2.5e-7"},
               {1e-5, "0.00001"},
               {9.99e-6, "9.99e-6"},
               {1.2345e-5, "0.000012345"},
               {-3e16, "-3e+16"},
               {1.7976931348623157e308, "1.7976931348623157e+308"},
               {5e-324, "5e-324"},
               {0.0, "0.0"},
               {-0.0, "-0.0"},
               {123.0, "123.0"},
               {0.1, "0.1"},
               {1e15, "1000000000000000.0"}};
  char buf[40];
  size_t i;
  for (i = 0; i < sizeof cases / sizeof *cases; i++) {
    size_t n = gavel__fmt_double_marshal(buf, cases[i].d);
    CHECK_STR(buf, cases[i].want);
    CHECK(n == strlen(cases[i].want));
  }
  /* result JSON keeps the shortest round-trip form without exponent */
  gavel__fmt_double_json(buf, 1e16);
  CHECK_STR(buf, "10000000000000000.0");
}

/* ==== Display ==== */

TEST(displays_values_as_ordo_does) {
  gvalue v;
  CHECK(P("[1, 2.0, \"a\", null, true, {\"k\": [0.1, -0.0]}, []]", &v) ==
        GAVEL_OK);
  CHECK_STR(D(v), "[1, 2, \"a\", null, true, {\"k\": [0.1, -0]}, []]");
  CHECK(P("{\"b\":1,\"a\":{\"x\":\"q\\\"uote\"},\"c\":{}}", &v) == GAVEL_OK);
  CHECK_STR(D(v), "{\"b\": 1, \"a\": {\"x\": \"q\"uote\"}, \"c\": {}}");
  CHECK_STR(D(gv_float(1e21)), "1000000000000000000000");
  CHECK_STR(D(gv_float(1e-7)), "0.0000001");
  CHECK_STR(D(gv_float(NAN)), "NaN");
  CHECK_STR(D(gv_float(-INFINITY)), "-inf");
  CHECK_STR(D(gv_int(-42)), "-42");
  CHECK_STR(D(gv_null()), "null");
  CHECK_STR(D(gv_missing()), "null");
  CHECK_STR(D(gv_bool(0)), "false");
  CHECK(P("\"line\\nbreak\"", &v) == GAVEL_OK);
  CHECK_STR(D(v), "\"line\nbreak\"");
}

TEST_MAIN()
