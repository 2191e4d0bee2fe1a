#!/usr/bin/env bash
# The CLI contract as an administrator meets it: exit codes, messages, JSON, secrets never
# printed, refusals that change nothing, the module boundary (nm), and `serve` answering.
# Usage: test_cli.sh BUILD_DIR   (JUNIPER_TEST_DB=postgresql://... to run on PostgreSQL)
set -uo pipefail
build=$(cd "${1:?build dir}" && pwd)
J="$build/juniper"
data=$(mktemp -d /tmp/juniper-cli.XXXXXX)
trap 'kill $serve_pid 2>/dev/null; rm -rf "$data"' EXIT
serve_pid=
fails=0; checks=0
ok() { checks=$((checks+1)); echo "ok  $1"; }
ko() { checks=$((checks+1)); fails=$((fails+1)); echo "FAIL $1"; }
expect() {  # expect DESCRIPTION EXIT_CODE OUTPUT_FRAGMENT -- command...
  local what=$1 code=$2 frag=$3; shift 4
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [[ $rc -eq $code && "$out" == *"$frag"* ]]; then ok "$what"; else ko "$what (exit $rc, output: $out)"; fi
}
jn() { "$J" --data "$data" ${JUNIPER_TEST_DB:+--db "$JUNIPER_TEST_DB"} --modules-path "$build/modules" --modules-path "$build/tests/modules" "$@"; }
export -f jn
export J data build JUNIPER_TEST_DB

if [[ -n "${JUNIPER_TEST_DB:-}" ]]; then
  psql -q "$JUNIPER_TEST_DB" -c "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public" >/dev/null 2>&1
fi

expect "init creates the database and prints the admin password once" 0 "admin password" -- jn init
expect "init again is idempotent" 0 "database ready" -- jn init
out=$(jn init); [[ "$out" != *"admin password"* ]] && ok "second init prints no password" || ko "second init printed a password"
expect "bad usage exits 2" 2 "" -- jn record
expect "unknown command exits 2" 2 "" -- jn frobnicate
expect "module list --json shows Microsoft Outlook" 0 '"display_name": "Microsoft Outlook"' -- jn module list --json
expect "installing an unknown module is refused" 1 "'nope' is not available" -- jn module install nope
expect "install with a dependency" 0 "installed test_ext" -- jn module install test_ext
expect "dependency installed first" 0 '"state": "installed"' -- bash -c "jn module list --json | /usr/bin/python3 -c 'import json,sys; m={x[\"name\"]:x for x in json.load(sys.stdin)}; print(json.dumps(m[\"test_base\"]))'"
abi_minor=$(sed -n 's/^#define JUNIPER_ABI_MINOR \([0-9]*\).*/\1/p' "$(dirname "$0")/../../sdk/include/juniper/sdk/c/juniper_abi.h")
expect "another ABI major is refused, naming both versions" 1 "built for module ABI 2.0, but this juniper offers ABI 1.$abi_minor" -- jn module install test_abi_next_major
expect "a cycle is refused" 1 "dependency cycle" -- jn module install test_cycle_a
expect "a missing dependency is refused" 1 "depends on 'no_such_module'" -- jn module install test_missing_dep
expect "record create --json prints the id" 0 '"id": 1' -- jn record create test_base.partner name=Ann api_key=sk-live-42 --json
expect "record read masks secrets" 0 "api_key: set" -- jn record read test_base.partner 1
out=$(jn record read test_base.partner 1 --json); [[ "$out" != *sk-live-42* ]] && ok "JSON read has no secret" || ko "secret printed"
expect "constraint refusal names the record" 1 "Partner Bob is a bank" -- jn record create test_base.partner name=Bob kind=bank
expect "bad selection value is refused" 1 "'alien' is not one of" -- jn record write test_base.partner 1 kind=alien
expect "missing record is refused" 1 "does not exist" -- jn record read test_base.partner 99
out=$(jn record list test_base.partner --json | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[[ "$out" == 1 ]] && ok "refused writes left one record" || ko "refused writes changed records ($out)"
expect "an action runs" 0 "Shouted at Ann" -- jn record action test_base.partner 1 shout
expect "change-default applied" 0 "vat: BANK-VAT" -- bash -c "jn record create test_base.partner name=Bk kind=bank bank_code=9 >/dev/null && J='$J' data='$data' build='$build' JUNIPER_TEST_DB='${JUNIPER_TEST_DB:-}' jn record read test_base.partner 2"
expect "settings set a secret" 0 "" -- jn module install microsoft_outlook
expect "settings set" 0 "" -- jn settings set microsoft_outlook_client_identifier=my-client microsoft_outlook_client_secret=very-secret-value
expect "settings show masks the secret" 0 "microsoft_outlook_client_secret (Client Secret) = set" -- jn settings show
expect "unknown settings field is refused" 1 "unknown settings field 'nope'" -- jn settings set nope=1
expect "param get of a secret prints set" 0 "set" -- jn param get microsoft_outlook_client_secret
expect "param set/get" 0 "example.com" -- bash -c "jn param set mail.catchall.domain example.com && J='$J' data='$data' build='$build' JUNIPER_TEST_DB='${JUNIPER_TEST_DB:-}' jn param get mail.catchall.domain"
expect "param unset of a missing key is refused" 1 "is not set" -- jn param unset no.such.key
if [[ -z "${JUNIPER_TEST_DB:-}" ]]; then
  if grep -rqa -e very-secret-value -e sk-live-42 "$data"; then ko "a secret is in clear in the data folder"; else ok "no secret in clear in the database file or logs"; fi
fi
expect "user passwd" 0 "password changed for admin" -- bash -c "echo 'correct horse battery' | jn user passwd admin"
expect "user email (alerts go there without mail.alert.recipients)" 0 "email of admin: root@example.com" -- jn user email admin root@example.com
expect "user email refuses a list" 1 "is not one email address" -- jn user email admin "a@example.com, b@example.com"
expect "uninstall cascades to dependents" 0 "uninstalled test_base" -- jn module uninstall test_base
expect "records of an uninstalled module are gone" 1 "unknown model 'test_base.partner'" -- jn record list test_base.partner

# Module files: a library outside its manifest's folder, or a modules folder others can write,
# is refused before the library is opened (exit 1, the module and the path named).
mods="$data/mods"; mkdir -p "$mods/m"; chmod 755 "$mods" "$mods/m"
cp "$build/tests/modules/test_base.so" "$mods/"
/usr/bin/python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); m["library"]="../test_base.so"; json.dump(m, open(sys.argv[2],"w"))' \
  "$build/tests/modules/test_base.json" "$mods/m/test_base.json"
jm() { "$J" --data "$data" ${JUNIPER_TEST_DB:+--db "$JUNIPER_TEST_DB"} --modules-path "$mods/m" --modules-path "$build/modules" "$@"; }
expect "a library outside its manifest's folder is refused" 1 "module test_base: refused, its manifest $mods/m/test_base.json names the library '../test_base.so'" -- jm module install test_base
cp "$build/tests/modules/test_base.so" "$build/tests/modules/test_base.json" "$mods/m/"
chmod 777 "$mods/m"
expect "a world-writable modules folder is refused" 1 "chmod go-w $mods/m" -- jm module install test_base
chmod 755 "$mods/m"
expect "the same files, once private, install" 0 "installed test_base" -- jm module install test_base
jn module uninstall test_base >/dev/null
if [[ -z "${JUNIPER_TEST_DB:-}" ]]; then
  modes=$(cd "$data" && stat -c '%n %a' . juniper.db juniper.log master.key | tr '\n' ' ')
  [[ "$modes" == ". 700 juniper.db 600 juniper.log 600 master.key 600 " ]] && ok "data folder 0700, its files 0600" || ko "data folder modes: $modes"
fi

# Mail: routing as the seed describes it, and refusals at `mail send`.
jn settings set external_email_server_default=true >/dev/null
jn param set mail.default.from notifications >/dev/null
jn param set mail.catchall.domain example.com >/dev/null
jn record create ir.mail_server name=Notifications smtp_host=127.0.0.1 from_filter=notifications@example.com >/dev/null
expect "mail route: a user's mail goes through the notifications server with the name kept" 0 '"from": "\"John Doe\" <notifications@example.com>"' -- jn mail route --from '"John Doe" <john@example.com>' --json
expect "mail send refuses a malformed address" 1 "invalid To address" -- jn mail send --from john@example.com --to 'not an address' --subject x --body y
expect "mail send refuses CR/LF in a header" 1 "line break" -- jn mail send --from john@example.com --to a@example.com --subject $'x\r\nBcc: victim@example.com' --body y
expect "mail send refuses a recipient SMTP cannot carry, saying why" 1 "its part before the @ is not plain ASCII" -- jn mail send --from john@example.com --to 'bøb@example.com' --subject x --body y
expect "mail send refuses a mail without recipient" 1 "at least one recipient" -- jn mail send --from john@example.com --subject x --body y
expect "mail send queues and prints the id" 0 '"id": 1' -- jn mail send --from john@example.com --to a@example.com --subject x --body y --json
expect "mail queue lists it" 0 '"state": "outgoing"' -- jn mail queue --json

# The module boundary: each module library exports its entry symbol and nothing of C++.
for so in "$build"/modules/*.so "$build"/tests/modules/test_base.so "$build"/tests/modules/test_ext.so; do
  syms=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v -e '^_init$' -e '^_fini$' -e '^_edata$' -e '^_end$' -e '^__bss_start$')
  if [[ "$syms" == "juniper_module_get_descriptor_v1" ]]; then ok "$(basename "$so") exports only the entry symbol"; else ko "$(basename "$so") exports: $syms"; fi
done

# serve answers /web/health
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$J" --data "$data" ${JUNIPER_TEST_DB:+--db "$JUNIPER_TEST_DB"} --modules-path "$build/modules" serve --listen "127.0.0.1:$port" >"$data/serve.out" 2>&1 &
serve_pid=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/web/health" >"$data/health" 2>/dev/null && break; sleep 0.1; done
if grep -q '"status":"ok"' "$data/health" 2>/dev/null && grep -q microsoft_outlook "$data/health"; then ok "serve answers /web/health"; else ko "serve did not answer /web/health: $(cat "$data/serve.out")"; fi
kill -TERM $serve_pid; wait $serve_pid; rc=$?
[[ $rc -eq 0 ]] && ok "serve stops cleanly on SIGTERM" || ko "serve exit code $rc on SIGTERM"
serve_pid=

# libcurl (and the ~25 libraries it maps) is loaded on first use: not by a serve with nothing to
# send, fetch or decode; then by the first page that decodes a query, which still answers.
idle="$data/idle"
"$J" --data "$idle" init >/dev/null
"$J" --data "$idle" --modules-path "$build/modules" serve --listen "127.0.0.1:$port" >"$data/serve-idle.out" 2>&1 &
serve_pid=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/web/health" >/dev/null 2>&1 && break; sleep 0.1; done
if ! grep -q -e libcurl -e libgnutls "/proc/$serve_pid/maps"; then ok "serve answering health checks maps neither libcurl nor GnuTLS"; else ko "serve mapped at start: $(grep -o -e 'libcurl[^ ]*' -e 'libgnutls[^ ]*' "/proc/$serve_pid/maps" | sort -u | tr '\n' ' ')"; fi
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/web/login?redirect=%2Fodoo%2Fsettings")
if [[ $code == 200 ]] && grep -q libcurl "/proc/$serve_pid/maps"; then ok "the first page that decodes a query loads libcurl and answers"; else ko "GET /web/login?redirect=...: $code, libcurl mapped: $(grep -c libcurl "/proc/$serve_pid/maps")"; fi
kill -TERM $serve_pid; wait $serve_pid
serve_pid=
expect "serve refuses a busy port" 1 "Address already in use" -- bash -c "/usr/bin/python3 -c 'import socket,time; s=socket.socket(); s.bind((\"127.0.0.1\",$port)); s.listen(); time.sleep(3)' & sleep 0.5; jn serve --listen 127.0.0.1:$port"

echo "$((checks-fails)) passed, $fails failed"
[[ $fails -eq 0 ]]
