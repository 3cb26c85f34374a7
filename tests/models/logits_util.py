"""logits_util.py — what the logits tests share: running logits_tool, the
tiny models' data (llama.cpp's committed logits, Tessera's and llama_ref's
logits, both cached), the comparison that prints and asserts, and the
decode splits that must give bitwise the same logits.

Used by test_llama_tiny.py, test_qwen_tiny.py, test_qwen_coder.py and
test_llama_smollm2.py.
logits_tool's path comes from env TS_LOGITS_TOOL (set by CTest).
"""
import os
import pathlib
import subprocess
import tempfile

import numpy as np
import pytest

import llama_ref as R


def tool():
    path = os.environ.get("TS_LOGITS_TOOL")
    if not path:
        pytest.fail("TS_LOGITS_TOOL is not set (run through ctest, or point it at logits_tool)")
    return path


def run_tool(model, ids, n_vocab, *args):
    """Tessera's (n, n_vocab) float32 logits of ids (one sequence at
    positions 0..n-1), decoded by logits_tool with `args`."""
    with tempfile.TemporaryDirectory(prefix="ts-logits-") as tmp:
        ids_path, out_path = pathlib.Path(tmp) / "ids.i32", pathlib.Path(tmp) / "out.f32"
        np.asarray(ids).astype("<i4").tofile(ids_path)
        r = subprocess.run([tool(), str(model), "--ids", str(ids_path), "--out", str(out_path),
                            *args], capture_output=True, text=True)
        assert r.returncode == 0, (
            f"logits_tool {pathlib.Path(model).name} {args}: {r.stderr.strip()}")
        raw = out_path.read_bytes()
    assert len(raw) == 4 * len(ids) * n_vocab, f"{model}: {len(raw)} bytes of logits"
    return np.frombuffer(raw, dtype="<f4").reshape(len(ids), n_vocab)


class TinySet:
    """The tiny models of one data directory (tests/data/<family>/tiny):
    committed ids and llama.cpp logits, and Tessera's and llama_ref's logits
    of those ids, each computed once."""

    def __init__(self, tiny_dir):
        self.dir = pathlib.Path(tiny_dir)
        self.z = np.load(self.dir / "logits.npz")
        self._runs, self._models, self._refs = {}, {}, {}

    def path(self, name):
        return self.dir / f"{name}.gguf"

    def ids(self, name):
        return self.z[f"{name}.ids"]

    def llamacpp(self, name):
        return self.z[f"{name}.logits"]

    def tessera(self, name, *args):
        key = (name, args)
        if key not in self._runs:
            self._runs[key] = run_tool(self.path(name), self.ids(name),
                                       self.llamacpp(name).shape[1], *args)
        return self._runs[key]

    def model(self, name):
        if name not in self._models:
            self._models[name] = R.Model(self.path(name))
        return self._models[name]

    def reference(self, name, **kw):
        """llama_ref's float64 logits with forward's options kw."""
        key = (name, tuple(sorted(kw.items())))
        if key not in self._refs:
            self._refs[key] = R.forward(self.model(name), self.ids(name), **kw)
        return self._refs[key]


def compare(label, got, want, bound, excuse_gap=0.0, first=0):
    """Max |Δ| within bound; top-1 equal except where want's top-2 gap < excuse_gap.
    Rows are positions first, first + 1, … (as messages name them)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    d = np.abs(got - want)
    differ = np.flatnonzero(got.argmax(-1) != want.argmax(-1))
    gap = R.top2_gap(want)
    excused = [first + int(i) for i in differ if gap[i] < excuse_gap]
    print(f"{label}: max|Δ| {d.max():.3e} (bound {bound:.2g}), mean|Δ| {d.mean():.3e}, "
          f"max KL {R.kl(want, got).max():.2e}, top-1 {len(want) - len(differ)}/{len(want)}"
          + (f", excused (gap < {excuse_gap:g}) at {excused}" if excused else ""))
    assert d.max() <= bound, f"{label}: max |Δlogit| {d.max():.3e} > {bound:.2g}"
    bad = [(first + int(i), float(gap[i])) for i in differ if gap[i] >= excuse_gap]
    assert not bad, f"{label}: top-1 differs at (position, reference top-2 gap) {bad}"


# Ways of feeding the same ids that must give the logits of one batch on one
# thread bit for bit (the engine's batch-invariance contract, tessera/engine.h).
SPLITS = {
    "2 threads": ("--threads", "2"),
    "token by token": ("--threads", "1", "--mode", "single"),
    "calls of 7": ("--threads", "1", "--mode", "chunks:7"),
    "micro-batches of 5": ("--threads", "1", "--ubatch", "5"),
    "calls of 7, micro-batches of 3, 2 threads": ("--threads", "2", "--mode", "chunks:7",
                                                  "--ubatch", "3"),
}


def check_deterministic(tiny, name, kv):
    """Bitwise: one batch on one thread == every split of SPLITS."""
    base = tiny.tessera(name, "--threads", "1", "--kv", kv)
    for label, args in SPLITS.items():
        got = tiny.tessera(name, *args, "--kv", kv)
        assert got.tobytes() == base.tobytes(), (
            f"{name} {kv}: {label} differs from one batch on one thread at "
            f"{np.argwhere(got != base)[:5].tolist()} (max |Δ| {np.abs(got - base).max():.3e})")


# ================================================ real models, teacher forced

def teacher_forcing(data, prompts, runs, gap_excuse):
    """Compare Tessera's teacher-forced logits with llama.cpp's reference
    run over every prompt and print a table (one row per prompt, then all).

    data: the reference npz (NAME.top_ids / top_logits (n, 32), NAME.row_pos /
    rows: full rows); runs[NAME]: Tessera's "top32" (its logits at the
    reference's top-32 ids), "argmax" (n) and "rows" (at row_pos), and
    optionally "seconds" (the table has a time column where any run has it).
    Top-1 differences are listed with the reference's top-1 − top-2 gap;
    those at a gap >= gap_excuse are failures.
    Returns a dict: failures (messages), n_differ, n_total, max_d, mean_d
    (|Δlogit| over the top 32), per_position (NAME → (n) max |Δlogit| over the
    top 32 at each position), max_kl, mean_kl (full rows)."""
    timed = any("seconds" in runs[p["name"]] for p in prompts)
    print(f"\n{'prompt':14} {'n':>4} {'max|Δ|':>7} {'mean|Δ|':>8} {'max KL':>8} {'top-1':>9} "
          + (f"{'time':>7} " if timed else "") + " top-1 differs at position (reference top-2 gap)")
    all_d, kls, failures, n_differ, n_total, seconds, per_position = [], [], [], 0, 0, 0.0, {}
    for p in prompts:
        name = p["name"]
        ref_top = data[f"{name}.top_logits"].astype(np.float64)  # (n, 32)
        ref_ids = data[f"{name}.top_ids"]
        got = runs[name]
        d = np.abs(got["top32"].astype(np.float64) - ref_top)
        gap = ref_top[:, 0] - ref_top[:, 1]
        differ = np.flatnonzero(got["argmax"] != ref_ids[:, 0])
        row_kl = R.kl(data[f"{name}.rows"], got["rows"]) if len(got["rows"]) else np.zeros(0)
        all_d.append(d)
        per_position[name] = d.max(axis=1)
        kls.extend(row_kl.tolist())
        n_differ += len(differ)
        n_total += len(gap)
        seconds += got.get("seconds", 0.0)
        listed = ", ".join(f"{i} ({gap[i]:.3f})" for i in differ)
        kl_col = f"{row_kl.max():8.4f}" if len(row_kl) else f"{'-':>8}"
        print(f"{name:14} {len(gap):4} {d.max():7.3f} {d.mean():8.3f} {kl_col} "
              f"{len(gap) - len(differ):4}/{len(gap):<4} "
              + (f"{got.get('seconds', 0.0):6.0f}s " if timed else "") + f" {listed or '-'}")
        failures += [f"{name} position {i}: top-1 {got['argmax'][i]} vs reference {ref_ids[i, 0]}, "
                     f"gap {gap[i]:.3f} >= {gap_excuse}" for i in differ if gap[i] >= gap_excuse]
    d = np.concatenate(all_d)
    print(f"{'all':14} {n_total:4} {d.max():7.3f} {d.mean():8.3f} {max(kls):8.4f} "
          f"{n_total - n_differ:4}/{n_total:<4} " + (f"{seconds:6.0f}s " if timed else "")
          + f" mean KL {np.mean(kls):.4f} over {len(kls)} full rows")
    return {"failures": failures, "n_differ": n_differ, "n_total": n_total, "max_d": d.max(),
            "mean_d": d.mean(), "per_position": per_position, "max_kl": max(kls),
            "mean_kl": float(np.mean(kls))}
