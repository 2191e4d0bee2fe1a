#!/usr/bin/python3
"""Simulated Microsoft identity platform (v2.0 endpoints) for Juniper's mail tests.

Standard library only.  Speaks:
  GET|POST /{tenant}/oauth2/v2.0/authorize   authorization code flow (+PKCE), consent page
  POST     /{tenant}/oauth2/v2.0/consent     consent page form target (Accept / Cancel)
  POST     /{tenant}/oauth2/v2.0/token       authorization_code, refresh_token (rotating),
                                             client_credentials,
                                             urn:ietf:params:oauth:grant-type:device_code
  POST     /{tenant}/oauth2/v2.0/devicecode  device authorization request (RFC 8628): device_code,
                                             user_code, verification_uri, expires_in, interval
  GET|POST /devicelogin                      device sign-in page ("Enter code", then the consent
                                             page of the authorization code flow)
  GET      /{tenant}/v2.0/.well-known/openid-configuration
  GET      /tokeninfo?access_token=T[&user=U]  token check (200 valid / 401)
  POST     /tokeninfo                        the same for Dovecot's oauth2 passdb in password-grant
                                             mode (start.sh): form grant_type=password&username=U
                                             &password=T -> 200 + access_token / 400 invalid_grant
           With a user U (the SASL user = the Exchange mailbox) the token is valid for U when it
           is U's own token, a delegate's token with Full Access to U (control
           mailbox_permission), or an application (client credentials, Exchange resource) token
           whose app was granted U (control exchange_app_access); the reply's email is then U.
           Without U: the token's own user, as a plain tokeninfo endpoint.
  *        /v1.0/...                         simulated Microsoft Graph mail API (graph.py-like
                                             section below: sendMail delivered over Dovecot
                                             LMTP, messages read over IMAPS; drafts in memory,
                                             attachments by upload session, draft send)
  PUT|GET|DELETE /api/v2.0/Users('..')/Messages('..')/AttachmentSessions('..')?authtoken=T
                                             a Graph attachment upload session's uploadUrl
                                             (Outlook's form; the authtoken authorises it)
  *        /google/...                       simulated Google OAuth 2.0 for Gmail (google_sim.py:
                                             o/oauth2/v2/auth, consent, token, revoke); its
                                             tokens share the tables below and /tokeninfo
  GET|POST /_control/...                     test controls (see README.md), among them:
           POST mailbox_permission {"mailbox","user","rights":["FullAccess"],"grant":true|false}
                (Exchange's Add-/Remove-MailboxPermission -AccessRights FullAccess; GET lists)
           POST exchange_app_access {"client_id","mailbox","grant":true|false}
                (Add-MailboxPermission for the app's service principal: its app-only tokens
                log in to IMAP/SMTP as that mailbox; GET lists).
           POST send_as {"user","address","grant":true|false} (alias graph_send_as; "allowed"
                also accepted): Exchange's Add-RecipientPermission -AccessRights SendAs, for
                Graph sendMail's From and for SMTP's envelope sender (GET lists).  reset drops
                all three.
  --policy-port: Postfix policy delegation (SMTPD_POLICY_README) for the stack's submission
           service: a token login (XOAUTH2/OAUTHBEARER) may use as MAIL FROM the SASL user or an
           address it has Send As on, else "550 5.7.60 SMTP; Client does not have permissions to
           send as this sender" (Exchange Online); password logins, unauthenticated sessions
           and the null sender: DUNNO.  Each decision is one "POLICY" line in the log.

All state is in memory, guarded by one lock.  Tokens are opaque random strings.
Requests are logged (one line each) without secrets; tokens/codes show 4 chars + "...".
"""

import argparse
import base64
import collections
import datetime
import email
import email.header
import email.message
import email.policy
import email.utils
import hashlib
import html
import imaplib
import json
import mimetypes
import os
import re
import secrets
import smtplib
import socket
import socketserver
import ssl
import string
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import google_sim  # Google OAuth 2.0 for Gmail (same directory), sharing State's token tables

DEFAULT_TENANT_ID = "4a1c9e2d-7b3f-4c8a-9d5e-6f0a1b2c3d4e"
DEFAULT_TENANT_DOMAINS = ("example.com", "example.onmicrosoft.com")
MULTI_TENANT_ALIASES = ("common", "organizations", "consumers")
OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
KNOWN_RESOURCES = ("https://outlook.office.com", "https://outlook.office365.com",
                   "https://graph.microsoft.com")
GRAPH = "https://graph.microsoft.com"
# Exchange Online's answer to MAIL FROM with an address the SMTP AUTH login may not send as.
SMTP_SEND_AS_DENIED = "550 5.7.60 SMTP; Client does not have permissions to send as this sender"
TOKEN_SASL_METHODS = ("xoauth2", "oauthbearer")
# Resources whose app-only tokens Exchange Online accepts for IMAP/POP/SMTP AUTH.
EXCHANGE_RESOURCES = ("https://outlook.office365.com", "https://outlook.office.com")
# Exchange mailbox permissions (Add-MailboxPermission -AccessRights) the simulation knows.
MAILBOX_RIGHTS = {"fullaccess": "FullAccess"}
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
# Microsoft's user codes: 9 characters, upper-case letters and digits (no 0/O, 1/I look-alikes).
USER_CODE_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
USER_CODE_LENGTH = 9
DEVICE_CODE_MESSAGE = ("To sign in, use a web browser to open the page {verification_uri} and enter "
                       "the code {user_code} to authenticate.")
# Device code grant errors that share AADSTS70000 (InvalidGrant) with their own OAuth error.
DEVICE_CODE_INVALID = "The provided value for the input parameter 'device_code' is not valid."
DEVICE_DECLINED = "The user declined to authorize the device sign-in request."
DEVICE_SLOW_DOWN = ("OAuth 2.0 device flow error. Polling too frequently: wait at least {interval} "
                    "seconds between requests.")
SLOW_DOWN_TOLERANCE = 0.3      # seconds a poll may come early before slow_down

# code -> (OAuth error, HTTP status, message template)
AADSTS = {
    50011: ("invalid_request", 400,
            "The redirect URI '{redirect_uri}' specified in the request does not match the "
            "redirect URIs configured for the application '{client_id}'. Make sure the redirect "
            "URI sent in the request matches one added to your application in the Azure portal. "
            "Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this."),
    50058: ("login_required", 400,
            "A silent sign-in request was sent but no user is signed in."),
    50076: ("invalid_grant", 400,
            "Due to a configuration change made by your administrator, or because you moved to a "
            "new location, you must use multi-factor authentication to access '{resource}'."),
    50126: ("invalid_grant", 400,
            "Error validating credentials due to invalid username or password."),
    50148: ("invalid_grant", 400,
            "The code_verifier does not match the code_challenge supplied in the authorization "
            "request for PKCE."),
    50173: ("invalid_grant", 400,
            "The provided grant has expired due to it being revoked, a fresh auth token is needed. "
            "The user might have changed or reset their password. The grant was issued on "
            "'{issued}' and the TokensValidFrom date (before which tokens are not valid) for this "
            "user is '{valid_from}'."),
    50194: ("invalid_request", 400,
            "Application '{client_id}'({app_name}) is not configured as a multi-tenant application. "
            "Usage of the /common endpoint is not supported for such applications created after "
            "'10/15/2018'. Use a tenant-specific endpoint or configure the application to be "
            "multi-tenant."),
    53003: ("invalid_grant", 400,
            "Access has been blocked by Conditional Access policies. The access policy does not "
            "allow token issuance."),
    54005: ("invalid_grant", 400,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code "
            "or use an existing refresh token."),
    65001: ("invalid_grant", 400,
            "The user or administrator has not consented to use the application with ID "
            "'{client_id}' named '{app_name}'. Send an interactive authorization request for this "
            "user and resource."),
    65004: ("access_denied", 400, "User declined to consent to access the app."),
    70000: ("invalid_grant", 400, "Provided grant is invalid or malformed."),
    70003: ("unsupported_grant_type", 400,
            "The app requested an unsupported grant type '{grant_type}'."),
    70008: ("invalid_grant", 400,
            "The provided authorization code or refresh token has expired due to inactivity. "
            "Send a new interactive authorization request for this user and resource."),
    70016: ("authorization_pending", 400,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling."),
    70019: ("expired_token", 400,
            "Verification code expired. Have the user retry the sign-in."),
    70011: ("invalid_scope", 400,
            "The provided request must include a 'scope' input parameter. The provided value for "
            "the input parameter 'scope' is not valid. The scope {scope} is not valid."),
    90002: ("invalid_tenant", 400,
            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and "
            "are signing into the correct cloud. Check with your subscription administrator, this "
            "may happen if there are no active subscriptions for the tenant."),
    90033: ("temporarily_unavailable", 503, "A transient error has occurred. Please try again."),
    28000: ("invalid_scope", 400,
            "Provided value for the input parameter scope is not valid because it contains more "
            "than one resource. Scope {scope} is not valid."),
    500011: ("invalid_resource", 400,
             "The resource principal named {resource} was not found in the tenant named "
             "{tenant}. This can happen if the application has not been installed by the "
             "administrator of the tenant or consented to by any user in the tenant. You might "
             "have sent your authentication request to the wrong tenant."),
    500112: ("invalid_grant", 400,
             "The reply address '{got}' does not match the reply address '{want}' provided when "
             "requesting Authorization code."),
    501471: ("invalid_request", 400,
             "Unsupported code_challenge_method '{method}'. Supported values: S256, plain."),
    501481: ("invalid_grant", 400,
             "The Code_Verifier does not match the code_challenge supplied in the authorization "
             "request."),
    501491: ("invalid_request", 400, "Invalid size of Code_Verifier parameter."),
    700016: ("unauthorized_client", 400,
             "Application with identifier '{client_id}' was not found in the directory "
             "'{tenant}'. This can happen if the application has not been installed by the "
             "administrator of the tenant or consented to by any user in the tenant. You may have "
             "sent your authentication request to the wrong tenant."),
    700025: ("invalid_client", 401,
             "Client is public so neither 'client_assertion' nor 'client_secret' should be "
             "presented."),
    700054: ("unsupported_response_type", 400,
             "response_type '{response_type}' is not enabled for the application."),
    700082: ("invalid_grant", 400,
             "The refresh token has expired due to inactivity. The token was issued on "
             "'{issued}' and was inactive for {inactive}."),
    900144: ("invalid_request", 400,
             "The request body must contain the following parameter: '{param}'."),
    900561: ("invalid_request", 400,
             "The endpoint only accepts POST requests. Received a GET request."),
    1002012: ("invalid_scope", 400,
              "The provided value for scope {scope} is not valid. Client credential flows must "
              "have a scope value with /.default suffixed to the resource identifier "
              "(application ID URI)."),
    7000215: ("invalid_client", 401,
              "Invalid client secret provided. Ensure the secret being sent in the request is the "
              "client secret value, not the client secret ID, for a secret added to app "
              "'{client_id}'."),
    7000218: ("invalid_client", 401,
              "The request body must contain the following parameter: 'client_assertion' or "
              "'client_secret'."),
    7000222: ("invalid_client", 401,
              "The provided client secret keys for app '{client_id}' are expired. Visit the Azure "
              "portal to create new keys for your app: https://aka.ms/NewClientSecret, or "
              "consider using certificate credentials for added security: "
              "https://aka.ms/certCreds."),
    700021: ("invalid_client", 401,
             "Client assertion application identifier doesn't match 'client_id' parameter."),
    700024: ("invalid_client", 401,
             "Client assertion is not within its valid time range. Current time: {now}, assertion "
             "valid from {nbf}, expiry time of assertion {exp}."),
    700027: ("invalid_client", 401,
             "The certificate with identifier used to sign the client assertion is not registered "
             "on application. [Reason - The key was not found., Thumbprint of key used by client: "
             "'{thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph "
             "to see configured keys for app Id '{client_id}'.]"),
    700023: ("invalid_client", 401,
             "Client assertion failed signature validation."),
    50027: ("invalid_request", 400,
            "JWT token is invalid or malformed. {why}"),
    9002313: ("invalid_grant", 400,
              "Invalid request. Request is malformed or invalid."),
    9002325: ("invalid_request", 400,
              "Proof Key for Code Exchange is required for cross-origin authorization code "
              "redemption."),
}
SUBERRORS = {50173: "bad_token", 65001: "consent_required", 700082: "bad_token",
             50076: "basic_action"}

SCOPE_WORDS = {
    "SMTP.Send": "Send email from mailboxes using SMTP AUTH",
    "IMAP.AccessAsUser.All": "Read and write access to mailboxes via IMAP",
    "POP.AccessAsUser.All": "Read and write access to mailboxes via POP",
    "EWS.AccessAsUser.All": "Access mailboxes as the signed-in user via Exchange Web Services",
    "Mail.Send": "Send mail as you",
    "Mail.Read": "Read your mail",
    "Mail.ReadWrite": "Read and write access to your mail",
    "User.Read": "Sign you in and read your profile",
    ".default": "Use the permissions configured for the app",
    "openid": "Sign you in",
    "profile": "View your basic profile",
    "email": "View your email address",
    "offline_access": "Maintain access to data you have given it access to",
}

SECRET_KEYS = {"client_secret", "password"}
TOKEN_KEYS = {"access_token", "refresh_token", "code", "code_verifier", "id_token",
              "client_assertion", "token", "device_code", "user_code", "otc", "authtoken",
              "revoke"}  # revoke: _control/google {"revoke": "<refresh token>"}
TOKEN_CHARS = string.ascii_letters + string.digits + "-_"


def now():
    return time.time()


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%m/%d/%Y %H:%M:%S")


def ms_timestamp(ts=None):
    return datetime.datetime.fromtimestamp(ts or now(), datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%SZ")


def rand_token(length, prefix=""):
    length = max(16, int(length))
    return prefix + "".join(secrets.choice(TOKEN_CHARS) for _ in range(length - len(prefix)))


def short(value):
    value = str(value)
    if len(value) <= 4:
        return value + "\u2026"
    return value[:4] + "\u2026"


def redact_params(params):
    out = []
    for k, v in params.items():
        if k in SECRET_KEYS:
            out.append("%s=***" % k)
        elif k in TOKEN_KEYS:
            out.append("%s=%s" % (k, short(v)))
        else:
            out.append("%s=%s" % (k, v[:120]))
    return " ".join(out)


def grant_app_mailbox(grants, body, grant, keep_empty):
    """An app's mailbox allow list (client_id -> set of addresses), one mailbox granted or taken
    back.  keep_empty: Graph's access policy keeps an emptied list (an empty policy allows
    none); Exchange's grants drop it (no grant, no mailbox either way)."""
    client = str(body.get("client_id") or "")
    addr = str(body.get("mailbox") or "").strip().lower()
    if not client or "@" not in addr:
        raise ValueError("'client_id' and 'mailbox' are required")
    granted = grants.setdefault(client, set())
    if grant:
        granted.add(addr)
    else:
        granted.discard(addr)
    if not granted and not keep_empty:
        del grants[client]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def pkce_s256(verifier):
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def is_loopback_redirect(uri):
    p = urllib.parse.urlsplit(uri)
    return p.scheme == "http" and p.hostname in ("localhost", "127.0.0.1", "::1")


def redirect_matches(registered, given):
    """Exact match; for http loopback redirect URIs the port is ignored (as Microsoft does)."""
    if registered == given:
        return True
    if is_loopback_redirect(registered) and is_loopback_redirect(given):
        a, b = urllib.parse.urlsplit(registered), urllib.parse.urlsplit(given)
        return (a.hostname, a.path or "/", a.query) == (b.hostname, b.path or "/", b.query)
    return False


class SafeDict(dict):
    def __missing__(self, key):
        return "?"


class AadError(Exception):
    def __init__(self, code, status=None, error=None, message=None, **fmt):
        super().__init__(code)
        default = AADSTS.get(code, ("invalid_request", 400, "Simulated error."))
        self.code = code
        self.error = error or default[0]
        self.status = status or default[1]
        self.message = message or default[2].format_map(SafeDict(fmt))


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.args = args
        # Short-lived tokens the Graph simulation uses to log in to Dovecot (IMAP) as a
        # mailbox; tokeninfo answers them without counting and without injections.
        self.internal_tokens = {}
        self.reset()

    # -- lifecycle ---------------------------------------------------------
    def reset(self):
        self.apps = {}
        self.codes = {}
        self.refresh_tokens = {}
        self.access_tokens = {}
        self.pending = {}
        self.injections = []
        self.revoked_users = {}        # user -> TokensValidFrom timestamp
        self.no_consent = set()        # (user, client_id or "*")
        # Exchange's Send As right (Add-RecipientPermission -AccessRights SendAs), one for both
        # protocols: user (trustee) -> addresses the user may send as, on Graph (the message's
        # From) and over SMTP submission with a token login (the envelope sender, MAIL FROM).
        self.send_as = {}
        # client_id -> mailboxes an app-only token may use on Graph (an application access
        # policy); absent or empty: every mailbox of the tenant.
        self.app_mailboxes = {}
        # Exchange mailbox permissions: mailbox -> {user -> set of rights ("FullAccess")}; a
        # user's token with FullAccess logs in to IMAP/SMTP as the mailbox (shared mailboxes).
        self.mailbox_permissions = {}
        # client_id -> mailboxes the app's service principal was granted in Exchange
        # (Add-MailboxPermission): its app-only tokens log in to IMAP/SMTP as those only.
        self.exchange_app_mailboxes = {}
        self.graph_delta = {}          # $skiptoken / $deltatoken -> sync state
        # Graph drafts kept in memory (not in Dovecot): mailbox -> OrderedDict(id -> draft),
        # and the attachment upload sessions on them: session id -> session (oldest first).
        self.graph_drafts = {}
        self.graph_upload_sessions = collections.OrderedDict()
        self.device_codes = {}         # device_code -> device authorization (RFC 8628)
        # Google OAuth (google_sim.py): its clients, consent pages and settings; its codes and
        # tokens go into the tables above, marked "issuer": "google"
        self.google = google_sim.GoogleState(self.args)
        self.settings = {
            "access_token_lifetime": 3600,
            "code_lifetime": 600,
            "refresh_token_inactivity": 90 * 86400,
            "access_token_length": self.args.access_token_length,
            "refresh_token_length": 600,
            "auto_consent": False,
            "auto_consent_account": "user@example.com",
            # device authorization grant: defaults for new device codes
            "device_code_expires_in": 900,
            "device_code_interval": 5,
            "device_code_slow_down_step": 5,
            # Graph attachment upload sessions: lifetime (expirationDateTime, not extended by
            # uploads, as Outlook's), smallest size accepted (real Graph: 3 MB; 0 accepts
            # any), largest size (150 MB; a tenant's default message size limit is 35 MB)
            "graph_upload_session_lifetime": 900,
            "graph_upload_session_min_size": 0,
            "graph_max_attachment_size": 150 * 1024 * 1024,
        }
        self.reset_counts()
        if self.args.client_id:
            self.register_app({
                "client_id": self.args.client_id,
                "client_secret": self.args.client_secret or None,
                "redirect_uri": self.args.redirect_uri or None,
                "tenant": self.args.app_tenant,
                "name": self.args.app_name,
            })

    def reset_counts(self):
        self.counts = {
            "token": {"total": 0, "authorization_code": 0, "refresh_token": 0,
                      "client_credentials": 0, "device_code": 0, "other": 0},
            "token_errors": 0,
            "authorize": 0,
            "devicecode": 0,
            "consent_shown": 0,
            "consent_accepted": 0,
            "consent_declined": 0,
            "tokeninfo": 0,
            "tokeninfo_valid": 0,
            "tokeninfo_invalid": 0,
            "injected": 0,
            # Postfix policy delegation (SMTP envelope sender): requests, answered DUNNO,
            # answered otherwise (550 5.7.60 or an injected action), dropped (injected close)
            "smtp_policy": {"requests": 0, "allowed": 0, "refused": 0, "dropped": 0},
            # the simulated Google endpoints (/google/...): authorize, consent, token, revoke
            "google": google_sim.new_counts(),
        }
        self.policy_decisions = collections.deque(maxlen=50)
        self.graph_counts = {
            "sendmail_accepted": 0,
            "sendmail_accepted_by_user": {},
            "requests_total": 0,
            "requests": {},
            "errors": {},
            "injected": 0,
            "sent": [],
            # drafts and large attachments (createUploadSession + PUTs on the uploadUrl)
            "drafts_created": 0,
            "draft_sends": 0,
            "draft_sends_by_user": {},
            "attachments_posted": 0,
            "upload_sessions": 0,
            "upload_sessions_completed": 0,
            "upload_puts": 0,
            "upload_bytes": 0,
            "upload_puts_with_authorization": 0,
        }

    # -- apps ----------------------------------------------------------------
    def register_app(self, body):
        client_id = str(body.get("client_id") or uuid.uuid4())
        uris = body.get("redirect_uris")
        if uris is None:
            uri = body.get("redirect_uri")
            uris = [uri] if uri else []
        if isinstance(uris, str):
            uris = [uris]
        tenant = str(body.get("tenant") or "multi").lower()
        if tenant not in ("single", "multi"):
            raise ValueError("tenant must be 'single' or 'multi'")
        app = {
            "client_id": client_id,
            "client_secret": body.get("client_secret") or None,
            "redirect_uris": list(uris),
            "tenant": tenant,
            "tenant_id": str(body.get("tenant_id") or self.args.tenant_id).lower(),
            "name": str(body.get("name") or body.get("display_name") or "Test application"),
            "secret_expired": bool(body.get("secret_expired", False)),
            "require_pkce": bool(body.get("require_pkce", False)),
            # Authentication -> Advanced settings -> "Allow public client flows": the device
            # code grant without a client credential.
            "public_client_flows": bool(body.get("public_client_flows", True)),
        }
        self.apps[client_id] = app
        return self.public_app(app)

    @staticmethod
    def public_app(app):
        out = {k: v for k, v in app.items() if k not in ("client_secret", "certificates")}
        out["confidential"] = bool(app["client_secret"] or app.get("certificates"))
        return out

    def tenant_known(self, tenant, app=None):
        t = tenant.lower()
        if t in MULTI_TENANT_ALIASES:
            return True
        if t == self.args.tenant_id.lower() or t in DEFAULT_TENANT_DOMAINS:
            return True
        if app and t == app["tenant_id"]:
            return True
        return any(t == a["tenant_id"] for a in self.apps.values())

    def check_tenant(self, tenant, app):
        if not self.tenant_known(tenant, app):
            raise AadError(90002, tenant=tenant)
        if app and app["tenant"] == "single":
            t = tenant.lower()
            if t in MULTI_TENANT_ALIASES:
                raise AadError(50194, client_id=app["client_id"], app_name=app["name"])
            if t != app["tenant_id"] and t not in DEFAULT_TENANT_DOMAINS:
                raise AadError(700016, client_id=app["client_id"], tenant=tenant)

    # -- injections ----------------------------------------------------------
    def take_injection(self, endpoint, grant_type=None, path=None, method=None):
        for inj in self.injections:
            if inj["endpoint"] != endpoint:
                continue
            if inj.get("grant_type") and inj["grant_type"] != grant_type:
                continue
            if inj.get("path") and str(inj["path"]).lower() not in (path or "").lower():
                continue
            if inj.get("method") and str(inj["method"]).upper() != (method or "").upper():
                continue
            inj["remaining"] -= 1
            if inj["remaining"] <= 0:
                self.injections.remove(inj)
            self.counts["injected"] += 1
            return dict(inj)
        return None

    # -- tokens --------------------------------------------------------------
    def issue(self, app, user, scopes, resource, nonce=None, grant_issued=None, family=None,
              tenant_id=None, public_client=False):
        s = self.settings
        t = now()
        at = rand_token(s["access_token_length"], "EwA")
        self.access_tokens[at] = {
            "user": user, "client_id": app["client_id"], "scopes": scopes, "resource": resource,
            "issued": t, "expires": t + s["access_token_lifetime"], "revoked": False,
        }
        granted = [x for x in scopes if x not in OIDC_SCOPES]
        granted += [x for x in scopes if x in ("openid", "profile", "email")]
        resp = {
            "token_type": "Bearer",
            "scope": " ".join(granted),
            "expires_in": int(s["access_token_lifetime"]),
            "ext_expires_in": int(s["access_token_lifetime"]),
            "access_token": at,
        }
        if user and "offline_access" in scopes:
            rt = rand_token(s["refresh_token_length"], "M.C5")
            self.refresh_tokens[rt] = {
                "user": user, "client_id": app["client_id"], "scopes": scopes,
                "resource": resource, "issued": t, "grant_issued": grant_issued or t,
                "last_used": t, "status": "active", "family": family or uuid.uuid4().hex,
                "tenant_id": tenant_id or app["tenant_id"],
                # issued to a public client flow (device code without a client credential):
                # may be redeemed without one while the app allows public client flows
                "public_client": bool(public_client),
            }
            resp["refresh_token"] = rt
        if user and "openid" in scopes:
            resp["id_token"] = self.id_token(app, user, nonce, tenant_id or app["tenant_id"])
        return resp

    def id_token(self, app, user, nonce, tenant_id):
        t = int(now())
        oid = str(uuid.uuid5(uuid.NAMESPACE_DNS, user))
        claims = {
            "aud": app["client_id"],
            "iss": "https://login.microsoftonline.com/%s/v2.0" % tenant_id,
            "iat": t, "nbf": t, "exp": t + 3600,
            "name": user.split("@")[0].capitalize(),
            "oid": oid, "preferred_username": user, "email": user,
            "sub": b64url(hashlib.sha256((oid + app["client_id"]).encode()).digest()),
            "tid": tenant_id, "ver": "2.0",
        }
        if nonce:
            claims["nonce"] = nonce
        header = {"typ": "JWT", "alg": "none"}
        return "%s.%s." % (b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()))

    def revoke_user(self, user):
        t = now()
        self.revoked_users[user] = t
        n_rt = n_at = 0
        for rec in self.refresh_tokens.values():
            if rec["user"] == user and rec["status"] == "active":
                rec["status"] = "revoked"
                rec["revoked_at"] = t
                n_rt += 1
        for rec in self.access_tokens.values():
            if rec["user"] == user and not rec["revoked"]:
                rec["revoked"] = True
                n_at += 1
        return n_rt, n_at

    # -- Exchange mailbox access (IMAP/SMTP AUTH as a mailbox) ---------------------
    def mailbox_access(self, rec, mailbox):
        """May this (valid) access token log in to Exchange as mailbox?  (kind, None) with kind
        own / full_access / app, or (None, why)."""
        if rec.get("issuer") == google_sim.ISSUER:   # Gmail's rule: own mailbox, mail scope
            return google_sim.mailbox_access(rec, mailbox)
        mailbox = mailbox.lower()
        if rec["user"] is not None:
            user = rec["user"].lower()
            if user == mailbox:
                return "own", None
            if "FullAccess" in self.mailbox_permissions.get(mailbox, {}).get(user, ()):
                return "full_access", None
            return None, "%s has no Full Access to mailbox %s" % (user, mailbox)
        resource = (rec["resource"] or "").lower()
        if resource not in EXCHANGE_RESOURCES:
            return None, "app-only token for %s, not for Exchange Online" % (resource or "?")
        if mailbox in self.exchange_app_mailboxes.get(rec["client_id"], ()):
            return "app", None
        return None, "app %s was not granted mailbox %s" % (rec["client_id"], mailbox)

    def public_mailbox_permissions(self):
        return {m: {u: sorted(r) for u, r in sorted(users.items())}
                for m, users in sorted(self.mailbox_permissions.items())}

    def public_exchange_app_access(self):
        return {c: sorted(m) for c, m in sorted(self.exchange_app_mailboxes.items())}

    def public_send_as(self):
        return {u: sorted(a) for u, a in sorted(self.send_as.items())}

    # -- SMTP submission: Exchange's rule for the envelope sender ------------------------
    def smtp_send_as_decision(self, attrs):
        """(action, reason) for one Postfix policy delegation request (SMTPD_POLICY_README).
        Exchange Online lets an SMTP AUTH client use as MAIL FROM the mailbox it logged in as
        (the SASL user: its own, a Full Access mailbox, an app's granted mailbox) or an address
        it has Send As on; anything else is 550 5.7.60.  Only token logins (XOAUTH2,
        OAUTHBEARER) get the rule: password users (PLAIN/LOGIN) are the stack's plain relay
        accounts and send as anyone, as before.  DUNNO hands over to Postfix's own restrictions."""
        if attrs.get("request", "") != "smtpd_access_policy":
            return "DUNNO", "not an smtpd_access_policy request"
        user = attrs.get("sasl_username", "").strip().lower()
        method = attrs.get("sasl_method", "").strip().lower()
        sender = attrs.get("sender", "").strip().lower()
        if not user:
            return "DUNNO", "not authenticated"
        if method not in TOKEN_SASL_METHODS:
            return "DUNNO", "password login"
        if not sender:
            return "DUNNO", "null sender"
        if sender == user:
            return "DUNNO", "own address"
        if sender in self.send_as.get(user, ()):
            return "DUNNO", "Send As"
        return SMTP_SEND_AS_DENIED, "no Send As on %s" % sender

    # -- device authorization grant (RFC 8628) -----------------------------------
    def new_device_code(self, app, tenant, scopes, resource):
        s = self.settings
        live = {r["user_code"] for r in self.device_codes.values()}
        while True:
            user_code = "".join(secrets.choice(USER_CODE_CHARS) for _ in range(USER_CODE_LENGTH))
            if user_code not in live:
                break
        device_code = rand_token(300, "DAQAB")
        t = now()
        self.device_codes[device_code] = {
            "device_code": device_code, "user_code": user_code, "client_id": app["client_id"],
            "tenant": tenant, "scopes": scopes, "resource": resource, "created": t,
            "expires": t + int(s["device_code_expires_in"]),
            "interval": int(s["device_code_interval"]), "status": "pending", "user": None,
            "polls": 0, "slow_downs": 0, "last_poll": None, "decided": None,
        }
        return self.device_codes[device_code]

    @staticmethod
    def device_status(rec, t=None):
        """pending / approved / declined / redeemed, or expired once past expires_in."""
        if rec["status"] != "redeemed" and (t or now()) >= rec["expires"]:
            return "expired"
        return rec["status"]

    def find_user_code(self, user_code):
        code = re.sub(r"[\s-]", "", str(user_code or "")).upper()
        for rec in self.device_codes.values():
            if code and rec["user_code"] == code:
                return rec
        return None

    def decide_device(self, rec, user):
        """Approve (user) or decline (None) a pending device code."""
        rec["decided"] = now()
        if user is None:
            rec["status"] = "declined"
            return
        rec["status"] = "approved"
        rec["user"] = user
        self.no_consent.discard((user, rec["client_id"]))
        self.no_consent.discard((user, "*"))

    def public_device(self, rec):
        t = now()
        return {
            "user_code": rec["user_code"], "client_id": rec["client_id"], "tenant": rec["tenant"],
            "scopes": rec["scopes"], "status": self.device_status(rec, t), "polls": rec["polls"],
            "slow_downs": rec["slow_downs"], "interval": rec["interval"], "user": rec["user"],
            "created": iso(rec["created"]), "expires_in": max(0, int(rec["expires"] - t)),
        }

    def gc(self):
        t = now()
        for k in [k for k, v in self.device_codes.items() if t - v["expires"] > 3600]:
            del self.device_codes[k]
        for k in [k for k, v in self.codes.items() if t - v["created"] > 3600]:
            del self.codes[k]
        for k in [k for k, v in self.pending.items() if t - v["created"] > 3600]:
            del self.pending[k]
        for k in [k for k, v in self.access_tokens.items() if t - v["expires"] > 3600]:
            del self.access_tokens[k]


def parse_scope_param(raw):
    return [s for s in (raw or "").split() if s]


def resource_of(scope):
    if scope in OIDC_SCOPES:
        return None
    if "://" in scope:
        p = urllib.parse.urlsplit(scope)
        return "%s://%s" % (p.scheme, p.netloc)
    return GRAPH


def validate_scopes(scopes, tenant):
    """Return the single resource the scopes belong to (or None for OIDC-only)."""
    resources = []
    for s in scopes:
        r = resource_of(s)
        if r and r not in resources:
            resources.append(r)
    if len(resources) > 1:
        raise AadError(28000, scope=" ".join(scopes))
    if resources and resources[0].lower() not in KNOWN_RESOURCES:
        raise AadError(500011, resource=resources[0], tenant=tenant)
    return resources[0] if resources else None


def scope_words(scope):
    name = scope.rsplit("/", 1)[-1] if "://" in scope else scope
    words = SCOPE_WORDS.get(name)
    if words:
        res = resource_of(scope)
        if res and res != GRAPH:
            host = urllib.parse.urlsplit(res).hostname
            return "%s (%s)" % (words, host)
        return words
    return scope


# ==================================================================== Microsoft Graph (mail)
# Served under /v1.0/ by the same servers.  sendMail hands the message to Dovecot's LMTP
# socket (the stack's delivery path: Postfix's submission port only takes authenticated
# clients), the read side logs in to Dovecot over IMAPS with a short-lived internal token.

GRAPH_MAX_REQUEST = 4 * 1024 * 1024
# Drafts live in the simulator's memory; their ids start with this prefix (the ids of messages
# in Dovecot, message_id_for, are "AAMk" + base64url of a hex tag: AAMk[MNOYZ]..., never "AAMkAD").
GRAPH_DRAFT_PREFIX = "AAMkADraft"
GRAPH_MAX_DRAFTS = 100                 # per mailbox; beyond, the oldest draft is dropped
GRAPH_MAX_UPLOAD_SESSIONS = 50         # open upload sessions (all mailboxes); oldest dropped
GRAPH_MAX_ATTACHMENT = 150 * 1024 * 1024
GRAPH_UPLOAD_CONTEXT = "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.uploadSession"
# HTTP.sys's answer to a POST without Content-Length (and not chunked): message: send documents
# "Content-Length: 0. Required."
GRAPH_LENGTH_REQUIRED = (
    '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN""http://www.w3.org/TR/html4/strict.dtd">\r\n'
    '<HTML><HEAD><TITLE>Length Required</TITLE>\r\n<META HTTP-EQUIV="Content-Type" Content="text/'
    'html; charset=us-ascii"></HEAD>\r\n<BODY><h2>Length Required</h2>\r\n<hr><p>HTTP Error 411. '
    'The request must be chunked or have a content length.</p>\r\n</BODY></HTML>\r\n')
GRAPH_WWW_AUTHENTICATE = ('Bearer realm="", authorization_uri="https://login.microsoftonline.com/'
                          'common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"')
GRAPH_DEFAULT_ERRORS = {
    400: ("BadRequest", "Invalid request."),
    401: ("InvalidAuthenticationToken", "Access token validation failure."),
    403: ("ErrorAccessDenied", "Access is denied. Check credentials and try again."),
    404: ("ErrorItemNotFound", "The specified object was not found in the store."),
    411: ("LengthRequired", "The request must be chunked or have a content length."),
    413: ("RequestEntityTooLarge", "The request is larger than the maximum request length of 4MB."),
    416: ("ErrorInvalidRequest", "The requested range is not satisfiable."),
    429: ("ApplicationThrottled", "Application is over its MailboxConcurrency limit."),
    500: ("InternalServerError", "An internal server error occurred. The operation failed."),
    502: ("BadGateway", "Bad gateway."),
    503: ("ServiceUnavailable", "Service is unavailable. Please try again later."),
    504: ("GatewayTimeout", "The operation timed out."),
}
GRAPH_ACCESS_DENIED = "Access is denied. Check credentials and try again."
GRAPH_SEND_AS_DENIED = ("The user account which was used to submit this request does not have the "
                        "right to send mail on behalf of the specified sending account., Cannot "
                        "submit message.")
GRAPH_IDX14100 = ("IDX14100: JWT is not well formed, there are no dots (.).\nThe token needs to be "
                  "in JWS or JWE Compact Serialization Format. (JWS): 'EncodedHeader.EndcodedPayload."
                  "EncodedSignature'. (JWE): 'EncodedProtectedHeader.EncodedEncryptedKey."
                  "EncodedInitializationVector.EncodedCiphertext.EncodedAuthenticationTag'.")
GRAPH_INEFFICIENT = "The restriction or sort order is too complex for this operation."
WELL_KNOWN_FOLDERS = {"inbox": "INBOX", "sentitems": "Sent", "drafts": "Drafts",
                      "deleteditems": "Trash"}
MESSAGE_PROPS = ("createdDateTime", "lastModifiedDateTime", "changeKey", "categories",
                 "receivedDateTime", "sentDateTime", "hasAttachments", "internetMessageId",
                 "subject", "bodyPreview", "importance", "parentFolderId", "conversationId",
                 "isDeliveryReceiptRequested", "isReadReceiptRequested", "isRead", "isDraft",
                 "webLink", "inferenceClassification", "body", "sender", "from", "toRecipients",
                 "ccRecipients", "bccRecipients", "replyTo", "flag")
FILTER_PROPS = {"isread": "isRead", "receiveddatetime": "receivedDateTime",
                "sentdatetime": "sentDateTime", "subject": "subject", "isdraft": "isDraft",
                "hasattachments": "hasAttachments", "internetmessageid": "internetMessageId",
                "from/emailaddress/address": "from/emailAddress/address",
                "flag/flagstatus": "flag/flagStatus"}
ORDER_PROPS = {"receiveddatetime": "receivedDateTime", "sentdatetime": "sentDateTime",
               "subject": "subject"}


class GraphError(Exception):
    def __init__(self, status, code=None, message=None, headers=None, extra=None):
        super().__init__(code)
        default = GRAPH_DEFAULT_ERRORS.get(status, ("UnknownError", "An error occurred."))
        self.status, self.code = status, code or default[0]
        self.message = message or default[1]
        self.headers = headers or {}
        self.extra = extra or {}       # more top-level members of the error body


class GraphResponse:
    def __init__(self, status, body=b"", ctype=None, headers=None):
        self.status, self.body, self.ctype = status, body, ctype
        self.headers = headers or {}


def graph_iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def graph_parse_datetime(text):
    t = text.strip()
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    d = datetime.datetime.fromisoformat(t)
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return d.timestamp()


def graph_oid(user):
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, user))


def message_id_for(user, folder, uidvalidity, uid):
    tag = hashlib.sha256(user.encode()).hexdigest()[:8]
    return "AAMk" + b64url(("%s|%s|%s|%s" % (tag, folder, uidvalidity, uid)).encode())


def parse_message_id(user, mid):
    try:
        if not mid.startswith("AAMk"):
            raise ValueError
        raw = mid[4:]
        tag, folder, uidvalidity, uid = base64.urlsafe_b64decode(
            raw + "=" * (-len(raw) % 4)).decode().split("|")
        if tag != hashlib.sha256(user.encode()).hexdigest()[:8]:
            raise KeyError
        return folder, int(uidvalidity), int(uid)
    except KeyError:
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    except (ValueError, UnicodeDecodeError, TypeError):
        raise GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.")


def folder_id(folder):
    return "AQMk" + b64url(("folder|" + folder).encode())


def split_header_block(raw):
    """(header bytes incl. the blank line, body bytes) of an RFC 5322 message."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        i = raw.find(sep)
        if i >= 0:
            j = min([k for k in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if k >= 0])
            if j == i:
                return raw[:i + len(sep)], raw[i + len(sep):]
    return raw, b""


def remove_header(raw, name):
    """The message without the header `name` (continuation lines included); other bytes kept."""
    head, body = split_header_block(raw)
    lines = head.splitlines(keepends=True)
    out, skipping = [], False
    prefix = name.lower().encode() + b":"
    for line in lines:
        if line[:1] in (b" ", b"\t") and skipping:
            continue
        skipping = line.lower().startswith(prefix)
        if not skipping:
            out.append(line)
    return b"".join(out) + body


def header_fields(head):
    """The header fields of a header block (split_header_block's first half), each with its
    continuation lines and line ends, as bytes; the blank line is left out."""
    fields = []
    for line in head.splitlines(keepends=True):
        if not line.strip(b"\r\n"):
            break
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        else:
            fields.append(line)
    return fields


def graph_attachment_part(att, nl):
    """One attachment as a MIME body part (headers, blank line, base64 content), bytes."""
    pol = email.policy.default.clone(linesep=nl.decode())
    part = email.message.MIMEPart(policy=pol)
    mtype = (att.get("contentType") or "").split(";")[0].strip().lower().split("/")
    if len(mtype) != 2 or not all(mtype) or mtype[0] in ("multipart", "message"):
        mtype = ["application", "octet-stream"]
    cid = att.get("contentId")
    # The header fields by the email package (RFC 2231 file names...); the content, base64 in
    # 76-character lines as the package writes it, by binascii (large files: much faster).
    part.set_content(b"", maintype=mtype[0], subtype=mtype[1], cte="base64",
                     disposition="inline" if att.get("isInline") else "attachment",
                     filename=att["name"], cid=("<%s>" % cid.strip("<>")) if cid else None)
    head = split_header_block(part.as_bytes(policy=pol))[0]
    content = base64.encodebytes(att["data"]).rstrip(b"\n")
    return head + (content.replace(b"\n", nl) if nl != b"\n" else content)


def graph_add_attachments(raw, attachments):
    """The message with the attachments added as parts: into a multipart/mixed message before
    its closing delimiter, else the message becomes the first part of a new multipart/mixed
    (its Content-* header fields move into that part).  Everything else keeps its bytes."""
    if not attachments:
        return raw
    head, body = split_header_block(raw)
    nl = b"\r\n" if b"\r\n" in head else b"\n"
    msg = email.message_from_bytes(head, policy=email.policy.compat32)
    parts = [graph_attachment_part(a, nl) for a in attachments]
    boundary = msg.get_boundary() if msg.get_content_type() == "multipart/mixed" else None
    if boundary:
        delim = b"--" + boundary.encode("ascii", "replace")
        end = body.rfind(delim + b"--")
        add = b"".join(delim + nl + p + nl for p in parts)
        if end < 0:  # no closing delimiter: close it
            if body and not body.endswith(b"\n"):
                body += nl
            return head + body + add + delim + b"--" + nl
        return head + body[:end] + add + body[end:]
    fields = header_fields(head)
    content = [f for f in fields if f.lower().startswith(b"content-")]
    outer = [f for f in fields if not f.lower().startswith(b"content-")]
    if not any(f.lower().startswith(b"mime-version:") for f in outer):
        outer.append(b"MIME-Version: 1.0" + nl)
    delim = b"--=_mailstack_" + secrets.token_hex(12).encode()
    outer.append(b'Content-Type: multipart/mixed; boundary="' + delim[2:] + b'"' + nl)
    out = [b"".join(outer), nl, delim, nl, b"".join(content), nl, body, nl]
    out += [delim + nl + p + nl for p in parts]
    out += [delim, b"--", nl]
    return b"".join(out)


def graph_iso7(ts):
    """Outlook's upload session times: seven fractional digits, e.g. 2019-09-25T01:09:30.7671707Z."""
    d = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def parse_imap_date(text):
    return datetime.datetime.strptime(text.strip(), "%d-%b-%Y %H:%M:%S %z").timestamp()


def graph_address(name, addr):
    return {"emailAddress": {"name": name or addr, "address": addr}}


class MailboxSession:
    """An IMAPS session on one mailbox as its owner (internal token, XOAUTH2/OAUTHBEARER)."""

    def __init__(self, state, user):
        args = state.args
        if not args.imaps_port:
            raise GraphError(503, "ServiceUnavailable", "Mailbox store not configured (no IMAPS port).")
        self.state, self.user = state, user
        ctx = ssl.create_default_context(cafile=args.ca_file) if args.ca_file and \
            os.path.exists(args.ca_file) else ssl._create_unverified_context()
        token = rand_token(64, "int-")
        with state.lock:
            state.internal_tokens[token] = user
        try:
            self.imap = imaplib.IMAP4_SSL("127.0.0.1", args.imaps_port, ssl_context=ctx, timeout=20)
            caps = self.imap.capabilities
            if "AUTH=XOAUTH2" in caps:
                self.imap.authenticate("XOAUTH2", lambda _: (
                    "user=%s\x01auth=Bearer %s\x01\x01" % (user, token)).encode())
            else:
                self.imap.authenticate("OAUTHBEARER", lambda _: (
                    "n,a=%s,\x01auth=Bearer %s\x01\x01" % (user, token)).encode())
        except (OSError, imaplib.IMAP4.error) as exc:
            raise GraphError(503, "ServiceUnavailable",
                             "Service is unavailable (mailbox store: %s)." % exc)
        finally:
            with state.lock:
                state.internal_tokens.pop(token, None)
        self.folder = None

    def close(self):
        try:
            self.imap.logout()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def select(self, folder, readonly=False):
        typ, data = self.imap.select('"%s"' % folder, readonly=readonly)
        if typ != "OK":
            raise GraphError(404, "ErrorItemNotFound", "The specified folder was not found in the store.")
        self.exists = int(data[0] or 0)
        typ, data = self.imap.response("UIDVALIDITY")
        self.uidvalidity = int(data[0]) if data and data[0] else 0
        self.folder = folder

    def fetch(self, uids, what):
        """{uid: {"flags", "internaldate", "raw"}} for a uid list (or "1:*")."""
        if uids == "1:*" and self.exists == 0:
            return {}
        if not uids:
            return {}
        seq = uids if isinstance(uids, str) else ",".join(str(u) for u in uids)
        typ, data = self.imap.uid("FETCH", seq, "(UID FLAGS INTERNALDATE %s)" % what)
        if typ != "OK":
            raise GraphError(503, "ServiceUnavailable", "Mailbox store error: %r" % data)
        out = {}
        for item in data:
            if isinstance(item, tuple):
                meta, raw = item[0].decode("utf-8", "replace"), item[1]
            elif isinstance(item, bytes):
                meta, raw = item.decode("utf-8", "replace"), None
            else:
                continue
            m_uid = re.search(r"UID (\d+)", meta)
            m_flags = re.search(r"FLAGS \(([^)]*)\)", meta)
            m_date = re.search(r'INTERNALDATE "([^"]+)"', meta)
            if not m_uid:
                continue
            out[int(m_uid.group(1))] = {
                "flags": set(m_flags.group(1).split()) if m_flags else set(),
                "internaldate": parse_imap_date(m_date.group(1)) if m_date else now(),
                "raw": raw,
            }
        return out

    def store(self, uid, op, flag):
        typ, data = self.imap.uid("STORE", str(uid), op, "(%s)" % flag)
        if typ != "OK":
            raise GraphError(503, "ServiceUnavailable", "Mailbox store error: %r" % data)

    def append(self, folder, flags, raw):
        self.imap.append('"%s"' % folder, flags, None, raw)


class GraphMixin:
    """Microsoft Graph mail endpoints; mixed into Handler."""

    # ---------------------------------------------------------------- plumbing
    def graph_http(self, method, parts, upload=False):
        """A request under /v1.0/ (parts after it), or on an attachment upload URL
        (upload: parts "api", "v2.0", "Users('..')", "Messages('..')", "AttachmentSessions('..')")."""
        st = self.server.state
        headers = {k.lower(): v for k, v in self.headers.items()}
        req = {"method": method, "parts": parts, "query": self.query, "headers": headers,
               "body": self.raw_body, "too_large": self.body_too_large, "top": True}
        path = "/".join(parts)
        with st.lock:
            inj = st.take_injection("graph", path=path, method=method)
        if inj:
            self.note += " injected%s" % json.dumps({k: v for k, v in inj.items() if k != "remaining"})
            hang = float(inj.get("hang_seconds") or 0)
            if hang > 0:
                time.sleep(hang)
            if inj.get("close") or (hang > 0 and not inj.get("process_after_hang") and
                                    inj.get("status") is None and inj.get("code") is None):
                self.close_connection = True
                self.note += " (connection dropped)"
                self.graph_count(method, parts, None)
                return
            if not inj.get("process_after_hang") or inj.get("status") or inj.get("code"):
                resp = self.graph_injected(inj)
                self.graph_count(method, parts, resp.status, injected=True)
                self.graph_send(resp)
                return
        resp = self.graph_upload_handle(req) if upload else self.graph_handle(req)
        self.graph_send(resp)

    def graph_send(self, resp):
        headers = {"request-id": self.trace_id, "client-request-id": self.correlation_id}
        headers.update(resp.headers)
        if resp.ctype is None and not resp.body:
            self.status = resp.status
            self.send_response(resp.status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_body(resp.status, resp.body, resp.ctype or "application/json", headers)

    def graph_error_response(self, err):
        body = {"error": {"code": err.code, "message": err.message, "innerError": {
            "date": graph_iso(now()), "request-id": self.trace_id,
            "client-request-id": self.correlation_id}}}
        body.update(err.extra)
        headers = dict(err.headers)
        if err.status == 401 and "WWW-Authenticate" not in headers:
            headers["WWW-Authenticate"] = GRAPH_WWW_AUTHENTICATE
        self.note += " %d %s" % (err.status, err.code)
        return GraphResponse(err.status, json.dumps(body).encode(), "application/json", headers)

    def graph_injected(self, inj):
        if inj.get("raw_body") is not None:
            return GraphResponse(int(inj.get("status") or 500), str(inj["raw_body"]).encode(),
                                 inj.get("content_type") or "text/html; charset=utf-8",
                                 self.retry_after(inj))
        status = int(inj.get("status") or 503)
        headers = {}
        retry = inj.get("retry_after")
        if retry is None and status in (429, 503):
            retry = 1 if status == 429 else None
        if retry:
            headers["Retry-After"] = str(retry)
        return self.graph_error_response(GraphError(status, inj.get("code") or inj.get("error"),
                                                    inj.get("message"), headers))

    def graph_count(self, method, parts, status, injected=False, endpoint=None):
        st = self.server.state
        name = endpoint or self.graph_endpoint_name(method, parts)
        with st.lock:
            c = st.graph_counts
            c["requests_total"] += 1
            c["requests"][name] = c["requests"].get(name, 0) + 1
            if injected:
                c["injected"] += 1
            if status is not None and status >= 400:
                c["errors"][str(status)] = c["errors"].get(str(status), 0) + 1

    @staticmethod
    def graph_endpoint_name(method, parts):
        if [p.lower() for p in parts[:2]] == ["api", "v2.0"]:  # an attachment upload URL
            names = {"users": "{user}", "messages": "{id}", "attachmentsessions": "{session}"}
            out = [p.split("(")[0] + "(%s)" % names.get(p.split("(")[0].lower(), "{id}")
                   if "(" in p else p for p in parts]
            return "%s /%s" % (method, "/".join(out))
        out = []
        for i, p in enumerate(parts):
            prev = parts[i - 1].lower() if i else ""
            if prev == "users":
                out.append("{user}")
            elif prev == "mailfolders":
                out.append("{folder}")
            elif prev == "messages" and p.lower() not in ("delta",):
                out.append("{id}")
            else:
                out.append(p)
        return "%s /%s" % (method, "/".join(out))

    def graph_handle(self, req, batch_token=None):
        """One Graph request (top level or inside $batch) -> GraphResponse."""
        method, parts = req["method"], req["parts"]
        try:
            if parts[:1] == ["v1.0"]:
                parts = req["parts"] = parts[1:]
            if req.get("too_large"):
                raise GraphError(413, "RequestEntityTooLarge",
                                 "The request is larger than the maximum request length of 4MB.")
            rec = self.graph_auth(req)
            if parts == ["$batch"]:
                if batch_token is not None:
                    raise GraphError(400, "BadRequest", "Nested batch requests are not supported.")
                resp = self.graph_batch(req)
            else:
                resp = self.graph_route(req, rec)
        except GraphError as err:
            resp = self.graph_error_response(err)
        except (OSError, imaplib.IMAP4.error, smtplib.SMTPException) as exc:
            resp = self.graph_error_response(GraphError(
                503, "ServiceUnavailable", "Service is unavailable (mail store: %s)." % exc))
        self.graph_count(method, parts, resp.status)
        return resp

    # ---------------------------------------------------------------- auth
    def graph_auth(self, req):
        st = self.server.state
        auth = req["headers"].get("authorization") or ""
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        if not token:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        with st.lock:
            rec = st.access_tokens.get(token)
            rec = dict(rec) if rec else None
        if rec is None:
            raise GraphError(401, "InvalidAuthenticationToken", GRAPH_IDX14100)
        if rec["revoked"]:
            raise GraphError(401, "InvalidAuthenticationToken",
                             "Continuous access evaluation resulted in challenge with result: "
                             "InteractionRequired and code: TokenIssuedBeforeRevocationTimestamp")
        if rec["expires"] <= now():
            raise GraphError(401, "InvalidAuthenticationToken",
                             "Lifetime validation failed, the token is expired.")
        if (rec["resource"] or "").lower() != GRAPH:
            raise GraphError(401, "InvalidAuthenticationToken",
                             "Access token validation failure. Invalid audience.")
        self.note += " %s" % (rec["user"] or "app:" + rec["client_id"])
        return rec

    @staticmethod
    def graph_has(rec, need):
        names = {s.rsplit("/", 1)[-1].lower() for s in rec["scopes"]}
        if rec["user"] is None or ".default" in names:
            return True
        if need == "send":
            return bool(names & {"mail.send", "mail.send.shared"})
        if need == "read":
            return bool(names & {"mail.read", "mail.readwrite", "mail.read.shared",
                                 "mail.readwrite.shared"})
        return bool(names & {"mail.readwrite", "mail.readwrite.shared"})

    def graph_mailbox(self, rec, parts):
        st = self.server.state
        if not parts:
            raise GraphError(400, "BadRequest", "Invalid request.")
        head = parts[0].lower()
        if head == "me":
            if rec["user"] is None:
                raise GraphError(400, "BadRequest",
                                 "/me request is only valid with delegated authentication flow.")
            return rec["user"], parts[1:]
        if head == "users" and len(parts) >= 2:
            x = parts[1].strip().lower()
            with st.lock:
                granted = set(st.send_as.get(rec["user"] or "", ()))
                known = {r["user"] for r in st.access_tokens.values() if r["user"]}
                known |= set(st.send_as)
                for a in st.send_as.values():
                    known |= a
            if "@" not in x:
                match = [u for u in known if graph_oid(u) == x]
                if not match:
                    raise GraphError(404, "ErrorInvalidUser",
                                     "The requested user '%s' is invalid." % parts[1])
                x = match[0]
            if rec["user"] and x != rec["user"] and x not in granted:
                raise GraphError(403, "ErrorAccessDenied", GRAPH_ACCESS_DENIED)
            shared_scope = any(s.lower().endswith(".shared") for s in rec["scopes"])
            if rec["user"] and x != rec["user"] and not shared_scope:  # another's mailbox needs *.Shared
                raise GraphError(403, "ErrorAccessDenied", GRAPH_ACCESS_DENIED)
            if rec["user"] is None:
                with st.lock:
                    policy = st.app_mailboxes.get(rec["client_id"])
                if policy and x not in policy:  # an application access policy
                    raise GraphError(403, "ErrorAccessDenied", GRAPH_ACCESS_DENIED)
            return x, parts[2:]
        raise GraphError(400, "BadRequest", "Resource not found for the segment '%s'." % parts[0])

    # ---------------------------------------------------------------- routing
    def graph_route(self, req, rec):
        method = req["method"]
        mailbox, rest = self.graph_mailbox(rec, req["parts"])
        low = [p.lower() for p in rest]
        if not low:  # the user's profile (Test Connection): needs User.Read
            self.graph_allow(method, "GET")
            names = {x.rsplit("/", 1)[-1].lower() for x in rec["scopes"]}
            if rec["user"] is not None and not names & {"user.read", ".default"}:
                raise GraphError(403, "Authorization_RequestDenied",
                                 "Insufficient privileges to complete the operation.")
            profile = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
                       "id": graph_oid(mailbox), "userPrincipalName": mailbox, "mail": mailbox,
                       "displayName": mailbox.split("@")[0]}
            return GraphResponse(200, json.dumps(profile).encode(), "application/json")
        if low == ["sendmail"]:
            self.graph_allow(method, "POST")
            return self.graph_sendmail(req, rec, mailbox)
        folder, msg_parts = None, None
        if len(low) >= 3 and low[0] == "mailfolders" and low[2] == "messages":
            folder = WELL_KNOWN_FOLDERS.get(low[1])
            if folder is None:
                folder = self.graph_folder_from_id(rest[1])
            tail = rest[3:]
        elif low[:1] == ["messages"]:
            tail = rest[1:]
        else:
            raise GraphError(400, "BadRequest", "Resource not found for the segment '%s'." % (
                rest[0] if rest else req["parts"][0]))
        if not tail:
            if method == "POST":  # create a draft (MIME or JSON)
                return self.graph_draft_create(req, rec, mailbox)
            self.graph_allow(method, "GET")
            self.graph_need(rec, "read")
            return self.graph_list(req, mailbox, folder or "INBOX")
        if tail[0].startswith(GRAPH_DRAFT_PREFIX):
            return self.graph_draft_route(req, rec, mailbox, tail)
        if [t.lower() for t in tail] == ["delta"]:
            self.graph_allow(method, "GET")
            self.graph_need(rec, "read")
            if folder is None:
                raise GraphError(400, "BadRequest", "Change tracking is only supported on a folder's messages.")
            return self.graph_delta(req, mailbox, folder)
        msg_parts = tail
        mfolder, uidvalidity, uid = parse_message_id(mailbox, msg_parts[0])
        if len(msg_parts) == 2 and msg_parts[1] == "$value":
            self.graph_allow(method, "GET")
            self.graph_need(rec, "read")
            return self.graph_value(mailbox, mfolder, uidvalidity, uid)
        if len(msg_parts) != 1:
            raise GraphError(400, "BadRequest", "Resource not found for the segment '%s'." % msg_parts[1])
        if method == "GET":
            self.graph_need(rec, "read")
            return self.graph_get(req, mailbox, mfolder, uidvalidity, uid)
        if method == "PATCH":
            self.graph_need(rec, "write")
            return self.graph_patch(req, mailbox, mfolder, uidvalidity, uid)
        if method == "DELETE":
            self.graph_need(rec, "write")
            return self.graph_delete(mailbox, mfolder, uidvalidity, uid)
        raise GraphError(405, "ErrorInvalidRequest", "The OData request is not supported.")

    @staticmethod
    def graph_allow(method, allowed):
        if method != allowed:
            raise GraphError(405, "ErrorInvalidRequest", "The OData request is not supported.")

    def graph_need(self, rec, need):
        if not self.graph_has(rec, need):
            raise GraphError(403, "ErrorAccessDenied", GRAPH_ACCESS_DENIED)

    @staticmethod
    def graph_folder_from_id(fid):
        try:
            raw = fid[4:]
            kind, name = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode().split("|", 1)
            if fid.startswith("AQMk") and kind == "folder":
                return name
        except (ValueError, UnicodeDecodeError):
            pass
        raise GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.")

    # ---------------------------------------------------------------- sendMail
    def graph_sendmail(self, req, rec, mailbox):
        self.graph_need(rec, "send")
        ctype = (req["headers"].get("content-type") or "").split(";")[0].strip().lower()
        body = req["body"]
        save_sent = True
        if ctype == "text/plain":
            raw, from_addr, rcpts = self.graph_mime_envelope(self.graph_mime_body(body), mailbox)
        elif ctype == "application/json":
            try:
                payload = json.loads(body.decode("utf-8"))
                message = payload["message"]
                if not isinstance(message, dict):
                    raise ValueError
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                raise GraphError(400, "ErrorInvalidRequest" if body.strip() else "BadRequest",
                                 "Empty Payload. JSON content expected." if not body.strip() else
                                 "Unable to read JSON request payload. Please ensure Content-Type "
                                 "header is set and payload is of valid JSON format.")
            save_sent = payload.get("saveToSentItems", True) is not False
            raw, from_addr, rcpts = self.graph_build_mime(message, mailbox)
        else:
            raise self.graph_unsupported_type(ctype)
        return self.graph_submit(rec, mailbox, raw, from_addr, rcpts, save_sent, "sendMail")

    @staticmethod
    def graph_unsupported_type(ctype):
        return GraphError(415 if ctype else 400, "UnsupportedMediaType" if ctype else "BadRequest",
                          "Unsupported Media Type: %s" % ctype if ctype else
                          "Unable to read JSON request payload. Please ensure Content-Type "
                          "header is set and payload is of valid JSON format.")

    @staticmethod
    def graph_mime_body(body):
        """The MIME message of a text/plain request body (base64, whitespace ignored)."""
        text = re.sub(rb"\s+", b"", body)
        try:
            raw = base64.b64decode(text, validate=True)
            if not raw:
                raise ValueError("empty")
        except (ValueError, base64.binascii.Error):
            raise GraphError(400, "ErrorMimeContentInvalidBase64String",
                             "Invalid base64 string for MIME content.")
        return raw

    @staticmethod
    def graph_mime_envelope(raw, mailbox):
        """(raw, sender, recipients) of a MIME message: From (no From: `From: mailbox` is
        prepended), To + Cc + Bcc."""
        msg = email.message_from_bytes(split_header_block(raw)[0], policy=email.policy.compat32)
        from_addr = email.utils.parseaddr(msg.get("From", ""))[1].strip().lower()
        rcpts = [a for _, a in email.utils.getaddresses(
            msg.get_all("To", []) + msg.get_all("Cc", []) + msg.get_all("Bcc", []))]
        if not from_addr:
            head, rest = split_header_block(raw)
            nl = b"\r\n" if b"\r\n" in head else b"\n"
            raw = ("From: %s" % mailbox).encode() + nl + raw
            from_addr = mailbox
        return raw, from_addr, rcpts

    def graph_submit(self, rec, mailbox, raw, from_addr, rcpts, save_sent, via):
        """What sendMail and a draft's send share: Send As, recipients, Bcc removed, delivery
        over LMTP, the Sent Items copy, the counts.  via: "sendMail" or "send" (a draft)."""
        st = self.server.state
        with st.lock:
            granted = set(st.send_as.get(rec["user"] or mailbox, ()))
        allowed = {mailbox} | granted | ({rec["user"]} if rec["user"] else set())
        if from_addr not in allowed:
            raise GraphError(403, "ErrorSendAsDenied", GRAPH_SEND_AS_DENIED)
        seen, unique = set(), []
        for r in rcpts:
            r = r.strip()
            if not r or "@" not in r or r.startswith("@") or r.endswith("@"):
                raise GraphError(400, "ErrorInvalidRecipients",
                                 "At least one recipient is not valid., Recipient '%s' is not "
                                 "resolved. All recipients must be resolved before a message can "
                                 "be submitted." % r)
            if r.lower() not in seen:
                seen.add(r.lower())
                unique.append(r)
        if not unique:
            raise GraphError(400, "ErrorInvalidRecipients",
                             "At least one recipient is required, but none were found.")
        if len(unique) > 500:
            raise GraphError(400, "ErrorTooManyRecipients",
                             "A message can't have more than 500 recipients.")
        raw = remove_header(raw, "Bcc")
        self.graph_deliver(from_addr, unique, raw)
        if save_sent and st.settings.get("graph_save_to_sent_items", True):
            try:
                with MailboxSession(st, mailbox) as mbx:
                    mbx.append("Sent", r"(\Seen)", raw)
            except (GraphError, OSError, imaplib.IMAP4.error) as exc:
                self.note += " (Sent Items copy failed: %s)" % exc
        mid = email.message_from_bytes(split_header_block(raw)[0],
                                       policy=email.policy.compat32).get("Message-ID", "")
        with st.lock:
            c = st.graph_counts
            if via == "sendMail":
                c["sendmail_accepted"] += 1
                by_user = c["sendmail_accepted_by_user"]
            else:
                c["draft_sends"] += 1
                by_user = c["draft_sends_by_user"]
            by_user[mailbox] = by_user.get(mailbox, 0) + 1
            c["sent"].append({"mailbox": mailbox, "token_user": rec["user"], "from": from_addr,
                              "recipients": unique, "message_id": mid.strip(), "bytes": len(raw),
                              "via": via})
            del c["sent"][:-50]
        self.note += " sent from=%s rcpts=%d" % (from_addr, len(unique))
        return GraphResponse(202)

    def graph_build_mime(self, m, mailbox):
        from email.message import EmailMessage

        def addrs(key):
            out = []
            for r in m.get(key) or []:
                ea = (r or {}).get("emailAddress") or {}
                out.append((ea.get("name") or "", (ea.get("address") or "").strip()))
            return out

        msg = EmailMessage()
        frm = addrs("from") if m.get("from") else []
        if isinstance(m.get("from"), dict):
            ea = m["from"].get("emailAddress") or {}
            frm = [(ea.get("name") or "", (ea.get("address") or "").strip())]
        from_addr = (frm[0][1] if frm and frm[0][1] else mailbox).lower()
        msg["From"] = email.utils.formataddr((frm[0][0] if frm else "", from_addr))
        to, cc, bcc = addrs("toRecipients"), addrs("ccRecipients"), addrs("bccRecipients")
        if to:
            msg["To"] = ", ".join(email.utils.formataddr(a) for a in to)
        if cc:
            msg["Cc"] = ", ".join(email.utils.formataddr(a) for a in cc)
        if addrs("replyTo"):
            msg["Reply-To"] = ", ".join(email.utils.formataddr(a) for a in addrs("replyTo"))
        msg["Subject"] = m.get("subject") or ""
        msg["Date"] = email.utils.formatdate(usegmt=True)
        msg["Message-ID"] = m.get("internetMessageId") or email.utils.make_msgid(
            domain=from_addr.split("@")[-1] or "graph.local")
        for h in m.get("internetMessageHeaders") or []:
            if str(h.get("name", "")).lower().startswith("x-"):
                msg[h["name"]] = str(h.get("value", ""))
        if (m.get("importance") or "").lower() in ("high", "low"):
            msg["Importance"] = m["importance"].lower()
        b = m.get("body") or {}
        content = b.get("content") or ""
        if (b.get("contentType") or "text").lower() == "html":
            msg.set_content(content, subtype="html")
        else:
            msg.set_content(content)
        for a in m.get("attachments") or []:
            data = base64.b64decode(a.get("contentBytes") or "")
            mtype = (a.get("contentType") or "application/octet-stream").split("/", 1)
            if len(mtype) != 2:
                mtype = ["application", "octet-stream"]
            msg.add_attachment(data, maintype=mtype[0], subtype=mtype[1],
                               filename=a.get("name") or "attachment")
        raw = msg.as_bytes(policy=email.policy.SMTP)
        return raw, from_addr, [a for _, a in to + cc + bcc]

    def graph_deliver(self, sender, rcpts, raw):
        path = self.server.state.args.lmtp_socket
        if not path:
            raise GraphError(503, "ServiceUnavailable", "Mail delivery not configured (no LMTP socket).")
        try:
            with smtplib.LMTP(path, timeout=30) as c:
                c.ehlo("graph.mailstack.localhost")
                opts = ["BODY=8BITMIME"] if c.has_extn("8bitmime") and any(b > 127 for b in raw) else []
                code, resp = c.mail(sender, opts)
                if code != 250:
                    raise smtplib.SMTPSenderRefused(code, resp, sender)
                for r in rcpts:
                    code, resp = c.rcpt(r)
                    if code not in (250, 251):
                        raise smtplib.SMTPRecipientsRefused({r: (code, resp)})
                code, resp = c.data(raw)
                replies = [(code, resp)] + [c.getreply() for _ in rcpts[1:]]
                bad = [x for x in replies if x[0] != 250]
                if bad:
                    raise smtplib.SMTPDataError(*bad[0])
        except (OSError, smtplib.SMTPException) as exc:
            self.note += " (LMTP delivery failed: %s)" % exc
            raise GraphError(503, "ServiceUnavailable",
                             "Service is unavailable. Please try again later. (delivery: %s)" % exc)

    # ---------------------------------------------------------------- read side
    def graph_message_json(self, mailbox, folder, uidvalidity, uid, item, select=None):
        raw = item["raw"] or b""
        msg = email.message_from_bytes(raw, policy=email.policy.default)

        def hdr(name):
            try:
                v = msg.get(name)
                return str(v) if v is not None else ""
            except Exception:
                return ""

        def addr_list(name):
            try:
                vals = msg.get_all(name) or []
                return [graph_address(n, a) for n, a in email.utils.getaddresses(
                    [str(v) for v in vals]) if a]
            except Exception:
                return []

        flags = item["flags"]
        mid = message_id_for(mailbox, folder, uidvalidity, uid)
        received = graph_iso(item["internaldate"])
        try:
            sent = graph_iso(email.utils.parsedate_to_datetime(hdr("Date")).timestamp())
        except (TypeError, ValueError):
            sent = received
        text_body, html_body, has_att = None, None, False
        for part in msg.walk():
            if part.is_multipart():
                continue
            disp = part.get_content_disposition()
            if disp == "attachment":
                has_att = True
                continue
            ctype = part.get_content_type()
            try:
                if ctype == "text/html" and html_body is None:
                    html_body = part.get_content()
                elif ctype == "text/plain" and text_body is None:
                    text_body = part.get_content()
            except Exception:
                pass
        if html_body is not None:
            body = {"contentType": "html", "content": html_body}
            preview = re.sub(r"<[^>]*>", " ", html_body)
        else:
            body = {"contentType": "text", "content": text_body or ""}
            preview = text_body or ""
        preview = " ".join(html.unescape(preview).split())[:255]
        frm = addr_list("From")
        etag_src = ("%s|%s" % (uid, " ".join(sorted(flags)))).encode()
        change_key = "CQAAABYAAA" + b64url(hashlib.sha1(etag_src).digest()[:12])
        importance = (hdr("Importance") or "normal").lower()
        if hdr("X-Priority")[:1] in ("1", "2"):
            importance = "high"
        out = {
            "@odata.etag": 'W/"%s"' % change_key,
            "id": mid,
            "createdDateTime": received,
            "lastModifiedDateTime": received,
            "changeKey": change_key,
            "categories": [],
            "receivedDateTime": received,
            "sentDateTime": sent,
            "hasAttachments": has_att,
            "internetMessageId": hdr("Message-ID").strip(),
            "subject": hdr("Subject"),
            "bodyPreview": preview,
            "importance": importance if importance in ("low", "normal", "high") else "normal",
            "parentFolderId": folder_id(folder),
            "conversationId": "AAQk" + b64url(hashlib.sha1(re.sub(
                r"^((re|fw|fwd|aw|wg):\s*)+", "", hdr("Subject"), flags=re.I).encode()).digest()),
            "isDeliveryReceiptRequested": False,
            "isReadReceiptRequested": bool(hdr("Disposition-Notification-To")),
            "isRead": "\\Seen" in flags,
            "isDraft": "\\Draft" in flags,
            "webLink": "https://outlook.office365.com/owa/?ItemID=%s&exvsurl=1&viewmodel=ReadMessageItem"
                       % urllib.parse.quote(mid, safe=""),
            "inferenceClassification": "focused",
            "body": body,
            "sender": (addr_list("Sender") or frm or [None])[0],
            "from": (frm or [None])[0],
            "toRecipients": addr_list("To"),
            "ccRecipients": addr_list("Cc"),
            "bccRecipients": addr_list("Bcc"),
            "replyTo": addr_list("Reply-To"),
            "flag": {"flagStatus": "flagged" if "\\Flagged" in flags else "notFlagged"},
        }
        if select:
            keep = {"@odata.etag", "id"} | set(select)
            out = {k: v for k, v in out.items() if k in keep}
        return out

    @staticmethod
    def graph_select(query):
        raw = query.get("$select")
        if not raw:
            return None
        props = [p.strip() for p in raw.split(",") if p.strip()]
        lower = {p.lower(): p for p in MESSAGE_PROPS + ("id",)}
        out = []
        for p in props:
            if p.lower() not in lower:
                raise GraphError(400, "RequestBroker--ParseUri",
                                 "Could not find a property named '%s' on type "
                                 "'microsoft.graph.message'." % p)
            out.append(lower[p.lower()])
        return out

    @staticmethod
    def graph_parse_filter(text):
        """[(prop, op, value)]: clauses joined by 'and'."""
        if not text or not text.strip():
            return []
        clauses = []
        for part in re.split(r"\s+and\s+", text.strip(), flags=re.I):
            m = re.match(r"^\s*([A-Za-z/]+)\s+(eq|ne|gt|ge|lt|le)\s+(.+?)\s*$", part, re.I)
            if not m:
                raise GraphError(400, "BadRequest", "Invalid filter clause: %s" % part.strip())
            prop = FILTER_PROPS.get(m.group(1).lower())
            if prop is None:
                if "/" in m.group(1) or re.match(r"^[A-Za-z]+$", m.group(1)):
                    raise GraphError(400, "RequestBroker--ParseUri",
                                     "Could not find a property named '%s' on type "
                                     "'microsoft.graph.message'." % m.group(1))
            v = m.group(3)
            if v.lower() in ("true", "false"):
                value = v.lower() == "true"
            elif v.startswith("'") and v.endswith("'") and len(v) >= 2:
                value = v[1:-1].replace("''", "'")
            else:
                try:
                    value = graph_parse_datetime(v)
                except ValueError:
                    raise GraphError(400, "BadRequest", "Invalid filter clause: %s" % part.strip())
            clauses.append((prop, m.group(2).lower(), value))
        return clauses

    @staticmethod
    def graph_parse_orderby(text):
        if not text or not text.strip():
            return []
        out = []
        for part in text.split(","):
            words = part.split()
            prop = ORDER_PROPS.get(words[0].lower()) if words else None
            if prop is None or len(words) > 2 or (len(words) == 2 and
                                                  words[1].lower() not in ("asc", "desc")):
                raise GraphError(400, "BadRequest", "Invalid $orderby: %s" % part.strip())
            out.append((prop, len(words) == 2 and words[1].lower() == "desc"))
        return out

    @staticmethod
    def graph_values(item):
        msg = email.message_from_bytes(item["raw"] or b"", policy=email.policy.compat32)

        def dec(name):
            try:
                return str(email.header.make_header(email.header.decode_header(msg.get(name, ""))))
            except Exception:
                return msg.get(name, "")
        try:
            sent = email.utils.parsedate_to_datetime(msg.get("Date", "")).timestamp()
        except (TypeError, ValueError):
            sent = item["internaldate"]
        return {
            "isRead": "\\Seen" in item["flags"], "isDraft": "\\Draft" in item["flags"],
            "receivedDateTime": item["internaldate"], "sentDateTime": sent,
            "subject": dec("Subject"),
            "hasAttachments": "multipart/mixed" in msg.get("Content-Type", "").lower(),
            "internetMessageId": msg.get("Message-ID", "").strip(),
            "from/emailAddress/address": email.utils.parseaddr(msg.get("From", ""))[1].lower(),
            "flag/flagStatus": "flagged" if "\\Flagged" in item["flags"] else "notFlagged",
        }

    @staticmethod
    def graph_match(values, clauses):
        for prop, op, want in clauses:
            have = values[prop]
            if isinstance(have, str) and isinstance(want, str):
                have, want = have.lower(), want.lower()
            try:
                ok = {"eq": have == want, "ne": have != want}.get(op)
                if ok is None:
                    ok = {"gt": have > want, "ge": have >= want, "lt": have < want,
                          "le": have <= want}[op]
            except TypeError:
                raise GraphError(400, "BadRequest", "The filter operand type does not match "
                                 "property '%s'." % prop)
            if not ok:
                return False
        return True

    def graph_query_folder(self, mbx, query, default_order=True):
        clauses = self.graph_parse_filter(query.get("$filter"))
        order = self.graph_parse_orderby(query.get("$orderby"))
        if order and clauses:
            fprops = [c[0] for c in clauses]
            oprops = [o[0] for o in order]
            if fprops[:len(oprops)] != oprops:
                raise GraphError(400, "InefficientFilter", GRAPH_INEFFICIENT)
        meta = mbx.fetch("1:*", "BODY.PEEK[HEADER]")
        rows = []
        for uid, item in meta.items():
            vals = self.graph_values(item)
            if self.graph_match(vals, clauses):
                rows.append((uid, vals))
        if not order and default_order:
            order = [("receivedDateTime", True)]
        rows.sort(key=lambda r: r[0], reverse=bool(order and order[0][1]))
        for prop, desc in reversed(order):
            rows.sort(key=lambda r: r[1][prop], reverse=desc)
        return [r[0] for r in rows], meta

    @staticmethod
    def graph_int(query, name, default, lo, hi):
        raw = query.get(name)
        if raw is None or raw == "":
            return default
        try:
            v = int(raw)
        except ValueError:
            raise GraphError(400, "BadRequest", "Invalid value '%s' for %s." % (raw, name))
        if v < lo:
            raise GraphError(400, "BadRequest", "Invalid value '%s' for %s." % (raw, name))
        return min(v, hi)

    def graph_base(self):
        return self.base_url() + "/v1.0/"

    def graph_context(self, mailbox, what, select):
        ctx = "%s$metadata#users('%s')/%s" % (self.graph_base(), mailbox, what)
        return ctx + ("(%s)" % ",".join(select) if select else "")

    def graph_list(self, req, mailbox, folder):
        q = req["query"]
        select = self.graph_select(q)
        top = self.graph_int(q, "$top", 10, 1, 1000)
        skip = self.graph_int(q, "$skip", 0, 0, 10 ** 9)
        with MailboxSession(self.server.state, mailbox) as mbx:
            mbx.select(folder, readonly=True)
            uids, _ = self.graph_query_folder(mbx, q)
            page = uids[skip:skip + top]
            full = mbx.fetch(page, "BODY.PEEK[]")
            value = [self.graph_message_json(mailbox, folder, mbx.uidvalidity, u, full[u], select)
                     for u in page if u in full]
        wk = [k for k, v in WELL_KNOWN_FOLDERS.items() if v == folder]
        out = {"@odata.context": self.graph_context(
            mailbox, "mailFolders('%s')/messages" % (wk[0] if wk else folder), select)}
        if q.get("$count", "").lower() == "true":
            out["@odata.count"] = len(uids)
        out["value"] = value
        if skip + top < len(uids):
            nq = {k: v for k, v in q.items() if k != "$skip"}
            nq["$top"] = str(top)
            nq["$skip"] = str(skip + top)
            path = "/".join(req["parts"])
            out["@odata.nextLink"] = self.graph_base() + path + "?" + urllib.parse.urlencode(
                nq, quote_via=urllib.parse.quote, safe="$,'")
        return GraphResponse(200, json.dumps(out).encode(), "application/json; odata.metadata=minimal;"
                             " odata.streaming=true; IEEE754Compatible=false; charset=utf-8")

    def graph_open_message(self, mbx, folder, uidvalidity, uid, what="BODY.PEEK[]", readonly=True):
        mbx.select(folder, readonly=readonly)
        if mbx.uidvalidity != uidvalidity:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        item = mbx.fetch([uid], what).get(uid)
        if item is None:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return item

    def graph_get(self, req, mailbox, folder, uidvalidity, uid):
        select = self.graph_select(req["query"])
        with MailboxSession(self.server.state, mailbox) as mbx:
            item = self.graph_open_message(mbx, folder, uidvalidity, uid)
        out = {"@odata.context": self.graph_context(mailbox, "messages/$entity", select)}
        out.update(self.graph_message_json(mailbox, folder, uidvalidity, uid, item, select))
        return GraphResponse(200, json.dumps(out).encode(), "application/json")

    def graph_value(self, mailbox, folder, uidvalidity, uid):
        with MailboxSession(self.server.state, mailbox) as mbx:
            item = self.graph_open_message(mbx, folder, uidvalidity, uid)
        return GraphResponse(200, item["raw"] or b"", "text/plain")

    def graph_patch(self, req, mailbox, folder, uidvalidity, uid):
        try:
            body = json.loads(req["body"].decode("utf-8") or "null")
            if not isinstance(body, dict):
                raise ValueError
        except (ValueError, UnicodeDecodeError):
            raise GraphError(400, "BadRequest", "Unable to read JSON request payload. Please ensure "
                             "Content-Type header is set and payload is of valid JSON format.")
        if "isRead" in body and not isinstance(body["isRead"], bool):
            raise GraphError(400, "BadRequest", "Cannot convert the literal '%s' to the expected "
                             "type 'Edm.Boolean'." % body["isRead"])
        with MailboxSession(self.server.state, mailbox) as mbx:
            self.graph_open_message(mbx, folder, uidvalidity, uid, "UID", readonly=False)
            if "isRead" in body:
                mbx.store(uid, "+FLAGS.SILENT" if body["isRead"] else "-FLAGS.SILENT", "\\Seen")
            status = ((body.get("flag") or {}).get("flagStatus") or "").lower()
            if status:
                mbx.store(uid, "+FLAGS.SILENT" if status == "flagged" else "-FLAGS.SILENT", "\\Flagged")
            item = mbx.fetch([uid], "BODY.PEEK[]")[uid]
        out = {"@odata.context": self.graph_context(mailbox, "messages/$entity", None)}
        out.update(self.graph_message_json(mailbox, folder, uidvalidity, uid, item))
        return GraphResponse(200, json.dumps(out).encode(), "application/json")

    def graph_delete(self, mailbox, folder, uidvalidity, uid):
        with MailboxSession(self.server.state, mailbox) as mbx:
            self.graph_open_message(mbx, folder, uidvalidity, uid, "UID", readonly=False)
            if folder == "Trash":
                mbx.store(uid, "+FLAGS.SILENT", "\\Deleted")
                mbx.imap.expunge()
            else:
                typ, data = mbx.imap.uid("MOVE", str(uid), "Trash")
                if typ != "OK":
                    raise GraphError(503, "ServiceUnavailable", "Mailbox store error: %r" % data)
        return GraphResponse(204)

    def graph_delta(self, req, mailbox, folder):
        st = self.server.state
        q = req["query"]
        prefer = req["headers"].get("prefer") or ""
        m = re.search(r"odata\.maxpagesize=(\d+)", prefer)
        page_size = max(1, min(1000, int(m.group(1)))) if m else None
        token = q.get("$skiptoken") or q.get("$deltatoken")
        if token:
            with st.lock:
                sync = st.graph_delta.get(token)
            if sync is None or sync["mailbox"] != mailbox or sync["folder"] != folder:
                raise GraphError(410, "SyncStateNotFound",
                                 "The sync state generation is not found. Re-sync is required.")
        else:
            sync = {"mailbox": mailbox, "folder": folder, "snapshot": {}, "uidvalidity": None,
                    "select": self.graph_select(q), "filter": q.get("$filter"),
                    "page_size": page_size or self.graph_int(q, "$top", 10, 1, 1000)}
            self.graph_parse_filter(sync["filter"])
        if page_size:
            sync = dict(sync, page_size=page_size)
        with MailboxSession(st, mailbox) as mbx:
            mbx.select(folder, readonly=True)
            if "pending" in sync and q.get("$skiptoken"):
                pending, removed, snapshot = sync["pending"], [], sync["new_snapshot"]
                if mbx.uidvalidity != sync["uidvalidity"]:
                    raise GraphError(410, "SyncStateNotFound",
                                     "The sync state generation is not found. Re-sync is required.")
            else:
                old = sync["snapshot"] if sync["uidvalidity"] == mbx.uidvalidity else {}
                if sync["uidvalidity"] is not None and sync["uidvalidity"] != mbx.uidvalidity:
                    raise GraphError(410, "SyncStateNotFound",
                                     "The sync state generation is not found. Re-sync is required.")
                uids, meta = self.graph_query_folder(
                    mbx, {"$filter": sync["filter"]} if sync["filter"] else {}, default_order=False)
                uids.sort()
                snapshot = {u: " ".join(sorted(meta[u]["flags"])) for u in uids}
                pending = [u for u in uids if old.get(u) != snapshot[u]]
                removed = [u for u in old if u not in snapshot]
            page, rest = pending[:sync["page_size"]], pending[sync["page_size"]:]
            full = mbx.fetch(page, "BODY.PEEK[]")
            value = [self.graph_message_json(mailbox, folder, mbx.uidvalidity, u, full[u],
                                             sync["select"]) for u in page if u in full]
            value += [{"@odata.type": "#microsoft.graph.message",
                       "id": message_id_for(mailbox, folder, mbx.uidvalidity, u),
                       "@removed": {"reason": "deleted"}} for u in removed]
            uidvalidity = mbx.uidvalidity
        wk = [k for k, v in WELL_KNOWN_FOLDERS.items() if v == folder]
        fname = wk[0] if wk else folder_id(folder)
        new = {"mailbox": mailbox, "folder": folder, "select": sync["select"],
               "filter": sync["filter"], "page_size": sync["page_size"], "uidvalidity": uidvalidity,
               "created": now()}
        out = {"@odata.context": self.graph_context(
            mailbox, "mailFolders('%s')/messages/delta" % fname, sync["select"]), "value": value}
        link = self.graph_base() + "me/mailFolders/%s/messages/delta?" % fname \
            if req["parts"][0].lower() == "me" else \
            self.graph_base() + "users/%s/mailFolders/%s/messages/delta?" % (req["parts"][1], fname)
        tok = rand_token(64, "")
        if rest:
            new.update(pending=rest, new_snapshot=snapshot)
            out["@odata.nextLink"] = link + "$skiptoken=" + tok
        else:
            new.update(snapshot=snapshot)
            out["@odata.deltaLink"] = link + "$deltatoken=" + tok
        with st.lock:
            st.graph_delta[tok] = new
            if len(st.graph_delta) > 5000:
                for k in sorted(st.graph_delta, key=lambda k: st.graph_delta[k]["created"])[:1000]:
                    del st.graph_delta[k]
        return GraphResponse(200, json.dumps(out).encode(), "application/json")

    # ---------------------------------------------------------------- drafts, large attachments
    # POST messages (MIME or JSON) creates a draft, kept in memory; attachments come with
    # POST messages/{id}/attachments (small files) or an upload session (createUploadSession,
    # then PUTs of byte ranges on its uploadUrl, which carries its own token: no bearer token);
    # POST messages/{id}/send adds them to the draft's MIME and delivers as sendMail does.
    def graph_draft_lookup(self, mailbox, did):
        """The draft (under st.lock) or 404."""
        draft = self.server.state.graph_drafts.get(mailbox, {}).get(did)
        if draft is None:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return draft

    def graph_drop_sessions_locked(self, mailbox, did):
        """Drop the draft's upload sessions (under st.lock); returns them."""
        st = self.server.state
        gone = [sid for sid, u in st.graph_upload_sessions.items()
                if u["draft"] == did and u["mailbox"] == mailbox]
        return [st.graph_upload_sessions.pop(sid) for sid in gone]

    def graph_draft_route(self, req, rec, mailbox, tail):
        method, did = req["method"], tail[0]
        sub = [t.lower() for t in tail[1:]]
        sub = [t[len("microsoft.graph."):] if t.startswith("microsoft.graph.") else t for t in sub]
        if not sub:
            if method == "GET":
                self.graph_need(rec, "read")
                with self.server.state.lock:
                    draft = dict(self.graph_draft_lookup(mailbox, did))
                out = self.graph_draft_json(mailbox, draft, self.graph_select(req["query"]))
                return GraphResponse(200, json.dumps(out).encode(), "application/json")
            if method == "DELETE":
                self.graph_need(rec, "write")
                return self.graph_draft_delete(mailbox, did)
            raise GraphError(405, "ErrorInvalidRequest", "The OData request is not supported.")
        if sub == ["send"]:
            self.graph_allow(method, "POST")
            return self.graph_draft_send(req, rec, mailbox, did)
        if sub == ["attachments", "createuploadsession"]:
            self.graph_allow(method, "POST")
            return self.graph_upload_session_create(req, rec, mailbox, did)
        if sub == ["attachments"]:
            if method == "POST":
                self.graph_need(rec, "write")
                return self.graph_attachment_post(req, mailbox, did)
            self.graph_allow(method, "GET")
            self.graph_need(rec, "read")
            with self.server.state.lock:
                atts = list(self.graph_draft_lookup(mailbox, did)["attachments"])
            out = {"@odata.context": self.graph_context(
                mailbox, "messages('%s')/attachments" % did, None),
                "value": [self.graph_attachment_json(a) for a in atts]}
            return GraphResponse(200, json.dumps(out).encode(), "application/json")
        if sub == ["$value"]:
            self.graph_allow(method, "GET")
            self.graph_need(rec, "read")
            with self.server.state.lock:
                draft = dict(self.graph_draft_lookup(mailbox, did))
                draft["attachments"] = list(draft["attachments"])
            return GraphResponse(200, graph_add_attachments(draft["raw"], draft["attachments"]),
                                 "text/plain")
        raise GraphError(400, "BadRequest", "Resource not found for the segment '%s'." % tail[1])

    def graph_draft_create(self, req, rec, mailbox):
        st = self.server.state
        self.graph_need(rec, "write")
        ctype = (req["headers"].get("content-type") or "").split(";")[0].strip().lower()
        body = req["body"]
        if ctype == "text/plain":
            raw = self.graph_mime_body(body)
        elif ctype == "application/json":
            try:
                message = json.loads(body.decode("utf-8"))
                if not isinstance(message, dict):
                    raise ValueError
            except (ValueError, UnicodeDecodeError):
                raise GraphError(400, "BadRequest", "Unable to read JSON request payload. Please "
                                 "ensure Content-Type header is set and payload is of valid JSON "
                                 "format.")
            raw = self.graph_build_mime(message, mailbox)[0]
        else:
            raise self.graph_unsupported_type(ctype)
        # Exchange gives every item an internetMessageId: the MIME's Message-ID, else a new one.
        msg = email.message_from_bytes(split_header_block(raw)[0], policy=email.policy.compat32)
        if not (msg.get("Message-ID") or "").strip():
            nl = b"\r\n" if b"\r\n" in split_header_block(raw)[0] else b"\n"
            raw = ("Message-ID: %s" % email.utils.make_msgid(
                domain=mailbox.split("@")[-1] or "graph.local")).encode() + nl + raw
        t = now()
        did = GRAPH_DRAFT_PREFIX + b64url(secrets.token_bytes(18)) + "AAA="
        draft = {"id": did, "mailbox": mailbox, "raw": raw, "created": t, "modified": t,
                 "attachments": []}
        dropped = []
        with st.lock:
            drafts = st.graph_drafts.setdefault(mailbox, collections.OrderedDict())
            drafts[did] = draft
            while len(drafts) > GRAPH_MAX_DRAFTS:
                old, _ = drafts.popitem(last=False)
                self.graph_drop_sessions_locked(mailbox, old)
                dropped.append(old)
            st.graph_counts["drafts_created"] += 1
        self.note += " draft %s (%d bytes)" % (short(did[len(GRAPH_DRAFT_PREFIX):]), len(raw))
        if dropped:
            self.note += " (oldest draft dropped: more than %d)" % GRAPH_MAX_DRAFTS
        out = self.graph_draft_json(mailbox, draft, None)
        return GraphResponse(201, json.dumps(out).encode(), "application/json")

    def graph_draft_json(self, mailbox, draft, select):
        """The draft as Graph's message resource (isDraft true, in Drafts)."""
        item = {"raw": draft["raw"], "flags": {"\\Seen", "\\Draft"},
                "internaldate": draft["created"]}
        out = {"@odata.context": self.graph_context(mailbox, "messages/$entity", select)}
        m = self.graph_message_json(mailbox, "Drafts", 0, 0, item)
        did, atts = draft["id"], draft["attachments"]
        change_key = "CQAAABYAAA" + b64url(hashlib.sha1(("%s|%s|%d" % (
            did, draft["modified"], len(atts))).encode()).digest()[:12])
        m.update({"@odata.etag": 'W/"%s"' % change_key, "id": did, "changeKey": change_key,
                  "lastModifiedDateTime": graph_iso(draft["modified"]),
                  "hasAttachments": m["hasAttachments"] or bool(atts),
                  "webLink": "https://outlook.office365.com/owa/?ItemID=%s&exvsurl=1&viewmodel="
                             "ReadMessageItem" % urllib.parse.quote(did, safe="")})
        if select:
            keep = {"@odata.etag", "id"} | set(select)
            m = {k: v for k, v in m.items() if k in keep}
        else:
            m["@mailstack.attachmentCount"] = len(atts)  # not Graph's: a test convenience
        out.update(m)
        return out

    def graph_draft_delete(self, mailbox, did):
        st = self.server.state
        with st.lock:
            self.graph_draft_lookup(mailbox, did)
            del st.graph_drafts[mailbox][did]
            sessions = self.graph_drop_sessions_locked(mailbox, did)
        self.note += " draft deleted" + (" (%d upload sessions dropped)" % len(sessions)
                                         if sessions else "")
        return GraphResponse(204)

    @staticmethod
    def graph_attachment_json(a):
        return {"@odata.type": "#microsoft.graph.fileAttachment",
                "@odata.mediaContentType": a["contentType"], "id": a["id"],
                "lastModifiedDateTime": graph_iso(a["created"]), "name": a["name"],
                "contentType": a["contentType"], "size": len(a["data"]),
                "isInline": a["isInline"], "contentId": a.get("contentId")}

    @staticmethod
    def graph_new_attachment(name, ctype, data, is_inline, content_id):
        return {"id": "AAMkADatt" + b64url(secrets.token_bytes(24)) + "=", "name": name,
                "contentType": ctype or mimetypes.guess_type(name)[0] or "application/octet-stream",
                "data": data, "isInline": bool(is_inline), "contentId": content_id or None,
                "created": now()}

    def graph_attachment_post(self, req, mailbox, did):
        """POST messages/{id}/attachments: a fileAttachment with contentBytes (the request is
        limited to 4 MB, hence under 3 MB files; larger ones need an upload session)."""
        st = self.server.state
        with st.lock:
            self.graph_draft_lookup(mailbox, did)
        try:
            a = json.loads(req["body"].decode("utf-8"))
            if not isinstance(a, dict):
                raise ValueError
        except (ValueError, UnicodeDecodeError):
            raise GraphError(400, "BadRequest", "Unable to read JSON request payload. Please ensure "
                             "Content-Type header is set and payload is of valid JSON format.")
        otype = str(a.get("@odata.type") or "")
        if otype.lstrip("#").lower() != "microsoft.graph.fileattachment":
            raise GraphError(400, "ErrorInvalidRequest" if otype else "BadRequest",
                             "Only '#microsoft.graph.fileAttachment' is supported here." if otype
                             else "The property '@odata.type' is required: the type "
                             "'microsoft.graph.attachment' is abstract.")
        name = a.get("name")
        if not isinstance(name, str) or not name.strip():
            raise GraphError(400, "ErrorInvalidRequest", "The attachment name is required.")
        try:
            data = base64.b64decode(re.sub(r"\s+", "", str(a.get("contentBytes") or "")),
                                    validate=True)
        except (ValueError, base64.binascii.Error):
            raise GraphError(400, "BadRequest", "Invalid value for property 'contentBytes': not "
                             "a base64 string.")
        att = self.graph_new_attachment(name, a.get("contentType"), data, a.get("isInline"),
                                        a.get("contentId"))
        with st.lock:
            draft = self.graph_draft_lookup(mailbox, did)
            draft["attachments"].append(att)
            draft["modified"] = now()
            st.graph_counts["attachments_posted"] += 1
        self.note += " attachment %r (%d bytes)" % (name, len(data))
        out = {"@odata.context": self.graph_context(
            mailbox, "messages('%s')/attachments/$entity" % did, None)}
        out.update(self.graph_attachment_json(att))
        return GraphResponse(201, json.dumps(out).encode(), "application/json")

    def graph_upload_session_create(self, req, rec, mailbox, did):
        st = self.server.state
        self.graph_need(rec, "write")
        with st.lock:
            self.graph_draft_lookup(mailbox, did)
        try:
            payload = json.loads(req["body"].decode("utf-8"))
            if not isinstance(payload, dict):
                raise ValueError
        except (ValueError, UnicodeDecodeError):
            raise GraphError(400, "BadRequest", "Unable to read JSON request payload. Please ensure "
                             "Content-Type header is set and payload is of valid JSON format.")
        item = {k.lower(): v for k, v in payload.items()}.get("attachmentitem")
        if not isinstance(item, dict):
            raise GraphError(400, "ErrorInvalidRequest",
                             "The parameter 'AttachmentItem' is required.")
        atype = str(item.get("attachmentType") or "")
        if atype.lower() not in ("file", "item", "reference"):
            raise GraphError(400, "BadRequest", "Requested value '%s' was not found." % atype)
        if atype.lower() != "file":
            raise GraphError(400, "ErrorInvalidRequest", "Only file attachments can be uploaded "
                             "with an upload session (attachmentType '%s')." % atype)
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise GraphError(400, "ErrorInvalidRequest", "The attachment name is required.")
        size = item.get("size")
        if isinstance(size, bool) or not isinstance(size, int):
            raise GraphError(400, "BadRequest", "Cannot convert the literal '%s' to the expected "
                             "type 'Edm.Int64'." % size)
        s = st.settings
        lo = max(1, int(s["graph_upload_session_min_size"]))
        hi = min(GRAPH_MAX_ATTACHMENT, int(s["graph_max_attachment_size"]))
        if size < lo:
            raise GraphError(400, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
                             "Attachment size must be greater than the minimum size.")
        if size > hi:
            raise GraphError(400, "ErrorAttachmentSizeShouldNotExceedMaximumSize",
                             "Attachment size must be less than the maximum size (%d bytes)." % hi)
        if size < 3 * 1024 * 1024:
            # Real Graph refuses this (ErrorAttachmentSizeShouldNotBeLessThanMinimumSize): under
            # 3 MB it wants POST attachments; setting graph_upload_session_min_size does the same.
            self.note += " (size under 3 MB: real Graph refuses)"
        t = now()
        sid = "AAMkADsess" + b64url(secrets.token_bytes(18)) + "AAA="
        session = {"id": sid, "token": rand_token(400, "eyJ0eXAiOiJKV1Qi"), "mailbox": mailbox,
                   "draft": did, "name": name, "size": size,
                   "contentType": item.get("contentType") or None,
                   "isInline": bool(item.get("isInline")), "contentId": item.get("contentId"),
                   "data": bytearray(), "created": t,
                   "expires": t + int(s["graph_upload_session_lifetime"])}
        dropped = 0
        with st.lock:
            self.graph_draft_lookup(mailbox, did)
            sessions = st.graph_upload_sessions
            for k in [k for k, u in sessions.items() if u["expires"] <= t]:
                del sessions[k]
            sessions[sid] = session
            while len(sessions) > GRAPH_MAX_UPLOAD_SESSIONS:
                sessions.popitem(last=False)
                dropped += 1
            st.graph_counts["upload_sessions"] += 1
        self.note += " upload session %s %r %d bytes" % (short(sid[10:]), name, size)
        if dropped:
            self.note += " (oldest upload session dropped: more than %d)" % GRAPH_MAX_UPLOAD_SESSIONS
        out = {"@odata.context": GRAPH_UPLOAD_CONTEXT,
               "uploadUrl": "%s?authtoken=%s" % (self.graph_upload_path(session, self.base_url()),
                                                 session["token"]),
               "expirationDateTime": graph_iso7(session["expires"]),
               "nextExpectedRanges": ["0-"]}
        return GraphResponse(201, json.dumps(out).encode(), "application/json")

    def graph_upload_user(self, mailbox):
        return "%s@%s" % (graph_oid(mailbox), self.server.state.args.tenant_id)

    def graph_upload_path(self, session, base, what=None):
        """Outlook's form of the upload URL (without its ?authtoken=), or of what ("Attachments('id')")."""
        return "%s/api/v2.0/Users('%s')/Messages('%s')/%s" % (
            base, self.graph_upload_user(session["mailbox"]), session["draft"],
            what or "AttachmentSessions('%s')" % session["id"])

    def graph_upload_handle(self, req):
        """A request on an upload URL (no bearer token) -> GraphResponse."""
        try:
            resp = self.graph_upload(req)
        except GraphError as err:
            resp = self.graph_error_response(err)
        self.graph_count(req["method"], req["parts"], resp.status)
        return resp

    def graph_upload(self, req):
        st = self.server.state
        method, headers = req["method"], req["headers"]
        m = re.fullmatch(r"Users\('([^']*)'\)/Messages\('([^']*)'\)/AttachmentSessions\('([^']*)'\)",
                         "/".join(req["parts"][2:]), re.I)
        if not m:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        user, did, sid = m.groups()
        if req["too_large"]:
            raise GraphError(413, "RequestEntityTooLarge",
                             "The request is larger than the maximum request length of 4MB.")
        auth = headers.get("authorization")
        if auth:
            # The uploadUrl is pre-authenticated ("Do not specify an Authorization request
            # header"): a Graph token there is refused for its audience.
            token = auth[7:].strip() if auth[:7].lower() == "bearer " else auth
            with st.lock:
                st.graph_counts["upload_puts_with_authorization"] += 1
                rec = st.access_tokens.get(token)
            url = self.base_url() + "/" + "/".join(req["parts"][:5])
            if rec is None:
                raise GraphError(401, "InvalidAuthenticationToken", "Access token validation failure.")
            raise GraphError(401, "InvalidAudienceForResource",
                             "The audience claim value is invalid for current resource. Audience "
                             "claim is '%s/', request url is '%s'." % (rec["resource"], url))
        token = req["query"].get("authtoken") or ""
        if not token:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        t = now()
        with st.lock:
            s = st.graph_upload_sessions.get(sid)
            if s is not None and s["expires"] <= t:
                del st.graph_upload_sessions[sid]
                self.note += " (upload session expired)"
                s = None
            if s is None or not secrets.compare_digest(s["token"], token) or \
                    s["draft"] != did or user.lower() != self.graph_upload_user(s["mailbox"]):
                raise GraphError(404, "ErrorItemNotFound",
                                 "The specified object was not found in the store.")
            received = len(s["data"])
        self.note += " %s %r" % (s["mailbox"], s["name"])
        ctx = "%s/api/v2.0/$metadata#Users('%s')/Messages('%s')/AttachmentSessions/$entity" % (
            self.base_url(), urllib.parse.quote(user, safe=""), urllib.parse.quote(did, safe=""))
        if method == "DELETE":  # cancel
            with st.lock:
                st.graph_upload_sessions.pop(sid, None)
            self.note += " upload session cancelled at %d/%d" % (received, s["size"])
            return GraphResponse(204)
        if method == "GET":  # the session's state (OneDrive's; Outlook does not document it)
            out = {"@odata.context": ctx, "ExpirationDateTime": graph_iso7(s["expires"]),
                   "nextExpectedRanges": ["%d" % received if received else "0-"]}
            return GraphResponse(200, json.dumps(out).encode(), "application/json")
        if method != "PUT":
            raise GraphError(405, "ErrorInvalidRequest", "The OData request is not supported.")
        body = req["body"]
        cr = (headers.get("content-range") or "").strip()
        r = re.fullmatch(r"bytes\s+(\d+)-(\d+)/(\d+)", cr, re.I)
        if not r:
            raise GraphError(400, "ErrorInvalidRequest",
                             "The Content-Range header is missing or malformed: '%s'." % cr)
        start, end, total = (int(x) for x in r.groups())
        if total != s["size"]:
            raise GraphError(400, "ErrorInvalidRequest",
                             "The Content-Range header's total size %d does not match the upload "
                             "session's size %d." % (total, s["size"]))
        if end < start or end >= total:
            raise GraphError(400, "ErrorInvalidRequest",
                             "The Content-Range header is invalid: '%s'." % cr)
        if end - start + 1 != len(body):
            raise GraphError(400, "ErrorInvalidRequest", "The Content-Range header length does not "
                             "match the provided number of bytes (%d)." % len(body))
        with st.lock:
            s = st.graph_upload_sessions.get(sid)
            if s is None:  # cancelled or completed meanwhile
                raise GraphError(404, "ErrorItemNotFound",
                                 "The specified object was not found in the store.")
            received = len(s["data"])
            if start != received:
                raise GraphError(416, "ErrorInvalidRequest",
                                 "The uploaded fragment is not contiguous with the bytes received: "
                                 "it starts at %d, the next expected byte is %d." % (start, received),
                                 extra={"nextExpectedRanges": ["%d" % received]})
            s["data"] += body
            received = len(s["data"])
            c = st.graph_counts
            c["upload_puts"] += 1
            c["upload_bytes"] += len(body)
            done = received == s["size"]
            if done:
                del st.graph_upload_sessions[sid]
                draft = st.graph_drafts.get(s["mailbox"], {}).get(did)
                if draft is None:  # deleted, or being sent
                    raise GraphError(404, "ErrorItemNotFound",
                                     "The specified object was not found in the store.")
                att = self.graph_new_attachment(s["name"], s["contentType"], s["data"],
                                                s["isInline"], s["contentId"])
                draft["attachments"].append(att)
                draft["modified"] = now()
                c["upload_sessions_completed"] += 1
        self.note += " bytes %d-%d/%d" % (start, end, total)
        if done:
            self.note += " complete: attached"
            return GraphResponse(201, headers={"Location": self.graph_upload_path(
                s, self.base_url(), "Attachments('%s')" % att["id"])})
        out = {"@odata.context": ctx, "ExpirationDateTime": graph_iso7(s["expires"]),
               "nextExpectedRanges": ["%d" % received]}
        return GraphResponse(200, json.dumps(out).encode(), "application/json")

    def graph_draft_send(self, req, rec, mailbox, did):
        st = self.server.state
        te = (req["headers"].get("transfer-encoding") or "").lower()
        if req.get("top") and "content-length" not in req["headers"] and "chunked" not in te:
            self.note += " 411 (no Content-Length)"
            return GraphResponse(411, GRAPH_LENGTH_REQUIRED.encode(), "text/html; charset=us-ascii")
        self.graph_need(rec, "send")
        with st.lock:  # taken out while it is sent (a second send meanwhile: 404)
            self.graph_draft_lookup(mailbox, did)
            draft = st.graph_drafts[mailbox].pop(did)
            partial = [(u["name"], len(u["data"]), u["size"])
                       for u in st.graph_upload_sessions.values()
                       if u["draft"] == did and u["mailbox"] == mailbox]
        try:
            raw = graph_add_attachments(draft["raw"], draft["attachments"])
            raw, from_addr, rcpts = self.graph_mime_envelope(raw, mailbox)
            resp = self.graph_submit(rec, mailbox, raw, from_addr, rcpts, True, "send")
        except BaseException:
            with st.lock:  # not sent: the draft stays
                st.graph_drafts.setdefault(mailbox, collections.OrderedDict())[did] = draft
            raise
        with st.lock:
            self.graph_drop_sessions_locked(mailbox, did)
        self.note += " draft with %d attachments" % len(draft["attachments"])
        for name, got, size in partial:
            # Real Graph attaches a file only once its last byte is uploaded.
            self.note += " (incomplete upload session %r %d/%d bytes: not attached)" % (
                name, got, size)
        return resp

    # ---------------------------------------------------------------- $batch
    def graph_batch(self, req):
        self.graph_allow(req["method"], "POST")
        try:
            payload = json.loads(req["body"].decode("utf-8"))
            requests = payload["requests"]
            if not isinstance(requests, list):
                raise ValueError
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise GraphError(400, "BadRequest", "Invalid batch payload format.")
        if len(requests) > 20:
            raise GraphError(400, "BadRequest",
                             "The number of batch requests exceeds the limit of 20 requests.")
        ids = [str(r.get("id", "")) if isinstance(r, dict) else "" for r in requests]
        if any(not i for i in ids) or len(set(ids)) != len(ids):
            raise GraphError(400, "BadRequest", "Invalid batch payload format: every request needs a "
                             "unique id.")
        st = self.server.state
        responses = []
        for r, rid in zip(requests, ids):
            url = urllib.parse.urlsplit(str(r.get("url") or ""))
            headers = {str(k).lower(): str(v) for k, v in (r.get("headers") or {}).items()}
            headers["authorization"] = req["headers"].get("authorization", "")
            body = r.get("body")
            if body is None:
                raw = b""
            elif isinstance(body, (dict, list)):
                raw = json.dumps(body).encode()
                headers.setdefault("content-type", "application/json")
            else:
                raw = str(body).encode()
            parts = [urllib.parse.unquote(p) for p in url.path.split("/") if p]
            sub = {"method": str(r.get("method") or "GET").upper(), "parts": parts,
                   "query": {k: v[0] for k, v in urllib.parse.parse_qs(
                       url.query, keep_blank_values=True).items()},
                   "headers": headers, "body": raw, "too_large": False}
            path = "/".join(parts[1:] if parts[:1] == ["v1.0"] else parts)
            with st.lock:
                inj = st.take_injection("graph", path=path, method=sub["method"])
            if inj:
                resp = self.graph_injected(inj)
                self.graph_count(sub["method"], parts, resp.status, injected=True)
            else:
                resp = self.graph_handle(sub, batch_token=True)
            item = {"id": rid, "status": resp.status, "headers": dict(resp.headers)}
            if resp.ctype:
                item["headers"]["Content-Type"] = resp.ctype
            if resp.body:
                if (resp.ctype or "").startswith("application/json"):
                    item["body"] = json.loads(resp.body.decode("utf-8"))
                else:
                    item["body"] = base64.b64encode(resp.body).decode("ascii")
            responses.append(item)
        return GraphResponse(200, json.dumps({"responses": responses}).encode(), "application/json")


class Handler(GraphMixin, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mailstack-idp/1.0"
    sys_version = ""

    # ---------------------------------------------------------------- plumbing
    def log_message(self, fmt, *args):  # replaced by one line per request in _dispatch
        pass

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_HEAD(self):
        self._dispatch("GET")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method):
        self.t0 = time.monotonic()
        self.status = None
        self.note = ""
        url = urllib.parse.urlsplit(self.path)
        self.query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        self.body_too_large = False
        # Graph and attachment upload URLs (/api/v2.0/...): bodies over 4 MB are refused
        self.raw_body = self.read_body(url.path.startswith(("/v1.0/", "/api/v2.0/")))
        self.form = {}
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        is_control = url.path.startswith("/_control/")
        if method == "POST" and ctype == "application/x-www-form-urlencoded" and not is_control:
            self.form = {k: v[0] for k, v in urllib.parse.parse_qs(
                self.raw_body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        self.trace_id = str(uuid.uuid4())
        self.correlation_id = self.headers.get("client-request-id") or str(uuid.uuid4())
        path = url.path
        parts = [p for p in path.split("/") if p]
        try:
            if path == "/tokeninfo":
                self.tokeninfo(method)
            elif parts[:1] == ["_control"]:
                self.control(method, "/".join(parts[1:]))
            elif parts[:1] == ["v1.0"]:
                self.graph_http(method, [urllib.parse.unquote(p) for p in parts[1:]])
            elif parts[:1] == ["google"]:
                google_sim.dispatch(self, method, parts[1:])
            elif [p.lower() for p in parts[:2]] == ["api", "v2.0"]:  # attachment upload URLs
                self.graph_http(method, [urllib.parse.unquote(p) for p in parts], upload=True)
            elif len(parts) == 4 and parts[1:3] == ["oauth2", "v2.0"]:
                tenant, ep = parts[0], parts[3]
                if ep == "authorize":
                    self.authorize(tenant, self.form if method == "POST" else self.query)
                elif ep == "consent" and method == "POST":
                    self.consent(tenant)
                elif ep == "token":
                    if method != "POST":
                        self.aad_json(AadError(900561))
                    else:
                        self.token(tenant)
                elif ep == "devicecode":
                    if method != "POST":
                        self.aad_json(AadError(900561))
                    else:
                        self.devicecode(tenant)
                else:
                    self.send_json(404, {"error": "not_found"})
            elif len(parts) == 4 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
                self.discovery(parts[0])
            elif parts == ["devicelogin"] and method in ("GET", "POST"):
                self.devicelogin(method)
            elif path == "/":
                self.send_html(200, "<html><body><h1>mailstack simulated identity platform"
                                    "</h1></body></html>")
            else:
                self.send_json(404, {"error": "not_found", "path": path})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            self.note += " client gone"
        except Exception as exc:  # pragma: no cover - bug guard
            self.note += " EXCEPTION %r" % exc
            traceback.print_exc(file=sys.stderr)
            try:
                self.send_json(500, {"error": "server_error", "error_description": str(exc)})
            except Exception:
                pass
        finally:
            params = dict(self.query)
            params.update(self.form)
            if is_control and self.raw_body:
                try:
                    body = json.loads(self.raw_body.decode("utf-8"))
                    params.update({k: json.dumps(v) if not isinstance(v, str) else v
                                   for k, v in body.items()})
                except (ValueError, AttributeError):
                    params["body"] = "(not JSON, %d bytes)" % len(self.raw_body)
            line = "%s %s %s %s %s -> %s%s (%d ms)\n" % (
                ms_timestamp(), self.client_address[0], method, path, redact_params(params),
                self.status if self.status is not None else "no-reply", self.note,
                (time.monotonic() - self.t0) * 1000)
            self.server.log(line)

    def read_body(self, graph):
        """The request body (Content-Length or chunked).  Graph: beyond 4 MB the body is
        read and discarded (the connection stays usable) and body_too_large is set."""
        limit = GRAPH_MAX_REQUEST if graph else None
        chunks, total = [], 0

        def take(n):
            nonlocal total
            while n > 0:
                data = self.rfile.read(min(n, 1 << 20))
                if not data:
                    raise ConnectionResetError("body cut short")
                n -= len(data)
                total += len(data)
                if limit is not None and total > limit:
                    self.body_too_large = True
                    chunks.clear()
                elif not self.body_too_large:
                    chunks.append(data)

        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            while True:
                line = self.rfile.readline(1024).strip()
                size = int(line.split(b";")[0] or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024).strip():
                        pass
                    break
                take(size)
                self.rfile.readline(16)
        else:
            take(int(self.headers.get("Content-Length") or 0))
        return b"".join(chunks)

    def base_url(self):
        host = self.headers.get("Host") or "%s:%d" % self.server.server_address[:2]
        return "%s://%s" % ("https" if self.server.is_https else "http", host)

    def send_body(self, status, body, ctype, headers=None):
        self.status = status
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store, no-cache")
        self.send_header("Pragma", "no-cache")
        self.send_header("x-ms-request-id", self.trace_id)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status, obj, headers=None):
        self.send_body(status, (json.dumps(obj) + "\n").encode(), "application/json; charset=utf-8",
                       headers)

    def send_html(self, status, text):
        self.send_body(status, text.encode("utf-8"), "text/html; charset=utf-8")

    def redirect(self, location):
        self.status = 302
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.send_header("Cache-Control", "no-store, no-cache")
        self.end_headers()

    def aad_body(self, err):
        ts = ms_timestamp()
        desc = "AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s" % (
            err.code, err.message, self.trace_id, self.correlation_id, ts)
        body = {
            "error": err.error,
            "error_description": desc,
            "error_codes": [err.code],
            "timestamp": ts,
            "trace_id": self.trace_id,
            "correlation_id": self.correlation_id,
            "error_uri": "https://login.microsoftonline.com/error?code=%d" % err.code,
        }
        if err.code in SUBERRORS:
            body["suberror"] = SUBERRORS[err.code]
        return body

    def aad_json(self, err, headers=None):
        self.note += " %s AADSTS%d" % (err.error, err.code)
        self.send_json(err.status, self.aad_body(err), headers)

    def aad_page(self, err):
        self.note += " page AADSTS%d" % err.code
        self.send_html(err.status, PAGE % {
            "title": "Sign in to your account",
            "body": "<h1>Sorry, but we're having trouble signing you in.</h1>"
                    "<p id=\"error\">AADSTS%d: %s</p><p>Trace ID: %s<br>Correlation ID: %s<br>"
                    "Timestamp: %s</p>" % (err.code, html.escape(err.message), self.trace_id,
                                           self.correlation_id, ms_timestamp())})

    @staticmethod
    def add_params(uri, params, mode="query"):
        q = urllib.parse.urlencode(params, safe=":")
        if mode == "fragment":
            return uri + "#" + q
        split = urllib.parse.urlsplit(uri)
        query = split.query + "&" + q if split.query else q
        return urllib.parse.urlunsplit(split._replace(query=query))

    def finish_redirect(self, uri, params, mode):
        if mode == "form_post":
            inputs = "".join('<input type="hidden" name="%s" value="%s">' % (
                html.escape(k), html.escape(v)) for k, v in params.items())
            self.status = 200
            self.send_html(200, "<html><body onload=\"document.forms[0].submit()\">"
                                "<form method=\"post\" action=\"%s\">%s<noscript><button "
                                "type=\"submit\">Continue</button></noscript></form></body></html>"
                           % (html.escape(uri), inputs))
        else:
            self.redirect(self.add_params(uri, params, mode))

    # ---------------------------------------------------------------- tokeninfo
    def tokeninfo(self, method):
        """Token check for Dovecot's oauth2 passdb.
        GET /tokeninfo?access_token=T[&user=U] (or Authorization: Bearer T): 200 / 401.
        POST /tokeninfo grant_type=password&username=U&password=T (the passdb's password-grant
        mode, start.sh's configuration: the oauth2 passdb's only request that carries the SASL
        user with the token): 200 with access_token / 400 invalid_grant (Dovecot: 4xx with any
        other error, 5xx or no answer = temporary failure).
        U given: valid if the token may log in to Exchange as mailbox U (State.mailbox_access);
        email = U.  No U: email = the token's own user (Dovecot compares it with the SASL user)."""
        st = self.server.state
        grant = method == "POST" and self.form.get("grant_type") == "password"
        if grant:
            token, user = self.form.get("password"), self.form.get("username")
        else:
            token = self.query.get("access_token") or self.form.get("access_token")
            user = self.query.get("user") or self.form.get("user")
            auth = self.headers.get("Authorization") or ""
            if not token and auth.lower().startswith("bearer "):
                token = auth[7:].strip()
        user = (user or "").strip().lower() or None
        with st.lock:
            internal = st.internal_tokens.get(token or "")
        if internal:
            if user is not None and user != internal.lower():
                self.tokeninfo_refuse("internal (graph) token of %s, not %s" % (internal, user),
                                      grant)
                return
            self.note += " internal (graph) %s" % internal
            info = {"email": internal, "upn": internal, "active": "true",
                    "expires_in": 300, "scope": "graph-internal",
                    "client_id": "graph", "aud": GRAPH}
            if grant:
                info.update(access_token=token, token_type="Bearer")
            self.send_json(200, info)
            return
        with st.lock:
            st.counts["tokeninfo"] += 1
            inj = st.take_injection("tokeninfo")
        if inj and self.apply_injection(inj, tokeninfo=True, grant=grant):
            return
        with st.lock:
            rec = st.access_tokens.get(token or "")
            t = now()
            why = access = None
            if rec is None:
                why = "unknown token"
            elif rec["revoked"]:
                why = "revoked"
            elif rec["expires"] <= t:
                why = "expired"
            elif user is None:
                if rec["user"] is None:
                    why = "app-only token has no user"
            else:
                access, why = st.mailbox_access(rec, user)
            if why:
                st.counts["tokeninfo_invalid"] += 1
            else:
                st.counts["tokeninfo_valid"] += 1
                info = {
                    "email": user or rec["user"],
                    "upn": rec["user"],
                    "active": "true",
                    "expires_in": max(1, int(rec["expires"] - t)),
                    "scope": " ".join(rec["scopes"]),
                    "client_id": rec["client_id"],
                    "aud": rec["resource"] or GRAPH,
                }
                if access is not None:
                    info["access"] = access
                if info["upn"] is None:  # app-only: no user principal (no JSON null for Dovecot)
                    del info["upn"]
                if grant:
                    info.update(access_token=token, token_type="Bearer")
        if why:
            self.tokeninfo_refuse(why, grant, user)
            return
        if access in (None, "own"):
            self.note += " valid %s" % info["email"]
        elif access == "full_access":
            self.note += " valid %s (full_access, token of %s)" % (info["email"], rec["user"])
        else:
            self.note += " valid %s (app %s)" % (info["email"], rec["client_id"])
        self.send_json(200, info)

    def tokeninfo_refuse(self, why, grant, user=None):
        self.note += " invalid%s (%s)" % (" for " + user if user else "", why)
        if grant:
            self.send_json(400, {"error": "invalid_grant", "error_description": why})
        else:
            self.send_json(401, {"error": "invalid_token", "error_description": why,
                                 "active": "false"},
                           {"WWW-Authenticate": 'Bearer error="invalid_token"'})

    # ---------------------------------------------------------------- injections
    def apply_injection(self, inj, tokeninfo=False, grant=False):
        """Return True when the injection produced (or suppressed) the reply."""
        self.note += " injected%s" % json.dumps({k: v for k, v in inj.items() if k != "remaining"})
        hang = float(inj.get("hang_seconds") or 0)
        if hang > 0:
            time.sleep(hang)
        if inj.get("raw_body") is not None:
            self.send_body(int(inj.get("status") or 500), str(inj["raw_body"]).encode(),
                           inj.get("content_type") or "text/html; charset=utf-8",
                           self.retry_after(inj))
            return True
        code, status = inj.get("aadsts"), inj.get("status")
        if code is None and status is None:
            if hang > 0 and not inj.get("process_after_hang"):
                self.close_connection = True
                self.note += " (connection dropped)"
                return True
            if inj.get("close"):
                self.close_connection = True
                self.note += " (connection dropped)"
                return True
            return False
        if tokeninfo:
            status = int(status or 401)
            # Dovecot's password-grant mode refuses on 4xx only with error=invalid_grant (any
            # other 4xx error is a temporary failure): an injected 4xx stays a refusal there too.
            error = "invalid_grant" if grant and 400 <= status < 500 else "injected"
            self.send_json(status, {"error": error, "status": status}, self.retry_after(inj))
            return True
        if code is None:
            status = int(status)
            code = 90033 if status >= 500 or status == 429 else 70000
        err = AadError(int(code), status=int(status) if status else None, error=inj.get("error"),
                       message=inj.get("message"), resource="https://outlook.office.com",
                       client_id=self.form.get("client_id", "?"), app_name="?",
                       grant_type=self.form.get("grant_type", "?"), issued="?",
                       valid_from="?", inactive="90.00:00:00", scope=self.form.get("scope", "?"))
        if err.code == 90033 and not inj.get("error") and err.status == 429:
            err.error = "temporarily_unavailable"
        with self.server.state.lock:
            self.server.state.counts["token_errors"] += 1
        self.aad_json(err, self.retry_after(inj))
        return True

    @staticmethod
    def retry_after(inj):
        return {"Retry-After": str(inj["retry_after"])} if inj.get("retry_after") else {}

    # ---------------------------------------------------------------- authorize
    def authorize(self, tenant, p):
        st = self.server.state
        with st.lock:
            st.counts["authorize"] += 1
            inj = st.take_injection("authorize")
        if inj and self.apply_injection(inj):
            return
        with st.lock:
            st.gc()
            client_id = p.get("client_id", "")
            app = st.apps.get(client_id)
            # Errors that cannot be sent to the redirect URI are shown as a page.
            try:
                if not st.tenant_known(tenant, app):
                    raise AadError(90002, tenant=tenant)
                if not client_id:
                    raise AadError(900144, param="client_id")
                if app is None:
                    raise AadError(700016, client_id=client_id, tenant=tenant)
                redirect_uri = p.get("redirect_uri")
                if app["redirect_uris"]:
                    if redirect_uri is None:
                        redirect_uri_eff = app["redirect_uris"][0]
                    elif any(redirect_matches(r, redirect_uri) for r in app["redirect_uris"]):
                        redirect_uri_eff = redirect_uri
                    else:
                        raise AadError(50011, redirect_uri=redirect_uri, client_id=client_id)
                elif redirect_uri:
                    redirect_uri_eff = redirect_uri
                else:
                    raise AadError(900144, param="redirect_uri")
                st.check_tenant(tenant, app)
            except AadError as err:
                self.aad_page(err)
                return
            mode = p.get("response_mode") or "query"
            state = p.get("state")
            try:
                rtype = p.get("response_type")
                if not rtype:
                    raise AadError(900144, param="response_type")
                if rtype != "code":
                    raise AadError(700054, response_type=rtype)
                scopes = parse_scope_param(p.get("scope"))
                if not scopes:
                    raise AadError(900144, param="scope")
                resource = validate_scopes(scopes, tenant)
                challenge = p.get("code_challenge")
                method = p.get("code_challenge_method") or ("plain" if challenge else None)
                if challenge and method not in ("S256", "plain"):
                    raise AadError(501471, method=method)
                if not challenge and app["require_pkce"]:
                    raise AadError(9002325)
                login_hint = (p.get("login_hint") or "").strip().lower() or None
                auto = p.get("auto") in ("1", "true", "yes") or st.settings["auto_consent"]
                if p.get("prompt") == "none" and not auto:
                    raise AadError(50058)
            except AadError as err:
                self.note += " AADSTS%d" % err.code
                params = {"error": err.error,
                          "error_description": "AADSTS%d: %s" % (err.code, err.message)}
                if state is not None:
                    params["state"] = state
                self.finish_redirect(redirect_uri_eff, params, mode)
                return
            req = {
                "tenant": tenant, "client_id": client_id, "redirect_uri": redirect_uri,
                "redirect_uri_eff": redirect_uri_eff, "scopes": scopes, "resource": resource,
                "challenge": challenge, "method": method, "nonce": p.get("nonce"),
                "state": state, "mode": mode, "login_hint": login_hint, "created": now(),
            }
            if auto:
                user = login_hint or st.settings["auto_consent_account"].lower()
                params = self.new_code(req, user)
                self.note += " auto-consent %s" % user
                self.finish_redirect(redirect_uri_eff, params, mode)
                return
            rid = secrets.token_urlsafe(24)
            st.pending[rid] = req
            st.counts["consent_shown"] += 1
            self.note += " consent page"
            self.send_html(200, self.consent_page(tenant, app, req, rid))

    def new_code(self, req, user):
        """Create an authorization code (state lock held) and return the redirect params."""
        st = self.server.state
        code = rand_token(300, "0.A")
        st.codes[code] = dict(req, user=user, redeemed=False, created=now())
        st.no_consent.discard((user, req["client_id"]))
        st.no_consent.discard((user, "*"))
        params = {"code": code}
        if req["state"] is not None:
            params["state"] = req["state"]
        params["session_state"] = str(uuid.uuid4())
        return params

    def consent_page(self, tenant, app, req, rid, error=None):
        items = "".join("<li>%s</li>" % html.escape(scope_words(s)) for s in req["scopes"])
        if req["login_hint"]:
            account = ('<p class="account">Account: <b id="account">%s</b></p>'
                       '<input type="hidden" name="login" value="%s">'
                       % (html.escape(req["login_hint"]), html.escape(req["login_hint"])))
        else:
            account = ('<p><label for="login">Account</label> <input type="text" id="login" '
                       'name="login" autocomplete="username" placeholder="someone@example.com">'
                       '</p>')
        err = '<p class="error" id="error">%s</p>' % html.escape(error) if error else ""
        body = (
            "<h1>Permissions requested</h1>"
            '<p class="app"><b id="app-name">%(name)s</b><br>unverified</p>'
            "<p>This app would like to:</p><ul id=\"scopes\">%(items)s</ul>%(err)s"
            '<form method="post" action="/%(tenant)s/oauth2/v2.0/consent">'
            '<input type="hidden" name="request" value="%(rid)s">%(account)s'
            "<p>Accepting these permissions means that you allow this app to use your data as "
            "specified in their terms of service and privacy statement.</p>"
            '<button type="submit" name="action" value="accept" id="accept">Accept</button> '
            '<button type="submit" name="action" value="cancel" id="cancel">Cancel</button>'
            "</form>") % {"name": html.escape(app["name"]), "items": items, "err": err,
                          "tenant": html.escape(urllib.parse.quote(tenant, safe="")), "rid": rid,
                          "account": account}
        return PAGE % {"title": "Permissions requested", "body": body}

    def consent(self, tenant):
        st = self.server.state
        f = self.form
        with st.lock:
            req = st.pending.get(f.get("request", ""))
            dev = st.device_codes.get(req["device"]) if req and req.get("device") else None
            if (req is None or now() - req["created"] > st.settings["code_lifetime"]
                    or (req.get("device") and (dev is None or st.device_status(dev) != "pending"))):
                self.send_html(400, PAGE % {"title": "Sign in to your account", "body":
                               "<h1>This sign-in request is no longer valid.</h1><p>Start the "
                               "sign-in again from the application.</p>"})
                return
            if dev is not None:
                self.consent_device(tenant, f, req, dev)
                return
            if f.get("action") == "cancel":
                del st.pending[f["request"]]
                st.counts["consent_declined"] += 1
                params = {"error": "access_denied",
                          "error_description": "AADSTS65004: User declined to consent to access "
                                               "the app."}
                if req["state"] is not None:
                    params["state"] = req["state"]
                self.note += " declined"
                self.finish_redirect(req["redirect_uri_eff"], params, req["mode"])
                return
            if f.get("action") != "accept":
                self.send_html(400, PAGE % {"title": "Error", "body": "<p>Unknown action.</p>"})
                return
            user = (f.get("login") or req["login_hint"] or "").strip().lower()
            if not re.fullmatch(r"[^@\s]+@[^@\s]+", user):
                app = st.apps.get(req["client_id"])
                self.send_html(200, self.consent_page(tenant, app, req, f["request"],
                                                      "Enter a valid email address."))
                return
            del st.pending[f["request"]]
            st.counts["consent_accepted"] += 1
            params = self.new_code(req, user)
            self.note += " accepted %s" % user
            self.finish_redirect(req["redirect_uri_eff"], params, req["mode"])

    # ---------------------------------------------------------------- device authorization
    def devicecode(self, tenant):
        """POST /{tenant}/oauth2/v2.0/devicecode (RFC 8628 section 3.1, as Microsoft speaks it)."""
        st = self.server.state
        f = self.form
        with st.lock:
            st.counts["devicecode"] += 1
            inj = st.take_injection("devicecode")
        if inj and self.apply_injection(inj):
            return
        try:
            with st.lock:
                st.gc()
                client_id = f.get("client_id", "")
                app = st.apps.get(client_id)
                if not st.tenant_known(tenant, app):
                    raise AadError(90002, tenant=tenant)
                if not client_id:
                    raise AadError(900144, param="client_id")
                if app is None:
                    raise AadError(700016, client_id=client_id, tenant=tenant)
                st.check_tenant(tenant, app)
                scopes = parse_scope_param(f.get("scope"))
                if not scopes:
                    raise AadError(900144, param="scope")
                resource = validate_scopes(scopes, tenant)
                rec = st.new_device_code(app, tenant, scopes, resource)
        except AadError as err:
            with st.lock:
                st.counts["token_errors"] += 1
            self.aad_json(err)
            return
        uri = self.base_url() + "/devicelogin"
        self.note += " client=%s user_code=%s" % (client_id, short(rec["user_code"]))
        self.send_json(200, {
            "user_code": rec["user_code"],
            "device_code": rec["device_code"],
            "verification_uri": uri,
            "expires_in": int(rec["expires"] - rec["created"]),
            "interval": rec["interval"],
            "message": DEVICE_CODE_MESSAGE.format(verification_uri=uri, user_code=rec["user_code"]),
        })

    def devicelogin_page(self, otc="", error=None):
        err = '<p class="error" id="error">%s</p>' % html.escape(error) if error else ""
        body = (
            "<h1>Enter code</h1>"
            "<p>Enter the code displayed on your app or device.</p>%s"
            '<form method="post" action="/devicelogin">'
            '<p><label for="otc">Enter code</label> <input type="text" id="otc" name="otc" '
            'value="%s" autocomplete="off" autocapitalize="characters" spellcheck="false" '
            'maxlength="32" placeholder="Code"></p>'
            '<button type="submit" id="next">Next</button>'
            "</form>") % (err, html.escape(otc))
        return PAGE % {"title": "Enter code", "body": body}

    def devicelogin(self, method):
        """GET|POST /devicelogin: the user types the user_code, then gets the consent page of
        the authorization code flow; its Accept / Cancel approve / decline the device code."""
        st = self.server.state
        if method == "GET":
            self.send_html(200, self.devicelogin_page(self.query.get("otc", "")))
            return
        otc = self.form.get("otc", "")
        with st.lock:
            rec = st.find_user_code(otc)
            status = st.device_status(rec) if rec else "unknown"
            app = st.apps.get(rec["client_id"]) if rec else None
            if status != "pending" or app is None:
                self.note += " device code %s" % status
                self.send_html(200, self.devicelogin_page(
                    otc, "That code didn't work. Check the code and try again."
                    if status in ("unknown", "pending") else
                    "That code has expired. Get a new code from your app or device."
                    if status == "expired" else
                    "That code has already been used. Get a new code from your app or device."))
                return
            req = {"device": rec["device_code"], "client_id": rec["client_id"],
                   "tenant": rec["tenant"], "scopes": rec["scopes"], "login_hint": None,
                   "created": now()}
            rid = secrets.token_urlsafe(24)
            st.pending[rid] = req
            st.counts["consent_shown"] += 1
            self.note += " consent page (device %s)" % short(rec["user_code"])
            self.send_html(200, self.consent_page(rec["tenant"], app, req, rid))

    def device_done_page(self, app, approved):
        name = html.escape(app["name"] if app else "the application")
        if approved:
            body = ('<h1>%s</h1><p id="done">You have signed in to %s on your device. You may '
                    'now close this window.</p>' % (name, name))
        else:
            body = ('<h1>%s</h1><p id="declined">You have declined to sign in to %s on your '
                    'device. You may now close this window.</p>' % (name, name))
        return PAGE % {"title": "Device sign-in", "body": body}

    def consent_device(self, tenant, f, req, dev):
        """Accept / Cancel on the consent page shown by /devicelogin (state lock held)."""
        st = self.server.state
        app = st.apps.get(req["client_id"])
        if f.get("action") == "cancel":
            del st.pending[f["request"]]
            st.counts["consent_declined"] += 1
            st.decide_device(dev, None)
            self.note += " device %s declined" % short(dev["user_code"])
            self.send_html(200, self.device_done_page(app, False))
            return
        if f.get("action") != "accept":
            self.send_html(400, PAGE % {"title": "Error", "body": "<p>Unknown action.</p>"})
            return
        user = (f.get("login") or "").strip().lower()
        if not re.fullmatch(r"[^@\s]+@[^@\s]+", user):
            self.send_html(200, self.consent_page(tenant, app, req, f["request"],
                                                  "Enter a valid email address."))
            return
        del st.pending[f["request"]]
        st.counts["consent_accepted"] += 1
        st.decide_device(dev, user)
        self.note += " device %s approved %s" % (short(dev["user_code"]), user)
        self.send_html(200, self.device_done_page(app, True))

    # ---------------------------------------------------------------- token
    def token(self, tenant):
        st = self.server.state
        f = self.form
        grant = f.get("grant_type")
        with st.lock:
            st.counts["token"]["total"] += 1
            key = grant if grant in ("authorization_code", "refresh_token",
                                     "client_credentials") else "other"
            if grant == DEVICE_GRANT:
                key = "device_code"
            st.counts["token"][key] += 1
            inj = st.take_injection("token", grant)
        if inj and self.apply_injection(inj):
            return
        try:
            with st.lock:
                resp = self.token_locked(tenant, grant)
        except AadError as err:
            with st.lock:
                st.counts["token_errors"] += 1
            self.aad_json(err)
            return
        self.send_json(200, resp)

    def check_assertion(self, app, client_id, tenant, assertion):
        """RFC 7523 client assertion: a JWT signed (RS256/PS256) with the key of a certificate
        registered on the app (x5t#S256 or x5t names it), for this token endpoint, in time."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        if self.form.get("client_assertion_type") != ASSERTION_TYPE:
            raise AadError(50027, why="client_assertion_type must be %s." % ASSERTION_TYPE)
        try:
            head_b64, body_b64, sig_b64 = assertion.split(".")
            header = json.loads(b64url_decode(head_b64))
            claims = json.loads(b64url_decode(body_b64))
            signature = b64url_decode(sig_b64)
        except (ValueError, UnicodeDecodeError):
            raise AadError(50027, why="The assertion is not a signed JWT.")
        thumb = header.get("x5t#S256") or header.get("x5t") or ""
        key = (app.get("certificates") or {}).get(thumb)
        if key is None:
            raise AadError(700027, thumbprint=thumb, client_id=client_id)
        alg = header.get("alg")
        pad = {"RS256": padding.PKCS1v15(),
               "PS256": padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)}.get(alg)
        if pad is None:
            raise AadError(50027, why="Unsupported alg %r." % alg)
        try:
            key.verify(signature, ("%s.%s" % (head_b64, body_b64)).encode(), pad, hashes.SHA256())
        except Exception:
            raise AadError(700023)
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise AadError(700021)
        aud = "%s/%s/oauth2/v2.0/token" % (self.base_url(), tenant)
        if claims.get("aud") not in (aud, "https://login.microsoftonline.com/%s/oauth2/v2.0/token" % tenant):
            raise AadError(50027, why="Invalid audience %r (expected %r)." % (claims.get("aud"), aud))
        t = int(now())
        nbf, exp = int(claims.get("nbf", 0) or 0), int(claims.get("exp", 0) or 0)
        if not exp or exp < t - 300 or nbf > t + 300:  # Microsoft allows five minutes of skew
            raise AadError(700024, now=t, nbf=nbf, exp=exp)

    def client_auth(self):
        """Return (client_id, secret or None) from the form or HTTP Basic."""
        f = self.form
        client_id, secret = f.get("client_id"), f.get("client_secret")
        auth = self.headers.get("Authorization") or ""
        if auth.lower().startswith("basic "):
            try:
                dec = base64.b64decode(auth[6:].strip()).decode("utf-8")
                cid, _, sec = dec.partition(":")
                client_id = client_id or urllib.parse.unquote_plus(cid)
                secret = secret or urllib.parse.unquote_plus(sec)
            except Exception:
                pass
        return client_id, secret

    def token_locked(self, tenant, grant):
        st = self.server.state
        st.gc()
        if not grant:
            raise AadError(900144, param="grant_type")
        client_id, secret = self.client_auth()
        if not client_id:
            raise AadError(900144, param="client_id")
        app = st.apps.get(client_id)
        if app is None:
            if not st.tenant_known(tenant):
                raise AadError(90002, tenant=tenant)
            raise AadError(700016, client_id=client_id, tenant=tenant)
        st.check_tenant(tenant, app)
        if grant not in ("authorization_code", "refresh_token", "client_credentials", DEVICE_GRANT):
            raise AadError(70003, grant_type=grant)
        assertion = self.form.get("client_assertion")
        public = False
        if assertion:
            self.check_assertion(app, client_id, tenant, assertion)
        elif secret:
            if not app["client_secret"]:
                raise AadError(700025)
            if not secrets.compare_digest(secret.encode(), app["client_secret"].encode()):
                raise AadError(7000215, client_id=client_id)
            if app["secret_expired"]:
                raise AadError(7000222, client_id=client_id)
        elif grant == DEVICE_GRANT or app["client_secret"] or app.get("certificates"):
            # No client credential: a confidential app needs one, except in a public client
            # flow ("Allow public client flows": the device code grant, and the refresh
            # tokens it issued); an app that does not allow them needs one for the device
            # code grant even when it has no secret.
            if not self.public_flow_allowed(app, grant):
                raise AadError(7000218)
            public = True
        self.note += " client=%s%s" % (client_id, " (certificate)" if assertion else
                                       " (public client flow)" if public else "")
        tenant_id = app["tenant_id"]
        if grant == DEVICE_GRANT:
            return self.grant_device(app, tenant_id, public)
        if grant == "authorization_code":
            return self.grant_code(app, tenant_id)
        if grant == "refresh_token":
            return self.grant_refresh(app, tenant, tenant_id)
        return self.grant_client_credentials(app, tenant, tenant_id)

    def public_flow_allowed(self, app, grant):
        if not app.get("public_client_flows", True):
            return False
        if grant == DEVICE_GRANT:
            return True
        if grant == "refresh_token":
            rec = self.server.state.refresh_tokens.get(self.form.get("refresh_token") or "")
            return bool(rec and rec.get("public_client") and rec["client_id"] == app["client_id"])
        return False

    def check_narrowing(self, app, user, granted, requested_raw):
        requested = parse_scope_param(requested_raw)
        if not requested:
            return granted
        extra = [s for s in requested if s not in OIDC_SCOPES and s not in granted]
        if extra:
            raise AadError(65001, client_id=app["client_id"], app_name=app["name"])
        keep = [s for s in requested if s not in OIDC_SCOPES]
        # OIDC scopes come from the original grant (offline_access keeps the refresh token).
        return keep + [s for s in granted if s in OIDC_SCOPES]

    def grant_code(self, app, tenant_id):
        st = self.server.state
        f = self.form
        code = f.get("code")
        if not code:
            raise AadError(900144, param="code")
        rec = st.codes.get(code)
        if rec is None or rec["client_id"] != app["client_id"]:
            raise AadError(70000)
        if rec["redeemed"]:
            raise AadError(54005)
        if now() - rec["created"] > st.settings["code_lifetime"]:
            raise AadError(70008)
        if rec["redirect_uri"] is not None or app["redirect_uris"]:
            want = rec["redirect_uri_eff"]
            got = f.get("redirect_uri")
            if got is None:
                raise AadError(900144, param="redirect_uri")
            if got != want:
                raise AadError(500112, got=got, want=want)
        if rec["challenge"]:
            verifier = f.get("code_verifier")
            if not verifier:
                raise AadError(50148)
            if not re.fullmatch(r"[A-Za-z0-9._~-]{43,128}", verifier):
                raise AadError(501491)
            computed = pkce_s256(verifier) if rec["method"] == "S256" else verifier
            if not secrets.compare_digest(computed, rec["challenge"]):
                raise AadError(501481)
        user = rec["user"]
        if user in st.revoked_users and st.revoked_users[user] > rec["created"]:
            raise AadError(50173, issued=iso(rec["created"]), valid_from=iso(st.revoked_users[user]))
        scopes = self.check_narrowing(app, user, rec["scopes"], f.get("scope"))
        rec["redeemed"] = True
        self.note += " user=%s" % user
        return st.issue(app, user, scopes, rec["resource"], nonce=rec["nonce"], tenant_id=tenant_id)

    def grant_refresh(self, app, tenant, tenant_id):
        st = self.server.state
        f = self.form
        rt = f.get("refresh_token")
        if not rt:
            raise AadError(900144, param="refresh_token")
        rec = st.refresh_tokens.get(rt)
        if rec is None:
            raise AadError(9002313)
        self.note += " user=%s" % rec["user"]
        if rec["status"] == "rotated":
            self.note += " (rotated refresh token)"
            raise AadError(9002313)
        if rec["status"] == "revoked":
            raise AadError(50173, issued=iso(rec["grant_issued"]),
                           valid_from=iso(rec.get("revoked_at", now())))
        if rec["client_id"] != app["client_id"]:
            raise AadError(70000)
        inactive = now() - rec["last_used"]
        if rec["status"] == "expired" or inactive > st.settings["refresh_token_inactivity"]:
            rec["status"] = "expired"
            days = int(max(inactive, st.settings["refresh_token_inactivity"]) // 86400)
            raise AadError(700082, issued=iso(rec["grant_issued"]),
                           inactive="%d.00:00:00" % days)
        if (rec["user"], rec["client_id"]) in st.no_consent or (rec["user"], "*") in st.no_consent:
            raise AadError(65001, client_id=app["client_id"], app_name=app["name"])
        scopes = self.check_narrowing(app, rec["user"], rec["scopes"], f.get("scope"))
        rec["status"] = "rotated"
        rec["rotated_at"] = now()
        resp = st.issue(app, rec["user"], scopes, rec["resource"], grant_issued=rec["grant_issued"],
                        family=rec["family"], tenant_id=rec["tenant_id"],
                        public_client=rec.get("public_client", False))
        return resp

    def grant_device(self, app, tenant_id, public):
        """RFC 8628 section 3.4/3.5: the device polls with its device_code."""
        st = self.server.state
        dc = self.form.get("device_code")
        if not dc:
            raise AadError(900144, param="device_code")
        rec = st.device_codes.get(dc)
        if rec is None or rec["client_id"] != app["client_id"]:
            raise AadError(70000, error="bad_verification_code", message=DEVICE_CODE_INVALID)
        t = now()
        rec["polls"] += 1
        last, rec["last_poll"] = rec["last_poll"], t
        self.note += " user_code=%s poll %d" % (short(rec["user_code"]), rec["polls"])
        status = st.device_status(rec, t)
        if status == "redeemed":
            raise AadError(70000, error="bad_verification_code", message=DEVICE_CODE_INVALID)
        if status == "expired":
            raise AadError(70019)
        if status == "declined":
            raise AadError(70000, error="authorization_declined", message=DEVICE_DECLINED)
        if last is not None and t - last < rec["interval"] - SLOW_DOWN_TOLERANCE:
            rec["interval"] += int(st.settings["device_code_slow_down_step"])
            rec["slow_downs"] += 1
            raise AadError(70000, error="slow_down",
                           message=DEVICE_SLOW_DOWN.format(interval=rec["interval"]))
        if status == "pending":
            raise AadError(70016)
        user = rec["user"]
        if user in st.revoked_users and st.revoked_users[user] > rec["decided"]:
            raise AadError(50173, issued=iso(rec["decided"]),
                           valid_from=iso(st.revoked_users[user]))
        rec["status"] = "redeemed"
        rec["redeemed"] = t
        self.note += " user=%s" % user
        return st.issue(app, user, rec["scopes"], rec["resource"], tenant_id=tenant_id,
                        public_client=public)

    def grant_client_credentials(self, app, tenant, tenant_id):
        st = self.server.state
        if not app["client_secret"] and not app.get("certificates"):
            raise AadError(7000218)
        scopes = parse_scope_param(self.form.get("scope"))
        if not scopes:
            raise AadError(900144, param="scope")
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            raise AadError(1002012, scope=" ".join(scopes))
        resource = validate_scopes(scopes, tenant)
        resp = st.issue(app, None, scopes, resource, tenant_id=tenant_id)
        return resp

    # ---------------------------------------------------------------- discovery
    def discovery(self, tenant):
        st = self.server.state
        with st.lock:
            if not st.tenant_known(tenant):
                self.aad_json(AadError(90002, tenant=tenant))
                return
        base = self.base_url()
        tid = st.args.tenant_id if tenant.lower() in MULTI_TENANT_ALIASES else tenant
        self.send_json(200, {
            "issuer": "https://login.microsoftonline.com/%s/v2.0" % (
                "{tenantid}" if tenant.lower() in MULTI_TENANT_ALIASES else tid),
            "authorization_endpoint": "%s/%s/oauth2/v2.0/authorize" % (base, tenant),
            "token_endpoint": "%s/%s/oauth2/v2.0/token" % (base, tenant),
            "device_authorization_endpoint": "%s/%s/oauth2/v2.0/devicecode" % (base, tenant),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "code_challenge_methods_supported": ["S256", "plain"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials",
                                      DEVICE_GRANT],
            "tenant_region_scope": "EU",
        })

    # ---------------------------------------------------------------- controls
    def control(self, method, name):
        st = self.server.state
        if method == "GET":
            with st.lock:
                if name == "health":
                    self.send_json(200, {"ok": True, "pid": os.getpid()})
                elif name == "counts":
                    self.send_json(200, st.counts)
                elif name == "state":
                    self.send_json(200, self.state_summary())
                elif name == "google":
                    self.send_json(200, google_sim.control_get(st))
                elif name == "graph":
                    out = dict(st.graph_counts)
                    out["send_as"] = st.public_send_as()
                    t = now()
                    out["drafts_open"] = sum(len(d) for d in st.graph_drafts.values())
                    out["upload_sessions_open"] = sum(
                        1 for u in st.graph_upload_sessions.values() if u["expires"] > t)
                    out["drafts"] = [{
                        "id": d["id"], "mailbox": mbx, "bytes": len(d["raw"]),
                        "attachments": [{"name": a["name"], "size": len(a["data"])}
                                        for a in d["attachments"]],
                        "upload_sessions": [{"name": u["name"], "size": u["size"],
                                             "received": len(u["data"]),
                                             "expired": u["expires"] <= t}
                                            for u in st.graph_upload_sessions.values()
                                            if u["draft"] == d["id"] and u["mailbox"] == mbx]}
                        for mbx, ds in st.graph_drafts.items() for d in ds.values()]
                    self.send_json(200, out)
                elif name == "mailbox_permission":
                    self.send_json(200, {"mailbox_permissions": st.public_mailbox_permissions()})
                elif name == "exchange_app_access":
                    self.send_json(200, {"exchange_app_access": st.public_exchange_app_access()})
                elif name in ("send_as", "graph_send_as"):
                    self.send_json(200, {"send_as": st.public_send_as()})
                elif name == "smtp_policy":
                    self.send_json(200, {"port": st.args.policy_port or None,
                                         "counts": st.counts["smtp_policy"],
                                         "decisions": list(st.policy_decisions)})
                elif name == "tokens":
                    # every token ever issued, for the tests that check none is stored or logged in clear
                    self.send_json(200, {"access_tokens": list(st.access_tokens),
                                         "refresh_tokens": list(st.refresh_tokens),
                                         "device_codes": list(st.device_codes)})
                elif name == "device":
                    want_status = self.query.get("status")
                    want_client = self.query.get("client_id")
                    out = [st.public_device(r) for r in st.device_codes.values()]
                    out = [d for d in out if (not want_status or d["status"] == want_status)
                           and (not want_client or d["client_id"] == want_client)]
                    self.send_json(200, {"device_codes": out, "settings": {
                        k: v for k, v in st.settings.items() if k.startswith("device_code_")}})
                else:
                    self.send_json(404, {"error": "unknown control (GET): %s" % name})
            return
        try:
            body = json.loads(self.raw_body.decode("utf-8") or "{}") if self.raw_body else {}
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
        except ValueError as exc:
            self.send_json(400, {"error": "bad_json", "detail": str(exc)})
            return
        try:
            with st.lock:
                result = self.control_locked(name, body)
        except (ValueError, KeyError, TypeError) as exc:
            self.send_json(400, {"error": "bad_request", "detail": str(exc)})
            return
        if result is None:
            self.send_json(404, {"error": "unknown control: %s" % name})
        else:
            self.note += " control %s" % name
            self.send_json(200, result)

    def control_locked(self, name, b):
        st = self.server.state
        s = st.settings

        def user_of(body, required=False):
            u = (body.get("user") or "").strip().lower()
            if required and not u:
                raise ValueError("'user' is required")
            return u or None

        if name == "register_app":
            return {"ok": True, "app": st.register_app(b)}
        if name == "reset":
            st.reset()
            return {"ok": True}
        if name == "reset_counts":
            st.reset_counts()
            return {"ok": True}
        if name == "inject_error":
            endpoint = b.get("endpoint", "token")
            if endpoint not in ("token", "tokeninfo", "authorize", "devicecode", "graph",
                                "smtp_policy", "google_token"):
                raise ValueError("endpoint must be token, tokeninfo, authorize, devicecode, graph, "
                                 "smtp_policy or google_token")
            inj = {"endpoint": endpoint, "remaining": int(b.get("count", 1))}
            for k in ("grant_type", "aadsts", "status", "error", "message", "hang_seconds",
                      "process_after_hang", "close", "retry_after", "raw_body", "content_type",
                      "path", "method", "code", "action"):
                if b.get(k) is not None:
                    inj[k] = b[k]
            if endpoint == "smtp_policy":
                # The policy service: "action" answers that instead of the decision; "close"
                # (the default) drops the connection without an answer; "hang_seconds" waits
                # first (Postfix gives up after smtpd_policy_service_timeout), then drops it
                # unless "action" or "process_after_hang" (then a late answer).
                if not any(k in inj for k in ("action", "hang_seconds", "close")):
                    inj["close"] = True
            elif not any(k in inj for k in ("aadsts", "status", "hang_seconds", "close", "raw_body",
                                            "code")):
                inj["status"] = 503
            if inj["remaining"] > 0:
                st.injections.append(inj)
            return {"ok": True, "pending": [dict(i) for i in st.injections]}
        if name == "clear_errors":
            st.injections.clear()
            return {"ok": True}
        if name == "google":
            return google_sim.control_post(st, b)
        if name == "google_client":
            return google_sim.control_client(st, b)
        if name == "revoke":
            if b.get("refresh_token"):
                rec = st.refresh_tokens.get(b["refresh_token"])
                if rec and rec["status"] == "active":
                    rec["status"] = "revoked"
                    rec["revoked_at"] = now()
                return {"ok": True, "found": bool(rec)}
            if b.get("access_token"):
                rec = st.access_tokens.get(b["access_token"])
                if rec:
                    rec["revoked"] = True
                return {"ok": True, "found": bool(rec)}
            n_rt, n_at = st.revoke_user(user_of(b, True))
            return {"ok": True, "refresh_tokens": n_rt, "access_tokens": n_at}
        if name == "expire_access_tokens":
            user, t, n = user_of(b), now(), 0
            for rec in st.access_tokens.values():
                if (user is None or rec["user"] == user) and rec["expires"] > t:
                    rec["expires"] = t - 1
                    n += 1
            return {"ok": True, "expired": n}
        if name == "expire_refresh_tokens":
            user, n = user_of(b), 0
            for rec in st.refresh_tokens.values():
                if (user is None or rec["user"] == user) and rec["status"] == "active":
                    rec["status"] = "expired"
                    n += 1
            return {"ok": True, "expired": n}
        if name == "expire_codes":
            n = 0
            for rec in st.codes.values():
                if not rec["redeemed"]:
                    rec["created"] = now() - s["code_lifetime"] - 1
                    n += 1
            return {"ok": True, "expired": n}
        if name == "device":
            # What the user does on /devicelogin, without a browser.
            action = str(b.get("action") or "")
            if action not in ("approve", "decline", "expire"):
                raise ValueError("'action' must be approve, decline or expire")
            if b.get("device_code"):
                rec = st.device_codes.get(str(b["device_code"]))
            elif b.get("user_code"):
                rec = st.find_user_code(b["user_code"])
            elif action == "expire":
                rec = None
            else:
                raise ValueError("'user_code' (or 'device_code') is required")
            if rec is None and (b.get("device_code") or b.get("user_code")):
                raise ValueError("unknown device code")
            t = now()
            if action == "expire":
                recs = [rec] if rec else list(st.device_codes.values())
                n = 0
                for r in recs:
                    if st.device_status(r, t) not in ("expired", "redeemed"):
                        r["expires"] = t - 1
                        n += 1
                return {"ok": True, "expired": n,
                        "device_codes": [st.public_device(r) for r in recs]}
            status = st.device_status(rec, t)
            if status != "pending":
                raise ValueError("device code is %s, not pending" % status)
            user = None
            if action == "approve":
                user = user_of(b, True)
                if not re.fullmatch(r"[^@\s]+@[^@\s]+", user):
                    raise ValueError("'user' must be an email address")
            st.decide_device(rec, user)
            return {"ok": True, "device_code": st.public_device(rec)}
        if name == "revoke_consent":
            st.no_consent.add((user_of(b, True), b.get("client_id") or "*"))
            return {"ok": True}
        if name == "expire_client_secret":
            app = st.apps[b["client_id"]]
            app["secret_expired"] = bool(b.get("expired", True))
            return {"ok": True, "app": st.public_app(app)}
        if name == "set_access_token_lifetime":
            s["access_token_lifetime"] = int(b["seconds"])
            return {"ok": True, "settings": s}
        if name == "auto_consent":
            val = b.get("enabled", b.get("on", b.get("value", True)))
            s["auto_consent"] = bool(val)
            if b.get("account"):
                s["auto_consent_account"] = str(b["account"]).lower()
            return {"ok": True, "settings": s}
        if name == "settings":
            for k, v in b.items():
                if k not in s:
                    raise ValueError("unknown setting %r (known: %s)" % (k, ", ".join(s)))
                s[k] = type(s[k])(v) if not isinstance(s[k], bool) else bool(v)
            return {"ok": True, "settings": s}
        if name == "issue_tokens":
            app = st.apps.get(b.get("client_id", ""))
            if app is None:
                raise ValueError("unknown client_id")
            scopes = parse_scope_param(b.get("scope") or
                                       "https://outlook.office.com/IMAP.AccessAsUser.All "
                                       "https://outlook.office.com/SMTP.Send offline_access openid")
            resource = validate_scopes(scopes, "common")
            return st.issue(app, user_of(b, True), scopes, resource)
        if name == "app_certificate":
            # Certificates & secrets -> Certificates -> Upload (public part only).
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes, serialization
            app = st.apps.get(str(b.get("client_id") or ""))
            if app is None:
                raise ValueError("unknown client_id")
            cert = x509.load_pem_x509_certificate(str(b.get("certificate") or "").encode())
            der = cert.public_bytes(serialization.Encoding.DER)
            s256 = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
            sha1 = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).rstrip(b"=").decode()
            certs = app.setdefault("certificates", {})
            certs[s256] = certs[sha1] = cert.public_key()
            return {"ok": True, "x5t#S256": s256}
        if name == "app_access":
            grant_app_mailbox(st.app_mailboxes, b, b.get("allowed", True), keep_empty=True)
            return {"ok": True, "app_mailboxes": {c: sorted(a) for c, a in st.app_mailboxes.items()}}
        if name == "mailbox_permission":
            # Exchange: Add-MailboxPermission -Identity mailbox -User user -AccessRights FullAccess
            # (grant false: Remove-MailboxPermission).  The user's own token then logs in to
            # IMAP/SMTP with the mailbox as SASL user (a shared mailbox, or a delegate's).
            mailbox = str(b.get("mailbox") or "").strip().lower()
            user = user_of(b, True)
            if "@" not in mailbox or "@" not in user:
                raise ValueError("'mailbox' and 'user' (addresses) are required")
            rights = b.get("rights", ["FullAccess"])
            if isinstance(rights, str):
                rights = [rights]
            if not isinstance(rights, list) or not rights:
                raise ValueError("'rights' must be a non-empty list, e.g. [\"FullAccess\"]")
            wanted = set()
            for r in rights:
                known = MAILBOX_RIGHTS.get(str(r).strip().lower())
                if known is None:
                    raise ValueError("unknown right %r (known: %s)" % (
                        r, ", ".join(MAILBOX_RIGHTS.values())))
                wanted.add(known)
            users = st.mailbox_permissions.setdefault(mailbox, {})
            have = users.setdefault(user, set())
            if b.get("grant", True):
                have |= wanted
            else:
                have -= wanted
            if not have:
                del users[user]
            if not users:
                del st.mailbox_permissions[mailbox]
            return {"ok": True, "mailbox_permissions": st.public_mailbox_permissions()}
        if name == "exchange_app_access":
            # Exchange: New-ServicePrincipal + Add-MailboxPermission for the app (grant false:
            # Remove-MailboxPermission).  Its client-credentials tokens for
            # https://outlook.office365.com/.default then log in to IMAP/SMTP as that mailbox
            # (and only the granted ones: no grant, no mailbox).
            grant_app_mailbox(st.exchange_app_mailboxes, b, b.get("grant", b.get("allowed", True)), keep_empty=False)
            return {"ok": True, "exchange_app_access": st.public_exchange_app_access()}
        if name in ("send_as", "graph_send_as"):
            # Exchange: Add-RecipientPermission -Identity address -Trustee user -AccessRights
            # SendAs (grant false: Remove-RecipientPermission).  One right for both protocols:
            # Graph sendMail with that From (and Graph access to users/{address}), and SMTP
            # submission with that envelope sender after a token login as user (policy service).
            # graph_send_as: the earlier name, kept as an alias.
            user = user_of(b, True)
            addr = str(b.get("address") or "").strip().lower()
            if "@" not in addr:
                raise ValueError("'address' is required")
            granted = st.send_as.setdefault(user, set())
            if b.get("grant", b.get("allowed", True)):
                granted.add(addr)
            else:
                granted.discard(addr)
            return {"ok": True, "send_as": st.public_send_as()}
        return None

    def state_summary(self):
        st = self.server.state
        users = {}
        for rec in st.refresh_tokens.values():
            u = users.setdefault(rec["user"], {"refresh_tokens": {}, "access_tokens_valid": 0})
            u["refresh_tokens"][rec["status"]] = u["refresh_tokens"].get(rec["status"], 0) + 1
        t = now()
        for rec in st.access_tokens.values():
            if rec["user"] is None:
                continue
            u = users.setdefault(rec["user"], {"refresh_tokens": {}, "access_tokens_valid": 0})
            if not rec["revoked"] and rec["expires"] > t:
                u["access_tokens_valid"] += 1
        return {
            "tenant_id": st.args.tenant_id,
            "apps": [st.public_app(a) for a in st.apps.values()],
            "settings": st.settings,
            "users": users,
            "pending_injections": st.injections,
            "outstanding_codes": sum(1 for c in st.codes.values() if not c["redeemed"]),
            "device_codes": {k: sum(1 for r in st.device_codes.values()
                                    if st.device_status(r) == k)
                             for k in ("pending", "approved", "declined", "expired", "redeemed")},
            "counts": st.counts,
            "mailbox_permissions": st.public_mailbox_permissions(),
            "exchange_app_access": st.public_exchange_app_access(),
            "send_as": st.public_send_as(),
        }


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>%(title)s</title>
<style>body{font-family:Segoe UI,Arial,sans-serif;max-width:440px;margin:40px auto;padding:24px;
border:1px solid #ddd}button{padding:6px 20px;margin-right:8px}.error{color:#a00}</style>
</head><body><div class="brand">Microsoft (simulated)</div>%(body)s</body></html>
"""


class Listener:
    """What the simulator's listeners share (placed first among the bases): a thread per
    connection, the one state, and the one log file written under the state's lock."""
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def log(self, line):
        with self.state.lock:
            self.logf.write(line)
            self.logf.flush()


class Server(Listener, ThreadingHTTPServer):
    def __init__(self, addr, state, logf, is_https=False):
        super().__init__(addr, Handler)
        self.state = state
        self.logf = logf
        self.is_https = is_https


class PolicyHandler(socketserver.StreamRequestHandler):
    """Postfix SMTPD policy delegation (SMTPD_POLICY_README): "name=value" lines, an empty line
    ends a request, the answer is "action=..." and an empty line.  smtpd keeps the connection
    for further requests (smtpd_policy_service_max_idle, 300 s, then it closes it)."""
    timeout = 600       # an idle connection Postfix forgot about goes away eventually
    MAX_LINE = 65536

    def handle(self):
        while True:
            attrs = {}
            while True:
                try:
                    line = self.rfile.readline(self.MAX_LINE)
                except OSError:
                    return
                if not line.endswith(b"\n"):
                    return          # EOF (or an over-long line): Postfix closed or misbehaves
                line = line.rstrip(b"\r\n")
                if not line:
                    break
                name, sep, value = line.decode("utf-8", "replace").partition("=")
                if sep:
                    attrs[name] = value
            if not attrs:
                continue
            action = self.decide(attrs)
            if action is None:
                return          # injected: connection dropped without an answer
            try:
                self.wfile.write(("action=%s\n\n" % action).encode("utf-8"))
                self.wfile.flush()
            except OSError:
                return

    def decide(self, attrs):
        srv = self.server
        st = srv.state
        t0 = time.monotonic()
        with st.lock:
            inj = st.take_injection("smtp_policy")
        note = ""
        if inj:
            note = " injected%s" % json.dumps({k: v for k, v in inj.items() if k != "remaining"})
            hang = float(inj.get("hang_seconds") or 0)
            if hang > 0:
                time.sleep(hang)
        with st.lock:
            action, reason = st.smtp_send_as_decision(attrs)
            if inj and inj.get("action"):
                action, reason = str(inj["action"]), "injected"
            elif inj and (inj.get("close") or (inj.get("hang_seconds") and
                                               not inj.get("process_after_hang"))):
                action, reason = None, "connection dropped"
            c = st.counts["smtp_policy"]
            c["requests"] += 1
            if action is None:
                c["dropped"] += 1
            elif action == "DUNNO":
                c["allowed"] += 1
            else:
                c["refused"] += 1
            st.policy_decisions.append({
                "time": graph_iso(now()), "state": attrs.get("protocol_state", ""),
                "sasl_method": attrs.get("sasl_method", ""),
                "sasl_username": attrs.get("sasl_username", ""),
                "sender": attrs.get("sender", ""), "recipient": attrs.get("recipient", ""),
                "action": action, "reason": reason})
        # Nothing secret in a policy request (no passwords, no tokens): the attributes that
        # decide, and the answer.
        srv.log("%s %s POLICY %s sasl_method=%s sasl_username=%s sender=<%s>%s -> %s (%s)%s (%d ms)\n" % (
            ms_timestamp(), self.client_address[0], attrs.get("protocol_state", "?"),
            attrs.get("sasl_method", ""), attrs.get("sasl_username", ""), attrs.get("sender", ""),
            (" recipient=<%s>" % attrs["recipient"]) if attrs.get("recipient") else "",
            action if action is not None else "no answer", reason, note,
            (time.monotonic() - t0) * 1000))
        return action


class PolicyServer(Listener, socketserver.ThreadingTCPServer):
    def __init__(self, addr, state, logf):
        super().__init__(addr, PolicyHandler)
        self.state = state
        self.logf = logf


def serve_https(https, args):
    deadline = time.monotonic() + 30
    while not (os.path.exists(args.cert) and os.path.exists(args.key)):
        if time.monotonic() > deadline:
            https.log("%s https disabled: no certificate at %s\n" % (ms_timestamp(), args.cert))
            return
        time.sleep(0.02)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    https.socket = ctx.wrap_socket(https.socket, server_side=True, do_handshake_on_connect=False)
    https.serve_forever()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=10080)
    ap.add_argument("--https-port", type=int, default=0, help="also serve HTTPS (needs --cert/--key)")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--log-file", help="request log (default: stderr)")
    ap.add_argument("--pid-file")
    ap.add_argument("--tenant-id", default=DEFAULT_TENANT_ID)
    ap.add_argument("--access-token-length", type=int, default=1200)
    ap.add_argument("--client-id", help="pre-register a demo app with this client id")
    ap.add_argument("--client-secret", default=os.environ.get("IDP_DEMO_CLIENT_SECRET") or None,
                    help="demo app secret (default $IDP_DEMO_CLIENT_SECRET; none: public client)")
    ap.add_argument("--redirect-uri", help="demo app redirect URI")
    ap.add_argument("--app-tenant", default="multi", choices=("single", "multi"))
    ap.add_argument("--app-name", default="Juniper (test)")
    ap.add_argument("--lmtp-socket", help="Graph sendMail delivers here (default: the "
                    "directory of --pid-file + /lmtp, i.e. the stack's DIR/run/lmtp)")
    ap.add_argument("--imaps-port", type=int, help="Graph reads mailboxes over this IMAPS port "
                    "(default: --https-port - 443 + 993, the stack's IMAPS_PORT)")
    ap.add_argument("--ca-file", help="CA for the IMAPS certificate (default: ca.crt next to --cert)")
    ap.add_argument("--policy-port", type=int, default=0,
                    help="also serve Postfix's policy delegation protocol on this port (Exchange's "
                    "rule for the envelope sender of token logins, 550 5.7.60; 0: off)")
    google_sim.add_arguments(ap)
    args = ap.parse_args()
    if not args.lmtp_socket and args.pid_file:
        args.lmtp_socket = os.path.join(os.path.dirname(os.path.abspath(args.pid_file)), "lmtp")
    if not args.imaps_port and args.https_port:
        args.imaps_port = args.https_port - 443 + 993
    if not args.ca_file and args.cert:
        args.ca_file = os.path.join(os.path.dirname(os.path.abspath(args.cert)), "ca.crt")
    args.tenant_id = args.tenant_id.lower()

    try:
        os.setsid()
    except OSError:
        pass
    logf = open(args.log_file, "a", encoding="utf-8") if args.log_file else sys.stderr
    state = State(args)
    httpd = Server((args.host, args.port), state, logf)
    servers = [httpd]
    if args.https_port:
        # Bound now (port reserved); serving starts once the certificate exists, since
        # start.sh spawns the IdP first and makes the certificate meanwhile.
        https = Server((args.host, args.https_port), state, logf, is_https=True)
        servers.append(https)
    policy = PolicyServer((args.host, args.policy_port), state, logf) if args.policy_port else None
    if args.pid_file:
        with open(args.pid_file + ".tmp", "w") as fh:
            fh.write("%d\n" % os.getpid())
        os.replace(args.pid_file + ".tmp", args.pid_file)
    logf.write("%s idp listening on %s\n" % (ms_timestamp(), ", ".join(
        ["%s://%s:%d" % ("https" if s.is_https else "http", *s.server_address[:2]) for s in servers] +
        (["policy %s:%d" % policy.server_address[:2]] if policy else []))))
    logf.flush()
    if policy:
        threading.Thread(target=policy.serve_forever, daemon=True).start()
    if args.https_port:
        threading.Thread(target=serve_https, args=(servers[1], args), daemon=True).start()
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
