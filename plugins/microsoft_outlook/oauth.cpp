#include "oauth.hpp"

#include "aadsts.hpp"
#include "assertion.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <thread>

namespace outlook {

const Kind kOutgoing{"ir.mail_server", "smtp_authentication", "smtp_user", "https://outlook.office.com/SMTP.Send"};
const Kind kIncoming{"fetchmail.server", "server_type", "user", "https://outlook.office.com/IMAP.AccessAsUser.All"};

const Kind* kind_of(std::string_view model) {
  if (model == kOutgoing.model) return &kOutgoing;
  if (model == kIncoming.model) return &kIncoming;
  return nullptr;
}

namespace {

constexpr std::int64_t kStateLifetime = 600;  // seconds
constexpr std::int64_t kRefreshMargin = 300;  // refresh 5 minutes ahead of expiry
constexpr int kTokenTimeout = 10;             // seconds

using oauth2::random_token;

// The state's MAC under the module's own key (the host signs; its secret stays with it).
std::string csrf_token(sdk::Context& ctx, const std::string& model, std::int64_t id, const std::string& nonce) {
  return ctx.sign("oauth_state", state_message(model, id, nonce));
}

std::string form_query(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string q;
  for (const auto& [k, v] : params) q += (q.empty() ? "" : "&") + sdk::url_encode(k) + "=" + sdk::url_encode(v);
  return q;
}

// The client's own credential: a certificate, when configured, instead of the secret
// (Microsoft's recommendation).
std::optional<TokenError> add_client_credential(sdk::Context& ctx, const std::string& client_id, json& form) {
  if (const auto pem = ctx.param("microsoft_outlook_client_certificate"); pem && !pem->empty()) {
    try {
      form["client_assertion_type"] = kAssertionType;
      form["client_assertion"] = client_assertion(*pem, client_id, authority(ctx) + "token");
    } catch (const sdk::Error& e) {
      return TokenError{"invalid_client", e.what(), false, false};
    }
  } else {
    form["client_secret"] = ctx.param("microsoft_outlook_client_secret").value_or("");
  }
  return std::nullopt;
}

// `public_client`: no client secret or assertion (the device-code grant, which Microsoft runs as
// a public client flow).
TokenResult token_request(sdk::Context& ctx, const std::string& scope, json form, bool public_client = false) {
  TokenResult r;
  if (!credentials_configured(ctx)) {
    r.error = {"not_configured", "Please configure your Outlook credentials in General Settings.", false, false};
    return r;
  }
  const std::string id = ctx.param("microsoft_outlook_client_id").value_or("");
  form["client_id"] = id;
  if (!public_client) {
    if (auto error = add_client_credential(ctx, id, form)) {
      r.error = *error;
      return r;
    }
  }
  if (form.value("grant_type", "") == "client_credentials") {
    form["scope"] = scope;  // "<resource>/.default" alone: no refresh token, no redirect
  } else if (form.value("grant_type", "") == kDeviceGrant) {
    // The device code carries the scopes it was asked for; no redirect exists.
  } else {
    form["scope"] = "offline_access " + scope;
    form["redirect_uri"] = redirect_uri(ctx);
  }
  json reply;
  try {
    reply = ctx.post_form(authority(ctx) + "token", form, kTokenTimeout);
  } catch (const sdk::Error& e) {
    r.error = {"transport", std::string("The Microsoft identity platform could not be reached: ") + e.what(), true, false};
    return r;
  }
  const long status = reply.value("status", 0L);
  json body;
  try {
    body = json::parse(reply.value("body", ""));
  } catch (const json::exception&) {
    body = json::object();
  }
  if (status >= 200 && status < 300 && body.contains("access_token")) {
    Tokens t;
    t.access_token = body.value("access_token", "");
    t.refresh_token = body.value("refresh_token", form.value("refresh_token", ""));
    t.expires_at = now_unix() + body.value("expires_in", 3600L);
    r.tokens = t;
    return r;
  }
  const std::string error = body.value("error", status >= 500 ? "temporarily_unavailable" : "unknown_error");
  const std::string description = body.value("error_description", "");
  const long code = aadsts_code(description);
  r.error.error = error;
  r.error.temporary = status >= 500 || status == 429 || error == "temporarily_unavailable";
  r.error.reconnect = needs_reconnect(error, code);
  r.error.message = r.error.temporary ? "The Microsoft identity platform is temporarily unavailable (HTTP " +
                                            std::to_string(status) + "); mails will be retried."
                                      : explain(error, description, redirect_uri(ctx));
  return r;
}

}  // namespace

std::string text(const json& rec, const char* field) {
  return rec.contains(field) && rec[field].is_string() ? rec[field].get<std::string>() : "";
}

std::string now_iso() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool app_only(const json& rec) { return text(rec, "outlook_flow") == "app"; }

std::string target_mailbox(const Kind& kind, const json& rec) {
  const std::string shared = text(rec, "outlook_mailbox");
  return shared.empty() ? text(rec, kind.user_field) : shared;
}

namespace {
bool shared_for_delegate(const Kind& kind, const json& rec) {
  return !app_only(rec) && target_mailbox(kind, rec) != text(rec, kind.user_field);
}
}  // namespace

namespace {
// Delegated Graph scopes of an outgoing server: now, and before large messages needed drafts.
constexpr const char* kGraphSend =
    "https://graph.microsoft.com/Mail.Send https://graph.microsoft.com/Mail.ReadWrite "
    "https://graph.microsoft.com/User.Read";
constexpr const char* kGraphSendBefore16 = "https://graph.microsoft.com/Mail.Send https://graph.microsoft.com/User.Read";
}  // namespace

std::string scope_for(const Kind& kind, const json& rec) {
  const bool graph = rec.contains("outlook_transport") && rec["outlook_transport"] == "graph";
  if (app_only(rec)) return graph ? "https://graph.microsoft.com/.default" : "https://outlook.office365.com/.default";
  if (!graph) return kind.scope;
  if (shared_for_delegate(kind, rec)) {  // another person's mailbox needs the .Shared permission
    return "https://graph.microsoft.com/Mail.ReadWrite.Shared https://graph.microsoft.com/User.Read";
  }
  // Sending needs Mail.ReadWrite too: a message over Graph's 4 MB goes as a draft first.
  return &kind == &kOutgoing ? kGraphSend : "https://graph.microsoft.com/Mail.ReadWrite https://graph.microsoft.com/User.Read";
}

namespace {
// The scope a token needs now, or the one it has when that still does: outgoing Graph servers
// connected before sending needed Mail.ReadWrite (drafts over 4 MB) keep working without a new
// consent for everything else, and say what to do when a large message needs it.
std::string usable_scope(const Kind& kind, const json& rec) {
  const std::string wanted = scope_for(kind, rec);
  const std::string had = token_scope(kind, rec);
  return had == kGraphSendBefore16 && wanted == kGraphSend ? had : wanted;
}
}  // namespace

std::string token_scope(const Kind& kind, const json& rec) {
  const auto& s = rec.value("microsoft_outlook_token_scope", json());
  return s.is_string() && !s.get<std::string>().empty() ? s.get<std::string>() : kind.scope;  // before 1.1: Exchange
}

std::string authority(sdk::Context& ctx) {
  std::string tenant = ctx.param("microsoft_outlook_tenant").value_or("common");
  if (tenant.empty()) tenant = "common";
  std::string a = ctx.param("microsoft_outlook.endpoint").value_or("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/");
  if (const auto p = a.find("{tenant}"); p != std::string::npos) a.replace(p, 8, sdk::url_encode(tenant));
  if (a.empty() || a.back() != '/') a.push_back('/');
  return a;
}

std::string redirect_uri(sdk::Context& ctx) {
  std::string base = ctx.param("web.base.url").value_or("http://localhost:8069");
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/microsoft_outlook/confirm";
}

bool credentials_configured(sdk::Context& ctx) {
  const auto id = ctx.param("microsoft_outlook_client_id");
  const auto secret = ctx.param("microsoft_outlook_client_secret");
  const auto certificate = ctx.param("microsoft_outlook_client_certificate");
  return id && !id->empty() && ((secret && !secret->empty()) || (certificate && !certificate->empty()));
}

bool sign_in_offered(sdk::Context& ctx, const Kind& kind, const json& rec) {
  return text(rec, kind.type_field) == "outlook" && credentials_configured(ctx) && !app_only(rec) &&
         (text(rec, "microsoft_outlook_refresh_token").empty() ||
          text(rec, "microsoft_outlook_token_status") == "refresh_failed");
}

namespace {

std::int64_t user_id_of(sdk::Context& ctx) { return ctx.info().value("user_id", std::int64_t{0}); }

// What the state record keeps of the browser cookie.
std::string browser_mac(sdk::Context& ctx, const std::string& browser) { return ctx.sign("browser", browser); }

struct NewState {
  std::string nonce;
  std::string verifier;
};

// A new single-use state for (kind, id), created by the context's user.
NewState create_state(sdk::Context& ctx, const Kind& kind, std::int64_t id) {
  if (!credentials_configured(ctx)) {
    throw sdk::Error(JUNIPER_ERR_INVALID, "Please configure your Outlook credentials in General Settings.");
  }
  (void)ctx.read(kind.model, id);  // refuses a missing record
  NewState st{random_token(16), random_token(48)};
  ctx.create(kStateModel, {{"nonce", st.nonce},
                           {"model", kind.model},
                           {"res_id", id},
                           {"code_verifier", st.verifier},
                           {"expires_at", now_unix() + kStateLifetime},
                           {"used", false},
                           {"user_id", user_id_of(ctx)}});
  return st;
}

// Microsoft's authorize URL for an existing state.
std::string authorize_url_for(sdk::Context& ctx, const Kind& kind, std::int64_t id, const std::string& nonce,
                              const std::string& verifier) {
  const json rec = ctx.read(kind.model, id);
  const std::string login = text(rec, kind.user_field);
  const json state = {
      {"model", kind.model}, {"id", id}, {"nonce", nonce}, {"csrf_token", csrf_token(ctx, kind.model, id, nonce)}};
  std::vector<std::pair<std::string, std::string>> q = {{"client_id", *ctx.param("microsoft_outlook_client_id")},
                                                        {"response_type", "code"},
                                                        {"redirect_uri", redirect_uri(ctx)},
                                                        {"response_mode", "query"},
                                                        {"scope", "offline_access " + scope_for(kind, rec)}};
  if (!login.empty()) q.emplace_back("login_hint", login);
  q.emplace_back("state", state.dump());
  q.emplace_back("code_challenge", oauth2::pkce_s256(verifier));
  q.emplace_back("code_challenge_method", "S256");
  return authority(ctx) + "authorize?" + form_query(q);
}

}  // namespace

std::string authorize_url(sdk::Context& ctx, const Kind& kind, std::int64_t id) {
  const NewState st = create_state(ctx, kind, id);
  return authorize_url_for(ctx, kind, id, st.nonce, st.verifier);
}

std::string connect_url(sdk::Context& ctx, const Kind& kind, std::int64_t id) {
  if (user_id_of(ctx) == 0) return authorize_url(ctx, kind, id);
  return std::string(kStartPath) + "?nonce=" + sdk::url_encode(create_state(ctx, kind, id).nonce);
}

std::optional<std::string> browser_cookie(const std::optional<std::string>& header) {
  return oauth2::cookie(header, kBrowserCookie);
}

std::string new_browser_cookie() { return random_token(32); }

StartResult start_flow(sdk::Context& ctx, const std::string& nonce, const std::string& browser) {
  StartResult r;
  const auto states = nonce.empty() ? std::vector<std::int64_t>{} : ctx.search(kStateModel, {{"nonce", nonce}});
  if (states.empty()) {
    r.why = "unknown state";
    return r;
  }
  const json st = ctx.read(kStateModel, states.front());
  const Kind* kind = kind_of(text(st, "model"));
  if (kind == nullptr || st.value("used", false) || st.value("expires_at", 0L) < now_unix()) {
    r.why = "state used, expired or for an unknown model";
    return r;
  }
  if (!text(st, "browser").empty()) {
    r.why = "state already started in a browser";
    return r;
  }
  if (st.value("user_id", std::int64_t{0}) != user_id_of(ctx) || user_id_of(ctx) == 0) {
    r.why = "state belongs to another user";
    return r;
  }
  const std::int64_t id = st.value("res_id", std::int64_t{0});
  ctx.write(kStateModel, states.front(), {{"browser", browser_mac(ctx, browser)}});
  r.redirect_url = authorize_url_for(ctx, *kind, id, nonce, text(st, "code_verifier"));
  r.ok = true;
  return r;
}

std::string state_message(const std::string& model, std::int64_t id, const std::string& nonce) {
  return model + "\x1f" + std::to_string(id) + "\x1f" + nonce;
}

ParsedState parse_state(const std::string& state_text) {
  ParsedState p;
  json state;
  try {
    state = json::parse(state_text);
  } catch (const json::exception&) {
    p.why = "state is not JSON";
    return p;
  }
  if (!state.is_object() || !state.contains("model") || !state["model"].is_string() || !state.contains("id") ||
      !state["id"].is_number_integer() || !state.contains("nonce") || !state["nonce"].is_string() ||
      !state.contains("csrf_token") || !state["csrf_token"].is_string()) {
    p.why = "state lacks model, id, nonce or csrf_token";
    return p;
  }
  p.model = state["model"];
  p.id = state["id"];
  p.nonce = state["nonce"];
  p.csrf_token = state["csrf_token"];
  p.kind = kind_of(p.model);
  if (p.kind == nullptr) {
    p.why = "unknown model " + p.model;
    return p;
  }
  p.ok = true;
  return p;
}

bool mac_matches(const std::string& expected, const std::string& given) { return oauth2::same_secret(given, expected); }

StateCheck check_state(sdk::Context& ctx, const std::string& state_text, const std::optional<std::string>& browser) {
  StateCheck c;
  const ParsedState p = parse_state(state_text);
  c.kind = p.kind;
  if (!p.ok) {
    c.why = p.why;
    return c;
  }
  const std::string& model = p.model;
  const std::int64_t id = p.id;
  const std::string& nonce = p.nonce;
  if (!mac_matches(csrf_token(ctx, model, id, nonce), p.csrf_token)) {
    c.why = "CSRF token mismatch";
    return c;
  }
  if (ctx.search(model, {{"id", id}}).empty()) {
    c.why = "record " + model + " " + std::to_string(id) + " does not exist";
    return c;
  }
  const auto states = ctx.search(kStateModel, {{"nonce", nonce}});
  if (states.empty()) {
    c.why = "unknown state";
    return c;
  }
  const json st = ctx.read(kStateModel, states.front());
  if (st.value("used", false)) {
    c.why = "state already used";
    return c;
  }
  if (st.value("expires_at", 0L) < now_unix()) {
    c.why = "state expired";
    return c;
  }
  if (text(st, "model") != model || st.value("res_id", 0L) != id) {
    c.why = "state belongs to another record";
    return c;
  }
  // Started by a logged-in user: only that user, in the browser that started it (the
  // binding cookie), may finish it. States from the command line have no browser.
  const std::int64_t creator = st.value("user_id", std::int64_t{0});
  const std::string bound = text(st, "browser");
  if (creator != 0 || !bound.empty()) {
    if (bound.empty()) {
      c.why = "state was never started in a browser";
      return c;
    }
    if (!browser || !mac_matches(bound, browser_mac(ctx, *browser))) {
      c.why = "state belongs to another browser session";
      return c;
    }
    if (creator != user_id_of(ctx)) {
      c.why = "state belongs to another user";
      return c;
    }
  }
  c.ok = true;
  c.record_id = id;
  c.state_id = states.front();
  c.verifier = text(st, "code_verifier");
  return c;
}

TokenResult redeem_code(sdk::Context& ctx, const std::string& scope, const std::string& code, const std::string& verifier) {
  return token_request(ctx, scope, {{"grant_type", "authorization_code"}, {"code", code}, {"code_verifier", verifier}});
}

TokenResult refresh(sdk::Context& ctx, const std::string& scope, const std::string& refresh_token) {
  return token_request(ctx, scope, {{"grant_type", "refresh_token"}, {"refresh_token", refresh_token}});
}

TokenResult device_token(sdk::Context& ctx, const std::string& device_code) {
  return token_request(ctx, "", {{"grant_type", kDeviceGrant}, {"device_code", device_code}}, true);
}

void store_tokens(sdk::Context& ctx, const Kind& kind, std::int64_t id, const Tokens& tokens, const std::string& scope) {
  ctx.write(kind.model, id,
            {{"microsoft_outlook_refresh_token", tokens.refresh_token},
             {"microsoft_outlook_access_token", tokens.access_token},
             {"microsoft_outlook_access_token_expiration", tokens.expires_at},
             {"microsoft_outlook_token_scope", scope},
             {"microsoft_outlook_token_status", "valid"},
             {"microsoft_outlook_token_error", nullptr},
             {"microsoft_outlook_token_error_date", nullptr}});
  // Mails that waited for this account go out at the next queue run (others keep their time).
  if (&kind == &kOutgoing) ctx.release_waiting_mails(kind.model, id);
}

TokenResult app_token(sdk::Context& ctx, const std::string& scope) {
  std::string tenant = ctx.param("microsoft_outlook_tenant").value_or("common");
  std::transform(tenant.begin(), tenant.end(), tenant.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (tenant.empty() || tenant == "common" || tenant == "organizations" || tenant == "consumers") {
    TokenResult r;
    r.error = {"invalid_request",
               "Application permission needs your tenant: set Tenant in the Outlook Credentials settings to your "
               "Directory (tenant) ID or domain instead of \u201c" +
                   (tenant.empty() ? std::string("common") : tenant) +
                   "\u201d (Microsoft issues application tokens only for one tenant).",
               false, true};
    return r;
  }
  return token_request(ctx, scope, {{"grant_type", "client_credentials"}});
}

namespace {

std::int64_t expiry_of(const json& rec) {
  const auto& e = rec.value("microsoft_outlook_access_token_expiration", json(0));
  return e.is_number() ? e.get<std::int64_t>() : 0;
}

// The record's access token when it can be used: not about to expire and, when a fresh one is
// wanted, not the one the caller saw refused.
std::optional<std::string> usable(const Kind& kind, const json& rec, bool force, const std::string& refused) {
  const std::string access = text(rec, "microsoft_outlook_access_token");
  if (access.empty() || expiry_of(rec) - kRefreshMargin <= now_unix()) return std::nullopt;
  if (token_scope(kind, rec) != usable_scope(kind, rec)) return std::nullopt;  // issued for the other resource
  if (force && access == refused) return std::nullopt;
  return access;
}

// Refreshes with the record's refresh token and stores the result (or why it failed) at once:
// the rotated refresh token is stored before the new access token is used.
std::string refresh_and_store(sdk::Context& ctx, const Kind& kind, std::int64_t id, const json& rec) {
  const std::string name = text(rec, "name");
  const bool app = app_only(rec);
  const std::string refresh_token = text(rec, "microsoft_outlook_refresh_token");
  if (!app && refresh_token.empty()) {
    throw sdk::Error(JUNIPER_ERR_INVALID, "Connect the Outlook account of server \u201c" + name +
                                              "\u201d (Connect your Outlook account) before using it.");
  }
  const std::string scope = usable_scope(kind, rec);
  // Application permission: a new token from the app's own credentials whenever the cached
  // one is near its end (nothing to rotate, nobody to sign in).
  const TokenResult r = app ? app_token(ctx, scope) : refresh(ctx, scope, refresh_token);
  if (!r.tokens) {
    ctx.write(kind.model, id,
              {{"microsoft_outlook_token_status", "refresh_failed"},
               {"microsoft_outlook_token_error", r.error.message},
               {"microsoft_outlook_token_error_date", now_iso()}});
    if (r.error.temporary) throw sdk::Error(JUNIPER_ERR_TEMPORARY, r.error.message);
    if (app) {
      throw sdk::Error(JUNIPER_ERR_INVALID,
                       "Outlook server \u201c" + name + "\u201d (application permission): " + r.error.message);
    }
    throw sdk::Error(JUNIPER_ERR_INVALID, "Reconnect the Outlook account of server \u201c" + name + "\u201d: " + r.error.message);
  }
  ctx.write(kind.model, id,
            {{"microsoft_outlook_refresh_token", app ? json(nullptr) : json(r.tokens->refresh_token)},
             {"microsoft_outlook_access_token", r.tokens->access_token},
             {"microsoft_outlook_access_token_expiration", r.tokens->expires_at},
             {"microsoft_outlook_token_scope", scope},
             {"microsoft_outlook_token_status", "valid"},
             {"microsoft_outlook_token_error", nullptr},
             {"microsoft_outlook_token_error_date", nullptr}});
  ctx.log(JUNIPER_LOG_INFO, std::string(app ? "obtained an application token for " : "refreshed the Outlook access token of ") +
                                kind.model + " " + std::to_string(id));
  return r.tokens->access_token;
}

}  // namespace

std::string access_token(sdk::Context& ctx, const Kind& kind, std::int64_t id, bool force) {
  // One refresh at a time per server, across threads and processes, with no transaction or row
  // lock held while the identity platform answers: whoever takes the claim refreshes; the others
  // wait for its result and use it (a refresh token rotates, so two refreshes would race).
  const std::string claim = "refresh:" + std::string(kind.model) + ":" + std::to_string(id);
  const std::string refused = force ? text(ctx.read(kind.model, id), "microsoft_outlook_access_token") : "";
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(kTokenTimeout * 3);
  while (true) {
    if (const auto t = usable(kind, ctx.read(kind.model, id), force, refused)) return *t;
    if (const auto held = ctx.try_claim(claim, std::chrono::seconds(kTokenTimeout * 3))) {
      struct Release {
        sdk::Context& ctx;
        const std::string& name;
        const std::string& token;
        ~Release() { ctx.release(name, token); }
      } release{ctx, claim, *held};
      const json rec = ctx.read(kind.model, id);  // another holder may have refreshed just before
      if (const auto t = usable(kind, rec, force, refused)) return *t;
      return refresh_and_store(ctx, kind, id, rec);
    }
    if (std::chrono::steady_clock::now() > give_up) {
      throw sdk::Error(JUNIPER_ERR_TEMPORARY, "another refresh of this Outlook token is still running; retried later");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the holder's result is near
  }
}

}  // namespace outlook
