/*
** cmd_replay.c -- 'gavel replay' (work in progress).
*/
#include "cli_replay.h"

int cmd_replay(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return 2;
}
