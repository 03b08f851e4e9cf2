/*
** cmd_graph.c -- 'gavel graph RULESET.json [--counts FILE.jsonl]': the
** step graph as Graphviz DOT.  Decision edges are labelled "#N condition"
** in branch order (the default last), conditions cut at LABEL_CHARS
** characters with an ellipsis, AST-object conditions printed as expression
** text.  With --counts (a 'gavel batch --trace' output file), every edge is
** labelled with how often the runs took it (per branch: the trace names the
** branch each decision took) and every terminal with how often it ended a
** run; without traces in the file, terminals are counted by result code.
*/
#include "cli_rules.h"
#include "json.h"
#include "rules.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void dot_id(FILE *o, const gv_graph *g, int gi, int s) {
  fprintf(o, "\"g%d_%s\"", gi, g->steps[s].key->s);
}

/* A DOT string body; a newline becomes DOT's \n line break. */
static void dot_str(FILE *o, const char *s) {
  for (; *s; s++) {
    if (*s == '\n') {
      fputs("\\n", o);
      continue;
    }
    if (*s == '"' || *s == '\\')
      fputc('\\', o);
    fputc(*s, o);
  }
}

/* Longest condition shown on an edge, in characters (then "…"), and the
** line length it is wrapped at (on a space). */
#define LABEL_CHARS 84
#define LABEL_LINE 42

/* counts[g][from][to] flattened: from*n+to; terminal ends at [to*n+to]. */
typedef struct counts {
  long *edge;  /* n*n edge counts of the main graph       */
  long *ends;  /* per step: runs that ended there         */
  long *br;    /* per decision branch (default last)      */
  int *br_at;  /* per step: its first entry in 'br'       */
  int n;       /* steps in the main graph                 */
  long runs;   /* result lines read                       */
  long errors; /* error lines                             */
  /* Lines that say nothing about this ruleset, reported (never counted
  ** silently as zero): not a result (not a JSON object with a "code",
  ** "error" or "trace", or over the input limit); a trace naming none
  ** of its steps; a result without a trace whose code none of its
  ** terminals returns.  Each with its number and its first line. */
  long not_result, foreign, no_terminal;
  long first_not_result, first_foreign, first_no_terminal;
  long line;   /* the line being read (1-based)           */
} counts;

/* ==== AST objects as expression text ==== */

static const struct {
  const char *name, *text;
  int prec; /* higher binds tighter */
} bin_ops[] = {{"Or", "||", 1},      {"And", "&&", 2},     {"Eq", "==", 3},
               {"Ne", "!=", 3},      {"Lt", "<", 3},       {"Le", "<=", 3},
               {"Gt", ">", 3},       {"Ge", ">=", 3},      {"In", "in", 4},
               {"NotIn", "not in", 4}, {"Contains", "contains", 4},
               {"Add", "+", 5},      {"Sub", "-", 5},      {"Mul", "*", 6},
               {"Div", "/", 6},      {"Mod", "%", 6}};

static gvalue *member(gvalue v, const char *k) {
  return v.tag == GV_OBJ ? gavel__obj_get(v.u.o, k, strlen(k)) : NULL;
}

static int bin_prec(gvalue v, int *op) {
  gvalue *b = member(v, "Binary"), *o = b ? member(*b, "op") : NULL;
  size_t i;
  if (o && o->tag == GV_STR)
    for (i = 0; i < sizeof bin_ops / sizeof bin_ops[0]; i++)
      if (gavel__str_eqn(o->u.s, bin_ops[i].name, strlen(bin_ops[i].name))) {
        if (op)
          *op = (int)i;
        return bin_ops[i].prec;
      }
  return 99; /* not a binary: never needs parentheses */
}

static void ast_text(gv_buf *b, gvalue v, int depth);

static void ast_list(gv_buf *b, gvalue *l, int depth) {
  uint32_t i;
  if (!l || l->tag != GV_ARR)
    return;
  for (i = 0; i < l->u.a->len; i++) {
    if (i)
      gavel__buf_adds(b, ", ");
    ast_text(b, l->u.a->items[i], depth + 1);
  }
}

static void ast_side(gv_buf *b, gvalue *v, int prec, int right, int depth) {
  int p;
  if (!v) {
    gavel__buf_adds(b, "?");
    return;
  }
  p = bin_prec(*v, NULL);
  if (p < prec || (right && p == prec)) {
    gavel__buf_addc(b, '(');
    ast_text(b, *v, depth + 1);
    gavel__buf_addc(b, ')');
  } else
    ast_text(b, *v, depth + 1);
}

/* Ordo's AST object (a loaded ruleset's: already valid) as gavel text. */
static void ast_text(gv_buf *b, gvalue v, int depth) {
  gvalue *x;
  int op = 0;
  if (depth > 64 || b->len > 4096) { /* labels are cut far earlier */
    gavel__buf_adds(b, "...");
    return;
  }
  if (v.tag == GV_STR) { /* an expression string */
    gavel__buf_add(b, v.u.s->s, v.u.s->len);
  } else if ((x = member(v, "Literal"))) {
    gavel__json_write(b, *x);
  } else if ((x = member(v, "Field")) && x->tag == GV_STR) {
    gavel__buf_add(b, x->u.s->s, x->u.s->len);
  } else if ((x = member(v, "Exists")) && x->tag == GV_STR) {
    gavel__buf_addf(b, "exists(%s)", x->u.s->s);
  } else if ((x = member(v, "Binary"))) {
    int prec = bin_prec(v, &op);
    ast_side(b, member(*x, "left"), prec, 0, depth);
    gavel__buf_addf(b, " %s ", bin_ops[op].text);
    ast_side(b, member(*x, "right"), prec, 1, depth);
  } else if ((x = member(v, "Unary"))) {
    gvalue *o = member(*x, "op");
    gavel__buf_adds(b, o && o->tag == GV_STR && gavel__str_eqn(o->u.s, "Neg", 3)
                           ? "-" : "!");
    ast_side(b, member(*x, "operand"), 7, 0, depth);
  } else if ((x = member(v, "Call"))) {
    gvalue *n = member(*x, "name");
    if (n && n->tag == GV_STR)
      gavel__buf_add(b, n->u.s->s, n->u.s->len);
    gavel__buf_addc(b, '(');
    ast_list(b, member(*x, "args"), depth);
    gavel__buf_addc(b, ')');
  } else if ((x = member(v, "Conditional"))) {
    gavel__buf_adds(b, "if ");
    ast_side(b, member(*x, "condition"), 0, 0, depth);
    gavel__buf_adds(b, " then ");
    ast_side(b, member(*x, "then_branch"), 0, 0, depth);
    gavel__buf_adds(b, " else ");
    ast_side(b, member(*x, "else_branch"), 0, 0, depth);
  } else if ((x = member(v, "Coalesce"))) {
    gavel__buf_adds(b, "coalesce(");
    ast_list(b, x, depth);
    gavel__buf_addc(b, ')');
  } else if ((x = member(v, "Array"))) {
    gavel__buf_addc(b, '[');
    ast_list(b, x, depth);
    gavel__buf_addc(b, ']');
  } else if ((x = member(v, "Object")) && x->tag == GV_ARR) {
    uint32_t i;
    gavel__buf_addc(b, '{');
    for (i = 0; i < x->u.a->len; i++) {
      gvalue e = x->u.a->items[i];
      if (i)
        gavel__buf_adds(b, ", ");
      if (e.tag == GV_ARR && e.u.a->len == 2) {
        gavel__json_write(b, e.u.a->items[0]);
        gavel__buf_adds(b, ": ");
        ast_text(b, e.u.a->items[1], depth + 1);
      }
    }
    gavel__buf_addc(b, '}');
  } else {
    gavel__buf_adds(b, "condition");
  }
}

/* 'src' cut to LABEL_CHARS characters (UTF-8; at a space when one is
** near) plus "…", wrapped once at a space near LABEL_LINE, into 'out'. */
static void cut_label(char *out, size_t osz, const char *src, size_t len) {
  size_t i = 0, o = 0, brk = 0, sp = 0;
  int chars = 0;
  while (i < len && src[i] && chars < LABEL_CHARS && o + 4 < osz) {
    size_t k = 1;
    unsigned char c = (unsigned char)src[i];
    if (c >= 0xF0)
      k = 4;
    else if (c >= 0xE0)
      k = 3;
    else if (c >= 0xC0)
      k = 2;
    if (i + k > len || o + k + 4 >= osz)
      break;
    if (src[i] == ' ') {
      sp = o;
      if (chars <= LABEL_LINE)
        brk = o;
    }
    memcpy(out + o, src + i, k);
    o += k;
    i += k;
    chars++;
  }
  if (i < len && src[i]) {
    if (sp > o - (o < 16 ? o : 16)) /* end on a whole word */
      o = sp;
    while (o > 0 && out[o - 1] == ' ') /* no space before the ellipsis */
      o--;
    memcpy(out + o, "\xE2\x80\xA6", 3); /* … */
    o += 3;
  }
  out[o] = 0;
  if (chars > LABEL_LINE && brk > 0 && brk < o)
    out[brk] = '\n';
}

static int find_step_id(const gv_graph *g, const char *id, size_t len) {
  int i;
  for (i = 0; i < g->n_steps; i++)
    if (gavel__str_eqn(g->steps[i].id, id, len))
      return i;
  return -1;
}

/* Counts one run that went through 'cur' on to 'next' (-1: it ended
** there); 'br' is the trace's "branch" member of the step, or NULL. */
static void count_step(const gv_graph *g, counts *c, int cur, int next,
                       const gvalue *br) {
  const gv_step *s = &g->steps[cur];
  int b = -1;
  if (next < 0) {
    c->ends[cur]++;
    return;
  }
  if (s->type != ST_DECISION) {
    c->edge[cur * c->n + next]++;
    return;
  }
  if (br && br->tag == GV_INT && br->u.i >= 0 && br->u.i < s->n_branches)
    b = (int)br->u.i;
  else if (br && br->tag == GV_STR)
    b = s->n_branches; /* "default" */
  else { /* a trace without branches (older gavel): the first that fits */
    for (b = 0; b < s->n_branches; b++)
      if (s->branches[b].next == next)
        break;
  }
  c->br[c->br_at[cur] + b]++;
}

static void count_line(const gv_graph *g, counts *c, gv_arena *a,
                       const char *line, size_t len) {
  gvalue v, *t, *p, *st, *code;
  gavel_error e;
  if (gavel__json_parse(a, line, len, NULL, &v, &e) != GAVEL_OK ||
      v.tag != GV_OBJ ||
      (!gavel__obj_get(v.u.o, "error", 5) &&
       !gavel__obj_get(v.u.o, "trace", 5) &&
       (!(code = gavel__obj_get(v.u.o, "code", 4)) || code->tag != GV_STR))) {
    if (!c->not_result++)
      c->first_not_result = c->line;
    return;
  }
  c->runs++;
  if (gavel__obj_get(v.u.o, "error", 5)) {
    c->errors++;
    return;
  }
  t = gavel__obj_get(v.u.o, "trace", 5);
  st = t && t->tag == GV_OBJ ? gavel__obj_get(t->u.o, "steps", 5) : NULL;
  p = t && t->tag == GV_OBJ ? gavel__obj_get(t->u.o, "path", 4) : NULL;
  if (st && st->tag == GV_ARR) {
    uint32_t i;
    int prev = -1;
    const gvalue *pbr = NULL;
    for (i = 0; i < st->u.a->len; i++) {
      gvalue *id = member(st->u.a->items[i], "id");
      int cur = id && id->tag == GV_STR
                    ? find_step_id(g, id->u.s->s, id->u.s->len) : -1;
      if (cur < 0)
        continue;
      if (prev >= 0)
        count_step(g, c, prev, cur, pbr);
      prev = cur;
      pbr = member(st->u.a->items[i], "branch");
    }
    if (prev >= 0)
      count_step(g, c, prev, -1, NULL);
    else if (!c->foreign++)
      c->first_foreign = c->line;
    return;
  }
  if (p && p->tag == GV_STR) {
    const char *s = p->u.s->s, *end = s + p->u.s->len;
    int prev = -1;
    while (s < end) {
      const char *q = strstr(s, " -> ");
      size_t n = q ? (size_t)(q - s) : (size_t)(end - s);
      int cur = find_step_id(g, s, n);
      if (cur >= 0 && prev >= 0)
        count_step(g, c, prev, cur, NULL);
      if (cur >= 0)
        prev = cur;
      s += n + (q ? 4 : 0);
    }
    if (prev >= 0)
      c->ends[prev]++;
    else if (!c->foreign++)
      c->first_foreign = c->line;
    return;
  }
  code = gavel__obj_get(v.u.o, "code", 4);
  if (code && code->tag == GV_STR) {
    int i;
    for (i = 0; i < g->n_steps; i++)
      if (g->steps[i].type == ST_TERMINAL &&
          gavel__str_eq(g->steps[i].code, code->u.s)) {
        c->ends[i]++;
        return;
      }
  }
  if (!c->no_terminal++)
    c->first_no_terminal = c->line;
}

/* One warning line on stderr for the lines --counts could not use. */
static void warn_counts(const counts *c, const char *path) {
  char buf[512];
  size_t n = 0;
  if (c->not_result)
    n += (size_t)snprintf(buf + n, sizeof buf - n,
                          "; %ld line%s not a result (no \"code\", "
                          "\"error\" or \"trace\"; first at line %ld)",
                          c->not_result,
                          c->not_result == 1 ? " is" : "s are",
                          c->first_not_result);
  if (c->foreign && n < sizeof buf)
    n += (size_t)snprintf(buf + n, sizeof buf - n,
                          "; %ld trace%s no step of this ruleset (first at "
                          "line %ld: another ruleset's results?)", c->foreign,
                          c->foreign == 1 ? " names" : "s name",
                          c->first_foreign);
  if (c->no_terminal && n < sizeof buf)
    n += (size_t)snprintf(buf + n, sizeof buf - n,
                          "; %ld result%s without a trace ha%s a code no "
                          "terminal of this ruleset returns (first at line "
                          "%ld), counted at no terminal", c->no_terminal,
                          c->no_terminal == 1 ? "" : "s",
                          c->no_terminal == 1 ? "s" : "ve",
                          c->first_no_terminal);
  if (n)
    fprintf(stderr, "warning: counts: '%s': %ld result%s counted%s\n", path,
            c->runs - c->foreign - c->no_terminal,
            c->runs - c->foreign - c->no_terminal == 1 ? "" : "s", buf);
}

/* Lines over the input limit cannot be results batch wrote: skipped,
** never buffered. */
static int read_counts(const gv_graph *g, counts *c, const char *path,
                       size_t max) {
  FILE *f = fopen(path, "r");
  cli_lines r;
  const char *line;
  size_t n;
  int st;
  gv_arena a;
  if (!f) {
    fprintf(stderr, "error: io: cannot open '%s': %s\n", path, strerror(errno));
    return 1;
  }
  gavel__arena_init(&a, &gavel__default_alloc, 0);
  cli_lines_init(&r, f, max);
  while ((st = cli_lines_next(&r, &line, &n)) > 0) {
    c->line++;
    if (st == CLI_LINE_OK && n > 0)
      count_line(g, c, &a, line, n);
    else if (st == CLI_LINE_LONG && !c->not_result++)
      c->first_not_result = c->line;
    gavel__arena_reset(&a);
  }
  if (st == CLI_LINE_ERR)
    fprintf(stderr, "error: io: cannot read '%s': %s\n", path,
            strerror(r.err));
  else
    warn_counts(c, path);
  cli_lines_free(&r);
  gavel__arena_free(&a);
  fclose(f);
  return st == CLI_LINE_ERR;
}

/* count: the runs that took the edge, or -1 (no --counts / a sub-rule). */
static void edge(FILE *o, const gv_graph *g, int gi, int from, int to,
                 const char *label, long count) {
  dot_id(o, g, gi, from);
  fputs(" -> ", o);
  dot_id(o, g, gi, to);
  fputs(" [label=\"", o);
  dot_str(o, label);
  if (count >= 0)
    fprintf(o, "\\n(%ld)", count);
  fputs("\"];\n", o);
}

/* The condition of branch 'b' of step 'key' in the ruleset document
** (graph gi: 0 main, else the sub-rule g->name), or NULL. */
static gvalue *doc_cond(gvalue doc, int gi, const gv_graph *g,
                        const gv_str *key, int b) {
  gvalue *steps = NULL, *st, *brs;
  if (gi == 0)
    steps = member(doc, "steps");
  else {
    gvalue *subs = member(doc, "sub_rules"), *sr;
    sr = subs && subs->tag == GV_OBJ
             ? gavel__obj_get(subs->u.o, g->name->s, g->name->len) : NULL;
    steps = sr ? member(*sr, "steps") : NULL;
  }
  st = steps && steps->tag == GV_OBJ
           ? gavel__obj_get(steps->u.o, key->s, key->len) : NULL;
  brs = st ? member(*st, "branches") : NULL;
  if (!brs || brs->tag != GV_ARR || b >= (int)brs->u.a->len)
    return NULL;
  return member(brs->u.a->items[b], "condition");
}

static void graph_dot(FILE *o, const gavel_ruleset *rs, gvalue doc, int gi,
                      const counts *c) {
  const gv_graph *g = &rs->graphs[gi];
  int i, b;
  if (gi > 0)
    fprintf(o, "  subgraph \"cluster_%s\" {\n  label=\"sub_rule %s\";\n",
            g->name->s, g->name->s);
  for (i = 0; i < g->n_steps; i++) {
    const gv_step *s = &g->steps[i];
    static const char *const shape[] = {"diamond", "box", "doubleoctagon",
                                        "component"};
    dot_id(o, g, gi, i);
    fprintf(o, " [shape=%s, label=\"", shape[s->type]);
    dot_str(o, s->id->s);
    if (s->type == ST_TERMINAL) {
      fputs("\\n", o);
      dot_str(o, s->code->s);
      if (c && gi == 0)
        fprintf(o, "\\n%ld run%s", c->ends[i], c->ends[i] == 1 ? "" : "s");
    }
    fprintf(o, "\"%s];\n", i == g->entry ? ", penwidth=2" : "");
  }
  for (i = 0; i < g->n_steps; i++) {
    const gv_step *s = &g->steps[i];
    int counted = c && gi == 0;
    for (b = 0; b < s->n_branches; b++) {
      char cut[LABEL_CHARS * 4 + 8], lbl[sizeof cut + 16];
      const gv_program *p = s->branches[b].cond;
      gvalue *dc;
      if (p && p->src)
        cut_label(cut, sizeof cut, p->src->s, p->src->len);
      else if (p && (dc = doc_cond(doc, gi, g, s->key, b))) {
        gv_buf t;
        gavel__buf_init(&t, &gavel__default_alloc);
        ast_text(&t, *dc, 0);
        cut_label(cut, sizeof cut, t.oom || !t.p ? "condition" : t.p,
                  t.oom || !t.p ? 9 : t.len);
        gavel__buf_free(&t);
      } else
        snprintf(cut, sizeof cut, "%s", p ? "condition" : "always");
      snprintf(lbl, sizeof lbl, "#%d %s", b + 1, cut);
      if (s->branches[b].next >= 0)
        edge(o, g, gi, i, s->branches[b].next, lbl,
             counted ? c->br[c->br_at[i] + b] : -1);
    }
    if (s->type == ST_DECISION && s->default_next >= 0) {
      char lbl[32];
      snprintf(lbl, sizeof lbl, "#%d default", s->n_branches + 1);
      edge(o, g, gi, i, s->default_next, lbl,
           counted ? c->br[c->br_at[i] + s->n_branches] : -1);
    }
    if ((s->type == ST_ACTION || s->type == ST_SUBRULE) && s->next >= 0)
      edge(o, g, gi, i, s->next, s->type == ST_SUBRULE ? "after sub_rule" : "",
           counted ? c->edge[i * c->n + s->next] : -1);
    if (s->type == ST_SUBRULE && s->sub > 0) {
      dot_id(o, g, gi, i);
      fputs(" -> ", o);
      dot_id(o, &rs->graphs[s->sub], s->sub, rs->graphs[s->sub].entry);
      fputs(" [style=dashed, label=\"calls\"];\n", o);
    }
  }
  if (gi > 0)
    fputs("  }\n", o);
}

int cmd_graph(int argc, char **argv) {
  cli_env env;
  const char *file = NULL, *countfile = NULL;
  gavel_ruleset *rs = NULL;
  gavel_load_opts lo;
  counts c;
  gv_arena da; /* the document, for AST-object conditions */
  gvalue doc;
  int i, rc = 1, opts = 1;
  doc.tag = GV_NULL;
  gavel__arena_init(&da, &gavel__default_alloc, 0);
  memset(&env, 0, sizeof env);
  memset(&c, 0, sizeof c);
  for (i = 1; i < argc; i++) {
    if (opts && !strcmp(argv[i], "--"))
      opts = 0;
    else if (opts && !strcmp(argv[i], "--max-input-bytes")) {
      if (cli_limit_option(&env.cfg, argc, argv, &i) < 0)
        return 2;
    } else if (opts && !strcmp(argv[i], "--counts") && i + 1 < argc)
      countfile = argv[++i];
    else if ((opts && argv[i][0] == '-') || file) {
      fprintf(stderr, "error: usage: gavel graph RULESET.json [--counts F.jsonl]\n");
      return 2;
    } else
      file = argv[i];
  }
  if (!file) {
    fprintf(stderr, "error: usage: gavel graph RULESET.json [--counts F.jsonl]\n");
    return 2;
  }
  if (cli_env_start(&env) != 0)
    goto done;
  {
    char *text, msg[1024];
    size_t len;
    gavel_error err;
    if (!(text = cli_read_file(file, cli_input_limit(env.rt), &len, msg,
                               sizeof msg))) {
      fprintf(stderr, "error: %s: %s\n", strncmp(msg, "Limit", 5) ? "io" : "limit",
              msg);
      goto done;
    }
    memset(&lo, 0, sizeof lo);
    lo.no_capability_check = 1; /* drawing needs no providers */
    if (gavel_ruleset_load(env.rt, text, len, &lo, &rs, &err) != GAVEL_OK) {
      fprintf(stderr, "error: load: %s\n", err.msg);
      free(text);
      goto done;
    }
    if (gavel__json_parse(&da, text, len, NULL, &doc, &err) != GAVEL_OK)
      doc.tag = GV_NULL; /* loaded, so valid: only out of memory */
    free(text);
  }
  if (countfile) {
    c.n = rs->graphs[0].n_steps;
    c.edge = calloc((size_t)c.n * (size_t)c.n + 1, sizeof(long));
    c.ends = calloc((size_t)c.n + 1, sizeof(long));
    c.br_at = calloc((size_t)c.n + 1, sizeof(int));
    if (c.br_at) {
      int nb = 0;
      for (i = 0; i < c.n; i++) {
        c.br_at[i] = nb;
        nb += rs->graphs[0].steps[i].n_branches + 1;
      }
      c.br = calloc((size_t)nb + 1, sizeof(long));
    }
    if (!c.edge || !c.ends || !c.br_at || !c.br || read_counts(&rs->graphs[0], &c, countfile,
                                             cli_input_limit(env.rt)))
      goto done;
  }
  printf("digraph \"");
  dot_str(stdout, gavel_ruleset_name(rs));
  printf("\" {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n"
         "  edge [fontname=\"Helvetica\", fontsize=11];\n");
  if (countfile)
    printf("  label=\"%ld runs, %ld errors\";\n", c.runs, c.errors);
  for (i = 0; i < rs->n_graphs; i++)
    graph_dot(stdout, rs, doc, i, countfile ? &c : NULL);
  printf("}\n");
  rc = 0;
done:
  free(c.edge);
  free(c.ends);
  free(c.br);
  free(c.br_at);
  gavel__arena_free(&da);
  gavel_ruleset_free(rs);
  if (cli_env_free(&env))
    rc = 1;
  return rc;
}
