/*
** bind.c -- stage 3 input binding: projection trie and slot filling.
**
** Sits between loading and the VM: no bytecode, no JSON text (the reader in
** json.c consumes the projection built here).
*/
#include "bind.h"
#include "ops.h"
#include <stdio.h>

static gv_proj *child(gv_arena *a, gv_proj *n, const char *k, uint32_t len) {
  gv_proj *c;
  for (c = n->child; c; c = c->next)
    if (c->key_len == len && memcmp(c->key, k, len) == 0)
      return c;
  c = gavel__arena_alloc(a, sizeof *c);
  if (!c)
    return NULL;
  memset(c, 0, sizeof *c);
  c->key = gavel__arena_dup(a, k, len);
  if (!c->key)
    return NULL;
  c->key_len = len;
  c->next = n->child;
  n->child = c;
  return c;
}

gv_proj *gavel__bind_projection(gv_arena *a, const gv_symtab *st, int *ok) {
  gv_proj *root;
  uint32_t i;
  int j;
  *ok = 1;
  if (st->needs_root)
    return NULL;
  root = gavel__arena_alloc(a, sizeof *root);
  if (!root)
    goto oom;
  memset(root, 0, sizeof *root);
  for (i = 0; i < st->n_inputs; i++) {
    const gx_path *p = st->inputs[i];
    gv_proj *n = root;
    for (j = 0; j < p->n_segs && !n->whole; j++) {
      const gx_seg *sg = &p->segs[j];
      char buf[24];
      if (sg->kind == GX_SEG_WILD)
        n = child(a, n, "*", 1);
      else if (sg->kind == GX_SEG_INDEX)
        n = child(a, n, buf,
                  (uint32_t)snprintf(buf, sizeof buf, "%lld",
                                     (long long)sg->index));
      else
        n = child(a, n, sg->key->s, sg->key->len);
      if (!n)
        goto oom;
    }
    n->whole = 1;
  }
  return root;
oom:
  *ok = 0;
  return NULL;
}

gavel_status gavel__bind_walk(gv_arena *a, const gv_symtab *st, gvalue root,
                              gvalue *slots) {
  uint32_t i;
  for (i = 0; i < st->n_inputs; i++) {
    const gx_path *p = st->inputs[i];
    int rc = gavel__path_walk(a, root, p->segs, p->n_segs, &slots[i]);
    if (rc < 0)
      return gavel__arena_status(a);
    if (rc == 0)
      slots[i] = gv_missing();
  }
  return GAVEL_OK;
}
