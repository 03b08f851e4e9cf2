/*
** gavel_int.h -- private shared types, limits and assertion macros.
**
** Included by every file in core/; never installed.  Holds the engine-wide
** limits (one place to change them) and the invariant macros.
*/
#ifndef GAVEL_INT_H
#define GAVEL_INT_H

#include "gavel.h"
#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ==== Limits (static; each violation is a clear GAVEL_LIMIT error) ==== */
#define GAVEL_MAX_EXPR_LEN 4096      /* bytes of expression source        */
#define GAVEL_MAX_EXPR_DEPTH 50      /* parser nesting depth (Ordo's)     */
#define GAVEL_MAX_REGS 250           /* registers per compiled program    */
#define GAVEL_MAX_CONSTS 65535       /* constants per program             */
#define GAVEL_MAX_STR_BYTES (16u << 20) /* largest string built at run time */
#define GAVEL_MAX_ARR_LEN 1000000    /* largest array built at run time   */
#define GAVEL_MAX_JSON_DEPTH 512     /* nesting of JSON documents         */
#define GAVEL_MAX_INPUT_BYTES (64u << 20) /* default largest JSON input   */
#define GAVEL_DEFAULT_GAS 10000000u  /* default gas budget per run        */

/* ==== Invariants (SQLite's macros) ==== */
#ifdef NDEBUG
#define gavel_assert(x) ((void)0)
#define GAVEL_ALWAYS(x) (x)
#define GAVEL_NEVER(x) (x)
#else
#define gavel_assert(x) assert(x)
#define GAVEL_ALWAYS(x) ((x) ? 1 : (assert(0), 0))
#define GAVEL_NEVER(x) ((x) ? (assert(0), 1) : 0)
#endif

#if defined(__GNUC__)
#define GAVEL_LIKELY(x) __builtin_expect(!!(x), 1)
#define GAVEL_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define GAVEL_INLINE static inline __attribute__((always_inline))
#define GAVEL_NOINLINE __attribute__((noinline))
#define GAVEL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define GAVEL_LIKELY(x) (x)
#define GAVEL_UNLIKELY(x) (x)
#define GAVEL_INLINE static inline
#define GAVEL_NOINLINE
#define GAVEL_PRINTF(a, b)
#endif

#endif /* GAVEL_INT_H */
