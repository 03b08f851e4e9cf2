/*
** builtins_regex.c -- stage 3 support: Ordo's extended
** builtins, regular expressions (5).
**
** Rust regex crate syntax translated to PCRE2, with the crate's iteration
** and replacement rules, and the per-thread compiled-pattern cache.
**
** Input: borrowed argument values (arity already checked by the VM).
** Output: new values in the run's arena, or an error recorded in 'gv_rt'
** with Ordo's message text.  Shared helpers: builtins_lib.h; the table:
** builtins_ext.c.
*/
#define _GNU_SOURCE /* memrchr */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "builtins_lib.h"

#include <pcre2.h>

/* ==== Regex: Rust regex syntax on PCRE2 ==== */

#define RX_CACHE_SIZE 64
#define RX_MATCH_LIMIT 10000000u /* backtracking steps per match call */
/* PCRE2's match limit counts per start position, so a loop of match calls
** (find_all, replace, split) or one call over a long subject could run for
** hours under it.  Patterns are therefore compiled with auto-callouts: the
** callout counts the items the matcher visits across every match call of
** one builtin call (measured at 1.7-2.5x the time of a plain JIT match on
** 1 MiB of text), charges them to gas and checks the run's deadline. */
#define RX_STEP_BUDGET 10000000u /* steps per builtin call, plus...       */
#define RX_STEPS_PER_BYTE 32u    /* ... this many per subject byte        */
#define RX_STEPS_PER_GAS 64u     /* steps bought by one unit of gas       */
#define RX_CHECK_EVERY 1024u     /* steps between gas and deadline checks */
#define RX_NEST_MAX 250          /* Rust's default nest limit           */

typedef struct rx_entry {
  char *pat;        /* original pattern bytes, NULL = free slot        */
  size_t pat_len;   /* its length                                        */
  pcre2_code *code; /* compiled translation                              */
  uint64_t used;    /* LRU stamp                                         */
} rx_entry;

static __thread rx_entry rx_cache[RX_CACHE_SIZE];
static __thread uint64_t rx_clock;

void gavel__regex_cache_clear(void) {
  int i;
  for (i = 0; i < RX_CACHE_SIZE; i++) {
    if (rx_cache[i].pat) {
      pcre2_code_free(rx_cache[i].code);
      gavel__free(&gavel__default_alloc, rx_cache[i].pat,
                  rx_cache[i].pat_len + 1);
    }
    memset(&rx_cache[i], 0, sizeof rx_cache[i]);
  }
}

/* Rust's \w: Alphabetic + M + Nd + Pc + Join_Control (approximated). */
#define RX_WORD "\\p{L}\\p{M}\\p{Nd}\\p{Nl}\\p{Pc}\\x{200C}\\x{200D}"

typedef struct rx_tr {
  const char *p;   /* Rust pattern                         */
  size_t n;        /* its length                           */
  size_t i;        /* read position                        */
  gv_buf *o;       /* PCRE2 pattern being written          */
  const char *err; /* Rust-style error text, NULL if none  */
  size_t sp_at;    /* the error's span in the pattern, as  */
  size_t sp_len;   /* Rust marks it (0: at t->i - 1)       */
  size_t aux_at;   /* a second span marked with it (the    */
  size_t aux_len;  /* first use of a duplicate name), or 0 */
} rx_tr;

static int rx_fail(rx_tr *t, const char *msg) {
  t->err = msg;
  return 1;
}

/* Fails with Rust's span [at, at + len) under the message. */
static int rx_fail_at(rx_tr *t, size_t at, size_t len, const char *msg) {
  t->sp_at = at;
  t->sp_len = len;
  return rx_fail(t, msg);
}

/* Length of the UTF-8 char at p[i] and its code point. */
static size_t rx_cp(const rx_tr *t, size_t i, uint32_t *cp) {
  return utf8_dec(t->p + i, t->n - i, cp);
}

static int is_hex(int c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
}

/* \x, \u, \U: copies a hex escape as \x{...}; 'want' fixed digits. */
static int rx_hex(rx_tr *t, int want) {
  size_t j = t->i;
  if (j < t->n && t->p[j] == '{') {
    size_t k = j + 1;
    while (k < t->n && is_hex((unsigned char)t->p[k]))
      k++;
    if (k == j + 1 || k >= t->n || t->p[k] != '}')
      return rx_fail(t, "invalid hexadecimal digit");
    gavel__buf_adds(t->o, "\\x{");
    gavel__buf_add(t->o, t->p + j + 1, k - j - 1);
    gavel__buf_addc(t->o, '}');
    t->i = k + 1;
    return 0;
  }
  for (int d = 0; d < want; d++)
    if (j + (size_t)d >= t->n || !is_hex((unsigned char)t->p[j + (size_t)d]))
      return rx_fail(t, "invalid hexadecimal digit");
  gavel__buf_adds(t->o, "\\x{");
  gavel__buf_add(t->o, t->p + j, (size_t)want);
  gavel__buf_addc(t->o, '}');
  t->i = j + (size_t)want;
  return 0;
}

/* One escape (the backslash already consumed). */
static int rx_escape(rx_tr *t, int in_class) {
  char c;
  if (t->i >= t->n)
    return rx_fail(t, "incomplete escape sequence, reached end of pattern "
                      "prematurely");
  c = t->p[t->i++];
  switch (c) {
  case 'd':
  case 'D':
  case 's':
  case 'S':
  case 'n':
  case 't':
  case 'r':
  case 'f':
  case 'a':
    gavel__buf_addc(t->o, '\\');
    gavel__buf_addc(t->o, c);
    return 0;
  case 'A':
  case 'z':
  case 'B':
    if (in_class)
      return rx_fail(t, "unrecognized escape sequence");
    gavel__buf_addc(t->o, '\\');
    gavel__buf_addc(t->o, c);
    return 0;
  case 'b':
    if (in_class)
      return rx_fail(t, "unrecognized escape sequence");
    if (t->i < t->n && t->p[t->i] == '{') {
      static const char *const names[4] = {"{start}", "{end}", "{start-half}",
                                           "{end-half}"};
      static const char *const subst[4] = {"\\b(?=\\w)", "\\b(?<=\\w)",
                                           "(?<!\\w)", "(?!\\w)"};
      for (int k = 0; k < 4; k++) {
        size_t l = strlen(names[k]);
        if (t->n - t->i >= l && memcmp(t->p + t->i, names[k], l) == 0) {
          gavel__buf_adds(t->o, subst[k]);
          t->i += l;
          return 0;
        }
      }
      return rx_fail(t, "unrecognized word boundary assertion");
    }
    gavel__buf_adds(t->o, "\\b");
    return 0;
  case '<':
  case '>':
    if (in_class)
      return rx_fail(t, "unrecognized escape sequence");
    gavel__buf_adds(t->o, c == '<' ? "\\b(?=\\w)" : "\\b(?<=\\w)");
    return 0;
  case 'w':
    gavel__buf_adds(t->o, in_class ? RX_WORD : "[" RX_WORD "]");
    return 0;
  case 'W':
    gavel__buf_adds(t->o, in_class ? "\\W" : "[^" RX_WORD "]");
    return 0;
  case 'v':
    gavel__buf_adds(t->o, "\\x0B");
    return 0;
  case 'x':
    return rx_hex(t, 2);
  case 'u':
    return rx_hex(t, 4);
  case 'U':
    return rx_hex(t, 8);
  case 'p':
  case 'P':
    gavel__buf_addc(t->o, '\\');
    gavel__buf_addc(t->o, c);
    if (t->i < t->n && t->p[t->i] == '{') {
      const char *e = memchr(t->p + t->i, '}', t->n - t->i);
      if (!e)
        return rx_fail(t, "unclosed Unicode class");
      gavel__buf_add(t->o, t->p + t->i, (size_t)(e - (t->p + t->i)) + 1);
      t->i = (size_t)(e - t->p) + 1;
    } else if (t->i < t->n) {
      gavel__buf_addc(t->o, t->p[t->i++]);
    } else {
      return rx_fail(t, "incomplete escape sequence, reached end of pattern "
                        "prematurely");
    }
    return 0;
  default:
    break;
  }
  if (c >= '0' && c <= '9')
    return rx_fail(t, "backreferences are not supported");
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c & 0x80))
    return rx_fail(t, "unrecognized escape sequence");
  gavel__buf_addc(t->o, '\\');
  gavel__buf_addc(t->o, c);
  return 0;
}

/* POSIX class inside a bracket, made ASCII-only as in Rust. */
static int rx_posix(rx_tr *t) {
  static const char *const map[][2] = {{"alnum", "0-9A-Za-z"},
                                       {"alpha", "A-Za-z"},
                                       {"ascii", "\\x00-\\x7F"},
                                       {"blank", "\\t "},
                                       {"cntrl", "\\x00-\\x1F\\x7F"},
                                       {"digit", "0-9"},
                                       {"graph", "!-~"},
                                       {"lower", "a-z"},
                                       {"print", " -~"},
                                       {"punct", "!-/:-@\\[-`{-~"},
                                       {"space", "\\t\\n\\x0B\\f\\r "},
                                       {"upper", "A-Z"},
                                       {"word", "0-9A-Za-z_"},
                                       {"xdigit", "0-9A-Fa-f"}};
  const char *s = t->p + t->i + 2, *e;
  size_t k;
  e = memchr(s, ':', t->n - t->i - 2);
  if (!e || (size_t)(e - t->p) + 1 >= t->n || e[1] != ']')
    return rx_fail(t, "nested character classes are not supported");
  if (*s == '^') { /* negated: PCRE2's (Unicode) meaning, a known gap */
    gavel__buf_add(t->o, t->p + t->i, (size_t)(e - (t->p + t->i)) + 2);
    t->i = (size_t)(e - t->p) + 2;
    return 0;
  }
  for (k = 0; k < sizeof map / sizeof map[0]; k++)
    if ((size_t)(e - s) == strlen(map[k][0]) && !memcmp(s, map[k][0], e - s)) {
      gavel__buf_adds(t->o, map[k][1]);
      t->i = (size_t)(e - t->p) + 2;
      return 0;
    }
  return rx_fail(t, "invalid ASCII character class");
}

/* A bracketed class; t->i is just past '['. */
static int rx_class(rx_tr *t) {
  int first = 1;
  size_t open = t->i - 1, range_end = 0; /* the '[', a range's end */
  gavel__buf_addc(t->o, '[');
  if (t->i < t->n && t->p[t->i] == '^')
    gavel__buf_addc(t->o, t->p[t->i++]);
  while (t->i < t->n) {
    char c = t->p[t->i];
    if (c == ']' && !first) {
      gavel__buf_addc(t->o, ']');
      t->i++;
      return 0;
    }
    first = 0;
    if (c == '\\') {
      t->i++;
      if (rx_escape(t, 1))
        return 1;
      continue;
    }
    if (c == '[') {
      if (t->i + 1 < t->n && t->p[t->i + 1] == ':') {
        if (rx_posix(t))
          return 1;
        continue;
      }
      return rx_fail(t, "nested character classes are not supported");
    }
    if (t->i + 1 < t->n && t->p[t->i + 1] == c &&
        (c == '&' || c == '~' || c == '-'))
      return rx_fail(t, "character class set operations are not supported");
    if (c != '-' && t->i >= range_end) { /* a range 'x-y' of plain chars:
      ** Rust checks x <= y as it reads it, before the class must close */
      uint32_t lo, hi;
      size_t ll = rx_cp(t, t->i, &lo), j = t->i + ll, hl;
      if (j + 1 < t->n && t->p[j] == '-' && !strchr("]\\[", t->p[j + 1])) {
        hl = rx_cp(t, j + 1, &hi);
        if (hi < lo)
          return rx_fail_at(t, t->i, ll + 1 + hl,
                            "invalid character class range, the start must "
                            "be <= the end");
        range_end = j + 1 + hl;
      }
    }
    gavel__buf_addc(t->o, c);
    t->i++;
  }
  return rx_fail_at(t, open, t->p[open + 1] == '^' ? 2 : 1,
                    "unclosed character class");
}

/* Group opener; t->i is just past '('. */
static int rx_group(rx_tr *t) {
  size_t j;
  if (t->i < t->n && t->p[t->i] == '*')
    return rx_fail(t, "repetition operator missing expression");
  gavel__buf_addc(t->o, '(');
  if (t->i >= t->n || t->p[t->i] != '?')
    return 0;
  j = t->i + 1;
  if (j < t->n && (t->p[j] == '=' || t->p[j] == '!' ||
                   (t->p[j] == '<' && j + 1 < t->n &&
                    (t->p[j + 1] == '=' || t->p[j + 1] == '!'))))
    return rx_fail(t, "look-around, including look-ahead and look-behind, "
                      "is not supported");
  if (j < t->n && (t->p[j] == '<' ||
                   (t->p[j] == 'P' && j + 1 < t->n && t->p[j + 1] == '<'))) {
    const char *e = memchr(t->p + j, '>', t->n - j);
    size_t ns = j + (t->p[j] == 'P' ? 2 : 1), nl, k;
    if (!e)
      return rx_fail(t, "unclosed capture group name");
    nl = (size_t)(e - t->p) - ns;
    for (k = 0; nl && k + nl + 1 < t->i; k++) /* an earlier "(?<same>" */
      if (t->p[k] == '<' && t->p[k + nl + 1] == '>' &&
          !memcmp(t->p + k + 1, t->p + ns, nl) && k >= 2 &&
          (t->p[k - 1] == '?' || (t->p[k - 1] == 'P' && t->p[k - 2] == '?'))) {
        t->aux_at = k + 1, t->aux_len = nl;
        return rx_fail_at(t, ns, nl, "duplicate capture group name");
      }
    gavel__buf_add(t->o, t->p + t->i, (size_t)(e - (t->p + t->i)) + 1);
    t->i = (size_t)(e - t->p) + 1;
    return 0;
  }
  gavel__buf_addc(t->o, '?');
  for (; j < t->n && t->p[j] != ')' && t->p[j] != ':'; j++) {
    char f = t->p[j];
    if (f == 'u' || f == 'R') {
      if (j > 0 && t->p[j - 1] == '-' && f == 'u')
        return rx_fail(t, "disabling Unicode mode is not supported");
      continue; /* Unicode is always on; CRLF mode is not modelled */
    }
    if (!strchr("imsUx-", f))
      return rx_fail(t, "unrecognized flag");
    gavel__buf_addc(t->o, f);
  }
  if (j >= t->n)
    return rx_fail(t, "expected flag but got end of regex");
  t->i = j;
  return 0;
}

/* Counted repetition; t->i at '{'.  Writes {m}, {m,} or {m,n}. */
static int rx_counted(rx_tr *t) {
  size_t j = t->i + 1, d0;
  unsigned long lo = 0, hi = 0;
  int has_lo = 0, has_comma = 0, has_hi = 0;
  for (d0 = j; j < t->n && t->p[j] >= '0' && t->p[j] <= '9'; j++)
    lo = lo * 10 + (unsigned long)(t->p[j] - '0'), has_lo = 1;
  if (j - d0 > 9)
    return rx_fail(t, "repetition count too large");
  if (j < t->n && t->p[j] == ',') {
    has_comma = 1;
    for (d0 = ++j; j < t->n && t->p[j] >= '0' && t->p[j] <= '9'; j++)
      hi = hi * 10 + (unsigned long)(t->p[j] - '0'), has_hi = 1;
    if (j - d0 > 9)
      return rx_fail(t, "repetition count too large");
  }
  if (j >= t->n)
    return rx_fail(t, "unclosed counted repetition");
  if (t->p[j] != '}' || (!has_lo && !has_hi))
    return rx_fail(t, "repetition quantifier expects a valid decimal");
  if (has_comma && has_hi && hi < lo)
    return rx_fail_at(t, t->i, j + 1 - t->i,
                      "invalid repetition count range, the start must be <= "
                      "the end");
  if (!has_comma)
    gavel__buf_addf(t->o, "{%lu}", lo);
  else if (!has_hi)
    gavel__buf_addf(t->o, "{%lu,}", lo);
  else
    gavel__buf_addf(t->o, "{%lu,%lu}", lo, hi);
  t->i = j + 1;
  return 0;
}

/* 1 if the output from 'at' is "(?" plus flag letters only. */
static int rx_flags_only(const gv_buf *o, size_t at) {
  size_t k;
  if (o->len < at + 2 || o->p[at + 1] != '?')
    return 0;
  for (k = at + 2; k < o->len; k++)
    if (!strchr("imsUx-", o->p[k]))
      return 0;
  return 1;
}

/* Rust regex syntax -> PCRE2 syntax.  Rejects what Rust rejects that PCRE2
** would accept (look-around, backreferences, \K and friends, verbs) and
** rewrites what differs (\v, \u, \w, \<, stacked repetition, POSIX
** classes).  On failure t->err holds the message and t->i the offset. */
static int rx_translate(rx_tr *t) {
  size_t groups[RX_NEST_MAX + 1], gin[RX_NEST_MAX + 1], atom = (size_t)-1;
  int depth = 0, quantified = 0;
  while (t->i < t->n) {
    char c = t->p[t->i];
    if (c == '*' || c == '+' || c == '?' || c == '{') {
      size_t at = t->o->len;
      if (atom == (size_t)-1)
        return rx_fail(t, "repetition operator missing expression");
      if (quantified) { /* Rust: a** is (a*)*, PCRE2 would read a*+ */
        if (!gavel__buf_reserve(t->o, 3))
          return rx_fail(t, "out of memory");
        memmove(t->o->p + atom + 3, t->o->p + atom, at - atom + 1);
        memcpy(t->o->p + atom, "(?:", 3);
        t->o->len += 3;
        gavel__buf_addc(t->o, ')');
      }
      if (c == '{') {
        if (rx_counted(t))
          return 1;
      } else {
        gavel__buf_addc(t->o, c);
        t->i++;
      }
      if (t->i < t->n && t->p[t->i] == '?')
        gavel__buf_addc(t->o, t->p[t->i++]);
      quantified = 1;
      continue;
    }
    quantified = 0;
    if (c == '|') {
      atom = (size_t)-1;
      gavel__buf_addc(t->o, c);
      t->i++;
      continue;
    }
    if (c == ')') {
      if (depth == 0)
        return rx_fail(t, "unopened group");
      atom = groups[--depth];
      gavel__buf_addc(t->o, c);
      t->i++;
      continue;
    }
    atom = t->o->len;
    t->i++;
    if (c == '\\') {
      if (rx_escape(t, 0)) {
        if (!t->sp_len && t->err &&
            !strcmp(t->err, "unrecognized escape sequence"))
          t->sp_at = t->i - 2, t->sp_len = 2; /* '\q' */
        return 1;
      }
    } else if (c == '[') {
      if (rx_class(t))
        return 1;
    } else if (c == '(') {
      if (depth >= RX_NEST_MAX)
        return rx_fail(t, "exceed the maximum number of nested parentheses");
      gin[depth] = t->i - 1;
      groups[depth++] = atom;
      if (rx_group(t))
        return 1;
      if (t->i < t->n && t->p[t->i] == ')' && rx_flags_only(t->o, atom)) {
        /* flag-only group "(?i)": not an atom, nothing to repeat */
        gavel__buf_addc(t->o, ')');
        t->i++;
        depth--;
        atom = (size_t)-1;
      }
    } else if (c == '^' || c == '$') {
      gavel__buf_addc(t->o, c);
    } else {
      gavel__buf_addc(t->o, c);
      while (t->i < t->n && ((unsigned char)t->p[t->i] & 0xC0) == 0x80)
        gavel__buf_addc(t->o, t->p[t->i++]);
    }
  }
  if (depth)
    return rx_fail_at(t, gin[depth - 1], 1, "unclosed group");
  return t->o->oom ? rx_fail(t, "out of memory") : 0;
}

/* Formats Rust's "invalid regex" error: carets under the offending span
** [off, off + len) (one at least). */
static void rx_mark(char *caret, size_t sz, const gv_str *pat, size_t off,
                    size_t len) {
  size_t col = 0, w = 0, k, end;
  for (k = 0; k < off && k < pat->len; k++)
    if (((unsigned char)pat->s[k] & 0xC0) != 0x80)
      col++;
  for (; k < off + len && k < pat->len; k++)
    if (((unsigned char)pat->s[k] & 0xC0) != 0x80)
      w++;
  if (col > sz - 2)
    col = sz - 2;
  if (w < 1)
    w = 1;
  if (w > sz - 1 - col)
    w = sz - 1 - col;
  end = strlen(caret);
  if (end < col)
    memset(caret + end, ' ', col - end);
  memset(caret + col, '^', w);
  if (col + w > end)
    caret[col + w] = 0;
}

static int rx_error2(gv_rt *rt, const gv_str *pat, size_t off, size_t len,
                     size_t aux_at, size_t aux_len, const char *msg) {
  char caret[64] = "";
  rx_mark(caret, sizeof caret, pat, off, len);
  if (aux_len) /* Rust marks both spans on the pattern's line */
    rx_mark(caret, sizeof caret, pat, aux_at, aux_len);
  return eval_err(rt,
                  "invalid regex '%s': regex parse error:\n    %s\n    "
                  "%s\nerror: %s",
                  pat->s, pat->s, caret, msg);
}

static int rx_error(gv_rt *rt, const gv_str *pat, size_t off, size_t len,
                    const char *msg) {
  return rx_error2(rt, pat, off, len, 0, 0, msg);
}

/* Compiled pattern for 'pat' from the cache (compiling on a miss), or NULL
** with the error recorded. */
static pcre2_code *rx_get(gv_rt *rt, const gv_str *pat) {
  rx_entry *slot = &rx_cache[0];
  pcre2_compile_context *cc;
  pcre2_code *code;
  gv_buf o;
  rx_tr t;
  int ec, i;
  PCRE2_SIZE eoff;
  for (i = 0; i < RX_CACHE_SIZE; i++) {
    rx_entry *e = &rx_cache[i];
    if (e->pat && e->pat_len == pat->len && !memcmp(e->pat, pat->s, pat->len)) {
      e->used = ++rx_clock;
      return e->code;
    }
    if (!e->pat || (slot->pat && e->used < slot->used))
      slot = e;
  }
  if (charge(rt, pat->len * 8))
    return NULL;
  gavel__buf_init(&o, &gavel__default_alloc);
  t = (rx_tr){pat->s, pat->len, 0, &o, NULL, 0, 0, 0, 0};
  if (rx_translate(&t)) {
    if (t.sp_len)
      rx_error2(rt, pat, t.sp_at, t.sp_len, t.aux_at, t.aux_len, t.err);
    else
      rx_error(rt, pat, t.i ? t.i - 1 : 0, 1, t.err);
    gavel__buf_free(&o);
    return NULL;
  }
  cc = pcre2_compile_context_create(NULL);
  if (!cc) {
    gavel__buf_free(&o);
    gavel__rt_error(rt, GV_E_NOMEM, "out of memory");
    return NULL;
  }
  pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
  code = pcre2_compile((PCRE2_SPTR)(o.p ? o.p : ""), o.len,
                       PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY |
                           PCRE2_AUTO_CALLOUT,
                       &ec, &eoff,
                       cc);
  pcre2_compile_context_free(cc);
  gavel__buf_free(&o);
  if (!code) {
    char msg[160];
    pcre2_get_error_message(ec, (PCRE2_UCHAR *)msg, sizeof msg);
    rx_error(rt, pat, eoff < pat->len ? eoff : pat->len, 1, msg);
    return NULL;
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* optional speed-up */
  if (slot->pat) {
    pcre2_code_free(slot->code);
    gavel__free(&gavel__default_alloc, slot->pat, slot->pat_len + 1);
  }
  slot->pat = gavel__malloc(&gavel__default_alloc, pat->len + 1);
  if (!slot->pat) {
    pcre2_code_free(code);
    memset(slot, 0, sizeof *slot);
    gavel__rt_error(rt, GV_E_NOMEM, "out of memory");
    return NULL;
  }
  memcpy(slot->pat, pat->s, pat->len + 1);
  slot->pat_len = pat->len;
  slot->code = code;
  slot->used = ++rx_clock;
  return code;
}

/* Match iterator with the regex crate's rule for empty matches: an empty
** match that ends where the previous match ended is skipped. */
typedef struct rx_it {
  const pcre2_code *code;  /* pattern                              */
  pcre2_match_data *md;    /* match data                           */
  pcre2_match_context *mc; /* match limits                         */
  const char *s;           /* subject                              */
  size_t n;                /* subject length                       */
  size_t pos;              /* next search start                    */
  size_t last_end;         /* end of previous match, or SIZE_MAX   */
  int checked;             /* subject's UTF-8 already validated    */
  gv_rt *rt;               /* gas, deadline and errors             */
  const char *fn;          /* the builtin (for messages)           */
  uint64_t steps;          /* matcher steps of this builtin call   */
  uint64_t budget;         /* most steps it may take               */
} rx_it;

/* Auto-callout: one matcher step.  A negative return aborts the match
** (pcre2_match returns it) with the error recorded in 'rt'. */
static int rx_callout(pcre2_callout_block *cb, void *ud) {
  rx_it *it = ud;
  (void)cb;
  if (GAVEL_LIKELY(++it->steps % RX_CHECK_EVERY))
    return 0;
  if (gavel__rt_charge(it->rt, RX_CHECK_EVERY / RX_STEPS_PER_GAS))
    return PCRE2_ERROR_CALLOUT;
  if (it->steps > it->budget) {
    gavel__rt_error(it->rt, GV_E_LIMIT,
                    "Limit exceeded: %s: regex budget of %llu matcher steps "
                    "(%u + %u per subject byte) used up",
                    it->fn, (unsigned long long)it->budget, RX_STEP_BUDGET,
                    RX_STEPS_PER_BYTE);
    return PCRE2_ERROR_CALLOUT;
  }
  if (it->rt->deadline_ns && now_ns() >= it->rt->deadline_ns) {
    gavel__rt_error(it->rt, GV_E_EVAL,
                    "Execution timeout: %s stopped at the run's deadline",
                    it->fn);
    return PCRE2_ERROR_CALLOUT;
  }
  return 0;
}

static int rx_open(gv_rt *rt, rx_it *it, const pcre2_code *code,
                   const gv_str *s, const char *fn) {
  memset(it, 0, sizeof *it);
  it->rt = rt;
  it->fn = fn;
  it->budget = RX_STEP_BUDGET + (uint64_t)s->len * RX_STEPS_PER_BYTE;
  it->code = code;
  it->s = s->s;
  it->n = s->len;
  it->last_end = SIZE_MAX;
  it->md = pcre2_match_data_create_from_pattern(code, NULL);
  it->mc = pcre2_match_context_create(NULL);
  if (!it->md || !it->mc)
    return gavel__rt_error(rt, GV_E_NOMEM, "out of memory");
  pcre2_set_match_limit(it->mc, RX_MATCH_LIMIT);
  pcre2_set_callout(it->mc, rx_callout, it);
  return 0;
}

static void rx_close(rx_it *it) {
  pcre2_match_data_free(it->md);
  pcre2_match_context_free(it->mc);
}

/* 1 = match (ovector in it->md), 0 = no more, -1 = error recorded. */
static int rx_next(gv_rt *rt, rx_it *it) {
  for (;;) {
    PCRE2_SIZE *ov;
    int rc;
    if (it->pos > it->n)
      return 0;
    rc = pcre2_match(it->code, (PCRE2_SPTR)it->s, it->n, it->pos,
                     it->checked ? PCRE2_NO_UTF_CHECK : 0, it->md, it->mc);
    it->checked = 1;
    if (rc == PCRE2_ERROR_NOMATCH) {
      return charge(rt, it->n - it->pos) ? -1 : 0;
    }
    if (rc == PCRE2_ERROR_CALLOUT) /* gas, budget or deadline: recorded */
      return -1;
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
        rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      gavel__rt_error(rt, GV_E_LIMIT,
                      "Limit exceeded: %s: regex match limit of %u steps "
                      "per start position exceeded",
                      it->fn, RX_MATCH_LIMIT);
      return -1;
    }
    if (rc < 0) {
      eval_err(rt, "regex: subject is not valid UTF-8");
      return -1;
    }
    ov = pcre2_get_ovector_pointer(it->md);
    if (charge(rt, ov[1] > it->pos ? ov[1] - it->pos : 0))
      return -1;
    if (ov[0] == ov[1] && ov[1] == it->last_end) {
      if (it->pos >= it->n)
        return 0;
      it->pos++;
      while (it->pos < it->n && ((unsigned char)it->s[it->pos] & 0xC0) == 0x80)
        it->pos++;
      continue;
    }
    it->last_end = ov[1];
    it->pos = ov[1];
    return 1;
  }
}

/* Common prologue: pattern, subject, compiled code, iterator. */
static int rx_begin(gv_rt *rt, const gvalue *args, rx_it *it,
                    const gv_str **sp, const char *fn) {
  const gv_str *pat, *s;
  pcre2_code *code;
  if (arg_str(rt, args[0], &pat) || arg_str(rt, args[1], &s))
    return 1;
  if (!(code = rx_get(rt, pat)))
    return 1;
  *sp = s;
  if (rx_open(rt, it, code, s, fn)) {
    rx_close(it);
    return 1;
  }
  return 0;
}

int gavel__bi_regex_match(gv_rt *rt, gvalue *out, const gvalue *args,
                          int nargs) {
  rx_it it;
  const gv_str *s;
  int r;
  (void)nargs;
  if (rx_begin(rt, args, &it, &s, "regex_match"))
    return 1;
  r = rx_next(rt, &it);
  rx_close(&it);
  if (r < 0)
    return 1;
  *out = gv_bool(r);
  return 0;
}

int gavel__bi_regex_find(gv_rt *rt, gvalue *out, const gvalue *args,
                         int nargs) {
  rx_it it;
  const gv_str *s;
  int r, rc = 0;
  (void)nargs;
  if (rx_begin(rt, args, &it, &s, "regex_find"))
    return 1;
  r = rx_next(rt, &it);
  if (r < 0)
    rc = 1;
  else if (r == 0)
    *out = gv_null();
  else {
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(it.md);
    rc = ret_str(rt, out, "regex_find", s->s + ov[0], ov[1] - ov[0]);
  }
  rx_close(&it);
  return rc;
}

/* regex_find_all (split = 0) and regex_split (split = 1). */
static int rx_collect(gv_rt *rt, gvalue *out, const gvalue *args, int split,
                      const char *fn) {
  rx_it it;
  const gv_str *s;
  gv_arr *a;
  size_t last = 0;
  int r, rc = 0;
  gv_str *piece;
  if (rx_begin(rt, args, &it, &s, fn))
    return 1;
  if (!(a = gavel__arr_new(rt->arena, 4))) {
    rx_close(&it);
    return gavel__rt_nomem(rt);
  }
  while ((r = rx_next(rt, &it)) > 0) {
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(it.md);
    size_t b = split ? last : ov[0], e = split ? ov[0] : ov[1];
    last = ov[1];
    if ((rc = limit_arr(rt, fn, (size_t)a->len + 1 + (size_t)split)))
      break;
    if (!(piece = gavel__str_new(rt->arena, s->s + b, e - b)) ||
        (rc = push(rt, a, gv_strv(piece)))) {
      rc = rc ? rc : gavel__rt_nomem(rt);
      break;
    }
  }
  if (r < 0)
    rc = 1;
  if (!rc && split) {
    if (!(piece = gavel__str_new(rt->arena, s->s + last, s->len - last)))
      rc = gavel__rt_nomem(rt);
    else
      rc = push(rt, a, gv_strv(piece));
  }
  rx_close(&it);
  if (!rc)
    *out = gv_arrv(a);
  return rc;
}

int gavel__bi_regex_find_all(gv_rt *rt, gvalue *out, const gvalue *args,
                             int nargs) {
  (void)nargs;
  return rx_collect(rt, out, args, 0, "regex_find_all");
}

int gavel__bi_regex_split(gv_rt *rt, gvalue *out, const gvalue *args,
                          int nargs) {
  (void)nargs;
  return rx_collect(rt, out, args, 1, "regex_split");
}

static int cap_letter(int c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') || c == '_';
}

/* Appends group 'name' (number or name, n bytes) of the current match. */
static void rx_append_group(gv_buf *b, rx_it *it, const char *name, size_t n) {
  PCRE2_SIZE *ov = pcre2_get_ovector_pointer(it->md);
  uint32_t count = pcre2_get_ovector_count(it->md);
  size_t k = 0, idx = 0;
  int numeric = n > 0;
  if (n && name[0] == '+')
    k = 1, numeric = n > 1;
  for (; k < n && numeric; k++) {
    if (name[k] < '0' || name[k] > '9' || idx > (SIZE_MAX - 9) / 10)
      numeric = 0;
    else
      idx = idx * 10 + (size_t)(name[k] - '0');
  }
  if (!numeric) {
    char nm[64];
    int g;
    if (n >= sizeof nm)
      return;
    memcpy(nm, name, n);
    nm[n] = 0;
    g = pcre2_substring_number_from_name(it->code, (PCRE2_SPTR)nm);
    if (g < 0)
      return;
    idx = (size_t)g;
  }
  if (idx >= count || ov[2 * idx] == PCRE2_UNSET)
    return;
  gavel__buf_add(b, it->s + ov[2 * idx], ov[2 * idx + 1] - ov[2 * idx]);
}

/* Rust's Captures::expand: $n, $name (longest [0-9A-Za-z_]+), ${name}, $$. */
static void rx_expand(gv_buf *b, rx_it *it, const gv_str *rep) {
  const char *r = rep->s, *end = rep->s + rep->len;
  while (r < end) {
    const char *d = memchr(r, '$', (size_t)(end - r)), *q;
    if (!d) {
      gavel__buf_add(b, r, (size_t)(end - r));
      return;
    }
    gavel__buf_add(b, r, (size_t)(d - r));
    r = d;
    if (end - r >= 2 && r[1] == '$') {
      gavel__buf_addc(b, '$');
      r += 2;
      continue;
    }
    if (end - r >= 2 && r[1] == '{') {
      q = memchr(r + 2, '}', (size_t)(end - r - 2));
      if (q) {
        rx_append_group(b, it, r + 2, (size_t)(q - r - 2));
        r = q + 1;
        continue;
      }
    } else {
      for (q = r + 1; q < end && cap_letter((unsigned char)*q); q++)
        ;
      if (q > r + 1) {
        rx_append_group(b, it, r + 1, (size_t)(q - r - 1));
        r = q;
        continue;
      }
    }
    gavel__buf_addc(b, '$');
    r++;
  }
}

int gavel__bi_regex_replace(gv_rt *rt, gvalue *out, const gvalue *args,
                            int nargs) {
  rx_it it;
  const gv_str *s, *rep;
  gv_buf b;
  size_t last = 0;
  int r;
  (void)nargs;
  if (arg_str(rt, args[0], &rep) || arg_str(rt, args[1], &rep) ||
      arg_str(rt, args[2], &rep))
    return 1;
  if (rx_begin(rt, args, &it, &s, "regex_replace"))
    return 1;
  buf_open(rt, &b);
  while ((r = rx_next(rt, &it)) > 0) {
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(it.md);
    gavel__buf_add(&b, s->s + last, ov[0] - last);
    rx_expand(&b, &it, rep);
    last = ov[1];
    if (limit_str(rt, "regex_replace", b.len)) {
      r = -1;
      break;
    }
  }
  rx_close(&it);
  if (r < 0) {
    gavel__buf_free(&b);
    return 1;
  }
  gavel__buf_add(&b, s->s + last, s->len - last);
  return ret_buf(rt, out, "regex_replace", &b);
}
