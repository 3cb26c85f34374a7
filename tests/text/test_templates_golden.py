"""Chat templates rendered by `tessera template` against jinja2's renders.

tests/data/templates/golden.json (made by scripts/gen_template_reference.py
with jinja2 set up as transformers sets it up) holds, for every template in
tests/data/templates × every conversation of conversations.json ×
add_generation_prompt true/false, the exact output or the error jinja2
raised. Each case runs `tessera template --template FILE CASE.json
[--no-generation-prompt] --date DATE`, CASE.json carrying the messages, the
tools and the other variables of the case, and must give

  output                 exit 0 and stdout equal to it byte for byte
  error, raised=true     exit 1 and one error line containing the message
                         the template passed to raise_exception()
  error, raised=false    exit 1 and one error line (jinja2 failed on its own:
                         a type error, an undefined value...; any message)

One test per template; each prints its summary and, on failure, a unified
diff of its first mismatches.

TESSERA_BIN   the built `tessera` (set by ctest)
"""
import concurrent.futures
import difflib
import json
import os
import pathlib
import subprocess

import pytest

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "templates"
GOLDEN = json.loads((DATA / "golden.json").read_text(encoding="utf-8"))
CONVERSATIONS = {c["name"]: c for c in json.loads(
    (DATA / "conversations.json").read_text(encoding="utf-8"))["conversations"]}
DATE = "2025-03-05"  # golden.json: reference.strftime_now
SHOW_DIFFS = 3       # mismatches shown per template
WORKERS = 4


@pytest.fixture(scope="session")
def tessera_bin():
    path = os.environ.get("TESSERA_BIN")
    if not path:
        pytest.fail("TESSERA_BIN is not set: point it at the built `tessera` binary (ctest sets it)")
    if not os.access(path, os.X_OK):
        pytest.fail(f"TESSERA_BIN={path} is not an executable file")
    return path


def case_id(case):
    return f"{case['template']} × {case['conversation']} × add_generation_prompt={case['add_generation_prompt']}"


def case_input(case):
    """The MESSAGES.json object of a case: messages, tools, other variables
    (add_generation_prompt goes by --no-generation-prompt)."""
    conv = CONVERSATIONS[case["conversation"]]
    doc = {"messages": conv["messages"], "tools": conv.get("tools")}
    doc.update({k: v for k, v in case["context"].items() if k != "add_generation_prompt"})
    return doc


def run_case(tessera, tmp_path, index, case):
    """Render one case; returns None when it matches, else a description."""
    path = tmp_path / f"case{index}.json"
    path.write_text(json.dumps(case_input(case), ensure_ascii=False), encoding="utf-8")
    args = [tessera, "template", "--template", DATA / GOLDEN["templates"][case["template"]]["file"],
            path, "--date", DATE]
    if not case["add_generation_prompt"]:
        args.append("--no-generation-prompt")
    proc = subprocess.run(args, capture_output=True, timeout=60, check=False)
    err = proc.stderr.decode("utf-8", "replace")
    err_lines = err.rstrip("\n").split("\n")
    if "output" in case:
        expected = case["output"].encode("utf-8")
        if proc.returncode == 0 and proc.stdout == expected:
            return None
        if proc.returncode != 0:
            return f"{case_id(case)}: expected output, got exit {proc.returncode}: {err.strip()}"
        got = proc.stdout.decode("utf-8", "replace")
        at = next((i for i, (x, y) in enumerate(zip(expected, proc.stdout)) if x != y),
                  min(len(expected), len(proc.stdout)))
        where = (f"first difference at byte {at} of {len(expected)} expected / {len(proc.stdout)} "
                 f"got: expected {expected[max(0, at - 20):at + 20]!r}, got "
                 f"{proc.stdout[max(0, at - 20):at + 20]!r}\n")
        diff = difflib.unified_diff(case["output"].splitlines(keepends=True),
                                    got.splitlines(keepends=True), "jinja2", "tessera", n=2)
        return f"{case_id(case)}: output differs; {where}" + "".join(
            line if line.endswith("\n") else line + "\n\\ no newline at end\n" for line in diff)
    want = case["error"]
    what = f"error {want['type']}: {want['message']!r}"
    if proc.returncode != 1:
        return f"{case_id(case)}: expected {what}, got exit {proc.returncode}, stdout {proc.stdout[:200]!r}"
    if len(err_lines) != 1 or not err_lines[0].startswith("tessera: "):
        return f"{case_id(case)}: expected one error line, got {err!r}"
    if want["raised"] and want["message"] not in err:
        return f"{case_id(case)}: expected raise_exception({want['message']!r}), got {err.strip()!r}"
    return None


def test_golden_is_complete():
    names = {c["template"] for c in GOLDEN["cases"]}
    assert names == set(GOLDEN["templates"])
    for name, spec in GOLDEN["templates"].items():
        assert (DATA / spec["file"]).is_file(), spec["file"]
    assert len(GOLDEN["cases"]) == len(GOLDEN["templates"]) * len(CONVERSATIONS) * 2
    assert GOLDEN["reference"]["strftime_now"].startswith(DATE)


@pytest.mark.parametrize("template", sorted(GOLDEN["templates"]))
def test_template_matches_jinja2(tessera_bin, tmp_path, template):
    cases = [c for c in GOLDEN["cases"] if c["template"] == template]
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(lambda ic: run_case(tessera_bin, tmp_path, *ic), enumerate(cases)))
    failures = [r for r in results if r]
    n_out = sum("output" in c for c in cases)
    print(f"\n{template}: {len(cases) - len(failures)}/{len(cases)} cases match "
          f"({n_out} outputs, {len(cases) - n_out} expected errors)")
    if failures:
        shown = "\n".join(failures[:SHOW_DIFFS])
        pytest.fail(f"{len(failures)} of {len(cases)} cases differ from jinja2; first "
                    f"{min(len(failures), SHOW_DIFFS)}:\n{shown}", pytrace=False)
