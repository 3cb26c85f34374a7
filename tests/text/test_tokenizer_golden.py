"""Token ids identical to llama.cpp's on the committed golden data.

For every golden-<vocab>.json.gz in tests/data/tokenizer (see its README):
the vocabulary (a committed .gguf, or one made from smollm2.gguf with
make_vocab --pre NAME [--max-merges N], checked against the recorded
SHA-256), then every corpus string tokenized by tokenize_tool twice — with
add_special (the file's BOS/EOS) and without parse_special, then with both —
and compared with llama.cpp's `ids` / `ids_sp`. Strings on which llama.cpp
aborted (`abort`) have no reference and are only required not to fail.
The vocabulary's special ids (BOS, EOS, newline, add_bos/add_eos, the
end-of-generation set) and every token's attributes (pieces-<base>.json.gz:
llama.cpp's, after its load-time adjustments, which the special-token
partition and the detokenizer go by) are compared too; EOT is reported, not
required: llama.cpp picks it in hash-map order when several tokens qualify.

Environment: TS_TOKENIZE_TOOL, TS_MAKE_VOCAB (set by ctest), optionally
TS_TOKENIZER_DATA (default: the repository's tests/data/tokenizer).
"""
import base64
import gzip
import hashlib
import json
import os
import pathlib
import struct
import subprocess

import pytest

HERE = pathlib.Path(__file__).resolve().parent
DATA = pathlib.Path(os.environ.get("TS_TOKENIZER_DATA") or HERE.parent / "data" / "tokenizer")
ADD_SPECIAL, PARSE_SPECIAL = 1, 2
SHOW = 5  # mismatching strings printed per vocabulary


def tool(env):
    path = os.environ.get(env)
    if not path:
        pytest.fail(f"{env} is not set (run through ctest, or set it to the built binary)")
    return path


def golden_files():
    return sorted(DATA.glob("golden-*.json.gz"))


@pytest.fixture(scope="module")
def corpus():
    c = json.loads((DATA / "corpus.json").read_text(encoding="utf-8"))
    return [base64.b64decode(e["b64"]) for e in c["strings"]]


def vocab_path(gold, tmp_path):
    g = gold["gguf"]
    src = DATA / g["file"]
    if not g.get("pre_override") and not g.get("max_merges"):
        return src
    out = tmp_path / f"{gold['vocab']}.gguf"
    cmd = [tool("TS_MAKE_VOCAB"), str(src), str(out)]
    if g.get("pre_override"):
        cmd += ["--pre", g["pre_override"]]
    if g.get("max_merges"):
        cmd += ["--max-merges", str(g["max_merges"])]
    subprocess.run(cmd, check=True)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert digest == g["sha256"], f"{' '.join(cmd[1:])}: sha256 {digest}, golden data has {g['sha256']}"
    return out


def tokenize_all(path, records):
    """records: [(flags, bytes)] -> one list of ids (or an error string) each."""
    stdin = b"".join(struct.pack("<II", f, len(b)) + b for f, b in records)
    r = subprocess.run([tool("TS_TOKENIZE_TOOL"), str(path)], input=stdin,
                       capture_output=True, check=False)
    assert r.returncode == 0, f"tokenize_tool failed ({r.returncode}): {r.stderr.decode(errors='replace')}"
    lines = r.stdout.decode().split("\n")
    assert lines[-1] == "" and len(lines) == len(records) + 1, "tokenize_tool: wrong line count"
    return [l if l.startswith("ERR") else [int(x) for x in l.split()] for l in lines[:-1]]


def vocab_attrs(path):
    r = subprocess.run([tool("TS_TOKENIZE_TOOL"), str(path), "--attrs"], capture_output=True,
                       check=True, text=True)
    return [int(x) for x in r.stdout.split()]


def vocab_info(path):
    r = subprocess.run([tool("TS_TOKENIZE_TOOL"), str(path), "--info"], capture_output=True,
                       check=True, text=True)
    info = dict(kv.split("=", 1) for kv in r.stdout.split())
    info["eog"] = [int(x) for x in info["eog"].split(",") if x]
    return info


@pytest.mark.parametrize("golden", golden_files(), ids=lambda p: p.name[len("golden-"):-len(".json.gz")])
def test_golden_ids(golden, corpus, tmp_path):
    gold = json.load(gzip.open(golden))
    cases = gold["cases"]
    assert gold["corpus"]["n"] == len(corpus) == len(cases)
    path = vocab_path(gold, tmp_path)

    # special ids as llama.cpp reports them
    info, ref = vocab_info(path), gold["llama"]
    sid = ref["special_ids"]
    problems = []
    for ours, theirs in (("bos", "bos"), ("eos", "eos"), ("nl", "nl"), ("pad", "pad")):
        if int(info[ours]) != sid[theirs]:
            problems.append(f"{ours}: ours {info[ours]}, llama.cpp {sid[theirs]}")
    for ours, theirs in (("add_bos", "add_bos"), ("add_eos", "add_eos")):
        if bool(int(info[ours])) != ref[theirs]:
            problems.append(f"{ours}: ours {info[ours]}, llama.cpp {ref[theirs]}")
    if info["eog"] != sorted(ref["eog_ids"]):
        problems.append(f"eog: ours {info['eog']}, llama.cpp {sorted(ref['eog_ids'])}")
    want_attr = json.load(gzip.open(DATA / gold["pieces"]))["attr"]
    have_attr = vocab_attrs(path)
    wrong = [i for i, (a, b) in enumerate(zip(want_attr, have_attr)) if a != b]
    if len(want_attr) != len(have_attr) or wrong:
        problems.append(f"token attributes: {len(wrong)} differ, e.g. " + ", ".join(
            f"{i}: ours {have_attr[i]}, llama.cpp {want_attr[i]}" for i in wrong[:5]))
    eot_note = "" if int(info["eot"]) == sid["eot"] else \
        f" (eot: ours {info['eot']}, llama.cpp {sid['eot']} — hash order, not required)"

    records = []
    for b in corpus:
        records.append((ADD_SPECIAL, b))
        records.append((ADD_SPECIAL | PARSE_SPECIAL, b))
    got = tokenize_all(path, records)

    checked = aborted = 0
    bad = {"plain": [], "special": []}
    for i, (case, b) in enumerate(zip(cases, corpus)):
        plain, sp = got[2 * i], got[2 * i + 1]
        if "abort" in case or "abort_sp" in case:
            aborted += 1
            for r in (plain, sp):
                if isinstance(r, str):
                    problems.append(f"string {i} ({b!r}): {r}")
            continue
        checked += 1
        want_sp = case.get("ids_sp", case["ids"])
        if plain != case["ids"]:
            bad["plain"].append((i, b, case["ids"], plain))
        if sp != want_sp:
            bad["special"].append((i, b, want_sp, sp))

    print(f"\n{gold['vocab']}: {checked} strings checked ({aborted} aborted in llama.cpp, "
          f"tokenized without error here), mismatches: {len(bad['plain'])} without "
          f"parse_special, {len(bad['special'])} with{eot_note}")
    for kind, lst in bad.items():
        for i, b, want, have in lst[:SHOW]:
            print(f"  [{kind}] string {i}: {b!r}\n    llama.cpp: {want}\n    tessera:   {have}")
    for p in problems:
        print(f"  {p}")
    assert not problems and not bad["plain"] and not bad["special"], \
        f"{gold['vocab']}: {len(bad['plain'])}+{len(bad['special'])} mismatching strings, " \
        f"{len(problems)} other problems (details above)"
