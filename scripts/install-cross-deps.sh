#!/usr/bin/env bash
# Install what `make neon-check` needs on a Debian x86-64 machine to build
# the ARM64 NEON paths and run them under emulation: the cross compiler,
# qemu-user, and the arm64 (multiarch) -dev packages of the libraries the
# configure step looks for — cmocka for the kernel tests; OpenSSL, jansson
# and PCRE2 for the upper layers, which neon-check does not build but
# CMake finds. Idempotent and quick when everything is present; needs root
# (or sudo) only when something is missing.
set -euo pipefail

APT_PACKAGES=(
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
  libcmocka-dev:arm64 libssl-dev:arm64 libjansson-dev:arm64 libpcre2-dev:arm64
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-cross-deps: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  dpkg --print-foreign-architectures | grep -qx arm64 || $SUDO dpkg --add-architecture arm64
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
echo "install-cross-deps: ARM64 cross toolchain and qemu-user present"
