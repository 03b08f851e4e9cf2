/*
** disasm.c -- program listings for the CLI ('gavel disasm'), golden tests
** and debugging.  Read-only over a gv_program.
**
** Format, one instruction per line:
**   <pc>  <OPNAME>  <operands>   ; <comment>
** Constants are shown as JSON, slots and variables by name, jump targets
** as absolute pcs.
*/
#include "compile.h"
#include "json.h"

static void show_k(gv_buf *b, const gv_program *p, unsigned k) {
  if (k < p->n_k)
    gavel__json_write(b, p->k[k]);
  else
    gavel__buf_adds(b, "?");
}

static void show_slot(gv_buf *b, const gv_program *p, unsigned s) {
  if (s < p->syms->n_inputs)
    gavel__buf_adds(b, p->syms->inputs[s]->text->s);
  else
    gavel__buf_adds(b, "?");
}

void gavel__disasm(gv_buf *b, const gv_program *p) {
  uint32_t pc = 0;
  gavel__buf_addf(b, "; %u words, %u registers, %u constants\n", p->n_code,
                  p->n_regs, p->n_k);
  while (pc < p->n_code) {
    gv_ins i = p->code[pc];
    int op = GET_OP(i), words = gavel__op_words(op);
    const char *name = gavel__op_names[op];
    unsigned a = GET_A(i), bb = GET_B(i), c = GET_C(i), bx = GET_Bx(i);
    gavel__buf_addf(b, "%04u  %-8s ", pc, name);
    switch (gavel__op_fmt[op]) {
    case ABC:
      gavel__buf_addf(b, "%u %u %u", a, bb, c);
      break;
    case ABx:
      gavel__buf_addf(b, "%u %u", a, bx);
      break;
    case AsBx:
      gavel__buf_addf(b, "%u %d", a, GET_sBx(i));
      break;
    case ABCJ:
      gavel__buf_addf(b, "%u %u %u %d", a, bb, c, (int32_t)p->code[pc + 1]);
      break;
    }
    gavel__buf_adds(b, "  ; ");
    switch (op) {
    case OP_LOADK: case OP_RETK:
      show_k(b, p, bx);
      break;
    case OP_LOADS: case OP_EXISTSS:
      show_slot(b, p, bx);
      break;
    case OP_LOADV: case OP_EXISTSV:
      gavel__buf_adds(b, bx < p->n_vpaths ? p->vpaths[bx].text->s : "?");
      break;
    case OP_CALL: {
      const gv_builtin *bi = gavel__builtin_at((int)bb);
      gavel__buf_adds(b, bi ? bi->name : "?");
      break;
    }
    case OP_FAIL:
      show_k(b, p, bx);
      break;
    case OP_JMP: case OP_JT: case OP_JF: case OP_JNN:
      gavel__buf_addf(b, "to %d", (int)pc + 1 + GET_sBx(i));
      break;
    default:
      if (gavel__op_fmt[op] == ABCJ) {
        if (op >= OP_JEQSK)
          show_slot(b, p, a);
        else
          gavel__buf_addf(b, "R%u", a);
        gavel__buf_adds(b, " vs ");
        show_k(b, p, bb);
        gavel__buf_addf(b, ", jump if %s to %d", c ? "true" : "false",
                        (int)pc + 2 + (int32_t)p->code[pc + 1]);
      } else if (op >= OP_EQSK && op <= OP_GESK) {
        show_slot(b, p, bb);
        gavel__buf_adds(b, " vs ");
        show_k(b, p, c);
      } else if (op == OP_INSK || op == OP_MULSK) {
        show_slot(b, p, bb);
        gavel__buf_adds(b, ", ");
        show_k(b, p, c);
      } else if ((op >= OP_EQK && op <= OP_GEK) || op == OP_INK ||
                 (op >= OP_ADDK && op <= OP_MODK)) {
        show_k(b, p, c);
      } else {
        gavel__buf_adds(b, gavel__op_sem[op]);
      }
    }
    gavel__buf_addc(b, '\n');
    pc += (uint32_t)words;
  }
  for (pc = 0; pc < p->n_handlers; pc++)
    gavel__buf_addf(b, "; field-not-found handler: %04u..%04u -> %04u\n",
                    p->handlers[pc].start, p->handlers[pc].end - 1,
                    p->handlers[pc].target);
}
