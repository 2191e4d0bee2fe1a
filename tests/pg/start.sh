#!/usr/bin/env bash
# Usage: tests/pg/start.sh DIR [PORT]   (PORT defaults to 15432)
# Starts a private, throw-away PostgreSQL 15 for tests: data in DIR/data, log in DIR/postgres.log,
# Unix socket in DIR, TCP on 127.0.0.1:PORT only with trust auth, fsync off. Creates the superuser
# role `juniper` and database `juniper`. Prints postgresql://juniper@127.0.0.1:PORT/juniper as the
# last stdout line and writes it to DIR/url. Reuses DIR/data from an earlier run (starts it if
# stopped; prints the URL if already running). Never touches the Debian cluster/service.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

dir=$(pg_dir "${1:-}")
port=${2:-15432}
[[ $port =~ ^[0-9]+$ && $port -ge 1024 && $port -le 65535 ]] || die "bad port '$port' (want 1024-65535)"
url="postgresql://juniper@127.0.0.1:$port/juniper"

# Packages (never starts the Debian cluster: we only use the binaries).
if ! command -v "$PGBIN/initdb" >/dev/null; then
  [[ $(id -u) -eq 0 ]] || die "$PGBIN/initdb missing and not root: apt-get install postgresql-15"
  echo "installing postgresql-15..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends postgresql-15 >&2 \
    || { apt-get update >&2 && apt-get install -y --no-install-recommends postgresql-15 >&2; } \
    || die "apt-get install postgresql-15 failed"
fi
id postgres >/dev/null 2>&1 || die "no 'postgres' OS user (is postgresql-15 installed?)"

# The socket path must fit in sun_path (107 bytes).
(( ${#dir} + 18 <= 107 )) || die "DIR path too long for a Unix socket (${#dir} chars): $dir"

# DIR: owned by postgres, 0755; its parent must be traversable by postgres.
parent=$(dirname "$dir")
[[ -d $parent ]] || mkdir -p -- "$parent"
as_pg test -x "$parent" \
  || die "postgres cannot reach $parent (a parent directory lacks o+x; e.g. chmod 755 it, or pick another DIR)"
[[ -d $dir ]] || mkdir -- "$dir"
if [[ $(id -u) -eq 0 ]]; then
  chown postgres:postgres -- "$dir"
  chmod 755 -- "$dir"
fi
as_pg test -w "$dir" -a -x "$dir" || die "postgres cannot write to $dir"

fail() { echo "tests/pg: $*" >&2; pg_log_tail "$dir"; exit 1; }

# Already running (reuse)? A postmaster that was just killed can still look alive for a moment
# (zombie, or still starting up/shutting down): wait up to 10 s for it to answer or to vanish.
if pg_running "$dir"; then
  running_port=$(pg_port "$dir")
  [[ $running_port == "$port" ]] \
    || die "the server in $dir is already running on port $running_port, not $port (stop it first)"
  for _ in $(seq 50); do
    as_pg "$PGBIN/pg_isready" -q -h "$dir" -p "$port" && break
    pg_running "$dir" || break
    sleep 0.2
  done
  pg_running "$dir" && ! as_pg "$PGBIN/pg_isready" -q -h "$dir" -p "$port" \
    && fail "the server in $dir has a live postmaster.pid but does not answer on port $port"
fi
if ! pg_running "$dir"; then
  # Refuse a busy port before starting.
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null \
     || ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
    die "port $port is already in use (pick another: $(basename "$0") DIR PORT)"
  fi

  if [[ ! -f $dir/data/PG_VERSION ]]; then
    [[ ! -e $dir/data ]] || [[ -z $(ls -A "$dir/data") ]] \
      || die "$dir/data exists but is not a PostgreSQL data directory"
    as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=peer --auth-host=reject --no-sync >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    as_pg tee "$dir/data/pg_hba.conf" >/dev/null <<'HBA'
# tests/pg: the postgres OS user over the Unix socket; anyone over 127.0.0.1 (throw-away server)
local all postgres          peer
host  all all      127.0.0.1/32 trust
HBA
    echo "include_if_exists = 'juniper_test.conf'" | as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
  fi
  # Rewritten on each start so the port (and DIR, if moved) can change.
  as_pg tee "$dir/data/juniper_test.conf" >/dev/null <<CONF
# written by tests/pg/start.sh
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
logging_collector = off
log_min_messages = warning
CONF
  as_pg "$PGBIN/pg_ctl" start -w -t 30 -D "$dir/data" -l "$dir/postgres.log" >/dev/null 2>&1 \
    || fail "pg_ctl start failed (DIR=$dir, port $port)"
fi

# Role and database (idempotent).
pg_admin "$dir" "$port" <<'SQL' || fail "creating role/database juniper failed"
SELECT 'CREATE ROLE juniper LOGIN SUPERUSER'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'juniper') \gexec
SELECT 'CREATE DATABASE juniper OWNER juniper'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'juniper') \gexec
SQL

echo "$url" | as_pg tee "$dir/url" >/dev/null
echo "$url"
