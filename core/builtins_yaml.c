/*
** builtins_yaml.c -- stage 3 support: Ordo's extended builtins, YAML (2).
**
** yaml_marshal / yaml_unmarshal on libyaml, shaped like serde_yaml 0.9,
** and the number text (ryu's layout, Rust's number syntax) YAML and JWT share.
**
** Input: borrowed argument values (arity already checked by the VM).
** Output: new values in the run's arena, or an error recorded in 'gv_rt'
** with Ordo's message text.  Shared helpers: builtins_lib.h; the table:
** builtins_ext.c.
*/
#define _GNU_SOURCE /* memrchr */
#include "builtins_lib.h"

#include <yaml.h>

/* ==== Number text shared by YAML and JWT (ryu's layout, as serde) ==== */

/* Formats a finite double as ryu's format_finite does ("1.0", "0.001",
** "1e21", "1.5e-7").  Digits come from json.h's shortest round-trip
** formatter, whose layout is re-read here. */
size_t gavel__fmt_ryu(char *out, double d) {
  char t[40], dig[32];
  size_t nd = 0, o = 0, k;
  int exp10 = 0, seen_point = 0, lead = 1, e = 0, eneg = 0, kk;
  const char *p;
  gavel__fmt_double_json(t, d);
  p = t;
  if (*p == '-')
    out[o++] = '-', p++;
  for (; *p && *p != 'e' && *p != 'E'; p++) {
    if (*p == '.') {
      seen_point = 1;
      continue;
    }
    if (*p == '0' && lead) {
      if (seen_point)
        exp10--;
      continue;
    }
    lead = 0;
    if (nd < sizeof dig)
      dig[nd++] = *p;
    if (!seen_point)
      exp10++;
  }
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-')
      eneg = *p++ == '-';
    while (*p >= '0' && *p <= '9')
      e = e * 10 + (*p++ - '0');
  }
  while (nd > 0 && dig[nd - 1] == '0')
    nd--;
  if (nd == 0) {
    memcpy(out + o, "0.0", 4);
    return o + 3;
  }
  kk = exp10 + (eneg ? -e : e); /* value = 0.dig * 10^kk */
  if (kk >= (int)nd && kk <= 16) {
    memcpy(out + o, dig, nd), o += nd;
    for (k = nd; k < (size_t)kk; k++)
      out[o++] = '0';
    out[o++] = '.', out[o++] = '0';
  } else if (kk > 0 && kk <= 16) {
    memcpy(out + o, dig, (size_t)kk), o += (size_t)kk;
    out[o++] = '.';
    memcpy(out + o, dig + kk, nd - (size_t)kk), o += nd - (size_t)kk;
  } else if (kk > -5 && kk <= 0) {
    out[o++] = '0', out[o++] = '.';
    for (k = 0; k < (size_t)-kk; k++)
      out[o++] = '0';
    memcpy(out + o, dig, nd), o += nd;
  } else {
    out[o++] = dig[0];
    if (nd > 1) {
      out[o++] = '.';
      memcpy(out + o, dig + 1, nd - 1), o += nd - 1;
    }
    o += (size_t)snprintf(out + o, 16, "e%d", kk - 1);
  }
  out[o] = 0;
  return o;
}

/* ---- Rust integer and float syntax (from_str_radix, f64::from_str) ---- */

/* Rust from_str_radix for u64/i64 (bits 64) or u128/i128 (bits 128). */
static int rs_int(const char *s, size_t n, unsigned radix, int is_signed,
                  int bits, __int128 *out) {
  unsigned __int128 v = 0, lim;
  int neg = 0;
  size_t i = 0;
  if (n && (s[0] == '+' || (s[0] == '-' && is_signed)))
    neg = s[0] == '-', i = 1;
  if (i >= n)
    return 0;
  lim = bits == 64
            ? (is_signed ? (unsigned __int128)INT64_MAX + neg : UINT64_MAX)
            : (is_signed ? (((unsigned __int128)1 << 127) - 1 + neg)
                         : ~(unsigned __int128)0);
  for (; i < n; i++) {
    int c = (unsigned char)s[i], d;
    d = c >= '0' && c <= '9'   ? c - '0'
        : c >= 'a' && c <= 'z' ? c - 'a' + 10
        : c >= 'A' && c <= 'Z' ? c - 'A' + 10
                               : 99;
    if (d >= (int)radix)
      return 0;
    if (v > (lim - (unsigned)d) / radix)
      return 0;
    v = v * radix + (unsigned)d;
  }
  *out = neg ? -(__int128)v : (__int128)v;
  return 1;
}

static int digits_not_number(const char *s, size_t n) {
  size_t i;
  if (n && (s[0] == '-' || s[0] == '+'))
    s++, n--;
  if (n <= 1 || s[0] != '0')
    return 0;
  for (i = 1; i < n; i++)
    if (s[i] < '0' || s[i] > '9')
      return 0;
  return 1;
}

static int has_prefix(const char *s, size_t n, const char *pre) {
  size_t l = strlen(pre);
  return n >= l && !memcmp(s, pre, l);
}

/* serde_yaml's parse_unsigned_int / parse_negative_int. */
static int ya_uint(const char *s, size_t n, int bits, __int128 *v) {
  static const char *const pre[3] = {"0x", "0o", "0b"};
  static const unsigned rad[3] = {16, 8, 2};
  const char *u = s;
  size_t un = n;
  int k;
  if (n && s[0] == '+') {
    u++, un--;
    if (un && (u[0] == '+' || u[0] == '-'))
      return 0;
  }
  for (k = 0; k < 3; k++)
    if (has_prefix(u, un, pre[k])) {
      if (un > 2 && (u[2] == '+' || u[2] == '-'))
        return 0;
      if (rs_int(u + 2, un - 2, rad[k], 0, bits, v))
        return 1;
    }
  if (digits_not_number(s, n))
    return 0;
  return rs_int(u, un, 10, 0, bits, v);
}

static int ya_nint(const char *s, size_t n, int bits, __int128 *v) {
  static const char *const pre[3] = {"-0x", "-0o", "-0b"};
  static const unsigned rad[3] = {16, 8, 2};
  char tmp[160];
  int k;
  for (k = 0; k < 3; k++)
    if (has_prefix(s, n, pre[k]) && n - 2 < sizeof tmp) {
      tmp[0] = '-';
      memcpy(tmp + 1, s + 3, n - 3);
      if (rs_int(tmp, n - 2, rad[k], 1, bits, v))
        return 1;
    }
  if (digits_not_number(s, n))
    return 0;
  return rs_int(s, n, 10, 1, bits, v);
}

/* Rust f64::from_str grammar for a decimal number (no inf/nan). */
static int rs_float_syntax(const char *s, size_t n) {
  size_t i = 0, a = 0, b = 0;
  if (i < n && (s[i] == '+' || s[i] == '-'))
    i++;
  while (i < n && s[i] >= '0' && s[i] <= '9')
    i++, a++;
  if (i < n && s[i] == '.') {
    i++;
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++, b++;
  }
  if (a + b == 0)
    return 0;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    size_t d = 0;
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-'))
      i++;
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++, d++;
    if (!d)
      return 0;
  }
  return i == n;
}

/* serde_yaml's parse_f64: finite floats and the YAML inf/nan spellings. */
static int ya_float(const char *s, size_t n, double *out) {
  const char *u = s;
  size_t un = n;
  if (n && s[0] == '+') {
    u++, un--;
    if (un && (u[0] == '+' || u[0] == '-'))
      return 0;
  }
  if ((un == 4 && (!memcmp(u, ".inf", 4) || !memcmp(u, ".Inf", 4) ||
                   !memcmp(u, ".INF", 4))))
    return *out = HUGE_VAL, 1;
  if (n == 5 && (!memcmp(s, "-.inf", 5) || !memcmp(s, "-.Inf", 5) ||
                 !memcmp(s, "-.INF", 5)))
    return *out = -HUGE_VAL, 1;
  if (n == 4 &&
      (!memcmp(s, ".nan", 4) || !memcmp(s, ".NaN", 4) || !memcmp(s, ".NAN", 4)))
    return *out = NAN, 1;
  if (!rs_float_syntax(u, un) || gavel__parse_double(u, un, out))
    return 0;
  return *out - *out == 0; /* finite */
}

static int ya_null(const char *s, size_t n) {
  return n == 0 || (n == 1 && s[0] == '~') ||
         (n == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) ||
                     !memcmp(s, "NULL", 4)));
}

static int ya_bool(const char *s, size_t n, int *b) {
  static const char *const t[6] = {"true",  "True",  "TRUE",
                                   "false", "False", "FALSE"};
  int k;
  for (k = 0; k < 6; k++)
    if (n == strlen(t[k]) && !memcmp(s, t[k], n))
      return *b = k < 3, 1;
  return 0;
}

/* ==== YAML: serde_yaml 0.9 on libyaml ==== */

static int ya_write(void *data, unsigned char *p, size_t n) {
  gv_buf *b = data;
  gavel__buf_add(b, p, n);
  return !b->oom && b->len <= GAVEL_MAX_STR_BYTES;
}

/* serde_yaml's choice of style for a string scalar. */
static yaml_scalar_style_t ya_str_style(const char *s, size_t n) {
  __int128 v;
  double f;
  int b;
  if (memchr(s, '\n', n))
    return YAML_LITERAL_SCALAR_STYLE;
  if (ya_null(s, n) || ya_bool(s, n, &b) || ya_uint(s, n, 64, &v) ||
      ya_nint(s, n, 64, &v))
    return YAML_SINGLE_QUOTED_SCALAR_STYLE;
  if (ya_uint(s, n, 128, &v) || ya_nint(s, n, 128, &v))
    return YAML_ANY_SCALAR_STYLE; /* visit_u128 fails: style falls to Any */
  if ((!digits_not_number(s, n) && ya_float(s, n, &f)) ||
      digits_not_number(s, n))
    return YAML_SINGLE_QUOTED_SCALAR_STYLE;
  return YAML_ANY_SCALAR_STYLE;
}

static int ya_scalar(yaml_emitter_t *em, const char *s, size_t n,
                     yaml_scalar_style_t st) {
  yaml_event_t ev;
  if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)n,
                                    1, 1, st))
    return 1;
  return !yaml_emitter_emit(em, &ev);
}

/* 'depth' bounds the recursion (GAVEL_MAX_WALK_DEPTH: issue 8). */
static int ya_emit(gv_rt *rt, yaml_emitter_t *em, gvalue v, int depth) {
  yaml_event_t ev;
  char t[48];
  uint32_t i;
  if (charge(rt, 16))
    return 1;
  if ((v.tag == GV_ARR || v.tag == GV_OBJ) && depth >= GAVEL_MAX_WALK_DEPTH)
    return gavel__rt_depth_error(rt);
  switch (v.tag) {
  case GV_BOOL:
    return ya_scalar(em, v.u.i ? "true" : "false", v.u.i ? 4 : 5,
                     YAML_PLAIN_SCALAR_STYLE);
  case GV_INT:
    return ya_scalar(em, t,
                     (size_t)snprintf(t, sizeof t, "%lld", (long long)v.u.i),
                     YAML_PLAIN_SCALAR_STYLE);
  case GV_FLOAT:
    if (v.u.f != v.u.f)
      return ya_scalar(em, ".nan", 4, YAML_PLAIN_SCALAR_STYLE);
    if (v.u.f - v.u.f != 0)
      return ya_scalar(em, v.u.f > 0 ? ".inf" : "-.inf", v.u.f > 0 ? 4 : 5,
                       YAML_PLAIN_SCALAR_STYLE);
    return ya_scalar(em, t, gavel__fmt_ryu(t, v.u.f), YAML_PLAIN_SCALAR_STYLE);
  case GV_STR:
    if (charge(rt, v.u.s->len))
      return 1;
    return ya_scalar(em, v.u.s->s, v.u.s->len,
                     ya_str_style(v.u.s->s, v.u.s->len));
  case GV_ARR:
    if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                              YAML_ANY_SEQUENCE_STYLE) ||
        !yaml_emitter_emit(em, &ev))
      return 1;
    for (i = 0; i < v.u.a->len; i++)
      if (ya_emit(rt, em, v.u.a->items[i], depth + 1))
        return 1;
    return !yaml_sequence_end_event_initialize(&ev) ||
           !yaml_emitter_emit(em, &ev);
  case GV_OBJ:
    if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                             YAML_ANY_MAPPING_STYLE) ||
        !yaml_emitter_emit(em, &ev))
      return 1;
    for (i = 0; i < v.u.o->len; i++) {
      gv_str *k = v.u.o->keys[i];
      if (ya_scalar(em, k->s, k->len, ya_str_style(k->s, k->len)) ||
          ya_emit(rt, em, v.u.o->vals[i], depth + 1))
        return 1;
    }
    return !yaml_mapping_end_event_initialize(&ev) ||
           !yaml_emitter_emit(em, &ev);
  default:
    return ya_scalar(em, "null", 4, YAML_PLAIN_SCALAR_STYLE);
  }
}

int gavel__bi_yaml_marshal(gv_rt *rt, gvalue *out, const gvalue *args,
                           int nargs) {
  yaml_emitter_t em;
  yaml_event_t ev;
  gv_buf b;
  int bad;
  (void)nargs;
  buf_open(rt, &b);
  if (!yaml_emitter_initialize(&em)) {
    gavel__buf_free(&b);
    return gavel__rt_error(rt, GV_E_NOMEM, "out of memory");
  }
  yaml_emitter_set_unicode(&em, 1);
  yaml_emitter_set_width(&em, -1);
  yaml_emitter_set_output(&em, ya_write, &b);
  bad = !yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) ||
        !yaml_emitter_emit(&em, &ev) ||
        !yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) ||
        !yaml_emitter_emit(&em, &ev);
  bad = bad || ya_emit(rt, &em, args[0], 0);
  bad = bad || !yaml_document_end_event_initialize(&ev, 1) ||
        !yaml_emitter_emit(&em, &ev) ||
        !yaml_stream_end_event_initialize(&ev) ||
        !yaml_emitter_emit(&em, &ev) || !yaml_emitter_flush(&em);
  if (bad && rt->ekind == GV_E_NONE) {
    if (b.oom || b.len > GAVEL_MAX_STR_BYTES)
      limit_str(rt, "yaml_marshal", SIZE_MAX);
    else
      eval_err(rt, "yaml_marshal: %s", em.problem ? em.problem : "error");
  }
  yaml_emitter_delete(&em);
  if (bad) {
    gavel__buf_free(&b);
    return 1;
  }
  return ret_buf(rt, out, "yaml_marshal", &b);
}

/* ---- yaml_unmarshal: load the first document's events, then build ---- */

typedef struct ya_ev {
  yaml_event_type_t type; /* scalar, alias, seq/map start/end          */
  char *text;             /* scalar value (NUL-terminated)             */
  size_t len;             /* its length                                */
  char *tag;              /* tag or NULL                               */
  char *anchor;           /* anchor or alias name, or NULL             */
  int plain;              /* scalar style is plain                     */
  size_t line, col;       /* start mark                                */
  long target;            /* alias: index of the anchored event        */
} ya_ev;

typedef struct ya_doc {
  const gavel__alloc *al; /* where events and their text live  */
  ya_ev *ev;              /* events of the first document          */
  size_t n, cap;          /* count, capacity                       */
  char err[200];          /* load error text, "" if none           */
  int more;               /* a second document follows             */
  gv_rt *rt;              /* deadline, errors                      */
  size_t *anchors;        /* hash: anchor name -> event index + 1  */
  size_t n_anchors;       /* distinct names in 'anchors'           */
  size_t cap_anchors;     /* slots (a power of two), 0 = none yet  */
} ya_doc;

#define YA_MAX_DEPTH 128 /* serde_yaml's recursion limit */

static int ya_deadline(gv_rt *rt) {
  if (rt->deadline_ns && now_ns() >= rt->deadline_ns)
    return gavel__rt_error(rt, GV_E_EVAL,
                           "Execution timeout: yaml_unmarshal stopped at the "
                           "run's deadline");
  return 0;
}

typedef struct ya_node {
  gvalue v;       /* built value                           */
  uint64_t jumps; /* alias jumps a full expansion makes    */
  uint64_t size;  /* nodes of its full expansion (capped)  */
  int height;     /* nesting height                        */
  int state;      /* 0 = not built, 1 = building, 2 = done */
} ya_node;

typedef struct ya_b {
  gv_rt *rt;      /* runtime                               */
  ya_doc *d;      /* events                                */
  ya_node *nodes; /* per-event cache for anchored nodes    */
  size_t pos;     /* next event                            */
  uint64_t jumps; /* alias jumps so far                    */
  size_t n_built; /* nodes built (deadline checks)         */
} ya_b;

/* Saturating: expansions of nested aliases grow exponentially. */
static uint64_t ya_add(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static char *dupz(const gavel__alloc *al, const void *p, size_t n) {
  char *s = gavel__malloc(al, n + 1);
  if (s) {
    if (n)
      memcpy(s, p, n);
    s[n] = 0;
  }
  return s;
}

static void ya_doc_free(ya_doc *d) {
  size_t i;
  for (i = 0; i < d->n; i++) {
    ya_ev *x = &d->ev[i];
    if (x->text)
      gavel__free(d->al, x->text, x->len + 1);
    if (x->tag)
      gavel__free(d->al, x->tag, strlen(x->tag) + 1);
    if (x->anchor)
      gavel__free(d->al, x->anchor, strlen(x->anchor) + 1);
  }
  gavel__free(d->al, d->ev, d->cap * sizeof *d->ev);
  gavel__free(d->al, d->anchors, d->cap_anchors * sizeof *d->anchors);
}

static uint32_t ya_hash(const char *s) {
  return (uint32_t)gavel__hash_bytes(s, strlen(s)); /* seeded (value.h) */
}

/* The slot of anchor 'name' in d->anchors: its entry or the empty slot
** where it goes. */
static size_t *ya_anchor_slot(ya_doc *d, const char *name) {
  size_t mask = d->cap_anchors - 1, i = ya_hash(name) & mask;
  while (d->anchors[i] && strcmp(d->ev[d->anchors[i] - 1].anchor, name))
    i = (i + 1) & mask;
  return &d->anchors[i];
}

/* Records event 'at' as the latest definition of its anchor (a later
** definition of the same name replaces it, as in serde_yaml's Loader).
** Returns 1 on allocation failure. */
static int ya_anchor_set(ya_doc *d, size_t at) {
  if (2 * (d->n_anchors + 1) > d->cap_anchors) {
    size_t old = d->cap_anchors, nc = old ? 2 * old : 64, k;
    size_t *prev = d->anchors;
    d->anchors = gavel__malloc(d->al, nc * sizeof *d->anchors);
    if (!d->anchors) {
      d->anchors = prev;
      return 1;
    }
    memset(d->anchors, 0, nc * sizeof *d->anchors);
    d->cap_anchors = nc;
    for (k = 0; k < old; k++)
      if (prev[k])
        *ya_anchor_slot(d, d->ev[prev[k] - 1].anchor) = prev[k];
    gavel__free(d->al, prev, old * sizeof *prev);
  }
  {
    size_t *slot = ya_anchor_slot(d, d->ev[at].anchor);
    if (!*slot)
      d->n_anchors++;
    *slot = at + 1;
  }
  return 0;
}

/* Index of the latest event anchored 'name', or -1. */
static long ya_anchor_get(ya_doc *d, const char *name) {
  size_t *slot;
  if (!d->cap_anchors)
    return -1;
  slot = ya_anchor_slot(d, name);
  return *slot ? (long)(*slot - 1) : -1;
}

static void ya_parse_error(ya_doc *d, const yaml_parser_t *p) {
  gv_buf b;
  gavel__buf_init(&b, &gavel__default_alloc);
  gavel__buf_adds(&b, p->problem ? p->problem : "unknown error");
  if (p->problem_mark.line || p->problem_mark.column)
    gavel__buf_addf(&b, " at line %zu column %zu", p->problem_mark.line + 1,
                    p->problem_mark.column + 1);
  else if (p->problem_offset)
    gavel__buf_addf(&b, " at position %zu", p->problem_offset);
  if (p->context) {
    gavel__buf_addf(&b, ", %s", p->context);
    if ((p->context_mark.line || p->context_mark.column) &&
        (p->context_mark.line != p->problem_mark.line ||
         p->context_mark.column != p->problem_mark.column))
      gavel__buf_addf(&b, " at line %zu column %zu", p->context_mark.line + 1,
                      p->context_mark.column + 1);
  }
  snprintf(d->err, sizeof d->err, "%s", b.p ? b.p : "error");
  gavel__buf_free(&b);
}

/* Appends one event; returns 1 on allocation failure. */
static int ya_push(ya_doc *d, const yaml_event_t *e) {
  ya_ev *x;
  const yaml_char_t *anchor = NULL, *tag = NULL;
  if (d->n == d->cap) {
    size_t nc = d->cap ? d->cap * 2 : 16;
    ya_ev *ne =
        gavel__realloc(d->al, d->ev, d->cap * sizeof *ne, nc * sizeof *ne);
    if (!ne)
      return 1;
    d->ev = ne, d->cap = nc;
  }
  x = &d->ev[d->n];
  memset(x, 0, sizeof *x);
  x->type = e->type;
  x->line = e->start_mark.line + 1;
  x->col = e->start_mark.column + 1;
  x->target = -1;
  if (e->type == YAML_SCALAR_EVENT) {
    anchor = e->data.scalar.anchor, tag = e->data.scalar.tag;
    x->plain = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    x->len = e->data.scalar.length;
    if (!(x->text = dupz(d->al, e->data.scalar.value, x->len)))
      return 1;
  } else if (e->type == YAML_SEQUENCE_START_EVENT) {
    anchor = e->data.sequence_start.anchor, tag = e->data.sequence_start.tag;
  } else if (e->type == YAML_MAPPING_START_EVENT) {
    anchor = e->data.mapping_start.anchor, tag = e->data.mapping_start.tag;
  } else if (e->type == YAML_ALIAS_EVENT) {
    anchor = e->data.alias.anchor;
  }
  if (anchor &&
      !(x->anchor = dupz(d->al, anchor, strlen((const char *)anchor))))
    return 1;
  if (tag && !(x->tag = dupz(d->al, tag, strlen((const char *)tag))))
    return 1;
  d->n++;
  return 0;
}

/* serde_yaml's Loader: the first document's events (aliases resolved to
** the latest anchor defined before them), then whether another follows. */
static int ya_load(ya_doc *d, const gv_str *s) {
  yaml_parser_t p;
  yaml_event_t e;
  int docs = 0, done = 0, rc = 0, open = 0;
  if (!yaml_parser_initialize(&p))
    return 1;
  yaml_parser_set_input_string(&p, (const unsigned char *)s->s, s->len);
  while (!done) {
    if (!yaml_parser_parse(&p, &e)) {
      if (docs <= 1 && !d->more)
        ya_parse_error(d, &p);
      else
        d->more = 1;
      break;
    }
    switch (e.type) {
    case YAML_DOCUMENT_START_EVENT:
      if (++docs > 1)
        d->more = 1, done = 1;
      break;
    case YAML_STREAM_END_EVENT:
    case YAML_DOCUMENT_END_EVENT:
      if (e.type == YAML_STREAM_END_EVENT)
        done = 1;
      break;
    case YAML_STREAM_START_EVENT:
      break;
    default:
      if (ya_push(d, &e)) {
        rc = 1, done = 1;
      } else if (e.type == YAML_ALIAS_EVENT) {
        ya_ev *x = &d->ev[d->n - 1];
        long k = ya_anchor_get(d, x->anchor);
        x->target = k;
        if (k < 0) { /* the document ends here, with the error */
          snprintf(d->err, sizeof d->err,
                   "unknown anchor at line %zu "
                   "column %zu",
                   x->line, x->col);
          gavel__free(d->al, x->anchor, strlen(x->anchor) + 1);
          d->n--;
          done = 1;
        }
      } else {
        if (d->ev[d->n - 1].anchor && ya_anchor_set(d, d->n - 1))
          rc = 1, done = 1;
        if (e.type == YAML_SEQUENCE_START_EVENT ||
            e.type == YAML_MAPPING_START_EVENT) {
          /* The build fails at this event ("recursion limit exceeded"):
          ** stop here rather than scan the rest (libyaml's flow-level
          ** bookkeeping makes deep nesting quadratic: 60 KB took 8 s). */
          if (++open > YA_MAX_DEPTH)
            done = 1;
        } else if (e.type == YAML_SEQUENCE_END_EVENT ||
                   e.type == YAML_MAPPING_END_EVENT)
          open--;
      }
    }
    yaml_event_delete(&e);
    if (!done && d->n % 1024 == 0 && ya_deadline(d->rt))
      rc = 2, done = 1;
  }
  yaml_parser_delete(&p);
  return rc;
}

static int ya_fail(ya_b *b, const ya_ev *x, const char *msg) {
  return eval_err(b->rt, "yaml_unmarshal: %s at line %zu column %zu", msg,
                  x->line, x->col);
}

static int ya_node_at(ya_b *b, size_t at, int depth, ya_node *out);

/* Builds the node starting at b->pos (advancing past it). */
static int ya_build(ya_b *b, int depth, ya_node *out) {
  size_t at = b->pos;
  ya_node *cache;
  if (at >= b->d->n)
    return eval_err(b->rt, "yaml_unmarshal: %s",
                    b->d->err[0] ? b->d->err : "EOF while parsing a value");
  if (b->d->ev[at].type == YAML_ALIAS_EVENT) {
    const ya_ev *x = &b->d->ev[at];
    ya_node *t = &b->nodes[x->target];
    b->pos++;
    if (++b->jumps > (uint64_t)b->d->n * 100)
      return eval_err(b->rt, "yaml_unmarshal: repetition limit exceeded");
    if (t->state == 1 || depth + t->height > YA_MAX_DEPTH)
      return ya_fail(b, x, "recursion limit exceeded");
    if (t->state == 0) { /* not built yet: a forward anchor cannot occur */
      size_t save = b->pos;
      b->pos = (size_t)x->target;
      if (ya_build(b, depth, t))
        return 1;
      b->pos = save;
    }
    b->jumps += t->jumps;
    if (b->jumps > (uint64_t)b->d->n * 100)
      return eval_err(b->rt, "yaml_unmarshal: repetition limit exceeded");
    /* The value is shared, not copied, but whoever walks the result pays
    ** for every node of the expansion (billion laughs): charge them. */
    if (gavel__rt_charge(b->rt, t->size > INT64_MAX ? INT64_MAX
                                                    : (int64_t)t->size))
      return 1;
    *out = *t;
    out->jumps = t->jumps + 1;
    return 0;
  }
  cache = b->d->ev[at].anchor ? &b->nodes[at] : NULL;
  if (cache)
    cache->state = 1;
  if (ya_node_at(b, at, depth, out))
    return 1;
  if (cache) {
    *cache = *out;
    cache->state = 2;
  }
  return 0;
}

#define YA_TAG "tag:yaml.org,2002:"

/* serde_yaml's visit_scalar into an Ordo value. */
static int ya_scalar_value(ya_b *b, const ya_ev *x, gvalue *v) {
  const char *s = x->text, *tag = x->tag;
  size_t n = x->len;
  __int128 iv;
  double f;
  int bl, untagged = !tag ? x->plain : (tag[0] == '!' && x->plain);
  char msg[200];
  if (tag && !untagged && !strcmp(tag, YA_TAG "bool")) {
    if (!ya_bool(s, n, &bl))
      goto badval;
    return *v = gv_bool(bl), 0;
  }
  if (tag && !untagged && !strcmp(tag, YA_TAG "float")) {
    if (!ya_float(s, n, &f))
      goto badval;
    return *v = gv_float(f), 0;
  }
  if (tag && !untagged && !strcmp(tag, YA_TAG "null")) {
    if (!ya_null(s, n) || n == 0)
      goto badval;
    return *v = gv_null(), 0;
  }
  if (untagged && ya_null(s, n))
    return *v = gv_null(), 0;
  if (untagged && ya_bool(s, n, &bl))
    return *v = gv_bool(bl), 0;
  if (untagged || (tag && !strcmp(tag, YA_TAG "int"))) {
    if (ya_uint(s, n, 64, &iv) || ya_nint(s, n, 64, &iv))
      return *v = gv_int((int64_t)(uint64_t)iv), 0;
    if (ya_uint(s, n, 128, &iv) || ya_nint(s, n, 128, &iv)) {
      snprintf(msg, sizeof msg,
               "invalid type: integer `%.*s` as %s, expected "
               "a valid JSON value",
               (int)n, s, ya_uint(s, n, 128, &iv) ? "u128" : "i128");
      return ya_fail(b, x, msg);
    }
    if (!untagged)
      goto badval;
  }
  if (untagged && !digits_not_number(s, n) && ya_float(s, n, &f))
    return *v = gv_float(f), 0;
  if (limit_str(b->rt, "yaml_unmarshal", n))
    return 1;
  {
    gv_str *str = gavel__str_new(b->rt->arena, s, n);
    if (!str)
      return gavel__rt_nomem(b->rt);
    *v = gv_strv(str);
  }
  return 0;
badval:
  snprintf(msg, sizeof msg, "invalid value: string \"%.*s\", expected %s",
           (int)(n > 60 ? 60 : n), s,
           !strcmp(tag, YA_TAG "bool")    ? "a boolean"
           : !strcmp(tag, YA_TAG "float") ? "a float"
           : !strcmp(tag, YA_TAG "null")  ? "null"
                                          : "an integer");
  return ya_fail(b, x, msg);
}

/* A mapping key as String (serde_yaml's deserialize_str). */
static int ya_key(ya_b *b, gv_str **key) {
  const ya_ev *x = &b->d->ev[b->pos];
  if (x->type == YAML_ALIAS_EVENT)
    x = &b->d->ev[x->target];
  if (x->type != YAML_SCALAR_EVENT)
    return ya_fail(b, &b->d->ev[b->pos],
                   x->type == YAML_SEQUENCE_START_EVENT
                       ? "invalid type: sequence, expected a string"
                       : "invalid type: map, expected a string");
  b->pos++;
  if (!(*key = gavel__str_new(b->rt->arena, x->text, x->len)))
    return gavel__rt_nomem(b->rt);
  return 0;
}

/* A mapping being built: key -> member index, hashed once it is large
** (gavel__obj_set searches linearly: a 100,000-key map took 23 s). */
typedef struct ya_map {
  gv_obj *o;       /* the object                          */
  uint32_t *slots; /* member index + 1, 0 = empty; or NULL */
  uint32_t cap;    /* slots (a power of two)               */
} ya_map;

#define YA_MAP_HASH_AT 16 /* members before a hash index is built */

static void ya_map_index(ya_map *m, uint32_t i) {
  uint32_t mask = m->cap - 1, k = gavel__str_hash(m->o->keys[i]) & mask;
  while (m->slots[k])
    k = (k + 1) & mask;
  m->slots[k] = i + 1;
}

/* (Re)builds the index with room for twice the members. */
static int ya_map_grow(ya_b *b, ya_map *m) {
  const gavel__alloc *al = b->d->al;
  uint32_t nc = m->cap ? 2 * m->cap : 4 * YA_MAP_HASH_AT, i;
  gavel__free(al, m->slots, (size_t)m->cap * sizeof *m->slots);
  m->slots = gavel__malloc(al, (size_t)nc * sizeof *m->slots);
  m->cap = m->slots ? nc : 0;
  if (!m->slots)
    return gavel__rt_error(b->rt, GV_E_NOMEM, "out of memory");
  memset(m->slots, 0, (size_t)nc * sizeof *m->slots);
  for (i = 0; i < m->o->len; i++)
    ya_map_index(m, i);
  return 0;
}

/* Inserts or replaces (the last value wins, at the first key's place, as
** gavel__obj_set does).  Returns 1 with the error recorded. */
static int ya_map_set(ya_b *b, ya_map *m, gv_str *k, gvalue v) {
  uint32_t mask, h;
  if (!m->slots && m->o->len < YA_MAP_HASH_AT)
    return gavel__obj_set(b->rt->arena, m->o, k, v) ? 0
                                                    : gavel__rt_nomem(b->rt);
  if (!m->slots && ya_map_grow(b, m))
    return 1;
  mask = m->cap - 1;
  for (h = gavel__str_hash(k) & mask; m->slots[h]; h = (h + 1) & mask)
    if (gavel__str_eq(m->o->keys[m->slots[h] - 1], k)) {
      m->o->vals[m->slots[h] - 1] = v;
      return 0;
    }
  if (!gavel__obj_append(b->rt->arena, m->o, k, v))
    return gavel__rt_nomem(b->rt);
  if (2 * (size_t)m->o->len > m->cap) /* keep the load under a half */
    return ya_map_grow(b, m);
  m->slots[h] = m->o->len;
  return 0;
}

static int ya_map_build(ya_b *b, int depth, ya_map *m, int *h,
                        uint64_t *size) {
  while (b->pos < b->d->n &&
         b->d->ev[b->pos].type != YAML_MAPPING_END_EVENT) {
    gv_str *k;
    ya_node c;
    if (ya_key(b, &k) || ya_build(b, depth + 1, &c) ||
        ya_map_set(b, m, k, c.v))
      return 1;
    *h = c.height + 1 > *h ? c.height + 1 : *h;
    *size = ya_add(*size, c.size);
  }
  return 0;
}

static int ya_node_at(ya_b *b, size_t at, int depth, ya_node *out) {
  const ya_ev *x = &b->d->ev[at];
  uint64_t j0 = b->jumps;
  int h = 0;
  memset(out, 0, sizeof *out);
  out->size = 1;
  if (charge(b->rt, 4 + x->len))
    return 1;
  if (++b->n_built % 1024 == 0 && ya_deadline(b->rt))
    return 1;
  if (x->tag && x->tag[0] == '!' && x->tag[1])
    return ya_fail(b, x, "invalid type: enum, expected a valid JSON value");
  b->pos = at + 1;
  if (x->type == YAML_SCALAR_EVENT)
    return ya_scalar_value(b, x, &out->v);
  if (depth >= YA_MAX_DEPTH)
    return ya_fail(b, x, "recursion limit exceeded");
  if (x->type == YAML_SEQUENCE_START_EVENT) {
    gv_arr *a = gavel__arr_new(b->rt->arena, 4);
    if (!a)
      return gavel__rt_nomem(b->rt);
    while (b->pos < b->d->n &&
           b->d->ev[b->pos].type != YAML_SEQUENCE_END_EVENT) {
      ya_node c;
      if (ya_build(b, depth + 1, &c) || push(b->rt, a, c.v) ||
          limit_arr(b->rt, "yaml_unmarshal", a->len))
        return 1;
      h = c.height + 1 > h ? c.height + 1 : h;
      out->size = ya_add(out->size, c.size);
    }
    out->v = gv_arrv(a);
  } else {
    ya_map m = {gavel__obj_new(b->rt->arena, 4), NULL, 0};
    int rc;
    if (!m.o)
      return gavel__rt_nomem(b->rt);
    rc = ya_map_build(b, depth, &m, &h, &out->size);
    gavel__free(b->d->al, m.slots, (size_t)m.cap * sizeof *m.slots);
    if (rc)
      return 1;
    out->v = gv_objv(m.o);
  }
  if (b->pos >= b->d->n)
    return eval_err(b->rt, "yaml_unmarshal: %s",
                    b->d->err[0] ? b->d->err : "EOF while parsing a value");
  b->pos++; /* the end event */
  out->height = h ? h : 1;
  out->jumps = b->jumps - j0;
  return 0;
}

int gavel__bi_yaml_unmarshal(gv_rt *rt, gvalue *out, const gvalue *args,
                             int nargs) {
  const gv_str *s;
  ya_doc d;
  ya_b b;
  ya_node root;
  size_t nsz;
  int rc;
  (void)nargs;
  if (arg_str(rt, args[0], &s) || charge(rt, s->len * 2))
    return 1;
  memset(&d, 0, sizeof d);
  d.al = rt->arena->al;
  d.rt = rt;
  if ((rc = ya_load(&d, s)) != 0) {
    ya_doc_free(&d);
    return rc == 2 ? 1 : gavel__rt_error(rt, GV_E_NOMEM, "out of memory");
  }
  if (d.n == 0 && !d.err[0]) { /* empty stream: serde_yaml's Event::Void */
    ya_doc_free(&d);
    rc = d.more ? eval_err(rt, "yaml_unmarshal: deserializing from YAML "
                               "containing more than one document is not "
                               "supported")
                : 0;
    if (!rc)
      *out = gv_null();
    return rc;
  }
  nsz = (d.n ? d.n : 1) * sizeof(ya_node);
  b = (ya_b){rt, &d, gavel__malloc(d.al, nsz), 0, 0, 0};
  if (b.nodes)
    memset(b.nodes, 0, nsz);
  else {
    ya_doc_free(&d);
    return gavel__rt_error(rt, GV_E_NOMEM, "out of memory");
  }
  rc = ya_build(&b, 0, &root);
  if (!rc && d.err[0])
    rc = eval_err(rt, "yaml_unmarshal: %s", d.err);
  if (!rc && d.more)
    rc = eval_err(rt, "yaml_unmarshal: deserializing from YAML containing "
                      "more than one document is not supported");
  gavel__free(d.al, b.nodes, nsz);
  ya_doc_free(&d);
  if (!rc)
    *out = root.v;
  return rc;
}
