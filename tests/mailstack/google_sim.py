"""Simulated Google OAuth 2.0 for Gmail, served by idp.py's process (standard library only).

Google's endpoints, under one base URL (start.sh writes GOOGLE_URL=$IDP_URL/google/):
  GET  /google/o/oauth2/v2/auth   accounts.google.com/o/oauth2/v2/auth (POST too): checks, then one page
                                  ("Sign in - Google Accounts": "Email or phone", Allow / Cancel)
  POST /google/consent            that page's form: Allow -> 302 redirect_uri?state&code&scope...,
                                  Cancel -> 302 redirect_uri?error=access_denied&state
  POST /google/token              oauth2.googleapis.com/token: authorization_code (+PKCE),
                                  refresh_token (no rotation unless switched on by control)
  POST /google/revoke             oauth2.googleapis.com/revoke: token=access or refresh token
Controls (idp.py routes them here): GET|POST /_control/google, POST /_control/google_client.

Tokens share idp.py's State: codes in State.codes, access tokens in State.access_tokens, refresh
tokens in State.refresh_tokens, each marked "issuer": "google".  So /tokeninfo (Dovecot's check
for IMAP and SMTP submission) and the generic controls (revoke, expire_*, tokens, reset) see them;
State.mailbox_access hands Google tokens to mailbox_access() below: a Google token opens its own
mailbox only, and only with the https://mail.google.com/ scope (what Gmail's IMAP/SMTP demand).
The Microsoft endpoints refuse Google codes and refresh tokens (other client ids), and Graph
refuses Google access tokens (their audience is not Graph).

Error bodies and pages use Google's wording where it is known (see README.md, "Simulated Google
OAuth 2.0"); secrets never reach the log (idp.py redacts client_secret, code, tokens).
"""

import base64
import hashlib
import html
import json
import re
import secrets
import string
import time
import urllib.parse

ISSUER = "google"
MAIL_SCOPE = "https://mail.google.com/"
API_AUDIENCE = "https://www.googleapis.com/"     # the "resource" of Google tokens (never Graph)
GOOGLE_AUTH_SCOPES = "https://www.googleapis.com/auth/"
LOOPBACK_HOSTS = ("localhost", "127.0.0.1")
DEFAULT_REDIRECT_URI = "http://localhost/google_gmail/confirm"
TOKEN_CHARS = string.ascii_letters + string.digits + "-_"
UNSUPPORTED_GRANT = "Invalid grant_type: %s"
EXPIRED_OR_REVOKED = "Token has been expired or revoked."
VERIFIER_RE = re.compile(r"[A-Za-z0-9._~-]{43,128}")
ADDRESS_RE = re.compile(r"[^@\s]+@[^@\s]+")      # the Microsoft consent's rule for an account

# Google normalises the OpenID Connect short names in what it grants (the token's "scope").
SCOPE_ALIASES = {
    "email": GOOGLE_AUTH_SCOPES + "userinfo.email",
    "profile": GOOGLE_AUTH_SCOPES + "userinfo.profile",
}
# What the consent screen says for a scope (Google's texts for the common ones).
SCOPE_WORDS = {
    MAIL_SCOPE: "Read, compose, send, and permanently delete all your email from Gmail",
    GOOGLE_AUTH_SCOPES + "gmail.readonly": "View your email messages and settings",
    GOOGLE_AUTH_SCOPES + "gmail.send": "Send email on your behalf",
    GOOGLE_AUTH_SCOPES + "gmail.modify": "Read, compose, and send emails from your Gmail account",
    GOOGLE_AUTH_SCOPES + "userinfo.email": "See your primary Google Account email address",
    GOOGLE_AUTH_SCOPES + "userinfo.profile":
        "See your personal info, including any personal info you've made publicly available",
    "openid": "Associate you with your personal info on Google",
}

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>%(title)s</title>
<style>body{font-family:Roboto,Arial,sans-serif;max-width:450px;margin:40px auto;padding:24px 40px;
border:1px solid #dadce0;border-radius:8px}button{padding:8px 22px;margin-right:8px}
.error{color:#d93025}</style>
</head><body><div class="brand">Google (simulated)</div>%(body)s</body></html>
"""


def text(value):
    """HTML-escape element text, keeping apostrophes as typed ("Couldn't find ...")."""
    return html.escape(str(value), quote=False)


def rand_token(prefix, length):
    return prefix + "".join(secrets.choice(TOKEN_CHARS) for _ in range(length))


def pkce_s256(verifier):
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def b64url_json(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode("ascii")


# ---------------------------------------------------------------------- state
def add_arguments(ap):
    """idp.py's command line: the pre-registered Google OAuth client (start.sh's DEMO_GOOGLE_*)."""
    import os
    ap.add_argument("--google-client-id", help="pre-register a Google OAuth client with this id")
    ap.add_argument("--google-client-secret",
                    default=os.environ.get("IDP_GOOGLE_CLIENT_SECRET") or None,
                    help="its secret (default $IDP_GOOGLE_CLIENT_SECRET)")
    ap.add_argument("--google-redirect-uri", default=DEFAULT_REDIRECT_URI,
                    help="its registered redirect URI (besides %s; http loopback URIs match on "
                         "any port)" % DEFAULT_REDIRECT_URI)


def new_counts():
    return {
        "authorize": 0, "consent_shown": 0, "consent_accepted": 0, "consent_declined": 0,
        "token": {"total": 0, "authorization_code": 0, "refresh_token": 0, "other": 0},
        "token_errors": 0, "revoke": 0,
    }


class GoogleState:
    """Google's own part of the simulator's state (State.google); tokens live in State."""

    def __init__(self, args):
        self.clients = {}
        self.pending = {}          # consent page id -> the checked authorization request
        self.settings = {
            "access_token_lifetime": 3599,   # Google answers expires_in 3599
            "pkce_plain": False,             # real Google also accepts plain (see README)
            "auto_consent": False,           # auth answers the Allow redirect at once
            "auto_consent_account": "user@example.com",
        }
        client_id = getattr(args, "google_client_id", None)
        if client_id:
            uris = [getattr(args, "google_redirect_uri", None) or DEFAULT_REDIRECT_URI,
                    DEFAULT_REDIRECT_URI]
            self.register_client({
                "client_id": client_id,
                "client_secret": getattr(args, "google_client_secret", None),
                "redirect_uris": list(dict.fromkeys(uris)),
                "name": getattr(args, "app_name", None) or "Juniper (test)",
            })

    def register_client(self, body):
        client_id = str(body.get("client_id") or "").strip()
        if not client_id:
            raise ValueError("'client_id' is required")
        uris = body.get("redirect_uris", body.get("redirect_uri")) or [DEFAULT_REDIRECT_URI]
        if isinstance(uris, str):
            uris = [uris]
        self.clients[client_id] = {
            "client_id": client_id,
            "client_secret": body.get("client_secret") or None,
            "redirect_uris": [str(u) for u in uris],
            "name": str(body.get("name") or "Test application"),
            "rotate_refresh_tokens": bool(body.get("rotate_refresh_tokens", False)),
        }
        return self.public_client(self.clients[client_id])

    @staticmethod
    def public_client(client):
        out = {k: v for k, v in client.items() if k != "client_secret"}
        out["has_secret"] = bool(client["client_secret"])
        return out

    def gc(self, t):
        for rid in [k for k, v in self.pending.items() if t - v["created"] > 3600]:
            del self.pending[rid]


def mailbox_access(rec, mailbox):
    """State.mailbox_access for a Google access token: Gmail's IMAP and SMTP take a token for
    the account that consented only (no delegation or shared mailboxes as in Exchange), and only
    when it carries https://mail.google.com/ (the scope Google requires for IMAP/SMTP)."""
    user = (rec["user"] or "").lower()
    if user != mailbox.lower():
        return None, "Google token of %s, not of %s" % (user, mailbox.lower())
    if MAIL_SCOPE not in rec["scopes"]:
        return None, "Google token without the %s scope" % MAIL_SCOPE
    return "own", None


def redirect_registered(client, uri):
    """Exact match with a registered URI; an http loopback URI (localhost or 127.0.0.1) also
    matches a registered loopback URI with the same path on any port (tests pick free ports at
    run time, as Google's loopback flow for installed apps allows)."""
    if uri in client["redirect_uris"]:
        return True
    given = urllib.parse.urlsplit(uri)
    if given.scheme != "http" or given.hostname not in LOOPBACK_HOSTS:
        return False
    for reg in client["redirect_uris"]:
        r = urllib.parse.urlsplit(reg)
        if (r.scheme == "http" and r.hostname in LOOPBACK_HOSTS
                and (r.path or "/") == (given.path or "/") and r.query == given.query):
            return True
    return False


# ---------------------------------------------------------------------- dispatch
def dispatch(h, method, parts):
    """/google/<parts...> from idp.py's Handler (h)."""
    path = "/".join(parts)
    if path == "o/oauth2/v2/auth" and method in ("GET", "POST"):
        authorize(h, h.form if method == "POST" else h.query)
    elif path == "consent" and method == "POST":
        consent(h)
    elif path == "token":
        if method != "POST":
            send_json(h, 405, {"error": "invalid_request",
                               "error_description": "Invalid request method: %s" % method})
        else:
            token(h)
    elif path == "revoke" and method == "POST":
        revoke(h)
    else:
        h.send_html(404, PAGE % {"title": "Error 404 (Not Found)",
                                 "body": "<p><b>404.</b> That's an error.</p><p>The requested URL "
                                         "was not found on this server.</p>"})


def send_json(h, status, obj, headers=None):
    # Google's token endpoint answers indented JSON
    h.send_body(status, (json.dumps(obj, indent=2) + "\n").encode(),
                "application/json; charset=utf-8", headers)


# ---------------------------------------------------------------------- authorization
class AuthPageError(Exception):
    """An authorization request refused with Google's error page (never a redirect)."""

    def __init__(self, status, error, detail):
        super().__init__(error)
        self.status, self.error, self.detail = status, error, detail


def error_page(h, err, params):
    h.note += " google page %s" % err.error
    details = "".join("<li>%s=%s</li>" % (text(k), text(v)) for k, v in params.items()
                      if k in ("client_id", "redirect_uri", "response_type", "scope",
                               "access_type", "prompt", "code_challenge_method", "login_hint",
                               "state"))
    body = ('<h1>Access blocked: Authorization Error</h1><p id="detail">%s</p>'
            '<p id="error">Error %d: %s</p><p>Request details:</p><ul>%s</ul>'
            % (text(err.detail), err.status, text(err.error), details))
    h.send_html(err.status, PAGE % {"title": "Sign in - Google Accounts", "body": body})


def normalise_scopes(raw):
    out = []
    for s in (raw or "").split():
        s = SCOPE_ALIASES.get(s, s)
        if s not in out:
            out.append(s)
    return out


def check_auth_request(gs, p):
    """The checks of accounts.google.com/o/oauth2/v2/auth, in Google's order: client, redirect
    URI (both can only be shown as a page), then the other parameters.  Returns the request to
    keep with the consent page; raises AuthPageError."""
    client_id = p.get("client_id", "")
    if not client_id:
        raise AuthPageError(400, "invalid_request", "Missing required parameter: client_id")
    client = gs.clients.get(client_id)
    if client is None:
        raise AuthPageError(401, "invalid_client", "The OAuth client was not found.")
    redirect_uri = p.get("redirect_uri", "")
    if not redirect_uri:
        raise AuthPageError(400, "invalid_request", "Missing required parameter: redirect_uri")
    if not redirect_registered(client, redirect_uri):
        raise AuthPageError(400, "redirect_uri_mismatch",
                            "You can't sign in to this app because it doesn't comply with "
                            "Google's OAuth 2.0 policy. If you're the app developer, register "
                            "the redirect URI in the Google Cloud Console. Request details: "
                            "redirect_uri=%s" % redirect_uri)
    rtype = p.get("response_type", "")
    if not rtype:
        raise AuthPageError(400, "invalid_request", "Required parameter is missing: response_type")
    if rtype != "code":
        raise AuthPageError(400, "invalid_request", "Invalid response_type: %s" % rtype)
    scopes = normalise_scopes(p.get("scope"))
    if not scopes:
        raise AuthPageError(400, "invalid_request", "Missing required parameter: scope")
    invalid = [s for s in scopes if s not in (MAIL_SCOPE, "openid")
               and not s.startswith(GOOGLE_AUTH_SCOPES)]
    if invalid:
        valid = [s for s in scopes if s not in invalid]
        raise AuthPageError(400, "invalid_scope", "Some requested scopes were invalid. "
                            "{valid=[%s], invalid=[%s]}" % (", ".join(valid), ", ".join(invalid)))
    access_type = p.get("access_type") or "online"
    if access_type not in ("online", "offline"):
        raise AuthPageError(400, "invalid_request", "Invalid access_type: %s" % access_type)
    prompt = (p.get("prompt") or "").split()
    if any(x not in ("none", "consent", "select_account") for x in prompt):
        raise AuthPageError(400, "invalid_request", "Invalid prompt: %s" % p.get("prompt"))
    challenge = p.get("code_challenge") or None
    method = p.get("code_challenge_method") or None
    if challenge:
        # Google defaults to plain; this simulator wants S256 unless the control allows plain,
        # so that a client sending anything weaker is caught in tests.
        method = method or "plain"
        allowed = ("S256", "plain") if gs.settings["pkce_plain"] else ("S256",)
        if method not in allowed:
            raise AuthPageError(400, "invalid_request",
                                "Invalid code_challenge_method: %s" % method)
        if not VERIFIER_RE.fullmatch(challenge):
            raise AuthPageError(400, "invalid_request", "Invalid code_challenge: %s" % challenge)
    elif method:
        raise AuthPageError(400, "invalid_request", "Missing required parameter: code_challenge")
    return {
        "client_id": client_id, "redirect_uri": redirect_uri, "scopes": scopes,
        "state": p.get("state"), "offline": access_type == "offline",
        "prompt_consent": "consent" in prompt, "challenge": challenge, "method": method,
        "nonce": p.get("nonce"), "login_hint": (p.get("login_hint") or "").strip(),
        "created": time.time(),
    }


def authorize(h, p):
    st = h.server.state
    gs = st.google
    error = location = page = None
    with st.lock:
        st.counts["google"]["authorize"] += 1
        gs.gc(time.time())
        try:
            req = check_auth_request(gs, p)
        except AuthPageError as err:
            error = err
        if error is None and gs.settings["auto_consent"]:
            # no browser: the Allow redirect at once (account = login_hint, else the setting)
            user = (req["login_hint"] or gs.settings["auto_consent_account"]).lower()
            location = allow_redirect(st, req, user)
            h.note += " google auto-consent %s" % user
        elif error is None:
            rid = secrets.token_urlsafe(24)
            gs.pending[rid] = req
            st.counts["google"]["consent_shown"] += 1
            page = consent_page(gs.clients[req["client_id"]], req, rid, req["login_hint"])
            h.note += " google consent page"
    if error is not None:
        error_page(h, error, p)
    elif location is not None:
        h.redirect(location)
    else:
        h.send_html(200, page)


def consent_page(client, req, rid, account, error=None):
    """Google's sign-in ("Email or phone") and consent screen in one page (no JavaScript)."""
    name = text(client["name"])
    items = "".join("<li>%s</li>" % text(SCOPE_WORDS.get(s, s)) for s in req["scopes"])
    err = '<p class="error" id="error">%s</p>' % text(error) if error else ""
    body = (
        '<h1>Sign in</h1><p>to continue to <b id="app-name">%(name)s</b></p>'
        '<form method="post" action="/google/consent">'
        '<input type="hidden" name="request" value="%(rid)s">'
        '<p><label for="identifier">Email or phone</label> <input type="email" id="identifier" '
        'name="identifier" autocomplete="username" value="%(account)s"></p>%(err)s'
        "<h2>%(name)s wants to access your Google Account</h2>"
        '<p>This will allow %(name)s to:</p><ul id="scopes">%(items)s</ul>'
        "<p>Make sure you trust %(name)s. You can see and remove access in your Google "
        "Account.</p>"
        '<button type="submit" name="action" value="cancel" id="cancel">Cancel</button> '
        '<button type="submit" name="action" value="allow" id="allow">Allow</button>'
        "</form>") % {"name": name, "rid": html.escape(rid), "account": html.escape(account),
                      "err": err, "items": items}
    return PAGE % {"title": "Sign in - Google Accounts", "body": body}


def with_params(uri, pairs):
    """uri + query parameters as Google writes them: the code fully percent-encoded ("4%2F0A..."),
    the scope with ':' and '/' left as they are and spaces as %20."""
    q = "&".join("%s=%s" % (k, urllib.parse.quote(v, safe=":/" if k == "scope" else ""))
                 for k, v in pairs)
    return uri + ("&" if "?" in uri else "?") + q


def allow_redirect(st, req, user):
    """A new single-use code for user (state lock held); the Allow redirect's Location."""
    code = rand_token("4/0A", 68)
    st.codes[code] = dict(req, issuer=ISSUER, user=user, redeemed=False, created=time.time())
    pairs = [("state", req["state"])] if req["state"] is not None else []
    # authuser and prompt are what Google appends after a consent screen
    pairs += [("code", code), ("scope", " ".join(req["scopes"])), ("authuser", "0"),
              ("prompt", "consent")]
    return with_params(req["redirect_uri"], pairs)


def consent(h):
    st = h.server.state
    gs = st.google
    f = h.form
    rid = f.get("request", "")
    location = page = None
    with st.lock:
        req = gs.pending.get(rid)
        if req is None or time.time() - req["created"] > st.settings["code_lifetime"]:
            status = 400
            page = PAGE % {"title": "Sign in - Google Accounts", "body":
                           "<h1>Something went wrong</h1><p>This sign-in request is no longer "
                           "valid. Start the sign-in again from the application.</p>"}
        elif f.get("action") == "cancel":
            del gs.pending[rid]
            st.counts["google"]["consent_declined"] += 1
            pairs = [("error", "access_denied")]
            if req["state"] is not None:
                pairs.append(("state", req["state"]))
            location = with_params(req["redirect_uri"], pairs)
            h.note += " google declined"
        elif f.get("action") != "allow":
            status, page = 400, PAGE % {"title": "Error", "body": "<p>Unknown action.</p>"}
        else:
            account = (f.get("identifier") or f.get("login") or "").strip()
            if not ADDRESS_RE.fullmatch(account):
                # any address is a mailbox of the stack (as for Microsoft accounts); anything
                # else, a phone number included, is no Google Account here
                status = 200
                page = consent_page(gs.clients[req["client_id"]], req, rid, account,
                                    "Couldn't find your Google Account")
                h.note += " google unknown account"
            else:
                del gs.pending[rid]
                st.counts["google"]["consent_accepted"] += 1
                location = allow_redirect(st, req, account.lower())
                h.note += " google allowed %s" % account.lower()
    if location:
        h.redirect(location)
    else:
        h.send_html(status, page)


# ---------------------------------------------------------------------- token endpoint
class TokenError(Exception):
    def __init__(self, status, error, description):
        super().__init__(error)
        self.status, self.error, self.description = status, error, description


def grant_error(description="Bad Request"):
    return TokenError(400, "invalid_grant", description)


def missing(param):
    return TokenError(400, "invalid_request", "Missing required parameter: %s" % param)


def token_form(h):
    """The form; Google also takes a JSON body.  Stored in h.form so the log line redacts it."""
    ctype = (h.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if ctype == "application/json" and h.raw_body:
        try:
            body = json.loads(h.raw_body.decode("utf-8"))
            if isinstance(body, dict):
                h.form = {str(k): str(v) for k, v in body.items()}
        except ValueError:
            pass
    return h.form


def token(h):
    st = h.server.state
    f = token_form(h)
    grant = f.get("grant_type", "")
    with st.lock:
        c = st.counts["google"]["token"]
        c["total"] += 1
        c[grant if grant in ("authorization_code", "refresh_token") else "other"] += 1
        inj = st.take_injection("google_token", grant)
    if inj and apply_injection(h, inj):
        return
    try:
        with st.lock:
            st.gc()
            resp = token_locked(h, st, grant)
    except TokenError as err:
        with st.lock:
            st.counts["google"]["token_errors"] += 1
        h.note += " google %s (%s)" % (err.error, err.description)
        send_json(h, err.status, {"error": err.error, "error_description": err.description})
        return
    send_json(h, 200, resp)


def token_locked(h, st, grant):
    if grant not in ("authorization_code", "refresh_token"):
        raise TokenError(400, "unsupported_grant_type", UNSUPPORTED_GRANT % grant)
    client = authenticate_client(h, st.google)
    h.note += " google client=%s" % client["client_id"]
    if grant == "authorization_code":
        return grant_code(h, st, client)
    return grant_refresh(h, st, client)


def authenticate_client(h, gs):
    """client_id + client_secret from the form or HTTP Basic, with Google's answers."""
    client_id, secret = h.client_auth()
    if not client_id:
        raise TokenError(400, "invalid_request", "Could not determine client ID from request.")
    client = gs.clients.get(client_id)
    if client is None:
        raise TokenError(401, "invalid_client", "The OAuth client was not found.")
    if client["client_secret"]:
        if not secret:
            raise TokenError(400, "invalid_request", "client_secret is missing.")
        if not secrets.compare_digest(secret.encode(), client["client_secret"].encode()):
            raise TokenError(401, "invalid_client", "Unauthorized")
    return client


def grant_code(h, st, client):
    f = h.form
    code = f.get("code")
    if not code:
        raise missing("code")
    if not code.startswith("4/"):
        # e.g. a code still percent-encoded ("4%2F0A..."): Google's answer for a code that
        # is not one at all
        raise grant_error("Malformed auth code.")
    rec = st.codes.get(code)
    if (rec is None or rec.get("issuer") != ISSUER or rec["client_id"] != client["client_id"]
            or rec["redeemed"] or time.time() - rec["created"] > st.settings["code_lifetime"]):
        raise grant_error()
    redirect_uri = f.get("redirect_uri")
    if not redirect_uri:
        raise missing("redirect_uri")
    if redirect_uri != rec["redirect_uri"]:
        raise TokenError(400, "redirect_uri_mismatch", "Bad Request")
    check_verifier(rec, f.get("code_verifier"))
    user = rec["user"]
    revoked_at = st.revoked_users.get(user)
    if revoked_at is not None and revoked_at > rec["created"]:
        raise grant_error()       # control revoke {"user"} after the code was issued
    rec["redeemed"] = True
    h.note += " user=%s" % user
    # A refresh token comes with access_type=offline, and then only on the first consent of
    # this user to this client, or when the consent screen was forced (prompt=consent): Google's
    # rule, the reason clients send prompt=consent.
    with_refresh = rec["offline"] and (rec["prompt_consent"]
                                       or not has_offline_grant(st, user, client["client_id"]))
    return issue(st, client, user, rec["scopes"], secrets.token_hex(8), with_refresh,
                 rec.get("nonce"))


def check_verifier(rec, verifier):
    if rec["challenge"] is None:
        if verifier:
            raise grant_error("code_verifier or verifier is not needed.")
        return
    if not verifier:
        raise grant_error("Missing code verifier.")
    computed = pkce_s256(verifier) if rec["method"] == "S256" else verifier
    if not VERIFIER_RE.fullmatch(verifier) or not secrets.compare_digest(computed,
                                                                         rec["challenge"]):
        raise grant_error("Invalid code verifier.")


def has_offline_grant(st, user, client_id):
    return any(r.get("issuer") == ISSUER and r["user"] == user and r["client_id"] == client_id
               and r["status"] == "active" for r in st.refresh_tokens.values())


def grant_refresh(h, st, client):
    rt = h.form.get("refresh_token")
    if not rt:
        raise missing("refresh_token")
    rec = st.refresh_tokens.get(rt)
    if rec is None or rec.get("issuer") != ISSUER:
        raise grant_error(EXPIRED_OR_REVOKED)
    h.note += " user=%s" % rec["user"]
    if rec["status"] != "active":   # revoked, rotated (rotation on) or expired by control
        h.note += " (%s refresh token)" % rec["status"]
        raise grant_error(EXPIRED_OR_REVOKED)
    if rec["client_id"] != client["client_id"]:
        raise TokenError(401, "unauthorized_client", "Unauthorized")
    rec["last_used"] = time.time()
    resp = issue(st, client, rec["user"], rec["scopes"], rec["family"],
                 client["rotate_refresh_tokens"], grant_issued=rec["grant_issued"])
    if client["rotate_refresh_tokens"]:
        rec["status"] = "rotated"
        rec["rotated_at"] = time.time()
    # Google answers a refresh without a new refresh token and without id_token
    resp.pop("id_token", None)
    return resp


def issue(st, client, user, scopes, grant_id, with_refresh, nonce=None, grant_issued=None):
    """Mint Google tokens into State's tables (state lock held); the token response."""
    t = time.time()
    lifetime = int(st.google.settings["access_token_lifetime"])
    at = rand_token("ya29.a0", 214)
    st.access_tokens[at] = {
        "user": user, "client_id": client["client_id"], "scopes": list(scopes),
        "resource": API_AUDIENCE, "issued": t, "expires": t + lifetime, "revoked": False,
        "issuer": ISSUER, "grant": grant_id,
    }
    resp = {"access_token": at, "expires_in": lifetime}
    if with_refresh:
        rt = rand_token("1//0", 99)
        # the fields idp.py's generic controls read (revoke, expire_refresh_tokens, state)
        st.refresh_tokens[rt] = {
            "user": user, "client_id": client["client_id"], "scopes": list(scopes),
            "resource": API_AUDIENCE, "issued": t, "grant_issued": grant_issued or t,
            "last_used": t, "status": "active", "family": grant_id, "tenant_id": None,
            "public_client": False, "issuer": ISSUER,
        }
        resp["refresh_token"] = rt
    resp["scope"] = " ".join(scopes)
    resp["token_type"] = "Bearer"
    if "openid" in scopes:
        resp["id_token"] = id_token(client, user, scopes, nonce, t)
    return resp


def id_token(client, user, scopes, nonce, t):
    """An unsigned ID token (alg none, as the Microsoft side's): claims as Google's."""
    sub = str(int(hashlib.sha256(user.encode()).hexdigest(), 16))[:21]
    claims = {"iss": "https://accounts.google.com", "azp": client["client_id"],
              "aud": client["client_id"], "sub": sub, "iat": int(t), "exp": int(t) + 3600}
    if SCOPE_ALIASES["email"] in scopes:
        claims.update(email=user, email_verified=True)
    if nonce:
        claims["nonce"] = nonce
    return "%s.%s." % (b64url_json({"alg": "none", "typ": "JWT"}), b64url_json(claims))


def apply_injection(h, inj):
    """inject_error {"endpoint":"google_token",...}: the same keys as on the Microsoft token
    endpoint (status, error, message, hang_seconds, process_after_hang, close, retry_after,
    raw_body, content_type), with a Google-shaped JSON error.  True when it answered."""
    h.note += " injected%s" % json.dumps({k: v for k, v in inj.items() if k != "remaining"})
    hang = float(inj.get("hang_seconds") or 0)
    if hang > 0:
        time.sleep(hang)
    headers = h.retry_after(inj)
    if inj.get("raw_body") is not None:
        h.send_body(int(inj.get("status") or 500), str(inj["raw_body"]).encode(),
                    inj.get("content_type") or "text/html; charset=utf-8", headers)
        return True
    status = inj.get("status")
    if status is None:
        if inj.get("close") or (hang > 0 and not inj.get("process_after_hang")):
            h.close_connection = True
            h.note += " (connection dropped)"
            return True
        return False
    status = int(status)
    default = {400: ("invalid_grant", "Bad Request"), 401: ("invalid_client", "Unauthorized"),
               429: ("rate_limit_exceeded", "Rate Limit Exceeded")}.get(
        status, ("internal_failure", "Backend Error") if status >= 500 else ("invalid_request",
                                                                           "Bad Request"))
    with h.server.state.lock:
        h.server.state.counts["google"]["token_errors"] += 1
    send_json(h, status, {"error": inj.get("error") or default[0],
                          "error_description": inj.get("message") or default[1]}, headers)
    return True


# ---------------------------------------------------------------------- revocation
def revoke_grant(st, grant_id):
    """Revoke a whole Google grant: its refresh tokens and the access tokens it issued (what
    Google does when either is revoked).  State lock held.  Returns (refresh, access) counts."""
    t, n_rt, n_at = time.time(), 0, 0
    for rec in st.refresh_tokens.values():
        if rec.get("issuer") == ISSUER and rec["family"] == grant_id and rec["status"] == "active":
            rec["status"] = "revoked"
            rec["revoked_at"] = t
            n_rt += 1
    for rec in st.access_tokens.values():
        if rec.get("issuer") == ISSUER and rec.get("grant") == grant_id and not rec["revoked"]:
            rec["revoked"] = True
            n_at += 1
    return n_rt, n_at


def grant_of(st, tok):
    rec = st.refresh_tokens.get(tok) or st.access_tokens.get(tok)
    if rec is None or rec.get("issuer") != ISSUER:
        return None
    return rec.get("family") or rec.get("grant")


def revoke(h):
    """POST /google/revoke token=T (oauth2.googleapis.com/revoke)."""
    st = h.server.state
    tok = h.form.get("token") or h.query.get("token") or ""
    with st.lock:
        st.counts["google"]["revoke"] += 1
        grant_id = grant_of(st, tok)
        rt, at = st.refresh_tokens.get(tok), st.access_tokens.get(tok)
        usable = grant_id is not None and (
            (rt is not None and rt["status"] == "active")
            or (at is not None and not at["revoked"] and at["expires"] > time.time()))
        if usable:
            n_rt, n_at = revoke_grant(st, grant_id)
    if not usable:
        h.note += " google revoke: unknown or revoked token"
        send_json(h, 400, {"error": "invalid_token", "error_description": "Token expired or revoked"})
        return
    h.note += " google revoked grant (%d refresh, %d access tokens)" % (n_rt, n_at)
    send_json(h, 200, {})


# ---------------------------------------------------------------------- controls
def control_get(st):
    """GET /_control/google (state lock held)."""
    t = time.time()
    refresh = [{"user": r["user"], "client_id": r["client_id"], "scope": " ".join(r["scopes"]),
                "status": r["status"], "grant": r["family"]}
               for r in st.refresh_tokens.values() if r.get("issuer") == ISSUER]
    valid = sum(1 for r in st.access_tokens.values()
                if r.get("issuer") == ISSUER and not r["revoked"] and r["expires"] > t)
    return {"clients": [GoogleState.public_client(c) for c in st.google.clients.values()],
            "settings": st.google.settings, "counts": st.counts["google"],
            "refresh_tokens": refresh, "access_tokens_valid": valid,
            "pending_consents": len(st.google.pending)}


def control_post(st, b):
    """POST /_control/google (state lock held): settings and revocations, any combination."""
    gs = st.google
    out = {"ok": True}
    if "rotate_refresh_tokens" in b:
        wanted = b.get("client_id")
        if wanted and wanted not in gs.clients:
            raise ValueError("unknown Google client_id %r" % wanted)
        for c in gs.clients.values():
            if not wanted or c["client_id"] == wanted:
                c["rotate_refresh_tokens"] = bool(b["rotate_refresh_tokens"])
    for key in ("pkce_plain", "auto_consent"):
        if key in b:
            gs.settings[key] = bool(b[key])
    if b.get("auto_consent_account"):
        gs.settings["auto_consent_account"] = str(b["auto_consent_account"]).strip().lower()
    if "access_token_lifetime" in b:
        gs.settings["access_token_lifetime"] = int(b["access_token_lifetime"])
    if b.get("revoke"):
        grant_id = grant_of(st, str(b["revoke"]))
        out["found"] = grant_id is not None
        if grant_id is not None:
            out["refresh_tokens"], out["access_tokens"] = revoke_grant(st, grant_id)
    if b.get("revoke_user"):
        user = str(b["revoke_user"]).strip().lower()
        grants = {r["family"] for r in st.refresh_tokens.values()
                  if r.get("issuer") == ISSUER and r["user"] == user}
        grants |= {r.get("grant") for r in st.access_tokens.values()
                   if r.get("issuer") == ISSUER and r["user"] == user}
        counts = [revoke_grant(st, g) for g in grants]
        out["refresh_tokens"] = sum(n for n, _ in counts)
        out["access_tokens"] = sum(n for _, n in counts)
    out["settings"] = gs.settings
    out["clients"] = [GoogleState.public_client(c) for c in gs.clients.values()]
    return out


def control_client(st, b):
    """POST /_control/google_client {"client_id","client_secret"?,"redirect_uris"?,"name"?,
    "rotate_refresh_tokens"?}: register or replace a Google OAuth client (flat body, so the log
    line redacts client_secret)."""
    return {"ok": True, "client": st.google.register_client(b)}
