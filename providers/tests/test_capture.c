/*
** test_capture.c -- decision capture (capture.c): concurrent runs give
** exactly one valid record each, with the receipt of their own host call
** and their own output; size rotation loses no record; a run the host
** never commits is written with its output (a pure observer); calls of an
** asynchronous capability answered through resume have their receipts;
** redaction; option errors.
*/
#include "prov_test.h"
#include <pthread.h>
#include <unistd.h>

static void tmpname(char *buf, size_t n, const char *tag) {
  snprintf(buf, n, "/tmp/gv_capture_%s_%ld", tag, (long)getpid());
  unlink(buf);
}

/* Every line of 'path' parsed; returns the count (-1 when one is not a
** JSON object or the last is cut).  'each' sees every record. */
static int scan(const char *path, void (*each)(cJSON *, void *), void *ud) {
  FILE *f = fopen(path, "rb");
  char *text, *p, *nl;
  size_t len;
  int n = 0;
  if (!f)
    return 0;
  fseek(f, 0, SEEK_END);
  len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  text = malloc(len + 1);
  len = fread(text, 1, len, f);
  text[len] = 0;
  fclose(f);
  for (p = text; *p; p = nl + 1) {
    cJSON *j;
    if (!(nl = strchr(p, '\n'))) {
      n = -1;
      break;
    }
    *nl = 0;
    if (!(j = cJSON_Parse(p)) || !cJSON_IsObject(j)) {
      cJSON_Delete(j);
      n = -1;
      break;
    }
    if (each)
      each(j, ud);
    cJSON_Delete(j);
    n++;
  }
  free(text);
  return n;
}

/* svc doubles params.n */
static void svc(void *ud, const gavel_host_call *c, gavel_reply *r) {
  cJSON *p = cJSON_Parse(c->params);
  char buf[64];
  (void)ud;
  snprintf(buf, sizeof buf, "{\"d\":%d}",
           2 * (int)cJSON_GetNumberValue(cJSON_GetObjectItem(p, "n")));
  cJSON_Delete(p);
  gavel_reply_payload(r, buf, strlen(buf), "{\"k\":\"v\"}", 9);
}

static const char *RULES =
    "{\"config\":{\"name\":\"cap\",\"version\":\"1.1\"},\"steps\":{"
    "\"start\":{\"id\":\"start\",\"name\":\"S\",\"type\":\"action\","
    "\"actions\":[{\"action\":\"external_call\",\"service\":\"svc\","
    "\"method\":\"GET\",\"params\":[[\"n\",{\"Field\":\"n\"}]],"
    "\"result_variable\":\"r\"}],\"next_step\":\"t\"},"
    "\"t\":{\"id\":\"t\",\"name\":\"T\",\"type\":\"terminal\",\"result\":{"
    "\"code\":\"DONE\",\"message\":\"m\",\"output\":[[\"d\",\"$r.payload.d\"],"
    "[\"n\",{\"Field\":\"n\"}]]}}}}";

typedef struct env {
  gavel_runtime *rt;
  gavel_capture *c;
  gavel_ruleset *rs;
} env;

static void setup(env *v, const char *path, const gavel_capture_opts *o) {
  gavel_error e;
  memset(v, 0, sizeof *v);
  CHECK(gavel_runtime_new(NULL, &v->rt, &e) == GAVEL_OK);
  CHECK(gavel_runtime_provide(v->rt, "svc", svc, NULL, &e) == GAVEL_OK);
  CHECK(gavel_capture_open(path, o, &v->c, &e) == GAVEL_OK);
  CHECK(gavel_capture_attach(v->c, v->rt, &e) == GAVEL_OK);
  CHECK(gavel_capture_ruleset(v->c, "cap", RULES, strlen(RULES), &e) ==
        GAVEL_OK);
  CHECK(gavel_ruleset_load(v->rt, RULES, strlen(RULES), NULL, &v->rs, &e) ==
        GAVEL_OK);
}

static int teardown(env *v) {
  gavel_error e;
  int bad = gavel_capture_close(v->c, &e) != GAVEL_OK;
  gavel_ruleset_free(v->rs);
  gavel_runtime_free(v->rt);
  return bad;
}

typedef struct job {
  env *v;
  int id, runs, errors;
} job;

static void *runner(void *p) {
  job *j = p;
  gavel_exec *ex = NULL;
  int i;
  gavel_exec_new(j->v->rs, &ex, NULL);
  for (i = 0; i < j->runs; i++) {
    char in[64];
    const char *out;
    size_t n;
    gavel_status st;
    snprintf(in, sizeof in, "{\"n\":%d}", j->id * 100000 + i);
    st = gavel_exec_run_json(ex, in, strlen(in), 0, &out, &n, NULL);
    if (st != GAVEL_OK) {
      j->errors++;
      gavel_capture_commit(j->v->c, NULL, 0);
    } else
      gavel_capture_commit(j->v->c, out, n);
  }
  gavel_exec_free(ex);
  return NULL;
}

typedef struct tally {
  int bad;
  int n;
} tally;

/* each record: its receipt asked for its own n, its output is its own */
static void check_record(cJSON *j, void *ud) {
  tally *t = ud;
  cJSON *rc = cJSON_GetArrayItem(jget(j, "receipts"), 0);
  double n = jnum(j, "input.n");
  t->n++;
  if (cJSON_GetArraySize(jget(j, "receipts")) != 1 || !rc ||
      jnum(rc, "params.n") != n || jnum(rc, "payload.d") != 2 * n ||
      jnum(j, "output.d") != 2 * n || jnum(j, "output.n") != n ||
      !jstr(j, "code") || strcmp(jstr(j, "code"), "DONE") ||
      !jstr(j, "message") || strcmp(jstr(j, "message"), "m") ||
      !jstr(rc, "outcome") || strcmp(jstr(rc, "outcome"), "ok") ||
      !jstr(rc, "metadata.k") || !jstr(j, "hash") ||
      strncmp(jstr(j, "hash"), "sha256:", 7) ||
      strcmp(jstr(j, "version"), "1.1"))
    t->bad++;
}

#define THREADS 6
#define RUNS 400

TEST(concurrent_runs_give_one_record_each_with_their_own_receipts) {
  char path[256];
  env v;
  job j[THREADS];
  pthread_t th[THREADS];
  tally t = {0, 0};
  int i;
  tmpname(path, sizeof path, "conc");
  setup(&v, path, NULL);
  for (i = 0; i < THREADS; i++) {
    j[i].v = &v;
    j[i].id = i;
    j[i].runs = RUNS;
    j[i].errors = 0;
    pthread_create(&th[i], NULL, runner, &j[i]);
  }
  for (i = 0; i < THREADS; i++) {
    pthread_join(th[i], NULL);
    CHECK(j[i].errors == 0);
  }
  CHECK(gavel_capture_records(v.c) == THREADS * RUNS);
  CHECK(teardown(&v) == 0);
  CHECK(scan(path, check_record, &t) == THREADS * RUNS);
  CHECK(t.bad == 0);
  unlink(path);
}

TEST(size_rotation_loses_no_record) {
  char path[256], rot[300];
  gavel_capture_opts o;
  env v;
  job j;
  int total, k, files = 1;
  tmpname(path, sizeof path, "rot");
  memset(&o, 0, sizeof o);
  o.rotate_bytes = 3000;
  setup(&v, path, &o);
  j.v = &v;
  j.id = 1;
  j.runs = 60;
  j.errors = 0;
  runner(&j);
  CHECK(teardown(&v) == 0);
  total = scan(path, NULL, NULL);
  for (k = 1; k < 200; k++) {
    int n;
    snprintf(rot, sizeof rot, "%s.%d", path, k);
    if (access(rot, F_OK) != 0)
      break;
    n = scan(rot, NULL, NULL);
    CHECK(n > 0);
    total += n;
    files++;
    unlink(rot);
  }
  CHECK(files > 3);
  CHECK(total == 60);
  unlink(path);
}

static void with_output(cJSON *j, void *ud) {
  tally *t = ud;
  t->n++;
  if (!jget(j, "output") || !jget(j, "input") ||
      !jstr(j, "message") || strcmp(jstr(j, "message"), "m"))
    t->bad++;
}

/* gavel_event.result: the capture is a pure observer, every record is
** complete (with its output) without gavel_capture_commit. */
TEST(runs_never_committed_are_written_with_their_output) {
  char path[256];
  env v;
  gavel_exec *ex = NULL;
  const char *out;
  size_t n;
  tally t = {0, 0};
  tmpname(path, sizeof path, "nocommit");
  setup(&v, path, NULL);
  gavel_exec_new(v.rs, &ex, NULL);
  CHECK(gavel_exec_run_json(ex, "{\"n\":1}", 7, 0, &out, &n, NULL) == GAVEL_OK);
  CHECK(gavel_exec_run_json(ex, "{\"n\":2}", 7, 0, &out, &n, NULL) == GAVEL_OK);
  CHECK(gavel_capture_records(v.c) == 2); /* written when each run ended */
  gavel_exec_free(ex);
  CHECK(teardown(&v) == 0);
  CHECK(scan(path, with_output, &t) == 2);
  CHECK(t.bad == 0);
  unlink(path);
}

TEST(redacted_paths_are_salted_hashes) {
  char path[256];
  const char *red[] = {"n", "who.ssn"};
  gavel_capture_opts o;
  env v;
  gavel_exec *ex = NULL;
  const char *out;
  size_t n;
  cJSON *j;
  char *text;
  FILE *f;
  long len;
  tmpname(path, sizeof path, "redact");
  memset(&o, 0, sizeof o);
  o.redact = red;
  o.n_redact = 2;
  o.salt = "s";
  setup(&v, path, &o);
  gavel_exec_new(v.rs, &ex, NULL);
  CHECK(gavel_exec_run_json(ex, "{\"n\":7,\"who\":[{\"ssn\":\"123-45\"}]}", 32,
                            0, &out, &n, NULL) == GAVEL_OK);
  gavel_capture_commit(v.c, out, n);
  gavel_exec_free(ex);
  CHECK(teardown(&v) == 0);
  f = fopen(path, "rb");
  fseek(f, 0, SEEK_END);
  len = ftell(f);
  fseek(f, 0, SEEK_SET);
  text = calloc(1, (size_t)len + 1);
  CHECK(fread(text, 1, (size_t)len, f) == (size_t)len);
  fclose(f);
  CHECK(strstr(text, "123-45") == NULL);
  j = cJSON_Parse(text);
  CHECK(j != NULL);
  CHECK(jstr(j, "input.n") && !strncmp(jstr(j, "input.n"), "sha256:", 7));
  CHECK(strlen(jstr(j, "input.n")) == 7 + 64);
  CHECK(!strncmp(cJSON_GetObjectItem(cJSON_GetArrayItem(jget(j, "input.who"), 0),
                                     "ssn")->valuestring, "sha256:", 7));
  cJSON_Delete(j);
  free(text);
  unlink(path);
}

static const char *RULES_ASYNC =
    "{\"config\":{\"name\":\"capa\",\"version\":\"1\"},\"steps\":{"
    "\"start\":{\"id\":\"start\",\"name\":\"S\",\"type\":\"action\","
    "\"actions\":[{\"action\":\"external_call\",\"service\":\"asvc\","
    "\"method\":\"GET\",\"params\":[[\"n\",{\"Field\":\"n\"}]],"
    "\"result_variable\":\"r\"}],\"next_step\":\"t\"},"
    "\"t\":{\"id\":\"t\",\"name\":\"T\",\"type\":\"terminal\",\"result\":{"
    "\"code\":\"DONE\",\"output\":[[\"d\",\"$r.payload.d\"]]}}}}";

typedef struct async_tally {
  int n, ok, failed, bad;
} async_tally;

/* n 1 and 2 were answered {"d": 2n}, n 3 failed with "down" */
static void check_async(cJSON *j, void *ud) {
  async_tally *t = ud;
  cJSON *rs = jget(j, "receipts"), *rc = cJSON_GetArrayItem(rs, 0);
  double n = jnum(j, "input.n");
  t->n++;
  if (cJSON_GetArraySize(rs) != 1 || !rc || jnum(rc, "params.n") != n ||
      !jstr(rc, "capability") || strcmp(jstr(rc, "capability"), "asvc")) {
    t->bad++;
    return;
  }
  if (n == 3) {
    if (jstr(rc, "outcome") && !strcmp(jstr(rc, "outcome"), "error") &&
        jstr(rc, "error") && !strcmp(jstr(rc, "error"), "down") &&
        !jget(rc, "payload"))
      t->failed++;
    else
      t->bad++;
  } else if (jstr(rc, "outcome") && !strcmp(jstr(rc, "outcome"), "ok") &&
             jnum(rc, "payload.d") == 2 * n && jstr(rc, "metadata.k") &&
             jnum(j, "output.d") == 2 * n)
    t->ok++;
  else
    t->bad++;
}

/* An asynchronous capability (the host answers through
** gavel_exec_resume_*, as gavel serve's event loop does): every attempt
** has its receipt, also when runs pending at once are resumed out of
** order on one thread; a run abandoned while pending writes nothing. */
TEST(pending_calls_resumed_later_have_receipts) {
  char path[256];
  gavel_runtime *rt = NULL;
  gavel_capture *c = NULL;
  gavel_ruleset *rs = NULL;
  gavel_exec *ex[4] = {NULL, NULL, NULL, NULL};
  gavel_error e;
  const char *out;
  size_t n;
  int i;
  async_tally t = {0, 0, 0, 0};
  tmpname(path, sizeof path, "async");
  CHECK(gavel_runtime_new(NULL, &rt, &e) == GAVEL_OK);
  CHECK(gavel_runtime_provide(rt, "asvc", NULL, NULL, &e) == GAVEL_OK);
  CHECK(gavel_capture_open(path, NULL, &c, &e) == GAVEL_OK);
  CHECK(gavel_capture_attach(c, rt, &e) == GAVEL_OK);
  CHECK(gavel_ruleset_load(rt, RULES_ASYNC, strlen(RULES_ASYNC), NULL, &rs,
                           &e) == GAVEL_OK);
  for (i = 0; i < 4; i++) {
    char in[32]; /* reused: each run's input outlives this buffer */
    snprintf(in, sizeof in, "{\"n\":%d}", i + 1);
    CHECK(gavel_exec_new(rs, &ex[i], &e) == GAVEL_OK);
    CHECK(gavel_exec_run_json(ex[i], in, strlen(in), 0, &out, &n, &e) ==
          GAVEL_PENDING);
  }
  /* out of order: 3 fails, 2 then 1 answered, 4 abandoned */
  CHECK(gavel_exec_resume_error(ex[2], "down", &out, &n, &e) == GAVEL_HOST);
  CHECK(gavel_exec_resume_json(ex[1], "{\"d\":4}", 7, "{\"k\":\"v\"}", 9, &out,
                               &n, &e) == GAVEL_OK);
  gavel_exec_abandon(ex[3]);
  CHECK(gavel_exec_resume_json(ex[0], "{\"d\":2}", 7, "{\"k\":\"v\"}", 9, &out,
                               &n, &e) == GAVEL_OK);
  CHECK(gavel_capture_records(c) == 3);
  for (i = 0; i < 4; i++)
    gavel_exec_free(ex[i]);
  CHECK(gavel_capture_close(c, &e) == GAVEL_OK);
  gavel_ruleset_free(rs);
  gavel_runtime_free(rt);
  CHECK(scan(path, check_async, &t) == 3);
  CHECK(t.ok == 2 && t.failed == 1 && t.bad == 0);
  unlink(path);
}

/* More runs in flight with receipts than the capture keeps (4,096): the
** oldest's receipts are dropped, so its record is lost (counted, close
** says so), never written without them; it was written, one receipt
** short, and replay would have called it a new host call. */
TEST(a_run_whose_receipts_were_dropped_is_lost_not_written_short) {
  static const char *rules =
      "{\"config\":{\"name\":\"two\",\"entry_step\":\"a\"},\"steps\":{"
      "\"a\":{\"id\":\"a\",\"name\":\"A\",\"type\":\"action\",\"actions\":["
      "{\"action\":\"external_call\",\"service\":\"asvc\",\"method\":\"GET\","
      "\"params\":[[\"k\",{\"Literal\":1}]],\"result_variable\":\"r1\"},"
      "{\"action\":\"external_call\",\"service\":\"asvc\",\"method\":\"GET\","
      "\"params\":[[\"k\",{\"Literal\":2}]],\"result_variable\":\"r2\"}],"
      "\"next_step\":\"t\"},\"t\":{\"id\":\"t\",\"name\":\"T\",\"type\":"
      "\"terminal\",\"result\":{\"code\":\"OK\"}}}}";
  enum { N = 4097 };
  char path[256];
  gavel_runtime *rt = NULL;
  gavel_capture *c = NULL;
  gavel_ruleset *rs = NULL;
  gavel_exec **ex = calloc(N, sizeof *ex);
  gavel_error e;
  const char *out;
  size_t n;
  int i, ok = 1;
  tmpname(path, sizeof path, "inflight");
  CHECK(gavel_runtime_new(NULL, &rt, &e) == GAVEL_OK);
  CHECK(gavel_runtime_provide(rt, "asvc", NULL, NULL, &e) == GAVEL_OK);
  CHECK(gavel_capture_open(path, NULL, &c, &e) == GAVEL_OK);
  CHECK(gavel_capture_attach(c, rt, &e) == GAVEL_OK);
  CHECK(gavel_ruleset_load(rt, rules, strlen(rules), NULL, &rs, &e) ==
        GAVEL_OK);
  for (i = 0; i < N; i++) { /* each past its first call, on its second */
    ok &= gavel_exec_new(rs, &ex[i], &e) == GAVEL_OK &&
          gavel_exec_run_json(ex[i], "{}", 2, 0, &out, &n, &e) ==
              GAVEL_PENDING &&
          gavel_exec_resume_json(ex[i], "1", 1, NULL, 0, &out, &n, &e) ==
              GAVEL_PENDING;
  }
  CHECK(ok);
  for (i = 0; i < N; i++) {
    ok &= gavel_exec_resume_json(ex[i], "2", 1, NULL, 0, &out, &n, &e) ==
          GAVEL_OK;
    gavel_capture_commit(c, out, n);
  }
  CHECK(ok);
  CHECK(gavel_capture_records(c) == N - 1);
  for (i = 0; i < N; i++)
    gavel_exec_free(ex[i]);
  free(ex);
  CHECK(gavel_capture_close(c, &e) == GAVEL_IO);
  gavel_ruleset_free(rs);
  gavel_runtime_free(rt);
  unlink(path);
}

TEST(bad_options_are_misuse) {
  gavel_capture_opts o;
  gavel_capture *c = NULL;
  gavel_error e;
  memset(&o, 0, sizeof o);
  o.sample = 1.5;
  CHECK(gavel_capture_open("/tmp/x", &o, &c, &e) == GAVEL_MISUSE);
  CHECK(strstr(e.msg, "sample rate") != NULL);
  CHECK(c == NULL);
  CHECK(gavel_capture_open("/nonexistent-dir/x.jsonl", NULL, &c, &e) ==
        GAVEL_IO);
  CHECK(c == NULL);
}

TEST_MAIN()
