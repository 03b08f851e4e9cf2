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

/* ==== Lexer (lex.c), shared with parse.c only ====
** Appended by the parser work: lex.c and parse.c are separate files and
** have no private header of their own.  Nothing outside parse.c should
** use these. */
typedef enum gx_tok {
  GX_T_EOF,                                  /* end of input               */
  GX_T_INT, GX_T_FLOAT, GX_T_STR,            /* literals: 'i', 'f', 's'    */
  GX_T_IDENT,                                /* identifier / path span     */
  GX_T_LPAREN, GX_T_RPAREN, GX_T_LBRACKET, GX_T_RBRACKET,
  GX_T_LBRACE, GX_T_RBRACE, GX_T_COMMA, GX_T_COLON,
  GX_T_PLUS, GX_T_MINUS, GX_T_STAR, GX_T_SLASH, GX_T_PERCENT,
  GX_T_BANG, GX_T_EQ, GX_T_NE, GX_T_LT, GX_T_LE, GX_T_GT, GX_T_GE,
  GX_T_ANDAND, GX_T_OROR
} gx_tok;

typedef struct gx_token {
  gx_tok kind;  /* token kind                                  */
  int offset;   /* byte offset of the first char               */
  int line;     /* 1-based line                                */
  int column;   /* 1-based column, in UTF-8 characters         */
  int len;      /* bytes of source text                        */
  int64_t i;    /* GX_T_INT value                              */
  double f;     /* GX_T_FLOAT value                            */
  gv_str *s;    /* GX_T_STR decoded text (in the lexer arena)  */
} gx_token;

typedef struct gx_lexer {
  gv_arena *arena; /* where string literals go               */
  const char *src; /* source text (valid UTF-8, see init)    */
  size_t len;      /* its length in bytes                     */
  size_t pos;      /* next byte to read                       */
  int line;        /* line of 'pos'                           */
  int column;      /* column of 'pos'                         */
} gx_lexer;

/* Checks that 'src' is valid UTF-8 and sets up 'lx'.  GAVEL_COMPILE (with
** the bad byte's position) on invalid UTF-8. */
gavel_status gavel__lex_init(gx_lexer *lx, gv_arena *a, const char *src,
                             size_t len, gavel_error *err);
/* Reads the next token into '*t'.  GAVEL_COMPILE on a lexical error (the
** message starts with "line:column: "), or the arena status. */
gavel_status gavel__lex_next(gx_lexer *lx, gx_token *t, gavel_error *err);
/* Moves the lexer back or forth to a known position. */
void gavel__lex_seek(gx_lexer *lx, size_t pos, int line, int column);
/* 1 if the char at byte 'pos' is alphanumeric in Ordo's sense (ASCII
** letter or digit, or any non-whitespace char >= U+0080). */
int gavel__lex_alnum_at(const gx_lexer *lx, size_t pos);
/* Sets 'err' (code, line, column, offset) and a message prefixed with
** "line:column: ".  Returns 'code'. */
gavel_status gavel__lex_error(gavel_error *err, gavel_status code, int offset,
                              int line, int column, const char *fmt, ...)
    GAVEL_PRINTF(6, 7);

#endif /* GAVEL_EXPR_H */
