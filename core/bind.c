/*
** bind.c -- stage 3 input binding: projection trie and slot filling.
**
** Sits between loading and the VM: no bytecode, no JSON text (the reader in
** json.c consumes the projection built here).
*/
#include "bind.h"
#include "ops.h"
#include <stdio.h>
#include <stdlib.h>

gv_proj *gavel__proj_find(const gv_proj *n, const char *k, uint32_t len) {
  const gv_proj *c;
  if (n->idx) {
    uint32_t i = (uint32_t)gavel__hash_bytes(k, len) & n->idx_mask;
    for (; (c = n->idx[i]) != NULL; i = (i + 1) & n->idx_mask)
      if (c->key_len == len && memcmp(c->key, k, len) == 0)
        return (gv_proj *)c;
    return NULL;
  }
  for (c = n->child; c; c = c->next)
    if (c->key_len == len && memcmp(c->key, k, len) == 0)
      return (gv_proj *)c;
  return NULL;
}

static void index_put(gv_proj *n, gv_proj *c) {
  uint32_t i = (uint32_t)gavel__hash_bytes(c->key, c->key_len) & n->idx_mask;
  while (n->idx[i])
    i = (i + 1) & n->idx_mask;
  n->idx[i] = c;
}

/* (Re)builds the child index of 'n' with room for twice its children. */
static int index_build(gv_arena *a, gv_proj *n) {
  uint32_t slots = 32;
  gv_proj *c;
  while (slots < 4 * (uint64_t)n->n_child)
    slots *= 2;
  n->idx = gavel__arena_alloc(a, (size_t)slots * sizeof *n->idx);
  if (!n->idx)
    return 0;
  memset(n->idx, 0, (size_t)slots * sizeof *n->idx);
  n->idx_mask = slots - 1;
  for (c = n->child; c; c = c->next)
    index_put(n, c);
  return 1;
}

int gavel__proj_seg_index(const gv_proj *c, uint64_t *idx) {
  const char *p = c->key, *e = c->key + c->key_len;
  uint64_t v = 0;
  if (p < e && *p == '+')
    p++;
  if (p == e)
    return 0;
  for (; p < e; p++) {
    if ((unsigned)(*p - '0') > 9u || v > (UINT64_MAX - 9) / 10)
      return 0;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  *idx = v;
  return 1;
}

static int ichild_cmp(const void *x, const void *y) {
  const gv_proj_ichild *a = x, *b = y;
  return a->index < b->index ? -1 : a->index > b->index;
}

/* Sorts the index-naming children of every indexed node (listed through
** 'indexed_next'), once the projection is complete. */
static int ichild_build(gv_arena *a, gv_proj *list) {
  gv_proj *n, *c;
  uint64_t ix;
  for (n = list; n; n = n->indexed_next) {
    gv_proj_ichild *v;
    uint32_t k = 0;
    for (c = n->child; c; c = c->next)
      k += (uint32_t)gavel__proj_seg_index(c, &ix);
    if (k == 0)
      continue;
    if (!(v = gavel__arena_alloc(a, (size_t)k * sizeof *v)))
      return 0;
    k = 0;
    for (c = n->child; c; c = c->next)
      if (gavel__proj_seg_index(c, &ix)) {
        v[k].index = ix;
        v[k++].c = c;
      }
    qsort(v, k, sizeof *v, ichild_cmp);
    n->ichild = v;
    n->n_ichild = k;
  }
  return 1;
}

static gv_proj *child(gv_arena *a, gv_proj *n, const char *k, uint32_t len,
                      gv_proj **indexed) {
  gv_proj *c = gavel__proj_find(n, k, len);
  if (c)
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
  n->n_child++;
  if (len == 1 && k[0] == '*')
    n->star = c;
  if (n->idx && 2 * (uint64_t)n->n_child <= n->idx_mask + 1u)
    index_put(n, c);
  else if (n->n_child >= GV_PROJ_INDEX_MIN) {
    if (!n->idx) { /* indexed from now on: its index children sorted last */
      n->indexed_next = *indexed;
      *indexed = n;
    }
    if (!index_build(a, n))
      return NULL;
  }
  return c;
}

gv_proj *gavel__bind_projection(gv_arena *a, const gv_symtab *st, int *ok) {
  gv_proj *root, *indexed = NULL;
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
        n = child(a, n, "*", 1, &indexed);
      else if (sg->kind == GX_SEG_INDEX)
        n = child(a, n, buf,
                  (uint32_t)snprintf(buf, sizeof buf, "%lld",
                                     (long long)sg->index),
                  &indexed);
      else
        n = child(a, n, sg->key->s, sg->key->len, &indexed);
      if (!n)
        goto oom;
    }
    n->whole = 1;
  }
  if (!ichild_build(a, indexed))
    goto oom;
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

/* ==== Binding plans ====
** The trie's nodes are grouped by parent (children of one object read in
** one pass over its keys: O(keys) instead of O(keys x children)), and
** each group remembers which child the key at each position was in the
** last run (inputs of one kind keep their key order): a key is compared
** with that child first, with every child only when the guess fails.
** The first key equal to a child wins, as in gavel__obj_find, so objects
** with duplicate keys (built outside the parser) bind the same values. */

#define GV_BINDPLAN_MEMO 32 /* key positions remembered per group */

typedef struct gv_bindnode {
  int32_t parent;    /* node it extends, -1: the input root */
  const gx_seg *seg; /* the segment read from the parent    */
} gv_bindnode;

/* A child as the key scan compares it: its length, then the 8 bytes
** ending at its last byte (for keys under 8 bytes the window starts in
** the gv_str header, which 'mask' removes: never a read out of bounds),
** then the bytes before the window. */
typedef struct gv_bindkid {
  uint32_t node;     /* trie node                              */
  uint32_t len;      /* key length; UINT32_MAX: not a key      */
  uint64_t tail;     /* the window's bytes, masked             */
  uint64_t mask;     /* bytes of the window inside the key     */
  const gv_str *key; /* the key                                */
} gv_bindkid;

typedef struct gv_bindgroup {
  int32_t parent;  /* node (or -1, the root) whose children these are */
  uint32_t first;  /* children: order[first .. first + n)             */
  uint32_t n;
  uint32_t n_keys; /* children read by key                            */
  uint8_t memo[GV_BINDPLAN_MEMO]; /* per key position: child + 1, 0 */
} gv_bindgroup;

struct gv_bindplan {
  uint32_t n_nodes;      /* trie nodes, parents before children       */
  uint32_t n_slots;      /* input slots                               */
  uint32_t n_groups;     /* groups, in the order of their parents     */
  size_t size;           /* bytes allocated (this header included)    */
  gv_bindnode *nodes;    /* n_nodes                                   */
  int32_t *slot_node;    /* per slot: its node, -1: the root itself   */
  gv_bindkid *order;     /* children, grouped                         */
  gv_bindgroup *groups;  /* n_groups                                  */
};

static int seg_same(const gx_seg *a, const gx_seg *b) {
  if (a->kind != b->kind)
    return 0;
  if (a->kind == GX_SEG_INDEX)
    return a->index == b->index;
  return a->key->len == b->key->len &&
         memcmp(a->key->s, b->key->s, a->key->len) == 0;
}

/* The 8 bytes ending at the key's last byte (the gv_str header holds 8
** bytes before 's', so this stays inside the string's allocation). */
static inline uint64_t key_window(const gv_str *k) {
  uint64_t w;
  memcpy(&w, k->s + (int32_t)k->len - 8, 8);
  return w;
}

gv_bindplan *gavel__bind_plan(const gavel__alloc *al, const gv_symtab *st) {
  gv_bindnode nodes[GV_BINDPLAN_MAX_NODES];
  int32_t slot_node[GV_BINDPLAN_MAX_NODES];
  uint32_t n = 0, i, k, n_groups = 0, at = 0;
  gv_bindplan *pl;
  size_t size;
  int32_t par;
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
  /* a group per parent with children: the root and inner nodes */
  for (par = -1; par < (int32_t)n; par++)
    for (k = 0; k < n; k++)
      if (nodes[k].parent == par) {
        n_groups++;
        break;
      }
  size = sizeof *pl + n_groups * sizeof(gv_bindgroup) +
         n * sizeof *nodes + st->n_inputs * sizeof(int32_t) +
         n * sizeof(gv_bindkid);
  pl = gavel__malloc(al, size);
  if (!pl)
    return NULL;
  memset(pl, 0, size);
  pl->n_nodes = n;
  pl->n_slots = st->n_inputs;
  pl->size = size;
  pl->groups = (gv_bindgroup *)(pl + 1);
  pl->order = (gv_bindkid *)(pl->groups + n_groups);
  pl->nodes = (gv_bindnode *)(pl->order + n);
  pl->slot_node = (int32_t *)(pl->nodes + n);
  if (n)
    memcpy(pl->nodes, nodes, n * sizeof *nodes);
  if (st->n_inputs)
    memcpy(pl->slot_node, slot_node, st->n_inputs * sizeof(int32_t));
  for (par = -1; par < (int32_t)n; par++) {
    gv_bindgroup g;
    memset(&g, 0, sizeof g);
    g.parent = par;
    g.first = at;
    for (k = 0; k < n; k++)
      if (nodes[k].parent == par) {
        gv_bindkid *kd = &pl->order[at++];
        kd->node = k;
        kd->len = UINT32_MAX;
        if (nodes[k].seg->kind == GX_SEG_KEY) {
          kd->key = nodes[k].seg->key;
          kd->len = kd->key->len;
          kd->mask = kd->len >= 8   ? ~(uint64_t)0
                     : kd->len == 0 ? 0 /* "": the length decides */
                                    : ~(uint64_t)0 << (8 * (8 - kd->len));
          kd->tail = key_window(kd->key) & kd->mask;
          g.n_keys++;
        }
        g.n++;
      }
    if (g.n)
      pl->groups[pl->n_groups++] = g;
  }
  return pl;
}

void gavel__bind_plan_free(const gavel__alloc *al, gv_bindplan *pl) {
  if (pl)
    gavel__free(al, pl, pl->size);
}

/* Are the n bytes at a and b equal?  Inline (no call), word loads. */
static inline int bytes_eq(const char *a, const char *b, uint32_t n) {
  uint64_t x, y;
  uint32_t u, v;
  if (n >= 8) {
    const char *ea = a + n - 8;
    for (; a < ea; a += 8, b += 8) {
      memcpy(&x, a, 8);
      memcpy(&y, b, 8);
      if (x != y)
        return 0;
    }
    memcpy(&x, ea, 8);
    memcpy(&y, b - (a - ea), 8);
    return x == y;
  }
  if (n >= 4) {
    memcpy(&u, a, 4);
    memcpy(&v, b, 4);
    if (u != v)
      return 0;
    memcpy(&u, a + n - 4, 4);
    memcpy(&v, b + n - 4, 4);
    return u == v;
  }
  while (n--)
    if (*a++ != *b++)
      return 0;
  return 1;
}

static inline int key_is(const gv_str *k, const gv_bindkid *kd) {
  return k->len == kd->len && (key_window(k) & kd->mask) == kd->tail &&
         (kd->len <= 8 || bytes_eq(k->s, kd->key->s, kd->len - 8));
}

void gavel__bind_run(gv_bindplan *pl, gvalue root, gvalue *slots) {
  gvalue vals[GV_BINDPLAN_MAX_NODES];
  uint32_t i, c;
  for (i = 0; i < pl->n_nodes; i++)
    vals[i] = gv_missing();
  for (i = 0; i < pl->n_groups; i++) {
    gv_bindgroup *g = &pl->groups[i];
    const gv_bindkid *kids = &pl->order[g->first];
    gvalue cur = g->parent < 0 ? root : vals[g->parent];
    if (cur.tag == GV_OBJ && !cur.u.o->idx) {
      /* one pass over the keys; the first equal key binds a child */
      const gv_obj *o = cur.u.o;
      uint64_t found = 0;
      uint32_t left = g->n_keys, j;
      for (j = 0; j < o->len && left; j++) {
        const gv_str *k = o->keys[j];
        c = j < GV_BINDPLAN_MEMO ? g->memo[j] : 0;
        if (c && !(found >> (c - 1) & 1) && key_is(k, &kids[c - 1])) {
          c--;
        } else {
          for (c = 0; c < g->n; c++)
            if (!(found >> c & 1) && key_is(k, &kids[c]))
              break;
          if (j < GV_BINDPLAN_MEMO)
            g->memo[j] = (uint8_t)(c < g->n ? c + 1 : 0);
          if (c == g->n)
            continue; /* not a key the rules read */
        }
        found |= (uint64_t)1 << c;
        vals[kids[c].node] = o->vals[j];
        left--;
      }
      /* index segments on an object: absent (the walker's rule) */
    } else if (cur.tag == GV_OBJ || cur.tag == GV_ARR) {
      /* an indexed object (gavel__obj_find hashes), or an array: the
      ** walker's rules (a segment that is no wildcard never allocates) */
      for (c = 0; c < g->n; c++) {
        gvalue out;
        if (gavel__path_walk(NULL, cur, pl->nodes[kids[c].node].seg, 1,
                             &out) == 1)
          vals[kids[c].node] = out;
      }
    }
  }
  for (i = 0; i < pl->n_slots; i++)
    slots[i] = pl->slot_node[i] < 0 ? root : vals[pl->slot_node[i]];
}
