#!/bin/bash
# Start the mail test stack: simulated Microsoft identity platform + Dovecot + Postfix,
# everything under DIR, everything on 127.0.0.1.   Usage: start.sh DIR [PORT_BASE]
# PORT_BASE "auto" (the default): a free base picked and claimed here (see lib.sh).
# Ports: IdP http PORT_BASE+80 (https +443), IMAPS +993, SMTP submission +587 (STARTTLS),
# the IdP's Postfix policy service +588, optional plain IMAP +143 and SMTPS +465.
# Writes DIR/env; exits 0 once all answer.
#
# Optional environment:
#   SASL_MECHS="xoauth2"            token mechanisms ("xoauth2 oauthbearer" adds OAUTHBEARER;
#                                   curl/libcurl then always pick OAUTHBEARER)
#   PLAIN_IMAP=1                    also plain IMAP on PORT_BASE+143
#   SMTPS=1                         also SMTP with implicit TLS on PORT_BASE+465
#   AUTH_DEBUG=yes                  Dovecot auth_debug
#   MESSAGE_SIZE_LIMIT=37748736     Postfix message_size_limit (bytes)
#   DEMO_CLIENT_ID / DEMO_CLIENT_SECRET / DEMO_REDIRECT_URI / DEMO_APP_TENANT=multi|single
#                                   the app pre-registered in the IdP (defaults below;
#                                   DEMO_CLIENT_ID= (empty) registers none)
#   DEMO_GOOGLE_CLIENT_ID / DEMO_GOOGLE_CLIENT_SECRET / DEMO_GOOGLE_REDIRECT_URI
#                                   the Google OAuth client pre-registered in the IdP's Google
#                                   simulation ($IDP_URL/google/; defaults below; an empty
#                                   DEMO_GOOGLE_CLIENT_ID registers none).  Besides the redirect
#                                   URI, http://localhost:<any port>/google_gmail/confirm and
#                                   http://127.0.0.1:<any port>/google_gmail/confirm are accepted.
#   IDP_ACCESS_TOKEN_LENGTH=1200    length of the opaque access tokens
#   PROBE_TIMEOUT=10                seconds to wait for the services to answer
#   MAILSTACK_TIMING=1              print a timing line per start-up phase
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: start.sh DIR [PORT_BASE]"
[ "$EUID" = 0 ] || die "must run as root (Postfix master, Dovecot privilege separation)"
PORT_BASE=${2:-auto}
[ "$PORT_BASE" = auto ] || { [[ $PORT_BASE =~ ^[0-9]+$ ]] && [ "$PORT_BASE" -ge 1024 ] && [ "$PORT_BASE" -le 64500 ]; } ||
    die "PORT_BASE must be auto or a number between 1024 and 64500"
case $1 in *[[:space:]]*) die "DIR must not contain white space: $1";; esac

mkdir -p "$1"
cd -P -- "$1" || die "cannot enter $1"
DIR=$PWD
cd / || true
[ "$PORT_BASE" = auto ] && pick_port_base "$DIR"

IDP_PORT=$((PORT_BASE + 80))
IDP_HTTPS_PORT=$((PORT_BASE + 443))
IMAPS_PORT=$((PORT_BASE + 993))
SMTP_PORT=$((PORT_BASE + 587))
POLICY_PORT=$((PORT_BASE + 588))   # idp.py's Postfix policy service (envelope sender rule)
IMAP_PORT=$((PORT_BASE + 143))
SMTPS_PORT=$((PORT_BASE + 465))
SASL_MECHS=${SASL_MECHS:-xoauth2}
SASL_MECHS=${SASL_MECHS//,/ }
SASL_MECHS=${SASL_MECHS,,}
for m in $SASL_MECHS; do
    case $m in xoauth2|oauthbearer) ;; *) die "SASL_MECHS: unsupported mechanism '$m'";; esac
done
IDP_TENANT_ID=${IDP_TENANT_ID:-4a1c9e2d-7b3f-4c8a-9d5e-6f0a1b2c3d4e}
DEMO_CLIENT_ID=${DEMO_CLIENT_ID-9f3c2a71-5d4e-4b8a-a6c1-0e2f4d6b8a13}
DEMO_CLIENT_SECRET=${DEMO_CLIENT_SECRET-demo~secret.0123456789abcdefghijklmnop}
DEMO_REDIRECT_URI=${DEMO_REDIRECT_URI-http://localhost/callback}
DEMO_APP_TENANT=${DEMO_APP_TENANT:-multi}
DEMO_GOOGLE_CLIENT_ID=${DEMO_GOOGLE_CLIENT_ID-123456789012-abcdefghijklmnopqrstuvwxyz012345.apps.googleusercontent.com}
DEMO_GOOGLE_CLIENT_SECRET=${DEMO_GOOGLE_CLIENT_SECRET-GOCSPX-demo0123456789abcdefghij}
DEMO_GOOGLE_REDIRECT_URI=${DEMO_GOOGLE_REDIRECT_URI-http://localhost/google_gmail/confirm}
IMAP_LISTEN_PORT=0; [ "${PLAIN_IMAP:-0}" = 1 ] && IMAP_LISTEN_PORT=$IMAP_PORT
SMTPS_LISTEN_PORT=""; [ "${SMTPS:-0}" = 1 ] && SMTPS_LISTEN_PORT=$SMTPS_PORT
tick "arguments"

# ---------------------------------------------------------------- refuse to double-start
for f in run/idp.pid run/dovecot/master.pid spool/postfix/pid/master.pid; do
    read_pid "$DIR/$f"
    if pid_alive "$REPLY"; then
        die "a stack is already running in $DIR (pid $REPLY from $f): run stop.sh $DIR first"
    fi
done
ports=("$IDP_PORT" "$IDP_HTTPS_PORT" "$IMAPS_PORT" "$SMTP_PORT" "$POLICY_PORT")
[ "$IMAP_LISTEN_PORT" != 0 ] && ports+=("$IMAP_PORT")
[ -n "$SMTPS_LISTEN_PORT" ] && ports+=("$SMTPS_PORT")
busy_ports "${ports[@]}"
[ -z "$REPLY" ] || die "port(s) already in use on this machine: $REPLY (PORT_BASE=$PORT_BASE).
Another stack may be running there: stop it (stop.sh ITS_DIR) or choose another PORT_BASE."
tick "ports free"

# ---------------------------------------------------------------- directories, IdP
if [ ! -f "$DIR/etc/.mailstack" ]; then
    mkdir -p "$DIR"/{etc/postfix,etc/dovecot,tls,log,run,state/dovecot,mail,spool,lib}
    chown mail:mail "$DIR/mail"
    chmod 755 "$DIR" "$DIR/mail"
    : >"$DIR/etc/.mailstack"
else
    chmod 755 "$DIR"   # mktemp makes 0700; smtpd (user postfix) and Dovecot traverse DIR
fi
: >>"$DIR/log/postfix.log"; : >>"$DIR/log/dovecot.log"; : >>"$DIR/log/idp.log"
TLS=$DIR/tls
now_ms; NOW_S=$(( REPLY / 1000 ))
read_pid "$TLS/expires"
REUSE_CERT=""
[ -n "$REPLY" ] && [ "$REPLY" -gt $(( NOW_S + 86400 )) ] && [ -s "$TLS/server.crt" ] &&
    [ -s "$TLS/server.key" ] && [ -s "$TLS/ca.crt" ] && REUSE_CERT=1
[ -n "$REUSE_CERT" ] || rm -f "$TLS"/*
# The IdP starts first (Python takes a while); its https side waits for the certificate.
idp_start
tick "idp spawned"

# ---------------------------------------------------------------- certificates
# Throw-away CA + server certificate, EC P-256 (key generation is instant).  Reused while
# valid for more than a day.  Files are moved into place complete (the IdP is watching).
if [ -z "$REUSE_CERT" ]; then
    (
        umask 077
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout "$TLS/ca.key" -out "$TLS/ca.crt.tmp" -days 30 \
            -subj "/O=Juniper tests/CN=mailstack throw-away CA $NOW_S" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null &&
        openssl req -x509 -CA "$TLS/ca.crt.tmp" -CAkey "$TLS/ca.key" \
            -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout "$TLS/server.key.tmp" -out "$TLS/server.crt.tmp" -days 30 \
            -subj "/CN=localhost" \
            -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
            -addext "basicConstraints=critical,CA:FALSE" \
            -addext "keyUsage=critical,digitalSignature" \
            -addext "extendedKeyUsage=serverAuth" 2>/dev/null
    ) || die "certificate generation failed"
    chmod 644 "$TLS/ca.crt.tmp" "$TLS/server.crt.tmp"
    mv "$TLS/ca.crt.tmp" "$TLS/ca.crt"
    mv "$TLS/server.key.tmp" "$TLS/server.key"
    mv "$TLS/server.crt.tmp" "$TLS/server.crt"
    echo $(( NOW_S + 29 * 86400 )) >"$TLS/expires"
fi
tick "certificates"

# ---------------------------------------------------------------- env file
envline() {   # KEY VALUE -> KEY=VALUE (quoted only when needed)
    if [[ $2 =~ ^[A-Za-z0-9_./:@%+,=~-]*$ ]]; then printf '%s=%s\n' "$1" "$2"
    else printf '%s=%q\n' "$1" "$2"; fi
}
IMAP_PORT_ENV=""; [ "$IMAP_LISTEN_PORT" != 0 ] && IMAP_PORT_ENV=$IMAP_PORT
{
    echo "# mailstack environment (generated by start.sh): shell-sourceable KEY=VALUE lines"
    envline DIR "$DIR"
    envline PORT_BASE "$PORT_BASE"
    envline IDP_URL "http://127.0.0.1:$IDP_PORT"
    envline IDP_HTTPS_URL "https://127.0.0.1:$IDP_HTTPS_PORT"
    envline IDP_PORT "$IDP_PORT"
    envline IDP_HTTPS_PORT "$IDP_HTTPS_PORT"
    envline IDP_TENANT_ID "$IDP_TENANT_ID"
    envline IMAPS_PORT "$IMAPS_PORT"
    envline SMTP_PORT "$SMTP_PORT"
    envline POLICY_PORT "$POLICY_PORT"
    envline IMAP_PORT "$IMAP_PORT_ENV"
    envline SMTPS_PORT "$SMTPS_LISTEN_PORT"
    envline SASL_MECHS "${SASL_MECHS// /,}"
    envline CA_FILE "$TLS/ca.crt"
    envline MAILDIR_ROOT "$DIR/mail"
    envline USERS_FILE "$DIR/etc/users"
    envline POSTFIX_LOG "$DIR/log/postfix.log"
    envline DOVECOT_LOG "$DIR/log/dovecot.log"
    envline IDP_LOG "$DIR/log/idp.log"
    envline POSTFIX_CONFIG_DIR "$DIR/etc/postfix"
    envline POSTFIX_QUEUE_DIR "$DIR/spool/postfix"
    envline DOVECOT_CONFIG "$DIR/etc/dovecot/dovecot.conf"
    envline DEMO_CLIENT_ID "$DEMO_CLIENT_ID"
    envline DEMO_CLIENT_SECRET "$DEMO_CLIENT_SECRET"
    envline DEMO_REDIRECT_URI "$DEMO_REDIRECT_URI"
    envline DEMO_APP_TENANT "$DEMO_APP_TENANT"
    # Google OAuth 2.0 simulation: base URL of o/oauth2/v2/auth and token (and its client)
    envline GOOGLE_URL "http://127.0.0.1:$IDP_PORT/google/"
    envline GOOGLE_HTTPS_URL "https://127.0.0.1:$IDP_HTTPS_PORT/google/"
    envline DEMO_GOOGLE_CLIENT_ID "$DEMO_GOOGLE_CLIENT_ID"
    envline DEMO_GOOGLE_CLIENT_SECRET "$DEMO_GOOGLE_CLIENT_SECRET"
    envline DEMO_GOOGLE_REDIRECT_URI "$DEMO_GOOGLE_REDIRECT_URI"
} >"$DIR/env"

# ---------------------------------------------------------------- password users
if [ ! -f "$DIR/etc/users" ]; then
    write_file "$DIR/etc/users" <<'EOF'
alice@example.com:{PLAIN}alice-password
bob@example.com:{PLAIN}bob-password
EOF
fi
MAIL_UID="" MAIL_GID=""
while IFS=: read -r name _ uid gid _; do
    [ "$name" = mail ] && { MAIL_UID=$uid; MAIL_GID=$gid; break; }
done </etc/passwd
[ -n "$MAIL_UID" ] || die "no 'mail' user on this system"

# ---------------------------------------------------------------- Dovecot
write_file "$DIR/etc/dovecot/oauth2.conf.ext" <<EOF
# Dovecot passdb oauth2 -> simulated identity platform (generated by start.sh).
# Password-grant mode: XOAUTH2/OAUTHBEARER hand the bearer token to the passdb as the password,
# and this mode POSTs "grant_type=password&username=<SASL user>&password=<token>&client_id=..."
# to grant_url.  So the IdP sees the mailbox AND the token and decides like Exchange: the
# mailbox's own token, a delegate's token with Full Access to it, or an app token whose app was
# granted it (tokeninfo_url mode sends the token only, and is not var-expanded: a %Lu in it ends
# in an invalid URL).  Answer 2xx JSON with access_token: valid, if "email" equals the SASL user
# (both through %Lu) and "active" is "true"; 4xx with error=invalid_grant: refused; any other
# 4xx, 5xx, timeout or refused connection: temporary failure.
# This mode's auth cache key is the user alone (no token): keep auth_cache_size = 0.
grant_url = http://127.0.0.1:$IDP_PORT/tokeninfo
use_grant_password = yes
client_id = mailstack-dovecot
username_attribute = email
active_attribute = active
active_value = true
timeout_msecs = 5000
EOF

write_file "$DIR/etc/dovecot/dovecot.conf" <<EOF
# Private Dovecot for Juniper's mail tests (generated by start.sh).  Nothing in
# /etc/dovecot or /run/dovecot is used.
base_dir = $DIR/run/dovecot
state_dir = $DIR/state/dovecot
instance_name = mailstack-$PORT_BASE
listen = 127.0.0.1
protocols = imap lmtp
log_path = $DIR/log/dovecot.log
info_log_path = $DIR/log/dovecot.log
debug_log_path = $DIR/log/dovecot.log
auth_verbose = yes
auth_debug = ${AUTH_DEBUG:-no}
verbose_ssl = no

default_login_user = dovenull
default_internal_user = dovecot

ssl = required
ssl_cert = <$TLS/server.crt
ssl_key = <$TLS/server.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes

# Token users: $SASL_MECHS, user + token checked by the IdP.  Password users: PLAIN/LOGIN
# against $DIR/etc/users.  Per-passdb "mechanisms" keeps the two apart: a password is never
# tried as a token and a token never as a password.
auth_mechanisms = $SASL_MECHS plain login
auth_failure_delay = 0
# No auth cache: the oauth2 passdb's cache key (password-grant mode) holds no token.
auth_cache_size = 0
auth_username_format = %Lu

passdb {
  driver = oauth2
  mechanisms = $SASL_MECHS
  args = $DIR/etc/dovecot/oauth2.conf.ext
}
passdb {
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%Lu $DIR/etc/users
}
# Any address the IdP vouched for (IMAP), any password user, and any recipient Postfix
# hands over (LMTP) gets a maildir: $DIR/mail/<address>/Maildir.
userdb {
  driver = static
  args = uid=$MAIL_UID gid=$MAIL_GID home=$DIR/mail/%u allow_all_users=yes
}
mail_location = maildir:~/Maildir
first_valid_uid = $MAIL_UID
first_valid_gid = $MAIL_GID
mail_privileged_group =

namespace inbox {
  inbox = yes
  separator = /
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \\Trash
    auto = subscribe
  }
}

protocol imap {
  # every test client is 127.0.0.1: allow many parallel sessions per user
  mail_max_userip_connections = 200
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_LISTEN_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
}

service lmtp {
  unix_listener $DIR/run/lmtp {
    mode = 0666
  }
}
lmtp_save_to_detail_mailbox = no

service auth {
  # Postfix smtpd (user postfix) talks SASL to this socket.
  unix_listener $DIR/run/auth-sasl {
    mode = 0666
  }
}

service imap {
  process_limit = 256
}
# All clients are 127.0.0.1: Dovecot's per-IP auth penalty (2,4,8,15 s after failures)
# would slow later tests and trip Postfix's 10 s SASL timeout.  mode 0 disables it.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
EOF

# ---------------------------------------------------------------- Postfix
PF=$DIR/etc/postfix
write_file "$PF/main.cf" <<EOF
# Private Postfix for Juniper's mail tests (generated by start.sh); started as
# "master -c $PF".  /etc/postfix is read only for the package meta files.
compatibility_level = 3.6
queue_directory = $DIR/spool/postfix
data_directory = $DIR/lib/postfix
mail_owner = postfix
setgid_group = postdrop
# No syslog in a container: log to a file through postlogd (see master.cf "postlog").
maillog_file = $DIR/log/postfix.log
maillog_file_prefixes = $DIR/log
syslog_name = postfix

myhostname = mailstack.localhost
mydomain = localhost
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtputf8_enable = no
smtp_host_lookup = native
disable_dns_lookups = yes
smtpd_peername_lookup = no
message_size_limit = ${MESSAGE_SIZE_LIMIT:-37748736}
# A real-size token (~2-2.5 kB) in "AUTH XOAUTH2 <initial response>" exceeds the default
# 2048 (the line is cut, "Invalid base64 data in initial response"); RFC 4954 allows 12288.
line_length_limit = 12288
# Mail stays queued while Dovecot is down; retried quickly once it is back.
maximal_queue_lifetime = 1h
bounce_queue_lifetime = 1h
queue_run_delay = 10s
minimal_backoff_time = 10s
maximal_backoff_time = 30s
# Accept every recipient and hand everything to Dovecot LMTP.
virtual_mailbox_domains = static:all
virtual_mailbox_maps = static:ok
virtual_transport = lmtp:unix:$DIR/run/lmtp
default_transport = error:mailstack delivers locally only
relay_transport = error:mailstack delivers locally only

smtpd_tls_cert_file = $TLS/server.crt
smtpd_tls_key_file = $TLS/server.key
smtpd_tls_security_level = may
smtpd_tls_loglevel = 0
smtpd_tls_session_cache_database =
smtp_tls_security_level = none

smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = $DIR/run/auth-sasl
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
smtpd_tls_auth_only = yes
broken_sasl_auth_clients = no
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = permit_sasl_authenticated, reject

# Exchange Online's rule for the envelope sender (the submission services' sender restrictions,
# at MAIL FROM): a token login (XOAUTH2/OAUTHBEARER) may use its SASL user or an address it has
# Send As on (IdP control send_as), else "550 5.7.60 SMTP; Client does not have permissions to
# send as this sender".  Asked of the IdP's policy service; password logins, unauthenticated
# sessions and the null sender get DUNNO (as before).  Policy service down or silent: each try
# gives up after 3 s, 2 tries 1 s apart, then a temporary 451: nothing is accepted unchecked,
# nothing is lost (the client keeps the mail and retries).  Every MAIL FROM goes through it, so
# with the IdP down password logins get that 451 too (Postfix cannot skip it by mechanism).
mailstack_send_as_policy = check_policy_service inet:127.0.0.1:$POLICY_PORT
smtpd_policy_service_timeout = 3s
smtpd_policy_service_try_limit = 2
smtpd_policy_service_retry_delay = 1s
smtpd_policy_service_default_action = 451 4.3.5 Sender permission check unavailable, try again later
EOF

# smtpd_delay_reject=no: the sender restrictions answer MAIL FROM itself (as Exchange does with
# 5.7.60), not the first RCPT TO.  Client and HELO restrictions are empty, so nothing else moves.
# shellcheck disable=SC2016  # $mailstack_send_as_policy is main.cf's, expanded by Postfix
SUB_OPTS='  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=
  -o smtpd_delay_reject=no
  -o smtpd_sender_restrictions=$mailstack_send_as_policy
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject'
{
    echo "# Private Postfix master.cf (generated by start.sh): no port 25, no chroot."
    echo "127.0.0.1:$SMTP_PORT inet n - n - - smtpd"
    echo "  -o syslog_name=postfix/submission"
    echo "  -o smtpd_tls_security_level=encrypt"
    echo "  -o smtpd_tls_auth_only=yes"
    echo "$SUB_OPTS"
    if [ -n "$SMTPS_LISTEN_PORT" ]; then
        echo "127.0.0.1:$SMTPS_PORT inet n - n - - smtpd"
        echo "  -o syslog_name=postfix/smtps"
        echo "  -o smtpd_tls_wrappermode=yes"
        echo "$SUB_OPTS"
    fi
    write_file - <<'EOF'
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
} >"$PF/master.cf"
# Postfix re-reads a main.cf younger than ~2 s in 300 ms steps before starting: back-date.
touch -d '-1 min' "$PF/main.cf" "$PF/master.cf"
tick "configuration written"

# ---------------------------------------------------------------- start + probe
# The probe (Python start-up included) runs while the servers come up.
probe idp imaps smtp-auth &
PROBE=$!
FAILED=""
( dovecot_start ) &
DOVECOT_STARTER=$!
( postfix_start ) || FAILED="postfix"
wait "$DOVECOT_STARTER" || FAILED="$FAILED dovecot"
tick "servers started"
if [ -n "$FAILED" ]; then
    kill "$PROBE" 2>/dev/null || true
elif ! wait "$PROBE"; then
    FAILED="probe"
fi
tick "services answer"
if [ -n "$FAILED" ]; then
    echo "mailstack: start failed (${FAILED# }); last log lines:" >&2
    tail -n 5 "$DIR/log/idp.log" "$DIR/log/dovecot.log" "$DIR/log/postfix.log" >&2 || true
    MAILSTACK_QUIET=1 "$MAILSTACK_HOME/stop.sh" "$DIR" || true
    exit 1
fi
now_ms
note "ready in $(( REPLY - T0_MS )) ms: IdP $IDP_PORT, IMAPS $IMAPS_PORT, SMTP $SMTP_PORT; env: $DIR/env"
