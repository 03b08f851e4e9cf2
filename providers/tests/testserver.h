/*
** testserver.h -- a small HTTP/1.1 server on loopback for the provider
** tests: one thread per connection, keep-alive, and answers chosen by
** path so a test can ask for exactly the failure it needs.
**
**   /ok              200 {"ok":true}  (application/json)
**   /echo            200 the request as JSON: method, path, query,
**                    headers (lower-case names), body
**   /slow?ms=N       waits N ms, then 200 {"slow":N}
**   /status?code=N   status N, {"error":"status N"}
**   /badjson         200, application/json, but "{not json"
**   /text            200 text/plain "hello"
**   /binary          200, bytes that are not UTF-8
**   /big?n=N         200, N bytes
**   /multi           200, the header X-Multi twice
**   /redirect?to=U&code=C   C (302) with Location U (percent-decoded)
**   /loop            302 to itself
**   /reset           reads the request, then resets the connection
**   /hang            reads the request, never answers
** Every response carries exactly Content-Type, Content-Length and
** X-Test: yes (no Date), so results can be compared byte for byte.
*/
#ifndef GAVEL_TESTSERVER_H
#define GAVEL_TESTSERVER_H

typedef struct ts_server ts_server;

/* Listens on 127.0.0.1 (ephemeral port).  NULL on failure. */
ts_server *ts_start(void);
int ts_port(const ts_server *s);
/* Stops accepting, cuts every connection, joins all threads, frees. */
void ts_stop(ts_server *s);
/* Requests seen for 'path' (without the query); NULL = all requests. */
int ts_hits(ts_server *s, const char *path);
/* Connections accepted. */
int ts_connections(ts_server *s);
void ts_reset_counts(ts_server *s);

#endif
