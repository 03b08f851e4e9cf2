/*
** ops.h -- operator semantics shared by the VM's slow paths, the constant
** folder and (later) the JIT's out-of-line stubs: one implementation of
** Ordo's arithmetic, comparison, membership and path walking.
*/
#ifndef GAVEL_OPS_H
#define GAVEL_OPS_H

#include "expr.h"
#include "value.h"

typedef enum gv_cmpop { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE } gv_cmpop;
typedef enum gv_arop { AR_ADD, AR_SUB, AR_MUL, AR_DIV, AR_MOD } gv_arop;

/* Each returns 0 on success, or records an error in 'rt' and returns 1. */
int gavel__op_arith(gv_rt *rt, gv_arop op, gvalue a, gvalue b, gvalue *out);
int gavel__op_neg(gv_rt *rt, gvalue a, gvalue *out);

int gavel__op_compare(gv_rt *rt, gv_cmpop op, gvalue a, gvalue b, int *res);
/* 'v in coll': array membership (strict equality) or substring. */
int gavel__op_in(gv_rt *rt, gvalue v, gvalue coll, int *res);

/* Walks 'segs' from 'root'.  Returns 1 and sets *out when found, 0 when a
** segment is missing, -1 when the arena failed (wildcards build arrays). */
int gavel__path_walk(gv_arena *a, gvalue root, const gx_seg *segs, int n,
                     gvalue *out);

#endif
