/*
** gavel.h -- public C API of the gavel rule engine.  The only installed header.
**
** Ownership, in one paragraph (read before using any function):
**  - gavel_*_new / _load / _compile return an object the caller owns; free it
**    with the matching gavel_*_free.  gavel_*_free(NULL) is a no-op.
**  - All other pointer arguments are borrowed for the duration of the call.
**  - A returned 'const char *' is borrowed: valid until the next call on the
**    same handle, or until the handle is freed.
**  - If a function that takes a callback fails, the callback is never called.
**
** Threads: a gavel_runtime, a gavel_ruleset and a gavel_expr are immutable
** after creation and may be shared by threads.  A gavel_exec (one execution
** context) and a gavel_expr's evaluation scratch are used by one thread at a
** time.  Errors are data: every fallible function returns a gavel_status and
** fills the caller's gavel_error (which may be NULL).  Nothing unwinds.
*/
#ifndef GAVEL_H
#define GAVEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GAVEL_API __attribute__((visibility("default")))
#else
#define GAVEL_API
#endif

#define GAVEL_VERSION_MAJOR 0
#define GAVEL_VERSION_MINOR 1
#define GAVEL_VERSION_PATCH 0
#define GAVEL_VERSION_STRING "0.1.0"
#define GAVEL_VERSION_NUM                                                     \
  ((GAVEL_VERSION_MAJOR << 16) | (GAVEL_VERSION_MINOR << 8) |                 \
   GAVEL_VERSION_PATCH)

typedef struct gavel_runtime gavel_runtime; /* engine instance, limits      */
typedef struct gavel_expr gavel_expr;       /* one compiled expression      */
typedef struct gavel_ruleset gavel_ruleset; /* one loaded, compiled ruleset */
typedef struct gavel_exec gavel_exec;       /* one (resumable) execution    */

/* Append-only.  Never renumber, never reuse a number. */
#define GAVEL_STATUS_MAP(X)                                                   \
  X(OK, 0, "success")                                                         \
  X(NOMEM, 1, "out of memory")                                                \
  X(MISUSE, 2, "API misuse")                                                  \
  X(JSON, 3, "malformed JSON document")                                       \
  X(COMPILE, 4, "expression does not compile")                               \
  X(RUNTIME, 5, "expression failed at run time")                             \
  X(CAPDENIED, 6, "capability not granted")                                  \
  X(HOST, 7, "host call failed")                                             \
  X(LIMIT, 8, "resource limit exceeded")                                     \
  X(LOAD, 9, "invalid rule document")                                        \
  X(PENDING, 10, "execution is waiting for a host call")                     \
  X(GAS, 11, "gas budget exhausted")                                         \
  X(EXEC, 12, "rule execution failed")                                       \
  X(NOTFOUND, 13, "not found")                                               \
  X(IO, 14, "I/O error")

typedef enum {
#define X(name, num, text) GAVEL_##name = num,
  GAVEL_STATUS_MAP(X)
#undef X
  GAVEL_STATUS__END
} gavel_status;

#define GAVEL_ERRMSG_SIZE 512
#define GAVEL_ERRPATH_SIZE 256

/* Caller-allocated; may live on the stack.  Filled on failure. */
typedef struct gavel_error {
  gavel_status code;             /* GAVEL_OK when nothing failed           */
  int line;                      /* 1-based line in an expression, or 0    */
  int column;                    /* 1-based column in an expression, or 0  */
  long offset;                   /* byte offset in a JSON document, or -1  */
  char path[GAVEL_ERRPATH_SIZE]; /* JSON path ("steps.a.branches[1]"), "" */
  char msg[GAVEL_ERRMSG_SIZE];   /* full message, NUL-terminated, "" on OK */
} gavel_error;

GAVEL_API unsigned gavel_version(void);
GAVEL_API const char *gavel_version_string(void);
GAVEL_API const char *gavel_strerror(gavel_status code); /* static text     */
GAVEL_API const char *gavel_status_name(gavel_status code); /* "GAVEL_JSON" */

/* ==== Runtime ==== */

/* One allocator hook, the shape of lua_Alloc: realloc(ud, p, old, new);
** new == 0 frees and returns NULL. */
typedef void *(*gavel_realloc_fn)(void *ud, void *p, size_t old_size,
                                  size_t new_size);

typedef struct gavel_config {
  unsigned abi;             /* set to GAVEL_VERSION_NUM                  */
  gavel_realloc_fn realloc; /* NULL: libc realloc/free                   */
  void *alloc_ud;           /* passed to 'realloc'                       */
  uint64_t gas_limit;       /* default per-run gas budget; 0 = built-in  */
  size_t max_input_bytes;   /* largest JSON input accepted; 0 = 64 MiB.
                               Fixed, not settable: every JSON document
                               (input, payloads, json_unmarshal) and Lua
                               table holds strings/keys of at most 16 MiB
                               (max_string_bytes), arrays of at most 1M
                               elements (max_array_len), objects of at most
                               1M members (max_object_keys), 512 levels   */
  int jit;                  /* JIT tier: 0 = GAVEL_JIT from the
                               environment ("on", "off", "auto"), else
                               auto; 1 on (compile at load), 2 off (VM
                               only), 3 auto (compile a program after
                               jit_threshold evaluations)                 */
  /* Host ceilings: a ruleset's config cannot raise a run's bounds above
  ** them, whatever it asks for (0 = the built-in default in brackets). */
  uint64_t max_gas;         /* ceiling on config.gas_limit [1e9]          */
  uint64_t max_steps;       /* ceiling on config.max_depth [1,000,000]    */
  uint32_t max_timeout_ms;  /* ceiling on config.timeout_ms; a ruleset's
                               "no timeout" (0) gets this one [60,000]    */
  size_t max_run_bytes;     /* memory one run may allocate [256 MiB]      */
  size_t max_result_bytes;  /* result JSON of one run [64 MiB]            */
  size_t max_call_bytes;    /* params JSON of one host call [16 MiB]      */
  uint32_t jit_threshold;   /* jit auto: evaluations before compiling
                               a program [1000]                           */
  size_t jit_max_code_bytes; /* machine code per runtime; over it,
                               programs stay in the VM [64 MiB]           */
} gavel_config;

/* 'cfg' may be NULL for defaults.  A mismatched major ABI is GAVEL_MISUSE. */
GAVEL_API gavel_status gavel_runtime_new(const gavel_config *cfg,
                                         gavel_runtime **out,
                                         gavel_error *err);
GAVEL_API void gavel_runtime_free(gavel_runtime *rt);

/* ==== Standalone expressions ==== */

GAVEL_API gavel_status gavel_expr_compile(gavel_runtime *rt, const char *src,
                                          size_t src_len, gavel_expr **out,
                                          gavel_error *err);
GAVEL_API void gavel_expr_free(gavel_expr *e);

/* Evaluate against a JSON context document (NULL/0 = JSON null).  On
** GAVEL_OK '*out' holds the result as JSON text (borrowed, see top). */
GAVEL_API gavel_status gavel_expr_eval_json(gavel_expr *e, const char *ctx,
                                            size_t ctx_len, const char **out,
                                            size_t *out_len, gavel_error *err);

/* The program listing (borrowed). */
GAVEL_API gavel_status gavel_expr_disasm(gavel_expr *e, const char **out,
                                         gavel_error *err);


/* ==== Host calls: capability providers ==== */

/* One host call: what an external_call or metric action asks for. */
typedef struct gavel_host_call {
  const char *capability; /* "network.http", "metrics.prometheus", ...   */
  const char *operation;  /* the action's method ("POST", "gauge", ...)  */
  const char *params;     /* parameters as a JSON object (borrowed)      */
  size_t params_len;      /* its length                                  */
  uint32_t timeout_ms;    /* the action's timeout_ms (0 = not given)     */
  const char *ruleset;    /* name of the calling ruleset                 */
  const char *path;       /* JSON path of the calling action             */
  uint32_t attempt;       /* 1-based attempt (policy retries)            */
  uint32_t delay_ms;      /* pending calls: wait this long first         */
  const char *const *http_allow; /* the calling ruleset's network.http
                             allowlist ("host", "host:port",
                             "scheme://host[:port]"); hosts serving
                             network.http must enforce it                */
  size_t n_http_allow;    /* entries in 'http_allow'                     */
  uint64_t trace_id;      /* id of the run (audit, logs)                 */
} gavel_host_call;

/* A synchronous provider written in C.  It answers with a JSON payload
** (and optional JSON object of string metadata) through
** gavel_reply_payload / gavel_reply_error on 'reply', then returns.  It
** must not re-enter the engine. */
typedef struct gavel_reply gavel_reply;
typedef void (*gavel_provider_fn)(void *ud, const gavel_host_call *call,
                                  gavel_reply *reply);
GAVEL_API gavel_status gavel_reply_payload(gavel_reply *reply,
                                           const char *payload_json,
                                           size_t payload_len,
                                           const char *metadata_json,
                                           size_t metadata_len);
GAVEL_API void gavel_reply_error(gavel_reply *reply, const char *message);
/* As gavel_reply_error, marking the failure as a timeout (metrics, audit). */
GAVEL_API void gavel_reply_timeout(gavel_reply *reply, const char *message);

/* Registers a provider for 'capability' in the runtime.  fn == NULL
** registers an *asynchronous* capability: calls to it make the execution
** return GAVEL_PENDING, and the host answers with gavel_exec_resume_*.
** Register before loading rulesets that use it; not thread-safe with
** concurrent loads or runs. */
GAVEL_API gavel_status gavel_runtime_provide(gavel_runtime *rt,
                                             const char *capability,
                                             gavel_provider_fn fn, void *ud,
                                             gavel_error *err);

/* Resolver for call_rule_set: name -> loaded ruleset (borrowed, must stay
** alive for the run), or NULL when unknown. */
typedef gavel_ruleset *(*gavel_resolver_fn)(void *ud, const char *name);
GAVEL_API void gavel_runtime_set_resolver(gavel_runtime *rt,
                                          gavel_resolver_fn fn, void *ud);


/* ==== Policies at the capability boundary ==== */

/* Applied by the engine to every call of a capability, whatever provider
** serves it (C or Lua, synchronous or pending). */
typedef struct gavel_policy {
  uint32_t max_timeout_ms;   /* cap on an action's timeout_ms; also the
                                default when the action gives none (0 =
                                no cap / no default)                     */
  uint32_t retries;          /* extra attempts after a failure, only for
                                idempotent operations (0 = none)         */
  uint32_t backoff_ms;       /* first retry delay; doubles each attempt  */
  uint32_t backoff_max_ms;   /* cap on the delay (0 = 30 s)              */
  uint32_t breaker_threshold; /* consecutive failures that open the
                                circuit (0 = no breaker)                 */
  uint32_t breaker_reset_ms; /* how long it stays open before one trial
                                call is let through (half-open)          */
  uint32_t max_concurrency;  /* calls in flight at once (0 = no limit)   */
  const char *const *idempotent_ops; /* operations that may be retried;
                                NULL = GET HEAD PUT DELETE OPTIONS (the
                                HTTP idempotent methods, any case)       */
  size_t n_idempotent_ops;   /* entries                                  */
} gavel_policy;

/* Sets the policy of 'capability' (copied).  Not thread-safe with runs. */
GAVEL_API gavel_status gavel_runtime_set_policy(gavel_runtime *rt,
                                                const char *capability,
                                                const gavel_policy *policy,
                                                gavel_error *err);

/* The network.http allowlist decision (core/allow.c), shared by every
** provider of network.http: 1 when scheme ("http" or "https"), host
** (host_len bytes, any case, [v6] brackets and a final dot allowed) and
** port match one of the 'n' entries ("host", "host:port",
** "scheme://host[:port]", "*.domain", "*"), else 0.  Malformed entries
** never match; gavel_http_allow_entry_valid tells them apart (1 = valid). */
GAVEL_API int gavel_http_allow_match(const char *scheme, const char *host,
                                     size_t host_len, long port,
                                     const char *const *allow, size_t n);
GAVEL_API int gavel_http_allow_entry_valid(const char *entry);

/* ==== Observation (metrics, audit) ==== */

typedef enum {
  GAVEL_EVENT_RUN = 1,     /* a run finished (result or error)         */
  GAVEL_EVENT_HOSTCALL = 2 /* a host call finished (each attempt)      */
} gavel_event_kind;

typedef struct gavel_event {
  gavel_event_kind kind;   /* what happened                             */
  const char *ruleset;     /* ruleset name                              */
  const char *version;     /* ruleset version                           */
  gavel_status status;     /* GAVEL_OK or the failure                   */
  const char *code;        /* RUN: result code ("" on error)            */
  const char *message;     /* error message, or ""                      */
  uint64_t duration_ns;    /* run / call duration                       */
  uint64_t gas_used;       /* RUN: gas used                             */
  const char *input;       /* RUN: input JSON text, or NULL             */
  size_t input_len;        /* its length                                */
  const char *capability;  /* HOSTCALL: capability                      */
  const char *operation;   /* HOSTCALL: operation                       */
  const char *outcome;     /* HOSTCALL: "ok" "error" "timeout"
                              "circuit_open" "retry" "busy"              */
  uint32_t attempt;        /* HOSTCALL: 1-based attempt number          */
  uint64_t trace_id;       /* per-run id, unique within the process     */
  /* Appended in 0.1 (observers built before read only the fields above). */
  const char *result;      /* RUN: the result JSON {"code","message",
                              "output"} (no trace) when status is GAVEL_OK,
                              else NULL; borrowed for the call            */
  size_t result_len;       /* its length                                */
  /* Appended in 0.2: what a host call asked and got, as compact JSON
  ** text, borrowed for the call.  Filled only when the runtime records
  ** call detail (gavel_capture_attach turns it on), and only for attempts
  ** that reached a provider (not "circuit_open" / "busy"); else NULL. */
  const char *params;      /* HOSTCALL: the call's params object        */
  size_t params_len;       /* its length                                */
  const char *payload;     /* HOSTCALL "ok": the answer's payload       */
  size_t payload_len;      /* its length                                */
  const char *metadata;    /* HOSTCALL "ok": the answer's metadata      */
  size_t metadata_len;     /* its length                                */
} gavel_event;

/* Called synchronously from the thread running the execution; must be
** thread-safe when executions run on several threads. */
typedef void (*gavel_observer_fn)(void *ud, const gavel_event *ev);
GAVEL_API gavel_status gavel_runtime_add_observer(gavel_runtime *rt,
                                                  gavel_observer_fn fn,
                                                  void *ud, gavel_error *err);

/* ==== Rulesets ==== */

typedef enum { GAVEL_DIAG_ERROR = 0, GAVEL_DIAG_WARNING = 1 } gavel_diag_level;
/* Called once per problem found while loading; 'e' is borrowed. */
typedef void (*gavel_diag_fn)(void *ud, gavel_diag_level level,
                              const gavel_error *e);

typedef struct gavel_load_opts {
  gavel_diag_fn diag;        /* every error and warning (may be NULL)      */
  void *diag_ud;             /* its user data                              */
  const char *const *grants; /* capabilities granted (NULL = all provided) */
  size_t n_grants;           /* entries in 'grants'                        */
  int no_capability_check;   /* 1: skip the provided/granted check ('check')*/
  const char *const *http_allow; /* network.http allowlist of this ruleset:
                                "host", "host:port", "scheme://host[:port]";
                                NULL = none (calls are denied)            */
  size_t n_http_allow;       /* entries in 'http_allow'                    */
  int jit;                   /* this ruleset's JIT tier, as
                                gavel_config.jit (0 = the runtime's)      */
} gavel_load_opts;

/* Parses, validates and compiles a ruleset.  All problems go to
** opts->diag; 'err' receives the first error (GAVEL_JSON, GAVEL_LOAD,
** GAVEL_CAPDENIED, GAVEL_COMPILE...).  The runtime must outlive the
** ruleset. */
GAVEL_API gavel_status gavel_ruleset_load(gavel_runtime *rt, const char *json,
                                          size_t json_len,
                                          const gavel_load_opts *opts,
                                          gavel_ruleset **out,
                                          gavel_error *err);
GAVEL_API void gavel_ruleset_free(gavel_ruleset *rs);
GAVEL_API const char *gavel_ruleset_name(const gavel_ruleset *rs);

/* ==== Executions (resumable) ==== */

#define GAVEL_RUN_TRACE 1u /* include the trace in the result */

/* An execution context for one ruleset; reusable for many runs, one thread
** at a time.  Runs allocate nothing after the first few (arena reuse). */
GAVEL_API gavel_status gavel_exec_new(gavel_ruleset *rs, gavel_exec **out,
                                      gavel_error *err);
GAVEL_API void gavel_exec_free(gavel_exec *ex);

/* Runs the ruleset on a JSON input.  Returns GAVEL_OK with the result
** JSON in '*out' ({"code","message","output"[, "trace"]}, borrowed), or
** GAVEL_PENDING when an asynchronous host call is needed (see
** gavel_exec_pending), or an error (GAVEL_JSON for bad input, GAVEL_EXEC,
** GAVEL_GAS, GAVEL_HOST, GAVEL_LIMIT, ...). */
GAVEL_API gavel_status gavel_exec_run_json(gavel_exec *ex, const char *input,
                                           size_t input_len, unsigned flags,
                                           const char **out, size_t *out_len,
                                           gavel_error *err);
/* The pending host call (borrowed until the next call on 'ex'). */
GAVEL_API gavel_status gavel_exec_pending(gavel_exec *ex,
                                          gavel_host_call *call,
                                          gavel_error *err);
/* Resumes a pending execution with the provider's payload (JSON; metadata
** is a JSON object of strings or NULL) or with an error message.  Returns
** as gavel_exec_run_json does. */
GAVEL_API gavel_status gavel_exec_resume_json(gavel_exec *ex,
                                              const char *payload,
                                              size_t payload_len,
                                              const char *metadata,
                                              size_t metadata_len,
                                              const char **out,
                                              size_t *out_len,
                                              gavel_error *err);
GAVEL_API gavel_status gavel_exec_resume_error(gavel_exec *ex,
                                               const char *message,
                                               const char **out,
                                               size_t *out_len,
                                               gavel_error *err);
/* Drops a pending execution; 'ex' is ready for a new run. */
GAVEL_API void gavel_exec_abandon(gavel_exec *ex);

#ifdef __cplusplus
}
#endif
#endif /* GAVEL_H */
