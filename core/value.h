/*
** value.h -- the value representation.
**
** Ownership rule: values are immutable once built and owned by the arena
** that allocated them; a value may point into any arena that outlives it
** (program constants, the run's arena).  Nothing is reference-counted and
** there is no release: freeing the arena frees the values.
**
** A gvalue is 16 bytes: a whole-word tag (written whole, never as a byte:
** see docs/vm-jit-notes.md 1.3) and a payload.  GV_MISSING is internal: it
** marks an absent input slot or variable and never escapes an evaluation.
*/
#ifndef GAVEL_VALUE_H
#define GAVEL_VALUE_H

#include "mem.h"
#include <string.h>

typedef enum gv_type {
  GV_NULL = 0,
  GV_BOOL = 1,
  GV_INT = 2,
  GV_FLOAT = 3,
  GV_STR = 4,
  GV_ARR = 5,
  GV_OBJ = 6,
  GV_MISSING = 7 /* internal: absent field / unset variable */
} gv_type;

typedef struct gv_str {
  uint32_t len;  /* bytes, excluding the trailing NUL      */
  uint32_t hash; /* FNV-1a of the bytes, 0 = not computed   */
  char s[];      /* UTF-8 bytes, NUL-terminated            */
} gv_str;

struct gvalue;
/* 'depth' is the container's nesting (1 for a container of scalars, one
** more than its deepest child otherwise).  Builders keep it exact or an
** upper bound, so checking a new container against the cap costs O(1) per
** child instead of a walk (issue 8: a value 170,000 levels deep). */
typedef struct gv_arr {
  uint32_t len;         /* elements in use                  */
  uint32_t cap;         /* elements allocated               */
  struct gvalue *items; /* element array (arena)            */
  uint32_t depth;       /* nesting, >= 1 (see above); after
                        ** 'items' so {len, cap, items}
                        ** initialisers keep working       */
  uint32_t spare;       /* padding, zero                    */
} gv_arr;

typedef struct gv_obj {
  uint32_t len;        /* keys in use (insertion order)     */
  uint32_t cap;        /* keys allocated                    */
  gv_str **keys;       /* key strings                       */
  struct gvalue *vals; /* values, parallel to 'keys'        */
  uint32_t depth;      /* nesting, >= 1 (see gv_arr)        */
  uint32_t idx_mask;   /* slots in 'idx' minus 1 (0: none)  */
  uint32_t *idx;       /* hash index: position + 1 per slot,
                       ** 0 = empty; NULL below
                       ** GV_OBJ_INDEX_MIN keys             */
  uint64_t nodup;      /* 1: no two keys are equal (objects
                       ** of the JSON reader, which keeps
                       ** one member per key); 0: not known
                       ** (gavel__obj_new; gavel__obj_append
                       ** clears it).  64 bits: the compiled
                       ** key lookup tests it as a qword     */
} gv_obj;

/* Objects built with gavel__obj_set / gavel__obj_append get a hash index
** once they reach this many keys, so building an object of N keys with
** duplicate checks is O(N), not O(N^2) (issue 8: a terminal with 80k
** output keys took 11 s per run).  Objects filled by writing 'keys' and
** 'vals' directly have no index and are searched linearly. */
#define GV_OBJ_INDEX_MIN 16

/* Nesting cap for values built at run time: the same as for input
** documents, so a value built from inputs is never deeper than an input
** may be.  Recursive walkers (equality, copy, writers) stop with an error
** further down: the scheduler's envelopes ({code, message, output},
** action results, call_rule_set results, up to GAVEL_MAX_NESTING deep)
** wrap values that may be at the cap.  So no value, however it was built,
** can overflow the C stack (a walker frame is ~100-200 bytes). */
#define GAVEL_MAX_VALUE_DEPTH GAVEL_MAX_JSON_DEPTH
#define GAVEL_MAX_WALK_DEPTH (GAVEL_MAX_VALUE_DEPTH + 64)

typedef struct gvalue {
  uint64_t tag; /* gv_type, written as a whole word        */
  union {
    int64_t i;  /* GV_INT; GV_BOOL (0/1)                    */
    double f;   /* GV_FLOAT                                 */
    gv_str *s;  /* GV_STR                                   */
    gv_arr *a;  /* GV_ARR                                   */
    gv_obj *o;  /* GV_OBJ                                   */
    void *p;    /* any pointer payload                      */
  } u;
} gvalue;

_Static_assert(sizeof(gvalue) == 16, "gvalue must stay 16 bytes");

/* ==== Constructors (whole-word tag writes) ==== */
GAVEL_INLINE gvalue gv_null(void) { return (gvalue){.tag = GV_NULL, .u.i = 0}; }
GAVEL_INLINE gvalue gv_missing(void) {
  return (gvalue){.tag = GV_MISSING, .u.i = 0};
}
GAVEL_INLINE gvalue gv_bool(int b) {
  return (gvalue){.tag = GV_BOOL, .u.i = b ? 1 : 0};
}
GAVEL_INLINE gvalue gv_int(int64_t i) { return (gvalue){.tag = GV_INT, .u.i = i}; }
GAVEL_INLINE gvalue gv_float(double f) {
  return (gvalue){.tag = GV_FLOAT, .u.f = f};
}
GAVEL_INLINE gvalue gv_strv(gv_str *s) { return (gvalue){.tag = GV_STR, .u.s = s}; }
GAVEL_INLINE gvalue gv_arrv(gv_arr *a) { return (gvalue){.tag = GV_ARR, .u.a = a}; }
GAVEL_INLINE gvalue gv_objv(gv_obj *o) { return (gvalue){.tag = GV_OBJ, .u.o = o}; }
GAVEL_INLINE gv_type gv_typeof(gvalue v) { return (gv_type)v.tag; }
GAVEL_INLINE int gv_isnum(gvalue v) { return v.tag == GV_INT || v.tag == GV_FLOAT; }
GAVEL_INLINE double gv_num(gvalue v) {
  return v.tag == GV_INT ? (double)v.u.i : v.u.f;
}
/* Nesting of 'v': 0 for scalars, the header's depth for containers. */
GAVEL_INLINE uint32_t gv_depth(gvalue v) {
  return v.tag == GV_ARR ? v.u.a->depth : v.tag == GV_OBJ ? v.u.o->depth : 0;
}

/* "null" "bool" "int" "float" "string" "array" "object" ("missing"). */
const char *gavel__type_name(gv_type t);

/* ==== Strings ==== */
/* New string of 'len' bytes copied from 'p' (NULL: zero-filled, to be
** written by the caller before publication).  NULL on arena failure. */
gv_str *gavel__str_new(gv_arena *a, const char *p, size_t len);
gv_str *gavel__str_cstr(gv_arena *a, const char *cstr);
uint32_t gavel__str_hash(gv_str *s); /* computes and caches */

/* The engine's hash of 'n' bytes (object and map indexes, symbol tables,
** the JSON reader's key index).  Seeded at random per process, so that no
** input can be made of keys that all fall in one chain (hash flooding);
** a hash never reaches a result or an order, only the order of a probe. */
extern uint64_t gavel__hash_seed;
GAVEL_INLINE uint64_t gavel__hash_bytes(const char *p, size_t n) {
  uint64_t h = gavel__hash_seed ^ (n * 0x9E3779B97F4A7C15ull), t = 0;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
  }
  memcpy(&t, p, n);
  h = (h ^ t) * 0x94D049BB133111EBull;
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 32);
}
GAVEL_INLINE int gavel__str_eq(const gv_str *a, const gv_str *b) {
  return a == b || (a->len == b->len && memcmp(a->s, b->s, a->len) == 0);
}
GAVEL_INLINE int gavel__str_eqn(const gv_str *a, const char *p, size_t n) {
  return a->len == n && memcmp(a->s, p, n) == 0;
}
/* Byte-order comparison: <0, 0, >0. */
int gavel__str_cmp(const gv_str *a, const gv_str *b);

/* ==== Arrays ==== */
gv_arr *gavel__arr_new(gv_arena *a, uint32_t cap);
/* Appends (growing in the arena) and updates 'depth'; 0 on arena failure.
** The depth may then exceed GAVEL_MAX_VALUE_DEPTH: run-time builders
** check it (gavel__rt_depth_check). */
int gavel__arr_push(gv_arena *a, gv_arr *arr, gvalue v);
/* For builders that fill 'items' directly: sets 'depth' from the children
** (O(len), one header read per child) and returns it. */
uint32_t gavel__arr_seal(gv_arr *arr);

/* ==== Objects (insertion-ordered; set replaces in place) ==== */
gv_obj *gavel__obj_new(gv_arena *a, uint32_t cap);
/* Index of 'key' or -1.  Hash lookup when the object has an index,
** otherwise a linear scan with length + memcmp. */
int gavel__obj_find(const gv_obj *o, const char *key, size_t key_len);
GAVEL_INLINE gvalue *gavel__obj_get(const gv_obj *o, const char *k, size_t n) {
  int i = gavel__obj_find(o, k, n);
  return i < 0 ? NULL : &o->vals[i];
}
/* Insert or replace; the key string is borrowed (must outlive 'o').
** 0 on arena failure. */
int gavel__obj_set(gv_arena *a, gv_obj *o, gv_str *key, gvalue v);
/* Appends without a duplicate check (caller guarantees uniqueness). */
int gavel__obj_append(gv_arena *a, gv_obj *o, gv_str *key, gvalue v);
/* For builders that fill 'keys'/'vals' directly: sets 'depth' from the
** values and returns it (no index is built). */
uint32_t gavel__obj_seal(gv_obj *o);

/* ==== Semantics shared by the VM, the JIT and builtins ==== */
/* Structural, type-strict equality (1 == 1.0 is false).  1 equal, 0 not;
** -1 when the values nest deeper than GAVEL_MAX_WALK_DEPTH, -2 when the
** walk would visit more than GV_EQ_MAX_NODES values (undecided).  A value
** built at run time may hold one container many times ([$v, $v] applied
** 40 times is 2^40 values walked from 40 arrays), so the walk is bounded
** by its count of values, not by the memory the values take. */
int gavel__value_eq(gvalue a, gvalue b);
#define GV_EQ_NODES_PER_GAS 64
#define GV_EQ_MAX_NODES (1 << 26)
/* Ordering for int/float (mixed), string/string, bool/bool.  Returns 0 and
** sets *cmp (-1/0/1) when comparable, -1 when not ("Cannot compare"). */
int gavel__value_cmp(gvalue a, gvalue b, int *cmp);
/* Ordo truthiness: null, false, 0, 0.0, "", [], {} are falsy. */
GAVEL_INLINE int gavel__truthy(gvalue v) {
  switch (v.tag) {
  case GV_BOOL:
  case GV_INT:
    return v.u.i != 0;
  case GV_FLOAT:
    return v.u.f != 0.0;
  case GV_STR:
    return v.u.s->len != 0;
  case GV_ARR:
    return v.u.a->len != 0;
  case GV_OBJ:
    return v.u.o->len != 0;
  default:
    return 0;
  }
}
/* Deep copy into arena 'a' (for values that must outlive their arena).
** 1 on success; 0 on arena failure or when 'v' nests deeper than
** GAVEL_MAX_WALK_DEPTH (a->failed tells which: 0 means too deep). */
int gavel__value_copy(gv_arena *a, gvalue v, gvalue *out);

/* ==== Runtime error context (VM, builtins, scheduler) ==== */

/* Error kinds at evaluation time; they decide how errors are softened
** (coalesce skips NOTFOUND, lenient conditions turn NOTFOUND into false). */
typedef enum gv_ekind {
  GV_E_NONE = 0,
  GV_E_NOTFOUND,  /* "Field not found: <path>"                        */
  GV_E_TYPE,      /* "Type error: expected X, got Y"                 */
  GV_E_EVAL,      /* "Evaluation error: ..." (overflow, div by 0...) */
  GV_E_FUNCARG,   /* "Function f argument error: ..."                 */
  GV_E_FUNCNF,    /* "Function not found: name"                       */
  GV_E_LIMIT,     /* a static or run-time size limit                  */
  GV_E_GAS,       /* gas exhausted                                    */
  GV_E_NOMEM      /* allocation failed                                */
} gv_ekind;

/* Per-evaluation state passed to builtins.  'arena' holds every value the
** evaluation makes.  Builtins report errors with gavel__rt_error and return
** nonzero; they charge gas for work proportional to run-time data. */
typedef struct gv_rt {
  gv_arena *arena;    /* results live here                           */
  gv_ekind ekind;     /* kind of the pending error (GV_E_NONE if ok) */
  char emsg[GAVEL_ERRMSG_SIZE]; /* message of the pending error     */
  int64_t gas;        /* gas left; < 0 means exhausted               */
  uint64_t gas_limit; /* the budget 'gas' started from, for messages
                      ** (0: unknown, the message omits it)         */
  const char *fn_name; /* builtin running now (for messages)         */
  uint64_t deadline_ns; /* CLOCK_MONOTONIC ns the run must stop by; 0 =
                           none (long builtins check it: regex, yaml)   */
} gv_rt;

/* Records an error (first one wins) and returns 1.  Message is complete
** text, e.g. gavel__rt_error(rt, GV_E_TYPE, "Type error: expected %s, got
** %s", "string", "int"). */
int gavel__rt_error(gv_rt *rt, gv_ekind k, const char *fmt, ...)
    GAVEL_PRINTF(3, 4);
/* "Type error: expected <want>, got <type of v>" */
int gavel__rt_type_error(gv_rt *rt, const char *want, gvalue v);
/* Out of memory / arena limit, as an error. */
int gavel__rt_nomem(gv_rt *rt);
/* Records "Evaluation error: Float overflow in <what>" (a float result
** that is inf or NaN from finite operands) and returns 1. */
int gavel__float_overflow(gv_rt *rt, const char *what);
/* Records "Gas exhausted: budget of N units used up" and returns 1. */
int gavel__rt_gas_error(gv_rt *rt);
/* Charges 'n' gas; returns 1 (with GV_E_GAS set) when exhausted. */
GAVEL_INLINE int gavel__rt_charge(gv_rt *rt, int64_t n) {
  rt->gas -= n;
  if (GAVEL_UNLIKELY(rt->gas < 0))
    return gavel__rt_gas_error(rt);
  return 0;
}
/* "Limit exceeded: value nesting deeper than 512 levels" (GV_E_LIMIT). */
int gavel__rt_depth_error(gv_rt *rt);
/* gavel__value_eq for runs: a walk over containers is charged to gas, one
** unit per GV_EQ_NODES_PER_GAS values visited (small containers cost
** nothing extra), and stops when the gas left would not pay for it.  1
** equal, 0 not, -1 with the error recorded in 'rt' (gas, nesting, or the
** GV_EQ_MAX_NODES limit). */
int gavel__value_eq_rt(gv_rt *rt, gvalue a, gvalue b);
/* 0 when 'v' nests at most GAVEL_MAX_VALUE_DEPTH levels (by its header),
** else the depth error.  Every run-time builder calls it on what it
** built. */
GAVEL_INLINE int gavel__rt_depth_check(gv_rt *rt, gvalue v) {
  if (GAVEL_UNLIKELY(gv_depth(v) > GAVEL_MAX_VALUE_DEPTH))
    return gavel__rt_depth_error(rt);
  return 0;
}
/* Appends 'n' bytes at 'p' to 'out' (size 'size', NUL-terminated) for an
** error message: NUL and other control bytes as \u00XX, so a message is
** never cut at an embedded NUL.  Returns 'out'. */
char *gavel__msg_escape(char *out, size_t size, const char *p, size_t n);

/* ==== Builtin functions (builtins.c, builtins_ext.c, builtins_*.c) ==== */
/* A builtin reads args[0..nargs-1] (borrowed), writes *out, returns 0; or
** records an error in 'rt' and returns nonzero. */
typedef int (*gv_builtin_fn)(gv_rt *rt, gvalue *out, const gvalue *args,
                             int nargs);

typedef struct gv_builtin {
  const char *name;  /* Ordo name, case-sensitive              */
  int min_args;      /* fewest arguments                       */
  int max_args;      /* most arguments, -1 = variadic          */
  int pure;          /* 1: may be constant-folded              */
  gv_builtin_fn fn;  /* implementation                         */
} gv_builtin;

/* Lookup by name (NULL if unknown).  Covers both tables. */
const gv_builtin *gavel__builtin_find(const char *name, size_t len);
/* Index in the combined table and lookup by index (for bytecode). */
int gavel__builtin_index(const gv_builtin *b);
const gv_builtin *gavel__builtin_at(int idx);
int gavel__builtin_count(void);
/* Tables exported by builtins.c / builtins_ext.c, NULL-name terminated. */
extern const gv_builtin gavel__builtins_core[];
extern const gv_builtin gavel__builtins_ext[];

#endif /* GAVEL_VALUE_H */
