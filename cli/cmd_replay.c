/*
** cmd_replay.c -- 'gavel replay CAPTURE.jsonl [RULESET.json | --rules DIR]':
** re-runs captured decisions (providers/capture.c) against the current
** rulesets and lists the ones that flip.
**
** Host calls never reach the network: every capability is served by this
** command through the pending/resume protocol, from the record's receipts
** in order (the next unused receipt of the same capability, operation and
** params).  A call the record has no receipt for (the edited ruleset calls
** something new) makes the record 'needs-host-call', unless its
** capability is --live (then the real provider serves it).
**
** Buckets: consistent, flipped (code/output differ: the first differing
** path), errored (the record succeeded, the replay fails), needs-host-call,
** unknown-ruleset (no ruleset of that name -- with --verify: of that
** content hash), replayed (an input-only record: nothing to compare), and
** malformed lines (a truncated last line, say), reported and skipped.
** --verify: the records must be reproduced byte for byte by the very
** ruleset that made them; any difference is a determinism bug.
*/
#include "cli_replay.h"
#include "gavel_providers.h"
#include "runtime.h"
#include "rules.h"
#include "sched.h"
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { B_CONSISTENT, B_FLIPPED, B_ERRORED, B_NEEDS, B_UNKNOWN, B_REPLAYED,
       B_MALFORMED, B__N };
static const char *const bucket_names[B__N] = {
    "consistent", "flipped", "errored", "needs-host-call", "unknown-ruleset",
    "replayed", "malformed"};

typedef struct rp_rs {
  gavel_ruleset *rs;     /* loaded ruleset (owned by env.lib)       */
  char hash[80];         /* "sha256:<hex>" of its document          */
  gv_buf tests;          /* --write-tests: cases written so far     */
  int n_tests;
} rp_rs;

typedef struct rp {
  cli_env env;
  rp_rs rs[CLI_MAX_LIB];
  int n_rs;
  const char *only;             /* --ruleset NAME                    */
  const char *live[CLI_MAX_GRANTS]; /* --live CAPABILITY             */
  int n_live;
  int verify, json, fail_on_flip;
  const char *write_tests;      /* --write-tests DIR                 */
  int jobs;                     /* --jobs N                          */
  gv_proj fast_members[9];      /* the fast path's record projection */
  gv_proj fast_root;            /* (one ruleset: see replay_fast)     */
  int fast;                     /* replay_fast applies               */
} rp;

/* One worker: its executions and the record it is replaying.  Workers
** take alternate chunks of lines; their reports are printed in order. */
typedef struct rline {
  size_t off, len;  /* the line in 'text'            */
  long no;          /* line number                    */
  int toolong;      /* over the input limit: reported */
} rline;

typedef struct rw {
  rp *r;                        /* shared configuration              */
  gavel_exec **ex;              /* per ruleset, created on first use */
  const gvalue *receipts;       /* the record's receipts, or NULL    */
  char *used;                   /* receipts consumed                 */
  size_t used_cap;              /* its size                          */
  int needs;                    /* a call had no receipt             */
  char *ans, *meta;             /* answer being served (malloc'd)    */
  long counts[B__N];
  gv_buf report;                /* report lines (json: ",{...}")     */
  gv_buf text;                  /* the chunk's lines                 */
  rline *lines;                 /* and where they are                */
  int n_lines, cap_lines;
  gv_buf in;                    /* input text of the record          */
  gv_buf want;                  /* the recorded result as text       */
  gv_arena arena;               /* the record, reset per line        */
  gv_arena scratch;             /* host call params                  */
} rw;

/* ==== Receipts as host answers ==== */

static int receipt_answer(void *ud, const gavel_host_call *hc,
                          const char **payload, size_t *plen,
                          const char **meta, size_t *mlen, char *msg,
                          size_t msz) {
  rw *r = ud;
  uint32_t i, n = r->receipts && r->receipts->tag == GV_ARR
                      ? r->receipts->u.a->len : 0;
  gv_arena *a = &r->scratch;
  gvalue params;
  int have_params;
  gavel__arena_reset(a);
  have_params = gavel__json_parse(a, hc->params, hc->params_len, NULL,
                                  &params, NULL) == GAVEL_OK;
  for (i = 0; i < n; i++) {
    gvalue rc = r->receipts->u.a->items[i];
    const char *cap = NULL, *op = NULL;
    const gvalue *v, *p;
    if (r->used[i])
      continue;
    if ((v = cli_get(rc, "capability")) && v->tag == GV_STR)
      cap = v->u.s->s;
    if ((v = cli_get(rc, "operation")) && v->tag == GV_STR)
      op = v->u.s->s;
    if (!cap || !op || strcmp(cap, hc->capability) ||
        strcmp(op, hc->operation))
      continue;
    p = cli_get(rc, "params");
    if (!have_params || !p || !gavel__value_eq(*p, params))
      continue;
    r->used[i] = 1;
        v = cli_get(rc, "outcome");
    if (!v || v->tag != GV_STR || strcmp(v->u.s->s, "ok")) {
      const gvalue *e = cli_get(rc, "error");
      snprintf(msg, msz, "%s", e && e->tag == GV_STR ? e->u.s->s
                                                     : "host call failed");
      return 1;
    }
    free(r->ans);
    free(r->meta);
    r->meta = NULL;
    if (!(r->ans = cli_json_text(cli_get(rc, "payload") ? *cli_get(rc, "payload")
                                                        : gv_null()))) {
      snprintf(msg, msz, "out of memory");
      return -1;
    }
    v = cli_get(rc, "metadata");
    if (v && v->tag == GV_OBJ && !(r->meta = cli_json_text(*v))) {
      snprintf(msg, msz, "out of memory");
      return -1;
    }
    *payload = r->ans;
    *plen = strlen(r->ans);
    if (r->meta) {
      *meta = r->meta;
      *mlen = strlen(r->meta);
    }
    return 0;
  }
    r->needs = 1;
  snprintf(msg, msz, "needs-host-call: no receipt for %s %s %.*s",
           hc->capability, hc->operation,
           (int)(hc->params_len > 200 ? 200 : hc->params_len), hc->params);
  return -1;
}

/* ==== Report ==== */

static void report_record(rw *w, long line, const gvalue *trace,
                          const char *ruleset, int bucket, const char *path,
                          gvalue was, gvalue now, const char *msg) {
  char *wt = was.tag == GV_MISSING ? NULL : cli_json_text(was);
  char *nt = now.tag == GV_MISSING ? NULL : cli_json_text(now);
  gv_buf *b = &w->report;
  if ((was.tag != GV_MISSING && !wt) || (now.tag != GV_MISSING && !nt))
    b->oom = 1; /* never a record with a value left out: see the caller */
  if (w->r->json) {
    gavel__buf_addf(b, ",{\"line\":%ld,\"trace_id\":", line);
    gavel__json_write(b, trace ? *trace : gv_null());
    gavel__buf_adds(b, ",\"ruleset\":");
    gavel__json_write_str(b, ruleset ? ruleset : "", ruleset ? strlen(ruleset) : 0);
    gavel__buf_addf(b, ",\"bucket\":\"%s\"", bucket_names[bucket]);
    if (path) {
      gavel__buf_adds(b, ",\"path\":");
      gavel__json_write_str(b, path, strlen(path));
      gavel__buf_adds(b, ",\"was\":");
      gavel__buf_adds(b, wt ? wt : "null");
      gavel__buf_adds(b, ",\"now\":");
      gavel__buf_adds(b, nt ? nt : "null");
    }
    if (msg) {
      gavel__buf_adds(b, ",\"message\":");
      gavel__json_write_str(b, msg, strlen(msg));
    }
    gavel__buf_adds(b, "}");
  } else {
    char tr[32] = "";
    if (trace && trace->tag == GV_INT)
      snprintf(tr, sizeof tr, " (trace %lld)", (long long)trace->u.i);
    gavel__buf_addf(b, "line %ld%s: %s %s", line, tr, ruleset ? ruleset : "",
                    bucket_names[bucket]);
    if (path)
      gavel__buf_addf(b, ": %s: was %.200s, now %.200s", path,
                      wt ? wt : "(absent)", nt ? nt : "(absent)");
    if (msg)
      gavel__buf_addf(b, ": %s", msg);
    gavel__buf_adds(b, "\n");
  }
  free(wt);
  free(nt);
}

/* --write-tests: the record as a gavel test case (its first receipt of
** each capability and operation as the host answer). */
static void add_test(rp_rs *t, long line, gvalue rec) {
  gv_buf *b = &t->tests;
  const gvalue *v, *rc = cli_get(rec, "receipts");
  uint32_t i;
  gavel__buf_addf(b, "%s\n  {\"name\":\"line %ld", t->n_tests++ ? "," : "", line);
  if ((v = cli_get(rec, "trace_id")) && v->tag == GV_INT)
    gavel__buf_addf(b, " trace %lld", (long long)v->u.i);
  gavel__buf_adds(b, "\",\"input\":");
  gavel__json_write(b, cli_get(rec, "input") ? *cli_get(rec, "input") : gv_null());
  if (rc && rc->tag == GV_ARR && rc->u.a->len) {
    int first = 1;
    gavel__buf_adds(b, ",\"host\":{");
    /* grouped by capability: {cap: {op: answer}} */
    for (i = 0; i < rc->u.a->len; i++) {
      const char *cap = cli_get(rc->u.a->items[i], "capability") &&
                        cli_get(rc->u.a->items[i], "capability")->tag == GV_STR
                            ? cli_get(rc->u.a->items[i], "capability")->u.s->s
                            : NULL;
      uint32_t j, k;
      int seen = 0;
      if (!cap)
        continue;
      for (j = 0; j < i; j++) {
        const gvalue *c2 = cli_get(rc->u.a->items[j], "capability");
        if (c2 && c2->tag == GV_STR && !strcmp(c2->u.s->s, cap))
          seen = 1;
      }
      if (seen)
        continue;
      gavel__buf_adds(b, first ? "" : ",");
      first = 0;
      gavel__json_write_str(b, cap, strlen(cap));
      gavel__buf_adds(b, ":{");
      for (j = i, k = 0; j < rc->u.a->len; j++) {
        gvalue e = rc->u.a->items[j];
        const gvalue *c2 = cli_get(e, "capability"), *op = cli_get(e, "operation");
        const gvalue *oc = cli_get(e, "outcome");
        uint32_t m;
        int dup = 0;
        if (!c2 || c2->tag != GV_STR || strcmp(c2->u.s->s, cap) || !op ||
            op->tag != GV_STR)
          continue;
        for (m = i; m < j; m++) {
          const gvalue *c3 = cli_get(rc->u.a->items[m], "capability");
          const gvalue *o3 = cli_get(rc->u.a->items[m], "operation");
          if (c3 && c3->tag == GV_STR && !strcmp(c3->u.s->s, cap) && o3 &&
              o3->tag == GV_STR && !strcmp(o3->u.s->s, op->u.s->s))
            dup = 1;
        }
        if (dup)
          continue;
        gavel__buf_adds(b, k++ ? "," : "");
        gavel__json_write(b, *op);
        if (oc && oc->tag == GV_STR && !strcmp(oc->u.s->s, "ok")) {
          gavel__buf_adds(b, ":{\"payload\":");
          gavel__json_write(b, cli_get(e, "payload") ? *cli_get(e, "payload")
                                                     : gv_null());
          gavel__buf_adds(b, ",\"metadata\":");
          gavel__json_write(b, cli_get(e, "metadata") ? *cli_get(e, "metadata")
                                                      : gv_null());
          gavel__buf_adds(b, "}");
        } else {
          gavel__buf_adds(b, ":{\"error\":");
          gavel__json_write(b, cli_get(e, "error") ? *cli_get(e, "error")
                                                   : gv_null());
          gavel__buf_adds(b, "}");
        }
      }
      gavel__buf_adds(b, "}");
    }
    gavel__buf_adds(b, "}");
  }
  gavel__buf_adds(b, ",\"expect\":{");
  if ((v = cli_get(rec, "status")) && v->tag == GV_STR &&
      strcmp(v->u.s->s, "GAVEL_OK")) {
    gavel__buf_adds(b, "\"error\":");
    gavel__json_write(b, cli_get(rec, "message") ? *cli_get(rec, "message")
                                                 : gv_null());
  } else {
    gavel__buf_adds(b, "\"code\":");
    gavel__json_write(b, cli_get(rec, "code") ? *cli_get(rec, "code") : gv_null());
    if ((v = cli_get(rec, "output"))) {
      gavel__buf_adds(b, ",\"output\":");
      gavel__json_write(b, *v);
    }
  }
  gavel__buf_adds(b, "}}");
}

/* ==== One record ==== */

/* ==== The record's input, as text ==== */

/* The end of the JSON string starting at p[i] == '"', or n. */
static size_t skip_str(const char *p, size_t i, size_t n) {
  for (i++; i < n; i++) {
    if (p[i] == '\\')
      i++;
    else if (p[i] == '"')
      return i + 1;
  }
  return n;
}

/* The end of the JSON value starting at p[i] (the record parsed as JSON
** already: only its shape matters here). */
static size_t skip_value(const char *p, size_t i, size_t n) {
  int depth = 0;
  while (i < n) {
    char c = p[i];
    if (c == '"')
      i = skip_str(p, i, n);
    else if (c == '{' || c == '[')
      depth++, i++;
    else if (c == '}' || c == ']') {
      if (--depth < 0)
        return i;
      i++;
      if (depth == 0)
        return i;
    } else if (depth == 0 && (c == ',' || c == ' ' || c == '\t' ||
                              c == '\n' || c == '\r'))
      return i;
    else
      i++;
  }
  return i;
}

/* The text of the top-level member "input" of a record (valid JSON), so
** the engine parses the input once, with its own projection, instead of
** the record parser building it and a writer printing it again. */
static int input_slice(const char *p, size_t n, const char **s, size_t *len) {
  size_t i = 0;
  while (i < n && p[i] != '{')
    i++;
  for (i++; i < n;) {
    size_t k0, k1, v0;
    while (i < n && (p[i] == ' ' || p[i] == ',' || p[i] == '\t' ||
                     p[i] == '\n' || p[i] == '\r'))
      i++;
    if (i >= n || p[i] != '"')
      return 0;
    k0 = i;
    k1 = skip_str(p, i, n);
    i = k1;
    while (i < n && p[i] != ':')
      i++;
    for (i++; i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' ||
                        p[i] == '\r'); i++)
      ;
    v0 = i;
    i = skip_value(p, i, n);
    if (k1 - k0 == 7 && !memcmp(p + k0, "\"input\"", 7)) {
      *s = p + v0;
      *len = i - v0;
      return 1;
    }
  }
  return 0;
}

/* Every member but the input, which is only validated (see above). */
static gv_proj proj_members[] = {
    {.key = "ruleset", .key_len = 7, .whole = 1, .next = &proj_members[1]},
    {.key = "hash", .key_len = 4, .whole = 1, .next = &proj_members[2]},
    {.key = "trace_id", .key_len = 8, .whole = 1, .next = &proj_members[3]},
    {.key = "status", .key_len = 6, .whole = 1, .next = &proj_members[4]},
    {.key = "code", .key_len = 4, .whole = 1, .next = &proj_members[5]},
    {.key = "message", .key_len = 7, .whole = 1, .next = &proj_members[6]},
    {.key = "output", .key_len = 6, .whole = 1, .next = &proj_members[7]},
    {.key = "receipts", .key_len = 8, .whole = 1, .next = &proj_members[8]},
    {.key = "input_redaction", .key_len = 15, .whole = 1, .next = NULL},
};
static const gv_proj proj_record = {.key = "", .child = proj_members,
                                    .n_child = 9};

/* 1 when the result text is the record's {code, message, output} as the
** engine writes it (compact JSON, in that order). */
static int same_text(rw *w, gvalue rec, const char *out, size_t n) {
  const gvalue *c = cli_get(rec, "code"), *m = cli_get(rec, "message");
  const gvalue *o = cli_get(rec, "output");
  gv_buf *b = &w->want;
  if (!c || !m || !o)
    return 0;
  b->len = 0;
  b->oom = 0;
  gavel__buf_adds(b, "{\"code\":");
  gavel__json_write(b, *c);
  gavel__buf_adds(b, ",\"message\":");
  gavel__json_write(b, *m);
  gavel__buf_adds(b, ",\"output\":");
  gavel__json_write(b, *o);
  gavel__buf_adds(b, "}");
  return !b->oom && b->len == n && !memcmp(b->p, out, n);
}

/* Clears the receipts-consumed flags for the record in w->receipts
** (grown as needed, never shrunk).  1 when out of memory. */
static int used_reset(rw *w) {
  size_t need = (w->receipts && w->receipts->tag == GV_ARR
                     ? w->receipts->u.a->len : 0) + 1;
  if (need > w->used_cap) {
    char *u = realloc(w->used, need);
    if (!u)
      return 1;
    w->used = u;
    w->used_cap = need;
  }
  memset(w->used, 0, need);
  return 0;
}

/* The fast path of a record with one ruleset loaded (no --write-tests):
** the record is parsed once, into the execution's arena, its input with
** the ruleset's own projection (as gavel_exec_run_json would parse it),
** the run starts from that value, and a consistent record is recognised
** by comparing the result's values with the record's, without writing
** the result as text.  Anything else -- a record that does not parse,
** another ruleset, a failed or input-only record, a replay that fails or
** differs -- returns 0 and goes the general way (replay_line), which
** classifies and reports it.  1: handled (counted). */
static int replay_fast(rw *w, const char *p, size_t n) {
  rp *r = w->r;
  rp_rs *t = &r->rs[0];
  gavel_exec **ex = &w->ex[0];
  gv_arena *a;
  gvalue rec, res, in;
  const gvalue *v, *code, *msg, *out;
  gavel_error err;
  gavel_status st;
  int k;
  if (!*ex && gavel_exec_new(t->rs, ex, &err) != GAVEL_OK)
    return 0;
  a = gavel__exec_prepare(*ex);
  if (gavel__json_parse(a, p, n, &r->fast_root, &rec, &err) != GAVEL_OK ||
      rec.tag != GV_OBJ)
    return 0;
  v = cli_get(rec, r->verify ? "hash" : "ruleset");
  if (!v || v->tag != GV_STR ||
      strcmp(v->u.s->s, r->verify ? t->hash : gavel_ruleset_name(t->rs)))
    return 0; /* --ruleset NAME and the unknown: replay_line decides */
  v = cli_get(rec, "status");
  code = cli_get(rec, "code");
  msg = cli_get(rec, "message");
  out = cli_get(rec, "output");
  if (!v || v->tag != GV_STR || strcmp(v->u.s->s, "GAVEL_OK") || !code ||
      !msg || !out)
    return 0;
  in = cli_get(rec, "input") ? *cli_get(rec, "input") : gv_null();
  if (in.tag == GV_NULL)
    return 0; /* perhaps withheld ("input_redaction"): replay_line sees */
  w->receipts = cli_get(rec, "receipts");
  w->needs = 0;
  if (used_reset(w))
    return 0;
  st = gavel__exec_run_value(*ex, in, 0, &err);
  while (st == GAVEL_PENDING) {
    gavel_host_call hc;
    const char *payload = NULL, *meta = NULL, *o;
    size_t plen = 0, mlen = 0, olen;
    char m[GAVEL_ERRMSG_SIZE];
    if ((st = gavel_exec_pending(*ex, &hc, &err)) != GAVEL_OK)
      break;
    m[0] = 0;
    k = receipt_answer(w, &hc, &payload, &plen, &meta, &mlen, m, sizeof m);
    if (k < 0) {
      gavel_exec_abandon(*ex);
      return 0;
    }
    st = k == 0 ? gavel_exec_resume_json(*ex, payload, plen, meta, mlen, &o,
                                         &olen, &err)
                : gavel_exec_resume_error(*ex, m, &o, &olen, &err);
  }
  if (st != GAVEL_OK)
    return 0;
  res = gavel__exec_result(*ex);
  if (res.tag != GV_OBJ || !cli_get(res, "code") || !cli_get(res, "message") ||
      !cli_get(res, "output") ||
      gavel__value_eq(*code, *cli_get(res, "code")) != 1 ||
      gavel__value_eq(*msg, *cli_get(res, "message")) != 1 ||
      gavel__value_eq(*out, *cli_get(res, "output")) != 1)
    return 0;
  if (r->verify) {
    /* byte for byte: the same text, not just equal values */
    gv_buf *b = &w->want;
    size_t half;
    b->len = 0;
    b->oom = 0;
    gavel__json_write(b, *out);
    half = b->len;
    gavel__json_write(b, *cli_get(res, "output"));
    if (b->oom || b->len != 2 * half ||
        memcmp(b->p, b->p + half, half))
      return 0;
  }
  w->counts[B_CONSISTENT]++;
  return 1;
}

static void replay_line(rw *w, long line, const char *p, size_t n) {
  rp *r = w->r;
  gv_arena *ap = &w->arena;
  gvalue rec, res, ea, aa;
  const gvalue *v, *trace;
  const char *name, *out = NULL;
  size_t out_len = 0;
  gavel_error err;
  gavel_status st;
  rp_rs *t = NULL;
  char path[512], msg[600];
  int i, ok_before, input_only;
  gavel__arena_reset(ap);
  if (gavel__json_parse(ap, p, n, r->write_tests ? NULL : &proj_record, &rec,
                        &err) != GAVEL_OK ||
      rec.tag != GV_OBJ) {
    snprintf(msg, sizeof msg, "not a capture record (%s)",
             rec.tag != GV_OBJ && err.code == GAVEL_OK ? "not an object"
                                                       : err.msg);
    w->counts[B_MALFORMED]++;
    report_record(w, line, NULL, NULL, B_MALFORMED, NULL, gv_missing(),
                  gv_missing(), msg);
    return;
  }
  trace = cli_get(rec, "trace_id");
  v = cli_get(rec, "ruleset");
  name = v && v->tag == GV_STR ? v->u.s->s : NULL;
  if (r->only && (!name || strcmp(name, r->only))) {
    return;
  }
  for (i = 0; i < r->n_rs && !t; i++) {
    if (r->verify) {
      v = cli_get(rec, "hash");
      if (v && v->tag == GV_STR && !strcmp(v->u.s->s, r->rs[i].hash))
        t = &r->rs[i];
    } else if (name && !strcmp(name, gavel_ruleset_name(r->rs[i].rs)))
      t = &r->rs[i];
  }
  /* one ruleset named on the command line with --ruleset: it replays
  ** every record of that name, even when the edit renamed it */
  if (!t && r->only && r->n_rs == 1 && !r->verify)
    t = &r->rs[0];
  if (!t) {
    snprintf(msg, sizeof msg, r->verify ? "no ruleset with the record's "
                                          "content hash"
                                        : "no ruleset of that name");
    w->counts[B_UNKNOWN]++;
    report_record(w, line, trace, name, B_UNKNOWN, NULL, gv_missing(),
                  gv_missing(), msg);
    return;
  }
  v = cli_get(rec, "input_redaction");
  if (v && v->tag == GV_STR) {
    /* a capture that could not redact the input wrote none: nothing to
    ** replay (never a flip or a determinism bug) */
    snprintf(msg, sizeof msg, "input withheld: redaction %.500s", v->u.s->s);
    w->counts[B_MALFORMED]++;
    report_record(w, line, trace, name, B_MALFORMED, NULL, gv_missing(),
                  gv_missing(), msg);
    return;
  }
  v = cli_get(rec, "input");
  {
    gavel_exec **ex = &w->ex[t - r->rs];
    const char *in_p;
    size_t in_n;
    w->in.len = 0;
    w->in.oom = 0;
    if (input_slice(p, n, &in_p, &in_n))
      gavel__buf_add(&w->in, in_p, in_n);
    else
      gavel__buf_adds(&w->in, "null");
    w->receipts = cli_get(rec, "receipts");
    w->needs = 0;
    if (w->in.oom || used_reset(w) ||
        (!*ex && gavel_exec_new(t->rs, ex, &err) != GAVEL_OK)) {
      w->counts[B_ERRORED]++;
      report_record(w, line, trace, name, B_ERRORED, NULL, gv_missing(),
                    gv_missing(), "out of memory");
      return;
    }
    st = cli_run_answered(*ex, w->in.p, w->in.len, 0, receipt_answer, w,
                          &out, &out_len, &err);
  }
  if (r->write_tests)
    add_test(t, line, rec);
  v = cli_get(rec, "status");
  input_only = !v && !cli_get(rec, "code");
  ok_before = !v || (v->tag == GV_STR && !strcmp(v->u.s->s, "GAVEL_OK"));
  if (input_only) {
    w->counts[B_REPLAYED]++;
  } else if (st != GAVEL_OK) {
    const gvalue *m = cli_get(rec, "message");
    if (w->needs) {
      w->counts[B_NEEDS]++;
      report_record(w, line, trace, name, B_NEEDS, NULL, gv_missing(),
                    gv_missing(), err.msg);
    } else if (!ok_before && m && m->tag == GV_STR &&
               !strcmp(m->u.s->s, err.msg)) {
      w->counts[B_CONSISTENT]++;
    } else if (!ok_before) {
      gv_str *now = gavel__str_cstr(ap, err.msg);
      w->counts[B_FLIPPED]++;
      report_record(w, line, trace, name, B_FLIPPED, "message",
                    m ? *m : gv_missing(), now ? gv_strv(now) : gv_missing(),
                    NULL);
    } else {
      w->counts[B_ERRORED]++;
      report_record(w, line, trace, name, B_ERRORED, NULL, gv_missing(),
                    gv_missing(), err.msg);
    }
  } else if (ok_before && same_text(w, rec, out, out_len)) {
    w->counts[B_CONSISTENT]++; /* the common case: no parse, no diff */
  } else if (gavel__json_parse(ap, out, out_len, NULL, &res, NULL) !=
             GAVEL_OK) {
    w->counts[B_ERRORED]++;
    report_record(w, line, trace, name, B_ERRORED, NULL, gv_missing(),
                  gv_missing(), "the result is not JSON");
  } else if (!ok_before) {
    const gvalue *c = cli_get(res, "code");
    w->counts[B_FLIPPED]++;
    report_record(w, line, trace, name, B_FLIPPED, "code",
                  cli_get(rec, "message") ? *cli_get(rec, "message")
                                          : gv_missing(),
                  c ? *c : gv_missing(), "the record failed; the replay succeeds");
  } else {
    const gvalue *wc = cli_get(rec, "code"), *nc = cli_get(res, "code");
    const gvalue *wo = cli_get(rec, "output"), *no = cli_get(res, "output");
    int flip = cli_diff(wc ? *wc : gv_missing(), nc ? *nc : gv_missing(), 0,
                        "code", path, sizeof path, &ea, &aa) ||
               (wo && cli_diff(*wo, no ? *no : gv_missing(), 0, "output", path,
                               sizeof path, &ea, &aa));
    if (!flip && r->verify && wo) {
      /* byte for byte: the same text, not just equal values */
      char *x = cli_json_text(*wo), *y = cli_json_text(no ? *no : gv_null());
      if (!x || !y)
        w->report.oom = 1; /* not compared: an error, never "consistent" */
      else if (strcmp(x, y)) {
        flip = 1;
        snprintf(path, sizeof path, "output (bytes)");
        ea = *wo;
        aa = no ? *no : gv_null();
      }
      free(x);
      free(y);
    }
    if (!flip) {
      const gvalue *wm = cli_get(rec, "message"), *nm = cli_get(res, "message");
      if (wm && cli_diff(*wm, nm ? *nm : gv_missing(), 0, "message", path,
                         sizeof path, &ea, &aa))
        flip = 1;
    }
    if (flip) {
      w->counts[B_FLIPPED]++;
      report_record(w, line, trace, name, B_FLIPPED, path, ea, aa,
                    r->verify ? "determinism bug: the same ruleset decided "
                                "differently" : NULL);
    } else
      w->counts[B_CONSISTENT]++;
  }
}

/* ==== Command ==== */

#define RP_MAX_JOBS 64
#define RP_CHUNK 2048 /* lines per worker per round                  */
#define RP_CHUNK_BYTES (4u << 20) /* ... or fewer, once they hold this
                                  ** much text (lines may be 64 MiB each:
                                  ** 2048 of them would not fit memory) */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* On a terminal: how far through the capture file, as gavel batch shows. */
static void progress(cli_lines *rd, double size, long records, double t0) {
  double el = now_s() - t0, rate = el > 0 ? (double)records / el : 0;
  double done = size > 0 ? (double)lseek(rd->fd, 0, SEEK_CUR) / size : 0;
  char bar[31];
  int k;
  for (k = 0; k < 30; k++)
    bar[k] = k < (int)(done * 30) ? '#' : '.';
  bar[30] = 0;
  if (size > 0 && done > 0)
    fprintf(stderr, "\r[%s] %3.0f%%  %ld records  %.0f records/s  ETA %.0fs ",
            bar, 100 * done, records, rate, el * (1 / done - 1));
  else
    fprintf(stderr, "\r%ld records  %.0f records/s ", records, rate);
}

static void *worker(void *arg) {
  rw *w = arg;
  int i;
  for (i = 0; i < w->n_lines; i++) {
    rline *l = &w->lines[i];
    if (l->toolong) {
      char what[96], msg[256];
      snprintf(what, sizeof what, "capture line %ld (%zu bytes)", l->no,
               l->len);
      cli_limit_msg(msg, sizeof msg, what, cli_input_limit(w->r->env.rt));
      w->counts[B_MALFORMED]++;
      report_record(w, l->no, NULL, NULL, B_MALFORMED, NULL, gv_missing(),
                    gv_missing(), msg);
    } else if (!w->r->fast || !replay_fast(w, w->text.p + l->off, l->len))
      replay_line(w, l->no, w->text.p + l->off, l->len);
  }
  return NULL;
}

static int load_one(rp *r, const char *file) {
  gavel_ruleset *rs;
  char *text, msg[1024];
  size_t len;
  if (r->n_rs == CLI_MAX_LIB || r->env.n_lib == CLI_MAX_LIB) {
    fprintf(stderr, "error: limit: more than %d rulesets\n", CLI_MAX_LIB);
    return 1;
  }
  if (!(rs = cli_load_ruleset(&r->env, file, 0)))
    return 1;
  r->env.lib[r->env.n_lib++] = rs; /* freed with the environment */
  memset(&r->rs[r->n_rs], 0, sizeof r->rs[0]);
  r->rs[r->n_rs].rs = rs;
  gavel__buf_init(&r->rs[r->n_rs].tests, &gavel__default_alloc);
  /* the content hash, as the capture computed it */
  if ((text = cli_read_file(file, cli_input_limit(r->env.rt), &len, msg,
                            sizeof msg))) {
    gavel_capture_hash(text, len, r->rs[r->n_rs].hash);
    free(text);
  }
  r->n_rs++;
  return 0;
}

static const char replay_usage[] =
    "error: usage: gavel replay CAPTURE.jsonl [RULESET.json | --rules DIR] "
    "[--ruleset NAME]\n"
    "       [--verify] [--json] [--fail-on-flip] [--live CAPABILITY] "
    "[--write-tests DIR] [--jobs N]\n";

int cmd_replay(int argc, char **argv) {
  rp *r = calloc(1, sizeof *r);
  const char *capfile = NULL, *rules_file = NULL, *rules_dir = NULL;
  int i, k, rc = 1, opts = 1, eof, any_report = 0, tty, shown = 0;
  double t0, last, size = 0;
  long counts[B__N] = {0};
  FILE *in = NULL;
  cli_lines rd;
  rw *w = NULL;
  memset(&rd, 0, sizeof rd);
  if (!r)
    return 1;
  r->jobs = (int)sysconf(_SC_NPROCESSORS_ONLN);
  for (i = 1; i < argc; i++) {
    if (opts && (k = cli_env_init(&r->env, argc, argv, &i)) != 0) {
      if (k < 0) {
        rc = 2;
        goto out;
      }
      continue;
    }
    if (opts && !strcmp(argv[i], "--"))
      opts = 0;
    else if (opts && !strcmp(argv[i], "--rules") && i + 1 < argc)
      rules_dir = argv[++i];
    else if (opts && !strcmp(argv[i], "--ruleset") && i + 1 < argc)
      r->only = argv[++i];
    else if (opts && !strcmp(argv[i], "--live") && i + 1 < argc) {
      if (r->n_live < CLI_MAX_GRANTS)
        r->live[r->n_live++] = argv[++i];
    } else if (opts && !strcmp(argv[i], "--write-tests") && i + 1 < argc)
      r->write_tests = argv[++i];
    else if (opts && !strcmp(argv[i], "--jobs") && i + 1 < argc)
      r->jobs = atoi(argv[++i]);
    else if (opts && !strcmp(argv[i], "--verify"))
      r->verify = 1;
    else if (opts && !strcmp(argv[i], "--json"))
      r->json = 1;
    else if (opts && !strcmp(argv[i], "--fail-on-flip"))
      r->fail_on_flip = 1;
    else if (opts && argv[i][0] == '-' && argv[i][1]) {
      fputs(replay_usage, stderr);
      rc = 2;
      goto out;
    } else if (!capfile)
      capfile = argv[i];
    else if (!rules_file)
      rules_file = argv[i];
    else {
      fputs(replay_usage, stderr);
      rc = 2;
      goto out;
    }
  }
  if (!capfile || (!rules_file == !rules_dir)) {
    fputs(replay_usage, stderr);
    rc = 2;
    goto out;
  }
  if (r->jobs < 1)
    r->jobs = 1;
  if (r->jobs > RP_MAX_JOBS)
    r->jobs = RP_MAX_JOBS;
  if (cli_env_start(&r->env) != 0)
    goto out;
  /* Every capability is answered from receipts (pending/resume), and
  ** granted: the capture's host granted what the rulesets used. */
  for (k = 0; k < r->env.rt->n_providers; k++) {
    const char *cap = r->env.rt->providers[k].name;
    gavel_error e;
    int live = 0, j;
    for (j = 0; j < r->n_live; j++)
      live |= !strcmp(r->live[j], cap);
    if (!live &&
        gavel_runtime_provide(r->env.rt, cap, NULL, NULL, &e) != GAVEL_OK) {
      fprintf(stderr, "error: %s\n", e.msg);
      goto out;
    }
    for (j = 0; j < r->env.n_grants; j++)
      if (!strcmp(r->env.grants[j], cap))
        break;
    if (j == r->env.n_grants && r->env.n_grants < CLI_MAX_GRANTS)
      r->env.grants[r->env.n_grants++] = cap;
  }
  if (rules_file) {
    if (load_one(r, rules_file))
      goto out;
  } else {
    DIR *d = opendir(rules_dir);
    struct dirent *de;
    if (!d) {
      fprintf(stderr, "error: io: cannot open rules directory '%s': %s\n",
              rules_dir, strerror(errno));
      goto out;
    }
    while ((de = readdir(d))) {
      size_t n = strlen(de->d_name);
      char path[4096];
      if (de->d_name[0] == '.' || n < 6 || strcmp(de->d_name + n - 5, ".json"))
        continue;
      snprintf(path, sizeof path, "%s/%s", rules_dir, de->d_name);
      if (load_one(r, path)) {
        closedir(d);
        goto out;
      }
    }
    closedir(d);
  }
  if (!strcmp(capfile, "-"))
    in = stdin;
  else if (!(in = fopen(capfile, "rb"))) {
    fprintf(stderr, "error: io: cannot open '%s': %s\n", capfile,
            strerror(errno));
    goto out;
  }
  if (r->write_tests)
    r->jobs = 1; /* the suite lists cases in capture order */
  if (r->n_rs == 1 && !r->write_tests) {
    /* replay_fast: the members it reads, the input projected as the
    ** ruleset's JSON API projects it */
    static const char *const keys[] = {"ruleset", "hash", "trace_id",
                                       "status", "code", "message",
                                       "output", "receipts", "input"};
    const gv_proj *ip = r->rs[0].rs->graphs[0].proj;
    for (k = 0; k < 9; k++) {
      gv_proj *m = &r->fast_members[k];
      if (k == 8 && ip && !ip->whole)
        *m = *ip; /* read as the ruleset reads it, its indexes too */
      else {
        memset(m, 0, sizeof *m);
        m->whole = 1;
      }
      m->key = keys[k];
      m->key_len = (uint32_t)strlen(keys[k]);
      m->next = k < 8 ? &r->fast_members[k + 1] : NULL;
    }
    r->fast_root.key = "";
    r->fast_root.child = r->fast_members;
    r->fast = 1;
  }
  if (!(w = calloc((size_t)r->jobs, sizeof *w)))
    goto out;
  for (k = 0; k < r->jobs; k++) {
    w[k].r = r;
    gavel__buf_init(&w[k].report, &gavel__default_alloc);
    gavel__buf_init(&w[k].text, &gavel__default_alloc);
    gavel__buf_init(&w[k].in, &gavel__default_alloc);
    gavel__buf_init(&w[k].want, &gavel__default_alloc);
    gavel__arena_init(&w[k].arena, &gavel__default_alloc, 0);
    gavel__arena_init(&w[k].scratch, &gavel__default_alloc, 0);
    if (!(w[k].ex = calloc((size_t)r->n_rs + 1, sizeof *w[k].ex)))
      goto out;
  }
  cli_lines_init(&rd, in, cli_input_limit(r->env.rt));
  tty = isatty(2);
  t0 = last = now_s();
  {
    struct stat sb;
    if (fstat(fileno(in), &sb) == 0 && S_ISREG(sb.st_mode))
      size = (double)sb.st_size;
  }
  /* Rounds: fill one chunk of lines per worker, replay them in parallel,
  ** print the reports in line order.  With --json too, as they come (the
  ** summary ends the document), so memory stays one round's whatever the
  ** capture's size. */
  if (r->json)
    printf("{\"records\":[");
  for (eof = 0; !eof;) {
    int filled = 0, started = 0;
    pthread_t th[RP_MAX_JOBS];
    for (k = 0; k < r->jobs; k++) {
      w[k].text.len = 0;
      w[k].n_lines = 0;
      w[k].report.len = 0;
    }
    for (k = 0; k < r->jobs && !eof;) {
      const char *p;
      size_t n;
      int st = cli_lines_next(&rd, &p, &n);
      rline *l;
      if (st == CLI_LINE_END) {
        eof = 1;
        break;
      }
      if (st == CLI_LINE_ERR) {
        fprintf(stderr, "error: io: cannot read '%s': %s\n", capfile,
                strerror(rd.err));
        goto out;
      }
      if (n == 0 && st == CLI_LINE_OK)
        continue;
      if (w[k].n_lines == w[k].cap_lines) {
        int cap = w[k].cap_lines ? w[k].cap_lines * 2 : 256;
        rline *nl = realloc(w[k].lines, (size_t)cap * sizeof *nl);
        if (!nl)
          goto out;
        w[k].lines = nl;
        w[k].cap_lines = cap;
      }
      l = &w[k].lines[w[k].n_lines++];
      l->off = w[k].text.len;
      l->len = n;
      l->no = rd.lineno;
      l->toolong = st == CLI_LINE_LONG;
      if (!l->toolong)
        gavel__buf_add(&w[k].text, p, n);
      if (w[k].text.oom) {
        fprintf(stderr, "error: memory: out of memory reading line %ld of "
                        "'%s'\n", rd.lineno, capfile);
        goto out;
      }
      filled = k + 1;
      if (w[k].n_lines == RP_CHUNK || w[k].text.len >= RP_CHUNK_BYTES)
        k++;
    }
    if (filled > 1) {
      for (k = 0; k < filled; k++) {
        if (pthread_create(&th[k], NULL, worker, &w[k]) != 0)
          break;
        started++;
      }
      for (k = started; k < filled; k++)
        worker(&w[k]); /* no thread: this one does it */
      for (k = 0; k < started; k++)
        pthread_join(th[k], NULL);
    } else if (filled == 1)
      worker(&w[0]);
    for (k = 0; k < filled; k++)
      if (w[k].report.oom) { /* a report cut short is not printed */
        fprintf(stderr, "error: memory: out of memory writing the report "
                        "of lines %ld-%ld\n", w[k].lines[0].no,
                w[k].lines[w[k].n_lines - 1].no);
        goto out;
      }
    for (k = 0; k < filled; k++)
      if (w[k].report.len) {
        const char *p = w[k].report.p;
        size_t n = w[k].report.len;
        if (r->json && !any_report) { /* the first record has no comma */
          p++;
          n--;
        }
        any_report = 1;
        cli_write(stdout, p, n);
      }
    if (tty && now_s() - last > 0.2) {
      last = now_s();
      progress(&rd, size, rd.lineno, t0);
      shown = 1;
    }
  }
  if (shown)
    fprintf(stderr, "\r%*s\r", 80, "");
  for (k = 0; k < r->jobs; k++)
    for (i = 0; i < B__N; i++)
      counts[i] += w[k].counts[i];
  if (r->json) {
    printf("],\"summary\":{");
    for (k = 0; k < B__N; k++)
      printf("%s\"%s\":%ld", k ? "," : "", bucket_names[k], counts[k]);
    printf("}}\n");
  } else {
    long total = 0;
    for (k = 0; k < B__N; k++)
      total += counts[k];
    printf("%ld records:", total);
    for (k = 0; k < B__N; k++)
      printf(" %s %ld%s", bucket_names[k], counts[k], k + 1 < B__N ? "," : "\n");
  }
  rc = 0;
  if (r->write_tests) {
    if (mkdir(r->write_tests, 0777) != 0 && errno != EEXIST) {
      fprintf(stderr, "error: io: cannot create '%s': %s\n", r->write_tests,
              strerror(errno));
      rc = 1;
    }
    for (k = 0; k < r->n_rs && rc == 0; k++) {
      char path[4096], file[512];
      const char *name = gavel_ruleset_name(r->rs[k].rs);
      FILE *f;
      int j, twin = 0;
      if (!r->rs[k].n_tests)
        continue;
      if (r->rs[k].tests.oom) {
        fprintf(stderr, "error: memory: out of memory building the tests of "
                        "'%s'\n", name);
        rc = 1;
        break;
      }
      /* Versions of one ruleset (--rules DIR, --verify) each get their
      ** own suite: NAME.json for the first, NAME-<hash>.json after it. */
      for (j = 0; j < k; j++)
        twin |= r->rs[j].n_tests &&
                !strcmp(gavel_ruleset_name(r->rs[j].rs), name);
      if (twin && !strncmp(r->rs[k].hash, "sha256:", 7))
        snprintf(file, sizeof file, "%s-%.12s", name, r->rs[k].hash + 7);
      else
        snprintf(file, sizeof file, "%s", name);
      snprintf(path, sizeof path, "%s/%s.json", r->write_tests, file);
      if (!(f = fopen(path, "wb"))) {
        fprintf(stderr, "error: io: cannot create '%s': %s\n", path,
                strerror(errno));
        rc = 1;
        break;
      }
      fprintf(f, "{\"description\":\"captured decisions of %s\",\"tests\":[",
              name);
      cli_write(f, r->rs[k].tests.p, r->rs[k].tests.len);
      fputs("\n]}\n", f);
      snprintf(path, sizeof path, "'%s/%s.json'", r->write_tests, file);
      if (cli_close_output(f, path, 1))
        rc = 1;
    }
  }
  /* Exit: 1 for --verify records not reproduced (determinism bugs, or
  ** no ruleset with their hash) and, with
  ** --fail-on-flip, for any decision that changed or could not replay. */
  if (r->verify && (counts[B_FLIPPED] || counts[B_ERRORED] ||
                    counts[B_NEEDS] || counts[B_UNKNOWN]))
    rc = 1;
  if (r->fail_on_flip && (counts[B_FLIPPED] || counts[B_ERRORED] ||
                          counts[B_NEEDS]))
    rc = 1;
out:
  cli_lines_free(&rd);
  if (in && in != stdin)
    fclose(in);
  for (k = 0; w && k < r->jobs; k++) {
    for (i = 0; w[k].ex && i < r->n_rs; i++)
      gavel_exec_free(w[k].ex[i]);
    free(w[k].ex);
    gavel__buf_free(&w[k].report);
    gavel__buf_free(&w[k].text);
    gavel__buf_free(&w[k].in);
    gavel__buf_free(&w[k].want);
    gavel__arena_free(&w[k].arena);
    gavel__arena_free(&w[k].scratch);
    free(w[k].lines);
    free(w[k].used);
    free(w[k].ans);
    free(w[k].meta);
  }
  free(w);
  for (k = 0; k < r->n_rs; k++)
    gavel__buf_free(&r->rs[k].tests);
  if (cli_env_free(&r->env) && rc == 0)
    rc = 1;
  free(r);
  return rc;
}
