/*
** mem.c -- allocator hook, arenas, growable buffers, error reporting.
**
** The only file in core/ that calls realloc/free directly (through the
** default hook).  Never touches values, JSON or the VM.
*/
#include "mem.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *libc_realloc(void *ud, void *p, size_t old, size_t n) {
  (void)ud;
  (void)old;
  if (n == 0) {
    free(p);
    return NULL;
  }
  return realloc(p, n);
}

const gavel__alloc gavel__default_alloc = {libc_realloc, NULL};

void *gavel__malloc(const gavel__alloc *al, size_t n) {
  return al->fn(al->ud, NULL, 0, n ? n : 1);
}

void *gavel__realloc(const gavel__alloc *al, void *p, size_t old, size_t n) {
  return al->fn(al->ud, p, old, n ? n : 1);
}

void gavel__free(const gavel__alloc *al, void *p, size_t n) {
  if (p)
    al->fn(al->ud, p, n, 0);
}

/* ==== Arena ==== */

struct gv_chunk {
  gv_chunk *next; /* older chunk                      */
  size_t size;    /* bytes of this allocation         */
  /* payload follows, 16-byte aligned */
};

#define CHUNK_HDR ((sizeof(gv_chunk) + 15) & ~(size_t)15)
#define CHUNK_MIN 4096

void gavel__arena_init(gv_arena *a, const gavel__alloc *al, size_t limit) {
  memset(a, 0, sizeof *a);
  a->al = al;
  a->limit = limit;
}

static GAVEL_NOINLINE void *arena_grow(gv_arena *a, size_t n) {
  size_t want = n + CHUNK_HDR, sz = CHUNK_MIN;
  gv_chunk *c;
  if (a->head && a->head->size < (1u << 20))
    sz = a->head->size * 2; /* geometric growth up to 1 MiB chunks */
  if (sz < want)
    sz = want;
  c = gavel__malloc(a->al, sz);
  if (!c) {
    a->failed = 1;
    return NULL;
  }
  c->size = sz;
  c->next = a->head;
  a->head = c;
  a->cur = (char *)c + CHUNK_HDR + n;
  a->end = (char *)c + sz;
  return (char *)c + CHUNK_HDR;
}

void *gavel__arena_alloc(gv_arena *a, size_t n) {
  char *p;
  n = (n + 7) & ~(size_t)7;
  if (GAVEL_UNLIKELY(a->failed))
    return NULL;
  if (a->limit && a->used + n > a->limit) {
    a->failed = 2;
    return NULL;
  }
  a->used += n;
  if (GAVEL_LIKELY((size_t)(a->end - a->cur) >= n)) {
    p = a->cur;
    a->cur += n;
    return p;
  }
  return arena_grow(a, n);
}

void *gavel__arena_dup(gv_arena *a, const void *p, size_t n) {
  void *q = gavel__arena_alloc(a, n ? n : 1);
  if (q && n)
    memcpy(q, p, n);
  return q;
}

/* Keeps the largest chunk (so a run that needed more than the first chunk
** does not malloc and free on every reset) and frees the others. */
void gavel__arena_reset(gv_arena *a) {
  gv_chunk *c = a->head, *keep = NULL;
  if (!c || !c->next) { /* at most one chunk (every small run): kept */
    a->used = 0;
    a->failed = 0;
    if (c) {
      a->cur = (char *)c + CHUNK_HDR;
      a->end = (char *)c + c->size;
    } else {
      a->cur = a->end = NULL;
    }
    return;
  }
  for (c = a->head; c; c = c->next)
    if (!keep || c->size > keep->size)
      keep = c;
  c = a->head;
  while (c) {
    gv_chunk *next = c->next;
    if (c != keep)
      gavel__free(a->al, c, c->size);
    c = next;
  }
  a->head = keep;
  a->used = 0;
  a->failed = 0;
  if (keep) {
    keep->next = NULL;
    a->cur = (char *)keep + CHUNK_HDR;
    a->end = (char *)keep + keep->size;
  } else {
    a->cur = a->end = NULL;
  }
}

void gavel__arena_free(gv_arena *a) {
  gv_chunk *c = a->head;
  while (c) {
    gv_chunk *next = c->next;
    gavel__free(a->al, c, c->size);
    c = next;
  }
  a->head = NULL;
  a->cur = a->end = NULL;
  a->used = 0;
}

gavel_status gavel__arena_status(const gv_arena *a) {
  return a->failed == 2 ? GAVEL_LIMIT : GAVEL_NOMEM;
}

/* ==== Buffer ==== */

void gavel__buf_init(gv_buf *b, const gavel__alloc *al) {
  memset(b, 0, sizeof *b);
  b->al = al;
}

void gavel__buf_free(gv_buf *b) {
  gavel__free(b->al, b->p, b->cap);
  b->p = NULL;
  b->len = b->cap = 0;
}

int gavel__buf_reserve(gv_buf *b, size_t extra) {
  size_t need = b->len + extra + 1, ncap;
  char *np;
  if (b->oom)
    return 0;
  if (need <= b->cap)
    return 1;
  if (b->max && need - 1 > b->max) {
    b->oom = 2;
    return 0;
  }
  ncap = b->cap ? b->cap * 2 : 256;
  while (ncap < need)
    ncap *= 2;
  np = gavel__realloc(b->al, b->p, b->cap, ncap);
  if (!np) {
    b->oom = 1;
    return 0;
  }
  b->p = np;
  b->cap = ncap;
  return 1;
}

void gavel__buf_add_slow(gv_buf *b, const void *p, size_t n) {
  if (!gavel__buf_reserve(b, n))
    return;
  memcpy(b->p + b->len, p, n);
  b->len += n;
  b->p[b->len] = 0;
}

void gavel__buf_adds(gv_buf *b, const char *s) { gavel__buf_add(b, s, strlen(s)); }


void gavel__buf_addf(gv_buf *b, const char *fmt, ...) {
  va_list ap;
  int n;
  char small[256];
  va_start(ap, fmt);
  n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n < sizeof small) {
    gavel__buf_add(b, small, (size_t)n);
    return;
  }
  if (!gavel__buf_reserve(b, (size_t)n))
    return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* ==== Errors ==== */

void gavel__error_clear(gavel_error *err) {
  if (!err)
    return;
  err->code = GAVEL_OK;
  err->line = err->column = 0;
  err->offset = -1;
  err->path[0] = 0;
  err->msg[0] = 0;
}

gavel_status gavel__verrorf(gavel_error *err, gavel_status code,
                            const char *fmt, va_list ap) {
  if (!err)
    return code;
  err->code = code;
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  return code;
}

gavel_status gavel__errorf(gavel_error *err, gavel_status code,
                           const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  gavel__verrorf(err, code, fmt, ap);
  va_end(ap);
  return code;
}

void gavel__error_setpath(gavel_error *err, const char *path) {
  if (err)
    snprintf(err->path, sizeof err->path, "%s", path);
}
