/*
** rules.h -- the loaded ruleset: a compiled step graph.
**
** Built by load.c (stage 1), executed by sched.c (stage 4).  Everything a
** run needs is resolved here: steps are indices, expressions are programs,
** input paths are slots, '$variables' are variable indices.  The whole
** structure lives in the ruleset's arena and is immutable after loading,
** so one ruleset may be run by many threads at once.
*/
#ifndef GAVEL_RULES_H
#define GAVEL_RULES_H

#include "bind.h"
#include "compile.h"

typedef enum gv_steptype { ST_DECISION, ST_ACTION, ST_TERMINAL, ST_SUBRULE } gv_steptype;
typedef enum gv_acttype { ACT_SET, ACT_LOG, ACT_METRIC, ACT_CALLRS, ACT_EXTCALL } gv_acttype;

typedef struct gv_action {
  gv_acttype type;       /* action kind                                   */
  const char *path;      /* JSON path ("steps.a.actions[0]") for messages */
  int var;               /* SET: target; CALLRS/EXTCALL: result var or -1 */
  gv_program *value;     /* SET/METRIC value; CALLRS input_mapping or NULL */
  gv_str *name;          /* SET/METRIC name, LOG message, CALLRS ruleset,  */
                         /* EXTCALL service (capability)                   */
  gv_str *method;        /* EXTCALL operation                              */
  gv_str *level;         /* LOG level                                      */
  gv_str **keys;         /* EXTCALL param names / METRIC tag keys          */
  gv_program **params;   /* EXTCALL param programs                         */
  gv_str **tagvals;      /* METRIC tag values (static strings)             */
  int n_keys;            /* number of params / tags                        */
  uint32_t timeout_ms;   /* EXTCALL timeout (0 = not sent)                 */
} gv_action;

typedef struct gv_branch {
  gv_program *cond;      /* NULL: always true                  */
  const char *path;      /* "steps.a.branches[1].condition"    */
  int next;              /* step index                         */
  gv_action *actions;    /* actions run when taken             */
  int n_actions;         /* number of actions                  */
} gv_branch;

typedef struct gv_step {
  gv_steptype type;      /* kind                                        */
  gv_str *key;           /* map key (navigation)                        */
  gv_str *id;            /* 'id' (trace, messages)                      */
  gv_str *name;          /* 'name'                                      */
  const char *path;      /* "steps.<key>"                               */
  gv_branch *branches;   /* decision branches                           */
  int n_branches;        /* count                                       */
  int default_next;      /* decision default, -1 if none                */
  gv_program *fused;     /* decision: all conditions in one program that
                            returns the branch index (or -1); NULL = none */
  gv_action *actions;    /* action step actions                         */
  int n_actions;         /* count                                       */
  int next;              /* action / sub_rule successor                 */
  gv_str *code;          /* terminal code                               */
  gv_str *message;       /* terminal message                            */
  gv_str **out_keys;     /* terminal output names                       */
  gv_program **outs;     /* terminal output programs                    */
  int n_outs;            /* count                                       */
  gvalue data;           /* terminal static data (object or null)       */
  gvalue fixed;          /* terminal without outputs: its whole result,
                            built at load (GV_MISSING otherwise)          */
  int sub;               /* sub_rule: graph index                       */
  gv_str **bind_keys;    /* sub_rule binding names (child input keys)   */
  gv_program **binds;    /* sub_rule binding programs (parent context)  */
  int n_binds;           /* count                                       */
  int *out_parent;       /* sub_rule outputs: parent variable indices   */
  int *out_child;        /* ... child variable indices                  */
  int n_outmaps;         /* count                                       */
} gv_step;

typedef struct gv_graph {
  gv_str *name;          /* "" for the main graph, else the sub-rule name */
  gv_step *steps;        /* steps                                        */
  int n_steps;           /* count                                        */
  int entry;             /* entry step index                             */
  gv_symtab st;          /* this graph's slots and variables             */
  gv_proj *proj;         /* projection of its input paths (NULL = all)   */
  uint32_t *key_hash;    /* index of steps by key (index + 1)            */
  uint32_t hcap;         /* buckets in key_hash                          */
  unsigned char *dangling; /* load only: per step, 1 when it references a
                              missing step (NULL: none does)              */
} gv_graph;

/* Keys of the objects every run builds, made once at load. */
enum { RK_CODE, RK_MESSAGE, RK_OUTPUT, RK_CAPABILITY, RK_OPERATION,
       RK_PAYLOAD, RK_METADATA, RK__COUNT };

struct gavel_ruleset {
  gavel_runtime *rt;     /* runtime (borrowed; must outlive the ruleset) */
  gv_arena arena;        /* everything below                             */
  gv_str *name;          /* config.name                                  */
  gv_str *version;       /* config.version                               */
  int strict;            /* field_missing strict/default                 */
  uint32_t max_depth;    /* config.max_depth                             */
  uint64_t timeout_ms;   /* config.timeout_ms (0 = none)                 */
  int enable_trace;      /* config.enable_trace                          */
  uint64_t gas_limit;    /* config.gas_limit (extension) or host default */
  gv_graph *graphs;      /* [0] main graph, then sub-rules               */
  int n_graphs;          /* count                                        */
  gv_str **caps;         /* capabilities the ruleset uses                */
  const char *const *http_allow; /* network.http allowlist (arena copy)  */
  size_t n_http_allow;   /* entries                                      */
  int metrics_granted;   /* metric actions may call metrics.prometheus   */
  int n_caps;            /* count                                        */
  gv_str *json;          /* unused: reserved                             */
  gv_arena *doc_arena;   /* arena of the parsed document (names, literals)*/
  gv_str *keys[RK__COUNT]; /* "code", "message", "output", ...           */
  gv_jitown *jit;        /* machine code of its programs (jit.c), or NULL */
};

#endif
