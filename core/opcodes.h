/*
** opcodes.h -- instruction encoding and the tables expanded from
** opcodes.def.  Shared by compile.c, vm.c and disasm.c.
*/
#ifndef GAVEL_OPCODES_H
#define GAVEL_OPCODES_H

#include "gavel_int.h"

#define OPF_MAYFAIL 1 /* the instruction can raise an error          */
#define OPF_JUMP 2    /* the instruction can change the pc           */

typedef enum gv_opfmt { ABC, ABx, AsBx, ABCJ } gv_opfmt;

typedef enum gv_op {
#define OP(name, fmt, flags, sem) OP_##name,
#include "opcodes.def"
#undef OP
  GAVEL_OP__COUNT
} gv_op;

_Static_assert(GAVEL_OP__COUNT <= 256, "opcodes must fit in 8 bits");
/* Comparison families are laid out in the same order (EQ NE LT LE GT GE):
** the compiler maps an operator to a family member by offset. */
_Static_assert(OP_GE - OP_EQ == 5 && OP_GEK - OP_EQK == 5 &&
                   OP_GESK - OP_EQSK == 5 && OP_JGEK - OP_JEQK == 5 &&
                   OP_JGESK - OP_JEQSK == 5,
               "comparison families must stay parallel");

extern const char *const gavel__op_names[GAVEL_OP__COUNT];
extern const unsigned char gavel__op_fmt[GAVEL_OP__COUNT];
extern const unsigned char gavel__op_flags[GAVEL_OP__COUNT];
extern const char *const gavel__op_sem[GAVEL_OP__COUNT];

typedef uint32_t gv_ins;

#define GET_OP(i) ((i)&0xff)
#define GET_A(i) (((i) >> 8) & 0xff)
#define GET_B(i) (((i) >> 16) & 0xff)
#define GET_C(i) (((i) >> 24) & 0xff)
#define GET_Bx(i) ((i) >> 16)
#define GET_sBx(i) ((int)(int16_t)((i) >> 16))

#define MK_ABC(op, a, b, c)                                                   \
  ((gv_ins)(op) | ((gv_ins)(a) << 8) | ((gv_ins)(b) << 16) |                 \
   ((gv_ins)(c) << 24))
#define MK_ABx(op, a, bx) ((gv_ins)(op) | ((gv_ins)(a) << 8) | ((gv_ins)(bx) << 16))
#define MK_AsBx(op, a, sbx)                                                   \
  ((gv_ins)(op) | ((gv_ins)(a) << 8) | ((gv_ins)(uint16_t)(int16_t)(sbx) << 16))

/* Words an instruction occupies (ABCJ carries a second word). */
GAVEL_INLINE int gavel__op_words(int op) {
  return gavel__op_fmt[op] == ABCJ ? 2 : 1;
}

#endif
