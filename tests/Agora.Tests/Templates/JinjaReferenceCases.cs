namespace Agora.Tests.Templates;

/// <summary>
/// Small templates with the output (or error) Jinja2 3.1.6 gives in transformers' environment
/// (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, transformers' tojson and raise_exception),
/// rendered with <c>vars</c>. Generated once with the real Jinja2; errors read "Type: message".
/// </summary>
static class JinjaReferenceCases
{
    public const string Json = """
{
 "vars": {
  "msgs": [
   {
    "role": "system",
    "content": "  Be brief.  "
   },
   {
    "role": "user",
    "content": "Hi"
   },
   {
    "role": "assistant",
    "content": "Yo",
    "tool_calls": [
     {
      "function": {
       "name": "f",
       "arguments": {
        "a": 1,
        "b": [
         true,
         null,
         2.5
        ]
       }
      }
     }
    ]
   }
  ],
  "d": {
   "b": 2,
   "a": 1,
   "C": 3
  },
  "s": "Hello World",
  "n": 7,
  "f": 2.5,
  "l": [
   3,
   1,
   2
  ],
  "e": [],
  "none": null,
  "t": true,
  "words": [
   "b",
   "A",
   "c",
   "a"
  ],
  "uni": "héllo ✓ 😀",
  "nested": {
   "x": {
    "y": [
     10,
     20,
     30
    ]
   }
  }
 },
 "cases": [
  {
   "template": "{{ 'a\\tb\\n' ~ \"q\\\"\" ~ '\\x41\\u00e9' }}",
   "text": "a\tb\nq\"Aé"
  },
  {
   "template": "{{ 1 }}|{{ 1.0 }}|{{ 1e20 }}|{{ 0.0001 }}|{{ 1e-5 }}|{{ 1.5e300 }}|{{ -0.0 }}",
   "text": "1|1.0|1e+20|0.0001|1e-05|1.5e+300|-0.0"
  },
  {
   "template": "{{ True }}{{ false }}{{ None }}{{ none }}",
   "text": "TrueFalseNoneNone"
  },
  {
   "template": "{{ [1, 'a', none, true, 2.5] }}",
   "text": "[1, 'a', None, True, 2.5]"
  },
  {
   "template": "{{ {'a': 1, 'b': [1, 2]} }}",
   "text": "{'a': 1, 'b': [1, 2]}"
  },
  {
   "template": "{{ (1,) }}{{ (1, 2) }}{{ () }}",
   "text": "(1,)(1, 2)()"
  },
  {
   "template": "{{ \"it's\" }}|{{ ['it\\'s', 'a\"b', 'a\\'b\"c'] }}",
   "text": "it's|[\"it's\", 'a\"b', 'a\\'b\"c']"
  },
  {
   "template": "{{ 1_000 }} {{ 0x1F }} {{ 0b101 }} {{ 0o17 }} {{ 1_0.5 }}",
   "text": "1000 31 5 15 10.5"
  },
  {
   "template": "{{ 'a' 'b' }}",
   "text": "ab"
  },
  {
   "template": "{{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 2 ** 3 ** 2 }}",
   "text": "3.5 3 -4 1 2 1024 0.5 64"
  },
  {
   "template": "{{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 1 + 2.0 }} {{ 3 * 1.5 }} {{ 0.1 + 0.2 }}",
   "text": "3.0 0.5 3.0 4.5 0.30000000000000004"
  },
  {
   "template": "{{ 'ab' * 3 }}{{ 2 * 'x' }}{{ [1] * 3 }}{{ 'a' * -1 }}",
   "text": "abababxx[1, 1, 1]"
  },
  {
   "template": "{{ -n }} {{ +n }} {{ - 2 ** 2 }} {{ not 0 }} {{ True + 1 }}",
   "text": "-7 7 4 True 2"
  },
  {
   "template": "{{ 1 ~ 2 ~ none ~ undefined_var }}",
   "text": "12None"
  },
  {
   "template": "{{ 1 / 0 }}",
   "error": "ZeroDivisionError: division by zero"
  },
  {
   "template": "{{ 1 // 0 }}",
   "error": "ZeroDivisionError: integer division or modulo by zero"
  },
  {
   "template": "{{ 'a' + 1 }}",
   "error": "TypeError: can only concatenate str (not \"int\") to str"
  },
  {
   "template": "{{ 1 + 'a' }}",
   "error": "TypeError: unsupported operand type(s) for +: 'int' and 'str'"
  },
  {
   "template": "{{ [1] + (2,) }}",
   "error": "TypeError: can only concatenate list (not \"tuple\") to list"
  },
  {
   "template": "{{ 'a' - 'b' }}",
   "error": "TypeError: unsupported operand type(s) for -: 'str' and 'str'"
  },
  {
   "template": "{{ 'a' * 1.5 }}",
   "error": "TypeError: can't multiply sequence by non-int of type 'float'"
  },
  {
   "template": "{{ -'a' }}",
   "error": "TypeError: bad operand type for unary -: 'str'"
  },
  {
   "template": "{{ '%s-%d-%05.2f-%x-%r' % ('a', 3, 3.14159, 255, 'q') }}",
   "text": "a-3-03.14-ff-'q'"
  },
  {
   "template": "{{ '%(a)s=%(b)s' % {'a': 1, 'b': 2} }}",
   "text": "1=2"
  },
  {
   "template": "{{ '%s' % 1 }}",
   "text": "1"
  },
  {
   "template": "{{ '%d' % 'x' }}",
   "error": "TypeError: %d format: a real number is required, not str"
  },
  {
   "template": "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 != 2 }} {{ none == none }} {{ 1 == '1' }}",
   "text": "True False True True True True True False"
  },
  {
   "template": "{{ 'a' in 'cat' }} {{ 2 in l }} {{ 'a' in d }} {{ 'z' not in d }} {{ 1 in e }} {{ (1, 2) in [(1, 2)] }}",
   "text": "True True True True False True"
  },
  {
   "template": "{{ 1 < 'a' }}",
   "error": "TypeError: '<' not supported between instances of 'int' and 'str'"
  },
  {
   "template": "{{ 1 in 'abc' }}",
   "error": "TypeError: 'in <string>' requires string as left operand, not int"
  },
  {
   "template": "{{ 'x' in 5 }}",
   "error": "TypeError: argument of type 'int' is not iterable"
  },
  {
   "template": "{{ 'a' and 'b' }}|{{ '' and 'b' }}|{{ '' or 0 }}|{{ 'x' or 'y' }}|{{ none or [] }}",
   "text": "b||0|x|[]"
  },
  {
   "template": "{{ 'y' if t else 'n' }}{{ 'y' if none else 'n' }}|{{ 'y' if none }}|{{ 'y' if t }}",
   "text": "yn||y"
  },
  {
   "template": "{{ undefined_var == undefined_other }} {{ undefined_var is none }} {{ none is none }} {{ d is mapping }} {{ l is sequence }} {{ s is iterable }} {{ n is iterable }}",
   "text": "True False True True True True False"
  },
  {
   "template": "{{ msgs[0].role }} {{ msgs[-1]['content'] }} {{ nested.x.y[1] }} {{ nested['x']['y'][-1] }} {{ l.0 }} {{ d.b }}",
   "text": "system Yo 20 30 3 2"
  },
  {
   "template": "{{ msgs[5] }}|{{ d.zz }}|{{ none.x }}|{{ s.nope }}",
   "text": "|||"
  },
  {
   "template": "{{ d.zz.yy }}",
   "error": "UndefinedError: 'dict object' has no attribute 'zz'"
  },
  {
   "template": "{{ undefined_var.x }}",
   "error": "UndefinedError: 'undefined_var' is undefined"
  },
  {
   "template": "{{ undefined_var[0] }}",
   "error": "UndefinedError: 'undefined_var' is undefined"
  },
  {
   "template": "{{ l[10].x }}",
   "error": "UndefinedError: list object has no element 10"
  },
  {
   "template": "{{ none.a.b }}",
   "error": "UndefinedError: 'None' has no attribute 'a'"
  },
  {
   "template": "{{ l[1:] }} {{ l[:-1] }} {{ l[::-1] }} {{ s[::2] }} {{ s[-5:] }} {{ l[::2] }} {{ s[1:100] }} {{ l[5:] }} {{ s[-100:2] }} {{ l[2:0:-1] }}",
   "text": "[1, 2] [3, 1] [2, 1, 3] HloWrd World [3, 2] ello World [] He [2, 1]"
  },
  {
   "template": "{{ l[::0] }}",
   "error": "ValueError: slice step cannot be zero"
  },
  {
   "template": "{{ uni[1] }}{{ uni[-1] }}{{ uni|length }}{{ uni[::-1] }}",
   "text": "é😀9😀 ✓ olléh"
  },
  {
   "template": "{{ msgs[0]['nope'] is defined }} {{ msgs[0].role is defined }} {{ zz is undefined }}",
   "text": "False True True"
  },
  {
   "template": "{{ s.upper() }} {{ s.lower() }} {{ s.startswith('He') }} {{ s.endswith(('x', 'ld')) }} {{ s.split() }} {{ 'a,b,,c'.split(',') }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }}",
   "text": "HELLO WORLD hello world True True ['Hello', 'World'] ['a', 'b', '', 'c'] ['a', 'b,c'] ['a,b', 'c']"
  },
  {
   "template": "{{ '  x  '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ '\\n\\nhi\\n'.lstrip('\\n') }}|{{ 'hi  '.rstrip() }}|{{ '  a b  c '.split() }}|{{ ' a  b '.split(' ') }}|{{ ' a b c '.split(none, 1) }}|{{ ' a b c '.rsplit(none, 1) }}",
   "text": "x|hi|hi\n|hi|['a', 'b', 'c']|['', 'a', '', 'b', '']|['a', 'b c ']|[' a b', 'c']"
  },
  {
   "template": "{{ s.replace('o', '0') }} {{ s.replace('o', '0', 1) }} {{ s.find('o') }} {{ s.rfind('o') }} {{ s.find('z') }} {{ s.count('o') }} {{ s.index('W') }} {{ '-'.join(['a', 'b']) }}",
   "text": "Hell0 W0rld Hell0 World 4 7 -1 2 6 a-b"
  },
  {
   "template": "{{ s.index('z') }}",
   "error": "ValueError: substring not found"
  },
  {
   "template": "{{ 'a\\nb\\r\\nc'.splitlines() }} {{ s.title() }} {{ 'hELLO wORLD'.capitalize() }} {{ '12'.isdigit() }} {{ 'ab'.isalpha() }} {{ ' '.isspace() }} {{ 'Ab'.isupper() }} {{ 'ab'.islower() }}",
   "text": "['a', 'b', 'c'] Hello World Hello world True True True False True"
  },
  {
   "template": "{{ '{} and {}'.format(1, 'x') }} {{ '{0}{1}{0}'.format('a', 'b') }} {{ '{name}!'.format(name='Bo') }} {{ '{:>5}|{:<5}|{:^5}|{:05.1f}|{:,}'.format('a', 'b', 'c', 3.14159, 1234567) }}",
   "text": "1 and x aba Bo!     a|b    |  c  |003.1|1,234,567"
  },
  {
   "template": "{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 9) }} {{ d.keys() | list }} {{ d.values() | list }} {{ d.items() | list }} {{ l.index(2) }} {{ l.count(3) }}",
   "text": "1 None 9 ['b', 'a', 'C'] [2, 1, 3] [('b', 2), ('a', 1), ('C', 3)] 2 1"
  },
  {
   "template": "{{ l.append(4) }}",
   "error": "SecurityError: access to attribute 'append' of 'list' object is unsafe."
  },
  {
   "template": "{{ d.update({'x': 1}) }}",
   "error": "SecurityError: access to attribute 'update' of 'dict' object is unsafe."
  },
  {
   "template": "{{ d.pop('a') }}",
   "error": "SecurityError: access to attribute 'pop' of 'dict' object is unsafe."
  },
  {
   "template": "{{ s.__class__ }}",
   "text": ""
  },
  {
   "template": "{{ s.zfill(15) }} {{ s.center(15, '*') }} {{ s.ljust(13, '.') }} {{ s.partition(' ') }}",
   "text": "0000Hello World **Hello World** Hello World.. ('Hello', ' ', 'World')"
  },
  {
   "template": "{{ '  hi  ' | trim }}|{{ 'xxhixx' | trim('x') }}|{{ l | length }}|{{ s | count }}|{{ d | length }}|{{ undefined_var | length }}",
   "text": "hi|hi|3|11|3|0"
  },
  {
   "template": "{{ l | join(',') }}|{{ l | join }}|{{ msgs | map(attribute='role') | join('/') }}|{{ words | map('upper') | list }}|{{ msgs | join(',', attribute='role') }}",
   "text": "3,1,2|312|system/user/assistant|['B', 'A', 'C', 'A']|system,user,assistant"
  },
  {
   "template": "{{ msgs | selectattr('role', 'equalto', 'user') | map(attribute='content') | list }}|{{ msgs | rejectattr('tool_calls', 'defined') | list | length }}|{{ [0, 1, '', 'a', none] | select | list }}|{{ l | reject('odd') | list }}|{{ l | select('gt', 1) | list }}",
   "text": "['Hi']|2|[1, 'a']|[2]|[3, 2]"
  },
  {
   "template": "{{ zz | default('dflt') }}|{{ '' | default('dflt') }}|{{ '' | default('dflt', true) }}|{{ none | d('x') }}|{{ none | d('x', boolean=true) }}",
   "text": "dflt||dflt|None|x"
  },
  {
   "template": "{{ d | items | list }}|{{ d | dictsort }}|{{ d | dictsort(by='value', reverse=true) }}|{{ d | dictsort(true) }}|{{ s | list }}|{{ d | list }}",
   "text": "[('b', 2), ('a', 1), ('C', 3)]|[('a', 1), ('b', 2), ('C', 3)]|[('C', 3), ('b', 2), ('a', 1)]|[('C', 3), ('a', 1), ('b', 2)]|['H', 'e', 'l', 'l', 'o', ' ', 'W', 'o', 'r', 'l', 'd']|['b', 'a', 'C']"
  },
  {
   "template": "{{ l | first }}|{{ l | last }}|{{ e | first }}|{{ s | first }}|{{ s | upper }}|{{ s | lower }}|{{ 'hELLO' | capitalize }}|{{ 'hello big-world (x) o\\'neil' | title }}",
   "text": "3|2||H|HELLO WORLD|hello world|Hello|Hello Big-World (X) O'neil"
  },
  {
   "template": "{{ s | replace('l', 'L') }}|{{ s | replace('l', 'L', 2) }}|{{ 42 | string }}|{{ [1] | string }}|{{ none | string }}",
   "text": "HeLLo WorLd|HeLLo World|42|[1]|None"
  },
  {
   "template": "{{ '42' | int }}|{{ '4.7' | int }}|{{ 'x' | int }}|{{ 'x' | int(7) }}|{{ '0x1A' | int(0, 16) }}|{{ 4.9 | int }}|{{ '3.5' | float }}|{{ 'z' | float }}|{{ 3 | float }}|{{ -3 | abs }}|{{ -2.5 | abs }}",
   "text": "42|4|0|7|26|4|3.5|0.0|3.0|3|2.5"
  },
  {
   "template": "{{ 2.5 | round }}|{{ 3.5 | round }}|{{ 2.675 | round(2) }}|{{ 2.1 | round(0, 'ceil') }}|{{ 2.9 | round(method='floor') }}|{{ 5 | round }}",
   "text": "2.0|4.0|2.67|3.0|2.0|5"
  },
  {
   "template": "{{ words | unique | list }}|{{ words | unique(true) | list }}|{{ words | sort }}|{{ words | sort(case_sensitive=true) }}|{{ words | sort(reverse=true) }}|{{ msgs | sort(attribute='role') | map(attribute='role') | list }}",
   "text": "['b', 'A', 'c']|['b', 'A', 'c', 'a']|['A', 'a', 'b', 'c']|['A', 'a', 'b', 'c']|['c', 'b', 'A', 'a']|['assistant', 'system', 'user']"
  },
  {
   "template": "{{ l | reverse | list }}|{{ s | reverse }}|{{ l | sum }}|{{ [1.5, 2] | sum }}|{{ msgs | map(attribute='content') | map('length') | sum }}|{{ l | min }}|{{ l | max }}|{{ words | max }}|{{ words | min(case_sensitive=true) }}|{{ e | max }}",
   "text": "[2, 1, 3]|dlroW olleH|6|3.5|17|1|3|c|A|"
  },
  {
   "template": "{{ 'a\\nb\\n\\nc' | indent }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(2, blank=true) }}|{{ 'a\\nb' | indent('>') }}",
   "text": "a\n    b\n\n    c|  a\n  b|a\n  \n  b|a\n>b"
  },
  {
   "template": "{{ 'one two  three' | wordcount }}|{{ [1, 2, 3, 4, 5] | batch(2) | list }}|{{ [1, 2, 3] | batch(2, 'x') | list }}|{{ 'ab' | center(6) }}|{{ 'abc' | center(6) }}|{{ '<a href=\"x\">&</a>' | e }}|{{ '<b>' | safe }}",
   "text": "3|[[1, 2], [3, 4], [5]]|[[1, 2], [3, 'x']]|  ab  | abc  |&lt;a href=&#34;x&#34;&gt;&amp;&lt;/a&gt;|<b>"
  },
  {
   "template": "{{ msgs[2].tool_calls[0].function.arguments | tojson }}|{{ d | tojson(indent=2) }}|{{ d | tojson(sort_keys=true) }}|{{ uni | tojson }}|{{ uni | tojson(true) }}|{{ [1, 2] | tojson(separators=(',', ':')) }}|{{ '\\u0001\\t\"\\\\' | tojson }}|{{ e | tojson(indent=2) }}|{{ {} | tojson }}|{{ 1.0 | tojson }}|{{ (1, 2) | tojson }}",
   "text": "{\"a\": 1, \"b\": [true, null, 2.5]}|{\n  \"b\": 2,\n  \"a\": 1,\n  \"C\": 3\n}|{\"C\": 3, \"a\": 1, \"b\": 2}|\"héllo ✓ 😀\"|\"h\\u00e9llo \\u2713 \\ud83d\\ude00\"|[1,2]|\"\\u0001\\t\\\"\\\\\"|[]|{}|1.0|[1, 2]"
  },
  {
   "template": "{{ zz | tojson }}",
   "error": "TypeError: Object of type Undefined is not JSON serializable"
  },
  {
   "template": "{{ {1: 'a', none: 'b', true: 'c', 2.5: 'd'} | tojson }}",
   "text": "{\"1\": \"c\", \"null\": \"b\", \"2.5\": \"d\"}"
  },
  {
   "template": "{{ '<b>' | safe + '<i>' }}|{{ '<i>' + '<b>' | safe }}|{{ '<b>' | safe ~ '<i>' }}|{{ ('<b>' | safe + '\\'') | length }}",
   "text": "<b>&lt;i&gt;|&lt;i&gt;<b>|<b><i>|8"
  },
  {
   "template": "{{ n is number }}{{ f is float }}{{ n is integer }}{{ t is integer }}{{ t is boolean }}{{ s is string }}{{ none is none }}{{ l is iterable }}{{ d is mapping }}{{ n is even }}{{ n is odd }}{{ 9 is divisibleby 3 }}{{ t is true }}{{ false is false }}{{ t is number }}",
   "text": "TrueTrueTrueFalseTrueTrueTrueTrueTrueFalseTrueTrueTrueTrueTrue"
  },
  {
   "template": "{{ 'a' is in 'abc' }}{{ 3 is in l }}{{ n is eq 7 }}{{ n is ne 7 }}{{ n is lt 8 }}{{ n is ge 7 }}{{ n is gt(1) }}{{ n is le 6 }}{{ raise_exception is callable }}{{ 'ab' is lower }}{{ 'AB' is upper }}{{ none is sameas none }}{{ n is not string }}{{ 1 is sameas 1.0 }}",
   "text": "TrueTrueTrueFalseTrueTrueTrueFalseTrueTrueTrueTrueTrueFalse"
  },
  {
   "template": "{% for m in msgs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.previtem.role if loop.previtem is defined else '-' }}{{ loop.nextitem.role if loop.nextitem else '-' }}{{ loop.cycle('a', 'b') }} {% endfor %}",
   "text": "1032TrueFalse3-usera 2121FalseFalse3systemassistantb 3210FalseTrue3user-a "
  },
  {
   "template": "{% for x in e %}{{ x }}{% else %}empty{% endfor %}|{% for x in l if x > 1 %}{{ loop.index }}:{{ x }},{% endfor %}|{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{% for a, b in [(1, 2), (3, 4)] %}{{ a + b }}{% endfor %}",
   "text": "empty|1:3,2:2,|b=2;a=1;C=3;|37"
  },
  {
   "template": "{% for x in l %}{% if x == 1 %}{% continue %}{% endif %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}|{% for c in 'abc' %}{{ c }}{% endfor %}|{% for k in d %}{{ k }}{% endfor %}",
   "text": "3|abc|baC"
  },
  {
   "template": "{% for x in none %}{{ x }}{% endfor %}",
   "error": "TypeError: 'NoneType' object is not iterable"
  },
  {
   "template": "{% for x in 5 %}{% endfor %}",
   "error": "TypeError: 'int' object is not iterable"
  },
  {
   "template": "{% for a, b in [(1, 2, 3)] %}{% endfor %}",
   "error": "ValueError: too many values to unpack (expected 2)"
  },
  {
   "template": "{% for a, b in [(1,)] %}{% endfor %}",
   "error": "ValueError: not enough values to unpack (expected 2, got 1)"
  },
  {
   "template": "{% for x in undefined_var %}{{ x }}{% else %}none{% endfor %}",
   "text": "none"
  },
  {
   "template": "{% set x = 1 %}{% for i in l %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}",
   "text": "4231"
  },
  {
   "template": "{% set ns = namespace(total=0, items=[]) %}{% for i in l %}{% set ns.total = ns.total + i %}{% set ns.items = ns.items + [i] %}{% endfor %}{{ ns.total }}{{ ns.items }}{{ ns.missing }}",
   "text": "6[3, 1, 2]"
  },
  {
   "template": "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c = (3, 4) %}{{ c }}{% set x %}block {{ a }}{% endset %}[{{ x }}]{% set y | upper %}up{% endset %}{{ y }}",
   "text": "12(3, 4)[block 1]UP"
  },
  {
   "template": "{% set d2 = {'k': 1} %}{% set d2.k = 2 %}",
   "error": "TemplateRuntimeError: cannot assign attribute on non-namespace object"
  },
  {
   "template": "{% if n > 5 %}big{% elif n > 2 %}mid{% else %}small{% endif %}{% if none %}x{% elif 0 %}y{% endif %}{% if e %}a{% else %}b{% endif %}",
   "text": "bigb"
  },
  {
   "template": "{% macro greet(name, greeting='Hello', punct='!') %}{{ greeting }}, {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', 'Hi') }} {{ greet('Cy', punct='?') }} {{ greet() }}",
   "text": "Hello, Ann! Hi, Bob! Hello, Cy? Hello, !"
  },
  {
   "template": "{% macro m() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, x=3) }}",
   "text": "(1, 2){'x': 3}"
  },
  {
   "template": "{% macro wrap() %}[{{ caller() }}]{% endmacro %}{% call wrap() %}inner {{ n }}{% endcall %}",
   "text": "[inner 7]"
  },
  {
   "template": "{% macro f(x) %}{{ x }}{% endmacro %}{{ f(1, x=2) }}",
   "error": "TypeError: macro 'f' takes no keyword argument 'x'"
  },
  {
   "template": "{% macro rec(k) %}{{ k }}{% if k > 0 %}{{ rec(k - 1) }}{% endif %}{% endmacro %}{{ rec(5) }}",
   "text": "543210"
  },
  {
   "template": "{% filter upper %}shout {{ s }}{% endfilter %}|{% filter trim | replace('a', 'b') %}  aaa  {% endfilter %}",
   "text": "SHOUT HELLO WORLD|bbb"
  },
  {
   "template": "{% with q = 5, r = 6 %}{{ q * r }}{% endwith %}{{ q }}",
   "text": "30"
  },
  {
   "template": "{% raw %}{{ not rendered }}{% endraw %}",
   "text": "{{ not rendered }}"
  },
  {
   "template": "{{ raise_exception('Boom ' ~ n) }}",
   "error": "TemplateError: Boom 7"
  },
  {
   "template": "{{ range(3) | list }}{{ range(1, 10, 3) | list }}{{ range(5, 0, -2) | list }}{{ dict(a=1, b=2) }}",
   "text": "[0, 1, 2][1, 4, 7][5, 3, 1]{'a': 1, 'b': 2}"
  },
  {
   "template": "{{ range(1000000) | length }}",
   "error": "OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000)."
  },
  {
   "template": "{{ zz + 1 }}",
   "error": "UndefinedError: 'zz' is undefined"
  },
  {
   "template": "{{ zz() }}",
   "error": "UndefinedError: 'zz' is undefined"
  },
  {
   "template": "{{ s() }}",
   "error": "TypeError: 'str' object is not callable"
  },
  {
   "template": "{{ n.x.y }}",
   "error": "UndefinedError: 'int object' has no attribute 'x'"
  },
  {
   "template": "{{ loop }}",
   "text": ""
  },
  {
   "template": "{% for x in l %}{{ loop.changed(x > 1) }}{% endfor %}",
   "text": "TrueTrueTrue"
  },
  {
   "template": "A\n{% if t %}\n  B\n{% endif %}\nC\n",
   "text": "A\n  B\nC"
  },
  {
   "template": "A\n  {% if t %}\n  B\n  {% endif %}\nC",
   "text": "A\n  B\nC"
  },
  {
   "template": "A  {%- if t -%}  B  {%- endif -%}  C",
   "text": "ABC"
  },
  {
   "template": "A\n  {%+ if t %}B{% endif %}\n",
   "text": "A\n  B"
  },
  {
   "template": "A\n  {{ n }}\n  {# c #}\nB",
   "text": "A\n  7\nB"
  },
  {
   "template": "{# comment #}\nX\n  {#- c -#}  Y",
   "text": "XY"
  },
  {
   "template": "  {% for i in l %}\n    {{ i }}\n  {% endfor %}\n",
   "text": "    3\n    1\n    2\n"
  },
  {
   "template": "a {{- ' b ' -}} c",
   "text": "a b c"
  },
  {
   "template": "x\n{%- set q = 1 %}\ny\n{% set w = 2 -%}\n  z",
   "text": "xy\nz"
  },
  {
   "template": "a\r\nb\r{{ n }}\n\n",
   "text": "a\nb\n7\n"
  },
  {
   "template": "tab\t{% if t %}\tT{% endif %}\n  {% if t %}x{% endif %}y",
   "text": "tab\t\tTxy"
  },
  {
   "template": "{% if t %}a{% endif +%}\nb",
   "text": "a\nb"
  },
  {
   "template": "line1\n    {%- if t %}\n    yes\n    {%- endif %}\nline2",
   "text": "line1    yesline2"
  },
  {
   "template": "{{ {'a': {'b': 1}} }}",
   "text": "{'a': {'b': 1}}"
  },
  {
   "template": "{{ {'a': 1}['a'] }}",
   "text": "1"
  },
  {
   "template": " {% raw -%}  keep {{ x }}  {%- endraw %} ",
   "text": "keep {{ x }} "
  }
 ]
}
""";
}
