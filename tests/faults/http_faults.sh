#!/usr/bin/env bash
# Load and fault tests of `juniper serve`'s HTTP side, with a real process and python3 clients:
#   1. 1 100 idle connections under `ulimit -n 1024`: accept fails with EMFILE; the log grows by
#      less than 1 MB, serve burns little CPU meanwhile, and answers within 2 s once they close.
#   2. a flood of anonymous requests (/web, /web/login, ...): no session is stored (health's
#      "sessions" stays 0) and RSS stays under RSS_LIMIT_MB.
#   3. 60 parallel 29 MB POSTs to /web/login (413 before buffering) and 60 parallel 3.9 MB POSTs
#      to /web/compose (admitted up to the in-flight cap, 503 beyond): peak RSS (VmHWM) of the
#      whole run stays under RSS_LIMIT_MB. Then 6 parallel Compose forms of a logged-in
#      administrator with a 40 MB file each (multipart, received into spool files): every mail
#      queued, and serve's peak RSS during them (VmHWM reset first) under 48 MB.
#   4. the data folder on a small tmpfs, filled up: /web/health answers 503 "disk full", and 200
#      again once space is freed (skipped, with a message, where tmpfs cannot be mounted).
#
# Usage: tests/faults/http_faults.sh BUILD_DIR
#   env: FAULT_PORT_BASE (mail stack ports, default: auto, a free block claimed), RSS_LIMIT_MB (default 150)
# Exit 0 when every check passed. Needs root (the mail stack of lib.sh, tmpfs).
set -uo pipefail
build=$(cd "${1:?usage: http_faults.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
RSS_LIMIT_MB=${RSS_LIMIT_MB:-150}
# Part 3's uploads: 6 x 40 MB at once (240 MB); serve's peak must stay under 48 MB (it idles
# near 18 MB: one 40 MB body held in memory would go over).
UPLOADS=${UPLOADS:-6}
UPLOAD_MB=${UPLOAD_MB:-40}
UPLOAD_RSS_LIMIT_MB=${UPLOAD_RSS_LIMIT_MB:-48}
# lib.sh starts the mail stack (unused here, but its helpers come with it); "auto": the stack
# picks and claims a free port base.
PORT_BASE=${FAULT_PORT_BASE:-auto}
NAME=http-faults
. "$root/tests/faults/lib.sh"
. "$root/tests/faults/serve_port.sh"
# Unmount the tmpfs of part 4 before lib.sh removes the work folder.
cleanup_http() { umount "$W/tmpfs" 2>/dev/null; cleanup; }
trap cleanup_http EXIT

CLIENT=$W/client.py
cat >"$CLIENT" <<'EOF'
# Clients for http_faults.sh (stdlib only).
import http.client, json, socket, sys, threading, time

def idle(port, n, hold):
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        socks.append(s)
    print(len(socks), flush=True)
    time.sleep(hold)
    for s in socks:
        s.close()

def flood(port, total, threads):
    paths = ["/web", "/web/login", "/web/login?redirect=%2Fweb%2Fparams", "/web/params", "/", "/web/apps"]
    errors = []
    def worker(k):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for i in range(total // threads):
            try:
                c.request("GET", paths[(i + k) % len(paths)])
                r = c.getresponse()
                r.read()
                if r.status >= 500:
                    errors.append(r.status)
            except Exception as e:  # reconnect and go on; counted
                errors.append(repr(e))
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    print(len(errors))

# Runs one(k) for k < n on n threads at once; prints how many returned each status.
def print_counts(n, one):
    statuses = []
    lock = threading.Lock()
    def run(k):
        status = one(k)
        with lock:
            statuses.append(status)
    ts = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    counts = {}
    for s in statuses:
        counts[s] = counts.get(s, 0) + 1
    print(json.dumps(counts, sort_keys=True))

# n parallel POSTs announcing `length` bytes; each sends up to `length` in 64 kB pieces and
# stops as soon as the server answers. Prints the status counts.
def bigpost(port, path, n, length):
    piece = b"a" * 65536
    def one():
        s = socket.create_connection(("127.0.0.1", port))
        s.settimeout(30)
        s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                   "Content-Length: %d\r\n\r\n" % (path, length)).encode())
        s.setblocking(False)
        sent, reply = 0, b""
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                chunk = s.recv(65536)
                if not chunk:
                    break
                reply += chunk
                if b"\r\n\r\n" in reply:
                    break
            except BlockingIOError:
                pass
            except OSError:
                break
            if sent < length:
                try:
                    sent += s.send(piece[: min(len(piece), length - sent)])
                except (BlockingIOError, InterruptedError):
                    time.sleep(0.001)
                except OSError:
                    pass
            else:
                time.sleep(0.005)
        s.close()
        status = reply.split(b" ", 2)[1].decode() if reply.startswith(b"HTTP/") else "none"
        return status
    print_counts(n, lambda k: one())

# Logs in as admin; prints Compose's CSRF token and the session's Cookie header.
def admin_session(port):
    import re, urllib.parse
    jar = {}
    def req(method, path, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        h = dict(headers or {})
        if jar:
            h["Cookie"] = "; ".join(k + "=" + v for k, v in jar.items())
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        for v in r.msg.get_all("Set-Cookie") or []:
            k, _, rest = v.partition("=")
            jar[k] = rest.split(";")[0]
        return r.read().decode("utf-8", "replace")
    token = lambda page: re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {"login": "admin", "password": "admin-password", "csrf_token": token(req("GET", "/web/login")), "redirect": "/web"}
    req("POST", "/web/login", urllib.parse.urlencode(form), {"Content-Type": "application/x-www-form-urlencoded"})
    print(token(req("GET", "/web/compose")), "; ".join(k + "=" + v for k, v in jar.items()))

# n parallel Compose forms of the session admin_session printed, each with a file of `size`
# bytes, streamed (the client never holds it). Prints the status counts.
def upload(port, n, size, cookie, token):
    def one(k):
        b = "----juniperfaults%d" % k
        def field(name, value):
            return ('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (b, name, value)).encode()
        head = (field("csrf_token", token) + field("from", "alice@example.com") + field("to", "bob@example.com") +
                field("subject", "Upload %d" % k) + field("body", "see the file") +
                ('--%s\r\nContent-Disposition: form-data; name="attachments"; filename="file%d.bin"\r\n'
                 'Content-Type: application/octet-stream\r\n\r\n' % (b, k)).encode())
        tail = ("\r\n--%s--\r\n" % b).encode()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        c.putrequest("POST", "/web/compose")
        c.putheader("Cookie", cookie)
        c.putheader("Content-Type", "multipart/form-data; boundary=" + b)
        c.putheader("Content-Length", str(len(head) + size + len(tail)))
        c.endheaders()
        try:
            c.send(head)
            piece = bytes(range(256)) * 256
            for sent in range(0, size, len(piece)):
                c.send(piece[: min(len(piece), size - sent)])
            c.send(tail)
            status = str(c.getresponse().status)
        except OSError as e:
            status = repr(e)
        return status
    print_counts(n, one)

def health(port, timeout):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("GET", "/web/health")
    r = c.getresponse()
    print(r.status, r.read().decode())

cmd, args = sys.argv[1], [int(a) if a.isdigit() else a for a in sys.argv[2:]]
{"idle": idle, "flood": flood, "bigpost": bigpost, "upload": upload, "admin_session": admin_session, "health": health}[cmd](*args)
EOF
client() { "$PY" "$CLIENT" "$@"; }
# Resident and peak resident memory of a process, in MB; its CPU time in ticks.
rss_mb() { awk '/^VmRSS:/ {print int($2 / 1024)}' "/proc/$1/status"; }
hwm_mb() { awk '/^VmHWM:/ {print int($2 / 1024)}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
log_bytes() { stat -c %s "$1/juniper.log" 2>/dev/null || echo 0; }
health_field() { "$PY" -c 'import json,sys; print(json.loads(sys.stdin.read().split(" ", 1)[1])[sys.argv[1]])' "$1"; }

# serve DATA [ULIMIT]: starts `juniper serve` on a kernel-chosen port; sets SERVE_PID and PORT.
serve() {
  local data=$1 limit=${2:-}
  (
    [ -n "$limit" ] && ulimit -n "$limit"
    exec "${JX[@]}" --data "$data" serve --listen 127.0.0.1:0
  ) >"$data.serve.out" 2>&1 &
  SERVE_PID=$!
  serve_pids+=("$SERVE_PID")
  PORT=$(serve_port "$data.serve.out" "$SERVE_PID")
  [ -n "$PORT" ] && return 0
  cat "$data.serve.out"
  return 1
}
stop_serve() { kill -TERM "$SERVE_PID" 2>/dev/null; wait "$SERVE_PID" 2>/dev/null; serve_pids=(); }

D=$W/data
J "$D" init >/dev/null || { echo "init failed"; exit 1; }
echo "admin-password" | J "$D" user passwd admin >/dev/null || { echo "passwd failed"; exit 1; }

# ---------------------------------------------------------------- 1. EMFILE
echo "=== 1 100 idle connections under ulimit -n 1024"
serve "$D" 1024 || { echo "serve did not start"; exit 1; }
log0=$(log_bytes "$D")
cpu0=$(cpu_ticks "$SERVE_PID")
opened=$( (ulimit -n 4096; client idle "$PORT" 1100 5) )
cpu1=$(cpu_ticks "$SERVE_PID")
t0=$(date +%s.%N)
reply=$(client health "$PORT" 5 2>&1)
t1=$(date +%s.%N)
log1=$(log_bytes "$D")
grown=$((log1 - log0))
cpu_s=$("$PY" -c "print(round(($cpu1 - $cpu0) / $(getconf CLK_TCK), 2))")
answer_s=$("$PY" -c "print(round($t1 - $t0, 3))")
failures=$(grep -c "accept failed" "$D/juniper.log")
echo "   connections opened $opened; log +$grown bytes ($failures 'accept failed' lines); serve CPU ${cpu_s}s during 5 s; health after ${answer_s}s: ${reply%% *}"
check "accept failed at all (EMFILE reached)" [ "$failures" -ge 1 ]
check "log grew by less than 1 MB" [ "$grown" -lt 1048576 ]
check "at most ~2 log lines per second of failure" [ "$failures" -le 12 ]
check "serve did not spin (CPU < 2 s over the 5 s)" "$PY" -c "import sys; sys.exit(0 if $cpu_s < 2 else 1)"
check "health answers 200 within 2 s after the connections close" \
  "$PY" -c "import sys; sys.exit(0 if '${reply%% *}' == '200' and $answer_s < 2 else 1)"
stop_serve

# ---------------------------------------------------------------- 2. anonymous flood
echo "=== a flood of anonymous requests"
serve "$D" || { echo "serve did not start"; exit 1; }
rss0=$(rss_mb "$SERVE_PID")
errors=$(client flood "$PORT" 12000 6)
rss1=$(rss_mb "$SERVE_PID")
sessions=$(client health "$PORT" 5 | health_field sessions)
echo "   12 000 requests: $errors errors; RSS ${rss0} MB -> ${rss1} MB; sessions stored: $sessions"
check "no errors (5xx or failed requests)" [ "$errors" = 0 ]
check "no session stored for anonymous requests" [ "$sessions" = 0 ]
check "RSS under $RSS_LIMIT_MB MB" [ "$rss1" -lt "$RSS_LIMIT_MB" ]

# ---------------------------------------------------------------- 3. big bodies
echo "=== 60 parallel 29 MB POSTs to /web/login, then 60 parallel 3.9 MB POSTs to /web/compose"
login=$(client bigpost "$PORT" /web/login 60 $((29 * 1024 * 1024)))
rss_login=$(rss_mb "$SERVE_PID")
compose=$(client bigpost "$PORT" /web/compose 60 $((3900 * 1024)))
rss_compose=$(rss_mb "$SERVE_PID")
peak=$(hwm_mb "$SERVE_PID")
echo "   /web/login: $login (RSS $rss_login MB); /web/compose: $compose (RSS $rss_compose MB); peak RSS of the run $peak MB"
check "every login POST refused with 413" [ "$login" = '{"413": 60}' ]
check "compose POSTs admitted (303 to log in) or refused with 503, none lost" \
  "$PY" -c "import json,sys; c=json.loads('$compose'); sys.exit(0 if set(c) <= {'303','503'} and sum(c.values()) == 60 and c.get('303',0) > 0 else 1)"
check "peak RSS under $RSS_LIMIT_MB MB" [ "$peak" -lt "$RSS_LIMIT_MB" ]
reply=$(client health "$PORT" 5)
check "serve still healthy" [ "${reply%% *}" = 200 ]

echo "=== $UPLOADS parallel Compose forms of an administrator, each with a $UPLOAD_MB MB file (received on disk)"
J "$D" param set mail.max_size $(((UPLOAD_MB + 1) * 1024 * 1024)) >/dev/null
read -r token cookie < <(client admin_session "$PORT")  # the login's password hashing peaks on its own: before the reset
echo 5 >"/proc/$SERVE_PID/clear_refs"                    # VmHWM starts again from the current RSS
mails() { "$PY" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM mail_mail").fetchone()[0])' "$D/juniper.db"; }
queued0=$(mails)
uploads=$(client upload "$PORT" "$UPLOADS" $((UPLOAD_MB * 1024 * 1024)) "$cookie" "$token")
peak=$(hwm_mb "$SERVE_PID")
queued=$(($(mails) - queued0))
echo "   $uploads; $queued mails queued; peak RSS during the uploads $peak MB ($((UPLOADS * UPLOAD_MB)) MB sent)"
check "every upload queued its mail (303)" [ "$uploads" = "{\"303\": $UPLOADS}" ] && [ "$queued" = "$UPLOADS" ]
check "peak RSS during the uploads under $UPLOAD_RSS_LIMIT_MB MB" [ "$peak" -lt "$UPLOAD_RSS_LIMIT_MB" ]
stop_serve
check "log under 1 MB after everything" [ "$(log_bytes "$D")" -lt 1048576 ]

# ---------------------------------------------------------------- 4. full disk
echo "=== the data folder on a full disk"
T=$W/tmpfs
mkdir -p "$T"
if mount -t tmpfs -o size=24m tmpfs "$T" 2>/dev/null; then
  J "$T/data" init >/dev/null
  serve "$T/data" || { echo "serve did not start"; umount "$T"; exit 1; }
  before=$(client health "$PORT" 5)
  dd if=/dev/zero of="$T/fill" bs=1M count=16 status=none 2>/dev/null
  full=$(client health "$PORT" 5)
  rm -f "$T/fill"
  after=$(client health "$PORT" 5)
  echo "   before: ${before%% *}; filled: $full; freed: ${after%% *}"
  check "200 with room" [ "${before%% *}" = 200 ]
  check "503 'disk full' when full" bash -c '[[ $1 == 503* && $1 == *"disk full"* ]]' _ "$full"
  check "200 again once freed" [ "${after%% *}" = 200 ]
  stop_serve
  umount "$T"
else
  echo "   (tmpfs cannot be mounted here: the full-disk answer is covered by test_web_pages' injected check)"
fi

echo "$fails failed"
[ "$fails" = 0 ]
