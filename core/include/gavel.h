/*
** gavel.h -- public C API of the gavel rule engine.  The only installed header.
**
** Ownership, in one paragraph (read before using any function):
**  - gavel_*_new / _load / _compile return an object the caller owns; free it
**    with the matching gavel_*_free.  gavel_*_free(NULL) is a no-op.
**  - All other pointer arguments are borrowed for the duration of the call.
**  - A returned 'const char *' is borrowed: valid until the next call on the
**    same handle, or until the handle is freed.
**  - If a function that takes a callback fails, the callback is never called.
**
** Threads: a gavel_runtime, a gavel_ruleset and a gavel_expr are immutable
** after creation and may be shared by threads.  A gavel_exec (one execution
** context) and a gavel_expr's evaluation scratch are used by one thread at a
** time.  Errors are data: every fallible function returns a gavel_status and
** fills the caller's gavel_error (which may be NULL).  Nothing unwinds.
*/
#ifndef GAVEL_H
#define GAVEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GAVEL_API __attribute__((visibility("default")))
#else
#define GAVEL_API
#endif

#define GAVEL_VERSION_MAJOR 0
#define GAVEL_VERSION_MINOR 1
#define GAVEL_VERSION_PATCH 0
#define GAVEL_VERSION_STRING "0.1.0"
#define GAVEL_VERSION_NUM                                                     \
  ((GAVEL_VERSION_MAJOR << 16) | (GAVEL_VERSION_MINOR << 8) |                 \
   GAVEL_VERSION_PATCH)

typedef struct gavel_runtime gavel_runtime; /* engine instance, limits      */
typedef struct gavel_expr gavel_expr;       /* one compiled expression      */
typedef struct gavel_ruleset gavel_ruleset; /* one loaded, compiled ruleset */
typedef struct gavel_exec gavel_exec;       /* one (resumable) execution    */

/* Append-only.  Never renumber, never reuse a number. */
#define GAVEL_STATUS_MAP(X)                                                   \
  X(OK, 0, "success")                                                         \
  X(NOMEM, 1, "out of memory")                                                \
  X(MISUSE, 2, "API misuse")                                                  \
  X(JSON, 3, "malformed JSON document")                                       \
  X(COMPILE, 4, "expression does not compile")                               \
  X(RUNTIME, 5, "expression failed at run time")                             \
  X(CAPDENIED, 6, "capability not granted")                                  \
  X(HOST, 7, "host call failed")                                             \
  X(LIMIT, 8, "resource limit exceeded")                                     \
  X(LOAD, 9, "invalid rule document")                                        \
  X(PENDING, 10, "execution is waiting for a host call")                     \
  X(GAS, 11, "gas budget exhausted")                                         \
  X(EXEC, 12, "rule execution failed")                                       \
  X(NOTFOUND, 13, "not found")                                               \
  X(IO, 14, "I/O error")

typedef enum {
#define X(name, num, text) GAVEL_##name = num,
  GAVEL_STATUS_MAP(X)
#undef X
  GAVEL_STATUS__END
} gavel_status;

#define GAVEL_ERRMSG_SIZE 512
#define GAVEL_ERRPATH_SIZE 256

/* Caller-allocated; may live on the stack.  Filled on failure. */
typedef struct gavel_error {
  gavel_status code;             /* GAVEL_OK when nothing failed           */
  int line;                      /* 1-based line in an expression, or 0    */
  int column;                    /* 1-based column in an expression, or 0  */
  long offset;                   /* byte offset in a JSON document, or -1  */
  char path[GAVEL_ERRPATH_SIZE]; /* JSON path ("steps.a.branches[1]"), "" */
  char msg[GAVEL_ERRMSG_SIZE];   /* full message, NUL-terminated, "" on OK */
} gavel_error;

GAVEL_API unsigned gavel_version(void);
GAVEL_API const char *gavel_version_string(void);
GAVEL_API const char *gavel_strerror(gavel_status code); /* static text     */
GAVEL_API const char *gavel_status_name(gavel_status code); /* "GAVEL_JSON" */

/* ==== Runtime ==== */

/* One allocator hook, the shape of lua_Alloc: realloc(ud, p, old, new);
** new == 0 frees and returns NULL. */
typedef void *(*gavel_realloc_fn)(void *ud, void *p, size_t old_size,
                                  size_t new_size);

typedef struct gavel_config {
  unsigned abi;             /* set to GAVEL_VERSION_NUM                  */
  gavel_realloc_fn realloc; /* NULL: libc realloc/free                   */
  void *alloc_ud;           /* passed to 'realloc'                       */
  uint64_t gas_limit;       /* default per-run gas budget; 0 = built-in  */
  size_t max_input_bytes;   /* largest JSON input accepted; 0 = 64 MiB   */
  int jit;                  /* reserved: 1 to enable the JIT tier        */
} gavel_config;

/* 'cfg' may be NULL for defaults.  A mismatched major ABI is GAVEL_MISUSE. */
GAVEL_API gavel_status gavel_runtime_new(const gavel_config *cfg,
                                         gavel_runtime **out,
                                         gavel_error *err);
GAVEL_API void gavel_runtime_free(gavel_runtime *rt);

/* ==== Standalone expressions ==== */

GAVEL_API gavel_status gavel_expr_compile(gavel_runtime *rt, const char *src,
                                          size_t src_len, gavel_expr **out,
                                          gavel_error *err);
GAVEL_API void gavel_expr_free(gavel_expr *e);

/* Evaluate against a JSON context document (NULL/0 = JSON null).  On
** GAVEL_OK '*out' holds the result as JSON text (borrowed, see top). */
GAVEL_API gavel_status gavel_expr_eval_json(gavel_expr *e, const char *ctx,
                                            size_t ctx_len, const char **out,
                                            size_t *out_len, gavel_error *err);

/* The program listing (borrowed). */
GAVEL_API gavel_status gavel_expr_disasm(gavel_expr *e, const char **out,
                                         gavel_error *err);

#ifdef __cplusplus
}
#endif
#endif /* GAVEL_H */
