#!/usr/bin/env bash
# A third party's view of the SDK: `cmake --install` the build into a prefix, build
# examples/hello out of tree against that prefix only (find_package(JuniperSDK)), and load it in
# the installed `juniper`: its setting, record type, action and route all work.
# Usage: test_out_of_tree.sh BUILD_DIR
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$1" && pwd)
work=$(mktemp -d /tmp/juniper-sdk.XXXXXX)
trap 'kill "${serve_pid:-}" 2>/dev/null; rm -rf "$work"' EXIT
passed=0; failed=0
ok() { echo "ok   $1"; passed=$((passed+1)); }
ko() { echo "FAIL $1"; failed=$((failed+1)); }
expect() {  # expect DESCRIPTION OUTPUT_FRAGMENT -- command...
  local what=$1 frag=$2; shift 3
  local out
  if out=$("$@" 2>&1) && [[ "$out" == *"$frag"* ]]; then ok "$what"; else ko "$what (output: ${out: -600})"; fi
}

prefix=$work/prefix
expect "cmake --install puts host, modules and SDK in a prefix" "" -- cmake --install "$build" --prefix "$prefix"
for f in bin/juniper include/juniper/sdk/module.hpp include/juniper/sdk/c/juniper_abi.h lib/cmake/JuniperSDK/JuniperSDKConfig.cmake \
         lib/juniper/modules/microsoft_outlook.so lib/juniper/modules/microsoft_outlook.json; do
  [[ -e $prefix/$f ]] && ok "installed $f" || ko "not installed: $f"
done

# Out of tree: nothing of this source tree but examples/hello itself (copied away from it).
cp -r "$root/examples/hello" "$work/src"
start=$SECONDS
expect "examples/hello configures against the installed SDK alone" "" -- \
  cmake -S "$work/src" -B "$work/hello" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release
expect "examples/hello builds" "" -- cmake --build "$work/hello"
echo "     (configured and built in $((SECONDS-start)) s)"
expect "the manifest is generated from the one declaration" '"abi": {"major": 1, "minor": ' -- cat "$work/hello/modules/hello.json"
expect "only the entry symbol is exported" "juniper_module_get_descriptor_v1" -- nm -D --defined-only "$work/hello/modules/hello.so"
[[ $(nm -D --defined-only "$work/hello/modules/hello.so" | grep -c ' T ') -eq 1 ]] && ok "one exported function" || ko "more than the entry symbol exported"

jn() { "$prefix/bin/juniper" --data "$work/data" --modules-path "$work/hello/modules" "$@"; }
expect "the installed host initialises" "admin password" -- jn init
expect "and installs the out-of-tree module" "" -- jn module install hello
expect "its module list entry comes from the generated metadata" '"display_name": "Hello"' -- jn module list --json
expect "its setting" "hello_word (Greeting Word) = Hello" -- jn settings show
expect "set like any setting" "" -- jn settings set hello_word=Bonjour
id=$(jn record create hello.greeting name=Ada --json | sed -n 's/.*"id": *\([0-9]*\).*/\1/p')
[[ -n $id ]] && ok "its record type" || ko "record create hello.greeting failed"
expect "its action" "Bonjour, Ada!" -- jn record action hello.greeting "$id" greet
# The default paths of the installed host also find the installed Outlook module.
expect "the installed host finds its own modules in <prefix>/lib/juniper/modules" "microsoft_outlook" -- \
  "$prefix/bin/juniper" --data "$work/data" module list
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The binary itself in the background, not the jn function: $! would be a subshell, and the
# kill below would leave the server running after the test.
"$prefix/bin/juniper" --data "$work/data" --modules-path "$work/hello/modules" serve --listen "127.0.0.1:$port" \
  >"$work/serve.out" 2>&1 &
serve_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/web/health" >/dev/null && break; sleep 0.1; done
expect "its route" "Bonjour, world!" -- curl -sf "http://127.0.0.1:$port/hello/greet"
kill "$serve_pid"; wait "$serve_pid" 2>/dev/null; serve_pid=""
pgrep -f -- "--data $work/data" >/dev/null && ko "the server is still running after the test" || ok "the server stopped"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
