/*
 * test_jinja.c — the chat-template interpreter (template.h): expressions,
 * filters, tests, methods, statements and whitespace control against
 * outputs recorded from jinja2 3.1.6 set up as transformers does
 * (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
 * loopcontrols, its tojson; strftime_now fixed at 2024-07-26); syntax and
 * render errors with their line and column; the limits (a loop that would
 * run for ever, unbounded recursion, output explosions); the sandbox
 * (CVE-2024-34359-style payloads); the value API; the chat helpers and
 * the ChatML fallback; renders of one template from several threads.
 *
 * The expected strings of the tables were produced by jinja2 for the
 * context of test_context() (see that function for its JSON).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tessera/template.h"
#include "testutil.h"

#define FIXED_NOW 1721952000 /* 2024-07-26 00:00:00 UTC */

typedef struct render_case {
    const char *src, *want;
} render_case;

/* ================================================================ tables */

static const render_case k_expressions[] = {
    {"{{ 1 }} {{ 1.0 }} {{ -3 }} {{ 2.5e3 }} {{ 1e100 }} {{ 0.1 }} {{ 1/3 }} {{ 10/4 }} {{ 2**10 "
     "}} {{ 2**-1 }} {{ 1e16 }} {{ 1.5e-5 }} {{ 0.1 + 0.2 }}",
     "1 1.0 -3 2500.0 1e+100 0.1 0.3333333333333333 2.5 1024 0.5 1e+16 1.5e-05 "
     "0.30000000000000004"},
    {"{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 0x1F }} "
     "{{ 1_000 }} {{ 0b101 }} {{ 0o17 }}",
     "3 -4 1 2 3.0 0.5 31 1000 5 15"},
    {"{{ true }} {{ True }} {{ none }} {{ None }} {{ false }} {{ n }} {{ t }} {{ f }}",
     "True True None None False None True 1.5"},
    {"{{ 'a' ~ 1 ~ none ~ true }} {{ 'a' + 'b' }} {{ 'ab' * 2 }} {{ 2 * 'ab' }} {{ [1] * 2 }} {{ "
     "[1] + [2] }}",
     "a1NoneTrue ab abab abab [1, 1] [1, 2]"},
    {"{{ 'it\\'s' }} {{ \"q\\\"x\" }} {{ '\\x41\\u00e9\\U0001F600' }} {{ 'a' 'b' }} {{ 'tab\\tend' "
     "}}",
     "it's q\"x A\xc3"
     "\xa9"
     "\xf0"
     "\x9f"
     "\x98"
     "\x80"
     " ab tab\tend"},
    {"{{ [1, 'a', none, true, 1.5] }} {{ (1, 2) }} {{ (1,) }} {{ () }} {{ {'a': 1, 'b': [1]} }} {{ "
     "['it\\'s', \"x\\\"y\"] }} {{ ['\\n', '\\x01', '\xc3"
     "\xa9"
     "', '\\u00a0'] }}",
     "[1, 'a', None, True, 1.5] (1, 2) (1,) () {'a': 1, 'b': [1]} [\"it's\", 'x\"y'] ['\\n', "
     "'\\x01', '\xc3"
     "\xa9"
     "', '\\xa0']"},
    {"{{ 1 + 2 * 3 - 4 }} {{ (1 + 2) * 3 }} {{ -2 ** 2 }} {{ 2 ** 3 ** 2 }} {{ not 1 }} {{ not 0 "
     "and 1 }}",
     "3 9 4 64 False 1"},
    {"{{ 1 and 2 }} {{ 0 or 'x' }} {{ '' or [] }} {{ none or 0 }} {{ 1 if 0 else 2 }} {{ 'y' if 1 "
     "}}[{{ 'y' if 0 }}]",
     "2 x [] 0 2 y[]"},
    {"{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' < 'b' }} {{ [1,2] < "
     "[1,3] }} {{ 'a' != 'a' }} {{ d == {'a': 2, 'b': 1} }} {{ [1] == (1,) }}",
     "True False True True True True False True False"},
    {"{{ 'a' in 'cat' }} {{ 'x' not in 'cat' }} {{ 1 in [1,2] }} {{ 'a' in d }} {{ 3 in [] }} {{ "
     "'Hi' in messages[1].content }}",
     "True True True True False True"},
    {"{{ l[0] }} {{ l[-1] }} {{ l[1:] }} {{ l[:-1] }} {{ l[::-1] }} {{ l[::2] }} {{ l[5:] }} {{ "
     "l[-100:2] }} {{ l[2:0:-1] }}",
     "3 2 [1, 2] [3, 1] [2, 1, 3] [3, 2] [] [3, 1] [2, 1]"},
    {"{{ s[0] }} {{ s[-1] }} {{ s[1:3] }} {{ s[::-1] }} {{ s|length }} {{ s[100] }}|{{ l[10] }}|{{ "
     "d.zz }}|{{ d['zz'] }}",
     "h d \xc3"
     "\xa9"
     "l dlr\xc3"
     "\xb6"
     "w oll\xc3"
     "\xa9"
     "h 11 |||"},
    {"{{ d.a }} {{ d['b'] }} {{ messages[0].role }} {{ messages.0.content }} {{ "
     "messages[3].content[0].text }}",
     "2 1 system Sys A"},
    {"{{ d.items() | list }} {{ d.keys() | list }} {{ d.values() | list }} {{ d.get('a') }} {{ "
     "d.get('z') }} {{ d.get('z', 5) }}",
     "[('b', 1), ('a', 2)] ['b', 'a'] [1, 2] 2 None 5"},
};

static const render_case k_filters[] = {
    {"{{ '  x  '|trim }}|{{ 'xxaxx'|trim('x') }}|{{ 'ab'|upper }}{{ 'AB'|lower }}|{{ 'hello "
     "world'|title }}|{{ 'hELLO'|capitalize }}|{{ \"they're 1st-rate\"|title }}",
     "x|a|ABab|Hello World|Hello|They're 1st-Rate"},
    {"{{ l|length }} {{ 'abc'|count }} {{ d|length }} {{ nope|length }} {{ s|length }}",
     "3 3 2 0 11"},
    {"{{ nope|default('d') }} {{ ''|default('d') }} {{ ''|default('d', true) }} {{ 0|d('z', "
     "boolean=true) }} {{ none|default('n') }}",
     "d  d z None"},
    {"{{ l|sort }} {{ l|sort(reverse=true) }} {{ ['b','A','c']|sort }} {{ "
     "['b','A','c']|sort(case_sensitive=true) }} {{ "
     "objs|sort(attribute='n')|map(attribute='name')|join }}",
     "[1, 2, 3] [3, 2, 1] ['A', 'b', 'c'] ['A', 'b', 'c'] abc"},
    {"{{ objs|map(attribute='n')|list }} {{ objs|map(attribute='m', default=0)|list }} {{ "
     "objs|selectattr('n', 'gt', 1)|map(attribute='name')|list }} {{ objs|rejectattr('n', "
     "'equalto', 2)|map(attribute='n')|join(',') }}",
     "[2, 1, 3] [0, 0, 0] ['b', 'c'] 1,3"},
    {"{{ [1,2,3]|join }} {{ [1,2,3]|join(', ') }} {{ objs|join('-', attribute='name') }} {{ "
     "l|first }} {{ l|last }} {{ []|first }}|{{ 'abc'|first }}",
     "123 1, 2, 3 b-a-c 3 2 |a"},
    {"{{ 'abc'|list }} {{ d|list }} {{ (1,2)|list }} {{ d|items|list }} {{ nope|items|list }} {{ "
     "d|dictsort }} {{ d|dictsort(by='value', reverse=true) }}",
     "['a', 'b', 'c'] ['b', 'a'] [1, 2] [('b', 1), ('a', 2)] [] [('a', 2), ('b', 1)] [('a', 2), "
     "('b', 1)]"},
    {"{{ 'a-b-c'|replace('-', '+') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'ab'|replace('', '-') }} "
     "{{ 5|string }} {{ [1]|string }} {{ none|string }}",
     "a+b+c bba -a-b- 5 [1] None"},
    {"{{ '42'|int }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ 3.9|int }} {{ '3.5'|float "
     "}} {{ 'y'|float }} {{ 3|float }} {{ -3|abs }} {{ -2.5|abs }}",
     "42 4 0 7 3 3.5 0.0 3.0 3 2.5"},
    {"{{ [1,2,2,3,1]|unique|list }} {{ ['a','A','b']|unique|list }} {{ l|reverse|list }} {{ "
     "'abc'|reverse }} {{ l|max }} {{ l|min }} {{ l|sum }} {{ [1.5,2]|sum }} {{ "
     "objs|sum(attribute='n') }}",
     "[1, 2, 3] ['a', 'b'] [2, 1, 3] cba 3 1 6 3.5 6"},
    {"{{ 2.567|round(2) }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.1|round(method='ceil') }} {{ "
     "[1,0,2,none]|select|list }} {{ [1,2,3,4]|select('odd')|list }} {{ "
     "[1,2,3,4]|reject('even')|list }} {{ ['a','b']|map('upper')|list }}",
     "2.57 2.0 4.0 3.0 [1, 2] [1, 3] [1, 3] ['A', 'B']"},
    {"{{ {'a': [1, 2.5, true, none, '\xc3"
     "\xa9"
     "\"\\\\\\n<>&\\''], 'b': {}, 'c': [], 'e': 1e20}|tojson }}",
     "{\"a\": [1, 2.5, true, null, \"\xc3"
     "\xa9"
     "\\\"\\\\\\n<>&'\"], \"b\": {}, \"c\": [], \"e\": 1e+20}"},
    {"{{ {'a': [1, {'b': [], 'c': {}}], 'd': 'x'}|tojson(indent=2) }}",
     "{\n  \"a\": [\n    1,\n    {\n      \"b\": [],\n      \"c\": {}\n    }\n  ],\n  \"d\": "
     "\"x\"\n}"},
    {"{{ {'z': 1, 'a': '\xc3"
     "\xa9"
     "'}|tojson(indent=4, sort_keys=true) }} {{ {'a': '\xc3"
     "\xa9"
     "'}|tojson(ensure_ascii=true) }} {{ {'z': 1, 'a': 2}|tojson(separators=(',', ':')) }} {{ "
     "messages[3]|tojson }}",
     "{\n    \"a\": \"\xc3"
     "\xa9"
     "\",\n    \"z\": 1\n} {\"a\": \"\\u00e9\"} {\"z\":1,\"a\":2} {\"role\": \"user\", "
     "\"content\": [{\"type\": \"text\", \"text\": \"A\"}, {\"type\": \"image\"}, {\"type\": "
     "\"text\", \"text\": \"B\"}]}"},
    {"{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2, "
     "blank=true) }}|{{ '<a href=\"x\">&\\'</a>'|e }}|{{ 'x'|safe }}",
     "a\n    b\n\n    c|  a\n  b|a\n  \n  b|&lt;a href=&#34;x&#34;&gt;&amp;&#39;&lt;/a&gt;|x"},
};

static const render_case k_tests[] = {
    {"{{ s is defined }} {{ nope is defined }} {{ nope is undefined }} {{ n is none }} {{ 1 is "
     "number }} {{ true is number }} {{ true is integer }} {{ 1 is integer }} {{ f is float }}",
     "True False True True True True False True True"},
    {"{{ 'a' is string }} {{ d is mapping }} {{ l is mapping }} {{ l is iterable }} {{ 'a' is "
     "iterable }} {{ 1 is iterable }} {{ l is sequence }} {{ d is sequence }} {{ nope is iterable "
     "}}",
     "True True False True True False True True True"},
    {"{{ true is true }} {{ 1 is true }} {{ false is false }} {{ t is boolean }} {{ 'ab' is lower "
     "}} {{ 'AB' is upper }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 2 is in "
     "[1,2] }} {{ 'a' is equalto 'a' }} {{ 1 is eq 1 }} {{ 3 is gt 2 }} {{ 'x' is not none }}",
     "True False True True True True True True True True True True True True"},
    {"{{ 'upper' is filter }} {{ 'nope' is filter }} {{ 'odd' is test }} {{ range is callable }} "
     "{{ none is sameas none }} {{ not nope is defined }} {{ messages[0]['tool_calls'] is defined "
     "}}",
     "True False True True True True False"},
};

static const render_case k_methods[] = {
    {"{{ 'Hello'.startswith('He') }} {{ 'Hello'.endswith(('x','lo')) }} {{ '  a  '.strip() }}|{{ "
     "'xxaxx'.lstrip('x') }}|{{ 'xxaxx'.rstrip('x') }}|{{ ' a b  c '.split() }} {{ "
     "'a,b,,c'.split(',') }} {{ 'a b c'.split(' ', 1) }} {{ 'a,b,c'.rsplit(',', 1) }}",
     "True True a|axx|xxa|['a', 'b', 'c'] ['a', 'b', '', 'c'] ['a', 'b c'] ['a,b', 'c']"},
    {"{{ 'abc'.upper() }} {{ 'ABC'.lower() }} {{ 'ab cd'.title() }} {{ 'aBC'.capitalize() }} {{ "
     "'hello'.find('l') }} {{ 'hello'.rfind('l') }} {{ 'hello'.find('z') }} {{ 'hello'.count('l') "
     "}} {{ '-'.join(['a','b']) }} {{ 'a\\nb\\r\\nc'.splitlines() }}",
     "ABC abc Ab Cd Abc 2 3 -1 2 a-b ['a', 'b', 'c']"},
    {"{{ 'abc'.replace('b', 'X') }} {{ 'xabc'.removeprefix('x') }} {{ '12'.isdigit() }} {{ "
     "'a1'.isalpha() }} {{ '{} and {}'.format(1, 'b') }} {{ '{0}{name}'.format('x', name='y') }} "
     "{{ s.find('w') }}",
     "aXc abc True False 1 and b xy 6"},
    {"{% set m = messages[2].content %}{{ '</think>' in m }} {{ m.split('</think>')[-1] }} {{ "
     "m.split('</think>', 1)[0].strip('<think>') }}",
     "True Yo x"},
};

static const render_case k_statements[] = {
    {"{% for x in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ "
     "loop.length }}{{ loop.revindex }}{{ loop.revindex0 }}|{% endfor %}",
     "10TrueFalse332|21FalseFalse321|32FalseTrue310|"},
    {"{% for x in l if x != 1 %}{{ loop.index }}:{{ x }}/{{ loop.length }} {% endfor %}{% for x in "
     "[] %}x{% else %}empty{% endfor %}",
     "1:3/2 2:2/2 empty"},
    {"{% for x in [1,2,3,4,5] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break "
     "%}{% endif %}{{ x }}{% endfor %}",
     "13"},
    {"{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %}{% "
     "for c in 'h\xc3"
     "\xa9"
     "y' %}[{{ c }}]{% endfor %}",
     "b=1;a=2;ba[h][\xc3"
     "\xa9"
     "][y]"},
    {"{% for x in l %}{{ loop.previtem }}-{{ loop.nextitem }} {{ loop.cycle('o', 'e') }};{% endfor "
     "%}",
     "-1 o;3-2 e;1- o;"},
    {"{% for i in range(3) %}{% for j in range(i) %}{{ i }}{{ j }} {% endfor %}{% endfor %}{{ "
     "range(2, 10, 3)|list }}{{ range(5, 0, -2)|list }}",
     "10 20 21 [2, 5, 8][5, 3, 1]"},
    {"{% set x = 0 %}{% for i in [1,2] %}[{{ x }}]{% set x = i %}{% endfor %}{{ x }}{% if true "
     "%}{% set x = 9 %}{% endif %}{{ x }}",
     "[0][0]09"},
    {"{% set ns = namespace(c=0, s='') %}{% for i in [1,2,3] %}{% set ns.c = ns.c + i %}{% set "
     "ns.s = ns.s ~ i %}{% endfor %}{{ ns.c }} {{ ns.s }}",
     "6 123"},
    {"{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t2 = 1, 2 %}{{ t2 }}{% set x %}inner {{ 1 + 1 }}{% "
     "endset %}[{{ x }}]{% set y | upper %}abc{% endset %}{{ y }}",
     "12(1, 2)[inner 2]ABC"},
    {"{% macro m(a, b='B', c=none) %}{{ a }}-{{ b }}-{{ c }}{% endmacro %}{{ m(1) }} {{ m(1, 2) }} "
     "{{ m(1, c=3) }} {{ m() }}",
     "1-B-None 1-2-None 1-B-3 -B-None"},
    {"{% macro rec(n) %}{% if n > 0 %}{{ n }}{{ rec(n - 1) }}{% endif %}{% endmacro %}{{ rec(5) "
     "}}{% macro w(x) %}<{{ caller(x) }}>{% endmacro %}{% for i in [1,2] %}{% call(v) w(i) %}b{{ v "
     "}}{{ i }}{% endcall %}{% endfor %}",
     "54321<b11><b22>"},
    {"{% filter upper %}hello {{ 'x' }}{% endfilter %}{% with a = 1, b = 2 %}{{ a + b }}{% endwith "
     "%}[{{ a }}]{% raw %}{{ raw }}{% endraw %}{% print 1 + 1 %}",
     "HELLO X3[]{{ raw }}2"},
    {"{{ strftime_now('%d %b %Y') }} {{ strftime_now('%Y-%m-%d %H:%M') }} {{ strftime_now('%-d "
     "%B') }} {% set dd = dict(a=1, b='x') %}{{ dd }} {{ namespace(a=1).a }}",
     "26 Jul 2024 2024-07-26 00:00 26 July {'a': 1, 'b': 'x'} 1"},
};

static const render_case k_whitespace[] = {
    {"a\n  {% if true %}\n    x\n  {% endif %}\nb", "a\n    x\nb"},
    {"a\n  {%- if true -%}\n    x\n  {%- endif -%}\nb", "axb"},
    {"a\n  {%+ if true %}\n    x\n  {% endif +%}\nb", "a\n      x\n\nb"},
    {"  {{ 1 }}  \n  {# c #}\n  {% set x = 1 %}  \nz", "  1  \n  \nz"},
    {"{% for i in [1,2] %}\n{{ i }}\n{% endfor %}\n", "1\n2\n"},
    {"{% for i in [1,2] %}  {{ i }}  {% endfor %}", "  1    2  "},
    {"{%- for i in [1,2] -%}\n  {{- i -}}\n{%- endfor -%}", "12"},
    {"x {#- comment -#} y {# c2 #}\nz", "xy z"},
    {"\t  {% if 1 %}A{% endif %}\t\n{{ 'b' }} {% raw %}{{ x }}{% endraw %}\n  {% raw %} {%x%} {% "
     "endraw %}",
     "A\t\nb {{ x }} {%x%} "},
    {"line1\n{{- ' x ' -}}\n  line2", "line1 x line2"},
    {"{% if 1 %}\r\nX\r\n{% endif %}\r\nend\n", "X\nend"},
    {"{{ {'a': {'b': 1}} }}{{ {'a':1}['a']}}", "{'a': {'b': 1}}1"},
};

static const render_case k_scoping[] = {
    {"{% for x in [1] %}{% endfor %}[{{ x }}]", "[]"},
    {"{% for (k, v) in {'a': 1}.items() %}{{ k }}{{ v }}{% endfor %}", "a1"},
    {"{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}", "37"},
    {"{% for x in [1,2] %}{% for y in [3,4] %}{{ loop.index }}{{ x }}{{ y }}{% endfor %}{{ "
     "loop.index }}{% endfor %}",
     "11321411232242"},
    {"{% for x in [1,2] %}{% set outer = loop %}{% for y in [3] %}{{ outer.index }}{% endfor %}{% "
     "endfor %}",
     "12"},
    {"{% macro m() %}{% set q = 5 %}{{ q }}{% endmacro %}{{ m() }}[{{ q }}]", "5[]"},
    {"{% set q = 1 %}{% macro m() %}{{ q }}{% endmacro %}{% set q = 2 %}{{ m() }}", "2"},
    {"{% for i in [1,2] %}{% macro m() %}{{ i }}{% endmacro %}{{ m() }}{% endfor %}", "12"},
    {"{% with %}{% set z = 1 %}{{ z }}{% endwith %}[{{ z }}]", "1[]"},
    {"{% if true %}{% set y = 3 %}{% endif %}{{ y }}", "3"},
    {"{{ loop }}|{% for x in [1] %}{{ loop.depth }}{{ loop.depth0 }}{% endfor %}", "|10"},
    {"{% set x = [1,2,3] %}{{ x|first }}{{ x[0:2]|last }}{{ x|length is divisibleby(3) }}",
     "12True"},
    {"{{ 'abc' ~ 3 ~ [1] ~ {'a': none} }}", "abc3[1]{'a': None}"},
    {"{{ '%s' % 'x' }}{{ '%d items' % 3 }}{{ '%.2f' % 2 }}{{ '%5s|%-5s|' % ('a', 'b') }}",
     "x3 items2.00    a|b    |"},
    {"{% set tools = none %}{% if tools is not none %}T{% else %}N{% endif %}{{ tools|tojson }}",
     "Nnull"},
    {"{{ (1, 2) + (3,) }}{{ [1, 2][1:] + [3] }}{{ 'ab'[::-1] * 2 }}", "(1, 2, 3)[2, 3]baba"},
    {"{{ none is none }}{{ none == none }}{{ none != false }}{{ 0 == false }}{{ 1.0 == true }}{{ "
     "'' == false }}",
     "TrueTrueTrueTrueTrueFalse"},
    {"{{ [] is iterable }}{{ 'x' is sequence }}{{ {} is iterable }}{{ 1.5 is number }}{{ none is "
     "string }}",
     "TrueTrueTrueTrueFalse"},
    {"{{ 'x' if none is none }}{{ [1, 2, 3][-2:] }}{{ 'hello'[1:-1] }}{{ 'hello'[-10:10:3] }}",
     "x[2, 3]ellhl"},
    {"{% filter trim %}  a  {% endfilter %}|{% set v | trim %}  b  {% endset %}{{ v }}", "a|b"},
    {"{{ range(5)|batch(2)|list }}", "[[0, 1], [2, 3], [4]]"},
};

/* ============================================================== helpers */

static ts_tmpl_value *str(const char *s) { return ts_tmpl_value_cstr(s); }

static ts_tmpl_value *msg(const char *role, ts_tmpl_value *content) {
    ts_tmpl_value *m = ts_tmpl_value_dict();
    assert_int_equal(ts_tmpl_dict_set_cstr(m, "role", str(role)), TS_OK);
    assert_int_equal(ts_tmpl_dict_set_cstr(m, "content", content), TS_OK);
    return m;
}

static ts_tmpl_value *part(const char *type, const char *text) {
    ts_tmpl_value *p = ts_tmpl_value_dict();
    assert_int_equal(ts_tmpl_dict_set_cstr(p, "type", str(type)), TS_OK);
    if (text) assert_int_equal(ts_tmpl_dict_set_cstr(p, "text", str(text)), TS_OK);
    return p;
}

static ts_tmpl_value *obj(int64_t n, const char *name) {
    ts_tmpl_value *o = ts_tmpl_value_dict();
    assert_int_equal(ts_tmpl_dict_set_cstr(o, "n", ts_tmpl_value_int(n)), TS_OK);
    assert_int_equal(ts_tmpl_dict_set_cstr(o, "name", str(name)), TS_OK);
    return o;
}

static ts_tmpl_value *int_list(const int64_t *v, size_t n) {
    ts_tmpl_value *l = ts_tmpl_value_list();
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ts_tmpl_list_append(l, ts_tmpl_value_int(v[i])), TS_OK);
    return l;
}

static ts_tmpl_value *test_messages(void) {
    ts_tmpl_value *m = ts_tmpl_value_list(), *parts = ts_tmpl_value_list();
    assert_int_equal(ts_tmpl_list_append(parts, part("text", "A")), TS_OK);
    assert_int_equal(ts_tmpl_list_append(parts, part("image", NULL)), TS_OK);
    assert_int_equal(ts_tmpl_list_append(parts, part("text", "B")), TS_OK);
    assert_int_equal(ts_tmpl_list_append(m, msg("system", str("Sys"))), TS_OK);
    assert_int_equal(ts_tmpl_list_append(m, msg("user", str("Hi \xc3\xa9"))), TS_OK);
    assert_int_equal(ts_tmpl_list_append(m, msg("assistant", str("<think>x</think>Yo"))), TS_OK);
    assert_int_equal(ts_tmpl_list_append(m, msg("user", parts)), TS_OK);
    return m;
}

/* {"messages": [{"role": "system", "content": "Sys"},
 *               {"role": "user", "content": "Hi é"},
 *               {"role": "assistant", "content": "<think>x</think>Yo"},
 *               {"role": "user", "content": [{"type": "text", "text": "A"},
 *                   {"type": "image"}, {"type": "text", "text": "B"}]}],
 *  "l": [3, 1, 2], "d": {"b": 1, "a": 2}, "s": "héllo wörld", "n": null,
 *  "f": 1.5, "t": true,
 *  "objs": [{"n": 2, "name": "b"}, {"n": 1, "name": "a"}, {"n": 3, "name": "c"}]} */
static ts_tmpl_value *test_context(void) {
    static const int64_t l[] = {3, 1, 2};
    ts_tmpl_value *c = ts_tmpl_value_dict(), *d = ts_tmpl_value_dict(),
                  *objs = ts_tmpl_value_list();
    assert_int_equal(ts_tmpl_dict_set_cstr(d, "b", ts_tmpl_value_int(1)), TS_OK);
    assert_int_equal(ts_tmpl_dict_set_cstr(d, "a", ts_tmpl_value_int(2)), TS_OK);
    assert_int_equal(ts_tmpl_list_append(objs, obj(2, "b")), TS_OK);
    assert_int_equal(ts_tmpl_list_append(objs, obj(1, "a")), TS_OK);
    assert_int_equal(ts_tmpl_list_append(objs, obj(3, "c")), TS_OK);
    assert_int_equal(ts_tmpl_dict_set_cstr(c, "messages", test_messages()), TS_OK);
    assert_int_equal(ts_tmpl_dict_set_cstr(c, "l", int_list(l, 3)), TS_OK);
    assert_int_equal(ts_tmpl_dict_set_cstr(c, "d", d), TS_OK);
    assert_int_equal(ts_tmpl_dict_set_cstr(c, "s", str("h\xc3\xa9llo w\xc3\xb6rld")), TS_OK);
    assert_int_equal(ts_tmpl_dict_set_cstr(c, "n", ts_tmpl_value_none()), TS_OK);
    assert_int_equal(ts_tmpl_dict_set_cstr(c, "f", ts_tmpl_value_float(1.5)), TS_OK);
    assert_int_equal(ts_tmpl_dict_set_cstr(c, "t", ts_tmpl_value_bool(true)), TS_OK);
    assert_int_equal(ts_tmpl_dict_set_cstr(c, "objs", objs), TS_OK);
    return c;
}

static ts_template_params fixed_params(void) {
    ts_template_params p = ts_template_default_params();
    p.has_now = true;
    p.now = FIXED_NOW;
    return p;
}

/* Parse and render src; returns the status, *out (malloc'd) the output. */
static ts_status render_with(const char *src, const ts_tmpl_value *ctx, const ts_template_params *p,
                             char **out, size_t *len) {
    ts_template *t = NULL;
    *out = NULL;
    ts_status st = ts_template_parse(src, strlen(src), &t);
    if (st != TS_OK) return st;
    st = ts_template_render(t, ctx, p, out, len);
    ts_template_free(t);
    return st;
}

static void check_cases(const render_case *cases, size_t n) {
    ts_tmpl_value *ctx = test_context();
    ts_template_params p = fixed_params();
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        char *out;
        size_t len;
        ts_status st = render_with(cases[i].src, ctx, &p, &out, &len);
        if (st != TS_OK) {
            print_error("case %zu: %s\n  %s\n", i, cases[i].src, ts_last_error());
            failures++;
            continue;
        }
        if (len != strlen(cases[i].want) || memcmp(out, cases[i].want, len) != 0) {
            print_error("case %zu: %s\n  want [%s]\n  got  [%s]\n", i, cases[i].src, cases[i].want,
                        out);
            failures++;
        }
        free(out);
    }
    ts_tmpl_value_free(ctx);
    assert_int_equal(failures, 0);
}

#define CHECK_TABLE(t) check_cases(t, sizeof t / sizeof t[0])

/* Render src with an empty context; assert the status and that the error
 * message contains `want` (or the output equals it on success). */
static void expect(const char *src, const ts_template_params *p, ts_status want_st,
                   const char *want) {
    char *out = NULL;
    size_t len = 0;
    ts_template_params fp = fixed_params();
    ts_status st = render_with(src, NULL, p ? p : &fp, &out, &len);
    if (st != want_st) print_error("%s: status %s (%s)\n", src, ts_status_str(st), ts_last_error());
    assert_int_equal(st, want_st);
    if (st == TS_OK) {
        assert_int_equal(len, strlen(want));
        assert_memory_equal(out, want, len);
    } else {
        assert_null(out);
        if (!strstr(ts_last_error(), want))
            print_error("message: %s\nwanted: %s\n", ts_last_error(), want);
        assert_non_null(strstr(ts_last_error(), want));
    }
    free(out);
}

/* ========================================================== jinja2 tables */

static void test_expressions(void **state) {
    (void)state;
    CHECK_TABLE(k_expressions);
}

static void test_filters(void **state) {
    (void)state;
    CHECK_TABLE(k_filters);
}

static void test_tests(void **state) {
    (void)state;
    CHECK_TABLE(k_tests);
}

static void test_methods(void **state) {
    (void)state;
    CHECK_TABLE(k_methods);
}

static void test_statements(void **state) {
    (void)state;
    CHECK_TABLE(k_statements);
    expect("{% generation %}G{{ 1 }}{% endgeneration %}", NULL, TS_OK, "G1");
}

static void test_scoping(void **state) {
    (void)state;
    CHECK_TABLE(k_scoping);
    /* a macro is bound where its definition runs */
    expect("{{ m() }}{% macro m() %}x{% endmacro %}", NULL, TS_ERR_INVALID_ARG, "'m' is undefined");
    /* a macro defined in a loop keeps seeing the loop's scope only while it lasts */
    expect("{% set ns = namespace() %}{% for i in [1, 2] %}{% macro m() %}{{ i }}{% endmacro %}"
           "{% set ns.m = m %}{{ ns.m() }}{% endfor %}[{{ ns.m() }}]",
           NULL, TS_OK, "12[]");
}

static void test_whitespace(void **state) {
    (void)state;
    CHECK_TABLE(k_whitespace);
    /* one trailing newline of the source is dropped, a second one kept */
    expect("x\n", NULL, TS_OK, "x");
    expect("x\n\n", NULL, TS_OK, "x\n");
    expect("", NULL, TS_OK, "");
}

/* ================================================================ errors */

static void test_syntax_errors(void **state) {
    (void)state;
    expect("{% for x in l %}\n{{ x }}\n", NULL, TS_ERR_FORMAT,
           "template line 2, column 8: unexpected end of template; expected 'endfor' or 'else' "
           "to close the 'for' at line 1");
    expect("a\nb\n  {{ x y }}", NULL, TS_ERR_FORMAT,
           "template line 3, column 8: expected end of print statement '}}', got 'y'");
    expect("{{ 1 + }}", NULL, TS_ERR_FORMAT,
           "template line 1, column 8: unexpected end of print statement");
    expect("{% if x %}\n  {% endfor %}", NULL, TS_ERR_FORMAT,
           "template line 2, column 6: unknown tag 'endfor'; expected 'elif' or 'else' or 'endif'");
    expect("{% foo %}", NULL, TS_ERR_FORMAT, "template line 1, column 4: unknown tag 'foo'");
    expect("{% include 'x.jinja' %}", NULL, TS_ERR_FORMAT, "cannot load other templates");
    expect("{% import 'x' as y %}", NULL, TS_ERR_FORMAT, "cannot load other templates");
    expect("x {{ 'abc }}", NULL, TS_ERR_FORMAT, "template line 1, column 6: unterminated string");
    expect("x {# never closed", NULL, TS_ERR_FORMAT,
           "template line 1, column 3: missing end of comment tag");
    expect("{{ (1 }}", NULL, TS_ERR_FORMAT, "unexpected '}', expected ')'");
    expect("{{ 1 ]}}", NULL, TS_ERR_FORMAT, "unexpected ']'");
    expect("{{ x", NULL, TS_ERR_FORMAT, "'{{' is not closed");
    expect("{% break %}", NULL, TS_ERR_FORMAT, "'break' outside of a loop");
    expect("{% for x in l recursive %}{% endfor %}", NULL, TS_ERR_FORMAT,
           "recursive loops are not supported");
    expect("{{ 99999999999999999999 }}", NULL, TS_ERR_FORMAT, "integer literal too large");
    expect("{{ '\\x4' }}", NULL, TS_ERR_FORMAT, "malformed escape");
    expect("{% macro m(a=1, b) %}{% endmacro %}", NULL, TS_ERR_FORMAT, "non-default argument");
    expect("{% set 1 = 2 %}", NULL, TS_ERR_FORMAT, "can't assign");
    expect("{{ a is b is c }}", NULL, TS_ERR_FORMAT, "cannot chain");
}

static void test_nesting_bound(void **state) {
    (void)state;
    char src[4096];
    size_t k = 0;
    k += (size_t)snprintf(src + k, sizeof src - k, "{{ ");
    for (int i = 0; i < 600; i++) src[k++] = '(';
    src[k++] = '1';
    for (int i = 0; i < 600; i++) src[k++] = ')';
    snprintf(src + k, sizeof src - k, " }}");
    expect(src, NULL, TS_ERR_FORMAT, "nested too deeply");
    k = 0;
    for (int i = 0; i < 300; i++) k += (size_t)snprintf(src + k, sizeof src - k, "{%%if 1%%}");
    expect(src, NULL, TS_ERR_FORMAT, "nested too deeply");
    k = 0;
    for (int i = 0; i < 400; i++) k += (size_t)snprintf(src + k, sizeof src - k, "not ");
    snprintf(src + k, sizeof src - k, "1");
    char wrapped[4200];
    snprintf(wrapped, sizeof wrapped, "{{ %s }}", src);
    expect(wrapped, NULL, TS_ERR_FORMAT, "nested too deeply");
}

static void test_render_errors(void **state) {
    (void)state;
    expect("ok\n{% if true %}{{ raise_exception('Conversation roles must alternate') }}{% endif %}",
           NULL, TS_ERR_INVALID_ARG,
           "template line 2, column 17: Conversation roles must alternate");
    expect("{{ x.y }}", NULL, TS_ERR_INVALID_ARG, "UndefinedError: 'x' is undefined");
    expect("{{ {}.a.b }}", NULL, TS_ERR_INVALID_ARG, "'dict object' has no attribute 'a'");
    expect("{{ 1 + 'a' }}", NULL, TS_ERR_INVALID_ARG, "unsupported operand type(s) for +");
    expect("{{ 1 // 0 }}", NULL, TS_ERR_INVALID_ARG, "ZeroDivisionError");
    expect("{{ 9223372036854775807 + 1 }}", NULL, TS_ERR_INVALID_ARG, "OverflowError");
    expect("{% for x in none %}{% endfor %}", NULL, TS_ERR_INVALID_ARG,
           "'NoneType object' is not iterable");
    expect("{{ x|tojson }}", NULL, TS_ERR_INVALID_ARG, "not JSON serializable");
    expect("{{ 1|no_such_filter }}", NULL, TS_ERR_INVALID_ARG, "no filter named 'no_such_filter'");
    expect("{{ 1 is no_such_test }}", NULL, TS_ERR_INVALID_ARG, "no test named 'no_such_test'");
    /* like jinja2, an unknown filter in a branch never taken is no error */
    expect("{% if false %}{{ 1|no_such_filter }}{% endif %}ok", NULL, TS_OK, "ok");
    expect("{% set a, b = [1] %}", NULL, TS_ERR_INVALID_ARG, "not enough values to unpack");
    expect("{% set x = 1 %}{% set x.y = 2 %}", NULL, TS_ERR_INVALID_ARG, "non-namespace");
    expect("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", NULL, TS_ERR_INVALID_ARG,
           "takes not more than 1");
    expect("{% macro m(a) %}{% endmacro %}{{ m(b=2) }}", NULL, TS_ERR_INVALID_ARG,
           "unexpected keyword argument 'b'");
    expect("{{ 'a'.split('') }}", NULL, TS_ERR_INVALID_ARG, "empty separator");
    expect("{{ [1, 'a']|sort }}", NULL, TS_ERR_INVALID_ARG, "not supported between");
    /* found by fuzzing: arithmetic at the edges of int64 */
    expect("{{ -(-9223372036854775807 - 1) }}", NULL, TS_ERR_INVALID_ARG, "OverflowError");
    expect("{{ [1, 2, 3][::-9223372036854775807 - 1] }}", NULL, TS_OK, "[3]");
    expect("{{ range(9223372036854775807, -9223372036854775807, -9223372036854775807)|list }}",
           NULL, TS_OK, "[9223372036854775807, 0]");
    expect("{{ '%5555555555555d' % 1 }}", NULL, TS_ERR_INVALID_ARG, "width/precision over 4096");
    expect("{{ [1, 2][0, 1:] }}", NULL, TS_ERR_FORMAT, "slice inside a tuple subscript");
}

/* ================================================================ limits */

static void test_limit_steps(void **state) {
    (void)state;
    /* 10^10 iterations: stopped by the default step budget */
    expect(
        "{% for i in range(100000) %}{% for j in range(100000) %}{{ '' }}{% endfor %}{% endfor %}",
        NULL, TS_ERR_UNSUPPORTED, "max_steps (10000000)");
    ts_template_params p = fixed_params();
    p.max_steps = 1000;
    expect("{% for i in range(2000) %}{% endfor %}", &p, TS_ERR_UNSUPPORTED, "max_steps (1000)");
    expect("{% for i in range(10) %}{{ i }}{% endfor %}", &p, TS_OK, "0123456789");
    /* range itself is bounded as in jinja2's sandbox */
    expect("{% for i in range(10**9) %}{% endfor %}", NULL, TS_ERR_UNSUPPORTED, "range too big");
}

static void test_limit_depth(void **state) {
    (void)state;
    expect("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", NULL, TS_ERR_UNSUPPORTED,
           "max_depth (1000)");
    expect("{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}{% endmacro %}{{ a() }}",
           NULL, TS_ERR_UNSUPPORTED, "max_depth");
    ts_template_params p = fixed_params();
    p.max_depth = 50;
    expect("{% macro f(n) %}{% if n %}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(100) }}", &p,
           TS_ERR_UNSUPPORTED, "max_depth (50)");
    expect("{% macro f(n) %}{% if n %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}", &p,
           TS_OK, "321");
}

static void test_limit_output(void **state) {
    (void)state;
    ts_template_params p = fixed_params();
    p.max_output = 1 << 20;
    expect("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", &p, TS_ERR_UNSUPPORTED,
           "max_output (1048576 bytes)");
    /* doubling a string: each value is bounded too, not only the output */
    expect("{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% "
           "endfor %}",
           &p, TS_ERR_UNSUPPORTED, "max_output");
    expect("{{ ('x' * 1000000000000)|length }}", &p, TS_ERR_UNSUPPORTED, "max_output");
    expect("{% set ns = namespace(l=[1]) %}{% for i in range(100) %}{% set ns.l = ns.l + ns.l %}{% "
           "endfor %}",
           &p, TS_ERR_UNSUPPORTED, "max_output");
    expect("{% set s %}{% for i in range(100000) %}{{ 'y' * 100 }}{% endfor %}{% endset %}", &p,
           TS_ERR_UNSUPPORTED, "max_output");
    expect("{{ 'abc'|replace('', 'x' * 100000) * 100 }}", &p, TS_ERR_UNSUPPORTED, "max_output");
}

/* Work that hides inside one operation (comparing, searching, printing
 * big or shared values) is counted too, so it cannot outrun the limits. */
static void test_limit_work(void **state) {
    (void)state;
    ts_template_params p = fixed_params();
    p.max_steps = 1000000;
    /* 10^10 element comparisons in a single == */
    expect("{% set a = range(100000)|list %}{% set b = range(100000)|list %}"
           "{% set m1 = [a] * 100000 %}{% set m2 = [b] * 100000 %}{{ m1 == m2 }}",
           &p, TS_ERR_UNSUPPORTED, "max_steps");
    expect("{% set a = range(100000)|list %}{% set m = [a] * 100000 %}{{ (range(99999)|list + "
           "[-1]) in m }}",
           &p, TS_ERR_UNSUPPORTED, "max_steps");
    expect("{% set a = range(100000)|list %}{{ a|map('string')|unique|list|length }}", &p,
           TS_ERR_UNSUPPORTED, "max_steps");
    /* printing 10^10 numbers that share storage */
    expect("{% set a = range(100000)|list %}{{ [a] * 100000 }}", &p, TS_ERR_UNSUPPORTED,
           "max_output");
    expect("{% set a = range(100000)|list %}{{ ([a] * 100000)|tojson }}", &p, TS_ERR_UNSUPPORTED,
           "max_output");
    /* a long search repeated in a loop */
    expect("{% set big = 'a' * 1000000 %}{% for i in range(100000) %}{{ 'b' in big }}{% endfor %}",
           &p, TS_ERR_UNSUPPORTED, "max_steps");
    expect("{% set big = 'a' * 1000000 %}{{ big.rfind('a' * 500000 ~ 'b') }}", &p,
           TS_ERR_UNSUPPORTED, "max_steps");
    expect("{% set big = 'a' * 1000000 %}{{ big.strip('b' * 100000 ~ 'a') }}", &p,
           TS_ERR_UNSUPPORTED, "max_steps");
    expect("{% set big = 'x' * 1000 %}{{ big.rfind('x' * 10 ~ 'y') }} {{ big.strip('x')|length }}",
           &p, TS_OK, "-1 0");
}

/* =============================================================== sandbox */

static void test_sandbox(void **state) {
    (void)state;
    /* the CVE-2024-34359 payload (template injection through model
     * metadata in llama-cpp-python): no Python object is reachable */
    static const char cve[] =
        "{% for x in ().__class__.__base__.__subclasses__() %}{% if \"warning\" in x.__name__ %}"
        "{{ x()._module.__builtins__['__import__']('os').popen(\"touch "
        "/tmp/tessera-pwned\").read() }}"
        "{% endif %}{% endfor %}";
    expect(cve, NULL, TS_ERR_INVALID_ARG, "has no attribute '__class__'");
    assert_int_not_equal(access("/tmp/tessera-pwned", F_OK), 0);
    expect("{{ cycler.__init__.__globals__.os.popen('id').read() }}", NULL, TS_ERR_INVALID_ARG,
           "'cycler' is undefined");
    expect("{{ self.__init__.__globals__ }}", NULL, TS_ERR_INVALID_ARG, "'self' is undefined");
    expect("{{ range.__globals__ }}", NULL, TS_OK, "");
    expect("{{ ''.__class__ }}{{ lipsum }}{{ config }}", NULL, TS_OK, "");
    expect("{{ ''.__class__.__mro__ }}", NULL, TS_ERR_INVALID_ARG, "UndefinedError");
    expect("{{ 'a'.format_map }}", NULL, TS_OK, "");
    /* lists and dicts are immutable, as in ImmutableSandboxedEnvironment */
    expect("{% set l = [1] %}{{ l.append(2) }}", NULL, TS_ERR_INVALID_ARG,
           "has no attribute 'append'");
    expect("{% set d = {'a': 1} %}{{ d.update({'b': 2}) }}", NULL, TS_ERR_INVALID_ARG,
           "UndefinedError");
    expect("{% set d = {'a': 1} %}{{ d.pop('a') }}", NULL, TS_ERR_INVALID_ARG, "UndefinedError");
}

/* ============================================================ value API */

static void test_value_api(void **state) {
    (void)state;
    ts_tmpl_value *d = ts_tmpl_value_dict();
    assert_int_equal(ts_tmpl_value_kind(d), TS_TMPL_KIND_DICT);
    assert_int_equal(ts_tmpl_dict_set_cstr(d, "b", ts_tmpl_value_int(1)), TS_OK);
    assert_int_equal(ts_tmpl_dict_set_cstr(d, "a", ts_tmpl_value_float(2.0)), TS_OK);
    assert_int_equal(ts_tmpl_dict_set_cstr(d, "b", ts_tmpl_value_str("x\0y", 3)),
                     TS_OK); /* keeps its place */
    assert_int_equal(ts_tmpl_dict_len(d), 2);
    size_t kl;
    assert_string_equal(ts_tmpl_dict_key(d, 0, &kl), "b");
    assert_int_equal(kl, 1);
    size_t sl;
    const char *s = ts_tmpl_value_get_str(ts_tmpl_dict_value(d, 0), &sl);
    assert_int_equal(sl, 3);
    assert_memory_equal(s, "x\0y", 3);
    assert_true(ts_tmpl_value_get_float(ts_tmpl_dict_get(d, "a", 1)) == 2.0);
    assert_null(ts_tmpl_dict_get(d, "zz", 2));

    /* ownership: a failed append or set frees its value (ASan checks) */
    ts_tmpl_value *notlist = ts_tmpl_value_int(3);
    assert_int_equal(ts_tmpl_list_append(notlist, ts_tmpl_value_cstr("leak?")), TS_ERR_INVALID_ARG);
    assert_int_equal(ts_tmpl_dict_set_cstr(notlist, "k", ts_tmpl_value_cstr("leak?")),
                     TS_ERR_INVALID_ARG);
    ts_tmpl_value *empty = ts_tmpl_value_list();
    assert_int_equal(ts_tmpl_list_append(empty, NULL), TS_ERR_NOMEM); /* a failed constructor */
    assert_int_equal(ts_tmpl_list_append(empty, empty), TS_ERR_INVALID_ARG);
    assert_int_equal(ts_tmpl_list_len(empty), 0);
    ts_tmpl_value_free(empty);
    ts_tmpl_value_free(notlist);
    ts_tmpl_value_free(NULL);

    /* a big dict: insertion order kept, lookups indexed */
    ts_tmpl_value *big = ts_tmpl_value_dict();
    char key[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(ts_tmpl_dict_set_cstr(big, key, ts_tmpl_value_int(i)), TS_OK);
    }
    assert_int_equal(ts_tmpl_dict_set_cstr(big, "k17", ts_tmpl_value_int(-17)), TS_OK);
    assert_int_equal(ts_tmpl_dict_len(big), 5000);
    assert_int_equal(ts_tmpl_value_get_int(ts_tmpl_dict_get(big, "k4999", 5)), 4999);
    assert_int_equal(ts_tmpl_value_get_int(ts_tmpl_dict_value(big, 17)), -17);
    assert_string_equal(ts_tmpl_dict_key(big, 4321, NULL), "k4321");

    ts_tmpl_value_free(d);
    ts_tmpl_value_free(big);
}

/* Values built through the API, printed by a template as Python would. */
static void test_value_render(void **state) {
    (void)state;
    ts_tmpl_value *d = ts_tmpl_value_dict(), *big = ts_tmpl_value_dict();
    assert_int_equal(ts_tmpl_dict_set_cstr(d, "b", ts_tmpl_value_str("x\0y", 3)), TS_OK);
    assert_int_equal(ts_tmpl_dict_set_cstr(d, "a", ts_tmpl_value_float(2.0)), TS_OK);
    char key[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(ts_tmpl_dict_set_cstr(big, key, ts_tmpl_value_int(i)), TS_OK);
    }
    ts_tmpl_value *ctx = ts_tmpl_value_dict(), *list = ts_tmpl_value_list();
    assert_int_equal(ts_tmpl_list_append(list, ts_tmpl_value_bool(false)), TS_OK);
    assert_int_equal(ts_tmpl_list_append(list, ts_tmpl_value_none()), TS_OK);
    assert_int_equal(ts_tmpl_list_append(list, ts_tmpl_value_int(INT64_MIN)), TS_OK);
    assert_int_equal(ts_tmpl_list_append(list, ts_tmpl_value_float(1e16)), TS_OK);
    assert_int_equal(ts_tmpl_list_len(list), 4);
    assert_false(ts_tmpl_value_get_bool(ts_tmpl_list_get(list, 0)));
    assert_int_equal(ts_tmpl_dict_set_cstr(ctx, "d", d), TS_OK);
    assert_int_equal(ts_tmpl_dict_set_cstr(ctx, "big", big), TS_OK);
    assert_int_equal(ts_tmpl_dict_set_cstr(ctx, "list", list), TS_OK);
    char *out;
    size_t len;
    ts_template_params p = fixed_params();
    assert_int_equal(
        render_with("{{ d }}|{{ d.b }}|{{ big.k4999 }} {{ big|length }}|{{ list }}|{{ d.a }}", ctx,
                    &p, &out, &len),
        TS_OK);
    static const char want[] =
        "{'b': 'x\\x00y', 'a': 2.0}|x\0y|4999 5000|[False, None, -9223372036854775808, "
        "1e+16]|2.0";
    assert_int_equal(len, sizeof want - 1);
    assert_memory_equal(out, want, len);
    free(out);
    /* the context must be a dict */
    ts_template *t;
    assert_int_equal(ts_template_parse("x", 1, &t), TS_OK);
    assert_int_equal(ts_template_render(t, list, NULL, &out, &len), TS_ERR_INVALID_ARG);
    assert_int_equal(ts_template_render(t, NULL, NULL, &out, &len), TS_OK);
    assert_string_equal(out, "x");
    free(out);
    ts_template_free(t);
    ts_template_free(NULL);
    ts_tmpl_value_free(ctx);
}

/* ================================================================== chat */

static char log_buf[4096];
static void capture_log(ts_log_level level, const char *m, void *user) {
    (void)user;
    snprintf(log_buf + strlen(log_buf), sizeof log_buf - strlen(log_buf), "%d:%s\n", (int)level, m);
}

static void test_chatml_fallback(void **state) {
    (void)state;
    ts_chat_params p = ts_chat_default_params();
    ts_tmpl_value *messages = test_messages();
    p.messages = messages;
    p.add_generation_prompt = true;
    log_buf[0] = '\0';
    ts_log_set(capture_log, NULL, TS_LOG_DEBUG);
    char *out;
    size_t len;
    assert_int_equal(ts_chat_template_apply(NULL, 0, &p, &out, &len), TS_OK);
    assert_string_equal(
        out, "<|im_start|>system\nSys<|im_end|>\n<|im_start|>user\nHi \xc3\xa9<|im_end|>\n"
             "<|im_start|>assistant\n<think>x</think>Yo<|im_end|>\n"
             "<|im_start|>user\nAB<|im_end|>\n<|im_start|>assistant\n");
    assert_int_equal(len, strlen(out));
    free(out);
    assert_non_null(strstr(log_buf, "using ChatML"));

    /* a model file without a template: ChatML, with a warning */
    const char *path = ts_test_path("no_template.gguf");
    ts_gguf_writer *w = ts_gguf_writer_new();
    assert_int_equal(ts_gguf_writer_set_str(w, "general.architecture", "llama"), TS_OK);
    assert_int_equal(ts_gguf_writer_write(w, path), TS_OK);
    ts_gguf_writer_free(w);
    ts_gguf *g;
    assert_int_equal(ts_gguf_open(path, &g), TS_OK);
    ts_str src;
    bool is_chatml = false;
    log_buf[0] = '\0';
    assert_int_equal(ts_chat_template_source(g, &src, &is_chatml), TS_OK);
    assert_true(is_chatml);
    assert_memory_equal(src.ptr, ts_chat_template_chatml(), src.len);
    assert_non_null(strstr(log_buf, "2:model has no chat template"));
    ts_gguf_close(g);

    /* a model file with one: that template */
    const char *path2 = ts_test_path("with_template.gguf");
    w = ts_gguf_writer_new();
    assert_int_equal(ts_gguf_writer_set_str(w, "tokenizer.chat_template", "{{ bos_token }}T"),
                     TS_OK);
    assert_int_equal(ts_gguf_writer_write(w, path2), TS_OK);
    ts_gguf_writer_free(w);
    assert_int_equal(ts_gguf_open(path2, &g), TS_OK);
    assert_int_equal(ts_chat_template_source(g, &src, &is_chatml), TS_OK);
    assert_false(is_chatml);
    p.bos_token = "<s>";
    assert_int_equal(ts_chat_template_apply(src.ptr, src.len, &p, &out, &len), TS_OK);
    assert_string_equal(out, "<s>T");
    free(out);
    ts_gguf_close(g);
    ts_log_set(NULL, NULL, TS_LOG_WARN);
    ts_tmpl_value_free(messages);
}

static void test_chat_context(void **state) {
    (void)state;
    ts_chat_params p = ts_chat_default_params();
    ts_tmpl_value *ctx;
    assert_int_equal(ts_chat_context_new(&p, &ctx), TS_ERR_INVALID_ARG); /* no messages */
    ts_tmpl_value *messages = ts_tmpl_value_list(), *extra = ts_tmpl_value_dict();
    assert_int_equal(ts_tmpl_dict_set_cstr(extra, "enable_thinking", ts_tmpl_value_bool(false)),
                     TS_OK);
    assert_int_equal(ts_tmpl_dict_set_cstr(extra, "bos_token", ts_tmpl_value_cstr("override")),
                     TS_OK);
    p.messages = messages;
    p.eos_token = "</s>";
    p.extra = extra;
    p.render.has_now = true;
    p.render.now = FIXED_NOW;
    char *out;
    size_t len;
    static const char src[] =
        "{{ messages|length }} {{ tools is none }} {{ documents is none }} {{ "
        "add_generation_prompt }} "
        "{{ bos_token }} {{ eos_token }} {{ enable_thinking }} {{ strftime_now('%d %B %Y') }}";
    assert_int_equal(ts_chat_template_apply(src, strlen(src), &p, &out, &len), TS_OK);
    assert_string_equal(out, "0 True True False override </s> False 26 July 2024");
    free(out);
    p.extra = NULL;
    p.bos_token = NULL;
    assert_int_equal(ts_chat_template_apply("{{ bos_token is defined }}", 26, &p, &out, &len),
                     TS_OK);
    assert_string_equal(out, "False");
    free(out);
    p.tools = extra; /* not a list */
    assert_int_equal(ts_chat_context_new(&p, &ctx), TS_ERR_INVALID_ARG);
    ts_tmpl_value_free(messages);
    ts_tmpl_value_free(extra);
}

/* =============================================================== threads */

typedef struct thread_job {
    const ts_template *t;
    const ts_tmpl_value *ctx;
    char *out;
    ts_status st;
} thread_job;

static void *render_thread(void *arg) {
    thread_job *j = arg;
    ts_template_params p = fixed_params();
    for (int i = 0; i < 50 && j->st == TS_OK; i++) {
        free(j->out);
        size_t len;
        j->st = ts_template_render(j->t, j->ctx, &p, &j->out, &len);
    }
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    static const char src[] =
        "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}"
        "{{ m.role }}:{{ m.content if m.content is string else "
        "m.content|map(attribute='type')|join(',') }};"
        "{% endfor %}{{ ns.n }} {{ [1, 'lit']|tojson }}";
    ts_template *t;
    assert_int_equal(ts_template_parse(src, strlen(src), &t), TS_OK);
    ts_tmpl_value *ctx = test_context();
    thread_job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (thread_job){t, ctx, NULL, TS_OK};
        assert_int_equal(pthread_create(&th[i], NULL, render_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(jobs[i].st, TS_OK);
        assert_string_equal(jobs[i].out, "system:Sys;user:Hi \xc3\xa9;assistant:<think>x</think>Yo;"
                                         "user:text,image,text;4 [1, \"lit\"]");
        free(jobs[i].out);
    }
    ts_tmpl_value_free(ctx);
    ts_template_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expressions),   cmocka_unit_test(test_filters),
        cmocka_unit_test(test_tests),         cmocka_unit_test(test_methods),
        cmocka_unit_test(test_statements),    cmocka_unit_test(test_scoping),
        cmocka_unit_test(test_whitespace),    cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_nesting_bound), cmocka_unit_test(test_render_errors),
        cmocka_unit_test(test_limit_steps),   cmocka_unit_test(test_limit_depth),
        cmocka_unit_test(test_limit_output),  cmocka_unit_test(test_limit_work),
        cmocka_unit_test(test_sandbox),       cmocka_unit_test(test_value_api),
        cmocka_unit_test(test_value_render),  cmocka_unit_test(test_chatml_fallback),
        cmocka_unit_test(test_chat_context),  cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
