#!/bin/bash
# End-to-end self-test of a running stack, with curl only (plus openssl for PKCE).
# Usage: selftest.sh DIR      Prints PASS/FAIL per step; exit status = number of failures.
set -uo pipefail
[ $# -eq 1 ] || { echo "usage: selftest.sh DIR" >&2; exit 2; }
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
# json_str FIELD < JSON   (flat string field; the IdP writes `"k": "v"`)
json_str() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" | head -n 1; }
param() { printf '%s' "$2" | sed -n "s/.*[?&#]$1=\([^&]*\).*/\1/p"; }   # param NAME URL
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

CTL=$IDP_URL/_control
TENANT=$IDP_TENANT_ID
RUN=$$-$RANDOM
CLIENT_ID=selftest-$RUN
SECRET="s3cr3t~$RUN-abcdefghijklmnopqrstuvwxyz"
REDIRECT=http://localhost:8765/callback
SCOPE="https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access openid email"
TOKUSER=carol-$RUN@example.com
TOKEN_URL=$IDP_URL/$TENANT/oauth2/v2.0/token
AUTH_URL=$IDP_URL/$TENANT/oauth2/v2.0/authorize
CURL=(curl -sS --max-time 20)
MAIL=(--cacert "$CA_FILE")

# ------------------------------------------------------------------ IdP: app + authorize
out=$("${CURL[@]}" -X POST "$CTL/register_app" -H 'Content-Type: application/json' \
    -d "{\"client_id\":\"$CLIENT_ID\",\"client_secret\":\"$SECRET\",\"redirect_uri\":\"$REDIRECT\",\"tenant\":\"single\",\"name\":\"Juniper selftest\"}")
check "register app via /_control/register_app (single-tenant, confidential)" '$out == *"\"ok\": true"*' "$out"
"${CURL[@]}" -o /dev/null -X POST "$CTL/reset_counts"

authorize() {  # authorize EXTRA-CURL-ARGS... -> "STATUS REDIRECT_URL" ; body in $WORK/page
    "${CURL[@]}" -o "$WORK/page" -w '%{http_code} %{redirect_url}' -G "$AUTH_URL" \
        --data-urlencode "client_id=$CLIENT_ID" --data-urlencode response_type=code \
        --data-urlencode "redirect_uri=$REDIRECT" --data-urlencode response_mode=query \
        --data-urlencode "scope=$SCOPE" "$@"
}
VERIFIER=$(openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\n')
CHALLENGE=$(printf '%s' "$VERIFIER" | openssl dgst -sha256 -binary | b64url)

res=$(authorize --data-urlencode state=st-page --data-urlencode "code_challenge=$CHALLENGE" \
    --data-urlencode code_challenge_method=S256)
page=$(cat "$WORK/page")
check "authorize without login_hint shows the consent page (Account input, Accept/Cancel)" \
    '$res == 200* && $page == *"Permissions requested"* && $page == *"Juniper selftest"* && $page == *"Send email from mailboxes using SMTP AUTH"* && $page == *">Account<"* && $page == *">Accept<"* && $page == *">Cancel<"*' "$res"
RID=$(printf '%s' "$page" | sed -n 's/.*name="request" value="\([^"]*\)".*/\1/p')
res=$("${CURL[@]}" -o /dev/null -w '%{http_code} %{redirect_url}' "$IDP_URL/$TENANT/oauth2/v2.0/consent" \
    --data-urlencode "request=$RID" --data-urlencode "login=dave-$RUN@example.com" -d action=accept)
check "consent page: Accept with a typed account redirects with code and state" \
    '$res == "302 $REDIRECT?code="* && $(param state "$res") == st-page' "$res"

res=$(authorize --data-urlencode state=st-cancel --data-urlencode "login_hint=$TOKUSER")
RID=$(sed -n 's/.*name="request" value="\([^"]*\)".*/\1/p' "$WORK/page")
res=$("${CURL[@]}" -o /dev/null -w '%{http_code} %{redirect_url}' "$IDP_URL/$TENANT/oauth2/v2.0/consent" \
    --data-urlencode "request=$RID" -d action=cancel)
check "consent page: Cancel -> error=access_denied AADSTS65004 + state" \
    '$res == "302 $REDIRECT?error=access_denied&error_description=AADSTS65004:+User+declined+to+consent+to+access+the+app.&state=st-cancel"' "$res"

res=$(authorize -d auto=1 --data-urlencode state=st-auto --data-urlencode "login_hint=$TOKUSER" \
    --data-urlencode "code_challenge=$CHALLENGE" --data-urlencode code_challenge_method=S256)
CODE=$(param code "$res")
check "authorize auto=1 (no browser) -> 302 with code and the same state" \
    '$res == "302 $REDIRECT?code="* && -n $CODE && $(param state "$res") == st-auto' "$res"

res=$("${CURL[@]}" -o "$WORK/page" -w '%{http_code}' -G "$IDP_URL/common/oauth2/v2.0/authorize" \
    --data-urlencode "client_id=$CLIENT_ID" -d response_type=code --data-urlencode "redirect_uri=$REDIRECT" \
    --data-urlencode "scope=$SCOPE" -d auto=1)
check "single-tenant app on /common -> error page AADSTS50194" \
    '$res == 400 && $(cat "$WORK/page") == *AADSTS50194* && $(cat "$WORK/page") != *"code="*' "$res"
res=$("${CURL[@]}" -o "$WORK/page" -w '%{http_code} %{redirect_url}' -G "$AUTH_URL" \
    --data-urlencode "client_id=$CLIENT_ID" -d response_type=code -d auto=1 \
    --data-urlencode redirect_uri=https://evil.example/cb --data-urlencode "scope=$SCOPE")
check "redirect_uri not registered -> error page AADSTS50011, no redirect" \
    '$res == "400 " && $(cat "$WORK/page") == *AADSTS50011*' "$res"

# ------------------------------------------------------------------ token endpoint
token() {  # token FORM-ARGS... -> body in $WORK/tok, prints HTTP status
    "${CURL[@]}" -o "$WORK/tok" -w '%{http_code}' -X POST "$TOKEN_URL" "$@"
}
st=$(token -d grant_type=authorization_code --data-urlencode "client_id=$CLIENT_ID" \
    --data-urlencode "client_secret=$SECRET" --data-urlencode "code=$CODE" \
    --data-urlencode "redirect_uri=$REDIRECT" --data-urlencode "code_verifier=${VERIFIER%?}x" \
    --data-urlencode "scope=$SCOPE")
body=$(cat "$WORK/tok")
check "code + wrong PKCE verifier -> 400 invalid_grant AADSTS501481" \
    '$st == 400 && $body == *"\"error\": \"invalid_grant\""* && $body == *"[501481]"* && $body == *"Trace ID:"*' "$st $body"
st=$(token -d grant_type=authorization_code --data-urlencode "client_id=$CLIENT_ID" \
    --data-urlencode "client_secret=wrong-$SECRET" --data-urlencode "code=$CODE" \
    --data-urlencode "redirect_uri=$REDIRECT" --data-urlencode "code_verifier=$VERIFIER")
body=$(cat "$WORK/tok")
check "bad client secret -> 401 invalid_client AADSTS7000215" \
    '$st == 401 && $body == *"\"error\": \"invalid_client\""* && $body == *"[7000215]"*' "$st $body"
st=$(token -d grant_type=authorization_code --data-urlencode "client_id=$CLIENT_ID" \
    --data-urlencode "client_secret=$SECRET" --data-urlencode "code=$CODE" \
    --data-urlencode "redirect_uri=$REDIRECT" --data-urlencode "code_verifier=$VERIFIER" \
    --data-urlencode "scope=$SCOPE")
body=$(cat "$WORK/tok")
AT=$(json_str access_token <<<"$body")
RT=$(json_str refresh_token <<<"$body")
check "code + PKCE (S256) exchange -> Bearer access, refresh and id token, expires_in 3600" \
    '$st == 200 && -n $AT && -n $RT && $body == *"\"token_type\": \"Bearer\""* && $body == *"\"expires_in\": 3600"* && $body == *"\"id_token\": "* && $body == *"SMTP.Send"*' "$st $body"
st=$(token -d grant_type=authorization_code --data-urlencode "client_id=$CLIENT_ID" \
    --data-urlencode "client_secret=$SECRET" --data-urlencode "code=$CODE" \
    --data-urlencode "redirect_uri=$REDIRECT" --data-urlencode "code_verifier=$VERIFIER")
body=$(cat "$WORK/tok")
check "the same code again -> 400 invalid_grant AADSTS54005" '$st == 400 && $body == *"[54005]"*' "$st $body"

st=$("${CURL[@]}" -o "$WORK/ti" -w '%{http_code}' -G "$IDP_URL/tokeninfo" --data-urlencode "access_token=$AT")
check "tokeninfo(valid token) -> 200 email=$TOKUSER active=true" \
    '$st == 200 && $(cat "$WORK/ti") == *"\"email\": \"$TOKUSER\""* && $(cat "$WORK/ti") == *"\"active\": \"true\""*' "$st $(cat "$WORK/ti")"

# ------------------------------------------------------------------ mail with XOAUTH2
SUBJ="selftest-xoauth2-$RUN"
printf 'From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@selftest>\r\n\r\nHello over XOAUTH2.\r\n' \
    "$TOKUSER" "$TOKUSER" "$SUBJ" "$SUBJ" >"$WORK/m1.eml"
err=$("${CURL[@]}" --url "smtp://127.0.0.1:$SMTP_PORT" --ssl-reqd "${MAIL[@]}" \
    --user "$TOKUSER:" --oauth2-bearer "$AT" --mail-from "$TOKUSER" --mail-rcpt "$TOKUSER" \
    --upload-file "$WORK/m1.eml" 2>&1); rc=$?
check "SMTP submission: STARTTLS + AUTH XOAUTH2 + send (curl rc=0)" '$rc == 0' "rc=$rc $err"

imap_find() {  # imap_find USER AUTH-ARGS... SUBJECT -> UID (polls up to 5 s)
    local user=$1 subj=${!#} uid=""
    local args=("${@:2:$#-2}")
    for _ in $(seq 50); do
        uid=$("${CURL[@]}" --url "imaps://127.0.0.1:$IMAPS_PORT/INBOX" "${MAIL[@]}" --user "$user" \
            "${args[@]}" -X "UID SEARCH SUBJECT \"$subj\"" 2>/dev/null | sed -n 's/^\* SEARCH \([0-9][0-9]*\).*/\1/p')
        [ -n "$uid" ] && break
        sleep 0.1
    done
    printf '%s' "$uid"
}
UID1=$(imap_find "$TOKUSER:" --oauth2-bearer "$AT" "$SUBJ")
msg=""
[ -n "$UID1" ] && msg=$("${CURL[@]}" --url "imaps://127.0.0.1:$IMAPS_PORT/INBOX/;UID=$UID1" "${MAIL[@]}" \
    --user "$TOKUSER:" --oauth2-bearer "$AT" 2>&1)
check "IMAPS + AUTHENTICATE XOAUTH2: the message is in INBOX (UID $UID1)" \
    '-n $UID1 && $msg == *"Subject: $SUBJ"* && $msg == *"Hello over XOAUTH2."*' "$msg"

# ------------------------------------------------------------------ password user (PLAIN)
SUBJ2="selftest-plain-$RUN"
printf 'From: <alice@example.com>\r\nTo: <alice@example.com>\r\nSubject: %s\r\n\r\nHello over PLAIN.\r\n' \
    "$SUBJ2" >"$WORK/m2.eml"
err=$("${CURL[@]}" --url "smtp://127.0.0.1:$SMTP_PORT" --ssl-reqd "${MAIL[@]}" \
    --user alice@example.com:alice-password --login-options AUTH=PLAIN \
    --mail-from alice@example.com --mail-rcpt alice@example.com --upload-file "$WORK/m2.eml" 2>&1); rc=$?
check "SMTP submission as password user alice (AUTH PLAIN)" '$rc == 0' "rc=$rc $err"
# shellcheck disable=SC2034  # used by check (eval)
UID2=$(imap_find alice@example.com:alice-password --login-options AUTH=PLAIN "$SUBJ2")
check "IMAPS AUTHENTICATE PLAIN as alice: the message is in her INBOX" '-n $UID2'
"${CURL[@]}" --url "imaps://127.0.0.1:$IMAPS_PORT/INBOX" "${MAIL[@]}" --user "alice@example.com:" \
    --oauth2-bearer alice-password -X NOOP >/dev/null 2>&1; rc=$?
check "alice's password used as an XOAUTH2 token -> refused (curl 67)" '$rc == 67' "rc=$rc"
"${CURL[@]}" --url "imaps://127.0.0.1:$IMAPS_PORT/INBOX" "${MAIL[@]}" --user "$TOKUSER:$AT" \
    --login-options AUTH=PLAIN -X NOOP >/dev/null 2>&1; rc=$?
check "a valid access token used as a PLAIN password -> refused (curl 67)" '$rc == 67' "rc=$rc"

# ------------------------------------------------------------------ refresh + rotation
st=$(token -d grant_type=refresh_token --data-urlencode "client_id=$CLIENT_ID" \
    --data-urlencode "client_secret=$SECRET" --data-urlencode "refresh_token=$RT" \
    --data-urlencode "scope=$SCOPE")
body=$(cat "$WORK/tok")
AT2=$(json_str access_token <<<"$body")
RT2=$(json_str refresh_token <<<"$body")
check "refresh_token grant -> new access token and a new (rotated) refresh token" \
    '$st == 200 && -n $AT2 && -n $RT2 && $AT2 != "$AT" && $RT2 != "$RT"' "$st $body"
st=$(token -d grant_type=refresh_token --data-urlencode "client_id=$CLIENT_ID" \
    --data-urlencode "client_secret=$SECRET" --data-urlencode "refresh_token=$RT")
body=$(cat "$WORK/tok")
check "the old refresh token again -> 400 invalid_grant AADSTS9002313" \
    '$st == 400 && $body == *"\"error\": \"invalid_grant\""* && $body == *"[9002313]"*' "$st $body"
"${CURL[@]}" --url "imaps://127.0.0.1:$IMAPS_PORT/INBOX" "${MAIL[@]}" --user "$TOKUSER:" \
    --oauth2-bearer "$AT2" -X NOOP >/dev/null 2>&1; rc=$?
check "the refreshed access token works over IMAPS" '$rc == 0' "rc=$rc"

# ------------------------------------------------------------------ bad tokens, revocation
"${CURL[@]}" --url "smtp://127.0.0.1:$SMTP_PORT" --ssl-reqd "${MAIL[@]}" --user "$TOKUSER:" \
    --oauth2-bearer "bogus-$RUN" --mail-from "$TOKUSER" --mail-rcpt "$TOKUSER" \
    --upload-file "$WORK/m1.eml" >/dev/null 2>&1; rc=$?
check "SMTP with a bogus token -> curl exit 67 (login denied)" '$rc == 67' "rc=$rc"
"${CURL[@]}" --url "imaps://127.0.0.1:$IMAPS_PORT/INBOX" "${MAIL[@]}" --user "$TOKUSER:" \
    --oauth2-bearer "bogus-$RUN" -X NOOP >/dev/null 2>&1; rc=$?
check "IMAPS with a bogus token -> curl exit 67" '$rc == 67' "rc=$rc"
"${CURL[@]}" --url "imaps://127.0.0.1:$IMAPS_PORT/INBOX" "${MAIL[@]}" --user "bob@example.com:" \
    --oauth2-bearer "$AT2" -X NOOP >/dev/null 2>&1; rc=$?
check "IMAPS with $TOKUSER's token but user bob -> curl exit 67" '$rc == 67' "rc=$rc"

out=$("${CURL[@]}" -X POST "$CTL/revoke" -d "{\"user\":\"$TOKUSER\"}")
st=$("${CURL[@]}" -o "$WORK/ti" -w '%{http_code}' -G "$IDP_URL/tokeninfo" --data-urlencode "access_token=$AT2")
check "after /_control/revoke: tokeninfo -> 401" '$out == *"\"ok\": true"* && $st == 401' "$out $st"
"${CURL[@]}" --url "smtp://127.0.0.1:$SMTP_PORT" --ssl-reqd "${MAIL[@]}" --user "$TOKUSER:" \
    --oauth2-bearer "$AT2" --mail-from "$TOKUSER" --mail-rcpt "$TOKUSER" \
    --upload-file "$WORK/m1.eml" >/dev/null 2>&1; rc=$?
check "SMTP with the revoked access token -> curl exit 67" '$rc == 67' "rc=$rc"
st=$(token -d grant_type=refresh_token --data-urlencode "client_id=$CLIENT_ID" \
    --data-urlencode "client_secret=$SECRET" --data-urlencode "refresh_token=$RT2")
body=$(cat "$WORK/tok")
check "refresh with the revoked refresh token -> 400 invalid_grant AADSTS50173" \
    '$st == 400 && $body == *"[50173]"*' "$st $body"

# ------------------------------------------------------------------ injected errors, counts, log
"${CURL[@]}" -o /dev/null -X POST "$CTL/inject_error" -d '{"endpoint":"token","count":1,"status":503}'
st=$(token -d grant_type=refresh_token --data-urlencode "client_id=$CLIENT_ID" \
    --data-urlencode "client_secret=$SECRET" --data-urlencode "refresh_token=$RT2")
body=$(cat "$WORK/tok")
st2=$(token -d grant_type=refresh_token --data-urlencode "client_id=$CLIENT_ID" \
    --data-urlencode "client_secret=$SECRET" --data-urlencode "refresh_token=$RT2")
check "inject_error 503 once -> 503 temporarily_unavailable, then normal answers" \
    '$st == 503 && $body == *temporarily_unavailable* && $st2 == 400' "$st $st2 $body"
counts=$("${CURL[@]}" "$CTL/counts")
check "GET /_control/counts reports token requests by grant type and tokeninfo calls" \
    '$counts == *"\"authorization_code\": 4"* && $counts == *"\"refresh_token\": 5"* && $counts == *"\"authorize\": 5"* && $counts =~ \"tokeninfo\":\ [1-9]' "$counts"
leak=$(grep -c -F -e "$AT" -e "$RT" -e "$SECRET" "$IDP_LOG")
check "idp.log holds no full token or client secret" '$leak == 0' "$leak lines"

echo "selftest: $((STEP - FAILS))/$STEP passed"
exit $(( FAILS > 125 ? 125 : FAILS ))
