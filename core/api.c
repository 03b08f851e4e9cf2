/*
** api.c -- public entry points: argument checks, error reporting, and calls
** into the stages.  No engine logic of its own (lapi.c model).
*/
#include "api_int.h"
#include "bind.h"
#include "runtime.h"
#include "jit.h"
#include <stdio.h>

struct gavel_expr {
  gavel_runtime *rt; /* owning runtime (borrowed)                     */
  gv_arena arena;    /* program, AST, symtab, constants               */
  gv_arena run;      /* per-evaluation values; reset on every eval    */
  gv_arena in;       /* the parsed JSON context of eval_json          */
  gv_symtab st;      /* input slots of this expression                */
  gv_program *prog;  /* compiled program                              */
  gv_jitown *jit;    /* its machine code (NULL: VM only)              */
  gv_proj *proj;     /* projection of the paths it reads              */
  gvalue *slots;     /* slot array (n_inputs)                         */
  gvalue *vars;      /* variables (always unset in a bare expression) */
  gv_buf out;        /* last result / listing text                    */
};

/* ==== Status texts ==== */

unsigned gavel_version(void) { return GAVEL_VERSION_NUM; }
const char *gavel_version_string(void) { return GAVEL_VERSION_STRING; }

const char *gavel_strerror(gavel_status code) {
  switch (code) {
#define X(name, num, text)                                                    \
  case GAVEL_##name:                                                         \
    return text;
    GAVEL_STATUS_MAP(X)
#undef X
  default:
    return "unknown status";
  }
}

const char *gavel_status_name(gavel_status code) {
  switch (code) {
#define X(name, num, text)                                                    \
  case GAVEL_##name:                                                         \
    return "GAVEL_" #name;
    GAVEL_STATUS_MAP(X)
#undef X
  default:
    return "GAVEL_UNKNOWN";
  }
}

/* ==== Runtime ==== */

gavel_status gavel_runtime_new(const gavel_config *cfg, gavel_runtime **out,
                               gavel_error *err) {
  gavel_config c;
  gavel__alloc al;
  gavel_runtime *rt;
  gavel__error_clear(err);
  if (!out)
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_runtime_new: out is NULL");
  *out = NULL;
  memset(&c, 0, sizeof c);
  c.abi = GAVEL_VERSION_NUM;
  if (cfg)
    c = *cfg;
  if ((c.abi >> 16) != GAVEL_VERSION_MAJOR)
    return gavel__errorf(err, GAVEL_MISUSE,
                         "ABI mismatch: caller built for %u.%u, library is %s",
                         c.abi >> 16, (c.abi >> 8) & 0xff,
                         GAVEL_VERSION_STRING);
  al.fn = c.realloc ? c.realloc : gavel__default_alloc.fn;
  al.ud = c.realloc ? c.alloc_ud : NULL;
  if (!c.gas_limit)
    c.gas_limit = GAVEL_DEFAULT_GAS;
  if (!c.max_input_bytes)
    c.max_input_bytes = GAVEL_MAX_INPUT_BYTES;
  /* Host ceilings: 0 = the built-in one; gas stays within int64. */
  if (!c.max_gas)
    c.max_gas = GAVEL_DEFAULT_MAX_GAS;
  if (c.max_gas > INT64_MAX)
    c.max_gas = INT64_MAX;
  if (!c.max_steps)
    c.max_steps = GAVEL_DEFAULT_MAX_STEPS;
  if (!c.max_timeout_ms)
    c.max_timeout_ms = GAVEL_DEFAULT_MAX_TIMEOUT_MS;
  if (!c.max_run_bytes)
    c.max_run_bytes = GAVEL_DEFAULT_MAX_RUN_BYTES;
  if (!c.max_result_bytes)
    c.max_result_bytes = GAVEL_DEFAULT_MAX_RESULT_BYTES;
  if (!c.max_call_bytes)
    c.max_call_bytes = GAVEL_DEFAULT_MAX_CALL_BYTES;
  rt = gavel__malloc(&al, sizeof *rt);
  if (!rt)
    return gavel__errorf(err, GAVEL_NOMEM, "out of memory");
  memset(rt, 0, sizeof *rt);
  rt->al = al;
  rt->cfg = c;
  rt->jit_mode = gavel__jit_mode(c.jit);
  *out = rt;
  return GAVEL_OK;
}

void gavel_runtime_free(gavel_runtime *rt) {
  if (rt) {
    gavel__alloc al = rt->al;
    gavel__host_free(rt);
    gavel__free(&al, rt, sizeof *rt);
  }
}

const gavel__alloc *gavel__runtime_alloc(const gavel_runtime *rt) {
  return &rt->al;
}

const gavel_config *gavel__runtime_config(const gavel_runtime *rt) {
  return &rt->cfg;
}

/* ==== Standalone expressions ==== */

const struct gv_program *gavel__expr_program(const gavel_expr *e) {
  return e->prog;
}

void gavel_expr_free(gavel_expr *e) {
  if (!e)
    return;
  gavel__jit_free(e->jit);
  gavel__buf_free(&e->out);
  gavel__arena_free(&e->run);
  gavel__arena_free(&e->in);
  gavel__arena_free(&e->arena);
  gavel__free(&e->rt->al, e, sizeof *e);
}

gavel_status gavel_expr_compile(gavel_runtime *rt, const char *src,
                                size_t src_len, gavel_expr **out,
                                gavel_error *err) {
  gavel_expr *e;
  gx_node *ast;
  gv_str *text;
  gavel_status rc;
  int ok;
  gv_copts opts = {0, 0};
  gavel__error_clear(err);
  if (!rt || !src || !out)
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_expr_compile: NULL argument");
  *out = NULL;
  e = gavel__malloc(&rt->al, sizeof *e);
  if (!e)
    return gavel__errorf(err, GAVEL_NOMEM, "out of memory");
  memset(e, 0, sizeof *e);
  e->rt = rt;
  gavel__arena_init(&e->arena, &rt->al, 0);
  gavel__arena_init(&e->run, &rt->al, rt->cfg.max_run_bytes);
  gavel__arena_init(&e->in, &rt->al, rt->cfg.max_run_bytes);
  gavel__buf_init(&e->out, &rt->al);
  gavel__symtab_init(&e->st, &e->arena);
  e->jit = gavel__jit_new(rt, 0);
  gavel__jit_attach(e->jit, &e->st);
  if ((rc = gavel__parse_expr(&e->arena, src, src_len, &ast, err)) != GAVEL_OK)
    goto fail;
  text = gavel__str_new(&e->arena, src, src_len);
  if (!text) {
    rc = gavel__errorf(err, GAVEL_NOMEM, "out of memory");
    goto fail;
  }
  rc = gavel__compile(&e->arena, &e->st, ast, text, &opts, &e->prog, err);
  if (rc != GAVEL_OK)
    goto fail;
  e->proj = gavel__bind_projection(&e->arena, &e->st, &ok);
  e->slots = gavel__arena_alloc(&e->arena,
                                (e->st.n_inputs + 1) * sizeof(gvalue));
  e->vars = gavel__arena_alloc(&e->arena, (e->st.n_vars + 1) * sizeof(gvalue));
  if (!ok || !e->slots || !e->vars) {
    rc = gavel__errorf(err, GAVEL_NOMEM, "out of memory");
    goto fail;
  }
  gavel__jit_loaded(e->jit); /* jit=on: compiled now */
  *out = e;
  return GAVEL_OK;
fail:
  gavel_expr_free(e);
  return rc;
}

/* The per-evaluation memory cap was hit (max_run_bytes). */
static gavel_status run_cap(gavel_expr *e, gavel_error *err, const char *what) {
  return gavel__errorf(err, GAVEL_LIMIT,
                       "Limit exceeded: run memory over %zu bytes "
                       "(max_run_bytes)%s",
                       e->rt->cfg.max_run_bytes, what);
}

/* Evaluates 'e' over an already parsed root (which must not live in e->run:
** it is reset here); the result stays valid until the next evaluation. */
gavel_status gavel__expr_eval_value(gavel_expr *e, gvalue root, gvalue *res,
                                    gavel_error *err) {
  const gavel_config *c = &e->rt->cfg;
  gv_rt rt;
  gv_frame f;
  uint32_t i;
  uint64_t gas;
  gavel_status rc;
  int over;
  gavel__arena_reset(&e->run);
  if ((rc = gavel__bind_walk(&e->run, &e->st, root, e->slots)) != GAVEL_OK)
    return e->run.failed == 2 ? run_cap(e, err, "")
                              : gavel__errorf(err, rc,
                                              "out of memory binding input");
  for (i = 0; i < e->st.n_vars; i++)
    e->vars[i] = gv_missing();
  memset(&rt, 0, sizeof rt);
  rt.arena = &e->run;
  gas = c->gas_limit < c->max_gas ? c->gas_limit : c->max_gas;
  rt.gas = (int64_t)gas;
  rt.gas_limit = gas;
  /* A bare expression has no timeout of its own: the host's ceiling. */
  rt.deadline_ns = gavel__now_ns() + (uint64_t)c->max_timeout_ms * 1000000u;
  f.slots = e->slots;
  f.vars = e->vars;
  f.rt = &rt;
  f.err_pos = -1;
  if (gavel__exec(e->prog, &f, res) != 0) {
    gavel_status st = rt.ekind == GV_E_GAS     ? GAVEL_GAS
                      : rt.ekind == GV_E_NOMEM ? GAVEL_NOMEM
                      : rt.ekind == GV_E_LIMIT ? GAVEL_LIMIT
                                               : GAVEL_RUNTIME;
    if ((st == GAVEL_NOMEM || st == GAVEL_LIMIT) && e->run.failed == 2)
      st = run_cap(e, err, "");
    else if (st == GAVEL_GAS)
      gavel__errorf(err, st, "Gas exhausted: budget of %llu units used up%s",
                    (unsigned long long)gas,
                    gas < c->gas_limit ? " (host ceiling max_gas)" : "");
    else
      gavel__errorf(err, st, "%s", rt.emsg);
    if (err && f.err_pos >= 0)
      err->offset = f.err_pos;
    return st;
  }
  /* Checked here so that every host (JSON text, Lua, CLI) gets it. */
  over = gavel__json_over(&e->rt->al, *res, c->max_result_bytes, NULL);
  if (over < 0)
    return gavel__errorf(err, GAVEL_NOMEM, "out of memory");
  if (over)
    return gavel__errorf(err, GAVEL_LIMIT,
                         "Limit exceeded: result larger than %zu bytes "
                         "(max_result_bytes)",
                         c->max_result_bytes);
  return GAVEL_OK;
}

gavel_status gavel_expr_eval_json(gavel_expr *e, const char *ctx,
                                  size_t ctx_len, const char **out,
                                  size_t *out_len, gavel_error *err) {
  gvalue root = gv_null(), res;
  gavel_status rc;
  gavel__error_clear(err);
  if (!e || !out)
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_expr_eval_json: NULL argument");
  gavel__arena_reset(&e->in);
  if (ctx && ctx_len) {
    if (ctx_len > e->rt->cfg.max_input_bytes)
      return gavel__errorf(err, GAVEL_LIMIT,
                           "input too large: %zu bytes (max %zu)", ctx_len,
                           e->rt->cfg.max_input_bytes);
    rc = gavel__json_parse(&e->in, ctx, ctx_len, e->proj, &root, err);
    if (rc != GAVEL_OK && e->in.failed == 2)
      return run_cap(e, err, " parsing the context");
    if (rc != GAVEL_OK)
      return rc;
  }
  if ((rc = gavel__expr_eval_value(e, root, &res, err)) != GAVEL_OK)
    return rc;
  gavel__buf_clear(&e->out);
  rc = gavel__json_write_checked(&e->out, res) == -2 ? GAVEL_RUNTIME : GAVEL_OK;
  if (e->out.oom)
    return gavel__errorf(err, GAVEL_NOMEM, "out of memory writing result");
  if (rc != GAVEL_OK) /* never a silent null: JSON has no inf or NaN */
    return gavel__errorf(err, rc, "Evaluation error: the result holds a "
                         "non-finite float (inf or NaN has no JSON form)");
  *out = e->out.p;
  if (out_len)
    *out_len = e->out.len;
  return GAVEL_OK;
}

gavel_status gavel__expr_disasm_jit(gavel_expr *e, const char **out,
                                    unsigned char **code, size_t *code_len,
                                    gavel_error *err) {
  gavel__error_clear(err);
  if (!e || !out)
    return gavel__errorf(err, GAVEL_MISUSE,
                         "gavel_expr_disasm: NULL argument");
  gavel__buf_clear(&e->out);
  gavel__disasm(&e->out, e->prog);
  gavel__jit_describe(&e->out, e->prog, code, code_len);
  if (e->out.oom)
    return gavel__errorf(err, GAVEL_NOMEM, "out of memory");
  *out = e->out.p;
  return GAVEL_OK;
}

gavel_status gavel_expr_disasm(gavel_expr *e, const char **out,
                               gavel_error *err) {
  gavel__error_clear(err);
  if (!e || !out)
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_expr_disasm: NULL argument");
  gavel__buf_clear(&e->out);
  gavel__disasm(&e->out, e->prog);
  if (e->out.oom)
    return gavel__errorf(err, GAVEL_NOMEM, "out of memory");
  *out = e->out.p;
  return GAVEL_OK;
}
