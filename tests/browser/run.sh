#!/usr/bin/env bash
# The browser test: a private mail stack + simulated identity platform, `juniper serve` on a
# fresh SQLite database, and walk.mjs driving Debian's Chromium. Usage: run.sh BUILD_DIR [OUT_DIR]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:?build dir}" && pwd)
out=${2:-$root/test-output/browser}
port=${BROWSER_TEST_PORT:-$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}  # a free port from the kernel
if ! command -v chromium >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null || exit 1
fi
(cd "$here" && npm ci --no-audit --no-fund --silent) || exit 1
work=$(mktemp -d /tmp/juniper-browser.XXXXXX)
chmod 755 "$work"
serve_pid=
cleanup() {
  [[ -n "$serve_pid" ]] && kill -TERM "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
  bash "$root/tests/mailstack/stop.sh" "$work/mail" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
DEMO_REDIRECT_URI="http://127.0.0.1:$port/microsoft_outlook/confirm" \
  bash "$root/tests/mailstack/start.sh" "$work/mail" "${BROWSER_TEST_MAIL_PORT_BASE:-auto}" >/dev/null || exit 1
set -a; . "$work/mail/env"; set +a
J=("$build/juniper" --data "$work/data" --modules-path "$build/modules")
mkdir -p "$work/data"
echo "ca_file = $CA_FILE" > "$work/data/juniper.conf"
"${J[@]}" init >/dev/null
echo "browser-test-password" | "${J[@]}" user passwd admin >/dev/null
"${J[@]}" param set web.base.url "http://127.0.0.1:$port"
"${J[@]}" param set microsoft_outlook.endpoint "$IDP_URL/{tenant}/oauth2/v2.0/"
"${J[@]}" param set microsoft_outlook.graph_endpoint "$IDP_URL/v1.0/"
# The second provider's identity endpoint: the stack's simulated Google (accounts.google.com).
"${J[@]}" param set google_gmail.endpoint "$GOOGLE_URL"
"${J[@]}" param set mail.queue.interval 2
# What the walk reads besides the seed's steps: a list of 1 000 messages (pages), and a message
# whose HTML carries a script and a remote image (neither may run or load unasked).
/usr/bin/python3 - "$work/data/juniper.db" <<'EOF'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.executemany("INSERT INTO mail_message (subject, email_from, date) VALUES (?, ?, ?)",
              [("Bulk message %04d" % i, "bulk@example.org", "2026-11-%02d 08:00:00" % (1 + i % 28)) for i in range(1000)])
c.commit()
EOF
# The "tracker" is walk.mjs's own little HTTP server on a port the kernel gave us: it counts hits.
tracker_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${J[@]}" record create mail.message subject="Newsletter with a script" email_from="news@example.org" \
  body_html="<p id=\"greeting\">Hello reader</p><script>document.body.dataset.ran = 'yes'</script><img alt=\"tracker\" src=\"http://127.0.0.1:$tracker_port/pixel.gif\">" >/dev/null
"${J[@]}" serve --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/web/health" >/dev/null 2>&1 && break; sleep 0.1; done
rm -rf "$out"
BASE_URL="http://127.0.0.1:$port" SHOTS="$out" ADMIN_PASSWORD=browser-test-password \
  CLIENT_ID="$DEMO_CLIENT_ID" CLIENT_SECRET="$DEMO_CLIENT_SECRET" SMTP_PORT="$SMTP_PORT" \
  GOOGLE_CLIENT_ID="$DEMO_GOOGLE_CLIENT_ID" GOOGLE_CLIENT_SECRET="$DEMO_GOOGLE_CLIENT_SECRET" IMAPS_PORT="$IMAPS_PORT" \
  MAILDIR_ROOT="$MAILDIR_ROOT" TRACKER_PORT="$tracker_port" DEMO_STEPS="$root/scripts/demo-steps.txt" node "$here/walk.mjs"
rc=$?
# Secrets at rest: after the whole walk, no client secret and no token the identity platform
# issued appears in clear in the database files, the logs or `record read` output.
kill -TERM "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null
curl -fsS "$IDP_URL/_control/tokens" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
for t in d["access_tokens"] + d["refresh_tokens"]: print(t)' >"$work/secrets.txt"
issued=$(wc -l <"$work/secrets.txt")
echo "$DEMO_CLIENT_SECRET" >>"$work/secrets.txt"
echo "$DEMO_GOOGLE_CLIENT_SECRET" >>"$work/secrets.txt"
for model in ir.mail_server fetchmail.server; do
  for id in $("${J[@]}" record list "$model" --json | /usr/bin/python3 -c 'import json,sys; [print(r["id"]) for r in json.load(sys.stdin)]'); do
    "${J[@]}" record read "$model" "$id" --json
  done
done >"$work/records.json" 2>&1
"${J[@]}" settings show --json >"$work/settings.json" 2>&1 || true
leaks=$(grep -a -l -F -f "$work/secrets.txt" "$work/data/"* "$work/serve.log" "$work/records.json" "$work/settings.json" 2>/dev/null)
if [[ "$issued" -lt 2 ]]; then
  echo "FAIL secrets at rest: the identity platform issued no tokens (nothing to look for)"; rc=1
elif [[ -n "$leaks" ]]; then
  echo "FAIL secrets at rest: a client secret or token in clear in: $leaks"; rc=1
else
  echo "ok   secrets at rest: none of $issued issued tokens nor the client secret in the database, logs or record read"
fi
if [[ $rc -ne 0 ]]; then
  echo "--- juniper log"; tail -30 "$work/data/juniper.log"
  echo "--- outgoing queue"; "${J[@]}" mail queue
fi
exit $rc
