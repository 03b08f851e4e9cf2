/*
** test_parse.c -- stage 2a tests: expression text and Ordo's JSON AST form
** -> AST (lex.c, parse.c, ast_json.c).
**
** Trees are printed as S-expressions and compared with tables of expected
** output; errors print as "ERR <status> <message>".  The last tests run the
** parse facts of the Ordo conformance sample (expressions.jsonl; set
** GAVEL_CONFORMANCE to its path, default ../shared/conformance/...).
*/
#include "expr.h"
#include "json.h"
#include "tinytest.h"
#include <stdio.h>
#include <stdlib.h>

/* ==== Printers ==== */

static int loose_numbers; /* 1: ints and floats print alike (cJSON-level) */

static void pr_num_f(gv_buf *b, double d) {
  char t[64];
  snprintf(t, sizeof t, "%.15g", d);
  if (strtod(t, NULL) != d)
    snprintf(t, sizeof t, "%.17g", d);
  gavel__buf_adds(b, t);
  if (!loose_numbers && !strpbrk(t, ".eni"))
    gavel__buf_adds(b, ".0");
}

static void pr_str(gv_buf *b, const char *s, size_t n) {
  size_t i;
  gavel__buf_addc(b, '"');
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      gavel__buf_addf(b, "\\%c", c);
    else if (c == '\n')
      gavel__buf_adds(b, "\\n");
    else if (c == '\t')
      gavel__buf_adds(b, "\\t");
    else if (c == '\r')
      gavel__buf_adds(b, "\\r");
    else if (c < 0x20)
      gavel__buf_addf(b, "\\x%02x", c);
    else
      gavel__buf_addc(b, (char)c);
  }
  gavel__buf_addc(b, '"');
}

static void pr_value(gv_buf *b, gvalue v) {
  uint32_t i;
  switch (gv_typeof(v)) {
  case GV_NULL:
    gavel__buf_adds(b, "null");
    break;
  case GV_BOOL:
    gavel__buf_adds(b, v.u.i ? "true" : "false");
    break;
  case GV_INT:
    if (loose_numbers)
      pr_num_f(b, (double)v.u.i);
    else
      gavel__buf_addf(b, "%lld", (long long)v.u.i);
    break;
  case GV_FLOAT:
    pr_num_f(b, v.u.f);
    break;
  case GV_STR:
    pr_str(b, v.u.s->s, v.u.s->len);
    break;
  case GV_ARR:
    gavel__buf_adds(b, "#[");
    for (i = 0; i < v.u.a->len; i++) {
      if (i)
        gavel__buf_addc(b, ' ');
      pr_value(b, v.u.a->items[i]);
    }
    gavel__buf_addc(b, ']');
    break;
  case GV_OBJ:
    gavel__buf_adds(b, "#{");
    for (i = 0; i < v.u.o->len; i++) {
      if (i)
        gavel__buf_addc(b, ' ');
      pr_str(b, v.u.o->keys[i]->s, v.u.o->keys[i]->len);
      gavel__buf_addc(b, ' ');
      pr_value(b, v.u.o->vals[i]);
    }
    gavel__buf_addc(b, '}');
    break;
  default:
    gavel__buf_adds(b, "?");
  }
}

/* Canonical path text rebuilt from the segments. */
static void pr_path(gv_buf *b, const gx_path *p) {
  int i, first = 1;
  if (p->is_var) {
    gavel__buf_addc(b, '$');
    gavel__buf_add(b, p->root->s, p->root->len);
    first = 0;
  }
  for (i = 0; i < p->n_segs; i++) {
    const gx_seg *s = &p->segs[i];
    if (s->kind == GX_SEG_INDEX) {
      gavel__buf_addf(b, "[%lld]", (long long)s->index);
      first = 0;
      continue;
    }
    if (!first)
      gavel__buf_addc(b, '.');
    first = 0;
    if (s->kind == GX_SEG_WILD)
      gavel__buf_addc(b, '*');
    else
      gavel__buf_add(b, s->key->s, s->key->len);
  }
}

static const char *const op_sym[] = {"+",        "-",   "*",  "/",  "%",
                                     "==",       "!=",  "<",  "<=", ">",
                                     ">=",       "and", "or", "in", "notin",
                                     "contains", "not", "neg"};

static void pr_node(gv_buf *b, const gx_node *n);

static void pr_args(gv_buf *b, const gx_node *n, int lead_space) {
  int i;
  for (i = 0; i < n->n_args; i++) {
    if (i || lead_space)
      gavel__buf_addc(b, ' ');
    pr_node(b, n->args[i]);
  }
}

static void pr_node(gv_buf *b, const gx_node *n) {
  int i;
  switch (n->kind) {
  case GX_LIT:
    pr_value(b, n->lit);
    break;
  case GX_PATH:
    pr_path(b, n->path);
    break;
  case GX_UNARY:
    gavel__buf_addf(b, "(%s ", op_sym[n->op]);
    pr_node(b, n->a);
    gavel__buf_addc(b, ')');
    break;
  case GX_BINARY:
    gavel__buf_addf(b, "(%s ", op_sym[n->op]);
    pr_node(b, n->a);
    gavel__buf_addc(b, ' ');
    pr_node(b, n->b);
    gavel__buf_addc(b, ')');
    break;
  case GX_CALL:
    gavel__buf_adds(b, "(call ");
    gavel__buf_add(b, n->name->s, n->name->len);
    pr_args(b, n, 1);
    gavel__buf_addc(b, ')');
    break;
  case GX_COND:
    gavel__buf_adds(b, "(if ");
    pr_node(b, n->a);
    gavel__buf_addc(b, ' ');
    pr_node(b, n->b);
    gavel__buf_addc(b, ' ');
    pr_node(b, n->c);
    gavel__buf_addc(b, ')');
    break;
  case GX_ARRAY:
    gavel__buf_addc(b, '[');
    pr_args(b, n, 0);
    gavel__buf_addc(b, ']');
    break;
  case GX_OBJECT:
    gavel__buf_addc(b, '{');
    for (i = 0; i < n->n_args; i++) {
      if (i)
        gavel__buf_addc(b, ' ');
      pr_str(b, n->keys[i]->s, n->keys[i]->len);
      gavel__buf_addc(b, ' ');
      pr_node(b, n->args[i]);
    }
    gavel__buf_addc(b, '}');
    break;
  case GX_EXISTS:
    gavel__buf_adds(b, "(exists ");
    pr_path(b, n->path);
    gavel__buf_addc(b, ')');
    break;
  case GX_COALESCE:
    gavel__buf_adds(b, "(coalesce");
    pr_args(b, n, 1);
    gavel__buf_addc(b, ')');
    break;
  }
}

/* Independent printer of the JSON AST form (same output format). */
static gvalue *jget(gvalue o, const char *k) {
  return o.tag == GV_OBJ ? gavel__obj_get(o.u.o, k, strlen(k)) : NULL;
}

static void pr_jast(gv_buf *b, gvalue v) {
  static const char *const bn[] = {
      "Add", "Sub", "Mul", "Div", "Mod", "Eq",    "Ne",       "Lt", "Le",
      "Gt",  "Ge",  "And", "Or",  "In",  "NotIn", "Contains", NULL};
  const char *k;
  gvalue x;
  uint32_t i;
  int j;
  if (v.tag != GV_OBJ || v.u.o->len != 1) {
    gavel__buf_adds(b, "<bad>");
    return;
  }
  k = v.u.o->keys[0]->s;
  x = v.u.o->vals[0];
  if (!strcmp(k, "Literal")) {
    pr_value(b, x);
  } else if (!strcmp(k, "Field")) {
    gavel__buf_add(b, x.u.s->s, x.u.s->len);
  } else if (!strcmp(k, "Exists")) {
    gavel__buf_adds(b, "(exists ");
    gavel__buf_add(b, x.u.s->s, x.u.s->len);
    gavel__buf_addc(b, ')');
  } else if (!strcmp(k, "Binary") || !strcmp(k, "Unary")) {
    const char *op = jget(x, "op")->u.s->s;
    if (!strcmp(k, "Unary"))
      gavel__buf_addf(b, "(%s ", !strcmp(op, "Not") ? "not" : "neg");
    else {
      for (j = 0; bn[j] && strcmp(bn[j], op); j++)
        ;
      gavel__buf_addf(b, "(%s ", bn[j] ? op_sym[j] : "?");
      pr_jast(b, *jget(x, "left"));
      gavel__buf_addc(b, ' ');
    }
    pr_jast(b, *jget(x, !strcmp(k, "Unary") ? "operand" : "right"));
    gavel__buf_addc(b, ')');
  } else if (!strcmp(k, "Call")) {
    gvalue args = *jget(x, "args");
    gavel__buf_addf(b, "(call %s", jget(x, "name")->u.s->s);
    for (i = 0; i < args.u.a->len; i++) {
      gavel__buf_addc(b, ' ');
      pr_jast(b, args.u.a->items[i]);
    }
    gavel__buf_addc(b, ')');
  } else if (!strcmp(k, "Conditional")) {
    gavel__buf_adds(b, "(if ");
    pr_jast(b, *jget(x, "condition"));
    gavel__buf_addc(b, ' ');
    pr_jast(b, *jget(x, "then_branch"));
    gavel__buf_addc(b, ' ');
    pr_jast(b, *jget(x, "else_branch"));
    gavel__buf_addc(b, ')');
  } else if (!strcmp(k, "Array") || !strcmp(k, "Coalesce")) {
    int arr = !strcmp(k, "Array");
    gavel__buf_adds(b, arr ? "[" : "(coalesce");
    for (i = 0; i < x.u.a->len; i++) {
      if (i || !arr)
        gavel__buf_addc(b, ' ');
      pr_jast(b, x.u.a->items[i]);
    }
    gavel__buf_addc(b, arr ? ']' : ')');
  } else if (!strcmp(k, "Object")) {
    gavel__buf_addc(b, '{');
    for (i = 0; i < x.u.a->len; i++) {
      gvalue e = x.u.a->items[i];
      if (i)
        gavel__buf_addc(b, ' ');
      pr_str(b, e.u.a->items[0].u.s->s, e.u.a->items[0].u.s->len);
      gavel__buf_addc(b, ' ');
      pr_jast(b, e.u.a->items[1]);
    }
    gavel__buf_addc(b, '}');
  } else {
    gavel__buf_adds(b, "<unknown>");
  }
}

/* ==== Harness ==== */

static char out_text[8192];
static gavel_error last_err;
static gx_node *last_node;
static gv_arena arena;

static const char *status_name(gavel_status s) {
  switch (s) {
  case GAVEL_OK:
    return "OK";
  case GAVEL_COMPILE:
    return "COMPILE";
  case GAVEL_LIMIT:
    return "LIMIT";
  case GAVEL_LOAD:
    return "LOAD";
  case GAVEL_NOMEM:
    return "NOMEM";
  case GAVEL_JSON:
    return "JSON";
  default:
    return "?";
  }
}

static const char *render(gavel_status rc, const gx_node *n) {
  gv_buf b;
  gavel__buf_init(&b, &gavel__default_alloc);
  if (rc == GAVEL_OK)
    pr_node(&b, n);
  else
    gavel__buf_addf(&b, "ERR %s %s", status_name(rc), last_err.msg);
  snprintf(out_text, sizeof out_text, "%s", b.p ? b.p : "");
  gavel__buf_free(&b);
  return out_text;
}

/* Parses 'n' bytes of 'src'; the tree stays in 'last_node'. */
static const char *parse_n(const char *src, size_t n) {
  gavel_status rc;
  gavel__arena_reset(&arena);
  gavel__error_clear(&last_err);
  rc = gavel__parse_expr(&arena, src, n, &last_node, &last_err);
  return render(rc, last_node);
}

static const char *P(const char *src) { return parse_n(src, strlen(src)); }

/* Reads JSON text (the test's own fixtures) into a value in 'arena'. */
static gvalue J(const char *json) {
  gvalue v = gv_null();
  gavel_error e;
  gavel__error_clear(&e);
  if (gavel__json_parse(&arena, json, strlen(json), NULL, &v, &e) != GAVEL_OK)
    fprintf(stderr, "  bad test JSON: %.80s (%s)\n", json, e.msg);
  return v;
}

/* Converts JSON AST text; errors render as "ERR <status> <path>: <msg>". */
static const char *JA(const char *json) {
  gavel_status rc;
  gvalue v;
  static char tmp[8192];
  gavel__arena_reset(&arena);
  v = J(json);
  gavel__error_clear(&last_err);
  rc = gavel__parse_ast_json(&arena, v, &last_node, &last_err);
  if (rc == GAVEL_OK)
    return render(rc, last_node);
  snprintf(tmp, sizeof tmp, "ERR %s %s: %s", status_name(rc), last_err.path,
           last_err.msg);
  return tmp;
}

/* 'got' starts with 'want'. */
#define CHECK_PRE(got, want)                                                   \
  do {                                                                         \
    const char *tt_g = (got), *tt_w = (want);                                  \
    tt_checks++;                                                               \
    if (strncmp(tt_g, tt_w, strlen(tt_w)) != 0) {                              \
      tt_fail_cur++;                                                           \
      fprintf(stderr, "  %s:%d: expected prefix \"%s\", got \"%s\"\n",         \
              __FILE__, __LINE__, tt_w, tt_g);                                 \
    }                                                                          \
  } while (0)

typedef struct pcase {
  const char *src;  /* expression */
  const char *want; /* printed tree or "ERR ..." prefix */
} pcase;

/* Runs a table; an expected "ERR ..." may be a prefix of the message. */
static void run_table(const pcase *t) {
  for (; t->src; t++) {
    const char *got = P(t->src);
    int ok = !strncmp(t->want, "ERR ", 4)
                 ? !strncmp(got, t->want, strlen(t->want))
                 : !strcmp(got, t->want);
    tt_checks++;
    if (!ok) {
      tt_fail_cur++;
      fprintf(stderr, "  [%s]\n    want: %s\n    got:  %s\n", t->src, t->want,
              got);
    }
  }
}

__attribute__((constructor)) static void setup(void) {
  gavel__arena_init(&arena, &gavel__default_alloc, 0);
}
__attribute__((destructor)) static void teardown(void) {
  gavel__arena_free(&arena);
  printf("%d checks\n", tt_checks);
}

/* ==== Grammar ==== */

TEST(precedence) {
  static const pcase t[] = {
      {"1 + 2 * 3", "(+ 1 (* 2 3))"},
      {"(1 + 2) * 3", "(* (+ 1 2) 3)"},
      {"1 - 2 - 3", "(- (- 1 2) 3)"},
      {"8 / 4 % 3 * 2", "(* (% (/ 8 4) 3) 2)"},
      {"a || b && c", "(or a (and b c))"},
      {"a or b and c", "(or a (and b c))"},
      {"a && b || c", "(or (and a b) c)"},
      {"a > 1 and b < 2 or c", "(or (and (> a 1) (< b 2)) c)"},
      {"-5", "(neg 5)"},
      {"--x", "(neg (neg x))"},
      {"- - 5", "(neg (neg 5))"},
      {"!!x", "(not (not x))"},
      {"!a && b", "(and (not a) b)"},
      {"!x == y", "(== (not x) y)"},
      {"-a * b", "(* (neg a) b)"},
      {"a - -b", "(- a (neg b))"},
      {"a-1", "(- a 1)"},
      {"not a in b", "(in (not a) b)"},
      {"not not x", "(not (not x))"},
      {"!-x", "(not (neg x))"},
      {"price * (1.0 - 0.2) + 10", "(+ (* price (- 1.0 0.2)) 10)"},
      {"a + b * 2", "(+ a (* b 2))"},
      {NULL, NULL}};
  run_table(t);
}

TEST(comparison_is_one_level) {
  static const pcase t[] = {
      {"true == 1 < 2", "(< (== true 1) 2)"},
      {"1 < 2 < 3", "(< (< 1 2) 3)"},
      {"a == b != c", "(!= (== a b) c)"},
      {"a <= b >= c > d < e", "(< (> (>= (<= a b) c) d) e)"},
      {"a==b", "(== a b)"},
      {"a<=b", "(<= a b)"},
      {"a = b", "ERR COMPILE 1:3: unexpected character '=' (use '=='"},
      {"a === b", "ERR COMPILE 1:5: unexpected character '='"},
      {"a & b", "ERR COMPILE 1:3: unexpected character '&' (use '&&'"},
      {"a | b", "ERR COMPILE 1:3: unexpected character '|'"},
      {"a <> b", "ERR COMPILE 1:4: expected operand after '<', found '>'"},
      {NULL, NULL}};
  run_table(t);
}

TEST(in_not_in_contains) {
  static const pcase t[] = {
      {"status in [\"a\", \"b\"]", "(in status [\"a\" \"b\"])"},
      {"a not in b", "(notin a b)"},
      {"a contains b", "(contains a b)"},
      {"a contains b + 1", "(contains a (+ b 1))"},
      {"1 + 1 in [2]", "(in (+ 1 1) [2])"},
      {"x in [1] == true", "(== (in x [1]) true)"},
      {"a in b and c", "(and (in a b) c)"},
      {"(a in b) in c", "(in (in a b) c)"},
      {"a in (b in c)", "(in a (in b c))"},
      {"a in[1, 2]", "(in a [1 2])"},
      {"x in[1]", "(in x [1])"},
      {"1in[1]", "(in 1 [1])"},
      {"a not  in b", "(notin a b)"},
      {"a in b in c",
       "ERR COMPILE 1:8: unexpected 'in' after expression ('in', 'not in' "
       "and 'contains' do not chain"},
      {"a in b not in c", "ERR COMPILE 1:8: unexpected 'not'"},
      {"a contains b in c", "ERR COMPILE 1:14: unexpected 'in'"},
      {"(a in b in c)",
       "ERR COMPILE 1:9: expected ')' to close '(' at 1:1, found 'in'"},
      {"a not b", "ERR COMPILE 1:7: expected 'in' after 'not', found 'b'"},
      {"a not", "ERR COMPILE 1:6: expected 'in' after 'not', found end"},
      {"a not_in b", "ERR COMPILE 1:3: unexpected identifier 'not_in'"},
      {NULL, NULL}};
  run_table(t);
}

TEST(if_then_else) {
  static const pcase t[] = {
      {"if c then 1 else 2 + 5", "(if c 1 (+ 2 5))"},
      {"(if c then 1 else 2) + 5", "(+ (if c 1 2) 5)"},
      {"1 + if c then 1 else 2 * 3", "(+ 1 (if c 1 (* 2 3)))"},
      {"if a then b else if c then d else e", "(if a b (if c d e))"},
      {"if a then if b then 1 else 2 else 3", "(if a (if b 1 2) 3)"},
      {"if a > 1 and b then x + 1 else y", "(if (and (> a 1) b) (+ x 1) y)"},
      {"if(a) then 1 else 2", "(if a 1 2)"},
      {"if exists(discount) then price * 0.9 else price",
       "(if (exists discount) (* price 0.9) price)"},
      {"if c then 1 else 2 in d in e", "(in (if c 1 (in 2 d)) e)"},
      {"if c then 1 else 2 == 3", "(if c 1 (== 2 3))"},
      {"if then then 1 else 2", "(if then 1 2)"},
      {"if c then 1",
       "ERR COMPILE 1:12: expected 'else' after the 'then' branch of 'if' at "
       "1:1, found end of input"},
      {"if c 1 else 2",
       "ERR COMPILE 1:6: expected 'then' after the condition of 'if' at 1:1, "
       "found '1'"},
      {"if c then_x else y", "ERR COMPILE 1:6: expected 'then'"},
      {"if c then 1 else_2", "ERR COMPILE 1:13: expected 'else'"},
      {"if", "ERR COMPILE 1:3: expected operand after 'if', found end"},
      {NULL, NULL}};
  run_table(t);
}

TEST(keywords_are_whole_words) {
  static const pcase t[] = {
      {"not_found", "not_found"},
      {"index", "index"},
      {"order_total", "order_total"},
      {"nothing", "nothing"},
      {"android", "android"},
      {"notary > 1", "(> notary 1)"},
      {"in_stock and_x", "ERR COMPILE 1:10: unexpected identifier 'and_x'"},
      {"a or_b", "ERR COMPILE 1:3: unexpected identifier 'or_b'"},
      {"a or b_c", "(or a b_c)"},
      {"a and(b)", "(and a b)"},
      {"(a)or(b)", "(or a b)"},
      {"1or 2", "(or 1 2)"},
      {"not x", "(not x)"},
      {"not(x)", "(not x)"},
      {"not[1]", "(not [1])"},
      {"not.x", "ERR COMPILE 1:4: unexpected character '.'"},
      {"a or.b", "ERR COMPILE 1:5: unexpected character '.'"},
      {"or.x", "or.x"},
      {"in", "in"},
      {"x == in", "(== x in)"},
      {"then + else", "(+ then else)"},
      {"contains(a, b)", "(call contains a b)"},
      {"containsx", "containsx"},
      {"true", "true"},
      {"false", "false"},
      {"null", "null"},
      {"true.x", "true.x"},
      {"truex", "truex"},
      {"nullable", "nullable"},
      {"iffy", "iffy"},
      {"exists_flag", "exists_flag"},
      {"coalesced", "coalesced"},
      {"a || b", "(or a b)"},
      {"a||(b)", "(or a b)"},
      {"a&&!b", "(and a (not b))"},
      {"a&&_b", "(and a _b)"},
      {"a&&$v", "(and a $v)"},
      {"a||b", "ERR COMPILE 1:2: '||' directly followed by a letter"},
      {"x>1&&y<2", "ERR COMPILE 1:4: '&&' directly followed by a letter"},
      {"a &&1", "ERR COMPILE 1:3: '&&' directly followed"},
      {"$x", "$x"},
      {"$x.a.b", "$x.a.b"},
      {"_a.$b", "ERR COMPILE 1:4: unexpected identifier '$b'"},
      {"a$b", "ERR COMPILE 1:2: unexpected identifier '$b'"},
      {NULL, NULL}};
  run_table(t);
}

TEST(paths_and_extensions) {
  static const pcase t[] = {
      {"user.profile.level", "user.profile.level"},
      {"items.0", "items.0"},
      {"items[0]", "items[0]"},
      {"a.b[2].c", "a.b[2].c"},
      {"a[0][1]", "a[0][1]"},
      {"a[007]", "a[7]"},
      {"items.*.price", "items.*.price"},
      {"items.*", "items.*"},
      {"a.*[0]", "a.*[0]"},
      {"a.*.*", "a.*.*"},
      {"$v[1].x", "$v[1].x"},
      {"$v.*", "$v.*"},
      {"sum(order.items.*.price)", "(call sum order.items.*.price)"},
      {"a.* == 1", "(== a.* 1)"},
      {"a.*==1", "(== a.* 1)"},
      {"len(a.*)", "(call len a.*)"},
      {"x * 2", "(* x 2)"},
      {"x*2", "(* x 2)"},
      {"a.b*2", "(* a.b 2)"},
      {"a.*2", "(* a. 2)"},
      {"a.*b", "(* a. b)"},
      {"a.*(2)", "(* a. 2)"},
      {"a.*-1", "(* a. (neg 1))"},
      {"a.*.b * 2", "(* a.*.b 2)"},
      {"a.", "a."},
      {"a..b", "a..b"},
      {"data.x", "data.x"},
      {"item", "item"},
      {"exists(a[0])", "(exists a[0])"},
      {"exists(a.*.b)", "(exists a.*.b)"},
      {"exists('a.b[1]')", "(exists a.b[1])"},
      {"f(x)[0]",
       "ERR COMPILE 1:5: unexpected '[': indexing is only allowed directly "
       "after a field path"},
      {"[1][0]", "ERR COMPILE 1:4: unexpected '['"},
      {"(a)[0]", "ERR COMPILE 1:4: unexpected '['"},
      {"\"s\"[0]", "ERR COMPILE 1:4: unexpected '['"},
      {"a [0]", "ERR COMPILE 1:3: unexpected '['"},
      {"true[0]", "ERR COMPILE 1:5: unexpected '['"},
      {"a[x]", "ERR COMPILE 1:2: invalid index: '[' after a path segment"},
      {"a[-1]", "ERR COMPILE 1:2: invalid index"},
      {"a[ 0]", "ERR COMPILE 1:2: invalid index"},
      {"a[0", "ERR COMPILE 1:2: invalid index"},
      {"a[]", "ERR COMPILE 1:2: invalid index"},
      {"a.[0]", "ERR COMPILE 1:3: invalid index"},
      {"a[99999999999999999999]",
       "ERR COMPILE 1:2: array index out of range: [99999999999999999999]"},
      {"a[9223372036854775807]", "a[9223372036854775807]"},
      {"a[0](1)",
       "ERR COMPILE 1:1: 'a[0]' cannot be called: '[n]' and '*' are only "
       "allowed in field paths"},
      {"(x > 1)[0]", "ERR COMPILE 1:8: unexpected '['"},
      {"in[0]", "ERR COMPILE 1:3: unexpected '['"},
      {"a.b[0]c", "ERR COMPILE 1:7: unexpected identifier 'c'"},
      {"a[0]_x", "ERR COMPILE 1:5: unexpected identifier '_x'"},
      {"f(a[0], b.*)", "(call f a[0] b.*)"},
      {NULL, NULL}};
  run_table(t);
}

TEST(path_segments) {
  gx_path *pa;
  gavel_error e;
  gavel__arena_reset(&arena);
  CHECK_STR(P("a.b[2].*.c"), "a.b[2].*.c");
  pa = last_node->path;
  CHECK(last_node->kind == GX_PATH);
  CHECK(pa->n_segs == 5 && !pa->is_var && pa->root == NULL);
  CHECK(pa->segs[0].kind == GX_SEG_KEY && !strcmp(pa->segs[0].key->s, "a"));
  CHECK(pa->segs[2].kind == GX_SEG_INDEX && pa->segs[2].index == 2);
  CHECK(pa->segs[3].kind == GX_SEG_WILD);
  CHECK_STR(pa->text->s, "a.b[2].*.c");
  CHECK_STR(P("items.0"), "items.0");
  CHECK(last_node->path->segs[1].kind == GX_SEG_KEY);
  CHECK_STR(last_node->path->segs[1].key->s, "0");
  CHECK_STR(P("$limit"), "$limit");
  CHECK(last_node->path->is_var && last_node->path->n_segs == 0);
  CHECK_STR(last_node->path->root->s, "limit");
  CHECK_STR(last_node->path->text->s, "$limit");
  CHECK_STR(P("$r.payload.status"), "$r.payload.status");
  CHECK(last_node->path->n_segs == 2);
  CHECK_STR(last_node->path->root->s, "r");
  CHECK_STR(P("a."), "a.");
  CHECK(last_node->path->n_segs == 2);
  CHECK(last_node->path->segs[1].key->len == 0);
  /* The string form. */
  gavel__error_clear(&e);
  CHECK(gavel__parse_path(&arena, "x.y[3][4]", 9, &pa, &e) == GAVEL_OK);
  CHECK(pa->n_segs == 4 && pa->segs[3].index == 4);
  CHECK(gavel__parse_path(&arena, "user name.*", 11, &pa, &e) == GAVEL_OK);
  CHECK(pa->n_segs == 2 && pa->segs[1].kind == GX_SEG_WILD);
  CHECK_STR(pa->segs[0].key->s, "user name");
  CHECK(gavel__parse_path(&arena, "$v[0].k", 7, &pa, &e) == GAVEL_OK);
  CHECK(pa->is_var && pa->n_segs == 2 && pa->segs[0].kind == GX_SEG_INDEX);
  CHECK_STR(pa->root->s, "v");
  CHECK(gavel__parse_path(&arena, "a[x]", 4, &pa, &e) == GAVEL_OK);
  CHECK(pa->n_segs == 1);
  CHECK_STR(pa->segs[0].key->s, "a[x]");
  CHECK(gavel__parse_path(&arena, "", 0, &pa, &e) == GAVEL_OK);
  CHECK(pa->n_segs == 1 && pa->segs[0].key->len == 0);
  CHECK(gavel__parse_path(&arena, "a[99999999999999999999]", 23, &pa, &e) ==
        GAVEL_COMPILE);
  CHECK(strstr(e.msg, "array index out of range") != NULL);
  CHECK_STR(P("exists(\"a[99999999999999999999]\")"),
            "ERR COMPILE 1:8: invalid path in exists(): array index out of "
            "range");
  CHECK_STR(P("exists(\"$x.y\")"), "(exists $x.y)");
  CHECK(last_node->path->is_var);
}

TEST(numbers) {
  static const pcase t[] = {
      {"0", "0"},
      {"007", "7"},
      {"42", "42"},
      {"3.15", "3.15"},
      {"1.0", "1.0"},
      {"0.25", "0.25"},
      {"00.5", "0.5"},
      {"9223372036854775807", "9223372036854775807"},
      {"9223372036854775808",
       "ERR COMPILE 1:1: integer literal out of range: 9223372036854775808"},
      {"-9223372036854775808", "ERR COMPILE 1:2: integer literal out of"},
      {"1.", "ERR COMPILE 1:2: unexpected character '.'"},
      {".5", "ERR COMPILE 1:1: unexpected character '.'"},
      {"1.2.3", "ERR COMPILE 1:4: unexpected character '.'"},
      {"1e5", "ERR COMPILE 1:2: unexpected identifier 'e5'"},
      {"0x10", "ERR COMPILE 1:2: unexpected identifier 'x10'"},
      {"12abc", "ERR COMPILE 1:3: unexpected identifier 'abc'"},
      {"1 .5", "ERR COMPILE 1:3: unexpected character '.'"},
      {NULL, NULL}};
  run_table(t);
  P("1.0");
  CHECK(last_node->lit.tag == GV_FLOAT && last_node->lit.u.f == 1.0);
  P("1");
  CHECK(last_node->lit.tag == GV_INT && last_node->lit.u.i == 1);
  P("123456789.000000001");
  CHECK(last_node->lit.tag == GV_FLOAT);
}

TEST(strings_and_escapes) {
  static const pcase t[] = {
      {"\"hello\"", "\"hello\""},
      {"'single'", "\"single\""},
      {"\"\"", "\"\""},
      {"\"a\\nb\\tc\\rd\"", "\"a\\nb\\tc\\rd\""},
      {"\"q\\\"q\"", "\"q\\\"q\""},
      {"'it\\'s'", "\"it's\""},
      {"\"back\\\\slash\"", "\"back\\\\slash\""},
      {"\"\\d+\"", "\"d+\""},
      {"\"\\u0041\"", "\"u0041\""},
      {"'a\"b'", "\"a\\\"b\""},
      {"\"a'b\"", "\"a'b\""},
      {"\"\xc3\xa9t\xc3\xa9\"", "\"\xc3\xa9t\xc3\xa9\""},
      {"\"\\\xc3\xa9\"", "\"\xc3\xa9\""},
      {"\"line1\nline2\"", "\"line1\\nline2\""},
      {"\"abc", "ERR COMPILE 1:1: unterminated string literal"},
      {"x + 'abc", "ERR COMPILE 1:5: unterminated string literal"},
      {"\"abc\\", "ERR COMPILE 1:1: unterminated string literal"},
      {"\"abc\\\"", "ERR COMPILE 1:1: unterminated string literal"},
      {"\"a\" \"b\"", "ERR COMPILE 1:5: unexpected string literal '\"b\"'"},
      {NULL, NULL}};
  run_table(t);
  P("\"a\\0b\"");
  CHECK(last_node->lit.tag == GV_STR && last_node->lit.u.s->len == 3);
  parse_n("\"a\0b\"", 5);
  CHECK(last_node && last_node->lit.u.s->len == 3 &&
        last_node->lit.u.s->s[1] == 0);
}

TEST(arrays_objects_calls) {
  static const pcase t[] = {
      {"[]", "[]"},
      {"[1, [2, 3]]", "[1 [2 3]]"},
      {"[1,2,]", "ERR COMPILE 1:6: expected operand after ',', found ']'"},
      {"[1 2]",
       "ERR COMPILE 1:4: expected ',' or ']' to close '[' at 1:1, found '2'"},
      {"[1, 2", "ERR COMPILE 1:6: expected ',' or ']' to close '['"},
      {"{}", "{}"},
      {"{\"a\": 1, 'b': x + 1}", "{\"a\" 1 \"b\" (+ x 1)}"},
      {"{\"a\": {\"b\": [1]}}", "{\"a\" {\"b\" [1]}}"},
      {"{\"a\": 1, \"a\": 2}", "{\"a\" 1 \"a\" 2}"},
      {"{a: 1}",
       "ERR COMPILE 1:2: expected a quoted string key in the object literal, "
       "found 'a'"},
      {"{\"a\" 1}", "ERR COMPILE 1:6: expected ':' after the object key"},
      {"{\"a\": 1,}", "ERR COMPILE 1:9: expected a quoted string key"},
      {"{\"a\": 1", "ERR COMPILE 1:8: expected ',' or '}' to close '{' at 1:1"},
      {"{1: 2}", "ERR COMPILE 1:2: expected a quoted string key"},
      {"len(items) > 0", "(> (call len items) 0)"},
      {"f()", "(call f)"},
      {"f(1, 2)", "(call f 1 2)"},
      {"math.abs(1)", "(call math.abs 1)"},
      {"f (1)", "(call f 1)"},
      {"$f(1)", "(call $f 1)"},
      {"in(1)", "(call in 1)"},
      {"f(1,)", "ERR COMPILE 1:5: expected operand after ',', found ')'"},
      {"f(1 2)",
       "ERR COMPILE 1:5: expected ',' or ')' to close 'f(' at 1:2, found '2'"},
      {"f(", "ERR COMPILE 1:3: expected operand after '(', found end"},
      {"coalesce(a)", "(coalesce a)"},
      {"coalesce(appid, in_appid)", "(coalesce appid in_appid)"},
      {"coalesce(a, b, 0)", "(coalesce a b 0)"},
      {"coalesce()", "ERR COMPILE 1:10: expected operand after '(', found ')'"},
      {"coalesce", "ERR COMPILE 1:9: expected '(' after 'coalesce', found end"},
      {"coalesce.x", "coalesce.x"},
      {"exists(user.premium)", "(exists user.premium)"},
      {"exists( a.b )", "(exists a.b)"},
      {"exists('a.b')", "(exists a.b)"},
      {"exists(not)", "(exists not)"},
      {"exists(1)", "ERR COMPILE 1:8: expected a field path or a string inside "
                    "'exists(...)', found '1'"},
      {"exists a", "ERR COMPILE 1:8: expected '(' after 'exists', found 'a'"},
      {"exists(a", "ERR COMPILE 1:9: expected ')' to close 'exists(' at 1:7"},
      {"exists(a, b)", "ERR COMPILE 1:9: expected ')' to close 'exists('"},
      {"exists", "ERR COMPILE 1:7: expected '(' after 'exists'"},
      {"exists.x", "exists.x"},
      {NULL, NULL}};
  run_table(t);
}

TEST(whitespace_and_unicode) {
  static const pcase t[] = {
      {"\ta\n>\r\n1 ", "(> a 1)"},
      {"a\xc2\xa0>\xe3\x80\x80"
       "1",
       "(> a 1)"}, /* U+00A0, U+3000 */
      {"a\xe2\x80\xa8+\xe2\x80\x89"
       "b",
       "(+ a b)"}, /* U+2028, U+2009 */
      {"\xc3\xa9t\xc3\xa9 > 1", "(> \xc3\xa9t\xc3\xa9 1)"},
      {"prix_\xe2\x82\xac", "prix_\xe2\x82\xac"}, /* >= 0x80 is alpha */
      {"\xe5\x90\x8d\xe5\xad\x97.x", "\xe5\x90\x8d\xe5\xad\x97.x"},
      {"not\xc2\xa0x", "(not x)"},
      {"not\xc3\xa9", "not\xc3\xa9"},
      {"\xc3\xa9 + #", "ERR COMPILE 1:5: unexpected character '#'"},
      {"a >\n  #", "ERR COMPILE 2:3: unexpected character '#'"},
      {"a\x01", "ERR COMPILE 1:2: unexpected character U+0001"},
      {"a\xff", "ERR COMPILE 1:2: invalid UTF-8 byte 0xFF"},
      {"\"\xc0\xaf\"", "ERR COMPILE 1:2: invalid UTF-8 byte 0xC0"},
      {"\xed\xa0\x80", "ERR COMPILE 1:1: invalid UTF-8 byte 0xED"},
      {"", "ERR COMPILE 1:1: expected expression, found end of input"},
      {"   ", "ERR COMPILE 1:4: expected expression, found end of input"},
      {NULL, NULL}};
  run_table(t);
}

TEST(error_messages_and_positions) {
  static const pcase t[] = {
      {"price > ", "ERR COMPILE 1:9: expected operand after '>', found end "
                   "of input"},
      {"(a x", "ERR COMPILE 1:4: expected ')' to close '(' at 1:1, found 'x'"},
      {"(ab  x", "ERR COMPILE 1:6: expected ')' to close '(' at 1:1, "
                 "found 'x'"},
      {"a # b", "ERR COMPILE 1:3: unexpected character '#'"},
      {"(((", "ERR COMPILE 1:4: expected operand after '(', found end of "
              "input"},
      {"a b", "ERR COMPILE 1:3: unexpected identifier 'b' after expression"},
      {"a 1", "ERR COMPILE 1:3: unexpected number '1' after expression"},
      {"a )", "ERR COMPILE 1:3: unexpected ')' after expression"},
      {"a +", "ERR COMPILE 1:4: expected operand after '+', found end"},
      {"a + )", "ERR COMPILE 1:5: expected operand after '+', found ')'"},
      {"!", "ERR COMPILE 1:2: expected operand after '!', found end"},
      {"not", "ERR COMPILE 1:4: expected operand after 'not', found end"},
      {"a and", "ERR COMPILE 1:6: expected operand after 'and', found end"},
      {"a in", "ERR COMPILE 1:5: expected operand after 'in', found end"},
      {"x\n  + ]", "ERR COMPILE 2:5: expected operand after '+', found ']'"},
      {"* 2", "ERR COMPILE 1:1: expected expression, found '*'"},
      {"a @ b", "ERR COMPILE 1:3: unexpected character '@'"},
      {NULL, NULL}};
  run_table(t);
  P("ab\n  + #");
  CHECK(last_err.code == GAVEL_COMPILE && last_err.line == 2 &&
        last_err.column == 5 && last_err.offset == 7);
  P("\xc3\xa9\xc3\xa9 ]");
  CHECK(last_err.line == 1 && last_err.column == 4 && last_err.offset == 5);
}

TEST(node_positions) {
  gx_node *n;
  P("a +\n  f(x) * 2");
  n = last_node;
  CHECK(n->kind == GX_BINARY && n->op == GX_ADD);
  CHECK(n->line == 1 && n->column == 3 && n->offset == 2); /* operator */
  CHECK(n->a->line == 1 && n->a->column == 1);
  CHECK(n->b->kind == GX_BINARY && n->b->line == 2 && n->b->column == 8);
  CHECK(n->b->a->kind == GX_CALL && n->b->a->column == 3);
  CHECK(n->b->a->args[0]->column == 5);
  P("  (x)");
  CHECK(last_node->kind == GX_PATH && last_node->column == 4);
  P("\xc3\xa9 + -1");
  CHECK(last_node->column == 3 && last_node->offset == 3);
  CHECK(last_node->b->kind == GX_UNARY && last_node->b->column == 5);
  P("if a then [1] else {}");
  CHECK(last_node->column == 1 && last_node->b->column == 11 &&
        last_node->c->column == 20);
  P("x not in y");
  CHECK(last_node->op == GX_NOTIN && last_node->column == 3);
}

TEST(limits) {
  static char buf[8192];
  int i;
  memset(buf, ' ', sizeof buf);
  memcpy(buf + GAVEL_MAX_EXPR_LEN - 5, "x > 1", 5);
  CHECK_STR(parse_n(buf, GAVEL_MAX_EXPR_LEN), "(> x 1)");
  memcpy(buf + GAVEL_MAX_EXPR_LEN - 4, "x > 1", 5);
  CHECK_STR(parse_n(buf, GAVEL_MAX_EXPR_LEN + 1),
            "ERR LIMIT 1:1: expression too long: 4097 bytes (max 4096)");
  CHECK(last_err.line == 1 && last_err.column == 1);
  /* 49 nested parentheses parse, 50 do not (the top level counts one). */
  for (i = 0; i < 49; i++)
    buf[i] = '(', buf[50 + i] = ')';
  buf[49] = 'x';
  CHECK_STR(parse_n(buf, 99), "x");
  memmove(buf + 1, buf, 99);
  buf[0] = '(';
  buf[100] = ')';
  CHECK_STR(parse_n(buf, 101),
            "ERR LIMIT 1:50: expression nesting depth exceeds maximum (50)");
  /* Unary chains: 49 ok, 50 not; each kind counts. */
  memset(buf, '!', 50);
  memcpy(buf + 49, "true", 4);
  CHECK(strncmp(parse_n(buf, 53), "ERR", 3) != 0);
  memset(buf, '!', 50);
  memcpy(buf + 50, "true", 4);
  CHECK_STR(parse_n(buf, 54),
            "ERR LIMIT 1:50: expression nesting depth exceeds maximum (50)");
  memset(buf, '-', 49);
  memcpy(buf + 49, "1", 1);
  CHECK(strncmp(parse_n(buf, 50), "ERR", 3) != 0);
  memset(buf, '-', 50);
  memcpy(buf + 50, "1", 1);
  CHECK(strncmp(parse_n(buf, 51), "ERR LIMIT", 9) == 0);
  for (i = 0; i < 50; i++)
    memcpy(buf + 4 * i, "not ", 4);
  memcpy(buf + 200, "x", 1);
  CHECK(strncmp(parse_n(buf, 201), "ERR LIMIT 1:197:", 16) == 0);
  CHECK(strncmp(parse_n(buf + 4, 197), "ERR", 3) != 0);
  /* Arrays and calls count too (Ordo: every sub-expression). */
  for (i = 0; i < 49; i++)
    buf[i] = '[', buf[50 + i] = ']';
  buf[49] = '1';
  CHECK(strncmp(parse_n(buf, 99), "ERR", 3) != 0);
  memmove(buf + 1, buf, 99);
  buf[0] = '[';
  buf[100] = ']';
  CHECK(strncmp(parse_n(buf, 101), "ERR LIMIT 1:50:", 15) == 0);
  for (i = 0; i < 50; i++)
    memcpy(buf + 2 * i, "f(", 2), buf[101 + i] = ')';
  buf[100] = 'x';
  CHECK(strncmp(parse_n(buf, 151), "ERR LIMIT 1:100:", 16) == 0);
  CHECK(strncmp(parse_n(buf + 2, 148), "ERR", 3) != 0);
  /* Nothing can overflow the stack. */
  memset(buf, '(', 4096);
  CHECK(strncmp(parse_n(buf, 4096), "ERR LIMIT", 9) == 0);
  memset(buf, '[', 4096);
  CHECK(strncmp(parse_n(buf, 4096), "ERR LIMIT", 9) == 0);
  memset(buf, '-', 4096);
  CHECK(strncmp(parse_n(buf, 4096), "ERR LIMIT", 9) == 0);
  for (i = 0; i < 4090 / 8; i++)
    memcpy(buf + 8 * i, "if a the", 8);
  CHECK(strncmp(parse_n(buf, 4090 / 8 * 8), "ERR", 3) == 0);
  for (i = 0; i < 4096 / 5; i++)
    memcpy(buf + 5 * i, "{'':[", 5);
  CHECK(strncmp(parse_n(buf, 4096 / 5 * 5), "ERR LIMIT", 9) == 0);
  /* Long flat expressions are fine. */
  for (i = 0; i < 1000; i++)
    memcpy(buf + 4 * i, "a + ", 4);
  buf[4000] = 'a';
  CHECK(strncmp(parse_n(buf, 4001), "(+ (+ (+", 8) == 0);
}

TEST(arena_failure) {
  gv_arena small;
  int lim, ok = 0, limit_hit = 0, bad = 0;
  const char *src = "if a.b[0] > 1 then f(\"xyz\", [1, 2, {'k': x.*}]) "
                    "else coalesce(y, exists(z), -3.5)";
  for (lim = 8; lim < 8192; lim += 8) {
    gx_node *n = NULL;
    gavel_error e;
    gavel_status rc;
    gavel__arena_init(&small, &gavel__default_alloc, (size_t)lim);
    gavel__error_clear(&e);
    rc = gavel__parse_expr(&small, src, strlen(src), &n, &e);
    if (rc == GAVEL_OK)
      ok++;
    else if (rc == GAVEL_LIMIT && n == NULL)
      limit_hit++;
    else
      bad++;
    gavel__arena_free(&small);
  }
  CHECK(ok > 0 && limit_hit > 0 && bad == 0);
}

/* ==== JSON AST form ==== */

TEST(json_ast_variants) {
  CHECK_STR(JA("{\"Literal\": 18}"), "18");
  CHECK_STR(JA("{\"Literal\": 0.9}"), "0.9");
  CHECK_STR(JA("{\"Literal\": \"vip\"}"), "\"vip\"");
  CHECK_STR(JA("{\"Literal\": null}"), "null");
  CHECK_STR(JA("{\"Literal\": true}"), "true");
  CHECK_STR(JA("{\"Literal\": [1, \"a\", {\"k\": [null]}]}"),
            "#[1 \"a\" #{\"k\" #[null]}]");
  CHECK_STR(JA("{\"Field\": \"user.age\"}"), "user.age");
  CHECK_STR(JA("{\"Field\": \"$http_result.payload.status\"}"),
            "$http_result.payload.status");
  CHECK(last_node->path->is_var && last_node->path->n_segs == 2);
  CHECK_STR(JA("{\"Field\": \"items[1].*\"}"), "items[1].*");
  CHECK_STR(JA("{\"Exists\": \"a.b\"}"), "(exists a.b)");
  CHECK_STR(JA("{\"Binary\": {\"op\": \"Mul\", \"left\": {\"Field\": "
               "\"amount\"}, \"right\": {\"Literal\": 0.8}}}"),
            "(* amount 0.8)");
  CHECK_STR(JA("{\"Unary\": {\"op\": \"Not\", \"operand\": {\"Field\": "
               "\"blocked\"}}}"),
            "(not blocked)");
  CHECK_STR(JA("{\"Unary\": {\"op\": \"Neg\", \"operand\": {\"Literal\": 5}}}"),
            "(neg 5)");
  CHECK_STR(JA("{\"Call\": {\"name\": \"round\", \"args\": [{\"Field\": "
               "\"x\"}, {\"Literal\": 2}]}}"),
            "(call round x 2)");
  CHECK_STR(JA("{\"Call\": {\"name\": \"now\", \"args\": []}}"), "(call now)");
  CHECK_STR(JA("{\"Conditional\": {\"condition\": {\"Exists\": \"d\"}, "
               "\"then_branch\": {\"Literal\": 1}, \"else_branch\": "
               "{\"Literal\": 2}}}"),
            "(if (exists d) 1 2)");
  CHECK_STR(JA("{\"Array\": [{\"Literal\": 1}, {\"Field\": \"x\"}]}"), "[1 x]");
  CHECK_STR(JA("{\"Array\": []}"), "[]");
  CHECK_STR(JA("{\"Object\": [[\"k\", {\"Literal\": 1}], [\"j\", {\"Field\": "
               "\"y\"}]]}"),
            "{\"k\" 1 \"j\" y}");
  CHECK_STR(JA("{\"Coalesce\": [{\"Field\": \"a\"}, {\"Literal\": 0}]}"),
            "(coalesce a 0)");
  CHECK_STR(JA("{\"Coalesce\": []}"), "(coalesce)");
  CHECK(last_node->n_args == 0);
  CHECK_STR(JA("{\"Binary\": {\"op\": \"Contains\", \"left\": {\"Field\": "
               "\"a\"}, \"right\": {\"Literal\": 1}, \"extra\": 1}}"),
            "(contains a 1)");
  CHECK(last_node->offset == -1 && last_node->line == 0);
}

TEST(json_ast_ops) {
  static const char *const names[] = {
      "Add", "Sub", "Mul", "Div", "Mod", "Eq", "Ne",    "Lt",
      "Le",  "Gt",  "Ge",  "And", "Or",  "In", "NotIn", "Contains"};
  char json[256], want[64];
  int i;
  for (i = 0; i < 16; i++) {
    snprintf(json, sizeof json,
             "{\"Binary\": {\"op\": \"%s\", \"left\": {\"Field\": \"a\"}, "
             "\"right\": {\"Field\": \"b\"}}}",
             names[i]);
    snprintf(want, sizeof want, "(%s a b)", op_sym[i]);
    CHECK_STR(JA(json), want);
    CHECK(last_node && last_node->op == (gx_op)i);
  }
}

TEST(json_ast_strings_are_expressions) {
  CHECK_STR(JA("\"amount * 0.9\""), "(* amount 0.9)");
  CHECK_STR(JA("{\"Binary\": {\"op\": \"Add\", \"left\": \"x + 1\", "
               "\"right\": {\"Literal\": 2}}}"),
            "(+ (+ x 1) 2)");
  CHECK_STR(JA("{\"Array\": [\"a\", \"'s'\"]}"), "[a \"s\"]");
  CHECK_STR(JA("{\"Binary\": {\"op\": \"Add\", \"left\": {\"Call\": "
               "{\"name\": \"f\", \"args\": [\"1\", \"a #\"]}}, \"right\": "
               "\"1\"}}"),
            "ERR COMPILE Binary.left.Call.args[1]: 1:3: unexpected character "
            "'#'");
  CHECK(last_err.line == 1 && last_err.column == 3);
  CHECK_STR(JA("{\"Array\": [\"((((((((((((((((((((((((((((((((((((((((((((("
               "(((((((x\"]}"),
            "ERR LIMIT Array[0]: 1:50: expression nesting depth exceeds "
            "maximum (50)");
}

TEST(json_ast_errors) {
  CHECK_PRE(JA("{\"Foo\": 1}"),
            "ERR LOAD : unknown expression variant `Foo` (expected one of "
            "Literal, Field, Binary, Unary, Call, Conditional, Array, Object, "
            "Exists, Coalesce)");
  CHECK_PRE(JA("{\"Binary\": {\"op\": \"Add\", \"right\": {\"Literal\": 1}}}"),
            "ERR LOAD Binary: missing field `left`");
  CHECK_PRE(JA("{\"Binary\": {\"op\": \"Pow\", \"left\": 1, \"right\": 2}}"),
            "ERR LOAD Binary.op: unknown binary op `Pow` (expected one of Add, "
            "Sub, Mul, Div, Mod, Eq, Ne, Lt, Le, Gt, Ge, And, Or, In, NotIn, "
            "Contains)");
  CHECK_PRE(JA("{\"Binary\": {\"left\": 1, \"right\": 2}}"),
            "ERR LOAD Binary: missing field `op`");
  CHECK_PRE(JA("{\"Binary\": {\"op\": 3, \"left\": 1, \"right\": 2}}"),
            "ERR LOAD Binary.op: invalid type: int, expected a string");
  CHECK_PRE(JA("{\"Unary\": {\"op\": \"Minus\", \"operand\": 1}}"),
            "ERR LOAD Unary.op: unknown unary op `Minus` (expected one of Not, "
            "Neg)");
  CHECK_PRE(JA("{\"Binary\": {\"op\": \"Add\", \"left\": {\"Call\": "
               "{\"name\": \"f\", \"args\": [{\"Literal\": 1}, {\"Nope\": "
               "2}]}}, \"right\": 1}}"),
            "ERR LOAD Binary.left.Call.args[1]: unknown expression variant "
            "`Nope`");
  CHECK_PRE(JA("{\"Call\": {\"name\": \"f\"}}"),
            "ERR LOAD Call: missing field `args`");
  CHECK_PRE(JA("{\"Call\": {\"args\": []}}"),
            "ERR LOAD Call: missing field `name`");
  CHECK_PRE(JA("{\"Call\": {\"name\": \"f\", \"args\": {}}}"),
            "ERR LOAD Call.args: invalid type: object, expected an array of "
            "expressions");
  CHECK_PRE(JA("{\"Conditional\": {\"condition\": 1, \"then_branch\": 2}}"),
            "ERR LOAD Conditional.condition: invalid expression: int");
  CHECK_PRE(JA("{\"Conditional\": {\"condition\": \"a\", \"then_branch\": "
               "\"b\"}}"),
            "ERR LOAD Conditional: missing field `else_branch`");
  CHECK_PRE(JA("{\"Object\": [[\"k\"]]}"),
            "ERR LOAD Object[0]: invalid object entry: array of wrong length");
  CHECK_PRE(JA("{\"Object\": [[1, {\"Literal\": 1}]]}"),
            "ERR LOAD Object[0]: invalid object key: int, expected a string");
  CHECK_PRE(JA("{\"Object\": [[\"k\", {\"Bad\": 1}]]}"),
            "ERR LOAD Object[0][1]: unknown expression variant `Bad`");
  CHECK_PRE(JA("{\"Object\": {}}"), "ERR LOAD Object: invalid type: object");
  CHECK_PRE(JA("{\"Array\": 1}"), "ERR LOAD Array: invalid type: int");
  CHECK_PRE(JA("{\"Coalesce\": null}"), "ERR LOAD Coalesce: invalid type");
  CHECK_PRE(JA("{\"Field\": 1}"),
            "ERR LOAD Field: invalid type: int, expected a string");
  CHECK_PRE(JA("{\"Exists\": \"a[99999999999999999999]\"}"),
            "ERR LOAD Exists: invalid path 'a[99999999999999999999]': array "
            "index out of range");
  CHECK_PRE(JA("{\"Field\": \"a\", \"Literal\": 1}"),
            "ERR LOAD : invalid expression: object with several keys");
  CHECK_PRE(JA("{}"), "ERR LOAD : invalid expression: object with no key");
  CHECK_PRE(JA("42"), "ERR LOAD : invalid expression: int");
  CHECK_PRE(JA("null"), "ERR LOAD : invalid expression: null");
  CHECK_PRE(JA("[]"), "ERR LOAD : invalid expression: array");
  CHECK_PRE(JA("{\"Binary\": []}"),
            "ERR LOAD Binary: invalid type: array, expected `Binary` to hold "
            "an object with fields op, left, right");
  CHECK(last_err.line == 0 && last_err.column == 0 && last_err.offset == -1);
}

/* {"<variant>": {"op": "Not", "<field>": inner}} built directly (the JSON
** reader stops at 512 levels, before the converter's own guard). */
static gvalue wrap_unary(gvalue inner) {
  gv_obj *body = gavel__obj_new(&arena, 2), *o = gavel__obj_new(&arena, 1);
  gavel__obj_set(&arena, body, gavel__str_cstr(&arena, "op"),
                 gv_strv(gavel__str_cstr(&arena, "Not")));
  gavel__obj_set(&arena, body, gavel__str_cstr(&arena, "operand"), inner);
  gavel__obj_set(&arena, o, gavel__str_cstr(&arena, "Unary"), gv_objv(body));
  return gv_objv(o);
}

TEST(json_ast_depth) {
  gvalue v;
  gx_node *n = NULL;
  int i;
  gavel__arena_reset(&arena);
  v = J("{\"Literal\": 1}");
  for (i = 0; i < 255; i++)
    v = wrap_unary(v);
  gavel__error_clear(&last_err);
  CHECK(gavel__parse_ast_json(&arena, v, &n, &last_err) == GAVEL_OK);
  v = wrap_unary(v);
  CHECK(gavel__parse_ast_json(&arena, v, &n, &last_err) == GAVEL_LIMIT);
  CHECK(n == NULL);
  CHECK(strncmp(last_err.path, "Unary.operand.Unary.operand", 27) == 0);
  CHECK_STR(last_err.msg, "expression AST nesting exceeds maximum (256)");
}

/* ==== Conformance sample ==== */

static const char *conformance_path(void) {
  static const char *const tries[] = {
      "../shared/conformance/ordo-sample/expressions.jsonl",
      "../../shared/conformance/ordo-sample/expressions.jsonl", NULL};
  const char *env = getenv("GAVEL_CONFORMANCE");
  int i;
  if (env)
    return env;
  for (i = 0; tries[i]; i++) {
    FILE *f = fopen(tries[i], "r");
    if (f) {
      fclose(f);
      return tries[i];
    }
  }
  return NULL;
}

TEST(conformance_sample) {
  static char line[1 << 16];
  const char *path = conformance_path();
  FILE *f = path ? fopen(path, "r") : NULL;
  int n_ast = 0, n_perr = 0, n_ok = 0, strict;
  gavel__arena_reset(&arena);
  strict = J("1.0").tag == GV_FLOAT; /* the JSON reader keeps 1.0 a float */
  if (!f) {
    fprintf(stderr, "  ordo-sample: not present, skipped\n");
    return;
  }
  while (fgets(line, sizeof line, f)) {
    gvalue e, *expr, *ast, *kind;
    gavel_error je;
    gx_node *n = NULL, *jn = NULL;
    gavel_status rc;
    size_t len = strlen(line);
    gv_buf b1, b2;
    gavel__arena_reset(&arena);
    gavel__error_clear(&je);
    if (len < 2)
      continue;
    if (gavel__json_parse(&arena, line, len, NULL, &e, &je) != GAVEL_OK) {
      CHECK(!"conformance line is valid JSON");
      continue;
    }
    expr = jget(e, "expr");
    ast = jget(e, "ast");
    kind = jget(e, "error_kind");
    if (!expr || expr->tag != GV_STR)
      continue;
    gavel__error_clear(&last_err);
    rc = gavel__parse_expr(&arena, expr->u.s->s, expr->u.s->len, &n, &last_err);
    if (kind && kind->tag == GV_STR && !strcmp(kind->u.s->s, "parse")) {
      n_perr++;
      if (rc == GAVEL_OK)
        fprintf(stderr, "  %s: parsed but must fail\n", jget(e, "id")->u.s->s);
      CHECK(rc != GAVEL_OK);
      continue;
    }
    if (rc != GAVEL_OK) {
      fprintf(stderr, "  %s: %s\n", jget(e, "id")->u.s->s, last_err.msg);
      CHECK(rc == GAVEL_OK);
      continue;
    }
    n_ok++;
    if (!ast)
      continue;
    n_ast++;
    loose_numbers = !strict;
    gavel__buf_init(&b1, &gavel__default_alloc);
    gavel__buf_init(&b2, &gavel__default_alloc);
    pr_node(&b1, n);
    pr_jast(&b2, *ast);
    CHECK_STR(b1.p, b2.p);
    CHECK(gavel__parse_ast_json(&arena, *ast, &jn, &last_err) == GAVEL_OK);
    if (jn) {
      gavel__buf_clear(&b2);
      pr_node(&b2, jn);
      CHECK_STR(b1.p, b2.p);
    }
    loose_numbers = 0;
    gavel__buf_free(&b1);
    gavel__buf_free(&b2);
  }
  fclose(f);
  printf("  conformance: %d parsed, %d with ast (%s numbers), %d parse "
         "errors\n",
         n_ok, n_ast, strict ? "strict" : "loose", n_perr);
  CHECK(n_ast >= 13 && n_perr >= 4 && n_ok >= 200);
}

TEST_MAIN()
