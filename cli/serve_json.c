/*
** serve_json.c -- stage: request envelopes of 'gavel serve'.  A
** validating JSON scanner that finds the byte spans of top-level members
** ({"input": ..., "trace": ...}) without building values, so the input
** text goes to the engine untouched (18 stays an int, 18.0 a float).
** Errors name the line and column.
*/
#include "serve.h"
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#define SJ_MAX_DEPTH 512

typedef struct sj {
  const char *p;   /* text  */
  size_t n;        /* length */
  size_t i;        /* position */
  const char *why; /* error */
} sj;

static void ws(sj *s) {
  while (s->i < s->n && (s->p[s->i] == ' ' || s->p[s->i] == '\t' ||
                         s->p[s->i] == '\n' || s->p[s->i] == '\r'))
    s->i++;
}

static int fail(sj *s, const char *why) {
  if (!s->why)
    s->why = why;
  return -1;
}

static int hexd(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
}

static int str(sj *s) {
  s->i++; /* '"' */
  while (s->i < s->n) {
    unsigned char c = (unsigned char)s->p[s->i];
    if (c == '"') {
      s->i++;
      return 0;
    }
    if (c < 0x20)
      return fail(s, "control character in a string");
    if (c == '\\') {
      char e;
      if (++s->i >= s->n)
        break;
      e = s->p[s->i];
      if (e == 'u') {
        int k;
        for (k = 1; k <= 4; k++)
          if (s->i + k >= s->n || !hexd(s->p[s->i + k]))
            return fail(s, "bad \\u escape");
        s->i += 5;
        continue;
      }
      if (!strchr("\"\\/bfnrt", e) || !e)
        return fail(s, "bad escape");
    }
    s->i++;
  }
  return fail(s, "unterminated string");
}

static int num(sj *s) {
  size_t st = s->i;
  if (s->p[s->i] == '-')
    s->i++;
  if (s->i >= s->n)
    return fail(s, "bad number");
  if (s->p[s->i] == '0')
    s->i++;
  else if (s->p[s->i] >= '1' && s->p[s->i] <= '9')
    while (s->i < s->n && s->p[s->i] >= '0' && s->p[s->i] <= '9')
      s->i++;
  else
    return fail(s, "bad number");
  if (s->i < s->n && s->p[s->i] == '.') {
    size_t d = ++s->i;
    while (s->i < s->n && s->p[s->i] >= '0' && s->p[s->i] <= '9')
      s->i++;
    if (s->i == d)
      return fail(s, "bad number");
  }
  if (s->i < s->n && (s->p[s->i] == 'e' || s->p[s->i] == 'E')) {
    size_t d;
    s->i++;
    if (s->i < s->n && (s->p[s->i] == '+' || s->p[s->i] == '-'))
      s->i++;
    d = s->i;
    while (s->i < s->n && s->p[s->i] >= '0' && s->p[s->i] <= '9')
      s->i++;
    if (s->i == d)
      return fail(s, "bad number");
  }
  return s->i > st ? 0 : fail(s, "bad number");
}

static int lit(sj *s, const char *w) {
  size_t k = strlen(w);
  if (s->n - s->i < k || memcmp(s->p + s->i, w, k))
    return fail(s, "unexpected character");
  s->i += k;
  return 0;
}

static int value(sj *s, int depth) {
  char c;
  ws(s);
  if (s->i >= s->n)
    return fail(s, "unexpected end of text");
  if (depth > SJ_MAX_DEPTH)
    return fail(s, "nesting deeper than 512");
  c = s->p[s->i];
  if (c == '{' || c == '[') {
    char close = c == '{' ? '}' : ']';
    s->i++;
    ws(s);
    if (s->i < s->n && s->p[s->i] == close) {
      s->i++;
      return 0;
    }
    for (;;) {
      if (c == '{') {
        ws(s);
        if (s->i >= s->n || s->p[s->i] != '"')
          return fail(s, "expected a member name");
        if (str(s))
          return -1;
        ws(s);
        if (s->i >= s->n || s->p[s->i] != ':')
          return fail(s, "expected ':'");
        s->i++;
      }
      if (value(s, depth + 1))
        return -1;
      ws(s);
      if (s->i < s->n && s->p[s->i] == ',') {
        s->i++;
        continue;
      }
      if (s->i < s->n && s->p[s->i] == close) {
        s->i++;
        return 0;
      }
      return fail(s, c == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
    }
  }
  if (c == '"')
    return str(s);
  if (c == '-' || (c >= '0' && c <= '9'))
    return num(s);
  if (c == 't')
    return lit(s, "true");
  if (c == 'f')
    return lit(s, "false");
  if (c == 'n')
    return lit(s, "null");
  return fail(s, "unexpected character");
}

static int report(sj *s, char *msg, size_t msz) {
  size_t k;
  int line = 1, col = 1;
  for (k = 0; k < s->i && k < s->n; k++) {
    if (s->p[k] == '\n') {
      line++;
      col = 1;
    } else if (((unsigned char)s->p[k] & 0xC0) != 0x80)
      col++;
  }
  snprintf(msg, msz, "invalid JSON at line %d column %d: %s", line, col,
           s->why ? s->why : "unexpected text");
  return -1;
}

int sj_validate(const char *p, size_t n, char *msg, size_t msz) {
  sj s = {p, n, 0, NULL};
  if (value(&s, 0))
    return report(&s, msg, msz);
  ws(&s);
  if (s.i != n) {
    fail(&s, "text after the value");
    return report(&s, msg, msz);
  }
  return 0;
}

int sj_object(const char *p, size_t n, const char *const *keys, size_t n_keys,
              sj_span *out, char *msg, size_t msz) {
  sj s = {p, n, 0, NULL};
  size_t k;
  for (k = 0; k < n_keys; k++)
    out[k].p = NULL, out[k].n = 0;
  ws(&s);
  if (s.i >= n || p[s.i] != '{') {
    fail(&s, "the body must be a JSON object");
    return report(&s, msg, msz);
  }
  s.i++;
  ws(&s);
  if (s.i < n && p[s.i] == '}') {
    s.i++;
    goto end;
  }
  for (;;) {
    size_t ks, ke, vs;
    ws(&s);
    if (s.i >= n || p[s.i] != '"') {
      fail(&s, "expected a member name");
      return report(&s, msg, msz);
    }
    ks = s.i + 1;
    if (str(&s))
      return report(&s, msg, msz);
    ke = s.i - 1;
    ws(&s);
    if (s.i >= n || p[s.i] != ':') {
      fail(&s, "expected ':'");
      return report(&s, msg, msz);
    }
    s.i++;
    ws(&s);
    vs = s.i;
    if (value(&s, 1))
      return report(&s, msg, msz);
    for (k = 0; k < n_keys; k++)
      if (strlen(keys[k]) == ke - ks && !memcmp(p + ks, keys[k], ke - ks)) {
        out[k].p = p + vs;
        out[k].n = s.i - vs;
      }
    ws(&s);
    if (s.i < n && p[s.i] == ',') {
      s.i++;
      continue;
    }
    if (s.i < n && p[s.i] == '}') {
      s.i++;
      break;
    }
    fail(&s, "expected ',' or '}'");
    return report(&s, msg, msz);
  }
end:
  ws(&s);
  if (s.i != n) {
    fail(&s, "text after the value");
    return report(&s, msg, msz);
  }
  return 0;
}

int sj_array_next(sj_span arr, size_t *pos, sj_span *el) {
  sj s = {arr.p, arr.n, *pos, NULL};
  size_t vs;
  if (s.i == 0) {
    ws(&s);
    s.i++; /* '[' */
  }
  ws(&s);
  if (s.i >= s.n || s.p[s.i] == ']')
    return 0;
  if (s.p[s.i] == ',') {
    s.i++;
    ws(&s);
  }
  vs = s.i;
  if (value(&s, 1))
    return 0;
  el->p = s.p + vs;
  el->n = s.i - vs;
  *pos = s.i;
  return 1;
}

static unsigned hex4(const char *p) {
  unsigned v = 0;
  int k;
  for (k = 0; k < 4; k++) {
    char c = p[k];
    v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 32) - 'a' + 10);
  }
  return v;
}

static size_t utf8(char *o, unsigned cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

char *sj_string(sj_span sp, size_t *len) {
  char *o, *q;
  size_t i;
  if (!sp.p || sp.n < 2 || sp.p[0] != '"')
    return NULL;
  if (!(o = malloc(sp.n + 1)))
    return NULL;
  q = o;
  for (i = 1; i + 1 < sp.n; i++) {
    char c = sp.p[i];
    if (c != '\\') {
      *q++ = c;
      continue;
    }
    c = sp.p[++i];
    switch (c) {
    case 'b': *q++ = '\b'; break;
    case 'f': *q++ = '\f'; break;
    case 'n': *q++ = '\n'; break;
    case 'r': *q++ = '\r'; break;
    case 't': *q++ = '\t'; break;
    case 'u': {
      unsigned cp = hex4(sp.p + i + 1);
      i += 4;
      if (cp >= 0xD800 && cp < 0xDC00 && i + 6 < sp.n && sp.p[i + 1] == '\\' &&
          sp.p[i + 2] == 'u') {
        unsigned lo = hex4(sp.p + i + 3);
        if (lo >= 0xDC00 && lo < 0xE000) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          i += 6;
        }
      }
      if (cp >= 0xD800 && cp < 0xE000)
        cp = 0xFFFD;
      q += utf8(q, cp);
      break;
    }
    default: *q++ = c;
    }
  }
  *q = 0;
  if (len)
    *len = (size_t)(q - o);
  return o;
}

int sj_is_true(sj_span s) {
  return s.p && s.n == 4 && !memcmp(s.p, "true", 4);
}

void sj_put_str(struct evbuffer *b, const char *s, size_t n) {
  size_t i, run = 0;
  evbuffer_add(b, "\"", 1);
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    if (i > run)
      evbuffer_add(b, s + run, i - run);
    run = i + 1;
    if (c == '"')
      evbuffer_add(b, "\\\"", 2);
    else if (c == '\\')
      evbuffer_add(b, "\\\\", 2);
    else if (c == '\n')
      evbuffer_add(b, "\\n", 2);
    else
      evbuffer_add_printf(b, "\\u%04x", c);
  }
  if (n > run)
    evbuffer_add(b, s + run, n - run);
  evbuffer_add(b, "\"", 1);
}
