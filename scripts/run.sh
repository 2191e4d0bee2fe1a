#!/usr/bin/env bash
# The demo: builds Juniper and starts, on loopback, a real Postfix and Dovecot, a simulated
# Microsoft identity platform (with its consent page) and `juniper serve` on an embedded SQLite
# database with the Microsoft Outlook module available. Follow the printed steps in a browser;
# Ctrl-C stops everything this script started.
#   LISTEN=127.0.0.1:8069  JUNIPER_DATA=./juniper-data  DEMO_PORT_BASE=10000
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
listen=${LISTEN:-127.0.0.1:8069}
base_url="http://$listen"
bash "$root/scripts/install-deps.sh"
# Only what the demo runs: the binary and the module (no tests, benchmarks or fuzz replays), as
# unity sources (about twice as fast from cold), in a folder of its own that the next start reuses.
BUILD_DIR="$root/build-demo" LINE_TABLES_ONLY=1 UNITY=1 NINJA=1 TARGETS="juniper microsoft_outlook google_gmail" bash "$root/scripts/build.sh"

export JUNIPER_DATA=${JUNIPER_DATA:-$root/juniper-data}
stack=$(mktemp -d /tmp/juniper-demo.XXXXXX)
chmod 755 "$stack"
serve_pid=
stop_all() {
  [[ -n "$serve_pid" ]] && kill -TERM "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
  bash "$root/tests/mailstack/stop.sh" "$stack" >/dev/null 2>&1 || true
  rm -rf "$stack"
  echo "demo stopped"
}
trap stop_all EXIT INT TERM

DEMO_REDIRECT_URI="$base_url/microsoft_outlook/confirm" DEMO_GOOGLE_REDIRECT_URI="$base_url/google_gmail/confirm" \
  bash "$root/tests/mailstack/start.sh" "$stack" "${DEMO_PORT_BASE:-10000}" >/dev/null
set -a; . "$stack/env"; set +a

J="$root/build-demo/juniper"
mkdir -p "$JUNIPER_DATA"
# The demo's mail servers use a throw-away CA: trust it (in addition to the system's).
grep -q '^ca_file' "$JUNIPER_DATA/juniper.conf" 2>/dev/null && sed -i "s#^ca_file.*#ca_file = $CA_FILE#" "$JUNIPER_DATA/juniper.conf" \
  || echo "ca_file = $CA_FILE" >> "$JUNIPER_DATA/juniper.conf"
"$J" init >/dev/null
echo "admin-demo-password" | "$J" user passwd admin >/dev/null
"$J" param set web.base.url "$base_url"
# Point the Outlook module at the simulated Microsoft identity platform instead of login.microsoftonline.com.
"$J" param set microsoft_outlook.endpoint "$IDP_URL/{tenant}/oauth2/v2.0/"
# ... and the Gmail module at the simulated Google (accounts.google.com, oauth2.googleapis.com).
"$J" param set google_gmail.endpoint "$GOOGLE_URL"
"$J" param set mail.queue.interval 5
"$J" param set mail.fetch.interval 30

"$J" serve --listen "$listen" &
serve_pid=$!
for _ in $(seq 1 100); do curl -fs "$base_url/web/health" >/dev/null 2>&1 && break; sleep 0.1; done

cat <<MSG

Juniper demo is running: $base_url   (log in: admin / admin-demo-password)

  Simulated Azure app (paste in Settings > Outlook Credentials):
    Client ID:     $DEMO_CLIENT_ID
    Client Secret: $DEMO_CLIENT_SECRET
  Simulated Google OAuth client (paste in Settings > Gmail Credentials, once Gmail is installed):
    Client ID:     $DEMO_GOOGLE_CLIENT_ID
    Client Secret: $DEMO_GOOGLE_CLIENT_SECRET
  Mailboxes: any address works for Outlook and Gmail servers (the consent page signs it in).
  The mail servers stand in for Microsoft 365: on an Outlook server set "SMTP Server" 127.0.0.1 and
  "SMTP Port" $SMTP_PORT; on an incoming one "Server Name" 127.0.0.1 and "Port" $IMAPS_PORT.

$(cat "$root/scripts/demo-steps.txt")

Ctrl-C stops the demo.
MSG
wait "$serve_pid"
