#!/usr/bin/env bash
# Install what Tessera's build and tests need: Debian packages and PyPI
# packages. Idempotent and quick when everything is present (it checks before
# it installs). Needs root (or sudo) only when something is missing.
set -euo pipefail

# Debian packages: compiler toolchain, libraries the layers link, test tools.
APT_PACKAGES=(
  build-essential cmake pkg-config clang libclang-rt-dev
  libcmocka-dev libssl-dev libjansson-dev libpcre2-dev
  python3 python3-pip unzip
)
# PyPI packages (pinned): the GGUF reference reader and the test runner.
PIP_PACKAGES=(gguf==0.19.0 numpy pytest)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

PY=${PYTHON:-python3}
if ! $PY - "${PIP_PACKAGES[@]}" <<'PYEOF'
import sys
from importlib import metadata
for spec in sys.argv[1:]:
    name, _, want = spec.partition("==")
    try:
        have = metadata.version(name)
    except metadata.PackageNotFoundError:
        sys.exit(1)
    if want and have != want:
        sys.exit(1)
PYEOF
then
  echo "install-deps: installing PyPI packages: ${PIP_PACKAGES[*]}"
  # Debian's own python refuses plain installs (PEP 668); a pyenv or venv
  # python takes them as they are.
  $PY -m pip install -q --disable-pip-version-check "${PIP_PACKAGES[@]}" ||
    $PY -m pip install -q --disable-pip-version-check --break-system-packages "${PIP_PACKAGES[@]}"
fi
echo "install-deps: all dependencies present"
