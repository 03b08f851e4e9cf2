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

/* ==== Binding plans ==== */

typedef struct gv_bindnode {
  int32_t parent;    /* node it extends, -1: the input root */
  const gx_seg *seg; /* the segment read from the parent    */
} gv_bindnode;

struct gv_bindplan {
  uint32_t n_nodes;    /* trie nodes, parents before children     */
  uint32_t n_slots;    /* input slots                             */
  size_t size;         /* bytes allocated (this header included)  */
  gv_bindnode *nodes;  /* n_nodes                                 */
  int32_t *slot_node;  /* per slot: its node, -1: the root itself */
};

static int seg_same(const gx_seg *a, const gx_seg *b) {
  if (a->kind != b->kind)
    return 0;
  if (a->kind == GX_SEG_INDEX)
    return a->index == b->index;
  return a->key->len == b->key->len &&
         memcmp(a->key->s, b->key->s, a->key->len) == 0;
}

gv_bindplan *gavel__bind_plan(const gavel__alloc *al, const gv_symtab *st) {
  gv_bindnode nodes[GV_BINDPLAN_MAX_NODES];
  uint32_t n = 0, i, k;
  int32_t slot_node[GV_BINDPLAN_MAX_NODES];
  gv_bindplan *pl;
  size_t size;
  int j;
  if (st->n_inputs > GV_BINDPLAN_MAX_NODES)
    return NULL;
  for (i = 0; i < st->n_inputs; i++) {
    const gx_path *p = st->inputs[i];
    int32_t cur = -1;
    for (j = 0; j < p->n_segs; j++) {
      const gx_seg *sg = &p->segs[j];
      if (sg->kind == GX_SEG_WILD)
        return NULL;
      for (k = 0; k < n; k++)
        if (nodes[k].parent == cur && seg_same(nodes[k].seg, sg))
          break;
      if (k == n) {
        if (n == GV_BINDPLAN_MAX_NODES)
          return NULL;
        nodes[n].parent = cur;
        nodes[n].seg = sg;
        n++;
      }
      cur = (int32_t)k;
    }
    slot_node[i] = cur;
  }
  size = sizeof *pl + n * sizeof *nodes + st->n_inputs * sizeof(int32_t);
  pl = gavel__malloc(al, size);
  if (!pl)
    return NULL;
  pl->n_nodes = n;
  pl->n_slots = st->n_inputs;
  pl->size = size;
  pl->nodes = (gv_bindnode *)(pl + 1);
  pl->slot_node = (int32_t *)(pl->nodes + n);
  if (n)
    memcpy(pl->nodes, nodes, n * sizeof *nodes);
  if (st->n_inputs)
    memcpy(pl->slot_node, slot_node, st->n_inputs * sizeof(int32_t));
  return pl;
}

void gavel__bind_plan_free(const gavel__alloc *al, gv_bindplan *pl) {
  if (pl)
    gavel__free(al, pl, pl->size);
}

/* Are the n bytes at a and b equal?  Inline for short keys (no call). */
static inline int bytes_eq(const char *a, const char *b, uint32_t n) {
  uint64_t x, y;
  while (n >= 8) {
    memcpy(&x, a, 8);
    memcpy(&y, b, 8);
    if (x != y)
      return 0;
    a += 8;
    b += 8;
    n -= 8;
  }
  while (n--)
    if (*a++ != *b++)
      return 0;
  return 1;
}

void gavel__bind_run(const gv_bindplan *pl, gvalue root, gvalue *slots) {
  gvalue vals[GV_BINDPLAN_MAX_NODES];
  uint32_t i;
  for (i = 0; i < pl->n_nodes; i++) {
    const gv_bindnode *nd = &pl->nodes[i];
    gvalue cur = nd->parent < 0 ? root : vals[nd->parent];
    const gx_seg *sg = nd->seg;
    vals[i] = gv_missing();
    if (cur.tag == GV_OBJ && sg->kind == GX_SEG_KEY) {
      /* gavel__obj_find inline: the first key equal to the segment */
      const gv_obj *o = cur.u.o;
      const gv_str *want = sg->key;
      uint32_t j;
      if (o->idx) {
        int at = gavel__obj_find(o, want->s, want->len);
        if (at >= 0)
          vals[i] = o->vals[at];
        continue;
      }
      for (j = 0; j < o->len; j++) {
        const gv_str *k = o->keys[j];
        if (k->len == want->len && bytes_eq(k->s, want->s, want->len)) {
          vals[i] = o->vals[j];
          break;
        }
      }
    } else if (cur.tag == GV_ARR || cur.tag == GV_OBJ) {
      /* an index, a key into an array: the walker's rules (a
      ** non-wildcard segment never allocates) */
      gvalue out;
      if (gavel__path_walk(NULL, cur, sg, 1, &out) == 1)
        vals[i] = out;
    }
  }
  for (i = 0; i < pl->n_slots; i++)
    slots[i] = pl->slot_node[i] < 0 ? root : vals[pl->slot_node[i]];
}
