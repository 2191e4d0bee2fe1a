#!/usr/bin/env bash
# Usage: tests/pg/reset.sh DIR   — drops and recreates the `juniper` database (owner juniper) in
# the running test server from tests/pg/start.sh DIR, disconnecting any open sessions.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
dir=$(pg_dir "${1:-}")
pg_running "$dir" || die "no test server running in $dir (run tests/pg/start.sh $dir first)"
port=$(pg_port "$dir")
pg_admin "$dir" "$port" -c 'DROP DATABASE IF EXISTS juniper WITH (FORCE)' \
  -c 'CREATE DATABASE juniper OWNER juniper' || die "resetting database juniper failed"
