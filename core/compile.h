/*
** compile.h -- stage 2b: AST -> register bytecode program.
**
** A gv_symtab is shared by every program compiled for one rule graph: it
** turns input paths into slot numbers (bound once per run by the binder)
** and '$variables' into variable indices, so the VM never looks a name up.
** Programs and symtabs live in the caller's arena (the ruleset's or the
** standalone expression's) and are freed with it.
*/
#ifndef GAVEL_COMPILE_H
#define GAVEL_COMPILE_H

#include "expr.h"
#include "opcodes.h"
#include <stdatomic.h>

typedef struct gv_jitown gv_jitown; /* jit.c: a ruleset's code memory */
struct gv_program;

typedef struct gv_symtab {
  gv_arena *arena;     /* where entries are allocated               */
  gx_path **inputs;    /* input slot i reads path inputs[i]         */
  uint32_t n_inputs;   /* number of input slots                     */
  uint32_t cap_inputs; /* allocated                                  */
  gv_str **vars;       /* variable i is named vars[i] (without '$') */
  uint32_t n_vars;     /* number of variables                        */
  uint32_t cap_vars;   /* allocated                                  */
  int needs_root;      /* 1: some path is the whole input root       */
  uint32_t *in_hash;   /* open-addressing index of inputs (slot + 1) */
  uint32_t *var_hash;  /* ... of variables (index + 1)               */
  uint32_t hcap_in;    /* buckets in in_hash (power of two)          */
  uint32_t hcap_var;   /* buckets in var_hash                        */
  gv_jitown *jit;      /* programs compiled here may be JIT-compiled  */
  struct gv_program **jit_list; /* ... and are chained here (jit.c)  */
} gv_symtab;

void gavel__symtab_init(gv_symtab *st, gv_arena *a);
/* Slot of an input path (deduplicated by text); -1 on arena failure. */
int gavel__symtab_input(gv_symtab *st, gx_path *p);
/* Index of a variable (deduplicated by name); -1 on arena failure. */
int gavel__symtab_var(gv_symtab *st, const char *name, size_t len);

/* A variable reference with its trailing path ("$http.payload.status"). */
typedef struct gv_vpath {
  uint32_t var;     /* variable index                              */
  gx_seg *segs;     /* segments after the variable name            */
  int n_segs;       /* number of segments                          */
  gv_str *text;     /* the reference as written (for messages)     */
} gv_vpath;

/* A field-not-found handler: an error raised by an instruction in
** [start, end) resumes at 'target' (zero cost until an error happens). */
typedef struct gv_handler {
  uint32_t start;  /* first word covered         */
  uint32_t end;    /* one past the last word     */
  uint32_t target; /* where evaluation resumes   */
} gv_handler;

typedef struct gv_program {
  gv_ins *code;          /* instruction words                      */
  uint32_t n_code;       /* words in 'code'                        */
  gvalue *k;             /* constants                              */
  uint32_t n_k;          /* number of constants                    */
  gv_vpath *vpaths;      /* variable paths (LOADV/EXISTSV operand) */
  uint32_t n_vpaths;     /* number of variable paths               */
  uint32_t n_regs;       /* registers the program needs            */
  uint32_t gas;          /* static cost: charged once per run      */
  const gv_symtab *syms; /* slot/variable names (borrowed)         */
  gv_str *src;           /* source text (or NULL for JSON ASTs)    */
  int32_t *pos;          /* per word: byte offset in 'src', or -1  */
  gv_handler *handlers;  /* field-not-found handlers, innermost first */
  uint32_t n_handlers;   /* count                                   */
  uint32_t *swapped;     /* ascending pcs of comparisons compiled with
                            swapped operands ('1 < x' as 'x > 1'): their
                            errors name the operands in source order */
  uint32_t n_swapped;    /* count                                   */
  /* JIT tier (jit.c); all zero when the program has no code owner. */
  gv_jitown *jown;              /* code owner, NULL: VM only            */
  struct gv_program *jit_next;  /* next program of the same owner       */
  _Atomic(uintptr_t) jit_fn;    /* compiled entry (gv_jitfn), 0: VM     */
  _Atomic(uint32_t) jit_count;  /* VM runs counted towards tier-up      */
  _Atomic(uint32_t) jit_state;  /* 0 candidate, 1 compiled, 2 VM only   */
} gv_program;

typedef struct gv_copts {
  int strict_calls; /* 1: unknown functions / wrong arity are compile
                       errors (rulesets); 0: they raise at run time
                       (Ordo's behaviour, for 'gavel eval')            */
  int no_fold;      /* 1: skip constant folding (tests)               */
} gv_copts;

/* Compiles 'root' into '*out' (allocated in 'a').  Returns GAVEL_OK,
** GAVEL_COMPILE / GAVEL_LIMIT with err->msg "line:col: ..." (and err->line
** / err->column), or the arena's failure status. */
gavel_status gavel__compile(gv_arena *a, gv_symtab *st, gx_node *root,
                            gv_str *src, const gv_copts *opts,
                            gv_program **out, gavel_error *err);

/* Compiles a whole decision step into one program that returns the index
** (int) of the first branch whose condition is truthy, or -1.  conds[i]
** NULL or a truthy literal means "always" and ends the decision.  With
** 'lenient', a field-not-found inside a condition makes that condition
** false (a TRY handler per branch).  The program has no source
** positions: callers re-evaluate the branches one by one when it fails,
** to report the error exactly. */
gavel_status gavel__compile_decision(gv_arena *a, gv_symtab *st,
                                     gx_node *const *conds, int n, int lenient,
                                     gv_program **out, gavel_error *err);

/* Appends a listing of 'p' to 'b' (disasm.c). */
void gavel__disasm(gv_buf *b, const gv_program *p);

#endif
