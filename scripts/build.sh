#!/usr/bin/env bash
# Builds Juniper into BUILD_DIR (default ./build). SANITIZE=1: ASan+UBSan. LINE_TABLES_ONLY=1: -g1
# (the test command's builds: faster, backtraces keep file:line). TARGETS="a b": only those
# targets and what they need (the demo), default everything. Warnings are errors.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
type=${BUILD_TYPE:-RelWithDebInfo}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE="$type" -DJUNIPER_WERROR=ON \
      -DJUNIPER_SANITIZE="${SANITIZE:-0}" -DJUNIPER_LINE_TABLES_ONLY="${LINE_TABLES_ONLY:-0}" >/dev/null
targets=()
for t in ${TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build" -j"$(nproc)" "${targets[@]}"
