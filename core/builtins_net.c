/*
** builtins_net.c -- stage 3 support: Ordo's extended builtins, matching (5).
**
** glob_match (the glob crate), cidr_contains / cidr_intersects (ipnetwork
** 0.20 over Rust's std::net parsers), semver_compare / semver_is_valid
** (the semver crate 1.x).
**
** Input: borrowed argument values (arity already checked by the VM).
** Output: new values in the run's arena, or an error recorded in 'gv_rt'
** with Ordo's message text.  Shared helpers: builtins_lib.h; the table:
** builtins_ext.c.
*/
#define _GNU_SOURCE /* memrchr */
#include "builtins_lib.h"

/* ==== glob_match (the glob crate, default MatchOptions) ==== */

enum { GT_CHAR, GT_ANY, GT_SEQ, GT_RSEQ, GT_WITHIN, GT_EXCEPT };
enum { GM_MATCH, GM_SUB, GM_ENTIRE };

typedef struct gl_tok {
  int kind;         /* GT_*                                   */
  uint32_t c;       /* GT_CHAR: the char                      */
  uint32_t sp, nsp; /* GT_WITHIN/EXCEPT: range slice in specs */
} gl_tok;

typedef struct gl_ctx {
  gv_rt *rt;         /* for gas                            */
  gl_tok *t;         /* tokens                             */
  size_t nt;         /* count                              */
  uint32_t *spec;    /* (lo, hi) pairs                     */
  const uint32_t *f; /* input chars                        */
  size_t nf;         /* count                              */
  int64_t steps;     /* work done since the last charge    */
  int out_of_gas;    /* set when gas ran out               */
} gl_ctx;

/* Decodes a UTF-8 string into code points (caller frees, n+1 slots). */
static uint32_t *to_cps(gv_rt *rt, const gv_str *s, size_t *n) {
  uint32_t *v = gavel__malloc(rt->arena->al, (s->len + 1) * sizeof *v);
  size_t i = 0, k = 0;
  if (!v)
    return NULL;
  while (i < s->len)
    i += utf8_dec(s->s + i, s->len - i, &v[k++]);
  *n = k;
  return v;
}

/* Wildcards ('*', '**') in one pattern at most: matching recurses once
** per wildcard (as the glob crate does), so a pattern of a million '*'
** would overflow the C stack; real patterns have a handful. */
#define GL_MAX_WILDCARDS 1000

/* Pattern::new; returns 0 or 1 with the glob crate's error text (or the
** wildcard limit's). */
static int gl_compile(gl_ctx *g, const uint32_t *c, size_t n, char *err,
                      size_t esz) {
  size_t i = 0, ns = 0, wild = 0;
  g->nt = 0;
  while (i < n) {
    gl_tok *t = &g->t[g->nt];
    if (c[i] == '*' && ++wild > GL_MAX_WILDCARDS) {
      snprintf(err, esz, "more than %d wildcards (the maximum)",
               GL_MAX_WILDCARDS);
      return 1;
    }
    if (c[i] == '?') {
      *t = (gl_tok){GT_ANY, 0, 0, 0}, g->nt++, i++;
    } else if (c[i] == '*') {
      size_t old = i, count;
      while (i < n && c[i] == '*')
        i++;
      count = i - old;
      if (count > 2) {
        snprintf(err, esz,
                 "Pattern syntax error near position %zu: wildcards "
                 "are either regular `*` or recursive `**`",
                 old + 2);
        return 1;
      }
      if (count == 1) {
        *t = (gl_tok){GT_SEQ, 0, 0, 0}, g->nt++;
        continue;
      }
      if (!(i == 2 || c[i - count - 1] == '/')) {
        snprintf(err, esz,
                 "Pattern syntax error near position %zu: recursive "
                 "wildcards must form a single path component",
                 old - 1);
        return 1;
      }
      if (i < n && c[i] == '/')
        i++;
      else if (i != n) {
        snprintf(err, esz,
                 "Pattern syntax error near position %zu: recursive "
                 "wildcards must form a single path component",
                 i);
        return 1;
      }
      if (!(g->nt > 1 && g->t[g->nt - 1].kind == GT_RSEQ))
        *t = (gl_tok){GT_RSEQ, 0, 0, 0}, g->nt++;
    } else if (c[i] == '[') {
      size_t from = 0, j, b = 0, e = 0;
      int kind = -1;
      if (i + 4 <= n && c[i + 1] == '!')
        from = i + 3, b = i + 2, kind = GT_EXCEPT;
      else if (i + 3 <= n && c[i + 1] != '!')
        from = i + 2, b = i + 1, kind = GT_WITHIN;
      for (j = from; kind >= 0 && j < n && c[j] != ']'; j++)
        ;
      if (kind < 0 || j >= n) {
        snprintf(err, esz,
                 "Pattern syntax error near position %zu: invalid "
                 "range pattern",
                 i);
        return 1;
      }
      e = j;
      *t = (gl_tok){kind, 0, (uint32_t)ns, 0};
      while (b < e) {
        if (b + 3 <= e && c[b + 1] == '-')
          g->spec[2 * ns] = c[b], g->spec[2 * ns + 1] = c[b + 2], b += 3;
        else
          g->spec[2 * ns] = g->spec[2 * ns + 1] = c[b], b++;
        ns++, t->nsp++;
      }
      g->nt++;
      i = j + 1;
    } else {
      *t = (gl_tok){GT_CHAR, c[i], 0, 0}, g->nt++, i++;
    }
  }
  return 0;
}

static int gl_in(const gl_ctx *g, const gl_tok *t, uint32_t c) {
  uint32_t k;
  for (k = 0; k < t->nsp; k++)
    if (g->spec[2 * (t->sp + k)] <= c && c <= g->spec[2 * (t->sp + k) + 1])
      return 1;
  return 0;
}

/* Pattern::matches_from. */
static int gl_match(gl_ctx *g, int follows, size_t fi, size_t ti) {
  for (; ti < g->nt; ti++) {
    const gl_tok *t = &g->t[ti];
    if (++g->steps >= 64) {
      if (charge(g->rt, g->steps * 16))
        g->out_of_gas = 1;
      g->steps = 0;
    }
    if (g->out_of_gas)
      return GM_ENTIRE;
    if (t->kind == GT_SEQ || t->kind == GT_RSEQ) {
      int r = gl_match(g, follows, fi, ti + 1);
      if (r != GM_SUB)
        return r;
      while (fi < g->nf) {
        follows = g->f[fi++] == '/';
        if (t->kind == GT_RSEQ && !follows)
          continue;
        if ((r = gl_match(g, follows, fi, ti + 1)) != GM_SUB)
          return r;
      }
    } else {
      uint32_t c;
      int ok;
      if (fi >= g->nf)
        return GM_ENTIRE;
      c = g->f[fi++];
      if (t->kind == GT_WITHIN || t->kind == GT_EXCEPT)
        g->steps += t->nsp; /* gl_in's scan of the class */
      ok = t->kind == GT_ANY || (t->kind == GT_CHAR && c == t->c) ||
           (t->kind == GT_WITHIN && gl_in(g, t, c)) ||
           (t->kind == GT_EXCEPT && !gl_in(g, t, c));
      if (!ok)
        return GM_SUB;
      follows = c == '/';
    }
  }
  return fi >= g->nf ? GM_MATCH : GM_SUB;
}

/* One pattern against the input chars: 0/1, or -1 with an error. */
static int gl_one(gv_rt *rt, gvalue pv, const uint32_t *f, size_t nf) {
  const gv_str *p;
  uint32_t *pc;
  size_t np;
  gl_ctx g;
  char err[160];
  int r = -1;
  if (arg_str(rt, pv, &p) || charge(rt, p->len))
    return -1;
  if (!(pc = to_cps(rt, p, &np))) {
    gavel__rt_error(rt, GV_E_NOMEM, "out of memory");
    return -1;
  }
  memset(&g, 0, sizeof g);
  g.rt = rt, g.f = f, g.nf = nf;
  g.t = gavel__malloc(rt->arena->al, (np + 1) * sizeof *g.t);
  g.spec = gavel__malloc(rt->arena->al, (np + 1) * 2 * sizeof *g.spec);
  if (!g.t || !g.spec)
    gavel__rt_error(rt, GV_E_NOMEM, "out of memory");
  else if (gl_compile(&g, pc, np, err, sizeof err))
    eval_err(rt, "glob_match: invalid pattern: %s", err);
  else {
    r = gl_match(&g, 1, 0, 0) == GM_MATCH;
    if (g.out_of_gas)
      r = -1;
  }
  gavel__free(rt->arena->al, g.t, (np + 1) * sizeof *g.t);
  gavel__free(rt->arena->al, g.spec, (np + 1) * 2 * sizeof *g.spec);
  gavel__free(rt->arena->al, pc, (p->len + 1) * sizeof *pc);
  return r;
}

int gavel__bi_glob_match(gv_rt *rt, gvalue *out, const gvalue *args,
                         int nargs) {
  const gv_str *s;
  uint32_t *f;
  size_t nf;
  int r = 0;
  (void)nargs;
  if (arg_str(rt, args[1], &s) || charge(rt, s->len))
    return 1;
  if (!(f = to_cps(rt, s, &nf)))
    return gavel__rt_error(rt, GV_E_NOMEM, "out of memory");
  if (args[0].tag == GV_ARR) {
    uint32_t i;
    for (i = 0; i < args[0].u.a->len && r == 0; i++)
      r = gl_one(rt, args[0].u.a->items[i], f, nf);
  } else {
    r = gl_one(rt, args[0], f, nf);
  }
  gavel__free(rt->arena->al, f, (s->len + 1) * sizeof *f);
  if (r < 0)
    return 1;
  *out = gv_bool(r);
  return 0;
}

/* ==== CIDR (ipnetwork 0.20 over Rust's std::net parsers) ==== */

typedef struct ip_addr {
  int v6;              /* 0 = IPv4, 1 = IPv6                 */
  unsigned char b[16]; /* address bytes (IPv4 in b[0..3])    */
} ip_addr;

/* Rust's read_number: up to 'maxd' digits in 'radix', value <= 'max'. */
static int ip_num(const char *s, size_t n, size_t *i, unsigned radix, int maxd,
                  unsigned max, int zero_prefix, unsigned *out) {
  size_t j = *i;
  unsigned v = 0;
  int d = 0, lead0 = j < n && s[j] == '0';
  while (j < n) {
    int x = hexv((unsigned char)s[j]);
    if (x < 0 || x >= (int)radix)
      break;
    v = v * radix + (unsigned)x;
    if (++d > maxd || v > max)
      return 0;
    j++;
  }
  if (!d || (!zero_prefix && lead0 && d > 1))
    return 0;
  *i = j;
  *out = v;
  return 1;
}

static int ip4_read(const char *s, size_t n, size_t *i, unsigned char *b) {
  size_t j = *i;
  int k;
  for (k = 0; k < 4; k++) {
    unsigned v;
    if (k && (j >= n || s[j++] != '.'))
      return 0;
    if (!ip_num(s, n, &j, 10, 3, 255, 0, &v))
      return 0;
    b[k] = (unsigned char)v;
  }
  *i = j;
  return 1;
}

/* read_groups: up to 'limit' groups; sets *v4 if it ended in an IPv4. */
static size_t ip6_groups(const char *s, size_t n, size_t *i, uint16_t *g,
                         size_t limit, int *v4) {
  size_t k;
  *v4 = 0;
  for (k = 0; k < limit; k++) {
    size_t j = *i;
    unsigned v;
    if (k + 1 < limit) {
      unsigned char b4[4];
      size_t jj = j;
      if ((k == 0 || (jj < n && s[jj++] == ':')) && ip4_read(s, n, &jj, b4)) {
        g[k] = (uint16_t)(b4[0] << 8 | b4[1]);
        g[k + 1] = (uint16_t)(b4[2] << 8 | b4[3]);
        *i = jj;
        *v4 = 1;
        return k + 2;
      }
    }
    if (k && (j >= n || s[j++] != ':'))
      return k;
    if (!ip_num(s, n, &j, 16, 4, 0xFFFF, 1, &v))
      return k;
    g[k] = (uint16_t)v;
    *i = j;
  }
  return limit;
}

static int ip6_read(const char *s, size_t n, size_t *i, unsigned char *b) {
  uint16_t head[8] = {0}, tail[7] = {0};
  size_t j = *i, hs, ts, k;
  int v4;
  hs = ip6_groups(s, n, &j, head, 8, &v4);
  if (hs < 8) {
    if (v4 || j + 1 >= n || s[j] != ':' || s[j + 1] != ':')
      return 0;
    j += 2;
    ts = ip6_groups(s, n, &j, tail, 8 - (hs + 1), &v4);
    for (k = 0; k < ts; k++)
      head[8 - ts + k] = tail[k];
  }
  for (k = 0; k < 8; k++)
    b[2 * k] = (unsigned char)(head[k] >> 8),
          b[2 * k + 1] = (unsigned char)head[k];
  *i = j;
  return 1;
}

/* std::net::IpAddr::from_str. */
static int ip_parse(const char *s, size_t n, ip_addr *a) {
  size_t i = 0;
  memset(a, 0, sizeof *a);
  if (ip4_read(s, n, &i, a->b) && i == n)
    return 1;
  i = 0;
  a->v6 = 1;
  return ip6_read(s, n, &i, a->b) && i == n;
}

/* Rust's u8::from_str for a prefix length. */
static int parse_u8(const char *s, size_t n, unsigned *out) {
  size_t i = n && s[0] == '+';
  unsigned v = 0;
  if (i >= n)
    return 0;
  for (; i < n; i++) {
    if (s[i] < '0' || s[i] > '9' || (v = v * 10 + (unsigned)(s[i] - '0')) > 255)
      return 0;
  }
  *out = v;
  return 1;
}

/* IpNetwork::from_str: "addr[/prefix]" (IPv4 also "/a.b.c.d" masks). */
static int net_parse(const gv_str *s, ip_addr *a, unsigned *prefix) {
  const char *sl = memchr(s->s, '/', s->len);
  size_t al = sl ? (size_t)(sl - s->s) : s->len, pl;
  if (sl && memchr(sl + 1, '/', s->len - al - 1))
    return 0;
  if (!ip_parse(s->s, al, a))
    return 0;
  if (!sl) {
    *prefix = a->v6 ? 128 : 32;
    return 1;
  }
  pl = s->len - al - 1;
  if (!a->v6) {
    ip_addr m;
    if (ip_parse(sl + 1, pl, &m) && !m.v6) {
      uint32_t mask = (uint32_t)m.b[0] << 24 | (uint32_t)m.b[1] << 16 |
                      (uint32_t)m.b[2] << 8 | m.b[3];
      if ((~mask & (~mask + 1)) != 0)
        return 0; /* non-contiguous netmask */
      *prefix = (unsigned)__builtin_popcount(mask);
      return 1;
    }
  }
  return parse_u8(sl + 1, pl, prefix) && *prefix <= (a->v6 ? 128u : 32u);
}

/* Whether 'ip' lies in network (net, prefix); families must agree. */
static int net_contains(const ip_addr *net, unsigned prefix,
                        const ip_addr *ip) {
  unsigned k;
  if (net->v6 != ip->v6)
    return 0;
  for (k = 0; k < prefix; k++) {
    unsigned bit = 7 - (k & 7);
    if (((net->b[k >> 3] >> bit) & 1) != ((ip->b[k >> 3] >> bit) & 1))
      return 0;
  }
  return 1;
}

int gavel__bi_cidr_contains(gv_rt *rt, gvalue *out, const gvalue *args,
                            int nargs) {
  const gv_str *c, *ips;
  ip_addr net, ip;
  unsigned prefix;
  char m[GAVEL_ERRMSG_SIZE / 2];
  (void)nargs;
  if (arg_str(rt, args[0], &c) || arg_str(rt, args[1], &ips) ||
      charge(rt, c->len + ips->len))
    return 1;
  if (!net_parse(c, &net, &prefix))
    return eval_err(rt,
                    "cidr_contains: invalid CIDR '%s': invalid address: "
                    "%s",
                    MSG_STR(m, c), m);
  if (!ip_parse(ips->s, ips->len, &ip))
    return eval_err(rt,
                    "cidr_contains: invalid IP '%s': invalid IP address "
                    "syntax",
                    MSG_STR(m, ips));
  *out = gv_bool(net_contains(&net, prefix, &ip));
  return 0;
}

int gavel__bi_cidr_intersects(gv_rt *rt, gvalue *out, const gvalue *args,
                              int nargs) {
  const gv_str *a, *b;
  ip_addr na, nb;
  unsigned pa, pb;
  char m[GAVEL_ERRMSG_SIZE / 2];
  (void)nargs;
  if (arg_str(rt, args[0], &a) || arg_str(rt, args[1], &b) ||
      charge(rt, a->len + b->len))
    return 1;
  if (!net_parse(a, &na, &pa))
    return eval_err(rt,
                    "cidr_intersects: invalid CIDR '%s': invalid "
                    "address: %s",
                    MSG_STR(m, a), m);
  if (!net_parse(b, &nb, &pb))
    return eval_err(rt,
                    "cidr_intersects: invalid CIDR '%s': invalid "
                    "address: %s",
                    MSG_STR(m, b), m);
  *out = gv_bool(net_contains(&na, pa, &nb) || net_contains(&nb, pb, &na));
  return 0;
}

/* ==== semver (the semver crate, 1.x) ==== */

typedef struct sv_ver {
  uint64_t num[3];   /* major, minor, patch            */
  const char *pre;   /* pre-release text (no '-')       */
  size_t pre_len;    /* its length, 0 = none            */
  const char *build; /* build metadata (no '+')         */
  size_t build_len;  /* its length, 0 = none            */
} sv_ver;

static const char *const SV_POS[5] = {
    "major version number", "minor version number", "patch version number",
    "pre-release identifier", "build metadata"};

/* Dot-separated identifiers at s; sets *len; returns 0 or error text. */
static int sv_ident(const char *s, size_t n, int pos, size_t *len, char *err,
                    size_t esz) {
  size_t acc = 0, seg = 0;
  int nondigit = 0;
  for (;;) {
    int c = acc + seg < n ? (unsigned char)s[acc + seg] : -1;
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-') {
      seg++, nondigit = 1;
      continue;
    }
    if (c >= '0' && c <= '9') {
      seg++;
      continue;
    }
    if (seg == 0) {
      if (acc == 0 && c != '.') {
        *len = 0;
        return 0;
      }
      snprintf(err, esz, "empty identifier segment in %s", SV_POS[pos]);
      return 1;
    }
    if (pos == 3 && seg > 1 && !nondigit && s[acc] == '0') {
      snprintf(err, esz, "invalid leading zero in %s", SV_POS[pos]);
      return 1;
    }
    acc += seg;
    if (c != '.') {
      *len = acc;
      return 0;
    }
    acc++, seg = 0, nondigit = 0;
  }
}

/* Version::from_str: 0, or 1 with the semver crate's message. */
static int sv_parse(const gv_str *str, sv_ver *v, char *err, size_t esz) {
  const char *s = str->s;
  size_t n = str->len, i = 0, l;
  int k;
  char q[16];
  memset(v, 0, sizeof *v);
  if (!n) {
    snprintf(err, esz, "empty string, expected a semver version");
    return 1;
  }
  for (k = 0; k < 3; k++) {
    size_t d0 = i;
    uint64_t val = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
      if (val == 0 && i > d0) {
        snprintf(err, esz, "invalid leading zero in %s", SV_POS[k]);
        return 1;
      }
      if (val > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10) {
        snprintf(err, esz, "value of %s exceeds u64::MAX", SV_POS[k]);
        return 1;
      }
      val = val * 10 + (uint64_t)(s[i++] - '0');
    }
    if (i == d0) {
      uint32_t cp;
      if (i >= n) {
        snprintf(err, esz, "unexpected end of input while parsing %s",
                 SV_POS[k]);
        return 1;
      }
      utf8_dec(s + i, n - i, &cp);
      char_debug(q, sizeof q, cp);
      snprintf(err, esz, "unexpected character %s while parsing %s", q,
               SV_POS[k]);
      return 1;
    }
    v->num[k] = val;
    if (k < 2) {
      if (i < n && s[i] == '.') {
        i++;
        continue;
      }
      if (i >= n) {
        snprintf(err, esz, "unexpected end of input while parsing %s",
                 SV_POS[k]);
        return 1;
      }
      {
        uint32_t cp;
        utf8_dec(s + i, n - i, &cp);
        char_debug(q, sizeof q, cp);
      }
      snprintf(err, esz, "unexpected character %s after %s", q, SV_POS[k]);
      return 1;
    }
  }
  k = 2;
  if (i < n && s[i] == '-') {
    k = 3, i++;
    if (sv_ident(s + i, n - i, 3, &l, err, esz))
      return 1;
    if (!l) {
      snprintf(err, esz, "empty identifier segment in %s", SV_POS[3]);
      return 1;
    }
    v->pre = s + i, v->pre_len = l, i += l;
  }
  if (i < n && s[i] == '+') {
    k = 4, i++;
    if (sv_ident(s + i, n - i, 4, &l, err, esz))
      return 1;
    if (!l) {
      snprintf(err, esz, "empty identifier segment in %s", SV_POS[4]);
      return 1;
    }
    v->build = s + i, v->build_len = l, i += l;
  }
  if (i < n) {
    uint32_t cp;
    utf8_dec(s + i, n - i, &cp);
    char_debug(q, sizeof q, cp);
    snprintf(err, esz, "unexpected character %s after %s", q, SV_POS[k]);
    return 1;
  }
  return 0;
}

static int all_digits(const char *s, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9')
      return 0;
  return 1;
}

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn) {
  int c = memcmp(a, b, an < bn ? an : bn);
  return c ? (c < 0 ? -1 : 1) : an < bn ? -1 : an > bn;
}

/* Identifier-list ordering of Prerelease (build = 0) / BuildMetadata. */
static int sv_cmp_ids(const char *a, size_t an, const char *b, size_t bn,
                      int build) {
  size_t i = 0, j = 0;
  while (i <= an) {
    size_t ie = i, je = j;
    int c, da, db;
    if (j > bn)
      return 1;
    while (ie < an && a[ie] != '.')
      ie++;
    while (je < bn && b[je] != '.')
      je++;
    da = all_digits(a + i, ie - i), db = all_digits(b + j, je - j);
    if (da && db) {
      const char *x = a + i, *y = b + j;
      size_t xn = ie - i, yn = je - j;
      if (build) {
        while (xn && *x == '0')
          x++, xn--;
        while (yn && *y == '0')
          y++, yn--;
      }
      c = xn != yn ? (xn < yn ? -1 : 1) : cmp_bytes(x, xn, y, yn);
      if (!c && build)
        c = (ie - i) < (je - j) ? -1 : (ie - i) > (je - j);
    } else if (da != db) {
      return da ? -1 : 1;
    } else {
      c = cmp_bytes(a + i, ie - i, b + j, je - j);
    }
    if (c)
      return c;
    i = ie + 1, j = je + 1;
  }
  return j <= bn ? -1 : 0;
}

static int sv_cmp(const sv_ver *a, const sv_ver *b) {
  int k, c;
  for (k = 0; k < 3; k++)
    if (a->num[k] != b->num[k])
      return a->num[k] < b->num[k] ? -1 : 1;
  if (!a->pre_len || !b->pre_len) {
    if (a->pre_len != b->pre_len)
      return a->pre_len ? -1 : 1;
  } else if ((c = sv_cmp_ids(a->pre, a->pre_len, b->pre, b->pre_len, 0))) {
    return c;
  }
  if (!a->build_len || !b->build_len)
    return a->build_len == b->build_len ? 0 : a->build_len ? 1 : -1;
  return sv_cmp_ids(a->build, a->build_len, b->build, b->build_len, 1);
}

int gavel__bi_semver_compare(gv_rt *rt, gvalue *out, const gvalue *args,
                             int nargs) {
  const gv_str *a, *b;
  sv_ver va, vb;
  char err[160], m[GAVEL_ERRMSG_SIZE / 2];
  (void)nargs;
  if (arg_str(rt, args[0], &a) || arg_str(rt, args[1], &b) ||
      charge(rt, a->len + b->len))
    return 1;
  if (sv_parse(a, &va, err, sizeof err))
    return eval_err(rt, "semver_compare: invalid version '%s': %s",
                    MSG_STR(m, a), err);
  if (sv_parse(b, &vb, err, sizeof err))
    return eval_err(rt, "semver_compare: invalid version '%s': %s",
                    MSG_STR(m, b), err);
  *out = gv_int(sv_cmp(&va, &vb));
  return 0;
}

int gavel__bi_semver_is_valid(gv_rt *rt, gvalue *out, const gvalue *args,
                              int nargs) {
  const gv_str *s;
  sv_ver v;
  char err[160];
  (void)nargs;
  if (arg_str(rt, args[0], &s) || charge(rt, s->len))
    return 1;
  *out = gv_bool(!sv_parse(s, &v, err, sizeof err));
  return 0;
}
