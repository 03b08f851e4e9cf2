/*
** cmd_batch.c -- 'gavel batch' and 'gavel graph' (placeholders until
** implemented).
*/
#include "cli_rules.h"

int cmd_batch(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "error: batch: not implemented yet\n");
  return 1;
}

int cmd_graph(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "error: graph: not implemented yet\n");
  return 1;
}
