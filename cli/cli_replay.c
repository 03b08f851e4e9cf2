/*
** cli_replay.c -- helpers of 'gavel test' and 'gavel replay' (see
** cli_replay.h): YAML/JSON documents, first-difference paths, runs whose
** host calls the command answers itself.
*/
#include "cli_replay.h"
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* ==== YAML -> JSON text ==== */

/* A plain scalar that is a JSON number, as JSON spells numbers. */
static int json_number(const char *s, size_t n) {
  size_t i = 0;
  if (i < n && s[i] == '-')
    i++;
  if (i >= n || s[i] < '0' || s[i] > '9')
    return 0;
  if (s[i] == '0')
    i++;
  else
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++;
  if (i < n && s[i] == '.') {
    if (++i >= n || s[i] < '0' || s[i] > '9')
      return 0;
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-'))
      i++;
    if (i >= n || s[i] < '0' || s[i] > '9')
      return 0;
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++;
  }
  return i == n;
}

static int is_word(const char *s, size_t n, const char *const *words) {
  for (; *words; words++)
    if (strlen(*words) == n && !memcmp(*words, s, n))
      return 1;
  return 0;
}

static void yaml_scalar_json(gv_buf *b, const yaml_event_t *ev, int key) {
  static const char *const nulls[] = {"null", "Null", "NULL", "~", NULL};
  static const char *const trues[] = {"true", "True", "TRUE", NULL};
  static const char *const falses[] = {"false", "False", "FALSE", NULL};
  const char *s = (const char *)ev->data.scalar.value;
  size_t n = ev->data.scalar.length;
  if (!key && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
    if (n == 0 || is_word(s, n, nulls)) {
      gavel__buf_adds(b, "null");
      return;
    }
    if (is_word(s, n, trues) || is_word(s, n, falses)) {
      gavel__buf_adds(b, is_word(s, n, trues) ? "true" : "false");
      return;
    }
    if (json_number(s, n)) {
      gavel__buf_add(b, s, n);
      return;
    }
  }
  gavel__json_write_str(b, s, n);
}

/* The parser's error as "YAML: line L column C: what" into msg. */
static void yaml_problem(const yaml_parser_t *p, char *msg, size_t msz) {
  snprintf(msg, msz, "YAML: line %lu column %lu: %s",
           (unsigned long)p->problem_mark.line + 1,
           (unsigned long)p->problem_mark.column + 1,
           p->problem ? p->problem : "syntax error");
}

/* Converts a YAML document to JSON text; a second document in the
** stream is an error (it was silently ignored: test cases after a '---'
** never ran). */
static int yaml_to_json(const char *text, size_t len, gv_buf *b, char *msg,
                        size_t msz) {
  yaml_parser_t p;
  yaml_event_t ev;
  /* Per open container: members written so far, and 1 in a mapping. */
  enum { MAXD = 512 };
  int count[MAXD], map[MAXD], depth = 0, done = 0, bad = 0, ended = 0;
  if (!yaml_parser_initialize(&p)) {
    snprintf(msg, msz, "out of memory");
    return 1;
  }
  yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
  while (!done && !bad) {
    int opens = 0, scalar = 0;
    if (!yaml_parser_parse(&p, &ev)) {
      yaml_problem(&p, msg, msz);
      bad = 1;
      break;
    }
    switch (ev.type) {
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
      opens = 1;
      break;
    case YAML_SCALAR_EVENT:
      scalar = 1;
      break;
    case YAML_ALIAS_EVENT:
      snprintf(msg, msz, "YAML: line %lu: aliases are not supported",
               (unsigned long)ev.start_mark.line + 1);
      bad = 1;
      break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
      depth--;
      gavel__buf_adds(b, map[depth] ? "}" : "]");
      if (depth == 0)
        done = 1;
      break;
    case YAML_DOCUMENT_END_EVENT:
      done = 1;
      break;
    case YAML_STREAM_END_EVENT:
      done = ended = 1;
      break;
    default:
      break;
    }
    if (opens || scalar) {
      int key = 0;
      if (depth > 0) {
        int c = count[depth - 1]++;
        if (map[depth - 1]) {
          key = c % 2 == 0;
          gavel__buf_adds(b, key ? (c ? "," : "") : ":");
        } else if (c)
          gavel__buf_adds(b, ",");
      }
      if (scalar) {
        yaml_scalar_json(b, &ev, key);
        if (depth == 0)
          done = 1;
      } else if (key) {
        snprintf(msg, msz, "YAML: line %lu: a mapping key must be a scalar",
                 (unsigned long)ev.start_mark.line + 1);
        bad = 1;
      } else if (depth == MAXD) {
        snprintf(msg, msz,
                 "Limit exceeded: YAML nesting deeper than %d levels", MAXD);
        bad = 1;
      } else {
        map[depth] = ev.type == YAML_MAPPING_START_EVENT;
        count[depth++] = 0;
        gavel__buf_adds(b, map[depth - 1] ? "{" : "[");
      }
    }
    yaml_event_delete(&ev);
  }
  while (!bad && !ended) { /* the rest of the stream: nothing but its end */
    yaml_event_type_t t;
    unsigned long line;
    if (!yaml_parser_parse(&p, &ev)) {
      yaml_problem(&p, msg, msz);
      bad = 1;
      break;
    }
    t = ev.type;
    line = (unsigned long)ev.start_mark.line + 1;
    yaml_event_delete(&ev);
    if (t == YAML_STREAM_END_EVENT || t == YAML_NO_EVENT)
      ended = 1;
    else if (t == YAML_DOCUMENT_START_EVENT) {
      snprintf(msg, msz, "YAML: line %lu: a second document (after '---'): "
                         "one file holds one document", line);
      bad = 1;
    }
  }
  yaml_parser_delete(&p);
  if (!bad && b->len == 0)
    gavel__buf_adds(b, "null"); /* an empty document */
  if (!bad && b->oom) {
    snprintf(msg, msz, "out of memory");
    bad = 1;
  }
  return bad;
}

int cli_doc_parse(gv_arena *a, const char *text, size_t len, int yaml,
                  gvalue *out, char *msg, size_t msz) {
  gv_buf b;
  gavel_error err;
  int bad = 0;
  if (!yaml) {
    if (gavel__json_parse(a, text, len, NULL, out, &err) != GAVEL_OK) {
      snprintf(msg, msz, "%s", err.msg);
      return 1;
    }
    return 0;
  }
  gavel__buf_init(&b, &gavel__default_alloc);
  if (yaml_to_json(text, len, &b, msg, msz))
    bad = 1;
  else if (gavel__json_parse(a, b.p, b.len, NULL, out, &err) != GAVEL_OK) {
    snprintf(msg, msz, "YAML: %s", err.msg);
    bad = 1;
  }
  gavel__buf_free(&b);
  return bad;
}

/* ==== Values ==== */

const gvalue *cli_get(gvalue v, const char *key) {
  int i;
  if (v.tag != GV_OBJ)
    return NULL;
  i = gavel__obj_find(v.u.o, key, strlen(key));
  return i < 0 ? NULL : &v.u.o->vals[i];
}

char *cli_json_text(gvalue v) {
  gv_buf b;
  char *s;
  gavel__buf_init(&b, &gavel__default_alloc);
  gavel__json_write(&b, v);
  if (b.oom || !(s = malloc(b.len + 1))) {
    gavel__buf_free(&b);
    return NULL;
  }
  memcpy(s, b.p ? b.p : "", b.len);
  s[b.len] = 0;
  gavel__buf_free(&b);
  return s;
}

/* Appends ".key" (or ["key"] when the key is not an identifier). */
static void path_key(char *path, size_t psz, const gv_str *k) {
  size_t n = strlen(path), i;
  int ident = k->len > 0;
  for (i = 0; i < k->len; i++) {
    char c = k->s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
          (i > 0 && c >= '0' && c <= '9')))
      ident = 0;
  }
  if (ident)
    snprintf(path + n, psz - n, "%s%s", n ? "." : "", k->s);
  else
    snprintf(path + n, psz - n, "[\"%s\"]", k->s);
}

static int diff_rec(gvalue e, gvalue a, int subset, char *path, size_t psz,
                    gvalue *ea, gvalue *aa, int depth) {
  size_t n = strlen(path);
  uint32_t i;
  if (depth > GAVEL_MAX_WALK_DEPTH)
    return 0; /* nothing deeper is ever built: treat as equal */
  if (e.tag == GV_OBJ && a.tag == GV_OBJ) {
    for (i = 0; i < e.u.o->len; i++) {
      int j = gavel__obj_find(a.u.o, e.u.o->keys[i]->s, e.u.o->keys[i]->len);
      path_key(path, psz, e.u.o->keys[i]);
      if (j < 0) {
        *ea = e.u.o->vals[i];
        *aa = gv_missing();
        return 1;
      }
      if (diff_rec(e.u.o->vals[i], a.u.o->vals[j], subset, path, psz, ea, aa,
                   depth + 1))
        return 1;
      path[n] = 0;
    }
    if (!subset)
      for (i = 0; i < a.u.o->len; i++)
        if (gavel__obj_find(e.u.o, a.u.o->keys[i]->s, a.u.o->keys[i]->len) <
            0) {
          path_key(path, psz, a.u.o->keys[i]);
          *ea = gv_missing();
          *aa = a.u.o->vals[i];
          return 1;
        }
    return 0;
  }
  if (e.tag == GV_ARR && a.tag == GV_ARR) {
    for (i = 0; i < e.u.a->len && i < a.u.a->len; i++) {
      snprintf(path + n, psz - n, "[%u]", i);
      if (diff_rec(e.u.a->items[i], a.u.a->items[i], subset, path, psz, ea,
                   aa, depth + 1))
        return 1;
      path[n] = 0;
    }
    if (e.u.a->len != a.u.a->len) {
      snprintf(path + n, psz - n, "[%u]", i);
      *ea = i < e.u.a->len ? e.u.a->items[i] : gv_missing();
      *aa = i < a.u.a->len ? a.u.a->items[i] : gv_missing();
      return 1;
    }
    return 0;
  }
  if (gavel__value_eq(e, a))
    return 0;
  *ea = e;
  *aa = a;
  return 1;
}

int cli_diff(gvalue exp, gvalue act, int subset, const char *base, char *path,
             size_t psz, gvalue *exp_at, gvalue *act_at) {
  snprintf(path, psz, "%s", base);
  return diff_rec(exp, act, subset, path, psz, exp_at, act_at, 0);
}

/* ==== Runs answered by the command ==== */

gavel_status cli_run_answered(gavel_exec *ex, const char *input, size_t len,
                              unsigned flags, cli_answer_fn answer, void *ud,
                              const char **out, size_t *out_len,
                              gavel_error *err) {
  gavel_status st =
      gavel_exec_run_json(ex, input, len, flags, out, out_len, err);
  while (st == GAVEL_PENDING) {
    gavel_host_call hc;
    const char *payload = NULL, *meta = NULL;
    size_t plen = 0, mlen = 0;
    char msg[GAVEL_ERRMSG_SIZE];
    int k;
    if ((st = gavel_exec_pending(ex, &hc, err)) != GAVEL_OK)
      break;
    msg[0] = 0;
    k = answer(ud, &hc, &payload, &plen, &meta, &mlen, msg, sizeof msg);
    if (k < 0) {
      gavel_exec_abandon(ex);
      return gavel__errorf(err, GAVEL_HOST, "%s", msg);
    }
    st = k == 0 ? gavel_exec_resume_json(ex, payload, plen, meta, mlen, out,
                                         out_len, err)
                : gavel_exec_resume_error(ex, msg, out, out_len, err);
  }
  return st;
}
