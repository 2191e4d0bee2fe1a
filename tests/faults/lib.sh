# Shared by the fault scripts (sourced after they set build, root, PORT_BASE and NAME): a work
# folder, the mail stack on PORT_BASE, and the helpers they all use.
PY=/usr/bin/python3
W=$(mktemp -d "/tmp/juniper-$NAME.XXXXXX")
chmod 755 "$W"
MS=$W/mail
fails=0
serve_pids=()
cleanup() {
  [ ${#serve_pids[@]} -gt 0 ] && kill -TERM "${serve_pids[@]}" 2>/dev/null
  MAILSTACK_QUIET=1 bash "$root/tests/mailstack/stop.sh" "$MS" >/dev/null 2>&1 || true
  [ "${FAULT_KEEP:-0}" = 1 ] && echo "work folder kept: $W" || rm -rf "$W"
}
trap cleanup EXIT
check() {  # check NAME CONDITION-COMMAND...
  local name=$1; shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}
J() { local data=$1; shift; "$build/juniper" --data "$data" --modules-path "$build/modules" "$@"; }
# For background runs: the binary itself, so that $! is juniper (J in the background would be a
# subshell, and kill -9 would miss the process).
JX=("$build/juniper" --modules-path "$build/modules")
# Running (not finished: a finished child stays a zombie until waited for, and kill succeeds on it).
alive() { [ -r "/proc/$1/stat" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }
random_pause() { sleep "$("$PY" -c 'import random,sys; print(round(random.uniform(float(sys.argv[1]), float(sys.argv[2])), 3))' "$1" "$2")"; }

MAILSTACK_QUIET=1 bash "$root/tests/mailstack/start.sh" "$MS" "$PORT_BASE" >"$W/mailstack.log" 2>&1 ||
  { cat "$W/mailstack.log"; echo "the mail stack did not start"; exit 1; }
set -a; . "$MS/env"; set +a
