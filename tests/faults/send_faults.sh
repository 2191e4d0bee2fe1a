#!/usr/bin/env bash
# Crash and concurrency tests of the outgoing queue, with real processes against the real Postfix
# and Dovecot (counted at Dovecot, by Message-ID):
#   1. `kill -9` of `juniper mail process` at random moments, KILLS times, during a COUNT-mail
#      batch (SQLite), then normal runs: every mail is in the mailbox, duplicates <= kills x the
#      mails a run has in flight (only a mail whose DATA was accepted before its state was written
#      can go twice). Twice: 20 envelope senders (parallel lanes from the envelopes), then one
#      envelope and a server with max_connections 4 (parallel sessions from the setting).
#   1d. the same kills while an Outlook server sends through (simulated) Microsoft Graph.
#   2. with PG_URL: PROCS `juniper mail process` on one PostgreSQL database, small batches: each
#      mail delivered exactly once (FOR UPDATE SKIP LOCKED).
#   3. with PG_URL: PROCS processes sending through one Outlook server whose access token expired:
#      exactly one refresh at the identity platform, the rotated refresh token kept, each mail once.
#   4. with PG_DIR (tests/pg/start.sh's folder): two `juniper serve` running the queue on one
#      database while PostgreSQL is restarted mid-run: they reconnect and every mail goes out once.
#
# Usage: tests/faults/send_faults.sh BUILD_DIR [PG_URL [PG_DIR]]
#   env: FAULT_KILLS (default 6), FAULT_COUNT (300), FAULT_PROCS (4), FAULT_PORT_BASE (auto)
# Exit 0 when every check passed. Needs root (the mail stack).
set -uo pipefail
build=$(cd "${1:?usage: send_faults.sh BUILD_DIR [PG_URL]}" && pwd)
pg=${2:-}
pg_dir=${3:-}
root=$(cd "$(dirname "$0")/../.." && pwd)
KILLS=${FAULT_KILLS:-6}
COUNT=${FAULT_COUNT:-300}
PROCS=${FAULT_PROCS:-4}
LANES=6  # SMTP sessions one queue run sends on at once (host/mail/queue_run.cpp kMaxParallelLanes)
PORT_BASE=${FAULT_PORT_BASE:-auto}  # the mail stack picks a free base; its env sets PORT_BASE
NAME=faults
. "$root/tests/faults/lib.sh"

# Postfix has handed everything it accepted to Dovecot.
drain() {
  local i n
  for i in $(seq 300); do
    n=$(find "$POSTFIX_QUEUE_DIR"/{incoming,active,deferred,maildrop} -type f 2>/dev/null | wc -l)
    [ "$n" = 0 ] && return 0
    sleep 0.1
  done
}
# delivered MAILBOX EXPECTED_IDS_FILE: prints "missing duplicates extra redelivered" for the
# Message-IDs at Dovecot. A duplicate is a mail Postfix accepted from us twice (two Postfix queue
# ids, read from the Received header Postfix adds); "redelivered" counts extra copies of one queue
# id, which Postfix delivers again when it is stopped after Dovecot stored a mail but before it
# recorded the delivery (Postfix's own at-least-once delivery, not a resend of ours).
delivered() {
  "$PY" - "$MAILDIR_ROOT/$1/Maildir" "$2" <<'EOF'
import collections, email.parser, os, re, sys
box, expected = sys.argv[1], [l.strip() for l in open(sys.argv[2]) if l.strip()]
copies, accepted = collections.Counter(), collections.defaultdict(set)
for sub in ("new", "cur"):
    d = os.path.join(box, sub)
    for f in os.listdir(d) if os.path.isdir(d) else []:
        with open(os.path.join(d, f), "rb") as fh:
            h = email.parser.BytesHeaderParser().parse(fh)
        mid = (h.get("Message-ID") or "").strip()
        copies[mid] += 1
        for r in h.get_all("Received") or []:
            m = re.search(r"\(Postfix\) with \S+ id (\w+)", str(r))
            if m:
                accepted[mid].add(m.group(1))
missing = sum(1 for m in expected if copies[m] == 0)
# A copy that did not pass through Postfix (none here) counts as accepted on its own.
took = {m: len(accepted[m]) or copies[m] for m in expected}
dups = sum(took[m] - 1 for m in expected if copies[m] > 1)
redelivered = sum(copies[m] - took[m] for m in expected if copies[m] > 1)
extra = sum(n for m, n in copies.items() if m not in set(expected))
print(missing, dups, extra, redelivered)
EOF
}
# A data folder with one PLAIN-login server on the test Postfix.
plain_setup() {  # DATA [--db URL]
  local data=$1; shift
  J "$data" "$@" init >/dev/null &&
  J "$data" "$@" settings set external_email_server_default=true >/dev/null &&
  printf 'ca_file = %s\n' "$CA_FILE" >"$data/juniper.conf" &&
  J "$data" "$@" param set mail.queue.lease 2 >/dev/null &&
  J "$data" "$@" record create ir.mail_server name=Alice smtp_host=127.0.0.1 smtp_port="$SMTP_PORT" \
    smtp_encryption=starttls smtp_user=alice@example.com smtp_pass=alice-password >/dev/null
}

# ---------------------------------------------------------------- 1. kill -9 mid-batch (SQLite)
# kill_after_progress DATA STEP CMD...: runs CMD and kills it (-9) once STEP more mails are sent,
# plus a random 0-50 ms, so the kill lands mid-batch however fast the box; prints 1 if it was
# killed, 0 if it ended first. Polls the database every 5 ms (a condition, not a pause).
kill_after_progress() {
  "$PY" - "$@" <<'EOF'
import os, random, signal, sqlite3, subprocess, sys, time
db, step, cmd = sys.argv[1] + "/juniper.db", int(sys.argv[2]), sys.argv[3:]
sent = lambda: sqlite3.connect(db, timeout=10).execute("SELECT COUNT(*) FROM mail_mail WHERE state = 'sent'").fetchone()[0]
start = sent()
p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
while p.poll() is None and sent() < start + step:
    time.sleep(0.005)
time.sleep(random.uniform(0, 0.05))
killed = p.poll() is None
if killed:
    os.kill(p.pid, signal.SIGKILL)
p.wait()
print(1 if killed else 0)
EOF
}
# kill_run TAG RECIPIENT LANES_PER_RUN [SETUP...]: the kills on a fresh queue; SETUP (a command)
# configures the data folder first. LANES_PER_RUN: mails one run can have in flight.
kill_run() {
  local tag=$1 rcpt=$2 lanes=$3 k pid left missing dups extra
  shift 3
  D=$W/kill-$tag
  plain_setup "$D" || { echo "set-up failed"; exit 1; }
  [ $# -gt 0 ] && { "$@" || { echo "set-up failed"; exit 1; }; }
  MAILS_RECIPIENT=$rcpt "$PY" "$root/bench/lib/mails.py" fill-queue "$D/juniper.db" "$COUNT" >/dev/null
  "$PY" -c 'import sqlite3,sys; [print(r[0]) for r in sqlite3.connect(sys.argv[1]).execute("SELECT message_id FROM mail_mail")]' \
    "$D/juniper.db" >"$W/kill-$tag-ids.txt"
  kills=0
  for k in $(seq "$KILLS"); do
    kills=$((kills + $(kill_after_progress "$D" $((COUNT / (4 * KILLS))) "${JX[@]}" --data "$D" mail process --batch 20)))
  done
  left=$("$PY" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT COUNT(*) FROM mail_mail WHERE state <> '"'sent'"'").fetchone()[0])' "$D/juniper.db")
  echo "     $kills kills; $left of $COUNT mails not yet sent"
  # The killed runs' claims expire after mail.queue.lease (2 s here, 60 s by default).
  for _ in 1 2 3 4 5; do
    sleep 2.2
    J "$D" mail process >>"$W/kill-$tag-after.txt" 2>&1
    left=$("$PY" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT COUNT(*) FROM mail_mail WHERE state <> '"'sent'"'").fetchone()[0])' "$D/juniper.db")
    [ "$left" = 0 ] && break
  done
  drain
  read -r missing dups extra _ < <(delivered "$rcpt" "$W/kill-$tag-ids.txt")
  echo "     at Dovecot: $missing missing, $dups duplicates, $extra unexpected"
  check "[$tag] all $KILLS kills landed mid-batch" [ "$kills" = "$KILLS" ]
  check "[$tag] every mail was sent once the leases expired" [ "$left" = 0 ]
  check "[$tag] no mail lost after $kills kills" [ "$missing" = 0 ]
  # A run sends up to `lanes` mails at once (one per SMTP session), so a kill can leave that many
  # accepted by Postfix but not yet recorded as sent: those, and only those, go again.
  check "[$tag] duplicates ($dups) <= kills ($kills) x mails in flight per run ($lanes)" [ "$dups" -le $((kills * lanes)) ]
  check "[$tag] the database is consistent (PRAGMA integrity_check)" \
    [ "$("$PY" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA integrity_check").fetchone()[0])' "$D/juniper.db")" = ok ]
}
# Every mail with one envelope (Odoo's bounce address) and a server with max_connections 4: the
# parallel sessions come from the server's setting alone.
one_envelope_four_sessions() {
  J "$D" param set mail.bounce.alias bounce >/dev/null && J "$D" param set mail.catchall.domain example.com >/dev/null &&
    J "$D" record write ir.mail_server 1 max_connections=4 >/dev/null
}
echo "=== kill -9 of the sender, $KILLS times, during a $COUNT-mail batch from 20 envelope senders"
kill_run senders crash@example.com "$LANES"
echo "=== the same, one envelope sender and max_connections 4"
kill_run sessions crash4@example.com 4 one_envelope_four_sessions
check "[sessions] the run after the kills sent on 4 sessions at once" grep -q "over 4 connection(s)" "$D/juniper.log"

# ---------------------------------------------------------------- 1b. Postfix stopped mid-batch
echo "=== Postfix stopped in the middle of a $COUNT-mail batch"
D=$W/postfix
plain_setup "$D" || { echo "set-up failed"; exit 1; }
MAILS_RECIPIENT=stopped@example.com "$PY" "$root/bench/lib/mails.py" fill-queue "$D/juniper.db" "$COUNT" >/dev/null
"$PY" -c 'import sqlite3,sys; [print(r[0]) for r in sqlite3.connect(sys.argv[1]).execute("SELECT message_id FROM mail_mail")]' \
  "$D/juniper.db" >"$W/postfix-ids.txt"
sq() { "$PY" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1], timeout=10).execute(sys.argv[2]).fetchone()[0])' "$D/juniper.db" "$1"; }
"${JX[@]}" --data "$D" mail process >/dev/null 2>&1 &
pid=$!
for _ in $(seq 200); do [ "$(sq "SELECT COUNT(*) FROM mail_mail WHERE state = 'sent'")" -ge $((COUNT / 10)) ] && break; sleep 0.05; done
bash "$root/tests/mailstack/postfix.sh" "$MS" stop >/dev/null 2>&1
wait "$pid"
waiting=$(sq "SELECT COUNT(*) FROM mail_mail WHERE state = 'outgoing' AND attempts > 0 AND next_try > strftime('%Y-%m-%dT%H:%M:%SZ', 'now') AND failure_reason LIKE '%will retry%'")
lost=$(sq "SELECT COUNT(*) FROM mail_mail WHERE state NOT IN ('sent', 'outgoing')")
echo "     while Postfix is down: $waiting mails waiting for a retry with the reason, e.g. $(sq "SELECT failure_reason FROM mail_mail WHERE state = 'outgoing' LIMIT 1" | cut -c1-90)"
check "the unsent mails wait for a retry, with the reason and a back-off" [ "$waiting" -gt 0 ]
check "no mail failed or was left claimed" [ "$lost" = 0 ]
bash "$root/tests/mailstack/postfix.sh" "$MS" start >/dev/null 2>&1
"$PY" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("UPDATE mail_mail SET next_try = NULL"); c.commit()' "$D/juniper.db"  # the back-off has passed
J "$D" mail process >/dev/null 2>&1
drain
read -r missing dups extra redelivered < <(delivered stopped@example.com "$W/postfix-ids.txt")
echo "     Postfix back: $(sq "SELECT COUNT(*) FROM mail_mail WHERE state = 'sent'") sent; at Dovecot: $missing missing, $dups duplicates (+ $redelivered delivered twice by Postfix itself)"
# Postfix can queue a mail and stop before its 250 reaches us: that mail goes again. The run
# sends on up to LANES sessions at once, so up to LANES mails can be caught so (CI saw 2).
check "every mail sent once Postfix is back, at most the mails in flight (one per session, $LANES) twice" \
  [ "$missing $((dups <= LANES))" = "0 1" ]

# ---------------------------------------------------------------- 1c. a poison mail in the batch
echo "=== one mail that cannot be sent among $COUNT"
D=$W/poison
plain_setup "$D" || { echo "set-up failed"; exit 1; }
MAILS_RECIPIENT=poison@example.com "$PY" "$root/bench/lib/mails.py" fill-queue "$D/juniper.db" "$COUNT" >/dev/null
sq() { "$PY" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1], timeout=10).execute(sys.argv[2]).fetchone()[0])' "$D/juniper.db" "$1"; }
# Mid-queue, a recipient SMTP cannot carry (as an older version could queue, before enqueue refused it).
poison_id=$(sq "SELECT id FROM mail_mail ORDER BY id LIMIT 1 OFFSET $((COUNT / 2))")
"$PY" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("UPDATE mail_mail SET email_to = ? WHERE id = ?", ("b\u00f8b@example.com", int(sys.argv[2]))); c.commit()' \
  "$D/juniper.db" "$poison_id"
"$PY" -c 'import sqlite3,sys; [print(r[0]) for r in sqlite3.connect(sys.argv[1]).execute("SELECT message_id FROM mail_mail WHERE id <> ?", (int(sys.argv[2]),))]' \
  "$D/juniper.db" "$poison_id" >"$W/poison-ids.txt"
J "$D" mail process --batch 50 >"$W/poison-run.txt" 2>&1
rc=$?
drain
read -r missing dups extra _ < <(delivered poison@example.com "$W/poison-ids.txt")
reason=$(sq "SELECT failure_reason FROM mail_mail WHERE id = $poison_id")
echo "     exit $rc; at Dovecot: $missing missing of $((COUNT - 1)), $dups duplicates; the poison mail: $(sq "SELECT state FROM mail_mail WHERE id = $poison_id"): ${reason:0:100}"
check "the run with a poison mail finishes normally" [ "$rc" = 0 ]
check "the other $((COUNT - 1)) mails were delivered once" [ "$missing $dups" = "0 0" ]
poison_ok=0
[ "$(sq "SELECT state FROM mail_mail WHERE id = $poison_id")" = exception ] && [[ $reason == *"bøb@example.com"* ]] && poison_ok=1
check "the poison mail is an exception naming its recipient" [ "$poison_ok" = 1 ]
check "nothing left claimed" [ "$(sq "SELECT COUNT(*) FROM mail_mail WHERE state IN ('sending', 'outgoing')")" = 0 ]

# ---------------------------------------------------------------- 1d. kill -9 while sending through Graph
GCOUNT=${FAULT_GRAPH_COUNT:-60}
echo "=== kill -9 of the sender, $KILLS times, during a $GCOUNT-mail batch through Microsoft Graph"
D=$W/graph
GU=graphsender@example.com
GOID=$(graph_outlook "$D" juniper-faults-0000-0000-000000000003 "$GU" \
  "https://graph.microsoft.com/Mail.Send https://graph.microsoft.com/User.Read" \
  ir.mail_server name=Graph smtp_authentication=outlook smtp_user="$GU")
J "$D" record write ir.mail_server "$GOID" max_per_minute=0 >/dev/null
J "$D" param set mail.queue.lease 2 >/dev/null
J "$D" param set mail.default.from graphsender >/dev/null
J "$D" param set mail.catchall.domain example.com >/dev/null
MAILS_RECIPIENT=graphcrash@example.com "$PY" "$root/bench/lib/mails.py" fill-queue "$D/juniper.db" "$GCOUNT" >/dev/null
"$PY" -c 'import sqlite3,sys; [print(r[0]) for r in sqlite3.connect(sys.argv[1]).execute("SELECT message_id FROM mail_mail")]' \
  "$D/juniper.db" >"$W/graph-ids.txt"
kills=0
for k in $(seq "$KILLS"); do
  "${JX[@]}" --data "$D" mail process --batch 20 >/dev/null 2>&1 &
  pid=$!
  random_pause 0.2 1.2
  if alive "$pid" && kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null
done
for _ in 1 2 3 4 5; do
  sleep 2.2
  J "$D" mail process >/dev/null 2>&1
  left=$("$PY" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT COUNT(*) FROM mail_mail WHERE state <> '"'sent'"'").fetchone()[0])' "$D/juniper.db")
  [ "$left" = 0 ] && break
done
read -r missing dups extra _ < <(delivered graphcrash@example.com "$W/graph-ids.txt")
echo "     $kills kills; at Dovecot: $missing missing, $dups duplicates; $left not sent"
check "Graph: every mail sent once the leases expired" [ "$left" = 0 ]
check "Graph: no mail lost after $kills kills" [ "$missing" = 0 ]
# One lane (max_connections 1): a kill resends at most the one mail Graph accepted but the
# database had not yet recorded.
check "Graph: duplicates ($dups) <= kills ($kills), the mail in flight each" [ "$dups" -le "$kills" ]

if [ -n "$pg" ]; then
  reset_pg() { psql -q "$pg" -c "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public" >/dev/null 2>&1; }
  ids_pg() { psql -At "$pg" -c "SELECT message_id FROM mail_mail" >"$1"; }
  # senders DATA TAG: PROCS `mail process` at once on the PostgreSQL queue; reports in $W/TAG-N.json
  senders() {
    local p pids=()
    for p in $(seq "$PROCS"); do
      "${JX[@]}" --data "$1" --db "$pg" mail process --batch 10 --json >"$W/$2-$p.json" 2>"$W/$2-$p.err" &
      pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
  }
  unsent_pg() { psql -At "$pg" -c "SELECT COUNT(*) FROM mail_mail WHERE state <> 'sent'"; }

  # -------------------------------------------------------------- 2. several senders, one PostgreSQL
  echo "=== $PROCS senders on one PostgreSQL database, $COUNT mails"
  reset_pg
  D=$W/multi
  plain_setup "$D" --db "$pg" || { echo "set-up failed"; exit 1; }
  # Nobody is killed here: a lease long enough that a slow transaction on a loaded machine does
  # not outlive it (the run also skips a mail whose lease passed to another sender).
  J "$D" --db "$pg" param set mail.queue.lease 30 >/dev/null
  MAILS_RECIPIENT=multi@example.com "$PY" "$root/bench/lib/mails.py" fill-queue "$pg" "$COUNT" >/dev/null
  ids_pg "$W/multi-ids.txt"
  senders "$D" multi
  drain
  per=$(for p in $(seq "$PROCS"); do "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["sent"])' "$W/multi-$p.json" 2>/dev/null || echo "?"; done | paste -sd/)
  read -r missing dups extra _ < <(delivered multi@example.com "$W/multi-ids.txt")
  echo "     sent per process: $per; at Dovecot: $missing missing, $dups duplicates"
  check "all $COUNT mails sent" [ "$(unsent_pg)" = 0 ]
  check "each mail delivered exactly once" [ "$missing $dups" = "0 0" ]
  check "more than one process sent mail" [ "$(echo "$per" | tr / '\n' | grep -vc '^0$')" -gt 1 ]

  # -------------------------------------------------------------- 3. one refresh for several senders
  echo "=== $PROCS senders through one Outlook server with an expired token"
  reset_pg
  D=$W/outlook
  CID=juniper-faults-0000-0000-000000000001
  SECRET=faults~secret.$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
  idp() { curl -fsS -X POST "$IDP_URL/_control/$1" -H 'Content-Type: application/json' -d "$2"; }
  idp register_app "{\"client_id\":\"$CID\",\"client_secret\":\"$SECRET\",\"redirect_uris\":[\"http://127.0.0.1:1/microsoft_outlook/confirm\"],\"tenant\":\"multi\",\"name\":\"faults\"}" >/dev/null
  U=notifications@example.com
  REFRESH=$(idp issue_tokens "{\"client_id\":\"$CID\",\"user\":\"$U\"}" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["refresh_token"])')
  J "$D" --db "$pg" init >/dev/null
  J "$D" --db "$pg" module install microsoft_outlook >/dev/null
  J "$D" --db "$pg" settings set external_email_server_default=true microsoft_outlook_client_identifier="$CID" \
    microsoft_outlook_client_secret="$SECRET" >/dev/null
  J "$D" --db "$pg" param set microsoft_outlook.endpoint "$IDP_URL/{tenant}/oauth2/v2.0/" >/dev/null
  J "$D" --db "$pg" param set mail.default.from notifications >/dev/null
  J "$D" --db "$pg" param set mail.catchall.domain example.com >/dev/null
  printf 'ca_file = %s\n' "$CA_FILE" >"$D/juniper.conf"
  OID=$(J "$D" --db "$pg" record create ir.mail_server name=Notifications smtp_authentication=outlook smtp_user="$U" --json |
    "$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  J "$D" --db "$pg" record write ir.mail_server "$OID" smtp_host=127.0.0.1 smtp_port="$SMTP_PORT" max_per_minute=0 \
    microsoft_outlook_refresh_token="$REFRESH" microsoft_outlook_access_token_expiration=0 \
    microsoft_outlook_token_status=valid >/dev/null
  MAILS_RECIPIENT=outlook@example.com "$PY" "$root/bench/lib/mails.py" fill-queue "$pg" "$COUNT" >/dev/null
  ids_pg "$W/outlook-ids.txt"
  idp reset_counts '{}' >/dev/null
  senders "$D" outlook
  drain
  refreshes=$(curl -fsS "$IDP_URL/_control/counts" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["token"]["refresh_token"])')
  stored=$(psql -At "$pg" -c "SELECT microsoft_outlook_refresh_token FROM ir_mail_server WHERE id = $OID")
  read -r missing dups extra _ < <(delivered outlook@example.com "$W/outlook-ids.txt")
  echo "     refresh grants at the identity platform: $refreshes; at Dovecot: $missing missing, $dups duplicates"
  check "exactly one token refresh for $PROCS processes" [ "$refreshes" = 1 ]
  check "the refresh token is stored encrypted" bash -c "[[ '$stored' == gcm1:* && '$stored' != *'$REFRESH'* ]]"
  check "all $COUNT mails sent through Outlook, each once" [ "$(unsent_pg) $missing $dups" = "0 0 0" ]
fi

if [ -n "$pg" ] && [ -n "$pg_dir" ]; then
  # -------------------------------------------------------------- 4. PostgreSQL restarted under two serve
  echo "=== two juniper serve on one PostgreSQL database, restarted mid-run"
  reset_pg
  D=$W/serve
  plain_setup "$D" --db "$pg" || { echo "set-up failed"; exit 1; }
  J "$D" --db "$pg" param set mail.queue.interval 1 >/dev/null
  MAILS_RECIPIENT=restart@example.com "$PY" "$root/bench/lib/mails.py" fill-queue "$pg" "$COUNT" >/dev/null
  ids_pg "$W/restart-ids.txt"
  serve_pids=()
  for p in 1 2; do
    # the binary itself in the background (not through J, a function: $! would be a subshell)
    "$build/juniper" --data "$D" --modules-path "$build/modules" --db "$pg" serve \
      --listen "127.0.0.1:$((PORT_BASE + 100 + p))" >"$W/serve-$p.log" 2>&1 &
    serve_pids+=($!)
  done
  sent_pg() { psql -At "$pg" -c "SELECT COUNT(*) FROM mail_mail WHERE state = 'sent'" 2>/dev/null || echo -1; }
  for _ in $(seq 100); do [ "$(sent_pg)" -ge $((COUNT / 4)) ] && break; sleep 0.1; done
  before=$(sent_pg)
  pg_port=${pg##*:}; pg_port=${pg_port%%/*}
  bash "$root/tests/pg/stop.sh" "$pg_dir" >/dev/null 2>&1
  sleep 1
  bash "$root/tests/pg/start.sh" "$pg_dir" "$pg_port" >/dev/null 2>&1
  for _ in $(seq 120); do [ "$(psql -At "$pg" -c "SELECT COUNT(*) FROM mail_mail WHERE state <> 'sent'" 2>/dev/null)" = 0 ] && break; sleep 0.5; done
  kill -TERM "${serve_pids[@]}" 2>/dev/null; wait "${serve_pids[@]}" 2>/dev/null
  stopped=$(ps -o pid= -p "$(IFS=,; echo "${serve_pids[*]}")" | wc -l)
  serve_pids=()
  drain
  read -r missing dups extra _ < <(delivered restart@example.com "$W/restart-ids.txt")
  echo "     $before sent before the restart; at Dovecot: $missing missing, $dups duplicates"
  check "PostgreSQL was restarted mid-run" [ "$before" -lt "$COUNT" ]
  check "the serve processes reconnected and sent everything" [ "$(unsent_pg)" = 0 ]
  check "no mail lost, at most the mails in flight sent twice (2 processes x $LANES)" [ "$missing $((dups <= 2 * LANES))" = "0 1" ]
  check "both serve processes stopped on SIGTERM" [ "$stopped" = 0 ]
  grep -h "has been re-opened" "$D/juniper.log" | head -2 | sed 's/^/     /'
fi

echo "send faults: $fails failed"
[ "$fails" = 0 ]
