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
# The verifier with its last character changed (a fixed "x" left 1 verifier in 64 unchanged:
# the code was redeemed here and the real exchange below failed).
BAD_VERIFIER=${VERIFIER%?}x; [ "$BAD_VERIFIER" = "$VERIFIER" ] && BAD_VERIFIER=${VERIFIER%?}y
st=$(token -d grant_type=authorization_code --data-urlencode "client_id=$CLIENT_ID" \
    --data-urlencode "client_secret=$SECRET" --data-urlencode "code=$CODE" \
    --data-urlencode "redirect_uri=$REDIRECT" --data-urlencode "code_verifier=$BAD_VERIFIER" \
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

# ------------------------------------------------------------------ Microsoft Graph mail (/v1.0/)
GRAPH=$IDP_HTTPS_URL/v1.0
GUSER=gina-$RUN@example.com
SHARED=shared-$RUN@example.com
GSCOPE="https://graph.microsoft.com/Mail.Send https://graph.microsoft.com/Mail.ReadWrite offline_access"
issue() {  # issue USER SCOPE -> access token
    "${CURL[@]}" -X POST "$CTL/issue_tokens" -d "{\"client_id\":\"$CLIENT_ID\",\"user\":\"$1\",\"scope\":\"$2\"}" |
        json_str access_token
}
GAT=$(issue "$GUSER" "$GSCOPE")
GIMAP=$(issue "$GUSER" "https://outlook.office.com/IMAP.AccessAsUser.All")
graph() {  # graph METHOD PATH TOKEN CURL-ARGS... -> "STATUS"; body in $WORK/g, headers in $WORK/gh
    local m=$1 path=$2 tok=$3; shift 3
    "${CURL[@]}" --cacert "$CA_FILE" -o "$WORK/g" -D "$WORK/gh" -w '%{http_code}' -X "$m" \
        -H "Authorization: Bearer $tok" "$@" "$GRAPH/$path"
}
mime() {  # mime FROM TO SUBJECT [EXTRA-HEADER-LINE] -> base64 of an RFC 5322 message
    printf 'From: <%s>\r\nTo: <%s>\r\n%sSubject: %s\r\nMessage-ID: <%s@selftest>\r\n\r\nHello over Graph.\r\n' \
        "$1" "$2" "${4:-}" "$3" "$3" | openssl base64 -A
}
GSUBJ=selftest-graph-$RUN
mime "$GUSER" "$GUSER" "$GSUBJ" "Bcc: <bcc-$RUN@example.com>"$'\r\n' >"$WORK/g1.b64"
st=$(graph POST me/sendMail "$GAT" -H 'Content-Type: text/plain' --data-binary @"$WORK/g1.b64")
check "Graph POST /me/sendMail (MIME, base64) -> 202, empty body" '$st == 202 && ! -s $WORK/g' "$st $(cat "$WORK/g")"
GUID=$(imap_find "$GUSER:" --oauth2-bearer "$GIMAP" "$GSUBJ")
msg=""
[ -n "$GUID" ] && msg=$("${CURL[@]}" --url "imaps://127.0.0.1:$IMAPS_PORT/INBOX/;UID=$GUID" "${MAIL[@]}" \
    --user "$GUSER:" --oauth2-bearer "$GIMAP" 2>&1)
check "the Graph message is in Dovecot (IMAP), same Message-ID, Bcc header removed" \
    '-n $GUID && $msg == *"Message-ID: <$GSUBJ@selftest>"* && $msg != *"Bcc:"*' "$msg"
BUID=$(imap_find "bcc-$RUN@example.com:" --oauth2-bearer "$(issue "bcc-$RUN@example.com" "https://outlook.office.com/IMAP.AccessAsUser.All")" "$GSUBJ")
check "the Bcc recipient got the Graph message too" '-n $BUID'

st=$(graph POST me/sendMail "" -H 'Content-Type: text/plain' --data-binary @"$WORK/g1.b64")
check "Graph without a token -> 401 InvalidAuthenticationToken 'Access token is empty.' + WWW-Authenticate" \
    '$st == 401 && $(cat "$WORK/g") == *"\"code\": \"InvalidAuthenticationToken\""* && $(cat "$WORK/g") == *"Access token is empty."* && $(cat "$WORK/g") == *"\"request-id\""* && $(cat "$WORK/gh") == *"WWW-Authenticate: Bearer"*' "$st $(cat "$WORK/g")"
st=$(graph POST me/sendMail "$GIMAP" -H 'Content-Type: text/plain' --data-binary @"$WORK/g1.b64")
check "Graph with an Outlook (IMAP) token -> 401 'Invalid audience.'" \
    '$st == 401 && $(cat "$WORK/g") == *"Access token validation failure. Invalid audience."*' "$st $(cat "$WORK/g")"
st=$(graph POST me/sendMail "bogus-$RUN" -H 'Content-Type: text/plain' --data-binary @"$WORK/g1.b64")
check "Graph with an unknown token -> 401 IDX14100" '$st == 401 && $(cat "$WORK/g") == *IDX14100*' "$st $(cat "$WORK/g")"
RAT=$(issue "$GUSER" "https://graph.microsoft.com/Mail.Read")
st=$(graph POST me/sendMail "$RAT" -H 'Content-Type: text/plain' --data-binary @"$WORK/g1.b64")
check "Graph sendMail without Mail.Send -> 403 ErrorAccessDenied" \
    '$st == 403 && $(cat "$WORK/g") == *"\"code\": \"ErrorAccessDenied\""*' "$st $(cat "$WORK/g")"
st=$(graph POST me/sendMail "$GAT" -H 'Content-Type: text/plain' --data-binary 'not base64!')
check "Graph sendMail with bad base64 -> 400 ErrorMimeContentInvalidBase64String" \
    '$st == 400 && $(cat "$WORK/g") == *ErrorMimeContentInvalidBase64String*' "$st $(cat "$WORK/g")"

mime "$SHARED" "$GUSER" "selftest-sendas-$RUN" >"$WORK/g2.b64"
st=$(graph POST me/sendMail "$GAT" -H 'Content-Type: text/plain' --data-binary @"$WORK/g2.b64")
check "Graph From: another mailbox without Send As -> 403 ErrorSendAsDenied" \
    '$st == 403 && $(cat "$WORK/g") == *"\"code\": \"ErrorSendAsDenied\""*' "$st $(cat "$WORK/g")"
out=$("${CURL[@]}" -X POST "$CTL/graph_send_as" -d "{\"user\":\"$GUSER\",\"address\":\"$SHARED\",\"allowed\":true}")
st=$(graph POST me/sendMail "$GAT" -H 'Content-Type: text/plain' --data-binary @"$WORK/g2.b64")
check "after /_control/graph_send_as: the same message -> 202" '$out == *"\"ok\": true"* && $st == 202' "$out $st $(cat "$WORK/g")"

head -c $((4 * 1024 * 1024 + 1)) /dev/zero | tr '\0' 'A' >"$WORK/big"
st=$(graph POST me/sendMail "$GAT" -H 'Content-Type: text/plain' --data-binary @"$WORK/big")
check "Graph request body over 4 MB -> 413 RequestEntityTooLarge" \
    '$st == 413 && $(cat "$WORK/g") == *RequestEntityTooLarge*' "$st $(cat "$WORK/g")"

"${CURL[@]}" -o /dev/null -X POST "$CTL/inject_error" \
    -d '{"endpoint":"graph","path":"sendMail","status":429,"code":"ApplicationThrottled","retry_after":3,"count":2}'
st=$(graph POST me/sendMail "$GAT" -H 'Content-Type: text/plain' --data-binary @"$WORK/g1.b64")
ra=$(sed -n 's/^[Rr]etry-[Aa]fter: *\([0-9]*\).*/\1/p' "$WORK/gh")
st2=$(graph POST me/sendMail "$GAT" -H 'Content-Type: text/plain' --data-binary @"$WORK/g1.b64")
st3=$(graph POST me/sendMail "$GAT" -H 'Content-Type: text/plain' --data-binary @"$WORK/g1.b64")
check "inject_error graph 429 x2 -> 429 ApplicationThrottled + Retry-After: 3 twice, then 202" \
    '$st == 429 && $ra == 3 && $st2 == 429 && $st3 == 202 && $(cat "$WORK/g") == "" ' "$st $st2 $st3 ra=$ra"
counts=$("${CURL[@]}" "$CTL/graph")
check "GET /_control/graph counts accepted sendMail per user and requests per endpoint" \
    '$counts == *"\"$GUSER\": 3"* && $counts == *"\"POST /me/sendMail\": "* && $counts == *"\"injected\": 2"*' "$counts"

# read side: list, $value, PATCH, delta, $batch (the real Dovecot mailbox)
st=$(graph GET "me/mailFolders/inbox/messages?\$filter=isRead%20eq%20false&\$select=subject,isRead,internetMessageId&\$top=50" "$GAT")
list=$(cat "$WORK/g")
GID=$(printf '%s' "$list" | sed -n "s/.*\"id\": \"\([^\"]*\)\", \"internetMessageId\": \"<$GSUBJ@selftest>\".*/\1/p")
check "Graph GET inbox messages \$filter=isRead eq false \$select -> the sent message, unread" \
    '$st == 200 && -n $GID && $list == *"\"subject\": \"$GSUBJ\""* && $list == *"\"isRead\": false"* && $list != *"bodyPreview"*' "$st $list"
st=$(graph GET "me/mailFolders/inbox/messages?\$filter=isRead%20eq%20false&\$orderby=receivedDateTime%20desc" "$GAT")
check "\$orderby receivedDateTime with a \$filter not starting with it -> 400 InefficientFilter" \
    '$st == 400 && $(cat "$WORK/g") == *InefficientFilter*' "$st $(cat "$WORK/g")"
st=$(graph GET "me/mailFolders/inbox/messages?\$top=1&\$select=subject" "$GAT")
check "\$top=1 -> one message and an @odata.nextLink" \
    '$st == 200 && $(cat "$WORK/g") == *"@odata.nextLink"*"skip=1"*' "$st $(cat "$WORK/g")"
st=$(graph GET "me/messages/$GID/\$value" "$GAT")
check "Graph GET /me/messages/{id}/\$value -> the raw MIME (text/plain)" \
    '$st == 200 && $(cat "$WORK/g") == *"Message-ID: <$GSUBJ@selftest>"* && $(cat "$WORK/gh") == *"Content-Type: text/plain"*' "$st"
st=$(graph PATCH "me/messages/$GID" "$GAT" -H 'Content-Type: application/json' -d '{"isRead": true}')
flags=$("${CURL[@]}" --url "imaps://127.0.0.1:$IMAPS_PORT/INBOX" "${MAIL[@]}" --user "$GUSER:" \
    --oauth2-bearer "$GIMAP" -X "UID FETCH $GUID FLAGS" 2>&1)
check "Graph PATCH {isRead: true} -> 200 message JSON, \\Seen set in Dovecot" \
    '$st == 200 && $(cat "$WORK/g") == *"\"isRead\": true"* && $flags == *Seen*' "$st $flags"
st=$(graph GET "me/mailFolders/inbox/messages/delta?\$select=subject" "$GAT")
DELTA=$(json_str '@odata.deltaLink' <"$WORK/g")
check "Graph delta -> messages and an @odata.deltaLink" '$st == 200 && -n $DELTA' "$st $(cat "$WORK/g")"
mime "$GUSER" "$GUSER" "selftest-delta-$RUN" >"$WORK/g3.b64"
graph POST me/sendMail "$GAT" -H 'Content-Type: text/plain' --data-binary @"$WORK/g3.b64" >/dev/null
imap_find "$GUSER:" --oauth2-bearer "$GIMAP" "selftest-delta-$RUN" >/dev/null
st=$("${CURL[@]}" --cacert "$CA_FILE" -o "$WORK/g" -w '%{http_code}' -H "Authorization: Bearer $GAT" "$DELTA")
d=$(cat "$WORK/g")
check "the deltaLink returns only the message added since" \
    '$st == 200 && $d == *"selftest-delta-$RUN"* && $d != *"\"$GSUBJ\""* && $d == *"@odata.deltaLink"*' "$st $d"
st=$(graph POST "\$batch" "$GAT" -H 'Content-Type: application/json' -d "{\"requests\":[
  {\"id\":\"1\",\"method\":\"GET\",\"url\":\"/me/messages/$GID?\$select=isRead\"},
  {\"id\":\"2\",\"method\":\"PATCH\",\"url\":\"/me/messages/$GID\",\"headers\":{\"Content-Type\":\"application/json\"},\"body\":{\"isRead\":false}},
  {\"id\":\"3\",\"method\":\"GET\",\"url\":\"/me/messages/bogus\"}]}")
b=$(cat "$WORK/g")
check "Graph \$batch (3 requests) -> responses with id/status/body" \
    '$st == 200 && $b == *"\"id\": \"1\", \"status\": 200"* && $b == *"\"id\": \"2\", \"status\": 200"* && $b == *"\"id\": \"3\", \"status\": 400"*' "$st $b"
reqs=$(for i in $(seq 21); do printf '{"id":"%d","method":"GET","url":"/me/messages"},' "$i"; done)
st=$(graph POST "\$batch" "$GAT" -H 'Content-Type: application/json' -d "{\"requests\":[${reqs%,}]}")
check "Graph \$batch with 21 requests -> 400" '$st == 400' "$st $(cat "$WORK/g")"

# draft from MIME + 5 MB attachment through an upload session (2880 KiB PUTs, no bearer token) + send
DSUBJ=selftest-draft-$RUN
DRCPT=dora-$RUN@example.com
printf 'From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@selftest>\r\n\r\nA large attachment.\r\n' \
    "$GUSER" "$DRCPT" "$DSUBJ" "$DSUBJ" | openssl base64 -A >"$WORK/d.b64"
head -c 5242880 /dev/urandom >"$WORK/att"
head -c 2949120 "$WORK/att" >"$WORK/att1"; tail -c +2949121 "$WORK/att" >"$WORK/att2"
dst=$(graph POST me/messages "$GAT" -H 'Content-Type: text/plain' --data-binary @"$WORK/d.b64")
DID=$(json_str id <"$WORK/g")
dst="$dst $(graph POST "me/messages/$DID/attachments/createUploadSession" "$GAT" -H 'Content-Type: application/json' \
    -d '{"AttachmentItem":{"attachmentType":"file","name":"scan.pdf","size":5242880,"contentType":"application/pdf"}}')"
UURL=$(json_str uploadUrl <"$WORK/g")
put() {  # put FILE RANGE [CURL-ARGS...] -> "STATUS" (the uploadUrl carries its own token)
    local f=$1 r=$2; shift 2
    "${CURL[@]}" -g --cacert "$CA_FILE" -o "$WORK/u" -D "$WORK/uh" -w '%{http_code}' -X PUT \
        -H "Content-Range: bytes $r/5242880" -H 'Content-Type: application/octet-stream' "$@" \
        --data-binary @"$f" "$UURL"
}
bad="$(put "$WORK/att1" 0-2949119 -H "Authorization: Bearer $GAT") $(put "$WORK/att2" 2949120-5242879)"
dst="$dst $(put "$WORK/att1" 0-2949119) $(sed -n 's/.*"nextExpectedRanges": \["\([0-9]*\)"\].*/\1/p' "$WORK/u")"
dst="$dst $(put "$WORK/att2" 2949120-5242879)"
bad="$bad $(graph POST "me/messages/$DID/send" "$RAT" -d '') $(graph POST "me/messages/$DID/send" "$GAT")"
dst="$dst $(graph POST "me/messages/$DID/send" "$GAT" -d '')"
DUID=$(imap_find "$DRCPT:" --oauth2-bearer "$(issue "$DRCPT" "https://outlook.office.com/IMAP.AccessAsUser.All")" "$DSUBJ")
: >"$WORK/dmsg"
[ -n "$DUID" ] && "${CURL[@]}" --url "imaps://127.0.0.1:$IMAPS_PORT/INBOX/;UID=$DUID" "${MAIL[@]}" --user "$DRCPT:" \
    --oauth2-bearer "$(issue "$DRCPT" "https://outlook.office.com/IMAP.AccessAsUser.All")" -o "$WORK/dmsg" 2>/dev/null
awk '/^Content-Disposition: attachment; filename="scan.pdf"/ {f=1; next} f==1 && /^\r?$/ {f=2; next}
     f==2 && /^--/ {exit} f==2 {print}' "$WORK/dmsg" | tr -d '\r\n' | base64 -d >"$WORK/att.got" 2>/dev/null
same=$(cmp -s "$WORK/att" "$WORK/att.got" && echo yes)
check "Graph draft + 5 MB upload session + send: attachment byte-identical, same Message-ID (refused: PUT with Authorization 401, wrong offset 416, no Mail.Send 403, no Content-Length 411)" \
    '$dst == "201 201 200 2949120 201 202" && $bad == "401 416 403 411" && $same == yes && $(grep -c "^Message-ID: <$DSUBJ@selftest>" "$WORK/dmsg") == 1' \
    "created/session/put/put/send: $dst; refusals: $bad; attachment identical: ${same:-no}; UID ${DUID:-none}"

echo "selftest: $((STEP - FAILS))/$STEP passed"
exit $(( FAILS > 125 ? 125 : FAILS ))
