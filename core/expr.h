/*
** expr.h -- stage 2a: expression text (or Ordo's JSON AST form) -> AST.
**
** The AST lives in an arena and carries source positions (byte offset,
** line, column) for error messages.  Parse errors are GAVEL_COMPILE with
** line:column and a message saying what was expected.
*/
#ifndef GAVEL_EXPR_H
#define GAVEL_EXPR_H

#include "value.h"

typedef enum gx_kind {
  GX_LIT,    /* literal: 'lit' (null/bool/int/float/string)            */
  GX_PATH,   /* field or variable path: 'path'                          */
  GX_UNARY,  /* 'op' (GX_NOT / GX_NEG), 'a'                             */
  GX_BINARY, /* 'op', 'a', 'b'                                          */
  GX_CALL,   /* 'name', 'args', 'n_args'                                */
  GX_COND,   /* if 'a' then 'b' else 'c'                                */
  GX_ARRAY,  /* 'args', 'n_args'                                        */
  GX_OBJECT, /* 'keys' (gv_str*), 'args' values, 'n_args'               */
  GX_EXISTS, /* exists(path): 'path'                                    */
  GX_COALESCE /* coalesce(args...)                                      */
} gx_kind;

typedef enum gx_op {
  GX_ADD, GX_SUB, GX_MUL, GX_DIV, GX_MOD,
  GX_EQ, GX_NE, GX_LT, GX_LE, GX_GT, GX_GE,
  GX_AND, GX_OR, GX_IN, GX_NOTIN, GX_CONTAINS,
  GX_NOT, GX_NEG
} gx_op;

/* One segment of a path.  Paths are written a.b.0.c, a.b[0].c, a.*.c. */
typedef enum gx_segkind {
  GX_SEG_KEY,   /* object key, or array index when it is all digits  */
  GX_SEG_INDEX, /* [n] written with brackets: array index only       */
  GX_SEG_WILD   /* '*': every element                                 */
} gx_segkind;

typedef struct gx_seg {
  gx_segkind kind; /* see above                                 */
  gv_str *key;     /* GX_SEG_KEY: the segment text              */
  int64_t index;   /* GX_SEG_INDEX: the index                   */
} gx_seg;

typedef struct gx_path {
  gv_str *text;     /* the path as written ("user.profile.level") */
  int is_var;       /* 1: starts with '$' (variable)              */
  gv_str *root;     /* variable name without '$' (is_var) or NULL */
  gx_seg *segs;     /* segments after the variable name, or all   */
  int n_segs;       /* number of segments                          */
} gx_path;

typedef struct gx_node gx_node;
struct gx_node {
  gx_kind kind;     /* node kind                                   */
  gx_op op;         /* GX_UNARY / GX_BINARY operator               */
  int offset;       /* byte offset of the node's first char        */
  int line;         /* 1-based line                                */
  int column;       /* 1-based column (in characters? bytes: see)  */
  gvalue lit;       /* GX_LIT                                      */
  gx_path *path;    /* GX_PATH, GX_EXISTS                          */
  gv_str *name;     /* GX_CALL function name                       */
  gx_node *a, *b, *c; /* operands / condition, then, else          */
  gx_node **args;   /* GX_CALL / GX_ARRAY / GX_OBJECT / GX_COALESCE */
  gv_str **keys;    /* GX_OBJECT keys                              */
  int n_args;       /* length of 'args'                            */
};

/* Parses expression text.  On failure returns GAVEL_COMPILE (or GAVEL_LIMIT
** for length/depth) with err->line/column set and err->msg like
** "1:9: expected operand after '>'" -- the message starts with
** "line:column: ".  The tree is allocated in 'a'. */
gavel_status gavel__parse_expr(gv_arena *a, const char *src, size_t len,
                               gx_node **out, gavel_error *err);

/* Converts Ordo's JSON AST object form ({"Binary": {...}}, {"Field": ...},
** ...) held as a value into an AST.  Errors are GAVEL_LOAD with a message
** naming what is wrong ("unknown variant `Foo`"); 'err->path' gets the
** path inside the object, relative ("Binary.left"). */
gavel_status gavel__parse_ast_json(gv_arena *a, gvalue v, gx_node **out,
                                   gavel_error *err);

/* Parses a path string ("a.b[0].*.c", "$v.x") into 'out'. */
gavel_status gavel__parse_path(gv_arena *a, const char *p, size_t n,
                               gx_path **out, gavel_error *err);

#endif /* GAVEL_EXPR_H */
