/*
** builtins_jwt.c -- stage 3 support: Ordo's extended builtins, JWT (3).
**
** jwt_decode / jwt_verify / jwt_encode as jsonwebtoken 9 (HMAC algorithms).
**
** Input: borrowed argument values (arity already checked by the VM).
** Output: new values in the run's arena, or an error recorded in 'gv_rt'
** with Ordo's message text.  Shared helpers: builtins_lib.h; the table:
** builtins_ext.c.
*/
#define _GNU_SOURCE /* memrchr */
#include "builtins_lib.h"

/* ==== JWT (jsonwebtoken 9, HMAC algorithms) ==== */

static const char *const JWT_ALGS[] = {"HS256", "HS384", "HS512", "ES256",
                                       "ES384", "RS256", "RS384", "RS512",
                                       "PS256", "PS384", "PS512", "EdDSA"};

static const EVP_MD *jwt_md(const char *alg, size_t n) {
  if (n == 5 && !memcmp(alg, "HS256", 5))
    return EVP_sha256();
  if (n == 5 && !memcmp(alg, "HS384", 5))
    return EVP_sha384();
  if (n == 5 && !memcmp(alg, "HS512", 5))
    return EVP_sha512();
  return NULL;
}

typedef struct kv_ref {
  gv_str *k; /* key   */
  gvalue *v; /* value */
} kv_ref;

static int kv_cmp(const void *a, const void *b) {
  return gavel__str_cmp(((const kv_ref *)a)->k, ((const kv_ref *)b)->k);
}

/* serde_json::to_vec(&serde_json::to_value(v)): compact, keys sorted
** (serde_json's BTreeMap), floats in ryu form, non-finite floats null. */
static int jwt_json(gv_rt *rt, gv_buf *b, gvalue v, int depth) {
  uint32_t i;
  char t[48];
  if (charge(rt, 4))
    return 1;
  if ((v.tag == GV_ARR || v.tag == GV_OBJ) && depth >= GAVEL_MAX_WALK_DEPTH)
    return gavel__rt_depth_error(rt);
  switch (v.tag) {
  case GV_BOOL:
    gavel__buf_adds(b, v.u.i ? "true" : "false");
    return 0;
  case GV_INT:
    gavel__buf_addf(b, "%lld", (long long)v.u.i);
    return 0;
  case GV_FLOAT:
    if (v.u.f - v.u.f != 0)
      gavel__buf_adds(b, "null");
    else
      gavel__buf_add(b, t, gavel__fmt_ryu(t, v.u.f));
    return 0;
  case GV_STR:
    if (charge(rt, v.u.s->len))
      return 1;
    gavel__json_write_str(b, v.u.s->s, v.u.s->len);
    return 0;
  case GV_ARR:
    gavel__buf_addc(b, '[');
    for (i = 0; i < v.u.a->len; i++) {
      if (i)
        gavel__buf_addc(b, ',');
      if (jwt_json(rt, b, v.u.a->items[i], depth + 1))
        return 1;
    }
    gavel__buf_addc(b, ']');
    return 0;
  case GV_OBJ: {
    kv_ref *kv;
    int rc = 0;
    if (!(kv = gavel__malloc(rt->arena->al, sizeof *kv * (v.u.o->len + 1))))
      return gavel__rt_error(rt, GV_E_NOMEM, "out of memory");
    for (i = 0; i < v.u.o->len; i++)
      kv[i] = (kv_ref){v.u.o->keys[i], &v.u.o->vals[i]};
    qsort(kv, v.u.o->len, sizeof *kv, kv_cmp);
    gavel__buf_addc(b, '{');
    for (i = 0; i < v.u.o->len && !rc; i++) {
      if (i)
        gavel__buf_addc(b, ',');
      gavel__json_write_str(b, kv[i].k->s, kv[i].k->len);
      gavel__buf_addc(b, ':');
      rc = jwt_json(rt, b, *kv[i].v, depth + 1);
    }
    gavel__buf_addc(b, '}');
    gavel__free(rt->arena->al, kv, sizeof *kv * (v.u.o->len + 1));
    return rc;
  }
  default:
    gavel__buf_adds(b, "null");
    return 0;
  }
}

/* serde's "invalid type" wording for a JSON value. */
static void serde_unexpected(char *out, size_t sz, gvalue v) {
  char t[48];
  switch (v.tag) {
  case GV_NULL:
    snprintf(out, sz, "null");
    break;
  case GV_BOOL:
    snprintf(out, sz, "boolean `%s`", v.u.i ? "true" : "false");
    break;
  case GV_INT:
    snprintf(out, sz, "integer `%lld`", (long long)v.u.i);
    break;
  case GV_FLOAT:
    gavel__fmt_ryu(t, v.u.f);
    snprintf(out, sz, "floating point `%s`", t);
    break;
  case GV_STR:
    snprintf(out, sz, "string \"%.40s\"", v.u.s->s);
    break;
  default:
    snprintf(out, sz, "sequence");
    break;
  }
}

/* Decodes one base64url segment and parses it as JSON into *out. */
static int jwt_part(gv_rt *rt, const char *p, size_t n, gvalue *out, char *err,
                    size_t esz) {
  gv_buf b;
  gavel_error je;
  char e[96];
  gavel__buf_init(&b, rt->arena->al);
  if (gavel__b64_decode(&b, p, n, gavel__b64_url, 0, e, sizeof e)) {
    snprintf(err, esz, "Base64 error: %s", e);
    gavel__buf_free(&b);
    return 1;
  }
  if (b.oom) {
    gavel__buf_free(&b);
    snprintf(err, esz, "out of memory");
    return 1;
  }
  memset(&je, 0, sizeof je);
  if (gavel__json_parse(rt->arena, b.p ? b.p : "", b.len, NULL, out, &je) !=
      GAVEL_OK) {
    snprintf(err, esz, "JSON error: %.150s", je.msg);
    gavel__buf_free(&b);
    return 1;
  }
  gavel__buf_free(&b);
  return 0;
}

/* jsonwebtoken's decode path up to the claims; 'alg' NULL skips the
** algorithm and signature checks (insecure_disable_signature_validation).
** 0 with *claims set, or 1 with the error text in 'err'. */
static int jwt_decode_raw(gv_rt *rt, const gv_str *tok, const char *alg,
                          const gv_str *secret, gvalue *claims, char *err,
                          size_t esz) {
  const char *s = tok->s, *dot2, *dot1;
  gvalue hdr, *a;
  size_t k;
  char u[112];
  dot2 = memrchr(s, '.', tok->len);
  dot1 = dot2 ? memrchr(s, '.', (size_t)(dot2 - s)) : NULL;
  if (!dot1) {
    snprintf(err, esz, "InvalidToken");
    return 1;
  }
  if (jwt_part(rt, s, (size_t)(dot1 - s), &hdr, err, esz))
    return 1;
  if (hdr.tag != GV_OBJ) {
    serde_unexpected(u, sizeof u, hdr);
    snprintf(err, esz, "JSON error: invalid type: %s, expected struct Header",
             u);
    return 1;
  }
  if (!(a = gavel__obj_get(hdr.u.o, "alg", 3))) {
    snprintf(err, esz, "JSON error: missing field `alg`");
    return 1;
  }
  for (k = 0; a->tag == GV_STR && k < sizeof JWT_ALGS / sizeof *JWT_ALGS; k++)
    if (gavel__str_eqn(a->u.s, JWT_ALGS[k], strlen(JWT_ALGS[k])))
      break;
  if (a->tag != GV_STR || k == sizeof JWT_ALGS / sizeof *JWT_ALGS) {
    snprintf(err, esz,
             "JSON error: unknown variant `%.40s`, expected one of "
             "`HS256`, `HS384`, `HS512`, `ES256`, `ES384`, `RS256`, ...",
             a->tag == GV_STR ? a->u.s->s : "?");
    return 1;
  }
  if (alg) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned ml;
    gv_buf sig;
    int same;
    if (!gavel__str_eqn(a->u.s, alg, strlen(alg))) {
      snprintf(err, esz, "InvalidAlgorithm");
      return 1;
    }
    ml = gavel__hmac_raw(jwt_md(alg, strlen(alg)), secret->s, secret->len, s,
                  (size_t)(dot2 - s), mac);
    gavel__buf_init(&sig, rt->arena->al);
    gavel__b64_encode(&sig, mac, ml, gavel__b64_url, 0);
    same = !sig.oom && sig.len == tok->len - (size_t)(dot2 + 1 - s) &&
           !memcmp(sig.p, dot2 + 1, sig.len);
    gavel__buf_free(&sig);
    if (!same) {
      snprintf(err, esz, "InvalidSignature");
      return 1;
    }
  }
  if (jwt_part(rt, dot1 + 1, (size_t)(dot2 - dot1 - 1), claims, err, esz))
    return 1;
  if (claims->tag != GV_OBJ) {
    serde_unexpected(u, sizeof u, *claims);
    snprintf(err, esz,
             "JSON error: invalid type: %s, expected struct "
             "ClaimsForValidation",
             u);
    return 1;
  }
  return 0;
}

int gavel__bi_jwt_decode(gv_rt *rt, gvalue *out, const gvalue *args,
                         int nargs) {
  const gv_str *tok;
  char err[200];
  (void)nargs;
  if (arg_str(rt, args[0], &tok) || charge(rt, tok->len * 2))
    return 1;
  if (jwt_decode_raw(rt, tok, NULL, NULL, out, err, sizeof err))
    return rt->ekind ? 1 : eval_err(rt, "jwt_decode: %s", err);
  return 0;
}

/* Optional third argument: the algorithm name (default HS256). */
static int jwt_alg_arg(gv_rt *rt, const gvalue *args, int nargs, const char *fn,
                       const char **alg) {
  const gv_str *a = NULL;
  if (nargs < 3) {
    *alg = "HS256";
    return 0;
  }
  if (arg_str(rt, args[2], &a))
    return 1;
  if (!jwt_md(a->s, a->len)) {
    char m[GAVEL_ERRMSG_SIZE / 2];
    return eval_err(rt,
                    "%s: unsupported algorithm '%s' (supported: HS256, "
                    "HS384, HS512)",
                    fn, MSG_STR(m, a));
  }
  *alg = a->s;
  return 0;
}

int gavel__bi_jwt_verify(gv_rt *rt, gvalue *out, const gvalue *args,
                         int nargs) {
  const gv_str *tok, *secret;
  const char *alg;
  gvalue claims;
  char err[200];
  int r;
  if (arg_str(rt, args[0], &tok) || arg_str(rt, args[1], &secret) ||
      jwt_alg_arg(rt, args, nargs, "jwt_verify", &alg) ||
      charge(rt, tok->len * 3))
    return 1;
  r = jwt_decode_raw(rt, tok, alg, secret, &claims, err, sizeof err);
  if (rt->ekind != GV_E_NONE) /* out of memory or gas, not a bad token */
    return 1;
  *out = gv_bool(r == 0);
  return 0;
}

int gavel__bi_jwt_encode(gv_rt *rt, gvalue *out, const gvalue *args,
                         int nargs) {
  const gv_str *secret;
  const char *alg;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned ml;
  gv_buf b, part;
  if (arg_str(rt, args[1], &secret) ||
      jwt_alg_arg(rt, args, nargs, "jwt_encode", &alg))
    return 1;
  buf_open(rt, &b);
  buf_open(rt, &part);
  gavel__buf_addf(&part, "{\"typ\":\"JWT\",\"alg\":\"%s\"}", alg);
  gavel__b64_encode(&b, (unsigned char *)part.p, part.len, gavel__b64_url, 0);
  gavel__buf_clear(&part);
  if (jwt_json(rt, &part, args[0], 0)) {
    gavel__buf_free(&part);
    gavel__buf_free(&b);
    return 1;
  }
  gavel__buf_addc(&b, '.');
  gavel__b64_encode(&b, (unsigned char *)(part.p ? part.p : ""), part.len,
                    gavel__b64_url, 0);
  gavel__buf_free(&part);
  if (b.oom || charge(rt, b.len)) {
    gavel__buf_free(&b);
    return rt->ekind ? 1 : gavel__rt_error(rt, GV_E_NOMEM, "out of memory");
  }
  ml = gavel__hmac_raw(jwt_md(alg, strlen(alg)), secret->s, secret->len, b.p,
                      b.len, mac);
  gavel__buf_addc(&b, '.');
  gavel__b64_encode(&b, mac, ml, gavel__b64_url, 0);
  return ret_buf(rt, out, "jwt_encode", &b);
}
