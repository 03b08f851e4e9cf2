/*
** jit.h -- stage 3b: the threaded-code x86-64 JIT over gv_program.
**
** Programs compiled against a symtab attached to a gv_jitown (one per
** ruleset or standalone expression) may be translated to machine code:
** always at load (jit=on), after N evaluations (jit=auto) or never
** (jit=off, other architectures, -DGAVEL_JIT=OFF).  Compiled code has the
** VM's signature and semantics; every case it does not handle inline
** resumes the VM at the same instruction with the same registers.
*/
#ifndef GAVEL_JIT_H
#define GAVEL_JIT_H

#include "vm.h"
#include <stdatomic.h>

/* Modes (gavel_config.jit, the GAVEL_JIT environment variable). */
#define GV_JIT_DEFAULT 0 /* the environment, else the built-in default */
#define GV_JIT_ON 1
#define GV_JIT_OFF 2
#define GV_JIT_AUTO 3
#define GV_JIT_THRESHOLD 1000u            /* auto: tier up after N runs */
#define GV_JIT_MAX_CODE_BYTES (64u << 20) /* per runtime                */

typedef int (*gv_jitfn)(const gv_program *p, gv_frame *f, gvalue *out);

/* The mode a runtime with configuration 'cfg_jit' uses (resolves the
** default through GAVEL_JIT and the platform). */
int gavel__jit_mode(int cfg_jit);
/* A code owner for 'rt' (NULL when the mode is off or the platform has no
** JIT: programs then simply stay in the VM).  'mode' GV_JIT_ON/OFF/AUTO
** overrides the runtime's mode (a ruleset's load option), 0 keeps it. */
gv_jitown *gavel__jit_new(gavel_runtime *rt, int mode);
/* Programs compiled with 'st' from now on belong to 'o'. */
void gavel__jit_attach(gv_jitown *o, gv_symtab *st);
/* Loading is complete: with jit=on, compiles every program now, in one
** code mapping. */
void gavel__jit_loaded(gv_jitown *o);
/* Releases every code mapping of 'o' (NULL: no-op). */
void gavel__jit_free(gv_jitown *o);
/* Counts one VM evaluation of 'p' and tiers it up at the threshold. */
void gavel__jit_tick(gv_program *p);
/* Process-wide code memory currently mapped (tests). */
size_t gavel__jit_mapped_bytes(void);
/* Compiles 'p' alone into fresh code memory owned by 'o' now (tests,
** disasm); 0 compiled, 1 stays in the VM. */
int gavel__jit_compile_now(gv_jitown *o, gv_program *p);
/* Appends a description of the machine code for 'p' (size, per opcode
** native or left to the VM) to 'b'; compiles into a scratch buffer.
** Writes the code bytes to 'raw' (when not NULL, malloc'ed) for objdump. */
void gavel__jit_describe(gv_buf *b, const gv_program *p, unsigned char **raw,
                         size_t *raw_len);

/* ==== Decision chains ====
** A run of decisions ending in terminals with prebuilt results (the
** scheduler's straight-path graphs), unrolled from the entry into a tree
** by the scheduler and compiled here into ONE function: the conditions of
** every decision inline, native jumps between them, and per leaf of the
** tree a return of its number.  Anything the templates do not finish
** inline (another type, an absent field, NaN, overflow) returns
** GV_CHAIN_FAIL and the scheduler runs the straight path instead, from
** scratch: the chain has no side effect (no gas, no error, no arena). */
#define GV_CHAIN_FAIL (-1)                   /* successor: the straight path */
#define GV_CHAIN_LEAF(i) (-2 - (int32_t)(i)) /* successor: return leaf i     */
#define GV_CHAIN_MAX_NODES 64                /* decisions in one chain       */

typedef struct gv_chainnode {
  const gv_program *prog; /* the decision's fused program (branch index) */
  const int32_t *next;    /* successor per index 0 .. n_next-1: a node,
                             GV_CHAIN_LEAF(i) or GV_CHAIN_FAIL          */
  uint32_t n_next;        /* entries                                    */
  int32_t dflt;           /* successor for -1 and any other index       */
  int truthy;             /* 1: 'prog' is a lone branch's condition: its
                             value truthy takes next[0], else dflt     */
} gv_chainnode;

/* Binds the graph's inputs from 'root' itself (key lookups inline; 'memo'
** the caller's GV_CHAIN_MAX_NODES key positions, zeroed once, updated by
** every call: one per exec) and runs the decisions.  Returns a leaf
** number or -1. */
typedef int (*gv_chainfn)(const gvalue *root, uint32_t *memo);

/* Runs of the straight path before its chain is compiled: 0 (jit=on),
** the tier-up threshold (auto), UINT32_MAX (no owner: never). */
uint32_t gavel__jit_chain_after(const gv_jitown *o);
/* Has compiling the chain of 'o' been tried (compiled or not)? */
int gavel__jit_chain_tried(gv_jitown *o);
/* The chain of 'o' (one per owner: the ruleset's main graph, whose input
** paths are 'st'): compiled
** now from nodes[0 .. n) (node 0 the entry) when it has not been tried
** yet, published once; NULL when it cannot be compiled (an instruction
** outside the chain's template set: calls, IN, variables, builders),
** input paths other than keys, over the code bound, or while another
** thread compiles it. */
gv_chainfn gavel__jit_chain(gv_jitown *o, const gv_symtab *st,
                            const gv_chainnode *nodes, uint32_t n);

/* The chain's input binding alone, for straight paths whose decisions
** call builtins: fills slots[0 .. n_inputs) from 'root' exactly as
** gavel__bind_walk does (first equal key, GV_MISSING where absent) and
** returns 0; -1 (nothing to use) when a value on a path is an array or an
** indexed object, which the C binding handles. */
typedef int (*gv_bindfn)(const gvalue *root, uint32_t *memo, gvalue *slots);
/* The binder of 'o' for 'st', compiled on first use (as gavel__jit_chain;
** NULL when it cannot be). */
gv_bindfn gavel__jit_binder(gv_jitown *o, const gv_symtab *st);
/* Has compiling the binder of 'o' been tried (compiled or not)? */
int gavel__jit_binder_tried(gv_jitown *o);

/* Runs 'p' compiled when it is, else in the VM (counting for tier-up). */
GAVEL_INLINE int gavel__exec(const gv_program *p, gv_frame *f, gvalue *out) {
  gv_program *mp = (gv_program *)p;
  gv_jitfn fn =
      (gv_jitfn)atomic_load_explicit(&mp->jit_fn, memory_order_acquire);
  if (fn)
    return fn(p, f, out);
  if (p->jown &&
      atomic_load_explicit(&mp->jit_state, memory_order_relaxed) == 0)
    gavel__jit_tick(mp);
  return gavel__vm_run(p, f, out);
}

#endif
