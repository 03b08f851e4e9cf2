/*
** builtins_ext.c -- stage 3 support: the registry of Ordo's extended
** builtins (35).  The implementations live by area, as Lua splits its
** libraries: builtins_regex.c, builtins_time.c, builtins_yaml.c,
** builtins_enc.c (encodings, hashes), builtins_jwt.c, builtins_net.c (glob,
** CIDR, semver); their shared helpers are in builtins_lib.h.  The order of
** this table is the builtin index order bytecode refers to: append only.
*/
#define _GNU_SOURCE /* clock_gettime, memrchr */
#include "builtins_lib.h"

/* ==== The table ==== */

/* Arity is Ordo's: now, now_millis and uuid_v4 ignore their arguments
** (any count is accepted); jwt_verify / jwt_encode take 2 or 3. */
const gv_builtin gavel__builtins_ext[] = {
    {"regex_match", 2, 2, 1, gavel__bi_regex_match},
    {"regex_find", 2, 2, 1, gavel__bi_regex_find},
    {"regex_find_all", 2, 2, 1, gavel__bi_regex_find_all},
    {"regex_replace", 3, 3, 1, gavel__bi_regex_replace},
    {"regex_split", 2, 2, 1, gavel__bi_regex_split},
    {"now", 0, -1, 0, gavel__bi_now},
    {"now_millis", 0, -1, 0, gavel__bi_now_millis},
    {"parse_time", 2, 2, 1, gavel__bi_parse_time},
    {"format_time", 2, 2, 1, gavel__bi_format_time},
    {"time_diff", 3, 3, 1, gavel__bi_time_diff},
    {"date_add", 3, 3, 1, gavel__bi_date_add},
    {"time_of_day", 1, 1, 1, gavel__bi_time_of_day},
    {"day_of_week", 1, 1, 1, gavel__bi_day_of_week},
    {"yaml_marshal", 1, 1, 1, gavel__bi_yaml_marshal},
    {"yaml_unmarshal", 1, 1, 1, gavel__bi_yaml_unmarshal},
    {"base64_encode", 1, 1, 1, gavel__bi_base64_encode},
    {"base64_decode", 1, 1, 1, gavel__bi_base64_decode},
    {"url_encode", 1, 1, 1, gavel__bi_url_encode},
    {"url_decode", 1, 1, 1, gavel__bi_url_decode},
    {"hex_encode", 1, 1, 1, gavel__bi_hex_encode},
    {"hex_decode", 1, 1, 1, gavel__bi_hex_decode},
    {"base64url_encode", 1, 1, 1, gavel__bi_base64url_encode},
    {"base64url_decode", 1, 1, 1, gavel__bi_base64url_decode},
    {"md5", 1, 1, 1, gavel__bi_md5},
    {"sha256", 1, 1, 1, gavel__bi_sha256},
    {"hmac_sha256", 2, 2, 1, gavel__bi_hmac_sha256},
    {"uuid_v4", 0, -1, 0, gavel__bi_uuid_v4},
    {"jwt_decode", 1, 1, 1, gavel__bi_jwt_decode},
    {"jwt_verify", 2, 3, 1, gavel__bi_jwt_verify},
    {"jwt_encode", 2, 3, 1, gavel__bi_jwt_encode},
    {"glob_match", 2, 2, 1, gavel__bi_glob_match},
    {"cidr_contains", 2, 2, 1, gavel__bi_cidr_contains},
    {"cidr_intersects", 2, 2, 1, gavel__bi_cidr_intersects},
    {"semver_compare", 2, 2, 1, gavel__bi_semver_compare},
    {"semver_is_valid", 1, 1, 1, gavel__bi_semver_is_valid},
    {NULL, 0, 0, 0, NULL}};
