/*
** parse.c -- stage 2a of 5: expression text -> AST (recursive descent).
**
** Input: expression source; tokens come from lex.c.  Output: a gx_node tree
** allocated in the caller's arena.  Implements Ordo's grammar
** (docs/ordo-reference.md section b) with gavel's deliberate differences:
** keywords must be whole words ('_' counts as a word char), and paths take
** [n] indexes and '*' wildcard segments (see lex.c).
** This file never evaluates anything and never touches bytecode or JSON.
**
** Grammar, lowest to highest binding:
**   expr  := or
**   or    := and ( ("||" | "or") and )*
**   and   := cmp ( ("&&" | "and") cmp )*
**   cmp   := inop ( ("=="|"!="|"<"|"<="|">"|">=") inop )*   one level
**   inop  := add [ ("in" | "not" "in" | "contains") add ]    no chaining
**   add   := mul ( ("+"|"-") mul )*
**   mul   := unary ( ("*"|"/"|"%") unary )*
**   unary := ("!" | "not" | "-") unary | primary
**   primary := "(" expr ")" | array | object | string | number
**            | true | false | null | exists(path) | coalesce(expr, ...)
**            | if expr then expr else expr | ident "(" args ")" | path
**
** Keywords are matched against identifier tokens: a keyword matches when
** the identifier is the keyword itself or the keyword followed by '.'
** (then the token is split, so "not.x" is not(.x) as in Ordo).  As in Ordo,
** "&&" and "||" are not operators when a letter or digit follows directly
** ("a&&b" is a parse error there, and here, with a clear message).
**
** Depth, as Ordo counts it: every sub-expression (the whole input, each
** parenthesised expression, array element, object value, call or coalesce
** argument, and each part of an if) and each unary operator adds one; more
** than GAVEL_MAX_EXPR_DEPTH is GAVEL_LIMIT.  That bounds all recursion.
**
** Node positions: the position of the node's first token, except binary
** nodes, which record their operator's position (the useful place for a
** run-time error such as a division by zero).  A parenthesised expression
** has no node of its own.
*/
#include "expr.h"
#include <stdio.h>

typedef struct parser {
  gx_lexer lx;      /* token source                                  */
  gv_arena *a;      /* AST arena                                     */
  gavel_error *err; /* where errors go                               */
  gx_token tok;     /* lookahead token                               */
  gx_token prev;    /* last token consumed (for messages)            */
  int has_prev;     /* 0 until a token has been consumed             */
  int depth;        /* current nesting depth (Ordo's count)          */
} parser;

static gavel_status parse_expr(parser *p, gx_node **out);
static gavel_status parse_unary(parser *p, gx_node **out);
static gavel_status parse_primary(parser *p, gx_node **out);

/* ==== Paths ==== */

/* End of the key part of piece [b, e): trailing "[digits]" groups are
** indexes.  '*n_idx' gets the number of groups. */
static size_t key_end(const char *s, size_t b, size_t e, int *n_idx) {
  *n_idx = 0;
  while (e > b && s[e - 1] == ']') {
    size_t j = e - 1;
    while (j > b && s[j - 1] >= '0' && s[j - 1] <= '9')
      j--;
    if (j == e - 1 || j == b || s[j - 1] != '[')
      break;
    e = j - 1;
    (*n_idx)++;
  }
  return e;
}

/* Appends the segments of piece [b, e) (or, for a variable's first piece,
** the root name) to 'path'.  '*why' gets the reason on GAVEL_COMPILE. */
static gavel_status add_piece(gv_arena *a, gx_path *path, const char *s,
                              size_t b, size_t e, int is_root,
                              const char **why) {
  int n_idx, i;
  size_t k = key_end(s, b, e, &n_idx);
  gx_seg *sg;
  if (is_root) {
    path->root = gavel__str_new(a, s + b, k - b);
    if (!path->root)
      return gavel__arena_status(a);
  } else if (k > b || n_idx == 0) {
    sg = &path->segs[path->n_segs++];
    sg->kind = (k - b == 1 && s[b] == '*') ? GX_SEG_WILD : GX_SEG_KEY;
    sg->key = gavel__str_new(a, s + b, k - b);
    sg->index = 0;
    if (!sg->key)
      return gavel__arena_status(a);
  }
  for (i = 0; i < n_idx; i++) {
    int64_t v = 0;
    for (k++; s[k] != ']'; k++) {
      int d = s[k] - '0';
      if (v > (INT64_MAX - d) / 10) {
        *why = "array index out of range";
        return GAVEL_COMPILE;
      }
      v = v * 10 + d;
    }
    k++;
    sg = &path->segs[path->n_segs++];
    sg->kind = GX_SEG_INDEX;
    sg->key = NULL;
    sg->index = v;
  }
  return GAVEL_OK;
}

/* Builds a path from text: '$' root, '.'-separated pieces, "*" pieces are
** wildcards, trailing "[n]" groups are indexes, empty pieces are kept. */
static gavel_status path_build(gv_arena *a, const char *s, size_t n,
                               gx_path **out, const char **why) {
  gavel_status rc = GAVEL_OK;
  gx_path *path = gavel__arena_alloc(a, sizeof *path);
  size_t pos, b, cap = 1;
  int first;
  if (!path)
    goto nomem;
  memset(path, 0, sizeof *path);
  path->text = gavel__str_new(a, s, n);
  if (!path->text)
    goto nomem;
  path->is_var = n > 0 && s[0] == '$';
  pos = path->is_var ? 1 : 0;
  for (b = pos; b < n; b++) /* upper bound: pieces + index groups */
    cap += s[b] == '.' || s[b] == '[';
  path->segs = gavel__arena_alloc(a, cap * sizeof(gx_seg));
  if (!path->segs)
    goto nomem;
  for (first = 1, b = pos;; first = 0) {
    size_t e = b;
    while (e < n && s[e] != '.')
      e++;
    rc = add_piece(a, path, s, b, e, first && path->is_var, why);
    if (rc != GAVEL_OK || e >= n)
      break;
    b = e + 1;
  }
  gavel_assert((size_t)path->n_segs <= cap);
  *out = path;
  return rc;
nomem:
  return gavel__arena_status(a);
}

gavel_status gavel__parse_path(gv_arena *a, const char *p, size_t n,
                               gx_path **out, gavel_error *err) {
  const char *why = "";
  gavel_status rc = path_build(a, p, n, out, &why);
  if (rc == GAVEL_COMPILE)
    gavel__errorf(err, rc, "invalid path '%.*s': %s", n > 64 ? 64 : (int)n, p,
                  why);
  else if (rc != GAVEL_OK)
    gavel__errorf(err, rc, "out of memory while parsing a path");
  return rc;
}

/* ==== Errors ==== */

static int tok_is(const parser *p, const gx_token *t, const char *w) {
  size_t n = strlen(w);
  return t->kind == GX_T_IDENT && (size_t)t->len == n &&
         memcmp(p->lx.src + t->offset, w, n) == 0;
}

static int is_keyword_tok(const parser *p, const gx_token *t) {
  static const char *const kws[] = {"or",       "and",  "not",  "in",
                                    "contains", "then", "else", NULL};
  int i;
  for (i = 0; kws[i]; i++)
    if (tok_is(p, t, kws[i]))
      return 1;
  return 0;
}

/* Token text, quoted and shortened (on a UTF-8 boundary). */
static void quote_tok(const parser *p, const gx_token *t, char *buf,
                      size_t size) {
  int n = t->len;
  const char *s = p->lx.src + t->offset;
  if (n > 40) {
    n = 40;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
      n--;
  }
  snprintf(buf, size, "'%.*s%s'", n, s, n < t->len ? "..." : "");
}

/* What was found, for "expected X, found Y" ('unexpected' 0) or for
** "unexpected Y" ('unexpected' 1: says what kind of token it is). */
static void describe(const parser *p, const gx_token *t, int unexpected,
                     char *buf, size_t size) {
  char q[64];
  quote_tok(p, t, q, sizeof q);
  if (t->kind == GX_T_EOF)
    snprintf(buf, size, "end of input");
  else if (t->kind == GX_T_STR)
    snprintf(buf, size, "string literal %s", q);
  else if (unexpected && t->kind == GX_T_IDENT && !is_keyword_tok(p, t))
    snprintf(buf, size, "identifier %s", q);
  else if (unexpected && (t->kind == GX_T_INT || t->kind == GX_T_FLOAT))
    snprintf(buf, size, "number %s", q);
  else
    snprintf(buf, size, "%s", q);
}

static gavel_status error_at(parser *p, const gx_token *t, gavel_status code,
                             const char *fmt, ...) GAVEL_PRINTF(4, 5);
static gavel_status error_at(parser *p, const gx_token *t, gavel_status code,
                             const char *fmt, ...) {
  char msg[GAVEL_ERRMSG_SIZE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return gavel__lex_error(p->err, code, t->offset, t->line, t->column, "%s",
                          msg);
}

static gavel_status nomem(parser *p) {
  gavel_status rc = gavel__arena_status(p->a);
  return gavel__errorf(p->err, rc, "%s while parsing the expression",
                       rc == GAVEL_LIMIT ? "arena limit reached"
                                         : "out of memory");
}

static int ends_operand(gx_tok k) {
  return k == GX_T_IDENT || k == GX_T_INT || k == GX_T_FLOAT || k == GX_T_STR ||
         k == GX_T_RPAREN || k == GX_T_RBRACKET || k == GX_T_RBRACE;
}

/* The lookahead is not what the grammar needs after an operand: 'expected'
** says what would have been accepted (NULL: the end of input). */
static gavel_status unexpected(parser *p, const char *expected) {
  char found[128];
  const char *hint = "";
  const gx_token *t = &p->tok;
  if (t->kind == GX_T_LBRACKET && p->has_prev && ends_operand(p->prev.kind)) {
    if (p->prev.kind == GX_T_IDENT &&
        p->prev.offset + p->prev.len == t->offset &&
        !is_keyword_tok(p, &p->prev) && !tok_is(p, &p->prev, "true") &&
        !tok_is(p, &p->prev, "false") && !tok_is(p, &p->prev, "null"))
      return error_at(p, t, GAVEL_COMPILE,
                      "invalid index: '[' after a path segment must hold a "
                      "non-negative integer, as in items[0]");
    return error_at(p, t, GAVEL_COMPILE,
                    "unexpected '[': indexing is only allowed directly "
                    "after a field path, as in items[0]");
  }
  if (tok_is(p, t, "in") || tok_is(p, t, "contains") || tok_is(p, t, "not"))
    hint = " ('in', 'not in' and 'contains' do not chain: add parentheses)";
  describe(p, t, expected == NULL, found, sizeof found);
  if (!expected)
    return error_at(p, t, GAVEL_COMPILE, "unexpected %s after expression%s",
                    found, hint);
  return error_at(p, t, GAVEL_COMPILE, "expected %s, found %s%s", expected,
                  found, hint);
}

/* No operand where one is required. */
static gavel_status no_operand(parser *p) {
  char found[128], after[64];
  describe(p, &p->tok, 0, found, sizeof found);
  if (!p->has_prev)
    return error_at(p, &p->tok, GAVEL_COMPILE, "expected expression, found %s",
                    found);
  quote_tok(p, &p->prev, after, sizeof after);
  return error_at(p, &p->tok, GAVEL_COMPILE,
                  "expected operand after %s, found %s", after, found);
}

/* Opens one nesting level, reported at the token that opened it. */
static gavel_status enter(parser *p) {
  const gx_token *at = p->has_prev ? &p->prev : &p->tok;
  if (p->depth >= GAVEL_MAX_EXPR_DEPTH)
    return error_at(p, at, GAVEL_LIMIT,
                    "expression nesting depth exceeds maximum (%d)",
                    GAVEL_MAX_EXPR_DEPTH);
  p->depth++;
  return GAVEL_OK;
}

/* ==== Tokens ==== */

static gavel_status advance(parser *p) {
  p->prev = p->tok;
  p->has_prev = 1;
  return gavel__lex_next(&p->lx, &p->tok, p->err);
}

/* 1 if the lookahead is keyword 'kw' as a whole word: the identifier is
** 'kw' itself, or 'kw' followed by '.' (not a word char). */
static int is_kw(const parser *p, const char *kw) {
  size_t n = strlen(kw);
  const gx_token *t = &p->tok;
  return t->kind == GX_T_IDENT && (size_t)t->len >= n &&
         memcmp(p->lx.src + t->offset, kw, n) == 0 &&
         ((size_t)t->len == n || p->lx.src[t->offset + n] == '.');
}

/* Consumes the keyword 'kw' (is_kw true), splitting the token if needed. */
static gavel_status take_kw(parser *p, const char *kw) {
  int n = (int)strlen(kw);
  gx_token k = p->tok;
  if (k.len > n)
    gavel__lex_seek(&p->lx, (size_t)k.offset + (size_t)n, k.line, k.column + n);
  k.len = n;
  p->tok = k;
  return advance(p);
}

/* Matches "||"/"or" or "&&"/"and"; '*hit' says whether it did. */
static gavel_status take_logic(parser *p, gx_tok sym, const char *kw,
                               int *hit) {
  *hit = 0;
  if (p->tok.kind == sym) {
    if (gavel__lex_alnum_at(&p->lx, (size_t)p->tok.offset + 2))
      return error_at(p, &p->tok, GAVEL_COMPILE,
                      "'%s' directly followed by a letter or digit is not "
                      "an operator (Ordo syntax): add a space after it",
                      sym == GX_T_OROR ? "||" : "&&");
    *hit = 1;
    return advance(p);
  }
  if (is_kw(p, kw)) {
    *hit = 1;
    return take_kw(p, kw);
  }
  return GAVEL_OK;
}

/* Consumes a closing token or reports "expected <what>, found ...". */
static gavel_status expect(parser *p, gx_tok kind, const char *what,
                           const gx_token *open) {
  char buf[96];
  if (p->tok.kind == kind)
    return advance(p);
  snprintf(buf, sizeof buf, "%s at %d:%d", what, open->line, open->column);
  return unexpected(p, buf);
}

/* ==== Nodes ==== */

static gx_node *node_new(parser *p, gx_kind k, const gx_token *at) {
  gx_node *n = gavel__arena_alloc(p->a, sizeof *n);
  if (!n)
    return NULL;
  memset(n, 0, sizeof *n);
  n->kind = k;
  n->offset = at->offset;
  n->line = at->line;
  n->column = at->column;
  n->lit = gv_null();
  return n;
}

static gavel_status binary(parser *p, gx_op op, const gx_token *at, gx_node *l,
                           gx_node **io) {
  gx_node *n = node_new(p, GX_BINARY, at);
  if (!n)
    return nomem(p);
  n->op = op;
  n->a = l;
  n->b = *io;
  *io = n;
  return GAVEL_OK;
}

/* Grows an arena array of 'elem'-byte items to hold n + 1. */
static int grow(gv_arena *a, void **arr, int n, int *cap, size_t elem) {
  void *nv;
  int ncap;
  if (n < *cap)
    return 1;
  ncap = *cap ? *cap * 2 : 4;
  nv = gavel__arena_alloc(a, (size_t)ncap * elem);
  if (!nv)
    return 0;
  if (n)
    memcpy(nv, *arr, (size_t)n * elem);
  *arr = nv;
  *cap = ncap;
  return 1;
}

/* ==== Binary levels ==== */

typedef struct binop {
  gx_tok tok; /* token */
  gx_op op;   /* node operator */
} binop;

static const binop cmp_ops[] = {
    {GX_T_EQ, GX_EQ}, {GX_T_NE, GX_NE}, {GX_T_LT, GX_LT}, {GX_T_LE, GX_LE},
    {GX_T_GT, GX_GT}, {GX_T_GE, GX_GE}, {GX_T_EOF, GX_EQ}};
static const binop add_ops[] = {
    {GX_T_PLUS, GX_ADD}, {GX_T_MINUS, GX_SUB}, {GX_T_EOF, GX_ADD}};
static const binop mul_ops[] = {{GX_T_STAR, GX_MUL},
                                {GX_T_SLASH, GX_DIV},
                                {GX_T_PERCENT, GX_MOD},
                                {GX_T_EOF, GX_MUL}};

/* Left-associative level over table 'ops'; operands from 'sub'. */
static gavel_status parse_level(parser *p, const binop *ops,
                                gavel_status (*sub)(parser *, gx_node **),
                                gx_node **out) {
  gavel_status rc;
  gx_node *l, *r;
  int i;
  if ((rc = sub(p, &l)) != GAVEL_OK)
    goto done;
  for (;;) {
    gx_token at = p->tok;
    for (i = 0; ops[i].tok != GX_T_EOF && ops[i].tok != at.kind; i++)
      ;
    if (ops[i].tok == GX_T_EOF)
      break;
    if ((rc = advance(p)) != GAVEL_OK || (rc = sub(p, &r)) != GAVEL_OK ||
        (rc = binary(p, ops[i].op, &at, l, &r)) != GAVEL_OK)
      goto done;
    l = r;
  }
  *out = l;
done:
  return rc;
}

static gavel_status parse_mul(parser *p, gx_node **out) {
  return parse_level(p, mul_ops, parse_unary, out);
}

static gavel_status parse_add(parser *p, gx_node **out) {
  return parse_level(p, add_ops, parse_mul, out);
}

/* inop := add [ ("in" | "not" "in" | "contains") add ] */
static gavel_status parse_in(parser *p, gx_node **out) {
  gavel_status rc;
  gx_node *l, *r;
  gx_token at;
  gx_op op;
  if ((rc = parse_add(p, &l)) != GAVEL_OK)
    goto done;
  at = p->tok;
  if (is_kw(p, "not")) {
    if ((rc = take_kw(p, "not")) != GAVEL_OK)
      goto done;
    if (!is_kw(p, "in")) {
      char found[128];
      describe(p, &p->tok, 0, found, sizeof found);
      rc = error_at(p, &p->tok, GAVEL_COMPILE,
                    "expected 'in' after 'not', found %s", found);
      goto done;
    }
    op = GX_NOTIN;
    rc = take_kw(p, "in");
  } else if (is_kw(p, "in")) {
    op = GX_IN;
    rc = take_kw(p, "in");
  } else if (is_kw(p, "contains")) {
    op = GX_CONTAINS;
    rc = take_kw(p, "contains");
  } else {
    *out = l;
    goto done;
  }
  if (rc != GAVEL_OK || (rc = parse_add(p, &r)) != GAVEL_OK ||
      (rc = binary(p, op, &at, l, &r)) != GAVEL_OK)
    goto done;
  *out = r;
done:
  return rc;
}

static gavel_status parse_cmp(parser *p, gx_node **out) {
  return parse_level(p, cmp_ops, parse_in, out);
}

/* and/or: level 1 is "&&"/"and" over cmp, level 0 "||"/"or" over level 1. */
static gavel_status parse_logic(parser *p, int level, gx_node **out) {
  gavel_status rc;
  gx_node *l = NULL, *r = NULL;
  int hit;
  rc = level ? parse_cmp(p, &l) : parse_logic(p, 1, &l);
  while (rc == GAVEL_OK) {
    gx_token at = p->tok;
    rc = take_logic(p, level ? GX_T_ANDAND : GX_T_OROR, level ? "and" : "or",
                    &hit);
    if (rc != GAVEL_OK || !hit)
      break;
    rc = level ? parse_cmp(p, &r) : parse_logic(p, 1, &r);
    if (rc == GAVEL_OK)
      rc = binary(p, level ? GX_AND : GX_OR, &at, l, &r);
    l = r;
  }
  if (rc == GAVEL_OK)
    *out = l;
  return rc;
}

static gavel_status parse_expr(parser *p, gx_node **out) {
  gavel_status rc;
  if ((rc = enter(p)) != GAVEL_OK)
    return rc;
  rc = parse_logic(p, 0, out);
  p->depth--;
  return rc;
}

/* ==== Unary and primary ==== */

static gavel_status parse_unary(parser *p, gx_node **out) {
  gavel_status rc;
  gx_token at = p->tok;
  gx_node *n;
  gx_op op;
  if (at.kind == GX_T_BANG || at.kind == GX_T_MINUS) {
    op = at.kind == GX_T_BANG ? GX_NOT : GX_NEG;
    rc = advance(p);
  } else if (is_kw(p, "not")) {
    op = GX_NOT;
    rc = take_kw(p, "not");
  } else {
    return parse_primary(p, out);
  }
  if (rc != GAVEL_OK || (rc = enter(p)) != GAVEL_OK)
    goto done;
  rc = parse_unary(p, &n);
  p->depth--;
  if (rc != GAVEL_OK)
    goto done;
  if (!(*out = node_new(p, GX_UNARY, &at))) {
    rc = nomem(p);
    goto done;
  }
  (*out)->op = op;
  (*out)->a = n;
done:
  return rc;
}

/* Comma-separated expressions up to 'close' ("[", call and coalesce
** arguments).  'min1': at least one (no empty list).  'what' names the
** opener in messages ("'['", "'len('"). */
static gavel_status parse_list(parser *p, gx_tok close, int min1,
                               const char *what, const gx_token *open,
                               gx_node ***args, int *n_args) {
  gavel_status rc = GAVEL_OK;
  char closer[80];
  int cap = 0;
  gx_node *e;
  *args = NULL;
  *n_args = 0;
  if (!min1 && p->tok.kind == close)
    return advance(p);
  for (;;) {
    if ((rc = parse_expr(p, &e)) != GAVEL_OK)
      goto done;
    if (!grow(p->a, (void **)args, *n_args, &cap, sizeof e)) {
      rc = nomem(p);
      goto done;
    }
    (*args)[(*n_args)++] = e;
    if (p->tok.kind != GX_T_COMMA)
      break;
    if ((rc = advance(p)) != GAVEL_OK)
      goto done;
  }
  snprintf(closer, sizeof closer, "',' or '%c' to close %s",
           close == GX_T_RBRACKET ? ']' : ')', what);
  rc = expect(p, close, closer, open);
done:
  return rc;
}

/* { "k": expr, 'k2': expr } -- keys must be string literals. */
static gavel_status parse_object(parser *p, gx_node **out) {
  gavel_status rc;
  gx_token open = p->tok;
  gx_node *n = node_new(p, GX_OBJECT, &open), *e;
  int cap = 0, kcap = 0;
  if (!n)
    return nomem(p);
  if ((rc = advance(p)) != GAVEL_OK)
    goto done;
  if (p->tok.kind == GX_T_RBRACE) {
    rc = advance(p);
    goto done;
  }
  for (;;) {
    if (p->tok.kind != GX_T_STR) {
      rc = unexpected(p, "a quoted string key in the object literal");
      goto done;
    }
    if (!grow(p->a, (void **)&n->keys, n->n_args, &kcap, sizeof(gv_str *))) {
      rc = nomem(p);
      goto done;
    }
    n->keys[n->n_args] = p->tok.s;
    if ((rc = advance(p)) != GAVEL_OK)
      goto done;
    if (p->tok.kind != GX_T_COLON) {
      rc = unexpected(p, "':' after the object key");
      goto done;
    }
    if ((rc = advance(p)) != GAVEL_OK || (rc = parse_expr(p, &e)) != GAVEL_OK)
      goto done;
    if (!grow(p->a, (void **)&n->args, n->n_args, &cap, sizeof e)) {
      rc = nomem(p);
      goto done;
    }
    n->args[n->n_args++] = e;
    if (p->tok.kind != GX_T_COMMA)
      break;
    if ((rc = advance(p)) != GAVEL_OK)
      goto done;
  }
  rc = expect(p, GX_T_RBRACE, "',' or '}' to close '{'", &open);
done:
  *out = n;
  return rc;
}

/* if cond then expr else expr -- the else branch runs to the end. */
static gavel_status parse_if(parser *p, gx_node **out) {
  gavel_status rc;
  gx_token at = p->tok;
  char what[64];
  gx_node *n = node_new(p, GX_COND, &at);
  if (!n)
    return nomem(p);
  *out = n;
  if ((rc = advance(p)) != GAVEL_OK || (rc = parse_expr(p, &n->a)) != GAVEL_OK)
    goto done;
  if (!is_kw(p, "then")) {
    snprintf(what, sizeof what, "'then' after the condition of 'if' at %d:%d",
             at.line, at.column);
    rc = unexpected(p, what);
    goto done;
  }
  if ((rc = take_kw(p, "then")) != GAVEL_OK ||
      (rc = parse_expr(p, &n->b)) != GAVEL_OK)
    goto done;
  if (!is_kw(p, "else")) {
    snprintf(what, sizeof what,
             "'else' after the 'then' branch of 'if' at %d:%d", at.line,
             at.column);
    rc = unexpected(p, what);
    goto done;
  }
  if ((rc = take_kw(p, "else")) != GAVEL_OK)
    goto done;
  rc = parse_expr(p, &n->c);
done:
  return rc;
}

/* Path node from an identifier token (already validated by the lexer). */
static gavel_status path_node(parser *p, gx_kind k, const gx_token *at,
                              const gx_token *id, gx_node **out) {
  const char *why = "";
  gavel_status rc;
  gx_node *n = node_new(p, k, at);
  if (!n)
    return nomem(p);
  rc =
      path_build(p->a, p->lx.src + id->offset, (size_t)id->len, &n->path, &why);
  if (rc == GAVEL_COMPILE)
    return error_at(p, id, rc, "invalid path: %s", why);
  if (rc != GAVEL_OK)
    return nomem(p);
  *out = n;
  return GAVEL_OK;
}

/* exists(path) or exists("path") */
static gavel_status parse_exists(parser *p, gx_node **out) {
  gavel_status rc;
  gx_token at = p->tok, open;
  const char *why = "";
  if ((rc = advance(p)) != GAVEL_OK)
    goto done;
  if (p->tok.kind != GX_T_LPAREN) {
    rc = unexpected(p, "'(' after 'exists'");
    goto done;
  }
  open = p->tok;
  if ((rc = advance(p)) != GAVEL_OK)
    goto done;
  if (p->tok.kind == GX_T_IDENT) {
    rc = path_node(p, GX_EXISTS, &at, &p->tok, out);
  } else if (p->tok.kind == GX_T_STR) {
    if (!(*out = node_new(p, GX_EXISTS, &at))) {
      rc = nomem(p);
      goto done;
    }
    rc = path_build(p->a, p->tok.s->s, p->tok.s->len, &(*out)->path, &why);
    if (rc == GAVEL_COMPILE)
      rc = error_at(p, &p->tok, rc, "invalid path in exists(): %s", why);
    else if (rc != GAVEL_OK)
      rc = nomem(p);
  } else {
    rc = unexpected(p, "a field path or a string inside 'exists(...)'");
  }
  if (rc != GAVEL_OK || (rc = advance(p)) != GAVEL_OK)
    goto done;
  rc = expect(p, GX_T_RPAREN, "')' to close 'exists('", &open);
done:
  return rc;
}

/* coalesce(expr, ...) or name(args) */
static gavel_status parse_call(parser *p, gx_kind k, const gx_token *id,
                               gx_node **out) {
  gavel_status rc;
  gx_token open = p->tok;
  char what[80];
  gx_node *n;
  const char *name = p->lx.src + id->offset;
  if (k == GX_CALL && (memchr(name, '[', (size_t)id->len) ||
                       memchr(name, '*', (size_t)id->len)))
    return error_at(p, id, GAVEL_COMPILE,
                    "'%.*s' cannot be called: '[n]' and '*' are only "
                    "allowed in field paths",
                    id->len > 40 ? 40 : id->len, name);
  if (!(n = node_new(p, k, id)))
    return nomem(p);
  if (k == GX_CALL && !(n->name = gavel__str_new(p->a, name, (size_t)id->len)))
    return nomem(p);
  *out = n;
  if ((rc = advance(p)) != GAVEL_OK)
    return rc;
  snprintf(what, sizeof what, "'%.*s('", id->len > 40 ? 40 : id->len, name);
  return parse_list(p, GX_T_RPAREN, k == GX_COALESCE, what, &open, &n->args,
                    &n->n_args);
}

/* Identifier at operand position: literal word, if, exists, coalesce,
** call or path. */
static gavel_status parse_ident(parser *p, gx_node **out) {
  gavel_status rc;
  gx_token id = p->tok;
  gx_node *n;
  if (tok_is(p, &id, "true") || tok_is(p, &id, "false") ||
      tok_is(p, &id, "null")) {
    if (!(n = node_new(p, GX_LIT, &id)))
      return nomem(p);
    n->lit =
        tok_is(p, &id, "null") ? gv_null() : gv_bool(tok_is(p, &id, "true"));
    *out = n;
    return advance(p);
  }
  if (tok_is(p, &id, "if"))
    return parse_if(p, out);
  if (tok_is(p, &id, "exists"))
    return parse_exists(p, out);
  if (tok_is(p, &id, "coalesce")) {
    if ((rc = advance(p)) != GAVEL_OK)
      return rc;
    if (p->tok.kind != GX_T_LPAREN)
      return unexpected(p, "'(' after 'coalesce'");
    return parse_call(p, GX_COALESCE, &id, out);
  }
  if ((rc = advance(p)) != GAVEL_OK)
    return rc;
  if (p->tok.kind == GX_T_LPAREN)
    return parse_call(p, GX_CALL, &id, out);
  return path_node(p, GX_PATH, &id, &id, out);
}

static gavel_status parse_primary(parser *p, gx_node **out) {
  gavel_status rc;
  gx_token at = p->tok;
  gx_node *n;
  switch (at.kind) {
  case GX_T_LPAREN:
    if ((rc = advance(p)) != GAVEL_OK || (rc = parse_expr(p, out)) != GAVEL_OK)
      return rc;
    return expect(p, GX_T_RPAREN, "')' to close '('", &at);
  case GX_T_LBRACKET:
    if (!(n = node_new(p, GX_ARRAY, &at)))
      return nomem(p);
    *out = n;
    if ((rc = advance(p)) != GAVEL_OK)
      return rc;
    return parse_list(p, GX_T_RBRACKET, 0, "'['", &at, &n->args, &n->n_args);
  case GX_T_LBRACE:
    return parse_object(p, out);
  case GX_T_IDENT:
    return parse_ident(p, out);
  case GX_T_INT:
  case GX_T_FLOAT:
  case GX_T_STR:
    if (!(n = node_new(p, GX_LIT, &at)))
      return nomem(p);
    n->lit = at.kind == GX_T_INT     ? gv_int(at.i)
             : at.kind == GX_T_FLOAT ? gv_float(at.f)
                                     : gv_strv(at.s);
    *out = n;
    return advance(p);
  default:
    return no_operand(p);
  }
}

/* ==== Entry point ==== */

gavel_status gavel__parse_expr(gv_arena *a, const char *src, size_t len,
                               gx_node **out, gavel_error *err) {
  gavel_status rc;
  parser p;
  gx_node *root = NULL;
  *out = NULL;
  if (len > GAVEL_MAX_EXPR_LEN) {
    rc = gavel__lex_error(err, GAVEL_LIMIT, 0, 1, 1,
                          "expression too long: %zu bytes (max %d)", len,
                          GAVEL_MAX_EXPR_LEN);
    goto done;
  }
  memset(&p, 0, sizeof p);
  p.a = a;
  p.err = err;
  if ((rc = gavel__lex_init(&p.lx, a, src ? src : "", len, err)) != GAVEL_OK ||
      (rc = gavel__lex_next(&p.lx, &p.tok, err)) != GAVEL_OK ||
      (rc = parse_expr(&p, &root)) != GAVEL_OK)
    goto done;
  if (p.tok.kind != GX_T_EOF) {
    rc = unexpected(&p, NULL);
    goto done;
  }
  *out = root;
done:
  return rc;
}
