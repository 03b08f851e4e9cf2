/*
** testserver_main.c -- the test server as a program (for shell tests):
** prints its port on stdout, serves until SIGTERM or SIGINT.
*/
#include "testserver.h"
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

int main(void) {
  sigset_t set;
  int sig;
  ts_server *s;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL); /* threads inherit the mask */
  if (!(s = ts_start())) {
    perror("gv_testserver");
    return 1;
  }
  printf("%d\n", ts_port(s));
  fflush(stdout);
  sigwait(&set, &sig);
  ts_stop(s);
  return 0;
}
