#!/usr/bin/env bash
# A full disk under `juniper serve` (its data folder on a small tmpfs, filled up): /web/health
# answers 503 with the reason, a form that cannot be saved shows the error next to it with what
# was typed kept (not a bare 500), the failure is logged (to stderr when the log file cannot be
# written), a Compose form with a file is refused before it is read (507, the page saying why),
# and once space is freed the same forms save and health is 200 again.
#
# Usage: tests/faults/disk_faults.sh BUILD_DIR        (root: mounts a tmpfs)
set -uo pipefail
build=$(cd "${1:?usage: disk_faults.sh BUILD_DIR}" && pwd)
PY=/usr/bin/python3
. "$(dirname "$0")/serve_port.sh"
W=$(mktemp -d /tmp/juniper-disk.XXXXXX)
fails=0
pid=""
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  umount "$W/disk" 2>/dev/null
  [ "${FAULT_KEEP:-0}" = 1 ] && echo "work folder kept: $W" || rm -rf "$W"
}
trap cleanup EXIT
check() { local name=$1; shift; if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi; }
mkdir -p "$W/disk"
mount -t tmpfs -o size=64m tmpfs "$W/disk" || { echo "cannot mount a tmpfs here"; exit 1; }
D=$W/disk/data
J() { "$build/juniper" --data "$D" --modules-path "$build/modules" "$@"; }
J init >/dev/null
echo "disk-admin" | J user passwd admin >/dev/null
"$build/juniper" --data "$D" --modules-path "$build/modules" serve --listen 127.0.0.1:0 >"$W/serve.out" 2>"$W/serve.err" &
pid=$!
PORT=$(serve_port "$W/serve.out")

# client.py PHASE: logs in, then prints "health_status compose_status kept logged_ref"
cat >"$W/client.py" <<'PYEOF'
import http.cookiejar, json, re, sys, urllib.error, urllib.parse, urllib.request
base = sys.argv[1]
jar = http.cookiejar.CookieJar()
op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
def req(path, data=None):
    try:
        with op.open(path if isinstance(path, urllib.request.Request) else base + path, data=data, timeout=30) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
_, page = req("/web/login")
token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
req("/web/login", urllib.parse.urlencode({"login": "admin", "password": "disk-admin", "csrf_token": token, "redirect": "/web"}).encode())
health, hbody = req("/web/health")
_, page = req("/web/compose")
token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
subject = "Quarterly figures kept-" + sys.argv[2]
form = {"from": "alice@example.com", "to": "bob@example.com", "subject": subject, "body": "x" * 200000, "csrf_token": token}
status, body = req("/web/compose", urllib.parse.urlencode(form).encode())
kept = subject in body or status in (200, 303)
ref = re.search(r"reference ([A-Za-z0-9_-]+) in juniper.log", body)
# The same form with a 1 MB file, as a browser sends it (multipart: received into a spool file).
_, page = req("/web/compose")
b = "----diskfaults"
parts = [(k, v) for k, v in form.items() if k != "csrf_token"] + [("csrf_token", re.search(r'name="csrf_token" value="([^"]+)"', page).group(1))]
data = b"".join(('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (b, k, v)).encode() for k, v in parts)
data += ('--%s\r\nContent-Disposition: form-data; name="attachments"; filename="figures.bin"\r\n\r\n' % b).encode()
data += bytes(range(256)) * 4096 + ("\r\n--%s--\r\n" % b).encode()
upload = urllib.request.Request(base + "/web/compose", data=data, headers={"Content-Type": "multipart/form-data; boundary=" + b})
upload_status, upload_body = req(upload)
said = "no room" in upload_body and 'action="/web/compose"' in upload_body
queued = "Queued; it is sent" in upload_body and "figures.bin" in upload_body  # the mail's page
print(health, status, int(kept), ref.group(1) if ref else "-", upload_status, int(said), int(queued))
print(hbody.replace("\n", " ")[:200])
banner = re.search(r'class="error"[^>]*>(.*?)</', body, re.S)
print(re.sub(r"\s+", " ", banner.group(1) if banner else body)[:300])
PYEOF

# Fill the disk.
dd if=/dev/zero of="$W/disk/filler" bs=64k >/dev/null 2>&1
"$PY" "$W/client.py" "http://127.0.0.1:$PORT" full >"$W/full.txt" 2>"$W/full.err" || cat "$W/full.err"
read -r health status kept ref upload said queued <"$W/full.txt"
echo "     disk full: health $health ($(sed -n 2p "$W/full.txt" | cut -c1-120)); compose $status: $(sed -n 3p "$W/full.txt" | cut -c1-160); with a file: $upload"
check "health answers 503 on a full disk" [ "$health" = 503 ]
check "the compose form shows the error (5xx, not a bare page) with the input kept" [ "${status:0:1} $kept" = "5 1" ]
check "the failure is logged with its reference (stderr: the log file is on the full disk)" \
  grep -q "reference $ref" "$W/serve.err" "$D/juniper.log"
check "the form with a file is refused before it is read: 507, the Compose page saying there is no room" \
  [ "$upload $said" = "507 1" ]
check "that refusal is logged" grep -q "Compose: an upload was refused (507)" "$W/serve.err" "$D/juniper.log"
rm -f "$W/disk/filler"
"$PY" "$W/client.py" "http://127.0.0.1:$PORT" freed >"$W/freed.txt" 2>"$W/freed.err" || cat "$W/freed.err"
read -r health status kept ref upload said queued <"$W/freed.txt"
echo "     space freed: health $health, compose $status, with a file $upload"
check "health is 200 again once space is freed" [ "$health" = 200 ]
check "the same form saves once space is freed" [ "$status" = 200 ] || [ "$status" = 303 ]
check "and the form with a file queues its mail (its page lists the file)" [ "$upload $queued" = "200 1" ]
echo "disk faults: $fails failed"
[ "$fails" = 0 ]
