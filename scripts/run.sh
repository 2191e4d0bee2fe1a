#!/usr/bin/env bash
# Builds Juniper and serves it on an embedded SQLite database with the Microsoft Outlook module
# installed: http://127.0.0.1:8069 (override with LISTEN=host:port, data folder with JUNIPER_DATA).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/install-deps.sh"
BUILD_DIR="$root/build" bash "$root/scripts/build.sh"
export JUNIPER_DATA=${JUNIPER_DATA:-$root/juniper-data}
J="$root/build/juniper"
"$J" init
"$J" module list | grep -q '^microsoft_outlook .* installed' || "$J" module install microsoft_outlook
echo "Log in as admin (password printed above on first run; change it with: $J user passwd admin)"
exec "$J" serve --listen "${LISTEN:-127.0.0.1:8069}"
