#!/bin/bash
# Add (or change the password of) a password user: adduser.sh DIR EMAIL PASSWORD
# The user logs in with PLAIN/LOGIN (SMTP after STARTTLS, IMAPS); Dovecot re-reads the
# file on its next lookup, no restart needed.  Token users need no account at all.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ $# -eq 3 ] || die "usage: adduser.sh DIR EMAIL PASSWORD"
DIR=$(abs_dir "$1")
email=$(printf '%s' "$2" | tr 'A-Z' 'a-z')
pass=$3
[[ $email =~ ^[^@:[:space:]]+@[^@:[:space:]]+$ ]] || die "not an email address: $2"
[[ $pass != *[:[:cntrl:]]* ]] && [ -n "$pass" ] || die "password must be non-empty, without ':' or control characters"
users=$DIR/etc/users
mkdir -p "$DIR/etc"
tmp=$(mktemp "$users.XXXXXX")
if [ -f "$users" ]; then awk -F: -v e="$email" '$1 != e' "$users" >"$tmp"; fi
printf '%s:{PLAIN}%s\n' "$email" "$pass" >>"$tmp"
chmod 644 "$tmp"
mv "$tmp" "$users"
