#!/usr/bin/env bash
# Installs every Debian package ntneural needs to build, test and benchmark.
# Idempotent: packages already present are skipped, and `apt-get update` runs at most once,
# only when something is missing, so a second run takes well under a second.
#   scripts/setup.sh          build + test + benchmark dependencies
#   scripts/setup.sh --torch  also Debian's PyTorch, for the side-by-side benchmarks and the
#                             golden-fixture generator only (never a runtime dependency)
set -euo pipefail

packages=(
  build-essential     # g++ 12 (C++20), make
  cmake ninja-build   # build system
  libgtest-dev libgmock-dev     # unit tests
  libbenchmark-dev libbenchmark-tools  # Google Benchmark + compare.py
  libopenblas-openmp-dev        # SGEMM; OpenMP build so BLAS and our parallel_for share one runtime
  nlohmann-json3-dev            # JSON (bench output, artifact metadata)
  libcli11-dev                  # command-line parsing for the ntneural binary
  libxxhash-dev                 # XXH3 checksums of model artifacts and checkpoints
  libsqlite3-dev libssl-dev     # model registry: SQLite file, SHA-256 content addresses (libcrypto)
  pybind11-dev python3-dev python3-numpy python3-pytest python3-pandas  # the Python package, its tests (pandas: long frames)
  python3 python3-scipy         # compare.py (Google Benchmark) needs scipy
  clang libclang-rt-14-dev libomp-dev  # libFuzzer targets (fuzz preset): clang, its fuzzer runtime, OpenMP
  libopenmpi-dev openmpi-bin    # training over MPI ranks (mpirun), tested on this machine's loopback
  openssh-client                # mpirun's launcher looks for an rsh agent even for local ranks
  chromium poppler-utils python3-pil  # the report test: render it headless, read its printed text and pixels
)

if [ "${1:-}" = "--torch" ]; then
  # python3-torch falls back to the reference BLAS (~20x slower) without an optimised one.
  packages+=(python3-torch libopenblas0-openmp python3-numpy)
fi

missing=()
for p in "${packages[@]}"; do
  # dpkg-query prints "install ok installed" only for a fully installed package.
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
