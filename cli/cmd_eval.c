/*
** cmd_eval.c -- 'gavel eval' (single expression or --jsonl stream) and
** 'gavel disasm'.
*/
#include "api_int.h"
#include "cli.h"
#include "json.h"
#include <stdlib.h>
#include <string.h>

static gavel_runtime *new_runtime(void) {
  gavel_runtime *rt = NULL;
  gavel_error err;
  if (gavel_runtime_new(NULL, &rt, &err) != GAVEL_OK) {
    fprintf(stderr, "error: %s\n", err.msg);
    return NULL;
  }
  return rt;
}

/* Compile errors are parse errors for the user; the parser reports
** GAVEL_COMPILE or GAVEL_LIMIT (length/depth). */
static void print_parse_error(const char *src, size_t len, gavel_error *err) {
  fprintf(stderr, "error: parse: %s\n", err->msg);
  if (err->line > 0)
    cli_caret(stderr, src, len, err->line, err->column);
}

static int eval_one(const char *src, const char *ctx, size_t ctx_len) {
  gavel_runtime *rt = new_runtime();
  gavel_expr *e = NULL;
  gavel_error err;
  const char *out;
  size_t out_len;
  int rc = 1;
  if (!rt)
    return 1;
  if (gavel_expr_compile(rt, src, strlen(src), &e, &err) != GAVEL_OK) {
    print_parse_error(src, strlen(src), &err);
    goto done;
  }
  if (gavel_expr_eval_json(e, ctx, ctx_len, &out, &out_len, &err) != GAVEL_OK) {
    if (err.code == GAVEL_JSON)
      fprintf(stderr, "error: context: %s\n", err.msg);
    else
      fprintf(stderr, "error: eval: %s\n", err.msg);
    goto done;
  }
  fwrite(out, 1, out_len, stdout);
  fputc('\n', stdout);
  rc = 0;
done:
  gavel_expr_free(e);
  gavel_runtime_free(rt);
  return rc;
}

static void jsonl_error(gv_buf *o, const char *kind, const char *msg) {
  gavel__buf_adds(o, "{\"error\":{\"kind\":");
  gavel__json_write_str(o, kind, strlen(kind));
  gavel__buf_adds(o, ",\"message\":");
  gavel__json_write_str(o, msg, strlen(msg));
  gavel__buf_adds(o, "}}\n");
}

/* One {"expr": "...", "ctx": <json>} line -> one output line. */
static void jsonl_line(gavel_runtime *rt, gv_arena *a, const char *line,
                       size_t len, gv_buf *o) {
  gvalue doc, *ex, *ctx, res;
  gavel_error err;
  gavel_expr *e = NULL;
  if (gavel__json_parse(a, line, len, NULL, &doc, &err) != GAVEL_OK) {
    jsonl_error(o, "input", err.msg);
    return;
  }
  if (doc.tag != GV_OBJ || !(ex = gavel__obj_get(doc.u.o, "expr", 4)) ||
      ex->tag != GV_STR) {
    jsonl_error(o, "input", "each line must be an object with a string \"expr\"");
    return;
  }
  ctx = gavel__obj_get(doc.u.o, "ctx", 3);
  if (gavel_expr_compile(rt, ex->u.s->s, ex->u.s->len, &e, &err) != GAVEL_OK) {
    jsonl_error(o, "parse", err.msg);
    return;
  }
  if (gavel__expr_eval_value(e, ctx ? *ctx : gv_null(), &res, &err) !=
      GAVEL_OK) {
    jsonl_error(o, "eval", err.msg);
  } else {
    gavel__buf_adds(o, "{\"value\":");
    gavel__json_write(o, res);
    gavel__buf_adds(o, "}\n");
  }
  gavel_expr_free(e);
}

static int eval_jsonl(void) {
  gavel_runtime *rt = new_runtime();
  gv_arena a;
  gv_buf o;
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  if (!rt)
    return 1;
  gavel__arena_init(&a, gavel__runtime_alloc(rt), 0);
  gavel__buf_init(&o, gavel__runtime_alloc(rt));
  while ((n = getline(&line, &cap, stdin)) >= 0) {
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
      n--;
    if (n == 0)
      continue;
    gavel__buf_clear(&o);
    jsonl_line(rt, &a, line, (size_t)n, &o);
    fwrite(o.p, 1, o.len, stdout);
    gavel__arena_reset(&a);
  }
  free(line);
  gavel__buf_free(&o);
  gavel__arena_free(&a);
  gavel_runtime_free(rt);
  return 0;
}

int cmd_eval(int argc, char **argv) {
  const char *expr = NULL, *ctxarg = NULL;
  char *ctx = NULL;
  size_t ctx_len = 0;
  int i, jsonl = 0, rc;
  for (i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--jsonl"))
      jsonl = 1;
    else if (!strcmp(argv[i], "--context") && i + 1 < argc)
      ctxarg = argv[++i];
    else if (argv[i][0] == '-' && argv[i][1] == '-') {
      fprintf(stderr, "error: usage: unknown option '%s'\n", argv[i]);
      return 2;
    } else if (!expr)
      expr = argv[i];
    else {
      fprintf(stderr, "error: usage: gavel eval EXPR [--context JSON|@file]\n");
      return 2;
    }
  }
  if (jsonl)
    return eval_jsonl();
  if (!expr) {
    fprintf(stderr, "error: usage: gavel eval EXPR [--context JSON|@file]\n");
    return 2;
  }
  if (ctxarg && !(ctx = cli_arg_text(ctxarg, &ctx_len, "context")))
    return 1;
  rc = eval_one(expr, ctx, ctx_len);
  free(ctx);
  return rc;
}

int cmd_disasm(int argc, char **argv) {
  gavel_runtime *rt;
  gavel_expr *e = NULL;
  gavel_error err;
  const char *out;
  int rc = 1;
  if (argc != 2) {
    fprintf(stderr, "error: usage: gavel disasm EXPR\n");
    return 2;
  }
  if (!(rt = new_runtime()))
    return 1;
  if (gavel_expr_compile(rt, argv[1], strlen(argv[1]), &e, &err) != GAVEL_OK)
    print_parse_error(argv[1], strlen(argv[1]), &err);
  else if (gavel_expr_disasm(e, &out, &err) == GAVEL_OK) {
    fputs(out, stdout);
    rc = 0;
  }
  gavel_expr_free(e);
  gavel_runtime_free(rt);
  return rc;
}
