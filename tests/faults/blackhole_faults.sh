#!/usr/bin/env bash
# Pages keep answering whatever a mail server does: `juniper serve` sends to an SMTP server that
# accepts connections and never answers, and fetches from an IMAP server that does the same,
# while a client polls /web/health and an admin page (logged in). Each answer must come within
# 2 s: a liveness bound far above a normal answer (milliseconds), not a speed claim; before the
# connection pool every page waited for the 60 s SMTP timeout.
#
# Usage: tests/faults/blackhole_faults.sh BUILD_DIR        (no mail stack needed)
set -uo pipefail
build=$(cd "${1:?usage: blackhole_faults.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
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
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
J() { "$build/juniper" --data "$W/data" --modules-path "$build/modules" "$@"; }

# A server that accepts every connection and never says a word (SMTP and IMAP alike).
"$PY" - "$W/blackhole.port" <<'PYEOF' &
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(64)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
held = []
while True:
    c, _ = s.accept()
    held.append(c)  # keep it open, silent
PYEOF
pids+=($!)
for _ in $(seq 100); do [ -s "$W/blackhole.port" ] && break; sleep 0.05; done
HOLE=$(cat "$W/blackhole.port")

J init >/dev/null
echo "blackhole-admin" | J user passwd admin >/dev/null
J settings set external_email_server_default=true >/dev/null
J param set mail.queue.interval 1 >/dev/null
J param set mail.fetch.interval 1 >/dev/null
J record create ir.mail_server name=Blackhole smtp_host=127.0.0.1 smtp_port="$HOLE" from_filter=example.com >/dev/null
IN=$(J record create fetchmail.server name=Silent server=127.0.0.1 port="$HOLE" is_ssl=false user=x password=y --json |
  "$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
J record write fetchmail.server "$IN" state=done >/dev/null
for i in 1 2 3; do J mail send --from alice@example.com --to "bob$i@example.com" --subject "into the hole $i" >/dev/null; done

PORT=$(free_port)
"$build/juniper" --data "$W/data" --modules-path "$build/modules" serve --listen "127.0.0.1:$PORT" >"$W/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/web/health" >/dev/null 2>&1 && break; sleep 0.1; done

# Poll for 20 s once the server holds a connection from the sender: the slowest answer of each.
"$PY" - "http://127.0.0.1:$PORT" "$HOLE" >"$W/poll.txt" 2>"$W/poll.err" <<'PYEOF'
import http.cookiejar, re, subprocess, sys, time, urllib.parse, urllib.request
base, hole = sys.argv[1], sys.argv[2]
jar = http.cookiejar.CookieJar()
op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
def get(path):
    t = time.monotonic()
    with op.open(base + path, timeout=30) as r:
        body = r.read().decode("utf-8", "replace")
    return time.monotonic() - t, body
_, page = get("/web/login")
token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
form = urllib.parse.urlencode({"login": "admin", "password": "blackhole-admin", "csrf_token": token, "redirect": "/web"}).encode()
op.open(base + "/web/login", data=form, timeout=30).read()
# Wait until the sender (or fetcher) is stuck on the silent server.
for _ in range(200):
    out = subprocess.run(["ss", "-tn", "state", "established", "dport", "= :" + hole], capture_output=True, text=True).stdout
    if out.count("\n") >= 2: break
    time.sleep(0.05)
worst = {"health": 0.0, "emails": 0.0}
n = 0
end = time.monotonic() + 20
while time.monotonic() < end:
    d, _ = get("/web/health"); worst["health"] = max(worst["health"], d)
    d, body = get("/web/list/mail.mail"); worst["emails"] = max(worst["emails"], d)
    assert "into the hole" in body or "Emails" in body, "not the Emails page (login failed?)"
    n += 1
    time.sleep(0.1)
print(n, "%.3f" % worst["health"], "%.3f" % worst["emails"])
PYEOF
read -r polls health emails <"$W/poll.txt" || { cat "$W/poll.err"; polls=0; health=99; emails=99; }
stuck=$(ss -tn state established "dport = :$HOLE" | tail -n +2 | wc -l)
echo "     $polls polls in 20 s with $stuck connection(s) held by the silent server; slowest /web/health ${health}s, Emails page ${emails}s"
check "the sender and fetcher were stuck on the silent server meanwhile" [ "$stuck" -ge 1 ]
check "/web/health answered within 2 s throughout" "$PY" -c "import sys; sys.exit(0 if $health < 2 else 1)"
check "the Emails page answered within 2 s throughout" "$PY" -c "import sys; sys.exit(0 if $emails < 2 else 1)"
check "the pages were polled" [ "${polls:-0}" -ge 10 ]
echo "blackhole faults: $fails failed"
[ "$fails" = 0 ]
