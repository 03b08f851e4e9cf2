/*
** opcodes.c -- tables expanded from opcodes.def (names, formats, flags,
** one-line semantics).  Nothing here is edited by hand.
*/
#include "opcodes.h"

const char *const gavel__op_names[GAVEL_OP__COUNT] = {
#define OP(name, fmt, flags, sem) #name,
#include "opcodes.def"
#undef OP
};

const unsigned char gavel__op_fmt[GAVEL_OP__COUNT] = {
#define OP(name, fmt, flags, sem) fmt,
#include "opcodes.def"
#undef OP
};

const unsigned char gavel__op_flags[GAVEL_OP__COUNT] = {
#define OP(name, fmt, flags, sem) flags,
#include "opcodes.def"
#undef OP
};

const char *const gavel__op_sem[GAVEL_OP__COUNT] = {
#define OP(name, fmt, flags, sem) sem,
#include "opcodes.def"
#undef OP
};
