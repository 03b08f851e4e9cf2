/*
** json.h -- JSON text <-> values: a validating, projecting reader and a
** deterministic writer; number formatting shared with builtins.
**
** Reader: RFC 8259, UTF-8 validated, numbers per the JSON grammar.
** Integer lexemes that fit int64 become GV_INT (one that fits only uint64
** wraps negative, as Ordo); any lexeme with '.', 'e' or 'E' (or too large)
** becomes GV_FLOAT.  Duplicate object keys: the last one wins, at the
** position of the first.  Errors name the byte offset, line and column.
** Writer: compact, insertion-ordered keys, ints without fraction, floats
** in shortest round-trip form always with a fraction or exponent ("3.0",
** "0.1", "1e21", as ryu/serde_json print them), non-finite -> null.
** Locale-independent throughout.
*/
#ifndef GAVEL_JSON_H
#define GAVEL_JSON_H

#include "value.h"

/* A projection: the set of paths a ruleset reads.  A node whose 'whole' is
** set is materialised completely; otherwise only its children are.  A child
** named "*" applies to every array element / object member; a child with a
** decimal name applies to that object key or that array index.  Values the
** projection does not reach may be dropped (object members omitted, array
** elements replaced by null) but are still fully validated. */
typedef struct gv_proj {
  const char *key;        /* segment text (not NUL-terminated)        */
  uint32_t key_len;       /* its length                               */
  int whole;              /* 1: keep this value entirely              */
  struct gv_proj *child;  /* first child                              */
  struct gv_proj *next;   /* next sibling                             */
  /* Nodes with GV_PROJ_INDEX_MIN children or more also find them by
  ** key through a hash index (a ruleset may read 100,000 fields of one
  ** object: a scan per input key was quadratic, at load and per run). */
  struct gv_proj **idx;   /* children by key (NULL: scan the list)    */
  uint32_t idx_mask;      /* slots - 1                                */
  uint32_t n_child;       /* children                                 */
  struct gv_proj *star;   /* the child named "*", or NULL             */
  /* Indexed nodes also find the children that name an array index ("7",
  ** "07", "+7") by binary search over them sorted by index: a scan of
  ** every child per array element was quadratic. */
  const struct gv_proj_ichild *ichild; /* sorted by index, or NULL   */
  uint32_t n_ichild;
  struct gv_proj *indexed_next; /* (while building: next indexed node) */
} gv_proj;
typedef struct gv_proj_ichild {
  uint64_t index;
  const gv_proj *c;
} gv_proj_ichild;
#define GV_PROJ_INDEX_MIN 16

/* The array index a projection segment names: an optional '+' and decimal
** digits (leading zeros allowed), as Rust's str::parse::<usize> reads Ordo
** paths.  Returns 0 if the segment is not an index. */
int gavel__proj_seg_index(const gv_proj *c, uint64_t *idx);

/* The child of 'n' named exactly (k, len) (not "*" for other keys), or
** NULL. */
gv_proj *gavel__proj_find(const gv_proj *n, const char *k, uint32_t len);

/* Parses 'n' bytes at 'p' into '*out' (values in arena 'a').  'proj' NULL
** materialises everything.  Trailing non-whitespace is an error.  Returns
** GAVEL_OK, GAVEL_JSON (err->offset/line/column/msg set), GAVEL_LIMIT
** (depth > GAVEL_MAX_JSON_DEPTH; a string or key over GAVEL_MAX_STR_BYTES,
** an array over GAVEL_MAX_ARR_LEN elements, an object over
** GAVEL_MAX_ARR_LEN members: the message names the limit and the JSON
** path, see "Reader limits" in json.c) or GAVEL_NOMEM. */
gavel_status gavel__json_parse(gv_arena *a, const char *p, size_t n,
                               const gv_proj *proj, gvalue *out,
                               gavel_error *err);
/* The same, failing with GAVEL_LIMIT on an array of more than 'max_elems'
** elements (0, or more than GAVEL_MAX_ARR_LEN: GAVEL_MAX_ARR_LEN). */
gavel_status gavel__json_parse_max(gv_arena *a, const char *p, size_t n,
                                   const gv_proj *proj, uint64_t max_elems,
                                   gvalue *out, gavel_error *err);

/* Appends compact JSON for 'v' (GV_MISSING writes null).  A value nesting
** deeper than GAVEL_MAX_WALK_DEPTH is not recursed into: the text stops
** there and b->oom is set (values built by the engine never nest that
** deep; this bounds the C stack whatever the value).  A non-finite float
** writes null (JSON has no inf/NaN; the engine never builds one). */
void gavel__json_write(gv_buf *b, gvalue v);
/* The same, reporting: 0 written; -1 too deep (b->oom set, text cut);
** -2 written, but a float was inf or NaN and became null; -3 the buffer
** failed or passed its 'max' (b->oom set): the walk stopped there, so a
** value holding one container many times costs no more than 'max'. */
int gavel__json_write_checked(gv_buf *b, gvalue v);
/* The same with json_marshal's float text (gavel__fmt_double_marshal). */
int gavel__json_write_marshal(gv_buf *b, gvalue v);
/* Appends a JSON string literal (quotes + escapes) for n bytes at p. */
void gavel__json_write_str(gv_buf *b, const char *p, size_t n);

/* Ordo's display form (Rust Display of its Value), used by to_string,
** format and string conversions: strings in double quotes, floats without
** a trailing ".0" and never in exponent form, arrays "[1, 2]", objects
** {"k": v}. */
void gavel__value_display(gv_buf *b, gvalue v);
/* The same; -1 (b->oom set) for a value deeper than GAVEL_MAX_WALK_DEPTH,
** -3 when the buffer failed or passed its 'max' (the walk stops). */
int gavel__value_display_checked(gv_buf *b, gvalue v);

/* Shortest round-trip text for a finite double as JSON writes it; returns
** length written (buf >= 32 bytes). */
size_t gavel__fmt_double_json(char *buf, double d);
/* json_marshal's text for a double: exponent form with a sign below 1e-5
** and from 1e16 ("2.5e-7", "1e+16"); buf >= 32 bytes. */
size_t gavel__fmt_double_marshal(char *buf, double d);
/* Display form of a double ("2", "0.1", "1000000000000000000000"). buf must
** hold at least 400 bytes. */
size_t gavel__fmt_double_display(char *buf, double d);
/* Locale-independent, correctly rounded decimal -> double.  Returns 0 on
** success; 'n' bytes must form a full number (strtod syntax, no hex/inf). */
int gavel__parse_double(const char *p, size_t n, double *out);

#endif /* GAVEL_JSON_H */
