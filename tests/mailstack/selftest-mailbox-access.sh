#!/bin/bash
# Self-test of Exchange-style mailbox access over IMAP/SMTP AUTH (XOAUTH2, or OAUTHBEARER when the
# stack offers it): Dovecot's oauth2 passdb (password-grant mode) hands the SASL user AND the token
# to the simulated identity platform, which accepts a mailbox's own token, a delegate's token with
# Full Access (control mailbox_permission) and an application token whose app was granted the
# mailbox (control exchange_app_access).  curl + a running stack only; leaves the stack running
# and does not use the reset control (other tests may share the stack).
# Usage: selftest-mailbox-access.sh DIR      PASS/FAIL per step; exit status = number of failures.
set -uo pipefail
[ $# -eq 1 ] || { echo "usage: selftest-mailbox-access.sh DIR" >&2; exit 2; }
[ -f "$1/env" ] || { echo "selftest: $1/env not found (start.sh first)" >&2; exit 2; }
# shellcheck disable=SC1091
. "$1/env"

FAILS=0
STEP=0
WORK=$(mktemp -d /tmp/mailstack-selftest.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
pass() { STEP=$((STEP + 1)); printf 'PASS %2d %s\n' "$STEP" "$1"; }
fail() { STEP=$((STEP + 1)); FAILS=$((FAILS + 1)); printf 'FAIL %2d %s\n' "$STEP" "$1";
         [ -n "${2:-}" ] && printf '        %s\n' "$(printf '%s' "$2" | head -c 600)"; }
check() {  # check NAME CONDITION-STRING DETAIL   (CONDITION evaluated by [[ ]])
    if eval "[[ $2 ]]"; then pass "$1"; else fail "$1" "${3:-}"; fi
}
json_str() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" | head -n 1; }

CTL=$IDP_URL/_control
RUN=$$-$RANDOM
CURL=(curl -sS --max-time 20)
MAIL=(--cacert "$CA_FILE")
POST=("${CURL[@]}" -X POST -H 'Content-Type: application/json')
DELEGATE=dana-$RUN@example.com
SHARED=shared-$RUN@example.com
MAILBOX=robot-$RUN@example.com
OTHER=other-$RUN@example.com
APP=mbx-app-$RUN
APP_SECRET="app~$RUN-abcdefghijklmnopqrstuvwxyz"
# shellcheck disable=SC2034  # used by check (eval): base64 of {"status": (the error challenge)
REFUSED=eyJzdGF0dXMiOi
MECH=XOAUTH2; [[ ,$SASL_MECHS, == *,oauthbearer,* ]] && MECH=OAUTHBEARER   # what curl picks

issue() {  # issue USER -> a delegated Outlook (IMAP + SMTP) access token from the demo app
    "${POST[@]}" "$CTL/issue_tokens" -d "{\"client_id\":\"$DEMO_CLIENT_ID\",\"user\":\"$1\",\"scope\":\"https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send\"}" |
        json_str access_token
}
app_token() {  # app_token RESOURCE -> client-credentials token of $APP
    "${CURL[@]}" -X POST "$IDP_URL/$IDP_TENANT_ID/oauth2/v2.0/token" -d grant_type=client_credentials \
        --data-urlencode "client_id=$APP" --data-urlencode "client_secret=$APP_SECRET" \
        --data-urlencode "scope=$1/.default" | json_str access_token
}
# imap USER TOKEN -> curl exit status; in $WORK/imap the server's tagged reply to AUTHENTICATE, or
# for a refusal its error challenge ("+ " base64 of {"status":...}): curl hangs up there with
# XOAUTH2 and answers it with OAUTHBEARER (then NO [AUTHENTICATIONFAILED]).
imap() {
    "${CURL[@]}" -v --url "imaps://127.0.0.1:$IMAPS_PORT/INBOX" "${MAIL[@]}" --user "$1:" \
        --oauth2-bearer "$2" -X NOOP >/dev/null 2>"$WORK/imap.v"
    local rc=$?
    local tag
    tag=$(sed -n 's/^> \(A[0-9]*\) AUTHENTICATE .*/\1/p' "$WORK/imap.v" | head -n 1)
    grep -E "^< (${tag:-none}|\+) " "$WORK/imap.v" | tail -n 1 | tr -d '\r' >"$WORK/imap"
    return $rc
}
smtp() {  # smtp USER TOKEN SUBJECT -> curl exit status (submission through Postfix)
    printf 'From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\nHello.\r\n' "$1" "$1" "$3" >"$WORK/m.eml"
    "${CURL[@]}" --url "smtp://127.0.0.1:$SMTP_PORT" --ssl-reqd "${MAIL[@]}" --user "$1:" \
        --oauth2-bearer "$2" --mail-from "$1" --mail-rcpt "$1" --upload-file "$WORK/m.eml" >/dev/null 2>&1
}
tokeninfo() {  # tokeninfo TOKEN [USER] -> HTTP status; body in $WORK/ti
    local args=(--data-urlencode "access_token=$1")
    [ -n "${2:-}" ] && args+=(--data-urlencode "user=$2")
    "${CURL[@]}" -o "$WORK/ti" -w '%{http_code}' -G "$IDP_URL/tokeninfo" "${args[@]}"
}
perm() {  # perm MAILBOX USER true|false -> control reply
    "${POST[@]}" "$CTL/mailbox_permission" \
        -d "{\"mailbox\":\"$1\",\"user\":\"$2\",\"rights\":[\"FullAccess\"],\"grant\":$3}"
}
appgrant() {  # appgrant CLIENT_ID MAILBOX true|false -> control reply
    "${POST[@]}" "$CTL/exchange_app_access" -d "{\"client_id\":\"$1\",\"mailbox\":\"$2\",\"grant\":$3}"
}

echo "mechanism: $MECH (SASL_MECHS=$SASL_MECHS)"
# ------------------------------------------------------------------ own token, own mailbox
DT=$(issue "$DELEGATE")
imap "$DELEGATE" "$DT"; rc=$?
check "own token as own address: IMAP $MECH OK" '$rc == 0' "rc=$rc $(cat "$WORK/imap")"
smtp "$DELEGATE" "$DT" "own-$RUN"; rc=$?
check "own token as own address: SMTP submission (Postfix -> Dovecot SASL) OK" '$rc == 0' "rc=$rc"
imap "$(tr a-z A-Z <<<"$DELEGATE")" "$DT"; rc=$?
check "own token, address in capitals: IMAP OK (case-insensitive as before)" '$rc == 0' "rc=$rc"
st=$(tokeninfo "$DT")
check "GET /tokeninfo without user: as before (email = the token's user, no 'access')" \
    '$st == 200 && $(cat "$WORK/ti") == *"\"email\": \"$DELEGATE\""* && $(cat "$WORK/ti") != *access*' "$st $(cat "$WORK/ti")"

# ------------------------------------------------------------------ delegate -> shared mailbox
imap "$SHARED" "$DT"; rc=$?
check "delegate's token as shared mailbox, no permission: IMAP refused (67, error challenge)" \
    '$rc == 67 && ( $(cat "$WORK/imap") == "< + $REFUSED"* || $(cat "$WORK/imap") == *"NO [AUTHENTICATIONFAILED]"* )' "rc=$rc $(cat "$WORK/imap")"
smtp "$SHARED" "$DT" "shared-$RUN"; rc=$?
check "delegate's token as shared mailbox, no permission: SMTP refused (67)" '$rc == 67' "rc=$rc"
st=$(tokeninfo "$DT" "$SHARED")
check "GET /tokeninfo?user=shared -> 401 'no Full Access'" \
    '$st == 401 && $(cat "$WORK/ti") == *"no Full Access"*' "$st $(cat "$WORK/ti")"
out=$(perm "$SHARED" "$DELEGATE" true)
check "POST mailbox_permission grant FullAccess" \
    '$out == *"\"ok\": true"* && $out == *"\"$SHARED\": {\"$DELEGATE\": [\"FullAccess\"]}"*' "$out"
imap "$SHARED" "$DT"; rc=$?
check "after the grant: delegate's token as shared mailbox, IMAP OK" '$rc == 0' "rc=$rc $(cat "$WORK/imap")"
smtp "$SHARED" "$DT" "shared-$RUN"; rc=$?
check "after the grant: delegate's token as shared mailbox, SMTP OK" '$rc == 0' "rc=$rc"
st=$(tokeninfo "$DT" "$SHARED")
check "GET /tokeninfo?user=shared -> 200 email=shared, upn=delegate, access=full_access" \
    '$st == 200 && $(cat "$WORK/ti") == *"\"email\": \"$SHARED\""* && $(cat "$WORK/ti") == *"\"upn\": \"$DELEGATE\""* && $(cat "$WORK/ti") == *"\"access\": \"full_access\""*' "$st $(cat "$WORK/ti")"
OT=$(issue "$OTHER")
imap "$SHARED" "$OT"; rc=$?
check "another user's token as the shared mailbox: still refused" '$rc == 67' "rc=$rc"
imap "$DELEGATE" "$(issue "$SHARED")"; rc=$?
check "the shared mailbox's token as the delegate: refused (Full Access is one way)" '$rc == 67' "rc=$rc"
out=$("${CURL[@]}" "$CTL/mailbox_permission")
check "GET mailbox_permission lists the grant" '$out == *"\"$SHARED\": {\"$DELEGATE\": [\"FullAccess\"]}"*' "$out"
out=$("${POST[@]}" "$CTL/mailbox_permission" -d "{\"mailbox\":\"$SHARED\",\"user\":\"$DELEGATE\",\"rights\":[\"SendAs\"]}")
check "mailbox_permission with an unknown right -> 400" '$out == *bad_request*' "$out"
out=$(perm "$SHARED" "$DELEGATE" false)
imap "$SHARED" "$DT"; rc=$?
check "after grant:false (Remove-MailboxPermission): refused again" \
    '$out != *"$SHARED"* && $rc == 67' "rc=$rc $out"
perm "$SHARED" "$DELEGATE" true >/dev/null
"${POST[@]}" "$CTL/revoke" -d "{\"access_token\":\"$DT\"}" >/dev/null
imap "$SHARED" "$DT"; rc=$?
check "delegate's revoked token as shared mailbox (grant kept): refused" '$rc == 67' "rc=$rc"
DT2=$(issue "$DELEGATE")
"${POST[@]}" "$CTL/expire_access_tokens" -d "{\"user\":\"$DELEGATE\"}" >/dev/null
imap "$SHARED" "$DT2"; rc=$?
check "delegate's expired token as shared mailbox: refused" '$rc == 67' "rc=$rc"

# ------------------------------------------------------------------ application token
out=$("${POST[@]}" "$CTL/register_app" -d "{\"client_id\":\"$APP\",\"client_secret\":\"$APP_SECRET\",\"tenant\":\"single\",\"name\":\"mailbox app\"}")
AT=$(app_token https://outlook.office365.com)
check "client_credentials https://outlook.office365.com/.default -> app token" '-n $AT' "$out"
imap "$MAILBOX" "$AT"; rc=$?
check "app token as a mailbox, no grant: IMAP refused" '$rc == 67' "rc=$rc $(cat "$WORK/imap")"
smtp "$MAILBOX" "$AT" "app-$RUN"; rc=$?
check "app token as a mailbox, no grant: SMTP refused" '$rc == 67' "rc=$rc"
out=$(appgrant "$APP" "$MAILBOX" true)
check "POST exchange_app_access grant" '$out == *"\"$APP\": [\"$MAILBOX\"]"*' "$out"
imap "$MAILBOX" "$AT"; rc=$?
check "after the grant: app token as the mailbox, IMAP OK" '$rc == 0' "rc=$rc $(cat "$WORK/imap")"
smtp "$MAILBOX" "$AT" "app-$RUN"; rc=$?
check "after the grant: app token as the mailbox, SMTP OK" '$rc == 0' "rc=$rc"
imap "$OTHER" "$AT"; rc=$?
check "app token as another (not granted) mailbox: refused" '$rc == 67' "rc=$rc"
st=$(tokeninfo "$AT" "$MAILBOX")
check "GET /tokeninfo?user=mailbox (app) -> 200 access=app, client_id, no upn" \
    '$st == 200 && $(cat "$WORK/ti") == *"\"access\": \"app\""* && $(cat "$WORK/ti") == *"\"client_id\": \"$APP\""* && $(cat "$WORK/ti") != *upn*' "$st $(cat "$WORK/ti")"
st=$(tokeninfo "$AT")
check "GET /tokeninfo without user, app token -> 401 as before" '$st == 401' "$st $(cat "$WORK/ti")"
GT=$(app_token https://graph.microsoft.com)
imap "$MAILBOX" "$GT"; rc=$?
check "Graph app token (https://graph.microsoft.com/.default) as the granted mailbox: refused" '$rc == 67' "rc=$rc"
out=$("${CURL[@]}" "$CTL/exchange_app_access")
check "GET exchange_app_access lists the grant" '$out == *"\"$APP\": [\"$MAILBOX\"]"*' "$out"
out=$(appgrant "$APP" "$MAILBOX" false)
imap "$MAILBOX" "$AT"; rc=$?
check "after grant:false: app token refused again" '$out != *"$APP"* && $rc == 67' "rc=$rc $out"

# ------------------------------------------------------------------ IdP failures
OWN=$(issue "$OTHER")
"${POST[@]}" "$CTL/inject_error" -d '{"endpoint":"tokeninfo","count":1,"status":503}' >/dev/null
imap "$OTHER" "$OWN"; rc=$?
check "tokeninfo 503 (injected): IMAP NO [UNAVAILABLE] (temporary, not a refusal)" \
    '$rc != 0 && $(cat "$WORK/imap") == *"NO [UNAVAILABLE] Temporary authentication failure."*' "rc=$rc $(cat "$WORK/imap")"
"${POST[@]}" "$CTL/inject_error" -d '{"endpoint":"tokeninfo","count":1,"status":401}' >/dev/null
imap "$OTHER" "$OWN"; rc=$?
check "tokeninfo 401 (injected): IMAP refused (error challenge, not UNAVAILABLE)" \
    '$rc == 67 && ( $(cat "$WORK/imap") == "< + $REFUSED"* || $(cat "$WORK/imap") == *"NO [AUTHENTICATIONFAILED]"* )' "rc=$rc $(cat "$WORK/imap")"
imap "$OTHER" "$OWN"; rc=$?
check "then the same token logs in" '$rc == 0' "rc=$rc $(cat "$WORK/imap")"
leak=$(grep -c -F -e "$AT" -e "$GT" -e "$OWN" -e "$DT" -e "$APP_SECRET" "$IDP_LOG")
check "idp.log holds no token or client secret" '$leak == 0' "$leak lines"

echo "selftest-mailbox-access: $((STEP - FAILS))/$STEP passed"
exit $(( FAILS > 125 ? 125 : FAILS ))
