/*
** test_builtins.c -- the core builtins called directly through the
** registry: every builtin's results and error paths, the arity bounds in
** the table, size limits, gas exhaustion and the name index.
**
** Arguments are built by hand or from JSON text; results are compared as
** compact JSON ("3" vs "3.0" matters) or as "error: <message>".  The VM's
** own arity check is simulated from the table's min/max.
*/
#include "json.h"
#include "tinytest.h"
#include "value.h"
#include <math.h>
#include <stdlib.h>

/* ==== Harness ==== */

static gv_arena arena;
static gv_rt rt;
static char result[1 << 16];

static void rt_reset(int64_t gas) {
  static int inited;
  if (!inited) {
    gavel__arena_init(&arena, &gavel__default_alloc, 0);
    inited = 1;
  } else
    gavel__arena_reset(&arena);
  rt.arena = &arena;
  rt.ekind = GV_E_NONE;
  rt.emsg[0] = 0;
  rt.gas = gas;
  rt.fn_name = NULL;
}

/* Formats the outcome of a call: JSON of *out, or "error: <msg>". */
static const char *outcome(int rc, gvalue out) {
  gv_buf b;
  if (rc) {
    snprintf(result, sizeof result, "error: %s", rt.emsg);
    return result;
  }
  gavel__buf_init(&b, &gavel__default_alloc);
  gavel__json_write(&b, out);
  snprintf(result, sizeof result, "%s", b.oom ? "(oom)" : b.p);
  gavel__buf_free(&b);
  return result;
}

/* Calls 'fn' with hand-built arguments under 'gas'. */
static const char *callv_gas(const char *fn, const gvalue *args, int n,
                             int64_t gas) {
  const gv_builtin *b = gavel__builtin_find(fn, strlen(fn));
  gvalue out = gv_null();
  int rc;
  if (!b)
    return "(no such builtin)";
  if (n < b->min_args || (b->max_args >= 0 && n > b->max_args))
    return "(arity)";
  rt.ekind = GV_E_NONE;
  rt.emsg[0] = 0;
  rt.gas = gas;
  rc = b->fn(&rt, &out, args, n);
  if (rc && rt.ekind == GV_E_NONE)
    return "(failed without an error)";
  if (!rc && rt.ekind != GV_E_NONE)
    return "(error set on success)";
  return outcome(rc, out);
}

static const char *callv(const char *fn, const gvalue *args, int n) {
  return callv_gas(fn, args, n, 1000000000);
}

/* Calls 'fn' with the elements of the JSON array 'json' as arguments. */
static const char *call(const char *fn, const char *json) {
  gvalue arr;
  gavel_error err;
  rt_reset(1000000000);
  if (gavel__json_parse(&arena, json, strlen(json), NULL, &arr, &err) !=
          GAVEL_OK ||
      arr.tag != GV_ARR)
    return "(bad test JSON)";
  return callv(fn, arr.u.a->items, (int)arr.u.a->len);
}

static gvalue mkstr(const char *s) {
  return gv_strv(gavel__str_new(&arena, s, strlen(s)));
}

static gvalue mkstrn(const char *s, size_t n) {
  return gv_strv(gavel__str_new(&arena, s, n));
}

/* An array of 'n' copies of 'v' (its items allocated with malloc-free
** arena memory). */
static gvalue mkarr_fill(uint32_t n, gvalue v) {
  gv_arr *a = gavel__arr_new(&arena, n);
  uint32_t i;
  for (i = 0; i < n; i++)
    a->items[i] = v;
  a->len = n;
  return gv_arrv(a);
}

/* ==== Registry ==== */

TEST(registry_finds_every_core_builtin_and_indexes_round_trip) {
  int i, n = 0, ncore = 0;
  for (i = 0; gavel__builtins_core[i].name; i++)
    ncore++;
  for (i = 0; gavel__builtins_ext[i].name; i++)
    n++;
  CHECK(ncore == 57);
  CHECK(gavel__builtin_count() == ncore + n);
  for (i = 0; i < gavel__builtin_count(); i++) {
    const gv_builtin *b = gavel__builtin_at(i);
    CHECK(b != NULL);
    CHECK(gavel__builtin_index(b) == i);
    CHECK(gavel__builtin_find(b->name, strlen(b->name)) == b);
  }
  for (i = 0; i < ncore; i++)
    CHECK(gavel__builtin_at(i) == &gavel__builtins_core[i]);
  CHECK(gavel__builtin_at(-1) == NULL);
  CHECK(gavel__builtin_at(gavel__builtin_count()) == NULL);
  CHECK(gavel__builtin_index(NULL) == -1);
}

TEST(registry_lookup_uses_the_length_and_is_case_sensitive) {
  CHECK(gavel__builtin_find("lenx", 3) == &gavel__builtins_core[0]);
  CHECK(gavel__builtin_find("len", 2) == NULL);
  CHECK(gavel__builtin_find("LEN", 3) == NULL);
  CHECK(gavel__builtin_find("contains", 8) == NULL);
  CHECK(gavel__builtin_find("math.abs", 8) == NULL);
  CHECK(gavel__builtin_find("", 0) == NULL);
  CHECK(gavel__builtin_find("zzz", 3) == NULL);
  CHECK(gavel__builtin_find("abs", 3) != NULL);
  CHECK(gavel__builtin_find("unique", 6) != NULL);
}

/* Ordo's arity per builtin: exact, ranges for substring/slice/range,
** at least one for min/max/format. */
TEST(table_arity_matches_ordo) {
  static const struct {
    const char *name;
    int min, max;
  } want[] = {
      {"len", 1, 1},          {"upper", 1, 1},        {"lower", 1, 1},
      {"trim", 1, 1},         {"starts_with", 2, 2},  {"ends_with", 2, 2},
      {"contains_str", 2, 2}, {"substring", 2, 3},    {"replace", 3, 3},
      {"split", 2, 2},        {"join", 2, 2},         {"pad_left", 3, 3},
      {"pad_right", 3, 3},    {"char_at", 2, 2},      {"index_of", 2, 2},
      {"format", 1, -1},      {"sprintf", 2, 2},      {"abs", 1, 1},
      {"min", 1, -1},         {"max", 1, -1},         {"floor", 1, 1},
      {"ceil", 1, 1},         {"round", 1, 1},        {"sum", 1, 1},
      {"avg", 1, 1},          {"count", 1, 1},        {"first", 1, 1},
      {"last", 1, 1},         {"sort", 1, 1},         {"reverse", 1, 1},
      {"unique", 1, 1},       {"slice", 2, 3},        {"range", 2, 3},
      {"array_concat", 2, 2}, {"flatten", 1, 1},      {"map_extract", 2, 2},
      {"filter_by", 3, 3},    {"group_by", 2, 2},     {"graph_reachable", 2, 2},
      {"keys", 1, 1},         {"values", 1, 1},       {"has_key", 2, 2},
      {"merge", 2, 2},        {"object_get", 3, 3},   {"type", 1, 1},
      {"is_null", 1, 1},      {"is_number", 1, 1},    {"is_string", 1, 1},
      {"is_array", 1, 1},     {"is_bool", 1, 1},      {"is_object", 1, 1},
      {"to_int", 1, 1},       {"to_float", 1, 1},     {"to_string", 1, 1},
      {"to_bool", 1, 1},      {"json_marshal", 1, 1}, {"json_unmarshal", 1, 1},
  };
  size_t i;
  CHECK(sizeof want / sizeof want[0] == 57);
  for (i = 0; i < sizeof want / sizeof want[0]; i++) {
    const gv_builtin *b = gavel__builtin_find(want[i].name,
                                              strlen(want[i].name));
    CHECK(b != NULL);
    if (!b)
      continue;
    if (b->min_args != want[i].min || b->max_args != want[i].max)
      fprintf(stderr, "  arity of %s\n", want[i].name);
    CHECK(b->min_args == want[i].min);
    CHECK(b->max_args == want[i].max);
    CHECK(b->pure == 1);
  }
}

/* ==== Strings ==== */

TEST(len_counts_utf8_bytes_elements_and_keys) {
  CHECK_STR(call("len", "[\"hello\"]"), "5");
  CHECK_STR(call("len", "[\"h\u00e9llo\"]"), "6");
  CHECK_STR(call("len", "[\"\"]"), "0");
  CHECK_STR(call("len", "[[1, 2]]"), "2");
  CHECK_STR(call("len", "[{\"a\": 1}]"), "1");
  CHECK_STR(call("len", "[null]"),
            "error: Type error: expected string, array, or object, got null");
  CHECK_STR(call("len", "[5]"),
            "error: Type error: expected string, array, or object, got int");
}

TEST(upper_maps_full_unicode) {
  CHECK_STR(call("upper", "[\"hello\"]"), "\"HELLO\"");
  CHECK_STR(call("upper", "[\"stra\u00dfe\"]"), "\"STRASSE\"");
  CHECK_STR(call("upper", "[\"\u00e0\u00e9\u00ee\u00f6\u00fc\u00ff\"]"),
            "\"\u00c0\u00c9\u00ce\u00d6\u00dc\u0178\"");
  CHECK_STR(call("upper", "[\"\u0101\u0133\u017e\u0131\"]"),
            "\"\u0100\u0132\u017dI\"");
  CHECK_STR(call("upper", "[\"\u03b1\u03b2\u03b3\u03c2\"]"),
            "\"\u0391\u0392\u0393\u03a3\"");
  CHECK_STR(call("upper", "[\"\u043f\u0440\u0438\u0432\u0435\u0442\"]"),
            "\"\u041f\u0420\u0418\u0412\u0415\u0422\"");
  CHECK_STR(call("upper", "[\"\ufb01x\"]"), "\"FIX\"");
  CHECK_STR(call("upper", "[\"\u0390\"]"), "\"\u0399\u0308\u0301\"");
  CHECK_STR(call("upper", "[\"\u01c6\u0149\"]"), "\"\u01c4\u02bcN\"");
  CHECK_STR(call("upper", "[\"\u0250\"]"), "\"\u2c6f\"");
  CHECK_STR(call("upper", "[\"\"]"), "\"\"");
  CHECK_STR(call("upper", "[1]"),
            "error: Type error: expected string, got int");
  CHECK_STR(call("upper", "[null]"),
            "error: Type error: expected string, got null");
}

TEST(lower_maps_full_unicode_with_final_sigma) {
  CHECK_STR(call("lower", "[\"HELLO\"]"), "\"hello\"");
  CHECK_STR(call("lower", "[\"\u00c0\u00c9\u0178\"]"),
            "\"\u00e0\u00e9\u00ff\"");
  CHECK_STR(call("lower", "[\"\u0130\"]"), "\"i\u0307\"");
  CHECK_STR(call("lower", "[\"\u03a3\u0391\u03a3\"]"),
            "\"\u03c3\u03b1\u03c2\"");
  CHECK_STR(call("lower", "[\"\u03a3\"]"), "\"\u03c3\"");
  CHECK_STR(call("lower", "[\"\u0391\u03a3 \u0392\"]"),
            "\"\u03b1\u03c2 \u03b2\"");
  CHECK_STR(call("lower", "[\"A.\u03a3\"]"), "\"a.\u03c2\"");
  CHECK_STR(call("lower", "[\"\u0391\u03a3'\u0391\"]"),
            "\"\u03b1\u03c3'\u03b1\"");
  CHECK_STR(call("lower", "[\"\u041f\u0420\u0418\u0412\u0415\u0422\"]"),
            "\"\u043f\u0440\u0438\u0432\u0435\u0442\"");
  CHECK_STR(call("lower", "[\"\u2c6f\"]"), "\"\u0250\"");
  CHECK_STR(call("lower", "[[]]"),
            "error: Type error: expected string, got array");
}

TEST(case_mapping_copies_invalid_utf8_bytes_through) {
  gvalue a[1];
  rt_reset(1000000);
  a[0] = mkstrn("a\xff\xc3", 3);
  CHECK_STR(callv("upper", a, 1), "\"A\xff\xc3\"");
  a[0] = mkstrn("\xe9X", 2);
  CHECK_STR(callv("lower", a, 1), "\"\xe9x\"");
}

TEST(trim_strips_unicode_white_space) {
  CHECK_STR(call("trim", "[\"  hello  \"]"), "\"hello\"");
  CHECK_STR(call("trim", "[\"\u00a0\u3000x y\\t\\n\u2029\"]"), "\"x y\"");
  CHECK_STR(call("trim", "[\"   \"]"), "\"\"");
  CHECK_STR(call("trim", "[\"\"]"), "\"\"");
  CHECK_STR(call("trim", "[\"\u200bx\"]"), "\"\u200bx\"");
  CHECK_STR(call("trim", "[1]"), "error: Type error: expected string, got int");
}

TEST(starts_with_ends_with_contains_str) {
  CHECK_STR(call("starts_with", "[\"hello\", \"he\"]"), "true");
  CHECK_STR(call("starts_with", "[\"hello\", \"\"]"), "true");
  CHECK_STR(call("starts_with", "[\"he\", \"hello\"]"), "false");
  CHECK_STR(call("starts_with", "[1, \"a\"]"),
            "error: Type error: expected string, got int");
  CHECK_STR(call("starts_with", "[\"a\", null]"),
            "error: Type error: expected string, got null");
  CHECK_STR(call("ends_with", "[\"hello\", \"llo\"]"), "true");
  CHECK_STR(call("ends_with", "[\"hello\", \"\"]"), "true");
  CHECK_STR(call("ends_with", "[\"lo\", \"hello\"]"), "false");
  CHECK_STR(call("ends_with", "[\"a\", 1]"),
            "error: Type error: expected string, got int");
  CHECK_STR(call("contains_str", "[\"hello\", \"ell\"]"), "true");
  CHECK_STR(call("contains_str", "[\"hello\", \"\"]"), "true");
  CHECK_STR(call("contains_str", "[\"\", \"a\"]"), "false");
  CHECK_STR(call("contains_str", "[\"hello\", \"elo\"]"), "false");
  CHECK_STR(call("contains_str", "[[\"a\"], \"a\"]"),
            "error: Type error: expected string, got array");
}

TEST(substring_counts_chars_and_clamps) {
  CHECK_STR(call("substring", "[\"hello\", 1, 3]"), "\"el\"");
  CHECK_STR(call("substring", "[\"hello\", 2]"), "\"llo\"");
  CHECK_STR(call("substring", "[\"hello\", 3, 1]"), "\"\"");
  CHECK_STR(call("substring", "[\"h\u00e9llo\", 1, 3]"), "\"\u00e9l\"");
  CHECK_STR(call("substring", "[\"hello\", -1]"), "\"\"");
  CHECK_STR(call("substring", "[\"hello\", 0, -1]"), "\"hello\"");
  CHECK_STR(call("substring", "[\"hello\", 10]"), "\"\"");
  CHECK_STR(call("substring", "[\"hello\", 1.9, 3.2]"), "\"el\"");
  CHECK_STR(call("substring", "[\"\u00e9\u00e9\u00e9\", 1]"),
            "\"\u00e9\u00e9\"");
  CHECK_STR(call("substring", "[\"hello\", \"1\"]"),
            "error: Type error: expected int, got string");
  CHECK_STR(call("substring", "[\"hello\", 1, null]"),
            "error: Type error: expected int, got null");
  CHECK_STR(call("substring", "[5, 1]"),
            "error: Type error: expected string, got int");
  CHECK_STR(call("substring", "[\"a\"]"), "(arity)");
  CHECK_STR(call("substring", "[\"a\", 1, 2, 3]"), "(arity)");
}

TEST(replace_follows_rust_str_replace) {
  CHECK_STR(call("replace", "[\"hello world\", \"world\", \"rust\"]"),
            "\"hello rust\"");
  CHECK_STR(call("replace", "[\"aaa\", \"a\", \"b\"]"), "\"bbb\"");
  CHECK_STR(call("replace", "[\"aaaa\", \"aa\", \"b\"]"), "\"bb\"");
  CHECK_STR(call("replace", "[\"aaa\", \"aa\", \"b\"]"), "\"ba\"");
  CHECK_STR(call("replace", "[\"ab\", \"\", \"-\"]"), "\"-a-b-\"");
  CHECK_STR(call("replace", "[\"\", \"\", \"x\"]"), "\"x\"");
  CHECK_STR(call("replace", "[\"h\u00e9\", \"\", \"|\"]"),
            "\"|h|\u00e9|\"");
  CHECK_STR(call("replace", "[\"abc\", \"x\", \"y\"]"), "\"abc\"");
  CHECK_STR(call("replace", "[\"abc\", \"b\", \"\"]"), "\"ac\"");
  CHECK_STR(call("replace", "[\"abc\", 1, \"\"]"),
            "error: Type error: expected string, got int");
  CHECK_STR(call("replace", "[\"abc\", \"b\", null]"),
            "error: Type error: expected string, got null");
}

TEST(split_follows_rust_str_split) {
  CHECK_STR(call("split", "[\"a,b,c\", \",\"]"), "[\"a\",\"b\",\"c\"]");
  CHECK_STR(call("split", "[\"ab\", \"\"]"), "[\"\",\"a\",\"b\",\"\"]");
  CHECK_STR(call("split", "[\"\", \",\"]"), "[\"\"]");
  CHECK_STR(call("split", "[\"\", \"\"]"), "[\"\",\"\"]");
  CHECK_STR(call("split", "[\",a,\", \",\"]"), "[\"\",\"a\",\"\"]");
  CHECK_STR(call("split", "[\"a--b\", \"-\"]"), "[\"a\",\"\",\"b\"]");
  CHECK_STR(call("split", "[\"aXXbXX\", \"XX\"]"), "[\"a\",\"b\",\"\"]");
  CHECK_STR(call("split", "[\"aaa\", \"aa\"]"), "[\"\",\"a\"]");
  CHECK_STR(call("split", "[\"\u00e9\", \"\"]"), "[\"\",\"\u00e9\",\"\"]");
  CHECK_STR(call("split", "[\"a\", 1]"),
            "error: Type error: expected string, got int");
}

TEST(join_needs_an_array_of_strings) {
  CHECK_STR(call("join", "[[\"a\", \"b\", \"c\"], \"-\"]"), "\"a-b-c\"");
  CHECK_STR(call("join", "[[], \"-\"]"), "\"\"");
  CHECK_STR(call("join", "[[\"a\"], \", \"]"), "\"a\"");
  CHECK_STR(call("join", "[[\"a\", \"b\"], \"\"]"), "\"ab\"");
  CHECK_STR(call("join", "[[\"a\", 1], \"-\"]"),
            "error: Type error: expected string, got int");
  CHECK_STR(call("join", "[\"a\", \"-\"]"),
            "error: Type error: expected array, got string");
  CHECK_STR(call("join", "[[\"a\"], 1]"),
            "error: Type error: expected string, got int");
}

TEST(pad_left_and_pad_right) {
  CHECK_STR(call("pad_left", "[\"42\", 5, \"0\"]"), "\"00042\"");
  CHECK_STR(call("pad_right", "[\"hi\", 5, \".\"]"), "\"hi...\"");
  CHECK_STR(call("pad_left", "[\"hello\", 3, \"0\"]"), "\"hello\"");
  CHECK_STR(call("pad_left", "[\"x\", 3, \"\"]"), "\"  x\"");
  CHECK_STR(call("pad_left", "[\"x\", 3, \"ab\"]"), "\"aax\"");
  CHECK_STR(call("pad_left", "[\"\u00e9\", 3, \"*\"]"), "\"*\u00e9\"");
  CHECK_STR(call("pad_right", "[\"x\", 3, \"\u00e9\"]"),
            "\"x\u00e9\u00e9\"");
  CHECK_STR(call("pad_left", "[\"x\", 2.9, \"0\"]"), "\"0x\"");
  CHECK_STR(call("pad_left", "[\"x\", -1, 5]"), "\"x\"");
  CHECK_STR(call("pad_left", "[\"x\", 1000001, \"0\"]"),
            "error: Evaluation error: pad_left: width 1000001 exceeds "
            "maximum of 1000000");
  CHECK_STR(call("pad_right", "[\"x\", 10000000000, \"0\"]"),
            "error: Evaluation error: pad_right: width 10000000000 exceeds "
            "maximum of 1000000");
  CHECK_STR(call("pad_left", "[\"x\", 3, 5]"),
            "error: Type error: expected string, got int");
  CHECK_STR(call("pad_left", "[\"x\", \"3\", \"0\"]"),
            "error: Type error: expected int, got string");
  CHECK_STR(call("pad_right", "[1, 3, \"0\"]"),
            "error: Type error: expected string, got int");
}

TEST(pad_to_the_maximum_width_works) {
  rt_reset(1000000000);
  {
    gvalue a[3] = {mkstr("x"), gv_int(1000000), mkstr("0")};
    gv_builtin const *b = gavel__builtin_find("pad_left", 8);
    gvalue out;
    CHECK(b->fn(&rt, &out, a, 3) == 0);
    CHECK(out.tag == GV_STR && out.u.s->len == 1000000);
    CHECK(out.u.s->s[0] == '0' && out.u.s->s[999999] == 'x');
  }
}

TEST(char_at_and_index_of) {
  CHECK_STR(call("char_at", "[\"hello\", 1]"), "\"e\"");
  CHECK_STR(call("char_at", "[\"hello\", 99]"), "null");
  CHECK_STR(call("char_at", "[\"h\u00e9llo\", 1]"), "\"\u00e9\"");
  CHECK_STR(call("char_at", "[\"hello\", -1]"), "null");
  CHECK_STR(call("char_at", "[\"hello\", 1.5]"), "\"e\"");
  CHECK_STR(call("char_at", "[\"\", 0]"), "null");
  CHECK_STR(call("char_at", "[\"hello\", \"1\"]"),
            "error: Type error: expected int, got string");
  CHECK_STR(call("index_of", "[\"hello\", \"ll\"]"), "2");
  CHECK_STR(call("index_of", "[\"hello\", \"xyz\"]"), "-1");
  CHECK_STR(call("index_of", "[\"h\u00e9llo\", \"l\"]"), "3");
  CHECK_STR(call("index_of", "[\"hello\", \"\"]"), "0");
  CHECK_STR(call("index_of", "[\"abab\", \"b\"]"), "1");
  CHECK_STR(call("index_of", "[\"hello\", 1]"),
            "error: Type error: expected string, got int");
}

TEST(format_replaces_placeholders_in_argument_order) {
  CHECK_STR(call("format", "[\"Hello {0}, you are {1}\", \"Alice\", 25]"),
            "\"Hello Alice, you are 25\"");
  CHECK_STR(call("format", "[\"{0}\", 2.0]"), "\"2\"");
  CHECK_STR(call("format", "[\"{0}\", 1.5]"), "\"1.5\"");
  CHECK_STR(call("format", "[\"{0}\", [1, \"a\"]]"), "\"[1, \\\"a\\\"]\"");
  CHECK_STR(call("format", "[\"{0}\", {\"a\": 1}]"),
            "\"{\\\"a\\\": 1}\"");
  CHECK_STR(call("format", "[\"{0} {1}\", null, true]"), "\"null true\"");
  CHECK_STR(call("format", "[\"{1}{0}\", \"a\", \"b\"]"), "\"ba\"");
  CHECK_STR(call("format", "[\"{0}{0}\", \"x\"]"), "\"xx\"");
  CHECK_STR(call("format", "[\"{0}\", \"{1}\", \"y\"]"), "\"y\"");
  CHECK_STR(call("format", "[\"{2}\", 1]"), "\"{2}\"");
  CHECK_STR(call("format", "[\"none\"]"), "\"none\"");
  CHECK_STR(call("format", "[5]"),
            "error: Type error: expected string, got int");
  CHECK_STR(call("format", "[]"), "(arity)");
}

TEST(sprintf_takes_the_leftmost_placeholder_per_value) {
  CHECK_STR(call("sprintf", "[\"Hello %s, you have %d items\", "
                            "[\"Alice\", 5]]"),
            "\"Hello Alice, you have 5 items\"");
  CHECK_STR(call("sprintf", "[\"%d items for %s\", [3, \"Bob\"]]"),
            "\"3 items for Bob\"");
  CHECK_STR(call("sprintf", "[\"%f|%v\", [2.0, 0.1]]"), "\"2|0.1\"");
  CHECK_STR(call("sprintf", "[\"%s %s\", [null, false]]"),
            "\"null false\"");
  CHECK_STR(call("sprintf", "[\"%s %s\", [\"%d\", \"x\"]]"), "\"x %s\"");
  CHECK_STR(call("sprintf", "[\"%s\", []]"), "\"%s\"");
  CHECK_STR(call("sprintf", "[\"a\", [1]]"), "\"a\"");
  CHECK_STR(call("sprintf", "[\"%s\", [\"a\", \"b\"]]"), "\"a\"");
  CHECK_STR(call("sprintf", "[\"%%s\", [1]]"), "\"%1\"");
  CHECK_STR(call("sprintf", "[\"%x %s\", [1]]"), "\"%x 1\"");
  CHECK_STR(call("sprintf", "[1, []]"),
            "error: Type error: expected string, got int");
  CHECK_STR(call("sprintf", "[\"%s\", 1]"),
            "error: Type error: expected array, got int");
}

TEST(sprintf_writes_arrays_and_objects_in_rust_debug_form) {
  CHECK_STR(call("sprintf", "[\"%v\", [[1, 2]]]"),
            "\"Array([Int(1), Int(2)])\"");
  CHECK_STR(call("sprintf", "[\"%v\", [[]]]"), "\"Array([])\"");
  CHECK_STR(call("sprintf", "[\"%v\", [{}]]"), "\"Object({})\"");
  CHECK_STR(call("sprintf", "[\"%v\", [{\"a\": 1.0}]]"),
            "\"Object({\\\"a\\\": Float(1.0)})\"");
  CHECK_STR(call("sprintf", "[\"%v\", [[true, null, \"s\"]]]"),
            "\"Array([Bool(true), Null, String(\\\"s\\\")])\"");
  CHECK_STR(call("sprintf", "[\"%v\", [[1e16, 1e15, 0.0001, 0.00001, "
                            "1.5e-7, -2.5, 123456.789, 0.0]]]"),
            "\"Array([Float(1e16), Float(1000000000000000.0), "
            "Float(0.0001), Float(1e-5), Float(1.5e-7), Float(-2.5), "
            "Float(123456.789), Float(0.0)])\"");
  CHECK_STR(call("sprintf", "[\"%v\", [[1.7976931348623157e308, "
                            "5e-324, -0.0]]]"),
            "\"Array([Float(1.7976931348623157e308), Float(5e-324), "
            "Float(-0.0)])\"");
  CHECK_STR(call("sprintf", "[\"%v\", [[\"x\\n\\\"y\\\\\\t\\r\\u0000'\"]]]"),
            "\"Array([String(\\\"x\\\\n\\\\\\\"y\\\\\\\\\\\\t\\\\r"
            "\\\\0'\\\")])\"");
  CHECK_STR(call("sprintf", "[\"%v\", [[\"\\u0001\u00a0e\u0301\u00e9\"]]]"),
            "\"Array([String(\\\"\\\\u{1}\\\\u{a0}e\\\\u{301}\u00e9\\\")])\"");
  CHECK_STR(call("sprintf", "[\"%v\", [[[1, [2]]]]]"),
            "\"Array([Array([Int(1), Array([Int(2)])])])\"");
}

TEST(sprintf_writes_non_finite_floats_as_rust_does) {
  gvalue a[2], items[3];
  gv_arr arr = {.len = 3, .cap = 3, .items = items};
  rt_reset(1000000);
  items[0] = gv_float(NAN);
  items[1] = gv_float(INFINITY);
  items[2] = gv_arrv(&arr);
  a[0] = mkstr("%s %s %s");
  a[1] = gv_arrv(&arr);
  arr.len = 2;
  CHECK_STR(callv("sprintf", a, 2), "\"NaN inf %s\"");
  {
    gv_arr inner = {.len = 2, .cap = 2, .items = items};
    items[1] = gv_float(-INFINITY);
    items[2] = gv_arrv(&inner);
    arr.len = 3;
    CHECK_STR(callv("sprintf", a, 2),
              "\"NaN -inf Array([Float(NaN), Float(-inf)])\"");
  }
}

/* ==== Math ==== */

TEST(abs_checks_int_overflow) {
  CHECK_STR(call("abs", "[-5]"), "5");
  CHECK_STR(call("abs", "[5]"), "5");
  CHECK_STR(call("abs", "[-2.5]"), "2.5");
  CHECK_STR(call("abs", "[-0.0]"), "0.0");
  CHECK_STR(call("abs", "[-9223372036854775807]"), "9223372036854775807");
  CHECK_STR(call("abs", "[-9223372036854775808]"),
            "error: Evaluation error: Integer overflow in abs()");
  CHECK_STR(call("abs", "[\"-5\"]"),
            "error: Type error: expected number, got string");
  CHECK_STR(call("abs", "[null]"),
            "error: Type error: expected number, got null");
}

TEST(min_and_max_are_variadic_and_skip_incomparable_values) {
  CHECK_STR(call("min", "[3, 1, 2]"), "1");
  CHECK_STR(call("max", "[3, 1, 2]"), "3");
  CHECK_STR(call("min", "[[3, 1, 2]]"), "[3,1,2]");
  CHECK_STR(call("max", "[[3, 1, 2]]"), "[3,1,2]");
  CHECK_STR(call("min", "[1, 1.0]"), "1");
  CHECK_STR(call("min", "[1.0, 1]"), "1.0");
  CHECK_STR(call("max", "[2, 2.5]"), "2.5");
  CHECK_STR(call("min", "[\"b\", \"a\", \"c\"]"), "\"a\"");
  CHECK_STR(call("max", "[false, true]"), "true");
  CHECK_STR(call("min", "[\"a\", 1, 0]"), "\"a\"");
  CHECK_STR(call("min", "[1, \"a\", 0]"), "0");
  CHECK_STR(call("max", "[null, 5]"), "null");
  CHECK_STR(call("max", "[5]"), "5");
  CHECK_STR(call("min", "[]"), "(arity)");
  CHECK_STR(call("max", "[]"), "(arity)");
}

TEST(min_and_max_skip_nan) {
  gvalue a[3];
  rt_reset(1000);
  a[0] = gv_int(2);
  a[1] = gv_float(NAN);
  a[2] = gv_int(1);
  CHECK_STR(callv("min", a, 3), "1");
  CHECK_STR(callv("max", a, 3), "2");
}

TEST(floor_ceil_round_return_ints) {
  CHECK_STR(call("floor", "[1.7]"), "1");
  CHECK_STR(call("floor", "[-1.2]"), "-2");
  CHECK_STR(call("floor", "[5]"), "5");
  CHECK_STR(call("ceil", "[1.2]"), "2");
  CHECK_STR(call("ceil", "[-1.7]"), "-1");
  CHECK_STR(call("ceil", "[7]"), "7");
  CHECK_STR(call("round", "[2.5]"), "3");
  CHECK_STR(call("round", "[-2.5]"), "-3");
  CHECK_STR(call("round", "[2.4999]"), "2");
  CHECK_STR(call("round", "[0.49999999999999994]"), "0");
  CHECK_STR(call("round", "[1e300]"), "9223372036854775807");
  CHECK_STR(call("floor", "[-1e300]"), "-9223372036854775808");
  CHECK_STR(call("ceil", "[9223372036854775807]"), "9223372036854775807");
  CHECK_STR(call("floor", "[\"1\"]"),
            "error: Type error: expected number, got string");
  CHECK_STR(call("round", "[null]"),
            "error: Type error: expected number, got null");
  CHECK_STR(call("ceil", "[true]"),
            "error: Type error: expected number, got bool");
}

TEST(floor_of_non_finite_fails) {
  gvalue a[1];
  rt_reset(1000);
  a[0] = gv_float(NAN);
  CHECK_STR(callv("floor", a, 1),
            "error: Evaluation error: floor: cannot convert NaN to int");
  a[0] = gv_float(INFINITY);
  CHECK_STR(callv("round", a, 1),
            "error: Evaluation error: round: cannot convert inf to int");
  a[0] = gv_float(-INFINITY);
  CHECK_STR(callv("ceil", a, 1),
            "error: Evaluation error: ceil: cannot convert -inf to int");
}

/* ==== Arrays ==== */

TEST(sum_keeps_ints_and_adds_floats_separately) {
  CHECK_STR(call("sum", "[[1, 2, 3]]"), "6");
  CHECK_STR(call("sum", "[[]]"), "0");
  CHECK_STR(call("sum", "[[1, 2.5]]"), "3.5");
  CHECK_STR(call("sum", "[[1.0]]"), "1.0");
  CHECK_STR(call("sum", "[[1, 10000000000000000.0, -10000000000000000.0]]"),
            "1.0");
  CHECK_STR(call("sum", "[[9223372036854775807, 1]]"),
            "error: Evaluation error: Integer overflow in sum()");
  CHECK_STR(call("sum", "[[9223372036854775807, 1.0, -1]]"),
            "9223372036854776000.0");
  CHECK_STR(call("sum", "[[1, \"2\"]]"),
            "error: Type error: expected number, got string");
  CHECK_STR(call("sum", "[\"x\"]"),
            "error: Type error: expected array, got string");
}

TEST(avg_is_always_a_float) {
  CHECK_STR(call("avg", "[[1, 2, 3]]"), "2.0");
  CHECK_STR(call("avg", "[[]]"), "0.0");
  CHECK_STR(call("avg", "[[1, 2]]"), "1.5");
  CHECK_STR(call("avg", "[[1, \"a\"]]"),
            "error: Type error: expected number, got string");
  CHECK_STR(call("avg", "[null]"),
            "error: Type error: expected array, got null");
}

TEST(count_first_last) {
  CHECK_STR(call("count", "[[1, 2, 3]]"), "3");
  CHECK_STR(call("count", "[[]]"), "0");
  CHECK_STR(call("count", "[\"abc\"]"),
            "error: Type error: expected array, got string");
  CHECK_STR(call("count", "[{}]"),
            "error: Type error: expected array, got object");
  CHECK_STR(call("first", "[[1, 2, 3]]"), "1");
  CHECK_STR(call("first", "[[]]"), "null");
  CHECK_STR(call("first", "[5]"),
            "error: Type error: expected array, got int");
  CHECK_STR(call("last", "[[1, 2, 3]]"), "3");
  CHECK_STR(call("last", "[[]]"), "null");
  CHECK_STR(call("last", "[\"a\"]"),
            "error: Type error: expected array, got string");
}

TEST(sort_is_stable_and_treats_incomparable_pairs_as_equal) {
  CHECK_STR(call("sort", "[[3, 1, 2]]"), "[1,2,3]");
  CHECK_STR(call("sort", "[[]]"), "[]");
  CHECK_STR(call("sort", "[[\"b\", \"a\", \"c\"]]"), "[\"a\",\"b\",\"c\"]");
  CHECK_STR(call("sort", "[[2, 1.5, 1]]"), "[1,1.5,2]");
  CHECK_STR(call("sort", "[[1, 1.0]]"), "[1,1.0]");
  CHECK_STR(call("sort", "[[1.0, 1]]"), "[1.0,1]");
  CHECK_STR(call("sort", "[[true, false]]"), "[false,true]");
  CHECK_STR(call("sort", "[[3, \"a\", 1]]"), "[3,\"a\",1]");
  CHECK_STR(call("sort", "[[\"b\", \"a\", 2, 1]]"), "[\"a\",\"b\",1,2]");
  CHECK_STR(call("sort", "[[null, 2, 1]]"), "[null,1,2]");
  CHECK_STR(call("sort", "[5]"),
            "error: Type error: expected array, got int");
}

TEST(sort_of_a_long_array_is_a_stable_merge_sort) {
  int i, ok = 1;
  gv_arr *a;
  gvalue arg, out;
  const gv_builtin *b = gavel__builtin_find("sort", 4);
  rt_reset(1000000000);
  a = gavel__arr_new(&arena, 1000);
  /* keys 9..0 repeating; equal keys alternate int / float in input order */
  for (i = 0; i < 1000; i++)
    a->items[i] = ((i / 10) % 2) ? gv_int(9 - i % 10) : gv_float(9 - i % 10);
  a->len = 1000;
  arg = gv_arrv(a);
  CHECK(b->fn(&rt, &out, &arg, 1) == 0);
  CHECK(out.u.a->len == 1000 && a->items[0].tag == GV_FLOAT);
  CHECK(out.u.a->items[0].tag == GV_FLOAT && out.u.a->items[0].u.f == 0);
  for (i = 1; i < 1000; i++) {
    double x = gv_num(out.u.a->items[i - 1]), y = gv_num(out.u.a->items[i]);
    if (x > y)
      ok = 0;
  }
  CHECK(ok);
  /* stability: among equal keys, the original order (alternating) stays */
  for (i = 0; i + 1 < 1000; i++) {
    gvalue p = out.u.a->items[i], q = out.u.a->items[i + 1];
    if (gv_num(p) == gv_num(q) && p.tag == q.tag)
      ok = 0;
  }
  CHECK(ok);
}

TEST(reverse_and_unique) {
  CHECK_STR(call("reverse", "[[3, 1, 2]]"), "[2,1,3]");
  CHECK_STR(call("reverse", "[[]]"), "[]");
  CHECK_STR(call("reverse", "[\"abc\"]"),
            "error: Type error: expected array, got string");
  CHECK_STR(call("unique", "[[1, 2, 1, 3]]"), "[1,2,3]");
  CHECK_STR(call("unique", "[[]]"), "[]");
  CHECK_STR(call("unique", "[[1, 1.0, 1]]"), "[1,1.0]");
  CHECK_STR(call("unique", "[[[1], [1], null, null]]"), "[[1],null]");
  CHECK_STR(call("unique", "[[{\"a\": 1, \"b\": 2}, {\"b\": 2, \"a\": 1}]]"),
            "[{\"a\":1,\"b\":2}]");
  CHECK_STR(call("unique", "[1]"),
            "error: Type error: expected array, got int");
}

TEST(slice_clamps_like_rust_usize_casts) {
  CHECK_STR(call("slice", "[[10, 20, 30, 40, 50], 1, 3]"), "[20,30]");
  CHECK_STR(call("slice", "[[10, 20, 30, 40, 50], 2]"), "[30,40,50]");
  CHECK_STR(call("slice", "[[10, 20, 30, 40, 50], 3, 1]"), "[]");
  CHECK_STR(call("slice", "[[10, 20, 30], -1]"), "[]");
  CHECK_STR(call("slice", "[[10, 20, 30], 0, -1]"), "[10,20,30]");
  CHECK_STR(call("slice", "[[10, 20, 30], 1, 100]"), "[20,30]");
  CHECK_STR(call("slice", "[[10, 20, 30], 10]"), "[]");
  CHECK_STR(call("slice", "[[10, 20, 30], 0.9, 2.9]"), "[10,20]");
  CHECK_STR(call("slice", "[[1, 2, 3], \"1\"]"),
            "error: Type error: expected int, got string");
  CHECK_STR(call("slice", "[\"abc\", 1]"),
            "error: Type error: expected array, got string");
}

TEST(range_counts_checks_the_step_and_the_cap) {
  CHECK_STR(call("range", "[0, 3]"), "[0,1,2]");
  CHECK_STR(call("range", "[0, 10, 3]"), "[0,3,6,9]");
  CHECK_STR(call("range", "[5, 0, -2]"), "[5,3,1]");
  CHECK_STR(call("range", "[3, 3]"), "[]");
  CHECK_STR(call("range", "[5, 0]"), "[]");
  CHECK_STR(call("range", "[0, 5, -1]"), "[]");
  CHECK_STR(call("range", "[0.5, 3.7]"), "[0,1,2]");
  CHECK_STR(call("range", "[9223372036854775805, 9223372036854775807, 5]"),
            "[9223372036854775805]");
  CHECK_STR(call("range", "[-9223372036854775807, -9223372036854775808, "
                          "-3]"),
            "[-9223372036854775807]");
  CHECK_STR(call("range", "[0, 5, 0]"),
            "error: Evaluation error: range: step cannot be zero");
  CHECK_STR(call("range", "[0, 10000000000]"),
            "error: Evaluation error: range: result of 10000000000 elements "
            "exceeds maximum of 1000000");
  CHECK_STR(call("range", "[0, 1000001]"),
            "error: Evaluation error: range: result of 1000001 elements "
            "exceeds maximum of 1000000");
  CHECK_STR(call("range", "[-9223372036854775808, 9223372036854775807]"),
            "error: Evaluation error: range: result of 18446744073709551615 "
            "elements exceeds maximum of 1000000");
  CHECK_STR(call("range", "[\"0\", 3]"),
            "error: Type error: expected int, got string");
  CHECK_STR(call("range", "[0, 3, null]"),
            "error: Type error: expected int, got null");
  CHECK_STR(call("range", "[0]"), "(arity)");
}

TEST(range_of_exactly_the_cap_is_built) {
  gvalue a[2] = {gv_int(0), gv_int(1000000)}, out;
  rt_reset(1000000000);
  CHECK(gavel__builtin_find("range", 5)->fn(&rt, &out, a, 2) == 0);
  CHECK(out.u.a->len == 1000000 && out.u.a->items[999999].u.i == 999999);
}

TEST(array_concat_and_flatten) {
  CHECK_STR(call("array_concat", "[[1, 2], [3, 4]]"), "[1,2,3,4]");
  CHECK_STR(call("array_concat", "[[], []]"), "[]");
  CHECK_STR(call("array_concat", "[[1], \"a\"]"),
            "error: Type error: expected array, got string");
  CHECK_STR(call("flatten", "[[[1, 2], 3, [4, 5]]]"), "[1,2,3,4,5]");
  CHECK_STR(call("flatten", "[[[[1]], [2], []]]"), "[[1],2]");
  CHECK_STR(call("flatten", "[[]]"), "[]");
  CHECK_STR(call("flatten", "[\"x\"]"),
            "error: Type error: expected array, got string");
}

#define USERS                                                                \
  "[{\"name\": \"Alice\", \"dept\": \"eng\"}, {\"name\": \"Bob\", "          \
  "\"dept\": \"sales\"}, {\"name\": \"Charlie\", \"dept\": \"eng\"}]"

TEST(map_extract_walks_dotted_paths) {
  CHECK_STR(call("map_extract", "[" USERS ", \"name\"]"),
            "[\"Alice\",\"Bob\",\"Charlie\"]");
  CHECK_STR(call("map_extract", "[[{\"a\": {\"b\": 1}}, {\"a\": 2}, 3], "
                                "\"a.b\"]"),
            "[1,null,null]");
  CHECK_STR(call("map_extract", "[[[10, 20], [30]], \"1\"]"), "[20,null]");
  CHECK_STR(call("map_extract", "[[[10, 20]], \"+1\"]"), "[20]");
  CHECK_STR(call("map_extract", "[[[10, 20]], \"-1\"]"), "[null]");
  CHECK_STR(call("map_extract", "[[{\"a\": [{\"b\": 7}]}], \"a.0.b\"]"),
            "[7]");
  CHECK_STR(call("map_extract", "[[{\"a\": 1}], \"\"]"), "[null]");
  CHECK_STR(call("map_extract", "[[{\"\": 5}], \"\"]"), "[5]");
  CHECK_STR(call("map_extract", "[5, \"a\"]"),
            "error: Type error: expected array, got int");
  CHECK_STR(call("map_extract", "[[{\"a\": 1}], 1]"),
            "error: Type error: expected string, got int");
}

TEST(filter_by_keeps_strictly_equal_present_values) {
  CHECK_STR(call("filter_by", "[" USERS ", \"dept\", \"eng\"]"),
            "[{\"name\":\"Alice\",\"dept\":\"eng\"},"
            "{\"name\":\"Charlie\",\"dept\":\"eng\"}]");
  CHECK_STR(call("filter_by", "[[{\"a\": 1}, {\"a\": 1.0}, {\"b\": 1}], "
                              "\"a\", 1]"),
            "[{\"a\":1}]");
  CHECK_STR(call("filter_by", "[[{\"a\": null}, {}], \"a\", null]"),
            "[{\"a\":null}]");
  CHECK_STR(call("filter_by", "[[{\"a\": [1, 2]}], \"a\", [1, 2]]"),
            "[{\"a\":[1,2]}]");
  CHECK_STR(call("filter_by", "[\"x\", \"a\", 1]"),
            "error: Type error: expected array, got string");
  CHECK_STR(call("filter_by", "[[], null, 1]"),
            "error: Type error: expected string, got null");
}

TEST(group_by_keys_by_display_form) {
  CHECK_STR(call("group_by", "[" USERS ", \"dept\"]"),
            "{\"eng\":[{\"name\":\"Alice\",\"dept\":\"eng\"},"
            "{\"name\":\"Charlie\",\"dept\":\"eng\"}],"
            "\"sales\":[{\"name\":\"Bob\",\"dept\":\"sales\"}]}");
  CHECK_STR(call("group_by", "[[{\"k\": 1}, {\"k\": 1.0}, {\"k\": \"1\"}, "
                             "{}, {\"k\": null}], \"k\"]"),
            "{\"1\":[{\"k\":1},{\"k\":1.0},{\"k\":\"1\"}],"
            "\"null\":[{},{\"k\":null}]}");
  CHECK_STR(call("group_by", "[[{\"k\": [1, \"a\"]}, {\"k\": {\"x\": true}}, "
                             "{\"k\": 2.5}], \"k\"]"),
            "{\"[1, \\\"a\\\"]\":[{\"k\":[1,\"a\"]}],"
            "\"{\\\"x\\\": true}\":[{\"k\":{\"x\":true}}],"
            "\"2.5\":[{\"k\":2.5}]}");
  CHECK_STR(call("group_by", "[[], \"k\"]"), "{}");
  CHECK_STR(call("group_by", "[5, \"k\"]"),
            "error: Type error: expected array, got int");
  CHECK_STR(call("group_by", "[[], 5]"),
            "error: Type error: expected string, got int");
}

TEST(graph_reachable_walks_breadth_first) {
  CHECK_STR(call("graph_reachable", "[{\"a\": [\"b\", \"d\"], \"b\": [\"c\"],"
                                    " \"c\": [], \"d\": []}, [\"a\"]]"),
            "[\"a\",\"b\",\"d\",\"c\"]");
  CHECK_STR(call("graph_reachable", "[{\"a\": [\"b\"], \"b\": [\"a\"]}, "
                                    "[\"a\", \"a\"]]"),
            "[\"a\",\"b\"]");
  CHECK_STR(call("graph_reachable", "[{\"a\": [\"b\"]}, [\"x\"]]"),
            "[\"x\"]");
  CHECK_STR(call("graph_reachable", "[{\"a\": \"b\"}, [\"a\"]]"), "[\"a\"]");
  CHECK_STR(call("graph_reachable", "[{\"a\": [\"b\"]}, []]"), "[]");
  CHECK_STR(call("graph_reachable", "[{\"a\": [1]}, [\"a\"]]"),
            "error: Type error: expected string, got int");
  CHECK_STR(call("graph_reachable", "[{\"b\": [1]}, [\"a\"]]"), "[\"a\"]");
  CHECK_STR(call("graph_reachable", "[{}, [1]]"),
            "error: Type error: expected string, got int");
  CHECK_STR(call("graph_reachable", "[[], []]"),
            "error: Type error: expected object, got array");
  CHECK_STR(call("graph_reachable", "[{}, {}]"),
            "error: Type error: expected array, got object");
}

/* ==== Objects ==== */

TEST(keys_values_has_key) {
  CHECK_STR(call("keys", "[{\"b\": 1, \"a\": 2}]"), "[\"b\",\"a\"]");
  CHECK_STR(call("keys", "[{}]"), "[]");
  CHECK_STR(call("keys", "[[]]"),
            "error: Type error: expected object, got array");
  CHECK_STR(call("values", "[{\"b\": 1, \"a\": [2]}]"), "[1,[2]]");
  CHECK_STR(call("values", "[{}]"), "[]");
  CHECK_STR(call("values", "[null]"),
            "error: Type error: expected object, got null");
  CHECK_STR(call("has_key", "[{\"a\": 1}, \"a\"]"), "true");
  CHECK_STR(call("has_key", "[{\"a\": null}, \"a\"]"), "true");
  CHECK_STR(call("has_key", "[{\"a\": 1}, \"b\"]"), "false");
  CHECK_STR(call("has_key", "[[], \"a\"]"),
            "error: Type error: expected object, got array");
  CHECK_STR(call("has_key", "[{}, 1]"),
            "error: Type error: expected string, got int");
}

TEST(merge_and_object_get) {
  CHECK_STR(call("merge", "[{\"a\": 1, \"b\": 2}, {\"b\": 99, \"c\": 3}]"),
            "{\"a\":1,\"b\":99,\"c\":3}");
  CHECK_STR(call("merge", "[{}, {}]"), "{}");
  CHECK_STR(call("merge", "[{}, {\"x\": null}]"), "{\"x\":null}");
  CHECK_STR(call("merge", "[{\"a\": 1}, []]"),
            "error: Type error: expected object, got array");
  CHECK_STR(call("merge", "[1, {}]"),
            "error: Type error: expected object, got int");
  CHECK_STR(call("object_get", "[{\"x\": 1}, \"x\", 0]"), "1");
  CHECK_STR(call("object_get", "[{\"x\": 1}, \"y\", 99]"), "99");
  CHECK_STR(call("object_get", "[{\"x\": null}, \"x\", 5]"), "null");
  CHECK_STR(call("object_get", "[[], \"x\", 0]"),
            "error: Type error: expected object, got array");
  CHECK_STR(call("object_get", "[{}, 1, 0]"),
            "error: Type error: expected string, got int");
}

TEST(merge_of_large_objects) {
  char buf[200000];
  size_t n = 0;
  int i;
  n += (size_t)snprintf(buf + n, sizeof buf - n, "[{");
  for (i = 0; i < 3000; i++)
    n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\"k%d\": %d",
                          i ? ", " : "", i, i);
  n += (size_t)snprintf(buf + n, sizeof buf - n, "}, {");
  for (i = 0; i < 3000; i++)
    n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\"k%d\": -1",
                          i ? ", " : "", i * 2);
  snprintf(buf + n, sizeof buf - n, "}]");
  call("merge", buf);
  CHECK(strncmp(result, "{\"k0\":-1,\"k1\":1,\"k2\":-1,", 24) == 0);
  CHECK(strstr(result, "\"k2999\":2999,\"k3000\":-1,") != NULL);
  CHECK(strstr(result, "\"k5998\":-1}") != NULL);
}

/* ==== Types and conversions ==== */

TEST(type_and_is_predicates) {
  CHECK_STR(call("type", "[null]"), "\"null\"");
  CHECK_STR(call("type", "[true]"), "\"bool\"");
  CHECK_STR(call("type", "[1]"), "\"int\"");
  CHECK_STR(call("type", "[1.0]"), "\"float\"");
  CHECK_STR(call("type", "[\"s\"]"), "\"string\"");
  CHECK_STR(call("type", "[[]]"), "\"array\"");
  CHECK_STR(call("type", "[{}]"), "\"object\"");
  CHECK_STR(call("is_null", "[null]"), "true");
  CHECK_STR(call("is_null", "[0]"), "false");
  CHECK_STR(call("is_number", "[1]"), "true");
  CHECK_STR(call("is_number", "[1.5]"), "true");
  CHECK_STR(call("is_number", "[\"1\"]"), "false");
  CHECK_STR(call("is_string", "[\"\"]"), "true");
  CHECK_STR(call("is_string", "[1]"), "false");
  CHECK_STR(call("is_array", "[[]]"), "true");
  CHECK_STR(call("is_array", "[{}]"), "false");
  CHECK_STR(call("is_bool", "[false]"), "true");
  CHECK_STR(call("is_bool", "[1]"), "false");
  CHECK_STR(call("is_object", "[{}]"), "true");
  CHECK_STR(call("is_object", "[[]]"), "false");
  CHECK_STR(call("is_null", "[]"), "(arity)");
  CHECK_STR(call("type", "[1, 2]"), "(arity)");
}

TEST(to_int_parses_strictly) {
  CHECK_STR(call("to_int", "[3.9]"), "3");
  CHECK_STR(call("to_int", "[-3.9]"), "-3");
  CHECK_STR(call("to_int", "[7]"), "7");
  CHECK_STR(call("to_int", "[\"42\"]"), "42");
  CHECK_STR(call("to_int", "[\"-42\"]"), "-42");
  CHECK_STR(call("to_int", "[\"+7\"]"), "7");
  CHECK_STR(call("to_int", "[\"007\"]"), "7");
  CHECK_STR(call("to_int", "[\"-9223372036854775808\"]"),
            "-9223372036854775808");
  CHECK_STR(call("to_int", "[\"9223372036854775807\"]"),
            "9223372036854775807");
  CHECK_STR(call("to_int", "[\"9223372036854775808\"]"),
            "error: Evaluation error: Cannot convert '9223372036854775808' "
            "to int");
  CHECK_STR(call("to_int", "[\"3.5\"]"),
            "error: Evaluation error: Cannot convert '3.5' to int");
  CHECK_STR(call("to_int", "[\" 3\"]"),
            "error: Evaluation error: Cannot convert ' 3' to int");
  CHECK_STR(call("to_int", "[\"\"]"),
            "error: Evaluation error: Cannot convert '' to int");
  CHECK_STR(call("to_int", "[\"-\"]"),
            "error: Evaluation error: Cannot convert '-' to int");
  CHECK_STR(call("to_int", "[true]"), "1");
  CHECK_STR(call("to_int", "[false]"), "0");
  CHECK_STR(call("to_int", "[1e300]"), "9223372036854775807");
  CHECK_STR(call("to_int", "[null]"),
            "error: Type error: expected int, float, string, or bool, got "
            "null");
  CHECK_STR(call("to_int", "[[]]"),
            "error: Type error: expected int, float, string, or bool, got "
            "array");
}

TEST(to_float_parses_like_rust_f64_from_str) {
  CHECK_STR(call("to_float", "[1]"), "1.0");
  CHECK_STR(call("to_float", "[2.5]"), "2.5");
  CHECK_STR(call("to_float", "[\"1e3\"]"), "1000.0");
  CHECK_STR(call("to_float", "[\"1E-2\"]"), "0.01");
  CHECK_STR(call("to_float", "[\".5\"]"), "0.5");
  CHECK_STR(call("to_float", "[\"5.\"]"), "5.0");
  CHECK_STR(call("to_float", "[\"+.5e-1\"]"), "0.05");
  CHECK_STR(call("to_float", "[\"-0\"]"), "-0.0");
  CHECK_STR(call("to_float", "[\"0.1\"]"), "0.1");
  CHECK_STR(call("to_float", "[\"1e400\"]"),
            "error: Evaluation error: Cannot convert '1e400' to float: out "
            "of range");
  CHECK_STR(call("to_float", "[\"abc\"]"),
            "error: Evaluation error: Cannot convert 'abc' to float");
  CHECK_STR(call("to_float", "[\"1e\"]"),
            "error: Evaluation error: Cannot convert '1e' to float");
  CHECK_STR(call("to_float", "[\".\"]"),
            "error: Evaluation error: Cannot convert '.' to float");
  CHECK_STR(call("to_float", "[\" 1\"]"),
            "error: Evaluation error: Cannot convert ' 1' to float");
  CHECK_STR(call("to_float", "[\"0x10\"]"),
            "error: Evaluation error: Cannot convert '0x10' to float");
  CHECK_STR(call("to_float", "[\"1_000\"]"),
            "error: Evaluation error: Cannot convert '1_000' to float");
  CHECK_STR(call("to_float", "[\"infin\"]"),
            "error: Evaluation error: Cannot convert 'infin' to float");
  CHECK_STR(call("to_float", "[true]"),
            "error: Type error: expected int, float, or string, got bool");
  CHECK_STR(call("to_float", "[null]"),
            "error: Type error: expected int, float, or string, got null");
}

TEST(to_float_accepts_inf_and_nan_in_any_case) {
  static const char *const in[] = {"inf",  "-inf", "+Infinity", "INF",
                                   "NaN",  "nan",  "-NAN",      "infinity"};
  static const char *const want[] = {"\"inf\"", "\"-inf\"", "\"inf\"",
                                     "\"inf\"", "\"NaN\"",  "\"NaN\"",
                                     "\"NaN\"", "\"inf\""};
  size_t i;
  for (i = 0; i < sizeof in / sizeof in[0]; i++) {
    gvalue a[1], f;
    const gv_builtin *tf = gavel__builtin_find("to_float", 8);
    rt_reset(1000);
    a[0] = mkstr(in[i]);
    CHECK(tf->fn(&rt, &f, a, 1) == 0);
    CHECK_STR(callv("to_string", &f, 1), want[i]);
  }
}

TEST(to_string_is_the_display_form) {
  CHECK_STR(call("to_string", "[\"x\"]"), "\"\\\"x\\\"\"");
  CHECK_STR(call("to_string", "[2.0]"), "\"2\"");
  CHECK_STR(call("to_string", "[1.5]"), "\"1.5\"");
  CHECK_STR(call("to_string", "[1e20]"), "\"100000000000000000000\"");
  CHECK_STR(call("to_string", "[42]"), "\"42\"");
  CHECK_STR(call("to_string", "[[1, \"a\"]]"), "\"[1, \\\"a\\\"]\"");
  CHECK_STR(call("to_string", "[null]"), "\"null\"");
  CHECK_STR(call("to_string", "[true]"), "\"true\"");
  CHECK_STR(call("to_string", "[{\"a\": 1}]"), "\"{\\\"a\\\": 1}\"");
}

TEST(to_bool_is_truthiness) {
  CHECK_STR(call("to_bool", "[1]"), "true");
  CHECK_STR(call("to_bool", "[0]"), "false");
  CHECK_STR(call("to_bool", "[0.0]"), "false");
  CHECK_STR(call("to_bool", "[null]"), "false");
  CHECK_STR(call("to_bool", "[\"\"]"), "false");
  CHECK_STR(call("to_bool", "[\"false\"]"), "true");
  CHECK_STR(call("to_bool", "[[]]"), "false");
  CHECK_STR(call("to_bool", "[{}]"), "false");
  CHECK_STR(call("to_bool", "[[0]]"), "true");
}

/* ==== JSON ==== */

TEST(json_marshal_and_unmarshal) {
  CHECK_STR(call("json_marshal", "[{\"key\": 42}]"), "\"{\\\"key\\\":42}\"");
  CHECK_STR(call("json_marshal", "[1.0]"), "\"1.0\"");
  CHECK_STR(call("json_marshal", "[\"a\\\"b\"]"), "\"\\\"a\\\\\\\"b\\\"\"");
  CHECK_STR(call("json_marshal", "[[1, null, true]]"), "\"[1,null,true]\"");
  CHECK_STR(call("json_unmarshal", "[\"{\\\"key\\\": 42}\"]"), "{\"key\":42}");
  CHECK_STR(call("json_unmarshal", "[\"[1, 2.5, \\\"x\\\"]\"]"),
            "[1,2.5,\"x\"]");
  CHECK_STR(call("json_unmarshal", "[\"18446744073709551615\"]"), "-1");
  CHECK_STR(call("json_unmarshal", "[\" null \"]"), "null");
  CHECK(strncmp(call("json_unmarshal", "[\"nope\"]"),
                "error: Evaluation error: json_unmarshal: ", 40) == 0);
  CHECK(strncmp(call("json_unmarshal", "[\"1 2\"]"),
                "error: Evaluation error: json_unmarshal: ", 40) == 0);
  CHECK(strncmp(call("json_unmarshal", "[\"\"]"),
                "error: Evaluation error: json_unmarshal: ", 40) == 0);
  CHECK_STR(call("json_unmarshal", "[5]"),
            "error: Type error: expected string, got int");
}

TEST(json_unmarshal_has_serde_jsons_nesting_limit) {
  char doc[400];
  gvalue a[1];
  memset(doc, '[', 127);
  memset(doc + 127, ']', 127);
  rt_reset(100000);
  a[0] = mkstrn(doc, 254);
  CHECK(strncmp(callv("json_unmarshal", a, 1), "[[[", 3) == 0);
  memset(doc, '[', 128);
  memset(doc + 128, ']', 128);
  a[0] = mkstrn(doc, 256);
  CHECK_STR(callv("json_unmarshal", a, 1),
            "error: Evaluation error: json_unmarshal: recursion limit "
            "exceeded at line 1 column 128");
  doc[1] = '\n';
  doc[128] = '[';
  a[0] = mkstrn(doc, 256);
  CHECK_STR(callv("json_unmarshal", a, 1),
            "error: Evaluation error: json_unmarshal: recursion limit "
            "exceeded at line 2 column 127");
  /* a syntax error before the deep part is reported first */
  memcpy(doc, "[1 ", 3);
  a[0] = mkstrn(doc, 256);
  CHECK(strstr(callv("json_unmarshal", a, 1), "recursion") == NULL);
}

/* The JSON reader's per-container limits (core/json.c "Reader limits")
** apply at run time: an object of 1,000,001 members (duplicates count as
** written) fits a 16 MiB string but not max_object_keys; a GV_E_LIMIT
** error naming the limit and the path. */
TEST(json_unmarshal_applies_the_readers_container_limits) {
  gv_buf b;
  gvalue a[1];
  const char *r;
  int i;
  gavel__buf_init(&b, &gavel__default_alloc);
  gavel__buf_adds(&b, "{\"o\":{\"a\":0");
  for (i = 1; i < GAVEL_MAX_ARR_LEN; i++)
    gavel__buf_adds(&b, ",\"a\":0");
  gavel__buf_adds(&b, "}}");
  rt_reset(1000000000);
  a[0] = mkstrn(b.p, b.len);
  CHECK_STR(callv("json_unmarshal", a, 1), "{\"o\":{\"a\":0}}");
  b.len -= 2;
  gavel__buf_adds(&b, ",\"a\":1}}");
  rt_reset(1000000000);
  a[0] = mkstrn(b.p, b.len);
  r = callv("json_unmarshal", a, 1);
  CHECK(strstr(r, "error: Evaluation error: json_unmarshal: object with more "
                  "than 1000000 members (limit max_object_keys)") == r);
  CHECK(strstr(r, "path $.o") != NULL);
  CHECK(rt.ekind == GV_E_LIMIT);
  gavel__buf_free(&b);
}

/* ==== Limits and gas ==== */

TEST(results_past_the_string_limit_are_limit_errors) {
  static char big[5000];
  gvalue a[3];
  memset(big, 'a', sizeof big);
  rt_reset(1000000000);
  a[0] = mkstrn(big, 5000);
  a[1] = mkstr("a");
  a[2] = mkstrn(big, 4000); /* 5000 x 4000 bytes = 20 MB */
  CHECK_STR(callv("replace", a, 3),
            "error: Evaluation error: replace: string of 20000000 bytes "
            "exceeds maximum of 16777216");
  CHECK(rt.ekind == GV_E_LIMIT);
  a[1] = mkstr("");
  CHECK_STR(callv("replace", a, 3),
            "error: Evaluation error: replace: string of 20009000 bytes "
            "exceeds maximum of 16777216");
}

TEST(join_and_format_and_sprintf_check_the_string_limit) {
  gvalue big, a[2];
  static char chunk[1 << 20];
  memset(chunk, 'x', sizeof chunk);
  rt_reset(1000000000);
  big = mkstrn(chunk, sizeof chunk);
  a[0] = mkarr_fill(17, big);
  a[1] = mkstr("");
  CHECK_STR(callv("join", a, 2),
            "error: Evaluation error: join: string of 17825792 bytes "
            "exceeds maximum of 16777216");
  a[0] = mkstr("{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}");
  a[1] = big;
  CHECK_STR(callv("format", a, 2),
            "error: Evaluation error: format: string of 17825792 bytes "
            "exceeds maximum of 16777216");
  a[0] = mkstr("%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s");
  a[1] = mkarr_fill(17, big);
  CHECK_STR(callv("sprintf", a, 2),
            "error: Evaluation error: sprintf: string of 16777218 bytes "
            "exceeds maximum of 16777216");
  CHECK(rt.ekind == GV_E_LIMIT);
}

TEST(results_past_the_array_limit_are_limit_errors) {
  static char commas[1000001];
  gvalue a[2], half;
  memset(commas, ',', sizeof commas);
  rt_reset(1000000000);
  a[0] = mkstrn(commas, 1000000); /* 1000001 pieces */
  a[1] = mkstr(",");
  CHECK_STR(callv("split", a, 2),
            "error: Evaluation error: split: array of 1000001 elements "
            "exceeds maximum of 1000000");
  CHECK(rt.ekind == GV_E_LIMIT);
  half = mkarr_fill(500001, gv_int(1));
  a[0] = half;
  a[1] = half;
  CHECK_STR(callv("array_concat", a, 2),
            "error: Evaluation error: array_concat: array of 1000002 "
            "elements exceeds maximum of 1000000");
  a[0] = mkarr_fill(2, half);
  CHECK_STR(callv("flatten", a, 1),
            "error: Evaluation error: flatten: array of 1000002 elements "
            "exceeds maximum of 1000000");
}

TEST(gas_runs_out_on_large_inputs) {
  gvalue a[2], big;
  rt_reset(1000000000);
  big = mkarr_fill(100000, gv_int(3));
  CHECK_STR(callv_gas("sort", &big, 1, 1000), "error: Gas exhausted");
  CHECK(rt.ekind == GV_E_GAS);
  CHECK_STR(callv_gas("sum", &big, 1, 1000), "error: Gas exhausted");
  CHECK_STR(callv_gas("unique", &big, 1, 1000), "error: Gas exhausted");
  a[0] = gv_int(0);
  a[1] = gv_int(100000);
  CHECK_STR(callv_gas("range", a, 2, 1000), "error: Gas exhausted");
  {
    static char text[100000];
    memset(text, 'a', sizeof text);
    a[0] = mkstrn(text, sizeof text);
    CHECK_STR(callv_gas("upper", a, 1, 1000), "error: Gas exhausted");
    a[1] = mkstr("a");
    CHECK_STR(callv_gas("split", a, 2, 1000), "error: Gas exhausted");
  }
  CHECK_STR(callv_gas("sum", &big, 1, 200000), "300000");
}

TEST(arena_exhaustion_is_reported) {
  gv_arena small;
  gvalue a[2] = {gv_int(0), gv_int(100000)}, out;
  int rc;
  gavel__arena_init(&small, &gavel__default_alloc, 4096);
  rt_reset(1000000000);
  rt.arena = &small;
  rc = gavel__builtin_find("range", 5)->fn(&rt, &out, a, 2);
  CHECK(rc == 1);
  CHECK(rt.ekind == GV_E_LIMIT);
  CHECK_STR(rt.emsg, "Evaluation error: memory limit exceeded");
  gavel__arena_free(&small);
  rt.arena = &arena;
}

TEST(arguments_are_never_modified) {
  gvalue a[1];
  static char copy[sizeof result];
  rt_reset(1000000);
  a[0] = gv_null();
  {
    gvalue arr;
    gavel_error err;
    const char *j = "[3, 1, 2, [5, 4], {\"b\": 1, \"a\": 2}]";
    gavel__json_parse(&arena, j, strlen(j), NULL, &arr, &err);
    a[0] = arr;
  }
  memcpy(copy, outcome(0, a[0]), sizeof copy);
  callv("sort", a, 1);
  callv("reverse", a, 1);
  callv("flatten", a, 1);
  callv("unique", a, 1);
  CHECK_STR(outcome(0, a[0]), copy);
}

TEST_MAIN()
