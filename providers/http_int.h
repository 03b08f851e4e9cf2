/*
** http_int.h -- network.http internals shared by the blocking provider
** (http.c) and the event-loop driver (http_loop.c).  Private.
**
** A call goes: http_req_build (parameters -> request, allowlist check
** before any connection) -> per hop: http_setup on an easy handle,
** perform, http_after_hop (redirect: next URL re-checked) -> http_result
** (response -> Ordo's {status, body, json_body?, headers} payload).
*/
#ifndef GAVEL_HTTP_INT_H
#define GAVEL_HTTP_INT_H

#include "gavel_providers.h"
#include "runtime.h"
#include <curl/curl.h>
#include <pthread.h>

#define HTTP_MAX_HEADERS 64       /* request headers from 'headers'     */
#define HTTP_MAX_RESP_HDR (64u << 10) /* response header bytes kept     */

typedef struct http_easy http_easy;

struct gavel_http {
  gavel_http_opts o;        /* options, defaults filled in              */
  char *user_agent;         /* owned copy                               */
  char *proxy;              /* owned copy, or NULL                      */
  char *ca_file;            /* owned copy, or NULL                      */
  pthread_key_t key;        /* this thread's http_easy                  */
  pthread_mutex_t mu;       /* guards 'easies'                          */
  http_easy *easies;        /* every thread's handle (for free)         */
};

/* One prepared request and its response, across redirect hops. */
typedef struct http_call {
  const gavel_http *h;       /* options                                 */
  char method[24];           /* upper-cased method of this hop          */
  CURLU *url;                /* URL of this hop (owned)                 */
  const char *const *allow;  /* allowlist (borrowed from the ruleset)   */
  size_t n_allow;            /* entries                                 */
  char *hdr[HTTP_MAX_HEADERS]; /* "Name: value" request headers (owned) */
  int n_hdr;                 /* count                                   */
  char *body;                /* request body (owned) or NULL            */
  size_t body_len;           /* its length                              */
  uint32_t timeout_ms;       /* whole-call timeout                      */
  uint64_t deadline_ns;      /* monotonic deadline of the whole call    */
  uint32_t hops;             /* redirects followed so far               */
  struct curl_slist *slist;  /* headers of the current hop (owned)      */
  char errbuf[CURL_ERROR_SIZE]; /* libcurl's message                    */
  long status;               /* final HTTP status                       */
  char *resp;                /* response body (malloc)                  */
  size_t resp_len;           /* bytes                                   */
  size_t resp_cap;           /* allocated                               */
  int too_big;               /* body exceeded max_body_bytes            */
  int hdr_too_big;           /* headers exceeded HTTP_MAX_RESP_HDR (or
                             ** could not be kept: out of memory)     */
  char *rhdr;                /* response headers "name\0value\0"...     */
  size_t rhdr_len;           /* bytes                                   */
  size_t rhdr_cap;           /* allocated                               */
} http_call;

/* Fills 'c' from a host request (method = operation; params url,
** headers, query, json_body / body; the action's timeout).  Checks the
** allowlist.  0, or 1 with 'msg' set ('c' must still be cleaned). */
int http_req_build(const gavel_http *h, const gv_hostreq *req, http_call *c,
                   char *msg, size_t n);
/* Configures 'easy' for the current hop (after curl_easy_reset). 0, or 1
** with 'msg'. */
int http_setup(http_call *c, CURL *easy, char *msg, size_t n);
/* After a finished hop: a redirect to follow sets *again (URL, method
** and body updated, allowlist re-checked).  0, or 1 with 'msg'. */
int http_after_hop(http_call *c, CURL *easy, int *again, char *msg, size_t n);
/* Message for a failed transfer. */
void http_fail_msg(http_call *c, CURLcode rc, char *msg, size_t n);
/* The response as Ordo's payload {status, body, json_body?, headers} and
** metadata {status} in arena 'a'.  0, or 1 with 'msg'. */
int http_result(http_call *c, gv_arena *a, gvalue *payload, gvalue *metadata,
                char *msg, size_t n);
void http_call_clean(http_call *c);
/* Is the capability/operation pair of 'req' network.http? */
int http_is_http(const gv_hostreq *req);

#endif
