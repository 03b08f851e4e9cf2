/*
** lex.c -- stage 2a of 5: expression text -> tokens (for parse.c).
**
** Input: expression source (UTF-8, at most GAVEL_MAX_EXPR_LEN bytes, checked
** by parse.c).  Output: one token at a time; string literals are decoded
** into the arena.  Tracks line and column (columns count UTF-8 chars).
** This file builds no AST and never touches JSON documents or bytecode.
**
** Identifier tokens are whole path spans, as Ordo reads them
** ([alpha _ $][alnum _ .]*), plus gavel's path extensions:
**  - '[' digits ']' directly after a segment (after a letter, digit, '_',
**    ']' or a wildcard; not after '.' or '$', and not after a first word
**    that is a keyword or reserved word such as "in" or "if", so that
**    "x in[1]" and "if[...]" keep Ordo's reading).  Anything else after
**    '[' (spaces, a sign, letters, no ']') ends the identifier there and
**    parse.c reports the '['.  After ']' only '.' or '[' continue a path.
**  - '*' directly after a '.' is a wildcard segment unless the next char
**    could start an operand (a letter, digit, '_', '$', '(', '-', a quote
**    or '{'): "a.*.b", "a.*", "a.*[0]", "a.* == x" are wildcards, while
**    "a.*2", "a.*b", "a.*(b)", "a.*-1" stay Ordo's "a." times an operand.
** Keywords are not tokens of their own: parse.c matches them against
** identifier tokens (see is_kw and take_kw there).
*/
#include "expr.h"
#include "json.h"
#include <stdio.h>

/* ==== Characters ==== */

/* Decodes one UTF-8 char at 'p' (n > 0 bytes left).  Returns its length,
** or 0 when the bytes are not valid UTF-8 (overlong, surrogate, > U+10FFFF,
** truncated). */
static int utf8_decode(const unsigned char *p, size_t n, uint32_t *cp) {
  uint32_t c = p[0];
  int k, i;
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  if (c >= 0xC2 && c <= 0xDF)
    k = 2, c &= 0x1F;
  else if (c >= 0xE0 && c <= 0xEF)
    k = 3, c &= 0x0F;
  else if (c >= 0xF0 && c <= 0xF4)
    k = 4, c &= 0x07;
  else
    return 0;
  if (n < (size_t)k)
    return 0;
  for (i = 1; i < k; i++) {
    if ((p[i] & 0xC0) != 0x80)
      return 0;
    c = (c << 6) | (p[i] & 0x3F);
  }
  if ((k == 3 && (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF))) ||
      (k == 4 && (c < 0x10000 || c > 0x10FFFF)))
    return 0;
  *cp = c;
  return k;
}

/* Unicode White_Space (Rust's char::is_whitespace). */
static int is_ws_cp(uint32_t c) {
  if (c < 0x80)
    return c == ' ' || (c >= 0x09 && c <= 0x0D);
  return c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }

static int is_ascii_alpha(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Code point at 'pos' (0 at the end); '*n' gets its byte length. */
static uint32_t cp_at(const gx_lexer *lx, size_t pos, int *n) {
  uint32_t cp = 0;
  *n = 0;
  if (pos >= lx->len)
    return 0;
  *n = utf8_decode((const unsigned char *)lx->src + pos, lx->len - pos, &cp);
  if (GAVEL_NEVER(*n == 0)) { /* the source was validated at init */
    *n = 1;
    return 0xFFFD;
  }
  return cp;
}

int gavel__lex_alnum_at(const gx_lexer *lx, size_t pos) {
  int n;
  uint32_t c = cp_at(lx, pos, &n);
  if (n == 0)
    return 0;
  if (c < 0x80)
    return is_ascii_alpha((int)c) || is_digit((int)c);
  return !is_ws_cp(c);
}

/* A char that continues a word: alnum or '_'. */
static int word_at(const gx_lexer *lx, size_t pos) {
  return (pos < lx->len && lx->src[pos] == '_') || gavel__lex_alnum_at(lx, pos);
}

/* ==== Position tracking ==== */

/* Advances over 'n' bytes, keeping line and column. */
static void skip(gx_lexer *lx, size_t n) {
  while (n-- > 0 && lx->pos < lx->len) {
    unsigned char c = (unsigned char)lx->src[lx->pos++];
    if (c == '\n') {
      lx->line++;
      lx->column = 1;
    } else if ((c & 0xC0) != 0x80) {
      lx->column++;
    }
  }
}

void gavel__lex_seek(gx_lexer *lx, size_t pos, int line, int column) {
  lx->pos = pos;
  lx->line = line;
  lx->column = column;
}

gavel_status gavel__lex_error(gavel_error *err, gavel_status code, int offset,
                              int line, int column, const char *fmt, ...) {
  char msg[GAVEL_ERRMSG_SIZE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (!err)
    return code;
  gavel__errorf(err, code, "%d:%d: %s", line, column, msg);
  err->line = line;
  err->column = column;
  err->offset = offset;
  return code;
}

gavel_status gavel__lex_init(gx_lexer *lx, gv_arena *a, const char *src,
                             size_t len, gavel_error *err) {
  size_t i = 0;
  lx->arena = a;
  lx->src = src;
  lx->len = len;
  gavel__lex_seek(lx, 0, 1, 1);
  while (i < len) {
    uint32_t cp;
    int n = utf8_decode((const unsigned char *)src + i, len - i, &cp);
    if (n == 0) {
      skip(lx, i);
      return gavel__lex_error(err, GAVEL_COMPILE, (int)i, lx->line, lx->column,
                              "invalid UTF-8 byte 0x%02X",
                              (unsigned)(unsigned char)src[i]);
    }
    i += (size_t)n;
  }
  return GAVEL_OK;
}

/* ==== Literals ==== */

static gavel_status lex_number(gx_lexer *lx, gx_token *t, gavel_error *err) {
  size_t p = lx->pos, start = p;
  int is_float = 0;
  while (p < lx->len && is_digit(lx->src[p]))
    p++;
  if (p + 1 < lx->len && lx->src[p] == '.' && is_digit(lx->src[p + 1])) {
    is_float = 1;
    p++;
    while (p < lx->len && is_digit(lx->src[p]))
      p++;
  }
  t->len = (int)(p - start);
  skip(lx, p - start);
  if (is_float) {
    t->kind = GX_T_FLOAT;
    /* 1 = beyond the double range: inf, as Rust's f64::from_str */
    if (gavel__parse_double(lx->src + start, p - start, &t->f) < 0)
      return gavel__lex_error(err, GAVEL_COMPILE, t->offset, t->line, t->column,
                              "invalid number '%.*s'", t->len, lx->src + start);
    return GAVEL_OK;
  }
  t->kind = GX_T_INT;
  t->i = 0;
  for (; start < p; start++) {
    int d = lx->src[start] - '0';
    if (t->i > (INT64_MAX - d) / 10)
      return gavel__lex_error(err, GAVEL_COMPILE, t->offset, t->line, t->column,
                              "integer literal out of range: %.*s%s",
                              t->len > 40 ? 40 : t->len, lx->src + t->offset,
                              t->len > 40 ? "..." : "");
    t->i = t->i * 10 + d;
  }
  return GAVEL_OK;
}

/* Length of the escaped char after a backslash at 'p' (a whole UTF-8
** char), 0 at the end of input. */
static size_t esc_len(const gx_lexer *lx, size_t p) {
  int n;
  cp_at(lx, p, &n);
  return (size_t)n;
}

static char esc_char(char c) {
  switch (c) {
  case 'n':
    return '\n';
  case 't':
    return '\t';
  case 'r':
    return '\r';
  default:
    return c; /* \\ \" \' and any other \x: the char itself */
  }
}

/* Strings: "..." or '...'; \n \t \r; any other \x yields x. */
static gavel_status lex_string(gx_lexer *lx, gx_token *t, gavel_error *err) {
  char q = lx->src[lx->pos];
  size_t p = lx->pos + 1, out_len = 0, end, k;
  char *w;
  while (p < lx->len && lx->src[p] != q) {
    if (lx->src[p] == '\\') {
      size_t n = esc_len(lx, p + 1);
      if (n == 0) {
        p = lx->len; /* backslash at the very end */
        break;
      }
      p += 1 + n;
      out_len += n;
    } else {
      p++;
      out_len++;
    }
  }
  if (p >= lx->len)
    return gavel__lex_error(err, GAVEL_COMPILE, t->offset, t->line, t->column,
                            "unterminated string literal");
  end = p;
  t->kind = GX_T_STR;
  t->s = gavel__str_new(lx->arena, NULL, out_len);
  if (!t->s)
    return gavel__errorf(err, gavel__arena_status(lx->arena),
                         "out of memory while parsing the expression");
  w = t->s->s;
  for (p = lx->pos + 1; p < end;) {
    if (lx->src[p] == '\\') {
      size_t n = esc_len(lx, p + 1);
      if (n == 1)
        *w++ = esc_char(lx->src[p + 1]);
      else
        for (k = 0; k < n; k++)
          *w++ = lx->src[p + 1 + k];
      p += 1 + n;
    } else {
      *w++ = lx->src[p++];
    }
  }
  t->len = (int)(end + 1 - lx->pos);
  skip(lx, end + 1 - lx->pos);
  return GAVEL_OK;
}

/* ==== Identifiers and paths ==== */

/* Words after which '[' is not an index (see the file header). */
static int is_reserved(const char *p, size_t n) {
  static const char *const words[] = {
      "true", "false", "null",     "if",   "exists", "coalesce", "or",
      "and",  "not",   "contains", "then", "else",   "in",       NULL};
  int i;
  for (i = 0; words[i]; i++)
    if (strlen(words[i]) == n && memcmp(words[i], p, n) == 0)
      return 1;
  return 0;
}

/* 1 if the '*' at 'pos' (right after a '.') is a wildcard segment. */
static int wildcard_at(const gx_lexer *lx, size_t pos) {
  char c;
  if (pos + 1 >= lx->len)
    return 1;
  c = lx->src[pos + 1];
  if (word_at(lx, pos + 1))
    return 0;
  return !(c == '$' || c == '(' || c == '-' || c == '"' || c == '\'' ||
           c == '{');
}

/* Length of "[digits]" at 'pos' (0 if not there); '*ovf' set when the
** index does not fit an int64. */
static size_t index_len(const gx_lexer *lx, size_t pos, int *ovf) {
  size_t p = pos + 1;
  int64_t v = 0;
  *ovf = 0;
  if (pos >= lx->len || lx->src[pos] != '[')
    return 0;
  while (p < lx->len && is_digit(lx->src[p])) {
    int d = lx->src[p] - '0';
    if (v > (INT64_MAX - d) / 10)
      *ovf = 1;
    else
      v = v * 10 + d;
    p++;
  }
  if (p == pos + 1 || p >= lx->len || lx->src[p] != ']')
    return 0;
  return p + 1 - pos;
}

static gavel_status lex_ident(gx_lexer *lx, gx_token *t, gavel_error *err) {
  size_t start = lx->pos, p = start;
  int n, dotted = 0, can_index = 0;
  if (lx->src[p] == '$') {
    p++;
  } else {
    cp_at(lx, p, &n);
    p += (size_t)n;
    can_index = 1;
  }
  for (;;) {
    if (word_at(lx, p) && lx->src[p - 1] != ']') {
      cp_at(lx, p, &n);
      p += (size_t)n;
      can_index = 1;
    } else if (p < lx->len && lx->src[p] == '.') {
      p++;
      dotted = 1;
      can_index = 0;
      if (p < lx->len && lx->src[p] == '*' && wildcard_at(lx, p)) {
        p++;
        can_index = 1;
      }
    } else if (can_index && p < lx->len && lx->src[p] == '[' &&
               (dotted || lx->src[start] == '$' ||
                !is_reserved(lx->src + start, p - start))) {
      int ovf;
      size_t k = index_len(lx, p, &ovf);
      if (k == 0)
        break;
      if (ovf) {
        skip(lx, p - start);
        return gavel__lex_error(err, GAVEL_COMPILE, (int)p, lx->line,
                                lx->column, "array index out of range: %.*s",
                                (int)(k > 40 ? 40 : k), lx->src + p);
      }
      p += k;
    } else {
      break;
    }
  }
  t->kind = GX_T_IDENT;
  t->len = (int)(p - start);
  skip(lx, p - start);
  return GAVEL_OK;
}

/* ==== Tokens ==== */

static void skip_ws(gx_lexer *lx) {
  int n;
  while (lx->pos < lx->len) {
    uint32_t c = cp_at(lx, lx->pos, &n);
    if (!is_ws_cp(c))
      break;
    skip(lx, (size_t)n);
  }
}

/* Two-char operators and single-char punctuation. */
static int punct(const char *s, size_t left, gx_tok *k) {
  char c = s[0], d = left > 1 ? s[1] : 0;
  static const char singles[] = "()[]{},:+-*/%";
  static const gx_tok kinds[] = {
      GX_T_LPAREN, GX_T_RPAREN, GX_T_LBRACKET, GX_T_RBRACKET, GX_T_LBRACE,
      GX_T_RBRACE, GX_T_COMMA,  GX_T_COLON,    GX_T_PLUS,     GX_T_MINUS,
      GX_T_STAR,   GX_T_SLASH,  GX_T_PERCENT};
  const char *hit = c ? strchr(singles, c) : NULL;
  if (hit) {
    *k = kinds[hit - singles];
    return 1;
  }
  if (c == '=' && d == '=')
    return *k = GX_T_EQ, 2;
  if (c == '!')
    return d == '=' ? (*k = GX_T_NE, 2) : (*k = GX_T_BANG, 1);
  if (c == '<')
    return d == '=' ? (*k = GX_T_LE, 2) : (*k = GX_T_LT, 1);
  if (c == '>')
    return d == '=' ? (*k = GX_T_GE, 2) : (*k = GX_T_GT, 1);
  if (c == '&' && d == '&')
    return *k = GX_T_ANDAND, 2;
  if (c == '|' && d == '|')
    return *k = GX_T_OROR, 2;
  return 0;
}

/* Unicode decimal digits (General_Category Nd, Unicode 16) beyond ASCII.
** None is alphabetic, so none may start an identifier (Rust's
** char::is_alphabetic, as Ordo's lexer checks); inside one they are
** alphanumeric and allowed. */
static int is_nd_cp(uint32_t c) {
  static const uint32_t nd[][2] = {
    {0x660, 0x669}, {0x6F0, 0x6F9}, {0x7C0, 0x7C9}, {0x966, 0x96F},
    {0x9E6, 0x9EF}, {0xA66, 0xA6F}, {0xAE6, 0xAEF}, {0xB66, 0xB6F},
    {0xBE6, 0xBEF}, {0xC66, 0xC6F}, {0xCE6, 0xCEF}, {0xD66, 0xD6F},
    {0xDE6, 0xDEF}, {0xE50, 0xE59}, {0xED0, 0xED9}, {0xF20, 0xF29},
    {0x1040, 0x1049}, {0x1090, 0x1099}, {0x17E0, 0x17E9}, {0x1810, 0x1819},
    {0x1946, 0x194F}, {0x19D0, 0x19D9}, {0x1A80, 0x1A89}, {0x1A90, 0x1A99},
    {0x1B50, 0x1B59}, {0x1BB0, 0x1BB9}, {0x1C40, 0x1C49}, {0x1C50, 0x1C59},
    {0xA620, 0xA629}, {0xA8D0, 0xA8D9}, {0xA900, 0xA909}, {0xA9D0, 0xA9D9},
    {0xA9F0, 0xA9F9}, {0xAA50, 0xAA59}, {0xABF0, 0xABF9}, {0xFF10, 0xFF19},
    {0x104A0, 0x104A9}, {0x10D30, 0x10D39}, {0x10D40, 0x10D49},
    {0x11066, 0x1106F}, {0x110F0, 0x110F9}, {0x11136, 0x1113F},
    {0x111D0, 0x111D9}, {0x112F0, 0x112F9}, {0x11450, 0x11459},
    {0x114D0, 0x114D9}, {0x11650, 0x11659}, {0x116C0, 0x116C9},
    {0x116D0, 0x116E3}, {0x11730, 0x11739}, {0x118E0, 0x118E9},
    {0x11950, 0x11959}, {0x11BF0, 0x11BF9}, {0x11C50, 0x11C59},
    {0x11D50, 0x11D59}, {0x11DA0, 0x11DA9}, {0x11F50, 0x11F59},
    {0x16130, 0x16139}, {0x16A60, 0x16A69}, {0x16AC0, 0x16AC9},
    {0x16B50, 0x16B59}, {0x16D70, 0x16D79}, {0x1CCF0, 0x1CCF9},
    {0x1D7CE, 0x1D7FF}, {0x1E140, 0x1E149}, {0x1E2F0, 0x1E2F9},
    {0x1E4F0, 0x1E4F9}, {0x1E5F1, 0x1E5FA}, {0x1E950, 0x1E959},
    {0x1FBF0, 0x1FBF9},
  };
  size_t lo = 0, hi = sizeof nd / sizeof nd[0];
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (c < nd[mid][0])
      hi = mid;
    else if (c > nd[mid][1])
      lo = mid + 1;
    else
      return 1;
  }
  return 0;
}

static gavel_status bad_char(gx_lexer *lx, gx_token *t, gavel_error *err) {
  char shown[16];
  const char *hint = "";
  int n;
  uint32_t c = cp_at(lx, lx->pos, &n);
  if (c >= 0x20 && c < 0x7F)
    snprintf(shown, sizeof shown, "'%c'", (char)c);
  else
    snprintf(shown, sizeof shown, "U+%04X", (unsigned)c);
  if (c == '=')
    hint = " (use '==' to compare)";
  else if (c == '&')
    hint = " (use '&&' or 'and')";
  else if (c == '|')
    hint = " (use '||' or 'or')";
  return gavel__lex_error(err, GAVEL_COMPILE, t->offset, t->line, t->column,
                          "unexpected character %s%s", shown, hint);
}

gavel_status gavel__lex_next(gx_lexer *lx, gx_token *t, gavel_error *err) {
  unsigned char c;
  int n;
  skip_ws(lx);
  memset(t, 0, sizeof *t);
  t->offset = (int)lx->pos;
  t->line = lx->line;
  t->column = lx->column;
  if (lx->pos >= lx->len) {
    t->kind = GX_T_EOF;
    return GAVEL_OK;
  }
  c = (unsigned char)lx->src[lx->pos];
  n = punct(lx->src + lx->pos, lx->len - lx->pos, &t->kind);
  if (n > 0) {
    t->len = n;
    skip(lx, (size_t)n);
    return GAVEL_OK;
  }
  if (c == '"' || c == '\'')
    return lex_string(lx, t, err);
  if (is_digit(c))
    return lex_number(lx, t, err);
  if (c >= 0x80 && is_nd_cp(cp_at(lx, lx->pos, &n)))
    return bad_char(lx, t, err); /* '٣': a digit, not alphabetic */
  if (c == '$' || c == '_' || is_ascii_alpha(c) || c >= 0x80)
    return lex_ident(lx, t, err); /* >= 0x80: whitespace was skipped */
  return bad_char(lx, t, err);
}
