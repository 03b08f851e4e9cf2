/*
** test_audit.c -- audit.logger: N concurrent writers x M events give
** exactly N*M valid JSON lines; SIGKILL after a flushed line loses nothing
** before it (and the ON_EXIT policy's documented loss); reopen and SIGHUP
** for rotation; the fields of run and host-call lines; the capability;
** the input digests (SHA-NI, two at a time) against OpenSSL's.
*/
#include "prov_test.h"
#include "sha256x2.h"
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void tmpname(char *buf, size_t n, const char *tag) {
  snprintf(buf, n, "/tmp/gv_audit_%s_%ld", tag, (long)getpid());
  unlink(buf);
}

/* Reads 'path' and checks every line is a JSON object; returns the
** number of lines (-1 when one is invalid or the last is cut). */
static int count_lines(const char *path, cJSON **last) {
  size_t len;
  FILE *f = fopen(path, "rb");
  char *text, *p, *nl;
  int n = 0;
  if (last)
    *last = NULL;
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
      n = -1; /* a cut line */
      break;
    }
    *nl = 0;
    if (!(j = cJSON_Parse(p)) || !cJSON_IsObject(j)) {
      cJSON_Delete(j);
      n = -1;
      break;
    }
    n++;
    if (last) {
      cJSON_Delete(*last);
      *last = j;
    } else
      cJSON_Delete(j);
  }
  free(text);
  return n;
}

typedef struct wr {
  gavel_audit *a; /* the log     */
  int id;         /* writer id   */
  int errors;     /* failed writes */
} wr;

#define N_WRITERS 8
#define M_EVENTS 500

static void *writer(void *p) {
  wr *w = p;
  char line[8192];
  gavel_error e;
  int i;
  for (i = 0; i < M_EVENTS; i++) {
    /* lengths up to ~6 KB: beyond PIPE_BUF, so atomicity is ours */
    int pad = (i * 37 + w->id * 101) % 6000;
    int n = snprintf(line, sizeof line, "{\"w\":%d,\"i\":%d,\"pad\":\"%*s\"}",
                     w->id, i, pad, "");
    if (gavel_audit_write(w->a, line, (size_t)n, &e) != GAVEL_OK)
      w->errors++;
  }
  return NULL;
}

TEST(n_concurrent_writers_times_m_events_give_exactly_nxm_valid_lines) {
  static const gavel_audit_durability modes[4] = {
      GAVEL_AUDIT_FLUSH_LINE, GAVEL_AUDIT_FSYNC_N, GAVEL_AUDIT_ON_EXIT,
      GAVEL_AUDIT_GROUP_N};
  int k;
  for (k = 0; k < 4; k++) {
    char path[256];
    gavel_audit_opts o;
    gavel_audit *a;
    gavel_error e;
    pthread_t th[N_WRITERS];
    wr w[N_WRITERS];
    double t0;
    int i, errors = 0;
    tmpname(path, sizeof path, "nxm");
    memset(&o, 0, sizeof o);
    o.durability = modes[k];
    o.fsync_every = 256;
    o.buffer_bytes = 64 << 10;
    CHECK(gavel_audit_open(path, &o, &a, &e) == GAVEL_OK);
    t0 = now_ms();
    for (i = 0; i < N_WRITERS; i++) {
      w[i].a = a;
      w[i].id = i;
      w[i].errors = 0;
      pthread_create(&th[i], NULL, writer, &w[i]);
    }
    for (i = 0; i < N_WRITERS; i++) {
      pthread_join(th[i], NULL);
      errors += w[i].errors;
    }
    CHECK(gavel_audit_close(a, &e) == GAVEL_OK);
    printf("  durability %d: %d lines in %.1f ms\n", (int)modes[k],
           N_WRITERS * M_EVENTS, now_ms() - t0);
    CHECK(errors == 0);
    CHECK(count_lines(path, NULL) == N_WRITERS * M_EVENTS);
    unlink(path);
  }
}

/* Child: writes numbered lines, acknowledging each on 'ack' after the
** call returned.  Never returns. */
static void child_writer(const char *path, gavel_audit_durability d,
                         int ack) {
  gavel_audit_opts o;
  gavel_audit *a;
  gavel_error e;
  char line[128];
  int i;
  memset(&o, 0, sizeof o);
  o.durability = d;
  if (gavel_audit_open(path, &o, &a, &e) != GAVEL_OK)
    _exit(3);
  for (i = 0;; i++) {
    int n = snprintf(line, sizeof line, "{\"seq\":%d}", i);
    gavel_audit_write(a, line, (size_t)n, &e);
    if (write(ack, &i, sizeof i) != sizeof i)
      _exit(4);
  }
}

/* Forks a writer, kills it with SIGKILL after 'acks' acknowledged lines;
** returns the last acknowledged sequence number. */
static int kill_after(const char *path, gavel_audit_durability d, int acks) {
  int fds[2], seq = -1, got = 0, st;
  pid_t pid;
  if (pipe(fds) != 0)
    return -2;
  if ((pid = fork()) == 0) {
    close(fds[0]);
    child_writer(path, d, fds[1]);
  }
  close(fds[1]);
  while (got < acks && read(fds[0], &seq, sizeof seq) == sizeof seq)
    got++;
  kill(pid, SIGKILL);
  waitpid(pid, &st, 0);
  close(fds[0]);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  return seq;
}

TEST(sigkill_after_a_flushed_line_loses_nothing_before_it) {
  char path[256];
  cJSON *last;
  int acked, n, round;
  for (round = 0; round < 5; round++) {
    tmpname(path, sizeof path, "kill");
    acked = kill_after(path, GAVEL_AUDIT_FLUSH_LINE, 200 + round * 300);
    n = count_lines(path, &last);
    /* every acknowledged line is there, complete; the child may have
    ** written one or more further lines before it died */
    CHECK(n >= acked + 1);
    CHECK(last && jnum(last, "seq") == n - 1);
    cJSON_Delete(last);
    unlink(path);
  }
  /* the documented trade-off: ON_EXIT keeps lines in memory */
  tmpname(path, sizeof path, "kill2");
  acked = kill_after(path, GAVEL_AUDIT_ON_EXIT, 50);
  CHECK(acked == 49);
  CHECK(count_lines(path, NULL) == 0);
  unlink(path);
}

/* GROUP_N (what 'gavel batch --audit' uses): every fsync_every lines the
** flusher thread writes and syncs them without the writer waiting; the
** rest is written by flush; close loses nothing. */
TEST(group_commit_writes_every_n_lines_in_the_background) {
  char path[256];
  gavel_audit_opts o;
  gavel_audit *a;
  gavel_error e;
  double t0;
  int i, n = 0;
  tmpname(path, sizeof path, "group");
  memset(&o, 0, sizeof o);
  o.durability = GAVEL_AUDIT_GROUP_N;
  o.fsync_every = 100;
  CHECK(gavel_audit_open(path, &o, &a, &e) == GAVEL_OK);
  for (i = 0; i < 250; i++) {
    char line[64];
    int k = snprintf(line, sizeof line, "{\"seq\":%d}", i);
    CHECK(gavel_audit_write(a, line, (size_t)k, &e) == GAVEL_OK);
  }
  /* at least the two full batches of 100 are written by the flusher (it
  ** takes whatever is buffered when it wakes: group commit) */
  for (t0 = now_ms(); now_ms() - t0 < 10000; usleep(2000))
    if ((n = count_lines(path, NULL)) >= 200)
      break;
  CHECK(n >= 200 && n <= 250);
  CHECK(gavel_audit_flush(a, &e) == GAVEL_OK);
  CHECK(count_lines(path, NULL) == 250);
  for (i = 0; i < 30; i++)
    CHECK(gavel_audit_write(a, "{\"more\":1}", 10, &e) == GAVEL_OK);
  CHECK(gavel_audit_close(a, &e) == GAVEL_OK);
  CHECK(count_lines(path, NULL) == 280);
  unlink(path);
}

/* A quiet host (gavel serve): a batch that never fills is still written
** by the flusher about a second after its first line, with no flush. */
TEST(group_commit_writes_a_partial_batch_after_its_latency) {
  char path[256];
  gavel_audit_opts o;
  gavel_audit *a;
  gavel_error e;
  double t0;
  int n = 0;
  tmpname(path, sizeof path, "latency");
  memset(&o, 0, sizeof o);
  o.durability = GAVEL_AUDIT_GROUP_N;
  o.fsync_every = 1024;
  CHECK(gavel_audit_open(path, &o, &a, &e) == GAVEL_OK);
  CHECK(gavel_audit_write(a, "{\"seq\":1}", 9, &e) == GAVEL_OK);
  CHECK(gavel_audit_write(a, "{\"seq\":2}", 9, &e) == GAVEL_OK);
  for (t0 = now_ms(); now_ms() - t0 < 30000; usleep(20000))
    if ((n = count_lines(path, NULL)) >= 2)
      break;
  CHECK(n == 2);
  CHECK(gavel_audit_close(a, &e) == GAVEL_OK);
  CHECK(count_lines(path, NULL) == 2);
  unlink(path);
}

TEST(reopen_and_sighup_move_later_lines_to_a_new_file) {
  char path[256], rotated[300];
  gavel_audit *a;
  gavel_error e;
  tmpname(path, sizeof path, "rot");
  snprintf(rotated, sizeof rotated, "%s.1", path);
  CHECK(gavel_audit_open(path, NULL, &a, &e) == GAVEL_OK);
  CHECK(gavel_audit_write(a, "{\"n\":1}", 7, &e) == GAVEL_OK);
  CHECK(gavel_audit_write(a, "{\"n\":2}", 7, &e) == GAVEL_OK);
  CHECK(rename(path, rotated) == 0);
  CHECK(gavel_audit_write(a, "{\"n\":3}", 7, &e) == GAVEL_OK); /* old file */
  CHECK(gavel_audit_reopen(a, &e) == GAVEL_OK);
  CHECK(gavel_audit_write(a, "{\"n\":4}", 7, &e) == GAVEL_OK);
  CHECK(count_lines(rotated, NULL) == 3);
  CHECK(count_lines(path, NULL) == 1);
  CHECK(rename(path, rotated) == 0);
  CHECK(gavel_audit_reopen_on_sighup(&e) == GAVEL_OK);
  raise(SIGHUP);
  CHECK(gavel_audit_write(a, "{\"n\":5}", 7, &e) == GAVEL_OK);
  CHECK(count_lines(rotated, NULL) == 1);
  CHECK(count_lines(path, NULL) == 1);
  CHECK(gavel_audit_write(a, "{\"n\":\n6}", 8, &e) == GAVEL_MISUSE);
  CHECK(gavel_audit_close(a, &e) == GAVEL_OK);
  unlink(path);
  unlink(rotated);
}

static void svc(void *ud, const gavel_host_call *c, gavel_reply *r) {
  (void)ud;
  (void)c;
  gavel_reply_payload(r, "{\"ok\":1}", 8, NULL, 0);
}

static const char *RULES =
    "{\"config\":{\"name\":\"aud\",\"version\":\"3.1\"},\"steps\":{"
    "\"start\":{\"id\":\"start\",\"name\":\"S\",\"type\":\"action\","
    "\"actions\":[{\"action\":\"external_call\",\"service\":\"svc\","
    "\"method\":\"GET\",\"params\":[],\"result_variable\":\"r\"},"
    "{\"action\":\"external_call\",\"service\":\"audit.logger\",\"method\":"
    "\"emit\",\"params\":[[\"who\",\"user\"]]}],\"next_step\":\"t\"},"
    "\"t\":{\"id\":\"t\",\"name\":\"T\",\"type\":\"terminal\",\"result\":{"
    "\"code\":\"DONE\"}}}}";

static void sha256_hex(const char *p, size_t n, char *hex) {
  unsigned char md[32];
  unsigned ml = 0, i;
  EVP_Digest(p, n, md, &ml, EVP_sha256(), NULL);
  for (i = 0; i < ml; i++)
    snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

TEST(run_and_host_call_lines_carry_the_documented_fields) {
  char path[256], hex[65];
  gavel_runtime *rt;
  gavel_audit *a;
  gavel_ruleset *rs;
  gavel_exec *ex = NULL;
  gavel_error e;
  const char *in = "{\"user\":\"ann\"}", *out;
  size_t n;
  FILE *f;
  char line[2048];
  cJSON *j[3] = {NULL, NULL, NULL};
  int k = 0;
  tmpname(path, sizeof path, "fields");
  gavel_runtime_new(NULL, &rt, &e);
  CHECK(gavel_audit_open(path, NULL, &a, &e) == GAVEL_OK);
  CHECK(gavel_audit_provide(a, rt, &e) == GAVEL_OK);
  CHECK(gavel_audit_attach(a, rt, &e) == GAVEL_OK);
  gavel_runtime_provide(rt, "svc", svc, NULL, &e);
  CHECK(gavel_ruleset_load(rt, RULES, strlen(RULES), NULL, &rs, &e) ==
        GAVEL_OK);
  gavel_exec_new(rs, &ex, &e);
  CHECK(gavel_exec_run_json(ex, in, strlen(in), 0, &out, &n, &e) ==
        GAVEL_OK);
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
  gavel_runtime_free(rt);
  CHECK(gavel_audit_close(a, &e) == GAVEL_OK);
  /* order: svc call, the emit line, its host_call, then the run */
  f = fopen(path, "r");
  while (f && fgets(line, sizeof line, f)) {
    cJSON *x = cJSON_Parse(line);
    const char *ev = jstr(x, "event");
    if (ev && !strcmp(ev, "host_call") &&
        !strcmp(jstr(x, "capability"), "svc") && !j[0])
      j[0] = x;
    else if (ev && !strcmp(ev, "emit") && !j[1])
      j[1] = x;
    else if (ev && !strcmp(ev, "rule_executed") && !j[2])
      j[2] = x;
    else
      cJSON_Delete(x);
    k++;
  }
  if (f)
    fclose(f);
  if (k != 4)
    printf("  lines: %d\n", k);
  CHECK(k == 4);
  CHECK(j[0] && j[1] && j[2]);
  sha256_hex(in, strlen(in), hex);
  CHECK_STR(jstr(j[2], "ruleset"), "aud");
  CHECK_STR(jstr(j[2], "version"), "3.1");
  CHECK_STR(jstr(j[2], "status"), "ok");
  CHECK_STR(jstr(j[2], "code"), "DONE");
  CHECK_STR(jstr(j[2], "input_sha256"), hex);
  CHECK(jnum(j[2], "trace_id") > 0);
  CHECK(jnum(j[2], "duration_us") >= 0 && jnum(j[2], "gas_used") > 0);
  CHECK(strlen(jstr(j[2], "ts")) == 24); /* 2025-01-02T03:04:05.678Z */
  CHECK(jnum(j[0], "trace_id") == jnum(j[2], "trace_id"));
  CHECK_STR(jstr(j[0], "operation"), "GET");
  CHECK_STR(jstr(j[0], "outcome"), "ok");
  CHECK(jnum(j[0], "attempt") == 1);
  CHECK_STR(jstr(j[1], "ruleset"), "aud");
  CHECK_STR(jstr(j[1], "path"), "steps.start.actions[1]");
  CHECK_STR(jstr(j[1], "data.who"), "ann");
  for (k = 0; k < 3; k++)
    cJSON_Delete(j[k]);
  unlink(path);
}

TEST(failed_runs_are_audited_with_their_error) {
  char path[256];
  gavel_runtime *rt;
  gavel_audit_opts o;
  gavel_audit *a;
  gavel_error e;
  cJSON *last;
  char *doc = call_ruleset("audit.logger", "delete", "[]", 0);
  tmpname(path, sizeof path, "fail");
  memset(&o, 0, sizeof o);
  o.no_hostcalls = 1;
  gavel_runtime_new(NULL, &rt, &e);
  CHECK(gavel_audit_open(path, &o, &a, &e) == GAVEL_OK);
  gavel_audit_provide(a, rt, &e);
  gavel_audit_attach(a, rt, &e);
  CHECK(run_doc(rt, doc, NULL, 0, NULL, 0, &e) == GAVEL_HOST);
  CHECK(gavel_audit_close(a, &e) == GAVEL_OK);
  CHECK(count_lines(path, &last) == 1);
  CHECK_STR(jstr(last, "status"), "host");
  CHECK(strstr(jstr(last, "error"), "unknown operation 'delete'") != NULL);
  CHECK(jget(last, "input_sha256") != NULL);
  cJSON_Delete(last);
  gavel_runtime_free(rt);
  free(doc);
  unlink(path);
}

/* sha256x2.c against OpenSSL: every length across the padding edges
** (55/56, 63/64, 119/120 bytes), as the first or the second message of a
** pair of different lengths, and alone. */
TEST(sha256x2_digests_equal_openssl_for_every_length_and_pairing) {
  static unsigned char buf[2300];
  unsigned char m1[32], m2[32], r1[32], r2[32];
  unsigned ml;
  size_t la, lb, i;
  int bad = 0;
  if (!gavel__sha256x2_ok()) {
    CHECK(gavel__sha256x2(buf, 1, m1, NULL, 0, NULL) == 0);
    printf("  skipped: this CPU has no SHA extensions (OpenSSL digests)\n");
    return;
  }
  for (i = 0; i < sizeof buf; i++)
    buf[i] = (unsigned char)(i * 131 + (i >> 7));
  for (la = 0; la <= 300; la++)
    for (lb = 0; lb <= 300; lb += (la & 1) ? 13 : 1) {
      CHECK(gavel__sha256x2(buf + 1, la, m1, buf + 1000, lb, m2) == 1);
      EVP_Digest(buf + 1, la, r1, &ml, EVP_sha256(), NULL);
      EVP_Digest(buf + 1000, lb, r2, &ml, EVP_sha256(), NULL);
      bad += memcmp(m1, r1, 32) != 0 || memcmp(m2, r2, 32) != 0;
    }
  for (la = 0; la < 1300; la += 37) { /* alone, and long ones */
    CHECK(gavel__sha256x2(buf + 3, la, m1, NULL, 0, NULL) == 1);
    EVP_Digest(buf + 3, la, r1, &ml, EVP_sha256(), NULL);
    bad += memcmp(m1, r1, 32) != 0;
    CHECK(gavel__sha256x2(buf + 7, 2200, m1, buf + 5, la, m2) == 1);
    EVP_Digest(buf + 7, 2200, r1, &ml, EVP_sha256(), NULL);
    EVP_Digest(buf + 5, la, r2, &ml, EVP_sha256(), NULL);
    bad += memcmp(m1, r1, 32) != 0 || memcmp(m2, r2, 32) != 0;
  }
  if (bad)
    printf("  %d digests differ from OpenSSL's\n", bad);
  CHECK(bad == 0);
}

/* GROUP_N digests consecutive run records two at a time: every run line
** of a log carries the SHA-256 of its own input, whatever sits between
** runs (plain lines, a record too big for the buffer, batch and piece
** boundaries). */
TEST(group_commit_lines_carry_the_digest_of_their_own_input) {
  static const char *doc =
      "{\"config\":{\"name\":\"dig\",\"version\":\"1\"},\"steps\":{"
      "\"start\":{\"id\":\"start\",\"name\":\"T\",\"type\":\"terminal\","
      "\"result\":{\"code\":\"OK\"}}}}";
  enum { RUNS = 300 };
  static char in[RUNS][6100];
  char path[256], want[65], line[8192];
  gavel_runtime *rt;
  gavel_ruleset *rs = NULL;
  gavel_exec *ex = NULL;
  gavel_audit_opts o;
  gavel_audit *a;
  gavel_error e;
  const char *out;
  size_t n;
  FILE *f;
  int i, k = 0, bad = 0;
  tmpname(path, sizeof path, "digests");
  memset(&o, 0, sizeof o);
  o.durability = GAVEL_AUDIT_GROUP_N;
  o.fsync_every = 16;
  o.buffer_bytes = 4096; /* back-pressure; input 150 is bigger */
  o.no_hostcalls = 1;
  CHECK(gavel_runtime_new(NULL, &rt, &e) == GAVEL_OK);
  CHECK(gavel_audit_open(path, &o, &a, &e) == GAVEL_OK);
  CHECK(gavel_audit_attach(a, rt, &e) == GAVEL_OK);
  CHECK(gavel_ruleset_load(rt, doc, strlen(doc), NULL, &rs, &e) == GAVEL_OK);
  CHECK(gavel_exec_new(rs, &ex, &e) == GAVEL_OK);
  for (i = 0; i < RUNS; i++) {
    size_t len = i == 150 ? 6000 : (size_t)(i * 37 % 700);
    snprintf(in[i], sizeof in[i], "{\"k\":\"%0*d\"}", (int)len, i);
    CHECK(gavel_exec_run_json(ex, in[i], strlen(in[i]), 0, &out, &n, &e) ==
          GAVEL_OK);
    if (i % 7 == 3)
      CHECK(gavel_audit_write(a, "{\"between\":1}", 13, &e) == GAVEL_OK);
  }
  gavel_exec_free(ex);
  gavel_ruleset_free(rs);
  gavel_runtime_free(rt);
  CHECK(gavel_audit_close(a, &e) == GAVEL_OK);
  f = fopen(path, "r");
  while (f && fgets(line, sizeof line, f)) {
    const char *d = strstr(line, "\"input_sha256\":\"");
    if (!strstr(line, "\"rule_executed\""))
      continue;
    if (k < RUNS) {
      sha256_hex(in[k], strlen(in[k]), want);
      if (!d || strncmp(d + 16, want, 64)) {
        if (!bad)
          printf("  run %d: want %s in %s", k, want, line);
        bad++;
      }
    }
    k++;
  }
  if (f)
    fclose(f);
  CHECK(k == RUNS);
  CHECK(bad == 0);
  unlink(path);
}

/* The lines of rule_executed events whose first 'skip' bytes are cut
** (32: the timestamp), in order; returns how many (at most 'max'). */
static int run_lines(const char *path, char lines[][1024], int max,
                     size_t skip) {
  FILE *f = fopen(path, "r");
  char line[1024];
  int k = 0;
  while (f && k < max && fgets(line, sizeof line, f))
    if (strstr(line, "\"event\":\"rule_executed\"") && strlen(line) > skip)
      snprintf(lines[k++], 1024, "%s", line + skip);
  if (f)
    fclose(f);
  return k;
}

/* GROUP_N renders run records in the flusher with its own writer (no
** per-field appends, cached timestamp and status): its lines must be
** byte for byte those of the line-by-line writer, escapes included. */
TEST(group_commit_run_lines_are_byte_identical_to_line_by_line_ones) {
  char p1[256], p2[256];
  static char l1[8][1024], l2[8][1024];
  gavel_runtime *rt;
  gavel_audit_opts o;
  gavel_audit *a1, *a2;
  gavel_error e;
  /* the error message carries the method: quote, backslash, tab, a
  ** control character and a non-ASCII letter */
  char *bad = call_ruleset("audit.logger", "de\\\"l\\\\x\\t\\u0001\\u00e9",
                           "[]", 0);
  char *good = call_ruleset("audit.logger", "emit", "[[\"a\",\"1\"]]", 0);
  /* other ruleset names and versions (escaped; or of the same lengths,
  ** one byte apart) between runs of 'good': the flusher's cached
  ** ruleset/version text must follow every change */
  static const char *fmt =
      "{\"config\":{\"name\":\"%s\",\"version\":\"%s\"},"
      "\"steps\":{\"start\":{\"id\":\"start\",\"name\":\"T\",\"type\":"
      "\"terminal\",\"result\":{\"code\":\"X\"}}}}";
  static const char *names[3][2] = {
      {"o\\\"t\\\\h", "7\\t1"}, {"calls", "2.1"}, {"callz", "2.0"}};
  char other[3][512];
  int i, n1, n2;
  tmpname(p1, sizeof p1, "byline");
  tmpname(p2, sizeof p2, "bygroup");
  gavel_runtime_new(NULL, &rt, &e);
  memset(&o, 0, sizeof o);
  o.no_hostcalls = 1;
  CHECK(gavel_audit_open(p1, &o, &a1, &e) == GAVEL_OK);
  o.durability = GAVEL_AUDIT_GROUP_N;
  CHECK(gavel_audit_open(p2, &o, &a2, &e) == GAVEL_OK);
  gavel_audit_provide(a1, rt, &e);
  gavel_audit_attach(a1, rt, &e);
  gavel_audit_attach(a2, rt, &e);
  CHECK(run_doc(rt, bad, NULL, 0, NULL, 0, &e) == GAVEL_HOST);
  CHECK(run_doc(rt, good, NULL, 0, NULL, 0, &e) == GAVEL_OK);
  for (i = 0; i < 3; i++) { /* other i, then good again */
    snprintf(other[i], sizeof other[i], fmt, names[i][0], names[i][1]);
    CHECK(run_doc(rt, other[i], NULL, 0, NULL, 0, &e) == GAVEL_OK);
    if (i < 2)
      CHECK(run_doc(rt, good, NULL, 0, NULL, 0, &e) == GAVEL_OK);
  }
  gavel_runtime_free(rt);
  CHECK(gavel_audit_close(a1, &e) == GAVEL_OK);
  CHECK(gavel_audit_close(a2, &e) == GAVEL_OK);
  n1 = run_lines(p1, l1, 8, 32);
  n2 = run_lines(p2, l2, 8, 32);
  CHECK(n1 == 7 && n2 == 7);
  for (i = 0; i < n1 && i < n2; i++) {
    if (strcmp(l1[i], l2[i]))
      printf("  line by line: %s  group:        %s", l1[i], l2[i]);
    CHECK_STR(l2[i], l1[i]);
  }
  CHECK(strstr(l2[0], "'de\\\"l\\\\x\\t\\u0001\xc3\xa9'") != NULL);
  CHECK(strstr(l2[1], "\"status\":\"ok\"") != NULL);
  CHECK(strstr(l2[2], "\"ruleset\":\"o\\\"t\\\\h\",\"version\":\"7\\t1\"") !=
        NULL);
  CHECK(strstr(l2[4], "\"ruleset\":\"calls\",\"version\":\"2.1\"") != NULL);
  CHECK(strstr(l2[6], "\"ruleset\":\"callz\",\"version\":\"2.0\"") != NULL);
  free(bad);
  free(good);
  unlink(p1);
  unlink(p2);
}

static int64_t realtime_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" -> ms since the epoch, or -1. */
static int64_t ts_ms(const char *t) {
  struct tm tm;
  int ms = -1;
  memset(&tm, 0, sizeof tm);
  if (sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon,
             &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return (int64_t)timegm(&tm) * 1000 + ms;
}

/* GROUP_N stamps a run with the tick clock plus an offset to
** CLOCK_REALTIME read again every 100 ms: each line's "ts" lies between
** the real clock read before and after its run (2 ms for rounding and
** the drift of RT_REFRESH_NS), over 1.5 s of runs (the offset is read
** again). */
TEST(group_commit_timestamps_follow_the_real_clock) {
  enum { RUNS = 60 };
  char path[256];
  static char lines[RUNS + 1][1024];
  static int64_t lo[RUNS], hi[RUNS];
  gavel_runtime *rt;
  gavel_audit_opts o;
  gavel_audit *a;
  gavel_error e;
  int i, k, n, bad = 0;
  int64_t prev = 0;
  char *doc = call_ruleset("audit.logger", "emit", "[]", 0);
  tmpname(path, sizeof path, "ts");
  gavel_runtime_new(NULL, &rt, &e);
  memset(&o, 0, sizeof o);
  o.no_hostcalls = 1;
  o.durability = GAVEL_AUDIT_GROUP_N;
  CHECK(gavel_audit_open(path, &o, &a, &e) == GAVEL_OK);
  gavel_audit_provide(a, rt, &e);
  gavel_audit_attach(a, rt, &e);
  for (i = 0; i < RUNS; i++) {
    struct timespec nap = {0, 25000000}; /* 25 ms */
    lo[i] = realtime_ms();
    CHECK(run_doc(rt, doc, NULL, 0, NULL, 0, &e) == GAVEL_OK);
    hi[i] = realtime_ms();
    nanosleep(&nap, NULL);
  }
  gavel_runtime_free(rt);
  CHECK(gavel_audit_close(a, &e) == GAVEL_OK);
  n = run_lines(path, lines, RUNS + 1, 0);
  for (k = 0; k < n && k < RUNS; k++) {
    const char *t = strstr(lines[k], "{\"ts\":\"");
    int64_t ms = t ? ts_ms(t + 7) : -1;
    if ((ms < lo[k] - 2 || ms > hi[k] + 2 || ms < prev) && bad++ < 3)
      printf("  line %d: ts %lld not in [%lld, %lld]\n", k, (long long)ms,
             (long long)lo[k], (long long)hi[k]);
    prev = ms;
  }
  CHECK(n == RUNS);
  CHECK(bad == 0);
  free(doc);
  unlink(path);
}

/* The flusher writes a big batch in pieces; when a piece fails, every
** line of the batch not yet written is counted as lost, none twice. */
TEST(group_commit_counts_every_line_of_a_failed_batch_as_lost) {
  gavel_audit_opts o;
  gavel_audit *a;
  gavel_error e;
  char line[700], want[64];
  int i;
  memset(&o, 0, sizeof o);
  o.durability = GAVEL_AUDIT_GROUP_N;
  o.fsync_every = 1000000; /* one batch, written at close */
  o.buffer_bytes = 8u << 20;
  if (gavel_audit_open("/dev/full", &o, &a, &e) != GAVEL_OK) {
    printf("  skipped: no /dev/full (%s)\n", e.msg);
    return;
  }
  memset(line, 'x', sizeof line);
  memcpy(line, "{\"pad\":\"", 8);
  memcpy(line + sizeof line - 2, "\"}", 2);
  for (i = 0; i < 3000; i++) /* ~2 MB of lines: more than one piece */
    CHECK(gavel_audit_write(a, line, sizeof line, &e) == GAVEL_OK);
  CHECK(gavel_audit_close(a, &e) == GAVEL_IO);
  snprintf(want, sizeof want, "%d lines lost", 3000);
  if (!strstr(e.msg, want))
    printf("  got: %s\n", e.msg);
  CHECK(strstr(e.msg, want) != NULL);
}

TEST(opening_an_unwritable_path_is_an_io_error) {
  gavel_audit *a = NULL;
  gavel_error e;
  CHECK(gavel_audit_open("/nonexistent-dir/x.log", NULL, &a, &e) == GAVEL_IO);
  CHECK(strstr(e.msg, "cannot open") != NULL);
  CHECK(a == NULL);
}

TEST_MAIN()
