/*
** native_rules.h -- hand-written C equivalents of the shared benchmark
** rulesets (/work/shared/bench-cases: score.json, loan.json), the
** baseline every gavel figure in bench/ is compared with.
**
** Native structs in, a pointer to a static result record out, and the
** same result JSON text gavel writes ({"code","message","output"}) with
** snprintf.  With BENCH_HAVE_CJSON defined (link -lcjson) it also reads the
** inputs from JSON with cJSON.  Also the deterministic input generators.
** Header-only; never touches the engine.
**
** Semantics follow Ordo's as far as the generated inputs reach: numbers
** are compared as doubles (the inputs stay far below 2^53), and sums are
** exact because every balance is a multiple of 0.25.
*/
#ifndef GAVEL_BENCH_NATIVE_RULES_H
#define GAVEL_BENCH_NATIVE_RULES_H

#include "bench_util.h"

#define LOAN_MAX_ACCOUNTS 8 /* accounts a native input can hold */

/* ==== score.json: 4-branch decision ==== */

typedef struct score_out {
  const char *code;    /* result code ("HIGH")         */
  const char *message; /* result message ("high tier") */
  int code_len;        /* strlen(code)                 */
} score_out;

static const score_out k_score_out[4] = {
    {"HIGH", "high tier", 4},
    {"MID", "mid tier", 3},
    {"LOW", "low tier", 3},
    {"FAIL", "failed", 4},
};

static inline const score_out *score_native(double score) {
  if (score >= 90)
    return &k_score_out[0];
  if (score >= 70)
    return &k_score_out[1];
  if (score >= 50)
    return &k_score_out[2];
  return &k_score_out[3];
}

static inline int score_write(char *buf, size_t cap, const score_out *o) {
  return snprintf(buf, cap,
                  "{\"code\":\"%s\",\"message\":\"%s\",\"output\":{}}",
                  o->code, o->message);
}

/* ==== loan.json: 20-rule first hit ==== */

typedef struct loan_in {
  double age;           /* applicant.age                      */
  double income;        /* applicant.income                   */
  double monthly_debt;  /* applicant.monthly_debt             */
  const char *country;  /* applicant.country (borrowed)       */
  const char *emp;      /* applicant.employment.status        */
  double years;         /* applicant.employment.years         */
  double score;         /* applicant.credit.score             */
  double bankruptcies;  /* applicant.credit.bankruptcies      */
  double delinquencies; /* applicant.credit.delinquencies     */
  int n_accounts;       /* applicant.accounts length          */
  double balance[LOAN_MAX_ACCOUNTS]; /* accounts[*].balance    */
  double amount;        /* loan.amount                        */
  double term_months;   /* loan.term_months                   */
  const char *purpose;  /* loan.purpose (borrowed)            */
  double collateral;    /* loan.collateral_value              */
} loan_in;

typedef struct loan_out {
  int rule;             /* rule number 1..20                  */
  const char *decision; /* APPROVE / REFER / REJECT (message) */
  const char *code;     /* result code                        */
  const char *rate;     /* rate as gavel writes it            */
  double rate_val;      /* the rate                           */
  int code_len;         /* strlen(code)                       */
} loan_out;

static const loan_out k_loan_out[21] = {
    {0, "", "", "0", 0, 0},
    {1, "REJECT", "UNDERAGE", "0", 0, 8},
    {2, "REJECT", "AGE_LIMIT", "0", 0, 9},
    {3, "REJECT", "BANKRUPTCY", "0", 0, 10},
    {4, "REJECT", "CREDIT_TOO_LOW", "0", 0, 14},
    {5, "REJECT", "JURISDICTION", "0", 0, 12},
    {6, "REJECT", "NO_INCOME", "0", 0, 9},
    {7, "REJECT", "DTI_HIGH", "0", 0, 8},
    {8, "REJECT", "AMOUNT_VS_INCOME", "0", 0, 16},
    {9, "REJECT", "LTV_HIGH", "0", 0, 8},
    {10, "REJECT", "TERM_TOO_LONG", "0", 0, 13},
    {11, "REFER", "DELINQUENCIES", "0", 0, 13},
    {12, "REFER", "JUMBO", "0", 0, 5},
    {13, "REFER", "NEW_BUSINESS", "0", 0, 12},
    {14, "APPROVE", "PRIME_PLUS", "5.25", 5.25, 10},
    {15, "APPROVE", "PRIME", "5.75", 5.75, 5},
    {16, "APPROVE", "NEAR_PRIME", "6.5", 6.5, 10},
    {17, "APPROVE", "STANDARD", "7.25", 7.25, 8},
    {18, "APPROVE", "SUBPRIME_SECURED", "8.75", 8.75, 16},
    {19, "REFER", "MANUAL_REVIEW_LOW_SCORE", "0", 0, 23},
    {20, "REJECT", "NO_PRODUCT", "0", 0, 10},
};

/* The rule as a C programmer writes it: first hit, shared terms computed
** once. */
static inline const loan_out *loan_native(const loan_in *x) {
  double sum = 0, dti, ltv;
  const char *c = x->country;
  int i;
  if (x->age < 18)
    return &k_loan_out[1];
  if (x->age > 75)
    return &k_loan_out[2];
  if (x->bankruptcies > 0)
    return &k_loan_out[3];
  if (x->score < 500)
    return &k_loan_out[4];
  if (strcmp(c, "US") && strcmp(c, "CA") && strcmp(c, "GB") &&
      strcmp(c, "DE"))
    return &k_loan_out[5];
  for (i = 0; i < x->n_accounts; i++)
    sum += x->balance[i];
  if (!strcmp(x->emp, "unemployed") && sum < x->amount * 0.5)
    return &k_loan_out[6];
  dti = x->monthly_debt / (x->income / 12.0);
  if (dti > 0.45)
    return &k_loan_out[7];
  if (x->amount > x->income * 6)
    return &k_loan_out[8];
  ltv = x->amount * 1.0 / x->collateral;
  if (ltv > 0.97)
    return &k_loan_out[9];
  if (x->term_months > 360)
    return &k_loan_out[10];
  if (x->delinquencies >= 3)
    return &k_loan_out[11];
  if (x->amount >= 1000000)
    return &k_loan_out[12];
  if (!strcmp(x->purpose, "business") && x->years < 2)
    return &k_loan_out[13];
  if (x->score >= 780 && dti <= 0.30 && ltv <= 0.80)
    return &k_loan_out[14];
  if (x->score >= 740 && dti <= 0.36 && ltv <= 0.85)
    return &k_loan_out[15];
  if (x->score >= 700 && dti <= 0.40 && sum >= x->amount * 0.1)
    return &k_loan_out[16];
  if (x->score >= 660 && dti <= 0.43 && x->years >= 2)
    return &k_loan_out[17];
  if (x->score >= 620 && sum >= x->amount * 0.2)
    return &k_loan_out[18];
  if (x->score >= 580)
    return &k_loan_out[19];
  return &k_loan_out[20];
}

static inline int loan_write(char *buf, size_t cap, const loan_out *o) {
  return snprintf(buf, cap,
                  "{\"code\":\"%s\",\"message\":\"%s\",\"output\":{\"rule\":"
                  "%d,\"decision\":\"%s\",\"code\":\"%s\",\"rate\":%s}}",
                  o->code, o->decision, o->rule, o->decision, o->code,
                  o->rate);
}

/* ==== Input generators (deterministic, from bench_util.h's PRNG) ====
** Each writes one compact JSON object and returns its length.  Most loan
** inputs are ordinary applications; a few percent hit each reject or
** refer rule, and every rule is reachable. */

static inline int score_gen(uint64_t *rng, char *buf, size_t cap) {
  int64_t v = bench_range(rng, 0, 1000);
  if (bench_range(rng, 0, 99) < 15) /* some fractional scores */
    return snprintf(buf, cap, "{\"score\":%lld.%lld}", (long long)(v / 10),
                    (long long)(v % 10));
  return snprintf(buf, cap, "{\"score\":%lld}", (long long)(v / 10));
}

static inline int loan_gen(uint64_t *rng, char *buf, size_t cap) {
  static const char *const countries[] = {"US", "US", "US", "CA", "GB",
                                          "DE", "US", "CA", "FR", "MX"};
  static const char *const emps[] = {"employed",      "employed",
                                     "employed",      "employed",
                                     "self_employed", "unemployed"};
  static const char *const purposes[] = {"home", "home", "car", "education",
                                         "business"};
  static const char *const types[] = {"checking", "savings", "brokerage"};
  static const int terms[] = {120, 180, 240, 360, 360, 360, 480};
  long long age = bench_range(rng, 0, 99) < 4 ? bench_range(rng, 16, 85)
                                              : bench_range(rng, 21, 70);
  long long income = bench_range(rng, 20, 300) * 1000;
  long long debt = bench_range(rng, 4, 80) * 50;
  long long score = bench_range(rng, 480, 850);
  long long bankr = bench_range(rng, 0, 99) < 3;
  long long delinq =
      bench_range(rng, 0, 99) < 8 ? 3 : bench_range(rng, 0, 2);
  long long years = bench_range(rng, 0, 20);
  long long amount = bench_range(rng, 0, 99) < 85
                         ? income * bench_range(rng, 5, 50) / 10
                         : bench_range(rng, 10, 1100) * 1000;
  long long coll = amount * (100 + bench_range(rng, 0, 60)) / 100 + 1000;
  const char *country = countries[bench_range(rng, 0, 9)];
  const char *emp = emps[bench_range(rng, 0, 5)];
  const char *purpose = purposes[bench_range(rng, 0, 4)];
  int term = terms[bench_range(rng, 0, 6)];
  int n_acc = (int)bench_range(rng, 0, 3), i, n;
  n = snprintf(buf, cap,
               "{\"applicant\":{\"age\":%lld,\"income\":%lld,\"monthly_debt\":"
               "%lld,\"country\":\"%s\",\"employment\":{\"status\":\"%s\","
               "\"years\":%lld},\"credit\":{\"score\":%lld,\"bankruptcies\":"
               "%lld,\"delinquencies\":%lld},\"accounts\":[",
               age, income, debt, country, emp, years, score, bankr, delinq);
  for (i = 0; i < n_acc; i++) {
    long long q = bench_range(rng, 0, 400000); /* quarter units */
    n += snprintf(buf + n, cap - (size_t)n,
                  "%s{\"type\":\"%s\",\"balance\":%lld%s}", i ? "," : "",
                  types[i], q / 4,
                  q % 4 == 0 ? "" : q % 4 == 1 ? ".25" : q % 4 == 2 ? ".5"
                                                                  : ".75");
  }
  n += snprintf(buf + n, cap - (size_t)n,
                "]},\"loan\":{\"amount\":%lld,\"term_months\":%d,\"purpose\":"
                "\"%s\",\"collateral_value\":%lld}}",
                amount, term, purpose, coll);
  return n;
}

/* ==== Reading the inputs with cJSON ==== */
#ifdef BENCH_HAVE_CJSON
#include <cjson/cJSON.h>

static inline const cJSON *cj_get(const cJSON *o, const char *k) {
  return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* 0 and *out set, or -1 when a field is missing or of the wrong type. */
static inline int cj_num(const cJSON *o, const char *k, double *out) {
  const cJSON *v = cj_get(o, k);
  if (!cJSON_IsNumber(v))
    return -1;
  *out = v->valuedouble;
  return 0;
}

static inline int cj_str(const cJSON *o, const char *k, const char **out) {
  const cJSON *v = cj_get(o, k);
  if (!cJSON_IsString(v))
    return -1;
  *out = v->valuestring;
  return 0;
}

static inline int score_from_cjson(const cJSON *root, double *score) {
  return cj_num(root, "score", score);
}

/* Strings in 'x' borrow from 'root'. */
static inline int loan_from_cjson(const cJSON *root, loan_in *x) {
  const cJSON *ap = cj_get(root, "applicant"), *ln = cj_get(root, "loan");
  const cJSON *emp = cj_get(ap, "employment"), *cr = cj_get(ap, "credit");
  const cJSON *acc = cj_get(ap, "accounts"), *it;
  if (!cJSON_IsObject(ap) || !cJSON_IsObject(ln) || !cJSON_IsObject(emp) ||
      !cJSON_IsObject(cr) || !cJSON_IsArray(acc))
    return -1;
  if (cj_num(ap, "age", &x->age) || cj_num(ap, "income", &x->income) ||
      cj_num(ap, "monthly_debt", &x->monthly_debt) ||
      cj_str(ap, "country", &x->country) || cj_str(emp, "status", &x->emp) ||
      cj_num(emp, "years", &x->years) || cj_num(cr, "score", &x->score) ||
      cj_num(cr, "bankruptcies", &x->bankruptcies) ||
      cj_num(cr, "delinquencies", &x->delinquencies) ||
      cj_num(ln, "amount", &x->amount) ||
      cj_num(ln, "term_months", &x->term_months) ||
      cj_str(ln, "purpose", &x->purpose) ||
      cj_num(ln, "collateral_value", &x->collateral))
    return -1;
  x->n_accounts = 0;
  cJSON_ArrayForEach(it, acc) {
    if (x->n_accounts == LOAN_MAX_ACCOUNTS ||
        cj_num(it, "balance", &x->balance[x->n_accounts]))
      return -1;
    x->n_accounts++;
  }
  return 0;
}

/* One JSON line in, the result JSON out (length, or -1 on bad input). */
static inline int score_json_cjson(const char *in, size_t len, char *out,
                                   size_t cap) {
  cJSON *root = cJSON_ParseWithLength(in, len);
  double s;
  int n = -1;
  if (root && score_from_cjson(root, &s) == 0)
    n = score_write(out, cap, score_native(s));
  cJSON_Delete(root);
  return n;
}

static inline int loan_json_cjson(const char *in, size_t len, char *out,
                                  size_t cap) {
  cJSON *root = cJSON_ParseWithLength(in, len);
  loan_in x;
  int n = -1;
  if (root && loan_from_cjson(root, &x) == 0)
    n = loan_write(out, cap, loan_native(&x));
  cJSON_Delete(root);
  return n;
}
#endif /* BENCH_HAVE_CJSON */

#endif /* GAVEL_BENCH_NATIVE_RULES_H */
