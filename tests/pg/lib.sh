# Shared helpers for tests/pg/{start,stop,reset}.sh (sourced, not run).
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

die() { echo "tests/pg: $*" >&2; exit 1; }

# as_pg CMD...: runs CMD as the postgres OS user (root uses runuser; postgres runs it directly).
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  elif [[ $(id -un) == postgres ]]; then
    "$@"
  else
    die "must run as root or as the postgres user"
  fi
}

# pg_dir DIR: absolute path of DIR (which need not exist yet).
pg_dir() {
  [[ -n ${1:-} ]] || die "usage: $(basename "$0") DIR"
  realpath -m -- "$1"
}

# pg_running DIR: true when the server in DIR/data is up.
pg_running() { [[ -f $1/data/PG_VERSION ]] && as_pg "$PGBIN/pg_ctl" status -D "$1/data" >/dev/null 2>&1; }

# pg_port DIR: port of the running server (line 4 of postmaster.pid).
pg_port() { sed -n 4p "$1/data/postmaster.pid" 2>/dev/null; }

# pg_admin DIR PORT SQL...: runs SQL as the postgres superuser over the Unix socket in DIR.
pg_admin() {
  local dir=$1 port=$2; shift 2
  as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres "$@"
}

pg_log_tail() {
  if [[ -f $1/postgres.log ]]; then
    echo "--- last lines of $1/postgres.log:" >&2
    tail -n 25 "$1/postgres.log" >&2
  fi
}
