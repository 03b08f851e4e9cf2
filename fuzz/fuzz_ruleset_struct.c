/*
** fuzz_ruleset_struct.c -- structure-aware ruleset fuzzing: a custom
** mutator that parses the ruleset with cJSON and edits it as a tree, then
** load + run (as fuzz_ruleset, fixed input documents).
**
** Mutations (one to three per call): rewire step references (next_step,
** default_next, entry_step, ref_name) to other steps, missing steps or "";
** splice expressions (swap two expression strings, combine them with an
** operator, drop in a fragment from a list); interesting numbers (0, -1,
** INT64_MAX, 2^63, 2^64-1, 1e308, -1e309, -0, NaN-like strings) written as
** raw text; duplicate keys; retype a node; null conditions; empty action
** tags; delete a node; duplicate a step under a new id; self-nesting
** set_variable values.  Inputs that are not JSON go to libFuzzer's own
** mutator, so the corpus stays mostly valid rulesets.
*/
#include "fuzz_common.h"
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* ---- a small deterministic PRNG (the mutator must be reproducible) ---- */

static uint64_t rng;
static unsigned rnd(unsigned n) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return n ? (unsigned)(rng % n) : 0;
}

/* ---- every node of the tree, with its parent ---- */

#define MAX_NODES 8192
typedef struct {
  cJSON *n[MAX_NODES], *parent[MAX_NODES];
  int count;
} nodes;

static void collect(nodes *ns, cJSON *j, cJSON *parent) {
  cJSON *c;
  if (ns->count >= MAX_NODES)
    return;
  ns->n[ns->count] = j;
  ns->parent[ns->count++] = parent;
  for (c = j->child; c; c = c->next)
    collect(ns, c, j);
}

static int is_key(const cJSON *j, const char *k) {
  return j->string && !strcmp(j->string, k);
}

static int is_ref(const cJSON *j) {
  return cJSON_IsString(j) &&
         (is_key(j, "next_step") || is_key(j, "default_next") ||
          is_key(j, "entry_step") || is_key(j, "ref_name") ||
          is_key(j, "ruleset_name"));
}

/* Expression strings: conditions, values, and the second element of
** [name, expr] pairs (outputs, params, bindings). */
static int is_expr(const cJSON *j, const cJSON *parent) {
  if (!cJSON_IsString(j))
    return 0;
  if (is_key(j, "condition") || is_key(j, "value") ||
      is_key(j, "input_mapping"))
    return 1;
  return parent && cJSON_IsArray(parent) && !parent->string &&
         parent->child && parent->child->next == j;
}

static const char *const fragments[] = {
    "$v", "[$v, [$v]]", "{\"a\": $v}", "null", "1 / 0", "1.7e308 * 10.0",
    "9223372036854775807 + 1", "-9223372036854775807 - 2", "\"\"",
    "len(\"\")", "to_string($v)", "json_marshal($v)", "unique([$v, $v])",
    "$v in [$v]", "$v == $v", "format(\"%v\", $v)", "sort([1, \"a\", null])",
    "regex_find_all(\"(a+)+c|b\", \"aaaa\")", "slice([0], 5, 9)",
    "round(1e308 * 10)", "to_int(\"12\\u00003\")", "yaml_unmarshal(\"a: &x [1]\\nb: *x\")",
    "items.*.price", "exists(x)", "coalesce(missing, 1)", "if true then 1 else 2",
    "x ? 1 : 2", "!x", "-x", "((((((1))))))", "a.b.c[0]", "$undefined",
    "true", "false", "0", "-1", "1e308", "\"\\u0000\"", "sum([])", "abs(-9223372036854775807 - 1)",
};
static const char *const raw_numbers[] = {
    "0", "-1", "1", "9223372036854775807", "9223372036854775808",
    "-9223372036854775808", "18446744073709551615", "18446744073709551616",
    "1e308", "-1e309", "1e-400", "-0", "0.5", "4294967296", "2147483648",
    "1e18", "\"NaN\"", "\"Infinity\"", "\"-inf\"", "\"1e999\"", "\"\"",
};
static const char *const ops[] = {" && ", " || ", " + ", " == ", " in ",
                                  " * ", " / ", " % ", " < ", " != "};

static const char *step_id(cJSON *root) {
  cJSON *steps = cJSON_GetObjectItemCaseSensitive(root, "steps"), *s;
  int n = cJSON_GetArraySize(steps), k;
  if (!cJSON_IsObject(steps) || n == 0)
    return "t";
  k = (int)rnd((unsigned)n);
  for (s = steps->child; k-- > 0; s = s->next)
    ;
  return s->string;
}

static void replace(cJSON *parent, cJSON *old, cJSON *neu) {
  if (!parent) {
    cJSON_Delete(neu);
    return;
  }
  cJSON_ReplaceItemViaPointer(parent, old, neu);
}

static cJSON *random_scalar(void) {
  switch (rnd(6)) {
  case 0: return cJSON_CreateNull();
  case 1: return cJSON_CreateBool(rnd(2));
  case 2: return cJSON_CreateRaw(raw_numbers[rnd(sizeof raw_numbers / sizeof *raw_numbers)]);
  case 3: return cJSON_CreateString(fragments[rnd(sizeof fragments / sizeof *fragments)]);
  case 4: return cJSON_CreateArray();
  default: return cJSON_CreateObject();
  }
}

/* One node table for every mutation: it is 128 KiB, above ASan's largest
** size class, so a malloc per mutation was an mmap, fresh page faults and
** an munmap with a TLB shootdown each time (perf: most of this harness's
** time went to the kernel; fuzz/README.md "Executions per harness"). */
static nodes node_table;

static void mutate_once(cJSON *root) {
  nodes *ns = &node_table;
  int i, k, tries;
  cJSON *n, *p;
  ns->count = 0;
  collect(ns, root, NULL);
  for (tries = 0; tries < 16; tries++) {
    i = (int)rnd((unsigned)ns->count);
    n = ns->n[i];
    p = ns->parent[i];
    switch (rnd(14)) {
    case 0: /* rewire a step reference */
      if (!is_ref(n))
        continue;
      switch (rnd(4)) {
      case 0: cJSON_SetValuestring(n, ""); break;
      case 1: cJSON_SetValuestring(n, "missing_step"); break;
      default: {
        char id[256];
        snprintf(id, sizeof id, "%s", step_id(root));
        cJSON_SetValuestring(n, id);
      }
      }
      break;
    case 1: /* splice: replace with another expression or a fragment */
    case 2: {
      char *buf;
      const char *other = fragments[rnd(sizeof fragments / sizeof *fragments)];
      if (!is_expr(n, p))
        continue;
      for (k = 0; k < 8; k++) { /* prefer an expression of this ruleset */
        int j = (int)rnd((unsigned)ns->count);
        if (is_expr(ns->n[j], ns->parent[j]) && rnd(2)) {
          other = ns->n[j]->valuestring;
          break;
        }
      }
      buf = malloc(strlen(n->valuestring) + strlen(other) + 16);
      switch (rnd(3)) {
      case 0: strcpy(buf, other); break;
      case 1:
        sprintf(buf, "(%s)%s(%s)", n->valuestring, ops[rnd(sizeof ops / sizeof *ops)], other);
        break;
      default: sprintf(buf, "[%s, %s]", other, n->valuestring); break;
      }
      cJSON_SetValuestring(n, buf);
      free(buf);
      break;
    }
    case 3: /* interesting number */
      if (!cJSON_IsNumber(n) && rnd(4))
        continue;
      replace(p, n, cJSON_CreateRaw(raw_numbers[rnd(sizeof raw_numbers / sizeof *raw_numbers)]));
      break;
    case 4: /* duplicate key */
      if (!p || !cJSON_IsObject(p) || !n->string)
        continue;
      cJSON_AddItemToObject(p, n->string, rnd(2) ? cJSON_Duplicate(n, 1) : random_scalar());
      break;
    case 5: /* retype */
      if (!p)
        continue;
      replace(p, n, random_scalar());
      break;
    case 6: /* null condition */
      if (!is_key(n, "condition"))
        continue;
      replace(p, n, cJSON_CreateNull());
      break;
    case 7: /* empty action tag */
      if (!is_key(n, "action") || !cJSON_IsString(n))
        continue;
      cJSON_SetValuestring(n, rnd(4) ? "" : "nope");
      break;
    case 8: /* delete a node */
      if (!p)
        continue;
      cJSON_Delete(cJSON_DetachItemViaPointer(p, n));
      break;
    case 9: { /* duplicate a step under a new id */
      cJSON *steps = cJSON_GetObjectItemCaseSensitive(root, "steps"), *s, *id;
      char name[32];
      if (!cJSON_IsObject(steps) || !steps->child)
        continue;
      s = cJSON_GetArrayItem(steps, (int)rnd((unsigned)cJSON_GetArraySize(steps)));
      s = cJSON_Duplicate(s, 1);
      snprintf(name, sizeof name, "s%u", rnd(1000));
      if ((id = cJSON_GetObjectItemCaseSensitive(s, "id")) && cJSON_IsString(id))
        cJSON_SetValuestring(id, rnd(3) ? name : "");
      cJSON_AddItemToObject(steps, name, s);
      break;
    }
    case 10: { /* self-nesting value: set_variable v = [[$v]] looped */
      if (!is_key(n, "value") || !cJSON_IsString(n))
        continue;
      cJSON_SetValuestring(n, rnd(2) ? "[[[[[[[[$v]]]]]]]]" : "{\"a\": [$v, $v]}");
      break;
    }
    case 11: /* a branch or action copied next to itself */
      if (!p || !cJSON_IsArray(p) || !cJSON_IsObject(n))
        continue;
      cJSON_AddItemToArray(p, cJSON_Duplicate(n, 1));
      break;
    case 12: /* a string made long or odd */
      if (!cJSON_IsString(n) || is_ref(n))
        continue;
      cJSON_SetValuestring(n, rnd(2) ? "\xff\xfe" : "a\xc3\x28");
      break;
    default: /* a key renamed to a neighbour field name */
      if (!n->string)
        continue;
      {
        static const char *const keys[] = {
            "condition", "next_step", "default_next", "actions", "branches",
            "result", "output", "type", "value", "name", "id", "gas_limit",
            "max_depth", "timeout_ms", "field_missing", "params", "outputs"};
        char *nk = strdup(keys[rnd(sizeof keys / sizeof *keys)]);
        if (!(n->type & cJSON_StringIsConst))
          free(n->string);
        n->string = nk;
        n->type &= ~cJSON_StringIsConst;
      }
      break;
    }
    break;
  }
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
                               unsigned int seed) {
  cJSON *root;
  char *text;
  size_t n;
  int k, times;
  rng = seed * 0x9E3779B97F4A7C15ull + 1;
  if (rnd(8) == 0)
    return LLVMFuzzerMutate(data, size, max_size);
  root = cJSON_ParseWithLength((const char *)data, size);
  if (!root)
    return LLVMFuzzerMutate(data, size, max_size);
  times = 1 + (int)rnd(3);
  for (k = 0; k < times; k++)
    mutate_once(root);
  text = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  if (!text)
    return LLVMFuzzerMutate(data, size, max_size);
  n = strlen(text);
  if (n > max_size) {
    free(text);
    return LLVMFuzzerMutate(data, size, max_size);
  }
  memcpy(data, text, n);
  free(text);
  return n;
}

static const char *const inputs[] = {
    "{}",
    "{\"a\":1,\"b\":\"x\",\"x\":2.5,\"items\":[{\"price\":1},{\"price\":2}],"
    "\"customer\":{\"vip\":true,\"age\":30},\"order\":{\"total\":150,"
    "\"coupons\":[\"SPRING\"]},\"applicant\":{\"score\":700,\"age\":40},"
    "\"ip\":\"10.0.0.1\",\"n\":41,\"v\":[1,2]}",
};

/* Loaded with the JIT on and off (as fuzz_ruleset): the loads agree, and
** the plain runs on the rich input end the same way. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gavel_ruleset *rs, *rs_off;
  uint64_t h;
  if (size > 256 * 1024)
    return -1;
  if (fz_load_pair(data, size, &rs, &rs_off) != GAVEL_OK)
    return 0;
  h = fz_hash(data, size);
  fz_run(rs, inputs[0], strlen(inputs[0]), 0, h);
  fz_run_pair(rs, rs_off, inputs[1], strlen(inputs[1]), h, data, size, NULL);
  fz_run(rs, inputs[1], strlen(inputs[1]), GAVEL_RUN_TRACE, h * 31 + 7);
  gavel_ruleset_free(rs);
  gavel_ruleset_free(rs_off);
  return 0;
}
