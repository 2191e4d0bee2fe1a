#!/usr/bin/env bash
# Installs the Debian 12 packages Juniper builds and tests with (idempotent, quiet when done).
set -euo pipefail
PKGS=(build-essential ccache cmake ninja-build pkg-config ca-certificates openssl curl python3
      libboost1.74-dev libboost-filesystem1.74-dev libboost-program-options1.74-dev
      libsoci-dev libsqlite3-dev libpq-dev libgmime-3.0-dev libidn2-dev nlohmann-json3-dev libkainjow-mustache-dev catch2
      libcurl4-openssl-dev libssl-dev libcli11-dev libjwt-dev binutils python3-cryptography clang-format
      postgresql-15 dovecot-core dovecot-imapd dovecot-lmtpd postfix chromium)
missing=()
# Node.js comes with the machine here; install Debian's only where there is none.
command -v npm >/dev/null || PKGS+=(nodejs npm)
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # The packages' own services must not start: tests run private instances on loopback.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
