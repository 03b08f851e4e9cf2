/*
** vm.c -- stage 3a of 5: the reference interpreter for gv_program.
**
** A register VM over 32-bit instruction words (opcodes.def).  Dispatch is
** token-threaded computed goto (one indirect jump per handler), or a plain
** switch when built with GAVEL_SWITCH_DISPATCH.  Every handler carries an
** "Opcode:" block (SQLite's vdbe.c style); tools/opdoc extracts them.
** Failing instructions record the error in the gv_rt and jump to the one
** 'vm_fail' exit, which either resumes at a field-not-found handler
** or returns.  This file never parses, compiles, or touches JSON or Lua.
** The VM is the reference semantics: the JIT must match it exactly.
*/
#include "vm.h"
#include "ops.h"


static GAVEL_NOINLINE int notfound(gv_rt *rt, const gv_str *text) {
  return gavel__rt_error(rt, GV_E_NOTFOUND, "Field not found: %s", text->s);
}

/* Walks a variable path; 1 found, 0 missing, -1 arena failure. */
static int vpath_get(const gv_vpath *vp, gvalue *vars, gv_rt *rt,
                     gvalue *out) {
  gvalue root = vars[vp->var];
  if (root.tag == GV_MISSING)
    return 0;
  if (vp->n_segs == 0) {
    *out = root;
    return 1;
  }
  return gavel__path_walk(rt->arena, root, vp->segs, vp->n_segs, out);
}

/* Float fast paths keep only finite results; inf and NaN go the slow way,
** which fails "Float overflow" (gavel values never hold them). */
#define FINITE(x) GAVEL_LIKELY(__builtin_isfinite(x))

static GAVEL_NOINLINE int arith_slow(gv_rt *rt, int op, gvalue a, gvalue b,
                                     gvalue *out) {
  return gavel__op_arith(rt, (gv_arop)op, a, b, out);
}

/* The comparison at 'at' ran with swapped operands when the compiler put
** the constant right ('1 < x' as 'x > 1'): compare in source order then,
** so that "Cannot compare X and Y" names the operands as written. */
static GAVEL_NOINLINE int cmp_slow(gv_rt *rt, const gv_program *p,
                                   const gv_ins *at, int op, gvalue a,
                                   gvalue b, int *res) {
  static const gv_cmpop swapped[] = {CMP_EQ, CMP_NE, CMP_GT,
                                     CMP_GE, CMP_LT, CMP_LE};
  uint32_t lo = 0, hi = p->n_swapped, pc = (uint32_t)(at - p->code);
  while (lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    if (p->swapped[mid] == pc)
      return gavel__op_compare(rt, swapped[op], b, a, res);
    if (p->swapped[mid] < pc)
      lo = mid + 1;
    else
      hi = mid;
  }
  return gavel__op_compare(rt, (gv_cmpop)op, a, b, res);
}

/* Fast paths: int/int and float/float (NaN goes the slow way, where it is
** "not comparable" exactly as in Ordo). */
#define CMP_FAST(cop, x, y, res, ok)                                          \
  do {                                                                       \
    if (GAVEL_LIKELY((x).tag == GV_INT && (y).tag == GV_INT)) {              \
      res = (x).u.i cop (y).u.i;                                             \
      ok = 1;                                                                \
    } else if ((x).tag == GV_FLOAT && (y).tag == GV_FLOAT &&                 \
               (x).u.f == (x).u.f && (y).u.f == (y).u.f) {                   \
      res = (x).u.f cop (y).u.f;                                             \
      ok = 1;                                                                \
    } else                                                                   \
      ok = 0;                                                                \
  } while (0)

int gavel__vm_exec(const gv_program *p, gv_frame *f, gvalue *out,
                   gvalue *Rin, uint32_t start) {
  gv_rt *rt = f->rt;
  const gv_ins *code = p->code, *pc = code;
  const gvalue *K = p->k;
  const gvalue *S = f->slots;
  /* bounded by GAVEL_MAX_REGS (4 KiB of stack); a resumed run (the JIT's
  ** cold exits) brings its own register file */
  gvalue Rloc[Rin ? 1 : p->n_regs];
  gvalue *const R = Rin ? Rin : Rloc;
  gv_ins ins;

#ifdef GAVEL_SWITCH_DISPATCH
#define vmdispatch(o) switch (o)
#define vmcase(l) case OP_##l:
#define vmbreak break
#else
  static const void *const disp[GAVEL_OP__COUNT] = {
#define OP(name, fmt, flags, sem) &&L_##name,
#include "opcodes.def"
#undef OP
  };
#define vmdispatch(o) goto *disp[o];
#define vmcase(l) L_##l:
#define vmbreak                                                               \
  ins = *pc++;                                                               \
  goto *disp[GET_OP(ins)]
#endif
#define RA (R[GET_A(ins)])
#define RB (R[GET_B(ins)])
#define RC (R[GET_C(ins)])
#define KB (K[GET_B(ins)])
#define KC (K[GET_C(ins)])
#define SB (S[GET_B(ins)])
#define FAIL_IF(x)                                                           \
  do {                                                                       \
    if (GAVEL_UNLIKELY(x))                                                   \
      goto vm_fail;                                                          \
  } while (0)

  if (GAVEL_UNLIKELY(Rin != NULL)) {
    /* Resumed by compiled code (jit.c), which charged the gas already:
    ** continue at word 'start', or fail as the instruction there did. */
    pc = code + (start & ~GV_VM_FAILED);
    if (start & GV_VM_FAILED) {
      pc++;
      goto vm_fail;
    }
  } else if (gavel__rt_charge(rt, (int64_t)p->gas)) {
    /* Loop-free programs: the static bound is charged once (no per-op
    ** metering; docs/vm-jit-notes.md section 5). */
    goto vm_fail;
  }

  for (;;) {
  vm_next:
    ins = *pc++;
    vmdispatch(GET_OP(ins)) {

/* Opcode: LOADK A Bx
** Synopsis: R[A] := K[Bx]
** Loads constant Bx (ints, floats, strings, constant arrays/objects). */
      vmcase(LOADK) {
        RA = K[GET_Bx(ins)];
        vmbreak;
      }

/* Opcode: LOADNULL A * *
** Synopsis: R[A] := null */
      vmcase(LOADNULL) {
        RA = gv_null();
        vmbreak;
      }

/* Opcode: LOADBOOL A B *
** Synopsis: R[A] := (B != 0) */
      vmcase(LOADBOOL) {
        RA = gv_bool(GET_B(ins));
        vmbreak;
      }

/* Opcode: MOVE A B *
** Synopsis: R[A] := R[B] */
      vmcase(MOVE) {
        RA = RB;
        vmbreak;
      }

/* Opcode: LOADS A Bx
** Synopsis: R[A] := S[Bx]
** Reads bound input slot Bx.  Fails with "Field not found: <path>" when
** the input has no value at that path (a present null is a value). */
      vmcase(LOADS) {
        gvalue v = S[GET_Bx(ins)];
        if (GAVEL_UNLIKELY(v.tag == GV_MISSING)) {
          notfound(rt, p->syms->inputs[GET_Bx(ins)]->text);
          goto vm_fail;
        }
        RA = v;
        vmbreak;
      }

/* Opcode: LOADV A Bx
** Synopsis: R[A] := walk(V[P[Bx].var], P[Bx].path)
** Reads a variable and walks the rest of its path ("$http.payload.x").
** Fails with "Field not found: $name..." when unset or absent. */
      vmcase(LOADV) {
        const gv_vpath *vp = &p->vpaths[GET_Bx(ins)];
        int rc = vpath_get(vp, f->vars, rt, &RA);
        if (GAVEL_UNLIKELY(rc <= 0)) {
          if (rc < 0)
            gavel__rt_nomem(rt);
          else
            notfound(rt, vp->text);
          goto vm_fail;
        }
        vmbreak;
      }

/* Opcode: EXISTSS A Bx
** Synopsis: R[A] := S[Bx] is present
** exists(path) for an input path: true for a present null. */
      vmcase(EXISTSS) {
        RA = gv_bool(S[GET_Bx(ins)].tag != GV_MISSING);
        vmbreak;
      }

/* Opcode: EXISTSV A Bx
** Synopsis: R[A] := walk(V[P[Bx].var], P[Bx].path) is present */
      vmcase(EXISTSV) {
        gvalue tmp;
        int rc = vpath_get(&p->vpaths[GET_Bx(ins)], f->vars, rt, &tmp);
        if (rc < 0) {
          gavel__rt_nomem(rt);
          goto vm_fail;
        }
        RA = gv_bool(rc);
        vmbreak;
      }

/* Opcode: ADD A B C
** Synopsis: R[A] := R[B] + R[C]
** int+int is checked ("Integer overflow in addition"); any float makes a
** float; string+string concatenates; anything else fails ("Cannot add X
** and Y").  SUB, MUL, DIV, MOD below follow the same rules: DIV truncates
** ints toward zero, MOD is int-only, and a zero divisor always fails. */
      vmcase(ADD) {
        gvalue b = RB, c = RC;
        int64_t r;
        if (b.tag == GV_INT && c.tag == GV_INT &&
            !__builtin_add_overflow(b.u.i, c.u.i, &r))
          RA = gv_int(r);
        else if (b.tag == GV_FLOAT && c.tag == GV_FLOAT &&
                 FINITE(b.u.f + c.u.f))
          RA = gv_float(b.u.f + c.u.f);
        else
          FAIL_IF(arith_slow(rt, AR_ADD, b, c, &RA));
        vmbreak;
      }

/* Opcode: SUB A B C
** Synopsis: R[A] := R[B] - R[C] */
      vmcase(SUB) {
        gvalue b = RB, c = RC;
        int64_t r;
        if (b.tag == GV_INT && c.tag == GV_INT &&
            !__builtin_sub_overflow(b.u.i, c.u.i, &r))
          RA = gv_int(r);
        else if (b.tag == GV_FLOAT && c.tag == GV_FLOAT &&
                 FINITE(b.u.f - c.u.f))
          RA = gv_float(b.u.f - c.u.f);
        else
          FAIL_IF(arith_slow(rt, AR_SUB, b, c, &RA));
        vmbreak;
      }

/* Opcode: MUL A B C
** Synopsis: R[A] := R[B] * R[C] */
      vmcase(MUL) {
        gvalue b = RB, c = RC;
        int64_t r;
        if (b.tag == GV_INT && c.tag == GV_INT &&
            !__builtin_mul_overflow(b.u.i, c.u.i, &r))
          RA = gv_int(r);
        else if (b.tag == GV_FLOAT && c.tag == GV_FLOAT &&
                 FINITE(b.u.f * c.u.f))
          RA = gv_float(b.u.f * c.u.f);
        else
          FAIL_IF(arith_slow(rt, AR_MUL, b, c, &RA));
        vmbreak;
      }

/* Opcode: DIV A B C
** Synopsis: R[A] := R[B] / R[C] */
      vmcase(DIV) {
        FAIL_IF(arith_slow(rt, AR_DIV, RB, RC, &RA));
        vmbreak;
      }

/* Opcode: MOD A B C
** Synopsis: R[A] := R[B] % R[C] */
      vmcase(MOD) {
        FAIL_IF(arith_slow(rt, AR_MOD, RB, RC, &RA));
        vmbreak;
      }

/* Opcode: ADDK A B C
** Synopsis: R[A] := R[B] + K[C]
** ADD with a constant right operand.  SUBK, MULK, DIVK, MODK likewise. */
      vmcase(ADDK) {
        gvalue b = RB, c = KC;
        int64_t r;
        if (b.tag == GV_INT && c.tag == GV_INT &&
            !__builtin_add_overflow(b.u.i, c.u.i, &r))
          RA = gv_int(r);
        else
          FAIL_IF(arith_slow(rt, AR_ADD, b, c, &RA));
        vmbreak;
      }

/* Opcode: SUBK A B C
** Synopsis: R[A] := R[B] - K[C] */
      vmcase(SUBK) {
        gvalue b = RB, c = KC;
        int64_t r;
        if (b.tag == GV_INT && c.tag == GV_INT &&
            !__builtin_sub_overflow(b.u.i, c.u.i, &r))
          RA = gv_int(r);
        else
          FAIL_IF(arith_slow(rt, AR_SUB, b, c, &RA));
        vmbreak;
      }

/* Opcode: MULK A B C
** Synopsis: R[A] := R[B] * K[C] */
      vmcase(MULK) {
        gvalue b = RB, c = KC;
        if (b.tag == GV_FLOAT && c.tag == GV_FLOAT && FINITE(b.u.f * c.u.f))
          RA = gv_float(b.u.f * c.u.f);
        else
          FAIL_IF(arith_slow(rt, AR_MUL, b, c, &RA));
        vmbreak;
      }

/* Opcode: DIVK A B C
** Synopsis: R[A] := R[B] / K[C] */
      vmcase(DIVK) {
        FAIL_IF(arith_slow(rt, AR_DIV, RB, KC, &RA));
        vmbreak;
      }

/* Opcode: MODK A B C
** Synopsis: R[A] := R[B] % K[C] */
      vmcase(MODK) {
        FAIL_IF(arith_slow(rt, AR_MOD, RB, KC, &RA));
        vmbreak;
      }

/* Opcode: MULSK A B C
** Synopsis: R[A] := S[B] * K[C]
** Superinstruction for 'field * const' (weights: 'score * 0.6'). */
      vmcase(MULSK) {
        gvalue b = SB, c = KC;
        if (GAVEL_UNLIKELY(b.tag == GV_MISSING)) {
          notfound(rt, p->syms->inputs[GET_B(ins)]->text);
          goto vm_fail;
        }
        if (b.tag == GV_FLOAT && c.tag == GV_FLOAT && FINITE(b.u.f * c.u.f))
          RA = gv_float(b.u.f * c.u.f);
        else if (b.tag == GV_INT && c.tag == GV_FLOAT &&
                 FINITE((double)b.u.i * c.u.f))
          RA = gv_float((double)b.u.i * c.u.f);
        else
          FAIL_IF(arith_slow(rt, AR_MUL, b, c, &RA));
        vmbreak;
      }

/* Opcode: NEG A B *
** Synopsis: R[A] := -R[B]
** Numbers only ("Type error: expected number, got X"); negating the
** smallest int fails instead of wrapping. */
      vmcase(NEG) {
        FAIL_IF(gavel__op_neg(rt, RB, &RA));
        vmbreak;
      }

/* Opcode: NOT A B *
** Synopsis: R[A] := not truthy(R[B]) */
      vmcase(NOT) {
        RA = gv_bool(!gavel__truthy(RB));
        vmbreak;
      }

/* Opcode: TOBOOL A B *
** Synopsis: R[A] := truthy(R[B])
** Makes '&&'/'||' results bools, as Ordo's interpreter does. */
      vmcase(TOBOOL) {
        RA = gv_bool(gavel__truthy(RB));
        vmbreak;
      }

#define CMP_HANDLER(NAME, cop, kind, X, Y, MISSCHK)                           \
  vmcase(NAME) {                                                             \
    gvalue x = X, y = Y;                                                     \
    int res, ok;                                                             \
    CMP_FAST(cop, x, y, res, ok);                                            \
    if (!ok) {                                                               \
      if ((kind) >= CMP_LT && gv_isnum(x) && gv_isnum(y) &&                 \
          gv_num(x) == gv_num(x) && gv_num(y) == gv_num(y))                 \
        res = gv_num(x) cop gv_num(y);                                       \
      else if ((kind) <= CMP_NE && x.tag == GV_STR && y.tag == GV_STR)      \
        res = gavel__str_eq(x.u.s, y.u.s) == ((kind) == CMP_EQ);            \
      else {                                                                 \
        MISSCHK;                                                             \
        FAIL_IF(cmp_slow(rt, p, pc - 1, kind, x, y, &res));                  \
      }                                                                      \
    }                                                                        \
    RA = gv_bool(res);                                                       \
    vmbreak;                                                                 \
  }
#define NOCHK (void)0
#define SLOTCHK(idx)                                                         \
  if (GAVEL_UNLIKELY(x.tag == GV_MISSING)) {                                 \
    notfound(rt, p->syms->inputs[idx]->text);                                \
    goto vm_fail;                                                            \
  }

/* Opcode: EQ A B C
** Synopsis: R[A] := R[B] == R[C]
** Structural, type-strict equality: 1 == 1.0 is false, [1] == [1] true.
** NE is its negation.  Never fails. */
      CMP_HANDLER(EQ, ==, CMP_EQ, RB, RC, NOCHK)
/* Opcode: NE A B C
** Synopsis: R[A] := R[B] != R[C] */
      CMP_HANDLER(NE, !=, CMP_NE, RB, RC, NOCHK)
/* Opcode: LT A B C
** Synopsis: R[A] := R[B] < R[C]
** Orders int/float (mixed, numerically), string/string (bytes) and
** bool/bool; anything else fails "Cannot compare X and Y".  LE, GT, GE
** likewise. */
      CMP_HANDLER(LT, <, CMP_LT, RB, RC, NOCHK)
/* Opcode: LE A B C
** Synopsis: R[A] := R[B] <= R[C] */
      CMP_HANDLER(LE, <=, CMP_LE, RB, RC, NOCHK)
/* Opcode: GT A B C
** Synopsis: R[A] := R[B] > R[C] */
      CMP_HANDLER(GT, >, CMP_GT, RB, RC, NOCHK)
/* Opcode: GE A B C
** Synopsis: R[A] := R[B] >= R[C] */
      CMP_HANDLER(GE, >=, CMP_GE, RB, RC, NOCHK)
/* Opcode: EQK A B C
** Synopsis: R[A] := R[B] == K[C]
** The comparison with a constant right operand (the compiler swaps
** '18 < age' into 'age > 18').  NEK LTK LEK GTK GEK likewise. */
      CMP_HANDLER(EQK, ==, CMP_EQ, RB, KC, NOCHK)
/* Opcode: NEK A B C
** Synopsis: R[A] := R[B] != K[C] */
      CMP_HANDLER(NEK, !=, CMP_NE, RB, KC, NOCHK)
/* Opcode: LTK A B C
** Synopsis: R[A] := R[B] < K[C] */
      CMP_HANDLER(LTK, <, CMP_LT, RB, KC, NOCHK)
/* Opcode: LEK A B C
** Synopsis: R[A] := R[B] <= K[C] */
      CMP_HANDLER(LEK, <=, CMP_LE, RB, KC, NOCHK)
/* Opcode: GTK A B C
** Synopsis: R[A] := R[B] > K[C] */
      CMP_HANDLER(GTK, >, CMP_GT, RB, KC, NOCHK)
/* Opcode: GEK A B C
** Synopsis: R[A] := R[B] >= K[C] */
      CMP_HANDLER(GEK, >=, CMP_GE, RB, KC, NOCHK)
/* Opcode: EQSK A B C
** Synopsis: R[A] := S[B] == K[C]
** Superinstruction 'field op const' reading input slot B directly; fails
** "Field not found" when the slot is absent.  NESK..GESK likewise. */
      CMP_HANDLER(EQSK, ==, CMP_EQ, SB, KC, SLOTCHK(GET_B(ins)))
/* Opcode: NESK A B C
** Synopsis: R[A] := S[B] != K[C] */
      CMP_HANDLER(NESK, !=, CMP_NE, SB, KC, SLOTCHK(GET_B(ins)))
/* Opcode: LTSK A B C
** Synopsis: R[A] := S[B] < K[C] */
      CMP_HANDLER(LTSK, <, CMP_LT, SB, KC, SLOTCHK(GET_B(ins)))
/* Opcode: LESK A B C
** Synopsis: R[A] := S[B] <= K[C] */
      CMP_HANDLER(LESK, <=, CMP_LE, SB, KC, SLOTCHK(GET_B(ins)))
/* Opcode: GTSK A B C
** Synopsis: R[A] := S[B] > K[C] */
      CMP_HANDLER(GTSK, >, CMP_GT, SB, KC, SLOTCHK(GET_B(ins)))
/* Opcode: GESK A B C
** Synopsis: R[A] := S[B] >= K[C] */
      CMP_HANDLER(GESK, >=, CMP_GE, SB, KC, SLOTCHK(GET_B(ins)))

#define JCMP_HANDLER(NAME, cop, kind, X, MISSCHK)                             \
  vmcase(NAME) {                                                             \
    gvalue x = X, y = K[GET_B(ins)];                                         \
    int res, ok;                                                             \
    CMP_FAST(cop, x, y, res, ok);                                            \
    if (!ok) {                                                               \
      if ((kind) >= CMP_LT && gv_isnum(x) && gv_isnum(y) &&                 \
          gv_num(x) == gv_num(x) && gv_num(y) == gv_num(y))                 \
        res = gv_num(x) cop gv_num(y);                                       \
      else if ((kind) <= CMP_NE && x.tag == GV_STR && y.tag == GV_STR)      \
        res = gavel__str_eq(x.u.s, y.u.s) == ((kind) == CMP_EQ);            \
      else {                                                                 \
        MISSCHK;                                                             \
        FAIL_IF(cmp_slow(rt, p, pc - 1, kind, x, y, &res));                  \
      }                                                                      \
    }                                                                        \
    pc += (res == (int)GET_C(ins)) ? (int32_t)*pc + 1 : 1;                   \
    vmbreak;                                                                 \
  }
#define SLOTCHKA SLOTCHK(GET_A(ins))

/* Opcode: JEQK A B C J
** Synopsis: if (R[A] == K[B]) == C then pc += J
** Fused compare-and-branch: the second instruction word is the signed
** jump offset.  Fails as the comparison would.  JNEK..JGEK likewise. */
      JCMP_HANDLER(JEQK, ==, CMP_EQ, RA, NOCHK)
/* Opcode: JNEK A B C J
** Synopsis: if (R[A] != K[B]) == C then pc += J */
      JCMP_HANDLER(JNEK, !=, CMP_NE, RA, NOCHK)
/* Opcode: JLTK A B C J
** Synopsis: if (R[A] < K[B]) == C then pc += J */
      JCMP_HANDLER(JLTK, <, CMP_LT, RA, NOCHK)
/* Opcode: JLEK A B C J
** Synopsis: if (R[A] <= K[B]) == C then pc += J */
      JCMP_HANDLER(JLEK, <=, CMP_LE, RA, NOCHK)
/* Opcode: JGTK A B C J
** Synopsis: if (R[A] > K[B]) == C then pc += J */
      JCMP_HANDLER(JGTK, >, CMP_GT, RA, NOCHK)
/* Opcode: JGEK A B C J
** Synopsis: if (R[A] >= K[B]) == C then pc += J */
      JCMP_HANDLER(JGEK, >=, CMP_GE, RA, NOCHK)
/* Opcode: JEQSK A B C J
** Synopsis: if (S[A] == K[B]) == C then pc += J
** Fused 'field op const' branch on input slot A.  JNESK..JGESK likewise. */
      JCMP_HANDLER(JEQSK, ==, CMP_EQ, S[GET_A(ins)], SLOTCHKA)
/* Opcode: JNESK A B C J
** Synopsis: if (S[A] != K[B]) == C then pc += J */
      JCMP_HANDLER(JNESK, !=, CMP_NE, S[GET_A(ins)], SLOTCHKA)
/* Opcode: JLTSK A B C J
** Synopsis: if (S[A] < K[B]) == C then pc += J */
      JCMP_HANDLER(JLTSK, <, CMP_LT, S[GET_A(ins)], SLOTCHKA)
/* Opcode: JLESK A B C J
** Synopsis: if (S[A] <= K[B]) == C then pc += J */
      JCMP_HANDLER(JLESK, <=, CMP_LE, S[GET_A(ins)], SLOTCHKA)
/* Opcode: JGTSK A B C J
** Synopsis: if (S[A] > K[B]) == C then pc += J */
      JCMP_HANDLER(JGTSK, >, CMP_GT, S[GET_A(ins)], SLOTCHKA)
/* Opcode: JGESK A B C J
** Synopsis: if (S[A] >= K[B]) == C then pc += J */
      JCMP_HANDLER(JGESK, >=, CMP_GE, S[GET_A(ins)], SLOTCHKA)

/* Opcode: IN A B C
** Synopsis: R[A] := R[B] in R[C]
** Array membership by strict equality, or substring when R[C] is a string
** (then R[B] must be a string).  Anything else: "Type error: expected
** array or string".  'not in' compiles to IN + NOT; 'a contains b' to
** IN with the operands swapped (after evaluating a first). */
      vmcase(IN) {
        int res;
        FAIL_IF(gavel__op_in(rt, RB, RC, &res));
        RA = gv_bool(res);
        vmbreak;
      }

/* Opcode: INK A B C
** Synopsis: R[A] := R[B] in K[C] */
      vmcase(INK) {
        int res;
        FAIL_IF(gavel__op_in(rt, RB, KC, &res));
        RA = gv_bool(res);
        vmbreak;
      }

/* Opcode: INSK A B C
** Synopsis: R[A] := S[B] in K[C]
** Superinstruction 'field in [constants]'. */
      vmcase(INSK) {
        gvalue x = SB;
        int res;
        SLOTCHK(GET_B(ins));
        if (x.tag == GV_STR && KC.tag == GV_ARR) {
          const gv_arr *arr = KC.u.a;
          uint32_t j;
          FAIL_IF(gavel__rt_charge(rt, arr->len));
          for (res = 0, j = 0; j < arr->len && !res; j++)
            res = arr->items[j].tag == GV_STR &&
                  gavel__str_eq(x.u.s, arr->items[j].u.s);
        } else
          FAIL_IF(gavel__op_in(rt, x, KC, &res));
        RA = gv_bool(res);
        vmbreak;
      }

/* Opcode: JMP * sBx
** Synopsis: pc += sBx */
      vmcase(JMP) {
        pc += GET_sBx(ins);
        vmbreak;
      }

/* Opcode: JT A sBx
** Synopsis: if truthy(R[A]) then pc += sBx */
      vmcase(JT) {
        if (gavel__truthy(RA))
          pc += GET_sBx(ins);
        vmbreak;
      }

/* Opcode: JF A sBx
** Synopsis: if not truthy(R[A]) then pc += sBx */
      vmcase(JF) {
        if (!gavel__truthy(RA))
          pc += GET_sBx(ins);
        vmbreak;
      }

/* Opcode: JNN A sBx
** Synopsis: if R[A] is not null then pc += sBx
** coalesce(): leave with the first non-null argument. */
      vmcase(JNN) {
        if (RA.tag != GV_NULL)
          pc += GET_sBx(ins);
        vmbreak;
      }

/* Opcode: CALL A B C
** Synopsis: R[A] := F[B](R[A], ..., R[A+C-1])
** Calls builtin B with C arguments in consecutive registers; the arity was
** checked at compile time.  Fails as the builtin reports, or with "Limit
** exceeded: value nesting deeper than 512 levels" when the result nests
** deeper than GAVEL_MAX_VALUE_DEPTH (builtins keep container depths, so
** this is one header read). */
      vmcase(CALL) {
        const gv_builtin *bi = gavel__builtin_at((int)GET_B(ins));
        gvalue res;
        rt->fn_name = bi->name;
        FAIL_IF(bi->fn(rt, &res, &RA, (int)GET_C(ins)) != 0 ||
                rt->ekind != GV_E_NONE || gavel__rt_depth_check(rt, res));
        RA = res;
        vmbreak;
      }

/* Opcode: NEWARR A B *
** Synopsis: R[A] := [] (capacity hint B) */
      vmcase(NEWARR) {
        gv_arr *arr = gavel__arr_new(rt->arena, GET_B(ins));
        if (GAVEL_UNLIKELY(!arr)) {
          gavel__rt_nomem(rt);
          goto vm_fail;
        }
        RA = gv_arrv(arr);
        vmbreak;
      }

/* Opcode: APPEND A B *
** Synopsis: append R[B] to array R[A]
** Only on arrays this program just built with NEWARR.  Fails "Limit
** exceeded: value nesting deeper than 512 levels" when R[B] is already
** GAVEL_MAX_VALUE_DEPTH deep (a run-time value may nest no deeper than an
** input document). */
      vmcase(APPEND) {
        if (GAVEL_UNLIKELY(!gavel__arr_push(rt->arena, RA.u.a, RB))) {
          gavel__rt_nomem(rt);
          goto vm_fail;
        }
        FAIL_IF(gavel__rt_depth_check(rt, RA));
        vmbreak;
      }

/* Opcode: NEWOBJ A B *
** Synopsis: R[A] := {} (capacity hint B) */
      vmcase(NEWOBJ) {
        gv_obj *o = gavel__obj_new(rt->arena, GET_B(ins));
        if (GAVEL_UNLIKELY(!o)) {
          gavel__rt_nomem(rt);
          goto vm_fail;
        }
        RA = gv_objv(o);
        vmbreak;
      }

/* Opcode: SETKEY A B C
** Synopsis: R[A][R[B]] := R[C]
** Object literal member; a repeated key replaces the earlier value (in
** its first position).  Fails on nesting as APPEND does. */
      vmcase(SETKEY) {
        if (GAVEL_UNLIKELY(!gavel__obj_set(rt->arena, RA.u.o, RB.u.s, RC))) {
          gavel__rt_nomem(rt);
          goto vm_fail;
        }
        FAIL_IF(gavel__rt_depth_check(rt, RA));
        vmbreak;
      }

/* Opcode: FAIL A Bx
** Synopsis: raise error of kind A with message K[Bx]
** Compiled for what Ordo reports only when evaluated: unknown functions,
** wrong argument counts (outside rulesets), the unbound 'item' path. */
      vmcase(FAIL) {
        gavel__rt_error(rt, (gv_ekind)GET_A(ins), "%s",
                        K[GET_Bx(ins)].u.s->s);
        goto vm_fail;
      }

/* Opcode: RET A * *
** Synopsis: return R[A] */
      vmcase(RET) {
        /* Copy as two words through registers: the handler before wrote the
        ** register as two 8-byte stores, and a 16-byte load of it stalls on
        ** store forwarding (measured: age > 18 from 9.4 to 5.2 ns). */
        uint64_t t = RA.tag, pl = (uint64_t)RA.u.i;
#if defined(__GNUC__)
        __asm__("" : "+r"(t), "+r"(pl));
#endif
        out->tag = t;
        out->u.i = (int64_t)pl;
        return 0;
      }

/* Opcode: RETK A Bx
** Synopsis: return K[Bx]
** The whole expression folded to a constant. */
      vmcase(RETK) {
        *out = K[GET_Bx(ins)];
        return 0;
      }
    }
  }

vm_fail:
  /* Field not found inside a handler region (a coalesce() argument, a
  ** lenient condition): resume at the innermost handler.  Handlers cost
  ** nothing until an error happens. */
  if (rt->ekind == GV_E_NOTFOUND && p->n_handlers) {
    uint32_t fpc = (uint32_t)(pc - code - 1), h;
    for (h = 0; h < p->n_handlers; h++)
      if (p->handlers[h].start <= fpc && fpc < p->handlers[h].end) {
        pc = code + p->handlers[h].target;
        rt->ekind = GV_E_NONE;
        rt->emsg[0] = 0;
        goto vm_next;
      }
  }
  f->err_pos = (pc > code && p->pos) ? p->pos[pc - code - 1] : -1;
  return 1;
}
