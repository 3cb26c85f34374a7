/*
 * jinja-impl.h — internals of the chat-template interpreter (template.h):
 * values, the byte buffer, tokens, the syntax tree and the render state.
 *
 * Pipeline: jinja_lex.c turns the source into tokens, applying jinja2's
 * whitespace rules (trim_blocks, lstrip_blocks, -/+ markers, newline
 * normalization); jinja_parse.c builds a tree of jnode (owned by the
 * template's arena); jinja_eval.c walks it, jinja_filters.c and
 * jinja_methods.c hold the whitelisted filters, tests, methods and globals;
 * jinja_value.c the values, jinja_str.c Python's str()/repr()/json.dumps.
 *
 * Invariants: a template is immutable once parsed (renders share it across
 * threads; its literal values are only ever reference-counted). Values are
 * immutable once built, except namespace attributes and the loop object's
 * position. Every evaluator function that fails has recorded a message
 * with ts_error and returns NULL or a status; nothing is printed.
 */
#ifndef TS_JINJA_IMPL_H
#define TS_JINJA_IMPL_H

#include "core/core-impl.h"
#include "tessera/template.h"

#include <stdatomic.h>

/* ---------------------------------------------------------------- values */

/* Kinds a template sees besides the public ones. */
enum {
    JK_UNDEF = TS_TMPL_KIND_COUNT, /* jinja2's Undefined */
    JK_NS,                         /* namespace(): a dict with settable attributes */
    JK_FUNC,                       /* global, bound method, macro, caller */
    JK_LOOP,                       /* the `loop` object of a for */
};

enum {
    JV_STATIC = 1, /* a singleton: never counted, never freed */
    JV_TUPLE = 2,  /* a list printed as a tuple ("(1, 2)") */
    JV_ASCII = 4,  /* a string with one byte per code point (ASCII, or ill-formed bytes) */
};

typedef enum jfunc_kind {
    JF_GLOBAL, /* id: jinja_methods.c's global table */
    JF_METHOD, /* id: method table; self: the object */
    JF_MACRO,  /* node: the macro; self: caller (or NULL) */
    JF_CALLER, /* node: the call block; frame: where it was written */
} jfunc_kind;

struct jnode;
struct jframe;

struct ts_tmpl_value {
    atomic_int refs;
    uint8_t kind;  /* ts_tmpl_kind or JK_* */
    uint8_t flags; /* JV_* */
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            char *p;   /* NUL-terminated copy stored after the struct */
            size_t n;  /* bytes */
            size_t cp; /* code points (an ill-formed byte counts one) */
        } s;
        struct {
            ts_tmpl_value **v; /* (cap) */
            size_t n, cap;
        } list;
        struct {                  /* dict and namespace */
            ts_tmpl_value **keys; /* (cap) strings */
            ts_tmpl_value **vals; /* (cap) */
            size_t n, cap;
            uint32_t *index; /* (index_cap) slot → entry + 1, 0 empty; NULL for small */
            size_t index_cap;
        } dict;
        struct {
            uint8_t fk; /* jfunc_kind */
            uint16_t id;
            ts_tmpl_value *self;
            const struct jnode *node;
            struct jframe *frame; /* scope it sees: JF_CALLER while its block
                                   * runs, JF_MACRO while the scope it was
                                   * defined in lasts (else NULL: the top) */
        } fn;
        struct {
            ts_tmpl_value *items; /* the list iterated */
            size_t index0;
            uint32_t depth0;
        } loop;
        char *hint; /* JK_UNDEF: "'x' is undefined" (NULL: no name known) */
    } u;
};

typedef ts_tmpl_value jv; /* shorthand inside the interpreter */

/* Reference counting: jv_ref returns v (a new reference); jv_unref is
 * ts_tmpl_value_free. Both accept NULL. */
jv *jv_ref(const jv *v);
void jv_unref(jv *v);

/* Constructors return a new reference, NULL when out of memory. The
 * singletons (none, true, false, plain undefined) never fail. */
jv *jv_none(void);
jv *jv_bool(bool b);
jv *jv_undef(void);
jv *jv_undef_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
jv *jv_int(int64_t i);
jv *jv_float(double f);
jv *jv_str(const char *s, size_t n);
jv *jv_list(size_t cap);
jv *jv_dict(void);
jv *jv_ns(void);
jv *jv_func(jfunc_kind fk, int id, jv *self, const struct jnode *node);
jv *jv_loop(jv *items); /* takes a reference to items */

/* list push / dict set take ownership of the value (freed on failure). */
bool jv_list_push(jv *list, jv *item);
bool jv_dict_put(jv *dict, const char *key, size_t n, jv *val);
/* Borrowed value of key, or NULL. */
jv *jv_dict_find(const jv *dict, const char *key, size_t n);

static inline bool jv_is_str(const jv *v) { return v->kind == TS_TMPL_KIND_STRING; }
static inline bool jv_is_list(const jv *v) { return v->kind == TS_TMPL_KIND_LIST; }
static inline bool jv_is_dict(const jv *v) { return v->kind == TS_TMPL_KIND_DICT; }
static inline bool jv_is_undef(const jv *v) { return v->kind == JK_UNDEF; }
static inline bool jv_is_none(const jv *v) { return v->kind == TS_TMPL_KIND_NONE; }
/* Numbers in Python's sense: bool is an int. */
static inline bool jv_is_int(const jv *v) {
    return v->kind == TS_TMPL_KIND_INT || v->kind == TS_TMPL_KIND_BOOL;
}
static inline bool jv_is_num(const jv *v) { return jv_is_int(v) || v->kind == TS_TMPL_KIND_FLOAT; }
static inline int64_t jv_int_of(const jv *v) {
    return v->kind == TS_TMPL_KIND_BOOL ? (int64_t)v->u.b : v->u.i;
}
static inline double jv_num_of(const jv *v) {
    return v->kind == TS_TMPL_KIND_FLOAT ? v->u.f : (double)jv_int_of(v);
}

/* Python truthiness (undefined is false; functions, namespaces true). */
bool jv_truthy(const jv *v);
/* Python ==: numbers by value (True == 1), str by bytes, list with list and
 * tuple with tuple element-wise, dicts as sets of pairs; undefined equals
 * undefined. `depth` bounds recursion (false beyond it). `budget` (or
 * NULL: unbounded) is decremented per value visited and per 64 bytes of
 * strings compared; at 0 the answer is false and the caller must fail. */
bool jv_equal(const jv *a, const jv *b, int depth, uint64_t *budget);
/* Python <-ordering for numbers, strings (code point order = UTF-8 byte
 * order) and lists; false when the kinds cannot be ordered (*cmp unset)
 * or the budget ran out. */
bool jv_compare(const jv *a, const jv *b, int *cmp, int depth, uint64_t *budget);
/* "dict object", "str object" ... as jinja2 names types in messages. */
const char *jv_type_name(const jv *v);

/* ---------------------------------------------------------------- buffer */

typedef struct jbuf {
    char *p;
    size_t n, cap;
    size_t max; /* 0, or the most bytes it may hold */
    bool over;  /* a put failed because of max */
} jbuf;

/* false: out of memory, or (b->over) the put would pass b->max */
bool jbuf_put(jbuf *b, const void *s, size_t n);
bool jbuf_putc(jbuf *b, char c);
bool jbuf_puts(jbuf *b, const char *s);
bool jbuf_printf(jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void jbuf_free(jbuf *b);
/* A string value of the buffer's bytes; the buffer is emptied (kept). */
jv *jbuf_to_str(jbuf *b);

/* ---------------------------------------------------------- conversions */

/* jinja_str.c. Each appends to b and returns false only when out of memory
 * or (tojson, repr) when a value cannot be written: *why then says so. */
bool jv_write_str(jbuf *b, const jv *v, int depth);  /* Python str() */
bool jv_write_repr(jbuf *b, const jv *v, int depth); /* Python repr() */
void jv_write_float(char out[32], double f);         /* Python repr(float) */
typedef struct jjson_opts {
    int indent;                     /* < 0: none (one line) */
    const char *item_sep, *key_sep; /* ", " and ": " (or "," with indent) */
    bool sort_keys;
    bool ensure_ascii;
} jjson_opts;
bool jv_write_json(jbuf *b, const jv *v, const jjson_opts *o, int depth, const char **why);

/* Length in bytes of a Python whitespace character (str.isspace) at
 * s[0..n), or 0. */
size_t py_space_at(const char *s, size_t n);
/* Length of a whitespace character ending at s[n-1], or 0. */
size_t py_space_before(const char *s, size_t n);
/* Code points of a string value (bytes of an ill-formed sequence count
 * one each). */
static inline size_t jv_str_cplen(const jv *s) { return s->u.s.cp; }
size_t utf8_count(const char *s, size_t n);
/* Byte offset of code point i (0..cplen) of s[0..n). */
size_t utf8_offset(const char *s, size_t n, size_t i);
/* Byte length of the code point at s[0..n) (1 for an ill-formed byte). */
size_t utf8_len(const char *s, size_t n);

/* ---------------------------------------------------------------- arena */

typedef struct jarena {
    struct jchunk *head;
} jarena;

void *jarena_alloc(jarena *a, size_t n); /* zeroed, 16-aligned; NULL: no memory */
void jarena_free(jarena *a);

/* ---------------------------------------------------------------- tokens */

typedef enum jtok_kind {
    JT_EOF,
    JT_TEXT,        /* s, n: template data after whitespace control */
    JT_VAR_BEGIN,   /* {{ */
    JT_VAR_END,     /* }} */
    JT_BLOCK_BEGIN, /* {% */
    JT_BLOCK_END,   /* %} */
    JT_NAME,        /* s, n */
    JT_INT,         /* i */
    JT_FLOAT,       /* f */
    JT_STRING,      /* s, n: decoded */
    JT_OP,          /* op */
} jtok_kind;

#define JOP_LIST(X)                                                                                \
    X(ADD, "+")                                                                                    \
    X(SUB, "-")                                                                                    \
    X(DIV, "/")                                                                                    \
    X(FLOORDIV, "//") X(MUL, "*") X(MOD, "%") X(POW, "**") X(TILDE, "~") X(LBRACKET, "[")          \
        X(RBRACKET, "]") X(LPAREN, "(") X(RPAREN, ")") X(LBRACE, "{") X(RBRACE, "}") X(EQ, "==")   \
            X(NE, "!=") X(GT, ">") X(GE, ">=") X(LT, "<") X(LE, "<=") X(ASSIGN, "=") X(DOT, ".")   \
                X(COLON, ":") X(PIPE, "|") X(COMMA, ",") X(SEMICOLON, ";")

typedef enum jop {
#define JOP_X(name, text) JOP_##name,
    JOP_LIST(JOP_X)
#undef JOP_X
        JOP_COUNT
} jop;

extern const char *const jop_text[JOP_COUNT];

typedef struct jtok {
    uint8_t kind; /* jtok_kind */
    uint8_t op;   /* jop for JT_OP */
    uint32_t off; /* byte offset in the normalized source */
    const char *s;
    size_t n;
    int64_t i;
    double f;
} jtok;

typedef struct jtoks {
    jtok *v;
    size_t n, cap;
} jtoks;

/* Tokenize src[0..n) (already newline-normalized). Strings are decoded
 * into `arena`. TS_ERR_FORMAT with "template line L, column C: ...". */
ts_status jinja_lex(const char *src, size_t n, jarena *arena, jtoks *out);

/* "template line L, column C: " prefix for the byte offset `off`. */
ts_status jinja_error_at(const char *src, size_t n, uint32_t off, ts_status st, const char *fmt,
                         ...) __attribute__((format(printf, 5, 6)));

/* ------------------------------------------------------------------ tree */

typedef enum jnode_kind {
    /* expressions */
    JN_LIT,      /* lit */
    JN_NAME,     /* name */
    JN_LIST,     /* kids */
    JN_TUPLE,    /* kids */
    JN_DICT,     /* kids: key, value, key, value ... */
    JN_ATTR,     /* a.name */
    JN_ITEM,     /* a[b] */
    JN_SLICE,    /* a[b:c:d], each of b c d may be NULL */
    JN_CALL,     /* a(kids), kids may be JN_KWARG */
    JN_KWARG,    /* name=a */
    JN_FILTER,   /* a|name(kids); fn: filter id (-1 unknown) */
    JN_TEST,     /* a is [not] name(kids); fn: test id; op: 1 when negated */
    JN_NEG,      /* -a */
    JN_POS,      /* +a */
    JN_NOT,      /* not a */
    JN_BIN,      /* a op b: + - * / // % ** */
    JN_CONCAT,   /* a ~ b */
    JN_AND,      /* a and b */
    JN_OR,       /* a or b */
    JN_CMP,      /* a op b (op: EQ NE LT LE GT GE; IN with flag 0, NOT IN 1) */
    JN_COND,     /* b if a else c (c may be NULL) */
    JN_CAPTURED, /* the body text of a filter block / set block */
    /* statements */
    JN_BLOCK,     /* kids */
    JN_TEXT,      /* lit */
    JN_OUTPUT,    /* {{ a }} */
    JN_IF,        /* if a: b else c (c: block or JN_IF, may be NULL) */
    JN_FOR,       /* for a in b if c: d else e */
    JN_SET,       /* a = b; a: JN_NAME, JN_TUPLE of names or JN_ATTR */
    JN_SETBLOCK,  /* set a: b through filter chain c (or NULL) */
    JN_MACRO,     /* macro name(kids: JN_NAME with a = default): b */
    JN_CALLBLOCK, /* call(kids) a: b */
    JN_FILTERBLK, /* filter chain a over body b */
    JN_WITH,      /* kids: JN_SET; body b */
    JN_BREAK,
    JN_CONTINUE,
    JN_KIND_COUNT
} jnode_kind;

/* Comparison operators beyond jop. */
enum { JCMP_IN = JOP_COUNT, JCMP_NOTIN };

typedef struct jnode {
    uint8_t kind; /* jnode_kind */
    uint8_t op;
    int16_t fn;
    uint32_t off; /* byte offset in the normalized source */
    struct jnode *a, *b, *c, *d, *e;
    struct jnode **kids;
    uint32_t n;
    uint32_t name_len;
    const char *name; /* interned: equal names share one pointer */
    jv *lit;
} jnode;

struct ts_template {
    char *src; /* newline-normalized source */
    size_t len;
    jarena arena;
    jnode *root; /* JN_BLOCK */
    ts_strmap names;
    const char *name_loop, *name_caller; /* interned "loop", "caller" */
    jv **lits;                           /* literals, released with the template */
    size_t n_lits, cap_lits;
};

/* Build t->root from tokens (jinja_parse.c). */
ts_status jinja_parse(ts_template *t, const jtoks *toks);

/* Filter and test ids by name (jinja_filters.c); -1 when unknown. */
int jinja_filter_id(const char *name);
int jinja_test_id(const char *name);

/* ---------------------------------------------------------------- render */

typedef struct jvar {
    const char *name; /* interned */
    jv *val;
} jvar;

typedef struct jframe {
    struct jframe *parent;
    jvar *v;
    size_t n, cap;
} jframe;

typedef struct jargs {
    jv **pos; /* (npos) */
    size_t npos;
    const char **kw; /* (nkw) interned names */
    jv **kwv;        /* (nkw) */
    size_t nkw;
} jargs;

typedef struct jrender {
    const ts_template *t;
    const jv *ctx;
    ts_template_params p;
    jbuf *out;   /* where output goes now (captures swap it) */
    jframe *top; /* innermost scope */
    jframe *root;
    jv *captured; /* body text for JN_CAPTURED */
    jv **ns;      /* (n_ns) namespaces made by this render: the only
                   * mutable containers, so the only way to a cycle;
                   * emptied when the render ends */
    size_t n_ns, cap_ns;
    jv **closures; /* (n_closures) macros defined in a scope other than
                    * the top level, which they see while it lasts:
                    * when it ends their frame is reset to NULL */
    size_t n_closures, cap_closures;
    ts_status st; /* of the first failure */
    uint64_t steps;
    uint32_t depth;
    int loopctl; /* 0, JN_BREAK or JN_CONTINUE while unwinding */
} jrender;

/* Record an error at node `at` and return st. */
ts_status jr_fail(jrender *r, const jnode *at, ts_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Out of memory at `at`; returns NULL for `return jr_oom(r, at);`. */
jv *jr_oom(jrender *r, const jnode *at);
/* Count n steps; false (with the error recorded) beyond max_steps. */
bool jr_step(jrender *r, const jnode *at, uint64_t n);
/* Count the cost of building n bytes (or n list slots). */
static inline bool jr_bytes(jrender *r, const jnode *at, size_t n) {
    return jr_step(r, at, n / 16);
}
/* Check a string or list being built against max_output. */
bool jr_size_ok(jrender *r, const jnode *at, size_t n);
/* A buffer for building a value: holds at most max_output + 1 bytes. */
static inline jbuf jr_buf(const jrender *r) { return (jbuf){.max = r->p.max_output + 1}; }
/* Report a failed write into b: over max_output, or out of memory. */
jv *jr_buf_fail(jrender *r, const jnode *at, jbuf *b);
/* a == b and a <=> b within the step budget: 1 or 0 (jr_cmp: 0 when a and
 * b cannot be ordered, with an error recorded), -1 after an error. */
int jr_equal(jrender *r, const jnode *at, const jv *a, const jv *b);
int jr_cmp(jrender *r, const jnode *at, const jv *a, const jv *b, int *c);

/* jinja_eval.c */
jv *jr_eval(jrender *r, const jnode *e);
ts_status jr_exec(jrender *r, const jnode *s);
jv *jr_getattr(jrender *r, const jnode *at, jv *obj, const char *name, size_t n);
jv *jr_getitem(jrender *r, const jnode *at, jv *obj, const jv *key);
/* Items of an iterable as a list (new reference): list/tuple itself, dict
 * keys, string code points, undefined → empty; NULL (error) otherwise. */
jv *jr_iter_list(jrender *r, const jnode *at, jv *v);
/* Call a function value with evaluated arguments. */
jv *jr_call(jrender *r, const jnode *at, jv *fn, const jargs *a);
/* Evaluate a JN_CALL node; `caller` (a call block's body) is passed to the
 * macro it calls, or NULL. */
jv *jr_eval_call(jrender *r, const jnode *call, jv *caller);

/* jinja_exec.c */
/* Value of a JN_NAME: innermost scope first, then the context, then the
 * globals; Undefined ("'x' is undefined") when none has it. */
jv *jr_lookup(jrender *r, const jnode *name);
jv *jr_call_macro(jrender *r, const jnode *at, const jv *fn, const jargs *a, jv *caller);
/* Register a namespace made by the render (see jrender.ns). */
bool jr_track_ns(jrender *r, const jnode *at, jv *ns);
/* Python str(v) as a new string value. */
jv *jr_to_str(jrender *r, const jnode *at, const jv *v);
/* An undefined that errors when used: report it. */
jv *jr_undef_error(jrender *r, const jnode *at, const jv *u);

/* Argument helpers: positional i or keyword `name`; NULL when absent. */
jv *jargs_get(const jargs *a, size_t i, const char *name);
/* Fail unless every argument is among the n names (positional ones in
 * order); `what` names the callee for the message. */
bool jargs_check(jrender *r, const jnode *at, const jargs *a, const char *what,
                 const char *const *names, size_t n);

/* jinja_filters.c */
jv *jr_filter(jrender *r, const jnode *at, int id, jv *in, const jargs *a);
/* Returns 1 / 0, or -1 on error. */
int jr_test(jrender *r, const jnode *at, int id, jv *in, const jargs *a);
int jr_test_by_name(jrender *r, const jnode *at, const char *name, jv *in, const jargs *a);

/* jinja_methods.c */
/* A bound method value for obj.name, or NULL (no error) when obj has no
 * such whitelisted method. */
jv *jr_method(jrender *r, const jv *obj, const char *name, size_t n);
jv *jr_call_method(jrender *r, const jnode *at, const jv *fn, const jargs *a);
/* Global function value by name, or NULL. */
jv *jr_global(const char *name, size_t n);
jv *jr_call_global(jrender *r, const jnode *at, int id, const jargs *a);

/* Python string helpers shared by filters and methods (jinja_methods.c). */
jv *py_strip(jrender *r, const jnode *at, const jv *s, const jv *chars, int which);
jv *py_case(jrender *r, const jnode *at, const jv *s, int how);
/* PY_TITLE: str.title(); PY_TITLE_WORDS: jinja2's title filter (upper
 * after - ( { [ < or whitespace, lower elsewhere). */
enum { PY_LOWER, PY_UPPER, PY_TITLE, PY_TITLE_WORDS, PY_CAPITALIZE };
jv *py_replace(jrender *r, const jnode *at, const jv *s, const jv *old, const jv *new_,
               int64_t count);
/* fmt % arg: printf-style formatting (%s %r %d %i %f %e %g %x %o %c %%,
 * flags, width, precision, %(key)s); a tuple gives the arguments. */
jv *py_percent(jrender *r, const jnode *at, const jv *fmt, const jv *arg);

#endif /* TS_JINJA_IMPL_H */
