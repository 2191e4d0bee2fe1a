#!/usr/bin/env bash
# Crash tests of the IMAP fetch, with real processes against the real Dovecot:
#   1. `kill -9` of `juniper mail fetch` at random moments, KILLS times, over COUNT unseen messages
#      (small batches, so kills land between store, commit and \Seen): no message is left Seen
#      without being stored; then normal runs store every message exactly once.
#   2. Dovecot stopped in the middle of a fetch of SCOUNT messages (once the run has stored its
#      first ones, and checked to have landed before the last): the error is recorded on the
#      server, nothing Seen is unstored; Dovecot back: the next run stores the rest, each once.
#   3. the same kills during fetches through (simulated) Microsoft Graph: the Outlook module lists,
#      hands each message to the host to store, then marks it read: 0 lost, 0 twice, all read.
#
# Usage: tests/faults/fetch_faults.sh BUILD_DIR
#   env: FAULT_KILLS (default 6), FAULT_COUNT (300), FAULT_STOP_COUNT (1500), FAULT_PORT_BASE (auto)
set -uo pipefail
build=$(cd "${1:?usage: fetch_faults.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
KILLS=${FAULT_KILLS:-6}
COUNT=${FAULT_COUNT:-300}
SCOUNT=${FAULT_STOP_COUNT:-1500}  # part 2: enough that a run lasts a second or more
PORT_BASE=${FAULT_PORT_BASE:-auto}  # the mail stack picks a free base; its env sets PORT_BASE
NAME=fetch-faults
. "$root/tests/faults/lib.sh"

# mailbox USER [N]: N (default COUNT) unseen messages in a new Dovecot mailbox (password pw-USER).
mailbox() {
  bash "$root/tests/mailstack/adduser.sh" "$MS" "$1" "pw-$1" >/dev/null
  "$PY" "$root/bench/lib/mails.py" maildir "$MAILDIR_ROOT/$1/Maildir" "$1" "${2:-$COUNT}" >/dev/null
  chown -R mail:mail "$MAILDIR_ROOT/$1"; chmod 700 "$MAILDIR_ROOT/$1"
}
# A data folder with one confirmed incoming server for USER, fetching BATCH messages per run.
incoming() {  # DATA USER BATCH
  J "$1" init >/dev/null
  printf 'ca_file = %s\n' "$CA_FILE" >"$1/juniper.conf"
  J "$1" param set mail.fetch.batch "$3" >/dev/null
  local id
  id=$(J "$1" record create fetchmail.server name=Inbox server=127.0.0.1 port="$IMAPS_PORT" is_ssl=true \
    user="$2" password="pw-$2" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  J "$1" record action fetchmail.server "$id" button_confirm_login >/dev/null || return 1
  echo "$id"
}
# audit DB USER: "seen_not_stored stored distinct_stored seen" -- Seen read from the maildir flags.
audit() {
  "$PY" - "$1" "$MAILDIR_ROOT/$2/Maildir" <<'EOF'
import email.parser, os, sqlite3, sys
db, box = sys.argv[1], sys.argv[2]
rows = [r[0] for r in sqlite3.connect(db).execute("SELECT message_id FROM mail_message")]
stored = set(rows)
seen = set()
for sub in ("cur", "new"):
    d = os.path.join(box, sub)
    for f in os.listdir(d):
        flags = f.split(":2,", 1)[1] if ":2," in f else ""
        if "S" in flags:
            with open(os.path.join(d, f), "rb") as fh:
                seen.add((email.parser.BytesHeaderParser().parse(fh).get("Message-ID") or "").strip())
print(len(seen - stored), len(rows), len(stored), len(seen))
EOF
}
fetch_until_done() {  # DATA: normal runs until a run stores nothing more
  local i out
  for i in $(seq 60); do
    out=$(J "$1" mail fetch --json 2>/dev/null) || true
    [ "$(echo "$out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin).get("stored", 0))' 2>/dev/null)" = 0 ] && return 0
  done
}

mailbox killed@example.com
mailbox stopped@example.com "$SCOUNT"
sleep 1.2  # Dovecot re-reads its users file at most once a second

# ---------------------------------------------------------------- 1. kill -9 mid-fetch
echo "=== kill -9 of the fetcher, $KILLS times, over $COUNT unseen messages"
D=$W/kill
incoming "$D" killed@example.com 50 >/dev/null || { echo "set-up failed"; exit 1; }
kills=0
# A run fetches one batch of 50 (chunks of 20: store, commit, mark Seen) in a fraction of a
# second, so kills wait on conditions, not on time: every other attempt kills 0-20 ms after the
# run opened its connection to Dovecot (a socket among its descriptors: it lands, early in the
# run), the others 0-20 ms after the run's first commit (the database's WAL file written: it
# lands between store, commit and Seen, unless that was the run's last chunk). Tried until KILLS
# kills landed on a live process (or the mailbox is done).
has_socket() { find "/proc/$1/fd" -lname 'socket:*' 2>/dev/null | grep -q .; }
wal_time() { stat -c %.9Y "$D/juniper.db-wal" 2>/dev/null || echo 0; }
for attempt in $(seq $((KILLS * 4))); do
  [ "$kills" -ge "$KILLS" ] && break
  wal0=$(wal_time)
  "${JX[@]}" --data "$D" mail fetch >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1000); do
    alive "$pid" || break
    if [ $((attempt % 2)) = 0 ]; then has_socket "$pid" && break; else [ "$(wal_time)" != "$wal0" ] && break; fi
    sleep 0.005
  done
  sleep "0.0$((RANDOM % 3))"
  if alive "$pid" && kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null
done
read -r unstored rows distinct seen < <(audit "$D/juniper.db" killed@example.com)
echo "     $kills kills: $seen Seen at Dovecot, $distinct stored"
check "no message is Seen without being stored ($unstored)" [ "$unstored" = 0 ]
check "the kills landed ($kills)" [ "$kills" -gt 0 ]
fetch_until_done "$D"
read -r unstored rows distinct seen < <(audit "$D/juniper.db" killed@example.com)
echo "     after normal runs: $rows stored ($distinct distinct), $seen Seen"
check "every message stored" [ "$distinct" = "$COUNT" ]
check "none stored twice" [ "$rows" = "$distinct" ]
check "all marked Seen once stored" [ "$seen" = "$COUNT" ]

# ---------------------------------------------------------------- 2. Dovecot stopped mid-fetch
echo "=== Dovecot stopped in the middle of a fetch"
D=$W/stopped
SID=$(incoming "$D" stopped@example.com "$SCOUNT") || { echo "set-up failed"; exit 1; }
stored_now() { "$PY" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM mail_message").fetchone()[0])' "$1" 2>/dev/null || echo 0; }
"${JX[@]}" --data "$D" mail fetch --json >"$W/stopped.json" 2>&1 &
pid=$!
# Stopped once the run has stored its first messages: mid-fetch, whatever the machine's speed.
for _ in $(seq 500); do [ "$(stored_now "$D/juniper.db")" -gt 0 ] && break; alive "$pid" || break; sleep 0.02; done
bash "$root/tests/mailstack/dovecot.sh" "$MS" stop >/dev/null 2>&1
wait "$pid"
J "$D" mail fetch >/dev/null 2>&1  # and a run that starts while Dovecot is down
err=$(J "$D" record read fetchmail.server "$SID" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin).get("error_message") or "")')
read -r unstored rows distinct seen < <(audit "$D/juniper.db" stopped@example.com)
echo "     while down: $distinct stored, $seen Seen; server error: ${err:0:100}"
check "Dovecot stopped mid-fetch ($distinct of $SCOUNT stored)" [ "$distinct" -gt 0 -a "$distinct" -lt "$SCOUNT" ]
check "the failure is recorded on the server" [ -n "$err" ]
check "no message is Seen without being stored ($unstored)" [ "$unstored" = 0 ]
# Dovecot's login processes can hold its port a moment after the master is gone: start again
# until it answers (dovecot.sh start returns only once IMAPS answers), and say so if it never does.
for _ in 1 2 3 4 5 6 7 8 9 10; do
  bash "$root/tests/mailstack/dovecot.sh" "$MS" start >"$W/dovecot-start.txt" 2>&1 && break
  sleep 1
done
dovecot_up() { bash "$root/tests/mailstack/dovecot.sh" "$MS" status >/dev/null 2>&1 || { tail -n3 "$W/dovecot-start.txt"; false; }; }
check "Dovecot started again" dovecot_up
fetch_until_done "$D"
read -r unstored rows distinct seen < <(audit "$D/juniper.db" stopped@example.com)
err=$(J "$D" record read fetchmail.server "$SID" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin).get("error_message") or "")')
echo "     Dovecot back: $rows stored ($distinct distinct), $seen Seen"
check "every message stored once Dovecot is back, none twice" [ "$distinct $rows" = "$SCOUNT $SCOUNT" ]
check "the server's error is cleared by the successful run" [ -z "$err" ]

# ---------------------------------------------------------------- 3. kill -9 mid-fetch through Graph
GCOUNT=${FAULT_GRAPH_COUNT:-60}
echo "=== kill -9 of a fetch through Microsoft Graph, $KILLS times, over $GCOUNT unread messages"
COUNT=$GCOUNT mailbox graphkill@example.com
sleep 1.2
D=$W/graph
GID=$(graph_outlook "$D" juniper-faults-0000-0000-000000000002 graphkill@example.com \
  "https://graph.microsoft.com/Mail.ReadWrite https://graph.microsoft.com/User.Read" \
  fetchmail.server name=Graph server_type=outlook user=graphkill@example.com)
J "$D" param set mail.fetch.batch 30 >/dev/null
J "$D" record action fetchmail.server "$GID" button_confirm_login >/dev/null || { echo "set-up failed"; exit 1; }
# Each message's MIME ($value) answers 40 ms late, so a run lasts seconds on any machine; a kill
# waits until the run has stored a message (it is mid-fetch), then lands a moment later.
idp_control inject_error '{"endpoint":"graph","path":"$value","method":"GET","hang_seconds":0.04,"process_after_hang":true,"count":100000}' >/dev/null
kills=0
for attempt in $(seq $((KILLS * 4))); do
  [ "$kills" -ge "$KILLS" ] && break
  before=$(stored_now "$D/juniper.db")
  "${JX[@]}" --data "$D" mail fetch >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 200); do  # up to 10 s
    alive "$pid" || break
    [ "$(stored_now "$D/juniper.db")" -gt "$before" ] && break
    sleep 0.05
  done
  random_pause 0 0.3
  if alive "$pid" && kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null
done
idp_control clear_errors '{}' >/dev/null
read -r unstored rows distinct seen < <(audit "$D/juniper.db" graphkill@example.com)
echo "     $kills kills: $seen read at the mailbox, $distinct stored"
check "Graph: no message is read without being stored ($unstored)" [ "$unstored" = 0 ]
check "Graph: the kills landed ($kills)" [ "$kills" -gt 0 ]
fetch_until_done "$D"
read -r unstored rows distinct seen < <(audit "$D/juniper.db" graphkill@example.com)
echo "     after normal runs: $rows stored ($distinct distinct), $seen read"
check "Graph: every message stored" [ "$distinct" = "$GCOUNT" ]
check "Graph: none stored twice" [ "$rows" = "$distinct" ]
check "Graph: all marked read once stored" [ "$seen" = "$GCOUNT" ]

echo "fetch faults: $fails failed"
[ "$fails" = 0 ]
