#!/usr/bin/env bash
# How far generation can scale with threads on this machine, and how much
# of that Tessera gets. Opt-in (not run by CI or `make check`).
#
#   bench/thread-scaling.sh [-m MODEL]... [-t T] [-r 5] [-n 64]
#
#   -m MODEL  a GGUF file; repeat for several (default: SmolLM2-135M-Instruct
#             Q4_1 and Qwen2.5-Coder-0.5B-Instruct Q4_K_M from the model cache,
#             ${TESSERA_CACHE:-~/.cache/tessera}/models)
#   -t T      threads to scale to (default 2; at most the online cores)
#   -r R      rounds (default 5)
#   -n N      generated tokens per test (default 64)
#
# Each round runs three tg tests of `tessera bench` (-p 0 -r 1), in turn:
#   1t    one process, one thread;
#   Tt    one process, T threads;
#   T×1t  T one-thread processes at once, each pinned to its own core.
# Generation reads every weight once per token, so its speed is bound by
# the memory bandwidth that the cores share. T×1t is the most T cores can
# generate with no synchronization at all (every process streams the whole
# model per token, as the threads of one process do together): the sum of
# its processes' t/s is the ceiling for Tt. The table (stdout) gives the
# medians over the rounds and three ratios: scaling (Tt / 1t), ceiling
# (T×1t / 1t) and efficiency (Tt / T×1t). Progress goes to stderr.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${TESSERA_CACHE:-$HOME/.cache/tessera}
TESSERA=$ROOT/build/tessera

log() { echo "thread-scaling: $*" >&2; }
bad() { sed -n '7,14p' "$0" | sed 's/^# \{0,1\}//' >&2; log "$*"; exit 2; }

models=()
threads=2 reps=5 n_gen=64
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) sed -n '7,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -m|-t|-r|-n)
      [[ $# -ge 2 ]] || bad "$1 needs a value"
      [[ $1 == -m || $2 =~ ^[1-9][0-9]*$ ]] || bad "$1 wants a positive integer, got '$2'"
      case "$1" in
        -m) models+=("$2") ;;
        -t) threads=$2 ;;
        -r) reps=$2 ;;
        -n) n_gen=$2 ;;
      esac
      shift 2 ;;
    *) bad "unknown argument '$1'" ;;
  esac
done
cores=$(nproc)
((threads >= 2 && threads <= cores)) || bad "-t wants 2 to $cores threads (online cores), got $threads"
if [[ ${#models[@]} -eq 0 ]]; then
  models=("$CACHE/models/SmolLM2-135M-Instruct.Q4_1.gguf"
          "$CACHE/models/Qwen2.5-Coder-0.5B-Instruct-AWQ.Q4_K_M.gguf")
fi
for m in "${models[@]}"; do
  [[ -r $m ]] || { log "no model $m (scripts/fetch-model.sh smollm2 / qwen2.5-coder)"; exit 1; }
done
[[ -x $TESSERA ]] || { log "building tessera (make: Release, build/)"; make -C "$ROOT" >&2; }

# tg MODEL THREADS [CPU]: one tg test's t/s on stdout.
tg() {
  local pin=()
  [[ $# -ge 3 ]] && pin=(taskset -c "$3")
  "${pin[@]}" "$TESSERA" bench -m "$1" -t "$2" -p 0 -n "$n_gen" -r 1 --json 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["avg_ts"])'
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
for model in "${models[@]}"; do
  name=$(basename "$model")
  for ((i = 1; i <= reps; i++)); do
    log "$name: round $i of $reps"
    echo "$name 1t $(tg "$model" 1)" >> "$work/runs"
    echo "$name ${threads}t $(tg "$model" "$threads")" >> "$work/runs"
    for ((c = 0; c < threads; c++)); do tg "$model" 1 "$c" > "$work/p$c" & done
    wait
    echo "$name ${threads}x1t $(awk '{s += $1} END {print s}' "$work"/p*)" >> "$work/runs"
    rm -f "$work"/p*
  done
done

python3 - "$work/runs" "$threads" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import statistics, sys
path, t, load = sys.argv[1], sys.argv[2], sys.argv[3]
runs = {}
for line in open(path):
    model, test, ts = line.split()
    runs.setdefault(model, {}).setdefault(test, []).append(float(ts))
print(f"generation t/s, medians of the rounds; load average at the end {load}")
print()
w = max(len("model"), *map(len, runs))
print(f"| {'model':<{w}} | 1t t/s | {t}t t/s | {t}x1t t/s | scaling {t}t/1t | "
      f"ceiling {t}x1t/1t | efficiency {t}t/{t}x1t |")
print(f"| {'-' * w} | -----: | -----: | -------: | ------------: | "
      "----------------: | -------------------: |")
for model, r in runs.items():
    one, many, ceil = (statistics.median(r[k]) for k in ("1t", f"{t}t", f"{t}x1t"))
    print(f"| {model:<{w}} | {one:6.1f} | {many:6.1f} | {ceil:8.1f} | {many / one:13.2f} | "
          f"{ceil / one:16.2f} | {many / ceil:20.2f} |")
PY
