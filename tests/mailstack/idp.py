#!/usr/bin/python3
"""Simulated Microsoft identity platform (v2.0 endpoints) for Juniper's mail tests.

Standard library only.  Speaks:
  GET|POST /{tenant}/oauth2/v2.0/authorize   authorization code flow (+PKCE), consent page
  POST     /{tenant}/oauth2/v2.0/consent     consent page form target (Accept / Cancel)
  POST     /{tenant}/oauth2/v2.0/token       authorization_code, refresh_token (rotating),
                                             client_credentials
  GET      /{tenant}/v2.0/.well-known/openid-configuration
  GET      /tokeninfo?access_token=T         for Dovecot's oauth2 passdb (200 valid / 401)
  GET|POST /_control/...                     test controls (see README.md)

All state is in memory, guarded by one lock.  Tokens are opaque random strings.
Requests are logged (one line each) without secrets; tokens/codes show 4 chars + "...".
"""

import argparse
import base64
import datetime
import hashlib
import html
import json
import os
import re
import secrets
import ssl
import string
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_TENANT_ID = "4a1c9e2d-7b3f-4c8a-9d5e-6f0a1b2c3d4e"
DEFAULT_TENANT_DOMAINS = ("example.com", "example.onmicrosoft.com")
MULTI_TENANT_ALIASES = ("common", "organizations", "consumers")
OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
KNOWN_RESOURCES = ("https://outlook.office.com", "https://outlook.office365.com",
                   "https://graph.microsoft.com")
GRAPH = "https://graph.microsoft.com"

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
              "client_assertion", "token"}
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


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


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
        self.settings = {
            "access_token_lifetime": 3600,
            "code_lifetime": 600,
            "refresh_token_inactivity": 90 * 86400,
            "access_token_length": self.args.access_token_length,
            "refresh_token_length": 600,
            "auto_consent": False,
            "auto_consent_account": "user@example.com",
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
                      "client_credentials": 0, "other": 0},
            "token_errors": 0,
            "authorize": 0,
            "consent_shown": 0,
            "consent_accepted": 0,
            "consent_declined": 0,
            "tokeninfo": 0,
            "tokeninfo_valid": 0,
            "tokeninfo_invalid": 0,
            "injected": 0,
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
        }
        self.apps[client_id] = app
        return self.public_app(app)

    @staticmethod
    def public_app(app):
        out = {k: v for k, v in app.items() if k != "client_secret"}
        out["confidential"] = bool(app["client_secret"])
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
    def take_injection(self, endpoint, grant_type=None):
        for inj in self.injections:
            if inj["endpoint"] != endpoint:
                continue
            if inj.get("grant_type") and inj["grant_type"] != grant_type:
                continue
            inj["remaining"] -= 1
            if inj["remaining"] <= 0:
                self.injections.remove(inj)
            self.counts["injected"] += 1
            return dict(inj)
        return None

    # -- tokens --------------------------------------------------------------
    def issue(self, app, user, scopes, resource, nonce=None, grant_issued=None, family=None,
              tenant_id=None):
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

    def gc(self):
        t = now()
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


class Handler(BaseHTTPRequestHandler):
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

    def _dispatch(self, method):
        self.t0 = time.monotonic()
        self.status = None
        self.note = ""
        url = urllib.parse.urlsplit(self.path)
        self.query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        self.raw_body = self.rfile.read(length) if length > 0 else b""
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
                self.tokeninfo()
            elif parts[:1] == ["_control"]:
                self.control(method, "/".join(parts[1:]))
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
                else:
                    self.send_json(404, {"error": "not_found"})
            elif len(parts) == 4 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
                self.discovery(parts[0])
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
    def tokeninfo(self):
        st = self.server.state
        token = self.query.get("access_token")
        auth = self.headers.get("Authorization") or ""
        if not token and auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        with st.lock:
            st.counts["tokeninfo"] += 1
            inj = st.take_injection("tokeninfo")
        if inj and self.apply_injection(inj, tokeninfo=True):
            return
        with st.lock:
            rec = st.access_tokens.get(token or "")
            t = now()
            why = None
            if rec is None:
                why = "unknown token"
            elif rec["revoked"]:
                why = "revoked"
            elif rec["expires"] <= t:
                why = "expired"
            elif rec["user"] is None:
                why = "app-only token has no user"
            if why:
                st.counts["tokeninfo_invalid"] += 1
            else:
                st.counts["tokeninfo_valid"] += 1
                info = {
                    "email": rec["user"],
                    "upn": rec["user"],
                    "active": "true",
                    "expires_in": max(1, int(rec["expires"] - t)),
                    "scope": " ".join(rec["scopes"]),
                    "client_id": rec["client_id"],
                    "aud": rec["resource"] or GRAPH,
                }
        if why:
            self.note += " invalid (%s)" % why
            self.send_json(401, {"error": "invalid_token", "error_description": why,
                                 "active": "false"},
                           {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        else:
            self.note += " valid %s" % info["email"]
            self.send_json(200, info)

    # ---------------------------------------------------------------- injections
    def apply_injection(self, inj, tokeninfo=False):
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
            self.send_json(status, {"error": "injected", "status": status}, self.retry_after(inj))
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
            if req is None or now() - req["created"] > st.settings["code_lifetime"]:
                self.send_html(400, PAGE % {"title": "Sign in to your account", "body":
                               "<h1>This sign-in request is no longer valid.</h1><p>Start the "
                               "sign-in again from the application.</p>"})
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

    # ---------------------------------------------------------------- token
    def token(self, tenant):
        st = self.server.state
        f = self.form
        grant = f.get("grant_type")
        with st.lock:
            st.counts["token"]["total"] += 1
            key = grant if grant in ("authorization_code", "refresh_token",
                                     "client_credentials") else "other"
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
        if grant not in ("authorization_code", "refresh_token", "client_credentials"):
            raise AadError(70003, grant_type=grant)
        if secret:
            if not app["client_secret"]:
                raise AadError(700025)
            if not secrets.compare_digest(secret.encode(), app["client_secret"].encode()):
                raise AadError(7000215, client_id=client_id)
            if app["secret_expired"]:
                raise AadError(7000222, client_id=client_id)
        elif app["client_secret"]:
            raise AadError(7000218)
        self.note += " client=%s" % client_id
        tenant_id = app["tenant_id"]
        if grant == "authorization_code":
            return self.grant_code(app, tenant_id)
        if grant == "refresh_token":
            return self.grant_refresh(app, tenant, tenant_id)
        return self.grant_client_credentials(app, tenant, tenant_id)

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
                        family=rec["family"], tenant_id=rec["tenant_id"])
        return resp

    def grant_client_credentials(self, app, tenant, tenant_id):
        st = self.server.state
        if not app["client_secret"]:
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
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "code_challenge_methods_supported": ["S256", "plain"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
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
                elif name == "tokens":
                    # every token ever issued, for the tests that check none is stored or logged in clear
                    self.send_json(200, {"access_tokens": list(st.access_tokens),
                                         "refresh_tokens": list(st.refresh_tokens)})
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
            if endpoint not in ("token", "tokeninfo", "authorize"):
                raise ValueError("endpoint must be token, tokeninfo or authorize")
            inj = {"endpoint": endpoint, "remaining": int(b.get("count", 1))}
            for k in ("grant_type", "aadsts", "status", "error", "message", "hang_seconds",
                      "process_after_hang", "close", "retry_after", "raw_body", "content_type"):
                if b.get(k) is not None:
                    inj[k] = b[k]
            if not any(k in inj for k in ("aadsts", "status", "hang_seconds", "close", "raw_body")):
                inj["status"] = 503
            if inj["remaining"] > 0:
                st.injections.append(inj)
            return {"ok": True, "pending": [dict(i) for i in st.injections]}
        if name == "clear_errors":
            st.injections.clear()
            return {"ok": True}
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
            "counts": st.counts,
        }


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>%(title)s</title>
<style>body{font-family:Segoe UI,Arial,sans-serif;max-width:440px;margin:40px auto;padding:24px;
border:1px solid #ddd}button{padding:6px 20px;margin-right:8px}.error{color:#a00}</style>
</head><body><div class="brand">Microsoft (simulated)</div>%(body)s</body></html>
"""


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, state, logf, is_https=False):
        super().__init__(addr, Handler)
        self.state = state
        self.logf = logf
        self.is_https = is_https

    def log(self, line):
        with self.state.lock:
            self.logf.write(line)
            self.logf.flush()


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
    args = ap.parse_args()
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
    if args.pid_file:
        with open(args.pid_file + ".tmp", "w") as fh:
            fh.write("%d\n" % os.getpid())
        os.replace(args.pid_file + ".tmp", args.pid_file)
    logf.write("%s idp listening on %s\n" % (ms_timestamp(), ", ".join(
        "%s://%s:%d" % ("https" if s.is_https else "http", *s.server_address[:2]) for s in servers)))
    logf.flush()
    if args.https_port:
        threading.Thread(target=serve_https, args=(servers[1], args), daemon=True).start()
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
