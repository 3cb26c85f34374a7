/*
 * jinja_parse.c — tokens to a syntax tree, following jinja2's grammar
 * (parser.py) so that precedence and the odd corners agree with it:
 *
 *   expr    := or ('if' or ('else' expr)?)*
 *   or      := and ('or' and)*          and := not ('and' not)*
 *   not     := 'not' not | compare
 *   compare := math1 ((== != < <= > >= | in | not in) math1)*
 *   math1   := concat (('+'|'-') concat)*   concat := math2 ('~' math2)*
 *   math2   := pow (('*'|'/'|'//'|'%') pow)*  pow := unary ('**' unary)*
 *   unary   := ('-'|'+') unary | primary postfix* (filter | test | call)*
 *
 * Unary minus binds tighter than ** (-2**2 == 4), ** is left-associative,
 * filters and tests bind to the unary before them (`a + b|f` filters b).
 * Every node records its source offset, for messages with line and column.
 * Nesting is bounded by TS_TEMPLATE_MAX_NESTING (the parser recurses).
 */
#include "text/jinja-impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct open_block {
    const char *tag;         /* "for" */
    const char *const *ends; /* end tags looked for, NULL-terminated */
    uint32_t off;
} open_block;

typedef struct parser {
    ts_template *t;
    const jtok *tok;
    size_t i, n;
    int depth; /* recursion */
    int loops; /* for loops enclosing the current statement (break/continue) */
    open_block open[TS_TEMPLATE_MAX_NESTING];
    int n_open;
    ts_status st; /* of the first failure */
} parser;

typedef struct nvec {
    jnode **v;
    size_t n, cap;
} nvec;

/* ---------------------------------------------------------------- helpers */

static const jtok *cur(const parser *p) { return &p->tok[p->i]; }
static const jtok *look(const parser *p) { return &p->tok[p->i + 1 < p->n ? p->i + 1 : p->i]; }
static void next(parser *p) {
    if (p->i + 1 < p->n) p->i++;
}

static bool is_name(const jtok *t, const char *name) {
    return t->kind == JT_NAME && t->n == strlen(name) && memcmp(t->s, name, t->n) == 0;
}
static bool is_op(const jtok *t, jop op) { return t->kind == JT_OP && t->op == op; }

static const char *describe(const jtok *t, char *buf, size_t cap) {
    switch (t->kind) {
    case JT_EOF:
        return "end of template";
    case JT_TEXT:
        return "template data";
    case JT_VAR_BEGIN:
        return "'{{'";
    case JT_VAR_END:
        return "end of print statement '}}'";
    case JT_BLOCK_BEGIN:
        return "'{%'";
    case JT_BLOCK_END:
        return "end of statement block '%}'";
    case JT_INT:
        return "integer";
    case JT_FLOAT:
        return "float";
    case JT_STRING:
        return "string";
    case JT_OP:
        snprintf(buf, cap, "'%s'", jop_text[t->op]);
        return buf;
    default:
        snprintf(buf, cap, "'%.*s'", (int)(t->n > 40 ? 40 : t->n), t->s);
        return buf;
    }
}

static void *fail(parser *p, const jtok *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void *fail(parser *p, const jtok *at, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->st = jinja_error_at(p->t->src, p->t->len, at->off, TS_ERR_FORMAT, "%s", msg);
    return NULL;
}

static void *fail_unexpected(parser *p, const char *wanted) {
    char buf[64];
    return fail(p, cur(p), "expected %s, got %s", wanted, describe(cur(p), buf, sizeof buf));
}

static void *oom(parser *p) {
    p->st = ts_error(TS_ERR_NOMEM, "template: out of memory");
    return NULL;
}

static bool expect_op(parser *p, jop op) {
    if (!is_op(cur(p), op)) {
        char want[16];
        snprintf(want, sizeof want, "'%s'", jop_text[op]);
        fail_unexpected(p, want);
        return false;
    }
    next(p);
    return true;
}

static bool expect_kind(parser *p, jtok_kind kind, const char *what) {
    if (cur(p)->kind != kind) return fail_unexpected(p, what), false;
    next(p);
    return true;
}

static bool enter(parser *p) {
    if (++p->depth <= TS_TEMPLATE_MAX_NESTING) return true;
    fail(p, cur(p), "template nested too deeply (more than %d levels)", TS_TEMPLATE_MAX_NESTING);
    return false;
}

static jnode *node(parser *p, jnode_kind kind, uint32_t off) {
    jnode *nd = jarena_alloc(&p->t->arena, sizeof *nd);
    if (!nd) return oom(p);
    nd->kind = (uint8_t)kind;
    nd->off = off;
    nd->fn = -1;
    return nd;
}

static const char *intern(parser *p, const char *s, size_t n) {
    char *copy = jarena_alloc(&p->t->arena, n + 1);
    if (!copy) return oom(p);
    memcpy(copy, s, n);
    int64_t existing;
    ts_status st = ts_strmap_put(&p->t->names, copy, (int64_t)(intptr_t)copy, &existing);
    if (st == TS_ERR_INVALID_ARG) return (const char *)(intptr_t)existing;
    return st == TS_OK ? copy : oom(p);
}

static bool set_name(parser *p, jnode *nd, const char *s, size_t n) {
    nd->name = intern(p, s, n);
    nd->name_len = (uint32_t)n;
    return nd->name != NULL;
}

/* A literal node owning value v (NULL v: out of memory). */
static jnode *literal(parser *p, jnode_kind kind, uint32_t off, jv *v) {
    ts_template *t = p->t;
    if (!v) return oom(p);
    if (t->n_lits == t->cap_lits) {
        size_t cap = t->cap_lits ? t->cap_lits * 2 : 64;
        jv **l = realloc(t->lits, cap * sizeof *l);
        if (!l) {
            jv_unref(v);
            return oom(p);
        }
        t->lits = l;
        t->cap_lits = cap;
    }
    t->lits[t->n_lits++] = v;
    jnode *nd = node(p, kind, off);
    if (nd) nd->lit = v;
    return nd;
}

static bool nvec_push(parser *p, nvec *v, jnode *x) {
    if (!x) return false;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        jnode **nv = realloc(v->v, cap * sizeof *nv);
        if (!nv) return oom(p), false;
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = x;
    return true;
}

/* Move the vector's nodes into nd->kids (the arena); frees the vector. */
static jnode *finish(parser *p, jnode *nd, nvec *v) {
    if (nd && v->n) {
        nd->kids = jarena_alloc(&p->t->arena, v->n * sizeof *nd->kids);
        if (nd->kids)
            memcpy(nd->kids, v->v, v->n * sizeof *nd->kids);
        else
            nd = oom(p);
        if (nd) nd->n = (uint32_t)v->n;
    }
    free(v->v);
    *v = (nvec){0};
    return nd;
}

static jnode *binary(parser *p, jnode_kind kind, int op, uint32_t off, jnode *a, jnode *b) {
    if (!a || !b) return NULL;
    jnode *nd = node(p, kind, off);
    if (nd) {
        nd->op = (uint8_t)op;
        nd->a = a;
        nd->b = b;
    }
    return nd;
}

/* ------------------------------------------------------------ expressions */

static jnode *parse_expression(parser *p, bool with_condexpr);
static jnode *parse_tuple(parser *p, bool simplified, bool with_condexpr, const char *extra_end,
                          bool explicit_parens);
static jnode *parse_unary(parser *p, bool with_filter);
static jnode *parse_primary(parser *p);
static jnode *parse_postfix(parser *p, jnode *nd);

/* Arguments "(a, b, key=c)" into nd->kids (JN_KWARG for keywords). */
static jnode *parse_call_args(parser *p, jnode *nd) {
    nvec args = {0};
    bool kw_seen = false;
    if (!nd || !expect_op(p, JOP_LPAREN)) return NULL;
    while (!is_op(cur(p), JOP_RPAREN)) {
        if (args.n) {
            if (!expect_op(p, JOP_COMMA)) return finish(p, NULL, &args);
            if (is_op(cur(p), JOP_RPAREN)) break;
        }
        if (is_op(cur(p), JOP_MUL) || is_op(cur(p), JOP_POW))
            return finish(p, fail(p, cur(p), "*args and **kwargs are not supported"), &args);
        jnode *arg;
        if (cur(p)->kind == JT_NAME && is_op(look(p), JOP_ASSIGN)) {
            arg = node(p, JN_KWARG, cur(p)->off);
            if (!arg || !set_name(p, arg, cur(p)->s, cur(p)->n)) return finish(p, NULL, &args);
            next(p), next(p);
            kw_seen = true;
            if (!(arg->a = parse_expression(p, true))) return finish(p, NULL, &args);
        } else {
            if (kw_seen)
                return finish(p, fail(p, cur(p), "positional argument after a keyword argument"),
                              &args);
            arg = parse_expression(p, true);
        }
        if (!nvec_push(p, &args, arg)) return finish(p, NULL, &args);
    }
    next(p);
    return finish(p, nd, &args);
}

/* A dotted filter or test name ("upper", "foo.bar"). */
static bool parse_dotted_name(parser *p, jnode *nd) {
    if (cur(p)->kind != JT_NAME) return fail_unexpected(p, "a name"), false;
    const char *s = cur(p)->s;
    size_t n = cur(p)->n;
    next(p);
    while (is_op(cur(p), JOP_DOT) && look(p)->kind == JT_NAME) {
        n = (size_t)(look(p)->s + look(p)->n - s);
        next(p), next(p);
    }
    return set_name(p, nd, s, n);
}

/* `| name(args)` chain applied to `in` (NULL: a block's captured text). */
static jnode *parse_filters(parser *p, jnode *in, bool start_inline) {
    while (is_op(cur(p), JOP_PIPE) || start_inline) {
        if (!start_inline) next(p);
        start_inline = false;
        jnode *f = node(p, JN_FILTER, cur(p)->off);
        if (!f || !parse_dotted_name(p, f)) return NULL;
        f->fn = (int16_t)jinja_filter_id(f->name);
        f->a = in ? in : node(p, JN_CAPTURED, f->off);
        if (!f->a) return NULL;
        if (is_op(cur(p), JOP_LPAREN) && !parse_call_args(p, f)) return NULL;
        in = f;
    }
    return in;
}

static bool test_arg_start(const jtok *t) {
    if (t->kind == JT_NAME) return !is_name(t, "else") && !is_name(t, "or") && !is_name(t, "and");
    return t->kind == JT_STRING || t->kind == JT_INT || t->kind == JT_FLOAT ||
           is_op(t, JOP_LPAREN) || is_op(t, JOP_LBRACKET) || is_op(t, JOP_LBRACE);
}

static jnode *parse_test(parser *p, jnode *in) {
    jnode *tn = node(p, JN_TEST, cur(p)->off);
    next(p); /* is */
    if (!tn) return NULL;
    if (is_name(cur(p), "not")) {
        tn->op = 1;
        next(p);
    }
    if (!parse_dotted_name(p, tn)) return NULL;
    tn->fn = (int16_t)jinja_test_id(tn->name);
    tn->a = in;
    if (is_op(cur(p), JOP_LPAREN)) return parse_call_args(p, tn);
    if (!test_arg_start(cur(p))) return tn;
    if (is_name(cur(p), "is")) return fail(p, cur(p), "you cannot chain multiple tests with 'is'");
    nvec args = {0};
    nvec_push(p, &args, parse_postfix(p, parse_primary(p)));
    return args.n ? finish(p, tn, &args) : NULL;
}

/* callee(args...): a call node whose errors point at the callee. */
static jnode *parse_call_of(parser *p, jnode *callee) {
    jnode *call = node(p, JN_CALL, callee->off);
    if (call) call->a = callee;
    return parse_call_args(p, call);
}

static jnode *parse_filter_expr(parser *p, jnode *nd) {
    while (nd) {
        if (is_op(cur(p), JOP_PIPE))
            nd = parse_filters(p, nd, false);
        else if (is_name(cur(p), "is"))
            nd = parse_test(p, nd);
        else if (is_op(cur(p), JOP_LPAREN))
            nd = parse_call_of(p, nd);
        else
            break;
    }
    return nd;
}

/* One part of a subscript: an expression or a slice a:b:c. */
static jnode *parse_subscribed(parser *p) {
    uint32_t off = cur(p)->off;
    jnode *start = NULL;
    if (!is_op(cur(p), JOP_COLON)) {
        start = parse_expression(p, true);
        if (!start || !is_op(cur(p), JOP_COLON)) return start;
    }
    next(p); /* : */
    jnode *sl = node(p, JN_SLICE, off);
    if (!sl) return NULL;
    sl->b = start;
    bool end = is_op(cur(p), JOP_RBRACKET) || is_op(cur(p), JOP_COMMA);
    if (!end && !is_op(cur(p), JOP_COLON) && !(sl->c = parse_expression(p, true))) return NULL;
    if (is_op(cur(p), JOP_COLON)) {
        next(p);
        if (!is_op(cur(p), JOP_RBRACKET) && !is_op(cur(p), JOP_COMMA) &&
            !(sl->d = parse_expression(p, true)))
            return NULL;
    }
    return sl;
}

static jnode *parse_subscript(parser *p, jnode *obj) {
    const jtok *t = cur(p);
    next(p);
    if (t->kind == JT_OP && t->op == JOP_DOT) {
        const jtok *a = cur(p);
        next(p);
        if (a->kind == JT_NAME) {
            jnode *nd = node(p, JN_ATTR, a->off);
            if (!nd || !set_name(p, nd, a->s, a->n)) return NULL;
            nd->a = obj;
            return nd;
        }
        if (a->kind != JT_INT) return fail(p, a, "expected a name or number after '.'");
        return binary(p, JN_ITEM, 0, a->off, obj, literal(p, JN_LIT, a->off, jv_int(a->i)));
    }
    nvec keys = {0};
    while (!is_op(cur(p), JOP_RBRACKET)) {
        if (keys.n && !expect_op(p, JOP_COMMA)) return finish(p, NULL, &keys);
        if (!nvec_push(p, &keys, parse_subscribed(p))) return finish(p, NULL, &keys);
    }
    next(p);
    if (keys.n == 1) {
        jnode *k = keys.v[0];
        free(keys.v);
        if (k->kind != JN_SLICE) return binary(p, JN_ITEM, 0, t->off, obj, k);
        k->a = obj;
        return k;
    }
    if (!keys.n) return finish(p, fail(p, t, "expected a subscript"), &keys);
    for (size_t i = 0; i < keys.n; i++)
        if (keys.v[i]->kind == JN_SLICE)
            return finish(p, fail(p, t, "a slice inside a tuple subscript is not supported"),
                          &keys);
    jnode *tuple = finish(p, node(p, JN_TUPLE, t->off), &keys);
    return binary(p, JN_ITEM, 0, t->off, obj, tuple);
}

static jnode *parse_postfix(parser *p, jnode *nd) {
    while (nd) {
        if (is_op(cur(p), JOP_DOT) || is_op(cur(p), JOP_LBRACKET))
            nd = parse_subscript(p, nd);
        else if (is_op(cur(p), JOP_LPAREN))
            nd = parse_call_of(p, nd);
        else
            break;
    }
    return nd;
}

static jnode *parse_list(parser *p) {
    jnode *nd = node(p, JN_LIST, cur(p)->off);
    nvec items = {0};
    next(p); /* [ */
    while (nd && !is_op(cur(p), JOP_RBRACKET)) {
        if (items.n && !expect_op(p, JOP_COMMA)) return finish(p, NULL, &items);
        if (is_op(cur(p), JOP_RBRACKET)) break;
        if (!nvec_push(p, &items, parse_expression(p, true))) return finish(p, NULL, &items);
    }
    next(p);
    return finish(p, nd, &items);
}

static jnode *parse_dict(parser *p) {
    jnode *nd = node(p, JN_DICT, cur(p)->off);
    nvec items = {0};
    next(p); /* { */
    while (nd && !is_op(cur(p), JOP_RBRACE)) {
        if (items.n && !expect_op(p, JOP_COMMA)) return finish(p, NULL, &items);
        if (is_op(cur(p), JOP_RBRACE)) break;
        if (!nvec_push(p, &items, parse_expression(p, true)) || !expect_op(p, JOP_COLON) ||
            !nvec_push(p, &items, parse_expression(p, true)))
            return finish(p, NULL, &items);
    }
    next(p);
    return finish(p, nd, &items);
}

static jnode *parse_name_primary(parser *p) {
    const jtok *t = cur(p);
    next(p);
    if (is_name(t, "true") || is_name(t, "True")) return literal(p, JN_LIT, t->off, jv_bool(true));
    if (is_name(t, "false") || is_name(t, "False"))
        return literal(p, JN_LIT, t->off, jv_bool(false));
    if (is_name(t, "none") || is_name(t, "None")) return literal(p, JN_LIT, t->off, jv_none());
    jnode *nd = node(p, JN_NAME, t->off);
    return nd && set_name(p, nd, t->s, t->n) ? nd : NULL;
}

/* Adjacent string literals concatenate, as in Python. */
static jnode *parse_string_primary(parser *p) {
    uint32_t off = cur(p)->off;
    jbuf b = {0};
    bool ok = true;
    while (ok && cur(p)->kind == JT_STRING) {
        ok = jbuf_put(&b, cur(p)->s, cur(p)->n);
        next(p);
    }
    jv *v = ok ? jv_str(b.p, b.n) : NULL;
    jbuf_free(&b);
    return literal(p, JN_LIT, off, v);
}

static jnode *parse_primary(parser *p) {
    const jtok *t = cur(p);
    char buf[64];
    if (!enter(p)) return NULL;
    jnode *nd;
    switch (t->kind) {
    case JT_NAME:
        nd = parse_name_primary(p);
        break;
    case JT_STRING:
        nd = parse_string_primary(p);
        break;
    case JT_INT:
        next(p), nd = literal(p, JN_LIT, t->off, jv_int(t->i));
        break;
    case JT_FLOAT:
        next(p), nd = literal(p, JN_LIT, t->off, jv_float(t->f));
        break;
    default:
        if (is_op(t, JOP_LPAREN)) {
            next(p);
            nd = parse_tuple(p, false, true, NULL, true);
            if (nd && !expect_op(p, JOP_RPAREN)) nd = NULL;
        } else if (is_op(t, JOP_LBRACKET)) {
            nd = parse_list(p);
        } else if (is_op(t, JOP_LBRACE)) {
            nd = parse_dict(p);
        } else {
            nd = fail(p, t, "unexpected %s", describe(t, buf, sizeof buf));
        }
    }
    p->depth--;
    return nd;
}

static jnode *parse_unary(parser *p, bool with_filter) {
    const jtok *t = cur(p);
    jnode *nd;
    if (!enter(p)) return NULL;
    if (is_op(t, JOP_SUB) || is_op(t, JOP_ADD)) {
        next(p);
        nd = node(p, is_op(t, JOP_SUB) ? JN_NEG : JN_POS, t->off);
        if (nd && !(nd->a = parse_unary(p, false))) nd = NULL;
    } else {
        nd = parse_primary(p);
    }
    nd = parse_postfix(p, nd);
    if (with_filter) nd = parse_filter_expr(p, nd);
    p->depth--;
    return nd;
}

static jnode *parse_pow(parser *p) {
    jnode *nd = parse_unary(p, true);
    while (nd && is_op(cur(p), JOP_POW)) {
        uint32_t off = cur(p)->off;
        next(p);
        nd = binary(p, JN_BIN, JOP_POW, off, nd, parse_unary(p, true));
    }
    return nd;
}

static jnode *parse_math2(parser *p) {
    jnode *nd = parse_pow(p);
    while (nd && cur(p)->kind == JT_OP &&
           (cur(p)->op == JOP_MUL || cur(p)->op == JOP_DIV || cur(p)->op == JOP_FLOORDIV ||
            cur(p)->op == JOP_MOD)) {
        const jtok *t = cur(p);
        next(p);
        nd = binary(p, JN_BIN, t->op, t->off, nd, parse_pow(p));
    }
    return nd;
}

static jnode *parse_concat(parser *p) {
    jnode *nd = parse_math2(p);
    while (nd && is_op(cur(p), JOP_TILDE)) {
        uint32_t off = cur(p)->off;
        next(p);
        nd = binary(p, JN_CONCAT, 0, off, nd, parse_math2(p));
    }
    return nd;
}

static jnode *parse_math1(parser *p) {
    jnode *nd = parse_concat(p);
    while (nd && (is_op(cur(p), JOP_ADD) || is_op(cur(p), JOP_SUB))) {
        const jtok *t = cur(p);
        next(p);
        nd = binary(p, JN_BIN, t->op, t->off, nd, parse_concat(p));
    }
    return nd;
}

/* Chains (a < b < c) are nested: JN_CMP(a<b) with kids holding the rest
 * is not needed — jinja2 evaluates `a < b and b < c`; we keep the chain in
 * kids: each kid is a JN_CMP whose `a` is NULL (the previous operand). */
static jnode *parse_compare(parser *p) {
    jnode *first = parse_math1(p);
    nvec ops = {0};
    while (first) {
        const jtok *t = cur(p);
        int op;
        if (t->kind == JT_OP && (t->op == JOP_EQ || t->op == JOP_NE || t->op == JOP_LT ||
                                 t->op == JOP_LE || t->op == JOP_GT || t->op == JOP_GE)) {
            op = t->op;
            next(p);
        } else if (is_name(t, "in")) {
            op = JCMP_IN;
            next(p);
        } else if (is_name(t, "not") && is_name(look(p), "in")) {
            op = JCMP_NOTIN;
            next(p), next(p);
        } else {
            break;
        }
        jnode *c = binary(p, JN_CMP, op, t->off, first, parse_math1(p));
        if (!nvec_push(p, &ops, c)) return finish(p, NULL, &ops);
        if (ops.n > 1) c->a = NULL;
    }
    if (!first || !ops.n) return finish(p, first, &ops);
    jnode *head = ops.v[0];
    if (ops.n == 1) return finish(p, head, &ops);
    jnode *chain = node(p, JN_CMP, head->off);
    if (chain) chain->op = 0xff; /* a chain: kids are the comparisons */
    return finish(p, chain, &ops);
}

static jnode *parse_not(parser *p) {
    if (!is_name(cur(p), "not")) return parse_compare(p);
    jnode *nd = node(p, JN_NOT, cur(p)->off);
    next(p);
    if (!enter(p)) return NULL;
    if (nd && !(nd->a = parse_not(p))) nd = NULL;
    p->depth--;
    return nd;
}

static jnode *parse_and(parser *p) {
    jnode *nd = parse_not(p);
    while (nd && is_name(cur(p), "and")) {
        uint32_t off = cur(p)->off;
        next(p);
        nd = binary(p, JN_AND, 0, off, nd, parse_not(p));
    }
    return nd;
}

static jnode *parse_or(parser *p) {
    jnode *nd = parse_and(p);
    while (nd && is_name(cur(p), "or")) {
        uint32_t off = cur(p)->off;
        next(p);
        nd = binary(p, JN_OR, 0, off, nd, parse_and(p));
    }
    return nd;
}

static jnode *parse_expression(parser *p, bool with_condexpr) {
    if (!enter(p)) return NULL;
    jnode *nd = parse_or(p);
    while (with_condexpr && nd && is_name(cur(p), "if")) {
        jnode *c = node(p, JN_COND, cur(p)->off);
        next(p);
        if (!c || !(c->a = parse_or(p))) {
            nd = NULL;
            break;
        }
        c->b = nd;
        if (is_name(cur(p), "else")) {
            next(p);
            if (!(c->c = parse_expression(p, true))) c = NULL;
        }
        nd = c;
    }
    p->depth--;
    return nd;
}

static bool tuple_end(const parser *p, const char *extra_end) {
    const jtok *t = cur(p);
    return t->kind == JT_VAR_END || t->kind == JT_BLOCK_END || is_op(t, JOP_RPAREN) ||
           (extra_end && is_name(t, extra_end));
}

static jnode *parse_tuple(parser *p, bool simplified, bool with_condexpr, const char *extra_end,
                          bool explicit_parens) {
    uint32_t off = cur(p)->off;
    nvec items = {0};
    bool is_tuple = false;
    for (;;) {
        if (items.n && !expect_op(p, JOP_COMMA)) return finish(p, NULL, &items);
        if (tuple_end(p, extra_end)) break;
        jnode *e = simplified ? parse_primary(p) : parse_expression(p, with_condexpr);
        if (!nvec_push(p, &items, e)) return finish(p, NULL, &items);
        if (!is_op(cur(p), JOP_COMMA)) break;
        is_tuple = true;
    }
    if (!is_tuple && items.n) {
        jnode *e = items.v[0];
        free(items.v);
        return e;
    }
    if (!is_tuple && !explicit_parens)
        return finish(p, fail_unexpected(p, "an expression"), &items);
    return finish(p, node(p, JN_TUPLE, off), &items);
}

/* ------------------------------------------------------------- statements */

static jnode *subparse(parser *p, const char *const *ends);

static bool check_target(parser *p, const jnode *t) {
    if (t->kind == JN_NAME) return true;
    if (t->kind == JN_TUPLE) {
        for (uint32_t i = 0; i < t->n; i++)
            if (t->kids[i]->kind != JN_NAME)
                return fail(p, cur(p), "can only assign to names"), false;
        return true;
    }
    return fail(p, cur(p), "can't assign to this expression"), false;
}

/* Assignment target: a name, names separated by commas, or ns.attr. */
static jnode *parse_assign_target(parser *p, const char *extra_end, bool with_ns) {
    if (with_ns && cur(p)->kind == JT_NAME && is_op(look(p), JOP_DOT)) {
        jnode *ns = parse_name_primary(p);
        next(p); /* . */
        if (cur(p)->kind != JT_NAME) return fail_unexpected(p, "an attribute name");
        jnode *nd = node(p, JN_ATTR, cur(p)->off);
        if (!ns || !nd || !set_name(p, nd, cur(p)->s, cur(p)->n)) return NULL;
        next(p);
        nd->a = ns;
        return nd;
    }
    jnode *t = parse_tuple(p, true, true, extra_end, false);
    return t && check_target(p, t) ? t : NULL;
}

/* `%}` then the body up to one of `ends` (left current: the end's name). */
static jnode *parse_body(parser *p, const char *tag, uint32_t off, const char *const *ends) {
    if (is_op(cur(p), JOP_COLON)) next(p);
    if (!expect_kind(p, JT_BLOCK_END, "end of statement block '%}'")) return NULL;
    if (p->n_open == TS_TEMPLATE_MAX_NESTING)
        return fail(p, cur(p), "blocks nested too deeply (more than %d)", TS_TEMPLATE_MAX_NESTING);
    p->open[p->n_open++] = (open_block){tag, ends, off};
    jnode *body = subparse(p, ends);
    p->n_open--;
    return body;
}

static jnode *parse_for(parser *p, uint32_t off) {
    static const char *const ends[] = {"endfor", "else", NULL}, *const end[] = {"endfor", NULL};
    jnode *nd = node(p, JN_FOR, off);
    if (!nd || !(nd->a = parse_assign_target(p, "in", false))) return NULL;
    if (!is_name(cur(p), "in")) return fail_unexpected(p, "'in'");
    next(p);
    if (!(nd->b = parse_tuple(p, false, false, "recursive", false))) return NULL;
    if (is_name(cur(p), "if")) {
        next(p);
        if (!(nd->c = parse_expression(p, true))) return NULL;
    }
    if (is_name(cur(p), "recursive")) return fail(p, cur(p), "recursive loops are not supported");
    p->loops++;
    nd->d = parse_body(p, "for", off, ends);
    p->loops--;
    if (!nd->d) return NULL;
    bool has_else = is_name(cur(p), "else");
    next(p);
    if (has_else) {
        if (!(nd->e = parse_body(p, "for", off, end))) return NULL;
        next(p); /* endfor */
    }
    return nd;
}

static jnode *parse_if(parser *p, uint32_t off) {
    static const char *const ends[] = {"elif", "else", "endif", NULL}, *const end[] = {"endif",
                                                                                       NULL};
    jnode *nd = node(p, JN_IF, off);
    if (!nd || !(nd->a = parse_tuple(p, false, false, NULL, false))) return NULL;
    if (!(nd->b = parse_body(p, "if", off, ends))) return NULL;
    const jtok *t = cur(p);
    next(p);
    if (is_name(t, "elif")) {
        if (!enter(p)) return NULL;
        nd->c = parse_if(p, t->off);
        p->depth--;
        return nd->c ? nd : NULL;
    }
    if (is_name(t, "else")) {
        if (!(nd->c = parse_body(p, "if", off, end))) return NULL;
        next(p); /* endif */
    }
    return nd;
}

static jnode *parse_set(parser *p, uint32_t off) {
    static const char *const end[] = {"endset", NULL};
    jnode *target = parse_assign_target(p, NULL, true);
    if (!target) return NULL;
    if (is_op(cur(p), JOP_ASSIGN)) {
        next(p);
        return binary(p, JN_SET, 0, off, target, parse_tuple(p, false, true, NULL, false));
    }
    if (target->kind != JN_NAME) return fail(p, cur(p), "a block set needs a single name");
    jnode *nd = node(p, JN_SETBLOCK, off);
    if (!nd) return NULL;
    nd->a = target;
    if (is_op(cur(p), JOP_PIPE) && !(nd->c = parse_filters(p, NULL, false))) return NULL;
    if (!(nd->b = parse_body(p, "set", off, end))) return NULL;
    next(p);
    return nd;
}

/* "(a, b=default, ...)" of a macro or call block into nd->kids. */
static bool parse_signature(parser *p, jnode *nd) {
    nvec params = {0};
    bool defaults = false;
    if (!expect_op(p, JOP_LPAREN)) return false;
    while (!is_op(cur(p), JOP_RPAREN)) {
        if (params.n && !expect_op(p, JOP_COMMA)) return finish(p, NULL, &params), false;
        if (cur(p)->kind != JT_NAME)
            return finish(p, fail_unexpected(p, "a parameter name"), &params), false;
        jnode *param = parse_name_primary(p);
        if (!param || param->kind != JN_NAME)
            return finish(p, param ? fail(p, cur(p), "bad parameter name") : NULL, &params), false;
        if (is_op(cur(p), JOP_ASSIGN)) {
            next(p);
            defaults = true;
            if (!(param->a = parse_expression(p, true))) return finish(p, NULL, &params), false;
        } else if (defaults) {
            return finish(p, fail(p, cur(p), "non-default argument follows default argument"),
                          &params),
                   false;
        }
        if (!nvec_push(p, &params, param)) return finish(p, NULL, &params), false;
    }
    next(p);
    return finish(p, nd, &params) != NULL;
}

static jnode *parse_macro(parser *p, uint32_t off) {
    static const char *const end[] = {"endmacro", NULL};
    jnode *nd = node(p, JN_MACRO, off);
    if (!nd) return NULL;
    if (cur(p)->kind != JT_NAME) return fail_unexpected(p, "a macro name");
    if (!set_name(p, nd, cur(p)->s, cur(p)->n)) return NULL;
    next(p);
    if (!parse_signature(p, nd)) return NULL;
    int loops = p->loops;
    p->loops = 0;
    nd->b = parse_body(p, "macro", off, end);
    p->loops = loops;
    if (!nd->b) return NULL;
    next(p);
    return nd;
}

static jnode *parse_call_block(parser *p, uint32_t off) {
    static const char *const end[] = {"endcall", NULL};
    jnode *nd = node(p, JN_CALLBLOCK, off);
    if (!nd || (is_op(cur(p), JOP_LPAREN) && !parse_signature(p, nd))) return NULL;
    if (!(nd->a = parse_expression(p, true))) return NULL;
    if (nd->a->kind != JN_CALL) return fail(p, cur(p), "expected a call after 'call'");
    int loops = p->loops;
    p->loops = 0;
    nd->b = parse_body(p, "call", off, end);
    p->loops = loops;
    if (!nd->b) return NULL;
    next(p);
    return nd;
}

static jnode *parse_filter_block(parser *p, uint32_t off) {
    static const char *const end[] = {"endfilter", NULL};
    jnode *nd = node(p, JN_FILTERBLK, off);
    if (!nd || !(nd->a = parse_filters(p, NULL, true))) return NULL;
    if (!(nd->b = parse_body(p, "filter", off, end))) return NULL;
    next(p);
    return nd;
}

static jnode *parse_with(parser *p, uint32_t off) {
    static const char *const end[] = {"endwith", NULL};
    jnode *nd = node(p, JN_WITH, off);
    nvec sets = {0};
    while (nd && cur(p)->kind != JT_BLOCK_END) {
        if (sets.n && !expect_op(p, JOP_COMMA)) return finish(p, NULL, &sets);
        uint32_t at = cur(p)->off;
        jnode *target = parse_assign_target(p, NULL, false);
        if (!target || !expect_op(p, JOP_ASSIGN)) return finish(p, NULL, &sets);
        if (!nvec_push(p, &sets, binary(p, JN_SET, 0, at, target, parse_expression(p, true))))
            return finish(p, NULL, &sets);
    }
    if (!finish(p, nd, &sets) || !(nd->b = parse_body(p, "with", off, end))) return NULL;
    next(p);
    return nd;
}

/* A block with no effect on output ({% generation %}, transformers'
 * assistant-mask marker): its body. */
static jnode *parse_transparent(parser *p, const char *tag, uint32_t off) {
    static const char *const end_gen[] = {"endgeneration", NULL};
    jnode *body = parse_body(p, tag, off, end_gen);
    if (body) next(p);
    return body;
}

static jnode *parse_print(parser *p, uint32_t off) {
    jnode *nd = node(p, JN_OUTPUT, off);
    if (nd && !(nd->a = parse_tuple(p, false, true, NULL, false))) return NULL;
    return nd;
}

static jnode *parse_loopctl(parser *p, jnode_kind kind, const jtok *t) {
    if (!p->loops) return fail(p, t, "'%.*s' outside of a loop", (int)t->n, t->s);
    return node(p, kind, t->off);
}

static jnode *parse_unknown_tag(parser *p, const jtok *t) {
    static const char *const nofile[] = {"extends", "include", "import", "from", "block"};
    for (size_t i = 0; i < sizeof nofile / sizeof nofile[0]; i++)
        if (is_name(t, nofile[i]))
            return fail(p, t,
                        "tag '%s' is not supported: a chat template cannot load other templates",
                        nofile[i]);
    if (!p->n_open) return fail(p, t, "unknown tag '%.*s'", (int)t->n, t->s);
    const open_block *o = &p->open[p->n_open - 1];
    char want[128] = "";
    for (int i = 0; o->ends[i]; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s'%s'", i ? " or " : "",
                 o->ends[i]);
    return fail(p, t, "unknown tag '%.*s'; expected %s (the innermost open block is '%s')",
                (int)t->n, t->s, want, o->tag);
}

static jnode *parse_statement(parser *p) {
    const jtok *t = cur(p);
    if (t->kind != JT_NAME) return fail_unexpected(p, "a tag name");
    if (!enter(p)) return NULL;
    next(p);
    jnode *nd;
    if (is_name(t, "for"))
        nd = parse_for(p, t->off);
    else if (is_name(t, "if"))
        nd = parse_if(p, t->off);
    else if (is_name(t, "set"))
        nd = parse_set(p, t->off);
    else if (is_name(t, "macro"))
        nd = parse_macro(p, t->off);
    else if (is_name(t, "call"))
        nd = parse_call_block(p, t->off);
    else if (is_name(t, "filter"))
        nd = parse_filter_block(p, t->off);
    else if (is_name(t, "with"))
        nd = parse_with(p, t->off);
    else if (is_name(t, "print"))
        nd = parse_print(p, t->off);
    else if (is_name(t, "break"))
        nd = parse_loopctl(p, JN_BREAK, t);
    else if (is_name(t, "continue"))
        nd = parse_loopctl(p, JN_CONTINUE, t);
    else if (is_name(t, "generation"))
        nd = parse_transparent(p, "generation", t->off);
    else
        nd = parse_unknown_tag(p, t);
    p->depth--;
    return nd;
}

static void *fail_eof(parser *p, const char *const *ends) {
    const open_block *o = &p->open[p->n_open - 1];
    char want[128] = "";
    for (int i = 0; ends[i]; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s'%s'", i ? " or " : "",
                 ends[i]);
    unsigned line = 1;
    for (uint32_t i = 0; i < o->off && i < p->t->len; i++) line += p->t->src[i] == '\n';
    return fail(p, cur(p), "unexpected end of template; expected %s to close the '%s' at line %u",
                want, o->tag, line);
}

static bool at_end_tag(const parser *p, const char *const *ends) {
    for (int i = 0; ends && ends[i]; i++)
        if (is_name(cur(p), ends[i])) return true;
    return false;
}

/* Statements up to one of `ends` (current: the end's name) or EOF. */
static jnode *subparse(parser *p, const char *const *ends) {
    jnode *block = node(p, JN_BLOCK, cur(p)->off);
    nvec body = {0};
    while (block) {
        const jtok *t = cur(p);
        jnode *s;
        if (t->kind == JT_EOF) {
            if (ends) return finish(p, fail_eof(p, ends), &body);
            break;
        }
        if (t->kind == JT_TEXT) {
            next(p);
            s = literal(p, JN_TEXT, t->off, jv_str(t->s, t->n));
        } else if (t->kind == JT_VAR_BEGIN) {
            next(p);
            s = node(p, JN_OUTPUT, t->off);
            if (s && (!(s->a = parse_tuple(p, false, true, NULL, false)) ||
                      !expect_kind(p, JT_VAR_END, "end of print statement '}}'")))
                s = NULL;
        } else if (t->kind == JT_BLOCK_BEGIN) {
            next(p);
            if (at_end_tag(p, ends)) break;
            s = parse_statement(p);
            if (s && !expect_kind(p, JT_BLOCK_END, "end of statement block '%}'")) s = NULL;
        } else {
            char buf[64];
            s = fail(p, t, "unexpected %s", describe(t, buf, sizeof buf));
        }
        if (!nvec_push(p, &body, s)) return finish(p, NULL, &body);
    }
    return finish(p, block, &body);
}

ts_status jinja_parse(ts_template *t, const jtoks *toks) {
    parser p = {.t = t, .tok = toks->v, .n = toks->n};
    t->name_loop = intern(&p, "loop", 4);
    t->name_caller = intern(&p, "caller", 6);
    if (t->name_loop && t->name_caller) t->root = subparse(&p, NULL);
    if (t->root) return TS_OK;
    TS_ASSERT(p.st != TS_OK);
    return p.st;
}

/* ------------------------------------------------------------------ public */

/* jinja2 reads the source with newlines normalized to "\n" and one
 * trailing newline dropped (keep_trailing_newline=False). */
static char *normalize(const char *src, size_t len, size_t *out_len) {
    char *s = malloc(len + 1);
    if (!s) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            s[k++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            s[k++] = src[i];
        }
    }
    if (k && s[k - 1] == '\n') k--;
    s[k] = '\0';
    *out_len = k;
    return s;
}

ts_status ts_template_parse(const char *src, size_t len, ts_template **out) {
    *out = NULL;
    if (!src && len) return ts_error(TS_ERR_INVALID_ARG, "ts_template_parse: NULL source");
    if (len >= ((size_t)1 << 31))
        return ts_error(TS_ERR_INVALID_ARG, "template: source over 2 GiB");
    ts_template *t = calloc(1, sizeof *t);
    if (!t || !(t->src = normalize(src ? src : "", len, &t->len))) {
        free(t);
        return ts_error(TS_ERR_NOMEM, "template: out of memory");
    }
    jtoks toks = {0};
    ts_status st = jinja_lex(t->src, t->len, &t->arena, &toks);
    if (st == TS_OK) st = jinja_parse(t, &toks);
    free(toks.v);
    if (st != TS_OK) {
        ts_template_free(t);
        return st;
    }
    *out = t;
    return TS_OK;
}

void ts_template_free(ts_template *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n_lits; i++) jv_unref(t->lits[i]);
    free(t->lits);
    ts_strmap_free(&t->names);
    jarena_free(&t->arena);
    free(t->src);
    free(t);
}
