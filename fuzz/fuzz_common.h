/*
** fuzz_common.h -- shared pieces of the libFuzzer harnesses (fuzz/): one
** runtime with asynchronous and synchronous providers and a resolver, the
** run driver that answers pending host calls, and the invariants every
** harness checks on what the public API returns.  Public API only.
*/
#ifndef GAVEL_FUZZ_COMMON_H
#define GAVEL_FUZZ_COMMON_H

#include "gavel.h"
#include <stddef.h>
#include <stdint.h>

/* A finding: prints 'why' and aborts (libFuzzer records the input). */
void fz_fail(const char *why, const char *detail, size_t detail_len);

/* The process-wide runtime (created on first use, never freed): bounded
** gas, steps, time and memory so that one input cannot stall the fuzzer;
** async capabilities "geo.lookup" "demo.echo" "network.http" "async",
** sync C providers "test.sync" "calc" "sync" "metrics.prometheus"; the
** resolver answers every call_rule_set name with the ruleset running. */
gavel_runtime *fz_runtime(void);
/* The same with gavel_config.jit = 'jit' (0 env/auto, 1 on, 2 off,
** 3 auto): one runtime per mode, fz_runtime() is mode 0. */
gavel_runtime *fz_runtime_jit(int jit);

/* The bounds of every harness's runtime (gas, steps, time, memory), zeroed
** otherwise: fz_runtime's, and the fuzz_jit pair's. */
void fz_config(gavel_config *cfg);

/* 1 when one of the NULL-terminated 'words' occurs in s[0..n): inputs
** whose results may differ between two evals (the clock, uuids). */
int fz_mentions(const uint8_t *s, size_t n, const char *const *words);

/* Splits d[0..n) at the first NUL: a = before, b = after (b_len 0 and
** b NULL when there is none). */
void fz_split(const uint8_t *d, size_t n, const uint8_t **a, size_t *a_len,
              const uint8_t **b, size_t *b_len);

/* Load options of the harnesses: capability checks off (every service
** name loads; unprovided ones fail at run time), diagnostics counted. */
const gavel_load_opts *fz_load_opts(void);

/* Checks the shape of a gavel_error after a call returned 'st'. */
void fz_check_error(gavel_status st, const gavel_error *e);

/* Checks that n bytes at p are one JSON document cJSON accepts. */
void fz_check_json(const char *what, const char *p, size_t n);

/* Runs 'rs' on 'input' with a fresh exec; answers up to 64 pending host
** calls, choosing per call from 'seed' (payload echoing the params, a
** fixed object with metadata, an error, a malformed payload, or abandon).
** Checks every result; returns the final status. */
gavel_status fz_run(gavel_ruleset *rs, const char *input, size_t input_len,
                    unsigned flags, uint64_t seed);
/* fz_run, keeping what the run ended with in text[0..cap): "ok " and the
** result text, or the status number and the error message; trace step
** durations read 0. */
gavel_status fz_run_text(gavel_ruleset *rs, const char *input,
                         size_t input_len, unsigned flags, uint64_t seed,
                         char *text, size_t cap);

/* The differential harnesses: 'doc' loaded with the JIT on (programs,
** decision chains and key lookups compiled at load) and off (the VM
** alone); the two loads must agree (status and message: a finding
** otherwise).  Returns the status; *on and *off are set when it is OK. */
gavel_status fz_load_pair(const uint8_t *doc, size_t doc_len,
                          gavel_ruleset **on, gavel_ruleset **off);
/* Runs 'input' plain on both (fz_run_text, the same seed): they must end
** the same way, except for documents that read the clock or random
** numbers ('doc' may be NULL: a fixed ruleset that does not) and runs
** that time out or reach the per-run memory cap (those depend on each
** path's speed and frugality).  'name' (or NULL) is printed on a finding. */
void fz_run_pair(gavel_ruleset *on, gavel_ruleset *off, const char *input,
                 size_t input_len, uint64_t seed, const uint8_t *doc,
                 size_t doc_len, const char *name);

/* FNV-1a of the bytes: a cheap seed derived from the input. */
uint64_t fz_hash(const uint8_t *d, size_t n);

#endif
