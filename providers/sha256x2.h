/* sha256x2.h -- SHA-256 of one or two messages with SHA-NI (sha256x2.c). */
#ifndef GAVEL_SHA256X2_H
#define GAVEL_SHA256X2_H
#include <stddef.h>
/* 1 when the CPU has the SHA extensions (and SSSE3, SSE4.1). */
int gavel__sha256x2_ok(void);
/* Digests pa[0..la) into mda and, when pb is not NULL, pb[0..lb) into
** mdb, both at once.  0 (nothing written) without SHA-NI. */
int gavel__sha256x2(const void *pa, size_t la, unsigned char mda[32],
                const void *pb, size_t lb, unsigned char mdb[32]);
#endif
