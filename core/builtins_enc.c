/*
** builtins_enc.c -- stage 3 support: Ordo's extended
** builtins, encodings and hashes (12).
**
** base64 / base64url / url / hex encodings, MD5, SHA-256, HMAC-SHA256 and
** uuid_v4 (OpenSSL libcrypto).
**
** Input: borrowed argument values (arity already checked by the VM).
** Output: new values in the run's arena, or an error recorded in 'gv_rt'
** with Ordo's message text.  Shared helpers: builtins_lib.h; the table:
** builtins_ext.c.
*/
#define _GNU_SOURCE /* memrchr */
#include "builtins_lib.h"

/* ==== Encodings: base64 (base64 0.22), base64url (data-encoding), url,
** hex ==== */

const char gavel__b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const char gavel__b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void gavel__b64_encode(gv_buf *b, const unsigned char *p, size_t n,
                       const char *alpha, int pad) {
  size_t i;
  for (i = 0; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    char q[4] = {alpha[v >> 18], alpha[(v >> 12) & 63], alpha[(v >> 6) & 63],
                 alpha[v & 63]};
    gavel__buf_add(b, q, 4);
  }
  if (n - i == 1) {
    gavel__buf_addc(b, alpha[p[i] >> 2]);
    gavel__buf_addc(b, alpha[(p[i] & 3) << 4]);
    if (pad)
      gavel__buf_add(b, "==", 2);
  } else if (n - i == 2) {
    gavel__buf_addc(b, alpha[p[i] >> 2]);
    gavel__buf_addc(b, alpha[((p[i] & 3) << 4) | (p[i + 1] >> 4)]);
    gavel__buf_addc(b, alpha[(p[i + 1] & 15) << 2]);
    if (pad)
      gavel__buf_addc(b, '=');
  }
}

static int b64_val(const char *alpha, unsigned char c) {
  const char *q = c ? memchr(alpha, c, 64) : NULL;
  return q ? (int)(q - alpha) : -1;
}

/* The base64 crate's GeneralPurpose decoder ('canonical' = padding
** required, else padding forbidden), with its error texts.  0 or 1. */
int gavel__b64_decode(gv_buf *o, const char *in, size_t n, const char *alpha,
                      int canonical, char *err, size_t esz) {
  const unsigned char *u = (const unsigned char *)in;
  size_t rem = n % 4, quads, i, pads = 0, first_pad = 0, m = 0;
  unsigned char mor[4] = {0, 0, 0, 0}, last = 0;
  uint32_t num;
  if (rem == 1 && u[n - 1] != '=' && b64_val(alpha, u[n - 1]) < 0) {
    snprintf(err, esz, "Invalid symbol %u, offset %zu.", u[n - 1], n - 1);
    return 1;
  }
  quads = n - rem; /* the last quad is decoded apart: it may have padding */
  if (rem == 0)
    quads = quads >= 4 ? quads - 4 : 0;
  for (i = 0; i < quads; i += 4) {
    int k, d[4];
    for (k = 0; k < 4; k++)
      if ((d[k] = b64_val(alpha, u[i + (size_t)k])) < 0) {
        snprintf(err, esz, "Invalid symbol %u, offset %zu.", u[i + (size_t)k],
                 i + (size_t)k);
        return 1;
      }
    num = (uint32_t)d[0] << 18 | (uint32_t)d[1] << 12 | (uint32_t)d[2] << 6 |
          (uint32_t)d[3];
    gavel__buf_addc(o, (char)(num >> 16));
    gavel__buf_addc(o, (char)(num >> 8));
    gavel__buf_addc(o, (char)num);
  }
  for (i = quads; i < n; i++) {
    size_t li = i - quads;
    int d;
    if (u[i] == '=') {
      if (li < 2) {
        snprintf(err, esz, "Invalid symbol %u, offset %zu.", u[i], i);
        return 1;
      }
      if (pads++ == 0)
        first_pad = li;
      continue;
    }
    if (pads) {
      snprintf(err, esz, "Invalid symbol 61, offset %zu.", quads + first_pad);
      return 1;
    }
    last = u[i];
    if ((d = b64_val(alpha, u[i])) < 0) {
      snprintf(err, esz, "Invalid symbol %u, offset %zu.", u[i], i);
      return 1;
    }
    mor[m++] = (unsigned char)d;
  }
  if (n && m < 2) {
    snprintf(err, esz, "Invalid input length: %zu", quads + m);
    return 1;
  }
  if ((canonical && (pads + m) % 4) || (!canonical && pads)) {
    snprintf(err, esz, "Invalid padding");
    return 1;
  }
  num = (uint32_t)mor[0] << 26 | (uint32_t)mor[1] << 20 |
        (uint32_t)mor[2] << 14 | (uint32_t)mor[3] << 8;
  if (num & (~(uint32_t)0 >> (m * 6 / 8 * 8))) {
    snprintf(err, esz, "Invalid last symbol %u, offset %zu.", last,
             quads + m - 1);
    return 1;
  }
  for (i = 0; i < m * 6 / 8; i++)
    gavel__buf_addc(o, (char)(num >> (24 - 8 * i)));
  return 0;
}

/* data-encoding's BASE64URL_NOPAD decoder and its "<kind> at <pos>". */
static int b64url_nopad_decode(gv_buf *o, const char *in, size_t n, char *err,
                               size_t esz) {
  const unsigned char *u = (const unsigned char *)in;
  size_t i;
  uint32_t acc = 0;
  int bits = 0;
  if (n % 4 == 1) {
    snprintf(err, esz, "invalid length at %zu", n - 1);
    return 1;
  }
  for (i = 0; i < n; i++) {
    int d = b64_val(gavel__b64_url, u[i]);
    if (d < 0) {
      snprintf(err, esz, "invalid symbol at %zu", i);
      return 1;
    }
    acc = acc << 6 | (uint32_t)d;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      gavel__buf_addc(o, (char)(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  if (acc) {
    snprintf(err, esz, "non-zero trailing bits at %zu", n - 1);
    return 1;
  }
  return 0;
}

int gavel__bi_base64_encode(gv_rt *rt, gvalue *out, const gvalue *args,
                            int nargs) {
  const gv_str *s;
  gv_buf b;
  (void)nargs;
  if (arg_str(rt, args[0], &s) || charge(rt, s->len * 2))
    return 1;
  buf_open(rt, &b);
  gavel__b64_encode(&b, (const unsigned char *)s->s, s->len, gavel__b64_std, 1);
  return ret_buf(rt, out, "base64_encode", &b);
}

int gavel__bi_base64url_encode(gv_rt *rt, gvalue *out, const gvalue *args,
                               int nargs) {
  const gv_str *s;
  gv_buf b;
  (void)nargs;
  if (arg_str(rt, args[0], &s) || charge(rt, s->len * 2))
    return 1;
  buf_open(rt, &b);
  gavel__b64_encode(&b, (const unsigned char *)s->s, s->len, gavel__b64_url, 0);
  return ret_buf(rt, out, "base64url_encode", &b);
}

/* Publishes decoded bytes as a string if they are UTF-8. */
static int ret_text(gv_rt *rt, gvalue *out, const char *fn, gv_buf *b) {
  char pre[48];
  snprintf(pre, sizeof pre, "%s: invalid UTF-8: ", fn);
  if (!b->oom && check_utf8(rt, pre, b->p ? b->p : "", b->len)) {
    gavel__buf_free(b);
    return 1;
  }
  return ret_buf(rt, out, fn, b);
}

int gavel__bi_base64_decode(gv_rt *rt, gvalue *out, const gvalue *args,
                            int nargs) {
  const gv_str *s;
  gv_buf b;
  char err[96];
  (void)nargs;
  if (arg_str(rt, args[0], &s) || charge(rt, s->len * 2))
    return 1;
  buf_open(rt, &b);
  if (gavel__b64_decode(&b, s->s, s->len, gavel__b64_std, 1, err, sizeof err)) {
    gavel__buf_free(&b);
    return eval_err(rt, "base64_decode: %s", err);
  }
  return ret_text(rt, out, "base64_decode", &b);
}

int gavel__bi_base64url_decode(gv_rt *rt, gvalue *out, const gvalue *args,
                               int nargs) {
  const gv_str *s;
  gv_buf b;
  char err[96];
  (void)nargs;
  if (arg_str(rt, args[0], &s) || charge(rt, s->len * 2))
    return 1;
  buf_open(rt, &b);
  if (b64url_nopad_decode(&b, s->s, s->len, err, sizeof err)) {
    gavel__buf_free(&b);
    return eval_err(rt, "base64url_decode: invalid input: %s", err);
  }
  return ret_text(rt, out, "base64url_decode", &b);
}

static const char HEX_LO[] = "0123456789abcdef";

int gavel__bi_url_encode(gv_rt *rt, gvalue *out, const gvalue *args,
                         int nargs) {
  static const char HEX_UP[] = "0123456789ABCDEF";
  const gv_str *s;
  gv_buf b;
  uint32_t i;
  (void)nargs;
  if (arg_str(rt, args[0], &s) || charge(rt, s->len * 3))
    return 1;
  buf_open(rt, &b);
  for (i = 0; i < s->len; i++) {
    unsigned char c = (unsigned char)s->s[i];
    if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
        (c >= 'a' && c <= 'z') || c == '-' || c == '.' || c == '_' || c == '~')
      gavel__buf_addc(&b, (char)c);
    else {
      char e[3] = {'%', HEX_UP[c >> 4], HEX_UP[c & 15]};
      gavel__buf_add(&b, e, 3);
    }
  }
  return ret_buf(rt, out, "url_encode", &b);
}

/* urlencoding::decode: %XX decoded, malformed escapes kept, '+' kept. */
int gavel__bi_url_decode(gv_rt *rt, gvalue *out, const gvalue *args,
                         int nargs) {
  const gv_str *s;
  gv_buf b;
  uint32_t i;
  (void)nargs;
  if (arg_str(rt, args[0], &s) || charge(rt, s->len * 2))
    return 1;
  buf_open(rt, &b);
  for (i = 0; i < s->len; i++) {
    int hi, lo;
    if (s->s[i] == '%' && i + 2 < s->len &&
        (hi = hexv((unsigned char)s->s[i + 1])) >= 0 &&
        (lo = hexv((unsigned char)s->s[i + 2])) >= 0) {
      gavel__buf_addc(&b, (char)(hi << 4 | lo));
      i += 2;
    } else
      gavel__buf_addc(&b, s->s[i]);
  }
  if (!b.oom && check_utf8(rt, "url_decode: ", b.p ? b.p : "", b.len)) {
    gavel__buf_free(&b);
    return 1;
  }
  return ret_buf(rt, out, "url_decode", &b);
}

static void hex_add(gv_buf *b, const unsigned char *p, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    char h[2] = {HEX_LO[p[i] >> 4], HEX_LO[p[i] & 15]};
    gavel__buf_add(b, h, 2);
  }
}

int gavel__bi_hex_encode(gv_rt *rt, gvalue *out, const gvalue *args,
                         int nargs) {
  const gv_str *s;
  gv_buf b;
  (void)nargs;
  if (arg_str(rt, args[0], &s) || charge(rt, s->len * 2))
    return 1;
  buf_open(rt, &b);
  hex_add(&b, (const unsigned char *)s->s, s->len);
  return ret_buf(rt, out, "hex_encode", &b);
}

int gavel__bi_hex_decode(gv_rt *rt, gvalue *out, const gvalue *args,
                         int nargs) {
  const gv_str *s;
  gv_buf b;
  uint32_t i;
  (void)nargs;
  if (arg_str(rt, args[0], &s) || charge(rt, s->len))
    return 1;
  if (s->len % 2)
    return eval_err(rt, "hex_decode: invalid hex string: Odd number of "
                        "digits");
  buf_open(rt, &b);
  for (i = 0; i < s->len; i++) {
    int v = hexv((unsigned char)s->s[i]);
    if (v < 0) {
      char q[16];
      char_debug(q, sizeof q, (unsigned char)s->s[i]);
      gavel__buf_free(&b);
      return eval_err(rt,
                      "hex_decode: invalid hex string: Invalid character "
                      "%s at position %u",
                      q, (unsigned)i);
    }
    if (i % 2)
      b.p[b.len - 1] = (char)(b.p[b.len - 1] << 4 | v);
    else
      gavel__buf_addc(&b, (char)v);
    if (b.oom)
      break;
  }
  return ret_text(rt, out, "hex_decode", &b);
}

/* ==== Hashes, HMAC, UUID (OpenSSL libcrypto) ==== */

static int digest_hex(gv_rt *rt, gvalue *out, const char *fn, const EVP_MD *md,
                      const gv_str *s) {
  unsigned char h[EVP_MAX_MD_SIZE];
  unsigned hl = 0;
  gv_buf b;
  if (charge(rt, s->len))
    return 1;
  if (!EVP_Digest(s->s, s->len, h, &hl, md, NULL))
    return eval_err(rt, "%s: digest failed", fn);
  buf_open(rt, &b);
  hex_add(&b, h, hl);
  return ret_buf(rt, out, fn, &b);
}

int gavel__bi_md5(gv_rt *rt, gvalue *out, const gvalue *args, int nargs) {
  const gv_str *s;
  (void)nargs;
  if (arg_str(rt, args[0], &s))
    return 1;
  return digest_hex(rt, out, "md5", EVP_md5(), s);
}

int gavel__bi_sha256(gv_rt *rt, gvalue *out, const gvalue *args, int nargs) {
  const gv_str *s;
  (void)nargs;
  if (arg_str(rt, args[0], &s))
    return 1;
  return digest_hex(rt, out, "sha256", EVP_sha256(), s);
}

/* HMAC of 'msg' under 'key'; returns the MAC length (0 on failure). */
unsigned gavel__hmac_raw(const EVP_MD *md, const char *key, size_t kl,
                         const char *msg, size_t ml, unsigned char *mac) {
  unsigned len = 0;
  static const unsigned char zero = 0;
  if (!HMAC(md, kl ? (const void *)key : &zero, (int)kl,
            (const unsigned char *)msg, ml, mac, &len))
    return 0;
  return len;
}

int gavel__bi_hmac_sha256(gv_rt *rt, gvalue *out, const gvalue *args,
                          int nargs) {
  const gv_str *k, *m;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned ml;
  gv_buf b;
  (void)nargs;
  if (arg_str(rt, args[0], &k) || arg_str(rt, args[1], &m) ||
      charge(rt, k->len + m->len))
    return 1;
  if (!(ml = gavel__hmac_raw(EVP_sha256(), k->s, k->len, m->s, m->len, mac)))
    return eval_err(rt, "hmac_sha256: HMAC failed");
  buf_open(rt, &b);
  hex_add(&b, mac, ml);
  return ret_buf(rt, out, "hmac_sha256", &b);
}

int gavel__bi_uuid_v4(gv_rt *rt, gvalue *out, const gvalue *args, int nargs) {
  unsigned char u[16];
  char s[37];
  int i, o = 0;
  (void)args, (void)nargs;
  if (RAND_bytes(u, sizeof u) != 1)
    return eval_err(rt, "uuid_v4: random source failed");
  u[6] = (unsigned char)((u[6] & 0x0F) | 0x40);
  u[8] = (unsigned char)((u[8] & 0x3F) | 0x80);
  for (i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      s[o++] = '-';
    s[o++] = HEX_LO[u[i] >> 4];
    s[o++] = HEX_LO[u[i] & 15];
  }
  return ret_str(rt, out, "uuid_v4", s, 36);
}
