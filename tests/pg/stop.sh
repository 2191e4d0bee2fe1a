#!/usr/bin/env bash
# Usage: tests/pg/stop.sh DIR   — stops the test server started by tests/pg/start.sh DIR
# (pg_ctl stop -m fast). Succeeds quietly if it is not running or DIR does not exist.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
dir=$(pg_dir "${1:-}")
pg_running "$dir" || exit 0
as_pg "$PGBIN/pg_ctl" stop -D "$dir/data" -m fast -w -t 30 >/dev/null 2>&1 \
  || { pg_running "$dir" && { pg_log_tail "$dir"; die "pg_ctl stop failed for $dir"; }; }
exit 0
