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
  curl python3 procps prometheus iproute2
)
# The js-libp2p peer of the interop tests (tests/interop) needs node and npm. Only when
# node is missing do we take Debian's (bookworm: Node 18): the interop tests and
# bench/p2p.sh want Node >= 20.19 (js-libp2p 3) and skip with a message on an older one.
if ! command -v node >/dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
fi
# `setup.sh --bench` adds what only the benchmarks use (nginx is bench/http.sh's anchor,
# socat bench/content.sh's raw TCP anchor).
if [[ "${1:-}" == "--bench" ]]; then
  PACKAGES+=(nginx-light socat)
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
if [[ ${#missing[@]} -gt 0 ]]; then
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
fi

# npm packages of the interop peer, pinned by tests/interop/package-lock.json: installed
# when node_modules is missing or older than the lock file (npm writes
# node_modules/.package-lock.json on every install). A failure (offline, say) is only a
# warning: the interop tests then skip.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
INTEROP="$ROOT/tests/interop"
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
  ! [[ "$INTEROP/node_modules/.package-lock.json" -nt "$INTEROP/package-lock.json" ]]; then
  echo "setup: npm ci in tests/interop"
  npm ci --prefix "$INTEROP" --no-audit --no-fund --loglevel=error ||
    echo "setup: npm ci in tests/interop failed; the interop tests will skip" >&2
fi
