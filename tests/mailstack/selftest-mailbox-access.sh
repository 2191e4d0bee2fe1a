#!/bin/bash
# Self-test of Exchange-style mailbox access over IMAP/SMTP AUTH (XOAUTH2, or OAUTHBEARER when the
# stack offers it): Dovecot's oauth2 passdb (password-grant mode) hands the SASL user AND the token
# to the simulated identity platform, which accepts a mailbox's own token, a delegate's token with
# Full Access (control mailbox_permission) and an application token whose app was granted the
# mailbox (control exchange_app_access).  Then Exchange's rule for the envelope sender, which
# Postfix asks of the IdP's policy service: a token login sends as its SASL user or an address it
# has Send As on (control send_as), else 550 5.7.60; password logins as before.  curl + a running
# stack only; leaves the stack running and does not use the reset control (other tests may share
# the stack).
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
# submit SENDER CURL-AUTH-ARGS... -> curl exit status (55: MAIL FROM or RCPT TO refused); the
# server's replies (one line each) to MAIL FROM:<SENDER> in $WORK/mailfrom, to RCPT TO:<$SELF> in
# $WORK/rcpt, and its "250 2.0.0 Ok: queued as ..." (if any) in $WORK/submit.
submit() {
    local sender=$1; shift
    printf 'From: <%s>\r\nTo: <%s>\r\nSubject: send-as %s\r\n\r\nHello.\r\n' "${sender:-nobody@example.com}" \
        "$SELF" "$RUN" >"$WORK/s.eml"
    "${CURL[@]}" -v --url "smtp://127.0.0.1:$SMTP_PORT" --ssl-reqd "${MAIL[@]}" "$@" \
        --mail-from "$sender" --mail-rcpt "$SELF" --upload-file "$WORK/s.eml" >/dev/null 2>"$WORK/submit.v"
    local rc=$?
    tr -d '\r' <"$WORK/submit.v" | awk '/^> MAIL FROM/ { m = 1; next } m && /^< / { print; exit }' >"$WORK/mailfrom"
    tr -d '\r' <"$WORK/submit.v" | awk '/^> RCPT TO/ { m = 1; next } m && /^< / { print; exit }' >"$WORK/rcpt"
    tr -d '\r' <"$WORK/submit.v" | grep '^< 250 .*queued as' >"$WORK/submit"
    return $rc
}
send_as() {  # send_as USER ADDRESS true|false [CONTROL] -> control reply
    "${POST[@]}" "$CTL/${4:-send_as}" -d "{\"user\":\"$1\",\"address\":\"$2\",\"grant\":$3}"
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

# ------------------------------------------------------------------ envelope sender (Send As)
# Exchange Online: a token login may use as MAIL FROM the mailbox it logged in as or an address
# it has Send As on; else "550 5.7.60 SMTP; Client does not have permissions to send as this
# sender" (Postfix puts "<sender>: Sender address rejected: " before the text).
# shellcheck disable=SC2034  # used by check (eval)
DENIED="SMTP; Client does not have permissions to send as this sender"
SENDER=sender-$RUN@example.com
BOSS=boss-$RUN@example.com
SELF=$SENDER
ST=$(issue "$SENDER")
p0=$("${CURL[@]}" "$CTL/counts" | sed -n 's/.*"smtp_policy": {"requests": \([0-9]*\).*/\1/p')
submit "$SENDER" --user "$SENDER:" --oauth2-bearer "$ST"; rc=$?
check "token login sends as itself: MAIL FROM accepted, mail queued" \
    '$rc == 0 && $(cat "$WORK/mailfrom") == "< 250 "* && $(cat "$WORK/submit") == *"queued as"*' "rc=$rc $(cat "$WORK/mailfrom")"
submit "$(tr a-z A-Z <<<"$SENDER")" --user "$SENDER:" --oauth2-bearer "$ST"; rc=$?
check "token login, its own address in capitals: accepted (case-insensitive)" '$rc == 0' "rc=$rc $(cat "$WORK/mailfrom")"
submit "$BOSS" --user "$SENDER:" --oauth2-bearer "$ST"; rc=$?
check "token login as another address: MAIL FROM refused 550 5.7.60 (curl 55)" \
    '$rc == 55 && $(cat "$WORK/mailfrom") == "< 550 5.7.60 "* && $(cat "$WORK/mailfrom") == *"$DENIED" ' "rc=$rc $(cat "$WORK/mailfrom")"
line=$(grep -F "POLICY MAIL sasl_method=$MECH sasl_username=$SENDER sender=<$BOSS>" "$IDP_LOG" | tail -n 1)
check "idp.log: one POLICY line with the method, the user, the sender and the decision" \
    '$line == *"-> 550 5.7.60 $DENIED (no Send As on $BOSS)"*' "$line"
out=$(send_as "$SENDER" "$BOSS" true)
check "POST send_as (Add-RecipientPermission -AccessRights SendAs)" '$out == *"\"$SENDER\": [\"$BOSS\"]"*' "$out"
submit "$BOSS" --user "$SENDER:" --oauth2-bearer "$ST"; rc=$?
check "after the Send As grant: the same MAIL FROM accepted, mail queued" \
    '$rc == 0 && $(cat "$WORK/submit") == *"queued as"*' "rc=$rc $(cat "$WORK/mailfrom")"
out=$("${CURL[@]}" "$CTL/send_as")
check "GET send_as lists the grant" '$out == *"\"$SENDER\": [\"$BOSS\"]"*' "$out"
send_as "$SENDER" "$BOSS" false >/dev/null
submit "$BOSS" --user "$SENDER:" --oauth2-bearer "$ST"; rc=$?
check "after grant:false (Remove-RecipientPermission): 550 5.7.60 again" \
    '$rc == 55 && $(cat "$WORK/mailfrom") == "< 550 5.7.60 "*' "rc=$rc $(cat "$WORK/mailfrom")"
out=$(send_as "$SENDER" "$BOSS" true graph_send_as)
submit "$BOSS" --user "$SENDER:" --oauth2-bearer "$ST"; rc=$?
check "the old name graph_send_as grants the same Send As (SMTP accepted)" \
    '$out == *"\"$SENDER\": [\"$BOSS\"]"* && $rc == 0' "rc=$rc $out $(cat "$WORK/mailfrom")"
send_as "$SENDER" "$BOSS" false graph_send_as >/dev/null
submit "" --user "$SENDER:" --oauth2-bearer "$ST"; rc=$?
check "token login, null sender (MAIL FROM:<>): accepted" \
    '$rc == 0 && $(cat "$WORK/submit") == *"queued as"*' "rc=$rc $(cat "$WORK/mailfrom")"
SELF=$SHARED
submit "$SHARED" --user "$SHARED:" --oauth2-bearer "$(issue "$DELEGATE")"; rc=$?
check "delegate's token logged in as the shared mailbox (Full Access): sends as the shared address" \
    '$rc == 0' "rc=$rc $(cat "$WORK/mailfrom")"
appgrant "$APP" "$MAILBOX" true >/dev/null
AT2=$(app_token https://outlook.office365.com)
SELF=$MAILBOX
submit "$MAILBOX" --user "$MAILBOX:" --oauth2-bearer "$AT2"; rc=$?
check "app token logged in as its granted mailbox: sends as that mailbox" '$rc == 0' "rc=$rc $(cat "$WORK/mailfrom")"
submit "$BOSS" --user "$MAILBOX:" --oauth2-bearer "$AT2"; rc=$?
check "app token, MAIL FROM another address: 550 5.7.60" \
    '$rc == 55 && $(cat "$WORK/mailfrom") == "< 550 5.7.60 "*' "rc=$rc $(cat "$WORK/mailfrom")"
appgrant "$APP" "$MAILBOX" false >/dev/null
SELF=alice@example.com
submit "shop-$RUN@example.com" --user alice@example.com:alice-password; rc=$?
check "password login (PLAIN) as another address: accepted as before (the rule is for token logins)" \
    '$rc == 0 && $(cat "$WORK/submit") == *"queued as"*' "rc=$rc $(cat "$WORK/mailfrom")"
submit "alice@example.com" --user alice@example.com:alice-password --login-options AUTH=LOGIN; rc=$?
check "password login (LOGIN) as itself: accepted" '$rc == 0' "rc=$rc $(cat "$WORK/mailfrom")"
submit "" --user alice@example.com:alice-password; rc=$?
check "password login, null sender: accepted" '$rc == 0' "rc=$rc $(cat "$WORK/mailfrom")"
submit "anyone-$RUN@example.com"; rc=$?
check "no AUTH: MAIL FROM passes the policy (250), RCPT refused as before (554 5.7.1)" \
    '$rc == 55 && $(cat "$WORK/mailfrom") == "< 250 "* && $(cat "$WORK/rcpt") == "< 554 5.7.1 "*' "rc=$rc $(cat "$WORK/mailfrom") $(cat "$WORK/rcpt")"
SELF=$SENDER
"${POST[@]}" "$CTL/inject_error" -d '{"endpoint":"smtp_policy","count":2,"close":true}' >/dev/null
t0=$(date +%s%N)
submit "$SENDER" --user "$SENDER:" --oauth2-bearer "$ST"; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "policy service not answering (2 tries dropped): temporary 451 4.3.5 at MAIL FROM, nothing queued" \
    '$rc == 55 && $(cat "$WORK/mailfrom") == "< 451 4.3.5 "* && ! -s "$WORK/submit"' "rc=$rc ${ms} ms $(cat "$WORK/mailfrom")"
submit "$SENDER" --user "$SENDER:" --oauth2-bearer "$ST"; rc=$?
check "then the same mail is accepted" '$rc == 0' "rc=$rc $(cat "$WORK/mailfrom")"
p1=$("${CURL[@]}" "$CTL/counts" | sed -n 's/.*"smtp_policy": {"requests": \([0-9]*\).*/\1/p')
check "counts.smtp_policy.requests grew by one per MAIL FROM (and per try)" '$((p1 - p0)) -ge 17' "$p0 -> $p1"

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
leak=$(grep -c -F -e "$AT" -e "$GT" -e "$OWN" -e "$DT" -e "$ST" -e "$AT2" -e "$APP_SECRET" "$IDP_LOG")
check "idp.log holds no token or client secret" '$leak == 0' "$leak lines"

echo "selftest-mailbox-access: $((STEP - FAILS))/$STEP passed"
exit $(( FAILS > 125 ? 125 : FAILS ))
