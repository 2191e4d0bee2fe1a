# Shared by the fault scripts (sourced after they set build, root, PORT_BASE and NAME): a work
# folder, the mail stack on PORT_BASE, and the helpers they all use.
PY=/usr/bin/python3
W=$(mktemp -d "/tmp/juniper-$NAME.XXXXXX")
chmod 755 "$W"
MS=$W/mail
fails=0
serve_pids=()
cleanup() {
  [ ${#serve_pids[@]} -gt 0 ] && kill -TERM "${serve_pids[@]}" 2>/dev/null
  MAILSTACK_QUIET=1 bash "$root/tests/mailstack/stop.sh" "$MS" >/dev/null 2>&1 || true
  [ "${FAULT_KEEP:-0}" = 1 ] && echo "work folder kept: $W" || rm -rf "$W"
}
trap cleanup EXIT
check() {  # check NAME CONDITION-COMMAND...
  local name=$1; shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}
J() { local data=$1; shift; "$build/juniper" --data "$data" --modules-path "$build/modules" "$@"; }
# For background runs: the binary itself, so that $! is juniper (J in the background would be a
# subshell, and kill -9 would miss the process).
JX=("$build/juniper" --modules-path "$build/modules")
# Running (not finished: a finished child stays a zombie until waited for, and kill succeeds on it).
alive() { [ -r "/proc/$1/stat" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }
random_pause() { sleep "$("$PY" -c 'import random,sys; print(round(random.uniform(float(sys.argv[1]), float(sys.argv[2])), 3))' "$1" "$2")"; }

MAILSTACK_QUIET=1 bash "$root/tests/mailstack/start.sh" "$MS" "$PORT_BASE" >"$W/mailstack.log" 2>&1 ||
  { cat "$W/mailstack.log"; echo "the mail stack did not start"; exit 1; }
set -a; . "$MS/env"; set +a
# graph_outlook DATA CLIENT_ID USER SCOPE MODEL FIELD=VALUE...: a data folder with the Outlook
# module against the stack's identity platform and simulated Graph, and one MODEL record on
# Graph for USER, connected with a refresh token for SCOPE (issued by the IdP's control, as a
# consent would). Prints the record's id.
graph_outlook() {
  local data=$1 cid=$2 user=$3 scope=$4 model=$5 secret refresh id; shift 5
  secret=faults~secret.$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
  idp_control register_app "{\"client_id\":\"$cid\",\"client_secret\":\"$secret\",\"redirect_uris\":[\"http://127.0.0.1:1/microsoft_outlook/confirm\"],\"tenant\":\"multi\",\"name\":\"faults\"}" >/dev/null
  refresh=$(idp_control issue_tokens "{\"client_id\":\"$cid\",\"user\":\"$user\",\"scope\":\"$scope offline_access\"}" |
    "$PY" -c 'import json,sys; print(json.load(sys.stdin)["refresh_token"])')
  J "$data" init >/dev/null
  printf 'ca_file = %s\n' "$CA_FILE" >"$data/juniper.conf"
  J "$data" module install microsoft_outlook >/dev/null
  J "$data" settings set external_email_server_default=true microsoft_outlook_client_identifier="$cid" \
    microsoft_outlook_client_secret="$secret" >/dev/null
  J "$data" param set microsoft_outlook.endpoint "$IDP_URL/{tenant}/oauth2/v2.0/" >/dev/null
  J "$data" param set microsoft_outlook.graph_endpoint "$IDP_URL/v1.0/" >/dev/null
  id=$(J "$data" record create "$model" "$@" outlook_transport=graph --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  J "$data" record write "$model" "$id" microsoft_outlook_refresh_token="$refresh" \
    microsoft_outlook_access_token_expiration=0 microsoft_outlook_token_status=valid \
    microsoft_outlook_token_scope="$scope" >/dev/null  # as Connect stores it
  echo "$id"
}
idp_control() { curl -fsS -X POST "$IDP_URL/_control/$1" -H 'Content-Type: application/json' -d "$2"; }
