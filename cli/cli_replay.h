/*
** cli_replay.h -- helpers shared by 'gavel test' (cmd_test.c) and 'gavel
** replay' (cmd_replay.c): documents as values, JSON paths of the first
** difference, and runs whose host calls are answered by the command
** through the engine's pending/resume protocol (stubs and receipts).
*/
#ifndef GAVEL_CLI_REPLAY_H
#define GAVEL_CLI_REPLAY_H

#include "cli_rules.h"
#include "json.h"
#include "value.h"

/* Parses a JSON or YAML document (YAML when 'yaml') into 'a'.  0, or 1
** with a message ("line L column C: ...") in 'msg'. */
int cli_doc_parse(gv_arena *a, const char *text, size_t len, int yaml,
                  gvalue *out, char *msg, size_t msz);

/* Member 'key' of object 'v', or NULL (v not an object, key absent). */
const gvalue *cli_get(gvalue v, const char *key);

/* Compares 'exp' with 'act': 0 equal.  1 different: 'path' receives the
** JSON path of the first difference ("output.items[2].price"), starting
** from 'base'.  'subset': objects in 'exp' need only be included in 'act'
** (output_includes). */
int cli_diff(gvalue exp, gvalue act, int subset, const char *base, char *path,
             size_t psz, gvalue *exp_at, gvalue *act_at);

/* Compact JSON text of 'v' into a malloc'd string (NULL on OOM). */
char *cli_json_text(gvalue v);

/* Answers one pending host call: payload (JSON text) or error.  Returns
** 0 answered with payload (*payload, *plen, optional meta and mlen), 1
** answered with the error in 'msg', -1 cannot answer (msg: why; the run
** stops with a host error). */
typedef int (*cli_answer_fn)(void *ud, const gavel_host_call *hc,
                             const char **payload, size_t *plen,
                             const char **meta, size_t *mlen, char *msg,
                             size_t msz);

/* gavel_exec_run_json, then resumes every pending call with 'answer'
** until the run ends.  A call 'answer' cannot serve abandons the run:
** GAVEL_HOST with its message. */
gavel_status cli_run_answered(gavel_exec *ex, const char *input, size_t len,
                              unsigned flags, cli_answer_fn answer, void *ud,
                              const char **out, size_t *out_len,
                              gavel_error *err);

/* ==== cli_capture.c: --capture FILE for run and batch ==== */

/* Consumes a --capture* option at argv[*i]: 1 consumed, 0 not one, -1
** bad value (message printed: exit 2). */
int cli_capture_option(int argc, char **argv, int *i);
/* Opens the capture file and attaches it to 'rt' (after its providers,
** before loading rulesets).  No --capture: does nothing.  1 on failure. */
int cli_capture_start(gavel_runtime *rt);
/* Long-running hosts (gavel serve): records leave through a flusher
** thread (audit's GROUP_N, at most a second late) unless an option chose
** another policy, so no record is written on the request path. */
void cli_capture_off_path(void);
/* Records the content hash of the document a ruleset was loaded from (the
** records' "hash"; a later one of the same name replaces it).  1 on
** failure (printed). */
int cli_capture_ruleset(gavel_ruleset *rs, const char *text, size_t len);
/* After each run on this thread: its result JSON, or NULL on error. */
void cli_capture_commit(const char *result, size_t len);
/* Closes; 1 when records were lost (message printed). */
int cli_capture_end(void);
#define CLI_CAPTURE_HELP                                                      \
  "capture (run, batch): --capture FILE.jsonl [--capture-sample R]\n"        \
  "  [--capture-redact PATH]... [--capture-salt S] [--capture-rotate-bytes N]\n" \
  "  [--capture-rotate-daily] [--capture-fsync N | --capture-buffered]\n"

int cmd_test(int argc, char **argv);
int cmd_replay(int argc, char **argv);

#endif
