/*
** api_int.h -- internal entry points shared with the in-tree hosts (the
** CLI and the Lua module), which link the core statically.  Not installed.
*/
#ifndef GAVEL_API_INT_H
#define GAVEL_API_INT_H

#include "value.h"

const gavel__alloc *gavel__runtime_alloc(const gavel_runtime *rt);
const gavel_config *gavel__runtime_config(const gavel_runtime *rt);
/* Evaluates 'e' over an already parsed input (not allocated by 'e'); the
** result lives until the next evaluation of 'e', whose memory is reused. */
gavel_status gavel__expr_eval_value(gavel_expr *e, gvalue root, gvalue *res,
                                    gavel_error *err);

/* gavel_expr_disasm followed by the JIT's description of the machine
** code (size, per opcode native or left to the VM); '*code' receives the
** raw bytes (malloc'ed, NULL when not compiled) for an objdump listing. */
gavel_status gavel__expr_disasm_jit(gavel_expr *e, const char **out,
                                    unsigned char **code, size_t *code_len,
                                    gavel_error *err);
/* The compiled program of 'e' (tests of the JIT tier). */
const struct gv_program *gavel__expr_program(const gavel_expr *e);

#endif
