#!/bin/bash
# Stop or start the stack's Postfix alone (fault tests).  Usage: postfix.sh DIR stop|start|status
# stop: SIGTERM to the master, which ends its smtpd/qmgr/lmtp children (open SMTP sessions
# are cut); queued mail stays in DIR/spool/postfix and is delivered after "start".
# start: returns once submission answers (and offers AUTH when Dovecot is up).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ $# -eq 2 ] || die "usage: postfix.sh DIR stop|start|status"
DIR=$(abs_dir "$1")
load_env "$DIR"
case $2 in
    stop) postfix_stop ;;
    start)
        postfix_pid
        if ! pid_alive "$REPLY"; then
            busy_ports "$SMTP_PORT" ${SMTPS_PORT:+"$SMTPS_PORT"}
            [ -z "$REPLY" ] || die "port(s) $REPLY already in use"
        fi
        postfix_start
        dovecot_pid
        if pid_alive "$REPLY"; then probe smtp-auth; else probe smtp; fi ;;
    status)
        postfix_pid
        if pid_alive "$REPLY"; then echo "postfix running (pid $REPLY)"; else echo "postfix stopped"; exit 3; fi ;;
    *) die "usage: postfix.sh DIR stop|start|status" ;;
esac
