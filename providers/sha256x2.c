/*
** sha256x2.c -- SHA-256 of two messages at once with the x86 SHA
** extensions (the audit log's input digests, rendered by its flusher).
** One SHA-NI stream is bound by the latency of sha256rnds2; two
** independent streams interleaved fill the gaps.  Falls back to 0 when
** the CPU lacks SHA-NI (the caller then uses OpenSSL).
*/
#include "sha256x2.h"
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_X86 1
#endif

#ifdef HAVE_X86
static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define SHA_TARGET __attribute__((target("sha,sse4.1,ssse3")))

/* One 64-byte block into each of 'n' (1 or 2) states kept as ABEF/CDGH. */
SHA_TARGET static inline void blocks(__m128i *s0, __m128i *s1,
                                     const unsigned char *const *d, int n) {
  const __m128i mask =
      _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  __m128i m[2][4], a0[2], a1[2], t;
  int i, l;
  for (l = 0; l < n; l++) {
    a0[l] = s0[l];
    a1[l] = s1[l];
  }
#pragma GCC unroll 16
  for (i = 0; i < 16; i++) {
    __m128i k = _mm_loadu_si128((const __m128i *)(K + 4 * i));
    for (l = 0; l < n; l++) {
      __m128i *w = m[l], msg;
      if (i < 4)
        w[i] = _mm_shuffle_epi8(
            _mm_loadu_si128((const __m128i *)(d[l] + 16 * i)), mask);
      else {
        t = _mm_alignr_epi8(w[(i - 1) & 3], w[(i - 2) & 3], 4);
        w[i & 3] = _mm_sha256msg2_epu32(
            _mm_add_epi32(_mm_sha256msg1_epu32(w[i & 3], w[(i - 3) & 3]), t),
            w[(i - 1) & 3]);
      }
      msg = _mm_add_epi32(w[i & 3], k);
      s1[l] = _mm_sha256rnds2_epu32(s1[l], s0[l], msg);
      s0[l] = _mm_sha256rnds2_epu32(s0[l], s1[l], _mm_shuffle_epi32(msg, 0x0E));
    }
  }
  for (l = 0; l < n; l++) {
    s0[l] = _mm_add_epi32(s0[l], a0[l]);
    s1[l] = _mm_add_epi32(s1[l], a1[l]);
  }
}

/* A message as a sequence of blocks: whole ones from the text, then one
** or two padded ones built in 'tail'. */
typedef struct msg {
  const unsigned char *p;
  size_t full;      /* whole blocks in the text            */
  size_t n;         /* all blocks                          */
  unsigned char tail[128];
} msg;

static void msg_init(msg *m, const void *p, size_t len) {
  size_t r = len & 63, tn = r < 56 ? 64 : 128, i;
  uint64_t bits = (uint64_t)len * 8;
  m->p = p;
  m->full = len / 64;
  m->n = m->full + tn / 64;
  memset(m->tail, 0, tn);
  if (r)
    memcpy(m->tail, (const unsigned char *)p + 64 * m->full, r);
  m->tail[r] = 0x80;
  for (i = 0; i < 8; i++)
    m->tail[tn - 1 - i] = (unsigned char)(bits >> (8 * i));
}

static const unsigned char *msg_block(const msg *m, size_t k) {
  return k < m->full ? m->p + 64 * k : m->tail + 64 * (k - m->full);
}

SHA_TARGET static void init_state(__m128i *s0, __m128i *s1) {
  static const uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372,
                                0xa54ff53a, 0x510e527f, 0x9b05688c,
                                0x1f83d9ab, 0x5be0cd19};
  __m128i t = _mm_loadu_si128((const __m128i *)h);
  __m128i u = _mm_loadu_si128((const __m128i *)(h + 4));
  t = _mm_shuffle_epi32(t, 0xB1); /* CDAB */
  u = _mm_shuffle_epi32(u, 0x1B); /* EFGH */
  *s0 = _mm_alignr_epi8(t, u, 8); /* ABEF */
  *s1 = _mm_blend_epi16(u, t, 0xF0); /* CDGH */
}

SHA_TARGET static void out_state(__m128i s0, __m128i s1, unsigned char *md) {
  const __m128i bswap =
      _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  __m128i t = _mm_shuffle_epi32(s0, 0x1B); /* FEBA */
  __m128i u = _mm_shuffle_epi32(s1, 0xB1); /* DCHG */
  __m128i a = _mm_blend_epi16(t, u, 0xF0); /* DCBA */
  __m128i b = _mm_alignr_epi8(u, t, 8);    /* HGFE */
  _mm_storeu_si128((__m128i *)md, _mm_shuffle_epi8(a, bswap));
  _mm_storeu_si128((__m128i *)(md + 16), _mm_shuffle_epi8(b, bswap));
}

SHA_TARGET static void run(const void *pa, size_t la, unsigned char *mda,
                           const void *pb, size_t lb, unsigned char *mdb) {
  msg m[2];
  __m128i s0[2], s1[2];
  size_t k, both;
  int n = pb ? 2 : 1;
  msg_init(&m[0], pa, la);
  init_state(&s0[0], &s1[0]);
  if (n == 2) {
    msg_init(&m[1], pb, lb);
    init_state(&s0[1], &s1[1]);
  }
  both = n == 2 ? (m[0].n < m[1].n ? m[0].n : m[1].n) : 0;
  for (k = 0; k < both; k++) {
    const unsigned char *d[2];
    d[0] = msg_block(&m[0], k);
    d[1] = msg_block(&m[1], k);
    blocks(s0, s1, d, 2);
  }
  for (n = 0; n < (pb ? 2 : 1); n++)
    for (k = both; k < m[n].n; k++) {
      const unsigned char *d[1];
      d[0] = msg_block(&m[n], k);
      blocks(&s0[n], &s1[n], d, 1);
    }
  out_state(s0[0], s1[0], mda);
  if (pb)
    out_state(s0[1], s1[1], mdb);
}

int gavel__sha256x2_ok(void) {
  static int known; /* -1 no, 1 yes, 0 not asked yet (threads may race to
                       ask: each stores the same answer) */
  unsigned a, b, c, d;
  int ok = __atomic_load_n(&known, __ATOMIC_RELAXED);
  if (ok)
    return ok > 0;
  ok = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_1) && (c & bit_SSSE3) &&
       __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29));
  __atomic_store_n(&known, ok ? 1 : -1, __ATOMIC_RELAXED);
  return ok;
}

int gavel__sha256x2(const void *pa, size_t la, unsigned char mda[32],
                const void *pb, size_t lb, unsigned char mdb[32]) {
  if (!gavel__sha256x2_ok())
    return 0;
  run(pa, la, mda, pb, lb, mdb);
  return 1;
}
#else
int gavel__sha256x2_ok(void) { return 0; }
int gavel__sha256x2(const void *pa, size_t la, unsigned char mda[32],
                const void *pb, size_t lb, unsigned char mdb[32]) {
  (void)pa; (void)la; (void)mda; (void)pb; (void)lb; (void)mdb;
  return 0;
}
#endif
