/*
** vm.h -- stage 3a: the reference interpreter.
*/
#ifndef GAVEL_VM_H
#define GAVEL_VM_H

#include "compile.h"

/* What one evaluation reads and where it reports. */
typedef struct gv_frame {
  const gvalue *slots; /* bound input slots (GV_MISSING = absent)      */
  gvalue *vars;        /* variables (GV_MISSING = unset)               */
  gv_rt *rt;           /* arena for results, gas, pending error        */
  int32_t err_pos;     /* on failure: source offset, or -1             */
} gv_frame;

/* Runs 'p'.  Returns 0 with *out set, or 1 with the error in f->rt
** (ekind + emsg) and f->err_pos set.  Never allocates outside rt->arena;
** the fast paths allocate nothing at all. */
int gavel__vm_exec(const gv_program *p, gv_frame *f, gvalue *out,
                   gvalue *R, uint32_t start);
GAVEL_INLINE int gavel__vm_run(const gv_program *p, gv_frame *f, gvalue *out) {
  return gavel__vm_exec(p, f, out, NULL, 0);
}

/* Resuming (the JIT's cold exits, jit.c): with R != NULL the VM charges no
** gas and runs from word 'start' over the caller's register file R (at
** least p->n_regs values); with GV_VM_FAILED or'ed into 'start', the
** instruction at that word has just failed (its error is in f->rt) and the
** VM only applies the field-not-found handlers and the error position. */
#define GV_VM_FAILED 0x80000000u

#endif
