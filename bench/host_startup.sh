#!/usr/bin/env bash
# Host start-up: exec -> `juniper module list` output, and exec -> `juniper serve` answering
# /web/health, on SQLite with the Microsoft Outlook module installed. Baseline: `true` (process
# spawn cost) measured in the same run. Usage: bench/host_startup.sh [BUILD_DIR] [RUNS]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
runs=${2:-20}
data=$(mktemp -d /tmp/juniper-bench.XXXXXX)
trap 'rm -rf "$data"' EXIT
J=("$build/juniper" --data "$data" --modules-path "$build/modules")
"${J[@]}" init >/dev/null
"${J[@]}" module install microsoft_outlook >/dev/null
ms() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
list=(); serve=(); base=()
for _ in $(seq "$runs"); do
  t0=$(ms); true; t1=$(ms); base+=($(( (t1-t0)/1000 )))
  t0=$(ms); "${J[@]}" module list >/dev/null; t1=$(ms); list+=($(( (t1-t0)/1000 )))
  t0=$(ms)
  "${J[@]}" serve --listen "127.0.0.1:$port" >/dev/null 2>&1 &
  pid=$!
  until curl -fs "http://127.0.0.1:$port/web/health" >/dev/null 2>&1; do sleep 0.002; done
  t1=$(ms); serve+=($(( (t1-t0)/1000 )))
  rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  kill -TERM $pid; wait $pid || true
done
b=$(printf '%s\n' "${base[@]}" | median); l=$(printf '%s\n' "${list[@]}" | median); s=$(printf '%s\n' "${serve[@]}" | median)
printf '%-44s %10s %12s\n' "measure (median of $runs)" "juniper" "baseline"
printf '%-44s %8s us %10s us   (baseline: spawn of `true`)\n' "exec -> module list output" "$l" "$b"
printf '%-44s %8s us %10s us\n' "exec -> serve answers /web/health" "$s" "$b"
printf '%-44s %8s kB\n' "serve resident memory, idle" "$rss"
