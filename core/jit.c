/*
** jit.c -- stage 3b: the threaded-code JIT (x86-64, System V) for
** gv_program, behind the reference VM (vm.c).
**
** Each opcode is a template with an inline type guard and the int/float
** fast path of the VM handler (compare, arithmetic, truthiness, fused
** compare-and-branch), reading registers from a stack register file laid
** out exactly as the VM's, input slots and constants in place.  Every case
** a template does not finish inline (another type, NaN, overflow, an
** absent field, a string) jumps to a cold exit that resumes the VM at the
** same instruction with the same registers (gavel__vm_exec), so both
** engines share one semantics: errors, messages, positions, gas, handlers
** and field-not-found softening come from the VM itself.  A program with
** an opcode outside the template set stays in the VM.
**
** Decision chains (gavel__jit_chain): the scheduler's straight-path graphs
** (decisions ending in terminals with prebuilt results), unrolled into a
** tree, become ONE function: the graph's input paths bound inline from
** the root (a trie; each key tried first at the position it had in the
** last run, a per-exec memo, checked against the key's bytes and against
** every earlier key so the first of duplicate keys wins; chain_find
** otherwise), then each decision's program with the same templates, its
** returned branch index (or a lone condition's truthiness) a native jump
** to the next decision or to a leaf's return.  Every case a template does
** not finish inline returns -1 instead of resuming the VM: the chain has
** no side effect, and the scheduler runs the straight path from scratch.
** Programs that charge gas at run time (CALL, IN, INSK) stay out of
** chains; graphs whose decisions call builtins get the binding alone
** (gavel__jit_binder).
**
** Code memory (W^X): templates are emitted into malloc'ed buffers, copied
** into one fresh anonymous mapping per batch (PROT_READ|PROT_WRITE), which
** is then made PROT_READ|PROT_EXEC before any entry is published; no
** mapping is ever writable and executable.  A batch is every program of
** the owner at load (jit=on) or the program reaching the threshold plus
** the owner's other programs already run at least once (jit=auto).
** Mappings belong to the owner (ruleset / expression) and are unmapped
** with it; a runtime's total is bounded (jit_max_code_bytes).
**
** Tier-up is thread-safe: counters are relaxed atomics, compilation runs
** under the owner's mutex (a thread that cannot take it keeps using the
** VM), and entries are published with a release store after mprotect.
*/
#include "jit.h"
#include "runtime.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__linux__) && !defined(GAVEL_NO_JIT)
#define GV_HAVE_JIT 1
#include <sys/mman.h>
#include <unistd.h>
#else
#define GV_HAVE_JIT 0
#endif

static _Atomic(size_t) g_mapped; /* process-wide, for tests */

size_t gavel__jit_mapped_bytes(void) {
  return atomic_load(&g_mapped);
}

int gavel__jit_mode(int cfg_jit) {
  const char *env;
  if (!GV_HAVE_JIT)
    return GV_JIT_OFF;
  if (cfg_jit >= GV_JIT_ON && cfg_jit <= GV_JIT_AUTO)
    return cfg_jit;
  env = getenv("GAVEL_JIT");
  if (env && !strcmp(env, "on"))
    return GV_JIT_ON;
  if (env && !strcmp(env, "off"))
    return GV_JIT_OFF;
  return GV_JIT_AUTO; /* default (also for "auto" and unknown words) */
}

/* ==== Code owner ==== */

typedef struct gv_jitmap {
  void *mem;                /* mapping (read+exec once sealed)   */
  size_t len;               /* bytes mapped                      */
  struct gv_jitmap *next;   /* older mappings                    */
} gv_jitmap;

struct gv_jitown {
  gavel_runtime *rt;     /* counts mapped bytes against its bound */
  int mode;              /* GV_JIT_ON / GV_JIT_AUTO               */
  uint32_t threshold;    /* auto: runs before compiling           */
  size_t max_bytes;      /* the runtime's bound                   */
  pthread_mutex_t mu;    /* one compiler at a time                */
  gv_program *progs;     /* programs compiled for this owner      */
  gv_jitmap *maps;       /* code memory                           */
  _Atomic(uintptr_t) chain;     /* the decision chain (gv_chainfn), 0 */
  _Atomic(int) chain_state;     /* 0 not tried, 1 compiled, 2 cannot  */
  _Atomic(uintptr_t) binder;    /* the main graph's binder, 0         */
  _Atomic(int) binder_state;    /* as chain_state                     */
};

gv_jitown *gavel__jit_new(gavel_runtime *rt, int mode) {
  gv_jitown *o;
  if (mode < GV_JIT_ON || mode > GV_JIT_AUTO)
    mode = rt->jit_mode;
  if (!GV_HAVE_JIT || mode == GV_JIT_OFF)
    return NULL;
  o = gavel__malloc(&rt->al, sizeof *o);
  if (!o)
    return NULL; /* no JIT: the VM runs everything */
  memset(o, 0, sizeof *o);
  o->rt = rt;
  o->mode = mode;
  o->threshold = rt->cfg.jit_threshold ? rt->cfg.jit_threshold
                                       : GV_JIT_THRESHOLD;
  o->max_bytes = rt->cfg.jit_max_code_bytes ? rt->cfg.jit_max_code_bytes
                                            : GV_JIT_MAX_CODE_BYTES;
  pthread_mutex_init(&o->mu, NULL);
  return o;
}

uint32_t gavel__jit_chain_after(const gv_jitown *o) {
  if (!o)
    return UINT32_MAX;
  return o->mode == GV_JIT_ON ? 0 : o->threshold;
}

void gavel__jit_attach(gv_jitown *o, gv_symtab *st) {
  if (!o)
    return;
  st->jit = o;
  st->jit_list = &o->progs;
}

void gavel__jit_free(gv_jitown *o) {
  gv_jitmap *m, *nx;
  if (!o)
    return;
  for (m = o->maps; m; m = nx) {
    nx = m->next;
#if GV_HAVE_JIT
    munmap(m->mem, m->len);
#endif
    atomic_fetch_sub(&o->rt->jit_bytes, m->len);
    atomic_fetch_sub(&g_mapped, m->len);
    gavel__free(&o->rt->al, m, sizeof *m);
  }
  pthread_mutex_destroy(&o->mu);
  gavel__free(&o->rt->al, o, sizeof *o);
}

#if GV_HAVE_JIT

/* ==== Emitter ==== */

enum { RAX = 0, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12,
       R13, R14, R15 };
/* Fixed registers of compiled code (callee-saved). */
#define RR RBX  /* register file (the VM's R[], on our stack) */
#define RS R12  /* f->slots                                    */
#define RK R13  /* p->k                                        */
#define RF R14  /* f                                           */
#define RO R15  /* out                                         */
#define RP RBP  /* p                                           */
/* Condition codes. */
enum { CC_O = 0, CC_NO, CC_B, CC_AE, CC_E, CC_NE, CC_BE, CC_A, CC_S, CC_NS,
       CC_P, CC_NP, CC_L, CC_GE, CC_LE, CC_G };

typedef struct fixup {
  uint32_t at;    /* offset of the rel32 field */
  uint32_t label; /* label it refers to        */
} fixup;

typedef struct exitstub {
  uint32_t label; /* the stub's label                 */
  uint32_t word;  /* VM resumes at this word          */
} exitstub;

typedef struct J {
  unsigned char *b;   /* code                                   */
  size_t n, cap;      /* used / allocated                       */
  int32_t *lab;       /* label -> offset (-1 unbound)           */
  uint32_t n_lab, cap_lab;
  fixup *fx;          /* rel32 fixups                           */
  uint32_t n_fx, cap_fx;
  exitstub *ex;       /* cold exits                             */
  uint32_t n_ex, cap_ex;
  uint32_t *op_start; /* per word: code offset (describe)       */
  unsigned char *op_native; /* per word: 1 native, 2 with exits */
  unsigned char *starts;    /* per word: an instruction starts  */
  uint32_t *wlab;     /* per word: its label                    */
  uint32_t cap_words; /* allocated words in the four above      */
  int oom;            /* sticky allocation failure              */
  int chain;          /* emitting a decision chain: every cold exit
                         is 'chain_fail' (the chain returns -1)     */
  uint32_t chain_fail;
  const int32_t *slot_map; /* chain: slot -> node area entry, or NULL */
} J;

static int grow(J *e, void **p, uint32_t *cap, uint32_t need, size_t el) {
  void *np;
  uint32_t nc;
  if (need <= *cap)
    return 1;
  nc = *cap ? *cap * 2 : 64;
  while (nc < need)
    nc *= 2;
  np = realloc(*p, (size_t)nc * el);
  if (!np) {
    e->oom = 1;
    return 0;
  }
  *p = np;
  *cap = nc;
  return 1;
}

/* Room for 'k' more bytes: 1, or 0 out of memory (then e->n is 0 and the
** caller writes nothing: the result is discarded). */
static GAVEL_NOINLINE int code_grow(J *e, size_t k) {
  size_t nc = e->cap ? e->cap * 2 : 1024;
  unsigned char *nb;
  while (nc < e->n + k)
    nc *= 2;
  nb = realloc(e->b, nc);
  if (!nb) {
    e->oom = 1;
    e->n = 0;
    return 0;
  }
  e->b = nb;
  e->cap = nc;
  return 1;
}
/* Inline: compile time is mostly these (about 4 us per program before). */
static inline void byte(J *e, unsigned v) {
  if (GAVEL_UNLIKELY(e->n == e->cap) && !code_grow(e, 1))
    return;
  e->b[e->n++] = (unsigned char)v;
}
static inline void u32(J *e, uint32_t v) {
  unsigned char le[4];
  if (GAVEL_UNLIKELY(e->cap - e->n < 4) && !code_grow(e, 4))
    return;
  le[0] = (unsigned char)v;
  le[1] = (unsigned char)(v >> 8);
  le[2] = (unsigned char)(v >> 16);
  le[3] = (unsigned char)(v >> 24);
  memcpy(e->b + e->n, le, 4);
  e->n += 4;
}
static void u64(J *e, uint64_t v) {
  u32(e, (uint32_t)v);
  u32(e, (uint32_t)(v >> 32));
}

static uint32_t newlabel(J *e) {
  if (!grow(e, (void **)&e->lab, &e->cap_lab, e->n_lab + 1, sizeof(int32_t)))
    return 0;
  e->lab[e->n_lab] = -1;
  return e->n_lab++;
}
static void bind(J *e, uint32_t l) {
  if (l < e->n_lab)
    e->lab[l] = (int32_t)e->n;
}
static void rel32(J *e, uint32_t l) {
  if (grow(e, (void **)&e->fx, &e->cap_fx, e->n_fx + 1, sizeof(fixup))) {
    e->fx[e->n_fx].at = (uint32_t)e->n;
    e->fx[e->n_fx++].label = l;
  }
  u32(e, 0);
}
static void jmp(J *e, uint32_t l) {
  byte(e, 0xE9);
  rel32(e, l);
}
static void jcc(J *e, int cc, uint32_t l) {
  byte(e, 0x0F);
  byte(e, 0x80 + cc);
  rel32(e, l);
}
/* A cold exit resuming the VM at 'word'. */
static uint32_t exit_to(J *e, uint32_t word) {
  uint32_t l;
  if (e->chain)
    return e->chain_fail;
  l = newlabel(e);
  if (grow(e, (void **)&e->ex, &e->cap_ex, e->n_ex + 1, sizeof(exitstub))) {
    e->ex[e->n_ex].label = l;
    e->ex[e->n_ex++].word = word;
  }
  return l;
}

/* [base + disp32] operand with 'reg' in ModRM.reg; 'pfx' a mandatory
** prefix (0x66/0xF2, before REX), 'w' REX.W, opcode bytes op[0..nop). */
static void rm(J *e, int pfx, int w, const unsigned char *op, int nop, int reg,
               int base, int32_t disp) {
  unsigned rex = 0x40 | (w ? 8 : 0) | ((reg & 8) ? 4 : 0) | ((base & 8) ? 1 : 0);
  int i;
  if (pfx)
    byte(e, (unsigned)pfx);
  if (rex != 0x40)
    byte(e, rex);
  for (i = 0; i < nop; i++)
    byte(e, op[i]);
  byte(e, 0x80 | ((reg & 7) << 3) | (base & 7)); /* mod=10: disp32 */
  if ((base & 7) == RSP)
    byte(e, 0x24); /* SIB: base only */
  u32(e, (uint32_t)disp);
}
/* Register-register form (mod=11): 'reg' in ModRM.reg, 'r' in ModRM.rm. */
static void rr(J *e, int pfx, int w, const unsigned char *op, int nop, int reg,
               int r) {
  unsigned rex = 0x40 | (w ? 8 : 0) | ((reg & 8) ? 4 : 0) | ((r & 8) ? 1 : 0);
  int i;
  if (pfx)
    byte(e, (unsigned)pfx);
  if (rex != 0x40)
    byte(e, rex);
  for (i = 0; i < nop; i++)
    byte(e, op[i]);
  byte(e, 0xC0 | ((reg & 7) << 3) | (r & 7));
}
#define OPC(...) (const unsigned char[]){__VA_ARGS__}, \
    (int)sizeof((const unsigned char[]){__VA_ARGS__})

static void mov_rm(J *e, int r, int base, int32_t d) { /* mov r, [m] */
  rm(e, 0, 1, OPC(0x8B), r, base, d);
}
static void mov_mr(J *e, int base, int32_t d, int r) { /* mov [m], r */
  rm(e, 0, 1, OPC(0x89), r, base, d);
}
static void mov_rr(J *e, int dst, int src) { /* mov dst, src */
  rr(e, 0, 1, OPC(0x89), src, dst);
}
static void mov_ri(J *e, int r, uint64_t v) { /* mov r, imm */
  if (v <= 0xffffffffu) { /* mov r32, imm32 zero-extends */
    if (r & 8)
      byte(e, 0x41);
    byte(e, 0xB8 + (r & 7));
    u32(e, (uint32_t)v);
  } else {
    byte(e, 0x48 | ((r & 8) ? 1 : 0));
    byte(e, 0xB8 + (r & 7));
    u64(e, v);
  }
}
static void mov_mi(J *e, int base, int32_t d, int32_t imm) { /* qword */
  rm(e, 0, 1, OPC(0xC7), 0, base, d);
  u32(e, (uint32_t)imm);
}
static void cmp_mi(J *e, int base, int32_t d, int8_t imm) { /* qword */
  rm(e, 0, 1, OPC(0x83), 7, base, d);
  byte(e, (uint8_t)imm);
}
static void cmp_rm(J *e, int r, int base, int32_t d) { /* cmp r, [m] */
  rm(e, 0, 1, OPC(0x3B), r, base, d);
}
static void cmp_rr(J *e, int a, int b) { /* cmp a, b */
  rr(e, 0, 1, OPC(0x39), b, a);
}
static void test_rr(J *e, int a, int b) {
  rr(e, 0, 1, OPC(0x85), b, a);
}
static void cmp_ri8(J *e, int r, int8_t imm) {
  rr(e, 0, 1, OPC(0x83), 7, r);
  byte(e, (uint8_t)imm);
}
static void setcc_al_movzx(J *e, int cc) { /* eax := cc ? 1 : 0 */
  byte(e, 0x0F);
  byte(e, 0x90 + cc);
  byte(e, 0xC0);
  byte(e, 0x0F);
  byte(e, 0xB6);
  byte(e, 0xC0);
}
static void xmm_rm(J *e, int pfx, int op, int x, int base, int32_t d) {
  rm(e, pfx, 0, OPC(0x0F, (unsigned char)op), x, base, d);
}
static void call_abs(J *e, const void *fn) {
  mov_ri(e, RAX, (uint64_t)(uintptr_t)fn);
  byte(e, 0xFF);
  byte(e, 0xD0);
}

/* ==== Operand locations ==== */

typedef struct loc {
  int base;
  int32_t d;
} loc;
static loc L_R(unsigned r) { return (loc){RR, (int32_t)(r * 16)}; }
/* Input slot s: slots[s], or in a chain the trie node holding it. */
#define L_S(s) L_S_(e->slot_map, (s))
static loc L_S_(const int32_t *map, unsigned s) {
  return (loc){RS, (int32_t)((map ? (unsigned)map[s] : s) * 16)};
}
static loc L_K(unsigned k) { return (loc){RK, (int32_t)(k * 16)}; }

static void copy_val(J *e, loc dst, loc src) {
  mov_rm(e, RAX, src.base, src.d);
  mov_rm(e, RCX, src.base, src.d + 8);
  mov_mr(e, dst.base, dst.d, RAX);
  mov_mr(e, dst.base, dst.d + 8, RCX);
}
static void store_bool_eax(J *e, loc dst) {
  mov_mi(e, dst.base, dst.d, GV_BOOL);
  mov_mr(e, dst.base, dst.d + 8, RAX);
}

/* ==== Templates ==== */

typedef struct T {
  J *e;
  const gv_program *p;
  uint32_t *wlab;  /* word -> label */
  uint32_t epi;    /* epilogue label */
  /* A decision chain's node (jit_chain): RETK of int i jumps to succ[i]
  ** (dflt when out of range), RET fails the chain. */
  const uint32_t *succ;
  uint32_t n_succ, dflt;
  int truthy; /* a lone condition: truthy value -> succ[0], else dflt */
} T;

static int streq_helper(const gv_str *a, const gv_str *b) {
  return gavel__str_eq(a, b);
}

/* CALL, exactly as the VM handler: 0 with R[A] set, 1 failed (the error
** in rt; the compiled code then lets the VM fail at this instruction). */
static int call_helper(gv_rt *rt, gvalue *R, uint32_t ins) {
  const gv_builtin *bi = gavel__builtin_at((int)GET_B(ins));
  gvalue res;
  rt->fn_name = bi->name;
  if (bi->fn(rt, &res, &R[GET_A(ins)], (int)GET_C(ins)) != 0 ||
      rt->ekind != GV_E_NONE || gavel__rt_depth_check(rt, res))
    return 1;
  R[GET_A(ins)] = res;
  return 0;
}

/* INSK's fast path in the VM handler (a string in a constant array): the
** same charge and comparisons.  -1 when the charge would exhaust the gas:
** the VM then runs the instruction, charging and reporting itself. */
static int64_t insk_helper(gv_rt *rt, const gv_str *x, const gv_arr *arr) {
  uint32_t j;
  if (rt->gas - (int64_t)arr->len < 0)
    return -1;
  rt->gas -= arr->len;
  for (j = 0; j < arr->len; j++)
    if (arr->items[j].tag == GV_STR && gavel__str_eq(x, arr->items[j].u.s))
      return 1;
  return 0;
}

/* IN / INK over an array, exactly as gavel__op_in: the same charge and
** equality.  -1 (nothing charged) when the charge would exhaust the gas,
** the collection is no array, or values nest too deep: the VM then runs
** the instruction and reports itself. */
static int64_t in_helper(gv_rt *rt, const gvalue *x, const gvalue *coll) {
  const gv_arr *arr;
  uint32_t j;
  /* a container compared walks and charges (gavel__value_eq_rt): the
  ** VM's */
  if (coll->tag != GV_ARR || x->tag == GV_ARR || x->tag == GV_OBJ)
    return -1;
  arr = coll->u.a;
  if (rt->gas - (int64_t)arr->len < 0)
    return -1;
  for (j = 0; j < arr->len; j++) {
    int eq = gavel__value_eq(*x, arr->items[j]);
    if (eq < 0)
      return -1;
    if (eq) {
      rt->gas -= arr->len;
      return 1;
    }
  }
  rt->gas -= arr->len;
  return 0;
}

/* Consumer of a comparison: either R[A] := bool (join label, dst) or a
** branch (taken when cmp == want). */
typedef struct cons {
  int branch;      /* 1: branch, 0: bool into dst */
  loc dst;         /* bool destination            */
  uint32_t join;   /* bool: label after the store */
  uint32_t taken;  /* branch: target label        */
  uint32_t next;   /* branch: fallthrough label   */
  int want;        /* branch: jump when res == want */
} cons;

static int inv(int cc) { return cc ^ 1; }

/* Flags hold 'cc' = res true: finish one path of a comparison ('last':
** the fallthrough instruction follows right after). */
static void consume_(J *e, const cons *c, int cc, int last) {
  if (c->branch) {
    jcc(e, c->want ? cc : inv(cc), c->taken);
    if (!last)
      jmp(e, c->next);
  } else {
    setcc_al_movzx(e, cc);
    store_bool_eax(e, c->dst);
    if (!last)
      jmp(e, c->join);
  }
}
#define consume(e, c, cc) consume_(e, c, cc, 0)

static const int cc_int[6] = {CC_E, CC_NE, CC_L, CC_LE, CC_G, CC_GE};
static const int cc_flt[6] = {CC_E, CC_NE, CC_B, CC_BE, CC_A, CC_AE};

static void key_cmp(J *e, const gv_str *k, uint32_t ne);
#define INLINE_STR_MAX 64 /* constant strings compared inline (bytes) */

/* x (cmp) y where kind 0..5 = EQ NE LT LE GT GE.  'ky' is the constant
** when y is one (its type then decides the single fast path), NULL for a
** register.  'xslot' 1: x is an input slot (absent: the VM reports). */
static void t_compare(T *t, uint32_t w, int kind, loc x, loc y,
                      const gvalue *ky, const cons *c) {
  J *e = t->e;
  uint32_t ex = exit_to(e, w);
  if (ky) {
    if (ky->tag == GV_INT) {
      /* orderings also take a float x: the VM compares numerically
      ** ((double)K, rounded as the VM's conversion at run time) */
      uint32_t other = kind >= 2 ? newlabel(e) : ex;
      double kd = (double)ky->u.i;
      uint64_t kbits;
      cmp_mi(e, x.base, x.d, GV_INT);
      jcc(e, CC_NE, other);
      mov_rm(e, RAX, x.base, x.d + 8);
      if (ky->u.i >= INT32_MIN && ky->u.i <= INT32_MAX) {
        rr(e, 0, 1, OPC(0x81), 7, RAX); /* cmp rax, imm32 */
        u32(e, (uint32_t)(int32_t)ky->u.i);
      } else {
        mov_ri(e, RCX, (uint64_t)ky->u.i);
        cmp_rr(e, RAX, RCX);
      }
      consume_(e, c, cc_int[kind], kind < 2);
      if (kind >= 2) {
        bind(e, other);
        cmp_mi(e, x.base, x.d, GV_FLOAT);
        jcc(e, CC_NE, ex);
        memcpy(&kbits, &kd, sizeof kbits);
        xmm_rm(e, 0xF2, 0x10, 0, x.base, x.d + 8); /* movsd xmm0, x */
        mov_ri(e, RAX, kbits);
        rr(e, 0x66, 1, OPC(0x0F, 0x6E), 1, RAX);   /* movq xmm1, rax */
        rr(e, 0x66, 0, OPC(0x0F, 0x2E), 0, 1);     /* ucomisd xmm0, xmm1 */
        jcc(e, CC_P, ex);                          /* NaN: the VM */
        consume_(e, c, cc_flt[kind], 1);
      }
    } else if (ky->tag == GV_FLOAT && ky->u.f == ky->u.f) {
      uint32_t other = kind >= 2 ? newlabel(e) : ex;
      cmp_mi(e, x.base, x.d, GV_FLOAT);
      jcc(e, CC_NE, other);
      xmm_rm(e, 0xF2, 0x10, 0, x.base, x.d + 8);  /* movsd xmm0, x */
      xmm_rm(e, 0x66, 0x2E, 0, y.base, y.d + 8);  /* ucomisd xmm0, k */
      jcc(e, CC_P, ex);                           /* NaN: the VM */
      consume_(e, c, cc_flt[kind], kind < 2);
      if (kind >= 2) { /* an int x against a float constant */
        bind(e, other);
        cmp_mi(e, x.base, x.d, GV_INT);
        jcc(e, CC_NE, ex);
        rm(e, 0xF2, 1, OPC(0x0F, 0x2A), 0, x.base, x.d + 8); /* cvtsi2sd */
        xmm_rm(e, 0x66, 0x2E, 0, y.base, y.d + 8);
        consume_(e, c, cc_flt[kind], 1);
      }
    } else if (ky->tag == GV_STR && kind <= 1 &&
               ky->u.s->len <= INLINE_STR_MAX) {
      /* the constant's length and bytes as immediates: no call */
      uint32_t ne = newlabel(e), join = newlabel(e);
      cmp_mi(e, x.base, x.d, GV_STR);
      jcc(e, CC_NE, ex);
      mov_rm(e, RDI, x.base, x.d + 8);
      key_cmp(e, ky->u.s, ne);
      mov_ri(e, RAX, 1);
      jmp(e, join);
      bind(e, ne);
      rr(e, 0, 0, OPC(0x31), RAX, RAX);
      bind(e, join);
      test_rr(e, RAX, RAX);
      consume_(e, c, kind == 0 ? CC_NE : CC_E, 1);
    } else if (ky->tag == GV_STR && kind <= 1) {
      cmp_mi(e, x.base, x.d, GV_STR);
      jcc(e, CC_NE, ex);
      mov_rm(e, RDI, x.base, x.d + 8);
      mov_ri(e, RSI, (uint64_t)(uintptr_t)ky->u.s);
      call_abs(e, (const void *)streq_helper);
      test_rr(e, RAX, RAX);
      consume_(e, c, kind == 0 ? CC_NE : CC_E, 1);
    } else {
      jmp(e, ex); /* other constants: the VM decides */
    }
    return;
  }
  {
    uint32_t notint = newlabel(e), notflt = newlabel(e);
    cmp_mi(e, x.base, x.d, GV_INT);
    jcc(e, CC_NE, notint);
    cmp_mi(e, y.base, y.d, GV_INT);
    jcc(e, CC_NE, ex);
    mov_rm(e, RAX, x.base, x.d + 8);
    cmp_rm(e, RAX, y.base, y.d + 8);
    consume(e, c, cc_int[kind]);
    bind(e, notint);
    cmp_mi(e, x.base, x.d, GV_FLOAT);
    jcc(e, CC_NE, notflt);
    cmp_mi(e, y.base, y.d, GV_FLOAT);
    jcc(e, CC_NE, ex);
    xmm_rm(e, 0xF2, 0x10, 0, x.base, x.d + 8);
    xmm_rm(e, 0x66, 0x2E, 0, y.base, y.d + 8);
    jcc(e, CC_P, ex);
    consume(e, c, cc_flt[kind]);
    bind(e, notflt);
    if (kind <= 1) {
      cmp_mi(e, x.base, x.d, GV_STR);
      jcc(e, CC_NE, ex);
      cmp_mi(e, y.base, y.d, GV_STR);
      jcc(e, CC_NE, ex);
      mov_rm(e, RDI, x.base, x.d + 8);
      mov_rm(e, RSI, y.base, y.d + 8);
      call_abs(e, (const void *)streq_helper);
      test_rr(e, RAX, RAX);
      consume(e, c, kind == 0 ? CC_NE : CC_E);
    } else
      jmp(e, ex);
  }
}

/* rcx := truthy(x) as flags (NE = truthy) for null/bool/int; others exit. */
static void t_truthy(T *t, uint32_t w, loc x) {
  J *e = t->e;
  uint32_t ex = exit_to(e, w);
  mov_rm(e, RAX, x.base, x.d);
  cmp_ri8(e, RAX, GV_INT);
  jcc(e, CC_A, ex);                   /* float, string, containers */
  rr(e, 0, 0, OPC(0x31), RCX, RCX);   /* xor ecx, ecx */
  test_rr(e, RAX, RAX);               /* null: false */
  rm(e, 0, 1, OPC(0x0F, 0x45), RCX, x.base, x.d + 8); /* cmovne rcx, [x+8] */
  test_rr(e, RCX, RCX);
}

/* Finite check of the double in rax (its bits); not finite -> exit. */
static void finite_or_exit(J *e, uint32_t ex) {
  mov_rr(e, RCX, RAX);
  rr(e, 0, 1, OPC(0xD1), 4, RCX); /* shl rcx, 1 */
  mov_ri(e, RDX, 0xFFE0000000000000ull);
  cmp_rr(e, RCX, RDX);
  jcc(e, CC_AE, ex);
}

enum { AR_ADD_ = 0, AR_SUB_, AR_MUL_ };

static void int_op(J *e, int aop, loc y) {
  if (aop == AR_ADD_)
    rm(e, 0, 1, OPC(0x03), RAX, y.base, y.d + 8);
  else if (aop == AR_SUB_)
    rm(e, 0, 1, OPC(0x2B), RAX, y.base, y.d + 8);
  else
    rm(e, 0, 1, OPC(0x0F, 0xAF), RAX, y.base, y.d + 8);
}
static void flt_op(J *e, int aop, loc y) {
  static const int opc[3] = {0x58, 0x5C, 0x59};
  xmm_rm(e, 0xF2, opc[aop], 0, y.base, y.d + 8);
}
/* R[A] := x op y: int path (ints) and/or float path (floats). */
static void t_arith(T *t, uint32_t w, int aop, loc dst, loc x, loc y,
                    int do_int, int do_flt) {
  J *e = t->e;
  uint32_t ex = exit_to(e, w), done = newlabel(e), notint = newlabel(e);
  if (do_int) {
    cmp_mi(e, x.base, x.d, GV_INT);
    jcc(e, CC_NE, notint);
    cmp_mi(e, y.base, y.d, GV_INT);
    jcc(e, CC_NE, ex);
    mov_rm(e, RAX, x.base, x.d + 8);
    int_op(e, aop, y);
    jcc(e, CC_O, ex);
    mov_mi(e, dst.base, dst.d, GV_INT);
    mov_mr(e, dst.base, dst.d + 8, RAX);
    jmp(e, done);
  }
  bind(e, notint);
  if (do_flt) {
    cmp_mi(e, x.base, x.d, GV_FLOAT);
    jcc(e, CC_NE, ex);
    cmp_mi(e, y.base, y.d, GV_FLOAT);
    jcc(e, CC_NE, ex);
    xmm_rm(e, 0xF2, 0x10, 0, x.base, x.d + 8);
    flt_op(e, aop, y);
    rr(e, 0x66, 1, OPC(0x0F, 0x7E), 0, RAX); /* movq rax, xmm0 */
    finite_or_exit(e, ex);
    mov_mi(e, dst.base, dst.d, GV_FLOAT);
    mov_mr(e, dst.base, dst.d + 8, RAX);
    jmp(e, done);
  } else
    jmp(e, ex);
  bind(e, done);
}

/* R[A] := x op K, the numeric cases of gavel__op_arith: int op int
** (overflow: the VM), and with a float on either side both as doubles,
** the result finite (else the VM reports).  The int constant's double is
** the VM's conversion, made here once. */
static void t_arithk(T *t, uint32_t w, int aop, loc dst, loc x,
                     const gvalue *k) {
  J *e = t->e;
  uint32_t ex = exit_to(e, w), done = newlabel(e), notint = newlabel(e),
           flt = newlabel(e), op = newlabel(e);
  double kd;
  uint64_t kbits;
  if (k->tag == GV_INT)
    kd = (double)k->u.i;
  else if (k->tag == GV_FLOAT)
    kd = k->u.f;
  else {
    jmp(e, ex);
    return;
  }
  if (kd - kd != 0.0) { /* an infinite or NaN constant: the VM */
    jmp(e, ex);
    return;
  }
  memcpy(&kbits, &kd, sizeof kbits);
  mov_rm(e, RAX, x.base, x.d);
  cmp_ri8(e, RAX, GV_INT);
  jcc(e, CC_NE, notint);
  if (k->tag == GV_INT) {
    static const unsigned char io[3] = {0x03, 0x2B, 0xAF};
    mov_rm(e, RAX, x.base, x.d + 8);
    mov_ri(e, RCX, (uint64_t)k->u.i);
    if (aop == AR_MUL_)
      rr(e, 0, 1, OPC(0x0F, 0xAF), RAX, RCX); /* imul rax, rcx */
    else
      rr(e, 0, 1, &io[aop], 1, RAX, RCX);     /* add/sub rax, rcx */
    jcc(e, CC_O, ex);
    mov_mi(e, dst.base, dst.d, GV_INT);
    mov_mr(e, dst.base, dst.d + 8, RAX);
    jmp(e, done);
  } else {
    rm(e, 0xF2, 1, OPC(0x0F, 0x2A), 0, x.base, x.d + 8); /* cvtsi2sd */
    jmp(e, op);
  }
  bind(e, notint);
  cmp_ri8(e, RAX, GV_FLOAT);
  jcc(e, CC_NE, ex);
  bind(e, flt);
  xmm_rm(e, 0xF2, 0x10, 0, x.base, x.d + 8); /* movsd xmm0, x */
  bind(e, op);
  mov_ri(e, RAX, kbits);
  rr(e, 0x66, 1, OPC(0x0F, 0x6E), 1, RAX); /* movq xmm1, rax */
  {
    static const int opc[3] = {0x58, 0x5C, 0x59};
    rr(e, 0xF2, 0, OPC(0x0F, (unsigned char)opc[aop]), 0, 1);
  }
  rr(e, 0x66, 1, OPC(0x0F, 0x7E), 0, RAX); /* movq rax, xmm0 */
  finite_or_exit(e, ex);
  mov_mi(e, dst.base, dst.d, GV_FLOAT);
  mov_mr(e, dst.base, dst.d + 8, RAX);
  bind(e, done);
}

/* R[A] := x / y, the float cases of gavel__op_arith (at least one float,
** the other int or float, divisor not zero, finite quotient); int / int
** and everything else: the VM. */
static void t_div(T *t, uint32_t w, loc dst, loc x, loc y) {
  J *e = t->e;
  uint32_t ex = exit_to(e, w), yflt = newlabel(e), xf = newlabel(e),
           divide = newlabel(e);
  cmp_mi(e, y.base, y.d, GV_FLOAT);
  jcc(e, CC_E, yflt);
  cmp_mi(e, y.base, y.d, GV_INT);
  jcc(e, CC_NE, ex);
  cmp_mi(e, x.base, x.d, GV_FLOAT); /* int divisor: x must be a float */
  jcc(e, CC_NE, ex);
  rm(e, 0xF2, 1, OPC(0x0F, 0x2A), 1, y.base, y.d + 8); /* cvtsi2sd xmm1 */
  xmm_rm(e, 0xF2, 0x10, 0, x.base, x.d + 8);           /* movsd xmm0 */
  jmp(e, divide);
  bind(e, yflt);
  xmm_rm(e, 0xF2, 0x10, 1, y.base, y.d + 8);           /* movsd xmm1 */
  cmp_mi(e, x.base, x.d, GV_FLOAT);
  jcc(e, CC_E, xf);
  cmp_mi(e, x.base, x.d, GV_INT);
  jcc(e, CC_NE, ex);
  rm(e, 0xF2, 1, OPC(0x0F, 0x2A), 0, x.base, x.d + 8); /* cvtsi2sd xmm0 */
  jmp(e, divide);
  bind(e, xf);
  xmm_rm(e, 0xF2, 0x10, 0, x.base, x.d + 8);
  bind(e, divide);
  rr(e, 0x66, 0, OPC(0x0F, 0x57), 2, 2); /* xorpd xmm2, xmm2 */
  rr(e, 0x66, 0, OPC(0x0F, 0x2E), 1, 2); /* ucomisd xmm1, xmm2 */
  jcc(e, CC_E, ex);                      /* zero (or NaN): the VM */
  rr(e, 0xF2, 0, OPC(0x0F, 0x5E), 0, 1); /* divsd xmm0, xmm1 */
  rr(e, 0x66, 1, OPC(0x0F, 0x7E), 0, RAX);
  finite_or_exit(e, ex);
  mov_mi(e, dst.base, dst.d, GV_FLOAT);
  mov_mr(e, dst.base, dst.d + 8, RAX);
}

/* Is every operand of the program in range and every jump target the
** start of an instruction?  Anything odd stays in the VM. */
static int supported(const gv_program *p, unsigned char *starts) {
  uint32_t w;
  uint32_t ns = p->syms ? p->syms->n_inputs : 0;
  if (p->n_regs == 0 || p->n_regs > GAVEL_MAX_REGS || p->n_code == 0 ||
      p->n_code > (1u << 20))
    return 0;
  for (w = 0; w < p->n_code;) {
    gv_ins i = p->code[w];
    int op = GET_OP(i);
    if (op >= GAVEL_OP__COUNT)
      return 0;
    starts[w] = 1;
    w += (uint32_t)gavel__op_words(op);
  }
  if (w != p->n_code)
    return 0;
  { /* the last instruction leaves or jumps: no falling off the end */
    uint32_t last = 0;
    for (w = 0; w < p->n_code; w += (uint32_t)gavel__op_words(GET_OP(p->code[w])))
      last = w;
    if (GET_OP(p->code[last]) != OP_RET && GET_OP(p->code[last]) != OP_RETK &&
        GET_OP(p->code[last]) != OP_JMP)
      return 0;
  }
  for (w = 0; w < p->n_code; w += (uint32_t)gavel__op_words(GET_OP(p->code[w]))) {
    gv_ins i = p->code[w];
    int op = GET_OP(i);
    unsigned a = GET_A(i), b = GET_B(i), c = GET_C(i), bx = GET_Bx(i);
    int64_t tgt;
    switch (op) {
    case OP_LOADK: case OP_RETK:
      if ((op == OP_LOADK && a >= p->n_regs) || bx >= p->n_k) return 0;
      break;
    case OP_LOADNULL: case OP_LOADBOOL:
      if (a >= p->n_regs) return 0;
      break;
    case OP_MOVE: case OP_NOT: case OP_TOBOOL:
      if (a >= p->n_regs || b >= p->n_regs) return 0;
      break;
    case OP_LOADS: case OP_EXISTSS:
      if (a >= p->n_regs || bx >= ns) return 0;
      break;
    case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV:
    case OP_EQ: case OP_NE: case OP_LT: case OP_LE: case OP_GT: case OP_GE:
      if (a >= p->n_regs || b >= p->n_regs || c >= p->n_regs) return 0;
      break;
    case OP_ADDK: case OP_SUBK: case OP_MULK: case OP_DIVK:
    case OP_EQK: case OP_NEK: case OP_LTK: case OP_LEK: case OP_GTK:
    case OP_GEK:
      if (a >= p->n_regs || b >= p->n_regs || c >= p->n_k) return 0;
      break;
    case OP_MULSK: case OP_INSK:
    case OP_EQSK: case OP_NESK: case OP_LTSK: case OP_LESK: case OP_GTSK:
    case OP_GESK:
      if (a >= p->n_regs || b >= ns || c >= p->n_k) return 0;
      break;
    case OP_JEQK: case OP_JNEK: case OP_JLTK: case OP_JLEK: case OP_JGTK:
    case OP_JGEK:
    case OP_JEQSK: case OP_JNESK: case OP_JLTSK: case OP_JLESK:
    case OP_JGTSK: case OP_JGESK:
      if (a >= (op >= OP_JEQSK ? ns : p->n_regs) || b >= p->n_k || c > 1)
        return 0;
      tgt = (int64_t)w + 2 + (int32_t)p->code[w + 1];
      if (tgt < 0 || tgt >= p->n_code || !starts[tgt]) return 0;
      break;
    case OP_JMP: case OP_JT: case OP_JF: case OP_JNN:
      if (op != OP_JMP && a >= p->n_regs) return 0;
      tgt = (int64_t)w + 1 + GET_sBx(i);
      if (tgt < 0 || tgt >= p->n_code || !starts[tgt]) return 0;
      break;
    case OP_RET:
      if (a >= p->n_regs) return 0;
      break;
    case OP_CALL:
      if (b >= (unsigned)gavel__builtin_count() || a + c > p->n_regs)
        return 0;
      break;
    case OP_MOD: case OP_IN:
      if (a >= p->n_regs || b >= p->n_regs || c >= p->n_regs) return 0;
      break;
    case OP_MODK: case OP_INK:
      if (a >= p->n_regs || b >= p->n_regs || c >= p->n_k) return 0;
      break;
    case OP_NEG:
      if (a >= p->n_regs || b >= p->n_regs) return 0;
      break;
    /* No template: variable paths, builders and FAIL.  Compiled code
    ** reaching one resumes the VM there, which runs the rest of the
    ** program; as the first instruction, the whole program stays in the
    ** VM. */
    case OP_LOADV: case OP_EXISTSV: case OP_NEWARR: case OP_APPEND:
    case OP_NEWOBJ: case OP_SETKEY: case OP_FAIL:
      if (w == 0)
        return 0;
      break;
    default:
      return 0;
    }
  }
  return 1;
}

/* Emits 'p' into e.  Returns 0, or 1 when the program stays in the VM. */
/* Several programs go into one buffer one after the other (a batch):
** labels, fixups and exits are per program, code offsets absolute. */
static int words_fit(J *e, uint32_t n) {
  uint32_t nc;
  if (n <= e->cap_words)
    return 1;
  nc = e->cap_words ? e->cap_words : 64;
  while (nc < n)
    nc *= 2;
  free(e->op_start);
  free(e->op_native);
  free(e->starts);
  free(e->wlab);
  e->op_start = malloc(nc * sizeof(uint32_t));
  e->op_native = malloc(nc);
  e->starts = malloc(nc);
  e->wlab = malloc(nc * sizeof(uint32_t));
  e->cap_words = nc;
  if (!e->op_start || !e->op_native || !e->starts || !e->wlab) {
    e->cap_words = 0;
    e->oom = 1;
    return 0;
  }
  return 1;
}

static int emit_program_(J *e, const gv_program *p);

/* Patches every recorded rel32 with its label's address.  0, or 1 when
** the buffer failed or a label was never bound (a bug: never run such
** code). */
static int resolve_jumps(J *e) {
  uint32_t i;
  for (i = 0; i < e->n_fx && !e->oom; i++) {
    int32_t to = e->lab[e->fx[i].label];
    int32_t rel = to - (int32_t)(e->fx[i].at + 4);
    if (to < 0) {
      e->oom = 1;
      break;
    }
    memcpy(e->b + e->fx[i].at, &rel, 4);
  }
  return e->oom ? 1 : 0;
}

/* The chain's and the binder's frame: rbx, r12, r13, r14 saved, 'frame'
** bytes of stack (frame = 8 mod 16 keeps rsp aligned). */
static void enter4(J *e, int32_t frame) {
  byte(e, 0x53);                /* push rbx */
  byte(e, 0x41); byte(e, 0x54); /* push r12 */
  byte(e, 0x41); byte(e, 0x55); /* push r13 */
  byte(e, 0x41); byte(e, 0x56); /* push r14 */
  rr(e, 0, 1, OPC(0x81), 5, RSP); /* sub rsp, frame */
  u32(e, (uint32_t)frame);
}

static void leave4(J *e, int32_t frame) {
  rr(e, 0, 1, OPC(0x81), 0, RSP); /* add rsp, frame */
  u32(e, (uint32_t)frame);
  byte(e, 0x41); byte(e, 0x5E);
  byte(e, 0x41); byte(e, 0x5D);
  byte(e, 0x41); byte(e, 0x5C);
  byte(e, 0x5B);
  byte(e, 0xC3);
}

/* Emits 'p' at the end of e (16-aligned); 0, or 1 (nothing kept) when the
** program stays in the VM. */
static int emit_program(J *e, const gv_program *p, size_t *entry) {
  size_t base;
  while (e->n & 15)
    byte(e, 0xCC);
  base = e->n;
  e->n_lab = e->n_fx = e->n_ex = 0;
  if (p->n_code == 0 || p->n_code > (1u << 20) || !words_fit(e, p->n_code + 1))
    return 1;
  memset(e->starts, 0, p->n_code + 1);
  memset(e->op_native, 0, p->n_code);
  if (!supported(p, e->starts) || emit_program_(e, p) != 0) {
    e->n = base;
    return 1;
  }
  *entry = base;
  return 0;
}

/* The program's instructions, template by template (t->wlab bound). */
static void emit_ops(T *t) {
  J *e = t->e;
  const gv_program *p = t->p;
  uint32_t w;
  for (w = 0; w < p->n_code; w += (uint32_t)gavel__op_words(GET_OP(p->code[w]))) {
    gv_ins ins = p->code[w];
    int op = GET_OP(ins);
    unsigned a = GET_A(ins), b = GET_B(ins), c = GET_C(ins), bx = GET_Bx(ins);
    uint32_t n_ex0 = e->n_ex;
    bind(e, t->wlab[w]);
    e->op_start[w] = (uint32_t)e->n;
    switch (op) {
    case OP_LOADK:
      mov_ri(e, RAX, p->k[bx].tag);
      mov_ri(e, RCX, (uint64_t)p->k[bx].u.i);
      mov_mr(e, RR, L_R(a).d, RAX);
      mov_mr(e, RR, L_R(a).d + 8, RCX);
      break;
    case OP_LOADNULL:
      mov_mi(e, RR, L_R(a).d, GV_NULL);
      mov_mi(e, RR, L_R(a).d + 8, 0);
      break;
    case OP_LOADBOOL:
      mov_mi(e, RR, L_R(a).d, GV_BOOL);
      mov_mi(e, RR, L_R(a).d + 8, b != 0);
      break;
    case OP_MOVE:
      copy_val(e, L_R(a), L_R(b));
      break;
    case OP_LOADS: {
      uint32_t ex = exit_to(e, w);
      loc s = L_S(bx);
      mov_rm(e, RAX, s.base, s.d);
      cmp_ri8(e, RAX, GV_MISSING);
      jcc(e, CC_E, ex);
      mov_rm(e, RCX, s.base, s.d + 8);
      mov_mr(e, RR, L_R(a).d, RAX);
      mov_mr(e, RR, L_R(a).d + 8, RCX);
      break;
    }
    case OP_EXISTSS:
      cmp_mi(e, RS, L_S(bx).d, GV_MISSING);
      setcc_al_movzx(e, CC_NE);
      store_bool_eax(e, L_R(a));
      break;
    case OP_ADD: case OP_SUB: case OP_MUL:
      t_arith(t, w, op - OP_ADD, L_R(a), L_R(b), L_R(c), 1, 1);
      break;
    case OP_ADDK: case OP_SUBK: case OP_MULK:
      t_arithk(t, w, op == OP_MULK ? AR_MUL_ : op - OP_ADDK, L_R(a), L_R(b),
               &p->k[c]);
      break;
    case OP_MULSK: /* an absent slot is no number: the VM reports */
      t_arithk(t, w, AR_MUL_, L_R(a), L_S(b), &p->k[c]);
      break;
    case OP_DIV: case OP_DIVK:
      t_div(t, w, L_R(a), L_R(b), op == OP_DIV ? L_R(c) : L_K(c));
      break;
    case OP_CALL: {
      uint32_t fx = exit_to(e, w | GV_VM_FAILED);
      mov_rm(e, RDI, RF, (int32_t)offsetof(gv_frame, rt));
      mov_rr(e, RSI, RR);
      mov_ri(e, RDX, ins);
      call_abs(e, (const void *)call_helper);
      test_rr(e, RAX, RAX);
      jcc(e, CC_NE, fx);
      break;
    }
    case OP_NEG: {
      /* int (not the smallest: the VM reports) or finite float */
      uint32_t ex = exit_to(e, w), flt = newlabel(e), done = newlabel(e);
      loc x = L_R(b), d = L_R(a);
      mov_rm(e, RAX, x.base, x.d);
      cmp_ri8(e, RAX, GV_INT);
      jcc(e, CC_NE, flt);
      mov_rm(e, RAX, x.base, x.d + 8);
      rr(e, 0, 1, OPC(0xF7), 3, RAX); /* neg rax: OF for INT64_MIN */
      jcc(e, CC_O, ex);
      mov_mi(e, d.base, d.d, GV_INT);
      mov_mr(e, d.base, d.d + 8, RAX);
      jmp(e, done);
      bind(e, flt);
      cmp_ri8(e, RAX, GV_FLOAT);
      jcc(e, CC_NE, ex);
      mov_rm(e, RAX, x.base, x.d + 8);
      finite_or_exit(e, ex);
      mov_ri(e, RCX, 0x8000000000000000ull);
      rr(e, 0, 1, OPC(0x31), RCX, RAX); /* xor rax, rcx: the sign */
      mov_mi(e, d.base, d.d, GV_FLOAT);
      mov_mr(e, d.base, d.d + 8, RAX);
      bind(e, done);
      break;
    }
    case OP_MOD: case OP_MODK: {
      /* int % int; a zero divisor: the VM reports; -1: 0 (as the VM,
      ** also for the smallest int) */
      uint32_t ex = exit_to(e, w), done = newlabel(e), m1 = newlabel(e);
      loc x = L_R(b), y = op == OP_MOD ? L_R(c) : L_K(c), d = L_R(a);
      if (op == OP_MODK && (p->k[c].tag != GV_INT || p->k[c].u.i == 0)) {
        jmp(e, ex);
        break;
      }
      cmp_mi(e, x.base, x.d, GV_INT);
      jcc(e, CC_NE, ex);
      cmp_mi(e, y.base, y.d, GV_INT);
      jcc(e, CC_NE, ex);
      mov_rm(e, RCX, y.base, y.d + 8);
      test_rr(e, RCX, RCX);
      jcc(e, CC_E, ex);
      cmp_ri8(e, RCX, -1);
      jcc(e, CC_E, m1);
      mov_rm(e, RAX, x.base, x.d + 8);
      byte(e, 0x48);
      byte(e, 0x99);                    /* cqo */
      rr(e, 0, 1, OPC(0xF7), 7, RCX);   /* idiv rcx */
      mov_mi(e, d.base, d.d, GV_INT);
      mov_mr(e, d.base, d.d + 8, RDX);
      jmp(e, done);
      bind(e, m1);
      mov_mi(e, d.base, d.d, GV_INT);
      mov_mi(e, d.base, d.d + 8, 0);
      bind(e, done);
      break;
    }
    case OP_IN: case OP_INK: {
      uint32_t ex = exit_to(e, w);
      loc coll = op == OP_IN ? L_R(c) : L_K(c);
      if (op == OP_INK && p->k[c].tag != GV_ARR) {
        jmp(e, ex); /* strings: the VM */
        break;
      }
      mov_rm(e, RDI, RF, (int32_t)offsetof(gv_frame, rt));
      rm(e, 0, 1, OPC(0x8D), RSI, RR, L_R(b).d); /* lea rsi, x */
      rm(e, 0, 1, OPC(0x8D), RDX, coll.base, coll.d);
      call_abs(e, (const void *)in_helper);
      test_rr(e, RAX, RAX);
      jcc(e, CC_S, ex);
      store_bool_eax(e, L_R(a));
      break;
    }
    case OP_LOADV: case OP_EXISTSV: case OP_NEWARR: case OP_APPEND:
    case OP_NEWOBJ: case OP_SETKEY: case OP_FAIL:
      jmp(e, exit_to(e, w)); /* the VM from here on */
      break;
    case OP_INSK: {
      uint32_t ex = exit_to(e, w);
      loc x = L_S(b);
      if (p->k[c].tag != GV_ARR) {
        jmp(e, ex); /* the VM's general path */
        break;
      }
      cmp_mi(e, x.base, x.d, GV_STR); /* absent, other types: the VM */
      jcc(e, CC_NE, ex);
      {
        const gv_arr *arr = p->k[c].u.a;
        uint32_t j, inl = arr->len <= 16;
        for (j = 0; j < arr->len && inl; j++)
          if (arr->items[j].tag == GV_STR &&
              arr->items[j].u.s->len > INLINE_STR_MAX)
            inl = 0;
        if (inl) {
          /* the VM's charge (the VM reports exhaustion), then the
          ** strings of the array compared inline, in order */
          uint32_t found = newlabel(e), store = newlabel(e);
          mov_rm(e, RAX, RF, (int32_t)offsetof(gv_frame, rt));
          mov_rm(e, RCX, RAX, (int32_t)offsetof(gv_rt, gas));
          rr(e, 0, 1, OPC(0x81), 5, RCX); /* sub rcx, imm32 */
          u32(e, arr->len);
          jcc(e, CC_S, ex);
          mov_mr(e, RAX, (int32_t)offsetof(gv_rt, gas), RCX);
          mov_rm(e, RDI, x.base, x.d + 8);
          for (j = 0; j < arr->len; j++) {
            uint32_t next = newlabel(e);
            if (arr->items[j].tag != GV_STR)
              continue; /* never equal to a string */
            key_cmp(e, arr->items[j].u.s, next);
            jmp(e, found);
            bind(e, next);
          }
          rr(e, 0, 0, OPC(0x31), RAX, RAX);
          jmp(e, store);
          bind(e, found);
          mov_ri(e, RAX, 1);
          bind(e, store);
          store_bool_eax(e, L_R(a));
          break;
        }
      }
      mov_rm(e, RDI, RF, (int32_t)offsetof(gv_frame, rt));
      mov_rm(e, RSI, x.base, x.d + 8);
      mov_ri(e, RDX, (uint64_t)(uintptr_t)p->k[c].u.a);
      call_abs(e, (const void *)insk_helper);
      test_rr(e, RAX, RAX);
      jcc(e, CC_S, ex);
      store_bool_eax(e, L_R(a));
      break;
    }
    case OP_NOT: case OP_TOBOOL:
      t_truthy(t, w, L_R(b));
      setcc_al_movzx(e, op == OP_NOT ? CC_E : CC_NE);
      store_bool_eax(e, L_R(a));
      break;
    case OP_EQ: case OP_NE: case OP_LT: case OP_LE: case OP_GT: case OP_GE:
    case OP_EQK: case OP_NEK: case OP_LTK: case OP_LEK: case OP_GTK:
    case OP_GEK:
    case OP_EQSK: case OP_NESK: case OP_LTSK: case OP_LESK: case OP_GTSK:
    case OP_GESK: {
      cons cs;
      int fam = op >= OP_EQSK ? 2 : op >= OP_EQK ? 1 : 0;
      int kind = op - (fam == 2 ? OP_EQSK : fam == 1 ? OP_EQK : OP_EQ);
      loc x = fam == 2 ? L_S(b) : L_R(b);
      loc y = fam == 0 ? L_R(c) : L_K(c);
      memset(&cs, 0, sizeof cs);
      cs.dst = L_R(a);
      cs.join = newlabel(e);
      t_compare(t, w, kind, x, y, fam ? &p->k[c] : NULL, &cs);
      bind(e, cs.join);
      break;
    }
    case OP_JEQK: case OP_JNEK: case OP_JLTK: case OP_JLEK: case OP_JGTK:
    case OP_JGEK:
    case OP_JEQSK: case OP_JNESK: case OP_JLTSK: case OP_JLESK:
    case OP_JGTSK: case OP_JGESK: {
      cons cs;
      int slot = op >= OP_JEQSK;
      int kind = op - (slot ? OP_JEQSK : OP_JEQK);
      uint32_t tgt = (uint32_t)((int64_t)w + 2 + (int32_t)p->code[w + 1]);
      memset(&cs, 0, sizeof cs);
      cs.branch = 1;
      cs.want = (int)c;
      cs.taken = t->wlab[tgt];
      cs.next = w + 2 < p->n_code ? t->wlab[w + 2] : t->epi;
      t_compare(t, w, kind, slot ? L_S(a) : L_R(a), L_K(b), &p->k[b], &cs);
      break;
    }
    case OP_JMP:
      jmp(e, t->wlab[w + 1 + GET_sBx(ins)]);
      break;
    case OP_JT: case OP_JF:
      t_truthy(t, w, L_R(a));
      jcc(e, op == OP_JT ? CC_NE : CC_E, t->wlab[w + 1 + GET_sBx(ins)]);
      break;
    case OP_JNN:
      cmp_mi(e, RR, L_R(a).d, GV_NULL);
      jcc(e, CC_NE, t->wlab[w + 1 + GET_sBx(ins)]);
      break;
    case OP_RET:
      if (t->succ && t->truthy) {
        t_truthy(t, w, L_R(a));
        jcc(e, CC_NE, t->succ[0]);
        jmp(e, t->dflt);
        break;
      }
      if (t->succ) { /* a computed branch index: the straight path */
        jmp(e, e->chain_fail);
        break;
      }
      mov_rm(e, RAX, RR, L_R(a).d);
      mov_rm(e, RCX, RR, L_R(a).d + 8);
      mov_mr(e, RO, 0, RAX);
      mov_mr(e, RO, 8, RCX);
      rr(e, 0, 0, OPC(0x31), RAX, RAX);
      jmp(e, t->epi);
      break;
    case OP_RETK:
      if (t->succ && t->truthy) {
        jmp(e, gavel__truthy(p->k[bx]) ? t->succ[0] : t->dflt);
        break;
      }
      if (t->succ) {
        const gvalue *k = &p->k[bx];
        if (k->tag != GV_INT)
          jmp(e, e->chain_fail);
        else if (k->u.i >= 0 && (uint64_t)k->u.i < t->n_succ)
          jmp(e, t->succ[k->u.i]);
        else
          jmp(e, t->dflt);
        break;
      }
      mov_ri(e, RAX, p->k[bx].tag);
      mov_mr(e, RO, 0, RAX);
      mov_ri(e, RAX, (uint64_t)p->k[bx].u.i);
      mov_mr(e, RO, 8, RAX);
      rr(e, 0, 0, OPC(0x31), RAX, RAX);
      jmp(e, t->epi);
      break;
    }
    e->op_native[w] = e->n_ex > n_ex0 ? 2 : 1;
  }
}

static int emit_program_(J *e, const gv_program *p) {
  T t;
  uint32_t w, gas_lab, deopt, i;
  int32_t frame = (int32_t)(p->n_regs * 16 + 8);
  memset(&t, 0, sizeof t);
  t.e = e;
  t.p = p;
  t.wlab = e->wlab;
  for (w = 0; w < p->n_code; w++)
    t.wlab[w] = newlabel(e);
  t.epi = newlabel(e);
  gas_lab = newlabel(e);
  deopt = newlabel(e);

  /* Prologue: save callee-saved registers, make the register file. */
  byte(e, 0x55);             /* push rbp */
  byte(e, 0x53);             /* push rbx */
  byte(e, 0x41); byte(e, 0x54); /* push r12 */
  byte(e, 0x41); byte(e, 0x55); /* push r13 */
  byte(e, 0x41); byte(e, 0x56); /* push r14 */
  byte(e, 0x41); byte(e, 0x57); /* push r15 */
  rr(e, 0, 1, OPC(0x81), 5, RSP); /* sub rsp, frame */
  u32(e, (uint32_t)frame);
  mov_rr(e, RR, RSP);
  mov_rr(e, RP, RDI);
  mov_rr(e, RF, RSI);
  mov_rr(e, RO, RDX);
  mov_rm(e, RS, RSI, (int32_t)offsetof(gv_frame, slots));
  mov_ri(e, RK, (uint64_t)(uintptr_t)p->k);
  /* Gas: the static bound, charged as the VM does; exhaustion lets the VM
  ** run from the start (it charges and reports itself). */
  mov_rm(e, RAX, RSI, (int32_t)offsetof(gv_frame, rt));
  mov_rm(e, RCX, RAX, (int32_t)offsetof(gv_rt, gas));
  rr(e, 0, 1, OPC(0x81), 5, RCX); /* sub rcx, imm32 */
  u32(e, p->gas);
  jcc(e, CC_S, gas_lab);
  mov_mr(e, RAX, (int32_t)offsetof(gv_rt, gas), RCX);

  emit_ops(&t);
  /* Unreachable (the last instruction leaves or jumps): trap. */
  byte(e, 0x0F);
  byte(e, 0x0B); /* ud2 */

  /* Cold exits: resume the VM at the word, over our register file. */
  for (i = 0; i < e->n_ex; i++) {
    bind(e, e->ex[i].label);
    mov_ri(e, R8, e->ex[i].word);
    jmp(e, deopt);
  }
  bind(e, deopt);
  mov_rr(e, RDI, RP);
  mov_rr(e, RSI, RF);
  mov_rr(e, RDX, RO);
  mov_rr(e, RCX, RR);
  call_abs(e, (const void *)gavel__vm_exec);
  jmp(e, t.epi);
  bind(e, gas_lab); /* the whole run in the VM */
  mov_rr(e, RDI, RP);
  mov_rr(e, RSI, RF);
  mov_rr(e, RDX, RO);
  rr(e, 0, 0, OPC(0x31), RCX, RCX);
  rr(e, 0, 0, OPC(0x31), R8, R8);
  call_abs(e, (const void *)gavel__vm_exec);
  bind(e, t.epi);
  rr(e, 0, 1, OPC(0x81), 0, RSP); /* add rsp, frame */
  u32(e, (uint32_t)frame);
  byte(e, 0x41); byte(e, 0x5F); /* pop r15 */
  byte(e, 0x41); byte(e, 0x5E);
  byte(e, 0x41); byte(e, 0x5D);
  byte(e, 0x41); byte(e, 0x5C);
  byte(e, 0x5B);                /* pop rbx */
  byte(e, 0x5D);                /* pop rbp */
  byte(e, 0xC3);

  return resolve_jumps(e);
}

static void j_free(J *e) {
  free(e->b);
  free(e->lab);
  free(e->fx);
  free(e->ex);
  free(e->op_start);
  free(e->op_native);
  free(e->starts);
  free(e->wlab);
  memset(e, 0, sizeof *e);
}

/* Copies e's code into a fresh mapping, sealed read+exec (W^X: it is
** never writable and executable at once), owned by 'o'.  NULL when over
** the runtime's bound or out of memory. */
static unsigned char *map_code(gv_jitown *o, const J *e) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t len = (e->n + page - 1) & ~(page - 1);
  unsigned char *mem;
  gv_jitmap *m;
  if (atomic_fetch_add(&o->rt->jit_bytes, len) + len > o->max_bytes) {
    atomic_fetch_sub(&o->rt->jit_bytes, len); /* over the bound: VM */
    return NULL;
  }
  mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
             -1, 0);
  if (mem == MAP_FAILED) {
    atomic_fetch_sub(&o->rt->jit_bytes, len);
    return NULL;
  }
  memcpy(mem, e->b, e->n);
  memset(mem + e->n, 0xCC, len - e->n); /* int3 after the code */
  m = gavel__malloc(&o->rt->al, sizeof *m);
  if (!m || mprotect(mem, len, PROT_READ | PROT_EXEC) != 0) {
    if (m)
      gavel__free(&o->rt->al, m, sizeof *m);
    munmap(mem, len);
    atomic_fetch_sub(&o->rt->jit_bytes, len);
    return NULL;
  }
  m->mem = mem;
  m->len = len;
  m->next = o->maps;
  o->maps = m;
  atomic_fetch_add(&g_mapped, len);
  return mem;
}

/* Compiles the programs in 'ps' (n of them) into one new mapping and
** publishes their entries; those that cannot be compiled are marked VM
** only.  Called with o->mu held. */
static void compile_batch(gv_jitown *o, gv_program **ps, size_t n) {
  J e;
  size_t *off = malloc((n ? n : 1) * sizeof(size_t));
  size_t i;
  unsigned char *mem;
  int any = 0;
  memset(&e, 0, sizeof e);
  if (!off)
    goto fail;
  for (i = 0; i < n; i++) {
    if (emit_program(&e, ps[i], &off[i]) != 0) {
      off[i] = SIZE_MAX;
      atomic_store_explicit(&ps[i]->jit_state, 2, memory_order_relaxed);
      continue;
    }
    any = 1;
  }
  if (e.oom)
    goto fail;
  if (!any)
    goto done;
  mem = map_code(o, &e);
  if (!mem)
    goto fail;
  for (i = 0; i < n; i++) {
    if (off[i] == SIZE_MAX)
      continue;
    atomic_store_explicit(&ps[i]->jit_state, 1, memory_order_relaxed);
    atomic_store_explicit(&ps[i]->jit_fn, (uintptr_t)(mem + off[i]),
                          memory_order_release);
  }
  goto done;
fail:
  for (i = 0; i < n; i++)
    atomic_store_explicit(&ps[i]->jit_state, 2, memory_order_relaxed);
done:
  j_free(&e);
  free(off);
}

/* ==== Decision chains ==== */

/* May 'p' be a chain node?  Every instruction must be one whose template
** either finishes inline or exits (no calls into the VM's helpers that
** charge gas or set errors: CALL, INSK; no VM-only instruction). */
static int chain_ok(J *e, const gv_program *p) {
  uint32_t w;
  if (p->n_code == 0 || p->n_code > (1u << 20) ||
      !words_fit(e, p->n_code + 1))
    return 0;
  memset(e->starts, 0, p->n_code + 1);
  memset(e->op_native, 0, p->n_code);
  if (!supported(p, e->starts))
    return 0;
  for (w = 0; w < p->n_code; w += (uint32_t)gavel__op_words(GET_OP(p->code[w])))
    switch (GET_OP(p->code[w])) {
    case OP_CALL: case OP_INSK: case OP_IN: case OP_INK: /* charge gas */
    case OP_LOADV: case OP_EXISTSV: case OP_NEWARR: case OP_APPEND:
    case OP_NEWOBJ: case OP_SETKEY: case OP_FAIL:
      return 0;
    default:
      break;
    }
  return 1;
}

typedef struct leafref {
  uint32_t label; /* where the leaf's return is emitted */
  int32_t leaf;   /* its number                         */
} leafref;

/* The chain's input trie: every input path of the graph, shared prefixes
** once (children after their parents); 'map' gives each slot's node
** (n: the root).  0, or 1 when a path has a segment other than a key or
** the trie is too big (no chain: the straight path binds). */
typedef struct ctrie {
  int32_t parent[GV_CHAIN_MAX_NODES]; /* node or -1 (the root) */
  const gv_str *key[GV_CHAIN_MAX_NODES];
  int32_t map[GV_CHAIN_MAX_NODES];    /* per slot              */
  uint32_t n;
} ctrie;

static int chain_trie(ctrie *tr, const gv_symtab *st) {
  uint32_t i, k;
  int j;
  tr->n = 0;
  if (st->n_inputs > GV_CHAIN_MAX_NODES)
    return 1;
  for (i = 0; i < st->n_inputs; i++) {
    const gx_path *p = st->inputs[i];
    int32_t cur = -1;
    for (j = 0; j < p->n_segs; j++) {
      const gv_str *key = p->segs[j].key;
      if (p->segs[j].kind != GX_SEG_KEY)
        return 1;
      for (k = 0; k < tr->n; k++)
        if (tr->parent[k] == cur && gavel__str_eq(tr->key[k], key))
          break;
      if (k == tr->n) {
        if (tr->n == GV_CHAIN_MAX_NODES - 1) /* one entry for the root */
          return 1;
        tr->parent[k] = cur;
        tr->key[k] = key;
        tr->n++;
      }
      cur = (int32_t)k;
    }
    tr->map[i] = cur;
  }
  for (i = 0; i < st->n_inputs; i++)
    if (tr->map[i] < 0)
      tr->map[i] = (int32_t)tr->n;
  return 0;
}

/* The first key of 'o' equal to 'k' (gavel__obj_find's linear rule), its
** position remembered in *memo; -1 when absent. */
static int64_t chain_find(const gv_obj *o, const gv_str *k, uint32_t *memo) {
  uint32_t j;
  for (j = 0; j < o->len; j++)
    if (gavel__str_eq(o->keys[j], k)) {
      *memo = j;
      return j;
    }
  return -1;
}

/* mov dst, [base + index*8] */
static void mov_sib8(J *e, int dst, int base, int index) {
  byte(e, 0x48 | ((dst & 8) ? 4 : 0) | ((index & 8) ? 2 : 0) |
              ((base & 8) ? 1 : 0));
  byte(e, 0x8B);
  byte(e, 0x04 | ((dst & 7) << 3));
  byte(e, 0xC0 | ((index & 7) << 3) | (base & 7));
}

/* Jumps to 'ne' unless the gv_str at rdi equals 'k' (length, then the
** bytes as 8-byte immediates; a key under 8 bytes through the window
** ending at its last byte, which starts inside the gv_str header, masked:
** never a read outside the string). */
static void key_cmp(J *e, const gv_str *k, uint32_t ne) {
  uint32_t len = k->len, off;
  int32_t s0 = (int32_t)offsetof(gv_str, s);
  uint64_t v;
  rm(e, 0, 0, OPC(0x81), 7, RDI, (int32_t)offsetof(gv_str, len));
  u32(e, len); /* cmp dword [rdi], len */
  jcc(e, CC_NE, ne);
  if (len >= 8) {
    for (off = 0;; off += 8) {
      if (off + 8 > len)
        off = len - 8; /* the last 8 bytes, overlapping */
      mov_rm(e, RAX, RDI, s0 + (int32_t)off);
      memcpy(&v, k->s + off, 8);
      mov_ri(e, R8, v);
      cmp_rr(e, RAX, R8);
      jcc(e, CC_NE, ne);
      if (off + 8 >= len)
        break;
    }
  } else if (len > 0) {
    uint64_t mask = ~(uint64_t)0 << (8 * (8 - len));
    memcpy(&v, k->s + (int32_t)len - 8, 8);
    mov_rm(e, RAX, RDI, s0 + (int32_t)len - 8);
    mov_ri(e, R8, mask);
    rr(e, 0, 1, OPC(0x21), R8, RAX); /* and rax, r8 */
    mov_ri(e, R8, v & mask);
    cmp_rr(e, RAX, R8);
    jcc(e, CC_NE, ne);
  }
}

/* Node v := its key in the parent object (node area at RS, the memo at
** r14): the remembered position first, checked against the key and,
** unless the object is known to have no duplicate keys (gv_obj.nodup:
** the JSON reader's), against every earlier key (the first equal key
** wins); otherwise chain_find.  An absent parent or a scalar: absent.  An array parent or
** an indexed object: the chain fails (the straight path binds). */
static void emit_bind_node(J *e, const ctrie *tr, uint32_t v) {
  int32_t p = tr->parent[v] < 0 ? (int32_t)tr->n : tr->parent[v];
  const gv_str *k = tr->key[v];
  uint32_t notobj = newlabel(e), slow = newlabel(e), hit = newlabel(e),
           loop = newlabel(e), next = newlabel(e), done = newlabel(e);
  uint32_t absent = newlabel(e);
  mov_rm(e, RAX, RS, p * 16);
  cmp_ri8(e, RAX, GV_OBJ);
  jcc(e, CC_NE, notobj);
  mov_rm(e, RDX, RS, p * 16 + 8); /* o */
  cmp_mi(e, RDX, (int32_t)offsetof(gv_obj, idx), 0);
  jcc(e, CC_NE, e->chain_fail);
  rm(e, 0, 0, OPC(0x8B), RCX, R14, (int32_t)(v * 4)); /* ecx = memo[v] */
  rm(e, 0, 0, OPC(0x3B), RCX, RDX, (int32_t)offsetof(gv_obj, len));
  jcc(e, CC_AE, slow);
  mov_rm(e, RSI, RDX, (int32_t)offsetof(gv_obj, keys));
  mov_sib8(e, RDI, RSI, RCX);
  key_cmp(e, k, slow);
  test_rr(e, RCX, RCX);
  jcc(e, CC_E, hit);
  cmp_mi(e, RDX, (int32_t)offsetof(gv_obj, nodup), 0);
  jcc(e, CC_NE, hit); /* no duplicate keys: no earlier key can match */
  rr(e, 0, 0, OPC(0x31), R9, R9); /* xor r9d, r9d */
  bind(e, loop);
  mov_sib8(e, RDI, RSI, R9);
  key_cmp(e, k, next);
  jmp(e, slow); /* an earlier equal key: the scan finds the first */
  bind(e, next);
  rr(e, 0, 1, OPC(0xFF), 0, R9); /* inc r9 */
  cmp_rr(e, R9, RCX);
  jcc(e, CC_B, loop);
  bind(e, hit);
  mov_rm(e, RDI, RDX, (int32_t)offsetof(gv_obj, vals));
  rr(e, 0, 1, OPC(0xC1), 4, RCX); /* shl rcx, 4 */
  byte(e, 4);
  rr(e, 0, 1, OPC(0x01), RCX, RDI); /* add rdi, rcx */
  mov_rm(e, RAX, RDI, 0);
  mov_rm(e, R8, RDI, 8);
  mov_mr(e, RS, (int32_t)(v * 16), RAX);
  mov_mr(e, RS, (int32_t)(v * 16 + 8), R8);
  jmp(e, done);
  bind(e, slow);
  mov_rr(e, RDI, RDX);
  mov_ri(e, RSI, (uint64_t)(uintptr_t)k);
  rm(e, 0, 1, OPC(0x8D), RDX, R14, (int32_t)(v * 4)); /* lea rdx, memo+v */
  call_abs(e, (const void *)chain_find);
  test_rr(e, RAX, RAX);
  jcc(e, CC_S, absent);
  mov_rr(e, RCX, RAX);
  mov_rm(e, RDX, RS, p * 16 + 8);
  jmp(e, hit);
  bind(e, notobj);
  cmp_ri8(e, RAX, GV_ARR);
  jcc(e, CC_E, e->chain_fail);
  bind(e, absent);
  mov_mi(e, RS, (int32_t)(v * 16), GV_MISSING);
  mov_mi(e, RS, (int32_t)(v * 16 + 8), 0);
  bind(e, done);
}

/* Emits the chain function: int fn(const gvalue *root, uint32_t *memo).
** 0 or 1. */
static int emit_chain(J *e, const gv_symtab *st, const gv_chainnode *nodes,
                      uint32_t n) {
  uint32_t nlab[GV_CHAIN_MAX_NODES], i, k, epi, n_refs = 0, cap_refs = 0;
  uint32_t *succ = NULL;
  leafref *refs = NULL;
  ctrie tr;
  int32_t regs = 16, frame;
  int rc = 1;
  if (n == 0 || n > GV_CHAIN_MAX_NODES || chain_trie(&tr, st) != 0)
    return 1;
  for (i = 0; i < n; i++) {
    if (!nodes[i].prog || nodes[i].n_next > GAVEL_MAX_CONSTS ||
        nodes[i].prog->syms != st)
      return 1;
    if (nodes[i].prog->n_regs * 16 > (uint32_t)regs)
      regs = (int32_t)(nodes[i].prog->n_regs * 16);
  }
  /* registers, then the node area (the trie's nodes and the root); with
  ** four pushes and the return address, 8 more keep calls 16-aligned */
  frame = regs + (int32_t)(tr.n + 1) * 16 + 8;
  e->n_lab = e->n_fx = e->n_ex = 0;
  e->chain = 1;
  e->slot_map = tr.map;
  e->chain_fail = newlabel(e);
  epi = newlabel(e);
  for (i = 0; i < n; i++)
    nlab[i] = newlabel(e);
  succ = malloc((GAVEL_MAX_CONSTS + 1) * sizeof *succ);
  if (!succ)
    goto out;
  /* Prologue: rbx (registers), r12 (node area), r13 (constants), r14
  ** (the memo). */
  enter4(e, frame);
  mov_rr(e, RR, RSP);
  rm(e, 0, 1, OPC(0x8D), RS, RSP, regs); /* lea r12, [rsp + regs] */
  mov_rr(e, R14, RSI);
  mov_rm(e, RAX, RDI, 0);
  mov_rm(e, RCX, RDI, 8);
  mov_mr(e, RS, (int32_t)(tr.n * 16), RAX);
  mov_mr(e, RS, (int32_t)(tr.n * 16 + 8), RCX);
  for (i = 0; i < tr.n; i++)
    emit_bind_node(e, &tr, i);
  for (i = 0; i < n; i++) {
    const gv_chainnode *nd = &nodes[i];
    const gv_program *p = nd->prog;
    T t;
    uint32_t w;
    if (!chain_ok(e, p))
      goto out;
    memset(&t, 0, sizeof t);
    t.e = e;
    t.p = p;
    t.wlab = e->wlab;
    for (w = 0; w < p->n_code; w++)
      t.wlab[w] = newlabel(e);
    t.epi = e->chain_fail; /* falling off the end: never (supported) */
    for (k = 0; k <= nd->n_next; k++) {
      int32_t v = k < nd->n_next ? nd->next[k] : nd->dflt;
      if (v >= 0 && (uint32_t)v < n && (uint32_t)v > i)
        succ[k] = nlab[v]; /* a tree: successors come later */
      else if (v <= GV_CHAIN_LEAF(0)) {
        if (n_refs == cap_refs &&
            !grow(e, (void **)&refs, &cap_refs, n_refs + 1, sizeof *refs))
          goto out;
        refs[n_refs].label = newlabel(e);
        refs[n_refs].leaf = GV_CHAIN_LEAF(0) - v;
        succ[k] = refs[n_refs++].label;
      } else
        succ[k] = e->chain_fail;
    }
    t.succ = succ;
    t.n_succ = nd->n_next;
    t.dflt = succ[nd->n_next];
    t.truthy = nd->truthy;
    if (nd->truthy && nd->n_next != 1)
      goto out;
    bind(e, nlab[i]);
    mov_ri(e, RK, (uint64_t)(uintptr_t)p->k);
    emit_ops(&t);
    byte(e, 0x0F);
    byte(e, 0x0B); /* ud2: programs end in a jump */
    if (e->oom)
      goto out;
  }
  for (k = 0; k < n_refs; k++) {
    bind(e, refs[k].label);
    mov_ri(e, RAX, (uint32_t)refs[k].leaf);
    jmp(e, epi);
  }
  bind(e, e->chain_fail);
  mov_ri(e, RAX, 0xffffffffu); /* eax = -1 */
  bind(e, epi);
  leave4(e, frame);
  rc = resolve_jumps(e);
out:
  free(succ);
  free(refs);
  e->chain = 0;
  e->slot_map = NULL;
  return rc;
}

/* Emits the binder: int fn(const gvalue *root, uint32_t *memo, gvalue
** *slots), the chain's input binding alone (graphs whose decisions call
** builtins).  0 or 1. */
static int emit_binder(J *e, const gv_symtab *st) {
  ctrie tr;
  int32_t frame;
  uint32_t i, epi;
  int rc;
  if (chain_trie(&tr, st) != 0 || st->n_inputs == 0)
    return 1;
  frame = (int32_t)(tr.n + 1) * 16 + 8;
  e->n_lab = e->n_fx = e->n_ex = 0;
  e->chain = 1;
  e->chain_fail = newlabel(e);
  epi = newlabel(e);
  enter4(e, frame);
  mov_rr(e, RS, RSP);
  mov_rr(e, R14, RSI);
  mov_rr(e, R13, RDX);
  mov_rm(e, RAX, RDI, 0);
  mov_rm(e, RCX, RDI, 8);
  mov_mr(e, RS, (int32_t)(tr.n * 16), RAX);
  mov_mr(e, RS, (int32_t)(tr.n * 16 + 8), RCX);
  for (i = 0; i < tr.n; i++) {
    /* emit_bind_node calls chain_find, which may clobber r13's callers'
    ** registers only: r13 is callee-saved */
    emit_bind_node(e, &tr, i);
  }
  for (i = 0; i < st->n_inputs; i++) {
    mov_rm(e, RAX, RS, tr.map[i] * 16);
    mov_rm(e, RCX, RS, tr.map[i] * 16 + 8);
    mov_mr(e, R13, (int32_t)(i * 16), RAX);
    mov_mr(e, R13, (int32_t)(i * 16 + 8), RCX);
  }
  rr(e, 0, 0, OPC(0x31), RAX, RAX); /* 0 */
  jmp(e, epi);
  bind(e, e->chain_fail);
  mov_ri(e, RAX, 0xffffffffu);
  bind(e, epi);
  leave4(e, frame);
  rc = resolve_jumps(e);
  e->chain = 0;
  return rc;
}

gv_bindfn gavel__jit_binder(gv_jitown *o, const gv_symtab *st) {
  uintptr_t fn;
  J e;
  if (!o)
    return NULL;
  fn = atomic_load_explicit(&o->binder, memory_order_acquire);
  if (fn || atomic_load_explicit(&o->binder_state, memory_order_relaxed))
    return (gv_bindfn)fn;
  if (pthread_mutex_trylock(&o->mu) != 0)
    return NULL;
  if (atomic_load_explicit(&o->binder_state, memory_order_relaxed) == 0) {
    unsigned char *mem = NULL;
    memset(&e, 0, sizeof e);
    if (emit_binder(&e, st) == 0)
      mem = map_code(o, &e);
    j_free(&e);
    if (mem)
      atomic_store_explicit(&o->binder, (uintptr_t)mem, memory_order_release);
    atomic_store_explicit(&o->binder_state, mem ? 1 : 2,
                          memory_order_relaxed);
  }
  pthread_mutex_unlock(&o->mu);
  return (gv_bindfn)atomic_load_explicit(&o->binder, memory_order_acquire);
}

int gavel__jit_chain_tried(gv_jitown *o) {
  return !o || atomic_load_explicit(&o->chain_state, memory_order_relaxed);
}

int gavel__jit_binder_tried(gv_jitown *o) {
  return !o || atomic_load_explicit(&o->binder_state, memory_order_relaxed);
}

gv_chainfn gavel__jit_chain(gv_jitown *o, const gv_symtab *st,
                            const gv_chainnode *nodes, uint32_t n) {
  uintptr_t fn;
  J e;
  if (!o)
    return NULL;
  fn = atomic_load_explicit(&o->chain, memory_order_acquire);
  if (fn || atomic_load_explicit(&o->chain_state, memory_order_relaxed))
    return (gv_chainfn)fn;
  if (pthread_mutex_trylock(&o->mu) != 0)
    return NULL; /* another thread compiles; the straight path meanwhile */
  if (atomic_load_explicit(&o->chain_state, memory_order_relaxed) == 0) {
    unsigned char *mem = NULL;
    memset(&e, 0, sizeof e);
    if (emit_chain(&e, st, nodes, n) == 0)
      mem = map_code(o, &e);
    j_free(&e);
    if (mem)
      atomic_store_explicit(&o->chain, (uintptr_t)mem, memory_order_release);
    atomic_store_explicit(&o->chain_state, mem ? 1 : 2, memory_order_relaxed);
  }
  pthread_mutex_unlock(&o->mu);
  return (gv_chainfn)atomic_load_explicit(&o->chain, memory_order_acquire);
}

/* Compiles the owner's candidates: all (min_count 0) or those run at
** least 'min_count' times, plus 'must'. */
static void compile_candidates(gv_jitown *o, gv_program *must,
                               uint32_t min_count) {
  gv_program *p, **ps;
  size_t n = 0, k = 0;
  for (p = o->progs; p; p = p->jit_next)
    n++;
  if (!n)
    return;
  ps = malloc(n * sizeof *ps);
  if (!ps)
    return;
  for (p = o->progs; p; p = p->jit_next)
    if (atomic_load_explicit(&p->jit_state, memory_order_relaxed) == 0 &&
        (p == must ||
         atomic_load_explicit(&p->jit_count, memory_order_relaxed) >=
             min_count))
      ps[k++] = p;
  if (k)
    compile_batch(o, ps, k);
  free(ps);
}

void gavel__jit_loaded(gv_jitown *o) {
  if (!o || o->mode != GV_JIT_ON)
    return;
  pthread_mutex_lock(&o->mu);
  compile_candidates(o, NULL, 0);
  pthread_mutex_unlock(&o->mu);
}

void gavel__jit_tick(gv_program *p) {
  gv_jitown *o = p->jown;
  uint32_t c = atomic_load_explicit(&p->jit_count, memory_order_relaxed) + 1;
  atomic_store_explicit(&p->jit_count, c, memory_order_relaxed);
  if (c < o->threshold || o->mode != GV_JIT_AUTO)
    return;
  if (pthread_mutex_trylock(&o->mu) != 0)
    return; /* another thread compiles; the VM meanwhile */
  if (atomic_load_explicit(&p->jit_state, memory_order_relaxed) == 0)
    compile_candidates(o, p, 1);
  pthread_mutex_unlock(&o->mu);
}

int gavel__jit_compile_now(gv_jitown *o, gv_program *p) {
  if (!o)
    return 1;
  pthread_mutex_lock(&o->mu);
  if (atomic_load_explicit(&p->jit_state, memory_order_relaxed) == 0)
    compile_batch(o, &p, 1);
  pthread_mutex_unlock(&o->mu);
  return atomic_load(&p->jit_fn) ? 0 : 1;
}

void gavel__jit_describe(gv_buf *b, const gv_program *p, unsigned char **raw,
                         size_t *raw_len) {
  J e;
  uint32_t w;
  size_t entry;
  memset(&e, 0, sizeof e);
  if (raw)
    *raw = NULL;
  if (emit_program(&e, p, &entry) != 0) {
    gavel__buf_adds(b, "; jit: not compiled (an opcode without a template: "
                       "the program stays in the VM)\n");
    for (w = 0; w < p->n_code; w += (uint32_t)gavel__op_words(GET_OP(p->code[w])))
      gavel__buf_addf(b, "%04u  %-8s vm\n", w,
                      gavel__op_names[GET_OP(p->code[w])]);
    j_free(&e);
    return;
  }
  gavel__buf_addf(b, "; jit: %zu bytes of x86-64 machine code\n", e.n);
  for (w = 0; w < p->n_code; w += (uint32_t)gavel__op_words(GET_OP(p->code[w]))) {
    uint32_t end = (uint32_t)e.n, x;
    for (x = w + 1; x < p->n_code; x++)
      if (e.op_native[x]) {
        end = e.op_start[x];
        break;
      }
    int op = GET_OP(p->code[w]);
    int stub = op == OP_LOADV || op == OP_EXISTSV || op == OP_NEWARR ||
               op == OP_APPEND || op == OP_NEWOBJ || op == OP_SETKEY ||
               op == OP_FAIL;
    gavel__buf_addf(b, "%04u  %-8s %s @0x%04x %4u bytes%s\n", w,
                    gavel__op_names[op], stub ? "stub  " : "native",
                    e.op_start[w], end - e.op_start[w],
                    stub ? ", the VM runs the rest"
                    : op == OP_CALL ? ", calls the VM's builtin"
                    : e.op_native[w] == 2 ? ", cold exit to the VM" : "");
  }
  if (raw) {
    *raw = malloc(e.n ? e.n : 1);
    if (*raw) {
      memcpy(*raw, e.b, e.n);
      *raw_len = e.n;
    }
  }
  j_free(&e);
}

#else /* no JIT on this platform / build: the VM runs everything */

void gavel__jit_loaded(gv_jitown *o) { (void)o; }
void gavel__jit_tick(gv_program *p) {
  atomic_store_explicit(&p->jit_state, 2, memory_order_relaxed);
}
int gavel__jit_compile_now(gv_jitown *o, gv_program *p) {
  (void)o;
  (void)p;
  return 1;
}
int gavel__jit_chain_tried(gv_jitown *o) {
  (void)o;
  return 1;
}
int gavel__jit_binder_tried(gv_jitown *o) {
  (void)o;
  return 1;
}
gv_bindfn gavel__jit_binder(gv_jitown *o, const gv_symtab *st) {
  (void)o;
  (void)st;
  return NULL;
}
gv_chainfn gavel__jit_chain(gv_jitown *o, const gv_symtab *st,
                            const gv_chainnode *nodes, uint32_t n) {
  (void)o;
  (void)st;
  (void)nodes;
  (void)n;
  return NULL;
}
void gavel__jit_describe(gv_buf *b, const gv_program *p, unsigned char **raw,
                         size_t *raw_len) {
  (void)p;
  (void)raw_len;
  if (raw)
    *raw = NULL;
  gavel__buf_adds(b, "; jit: not available in this build (VM only)\n");
}

#endif
