#!/bin/bash
# Stop or start the stack's Dovecot alone (IMAP, LMTP delivery, SASL auth for Postfix).
# Usage: dovecot.sh DIR stop|start|status      start: returns once IMAPS answers.
# While Dovecot is stopped Postfix keeps accepting connections but cannot authenticate
# (AUTH is not offered) and defers delivery (retried 10-30 s later, or at once after
# "postfix.sh DIR stop" + "start").
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ $# -eq 2 ] || die "usage: dovecot.sh DIR stop|start|status"
DIR=$(abs_dir "$1")
load_env "$DIR"
case $2 in
    stop) dovecot_stop ;;
    start)
        dovecot_pid
        if ! pid_alive "$REPLY"; then
            busy_ports "$IMAPS_PORT" ${IMAP_PORT:+"$IMAP_PORT"}
            [ -z "$REPLY" ] || die "port(s) $REPLY already in use"
        fi
        dovecot_start
        probe imaps ;;
    status)
        dovecot_pid
        if pid_alive "$REPLY"; then echo "dovecot running (pid $REPLY)"; else echo "dovecot stopped"; exit 3; fi ;;
    *) die "usage: dovecot.sh DIR stop|start|status" ;;
esac
