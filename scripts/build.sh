#!/usr/bin/env bash
# Builds Juniper into BUILD_DIR (default ./build). SANITIZE=1: ASan+UBSan. LINE_TABLES_ONLY=1: -g1
# (the test command's builds: faster, backtraces keep file:line). TARGETS="a b": only those
# targets and what they need (the demo), default everything. Warnings are errors. Uses ccache
# when installed (scripts/install-deps.sh installs it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
type=${BUILD_TYPE:-RelWithDebInfo}
launcher=()
if command -v ccache >/dev/null; then
  # Fresh clones on one machine share the compiler cache: paths inside the clone are hashed
  # relative to it, and the build folder's own path is left out of the hash.
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=true
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE="$type" -DJUNIPER_WERROR=ON "${launcher[@]}" \
      -DJUNIPER_SANITIZE="${SANITIZE:-0}" -DJUNIPER_LINE_TABLES_ONLY="${LINE_TABLES_ONLY:-0}" >/dev/null
targets=()
for t in ${TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build" -j"$(nproc)" "${targets[@]}"
