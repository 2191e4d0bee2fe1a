#!/bin/bash
# Stop everything start.sh started in DIR (Postfix, Dovecot, IdP).  Usage: stop.sh DIR
# All three at once: SIGTERM to each master, wait until their process groups are gone
# (zombies count as gone), SIGKILL whatever is left after STOP_TIMEOUT_MS (5000).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ $# -eq 1 ] || die "usage: stop.sh DIR"
[ -d "$1" ] || { note "$1: no such directory, nothing to stop"; exit 0; }
DIR=$(abs_dir "$1")
pids=()
postfix_pid; [ -n "$REPLY" ] && pids+=("$REPLY")
dovecot_pid; [ -n "$REPLY" ] && pids+=("$REPLY")
idp_pid; [ -n "$REPLY" ] && pids+=("$REPLY")
[ ${#pids[@]} -gt 0 ] && stop_pids "${pids[@]}"
rm -f "$DIR/run/idp.pid" "$DIR/spool/postfix/pid/master.pid"
release_port_base "$DIR"
now_ms
note "stopped in $(( REPLY - T0_MS )) ms ($DIR)"
exit 0
