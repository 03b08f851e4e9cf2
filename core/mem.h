/*
** mem.h -- allocator hook, arenas, growable buffers, error reporting.
**
** Everything in core/ allocates through a gavel__alloc (the runtime's one
** hook).  Per-program and per-evaluation data lives in a gv_arena: bump
** allocation, freed in one step.  Nothing here knows about values or JSON.
*/
#ifndef GAVEL_MEM_H
#define GAVEL_MEM_H

#include "gavel_int.h"
#include <stdarg.h>
#include <string.h>

typedef struct gavel__alloc {
  gavel_realloc_fn fn; /* the hook (never NULL after init)     */
  void *ud;            /* its user data                        */
} gavel__alloc;

extern const gavel__alloc gavel__default_alloc; /* libc realloc/free */

void *gavel__malloc(const gavel__alloc *al, size_t n);
void *gavel__realloc(const gavel__alloc *al, void *p, size_t old, size_t n);
void gavel__free(const gavel__alloc *al, void *p, size_t n);

/* ==== Arena ==== */
typedef struct gv_chunk gv_chunk;
typedef struct gv_arena {
  const gavel__alloc *al; /* where chunks come from                 */
  gv_chunk *head;         /* newest chunk (list of all chunks)      */
  char *cur;              /* next free byte in 'head'               */
  char *end;              /* end of 'head'                          */
  size_t used;            /* bytes handed out since init/reset      */
  size_t limit;           /* max bytes handed out; 0 = unlimited    */
  int failed;             /* 1 = OOM, 2 = limit hit (sticky)        */
} gv_arena;

void gavel__arena_init(gv_arena *a, const gavel__alloc *al, size_t limit);
/* 8-byte aligned; NULL on OOM or when 'limit' is exceeded ('failed' set). */
void *gavel__arena_alloc(gv_arena *a, size_t n);
void *gavel__arena_dup(gv_arena *a, const void *p, size_t n);
/* Frees all chunks but the largest, which is kept for reuse. */
void gavel__arena_reset(gv_arena *a);
void gavel__arena_free(gv_arena *a);
/* GAVEL_NOMEM or GAVEL_LIMIT, by why the arena failed. */
gavel_status gavel__arena_status(const gv_arena *a);

/* ==== Growable byte buffer (allocator-backed, NUL-terminated) ==== */
typedef struct gv_buf {
  const gavel__alloc *al; /* allocator                                 */
  char *p;                /* bytes; always NUL-terminated when cap > 0 */
  size_t len;             /* bytes used                                */
  size_t cap;             /* bytes allocated                           */
  int oom;                /* sticky: an append failed (1), or would have
                             passed 'max' (2)                          */
  size_t max;             /* 0: no bound; else the text may not grow
                             past 'max' bytes (the writers of values
                             stop walking when oom is set)             */
} gv_buf;

void gavel__buf_init(gv_buf *b, const gavel__alloc *al);
void gavel__buf_free(gv_buf *b);
int gavel__buf_reserve(gv_buf *b, size_t extra); /* 0 on OOM */
void gavel__buf_add_slow(gv_buf *b, const void *p, size_t n);
void gavel__buf_adds(gv_buf *b, const char *s);
/* Appends inline when capacity allows (the writer's hot path). */
GAVEL_INLINE void gavel__buf_add(gv_buf *b, const void *p, size_t n) {
  if (GAVEL_LIKELY(b->len + n < b->cap)) {
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = 0;
    return;
  }
  gavel__buf_add_slow(b, p, n);
}
GAVEL_INLINE void gavel__buf_addc(gv_buf *b, char c) {
  if (GAVEL_LIKELY(b->len + 1 < b->cap)) {
    b->p[b->len++] = c;
    b->p[b->len] = 0;
    return;
  }
  gavel__buf_add_slow(b, &c, 1);
}
void gavel__buf_addf(gv_buf *b, const char *fmt, ...) GAVEL_PRINTF(2, 3);
GAVEL_INLINE void gavel__buf_clear(gv_buf *b) {
  b->len = 0;
  b->oom = 0;
  if (b->cap)
    b->p[0] = 0;
}

/* ==== Errors ==== */
/* Sets err->code and err->msg (printf-style); keeps location fields unless
** they are unset.  err may be NULL.  Returns 'code'. */
gavel_status gavel__errorf(gavel_error *err, gavel_status code,
                           const char *fmt, ...) GAVEL_PRINTF(3, 4);
gavel_status gavel__verrorf(gavel_error *err, gavel_status code,
                            const char *fmt, va_list ap);
void gavel__error_clear(gavel_error *err);
void gavel__error_setpath(gavel_error *err, const char *path);

#endif /* GAVEL_MEM_H */
