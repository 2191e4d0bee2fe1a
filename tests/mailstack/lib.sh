# shellcheck shell=bash
# Helpers shared by the mailstack scripts (sourced, not executed).
# Process creation is slow on this kind of machine (gVisor: ~20-30 ms per fork+exec), so
# the helpers use bash builtins and /proc instead of ps/ss/cut/date where they can.

MAILSTACK_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3   # not a pyenv shim: those sometimes take seconds to start
POSTFIX_DAEMON_DIR=/usr/lib/postfix/sbin

die() { echo "mailstack: $*" >&2; exit 1; }
note() { [ -n "${MAILSTACK_QUIET:-}" ] || echo "mailstack: $*" >&2; }

now_ms() { local t=${EPOCHREALTIME/./}; REPLY=$(( t / 1000 )); }
T0_MS=${T0_MS:-}
[ -n "$T0_MS" ] || { now_ms; T0_MS=$REPLY; }
# MAILSTACK_TIMING=1: print elapsed milliseconds at checkpoints.
tick() {
    [ -n "${MAILSTACK_TIMING:-}" ] || return 0
    now_ms; echo "mailstack: +$(( REPLY - T0_MS )) ms $*" >&2
}

# Absolute path of an existing directory.
abs_dir() { (cd "$1" 2>/dev/null && pwd -P) || die "no such directory: $1"; }

# Load DIR/env (written by start.sh).
load_env() {
    [ -f "$1/env" ] || die "$1/env not found: run start.sh $1 first"
    # shellcheck disable=SC1091
    . "$1/env"
}

# read_pid FILE: digits of FILE in REPLY ("" if missing).
read_pid() {
    REPLY=""
    [ -f "$1" ] && read -r REPLY <"$1" 2>/dev/null
    REPLY=${REPLY//[^0-9]/}
    return 0
}

# proc_stat PID: sets P_STATE and P_PGID from /proc/PID/stat; 1 if there is no such process.
proc_stat() {
    local line rest
    P_STATE="" P_PGID=""
    [ -n "$1" ] || return 1
    read -r line 2>/dev/null <"/proc/$1/stat" || return 1
    rest=${line##*) }                  # after "(comm) " (comm may hold spaces)
    read -r P_STATE _ P_PGID _ <<<"$rest"
    return 0
}

# 0 if the pid is alive and not a zombie (pid 1 here reaps re-parented daemons late).
pid_alive() {
    proc_stat "$1" || return 1
    [ "$P_STATE" != Z ] && [ "$P_STATE" != X ]
}

# Live (non-zombie) members of process group $1, in REPLY (space separated).
pgrp_members() {
    local f pid
    REPLY=""
    for f in /proc/[0-9]*/stat; do
        pid=${f#/proc/}; pid=${pid%/stat}
        proc_stat "$pid" || continue
        [ "$P_PGID" = "$1" ] && [ "$P_STATE" != Z ] && [ "$P_STATE" != X ] && REPLY="$REPLY $pid"
    done
    return 0
}

# Stop the daemons whose leader pids are given: SIGTERM each one's process group, wait
# (zombies count as gone), then SIGKILL whatever is left of their process groups.  Every daemon here
# is the leader of its own session and process group (Postfix and Dovecot masters call
# setsid(), idp.py too), so the group holds exactly what it started.
stop_pids() {
    local pid left deadline
    local -A group_termed=()
    for pid in "$@"; do
        proc_stat "$pid" || continue
        if [ "$P_PGID" = "$pid" ]; then
            # Whole group at once: Dovecot's master alone needs ~0.8 s to wind down and
            # its auth process lingers ~2 s more while Postfix holds a connection to it.
            kill -TERM -- "-$pid" 2>/dev/null || true
            group_termed[$pid]=1
        else
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    now_ms; deadline=$(( REPLY + ${STOP_TIMEOUT_MS:-5000} ))
    while :; do
        left=""
        for pid in "$@"; do
            if pid_alive "$pid"; then left="$left $pid"; continue; fi
            pgrp_members "$pid"
            [ -n "$REPLY" ] || continue
            left="$left $pid"
            # The leader is gone but children linger (Dovecot's auth process keeps
            # serving Postfix's open connection for ~2 s): SIGTERM them once.
            if [ -z "${group_termed[$pid]:-}" ]; then
                group_termed[$pid]=1
                kill -TERM -- "-$pid" 2>/dev/null || true
            fi
        done
        [ -z "$left" ] && return 0
        now_ms; [ "$REPLY" -ge "$deadline" ] && break
        sleep 0.03
    done
    for pid in $left; do
        note "process group $pid did not stop in time: SIGKILL"
        kill -KILL -- "-$pid" 2>/dev/null || true
        kill -KILL "$pid" 2>/dev/null || true
    done
    sleep 0.1
    return 0
}

# busy_ports PORT...: the ones some socket is LISTENing on (any address), in REPLY.
busy_ports() {
    local f local_addr st rest port p
    local -A want=()
    for p in "$@"; do want[$p]=1; done
    REPLY=""
    for f in /proc/net/tcp /proc/net/tcp6; do
        [ -r "$f" ] || continue
        while read -r _ local_addr _ st rest; do
            [ "$st" = 0A ] || continue
            port=$(( 16#${local_addr##*:} ))
            [ -n "${want[$port]:-}" ] && [[ " $REPLY " != *" $port "* ]] && REPLY="$REPLY $port"
        done <"$f"
    done
    REPLY=${REPLY# }
    return 0
}

# write_file FILE|-: stdin (a here-document) to FILE (- = stdout) without spawning cat.
write_file() {
    local content
    IFS= read -r -d '' content || true
    if [ "$1" = - ]; then printf '%s' "$content"; else printf '%s' "$content" >"$1"; fi
}

# ---------------------------------------------------------------- Postfix
postfix_pid() { read_pid "$DIR/spool/postfix/pid/master.pid"; }

postfix_start() {
    local q=$DIR/spool/postfix
    local owned="active bounce corrupt defer deferred flush hold incoming private saved trace"
    postfix_pid
    if pid_alive "$REPLY"; then note "postfix already running (pid $REPLY)"; return 0; fi
    if [ ! -f "$q/.mailstack-layout" ]; then
        # Queue layout as postfix-files makes it (what `postfix start` would check and fix).
        (cd "$DIR" && mkdir -p spool/postfix/pid lib/postfix &&
            cd "$q" && mkdir -p $owned maildrop public &&
            chown postfix $owned ../../lib/postfix && chmod 700 $owned ../../lib/postfix &&
            chown postfix:postdrop maildrop public && chmod 730 maildrop && chmod 710 public) ||
            die "cannot create the Postfix queue under $q"
        : >"$q/.mailstack-layout"
    fi
    rm -f "$q/pid/master.pid"
    # Direct master start: `postfix start` would first run `postfix check` (~0.6 s).
    # -w: the foreground process returns once the daemon has initialised.
    MAIL_CONFIG=$DIR/etc/postfix "$POSTFIX_DAEMON_DIR/master" -c "$DIR/etc/postfix" -w \
        </dev/null >>"$DIR/log/postfix.log" 2>&1 ||
        die "postfix master failed to start; see $DIR/log/postfix.log"
}

postfix_stop() {
    postfix_pid
    [ -n "$REPLY" ] && stop_pids "$REPLY"
    return 0
}

# ---------------------------------------------------------------- Dovecot
dovecot_pid() { read_pid "$DIR/run/dovecot/master.pid"; }

dovecot_start() {
    dovecot_pid
    if pid_alive "$REPLY"; then note "dovecot already running (pid $REPLY)"; return 0; fi
    # </dev/null >>log 2>&1: Dovecot keeps stderr open otherwise, and a caller reading our
    # output through a pipe would never see EOF.
    /usr/sbin/dovecot -c "$DIR/etc/dovecot/dovecot.conf" </dev/null >>"$DIR/log/dovecot.log" 2>&1 ||
        die "dovecot failed to start; see $DIR/log/dovecot.log"
}

dovecot_stop() {
    dovecot_pid
    [ -n "$REPLY" ] && stop_pids "$REPLY"
    return 0
}

# ---------------------------------------------------------------- IdP
idp_pid() { read_pid "$DIR/run/idp.pid"; }

idp_start() {
    idp_pid
    if pid_alive "$REPLY"; then note "idp already running (pid $REPLY)"; return 0; fi
    local args=(--port "$IDP_PORT" --https-port "$IDP_HTTPS_PORT"
        --cert "$DIR/tls/server.crt" --key "$DIR/tls/server.key"
        --log-file "$DIR/log/idp.log" --pid-file "$DIR/run/idp.pid"
        --tenant-id "$IDP_TENANT_ID")
    [ -n "${DEMO_CLIENT_ID:-}" ] && args+=(--client-id "$DEMO_CLIENT_ID"
        --app-name "${DEMO_APP_NAME:-Juniper (test)}" --app-tenant "${DEMO_APP_TENANT:-multi}")
    [ -n "${DEMO_REDIRECT_URI:-}" ] && args+=(--redirect-uri "$DEMO_REDIRECT_URI")
    [ -n "${IDP_ACCESS_TOKEN_LENGTH:-}" ] && args+=(--access-token-length "$IDP_ACCESS_TOKEN_LENGTH")
    # The Google OAuth client of the IdP's Google simulation (google_sim.py).
    [ -n "${DEMO_GOOGLE_CLIENT_ID:-}" ] && args+=(--google-client-id "$DEMO_GOOGLE_CLIENT_ID")
    [ -n "${DEMO_GOOGLE_REDIRECT_URI:-}" ] && args+=(--google-redirect-uri "$DEMO_GOOGLE_REDIRECT_URI")
    # Postfix's policy service (Exchange's envelope sender rule); env files older than it lack it.
    [ -n "${POLICY_PORT:-}" ] && args+=(--policy-port "$POLICY_PORT")
    rm -f "$DIR/run/idp.pid"
    # The demo secrets go through the environment, not the command line (ps shows that).
    IDP_DEMO_CLIENT_SECRET=${DEMO_CLIENT_SECRET:-} IDP_GOOGLE_CLIENT_SECRET=${DEMO_GOOGLE_CLIENT_SECRET:-} \
        "$PY" "$MAILSTACK_HOME/idp.py" "${args[@]}" </dev/null >>"$DIR/log/idp.log" 2>&1 &
    echo $! >"$DIR/run/idp.pid"
}

idp_stop() {
    idp_pid
    [ -n "$REPLY" ] && stop_pids "$REPLY"
    return 0
}

# probe CHECK...: wait until the services answer (idp smtp smtp-auth imaps); see probe.py.
probe() {
    "$PY" "$MAILSTACK_HOME/probe.py" "$DIR/env" "${PROBE_TIMEOUT:-10}" "$@"
}

# The port bases start.sh may pick by itself ("auto"): 1000 apart, so no two stacks' ports meet.
PORT_CLAIMS=/tmp/juniper-mailstack-ports
# pick_port_base DIR: a base whose ports are free right now, claimed with an atomic mkdir so two
# stacks starting at once never take the same one (stop.sh gives it back). Sets PORT_BASE.
# Only bases whose ports lie outside the kernel's ephemeral range: a port in it can be taken by
# any outgoing connection between the probe and the bind ("Address already in use").
port_bases() {
    local low high b
    read -r low high < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || { low=32768; high=60999; }
    for b in $(seq 20000 1000 64000); do
        if (( b + 993 < low || b + 80 > high )); then echo "$b"; fi
    done
}
pick_port_base() {
    local k base try owner bases
    mkdir -p "$PORT_CLAIMS"
    mapfile -t bases < <(port_bases)
    (( ${#bases[@]} > 0 )) || die "no port base outside the ephemeral range $(cat /proc/sys/net/ipv4/ip_local_port_range)"
    for try in $(seq 120); do
        k=$(( (RANDOM + try) % ${#bases[@]} )); base=${bases[$k]}
        if ! mkdir "$PORT_CLAIMS/$base" 2>/dev/null; then
            # A claim whose stack folder is gone was left by a killed run: take it back.
            owner=$(cat "$PORT_CLAIMS/$base/dir" 2>/dev/null || true)
            [ -n "$owner" ] && [ ! -d "$owner" ] && rm -rf "$PORT_CLAIMS/$base"
            continue
        fi
        busy_ports $((base + 80)) $((base + 143)) $((base + 443)) $((base + 465)) $((base + 587)) $((base + 588)) $((base + 993))
        if [ -z "$REPLY" ]; then
            echo "$1" >"$PORT_CLAIMS/$base/dir"
            PORT_BASE=$base
            return 0
        fi
        rm -rf "$PORT_CLAIMS/$base"  # something else listens there
    done
    die "no free port base found between 20000 and 59000"
}
# release_port_base DIR: gives back the base a stack in DIR claimed.
release_port_base() {
    local c
    for c in "$PORT_CLAIMS"/*/dir; do
        [ -f "$c" ] && [ "$(cat "$c" 2>/dev/null)" = "$1" ] && rm -rf "$(dirname "$c")"
    done
    return 0
}

