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

#endif
