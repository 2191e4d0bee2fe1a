#!/bin/bash
# Self-test of the simulated Google OAuth 2.0 for Gmail (google_sim.py, served by idp.py under
# $GOOGLE_URL) with curl only (plus openssl for PKCE): the sign-in/consent page, Allow and Cancel,
# the code exchange with PKCE, IMAP and SMTP submission logins with the Google token (XOAUTH2
# through Dovecot's /tokeninfo check), refresh, rotation, revocation, Google's error answers, the
# controls, and that Microsoft's tokens keep working.  Does not use the reset control (other tests
# may share the stack).
# Usage: selftest-google.sh [DIR]   DIR: a running stack (start.sh DIR).  Without DIR it starts its
#                                   own stack (free port base, temporary directory; root needed)
#                                   and stops it at the end.
# Prints PASS/FAIL per step; exit status = number of failures.
set -uo pipefail
[ $# -le 1 ] || { echo "usage: selftest-google.sh [DIR]" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=$(mktemp -d /tmp/mailstack-selftest.XXXXXX)
OWN_STACK=""
cleanup() {
    [ -n "$OWN_STACK" ] && MAILSTACK_QUIET=1 "$HERE/stop.sh" "$OWN_STACK" >/dev/null 2>&1
    [ -n "$OWN_STACK" ] && rm -rf "$OWN_STACK"
    rm -rf "$WORK"
}
trap cleanup EXIT
if [ $# -eq 1 ]; then
    STACK=$1
else
    OWN_STACK=$(mktemp -d /tmp/mailstack-google.XXXXXX)
    STACK=$OWN_STACK
    "$HERE/start.sh" "$STACK" >"$WORK/start.log" 2>&1 ||
        { echo "selftest-google: the mail stack did not start:" >&2; cat "$WORK/start.log" >&2; exit 2; }
fi
[ -f "$STACK/env" ] || { echo "selftest-google: $STACK/env not found (start.sh first)" >&2; exit 2; }
# shellcheck disable=SC1091
. "$STACK/env"
[ -n "${GOOGLE_URL:-}" ] && [ -n "${DEMO_GOOGLE_CLIENT_ID:-}" ] ||
    { echo "selftest-google: no GOOGLE_URL / DEMO_GOOGLE_CLIENT_ID in $STACK/env (a stack started before the Google simulation, or DEMO_GOOGLE_CLIENT_ID empty)" >&2; exit 2; }

FAILS=0
STEP=0
pass() { STEP=$((STEP + 1)); printf 'PASS %2d %s\n' "$STEP" "$1"; }
fail() { STEP=$((STEP + 1)); FAILS=$((FAILS + 1)); printf 'FAIL %2d %s\n' "$STEP" "$1";
         [ -n "${2:-}" ] && printf '        %s\n' "$(printf '%s' "$2" | head -c 600)"; }
check() {  # check NAME CONDITION-STRING DETAIL   (CONDITION evaluated by [[ ]])
    if eval "[[ $2 ]]"; then pass "$1"; else fail "$1" "${3:-}"; fi
}
json_str() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" | head -n 1; }   # json_str FIELD < JSON
param() { printf '%s' "$2" | sed -n "s/.*[?&#]$1=\([^&]*\).*/\1/p"; }       # param NAME URL
urldecode() { local s=${1//+/ }; printf '%b' "${s//%/\\x}"; }
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
counts() {  # counts -> "authorization_code refresh_token revoke" of the Google token endpoint
    "${CURL[@]}" "$CTL/counts" | /usr/bin/python3 -c 'import json,sys; g=json.load(sys.stdin)["google"]
print(g["token"]["authorization_code"], g["token"]["refresh_token"], g["revoke"])'
}

CTL=$IDP_URL/_control
G=$GOOGLE_URL                       # ends with "/", like Google's base URLs
CID=$DEMO_GOOGLE_CLIENT_ID
CSECRET=$DEMO_GOOGLE_CLIENT_SECRET
RUN=$$-$RANDOM
# Any port: nothing listens there, the redirect is only read from the Location header.
REDIRECT=http://127.0.0.1:$(( 20000 + RANDOM % 40000 ))/google_gmail/confirm
GMAIL=https://mail.google.com/
USER1=gail-$RUN@example.com
USER2=gus-$RUN@example.com
CURL=(curl -sS --max-time 20)
MAIL=(--cacert "$CA_FILE")
POST=("${CURL[@]}" -X POST -H 'Content-Type: application/json')
VERIFIER=$(openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\n')
CHALLENGE=$(printf '%s' "$VERIFIER" | openssl dgst -sha256 -binary | b64url)
BAD_VERIFIER=${VERIFIER%?}x; [ "$BAD_VERIFIER" = "$VERIFIER" ] && BAD_VERIFIER=${VERIFIER%?}y
read -r AC0 RT0 RV0 <<<"$(counts)"
N_AC=0 N_RT=0   # token requests this script makes, by grant type (checked against the counts)

auth() {  # auth CURL-ARGS... -> "STATUS REDIRECT_URL"; the page in $WORK/page
    "${CURL[@]}" -o "$WORK/page" -w '%{http_code} %{redirect_url}' -G "${G}o/oauth2/v2/auth" "$@"
}
# auth_std STATE USER: the module's request (offline, consent, S256); A_CLIENT, A_REDIRECT, A_RTYPE,
# A_SCOPE, A_METHOD replace one parameter (a repeated parameter would not: the first one counts).
auth_std() {
    auth --data-urlencode "client_id=${A_CLIENT-$CID}" --data-urlencode "redirect_uri=${A_REDIRECT-$REDIRECT}" \
        -d "response_type=${A_RTYPE-code}" --data-urlencode "scope=${A_SCOPE-$GMAIL}" \
        --data-urlencode "state=$1" -d access_type=offline -d prompt=consent \
        --data-urlencode "code_challenge=$CHALLENGE" -d "code_challenge_method=${A_METHOD-S256}" \
        --data-urlencode "login_hint=$2"
}
rid() { sed -n 's/.*name="request" value="\([^"]*\)".*/\1/p' "$WORK/page"; }
consent() {  # consent REQUEST ACCOUNT allow|cancel -> "STATUS REDIRECT_URL"; page in $WORK/page
    "${CURL[@]}" -o "$WORK/page" -w '%{http_code} %{redirect_url}' "${G}consent" \
        --data-urlencode "request=$1" --data-urlencode "identifier=$2" -d "action=$3"
}
allow_code() {  # allow_code USER -> Allow on the page in $WORK/page, the code (decoded)
    urldecode "$(param code "$(consent "$(rid)" "$1" allow)")"
}
new_code() {  # new_code USER AUTH-CURL-ARGS... -> the code of a request of those parameters
    local user=$1; shift
    auth "$@" --data-urlencode "login_hint=$user" >/dev/null
    allow_code "$user"
}
token() {  # token GRANT CURL-ARGS... -> $ST (HTTP status), body in $WORK/tok and $BODY
    local grant=$1; shift
    case $grant in authorization_code) N_AC=$((N_AC + 1));; refresh_token) N_RT=$((N_RT + 1));; esac
    ST=$("${CURL[@]}" -o "$WORK/tok" -w '%{http_code}' -X POST "${G}token" -d "grant_type=$grant" "$@")
    BODY=$(cat "$WORK/tok")
}
# redeem CODE [CURL-ARGS...]: the module's exchange (secret in the form, + the verifier given);
# R_REDIRECT replaces the redirect_uri.
redeem() {
    local code=$1; shift
    token authorization_code --data-urlencode "code=$code" --data-urlencode "client_id=$CID" \
        --data-urlencode "client_secret=$CSECRET" --data-urlencode "redirect_uri=${R_REDIRECT-$REDIRECT}" "$@"
}
refresh() {  # refresh REFRESH_TOKEN: client authenticated with HTTP Basic this time
    token refresh_token --data-urlencode "refresh_token=$1" -u "$CID:$CSECRET"
}
imap() {  # imap USER TOKEN -> curl exit status (0 logged in, 67 refused)
    "${CURL[@]}" --url "imaps://127.0.0.1:$IMAPS_PORT/INBOX" "${MAIL[@]}" --user "$1:" \
        --oauth2-bearer "$2" -X NOOP >/dev/null 2>&1
}
imap_find() {  # imap_find USER TOKEN SUBJECT -> UID (polls up to 5 s: delivery is asynchronous)
    local uid=""
    for _ in $(seq 50); do
        uid=$("${CURL[@]}" --url "imaps://127.0.0.1:$IMAPS_PORT/INBOX" "${MAIL[@]}" --user "$1:" \
            --oauth2-bearer "$2" -X "UID SEARCH SUBJECT \"$3\"" 2>/dev/null |
            sed -n 's/^\* SEARCH \([0-9][0-9]*\).*/\1/p')
        [ -n "$uid" ] && break
        sleep 0.1
    done
    printf '%s' "$uid"
}

# ------------------------------------------------------------------ sign-in / consent page
res=$(auth_std st-1 "$USER1")
page=$(cat "$WORK/page")
check "auth page: 200 'Sign in - Google Accounts', 'Email or phone' prefilled from login_hint, Allow/Cancel, Gmail scope in words" \
    '$res == "200 " && $page == *"<title>Sign in - Google Accounts</title>"* && $page == *">Email or phone<"* && $page == *"value=\"$USER1\""* && $page == *">Allow<"* && $page == *">Cancel<"* && $page == *"permanently delete all your email from Gmail"*' "$res"
RID=$(rid)
res=$(consent "$RID" "+1 555 0100" allow)
page=$(cat "$WORK/page")
check "Allow with an account that is no mailbox (a phone number) -> the page again: \"Couldn't find your Google Account\"" \
    '$res == "200 " && $page == *"Couldn'"'"'t find your Google Account"* && $page == *">Allow<"*' "$res"
res=$(consent "$(rid)" "$USER1" allow)
CODE=$(urldecode "$(param code "$res")")
check "Allow -> 302 redirect_uri?state=...&code=4%2F0A...&scope=https://mail.google.com/ (any loopback port)" \
    '$res == "302 $REDIRECT?state=st-1&code=4%2F0A"* && $(param scope "$res") == "$GMAIL" && $CODE == 4/0A*' "$res"

# ------------------------------------------------------------------ code exchange
redeem "$CODE" --data-urlencode "code_verifier=$BAD_VERIFIER"
check "code + wrong PKCE verifier -> 400 invalid_grant" \
    '$ST == 400 && $BODY == *"\"error\": \"invalid_grant\""*' "$ST $BODY"
redeem "$CODE" --data-urlencode "code_verifier=$VERIFIER"
AT=$(json_str access_token <<<"$BODY")
RT=$(json_str refresh_token <<<"$BODY")
check "code + verifier (secret in the form) -> 200 ya29.* access token, 1//* refresh token, expires_in 3599, scope, Bearer" \
    '$ST == 200 && $AT == ya29.* && $RT == 1//* && $BODY == *"\"expires_in\": 3599"* && $BODY == *"\"scope\": \"$GMAIL\""* && $BODY == *"\"token_type\": \"Bearer\""*' "$ST $BODY"
redeem "$CODE" --data-urlencode "code_verifier=$VERIFIER"
check "the same code again -> 400 invalid_grant 'Bad Request'" \
    '$ST == 400 && $BODY == *"\"error\": \"invalid_grant\""* && $BODY == *"\"error_description\": \"Bad Request\""*' "$ST $BODY"

# ------------------------------------------------------------------ IMAP and SMTP with the token
imap "$USER1" "$AT"; rc=$?
check "IMAPS AUTHENTICATE XOAUTH2 as $USER1 with the Google token (curl rc 0)" '$rc == 0' "rc=$rc"
imap "$USER2" "$AT"; rc=$?
check "the same token as another mailbox -> refused (curl 67)" '$rc == 67' "rc=$rc"
SUBJ=selftest-google-$RUN
printf 'From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\nHello over Google XOAUTH2.\r\n' "$USER1" "$USER1" \
    "$SUBJ" >"$WORK/m.eml"
err=$("${CURL[@]}" --url "smtp://127.0.0.1:$SMTP_PORT" --ssl-reqd "${MAIL[@]}" --user "$USER1:" \
    --oauth2-bearer "$AT" --mail-from "$USER1" --mail-rcpt "$USER1" --upload-file "$WORK/m.eml" 2>&1); rc=$?
UID1=""; [ $rc = 0 ] && UID1=$(imap_find "$USER1" "$AT" "$SUBJ")
check "SMTP submission STARTTLS + AUTH XOAUTH2 with the Google token, the mail arrives in INBOX" \
    '$rc == 0 && -n $UID1' "rc=$rc uid=${UID1:-none} $err"

# ------------------------------------------------------------------ refresh, rotation, revocation
refresh "$RT"
AT2=$(json_str access_token <<<"$BODY")
imap "$USER1" "$AT2"; rc=$?
check "refresh_token grant (HTTP Basic) -> 200 new access token, expires_in 3599, no refresh_token; it logs in to IMAP" \
    '$ST == 200 && $AT2 == ya29.* && $AT2 != "$AT" && $BODY != *refresh_token* && $BODY == *"\"expires_in\": 3599"* && $rc == 0' "$ST $BODY rc=$rc"
out=$("${POST[@]}" "$CTL/google" -d '{"rotate_refresh_tokens": true}')
refresh "$RT"
RT2=$(json_str refresh_token <<<"$BODY")
AT3=$(json_str access_token <<<"$BODY")
refresh "$RT"
old="$ST $BODY"
"${POST[@]}" "$CTL/google" -d '{"rotate_refresh_tokens": false}' >/dev/null
check "control rotate_refresh_tokens on: refresh -> a new refresh token; the old one -> 400 invalid_grant 'Token has been expired or revoked.'" \
    '$out == *"\"ok\": true"* && $RT2 == 1//* && $RT2 != "$RT" && $old == "400 "*"\"invalid_grant\""*"Token has been expired or revoked."*' "$out / $RT2 / $old"
out=$("${POST[@]}" "$CTL/google" -d "{\"revoke\": \"$RT2\"}")
refresh "$RT2"
imap "$USER1" "$AT3"; rc=$?
check "control {revoke: refresh token} -> refresh 400 invalid_grant 'Token has been expired or revoked.', the grant's access token refused by IMAP" \
    '$out == *"\"found\": true"* && $ST == 400 && $BODY == *"\"error\": \"invalid_grant\""* && $BODY == *"Token has been expired or revoked."* && $rc == 67' "$out / $ST $BODY / rc=$rc"

# ------------------------------------------------------------------ refusals at the auth page
res=$(auth_std st-cancel "$USER1")
res=$(consent "$(rid)" "$USER1" cancel)
check "Cancel -> 302 redirect_uri?error=access_denied&state=st-cancel" \
    '$res == "302 $REDIRECT?error=access_denied&state=st-cancel"' "$res"
res=$(A_REDIRECT=$DEMO_GOOGLE_REDIRECT_URI auth_std st-x "$USER1")
check "the registered DEMO_GOOGLE_REDIRECT_URI ($DEMO_GOOGLE_REDIRECT_URI) -> the page" '$res == "200 "' "$res"
res=$(A_REDIRECT=http://127.0.0.1:8080/elsewhere auth_std st-x "$USER1")
page=$(cat "$WORK/page")
check "unregistered redirect_uri -> 400 page 'Error 400: redirect_uri_mismatch', no redirect" \
    '$res == "400 " && $page == *"Error 400: redirect_uri_mismatch"*' "$res"
res=$(A_CLIENT=999-unknown.apps.googleusercontent.com auth_std st-x "$USER1")
# shellcheck disable=SC2034  # used by check (eval)
page=$(cat "$WORK/page")
check "unknown client_id -> 401 page 'Error 401: invalid_client', 'The OAuth client was not found.'" \
    '$res == "401 " && $page == *"Error 401: invalid_client"* && $page == *"The OAuth client was not found."*' "$res"
res=$(A_SCOPE="" auth_std st-x "$USER1")
r2=$(A_METHOD=plain auth_std st-x "$USER1")
r3=$(A_RTYPE=token auth_std st-x "$USER1")
check "empty scope, code_challenge_method=plain, response_type=token -> 400 pages 'Error 400: invalid_request'" \
    '$res == "400 " && $r2 == "400 " && $r3 == "400 " && $(cat "$WORK/page") == *"Error 400: invalid_request"*' "$res / $r2 / $r3"

# ------------------------------------------------------------------ refusals at the token endpoint
auth_std st-t "$USER1" >/dev/null
CODE=$(allow_code "$USER1")
token authorization_code --data-urlencode "code=$CODE" --data-urlencode "client_id=$CID" \
    --data-urlencode "client_secret=wrong-$CSECRET" --data-urlencode "redirect_uri=$REDIRECT" \
    --data-urlencode "code_verifier=$VERIFIER"
r1="$ST $BODY"
token authorization_code --data-urlencode "code=$CODE" --data-urlencode "client_id=999-unknown.apps.googleusercontent.com" \
    --data-urlencode "client_secret=$CSECRET" --data-urlencode "redirect_uri=$REDIRECT" \
    --data-urlencode "code_verifier=$VERIFIER"
r2="$ST $BODY"
token authorization_code --data-urlencode "code=$CODE" --data-urlencode "client_id=$CID" \
    --data-urlencode "redirect_uri=$REDIRECT" --data-urlencode "code_verifier=$VERIFIER"
r3="$ST $BODY"
check "wrong client secret -> 401 invalid_client 'Unauthorized'; unknown client -> 401 'The OAuth client was not found.'; no secret -> 400 invalid_request 'client_secret is missing.'" \
    '$r1 == "401 "*"\"invalid_client\""*"\"Unauthorized\""* && $r2 == "401 "*"\"invalid_client\""*"The OAuth client was not found."* && $r3 == "400 "*"\"invalid_request\""*"client_secret is missing."*' "$r1 / $r2 / $r3"
R_REDIRECT=http://127.0.0.1:1/google_gmail/confirm redeem "$CODE" --data-urlencode "code_verifier=$VERIFIER"
r1="$ST $BODY"
redeem "${CODE/\//%2F}" --data-urlencode "code_verifier=$VERIFIER"   # not URL-decoded by the client
r2="$ST $BODY"
redeem "" --data-urlencode "code_verifier=$VERIFIER"
r3="$ST $BODY"
token password --data-urlencode "client_id=$CID" --data-urlencode "client_secret=$CSECRET"
r4="$ST $BODY"
check "token: other redirect_uri -> 400 redirect_uri_mismatch; a still-encoded code -> 'Malformed auth code.'; no code -> invalid_request naming it; grant_type=password -> unsupported_grant_type" \
    '$r1 == "400 "*"\"redirect_uri_mismatch\""* && $r2 == "400 "*"Malformed auth code."* && $r3 == "400 "*"\"invalid_request\""*"Missing required parameter: code"* && $r4 == "400 "*"\"unsupported_grant_type\""*"Invalid grant_type: password"*' \
    "$r1 / $r2 / $r3 / $r4"
redeem "$CODE" --data-urlencode "code_verifier=$VERIFIER"
AT4=$(json_str access_token <<<"$BODY")
check "the refused attempts did not use the code up: it is redeemed now" '$ST == 200 && $AT4 == ya29.*' "$ST $BODY"

# ------------------------------------------------------------------ scopes, refresh token rule
ONLINE=(--data-urlencode "client_id=$CID" --data-urlencode "redirect_uri=$REDIRECT" -d response_type=code)
CODE=$(new_code "$USER2" "${ONLINE[@]}" --data-urlencode "scope=openid email")
redeem "$CODE"
AT5=$(json_str access_token <<<"$BODY")
imap "$USER2" "$AT5"; rc=$?
check "scope 'openid email' (online): 200 with id_token, scope normalised, no refresh_token; IMAP refuses the token (curl 67)" \
    '$ST == 200 && $BODY == *"\"id_token\": "* && $BODY == *"https://www.googleapis.com/auth/userinfo.email"* && $BODY != *refresh_token* && $rc == 67' "$ST $BODY rc=$rc"
CODE=$(new_code "$USER2" "${ONLINE[@]}" --data-urlencode "scope=$GMAIL" -d access_type=offline)
redeem "$CODE"
first=$(json_str refresh_token <<<"$BODY")
AT6=$(json_str access_token <<<"$BODY")
CODE=$(new_code "$USER2" "${ONLINE[@]}" --data-urlencode "scope=$GMAIL" -d access_type=offline)
redeem "$CODE"
check "access_type=offline without prompt=consent: a refresh token the first time only (Google's rule)" \
    '$first == 1//* && $ST == 200 && $BODY != *refresh_token*' "first=${first:0:8} then: $ST $BODY"

# ------------------------------------------------------------------ revoke endpoint, generic controls
st1=$("${CURL[@]}" -o /dev/null -w '%{http_code}' -X POST "${G}revoke" --data-urlencode "token=$AT6")
imap "$USER2" "$AT6"; rc=$?
refresh "$first"
st2=$("${CURL[@]}" -o "$WORK/rv" -w '%{http_code}' -X POST "${G}revoke" --data-urlencode "token=$AT6")
check "POST /google/revoke token=<access token> -> 200, the grant is gone (IMAP 67, refresh invalid_grant); again -> 400 invalid_token" \
    '$st1 == 200 && $rc == 67 && $ST == 400 && $BODY == *"invalid_grant"* && $st2 == 400 && $(cat "$WORK/rv") == *"\"invalid_token\""*' "$st1 rc=$rc $ST $st2"
# shellcheck disable=SC2034  # used by check (eval)
tokens=$("${CURL[@]}" "$CTL/tokens")
imap "$USER1" "$AT4"; rc1=$?
out=$("${POST[@]}" "$CTL/expire_access_tokens" -d "{\"user\":\"$USER1\"}")
imap "$USER1" "$AT4"; rc2=$?
check "generic controls see Google tokens: GET tokens lists them, expire_access_tokens {user} -> IMAP refused" \
    '$tokens == *"$AT4"* && $rc1 == 0 && $out == *"\"ok\": true"* && $rc2 == 67' "rc before=$rc1 after=$rc2 $out"
"${POST[@]}" -o /dev/null "$CTL/inject_error" -d '{"endpoint":"google_token","status":503,"count":1}'
token password --data-urlencode "client_id=$CID" --data-urlencode "client_secret=$CSECRET"
r1="$ST $BODY"
token password --data-urlencode "client_id=$CID" --data-urlencode "client_secret=$CSECRET"
check "inject_error google_token 503 once -> 503 JSON error, then the normal answer" \
    '$r1 == "503 "*"\"error\": "* && $ST == 400' "$r1 / $ST"
read -r AC1 RT1 RV1 <<<"$(counts)"
check "GET /_control/counts: google.token counts this script's requests by grant type (+$N_AC code, +$N_RT refresh, +2 revoke)" \
    '$((AC1 - AC0)) == $N_AC && $((RT1 - RT0)) == $N_RT && $((RV1 - RV0)) == 2' "code +$((AC1 - AC0)) refresh +$((RT1 - RT0)) revoke +$((RV1 - RV0))"

# ------------------------------------------------------------------ Microsoft side unchanged
MSAT=$("${POST[@]}" "$CTL/issue_tokens" -d "{\"client_id\":\"$DEMO_CLIENT_ID\",\"user\":\"$USER1\",\"scope\":\"https://outlook.office.com/IMAP.AccessAsUser.All\"}" | json_str access_token)
imap "$USER1" "$MSAT"; rc=$?
gst=$("${CURL[@]}" "${MAIL[@]}" -o "$WORK/g" -w '%{http_code}' -X POST -H "Authorization: Bearer $AT5" \
    -H 'Content-Type: application/json' -d '{}' "$IDP_HTTPS_URL/v1.0/me/sendMail")
check "a Microsoft token still logs in to IMAP; Graph refuses a Google token (401 'Invalid audience.')" \
    '$rc == 0 && $gst == 401 && $(cat "$WORK/g") == *"Invalid audience."*' "rc=$rc graph=$gst $(cat "$WORK/g")"
secrets=()
for s in "$AT" "$RT" "$RT2" "$AT4" "$AT5" "$CSECRET" "$CODE"; do [ -n "$s" ] && secrets+=(-e "$s"); done
leak=$(grep -c -F "${secrets[@]}" "$IDP_LOG")
check "idp.log holds no Google token, code or client secret" '$leak == 0' "$leak lines"

echo "selftest-google: $((STEP - FAILS))/$STEP passed"
exit $(( FAILS > 125 ? 125 : FAILS ))
