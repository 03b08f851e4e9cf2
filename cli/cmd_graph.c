/*
** cmd_graph.c -- 'gavel graph RULESET.json [--counts FILE.jsonl]': the
** step graph as Graphviz DOT.  With --counts (a 'gavel batch --trace'
** output file), every edge is labelled with how often the runs took it and
** every terminal with how often it ended a run; without traces in the file,
** terminals are counted by result code.
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

static void dot_str(FILE *o, const char *s) {
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      fputc('\\', o);
    fputc(*s, o);
  }
}

/* counts[g][from][to] flattened: from*n+to; terminal ends at [to*n+to]. */
typedef struct counts {
  long *edge;  /* n*n edge counts of the main graph       */
  long *ends;  /* per step: runs that ended there         */
  int n;       /* steps in the main graph                 */
  long runs;   /* result lines read                       */
  long errors; /* error lines                             */
} counts;

static int find_step_id(const gv_graph *g, const char *id, size_t len) {
  int i;
  for (i = 0; i < g->n_steps; i++)
    if (gavel__str_eqn(g->steps[i].id, id, len))
      return i;
  return -1;
}

static void count_line(const gv_graph *g, counts *c, gv_arena *a,
                       const char *line, size_t len) {
  gvalue v, *t, *p, *code;
  gavel_error e;
  if (gavel__json_parse(a, line, len, NULL, &v, &e) != GAVEL_OK ||
      v.tag != GV_OBJ)
    return;
  c->runs++;
  if (gavel__obj_get(v.u.o, "error", 5)) {
    c->errors++;
    return;
  }
  t = gavel__obj_get(v.u.o, "trace", 5);
  p = t && t->tag == GV_OBJ ? gavel__obj_get(t->u.o, "path", 4) : NULL;
  if (p && p->tag == GV_STR) {
    const char *s = p->u.s->s, *end = s + p->u.s->len;
    int prev = -1;
    while (s < end) {
      const char *q = strstr(s, " -> ");
      size_t n = q ? (size_t)(q - s) : (size_t)(end - s);
      int cur = find_step_id(g, s, n);
      if (cur >= 0 && prev >= 0)
        c->edge[prev * c->n + cur]++;
      if (cur >= 0)
        prev = cur;
      s += n + (q ? 4 : 0);
    }
    if (prev >= 0)
      c->ends[prev]++;
    return;
  }
  code = gavel__obj_get(v.u.o, "code", 4);
  if (code && code->tag == GV_STR) {
    int i;
    for (i = 0; i < g->n_steps; i++)
      if (g->steps[i].type == ST_TERMINAL &&
          gavel__str_eq(g->steps[i].code, code->u.s)) {
        c->ends[i]++;
        break;
      }
  }
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
    if (st == CLI_LINE_OK && n > 0)
      count_line(g, c, &a, line, n);
    gavel__arena_reset(&a);
  }
  if (st == CLI_LINE_ERR)
    fprintf(stderr, "error: io: cannot read '%s': %s\n", path,
            strerror(r.err));
  cli_lines_free(&r);
  gavel__arena_free(&a);
  fclose(f);
  return st == CLI_LINE_ERR;
}

static void edge(FILE *o, const gv_graph *g, int gi, int from, int to,
                 const char *label, const counts *c) {
  dot_id(o, g, gi, from);
  fputs(" -> ", o);
  dot_id(o, g, gi, to);
  fputs(" [label=\"", o);
  dot_str(o, label);
  if (c && gi == 0)
    fprintf(o, "\\n(%ld)", c->edge[from * c->n + to]);
  fputs("\"];\n", o);
}

static void graph_dot(FILE *o, const gavel_ruleset *rs, int gi, const counts *c) {
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
        fprintf(o, "\\n%ld runs", c->ends[i]);
    }
    fprintf(o, "\"%s];\n", i == g->entry ? ", penwidth=2" : "");
  }
  for (i = 0; i < g->n_steps; i++) {
    const gv_step *s = &g->steps[i];
    for (b = 0; b < s->n_branches; b++) {
      char lbl[64];
      const gv_program *p = s->branches[b].cond;
      if (p && p->src)
        snprintf(lbl, sizeof lbl, "%.60s", p->src->s);
      else
        snprintf(lbl, sizeof lbl, "%s", p ? "condition" : "always");
      if (s->branches[b].next >= 0)
        edge(o, g, gi, i, s->branches[b].next, lbl, c);
    }
    if (s->type == ST_DECISION && s->default_next >= 0)
      edge(o, g, gi, i, s->default_next, "default", c);
    if ((s->type == ST_ACTION || s->type == ST_SUBRULE) && s->next >= 0)
      edge(o, g, gi, i, s->next, s->type == ST_SUBRULE ? "after sub_rule" : "", c);
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
  int i, rc = 1, opts = 1;
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
    free(text);
  }
  if (countfile) {
    c.n = rs->graphs[0].n_steps;
    c.edge = calloc((size_t)c.n * (size_t)c.n + 1, sizeof(long));
    c.ends = calloc((size_t)c.n + 1, sizeof(long));
    if (!c.edge || !c.ends || read_counts(&rs->graphs[0], &c, countfile,
                                             cli_input_limit(env.rt)))
      goto done;
  }
  printf("digraph \"");
  dot_str(stdout, gavel_ruleset_name(rs));
  printf("\" {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n");
  if (countfile)
    printf("  label=\"%ld runs, %ld errors\";\n", c.runs, c.errors);
  for (i = 0; i < rs->n_graphs; i++)
    graph_dot(stdout, rs, i, countfile ? &c : NULL);
  printf("}\n");
  rc = 0;
done:
  free(c.edge);
  free(c.ends);
  gavel_ruleset_free(rs);
  if (cli_env_free(&env))
    rc = 1;
  return rc;
}
