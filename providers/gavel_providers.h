/*
** gavel_providers.h -- the built-in capability providers: network.http
** (libcurl, blocking or on a libevent loop), metrics.prometheus and
** audit.logger.  Public header of the 'gavel_providers' library.
**
** Ownership and threads follow gavel.h: *_new / *_open return an object
** the caller owns and frees with the matching *_free / *_close, after
** every runtime it was registered in has stopped running (free the
** provider objects after the runs, before or after gavel_runtime_free).
** All providers are thread-safe: one object may serve runs on many
** threads.  Memory returned for the caller to free is freed with
** gavel_providers_free().
**
** Policies (timeout cap, retries, circuit breaker, concurrency, gas) are
** applied by the engine to every call, whatever provider serves it: set
** them with gavel_runtime_set_policy (gavel_policy_parse reads the
** "timeout=500,retries=2,..." text form used by hosts' flags).
*/
#ifndef GAVEL_PROVIDERS_H
#define GAVEL_PROVIDERS_H

#include "gavel.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Frees memory returned by this library (gavel_metrics_expose). */
GAVEL_API void gavel_providers_free(void *p);

/* ==== Policies: text form ==== */

/* Parses "key=value,..." into '*out' (zeroed first).  Keys: timeout (ms,
** the cap and default of an action's timeout_ms), retries, backoff (ms),
** backoff_max (ms), breaker (consecutive failures that open the circuit),
** reset (ms the circuit stays open), concurrency.  Example:
** "timeout=2000,retries=2,backoff=50,breaker=5,reset=10000".
** GAVEL_OK, or GAVEL_MISUSE naming the bad key or value. */
GAVEL_API gavel_status gavel_policy_parse(const char *spec, gavel_policy *out,
                                          gavel_error *err);

/* ==== network.http ==== */

typedef struct gavel_http gavel_http;

typedef struct gavel_http_opts {
  uint32_t default_timeout_ms; /* whole call (all redirects) when neither
                                  the action nor the policy sets one
                                  (0 = 10000, Ordo's descriptor timeout) */
  uint32_t connect_timeout_ms; /* TCP+TLS connect (0 = 5000, Ordo's)     */
  uint32_t max_redirects;      /* redirect hops followed, each re-checked
                                  against the allowlist (0 = 10)         */
  int no_redirects;            /* 1: a 3xx answer is returned as is      */
  size_t max_body_bytes;       /* larger responses fail (0 = 16 MiB)     */
  const char *user_agent;      /* NULL = "gavel/<version>"               */
  const char *proxy;           /* NULL = none (the *_proxy environment
                                  variables are ignored)                 */
  const char *ca_file;         /* NULL = the system's CA bundle          */
} gavel_http_opts;

/* 'opts' may be NULL for defaults (copied). */
GAVEL_API gavel_status gavel_http_new(const gavel_http_opts *opts,
                                      gavel_http **out, gavel_error *err);
/* Registers network.http in 'rt' as a synchronous provider: the calling
** thread blocks for the request.  One libcurl handle per thread is kept
** and reused, so connections stay open across calls. */
GAVEL_API gavel_status gavel_http_provide(gavel_http *h, gavel_runtime *rt,
                                          gavel_error *err);
/* Frees the handles of every thread; no call may be in progress. */
GAVEL_API void gavel_http_free(gavel_http *h);

/* The allowlist check every request and redirect hop passes before any
** connection: 1 when 'url' (http or https) matches one of the 'n'
** entries ("host", "host:port", "scheme://host[:port]", "*.domain",
** "*"; a missing port matches any port; hosts compare case-insensitively),
** else 0 with the reason in 'why'.  For hosts that serve pending calls
** themselves. */
GAVEL_API int gavel_http_allowed(const char *url, const char *const *allow,
                                 size_t n, char *why, size_t why_size);

/* ---- network.http on an event loop (libevent + libcurl multi) ---- */

struct event_base;
typedef struct gavel_http_loop gavel_http_loop;

/* Called on the loop thread when the run of 'ex' ends: st is GAVEL_OK
** (result JSON in out/out_len, borrowed from 'ex'), an error ('err'), or
** GAVEL_PENDING when the run now waits on another capability (the host
** answers it, and may hand 'ex' back with gavel_http_loop_submit). */
typedef void (*gavel_http_done_fn)(void *ud, gavel_exec *ex, gavel_status st,
                                   const char *out, size_t out_len,
                                   const gavel_error *err);

/* A driver on 'base' (borrowed; the caller runs it).  Requests use the
** options of 'h' (borrowed, must outlive the loop). */
GAVEL_API gavel_status gavel_http_loop_new(gavel_http *h,
                                           struct event_base *base,
                                           gavel_http_loop **out,
                                           gavel_error *err);
/* Registers network.http in 'rt' as an asynchronous capability: runs
** return GAVEL_PENDING on it and this loop performs the calls. */
GAVEL_API gavel_status gavel_http_loop_provide(gavel_http_loop *l,
                                               gavel_runtime *rt,
                                               gavel_error *err);
/* Takes over 'ex', which returned GAVEL_PENDING on a network.http call:
** performs it (after the policy's retry delay, if any), resumes the run,
** and repeats while the run pends on network.http; then calls 'done'.
** Never calls 'done' before returning.  GAVEL_MISUSE when 'ex' is not
** pending on network.http. */
GAVEL_API gavel_status gavel_http_loop_submit(gavel_http_loop *l,
                                              gavel_exec *ex,
                                              gavel_http_done_fn done,
                                              void *ud, gavel_error *err);
/* Starts a run of 'ex' on 'input' and drives it as above; 'done' is
** called once, also when the run ends without a network.http call. */
GAVEL_API gavel_status gavel_http_loop_run(gavel_http_loop *l, gavel_exec *ex,
                                           const char *input, size_t len,
                                           unsigned flags,
                                           gavel_http_done_fn done, void *ud,
                                           gavel_error *err);
/* Executions the loop is driving now. */
GAVEL_API size_t gavel_http_loop_active(const gavel_http_loop *l);
/* Fails every execution in flight ("network.http: event loop shut down"),
** calling their 'done', then frees the loop. */
GAVEL_API void gavel_http_loop_free(gavel_http_loop *l);

/* ==== metrics.prometheus ==== */

typedef struct gavel_metrics gavel_metrics;

typedef enum gavel_metric_kind {
  GAVEL_METRIC_COUNTER = 1,  /* monotonically increasing; add >= 0      */
  GAVEL_METRIC_GAUGE = 2,    /* set to a value                          */
  GAVEL_METRIC_HISTOGRAM = 3 /* observe a value into buckets            */
} gavel_metric_kind;

typedef struct gavel_metrics_opts {
  const double *buckets; /* histogram upper bounds for rule metrics,
                            ascending (NULL = Prometheus' defaults)      */
  size_t n_buckets;      /* entries                                      */
  size_t max_series;     /* label sets per metric (0 = 10000); beyond it
                            updates fail instead of growing memory      */
} gavel_metrics_opts;

GAVEL_API gavel_status gavel_metrics_new(const gavel_metrics_opts *opts,
                                         gavel_metrics **out,
                                         gavel_error *err);
GAVEL_API void gavel_metrics_free(gavel_metrics *m);
/* Registers metrics.prometheus in 'rt': operations "counter" (add),
** "gauge" (set; what 'metric' actions send) and "histogram" (observe),
** params {name, value, tags {k: v}, help?}.  Names and label names are
** made valid for Prometheus ('.' and other characters become '_'). */
GAVEL_API gavel_status gavel_metrics_provide(gavel_metrics *m,
                                             gavel_runtime *rt,
                                             gavel_error *err);
/* Adds an observer to 'rt' that records the engine's own metrics:
** gavel_runs_total{ruleset,code} (code "error" for failed runs),
** gavel_run_errors_total{ruleset,status}, gavel_run_duration_seconds
** {ruleset} (histogram), gavel_run_gas_used_total{ruleset},
** gavel_hostcalls_total{capability,outcome} (each attempt) and
** gavel_hostcall_duration_seconds{capability} (histogram). */
GAVEL_API gavel_status gavel_metrics_attach(gavel_metrics *m,
                                            gavel_runtime *rt,
                                            gavel_error *err);
/* Updates one series; 'labels' holds n_labels (name, value) pairs as
** 2*n_labels strings; 'help' may be NULL.  GAVEL_MISUSE when the name is
** already a metric of another kind, the value is invalid (negative
** counter add, NaN) or max_series is reached. */
GAVEL_API gavel_status gavel_metrics_update(gavel_metrics *m,
                                            gavel_metric_kind kind,
                                            const char *name, const char *help,
                                            const char *const *labels,
                                            size_t n_labels, double value,
                                            gavel_error *err);
/* The Prometheus text exposition (format 0.0.4), metrics sorted by name
** and series by labels.  '*text' is NUL-terminated; free it with
** gavel_providers_free. */
GAVEL_API gavel_status gavel_metrics_expose(gavel_metrics *m, char **text,
                                            size_t *len, gavel_error *err);
/* Writes the exposition to 'path' atomically (temporary file + rename;
** "-" = stdout).  GAVEL_IO on failure. */
GAVEL_API gavel_status gavel_metrics_write_file(gavel_metrics *m,
                                                const char *path,
                                                gavel_error *err);

/* ==== audit.logger ==== */

typedef struct gavel_audit gavel_audit;

/* When a written line is safe (the trade-off, cheapest last):
**  FLUSH_LINE: each line is one write(2) to the file: it survives the
**    process being killed (SIGKILL included) as soon as the call that
**    logged it returns, not a power loss or kernel crash.
**  FSYNC_N: as FLUSH_LINE, plus fdatasync(2) every 'fsync_every' lines
**    (1 = every line): at most N-1 acknowledged lines are lost on a power
**    loss; each fsync costs a disk flush (milliseconds on rotating disks).
**  ON_EXIT: lines collect in memory and are written when the buffer is
**    full, on gavel_audit_flush and on gavel_audit_close: fastest, but a
**    crash or kill loses everything still buffered.
**  GROUP_N: group commit.  Lines collect in memory; every 'fsync_every'
**    lines (default 1024), or sooner when the buffer fills or a line has
**    waited a second (a quiet server still writes its lines), a flusher
**    thread writes them with one write(2) and fdatasyncs, while runs go
**    on filling a second buffer (a full buffer makes runs wait, never
**    drops lines).  A kill or power loss loses at most the lines not yet
**    synced: those of the batch being written and the one filling
**    (bounded by 2 x buffer_bytes).  gavel_audit_flush and close wait for
**    everything.  What 'gavel batch --audit' uses: the log costs a few
**    percent instead of a write(2) per line (bench/obs_batch.sh). */
typedef enum gavel_audit_durability {
  GAVEL_AUDIT_FLUSH_LINE = 0, /* write(2) per line (default)            */
  GAVEL_AUDIT_FSYNC_N = 1,    /* write per line, fdatasync every N      */
  GAVEL_AUDIT_ON_EXIT = 2,    /* buffered until full / flush / close    */
  GAVEL_AUDIT_GROUP_N = 3     /* flusher thread: write+fdatasync per N  */
} gavel_audit_durability;

typedef struct gavel_audit_opts {
  gavel_audit_durability durability; /* see above                        */
  uint32_t fsync_every;              /* N for FSYNC_N (0 = 1)            */
  size_t buffer_bytes;               /* ON_EXIT buffer (0 = 1 MiB)       */
  int no_hostcalls;                  /* 1: audit runs only, not calls    */
} gavel_audit_opts;

/* Opens (creates, appends to) 'path'; "-" is standard output.  'opts'
** may be NULL (FLUSH_LINE). */
GAVEL_API gavel_status gavel_audit_open(const char *path,
                                        const gavel_audit_opts *opts,
                                        gavel_audit **out, gavel_error *err);
/* Registers audit.logger in 'rt': operations "rule_executed" and "emit"
** write {"ts","event":<operation>,"ruleset","path","data":<params>}. */
GAVEL_API gavel_status gavel_audit_provide(gavel_audit *a, gavel_runtime *rt,
                                           gavel_error *err);
/* Adds an observer to 'rt' that writes one line per run
** (event "rule_executed": ts, trace_id, ruleset, version, status, code,
** duration_us, gas_used, input_sha256, error?) and per host-call attempt
** (event "host_call": capability, operation, attempt, outcome, ...). */
GAVEL_API gavel_status gavel_audit_attach(gavel_audit *a, gavel_runtime *rt,
                                          gavel_error *err);
/* Appends one line ('json' is a JSON object without the newline; the
** line is written whole, never interleaved with another). */
GAVEL_API gavel_status gavel_audit_write(gavel_audit *a, const char *json,
                                         size_t len, gavel_error *err);
/* Reopens the path (log rotation): later lines go to the new file. */
GAVEL_API gavel_status gavel_audit_reopen(gavel_audit *a, gavel_error *err);
/* Writes buffered lines and fdatasyncs the file. */
GAVEL_API gavel_status gavel_audit_flush(gavel_audit *a, gavel_error *err);
/* Installs a SIGHUP handler (process-wide, async-signal-safe): every
** open audit log reopens its path before its next line. */
GAVEL_API gavel_status gavel_audit_reopen_on_sighup(gavel_error *err);
/* Lines that could not be written (I/O errors seen by observers). */
GAVEL_API uint64_t gavel_audit_errors(const gavel_audit *a);
/* GAVEL_IO once any line was lost or a sync failed since the log was
** opened ("audit.logger: N lines lost writing 'PATH': reason"); GAVEL_OK
** otherwise.  Hosts that must not run without their audit trail poll it. */
GAVEL_API gavel_status gavel_audit_status(gavel_audit *a, gavel_error *err);
/* Flushes, closes and frees.  GAVEL_IO (as gavel_audit_status) when any
** line was lost since the log was opened, not only the last one. */
GAVEL_API gavel_status gavel_audit_close(gavel_audit *a, gavel_error *err);

/* ==== Decision capture (capture.c) ==== */

/* One JSON line per sampled run: {ts, ruleset, version, hash, trace_id,
** input, status, code, message, duration_us, gas_used, receipts:
** [{capability, operation, params, attempt, outcome, payload|error,
** metadata}], output}, for 'gavel replay'.  Receipts are recorded for
** every host call attempt that reached a provider or the host: synchronous
** providers and calls answered later through gavel_exec_resume_* alike. */
typedef struct gavel_capture gavel_capture;

typedef struct gavel_capture_opts {
  double sample;             /* fraction of runs kept (0 = all), by trace id */
  uint64_t rotate_bytes;     /* move PATH to PATH.N past this size (0 = no)  */
  int rotate_daily;          /* 1: move PATH to PATH.YYYY-MM-DD each UTC day */
  const char *const *redact; /* input paths ("applicant.ssn") written as
                                "sha256:<hex of salt + JSON>" (copied)        */
  size_t n_redact;           /* entries in 'redact'                          */
  const char *salt;          /* redaction salt (NULL: random per capture)    */
  gavel_audit_opts durability_opts; /* the audit log's durability policies   */
} gavel_capture_opts;

/* Opens (appends to) 'path' ("-" = standard output); 'o' may be NULL. */
GAVEL_API gavel_status gavel_capture_open(const char *path,
                                          const gavel_capture_opts *o,
                                          gavel_capture **out,
                                          gavel_error *err);
/* Records the content hash of a ruleset's document (the record's "hash",
** which 'gavel replay --verify' matches). */
/* "sha256:<hex>" of a ruleset document into 'out' (80 bytes). */
GAVEL_API void gavel_capture_hash(const char *text, size_t len, char out[80]);
GAVEL_API gavel_status gavel_capture_ruleset(gavel_capture *c,
                                             const char *name,
                                             const char *text, size_t len,
                                             gavel_error *err);
/* Observes the runtime's runs and host calls (turns on the call detail of
** gavel_event).  Attach before the runs to record. */
GAVEL_API gavel_status gavel_capture_attach(gavel_capture *c,
                                            gavel_runtime *rt,
                                            gavel_error *err);
/* Kept for hosts written before gavel_event.result: the observer now
** writes each record when its run ends (with the result), so there is
** nothing left to commit and this does nothing but return GAVEL_OK. */
GAVEL_API gavel_status gavel_capture_commit(gavel_capture *c,
                                            const char *result, size_t len);
GAVEL_API uint64_t gavel_capture_records(gavel_capture *c);
/* Flushes, closes and frees (after the runtime's last run).  GAVEL_IO
** when any record was lost. */
GAVEL_API gavel_status gavel_capture_close(gavel_capture *c, gavel_error *err);

#ifdef __cplusplus
}
#endif
#endif /* GAVEL_PROVIDERS_H */
