#!/usr/bin/env python3
"""
make_corpus.py — writes the tokenizer fuzz corpus (inputs of
tests/fuzz/fuzz_tokenizer.c, whose header documents the input format).

  seed/  texts for the real SmolLM2 and Gemma 3 vocabularies, and a few
         well-formed crafted vocabularies: starting points for the fuzzer.
  bad/   known-bad inputs, one hazard each, listed in bad/MANIFEST.tsv
         (file <TAB> hazard <TAB> class / CVE). Nothing is expected of them
         but that the tokenizer refuses the vocabulary cleanly or tokenizes
         and detokenizes it keeping every promise; ctest replays them under
         the sanitizers (fuzz_tokenizer_corpus).

The files are tracked in git; this script regenerates them deterministically
with Python's standard library only: `python3 tests/corpus/tokenizer/make_corpus.py`.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# fuzz_tokenizer.c's PRES list (index -> name).
PRES = ["default", "gpt-2", "llama3", "llama-bpe", "qwen2", "deepseek-r1-qwen", "smollm",
        "deepseek-llm", "deepseek-v3", "", "unknown-pre"]
NO_KEY = 0xFFFF

# token types (tokenizer.ggml.token_type)
NORMAL, UNKNOWN, CONTROL, USER, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
# score codes with a fixed meaning in fuzz_tokenizer.c
NAN, INF, NINF = 0, 1, 2


def score(x):
    """Score code for x/4 (x in -128..127, codes 0..6 are special values)."""
    code = x & 0xFF
    assert code > 6, "that code means a special value"
    return code


def GPT2(text):
    """A text through GPT-2's byte-to-unicode map, as BPE vocabularies store it."""
    keep = set(range(0x21, 0x7F)) | set(range(0xA1, 0xAD)) | set(range(0xAE, 0x100))
    table, n = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + n)
            n += 1
    return "".join(table[b] for b in text.encode()).encode()


# ---------------------------------------------------------------- inputs

def fixed(which, text):
    """Text for a real vocabulary: 0 SmolLM2 (BPE), 1 Gemma 3 (SPM)."""
    return bytes([which << 1]) + (text.encode() if isinstance(text, str) else text)


def crafted(tokens, text=b"", spm=False, pre=6, add_bos=False, add_eos=False,
            space_prefix=None, no_types=False, no_scores=False, bos=NO_KEY, eos=NO_KEY,
            unk=NO_KEY, eot=NO_KEY, pad=NO_KEY, merges=(), raw_pre=None):
    """A crafted vocabulary. tokens: (text bytes | ("huge", length, pattern2), type, score code).
    merges: (a, b) token index pairs, or raw bytes."""
    out = bytearray([1])
    flags = (2 if spm else 0) | (4 if add_bos else 0) | (8 if add_eos else 0)
    if space_prefix is not None:
        flags |= 0x10 | (0x20 if space_prefix else 0)
    flags |= (0x40 if no_types else 0) | (0x80 if no_scores else 0)
    out.append(flags)
    if raw_pre is not None:
        out += bytes([len(PRES)]) + bytes([len(raw_pre)]) + raw_pre
    else:
        out.append(0xFF if pre is None else pre)
    assert len(tokens) < 256
    out.append(len(tokens))
    for sid in (bos, eos, unk, eot, pad):
        out += struct.pack("<H", sid)
    for text_, ttype, sc in tokens:
        if isinstance(text_, tuple):
            _, length, pattern = text_
            out += bytes([0xF0]) + struct.pack("<H", length) + pattern
        else:
            assert len(text_) < 0xF0
            out += bytes([len(text_)]) + text_
        out += struct.pack("<b", ttype) + bytes([sc])
    out.append(len(merges))
    for m in merges:
        if isinstance(m, bytes):
            out += bytes([0xFF, len(m)]) + m
        else:
            out += bytes(m)
    return bytes(out) + text


def byte_tokens():
    return [(b"<0x%02X>" % b, BYTE, 7) for b in range(256)]


def spm_base(byte_range=range(0x10, 0x100)):
    """<unk> <s> </s>, byte tokens (240 by default: room is left for others), '▁'."""
    toks = [(b"<unk>", UNKNOWN, 7), (b"<s>", CONTROL, 7), (b"</s>", CONTROL, 7)]
    toks += [(b"<0x%02X>" % b, BYTE, 7) for b in byte_range]
    toks.append(("\u2581".encode(), NORMAL, score(-4)))
    return toks


def bpe_chars(chars):
    return [(GPT2(c), NORMAL, 7) for c in chars]


# ------------------------------------------------------------------ seeds

def seeds():
    s = {}
    texts = {
        "english": "The quick brown fox jumps over the lazy dog. It's 3.14!",
        "code": "def f(x):\n    return x ** 2  # square\n\tprint(f(3))\n",
        "chinese": "人工智能正在改变世界。你好，世界！",
        "emoji": "👩‍💻 🇺🇸🇯🇵 👍🏽 ❤️ 😀😃",
        "special": "<|im_start|>user\nHi<|im_end|>\n<start_of_turn>model\n<bos></s>",
        "spaces": "a  b   c\t\td\n\n\ne    ",
        "mixed": "Hello 世界 мир 🌍 مرحبا こんにちは 123456789",
    }
    for name, text in texts.items():
        s[f"fixed_smollm2_{name}"] = fixed(0, text)
        s[f"fixed_gemma3_{name}"] = fixed(1, text)
    s["fixed_gemma3_invalid_utf8"] = fixed(1, b"hello\xffworld \xe4\xb8 \xf0\x9f\x98 \xc0\xaf")
    s["fixed_smollm2_invalid_utf8"] = fixed(0, b"hello\xffworld \xe4\xb8 \xf0\x9f\x98 \xc0\xaf")

    spm = spm_base() + [(t.encode(), NORMAL, score(-8 - i)) for i, t in
                        enumerate(["a", "b", "ab", "\u2581a", "\u2581ab", "ba"])]
    spm.append((b"<tool>", USER, 7))
    s["crafted_spm"] = crafted(spm, b"ab ba abab <tool> \xe4\xb8\xad", spm=True, add_bos=True,
                               space_prefix=True, bos=1, eos=2, unk=0)
    bpe = [(b"<|endoftext|>", CONTROL, 7)] + bpe_chars(" abc'.,?!") + [(GPT2(" a"), NORMAL, 7)]
    s["crafted_bpe_gpt2"] = crafted(bpe, b"a b c 'a , ? !", pre=1, bos=0, eos=0,
                                    merges=[(1, 2)])
    s["crafted_bpe_llama3"] = crafted(bpe, b"a b c 'a , ? !", pre=2, add_bos=True, bos=0, eos=0,
                                      merges=[(1, 2)])
    return s


# -------------------------------------------------------------------- bad

def bad_inputs():
    """(name, input, hazard, class)."""
    b = []

    def add(name, data, hazard, cls):
        b.append((name, data, hazard, cls))

    # CVE-2025-49847: a token text / piece longer than a fixed buffer
    add("huge_token_bpe_unk_bytes",
        crafted([(b"<|endoftext|>", CONTROL, 7), (("huge", 16384, "Ж".encode()), NORMAL, 7)]
                + bpe_chars("ab"), b"ab", pre=6, bos=0, eos=0),
        "16 KiB BPE token of code points outside the byte table: its piece expands "
        "quadratically ([UNK_BYTE_0x..] + text per code point)", "CVE-2025-49847")
    add("huge_piece_clean_spaces",
        crafted([(b"<|endoftext|>", CONTROL, 7), (("huge", 512, "Ж".encode()), NORMAL, 7)]
                + bpe_chars(" ab'.") + [(("huge", 2048, GPT2(" ")), NORMAL, 7)], b"a b ' . b",
                pre=1, bos=0, eos=0),
        "a 512-byte BPE token whose piece is 135 KB ([UNK_BYTE..] + text, 256 times) and a run "
        "of 1024 spaces, streamed through the gpt-2 clean-up (a fuzzer timeout before the "
        "clean-up copied runs without spaces in bulk)", "CVE-2025-49847")
    add("huge_token_bpe_piece",
        crafted([(b"<|endoftext|>", CONTROL, 7), (("huge", 16384, GPT2("\n")), NORMAL, 7)]
                + bpe_chars("ab"), b"ab", pre=6, bos=0, eos=0),
        "16 KiB BPE token whose piece is 8 KiB of newlines", "CVE-2025-49847")
    add("huge_token_spm",
        crafted(spm_base() + [(("huge", 16384, b"ab"), NORMAL, score(-8)),
                              (b"a", NORMAL, score(-9)), (b"b", NORMAL, score(-10))],
                b"ab" * 600, spm=True, space_prefix=False, bos=1, eos=2, unk=0),
        "16 KiB SPM token; text of its prefix", "CVE-2025-49847")
    add("huge_user_defined",
        crafted(spm_base() + [(("huge", 16000, b"<u"), USER, 7)], b"<u" * 8000 + b"x",
                spm=True, bos=1, eos=2, unk=0),
        "16 KB user-defined token matched whole in the text", "CVE-2025-49847")
    add("huge_control_rendered",
        crafted([(("huge", 16384, b"<c"), CONTROL, 7)] + bpe_chars("ab<c"), b"<c" * 20,
                pre=6, bos=0, eos=0, add_bos=True),
        "16 KiB control token added as BOS and rendered with TS_DETOK_RENDER_SPECIAL",
        "CVE-2025-49847")
    add("piece_over_cli_buffer",
        crafted([(b"<|endoftext|>", CONTROL, 7), (("huge", 600, b"xy"), NORMAL, 7)]
                + bpe_chars("xy"), b"xy" * 300, pre=6, bos=0, eos=0),
        "a piece over 256 bytes (the CLI's first buffer)", "CVE-2025-49847")

    # CVE-2025-52566: signed overflow from prompt length / token counts
    add("long_text_many_tokens",
        crafted(spm_base(), bytes(range(256)) * 64, spm=True, bos=1, eos=2, unk=0),
        "16 KiB of every byte: one byte token each (more tokens than bytes of text "
        "after escaping)", "CVE-2025-52566")
    add("long_text_spaces_smollm2", fixed(0, " " * 8000 + "\n" * 8000),
        "16 KB of whitespace runs for the real BPE vocabulary", "CVE-2025-52566")
    add("long_text_spaces_gemma3", fixed(1, " " * 20000 + "x"),
        "20 KB of spaces: every one a U+2581 (3 bytes) for SPM", "CVE-2025-52566")
    add("repeated_special_smollm2", fixed(0, "<|im_start|>" * 2000),
        "2000 control tokens in a row (parsed under TS_TOKENIZE_PARSE_SPECIAL)",
        "CVE-2025-52566")
    add("repeated_special_gemma3", fixed(1, "<start_of_turn><end_of_turn>" * 750 + "<bos>" * 250),
        "1750 control tokens in a row", "CVE-2025-52566")
    add("special_ids_out_of_range",
        crafted(spm_base(), b"abc", spm=True, add_bos=True, add_eos=True, bos=300, eos=511,
                unk=400, eot=260, pad=299),
        "BOS/EOS/UNK/EOT/PAD ids past the vocabulary, add_bos and add_eos set", "bad metadata")

    # deep merge chains
    chain = spm_base(range(0x60, 0x70)) + [(b"a" * k, NORMAL, score(min(127, 7 + k)))
                                           for k in range(1, 100)]
    add("deep_merge_chain_spm", crafted(chain, b"a" * 6000, spm=True, space_prefix=False,
                                        bos=1, eos=2, unk=0),
        "SPM tokens a, aa, ... 99 a's, each scoring higher: 6000 a's merge deep",
        "deep merge chain")
    bchain = [(b"<|endoftext|>", CONTROL, 7)] + [(GPT2("a" * k), NORMAL, 7) for k in range(1, 120)]
    add("deep_merge_chain_bpe",
        crafted(bchain, b"a" * 6000, pre=6, bos=0, eos=0,
                merges=[(1, k) for k in range(1, 119)]),
        "BPE merges a+a, aa+a, ... 118 deep over a 6000-letter word", "deep merge chain")
    add("merge_cycle_like",
        crafted([(b"<|endoftext|>", CONTROL, 7)] + bpe_chars("ab") + [(GPT2("ab"), NORMAL, 7),
                                                                      (GPT2("ba"), NORMAL, 7)],
                b"abababababa" * 100, pre=1, bos=0, eos=0,
                merges=[(1, 2), (2, 1), (3, 1), (1, 3), (3, 3)]),
        "merges whose results overlap (ab, ba, ab+a, a+ab, ab+ab)", "deep merge chain")

    # invalid UTF-8, odd texts
    add("invalid_utf8_tokens_bpe",
        crafted([(b"<|endoftext|>", CONTROL, 7), (b"\xff\xfe", NORMAL, 7), (b"\xc0\xaf", NORMAL, 7),
                 (b"\xed\xa0\x80", NORMAL, 7), (b"\xf4\x90\x80\x80", NORMAL, 7),
                 (b"\xf7\xbf\xbf\xbf", NORMAL, 7), (b"\xe4\xb8", NORMAL, 7)] + bpe_chars("a"),
                b"\xff\xfe\xc0\xaf a \xed\xa0\x80\xf4\x90\x80\x80", pre=6, bos=0, eos=0),
        "BPE token texts that are not UTF-8 (overlong, surrogate, above U+10FFFF, cut)",
        "invalid UTF-8")
    add("invalid_utf8_tokens_spm",
        crafted(spm_base() + [(b"\xff", NORMAL, score(-8)), (b"\xe2\x96", NORMAL, score(-9)),
                              (b"\x81", NORMAL, score(-10)), (b"\xc3", USER, 7)],
                b"\xff\xe2\x96\x81 \xc3\xa9\xc3", spm=True, space_prefix=True, bos=1, eos=2,
                unk=0),
        "SPM token texts that are pieces of UTF-8 sequences, also of U+2581", "invalid UTF-8")
    add("invalid_utf8_text_smollm2",
        fixed(0, b"\x80\xbf\xc3(\xe4\xb8a\xf0\x9f\x98 \xf5\x80\x80\x80\xf4\x90\x80\x80\xff\xfe"),
        "invalid UTF-8 text, including F5 and F4 90 (llama.cpp aborts on these)",
        "invalid UTF-8")
    add("invalid_utf8_text_gemma3",
        fixed(1, b"\x80\xbf\xc3(\xe4\xb8a\xf0\x9f\x98 \xf5\x80\x80\x80\xf4\x90\x80\x80\xff\xfe"),
        "invalid UTF-8 text: lead-byte lengths swallow following bytes", "invalid UTF-8")
    add("nul_bytes",
        crafted(spm_base() + [(b"a\x00b", NORMAL, score(-8)), (b"\x00", USER, 7)],
                b"a\x00b\x00\x00", spm=True, bos=1, eos=2, unk=0),
        "token texts and text holding NUL bytes", "invalid UTF-8")

    # malformed vocabulary metadata
    add("nan_scores",
        crafted(spm_base() + [(b"a", NORMAL, NAN), (b"b", NORMAL, INF), (b"ab", NORMAL, NINF),
                              (b"ba", NORMAL, NAN)], b"abababba", spm=True, bos=1, eos=2, unk=0),
        "NaN and infinite SPM scores (no strict weak order)", "bad metadata")
    add("empty_and_duplicate_tokens",
        crafted(spm_base() + [(b"", NORMAL, 7), (b"", NORMAL, 7), (b"a", NORMAL, 7),
                              (b"a", NORMAL, 7)], b"aa", spm=True, bos=1, eos=2, unk=0),
        "empty token texts and a duplicate text", "bad metadata")
    add("odd_token_types",
        crafted([(b"<|endoftext|>", -1, 7), (GPT2("a"), 0, 7), (GPT2("b"), 7, 7),
                 (GPT2("c"), 127, 7), (GPT2("d"), -128, 7), (GPT2("e"), UNUSED, 7)],
                b"abcde", pre=6, bos=0, eos=0),
        "negative, undefined and out-of-range token types", "bad metadata")
    add("byte_tokens_malformed",
        crafted([(b"<unk>", UNKNOWN, 7), (b"<s>", CONTROL, 7), (b"</s>", CONTROL, 7),
                 (b"<0", BYTE, 7), (b"<0x", BYTE, 7), (b"<0x4", BYTE, 7), (b"<0xZZ>", BYTE, 7),
                 (b"<0x-F>", BYTE, 7), (b"<0x 5>", BYTE, 7), (b"x", BYTE, 7), (b"", BYTE, 7)],
                b"\x01\x02 abc", spm=True, bos=1, eos=2, unk=0),
        "BYTE tokens whose text is too short or not hex", "bad metadata")
    add("no_byte_tokens_no_unk",
        crafted([(b"a", NORMAL, 7), (b"b", NORMAL, 7)], b"abc\xe4\xb8\xad", spm=True,
                space_prefix=False),
        "SPM without byte tokens nor unk: unknown characters have no token", "bad metadata")
    add("missing_types_and_scores",
        crafted(spm_base() + [(b"a", NORMAL, 7)], b"aaa", spm=True, no_types=True,
                no_scores=True, bos=1, eos=2, unk=0),
        "no token_type and no scores arrays", "bad metadata")
    add("merges_malformed",
        crafted([(b"<|endoftext|>", CONTROL, 7)] + bpe_chars("ab"), b"abba", pre=6, bos=0, eos=0,
                merges=[b"", b" ", b"ab", b"a  b", b"x y", b" a b", b"a b c", (1, 2)]),
        "merges that are empty, have no space, name unknown texts", "bad metadata")
    add("unknown_pre", crafted(bpe_chars("ab"), b"ab", pre=10),
        "an unknown tokenizer.ggml.pre", "bad metadata")
    add("raw_pre_binary", crafted(bpe_chars("ab"), b"ab", raw_pre=b"qwen2\x00evil\xff"),
        "a pre-tokenizer name with NUL and invalid UTF-8", "bad metadata")
    add("missing_pre", crafted(bpe_chars("ab"), b"ab", pre=None),
        "no tokenizer.ggml.pre (falls back to default with a warning)", "bad metadata")
    add("empty_pre", crafted(bpe_chars("ab"), b"ab", pre=9), "an empty tokenizer.ggml.pre",
        "bad metadata")
    add("no_tokens", crafted([], b"abc", spm=True), "an empty token list", "bad metadata")
    add("no_tokens_bpe", crafted([], b"abc", pre=0), "an empty token list (BPE)", "bad metadata")
    add("bos_is_eos_add_both",
        crafted([(b"<|endoftext|>", CONTROL, 7)] + bpe_chars("ab"), b"ab", pre=2, add_bos=True,
                add_eos=True, bos=0, eos=0),
        "BOS == EOS, both added: removal takes the first and the last", "bad metadata")
    add("clean_spaces_punct",
        crafted([(b"<|endoftext|>", CONTROL, 7)] + bpe_chars(" '.,?!smrvetdl"), b" ' ' 's 're 've .,?! " * 50,
                pre=1, bos=0, eos=0),
        "every clean-up pattern of gpt-2 detokenization, repeated", "detokenizer clean-up")
    add("eog_text_user_defined",
        crafted(spm_base() + [(b"<end_of_turn>", USER, 7), (b"</s>x", USER, 7),
                              (b"<unused0>", CONTROL, 7)],
                b"<end_of_turn></s>x<unused0>", spm=True, bos=1, eos=2, unk=0),
        "user-defined tokens llama.cpp makes CONTROL by their text", "bad metadata")
    return b


def write_dir(name, items):
    d = os.path.join(HERE, name)
    os.makedirs(d, exist_ok=True)
    for old in os.listdir(d):
        if old.endswith(".bin"):
            os.remove(os.path.join(d, old))
    for fname, data in items:
        with open(os.path.join(d, fname + ".bin"), "wb") as fp:
            fp.write(data)


def main():
    s = seeds()
    bad = bad_inputs()
    names = [x[0] for x in bad]
    assert len(set(names)) == len(names), "duplicate bad input name"
    write_dir("seed", sorted(s.items()))
    write_dir("bad", [(x[0], x[1]) for x in bad])
    with open(os.path.join(HERE, "bad", "MANIFEST.tsv"), "w", newline="\n") as fp:
        fp.write("# file\thazard\tclass / CVE\n")
        fp.write("# generated by ../make_corpus.py; edit it there\n")
        for name, _, hazard, cls in bad:
            assert "\t" not in hazard + cls
            fp.write(f"{name}.bin\t{hazard}\t{cls}\n")
    print(f"wrote {len(s)} seeds and {len(bad)} bad inputs under {HERE}", file=sys.stderr)


if __name__ == "__main__":
    main()
