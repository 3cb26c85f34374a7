/*
 * jinja_exec.c — statements and scopes, and ts_template_render.
 *
 * Scopes follow jinja2: a for loop's body runs in a fresh scope on every
 * iteration (a `set` there is gone at the next iteration and after the
 * loop: hence namespace()); if blocks share their enclosing scope; a
 * macro runs in a scope whose parent is the template's top level; a call
 * block's body sees the scope it was written in. Variables live in frames
 * (name → value, names interned so compared by pointer); below the
 * outermost frame come the render context and then the globals.
 */
#include "text/jinja-impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- frames */

static jv *frame_get(const jframe *f, const char *name) {
    for (size_t i = f->n; i-- > 0;)
        if (f->v[i].name == name) return f->v[i].val;
    return NULL;
}

/* Bind name to val (owned) in f. False when out of memory. */
static bool frame_set(jframe *f, const char *name, jv *val) {
    if (!val) return false;
    for (size_t i = 0; i < f->n; i++)
        if (f->v[i].name == name) {
            jv_unref(f->v[i].val);
            f->v[i].val = val;
            return true;
        }
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        jvar *v = realloc(f->v, cap * sizeof *v);
        if (!v) {
            jv_unref(val);
            return false;
        }
        f->v = v;
        f->cap = cap;
    }
    f->v[f->n++] = (jvar){name, val};
    return true;
}

/* The scope f ends (or restarts): its variables go, and macros defined
 * in it stop seeing it. */
static void frame_clear(jrender *r, jframe *f) {
    for (size_t i = 0; i < f->n; i++) jv_unref(f->v[i].val);
    f->n = 0;
    for (size_t i = 0; i < r->n_closures;) {
        jv *m = r->closures[i];
        if (m->u.fn.frame != f) {
            i++;
            continue;
        }
        m->u.fn.frame = NULL;
        jv_unref(m);
        r->closures[i] = r->closures[--r->n_closures];
    }
}

static void frame_free(jrender *r, jframe *f) {
    frame_clear(r, f);
    free(f->v);
    f->v = NULL;
    f->cap = 0;
}

/* {% macro %}: bind the macro in the current scope, which it keeps seeing
 * while that scope lasts. */
static ts_status define_macro(jrender *r, const jnode *s) {
    jv *m = jv_func(JF_MACRO, 0, NULL, s);
    if (!m) return jr_oom(r, s), r->st;
    if (r->top != r->root) {
        if (r->n_closures == r->cap_closures) {
            size_t cap = r->cap_closures ? r->cap_closures * 2 : 8;
            jv **v = realloc(r->closures, cap * sizeof *v);
            if (!v) return jv_unref(m), jr_oom(r, s), r->st;
            r->closures = v;
            r->cap_closures = cap;
        }
        m->u.fn.frame = r->top;
        r->closures[r->n_closures++] = jv_ref(m);
    }
    return frame_set(r->top, s->name, m) ? TS_OK : (jr_oom(r, s), r->st);
}

jv *jr_lookup(jrender *r, const jnode *e) {
    for (const jframe *f = r->top; f; f = f->parent) {
        jv *v = frame_get(f, e->name);
        if (v) return jv_ref(v);
    }
    jv *v = jv_dict_find(r->ctx, e->name, e->name_len);
    if (v) return jv_ref(v);
    if ((v = jr_global(e->name, e->name_len))) return v;
    v = jv_undef_hint("'%s' is undefined", e->name);
    return v ? v : jr_oom(r, e);
}

bool jr_track_ns(jrender *r, const jnode *at, jv *ns) {
    if (r->n_ns == r->cap_ns) {
        size_t cap = r->cap_ns ? r->cap_ns * 2 : 8;
        jv **v = realloc(r->ns, cap * sizeof *v);
        if (!v) return jr_oom(r, at) != NULL;
        r->ns = v;
        r->cap_ns = cap;
    }
    r->ns[r->n_ns++] = jv_ref(ns);
    return true;
}

/* Empty every namespace the render made, breaking any reference cycle
 * through them, then drop them. */
static void release_namespaces(jrender *r) {
    for (size_t i = 0; i < r->n_ns; i++) {
        jv *ns = r->ns[i];
        for (size_t k = 0; k < ns->u.dict.n; k++) {
            jv_unref(ns->u.dict.keys[k]);
            jv_unref(ns->u.dict.vals[k]);
        }
        ns->u.dict.n = 0;
        free(ns->u.dict.index);
        ns->u.dict.index = NULL;
        ns->u.dict.index_cap = 0;
    }
    for (size_t i = 0; i < r->n_ns; i++) jv_unref(r->ns[i]);
    free(r->ns);
}

/* ---------------------------------------------------------------- output */

static ts_status emit(jrender *r, const jnode *at, const char *s, size_t n) {
    if (n > r->p.max_output - r->out->n) {
        jr_size_ok(r, at, SIZE_MAX);
        return r->st;
    }
    if (!jr_bytes(r, at, n)) return r->st;
    if (!jbuf_put(r->out, s, n)) return jr_oom(r, at), r->st;
    return TS_OK;
}

static ts_status emit_value(jrender *r, const jnode *at, const jv *v) {
    if (jv_is_str(v)) return emit(r, at, v->u.s.p, v->u.s.n);
    jv *s = jr_to_str(r, at, v);
    ts_status st = s ? emit(r, at, s->u.s.p, s->u.s.n) : r->st;
    jv_unref(s);
    return st;
}

/* Run `body` with output going to a new string. */
static jv *capture(jrender *r, const jnode *body) {
    jbuf buf = {0}, *saved = r->out;
    r->out = &buf;
    ts_status st = jr_exec(r, body);
    r->out = saved;
    jv *v = st == TS_OK ? jv_str(buf.p, buf.n) : NULL;
    if (st == TS_OK && !v) jr_oom(r, body);
    jbuf_free(&buf);
    return v;
}

/* ------------------------------------------------------------ assignment */

jv *jr_iter_list(jrender *r, const jnode *at, jv *v) {
    if (jv_is_list(v)) return jv_ref(v);
    if (jv_is_undef(v)) {
        jv *empty = jv_list(0);
        return empty ? empty : jr_oom(r, at);
    }
    if (!jv_is_dict(v) && !jv_is_str(v)) {
        jr_fail(r, at, TS_ERR_INVALID_ARG, "TypeError: '%s' is not iterable", jv_type_name(v));
        return NULL;
    }
    size_t n = jv_is_dict(v) ? v->u.dict.n : jv_str_cplen(v);
    if (!jr_bytes(r, at, n)) return NULL;
    jv *l = jv_list(n);
    if (!l) return jr_oom(r, at);
    for (size_t i = 0, off = 0; i < n; i++) {
        jv *item;
        if (jv_is_dict(v)) {
            item = jv_ref(v->u.dict.keys[i]);
        } else {
            size_t k = utf8_len(v->u.s.p + off, v->u.s.n - off);
            item = jv_str(v->u.s.p + off, k);
            off += k;
        }
        if (!jv_list_push(l, item)) {
            jv_unref(l);
            return jr_oom(r, at);
        }
    }
    return l;
}

/* Bind target (a name or a tuple of names) to val in f. */
static ts_status assign(jrender *r, jframe *f, const jnode *target, jv *val) {
    if (target->kind == JN_NAME)
        return frame_set(f, target->name, jv_ref(val)) ? TS_OK : (jr_oom(r, target), r->st);
    jv *items = jr_iter_list(r, target, val);
    if (!items) return r->st;
    ts_status st = TS_OK;
    if (items->u.list.n != target->n)
        st = jr_fail(
            r, target, TS_ERR_INVALID_ARG, "ValueError: %s values to unpack (expected %u, got %zu)",
            items->u.list.n > target->n ? "too many" : "not enough", target->n, items->u.list.n);
    for (uint32_t i = 0; i < target->n && st == TS_OK; i++)
        st = assign(r, f, target->kids[i], items->u.list.v[i]);
    jv_unref(items);
    return st;
}

static ts_status exec_set(jrender *r, const jnode *s) {
    jv *val = jr_eval(r, s->b);
    if (!val) return r->st;
    ts_status st = TS_OK;
    if (s->a->kind == JN_ATTR) { /* ns.attr = val */
        jv *ns = jr_eval(r, s->a->a);
        if (!ns)
            st = r->st;
        else if (ns->kind != JK_NS)
            st = jr_fail(r, s->a, TS_ERR_INVALID_ARG,
                         "cannot assign attribute on non-namespace object");
        else if (!jv_dict_put(ns, s->a->name, s->a->name_len, jv_ref(val)))
            st = (jr_oom(r, s), r->st);
        jv_unref(ns);
    } else {
        st = assign(r, r->top, s->a, val);
    }
    jv_unref(val);
    return st;
}

static ts_status exec_setblock(jrender *r, const jnode *s) {
    jv *text = capture(r, s->b);
    if (!text) return r->st;
    jv *val = text;
    if (s->c) {
        jv *saved = r->captured;
        r->captured = text;
        val = jr_eval(r, s->c);
        r->captured = saved;
        jv_unref(text);
        if (!val) return r->st;
    }
    ts_status st = assign(r, r->top, s->a, val);
    jv_unref(val);
    return st;
}

static ts_status exec_filterblock(jrender *r, const jnode *s) {
    jv *text = capture(r, s->b);
    if (!text) return r->st;
    jv *saved = r->captured;
    r->captured = text;
    jv *val = jr_eval(r, s->a);
    r->captured = saved;
    jv_unref(text);
    ts_status st = val ? emit_value(r, s, val) : r->st;
    jv_unref(val);
    return st;
}

static ts_status exec_with(jrender *r, const jnode *s) {
    jframe f = {.parent = r->top};
    ts_status st = TS_OK;
    for (uint32_t i = 0; i < s->n && st == TS_OK; i++) { /* values see the outer scope */
        jv *val = jr_eval(r, s->kids[i]->b);
        st = val ? assign(r, &f, s->kids[i]->a, val) : r->st;
        jv_unref(val);
    }
    if (st == TS_OK) {
        r->top = &f;
        st = jr_exec(r, s->b);
        r->top = f.parent;
    }
    frame_free(r, &f);
    return st;
}

/* ------------------------------------------------------------------ loops */

/* `for x in items if cond`: the items for which cond holds. */
static jv *filter_items(jrender *r, const jnode *s, jv *items) {
    jv *kept = jv_list(0);
    if (!kept) return jr_oom(r, s);
    jframe f = {.parent = r->top};
    r->top = &f;
    bool ok = true;
    for (size_t i = 0; i < items->u.list.n && ok; i++) {
        frame_clear(r, &f);
        ok = assign(r, &f, s->a, items->u.list.v[i]) == TS_OK;
        jv *c = ok ? jr_eval(r, s->c) : NULL;
        ok = c != NULL;
        if (ok && jv_truthy(c) && !jv_list_push(kept, jv_ref(items->u.list.v[i])))
            ok = jr_oom(r, s) != NULL;
        jv_unref(c);
    }
    r->top = f.parent;
    frame_free(r, &f);
    if (!ok) {
        jv_unref(kept);
        return NULL;
    }
    return kept;
}

static ts_status run_loop(jrender *r, const jnode *s, jv *items) {
    jv *loop = jv_loop(items);
    if (!loop) return jr_oom(r, s), r->st;
    jframe f = {.parent = r->top};
    r->top = &f;
    ts_status st = TS_OK;
    for (size_t i = 0; i < items->u.list.n && st == TS_OK; i++) {
        if (!jr_step(r, s, 1)) {
            st = r->st;
            break;
        }
        frame_clear(r, &f); /* each iteration starts a fresh scope */
        loop->u.loop.index0 = i;
        st = assign(r, &f, s->a, items->u.list.v[i]);
        if (st == TS_OK && !frame_set(&f, r->t->name_loop, jv_ref(loop)))
            st = (jr_oom(r, s), r->st);
        if (st == TS_OK) st = jr_exec(r, s->d);
        int ctl = r->loopctl;
        r->loopctl = 0;
        if (ctl == JN_BREAK) break;
    }
    r->top = f.parent;
    frame_free(r, &f);
    jv_unref(loop);
    return st;
}

static ts_status exec_for(jrender *r, const jnode *s) {
    jv *seq = jr_eval(r, s->b);
    if (!seq) return r->st;
    jv *items = jr_iter_list(r, s->b, seq);
    jv_unref(seq);
    if (items && s->c) {
        jv *kept = filter_items(r, s, items);
        jv_unref(items);
        items = kept;
    }
    if (!items) return r->st;
    ts_status st = items->u.list.n ? run_loop(r, s, items) : s->e ? jr_exec(r, s->e) : TS_OK;
    jv_unref(items);
    return st;
}

/* ----------------------------------------------------------------- macros */

/* Bind a macro's (or call block's) parameters in f; the caller's frame is
 * r->top == f so that defaults see the parameters before them. */
static ts_status bind_params(jrender *r, const jnode *at, const jnode *m, const char *what,
                             const jargs *a, jframe *f) {
    if (a->npos > m->n)
        return jr_fail(r, at, TS_ERR_INVALID_ARG,
                       "TypeError: %s takes not more than %u argument(s)", what, m->n);
    for (size_t k = 0; k < a->nkw; k++) {
        uint32_t i = 0;
        while (i < m->n && m->kids[i]->name != a->kw[k]) i++;
        if (i == m->n || i < a->npos)
            return jr_fail(r, at, TS_ERR_INVALID_ARG,
                           "TypeError: %s got an unexpected keyword argument '%s'", what, a->kw[k]);
    }
    for (uint32_t i = 0; i < m->n; i++) {
        const jnode *param = m->kids[i];
        jv *v = jargs_get(a, i, param->name);
        if (v)
            v = jv_ref(v);
        else if (param->a && !(v = jr_eval(r, param->a)))
            return r->st;
        else if (!v && !(v = jv_undef_hint("parameter '%s' was not provided", param->name)))
            return jr_oom(r, at), r->st;
        if (!frame_set(f, param->name, v)) return jr_oom(r, at), r->st;
    }
    return TS_OK;
}

jv *jr_call_macro(jrender *r, const jnode *at, const jv *fn, const jargs *a, jv *caller) {
    const jnode *m = fn->u.fn.node;
    bool is_caller = fn->u.fn.fk == JF_CALLER;
    if (is_caller && !fn->u.fn.frame) {
        jr_fail(r, at, TS_ERR_INVALID_ARG, "caller() used after its call block ended");
        return NULL;
    }
    jframe f = {.parent = fn->u.fn.frame ? fn->u.fn.frame : r->root}, *saved = r->top;
    r->top = &f;
    char what[96];
    snprintf(what, sizeof what, is_caller ? "caller()" : "macro '%s'", m->name);
    ts_status st = bind_params(r, at, m, what, a, &f);
    if (st == TS_OK && caller && !frame_set(&f, r->t->name_caller, jv_ref(caller)))
        st = (jr_oom(r, at), r->st);
    jv *v = st == TS_OK ? capture(r, m->b) : NULL;
    r->top = saved;
    frame_free(r, &f);
    return v;
}

static ts_status exec_callblock(jrender *r, const jnode *s) {
    jv *caller = jv_func(JF_CALLER, 0, NULL, s);
    if (!caller) return jr_oom(r, s), r->st;
    caller->u.fn.frame = r->top;
    jv *v = jr_eval_call(r, s->a, caller);
    caller->u.fn.frame = NULL; /* the frame ends with this statement */
    jv_unref(caller);
    ts_status st = v ? emit_value(r, s, v) : r->st;
    jv_unref(v);
    return st;
}

/* ------------------------------------------------------------- statements */

static ts_status exec_block(jrender *r, const jnode *s) {
    for (uint32_t i = 0; i < s->n; i++) {
        ts_status st = jr_exec(r, s->kids[i]);
        if (st != TS_OK) return st;
        if (r->loopctl) break; /* unwinding to the loop */
    }
    return TS_OK;
}

static ts_status exec_if(jrender *r, const jnode *s) {
    jv *c = jr_eval(r, s->a);
    if (!c) return r->st;
    bool t = jv_truthy(c);
    jv_unref(c);
    if (t) return jr_exec(r, s->b);
    return s->c ? jr_exec(r, s->c) : TS_OK;
}

static ts_status exec_output(jrender *r, const jnode *s) {
    jv *v = jr_eval(r, s->a);
    if (!v) return r->st;
    ts_status st = emit_value(r, s, v);
    jv_unref(v);
    return st;
}

static ts_status exec_node(jrender *r, const jnode *s) {
    switch (s->kind) {
    case JN_BLOCK:
        return exec_block(r, s);
    case JN_TEXT:
        return emit(r, s, s->lit->u.s.p, s->lit->u.s.n);
    case JN_OUTPUT:
        return exec_output(r, s);
    case JN_IF:
        return exec_if(r, s);
    case JN_FOR:
        return exec_for(r, s);
    case JN_SET:
        return exec_set(r, s);
    case JN_SETBLOCK:
        return exec_setblock(r, s);
    case JN_MACRO:
        return define_macro(r, s);
    case JN_CALLBLOCK:
        return exec_callblock(r, s);
    case JN_FILTERBLK:
        return exec_filterblock(r, s);
    case JN_WITH:
        return exec_with(r, s);
    case JN_BREAK:
    case JN_CONTINUE:
        r->loopctl = s->kind;
        return TS_OK;
    default:
        TS_ASSERT(!"expression executed as a statement");
        return TS_ERR_INVALID_ARG;
    }
}

ts_status jr_exec(jrender *r, const jnode *s) {
    if (!jr_step(r, s, 1)) return r->st;
    if (++r->depth > r->p.max_depth) {
        r->depth--;
        return jr_fail(r, s, TS_ERR_UNSUPPORTED,
                       "render stopped: blocks and calls nested deeper than max_depth (%u); "
                       "unbounded recursion?",
                       r->p.max_depth);
    }
    ts_status st = exec_node(r, s);
    r->depth--;
    return st;
}

/* ------------------------------------------------------------------ public */

ts_template_params ts_template_default_params(void) {
    return (ts_template_params){
        .max_output = (size_t)16 << 20,
        .max_steps = 10000000,
        .max_depth = 1000,
    };
}

ts_status ts_template_render(const ts_template *t, const ts_tmpl_value *context,
                             const ts_template_params *params, char **out, size_t *len) {
    if (out) *out = NULL;
    if (len) *len = 0;
    if (!t || !out) return ts_error(TS_ERR_INVALID_ARG, "ts_template_render: NULL argument");
    if (context && context->kind != TS_TMPL_KIND_DICT)
        return ts_error(TS_ERR_INVALID_ARG, "ts_template_render: the context must be a dict");
    ts_template_params d = ts_template_default_params(), p = params ? *params : d;
    if (!p.max_output) p.max_output = d.max_output;
    if (!p.max_steps) p.max_steps = d.max_steps;
    if (!p.max_depth) p.max_depth = d.max_depth;
    jv empty = {.kind = TS_TMPL_KIND_DICT, .flags = JV_STATIC};
    jbuf buf = {0};
    jframe root = {0};
    jrender r = {.t = t,
                 .ctx = context ? context : &empty,
                 .p = p,
                 .out = &buf,
                 .top = &root,
                 .root = &root};
    ts_status st = jr_exec(&r, t->root);
    frame_free(&r, &root);
    for (size_t i = 0; i < r.n_closures; i++) jv_unref(r.closures[i]); /* none are left */
    free(r.closures);
    release_namespaces(&r);
    if (st == TS_OK && !buf.p && !(buf.p = calloc(1, 1)))
        st = ts_error(TS_ERR_NOMEM, "template: out of memory");
    if (st != TS_OK) {
        jbuf_free(&buf);
        return st;
    }
    *out = buf.p;
    if (len) *len = buf.n;
    return TS_OK;
}
