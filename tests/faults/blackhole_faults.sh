#!/usr/bin/env bash
# Pages keep answering whatever a mail server does: `juniper serve` sends to an SMTP server that
# accepts connections and never answers, and fetches from an IMAP server that does the same,
# while a client polls /web/health and an admin page and saves a parameter through its form
# (logged in). Each answer must come within 2 s: a liveness bound far above a normal answer
# (milliseconds), not a speed claim; before the connection pool every page waited for the 60 s
# SMTP timeout. The save needs the database's write lock: a transaction held across the network
# would keep it.
#
# Usage: tests/faults/blackhole_faults.sh BUILD_DIR        (no mail stack needed)
set -uo pipefail
build=$(cd "${1:?usage: blackhole_faults.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tests/faults/serve_port.sh"
PY=/usr/bin/python3
W=$(mktemp -d /tmp/juniper-blackhole.XXXXXX)
fails=0
pids=()
cleanup() {
  [ ${#pids[@]} -gt 0 ] && kill -TERM "${pids[@]}" 2>/dev/null
  wait 2>/dev/null
  [ "${FAULT_KEEP:-0}" = 1 ] && echo "work folder kept: $W" || rm -rf "$W"
}
trap cleanup EXIT
check() { local name=$1; shift; if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi; }
J() { "$build/juniper" --data "$W/data" --modules-path "$build/modules" "$@"; }

# Servers that accept every connection and never say a word (SMTP and IMAP alike): one for the
# sender, one for the fetcher.
hole() {  # hole PORT_FILE: starts one, back once it listens
  "$PY" - "$1" >/dev/null <<'PYEOF' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(64)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
held = []
while True:
    c, _ = s.accept()
    held.append(c)  # keep it open, silent
PYEOF
  pids+=($!)
  for _ in $(seq 100); do [ -s "$1" ] && break; sleep 0.05; done
}
hole "$W/smtp.port"
hole "$W/imap.port"
SMTP_HOLE=$(cat "$W/smtp.port")
IMAP_HOLE=$(cat "$W/imap.port")

J init >/dev/null
echo "blackhole-admin" | J user passwd admin >/dev/null
J settings set external_email_server_default=true >/dev/null
J param set mail.queue.interval 1 >/dev/null
J param set mail.fetch.interval 1 >/dev/null
J record create ir.mail_server name=Blackhole smtp_host=127.0.0.1 smtp_port="$SMTP_HOLE" from_filter=example.com >/dev/null
IN=$(J record create fetchmail.server name=Silent server=127.0.0.1 port="$IMAP_HOLE" is_ssl=false user=x password=y --json |
  "$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])')

SERVE_PID=""
start_serve() {
  "$build/juniper" --data "$W/data" --modules-path "$build/modules" serve --listen 127.0.0.1:0 >"$W/serve.out" 2>>"$W/serve.log" &
  SERVE_PID=$!
  pids+=("$SERVE_PID")
  PORT=$(serve_port "$W/serve.out")
}
stop_serve() {
  kill -TERM "$SERVE_PID" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$SERVE_PID" 2>/dev/null
  wait "$SERVE_PID" 2>/dev/null
}

# poll NAME HOLE: once serve holds a connection to HOLE, for 10 s, read /web/health and the
# Emails page and save a parameter through its form (a write: it needs the database's write
# lock, which a transaction held across the network would keep). The slowest answer of each.
poll() {
  local name=$1 port=$2 polls health emails write stuck
  "$PY" - "http://127.0.0.1:$PORT" "$port" >"$W/poll-$name.txt" 2>"$W/poll-$name.err" <<'PYEOF'
import http.cookiejar, re, subprocess, sys, time, urllib.parse, urllib.request
base, hole = sys.argv[1], sys.argv[2]
jar = http.cookiejar.CookieJar()
op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
def fetch(path, form=None):
    t = time.monotonic()
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    with op.open(base + path, data=data, timeout=30) as r:
        body = r.read().decode("utf-8", "replace")
    return time.monotonic() - t, body
_, page = fetch("/web/login")
token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
fetch("/web/login", {"login": "admin", "password": "blackhole-admin", "csrf_token": token, "redirect": "/web"})
_, page = fetch("/web/params")
token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
for _ in range(200):  # until serve is stuck on the silent server
    out = subprocess.run(["ss", "-tn", "state", "established", "dport", "= :" + hole], capture_output=True, text=True).stdout
    if out.count("\n") >= 2: break
    time.sleep(0.05)
worst = {"health": 0.0, "emails": 0.0, "write": 0.0}
n = 0
end = time.monotonic() + 10
while time.monotonic() < end:
    d, _ = fetch("/web/health"); worst["health"] = max(worst["health"], d)
    d, body = fetch("/web/list/mail.mail"); worst["emails"] = max(worst["emails"], d)
    assert "Emails" in body, "not the Emails page (login failed?)"
    d, body = fetch("/web/params", {"key": "blackhole.poll", "value": str(n + 1), "csrf_token": token})
    worst["write"] = max(worst["write"], d)
    n += 1
    time.sleep(0.1)
print(n, "%.3f" % worst["health"], "%.3f" % worst["emails"], "%.3f" % worst["write"])
PYEOF
  read -r polls health emails write <"$W/poll-$name.txt" || { cat "$W/poll-$name.err"; polls=0; health=99; emails=99; write=99; }
  stuck=$(ss -tn state established "dport = :$port" | tail -n +2 | wc -l)
  echo "     $name: $polls polls in 10 s with $stuck connection(s) held by the silent server; slowest /web/health ${health}s, Emails page ${emails}s, parameter saved ${write}s"
  check "$name: serve was stuck on the silent server meanwhile" [ "$stuck" -ge 1 ]
  check "$name: /web/health answered within 2 s throughout" "$PY" -c "import sys; sys.exit(0 if $health < 2 else 1)"
  check "$name: the Emails page answered within 2 s throughout" "$PY" -c "import sys; sys.exit(0 if $emails < 2 else 1)"
  check "$name: a parameter was saved within 2 s throughout" "$PY" -c "import sys; sys.exit(0 if $write < 2 else 1)"
  check "$name: the pages were polled" [ "${polls:-0}" -ge 5 ]
  check "$name: every save was written" [ "$(J param get blackhole.poll)" = "$polls" ]
}

# The scheduler sends, then fetches, on one thread: one phase each. First the fetcher alone
# (nothing queued), then the sender (the incoming server off).
J record write fetchmail.server "$IN" state=done >/dev/null
start_serve
poll imap "$IMAP_HOLE"
stop_serve
J record write fetchmail.server "$IN" state=draft >/dev/null
for i in 1 2 3; do J mail send --from alice@example.com --to "bob$i@example.com" --subject "into the hole $i" >/dev/null; done
start_serve
poll smtp "$SMTP_HOLE"
stop_serve
echo "blackhole faults: $fails failed"
[ "$fails" = 0 ]
