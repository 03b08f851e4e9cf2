/*
** cmd_eval.c -- 'gavel eval' (single expression or --jsonl stream) and
** 'gavel disasm'.
*/
#include "api_int.h"
#include "cli.h"
#include "json.h"
#include <stdlib.h>
#include <string.h>

static gavel_runtime *new_runtime(const gavel_config *cfg) {
  gavel_runtime *rt = NULL;
  gavel_error err;
  if (gavel_runtime_new(cfg, &rt, &err) != GAVEL_OK) {
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

static int eval_one(const gavel_config *cfg, const char *src,
                    const char *ctxarg) {
  gavel_runtime *rt = new_runtime(cfg);
  gavel_expr *e = NULL;
  gavel_error err;
  const char *out;
  char *ctx = NULL;
  size_t out_len, ctx_len = 0;
  int rc = 1;
  if (!rt)
    return 1;
  if (ctxarg &&
      !(ctx = cli_arg_text(ctxarg, cli_input_limit(rt), &ctx_len, "context")))
    goto done;
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
  cli_write(stdout, out, out_len);
  cli_write(stdout, "\n", 1);
  rc = 0;
done:
  free(ctx);
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
    size_t at = o->len;
    int w;
    gavel__buf_adds(o, "{\"value\":");
    w = gavel__json_write_checked(o, res);
    gavel__buf_adds(o, "}\n");
    if (w == -2) { /* as plain eval: JSON has no inf or NaN, never null */
      o->len = at;
      jsonl_error(o, "eval", "Evaluation error: the result holds a "
                             "non-finite float (inf or NaN has no JSON form)");
    }
  }
  gavel_expr_free(e);
}

/* Every input line gets one output line, in its position: a blank line
** or one over the input limit is an "input" error line (as in batch). */
static int eval_jsonl(const gavel_config *cfg) {
  gavel_runtime *rt = new_runtime(cfg);
  gv_arena a;
  gv_buf o;
  cli_lines r;
  const char *line;
  size_t n;
  int st, rc = 0;
  if (!rt)
    return 1;
  gavel__arena_init(&a, gavel__runtime_alloc(rt), 0);
  gavel__buf_init(&o, gavel__runtime_alloc(rt));
  cli_lines_init(&r, stdin, cli_input_limit(rt));
  while ((st = cli_lines_next(&r, &line, &n)) > 0) {
    gavel__buf_clear(&o);
    if (st == CLI_LINE_LONG) {
      char what[96], msg[256];
      snprintf(what, sizeof what, "input line %ld (%zu bytes)", r.lineno, n);
      cli_limit_msg(msg, sizeof msg, what, r.max);
      jsonl_error(&o, "limit", msg);
    } else {
      while (n > 0 && line[n - 1] == '\r')
        n--;
      if (n == 0)
        jsonl_error(&o, "input", "empty input line");
      else
        jsonl_line(rt, &a, line, n, &o);
    }
    if (o.oom) {
      fprintf(stderr, "error: memory: out of memory\n");
      rc = 1;
      break;
    }
    if (cli_write(stdout, o.p, o.len) != 0) {
      rc = 1; /* reported by main */
      break;
    }
    gavel__arena_reset(&a);
  }
  if (st == CLI_LINE_ERR) {
    fprintf(stderr, "error: io: cannot read standard input: %s\n",
            strerror(r.err));
    rc = 1;
  }
  cli_lines_free(&r);
  gavel__buf_free(&o);
  gavel__arena_free(&a);
  gavel_runtime_free(rt);
  return rc;
}

int cmd_eval(int argc, char **argv) {
  const char *expr = NULL, *ctxarg = NULL;
  gavel_config cfg;
  int i, jsonl = 0, opts = 1, k;
  cli_config_init(&cfg);
  for (i = 1; i < argc; i++) {
    if (opts && !strcmp(argv[i], "--"))
      opts = 0; /* the rest are operands: 'gavel eval -- -1' */
    else if (opts && !strcmp(argv[i], "--jsonl"))
      jsonl = 1;
    else if (opts && !strcmp(argv[i], "--context") && i + 1 < argc) {
      if (ctxarg) { /* two contexts: which one was meant? */
        fprintf(stderr, "error: usage: --context given twice\n");
        return 2;
      }
      ctxarg = argv[++i];
    } else if (opts && (k = cli_limit_option(&cfg, argc, argv, &i)) != 0) {
      if (k < 0)
        return 2;
    } else if (opts && argv[i][0] == '-' && argv[i][1] == '-') {
      fprintf(stderr, "error: usage: unknown option '%s'\n", argv[i]);
      return 2;
    } else if (!expr)
      expr = argv[i];
    else {
      fprintf(stderr, "error: usage: gavel eval EXPR [--context JSON|@file]\n");
      return 2;
    }
  }
  if (jsonl && (expr || ctxarg)) {
    /* each line carries its expression and context: an EXPR or a
    ** --context here would be ignored without a word */
    fprintf(stderr, "error: usage: gavel eval --jsonl reads "
                    "{\"expr\": ..., \"ctx\": ...} lines from "
                    "standard input; it takes no EXPR and no --context\n");
    return 2;
  }
  if (jsonl)
    return eval_jsonl(&cfg);
  if (!expr) {
    fprintf(stderr, "error: usage: gavel eval EXPR [--context JSON|@file]\n");
    return 2;
  }
  return eval_one(&cfg, expr, ctxarg);
}

/* 'gavel disasm --jit': an objdump listing of the machine code, when
** objdump is installed (a temporary file; nothing is executed from it). */
static void objdump_listing(const unsigned char *code, size_t n) {
  char path[] = "/tmp/gavel-jit-XXXXXX", cmd[256];
  int fd;
  FILE *f;
  if (system("command -v objdump >/dev/null 2>&1") != 0) {
    printf("; (objdump not installed: no listing)\n");
    return;
  }
  if ((fd = mkstemp(path)) < 0 || !(f = fdopen(fd, "wb")))
    return;
  fwrite(code, 1, n, f);
  fclose(f);
  snprintf(cmd, sizeof cmd,
           "objdump -D -b binary -m i386:x86-64 -M intel --no-show-raw-insn "
           "%s | sed -n '/<.data>:/,$p' | sed 1d",
           path);
  fflush(stdout);
  if (system(cmd) != 0)
    printf("; (objdump failed)\n");
  remove(path);
}

int cmd_disasm(int argc, char **argv) {
  gavel_runtime *rt;
  gavel_expr *e = NULL;
  gavel_error err;
  const char *out;
  int rc = 1, jit = 0;
  if (argc >= 2 && !strcmp(argv[1], "--jit")) { /* 'gavel disasm --jit E' */
    jit = 1;
    argc--;
    argv++;
  }
  if (argc == 3 && !strcmp(argv[1], "--")) { /* 'gavel disasm -- -1' */
    argc--;
    argv++;
  }
  if (argc != 2) {
    fprintf(stderr, "error: usage: gavel disasm [--jit] EXPR\n");
    return 2;
  }
  if (!(rt = new_runtime(NULL)))
    return 1;
  if (gavel_expr_compile(rt, argv[1], strlen(argv[1]), &e, &err) != GAVEL_OK)
    print_parse_error(argv[1], strlen(argv[1]), &err);
  else if (jit) {
    unsigned char *code = NULL;
    size_t n = 0;
    if (gavel__expr_disasm_jit(e, &out, &code, &n, &err) == GAVEL_OK) {
      cli_write(stdout, out, strlen(out));
      if (code && n)
        objdump_listing(code, n);
      rc = 0;
    }
    free(code);
  } else if (gavel_expr_disasm(e, &out, &err) == GAVEL_OK) {
    cli_write(stdout, out, strlen(out));
    rc = 0;
  }
  gavel_expr_free(e);
  gavel_runtime_free(rt);
  return rc;
}
