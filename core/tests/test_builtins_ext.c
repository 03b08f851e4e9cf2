/*
** test_builtins_ext.c -- C tests of builtins_ext.c: every extended builtin
** called directly from gavel__builtins_ext[] with hand-built values.
**
** Each call runs in a fresh arena and gv_rt; results are compared as
** compact JSON text (json.c's writer) or as "error: <kind>: <message>".
** Known vectors: RFC 4648 (base64/base16), RFC 1321 (MD5), FIPS 180-2
** (SHA-256), RFC 4231 (HMAC-SHA256), jwt.io's HS256 token.
*/
#include "builtins_ext.h"
#include "json.h"
#include "tinytest.h"
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

/* ==== Harness ==== */

static gv_arena A;
static int A_init;
static char OUT[8192];

/* At exit: free the arena and this thread's compiled regexes (ASan). */
static void cleanup(void) {
  gavel__regex_cache_clear();
  if (A_init)
    gavel__arena_free(&A);
  A_init = 0;
}

static gv_arena *arena(void) {
  static int registered;
  if (!A_init) {
    gavel__arena_init(&A, &gavel__default_alloc, 0);
    A_init = 1;
  }
  if (!registered)
    registered = !atexit(cleanup);
  return &A;
}

static gvalue S(const char *s) { return gv_strv(gavel__str_cstr(arena(), s)); }
static gvalue SN(const char *s, size_t n) {
  return gv_strv(gavel__str_new(arena(), s, n));
}
static gvalue I(int64_t i) { return gv_int(i); }
static gvalue F(double f) { return gv_float(f); }
static gvalue N(void) { return gv_null(); }
static gvalue B(int b) { return gv_bool(b); }

/* Parses JSON text into a value (for arrays and objects). */
static gvalue J(const char *json) {
  gvalue v = gv_null();
  gavel_error e;
  memset(&e, 0, sizeof e);
  if (gavel__json_parse(arena(), json, strlen(json), NULL, &v, &e) != GAVEL_OK)
    fprintf(stderr, "bad JSON in test: %s\n", json);
  return v;
}

static const gv_builtin *find(const char *name) {
  const gv_builtin *b;
  for (b = gavel__builtins_ext; b->name; b++)
    if (!strcmp(b->name, name))
      return b;
  return NULL;
}

static const char *kind_name(gv_ekind k) {
  static const char *const n[] = {"none",  "notfound", "type",
                                  "eval",  "funcarg",  "funcnf",
                                  "limit", "gas",      "nomem"};
  return n[k];
}

static gvalue LAST;      /* result of the last successful call */
static int64_t GAS_LEFT; /* gas left after the last call        */

/* Calls builtin 'name' with 'n' values; returns the result as compact JSON
** or "error: <kind>: <message>".  'gas' <= 0 means plenty. */
static const char *runv(const char *name, int64_t gas, int n, va_list ap) {
  const gv_builtin *b = find(name);
  gvalue args[8], out = gv_null();
  gv_rt rt;
  gv_buf buf;
  int i, rc;
  if (!b) {
    snprintf(OUT, sizeof OUT, "no such builtin %s", name);
    return OUT;
  }
  for (i = 0; i < n; i++)
    args[i] = va_arg(ap, gvalue);
  if (n < b->min_args || (b->max_args >= 0 && n > b->max_args)) {
    snprintf(OUT, sizeof OUT, "arity %d rejected", n);
    return OUT;
  }
  memset(&rt, 0, sizeof rt);
  rt.arena = arena();
  rt.gas = gas > 0 ? gas : 1000000000;
  rt.fn_name = name;
  rc = b->fn(&rt, &out, args, n);
  GAS_LEFT = rt.gas;
  if (rc) {
    snprintf(OUT, sizeof OUT, "error: %s: %s", kind_name(rt.ekind), rt.emsg);
    return OUT;
  }
  if (rt.ekind != GV_E_NONE) {
    snprintf(OUT, sizeof OUT, "success with a pending error: %s", rt.emsg);
    return OUT;
  }
  LAST = out;
  gavel__buf_init(&buf, &gavel__default_alloc);
  gavel__json_write(&buf, out);
  snprintf(OUT, sizeof OUT, "%s", buf.p ? buf.p : "");
  gavel__buf_free(&buf);
  return OUT;
}

static const char *run(const char *name, int n, ...) {
  const char *r;
  va_list ap;
  va_start(ap, n);
  r = runv(name, 0, n, ap);
  va_end(ap);
  return r;
}

static const char *run_gas(const char *name, int64_t gas, int n, ...) {
  const char *r;
  va_list ap;
  va_start(ap, n);
  r = runv(name, gas, n, ap);
  va_end(ap);
  return r;
}

/* CHECK that run(...) starts with 'prefix'. */
#define CHECK_PREFIX(got, prefix)                                              \
  do {                                                                         \
    const char *g_ = (got), *p_ = (prefix);                                    \
    tt_checks++;                                                               \
    if (strncmp(g_, p_, strlen(p_)) != 0) {                                    \
      tt_fail_cur++;                                                           \
      fprintf(stderr, "  %s:%d: expected prefix \"%s\", got \"%s\"\n",         \
              __FILE__, __LINE__, p_, g_);                                     \
    }                                                                          \
  } while (0)

#define CHECK_HAS(got, sub)                                                    \
  do {                                                                         \
    const char *g_ = (got), *s_ = (sub);                                       \
    tt_checks++;                                                               \
    if (!strstr(g_, s_)) {                                                     \
      tt_fail_cur++;                                                           \
      fprintf(stderr, "  %s:%d: expected \"%s\" in \"%s\"\n", __FILE__,        \
              __LINE__, s_, g_);                                               \
    }                                                                          \
  } while (0)

/* ==== Table ==== */

TEST(table_has_35_builtins_with_ordo_arity) {
  static const struct {
    const char *n;
    int lo, hi, pure;
  } want[] = {{"regex_match", 2, 2, 1},      {"regex_find", 2, 2, 1},
              {"regex_find_all", 2, 2, 1},   {"regex_replace", 3, 3, 1},
              {"regex_split", 2, 2, 1},      {"now", 0, -1, 0},
              {"now_millis", 0, -1, 0},      {"parse_time", 2, 2, 1},
              {"format_time", 2, 2, 1},      {"time_diff", 3, 3, 1},
              {"date_add", 3, 3, 1},         {"time_of_day", 1, 1, 1},
              {"day_of_week", 1, 1, 1},      {"yaml_marshal", 1, 1, 1},
              {"yaml_unmarshal", 1, 1, 1},   {"base64_encode", 1, 1, 1},
              {"base64_decode", 1, 1, 1},    {"url_encode", 1, 1, 1},
              {"url_decode", 1, 1, 1},       {"hex_encode", 1, 1, 1},
              {"hex_decode", 1, 1, 1},       {"base64url_encode", 1, 1, 1},
              {"base64url_decode", 1, 1, 1}, {"md5", 1, 1, 1},
              {"sha256", 1, 1, 1},           {"hmac_sha256", 2, 2, 1},
              {"uuid_v4", 0, -1, 0},         {"jwt_decode", 1, 1, 1},
              {"jwt_verify", 2, 3, 1},       {"jwt_encode", 2, 3, 1},
              {"glob_match", 2, 2, 1},       {"cidr_contains", 2, 2, 1},
              {"cidr_intersects", 2, 2, 1},  {"semver_compare", 2, 2, 1},
              {"semver_is_valid", 1, 1, 1}};
  size_t i, count = 0;
  const gv_builtin *b;
  for (b = gavel__builtins_ext; b->name; b++)
    count++;
  CHECK(count == sizeof want / sizeof want[0]);
  for (i = 0; i < sizeof want / sizeof want[0]; i++) {
    b = find(want[i].n);
    CHECK(b != NULL);
    if (!b)
      continue;
    CHECK(b->min_args == want[i].lo);
    CHECK(b->max_args == want[i].hi);
    CHECK(b->pure == want[i].pure);
  }
}

/* ==== Regex ==== */

TEST(regex_match_is_an_unanchored_search) {
  CHECK_STR(run("regex_match", 2, S("^\\d+$"), S("123")), "true");
  CHECK_STR(run("regex_match", 2, S("^\\d+$"), S("abc")), "false");
  CHECK_STR(run("regex_match", 2, S("b"), S("abc")), "true");
  CHECK_STR(run("regex_match", 2, S(""), S("")), "true");
  /* $ is end of text only (no match before a final newline) */
  CHECK_STR(run("regex_match", 2, S("a$"), S("a\n")), "false");
  CHECK_STR(run("regex_match", 2, S("(?m)a$"), S("a\nb")), "true");
  /* \d and \w are Unicode-aware */
  CHECK_STR(run("regex_match", 2, S("^\\d$"), S("\xd9\xa3")), "true");
  CHECK_STR(run("regex_match", 2, S("^\\w+$"), S("caf\xc3\xa9")), "true");
  CHECK_STR(run("regex_match", 2, S("(?i)STRASSE"), S("strasse")), "true");
  CHECK_STR(run("regex_match", 2, S("^[[:alpha:]]+$"), S("abc")), "true");
  CHECK_STR(run("regex_match", 2, S("^[[:alpha:]]$"), S("\xc3\xa9")), "false");
  CHECK_STR(run("regex_match", 2, S("\\x41\\u0042\\x{43}"), S("ABC")), "true");
  CHECK_STR(run("regex_match", 2, S("^a**$"), S("aaa")), "true");
  CHECK_STR(run("regex_match", 2, S("^a*+$"), S("aaa")), "true");
  CHECK_STR(run("regex_match", 2, S("^(?P<x>a)(?<y>b)$"), S("ab")), "true");
  CHECK_STR(run("regex_match", 2, S("\\bfoo\\b"), S("a foo b")), "true");
  CHECK_STR(run("regex_match", 2, S("^a{2,}$"), S("aaa")), "true");
}

/* Issue 13: the error class Rust's parser reports first, and its span
** marked with carets under the pattern. */
TEST(regex_errors_mark_rusts_span) {
  CHECK_STR(run("regex_match", 2, S("[a-\""), S("x")),
            "error: eval: Evaluation error: invalid regex '[a-\"': regex "
            "parse error:\n    [a-\"\n     ^^^\nerror: invalid character "
            "class range, the start must be <= the end");
  CHECK_HAS(run("regex_match", 2, S("[z-a]"), S("x")),
            "    [z-a]\n     ^^^\nerror: invalid character class range");
  CHECK_HAS(run("regex_match", 2, S("[a"), S("x")),
            "    [a\n    ^\nerror: unclosed character class");
  CHECK_HAS(run("regex_match", 2, S("[^a"), S("x")),
            "    [^a\n    ^^\nerror: unclosed character class");
  CHECK_HAS(run("regex_match", 2, S("a{2,1}"), S("x")),
            "    a{2,1}\n     ^^^^^\nerror: invalid repetition count range");
  CHECK_HAS(run("regex_match", 2, S("x\\q"), S("x")),
            "    x\\q\n     ^^\nerror: unrecognized escape sequence");
  CHECK_HAS(run("regex_match", 2, S("x(a(b)"), S("x")),
            "    x(a(b)\n     ^\nerror: unclosed group");
  CHECK_STR(run("regex_match", 2, S("[a-z-a]"), S("-")), "true");
  CHECK_HAS(run("regex_match", 2, S("(?P<n>a)(?P<n>b)"), S("x")),
            "    (?P<n>a)(?P<n>b)\n        ^       ^\nerror: duplicate "
            "capture group name");
  CHECK_STR(run("regex_match", 2, S("(?P<n>a)(?P<m>b)"), S("ab")), "true");
}

TEST(regex_errors_use_ordos_text) {
  CHECK_PREFIX(run("regex_match", 2, S("[invalid"), S("test")),
               "error: eval: Evaluation error: invalid regex '[invalid': "
               "regex parse error:");
  CHECK_HAS(run("regex_match", 2, S("[invalid"), S("x")),
            "unclosed character class");
  CHECK_HAS(run("regex_match", 2, S("a(?=b)"), S("ab")),
            "look-around, including look-ahead and look-behind, is not "
            "supported");
  CHECK_HAS(run("regex_match", 2, S("(?<!a)b"), S("b")), "look-around");
  CHECK_HAS(run("regex_match", 2, S("(a)\\1"), S("aa")),
            "backreferences are not supported");
  CHECK_HAS(run("regex_match", 2, S("a\\Kb"), S("ab")),
            "unrecognized escape sequence");
  CHECK_HAS(run("regex_match", 2, S("(*UTF)a"), S("a")),
            "repetition operator missing expression");
  CHECK_HAS(run("regex_match", 2, S("*a"), S("a")),
            "repetition operator missing expression");
  CHECK_HAS(run("regex_match", 2, S("a{2,1}"), S("a")),
            "invalid repetition count range");
  CHECK_HAS(run("regex_match", 2, S("a{x}"), S("a")),
            "repetition quantifier expects a valid decimal");
  CHECK_HAS(run("regex_match", 2, S("(a"), S("a")), "invalid regex '(a'");
  CHECK_HAS(run("regex_match", 2, S("(?>a)"), S("a")), "unrecognized flag");
  CHECK_STR(run("regex_match", 2, I(1), S("a")),
            "error: type: Type error: expected string, got int");
  CHECK_STR(run("regex_match", 2, S("a"), N()),
            "error: type: Type error: expected string, got null");
  CHECK_STR(run("regex_find", 2, S("a"), F(1.5)),
            "error: type: Type error: expected string, got float");
  CHECK_STR(run("regex_find_all", 2, B(1), S("a")),
            "error: type: Type error: expected string, got bool");
  CHECK_STR(run("regex_split", 2, S("a"), J("[]")),
            "error: type: Type error: expected string, got array");
  CHECK_STR(run("regex_replace", 3, S("a"), S("a"), J("{}")),
            "error: type: Type error: expected string, got object");
}

TEST(regex_find_and_find_all) {
  CHECK_STR(run("regex_find", 2, S("\\d+"), S("abc123def")), "\"123\"");
  CHECK_STR(run("regex_find", 2, S("\\d+"), S("abc")), "null");
  CHECK_STR(run("regex_find", 2, S("a|ab"), S("ab")), "\"a\""); /* first */
  CHECK_STR(run("regex_find_all", 2, S("\\d+"), S("a1b23c456")),
            "[\"1\",\"23\",\"456\"]");
  CHECK_STR(run("regex_find_all", 2, S("x"), S("abc")), "[]");
  /* Rust's empty-match rule: none right after a match */
  CHECK_STR(run("regex_find_all", 2, S("a*"), S("baaac")),
            "[\"\",\"aaa\",\"\"]");
  CHECK_STR(run("regex_find_all", 2, S(""), S("\xc3\xa9x")),
            "[\"\",\"\",\"\"]");
}

TEST(regex_split_matches_rust) {
  CHECK_STR(run("regex_split", 2, S("\\s+"), S("hello  world   foo")),
            "[\"hello\",\"world\",\"foo\"]");
  CHECK_STR(run("regex_split", 2, S(","), S("a,b,,c,")),
            "[\"a\",\"b\",\"\",\"c\",\"\"]");
  CHECK_STR(run("regex_split", 2, S(","), S("")), "[\"\"]");
  CHECK_STR(run("regex_split", 2, S(""), S("abc")),
            "[\"\",\"a\",\"b\",\"c\",\"\"]");
}

TEST(regex_replace_expands_like_rust) {
  CHECK_STR(run("regex_replace", 3, S("\\d+"), S("a1b2c3"), S("X")),
            "\"aXbXcX\"");
  CHECK_STR(
      run("regex_replace", 3, S("(\\w+)@(\\w+)"), S("me@host"), S("$2 at $1")),
      "\"host at me\"");
  CHECK_STR(run("regex_replace", 3, S("(?P<y>\\d{4})-(?P<m>\\d{2})"),
                S("2024-05"), S("${m}/${y}")),
            "\"05/2024\"");
  CHECK_STR(run("regex_replace", 3, S("(a)"), S("a"), S("$1x|${1}x|$$|$")),
            "\"|ax|$|$\"");
  CHECK_STR(run("regex_replace", 3, S("a"), S("aaa"), S("$9")), "\"\"");
  CHECK_STR(run("regex_replace", 3, S("x*"), S("ab"), S("-")), "\"-a-b-\"");
  CHECK_STR(run("regex_replace", 3, S("(a)|b"), S("ab"), S("[$1]")),
            "\"[a][]\"");
}

TEST(regex_cache_is_reused_and_cleared) {
  int64_t first, second;
  gavel__regex_cache_clear();
  CHECK_STR(run("regex_match", 2, S("q(r|s)+t"), S("qrst")), "true");
  first = 1000000000 - GAS_LEFT;
  CHECK_STR(run("regex_match", 2, S("q(r|s)+t"), S("qrst")), "true");
  second = 1000000000 - GAS_LEFT;
  CHECK(second < first); /* no compile charge on a hit */
  for (int i = 0; i < 100; i++) {
    char p[16];
    snprintf(p, sizeof p, "x%d", i);
    CHECK_STR(run("regex_match", 2, S(p), S("x5")), i == 5 ? "true" : "false");
  }
  gavel__regex_cache_clear();
  gavel__regex_cache_clear();
}

TEST(regex_respects_gas) {
  CHECK_PREFIX(run_gas("regex_find_all", 3, 2, S("a"), S("aaaaaaaaaaaa")),
               "error: gas:");
}

/* ==== Time ==== */

TEST(format_time_follows_chrono) {
  CHECK_STR(run("format_time", 2, I(1705314600), S("%Y-%m-%d")),
            "\"2024-01-15\"");
  CHECK_STR(run("format_time", 2, I(994552499),
                S("%Y-%m-%d %H:%M:%S %a %A %b %B %j %U %W %V %G %u %w %y %C "
                  "%I %p")),
            "\"2001-07-08 00:34:59 Sun Sunday Jul July 189 27 27 27 2001 7 0 "
            "01 20 12 AM\"");
  CHECK_STR(run("format_time", 2, I(994552499), S("%e|%T|%D|%F|%R|%h|%P")),
            "\" 8|00:34:59|07/08/01|2001-07-08|00:34|Jul|am\"");
  CHECK_STR(run("format_time", 2, I(994552499), S("%c")),
            "\"Sun Jul  8 00:34:59 2001\"");
  CHECK_STR(run("format_time", 2, I(994552499), S("%r|%v|%x|%X")),
            "\"12:34:59 AM| 8-Jul-2001|07/08/01|00:34:59\"");
  CHECK_STR(run("format_time", 2, I(994552499), S("%z|%:z|%::z|%:::z|%Z")),
            "\"+0000|+00:00|+00:00:00|+00|UTC\"");
  CHECK_STR(run("format_time", 2, I(994552499), S("%s|%%|%t|%n|%q")),
            "\"994552499|%|\\t|\\n|3\"");
  CHECK_STR(run("format_time", 2, I(994552499), S("%f|%.f|%.3f|%6f|%k|%l")),
            "\"000000000||.000|000000| 0|12\"");
  CHECK_STR(run("format_time", 2, I(994552499), S("%-d|%_m|%0e|%-j")),
            "\"8| 7|08|189\"");
  CHECK_STR(run("format_time", 2, I(994552499), S("%+")),
            "\"2001-07-08T00:34:59+00:00\"");
  CHECK_STR(run("format_time", 2, I(-1), S("%F %T %U %V %G")),
            "\"1969-12-31 23:59:59 52 01 1970\"");
  CHECK_STR(run("format_time", 2, I(951782400), S("%F %j")),
            "\"2000-02-29 060\"");
  CHECK_STR(run("format_time", 2, I(253402300800LL), S("%Y|%C|%y")),
            "\"+10000|100|00\"");
  CHECK_STR(run("format_time", 2, I(-62198755200LL), S("%Y|%C|%y|%+")),
            "\"-0001|-1|99|-0001-01-01T00:00:00+00:00\"");
  CHECK_STR(run("format_time", 2, I(0), S("plain text")), "\"plain text\"");
  CHECK_STR(run("format_time", 2, F(1.9), S("%S")), "\"01\"");
}

TEST(format_time_errors) {
  CHECK_HAS(run("format_time", 2, I(0), S("%Q")), "format_time:");
  CHECK_PREFIX(run("format_time", 2, I(0), S("%")), "error: eval:");
  CHECK_PREFIX(run("format_time", 2, I(0), S("%-a")), "error: eval:");
  CHECK_PREFIX(run("format_time", 2, I(0), S("%-D")), "error: eval:");
  CHECK_PREFIX(run("format_time", 2, I(0), S("%#z")), "error: eval:");
  CHECK_STR(run("format_time", 2, I(INT64_MAX), S("%Y")),
            "error: eval: Evaluation error: format_time: invalid timestamp");
  CHECK_STR(run("format_time", 2, S("0"), S("%Y")),
            "error: type: Type error: expected int, got string");
  CHECK_STR(run("format_time", 2, I(0), I(1)),
            "error: type: Type error: expected string, got int");
  /* range edges: 262142-12-31T23:59:59 is the last representable second */
  CHECK_STR(run("format_time", 2, I(8210266876799LL), S("%Y-%m-%d")),
            "\"+262142-12-31\"");
  CHECK_PREFIX(run("format_time", 2, I(8210266876800LL), S("%Y")),
               "error: eval:");
}

TEST(parse_time_follows_chrono) {
  CHECK_STR(
      run("parse_time", 2, S("2024-01-15 10:30:00"), S("%Y-%m-%d %H:%M:%S")),
      "1705314600");
  CHECK_STR(run("parse_time", 2, S("2024-01-15T10:30"), S("%Y-%m-%dT%H:%M")),
            "1705314600");
  CHECK_STR(run("parse_time", 2, S("15/Jan/2024:10:30:00 +0200"),
                S("%d/%b/%Y:%H:%M:%S %z")),
            "1705314600"); /* offset parsed, then ignored */
  CHECK_STR(run("parse_time", 2, S("Monday, January 15 2024 10:30:00 am"),
                S("%A, %B %d %Y %I:%M:%S %p")),
            "1705314600");
  CHECK_STR(run("parse_time", 2, S("2024-015 10:30:00"), S("%Y-%j %H:%M:%S")),
            "1705314600");
  CHECK_STR(run("parse_time", 2, S("1705314600"), S("%s")), "1705314600");
  CHECK_STR(run("parse_time", 2, S("2024-01-15 10:30:00.123"),
                S("%Y-%m-%d %H:%M:%S%.f")),
            "1705314600");
  CHECK_STR(
      run("parse_time", 2, S("2016-12-31 23:59:60"), S("%Y-%m-%d %H:%M:%S")),
      "1483228799"); /* leap second folds into :59 */
  CHECK_STR(run("parse_time", 2, S("24-01-15 10:30"), S("%y-%m-%d %H:%M")),
            "1705314600");
  CHECK_STR(run("parse_time", 2, S("2024-01-15T10:30:00+00:00"), S("%+")),
            "1705314600");
  CHECK_STR(run("parse_time", 2, S("2024 3 1 10:30"), S("%G %V %u %H:%M")),
            "1705314600"); /* ISO week date */
  CHECK_STR(run("parse_time", 2, S("-0001-01-01 00:00"), S("%Y-%m-%d %H:%M")),
            "-62198755200");
}

TEST(parse_time_errors_match_chrono) {
  CHECK_STR(run("parse_time", 2, S("not-a-date"), S("%Y-%m-%d")),
            "error: eval: Evaluation error: parse_time: input contains "
            "invalid characters");
  CHECK_STR(run("parse_time", 2, S("2024-01-15"), S("%Y-%m-%d")),
            "error: eval: Evaluation error: parse_time: input is not enough "
            "for unique date and time");
  CHECK_STR(run("parse_time", 2, S("2024-01-15 10:30"), S("%Y-%m-%d %H:%M:%S")),
            "error: eval: Evaluation error: parse_time: premature end of "
            "input");
  CHECK_STR(
      run("parse_time", 2, S("2024-01-15 10:30:00x"), S("%Y-%m-%d %H:%M:%S")),
      "error: eval: Evaluation error: parse_time: trailing input");
  CHECK_STR(
      run("parse_time", 2, S("2024-02-30 10:30:00"), S("%Y-%m-%d %H:%M:%S")),
      "error: eval: Evaluation error: parse_time: input is out of "
      "range");
  CHECK_STR(
      run("parse_time", 2, S("2024-13-01 10:30:00"), S("%Y-%m-%d %H:%M:%S")),
      "error: eval: Evaluation error: parse_time: input is out of "
      "range");
  CHECK_STR(
      run("parse_time", 2, S("Tue 2024-01-15 10:30"), S("%a %Y-%m-%d %H:%M")),
      "error: eval: Evaluation error: parse_time: no possible date and "
      "time matching input");
  CHECK_STR(run("parse_time", 2, S("2024"), S("%Y%Q")),
            "error: eval: Evaluation error: parse_time: bad or unsupported "
            "format string");
  CHECK_STR(run("parse_time", 2, S("2024-01-15  10:30"), S("%Y-%m-%d %H:%M")),
            "error: eval: Evaluation error: parse_time: input contains "
            "invalid characters"); /* whitespace must match exactly */
  CHECK_STR(run("parse_time", 2, I(1), S("%s")),
            "error: type: Type error: expected string, got int");
  CHECK_STR(run("parse_time", 2, S("1"), N()),
            "error: type: Type error: expected string, got null");
}

TEST(time_diff_and_date_add) {
  CHECK_STR(run("time_diff", 3, I(1000), I(400), S("seconds")), "600");
  CHECK_STR(run("time_diff", 3, I(1000), I(400), S("m")), "10");
  CHECK_STR(run("time_diff", 3, I(0), I(7199), S("hours")), "-1");
  CHECK_STR(run("time_diff", 3, I(172800), I(0), S("d")), "2");
  CHECK_STR(run("time_diff", 3, F(10.9), I(0), S("s")), "10");
  CHECK_STR(run("time_diff", 3, I(0), I(0), S("weeks")),
            "error: eval: Evaluation error: time_diff: unknown unit 'weeks'");
  CHECK_STR(run("time_diff", 3, I(INT64_MIN), I(1), S("s")),
            "error: eval: Evaluation error: Integer overflow in time_diff()");
  CHECK_STR(run("time_diff", 3, S("1"), I(1), S("s")),
            "error: type: Type error: expected int, got string");
  CHECK_STR(run("date_add", 3, I(1000), I(1), S("hours")), "4600");
  CHECK_STR(run("date_add", 3, I(0), I(-2), S("days")), "-172800");
  CHECK_STR(run("date_add", 3, I(0), I(3), S("minutes")), "180");
  CHECK_STR(run("date_add", 3, I(5), I(5), S("s")), "10");
  CHECK_STR(run("date_add", 3, I(INT64_MAX), I(1), S("days")),
            "error: eval: Evaluation error: Integer overflow in date_add()");
  CHECK_STR(run("date_add", 3, I(0), I(INT64_MAX), S("h")),
            "error: eval: Evaluation error: Integer overflow in date_add()");
  CHECK_STR(run("date_add", 3, I(0), I(1), S("fortnights")),
            "error: eval: Evaluation error: date_add: unknown unit "
            "'fortnights'");
  CHECK_STR(run("date_add", 3, I(0), B(1), S("s")),
            "error: type: Type error: expected int, got bool");
}

TEST(time_of_day_and_day_of_week) {
  CHECK_STR(run("time_of_day", 1, I(0)), "\"00:00:00\"");
  CHECK_STR(run("time_of_day", 1, I(1705314600)), "\"10:30:00\"");
  CHECK_STR(run("time_of_day", 1, I(-1)), "\"23:59:59\"");
  CHECK_STR(run("time_of_day", 1, I(INT64_MIN)),
            "error: eval: Evaluation error: time_of_day: invalid timestamp");
  CHECK_STR(run("day_of_week", 1, I(0)), "4");
  CHECK_STR(run("day_of_week", 1, I(1705314600)), "1");
  CHECK_STR(run("day_of_week", 1, I(994552499)), "7");
  CHECK_STR(run("day_of_week", 1, I(-86400)), "3");
  CHECK_STR(run("day_of_week", 1, I(INT64_MAX)),
            "error: eval: Evaluation error: day_of_week: invalid timestamp");
  CHECK_STR(run("day_of_week", 1, S("x")),
            "error: type: Type error: expected int, got string");
}

TEST(now_and_now_millis_are_current) {
  int64_t a, b;
  run("now", 0);
  a = LAST.u.i;
  run("now_millis", 0);
  b = LAST.u.i;
  CHECK(a > 1700000000 && a < 4102444800LL);
  CHECK(b / 1000 >= a && b / 1000 <= a + 5);
  CHECK_PREFIX(run("now", 2, I(1), S("ignored")), "1");
}

/* ==== YAML ==== */

TEST(yaml_marshal_matches_serde_yaml) {
  CHECK_STR(run("yaml_marshal", 1, I(42)), "\"42\\n\"");
  CHECK_STR(run("yaml_marshal", 1, I(-7)), "\"-7\\n\"");
  CHECK_STR(run("yaml_marshal", 1, F(1.0)), "\"1.0\\n\"");
  CHECK_STR(run("yaml_marshal", 1, F(0.1)), "\"0.1\\n\"");
  CHECK_STR(run("yaml_marshal", 1, F(1e21)), "\"1e21\\n\"");
  CHECK_STR(run("yaml_marshal", 1, F(1.5e-7)), "\"1.5e-7\\n\"");
  CHECK_STR(run("yaml_marshal", 1, F(NAN)), "\".nan\\n\"");
  CHECK_STR(run("yaml_marshal", 1, F(-INFINITY)), "\"-.inf\\n\"");
  CHECK_STR(run("yaml_marshal", 1, N()), "\"null\\n\"");
  CHECK_STR(run("yaml_marshal", 1, B(1)), "\"true\\n\"");
  CHECK_STR(run("yaml_marshal", 1, S("hello world")), "\"hello world\\n\"");
  CHECK_STR(run("yaml_marshal", 1, S("true")), "\"'true'\\n\"");
  CHECK_STR(run("yaml_marshal", 1, S("42")), "\"'42'\\n\"");
  CHECK_STR(run("yaml_marshal", 1, S("0123")), "\"'0123'\\n\"");
  CHECK_STR(run("yaml_marshal", 1, S("1.5")), "\"'1.5'\\n\"");
  CHECK_STR(run("yaml_marshal", 1, S("~")), "\"'~'\\n\"");
  CHECK_STR(run("yaml_marshal", 1, S("")), "\"''\\n\"");
  CHECK_STR(run("yaml_marshal", 1, S("a: b")), "\"'a: b'\\n\"");
  CHECK_STR(run("yaml_marshal", 1, S("line1\nline2")),
            "\"|-\\n  line1\\n  line2\\n\"");
  CHECK_STR(run("yaml_marshal", 1, J("[]")), "\"[]\\n\"");
  CHECK_STR(run("yaml_marshal", 1, J("{}")), "\"{}\\n\"");
  CHECK_STR(run("yaml_marshal", 1, J("[1,\"a\",null]")),
            "\"- 1\\n- a\\n- null\\n\"");
  CHECK_STR(run("yaml_marshal", 1,
                J("{\"a\":1,\"b\":[1,2],\"c\":{\"d\":"
                  "true}}")),
            "\"a: 1\\nb:\\n- 1\\n- 2\\nc:\\n  d: true\\n\"");
  CHECK_STR(run("yaml_marshal", 1, J("{\"1\":\"yes\"}")), "\"'1': yes\\n\"");
}

TEST(yaml_unmarshal_matches_serde_yaml) {
  CHECK_STR(run("yaml_unmarshal", 1, S("42\n")), "42");
  CHECK_STR(run("yaml_unmarshal", 1, S("4.0")), "4.0");
  CHECK_STR(run("yaml_unmarshal", 1, S("0x1F")), "31");
  CHECK_STR(run("yaml_unmarshal", 1, S("-0o17")), "-15");
  CHECK_STR(run("yaml_unmarshal", 1, S("+12")), "12");
  CHECK_STR(run("yaml_unmarshal", 1, S("1e3")), "1000.0");
  CHECK_STR(run("yaml_unmarshal", 1, S("0123")), "\"0123\"");
  CHECK_STR(run("yaml_unmarshal", 1, S("'42'")), "\"42\"");
  CHECK_STR(run("yaml_unmarshal", 1, S("yes")), "\"yes\"");
  CHECK_STR(run("yaml_unmarshal", 1, S("~")), "null");
  CHECK_STR(run("yaml_unmarshal", 1, S("")), "null");
  CHECK_STR(run("yaml_unmarshal", 1, S("True")), "true");
  CHECK_STR(run("yaml_unmarshal", 1, S("18446744073709551615")), "-1");
  CHECK_STR(run("yaml_unmarshal", 1, S("a: 1\nb: [x, 2.5, null]\nc: {d: e}")),
            "{\"a\":1,\"b\":[\"x\",2.5,null],\"c\":{\"d\":\"e\"}}");
  CHECK_STR(run("yaml_unmarshal", 1, S("a: &x [1, 2]\nb: *x")),
            "{\"a\":[1,2],\"b\":[1,2]}");
  CHECK_STR(run("yaml_unmarshal", 1, S("1: one\n~: n\n")),
            "{\"1\":\"one\",\"~\":\"n\"}");
  CHECK_STR(run("yaml_unmarshal", 1, S("a: 1\na: 2")), "{\"a\":2}");
  CHECK_STR(run("yaml_unmarshal", 1, S("!!str 12")), "\"12\"");
  CHECK_STR(run("yaml_unmarshal", 1, S("!!float 1")), "1.0");
  CHECK_STR(run("yaml_unmarshal", 1, S("- |\n  x\n  y\n")), "[\"x\\ny\\n\"]");
  CHECK_STR(run("yaml_unmarshal", 1, S("---\nk: v\n...\n")), "{\"k\":\"v\"}");
}

TEST(yaml_round_trips) {
  gvalue v = J("{\"s\":\"true\",\"n\":-3,\"f\":2.5,\"l\":[\"0x1\",\"\","
               "\"a b\",\"multi\\nline\"],\"o\":{\"k\":null}}");
  gvalue m;
  run("yaml_marshal", 1, v);
  m = LAST;
  CHECK_STR(run("yaml_unmarshal", 1, m),
            "{\"s\":\"true\",\"n\":-3,\"f\":2.5,\"l\":[\"0x1\",\"\",\"a b\","
            "\"multi\\nline\"],\"o\":{\"k\":null}}");
}

TEST(yaml_errors) {
  CHECK_PREFIX(run("yaml_unmarshal", 1, S("a: [1, 2")),
               "error: eval: Evaluation error: yaml_unmarshal: ");
  CHECK_STR(run("yaml_unmarshal", 1, S("a: 1\n---\nb: 2\n")),
            "error: eval: Evaluation error: yaml_unmarshal: deserializing "
            "from YAML containing more than one document is not supported");
  CHECK_STR(run("yaml_unmarshal", 1, S("a: *nope")),
            "error: eval: Evaluation error: yaml_unmarshal: unknown anchor "
            "at line 1 column 4");
  CHECK_HAS(run("yaml_unmarshal", 1, S("[1]: x")),
            "invalid type: sequence, expected a string");
  CHECK_HAS(run("yaml_unmarshal", 1, S("!!int x")),
            "invalid value: string \"x\", expected an integer");
  CHECK_HAS(run("yaml_unmarshal", 1, S("!Thing 1")), "invalid type: enum");
  CHECK_HAS(run("yaml_unmarshal", 1, S("99999999999999999999")),
            "as u128, expected a valid JSON value");
  CHECK_HAS(run("yaml_unmarshal", 1,
                S("a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]"
                  "\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,"
                  "*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,"
                  "*e,*e,*e,*e]")),
            "repetition limit exceeded");
  {
    char deep[400];
    memset(deep, '[', 200);
    memset(deep + 200, ']', 200);
    CHECK_HAS(run("yaml_unmarshal", 1, SN(deep, 400)),
              "recursion limit exceeded");
  }
  CHECK_STR(run("yaml_unmarshal", 1, I(1)),
            "error: type: Type error: expected string, got int");
}

/* ==== Encodings ==== */

TEST(base64_rfc4648_vectors) {
  static const char *const in[] = {"",     "f",     "fo",    "foo",
                                   "foob", "fooba", "foobar"};
  static const char *const std[] = {
      "\"\"",         "\"Zg==\"",     "\"Zm8=\"",    "\"Zm9v\"",
      "\"Zm9vYg==\"", "\"Zm9vYmE=\"", "\"Zm9vYmFy\""};
  static const char *const url[] = {"\"\"",        "\"Zg\"",     "\"Zm8\"",
                                    "\"Zm9v\"",    "\"Zm9vYg\"", "\"Zm9vYmE\"",
                                    "\"Zm9vYmFy\""};
  int i;
  for (i = 0; i < 7; i++) {
    char enc[16], want[16];
    CHECK_STR(run("base64_encode", 1, S(in[i])), std[i]);
    CHECK_STR(run("base64url_encode", 1, S(in[i])), url[i]);
    snprintf(want, sizeof want, "\"%s\"", in[i]);
    snprintf(enc, sizeof enc, "%.*s", (int)strlen(std[i]) - 2, std[i] + 1);
    CHECK_STR(run("base64_decode", 1, S(enc)), want);
    snprintf(enc, sizeof enc, "%.*s", (int)strlen(url[i]) - 2, url[i] + 1);
    CHECK_STR(run("base64url_decode", 1, S(enc)), want);
  }
  CHECK_STR(run("base64_decode", 1, S("Zm9vYmFy")), "\"foobar\"");
  CHECK_STR(run("base64_decode", 1, S("Zg==")), "\"f\"");
  CHECK_STR(run("base64_decode", 1, S("aGVsbG8gd29ybGQ=")), "\"hello world\"");
  CHECK_STR(run("base64url_decode", 1, S("Zm9vYmE")), "\"fooba\"");
  CHECK_STR(run("base64url_decode", 1, S("aGVsbG8rd29ybGQ")),
            "\"hello+world\"");
  CHECK_STR(run("base64_encode", 1, S("\xff\xfe")), "\"//4=\"");
  CHECK_STR(run("base64url_encode", 1, S("\xff\xfe")), "\"__4\"");
}

TEST(base64_decode_errors_match_the_base64_crate) {
  CHECK_STR(run("base64_decode", 1, S("not-valid-base64!!!")),
            "error: eval: Evaluation error: base64_decode: Invalid symbol 45, "
            "offset 3.");
  CHECK_STR(run("base64_decode", 1, S("Zg")),
            "error: eval: Evaluation error: base64_decode: Invalid padding");
  CHECK_STR(run("base64_decode", 1, S("Zh==")),
            "error: eval: Evaluation error: base64_decode: Invalid last "
            "symbol 104, offset 1.");
  CHECK_STR(run("base64_decode", 1, S("Z===")),
            "error: eval: Evaluation error: base64_decode: Invalid symbol 61, "
            "offset 1.");
  CHECK_STR(run("base64_decode", 1, S("Zm9vY")),
            "error: eval: Evaluation error: base64_decode: Invalid input "
            "length: 5");
  CHECK_STR(run("base64_decode", 1, S("Zg=a")),
            "error: eval: Evaluation error: base64_decode: Invalid symbol 61, "
            "offset 2.");
  CHECK_STR(run("base64_decode", 1, S("/w==")),
            "error: eval: Evaluation error: base64_decode: invalid UTF-8: "
            "invalid utf-8 sequence of 1 bytes from index 0");
  CHECK_STR(run("base64url_decode", 1, S("Zm9vY")),
            "error: eval: Evaluation error: base64url_decode: invalid input: "
            "invalid length at 4");
  CHECK_STR(run("base64url_decode", 1, S("Zg==")),
            "error: eval: Evaluation error: base64url_decode: invalid input: "
            "invalid symbol at 2");
  CHECK_STR(run("base64url_decode", 1, S("Zh")),
            "error: eval: Evaluation error: base64url_decode: invalid input: "
            "non-zero trailing bits at 1");
  CHECK_STR(run("base64url_decode", 1, S("_w")),
            "error: eval: Evaluation error: base64url_decode: invalid UTF-8: "
            "invalid utf-8 sequence of 1 bytes from index 0");
  CHECK_STR(run("base64_encode", 1, I(3)),
            "error: type: Type error: expected string, got int");
  CHECK_STR(run("base64url_decode", 1, N()),
            "error: type: Type error: expected string, got null");
}

TEST(url_encoding_matches_urlencoding_crate) {
  CHECK_STR(run("url_encode", 1, S("hello world&foo=bar")),
            "\"hello%20world%26foo%3Dbar\"");
  CHECK_STR(run("url_encode", 1, S("a-b_c.d~e/f?\xc3\xa9")),
            "\"a-b_c.d~e%2Ff%3F%C3%A9\"");
  CHECK_STR(run("url_decode", 1, S("hello%20world%26foo%3Dbar")),
            "\"hello world&foo=bar\"");
  CHECK_STR(run("url_decode", 1, S("a+b%2x%%41%4")), "\"a+b%2x%A%4\"");
  CHECK_STR(run("url_decode", 1, S("%C3%a9")), "\"\xc3\xa9\"");
  CHECK_STR(run("url_decode", 1, S("%ff")),
            "error: eval: Evaluation error: url_decode: invalid utf-8 "
            "sequence of 1 bytes from index 0");
  CHECK_STR(run("url_decode", 1, S("ab%e2%82")),
            "error: eval: Evaluation error: url_decode: incomplete utf-8 "
            "byte sequence from index 2");
  CHECK_STR(run("url_encode", 1, J("[]")),
            "error: type: Type error: expected string, got array");
}

TEST(hex_rfc4648_base16_and_errors) {
  CHECK_STR(run("hex_encode", 1, S("foobar")), "\"666f6f626172\"");
  CHECK_STR(run("hex_encode", 1, S("")), "\"\"");
  CHECK_STR(run("hex_encode", 1, S("\xff")), "\"ff\"");
  CHECK_STR(run("hex_decode", 1, S("666F6f626172")), "\"foobar\"");
  CHECK_STR(run("hex_decode", 1, S("68656c6c6f")), "\"hello\"");
  CHECK_STR(run("hex_decode", 1, S("zzzz")),
            "error: eval: Evaluation error: hex_decode: invalid hex string: "
            "Invalid character 'z' at position 0");
  CHECK_STR(run("hex_decode", 1, S("6g")),
            "error: eval: Evaluation error: hex_decode: invalid hex string: "
            "Invalid character 'g' at position 1");
  CHECK_STR(run("hex_decode", 1, S("abc")),
            "error: eval: Evaluation error: hex_decode: invalid hex string: "
            "Odd number of digits");
  CHECK_STR(run("hex_decode", 1, S("c328")),
            "error: eval: Evaluation error: hex_decode: invalid UTF-8: "
            "invalid utf-8 sequence of 1 bytes from index 0");
  CHECK_STR(run("hex_decode", 1, F(1)),
            "error: type: Type error: expected string, got float");
}

/* ==== Hashes ==== */

TEST(md5_rfc1321_vectors) {
  CHECK_STR(run("md5", 1, S("")), "\"d41d8cd98f00b204e9800998ecf8427e\"");
  CHECK_STR(run("md5", 1, S("a")), "\"0cc175b9c0f1b6a831c399e269772661\"");
  CHECK_STR(run("md5", 1, S("abc")), "\"900150983cd24fb0d6963f7d28e17f72\"");
  CHECK_STR(run("md5", 1, S("message digest")),
            "\"f96b697d7cb7938d525a2f31aaf161d0\"");
  CHECK_STR(run("md5", 1, S("hello")), "\"5d41402abc4b2a76b9719d911017c592\"");
  CHECK_STR(run("md5", 1, N()),
            "error: type: Type error: expected string, got null");
}

TEST(sha256_fips_vectors) {
  CHECK_STR(run("sha256", 1, S("abc")),
            "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a"
            "d\"");
  CHECK_STR(run("sha256", 1, S("")),
            "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85"
            "5\"");
  CHECK_STR(run("sha256", 1,
                S("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "\"248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c"
            "1\"");
  CHECK_STR(run("sha256", 1, B(0)),
            "error: type: Type error: expected string, got bool");
}

TEST(hmac_sha256_rfc4231_vectors) {
  CHECK_STR(run("hmac_sha256", 2,
                S("\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b"
                  "\x0b\x0b\x0b\x0b\x0b\x0b"),
                S("Hi There")),
            "\"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff"
            "7\"");
  CHECK_STR(run("hmac_sha256", 2, S("Jefe"), S("what do ya want for nothing?")),
            "\"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec384"
            "3\"");
  CHECK_STR(run("hmac_sha256", 2, S(""), S("")),
            "\"b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5a"
            "d\"");
  CHECK_STR(run("hmac_sha256", 2, S("k"), I(1)),
            "error: type: Type error: expected string, got int");
  CHECK_STR(run("hmac_sha256", 2, I(1), S("m")),
            "error: type: Type error: expected string, got int");
}

TEST(uuid_v4_is_random_and_well_formed) {
  char a[64];
  const char *u;
  int i;
  snprintf(a, sizeof a, "%s", run("uuid_v4", 0));
  u = run("uuid_v4", 0);
  CHECK(strcmp(a, u) != 0);
  CHECK(strlen(a) == 38);
  for (i = 1; i < 37; i++) {
    if (i == 9 || i == 14 || i == 19 || i == 24)
      CHECK(a[i] == '-');
    else
      CHECK(strchr("0123456789abcdef", a[i]) != NULL);
  }
  CHECK(a[15] == '4');
  CHECK(strchr("89ab", a[20]) != NULL);
}

/* ==== JWT ==== */

#define JWT_IO                                                                 \
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI"   \
  "6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6y"   \
  "JV_adQssw5c"

TEST(jwt_decode_and_verify_the_jwt_io_token) {
  CHECK_STR(
      run("jwt_decode", 1, S(JWT_IO)),
      "{\"sub\":\"1234567890\",\"name\":\"John Doe\",\"iat\":1516239022}");
  CHECK_STR(run("jwt_verify", 2, S(JWT_IO), S("your-256-bit-secret")), "true");
  CHECK_STR(
      run("jwt_verify", 3, S(JWT_IO), S("your-256-bit-secret"), S("HS256")),
      "true");
  CHECK_STR(run("jwt_verify", 2, S(JWT_IO), S("wrong")), "false");
  CHECK_STR(
      run("jwt_verify", 3, S(JWT_IO), S("your-256-bit-secret"), S("HS512")),
      "false");
  CHECK_STR(run("jwt_verify", 2, S("garbage"), S("x")), "false");
  CHECK_STR(run("jwt_verify", 3, S(JWT_IO), S("x"), S("RS256")),
            "error: eval: Evaluation error: jwt_verify: unsupported algorithm "
            "'RS256' (supported: HS256, HS384, HS512)");
  CHECK_STR(run("jwt_verify", 2, I(1), S("x")),
            "error: type: Type error: expected string, got int");
  CHECK_STR(run("jwt_verify", 2, S("a"), N()),
            "error: type: Type error: expected string, got null");
}

TEST(jwt_encode_is_byte_exact) {
  CHECK_STR(run("jwt_encode", 2,
                J("{\"sub\":\"1234567890\",\"name\":\"John Doe\",\"iat\":"
                  "1516239022}"),
                S("your-256-bit-secret")),
            "\"eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpYXQiOjE1MTYyMzkwMjIsI"
            "m5hbWUiOiJKb2huIERvZSIsInN1YiI6IjEyMzQ1Njc4OTAifQ.AcEGBRSPsmXJUz"
            "uoLfM-z2JTumSEjCNAW4Fzjl0wVgM\"");
  CHECK_STR(run("jwt_encode", 2, J("{\"sub\":\"user123\",\"role\":\"admin\"}"),
                S("my-secret")),
            "\"eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYWRtaW4iLCJzd"
            "WIiOiJ1c2VyMTIzIn0._1bPLtpfnKzVMXx7Ga3mEhCdD3vafVs01ZWAzg-4r0U\"");
  CHECK_STR(
      run("jwt_encode", 3, J("{\"a\":[1,2.5,null,true]}"), S("k"), S("HS384")),
      "\"eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzM4NCJ9.eyJhIjpbMSwyLjUsbnVsbCx0c"
      "nVlXX0.4lpgrrylsE8ba4aiyV1qrULoMhvJhD6zOPXNj706oZmd76DdB6hRE2wl9"
      "VEr-zgJ\"");
  CHECK_STR(run("jwt_encode", 3, J("{}"), S("k"), S("none")),
            "error: eval: Evaluation error: jwt_encode: unsupported algorithm "
            "'none' (supported: HS256, HS384, HS512)");
  CHECK_STR(run("jwt_encode", 2, J("{}"), I(5)),
            "error: type: Type error: expected string, got int");
}

TEST(jwt_round_trips_and_decode_errors) {
  gvalue tok;
  run("jwt_encode", 3, J("{\"sub\":\"u1\",\"n\":1.0}"), S("secret"),
      S("HS512"));
  tok = LAST;
  CHECK_STR(run("jwt_verify", 3, tok, S("secret"), S("HS512")), "true");
  CHECK_STR(run("jwt_verify", 2, tok, S("secret")), "false");
  CHECK_STR(run("jwt_decode", 1, tok), "{\"n\":1.0,\"sub\":\"u1\"}");
  CHECK_STR(run("jwt_decode", 1, S("abc")),
            "error: eval: Evaluation error: jwt_decode: InvalidToken");
  CHECK_STR(run("jwt_decode", 1, S("a.b")),
            "error: eval: Evaluation error: jwt_decode: InvalidToken");
  CHECK_PREFIX(run("jwt_decode", 1, S("e!.e30.x")),
               "error: eval: Evaluation error: jwt_decode: Base64 error: "
               "Invalid symbol 33, offset 1.");
  CHECK_PREFIX(run("jwt_decode", 1, S("e30.e30.x")),
               "error: eval: Evaluation error: jwt_decode: JSON error: missing "
               "field `alg`");
  /* header {"alg":"none"} */
  CHECK_PREFIX(run("jwt_decode", 1, S("eyJhbGciOiJub25lIn0.e30.")),
               "error: eval: Evaluation error: jwt_decode: JSON error: unknown "
               "variant `none`");
  /* header {"alg":"RS256"}: decode does not check the algorithm */
  CHECK_STR(run("jwt_decode", 1, S("eyJhbGciOiJSUzI1NiJ9.eyJhIjoxfQ.sig")),
            "{\"a\":1}");
  /* payload 42 is not a claims object */
  CHECK_PREFIX(run("jwt_decode", 1, S("eyJhbGciOiJIUzI1NiJ9.NDI.x")),
               "error: eval: Evaluation error: jwt_decode: JSON error: invalid "
               "type: integer `42`, expected struct ClaimsForValidation");
  CHECK_STR(run("jwt_decode", 1, J("[]")),
            "error: type: Type error: expected string, got array");
}

/* ==== glob ==== */

TEST(glob_match_follows_the_glob_crate) {
  CHECK_STR(run("glob_match", 2, S("*.rs"), S("main.rs")), "true");
  CHECK_STR(run("glob_match", 2, S("*.rs"), S("main.py")), "false");
  CHECK_STR(run("glob_match", 2, S("/api/*/users"), S("/api/v1/users")),
            "true");
  CHECK_STR(run("glob_match", 2, S("/api/*"), S("/api/v1/users")), "true");
  CHECK_STR(run("glob_match", 2, S("c?t"), S("cat")), "true");
  CHECK_STR(run("glob_match", 2, S("c?t"), S("ct")), "false");
  CHECK_STR(run("glob_match", 2, S("k[!e]tteh"), S("kitteh")), "true");
  CHECK_STR(run("glob_match", 2, S("k[!e]tteh"), S("ketteh")), "false");
  CHECK_STR(run("glob_match", 2, S("[a-c]x"), S("bx")), "true");
  CHECK_STR(run("glob_match", 2, S("[]]"), S("]")), "true");
  CHECK_STR(run("glob_match", 2, S("a/**/b"), S("a/x/y/b")), "true");
  CHECK_STR(run("glob_match", 2, S("**/*.md"), S("docs/a.md")), "true");
  CHECK_STR(run("glob_match", 2, S("?"), S("\xc3\xa9")), "true");
  CHECK_STR(run("glob_match", 2, S("A*"), S("abc")), "false");
  CHECK_STR(run("glob_match", 2, J("[\"*.py\",\"*.rs\"]"), S("x.rs")), "true");
  CHECK_STR(run("glob_match", 2, J("[\"*.py\"]"), S("x.rs")), "false");
  CHECK_STR(run("glob_match", 2, J("[]"), S("x")), "false");
  CHECK_STR(run("glob_match", 2, J("[\"*\",1]"), S("x")), "true");
}

TEST(glob_match_errors) {
  CHECK_STR(run("glob_match", 2, S("[abc"), S("a")),
            "error: eval: Evaluation error: glob_match: invalid pattern: "
            "Pattern syntax error near position 0: invalid range pattern");
  CHECK_STR(run("glob_match", 2, S("a***"), S("a")),
            "error: eval: Evaluation error: glob_match: invalid pattern: "
            "Pattern syntax error near position 3: wildcards are either "
            "regular `*` or recursive `**`");
  CHECK_STR(run("glob_match", 2, S("a**"), S("a")),
            "error: eval: Evaluation error: glob_match: invalid pattern: "
            "Pattern syntax error near position 0: recursive wildcards must "
            "form a single path component");
  CHECK_STR(run("glob_match", 2, S("**a"), S("a")),
            "error: eval: Evaluation error: glob_match: invalid pattern: "
            "Pattern syntax error near position 2: recursive wildcards must "
            "form a single path component");
  CHECK_STR(run("glob_match", 2, J("[1]"), S("x")),
            "error: type: Type error: expected string, got int");
  CHECK_STR(run("glob_match", 2, I(1), S("x")),
            "error: type: Type error: expected string, got int");
  CHECK_STR(run("glob_match", 2, I(1), I(2)),
            "error: type: Type error: expected string, got int");
  CHECK_PREFIX(run_gas("glob_match", 3, 2, S("*a*a*a*a*a*a*a*a*b"),
                       S("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")),
               "error: gas:");
  /* the glob crate prunes: this fails fast instead of backtracking */
  CHECK_STR(run("glob_match", 2, S("*a*a*a*a*a*a*a*a*b"),
                S("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")),
            "false");
}

/* Matching recurses once per wildcard: a pattern of many is refused
** before it can overflow the C stack (it crashed at ~100,000), and the
** scan of a [...] class is charged per entry. */
TEST(glob_match_bounds_wildcards_and_classes) {
  size_t n = 2 * 1001 + 1, i;
  char *p = malloc(2 * 500000 + 1), *t = malloc(n + 1), *c;
  for (i = 0; i < 1000; i++)
    p[2 * i] = '*', p[2 * i + 1] = 'a', t[i] = 'a';
  p[2000] = 0, t[1000] = 0;
  CHECK_STR(run("glob_match", 2, S(p), S(t)), "true"); /* 1000: allowed */
  p[2000] = '*', p[2001] = 0;
  CHECK_STR(run("glob_match", 2, S(p), S(t)),
            "error: eval: Evaluation error: glob_match: invalid pattern: "
            "more than 1000 wildcards (the maximum)");
  for (i = 0; i < 500000; i++)
    p[2 * i] = '*', p[2 * i + 1] = 'a';
  p[2 * 500000] = 0;
  CHECK_STR(run("glob_match", 2, S(p), S(t)),
            "error: eval: Evaluation error: glob_match: invalid pattern: "
            "more than 1000 wildcards (the maximum)");
  /* "*[bbb...]" over "aaa...": every position scans the whole class */
  c = malloc(100000 + 4);
  c[0] = '*', c[1] = '[';
  memset(c + 2, 'b', 100000);
  c[100002] = ']', c[100003] = 0;
  CHECK_PREFIX(run_gas("glob_match", 200000, 2, S(c), S(t)), "error: gas:");
  free(c);
  free(p);
  free(t);
}

/* ==== CIDR ==== */

TEST(cidr_contains_ipv4_and_ipv6) {
  CHECK_STR(run("cidr_contains", 2, S("10.0.0.0/8"), S("10.1.2.3")), "true");
  CHECK_STR(run("cidr_contains", 2, S("10.0.0.0/8"), S("192.168.1.1")),
            "false");
  CHECK_STR(run("cidr_contains", 2, S("192.168.1.0/24"), S("192.168.1.255")),
            "true");
  CHECK_STR(run("cidr_contains", 2, S("192.168.1.77/24"), S("192.168.1.3")),
            "true"); /* host bits are ignored */
  CHECK_STR(run("cidr_contains", 2, S("0.0.0.0/0"), S("8.8.8.8")), "true");
  CHECK_STR(run("cidr_contains", 2, S("1.2.3.4"), S("1.2.3.4")), "true");
  CHECK_STR(run("cidr_contains", 2, S("1.2.3.4"), S("1.2.3.5")), "false");
  CHECK_STR(run("cidr_contains", 2, S("10.0.0.0/255.0.0.0"), S("10.9.9.9")),
            "true");
  CHECK_STR(run("cidr_contains", 2, S("2001:db8::/32"), S("2001:db8::1")),
            "true");
  CHECK_STR(run("cidr_contains", 2, S("2001:db8::/32"), S("2001:db9::1")),
            "false");
  CHECK_STR(run("cidr_contains", 2, S("::/0"), S("::1")), "true");
  CHECK_STR(run("cidr_contains", 2, S("::ffff:0:0/96"), S("::ffff:1.2.3.4")),
            "true");
  CHECK_STR(run("cidr_contains", 2, S("fe80::/10"), S("FE80::1:2")), "true");
  CHECK_STR(run("cidr_contains", 2, S("10.0.0.0/8"), S("::1")), "false");
}

TEST(cidr_errors_and_intersects) {
  CHECK_STR(run("cidr_contains", 2, S("10.0.0.0/33"), S("10.0.0.1")),
            "error: eval: Evaluation error: cidr_contains: invalid CIDR "
            "'10.0.0.0/33': invalid address: 10.0.0.0/33");
  CHECK_STR(run("cidr_contains", 2, S("10.0.0/8"), S("10.0.0.1")),
            "error: eval: Evaluation error: cidr_contains: invalid CIDR "
            "'10.0.0/8': invalid address: 10.0.0/8");
  CHECK_STR(run("cidr_contains", 2, S("10.0.0.0/8"), S("010.0.0.1")),
            "error: eval: Evaluation error: cidr_contains: invalid IP "
            "'010.0.0.1': invalid IP address syntax");
  CHECK_STR(run("cidr_contains", 2, S("10.0.0.0/8"), S("1:2:3:4:5:6:7:8:9")),
            "error: eval: Evaluation error: cidr_contains: invalid IP "
            "'1:2:3:4:5:6:7:8:9': invalid IP address syntax");
  CHECK_PREFIX(run("cidr_contains", 2, S("10.0.0.0/255.0.255.0"), S("1.1.1.1")),
               "error: eval:");
  CHECK_PREFIX(run("cidr_contains", 2, S("1.2.3.4/8/8"), S("1.1.1.1")),
               "error: eval:");
  CHECK_STR(run("cidr_contains", 2, I(1), S("1.1.1.1")),
            "error: type: Type error: expected string, got int");
  CHECK_STR(run("cidr_intersects", 2, S("10.0.0.0/16"), S("10.0.0.0/24")),
            "true");
  CHECK_STR(run("cidr_intersects", 2, S("10.0.0.0/24"), S("10.0.0.0/16")),
            "true");
  CHECK_STR(run("cidr_intersects", 2, S("10.0.0.0/8"), S("192.168.0.0/16")),
            "false");
  CHECK_STR(run("cidr_intersects", 2, S("2001:db8::/32"), S("2001:db8:1::/48")),
            "true");
  CHECK_STR(run("cidr_intersects", 2, S("2001:db8::/32"), S("10.0.0.0/8")),
            "false");
  CHECK_STR(run("cidr_intersects", 2, S("10.0.0.0/8"), S("bad")),
            "error: eval: Evaluation error: cidr_intersects: invalid CIDR "
            "'bad': invalid address: bad");
  CHECK_STR(run("cidr_intersects", 2, S("10.0.0.0/8"), N()),
            "error: type: Type error: expected string, got null");
}

/* ==== semver ==== */

TEST(semver_precedence_follows_semver_org) {
  static const char *const order[] = {
      "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
      "1.0.0-beta",  "1.0.0-beta.2",  "1.0.0-beta.11",
      "1.0.0-rc.1",  "1.0.0",         "1.0.1",
      "1.1.0",       "2.0.0"};
  size_t i, j, n = sizeof order / sizeof order[0];
  for (i = 0; i < n; i++)
    for (j = 0; j < n; j++)
      CHECK_STR(run("semver_compare", 2, S(order[i]), S(order[j])), i < j ? "-1"
                                                                    : i > j
                                                                        ? "1"
                                                                        : "0");
  CHECK_STR(run("semver_compare", 2, S("1.2.3"), S("1.2.4")), "-1");
  CHECK_STR(run("semver_compare", 2, S("2.0.0"), S("1.9.9")), "1");
  CHECK_STR(run("semver_compare", 2, S("1.0.0"), S("1.0.0")), "0");
  CHECK_STR(run("semver_compare", 2, S("1.10.0"), S("1.9.0")), "1");
  CHECK_STR(run("semver_compare", 2, S("1.0.0+b"), S("1.0.0")), "1");
  CHECK_STR(run("semver_compare", 2, S("1.0.0+2"), S("1.0.0+10")), "-1");
  CHECK_STR(run("semver_compare", 2, S("1.0.0-1"), S("1.0.0-a")), "-1");
}

TEST(semver_validity_and_errors) {
  CHECK_STR(run("semver_is_valid", 1, S("1.2.3")), "true");
  CHECK_STR(run("semver_is_valid", 1, S("1.2.3-alpha.1+build.5")), "true");
  CHECK_STR(run("semver_is_valid", 1, S("not-a-version")), "false");
  CHECK_STR(run("semver_is_valid", 1, S("1.2")), "false");
  CHECK_STR(run("semver_is_valid", 1, S("v1.2.3")), "false");
  CHECK_STR(run("semver_is_valid", 1, S("01.2.3")), "false");
  CHECK_STR(run("semver_is_valid", 1, S("1.2.3-01")), "false");
  CHECK_STR(run("semver_is_valid", 1, S("1.2.3-")), "false");
  CHECK_STR(run("semver_is_valid", 1, S("1.2.3+")), "false");
  CHECK_STR(run("semver_is_valid", 1, S("1.2.3 ")), "false");
  CHECK_STR(run("semver_is_valid", 1, S("")), "false");
  CHECK_STR(run("semver_is_valid", 1, I(1)),
            "error: type: Type error: expected string, got int");
  CHECK_STR(run("semver_compare", 2, S("x"), S("1.0.0")),
            "error: eval: Evaluation error: semver_compare: invalid version "
            "'x': unexpected character 'x' while parsing major version "
            "number");
  CHECK_STR(run("semver_compare", 2, S("1.0.0"), S("1.2")),
            "error: eval: Evaluation error: semver_compare: invalid version "
            "'1.2': unexpected end of input while parsing minor version "
            "number");
  CHECK_STR(run("semver_compare", 2, S("1.0.0"), S("1.02.0")),
            "error: eval: Evaluation error: semver_compare: invalid version "
            "'1.02.0': invalid leading zero in minor version number");
  CHECK_STR(run("semver_compare", 2, S("1.0.0-a..b"), S("1.0.0")),
            "error: eval: Evaluation error: semver_compare: invalid version "
            "'1.0.0-a..b': empty identifier segment in pre-release "
            "identifier");
  CHECK_STR(run("semver_compare", 2, S("1.0.0.0"), S("1.0.0")),
            "error: eval: Evaluation error: semver_compare: invalid version "
            "'1.0.0.0': unexpected character '.' after patch version number");
  CHECK_STR(run("semver_compare", 2, S(""), S("1.0.0")),
            "error: eval: Evaluation error: semver_compare: invalid version "
            "'': empty string, expected a semver version");
  CHECK_STR(run("semver_compare", 2, S("1.0.0"), I(1)),
            "error: type: Type error: expected string, got int");
}

/* ==== Limits ==== */

TEST(string_results_respect_the_size_limit) {
  static char big[GAVEL_MAX_STR_BYTES / 2 + 8];
  memset(big, ' ', sizeof big - 1);
  big[sizeof big - 1] = 0;
  CHECK_PREFIX(run("hex_encode", 1, S(big)), "error: limit:");
  CHECK_PREFIX(run("url_encode", 1, S(big)), "error: limit:");
  CHECK_PREFIX(run("base64_encode", 1, S(big)), "\"ICAg");
  CHECK_PREFIX(run("regex_replace", 3, S(" "), S(big), S("bbb")),
               "error: limit:");
  gavel__arena_reset(arena());
}

TEST_MAIN()
