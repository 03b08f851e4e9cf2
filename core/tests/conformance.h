/*
** conformance.h -- runner for the Ordo conformance corpus format
** (expressions.jsonl and the rulesets directory), shared by test_conformance.c
** (the sample in ../shared) and any other corpus directory given on the
** command line.
*/
#ifndef GAVEL_CONFORMANCE_H
#define GAVEL_CONFORMANCE_H

typedef struct conf_stats {
  int passed;  /* cases that matched            */
  int failed;  /* cases that did not            */
  int skipped; /* cases with nothing to check   */
} conf_stats;

/* Runs every line of an expressions.jsonl file. */
void conf_run_expressions(const char *file, conf_stats *st, int verbose);
/* Runs every case of one ruleset corpus file. */
void conf_run_ruleset_file(const char *file, conf_stats *st, int verbose);

#endif
