/*
** sched.c -- stage 4 of 5: the step scheduler.
**
** A native state machine over the compiled step graph (rules.h).  All run
** state lives in the gavel_exec (frames, action cursors, variables), never
** on the C stack between steps, so a host call can suspend the run: the
** loop returns GAVEL_PENDING with the request and is re-entered by
** gavel_exec_resume_*.  Semantics follow Ordo's RuleExecutor
** (docs/ordo-reference.md section c).  No I/O: providers do that (host.c).
*/
#include "sched.h"
#include "json.h"
#include "jit.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MAX_FRAMES (1 + GAVEL_MAX_NESTING * (GAVEL_MAX_NESTING + 2))

typedef enum { FK_TOP, FK_SUB, FK_CALL } fkind;
typedef enum { PH_START, PH_ACTIONS } fphase;
typedef enum { XS_IDLE, XS_PENDING, XS_DONE, XS_FAILED } xstate;

typedef struct xframe {
  const gavel_ruleset *rs; /* ruleset this frame runs                  */
  const gv_graph *g;       /* graph (main or sub-rule)                 */
  fkind kind;              /* top, sub-rule or call_rule_set frame     */
  fphase phase;            /* where in the current step                */
  int step;                /* current step index                       */
  const gv_action *acts;   /* action list being run                    */
  int n_acts;              /* its length                               */
  int ai;                  /* next action to run                       */
  int next;                /* step after the action list               */
  uint32_t depth;          /* steps executed in this frame             */
  uint32_t max_depth;      /* step cap                                 */
  uint64_t timeout_ms;     /* 0 = no timeout checks                    */
  uint64_t t0;             /* start time (ns) for timeout checks       */
  gvalue input;            /* this frame's input root                  */
  gvalue *slots;           /* bound input slots                        */
  gvalue *vars;            /* variables                                */
  int result_var;          /* FK_CALL: parent variable for the result  */
  int sub_nest;            /* sub-rule nesting of this frame           */
  int call_nest;           /* call_rule_set nesting of this frame      */
  uint64_t step_t0;        /* trace: current step start (ns)           */
  int taken;               /* trace: branch the current decision took
                              (TAKEN_*, or its index)                  */
  int ceil;                /* CEIL_*: bounds the host's ceilings set   */
} xframe;

/* Which of a frame's bounds come from the host's ceilings rather than the
** ruleset's config (the error then names the ceiling). */
#define CEIL_STEPS 1 /* max_depth is gavel_config.max_steps        */
#define CEIL_TIME 2  /* timeout_ms is gavel_config.max_timeout_ms  */

/* xframe.taken / trace_rec.branch besides a branch index */
#define TAKEN_NONE -2    /* not a decision step                    */
#define TAKEN_DEFAULT -1 /* the decision's default_next            */

typedef struct trace_rec {
  const gv_step *step; /* step executed                         */
  uint64_t ns;         /* duration                              */
  int branch;          /* decision: branch index or TAKEN_*     */
} trace_rec;

typedef struct call_rec {
  const gv_str *capability; /* capability called             */
  const gv_str *operation;  /* operation                     */
  const char *path;         /* action's JSON path            */
  const char *outcome;      /* ok error timeout retry ...    */
  uint32_t attempt;         /* 1-based attempt               */
  uint64_t ns;              /* duration                      */
} call_rec;

struct gavel_exec {
  gavel_ruleset *rs;      /* ruleset (borrowed)                         */
  gavel_runtime *rt;      /* its runtime                                */
  gv_arena arena;         /* per-run values; reset at each new run      */
  xframe *frames;         /* frame stack                                */
  int n_frames;           /* frames in use                              */
  gv_rt vrt;              /* gas, pending error, arena pointer          */
  uint64_t gas_limit;     /* budget of the current run                  */
  int gas_capped;         /* the budget is the host's max_gas ceiling   */
  uint32_t n_steps;       /* steps run in every frame (deadline checks) */
  xstate state;           /* run state                                  */
  unsigned flags;         /* GAVEL_RUN_* of the current run             */
  gv_hostreq req;         /* pending host call                          */
  const gv_action *pact;  /* action waiting for the host                */
  gvalue result;          /* result object when done                    */
  trace_rec *trace;       /* top-frame steps (tracing)                  */
  call_rec *calls;        /* host calls (tracing)                       */
  int n_calls;            /* entries                                    */
  int cap_calls;          /* allocated (arena)                          */
  int n_trace;            /* entries                                    */
  int cap_trace;          /* allocated (arena)                          */
  gv_metric_rec *metrics; /* metrics delivered to the sink              */
  int n_metrics;          /* entries                                    */
  int cap_metrics;        /* allocated (arena)                          */
  gv_buf out;             /* result JSON                                */
  gv_buf tmp;             /* pending params JSON                        */
  gavel_status fail_st;   /* status of the failure (XS_FAILED)          */
  uint64_t trace_id;      /* id of the current run                      */
  uint64_t rng;           /* xorshift state for retry jitter            */
  uint64_t t_run;         /* run start (ns), when observed              */
  uint64_t t_call;        /* pending call start (ns)                    */
  const char *in_text;    /* input JSON of the run (observers), or NULL */
  size_t in_len;          /* its length                                 */
  int holds_slot;         /* a pending call holds a policy slot         */
  int out_ready;          /* 'out' holds the run's result JSON (written
                             for the observers; write_result reuses it) */
  int straight;           /* straight path: 0 no, 1 yes, 2 yes reading
                             the clock (builtins check the deadline)    */
  int res_fixed;          /* straight path: the result is main-graph
                             step res_fixed's prebuilt one (s->fixed),
                             or -1                                      */
  signed char *fixed_over; /* per main-graph step: the max_result_bytes
                             verdict (gavel__json_over) of its prebuilt
                             result, FIXED_UNKNOWN until first needed;
                             NULL without the straight path            */
  size_t n_fixed_over;    /* its length                                 */
  char **fixed_text;      /* per main-graph step: its prebuilt result's
                             JSON once written (straight runs), or NULL */
  size_t *fixed_len;      /* their lengths                              */
  gv_bindplan *plan;      /* straight path: the main graph's binding
                             plan (bind.h), or NULL: gavel__bind_walk   */
  gv_bindfn binder;       /* straight path: the main graph's compiled
                             input binding (jit.c), or NULL             */
  gv_chainfn chain;       /* straight path: the main graph's decision
                             chain compiled (jit.c), or NULL             */
  struct chainleaf *leaves; /* its leaves (terminal, depth, gas)          */
  uint32_t n_leaves;      /* entries                                    */
  uint32_t memo[GV_CHAIN_MAX_NODES]; /* the chain's key positions     */
  uint64_t chain_gas;     /* the run's gas budget (fixed per exec)      */
  int chain_capped;       /* it is the host's ceiling                   */
  uint32_t chain_wait;    /* straight runs left before asking for the
                             chain; UINT32_MAX: never                   */
  char fail_msg[GAVEL_ERRMSG_SIZE]; /* its message                      */
};

/* The run timeout is coarse by design (Ordo checks it every 16 steps, in
** ms): the coarse clock costs a few ns instead of a full clock read,
** measured at 11% of a 4-branch run. */
static uint64_t coarse_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define FIXED_UNKNOWN 2 /* fixed_over: not computed yet */

static uint64_t next_trace_id; /* process-wide: ids handed out (atomic) */

/* A run's trace id: unique within the process, never 0.  Each thread takes
** them in blocks, so that runs on several threads do not contend for one
** cache line per run. */
#define TRACE_ID_BLOCK 256
static __thread uint64_t tid_next, tid_end;
static uint64_t take_trace_id(void) {
  if (tid_next == tid_end) {
    tid_next = __atomic_fetch_add(&next_trace_id, TRACE_ID_BLOCK,
                                  __ATOMIC_RELAXED) + 1;
    tid_end = tid_next + TRACE_ID_BLOCK;
  }
  return tid_next++;
}

/* ==== Errors ==== */

static gavel_status xfail(gavel_exec *ex, gavel_status st, const char *fmt,
                          ...) GAVEL_PRINTF(3, 4);
static gavel_status xfail(gavel_exec *ex, gavel_status st, const char *fmt,
                          ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ex->fail_msg, sizeof ex->fail_msg, fmt, ap);
  va_end(ap);
  ex->fail_st = st;
  ex->state = XS_FAILED;
  return st;
}

/* An arena failure: the per-run cap (max_run_bytes) or the allocator. */
static gavel_status xnomem(gavel_exec *ex) {
  if (ex->arena.failed == 2)
    return xfail(ex, GAVEL_LIMIT,
                 "Limit exceeded: run memory over %zu bytes (max_run_bytes)",
                 ex->arena.limit);
  return xfail(ex, GAVEL_NOMEM, "out of memory");
}

/* " (host ceiling max_gas)" when the run's budget is the ceiling. */
static const char *gas_note(const gavel_exec *ex) {
  return ex->gas_capped ? " (host ceiling max_gas)" : "";
}

static gavel_status gas_fail(gavel_exec *ex, const char *path) {
  return xfail(ex, GAVEL_GAS,
               "Gas exhausted: budget of %llu units used up%s (at %s)",
               (unsigned long long)ex->gas_limit, gas_note(ex), path);
}

static gavel_status status_of(gv_ekind k) {
  switch (k) {
  case GV_E_GAS: return GAVEL_GAS;
  case GV_E_NOMEM: return GAVEL_NOMEM;
  case GV_E_LIMIT: return GAVEL_LIMIT;
  default: return GAVEL_EXEC;
  }
}

/* Turns the VM's pending error into the run's failure, naming where. */
static gavel_status eval_fail(gavel_exec *ex, const gv_program *p,
                              const char *path, int32_t pos) {
  gavel_status st = status_of(ex->vrt.ekind);
  int line = 1, col = 1;
  int32_t i;
  char where[GAVEL_ERRPATH_SIZE + 32];
  if (pos >= 0 && p && p->src) {
    for (i = 0; i < pos && i < (int32_t)p->src->len; i++) {
      if (p->src->s[i] == '\n') {
        line++;
        col = 1;
      } else if (((unsigned char)p->src->s[i] & 0xC0) != 0x80)
        col++;
    }
    snprintf(where, sizeof where, "%s, %d:%d", path, line, col);
  } else
    snprintf(where, sizeof where, "%s", path);
  /* The budget and the memory cap are named here, once for every site. */
  if (ex->vrt.ekind == GV_E_GAS)
    return gas_fail(ex, where);
  if ((ex->vrt.ekind == GV_E_NOMEM || ex->vrt.ekind == GV_E_LIMIT) &&
      ex->arena.failed == 2)
    return xfail(ex, GAVEL_LIMIT,
                 "Limit exceeded: run memory over %zu bytes (max_run_bytes) "
                 "(at %s)",
                 ex->arena.limit, where);
  return xfail(ex, st, "%s (at %s)", ex->vrt.emsg, where);
}

/* ==== Evaluation ==== */

/* 0 ok; 1 failed (vrt holds the error, *pos the source offset). */
static int eval(gavel_exec *ex, xframe *fr, const gv_program *p, gvalue *out,
                int32_t *pos) {
  gv_frame f;
  f.slots = fr->slots;
  f.vars = fr->vars;
  f.rt = &ex->vrt;
  f.err_pos = -1;
  if (gavel__exec(p, &f, out) == 0)
    return 0;
  *pos = f.err_pos;
  return 1;
}

static void clear_err(gavel_exec *ex) {
  ex->vrt.ekind = GV_E_NONE;
  ex->vrt.emsg[0] = 0;
}

/* ==== Frames ==== */

/* A top or call_rule_set frame's step cap and timeout: the ruleset's,
** lowered to the host's ceilings (a ruleset's "no timeout", 0, gets the
** ceiling).  The run's deadline, which long builtins check, is the
** earliest of its frames'. */
static void frame_bounds(gavel_exec *ex, xframe *fr, const gavel_ruleset *rs) {
  const gavel_config *c = &ex->rt->cfg;
  uint64_t dl;
  fr->max_depth = rs->max_depth;
  if (c->max_steps < fr->max_depth) {
    fr->max_depth = (uint32_t)c->max_steps;
    fr->ceil |= CEIL_STEPS;
  }
  fr->timeout_ms = rs->timeout_ms;
  if (!fr->timeout_ms || fr->timeout_ms > c->max_timeout_ms) {
    fr->timeout_ms = c->max_timeout_ms;
    fr->ceil |= CEIL_TIME;
  }
  fr->t0 = coarse_ns();
  dl = fr->t0 + fr->timeout_ms * 1000000u;
  if (!ex->vrt.deadline_ns || dl < ex->vrt.deadline_ns)
    ex->vrt.deadline_ns = dl;
}

static gavel_status push_frame(gavel_exec *ex, const gavel_ruleset *rs,
                               const gv_graph *g, fkind kind, gvalue input) {
  xframe *fr;
  uint32_t i;
  gavel_status st;
  if (ex->n_frames == MAX_FRAMES)
    return xfail(ex, GAVEL_LIMIT, "Evaluation error: nesting too deep");
  fr = &ex->frames[ex->n_frames];
  /* Field by field: a memset of the whole frame was ~15% of a small run. */
  fr->rs = rs;
  fr->g = g;
  fr->kind = kind;
  fr->phase = PH_START;
  fr->step = g->entry;
  fr->acts = NULL;
  fr->n_acts = fr->ai = 0;
  fr->next = -1;
  fr->depth = 0;
  fr->timeout_ms = 0;
  fr->t0 = 0;
  fr->input = input;
  fr->result_var = -1;
  fr->sub_nest = fr->call_nest = 0;
  fr->step_t0 = 0;
  fr->taken = TAKEN_NONE;
  fr->ceil = 0;
  fr->slots = gavel__arena_alloc(&ex->arena,
                                 (g->st.n_inputs + 1) * sizeof(gvalue));
  fr->vars = gavel__arena_alloc(&ex->arena, (g->st.n_vars + 1) * sizeof(gvalue));
  if (!fr->slots || !fr->vars)
    return xnomem(ex);
  st = gavel__bind_walk(&ex->arena, &g->st, input, fr->slots);
  if (st != GAVEL_OK)
    return ex->arena.failed == 2 ? xnomem(ex)
                                 : xfail(ex, st, "out of memory binding input");
  for (i = 0; i < g->st.n_vars; i++)
    fr->vars[i] = gv_missing();
  if (kind == FK_SUB)
    fr->max_depth = GAVEL_SUB_MAX_STEPS;
  else
    frame_bounds(ex, fr, rs);
  ex->n_frames++;
  return GAVEL_OK;
}

static int trace_on(const gavel_exec *ex, const xframe *fr) {
  return fr == &ex->frames[0] && (ex->flags & GAVEL_RUN_TRACE);
}

static gavel_status trace_add(gavel_exec *ex, const gv_step *s, uint64_t ns,
                              int branch) {
  if (ex->n_trace == ex->cap_trace) {
    int ncap = ex->cap_trace ? ex->cap_trace * 2 : 16;
    trace_rec *nt = gavel__arena_alloc(&ex->arena, (size_t)ncap * sizeof *nt);
    if (!nt)
      return xnomem(ex);
    if (ex->n_trace)
      memcpy(nt, ex->trace, (size_t)ex->n_trace * sizeof *nt);
    ex->trace = nt;
    ex->cap_trace = ncap;
  }
  ex->trace[ex->n_trace].step = s;
  ex->trace[ex->n_trace].ns = ns;
  ex->trace[ex->n_trace].branch = branch;
  ex->n_trace++;
  return GAVEL_OK;
}

static int trace_calls(const gavel_exec *ex) {
  return (ex->flags & GAVEL_RUN_TRACE) != 0;
}

/* Records the host call in ex->req in the trace. */
static gavel_status trace_call(gavel_exec *ex, const char *outcome,
                               uint64_t ns) {
  if (ex->n_calls == ex->cap_calls) {
    int ncap = ex->cap_calls ? ex->cap_calls * 2 : 8;
    call_rec *nc = gavel__arena_alloc(&ex->arena, (size_t)ncap * sizeof *nc);
    if (!nc)
      return xnomem(ex);
    if (ex->n_calls)
      memcpy(nc, ex->calls, (size_t)ex->n_calls * sizeof *nc);
    ex->calls = nc;
    ex->cap_calls = ncap;
  }
  ex->calls[ex->n_calls].capability = ex->req.capability;
  ex->calls[ex->n_calls].operation = ex->req.operation;
  ex->calls[ex->n_calls].path = ex->req.path;
  ex->calls[ex->n_calls].outcome = outcome;
  ex->calls[ex->n_calls].attempt = ex->req.attempt;
  ex->calls[ex->n_calls].ns = ns;
  ex->n_calls++;
  return GAVEL_OK;
}

/* Ends the current step of 'fr' and moves to 'next'. */
static gavel_status step_done(gavel_exec *ex, xframe *fr, int next) {
  if (trace_on(ex, fr) &&
      trace_add(ex, &fr->g->steps[fr->step], gavel__now_ns() - fr->step_t0,
                fr->taken) != GAVEL_OK)
    return ex->fail_st;
  fr->taken = TAKEN_NONE;
  fr->depth++;
  fr->step = next;
  fr->phase = PH_START;
  return GAVEL_OK;
}

/* ==== Steps ==== */

static gavel_status branch_scan(gavel_exec *ex, xframe *fr, const gv_step *s);
static gavel_status branch_chosen(gavel_exec *ex, xframe *fr, const gv_step *s,
                                  int i);

static gavel_status take_branch(gavel_exec *ex, xframe *fr, const gv_step *s) {
  int32_t pos;
  gvalue v;
  if (s->fused) {
    /* All conditions at once; on an error, evaluate them one by one below
    ** so the error names its branch and column exactly. */
    if (eval(ex, fr, s->fused, &v, &pos) == 0)
      return branch_chosen(ex, fr, s, v.u.i < 0 ? s->n_branches : (int)v.u.i);
    if (ex->vrt.ekind == GV_E_GAS)
      return eval_fail(ex, NULL, s->path, -1);
    clear_err(ex);
  }
  return branch_scan(ex, fr, s);
}

/* The conditions one by one (no fused program, or it failed). */
static gavel_status branch_scan(gavel_exec *ex, xframe *fr, const gv_step *s) {
  int i;
  int32_t pos;
  gvalue v;
  for (i = 0; i < s->n_branches; i++) {
    const gv_branch *b = &s->branches[i];
    if (!b->cond)
      break;
    if (eval(ex, fr, b->cond, &v, &pos) != 0) {
      /* Lenient mode: a missing field makes the whole condition false. */
      if (ex->vrt.ekind == GV_E_NOTFOUND && !fr->rs->strict) {
        clear_err(ex);
        continue;
      }
      return eval_fail(ex, b->cond, b->path, pos);
    }
    if (gavel__truthy(v))
      break;
  }
  return branch_chosen(ex, fr, s, i);
}

/* Branch i of decision s (n_branches: none matched) sets the frame's next
** step and actions. */
static gavel_status branch_chosen(gavel_exec *ex, xframe *fr, const gv_step *s,
                                  int i) {
  if (i < s->n_branches) {
    fr->acts = s->branches[i].actions;
    fr->n_acts = s->branches[i].n_actions;
    fr->next = s->branches[i].next;
    fr->taken = i;
  } else if (s->default_next >= 0) {
    fr->taken = TAKEN_DEFAULT;
    fr->acts = NULL;
    fr->n_acts = 0;
    fr->next = s->default_next;
  } else {
    return xfail(ex, GAVEL_EXEC,
                 "Evaluation error: No matching branch in step '%s' and no "
                 "default (at %s)",
                 s->id->s, s->path);
  }
  fr->ai = 0;
  fr->phase = PH_ACTIONS;
  return GAVEL_OK;
}

/* Evaluates a terminal's outputs, merges 'data'; *res = {code,message,output}. */
static gavel_status terminal(gavel_exec *ex, xframe *fr, const gv_step *s,
                             gvalue *res) {
  gv_arena *a = &ex->arena;
  gv_obj *out = s->fixed.tag == GV_OBJ ? NULL : gavel__obj_new(a, (uint32_t)s->n_outs), *r;
  gvalue v;
  int32_t pos;
  int i;
  if (s->fixed.tag == GV_OBJ) { /* no outputs: the result made at load */
    *res = s->fixed;
    return GAVEL_OK;
  }
  if (!out)
    return xnomem(ex);
  for (i = 0; i < s->n_outs; i++) {
    if (eval(ex, fr, s->outs[i], &v, &pos) != 0) {
      char where[GAVEL_ERRPATH_SIZE];
      snprintf(where, sizeof where, "%s.result.output[%d]", s->path, i);
      return eval_fail(ex, s->outs[i], where, pos);
    }
    if (!gavel__obj_set(a, out, s->out_keys[i], v))
      return xnomem(ex);
  }
  if (s->data.tag == GV_OBJ)
    for (i = 0; i < (int)s->data.u.o->len; i++)
      if (!gavel__obj_set(a, out, s->data.u.o->keys[i], s->data.u.o->vals[i]))
        return xnomem(ex);
  r = gavel__obj_new(a, 3);
  if (!r || !gavel__obj_append(a, r, fr->rs->keys[RK_CODE], gv_strv(s->code)) ||
      !gavel__obj_append(a, r, fr->rs->keys[RK_MESSAGE], gv_strv(s->message)) ||
      !gavel__obj_append(a, r, fr->rs->keys[RK_OUTPUT], gv_objv(out)))
    return xnomem(ex);
  *res = gv_objv(r);
  return GAVEL_OK;
}

static gavel_status enter_sub(gavel_exec *ex, xframe *fr, const gv_step *s) {
  gv_arena *a = &ex->arena;
  gv_obj *in = gavel__obj_new(a, (uint32_t)s->n_binds);
  const gv_graph *g = &fr->rs->graphs[s->sub];
  gvalue v;
  int32_t pos;
  int i;
  gavel_status st;
  if (!in)
    return xnomem(ex);
  if (fr->sub_nest + 1 > GAVEL_MAX_NESTING)
    return xfail(ex, GAVEL_EXEC,
                 "Evaluation error: SubRule max nesting depth (%d) exceeded "
                 "calling '%s'",
                 GAVEL_MAX_NESTING, g->name->s);
  for (i = 0; i < s->n_binds; i++) {
    if (eval(ex, fr, s->binds[i], &v, &pos) != 0) {
      char where[GAVEL_ERRPATH_SIZE];
      if (ex->vrt.ekind == GV_E_NOTFOUND && !fr->rs->strict) {
        clear_err(ex); /* lenient: the binding is dropped */
        continue;
      }
      snprintf(where, sizeof where, "%s.bindings[%d]", s->path, i);
      return eval_fail(ex, s->binds[i], where, pos);
    }
    if (!gavel__obj_set(a, in, s->bind_keys[i], v))
      return xnomem(ex);
  }
  if ((st = push_frame(ex, fr->rs, g, FK_SUB, gv_objv(in))) != GAVEL_OK)
    return st;
  ex->frames[ex->n_frames - 1].sub_nest = fr->sub_nest + 1;
  ex->frames[ex->n_frames - 1].call_nest = fr->call_nest;
  return GAVEL_OK;
}

/* A child frame reached a terminal: hand its result to the parent. */
static gavel_status frame_return(gavel_exec *ex, gvalue result) {
  xframe *child = &ex->frames[ex->n_frames - 1], *parent;
  int i;
  ex->n_frames--;
  if (ex->n_frames == 0) {
    ex->result = result;
    ex->state = XS_DONE;
    return GAVEL_OK;
  }
  parent = &ex->frames[ex->n_frames - 1];
  if (child->kind == FK_SUB) {
    const gv_step *s = &parent->g->steps[parent->step];
    for (i = 0; i < s->n_outmaps; i++) {
      gvalue v = child->vars[s->out_child[i]];
      if (v.tag != GV_MISSING) /* a missing child variable is skipped */
        parent->vars[s->out_parent[i]] = v;
    }
    return step_done(ex, parent, s->next);
  }
  if (child->result_var >= 0)
    parent->vars[child->result_var] = result;
  /* The child's timeout no longer applies. */
  ex->vrt.deadline_ns = 0;
  for (i = 0; i < ex->n_frames; i++) {
    const xframe *f = &ex->frames[i];
    uint64_t dl = f->t0 + f->timeout_ms * 1000000u;
    if (f->kind != FK_SUB && (!ex->vrt.deadline_ns || dl < ex->vrt.deadline_ns))
      ex->vrt.deadline_ns = dl;
  }
  return GAVEL_OK; /* the parent continues its action list */
}

/* ==== Actions ==== */

static gavel_status eval_params(gavel_exec *ex, xframe *fr, const gv_action *a,
                                gvalue *out) {
  gv_obj *o = gavel__obj_new(&ex->arena, (uint32_t)a->n_keys);
  gvalue v;
  int32_t pos;
  int i;
  if (!o)
    return xnomem(ex);
  for (i = 0; i < a->n_keys; i++) {
    if (eval(ex, fr, a->params[i], &v, &pos) != 0) {
      char where[GAVEL_ERRPATH_SIZE];
      snprintf(where, sizeof where, "%s.params[%d]", a->path, i);
      return eval_fail(ex, a->params[i], where, pos);
    }
    if (!gavel__obj_set(&ex->arena, o, a->keys[i], v))
      return xnomem(ex);
  }
  *out = gv_objv(o);
  return GAVEL_OK;
}

/* Stores a host reply in the action's result variable in Ordo's shape. */
static gavel_status host_result(gavel_exec *ex, xframe *fr, const gv_action *a,
                                gvalue payload, gvalue metadata) {
  gv_arena *ar = &ex->arena;
  gv_obj *r;
  if (a->type != ACT_EXTCALL || a->var < 0)
    return GAVEL_OK;
  r = gavel__obj_new(ar, 4);
  if (metadata.tag != GV_OBJ) {
    gv_obj *m = gavel__obj_new(ar, 0);
    if (!m)
      return xnomem(ex);
    metadata = gv_objv(m);
  }
  if (!r ||
      !gavel__obj_append(ar, r, fr->rs->keys[RK_CAPABILITY],
                         gv_strv((gv_str *)ex->req.capability)) ||
      !gavel__obj_append(ar, r, fr->rs->keys[RK_OPERATION],
                         gv_strv((gv_str *)ex->req.operation)) ||
      !gavel__obj_append(ar, r, fr->rs->keys[RK_PAYLOAD], payload) ||
      !gavel__obj_append(ar, r, fr->rs->keys[RK_METADATA], metadata))
    return xnomem(ex);
  fr->vars[a->var] = gv_objv(r);
  return GAVEL_OK;
}

/* A host call attempt for the observers; 'payload' and 'metadata' are
** the answer (NULL: failed or never sent), 'sent' tells whether a provider
** or the host saw the call (call detail is given only then). */
static void observe_call_d(gavel_exec *ex, const char *outcome,
                           gavel_status st, const char *msg, uint64_t ns,
                           int sent, const gvalue *payload,
                           const gvalue *metadata);

static void observe_call(gavel_exec *ex, const char *outcome, gavel_status st,
                         const char *msg, uint64_t ns) {
  observe_call_d(ex, outcome, st, msg, ns, 0, NULL, NULL);
}

static void observe_call_d(gavel_exec *ex, const char *outcome,
                           gavel_status st, const char *msg, uint64_t ns,
                           int sent, const gvalue *payload,
                           const gvalue *metadata) {
  gavel_event ev;
  gv_buf b;
  size_t p1 = 0, p2 = 0;
  if (!ex->rt->n_observers)
    return;
  memset(&ev, 0, sizeof ev);
  ev.kind = GAVEL_EVENT_HOSTCALL;
  ev.ruleset = ex->req.ruleset;
  ev.version = ex->rs->version ? ex->rs->version->s : "";
  ev.status = st;
  ev.code = "";
  ev.message = msg ? msg : "";
  ev.duration_ns = ns;
  ev.capability = ex->req.capability->s;
  ev.operation = ex->req.operation->s;
  ev.outcome = outcome;
  ev.attempt = ex->req.attempt;
  ev.trace_id = ex->trace_id;
  if (!(sent && ex->rt->call_detail)) {
    gavel__observe(ex->rt, &ev);
    return;
  }
  /* Call detail: params, then payload and metadata, in one buffer. */
  gavel__buf_init(&b, &ex->rt->al);
  gavel__json_write(&b, ex->req.params);
  p1 = b.len;
  if (payload) {
    gavel__json_write(&b, *payload);
    p2 = b.len;
    if (metadata && metadata->tag == GV_OBJ)
      gavel__json_write(&b, *metadata);
    else
      gavel__buf_adds(&b, "{}");
  }
  if (!b.oom && b.p) {
    ev.params = b.p;
    ev.params_len = p1;
    if (payload) {
      ev.payload = b.p + p1;
      ev.payload_len = p2 - p1;
      ev.metadata = b.p + p2;
      ev.metadata_len = b.len - p2;
    }
  }
  gavel__observe(ex->rt, &ev);
  gavel__buf_free(&b);
}

static void sleep_ms(long ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0)
    ;
}

/* The failure of the host call in ex->req after all attempts. */
static gavel_status call_failed(gavel_exec *ex, const gv_action *a,
                                const char *outcome, const char *msg) {
  if (!strcmp(outcome, "circuit_open") || !strcmp(outcome, "busy"))
    return xfail(ex, GAVEL_HOST, "%s (at %s)", msg, a->path);
  return xfail(ex, GAVEL_HOST, "Capability invocation failed for %s: %s (at %s)",
               ex->req.capability->s, msg, a->path);
}

/* Sends the prepared ex->req to its provider under the capability's policy
** (breaker, concurrency, timeout cap, retries of idempotent operations):
** inline when synchronous, else GAVEL_PENDING. */
static gavel_status host_call(gavel_exec *ex, xframe *fr, const gv_action *a) {
  const gv_provider *pv;
  gvalue payload, metadata;
  char msg[GAVEL_ERRMSG_SIZE];
  const char *outcome = "ok";
  long delay;
  int over, nf = 0;
  if (gavel__rt_charge(&ex->vrt, GAVEL_GAS_HOSTCALL))
    return gas_fail(ex, a->path);
  /* Before any provider sees them, as values or as JSON text. */
  over = gavel__json_over(&ex->rt->al, ex->req.params,
                          ex->rt->cfg.max_call_bytes, &nf);
  if (over < 0)
    return xfail(ex, GAVEL_NOMEM, "out of memory");
  if (over)
    return xfail(ex, GAVEL_LIMIT,
                 "Limit exceeded: host call params larger than %zu bytes "
                 "(max_call_bytes) (at %s)",
                 ex->rt->cfg.max_call_bytes, a->path);
  if (nf) /* never a silent null sent to a provider, as for results */
    return xfail(ex, GAVEL_RUNTIME,
                 "Evaluation error: host call params hold a non-finite "
                 "float (inf or NaN has no JSON form) (at %s)",
                 a->path);
  pv = gavel__host_find(ex->rt, ex->req.capability->s, ex->req.capability->len);
  if (!pv)
    return xfail(ex, GAVEL_HOST,
                 "Capability not found: %s (ExternalCall requires a "
                 "capability invoker) (at %s)",
                 ex->req.capability->s, a->path);
  if (!ex->trace_id)
    ex->trace_id = take_trace_id();
  if (!ex->rng)
    ex->rng = ex->trace_id * 0x9E3779B97F4A7C15ull | 1;
  ex->req.timeout_ms = gavel__policy_timeout(pv, ex->req.timeout_ms);
  ex->req.allow = fr->rs->http_allow;
  ex->req.n_allow = fr->rs->n_http_allow;
  ex->req.trace_id = ex->trace_id;
  ex->req.attempt = 1;
  ex->req.delay_ms = 0;
  for (;;) {
    uint64_t t0, dt;
    int failed;
    if (gavel__policy_admit(pv, msg, sizeof msg, &outcome)) {
      observe_call(ex, outcome, GAVEL_HOST, msg, 0);
      if (trace_calls(ex))
        trace_call(ex, outcome, 0);
      return call_failed(ex, a, outcome, msg);
    }
    if (!pv->fn && !pv->vfn) {
      ex->pact = a;
      ex->holds_slot = 1;
      ex->t_call = (ex->rt->n_observers || trace_calls(ex)) ? gavel__now_ns() : 0;
      ex->state = XS_PENDING;
      return GAVEL_PENDING;
    }
    t0 = gavel__now_ns();
    failed = gavel__host_invoke(pv, &ex->arena, &ex->req, &payload, &metadata,
                                msg, sizeof msg);
    if (failed && ex->arena.failed == 2) { /* the reply hit the run's cap */
      gavel__policy_release(pv);
      return xnomem(ex);
    }
    dt = gavel__now_ns() - t0;
    gavel__policy_release(pv);
    outcome = failed == GV_HOST_TIMEOUT ? "timeout" : failed ? "error" : "ok";
    /* Ordo enforces the timeout after the fact: a late answer is a
    ** timeout even when it arrived. */
    if (!failed && ex->req.timeout_ms && dt / 1000000u > ex->req.timeout_ms) {
      failed = 1;
      outcome = "timeout";
      snprintf(msg, sizeof msg, "Execution timeout: %ums", ex->req.timeout_ms);
    }
    delay = gavel__policy_after(pv, failed, ex->req.operation, ex->req.attempt,
                                &ex->rng);
    observe_call_d(ex, failed && delay >= 0 ? "retry" : outcome,
                   failed ? GAVEL_HOST : GAVEL_OK, failed ? msg : NULL, dt, 1,
                   failed ? NULL : &payload, failed ? NULL : &metadata);
    if (trace_calls(ex) &&
        trace_call(ex, failed && delay >= 0 ? "retry" : outcome, dt) != GAVEL_OK)
      return ex->fail_st;
    if (!failed)
      return host_result(ex, fr, a, payload, metadata);
    if (delay < 0)
      return call_failed(ex, a, outcome, msg);
    sleep_ms(delay);
    ex->req.attempt++;
  }
}

static gavel_status act_metric(gavel_exec *ex, xframe *fr, const gv_action *a) {
  gv_arena *ar = &ex->arena;
  gvalue v, tags;
  gv_obj *t, *params;
  int32_t pos;
  double d;
  int i;
  if (eval(ex, fr, a->value, &v, &pos) != 0)
    return eval_fail(ex, a->value, a->path, pos);
  if (v.tag == GV_INT || v.tag == GV_FLOAT)
    d = gv_num(v);
  else if (v.tag == GV_BOOL)
    d = v.u.i ? 1.0 : 0.0;
  else
    return GAVEL_OK; /* Ordo skips other types with a warning */
  if (!(t = gavel__obj_new(ar, (uint32_t)a->n_keys)))
    return xnomem(ex);
  for (i = 0; i < a->n_keys; i++)
    if (!gavel__obj_set(ar, t, a->keys[i], gv_strv(a->tagvals[i])))
      return xnomem(ex);
  tags = gv_objv(t);
  if (fr->rs->metrics_granted &&
      gavel__host_find(ex->rt, "metrics.prometheus", 18)) {
    if (!(params = gavel__obj_new(ar, 3)) ||
        !gavel__obj_append(ar, params, gavel__str_cstr(ar, "name"),
                           gv_strv(a->name)) ||
        !gavel__obj_append(ar, params, gavel__str_cstr(ar, "value"),
                           gv_float(d)) ||
        !gavel__obj_append(ar, params, gavel__str_cstr(ar, "tags"), tags))
      return xnomem(ex);
    ex->req.capability = gavel__str_cstr(ar, "metrics.prometheus");
    ex->req.operation = gavel__str_cstr(ar, "gauge");
    ex->req.params = gv_objv(params);
    ex->req.timeout_ms = 0;
    ex->req.ruleset = fr->rs->name->s;
    ex->req.path = a->path;
    if (!ex->req.capability || !ex->req.operation)
      return xnomem(ex);
    return host_call(ex, fr, a);
  }
  if (ex->n_metrics == ex->cap_metrics) {
    int ncap = ex->cap_metrics ? ex->cap_metrics * 2 : 4;
    gv_metric_rec *nm = gavel__arena_alloc(ar, (size_t)ncap * sizeof *nm);
    if (!nm)
      return xnomem(ex);
    if (ex->n_metrics)
      memcpy(nm, ex->metrics, (size_t)ex->n_metrics * sizeof *nm);
    ex->metrics = nm;
    ex->cap_metrics = ncap;
  }
  ex->metrics[ex->n_metrics].name = a->name;
  ex->metrics[ex->n_metrics].value = d;
  ex->metrics[ex->n_metrics].tags = tags;
  ex->n_metrics++;
  return GAVEL_OK;
}

static gavel_status act_callrs(gavel_exec *ex, xframe *fr, const gv_action *a) {
  gavel_ruleset *child;
  gvalue input = fr->input;
  int32_t pos;
  gavel_status st;
  if (!ex->rt->resolver)
    return xfail(ex, GAVEL_EXEC,
                 "Evaluation error: CallRuleSet requires a resolver to be "
                 "configured (at %s)",
                 a->path);
  if (fr->call_nest + 1 > GAVEL_MAX_NESTING)
    return xfail(ex, GAVEL_EXEC,
                 "Evaluation error: CallRuleSet max nesting depth (%d) "
                 "exceeded calling '%s'",
                 GAVEL_MAX_NESTING, a->name->s);
  child = ex->rt->resolver(ex->rt->resolver_ud, a->name->s);
  if (!child)
    return xfail(ex, GAVEL_EXEC, "RuleSet not found: %s (at %s)", a->name->s,
                 a->path);
  if (a->value && eval(ex, fr, a->value, &input, &pos) != 0)
    return eval_fail(ex, a->value, a->path, pos);
  if ((st = push_frame(ex, child, &child->graphs[0], FK_CALL, input)) !=
      GAVEL_OK)
    return st;
  ex->frames[ex->n_frames - 1].result_var = a->var;
  ex->frames[ex->n_frames - 1].call_nest = fr->call_nest + 1;
  return GAVEL_OK;
}

/* Runs one action.  GAVEL_OK, GAVEL_PENDING, or a failure; a pushed frame
** (call_rule_set) returns GAVEL_OK with a new top frame. */
static gavel_status run_action(gavel_exec *ex, xframe *fr, const gv_action *a) {
  gvalue v;
  int32_t pos;
  gavel_status st;
  switch (a->type) {
  case ACT_SET:
    if (eval(ex, fr, a->value, &v, &pos) != 0)
      return eval_fail(ex, a->value, a->path, pos);
    fr->vars[a->var] = v;
    return GAVEL_OK;
  case ACT_LOG:
    return GAVEL_OK; /* Ordo emits a tracing event; no other effect */
  case ACT_METRIC:
    return act_metric(ex, fr, a);
  case ACT_CALLRS:
    return act_callrs(ex, fr, a);
  case ACT_EXTCALL:
    if ((st = eval_params(ex, fr, a, &v)) != GAVEL_OK)
      return st;
    ex->req.capability = a->name;
    ex->req.operation = a->method;
    ex->req.params = v;
    ex->req.timeout_ms = a->timeout_ms;
    ex->req.ruleset = fr->rs->name->s;
    ex->req.path = a->path;
    return host_call(ex, fr, a);
  }
  return GAVEL_OK;
}

/* ==== The loop ==== */

/* The run passed its deadline: names the frame whose timeout it was. */
static gavel_status timeout_fail(gavel_exec *ex) {
  const xframe *due = NULL;
  int i;
  for (i = 0; i < ex->n_frames; i++) {
    const xframe *f = &ex->frames[i];
    if (f->kind != FK_SUB &&
        (!due || f->t0 + f->timeout_ms * 1000000u <
                     due->t0 + due->timeout_ms * 1000000u))
      due = f;
  }
  if (GAVEL_NEVER(!due))
    return xfail(ex, GAVEL_EXEC, "Execution timeout");
  return xfail(ex, GAVEL_EXEC, "Execution timeout: %llums%s",
               (unsigned long long)due->timeout_ms,
               due->ceil & CEIL_TIME ? " (host ceiling max_timeout_ms)" : "");
}

static gavel_status run_step_start(gavel_exec *ex, xframe *fr) {
  const gv_step *s = &fr->g->steps[fr->step];
  gvalue res;
  gavel_status st;
  /* Every 16 steps of the run, in any frame (sub-rules included), as
  ** Ordo checks every 16 steps of a frame. */
  if ((++ex->n_steps & 15) == 0 && ex->vrt.deadline_ns &&
      coarse_ns() >= ex->vrt.deadline_ns)
    return timeout_fail(ex);
  if (fr->depth >= fr->max_depth)
    return xfail(ex, GAVEL_EXEC, "Max execution depth exceeded: %u%s",
                 fr->max_depth,
                 fr->ceil & CEIL_STEPS ? " (host ceiling max_steps)" : "");
  if (gavel__rt_charge(&ex->vrt, GAVEL_GAS_STEP))
    return gas_fail(ex, s->path);
  if (trace_on(ex, fr))
    fr->step_t0 = gavel__now_ns();
  switch (s->type) {
  case ST_DECISION:
    return take_branch(ex, fr, s);
  case ST_ACTION:
    fr->acts = s->actions;
    fr->n_acts = s->n_actions;
    fr->next = s->next;
    fr->ai = 0;
    fr->phase = PH_ACTIONS;
    return GAVEL_OK;
  case ST_TERMINAL:
    if ((st = terminal(ex, fr, s, &res)) != GAVEL_OK)
      return st;
    if (trace_on(ex, fr) &&
        trace_add(ex, s, gavel__now_ns() - fr->step_t0, TAKEN_NONE) != GAVEL_OK)
      return ex->fail_st;
    return frame_return(ex, res);
  case ST_SUBRULE:
    return enter_sub(ex, fr, s);
  }
  return GAVEL_OK;
}

static gavel_status run_loop(gavel_exec *ex) {
  gavel_status st;
  while (ex->state != XS_DONE) {
    xframe *fr = &ex->frames[ex->n_frames - 1];
    if (fr->phase == PH_START) {
      if ((st = run_step_start(ex, fr)) != GAVEL_OK)
        return st;
      continue;
    }
    if (fr->ai < fr->n_acts) {
      const gv_action *a = &fr->acts[fr->ai++];
      if ((st = run_action(ex, fr, a)) != GAVEL_OK)
        return st;
      continue;
    }
    if ((st = step_done(ex, fr, fr->next)) != GAVEL_OK)
      return st;
  }
  return GAVEL_OK;
}

/* ==== Public / internal entry points ==== */

gv_arena *gavel__exec_prepare(gavel_exec *ex) {
  if (ex->state == XS_PENDING && ex->holds_slot) {
    const gv_provider *pv = gavel__host_find(ex->rt, ex->req.capability->s,
                                             ex->req.capability->len);
    if (pv)
      gavel__policy_release(pv);
  }
  ex->holds_slot = 0;
  ex->in_text = NULL;
  ex->in_len = 0;
  /* nothing handed out since the last reset (a compiled chain run
  ** allocates nothing): the arena is as a reset leaves it */
  if (ex->arena.used || ex->arena.failed)
    gavel__arena_reset(&ex->arena);
  ex->n_frames = 0;
  ex->n_trace = ex->cap_trace = 0;
  ex->trace = NULL;
  ex->n_calls = ex->cap_calls = 0;
  ex->calls = NULL;
  ex->n_metrics = ex->cap_metrics = 0;
  ex->metrics = NULL;
  ex->state = XS_IDLE;
  ex->result = gv_null();
  ex->res_fixed = -1;
  ex->pact = NULL;
  ex->out_ready = 0;
  return &ex->arena;
}

/* The JSON text of the prebuilt result of main-graph step res_fixed
** (immutable, made at load), written on first use; NULL when it cannot be
** (no table, out of memory, a float that JSON cannot carry). */
static const char *fixed_result_text(gavel_exec *ex, size_t *len) {
  gv_buf *b = &ex->out;
  char **txt;
  if (!ex->fixed_text)
    return NULL;
  txt = &ex->fixed_text[ex->res_fixed];
  if (!*txt) {
    gavel__buf_clear(b);
    if (gavel__json_write_checked(b, ex->result) == 0 && !b->oom &&
        (*txt = gavel__malloc(&ex->rt->al, b->len + 1)) != NULL) {
      memcpy(*txt, b->p, b->len + 1);
      ex->fixed_len[ex->res_fixed] = b->len;
    }
  }
  if (*txt)
    *len = ex->fixed_len[ex->res_fixed];
  return *txt;
}

static void observe_run(gavel_exec *ex, gavel_status st) {
  gavel_event ev;
  gvalue *code;
  memset(&ev, 0, sizeof ev);
  ev.kind = GAVEL_EVENT_RUN;
  ev.ruleset = ex->rs->name->s;
  ev.version = ex->rs->version ? ex->rs->version->s : "";
  ev.status = st;
  ev.code = "";
  ev.message = st == GAVEL_OK ? "" : ex->fail_msg;
  if (st == GAVEL_OK && ex->result.tag == GV_OBJ &&
      (code = gavel__obj_get(ex->result.u.o, "code", 4)) && code->tag == GV_STR)
    ev.code = code->u.s->s;
  ev.duration_ns = gavel__tick_since(ex->t_run);
  ev.gas_used = gavel__exec_gas_used(ex);
  ev.input = ex->in_text;
  ev.input_len = ex->in_len;
  ev.trace_id = ex->trace_id;
  /* The result JSON for observers that record decisions (capture): the
  ** JSON API reuses this text as its answer, so it is written once; a
  ** prebuilt result's text is written once per executor. */
  ex->out_ready = 0;
  if (st == GAVEL_OK && ex->res_fixed >= 0 && !(ex->flags & GAVEL_RUN_TRACE))
    ev.result = fixed_result_text(ex, &ev.result_len); /* write_result's */
  if (st == GAVEL_OK && !ev.result) {
    gavel__buf_clear(&ex->out);
    if (gavel__json_write_checked(&ex->out, ex->result) != -2 &&
        !ex->out.oom) {
      ev.result = ex->out.p;
      ev.result_len = ex->out.len;
      ex->out_ready = 1;
    }
  }
  gavel__observe(ex->rt, &ev);
}

static gavel_status finish(gavel_exec *ex, gavel_status st, gavel_error *err) {
  if (st == GAVEL_PENDING)
    return st;
  if (st == GAVEL_OK) { /* checked here for every host, JSON or values */
    int over;
    if (ex->res_fixed >= 0) {
      /* A prebuilt result (immutable, made at load) and a cap fixed with
      ** the runtime: the verdict is the same every run, computed once
      ** (an allocation failure, -1, is not kept). */
      signed char *v = &ex->fixed_over[ex->res_fixed];
      if (*v == FIXED_UNKNOWN) {
        over = gavel__json_over(&ex->rt->al, ex->result,
                                ex->rt->cfg.max_result_bytes, NULL);
        if (over >= 0)
          *v = (signed char)over;
      } else
        over = *v;
    } else
      over = gavel__json_over(&ex->rt->al, ex->result,
                              ex->rt->cfg.max_result_bytes, NULL);
    if (over < 0)
      st = xfail(ex, GAVEL_NOMEM, "out of memory");
    else if (over)
      st = xfail(ex, GAVEL_LIMIT,
                 "Limit exceeded: result larger than %zu bytes "
                 "(max_result_bytes)",
                 ex->rt->cfg.max_result_bytes);
  }
  if (st != GAVEL_OK && ex->state != XS_FAILED)
    xfail(ex, st, "%s", gavel_strerror(st));
  if (ex->rt->n_observers)
    observe_run(ex, st);
  if (st == GAVEL_OK)
    return st;
  return gavel__errorf(err, ex->fail_st, "%s", ex->fail_msg);
}

/* ==== The straight path ==== */

/* Has 'p' an instruction calling a builtin (which may check the run's
** deadline)? */
static int has_call(const gv_program *p) {
  uint32_t w;
  if (!p)
    return 0;
  for (w = 0; w < p->n_code; w += (uint32_t)gavel__op_words(GET_OP(p->code[w])))
    if (GET_OP(p->code[w]) == OP_CALL)
      return 1;
  return 0;
}

/* A main graph of decisions without actions and terminals (no action
** steps, sub-rules, host calls or call_rule_set): 1, or 2 when a program
** calls builtins; 0 otherwise. */
static int straight_kind(const gavel_ruleset *rs) {
  const gv_graph *g = &rs->graphs[0];
  int i, k, calls = 0;
  for (i = 0; i < g->n_steps; i++) {
    const gv_step *s = &g->steps[i];
    if (s->type == ST_DECISION) {
      calls |= has_call(s->fused);
      for (k = 0; k < s->n_branches; k++) {
        if (s->branches[k].n_actions)
          return 0;
        calls |= has_call(s->branches[k].cond);
      }
    } else if (s->type == ST_TERMINAL) {
      for (k = 0; k < s->n_outs; k++)
        calls |= has_call(s->outs[k]);
    } else
      return 0;
  }
  return calls ? 2 : 1;
}

/* ==== Decision chains ====
** Graphs of decisions ending in terminals with prebuilt results, unrolled
** from the entry into a tree (jit.h) whose leaves know their terminal,
** depth and gas, and compiled into one native function.  A chain run
** binds the inputs, calls it, and finishes exactly as the straight path
** does on that path: the same result, step count and gas.  The chain
** returns -1 (any value its templates do not finish inline), and a leaf
** over the step cap or the gas budget, fall through to the straight path,
** which starts from scratch (the chain had no side effect). */
#define CHAIN_MAX_STEPS 15   /* steps per path: the timeout is first checked
                                at the 16th (straight_run)               */
#define CHAIN_MAX_LEAVES 1024 /* paths per chain                         */

typedef struct chainleaf {
  int32_t step;   /* the terminal                          */
  uint32_t depth; /* decisions before it                   */
  int64_t gas;    /* charged on the path (steps, programs) */
  int ok;         /* within the step cap and the gas budget
                     (both fixed per exec): else the
                     straight path reports the limit       */
  const gvalue *fixed; /* the terminal's prebuilt result    */
} chainleaf;

typedef struct cbuild {
  const gv_graph *g;
  gv_chainnode nodes[GV_CHAIN_MAX_NODES];
  uint32_t n_nodes;
  chainleaf *leaves; /* malloc'ed while building */
  uint32_t n_leaves;
  int oom;
} cbuild;

/* The successor for 'step' reached after 'depth' decisions that charged
** 'gas' (GV_CHAIN_FAIL where the chain cannot follow: the straight path
** then decides). */
static int32_t chain_visit(cbuild *b, int step, uint32_t depth, int64_t gas) {
  const gv_step *s;
  int32_t *next;
  uint32_t id;
  int k;
  if (step < 0 || step >= b->g->n_steps || depth >= CHAIN_MAX_STEPS ||
      b->oom)
    return GV_CHAIN_FAIL;
  s = &b->g->steps[step];
  gas += GAVEL_GAS_STEP;
  if (s->type == ST_TERMINAL) {
    chainleaf *nl;
    if (s->fixed.tag != GV_OBJ || b->n_leaves == CHAIN_MAX_LEAVES)
      return GV_CHAIN_FAIL; /* outputs read the input: the straight path */
    if (!(b->n_leaves & 15)) {
      nl = realloc(b->leaves, (b->n_leaves + 16) * sizeof *nl);
      if (!nl) {
        b->oom = 1;
        return GV_CHAIN_FAIL;
      }
      b->leaves = nl;
    }
    b->leaves[b->n_leaves].step = step;
    b->leaves[b->n_leaves].depth = depth;
    b->leaves[b->n_leaves].gas = gas;
    b->leaves[b->n_leaves].ok = 0;
    b->leaves[b->n_leaves].fixed = &s->fixed;
    return GV_CHAIN_LEAF(b->n_leaves++);
  }
  if (s->type != ST_DECISION || s->n_branches < 1)
    return GV_CHAIN_FAIL;
  if (!s->fused && s->n_branches == 1 && !s->branches[0].cond)
    /* an "always" branch: no program, the next step */
    return chain_visit(b, s->branches[0].next, depth + 1, gas);
  if ((!s->fused && s->n_branches != 1) || b->n_nodes == GV_CHAIN_MAX_NODES)
    return GV_CHAIN_FAIL;
  next = malloc((size_t)s->n_branches * sizeof *next);
  if (!next) {
    b->oom = 1;
    return GV_CHAIN_FAIL;
  }
  id = b->n_nodes++; /* before its successors: a tree in preorder */
  /* the fused program (a branch index), or a lone branch's condition
  ** (its truthiness), charged as take_branch / branch_scan do */
  b->nodes[id].prog = s->fused ? s->fused : s->branches[0].cond;
  b->nodes[id].truthy = !s->fused;
  b->nodes[id].next = next;
  b->nodes[id].n_next = (uint32_t)s->n_branches;
  gas += b->nodes[id].prog->gas;
  for (k = 0; k < s->n_branches; k++)
    next[k] = chain_visit(b, s->branches[k].next, depth + 1, gas);
  b->nodes[id].dflt = chain_visit(b, s->default_next, depth + 1, gas);
  return (int32_t)id;
}

/* Asks the ruleset's code owner for the chain (compiling it the first
** time) and keeps this exec's leaf table.  The unrolling is deterministic,
** so every exec numbers the leaves as the compiled code does. */
static void chain_setup(gavel_exec *ex) {
  const gv_graph *g = &ex->rs->graphs[0];
  const gavel__alloc *al = &ex->rt->al;
  cbuild b;
  uint32_t i;
  gv_chainfn fn = NULL;
  memset(&b, 0, sizeof b);
  b.g = g;
  if (ex->fixed_over && chain_visit(&b, g->entry, 0, 0) == 0 && !b.oom &&
      b.n_leaves) {
    fn = gavel__jit_chain(ex->rs->jit, &g->st, b.nodes, b.n_nodes);
    if (fn) {
      ex->leaves = gavel__malloc(al, b.n_leaves * sizeof *ex->leaves);
      if (ex->leaves) {
        const gavel_config *c = &ex->rt->cfg;
        uint32_t max_depth = ex->rs->max_depth < c->max_steps
                                 ? ex->rs->max_depth
                                 : (uint32_t)c->max_steps;
        uint64_t gas = ex->rs->gas_limit < c->max_gas ? ex->rs->gas_limit
                                                      : c->max_gas;
        memcpy(ex->leaves, b.leaves, b.n_leaves * sizeof *ex->leaves);
        for (i = 0; i < b.n_leaves; i++)
          ex->leaves[i].ok = ex->leaves[i].depth < max_depth &&
                             (uint64_t)ex->leaves[i].gas <= gas;
        ex->n_leaves = b.n_leaves;
        ex->chain_gas = gas;
        ex->chain_capped = ex->rs->gas_limit > c->max_gas;
        ex->chain = fn;
      }
    }
  }
  for (i = 0; i < b.n_nodes; i++)
    free((void *)b.nodes[i].next);
  free(b.leaves);
}

/* Tier-up of the straight path: the compiled binder and (graphs without
** builtin calls) the chain.  Asked once; again after as many runs when
** another thread was compiling them. */
static void jit_setup(gavel_exec *ex) {
  gv_jitown *o = ex->rs->jit;
  uint32_t again;
  ex->chain_wait = UINT32_MAX;
  if (!ex->binder && !getenv("GAVEL_NO_BINDER"))
    ex->binder = gavel__jit_binder(o, &ex->rs->graphs[0].st);
  if (ex->straight == 1 && ex->fixed_over && !ex->chain &&
      !getenv("GAVEL_NO_CHAIN"))
    chain_setup(ex);
  if ((!ex->binder && !gavel__jit_binder_tried(o)) ||
      (ex->straight == 1 && !ex->chain && !gavel__jit_chain_tried(o))) {
    again = gavel__jit_chain_after(o);
    ex->chain_wait = again ? again : 1;
  }
}

/* Finishes a run whose chain returned leaf 'r' as the straight path
** would have on that path: 0, or 1 when the leaf is over a limit (the
** straight path reports it). */
static int chain_finish(gavel_exec *ex, int r) {
  const chainleaf *lf;
  if (r < 0 || (uint32_t)r >= ex->n_leaves || !ex->leaves[r].ok)
    return 1;
  lf = &ex->leaves[r];
  ex->vrt.gas -= lf->gas;
  ex->n_steps = lf->depth + 1;
  ex->result = *lf->fixed;
  ex->res_fixed = lf->step;
  ex->state = XS_DONE;
  return 0;
}

/* A run of such a graph without trace or observers: no frame push, no
** phase machine, and (kind 1) no clock read before step 16, where the
** timeout is first checked (kind 2 reads it at the start: builtins check
** the deadline).  It finishes runs that succeed (0) or time out (2, the
** general path's message); on anything else it returns 1 and the run
** starts again on the general path, from scratch (nothing it did is
** visible: no actions, no host calls, no trace), so results, errors and
** limits are the scheduler's. */
#define STRAIGHT_LOCAL 16 /* slots / variables kept on the C stack */

static int straight_run(gavel_exec *ex, gvalue input) {
  const gavel_ruleset *rs = ex->rs;
  const gv_graph *g = &rs->graphs[0];
  const gavel_config *c = &ex->rt->cfg;
  xframe fr;
  uint32_t i, steps = 0;
  gvalue res, slots_local[STRAIGHT_LOCAL], vars_local[STRAIGHT_LOCAL];
  fr.rs = rs;
  fr.g = g;
  fr.kind = FK_TOP;
  fr.step = g->entry;
  fr.depth = 0;
  fr.ceil = 0;
  fr.timeout_ms = 0;
  fr.max_depth = rs->max_depth < c->max_steps ? rs->max_depth
                                              : (uint32_t)c->max_steps;
  if (ex->straight == 2)
    frame_bounds(ex, &fr, rs); /* builtins check the deadline */
  /* Slots and variables live only for this call (values are copied out
  ** of them), so small ones go on the C stack instead of the arena. */
  fr.slots = g->st.n_inputs < STRAIGHT_LOCAL
                 ? slots_local
                 : gavel__arena_alloc(&ex->arena,
                                      (g->st.n_inputs + 1) * sizeof(gvalue));
  fr.vars = g->st.n_vars < STRAIGHT_LOCAL
                ? vars_local
                : gavel__arena_alloc(&ex->arena,
                                     (g->st.n_vars + 1) * sizeof(gvalue));
  if (!fr.slots || !fr.vars)
    return 1;
  if (ex->binder && ex->binder(&input, ex->memo, fr.slots) == 0)
    ; /* bound by compiled code */
  else if (ex->plan)
    gavel__bind_run(ex->plan, input, fr.slots);
  else if (gavel__bind_walk(&ex->arena, &g->st, input, fr.slots) != GAVEL_OK)
    return 1;
  for (i = 0; i < g->st.n_vars; i++)
    fr.vars[i] = gv_missing();
  for (;;) {
    const gv_step *s = &g->steps[fr.step];
    if ((++steps & 15) == 0) {
      /* The general path's check every 16 steps; the clock is read for
      ** the first time here (kind 1), so the run's timeout counts from
      ** its 16th step. */
      if (!ex->vrt.deadline_ns)
        frame_bounds(ex, &fr, rs);
      if (coarse_ns() >= ex->vrt.deadline_ns) {
        xfail(ex, GAVEL_EXEC, "Execution timeout: %llums%s",
              (unsigned long long)fr.timeout_ms,
              fr.ceil & CEIL_TIME ? " (host ceiling max_timeout_ms)" : "");
        return 2;
      }
    }
    if (fr.depth >= fr.max_depth || gavel__rt_charge(&ex->vrt, GAVEL_GAS_STEP))
      return 1;
    if (s->type == ST_TERMINAL) {
      if (terminal(ex, &fr, s, &res) != GAVEL_OK)
        return 1;
      ex->n_steps = steps;
      ex->result = res;
      if (s->fixed.tag == GV_OBJ && res.u.o == s->fixed.u.o &&
          ex->fixed_over)
        ex->res_fixed = (int)(s - g->steps);
      ex->state = XS_DONE;
      return 0;
    }
    if (s->fused) {
      /* take_branch without its frame bookkeeping: the fused program
      ** gives the branch index; the next step follows from it alone (no
      ** branch has actions here).  On an error, take_branch's own
      ** continuation: a gas error ends this path, others clear and scan
      ** the conditions one by one. */
      gvalue v;
      gv_frame f;
      f.slots = fr.slots;
      f.vars = fr.vars;
      f.rt = &ex->vrt;
      f.err_pos = -1;
      if (gavel__exec(s->fused, &f, &v) == 0) {
        int b = v.u.i < 0 ? s->n_branches : (int)v.u.i;
        int next = b < s->n_branches ? s->branches[b].next : s->default_next;
        if (next < 0)
          return 1; /* no branch, no default: the general path's error */
        fr.depth++;
        fr.step = next;
        continue;
      }
      if (ex->vrt.ekind == GV_E_GAS)
        return 1;
      clear_err(ex);
      if (branch_scan(ex, &fr, s) != GAVEL_OK)
        return 1;
    } else if (take_branch(ex, &fr, s) != GAVEL_OK)
      return 1;
    fr.depth++;
    fr.step = fr.next;
  }
}

static GAVEL_NOINLINE gavel_status run_value(gavel_exec *ex, gvalue input,
                                             unsigned flags, gavel_error *err,
                                             int cr);

gavel_status gavel__exec_run_value(gavel_exec *ex, gvalue input,
                                   unsigned flags, gavel_error *err) {
  int cr = -1; /* the chain's leaf, or -1 */
  if (ex->chain && !(flags & GAVEL_RUN_TRACE) && !ex->rs->enable_trace) {
    const chainleaf *lf;
    uint64_t t0 = ex->rt->n_observers ? gavel__tick_ns() : 0;
    cr = ex->chain(&input, ex->memo);
    if ((uint32_t)cr < ex->n_leaves && (lf = &ex->leaves[cr])->ok &&
        ex->fixed_over[lf->step] == 0) {
      /* The whole run: the state run_value and chain_finish leave, and
      ** finish()'s verdict on the prebuilt result, known to fit. */
      gavel__error_clear(err);
      ex->flags = flags;
      ex->vrt.ekind = GV_E_NONE;
      ex->vrt.emsg[0] = 0;
      ex->vrt.fn_name = NULL;
      ex->vrt.arena = &ex->arena;
      ex->gas_limit = ex->chain_gas;
      ex->gas_capped = ex->chain_capped;
      ex->vrt.gas = (int64_t)ex->chain_gas - lf->gas;
      ex->vrt.gas_limit = ex->chain_gas;
      ex->vrt.deadline_ns = 0;
      ex->n_frames = 0;
      ex->trace_id = 0;
      ex->n_steps = lf->depth + 1;
      ex->result = *lf->fixed;
      ex->res_fixed = lf->step;
      ex->state = XS_DONE;
      if (ex->rt->n_observers) { /* what run_value and finish() do */
        ex->trace_id = take_trace_id();
        ex->t_run = t0;
        observe_run(ex, GAVEL_OK);
      }
      return GAVEL_OK;
    }
  }
  return run_value(ex, input, flags, err, cr);
}

static GAVEL_NOINLINE gavel_status run_value(gavel_exec *ex, gvalue input,
                                             unsigned flags, gavel_error *err,
                                             int cr) {
  gavel_status st;
  gavel__error_clear(err);
  ex->flags = flags | (ex->rs->enable_trace ? GAVEL_RUN_TRACE : 0);
  /* field by field: zeroing the 512-byte message buffer cost 15% of a
  ** small run */
  ex->vrt.ekind = GV_E_NONE;
  ex->vrt.emsg[0] = 0;
  ex->vrt.fn_name = NULL;
  ex->vrt.arena = &ex->arena;
  ex->gas_limit = ex->rs->gas_limit;
  ex->gas_capped = ex->gas_limit > ex->rt->cfg.max_gas;
  if (ex->gas_capped)
    ex->gas_limit = ex->rt->cfg.max_gas;
  ex->vrt.gas = (int64_t)ex->gas_limit;
  ex->vrt.gas_limit = ex->gas_limit;
  ex->vrt.deadline_ns = 0; /* set by the top frame */
  ex->n_steps = 0;
  ex->state = XS_IDLE;
  ex->n_frames = 0;
  ex->res_fixed = -1;
  ex->trace_id = 0; /* taken on demand: observers, host calls */
  if (ex->rt->n_observers) {
    ex->trace_id = take_trace_id();
    ex->t_run = gavel__tick_ns();
  }
  /* Observers see the straight path's runs as the general path's: the
  ** run event is sent by finish() (no host call, no action runs here). */
  if (ex->straight && !(ex->flags & GAVEL_RUN_TRACE)) {
    int r;
    if (ex->chain) {
      if (chain_finish(ex, cr) == 0)
        return finish(ex, GAVEL_OK, err);
    } else if (ex->chain_wait != UINT32_MAX && --ex->chain_wait == 0)
      jit_setup(ex);
    r = straight_run(ex, input);
    if (r == 0)
      return finish(ex, GAVEL_OK, err);
    if (r == 2)
      return finish(ex, ex->fail_st, err);
    /* not finished there: the general path, from the start */
    ex->vrt.ekind = GV_E_NONE;
    ex->vrt.emsg[0] = 0;
    ex->vrt.fn_name = NULL;
    ex->vrt.gas = (int64_t)ex->gas_limit;
    ex->vrt.deadline_ns = 0;
    ex->n_steps = 0;
    ex->state = XS_IDLE;
    ex->fail_st = GAVEL_OK;
    ex->fail_msg[0] = 0;
  }
  st = push_frame(ex, ex->rs, &ex->rs->graphs[0], FK_TOP, input);
  if (st == GAVEL_OK)
    st = run_loop(ex);
  return finish(ex, st, err);
}

gavel_status gavel__exec_resume_value(gavel_exec *ex, int is_error,
                                      gvalue payload, gvalue metadata,
                                      const char *errmsg, gavel_error *err) {
  const gv_action *a = ex->pact;
  const gv_provider *pv;
  xframe *fr;
  gavel_status st;
  long delay;
  char msg[GAVEL_ERRMSG_SIZE];
  const char *outcome;
  gavel__error_clear(err);
  if (ex->state != XS_PENDING || !a)
    return gavel__errorf(err, GAVEL_MISUSE, "no host call is pending");
  fr = &ex->frames[ex->n_frames - 1];
  pv = gavel__host_find(ex->rt, ex->req.capability->s, ex->req.capability->len);
  if (pv && ex->holds_slot)
    gavel__policy_release(pv);
  ex->holds_slot = 0;
  if (ex->arena.failed == 2) { /* the reply hit the run's memory cap */
    ex->pact = NULL;
    ex->state = XS_IDLE;
    return finish(ex, xnomem(ex), err);
  }
  delay = pv ? gavel__policy_after(pv, is_error, ex->req.operation,
                                   ex->req.attempt, &ex->rng)
             : -1;
  observe_call_d(ex, is_error ? (delay >= 0 ? "retry" : "error") : "ok",
                 is_error ? GAVEL_HOST : GAVEL_OK, is_error ? errmsg : NULL,
                 ex->t_call ? gavel__now_ns() - ex->t_call : 0, 1,
                 is_error ? NULL : &payload, is_error ? NULL : &metadata);
  if (trace_calls(ex) &&
      trace_call(ex, is_error ? (delay >= 0 ? "retry" : "error") : "ok",
                 ex->t_call ? gavel__now_ns() - ex->t_call : 0) != GAVEL_OK)
    return finish(ex, ex->fail_st, err);
  if (is_error && delay >= 0 && pv) {
    /* Retry: the same request again, after 'delay' ms (the host waits). */
    if (gavel__policy_admit(pv, msg, sizeof msg, &outcome)) {
      ex->pact = NULL;
      ex->state = XS_IDLE;
      observe_call(ex, outcome, GAVEL_HOST, msg, 0);
      return finish(ex, call_failed(ex, a, outcome, msg), err);
    }
    ex->req.attempt++;
    ex->req.delay_ms = (uint32_t)delay;
    ex->holds_slot = 1;
    ex->t_call = ex->rt->n_observers ? gavel__now_ns() : 0;
    return GAVEL_PENDING;
  }
  ex->pact = NULL;
  ex->state = XS_IDLE;
  if (is_error)
    st = call_failed(ex, a, "error", errmsg ? errmsg : "error");
  else
    st = host_result(ex, fr, a, payload, metadata);
  if (st == GAVEL_OK)
    st = run_loop(ex);
  return finish(ex, st, err);
}

gvalue gavel__exec_result(const gavel_exec *ex) { return ex->result; }

const gv_hostreq *gavel__exec_pending_req(const gavel_exec *ex) {
  return ex->state == XS_PENDING ? &ex->req : NULL;
}

const gv_metric_rec *gavel__exec_metrics(const gavel_exec *ex, int *n) {
  *n = ex->n_metrics;
  return ex->metrics;
}

int gavel__exec_jit_parts(const gavel_exec *ex) {
  return (ex->chain ? 1 : 0) | (ex->binder ? 2 : 0);
}

uint64_t gavel__exec_gas_used(const gavel_exec *ex) {
  return ex->gas_limit - (uint64_t)(ex->vrt.gas < 0 ? 0 : ex->vrt.gas);
}

gavel_status gavel_exec_new(gavel_ruleset *rs, gavel_exec **out,
                            gavel_error *err) {
  gavel_exec *ex;
  const gavel__alloc *al;
  gavel__error_clear(err);
  if (!rs || !out)
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_exec_new: NULL argument");
  al = &rs->rt->al;
  ex = gavel__malloc(al, sizeof *ex);
  if (!ex)
    return gavel__errorf(err, GAVEL_NOMEM, "out of memory");
  memset(ex, 0, sizeof *ex);
  ex->frames = gavel__malloc(al, MAX_FRAMES * sizeof(xframe));
  if (!ex->frames) {
    gavel__free(al, ex, sizeof *ex);
    return gavel__errorf(err, GAVEL_NOMEM, "out of memory");
  }
  ex->rs = rs;
  ex->rt = rs->rt;
  ex->straight = getenv("GAVEL_NO_STRAIGHT") ? 0 : straight_kind(rs);
  ex->res_fixed = -1;
  ex->chain_wait = UINT32_MAX;
  if (ex->straight && !getenv("GAVEL_NO_BINDPLAN"))
    ex->plan = gavel__bind_plan(al, &rs->graphs[0].st); /* NULL: walk */
  if (ex->straight) {
    /* without it the straight path still runs, checking every result */
    int n = rs->graphs[0].n_steps;
    ex->fixed_over = gavel__malloc(al, (size_t)n + 1);
    if (ex->fixed_over) {
      ex->n_fixed_over = (size_t)n + 1;
      memset(ex->fixed_over, FIXED_UNKNOWN, ex->n_fixed_over);
      ex->fixed_text = gavel__malloc(al, ex->n_fixed_over * sizeof(char *));
      ex->fixed_len = gavel__malloc(al, ex->n_fixed_over * sizeof(size_t));
      if (ex->fixed_text && ex->fixed_len)
        memset(ex->fixed_text, 0, ex->n_fixed_over * sizeof(char *));
      else {
        if (ex->fixed_text)
          gavel__free(al, ex->fixed_text, ex->n_fixed_over * sizeof(char *));
        if (ex->fixed_len)
          gavel__free(al, ex->fixed_len, ex->n_fixed_over * sizeof(size_t));
        ex->fixed_text = NULL;
        ex->fixed_len = NULL;
      }
    }
  }
  if (ex->straight && rs->jit) {
    /* jit=on: compiled now; auto: after as many straight runs as the
    ** tier-up threshold */
    ex->chain_wait = gavel__jit_chain_after(rs->jit);
    if (ex->chain_wait == 0 || gavel__jit_chain_tried(rs->jit) ||
        gavel__jit_binder_tried(rs->jit))
      jit_setup(ex); /* or another exec of the ruleset tiered it up */
  }
  gavel__arena_init(&ex->arena, al, rs->rt->cfg.max_run_bytes);
  gavel__buf_init(&ex->out, al);
  gavel__buf_init(&ex->tmp, al);
  *out = ex;
  return GAVEL_OK;
}

void gavel_exec_free(gavel_exec *ex) {
  const gavel__alloc *al;
  if (!ex)
    return;
  al = &ex->rt->al;
  gavel__arena_free(&ex->arena);
  gavel__buf_free(&ex->out);
  gavel__buf_free(&ex->tmp);
  gavel__free(al, ex->frames, MAX_FRAMES * sizeof(xframe));
  if (ex->fixed_text) {
    size_t i;
    for (i = 0; i < ex->n_fixed_over; i++)
      if (ex->fixed_text[i])
        gavel__free(al, ex->fixed_text[i], ex->fixed_len[i] + 1);
    gavel__free(al, ex->fixed_text, ex->n_fixed_over * sizeof(char *));
    gavel__free(al, ex->fixed_len, ex->n_fixed_over * sizeof(size_t));
  }
  if (ex->fixed_over)
    gavel__free(al, ex->fixed_over, ex->n_fixed_over);
  if (ex->leaves)
    gavel__free(al, ex->leaves, ex->n_leaves * sizeof *ex->leaves);
  gavel__bind_plan_free(al, ex->plan);
  gavel__free(al, ex, sizeof *ex);
}

/* Writes {"code","message","output"[,"trace"]} for the finished run. */
static gavel_status write_result(gavel_exec *ex, const char **out,
                                 size_t *out_len, gavel_error *err) {
  gv_buf *b = &ex->out;
  gvalue r = ex->result;
  uint32_t i;
  int t, w = 0; /* gavel__json_write_checked: -2 when a float is inf/NaN */
  if (ex->out_ready && (!(ex->flags & GAVEL_RUN_TRACE) || r.tag != GV_OBJ)) {
    ex->out_ready = 0; /* written for the observers (observe_run) */
    *out = b->p;
    if (out_len)
      *out_len = b->len;
    return GAVEL_OK;
  }
  ex->out_ready = 0;
  if (ex->res_fixed >= 0 && !(ex->flags & GAVEL_RUN_TRACE)) {
    /* A prebuilt result (immutable): its text, written once. */
    size_t n;
    const char *txt = fixed_result_text(ex, &n);
    if (txt) {
      *out = txt;
      if (out_len)
        *out_len = n;
      return GAVEL_OK;
    }
  }
  gavel__buf_clear(b);
  if (!(ex->flags & GAVEL_RUN_TRACE) || r.tag != GV_OBJ) {
    w = gavel__json_write_checked(b, r);
  } else {
    /* The result object with a trace member appended. */
    gavel__buf_addc(b, '{');
    for (i = 0; i < r.u.o->len; i++) {
      gavel__json_write_str(b, r.u.o->keys[i]->s, r.u.o->keys[i]->len);
      gavel__buf_addc(b, ':');
      if (gavel__json_write_checked(b, r.u.o->vals[i]) == -2)
        w = -2;
      gavel__buf_addc(b, ',');
    }
    gavel__buf_adds(b, "\"trace\":{\"path\":\"");
    for (t = 0; t < ex->n_trace; t++) {
      const gv_str *id = ex->trace[t].step->id;
      gv_buf tmp;
      if (t)
        gavel__buf_adds(b, " -> ");
      gavel__buf_init(&tmp, b->al);
      gavel__json_write_str(&tmp, id->s, id->len);
      if (tmp.len >= 2)
        gavel__buf_add(b, tmp.p + 1, tmp.len - 2); /* escaped, unquoted */
      gavel__buf_free(&tmp);
    }
    gavel__buf_adds(b, "\",\"steps\":[");
    for (t = 0; t < ex->n_trace; t++) {
      const gv_step *s = ex->trace[t].step;
      gavel__buf_adds(b, t ? ",{\"id\":" : "{\"id\":");
      gavel__json_write_str(b, s->id->s, s->id->len);
      gavel__buf_adds(b, ",\"name\":");
      gavel__json_write_str(b, s->name->s, s->name->len);
      /* decisions: which branch (0-based, in the document's order) */
      if (ex->trace[t].branch >= 0)
        gavel__buf_addf(b, ",\"branch\":%d", ex->trace[t].branch);
      else if (ex->trace[t].branch == TAKEN_DEFAULT)
        gavel__buf_adds(b, ",\"branch\":\"default\"");
      gavel__buf_addf(b, ",\"duration_us\":%llu}",
                      (unsigned long long)(ex->trace[t].ns / 1000u));
    }
    gavel__buf_addc(b, ']');
    if (ex->n_calls) {
      gavel__buf_adds(b, ",\"calls\":[");
      for (t = 0; t < ex->n_calls; t++) {
        const call_rec *c = &ex->calls[t];
        gavel__buf_adds(b, t ? ",{\"capability\":" : "{\"capability\":");
        gavel__json_write_str(b, c->capability->s, c->capability->len);
        gavel__buf_adds(b, ",\"operation\":");
        gavel__json_write_str(b, c->operation->s, c->operation->len);
        gavel__buf_adds(b, ",\"action\":");
        gavel__json_write_str(b, c->path, strlen(c->path));
        gavel__buf_addf(b, ",\"attempt\":%u,\"outcome\":\"%s\","
                        "\"duration_us\":%llu}",
                        c->attempt, c->outcome,
                        (unsigned long long)(c->ns / 1000u));
      }
      gavel__buf_addc(b, ']');
    }
    gavel__buf_adds(b, "}}");
  }
  if (b->oom)
    return gavel__errorf(err, GAVEL_NOMEM, "out of memory writing result");
  if (w == -2) /* never a silent null: JSON has no inf or NaN */
    return gavel__errorf(err, GAVEL_EXEC,
                         "Evaluation error: the result holds a non-finite "
                         "float (inf or NaN has no JSON form)");
  if (b->len > ex->rt->cfg.max_result_bytes) /* the trace made it larger */
    return gavel__errorf(err, GAVEL_LIMIT,
                         "Limit exceeded: result larger than %zu bytes "
                         "(max_result_bytes)",
                         ex->rt->cfg.max_result_bytes);
  *out = b->p;
  if (out_len)
    *out_len = b->len;
  return GAVEL_OK;
}

gavel_status gavel__exec_write_result(gavel_exec *ex, const char **out,
                                      size_t *out_len, gavel_error *err) {
  return write_result(ex, out, out_len, err);
}

gavel_status gavel_exec_run_json(gavel_exec *ex, const char *input,
                                 size_t input_len, unsigned flags,
                                 const char **out, size_t *out_len,
                                 gavel_error *err) {
  gvalue root = gv_null();
  gavel_status st;
  gavel__error_clear(err);
  if (!ex || !out)
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_exec_run_json: NULL argument");
  gavel__exec_prepare(ex);
  if (input && input_len) {
    if (input_len > ex->rt->cfg.max_input_bytes)
      return gavel__errorf(err, GAVEL_LIMIT,
                           "input too large: %zu bytes (max %zu)", input_len,
                           ex->rt->cfg.max_input_bytes);
    st = gavel__json_parse(&ex->arena, input, input_len,
                           ex->rs->graphs[0].proj, &root, err);
    if (st != GAVEL_OK && ex->arena.failed == 2)
      return gavel__errorf(err, GAVEL_LIMIT,
                           "Limit exceeded: run memory over %zu bytes "
                           "(max_run_bytes) parsing the input",
                           ex->arena.limit);
    if (st != GAVEL_OK)
      return st;
  }
  ex->in_text = input;
  ex->in_len = input_len;
  st = gavel__exec_run_value(ex, root, flags, err);
  if (st == GAVEL_PENDING && ex->in_text && ex->rt->n_observers) {
    /* The caller's input text may be gone when the run ends on a later
    ** resume: the observers (RUN event) get a copy in the run arena. */
    ex->in_text = gavel__arena_dup(&ex->arena, input, input_len);
    if (!ex->in_text)
      ex->in_len = 0;
  }
  if (st != GAVEL_OK)
    return st;
  return write_result(ex, out, out_len, err);
}

gavel_status gavel_exec_pending(gavel_exec *ex, gavel_host_call *call,
                                gavel_error *err) {
  gavel__error_clear(err);
  if (!ex || !call || ex->state != XS_PENDING)
    return gavel__errorf(err, GAVEL_MISUSE, "no host call is pending");
  gavel__buf_clear(&ex->tmp);
  gavel__json_write(&ex->tmp, ex->req.params);
  if (ex->tmp.oom)
    return gavel__errorf(err, GAVEL_NOMEM, "out of memory");
  call->capability = ex->req.capability->s;
  call->operation = ex->req.operation->s;
  call->params = ex->tmp.p;
  call->params_len = ex->tmp.len;
  call->timeout_ms = ex->req.timeout_ms;
  call->ruleset = ex->req.ruleset;
  call->path = ex->req.path;
  call->delay_ms = ex->req.delay_ms;
  call->attempt = ex->req.attempt;
  call->http_allow = ex->req.allow;
  call->n_http_allow = ex->req.n_allow;
  call->trace_id = ex->req.trace_id;
  return GAVEL_OK;
}

static gavel_status resume_common(gavel_exec *ex, int is_error, gvalue payload,
                                  gvalue metadata, const char *msg,
                                  const char **out, size_t *out_len,
                                  gavel_error *err) {
  gavel_status st =
      gavel__exec_resume_value(ex, is_error, payload, metadata, msg, err);
  if (st != GAVEL_OK)
    return st;
  return write_result(ex, out, out_len, err);
}

gavel_status gavel_exec_resume_json(gavel_exec *ex, const char *payload,
                                    size_t payload_len, const char *metadata,
                                    size_t metadata_len, const char **out,
                                    size_t *out_len, gavel_error *err) {
  gvalue p = gv_null(), m = gv_null();
  gavel_error e;
  gavel__error_clear(err);
  if (!ex || !out || ex->state != XS_PENDING)
    return gavel__errorf(err, GAVEL_MISUSE, "no host call is pending");
  if (payload && payload_len &&
      gavel__json_parse(&ex->arena, payload, payload_len, NULL, &p, &e) !=
          GAVEL_OK) {
    char msg[GAVEL_ERRMSG_SIZE];
    snprintf(msg, sizeof msg, "provider returned invalid JSON: %.400s", e.msg);
    return resume_common(ex, 1, p, m, msg, out, out_len, err);
  }
  if (metadata && metadata_len &&
      gavel__json_parse(&ex->arena, metadata, metadata_len, NULL, &m, &e) !=
          GAVEL_OK) {
    char msg[GAVEL_ERRMSG_SIZE];
    snprintf(msg, sizeof msg, "provider returned invalid metadata: %.400s", e.msg);
    return resume_common(ex, 1, p, m, msg, out, out_len, err);
  }
  return resume_common(ex, 0, p, m, NULL, out, out_len, err);
}

gavel_status gavel_exec_resume_error(gavel_exec *ex, const char *message,
                                     const char **out, size_t *out_len,
                                     gavel_error *err) {
  gavel__error_clear(err);
  if (!ex || !out || ex->state != XS_PENDING)
    return gavel__errorf(err, GAVEL_MISUSE, "no host call is pending");
  return resume_common(ex, 1, gv_null(), gv_null(), message, out, out_len, err);
}

void gavel_exec_abandon(gavel_exec *ex) {
  if (ex)
    gavel__exec_prepare(ex);
}
