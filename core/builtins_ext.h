/*
** builtins_ext.h -- extended builtins (regex, time, YAML, encodings, hashes,
** JWT, glob, CIDR, semver): the few entry points outside the table.
**
** The table itself, gavel__builtins_ext[], is declared in value.h.  This
** header only adds the per-thread regex cache control.  Nothing here
** allocates from, or frees into, a runtime's arena.
*/
#ifndef GAVEL_BUILTINS_EXT_H
#define GAVEL_BUILTINS_EXT_H

#include "value.h"

/* Frees every compiled pattern in the calling thread's regex cache (64
** entries, least recently used evicted).  Safe to call at any time and more
** than once; the cache refills on the next regex builtin call.  Threads
** that exit without calling it leak their cached patterns. */
void gavel__regex_cache_clear(void);

#endif /* GAVEL_BUILTINS_EXT_H */
