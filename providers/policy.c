/*
** policy.c -- the text form of a capability policy, for hosts' flags and
** configuration files: "timeout=2000,retries=2,backoff=50,breaker=5,...".
** The policy itself is enforced by the engine (core/host.c).
*/
#include "gavel_providers.h"
#include "mem.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct pkey {
  const char *name;  /* key in the text             */
  size_t off;        /* offset of its uint32_t field */
} pkey;

static const pkey keys[] = {
    {"timeout", offsetof(gavel_policy, max_timeout_ms)},
    {"retries", offsetof(gavel_policy, retries)},
    {"backoff", offsetof(gavel_policy, backoff_ms)},
    {"backoff_max", offsetof(gavel_policy, backoff_max_ms)},
    {"breaker", offsetof(gavel_policy, breaker_threshold)},
    {"reset", offsetof(gavel_policy, breaker_reset_ms)},
    {"concurrency", offsetof(gavel_policy, max_concurrency)},
};

gavel_status gavel_policy_parse(const char *spec, gavel_policy *out,
                                gavel_error *err) {
  const char *p = spec;
  gavel__error_clear(err);
  if (!spec || !out)
    return gavel__errorf(err, GAVEL_MISUSE, "gavel_policy_parse: NULL");
  memset(out, 0, sizeof *out);
  while (*p) {
    const char *eq = strchr(p, '='), *end = strchr(p, ',');
    size_t kl, i;
    unsigned long v;
    char *ve;
    if (!end)
      end = p + strlen(p);
    if (!eq || eq > end)
      return gavel__errorf(err, GAVEL_MISUSE, "policy: expected key=value "
                           "at '%.*s'", (int)(end - p), p);
    kl = (size_t)(eq - p);
    for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
      if (strlen(keys[i].name) == kl && !strncmp(keys[i].name, p, kl))
        break;
    if (i == sizeof keys / sizeof keys[0])
      return gavel__errorf(err, GAVEL_MISUSE, "policy: unknown key '%.*s' "
                           "(timeout, retries, backoff, backoff_max, "
                           "breaker, reset, concurrency)", (int)kl, p);
    errno = 0;
    v = strtoul(eq + 1, &ve, 10);
    if (ve == eq + 1 || ve != end || errno || v > 0xFFFFFFFFul ||
        eq[1] == '-')
      return gavel__errorf(err, GAVEL_MISUSE, "policy: '%.*s' needs a "
                           "number", (int)kl, p);
    *(uint32_t *)((char *)out + keys[i].off) = (uint32_t)v;
    p = *end ? end + 1 : end;
  }
  return GAVEL_OK;
}
