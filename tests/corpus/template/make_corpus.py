#!/usr/bin/env python3
"""Write the chat-template fuzz corpus: seed/ (small valid templates that
use the language's features, a start for fuzzing) and bad/ (known-bad
templates: each must end in a clean error — or, for a sandbox escape
attempt, at most in harmless output — never a crash, a hang or unbounded
memory). Deterministic; rerun after editing the lists below:

    python3 tests/corpus/template/make_corpus.py

fuzz_template (tests/fuzz/fuzz_template.c) replays both folders, and the
real templates of tests/data/templates, under tight limits (ctest
fuzz_template_corpus). Files are raw template bytes; names say what each
one tries.
"""
import pathlib
import shutil

HERE = pathlib.Path(__file__).resolve().parent

SEED = {
    "text_only": "Hello, world.\n",
    "expr_and_filters": "{{ messages[0].role | upper }} {{ messages | length }} {{ 'a,b'.split(',') | join('-') }}",
    "for_loop_vars": "{% for m in messages %}{{ loop.index }}/{{ loop.length }}{{ loop.first }}{{ loop.last }}"
                     "{{ loop.index0 }}{{ loop.revindex }}{% endfor %}",
    "for_else_filter": "{% for m in messages if m.role == 'nobody' %}x{% else %}empty{% endfor %}",
    "loop_controls": "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i > 5 %}{% break %}{% endif %}{{ i }}{% endfor %}",
    "if_elif_else": "{% if messages[0].role == 'system' %}S{% elif messages|length > 1 %}M{% else %}E{% endif %}",
    "set_and_namespace": "{% set ns = namespace(n=0, s='') %}{% for m in messages %}{% set ns.n = ns.n + 1 %}"
                         "{% set ns.s = ns.s ~ m.role[0] %}{% endfor %}{{ ns.n }}{{ ns.s }}",
    "set_block": "{% set x %}inner {{ bos_token }}{% endset %}[{{ x }}]",
    "macro_defaults": "{% macro turn(role, text='') -%}<{{ role }}>{{ text }}{%- endmacro %}{{ turn('user', 'hi') }}{{ turn('sys') }}",
    "macro_call_block": "{% macro wrap() %}[{{ caller() }}]{% endmacro %}{% call wrap() %}body{% endcall %}",
    "filter_block": "{% filter upper %}shout {{ eos_token }}{% endfilter %}",
    "raw_block": "{% raw %}{{ not evaluated }}{% endraw %}",
    "whitespace_control": "  {%- if true -%}  \n  a  \n  {%- endif -%}  \n{{- ' b ' -}}\n{#- comment -#}  c\n    {% if true %}\n    d\n    {% endif %}\n",
    "plus_lstrip": "    {%+ if true %}kept indentation{% endif +%}\n",
    "slicing": "{{ messages[1:] | length }}{{ messages[::-1][0].role }}{{ 'abcdef'[1:-1:2] }}{{ 'héllo'[1] }}",
    "string_methods": "{{ ' x '.strip() }}{{ 'ab'.startswith('a') }}{{ 'ab'.endswith('b') }}{{ 'a-b'.replace('-', '+') }}"
                      "{{ 'hello world'.title() }}{{ ' x'.lstrip() }}{{ 'x '.rstrip() }}{{ 'Abc'.lower() }}{{ 'abc'.upper() }}",
    "tests": "{{ x is defined }}{{ none is none }}{{ 'a' is string }}{{ 1 is number }}{{ {} is mapping }}"
             "{{ [] is iterable }}{{ messages is sequence }}{{ 3 is odd }}{{ 4 is even }}{{ 4 is divisibleby 2 }}",
    "tojson": "{{ tools | tojson }}{{ tools | tojson(indent=2) }}{{ {'é': [1, 2.5, none, true]} | tojson }}",
    "dict_methods": "{% for k, v in messages[0].items() %}{{ k }}={{ v }};{% endfor %}{{ messages[0].keys() | list }}"
                    "{{ messages[0].get('nope', 'dflt') }}{{ messages[0] | dictsort | first }}",
    "list_filters": "{{ [3, 1, 2] | sort | join }}{{ [1, 2] | first }}{{ [1, 2] | last }}{{ ['a'] | list }}"
                    "{{ messages | map(attribute='role') | join(',') }}{{ messages | selectattr('role', 'equalto', 'user') | list | length }}",
    "default_filter": "{{ undefined_thing | default('d') }}{{ '' | default('e', true) }}{{ none | string }}{{ '12' | int + 1 }}",
    "arithmetic": "{{ 7 // 2 }} {{ 7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }} {{ -3 // 2 }} {{ 1.5 + 1 }} {{ 10 - 2 * 3 }} {{ (1 + 2) * 3 }}",
    "comparisons": "{{ 1 < 2 <= 2 }}{{ 'a' in 'cat' }}{{ 'x' not in ['y'] }}{{ 1 == 1.0 }}{{ not false and true or false }}",
    "concat_and_cond": "{{ 'a' ~ 1 ~ none }}{{ 'yes' if messages else 'no' }}{{ bos_token + 'x' }}",
    "strftime": "{{ strftime_now('%Y-%m-%d %d %b %Y %H:%M') }}",
    "raise_exception": "{% if messages | length > 100 %}{{ raise_exception('too many') }}{% endif %}ok",
    "chatml": "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + (message['content'] if message['content'] is string else message['content'][0]['text']) + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
    "dict_literal_and_global": "{% set d = dict(a=1, b='x') %}{{ d.a }}{{ d['b'] }}{{ {'k': 'v'}.k }}",
}

DEEP = 1000  # nesting well past TS_TEMPLATE_MAX_NESTING (256)
BIG_RANGE = "1000000000000000000"
I64_MAX = "9223372036854775807"
I64_MIN = "(-9223372036854775807 - 1)"

DAG = "{% set ns = namespace(v=[1]) %}{% for i in range(60) %}{% set ns.v = [ns.v, ns.v] %}{% endfor %}"
DAG2 = ("{% set ns = namespace(a=[1], b=[1]) %}{% for i in range(60) %}"
        "{% set ns.a = [ns.a, ns.a] %}{% set ns.b = [ns.b, ns.b] %}{% endfor %}")

BAD = {
    # ---- syntax: unterminated or unbalanced
    "unterminated_for": "{% for m in messages %}{{ m.role }}",
    "unterminated_if": "{% if true %}x{% elif false %}y",
    "unterminated_macro": "{% macro f() %}x",
    "unterminated_expr": "{{ messages[0",
    "unterminated_expr_eof": "{{",
    "unterminated_tag_eof": "{%",
    "unterminated_tag_name": "{% for",
    "unterminated_string": "{{ 'abc }}",
    "unterminated_dq_string": "{{ \"abc }}",
    "unterminated_escape": "{{ 'abc\\",
    "unterminated_comment": "{# never closed",
    "unterminated_raw": "{% raw %}abc {{ x }}",
    "unterminated_set_block": "{% set x %}abc",
    "unterminated_call": "{% macro m() %}{% endmacro %}{% call m() %}x",
    "unterminated_filter_block": "{% filter upper %}x",
    "stray_endfor": "{% endfor %}",
    "stray_endif": "x{% endif %}",
    "stray_else": "{% else %}",
    "stray_break": "{% break %}",
    "stray_continue": "{% if true %}{% continue %}{% endif %}",
    "mismatched_end": "{% if x %}{% endfor %}",
    "elif_after_else": "{% if a %}{% else %}{% elif b %}{% endif %}",
    "double_else": "{% if a %}{% else %}{% else %}{% endif %}",
    "empty_tag": "{% %}",
    "empty_expr": "{{ }}",
    "bad_operator": "{{ 1 +* 2 }}",
    "bad_char": "{{ @ }}",
    "bad_dot": "{{ a. }}",
    "bad_slice": "{{ a[1:2:3:4] }}",
    "bad_set_target": "{% set 1 = 2 %}",
    "bad_for_target": "{% for 'x' in y %}{% endfor %}",
    "for_without_in": "{% for x y %}{% endfor %}",
    "unclosed_paren": "{{ (1 + 2 }}",
    "unclosed_bracket": "{{ [1, 2 }}",
    "unclosed_brace": "{{ {'a': 1 }}",
    "close_without_open": "{{ 1) }}",
    "unknown_tag_include": "{% include 'other.jinja' %}",
    "unknown_tag_import": "{% import 'os' as os %}",
    "unknown_tag_from_import": "{% from 'x' import y %}",
    "unknown_tag_extends": "{% extends 'base.html' %}",
    "unknown_tag_block": "{% block body %}x{% endblock %}",
    "unknown_tag_with": "{% with a = 1 %}{{ a }}{% endwith %}",
    "unknown_tag_do": "{% do messages.append(1) %}",
    "unknown_tag_autoescape": "{% autoescape true %}x{% endautoescape %}",
    "unknown_filter": "{{ 'x' | no_such_filter }}",
    "unknown_test": "{{ 'x' is no_such_test }}",
    "tag_delimiters_in_string": "{{ '%}' }}{% if '{{' %}{{ '}}' }}{% endif %}",
    "only_closers": "}} %} #} -%} -}}",
    "dash_soup": "{%- -%}{{- -}}{#- -#}",
    # ---- nesting past the parser's bound
    "deep_parens": "{{ " + "(" * DEEP + "1" + ")" * DEEP + " }}",
    "deep_brackets": "{{ " + "[" * DEEP + "]" * DEEP + " }}",
    "deep_braces": "{{ " + "{'a': " * DEEP + "1" + "}" * DEEP + " }}",
    "deep_if": "{% if true %}" * DEEP + "x" + "{% endif %}" * DEEP,
    "deep_for": "{% for a in [1] %}" * DEEP + "x" + "{% endfor %}" * DEEP,
    "deep_not": "{{ " + "not " * DEEP + "true }}",
    "deep_minus": "{{ " + "-" * DEEP + "1 }}",
    "deep_ternary": "{{ " + "1 if true else (" * DEEP + "0" + ")" * DEEP + " }}",
    "deep_calls": "{{ " + "range(" * DEEP + "1" + ")" * DEEP + " }}",
    "deep_unclosed_parens": "{{ " + "(" * DEEP,
    "long_filter_chain": "{{ 'x'" + " | string" * DEEP + " }}",
    "long_attr_chain": "{{ messages" + ".a" * DEEP + " }}",
    "long_concat": "{{ 'x'" + " ~ 'x'" * DEEP + " }}",
    "deep_macro_nesting": "{% macro m() %}" * 300 + "{% endmacro %}" * 300,
    # ---- loops that would not end
    "for_huge_range": "{% for i in range(" + BIG_RANGE + ") %}{% endfor %}",
    "for_int_max_range": "{% for i in range(" + I64_MAX + ") %}x{% endfor %}",
    "for_full_int_range": "{% for i in range(" + I64_MIN + ", " + I64_MAX + ") %}{% endfor %}",
    "nested_loops": "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
    "nested_loops_break_inner": "{% for a in range(1000000) %}{% for b in range(1000000) %}{% break %}{% endfor %}{% endfor %}",
    "recursive_macro": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "recursive_macro_arg": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "mutual_recursion": "{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}{% endmacro %}{{ a() }}",
    "recursive_caller": "{% macro f() %}{% call f() %}x{% endcall %}{% endmacro %}{{ f() }}",
    "fork_bomb_macro": "{% macro f(n) %}{% if n < 60 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}{% endmacro %}{{ f(0) }}",
    "recursive_loop": "{% for m in messages recursive %}{{ loop(messages) }}{% endfor %}",
    "while_via_namespace": "{% set ns = namespace(i=0) %}{% for _ in range(" + BIG_RANGE + ") %}{% set ns.i = ns.i + 1 %}{% endfor %}{{ ns.i }}",
    # ---- output and memory explosion
    "str_mul": "{{ 'x' * 1000000000 }}",
    "str_mul_int_max": "{{ 'x' * " + I64_MAX + " }}",
    "str_mul_in_set": "{% set s = 'abc' * 1000000000 %}{{ s | length }}",
    "list_mul": "{{ ([1] * 1000000000) | length }}",
    "list_mul_int_max": "{{ [1, 2] * " + I64_MAX + " }}",
    "doubling_string": "{% set ns = namespace(s='xx') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
    "doubling_list": "{% set ns = namespace(l=[1]) %}{% for i in range(100) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l | length }}",
    "doubling_dict_items": "{% set ns = namespace(l=[messages]) %}{% for i in range(100) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l | tojson | length }}",
    "range_to_list": "{{ range(" + BIG_RANGE + ") | list | length }}",
    "range_join": "{{ range(1000000000) | join(',') }}",
    "nested_loops_output": "{% for i in range(1000000) %}{% for j in range(1000000) %}xxxxxxxxxxxxxxxx{% endfor %}{% endfor %}",
    "replace_explosion": "{{ ('x' * 1000) | replace('x', 'x' * 1000) | replace('x', 'x' * 1000) | length }}",
    "replace_method_explosion": "{{ ('x' * 1000).replace('x', 'y' * 100000) | length }}",
    "tojson_huge_indent": "{{ messages | tojson(indent=1000000000) }}",
    "tojson_doubling": "{% set ns = namespace(v=[1]) %}{% for i in range(60) %}{% set ns.v = [ns.v, ns.v] %}{% endfor %}{{ ns.v | tojson | length }}",
    "join_of_doubling": "{% set ns = namespace(v=['xxxxxxxx']) %}{% for i in range(60) %}{% set ns.v = ns.v + ns.v %}{% endfor %}{{ ns.v | join | length }}",
    "center_huge": "{{ 'x' | center(1000000000) }}",
    "format_huge": "{{ '%1000000000s' | format('x') }}",
    "many_small_outputs": "{% for i in range(" + BIG_RANGE + ") %}{{ i }}{% endfor %}",
    "macro_output_explosion": "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% else %}xxxxxxxx{% endif %}{% endmacro %}{{ f(40) }}",
    # shared sub-values: [v, v] doubled 60 times is 2^60 leaves behind 60 list
    # headers; walking it (print, compare, serialize) must be bounded too
    "dag_print": DAG + "{{ ns.v }}",
    "dag_string": DAG + "{{ ns.v | string | length }}",
    "dag_join": DAG + "{{ ns.v | join | length }}",
    "dag_map_string": DAG + "{{ ns.v | map('string') | list | length }}",
    "dag_tojson_indent": DAG + "{{ ns.v | tojson(indent=2) | length }}",
    "dag_equality": DAG2 + "{{ ns.a == ns.b }}",
    "dag_in": DAG2 + "{{ ns.a in [ns.b] }}",
    "dag_unique": DAG2 + "{{ [ns.a, ns.b] | unique | list | length }}",
    "dag_sort": DAG2 + "{{ [ns.a, ns.b] | sort | length }}",
    "dag_dict_equality": DAG2 + "{{ {'k': ns.a} == {'k': ns.b} }}",
    "dag_max": DAG2 + "{{ [ns.a, ns.b] | max | length }}",
    # ---- CVE-2024-34359 style: reach Python internals, files, the OS
    "str_class_mro": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "str_class_mro_read": "{{ ''.__class__.__mro__[2].__subclasses__()[40]('/etc/passwd').read() }}",
    "list_class_base": "{{ [].__class__.__base__.__subclasses__() }}",
    "tuple_class": "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "messages_class": "{{ messages.__class__.__init__.__globals__ }}",
    "self_globals": "{{ self.__init__.__globals__.__builtins__.__import__('os').popen('id').read() }}",
    "self_context": "{{ self._TemplateReference__context }}",
    "cycler_os": "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "joiner_os": "{{ joiner.__init__.__globals__.os.popen('id').read() }}",
    "lipsum_os": "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "lipsum_builtins": "{{ lipsum.__globals__.__builtins__.open('/etc/passwd').read() }}",
    "namespace_globals": "{{ namespace.__init__.__globals__.os.popen('id').read() }}",
    "namespace_dunder_set": "{% set ns = namespace() %}{% set ns.__class__ = 1 %}{% set ns.__dict__ = 2 %}{{ ns.__class__ }}{{ ns.__dict__ }}",
    "namespace_dunder_init": "{{ namespace(__init__=1, __class__=2).__class__ }}",
    "range_self": "{{ range.__self__ }}{{ range.__class__ }}",
    "raise_exception_globals": "{{ raise_exception.__globals__ }}{{ raise_exception.__code__ }}",
    "strftime_globals": "{{ strftime_now.__globals__['datetime'] }}",
    "request_app": "{{ request.application.__globals__.__builtins__.__import__('os').popen('id').read() }}",
    "config_os": "{{ config.__class__.__init__.__globals__['os'].popen('ls').read() }}",
    "attr_filter": "{{ '' | attr('__class__') | attr('__mro__') }}",
    "attr_filter_escaped": "{{ () | attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "getitem_dunder": "{{ ''['__cla' + 'ss__'] }}{{ messages[0]['__class__'] }}",
    "getitem_globals": "{{ self['__init__']['__globals__'] }}",
    "open_file": "{{ open('/etc/passwd').read() }}",
    "os_system": "{{ os.system('id') }}",
    "dunder_import": "{{ __import__('os').popen('id').read() }}",
    "builtins_names": "{{ getattr('', '__class__') }}{{ eval('1+1') }}{{ exec('x=1') }}{{ compile('1', '', 'eval') }}",
    "mutate_messages": "{% set x = messages.append(1) %}{{ messages.pop() }}{{ messages | length }}",
    "mutate_dict": "{{ messages[0].update({'role': 'x'}) }}{{ messages[0].clear() }}{{ messages[0].setdefault('a', 1) }}",
    "mutate_tools": "{{ tools.clear() }}{{ tools.insert(0, 1) }}{{ tools.extend([1]) }}",
    "str_format_attr": "{{ '{0.__class__}'.format('') }}{{ '{0.__class__.__mro__}'.format(messages) }}",
    "percent_format": "{{ '%s' | format(''.__class__) }}{{ '%s' % ''.__class__ }}",
    "loop_internals": "{% for m in messages %}{{ loop.__class__ }}{{ loop._iterator }}{{ loop.cycle.__globals__ }}{% endfor %}",
    "macro_internals": "{% macro m() %}{% endmacro %}{{ m.__globals__ }}{{ m._func }}{{ m.__code__ }}",
    "dict_global_class": "{{ dict.__class__ }}{{ dict(a=1).__class__.__subclasses__() }}",
    "subclasses_loop": "{% for c in [].__class__.__base__.__subclasses__() %}{% if 'warning' in c.__name__ %}{{ c()._module.__builtins__['__import__']('os').popen('id').read() }}{% endif %}{% endfor %}",
    "env_access": "{{ environ }}{{ env.HOME }}{{ getenv('HOME') }}{{ environment.globals }}",
    "undefined_calls": "{{ foo() }}{{ foo.bar() }}{{ none() }}{{ 1() }}{{ 'x'() }}",
    "string_private_methods": "{{ 'x'._formatter_parser() }}{{ 'x'.__len__() }}{{ 'x'.mro() }}",
    # ---- invalid UTF-8 and odd bytes
    "utf8_invalid_in_string": b"{{ '\xff\xfe' }}",
    "utf8_overlong": b"\xc0\xaf{{ 1 }}\xe0\x80\xaf",
    "utf8_truncated_in_string": b"{{ 'a\xe2\x82' }}",
    "utf8_surrogate": b"{{ '\xed\xa0\x80' | length }}\xed\xbf\xbf",
    "utf8_lone_continuation": b"\x80\x81{{ '\xbf' | upper }}",
    "utf8_truncated_at_end": b"text\xe2",
    "utf8_above_max": b"{{ '\xf4\x90\x80\x80' }}\xf8\x88\x80\x80\x80",
    "utf8_in_tag_name": b"{% \xff %}{{ \xfe }}",
    "utf8_in_identifier": b"{{ m\xc3\xa9ssages }}{% set \xe2\x82\xac = 1 %}",
    "utf8_slicing_invalid": b"{{ '\xff\xfe\xfd'[1:] }}{{ '\xe2\x82'[0] }}{{ '\xff' | list }}",
    "nul_bytes": b"{{ 'a\x00b' }}\x00{% if true %}\x00{% endif %}{{ '\x00' | length }}",
    "nul_in_tag": b"{% if\x00true %}x{% endif %}",
    "control_chars": b"\x1b[31m{{ '\x1b]0;title\x07' }}\x7f",
    "crlf_line_ends": b"{%- if true -%}\r\n  a\r\n{%- endif -%}\r\n",
    "bom": b"\xef\xbb\xbf{{ 'x' }}",
    # ---- numbers out of range
    "int_literal_huge": "{{ 99999999999999999999999999999999999999999 }}",
    "int_max_plus_one": "{{ " + I64_MAX + " + 1 }}",
    "int_min_minus_one": "{{ " + I64_MIN + " - 1 }}",
    "int_min_neg": "{{ -" + I64_MIN + " }}",
    "int_min_floordiv_neg1": "{{ " + I64_MIN + " // -1 }}",
    "int_min_mod_neg1": "{{ " + I64_MIN + " % -1 }}",
    "int_mul_overflow": "{{ " + I64_MAX + " * " + I64_MAX + " }}",
    "int_pow_huge": "{{ 2 ** 100000 }}{{ 10 ** 400 }}",
    "int_pow_negative": "{{ 2 ** -1 }}{{ 0 ** -1 }}",
    "float_overflow": "{{ 1e308 * 10 }}{{ 1e999 }}{{ -1e999 }}",
    "float_to_int_overflow": "{{ 1e308 | int }}{{ (1e999) | int }}{{ -1e300 | int }}",
    "nan_to_int": "{{ ('nan' | float) | int }}{{ ('inf' | float) | int }}",
    "int_filter_huge": "{{ '99999999999999999999' | int }}{{ '-99999999999999999999' | int }}",
    "index_huge": "{{ 'abc'[" + I64_MAX + "] }}{{ 'abc'[" + I64_MIN + "] }}{{ messages[" + BIG_RANGE + "] }}",
    "slice_huge_step": "{{ 'abc'[::" + I64_MAX + "] }}{{ 'abc'[::" + I64_MIN + "] }}{{ messages[" + I64_MIN + ":" + I64_MAX + ":-1] }}",
    "slice_zero_step": "{{ 'abc'[::0] }}",
    "range_zero_step": "{{ range(0, 10, 0) | list }}",
    "range_length_overflow": "{{ range(" + I64_MIN + ", " + I64_MAX + ") | length }}",
    "range_huge_step": "{{ range(0, " + I64_MAX + ", " + I64_MAX + ") | list }}{{ range(" + I64_MAX + ", " + I64_MIN + ", -" + I64_MAX + ") | list }}",
    "loop_index_overflow": "{% for i in range(" + I64_MAX + " - 3, " + I64_MAX + ") %}{{ i + 1 }}{{ loop.revindex }}{% endfor %}",
    "str_mul_negative": "{{ 'x' * -1 }}{{ [1] * " + I64_MIN + " }}",
    "round_huge": "{{ 1e308 | round(400) }}{{ 123 | round(-400) }}",
    "abs_int_min": "{{ " + I64_MIN + " | abs }}",
    "sum_overflow": "{{ [" + I64_MAX + ", 1] | sum }}{{ [1, 2] | sum(start=" + I64_MAX + ") }}",
    "indent_huge": "{{ 'a\\nb\\nc' | indent(1000000000) }}{{ 'a\\nb' | indent(-5) }}{{ 'a\\nb' | indent(" + I64_MIN + ") }}",
    "format_edges": "{{ '%d %x %o %e %c' | format(" + I64_MIN + ", -1, -1, 1e308, 1114112) }}{{ '%.1000000000f' | format(1.0) }}"
                    "{{ '%*d' | format(1000000000, 1) }}{{ '%' | format() }}{{ '%s %s' | format('a') }}{{ '%(a)s' | format(a=1) }}",
    "str_method_edges": "{{ 'abc'.find('b', " + I64_MIN + ", " + I64_MAX + ") }}{{ 'abc'.count('', " + I64_MIN + ") }}"
                        "{{ 'aaa'.replace('', 'x', " + I64_MAX + ") }}{{ 'aaa'.replace('a', 'bb', " + I64_MIN + ") }}"
                        "{{ 'a b'.split(' ', " + I64_MIN + ") }}{{ 'a b'.split(' ', " + I64_MAX + ") }}{{ 'abc'.split('') }}",
    "replace_empty_explosion": "{{ ('x' * 100000) | replace('', 'yyyyyyyy') | length }}",
    "int_base_edges": "{{ '0x1F' | int(base=16) }}{{ '1' | int(base=1) }}{{ 'z' | int(base=37) }}{{ '1' | int(base=" + I64_MIN + ") }}",
    "float_repr": "{{ 1e16 }} {{ 1e-7 }} {{ 0.1 + 0.2 }} {{ -0.0 }} {{ 1e308 * 10 }} {{ (1e308 * 10) - (1e308 * 10) }} {{ 2.5 | round }} {{ 1e22 | int }} {{ 5e-324 }}",
    "loop_cycle": "{% for i in range(3) %}{{ loop.cycle() }}{{ loop.cycle('a', 'b') }}{{ loop.previtem }}{{ loop.nextitem }}{{ loop.depth }}{% endfor %}",
    "global_arg_edges": "{{ dict(1, 2) }}{{ namespace(1) }}{{ range() }}{{ range(1, 2, 3, 4) }}{{ range('a') }}{{ dict(**{'a': 1}) }}",
    "strftime_edges": "{{ strftime_now('%') }}{{ strftime_now('%Q') }}{{ strftime_now('%' * 100000) | length }}{{ strftime_now('%Y' * 100000) | length }}{{ strftime_now(1) }}{{ strftime_now() }}",
    "aggregate_edges": "{{ [] | max }}{{ [] | min }}{{ [] | first }}{{ [] | last }}{{ [1, 'a'] | sort }}{{ [1, 'a'] | max }}{{ [none, 1] | sort }}",
    "map_edges": "{{ [1] | map('nonexistent') | list }}{{ [1] | map() | list }}{{ [1] | map(attribute='x.y.z') | list }}{{ messages | join(',', attribute='role') }}",
    "filter_on_wrong_types": "{{ 'abc' | items }}{{ 1 | list }}{{ none | length }}{{ 1 | first }}{{ 1 | join }}{{ 1 | trim }}{{ {} | reverse }}",
    # ---- division by zero
    "div_zero": "{{ 1 / 0 }}",
    "floordiv_zero": "{{ 1 // 0 }}",
    "mod_zero": "{{ 1 % 0 }}",
    "float_div_zero": "{{ 1.0 / 0.0 }}",
    "float_floordiv_zero": "{{ 1.0 // 0 }}",
    "float_mod_zero": "{{ 1 % 0.0 }}",
    "divisibleby_zero": "{{ 4 is divisibleby 0 }}",
    "div_zero_in_loop": "{% for i in range(3) %}{{ 1 // (i - 1) }}{% endfor %}",
}


def write(folder, items, ext=".jinja"):
    path = HERE / folder
    if path.exists():
        shutil.rmtree(path)
    path.mkdir()
    for name, text in items.items():
        data = text if isinstance(text, bytes) else text.encode("utf-8")
        (path / f"{name}{ext}").write_bytes(data)
    return len(items)


if __name__ == "__main__":
    n_seed = write("seed", SEED)
    n_bad = write("bad", BAD)
    print(f"wrote {n_seed} seed and {n_bad} bad templates under {HERE}")
