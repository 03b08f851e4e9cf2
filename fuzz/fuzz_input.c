/*
** fuzz_input.c -- a fixed set of valid rulesets (fuzz/rulesets/NAME.json, from
** examples/, spec/fixtures and the Ordo sample) over fuzzed input JSON.
** Every ruleset runs on every input (each reads other paths, so the
** projected JSON reader and the binder take other routes); one of them
** also with the trace.  GAVEL_FUZZ_RULESETS overrides the directory.
**
** Differential: every ruleset is loaded twice, with the JIT on (decision
** chains and key lookups compiled at load) and off (the VM and the C
** binder), and the two plain runs of an input must end the same way:
** the same result bytes, or the same status and message.  Runs that hit
** the clock (a timeout) or the per-run memory cap are not compared: those
** depend on how fast and how frugal each path is.
*/
#include "fuzz_common.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RS 64
static gavel_ruleset *rulesets[MAX_RS];     /* jit on  */
static gavel_ruleset *rulesets_off[MAX_RS]; /* jit off */
static const char *names[MAX_RS];
static int n_rulesets;

static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  char *buf;
  long len;
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  len = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = malloc((size_t)len + 1);
  *n = fread(buf, 1, (size_t)len, f);
  fclose(f);
  return buf;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *dir = getenv("GAVEL_FUZZ_RULESETS");
  struct dirent **ents;
  int n, i;
  (void)argc;
  (void)argv;
  if (!dir)
    dir = GAVEL_FUZZ_ROOT "/fuzz/rulesets";
  n = scandir(dir, &ents, NULL, by_name);
  if (n < 0) {
    fprintf(stderr, "fuzz_input: cannot read %s\n", dir);
    abort();
  }
  for (i = 0; i < n; i++) {
    char path[4096];
    size_t len = strlen(ents[i]->d_name), doc_len;
    char *doc;
    gavel_error e;
    if (len > 5 && !strcmp(ents[i]->d_name + len - 5, ".json") &&
        n_rulesets < MAX_RS) {
      snprintf(path, sizeof path, "%s/%s", dir, ents[i]->d_name);
      doc = slurp(path, &doc_len);
      if (!doc ||
          gavel_ruleset_load(fz_runtime_jit(1), doc, doc_len, fz_load_opts(),
                             &rulesets[n_rulesets], &e) != GAVEL_OK ||
          gavel_ruleset_load(fz_runtime_jit(2), doc, doc_len, fz_load_opts(),
                             &rulesets_off[n_rulesets], &e) != GAVEL_OK) {
        fprintf(stderr, "fuzz_input: %s does not load: %s\n", path,
                doc ? e.msg : "unreadable");
        abort();
      }
      names[n_rulesets] = strdup(ents[i]->d_name);
      n_rulesets++;
      free(doc);
    }
    free(ents[i]);
  }
  free(ents);
  if (!n_rulesets) {
    fprintf(stderr, "fuzz_input: no rulesets in %s\n", dir);
    abort();
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint64_t h;
  int i;
  if (size > 256 * 1024)
    return -1;
  h = fz_hash(data, size);
  for (i = 0; i < n_rulesets; i++) {
    if ((h % (unsigned)n_rulesets) == (unsigned)i) /* traced: not compared */
      fz_run(rulesets[i], (const char *)data, size, GAVEL_RUN_TRACE,
             h + (uint64_t)i);
    fz_run_pair(rulesets[i], rulesets_off[i], (const char *)data, size,
                h + (uint64_t)i, NULL, 0, names[i]);
  }
  return 0;
}
