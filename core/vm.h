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
int gavel__vm_run(const gv_program *p, gv_frame *f, gvalue *out);

#endif
