/*
** bind.h -- input binding: from an input document to the slot array.
**
** The symtab knows every input path a rule graph reads.  From it we build
** (once, at load) a projection for the JSON reader, and per run we fill
** the slot array by walking each path in the (projected) input value.
*/
#ifndef GAVEL_BIND_H
#define GAVEL_BIND_H

#include "compile.h"
#include "json.h"

/* Projection covering every input path of 'st' (NULL = read everything,
** when some path is the whole root).  Allocated in 'a'.  Sets *ok = 0 on
** arena failure. */
gv_proj *gavel__bind_projection(gv_arena *a, const gv_symtab *st, int *ok);

/* Fills slots[0 .. st->n_inputs) from 'root' (GV_MISSING where absent).
** Returns GAVEL_OK or the arena failure status (wildcards allocate). */
gavel_status gavel__bind_walk(gv_arena *a, const gv_symtab *st, gvalue root,
                              gvalue *slots);

/* A binding plan: the input paths of a symtab as a trie of segments
** (shared prefixes looked up once per run: "applicant.age" and
** "applicant.credit.score" read "applicant" once), with the key lookups
** inline.  Built once per exec; NULL when a path has a wildcard (those
** allocate: gavel__bind_walk keeps their order) or the trie is too big. */
typedef struct gv_bindplan gv_bindplan;
#define GV_BINDPLAN_MAX_NODES 64

gv_bindplan *gavel__bind_plan(const gavel__alloc *al, const gv_symtab *st);
void gavel__bind_plan_free(const gavel__alloc *al, gv_bindplan *pl);
/* Fills slots[0 .. st->n_inputs) from 'root' exactly as gavel__bind_walk
** does (the same values, first match among duplicate keys, GV_MISSING
** where absent); never allocates.  Updates the plan's key-position
** memo: a plan belongs to one exec (one thread). */
void gavel__bind_run(gv_bindplan *pl, gvalue root, gvalue *slots);

#endif
