#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the benchmarks need.
# Idempotent and fast when everything is present (one dpkg-query, no apt-get).
set -euo pipefail

PACKAGES=(
  # toolchain
  cmake ninja-build g++ ccache pkg-config make
  # libraries (DESIGN.md's chosen dependencies used so far)
  librust-blake3-dev libzstd-dev zlib1g-dev liblmdb-dev libboost1.81-dev
  libfmt-dev libspdlog-dev libcli11-dev nlohmann-json3-dev libexpected-dev
  libyaml-cpp-dev prometheus-cpp-dev libsodium-dev libssl-dev libprotobuf-dev protobuf-compiler
  # tests and benchmarks: references and tools they drive
  libgtest-dev libgmock-dev libbenchmark-dev b3sum zstd gzip util-linux coreutils bc time strace jq
  curl python3 procps prometheus
)
# `setup.sh --bench` adds what only the benchmarks use (nginx is bench/http.sh's anchor).
if [[ "${1:-}" == "--bench" ]]; then
  PACKAGES+=(nginx-light)
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then
    SUDO=(sudo)
  else
    echo "setup: these packages are missing and I am not root (and there is no sudo): ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
