/*
** allow.c -- the network.http allowlist decision, in one place.
**
** Every host that serves network.http (the C provider on libcurl, the Lua
** provider on nginx cosockets, reached over the FFI) parses the URL its
** own way and then asks this function, so the two can never disagree on
** what an entry means.  Entries: "host", "host:port",
** "scheme://host[:port][/]", "[v6]:port", "*.domain", "*"; a missing
** scheme or port matches any; hosts compare case-insensitively, without
** brackets and without a final dot.  No I/O, no allocation.
*/
#include "gavel.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct allow_ent {
  char scheme[8]; /* "http", "https" or "" (both)        */
  char host[256]; /* lower case, no brackets, no final . */
  long port;      /* -1 = any                            */
} allow_ent;

/* Normalises a host into dst (lower case, no [], no final dot).  Returns
** 1 when it does not fit (such a host can never match). */
static int norm_host(char *dst, size_t n, const char *src, size_t len) {
  size_t i;
  if (len >= 2 && src[0] == '[' && src[len - 1] == ']') {
    src++;
    len -= 2;
  }
  if (len && src[len - 1] == '.')
    len--;
  if (len >= n)
    return 1;
  for (i = 0; i < len; i++)
    dst[i] = (char)tolower((unsigned char)src[i]);
  dst[len] = 0;
  return 0;
}

/* Parses one entry; 0 on success, 1 for an entry that can never match. */
static int parse_entry(const char *e, allow_ent *out) {
  const char *p = strstr(e, "://"), *h, *he;
  char *end;
  memset(out, 0, sizeof *out);
  out->port = -1;
  if (p) {
    size_t sl = (size_t)(p - e);
    if (sl == 4 && !strncasecmp(e, "http", 4))
      memcpy(out->scheme, "http", 5);
    else if (sl == 5 && !strncasecmp(e, "https", 5))
      memcpy(out->scheme, "https", 6);
    else
      return 1;
    e = p + 3;
  }
  h = e;
  if (*h == '[') {
    if (!(he = strchr(h, ']')))
      return 1;
    he++;
  } else
    for (he = h; *he && *he != ':' && *he != '/'; he++)
      ;
  if (he == h || norm_host(out->host, sizeof out->host, h, (size_t)(he - h)))
    return 1;
  if (*he == ':') {
    out->port = strtol(he + 1, &end, 10);
    if (end == he + 1 || out->port <= 0 || out->port > 65535)
      return 1;
    he = end;
  }
  return !(*he == 0 || (*he == '/' && he[1] == 0));
}

static int host_matches(const char *pat, const char *host) {
  size_t lp, lh;
  if (!strcmp(pat, "*"))
    return 1;
  if (pat[0] == '*' && pat[1] == '.') {
    lp = strlen(pat + 1);
    lh = strlen(host);
    return lh > lp && !strcmp(host + lh - lp, pat + 1);
  }
  return !strcmp(pat, host);
}

int gavel_http_allow_entry_valid(const char *entry) {
  allow_ent ae;
  return entry && !parse_entry(entry, &ae);
}

int gavel_http_allow_match(const char *scheme, const char *host,
                           size_t host_len, long port,
                           const char *const *allow, size_t n) {
  char lh[256];
  size_t i;
  if (!scheme || !host || (strcmp(scheme, "http") && strcmp(scheme, "https")))
    return 0;
  if (norm_host(lh, sizeof lh, host, host_len) || !lh[0])
    return 0;
  for (i = 0; i < n; i++) {
    allow_ent ae;
    if (!allow[i] || parse_entry(allow[i], &ae))
      continue;
    if ((!ae.scheme[0] || !strcmp(ae.scheme, scheme)) &&
        (ae.port < 0 || ae.port == port) && host_matches(ae.host, lh))
      return 1;
  }
  return 0;
}
