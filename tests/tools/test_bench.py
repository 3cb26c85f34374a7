"""`tessera bench`: its JSON, its tables, its progress lines and its exit codes.

Everything runs on a tiny random-weight llama model of tests/data/llama/tiny
with a few tokens and repetitions, and with the bandwidth probe's arrays
made small (TESSERA_BENCH_STREAM_MIB), so the whole file takes seconds.
Speeds on a shared machine are noise: only their sanity is checked (positive,
the mean and deviation consistent with the samples), never a value.

Exit codes (tessera bench --help): 0 ok, 1 other failure, 2 usage, 3 model
load, 5 decode.
"""
import json
import math
import os
import pathlib
import re
import statistics
import subprocess

import pytest
from gguf import GGUFReader

TINY = pathlib.Path(__file__).resolve().parent.parent / "data" / "llama" / "tiny"
MODEL = TINY / "tied-f16.gguf"

EXIT_FAIL, EXIT_USAGE, EXIT_MODEL = 1, 2, 3

COMMON = {"model_filename", "model_size", "model_n_params", "cpu_path", "n_threads",
          "n_prompt", "n_gen", "n_depth", "avg_ts", "stddev_ts", "samples_ts", "load_ms",
          "context_ms", "weight_copy_bytes", "peak_rss_bytes"}
TG_ONLY = {"weight_bytes_per_token", "bandwidth_bytes_per_s", "bw_fraction"}
PROGRESS = re.compile(r"^bench: t=(\d+) (pp|tg)(\d+)( @ d(\d+))?: [\d.]+ \+- [\d.]+ t/s "
                      r"\((\d+) runs?\)(, bw_fraction [\d.]+)?$")


@pytest.fixture
def bench(tessera_bin):
    """tessera bench ARGS... with a small probe; returns the CompletedProcess (text)."""
    def go(*args, env=None, timeout=60):
        e = dict(os.environ, TESSERA_BENCH_STREAM_MIB="8")
        e.pop("TESSERA_CPU", None)
        e.update(env or {})
        return subprocess.run([tessera_bin, "bench", *map(str, args)], capture_output=True,
                              text=True, env=e, timeout=timeout, check=False)
    return go


def ok(proc):
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    return proc


def one_error_line(proc, code, *fragments):
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tessera: "), proc.stderr
    for frag in fragments:
        assert frag in lines[0], (frag, lines[0])
    assert proc.stdout == ""
    return lines[0]


def bench_json(bench, *args, **kw):
    proc = ok(bench("-m", MODEL, "--json", *args, **kw))
    return json.loads(proc.stdout), proc


def check_object(o, reps):
    tg = o["n_gen"] > 0
    assert set(o) == COMMON | (TG_ONLY if tg else set()), sorted(o)
    assert (o["n_prompt"] > 0) != tg
    assert o["model_filename"] == str(MODEL)
    assert o["model_size"] > 0 and o["model_n_params"] > 0
    assert o["cpu_path"] in ("scalar", "avx2", "avx512")
    assert o["load_ms"] >= 0 and o["context_ms"] >= 0 and o["peak_rss_bytes"] > 0
    assert o["weight_copy_bytes"] >= 0
    samples = o["samples_ts"]
    assert len(samples) == reps and all(s > 0 for s in samples)
    assert o["avg_ts"] == pytest.approx(statistics.fmean(samples))
    sd = statistics.stdev(samples) if reps > 1 else 0.0
    assert o["stddev_ts"] == pytest.approx(sd, abs=1e-9)
    if tg:
        assert o["weight_bytes_per_token"] == matrix_bytes(MODEL)
        assert o["bandwidth_bytes_per_s"] > 0
        frac = o["weight_bytes_per_token"] * o["avg_ts"] / o["bandwidth_bytes_per_s"]
        assert o["bw_fraction"] == pytest.approx(frac) and o["bw_fraction"] > 0


def matrix_bytes(path):
    """Bytes of the matrices a token's products read, from gguf-py: every
    tensor of two or more dimensions, less the token embedding when the
    model has its own output matrix (then it is only looked up)."""
    tensors = {t.name: t for t in GGUFReader(path).tensors}
    return sum(int(t.n_bytes) for name, t in tensors.items() if len(t.shape) >= 2 and not
               (name == "token_embd.weight" and "output.weight" in tensors))


# ------------------------------------------------------------------- JSON


def test_json_one_object_per_test_and_thread_count(bench):
    objs, proc = bench_json(bench, "-t", "1,2", "-p", 16, "-n", 4, "-r", 2)
    assert [(o["n_threads"], o["n_prompt"], o["n_gen"], o["n_depth"]) for o in objs] == [
        (1, 16, 0, 0), (1, 0, 4, 0), (2, 16, 0, 0), (2, 0, 4, 0)]
    for o in objs:
        check_object(o, 2)
    # figures of a thread count are the same in each of its objects
    for t in (1, 2):
        same = [(o["load_ms"], o["peak_rss_bytes"], o["cpu_path"]) for o in objs
                if o["n_threads"] == t]
        assert len(set(same)) == 1
    # stderr: a progress line per test, nothing of it on stdout
    lines = [m for m in map(PROGRESS.match, proc.stderr.splitlines()) if m]
    assert [(m[1], m[2]) for m in lines] == [("1", "pp"), ("1", "tg"), ("2", "pp"), ("2", "tg")]
    assert all((m[7] is not None) == (m[2] == "tg") for m in lines)


def test_depths(bench):
    objs, _ = bench_json(bench, "-t", 1, "-p", 16, "-n", 4, "-r", 1, "-d", "0,40")
    assert [(o["n_prompt"], o["n_gen"], o["n_depth"]) for o in objs] == [
        (16, 0, 0), (0, 4, 0), (16, 0, 40), (0, 4, 40)]
    for o in objs:
        check_object(o, 1)


def test_ctx_size(bench):
    """-c: a context larger than the tests need (a short sequence in a long context)."""
    objs, _ = bench_json(bench, "-t", 1, "-p", 16, "-n", 4, "-r", 1, "-c", 4096)
    assert [(o["n_prompt"], o["n_gen"]) for o in objs] == [(16, 0), (0, 4)]
    for o in objs:
        check_object(o, 1)


def test_p0_skips_pp(bench):
    objs, _ = bench_json(bench, "-t", "1,2", "-p", 0, "-n", 4, "-r", 2)
    assert [(o["n_threads"], o["n_prompt"], o["n_gen"]) for o in objs] == [(1, 0, 4), (2, 0, 4)]


def test_n0_skips_tg_and_the_probe(bench):
    objs, proc = bench_json(bench, "-t", 1, "-p", 16, "-n", 0, "-r", 2)
    assert [(o["n_prompt"], o["n_gen"]) for o in objs] == [(16, 0)]
    assert "bandwidth_bytes_per_s" not in objs[0]
    assert "memory bandwidth" not in proc.stderr


def test_cpu_path_forced(bench):
    objs, _ = bench_json(bench, "-t", 1, "-p", 8, "-n", 2, "-r", 1, env={"TESSERA_CPU": "scalar"})
    assert {o["cpu_path"] for o in objs} == {"scalar"}


# ------------------------------------------------------------------ tables


def test_table(bench):
    proc = ok(bench("-m", MODEL, "-t", 1, "-p", 16, "-n", 4, "-r", 2))
    lines = proc.stdout.splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["model", "size", "params", "backend", "threads", "test", "t/s",
                      "bw_fraction"]
    rows = [l for l in lines if l.startswith(f"| {MODEL.name}")]
    assert len(rows) == 2
    assert re.search(r"\| +pp16 \| +[\d.]+ ± [\d.]+ \| +\|$", rows[0]), rows[0]
    assert re.search(r"\| +tg4 \| +[\d.]+ ± [\d.]+ \| +[\d.]+ \|$", rows[1]), rows[1]
    figs = lines.index(next(l for l in lines if l.startswith("| threads")))
    cells = [c.strip() for c in lines[figs + 2].strip("|").split("|")]
    assert cells[0] == "1" and cells[1] in ("scalar", "avx2", "avx512")
    assert float(cells[3]) >= 0 and float(cells[4]) >= 0  # context ms, repacked MiB
    assert all(float(c) > 0 for c in cells[5:])  # peak RSS, GB/s, MiB/token
    # stdout is not a terminal: progress lines on stderr as well
    assert len([l for l in proc.stderr.splitlines() if PROGRESS.match(l)]) == 2


def test_memory(bench):
    proc = ok(bench("--memory", "-t", "1,2"))
    rows = re.findall(r"^\| +(\d+) \| +([\d.]+) \|$", proc.stdout, re.M)
    assert [t for t, _ in rows] == ["1", "2"] and all(float(g) > 0 for _, g in rows)
    assert "8 MiB" in proc.stdout


def test_memory_json(bench):
    proc = ok(bench("--memory", "--json", "-t", 1))
    objs = json.loads(proc.stdout)
    assert len(objs) == 1 and objs[0]["n_threads"] == 1
    assert objs[0]["array_bytes"] == 8 << 20
    assert objs[0]["bandwidth_bytes_per_s"] > 0 and math.isfinite(objs[0]["bandwidth_bytes_per_s"])


def test_help(bench):
    text = ok(bench("--help")).stdout
    for word in ("--json", "--memory", "-d, --n-depth", "TESSERA_CPU", "TESSERA_BENCH_STREAM_MIB",
                 "bw_fraction"):
        assert word in text
    for code in ("0", "1", "2", "3", "5"):
        assert re.search(rf"^  {code}    ", text, re.M), code


# ---------------------------------------------------------------- failures


@pytest.mark.parametrize("args", [
    ("-p", "-1"), ("-n", "x"), ("-r", "0"), ("-r", "1001"), ("-t", "0"), ("-t", ""),
    ("-t", "1,,2"), ("-t", "1,"), ("-t", ",".join(["1"] * 17)), ("-d", "-4"), ("-p", "0", "-n", "0"),
    ("-d", "16777216"), ("--bogus",), ("-m",), ("-t",), ("extra",), ("-c", "0"),
    ("-p", "16", "-n", "4", "-c", "19"),
])
def test_bad_options(bench, args):
    one_error_line(bench("-m", MODEL, *args), EXIT_USAGE)


def test_bad_probe_size(bench):
    one_error_line(bench("-m", MODEL, env={"TESSERA_BENCH_STREAM_MIB": "lots"}), EXIT_USAGE,
                   "TESSERA_BENCH_STREAM_MIB")


def test_missing_model(bench, tmp_path):
    line = one_error_line(bench("-m", tmp_path / "nope.gguf", "--json"), EXIT_MODEL)
    assert "nope.gguf" in line


def test_not_gguf(bench, tmp_path):
    path = tmp_path / "text.gguf"
    path.write_bytes(b"this is not a model\n" * 10)
    one_error_line(bench("-m", path), EXIT_MODEL)


def test_no_default_model(bench, tmp_path):
    line = one_error_line(bench(env={"TESSERA_CACHE": str(tmp_path), "HOME": str(tmp_path)}),
                          EXIT_MODEL)
    assert "scripts/fetch-model.sh smollm2" in line


def test_unknown_cpu_path(bench):
    one_error_line(bench("-m", MODEL, "-p", 8, "-n", 0, "-r", 1, env={"TESSERA_CPU": "bogus"}),
                   EXIT_FAIL, "bogus")
