#!/usr/bin/env bash
# Tessera against llama.cpp on the same models, threads and test sizes:
# `tessera bench` and llama.cpp's `llama-bench` measure the same two tests
# (ppP: a P-token prompt in one batch; tgN: N tokens one at a time), so their
# tokens/s compare directly. Opt-in (not run by CI or `make check`).
#
#   bench/compare-llama.sh [-m MODEL]... [-t 1,2] [-r 5] [-p 512] [-n 64] [-d 0]
#   bench/compare-llama.sh --summary build/compare-llama-DATE
#
#   -m MODEL  a GGUF file; repeat for several (default: SmolLM2-135M-Instruct
#             Q4_1 and Qwen2.5-Coder-0.5B-Instruct Q4_K_M from the model cache,
#             ${TESSERA_CACHE:-~/.cache/tessera}/models; scripts/fetch-model.sh
#             smollm2 / qwen2.5-coder fetch them)
#   -t LIST   thread counts, comma-separated (default 1,2)
#   -r R      repetitions of each tool per model and thread count (default 5)
#   -p P, -n N  prompt and generated tokens (default 512 and 64)
#   -d LIST   depths: tokens already in the cache before each test,
#             comma-separated (default 0), as both tools' -d
#   --summary DIR  only the table, from the runs a comparison (perhaps an
#             interrupted one) kept in DIR
#
# 1. llama-bench is built when absent, in ${TESSERA_CACHE:-~/.cache/tessera}/llama.cpp
#    (LLAMA_DIR overrides): the llama.cpp that llama-cpp-python 0.3.36 vendors
#    (the version the tests' reference data come from), from its sdist, with
#    x86-64 instruction sets up to AVX-512 chosen explicitly and AMX off (a VM
#    may fault on AMX instructions).
# 2. tessera is built (`make`: Release, build/) when build/tessera is absent
#    or older than a source file.
# 3. For each model and thread count the two tools run alternately, R times
#    each (llama-bench, tessera, llama-bench, ...), each run one repetition
#    (-r 1) of pp and tg, so that a machine's load drifting over the minutes
#    falls on both alike. The table on stdout gives the medians of the runs:
#    llama.cpp t/s, tessera t/s, their ratio (tessera / llama.cpp), and
#    tessera's bw_fraction for tg (tessera bench --help). Every run's JSON
#    and stderr are kept in build/compare-llama-DATE/ as the run ends; all of
#    it, with the medians, in build/compare-llama-DATE.json.
# Progress (building, rep i of R) goes to stderr.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${TESSERA_CACHE:-$HOME/.cache/tessera}
LLAMA_DIR=${LLAMA_DIR:-$CACHE/llama.cpp}
LLAMA_PY_VERSION=0.3.36
LLAMA_BENCH=$LLAMA_DIR/build/bin/llama-bench
TESSERA=$ROOT/build/tessera

log() { echo "compare-llama: $*" >&2; }
die() { log "$*"; exit 1; }
bad() { usage >&2; log "$*"; exit 2; } # a usage error

usage() { sed -n '7,20p' "$0" | sed 's/^# \{0,1\}//'; }

# ------------------------------------------------------------- options
models=()
summary_of=
threads=1,2
depths=0
reps=5
n_prompt=512
n_gen=64
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    -m|-t|-r|-p|-n|-d|--summary)
      [[ $# -ge 2 ]] || bad "$1 needs a value"
      case "$1" in
        -m) models+=("$2") ;;
        -t) threads=$2 ;;
        -r) reps=$2 ;;
        -p) n_prompt=$2 ;;
        -n) n_gen=$2 ;;
        -d) depths=$2 ;;
        --summary) summary_of=$2 ;;
      esac
      shift 2 ;;
    *) bad "unknown argument '$1'" ;;
  esac
done
[[ $threads =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || bad "-t wants thread counts like 1,2, got '$threads'"
[[ $depths =~ ^[0-9]+(,[0-9]+)*$ ]] || bad "-d wants depths like 0,4096, got '$depths'"
for v in "$reps" "$n_prompt" "$n_gen"; do
  [[ $v =~ ^[0-9]+$ ]] || bad "-r, -p and -n want integers, got '$v'"
done
reps=$((10#$reps)) n_prompt=$((10#$n_prompt)) n_gen=$((10#$n_gen))
((reps >= 1)) || bad "-r wants at least 1"
((n_prompt + n_gen > 0)) || bad "-p 0 and -n 0 leave nothing to measure"
if [[ ${#models[@]} -eq 0 ]]; then
  models=("$CACHE/models/SmolLM2-135M-Instruct.Q4_1.gguf"
          "$CACHE/models/Qwen2.5-Coder-0.5B-Instruct-AWQ.Q4_K_M.gguf")
fi
for m in "${models[@]}"; do
  [[ -r $m ]] || die "no model $m (scripts/fetch-model.sh smollm2 / qwen2.5-coder fetch the defaults)"
done

# ---------------------------------------------------------- llama-bench
build_llama() {
  [[ -x $LLAMA_BENCH ]] && return
  local src=$LLAMA_DIR/llama_cpp_python-$LLAMA_PY_VERSION
  mkdir -p "$LLAMA_DIR"
  if [[ ! -d $src/vendor/llama.cpp ]]; then
    log "downloading the llama-cpp-python $LLAMA_PY_VERSION sdist into $LLAMA_DIR/sdist"
    (cd "$LLAMA_DIR" &&
      pip download --no-deps --no-binary :all: "llama-cpp-python==$LLAMA_PY_VERSION" -d sdist >&2)
    tar -xzf "$LLAMA_DIR/sdist/llama_cpp_python-$LLAMA_PY_VERSION.tar.gz" -C "$LLAMA_DIR"
  fi
  log "building llama-bench and llama-perplexity in $LLAMA_DIR/build (several minutes)"
  cmake -S "$src/vendor/llama.cpp" -B "$LLAMA_DIR/build" -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
    -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON -DGGML_AVX512_VBMI=ON \
    -DGGML_AVX_VNNI=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
    -DLLAMA_CURL=OFF >&2
  cmake --build "$LLAMA_DIR/build" -j"$(nproc)" --target llama-bench llama-perplexity >&2
}

# -------------------------------------------------------------- tessera
build_tessera() {
  if [[ -x $TESSERA ]] && [[ -z $(find "$ROOT/src" "$ROOT/include" "$ROOT/tools" \
                                      "$ROOT/CMakeLists.txt" -newer "$TESSERA" -print -quit) ]]; then
    return
  fi
  log "building tessera (make: Release, build/)"
  make -C "$ROOT" >&2
}

# -------------------------------------------------------------- summary
# summarize DIR: the medians of the runs DIR/runs.tsv lists, as a table on
# stdout; every run and the medians in DIR.json.
summarize() {
  python3 - "$1/runs.tsv" "$1.json" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, math, os, statistics, sys

manifest, out, load = sys.argv[1:]
runs, groups = [], {}  # (model, threads, test) -> {"llama.cpp": [...], "tessera": [...], "bw": [...]}
for line in open(manifest):
    tool, model, threads, rep, path = line.rstrip("\n").split("\t")
    results = json.load(open(path))
    runs.append({"tool": tool, "model": model, "n_threads": int(threads), "rep": int(rep),
                 "results": results})
    for r in results:
        test = f"pp{r['n_prompt']}" if r["n_prompt"] else f"tg{r['n_gen']}"
        if r.get("n_depth"):
            test += f" @ d{r['n_depth']}"
        g = groups.setdefault((os.path.basename(model), int(threads), test),
                              {"llama.cpp": [], "tessera": [], "bw_fraction": []})
        g[tool].append(r["avg_ts"])
        if tool == "tessera" and "bw_fraction" in r:
            g["bw_fraction"].append(r["bw_fraction"])

med = lambda xs: statistics.median(xs) if xs else None  # none yet: an interrupted comparison
summary = []
for (model, threads, test), g in groups.items():
    lc, ts = med(g["llama.cpp"]), med(g["tessera"])
    summary.append({"model": model, "n_threads": threads, "test": test,
                    "runs": [len(g["llama.cpp"]), len(g["tessera"])],
                    "llama_cpp_ts": lc, "tessera_ts": ts,
                    "ratio": ts / lc if lc and ts is not None else None,
                    "tessera_bw_fraction": med(g["bw_fraction"]), "samples": g})
if not summary:
    sys.exit(f"compare-llama: no finished run listed in {manifest}")

num = lambda x, spec: "" if x is None else format(x, spec)
w = max(len("model"), *(len(s["model"]) for s in summary))
wt = max(len("test"), *(len(s["test"]) for s in summary))
print("medians of the runs (-r 1 each, the tools alternating); runs: llama.cpp's + "
      f"tessera's; load average at the end {load}")
print()
print(f"| {'model':<{w}} | threads | {'test':<{wt}} | runs  | llama.cpp t/s | tessera t/s | "
      "ratio | tessera bw_fraction |")
print(f"| {'-' * w} | ------: | {'-' * wt} | ----: | ------------: | ----------: | ----: | "
      "------------------: |")
for s in summary:
    runs_col = f"{s['runs'][0]}+{s['runs'][1]}"
    print(f"| {s['model']:<{w}} | {s['n_threads']:7d} | {s['test']:<{wt}} | {runs_col:>5} | "
          f"{num(s['llama_cpp_ts'], '13.2f'):>13} | {num(s['tessera_ts'], '11.2f'):>11} | "
          f"{num(s['ratio'], '5.2f'):>5} | {num(s['tessera_bw_fraction'], '.3f'):>19} |")

llama_commit = next((r["results"][0].get("build_commit") for r in runs
                     if r["tool"] == "llama.cpp" and r["results"]), None)
with open(out, "w") as f:
    json.dump({"llama_cpp_build_commit": llama_commit, "load_average_end": load,
               "summary": summary, "runs": runs}, f, indent=1)
print(f"compare-llama: every run's JSON in {out}", file=sys.stderr)
PY
}

if [[ -n $summary_of ]]; then
  [[ -r $summary_of/runs.tsv ]] || die "no $summary_of/runs.tsv: not a comparison's folder"
  summarize "${summary_of%/}"
  exit
fi

build_llama
build_tessera

# ----------------------------------------------------------------- runs
stamp=$(date +%Y%m%d-%H%M%S)
out=$ROOT/build/compare-llama-$stamp.json
# each run's output as it is written, so that an interrupted comparison
# keeps what it measured
work=$ROOT/build/compare-llama-$stamp
mkdir -p "$work"
manifest=$work/runs.tsv # tool, model, threads, rep, output file

# run TOOL MODEL THREADS REP: one repetition of pp and tg, JSON kept.
run() {
  local tool=$1 model=$2 t=$3 i=$4
  local k f
  k=$(wc -l < "$manifest")
  f=$work/$k-$tool.json
  if [[ $tool == llama.cpp ]]; then
    "$LLAMA_BENCH" -m "$model" -t "$t" -p "$n_prompt" -n "$n_gen" -d "$depths" -r 1 -o json \
      > "$f" 2> "$work/$k-$tool.log" || { tail -5 "$work/$k-$tool.log" >&2; die "llama-bench failed"; }
  else
    "$TESSERA" bench -m "$model" -t "$t" -p "$n_prompt" -n "$n_gen" -d "$depths" -r 1 --json \
      > "$f" 2> "$work/$k-$tool.log" || { tail -5 "$work/$k-$tool.log" >&2; die "tessera bench failed"; }
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$tool" "$model" "$t" "$i" "$f" >> "$manifest"
}

: > "$manifest"
log "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
IFS=, read -ra thread_list <<< "$threads"
for model in "${models[@]}"; do
  for t in "${thread_list[@]}"; do
    for ((i = 1; i <= reps; i++)); do
      log "$(basename "$model") t=$t: rep $i of $reps: llama-bench"
      run llama.cpp "$model" "$t" "$i"
      log "$(basename "$model") t=$t: rep $i of $reps: tessera bench"
      run tessera "$model" "$t" "$i"
    done
  done
done

summarize "$work"
