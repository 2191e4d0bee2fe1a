#!/usr/bin/env bash
# Builds Juniper into BUILD_DIR (default ./build). SANITIZE=1: ASan+UBSan. LINE_TABLES_ONLY=1: -g1
# (the test command's builds: faster, backtraces keep file:line). TARGETS="a b": only those
# targets and what they need (the demo), default everything. UNITY=1: the host and modules as
# unity sources (the demo's own build folder). Warnings are errors. Uses ccache
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
generator=()
# A new folder is generated for Ninja when it is installed: it compiles a library's sources while
# the libraries below it still build (Make waits for each), which unity sources need on 2 cores.
if [[ ! -f "$build/CMakeCache.txt" && "${NINJA:-0}" == 1 ]] && command -v ninja >/dev/null; then generator=(-G Ninja); fi
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE="$type" -DJUNIPER_WERROR=ON "${launcher[@]}" "${generator[@]}" \
      -DJUNIPER_SANITIZE="${SANITIZE:-0}" -DJUNIPER_LINE_TABLES_ONLY="${LINE_TABLES_ONLY:-0}" \
      -DJUNIPER_UNITY="${UNITY:-0}" >/dev/null
targets=()
for t in ${TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build" -j"$(nproc)" "${targets[@]}"
