/*
** sched.h -- stage 4: the step scheduler (native, resumable executor).
*/
#ifndef GAVEL_SCHED_H
#define GAVEL_SCHED_H

#include "rules.h"
#include "runtime.h"

#define GAVEL_MAX_NESTING 10 /* sub-rule and call_rule_set nesting (Ordo) */
#define GAVEL_SUB_MAX_STEPS 1000 /* a sub-rule's fixed step cap (Ordo)    */
#define GAVEL_GAS_STEP 10     /* gas per step executed                    */
#define GAVEL_GAS_HOSTCALL 100 /* gas per host call                       */

/* One metric delivered to the built-in sink (no metrics provider). */
typedef struct gv_metric_rec {
  gv_str *name;  /* metric name               */
  double value;  /* value as f64              */
  gvalue tags;   /* object of string tags     */
} gv_metric_rec;

/* Starts a run over an input value (already in the exec's arena or
** longer-lived).  Returns GAVEL_OK, GAVEL_PENDING or an error. */
gavel_status gavel__exec_run_value(gavel_exec *ex, gvalue input,
                                   unsigned flags, gavel_error *err);
/* Resets the exec for a new run and returns its arena, for hosts that build
** the input value themselves before gavel__exec_run_value. */
gv_arena *gavel__exec_prepare(gavel_exec *ex);
/* Resumes a pending run: with payload/metadata (is_error 0) or with
** 'errmsg' (is_error 1). */
gavel_status gavel__exec_resume_value(gavel_exec *ex, int is_error,
                                      gvalue payload, gvalue metadata,
                                      const char *errmsg, gavel_error *err);
gvalue gavel__exec_result(const gavel_exec *ex);
/* The finished run's result as gavel_exec_run_json writes it (with the
** trace member when the run was traced), for hosts that started the run
** with gavel__exec_run_value. */
gavel_status gavel__exec_write_result(gavel_exec *ex, const char **out,
                                      size_t *out_len, gavel_error *err);
const gv_hostreq *gavel__exec_pending_req(const gavel_exec *ex);
/* Metrics delivered to the sink in the last run. */
const gv_metric_rec *gavel__exec_metrics(const gavel_exec *ex, int *n);
/* Compiled straight-path code 'ex' uses (tests): bit 0 the decision
** chain, bit 1 the input binder (jit.h). */
int gavel__exec_jit_parts(const gavel_exec *ex);
/* Gas used by the last run. */
uint64_t gavel__exec_gas_used(const gavel_exec *ex);

#endif
